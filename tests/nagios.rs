//! `--format nagios` against real pidfiles: every plugin state, the perfdata grammar, thresholds,
//! and UNKNOWN for usage errors.

mod common;
use common::*;
use regex::Regex;

/// The perfdata grammar of the monitoring-plugins guidelines:
/// `'label'=value[UOM];[warn];[crit];[min];[max]`, space-separated.
fn perfdata_re() -> Regex {
    let num = r"-?[0-9]+(?:\.[0-9]+)?";
    let label = r"(?:'(?:[^']|'')+'|[^ '=]+)";
    let uom = r"(?:s|ms|us|%|B|KB|MB|TB|c)?";
    let range = format!(r"@?(?:(?:~|{num}):(?:{num})?|{num})");
    let item = format!(
        r"{label}={num}{uom}(?:;(?:{range})?(?:;(?:{range})?(?:;(?:{num})?(?:;(?:{num})?)?)?)?)?"
    );
    Regex::new(&format!(r"^{item}(?: {item})*$")).unwrap()
}

/// A parsed plugin run: status word, summary, perfdata items and detail lines.
struct Plugin {
    code: i32,
    status: String,
    summary: String,
    perfdata: String,
    details: Vec<String>,
}

impl Plugin {
    fn perf(&self, label: &str) -> String {
        self.perfdata
            .split(' ')
            .find_map(|i| i.strip_prefix(&format!("{label}=")))
            .unwrap_or_else(|| panic!("no {label} in {}", self.perfdata))
            .to_string()
    }
}

/// Runs pidaudit in Nagios mode and checks what every plugin run must satisfy.
fn plugin(args: &[&str]) -> Plugin {
    let mut all = vec!["--format", "nagios"];
    all.extend_from_slice(args);
    parse_plugin(run(&all))
}

fn parse_plugin(r: Run) -> Plugin {
    let mut lines = r.stdout.lines();
    let first = lines
        .next()
        .unwrap_or_else(|| panic!("no output: {}", r.stderr));
    let re =
        Regex::new(r"^PIDAUDIT (OK|WARNING|CRITICAL|UNKNOWN) - ([^|]+?)(?: \| (.*))?$").unwrap();
    let c = re
        .captures(first)
        .unwrap_or_else(|| panic!("bad status line {first:?}"));
    let status = c[1].to_string();
    let expected = match status.as_str() {
        "OK" => 0,
        "WARNING" => 1,
        "CRITICAL" => 2,
        _ => 3,
    };
    assert_eq!(
        r.code, expected,
        "exit status matches {status}: {}",
        r.stdout
    );
    let perfdata = c.get(3).map_or("", |m| m.as_str()).to_string();
    if status != "UNKNOWN" || !perfdata.is_empty() {
        assert!(
            perfdata_re().is_match(&perfdata),
            "perfdata does not follow the guidelines: {perfdata:?}"
        );
    }
    let details: Vec<String> = lines.map(String::from).collect();
    for d in &details {
        assert!(!d.contains('|'), "a detail line holds a pipe: {d:?}");
    }
    Plugin {
        code: r.code,
        status,
        summary: c[2].to_string(),
        perfdata,
        details,
    }
}

/// A pidfile naming a live daemon is OK (exit 0) with zero problem counts.
#[test]
fn healthy_is_ok() {
    let dir = tempfile::tempdir().unwrap();
    // A healthy daemon locks its pidfile (an unlocked one has an info finding in the details).
    let pf = dir.path().join("nagokd.pid");
    let _d = Testd::new(&pf).lock(Lock::Flock).name("nagokd").start();
    let p = plugin(&[pf.to_str().unwrap()]);
    assert_eq!(p.status, "OK");
    assert_eq!(p.summary, "1 pidfile, no problems");
    assert_eq!(p.perf("pidfiles"), "1;;;0");
    assert_eq!(p.perf("pidfiles_running"), "1;;;0;1");
    assert_eq!(p.perf("problem_pidfiles"), "0;;;0;1");
    assert!(p.perf("scan_duration").contains("s;;;0"));
    assert!(p.details.is_empty(), "{:?}", p.details);
}

/// A stale pidfile (a warning finding) is WARNING (exit 1) and listed on the next line.
#[test]
fn stale_is_warning() {
    let dir = tempfile::tempdir().unwrap();
    let (name, pf) = unique_pidfile(dir.path(), "nagstd");
    let mut d = named_sleep(dir.path(), &name);
    write_pid(&pf, d.pid);
    d.kill();
    let p = plugin(&[pf.to_str().unwrap()]);
    assert_eq!(p.status, "WARNING");
    assert_eq!(
        p.summary,
        "1 of 1 pidfile with problems (1 stale): 1 warning"
    );
    assert_eq!(p.perf("pidfiles_stale"), "1;;;0;1");
    assert_eq!(p.perf("findings_warning"), "1;;;0");
    assert_eq!(p.details.len(), 1);
    assert!(p.details[0].starts_with(&format!("warning[stale] {}: ", pf.display())));
}

