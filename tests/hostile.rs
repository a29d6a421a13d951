//! Hostile input: each case asserts the exact outcome, and that the run ends (the harness kills it
//! after 30 s) without a panic. Hostile content has its table in tests/content.rs.

mod common;
use common::*;
use std::os::unix::fs::{symlink, MetadataExt};
use std::path::{Path, PathBuf};
use std::process::Command;

/// Runs a Python program with `arg` and waits for it to print `ready`; killed when dropped.
fn python_ready(code: &str, arg: &Path, ready: &str) -> Daemon {
    spawn_ready(Command::new("python3").args(["-c", code]).arg(arg), ready)
}

/// A FIFO is never opened, with no writer (open would block) or with a writer that never writes.
#[test]
fn fifos_are_not_opened() {
    let dir = open_tempdir();
    let lonely = dir.path().join("lonely.pid");
    let silent = dir.path().join("silent.pid");
    mkfifo(&lonely);
    mkfifo(&silent);
    // A writer that holds the FIFO open and never writes.
    let _writer = python_ready(
        "import os,sys,time; fd=os.open(sys.argv[1], os.O_RDWR); print('open', flush=True); time.sleep(1000)",
        &silent,
        "open",
    );
    let doc = audit_path(dir.path(), NO_UNLOCKED).1;
    for f in [&lonely, &silent] {
        let e = pidfile(&doc, f);
        assert_eq!(e["state"], "not-a-file", "{e:#}");
        assert_eq!(codes(e), vec!["not-a-file"]);
        assert_eq!(finding(e, "not-a-file")["evidence"]["kind"], "fifo");
    }
}

/// A device node is never opened (opening runs driver code).
#[test]
fn device_node_is_not_opened() {
    let dir = open_tempdir();
    let dev = dir.path().join("dev.pid");
    mknod(&dev, false, 1, 5); // /dev/zero
    let e = audit_one(&dev, NO_UNLOCKED);
    assert_eq!(e["state"], "not-a-file");
    assert_eq!(codes(&e), vec!["not-a-file"]);
    assert_eq!(finding(&e, "not-a-file")["evidence"]["kind"], "char-device");
}

/// A symlink to /dev/zero is followed (root's chain is safe) up to the device, which is not opened.
#[test]
fn symlink_to_dev_zero() {
    let dir = open_tempdir();
    let link = dir.path().join("zero.pid");
    symlink("/dev/zero", &link).unwrap();
    let e = audit_one(&link, NO_UNLOCKED);
    assert_eq!(e["state"], "not-a-file", "{e:#}");
    assert_eq!(codes(&e), vec!["symlink", "not-a-file"]);
    let s = finding(&e, "symlink");
    assert_eq!(s["evidence"]["chain_safe"], true);
    assert_eq!(s["evidence"]["resolved"], "/dev/zero");
    assert_eq!(finding(&e, "not-a-file")["evidence"]["kind"], "char-device");
    assert_eq!(e["trusted"], false);
}

/// A symlink loop ends in a refusal, not a hang.
#[test]
fn symlink_loop() {
    let dir = open_tempdir();
    let a = dir.path().join("a.pid");
    let b = dir.path().join("b.pid");
    symlink("b.pid", &a).unwrap();
    symlink("a.pid", &b).unwrap();
    let self_loop = dir.path().join("self.pid");
    symlink("self.pid", &self_loop).unwrap();
    let doc = audit_path(dir.path(), NO_UNLOCKED).1;
    for f in [&a, &b, &self_loop] {
        let e = pidfile(&doc, f);
        assert_eq!(e["state"], "not-a-file", "{e:#}");
        assert_eq!(codes(e), vec!["symlink"]);
        let s = finding(e, "symlink");
        assert_eq!(s["evidence"]["chain_safe"], false);
        assert_eq!(s["evidence"]["reason"], "loop");
    }
}

/// A sparse 1 GB file is judged oversize from its size, without being read.
#[test]
fn sparse_gigabyte() {
    let dir = open_tempdir();
    let pf = dir.path().join("sparse.pid");
    let f = std::fs::File::create(&pf).unwrap();
    f.set_len(1 << 30).unwrap();
    drop(f);
    let e = audit_one(&pf, NO_UNLOCKED);
    assert_eq!(e["state"], "invalid");
    assert_eq!(codes(&e), vec!["malformed"]);
    let m = finding(&e, "malformed");
    assert_eq!(m["evidence"]["reason"], "oversize");
    assert_eq!(m["evidence"]["size"], 1u64 << 30);
}

