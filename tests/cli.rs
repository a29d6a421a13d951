//! The command line: exit codes for each `--fail-on` level, usage errors, `explain`, and the human
//! report's colour, quiet and verbose modes.

mod common;
use common::*;
use std::process::Command;

/// A directory holding one healthy (locked), one stale (warning) and one malformed (error) pidfile.
struct Tree {
    dir: tempfile::TempDir,
    daemon: RunningTestd,
    /// The healthy daemon's name (unique: tests running at once each have one) and pidfile.
    name: String,
    healthy: String,
    /// The stale pidfile, named so that no process on the machine is an instance of it.
    stale: String,
}

impl Tree {
    fn new() -> Tree {
        let dir = open_tempdir();
        // A healthy daemon locks its pidfile (an unlocked one has an info finding).
        let (name, pf) = unique_pidfile(dir.path(), "healthy");
        let d = Testd::new(&pf).lock(Lock::Flock).name(&name).start();
        let (_, stale) = unique_pidfile(dir.path(), "gone");
        write_pid(&stale, dead_pid());
        write_pidfile(&dir.path().join("broken.pid"), "12abc\n");
        Tree {
            dir,
            daemon: d,
            name,
            healthy: pf.display().to_string(),
            stale: stale.display().to_string(),
        }
    }

    fn path(&self, name: &str) -> String {
        self.dir.path().join(name).display().to_string()
    }
}

/// Exit status per `--fail-on` level: error, warning, unknown and clean runs each cross exactly the
/// thresholds they should (info < unknown < warning < error).
#[test]
fn fail_on_levels() {
    let t = Tree::new();
    let (healthy, stale, error) = (t.healthy.clone(), t.stale.clone(), t.path("broken.pid"));
    // An unreadable file as nobody: the only finding is of severity unknown.
    let unknown = t.path("secret.pid");
    write_pid(std::path::Path::new(&unknown), 1);
    chmod(std::path::Path::new(&unknown), 0o000);

    let cases: &[(&str, [i32; 4])] = &[
        // file                 error warning info never
        (&healthy, [0, 0, 0, 0]),
        (&stale, [0, 1, 1, 0]),
        (&error, [1, 1, 1, 0]),
    ];
    for (file, expected) in cases {
        for (level, want) in ["error", "warning", "info", "never"].iter().zip(expected) {
            let r = run(&["--fail-on", level, file]);
            assert_eq!(r.code, *want, "{file} --fail-on {level}: {}", r.stdout);
        }
    }
    for (level, want) in ["error", "warning", "info", "never"]
        .iter()
        .zip([0, 0, 1, 0])
    {
        let r = run_as_nobody(&["--fail-on", level, &unknown]);
        assert_eq!(r.code, want, "unknown --fail-on {level}: {}", r.stdout);
    }
    // The default threshold is error.
    assert_eq!(run(&[&stale]).code, 0);
    assert_eq!(run(&[&error]).code, 1);
    // --ignore removes a finding from the exit status too; --select keeps only the named codes.
    assert_eq!(run(&["--ignore", "malformed", &error]).code, 0);
    assert_eq!(
        run(&["--select", "stale", "--fail-on", "warning", &error]).code,
        0
    );
    assert_eq!(
        run(&["--select", "stale", "--fail-on", "warning", &stale]).code,
        1
    );
}

