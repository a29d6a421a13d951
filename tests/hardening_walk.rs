//! Attacks on discovery and reading by a local user who controls names, contents, timing, trees
//! and FUSE mounts. Each test reproduces the attack with real files, processes and mounts and
//! asserts the audit is neither fooled, stalled nor blinded: half-written files, thousands of empty
//! files, trees thousands of levels deep, FUSE servers that never answer, low descriptor limits,
//! secrets behind root-made links, and the smaller parsing and `--textfile` cases.

mod common;
use common::*;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// Runs pidaudit (JSON) killed after `secs` seconds if it has not finished: a hang fails the test
/// quickly instead of stalling the suite.
fn audit_within(secs: u32, args: &[&str]) -> (Run, Duration) {
    let started = Instant::now();
    let r = run_cmd(
        Command::new("timeout")
            .args(["-s", "KILL", &secs.to_string()])
            .arg(BIN)
            .args(["--format", "json"])
            .args(args),
    );
    let took = started.elapsed();
    assert!(
        r.code == 0 || r.code == 1,
        "pidaudit did not end normally within {secs} s (exit {}): {}",
        r.code,
        r.stderr
    );
    (r, took)
}

/// The system findings (not about one pidfile) with this code.
fn system_findings<'a>(doc: &'a serde_json::Value, code: &str) -> Vec<&'a serde_json::Value> {
    doc["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["code"] == code)
        .collect()
}

/// Starts a Python program with `args` and waits for its first line; killed when dropped.
fn python(code: &str, args: &[&str]) -> (Daemon, String) {
    let mut child = Command::new("python3")
        .arg("-c")
        .arg(code)
        .args(args)
        .stdout(Stdio::piped())
        .stdin(Stdio::null())
        .spawn()
        .unwrap();
    let mut line = String::new();
    std::io::BufRead::read_line(
        &mut std::io::BufReader::new(child.stdout.take().unwrap()),
        &mut line,
    )
    .unwrap();
    (Daemon::from_child(child), line.trim().to_string())
}

// ---------------------------------------------------------------------------------------------
// 1. Partial writes.

