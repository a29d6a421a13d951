//! Repair: plan -> re-verify -> apply -> journal (`pidaudit fix`, `pidaudit undo`).
//!
//! [`plan::plan`] turns a judged [`crate::audit::Audit`] into a [`Plan`]: the actions it would take,
//! each with its class and the facts it was based on ([`Basis`]), and every pidfile it will not act
//! on with the reason ([`Refusal`]). Planning changes nothing.
//!
//! [`apply::remove`] performs one action, re-verifying everything the plan was based on through
//! held descriptors at the moment it acts (see its docs); anything changed skips the action with the
//! reason, never adapts it. [`journal`] records each change before and after it is made, under a
//! lock that keeps two runs from acting at once, and [`undo`] restores what a run removed.
//!
//! Stage 5, beside the commands: it consumes the judged audit (stage 4) and is driven by
//! `commands::fix` and `commands::undo`; reporters (stage 6) render its plan and results.

pub mod apply;
pub mod journal;
pub mod pin;
pub mod plan;
pub mod retrack;
pub mod safedir;
pub mod undo;

use crate::model::{Code, State};
use serde::Serialize;
use std::ffi::OsString;
use std::path::PathBuf;
use std::sync::Arc;

/// A directory as discovery holds it (`Entry::dir`): the one type, with [`open_dir`], that knows
/// how.
pub type DirHandle = Arc<crate::discover::Dir>;

/// A descriptor of the directory discovery saw (reopened relative to a held ancestor, each step
/// checked to be the same inode; never by path).
pub fn open_dir(dir: &DirHandle) -> Result<Arc<rustix::fd::OwnedFd>, rustix::io::Errno> {
    dir.open()
}

/// What an action does.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Kind {
    /// Unlink the pidfile.
    Remove,
    /// Rewrite the pidfile to name the live instance.
    Retrack,
    /// Stop a copy of the daemon: SIGTERM through a pidfd (SIGKILL after the timeout with
    /// `--kill`).
    Stop,
    /// Take group and other write permission away (`fchmod`), and give a file another user owns
    /// to root (`fchown`), through the descriptor.
    FixPermissions,
    /// Write the missing pidfile of a manifest entry whose single instance runs.
    Write,
}

impl Kind {
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Remove => "remove",
            Kind::Retrack => "retrack",
            Kind::Stop => "stop",
            Kind::FixPermissions => "fix-permissions",
            Kind::Write => "write",
        }
    }
}

/// How safe an action is: safe ones run with `--apply`, unsafe ones would need `--unsafe` too.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Class {
    Safe,
    Unsafe,
}

impl Class {
    pub fn as_str(self) -> &'static str {
        match self {
            Class::Safe => "safe",
            Class::Unsafe => "unsafe",
        }
    }
}

/// The `fstat` facts and the bytes of the file an action was planned on.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct FileBasis {
    pub dev: u64,
    pub ino: u64,
    pub size: u64,
    pub mtime: i64,
    pub mtime_nsec: u32,
    pub uid: u32,
    pub gid: u32,
    /// Permission bits.
    pub mode: u32,
    pub nlink: u64,
    /// The whole content (never shown for a file that is not world-readable).
    #[serde(skip)]
    pub content: Vec<u8>,
}

impl FileBasis {
    /// Whether the file's bytes may appear in a report (it is world-readable).
    pub fn shows_content(&self) -> bool {
        self.mode & 0o004 != 0
    }
}

/// What the process side of an action must still be when it is applied.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "expect", rename_all = "kebab-case")]
pub enum PidBasis {
    /// The file names no PID (empty, malformed, invalid): nothing to re-check.
    NoPid,
    /// No process has the PID (`pidfd_open` fails with ESRCH).
    Dead { pid: u32 },
    /// The PID belongs to the process (or thread) seen when planning, identified by its start
    /// time (clock ticks after boot), which is not the file's writer.
    Same { pid: u32, start_ticks: u64 },
}

/// A live process an action concerns, as it was seen when planning: pinned by a pidfd opened when
/// planning, and re-verified through its `/proc` entry before anything is done.
#[derive(Clone, Debug, Serialize)]
pub struct ProcBasis {
    pub pid: u32,
    /// Start time in clock ticks after boot.
    pub start_ticks: u64,
    pub comm: String,
    /// `/proc/PID/exe` as it read, escaped losslessly.
    pub exe: String,
    /// The link's raw bytes.
    #[serde(skip)]
    pub exe_raw: Vec<u8>,
    /// Real user ID.
    pub uid: u32,
    /// The pidfd opened when planning: a process that exits after the plan is never confused
    /// with one given its PID later, even within the same clock tick (`None`: opened at apply
    /// time).
    #[serde(skip)]
    pub pidfd: Option<Arc<rustix::fd::OwnedFd>>,
}

/// How a retrack's instance was found: only a lock proves it (a safe action).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum FoundBy {
    /// It holds the file's write lock through a write descriptor, as only the daemon could.
    Lock,
    /// It holds, that way, the lock of the file the path held before it was replaced.
    ReplacedLock,
    /// Its name, command line or the manifest's identity only.
    Name,
    Argv,
    Expectation,
}

/// The lock that proves a retrack's instance: held through descriptor `fd` on file `dev`/`ino`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct LockBasis {
    pub fd: i32,
    pub dev: u64,
    pub ino: u64,
}

/// What a retrack writes and how.
#[derive(Clone, Debug, Serialize)]
pub struct Retrack {
    pub instance: ProcBasis,
    pub found_by: FoundBy,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub lock: Option<LockBasis>,
    /// `in-place` when the instance holds the file's own lock (replacing the inode would drop
    /// it), else `rename` (a temporary file renamed over the pidfile).
    pub method: WriteMethod,
    /// The new content (`PID\n`).
    pub content: String,
}

