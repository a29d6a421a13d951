//! What the audit reads about processes and lock holders, proven with strace: process details are
//! read by group, only where a check or the report needs them, through one verified `/proc/PID`
//! descriptor; a POSIX lock's holder needs no fdinfo, an flock's does.

mod common;
use common::*;
use serde_json::json;
use std::path::Path;

/// Runs pidaudit under strace (opens, links, stats) and returns its output and the trace.
fn traced(dir: &Path, args: &[&str]) -> (Run, String) {
    let trace = dir.join("trace");
    let r = run_cmd(
        strace(&trace, "openat,readlinkat,newfstatat,statx")
            .arg(BIN)
            .args(args),
    );
    assert!(r.code == 0 || r.code == 1, "{}{}", r.stdout, r.stderr);
    (r, std::fs::read_to_string(&trace).unwrap())
}

/// Trace lines that open `name` relative to a directory descriptor (`openat(N, "name", ...`).
fn opens_of(log: &str, name: &str) -> usize {
    let needle = format!(", \"{name}\", ");
    log.lines()
        .filter(|l| l.contains("openat(") && l.contains(&needle))
        .count()
}

/// A Nagios or JSON audit of a daemon whose comm no other process has reads only its executable's
/// link (the deleted-executable check; one `readlinkat`, `/proc/PID` is not opened): neither status
/// nor cmdline, and JSON shows `cmdline` and `uid` as null. With `--verbose` all three groups are
/// read, through `/proc/PID` opened (and its start time checked) once, and shown.
#[test]
fn details_are_read_only_where_needed() {
    let dir = open_tempdir();
    let (name, pf) = unique_pidfile(dir.path(), "dtl");
    let d = named_sleep(dir.path(), &name);
    write_pid(&pf, d.pid);
    let p = pf.to_str().unwrap();
    let pid_dir = d.pid.to_string();
    let exe_link = format!("\"{}/exe\"", d.pid);

    let (r, log) = traced(dir.path(), &["--format", "nagios", p]);
    assert!(r.stdout.starts_with("PIDAUDIT"), "{}", r.stdout);
    assert_eq!(opens_of(&log, "status"), 0, "{log}");
    assert_eq!(opens_of(&log, "cmdline"), 0, "{log}");
    assert_eq!(opens_of(&log, &pid_dir), 0, "{log}");
    assert!(
        log.contains("readlinkat(") && log.contains(&exe_link),
        "{log}"
    );

    let (r, log) = traced(dir.path(), &["--format", "json", p]);
    let doc = r.json();
    let e = pidfile(&doc, &pf);
    assert_eq!(e["state"], "running", "{e:#}");
    assert_eq!(
        e["process"]["exe"],
        dir.path().join(&name).to_str().unwrap()
    );
    assert!(e["process"]["cmdline"].is_null(), "{e:#}");
    assert!(e["process"]["uid"].is_null(), "{e:#}");
    assert_eq!(opens_of(&log, "status"), 0, "{log}");
    assert_eq!(opens_of(&log, "cmdline"), 0, "{log}");
    assert_eq!(opens_of(&log, &pid_dir), 0, "{log}");

    let (r, log) = traced(dir.path(), &["--format", "json", "--verbose", p]);
    let doc = r.json();
    let e = pidfile(&doc, &pf);
    assert_eq!(
        e["process"]["cmdline"],
        json!([dir.path().join(&name), "1000"])
    );
    assert_eq!(
        e["process"]["exe"],
        dir.path().join(&name).to_str().unwrap()
    );
    assert_eq!(e["process"]["uid"], 0);
    assert_eq!(opens_of(&log, "status"), 1, "{log}");
    assert_eq!(opens_of(&log, "cmdline"), 1, "{log}");
    assert_eq!(opens_of(&log, &pid_dir), 1, "{log}");
}