/// Writes argv[2] to the pidfile argv[1] in one `write()`, says so, sleeps argv[4] seconds, then
/// writes argv[3], and stays alive.
const SPLIT_WRITER: &str = r#"
import os, sys, time
p, a, b, pause = sys.argv[1], sys.argv[2], sys.argv[3], float(sys.argv[4])
fd = os.open(p, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
os.write(fd, a.encode())
print("half", flush=True)
time.sleep(pause)
os.write(fd, b.encode())
time.sleep(1000)
"#;

/// A pidfile written in two `write()` calls (`12`, a pause, `345\n`; and `2`, a pause, `345\n`,
/// whose prefix names kthreadd) is never judged on its prefix: caught during a long pause it is
/// `unknown` (reason `unterminated`), not stale or a kernel thread.
#[test]
fn half_written_pidfile_is_not_judged_on_its_prefix() {
    let dir = open_tempdir();
    for (first, rest) in [("12", "345\n"), ("2", "345\n"), ("1", "2345\n")] {
        let pf = dir.path().join(format!("split-{first}.pid"));
        let (_w, line) = python(SPLIT_WRITER, &[pf.to_str().unwrap(), first, rest, "30"]);
        assert_eq!(line, "half");
        let (r, _) = audit_within(20, &["--ignore", "unlocked", pf.to_str().unwrap()]);
        let e = pidfile(&r.json(), &pf).clone();
        assert_eq!(e["state"], "unknown", "{first}: {e:#}");
        assert!(e["pid"].is_null(), "{first}: {e:#}");
        assert_eq!(codes(&e), vec!["unreadable"], "{first}: {e:#}");
        let f = finding(&e, "unreadable");
        assert_eq!(f["severity"], "unknown");
        assert_eq!(f["evidence"]["reason"], "unterminated", "{f:#}");
        assert!(f["message"]
            .as_str()
            .unwrap()
            .contains("without the newline"));
    }
}

/// A writer whose pause is shorter than the shared wait is judged on its whole PID (or, on a
/// loaded machine, unknown): never on the prefix.
#[test]
fn short_pause_is_judged_on_the_whole_pid() {
    let dir = open_tempdir();
    let pf = dir.path().join("quick.pid");
    let (_w, line) = python(
        SPLIT_WRITER,
        &[pf.to_str().unwrap(), "12", "345\n", "0.005"],
    );
    assert_eq!(line, "half");
    let (r, _) = audit_within(20, &["--ignore", "unlocked", pf.to_str().unwrap()]);
    let e = pidfile(&r.json(), &pf).clone();
    match e["state"].as_str().unwrap() {
        "unknown" => assert_eq!(
            finding(&e, "unreadable")["evidence"]["reason"],
            "unterminated"
        ),
        _ => assert_eq!(e["pid"], 12345, "{e:#}"),
    }
}

// ---------------------------------------------------------------------------------------------
// 2. Shared waits.

/// 2,000 empty pidfiles cost one shared wait, not one each (31 s before): all are `empty` (written
/// a minute ago) or `unknown` (emptied moments ago), and the audit sleeps once.
#[test]
fn empty_files_share_one_wait() {
    let dir = open_tempdir();
    let old = dir.path().join("old");
    let young = dir.path().join("young");
    std::fs::create_dir(&old).unwrap();
    std::fs::create_dir(&young).unwrap();
    for i in 0..2000 {
        let p = old.join(format!("e{i}.pid"));
        std::fs::write(&p, b"").unwrap();
        age(&p, 60);
    }
    for i in 0..200 {
        std::fs::write(young.join(format!("e{i}.pid")), b"").unwrap();
    }
    let (r, took) = audit_within(25, &[dir.path().to_str().unwrap()]);
    eprintln!("2,200 empty pidfiles audited in {took:?}");
    let doc = r.json();
    assert_eq!(doc["summary"]["pidfiles"], 2200);
    assert_eq!(
        doc["summary"]["by_state"]["invalid"], 2000,
        "{:#}",
        doc["summary"]
    );
    assert_eq!(doc["summary"]["by_state"]["unknown"], 200);
    for e in doc["pidfiles"].as_array().unwrap() {
        let code = if e["path"].as_str().unwrap().contains("/old/") {
            "empty"
        } else {
            "unreadable"
        };
        assert_eq!(codes(e), vec![code], "{e:#}");
    }
    assert!(
        took < Duration::from_secs(10),
        "2,200 empty files took {took:?}"
    );
    // One sleep in the whole run, whatever the number of suspect files.
    let trace = traced(&[], "nanosleep,clock_nanosleep", &[], dir.path());
    let sleeps = trace.lines().filter(|l| l.contains("nanosleep(")).count();
    assert_eq!(sleeps, 1, "one shared wait per run");
}

/// The system calls in `calls` that pidaudit (run under the command `wrapper`, if any) makes when
/// auditing `path` with `args`, as strace prints them.
fn traced(wrapper: &[&str], calls: &str, args: &[&str], path: &Path) -> String {
    let trace = tempfile::NamedTempFile::new().unwrap();
    let traced = strace(trace.path(), calls);
    let mut cmd = match wrapper.split_first() {
        Some((prog, rest)) => {
            let mut c = Command::new(prog);
            c.args(rest)
                .arg(traced.get_program())
                .args(traced.get_args());
            c
        }
        None => traced,
    };
    let st = cmd
        .arg(BIN)
        .args(["--format", "json"])
        .args(args)
        .arg(path)
        .stdout(Stdio::null())
        .status()
        .expect("strace runs (see .ci/deps)");
    assert!(st.code() == Some(0) || st.code() == Some(1), "{st:?}");
    std::fs::read_to_string(trace.path()).unwrap()
}

// ---------------------------------------------------------------------------------------------
// 3. Memory linear in depth.

/// A tree removed with `rm -rf` when dropped (which handles any depth).
struct Tree(PathBuf);

impl Drop for Tree {
    fn drop(&mut self) {
        let _ = Command::new("rm").arg("-rf").arg(&self.0).status();
    }
}

/// Makes `depth` nested directories named with 255 bytes each (mode `mode`) under `root`, with a
/// pidfile naming a dead PID at the bottom; the path is far longer than PATH_MAX.
fn deep_tree(root: &Path, depth: usize, mode: u32) {
    let code = r#"
import os, sys
root, depth, mode, pid = sys.argv[1], int(sys.argv[2]), int(sys.argv[3], 8), sys.argv[4]
os.umask(0)
fd = os.open(root, os.O_RDONLY | os.O_DIRECTORY)
name = "d" * 255
for i in range(depth):
    os.mkdir(name, mode, dir_fd=fd)
    n = os.open(name, os.O_RDONLY | os.O_DIRECTORY, dir_fd=fd)
    os.close(fd)
    fd = n
w = os.open("x.pid", os.O_WRONLY | os.O_CREAT, 0o644, dir_fd=fd)
os.write(w, (pid + "\n").encode())
"#;
    let st = Command::new("python3")
        .args(["-c", code])
        .arg(root)
        .arg(depth.to_string())
        .arg(format!("{mode:o}"))
        .arg(dead_pid().to_string())
        .status()
        .unwrap();
    assert!(st.success());
}

/// Runs pidaudit under a Python wrapper that reports the child's peak RSS (KiB) on stderr.
fn peak_rss(args: &[&str]) -> (Run, u64) {
    let code = r#"
import resource, subprocess, sys
p = subprocess.run(sys.argv[1:], stdout=subprocess.PIPE, timeout=60)
sys.stdout.buffer.write(p.stdout)
sys.stderr.write("maxrss=%d\n" % resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)
sys.exit(p.returncode)
"#;
    let r = run_cmd(
        Command::new("python3")
            .args(["-c", code])
            .arg(BIN)
            .args(args),
    );
    let kib = r
        .stderr
        .lines()
        .find_map(|l| l.strip_prefix("maxrss="))
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("no peak RSS: {}", r.stderr));
    (r, kib)
}

