//! Locks an unprivileged user can take prove nothing. Any user who can open a pidfile read-only
//! can hold a read lock on it, or an exclusive flock through the read-only descriptor: such a lock
//! must never turn `pid-reused` into `running`, name its holder as the real instance, hide
//! `unlocked`, or look like a replaced pidfile's daemon. Each test is the attack, run as uid 65534
//! against a root-owned pidfile.

mod common;
use common::*;
use serde_json::Value;
use std::path::Path;

/// The attacker: a process of uid 65534 holding `lock` on `pf` through a read-only descriptor.
fn intruder(pf: &Path, lock: Lock) -> RunningTestd {
    Testd::new(pf)
        .readonly()
        .lock(lock)
        .name("intruder")
        .unprivileged()
        .start()
}

/// The entry's finding codes, sorted.
fn sorted_codes(e: &Value) -> Vec<String> {
    let mut c = codes(e);
    c.sort();
    c
}

/// A pidfile naming the intruder itself, written long before the intruder started (its PID was
/// reused): the intruder's read lock, or its exclusive flock through a read-only descriptor, does
/// not make it the writer. `reused` with `pid-reused`, and the lock reported as evidence.
#[test]
fn a_readers_lock_does_not_outweigh_pid_reuse() {
    for (lock, reason) in [
        (Lock::FlockShared, "read_lock"),
        (Lock::Flock, "read_only_descriptor"),
    ] {
        let dir = open_tempdir();
        let (_, pf) = unique_pidfile(dir.path(), "svc");
        write_pid(&pf, 1);
        let intr = intruder(&pf, lock);
        write_pid(&pf, intr.pid);
        std::thread::sleep(std::time::Duration::from_millis(50));
        age(&pf, 60);
        let e = audit_one(&pf, &["--ignore", "name-mismatch,unlocked"]);
        assert_eq!(e["state"], "reused", "{lock:?}: {e:#}");
        assert_eq!(
            sorted_codes(&e),
            vec!["lock-foreign-holder", "pid-reused"],
            "{lock:?}: {e:#}"
        );
        let f = finding(&e, "lock-foreign-holder");
        assert_eq!(f["evidence"]["holder_pid"], intr.pid, "{lock:?}");
        assert_eq!(f["evidence"]["reason"], reason, "{lock:?}");
        assert_eq!(f["evidence"]["holder_uid"], NOBODY, "{lock:?}");
    }
}

/// A stale pidfile that an unrelated user locks read-only: the lock does not name its holder as
/// the "likely real instance", and no orphaned instance is found through it.
#[test]
fn a_readers_lock_names_no_instance() {
    let dir = open_tempdir();
    let (_, pf) = unique_pidfile(dir.path(), "svc");
    write_pid(&pf, dead_pid());
    let intr = intruder(&pf, Lock::Flock);
    let doc = audit_path(&pf, &[]).1;
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
    let (name, pf) = unique_pidfile(dir.path(), "frgd");
    let d = Testd::new(&pf).name(&name).start();
    let _intr = intruder(&pf, Lock::FlockShared);
    let e = audit_one(&pf, &[]);
    assert_eq!(e["state"], "running", "{e:#}");
    assert_eq!(
        sorted_codes(&e),
        vec!["lock-foreign-holder", "unlocked"],
        "{e:#}"
    );
    assert_eq!(finding(&e, "unlocked")["evidence"]["pid"], d.pid);

    let manifest = dir.path().join("expect.toml");
    std::fs::write(
        &manifest,
        format!(
            "[[service]]\nname = \"{name}\"\npidfile = \"{}\"\nlock = \"required\"\n",
            pf.display()
        ),
    )
    .unwrap();
    let (code, doc) = audit(&["--expect", manifest.to_str().unwrap()]);
    assert_eq!(code, 1, "a required lock is missing: {doc:#}");
    assert_eq!(finding(pidfile(&doc, &pf), "unlocked")["severity"], "error");
}

/// The daemon's own exclusive lock through its read-write descriptor still outweighs a start time
/// later than the file's mtime (the control for the attacks above).
#[test]
fn the_daemons_own_write_lock_still_counts() {
    let dir = open_tempdir();
    let (name, pf) = unique_pidfile(dir.path(), "svc");
    let d = Testd::new(&pf).name(&name).lock(Lock::Flock).start();
    age(&pf, 60);
    let e = audit_one(&pf, &[]);
    assert_eq!(e["state"], "running", "{e:#}");
    assert_eq!(codes(&e), Vec::<String>::new(), "{e:#}");
    assert_eq!(e["lock"]["holders"][0]["pid"], d.pid);
}

/// A reader that locks a pidfile and keeps it open while the daemon rewrites the file by replacing
/// it is not "the daemon still holding the replaced file's lock".
#[test]
fn a_readers_lock_on_a_replaced_file_is_not_the_daemons() {
    let dir = open_tempdir();
    let (name, pf) = unique_pidfile(dir.path(), "frgr");
    let d = Testd::new(&pf).name(&name).lock(Lock::Lockf).start();
    let intr = intruder(&pf, Lock::FlockShared);
    std::fs::remove_file(&pf).unwrap();
    write_pid(&pf, d.pid);
    let doc = audit_path(dir.path(), &[]).1;
    let e = pidfile(&doc, &pf);
    let holders: Vec<&Value> = findings_with(e, "replaced-while-locked")
        .into_iter()
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

/// A refused second start that truncates before it locks empties the live daemon's pidfile: the
/// daemon still holds the file's write lock, so it is named as the likely instance and the file is
/// not to be removed (it was `empty` with the advice to remove it).
#[test]
fn an_emptied_pidfile_names_the_daemon_that_holds_its_lock() {
    let dir = open_tempdir();
    let (name, pf) = unique_pidfile(dir.path(), "emp");
    let d = Testd::new(&pf).name(&name).lock(Lock::Flock).start();
    // The second start: open with O_TRUNC, fail to lock, exit.
    std::fs::OpenOptions::new()
        .write(true)
        .truncate(true)
        .open(&pf)
        .unwrap();
    age(&pf, 60);
    let doc = audit_path(&pf, &[]).1;
    let e = pidfile(&doc, &pf);
    assert_eq!(e["state"], "invalid", "{e:#}");
    assert_eq!(
        sorted_codes(e),
        vec!["empty", "lock-holder-mismatch"],
        "{e:#}"
    );
    let f = finding(e, "lock-holder-mismatch");
    assert_eq!(f["evidence"]["likely_instance"], d.pid, "{f:#}");
    let empty = finding(e, "empty");
    assert!(
        empty["message"].as_str().unwrap().contains("do not remove"),
        "{empty:#}"
    );
    assert_eq!(empty["evidence"]["lock_holders"][0]["pid"], d.pid);
}
