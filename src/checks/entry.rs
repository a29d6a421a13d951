//! One pidfile as it moves through the checks: what was read, the facts each check records, and
//! the findings they add. Its state is never written by a check: [`Entry::state`] derives it from
//! the facts by the rules of [`super::resolve`].

use super::resolve;
use crate::discover::Candidate;
use crate::model::{Code, Finding, State};
use crate::pidfile::{FileFacts, Parsed, ReadOutcome};
use crate::system::holders::FileLocks;
use crate::system::Process;
use std::ffi::OsString;
use std::path::PathBuf;
use std::sync::Arc;

/// What the file showed when it holds no PID to judge (recorded by the content check).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FileFact {
    /// A FIFO, socket, device, directory, or a symlink that was not followed.
    NotAFile,
    /// Nothing at the path.
    Missing,
    /// Opening or reading failed.
    Unreadable,
    /// The file kept changing (or stayed freshly emptied) while it was read.
    Unstable,
    /// Read, but empty, malformed or an invalid PID.
    NoPid,
    /// A supervised service's status names no process: it is down (see `supervise`).
    Down,
}

/// What the process table showed for the recorded PID (recorded by the liveness check).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ProcessFact {
    /// No process has the PID (confirmed).
    Absent,
    /// The kernel has the PID but `/proc` hides it (hidepid).
    Hidden,
    /// The process could not be examined.
    Unexaminable,
    /// The PID is a thread of process `tgid`, not a thread-group leader.
    Thread { tgid: i32 },
    /// The PID is a kernel thread.
    KernelThread,
    /// The process is a zombie.
    Zombie,
    /// The thread-group leader has exited (its state is `Z`), but `threads` other threads keep the
    /// process running.
    LeaderExited { threads: u32 },
    /// A live process that started after the file was last written.
    StartedAfterWrite,
    /// A live process that could have written the file.
    Alive,
}

/// What one PID of a file that lists several is (recorded by the liveness check).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PidVerdict {
    Running,
    /// No process has it.
    Stale,
    Zombie,
    /// A process has it that started after the file was written.
    Reused,
    /// `/proc` hides it (hidepid).
    Hidden,
    /// It could not be examined.
    Unknown,
    /// A thread, not a process.
    Thread,
    KernelThread,
}

impl PidVerdict {
    /// A stable snake_case name.
    pub fn as_str(self) -> &'static str {
        match self {
            PidVerdict::Running => "running",
            PidVerdict::Stale => "stale",
            PidVerdict::Zombie => "zombie",
            PidVerdict::Reused => "reused",
            PidVerdict::Hidden => "hidden",
            PidVerdict::Unknown => "unknown",
            PidVerdict::Thread => "thread",
            PidVerdict::KernelThread => "kernel_thread",
        }
    }
}

/// One PID of a file that lists several, and what it is.
#[derive(Clone, Debug)]
pub struct ListedPid {
    pub pid: u32,
    pub verdict: PidVerdict,
    /// The comm of the process that has it, when one does.
    pub comm: Option<String>,
}

/// The facts the checks record about a pidfile; [`super::resolve`] derives the state from them.
#[derive(Clone, Debug, Default)]
pub struct Facts {
    /// Set by `content` when the file holds no PID to judge.
    pub file: Option<FileFact>,
    /// Set by `liveness` for the PID the file holds.
    pub process: Option<ProcessFact>,
    /// Set by `target`: the PID is 1 and the process is the init system, not the file's daemon.
    pub targets_init: bool,
    /// Set by `locks`: the recorded process itself holds a lock on the file.
    pub own_lock: bool,
    /// Set by `trust`: the PID may belong to another PID namespace than the one `/proc` shows (it is
    /// absent here, or names init or a kernel thread here while a nested namespace's process that
    /// could have written the file has it there).
    pub foreign_namespace: bool,
    /// Set by `expect`: the manifest service (named) requires the daemon to lock its pidfile.
    pub lock_required: Option<String>,
}

