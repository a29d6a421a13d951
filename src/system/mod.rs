//! One immutable snapshot of the system per run, read under a configurable `/proc` root.
//!
//! The snapshot reads `/proc/PID/stat` of every process once (in parallel), plus boot time, clock
//! ticks and `pid_max`. Everything else about a process (status, exe, cmdline) is read lazily, only for
//! processes a check asks about, through a descriptor of `/proc/PID` whose start time is checked
//! against the snapshot so a PID reused meanwhile is never mistaken for the process seen before. A
//! process that vanishes mid-read is an outcome, not an error.

pub mod activity;
pub mod details;
#[cfg(test)]
pub mod fake;
pub mod holders;
pub mod identity;
pub mod locks;
pub mod net;
pub mod ns;
pub mod stat;
pub mod status;
pub mod tree;

use rustix::fd::{AsFd, OwnedFd};
use rustix::fs::{Mode, OFlags};
use rustix::io::Errno;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};
use std::time::SystemTime;

pub use details::{Details, Exe};
pub use stat::{parse_stat, Stat};
pub use status::{parse_status, Status};
pub use tree::Tree;

/// The largest `pid_max` the kernel allows; used when `/proc/sys/kernel/pid_max` cannot be read.
pub const PID_MAX_LIMIT: u32 = 4_194_304;

/// The most bytes read from a small `/proc` file (status, cmdline).
pub(crate) const PROC_READ_CAP: usize = 64 * 1024;

/// A process seen in the snapshot.
#[derive(Debug)]
pub struct Process {
    pub stat: Stat,
    lazy: details::Lazy,
}

impl Process {
    pub fn pid(&self) -> i32 {
        self.stat.pid
    }

    fn new(stat: Stat) -> Process {
        Process {
            stat,
            lazy: Default::default(),
        }
    }
}

/// What a PID from a pidfile turned out to be.
#[derive(Clone, Debug)]
pub enum Lookup {
    /// A process (thread-group leader).
    Process(Arc<Process>),
    /// A thread of another process.
    Thread { tgid: i32 },
    /// No process has this PID.
    Absent,
    /// A process has this PID but `/proc` does not show it (mounted with `hidepid`).
    Hidden,
    /// It could not be determined.
    Unknown(Errno),
}

/// The system as seen once at the start of a run.
#[derive(Debug)]
pub struct Snapshot {
    pub proc_root: PathBuf,
    proc: Option<OwnedFd>,
    /// Why `/proc` could not be read, if it could not.
    pub proc_error: Option<Errno>,
    /// The proc root is this system's live `/proc` (its `self` is this process).
    pub live: bool,
    /// Boot time, Unix seconds (`btime` in `/proc/stat`).
    pub boot_time: Option<u64>,
    pub clk_tck: u64,
    pub pid_max: u32,
    pub self_pid: i32,
    /// When the snapshot was taken.
    pub taken_at: SystemTime,
    processes: HashMap<i32, Arc<Process>>,
    /// `/proc/locks`, read on first use (once per run).
    locks: OnceLock<holders::LockTable>,
    tree: OnceLock<Tree>,
    eager: std::sync::atomic::AtomicBool,
    /// An in-memory snapshot's answers for the PIDs it does not list (see [`fake`]).
    #[cfg(test)]
    unlisted: Option<HashMap<i32, Lookup>>,
}

