//! The Nagios/Icinga plugin report (`--format nagios`), per the monitoring-plugins developer
//! guidelines: one status line `PIDAUDIT <STATE> - <summary> | <perfdata>`, the findings on the
//! following lines, and the plugin exit status (0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN).
//!
//! The status is rendered from the report, never decided here beyond this mapping:
//! - Without thresholds: any `error` finding -> CRITICAL, else any `warning` -> WARNING.
//! - With `-w`/`-c`: the number of *problem pidfiles* (pidfiles with at least one `error` or `warning`
//!   finding) is matched against the ranges (critical first) instead; findings not about one pidfile
//!   (an unreadable directory, an unreadable `/proc`) still map by severity.
//! - Then, if the status is still OK and some finding is `unknown`, the status is UNKNOWN: the truth
//!   could not be determined. `info` findings never change the status.

use super::{is_problem, problem_pidfiles};
use crate::audit::Report;
use crate::exit::NagiosStatus;
use crate::finding::{Finding, Severity};
use std::fmt;
use std::io::Write;

/// At most this many finding lines follow the status line (NRPE and some Nagios versions truncate
/// long plugin output); a last line says how many were left out.
pub const MAX_DETAIL_LINES: usize = 50;

/// One end of a range: a number, or infinity.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Bound {
    NegInfinity,
    Value(f64),
    PosInfinity,
}

/// A threshold range in the monitoring-plugins syntax `[@]start:end`.
///
/// | text | alert when the value is |
/// |---|---|
/// | `10` | < 0 or > 10 |
/// | `10:` | < 10 |
/// | `~:10` | > 10 |
/// | `10:20` | < 10 or > 20 |
/// | `@10:20` | >= 10 and <= 20 |
#[derive(Clone, Debug, PartialEq)]
pub struct Range {
    pub start: Bound,
    pub end: Bound,
    /// `@`: alert inside the range (endpoints included) instead of outside it.
    pub inside: bool,
    /// The text it was parsed from, as given (for the perfdata).
    pub text: String,
}

/// Why a range did not parse.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RangeError(pub String);

impl fmt::Display for RangeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

fn number(s: &str, whole: &str) -> Result<f64, RangeError> {
    let digits = s.strip_prefix('-').unwrap_or(s);
    let (int, frac) = match digits.split_once('.') {
        Some((i, f)) => (i, Some(f)),
        None => (digits, None),
    };
    let ok = !int.is_empty()
        && int.bytes().all(|b| b.is_ascii_digit())
        && frac.is_none_or(|f| !f.is_empty() && f.bytes().all(|b| b.is_ascii_digit()));
    if !ok {
        return Err(RangeError(format!(
            "invalid range '{whole}': '{s}' is not a number (ranges are [@]start:end, e.g. 10, 10:, ~:10, 10:20, @10:20)"
        )));
    }
    s.parse()
        .map_err(|_| RangeError(format!("invalid range '{whole}': '{s}' is not a number")))
}

impl Range {
    /// Parses `[@]start:end` (monitoring-plugins guidelines, "Threshold and ranges"): `start:` may be
    /// left out when start is 0; an empty end is +infinity; a start of `~` is -infinity; start must
    /// not exceed end. Pure: no I/O.
    pub fn parse(text: &str) -> Result<Range, RangeError> {
        let (inside, body) = match text.strip_prefix('@') {
            Some(rest) => (true, rest),
            None => (false, text),
        };
        if body.is_empty() {
            return Err(RangeError(format!("invalid range '{text}': empty")));
        }
        let (start, end) = match body.split_once(':') {
            None => (Bound::Value(0.0), Bound::Value(number(body, text)?)),
            Some((s, e)) => {
                let start = match s {
                    "~" => Bound::NegInfinity,
                    "" => {
                        return Err(RangeError(format!(
                            "invalid range '{text}': missing start before ':' (write 0:{e} or {e})"
                        )))
                    }
                    s => Bound::Value(number(s, text)?),
                };
                let end = match e {
                    "" => Bound::PosInfinity,
                    e => Bound::Value(number(e, text)?),
                };
                (start, end)
            }
        };
        if let (Bound::Value(s), Bound::Value(e)) = (start, end) {
            if s > e {
                return Err(RangeError(format!(
                    "invalid range '{text}': start {s} is greater than end {e}"
                )));
            }
        }
        Ok(Range {
            start,
            end,
            inside,
            text: text.to_string(),
        })
    }

    /// Whether `value` raises the alert this range stands for.
    pub fn alerts(&self, value: f64) -> bool {
        let above_start = match self.start {
            Bound::NegInfinity => true,
            Bound::Value(s) => value >= s,
            Bound::PosInfinity => false,
        };
        let below_end = match self.end {
            Bound::PosInfinity => true,
            Bound::Value(e) => value <= e,
            Bound::NegInfinity => false,
        };
        let within = above_start && below_end;
        if self.inside {
            within
        } else {
            !within
        }
    }
}

