//! `pidaudit watch` against real daemons, real locks and real directories: the events of a daemon
//! killed, restarted, started twice and replaced under its lock holder, in order; pidfiles and
//! directories created, removed, swapped for symlinks and recreated; an inotify overflow and
//! 100,000 files; SIGTERM and SIGINT; `--listen` checked by promtool and `--textfile` read by a real
//! node exporter; real redis-server and memcached. Every line is validated against
//! `schema/pidaudit-watch.schema.json`.

mod common;
use common::*;
use serde_json::Value;
use std::collections::BTreeMap;
use std::ffi::OsStr;
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc::{Receiver, RecvTimeoutError};
use std::time::{Duration, Instant};

/// How long a test waits for an event before failing (a hang is a failure, not a timing claim).
const PATIENCE: Duration = Duration::from_secs(30);

fn validator() -> jsonschema::Validator {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("schema/pidaudit-watch.schema.json");
    let schema: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    jsonschema::meta::validate(&schema).expect("the schema is a valid 2020-12 schema");
    jsonschema::draft202012::options()
        .should_validate_formats(true)
        .build(&schema)
        .unwrap()
}

/// A running `pidaudit watch --format json`; its events arrive through a reader thread.
struct Watcher {
    child: Option<Child>,
    rx: Receiver<String>,
    validator: jsonschema::Validator,
    /// Every event received so far.
    seen: Vec<Value>,
}

impl Watcher {
    /// Starts `pidaudit watch --format json --interval 1h ARGS` (`--interval` unless ARGS have
    /// one; its cwd a fresh temp dir) and waits for its `watching` event.
    fn start<S: AsRef<OsStr>>(args: &[S]) -> Watcher {
        Watcher::start_cmd(pidaudit(), args)
    }

    fn start_cmd<S: AsRef<OsStr>>(mut cmd: Command, args: &[S]) -> Watcher {
        let cwd = open_tempdir();
        cmd.args(["watch", "--format", "json"]);
        if !args.iter().any(|a| a.as_ref() == "--interval") {
            cmd.args(["--interval", "1h"]);
        }
        let mut child = cmd
            .args(args)
            .current_dir(cwd.path())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let rx = stdout_lines(&mut child);
        let mut w = Watcher {
            child: Some(child),
            rx,
            validator: validator(),
            seen: Vec::new(),
        };
        w.until("watching", |e| kind(e) == "watching");
        w
    }

    fn pid(&self) -> u32 {
        self.child.as_ref().unwrap().id()
    }

    /// Receives events until one matches `pred`; returns the events received meanwhile, the
    /// matching one last. Fails after [`PATIENCE`], or when the watch ends.
    fn until(&mut self, what: &str, pred: impl Fn(&Value) -> bool) -> Vec<Value> {
        let deadline = Instant::now() + PATIENCE;
        let mut got = Vec::new();
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let line = match self.rx.recv_timeout(left) {
                Ok(line) => line,
                Err(RecvTimeoutError::Timeout) => {
                    panic!(
                        "no {what} event within {PATIENCE:?}; seen: {:#?}",
                        self.seen
                    )
                }
                Err(RecvTimeoutError::Disconnected) => {
                    panic!("the watch ended before {what}; seen: {:#?}", self.seen)
                }
            };
            let e: Value = serde_json::from_str(&line)
                .unwrap_or_else(|err| panic!("not JSON ({err}): {line}"));
            let errors: Vec<String> = self
                .validator
                .iter_errors(&e)
                .map(|err| format!("{err} at {}", err.instance_path()))
                .collect();
            assert!(errors.is_empty(), "{line}\ndoes not validate: {errors:#?}");
            self.seen.push(e.clone());
            let matched = pred(&e);
            got.push(e);
            if matched {
                return got;
            }
        }
    }

    /// Like [`Watcher::until`], but satisfied by an event already seen too.
    fn seen_or_until(&mut self, what: &str, pred: impl Fn(&Value) -> bool) {
        if !self.seen.iter().any(&pred) {
            self.until(what, pred);
        }
    }

    /// Sends `signal`, and returns the exit code and the events until the end.
    fn stop(&mut self, signal: rustix::process::Signal) -> (i32, Vec<Value>) {
        let mut child = self.child.take().unwrap();
        let pid = rustix::process::Pid::from_raw(child.id() as i32).unwrap();
        rustix::process::kill_process(pid, signal).unwrap();
        let mut rest = Vec::new();
        while let Ok(line) = self.rx.recv_timeout(PATIENCE) {
            rest.push(serde_json::from_str::<Value>(&line).unwrap());
        }
        let status = child.wait().unwrap();
        (status.code().unwrap_or(-1), rest)
    }
}

impl Drop for Watcher {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            end_namespace(&mut c);
        }
    }
}

fn kind(e: &Value) -> &str {
    e["event"].as_str().unwrap()
}

fn path_of(e: &Value) -> Option<&str> {
    e["path"].as_str()
}

/// An event of `kind` about `path` (and with `code`, if given).
fn is(e: &Value, k: &str, path: &Path, code: Option<&str>) -> bool {
    kind(e) == k
        && path_of(e) == Some(path.to_str().unwrap())
        && code.is_none_or(|c| e["code"] == c)
}

/// A `stale` or `zombie` finding event of `kind` about `path`: a daemon that is not our child is
/// reaped by its new parent, or stays a zombie where that parent never reaps.
fn dead(e: &Value, k: &str, path: &Path) -> bool {
    is(e, k, path, Some("stale")) || is(e, k, path, Some("zombie"))
}

/// The peak resident set of a process, in KiB (`VmHWM`).
fn peak_rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .unwrap()
}

