//! Planning: a judged audit -> the actions `fix` would take and what it refuses, with the reasons.
//! Planning reads nothing that the audit did not already hold (a thread's start time aside) and
//! changes nothing.
//!
//! A pidfile is removed (safe) when its state is `stale`, `reused` or `invalid` (empty, malformed,
//! an invalid PID, init, a kernel thread or a thread: never `unknown`, which covers a file caught
//! mid-write), the finding that calls for it is shown (`--select`/`--ignore`), the file is a
//! trusted regular file of at most [`READ_CAP`] bytes, the process table is this system's live
//! `/proc`, the lock table was read and no process holds a lock on the file, and no instance of
//! the daemon was found running elsewhere (that calls for retracking or stopping a copy, which this
//! version does not do). Everything else with a finding worth acting on is refused with the reason.

use super::{
    Action, Basis, Class, DirHandle, FileBasis, Kind, ParentInfo, PidBasis, Plan, Reason, Refusal,
};
use crate::audit::Audit;
use crate::checks::{content, instances, liveness, target, Entry};
use crate::model::{Code, Severity, State};
use crate::pidfile::{ReadOutcome, READ_CAP};

/// The findings that call for removing the file, in the order one is named as the reason.
const REMOVE_CODES: &[Code] = &[
    liveness::STALE,
    liveness::PID_REUSED,
    content::EMPTY,
    content::MALFORMED,
    content::INVALID_PID,
    target::TARGETS_INIT,
    target::KERNEL_THREAD,
    target::THREAD_ID,
    liveness::PREVIOUS_BOOT,
];

/// The repair `pidaudit fix` offers for findings with this code, for `pidaudit explain`.
pub fn repair(code: Code) -> Option<&'static str> {
    REMOVE_CODES.contains(&code).then_some(
        "`pidaudit fix` plans removing the file (a safe action; `pidaudit fix --apply` performs it, \
         `pidaudit undo` restores it from the journal) when the file is trusted, a regular file, \
         not judged `unknown`, and no process holds a lock on it; at the moment of removal it \
         re-verifies the file's identity, content and lock and that the PID is still dead or \
         still the same process.",
    )
}

/// Findings that mean the daemon runs somewhere the file does not say: removing the file is not
/// the repair.
const INSTANCE_CODES: &[Code] = &[
    instances::ORPHANED_INSTANCE,
    instances::DUPLICATE_INSTANCE,
    instances::ORPHANED_WORKER,
];

/// What the plan does with one pidfile.
enum Decision {
    Act(Action),
    Refuse(Refusal),
}

/// The directory an entry's file is in. The one place the plan reads `Entry::dir`.
fn dir_of(entry: &Entry) -> Option<DirHandle> {
    entry.dir.clone()
}

/// Plans the repairs of an audit.
pub fn plan(audit: &Audit) -> Plan {
    let mut plan = Plan::default();
    for entry in &audit.entries {
        match one(audit, entry) {
            Some(Decision::Act(action)) => plan.actions.push(action),
            Some(Decision::Refuse(refusal)) => plan.refused.push(refusal),
            None => {}
        }
    }
    plan
}

fn refusal(entry: &Entry, codes: &[Code], reason: Reason, message: impl Into<String>) -> Refusal {
    Refusal {
        target: entry.subject(),
        state: entry.state(),
        reason,
        message: message.into(),
        codes: codes.to_vec(),
        trust_reasons: Vec::new(),
        parent: None,
        lock_holders: Vec::new(),
    }
}

