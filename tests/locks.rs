//! Locks against real processes holding real locks: who holds each pidfile's lock, and the findings.

mod common;
use common::*;
use serde_json::{json, Value};
use std::process::{Command, Stdio};

/// Instance checks are left out: they have their own tests (tests/instances.rs), and a lock's
/// holder found beside a stale or missing file would add `orphaned-instance` here.
const NO_INSTANCES: &[&str] = &[
    "--ignore",
    "orphaned-instance,orphaned-worker,duplicate-instance",
];

fn is_root() -> bool {
    rustix::process::geteuid().is_root()
}

/// A daemon holding a lockf, flock or OFD lock on its own pidfile is clean, and the lock object names
/// it as the holder through the descriptor it locked (for the POSIX lock, with `--verbose`).
#[test]
fn lock_held_by_recorded_daemon_is_clean() {
    for (lock, kind) in [
        (Lock::Lockf, "posix"),
        (Lock::Flock, "flock"),
        (Lock::Ofd, "ofd"),
    ] {
        let dir = tempfile::tempdir().unwrap();
        let (name, pf) = unique_pidfile(dir.path(), "testd");
        let d = Testd::new(&pf).name(&name).lock(lock).start();
        let e = audit_one(&pf, NO_INSTANCES);
        assert_eq!(e["state"], "running", "{lock:?}: {e:#}");
        assert_eq!(codes(&e), Vec::<String>::new(), "{lock:?}: {e:#}");
        // A POSIX lock's owner is known from /proc/locks: its descriptor is looked up only for
        // `--verbose`.
        let fd = if lock == Lock::Lockf {
            Value::Null
        } else {
            json!(d.id("fd"))
        };
        let expected = |fd: Value| {
            json!({
                "locked": true,
                "kind": kind,
                "mode": "write",
                "holders": [{"pid": d.pid, "comm": name, "fd": fd}],
                "reported_pid": null,
                "waiters": [],
            })
        };
        assert_eq!(e["lock"], expected(fd), "{lock:?}");
        let verbose = [NO_INSTANCES, &["--verbose"]].concat();
        let e = audit_one(&pf, &verbose);
        assert_eq!(e["lock"], expected(json!(d.id("fd"))), "{lock:?}");
    }
}

/// A live daemon whose pidfile nobody locks is `unlocked` (info), and its lock object says so.
#[test]
fn unlocked_live_daemon() {
    let dir = tempfile::tempdir().unwrap();
    let (name, pf) = unique_pidfile(dir.path(), "testd");
    let d = Testd::new(&pf).name(&name).start();
    let e = audit_one(&pf, NO_INSTANCES);
    assert_eq!(codes(&e), vec!["unlocked"]);
    let f = finding(&e, "unlocked");
    assert_eq!(f["severity"], "info");
    assert_eq!(f["evidence"], json!({"pid": d.pid, "comm": name}));
    assert_eq!(e["lock"]["locked"], false);
    assert_eq!(e["lock"]["holders"], json!([]));
    // The default threshold does not fail on it.
    assert_eq!(run(&[pf.to_str().unwrap()]).code, 0);
}

/// A POSIX lock taken before fork is not inherited: once the parent that took it exits, the child
/// that wrote its PID runs unprotected (`unlocked`).
#[test]
fn posix_lock_taken_before_fork_dies_with_its_parent() {
    let dir = tempfile::tempdir().unwrap();
    let (name, pf) = unique_pidfile(dir.path(), "testd");
    let d = Testd::new(&pf)
        .name(&name)
        .lock(Lock::Lockf)
        .fork(Fork::AfterLockExit)
        .start();
    let e = audit_one(&pf, NO_INSTANCES);
    assert_eq!(e["pid"], d.pid);
    assert_eq!(codes(&e), vec!["unlocked"], "{e:#}");
    assert_eq!(e["lock"]["locked"], false);
}

/// A POSIX lock taken before fork stays with the parent while it lives: `lock-holder-mismatch` names
/// the parent, its descriptor, and the relation.
#[test]
fn posix_lock_held_by_parent_of_recorded_pid() {
    let dir = tempfile::tempdir().unwrap();
    let (name, pf) = unique_pidfile(dir.path(), "testd");
    let d = Testd::new(&pf)
        .name(&name)
        .lock(Lock::Lockf)
        .fork(Fork::AfterLockStay)
        .start();
    let parent = d.id("parent");
    let e = audit_one(&pf, NO_INSTANCES);
    assert_eq!(e["state"], "running");
    assert_eq!(codes(&e), vec!["lock-holder-mismatch"], "{e:#}");
    let f = finding(&e, "lock-holder-mismatch");
    assert_eq!(f["severity"], "error");
    let ev = &f["evidence"];
    assert_eq!(ev["pid"], d.pid);
    assert_eq!(ev["recorded_alive"], true);
    assert_eq!(ev["holder_pid"], parent);
    assert_eq!(ev["holder_fd"], d.id("fd"));
    assert_eq!(ev["relation"], "parent");
    assert_eq!(ev["kind"], "posix");
    assert!(ev.get("likely_instance").is_none());
    assert_eq!(
        e["lock"]["holders"],
        json!([{"pid": parent, "comm": name, "fd": d.id("fd")}])
    );
    assert_eq!(e["lock"]["reported_pid"], Value::Null);
}

