//! Targets and names against real processes: thread IDs, kernel threads, PID 1, name mismatches.

mod common;
use common::*;
use std::process::Command;

/// A real thread ID (a second thread of a live Python daemon) is `thread-id` and `invalid`, with the
/// thread-group leader in the evidence; the leader's own PID is `running`.
#[test]
fn thread_id_is_not_a_process() {
    let dir = tempfile::tempdir().unwrap();
    // Unnamed (python3): a daemon named after the file would be an untracked instance of it.
    let (_, pf) = unique_pidfile(dir.path(), "testd");
    let d = Testd::without_pidfile().threads(1).start();
    let tid: u32 = std::fs::read_dir(format!("/proc/{}/task", d.pid))
        .unwrap()
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse().ok())
        .find(|&t| t != d.pid)
        .expect("the daemon has a second thread");
    write_pid(&pf, tid);
    let (code, doc) = audit_path(&pf, &[]);
    assert_eq!(code, 1);
    let e = pidfile(&doc, &pf);
    assert_eq!(e["state"], "invalid", "{e:#}");
    let f = only_finding(e);
    assert_eq!(f["code"], "thread-id");
    assert_eq!(f["severity"], "error");
    assert_eq!(f["evidence"]["pid"], tid);
    assert_eq!(f["evidence"]["tgid"], d.pid);
    write_pid(&pf, d.pid);
    let e = audit_one(&pf, &[]);
    assert_eq!(e["state"], "running", "{e:#}");
    // Its only finding: this daemon does not lock its pidfile.
    assert_eq!(codes(&e), vec!["unlocked"], "{e:#}");
}

