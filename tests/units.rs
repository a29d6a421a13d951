//! systemd units without a running systemd: unit files in a private directory
//! (`PIDAUDIT_UNIT_PATH`), real processes moved into real cgroup v2 groups named after units.

mod common;

use common::*;
use std::path::{Path, PathBuf};

/// The cgroup v2 mount, when this machine has one we may create groups in.
fn cgroup2() -> Option<PathBuf> {
    let root = ["/sys/fs/cgroup", "/sys/fs/cgroup/unified"]
        .iter()
        .map(PathBuf::from)
        .find(|p| p.join("cgroup.controllers").exists())?;
    let probe = root.join(format!("{}.service", unique_name("cgprb")));
    std::fs::create_dir(&probe).ok()?;
    std::fs::remove_dir(&probe).ok()?;
    Some(root)
}

/// A cgroup named after a unit, removed (once empty) when dropped.
struct Group(PathBuf);

impl Group {
    fn new(root: &Path, unit: &str) -> Group {
        let p = root.join(unit);
        std::fs::create_dir(&p).unwrap();
        Group(p)
    }

    fn add(&self, pid: u32) {
        std::fs::write(self.0.join("cgroup.procs"), pid.to_string()).unwrap();
    }
}

impl Drop for Group {
    fn drop(&mut self) {
        for _ in 0..500 {
            if std::fs::remove_dir(&self.0).is_ok() {
                return;
            }
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
    }
}

fn audit_units(units: &Path, paths: &[&Path]) -> (i32, serde_json::Value) {
    let mut cmd = pidaudit();
    cmd.env("PIDAUDIT_UNIT_PATH", units)
        .args(["--format", "json", "--ignore", "unlocked"])
        .args(paths);
    audit_cmd(&mut cmd)
}

fn write_unit(dir: &Path, unit: &str, body: &str) {
    std::fs::write(dir.join(unit), body).unwrap();
}

/// A unit file's `PIDFile=` (with a drop-in overriding it) attaches the unit to the pidfile; its
/// process in the unit's cgroup is fine; the same file naming a process in another unit's cgroup
/// is `outside-unit`, and the unit's own process still running makes it `unit-pidfile-mismatch`
/// (and a `duplicate-instance`) too; a stale file while the unit's process runs is `unit-pidfile-mismatch` alone.
#[test]
fn unit_pidfile_against_the_unit_cgroup() {
    let Some(root) = cgroup2() else {
        eprintln!("no writable cgroup v2 mount: the cgroup comparison is not tested here");
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let units = dir.path().join("units");
    std::fs::create_dir(&units).unwrap();
    let (name, pf) = unique_pidfile(dir.path(), "unitd");
    let unit = format!("{name}.service");
    let other_unit = format!("{}.service", unique_name("unito"));
    write_unit(
        &units,
        &unit,
        "[Unit]\nDescription=x\n[Service]\nType=forking\nPIDFile=/nonexistent/x.pid\nExecStart=/bin/true\n",
    );
    let dropin = units.join(format!("{unit}.d"));
    std::fs::create_dir(&dropin).unwrap();
    std::fs::write(
        dropin.join("pidfile.conf"),
        format!("[Service]\nPIDFile={}\n", pf.display()),
    )
    .unwrap();
    let group = Group::new(&root, &unit);
    let other_group = Group::new(&root, &other_unit);
    let daemon = named_sleep(dir.path(), &name);
    group.add(daemon.pid);
    write_pid(&pf, daemon.pid);
    let (code, doc) = audit_units(&units, &[&pf]);
    let e = pidfile(&doc, &pf);
    assert_eq!(e["unit"], unit.as_str(), "{e:#}");
    assert_eq!(code, 0, "{e:#}");
    assert!(codes(e).is_empty(), "{e:#}");

    // The file names a process in another unit's cgroup.
    let stray = named_sleep(dir.path(), &name);
    other_group.add(stray.pid);
    write_pid(&pf, stray.pid);
    let (code, doc) = audit_units(&units, &[&pf]);
    let e = pidfile(&doc, &pf);
    assert_eq!(code, 1);
    let mut got = codes(e);
    got.sort();
    // The unit's own process is another copy of the same daemon: a duplicate too.
    assert_eq!(
        got,
        [
            "duplicate-instance",
            "outside-unit",
            "unit-pidfile-mismatch"
        ],
        "{e:#}"
    );
    let f = finding(e, "outside-unit");
    assert_eq!(f["evidence"]["process_unit"], other_unit.as_str());
    let f = finding(e, "unit-pidfile-mismatch");
    assert_eq!(f["evidence"]["unit_pids"], serde_json::json!([daemon.pid]));

    // A stale file while the unit's process runs.
    let dead = dead_pid();
    write_pid(&pf, dead);
    let (_, doc) = audit_units(&units, &[&pf]);
    let e = pidfile(&doc, &pf);
    assert_eq!(e["state"], "stale");
    // The unit's process is the daemon the stale file lost: an orphaned instance too.
    assert_eq!(
        codes(e),
        ["stale", "unit-pidfile-mismatch", "orphaned-instance"],
        "{e:#}"
    );
    drop(stray);
    drop(daemon);
    drop(other_group);
    drop(group);
}

/// A masked unit (a link to /dev/null) and template units name no pidfile; a unit without
/// `PIDFile=` attaches nothing; without systemd, a process in no unit's cgroup is not
/// `outside-unit`.
#[test]
fn masked_template_and_plain_units() {
    let dir = tempfile::tempdir().unwrap();
    let high = dir.path().join("etc");
    let low = dir.path().join("lib");
    std::fs::create_dir(&high).unwrap();
    std::fs::create_dir(&low).unwrap();
    let (name, pf) = unique_pidfile(dir.path(), "unitm");
    let body = format!("[Service]\nPIDFile={}\n", pf.display());
    write_unit(&low, &format!("{name}.service"), &body);
    write_unit(&low, &format!("{name}@.service"), &body);
    std::os::unix::fs::symlink("/dev/null", high.join(format!("{name}.service"))).unwrap();
    let daemon = named_sleep(dir.path(), &name);
    write_pid(&pf, daemon.pid);
    let path = std::env::join_paths([&high, &low]).unwrap();
    let run = run_cmd(
        pidaudit()
            .env("PIDAUDIT_UNIT_PATH", &path)
            .args(["--format", "json", "--ignore", "unlocked"])
            .arg(&pf),
    );
    let doc = run.json();
    assert_eq!(pidfile(&doc, &pf).get("unit"), None, "{doc:#}");
    // Unmasked: the lower unit applies.
    std::fs::remove_file(high.join(format!("{name}.service"))).unwrap();
    let (code, doc) = audit_units(Path::new(&path), &[&pf]);
    let e = pidfile(&doc, &pf);
    assert_eq!(e["unit"], format!("{name}.service"));
    assert_eq!(code, 0, "{e:#}");
    assert!(codes(e).is_empty(), "{e:#}");
}
