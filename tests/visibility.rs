//! What the audit can and cannot see: processes whose main thread exited (state `Z`, alive), and
//! what an unprivileged or namespaced auditor cannot read.

mod common;
use common::*;

use std::io::BufRead;
use std::path::{Path, PathBuf};
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

/// Run unprivileged (a common Nagios setup), the audit cannot read root processes' executables or
/// descriptors. What root sees as `duplicate-instance` and `replaced-while-locked` must not vanish
/// into a clean report: each pidfile says what could not be seen (`not-visible`, unknown), naming
/// the processes out of reach.
#[test]
fn unprivileged_audit_says_what_it_could_not_see() {
    let dir = open_tempdir();
    // Two copies of one daemon: the pidfile tracks the first.
    let (dup_name, dup_pf) = unique_pidfile(dir.path(), "dup");
    let first = named_sleep(dir.path(), &dup_name);
    let second = named_sleep(dir.path(), &dup_name);
    write_pid(&dup_pf, first.pid);
    // A daemon whose locked pidfile a second start deleted and wrote again.
    let (name, pf) = unique_pidfile(dir.path(), "repl");
    let locked = Testd::new(&pf).name(&name).lock(Lock::Flock).start();
    let _again = Testd::new(&pf)
        .name(&name)
        .lock(Lock::Flock)
        .unlink_first()
        .start();
    let args = ["--format", "json", "--ignore", "unlocked"];
    // Root sees both problems.
    let (_, doc) = audit_cmd(pidaudit().args(args).arg(&dup_pf).arg(&pf));
    let e = pidfile(&doc, &dup_pf);
    assert_eq!(codes(e), vec!["duplicate-instance"], "{e:#}");
    let e = pidfile(&doc, &pf);
    // The first copy's command line names the pidfile: it is also a duplicate.
    assert_eq!(
        codes(e),
        vec!["replaced-while-locked", "duplicate-instance"],
        "{e:#}"
    );
    assert_eq!(
        finding(e, "replaced-while-locked")["evidence"]["holder_pid"],
        locked.pid
    );
    // Nobody sees neither, and says so.
    let (_, doc) = audit_cmd(as_nobody(BIN).args(args).arg(&dup_pf).arg(&pf));
    let e = pidfile(&doc, &dup_pf);
    // On a machine whose other locks make /proc/locks longer than one read, the daemon's own
    // descriptors must confirm "no lock", and nobody cannot read them: that is said too.
    let mut got = codes(e);
    got.retain(|c| {
        c != "locks-unknown"
            || finding(e, "locks-unknown")["evidence"]["reads"]
                .as_u64()
                .is_none_or(|r| r <= 1)
    });
    assert_eq!(got, vec!["not-visible"], "{e:#}");
    let f = finding(e, "not-visible");
    assert_eq!(f["severity"], "unknown");
    assert_eq!(f["evidence"]["incomplete"], "duplicate-instance");
    assert_eq!(f["evidence"]["pids"], serde_json::json!([second.pid]));
    // The earlier instance's command line, which anyone can read, names the pidfile: a duplicate
    // even unprivileged. Its lock and descriptors are out of reach: said so.
    let e = pidfile(&doc, &pf);
    let unseen = findings_with(e, "not-visible");
    assert_eq!(codes(e).len(), unseen.len() + 1, "{e:#}");
    assert_eq!(
        finding(e, "duplicate-instance")["evidence"]["duplicates"],
        serde_json::json!([locked.pid])
    );
    let f = unseen
        .iter()
        .find(|f| f["evidence"]["incomplete"] == "replaced-while-locked")
        .unwrap_or_else(|| panic!("{e:#}"));
    assert_eq!(f["evidence"]["pids"], serde_json::json!([locked.pid]));
    assert_eq!(f["evidence"]["errno"], 13);
    for f in unseen {
        assert!(f["evidence"]["pids"]
            .as_array()
            .unwrap()
            .contains(&locked.pid.into()));
    }
    drop(first);
}

