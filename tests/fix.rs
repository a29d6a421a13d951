//! `pidaudit fix` and `pidaudit undo` with real processes and files: what is removed, what is
//! refused and why, the re-verification at the moment of acting (content, identity, locks, a
//! swapped directory), the journal's lock between concurrent runs, and undo restoring byte for
//! byte with owner, mode and mtime.

mod common;
use common::fixing::*;
use common::*;
use serde_json::Value;
use std::collections::BTreeMap;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

/// A stale pidfile left by a SIGKILLed test daemon.
fn killed_daemon_pidfile(dir: &Path) -> PathBuf {
    let (name, path) = unique_pidfile(dir, "fixd");
    let mut d = Testd::new(&path).name(&name).start();
    d.kill();
    wait_gone(d.pid);
    path
}

/// Everything about a directory's files that a change would alter.
fn listing(dir: &Path) -> BTreeMap<String, (u64, i64, i64, u32, Vec<u8>)> {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| {
            let e = e.unwrap();
            let m = std::fs::symlink_metadata(e.path()).unwrap();
            let bytes = if m.is_file() {
                std::fs::read(e.path()).unwrap()
            } else {
                Vec::new()
            };
            (
                e.file_name().to_string_lossy().into_owned(),
                (m.ino(), m.mtime(), m.mtime_nsec(), m.mode(), bytes),
            )
        })
        .collect()
}

/// A stale pidfile from a killed daemon is removed (a fresh scan then has nothing to say about
/// it), and undo restores it byte for byte with its owner, mode and mtime.
#[test]
fn stale_file_is_removed_and_undo_restores_it() {
    let dir = open_tempdir();
    let journal = tempfile::tempdir().unwrap();
    let path = killed_daemon_pidfile(dir.path());
    // An owner, mode and mtime that undo must bring back.
    std::os::unix::fs::chown(&path, Some(0), Some(NOBODY)).unwrap();
    chmod(&path, 0o640);
    set_mtime(&path, SystemTime::now() - Duration::from_millis(90_123_456));
    let before = std::fs::metadata(&path).unwrap();
    let bytes = std::fs::read(&path).unwrap();

    let r = apply(journal.path(), dir.path());
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    let doc = r.json();
    assert_eq!(
        outcomes(&doc),
        [(path.to_str().unwrap().to_string(), "done".to_string())]
    );
    assert!(!path.exists());
    assert_eq!(
        doc["actions"][0]["recheck"],
        serde_json::json!({"now": "absent"})
    );
    let (code, scan) = audit_path(dir.path(), &[]);
    assert_eq!(code, 0);
    assert_eq!(scan["pidfiles"].as_array().unwrap().len(), 0, "{scan:#}");

    let list = undo(journal.path(), &["--list"]);
    assert_eq!(list.code, 0);
    assert!(list.stdout.contains("removed 1"), "{}", list.stdout);
    let u = undo(journal.path(), &[]);
    assert_eq!(u.code, 0, "{}{}", u.stdout, u.stderr);
    let after = std::fs::metadata(&path).unwrap();
    assert_eq!(std::fs::read(&path).unwrap(), bytes);
    assert_eq!(
        (after.uid(), after.gid(), after.mode() & 0o7777),
        (0, NOBODY, 0o640)
    );
    assert_eq!(
        (after.mtime(), after.mtime_nsec()),
        (before.mtime(), before.mtime_nsec())
    );
    // A second undo has nothing left to restore, and never overwrites the restored file.
    let again = undo(journal.path(), &[]);
    assert_eq!(again.code, 0, "{}", again.stdout);
    assert!(again.stdout.contains("0 restored"), "{}", again.stdout);
}

/// Undo refuses to restore over anything standing at the path.
#[test]
fn undo_never_overwrites() {
    let dir = open_tempdir();
    let journal = tempfile::tempdir().unwrap();
    let path = dir.path().join("gone.pid");
    write_pid(&path, dead_pid());
    assert_eq!(apply(journal.path(), dir.path()).code, 0);
    std::os::unix::fs::symlink("/etc/passwd", &path).unwrap();
    let u = undo(journal.path(), &[]);
    assert_eq!(u.code, 1, "{}", u.stdout);
    assert!(u.stdout.contains("something exists"), "{}", u.stdout);
    assert_eq!(std::fs::read_link(&path).unwrap(), Path::new("/etc/passwd"));
}

