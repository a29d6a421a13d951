//! Instances and deploys against real processes: duplicates under a real supervisor (runit's runsv),
//! master/worker trees, orphans left by failed stops and starts, orphaned workers, replaced binaries,
//! `--started-after`.

mod common;
use common::*;
use serde_json::Value;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// A child process killed and reaped when dropped.
struct Kid(Child);

impl Drop for Kid {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn wait_for(what: &str, mut ok: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while !ok() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn comm(pid: u32) -> String {
    std::fs::read_to_string(format!("/proc/{pid}/comm"))
        .unwrap_or_default()
        .trim()
        .to_string()
}

/// Copies /bin/sleep to `dir/name` (so comm and exe are `name`).
fn sleep_copy(dir: &Path, name: &str) -> PathBuf {
    let exe = dir.join(name);
    std::fs::copy("/bin/sleep", &exe).unwrap();
    exe
}

/// Starts `exe 1000` double-forked into the background (reparented to init); returns its PID.
fn background(exe: &Path) -> Daemon {
    let out = Command::new("sh")
        .arg("-c")
        .arg(format!(
            "( '{}' 1000 </dev/null >/dev/null 2>&1 & echo $! )",
            exe.display()
        ))
        .output()
        .unwrap();
    let pid: u32 = String::from_utf8_lossy(&out.stdout).trim().parse().unwrap();
    let d = Daemon::adopt(pid);
    wait_for("the background copy to be reparented", || {
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
        let ppid = stat
            .rsplit(')')
            .next()
            .and_then(|r| r.split_whitespace().nth(1));
        ppid.is_some_and(|p| p != std::process::id().to_string())
            && comm(pid) == exe.file_name().unwrap().to_str().unwrap()
    });
    d
}

/// Starts the test daemon as our child and reads its PID line and (with --workers) worker PIDs.
fn testd_workers(args: &[&str]) -> (Kid, u32, Vec<Daemon>) {
    let mut child = Command::new("python3")
        .arg(testd_path())
        .args(args)
        .stdout(Stdio::piped())
        .stdin(Stdio::null())
        .spawn()
        .unwrap();
    let mut r = BufReader::new(child.stdout.take().unwrap());
    let mut line = String::new();
    r.read_line(&mut line).unwrap();
    let pid: u32 = line.trim().parse().unwrap();
    line.clear();
    r.read_line(&mut line).unwrap();
    let workers = line
        .split_whitespace()
        .map(|w| Daemon::adopt(w.parse().unwrap()))
        .collect();
    (Kid(child), pid, workers)
}

/// Runs a JSON audit; `unlocked` (info, the test daemons do not lock) is left out.
fn json(args: &[&str]) -> (i32, Value) {
    let mut a = vec!["--format", "json", "--ignore", "unlocked"];
    a.extend_from_slice(args);
    let r = run(&a);
    (r.code, r.json())
}

fn finding<'a>(entry: &'a Value, code: &str) -> &'a Value {
    entry["findings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["code"] == code)
        .unwrap_or_else(|| panic!("no {code} in {entry:#}"))
}

/// The incident: a daemon supervised by runsv plus a forgotten double-forked copy of the same binary
/// and arguments. Exactly the background copy is the duplicate; the evidence names the supervisor and
/// which instance the pidfile tracks.
#[test]
fn incident_replay_supervised_plus_background_copy() {
    let dir = tempfile::tempdir().unwrap();
    let exe = sleep_copy(dir.path(), "incidentd");
    let sv = dir.path().join("sv/incidentd");
    std::fs::create_dir_all(&sv).unwrap();
    let run_script = sv.join("run");
    std::fs::write(
        &run_script,
        format!("#!/bin/sh\nexec '{}' 1000\n", exe.display()),
    )
    .unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&run_script, std::fs::Permissions::from_mode(0o755)).unwrap();
    let runsv = Kid(Command::new("runsv")
        .arg(&sv)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .spawn()
        .expect("runsv (runit) is installed"));
    let pidfile = sv.join("supervise/pid");
    let mut supervised = 0u32;
    wait_for("runsv to start the daemon", || {
        supervised = std::fs::read_to_string(&pidfile)
            .ok()
            .and_then(|s| s.trim().parse().ok())
            .unwrap_or(0);
        supervised != 0 && comm(supervised) == "incidentd"
    });
    let bg = background(&exe);
    let (code, doc) = json(&[pidfile.to_str().unwrap()]);
    drop(runsv);
    let _supervised = Daemon::adopt(supervised);
    let e = pidfile_entry(&doc, &pidfile);
    assert_eq!(code, 1);
    assert_eq!(codes(&e), vec!["duplicate-instance"], "{e:#}");
    let f = finding(&e, "duplicate-instance");
    assert_eq!(f["evidence"]["duplicates"], serde_json::json!([bg.pid]));
    assert_eq!(f["evidence"]["tracked_pid"], supervised);
    let inst = f["evidence"]["instances"].as_array().unwrap();
    assert_eq!(inst.len(), 2);
    assert_eq!(inst[0]["pid"], supervised);
    assert_eq!(inst[0]["tracked"], true);
    assert!(
        inst[0]["supervisor"]
            .as_str()
            .unwrap()
            .starts_with("runsv (PID "),
        "{f:#}"
    );
    assert_eq!(inst[1]["pid"], bg.pid);
    assert_eq!(inst[1]["tracked"], false);
    assert_eq!(inst[1]["supervisor"], Value::Null);
    assert!(inst[1]["start_time"].is_number());
}