impl Snapshot {
    /// Reads the snapshot from `proc_root` (normally `/proc`).
    pub fn load(proc_root: &Path) -> Snapshot {
        let taken_at = SystemTime::now();
        let self_pid = rustix::process::getpid().as_raw_nonzero().get();
        let clk_tck = rustix::param::clock_ticks_per_second().max(1);
        let mut snap = Snapshot {
            proc_root: proc_root.to_path_buf(),
            proc: None,
            proc_error: None,
            live: false,
            boot_time: None,
            clk_tck,
            pid_max: PID_MAX_LIMIT,
            self_pid,
            taken_at,
            processes: HashMap::new(),
            locks: OnceLock::new(),
            tree: OnceLock::new(),
            eager: Default::default(),
            #[cfg(test)]
            unlisted: None,
        };
        let proc = match rustix::fs::open(
            proc_root,
            OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC,
            Mode::empty(),
        ) {
            Ok(fd) => fd,
            Err(errno) => {
                snap.proc_error = Some(errno);
                return snap;
            }
        };
        snap.live = rustix::fs::readlinkat(&proc, "self", Vec::new())
            .map(|s| s.to_bytes() == self_pid.to_string().as_bytes())
            .unwrap_or(false);
        snap.boot_time = read_at(&proc, "stat", PROC_READ_CAP)
            .ok()
            .and_then(|b| status::parse_btime(&b));
        snap.pid_max = read_at(&proc, "sys/kernel/pid_max", 64)
            .ok()
            .and_then(|b| {
                std::str::from_utf8(&b)
                    .ok()
                    .and_then(|s| s.trim().parse().ok())
            })
            .unwrap_or(PID_MAX_LIMIT);
        match list_pids(&proc) {
            Ok(pids) => {
                snap.processes = read_stats(&proc, &pids)
                    .into_iter()
                    .map(|p| (p.stat.pid, Arc::new(p)))
                    .collect();
            }
            Err(errno) => snap.proc_error = Some(errno),
        }
        snap.proc = Some(proc);
        snap
    }

    /// Every process in the snapshot, in no particular order.
    pub fn processes(&self) -> impl Iterator<Item = &Arc<Process>> {
        self.processes.values()
    }

    /// The process with this PID in the snapshot.
    pub fn get(&self, pid: i32) -> Option<&Arc<Process>> {
        self.processes.get(&pid)
    }

    pub fn len(&self) -> usize {
        self.processes.len()
    }

    pub fn is_empty(&self) -> bool {
        self.processes.is_empty()
    }

    /// What `pid` is: looked up in the snapshot, then (for threads, hidden and newly started processes)
    /// in `/proc` itself.
    pub fn lookup(&self, pid: i32) -> Lookup {
        if let Some(p) = self.processes.get(&pid) {
            return Lookup::Process(Arc::clone(p));
        }
        let Some(proc) = &self.proc else {
            #[cfg(test)]
            if let Some(unlisted) = &self.unlisted {
                return unlisted.get(&pid).cloned().unwrap_or(Lookup::Absent);
            }
            return Lookup::Unknown(self.proc_error.unwrap_or(Errno::NOENT));
        };
        // On the live /proc, ask the kernel first (one system call, no /proc read, no signal): most
        // PIDs missing from the snapshot are dead (ESRCH). A thread (EINVAL), a hidden process or
        // one started since the snapshot (a descriptor) is then read from /proc below.
        if self.live {
            match rustix::process::Pid::from_raw(pid)
                .map(|p| rustix::process::pidfd_open(p, rustix::process::PidfdFlags::empty()))
            {
                Some(Err(Errno::SRCH)) | None => return Lookup::Absent,
                _ => {}
            }
        }
        match read_whole_at(
            proc,
            format!("{pid}/status").as_str(),
            PROC_READ_CAP,
            parse_status,
        ) {
            Ok(status) => match status.tgid {
                Some(tgid) if tgid != pid => Lookup::Thread { tgid },
                _ => match read_whole_at(proc, format!("{pid}/stat").as_str(), 4096, parse_stat) {
                    Ok(Ok(stat)) => Lookup::Process(Arc::new(Process::new(stat))),
                    Ok(Err(_)) => Lookup::Unknown(Errno::INVAL),
                    Err(Errno::NOENT) | Err(Errno::SRCH) => Lookup::Absent,
                    Err(errno) => Lookup::Unknown(errno),
                },
            },
            Err(Errno::NOENT) | Err(Errno::SRCH) => {
                if !self.live {
                    return Lookup::Absent;
                }
                // /proc may hide processes (hidepid): ask the kernel directly, without signalling.
                match rustix::process::Pid::from_raw(pid)
                    .map(|p| rustix::process::pidfd_open(p, rustix::process::PidfdFlags::empty()))
                {
                    Some(Ok(_)) => Lookup::Hidden,
                    Some(Err(Errno::SRCH)) => Lookup::Absent,
                    Some(Err(Errno::INVAL)) => Lookup::Hidden,
                    Some(Err(errno)) => Lookup::Unknown(errno),
                    None => Lookup::Absent,
                }
            }
            Err(errno) => Lookup::Unknown(errno),
        }
    }