/// A live kernel thread (kthreadd, PID 2, where visible) is `kernel-thread` and `invalid`.
#[test]
fn kernel_thread_is_not_a_daemon() {
    const PF_KTHREAD: u64 = 0x0020_0000;
    let kthread = |pid: u32| {
        std::fs::read_to_string(format!("/proc/{pid}/stat"))
            .ok()
            .and_then(|s| {
                let rest = s.rsplit_once(')')?.1.to_string();
                let flags: u64 = rest.split_whitespace().nth(6)?.parse().ok()?;
                Some(flags & PF_KTHREAD != 0)
            })
            .unwrap_or(false)
    };
    let pid = std::iter::once(2)
        .chain(
            std::fs::read_dir("/proc")
                .unwrap()
                .flatten()
                .filter_map(|e| e.file_name().to_str()?.parse().ok()),
        )
        .find(|&p| kthread(p));
    let Some(pid) = pid else {
        eprintln!("no kernel thread is visible in this PID namespace; covered by the fixtures");
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let (_, pf) = unique_pidfile(dir.path(), "mydmn");
    write_pid(&pf, pid);
    let e = audit_one(&pf, &[]);
    assert_eq!(e["state"], "invalid", "{e:#}");
    let f = only_finding(&e);
    assert_eq!(f["code"], "kernel-thread");
    assert_eq!(f["evidence"]["pid"], pid);
}

/// A pidfile naming PID 1 is `targets-init` whatever PID 1 is (systemd, a VM agent, a container's
/// init), including a file whose name says nothing; a file named after PID 1 itself (a container
/// whose daemon is PID 1) is not.
#[test]
fn pid_one_is_init() {
    let comm = std::fs::read_to_string("/proc/1/comm").unwrap();
    let comm = comm.trim_end_matches('\n');
    let dir = tempfile::tempdir().unwrap();
    for name in ["zzqdaemon.pid", "x.pid", "pid"] {
        let pf = dir.path().join(name);
        write_pid(&pf, 1);
        let (code, doc) = audit_path(&pf, &[]);
        let e = pidfile(&doc, &pf);
        assert_eq!(code, 1, "{name}: {e:#}");
        assert_eq!(e["state"], "invalid", "{name}: {e:#}");
        let f = only_finding(e);
        assert_eq!(f["code"], "targets-init", "{name}");
        assert_eq!(f["evidence"]["comm"], comm);
    }
    let own = dir.path().join(format!("{}.pid", comm.replace('/', "_")));
    write_pid(&own, 1);
    let e = audit_one(&own, &[]);
    assert_eq!(e["state"], "running", "{e:#}");
    // PID 1 holds no lock on this file: informational only.
    assert_eq!(codes(&e), vec!["unlocked"], "{e:#}");
}

/// `nginx-….pid` naming a process called `nginx-…` (a copy of sleep) is clean; naming a bash is
/// `name-mismatch`, a warning that leaves the state `running`. (The name is unique: a real nginx
/// running on the machine would be an orphaned instance of a plain `nginx.pid` naming a bash.)
#[test]
fn name_mismatch_with_real_processes() {
    let dir = tempfile::tempdir().unwrap();
    let bin = tempfile::tempdir().unwrap();
    let (name, pf) = unique_pidfile(dir.path(), "nginx");
    let nginx = named_sleep(bin.path(), &name);
    write_pid(&pf, nginx.pid);
    let e = audit_one(&pf, &[]);
    assert_eq!(e["state"], "running");
    assert_eq!(e["process"]["comm"], name.as_str());
    // Its only finding: this copy of sleep does not lock its pidfile.
    assert_eq!(codes(&e), vec!["unlocked"], "{e:#}");

    // Without the nginx copy running (it would be an orphaned instance once the file names another
    // process). bash itself waits (a child it forked would outlive the kill and hold the output).
    drop(nginx);
    let bash = Daemon::from_child(
        Command::new("bash")
            .arg("-c")
            .arg("read -r _")
            .stdin(std::process::Stdio::piped())
            .spawn()
            .unwrap(),
    );
    wait_until("bash to exec", || comm(bash.pid) == "bash");
    write_pid(&pf, bash.pid);
    let (code, doc) = audit_path(&pf, &[]);
    assert_eq!(code, 0, "a warning is below the default threshold");
    let e = pidfile(&doc, &pf);
    assert_eq!(e["state"], "running");
    assert_eq!(codes(e), vec!["unlocked", "name-mismatch"], "{e:#}");
    let f = finding(e, "name-mismatch");
    assert_eq!(f["severity"], "warning");
    assert_eq!(f["evidence"]["comm"], "bash");
    assert_eq!(f["evidence"]["file_tokens"][0], "nginx");
    assert_eq!(run(&["--fail-on", "warning", pf.to_str().unwrap()]).code, 1);
}

/// A daemon whose pidfile is named after its service, not its program (`billing-….pid` written by
/// a `python3 -c` daemon whose arguments do not name the file), and that holds the file's write
/// lock, is that daemon: no `name-mismatch`. The same daemon without the lock is a warning.
#[test]
fn locked_daemon_is_not_a_name_mismatch() {
    let dir = tempfile::tempdir().unwrap();
    let daemon = |pf: &std::path::Path, lock: bool| {
        let code = format!(
            "import fcntl, os, time\nf = open(os.environ['PF'], 'w')\n{}f.write('%d\\n' % os.getpid()); f.flush()\nprint('ready', flush=True)\ntime.sleep(1000)",
            if lock { "fcntl.flock(f, fcntl.LOCK_EX)\n" } else { "" }
        );
        spawn_ready(
            Command::new("python3").args(["-c", &code]).env("PF", pf),
            "ready",
        )
    };
    let (_, locked_pf) = unique_pidfile(dir.path(), "billing");
    let locked = daemon(&locked_pf, true);
    let e = audit_one(&locked_pf, &[]);
    assert_eq!(e["state"], "running", "{e:#}");
    assert_eq!(e["process"]["pid"], locked.pid);
    assert!(codes(&e).is_empty(), "{e:#}");
    let (_, open_pf) = unique_pidfile(dir.path(), "billing");
    let _unlocked = daemon(&open_pf, false);
    let e = audit_one(&open_pf, &[]);
    assert_eq!(codes(&e), vec!["unlocked", "name-mismatch"], "{e:#}");
}
