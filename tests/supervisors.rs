//! Supervised services with the real supervisors from Debian: daemontools (`supervise`, `svc`,
//! `svstat`), runit (`runsv`, `sv`) and s6 (`s6-supervise`, `s6-svc`, `s6-svstat`), each in a
//! private service directory running a uniquely named copy of `sleep`. Every verdict is compared
//! with what the supervisor's own status command prints for the same state.

mod common;

use common::*;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

#[derive(Clone, Copy, Debug, PartialEq)]
enum Kind {
    Daemontools,
    Runit,
    S6,
}

const KINDS: [Kind; 3] = [Kind::Daemontools, Kind::Runit, Kind::S6];

impl Kind {
    fn name(self) -> &'static str {
        match self {
            Kind::Daemontools => "daemontools",
            Kind::Runit => "runit",
            Kind::S6 => "s6",
        }
    }
}

/// A service directory under a running supervisor.
struct Service {
    kind: Kind,
    _dir: tempfile::TempDir,
    svc: PathBuf,
    name: String,
    supervisor: Daemon,
}

impl Service {
    /// Starts the supervisor on a service whose `run` script is `run` (`{exe}` is replaced by the
    /// path of a copy of sleep named `name`).
    fn start(kind: Kind, base: &str, run: &str) -> Service {
        let dir = tempfile::tempdir().unwrap();
        let name = unique_name(base);
        let exe = sleep_copy(dir.path(), &name);
        let svc = dir.path().join("svc").join(&name);
        std::fs::create_dir_all(&svc).unwrap();
        let script = svc.join("run");
        std::fs::write(
            &script,
            format!(
                "#!/bin/sh\n{}\n",
                run.replace("{exe}", &exe.display().to_string())
            ),
        )
        .unwrap();
        chmod(&script, 0o755);
        let program = match kind {
            Kind::Daemontools => "supervise",
            Kind::Runit => "runsv",
            Kind::S6 => "s6-supervise",
        };
        let supervisor = Daemon::from_child(spawn(
            Command::new(program)
                .arg(&svc)
                .current_dir(dir.path())
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null()),
        ));
        let s = Service {
            kind,
            _dir: dir,
            svc,
            name,
            supervisor,
        };
        wait_until("the supervisor's status", || {
            s.status_file().exists() && s.svc.join("supervise/status").exists()
        });
        s
    }

    /// A service running `exec {exe} 1000`, up.
    fn up(kind: Kind, base: &str) -> Service {
        let s = Service::start(kind, base, "exec '{exe}' 1000");
        wait_until("the service to run", || s.daemon().is_some());
        s
    }

    /// The file pidaudit audits for the service.
    fn status_file(&self) -> PathBuf {
        match self.kind {
            Kind::Runit => self.svc.join("supervise/pid"),
            _ => self.svc.join("supervise/status"),
        }
    }

    /// What the supervisor's own status command prints.
    fn tool_status(&self) -> String {
        let out = match self.kind {
            Kind::Daemontools => Command::new("svstat").arg(&self.svc).output(),
            Kind::Runit => Command::new("sv").arg("status").arg(&self.svc).output(),
            Kind::S6 => Command::new("s6-svstat").arg(&self.svc).output(),
        }
        .unwrap();
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    }

    /// The PID of the service's process, as the status command says it (`(pid N)`), when it is
    /// the uniquely named daemon.
    fn daemon(&self) -> Option<u32> {
        let text = self.tool_status();
        let at = text.find("(pid ")? + 5;
        let pid: u32 = text[at..]
            .split(|c: char| !c.is_ascii_digit())
            .next()?
            .parse()
            .ok()?;
        (comm(pid) == self.name).then_some(pid)
    }

    /// Sends a control command (`u`, `d`, `t`...) through the supervisor's own tool.
    fn control(&self, what: &str) {
        let status = match self.kind {
            Kind::Daemontools => Command::new("svc")
                .arg(format!("-{what}"))
                .arg(&self.svc)
                .status(),
            Kind::Runit => {
                let word = match what {
                    "u" => "up",
                    "d" => "down",
                    "t" => "term",
                    other => panic!("no sv command for {other}"),
                };
                Command::new("sv")
                    .arg(word)
                    .arg(&self.svc)
                    .stdout(Stdio::null())
                    .status()
            }
            Kind::S6 => Command::new("s6-svc")
                .arg(format!("-{what}"))
                .arg(&self.svc)
                .status(),
        };
        // sv waits up to 7 s for the change and fails if it is late; the tests wait themselves.
        let _ = status.unwrap();
    }

    fn audit(&self, extra: &[&Path]) -> (i32, serde_json::Value) {
        let mut cmd = pidaudit();
        cmd.args(["--format", "json"]).arg(&self.svc).args(extra);
        audit_cmd(&mut cmd)
    }
}