/// A live writer rewriting its pidfile in a truncate-then-write loop is never judged empty, PID 0,
/// malformed, stale or anything but running; `unknown` only as "kept changing" or "emptied moments
/// ago". On tmpfs and on the disk-backed temporary directory (where a truncate waits for writeback).
#[test]
fn concurrent_truncate_then_write() {
    let mut dirs = vec![open_tempdir()];
    if Path::new("/dev/shm").is_dir() {
        dirs.push(tempfile::tempdir_in("/dev/shm").unwrap());
    }
    for dir in &dirs {
        let pf = dir.path().join("python3.pid");
        let w = python_ready(
            "import os,sys\n\
             p=sys.argv[1]; pid=b'%d\\n' % os.getpid()\n\
             fd=os.open(p, os.O_WRONLY|os.O_CREAT, 0o644); os.write(fd, pid); os.close(fd)\n\
             print('go', flush=True)\n\
             while True:\n    fd=os.open(p, os.O_WRONLY|os.O_TRUNC)\n    os.write(fd, pid)\n    os.close(fd)\n",
            &pf,
            "go",
        );
        let mut seen = std::collections::BTreeMap::new();
        for _ in 0..150 {
            let doc = audit_path(&pf, NO_UNLOCKED).1;
            let e = pidfile(&doc, &pf);
            let state = e["state"].as_str().unwrap().to_string();
            match state.as_str() {
                "running" => {
                    assert_eq!(e["pid"], w.pid);
                    assert!(codes(e).is_empty(), "{e:#}");
                }
                "unknown" => {
                    assert_eq!(codes(e), vec!["unreadable"], "{e:#}");
                    let m = finding(e, "unreadable")["message"].as_str().unwrap();
                    assert!(
                        m.contains("kept changing") || m.contains("emptied moments ago"),
                        "{e:#}"
                    );
                }
                other => panic!("judged {other} while a live PID was being written: {e:#}"),
            }
            *seen.entry(state).or_insert(0) += 1;
        }
        eprintln!("truncate-then-write in {}: {seen:?}", dir.path().display());
    }
}

/// A mode-000 file audited by an unprivileged user is unreadable (EACCES), never stale or invalid.
#[test]
fn mode_000_as_unprivileged_user() {
    let dir = open_tempdir();
    let pf = dir.path().join("secret.pid");
    write_pid(&pf, dead_pid());
    chmod(&pf, 0o000);
    let (_, doc) = audit_cmd(as_nobody(BIN).args(["--format", "json"]).arg(&pf));
    let e = pidfile(&doc, &pf);
    assert_eq!(e["state"], "unreadable", "{e:#}");
    assert_eq!(codes(e), vec!["unreadable"]);
    assert_eq!(finding(e, "unreadable")["evidence"]["errno"], 13);
    assert!(e["pid"].is_null());
}

/// A fresh proc instance mounted with hidepid=2, unmounted on drop.
struct HiddenProc(PathBuf);

impl Drop for HiddenProc {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.0).status();
    }
}

/// With /proc mounted hidepid=2, an unprivileged audit of a root daemon's pidfile is unknown
/// (hidden-process), not stale; a dead PID is still stale.
#[test]
fn hidepid_as_unprivileged_user() {
    let dir = open_tempdir();
    let proc = dir.path().join("proc");
    std::fs::create_dir(&proc).unwrap();
    let st = Command::new("mount")
        .args(["-t", "proc", "-o", "hidepid=2", "proc"])
        .arg(&proc)
        .status()
        .unwrap();
    assert!(
        st.success(),
        "mount a proc instance with hidepid=2 (needs root)"
    );
    let _mounted = HiddenProc(proc.clone());
    let d = named_sleep(dir.path(), "mydaemon");
    let pf = dir.path().join("mydaemon.pid");
    write_pid(&pf, d.pid);
    let gone = dir.path().join("gone.pid");
    write_pid(&gone, dead_pid());
    let (_, doc) = audit_cmd(
        as_nobody(BIN)
            .args(["--format", "json", "--proc-root"])
            .arg(&proc)
            .arg(&pf)
            .arg(&gone),
    );
    let e = pidfile(&doc, &pf);
    assert_eq!(e["state"], "unknown", "{e:#}");
    assert_eq!(codes(e), vec!["hidden-process"]);
    let e = pidfile(&doc, &gone);
    assert_eq!(e["state"], "stale", "{e:#}");
    // The same files as root: the daemon is visible and running.
    let (_, doc) = audit_cmd(
        pidaudit()
            .args(["--format", "json", "--proc-root"])
            .arg(&proc)
            .arg(&pf),
    );
    assert_eq!(pidfile(&doc, &pf)["state"], "running");
}