/// A child of the recorded daemon that opened and locked the file itself: mismatch, relation `child`.
#[test]
fn lock_held_by_child_of_recorded_pid() {
    let dir = tempfile::tempdir().unwrap();
    let (name, pf) = unique_pidfile(dir.path(), "testd");
    let d = Testd::new(&pf)
        .name(&name)
        .lock(Lock::Flock)
        .fork(Fork::ChildLocks)
        .start();
    let e = audit_one(&pf, NO_INSTANCES);
    assert_eq!(codes(&e), vec!["lock-holder-mismatch"], "{e:#}");
    let ev = &finding(&e, "lock-holder-mismatch")["evidence"];
    assert_eq!(ev["pid"], d.pid);
    assert_eq!(ev["holder_pid"], d.id("child"));
    assert_eq!(ev["holder_fd"], d.id("fd"));
    assert_eq!(ev["relation"], "child");
    assert_eq!(ev["kind"], "flock");
}

/// An unrelated process of a user who could write the file, locking a live daemon's pidfile through
/// a read-write descriptor: mismatch, relation `unrelated`.
#[test]
fn lock_held_by_unrelated_process() {
    let dir = tempfile::tempdir().unwrap();
    let (name, pf) = unique_pidfile(dir.path(), "testd");
    let d = Testd::new(&pf).name(&name).start();
    let other = Testd::new(&pf)
        .no_pidfile_write()
        .lock(Lock::Flock)
        .name("locker")
        .start();
    let e = audit_one(&pf, NO_INSTANCES);
    assert_eq!(codes(&e), vec!["lock-holder-mismatch"], "{e:#}");
    let ev = &finding(&e, "lock-holder-mismatch")["evidence"];
    assert_eq!(ev["pid"], d.pid);
    assert_eq!(ev["holder_pid"], other.pid);
    assert_eq!(ev["holder_comm"], "locker");
    assert_eq!(ev["holder_fd"], other.id("fd"));
    assert_eq!(ev["relation"], "unrelated");
}

/// An flock taken before fork survives its acquirer: the child that wrote its PID holds it, and
/// `inherited-lock` says so while /proc/locks still names the dead acquirer.
#[test]
fn flock_inherited_across_fork() {
    let dir = tempfile::tempdir().unwrap();
    let (name, pf) = unique_pidfile(dir.path(), "testd");
    let d = Testd::new(&pf)
        .name(&name)
        .lock(Lock::Flock)
        .fork(Fork::AfterLockExit)
        .start();
    let acquirer = d.id("parent");
    let e = audit_one(&pf, NO_INSTANCES);
    assert_eq!(e["state"], "running");
    assert_eq!(codes(&e), vec!["inherited-lock"], "{e:#}");
    let f = finding(&e, "inherited-lock");
    assert_eq!(f["severity"], "info");
    assert_eq!(
        f["evidence"],
        json!({
            "acquirer_pid": acquirer,
            "acquirer_alive": false,
            "kind": "flock",
            "mode": "write",
            "holders": [{"pid": d.pid, "comm": name, "fd": d.id("fd")}],
        })
    );
    assert_eq!(
        e["lock"]["holders"],
        json!([{"pid": d.pid, "comm": name, "fd": d.id("fd")}])
    );
    assert_eq!(e["lock"]["reported_pid"], acquirer);
}

/// A session leader that wrote its own PID, locked, forked and exited: the file is `stale`, but the
/// child found through the dead leader's session holds the lock and is named the likely real instance.
#[test]
fn stale_pid_with_live_lock_holder() {
    let dir = tempfile::tempdir().unwrap();
    let (name, pf) = unique_pidfile(dir.path(), "testd");
    let d = Testd::new(&pf)
        .name(&name)
        .lock(Lock::Flock)
        .setsid()
        .parent_writes()
        .fork(Fork::AfterLockExit)
        .start();
    let dead = d.id("parent");
    let e = audit_one(&pf, NO_INSTANCES);
    assert_eq!(e["state"], "stale");
    assert_eq!(e["pid"], dead);
    assert_eq!(
        codes(&e),
        vec!["stale", "lock-holder-mismatch", "inherited-lock"],
        "{e:#}"
    );
    let holder = json!([{"pid": d.pid, "comm": name, "fd": d.id("fd")}]);
    let m = &finding(&e, "lock-holder-mismatch")["evidence"];
    assert_eq!(m["pid"], dead);
    assert_eq!(m["recorded_alive"], false);
    assert_eq!(m["holder_pid"], d.pid);
    assert_eq!(m["likely_instance"], d.pid);
    assert!(m.get("relation").is_none());
    assert_eq!(finding(&e, "stale")["evidence"]["lock_holders"], holder);
    assert_eq!(
        finding(&e, "inherited-lock")["evidence"]["acquirer_pid"],
        dead
    );
    assert_eq!(e["lock"]["holders"], holder);
    assert_eq!(e["lock"]["reported_pid"], dead);
}

