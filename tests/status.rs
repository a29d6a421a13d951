//! `pidaudit status`: the LSB status codes, and the drop-in for the status action of a real Debian
//! init script (a copy of `/etc/init.d/redis-server`) against a real redis daemon.

mod common;
use common::*;
use std::path::{Path, PathBuf};
use std::process::Command;

/// Runs `pidaudit status --pidfile PF` with extra arguments.
fn status(pf: &Path, args: &[&str]) -> Run {
    run_cmd(pidaudit().args(["status", "--pidfile"]).arg(pf).args(args))
}

/// Each verdict's code and line: running, dead with a pidfile (stale, zombie, not the daemon
/// named), not running, and unknown for what cannot be a daemon or cannot be believed (invalid
/// content, a world-writable file, a lock held by another process).
#[test]
fn lsb_codes() {
    let dir = open_tempdir();
    let (name, pf) = unique_pidfile(dir.path(), "st");
    let d = named_sleep(dir.path(), &name);
    write_pid(&pf, d.pid);
    let r = status(&pf, &[]);
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    assert_eq!(
        r.stdout,
        format!("{name} is running (PID {}, {})\n", d.pid, pf.display())
    );
    let exe = dir.path().join(&name);
    let exe = exe.to_str().unwrap();
    assert_eq!(
        status(&pf, &["--exec", exe, "--user", "root", "--name", &name]).code,
        0
    );
    // Not the daemon described: dead, with a pidfile.
    for args in [
        &["--exec", "/usr/bin/true"][..],
        &["--user", "nobody"],
        &["--name", "other"],
    ] {
        let r = status(&pf, args);
        assert_eq!(r.code, 1, "{args:?}: {}", r.stdout);
        assert!(r.stdout.contains("is not running, but"), "{}", r.stdout);
    }
    // Another process holds the file's lock: the PID in it may not be the daemon's.
    let (_, locked) = unique_pidfile(dir.path(), "lk");
    let _holder = Testd::new(&locked)
        .lock(Lock::Flock)
        .write_pid(d.pid)
        .name(&unique_name("hold"))
        .start();
    let r = status(&locked, &[]);
    assert_eq!(r.code, 4, "{}", r.stdout);
    assert!(
        r.stdout.contains("status unknown") && r.stdout.contains("lock"),
        "{}",
        r.stdout
    );
    // Stale.
    write_pid(&pf, dead_pid());
    assert_eq!(status(&pf, &[]).code, 1);
    // A zombie.
    let (_parent, z) = zombie();
    write_pid(&pf, z);
    let r = status(&pf, &[]);
    assert_eq!(r.code, 1, "{}", r.stdout);
    assert!(r.stdout.contains("zombie"), "{}", r.stdout);
    // No pidfile.
    std::fs::remove_file(&pf).unwrap();
    let r = status(&pf, &[]);
    assert_eq!(r.code, 3);
    assert_eq!(
        r.stdout,
        format!("{name} is not running (no {})\n", pf.display())
    );
    // Content that names no daemon, and a file anyone could have written.
    for content in ["", "0\n", "1\n", "2\n", "12abc\n"] {
        write_pidfile(&pf, content);
        let r = status(&pf, &[]);
        assert_eq!(r.code, 4, "{content:?}: {}", r.stdout);
        assert!(r.stdout.contains("status unknown"), "{}", r.stdout);
    }
    write_pid(&pf, d.pid);
    chmod(&pf, 0o666);
    let r = status(&pf, &[]);
    assert_eq!(r.code, 4, "{}", r.stdout);
    // Usage errors are unknown (4) too, with the one error style.
    let r = status(&pf, &["--user", "no-such-user-here"]);
    assert_eq!(r.code, 4);
    assert!(
        r.stderr.starts_with("pidaudit: error: --user"),
        "{}",
        r.stderr
    );
}

/// Replaces `from` (which must occur) with `to`.
fn replace(text: &str, from: &str, to: &str) -> String {
    assert!(text.contains(from), "{from:?} not in the init script");
    text.replace(from, to)
}

/// The status action of Debian's redis-server init script, with `status_of_proc` replaced by
/// `pidaudit status` (one line), against a real redis: running 0; SIGKILLed leaving its pidfile 1;
/// no pidfile 3; a pidfile naming a zombie or a reused PID: 1, where `status_of_proc` says running.
#[test]
fn init_script_drop_in() {
    let original = std::fs::read_to_string("/etc/init.d/redis-server")
        .expect("/etc/init.d/redis-server (apt-get install redis-server; see .ci/deps)");
    let dir = open_tempdir();
    let (name, pf) = unique_pidfile(dir.path(), "redis");
    let exe: PathBuf = dir.path().join(&name);
    std::fs::copy("/usr/bin/redis-server", &exe).unwrap();
    let script = |status_line: &str| {
        let s = replace(
            &original,
            "DAEMON=/usr/bin/redis-server",
            &format!("DAEMON={}", exe.display()),
        );
        let s = replace(&s, "NAME=redis-server", &format!("NAME={name}"));
        let s = replace(
            &s,
            "PIDFILE=$RUNDIR/redis-server.pid",
            &format!("PIDFILE={}", pf.display()),
        );
        replace(
            &s,
            "status_of_proc -p ${PIDFILE} ${DAEMON} ${NAME}",
            status_line,
        )
    };
    // The change the README documents, with this binary's path.
    let ours = dir.path().join("redis-pidaudit");
    std::fs::write(
        &ours,
        script(&format!(
            "{BIN} status --pidfile ${{PIDFILE}} --exec ${{DAEMON}} --name ${{NAME}}"
        )),
    )
    .unwrap();
    let lsb = dir.path().join("redis-lsb");
    std::fs::write(
        &lsb,
        script("status_of_proc -p ${PIDFILE} ${DAEMON} ${NAME}"),
    )
    .unwrap();
    let status = |script: &Path| run_cmd(Command::new("sh").arg(script).arg("status"));

    let mut redis = start_redis(&exe, dir.path(), &pf, "redis.sock", 0);
    let r = status(&ours);
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    assert_eq!(
        r.stdout,
        format!("{name} is running (PID {}, {})\n", redis.pid, pf.display())
    );
    assert_eq!(status(&lsb).code, 0);

    redis.kill();
    assert!(pf.exists(), "SIGKILL leaves the pidfile");
    let r = status(&ours);
    assert_eq!(r.code, 1, "{}", r.stdout);

    std::fs::remove_file(&pf).unwrap();
    let r = status(&ours);
    assert_eq!(r.code, 3, "{}", r.stdout);
    assert_eq!(status(&lsb).code, 3);

    // A zombie: status_of_proc calls it running.
    let (_parent, z) = zombie();
    write_pid(&pf, z);
    let r = status(&ours);
    assert_eq!(r.code, 1, "{}", r.stdout);
    assert_eq!(status(&lsb).code, 0, "status_of_proc on a zombie");

    // A reused PID: another program started after the file was written.
    let other = named_sleep(dir.path(), &unique_name("other"));
    write_pid(&pf, other.pid);
    age(&pf, 3600);
    let r = status(&ours);
    assert_eq!(r.code, 1, "{}", r.stdout);
    assert_ne!(status(&ours).code, 0);
}
