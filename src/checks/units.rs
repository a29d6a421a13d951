//! systemd units: a pidfile a unit's `PIDFile=` names must name a process of that unit.
//!
//! The unit files are read without a running systemd (see [`crate::units`]); the process's unit is
//! the `.service` its `/proc/PID/cgroup` names (the cgroup v2 line, or v1 `name=systemd`), and a
//! unit's processes are its cgroup's `cgroup.procs` (`system.slice/NAME` or `NAME` under the cgroup
//! v2 mount). Only on the live `/proc`.
//!
//! - **`outside-unit`**: the PID runs in another unit's cgroup, or (where systemd runs) in no
//!   unit's. Without systemd (PID 1 is something else, `/run/systemd/system` absent) a process in no
//!   unit's cgroup says nothing: the unit is not what started it.
//! - **`unit-pidfile-mismatch`**: the unit's cgroup holds live processes and none is the PID the
//!   file names (stale, or running elsewhere): the unit's daemon runs, its pidfile does not say so.
//! - **`unit-mainpid-mismatch`**: where systemd runs, its `MainPID` for the unit is another
//!   process than the file's PID.
//! - **`unit-unresolved`** (info, once per unit, default scan only): a unit's `PIDFile=` needs a
//!   specifier the files cannot tell, or `systemctl show` could not be asked.

use super::Cx;
use super::Entry;
use crate::model::{Code, CodeDoc, Finding, Severity, State};
use crate::system::identity;
use std::path::PathBuf;
use std::sync::OnceLock;

pub const OUTSIDE_UNIT: Code = Code::new(&CodeDoc {
    code: "outside-unit",
    severity: Severity::Error,
    summary: "The pidfile a systemd unit's `PIDFile=` names holds a PID that runs outside that unit's cgroup.",
    why: "systemd takes the unit's main process from its `PIDFile=`, and refuses (or worse, adopts) a PID that is not in the unit's cgroup: `systemctl stop` then signals a process of another service, or leaves the real daemon running. A daemon started by hand or by an old init script while the unit also runs writes the same file. Evidence: the unit, its file, and the cgroup the process is in.",
    fix: "Find out what started the process in the evidence. Stop it if it is a stray copy, then restart the unit (`systemctl restart UNIT`) so the file names the unit's own process.",
});

pub const UNIT_PIDFILE_MISMATCH: Code = Code::new(&CodeDoc {
    code: "unit-pidfile-mismatch",
    severity: Severity::Error,
    summary: "A systemd unit's processes run, but none of them is the PID its `PIDFile=` names.",
    why: "The unit's cgroup holds the live daemon, and the pidfile names another process (or a dead one): scripts and monitoring that read the pidfile lose the daemon, and systemd may consider the unit's main process gone. Evidence lists the unit's processes.",
    fix: "Restart the unit so the daemon rewrites its pidfile, or fix the daemon's or the unit's pidfile path so both agree.",
});

pub const UNIT_MAINPID_MISMATCH: Code = Code::new(&CodeDoc {
    code: "unit-mainpid-mismatch",
    severity: Severity::Error,
    summary: "The running systemd's main PID of a unit is not the PID its `PIDFile=` names.",
    why: "Where systemd runs, pidaudit asks `systemctl show` for each unit's `MainPID`. systemd signals that process on `systemctl stop` and `reload` and watches it to restart the unit; a pidfile naming another process (a stale file, a copy started by hand, a daemon that forked again) sends scripts and monitoring to the wrong process. Evidence: the unit, the main PID and the file's PID.",
    fix: "Restart the unit (`systemctl restart UNIT`) so the daemon rewrites the file; if it keeps happening, the daemon's and the unit's pidfile paths or `Type=` disagree.",
});

pub const UNIT_UNRESOLVED: Code = Code::new(&CodeDoc {
    code: "unit-unresolved",
    severity: Severity::Info,
    summary: "A systemd unit's `PIDFile=` could not be resolved from its files, or `systemctl show` could not be asked: that unit is not audited.",
    why: "pidaudit expands the specifiers systemd documents that the unit's name, its file and the system manager's fixed directories determine (`%i`, `%I`, `%n`, `%N`, `%p`, `%P`, `%j`, `%J`, `%f`, `%t`, `%y`, ...). Others (`%H` host name, `%m` machine ID, `%b` boot ID, `%v` kernel, `/etc/os-release` fields, `%T`/`%V`) depend on the running system: rather than guess a path, the unit is named here with the reason. Where systemd runs and resolves it, its `PIDFile` from `systemctl show` is audited instead.",
    fix: "Audit the file by naming it as a PATH, or write the unit's `PIDFile=` without such specifiers.",
});

/// Every code this check emits.
pub const CODES: &[Code] = &[
    OUTSIDE_UNIT,
    UNIT_PIDFILE_MISMATCH,
    UNIT_MAINPID_MISMATCH,
    UNIT_UNRESOLVED,
];

