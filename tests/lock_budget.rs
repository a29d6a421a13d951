//! A user holding a huge number of locks cannot stall the audit nor blind it. `/proc/locks` costs
//! the kernel time quadratic in the number of locks (it walks the list from its start for every
//! page it hands out), so its read is cut short by a budget; the pidfiles' locks are then
//! confirmed from their daemons' fdinfo. Alone in its test binary, one test at a time: while they
//! run, every audit on the machine sees their locks.

mod common;
use common::*;
use std::io::BufRead;
use std::process::{Command, Stdio};
use std::sync::Mutex;

/// The tests here change what every audit on the machine sees: one at a time.
static SERIAL: Mutex<()> = Mutex::new(());

/// With 120,000 locks held by another process (newer than the daemons' own, so listed before
/// them), the locking daemon is still `running` with its lock found, the daemon without a lock
/// is still `unlocked`, and the cut-short read is reported as `locks-unknown`.
#[test]
fn a_flood_of_locks_neither_stalls_nor_blinds() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let dir = open_tempdir();
    let locked = dir.path().join("floodlocked.pid");
    let bare = dir.path().join("floodbare.pid");
    let a = Testd::new(&locked)
        .name("floodlocked")
        .lock(Lock::Flock)
        .start();
    let b = Testd::new(&bare).name("floodbare").start();
    let _flood = many_locks(120_000, dir.path());

    let mut cmd = pidaudit();
    cmd.args(["--format", "json", "--fail-on", "never"])
        .arg(&locked)
        .arg(&bare);
    let r = run_cmd(&mut cmd);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let doc = r.json();
    let e = pidfile(&doc, &locked);
    assert_eq!(e["state"], "running", "{e:#}");
    assert_eq!(codes(e), Vec::<String>::new(), "{e:#}");
    assert_eq!(e["lock"]["holders"][0]["pid"], a.pid, "{e:#}");
    let e = pidfile(&doc, &bare);
    assert_eq!(codes(e), vec!["unlocked"], "{e:#}");
    assert_eq!(finding(e, "unlocked")["evidence"]["pid"], b.pid);
    let system: Vec<&str> = doc["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["subject"].as_str().is_some_and(|s| s.ends_with("/locks")))
        .map(|f| f["code"].as_str().unwrap())
        .collect();
    assert_eq!(system, vec!["locks-unknown"], "{doc:#}");
}

/// Holds `n` POSIX locks on private files in `dir` until dropped.
fn many_locks(n: u32, dir: &std::path::Path) -> Daemon {
    let mut child = Command::new("python3")
        .arg(std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/support/manylocks.py"))
        .arg(n.to_string())
        .arg(dir)
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    std::io::BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let d = Daemon::from_child(child);
    assert_eq!(line.trim(), "ready");
    d
}

/// With enough locks on the machine that `/proc/locks` is read in several pieces (2,000: about 30
/// pages), a reader's lock on a daemon's pidfile is listed but the daemon's own absence is still
/// confirmed from its descriptors: `unlocked` beside `lock-foreign-holder`, as on a quiet machine.
#[test]
fn a_readers_lock_in_a_long_table_does_not_hide_unlocked() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let dir = open_tempdir();
    let (name, pf) = unique_pidfile(dir.path(), "longt");
    let d = Testd::new(&pf).name(&name).start();
    let _reader = Testd::new(&pf)
        .readonly()
        .lock(Lock::FlockShared)
        .name("reader")
        .unprivileged()
        .start();
    let _locks = many_locks(2000, dir.path());
    let e = audit_one(&pf, &[]);
    let mut got = codes(&e);
    got.sort();
    assert_eq!(got, vec!["lock-foreign-holder", "unlocked"], "{e:#}");
    assert_eq!(finding(&e, "unlocked")["evidence"]["pid"], d.pid);
}

/// With 300 other processes holding write locks on the pidfiles' filesystem, the daemon that still
/// holds the lock of its replaced pidfile is found (the search takes processes that could be the
/// file's daemon first), and the search cut short by its bound says so.
#[test]
fn a_crowd_of_lock_holders_does_not_hide_a_replaced_pidfile() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let dir = open_tempdir();
    let pf = dir.path().join("crowdedd.pid");
    let d = Testd::new(&pf).name("crowdedd").lock(Lock::Flock).start();
    std::fs::remove_file(&pf).unwrap();
    write_pidfile(&pf, &format!("{}\n", dead_pid()));
    let crowd: Vec<Daemon> = (0..300)
        .map(|i| {
            let f = dir.path().join(format!("filler{i}"));
            // --no-fork: the process that holds the lock is the one killed when dropped.
            Daemon::from_child(spawn(
                Command::new("flock")
                    .args(["--no-fork", "-x"])
                    .arg(&f)
                    .args(["sleep", "1000"])
                    .stdout(Stdio::null())
                    .stderr(Stdio::null()),
            ))
        })
        .collect();
    // Every filler holds its lock before the audit.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while std::fs::read_to_string("/proc/locks")
        .unwrap()
        .lines()
        .count()
        < 300
    {
        assert!(
            std::time::Instant::now() < deadline,
            "the fillers did not lock"
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    let mut cmd = pidaudit();
    cmd.args(["--format", "json", "--fail-on", "never"])
        .arg(&pf);
    let r = run_cmd(&mut cmd);
    let doc = r.json();
    let e = pidfile(&doc, &pf);
    assert!(
        codes(e).contains(&"replaced-while-locked".to_string()),
        "{e:#}"
    );
    assert_eq!(
        finding(e, "replaced-while-locked")["evidence"]["holder_pid"],
        d.pid
    );
    let cut = doc["findings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["code"] == "locks-unknown" && f["evidence"]["examined"].is_number())
        .unwrap_or_else(|| panic!("no cut-short finding: {doc:#}"));
    assert!(
        cut["evidence"]["candidates"].as_u64().unwrap() > 300,
        "{cut:#}"
    );
    drop(crowd);
}