/// The recorded daemon named by /proc/locks as a POSIX lock's owner is its holder without any of
/// its descriptors being read (`fd` null); with `--verbose` its descriptor of the file is found
/// without reading any fdinfo. An flock's or OFD lock's holder is confirmed by the fdinfo of that
/// one descriptor, verbose or not.
#[test]
fn fdinfo_is_read_only_for_locks_that_need_it() {
    for (lock, verbose, fd_shown, fd_dirs, fdinfo_reads) in [
        (Lock::Lockf, false, false, 0, 0),
        (Lock::Lockf, true, true, 1, 0),
        (Lock::Flock, false, true, 1, 1),
        (Lock::Ofd, false, true, 1, 1),
        (Lock::Ofd, true, true, 1, 1),
    ] {
        let dir = open_tempdir();
        let (name, pf) = unique_pidfile(dir.path(), "testd");
        let d = Testd::new(&pf).name(&name).lock(lock).start();
        let mut args = vec!["--format", "json", pf.to_str().unwrap()];
        if verbose {
            args.push("--verbose");
        }
        let (r, log) = traced(dir.path(), &args);
        let doc = r.json();
        let e = pidfile(&doc, &pf);
        let fd = if fd_shown {
            json!(d.id("fd"))
        } else {
            json!(null)
        };
        assert_eq!(
            e["lock"]["holders"],
            json!([{"pid": d.pid, "comm": name, "fd": fd}]),
            "{lock:?} {verbose}: {e:#}"
        );
        let fdinfo = log
            .lines()
            .filter(|l| l.contains("openat(") && l.contains("/fdinfo/"))
            .count();
        assert_eq!(fdinfo, fdinfo_reads, "{lock:?} {verbose}: {log}");
        assert_eq!(
            opens_of(&log, &format!("{}/fd", d.pid)),
            fd_dirs,
            "{lock:?} {verbose}: {log}"
        );
    }
}

/// Two daemons of the same comm, each tracked by its own pidfile, are told apart without reading
/// their status or cmdline (no untracked process shares the comm, neither parent does); a third,
/// untracked copy makes the audit compare identities and report it as a duplicate.
#[test]
fn identities_are_read_only_when_a_process_could_be_a_duplicate() {
    let dir = open_tempdir();
    let name = unique_name("idt");
    let a = named_sleep(dir.path(), &name);
    let b = named_sleep(dir.path(), &name);
    let pa = dir.path().join(format!("{name}-a.pid"));
    let pb = dir.path().join(format!("{name}-b.pid"));
    write_pid(&pa, a.pid);
    write_pid(&pb, b.pid);
    let args = [
        "--format",
        "json",
        pa.to_str().unwrap(),
        pb.to_str().unwrap(),
    ];

    let (r, log) = traced(dir.path(), &args);
    let doc = r.json();
    for pf in [&pa, &pb] {
        let e = pidfile(&doc, pf);
        assert_eq!(e["state"], "running", "{e:#}");
        assert!(
            !e["findings"].to_string().contains("duplicate-instance"),
            "{e:#}"
        );
    }
    assert_eq!(opens_of(&log, "status"), 0, "{log}");
    assert_eq!(opens_of(&log, "cmdline"), 0, "{log}");

    let c = named_sleep(dir.path(), &name);
    let (r, log) = traced(dir.path(), &args);
    let doc = r.json();
    let e = pidfile(&doc, &pa);
    let dup = findings_with(e, "duplicate-instance");
    assert_eq!(dup.len(), 1, "{e:#}");
    assert!(dup[0].to_string().contains(&c.pid.to_string()), "{e:#}");
    assert!(opens_of(&log, "cmdline") >= 3, "{log}");
}

/// A dead PID is found absent with one `pidfd_open` (ESRCH), without reading `/proc` for it.
#[test]
fn dead_pids_are_not_looked_up_in_proc() {
    let dir = open_tempdir();
    let pid = dead_pid();
    let pf = dir.path().join("gone.pid");
    write_pid(&pf, pid);
    let (r, log) = traced(dir.path(), &["--format", "json", pf.to_str().unwrap()]);
    let doc = r.json();
    assert_eq!(pidfile(&doc, &pf)["state"], "stale");
    let status = format!("\"{pid}/status\"");
    let stat = format!("\"{pid}/stat\"");
    assert!(
        !log.lines()
            .any(|l| l.contains("openat(") && (l.contains(&status) || l.contains(&stat))),
        "{log}"
    );
}
