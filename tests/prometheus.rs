//! `--format prometheus` and `--textfile` with real clients: `promtool check metrics` on a real run,
//! node exporter's textfile collector scraped over loopback, the contrib alerting rules under
//! `promtool check rules` / `promtool test rules`, and the contrib CI script.

mod common;
use common::*;
use std::path::{Path, PathBuf};
use std::process::Command;

fn repo() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// A directory of real pidfiles with findings: a running daemon, a stale file, a zombie, and a
/// stale file whose directory and name hold a quote, a backslash and a newline.
struct Fixture {
    dir: tempfile::TempDir,
    _daemon: Daemon,
    _zombie_parent: Daemon,
    hostile: PathBuf,
}

fn fixture() -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let daemon = named_sleep(dir.path(), "promd");
    write_pid(&dir.path().join("promd.pid"), daemon.pid);
    write_pid(&unique_pidfile(dir.path(), "gone").1, dead_pid());
    let (parent, zpid) = zombie();
    write_pid(&unique_pidfile(dir.path(), "zombid").1, zpid);
    let sub = dir.path().join("we\"ird\\dir");
    std::fs::create_dir(&sub).unwrap();
    let hostile = sub.join("x\ny.pid");
    write_pid(&hostile, dead_pid());
    Fixture {
        dir,
        _daemon: daemon,
        _zombie_parent: parent,
        hostile,
    }
}

/// The label value: the path in the reports' lossless form (a backslash doubled, a line feed as
/// `\x0a`), then escaped as the exposition format requires.
fn escaped(path: &Path) -> String {
    let form = path
        .display()
        .to_string()
        .replace('\\', "\\\\")
        .replace('\n', "\\x0a");
    form.replace('\\', "\\\\").replace('"', "\\\"")
}

/// Runs promtool (Debian package prometheus) with this standard input.
fn promtool(args: &[&str], stdin: Option<&str>) -> Run {
    run_input(
        Command::new("promtool").args(args),
        stdin.unwrap_or("").as_bytes(),
    )
}

/// promtool accepts the exposition of a real run with findings, including an escaped hostile path;
/// and the same promtool rejects a broken exposition (so the check can fail).
#[test]
fn promtool_accepts_real_exposition() {
    let f = fixture();
    let r = run(&["--format", "prometheus", f.dir.path().to_str().unwrap()]);
    assert_eq!(r.code, 1, "{}", r.stderr);
    let check = promtool(&["check", "metrics"], Some(&r.stdout));
    assert_eq!(
        check.code, 0,
        "promtool: {}{}\n{}",
        check.stdout, check.stderr, r.stdout
    );
    assert!(
        r.stdout.contains(&format!(
            "pidaudit_pidfile_findings{{path=\"{}\",state=\"stale\",code=\"stale\",severity=\"warning\"}} 1\n",
            escaped(&f.hostile)
        )),
        "{}",
        r.stdout
    );
    assert!(r.stdout.contains("pidaudit_pidfiles{state=\"stale\"} 2\n"));
    assert!(r.stdout.contains("pidaudit_pidfiles{state=\"zombie\"} 1\n"));
    assert!(r
        .stdout
        .contains("pidaudit_findings{code=\"zombie\",severity=\"error\"} 1\n"));
    assert!(
        !r.stdout.contains("promd.pid"),
        "healthy pidfiles get no path label"
    );
    // A raw line feed inside the label value breaks the exposition.
    let broken = r.stdout.replace("\\x0a", "\n");
    assert_ne!(broken, r.stdout);
    assert_ne!(promtool(&["check", "metrics"], Some(&broken)).code, 0);
}

