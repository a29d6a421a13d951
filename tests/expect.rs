//! The expectations manifest (`--expect`) against real processes, and broken manifests.

mod common;
use common::*;
use serde_json::Value;
use std::path::Path;

fn manifest(dir: &Path, body: &str) -> String {
    let m = dir.join("expect.toml");
    std::fs::write(&m, body).unwrap();
    m.display().to_string()
}

/// Audits a manifest; `unlocked` (info) is left out except where a test is about locks.
fn audit_manifest(m: &str) -> (i32, Value) {
    audit(&["--ignore", "unlocked", "--expect", m])
}

fn service(name: &str, pidfile: &Path, extra: &str) -> String {
    format!(
        "[[service]]\nname = \"{name}\"\npidfile = \"{}\"\n{extra}\n",
        pidfile.display()
    )
}

/// A daemon that matches its entry (exe, cmdline, user by name and by uid) has no finding; another
/// cmdline is `identity-mismatch`, another exe too, another user is `wrong-user`.
#[test]
fn identity_and_user() {
    let dir = tempfile::tempdir().unwrap();
    let d = named_sleep(dir.path(), "mexpd");
    let pf = dir.path().join("mexpd.pid");
    write_pid(&pf, d.pid);
    let exe = dir.path().join("mexpd");
    let ok = format!(
        "exe = \"{}\"\ncmdline = \"mexpd 1000$\"\nuser = \"root\"",
        exe.display()
    );
    let (code, doc) = audit_manifest(&manifest(dir.path(), &service("m", &pf, &ok)));
    let e = pidfile(&doc, &pf).clone();
    assert_eq!(code, 0, "{e:#}");
    assert!(codes(&e).is_empty(), "{e:#}");
    assert_eq!(
        doc["pidfiles"].as_array().unwrap().len(),
        1,
        "only the manifest's pidfiles"
    );

    let bad_cmdline = format!("exe = \"{}\"\ncmdline = \"mexpd 2000$\"", exe.display());
    let (code, doc) = audit_manifest(&manifest(dir.path(), &service("m", &pf, &bad_cmdline)));
    let e = pidfile(&doc, &pf).clone();
    assert_eq!(code, 1);
    assert!(
        codes(&e).contains(&"identity-mismatch".to_string()),
        "{e:#}"
    );
    let f = finding(&e, "identity-mismatch");
    assert_eq!(f["evidence"]["mismatched"], serde_json::json!(["cmdline"]));

    let (_, doc) = audit_manifest(&manifest(
        dir.path(),
        &service("m", &pf, "exe = \"/usr/bin/true\""),
    ));
    assert!(codes(pidfile(&doc, &pf)).contains(&"identity-mismatch".to_string()));

    for user in ["\"nobody\"", "65534"] {
        let (code, doc) = audit_manifest(&manifest(
            dir.path(),
            &service("m", &pf, &format!("user = {user}")),
        ));
        let e = pidfile(&doc, &pf).clone();
        assert_eq!(code, 1);
        assert_eq!(codes(&e), vec!["wrong-user"], "{e:#}");
        assert_eq!(e["findings"][0]["evidence"]["expected_uid"], 65534);
        assert_eq!(e["findings"][0]["evidence"]["uid"], 0);
    }
}

/// `instances` counts independent copies: two running where one is expected is `instance-count` (and
/// `duplicate-instance`); where two are expected, nothing; where three are, `instance-count`.
#[test]
fn instance_count() {
    let dir = tempfile::tempdir().unwrap();
    let a = named_sleep(dir.path(), "mcountd");
    let b = named_sleep(dir.path(), "mcountd");
    let pf = dir.path().join("mcountd.pid");
    write_pid(&pf, a.pid);
    let exe = format!("exe = \"{}\"\n", dir.path().join("mcountd").display());
    let (code, doc) = audit_manifest(&manifest(dir.path(), &service("c", &pf, &exe)));
    let e = pidfile(&doc, &pf).clone();
    assert_eq!(code, 1);
    assert_eq!(
        codes(&e),
        vec!["duplicate-instance", "instance-count"],
        "{e:#}"
    );
    assert_eq!(
        e["findings"][0]["evidence"]["duplicates"],
        serde_json::json!([b.pid])
    );
    assert_eq!(e["findings"][1]["evidence"]["running"], 2);

    let (code, doc) = audit_manifest(&manifest(
        dir.path(),
        &service("c", &pf, &format!("{exe}instances = 2")),
    ));
    assert_eq!(code, 0);
    assert!(codes(pidfile(&doc, &pf)).is_empty());

    let (code, doc) = audit_manifest(&manifest(
        dir.path(),
        &service("c", &pf, &format!("{exe}instances = 3")),
    ));
    let e = pidfile(&doc, &pf).clone();
    assert_eq!(code, 1);
    assert_eq!(codes(&e), vec!["instance-count"]);
    assert_eq!(e["findings"][0]["evidence"]["expected"], 3);
}