/// A daemon killed, then restarted: its exit reported through the pidfd, then `stale` raised;
/// the restart rewrites the pidfile and clears `stale`; in that order.
#[test]
fn killed_and_restarted_daemon() {
    let dir = open_tempdir();
    let (name, pf) = unique_pidfile(dir.path(), "wkill");
    let mut d = Testd::new(&pf).name(&name).lock(Lock::Flock).start();
    let mut w = Watcher::start(&[dir.path()]);
    assert!(
        !w.seen
            .iter()
            .any(|e| kind(e) == "finding-raised" && e["severity"] == "error"),
        "{:#?}",
        w.seen
    );
    let first = d.pid;
    d.kill();
    let got = w.until("stale", |e| is(e, "finding-raised", &pf, Some("stale")));
    let exited = got
        .iter()
        .position(|e| is(e, "daemon-exited", &pf, None))
        .unwrap_or_else(|| panic!("no daemon-exited before stale: {got:#?}"));
    assert_eq!(got[exited]["pid"], first);
    assert_eq!(got.last().unwrap()["pid"], first);
    assert_eq!(got.last().unwrap()["state"], "stale");

    let d2 = Testd::new(&pf).name(&name).lock(Lock::Flock).start();
    let got = w.until("stale cleared", |e| {
        is(e, "finding-cleared", &pf, Some("stale"))
    });
    let rewritten = got
        .iter()
        .find(|e| is(e, "pidfile-rewritten", &pf, None))
        .unwrap_or_else(|| panic!("no pidfile-rewritten: {got:#?}"));
    assert_eq!(rewritten["pid"], d2.pid);
    assert_eq!(got.last().unwrap()["state"], "running");
    // The restarted daemon is tracked in turn.
    drop(d2);
    w.until("second exit", |e| {
        is(e, "daemon-exited", &pf, None) && e["pid"] != first
    });
    let (code, rest) = w.stop(rustix::process::Signal::TERM);
    assert_eq!(code, 0);
    assert_eq!(kind(rest.last().unwrap()), "stopped", "{rest:#?}");
}

/// A second copy started by hand over a live, locked daemon (removing its pidfile first, as a
/// careless start does): the pidfile is rewritten with the newcomer's PID, and the original
/// holder of the lock on the old file is reported (`replaced-while-locked`).
#[test]
fn double_start_replaces_the_pidfile_under_its_lock_holder() {
    let dir = open_tempdir();
    let (name, pf) = unique_pidfile(dir.path(), "wdbl");
    let first = Testd::new(&pf).name(&name).lock(Lock::Flock).start();
    let mut w = Watcher::start(&[dir.path()]);
    let second = Testd::new(&pf)
        .name(&name)
        .lock(Lock::Flock)
        .unlink_first()
        .start();
    let got = w.until("replaced-while-locked", |e| {
        is(e, "finding-raised", &pf, Some("replaced-while-locked"))
    });
    let at = |k: &str| got.iter().position(|e| is(e, k, &pf, None));
    let rewritten = at("pidfile-rewritten").unwrap_or_else(|| panic!("{got:#?}"));
    assert_eq!(got[rewritten]["pid"], second.pid);
    assert_ne!(second.pid, first.pid);
}

/// A pidfile replaced (renamed over) under its live lock holder, by a file naming another
/// process: rewritten, then `replaced-while-locked`.
#[test]
fn pidfile_renamed_over_under_a_live_lock_holder() {
    let dir = open_tempdir();
    let (name, pf) = unique_pidfile(dir.path(), "wren");
    let _holder = Testd::new(&pf).name(&name).lock(Lock::Lockf).start();
    let other = named_sleep(dir.path(), &unique_name("wother"));
    let mut w = Watcher::start(&[dir.path()]);
    let tmp = dir.path().join("tmp-new");
    std::fs::write(&tmp, format!("{}\n", other.pid)).unwrap();
    std::fs::rename(&tmp, &pf).unwrap();
    let got = w.until("replaced-while-locked", |e| {
        is(e, "finding-raised", &pf, Some("replaced-while-locked"))
    });
    let rewritten = got
        .iter()
        .find(|e| is(e, "pidfile-rewritten", &pf, None))
        .unwrap_or_else(|| panic!("{got:#?}"));
    assert_eq!(rewritten["pid"], other.pid);
}

/// Pidfiles created and removed, in a directory created after the watch started (an empty
/// runtime directory is watched before its daemon writes there); a file whose name cannot be a
/// pidfile is no event.
#[test]
fn created_and_removed_in_a_new_directory() {
    let dir = open_tempdir();
    let mut w = Watcher::start(&[dir.path()]);
    let sub = dir.path().join("svc");
    std::fs::create_dir(&sub).unwrap();
    std::fs::write(sub.join("notes.txt"), "x").unwrap();
    let pf = unique_pidfile(&sub, "wnew").1;
    write_pid(&pf, dead_pid());
    let got = w.until("stale", |e| is(e, "finding-raised", &pf, Some("stale")));
    let created = got
        .iter()
        .position(|e| is(e, "pidfile-created", &pf, None))
        .unwrap_or_else(|| panic!("{got:#?}"));
    assert!(created < got.len() - 1);
    assert!(got
        .iter()
        .all(|e| !path_of(e).unwrap_or("").contains("notes")));
    std::fs::remove_file(&pf).unwrap();
    let got = w.until("cleared", |e| is(e, "finding-cleared", &pf, Some("stale")));
    assert!(
        got.iter().any(|e| is(e, "pidfile-removed", &pf, None)),
        "{got:#?}"
    );
}

