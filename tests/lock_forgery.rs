//! Locks an unprivileged user can take prove nothing. Any user who can open a pidfile read-only
//! can hold a read lock on it, or an exclusive flock through the read-only descriptor: such a lock
//! must never turn `pid-reused` into `running`, name its holder as the real instance, hide
//! `unlocked`, or look like a replaced pidfile's daemon. Each test is the attack, run as uid 65534
//! against a root-owned pidfile.

mod common;
use common::*;
use serde_json::Value;
use std::path::Path;

const AS_NOBODY: &[&str] = &[
    "setpriv",
    "--reuid=65534",
    "--regid=65534",
    "--clear-groups",
];

/// The attacker: a process of uid 65534 holding `lock` on `pf` through a read-only descriptor.
fn intruder(pf: &Path, lock: &str) -> Testd {
    let mut wrapper = AS_NOBODY.to_vec();
    wrapper.push(system_python());
    testd_ids_as(
        &wrapper,
        &[
            "--pidfile",
            pf.to_str().unwrap(),
            "--readonly",
            "--lock",
            lock,
            "--name",
            "intruder",
        ],
    )
}

/// The entry's finding codes, sorted.
fn sorted_codes(e: &Value) -> Vec<String> {
    let mut c = codes(e);
    c.sort();
    c
}

fn audit(paths: &[&Path], extra: &[&str]) -> Value {
    let mut args = vec!["--format", "json"];
    args.extend_from_slice(extra);
    let mut cmd = pidaudit();
    cmd.args(&args).args(paths);
    let r = run_cmd(&mut cmd);
    assert!(r.code == 0 || r.code == 1, "{} {}", r.stdout, r.stderr);
    r.json()
}

/// Seconds since boot, to age files without moving them before the boot.
fn uptime() -> u64 {
    let text = std::fs::read_to_string("/proc/uptime").unwrap();
    text.split('.').next().unwrap().parse().unwrap()
}

/// A pidfile naming the intruder itself, written long before the intruder started (its PID was
/// reused): the intruder's read lock, or its exclusive flock through a read-only descriptor, does
/// not make it the writer. `reused` with `pid-reused`, and the lock reported as evidence.
#[test]
fn a_readers_lock_does_not_outweigh_pid_reuse() {
    for (lock, reason) in [
        ("flock-shared", "read_lock"),
        ("flock", "read_only_descriptor"),
    ] {
        let dir = open_tempdir();
        let pf = dir.path().join("svc.pid");
        write_pidfile(&pf, "1\n");
        let intr = intruder(&pf, lock);
        write_pidfile(&pf, &format!("{}\n", intr.pid));
        std::thread::sleep(std::time::Duration::from_millis(50));
        age(&pf, 60.min(uptime() / 2).max(5));
        let doc = audit(&[&pf], &["--ignore", "name-mismatch,unlocked"]);
        let e = pidfile(&doc, &pf);
        assert_eq!(e["state"], "reused", "{lock}: {e:#}");
        assert_eq!(
            sorted_codes(e),
            vec!["lock-foreign-holder", "pid-reused"],
            "{lock}: {e:#}"
        );
        let f = finding(e, "lock-foreign-holder");
        assert_eq!(f["evidence"]["holder_pid"], intr.pid, "{lock}");
        assert_eq!(f["evidence"]["reason"], reason, "{lock}");
        assert_eq!(f["evidence"]["holder_uid"], 65534, "{lock}");
    }
}

/// A stale pidfile that an unrelated user locks read-only: the lock does not name its holder as
/// the "likely real instance", and no orphaned instance is found through it.
#[test]
fn a_readers_lock_names_no_instance() {
    let dir = open_tempdir();
    let pf = dir.path().join("svc.pid");
    write_pidfile(&pf, &format!("{}\n", dead_pid()));
    let intr = intruder(&pf, "flock");
    let doc = audit(&[&pf], &[]);
    let e = pidfile(&doc, &pf);
    assert_eq!(e["state"], "stale", "{e:#}");
    assert_eq!(
        sorted_codes(e),
        vec!["lock-foreign-holder", "stale"],
        "{e:#}"
    );
    assert!(
        !doc.to_string().contains("likely_instance"),
        "the intruder is named an instance: {doc:#}"
    );
    assert_eq!(
        finding(e, "lock-foreign-holder")["evidence"]["holder_pid"],
        intr.pid
    );
}