/// A second start that deletes the pidfile and writes its own while the first instance keeps its
/// lock: `replaced-while-locked` names the first instance, its descriptor and what the path holds
/// now; the first instance, whose command line names the pidfile, is also a `duplicate-instance`.
#[test]
fn pidfile_replaced_while_locked() {
    let dir = tempfile::tempdir().unwrap();
    let (name, pf) = unique_pidfile(dir.path(), "testd");
    let first = Testd::new(&pf).name(&name).lock(Lock::Flock).start();
    let old_ino = std::os::unix::fs::MetadataExt::ino(&std::fs::metadata(&pf).unwrap());
    let second = Testd::new(&pf)
        .name(&name)
        .lock(Lock::Flock)
        .unlink_first()
        .start();
    let meta = std::fs::metadata(&pf).unwrap();
    let new_ino = std::os::unix::fs::MetadataExt::ino(&meta);
    assert_ne!(old_ino, new_ino);
    let r = run(&["--format", "json", pf.to_str().unwrap()]);
    assert_eq!(r.code, 1);
    let e = pidfile(&r.json(), &pf).clone();
    assert_eq!(e["pid"], second.pid);
    // Both copies name the pidfile in their command lines: the first is also a duplicate.
    assert_eq!(
        codes(&e),
        vec!["replaced-while-locked", "duplicate-instance"],
        "{e:#}"
    );
    let f = finding(&e, "replaced-while-locked");
    assert_eq!(f["severity"], "error");
    assert_eq!(
        f["evidence"],
        json!({
            "holder_pid": first.pid,
            "holder_comm": name,
            "holder_fd": first.id("fd"),
            "kind": "flock",
            "mode": "write",
            "locked_dev": std::os::unix::fs::MetadataExt::dev(&meta),
            "locked_ino": old_ino,
            "deleted": true,
            "fd_link": format!("{} (deleted)", pf.display()),
            "current_ino": new_ino,
            "current_pid": second.pid,
            "found_by": "lock",
        })
    );
    // The new file itself is locked by the second instance, as it should be.
    assert_eq!(
        e["lock"]["holders"],
        json!([{"pid": second.pid, "comm": name, "fd": second.id("fd")}])
    );
}

/// An unprivileged user's shared flock on a root daemon's pidfile: `lock-foreign-holder` with both
/// UIDs; the daemon's own shared lock is fine. An unprivileged audit sees the same.
#[test]
fn foreign_user_holds_shared_flock() {
    if !is_root() {
        eprintln!("skipped: needs root to run a process as another user");
        return;
    }
    let dir = open_tempdir();
    let (name, pf) = unique_pidfile(dir.path(), "fshflk");
    let d = Testd::new(&pf).name(&name).lock(Lock::FlockShared).start();
    let nobody = Testd::new(&pf)
        .readonly()
        .lock(Lock::FlockShared)
        .name("intruder")
        .unprivileged()
        .start();
    let expect = |e: &Value| {
        assert_eq!(codes(e), vec!["lock-foreign-holder"], "{e:#}");
        let f = finding(e, "lock-foreign-holder");
        assert_eq!(f["severity"], "warning");
        assert_eq!(
            f["evidence"],
            json!({
                "pid": d.pid,
                "holder_pid": nobody.pid,
                "holder_comm": "intruder",
                "holder_uid": 65534,
                "holder_user": "nobody",
                "holder_fd": nobody.id("fd"),
                "kind": "flock",
                "mode": "read",
                "reason": "read_lock",
            })
        );
    };
    let e = audit_one(&pf, NO_INSTANCES);
    expect(&e);
    let holders = e["lock"]["holders"].as_array().unwrap();
    assert_eq!(holders.len(), 2, "{e:#}");
    assert!(holders.contains(&json!({"pid": d.pid, "comm": name, "fd": d.id("fd")})));
    let r = run_as_nobody(&["--format", "json", pf.to_str().unwrap()]);
    expect(pidfile(&r.json(), &pf));
}

/// Audited without privileges, a root daemon's own flock cannot be confirmed from fdinfo: the holder
/// is taken from /proc/locks (fd unknown) and nothing is reported as a mismatch.
#[test]
fn unprivileged_audit_of_root_daemon_lock() {
    if !is_root() {
        eprintln!("skipped: needs root to run the audit as another user");
        return;
    }
    let dir = open_tempdir();
    let (name, pf) = unique_pidfile(dir.path(), "unpriv");
    let d = Testd::new(&pf).name(&name).lock(Lock::Flock).start();
    let r = run_as_nobody(&["--format", "json", pf.to_str().unwrap()]);
    let e = pidfile(&r.json(), &pf).clone();
    assert_eq!(codes(&e), Vec::<String>::new(), "{e:#}");
    assert_eq!(
        e["lock"]["holders"],
        json!([{"pid": d.pid, "comm": name, "fd": null}])
    );
}

