//! Trust against real files, owners, directories, links and PID namespaces (run as root). `unlocked`
//! (info: these daemons do not lock) is left out of the audits.

mod common;
use common::*;
use std::os::unix::fs::symlink;
use std::path::Path;

fn chown(path: &Path, uid: u32) {
    std::os::unix::fs::lchown(path, Some(uid), Some(uid)).unwrap();
}

fn reasons(e: &serde_json::Value) -> Vec<String> {
    e["trust_reasons"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r.as_str().unwrap().to_string())
        .collect()
}

/// A root-owned 0644 pidfile in root-owned directories, naming its live daemon, is trusted.
#[test]
fn root_owned_file_is_trusted() {
    let dir = open_tempdir();
    let d = named_sleep(dir.path(), "mydaemon");
    let pf = dir.path().join("mydaemon.pid");
    write_pid(&pf, d.pid);
    chmod(&pf, 0o644);
    let e = audit_one(&pf, NO_UNLOCKED);
    assert_eq!(e["state"], "running");
    assert_eq!(e["trusted"], true, "{e:#}");
    assert!(reasons(&e).is_empty());
    assert!(codes(&e).is_empty(), "{e:#}");
}

/// A world-writable pidfile is an error and untrusted; a group-writable one a warning.
#[test]
fn writable_modes() {
    let dir = open_tempdir();
    let d = named_sleep(dir.path(), "mydaemon");
    let pf = dir.path().join("mydaemon.pid");
    write_pid(&pf, d.pid);
    chmod(&pf, 0o666);
    let (code, doc) = audit_path(&pf, NO_UNLOCKED);
    assert_eq!(code, 1, "an error fails the run");
    let e = pidfile(&doc, &pf);
    assert_eq!(codes(e), vec!["world-writable"]);
    assert_eq!(finding(e, "world-writable")["severity"], "error");
    assert_eq!(finding(e, "world-writable")["evidence"]["mode"], "0666");
    assert_eq!(e["trusted"], false);
    assert_eq!(reasons(e), vec!["world-writable"]);
    assert_eq!(
        e["state"], "running",
        "trust does not change the liveness verdict"
    );

    chmod(&pf, 0o664);
    let (code, doc) = audit_path(&pf, NO_UNLOCKED);
    assert_eq!(code, 0, "a warning does not fail at the default threshold");
    let e = pidfile(&doc, &pf);
    assert_eq!(codes(e), vec!["group-writable"]);
    assert_eq!(finding(e, "group-writable")["severity"], "warning");
    assert_eq!(reasons(e), vec!["group-writable"]);
}

/// A pidfile with a second hard link is a warning and untrusted.
#[test]
fn hardlinked_file() {
    let dir = open_tempdir();
    let d = named_sleep(dir.path(), "mydaemon");
    let pf = dir.path().join("mydaemon.pid");
    write_pid(&pf, d.pid);
    std::fs::hard_link(&pf, dir.path().join("elsewhere")).unwrap();
    let e = audit_one(&pf, NO_UNLOCKED);
    assert_eq!(codes(&e), vec!["hardlink"]);
    assert_eq!(finding(&e, "hardlink")["evidence"]["nlink"], 2);
    assert_eq!(reasons(&e), vec!["hardlink"]);
}

/// A file owned by another user than root and the process's user is insecure-owner; owned by the
/// process's own user it is fine.
#[test]
fn owner_must_be_root_or_the_process_user() {
    let dir = open_tempdir();
    let root_daemon = named_sleep(dir.path(), "mydaemon");
    let pf = dir.path().join("mydaemon.pid");
    write_pid(&pf, root_daemon.pid);
    chown(&pf, NOBODY);
    let e = audit_one(&pf, NO_UNLOCKED);
    assert_eq!(codes(&e), vec!["insecure-owner"], "{e:#}");
    let f = finding(&e, "insecure-owner");
    assert_eq!(f["severity"], "error");
    assert_eq!(f["evidence"]["file_uid"], NOBODY);
    assert_eq!(f["evidence"]["process_uids"][0], 0);
    assert_eq!(reasons(&e), vec!["insecure-owner"]);

    // The same file naming a daemon that runs as its owner is trusted.
    let exe = sleep_copy(dir.path(), "userdaemon");
    let user_daemon = Daemon::from_child(spawn(as_nobody(&exe).arg("1000")));
    let pf2 = dir.path().join("userdaemon.pid");
    write_pid(&pf2, user_daemon.pid);
    chown(&pf2, NOBODY);
    let e = audit_one(&pf2, NO_UNLOCKED);
    assert_eq!(e["state"], "running");
    assert_eq!(e["process"]["uid"], NOBODY);
    assert!(codes(&e).is_empty(), "{e:#}");
    assert_eq!(e["trusted"], true);
}

