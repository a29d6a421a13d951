//! Discovery against real directory trees: root dedupe, `--exclude`, `--max-depth`, symlinked
//! directories, unreadable directories.

mod common;
use common::*;
use std::path::Path;

fn paths(doc: &serde_json::Value) -> Vec<String> {
    doc["pidfiles"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["path"].as_str().unwrap().to_string())
        .collect()
}

fn rel(base: &Path, names: &[&str]) -> Vec<String> {
    names
        .iter()
        .map(|n| base.join(n).display().to_string())
        .collect()
}

/// Two roots where one is a symlink to the other (`/var/run -> /run`) are walked once: one root, each
/// pidfile reported once.
#[test]
fn symlinked_root_is_deduplicated() {
    let t = tempfile::tempdir().unwrap();
    let run_dir = t.path().join("run");
    std::fs::create_dir_all(run_dir.join("sub")).unwrap();
    std::fs::create_dir(t.path().join("var")).unwrap();
    std::os::unix::fs::symlink("../run", t.path().join("var/run")).unwrap();
    write_pidfile(&run_dir.join("a.pid"), "1\n");
    write_pidfile(&run_dir.join("sub/b.pid"), "1\n");
    let var_run = t.path().join("var/run");
    let doc = audit_json(&[run_dir.to_str().unwrap(), var_run.to_str().unwrap()]);
    assert_eq!(doc["roots"], serde_json::json!([run_dir.to_str().unwrap()]));
    assert_eq!(paths(&doc), rel(&run_dir, &["a.pid", "sub/b.pid"]));
    assert_eq!(doc["summary"]["pidfiles"], 2);
}

/// `--exclude` skips files by name and whole directories by path; without it they are audited.
#[test]
fn exclude_skips_files_and_directories() {
    let t = tempfile::tempdir().unwrap();
    let root = t.path();
    std::fs::create_dir_all(root.join("skipme/deeper")).unwrap();
    std::fs::create_dir_all(root.join("keep")).unwrap();
    for f in [
        "a.pid",
        "b.pid",
        "skipme/c.pid",
        "skipme/deeper/d.pid",
        "keep/e.pid",
    ] {
        write_pidfile(&root.join(f), "1\n");
    }
    let r = root.to_str().unwrap();
    assert_eq!(
        paths(&audit_json(&[r])),
        rel(
            root,
            &[
                "a.pid",
                "b.pid",
                "keep/e.pid",
                "skipme/c.pid",
                "skipme/deeper/d.pid"
            ]
        )
    );
    assert_eq!(
        paths(&audit_json(&[
            "--exclude",
            "b.pid",
            "--exclude",
            "*/skipme",
            r
        ])),
        rel(root, &["a.pid", "keep/e.pid"])
    );
    assert_eq!(
        paths(&audit_json(&["--exclude", "[ab].pid", r])),
        rel(root, &["keep/e.pid", "skipme/c.pid", "skipme/deeper/d.pid"])
    );
}

/// `--max-depth N` finds pidfiles at most N path components below the root (like `find -maxdepth`).
#[test]
fn max_depth_limits_the_walk() {
    let t = tempfile::tempdir().unwrap();
    let root = t.path();
    std::fs::create_dir_all(root.join("d1/d2/d3/d4")).unwrap();
    for f in [
        "a.pid",
        "d1/b.pid",
        "d1/d2/c.pid",
        "d1/d2/d3/d.pid",
        "d1/d2/d3/d4/e.pid",
    ] {
        write_pidfile(&root.join(f), "1\n");
    }
    let r = root.to_str().unwrap();
    let all = [
        "a.pid",
        "d1/b.pid",
        "d1/d2/c.pid",
        "d1/d2/d3/d.pid",
        "d1/d2/d3/d4/e.pid",
    ];
    for depth in 1..=5 {
        let doc = audit_json(&["--max-depth", &depth.to_string(), r]);
        assert_eq!(paths(&doc), rel(root, &all[..depth]), "--max-depth {depth}");
    }
    // The default is 4.
    assert_eq!(paths(&audit_json(&[r])), rel(root, &all[..4]));
}

/// A symlink to a directory inside the tree is not followed: the pidfiles behind it are not
/// audited through it.
#[test]
fn symlinked_directory_is_not_followed() {
    let t = tempfile::tempdir().unwrap();
    let outside = t.path().join("outside");
    let root = t.path().join("root");
    std::fs::create_dir_all(&outside).unwrap();
    std::fs::create_dir_all(&root).unwrap();
    write_pidfile(&outside.join("secret.pid"), "1\n");
    write_pidfile(&root.join("a.pid"), "1\n");
    std::os::unix::fs::symlink(&outside, root.join("link")).unwrap();
    let doc = audit_json(&[root.to_str().unwrap()]);
    assert_eq!(paths(&doc), rel(&root, &["a.pid"]));
    assert!(doc["findings"]
        .as_array()
        .unwrap()
        .iter()
        .all(|f| f["code"] != "unreadable"));
}

/// An unreadable directory met by an unprivileged user is reported as `unreadable` (with EACCES) and
/// the walk goes on to its siblings.
#[test]
fn unreadable_directory_is_reported_and_walk_goes_on() {
    let t = open_tempdir();
    let root = t.path();
    for d in ["a", "locked", "z"] {
        std::fs::create_dir(root.join(d)).unwrap();
        chmod(&root.join(d), 0o755);
        write_pid(&root.join(d).join("x.pid"), dead_pid());
    }
    chmod(&root.join("locked"), 0o700);
    let r = run_as_nobody(&["--format", "json", root.to_str().unwrap()]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let doc = r.json();
    assert_eq!(paths(&doc), rel(root, &["a/x.pid", "z/x.pid"]));
    let unreadable = findings_with(&doc, "unreadable");
    assert_eq!(unreadable.len(), 1, "{doc:#}");
    assert_eq!(
        unreadable[0]["subject"],
        root.join("locked").to_str().unwrap()
    );
    assert_eq!(unreadable[0]["severity"], "unknown");
    assert_eq!(unreadable[0]["evidence"]["errno"], 13);
    // Root reads it.
    assert_eq!(
        paths(&audit_json(&[root.to_str().unwrap()])),
        rel(root, &["a/x.pid", "locked/x.pid", "z/x.pid"])
    );
}

/// Only `*.pid`, runit's `supervise/pid` and explicitly named files are audited in a walk.
#[test]
fn pidfile_names() {
    let t = tempfile::tempdir().unwrap();
    let root = t.path();
    std::fs::create_dir_all(root.join("svc/supervise")).unwrap();
    std::fs::create_dir_all(root.join("pg")).unwrap();
    for f in [
        "a.pid",
        "a.pid.bak",
        ".pid",
        "notes.txt",
        "svc/supervise/pid",
        "pg/postmaster.pid",
        "pid",
    ] {
        write_pidfile(&root.join(f), "1\n");
    }
    let r = root.to_str().unwrap();
    assert_eq!(
        paths(&audit_json(&[r])),
        rel(root, &["a.pid", "pg/postmaster.pid", "svc/supervise/pid"])
    );
    let notes = root.join("notes.txt");
    assert_eq!(
        paths(&audit_json(&[notes.to_str().unwrap()])),
        rel(root, &["notes.txt"])
    );
}
