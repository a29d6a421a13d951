//! Content and file type against real files: every malformed case of the safety notes, FIFOs,
//! directories, devices, symlinks, unreadable and missing files.

mod common;
use common::*;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

fn pid_max() -> u64 {
    std::fs::read_to_string("/proc/sys/kernel/pid_max")
        .unwrap()
        .trim()
        .parse()
        .unwrap()
}

/// Every malformed-content case of the safety notes, written to a real file, gets its exact code,
/// reason and state, and the run fails (they are errors) except for `empty` (a warning).
#[test]
fn malformed_content_matrix() {
    let dir = tempfile::tempdir().unwrap();
    let above = (pid_max() + 1).to_string();
    let oversize = "1".repeat(5000);
    let cases: Vec<(&str, Vec<u8>, &str, Option<&str>)> = vec![
        ("empty", b"".to_vec(), "empty", None),
        ("newline-only", b"\n".to_vec(), "empty", None),
        ("zero", b"0\n".to_vec(), "invalid-pid", Some("zero")),
        ("zeros", b"000".to_vec(), "invalid-pid", Some("zero")),
        (
            "negative",
            b"-1\n".to_vec(),
            "invalid-pid",
            Some("negative"),
        ),
        ("plus", b"+123\n".to_vec(), "malformed", Some("sign")),
        ("hex", b"0x1F\n".to_vec(), "malformed", Some("not_decimal")),
        (
            "letters",
            b"123abc\n".to_vec(),
            "malformed",
            Some("not_decimal"),
        ),
        (
            "arabic-digits",
            "١٢٣\n".as_bytes().to_vec(),
            "malformed",
            Some("not_decimal"),
        ),
        (
            "inner-space",
            b"12 34\n".to_vec(),
            "malformed",
            Some("whitespace"),
        ),
        (
            "leading-space",
            b" 123\n".to_vec(),
            "malformed",
            Some("whitespace"),
        ),
        (
            "trailing-space",
            b"123 \n".to_vec(),
            "malformed",
            Some("whitespace"),
        ),
        ("crlf", b"123\r\n".to_vec(), "malformed", Some("whitespace")),
        ("tab", b"\t123".to_vec(), "malformed", Some("whitespace")),
        ("nul", b"123\0\n".to_vec(), "malformed", Some("nul")),
        (
            "two-lines",
            b"123\n456\n".to_vec(),
            "malformed",
            Some("multiple_lines"),
        ),
        (
            "blank-second-line",
            b"123\n\n".to_vec(),
            "malformed",
            Some("multiple_lines"),
        ),
        (
            "above-pid-max",
            above.clone().into_bytes(),
            "invalid-pid",
            Some("above_pid_max"),
        ),
        (
            "overflow",
            b"99999999999999999999999\n".to_vec(),
            "invalid-pid",
            Some("overflow"),
        ),
        (
            "oversize",
            oversize.into_bytes(),
            "malformed",
            Some("oversize"),
        ),
    ];
    for (name, content, _, _) in &cases {
        let path = dir.path().join(format!("{name}.pid"));
        std::fs::write(&path, content).unwrap();
        // Written a minute ago: an empty file emptied moments ago may be mid-rewrite (unknown).
        age(&path, 60);
    }
    let r = run(&["--format", "json", dir.path().to_str().unwrap()]);
    assert_eq!(r.code, 1, "malformed content is an error: {}", r.stdout);
    let doc = r.json();
    assert_eq!(doc["pidfiles"].as_array().unwrap().len(), cases.len());
    for (name, _, code, reason) in &cases {
        let e = pidfile(&doc, &dir.path().join(format!("{name}.pid")));
        assert_eq!(e["state"], "invalid", "{name}: {e:#}");
        assert!(e["pid"].is_null(), "{name}: {e:#}");
        let f = only_finding(e);
        assert_eq!(f["code"], *code, "{name}: {e:#}");
        match reason {
            Some(reason) => assert_eq!(f["evidence"]["reason"], *reason, "{name}: {e:#}"),
            None => assert!(f["evidence"].get("reason").is_none(), "{name}"),
        }
    }
    let above_entry = pidfile(&doc, &dir.path().join("above-pid-max.pid"));
    assert_eq!(above_entry["findings"][0]["evidence"]["pid_max"], pid_max());
    let oversize = pidfile(&doc, &dir.path().join("oversize.pid"));
    assert_eq!(oversize["findings"][0]["evidence"]["size"], 5000);
    // The content is shown escaped, never raw.
    let nul = pidfile(&doc, &dir.path().join("nul.pid"));
    assert_eq!(nul["findings"][0]["evidence"]["content"], "123\\x00\\n");

    // An empty file alone is a warning: exit 0 at the default threshold, 1 at --fail-on warning.
    let empty = dir.path().join("empty.pid");
    assert_eq!(run(&[empty.to_str().unwrap()]).code, 0);
    assert_eq!(
        run(&["--fail-on", "warning", empty.to_str().unwrap()]).code,
        1
    );
}

