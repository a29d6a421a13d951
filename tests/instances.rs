//! Instances and deploys against real processes: duplicates under a real supervisor (runit's runsv),
//! master/worker trees, orphans left by failed stops and starts, orphaned workers, replaced binaries,
//! `--started-after`.

mod common;
use common::*;
use serde_json::Value;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{SystemTime, UNIX_EPOCH};

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
    wait_until("the background copy to be reparented", || {
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

/// The incident: a daemon supervised by runsv plus a forgotten double-forked copy of the same binary
/// and arguments. Exactly the background copy is the other copy (`double-managed`); the evidence names the supervisor and
/// which instance the pidfile tracks.
#[test]
fn incident_replay_supervised_plus_background_copy() {
    let dir = tempfile::tempdir().unwrap();
    let name = unique_name("incid");
    let exe = sleep_copy(dir.path(), &name);
    let sv = dir.path().join("sv").join(&name);
    std::fs::create_dir_all(&sv).unwrap();
    let run_script = sv.join("run");
    std::fs::write(
        &run_script,
        format!("#!/bin/sh\nexec '{}' 1000\n", exe.display()),
    )
    .unwrap();
    chmod(&run_script, 0o755);
    let runsv = Daemon::from_child(
        Command::new("runsv")
            .arg(&sv)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .spawn()
            .expect("runsv (runit) is installed"),
    );
    let pf = sv.join("supervise/pid");
    let mut supervised = 0u32;
    wait_until("runsv to start the daemon", || {
        supervised = std::fs::read_to_string(&pf)
            .ok()
            .and_then(|s| s.trim().parse().ok())
            .unwrap_or(0);
        supervised != 0 && comm(supervised) == name
    });
    let bg = background(&exe);
    let (code, doc) = audit_path(&pf, NO_UNLOCKED);
    drop(runsv);
    let _supervised = Daemon::adopt(supervised);
    let e = pidfile(&doc, &pf);
    assert_eq!(code, 1);
    // A supervised daemon's copy outside the supervisor: `double-managed` says it (and replaces
    // `duplicate-instance`), with the same evidence.
    assert_eq!(codes(e), vec!["double-managed"], "{e:#}");
    let f = finding(e, "double-managed");
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

/// A master with forked workers (same exe, same arguments, children of the recorded PID) is one
/// instance: no finding.
#[test]
fn master_with_workers_is_not_duplicated() {
    let dir = tempfile::tempdir().unwrap();
    let (name, pf) = unique_pidfile(dir.path(), "wmastd");
    let master = Testd::new(&pf).setsid().name(&name).workers(3).start();
    assert_eq!(master.workers.len(), 3);
    let (code, doc) = audit_path(&pf, NO_UNLOCKED);
    let e = pidfile(&doc, &pf);
    assert_eq!(e["pid"], master.pid);
    assert_eq!(code, 0, "{e:#}");
    assert!(codes(e).is_empty(), "{e:#}");
}

/// A stop that removed the pidfile while the daemon survived: the missing file is reported, and the
/// survivor is found as an orphaned instance by its command line, which names the pidfile
/// (`--pidfile FILE`; without it, by the file's name: see the script test below).
#[test]
fn failed_stop_leaves_orphaned_instance() {
    let dir = tempfile::tempdir().unwrap();
    let (name, pf) = unique_pidfile(dir.path(), "fstopd");
    let d = Testd::new(&pf).daemonize().name(&name).start();
    std::fs::remove_file(&pf).unwrap();
    let (code, doc) = audit_path(&pf, NO_UNLOCKED);
    let e = pidfile(&doc, &pf);
    assert_eq!(code, 1);
    assert_eq!(e["state"], "missing");
    assert_eq!(
        codes(e),
        vec!["missing-pidfile", "orphaned-instance"],
        "{e:#}"
    );
    let f = finding(e, "orphaned-instance");
    assert_eq!(f["evidence"]["orphans"], serde_json::json!([d.pid]));
    assert_eq!(f["evidence"]["found_by"], "argv");
}

/// A second start overwrote the pidfile with its own PID and exited: the file is stale and the first
/// daemon, still running, is an orphaned instance, unless another audited pidfile tracks it.
#[test]
fn second_start_overwrote_pidfile_and_exited() {
    let dir = tempfile::tempdir().unwrap();
    let (name, pf) = unique_pidfile(dir.path(), "secstd");
    let first = Testd::new(&pf).daemonize().name(&name).start();
    let mut second = Testd::new(&pf).name(&name).start();
    second.kill();
    let (code, doc) = audit_path(&pf, NO_UNLOCKED);
    let e = pidfile(&doc, &pf);
    assert_eq!(code, 1);
    assert_eq!(e["pid"], second.pid);
    assert_eq!(codes(e), vec!["stale", "orphaned-instance"], "{e:#}");
    let f = finding(e, "orphaned-instance");
    assert_eq!(f["evidence"]["orphans"], serde_json::json!([first.pid]));
    assert_eq!(f["evidence"]["recorded_pid"], second.pid);
    // Tracked by another audited pidfile, the first daemon is no orphan.
    let other = tempfile::tempdir().unwrap();
    let pf2 = other.path().join(format!("{name}.pid"));
    write_pid(&pf2, first.pid);
    let (_, doc) = audit(&[
        "--ignore",
        "unlocked",
        pf.to_str().unwrap(),
        pf2.to_str().unwrap(),
    ]);
    assert_eq!(codes(pidfile(&doc, &pf)), vec!["stale"]);
    assert!(codes(pidfile(&doc, &pf2)).is_empty());
}

/// A master killed with SIGKILL leaves its workers running, reparented: they are orphaned workers
/// (found through the dead master's session), not orphaned instances.
#[test]
fn killed_master_leaves_orphaned_workers() {
    let dir = tempfile::tempdir().unwrap();
    let (name, pf) = unique_pidfile(dir.path(), "owrkd");
    let mut master = Testd::new(&pf).setsid().name(&name).workers(2).start();
    master.kill();
    let (code, doc) = audit_path(&pf, NO_UNLOCKED);
    let e = pidfile(&doc, &pf);
    assert_eq!(e["pid"], master.pid);
    assert_eq!(code, 0, "stale and orphaned-worker are warnings");
    assert_eq!(codes(e), vec!["stale", "orphaned-worker"], "{e:#}");
    let mut want: Vec<u32> = master.workers.iter().map(|w| w.pid).collect();
    want.sort();
    assert_eq!(
        finding(e, "orphaned-worker")["evidence"]["workers"],
        serde_json::json!(want)
    );
}

/// A binary replaced on disk while it runs is `deleted-exe`, and the evidence says another file now
/// stands at the path; once removed, that nothing does.
#[test]
fn replaced_binary_is_deleted_exe() {
    let dir = tempfile::tempdir().unwrap();
    let d = named_sleep(dir.path(), "upgraded");
    let exe = dir.path().join("upgraded");
    let pf = dir.path().join("upgraded.pid");
    write_pid(&pf, d.pid);
    let (code, doc) = audit_path(&pf, NO_UNLOCKED);
    assert_eq!(code, 0);
    assert!(codes(pidfile(&doc, &pf)).is_empty());
    let new = dir.path().join("upgraded.new");
    std::fs::copy("/bin/sleep", &new).unwrap();
    std::fs::rename(&new, &exe).unwrap();
    let (code, doc) = audit_path(&pf, NO_UNLOCKED);
    let e = pidfile(&doc, &pf);
    assert_eq!(code, 0, "a warning does not fail the default threshold");
    assert_eq!(codes(e), vec!["deleted-exe"], "{e:#}");
    let f = finding(e, "deleted-exe");
    assert_eq!(f["evidence"]["replaced"], true);
    assert_eq!(f["evidence"]["exe"], exe.to_str().unwrap());
    assert!(f["message"].as_str().unwrap().contains("was replaced"));
    assert_ne!(f["evidence"]["file_now"], f["evidence"]["running_file"]);
    std::fs::remove_file(&exe).unwrap();
    let e = audit_one(&pf, NO_UNLOCKED);
    let f = finding(&e, "deleted-exe");
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
    write_pid(&pf, d.pid);
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let later = (now + 3600).to_string();
    let after = |time: &str| audit_path(&pf, &["--ignore", "unlocked", "--started-after", time]);
    let (code, doc) = after(&later);
    let e = pidfile(&doc, &pf);
    assert_eq!(code, 1);
    assert_eq!(codes(e), vec!["started-before-deploy"]);
    assert_eq!(
        finding(e, "started-before-deploy")["evidence"]["started_after"],
        (now + 3600) as f64
    );
    let (code, doc) = after("2000-01-01T00:00:00Z");
    assert_eq!(code, 0);
    assert!(codes(pidfile(&doc, &pf)).is_empty());
    let (code, doc) = after("2999-01-01T02:00:00+02:00");
    assert_eq!(code, 1);
    assert_eq!(codes(pidfile(&doc, &pf)), vec!["started-before-deploy"]);
    let r = run(&["--started-after", "yesterday", pf.to_str().unwrap()]);
    assert_eq!(r.code, 2);
    assert_eq!(
        r.stderr.trim(),
        "pidaudit: error: --started-after: 'yesterday' is not a time: RFC 3339 (2024-05-01T12:00:00Z), Unix seconds, a local time (2024-05-01 14:00) or a time ago (10m, 2h ago)"
    );
}

/// A daemon whose pidfile was overwritten with a dead PID, but which still holds the file's lock, is
/// found through the lock even when its name shares nothing with the file's: `orphaned-instance`
/// with `found_by: lock`, next to `stale` and `lock-holder-mismatch`.
#[test]
fn orphan_found_through_the_lock() {
    let dir = tempfile::tempdir().unwrap();
    let (_, pf) = unique_pidfile(dir.path(), "qqsvc");
    let d = Testd::new(&pf)
        .lock(Lock::Flock)
        .name("zzlockholder")
        .start();
    // Same inode (truncated and rewritten), new content: the lock stays with the first instance.
    write_pid(&pf, dead_pid());
    let e = audit_one(&pf, &[]);
    assert_eq!(e["state"], "stale", "{e:#}");
    let c = codes(&e);
    assert!(c.contains(&"lock-holder-mismatch".to_string()), "{c:?}");
    let orphan = finding(&e, "orphaned-instance");
    assert_eq!(
        orphan["evidence"]["instances"][0]["pid"], d.pid,
        "{orphan:#}"
    );
    assert_eq!(orphan["evidence"]["found_by"], "lock", "{orphan:#}");
}

/// A per-service audit of one pidfile: a second copy of the daemon that another pidfile on the
/// machine tracks (here one in /run, not audited) is no duplicate; the same copy with its /run
/// pidfile gone is one.
#[test]
fn a_copy_another_pidfile_tracks_is_no_duplicate() {
    let dir = tempfile::tempdir().unwrap();
    let name = unique_name("elsew");
    let exe = sleep_copy(dir.path(), &name);
    let pf = dir.path().join(format!("{name}.pid"));
    let first = background(&exe);
    write_pidfile(&pf, &format!("{}\n", first.pid));
    let second = background(&exe);
    // The second copy's own pidfile, where the default scan looks; removed when the test ends.
    struct Removed(std::path::PathBuf);
    impl Drop for Removed {
        fn drop(&mut self) {
            let _ = std::fs::remove_file(&self.0);
        }
    }
    let other = Removed(Path::new("/run").join(format!("{name}-2.pid")));
    write_pidfile(&other.0, &format!("{}\n", second.pid));
    let (_, doc) = audit_path(&pf, NO_UNLOCKED);
    let e = pidfile(&doc, &pf);
    assert_eq!(codes(e), Vec::<String>::new(), "{e:#}");
    assert!(
        pidfile_absent(&doc, &other.0),
        "only the named pidfile is reported"
    );
    drop(other);
    let (_, doc) = audit_path(&pf, NO_UNLOCKED);
    let e = pidfile(&doc, &pf);
    assert_eq!(codes(e), vec!["duplicate-instance"], "{e:#}");
    assert_eq!(
        finding(e, "duplicate-instance")["evidence"]["duplicates"],
        serde_json::json!([second.pid])
    );
}

fn pidfile_absent(doc: &Value, path: &Path) -> bool {
    let p = path.display().to_string();
    !doc["pidfiles"]
        .as_array()
        .unwrap()
        .iter()
        .any(|e| e["path"] == p.as_str())
}

/// A script daemon is named by its script, extension and all (`NAME.py`): after its master is
/// killed, its workers (not in a session it led, so not attributable as its workers) are still
/// found as orphaned instances by the pidfile's name (`NAME.pid`).
#[test]
fn script_extension_does_not_hide_orphaned_instances() {
    let dir = tempfile::tempdir().unwrap();
    let (name, pf) = unique_pidfile(dir.path(), "pfd");
    let script = format!("{name}.py");
    assert!(script.len() <= 15, "{script} fits in comm");
    // Its command line does not name the pidfile (that would find it by `argv`): it writes the
    // file itself.
    let mut master = Testd::without_pidfile().name(&script).workers(2).start();
    write_pid(&pf, master.pid);
    master.kill();
    let (_, doc) = audit_path(&pf, NO_UNLOCKED);
    let e = pidfile(&doc, &pf);
    assert_eq!(codes(e), vec!["stale", "orphaned-instance"], "{e:#}");
    let f = finding(e, "orphaned-instance");
    assert_eq!(f["evidence"]["found_by"], "name", "{f:#}");
    let mut want: Vec<u32> = master.workers.iter().map(|w| w.pid).collect();
    want.sort();
    let mut got: Vec<u32> = f["evidence"]["instances"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["pid"].as_u64().unwrap() as u32)
        .collect();
    got.sort();
    assert_eq!(got, want, "{f:#}");
}

/// The pidfile in the command line: a daemon started twice by hand with different arguments but
/// the same `--pidfile` (the second copy overwrote the file) runs once untracked; its command line
/// makes it a duplicate of the tracked copy (`found_by: argv`), although its arguments differ.
#[test]
fn a_copy_whose_command_line_names_the_pidfile_is_a_duplicate() {
    let dir = tempfile::tempdir().unwrap();
    let (name, pf) = unique_pidfile(dir.path(), "argvd");
    let first = Testd::new(&pf).name(&name).threads(1).start();
    let second = Testd::new(&pf).name(&name).start();
    let (_, doc) = audit_path(&pf, NO_UNLOCKED);
    let e = pidfile(&doc, &pf);
    assert_eq!(e["pid"], second.pid, "{e:#}");
    assert_eq!(codes(e), vec!["duplicate-instance"], "{e:#}");
    let f = finding(e, "duplicate-instance");
    assert_eq!(f["evidence"]["duplicates"], serde_json::json!([first.pid]));
    assert_eq!(f["evidence"]["found_by"], serde_json::json!(["argv"]));
}

/// Anyone can start a process whose arguments name any pidfile: a process of another user named
/// like the daemon, with `--pidfile` naming root's pidfile, is no instance of it.
#[test]
fn another_users_command_line_naming_the_pidfile_is_no_instance() {
    let dir = open_tempdir();
    let (name, pf) = unique_pidfile(dir.path(), "argvu");
    let _d = Testd::new(&pf).name(&name).start();
    let _fake = Testd::new(&pf)
        .name(&name)
        .readonly()
        .unprivileged()
        .start();
    let (_, doc) = audit_path(&pf, NO_UNLOCKED);
    let e = pidfile(&doc, &pf);
    assert_eq!(codes(e), Vec::<String>::new(), "{e:#}");
}

/// A pidfile another user can write (in /run/lock, mode 1777) naming a second copy of a root
/// daemon does not make that copy tracked: it is still a duplicate in a per-service audit.
#[test]
fn a_users_pidfile_does_not_hide_a_duplicate() {
    let dir = tempfile::tempdir().unwrap();
    let name = unique_name("hidd");
    let exe = sleep_copy(dir.path(), &name);
    let pf = dir.path().join(format!("{name}.pid"));
    let first = background(&exe);
    write_pid(&pf, first.pid);
    let second = background(&exe);
    struct Removed(std::path::PathBuf);
    impl Drop for Removed {
        fn drop(&mut self) {
            let _ = std::fs::remove_file(&self.0);
        }
    }
    let decoy = Removed(Path::new("/run/lock").join(format!("{name}.pid")));
    write_pid(&decoy.0, second.pid);
    std::os::unix::fs::chown(&decoy.0, Some(NOBODY), Some(NOBODY)).unwrap();
    let (_, doc) = audit_path(&pf, NO_UNLOCKED);
    let e = pidfile(&doc, &pf);
    assert_eq!(codes(e), vec!["duplicate-instance"], "{e:#}");
    // A world-writable root file proves nothing either.
    std::os::unix::fs::chown(&decoy.0, Some(0), Some(0)).unwrap();
    chmod(&decoy.0, 0o666);
    let (_, doc) = audit_path(&pf, NO_UNLOCKED);
    assert_eq!(codes(pidfile(&doc, &pf)), vec!["duplicate-instance"]);
}

/// A prefork server's master killed with SIGKILL: its workers keep the listening socket they
/// inherited, so the next start fails to bind. `orphaned-worker` is then an error naming the
/// socket, and a default run fails.
#[test]
fn orphaned_workers_holding_the_port_block_the_restart() {
    let dir = tempfile::tempdir().unwrap();
    let (name, pf) = unique_pidfile(dir.path(), "lstnd");
    let port = free_port();
    let mut master = Testd::new(&pf)
        .setsid()
        .name(&name)
        .listen(port)
        .workers(2)
        .start();
    master.kill();
    let (code, doc) = audit_path(&pf, NO_UNLOCKED);
    let e = pidfile(&doc, &pf);
    assert_eq!(codes(e), vec!["stale", "orphaned-worker"], "{e:#}");
    let f = finding(e, "orphaned-worker");
    assert_eq!(f["severity"], "error", "{f:#}");
    let socket = format!("127.0.0.1:{port}/tcp");
    assert_eq!(f["evidence"]["listening"], serde_json::json!([socket]));
    assert!(f["message"].as_str().unwrap().contains(&socket), "{f:#}");
    assert_eq!(
        f["evidence"]["instances"][0]["listening"],
        serde_json::json!([socket])
    );
    assert_eq!(code, 1, "an error fails the default run");
    // Workers that hold no listening socket stay a warning.
    let (name2, pf2) = unique_pidfile(dir.path(), "lstnw");
    let mut quiet = Testd::new(&pf2).setsid().name(&name2).workers(1).start();
    quiet.kill();
    let (_, doc) = audit_path(&pf2, NO_UNLOCKED);
    let f = finding(pidfile(&doc, &pf2), "orphaned-worker");
    assert_eq!(f["severity"], "warning", "{f:#}");
    assert_eq!(f["evidence"]["listening"], serde_json::json!([]));
}

/// The incident with a real nginx (private configuration, prefix and port): after the master's
/// SIGKILL its workers keep the port, and the audit says so as an error.
#[test]
fn killed_nginx_master_leaves_workers_on_the_port() {
    let nginx = Path::new("/usr/sbin/nginx");
    if !nginx.exists() {
        panic!("nginx is required (.ci/deps)");
    }
    let dir = open_tempdir();
    let root = dir.path();
    let pf = root.join("nginx.pid");
    let port = free_port();
    let conf = root.join("nginx.conf");
    let d = root.display();
    std::fs::write(
        &conf,
        format!(
            "daemon on;\nmaster_process on;\nworker_processes 2;\npid {d}/nginx.pid;\nerror_log {d}/error.log;\n\
             events {{ worker_connections 16; }}\n\
             http {{\n  access_log off;\n  client_body_temp_path {d}/cb;\n  proxy_temp_path {d}/px;\n  fastcgi_temp_path {d}/fc;\n  uwsgi_temp_path {d}/uw;\n  scgi_temp_path {d}/sc;\n\
             server {{ listen 127.0.0.1:{port}; }}\n}}\n"
        ),
    )
    .unwrap();
    let start = || {
        Command::new(nginx)
            .arg("-p")
            .arg(root)
            .arg("-c")
            .arg(&conf)
            .arg("-e")
            .arg(root.join("error.log"))
            .current_dir(root)
            .stdin(Stdio::null())
            .stderr(Stdio::piped())
            .output()
            .unwrap()
            .status
    };
    let status = start();
    assert!(status.success(), "nginx starts");
    wait_until("nginx to write its pidfile", || {
        std::fs::read_to_string(&pf).is_ok_and(|s| s.ends_with('\n'))
    });
    let master: u32 = std::fs::read_to_string(&pf)
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    let mut workers: Vec<Daemon> = Vec::new();
    wait_until("nginx's workers", || {
        let out = Command::new("pgrep")
            .arg("-P")
            .arg(master.to_string())
            .output()
            .unwrap();
        let pids: Vec<u32> = String::from_utf8_lossy(&out.stdout)
            .split_whitespace()
            .filter_map(|w| w.parse().ok())
            .collect();
        if pids.len() < 2 {
            return false;
        }
        workers = pids.into_iter().map(Daemon::adopt).collect();
        true
    });
    let mut m = Daemon::adopt(master);
    m.kill();
    let (code, doc) = audit_path(&pf, NO_UNLOCKED);
    let e = pidfile(&doc, &pf);
    // A zombie where init does not reap orphans (some containers).
    assert!(e["state"] == "stale" || e["state"] == "zombie", "{e:#}");
    let f = finding(e, "orphaned-worker");
    assert_eq!(f["severity"], "error", "{f:#}");
    assert_eq!(
        f["evidence"]["listening"],
        serde_json::json!([format!("127.0.0.1:{port}/tcp")]),
        "{f:#}"
    );
    let mut want: Vec<u32> = workers.iter().map(|w| w.pid).collect();
    want.sort();
    assert_eq!(f["evidence"]["workers"], serde_json::json!(want));
    assert_eq!(code, 1);
    // A new master cannot start while they hold the port.
    assert!(!start().success(), "the port is taken");
    drop(workers);
}

/// The orphan rule weighs the candidate's user as the duplicate rule does: a process of nobody
/// named like root's stale pidfile is no orphan of it; the same process is one of a pidfile nobody
/// owns.
#[test]
fn another_users_namesake_is_no_orphan_of_roots_file() {
    let dir = open_tempdir();
    let (name, pf) = unique_pidfile(dir.path(), "uidor");
    let _d = Testd::without_pidfile().name(&name).unprivileged().start();
    write_pid(&pf, dead_pid());
    let (_, doc) = audit_path(&pf, NO_UNLOCKED);
    assert_eq!(codes(pidfile(&doc, &pf)), vec!["stale"]);
    std::os::unix::fs::chown(&pf, Some(NOBODY), Some(NOBODY)).unwrap();
    let (_, doc) = audit_path(&pf, NO_UNLOCKED);
    assert_eq!(
        codes(pidfile(&doc, &pf)),
        vec!["stale", "orphaned-instance"]
    );
}

/// haproxy's pidfile lists each of its processes, several on a line: every listed PID that runs is
/// tracked by the file (no copy it lists is a duplicate); a copy it does not list is one.
#[test]
fn every_pid_a_multi_pid_file_lists_is_tracked() {
    let dir = tempfile::tempdir().unwrap();
    let name = unique_name("haproxy");
    assert!(name.len() <= 15, "{name} fits in comm");
    let exe = sleep_copy(dir.path(), &name);
    let pf = dir.path().join(format!("{name}.pid"));
    let first = background(&exe);
    let second = background(&exe);
    write_pidfile(&pf, &format!("{} {}\n", first.pid, second.pid));
    let (_, doc) = audit_path(&pf, NO_UNLOCKED);
    let e = pidfile(&doc, &pf);
    assert_eq!(e["pid"], first.pid, "{e:#}");
    assert_eq!(e["state"], "running", "{e:#}");
    assert_eq!(codes(e), vec!["nonstandard-format"], "{e:#}");
    assert_eq!(e["pids"].as_array().unwrap().len(), 2, "{e:#}");
    let third = background(&exe);
    let (_, doc) = audit_path(&pf, NO_UNLOCKED);
    let e = pidfile(&doc, &pf);
    assert_eq!(
        finding(e, "duplicate-instance")["evidence"]["duplicates"],
        serde_json::json!([third.pid]),
        "{e:#}"
    );
}

/// An interpreted daemon (`python3 NAME.py`, comm `python3`) is named by its script in the report
/// and in the orphan's message.
#[test]
fn interpreted_daemon_is_named_by_its_script() {
    let dir = open_tempdir();
    let name = unique_name("scrd");
    let script = dir.path().join(format!("{name}.py"));
    std::fs::write(&script, "import time\nwhile True:\n    time.sleep(3600)\n").unwrap();
    let pf = dir.path().join(format!("{name}.pid"));
    // The interpreter itself, not a wrapper script (pyenv's shims exec through bash).
    let python = if Path::new("/usr/bin/python3").exists() {
        "/usr/bin/python3"
    } else {
        "python3"
    };
    let d = Daemon::from_child(spawn(
        Command::new(python)
            .arg(&script)
            .current_dir(dir.path())
            .stdin(Stdio::null()),
    ));
    let pid = d.pid;
    wait_until("python to run the script", || {
        comm(pid).starts_with("python")
            && std::fs::read_link(format!("/proc/{pid}/exe"))
                .is_ok_and(|e| e.to_string_lossy().contains("python"))
            && std::fs::read(format!("/proc/{pid}/cmdline"))
                .is_ok_and(|c| String::from_utf8_lossy(&c).contains(&name))
    });
    write_pid(&pf, pid);
    let e = audit_one(&pf, NO_UNLOCKED);
    let script_name = format!("{name}.py");
    assert_eq!(e["process"]["name"], script_name.as_str(), "{e:#}");
    assert!(
        e["process"]["comm"].as_str().unwrap().starts_with("python"),
        "{e:#}"
    );
    let out = run(&[pf.to_str().unwrap(), "--ignore", "unlocked"]);
    assert!(
        out.stdout
            .contains(&format!("running, PID {pid} ({script_name})")),
        "{}",
        out.stdout
    );
    write_pid(&pf, dead_pid());
    let e = audit_one(&pf, NO_UNLOCKED);
    let f = finding(&e, "orphaned-instance");
    assert!(
        f["message"]
            .as_str()
            .unwrap()
            .contains(&format!("{script_name} runs untracked as PID {pid}")),
        "{f:#}"
    );
    assert_eq!(f["evidence"]["instances"][0]["name"], script_name.as_str());
}
