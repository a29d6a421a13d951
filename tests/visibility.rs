//! What the audit can and cannot see: processes whose main thread exited (state `Z`, alive), and
//! what an unprivileged or namespaced auditor cannot read.

mod common;
use common::*;

use std::io::BufRead;
use std::path::Path;
use std::process::{Command, Stdio};

/// A daemon that opens its pidfile (the first argument), takes an exclusive flock on it, writes its
/// PID, starts a thread, prints its PID and ends its main thread with `pthread_exit()`: its state is
/// `Z` from then on, while its thread (and the lock) live on.
const LEADER_EXITS_C: &str = r#"
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <sys/file.h>
#include <unistd.h>
static void *serve(void *arg) { (void)arg; for (;;) pause(); return 0; }
int main(int argc, char **argv) {
    pthread_t t;
    int fd;
    if (argc < 2) return 2;
    fd = open(argv[1], O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (fd < 0 || flock(fd, LOCK_EX | LOCK_NB)) return 1;
    if (ftruncate(fd, 0) || dprintf(fd, "%d\n", (int)getpid()) < 0) return 1;
    if (pthread_create(&t, 0, serve, 0)) return 1;
    printf("%d\n", (int)getpid());
    fflush(stdout);
    pthread_exit(0);
}
"#;

/// Starts the program locking `pidfile` and waits until its main thread has exited.
fn start_leader_exits(exe: &Path, pidfile: &Path) -> Daemon {
    let mut child = spawn(Command::new(exe).arg(pidfile).stdout(Stdio::piped()));
    let mut line = String::new();
    std::io::BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let daemon = Daemon::from_child(child);
    assert_eq!(line.trim(), daemon.pid.to_string());
    wait_until("the main thread's exit", || {
        let status = std::fs::read_to_string(format!("/proc/{}/status", daemon.pid)).unwrap();
        status.contains("State:\tZ") && status.contains("Threads:\t2")
    });
    daemon
}

/// A daemon whose main thread exited (state `Z`, one thread left) still holds the flock on its
/// pidfile: it is the lock's holder (found through its live thread's descriptors, since the exited
/// leader's `/proc/PID/fd` is empty), so the file is neither `unlocked` nor missing its holder. When
/// a second start deletes that file and writes another, the locked earlier file is found:
/// `replaced-while-locked` names the daemon.
#[test]
fn exited_main_thread_holds_its_lock() {
    let dir = open_tempdir();
    let name = unique_name("lead");
    let exe = build_c(dir.path(), &name, LEADER_EXITS_C);
    let pf = dir.path().join(format!("{name}.pid"));
    let daemon = start_leader_exits(&exe, &pf);
    let e = audit_one(&pf, &[]);
    assert_eq!(e["state"], "running", "{e:#}");
    assert_eq!(codes(&e), vec!["main-thread-exited"], "{e:#}");
    let lock = &e["lock"];
    assert_eq!(lock["locked"], true, "{e:#}");
    assert_eq!(lock["kind"], "flock", "{e:#}");
    assert_eq!(lock["holders"][0]["pid"], daemon.pid, "{e:#}");
    assert!(lock["holders"][0]["fd"].is_u64(), "{e:#}");
    // A second start removes the locked file and writes a PID of its own (dead by now).
    std::fs::remove_file(&pf).unwrap();
    write_pid(&pf, dead_pid());
    let (_, doc) = audit_path(&pf, &[]);
    let e = pidfile(&doc, &pf);
    let f = finding(e, "replaced-while-locked");
    assert_eq!(f["evidence"]["holder_pid"], daemon.pid, "{e:#}");
    assert_eq!(f["evidence"]["deleted"], true, "{e:#}");
}
