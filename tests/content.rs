//! Content and file type against real files: one table of bad contents (every malformed case of the
//! safety notes and every hostile one), the forms FHS readers accept, FIFOs, directories, devices,
//! symlinks, unreadable and missing files.

mod common;
use common::*;
use std::path::Path;
use std::process::Command;

/// One content case: the bytes of a pidfile and the finding they get (the state is `invalid`, the
/// PID unknown, and the finding the only one).
struct Case {
    name: &'static str,
    content: Vec<u8>,
    code: &'static str,
    /// `evidence.reason`, if the code has one.
    reason: Option<&'static str>,
}

fn case(name: &'static str, content: &[u8], code: &'static str, reason: &'static str) -> Case {
    Case {
        name,
        content: content.to_vec(),
        code,
        reason: (!reason.is_empty()).then_some(reason),
    }
}

/// Every bad content of the safety notes and every hostile one: content bytes -> code and reason.
#[rustfmt::skip]
fn cases() -> Vec<Case> {
    let above = (pid_max() + 1).to_string();
    vec![
        //   name                   content                       code           reason
        case("empty",               b"",                          "empty",       ""),
        case("newline-only",        b"\n",                        "empty",       ""),
        case("zero",                b"0\n",                       "invalid-pid", "zero"),
        case("zero-bare",           b"0",                         "invalid-pid", "zero"),
        case("zeros",               b"000",                       "invalid-pid", "zero"),
        case("negative",            b"-1\n",                      "invalid-pid", "negative"),
        case("negative-bare",       b"-1",                        "invalid-pid", "negative"),
        case("above-pid-max",       above.as_bytes(),             "invalid-pid", "above_pid_max"),
        case("above-u32",           b"4294967297",                "invalid-pid", "overflow"),
        case("overflow",            b"99999999999999999999999\n", "invalid-pid", "overflow"),
        case("plus",                b"+123\n",                    "malformed",   "sign"),
        case("plus-bare",           b"+1",                        "malformed",   "sign"),
        case("hex",                 b"0x1F\n",                    "malformed",   "not_decimal"),
        case("hex-bare",            b"0x1F",                      "malformed",   "not_decimal"),
        case("letters",             b"123abc\n",                  "malformed",   "not_decimal"),
        case("letters-bare",        b"123abc",                    "malformed",   "not_decimal"),
        case("arabic-digits",       "١٢٣\n".as_bytes(),           "malformed",   "not_decimal"),
        case("arabic-bare",         "١٢٣".as_bytes(),             "malformed",   "not_decimal"),
        case("fullwidth-digits",    "１２".as_bytes(),              "malformed",   "not_decimal"),
        case("inner-space",         b"12 34\n",                   "malformed",   "whitespace"),
        case("nul",                 b"123\0\n",                   "malformed",   "nul"),
        case("nul-bare",            b"12\0",                      "malformed",   "nul"),
        case("oversize",            &[b'1'; 5000],                "malformed",   "oversize"),
        case("ten-mb",              &vec![b'1'; 10 << 20],        "malformed",   "oversize"),
    ]
}

/// Writes the cases with this code to real files in a new directory (aged: an empty file emptied
/// moments ago may be mid-rewrite, `unknown`), audits it, and checks each gets exactly its finding,
/// state `invalid` and no PID; returns the directory, the exit status and the report.
fn audit_cases(code: &str) -> (tempfile::TempDir, i32, serde_json::Value) {
    let cases: Vec<Case> = cases().into_iter().filter(|c| c.code == code).collect();
    let dir = tempfile::tempdir().unwrap();
    for c in &cases {
        let path = dir.path().join(format!("{}.pid", c.name));
        std::fs::write(&path, &c.content).unwrap();
        age(&path, 60);
    }
    let (status, doc) = audit_path(dir.path(), &[]);
    assert_eq!(doc["pidfiles"].as_array().unwrap().len(), cases.len());
    for c in &cases {
        let name = c.name;
        let e = pidfile(&doc, &dir.path().join(format!("{name}.pid")));
        assert_eq!(e["state"], "invalid", "{name}: {e:#}");
        assert!(e["pid"].is_null(), "{name}: {e:#}");
        let f = only_finding(e);
        assert_eq!(f["code"], c.code, "{name}: {e:#}");
        match c.reason {
            Some(reason) => assert_eq!(f["evidence"]["reason"], reason, "{name}: {e:#}"),
            None => assert!(f["evidence"].get("reason").is_none(), "{name}"),
        }
        if c.reason == Some("oversize") {
            assert_eq!(f["evidence"]["size"], c.content.len(), "{name}");
        }
    }
    (dir, status, doc)
}