/// A watched directory swapped for a symlink to another directory holding a pidfile: its pidfile
/// is removed and the link is not followed (nothing of the other directory is reported); removed
/// and created again as a directory, it is watched again.
#[test]
fn directory_swapped_for_a_symlink_then_recreated() {
    let dir = open_tempdir();
    let sub = dir.path().join("run");
    std::fs::create_dir(&sub).unwrap();
    let pf = unique_pidfile(&sub, "wswap").1;
    write_pid(&pf, dead_pid());
    let elsewhere = open_tempdir();
    let secret = elsewhere.path().join("secret.pid");
    write_pid(&secret, dead_pid());
    let mut w = Watcher::start(&[dir.path()]);
    assert!(w
        .seen
        .iter()
        .any(|e| is(e, "finding-raised", &pf, Some("stale"))));
    std::fs::rename(&sub, dir.path().join("old")).unwrap();
    std::os::unix::fs::symlink(elsewhere.path(), &sub).unwrap();
    let old_pf = dir.path().join("old").join(pf.file_name().unwrap());
    // Renamed: the old path goes, the new one comes (in path order, in one audit).
    w.until("removed", |e| is(e, "pidfile-removed", &pf, None));
    w.seen_or_until("moved pidfile", |e| is(e, "pidfile-created", &old_pf, None));
    std::fs::remove_dir_all(dir.path().join("old")).unwrap();
    w.until("moved pidfile removed", |e| {
        is(e, "pidfile-removed", &old_pf, None)
    });
    std::fs::remove_file(&sub).unwrap();
    std::fs::create_dir(&sub).unwrap();
    write_pid(&pf, dead_pid());
    let got = w.until("recreated", |e| is(e, "pidfile-created", &pf, None));
    assert!(
        w.seen
            .iter()
            .all(|e| !path_of(e).unwrap_or("").contains("secret")),
        "{got:#?}"
    );
    // The recreated directory is watched: a change in it is reported.
    std::fs::remove_file(&pf).unwrap();
    w.until("removed again", |e| is(e, "pidfile-removed", &pf, None));
}

/// The watch stopped (SIGSTOP) while 100,000 files are created in its directory overflows the
/// inotify queue: on SIGCONT the overflow is reported and everything audited again; the watch
/// goes on reporting changes, and its peak memory stays bounded.
#[test]
fn overflow_and_100k_files() {
    let dir = open_tempdir();
    let junk = dir.path().join("junk");
    std::fs::create_dir(&junk).unwrap();
    let mut w = Watcher::start(&[dir.path()]);
    let pid = rustix::process::Pid::from_raw(w.pid() as i32).unwrap();
    rustix::process::kill_process(pid, rustix::process::Signal::STOP).unwrap();
    for i in 0..100_000 {
        std::fs::File::create(junk.join(format!("f{i}"))).unwrap();
    }
    let pf = unique_pidfile(dir.path(), "wover").1;
    write_pid(&pf, dead_pid());
    rustix::process::kill_process(pid, rustix::process::Signal::CONT).unwrap();
    w.until("stale", |e| is(e, "finding-raised", &pf, Some("stale")));
    // The audit that follows the wake-up may come before the queue is read (an audit was due
    // when the watch was stopped): the overflow is then reported by the next one.
    w.seen_or_until("overflow", |e| kind(e) == "overflow");
    // Still watching after the storm.
    std::fs::remove_file(&pf).unwrap();
    w.until("removed", |e| is(e, "pidfile-removed", &pf, None));
    let peak = peak_rss_kib(w.pid());
    assert!(peak < 64 * 1024, "peak RSS {peak} KiB");
}

/// SIGINT stops the watch like SIGTERM: a `stopped` event, exit 0.
#[test]
fn sigint_stops_cleanly() {
    let dir = open_tempdir();
    let mut w = Watcher::start(&[dir.path()]);
    let (code, rest) = w.stop(rustix::process::Signal::INT);
    assert_eq!(code, 0);
    assert_eq!(rest.len(), 1, "{rest:#?}");
    assert_eq!(kind(&rest[0]), "stopped");
    assert!(rest[0]["message"].as_str().unwrap().contains("SIGINT"));
}

/// A directory named on the command line that does not exist is reported as unwatched (and left
/// to the interval); usage errors exit 2 before any event.
#[test]
fn unwatched_and_usage_errors() {
    let dir = open_tempdir();
    let missing = dir.path().join("nowhere/x.pid");
    let w = Watcher::start(&[missing.as_path(), dir.path()]);
    let unwatched = w
        .seen
        .iter()
        .find(|e| kind(e) == "unwatched")
        .unwrap_or_else(|| panic!("{:#?}", w.seen));
    assert!(unwatched["message"]
        .as_str()
        .unwrap()
        .contains("does not exist"));
    for args in [
        &["watch", "--interval", "0s"][..],
        &["watch", "--interval", "soon"],
        &["watch", "--listen", "localhost"],
        &["watch", "--select", "no-such-code"],
    ] {
        let r = run(args);
        assert_eq!(r.code, 2, "{args:?}: {}", r.stderr);
        assert!(r.stdout.is_empty(), "{}", r.stdout);
    }
}

/// Human lines: one per event, time first, the event, the path.
#[test]
fn human_lines() {
    let dir = open_tempdir();
    let pf = unique_pidfile(dir.path(), "whum").1;
    write_pid(&pf, dead_pid());
    let mut child = pidaudit()
        .args(["watch", "--interval", "1h"])
        .arg(dir.path())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut out = BufReader::new(child.stdout.take().unwrap());
    let mut lines = Vec::new();
    loop {
        let mut line = String::new();
        assert!(out.read_line(&mut line).unwrap() > 0);
        let watching = line.contains(" watching ");
        lines.push(line);
        if watching {
            break;
        }
    }
    kill9(child.id());
    let _ = child.wait();
    let re = regex::Regex::new(
        r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z finding-raised +(\S+) \[warning stale\] .+\n$",
    )
    .unwrap();
    let caps = re
        .captures(&lines[0])
        .unwrap_or_else(|| panic!("{lines:?}"));
    assert_eq!(&caps[1], pf.to_str().unwrap());
    assert_eq!(lines.len(), 2, "{lines:?}");
}

