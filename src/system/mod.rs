//! One immutable snapshot of the system per run, read under a configurable `/proc` root.
//!
//! The snapshot reads `/proc/PID/stat` of every process once (in parallel), plus boot time, clock
//! ticks and `pid_max`. Everything else about a process (status, exe, cmdline) is read lazily, only for
//! processes a check asks about, through a descriptor of `/proc/PID` whose start time is checked
//! against the snapshot so a PID reused meanwhile is never mistaken for the process seen before. A
//! process that vanishes mid-read is an outcome, not an error.

pub mod stat;
pub mod status;

use rustix::fd::{AsFd, OwnedFd};
use rustix::fs::{Mode, OFlags};
use rustix::io::Errno;
use std::collections::HashMap;
use std::ffi::OsString;
use std::os::unix::ffi::OsStringExt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};
use std::time::SystemTime;

pub use stat::{parse_stat, Stat};
pub use status::{parse_status, Status};

/// The largest `pid_max` the kernel allows; used when `/proc/sys/kernel/pid_max` cannot be read.
pub const PID_MAX_LIMIT: u32 = 4_194_304;

/// The most bytes read from a small `/proc` file (status, cmdline).
const PROC_READ_CAP: usize = 64 * 1024;

/// A process seen in the snapshot.
#[derive(Debug)]
pub struct Process {
    pub stat: Stat,
    details: OnceLock<Details>,
}

/// Facts read lazily about one process.
#[derive(Clone, Debug, Default)]
pub struct Details {
    /// False when the process exited (or its PID was reused) before its details were read.
    pub present: bool,
    pub status: Option<Status>,
    /// The executable's path (`/proc/PID/exe`), or why it could not be read.
    pub exe: Option<PathBuf>,
    pub exe_error: Option<Errno>,
    /// Device and inode of the executable the process runs (even when deleted from disk).
    pub exe_id: Option<(u64, u64)>,
    pub cmdline: Option<Vec<String>>,
}

impl Details {
    pub fn uid(&self) -> Option<u32> {
        self.status.as_ref().and_then(Status::uid)
    }

    /// `/proc/PID/exe` ends with ` (deleted)` when the executable was removed or replaced on disk.
    pub fn exe_deleted(&self) -> bool {
        self.exe
            .as_ref()
            .is_some_and(|p| p.as_os_str().as_encoded_bytes().ends_with(b" (deleted)"))
    }
}

impl Process {
    pub fn pid(&self) -> i32 {
        self.stat.pid
    }

    /// The details, if something already read them.
    pub fn details_if_read(&self) -> Option<&Details> {
        self.details.get()
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
            return Lookup::Unknown(self.proc_error.unwrap_or(Errno::NOENT));
        };
        match read_at(proc, format!("{pid}/status").as_str(), PROC_READ_CAP) {
            Ok(bytes) => {
                let status = parse_status(&bytes);
                match status.tgid {
                    Some(tgid) if tgid != pid => Lookup::Thread { tgid },
                    _ => match read_at(proc, format!("{pid}/stat").as_str(), 4096)
                        .map(|b| parse_stat(&b))
                    {
                        Ok(Ok(stat)) => Lookup::Process(Arc::new(Process {
                            stat,
                            details: OnceLock::new(),
                        })),
                        Ok(Err(_)) => Lookup::Unknown(Errno::INVAL),
                        Err(Errno::NOENT) | Err(Errno::SRCH) => Lookup::Absent,
                        Err(errno) => Lookup::Unknown(errno),
                    },
                }
            }
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

    /// A process's start time, Unix seconds.
    pub fn start_time(&self, stat: &Stat) -> Option<f64> {
        self.boot_time
            .map(|b| b as f64 + stat.starttime as f64 / self.clk_tck as f64)
    }

    /// The lazily read details of a process.
    pub fn details<'p>(&self, process: &'p Process) -> &'p Details {
        process
            .details
            .get_or_init(|| self.read_details(&process.stat))
    }

    fn read_details(&self, stat: &Stat) -> Details {
        let mut d = Details::default();
        let Some(proc) = &self.proc else { return d };
        let dir = match rustix::fs::openat(
            proc,
            stat.pid.to_string().as_str(),
            OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC,
            Mode::empty(),
        ) {
            Ok(fd) => fd,
            Err(_) => return d,
        };
        // The PID must still be the process of the snapshot.
        match read_at(&dir, "stat", 4096).map(|b| parse_stat(&b)) {
            Ok(Ok(now)) if now.starttime == stat.starttime => {}
            _ => return d,
        }
        d.present = true;
        d.status = read_at(&dir, "status", PROC_READ_CAP)
            .ok()
            .map(|b| parse_status(&b));
        match rustix::fs::readlinkat(&dir, "exe", Vec::new()) {
            Ok(target) => d.exe = Some(PathBuf::from(OsString::from_vec(target.into_bytes()))),
            Err(errno) => d.exe_error = Some(errno),
        }
        d.exe_id = rustix::fs::statat(&dir, "exe", rustix::fs::AtFlags::empty())
            .ok()
            .map(|st| (st.st_dev as u64, st.st_ino as u64));
        d.cmdline = read_at(&dir, "cmdline", PROC_READ_CAP).ok().map(|b| {
            b.split(|&c| c == 0)
                .filter(|s| !s.is_empty())
                .map(|s| String::from_utf8_lossy(s).into_owned())
                .collect()
        });
        d
    }
}

/// Lists the numeric entries of `/proc`.
fn list_pids(proc: &OwnedFd) -> Result<Vec<i32>, Errno> {
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
        let bytes = read_at(proc, path.as_str(), 4096).ok()?;
        let stat = parse_stat(&bytes).ok()?;
        Some(Process {
            stat,
            details: OnceLock::new(),
        })
    };
    crate::parallel::map(pids, one)
        .into_iter()
        .flatten()
        .collect()
}

/// Reads a small file relative to a directory descriptor, up to `cap` bytes.
pub fn read_at(dir: impl AsFd, path: &str, cap: usize) -> Result<Vec<u8>, Errno> {
    let fd = rustix::fs::openat(
        dir,
        path,
        OFlags::RDONLY | OFlags::NOCTTY | OFlags::CLOEXEC,
        Mode::empty(),
    )?;
    let mut buf = vec![0u8; cap.min(4096)];
    let mut len = 0;
    loop {
        if len == buf.len() {
            if buf.len() >= cap {
                break;
            }
            buf.resize((buf.len() * 2).min(cap), 0);
        }
        match rustix::io::read(&fd, &mut buf[len..]) {
            Ok(0) => break,
            Ok(n) => len += n,
            Err(Errno::INTR) => continue,
            Err(errno) => return Err(errno),
        }
    }
    buf.truncate(len);
    Ok(buf)
}
