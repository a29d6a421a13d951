//! The Nagios/Icinga plugin report (`--format nagios`), per the monitoring-plugins developer
//! guidelines: one status line `PIDAUDIT <STATE> - <summary> | <perfdata>`, the findings on the
//! following lines, and the plugin exit status (0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN).
//!
//! The status is decided by `exit::nagios_status` and only rendered here.

use super::Report;
use crate::config::range::Thresholds;
use crate::exit::NagiosStatus;
use crate::model::{Finding, Severity};
use std::io::Write;

/// At most this many finding lines follow the status line (NRPE and some Nagios versions truncate
/// long plugin output); a last line says how many were left out.
pub const MAX_DETAIL_LINES: usize = 50;

/// A perfdata label, single-quoted when it holds a space, `=` or `'` (a `'` inside is doubled).
pub fn perf_label(label: &str) -> String {
    if label.contains([' ', '=', '\'']) {
        format!("'{}'", label.replace('\'', "''"))
    } else {
        label.to_string()
    }
}

/// One perfdata item: `label=value[UOM];[warn];[crit];[min];[max]`, trailing empty fields dropped.
fn perf(label: &str, value: &str, fields: [&str; 4]) -> String {
    let mut s = format!("{}={value}", perf_label(label));
    let last = fields.iter().rposition(|f| !f.is_empty());
    if let Some(last) = last {
        for f in &fields[..=last] {
            s.push(';');
            s.push_str(f);
        }
    }
    s
}

/// Makes text safe for plugin output: `|` starts perfdata, and a line break would start a new line,
/// so both (and every other control or bidirectional formatting character, as for every report:
/// see [`crate::model::text`]) are written as `\xNN` escapes.
pub fn sanitize(text: &str) -> String {
    crate::model::text::text(text).replace('|', "\\x7c")
}

fn plural(n: usize, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}

/// The text between `PIDAUDIT <STATE> - ` and ` | `.
fn summary(report: &Report) -> String {
    let n = report.pidfiles.len();
    let problems = report.problem_pidfiles();
    let mut s = if problems == 0 {
        format!("{}, no problems", plural(n, "pidfile", "pidfiles"))
    } else {
        let mut states: Vec<(&str, usize)> = Vec::new();
        for p in report.pidfiles.iter().filter(|p| p.is_problem()) {
            match states.iter_mut().find(|(s, _)| *s == p.state.as_str()) {
                Some((_, c)) => *c += 1,
                None => states.push((p.state.as_str(), 1)),
            }
        }
        states.sort();
        let states: Vec<String> = states.iter().map(|(s, c)| format!("{c} {s}")).collect();
        format!(
            "{problems} of {} with problems ({})",
            plural(n, "pidfile", "pidfiles"),
            states.join(", ")
        )
    };
    let sev = report.by_severity();
    let counts: Vec<String> = [
        (Severity::Error, "error", "errors"),
        (Severity::Warning, "warning", "warnings"),
        (Severity::Unknown, "unknown", "unknown"),
    ]
    .iter()
    .filter_map(|(sv, one, many)| {
        let c = sev.get(sv.as_str()).copied().unwrap_or(0);
        (c > 0).then(|| plural(c, one, many))
    })
    .collect();
    if !counts.is_empty() {
        s.push_str(": ");
        s.push_str(&counts.join(", "));
    }
    s
}

/// The perfdata: pidfiles (total, problems with the thresholds), pidfiles by state, findings by
/// severity, scan duration in seconds.
pub fn perfdata(report: &Report, thresholds: &Thresholds) -> String {
    let total = report.pidfiles.len().to_string();
    let mut items = vec![
        perf("pidfiles", &total, ["", "", "0", ""]),
        perf(
            "problem_pidfiles",
            &report.problem_pidfiles().to_string(),
            [
                thresholds.warning.as_ref().map_or("", |r| r.text.as_str()),
                thresholds.critical.as_ref().map_or("", |r| r.text.as_str()),
                "0",
                &total,
            ],
        ),
    ];
    for (state, count) in report.by_state() {
        items.push(perf(
            &format!("pidfiles_{state}"),
            &count.to_string(),
            ["", "", "0", &total],
        ));
    }
    let sev = report.by_severity();
    for s in Severity::ALL {
        let count = sev.get(s.as_str()).copied().unwrap_or(0);
        items.push(perf(
            &format!("findings_{}", s.as_str()),
            &count.to_string(),
            ["", "", "0", ""],
        ));
    }
    items.push(perf(
        "scan_duration",
        &format!("{:.6}s", report.duration.as_secs_f64()),
        ["", "", "0", ""],
    ));
    items.join(" ")
}