/// Processes exiting while they are audited end as running, zombie or stale: never invalid,
/// unreadable or unknown.
#[test]
fn processes_exiting_mid_read() {
    let dir = open_tempdir();
    let mut children = Vec::new();
    for i in 0..60 {
        let child = Command::new("sleep")
            .arg(format!("0.{:02}", i % 20 + 1))
            .spawn()
            .unwrap();
        write_pid(&dir.path().join(format!("{i}.pid")), child.id());
        children.push(child);
    }
    // Reap them as they exit, while the audits run.
    let reaper = std::thread::spawn(move || {
        for mut c in children {
            let _ = c.wait();
        }
    });
    let mut seen = std::collections::BTreeMap::new();
    for _ in 0..15 {
        let doc = audit_path(dir.path(), NO_UNLOCKED).1;
        for e in doc["pidfiles"].as_array().unwrap() {
            let state = e["state"].as_str().unwrap().to_string();
            assert!(
                matches!(state.as_str(), "running" | "zombie" | "stale"),
                "{e:#}"
            );
            *seen.entry(state).or_insert(0) += 1;
        }
    }
    reaper.join().unwrap();
    let doc = audit_path(dir.path(), NO_UNLOCKED).1;
    assert_eq!(
        doc["summary"]["by_state"]["stale"], 60,
        "all gone at the end"
    );
    eprintln!("states seen while exiting: {seen:?}");
}

/// A directory swapped for a symlink to a directory outside the tree while the tree is walked:
/// nothing outside is ever reported, and the outside pidfile is never read (its atime is unchanged).
#[test]
fn directory_swapped_for_symlink_mid_walk() {
    let base = open_tempdir();
    let tree = base.path().join("tree");
    let sub = tree.join("sub");
    std::fs::create_dir_all(&sub).unwrap();
    write_pid(&sub.join("inside.pid"), dead_pid());
    let outside = base.path().join("outside");
    std::fs::create_dir(&outside).unwrap();
    let secret = outside.join("outside.pid");
    write_pidfile(&secret, "424242\n");
    // atime older than mtime: under relatime (and strictatime) any read moves it.
    let old = std::time::SystemTime::now() - std::time::Duration::from_secs(3600);
    std::fs::File::options()
        .write(true)
        .open(&secret)
        .unwrap()
        .set_times(std::fs::FileTimes::new().set_accessed(old))
        .unwrap();
    let atime_before = std::fs::metadata(&secret).unwrap().atime();
    let racer = Command::new("python3")
        .arg("-c")
        .arg(
            "import os,sys\n\
             sub, real, out = sys.argv[1], sys.argv[1] + '.real', sys.argv[2]\n\
             while True:\n\
             \x20   os.rename(sub, real); os.symlink(out, sub)\n\
             \x20   os.unlink(sub); os.rename(real, sub)\n",
        )
        .arg(&sub)
        .arg(&outside)
        .spawn()
        .unwrap();
    let _racer = Daemon::from_child(racer);
    let mut inside_seen = 0;
    for _ in 0..150 {
        let doc = audit_path(&tree, NO_UNLOCKED).1;
        let text = doc.to_string();
        assert!(!text.contains("outside.pid"), "{doc:#}");
        assert!(!text.contains("424242"), "{doc:#}");
        for e in doc["pidfiles"].as_array().unwrap() {
            let path = e["path"].as_str().unwrap();
            assert!(path.starts_with(tree.to_str().unwrap()), "{path}");
            inside_seen += 1;
        }
    }
    drop(_racer);
    assert_eq!(
        std::fs::metadata(&secret).unwrap().atime(),
        atime_before,
        "the file outside the tree was read"
    );
    eprintln!("directory swap: {inside_seen} inside pidfiles audited over 150 walks");
}