/// The recorded daemon's own lock outweighs a start time later than the file's mtime (a clock step,
/// a touched file; the file is dated within this boot, so it is not `previous-boot`): `running`,
/// not `pid-reused`. Without the lock the same file is `reused`.
#[test]
fn own_lock_overrides_pid_reused() {
    let dir = tempfile::tempdir().unwrap();
    let (name, pf) = unique_pidfile(dir.path(), "testd");
    let d = Testd::new(&pf).name(&name).lock(Lock::Flock).start();
    age(&pf, 600);
    let e = audit_one(&pf, NO_INSTANCES);
    assert_eq!(e["state"], "running", "{e:#}");
    assert_eq!(codes(&e), Vec::<String>::new());
    assert_eq!(e["lock"]["holders"][0]["pid"], d.pid);

    let (name, pf2) = unique_pidfile(dir.path(), "testd");
    let u = Testd::new(&pf2).name(&name).start();
    age(&pf2, 600);
    let e = audit_one(&pf2, NO_INSTANCES);
    assert_eq!(e["state"], "reused");
    assert_eq!(e["pid"], u.pid);
    assert_eq!(codes(&e), vec!["pid-reused"]);
}

/// A process blocked on the daemon's flock shows up as a waiter, not a holder.
#[test]
fn blocked_request_is_a_waiter() {
    let dir = tempfile::tempdir().unwrap();
    let (name, pf) = unique_pidfile(dir.path(), "testd");
    let d = Testd::new(&pf).name(&name).lock(Lock::Flock).start();
    let waiter = Daemon::from_child(
        Command::new("flock")
            .arg(&pf)
            .arg("true")
            .stdin(Stdio::null())
            .spawn()
            .expect("util-linux flock"),
    );
    let wpid = waiter.pid;
    wait_until("flock to block", || {
        std::fs::read_to_string("/proc/locks")
            .unwrap()
            .lines()
            .any(|l| l.contains("->") && l.contains(&format!(" {wpid} ")))
    });
    let e = audit_one(&pf, NO_INSTANCES);
    assert_eq!(codes(&e), Vec::<String>::new(), "{e:#}");
    assert_eq!(
        e["lock"]["waiters"],
        json!([{"pid": wpid, "kind": "flock", "mode": "write"}])
    );
    assert_eq!(e["lock"]["holders"][0]["pid"], d.pid);
    drop(d);
    drop(waiter);
}

/// `explain` documents every lock code.
#[test]
fn lock_codes_are_explained() {
    for code in [
        "unlocked",
        "lock-holder-mismatch",
        "replaced-while-locked",
        "lock-foreign-holder",
        "inherited-lock",
        "locks-unknown",
    ] {
        let r = run(&["explain", code]);
        assert_eq!(r.code, 0, "{code}: {}", r.stderr);
        assert!(r.stdout.contains(code), "{code}: {}", r.stdout);
    }
}