/// A pidfile 3,000 directories deep (names of 255 bytes; 1.1 GB peak RSS before): found and
/// judged with memory linear in depth, whether the directories are safe (0755) or each writable
/// by others (0777: 3,000 `unsafe-path` problems, 500 MB before the trust check's fix).
#[test]
fn deep_tree_memory_is_linear() {
    for mode in [0o755, 0o777] {
        let t = tempfile::tempdir().unwrap();
        let _rm = Tree(t.path().to_path_buf());
        deep_tree(t.path(), 3000, mode);
        let (r, kib) = peak_rss(&[
            "--format",
            "json",
            "--max-depth",
            "5000",
            t.path().to_str().unwrap(),
        ]);
        eprintln!("3,000 levels, mode {mode:o}: peak RSS {} MiB", kib / 1024);
        assert!(r.code == 0 || r.code == 1, "{}", r.stderr);
        let doc = r.json();
        assert_eq!(doc["summary"]["pidfiles"], 1);
        let e = &doc["pidfiles"][0];
        assert_eq!(e["state"], "stale", "{:#}", e["findings"]);
        assert!(e["path"].as_str().unwrap().len() > 3000 * 256);
        if mode == 0o777 {
            let problems = finding(e, "unsafe-path")["evidence"]["problems"]
                .as_array()
                .unwrap()
                .len();
            assert!(problems >= 3000, "{problems}");
        }
        assert!(kib < 64 * 1024, "peak RSS {kib} KiB");
    }
}