/// Empty content is `empty`, a warning (exit 0 at the default threshold, 1 at `--fail-on warning`);
/// an empty file emptied moments ago is unknown (its writer may be mid-rewrite), not empty.
#[test]
fn empty_content() {
    let (dir, status, _) = audit_cases("empty");
    assert_eq!(status, 0, "empty content is a warning");
    let empty = dir.path().join("empty.pid");
    assert_eq!(
        run(&["--fail-on", "warning", empty.to_str().unwrap()]).code,
        1
    );
    let fresh = dir.path().join("fresh-empty.pid");
    std::fs::write(&fresh, b"").unwrap();
    let e = audit_one(&fresh, &[]);
    assert_eq!(e["state"], "unknown", "{e:#}");
    assert_eq!(codes(&e), vec!["unreadable"]);
    assert!(finding(&e, "unreadable")["message"]
        .as_str()
        .unwrap()
        .contains("emptied moments ago"));
}

/// A number that is no PID (zero, negative, above `pid_max`, overflowing) is `invalid-pid`, an
/// error, with its reason and, above `pid_max`, the limit.
#[test]
fn invalid_pid_content() {
    let (dir, status, doc) = audit_cases("invalid-pid");
    assert_eq!(status, 1, "an invalid PID is an error");
    let above = pidfile(&doc, &dir.path().join("above-pid-max.pid"));
    assert_eq!(above["findings"][0]["evidence"]["pid_max"], pid_max());
}

/// Content that is not one decimal number on one line (a sign, other digits, whitespace, NUL, more
/// lines, oversize) is `malformed`, an error, with its reason; the content is shown escaped.
#[test]
fn malformed_content() {
    let (dir, status, doc) = audit_cases("malformed");
    assert_eq!(status, 1, "malformed content is an error");
    let nul = pidfile(&doc, &dir.path().join("nul.pid"));
    assert_eq!(nul["findings"][0]["evidence"]["content"], "123\\x00\\n");
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
    let e = audit_one(path, &[]);
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
    mkfifo(&fifo);
    let watch = OpenWatch::new(&fifo);
    assert_not_a_file(&fifo, "fifo");
    // Walked rather than named, too.
    let doc = audit_path(dir.path(), &[]).1;
    assert_eq!(pidfile(&doc, &fifo)["state"], "not-a-file");
    assert!(!watch.opened(), "pidaudit opened the FIFO");
}

/// A FIFO a writer holds open (a read would block waiting for data) is `not-a-file`, never opened.
#[test]
fn fifo_with_writer_is_not_opened() {
    let dir = tempfile::tempdir().unwrap();
    let fifo = dir.path().join("x.pid");
    mkfifo(&fifo);
    // O_RDWR on a FIFO does not block on Linux; the sleep inherits the descriptor.
    let child = Command::new("sh")
        .arg("-c")
        .arg("exec 3<>\"$0\"; exec sleep 1000")
        .arg(&fifo)
        .spawn()
        .unwrap();
    let holder = Daemon::from_child(child);
    wait_until("the writer to open the FIFO", || {
        holds_open(holder.pid, &fifo)
    });
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
    let doc = audit_path(dir.path(), &[]).1;
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
    mknod(&dev, false, 1, 3);
    let watch = OpenWatch::new(&dev);
    assert_not_a_file(&dev, "char-device");
    let doc = audit_path(dir.path(), &[]).1;
    assert_eq!(pidfile(&doc, &dev)["state"], "not-a-file");
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
    let e = audit_one(&link, &[]);
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
    write_pid(&pf, dead_pid());
    chmod(&pf, 0o000);
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
    assert_eq!(audit_one(&pf, &[])["state"], "stale");
}