/// `--textfile DIR` writes DIR/pidaudit.prom in addition to the chosen output (here JSON), leaves
/// nothing else in DIR, and replaces an old file.
#[test]
fn textfile_is_written_besides_the_output() {
    let f = fixture();
    let out = tempfile::tempdir().unwrap();
    std::fs::write(out.path().join("pidaudit.prom"), "old\n").unwrap();
    let r = run(&[
        "--format",
        "json",
        "--textfile",
        out.path().to_str().unwrap(),
        f.dir.path().to_str().unwrap(),
    ]);
    assert_eq!(r.code, 1, "{}", r.stderr);
    assert_eq!(r.json()["summary"]["by_state"]["stale"], 2);
    let text = std::fs::read_to_string(out.path().join("pidaudit.prom")).unwrap();
    assert!(
        text.contains("pidaudit_pidfiles{state=\"stale\"} 2\n"),
        "{text}"
    );
    assert_eq!(promtool(&["check", "metrics"], Some(&text)).code, 0);
    assert_eq!(std::fs::read_dir(out.path()).unwrap().count(), 1);
}

/// An unusable textfile directory is an error (exit 2; UNKNOWN in Nagios mode), never silent.
#[test]
fn unwritable_textfile_is_an_error() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("missing");
    let r = run(&[
        "--textfile",
        missing.to_str().unwrap(),
        dir.path().to_str().unwrap(),
    ]);
    assert_eq!(r.code, 2);
    assert!(r.stderr.contains("missing/pidaudit.prom"), "{}", r.stderr);
    let r = run(&[
        "--format",
        "nagios",
        "--textfile",
        missing.to_str().unwrap(),
        dir.path().to_str().unwrap(),
    ]);
    assert_eq!(r.code, 3);
    assert!(
        r.stdout.starts_with("PIDAUDIT UNKNOWN - cannot write "),
        "{}",
        r.stdout
    );
}

/// End to end: pidaudit --textfile into node exporter's textfile directory; a scrape of /metrics
/// over loopback has the pidaudit series with the audit's values, and node exporter reports no
/// textfile parse error.
#[test]
fn node_exporter_serves_the_textfile() {
    let f = fixture();
    let out = tempfile::tempdir().unwrap();
    let r = run(&[
        "--quiet",
        "--textfile",
        out.path().to_str().unwrap(),
        f.dir.path().to_str().unwrap(),
    ]);
    assert_eq!(r.code, 1, "{}", r.stderr);
    let exporter = start_exporter(out.path());
    let body = scrape(exporter.port);
    drop(exporter);
    for want in [
        "node_textfile_scrape_error 0".to_string(),
        "pidaudit_pidfiles{state=\"running\"} 1".into(),
        "pidaudit_pidfiles{state=\"stale\"} 2".into(),
        "pidaudit_pidfiles{state=\"zombie\"} 1".into(),
        "pidaudit_findings{code=\"zombie\",severity=\"error\"} 1".into(),
        "pidaudit_findings{code=\"stale\",severity=\"warning\"} 2".into(),
        "pidaudit_problem_pidfiles 3".into(),
        "pidaudit_scan_errors 0".into(),
        format!("pidaudit_build_info{{version=\"{}\"}} 1", env!("CARGO_PKG_VERSION")),
        format!(
            "pidaudit_pidfile_findings{{code=\"stale\",path=\"{}\",severity=\"warning\",state=\"stale\"}} 1",
            escaped(&f.hostile)
        ),
    ] {
        assert!(
            body.lines().any(|l| l == want),
            "missing {want:?} in the scrape:\n{body}"
        );
    }
    let stamp: f64 = body
        .lines()
        .find_map(|l| l.strip_prefix("pidaudit_last_scan_timestamp_seconds "))
        .expect("last scan timestamp")
        .parse()
        .unwrap();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs_f64();
    assert!(stamp > 0.0 && stamp <= now, "{stamp}");
}

/// The contrib alerting rules are valid (`promtool check rules`) and pass their unit tests
/// (`promtool test rules`).
#[test]
fn alerting_rules_check_and_pass_their_tests() {
    let rules = repo().join("contrib/prometheus/pidaudit.rules.yml");
    let tests = repo().join("contrib/prometheus/pidaudit.rules.test.yml");
    let r = promtool(&["check", "rules", rules.to_str().unwrap()], None);
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    let r = promtool(&["test", "rules", tests.to_str().unwrap()], None);
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
}