/// A world-writable stale file is untrusted: its removal is refused with its trust reasons, and it
/// is left alone; the one action offered is fixing its permissions, which is unsafe (not run
/// without --unsafe).
#[test]
fn untrusted_stale_file_is_refused() {
    let dir = open_tempdir();
    let journal = tempfile::tempdir().unwrap();
    let path = dir.path().join("ww.pid");
    write_pid(&path, dead_pid());
    chmod(&path, 0o666);
    let r = apply(journal.path(), dir.path());
    assert_eq!(r.code, 1, "{}", r.stdout);
    let doc = r.json();
    let actions = doc["actions"].as_array().unwrap();
    assert_eq!(actions.len(), 1, "{doc:#}");
    assert_eq!(
        (&actions[0]["kind"], &actions[0]["outcome"]["status"]),
        (&"fix-permissions".into(), &"not-run".into())
    );
    let refusal = refused(&doc, &path);
    assert_eq!(refusal["reason"], "untrusted");
    assert_eq!(refusal["state"], "stale");
    assert!(refusal["trust_reasons"]
        .as_array()
        .unwrap()
        .contains(&"world-writable".into()));
    assert!(path.exists());
}

/// A stale file whose lock a live process holds in a way that proves nothing about the daemon (a
/// shared flock, which any reader can take) is still the likely real instance's guard: refused,
/// with the holder. (A write lock held as only the daemon could is a retrack: tests/fix_repair.rs.)
#[test]
fn stale_file_locked_by_a_live_process_is_refused() {
    let dir = open_tempdir();
    let journal = tempfile::tempdir().unwrap();
    let (name, path) = unique_pidfile(dir.path(), "lockd");
    let d = Testd::new(&path)
        .name(&name)
        .write_pid(dead_pid())
        .lock(Lock::FlockShared)
        .start();
    let r = apply(journal.path(), dir.path());
    assert_eq!(r.code, 1, "{}", r.stdout);
    let doc = r.json();
    let refusal = refused(&doc, &path);
    assert_eq!(refusal["reason"], "locked", "{doc:#}");
    assert_eq!(refusal["lock_holders"], serde_json::json!([d.pid]));
    assert!(path.exists());
}

/// A lock taken between the plan and the act (flock, POSIX and OFD) skips the removal.
#[test]
fn lock_taken_after_planning_skips() {
    use nix::fcntl::{fcntl, FcntlArg};
    use nix::libc;
    for kind in ["flock", "posix", "ofd"] {
        let dir = open_tempdir();
        let path = dir.path().join("l.pid");
        write_pid(&path, dead_pid());
        let p = planned(dir.path());
        let file = std::fs::OpenOptions::new().write(true).open(&path).unwrap();
        match kind {
            "flock" => rustix::fs::flock(&file, rustix::fs::FlockOperation::LockExclusive).unwrap(),
            _ => {
                let mut fl: libc::flock = unsafe { std::mem::zeroed() };
                fl.l_type = libc::F_WRLCK as _;
                fl.l_whence = libc::SEEK_SET as _;
                let arg = if kind == "posix" {
                    FcntlArg::F_SETLK(&fl)
                } else {
                    FcntlArg::F_OFD_SETLK(&fl)
                };
                fcntl(&file, arg).unwrap();
            }
        }
        let e = remove_now(&p).unwrap_err();
        assert!(e.contains("lock"), "{kind}: {e}");
        assert!(path.exists(), "{kind}");
    }
}

