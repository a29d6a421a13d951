//! Attacks by an unprivileged local user on the audit and its reports: hostile file and process
//! names, names that are not UTF-8, a reader that closes the pipe, a main thread that exits, and
//! write grants hidden in ACLs.

mod common;
use common::*;

use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

/// Bytes that would act on a terminal: C0 controls other than the line feeds the report itself
/// writes, DEL, and C1 controls and bidi overrides (as UTF-8).
fn terminal_controls(out: &str) -> Vec<String> {
    out.chars()
        .filter(|c| {
            (c.is_control() && *c != '\n')
                || matches!(c, '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}')
        })
        .map(|c| format!("U+{:04X}", c as u32))
        .collect()
}

/// A file name and a process name (the executable's name, which becomes its `comm`) carrying escape
/// sequences, a line feed and a bidi override reach the human report only escaped: the screen is not
/// cleared, no line is forged, nothing is hidden.
#[test]
fn human_report_escapes_hostile_names() {
    let dir = open_tempdir();
    // comm keeps 15 bytes: ESC [ 2 J ESC [ 8 m (screen clear, hidden text) and a bidi override.
    let evil = named_sleep(dir.path(), "\x1b[2J\x1b[8m\u{202E}x");
    let name = "a\x1b[2J\x1b[H\nFORGED.pid: running, PID 1 (init)\n.pid";
    let pidfile = dir.path().join(name);
    write_pidfile(&pidfile, &format!("{}\n", evil.pid));
    let stale = dir.path().join("b\u{9b}2J\u{202E}.pid");
    write_pidfile(&stale, &format!("{}\n", dead_pid()));
    for verbose in [false, true] {
        let mut args = vec![
            "--color",
            "never",
            pidfile.to_str().unwrap(),
            stale.to_str().unwrap(),
        ];
        if verbose {
            args.push("--verbose");
        }
        let r = run(&args);
        assert!(r.code == 0 || r.code == 1, "exit {}: {}", r.code, r.stderr);
        assert_eq!(
            terminal_controls(&r.stdout),
            Vec::<String>::new(),
            "{}",
            r.stdout
        );
        assert!(
            !r.stdout.lines().any(|l| l.starts_with("FORGED")),
            "a file name forged a report line:\n{}",
            r.stdout
        );
        assert!(
            r.stdout.contains("\\x1b[2J\\x1b[8m\\xe2\\x80\\xaex"),
            "{}",
            r.stdout
        );
        assert!(r.stdout.contains("\\x0aFORGED.pid"), "{}", r.stdout);
        assert!(
            r.stdout.contains("b\\xc2\\x9b2J\\xe2\\x80\\xae.pid"),
            "{}",
            r.stdout
        );
    }
    // The other formats for people and monitors carry no terminal controls either.
    for format in ["nagios", "junit"] {
        let r = run(&[
            "--format",
            format,
            pidfile.to_str().unwrap(),
            stale.to_str().unwrap(),
        ]);
        let body = r.stdout.replace(['\r', '\t'], " ");
        assert_eq!(
            terminal_controls(&body),
            Vec::<String>::new(),
            "{format}: {}",
            r.stdout
        );
    }
}