/// A fake /proc tree (deterministic): the recorded PID is dead, /proc/locks names it as a flock's
/// acquirer, the holder is found through the dead acquirer's session and confirmed by its fdinfo; a
/// blocked request is a waiter; an unparseable line is reported once as `locks-unknown`.
#[test]
fn fake_proc_tree_resolves_inherited_holder() {
    let dir = tempfile::tempdir().unwrap();
    let pf = dir.path().join("testd.pid");
    write_pidfile(&pf, "400\n");
    let meta = std::fs::metadata(&pf).unwrap();
    let (dev, ino) = (
        std::os::unix::fs::MetadataExt::dev(&meta),
        std::os::unix::fs::MetadataExt::ino(&meta),
    );
    let devino = format!(
        "{:02x}:{:02x}:{ino}",
        rustix::fs::major(dev as _),
        rustix::fs::minor(dev as _)
    );
    let proc = dir.path().join("proc");
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let write = |rel: &str, content: &str| {
        let p = proc.join(rel);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, content).unwrap();
    };
    write("stat", &format!("cpu 0 0 0 0\nbtime {}\n", now - 1000));
    write("sys/kernel/pid_max", "32768\n");
    let stat = |pid: u32, comm: &str, ppid: u32, session: u32| {
        format!("{pid} ({comm}) S {ppid} {session} {session} 0 -1 4194560 0 0 0 0 0 0 0 0 20 0 1 0 100 1000 100\n")
    };
    write("1/stat", &stat(1, "init", 0, 1));
    write("500/stat", &stat(500, "testd", 1, 400));
    write(
        "500/status",
        "Name:\ttestd\nTgid:\t500\nPPid:\t1\nUid:\t0\t0\t0\t0\n",
    );
    write(
        "500/fdinfo/3",
        &format!("pos:\t0\nflags:\t02100002\nmnt_id:\t27\nino:\t{ino}\nlock:\t1: FLOCK  ADVISORY  WRITE 400 {devino} 0 EOF\n"),
    );
    std::fs::create_dir_all(proc.join("500/fd")).unwrap();
    std::os::unix::fs::symlink(&pf, proc.join("500/fd/3")).unwrap();
    write(
        "locks",
        &format!(
            "1: FLOCK  ADVISORY  WRITE 400 {devino} 0 EOF\n\
             1: -> FLOCK  ADVISORY  WRITE 502 {devino} 0 EOF\n\
             2: POSIX  ADVISORY  WRITE 77 00:10a:12345 0 EOF\n\
             3: not a lock line\n"
        ),
    );
    let (code, doc) = audit(
        &[
            NO_INSTANCES,
            &["--proc-root", proc.to_str().unwrap(), pf.to_str().unwrap()],
        ]
        .concat(),
    );
    let e = pidfile(&doc, &pf).clone();
    assert_eq!(e["state"], "stale");
    assert_eq!(
        codes(&e),
        vec!["stale", "lock-holder-mismatch", "inherited-lock"],
        "{e:#}"
    );
    assert_eq!(
        e["lock"],
        json!({
            "locked": true,
            "kind": "flock",
            "mode": "write",
            "holders": [{"pid": 500, "comm": "testd", "fd": 3}],
            "reported_pid": 400,
            "waiters": [{"pid": 502, "kind": "flock", "mode": "write"}],
        })
    );
    let m = &finding(&e, "lock-holder-mismatch")["evidence"];
    assert_eq!(m["likely_instance"], 500);
    assert_eq!(m["examined"], json!([500]));
    let unknown = findings_with(&doc, "locks-unknown");
    assert_eq!(unknown.len(), 1, "{doc:#}");
    assert_eq!(unknown[0]["severity"], "unknown");
    assert_eq!(unknown[0]["evidence"]["unparsed_lines"], 1);
    assert_eq!(
        unknown[0]["evidence"]["first_error"],
        "line 4: unknown kind (\"3: not a lock line\")"
    );
    assert_eq!(code, 1, "the mismatch is an error");
}

/// A locked pidfile deleted under its live holder, audited by its path: `missing-pidfile` and
/// `replaced-while-locked` saying nothing is at the path now.
#[test]
fn pidfile_deleted_while_locked() {
    let dir = tempfile::tempdir().unwrap();
    let (name, pf) = unique_pidfile(dir.path(), "testd");
    let d = Testd::new(&pf).name(&name).lock(Lock::Lockf).start();
    std::fs::remove_file(&pf).unwrap();
    let e = audit_one(&pf, NO_INSTANCES);
    assert_eq!(e["state"], "missing");
    assert_eq!(
        codes(&e),
        vec!["missing-pidfile", "replaced-while-locked"],
        "{e:#}"
    );
    let f = finding(&e, "replaced-while-locked");
    assert_eq!(f["evidence"]["holder_pid"], d.pid);
    assert_eq!(f["evidence"]["holder_fd"], d.id("fd"));
    assert_eq!(f["evidence"]["kind"], "posix");
    assert_eq!(f["evidence"]["deleted"], true);
    assert_eq!(f["evidence"]["current_ino"], Value::Null);
    assert!(
        f["message"]
            .as_str()
            .unwrap()
            .ends_with("nothing is at the path now"),
        "{f:#}"
    );
}

/// `flock -x FILE daemon` (util-linux) as started by hand: the wrapper and its daemon.
struct Wrapped {
    flock: Daemon,
    daemon: Daemon,
}

fn flock_wrapped(dir: &std::path::Path, pf: &std::path::Path, name: &str) -> Wrapped {
    flock_wrapped_by(Command::new("flock"), dir, pf, name)
}

fn flock_wrapped_by(
    mut cmd: Command,
    dir: &std::path::Path,
    pf: &std::path::Path,
    name: &str,
) -> Wrapped {
    let exe = sleep_copy(dir, name);
    let child = cmd
        .arg("-x")
        .arg(pf)
        .arg(&exe)
        .arg("1000")
        .current_dir(dir)
        .stdin(Stdio::null())
        .spawn()
        .unwrap();
    let flock = Daemon::from_child(child);
    let mut daemon = None;
    wait_until("flock to start its daemon", || {
        let out = Command::new("pgrep")
            .arg("-P")
            .arg(flock.pid.to_string())
            .output()
            .unwrap();
        let pid: Option<u32> = String::from_utf8_lossy(&out.stdout)
            .split_whitespace()
            .next()
            .and_then(|w| w.parse().ok());
        daemon = pid.filter(|p| comm(*p) == name);
        daemon.is_some()
    });
    Wrapped {
        daemon: Daemon::adopt(daemon.unwrap()),
        flock,
    }
}