/// Content changed behind the same size and mtime (set back by hand) is caught byte for byte;
/// a replaced file (new inode) and a PID in use again are caught too.
#[test]
fn changes_between_plan_and_apply_skip() {
    let dir = open_tempdir();
    let path = dir.path().join("c.pid");
    let dead = dead_pid();
    write_pidfile(&path, &format!("{dead:07}\n"));
    let p = planned(dir.path());
    let t = std::fs::metadata(&path).unwrap().modified().unwrap();
    let other = dead_pid();
    std::fs::OpenOptions::new()
        .write(true)
        .open(&path)
        .and_then(|mut f| std::io::Write::write_all(&mut f, format!("{other:07}\n").as_bytes()))
        .unwrap();
    set_mtime(&path, t);
    let e = remove_now(&p).unwrap_err();
    assert!(e.contains("content changed"), "{e}");
    assert!(path.exists());

    let p = planned(dir.path());
    let tmp = dir.path().join("c.tmp");
    std::fs::write(&tmp, std::fs::read(&path).unwrap()).unwrap();
    std::fs::rename(&tmp, &path).unwrap();
    let e = remove_now(&p).unwrap_err();
    assert!(e.contains("replaced"), "{e}");
    assert!(path.exists());

    // A PID in use again: the test's own PID stands in for a dead PID handed to a new process
    // (a real reuse cannot be forced here).
    std::fs::remove_file(&path).unwrap();
    let path = dir.path().join("r.pid");
    write_pid(&path, dead_pid());
    let p = planned(dir.path());
    assert_eq!(p.plan.actions.len(), 1);
    let mut action = p.plan.actions[0].clone();
    action.basis.pid = pidaudit::fix::PidBasis::Dead {
        pid: std::process::id(),
    };
    let e =
        pidaudit::fix::apply::remove(&action, p.audit.snapshot.proc_dir().unwrap()).unwrap_err();
    assert!(e.contains("in use again"), "{e}");
    assert!(path.exists());
    // The attempt above held a flock for a moment; a process another test forks in that moment
    // shares the descriptor (and the flock) until it execs: try again briefly.
    let mut result = remove_now(&p);
    for _ in 0..50 {
        match &result {
            Err(e) if e.contains("flock") => {
                std::thread::sleep(Duration::from_millis(20));
                result = remove_now(&p);
            }
            _ => break,
        }
    }
    result.unwrap();
    assert!(!path.exists());
}

/// The directory swapped for a symlink between judging and acting: the held directory descriptor
/// is what the removal acts in, so nothing outside the audited directory is removed.
#[test]
fn swapped_directory_removes_nothing_outside() {
    let root = open_tempdir();
    let audited = root.path().join("run");
    let elsewhere = root.path().join("elsewhere");
    std::fs::create_dir(&audited).unwrap();
    std::fs::create_dir(&elsewhere).unwrap();
    let dead = dead_pid();
    write_pid(&audited.join("d.pid"), dead);
    std::fs::copy(audited.join("d.pid"), elsewhere.join("d.pid")).unwrap();
    let outside = listing(&elsewhere);
    let p = planned(&audited);
    std::fs::rename(&audited, root.path().join("moved")).unwrap();
    std::os::unix::fs::symlink(&elsewhere, &audited).unwrap();
    // The audited file (now under moved/) may go; the one the symlink leads to must not.
    let _ = remove_now(&p);
    assert_eq!(listing(&elsewhere), outside);
}

/// A writer rewriting the file in a loop: every apply either removed the version it judged
/// (journaled byte for byte) or skipped because the file changed; nothing else.
#[test]
fn racing_writer_never_loses_a_judged_version() {
    let dir = open_tempdir();
    let journal = tempfile::tempdir().unwrap();
    let path = dir.path().join("w.pid");
    let (a, b) = (dead_pid(), dead_pid());
    let script = format!(
        "while :; do printf '{a:07}\\n' 1<> {p} || exit; sleep 0.03; printf '{b:07}\\n' 1<> {p} || exit; sleep 0.03; done",
        p = path.display()
    );
    let mut removed = 0;
    let mut skipped = 0;
    for _ in 0..20 {
        write_pidfile(&path, &format!("{a:07}\n"));
        // `1<>` opens without creating: the writer stops once the file is gone.
        let mut writer = std::process::Command::new("sh")
            .args(["-c", &script])
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        let r = apply(journal.path(), dir.path());
        let _ = writer.kill();
        let _ = writer.wait();
        assert!(r.code == 0 || r.code == 1, "{}{}", r.stdout, r.stderr);
        let doc = r.json();
        for act in doc["actions"].as_array().unwrap() {
            match act["outcome"]["status"].as_str().unwrap() {
                "done" => removed += 1,
                "skipped" => {
                    skipped += 1;
                    let why = act["outcome"]["reason"].as_str().unwrap();
                    assert!(
                        ["changed", "modified", "gone", "replaced"]
                            .iter()
                            .any(|w| why.contains(w)),
                        "{why}"
                    );
                }
                s => panic!("{s}"),
            }
        }
    }
    // Every removal is journaled with one of the two versions the writer wrote.
    for id in undo(journal.path(), &["--list"]).stdout.lines() {
        let id = id.split_whitespace().next().unwrap();
        let text = std::fs::read_to_string(journal.path().join(format!("{id}.jsonl"))).unwrap();
        for line in text.lines() {
            let v: Value = serde_json::from_str(line).unwrap();
            if v["record"] == "before" {
                let c = v["before"]["content"].as_str().unwrap();
                assert!(
                    c == format!("{a:07}\\x0a") || c == format!("{b:07}\\x0a"),
                    "{c}"
                );
            }
        }
    }
    eprintln!("racing writer: {removed} removed, {skipped} skipped");
    assert_eq!(removed + skipped, 20);
}