/// Three stale pidfiles whose names differ only in one byte that is not UTF-8 (0xff, 0xfe) or in a
/// literal `\xff` stay three distinct paths, in JSON (`path`, `path_bytes`, finding subjects, valid
/// against the schema), in Prometheus series, and in JUnit and Nagios lines.
#[test]
fn invalid_utf8_names_stay_distinct() {
    let dir = open_tempdir();
    let raw: [&[u8]; 3] = [b"a\\xff.pid", b"a\xff.pid", b"a\xfe.pid"];
    let dead = dead_pid();
    let paths: Vec<PathBuf> = raw
        .iter()
        .map(|n| dir.path().join(OsStr::from_bytes(n)))
        .collect();
    for p in &paths {
        write_pidfile(p, &format!("{dead}\n"));
    }
    let root = dir.path().to_str().unwrap();
    let doc = audit_json(&[root]);
    let entries = doc["pidfiles"].as_array().unwrap();
    assert_eq!(entries.len(), 3, "{doc:#}");
    let shown: std::collections::BTreeSet<&str> = entries
        .iter()
        .map(|e| e["path"].as_str().unwrap())
        .collect();
    let expected: std::collections::BTreeSet<String> = ["a\\\\xff.pid", "a\\xff.pid", "a\\xfe.pid"]
        .iter()
        .map(|n| format!("{root}/{n}"))
        .collect();
    assert_eq!(
        shown,
        expected.iter().map(String::as_str).collect(),
        "{doc:#}"
    );
    for e in entries {
        let path = e["path"].as_str().unwrap();
        let bytes: Vec<u8> = e["path_bytes"]
            .as_array()
            .unwrap_or_else(|| panic!("no path_bytes: {e:#}"))
            .iter()
            .map(|b| b.as_u64().unwrap() as u8)
            .collect();
        assert!(
            paths.iter().any(|p| p.as_os_str().as_bytes() == bytes),
            "{e:#}"
        );
        assert_eq!(unescape(path), bytes, "{path}");
        for f in e["findings"].as_array().unwrap() {
            assert_eq!(f["subject"], path);
        }
    }
    // A plain name keeps `path` verbatim and has no `path_bytes`.
    let plain = dir.path().join("plain.pid");
    write_pidfile(&plain, &format!("{dead}\n"));
    let e = audit_one(&plain, &[]);
    assert_eq!(e["path"], plain.to_str().unwrap());
    assert!(e.get("path_bytes").is_none(), "{e:#}");
    std::fs::remove_file(&plain).unwrap();
    validate_schema(&doc);

    let prom = run(&["--format", "prometheus", root]).stdout;
    let series: std::collections::BTreeSet<&str> = prom
        .lines()
        .filter(|l| l.starts_with("pidaudit_pidfile_findings{"))
        .collect();
    assert_eq!(series.len(), 3, "{prom}");
    for n in ["a\\\\\\\\xff.pid", "a\\\\xff.pid", "a\\\\xfe.pid"] {
        assert!(
            prom.contains(&format!("path=\"{root}/{n}\"")),
            "{n}: {prom}"
        );
    }
    for format in ["junit", "nagios", "human"] {
        let out = run(&["--format", format, "--fail-on", "warning", root]).stdout;
        for n in ["a\\\\xff.pid", "a\\xff.pid", "a\\xfe.pid"] {
            assert!(
                out.contains(&format!("{root}/{n}")),
                "{format} lacks {n}: {out}"
            );
        }
    }
}

