//! The Prometheus report (`--format prometheus`, and the `--textfile` file): the text exposition
//! format, gauges only, no client-side timestamps.
//!
//! Label cardinality is bounded: `pidaudit_pidfiles` has one series per state, `pidaudit_findings`
//! one per code and severity, and only pidfiles that have findings above `info` get a `path` label
//! (informational findings such as `unlocked` would give every daemon a series), at most
//! [`MAX_PATH_SERIES`] of them (worst first); `pidaudit_pidfile_series_omitted` counts the rest.
//! The `path` label holds the lossless escaped path (see [`crate::model::text::path`]), so names
//! that differ only in bytes that are not UTF-8 are different series.

use super::model::{PidfileReport, Report};
use crate::model::Severity;
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::io::Write;
use std::time::{SystemTime, UNIX_EPOCH};

/// At most this many pidfiles get a `path` label per scan.
pub const MAX_PATH_SERIES: usize = 100;

/// Escapes a label value: backslash, double quote and line feed (exposition format).
pub fn label_value(v: &str) -> String {
    let mut out = String::with_capacity(v.len());
    for c in v.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
    out
}

/// Escapes HELP text: backslash and line feed.
fn help_text(v: &str) -> String {
    v.replace('\\', "\\\\").replace('\n', "\\n")
}

/// Formats a sample value (finite numbers only; Rust's shortest round-trip form).
fn value(v: f64) -> String {
    if v.is_finite() {
        format!("{v}")
    } else {
        "NaN".to_string()
    }
}

struct Exposition {
    text: String,
}

impl Exposition {
    fn family(&mut self, name: &str, help: &str) {
        let _ = writeln!(self.text, "# HELP {name} {}", help_text(help));
        let _ = writeln!(self.text, "# TYPE {name} gauge");
    }

    fn sample(&mut self, name: &str, labels: &[(&str, &str)], v: f64) {
        self.text.push_str(name);
        if !labels.is_empty() {
            self.text.push('{');
            for (i, (k, val)) in labels.iter().enumerate() {
                if i > 0 {
                    self.text.push(',');
                }
                let _ = write!(self.text, "{k}=\"{}\"", label_value(val));
            }
            self.text.push('}');
        }
        let _ = writeln!(self.text, " {}", value(v));
    }
}

fn worst(p: &PidfileReport) -> Option<Severity> {
    p.findings.iter().map(|f| f.severity).max()
}

const STAMP: &str = "pidaudit_last_scan_timestamp_seconds";

fn stamp(at: SystemTime) -> f64 {
    at.duration_since(UNIX_EPOCH)
        .map(|d| (d.as_secs_f64() * 1e3).round() / 1e3)
        .unwrap_or(0.0)
}

/// `text` (an [`exposition`]) with the last scan's timestamp set to `at`: for `watch`, whose
/// interval check confirmed at `at` that the last audit is still current.
pub fn restamp(text: &str, at: SystemTime) -> String {
    let mut out = String::with_capacity(text.len() + 8);
    for line in text.split_inclusive('\n') {
        match line.strip_prefix(STAMP) {
            Some(rest) if rest.starts_with(' ') => {
                let _ = writeln!(out, "{STAMP} {}", value(stamp(at)));
            }
            _ => out.push_str(line),
        }
    }
    out
}