impl Drop for Service {
    fn drop(&mut self) {
        let daemon = self.daemon();
        self.supervisor.kill();
        if let Some(pid) = daemon {
            drop(Daemon::adopt(pid));
        }
    }
}

fn supervised(e: &serde_json::Value) -> &serde_json::Value {
    &e["supervised"]
}

/// A healthy service: running, the supervisor's child, the supervisor alive and holding its lock;
/// no finding (no `unlocked`: the supervisor's lock is judged). The PID is the one the status
/// command prints.
#[test]
fn healthy_service() {
    for kind in KINDS {
        let s = Service::up(kind, "svok");
        let pid = s.daemon().unwrap();
        let (code, doc) = s.audit(&[]);
        let e = pidfile(&doc, &s.status_file());
        assert_eq!(code, 0, "{kind:?} {e:#}");
        assert_eq!(e["state"], "running", "{kind:?} {e:#}");
        assert_eq!(e["pid"], pid, "{kind:?}: {}", s.tool_status());
        assert!(codes(e).is_empty(), "{kind:?} {e:#}");
        let sv = supervised(e);
        assert_eq!(sv["supervisor"], kind.name());
        assert_eq!(sv["phase"], "run");
        assert_eq!(sv["want"], "up");
        assert_eq!(sv["normally_up"], true);
        assert_eq!(sv["supervisor_pid"], s.supervisor.pid);
        assert_eq!(sv["supervisor_alive"], true);
        assert_eq!(sv["child_of_supervisor"], true);
        let control = sv["control"].as_str().unwrap();
        assert!(control.ends_with(&*s.svc.to_string_lossy()), "{control}");
        assert!(s.tool_status().contains(&format!("(pid {pid})")));
    }
}

/// Wanted down (`svc -d`, `sv down`, `s6-svc -d`): the state is `down` with an informational
/// `supervised-down`, never `empty` or `invalid` (runit empties `supervise/pid`), and the status
/// command agrees that it is down. A `down` file makes it normally down.
#[test]
fn wanted_down_is_down_not_broken() {
    for kind in KINDS {
        let s = Service::up(kind, "svdown");
        s.control("d");
        wait_until("the service to go down", || s.daemon().is_none());
        wait_until("the status to say down", || {
            let st = s.tool_status();
            st.starts_with("down") || st.contains(": down")
        });
        std::fs::write(s.svc.join("down"), "").unwrap();
        let (code, doc) = s.audit(&[]);
        let e = pidfile(&doc, &s.status_file());
        assert_eq!(code, 0, "{kind:?} {e:#}");
        assert_eq!(e["state"], "down", "{kind:?} {e:#}");
        assert_eq!(codes(e), ["supervised-down"], "{kind:?} {e:#}");
        let f = finding(e, "supervised-down");
        assert_eq!(f["severity"], "info");
        assert_eq!(f["evidence"]["want"], "down");
        assert_eq!(supervised(e)["normally_up"], false);
        if kind == Kind::Runit {
            assert_eq!(std::fs::read(s.status_file()).unwrap(), b"");
        }
        // Repair leaves a supervisor's file alone.
        let run = run_cmd(pidaudit().args(["fix", "--format", "json"]).arg(&s.svc));
        let plan = run.json();
        assert!(
            plan.to_string().find("\"remove\"").is_none(),
            "{kind:?} {plan:#}"
        );
    }
}