/// 3,000 levels with a directory and a pidfile beside every level (3,000 pidfiles): every pidfile
/// is audited, and reopening directories no longer held costs a step or two per level (climbing by
/// `..` from a cached directory below), not the whole depth each time: a bounded number of `openat`
/// calls per level (about 17; 250 when every reopen started from `/`).
#[test]
fn deep_branching_tree_is_audited_in_linear_time() {
    let t = tempfile::tempdir().unwrap();
    let _rm = Tree(t.path().to_path_buf());
    let code = r#"
import os, sys
root, depth, pid = sys.argv[1], int(sys.argv[2]), sys.argv[3]
fd = os.open(root, os.O_RDONLY | os.O_DIRECTORY)
for i in range(depth):
    os.mkdir("l", dir_fd=fd)
    leaf = os.open("l", os.O_RDONLY | os.O_DIRECTORY, dir_fd=fd)
    w = os.open("x.pid", os.O_WRONLY | os.O_CREAT, 0o644, dir_fd=leaf)
    os.write(w, (pid + "\n").encode())
    os.close(w)
    os.close(leaf)
    os.mkdir("c", dir_fd=fd)
    n = os.open("c", os.O_RDONLY | os.O_DIRECTORY, dir_fd=fd)
    os.close(fd)
    fd = n
"#;
    let st = Command::new("python3")
        .args(["-c", code])
        .arg(t.path())
        .arg("3000")
        .arg(dead_pid().to_string())
        .status()
        .unwrap();
    assert!(st.success());
    let (r, took) = audit_within(25, &["--max-depth", "5000", t.path().to_str().unwrap()]);
    eprintln!("3,000 levels, a pidfile beside each: {took:?}");
    let doc = r.json();
    assert_eq!(doc["summary"]["pidfiles"], 3000);
    assert_eq!(doc["summary"]["by_state"]["stale"], 3000);
    let trace = traced(&[], "openat", &["--max-depth", "5000"], t.path());
    let opens = trace.lines().filter(|l| l.contains("openat(")).count();
    eprintln!("{opens} openat calls");
    assert!(opens < 200_000, "{opens} openat calls for 3,000 levels");
}

// ---------------------------------------------------------------------------------------------
// 4. Hung mounts.

/// A FUSE server that never answers: it opens /dev/fuse, mounts it (mount(2) through ctypes, no
/// helper) at argv[1] with root mode argv[2] (040000 a directory, 0100000 a file), says `ready`,
/// and then never reads a request.
const DEAD_FUSE: &str = r#"
import ctypes, os, sys, time
mnt, rootmode = sys.argv[1], sys.argv[2]
fd = os.open("/dev/fuse", os.O_RDWR)
libc = ctypes.CDLL(None, use_errno=True)
opts = ("fd=%d,rootmode=%s,user_id=0,group_id=0,allow_other" % (fd, rootmode)).encode()
if libc.mount(b"deadfuse", mnt.encode(), b"fuse", 0, opts) != 0:
    print("mount failed: %s" % os.strerror(ctypes.get_errno()), flush=True)
    sys.exit(1)
print("ready", flush=True)
while True:
    time.sleep(1000)
"#;

/// A mounted dead FUSE server; on drop the server is killed (which aborts the connection) and the
/// mount detached.
struct DeadFuse {
    server: Option<Daemon>,
    mnt: PathBuf,
}

impl DeadFuse {
    /// Mounts one at `mnt`, or `None` when this machine cannot (not root, no /dev/fuse).
    fn mount(mnt: &Path, rootmode: &str) -> Option<DeadFuse> {
        if !rustix::process::geteuid().is_root() || !Path::new("/dev/fuse").exists() {
            return None;
        }
        let (server, line) = python(DEAD_FUSE, &[mnt.to_str().unwrap(), rootmode]);
        if line != "ready" {
            eprintln!("skipped: cannot mount FUSE here ({line})");
            return None;
        }
        Some(DeadFuse {
            server: Some(server),
            mnt: mnt.to_path_buf(),
        })
    }
}

impl Drop for DeadFuse {
    fn drop(&mut self) {
        drop(self.server.take());
        let _ = Command::new("umount").arg("-l").arg(&self.mnt).status();
    }
}

