//! Liveness against real processes: healthy, stale, zombie, reused, previous boot.

mod common;
use common::*;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// A live daemon named by its own pidfile is `running` with no finding but `unlocked` (info).
#[test]
fn healthy_daemon_is_running() {
    let dir = tempfile::tempdir().unwrap();
    let (name, pf) = unique_pidfile(dir.path(), "hlthyd");
    let d = named_sleep(dir.path(), &name);
    write_pid(&pf, d.pid);
    let (code, doc) = audit_path(&pf, &[]);
    let e = pidfile(&doc, &pf);
    assert_eq!(code, 0, "{e:#}");
    assert_eq!(e["state"], "running");
    assert_eq!(e["pid"], d.pid);
    assert_eq!(e["process"]["comm"], name.as_str());
    // Its only finding is informational: it does not lock its pidfile.
    assert_eq!(codes(e), vec!["unlocked"], "{e:#}");
}

/// A daemon that was killed and reaped leaves a `stale` file (warning: exit 0 at the default threshold).
#[test]
fn killed_daemon_leaves_stale_file() {
    let dir = tempfile::tempdir().unwrap();
    let (name, pf) = unique_pidfile(dir.path(), "killd");
    let mut d = named_sleep(dir.path(), &name);
    write_pid(&pf, d.pid);
    d.kill();
    let (code, doc) = audit_path(&pf, &[]);
    let e = pidfile(&doc, &pf);
    assert_eq!(code, 0);
    assert_eq!(e["state"], "stale");
    assert_eq!(codes(e), vec!["stale"]);
    let r = run(&["--fail-on", "warning", pf.to_str().unwrap()]);
    assert_eq!(r.code, 1, "--fail-on warning fails on a stale file");
}

/// A zombie is `zombie` (error), and the evidence names the parent that does not reap it.
#[test]
fn zombie_names_its_parent() {
    let dir = tempfile::tempdir().unwrap();
    let (parent, zpid) = zombie();
    let (_, pf) = unique_pidfile(dir.path(), "zombid");
    write_pid(&pf, zpid);
    let (code, doc) = audit_path(&pf, &[]);
    let e = pidfile(&doc, &pf);
    assert_eq!(code, 1);
    assert_eq!(e["state"], "zombie");
    let f = &e["findings"][0];
    assert_eq!(f["code"], "zombie");
    assert_eq!(f["evidence"]["parent_pid"], parent.pid);
    assert_eq!(f["evidence"]["parent_comm"], "sleep");
}

/// A live process younger than the file's last write is not its writer: `pid-reused`.
#[test]
fn younger_process_is_reused_pid() {
    let dir = tempfile::tempdir().unwrap();
    let (name, pf) = unique_pidfile(dir.path(), "reusd");
    let d = named_sleep(dir.path(), &name);
    write_pid(&pf, d.pid);
    age(&pf, 60);
    let (code, doc) = audit_path(&pf, &[]);
    let e = pidfile(&doc, &pf);
    assert_eq!(code, 1);
    assert_eq!(e["state"], "reused");
    assert_eq!(codes(e), vec!["pid-reused"]);
    // Written just now, the same process is the writer.
    write_pid(&pf, d.pid);
    assert_eq!(audit_one(&pf, &[])["state"], "running");
}

/// A file written before the current boot is `previous-boot`; its dead PID is also stale.
#[test]
fn file_from_before_boot() {
    let dir = tempfile::tempdir().unwrap();
    let (_, pf) = unique_pidfile(dir.path(), "old");
    write_pid(&pf, dead_pid());
    set_mtime(&pf, UNIX_EPOCH + Duration::from_secs(boot_time() - 3600));
    let e = audit_one(&pf, &[]);
    assert_eq!(e["state"], "stale");
    assert_eq!(codes(&e), vec!["previous-boot", "stale"]);
}

/// Readable by people: the human report says how much later a reused PID's process started in
/// hours and minutes, shows the timestamps in its evidence in RFC 3339, and names the user next to
/// a uid.
#[test]
fn human_report_reads_as_times_and_names() {
    let dir = open_tempdir();
    let (name, pf) = unique_pidfile(dir.path(), "hread");
    let d = Testd::without_pidfile().name(&name).unprivileged().start();
    write_pid(&pf, d.pid);
    // About two hours before the process started (less on a machine booted more recently).
    age(&pf, 7200);
    let out = run(&[pf.to_str().unwrap(), "--verbose"]);
    let text = &out.stdout;
    let line = text
        .lines()
        .find(|l| l.contains("[pid-reused]"))
        .unwrap_or_else(|| panic!("{text}"));
    assert!(!line.contains(" s after"), "{line}");
    let booted = boot_time();
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs();
    if now - booted > 7300 {
        assert!(
            line.contains("(started 2h after the file was written)"),
            "{line}"
        );
    }
    let mtime = text
        .lines()
        .find(|l| l.trim_start().starts_with("file_mtime:"))
        .unwrap_or_else(|| panic!("{text}"));
    assert!(mtime.contains("Z)"), "RFC 3339 after the number: {mtime}");
    assert!(
        text.contains(&format!("uid {NOBODY} (nobody)")),
        "the user's name next to its uid: {text}"
    );
    // JSON keeps the numbers.
    let e = audit_one(&pf, &["--verbose"]);
    assert_eq!(e["process"]["uid"], NOBODY, "{e:#}");
    assert!(
        finding(&e, "pid-reused")["evidence"]["file_mtime"].is_f64(),
        "{e:#}"
    );
}