/// The action or refusal for one pidfile; `None` when there is nothing to do.
fn one(audit: &Audit, entry: &Entry) -> Option<Decision> {
    let shown: Vec<&crate::model::Finding> = audit.shown(&entry.findings).collect();
    if shown.is_empty() {
        return None;
    }
    let codes: Vec<Code> = shown.iter().map(|f| f.code).collect();
    let state = entry.state();
    let refuse = |reason, msg: String| Some(Decision::Refuse(refusal(entry, &codes, reason, msg)));
    // A supervisor's file is the supervisor's: it is restarted through its control command.
    if let Some(sv) = &entry.supervision {
        if shown.iter().all(|f| f.severity == Severity::Info) {
            return None;
        }
        let gone = entry
            .service
            .as_ref()
            .is_some_and(|f| f.supervisor_alive == Some(false));
        let how = match sv.term_command() {
            _ if gone => "; its supervisor is not running: start it again".to_string(),
            Some(c) => format!("; restart the service with `{c}`"),
            None => String::new(),
        };
        return refuse(
            Reason::Supervised,
            format!("a supervisor's file: only the supervisor writes or removes it{how}"),
        );
    }
    match state {
        State::Running => {
            if shown.iter().all(|f| f.severity == Severity::Info) {
                return None;
            }
            let names: Vec<&str> = codes.iter().map(|c| c.as_str()).collect();
            return refuse(
                Reason::NoRepair,
                format!("no repair for {} in this version", names.join(", ")),
            );
        }
        State::Zombie => {
            let process = entry.process.as_ref();
            let parent = process.map(|p| ParentInfo {
                pid: p.stat.ppid,
                comm: audit
                    .snapshot
                    .get(p.stat.ppid)
                    .map(|pp| pp.stat.comm.clone()),
            });
            let msg = match &parent {
                Some(p) => format!(
                    "PID {} is a zombie: only its parent {} ({}) can reap it; fix or restart the parent",
                    entry.pid.unwrap_or(0),
                    p.pid,
                    p.comm.as_deref().unwrap_or("?")
                ),
                None => "the PID is a zombie: only its parent can reap it".into(),
            };
            let mut r = refusal(entry, &codes, Reason::Zombie, msg);
            r.parent = parent;
            return Some(Decision::Refuse(r));
        }
        State::Unknown if entry.facts.foreign_namespace => {
            return refuse(
                Reason::ForeignNamespace,
                "the PID may belong to another PID namespace: its process cannot be judged from here"
                    .into(),
            );
        }
        State::Unknown | State::Unreadable => {
            return refuse(
                Reason::UnknownState,
                "the file's state could not be determined: nothing is done on a guess".into(),
            );
        }
        State::NotAFile | State::Missing | State::Down => {
            return refuse(
                Reason::NotARegularFile,
                format!("{}: only regular files are repaired", state.as_str()),
            );
        }
        State::Stale | State::Reused | State::Invalid => {}
    }
    let Some(code) = REMOVE_CODES.iter().copied().find(|c| codes.contains(c)) else {
        let names: Vec<&str> = codes.iter().map(|c| c.as_str()).collect();
        return refuse(
            Reason::NoRepair,
            format!("no repair for {} in this version", names.join(", ")),
        );
    };
    Some(remove(audit, entry, code, &codes))
}

