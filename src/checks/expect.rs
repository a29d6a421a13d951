//! Expectations: does each daemon of the manifest (`--expect FILE`) run as it should?
//!
//! A manifest entry's pidfile is audited like a file named on the command line (so a missing one is
//! `missing-pidfile`, from the content check). This check adds, for the process the pidfile tracks:
//! `identity-mismatch` (not the `exe`, or arguments not matching `cmdline`), `wrong-user`, and, from
//! the instance survey of [`super::instances`], `instance-count` (independent copies running, a master
//! and its workers counting as one, untracked copies included).
//!
//! `lock = "required"` is recorded as a fact; [`super::resolve`] raises the entry's `unlocked`
//! finding to `error` for it. The manifest's `started_after` is
//! judged with `--started-after` by [`super::deploy`].
//!
//! Anything that could not be read (exe or cmdline hidden by EACCES) neither matches nor contradicts.

use super::instances::Survey;
use super::Cx;
use super::Entry;
use crate::config::manifest::{Lock, Service};
use crate::model::State;
use crate::model::{Code, CodeDoc, Finding, Severity};
use crate::system::Process;

pub const IDENTITY_MISMATCH: Code = Code::new(&CodeDoc {
    code: "identity-mismatch",
    severity: Severity::Error,
    summary: "The process the pidfile names is not the executable, or does not have the arguments, the manifest expects.",
    why: "After a deploy the pidfile should name the new daemon. A different executable or arguments means the file names something else (a stale PID reused, another program writing the file) or the daemon was started with the wrong configuration.",
    fix: "Compare the expected and actual exe and cmdline in the evidence. Restart the daemon the way the deploy intends, or correct the manifest.",
});

pub const WRONG_USER: Code = Code::new(&CodeDoc {
    code: "wrong-user",
    severity: Severity::Error,
    summary: "The daemon runs as another user than the manifest expects.",
    why: "A daemon running as root that should drop privileges widens every bug into a root compromise; one running as the wrong service user cannot read its files or writes them with the wrong owner.",
    fix: "Fix the unit, init script or supervisor run file (User=, chpst -u, the daemon's user option) and restart it.",
});

pub const INSTANCE_COUNT: Code = Code::new(&CodeDoc {
    code: "instance-count",
    severity: Severity::Error,
    summary: "The number of independent copies of the daemon running differs from the manifest's `instances`.",
    why: "None running means the deploy left the service down; more than expected means a forgotten copy runs beside the managed one (a master with its workers counts once). Counted from the tracked process's tree, same-identity copies outside it, and untracked copies found through the manifest or the pidfile's name. Severity `unknown` when the copies could not be counted.",
    fix: "Start the missing daemon, or stop the extra copies listed in the evidence (see `duplicate-instance` and `orphaned-instance`).",
});

/// Every code this check emits, in catalogue order.
pub const CODES: &[Code] = &[IDENTITY_MISMATCH, WRONG_USER, INSTANCE_COUNT];

/// The manifest entry for an entry's pidfile.
pub fn service_for<'a>(cx: &Cx<'a>, entry: &Entry) -> Option<&'a Service> {
    cx.config.expect.as_ref()?.service_for(&entry.path)
}

/// How a process compares with a manifest entry's `exe` and `cmdline`: `None` where the manifest says
/// nothing or the process could not be read.
#[derive(Clone, Debug, Default)]
pub struct IdentityMatch {
    pub exe: Option<bool>,
    pub cmdline: Option<bool>,
}

impl IdentityMatch {
    /// Something the manifest names is known to differ.
    pub fn contradicted(&self) -> bool {
        self.exe == Some(false) || self.cmdline == Some(false)
    }

    /// Nothing differs and at least one thing is known to match.
    pub fn confirmed(&self) -> bool {
        !self.contradicted() && (self.exe == Some(true) || self.cmdline == Some(true))
    }
}