/// The whole exposition as text.
pub fn exposition(report: &Report) -> String {
    let mut e = Exposition {
        text: String::new(),
    };
    e.family(
        "pidaudit_build_info",
        "pidaudit build information; the value is always 1.",
    );
    e.sample(
        "pidaudit_build_info",
        &[("version", env!("CARGO_PKG_VERSION"))],
        1.0,
    );

    e.family(
        "pidaudit_last_scan_timestamp_seconds",
        "When the last scan started, in seconds since the Unix epoch.",
    );
    e.sample(STAMP, &[], stamp(report.generated_at));

    e.family(
        "pidaudit_scan_duration_seconds",
        "How long the last scan took, in seconds.",
    );
    e.sample(
        "pidaudit_scan_duration_seconds",
        &[],
        (report.duration.as_secs_f64() * 1e6).round() / 1e6,
    );

    e.family(
        "pidaudit_scan_errors",
        "What the last scan could not read or determine: findings of severity unknown.",
    );
    let errors = report
        .findings()
        .filter(|f| f.severity == Severity::Unknown)
        .count();
    e.sample("pidaudit_scan_errors", &[], errors as f64);

    e.family(
        "pidaudit_pidfiles",
        "Pidfiles audited by the last scan, by state.",
    );
    for (state, count) in report.by_state() {
        e.sample("pidaudit_pidfiles", &[("state", state)], count as f64);
    }

    e.family(
        "pidaudit_problem_pidfiles",
        "Pidfiles with at least one finding of severity error or warning.",
    );
    e.sample(
        "pidaudit_problem_pidfiles",
        &[],
        report.problem_pidfiles() as f64,
    );

    e.family(
        "pidaudit_findings",
        "Findings of the last scan, by code and severity (every known code, zeros included).",
    );
    let mut findings: BTreeMap<(&str, &str), usize> = crate::checks::catalogue()
        .map(|c| ((c.as_str(), c.default_severity().as_str()), 0))
        .collect();
    for f in report.findings() {
        *findings
            .entry((f.code.as_str(), f.severity.as_str()))
            .or_default() += 1;
    }
    for ((code, severity), count) in &findings {
        e.sample(
            "pidaudit_findings",
            &[("code", code), ("severity", severity)],
            *count as f64,
        );
    }

    // Pidfiles with findings above info, worst first, then in report order; capped.
    let mut with_findings: Vec<&PidfileReport> = report
        .pidfiles
        .iter()
        .filter(|p| p.findings.iter().any(|f| f.severity > Severity::Info))
        .collect();
    with_findings.sort_by_key(|p| std::cmp::Reverse(worst(p)));
    let omitted = with_findings.len().saturating_sub(MAX_PATH_SERIES);
    with_findings.truncate(MAX_PATH_SERIES);
    e.family(
        "pidaudit_pidfile_findings",
        &format!("Findings above info of each pidfile that has them, by path, state, code and severity (at most {MAX_PATH_SERIES} pidfiles, worst first)."),
    );
    for p in with_findings {
        let mut per_code: BTreeMap<(&str, &str), usize> = BTreeMap::new();
        for f in p.findings.iter().filter(|f| f.severity > Severity::Info) {
            *per_code
                .entry((f.code.as_str(), f.severity.as_str()))
                .or_default() += 1;
        }
        for ((code, severity), count) in per_code {
            e.sample(
                "pidaudit_pidfile_findings",
                &[
                    ("path", &p.path),
                    ("state", p.state.as_str()),
                    ("code", code),
                    ("severity", severity),
                ],
                count as f64,
            );
        }
    }
    e.family(
        "pidaudit_pidfile_series_omitted",
        "Pidfiles with findings left out of pidaudit_pidfile_findings by its cap.",
    );
    e.sample("pidaudit_pidfile_series_omitted", &[], omitted as f64);
    e.text
}