/// Watches a path for opens and reads (inotify), to prove pidaudit never opens it.
struct OpenWatch {
    fd: rustix::fd::OwnedFd,
}

impl OpenWatch {
    fn new(path: &Path) -> OpenWatch {
        use rustix::fs::inotify;
        let fd =
            inotify::init(inotify::CreateFlags::NONBLOCK | inotify::CreateFlags::CLOEXEC).unwrap();
        inotify::add_watch(
            &fd,
            path,
            inotify::WatchFlags::OPEN | inotify::WatchFlags::ACCESS,
        )
        .unwrap();
        OpenWatch { fd }
    }

    /// Whether the path was opened or read since the last call.
    fn opened(&self) -> bool {
        let mut buf = [0u8; 4096];
        match rustix::io::read(&self.fd, &mut buf) {
            Ok(n) => n > 0,
            Err(rustix::io::Errno::AGAIN) => false,
            Err(e) => panic!("inotify read: {e}"),
        }
    }
}

fn assert_not_a_file(path: &Path, kind: &str) {
    let e = audit_one(path);
    assert_eq!(e["state"], "not-a-file", "{e:#}");
    let f = only_finding(&e);
    assert_eq!(f["code"], "not-a-file");
    assert_eq!(f["severity"], "warning");
    assert_eq!(f["evidence"]["kind"], kind);
    assert_eq!(e["file"]["kind"], kind);
}

/// A FIFO with no writer (whose open for reading would block forever) is `not-a-file`, the run
/// finishes, and the FIFO is never opened.
#[test]
fn fifo_without_writer_is_not_opened() {
    let dir = tempfile::tempdir().unwrap();
    let fifo = dir.path().join("x.pid");
    rustix::fs::mkfifoat(
        rustix::fs::CWD,
        &fifo,
        rustix::fs::Mode::from_raw_mode(0o644),
    )
    .unwrap();
    let watch = OpenWatch::new(&fifo);
    assert_not_a_file(&fifo, "fifo");
    // Walked rather than named, too.
    let r = run(&["--format", "json", dir.path().to_str().unwrap()]);
    assert_eq!(pidfile(&r.json(), &fifo)["state"], "not-a-file");
    assert!(!watch.opened(), "pidaudit opened the FIFO");
}