/// A FUSE mount whose server never answers does not hang the audit (before: the walk opened the
/// directory, then the `stat` of a path through a link, and both blocked for ever). The walk skips
/// it with an `unreadable` finding (EREMOTE) and audits its siblings; a PATH through a symlink into
/// it is refused the same way; a pidfile that is itself a FUSE mount is `unreadable`; a symlinked
/// pidfile leading into it is not followed.
#[test]
fn dead_fuse_mount_never_hangs_the_audit() {
    let t = open_tempdir();
    let root = t.path().join("tree");
    let mnt = root.join("mnt");
    std::fs::create_dir_all(&mnt).unwrap();
    let covered = root.join("covered.pid");
    write_pidfile(&covered, "1\n");
    let sibling = root.join("sibling.pid");
    write_pidfile(&sibling, &format!("{}\n", dead_pid()));
    let Some(_dir_mount) = DeadFuse::mount(&mnt, "040000") else {
        eprintln!("skipped: needs root and /dev/fuse");
        return;
    };
    let Some(_file_mount) = DeadFuse::mount(&covered, "0100000") else {
        return;
    };
    let link = t.path().join("link");
    std::os::unix::fs::symlink(&mnt, &link).unwrap();
    std::os::unix::fs::symlink(mnt.join("x.pid"), root.join("into.pid")).unwrap();
    let through = link.join("x.pid");

    let (r, took) = audit_within(
        10,
        &[
            "--ignore",
            "unlocked",
            root.to_str().unwrap(),
            through.to_str().unwrap(),
        ],
    );
    eprintln!("audit beside two dead FUSE mounts: {took:?}");
    let doc = r.json();
    assert_eq!(pidfile(&doc, &sibling)["state"], "stale");
    // The walk does not enter the mount.
    let skipped = system_findings(&doc, "unreadable");
    let at = |p: &Path| {
        skipped
            .iter()
            .find(|f| f["subject"] == p.to_str().unwrap())
            .unwrap_or_else(|| panic!("no finding for {}: {doc:#}", p.display()))
    };
    let f = at(&mnt);
    assert_eq!(f["evidence"]["errno"], 66, "{f:#}");
    assert_eq!(f["evidence"]["operation"], "enter FUSE mount");
    let f = at(&through);
    assert_eq!(f["evidence"]["errno"], 66, "{f:#}");
    assert!(f["message"]
        .as_str()
        .unwrap()
        .contains("through a FUSE mount"));
    // The file covered by a mount is not opened.
    let e = pidfile(&doc, &covered);
    assert_eq!(e["state"], "unreadable", "{e:#}");
    assert_eq!(finding(e, "unreadable")["evidence"]["errno"], 66);
    // The link into the mount is not followed.
    let e = pidfile(&doc, &root.join("into.pid"));
    assert_eq!(e["state"], "not-a-file", "{e:#}");
    let f = finding(e, "symlink");
    assert_eq!(f["evidence"]["chain_safe"], false);
    assert_eq!(f["evidence"]["reason"], "special_filesystem");
}

/// The mount table is this process's: `/proc/self/mountinfo` lists the dead mount as `fuse`.
#[test]
fn mountinfo_names_fuse() {
    let t = open_tempdir();
    let mnt = t.path().join("m");
    std::fs::create_dir(&mnt).unwrap();
    let Some(_m) = DeadFuse::mount(&mnt, "040000") else {
        return;
    };
    let text = std::fs::read("/proc/self/mountinfo").unwrap();
    let mounts = pidaudit::discover::mounts::parse_mountinfo(&text);
    let m = mounts
        .iter()
        .find(|m| m.point == mnt.to_str().unwrap().as_bytes())
        .expect("the mount is listed");
    assert_eq!(m.fstype, "fuse");
    assert!(pidaudit::discover::mounts::FsKind::of(&m.fstype).may_hang());
}

