//! Facts read lazily about one process, in three groups that are read separately: the executable
//! (`exe` link and the file it names), `status` (uids, namespaces) and `cmdline`. A check that only
//! needs the executable does not pay for the others.
//!
//! Every read goes through a descriptor of `/proc/PID` whose `stat` start time is first checked
//! against the snapshot, so a PID reused meanwhile is never mistaken for the process seen before.
//! That check costs as much as a group, so when the other groups will very likely be needed they are
//! read in the same pass: when the report shows them all (`Snapshot::set_eager`: `--verbose`), or
//! when the process shares its `comm` with another process (then instance checks compare
//! identities: executable, arguments and uid).
//!
//! The executable's link alone is also read without that check ([`Snapshot::exe_link`]), for the
//! common case where it shows nothing to report.

use super::{parse_stat, parse_status, read_whole_at, Process, Snapshot, Status, PROC_READ_CAP};
use rustix::fs::{Mode, OFlags};
use std::ffi::OsString;
use std::os::unix::ffi::OsStringExt;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

/// The groups read so far about one process.
#[derive(Debug, Default)]
pub struct Lazy {
    exe: OnceLock<Exe>,
    status: OnceLock<Option<Status>>,
    cmdline: OnceLock<Option<Vec<String>>>,
    /// `/proc/PID/exe` read without the start-time check ([`Snapshot::exe_link`]).
    link: OnceLock<Option<PathBuf>>,
}

/// The executable a process runs.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Exe {
    /// `/proc/PID/exe` (ends with ` (deleted)` when the file was removed or replaced on disk).
    pub path: Option<PathBuf>,
    /// Device and inode of the executable the process runs (even when deleted from disk).
    pub id: Option<(u64, u64)>,
}

const EXE: u8 = 1;
const STATUS: u8 = 2;
const CMDLINE: u8 = 4;
const ALL: u8 = EXE | STATUS | CMDLINE;

/// What has been read about a process (`None` where a group was not read, or could not be).
#[derive(Clone, Copy, Debug, Default)]
pub struct Details<'p> {
    pub status: Option<&'p Status>,
    /// The executable's path, as `/proc/PID/exe` shows it.
    pub exe: Option<&'p Path>,
    /// Device and inode of the executable the process runs (even when deleted from disk).
    pub exe_id: Option<(u64, u64)>,
    pub cmdline: Option<&'p [String]>,
}

impl Details<'_> {
    pub fn uid(&self) -> Option<u32> {
        self.status.and_then(Status::uid)
    }

    /// `/proc/PID/exe` ends with ` (deleted)` when the executable was removed or replaced on disk.
    pub fn exe_deleted(&self) -> bool {
        self.exe
            .is_some_and(|p| p.as_os_str().as_encoded_bytes().ends_with(b" (deleted)"))
    }
}

impl Lazy {
    fn has(&self) -> u8 {
        (if self.exe.get().is_some() { EXE } else { 0 })
            | (if self.status.get().is_some() {
                STATUS
            } else {
                0
            })
            | (if self.cmdline.get().is_some() {
                CMDLINE
            } else {
                0
            })
    }

    /// The groups read so far.
    pub fn view(&self) -> Details<'_> {
        let exe = self.exe.get();
        Details {
            status: self.status.get().and_then(Option::as_ref),
            exe: match exe {
                Some(e) => e.path.as_deref(),
                None => self.link.get().and_then(Option::as_deref),
            },
            exe_id: exe.and_then(|e| e.id),
            cmdline: self.cmdline.get().and_then(|c| c.as_deref()),
        }
    }
}

/// Splits `/proc/PID/cmdline` into its arguments (NUL-separated; empty ones dropped). Pure.
pub fn parse_cmdline(bytes: &[u8]) -> Vec<String> {
    bytes
        .split(|&c| c == 0)
        .filter(|s| !s.is_empty())
        .map(|s| String::from_utf8_lossy(s).into_owned())
        .collect()
}

#[cfg(test)]
impl Lazy {
    /// Every group already read, with these values: how an in-memory snapshot ([`super::fake`])
    /// hands a process's details to the code that reads them, which then never opens `/proc`.
    pub(super) fn read(exe: Exe, status: Option<Status>, cmdline: Option<Vec<String>>) -> Lazy {
        let lazy = Lazy::default();
        let _ = lazy.exe.set(exe);
        let _ = lazy.status.set(status);
        let _ = lazy.cmdline.set(cmdline);
        lazy
    }
}

impl Process {
    /// What checks have read about this process so far (nothing is read here).
    pub fn details_if_read(&self) -> Details<'_> {
        self.lazy.view()
    }
}