/// Usage errors exit 2 with a message naming the problem: a bad glob, an unknown code in
/// `--select`/`--ignore`, `--max-depth 0`, an unknown format or flag.
#[test]
fn usage_errors_exit_2() {
    let t = Tree::new();
    let p = t.healthy.clone();
    let cases: &[(&[&str], &str)] = &[
        (&["--exclude", "[ab", &p], "--exclude"),
        (&["--select", "stale,no-such-code", &p], "no-such-code"),
        (&["--ignore", "Stael", &p], "did you mean 'stale'?"),
        (&["--max-depth", "0", &p], "--max-depth must be at least 1"),
        (&["--max-depth", "x", &p], "--max-depth"),
        (&["--format", "xml", &p], "xml"),
        (&["--fail-on", "sometimes", &p], "sometimes"),
        (&["--no-such-flag"], "--no-such-flag"),
    ];
    for (args, needle) in cases {
        let r = run(args);
        assert_eq!(r.code, 2, "{args:?}: {}", r.stderr);
        assert!(r.stdout.is_empty(), "{args:?} printed a report");
        assert!(r.stderr.contains(needle), "{args:?}: {}", r.stderr);
        assert!(r.stderr.starts_with("pidaudit: error: "), "{}", r.stderr);
    }
    // --help and --version are not errors.
    assert_eq!(run(&["--help"]).code, 0);
    assert_eq!(run(&["--version"]).code, 0);
}

/// Every documented code, in README order of the catalogue.
const CODES: &[&str] = &[
    "empty",
    "malformed",
    "nonstandard-format",
    "invalid-pid",
    "not-a-file",
    "symlink",
    "unreadable",
    "missing-pidfile",
    "stale",
    "zombie",
    "main-thread-exited",
    "pid-reused",
    "previous-boot",
    "hidden-process",
    "process-unknown",
    "kernel-thread",
    "thread-id",
    "targets-init",
    "name-mismatch",
];

/// `explain CODE` documents one code (what, why, what to do); `explain` lists every code with its
/// severity; an unknown code exits 2.
#[test]
fn explain_codes() {
    let all = run(&["explain"]);
    assert_eq!(all.code, 0);
    for code in CODES {
        assert!(
            all.stdout
                .lines()
                .any(|l| l.split_whitespace().next() == Some(code)),
            "{code} missing from `explain`: {}",
            all.stdout
        );
        let one = run(&["explain", code]);
        assert_eq!(one.code, 0, "{code}");
        assert!(
            one.stdout.starts_with(&format!("{code} [")),
            "{}",
            one.stdout
        );
        assert!(one.stdout.contains("Why it matters:"), "{code}");
        assert!(one.stdout.contains("What to do:"), "{code}");
    }
    let stale = run(&["explain", "stale"]);
    assert!(
        stale.stdout.starts_with("stale [warning]\n"),
        "{}",
        stale.stdout
    );
    let zombie = run(&["explain", "zombie"]);
    assert!(
        zombie.stdout.starts_with("zombie [error]\n"),
        "{}",
        zombie.stdout
    );
    let bad = run(&["explain", "no-such-code"]);
    assert_eq!(bad.code, 2);
    assert!(bad.stdout.is_empty());
    assert!(
        bad.stderr.contains("unknown finding code 'no-such-code'"),
        "{}",
        bad.stderr
    );
}

const ESC: &str = "\x1b[";

/// Runs pidaudit on a pseudo-terminal (`script`), so `--color auto` sees a terminal.
fn run_on_tty(args: &str, no_color: Option<&str>) -> Run {
    let mut cmd = Command::new("script");
    cmd.args(["-q", "-e", "-c"])
        .arg(format!("{BIN} {args}"))
        .arg("/dev/null")
        .env_remove("NO_COLOR")
        .env("TERM", "xterm");
    if let Some(v) = no_color {
        cmd.env("NO_COLOR", v);
    }
    run_cmd(&mut cmd)
}