/// Killed and restarted: the new PID is judged (running, the supervisor's child), and the old one
/// is gone from the report.
#[test]
fn killed_and_restarted() {
    for kind in KINDS {
        let s = Service::up(kind, "svkill");
        let old = s.daemon().unwrap();
        kill9(old);
        wait_until("the restart", || s.daemon().is_some_and(|p| p != old));
        let new = s.daemon().unwrap();
        let (_, doc) = s.audit(&[]);
        let e = pidfile(&doc, &s.status_file());
        assert_eq!(e["state"], "running", "{kind:?} {e:#}");
        assert_eq!(e["pid"], new);
        assert_eq!(supervised(e)["child_of_supervisor"], true);
        // A restart moments ago may be called flapping (see `pidaudit explain flapping`); nothing
        // else is said.
        for c in codes(e) {
            assert_eq!(c, "flapping", "{kind:?} {e:#}");
        }
    }
}

/// The supervisor SIGKILLed, its child left running: `unsupervised` (an error), where the status
/// commands only say that the supervisor does not run.
#[test]
fn supervisor_killed_child_left_running() {
    for kind in KINDS {
        let mut s = Service::up(kind, "svorph");
        let pid = s.daemon().unwrap();
        let _child = Daemon::adopt(pid);
        s.supervisor.kill();
        let tool = s.tool_status();
        assert!(
            tool.contains("not running") || tool.contains("unable to"),
            "{kind:?}: {tool}"
        );
        let (code, doc) = s.audit(&[]);
        let e = pidfile(&doc, &s.status_file());
        assert_eq!(code, 1, "{kind:?} {e:#}");
        assert_eq!(e["state"], "running");
        assert_eq!(e["pid"], pid);
        assert_eq!(codes(e), ["unsupervised"], "{kind:?} {e:#}");
        assert_eq!(supervised(e)["supervisor_alive"], false);
        assert_eq!(finding(e, "unsupervised")["evidence"]["pid"], pid);
        // Then the child dies too: the files are leftovers.
        drop(_child);
        let (_, doc) = s.audit(&[]);
        let e = pidfile(&doc, &s.status_file());
        assert!(
            codes(e).contains(&"supervisor-gone".to_string()),
            "{kind:?} {e:#}"
        );
        // Repair refuses the supervisor's file, and says what to do instead.
        let plan = run_cmd(pidaudit().args(["fix", "--format", "json"]).arg(&s.svc)).json();
        let refused = &plan["refused"][0];
        assert_eq!(refused["reason"], "supervised", "{plan:#}");
        assert!(
            refused["message"]
                .as_str()
                .unwrap()
                .contains("supervisor is not running"),
            "{plan:#}"
        );
        assert_eq!(plan["actions"], serde_json::json!([]));
    }
}

/// A second copy of the supervised daemon started by hand, outside the supervisor:
/// `double-managed` on the service (instead of `duplicate-instance`), listing the copy. The status
/// commands know nothing of it.
#[test]
fn hand_started_second_copy() {
    for kind in KINDS {
        let s = Service::up(kind, "svtwo");
        let pid = s.daemon().unwrap();
        let exe = s._dir.path().join(&s.name);
        let copy = Daemon::from_child(spawn(
            Command::new(&exe)
                .arg("1000")
                .current_dir(s._dir.path())
                .stdin(Stdio::null()),
        ));
        let (code, doc) = s.audit(&[]);
        let e = pidfile(&doc, &s.status_file());
        assert_eq!(code, 1, "{kind:?} {e:#}");
        assert_eq!(codes(e), ["double-managed"], "{kind:?} {e:#}");
        let f = finding(e, "double-managed");
        assert_eq!(f["evidence"]["pid"], pid);
        assert_eq!(f["evidence"]["duplicates"], serde_json::json!([copy.pid]));
        assert!(s.tool_status().contains(&format!("(pid {pid})")));
    }
}