/// Both the wrapper and the daemon it forked hold the lock through the one open file description;
/// the daemon recorded in the file holds its lock (no `lock-foreign-holder` for its wrapper, whose
/// read-only descriptor is util-linux flock's way of locking for it).
#[test]
fn flock_wrapper_and_its_daemon_share_the_lock() {
    let dir = tempfile::tempdir().unwrap();
    let (name, pf) = unique_pidfile(dir.path(), "wrapd");
    write_pidfile(&pf, "");
    let w = flock_wrapped(dir.path(), &pf, &name);
    write_pid(&pf, w.daemon.pid);
    let e = audit_one(&pf, &[]);
    assert_eq!(e["state"], "running", "{e:#}");
    assert_eq!(codes(&e), Vec::<String>::new(), "{e:#}");
    let mut holders: Vec<u64> = e["lock"]["holders"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| h["pid"].as_u64().unwrap())
        .collect();
    holders.sort();
    let mut want = vec![u64::from(w.flock.pid), u64::from(w.daemon.pid)];
    want.sort();
    assert_eq!(holders, want, "{e:#}");
}

/// The file overwritten with a dead PID: the daemon the wrapper forked, not the wrapper, is the
/// likely instance and the orphan, and both are listed as holders.
#[test]
fn flock_wrapped_daemon_is_the_likely_instance() {
    let dir = tempfile::tempdir().unwrap();
    let (name, pf) = unique_pidfile(dir.path(), "wrapo");
    write_pidfile(&pf, "");
    let w = flock_wrapped(dir.path(), &pf, &name);
    write_pid(&pf, dead_pid());
    let e = audit_one(&pf, &[]);
    assert_eq!(e["state"], "stale", "{e:#}");
    let m = finding(&e, "lock-holder-mismatch");
    assert_eq!(m["evidence"]["likely_instance"], w.daemon.pid, "{m:#}");
    assert_eq!(
        m["evidence"]["holders"].as_array().unwrap().len(),
        2,
        "{m:#}"
    );
    let o = finding(&e, "orphaned-instance");
    assert_eq!(o["evidence"]["orphans"], json!([w.daemon.pid]), "{o:#}");
    assert_eq!(o["evidence"]["found_by"], "lock");
}

/// Another user's `flock` on root's readable pidfile proves nothing, wrapper or not: no likely
/// instance, and its lock is `lock-foreign-holder`.
#[test]
fn another_users_flock_wrapper_proves_nothing() {
    let dir = open_tempdir();
    let (name, pf) = unique_pidfile(dir.path(), "wrapu");
    write_pid(&pf, dead_pid());
    let _w = flock_wrapped_by(as_nobody("flock"), dir.path(), &pf, &name);
    let e = audit_one(&pf, &[]);
    assert_eq!(e["state"], "stale", "{e:#}");
    assert!(
        codes(&e).contains(&"lock-foreign-holder".to_string()),
        "{e:#}"
    );
    assert!(
        !codes(&e).contains(&"lock-holder-mismatch".to_string()),
        "{e:#}"
    );
    assert!(
        !codes(&e).contains(&"orphaned-instance".to_string()),
        "{e:#}"
    );
}

/// A stop script deleted the pidfile before its daemon exited: a scan of the directory (where no
/// file is left) still finds the live daemon through its lock on the deleted file, as a finding
/// about the deleted path.
#[test]
fn deleted_pidfile_held_by_its_daemon_is_found_by_a_directory_scan() {
    for lock in [Lock::Lockf, Lock::Flock] {
        let dir = tempfile::tempdir().unwrap();
        let (name, pf) = unique_pidfile(dir.path(), "delh");
        let d = Testd::new(&pf).name(&name).lock(lock).start();
        std::fs::remove_file(&pf).unwrap();
        let f = the_deleted_held(dir.path(), &pf, &d);
        assert_eq!(f["evidence"]["found_by"], "lock", "{lock:?}: {f:#}");
    }
}

/// A read-only descriptor's lock on a deleted file proves nothing (any reader could take it), and
/// a deleted file outside the audited directory is not reported.
#[test]
fn deleted_pidfile_lock_that_proves_nothing_is_not_reported() {
    let dir = tempfile::tempdir().unwrap();
    let (name, pf) = unique_pidfile(dir.path(), "delr");
    write_pid(&pf, dead_pid());
    let w = flock_wrapped_by(as_nobody("flock"), dir.path(), &pf, &name);
    std::fs::remove_file(&pf).unwrap();
    assert_no_deleted_held(dir.path());
    drop(w);
    let other = tempfile::tempdir().unwrap();
    let (name, pf) = unique_pidfile(other.path(), "delo");
    let _d = Testd::new(&pf).name(&name).lock(Lock::Lockf).start();
    std::fs::remove_file(&pf).unwrap();
    assert_no_deleted_held(dir.path());
}