/// `--listen`: /metrics is the scan's exposition plus the watch's counters (promtool accepts it,
/// and the counters move with the events); /healthz answers; anything else is 404 (no file is
/// served), and another method 405.
#[test]
fn listen_serves_metrics_promtool_accepts() {
    let dir = open_tempdir();
    let (name, pf) = unique_pidfile(dir.path(), "wlis");
    let mut d = Testd::new(&pf).name(&name).lock(Lock::Flock).start();
    let port = free_port();
    let mut w = Watcher::start(&[
        dir.path().as_os_str(),
        OsStr::new("--listen"),
        OsStr::new(&port.to_string()),
    ]);
    d.kill();
    w.until("stale", |e| is(e, "finding-raised", &pf, Some("stale")));
    // The event comes from the pidfile judged alone; `/metrics` follows with the whole audit
    // (REFRESH later).
    let wants = [
        "pidaudit_pidfiles{state=\"stale\"} 1",
        "pidaudit_watch_events_total{event=\"daemon-exited\"} 1",
        "pidaudit_watch_events_total{event=\"watching\"} 1",
        "pidaudit_watch_directories 1",
    ];
    let body = until_lines(&wants, || {
        let (code, response) = http(port, "GET", "/metrics");
        assert_eq!(code, 200, "{response}");
        let (head, body) = response.split_once("\r\n\r\n").unwrap();
        assert!(head.contains("text/plain; version=0.0.4"), "{head}");
        body.to_string()
    });
    let check = run_input(
        Command::new("promtool").args(["check", "metrics"]),
        body.as_bytes(),
    );
    assert_eq!(check.code, 0, "{}{}\n{body}", check.stdout, check.stderr);
    assert_eq!(http(port, "GET", "/healthz").0, 200);
    for path in [
        "/",
        "/etc/passwd",
        "/../../etc/passwd",
        "/metrics/x",
        "/healthz.txt",
    ] {
        assert_eq!(http(port, "GET", path).0, 404, "{path}");
    }
    assert_eq!(http(port, "POST", "/metrics").0, 405);
    // Loopback only by default: the address bound is 127.0.0.1.
    let ss = std::fs::read_to_string("/proc/net/tcp").unwrap();
    let hex = format!("0100007F:{port:04X}");
    assert!(ss.contains(&hex), "not bound to 127.0.0.1:{port}");
}

/// `--textfile`: rewritten after a change, read by a real node exporter's textfile collector.
#[test]
fn textfile_follows_changes_into_node_exporter() {
    let dir = open_tempdir();
    let out = open_tempdir();
    let (name, pf) = unique_pidfile(dir.path(), "wtxt");
    let mut d = Testd::new(&pf).name(&name).lock(Lock::Flock).start();
    let mut w = Watcher::start(&[
        dir.path().as_os_str(),
        OsStr::new("--textfile"),
        out.path().as_os_str(),
    ]);
    let prom = out.path().join("pidaudit.prom");
    let text = std::fs::read_to_string(&prom).unwrap();
    assert!(
        text.contains("pidaudit_pidfiles{state=\"running\"} 1"),
        "{text}"
    );
    let exporter = start_exporter(out.path());
    d.kill();
    w.until("stale", |e| is(e, "finding-raised", &pf, Some("stale")));
    // The event comes from the changed pidfile judged alone; the textfile follows with the whole
    // audit (REFRESH later).
    let wants = [
        "node_textfile_scrape_error 0",
        "pidaudit_pidfiles{state=\"stale\"} 1",
        "pidaudit_pidfiles{state=\"running\"} 0",
    ];
    until_lines(&wants, || scrape(exporter.port));
    // Only the file itself is left in the directory.
    assert_eq!(std::fs::read_dir(out.path()).unwrap().count(), 1);
}

/// A real redis-server under watch: killed (exit through the pidfd, `stale` or `zombie`),
/// restarted (the pidfile rewritten, that finding cleared), then started a second time over the same pidfile (the
/// pidfile rewritten with the second PID).
#[test]
fn real_redis_killed_restarted_double_started() {
    let dir = open_tempdir();
    let run_dir = dir.path().join("run");
    std::fs::create_dir(&run_dir).unwrap();
    let pf = run_dir.join(format!("{}.pid", unique_name("redis")));
    let mut first = start_redis(Path::new("redis-server"), dir.path(), &pf, "a.sock", 0);
    let mut w = Watcher::start(&[&run_dir]);
    let pid1 = first.pid;
    first.kill();
    let got = w.until("dead", |e| dead(e, "finding-raised", &pf));
    assert!(
        got.iter()
            .any(|e| is(e, "daemon-exited", &pf, None) && e["pid"] == pid1),
        "{got:#?}"
    );
    let second = start_redis(Path::new("redis-server"), dir.path(), &pf, "b.sock", pid1);
    let got = w.until("dead cleared", |e| dead(e, "finding-cleared", &pf));
    assert!(
        got.iter()
            .any(|e| is(e, "pidfile-rewritten", &pf, None) && e["pid"] == second.pid),
        "{got:#?}"
    );
    let third = start_redis(
        Path::new("redis-server"),
        dir.path(),
        &pf,
        "c.sock",
        second.pid,
    );
    w.until("rewritten by the second copy", |e| {
        is(e, "pidfile-rewritten", &pf, None) && e["pid"] == third.pid
    });
    let pid3 = third.pid;
    drop(third);
    w.until("the second copy exits", |e| {
        is(e, "daemon-exited", &pf, None) && e["pid"] == pid3
    });
    drop(second);
}

/// A real memcached under watch (on a private socket, no port), killed: its exit and `stale`.
#[test]
fn real_memcached_killed() {
    let dir = open_tempdir();
    let pf = dir.path().join(format!("{}.pid", unique_name("memc")));
    let r = run_cmd(
        Command::new("memcached")
            .args(["-d", "-u", "root", "-p", "0", "-U", "0", "-s"])
            .arg(dir.path().join("m.sock"))
            .arg("-P")
            .arg(&pf)
            .current_dir(dir.path()),
    );
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    let mut pid = 0;
    wait_until("memcached to write its pidfile", || {
        pid = std::fs::read_to_string(&pf)
            .ok()
            .and_then(|s| s.trim().parse().ok())
            .unwrap_or(0);
        pid != 0
    });
    let mut d = Daemon::adopt(pid);
    let mut w = Watcher::start(&[dir.path()]);
    d.kill();
    let got = w.until("dead", |e| dead(e, "finding-raised", &pf));
    assert!(
        got.iter()
            .any(|e| is(e, "daemon-exited", &pf, None) && e["pid"] == pid),
        "{got:#?}"
    );
}