/// Colour: on a terminal by default, not with NO_COLOR set (an empty NO_COLOR does not count), never
/// on a pipe, always with `--color always`, never with `--color never`.
#[test]
fn colour_rules() {
    let t = Tree::new();
    let dir = t.dir.path().to_str().unwrap().to_string();
    let tty = run_on_tty(&dir, None);
    assert!(tty.stdout.contains("broken.pid"), "{}", tty.stdout);
    assert!(
        tty.stdout.contains(ESC),
        "no colour on a terminal: {:?}",
        tty.stdout
    );
    let tty = run_on_tty(&dir, Some("1"));
    assert!(tty.stdout.contains("broken.pid"), "{}", tty.stdout);
    assert!(
        !tty.stdout.contains(ESC),
        "NO_COLOR ignored: {:?}",
        tty.stdout
    );
    assert!(run_on_tty(&dir, Some("")).stdout.contains(ESC));
    assert!(run_on_tty(&format!("--color never {dir}"), None)
        .stdout
        .contains("broken.pid"));
    assert!(!run_on_tty(&format!("--color never {dir}"), None)
        .stdout
        .contains(ESC));

    let piped = run(&[&dir]);
    assert!(!piped.stdout.contains(ESC), "{:?}", piped.stdout);
    let always = run_cmd(
        pidaudit()
            .args(["--color", "always", &dir])
            .env("NO_COLOR", "1"),
    );
    assert!(
        always.stdout.contains(&format!("{ESC}31")),
        "red errors: {:?}",
        always.stdout
    );
    assert!(
        always.stdout.contains(&format!("{ESC}32")),
        "green running: {:?}",
        always.stdout
    );
    // JSON is never coloured.
    let json = run(&["--color", "always", "--format", "json", &dir]);
    assert!(!json.stdout.contains(ESC));
    json.json();
}

/// The default human report lists every pidfile, its findings and a summary line; `--quiet` hides
/// clean pidfiles but keeps the summary; `--verbose` adds evidence and process details.
#[test]
fn quiet_and_verbose() {
    let t = Tree::new();
    let dir = t.dir.path().to_str().unwrap().to_string();
    let normal = run(&[&dir]);
    let healthy_line = format!("{}: running, PID {} ({})", t.healthy, t.daemon.pid, t.name);
    assert!(
        normal.stdout.lines().any(|l| l == healthy_line),
        "{}",
        normal.stdout
    );
    assert!(normal.stdout.contains(&format!("{}: stale, PID", t.stale)));
    assert!(normal
        .stdout
        .contains("  error[malformed]: the content is not a decimal number\n"));
    let summary = "3 pidfiles (1 invalid, 1 running, 1 stale): 1 error, 1 warning\n";
    assert!(normal.stdout.ends_with(summary), "{}", normal.stdout);
    assert!(!normal.stdout.contains("evidence") && !normal.stdout.contains("      reason:"));

    let quiet = run(&["--quiet", &dir]);
    assert!(!quiet.stdout.contains(&t.healthy), "{}", quiet.stdout);
    assert!(quiet.stdout.contains(&t.stale) && quiet.stdout.contains("broken.pid"));
    assert!(quiet.stdout.ends_with(summary), "{}", quiet.stdout);
    assert_eq!(
        run(&["-q", &t.healthy.clone()]).stdout,
        "1 pidfile (1 running): no findings\n"
    );

    let verbose = run(&["--verbose", &dir]);
    assert!(
        verbose.stdout.contains("      reason: \"not_decimal\"\n"),
        "{}",
        verbose.stdout
    );
    assert!(
        verbose.stdout.contains("      content: \"12abc\\\\n\"\n"),
        "{}",
        verbose.stdout
    );
    assert!(
        verbose.stdout.contains(&format!(
            "    process: ppid {}, uid 0 (root), state S, exe ",
            std::process::id()
        )),
        "{}",
        verbose.stdout
    );
    assert!(
        verbose.stdout.contains("    cmdline: "),
        "{}",
        verbose.stdout
    );
    assert!(verbose.stdout.ends_with(summary));
    // --quiet and --verbose conflict.
    assert_eq!(run(&["-q", "-v", &dir]).code, 2);
}

/// An unreadable `--proc-root` is reported (`process-unknown`), and no pidfile is called stale.
#[test]
fn missing_proc_root_is_unknown_not_stale() {
    let t = Tree::new();
    let gone = std::path::PathBuf::from(&t.stale);
    let (_, doc) = audit_path(&gone, &["--proc-root", "/nonexistent-proc"]);
    let e = pidfile(&doc, &gone);
    assert_eq!(e["state"], "unknown", "{e:#}");
    assert_eq!(codes(e), vec!["process-unknown"]);
    assert!(!has_code(&doc, "stale"));
    assert!(findings_with(&doc, "process-unknown")
        .iter()
        .any(|f| f["subject"] == "/nonexistent-proc"));
}