/// Under `hidepid=invisible`, an unprivileged audit of a root daemon holding a flock on its pidfile
/// does not contradict itself: the daemon is hidden but alive (`hidden-process`), so the lock's
/// acquirer is not said to have exited (`inherited-lock`) either. Run in a PID namespace of its own
/// with its own /proc, remounted `hidepid=invisible` in a private mount namespace.
#[test]
fn hidepid_report_does_not_contradict_itself() {
    let dir = open_tempdir();
    let (name, pf) = unique_pidfile(dir.path(), "hide");
    let testd = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/support/testd.py");
    let out = dir.path().join("testd.out");
    let report = dir.path().join("report.json");
    let script = format!(
        "mount -o remount,hidepid=invisible /proc || exit 97
python3 {testd} --ids --pidfile {pf} --name {name} --lock flock > {out} &
while [ ! -s {out} ]; do sleep 0.02; done
{nobody} {bin} --format json {pf} > {report}
echo $?",
        testd = testd.display(),
        pf = pf.display(),
        out = out.display(),
        report = report.display(),
        nobody = SETPRIV_NOBODY.join(" "),
        bin = BIN,
    );
    let r = run_cmd(
        Command::new("unshare")
            .args(["--mount", "--pid", "--fork", "--mount-proc", "--kill-child"])
            .args(["sh", "-c", &script]),
    );
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    let status: i32 = r.stdout.trim().parse().unwrap();
    assert!(status == 0 || status == 1, "{}", r.stdout);
    let doc: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&report).unwrap()).unwrap();
    let e = pidfile(&doc, &pf);
    assert_eq!(e["state"], "unknown", "{e:#}");
    assert_eq!(codes(e), vec!["hidden-process"], "{e:#}");
    assert_eq!(e["lock"]["locked"], true, "{e:#}");
}

/// Files written inside a container's PID namespace hold its numbers: `1` (its init) and `2` (its
/// first child) name the host's init and kthreadd, which write no pidfiles. Read from the host while
/// the container runs, they are `foreign-namespace` (unknown), not `targets-init` and
/// `kernel-thread`; the evidence says what the PID is here and which nested process has it there.
#[test]
fn container_pids_read_from_the_host_are_foreign() {
    let dir = open_tempdir();
    let name = unique_name("nsd");
    let exe = sleep_copy(dir.path(), &name);
    let one = dir.path().join("one.pid");
    let two = dir.path().join(format!("{name}.pid"));
    // sh is PID 1 of the new namespace, the copy of sleep PID 2.
    let script = format!(
        "{exe} 1000 & echo $! > {two}; echo $$ > {one}; echo ready; wait",
        exe = exe.display(),
        one = one.display(),
        two = two.display()
    );
    let _ns = spawn_ready(unshare_pid().args(["sh", "-c", &script]), "ready");
    assert_eq!(std::fs::read_to_string(&one).unwrap(), "1\n");
    assert_eq!(std::fs::read_to_string(&two).unwrap(), "2\n");
    let (_, doc) = audit_cmd(
        pidaudit()
            .args(["--format", "json", "--ignore", "unlocked"])
            .arg(&one)
            .arg(&two),
    );
    for (path, here, nested_comm) in [(&one, "init", "sh"), (&two, "kernel_thread", name.as_str())]
    {
        let e = pidfile(&doc, path);
        assert_eq!(e["state"], "unknown", "{e:#}");
        assert_eq!(codes(e), vec!["foreign-namespace"], "{e:#}");
        let f = finding(e, "foreign-namespace");
        assert_eq!(f["severity"], "unknown");
        assert_eq!(f["evidence"]["reason"], "nested_namespace", "{f:#}");
        assert_eq!(f["evidence"]["here"], here, "{f:#}");
        assert_eq!(f["evidence"]["nested_comm"], nested_comm, "{f:#}");
        assert_eq!(f["evidence"]["nspid"][1], e["pid"], "{f:#}");
    }
}

/// Without a nested namespace whose process could have written it, a `1` stays `targets-init`: a
/// file written before the container started cannot hold the container's PID.
#[test]
fn pid_one_older_than_every_container_targets_init() {
    let dir = open_tempdir();
    let planted = dir.path().join("planted.pid");
    write_pid(&planted, 1);
    // Dated a second after boot: older than any container.
    age(&planted, u64::MAX);
    let script = "echo ready; exec sleep 1000";
    let _ns = spawn_ready(unshare_pid().args(["sh", "-c", script]), "ready");
    let e = audit_one(&planted, NO_UNLOCKED);
    assert_eq!(e["state"], "invalid", "{e:#}");
    assert_eq!(codes(&e), vec!["targets-init"], "{e:#}");
}