/// A real nginx (master and one worker, on a private socket and prefix, no port) under watch:
/// the master SIGKILLed (its exit through the pidfd, then `stale` or `zombie`), then started again
/// (the pidfile rewritten with the new master's PID).
#[test]
fn real_nginx_killed_and_restarted() {
    let dir = open_tempdir();
    let prefix = dir.path();
    let run_dir = prefix.join("run");
    std::fs::create_dir(&run_dir).unwrap();
    let pf = run_dir.join(format!("{}.pid", unique_name("nginx")));
    let conf = prefix.join("nginx.conf");
    std::fs::write(
        &conf,
        format!(
            "pid {pf};\nerror_log {p}/error.log;\nworker_processes 1;\nevents {{}}\n\
             http {{\n access_log off;\n client_body_temp_path {p}/b;\n proxy_temp_path {p}/x;\n \
             fastcgi_temp_path {p}/f;\n uwsgi_temp_path {p}/u;\n scgi_temp_path {p}/s;\n \
             server {{ listen unix:{p}/n.sock; }}\n}}\n",
            pf = pf.display(),
            p = prefix.display()
        ),
    )
    .unwrap();
    let start = |not: u32| -> Vec<Daemon> {
        let r = run_cmd(
            Command::new("nginx")
                .arg("-p")
                .arg(prefix)
                .arg("-c")
                .arg(&conf)
                .arg("-e")
                .arg(prefix.join("error.log"))
                .current_dir(prefix),
        );
        assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
        let mut pid = 0;
        wait_until("nginx to write its pidfile", || {
            pid = std::fs::read_to_string(&pf)
                .ok()
                .and_then(|s| s.trim().parse().ok())
                .unwrap_or(0);
            pid != 0 && pid != not && proc_state(pid).is_some_and(|s| s != 'Z')
        });
        let mut workers = String::new();
        wait_until("nginx to start its worker", || {
            workers = std::fs::read_to_string(format!("/proc/{pid}/task/{pid}/children"))
                .unwrap_or_default();
            !workers.trim().is_empty()
        });
        // The master first; its workers (killed after it) are no pidfile's daemon.
        std::iter::once(pid)
            .chain(workers.split_whitespace().map(|w| w.parse().unwrap()))
            .map(Daemon::adopt)
            .collect()
    };
    let mut first = start(0);
    let mut w = Watcher::start(&[&run_dir]);
    let master = first[0].pid;
    first[0].kill();
    let got = w.until("dead", |e| dead(e, "finding-raised", &pf));
    assert!(
        got.iter()
            .any(|e| is(e, "daemon-exited", &pf, None) && e["pid"] == master),
        "{got:#?}"
    );
    drop(first);
    // A SIGKILLed nginx leaves its socket behind.
    std::fs::remove_file(prefix.join("n.sock")).unwrap();
    let second = start(master);
    w.until("restarted", |e| {
        is(e, "pidfile-rewritten", &pf, None) && e["pid"] == second[0].pid
    });
}

/// A second copy of a daemon started by hand touches no pidfile, so no event reports it: the
/// interval's full audit does (`duplicate-instance`).
#[test]
fn second_copy_started_by_hand_is_found_by_the_interval() {
    let dir = open_tempdir();
    let name = unique_name("wsecd");
    let exe = sleep_copy(dir.path(), &name);
    let first = spawn(Command::new(&exe).arg("1000").current_dir(dir.path()));
    let first = Daemon::from_child(first);
    let pf = dir.path().join(format!("{name}.pid"));
    write_pid(&pf, first.pid);
    let mut w = Watcher::start(&[
        dir.path().as_os_str(),
        OsStr::new("--interval"),
        OsStr::new("1s"),
    ]);
    assert!(!w.seen.iter().any(|e| e["code"] == "duplicate-instance"));
    // Double-forked by a shell, so it is nobody's child here.
    let out = Command::new("sh")
        .arg("-c")
        .arg(format!(
            "( '{}' 1000 </dev/null >/dev/null 2>&1 & echo $! )",
            exe.display()
        ))
        .current_dir(dir.path())
        .output()
        .unwrap();
    let second = Daemon::adopt(String::from_utf8_lossy(&out.stdout).trim().parse().unwrap());
    let got = w.until("duplicate-instance", |e| {
        is(e, "finding-raised", &pf, Some("duplicate-instance"))
    });
    assert!(
        got.iter().all(|e| kind(e) != "pidfile-rewritten"),
        "{got:#?}"
    );
    drop(second);
}

/// Under a hard limit of 256 descriptors, 300 tracked daemons cannot all have a pidfd: the watch
/// says so (`unwatched`), tracks the rest, and an untracked daemon's death is still found, by the
/// interval's audit.
#[test]
fn descriptor_limit_leaves_daemons_to_the_interval() {
    let dir = open_tempdir();
    let name = unique_name("wfd");
    let exe = sleep_copy(dir.path(), &name);
    let mut daemons: Vec<(Daemon, std::path::PathBuf)> = (0..300)
        .map(|i| {
            let d = Daemon::from_child(spawn(
                Command::new(&exe).arg("1000").current_dir(dir.path()),
            ));
            let pf = dir.path().join(format!("{name}-{i}.pid"));
            write_pid(&pf, d.pid);
            (d, pf)
        })
        .collect();
    let mut cmd = Command::new("prlimit");
    cmd.args(["--nofile=256:256", "--", BIN]);
    let mut w = Watcher::start_cmd(
        cmd,
        &[
            dir.path().as_os_str(),
            OsStr::new("--interval"),
            OsStr::new("1s"),
        ],
    );
    let unwatched = w
        .seen
        .iter()
        .find(|e| kind(e) == "unwatched")
        .unwrap_or_else(|| panic!("{:#?}", w.seen))
        .clone();
    assert!(
        unwatched["message"]
            .as_str()
            .unwrap()
            .contains("daemons cannot be watched"),
        "{unwatched}"
    );
    // PIDs are tracked in ascending order: the highest is among those left to the interval.
    daemons.sort_by_key(|(d, _)| d.pid);
    let (mut last, pf) = daemons.pop().unwrap();
    let pid = last.pid;
    last.kill();
    let got = w.until("stale", |e| is(e, "finding-raised", &pf, Some("stale")));
    assert!(
        !got.iter()
            .any(|e| kind(e) == "daemon-exited" && e["pid"] == pid),
        "{got:#?}"
    );
}