/// Two `fix --apply` runs at once act on each file once: the journal lock serializes them.
#[test]
fn concurrent_applies_act_once() {
    let dir = open_tempdir();
    let journal = tempfile::tempdir().unwrap();
    for i in 0..100 {
        write_pid(&dir.path().join(format!("s{i}.pid")), dead_pid());
    }
    let spawn = || {
        pidaudit()
            .args(["fix", "--apply", "--yes", "--format", "json", "--journal"])
            .arg(journal.path())
            .arg(dir.path())
            .stdout(std::process::Stdio::piped())
            .spawn()
            .unwrap()
    };
    let (x, y) = (spawn(), spawn());
    let y = std::thread::spawn(move || y.wait_with_output().unwrap());
    let outs = [x.wait_with_output().unwrap(), y.join().unwrap()];
    let mut done = Vec::new();
    for out in outs {
        let doc: Value = serde_json::from_slice(&out.stdout).unwrap();
        for (t, s) in outcomes(&doc) {
            if s == "done" {
                done.push(t);
            }
        }
    }
    done.sort();
    let n = done.len();
    done.dedup();
    assert_eq!((n, done.len()), (100, 100));
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
}

/// A dry run changes nothing: same files, inodes, mtimes, modes and bytes; no journal created.
#[test]
fn dry_run_changes_nothing() {
    let dir = open_tempdir();
    let root = tempfile::tempdir().unwrap();
    let journal = root.path().join("journal");
    write_pid(&dir.path().join("stale.pid"), dead_pid());
    write_pidfile(&dir.path().join("junk.pid"), "nope\n");
    age(&dir.path().join("junk.pid"), 60);
    let before = listing(dir.path());
    let r = fix(&[
        "--journal",
        journal.to_str().unwrap(),
        dir.path().to_str().unwrap(),
    ]);
    assert_eq!(r.code, 1, "{}", r.stdout);
    assert!(r.stdout.contains("Dry run"), "{}", r.stdout);
    assert_eq!(listing(dir.path()), before);
    assert!(!journal.exists());
    // With nothing to do, the exit status is 0.
    let clean = open_tempdir();
    assert_eq!(fix(&[clean.path().to_str().unwrap()]).code, 0);
}

/// `fix` acts only on what it audited: a sibling directory and excluded files are untouched.
#[test]
fn only_audited_paths_are_touched() {
    let root = open_tempdir();
    let a = root.path().join("a");
    let b = root.path().join("b");
    std::fs::create_dir(&a).unwrap();
    std::fs::create_dir(&b).unwrap();
    write_pid(&a.join("x.pid"), dead_pid());
    write_pid(&a.join("keep.pid"), dead_pid());
    write_pid(&b.join("y.pid"), dead_pid());
    let outside = listing(&b);
    let journal = tempfile::tempdir().unwrap();
    let r = fix(&[
        "--apply",
        "--yes",
        "--journal",
        journal.path().to_str().unwrap(),
        "--exclude",
        "keep.pid",
        a.to_str().unwrap(),
    ]);
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    assert!(!a.join("x.pid").exists());
    assert!(a.join("keep.pid").exists());
    assert_eq!(listing(&b), outside);
}

/// `--apply` with no terminal and no `--yes` is a usage error that changes nothing; a journal
/// directory writable by others is refused.
#[test]
fn apply_needs_consent_and_a_safe_journal() {
    let dir = open_tempdir();
    write_pid(&dir.path().join("s.pid"), dead_pid());
    let r = fix(&["--apply", dir.path().to_str().unwrap()]);
    assert_eq!(r.code, 2);
    assert!(r.stderr.contains("--yes"), "{}", r.stderr);
    assert!(dir.path().join("s.pid").exists());
    let open = tempfile::tempdir().unwrap();
    chmod(open.path(), 0o777);
    let r = apply(open.path(), dir.path());
    assert_eq!(r.code, 2, "{}", r.stdout);
    assert!(r.stderr.contains("writable"), "{}", r.stderr);
    assert!(dir.path().join("s.pid").exists());
    let link = tempfile::tempdir().unwrap();
    let target = tempfile::tempdir().unwrap();
    std::os::unix::fs::symlink(target.path(), link.path().join("j")).unwrap();
    let r = apply(&link.path().join("j"), dir.path());
    assert_eq!(r.code, 2, "{}", r.stdout);
    assert!(dir.path().join("s.pid").exists());
}