/// Where a case looks for its text.
#[derive(Clone, Copy, Debug)]
enum Out {
    Stdout,
    Stderr,
}

/// The command line's traps, as data: arguments, exit status, and a text the output must contain.
/// Options work before the command; a word one or two letters from a command is a usage error
/// with a suggestion (Nagios mode: UNKNOWN and a status line); a PATH that does not exist is a
/// missing pidfile when its name has a dot and a usage error (no such directory) otherwise; codes
/// match in any case and an unknown one gets a suggestion; `--started-after` takes local and
/// relative times; every error on stderr has one style.
#[test]
fn traps() {
    let t = Tree::new();
    let healthy = t.healthy.clone();
    let h = healthy.as_str();
    let nodir = t.path("no-such-dir");
    let nodir_slash = t.path("no-such-dir/");
    let missing = t.path("no-such-dir/app.pid");
    let stale = t.stale.as_str();
    use Out::*;
    let cases: &[(&[&str], i32, Out, &str)] = &[
        // Options before the command.
        (
            &["--format", "json", "scan", h],
            0,
            Stdout,
            "\"schema_version\"",
        ),
        (
            &["-q", "scan", h],
            0,
            Stdout,
            "1 pidfile (1 running): no findings",
        ),
        (
            &["--fail-on=never", "-q", "scan", "--format", "json", h],
            0,
            Stdout,
            "\"schema_version\"",
        ),
        (
            &["scan", h, "-q"],
            0,
            Stdout,
            "1 pidfile (1 running): no findings",
        ),
        (
            &["-q", "explain", "stale"],
            2,
            Stderr,
            "pidaudit: error: unexpected argument '-q'",
        ),
        // Mistyped commands.
        (
            &["explian", "stale"],
            2,
            Stderr,
            "pidaudit: error: unrecognized command 'explian'; did you mean 'explain'?",
        ),
        (&["sacn"], 2, Stderr, "did you mean 'scan'?"),
        (
            &[h, "explain"],
            2,
            Stderr,
            "the command 'explain' must come before the PATHs",
        ),
        (
            &["-q", "stauts", "--pidfile", h],
            2,
            Stderr,
            "did you mean 'status'?",
        ),
        (
            &["--format", "nagios", "sacn"],
            3,
            Stdout,
            "PIDAUDIT UNKNOWN - usage: unrecognized command 'sacn'",
        ),
        (
            &["--format", "nagios", "--bogus"],
            3,
            Stderr,
            "pidaudit: error: unexpected argument '--bogus'",
        ),
        // Nonexistent directories and files.
        (&[&nodir], 2, Stderr, "no-such-dir: no such directory"),
        (&[&nodir_slash], 2, Stderr, "no such directory"),
        (
            &["--format", "nagios", &nodir],
            3,
            Stdout,
            "PIDAUDIT UNKNOWN - usage: ",
        ),
        (&[&missing], 1, Stdout, "error[missing-pidfile]"),
        // Finding codes in any case, and suggestions.
        (
            &["--select", "STALE", "--fail-on", "warning", stale],
            1,
            Stdout,
            "warning[stale]",
        ),
        (
            &["--ignore", "Stale", "--fail-on", "warning", stale],
            0,
            Stdout,
            "1 pidfile (1 stale): no findings",
        ),
        (
            &["--ignore", "zombe", h],
            2,
            Stderr,
            "pidaudit: error: --ignore: unknown finding code 'zombe'; did you mean 'zombie'?",
        ),
        (&["explain", "ZOMBIE"], 0, Stdout, "zombie [error]"),
        (
            &["explain", "zombe"],
            2,
            Stderr,
            "pidaudit: error: unknown finding code 'zombe'; did you mean 'zombie'?",
        ),
        (
            &["explain", "stale"],
            0,
            Stdout,
            "`--exclude PATH` skips one pidfile",
        ),
        // Times: relative, and local.
        (
            &[
                "--started-after",
                "10m",
                "--select",
                "started-before-deploy",
                h,
            ],
            0,
            Stdout,
            "no findings",
        ),
        (
            &[
                "--started-after",
                "2h ago",
                "--select",
                "started-before-deploy",
                h,
            ],
            0,
            Stdout,
            "no findings",
        ),
        (
            &["--started-after", "2099-01-01 00:00", h],
            1,
            Stdout,
            "error[started-before-deploy]",
        ),
        (
            &["--started-after", "tomorrow", h],
            2,
            Stderr,
            "pidaudit: error: --started-after: 'tomorrow' is not a time",
        ),
    ];
    for (args, code, out, needle) in cases {
        let r = run(args);
        let text = match out {
            Stdout => &r.stdout,
            Stderr => &r.stderr,
        };
        assert_eq!(r.code, *code, "{args:?}: {}{}", r.stdout, r.stderr);
        assert!(
            text.contains(needle),
            "{args:?}: {out:?} lacks {needle:?}: {text}"
        );
        if r.code == 2 {
            assert!(
                r.stderr.starts_with("pidaudit: error: "),
                "{args:?}: {}",
                r.stderr
            );
        }
    }
}