/// A directory writable by others without the sticky bit makes every pidfile below it unsafe,
/// however deep; with the sticky bit it does not.
#[test]
fn writable_directory_on_the_path() {
    let dir = open_tempdir();
    let d = named_sleep(dir.path(), "mydaemon");
    let top = dir.path().join("top");
    let deep = top.join("a").join("b");
    std::fs::create_dir_all(&deep).unwrap();
    let pf = deep.join("mydaemon.pid");
    write_pid(&pf, d.pid);
    chmod(&top, 0o777);
    let e = audit_one(&pf, NO_UNLOCKED);
    assert_eq!(codes(&e), vec!["unsafe-path"], "{e:#}");
    let f = finding(&e, "unsafe-path");
    assert_eq!(f["severity"], "error");
    let problems = f["evidence"]["problems"].as_array().unwrap();
    assert_eq!(problems.len(), 1, "{f:#}");
    assert_eq!(problems[0]["problem"], "writable_directory");
    assert_eq!(problems[0]["path"], top.to_str().unwrap());
    assert_eq!(problems[0]["mode"], "0777");
    assert_eq!(reasons(&e), vec!["unsafe-path"]);

    chmod(&top, 0o1777);
    let e = audit_one(&pf, NO_UNLOCKED);
    assert!(codes(&e).is_empty(), "sticky: {e:#}");
    assert_eq!(e["trusted"], true);
}

/// Stepping from a directory owned by a non-root user into a file (or directory) owned by another
/// user is unsafe (CHASE_SAFE); the same user throughout is not.
#[test]
fn owner_transition_on_the_path() {
    let dir = open_tempdir();
    let d = named_sleep(dir.path(), "mydaemon");
    let userdir = dir.path().join("userdir");
    std::fs::create_dir(&userdir).unwrap();
    chown(&userdir, NOBODY);
    let pf = userdir.join("mydaemon.pid");
    write_pid(&pf, d.pid);
    let e = audit_one(&pf, NO_UNLOCKED);
    assert_eq!(codes(&e), vec!["unsafe-path"], "{e:#}");
    let p = &finding(&e, "unsafe-path")["evidence"]["problems"][0];
    assert_eq!(p["problem"], "owner_transition");
    assert_eq!(p["from"], userdir.to_str().unwrap());
    assert_eq!(p["from_uid"], NOBODY);
    assert_eq!(p["to_uid"], 0);

    // A root-owned directory below the user's directory is the same transition, one level up.
    let sub = userdir.join("sub");
    std::fs::create_dir(&sub).unwrap();
    let pf2 = sub.join("mydaemon.pid");
    write_pid(&pf2, d.pid);
    let e = audit_one(&pf2, NO_UNLOCKED);
    let p = &finding(&e, "unsafe-path")["evidence"]["problems"][0];
    assert_eq!(p["to"], sub.to_str().unwrap(), "{e:#}");

    // The user's own file in the user's own directory is not a transition.
    chown(&pf, NOBODY);
    let e = audit_one(&pf, NO_UNLOCKED);
    assert!(!codes(&e).contains(&"unsafe-path".to_string()), "{e:#}");
}

/// Thousands of pidfiles in one directory cost one examination of each ancestor: the number of
/// `..` lookups does not grow with the number of files.
#[test]
fn directory_verdicts_are_cached() {
    let dir = open_tempdir();
    let many = dir.path().join("many");
    std::fs::create_dir(&many).unwrap();
    let dead = dead_pid();
    for i in 0..2000 {
        write_pid(&many.join(format!("d{i}.pid")), dead);
    }
    let trace = dir.path().join("trace");
    let (_, doc) = audit_cmd(
        strace(&trace, "openat")
            .arg(BIN)
            .args(["--format", "json"])
            .arg(&many),
    );
    assert_eq!(doc["summary"]["pidfiles"], 2000);
    let log = std::fs::read_to_string(&trace).unwrap();
    let dotdot = log.lines().filter(|l| l.contains("\"..\"")).count();
    let depth = many.components().count();
    assert!(dotdot > 0, "ancestors are examined through '..'");
    assert!(
        dotdot <= depth,
        "{dotdot} '..' lookups for a directory {depth} levels deep"
    );
}

/// A symlinked pidfile whose chain is safe is read through it and judged by its target's content,
/// with a warning saying where it points; it is never trusted.
#[test]
fn symlink_with_safe_chain_is_read() {
    let dir = open_tempdir();
    let d = named_sleep(dir.path(), "mydaemon");
    let real = dir.path().join("real");
    std::fs::create_dir(&real).unwrap();
    write_pid(&real.join("mydaemon.pid"), d.pid);
    let link = dir.path().join("mydaemon.pid");
    symlink("real/mydaemon.pid", &link).unwrap();
    let e = audit_one(&link, NO_UNLOCKED);
    assert_eq!(e["state"], "running", "{e:#}");
    assert_eq!(e["pid"], d.pid);
    assert_eq!(codes(&e), vec!["symlink"]);
    let f = finding(&e, "symlink");
    assert_eq!(f["evidence"]["chain_safe"], true);
    assert_eq!(f["evidence"]["target"], "real/mydaemon.pid");
    assert_eq!(
        f["evidence"]["resolved"],
        real.join("mydaemon.pid").to_str().unwrap()
    );
    assert_eq!(e["file"]["kind"], "regular", "file facts are the target's");
    assert_eq!(e["trusted"], false);
    assert_eq!(reasons(&e), vec!["symlink"]);
}

