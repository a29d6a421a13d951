//! Attacks by an unprivileged local user on the audit and its reports: hostile file and process
//! names, names that are not UTF-8, a reader that closes the pipe, a main thread that exits, and
//! write grants hidden in ACLs.

mod common;
use common::*;

/// Bytes that would act on a terminal: C0 controls other than the line feeds the report itself
/// writes, DEL, and C1 controls and bidi overrides (as UTF-8).
fn terminal_controls(out: &str) -> Vec<String> {
    out.chars()
        .filter(|c| {
            (c.is_control() && *c != '\n')
                || matches!(c, '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}')
        })
        .map(|c| format!("U+{:04X}", c as u32))
        .collect()
}

/// A file name and a process name (the executable's name, which becomes its `comm`) carrying escape
/// sequences, a line feed and a bidi override reach the human report only escaped: the screen is not
/// cleared, no line is forged, nothing is hidden.
#[test]
fn human_report_escapes_hostile_names() {
    let dir = open_tempdir();
    // comm keeps 15 bytes: ESC [ 2 J ESC [ 8 m (screen clear, hidden text) and a bidi override.
    let evil = named_sleep(dir.path(), "\x1b[2J\x1b[8m\u{202E}x");
    let name = "a\x1b[2J\x1b[H\nFORGED.pid: running, PID 1 (init)\n.pid";
    let pidfile = dir.path().join(name);
    write_pidfile(&pidfile, &format!("{}\n", evil.pid));
    let stale = dir.path().join("b\u{9b}2J\u{202E}.pid");
    write_pidfile(&stale, &format!("{}\n", dead_pid()));
    for verbose in [false, true] {
        let mut args = vec![
            "--color",
            "never",
            pidfile.to_str().unwrap(),
            stale.to_str().unwrap(),
        ];
        if verbose {
            args.push("--verbose");
        }
        let r = run(&args);
        assert!(r.code == 0 || r.code == 1, "exit {}: {}", r.code, r.stderr);
        assert_eq!(
            terminal_controls(&r.stdout),
            Vec::<String>::new(),
            "{}",
            r.stdout
        );
        assert!(
            !r.stdout.lines().any(|l| l.starts_with("FORGED")),
            "a file name forged a report line:\n{}",
            r.stdout
        );
        assert!(
            r.stdout.contains("\\x1b[2J\\x1b[8m\\xe2\\x80\\xaex"),
            "{}",
            r.stdout
        );
        assert!(r.stdout.contains("\\x0aFORGED.pid"), "{}", r.stdout);
        assert!(
            r.stdout.contains("b\\xc2\\x9b2J\\xe2\\x80\\xae.pid"),
            "{}",
            r.stdout
        );
    }
    // The other formats for people and monitors carry no terminal controls either.
    for format in ["nagios", "junit"] {
        let r = run(&[
            "--format",
            format,
            pidfile.to_str().unwrap(),
            stale.to_str().unwrap(),
        ]);
        let body = r.stdout.replace(['\r', '\t'], " ");
        assert_eq!(
            terminal_controls(&body),
            Vec::<String>::new(),
            "{format}: {}",
            r.stdout
        );
    }
}