/// The `-w` and `-c` ranges, on the number of problem pidfiles.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Thresholds {
    pub warning: Option<Range>,
    pub critical: Option<Range>,
}

impl Thresholds {
    pub fn is_set(&self) -> bool {
        self.warning.is_some() || self.critical.is_some()
    }
}

fn by_severity(findings: &mut dyn Iterator<Item = &Finding>) -> NagiosStatus {
    match findings.map(|f| f.severity).max() {
        Some(Severity::Error) => NagiosStatus::Critical,
        Some(Severity::Warning) => NagiosStatus::Warning,
        _ => NagiosStatus::Ok,
    }
}

/// Worse of two statuses in alerting order: OK < UNKNOWN < WARNING < CRITICAL.
fn worse(a: NagiosStatus, b: NagiosStatus) -> NagiosStatus {
    let rank = |s: NagiosStatus| match s {
        NagiosStatus::Ok => 0,
        NagiosStatus::Unknown => 1,
        NagiosStatus::Warning => 2,
        NagiosStatus::Critical => 3,
    };
    if rank(b) > rank(a) {
        b
    } else {
        a
    }
}

/// The plugin status of a report (see the module docs for the rule).
pub fn status(report: &Report, thresholds: &Thresholds) -> NagiosStatus {
    let pidfiles = if thresholds.is_set() {
        let n = problem_pidfiles(report) as f64;
        if thresholds.critical.as_ref().is_some_and(|r| r.alerts(n)) {
            NagiosStatus::Critical
        } else if thresholds.warning.as_ref().is_some_and(|r| r.alerts(n)) {
            NagiosStatus::Warning
        } else {
            NagiosStatus::Ok
        }
    } else {
        by_severity(&mut report.pidfiles.iter().flat_map(|p| p.findings.iter()))
    };
    let status = worse(pidfiles, by_severity(&mut report.system_findings.iter()));
    if status == NagiosStatus::Ok && report.findings().any(|f| f.severity == Severity::Unknown) {
        NagiosStatus::Unknown
    } else {
        status
    }
}

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
/// so both (and every other control character) are written as `\xNN` escapes.
pub fn sanitize(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        if c == '|' || c.is_control() {
            out.push_str(&format!("\\x{:02x}", c as u32));
        } else {
            out.push(c);
        }
    }
    out
}

fn plural(n: usize, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}