// ---------------------------------------------------------------------------------------------
// 5. Descriptor limits.

/// Under a hard limit of 256 descriptors, 1,500 directories each holding a pidfile are all audited
/// and an unrelated pidfile stays readable (before: ~250 reported, all `unreadable`, EMFILE).
#[test]
fn many_directories_under_a_low_descriptor_limit() {
    let t = open_tempdir();
    let tree = t.path().join("tree");
    std::fs::create_dir(&tree).unwrap();
    let dead = dead_pid();
    for i in 0..1500 {
        let d = tree.join(format!("d{i:04}"));
        std::fs::create_dir(&d).unwrap();
        write_pidfile(&d.join("x.pid"), &format!("{dead}\n"));
    }
    let other = t.path().join("other.pid");
    write_pidfile(&other, &format!("{dead}\n"));
    let r = run_cmd(
        Command::new("prlimit")
            .arg("--nofile=256:256")
            .arg(BIN)
            .args(["--format", "json", "--ignore", "unlocked"])
            .arg(&tree)
            .arg(&other),
    );
    assert!(r.code == 0 || r.code == 1, "{}", r.stderr);
    let doc = r.json();
    assert_eq!(doc["summary"]["pidfiles"], 1501);
    assert_eq!(
        doc["summary"]["by_state"]["stale"], 1501,
        "{:#}",
        doc["summary"]
    );
    assert_eq!(pidfile(&doc, &other)["state"], "stale");
    assert!(system_findings(&doc, "unreadable").is_empty(), "{doc:#}");
}

/// The soft descriptor limit is raised to the hard limit at start.
#[test]
fn soft_descriptor_limit_is_raised() {
    let t = open_tempdir();
    let trace = traced(
        &["prlimit", "--nofile=64:4000"],
        "prlimit64,setrlimit",
        &[],
        t.path(),
    );
    assert!(
        trace
            .lines()
            .any(|l| l.contains("RLIMIT_NOFILE, {rlim_cur=4000, rlim_max=4000}")),
        "{trace}"
    );
}

// ---------------------------------------------------------------------------------------------
// 6. No secrets in evidence.

/// The content of a malformed or invalid pidfile that is not world-readable (a root-owned mode-0600
/// file, read directly or through a link root made) never appears in a report: `content` is null
/// and `content_withheld` true. A world-readable file's content is shown.
#[test]
fn content_of_unreadable_by_others_files_is_withheld() {
    let t = open_tempdir();
    let secret = "root:$6$s3cr3tHash";
    let shadow = t.path().join("shadow");
    std::fs::write(&shadow, format!("{secret}\n")).unwrap();
    chmod(&shadow, 0o600);
    let linked = t.path().join("linked.pid");
    std::os::unix::fs::symlink(&shadow, &linked).unwrap();
    let direct = t.path().join("direct.pid");
    std::fs::write(&direct, format!("{secret}\n")).unwrap();
    chmod(&direct, 0o600);
    let zero = t.path().join("zero.pid");
    std::fs::write(&zero, "0\n").unwrap();
    chmod(&zero, 0o640);
    let shown = t.path().join("shown.pid");
    std::fs::write(&shown, "12abc\n").unwrap();
    chmod(&shown, 0o644);
    for format in ["json", "human"] {
        let r = run(&["--format", format, t.path().to_str().unwrap()]);
        assert_eq!(r.code, 1, "{}", r.stderr);
        assert!(!r.stdout.contains("s3cr3t"), "{format}: {}", r.stdout);
        assert!(!r.stdout.contains("root:$6"), "{format}: {}", r.stdout);
    }
    let doc = audit_json(&[t.path().to_str().unwrap()]);
    for (pf, code) in [
        (&direct, "malformed"),
        (&linked, "malformed"),
        (&zero, "invalid-pid"),
    ] {
        let f = finding(pidfile(&doc, pf), code).clone();
        assert!(f["evidence"]["content"].is_null(), "{f:#}");
        assert_eq!(f["evidence"]["content_withheld"], true, "{f:#}");
        assert!(f["message"]
            .as_str()
            .unwrap()
            .contains("not world-readable"));
    }
    let f = finding(pidfile(&doc, &shown), "malformed");
    assert_eq!(f["evidence"]["content"], "12abc\\n");
    assert!(f["evidence"].get("content_withheld").is_none());
}