/// A pidfile named on its own does not make its directory audited: a per-service check says
/// nothing about a neighbour deleted under its daemon.
#[test]
fn deleted_neighbour_of_a_named_pidfile_is_not_reported() {
    let dir = tempfile::tempdir().unwrap();
    let (name, pf) = unique_pidfile(dir.path(), "deln");
    let _d = Testd::new(&pf).name(&name).lock(Lock::Lockf).start();
    std::fs::remove_file(&pf).unwrap();
    let (other_name, other) = unique_pidfile(dir.path(), "delm");
    let _o = Testd::new(&other)
        .name(&other_name)
        .lock(Lock::Lockf)
        .start();
    let (_, doc) = audit(&[other.to_str().unwrap()]);
    assert!(
        findings_with(&doc, "deleted-pidfile-held").is_empty(),
        "{doc:#}"
    );
    let (_, doc) = audit(&[dir.path().to_str().unwrap()]);
    assert_eq!(
        findings_with(&doc, "deleted-pidfile-held").len(),
        1,
        "{doc:#}"
    );
}

/// A daemon (a session leader, no pidfile naming it) holding its deleted pidfile open for writing
/// without a lock, or with an OFD lock (`/proc/locks` prints PID -1 for those), is found among the
/// daemon-like processes' descriptors by a scan of the directory.
#[test]
fn deleted_pidfile_held_without_a_lock_or_by_ofd_is_found() {
    for (lock, locked, kind) in [
        (None, false, Value::Null),
        (Some(Lock::Ofd), true, json!("ofd")),
    ] {
        let dir = tempfile::tempdir().unwrap();
        let (name, pf) = unique_pidfile(dir.path(), "delu");
        let mut t = Testd::new(&pf).name(&name).setsid();
        if let Some(lock) = lock {
            t = t.lock(lock);
        }
        let d = t.start();
        std::fs::remove_file(&pf).unwrap();
        let f = the_deleted_held(dir.path(), &pf, &d);
        assert_eq!(f["evidence"]["locked"], locked, "{f:#}");
        assert_eq!(f["evidence"]["kind"], kind, "{f:#}");
        assert_eq!(f["evidence"]["found_by"], "descriptor", "{f:#}");
    }
}

/// A read-only descriptor on a deleted pidfile proves nothing (any reader may hold one), and a
/// daemon-like process holding its deleted pidfile outside the audited directory is not reported.
#[test]
fn deleted_pidfile_descriptor_that_proves_nothing_is_not_reported() {
    let dir = tempfile::tempdir().unwrap();
    let (name, pf) = unique_pidfile(dir.path(), "delq");
    write_pid(&pf, dead_pid());
    let _r = Testd::new(&pf).name(&name).readonly().setsid().start();
    std::fs::remove_file(&pf).unwrap();
    let other = tempfile::tempdir().unwrap();
    let (name, opf) = unique_pidfile(other.path(), "delp");
    let _o = Testd::new(&opf).name(&name).setsid().start();
    std::fs::remove_file(&opf).unwrap();
    assert_no_deleted_held(dir.path());
}

/// The first instance's OFD lock on the file a second start deleted and replaced: `/proc/locks`
/// names no acquirer, the holder is found among the daemon-like processes' descriptors.
#[test]
fn pidfile_replaced_while_ofd_locked() {
    let dir = tempfile::tempdir().unwrap();
    let (name, pf) = unique_pidfile(dir.path(), "testo");
    let first = Testd::new(&pf).name(&name).lock(Lock::Ofd).setsid().start();
    let second = Testd::new(&pf)
        .name(&name)
        .lock(Lock::Ofd)
        .unlink_first()
        .start();
    let (code, doc) = audit(&[pf.to_str().unwrap()]);
    let e = pidfile(&doc, &pf).clone();
    assert_eq!(e["pid"], second.pid);
    let f = finding(&e, "replaced-while-locked");
    assert_eq!(f["evidence"]["holder_pid"], first.pid, "{f:#}");
    assert_eq!(f["evidence"]["holder_fd"], first.id("fd"), "{f:#}");
    assert_eq!(f["evidence"]["kind"], "ofd", "{f:#}");
    assert_eq!(f["evidence"]["deleted"], true, "{f:#}");
    assert_eq!(f["evidence"]["found_by"], "descriptor", "{f:#}");
    assert_eq!(code, 1);
}