/// A FUSE server (raw protocol on /dev/fuse, mounted with mount(2) through ctypes) at argv[1]
/// serving one file, `exe`, with the bytes of argv[2], and an empty directory `sub`. Entries and
/// attributes are never cached (valid 0 s), so every lookup and `stat` asks the server. It says `ready` once mounted; after SIGUSR1 it stops answering.
const SLOW_FUSE: &str = r#"
import ctypes, os, signal, struct, sys, time
mnt, src = sys.argv[1], sys.argv[2]
data = open(src, "rb").read()
frozen = False
def freeze(*_):
    global frozen
    frozen = True
signal.signal(signal.SIGUSR1, freeze)
fd = os.open("/dev/fuse", os.O_RDWR)
libc = ctypes.CDLL(None, use_errno=True)
opts = ("fd=%d,rootmode=40000,user_id=0,group_id=0,allow_other" % fd).encode()
if libc.mount(b"slowfuse", mnt.encode(), b"fuse", 0, opts) != 0:
    print("mount failed: %s" % os.strerror(ctypes.get_errno()), flush=True)
    sys.exit(1)
print("ready", flush=True)
def attr(ino):
    if ino in (1, 3):
        mode, size, nlink = 0o40755, 0, 2
    else:
        mode, size, nlink = 0o100755, len(data), 1
    t = int(time.time())
    return struct.pack("<QQQQQQIIIIIIIIII", ino, size, (size + 511) // 512, t, t, t, 0, 0, 0, mode, nlink, 0, 0, 0, 4096, 0)
def reply(unique, body=b"", err=0):
    os.write(fd, struct.pack("<IiQ", 16 + len(body), -err, unique) + body)
while True:
    try:
        req = os.read(fd, 1 << 20)
    except OSError:
        break
    if frozen:
        while True:
            time.sleep(1000)
    ln, op, unique, node = struct.unpack_from("<IIQQ", req)
    arg = req[40:]
    if op == 26:  # INIT
        major, minor, ra, flags = struct.unpack_from("<IIII", arg)
        reply(unique, struct.pack("<IIIIHHIIHHI", 7, 31, ra, 0, 16, 12, 65536, 1, 0, 0, 0) + b"\0" * 28)
    elif op == 1:  # LOOKUP
        name = arg.split(b"\0")[0]
        if node == 1 and name in (b"exe", b"sub"):
            ino = 2 if name == b"exe" else 3
            reply(unique, struct.pack("<QQQQII", ino, 0, 0, 0, 0, 0) + attr(ino))
        else:
            reply(unique, err=2)
    elif op == 3:  # GETATTR
        reply(unique, struct.pack("<QII", 0, 0, 0) + attr(node))
    elif op in (14, 27):  # OPEN, OPENDIR
        reply(unique, struct.pack("<QII", 0, 1 if op == 14 else 0, 0))
    elif op == 15:  # READ
        fh, off, size = struct.unpack_from("<QQI", arg)
        reply(unique, data[off:off + size])
    elif op in (18, 29, 25):  # RELEASE, RELEASEDIR, FLUSH
        reply(unique)
    elif op == 38:  # DESTROY
        break
    else:
        reply(unique, err=38)  # ENOSYS
"#;

/// A mounted FUSE server; on drop the server is killed (which aborts the connection and releases
/// every request waiting on it) and the mounts detached, last first.
struct Fuse {
    server: Option<Daemon>,
    mounts: Vec<PathBuf>,
}

impl Fuse {
    /// Mounts the server at `mnt`, serving the bytes of `exe` as `mnt/exe`, or `None` when this
    /// machine cannot (not root, no /dev/fuse).
    fn mount(script_dir: &Path, mnt: &Path, exe: &Path) -> Option<Fuse> {
        if !rustix::process::geteuid().is_root() || !Path::new("/dev/fuse").exists() {
            eprintln!("skipped: needs root and /dev/fuse");
            return None;
        }
        let script = script_dir.join("slowfuse.py");
        std::fs::write(&script, SLOW_FUSE).unwrap();
        let server = spawn_ready(
            Command::new("python3").arg(&script).arg(mnt).arg(exe),
            "ready",
        );
        Some(Fuse {
            server: Some(server),
            mounts: vec![mnt.to_path_buf()],
        })
    }

    /// Stops answering requests (from the next one on).
    fn freeze(&self) {
        let pid = self.server.as_ref().unwrap().pid as i32;
        let pid = rustix::process::Pid::from_raw(pid).unwrap();
        rustix::process::kill_process(pid, rustix::process::Signal::USR1).unwrap();
    }
}

impl Drop for Fuse {
    fn drop(&mut self) {
        drop(self.server.take());
        for m in self.mounts.iter().rev() {
            let _ = Command::new("umount").arg("-l").arg(m).status();
        }
    }
}

/// Runs a JSON audit of `pf`, failing the test (after killing the FUSE server, which alone
/// releases a process waiting on it) when it does not end within 15 s.
fn audit_beside(fuse: Fuse, pf: &Path, args: &[&str]) -> serde_json::Value {
    let mut audit = pidaudit()
        .args(["--format", "json"])
        .args(args)
        .arg(pf)
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(15);
    let status = loop {
        if let Some(status) = audit.try_wait().unwrap() {
            break status;
        }
        if std::time::Instant::now() > deadline {
            drop(fuse);
            let _ = audit.kill();
            let _ = audit.wait();
            panic!("the audit hung on the FUSE mount");
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    };
    drop(fuse);
    let mut out = String::new();
    std::io::Read::read_to_string(&mut audit.stdout.take().unwrap(), &mut out).unwrap();
    assert!(
        status.code() == Some(0) || status.code() == Some(1),
        "{out}"
    );
    serde_json::from_str(&out).unwrap()
}

/// A daemon whose executable is on a FUSE mount whose server stopped answering (a hung network
/// or FUSE filesystem) does not hang the audit: its executable is identified from cached
/// attributes (`AT_STATX_DONT_SYNC`), not by asking the server (before: the `stat` through
/// `/proc/PID/exe` waited for ever, uninterruptibly).
#[test]
fn executable_on_a_hung_fuse_mount_never_hangs_the_audit() {
    let dir = open_tempdir();
    let mnt = dir.path().join("mnt");
    std::fs::create_dir(&mnt).unwrap();
    let Some(fuse) = Fuse::mount(dir.path(), &mnt, Path::new("/bin/sleep")) else {
        return;
    };
    let daemon = Daemon::from_child(spawn(Command::new(mnt.join("exe")).arg("1000")));
    wait_until("the daemon to run from the FUSE mount", || {
        comm(daemon.pid) == "exe"
    });
    let pf = dir.path().join("exe.pid");
    write_pid(&pf, daemon.pid);
    fuse.freeze();
    let doc = audit_beside(fuse, &pf, &["--verbose"]);
    let e = pidfile(&doc, &pf);
    assert_eq!(e["state"], "running", "{e:#}");
    assert_eq!(e["pid"], daemon.pid, "{e:#}");
}

/// A lock holder whose descriptor's path runs through a FUSE mount whose server stopped answering
/// (the pidfile's directory bind-mounted below it) does not hang the search for pidfiles replaced
/// while locked: the path is compared as text with the audited directory's, never looked up
/// (before: the `statx` of the path's directory waited for ever on the FUSE lookup).
#[test]
fn lock_held_through_a_hung_fuse_path_never_hangs_the_audit() {
    let dir = open_tempdir();
    let mnt = dir.path().join("mnt");
    let real = dir.path().join("real");
    std::fs::create_dir(&mnt).unwrap();
    std::fs::create_dir(&real).unwrap();
    let Some(mut fuse) = Fuse::mount(dir.path(), &mnt, Path::new("/bin/sleep")) else {
        return;
    };
    let sub = mnt.join("sub");
    let bound = Command::new("mount")
        .arg("--bind")
        .arg(&real)
        .arg(&sub)
        .status()
        .unwrap();
    assert!(bound.success());
    fuse.mounts.push(sub.clone());
    let (name, pf) = unique_pidfile(&real, "fusel");
    let via = sub.join(pf.file_name().unwrap());
    let _d = Testd::new(&via).name(&name).lock(Lock::Flock).start();
    // A second start replaces the locked file.
    std::fs::remove_file(&pf).unwrap();
    write_pid(&pf, dead_pid());
    fuse.freeze();
    let doc = audit_beside(fuse, &pf, &["--ignore", "orphaned-instance"]);
    let e = pidfile(&doc, &pf);
    assert_eq!(e["state"], "stale", "{e:#}");
}