/// One pidfile as it moves through the checks.
#[derive(Debug)]
pub struct Entry {
    pub path: PathBuf,
    pub name: OsString,
    pub explicit: bool,
    pub read: ReadOutcome,
    pub parsed: Option<Parsed>,
    /// The valid PID the file names (of a file listing several, the first that runs, else the
    /// first).
    pub pid: Option<u32>,
    /// Every PID of a file that lists several, each judged; empty otherwise.
    pub listed: Vec<ListedPid>,
    /// The live process with that PID.
    pub process: Option<Arc<Process>>,
    /// What the checks established; the state is derived from it.
    pub facts: Facts,
    pub findings: Vec<Finding>,
    /// The locks on the file and their resolved holders (regular files, when `/proc/locks` was read).
    pub lock: Option<FileLocks>,
    /// The directory that holds the pidfile, reopened on demand (the trust check walks up from it;
    /// repairs act relative to it); `None` when it does not exist.
    pub dir: Option<Arc<crate::discover::Dir>>,
    /// Whether repairs may act on this pidfile (set by the trust check).
    pub trusted: bool,
    /// The supervised service this file belongs to (a `supervise/pid` or `supervise/status`):
    /// what its supervisor's files say. Repair never acts on such a file; the supervisor's control
    /// command does ([`crate::supervise::Supervision::term_command`]).
    pub supervision: Option<Arc<crate::supervise::Supervision>>,
    /// The systemd unit whose `PIDFile=` names this file.
    pub unit: Option<Arc<crate::units::Unit>>,
    /// What the supervisor check found out about the service (set by `supervised`).
    pub service: Option<Box<super::supervised::ServiceFacts>>,
    /// The codes that make it untrusted.
    pub trust_reasons: Vec<Code>,
}

impl Entry {
    pub fn new(candidate: &Candidate, read: ReadOutcome) -> Entry {
        Entry::blank(
            candidate.path.clone(),
            candidate.name.clone(),
            candidate.explicit,
            read,
            Some(Arc::clone(&candidate.dir)),
        )
    }

    /// A file named explicitly whose directory does not exist.
    pub fn missing(path: &std::path::Path) -> Entry {
        let name = path.file_name().unwrap_or_default().to_os_string();
        Entry::blank(path.to_path_buf(), name, true, ReadOutcome::Vanished, None)
    }

    fn blank(
        path: PathBuf,
        name: OsString,
        explicit: bool,
        read: ReadOutcome,
        dir: Option<Arc<crate::discover::Dir>>,
    ) -> Entry {
        Entry {
            path,
            name,
            explicit,
            read,
            parsed: None,
            pid: None,
            listed: Vec::new(),
            process: None,
            facts: Facts::default(),
            findings: Vec::new(),
            lock: None,
            dir,
            trusted: false,
            trust_reasons: Vec::new(),
            supervision: None,
            unit: None,
            service: None,
        }
    }

    /// The subject of the findings about this pidfile: its path, escaped losslessly (see
    /// [`crate::model::text::path`]).
    pub fn subject(&self) -> String {
        crate::model::text::path(&self.path)
    }

    /// The state the facts recorded so far support (see [`super::resolve`]).
    pub fn state(&self) -> State {
        resolve::state(&self.facts)
    }

    /// The process whose thread the PID is, when it names a thread.
    pub fn thread_of(&self) -> Option<i32> {
        match self.facts.process {
            Some(ProcessFact::Thread { tgid }) => Some(tgid),
            _ => None,
        }
    }

    /// Whether a finding with this code is on the entry.
    pub fn has(&self, code: Code) -> bool {
        self.findings.iter().any(|f| f.code == code)
    }

    /// The `fstat` facts of the file whose content is judged (a symlink's target when it was read
    /// through a safe chain, else what stands at the path), when it could be examined.
    pub fn facts(&self) -> Option<&FileFacts> {
        if let ReadOutcome::Symlink {
            chase: crate::pidfile::Chase::Followed { outcome, .. },
            ..
        } = &self.read
        {
            if let ReadOutcome::Content { facts, .. } | ReadOutcome::Unstable { facts, .. } =
                &**outcome
            {
                return Some(facts);
            }
        }
        match &self.read {
            ReadOutcome::Content { facts, .. }
            | ReadOutcome::NotAFile { facts, .. }
            | ReadOutcome::Symlink { facts, .. }
            | ReadOutcome::Unstable { facts, .. } => Some(facts),
            ReadOutcome::Vanished | ReadOutcome::Error { .. } => None,
        }
    }
}