/// A chain with an unsafe step is not followed and its target is not read: a link owned by another
/// user, or a root link into a directory owned by a user that holds a root-owned file.
#[test]
fn symlink_with_unsafe_chain_is_not_read() {
    let dir = open_tempdir();
    let d = named_sleep(dir.path(), "mydaemon");
    let target = dir.path().join("target.txt");
    write_pid(&target, d.pid);
    // A link owned by nobody in a root-owned directory.
    let link = dir.path().join("mydaemon.pid");
    symlink(&target, &link).unwrap();
    chown(&link, NOBODY);
    let e = audit_one(&link, NO_UNLOCKED);
    assert_eq!(e["state"], "not-a-file", "{e:#}");
    assert!(e["pid"].is_null(), "the target was not read");
    let f = finding(&e, "symlink");
    assert_eq!(f["evidence"]["chain_safe"], false);
    assert_eq!(f["evidence"]["reason"], "untrusted_link");
    assert_eq!(reasons(&e), vec!["symlink"]);

    // A root link through a user's directory to a root-owned file.
    let userdir = dir.path().join("userdir");
    std::fs::create_dir(&userdir).unwrap();
    chown(&userdir, NOBODY);
    write_pid(&userdir.join("t"), d.pid);
    let link2 = dir.path().join("other.pid");
    symlink("userdir/t", &link2).unwrap();
    let e = audit_one(&link2, NO_UNLOCKED);
    assert_eq!(e["state"], "not-a-file", "{e:#}");
    assert!(e["pid"].is_null());
    let f = finding(&e, "symlink");
    assert_eq!(f["evidence"]["reason"], "unsafe_transition");
    assert_eq!(
        f["evidence"]["refused_at"],
        userdir.join("t").to_str().unwrap()
    );

    // A link into /proc is refused whoever owns it (magic links resolve to open files).
    let link3 = dir.path().join("proc.pid");
    symlink("/proc/self/stat", &link3).unwrap();
    let e = audit_one(&link3, NO_UNLOCKED);
    assert_eq!(
        finding(&e, "symlink")["evidence"]["reason"],
        "special_filesystem"
    );
    assert!(e["pid"].is_null());
}

/// Seen from a child PID namespace, a live host daemon's pidfile (and a dead one's) is
/// foreign-namespace (unknown), never stale: the PID cannot be judged from there.
#[test]
fn host_pid_from_child_namespace_is_foreign() {
    let dir = open_tempdir();
    let d = named_sleep(dir.path(), "mydaemon");
    let pf = dir.path().join("mydaemon.pid");
    write_pid(&pf, d.pid);
    let gone = dir.path().join("gone.pid");
    write_pid(&gone, dead_pid());
    // From the host, the control: running and stale.
    assert_eq!(audit_one(&pf, NO_UNLOCKED)["state"], "running");
    assert_eq!(audit_one(&gone, NO_UNLOCKED)["state"], "stale");
    // pidaudit as PID 1 of a new PID namespace with its own /proc.
    let (_, doc) = audit_cmd(
        unshare_pid()
            .arg(BIN)
            .args(["--format", "json"])
            .arg(dir.path()),
    );
    for path in [&pf, &gone] {
        let e = pidfile(&doc, path);
        assert_eq!(e["state"], "unknown", "{e:#}");
        assert_eq!(codes(e), vec!["foreign-namespace"]);
        let f = finding(e, "foreign-namespace");
        assert_eq!(f["severity"], "unknown");
        // The file predates the namespace's init, or names a PID it never allocated (which one is
        // seen first depends on the clock's resolution; both say the same thing).
        let reason = f["evidence"]["reason"].as_str().unwrap();
        assert!(
            reason == "predates_namespace" || reason == "never_allocated",
            "{f:#}"
        );
    }
    assert_eq!(doc["summary"]["by_state"]["stale"], 0);
}

