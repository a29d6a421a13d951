//! Liveness against real processes: healthy, stale, zombie, reused, previous boot.

mod common;
use common::*;

/// A live daemon named by its own pidfile is `running` with no finding but `unlocked` (info).
#[test]
fn healthy_daemon_is_running() {
    let dir = tempfile::tempdir().unwrap();
    let d = named_sleep(dir.path(), "healthyd");
    let pf = dir.path().join("healthyd.pid");
    write_pidfile(&pf, &format!("{}\n", d.pid));
    let r = run(&["--format", "json", pf.to_str().unwrap()]);
    assert_eq!(r.code, 0, "{}", r.stdout);
    let e = pidfile(&r.json(), &pf).clone();
    assert_eq!(e["state"], "running");
    assert_eq!(e["pid"], d.pid);
    assert_eq!(e["process"]["comm"], "healthyd");
    // Its only finding is informational: it does not lock its pidfile.
    assert_eq!(codes(&e), vec!["unlocked"], "{e:#}");
}

/// A daemon that was killed and reaped leaves a `stale` file (warning: exit 0 at the default threshold).
#[test]
fn killed_daemon_leaves_stale_file() {
    let dir = tempfile::tempdir().unwrap();
    let mut d = named_sleep(dir.path(), "killedd");
    let pf = dir.path().join("killedd.pid");
    write_pidfile(&pf, &format!("{}\n", d.pid));
    d.kill();
    let r = run(&["--format", "json", pf.to_str().unwrap()]);
    assert_eq!(r.code, 0);
    let e = pidfile(&r.json(), &pf).clone();
    assert_eq!(e["state"], "stale");
    assert_eq!(codes(&e), vec!["stale"]);
    let r = run(&["--fail-on", "warning", pf.to_str().unwrap()]);
    assert_eq!(r.code, 1, "--fail-on warning fails on a stale file");
}

/// A zombie is `zombie` (error), and the evidence names the parent that does not reap it.
#[test]
fn zombie_names_its_parent() {
    let dir = tempfile::tempdir().unwrap();
    let (parent, zpid) = zombie();
    let pf = dir.path().join("zombied.pid");
    write_pidfile(&pf, &format!("{zpid}\n"));
    let r = run(&["--format", "json", pf.to_str().unwrap()]);
    assert_eq!(r.code, 1);
    let e = pidfile(&r.json(), &pf).clone();
    assert_eq!(e["state"], "zombie");
    let f = &e["findings"][0];
    assert_eq!(f["code"], "zombie");
    assert_eq!(f["evidence"]["parent_pid"], parent.pid);
    assert_eq!(f["evidence"]["parent_comm"], "sleep");
}

/// A live process younger than the file's last write is not its writer: `pid-reused`.
#[test]
fn younger_process_is_reused_pid() {
    let dir = tempfile::tempdir().unwrap();
    let d = named_sleep(dir.path(), "reusedd");
    let pf = dir.path().join("reusedd.pid");
    write_pidfile(&pf, &format!("{}\n", d.pid));
    age(&pf, 60);
    let r = run(&["--format", "json", pf.to_str().unwrap()]);
    assert_eq!(r.code, 1);
    let e = pidfile(&r.json(), &pf).clone();
    assert_eq!(e["state"], "reused");
    assert_eq!(codes(&e), vec!["pid-reused"]);
    // Written just now, the same process is the writer.
    write_pidfile(&pf, &format!("{}\n", d.pid));
    let e = pidfile(
        &run(&["--format", "json", pf.to_str().unwrap()]).json(),
        &pf,
    )
    .clone();
    assert_eq!(e["state"], "running");
}

/// A file written before the current boot is `previous-boot`; its dead PID is also stale.
#[test]
fn file_from_before_boot() {
    let dir = tempfile::tempdir().unwrap();
    let pf = dir.path().join("old.pid");
    write_pidfile(&pf, &format!("{}\n", dead_pid()));
    let uptime: f64 = std::fs::read_to_string("/proc/uptime")
        .unwrap()
        .split_whitespace()
        .next()
        .unwrap()
        .parse()
        .unwrap();
    age(&pf, uptime as u64 + 3600);
    let e = pidfile(
        &run(&["--format", "json", pf.to_str().unwrap()]).json(),
        &pf,
    )
    .clone();
    assert_eq!(e["state"], "stale");
    assert_eq!(codes(&e), vec!["previous-boot", "stale"]);
}