/// A FIFO a writer holds open (a read would block waiting for data) is `not-a-file`, never opened.
#[test]
fn fifo_with_writer_is_not_opened() {
    let dir = tempfile::tempdir().unwrap();
    let fifo = dir.path().join("x.pid");
    rustix::fs::mkfifoat(
        rustix::fs::CWD,
        &fifo,
        rustix::fs::Mode::from_raw_mode(0o644),
    )
    .unwrap();
    // O_RDWR on a FIFO does not block on Linux; the sleep inherits the descriptor.
    let child = Command::new("sh")
        .arg("-c")
        .arg("exec 3<>\"$0\"; exec sleep 1000")
        .arg(&fifo)
        .spawn()
        .unwrap();
    let holder = Daemon::from_child(child);
    let deadline = Instant::now() + Duration::from_secs(5);
    while !holds_open(holder.pid, &fifo) {
        assert!(
            Instant::now() < deadline,
            "the writer never opened the FIFO"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
    let watch = OpenWatch::new(&fifo);
    assert_not_a_file(&fifo, "fifo");
    assert!(!watch.opened(), "pidaudit opened the FIFO");
    assert!(holds_open(holder.pid, &fifo));
}

fn holds_open(pid: u32, path: &Path) -> bool {
    std::fs::read_dir(format!("/proc/{pid}/fd"))
        .map(|d| {
            d.flatten()
                .any(|e| std::fs::read_link(e.path()).is_ok_and(|t| t == path))
        })
        .unwrap_or(false)
}

/// A directory named `x.pid` met in a walk is `not-a-file` and is not walked into.
#[test]
fn directory_named_pid() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().join("x.pid");
    std::fs::create_dir(&d).unwrap();
    std::fs::write(d.join("inner.pid"), "1\n").unwrap();
    let doc = run(&["--format", "json", dir.path().to_str().unwrap()]).json();
    let e = pidfile(&doc, &d);
    assert_eq!(e["state"], "not-a-file");
    assert_eq!(only_finding(e)["code"], "not-a-file");
    assert_eq!(only_finding(e)["evidence"]["kind"], "directory");
    assert_eq!(doc["pidfiles"].as_array().unwrap().len(), 1, "{doc:#}");
}

/// A character device named `x.pid` (1:3, like /dev/null) is `not-a-file` and is never opened: an
/// inotify watch sees no open from pidaudit, and does see one from a plain open (the control).
#[test]
fn device_node_is_never_opened() {
    let dir = tempfile::tempdir().unwrap();
    let dev = dir.path().join("x.pid");
    rustix::fs::mknodat(
        rustix::fs::CWD,
        &dev,
        rustix::fs::FileType::CharacterDevice,
        rustix::fs::Mode::from_raw_mode(0o644),
        rustix::fs::makedev(1, 3),
    )
    .expect("mknod needs root");
    let watch = OpenWatch::new(&dev);
    assert_not_a_file(&dev, "char-device");
    let r = run(&["--format", "json", dir.path().to_str().unwrap()]);
    assert_eq!(pidfile(&r.json(), &dev)["state"], "not-a-file");
    assert!(!watch.opened(), "pidaudit opened the device");
    drop(std::fs::File::open(&dev).unwrap());
    assert!(watch.opened(), "the watch cannot see opens");
}

/// A symlinked pidfile is reported with its target; the kernel never follows it. Its target, reached
/// through a safe chain (root-owned directories), is read and judged, and the file is untrusted.
#[test]
fn symlink_is_reported_and_read_only_through_a_safe_chain() {
    let dir = tempfile::tempdir().unwrap();
    let target = dir.path().join("target");
    std::fs::write(&target, "garbage\n").unwrap();
    let link = dir.path().join("x.pid");
    std::os::unix::fs::symlink(&target, &link).unwrap();
    let e = audit_one(&link);
    assert_eq!(e["state"], "invalid", "{e:#}");
    assert_eq!(e["trusted"], false, "{e:#}");
    let f = finding(&e, "symlink");
    assert_eq!(f["evidence"]["target"], target.to_str().unwrap());
    assert_eq!(f["evidence"]["chain_safe"], true, "{f:#}");
    assert_eq!(
        finding(&e, "malformed")["evidence"]["reason"],
        "not_decimal"
    );
}

/// A mode-000 file audited by an unprivileged user is `unreadable` [unknown] with EACCES, never stale
/// or invalid; the same file audited by root is read.
#[test]
fn unreadable_file_as_unprivileged_user() {
    let dir = open_tempdir();
    let pf = dir.path().join("x.pid");
    std::fs::write(&pf, format!("{}\n", dead_pid())).unwrap();
    std::fs::set_permissions(&pf, std::fs::Permissions::from_mode(0o000)).unwrap();
    for args in [
        vec!["--format", "json", pf.to_str().unwrap()],
        vec!["--format", "json", dir.path().to_str().unwrap()],
    ] {
        let r = run_as_nobody(&args);
        assert_eq!(
            r.code, 0,
            "unknown is below the default threshold: {}",
            r.stderr
        );
        let doc = r.json();
        let e = pidfile(&doc, &pf);
        assert_eq!(e["state"], "unreadable", "{e:#}");
        let f = only_finding(e);
        assert_eq!(f["code"], "unreadable");
        assert_eq!(f["severity"], "unknown");
        assert_eq!(f["evidence"]["errno"], 13, "EACCES: {f:#}");
        assert!(!has_code(&doc, "stale"));
    }
    // Root can read it: the PID is dead, so it is stale.
    assert_eq!(audit_one(&pf)["state"], "stale");
}

/// An explicit PATH that does not exist is `missing-pidfile` (an error), also when its directory does
/// not exist.
#[test]
fn missing_explicit_pidfile() {
    let dir = tempfile::tempdir().unwrap();
    for pf in [
        dir.path().join("nothere.pid"),
        dir.path().join("no/such/dir/x.pid"),
    ] {
        let r = run(&["--format", "json", pf.to_str().unwrap()]);
        assert_eq!(r.code, 1, "{}", r.stdout);
        let doc = r.json();
        let e = pidfile(&doc, &pf);
        assert_eq!(e["state"], "missing");
        assert_eq!(only_finding(e)["code"], "missing-pidfile");
        assert_eq!(doc["findings"].as_array().unwrap().len(), 1, "{doc:#}");
    }
}