    /// The locks of the system (`/proc/locks` under the proc root), read on first use and indexed by
    /// file; see [`holders`].
    pub fn locks(&self) -> &holders::LockTable {
        self.locks
            .get_or_init(|| holders::LockTable::load(self.proc_dir()))
    }

    /// The open proc root, when it could be opened.
    pub fn proc_dir(&self) -> Option<rustix::fd::BorrowedFd<'_>> {
        self.proc.as_ref().map(|p| p.as_fd())
    }

    /// How many threads keep a process running whose main thread has exited: its state is `Z`, but
    /// `Threads:` in its status counts more than the exited leader. `None` for every other process
    /// (the status is read only for `Z` processes).
    pub fn leader_exited(&self, process: &Process) -> Option<u32> {
        if !process.stat.is_zombie() {
            return None;
        }
        self.status(process)
            .and_then(|s| s.threads)
            .filter(|n| *n > 1)
    }

    /// Whether a process is dead: a zombie with no thread left. The one test every check and lock
    /// resolution uses: the state letter `Z` alone also marks a live process whose main thread
    /// exited ([`Snapshot::leader_exited`]).
    pub fn is_dead(&self, process: &Process) -> bool {
        process.stat.is_zombie() && self.leader_exited(process).is_none()
    }

    /// The directory under the proc root that shows a process's descriptors (`fd`, `fdinfo`):
    /// `PID`, or for a process whose main thread exited (the leader's own descriptor table is gone,
    /// so `PID/fd` is empty) `PID/task/TID` of a thread still running.
    pub fn files_dir(&self, pid: i32) -> String {
        let live_thread = || {
            let proc = self.proc_dir()?;
            let task = rustix::fs::openat(
                proc,
                format!("{pid}/task").as_str(),
                OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC,
                Mode::empty(),
            )
            .ok()?;
            let mut dir = rustix::fs::Dir::read_from(&task).ok()?;
            dir.find_map(|e| {
                let e = e.ok()?;
                let tid: i32 = std::str::from_utf8(e.file_name().to_bytes())
                    .ok()?
                    .parse()
                    .ok()?;
                (tid != pid).then_some(tid)
            })
        };
        match self.get(pid).and_then(|p| self.leader_exited(p)) {
            Some(_) => match live_thread() {
                Some(tid) => format!("{pid}/task/{tid}"),
                None => pid.to_string(),
            },
            None => pid.to_string(),
        }
    }

    /// A process's start time, Unix seconds.
    pub fn start_time(&self, stat: &Stat) -> Option<f64> {
        self.boot_time
            .map(|b| b as f64 + stat.starttime as f64 / self.clk_tck as f64)
    }

    /// The process-tree indexes, built on first use.
    pub fn tree(&self) -> &Tree {
        self.tree
            .get_or_init(|| Tree::build(self.processes.values().map(|p| &p.stat)))
    }

    /// A small file under `/proc/PID` (such as `cgroup`), if the process is still the one seen.
    pub fn read_proc_file(&self, process: &Process, name: &str) -> Option<Vec<u8>> {
        read_at(self.verified_dir(process)?, name, PROC_READ_CAP).ok()
    }

    /// Device and inode of the file now at `path` as the process sees it (through `/proc/PID/root`,
    /// so a containerised process's paths resolve in its own root). Only on the live system.
    pub fn stat_in_root(&self, process: &Process, path: &Path) -> Result<(u64, u64), Errno> {
        if !self.live {
            return Err(Errno::NOSYS);
        }
        let dir = self.verified_dir(process).ok_or(Errno::SRCH)?;
        let rel = path.strip_prefix("/").unwrap_or(path);
        let st = rustix::fs::statat(
            &dir,
            Path::new("root").join(rel).as_path(),
            rustix::fs::AtFlags::empty(),
        )?;
        Ok((st.st_dev as u64, st.st_ino as u64))
    }

    /// Reads every group of process details whenever one is read (the report shows them all).
    pub fn set_eager(&self, eager: bool) {
        self.eager
            .store(eager, std::sync::atomic::Ordering::Relaxed);
    }

    fn eager(&self) -> bool {
        self.eager.load(std::sync::atomic::Ordering::Relaxed)
    }
}