// ---------------------------------------------------------------------------------------------
// 7. Smaller cases.

/// A `postmaster.pid` whose first line is empty (the PID missing, the other lines written) is
/// malformed (`first_line_empty`), not empty; `PID\v` is read as whitespace around the number,
/// like `PID `: the PID is judged, the form is `nonstandard-format`.
#[test]
fn postmaster_first_line_empty_and_vertical_tab() {
    let t = open_tempdir();
    let pg = t.path().join("pg");
    std::fs::create_dir(&pg).unwrap();
    let pm = pg.join("postmaster.pid");
    std::fs::write(
        &pm,
        "\n/var/lib/postgresql/15/main\n1700000000\n5432\n/var/run/postgresql\n",
    )
    .unwrap();
    let vt = t.path().join("vt.pid");
    let dead = dead_pid();
    std::fs::write(&vt, format!("{dead}\x0b")).unwrap();
    for p in [&pm, &vt] {
        age(p, 60);
    }
    let doc = audit_json(&[t.path().to_str().unwrap()]);
    let e = pidfile(&doc, &pm);
    assert_eq!(e["state"], "invalid", "{e:#}");
    assert_eq!(codes(e), vec!["malformed"], "{e:#}");
    assert_eq!(
        finding(e, "malformed")["evidence"]["reason"],
        "first_line_empty"
    );
    let e = pidfile(&doc, &vt);
    assert_eq!(e["state"], "stale", "{e:#}");
    assert_eq!(e["pid"], dead, "{e:#}");
    let mut got = codes(e);
    got.sort();
    assert_eq!(got, vec!["nonstandard-format", "stale"], "{e:#}");
    assert_eq!(
        finding(e, "nonstandard-format")["evidence"]["deviations"],
        serde_json::json!(["whitespace"])
    );
}

/// `--textfile DIR` refuses a symlinked DIR (never writing through it), a DIR owned by another
/// user and one writable by others without the sticky bit: exit 2 with the reason, nothing
/// written. A root-owned sticky directory, like /tmp, is used.
#[test]
fn textfile_directory_must_be_ours() {
    let t = open_tempdir();
    let pids = t.path().join("pids");
    std::fs::create_dir(&pids).unwrap();
    let real = t.path().join("real");
    std::fs::create_dir(&real).unwrap();
    let link = t.path().join("link");
    std::os::unix::fs::symlink(&real, &link).unwrap();
    let open = t.path().join("open");
    std::fs::create_dir(&open).unwrap();
    chmod(&open, 0o777);
    let theirs = t.path().join("theirs");
    std::fs::create_dir(&theirs).unwrap();
    let mut refused = vec![(&link, "symbolic link"), (&open, "writable by others")];
    if rustix::process::geteuid().is_root() {
        std::os::unix::fs::chown(&theirs, Some(NOBODY), Some(NOBODY)).unwrap();
        refused.push((&theirs, "owned by uid 65534"));
    }
    for (dir, why) in refused {
        let r = run(&["--textfile", dir.to_str().unwrap(), pids.to_str().unwrap()]);
        assert_eq!(r.code, 2, "{}: {}", dir.display(), r.stderr);
        assert!(r.stderr.contains(why), "{}", r.stderr);
    }
    for d in [&real, &open, &theirs] {
        assert_eq!(std::fs::read_dir(d).unwrap().count(), 0, "{}", d.display());
    }
    chmod(&open, 0o1777);
    let r = run(&["--textfile", open.to_str().unwrap(), pids.to_str().unwrap()]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(open.join("pidaudit.prom").is_file());
}
