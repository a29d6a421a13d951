//! `--format junit` against real pidfiles: well-formed XML (xmllint and Python's parser), one test
//! case per pidfile, failures carrying the findings, hostile paths escaped.

mod common;
use common::*;
use std::process::Command;

/// Checks well-formedness with xmllint, then returns the document as JSON via Python's parser:
/// {attrs of testsuite, cases: [{name, classname, failure: {type, message, text}?, skipped?, out?}]}.
fn parse_junit(xml: &str) -> serde_json::Value {
    let lint = run_input(
        Command::new("xmllint").args(["--noout", "-"]),
        xml.as_bytes(),
    );
    assert_eq!(
        lint.code, 0,
        "xmllint (libxml2-utils) rejects the document: {}\n{xml}",
        lint.stderr
    );
    let script = r#"
import json, sys, xml.etree.ElementTree as ET
root = ET.fromstring(sys.stdin.buffer.read())
assert root.tag == "testsuites", root.tag
suites = root.findall("testsuite")
assert len(suites) == 1, len(suites)
s = suites[0]
cases = []
for c in s.findall("testcase"):
    d = {"name": c.get("name"), "classname": c.get("classname")}
    f = c.find("failure")
    if f is not None:
        d["failure"] = {"type": f.get("type"), "message": f.get("message"), "text": f.text}
    k = c.find("skipped")
    if k is not None:
        d["skipped"] = k.get("message")
    o = c.find("system-out")
    if o is not None:
        d["out"] = o.text
    cases.append(d)
print(json.dumps({"suite": dict(s.attrib), "root": dict(root.attrib), "cases": cases}))
"#;
    let py = run_input(Command::new("python3").args(["-c", script]), xml.as_bytes());
    assert_eq!(py.code, 0, "{}", py.stderr);
    serde_json::from_str(&py.stdout).unwrap()
}

fn case<'a>(doc: &'a serde_json::Value, name: &str) -> &'a serde_json::Value {
    doc["cases"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == name)
        .unwrap_or_else(|| panic!("no case {name:?} in {doc:#}"))
}

/// Running, stale and zombie pidfiles become three cases: the zombie (error) fails with its finding,
/// the stale file (a warning, below the default --fail-on) passes with the finding in system-out,
/// and the counts agree with the exit status.
#[test]
fn one_case_per_pidfile() {
    let dir = tempfile::tempdir().unwrap();
    let d = named_sleep(dir.path(), "junitokd");
    write_pid(&dir.path().join("junitokd.pid"), d.pid);
    let (gone, gone_pf) = unique_pidfile(dir.path(), "gone");
    write_pid(&gone_pf, dead_pid());
    let (_parent, zpid) = zombie();
    let (zombied, zombie_pf) = unique_pidfile(dir.path(), "zombid");
    write_pid(&zombie_pf, zpid);
    let r = run(&["--format", "junit", dir.path().to_str().unwrap()]);
    assert_eq!(r.code, 1);
    let doc = parse_junit(&r.stdout);
    assert_eq!(doc["suite"]["tests"], "3");
    assert_eq!(doc["suite"]["failures"], "1");
    assert_eq!(doc["suite"]["skipped"], "0");
    assert_eq!(doc["root"]["failures"], "1");
    let p = |n: &str| dir.path().join(n).display().to_string();
    let z = case(&doc, &p(&format!("{zombied}.pid")));
    assert_eq!(z["classname"], "pidaudit.pidfile");
    assert_eq!(z["failure"]["type"], "zombie");
    assert!(z["failure"]["text"]
        .as_str()
        .unwrap()
        .contains("parent_pid"));
    let s = case(&doc, &p(&format!("{gone}.pid")));
    assert!(s.get("failure").is_none());
    assert!(s["out"].as_str().unwrap().contains("warning[stale]"));
    let ok = case(&doc, &p("junitokd.pid"));
    assert!(ok.get("failure").is_none() && ok.get("skipped").is_none());
    // Findings below the threshold (this daemon does not lock its pidfile) go to system-out.
    let out = ok["out"].as_str().unwrap();
    assert!(
        out.starts_with(&format!("state: running, PID {} (junitokd)\n", d.pid)),
        "{out}"
    );
    assert!(out.contains("info[unlocked]"), "{out}");
    // With --fail-on warning the stale file fails too.
    let r = run(&[
        "--format",
        "junit",
        "--fail-on",
        "warning",
        dir.path().to_str().unwrap(),
    ]);
    let doc = parse_junit(&r.stdout);
    assert_eq!(doc["suite"]["failures"], "2");
    assert_eq!(
        case(&doc, &p(&format!("{gone}.pid")))["failure"]["type"],
        "stale"
    );
}

/// An unreadable pidfile (run unprivileged) is skipped: nothing could be determined.
#[test]
fn unknown_is_skipped() {
    let dir = open_tempdir();
    let pf = dir.path().join("secret.pid");
    write_pid(&pf, 1234);
    chmod(&pf, 0o600);
    let r = run_as_nobody(&["--format", "junit", pf.to_str().unwrap()]);
    assert_eq!(r.code, 0);
    let doc = parse_junit(&r.stdout);
    assert_eq!(doc["suite"]["skipped"], "1");
    let c = case(&doc, &pf.display().to_string());
    assert!(c["skipped"]
        .as_str()
        .unwrap()
        .starts_with("could not be determined"));
}

/// A path with markup, quotes, a newline and a control character invalid in XML 1.0 still gives
/// a well-formed document whose test case name is the path (the line feed and control characters
/// made visible, as in every report).
#[test]
fn hostile_path_is_escaped() {
    let dir = tempfile::tempdir().unwrap();
    let name = "<a href=\"x\">&'\n\u{1}\u{1b}.pid";
    let pf = dir.path().join(name);
    write_pidfile(&pf, "abc\u{0}\u{7}\n");
    let r = run(&["--format", "junit", dir.path().to_str().unwrap()]);
    assert_eq!(r.code, 1);
    let doc = parse_junit(&r.stdout);
    let expected = format!(
        "{}/<a href=\"x\">&'\\x0a\\x01\\x1b.pid",
        dir.path().display()
    );
    let c = case(&doc, &expected);
    assert_eq!(c["failure"]["type"], "malformed");
}