impl Snapshot {
    /// Every group of details of a process (exe, status, cmdline), read on first use.
    pub fn details<'p>(&self, process: &'p Process) -> Details<'p> {
        self.fill(process, ALL);
        process.lazy.view()
    }

    /// The executable of a process, read on first use.
    pub fn exe<'p>(&self, process: &'p Process) -> &'p Exe {
        self.fill(process, EXE);
        process.lazy.exe.get_or_init(Exe::default)
    }

    /// The path `/proc/PID/exe` shows for a process, read on first use with one `readlinkat` and no
    /// start-time check, unless the verified executable was read already.
    ///
    /// Unverified: if the process ended and its PID was reused since the snapshot, this is another
    /// process's executable. Use it only to decide that nothing needs reporting (the link does not
    /// end with ` (deleted)`); anything a finding states or a repair acts on must come from
    /// [`Snapshot::exe`]. A wrong answer here can only hide a finding about a process that no longer
    /// exists, which the next run reports as stale.
    pub fn exe_link<'p>(&self, process: &'p Process) -> Option<&'p Path> {
        let lazy = &process.lazy;
        if let Some(exe) = lazy.exe.get() {
            return exe.path.as_deref();
        }
        lazy.link
            .get_or_init(|| {
                let proc = self.proc_dir()?;
                let path = format!("{}/exe", process.stat.pid);
                rustix::fs::readlinkat(proc, path.as_str(), Vec::new())
                    .ok()
                    .map(|t| PathBuf::from(OsString::from_vec(t.into_bytes())))
            })
            .as_deref()
    }

    /// `/proc/PID/status` of a process, read on first use.
    pub fn status<'p>(&self, process: &'p Process) -> Option<&'p Status> {
        self.fill(process, STATUS);
        process.lazy.status.get_or_init(|| None).as_ref()
    }

    /// Reads the groups of `want` not read yet (and the others too when they will likely be needed;
    /// see the module docs), through one verified descriptor of `/proc/PID`.
    fn fill(&self, process: &Process, want: u8) {
        let lazy = &process.lazy;
        let has = lazy.has();
        if has & want == want {
            return;
        }
        let shared_comm = || self.tree().with_comm(&process.stat.comm).len() > 1;
        let read = if self.eager() || shared_comm() {
            ALL & !has
        } else {
            want & !has
        };
        let Some(dir) = self.verified_dir(process) else {
            // Gone (or its PID reused): nothing can be read about it any more.
            if read & EXE != 0 {
                let _ = lazy.exe.set(Exe::default());
            }
            if read & STATUS != 0 {
                let _ = lazy.status.set(None);
            }
            if read & CMDLINE != 0 {
                let _ = lazy.cmdline.set(None);
            }
            return;
        };
        if read & STATUS != 0 {
            let _ = lazy
                .status
                .set(read_whole_at(&dir, "status", PROC_READ_CAP, parse_status).ok());
        }
        if read & EXE != 0 {
            let path = rustix::fs::readlinkat(&dir, "exe", Vec::new())
                .ok()
                .map(|t| PathBuf::from(OsString::from_vec(t.into_bytes())));
            // Cached attributes only (`AT_STATX_DONT_SYNC`): a network or FUSE filesystem's
            // server is not asked, so an executable on a hung mount cannot hang the audit.
            let id = rustix::fs::statx(
                &dir,
                "exe",
                rustix::fs::AtFlags::STATX_DONT_SYNC,
                rustix::fs::StatxFlags::INO,
            )
            .ok()
            .map(|st| {
                (
                    super::locks::makedev(st.stx_dev_major, st.stx_dev_minor),
                    st.stx_ino,
                )
            });
            let _ = lazy.exe.set(Exe { path, id });
        }
        if read & CMDLINE != 0 {
            // The kernel copies the whole command line on one read when the buffer holds it, so a
            // short read is all of it.
            let argv = read_whole_at(&dir, "cmdline", PROC_READ_CAP, parse_cmdline);
            let _ = lazy.cmdline.set(argv.ok());
        }
    }

    /// `/proc/PID` of a process, if its PID still belongs to the process of the snapshot.
    pub(super) fn verified_dir(&self, process: &Process) -> Option<rustix::fd::OwnedFd> {
        let proc = self.proc_dir()?;
        let stat = &process.stat;
        let dir = rustix::fs::openat(
            proc,
            stat.pid.to_string().as_str(),
            OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC,
            Mode::empty(),
        )
        .ok()?;
        match read_whole_at(&dir, "stat", 4096, parse_stat) {
            Ok(Ok(now)) if now.starttime == stat.starttime => Some(dir),
            _ => None,
        }
    }
}