fn pidfile_entry(doc: &Value, path: &Path) -> Value {
    pidfile(doc, path).clone()
}

/// A master with forked workers (same exe, same arguments, children of the recorded PID) is one
/// instance: no finding.
#[test]
fn master_with_workers_is_not_duplicated() {
    let dir = tempfile::tempdir().unwrap();
    let pf = dir.path().join("wmasterd.pid");
    let (_kid, master, workers) = testd_workers(&[
        "--setsid",
        "--name",
        "wmasterd",
        "--pidfile",
        pf.to_str().unwrap(),
        "--workers",
        "3",
    ]);
    assert_eq!(workers.len(), 3);
    let (code, doc) = json(&[pf.to_str().unwrap()]);
    let e = pidfile_entry(&doc, &pf);
    assert_eq!(e["pid"], master);
    assert_eq!(code, 0, "{e:#}");
    assert!(codes(&e).is_empty(), "{e:#}");
}

/// A stop that removed the pidfile while the daemon survived: the missing file is reported, and the
/// survivor is found by the file's name as an orphaned instance.
#[test]
fn failed_stop_leaves_orphaned_instance() {
    let dir = tempfile::tempdir().unwrap();
    let pf = dir.path().join("fstopd.pid");
    let d = testd(&[
        "--daemonize",
        "--name",
        "fstopd",
        "--pidfile",
        pf.to_str().unwrap(),
    ]);
    std::fs::remove_file(&pf).unwrap();
    let (code, doc) = json(&[pf.to_str().unwrap()]);
    let e = pidfile_entry(&doc, &pf);
    assert_eq!(code, 1);
    assert_eq!(e["state"], "missing");
    assert_eq!(
        codes(&e),
        vec!["missing-pidfile", "orphaned-instance"],
        "{e:#}"
    );
    let f = finding(&e, "orphaned-instance");
    assert_eq!(f["evidence"]["orphans"], serde_json::json!([d.pid]));
    assert_eq!(f["evidence"]["found_by"], "name");
}