/// A crash loop (the run script dies at once): `flapping`, while the status commands show a
/// service that is up or just restarting.
#[test]
fn crash_loop_is_flapping() {
    for kind in KINDS {
        let s = Service::start(kind, "svloop", "'{exe}' 0.2; exit 1");
        let started = std::time::Instant::now();
        // Flapping is told once the service's current run did not start with its supervisor
        // (within FLAP_GRACE_SECS); wait for a later restart.
        let status = s.svc.join("supervise/status");
        let first = std::fs::read(&status).unwrap();
        wait_until("a later restart", || {
            started.elapsed().as_secs_f64() > 2.5
                && std::fs::read(&status).is_ok_and(|b| b[..12] != first[..12])
        });
        let (_, doc) = s.audit(&[]);
        let e = pidfile(&doc, &s.status_file());
        // The audit may catch the dead process before its supervisor reaps it: a zombie, said too.
        for c in codes(e) {
            assert!(c == "flapping" || c == "zombie", "{kind:?} {e:#}");
        }
        assert!(
            codes(e).contains(&"flapping".to_string()),
            "{kind:?} {e:#} {}",
            s.tool_status()
        );
        assert_eq!(finding(e, "flapping")["severity"], "warning");
        assert_eq!(supervised(e)["want"], "up");
    }
}

/// The daemon's own pidfile (named in its command line) disagreeing with its supervisor:
/// `supervisor-mismatch` on the pidfile.
#[test]
fn own_pidfile_disagrees() {
    let dir = tempfile::tempdir().unwrap();
    let (name, pf) = unique_pidfile(dir.path(), "svmis");
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/support/testd.py");
    let run = format!(
        "exec python3 '{}' --pidfile '{}' --name {name}",
        script.display(),
        pf.display()
    );
    let s = Service::start(Kind::Runit, "svmis", &run);
    wait_until("the daemon's pidfile", || {
        std::fs::read_to_string(&pf).is_ok_and(|t| t.ends_with('\n'))
    });
    let pid: u32 = std::fs::read_to_string(s.status_file())
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    let _daemon = Daemon::adopt(pid);
    let other = named_sleep(dir.path(), &unique_name("svoth"));
    write_pid(&pf, other.pid);
    let (_, doc) = s.audit(&[&pf]);
    let e = pidfile(&doc, &pf);
    let f = finding(e, "supervisor-mismatch");
    assert_eq!(f["evidence"]["supervised_pid"], pid, "{e:#}");
    assert_eq!(f["evidence"]["pid"], other.pid);
    let sup = pidfile(&doc, &s.status_file());
    assert!(codes(sup).is_empty(), "{sup:#}");
}

/// Bytes that are not a supervisor's status are `malformed`, with the reason; nothing panics.
#[test]
fn foreign_status_is_malformed() {
    let dir = tempfile::tempdir().unwrap();
    let sup = dir.path().join("svc/supervise");
    std::fs::create_dir_all(&sup).unwrap();
    std::fs::write(sup.join("status"), b"hello").unwrap();
    let doc = audit_json(&[dir.path().to_str().unwrap()]);
    let e = pidfile(&doc, &sup.join("status"));
    assert_eq!(e["state"], "invalid");
    assert_eq!(finding(e, "malformed")["evidence"]["reason"], "status_size");
}

/// A scan directory's links to service directories (`/etc/service/NAME -> /etc/sv/NAME`) are
/// followed when only root could have made them, and the service is audited under the link's path;
/// a scan directory others may write, or a link another user owns, is not followed.
#[test]
fn scan_directory_links_followed_only_when_root_made_them() {
    let s = Service::up(Kind::Daemontools, "svlink");
    let scan = tempfile::tempdir().unwrap();
    let link = scan.path().join(&s.name);
    std::os::unix::fs::symlink(&s.svc, &link).unwrap();
    let audited = link.join("supervise/status");
    let doc = audit_json(&[scan.path().to_str().unwrap()]);
    let e = pidfile(&doc, &audited);
    assert_eq!(e["state"], "running", "{e:#}");
    assert_eq!(e["pid"], s.daemon().unwrap());
    // Another user's link: not followed.
    std::os::unix::fs::lchown(&link, Some(NOBODY), Some(NOBODY)).unwrap();
    let doc = audit_json(&[scan.path().to_str().unwrap()]);
    assert_eq!(doc["pidfiles"], serde_json::json!([]), "{doc:#}");
    // Root's link in a directory anyone may write: not followed either.
    std::os::unix::fs::lchown(&link, Some(0), Some(0)).unwrap();
    chmod(scan.path(), 0o777);
    let doc = audit_json(&[scan.path().to_str().unwrap()]);
    assert_eq!(doc["pidfiles"], serde_json::json!([]), "{doc:#}");
    chmod(scan.path(), 0o755);
    let doc = audit_json(&[scan.path().to_str().unwrap()]);
    assert_eq!(pidfile(&doc, &audited)["state"], "running");
}