/// A daemon-like process with more descriptors than the search reads makes the search incomplete:
/// a `locks-unknown` finding with the counts, not silence (info: a busy server is no reason to call
/// every scan unknown).
#[test]
fn held_descriptor_search_cut_short_says_so() {
    let dir = tempfile::tempdir().unwrap();
    let cwd = tempfile::tempdir().unwrap();
    let script = "import os, resource, sys, time\n\
        resource.setrlimit(resource.RLIMIT_NOFILE, (8192, 8192))\n\
        os.setsid()\n\
        fds = [os.open('/dev/null', os.O_RDONLY) for _ in range(4200)]\n\
        print('ready', flush=True)\n\
        time.sleep(100000)\n";
    let _many = spawn_ready(
        Command::new("python3")
            .args(["-c", script])
            .current_dir(cwd.path()),
        "ready",
    );
    let (_, doc) = audit(&[dir.path().to_str().unwrap()]);
    let cut: Vec<&Value> = findings_with(&doc, "locks-unknown")
        .into_iter()
        .filter(|f| f["evidence"]["search"] == "held-descriptors")
        .collect();
    assert_eq!(cut.len(), 1, "{doc:#}");
    assert!(
        cut[0]["evidence"]["fds_truncated"].as_u64().unwrap() >= 1,
        "{doc:#}"
    );
    assert_eq!(cut[0]["evidence"]["max_fds"], 4096, "{doc:#}");
    // A busy server read in part does not make every scan unknown.
    assert_eq!(cut[0]["severity"], "info", "{doc:#}");
}

/// A scan of `dir` reports no `deleted-pidfile-held`.
fn assert_no_deleted_held(dir: &std::path::Path) {
    let (_, doc) = audit(&[dir.to_str().unwrap()]);
    assert!(
        findings_with(&doc, "deleted-pidfile-held").is_empty(),
        "{doc:#}"
    );
}

/// A scan of `dir`, where no file is left, exits 1 with one `deleted-pidfile-held` error about
/// `pf` naming the daemon `d` and its descriptor; returns it.
fn the_deleted_held(dir: &std::path::Path, pf: &std::path::Path, d: &RunningTestd) -> Value {
    let (code, doc) = audit(&[dir.to_str().unwrap()]);
    assert!(doc["pidfiles"].as_array().unwrap().is_empty(), "{doc:#}");
    let found = findings_with(&doc, "deleted-pidfile-held");
    assert_eq!(found.len(), 1, "{doc:#}");
    let f = found[0].clone();
    assert_eq!(f["subject"], pf.to_str().unwrap(), "{f:#}");
    assert_eq!(f["severity"], "error");
    assert_eq!(f["evidence"]["holder_pid"], d.pid, "{f:#}");
    assert_eq!(f["evidence"]["holder_fd"], d.id("fd"), "{f:#}");
    assert_eq!(code, 1);
    f
}

/// JSON names users beside uids (live `/proc`): the process's `user`, the evidence's `*_user`; the
/// human report shows each name once, beside its number.
#[test]
fn json_names_users_beside_uids() {
    let dir = tempfile::tempdir().unwrap();
    let (name, pf) = unique_pidfile(dir.path(), "usrn");
    let me = rustix::process::geteuid().as_raw();
    let my_name = nix::unistd::User::from_uid(nix::unistd::Uid::from_raw(me))
        .unwrap()
        .unwrap()
        .name;
    let d = Testd::new(&pf).name(&name).lock(Lock::Flock).start();
    let e = audit_one(&pf, &["--verbose"]);
    assert_eq!(e["process"]["uid"], me, "{e:#}");
    assert_eq!(e["process"]["user"], my_name.as_str(), "{e:#}");
    std::fs::remove_file(&pf).unwrap();
    let f = the_deleted_held(dir.path(), &pf, &d);
    assert_eq!(f["evidence"]["holder_uid"], me, "{f:#}");
    assert_eq!(f["evidence"]["holder_user"], my_name.as_str(), "{f:#}");
    assert_eq!(f["evidence"]["file_user"], my_name.as_str(), "{f:#}");
    let human = run(&["--verbose", dir.path().to_str().unwrap()]);
    assert!(
        human
            .stdout
            .contains(&format!("holder_uid: {me} ({my_name})")),
        "{}",
        human.stdout
    );
    assert!(!human.stdout.contains("holder_user"), "{}", human.stdout);
}

/// An unprivileged directory scan cannot read root's daemons' descriptors: the held-descriptor
/// search says so (`locks-unknown`, info, with the count), and the run stays OK for Nagios.
#[test]
fn unprivileged_held_descriptor_search_is_info() {
    if !is_root() {
        eprintln!("skipped: needs root to run as another user");
        return;
    }
    // A root session leader whose descriptors nobody may read; no pidfile in the directory.
    let dir = open_tempdir();
    let _d = Testd::without_pidfile()
        .name(&unique_name("unprh"))
        .setsid()
        .start();
    let r = run_as_nobody(&["--format", "json", dir.path().to_str().unwrap()]);
    let doc = r.json();
    let cut: Vec<&Value> = findings_with(&doc, "locks-unknown")
        .into_iter()
        .filter(|f| f["evidence"]["search"] == "held-descriptors")
        .collect();
    assert_eq!(cut.len(), 1, "{doc:#}");
    assert_eq!(cut[0]["severity"], "info", "{doc:#}");
    assert!(
        cut[0]["evidence"]["unreadable"].as_u64().unwrap() >= 1,
        "{doc:#}"
    );
    let r = run_as_nobody(&["--format", "nagios", dir.path().to_str().unwrap()]);
    assert_eq!(r.code, 0, "{}", r.stdout);
}