/// Findings about the unit survey itself: each unit whose pidfile could not be resolved, and a
/// `systemctl show` that failed.
pub fn survey_findings(survey: &crate::units::Survey) -> Vec<Finding> {
    let mut out: Vec<Finding> = survey
        .unresolved
        .iter()
        .map(|u| {
            Finding::new(
                UNIT_UNRESOLVED,
                &u.name,
                format!(
                    "{}'s PIDFile={} is not audited: {}",
                    u.name, u.value, u.reason
                ),
            )
            .with("unit", u.name.clone())
            .with("unit_file", u.fragment.display().to_string())
            .with("value", u.value.clone())
            .with("reason", u.reason.clone())
        })
        .collect();
    if let Some(e) = &survey.show_error {
        out.push(
            Finding::new(
                UNIT_UNRESOLVED,
                "systemctl",
                format!("units' main PIDs are not compared: {e}"),
            )
            .with("reason", e.clone()),
        );
    }
    out
}

/// Whether systemd runs, and the cgroup v2 mount: looked up once per run.
fn system() -> &'static (bool, Option<PathBuf>) {
    static SYSTEM: OnceLock<(bool, Option<PathBuf>)> = OnceLock::new();
    SYSTEM.get_or_init(|| {
        (
            crate::units::systemd_running(),
            crate::units::cgroup2_root(),
        )
    })
}

/// Judges a pidfile a unit names against the unit's cgroup.
pub fn check(cx: &Cx<'_>, entry: &mut Entry) {
    let Some(unit) = entry.unit.clone() else {
        return;
    };
    if !cx.snapshot.live || entry.pid.is_none() {
        return;
    }
    let subject = entry.subject();
    let (systemd, cgroup2) = system();
    let pid = entry.pid.map(|p| p as i32);
    let mut in_unit = false;
    if entry.state() == State::Running {
        if let Some(p) = entry.process.clone() {
            let cgroup = cx.snapshot.read_proc_file(&p, "cgroup");
            let found = cgroup.as_deref().and_then(identity::systemd_unit);
            in_unit = found.as_deref() == Some(unit.name.as_str());
            let outside = match &found {
                Some(other) => other != &unit.name,
                None => cgroup.is_some() && *systemd,
            };
            if outside {
                let what = match &found {
                    Some(other) => format!("in unit {other}"),
                    None => "in no unit's cgroup".to_string(),
                };
                entry.findings.push(
                    Finding::new(
                        OUTSIDE_UNIT,
                        &subject,
                        format!(
                            "{} names this file (PIDFile=), but PID {} ({}) runs {what}",
                            unit.name,
                            p.pid(),
                            p.stat.comm
                        ),
                    )
                    .with("unit", unit.name.clone())
                    .with("unit_file", unit.fragment.display().to_string())
                    .with("pid", p.pid())
                    .with("process_unit", found.clone()),
                );
            }
        }
    }
    if let (Some(main), Some(pid)) = (unit.main_pid.filter(|m| *m != 0), pid) {
        if main as i32 != pid {
            let what = match cx.snapshot.get(main as i32) {
                Some(q) => format!("PID {main} ({})", q.stat.comm),
                None => format!("PID {main}"),
            };
            entry.findings.push(
                Finding::new(
                    UNIT_MAINPID_MISMATCH,
                    &subject,
                    format!(
                        "systemd's main process of {} is {what}, but this file names PID {pid} ({})",
                        unit.name,
                        entry.state().as_str()
                    ),
                )
                .with("unit", unit.name.clone())
                .with("unit_file", unit.fragment.display().to_string())
                .with("pid", pid)
                .with("main_pid", main),
            );
        }
    }
    if in_unit {
        return;
    }
    let Some(root) = cgroup2 else {
        return;
    };
    let Some(procs) = crate::units::unit_processes(root, &unit.cgroups) else {
        return;
    };
    let live: Vec<i32> = procs
        .into_iter()
        .filter(|p| cx.snapshot.get(*p).is_some_and(|q| !cx.snapshot.is_dead(q)))
        .collect();
    if live.is_empty() || pid.is_some_and(|p| live.contains(&p)) {
        return;
    }
    entry.findings.push(
        Finding::new(
            UNIT_PIDFILE_MISMATCH,
            &subject,
            format!(
                "{}'s processes run (PID {}), but this file names PID {} ({})",
                unit.name,
                live.iter()
                    .map(i32::to_string)
                    .collect::<Vec<_>>()
                    .join(", "),
                pid.unwrap_or(0),
                entry.state().as_str()
            ),
        )
        .with("unit", unit.name.clone())
        .with("unit_file", unit.fragment.display().to_string())
        .with("pid", pid)
        .with("unit_pids", live),
    );
}
