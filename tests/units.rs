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

/// A cgroup at a path below the mount (`a.slice/a-b.slice/x.service`), its missing parents
/// created; the groups it created are removed (once empty) when dropped.
struct Group(Vec<PathBuf>);

impl Group {
    fn new(root: &Path, rel: &str) -> Group {
        let mut made = Vec::new();
        let mut p = root.to_path_buf();
        for c in rel.split('/') {
            p.push(c);
            match std::fs::create_dir(&p) {
                Ok(()) => made.push(p.clone()),
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
                Err(e) => panic!("mkdir {}: {e}", p.display()),
            }
        }
        assert_eq!(made.last(), Some(&p), "{} already exists", p.display());
        Group(made)
    }

    fn add(&self, pid: u32) {
        let leaf = self.0.last().unwrap();
        std::fs::write(leaf.join("cgroup.procs"), pid.to_string()).unwrap();
    }
}

impl Drop for Group {
    fn drop(&mut self) {
        for p in self.0.iter().rev() {
            for _ in 0..500 {
                // A shared parent (system.slice) another test still uses stays.
                match std::fs::remove_dir(p) {
                    Ok(()) => break,
                    Err(e) if e.raw_os_error() == Some(16) && p != self.0.last().unwrap() => break,
                    Err(_) => std::thread::sleep(std::time::Duration::from_millis(10)),
                }
            }
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

fn link(target: &str, at: &Path) {
    std::os::unix::fs::symlink(target, at).unwrap();
}

/// `dir/units` with a `multi-user.target.wants/`, and `dir/side` (for pidfiles or a stub).
fn unit_tree(dir: &Path, side: &str) -> (PathBuf, PathBuf) {
    let units = dir.join("units");
    std::fs::create_dir_all(units.join("multi-user.target.wants")).unwrap();
    let side = dir.join(side);
    std::fs::create_dir_all(&side).unwrap();
    (units, side)
}

/// Enables the instance `TEMPLATE@INSTANCE.service` as `systemctl enable` does: a link in
/// `multi-user.target.wants/` to the template.
fn want(units: &Path, template: &str, instance: &str) {
    link(
        &format!("../{template}@.service"),
        &units.join(format!(
            "multi-user.target.wants/{template}@{instance}.service"
        )),
    );
}

/// Template units: instances named by a `*.wants/` link, by an explicit instance file (with its
/// own `Slice=`), and by a running instance's cgroup (`system.slice/system-PREFIX.slice/...`)
/// are audited at their resolved `PIDFile=` (`%I`, `%p`, `%i`) and against their own cgroups; a
/// template nobody instantiates audits nothing, and a masked instance is not audited.
#[test]
fn template_instances() {
    let Some(root) = cgroup2() else {
        eprintln!("no writable cgroup v2 mount: template instances are not tested here");
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let (units, run) = unit_tree(dir.path(), "run");
    let t = unique_name("tmpl");
    let slice = unique_name("slc").replace('-', "");
    write_unit(
        &units,
        &format!("{t}@.service"),
        &format!(
            "[Service]\nType=forking\nPIDFile={}/%I.pid\n",
            run.display()
        ),
    );
    // Enabled: a wants link to the template; `one\x2dx` unescapes to `one-x`.
    want(&units, &t, "one\\x2dx");
    // An explicit instance file, in its own slice.
    write_unit(
        &units,
        &format!("{t}@two.service"),
        &format!(
            "[Service]\nSlice={slice}-sub.slice\nPIDFile={}/%p-%i.pid\n",
            run.display()
        ),
    );
    // A masked instance.
    link("/dev/null", &units.join(format!("{t}@four.service")));
    want(&units, &t, "four");
    let one = format!("{t}@one\\x2dx.service");
    let two = format!("{t}@two.service");
    let three = format!("{t}@three.service");
    // systemd escapes the prefix in the slice's name: `tmpl-x` is in `system-tmpl\x2dx.slice`.
    let t_slice = format!("system.slice/system-{}.slice", t.replace('-', "\\x2d"));
    let g_one = Group::new(&root, &format!("{t_slice}/{one}"));
    let g_two = Group::new(&root, &format!("{slice}.slice/{slice}-sub.slice/{two}"));
    let g_three = Group::new(&root, &format!("{t_slice}/{three}"));
    let d_one = named_sleep(dir.path(), "one-x");
    g_one.add(d_one.pid);
    let d_two = named_sleep(dir.path(), "otherd");
    g_two.add(d_two.pid);
    let d_three = named_sleep(dir.path(), "thirdd");
    g_three.add(d_three.pid);
    let pf_one = run.join("one-x.pid");
    let pf_two = run.join(format!("{t}-two.pid"));
    let pf_three = run.join("three.pid");
    let pf_four = run.join("four.pid");
    write_pid(&pf_one, d_one.pid);
    // two's file names one's process: outside its unit, and two's own process is not named.
    write_pid(&pf_two, d_one.pid);
    write_pid(&pf_three, dead_pid());
    write_pid(&pf_four, d_one.pid);
    let (_, doc) = audit_units(&units, &[&run]);
    let e = pidfile(&doc, &pf_one);
    assert_eq!(e["unit"], one.as_str(), "{e:#}");
    assert!(codes(e).is_empty(), "{e:#}");
    let e = pidfile(&doc, &pf_two);
    assert_eq!(e["unit"], two.as_str(), "{e:#}");
    let got = codes(e);
    assert!(got.contains(&"outside-unit".to_string()), "{e:#}");
    assert_eq!(
        finding(e, "outside-unit")["evidence"]["process_unit"],
        one.as_str()
    );
    assert_eq!(
        finding(e, "unit-pidfile-mismatch")["evidence"]["unit_pids"],
        serde_json::json!([d_two.pid])
    );
    let e = pidfile(&doc, &pf_three);
    assert_eq!(e["unit"], three.as_str(), "{e:#}");
    assert_eq!(e["state"], "stale");
    assert_eq!(
        finding(e, "unit-pidfile-mismatch")["evidence"]["unit_pids"],
        serde_json::json!([d_three.pid])
    );
    // Masked: no unit.
    assert_eq!(pidfile(&doc, &pf_four).get("unit"), None, "{doc:#}");
    drop((d_one, d_two, d_three));
    drop((g_one, g_two, g_three));
    // Without the cgroup, `three` is no longer known to exist.
    let (_, doc) = audit_units(&units, &[&run]);
    assert_eq!(pidfile(&doc, &pf_three).get("unit"), None, "{doc:#}");
    assert_eq!(pidfile(&doc, &pf_one)["unit"], one.as_str());
}

/// A stub `systemctl` that logs its arguments and environment and prints `answer`.
fn stub_systemctl(dir: &Path, answer: &str) -> PathBuf {
    use std::os::unix::fs::PermissionsExt;
    std::fs::write(dir.join("answer"), answer).unwrap();
    let p = dir.join("systemctl");
    std::fs::write(
        &p,
        format!(
            "#!/bin/sh\nprintf '%s\\n' \"$*\" >> {d}/args\n/usr/bin/env > {d}/env\nexec /bin/cat {d}/answer\n",
            d = dir.display()
        ),
    )
    .unwrap();
    std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755)).unwrap();
    p
}

/// Where systemd runs (`PIDAUDIT_SYSTEMCTL` names a stub printing what `systemctl show` prints):
/// one call for every unit, with an empty environment; its `ControlGroup` is used instead of the
/// guessed cgroup, its `MainPID` compared with the file (`unit-mainpid-mismatch`), and the
/// `PIDFile` it resolved is audited for a unit whose specifier the files cannot resolve; an
/// instance only systemd knows (loaded, asked for by a `PREFIX@*.service` pattern) is audited.
#[test]
fn systemctl_show_main_pid_and_cgroup() {
    let Some(root) = cgroup2() else {
        eprintln!("no writable cgroup v2 mount: systemctl show is not tested here");
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let (units, stub) = unit_tree(dir.path(), "stub");
    let (name, pf) = unique_pidfile(dir.path(), "showd");
    let unit = format!("{name}.service");
    write_unit(
        &units,
        &unit,
        &format!("[Service]\nPIDFile={}\n", pf.display()),
    );
    // A template whose PIDFile= needs the host name: only systemd can say where it is.
    let t = unique_name("hostd");
    write_unit(
        &units,
        &format!("{t}@.service"),
        "[Service]\nPIDFile=/run/%H/%i.pid\n",
    );
    want(&units, &t, "a");
    let pf_a = dir.path().join(format!("{t}-a.pid"));
    // A template no file instantiates: systemd has loaded its instance `b` (`systemctl start`).
    let lt = unique_name("loadd");
    write_unit(
        &units,
        &format!("{lt}@.service"),
        &format!(
            "[Service]\nPIDFile={}/%i.loaded.pid\n",
            dir.path().display()
        ),
    );
    let pf_b = dir.path().join("b.loaded.pid");
    // A cgroup no guess would find: only ControlGroup= names it.
    let cg = format!("{}.slice/{unit}", unique_name("own"));
    let group = Group::new(&root, &cg);
    let main = named_sleep(dir.path(), &name);
    group.add(main.pid);
    let answer = |main_pid: u32| {
        format!(
            "MainPID={main_pid}\nId={unit}\nControlGroup=/{cg}\nPIDFile={}\n\n\
             Id={t}@a.service\nMainPID=0\nControlGroup=\nPIDFile={}\n\n\
             Id={lt}@b.service\nMainPID=0\nControlGroup=\nPIDFile={}\n",
            pf.display(),
            pf_a.display(),
            pf_b.display()
        )
    };
    let program = stub_systemctl(&stub, &answer(main.pid));
    let audit = |paths: &[&Path]| {
        audit_cmd(
            pidaudit()
                .env("PIDAUDIT_UNIT_PATH", &units)
                .env("PIDAUDIT_SYSTEMCTL", &program)
                .env("PIDAUDIT_ENV_PROBE", "1")
                .args(["--format", "json", "--ignore", "unlocked"])
                .args(paths),
        )
    };
    write_pid(&pf, main.pid);
    write_pid(&pf_a, dead_pid());
    write_pid(&pf_b, dead_pid());
    let (_, doc) = audit(&[&pf, &pf_a, &pf_b]);
    let e = pidfile(&doc, &pf);
    assert_eq!(e["unit"], unit.as_str());
    assert!(codes(e).is_empty(), "{e:#}");
    let e = pidfile(&doc, &pf_a);
    assert_eq!(e["unit"], format!("{t}@a.service"), "{e:#}");
    assert_eq!(e["state"], "stale", "{e:#}");
    assert_eq!(pidfile(&doc, &pf_b)["unit"], format!("{lt}@b.service"));
    // One call for all units, nothing inherited from the environment.
    let args = std::fs::read_to_string(stub.join("args")).unwrap();
    assert_eq!(args.lines().count(), 1, "{args}");
    assert!(
        args.starts_with("show --property=Id,MainPID,ControlGroup,PIDFile -- "),
        "{args}"
    );
    assert!(
        args.contains(&unit) && args.contains(&format!("{t}@a.service")),
        "{args}"
    );
    assert!(args.contains(&format!("{lt}@*.service")), "{args}");
    let env = std::fs::read_to_string(stub.join("env")).unwrap();
    assert!(
        env.lines().all(|l| l.starts_with("PWD=")),
        "systemctl ran with an environment: {env}"
    );

    // The file names a second copy, outside the unit: systemd's main process is the other one.
    let copy = named_sleep(dir.path(), &name);
    write_pid(&pf, copy.pid);
    let (code, doc) = audit(&[&pf]);
    assert_eq!(code, 1);
    let e = pidfile(&doc, &pf);
    let got = codes(e);
    for c in [
        "unit-mainpid-mismatch",
        "outside-unit",
        "unit-pidfile-mismatch",
    ] {
        assert!(got.contains(&c.to_string()), "{c}: {e:#}");
    }
    let f = finding(e, "unit-mainpid-mismatch");
    assert_eq!(f["evidence"]["main_pid"], main.pid);
    assert_eq!(f["evidence"]["pid"], copy.pid);
    assert_eq!(
        finding(e, "unit-pidfile-mismatch")["evidence"]["unit_pids"],
        serde_json::json!([main.pid])
    );

    // systemd knows no main process: no main-PID finding, the cgroup still judges.
    std::fs::write(stub.join("answer"), answer(0)).unwrap();
    let (_, doc) = audit(&[&pf]);
    let got = codes(pidfile(&doc, &pf));
    assert!(
        !got.contains(&"unit-mainpid-mismatch".to_string()),
        "{got:?}"
    );
    assert!(
        got.contains(&"unit-pidfile-mismatch".to_string()),
        "{got:?}"
    );
    drop(copy);
    drop(main);
    drop(group);
}

/// A default scan names each unit whose `PIDFile=` cannot be resolved (`unit-unresolved`, info),
/// and a `systemctl` that fails or hangs, instead of skipping them silently.
#[test]
fn unresolvable_units_are_reported() {
    let dir = tempfile::tempdir().unwrap();
    let (units, _) = unit_tree(dir.path(), "run");
    let t = unique_name("mach");
    write_unit(
        &units,
        &format!("{t}@.service"),
        "[Service]\nPIDFile=/run/%m/%i.pid\n",
    );
    want(&units, &t, "x");
    let scan = |systemctl: Option<&Path>| {
        let mut cmd = pidaudit();
        cmd.env("PIDAUDIT_UNIT_PATH", &units).args([
            "--format",
            "json",
            "--select",
            "unit-unresolved",
        ]);
        if let Some(s) = systemctl {
            cmd.env("PIDAUDIT_SYSTEMCTL", s);
        }
        audit_cmd(&mut cmd).1
    };
    let doc = scan(None);
    let f = findings_with(&doc, "unit-unresolved");
    assert_eq!(f.len(), 1, "{doc:#}");
    assert_eq!(f[0]["evidence"]["unit"], format!("{t}@x.service"));
    assert_eq!(f[0]["evidence"]["value"], "/run/%m/%i.pid");
    assert!(
        f[0]["message"].as_str().unwrap().contains("%m"),
        "{:#}",
        f[0]
    );
    // A systemctl that fails, then one that never answers: said, and the unit still named.
    let stub = dir.path().join("systemctl");
    for body in ["exit 1", "exec /bin/sleep 60"] {
        std::fs::write(&stub, format!("#!/bin/sh\n{body}\n")).unwrap();
        chmod(&stub, 0o755);
        let doc = scan(Some(&stub));
        let f = findings_with(&doc, "unit-unresolved");
        assert_eq!(f.len(), 2, "{body}: {doc:#}");
        assert!(
            f.iter().any(|f| f["subject"] == "systemctl"),
            "{body}: {doc:#}"
        );
    }
}

/// `pidaudit watch` sees a unit file written while it runs (no event reports one): the interval's
/// check surveys the unit files again and asks for the whole audit, which finds the unit's daemon
/// lost by its pidfile. In a private PID namespace, so no other process on the machine makes the
/// interval audit for another reason.
#[test]
fn watch_sees_a_unit_file_written_meanwhile() {
    let Some(root) = cgroup2() else {
        eprintln!("no writable cgroup v2 mount: the cgroup comparison is not tested here");
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let (units, run) = unit_tree(dir.path(), "run");
    let (name, pf) = unique_pidfile(&run, "unitw");
    let unit = format!("{name}.service");
    let group = Group::new(&root, &unit);
    let exe = sleep_copy(dir.path(), &name);
    // A PID no process of the new namespace has.
    write_pid(&pf, 30_000);
    // The daemon moves itself into the unit's cgroup (0: the writer), then the shell becomes the
    // watch.
    let setup = format!(
        "sh -c 'echo 0 > {procs}; exec {exe} 1000' </dev/null >/dev/null 2>&1 &\n\
         while ! grep -q . {procs}; do sleep 0.05; done",
        procs = group.0.last().unwrap().join("cgroup.procs").display(),
        exe = exe.display(),
    );
    let mut w = NsWatch::start(
        &setup,
        &["--interval".as_ref(), "1s".as_ref(), run.as_os_str()],
        &[("PIDAUDIT_UNIT_PATH", units.as_os_str())],
    );
    // Two intervals pass with the unit file absent.
    std::thread::sleep(std::time::Duration::from_millis(2500));
    write_unit(
        &units,
        &unit,
        &format!(
            "[Service]\nType=forking\nPIDFile={}\nExecStart=/bin/true\n",
            pf.display()
        ),
    );
    w.until("unit-pidfile-mismatch", |e| {
        e["event"] == "finding-raised" && e["code"] == "unit-pidfile-mismatch"
    });
    drop(w);
    drop(group);
}