/// Fetches (a `/metrics` body, a scrape) until it has every line of `wants`, for at most a
/// minute; returns the last body.
fn until_lines(wants: &[&str], mut fetch: impl FnMut() -> String) -> String {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let body = fetch();
        let missing: Vec<&str> = wants
            .iter()
            .copied()
            .filter(|want| !body.lines().any(|l| l == *want))
            .collect();
        if missing.is_empty() {
            return body;
        }
        assert!(Instant::now() < deadline, "no {missing:?} in\n{body}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// The finding codes of each pidfile under `dirs`, as the events seen so far tell them.
fn codes_from_events(seen: &[Value], dirs: &[&Path]) -> BTreeMap<String, Vec<String>> {
    let mut view: BTreeMap<String, std::collections::BTreeSet<String>> = BTreeMap::new();
    for e in seen {
        let Some(path) = path_of(e) else { continue };
        if !dirs.iter().any(|d| Path::new(path).starts_with(d)) {
            continue;
        }
        let codes = view.entry(path.to_string()).or_default();
        match kind(e) {
            "finding-raised" => {
                codes.insert(e["code"].as_str().unwrap().to_string());
            }
            "finding-cleared" => {
                codes.remove(e["code"].as_str().unwrap());
            }
            "pidfile-removed" => codes.clear(),
            _ => {}
        }
    }
    view.into_iter()
        .filter(|(_, c)| !c.is_empty())
        .map(|(p, c)| (p, c.into_iter().collect()))
        .collect()
}

/// The finding codes of each pidfile a fresh scan of `dirs` reports.
fn codes_from_scan(dirs: &[&Path]) -> BTreeMap<String, Vec<String>> {
    let args: Vec<&str> = dirs.iter().map(|d| d.to_str().unwrap()).collect();
    let (_, doc) = audit(&args);
    doc["pidfiles"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            let mut c = codes(p);
            c.sort();
            c.dedup();
            (p["path"].as_str().unwrap().to_string(), c)
        })
        .filter(|(_, c)| !c.is_empty())
        .collect()
}

/// Changes are judged pidfile by pidfile, told by the watch's model what the other pidfiles
/// record. Two copies of one program (same executable, arguments and user: each would be the
/// other's duplicate if no pidfile tracked it), each with its pidfile in its own directory: a
/// rewrite of one pidfile must not take the other copy for a duplicate (a pidfile audited alone
/// would); then the other copy dies and the first pidfile is rewritten again at once: both
/// reported (the dead one's file `stale`), and the events add up to what a fresh scan of both
/// directories reports.
#[test]
fn changes_judged_alone_agree_with_a_fresh_scan() {
    let a = open_tempdir();
    let b = open_tempdir();
    let bin = open_tempdir();
    let name = unique_name("wpart");
    let pa = a.path().join(format!("{name}.pid"));
    let pb = b.path().join(format!("{name}.pid"));
    let da = named_sleep(bin.path(), &name);
    let mut db = named_sleep(bin.path(), &name);
    write_pid(&pa, da.pid);
    write_pid(&pb, db.pid);
    let mut w = Watcher::start(&[a.path(), b.path()]);
    let dirs = [a.path(), b.path()];
    // Rewritten in place, same PID: judged alone, the other copy is another pidfile's daemon.
    // Twice: the watch audits everything once more just after it starts (its directories were
    // newly watched), which may take the first.
    for _ in 0..2 {
        std::thread::sleep(Duration::from_millis(50));
        write_pid(&pa, da.pid);
        w.until("rewritten", |e| is(e, "pidfile-rewritten", &pa, None));
    }
    // Between two events: the other copy dies, the first pidfile is written again.
    db.kill();
    write_pid(&pa, da.pid);
    w.seen_or_until("b stale", |e| dead(e, "finding-raised", &pb));
    let bad = |e: &Value| {
        kind(e) == "finding-raised"
            && path_of(e) == pa.to_str()
            && ["duplicate-instance", "orphaned-instance", "locks-unknown"]
                .contains(&e["code"].as_str().unwrap_or(""))
    };
    // The events converge on the fresh scan's verdicts (a judgement may still be under way).
    let mut fresh = codes_from_scan(&dirs);
    for _ in 0..50 {
        if codes_from_events(&w.seen, &dirs) == fresh {
            break;
        }
        if let Ok(line) = w.rx.recv_timeout(Duration::from_millis(200)) {
            w.seen.push(serde_json::from_str(&line).unwrap());
        }
        fresh = codes_from_scan(&dirs);
    }
    assert_eq!(codes_from_events(&w.seen, &dirs), fresh, "{:#?}", w.seen);
    assert!(
        fresh
            .get(pb.to_str().unwrap())
            .is_some_and(|c| c.contains(&"stale".to_string()) || c.contains(&"zombie".to_string())),
        "{fresh:#?}"
    );
    assert!(!w.seen.iter().any(bad), "{:#?}", w.seen);
    drop(da);
}

/// A counter of the watch's `/metrics` (`name` with its labels), 0 when absent.
fn metric(port: u16, name: &str) -> u64 {
    let (code, response) = http(port, "GET", "/metrics");
    assert_eq!(code, 200, "{response}");
    response
        .lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.parse().ok())
        .unwrap_or(0)
}