/// Zombies are refused with their parent named; empty and malformed old files are removed.
#[test]
fn zombie_refused_invalid_removed() {
    let dir = open_tempdir();
    let journal = tempfile::tempdir().unwrap();
    let (parent, zpid) = zombie();
    write_pid(&dir.path().join("z.pid"), zpid);
    write_pidfile(&dir.path().join("e.pid"), "");
    write_pidfile(&dir.path().join("m.pid"), "12abc\n");
    age(&dir.path().join("e.pid"), 60);
    age(&dir.path().join("m.pid"), 60);
    let r = apply(journal.path(), dir.path());
    let doc = r.json();
    let z = refused(&doc, &dir.path().join("z.pid"));
    assert_eq!(z["reason"], "zombie");
    assert_eq!(z["parent"]["pid"], parent.pid);
    assert!(!dir.path().join("e.pid").exists());
    assert!(!dir.path().join("m.pid").exists());
    assert_eq!(r.code, 1);
}

/// A pidfile audited through a symlinked directory is journaled under the directory's real path,
/// so undo (which never follows a link) restores it.
#[test]
fn undo_after_fix_through_a_symlinked_directory() {
    let root = open_tempdir();
    let real = root.path().join("real");
    std::fs::create_dir(&real).unwrap();
    std::os::unix::fs::symlink(&real, root.path().join("link")).unwrap();
    write_pid(&real.join("x.pid"), dead_pid());
    let journal = tempfile::tempdir().unwrap();
    let r = apply(journal.path(), &root.path().join("link").join("x.pid"));
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    assert!(!real.join("x.pid").exists());
    let u = undo(journal.path(), &[]);
    assert_eq!(u.code, 0, "{}", u.stdout);
    assert!(real.join("x.pid").exists());
}

/// `fix --apply` SIGKILLed at random points: after each kill, `undo` of the run (when it got far
/// enough to have one) brings every file back byte for byte with owner, mode and mtime.
#[test]
fn killed_apply_is_undone() {
    let dir = open_tempdir();
    let journal = tempfile::tempdir().unwrap();
    for i in 0..30 {
        let p = dir.path().join(format!("k{i}.pid"));
        write_pid(&p, dead_pid());
        std::os::unix::fs::chown(&p, Some(0), Some(NOBODY)).unwrap();
        chmod(&p, 0o640);
    }
    let original = listing(dir.path());
    let strip = |l: BTreeMap<String, (u64, i64, i64, u32, Vec<u8>)>| {
        l.into_iter()
            .map(|(k, (_, s, ns, m, b))| (k, (s, ns, m, b)))
            .collect::<BTreeMap<_, _>>()
    };
    let original = strip(original);
    kill_applies_and_undo(journal.path(), dir.path(), 40, || {
        assert_eq!(strip(listing(dir.path())), original)
    });
}

/// Undo restores only into the directory the file was removed from: a new directory at the same
/// path (another inode) is refused.
#[test]
fn undo_refuses_a_replaced_directory() {
    let root = open_tempdir();
    let run_dir = root.path().join("run");
    std::fs::create_dir(&run_dir).unwrap();
    write_pid(&run_dir.join("x.pid"), dead_pid());
    let journal = tempfile::tempdir().unwrap();
    assert_eq!(apply(journal.path(), &run_dir).code, 0);
    std::fs::rename(&run_dir, root.path().join("old")).unwrap();
    std::fs::create_dir(&run_dir).unwrap();
    let u = undo(journal.path(), &[]);
    assert_eq!(u.code, 1, "{}", u.stdout);
    assert!(u.stdout.contains("not the directory"), "{}", u.stdout);
    assert_eq!(std::fs::read_dir(&run_dir).unwrap().count(), 0);
}

/// A process table that is not the live /proc (`--proc-root`) can be planned against, never
/// applied: every removal is refused as `not-live`.
#[test]
fn foreign_proc_root_is_never_applied() {
    let dir = open_tempdir();
    let path = dir.path().join("s.pid");
    // No process of the fixture has this PID: stale there.
    write_pid(&path, 30_001);
    let proc_root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/proc/host");
    let journal = tempfile::tempdir().unwrap();
    let r = fix(&[
        "--apply",
        "--yes",
        "--format",
        "json",
        "--journal",
        journal.path().to_str().unwrap(),
        "--proc-root",
        proc_root.to_str().unwrap(),
        dir.path().to_str().unwrap(),
    ]);
    let doc = r.json();
    assert!(doc["actions"].as_array().unwrap().is_empty(), "{doc:#}");
    assert_eq!(r.code, 1);
    assert!(path.exists());
    assert_eq!(refused(&doc, &path)["reason"], "not-live", "{doc:#}");
}