/// Lists the numeric entries of `/proc`.
pub(crate) fn list_pids(proc: &OwnedFd) -> Result<Vec<i32>, Errno> {
    let mut pids = Vec::new();
    for entry in rustix::fs::Dir::read_from(proc)? {
        let entry = entry?;
        let name = entry.file_name().to_bytes();
        // Processes are directories; `/proc` lists thread-group leaders only (a thread is reachable
        // as `/proc/TID` but not listed), which a fixture tree mirrors with a symlink.
        let is_dir = matches!(
            entry.file_type(),
            rustix::fs::FileType::Directory | rustix::fs::FileType::Unknown
        );
        if is_dir && !name.is_empty() && name.iter().all(u8::is_ascii_digit) {
            if let Ok(pid) = std::str::from_utf8(name).unwrap_or("").parse::<i32>() {
                pids.push(pid);
            }
        }
    }
    Ok(pids)
}

/// Reads `/proc/PID/stat` for every PID, on all cores. Processes that vanished are left out.
fn read_stats(proc: &OwnedFd, pids: &[i32]) -> Vec<Process> {
    let one = |pid: &i32| -> Option<Process> {
        let path = format!("{pid}/stat");
        let stat = read_whole_at(proc, path.as_str(), 4096, parse_stat)
            .ok()?
            .ok()?;
        Some(Process::new(stat))
    };
    crate::util::parallel::map(pids, one)
        .into_iter()
        .flatten()
        .collect()
}

/// Reads a per-process `/proc` file that the kernel renders whole on every read (`stat`, `status`:
/// `seq_file` `single_open`), and hands its bytes to `f`. Such a file's first read returns all of it
/// when the buffer is large enough, so a short first read is the whole file: one `read` instead of a
/// second one that only sees end of file, and no allocation. A file that fills the buffer is read on,
/// up to `cap` bytes, as [`read_at`] does. Not for files that print records one by one
/// (`/proc/locks`), whose short reads end at a record, not at the end.
pub fn read_whole_at<R>(
    dir: impl AsFd,
    path: &str,
    cap: usize,
    f: impl FnOnce(&[u8]) -> R,
) -> Result<R, Errno> {
    let fd = open_read(dir, path)?;
    let mut buf = [0u8; 4096];
    let n = loop {
        match rustix::io::read(&fd, &mut buf) {
            Ok(n) => break n,
            Err(Errno::INTR) => continue,
            Err(errno) => return Err(errno),
        }
    };
    if n < buf.len() || n >= cap {
        return Ok(f(&buf[..n.min(cap)]));
    }
    let mut more = buf.to_vec();
    read_on(&fd, &mut more, cap)?;
    Ok(f(&more))
}

/// Opens a file under `dir` for reading (a `/proc` file: no controlling terminal, close on exec).
pub fn open_read(dir: impl AsFd, path: &str) -> Result<OwnedFd, Errno> {
    rustix::fs::openat(
        dir,
        path,
        OFlags::RDONLY | OFlags::NOCTTY | OFlags::CLOEXEC,
        Mode::empty(),
    )
}