/// The owner and permission bits a permissions fix leaves.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct Permissions {
    pub uid: u32,
    pub gid: u32,
    pub mode: u32,
}

/// How a pidfile is rewritten.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum WriteMethod {
    InPlace,
    Rename,
}

impl WriteMethod {
    pub fn as_str(self) -> &'static str {
        match self {
            WriteMethod::InPlace => "in-place",
            WriteMethod::Rename => "rename",
        }
    }
}

/// Everything an action was based on.
#[derive(Clone, Debug, Serialize)]
pub struct Basis {
    /// The pidfile acted on (none for stopping a process).
    pub file: Option<FileBasis>,
    pub pid: PidBasis,
    /// The state the audit judged.
    pub state: State,
    /// The finding that calls for the action.
    pub code: Code,
    /// Device and inode of the directory holding the file.
    pub dir_dev: u64,
    pub dir_ino: u64,
}

/// One planned action.
#[derive(Clone, Debug, Serialize)]
pub struct Action {
    pub kind: Kind,
    /// The pidfile acted on, or for a stop the pidfile whose finding calls for it, as shown to
    /// people (escaped losslessly).
    pub target: String,
    pub class: Class,
    /// Why, in one line.
    pub message: String,
    pub basis: Basis,
    /// A retrack's (or a write's) instance and new content.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub retrack: Option<Retrack>,
    /// The process a stop signals.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stop: Option<ProcBasis>,
    /// The owner and mode a permissions fix sets.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub permissions: Option<Permissions>,
    #[serde(skip)]
    pub path: PathBuf,
    /// The directory holding the file, as discovery holds it.
    #[serde(skip)]
    pub dir: DirHandle,
    /// The file's name in that directory.
    #[serde(skip)]
    pub name: OsString,
}

/// Why a pidfile is not acted on.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Reason {
    /// The file may have been written by someone other than root or the daemon (trust reasons).
    Untrusted,
    /// The truth could not be determined.
    UnknownState,
    /// The PID may live in another PID namespace.
    ForeignNamespace,
    /// A zombie: only its parent can reap it.
    Zombie,
    /// A live process holds a lock on the file (likely the real instance).
    Locked,
    /// The locks on the file could not be read.
    LocksUnknown,
    /// A symbolic link, a FIFO, a device, a directory or a missing file: never removed.
    NotARegularFile,
    /// Larger than a pidfile can be; the journal would not hold it whole.
    Oversize,
    /// The process table is not this system's live `/proc` (`--proc-root`): nothing can be
    /// re-verified.
    NotLive,
    /// No repair for these findings in this version.
    NoRepair,
    /// A supervisor's file (`supervise/pid`, `supervise/status`) or a copy under a supervisor:
    /// pidaudit never fights one (the advice names its control command: `svc -t`, `sv term`,
    /// `s6-svc -t`).
    Supervised,
    /// More than one process could be the instance: nothing is chosen on a guess.
    Ambiguous,
    /// The process a repair would concern cannot be pinned down (it exited, or its identity
    /// could not be read whole).
    ProcessUnknown,
}

impl Reason {
    pub fn as_str(self) -> &'static str {
        match self {
            Reason::Untrusted => "untrusted",
            Reason::UnknownState => "unknown-state",
            Reason::ForeignNamespace => "foreign-namespace",
            Reason::Zombie => "zombie",
            Reason::Locked => "locked",
            Reason::LocksUnknown => "locks-unknown",
            Reason::NotARegularFile => "not-a-regular-file",
            Reason::Oversize => "oversize",
            Reason::NotLive => "not-live",
            Reason::NoRepair => "no-repair",
            Reason::Supervised => "supervised",
            Reason::Ambiguous => "ambiguous",
            Reason::ProcessUnknown => "process-unknown",
        }
    }
}

/// A pidfile the plan does not act on, and why.
#[derive(Clone, Debug, Serialize)]
pub struct Refusal {
    pub target: String,
    pub state: State,
    pub reason: Reason,
    pub message: String,
    /// The findings shown about it.
    pub codes: Vec<Code>,
    /// Why it is untrusted (trust codes), when it is.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub trust_reasons: Vec<Code>,
    /// For a zombie: its parent, which must reap it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub parent: Option<ParentInfo>,
    /// For a locked file: the PIDs holding its locks.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub lock_holders: Vec<i32>,
    /// The process concerned, when the refusal is about one (a supervised copy).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pid: Option<i32>,
    /// What an operator can do instead (a supervisor's control command).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub advice: Option<String>,
}

/// A zombie's parent.
#[derive(Clone, Debug, Serialize)]
pub struct ParentInfo {
    pub pid: i32,
    pub comm: Option<String>,
}

/// What `pidaudit fix` would do.
#[derive(Clone, Debug, Default, Serialize)]
pub struct Plan {
    pub actions: Vec<Action>,
    pub refused: Vec<Refusal>,
}

/// How one applied action ended.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "status", rename_all = "kebab-case")]
pub enum Outcome {
    /// Done, and journaled.
    Done,
    /// Not done: something the plan was based on changed (or could not be re-checked).
    Skipped { reason: String },
    /// Begun but not completed: a stopped copy still runs after the timeout (the signal was sent).
    Incomplete { reason: String },
    /// Not attempted (an unsafe action without `--unsafe`, or the run was refused).
    NotRun { reason: String },
}

/// What a fresh audit found at a removed file's path after the apply.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case", tag = "now", content = "state")]
pub enum Recheck {
    /// Nothing: the removal holds.
    Absent,
    /// A file stands there again (a daemon started meanwhile), in this state.
    Present(State),
}