/// A second start overwrote the pidfile with its own PID and exited: the file is stale and the first
/// daemon, still running, is an orphaned instance, unless another audited pidfile tracks it.
#[test]
fn second_start_overwrote_pidfile_and_exited() {
    let dir = tempfile::tempdir().unwrap();
    let pf = dir.path().join("secstartd.pid");
    let first = testd(&[
        "--daemonize",
        "--name",
        "secstartd",
        "--pidfile",
        pf.to_str().unwrap(),
    ]);
    let mut second = testd(&["--name", "secstartd", "--pidfile", pf.to_str().unwrap()]);
    second.kill();
    let (code, doc) = json(&[pf.to_str().unwrap()]);
    let e = pidfile_entry(&doc, &pf);
    assert_eq!(code, 1);
    assert_eq!(e["pid"], second.pid);
    assert_eq!(codes(&e), vec!["stale", "orphaned-instance"], "{e:#}");
    let f = finding(&e, "orphaned-instance");
    assert_eq!(f["evidence"]["orphans"], serde_json::json!([first.pid]));
    assert_eq!(f["evidence"]["recorded_pid"], second.pid);
    // Tracked by another audited pidfile, the first daemon is no orphan.
    let other = tempfile::tempdir().unwrap();
    let pf2 = other.path().join("secstartd.pid");
    write_pidfile(&pf2, &format!("{}\n", first.pid));
    let (_, doc) = json(&[pf.to_str().unwrap(), pf2.to_str().unwrap()]);
    assert_eq!(codes(&pidfile_entry(&doc, &pf)), vec!["stale"]);
    assert!(codes(&pidfile_entry(&doc, &pf2)).is_empty());
}

/// A master killed with SIGKILL leaves its workers running, reparented: they are orphaned workers
/// (found through the dead master's session), not orphaned instances.
#[test]
fn killed_master_leaves_orphaned_workers() {
    let dir = tempfile::tempdir().unwrap();
    let pf = dir.path().join("owrkd.pid");
    let (kid, master, workers) = testd_workers(&[
        "--setsid",
        "--name",
        "owrkd",
        "--pidfile",
        pf.to_str().unwrap(),
        "--workers",
        "2",
    ]);
    drop(kid);
    let (code, doc) = json(&[pf.to_str().unwrap()]);
    let e = pidfile_entry(&doc, &pf);
    assert_eq!(e["pid"], master);
    assert_eq!(code, 0, "stale and orphaned-worker are warnings");
    assert_eq!(codes(&e), vec!["stale", "orphaned-worker"], "{e:#}");
    let mut want: Vec<u32> = workers.iter().map(|w| w.pid).collect();
    want.sort();
    assert_eq!(
        finding(&e, "orphaned-worker")["evidence"]["workers"],
        serde_json::json!(want)
    );
}

/// A binary replaced on disk while it runs is `deleted-exe`, and the evidence says another file now
/// stands at the path; once removed, that nothing does.
#[test]
fn replaced_binary_is_deleted_exe() {
    let dir = tempfile::tempdir().unwrap();
    let exe = sleep_copy(dir.path(), "upgraded");
    let child = Kid(spawn(Command::new(&exe).arg("1000")));
    let pf = dir.path().join("upgraded.pid");
    write_pidfile(&pf, &format!("{}\n", child.0.id()));
    let (code, doc) = json(&[pf.to_str().unwrap()]);
    assert_eq!(code, 0);
    assert!(codes(&pidfile_entry(&doc, &pf)).is_empty());
    let new = dir.path().join("upgraded.new");
    std::fs::copy("/bin/sleep", &new).unwrap();
    std::fs::rename(&new, &exe).unwrap();
    let (code, doc) = json(&[pf.to_str().unwrap()]);
    let e = pidfile_entry(&doc, &pf);
    assert_eq!(code, 0, "a warning does not fail the default threshold");
    assert_eq!(codes(&e), vec!["deleted-exe"], "{e:#}");
    let f = finding(&e, "deleted-exe");
    assert_eq!(f["evidence"]["replaced"], true);
    assert_eq!(f["evidence"]["exe"], exe.to_str().unwrap());
    assert!(f["message"].as_str().unwrap().contains("was replaced"));
    assert_ne!(f["evidence"]["file_now"], f["evidence"]["running_file"]);
    std::fs::remove_file(&exe).unwrap();
    let (_, doc) = json(&[pf.to_str().unwrap()]);
    let f = finding(&pidfile_entry(&doc, &pf), "deleted-exe").clone();
    assert_eq!(f["evidence"]["replaced"], false);
    assert_eq!(f["evidence"]["file_now"], Value::Null);
    assert!(f["message"].as_str().unwrap().contains("was deleted"));
}