/// A manifest pidfile that does not exist (even its directory) is `missing-pidfile`; with nothing
/// running it is also `instance-count` 0; a copy running untracked is found through the manifest's exe.
#[test]
fn missing_pidfile() {
    let dir = tempfile::tempdir().unwrap();
    let pf = dir.path().join("no-such-dir/mmissd.pid");
    let exe = dir.path().join("mmissd");
    let body = service("gone", &pf, &format!("exe = \"{}\"", exe.display()));
    let (code, doc) = audit_manifest(&manifest(dir.path(), &body));
    let e = pidfile(&doc, &pf).clone();
    assert_eq!(code, 1);
    assert_eq!(e["state"], "missing");
    assert_eq!(
        codes(&e),
        vec!["missing-pidfile", "instance-count"],
        "{e:#}"
    );
    assert_eq!(e["findings"][1]["evidence"]["running"], 0);
    assert!(
        doc["findings"].as_array().unwrap().len() == 2,
        "no other finding: {doc:#}"
    );

    let d = named_sleep(dir.path(), "mmissd");
    let (code, doc) = audit_manifest(&manifest(dir.path(), &body));
    let e = pidfile(&doc, &pf).clone();
    assert_eq!(code, 1);
    assert_eq!(
        codes(&e),
        vec!["missing-pidfile", "orphaned-instance"],
        "{e:#}"
    );
    let f = &e["findings"][1];
    assert_eq!(f["evidence"]["orphans"], serde_json::json!([d.pid]));
    assert_eq!(f["evidence"]["found_by"], "expectation");
}

/// An entry's `started_after` flags a daemon that started earlier.
#[test]
fn manifest_started_after() {
    let dir = tempfile::tempdir().unwrap();
    let d = named_sleep(dir.path(), "mdeployd");
    let pf = dir.path().join("mdeployd.pid");
    write_pid(&pf, d.pid);
    let (code, doc) = audit_manifest(&manifest(
        dir.path(),
        &service("dep", &pf, "started_after = 2999-01-01T00:00:00Z"),
    ));
    assert_eq!(code, 1);
    assert_eq!(codes(pidfile(&doc, &pf)), vec!["started-before-deploy"]);
    let (code, _) = audit_manifest(&manifest(
        dir.path(),
        &service("dep", &pf, "started_after = \"2000-01-01T00:00:00Z\""),
    ));
    assert_eq!(code, 0);
}

/// A broken manifest stops the run before any work with exit 2 and a message naming the file, line,
/// column and the offending key or value.
#[test]
fn broken_manifests() {
    let dir = tempfile::tempdir().unwrap();
    let head = "[[service]]\nname = \"a\"\npidfile = \"/run/a.pid\"\n";
    let cases = [
        (
            "pidfil = \"/run/b.pid\"\n",
            "4:1: unknown field `pidfil`, expected one of `name`, `pidfile`, `exe`, `cmdline`, `user`, `instances`, `lock`, `started_after`",
        ),
        (
            "cmdline = \"nginx: (master\"\n",
            "4:11: `cmdline` is not a valid regex: unclosed group",
        ),
        (
            "lock = \"maybe\"\n",
            "4:8: `lock` must be \"required\" or \"optional\", not \"maybe\"",
        ),
        (
            "instances = -1\n",
            "4:13: `instances` must be at least 1, not -1",
        ),
    ];
    for (tail, want) in cases {
        let m = manifest(dir.path(), &format!("{head}{tail}"));
        let r = run(&["--expect", &m]);
        assert_eq!(r.code, 2, "{tail}");
        assert_eq!(r.stderr.trim(), format!("pidaudit: error: {m}:{want}"));
        assert!(r.stdout.is_empty(), "no work was done: {}", r.stdout);
    }
    let r = run(&["--expect", "/nonexistent/expect.toml"]);
    assert_eq!(r.code, 2);
    assert!(
        r.stderr
            .starts_with("pidaudit: error: --expect /nonexistent/expect.toml: No such file"),
        "{}",
        r.stderr
    );
}

/// `lock = "required"` raises `unlocked` to an error for a daemon that does not lock its pidfile; a
/// daemon holding an flock on it passes; `lock = "optional"` leaves `unlocked` as info.
#[test]
fn required_lock() {
    let dir = tempfile::tempdir().unwrap();
    let free = dir.path().join("freelockd.pid");
    let _free = Testd::new(&free).name("freelockd").start();
    let held = dir.path().join("heldlockd.pid");
    let _held = Testd::new(&held)
        .lock(Lock::Flock)
        .name("heldlockd")
        .start();
    let m = manifest(
        dir.path(),
        &format!(
            "{}{}",
            service("free", &free, "lock = \"required\""),
            service("held", &held, "lock = \"required\"")
        ),
    );
    let (code, doc) = audit(&["--expect", &m]);
    assert_eq!(code, 1);
    let e = pidfile(&doc, &free);
    assert_eq!(codes(e), vec!["unlocked"], "{e:#}");
    assert_eq!(e["findings"][0]["severity"], "error");
    assert_eq!(e["findings"][0]["evidence"]["lock"], "required");
    assert!(codes(pidfile(&doc, &held)).is_empty());

    let m = manifest(dir.path(), &service("free", &free, "lock = \"optional\""));
    let (code, doc) = audit(&["--expect", &m]);
    assert_eq!(code, 0);
    assert_eq!(pidfile(&doc, &free)["findings"][0]["severity"], "info");
}