/// A zombie (an error finding) is CRITICAL (exit 2), above a stale file's WARNING.
#[test]
fn zombie_is_critical() {
    let dir = tempfile::tempdir().unwrap();
    let (_parent, zpid) = zombie();
    write_pid(&unique_pidfile(dir.path(), "zombid").1, zpid);
    write_pid(&unique_pidfile(dir.path(), "gone").1, dead_pid());
    let p = plugin(&[dir.path().to_str().unwrap()]);
    assert_eq!(p.status, "CRITICAL");
    assert_eq!(p.perf("pidfiles_zombie"), "1;;;0;2");
    assert_eq!(p.perf("problem_pidfiles"), "2;;;0;2");
    assert!(
        p.details[0].starts_with("error[zombie] "),
        "worst first: {:?}",
        p.details
    );
}

/// A pidfile that cannot be read (run unprivileged) is only unknown: UNKNOWN (exit 3), never OK.
#[test]
fn unreadable_is_unknown() {
    let dir = open_tempdir();
    let pf = dir.path().join("secret.pid");
    write_pid(&pf, 1234);
    chmod(&pf, 0o600);
    let r = run_as_nobody(&["--format", "nagios", pf.to_str().unwrap()]);
    let p = parse_plugin(r);
    assert_eq!(p.status, "UNKNOWN");
    assert_eq!(p.code, 3);
    assert_eq!(p.perf("pidfiles_unreadable"), "1;;;0;1");
    assert!(
        p.details[0].starts_with("unknown[unreadable] "),
        "{:?}",
        p.details
    );
}

/// -w/-c count problem pidfiles: the same two stale files are OK, WARNING or CRITICAL by range, and
/// the ranges appear in the perfdata.
#[test]
fn thresholds_count_problem_pidfiles() {
    let dir = tempfile::tempdir().unwrap();
    for _ in 0..2 {
        write_pid(&unique_pidfile(dir.path(), "gone").1, dead_pid());
    }
    let d = dir.path().to_str().unwrap();
    let p = plugin(&["-w", "2", "-c", "5", d]);
    assert_eq!(p.status, "OK");
    assert_eq!(p.perf("problem_pidfiles"), "2;2;5;0;2");
    assert_eq!(plugin(&["-w", "1", "-c", "5", d]).status, "WARNING");
    assert_eq!(plugin(&["-w", "1", "-c", "1", d]).status, "CRITICAL");
    assert_eq!(plugin(&["--warning=@2:3", d]).status, "WARNING");
    assert_eq!(plugin(&["-c", "~:1", d]).status, "CRITICAL");
    assert_eq!(plugin(&["-c", "3:", d]).status, "CRITICAL");
    // Without thresholds, two warnings are WARNING.
    assert_eq!(plugin(&[d]).status, "WARNING");
}

/// Usage errors, bad ranges and --help exit UNKNOWN (3) in Nagios mode, with a status line.
#[test]
fn usage_errors_are_unknown() {
    for args in [
        &["--no-such-flag"][..],
        &["-w", "5:1"],
        &["-c", "abc"],
        &["--max-depth", "0"],
        &["--select", "no-such-code"],
    ] {
        let p = plugin(args);
        assert_eq!(p.status, "UNKNOWN", "{args:?}");
        assert!(p.summary.starts_with("usage: "), "{args:?}: {}", p.summary);
    }
    let r = run(&["--format=nagios", "--help"]);
    assert_eq!(r.code, 3);
    assert!(r.stdout.contains("--critical <RANGE>"), "{}", r.stdout);
    // Outside Nagios mode the same usage error is exit 2, and thresholds are refused.
    assert_eq!(run(&["--no-such-flag"]).code, 2);
    assert_eq!(run(&["-w", "3", "/nonexistent"]).code, 2);
}

/// A pidfile whose name holds a pipe and a newline cannot break the plugin output.
#[test]
fn hostile_path_stays_on_its_line() {
    let dir = tempfile::tempdir().unwrap();
    let pf = dir.path().join("a|b\nc.pid");
    write_pid(&pf, dead_pid());
    let p = plugin(&[dir.path().to_str().unwrap()]);
    assert_eq!(p.status, "WARNING");
    assert_eq!(p.details.len(), 1, "{:?}", p.details);
    assert!(
        p.details[0].contains("a\\x7cb\\x0ac.pid"),
        "{:?}",
        p.details
    );
}

/// The perfdata grammar used above rejects what the guidelines forbid (so it can catch a bad
/// rendering): unquoted spaces, a bad number, too many fields, a stray quote.
#[test]
fn perfdata_grammar_is_strict() {
    let re = perfdata_re();
    for good in [
        "a=1",
        "'a b'=1;2;3;0;4",
        "x=0.5s;;;0",
        "y=1;@1:2;~:3",
        "'it''s'=1c",
    ] {
        assert!(re.is_match(good), "{good}");
    }
    for bad in [
        "a b=1",
        "a=1x",
        "a=1;2;3;4;5;6",
        "a=",
        "'a=1",
        "a=1 ",
        "a=1,5",
    ] {
        assert!(!re.is_match(bad), "{bad}");
    }
}