/// What the helper below does, in the watch's PID namespace, when the test creates a file in its
/// trigger directory: `lock` takes a flock on the pidfile (an existing process: no process is
/// created), `spawn` starts a second copy of the daemon and `kill` ends it; it starts a second
/// daemon at once, with its own pidfile, which `zombie` kills without reaping and `reap` reaps.
/// It polls with sleeps, never forking but when asked to.
const HELPER: &str = r#"
import fcntl, os, signal, subprocess, sys, time
trig, pidfile, exe, pidfile2, exe2 = sys.argv[1:6]
second = subprocess.Popen([exe2, "1000"], stdin=subprocess.DEVNULL)
with open(pidfile2 + ".tmp", "w") as f:
    f.write(f"{second.pid}\n")
os.rename(pidfile2 + ".tmp", pidfile2)
done = set()
held = []
copy = None
while True:
    for t in ("lock", "spawn", "kill", "zombie", "reap"):
        if t not in done and os.path.exists(os.path.join(trig, t)):
            done.add(t)
            if t == "lock":
                fd = os.open(pidfile, os.O_RDWR)
                fcntl.flock(fd, fcntl.LOCK_EX)
                held.append(fd)
            elif t == "spawn":
                copy = subprocess.Popen([exe, "1000"], stdin=subprocess.DEVNULL, start_new_session=True)
            elif t == "kill":
                copy.kill()
                copy.wait()
            elif t == "zombie":
                os.kill(second.pid, signal.SIGKILL)
            else:
                second.wait()
            open(os.path.join(trig, t + ".done"), "w").close()
    time.sleep(0.05)
"#;

/// Asks the helper to do `what`, and waits until it has.
fn trigger(dir: &Path, what: &str) {
    std::fs::write(dir.join(what), "").unwrap();
    wait_until(what, || dir.join(format!("{what}.done")).exists());
}

/// The interval's check: with nothing happening it runs no audit (a private PID namespace, so no
/// other process on the machine is new to it); a lock taken by a process that existed before (no
/// process created), a second copy started and ended, a tracked daemon's zombie reaped, and a
/// mode changed by a short-lived chmod are each still found: all but the last by the interval's
/// audit the check asks for, the last by its inotify event.
#[test]
fn quiet_intervals_audit_nothing_yet_miss_nothing() {
    let dir = open_tempdir();
    let aux = open_tempdir();
    let name = unique_name("wquie");
    let exe = sleep_copy(aux.path(), &name);
    let pf = dir.path().join(format!("{name}.pid"));
    let name2 = unique_name("wquie");
    let exe2 = sleep_copy(aux.path(), &name2);
    let pf2 = dir.path().join(format!("{name2}.pid"));
    let helper = aux.path().join("helper.py");
    std::fs::write(&helper, HELPER).unwrap();
    let trig = aux.path().join("trig");
    std::fs::create_dir(&trig).unwrap();
    let port = free_port();
    let script = format!(
        "'{exe}' 1000 </dev/null >/dev/null 2>&1 & echo $! > '{pf}'\n\
         python3 '{helper}' '{trig}' '{pf}' '{exe}' '{pf2}' '{exe2}' </dev/null >/dev/null 2>&1 &\n\
         while [ ! -e '{pf2}' ]; do sleep 0.05; done\n\
         exec \"$0\" \"$@\"",
        exe = exe.display(),
        pf = pf.display(),
        pf2 = pf2.display(),
        exe2 = exe2.display(),
        helper = helper.display(),
        trig = trig.display(),
    );
    let mut cmd = unshare_pid();
    cmd.args(["sh", "-c", &script, BIN]);
    let mut w = Watcher::start_cmd(
        cmd,
        &[
            dir.path().as_os_str(),
            OsStr::new("--interval"),
            OsStr::new("1s"),
            OsStr::new("--listen"),
            OsStr::new(&port.to_string()),
        ],
    );
    assert!(
        !w.seen.iter().any(|e| e["code"] == "duplicate-instance"),
        "{:#?}",
        w.seen
    );
    let quiet = r#"pidaudit_watch_intervals_total{outcome="quiet"}"#;
    let audited = r#"pidaudit_watch_intervals_total{outcome="audited"}"#;
    // Nothing happens in the namespace: the intervals are quiet. (Only an OFD lock taken or
    // released elsewhere on the machine shows in this namespace's /proc/locks, and would make one
    // interval audit: allowed, not waited for.)
    wait_until("a quiet interval", || metric(port, quiet) >= 1);
    let quiet0 = metric(port, quiet);
    wait_until("three more quiet intervals", || {
        metric(port, quiet) >= quiet0 + 3
    });
    let audits = metric(port, "pidaudit_watch_audits_total");

    // A lock taken by a process that was already there.
    trigger(&trig, "lock");
    w.until("the lock judged", |e| {
        (kind(e) == "finding-raised" || kind(e) == "finding-cleared")
            && path_of(e) == Some(pf.to_str().unwrap())
    });
    assert!(metric(port, audited) >= 1);
    assert!(metric(port, "pidaudit_watch_audits_total") > audits);

    // A second copy, started by a process that was already there.
    trigger(&trig, "spawn");
    w.until("duplicate-instance", |e| {
        is(e, "finding-raised", &pf, Some("duplicate-instance"))
    });

    // The second copy ends: no event reports an untracked process's exit; the interval does.
    trigger(&trig, "kill");
    w.until("duplicate-instance cleared", |e| {
        is(e, "finding-cleared", &pf, Some("duplicate-instance"))
    });

    // A tracked daemon dies unreaped (a zombie, reported through its pidfd), then is reaped:
    // nothing reports the reaping; the interval does.
    trigger(&trig, "zombie");
    w.until("zombie", |e| is(e, "finding-raised", &pf2, Some("zombie")));
    trigger(&trig, "reap");
    w.until("zombie cleared", |e| {
        is(e, "finding-cleared", &pf2, Some("zombie"))
    });

    // A mode changed by a process that is gone at the next interval: its inotify event.
    let chmod = run_cmd(Command::new("chmod").arg("0666").arg(&pf));
    assert_eq!(chmod.code, 0, "{}", chmod.stderr);
    w.until("world-writable", |e| {
        is(e, "finding-raised", &pf, Some("world-writable"))
    });
}

