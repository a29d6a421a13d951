//! `pidaudit scan` never writes, creates, locks or deletes anything: proven with strace over a tree
//! holding every kind of file, and by comparing the tree's full metadata before and after.

mod common;
use common::*;
use std::collections::BTreeMap;
use std::os::unix::fs::{symlink, MetadataExt};
use std::path::{Path, PathBuf};
use std::process::Command;

/// Builds a tree with every kind of file pidaudit may meet; returns the daemon kept alive for it.
fn hostile_tree(root: &Path) -> Daemon {
    let d = named_sleep(root, "mydaemon");
    let w = |name: &str, content: &[u8]| {
        let p = root.join(name);
        if let Some(parent) = p.parent() {
            std::fs::create_dir_all(parent).unwrap();
        }
        std::fs::write(&p, content).unwrap();
        p
    };
    w("mydaemon.pid", format!("{}\n", d.pid).as_bytes());
    w("stale.pid", format!("{}\n", dead_pid()).as_bytes());
    let empty = w("empty.pid", b"");
    age(&empty, 60);
    w("fresh-empty.pid", b"");
    w("malformed.pid", b"12 34\n");
    w("big.pid", &vec![b'7'; 100_000]);
    w("sub/dir/deep.pid", format!("{}\n", d.pid).as_bytes());
    w("postgresql/postmaster.pid", b"1\n/var/lib/x\n");
    w("svc/supervise/pid", format!("{}\n", d.pid).as_bytes());
    let secret = w("secret.pid", b"1\n");
    chmod(&secret, 0o000);
    let ww = w("ww.pid", b"1\n");
    chmod(&ww, 0o666);
    std::fs::hard_link(root.join("stale.pid"), root.join("hardlink.pid")).unwrap();
    let wdir = root.join("wdir");
    std::fs::create_dir(&wdir).unwrap();
    chmod(&wdir, 0o777);
    w("wdir/in.pid", b"1\n");
    std::fs::create_dir(root.join("dir.pid")).unwrap();
    mkfifo(&root.join("fifo.pid"));
    mknod(&root.join("chardev.pid"), false, 1, 3);
    mknod(&root.join("blockdev.pid"), true, 7, 0);
    let st = Command::new("python3")
        .arg("-c")
        .arg("import socket,sys; socket.socket(socket.AF_UNIX).bind(sys.argv[1])")
        .arg(root.join("socket.pid"))
        .status()
        .unwrap();
    assert!(st.success());
    symlink("mydaemon.pid", root.join("link.pid")).unwrap();
    symlink("/dev/zero", root.join("zero.pid")).unwrap();
    symlink("loop.pid", root.join("loop.pid")).unwrap();
    symlink("nowhere", root.join("dangling.pid")).unwrap();
    symlink("sub", root.join("dirlink")).unwrap();
    d
}

/// Every entry's metadata except atime, by path (not following links).
fn metadata(root: &Path) -> BTreeMap<PathBuf, [i64; 10]> {
    let mut out = BTreeMap::new();
    let mut todo = vec![root.to_path_buf()];
    while let Some(p) = todo.pop() {
        let m = std::fs::symlink_metadata(&p).unwrap();
        out.insert(
            p.clone(),
            [
                m.dev() as i64,
                m.ino() as i64,
                m.mode() as i64,
                m.nlink() as i64,
                m.uid() as i64,
                m.gid() as i64,
                m.size() as i64,
                m.mtime() * 1_000_000_000 + m.mtime_nsec(),
                m.ctime() * 1_000_000_000 + m.ctime_nsec(),
                m.rdev() as i64,
            ],
        );
        if m.is_dir() {
            for e in std::fs::read_dir(&p).unwrap() {
                todo.push(e.unwrap().path());
            }
        }
    }
    out
}

