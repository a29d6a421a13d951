//! The JSON report against `schema/pidaudit.schema.json`: real output of real runs (and of the fake
//! /proc fixtures) validates; documents that break the contract do not.

mod common;
use common::*;
use serde_json::{json, Value};
use std::path::Path;

fn schema() -> Value {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("schema/pidaudit.schema.json");
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

fn validator() -> jsonschema::Validator {
    let schema = schema();
    jsonschema::meta::validate(&schema).expect("the schema is a valid 2020-12 schema");
    jsonschema::draft202012::options()
        .should_validate_formats(true)
        .build(&schema)
        .unwrap()
}

fn assert_valid(v: &jsonschema::Validator, doc: &Value, what: &str) {
    let errors: Vec<String> = v
        .iter_errors(doc)
        .map(|e| format!("{} at {}", e, e.instance_path()))
        .collect();
    assert!(errors.is_empty(), "{what}: {errors:#?}\n{doc:#}");
}

/// A run over real pidfiles in every state (running, stale, zombie, reused, invalid, not-a-file,
/// missing, and unreadable as nobody) validates, and so does a run over this machine's /run.
#[test]
fn real_output_validates() {
    let v = validator();
    let dir = open_tempdir();
    let bin = tempfile::tempdir().unwrap();
    let p = |n: &str| dir.path().join(n);
    let d = named_sleep(bin.path(), "mydaemon");
    write_pid(&p("mydaemon.pid"), d.pid);
    write_pid(&p("aged.pid"), d.pid);
    age(&p("aged.pid"), 600);
    write_pid(&p("stale.pid"), dead_pid());
    let (_parent, zpid) = zombie();
    write_pid(&p("zombie.pid"), zpid);
    write_pidfile(&p("bad.pid"), "12 34\n");
    write_pidfile(&p("empty.pid"), "");
    write_pidfile(&p("zero.pid"), "0\n");
    write_pidfile(&p("init.pid"), "1\n");
    std::os::unix::fs::symlink("/etc/passwd", p("link.pid")).unwrap();
    mkfifo(&p("fifo.pid"));
    write_pidfile(&p("secret.pid"), "1\n");
    chmod(&p("secret.pid"), 0o000);
    let missing = p("missing.pid");
    let root = dir.path().to_str().unwrap();

    let doc = audit_json(&[root, missing.to_str().unwrap()]);
    let states: std::collections::BTreeSet<&str> = doc["pidfiles"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["state"].as_str().unwrap())
        .collect();
    for s in [
        "running",
        "stale",
        "zombie",
        "reused",
        "invalid",
        "not-a-file",
        "missing",
    ] {
        assert!(states.contains(s), "no {s} entry: {doc:#}");
    }
    assert_valid(&v, &doc, "real run");

    let r = run_as_nobody(&["--format", "json", root]);
    let doc = r.json();
    assert_eq!(pidfile(&doc, &p("secret.pid"))["state"], "unreadable");
    assert_valid(&v, &doc, "unprivileged run");

    assert_valid(&v, &audit_json(&[]), "default roots");
    assert_valid(
        &v,
        &audit_json(&["--proc-root", "/nonexistent", root]),
        "no /proc",
    );
}

/// Runs over every fake /proc fixture validate.
#[test]
fn fixture_output_validates() {
    let v = validator();
    let fixtures = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/proc");
    let mut n = 0;
    for scenario in std::fs::read_dir(&fixtures).unwrap() {
        let scenario = scenario.unwrap().path();
        let pidfiles = scenario.join("pidfiles");
        let doc = audit_json(&[
            "--proc-root",
            scenario.to_str().unwrap(),
            pidfiles.to_str().unwrap(),
        ]);
        assert!(!doc["pidfiles"].as_array().unwrap().is_empty());
        assert_valid(&v, &doc, &scenario.display().to_string());
        n += 1;
    }
    assert!(n >= 2);
}

/// The schema is strict where it must be: wrong states, severities and codes, missing keys and
/// unknown top-level keys are rejected, while new properties on pidfile entries are allowed.
#[test]
fn schema_rejects_broken_documents() {
    let v = validator();
    let dir = tempfile::tempdir().unwrap();
    let pf = dir.path().join("x.pid");
    write_pid(&pf, dead_pid());
    let good = audit_json(&[pf.to_str().unwrap()]);
    assert_valid(&v, &good, "baseline");

    let mut extended = good.clone();
    extended["pidfiles"][0]["lock"] = json!({"held": false});
    assert_valid(&v, &extended, "an entry with a new property");

    type Mutation = Box<dyn Fn(&mut Value)>;
    let mutations: Vec<(&str, Mutation)> = vec![
        (
            "unknown state",
            Box::new(|d| d["pidfiles"][0]["state"] = json!("bogus")),
        ),
        (
            "entry without pid",
            Box::new(|d| {
                d["pidfiles"][0].as_object_mut().unwrap().remove("pid");
            }),
        ),
        (
            "code not kebab-case",
            Box::new(|d| d["findings"][0]["code"] = json!("Not_Kebab")),
        ),
        (
            "unknown severity",
            Box::new(|d| d["pidfiles"][0]["findings"][0]["severity"] = json!("fatal")),
        ),
        (
            "finding without evidence",
            Box::new(|d| {
                d["findings"][0].as_object_mut().unwrap().remove("evidence");
            }),
        ),
        ("unknown top-level key", Box::new(|d| d["extra"] = json!(1))),
        (
            "schema_version 2",
            Box::new(|d| d["schema_version"] = json!(2)),
        ),
        ("pid 0", Box::new(|d| d["pidfiles"][0]["pid"] = json!(0))),
        (
            "bad timestamp",
            Box::new(|d| d["generated_at"] = json!("yesterday")),
        ),
        (
            "by_state missing a state",
            Box::new(|d| {
                d["summary"]["by_state"]
                    .as_object_mut()
                    .unwrap()
                    .remove("zombie");
            }),
        ),
    ];
    for (what, mutate) in mutations {
        let mut doc = good.clone();
        mutate(&mut doc);
        assert!(!v.is_valid(&doc), "{what} was accepted");
    }
}

/// `pidaudit fix --format json`, a plan and an apply over pidfiles that are removed and refused
/// for every kind of reason the test can make, validates against `schema/pidaudit-fix.schema.json`;
/// a document that breaks it does not.
#[test]
fn fix_output_validates() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("schema/pidaudit-fix.schema.json");
    let schema: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    jsonschema::meta::validate(&schema).expect("the schema is a valid 2020-12 schema");
    let v = jsonschema::draft202012::options()
        .should_validate_formats(true)
        .build(&schema)
        .unwrap();
    let dir = open_tempdir();
    let journal = tempfile::tempdir().unwrap();
    let p = |n: &str| dir.path().join(n);
    write_pid(&p("stale.pid"), dead_pid());
    write_pidfile(&p("secret.pid"), "");
    chmod(&p("secret.pid"), 0o600);
    age(&p("secret.pid"), 60);
    write_pid(&p("ww.pid"), dead_pid());
    chmod(&p("ww.pid"), 0o666);
    let (_parent, zpid) = zombie();
    write_pid(&p("zombie.pid"), zpid);
    write_pidfile(&p("init.pid"), "1\n");
    mkfifo(&p("fifo.pid"));
    let (name, locked) = unique_pidfile(dir.path(), "schd");
    let _d = Testd::new(&locked)
        .name(&name)
        .write_pid(dead_pid())
        .lock(Lock::Flock)
        .start();
    // A copy of a daemon found by its command line: an unsafe retrack (not run without --unsafe).
    let (name2, orphan) = unique_pidfile(dir.path(), "schd");
    let _o = Testd::new(&orphan).name(&name2).start();
    write_pid(&orphan, dead_pid());
    let root = dir.path().to_str().unwrap();
    let plan = run(&["fix", "--format", "json", root]).json();
    assert_valid(&v, &plan, "plan");
    let kinds: Vec<&str> = plan["actions"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|a| a["kind"].as_str())
        .collect();
    assert!(kinds.contains(&"retrack"), "{plan:#}");
    assert_eq!(plan["mode"], "plan");
    let journal_dir = journal.path().to_str().unwrap();
    let apply = |extra: &[&str]| {
        let mut args = vec!["fix", "--apply", "--yes", "--format", "json"];
        args.extend_from_slice(extra);
        args.extend_from_slice(&["--journal", journal_dir, root]);
        run(&args).json()
    };
    let applied = apply(&[]);
    assert_valid(&v, &applied, "apply");
    // stale, init and the empty file removed; the locked file retracked; the unsafe retrack and
    // the world-writable file's permissions fix not run.
    assert_eq!(applied["summary"]["done"], 4, "{applied:#}");
    assert_eq!(applied["summary"]["not_run"], 2, "{applied:#}");
    let unsafe_run = apply(&["--unsafe"]);
    assert_valid(&v, &unsafe_run, "apply --unsafe");
    assert_eq!(unsafe_run["summary"]["done"], 2, "{unsafe_run:#}");
    let mut broken = applied.clone();
    broken["actions"][0]["class"] = json!("maybe");
    assert!(!v.is_valid(&broken));
}