/// A service directory named as a PATH whose `supervise` is a root-made link (Debian's runit:
/// `/etc/sv/NAME/supervise -> /run/runit/supervise/NAME`) is audited through the link; the files
/// under the link target's own path (`.../supervise/NAME/pid`) are recognised too.
#[test]
fn debian_runit_layout() {
    let dir = tempfile::tempdir().unwrap();
    let name = unique_name("svdeb");
    let exe = sleep_copy(dir.path(), &name);
    let sv = dir.path().join("etc/sv").join(&name);
    let run = dir.path().join("run/runit/supervise").join(&name);
    std::fs::create_dir_all(&sv).unwrap();
    std::fs::create_dir_all(&run).unwrap();
    std::os::unix::fs::symlink(&run, sv.join("supervise")).unwrap();
    let script = sv.join("run");
    std::fs::write(
        &script,
        format!("#!/bin/sh\nexec '{}' 1000\n", exe.display()),
    )
    .unwrap();
    chmod(&script, 0o755);
    let runsv = Daemon::from_child(spawn(
        Command::new("runsv")
            .arg(&sv)
            .current_dir(dir.path())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null()),
    ));
    let mut pid = 0u32;
    wait_until("runsv to start the service", || {
        pid = std::fs::read_to_string(run.join("pid"))
            .ok()
            .and_then(|s| s.trim().parse().ok())
            .unwrap_or(0);
        pid != 0 && comm(pid) == name
    });
    let _daemon = Daemon::adopt(pid);
    let (code, doc) = audit_path(&sv, &[]);
    let e = pidfile(&doc, &sv.join("supervise/pid"));
    assert_eq!(code, 0, "{e:#}");
    assert_eq!(
        (e["state"].as_str(), e["pid"].as_u64()),
        (Some("running"), Some(u64::from(pid)))
    );
    assert_eq!(e["supervised"]["supervisor_pid"], runsv.pid);
    let (_, doc) = audit_path(&dir.path().join("run"), &[]);
    let e = pidfile(&doc, &run.join("pid"));
    assert_eq!(e["state"], "running", "{e:#}");
    // Named by its service name, as sv finds it in /etc/service.
    assert_eq!(e["supervised"]["control"], format!("sv term {name}"));
}

/// s6 counts deaths (`supervise/death_tally`, which `s6-svdt` prints): three in the last minute are
/// `flapping` whatever the audit's instant shows.
#[test]
fn s6_death_tally_is_flapping() {
    let s = Service::start(Kind::S6, "svdt", "'{exe}' 0.2; exit 3");
    let tally = s.svc.join("supervise/death_tally");
    wait_until("three deaths", || {
        std::fs::metadata(&tally).is_ok_and(|m| m.len() >= 42)
    });
    let out = Command::new("s6-svdt").arg(&s.svc).output().unwrap();
    let svdt = String::from_utf8_lossy(&out.stdout);
    assert!(
        svdt.lines().filter(|l| l.contains("exitcode 3")).count() >= 3,
        "{svdt}"
    );
    let (_, doc) = s.audit(&[]);
    let e = pidfile(&doc, &s.status_file());
    let f = finding(e, "flapping");
    assert!(
        f["evidence"]["deaths_last_minute"].as_u64().unwrap() >= 3,
        "{f:#}"
    );
}