/// `--started-after` flags a daemon that started earlier (Unix seconds and RFC 3339), accepts one
/// that started later, and refuses a time it cannot read.
#[test]
fn started_after_flags_daemons_not_restarted() {
    let dir = tempfile::tempdir().unwrap();
    let d = named_sleep(dir.path(), "deployd");
    let pf = dir.path().join("deployd.pid");
    write_pidfile(&pf, &format!("{}\n", d.pid));
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let later = (now + 3600).to_string();
    let (code, doc) = json(&["--started-after", &later, pf.to_str().unwrap()]);
    let e = pidfile_entry(&doc, &pf);
    assert_eq!(code, 1);
    assert_eq!(codes(&e), vec!["started-before-deploy"]);
    assert_eq!(
        finding(&e, "started-before-deploy")["evidence"]["started_after"],
        (now + 3600) as f64
    );
    let (code, doc) = json(&[
        "--started-after",
        "2000-01-01T00:00:00Z",
        pf.to_str().unwrap(),
    ]);
    assert_eq!(code, 0);
    assert!(codes(&pidfile_entry(&doc, &pf)).is_empty());
    let (code, doc) = json(&[
        "--started-after",
        "2999-01-01T02:00:00+02:00",
        pf.to_str().unwrap(),
    ]);
    assert_eq!(code, 1);
    assert_eq!(
        codes(&pidfile_entry(&doc, &pf)),
        vec!["started-before-deploy"]
    );
    let r = run(&["--started-after", "yesterday", pf.to_str().unwrap()]);
    assert_eq!(r.code, 2);
    assert_eq!(
        r.stderr.trim(),
        "pidaudit: --started-after: 'yesterday' is not RFC 3339 (2024-05-01T12:00:00Z, 2024-05-01T14:00:00+02:00) or Unix seconds"
    );
}

/// A daemon whose pidfile was overwritten with a dead PID, but which still holds the file's lock, is
/// found through the lock even when its name shares nothing with the file's: `orphaned-instance`
/// with `found_by: lock`, next to `stale` and `lock-holder-mismatch`.
#[test]
fn orphan_found_through_the_lock() {
    let dir = tempfile::tempdir().unwrap();
    let pf = dir.path().join("qqservice.pid");
    let d = testd(&[
        "--pidfile",
        pf.to_str().unwrap(),
        "--lock",
        "flock",
        "--name",
        "zzlockholder",
    ]);
    // Same inode, new content: the lock stays with the first instance.
    std::fs::OpenOptions::new()
        .write(true)
        .truncate(true)
        .open(&pf)
        .and_then(|mut f| std::io::Write::write_all(&mut f, format!("{}\n", dead_pid()).as_bytes()))
        .unwrap();
    let r = run(&["--format", "json", pf.to_str().unwrap()]);
    let doc = r.json();
    let e = pidfile(&doc, &pf);
    assert_eq!(e["state"], "stale", "{e:#}");
    let c = codes(e);
    assert!(c.contains(&"lock-holder-mismatch".to_string()), "{c:?}");
    let orphan = e["findings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["code"] == "orphaned-instance")
        .unwrap_or_else(|| panic!("no orphaned-instance: {e:#}"));
    assert_eq!(
        orphan["evidence"]["instances"][0]["pid"], d.pid,
        "{orphan:#}"
    );
    assert_eq!(orphan["evidence"]["found_by"], "lock", "{orphan:#}");
}
