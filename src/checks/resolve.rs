//! Resolution: the one place a pidfile's state is decided, and where one check's fact outweighs
//! another check's finding. Checks only record facts ([`Facts`]) and add findings; the state is
//! derived from the facts, and after every check has run [`finish`] applies the rules below.
//!
//! | rule | when | then |
//! |---|---|---|
//! | file | the content check found no PID to judge | not-a-file, missing, unreadable, unknown (unstable) or invalid; down when a supervisor's status says the service is down |
//! | process | the file holds a PID (of a file listing several, the first that runs, else the first) | from the process table: stale (absent), unknown (hidden, unexaminable), invalid (thread, kernel thread), zombie, reused (started after the write), running |
//! | leader-exited | the main thread exited (state `Z`) but other threads live | running |
//! | targets-init | PID 1 is the init system, not the file's daemon | invalid |
//! | own-lock | reused, and the recorded process holds the file's lock | running; `pid-reused` is withdrawn |
//! | foreign-namespace | stale, or naming init or a kernel thread here, and the PID may live in another PID namespace | unknown; `stale`, `listed-pid-not-running`, `targets-init`, `kernel-thread` are withdrawn (`foreign-namespace` says why) |
//! | lock-required | the manifest requires the lock | `unlocked` is raised to error |
//! | double-managed | a supervised daemon runs more copies outside its supervisor | `duplicate-instance` is withdrawn (`double-managed` says it) |
//!
//! The table is the contract; `ARCHITECTURE.md` repeats it.

use super::entry::{Entry, Facts, FileFact, ProcessFact};
use super::instances::DUPLICATE_INSTANCE;
use super::liveness::{LISTED_PID_NOT_RUNNING, PID_REUSED, STALE};
use super::locks::UNLOCKED;
use super::supervised::DOUBLE_MANAGED;
use super::target::{KERNEL_THREAD, TARGETS_INIT};
use crate::model::{Severity, State};

/// The state the facts support.
pub fn state(f: &Facts) -> State {
    if let Some(file) = f.file {
        return match file {
            FileFact::NotAFile => State::NotAFile,
            FileFact::Missing => State::Missing,
            FileFact::Unreadable => State::Unreadable,
            FileFact::Unstable => State::Unknown,
            FileFact::NoPid => State::Invalid,
            FileFact::Down => State::Down,
        };
    }
    if f.targets_init {
        return if f.foreign_namespace {
            State::Unknown
        } else {
            State::Invalid
        };
    }
    match f.process {
        None => State::Unknown,
        Some(ProcessFact::Absent) if f.foreign_namespace => State::Unknown,
        Some(ProcessFact::Absent) => State::Stale,
        Some(ProcessFact::Hidden | ProcessFact::Unexaminable) => State::Unknown,
        Some(ProcessFact::KernelThread) if f.foreign_namespace => State::Unknown,
        Some(ProcessFact::Thread { .. } | ProcessFact::KernelThread) => State::Invalid,
        Some(ProcessFact::Zombie) => State::Zombie,
        Some(ProcessFact::LeaderExited { .. }) => State::Running,
        Some(ProcessFact::StartedAfterWrite) if f.own_lock => State::Running,
        Some(ProcessFact::StartedAfterWrite) => State::Reused,
        Some(ProcessFact::Alive) => State::Running,
    }
}

/// Applies the rules that withdraw or raise findings, once every check has run.
pub fn finish(entry: &mut Entry) {
    let f = &entry.facts;
    let own_lock = f.own_lock && f.process == Some(ProcessFact::StartedAfterWrite);
    let foreign = f.foreign_namespace;
    let lock_required = f.lock_required.clone();
    let foreign_codes = [STALE, LISTED_PID_NOT_RUNNING, TARGETS_INIT, KERNEL_THREAD];
    let double = entry.has(DOUBLE_MANAGED);
    entry.findings.retain(|x| {
        !((own_lock && x.code == PID_REUSED)
            || (foreign && foreign_codes.contains(&x.code))
            || (double && x.code == DUPLICATE_INSTANCE))
    });
    if let Some(service) = lock_required {
        for x in entry.findings.iter_mut().filter(|x| x.code == UNLOCKED) {
            x.severity = Severity::Error;
            x.evidence.insert("lock", "required".into());
            x.evidence.insert("service", service.clone().into());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn facts(process: ProcessFact) -> Facts {
        Facts {
            process: Some(process),
            ..Facts::default()
        }
    }

    /// Every row of the table: file facts first, init, then the process facts and their overrides.
    #[test]
    fn table() {
        let mut f = facts(ProcessFact::Alive);
        assert_eq!(state(&f), State::Running);
        f.file = Some(FileFact::NoPid);
        assert_eq!(state(&f), State::Invalid);
        let mut f = facts(ProcessFact::Alive);
        f.targets_init = true;
        assert_eq!(state(&f), State::Invalid);
        let mut f = facts(ProcessFact::StartedAfterWrite);
        assert_eq!(state(&f), State::Reused);
        f.own_lock = true;
        assert_eq!(state(&f), State::Running);
        let mut f = facts(ProcessFact::Absent);
        assert_eq!(state(&f), State::Stale);
        f.foreign_namespace = true;
        assert_eq!(state(&f), State::Unknown);
        let mut f = facts(ProcessFact::Alive);
        f.targets_init = true;
        f.foreign_namespace = true;
        assert_eq!(state(&f), State::Unknown);
        let mut f = facts(ProcessFact::KernelThread);
        assert_eq!(state(&f), State::Invalid);
        f.foreign_namespace = true;
        assert_eq!(state(&f), State::Unknown);
        assert_eq!(state(&facts(ProcessFact::Zombie)), State::Zombie);
        assert_eq!(
            state(&facts(ProcessFact::LeaderExited { threads: 2 })),
            State::Running
        );
        assert_eq!(state(&facts(ProcessFact::Hidden)), State::Unknown);
        assert_eq!(
            state(&facts(ProcessFact::Thread { tgid: 4 })),
            State::Invalid
        );
        assert_eq!(state(&Facts::default()), State::Unknown);
    }

    /// The withdrawing and raising rules act on the findings they name and leave the others alone.
    #[test]
    fn finish_withdraws_and_raises() {
        use crate::model::Finding;
        let mut e = Entry::missing(std::path::Path::new("/run/a.pid"));
        e.facts = facts(ProcessFact::StartedAfterWrite);
        e.facts.own_lock = true;
        e.facts.lock_required = Some("a".into());
        e.findings = vec![
            Finding::new(PID_REUSED, "/run/a.pid", "younger"),
            Finding::new(UNLOCKED, "/run/a.pid", "no lock"),
            Finding::new(STALE, "/run/a.pid", "gone"),
        ];
        finish(&mut e);
        let codes: Vec<_> = e.findings.iter().map(|f| (f.code, f.severity)).collect();
        assert_eq!(
            codes,
            [(UNLOCKED, Severity::Error), (STALE, Severity::Warning)]
        );
        assert_eq!(e.findings[0].evidence["service"], "a");
        e.facts = facts(ProcessFact::Absent);
        e.facts.foreign_namespace = true;
        finish(&mut e);
        assert_eq!(e.findings.len(), 1);
        assert_eq!(e.state(), State::Unknown);
    }
}