/// A PID reused between the plan and the act (forced with `ns_last_pid`): a stale file's PID
/// handed to a new process, and a reused PID handed on to yet another process, both skip.
#[test]
fn pid_reused_between_plan_and_apply_skips() {
    let dir = open_tempdir();
    let path = dir.path().join("stale.pid");
    let dead = dead_pid();
    write_pid(&path, dead);
    let p = planned(dir.path());
    assert!(matches!(
        p.plan.actions[0].basis.pid,
        pidaudit::fix::PidBasis::Dead { .. }
    ));
    let mut reuser = sleep_with_pid(dead);
    let e = remove_now(&p).unwrap_err();
    assert!(e.contains("in use again"), "{e}");
    assert!(path.exists());

    // Now `reused`: the file is older than the process at its PID. Replace that process by
    // another at the same PID between plan and act.
    std::fs::remove_file(&path).unwrap();
    let path = dir.path().join("reused.pid");
    write_pid(&path, dead);
    age(&path, 60);
    let p = planned(dir.path());
    assert!(
        matches!(p.plan.actions[0].basis.pid, pidaudit::fix::PidBasis::Same { pid, .. } if pid == dead),
        "{:#?}",
        p.plan
    );
    let _ = reuser.kill();
    let _ = reuser.wait();
    std::thread::sleep(Duration::from_millis(20));
    let mut again = sleep_with_pid(dead);
    let e = remove_now(&p).unwrap_err();
    assert!(e.contains("another process"), "{e}");
    assert!(path.exists());
    let _ = again.kill();
    let _ = again.wait();
}

/// A daemon that starts while its stale pidfile is being removed (it creates or opens the file,
/// locks it with `LOCK_NB`, and checks that the path still names the locked inode, as careful
/// daemons do): whatever the interleaving, a daemon that runs has its PID in the file at the path,
/// and one that does not run was told the file was locked.
#[test]
fn daemon_starting_during_removal() {
    let script = r#"
import fcntl, os, sys, time
p = sys.argv[1]
for _ in range(50):
    fd = os.open(p, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        print("locked", flush=True)
        sys.exit(1)
    try:
        st = os.stat(p)
    except FileNotFoundError:
        os.close(fd)
        continue
    if st.st_ino != os.fstat(fd).st_ino:
        os.close(fd)
        continue
    os.ftruncate(fd, 0)
    os.write(fd, b"%d\n" % os.getpid())
    print("running", flush=True)
    time.sleep(100)
print("gave up", flush=True)
"#;
    let dir = open_tempdir();
    let journal = tempfile::tempdir().unwrap();
    let path = dir.path().join("d.pid");
    let mut seen = BTreeMap::new();
    for i in 0..30u64 {
        write_pid(&path, dead_pid());
        // The daemon first (Python takes tens of milliseconds to reach its open), the fix after
        // a delay that varies from run to run, so the two meet at different points.
        let mut daemon = std::process::Command::new("python3")
            .args(["-c", script])
            .arg(&path)
            .stdout(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        std::thread::sleep(Duration::from_micros((i * 7919) % 60_000));
        let fixer = pidaudit()
            .args(["fix", "--apply", "--yes", "--journal"])
            .arg(journal.path())
            .arg(dir.path())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        let mut line = String::new();
        std::io::BufRead::read_line(
            &mut std::io::BufReader::new(daemon.stdout.take().unwrap()),
            &mut line,
        )
        .unwrap();
        let fixed = fixer.wait_with_output().unwrap();
        assert!(matches!(fixed.status.code(), Some(0 | 1)));
        match line.trim() {
            "running" => {
                let content = std::fs::read_to_string(&path).unwrap();
                assert_eq!(content, format!("{}\n", daemon.id()));
            }
            "locked" => {}
            other => panic!("daemon: {other}"),
        }
        *seen.entry(line.trim().to_string()).or_insert(0) += 1;
        let _ = daemon.kill();
        let _ = daemon.wait();
    }
    eprintln!("daemon starting during removal: {seen:?}");
}