/// System calls that change a file system or take a lock, whatever their arguments.
const FORBIDDEN: &[&str] = &[
    "creat",
    "unlink",
    "unlinkat",
    "rename",
    "renameat",
    "renameat2",
    "mkdir",
    "mkdirat",
    "rmdir",
    "link",
    "linkat",
    "symlink",
    "symlinkat",
    "chmod",
    "fchmod",
    "fchmodat",
    "fchmodat2",
    "chown",
    "fchown",
    "fchownat",
    "lchown",
    "truncate",
    "ftruncate",
    "fallocate",
    "utime",
    "utimes",
    "utimensat",
    "futimesat",
    "mknod",
    "mknodat",
    "setxattr",
    "lsetxattr",
    "fsetxattr",
    "removexattr",
    "lremovexattr",
    "fremovexattr",
    "flock",
];

/// The forbidden calls in an strace log (`-f` format: "PID syscall(args) = result").
fn violations(log: &str) -> Vec<String> {
    let mut bad = Vec::new();
    for line in log.lines() {
        let call = line
            .split_once(' ')
            .map(|(_, rest)| rest.trim_start())
            .unwrap_or(line);
        let name = call.split('(').next().unwrap_or("");
        let args = call.split_once('(').map(|(_, a)| a).unwrap_or("");
        let write_open = matches!(name, "open" | "openat" | "openat2")
            && [
                "O_WRONLY",
                "O_RDWR",
                "O_CREAT",
                "O_TRUNC",
                "O_APPEND",
                "O_TMPFILE",
            ]
            .iter()
            .any(|f| args.contains(f));
        let lock = name == "fcntl"
            && [
                "F_SETLK",
                "F_SETLKW",
                "F_OFD_SETLK",
                "F_OFD_SETLKW",
                "F_SETLEASE",
            ]
            .iter()
            .any(|f| args.contains(&format!("{f},")));
        if write_open || lock || FORBIDDEN.contains(&name) {
            bad.push(line.to_string());
        }
    }
    bad
}

/// The violation detector recognises what it must (so the real test below can fail).
#[test]
fn detector_recognises_writes_and_locks() {
    let log = "1 openat(AT_FDCWD, \"x\", O_WRONLY|O_CREAT|O_TRUNC, 0644) = 3\n\
               1 openat(3, \"y\", O_RDONLY|O_CLOEXEC|O_PATH) = 4\n\
               1 flock(3, LOCK_EX|LOCK_NB) = 0\n\
               1 fcntl(3, F_OFD_SETLK, {l_type=F_WRLCK}) = 0\n\
               1 fcntl(3, F_GETFD) = 1\n\
               1 unlinkat(3, \"z\", 0) = 0\n";
    assert_eq!(violations(log).len(), 4, "{:?}", violations(log));
}

/// Over a tree holding every kind of file, a scan (human and JSON, as root and as an unprivileged
/// user) makes no write-mode open, O_CREAT, unlink, rename, chmod/chown, truncate, flock or
/// F_SETLK call, and leaves every entry's metadata (ctime included) unchanged.
#[test]
fn scan_never_writes_creates_locks_or_deletes() {
    let base = open_tempdir();
    let tree = base.path().join("tree");
    std::fs::create_dir(&tree).unwrap();
    let _d = hostile_tree(&tree);
    let before = metadata(&tree);
    let trace = base.path().join("trace");
    let runs: [&[&str]; 3] = [
        &["--format", "json"],
        &["--format", "human", "-v"],
        &["--format", "json", "--max-depth", "8"],
    ];
    for (i, args) in runs.iter().enumerate() {
        let mut cmd = strace(&trace, "%file,%desc,flock,fcntl");
        if i == 2 {
            cmd.args(SETPRIV_NOBODY);
        }
        cmd.arg(BIN).args(*args).arg(&tree);
        let r = run_cmd(&mut cmd);
        assert!(r.code == 0 || r.code == 1, "{}", r.stderr);
        assert!(!r.stderr.contains("panicked"), "{}", r.stderr);
        let log = std::fs::read_to_string(&trace).unwrap();
        assert!(
            log.contains("O_PATH"),
            "strace recorded the pidfile opens: {log}"
        );
        let bad = violations(&log);
        assert!(bad.is_empty(), "run {i} {args:?}: {bad:#?}");
        if i == 0 {
            let doc = r.json();
            assert!(
                doc["summary"]["pidfiles"].as_u64().unwrap() >= 20,
                "{doc:#}"
            );
        }
    }
    let after = metadata(&tree);
    assert_eq!(before, after, "metadata changed");
}