/// The remove action for a stale, reused or invalid pidfile, or why it is refused.
fn remove(audit: &Audit, entry: &Entry, code: Code, codes: &[Code]) -> Decision {
    let refuse = |reason, msg: String| Decision::Refuse(refusal(entry, codes, reason, msg));
    if !entry.trusted {
        let names: Vec<&str> = entry.trust_reasons.iter().map(|c| c.as_str()).collect();
        let mut r = refusal(
            entry,
            codes,
            Reason::Untrusted,
            if names.is_empty() {
                "untrusted: its owner, mode or path could not be verified".to_string()
            } else {
                format!(
                    "untrusted ({}): someone other than root or the daemon may have written it",
                    names.join(", ")
                )
            },
        );
        r.trust_reasons = entry.trust_reasons.clone();
        return Decision::Refuse(r);
    }
    let (facts, bytes) = match &entry.read {
        ReadOutcome::Content { facts, bytes } => (*facts, bytes),
        _ => {
            return refuse(
                Reason::NotARegularFile,
                "not a regular file read at its path (a symbolic link is never removed)".into(),
            )
        }
    };
    if facts.size > READ_CAP as u64 || bytes.len() as u64 != facts.size {
        return refuse(
            Reason::Oversize,
            format!(
                "{} bytes: larger than any pidfile, and more than the journal keeps ({READ_CAP})",
                facts.size
            ),
        );
    }
    if !audit.snapshot.live {
        return refuse(
            Reason::NotLive,
            format!(
                "{} is not this system's live /proc: the PID cannot be re-verified",
                audit.snapshot.proc_root.display()
            ),
        );
    }
    match &entry.lock {
        None => {
            return refuse(
                Reason::LocksUnknown,
                "the lock table could not be read: a live instance may hold the file's lock".into(),
            )
        }
        Some(fl) if fl.locked() => {
            let holders: Vec<i32> = fl.holders().iter().map(|h| h.pid()).collect();
            let list: Vec<String> = holders
                .iter()
                .map(|p| {
                    let comm = audit.snapshot.get(*p).map(|x| x.stat.comm.as_str());
                    format!("{p} ({})", comm.unwrap_or("?"))
                })
                .collect();
            let mut r = refusal(
                entry,
                codes,
                Reason::Locked,
                if list.is_empty() {
                    "a process holds a lock on the file: it is likely the real instance".into()
                } else {
                    format!(
                        "locked by {}: likely the real instance, whose single-instance guard the file is",
                        list.join(", ")
                    )
                },
            );
            r.lock_holders = holders;
            return Decision::Refuse(r);
        }
        Some(_) => {}
    }
    if let Some(c) = INSTANCE_CODES.iter().find(|c| codes.contains(c)) {
        return refuse(
            Reason::NoRepair,
            format!(
                "{}: the daemon runs elsewhere; retracking or stopping a copy is not in this version",
                c.as_str()
            ),
        );
    }
    let pid = match pid_basis(audit, entry) {
        Ok(p) => p,
        Err(msg) => return refuse(Reason::UnknownState, msg),
    };
    let Some(dir) = dir_of(entry) else {
        return refuse(Reason::NotARegularFile, "its directory is not open".into());
    };
    let dst = match super::open_dir(&dir).and_then(rustix::fs::fstat) {
        Ok(st) => st,
        Err(e) => return refuse(Reason::UnknownState, format!("directory: fstat: {e}")),
    };
    let message = shown_message(entry, code);
    Decision::Act(Action {
        kind: Kind::Remove,
        target: entry.subject(),
        class: Class::Safe,
        message,
        basis: Basis {
            file: FileBasis {
                dev: facts.dev,
                ino: facts.ino,
                size: facts.size,
                mtime: facts.mtime,
                mtime_nsec: facts.mtime_nsec,
                uid: facts.uid,
                gid: facts.gid,
                mode: facts.mode,
                nlink: facts.nlink,
                content: bytes.clone(),
            },
            pid,
            state: entry.state(),
            code,
            dir_dev: dst.st_dev as u64,
            dir_ino: dst.st_ino as u64,
        },
        path: entry.path.clone(),
        dir,
        name: entry.name.clone(),
    })
}

/// The finding's own message, or the code's summary.
fn shown_message(entry: &Entry, code: Code) -> String {
    entry
        .findings
        .iter()
        .find(|f| f.code == code)
        .map(|f| format!("{}: {}", code.as_str(), f.message))
        .unwrap_or_else(|| format!("{}: {}", code.as_str(), code.doc().summary))
}

/// What the PID must still be when the removal is applied.
fn pid_basis(audit: &Audit, entry: &Entry) -> Result<PidBasis, String> {
    let Some(pid) = entry.pid else {
        return Ok(PidBasis::NoPid);
    };
    if entry.state() == State::Stale {
        return Ok(PidBasis::Dead { pid });
    }
    if let Some(p) = entry.process.as_ref().filter(|p| p.pid() as u32 == pid) {
        return Ok(PidBasis::Same {
            pid,
            start_ticks: p.stat.starttime,
        });
    }
    // A thread ID: not in the snapshot (which lists thread-group leaders); its start time now.
    match start_ticks(audit, pid) {
        Ok(start_ticks) => Ok(PidBasis::Same { pid, start_ticks }),
        Err(e) => Err(format!("PID {pid}: cannot read its start time: {e}")),
    }
}

/// The start time (clock ticks after boot) of the process or thread `pid`, read now.
pub fn start_ticks(audit: &Audit, pid: u32) -> Result<u64, rustix::io::Errno> {
    let proc = audit.snapshot.proc_dir().ok_or(rustix::io::Errno::NOENT)?;
    super::apply::read_start_ticks(proc, pid)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every code the plan removes files for has a repair text naming the command; others none.
    #[test]
    fn repairs_are_documented() {
        for c in crate::checks::catalogue() {
            match repair(c) {
                Some(t) => assert!(REMOVE_CODES.contains(&c) && t.contains("pidaudit fix")),
                None => assert!(!REMOVE_CODES.contains(&c), "{}", c.as_str()),
            }
        }
        assert!(repair(liveness::STALE).is_some() && repair(liveness::ZOMBIE).is_none());
    }
}