/// A running daemon that does not lock its pidfile stays `unlocked` when another user holds a read
/// lock on it; a manifest that requires the lock still fails.
#[test]
fn a_readers_lock_does_not_hide_unlocked() {
    let dir = open_tempdir();
    let pf = dir.path().join("forgeryd.pid");
    let d = testd_ids(&["--pidfile", pf.to_str().unwrap(), "--name", "forgeryd"]);
    let _intr = intruder(&pf, "flock-shared");
    let doc = audit(&[&pf], &[]);
    let e = pidfile(&doc, &pf);
    assert_eq!(e["state"], "running", "{e:#}");
    assert_eq!(
        sorted_codes(e),
        vec!["lock-foreign-holder", "unlocked"],
        "{e:#}"
    );
    assert_eq!(finding(e, "unlocked")["evidence"]["pid"], d.pid);

    let manifest = dir.path().join("expect.toml");
    std::fs::write(
        &manifest,
        format!(
            "[[service]]\nname = \"forgeryd\"\npidfile = \"{}\"\nlock = \"required\"\n",
            pf.display()
        ),
    )
    .unwrap();
    let mut cmd = pidaudit();
    cmd.args(["--format", "json", "--expect", manifest.to_str().unwrap()]);
    let r = run_cmd(&mut cmd);
    assert_eq!(r.code, 1, "a required lock is missing: {}", r.stdout);
    let doc = r.json();
    assert_eq!(finding(pidfile(&doc, &pf), "unlocked")["severity"], "error");
}

/// The daemon's own exclusive lock through its read-write descriptor still outweighs a start time
/// later than the file's mtime (the control for the attacks above).
#[test]
fn the_daemons_own_write_lock_still_counts() {
    let dir = open_tempdir();
    let pf = dir.path().join("svc.pid");
    let d = testd_ids(&[
        "--pidfile",
        pf.to_str().unwrap(),
        "--name",
        "svc",
        "--lock",
        "flock",
    ]);
    age(&pf, 60.min(uptime() / 2).max(5));
    let doc = audit(&[&pf], &[]);
    let e = pidfile(&doc, &pf);
    assert_eq!(e["state"], "running", "{e:#}");
    assert_eq!(codes(e), Vec::<String>::new(), "{e:#}");
    assert_eq!(e["lock"]["holders"][0]["pid"], d.pid);
}

/// A reader that locks a pidfile and keeps it open while the daemon rewrites the file by replacing
/// it is not "the daemon still holding the replaced file's lock".
#[test]
fn a_readers_lock_on_a_replaced_file_is_not_the_daemons() {
    let dir = open_tempdir();
    let pf = dir.path().join("forgeryr.pid");
    let d = testd_ids(&[
        "--pidfile",
        pf.to_str().unwrap(),
        "--name",
        "forgeryr",
        "--lock",
        "lockf",
    ]);
    let intr = intruder(&pf, "flock-shared");
    std::fs::remove_file(&pf).unwrap();
    write_pidfile(&pf, &format!("{}\n", d.pid));
    let doc = audit(&[dir.path()], &[]);
    let e = pidfile(&doc, &pf);
    let holders: Vec<&Value> = e["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["code"] == "replaced-while-locked")
        .map(|f| &f["evidence"]["holder_pid"])
        .collect();
    // The daemon's own write lock on the replaced file is found (the control); the reader is not.
    assert_eq!(
        holders,
        vec![&Value::from(d.pid)],
        "reader {}: {e:#}",
        intr.pid
    );
}