/// System calls that send a signal.
const SIGNALLING: &[&str] = &[
    "kill",
    "tkill",
    "tgkill",
    "pidfd_send_signal",
    "rt_sigqueueinfo",
    "rt_tgsigqueueinfo",
];

/// `pidaudit watch` over the same tree, and over a directory where pidfiles come and go and a
/// tracked daemon is killed, through interval audits, until SIGTERM: no writing, creating,
/// deleting or locking call, no signal sent, and the tree's metadata unchanged.
#[test]
fn watch_never_writes_creates_locks_deletes_or_signals() {
    use std::io::BufRead;
    let base = open_tempdir();
    let tree = base.path().join("tree");
    let moving = base.path().join("moving");
    std::fs::create_dir(&tree).unwrap();
    std::fs::create_dir(&moving).unwrap();
    let _d = hostile_tree(&tree);
    let before = metadata(&tree);
    let trace = base.path().join("trace");
    let mut cmd = strace(
        &trace,
        &format!("%file,%desc,flock,fcntl,{}", SIGNALLING.join(",")),
    );
    let mut strace_proc = cmd
        .arg(BIN)
        .args(["watch", "--format", "json", "--interval", "1s"])
        .arg(&tree)
        .arg(&moving)
        .current_dir(base.path())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = std::io::BufReader::new(strace_proc.stdout.take().unwrap()).lines();
    let mut next_event = |want: &str| loop {
        let line = lines.next().expect("the watch ended").unwrap();
        if line.contains(&format!("\"event\":\"{want}\"")) {
            return line;
        }
    };
    next_event("watching");
    let mut daemon = named_sleep(&moving, "mover");
    let pf = moving.join("mover.pid");
    write_pid(&pf, daemon.pid);
    next_event("pidfile-created");
    daemon.kill();
    next_event("daemon-exited");
    std::fs::remove_file(&pf).unwrap();
    next_event("pidfile-removed");
    // At least one interval audit.
    std::thread::sleep(std::time::Duration::from_millis(1500));
    let children =
        std::fs::read_to_string(format!("/proc/{0}/task/{0}/children", strace_proc.id())).unwrap();
    let watch_pid: i32 = children.split_whitespace().next().unwrap().parse().unwrap();
    let pid = rustix::process::Pid::from_raw(watch_pid).unwrap();
    rustix::process::kill_process(pid, rustix::process::Signal::TERM).unwrap();
    assert!(next_event("stopped").contains("SIGTERM"));
    assert!(strace_proc.wait().unwrap().success());
    let log = std::fs::read_to_string(&trace).unwrap();
    assert!(log.contains("inotify_add_watch"), "{log}");
    assert!(
        log.contains("pidfd_open") || log.contains("epoll_ctl"),
        "{log}"
    );
    let bad = violations(&log);
    assert!(bad.is_empty(), "{bad:#?}");
    let signals: Vec<&str> = log
        .lines()
        .filter(|l| {
            let call = l.split_once(' ').map(|(_, r)| r.trim_start()).unwrap_or(l);
            SIGNALLING.contains(&call.split('(').next().unwrap_or(""))
        })
        .collect();
    assert!(signals.is_empty(), "{signals:#?}");
    assert_eq!(before, metadata(&tree), "metadata changed");
}