/// Compares a process with a manifest entry. The exe matches by path, or when the expected path now
/// names the very file the process runs (a symlink such as `/usr/bin/python3`, a hard link).
pub fn identity_match(cx: &Cx<'_>, service: &Service, process: &Process) -> IdentityMatch {
    let d = cx.snapshot.details(process);
    let exe = service.exe.as_ref().and_then(|want| {
        let running = d.exe?;
        let (path, _) = crate::system::identity::strip_deleted(running);
        if &path == want {
            return Some(true);
        }
        let same_file =
            d.exe_id.is_some() && cx.snapshot.stat_in_root(process, want).ok() == d.exe_id;
        Some(same_file)
    });
    let cmdline = service.cmdline.as_ref().and_then(|re| {
        let argv = d.cmdline.as_ref()?;
        Some(re.is_match(&argv.join(" ")))
    });
    IdentityMatch { exe, cmdline }
}

/// Judges each manifest entry's daemon.
pub fn check(cx: &Cx<'_>, entries: &mut [Entry], surveys: &[Survey]) {
    for (entry, survey) in entries.iter_mut().zip(surveys) {
        let Some(service) = service_for(cx, entry) else {
            continue;
        };
        let subject = entry.subject();
        if let (State::Running, Some(p)) = (entry.state(), entry.process.clone()) {
            let d = cx.snapshot.details(&p);
            let m = identity_match(cx, service, &p);
            if m.contradicted() {
                let mut what = Vec::new();
                if m.exe == Some(false) {
                    what.push("exe");
                }
                if m.cmdline == Some(false) {
                    what.push("cmdline");
                }
                entry.findings.push(
                    Finding::new(
                        IDENTITY_MISMATCH,
                        &subject,
                        format!(
                            "PID {} ({}) does not have the {} service {} expects",
                            p.pid(),
                            p.stat.comm,
                            what.join(" and "),
                            service.name
                        ),
                    )
                    .with("service", service.name.clone())
                    .with("pid", p.pid())
                    .with("mismatched", what.clone())
                    .with(
                        "expected_exe",
                        service.exe.as_ref().map(|e| e.display().to_string()),
                    )
                    .with("exe", d.exe.as_ref().map(|e| e.display().to_string()))
                    .with(
                        "expected_cmdline",
                        service.cmdline.as_ref().map(|r| r.as_str().to_string()),
                    )
                    .with("cmdline", d.cmdline),
                );
            } else if let (Some((want, spelled)), Some(uid)) = (&service.user, d.uid()) {
                if uid != *want {
                    entry.findings.push(
                        Finding::new(
                            WRONG_USER,
                            &subject,
                            format!(
                                "PID {} ({}) runs as uid {uid}, service {} expects {spelled} (uid {want})",
                                p.pid(),
                                p.stat.comm,
                                service.name
                            ),
                        )
                        .with("service", service.name.clone())
                        .with("pid", p.pid())
                        .with("uid", uid)
                        .with("expected_uid", *want)
                        .with("expected_user", spelled.clone()),
                    );
                }
            }
        }
        let expected = service.instances as usize;
        if let Some(why) = survey.uncounted {
            entry.findings.push(
                Finding::new(
                    INSTANCE_COUNT,
                    &subject,
                    format!("cannot count the instances of {}: {why}", service.name),
                )
                .severity(Severity::Unknown)
                .with("service", service.name.clone())
                .with("expected", expected),
            );
        } else if survey.instances() != expected {
            let n = survey.instances();
            let mut pids: Vec<i32> = survey.tracked.into_iter().collect();
            pids.extend(&survey.duplicates);
            pids.extend(survey.orphans.iter().map(|(p, _)| *p));
            entry.findings.push(
                Finding::new(
                    INSTANCE_COUNT,
                    &subject,
                    format!(
                        "{n} instance{} of {} running, {expected} expected",
                        if n == 1 { "" } else { "s" },
                        service.name
                    ),
                )
                .with("service", service.name.clone())
                .with("expected", expected)
                .with("running", n)
                .with("pids", pids),
            );
        }
        if service.lock == Lock::Required {
            entry.facts.lock_required = Some(service.name.clone());
        }
    }
}