/// Renders the plugin output with the status the exit policy chose.
pub fn render(
    report: &Report,
    status: NagiosStatus,
    thresholds: &Thresholds,
    out: &mut dyn Write,
) -> std::io::Result<()> {
    writeln!(
        out,
        "PIDAUDIT {} - {} | {}",
        status.label(),
        sanitize(&summary(report)),
        perfdata(report, thresholds)
    )?;
    // Worst first; within a severity, report order.
    let mut findings: Vec<&Finding> = report.findings().collect();
    findings.sort_by_key(|f| std::cmp::Reverse(f.severity));
    for f in findings.iter().take(MAX_DETAIL_LINES) {
        writeln!(
            out,
            "{}[{}] {}: {}",
            f.severity,
            f.code,
            sanitize(&f.subject),
            sanitize(&f.message)
        )?;
    }
    if findings.len() > MAX_DETAIL_LINES {
        writeln!(
            out,
            "... {} more findings",
            findings.len() - MAX_DETAIL_LINES
        )?;
    }
    Ok(())
}

/// Whether the command line asks for `--format nagios` (looked for before clap parses, so usage
/// errors and `--help` in this mode exit UNKNOWN). Stops at `--`.
pub fn requested<I, S>(args: I) -> bool
where
    I: IntoIterator<Item = S>,
    S: AsRef<std::ffi::OsStr>,
{
    let mut prev_format = false;
    for a in args {
        let a = a.as_ref();
        if a == "--" {
            return false;
        }
        if (prev_format && a == "nagios") || a == "--format=nagios" {
            return true;
        }
        prev_format = a == "--format";
    }
    false
}

/// The status line of a run that could not audit (usage error, unwritable textfile).
pub fn unknown_line(message: &str, out: &mut dyn Write) -> std::io::Result<()> {
    writeln!(out, "PIDAUDIT UNKNOWN - {}", sanitize(message))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Labels are quoted only when the guidelines require it, and inner quotes are doubled.
    #[test]
    fn labels_are_quoted_when_needed() {
        assert_eq!(perf_label("pidfiles_stale"), "pidfiles_stale");
        assert_eq!(perf_label("a b"), "'a b'");
        assert_eq!(perf_label("a=b"), "'a=b'");
        assert_eq!(perf_label("it's"), "'it''s'");
    }

    /// Empty trailing perfdata fields are dropped; inner empty fields are kept.
    #[test]
    fn perf_item_fields() {
        assert_eq!(perf("x", "1", ["", "", "", ""]), "x=1");
        assert_eq!(perf("x", "1", ["", "", "0", ""]), "x=1;;;0");
        assert_eq!(perf("x", "1s", ["5", "", "0", "9"]), "x=1s;5;;0;9");
    }

    /// A path with a pipe or a newline cannot end the status line or start perfdata.
    #[test]
    fn sanitize_escapes_pipes_and_controls() {
        assert_eq!(sanitize("/run/a|b\nc\td"), "/run/a\\x7cb\\x0ac\\x09d");
        assert_eq!(sanitize("plain é"), "plain é");
    }

    /// `--format nagios` is found in both spellings, and not after `--` or as another option's value.
    #[test]
    fn nagios_mode_prescan() {
        assert!(requested(["--format", "nagios"]));
        assert!(requested(["/run", "--format=nagios", "-w", "3"]));
        assert!(!requested(["--format", "json"]));
        assert!(!requested(["--", "--format", "nagios"]));
        assert!(!requested(["nagios"]));
        assert!(!requested(["--format=json", "nagios"]));
    }
}