/// The text between `PIDAUDIT <STATE> - ` and ` | `.
fn summary(report: &Report) -> String {
    let n = report.pidfiles.len();
    let problems = problem_pidfiles(report);
    let mut s = if problems == 0 {
        format!("{}, no problems", plural(n, "pidfile", "pidfiles"))
    } else {
        let mut states: Vec<(&str, usize)> = Vec::new();
        for p in report.pidfiles.iter().filter(|p| is_problem(p)) {
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
            &problem_pidfiles(report).to_string(),
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

/// Renders the plugin output and returns the plugin status.
pub fn render(
    report: &Report,
    thresholds: &Thresholds,
    out: &mut dyn Write,
) -> std::io::Result<NagiosStatus> {
    let status = status(report, thresholds);
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
    Ok(status)
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
    use crate::audit::{PidfileReport, State};
    use std::time::{Duration, SystemTime};

    fn r(s: &str) -> Range {
        Range::parse(s).unwrap_or_else(|e| panic!("{s}: {e}"))
    }

    /// Each documented range form alerts exactly outside (or, with `@`, inside) its bounds.
    #[test]
    fn range_forms_alert_as_documented() {
        let cases: &[(&str, &[f64], &[f64])] = &[
            // (range, alerting values, non-alerting values)
            ("10", &[-1.0, 11.0, 10.5], &[0.0, 5.0, 10.0]),
            ("10:", &[9.0, 0.0, -3.0], &[10.0, 1e9]),
            ("~:10", &[11.0, 1e9], &[10.0, 0.0, -1e9]),
            ("10:20", &[9.0, 21.0], &[10.0, 15.0, 20.0]),
            ("@10:20", &[10.0, 15.0, 20.0], &[9.0, 21.0]),
            ("0", &[1.0], &[0.0]),
            ("@0", &[0.0], &[1.0]),
            ("-5:-1", &[0.0, -6.0], &[-5.0, -1.0]),
            ("1.5:2.5", &[1.0, 3.0], &[2.0]),
            ("~:", &[], &[-1e9, 0.0, 1e9]),
            ("@~:", &[-1e9, 0.0, 1e9], &[]),
        ];
        for (text, alert, quiet) in cases {
            let range = r(text);
            for v in *alert {
                assert!(range.alerts(*v), "{text} should alert on {v}");
            }
            for v in *quiet {
                assert!(!range.alerts(*v), "{text} should not alert on {v}");
            }
        }
    }

    /// Bounds parse to the documented start and end.
    #[test]
    fn range_bounds() {
        assert_eq!(r("10").start, Bound::Value(0.0));
        assert_eq!(r("10").end, Bound::Value(10.0));
        assert_eq!(r("10:").end, Bound::PosInfinity);
        assert_eq!(r("~:10").start, Bound::NegInfinity);
        assert!(r("@10:20").inside);
        assert_eq!(r("@10:20").text, "@10:20");
    }

    /// Malformed ranges are rejected with a message naming the range, never accepted loosely.
    #[test]
    fn bad_ranges_are_rejected() {
        for bad in [
            "", "@", ":", ":10", "abc", "10:abc", "20:10", "@20:10", "1e3", "0x10", "10:20:30",
            " 10", "10 ", "+5", "~", "10:~", "nan", "inf", "1.", ".5", "--1", "@@1",
        ] {
            let e = Range::parse(bad).expect_err(bad);
            assert!(e.0.contains("invalid range"), "{bad}: {e}");
        }
    }

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

    fn finding(code: &'static str, severity: Severity) -> Finding {
        Finding::new(code, "/x", "m").severity(severity)
    }

    fn report(pidfiles: Vec<Vec<Severity>>, system: Vec<Severity>) -> Report {
        Report {
            host: "h".into(),
            generated_at: SystemTime::UNIX_EPOCH,
            duration: Duration::from_millis(5),
            roots: vec![],
            pidfiles: pidfiles
                .into_iter()
                .enumerate()
                .map(|(i, sevs)| PidfileReport {
                    path: format!("/run/{i}.pid"),
                    state: State::Stale,
                    pid: None,
                    file: None,
                    process: None,
                    lock: None,
                    trusted: true,
                    trust_reasons: Vec::new(),
                    findings: sevs.into_iter().map(|s| finding("stale", s)).collect(),
                })
                .collect(),
            system_findings: system
                .into_iter()
                .map(|s| finding("unreadable", s))
                .collect(),
        }
    }

    use Severity::{Error as E, Info as I, Unknown as U, Warning as W};

    /// Without thresholds the worst severity decides, and only-unknown is UNKNOWN.
    #[test]
    fn status_by_severity() {
        let none = Thresholds::default();
        let s = |p, sys| status(&report(p, sys), &none);
        assert_eq!(s(vec![vec![]], vec![]), NagiosStatus::Ok);
        assert_eq!(s(vec![vec![I]], vec![]), NagiosStatus::Ok);
        assert_eq!(s(vec![vec![U]], vec![]), NagiosStatus::Unknown);
        assert_eq!(s(vec![vec![]], vec![U]), NagiosStatus::Unknown);
        assert_eq!(s(vec![vec![W, U]], vec![]), NagiosStatus::Warning);
        assert_eq!(s(vec![vec![W], vec![E]], vec![]), NagiosStatus::Critical);
        assert_eq!(s(vec![], vec![E]), NagiosStatus::Critical);
    }

    /// With thresholds the problem-pidfile count decides; system findings still map by severity.
    #[test]
    fn status_by_thresholds() {
        let t = Thresholds {
            warning: Some(r("1")),
            critical: Some(r("3")),
        };
        let s = |p, sys| status(&report(p, sys), &t);
        assert_eq!(s(vec![vec![E]], vec![]), NagiosStatus::Ok);
        assert_eq!(s(vec![vec![E], vec![W]], vec![]), NagiosStatus::Warning);
        assert_eq!(
            s(vec![vec![E], vec![W], vec![E], vec![W]], vec![]),
            NagiosStatus::Critical
        );
        // Unknown and info pidfiles are not problems.
        assert_eq!(
            s(vec![vec![U], vec![U], vec![I]], vec![]),
            NagiosStatus::Unknown
        );
        assert_eq!(s(vec![vec![E]], vec![W]), NagiosStatus::Warning);
        assert_eq!(s(vec![vec![]], vec![E]), NagiosStatus::Critical);
        // Only -c given: below it, OK whatever the severities.
        let c = Thresholds {
            warning: None,
            critical: Some(r("1")),
        };
        assert_eq!(status(&report(vec![vec![E]], vec![]), &c), NagiosStatus::Ok);
        assert_eq!(
            status(&report(vec![vec![E], vec![E]], vec![]), &c),
            NagiosStatus::Critical
        );
    }
}