/// An explicit PATH that does not exist is `missing-pidfile` (an error), also when its directory does
/// not exist.
#[test]
fn missing_explicit_pidfile() {
    let dir = tempfile::tempdir().unwrap();
    for pf in [
        unique_pidfile(dir.path(), "absent").1,
        unique_pidfile(&dir.path().join("no/such/dir"), "x").1,
    ] {
        let (code, doc) = audit_path(&pf, &[]);
        assert_eq!(code, 1, "{doc:#}");
        let e = pidfile(&doc, &pf);
        assert_eq!(e["state"], "missing");
        assert_eq!(only_finding(e)["code"], "missing-pidfile");
        assert_eq!(doc["findings"].as_array().unwrap().len(), 1, "{doc:#}");
    }
}

/// The forms the FHS asks readers to accept (whitespace around the number, CRLF, further lines:
/// sendmail's command line, several PIDs, a blank line) are read, and the PID is judged: running
/// for a live daemon, stale for a dead PID; the deviation is its own `nonstandard-format` finding.
#[test]
fn fhs_reader_forms_are_read_and_judged() {
    let bin = open_tempdir();
    let name = unique_name("fhs");
    let d = named_sleep(bin.path(), &name);
    let dead = dead_pid();
    let dir = open_tempdir();
    let forms: &[(&str, String, u32, &[&str])] = &[
        ("leading", format!(" {}\n", d.pid), d.pid, &["whitespace"]),
        ("trailing", format!("{} \n", d.pid), d.pid, &["whitespace"]),
        ("tab", format!("\t{}", d.pid), d.pid, &["whitespace"]),
        ("crlf", format!("{}\r\n", d.pid), d.pid, &["crlf"]),
        (
            "sendmail",
            format!("{}\n/usr/sbin/{name} -bd -q10m\n", d.pid),
            d.pid,
            &["extra_lines"],
        ),
        (
            "several",
            format!("{}\n{dead}\n", d.pid),
            d.pid,
            &["several_pids"],
        ),
        ("blank", format!("{}\n\n", d.pid), d.pid, &["extra_lines"]),
        (
            "dead",
            format!(" {dead}\r\n"),
            dead,
            &["whitespace", "crlf"],
        ),
    ];
    let mut paths = Vec::new();
    for (case, content, _, _) in forms {
        let sub = dir.path().join(case);
        std::fs::create_dir(&sub).unwrap();
        let pf = sub.join(format!("{name}.pid"));
        write_pidfile(&pf, content);
        paths.push(pf);
    }
    let mut cmd = pidaudit();
    cmd.args(["--format", "json", "--ignore", "unlocked"])
        .args(&paths);
    let (_, doc) = audit_cmd(&mut cmd);
    for ((case, _, pid, deviations), pf) in forms.iter().zip(&paths) {
        let e = pidfile(&doc, pf);
        assert_eq!(e["pid"], *pid, "{case}: {e:#}");
        let want = if *pid == dead { "stale" } else { "running" };
        assert_eq!(e["state"], want, "{case}: {e:#}");
        let mut got = codes(e);
        got.sort();
        let mut expected = vec!["nonstandard-format".to_string()];
        if *pid == dead {
            expected.push("stale".into());
        }
        if *case == "several" {
            // The dead second PID is judged too.
            expected.insert(0, "listed-pid-not-running".into());
        }
        assert_eq!(got, expected, "{case}: {e:#}");
        let f = finding(e, "nonstandard-format");
        assert_eq!(f["severity"], "info", "{case}");
        assert_eq!(
            f["evidence"]["deviations"],
            serde_json::json!(deviations),
            "{case}"
        );
    }
    let several = pidfile(&doc, &paths[5]);
    assert_eq!(
        finding(several, "nonstandard-format")["evidence"]["more_pids"],
        serde_json::json!([dead])
    );
    assert_eq!(
        several["pids"],
        serde_json::json!([
            {"pid": d.pid, "verdict": "running", "comm": name},
            {"pid": dead, "verdict": "stale", "comm": null},
        ])
    );
}