/// Writes the exposition.
pub fn render(report: &Report, out: &mut dyn Write) -> std::io::Result<()> {
    out.write_all(exposition(report).as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::checks::liveness::STALE;
    use crate::model::Finding;
    use crate::model::State;
    use std::time::{Duration, SystemTime};

    /// Backslash, double quote and line feed are escaped in label values; nothing else is.
    #[test]
    fn label_escaping() {
        assert_eq!(label_value(r#"/run/a"b\c"#), r#"/run/a\"b\\c"#);
        assert_eq!(label_value("/run/a\nb"), "/run/a\\nb");
        assert_eq!(label_value("/run/é\tx"), "/run/é\tx");
    }

    fn pidfile(path: &str, sev: Option<Severity>) -> PidfileReport {
        PidfileReport {
            path: path.into(),
            path_bytes: None,
            state: if sev.is_some() {
                State::Stale
            } else {
                State::Running
            },
            pid: Some(1),
            pids: Vec::new(),
            file: None,
            process: None,
            lock: None,
            trusted: true,
            trust_reasons: Vec::new(),
            supervised: None,
            unit: None,
            findings: sev
                .map(|s| vec![Finding::new(STALE, path, "m").severity(s)])
                .unwrap_or_default(),
        }
    }

    fn report(pidfiles: Vec<PidfileReport>) -> Report {
        Report {
            host: "h".into(),
            generated_at: SystemTime::UNIX_EPOCH + Duration::from_millis(1_700_000_000_250),
            duration: Duration::from_micros(1500),
            roots: vec![],
            pidfiles,
            system_findings: vec![],
        }
    }

    /// Healthy pidfiles get no path label; every state has a series; the numbers are the report's.
    #[test]
    fn series_and_values() {
        let text = exposition(&report(vec![
            pidfile("/run/ok.pid", None),
            pidfile("/run/bad.pid", Some(Severity::Warning)),
        ]));
        assert!(!text.contains("/run/ok.pid"), "{text}");
        assert!(text.contains(
            "pidaudit_pidfile_findings{path=\"/run/bad.pid\",state=\"stale\",code=\"stale\",severity=\"warning\"} 1\n"
        ));
        for s in State::ALL.map(State::as_str) {
            assert!(
                text.contains(&format!("pidaudit_pidfiles{{state=\"{s}\"}} ")),
                "{s}"
            );
        }
        assert!(text.contains("pidaudit_pidfiles{state=\"running\"} 1\n"));
        assert!(text.contains("pidaudit_findings{code=\"stale\",severity=\"warning\"} 1\n"));
        assert!(text.contains("pidaudit_findings{code=\"zombie\",severity=\"error\"} 0\n"));
        assert!(text.contains("pidaudit_problem_pidfiles 1\n"));
        assert!(text.contains("pidaudit_last_scan_timestamp_seconds 1700000000.25\n"));
        assert!(text.contains("pidaudit_scan_duration_seconds 0.0015\n"));
        assert!(text.contains("pidaudit_pidfile_series_omitted 0\n"));
        // Every sample line belongs to a family declared by HELP and TYPE before it.
        let mut declared = Vec::new();
        for line in text.lines() {
            if let Some(rest) = line.strip_prefix("# TYPE ") {
                declared.push(rest.split(' ').next().unwrap().to_string());
            } else if !line.starts_with('#') {
                let name = line.split(['{', ' ']).next().unwrap();
                assert_eq!(declared.last().map(String::as_str), Some(name), "{line}");
            }
        }
    }

    /// Only the timestamp's sample changes; its HELP line and every other sample stay.
    #[test]
    fn restamp_sets_only_the_timestamp() {
        let text = "# HELP pidaudit_last_scan_timestamp_seconds When.\n# TYPE pidaudit_last_scan_timestamp_seconds gauge\npidaudit_last_scan_timestamp_seconds 1700000000.25\npidaudit_last_scan_timestamp_seconds_x 1\npidaudit_pidfiles{state=\"running\"} 1\n";
        let at = UNIX_EPOCH + std::time::Duration::from_millis(1_800_000_000_500);
        let out = restamp(text, at);
        assert_eq!(out, text.replace("1700000000.25", "1800000000.5"));
    }

    /// Path series are capped, worst pidfiles kept first, and the rest counted.
    #[test]
    fn path_series_are_capped() {
        let mut pidfiles: Vec<PidfileReport> = (0..MAX_PATH_SERIES + 7)
            .map(|i| pidfile(&format!("/run/w{i}.pid"), Some(Severity::Warning)))
            .collect();
        pidfiles.push(pidfile("/run/worst.pid", Some(Severity::Error)));
        let text = exposition(&report(pidfiles));
        let paths = text
            .lines()
            .filter(|l| l.starts_with("pidaudit_pidfile_findings{"))
            .count();
        assert_eq!(paths, MAX_PATH_SERIES);
        assert!(text.contains("path=\"/run/worst.pid\""));
        assert!(text.contains("pidaudit_pidfile_series_omitted 8\n"));
    }
}
