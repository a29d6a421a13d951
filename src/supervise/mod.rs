//! Supervised services: what daemontools' `supervise`, runit's `runsv` and s6's `s6-supervise`
//! say about the service whose `supervise/` directory discovery found.
//!
//! A service directory `DIR` holds `DIR/supervise/` (runit on Debian links it to
//! `/run/runit/supervise/NAME`). Discovery audits one file per `supervise/` directory: runit's
//! text `pid` when it is there, else the binary `status` (daemontools, s6). [`read`] reads the rest
//! of the directory through the same descriptors and the same safe read as pidfiles (never a link,
//! never a FIFO: `control` and `ok` are FIFOs and are never opened): `status`, runit's `stat`, s6's
//! `death_tally` (not read beyond the safe read's 4 KiB, 292 records; s6 keeps 100 unless
//! configured otherwise), the
//! `fstat` facts of `lock` (the supervisor holds a lock on it for its whole life) and whether the
//! service directory has a `down` file (the service is normally down). The bytes are decoded by
//! [`status`], which does no I/O.

pub mod status;

pub use status::{
    parse_death_tally, parse_runit_stat, parse_status, Death, Phase, RunitStat, Status,
    StatusError, Supervisor,
};

use crate::discover::mounts;
use crate::pidfile::{FileFacts, FileKind, ReadOutcome};
use rustix::fd::AsFd;
use std::ffi::OsStr;
use std::path::{Path, PathBuf};

/// What could not be known from `supervise/status`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum StatusProblem {
    /// Not there, not a regular file, or unreadable: the operation and errno (or why).
    Unreadable(String),
    /// Read, but not a supervisor's status.
    Invalid(StatusError),
}

/// One supervised service, as its `supervise/` directory shows it.
#[derive(Clone, Debug)]
pub struct Supervision {
    /// Which supervisor, from the status file's size (runit too when a `pid` file is audited).
    pub supervisor: Option<Supervisor>,
    /// The `supervise/` directory, for people.
    pub supervise_dir: PathBuf,
    /// The service, as its control command takes it: the service directory, or runit's service
    /// name for `/run/runit/supervise/NAME` (`sv` finds it in `/etc/service`).
    pub service: PathBuf,
    pub status: Result<Status, StatusProblem>,
    /// runit's text `stat`, when there and well-formed.
    pub stat: Option<RunitStat>,
    /// The `lock` file the supervisor holds locked, when it is a regular file.
    pub lock: Option<FileFacts>,
    /// s6's recorded deaths (`death_tally`), oldest first; empty for other supervisors.
    pub deaths: Vec<Death>,
    /// `Some(false)` when the service directory has a `down` file (normally down); `None` when the
    /// service directory is not known (runit's `/run/runit/supervise/NAME`).
    pub normally_up: Option<bool>,
}

impl Supervision {
    /// The command that restarts the service through its supervisor (`svc -t DIR`, `sv term DIR`,
    /// `s6-svc -t DIR`): what repair and operators use instead of signalling the PID.
    pub fn term_command(&self) -> Option<String> {
        self.supervisor
            .map(|s| format!("{} {}", s.term_command(), self.service.display()))
    }

    /// The supervisor's status command for the same service.
    pub fn status_command(&self) -> Option<String> {
        self.supervisor
            .map(|s| format!("{} {}", s.status_command(), self.service.display()))
    }
}

/// Reads what the supervisor keeps in `supervise` (open as `dir`, shown as `path`) beside the
/// audited file `audited` (`pid` or `status`); `parent` is the service directory when `supervise`
/// is one's subdirectory.
pub fn read(
    dir: impl AsFd,
    path: &Path,
    audited: &OsStr,
    parent: Option<rustix::fd::BorrowedFd<'_>>,
) -> Supervision {
    let dir = dir.as_fd();
    let status = match crate::pidfile::read_at(dir, OsStr::new("status")) {
        ReadOutcome::Content { bytes, .. } => parse_status(&bytes).map_err(StatusProblem::Invalid),
        ReadOutcome::Vanished => Err(StatusProblem::Unreadable("no status file".into())),
        ReadOutcome::Error { op, errno } => {
            Err(StatusProblem::Unreadable(format!("cannot {op}: {errno}")))
        }
        ReadOutcome::NotAFile { facts, .. } | ReadOutcome::Symlink { facts, .. } => Err(
            StatusProblem::Unreadable(format!("a {}, not opened", facts.kind.describe())),
        ),
        ReadOutcome::Unstable { why, .. } => Err(StatusProblem::Unreadable(why.describe().into())),
    };
    let runit = audited == "pid";
    let supervisor = match &status {
        Ok(s) => Some(s.supervisor),
        Err(_) if runit => Some(Supervisor::Runit),
        Err(_) => None,
    };
    let stat = if supervisor == Some(Supervisor::Runit) {
        match crate::pidfile::read_at(dir, OsStr::new("stat")) {
            ReadOutcome::Content { bytes, .. } => parse_runit_stat(&bytes),
            _ => None,
        }
    } else {
        None
    };
    let deaths = if supervisor == Some(Supervisor::S6) {
        match crate::pidfile::read_at(dir, OsStr::new("death_tally")) {
            ReadOutcome::Content { bytes, facts } if facts.size == bytes.len() as u64 => {
                parse_death_tally(&bytes).unwrap_or_default()
            }
            _ => Vec::new(),
        }
    } else {
        Vec::new()
    };
    let lock = mounts::open_component(dir, OsStr::new("lock"))
        .ok()
        .map(|c| FileFacts::from_statx(&c.st))
        .filter(|f| f.kind == FileKind::Regular);
    let named_supervise = path.file_name().is_some_and(|n| n == "supervise");
    let normally_up =
        parent.filter(|_| named_supervise).and_then(|p| {
            match mounts::open_component(p, OsStr::new("down")) {
                Ok(_) => Some(false),
                Err(rustix::io::Errno::NOENT) => Some(true),
                Err(_) => None,
            }
        });
    let service = if named_supervise {
        path.parent().map(Path::to_path_buf).unwrap_or_default()
    } else {
        // /run/runit/supervise/NAME: the service NAME.
        PathBuf::from(path.file_name().unwrap_or_default())
    };
    Supervision {
        supervisor,
        supervise_dir: path.to_path_buf(),
        service,
        status,
        stat,
        deaths,
        lock,
        normally_up,
    }
}