/// What cannot be watched is left to the interval, whatever its check says: a named pidfile whose
/// directory does not exist yet is found once the directory and the file appear, though no event
/// reports them and no process is started (a private PID namespace, so none elsewhere either).
#[test]
fn unwatched_paths_are_audited_every_interval() {
    let dir = open_tempdir();
    let sub = dir.path().join("later");
    let pf = sub.join("lat.pid");
    let mut w = NsWatch::start(
        "",
        &["--interval".as_ref(), "1s".as_ref(), pf.as_os_str()],
        &[],
    );
    assert!(
        w.seen.iter().any(|e| kind(e) == "unwatched"),
        "{:#?}",
        w.seen
    );
    std::thread::sleep(Duration::from_millis(1500));
    std::fs::create_dir(&sub).unwrap();
    write_pid(&pf, 30_000);
    w.until("pidfile-created", |e| is(e, "pidfile-created", &pf, None));
}

/// A file mounted over `/proc/loadavg` (as lxcfs does in containers) tells other numbers than the
/// kernel: the interval's check does not trust it, and every interval audits.
#[test]
fn a_file_mounted_over_proc_is_not_trusted() {
    let dir = open_tempdir();
    let fake = dir.path().join("loadavg");
    std::fs::write(&fake, "0.00 0.00 0.00 1/1 1\n").unwrap();
    let watched = dir.path().join("run");
    std::fs::create_dir(&watched).unwrap();
    let port = free_port();
    let setup = format!("mount --bind '{}' /proc/loadavg", fake.display());
    let _w = NsWatch::start(
        &setup,
        &[
            "--interval".as_ref(),
            "1s".as_ref(),
            "--listen".as_ref(),
            port.to_string().as_ref(),
            watched.as_os_str(),
        ],
        &[],
    );
    let quiet = r#"pidaudit_watch_intervals_total{outcome="quiet"}"#;
    let audited = r#"pidaudit_watch_intervals_total{outcome="audited"}"#;
    wait_until("three intervals", || metric(port, audited) >= 3);
    assert_eq!(metric(port, quiet), 0);
}

/// An executable replaced on disk under its running daemon (an upgrade), by no process the watch
/// could see (a rename from here, no event in a watched directory): the interval's check compares
/// the file each daemon runs with its path, and the audit it asks for says `deleted-exe`.
#[test]
fn executable_replaced_under_a_daemon_is_found_by_the_interval() {
    let dir = open_tempdir();
    let aux = open_tempdir();
    let name = unique_name("wupgr");
    let exe = sleep_copy(aux.path(), &name);
    let pf = dir.path().join(format!("{name}.pid"));
    let setup = format!(
        "'{exe}' 1000 </dev/null >/dev/null 2>&1 & echo $! > '{pf}'",
        exe = exe.display(),
        pf = pf.display(),
    );
    let mut w = NsWatch::start(
        &setup,
        &["--interval".as_ref(), "1s".as_ref(), dir.path().as_os_str()],
        &[],
    );
    assert!(!w.seen.iter().any(|e| e["code"] == "deleted-exe"));
    std::thread::sleep(Duration::from_millis(1500));
    let new = aux.path().join("upgrade.new");
    std::fs::copy(&exe, &new).unwrap();
    std::fs::rename(&new, &exe).unwrap();
    w.until("deleted-exe", |e| {
        is(e, "finding-raised", &pf, Some("deleted-exe"))
    });
}

/// A daemon that executes another program in place (no process created: the PID, its start time
/// and every lock stay) is seen by the interval's check through its `exe` link: here a Python
/// script named by `NAME.pid` (a `name-mismatch`) becomes `NAME`, and the mismatch clears.
#[test]
fn daemon_executing_another_program_is_found_by_the_interval() {
    let dir = open_tempdir();
    let aux = open_tempdir();
    let name = unique_name("wexec");
    let exe = sleep_copy(aux.path(), &name);
    let pf = dir.path().join(format!("{name}.pid"));
    let trig = aux.path().join("go");
    let script = format!(
        "import os, time\n\
         open('{pf}', 'w').write(f'{{os.getpid()}}\\n')\n\
         while not os.path.exists('{trig}'):\n    time.sleep(0.05)\n\
         os.execv('{exe}', ['{exe}', '1000'])\n",
        pf = pf.display(),
        trig = trig.display(),
        exe = exe.display(),
    );
    // Named by its script (`python3 SCRIPT`), which is not the pidfile's name.
    let program = aux.path().join("qzother.py");
    std::fs::write(&program, script).unwrap();
    let setup = format!(
        "python3 '{program}' </dev/null >/dev/null 2>&1 &\n\
         while ! grep -q . '{pf}' 2>/dev/null; do sleep 0.05; done",
        program = program.display(),
        pf = pf.display(),
    );
    let mut w = NsWatch::start(
        &setup,
        &["--interval".as_ref(), "1s".as_ref(), dir.path().as_os_str()],
        &[],
    );
    assert!(
        w.seen
            .iter()
            .any(|e| is(e, "finding-raised", &pf, Some("name-mismatch"))),
        "{:#?}",
        w.seen
    );
    std::fs::write(&trig, "").unwrap();
    w.until("name-mismatch cleared", |e| {
        is(e, "finding-cleared", &pf, Some("name-mismatch"))
    });
}