/// From inside a long-lived child PID namespace (one that has already handed out PIDs above the
/// host daemon's), a pidfile a live host daemon wrote after the namespace began is foreign-namespace
/// (unknown), never stale: nothing inside tells that PID from a dead one of the namespace.
#[test]
fn host_pid_from_long_lived_namespace_is_foreign() {
    let dir = open_tempdir();
    let d = named_sleep(dir.path(), "mydaemon");
    let pf = dir.path().join("mydaemon.pid");
    let go = dir.path().join("go");
    let out = dir.path().join("inside.json");
    // Inside: allocate PIDs past the host daemon's, say so, wait for the host's file, audit it.
    let script = format!(
        "echo {last} > /proc/sys/kernel/ns_last_pid && /bin/true && echo ready && while [ ! -e {go} ]; do sleep 0.02; done; {bin} --format json {pf} > {out}.tmp; mv {out}.tmp {out}",
        last = d.pid + 50,
        go = go.display(),
        bin = BIN,
        pf = pf.display(),
        out = out.display()
    );
    let _ns = spawn_ready(unshare_pid().args(["sh", "-c", &script]), "ready");
    // The host daemon writes its file after the namespace began.
    std::thread::sleep(std::time::Duration::from_millis(20));
    write_pid(&pf, d.pid);
    assert_eq!(audit_one(&pf, NO_UNLOCKED)["state"], "running");
    std::fs::write(&go, "").unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while !out.exists() {
        assert!(std::time::Instant::now() < deadline, "no audit from inside");
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    let doc: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&out).unwrap()).unwrap();
    let e = pidfile(&doc, &pf);
    assert_eq!(e["state"], "unknown", "{e:#}");
    assert_eq!(codes(e), vec!["foreign-namespace"]);
    let f = finding(e, "foreign-namespace");
    assert_eq!(f["evidence"]["reason"], "ancestor_namespace", "{f:#}");
    assert_eq!(doc["summary"]["by_state"]["stale"], 0);
}

/// Inside a child PID namespace, a daemon of that namespace is judged there: running while alive;
/// once dead, foreign-namespace (a host daemon could have that PID), and stale when the operator
/// says every pidfile audited is written from inside (`--own-pid-namespace`).
#[test]
fn own_namespace_daemon_is_judged_normally() {
    let dir = open_tempdir();
    let pf = dir.path().join("sleep.pid");
    let bin = BIN;
    let script = format!(
        "sleep 1000 & p=$!; echo $p > {pf}; {bin} --format json {pf} > {d}/alive.json; kill $p; wait $p; {bin} --format json {pf} > {d}/unsure.json; {bin} --format json --own-pid-namespace {pf} > {d}/dead.json",
        pf = pf.display(),
        d = dir.path().display()
    );
    let r = run_cmd(unshare_pid().args(["sh", "-c", &script]));
    assert_eq!(r.code, 0, "{}", r.stderr);
    let read = |name: &str| -> serde_json::Value {
        serde_json::from_str(&std::fs::read_to_string(dir.path().join(name)).unwrap()).unwrap()
    };
    let alive = read("alive.json");
    let e = pidfile(&alive, &pf);
    assert_eq!(e["state"], "running", "{e:#}");
    assert_eq!(e["pid"], 2, "the PID of the namespace");
    let unsure = read("unsure.json");
    let e = pidfile(&unsure, &pf);
    assert_eq!(e["state"], "unknown", "{e:#}");
    assert_eq!(
        finding(e, "foreign-namespace")["evidence"]["reason"],
        "ancestor_namespace"
    );
    let dead = read("dead.json");
    let e = pidfile(&dead, &pf);
    assert_eq!(e["state"], "stale", "{e:#}");
    assert_eq!(codes(e), vec!["stale"]);
}

/// A PID that a process has inside a nested namespace, written there, is foreign-namespace when
/// audited from the host (where no process has that number), never stale.
#[test]
fn inner_pid_seen_from_host_is_foreign() {
    let dir = open_tempdir();
    let pf = dir.path().join("sleep.pid");
    // A PID that no host process has, to hand to the namespace's first child.
    let pid_max = pid_max();
    let inner = (pid_max / 2..pid_max - 2)
        .rev()
        .find(|p| !Path::new(&format!("/proc/{p}")).exists())
        .unwrap();
    let script = format!(
        "echo {} > /proc/sys/kernel/ns_last_pid; sleep 1000 & echo $! > {pf}.tmp; mv {pf}.tmp {pf}; echo ready; wait",
        inner - 1,
        pf = pf.display()
    );
    let _ns = spawn_ready(unshare_pid().args(["sh", "-c", &script]), "ready");
    assert_eq!(
        std::fs::read_to_string(&pf).unwrap().trim(),
        inner.to_string()
    );
    let e = audit_one(&pf, NO_UNLOCKED);
    assert_eq!(e["state"], "unknown", "{e:#}");
    assert_eq!(codes(&e), vec!["foreign-namespace"]);
    let f = finding(&e, "foreign-namespace");
    assert_eq!(f["evidence"]["reason"], "nested_namespace");
    assert_eq!(f["evidence"]["nspid"][1], inner);
}