/// Several PIDs in one file, each judged: the file's PID is the first that runs, the dead one is
/// `listed-pid-not-running`, and PIDs now other processes' (started after the write) are `reused`
/// there; the human report lists them all.
#[test]
fn several_pids_are_each_judged() {
    let bin = open_tempdir();
    let name = unique_name("mpid");
    let dead = dead_pid();
    let dir = open_tempdir();
    let pf = dir.path().join(format!("{name}.pid"));
    let d = named_sleep(bin.path(), &name);
    let other = named_sleep(bin.path(), &unique_name("mpido"));
    write_pidfile(&pf, &format!("{dead}\n{}\n{}\n", d.pid, other.pid));
    // Dated before both started: neither can have written it.
    age(&pf, 60);
    let e = audit_one(&pf, &["--ignore", "unlocked"]);
    let listed: Vec<(u64, String)> = e["pids"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| {
            (
                l["pid"].as_u64().unwrap(),
                l["verdict"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    assert_eq!(
        listed,
        vec![
            (u64::from(dead), "stale".to_string()),
            (u64::from(d.pid), "reused".to_string()),
            (u64::from(other.pid), "reused".to_string()),
        ],
        "{e:#}"
    );
    // None runs as the writer: the file is judged by its first PID; the reused ones are named.
    assert_eq!(e["pid"], dead, "{e:#}");
    assert_eq!(e["state"], "stale", "{e:#}");
    let f = finding(&e, "listed-pid-not-running");
    assert_eq!(f["evidence"]["pids"], serde_json::json!([d.pid, other.pid]));
    assert_eq!(
        f["evidence"]["verdicts"],
        serde_json::json!(["reused", "reused"])
    );
    // Rewritten now: both live PIDs could have written it.
    write_pidfile(&pf, &format!("{dead}\n{}\n{}\n", d.pid, other.pid));
    let e = audit_one(&pf, &["--ignore", "unlocked"]);
    assert_eq!(e["pid"], d.pid, "the first that runs: {e:#}");
    assert_eq!(e["state"], "running", "{e:#}");
    let f = finding(&e, "listed-pid-not-running");
    assert_eq!(f["evidence"]["pids"], serde_json::json!([dead]), "{f:#}");
    assert_eq!(f["evidence"]["verdicts"], serde_json::json!(["stale"]));
    let out = run(&[pf.to_str().unwrap(), "--ignore", "unlocked"]);
    assert!(
        out.stdout
            .contains(&format!("pids: {dead} stale, {} running ({name})", d.pid)),
        "{}",
        out.stdout
    );
}

/// A file of /proc or /sys named as a PATH is no pidfile: `not-a-file` saying so, never read (not
/// "emptied moments ago" or "kept changing").
#[test]
fn proc_and_sys_files_are_not_pidfiles() {
    let mut paths = vec![
        "/proc/1/stat",
        "/proc/sys/kernel/pid_max",
        "/proc/self/status",
    ];
    if std::path::Path::new("/sys/kernel/uevent_seqnum").exists() {
        paths.push("/sys/kernel/uevent_seqnum");
    }
    let (_, doc) = audit(&paths);
    for path in paths {
        let f = kernel_not_a_file(&doc, path);
        assert!(
            f["message"].as_str().unwrap().contains("not a pidfile"),
            "{path}: {f:#}"
        );
    }
}

/// A directory of /proc or /sys named as a PATH is one answer, like the files there: `not-a-file`
/// (`kernel_filesystem`), not a walk of kernel state full of `unreadable` findings.
#[test]
fn proc_and_sys_directories_are_not_walked() {
    let mut paths = vec!["/proc", "/proc/1", "/proc/self", "/proc/sys/kernel"];
    if std::path::Path::new("/sys/kernel").is_dir() {
        paths.push("/sys/kernel");
    }
    let (code, doc) = audit(&paths);
    assert_eq!(
        doc["pidfiles"].as_array().unwrap().len(),
        paths.len(),
        "{doc:#}"
    );
    assert!(findings_with(&doc, "unreadable").is_empty(), "{doc:#}");
    for path in paths {
        let f = kernel_not_a_file(&doc, path);
        assert_eq!(f["evidence"]["kind"], "directory", "{path}");
    }
    assert_eq!(code, 0);
}

/// The one finding of `path` in `doc`: `not-a-file` for kernel state.
fn kernel_not_a_file<'a>(doc: &'a serde_json::Value, path: &str) -> &'a serde_json::Value {
    let e = pidfile(doc, std::path::Path::new(path));
    assert_eq!(e["state"], "not-a-file", "{path}: {e:#}");
    let f = only_finding(e);
    assert_eq!(f["code"], "not-a-file", "{path}: {f:#}");
    assert_eq!(f["evidence"]["reason"], "kernel_filesystem", "{path}");
    f
}