/// Every pidaudit metric the alerting rules use exists in a real exposition, and every finding code
/// they select that pidaudit already emits is in the catalogue (so a rename breaks this test).
#[test]
fn alerting_rules_use_real_metric_names() {
    let rules =
        std::fs::read_to_string(repo().join("contrib/prometheus/pidaudit.rules.yml")).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let expo = run(&["--format", "prometheus", dir.path().to_str().unwrap()]).stdout;
    let re = regex::Regex::new(r"\b(pidaudit_[a-z_]+)").unwrap();
    let mut seen = 0;
    for m in re.captures_iter(&rules) {
        let name = &m[1];
        assert!(
            expo.contains(&format!("# TYPE {name} gauge")),
            "rules use {name}, which pidaudit does not export"
        );
        seen += 1;
    }
    assert!(seen >= 5, "{seen}");
    for code in ["stale", "zombie", "pid-reused"] {
        assert!(
            expo.contains(&format!("pidaudit_findings{{code=\"{code}\",")),
            "{code}"
        );
    }
}

/// The contrib CI script writes a JUnit report and passes pidaudit's exit status through: 1 with
/// a zombie, 0 when healthy.
#[test]
fn ci_script_gates_on_findings() {
    let script = repo().join("contrib/ci/post-deploy-check.sh");
    let work = tempfile::tempdir().unwrap();
    let pids = tempfile::tempdir().unwrap();
    let d = named_sleep(pids.path(), "promexpd");
    write_pid(&pids.path().join("promexpd.pid"), d.pid);
    let report = work.path().join("report.xml");
    let go = || {
        run_cmd(
            Command::new("bash")
                .arg(&script)
                .arg(pids.path())
                .env("PIDAUDIT", BIN)
                .env("PIDAUDIT_REPORT", &report),
        )
    };
    let r = go();
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    let xml = std::fs::read_to_string(&report).unwrap();
    assert!(xml.contains("failures=\"0\""), "{xml}");
    let (_parent, zpid) = zombie();
    write_pid(&unique_pidfile(pids.path(), "zombid").1, zpid);
    let r = go();
    assert_eq!(r.code, 1, "{}{}", r.stdout, r.stderr);
    let xml = std::fs::read_to_string(&report).unwrap();
    assert!(
        xml.contains("failures=\"1\"") && xml.contains("type=\"zombie\""),
        "{xml}"
    );
    assert_eq!(
        std::fs::read_dir(work.path()).unwrap().count(),
        1,
        "no temp file left"
    );
}

/// The systemd units parse cleanly (`systemd-analyze verify`, with the built binary standing in for
/// the installed one, and the man page `Documentation=` names where the package installs it).
#[test]
fn systemd_units_verify() {
    let dir = tempfile::tempdir().unwrap();
    let man1 = dir.path().join("man/man1");
    std::fs::create_dir_all(&man1).unwrap();
    for page in ["pidaudit.1", "pidaudit-watch.1"] {
        std::fs::copy(repo().join("doc").join(page), man1.join(page)).unwrap();
    }
    let units = [
        "pidaudit-textfile.service",
        "pidaudit-textfile.timer",
        "pidaudit-watch.service",
    ];
    for unit in units {
        let text = std::fs::read_to_string(repo().join("contrib/systemd").join(unit))
            .unwrap()
            .replace("/usr/bin/pidaudit", BIN);
        std::fs::write(dir.path().join(unit), text).unwrap();
    }
    let r = run_cmd(
        Command::new("systemd-analyze")
            .arg("verify")
            .args(units.map(|u| dir.path().join(u)))
            .env("MANPATH", dir.path().join("man")),
    );
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    assert!(r.stderr.trim().is_empty(), "{}", r.stderr);
}