/// A local time is read in the machine's time zone (`TZ`): an hour ago there is an hour ago.
#[test]
fn started_after_local_time() {
    let t = Tree::new();
    let h = t.healthy.clone();
    // TZ=UTC-2 is two hours ahead of UTC (POSIX signs are inverted).
    let wall = |offset_secs: i64| {
        let now = std::time::SystemTime::now();
        let t = if offset_secs >= 0 {
            now + std::time::Duration::from_secs(offset_secs as u64)
        } else {
            now - std::time::Duration::from_secs(offset_secs.unsigned_abs())
        };
        humantime::format_rfc3339_seconds(t).to_string()[..16].replace('T', " ")
    };
    let at = |local: String| {
        run_cmd(
            pidaudit()
                .args([
                    "--started-after",
                    &local,
                    "--select",
                    "started-before-deploy",
                    &h,
                ])
                .env("TZ", "UTC-2"),
        )
    };
    // An hour ago, local time: the daemon started after it (read as UTC it would be in an hour).
    let r = at(wall(7200 - 3600));
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    // In an hour, local time: the daemon started before it.
    let r = at(wall(7200 + 3600));
    assert_eq!(r.code, 1, "{}{}", r.stdout, r.stderr);
}

/// `TERM=dumb` gets no colour on a terminal.
#[test]
fn dumb_terminal_no_colour() {
    let t = Tree::new();
    let dir = t.dir.path().to_str().unwrap().to_string();
    let r = run_cmd(
        Command::new("script")
            .args(["-q", "-e", "-c"])
            .arg(format!("{BIN} {dir}"))
            .arg("/dev/null")
            .env_remove("NO_COLOR")
            .env("TERM", "dumb"),
    );
    assert!(r.stdout.contains("broken.pid"), "{}", r.stdout);
    assert!(
        !r.stdout.contains(ESC),
        "colour on a dumb terminal: {:?}",
        r.stdout
    );
}

/// `--quiet` hides a pidfile whose only finding is info (a running daemon that does not lock its
/// pidfile), which the default report shows.
#[test]
fn quiet_hides_info_only_pidfiles() {
    let dir = open_tempdir();
    let (name, pf) = unique_pidfile(dir.path(), "quietd");
    let _d = Testd::new(&pf).name(&name).start();
    let normal = run(&[pf.to_str().unwrap()]);
    assert!(
        normal.stdout.contains("info[unlocked]"),
        "{}",
        normal.stdout
    );
    let quiet = run(&["--quiet", pf.to_str().unwrap()]);
    assert!(!quiet.stdout.contains(&name), "{}", quiet.stdout);
    assert!(
        quiet.stdout.ends_with("1 pidfile (1 running): 1 info\n"),
        "{}",
        quiet.stdout
    );
}