/// A status another user wrote (a directory of theirs under `/run/user`, say) naming a process of
/// root's is judged for trust only: never `unsupervised`, `supervisor-mismatch` or
/// `double-managed` about a process it cannot speak for.
#[test]
fn forged_status_speaks_for_nobody() {
    let dir = tempfile::tempdir().unwrap();
    chmod(dir.path(), 0o755);
    let name = unique_name("svfrg");
    let victim = named_sleep(dir.path(), &name);
    let user = dir.path().join("user");
    let sup = user.join("svc/supervise");
    std::fs::create_dir_all(&sup).unwrap();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let mut status = ((1u64 << 62) + 10 + now).to_be_bytes().to_vec();
    status.extend([0, 0, 0, 0]);
    status.extend(victim.pid.to_le_bytes());
    status.extend([0, b'u']);
    std::fs::write(sup.join("status"), &status).unwrap();
    std::fs::write(sup.join("lock"), b"").unwrap();
    for p in [
        &user,
        &user.join("svc"),
        &sup,
        &sup.join("status"),
        &sup.join("lock"),
    ] {
        std::os::unix::fs::lchown(p, Some(NOBODY), Some(NOBODY)).unwrap();
    }
    let (_, doc) = audit_path(&user, &[]);
    let e = pidfile(&doc, &sup.join("status"));
    assert_eq!(e["pid"], victim.pid, "{e:#}");
    assert_eq!(e["trusted"], false, "{e:#}");
    for c in codes(e) {
        assert!(
            ![
                "unsupervised",
                "supervisor-mismatch",
                "double-managed",
                "flapping"
            ]
            .contains(&c.as_str()),
            "{e:#}"
        );
    }
    assert!(codes(e).contains(&"insecure-owner".to_string()), "{e:#}");
}

/// `pidaudit watch` on a runit service restarted once: `flapping` (up for less than 5 s) is raised,
/// then cleared by the clock alone, with no event and no process started: the interval's check
/// audits again while a `flapping` verdict is shown. In a private PID namespace, so no other
/// process on the machine makes the interval audit for another reason.
#[test]
fn watch_clears_flapping_as_the_service_stays_up() {
    let dir = tempfile::tempdir().unwrap();
    let name = unique_name("svflw");
    let exe = sleep_copy(dir.path(), &name);
    let svc = dir.path().join("svc").join(&name);
    std::fs::create_dir_all(&svc).unwrap();
    let run = svc.join("run");
    std::fs::write(&run, format!("#!/bin/sh\nexec '{}' 1000\n", exe.display())).unwrap();
    chmod(&run, 0o755);
    let pidf = svc.join("supervise/pid");
    let setup = format!(
        "runsv '{svc}' </dev/null >/dev/null 2>&1 &\n\
         while ! grep -q . '{pid}' 2>/dev/null; do sleep 0.05; done",
        svc = svc.display(),
        pid = pidf.display(),
    );
    let mut w = NsWatch::start(
        &setup,
        &["--interval".as_ref(), "1s".as_ref(), svc.as_os_str()],
        &[],
    );
    // The daemon, seen from here.
    let host_pid = || {
        std::fs::read_dir("/proc")
            .unwrap()
            .filter_map(|e| e.ok()?.file_name().to_str()?.parse::<u32>().ok())
            .find(|&p| comm(p) == name)
    };
    let old = host_pid().expect("the service runs");
    // The supervisor must be older than the restart for a short uptime to be a restart.
    std::thread::sleep(std::time::Duration::from_millis(2500));
    kill9(old);
    let path = pidf.to_str().unwrap().to_string();
    w.until("the restart", |e| {
        e["event"] == "pidfile-rewritten" && e["path"] == path.as_str()
    });
    let restarted = std::time::Instant::now();
    // Up again for less than 5 s is flapping; up for longer it is not: the last flapping
    // event is its clearing, 3 s and more after the restart (earlier ones are the finding's
    // message changing between down and up).
    w.until("flapping cleared", |e| {
        e["event"] == "finding-cleared"
            && e["code"] == "flapping"
            && e["path"] == path.as_str()
            && restarted.elapsed() >= std::time::Duration::from_secs(3)
    });
    assert!(
        w.seen.iter().any(|e| e["event"] == "finding-raised"
            && e["code"] == "flapping"
            && e["message"].as_str().unwrap().starts_with("up for only")),
        "{:#?}",
        w.seen
    );
}