/// Reads a small file relative to a directory descriptor, up to `cap` bytes.
pub fn read_at(dir: impl AsFd, path: &str, cap: usize) -> Result<Vec<u8>, Errno> {
    let fd = open_read(dir, path)?;
    let mut buf = Vec::new();
    read_on(&fd, &mut buf, cap)?;
    Ok(buf)
}

/// Appends what is left of `fd` to `buf`, up to `cap` bytes in all.
fn read_on(fd: &OwnedFd, buf: &mut Vec<u8>, cap: usize) -> Result<(), Errno> {
    let mut len = buf.len();
    buf.resize(cap.min(len.max(2048) * 2), 0);
    loop {
        if len == buf.len() {
            if buf.len() >= cap {
                break;
            }
            buf.resize((buf.len() * 2).min(cap), 0);
        }
        match rustix::io::read(fd, &mut buf[len..]) {
            Ok(0) => break,
            Ok(n) => len += n,
            Err(Errno::INTR) => continue,
            Err(errno) => return Err(errno),
        }
    }
    buf.truncate(len);
    Ok(())
}

/// A pidfd for `pid` (`pidfd_open`: no signal is sent). ESRCH: no process has it; EINVAL: not a
/// thread-group leader, or not a PID at all.
pub fn pidfd(pid: u32) -> Result<rustix::fd::OwnedFd, Errno> {
    let p = rustix::process::Pid::from_raw(pid as i32).ok_or(Errno::INVAL)?;
    rustix::process::pidfd_open(p, rustix::process::PidfdFlags::empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A file longer than one read's buffer is read on to its end or the cap, like `read_at`.
    #[test]
    fn read_whole_at_reads_past_the_first_buffer() {
        let dir = tempfile::tempdir().unwrap();
        let content: Vec<u8> = (0..10_000u32).map(|i| (i % 251) as u8).collect();
        std::fs::write(dir.path().join("big"), &content).unwrap();
        std::fs::write(dir.path().join("small"), b"12 (x) S\n").unwrap();
        let fd = rustix::fs::open(
            dir.path(),
            OFlags::RDONLY | OFlags::DIRECTORY,
            Mode::empty(),
        )
        .unwrap();
        assert_eq!(
            read_whole_at(&fd, "big", 65536, <[u8]>::to_vec).unwrap(),
            content
        );
        assert_eq!(read_at(&fd, "big", 65536).unwrap(), content);
        assert_eq!(
            read_whole_at(&fd, "big", 5000, <[u8]>::to_vec).unwrap(),
            &content[..5000]
        );
        assert_eq!(read_at(&fd, "big", 5000).unwrap(), &content[..5000]);
        assert_eq!(
            read_whole_at(&fd, "big", 100, <[u8]>::to_vec).unwrap(),
            &content[..100]
        );
        assert_eq!(
            read_whole_at(&fd, "small", 4096, <[u8]>::to_vec).unwrap(),
            b"12 (x) S\n"
        );
        assert_eq!(
            read_whole_at(&fd, "absent", 4096, |_| ()).unwrap_err(),
            Errno::NOENT
        );
    }

    /// One read of this process's own `/proc` files gives whole, parseable contents.
    #[test]
    fn read_whole_at_reads_proc_files_whole() {
        let proc = rustix::fs::open(
            "/proc/self",
            OFlags::RDONLY | OFlags::DIRECTORY,
            Mode::empty(),
        )
        .unwrap();
        let stat = read_whole_at(&proc, "stat", 4096, parse_stat)
            .unwrap()
            .unwrap();
        assert_eq!(stat.pid, rustix::process::getpid().as_raw_nonzero().get());
        let status = read_whole_at(&proc, "status", PROC_READ_CAP, parse_status).unwrap();
        assert_eq!(status.tgid, Some(stat.pid));
        assert!(status.uids.is_some());
        let whole = read_at(&proc, "status", PROC_READ_CAP).unwrap();
        assert_eq!(parse_status(&whole), status);
    }
}