/// The bytes an escaped path stands for (`\\` and `\xNN`), as the README tells consumers to decode.
fn unescape(s: &str) -> Vec<u8> {
    let mut out = Vec::new();
    let b = s.as_bytes();
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'\\' && b[i + 1] == b'\\' {
            out.push(b'\\');
            i += 2;
        } else if b[i] == b'\\' && b[i + 1] == b'x' {
            out.push(u8::from_str_radix(&s[i + 2..i + 4], 16).unwrap());
            i += 4;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    out
}

fn validate_schema(doc: &serde_json::Value) {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("schema/pidaudit.schema.json");
    let schema: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    let v = jsonschema::draft202012::options().build(&schema).unwrap();
    let errors: Vec<String> = v.iter_errors(doc).map(|e| e.to_string()).collect();
    assert!(errors.is_empty(), "{errors:#?}\n{doc:#}");
}

/// A reader that closes the pipe after one byte (`| head -c1`, `| head -1`) does not change the exit
/// status: it is the audit's (1, an error finding), in every format, whether the report fits in the
/// pipe buffer (one malformed pidfile) or far exceeds it (2000), and nothing is said on stderr.
#[test]
fn closed_pipe_keeps_the_exit_status() {
    let dir = open_tempdir();
    let one = dir.path().join("one.pid");
    write_pidfile(&one, "junk\n");
    let many = dir.path().join("many");
    std::fs::create_dir(&many).unwrap();
    for i in 0..2000 {
        write_pidfile(&many.join(format!("f{i}.pid")), "junk\n");
    }
    let bin = env!("CARGO_BIN_EXE_pidaudit");
    for format in ["human", "json", "junit"] {
        for target in [&one, &many] {
            let target = target.to_str().unwrap();
            // In full: the audit's status and a report larger than the pipe buffer for `many`.
            let full = run(&["--format", format, target]);
            assert_eq!(full.code, 1, "{format} {target}: {}", full.stderr);
            if target.ends_with("many") {
                assert!(full.stdout.len() > 65536, "{format}: {}", full.stdout.len());
            }
            for reader in ["head -c1", "head -1"] {
                let r = run_cmd(std::process::Command::new("bash").args([
                    "-c",
                    &format!("set -o pipefail; '{bin}' --format {format} '{target}' | {reader} >/dev/null"),
                ]));
                assert_eq!(
                    (r.code, r.stderr.as_str()),
                    (1, ""),
                    "{format} {target} | {reader}"
                );
            }
        }
    }
    // The same through a pipe closed by a reader that is not a shell: one byte read, then closed.
    let mut child = std::process::Command::new(bin)
        .args(["--format", "json", many.to_str().unwrap()])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdout = child.stdout.take().unwrap();
    let mut byte = [0u8; 1];
    std::io::Read::read_exact(&mut stdout, &mut byte).unwrap();
    drop(stdout);
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    assert!(
        out.stderr.is_empty(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A daemon whose main thread ends with `pthread_exit()` while another thread serves.
const EXITED_MAIN_THREAD_C: &str = r#"
#include <pthread.h>
#include <stdio.h>
#include <unistd.h>
static void *serve(void *arg) { (void)arg; for (;;) pause(); return 0; }
int main(void) {
    pthread_t t;
    if (pthread_create(&t, 0, serve, 0)) return 1;
    printf("%d\n", (int)getpid());
    fflush(stdout);
    pthread_exit(0);
}
"#;

/// A process whose main thread called `pthread_exit()` shows state `Z` with a live thread: it is
/// running (with a `main-thread-exited` note carrying the thread count), not a zombie, and the
/// audit does not fail.
#[test]
fn exited_main_thread_is_running() {
    use std::io::BufRead;
    let dir = open_tempdir();
    let exe = build_c(dir.path(), "leaderd", EXITED_MAIN_THREAD_C);
    let mut child = spawn(std::process::Command::new(&exe).stdout(std::process::Stdio::piped()));
    let mut line = String::new();
    std::io::BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let daemon = Daemon::from_child(child);
    let pid: u32 = line.trim().parse().unwrap();
    assert_eq!(pid, daemon.pid);
    // Wait until the main thread is gone: state Z, two threads counted.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
        if status.contains("State:\tZ") && status.contains("Threads:\t2") {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "{status}");
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    let pf = dir.path().join("leaderd.pid");
    write_pidfile(&pf, &format!("{pid}\n"));
    let r = run(&["--format", "json", pf.to_str().unwrap()]);
    assert_eq!(r.code, 0, "{}", r.stdout);
    let e = pidfile(&r.json(), &pf).clone();
    assert_eq!(e["state"], "running", "{e:#}");
    assert_eq!(e["process"]["state"], "Z", "{e:#}");
    assert!(!codes(&e).contains(&"zombie".to_string()), "{e:#}");
    let f = finding(&e, "main-thread-exited");
    assert_eq!(f["severity"], "info");
    assert_eq!(f["evidence"]["threads"], 2);
    assert_eq!(f["evidence"]["state"], "Z");
    let human = run(&["--color", "never", pf.to_str().unwrap()]);
    assert!(
        human
            .stdout
            .starts_with(&format!("{}: running, PID {pid}", pf.display())),
        "{}",
        human.stdout
    );
}

fn setfacl(args: &[&str], path: &Path) {
    let st = std::process::Command::new("setfacl")
        .args(args)
        .arg(path)
        .status()
        .expect("setfacl (Debian package acl) is installed");
    assert!(st.success(), "setfacl {args:?} {}", path.display());
}

/// The trust verdict of one pidfile: trusted, trust reasons, and its `acl-writable` finding.
fn trust(pf: &Path) -> (bool, Vec<String>, Option<serde_json::Value>, Vec<String>) {
    let e = audit_one(pf, &[]);
    let reasons = e["trust_reasons"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c.as_str().unwrap().to_string())
        .collect();
    let acl = e["findings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["code"] == "acl-writable")
        .cloned();
    (e["trusted"].as_bool().unwrap(), reasons, acl, codes(&e))
}

/// A POSIX ACL entry that lets another user write the pidfile's directory (`drwxrwxr-x+`) or the
/// pidfile itself makes it untrusted (`acl-writable`, with the grant in the evidence); a mask
/// without write, a grant to root, a grant to the uid the daemon runs as, and a named group on a
/// directory do not; a named group on the file is a warning. A file whose mask shows `g+w` but whose owning group may not write is not
/// `group-writable`.
#[test]
fn acl_write_grants_make_pidfiles_untrusted() {
    let bin = open_tempdir();
    let dir = open_tempdir();
    let exe = bin.path().join("acld");
    std::fs::copy("/bin/sleep", &exe).unwrap();
    let daemon = Daemon::from_child(spawn(as_nobody(&exe).arg("1000")));
    // Until setpriv has become the daemon, its comm is setpriv's.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while std::fs::read_to_string(format!("/proc/{}/comm", daemon.pid)).unwrap_or_default()
        != "acld\n"
    {
        assert!(std::time::Instant::now() < deadline, "acld did not start");
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    let sub = dir.path().join("run");
    std::fs::create_dir(&sub).unwrap();
    std::fs::set_permissions(&sub, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    let pf = sub.join("acld.pid");
    write_pidfile(&pf, &format!("{}\n", daemon.pid));
    let (trusted, reasons, acl, _) = trust(&pf);
    assert!(trusted, "{reasons:?}");
    assert!(acl.is_none());

    // The directory: another user (uid 1234) may write it.
    setfacl(&["-m", "u:1234:rwx"], &sub);
    let (trusted, reasons, acl, codes) = trust(&pf);
    assert!(!trusted);
    assert_eq!(reasons, ["acl-writable"], "{codes:?}");
    let acl = acl.unwrap();
    assert_eq!(acl["severity"], "error");
    assert_eq!(
        acl["evidence"]["grants"],
        serde_json::json!([{"path": sub.to_str().unwrap(), "kind": "user", "id": 1234}])
    );
    // A mask without write leaves the grant without effect.
    setfacl(&["-m", "m::rx"], &sub);
    assert!(trust(&pf).0);
    setfacl(&["-b"], &sub);
    // A named group on a directory is a deliberate grant, like the owning group's write bit.
    setfacl(&["-m", "g:1234:rwx"], &sub);
    assert!(trust(&pf).0);
    setfacl(&["-b"], &sub);

    // The file: a named user may write it; the owning group may not.
    setfacl(&["-m", "u:1234:rw"], &pf);
    let (trusted, reasons, acl, codes) = trust(&pf);
    assert!(!trusted);
    assert_eq!(reasons, ["acl-writable"], "{codes:?}");
    assert!(!codes.contains(&"group-writable".to_string()), "{codes:?}");
    assert_eq!(
        acl.unwrap()["evidence"]["grants"][0],
        serde_json::json!({"path": pf.to_str().unwrap(), "kind": "user", "id": 1234})
    );
    setfacl(&["-b"], &pf);
    // A named group: a warning.
    setfacl(&["-m", "g:1234:rw"], &pf);
    let (trusted, _, acl, _) = trust(&pf);
    assert!(!trusted);
    assert_eq!(acl.unwrap()["severity"], "warning");
    setfacl(&["-b"], &pf);
    // Root, and the user the daemon runs as, may write: still trusted.
    setfacl(&["-m", &format!("u:0:rw,u:{NOBODY}:rw,g:0:rw")], &pf);
    let (trusted, reasons, acl, codes) = trust(&pf);
    assert!(trusted, "{reasons:?} {codes:?}");
    assert!(acl.is_none());
}
