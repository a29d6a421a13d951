//! Who really holds the locks on a file.
//!
//! `/proc/locks` is read once per run ([`LockTable`]) and indexed by device and inode, so finding the
//! locks on a pidfile is one hash lookup and a pidfile nobody locks costs nothing more. What
//! `/proc/locks` says about a lock's owner is not enough: it prints the *acquirer* of a flock (which may
//! have exited after passing the descriptor on), `-1` for OFD locks, and nothing about processes
//! sharing a descriptor. The true holders are the processes with a descriptor of the file whose
//! `/proc/PID/fdinfo/FD` lists the same lock in a `lock:` line (the kernel prints there the locks owned
//! by that descriptor's open file description, or by the process for POSIX locks).
//!
//! # Holder resolution
//! Only candidate processes are examined, never every process. For each lock on the file:
//!
//! 1. the PID `/proc/locks` names (the acquirer), and the PID the pidfile records;
//! 2. if neither holds it and the lock belongs to an open file description (flock, OFD, lease), which
//!    survives its acquirer and is shared across fork: the children of the recorded PID and of the
//!    acquirer, and, when the acquirer is gone, the processes whose session or process group is the
//!    acquirer's PID (a daemon that called `setsid()` and forked leaves its session ID to its
//!    descendants). A POSIX lock is owned by one process and dies with it, so step 2 never applies.
//!
//! 3. for a lock that follows the descriptor, the children of every holder that is a known wrapper
//!    ([`super::identity::WRAPPERS`]: `flock -x FILE daemon` forks the daemon, which shares the
//!    locked open file description), down a chain of wrappers: every process sharing the lock is
//!    listed as its holder.
//!
//! The recorded PID, when `/proc/locks` names it as a POSIX lock's owner, is that lock's holder
//! without further examination (POSIX locks belong to a process and die with it); its descriptor
//! of the file is looked up only when the report shows every detail (`--verbose`).
//!
//! At most [`MAX_CANDIDATES`] processes are examined per file. Examining one lists `/proc/PID/fd`
//! and identifies its descriptors in order with one `statx` each ([`MAX_FDS`] at most;
//! `AT_STATX_DONT_SYNC`, so a hung network filesystem is not asked) until one refers to the file
//! and holds the lock: its `fdinfo` lists the lock, or, for a POSIX lock whose owner `/proc/locks`
//! names (POSIX locks belong to a process, and each of its descriptors of the file lists them), it
//! is that owner's first descriptor of the file, so no `fdinfo` is read. A process examined a second
//! time (one holding locks on several audited files) has its whole descriptor table read once and
//! kept for the run; `fdinfo` reads are kept per descriptor. When a candidate's descriptors cannot
//! be read (another user's process, unprivileged), the acquirer named by `/proc/locks` is kept as an
//! *unverified* holder.
//!
//! A process whose main thread exited (state `Z` with threads left, [`Snapshot::is_dead`] false)
//! holds its locks like any other: its descriptors are read through a live thread
//! (`/proc/PID/task/TID/fd`, [`Snapshot::files_dir`]), since the exited leader's `/proc/PID/fd` is
//! empty.
//!
//! Nothing here takes, tests or releases a lock.

use super::locks::{self, Lock, LockKind, LockLine, LockMode, ProcLocks};
use super::{read_whole_at, Process, Snapshot};
use rustix::fd::{AsFd, BorrowedFd};
use rustix::fs::{AtFlags, Mode, OFlags, StatxFlags};
use rustix::io::Errno;
use std::collections::{HashMap, HashSet};
use std::ops::ControlFlow;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

/// The most bytes read from `/proc/locks` (about 60 bytes a lock: some 280,000 locks).
pub const LOCKS_READ_CAP: usize = 16 << 20;
/// The longest `/proc/locks` is read. The kernel hands it out a page at a time and walks the lock
/// list from its start for every page, so its cost grows with the square of the number of locks,
/// which any user can raise; past this the rest is not read and the lock facts come from the
/// candidates' fdinfo instead.
pub const LOCKS_READ_BUDGET: std::time::Duration = std::time::Duration::from_millis(500);
/// The most processes whose descriptors are examined to resolve the holders of one file's locks.
pub const MAX_CANDIDATES: usize = 32;
/// The most descriptors examined in one process.
pub const MAX_FDS: usize = 4096;

/// `/proc/locks`, read once, indexed by file.
#[derive(Debug)]
pub struct LockTable {
    /// Why `/proc/locks` could not be read.
    pub error: Option<Errno>,
    /// The read stopped at [`LOCKS_READ_CAP`] or [`LOCKS_READ_BUDGET`].
    pub truncated: bool,
    /// How many `read` calls returned data. The kernel takes the lock list's lock for one call
    /// only: a table read in several pieces may miss locks taken or released meanwhile.
    pub reads: usize,
    pub parsed: ProcLocks,
    by_file: HashMap<(u64, u64), Vec<usize>>,
    fds: Mutex<HashMap<i32, Arc<FdTable>>>,
    /// Processes whose descriptors were searched for a lock.
    probed: Mutex<HashSet<i32>>,
    fdinfo: Mutex<HashMap<(i32, i32), Arc<FdLocks>>>,
}

/// What an fdinfo file says (the descriptor's open flags and the locks held through it), or why
/// it could not be read.
pub type FdLocks = Result<FdInfo, Errno>;

/// The parts of `/proc/PID/fdinfo/FD` lock resolution uses.
#[derive(Debug)]
pub struct FdInfo {
    /// The open flags (`flags:`), when printed.
    pub flags: Option<u32>,
    pub locks: Vec<LockLine>,
}

/// The descriptors of one process: number, device (`st_dev` encoding) and inode of what each refers
/// to.
#[derive(Debug)]
pub struct FdTable {
    pub fds: Result<Vec<(i32, u64, u64)>, Errno>,
    /// More than [`MAX_FDS`] descriptors: the rest were not examined.
    pub truncated: bool,
}

/// A process found holding a lock.
#[derive(Clone, Debug)]
pub struct Holder {
    pub process: Arc<Process>,
    /// The descriptor it holds the lock through; `None` when unverified, or not looked up (the
    /// recorded PID owning a POSIX lock, without `--verbose`).
    pub fd: Option<i32>,
    /// Confirmed by a `lock:` line in its fdinfo, or the recorded PID named by `/proc/locks` as a
    /// POSIX lock's owner; otherwise taken from `/proc/locks` because its descriptors could not be
    /// read.
    pub verified: bool,
    /// Whether the descriptor the lock is held through was opened for writing: `Some(true)` for a
    /// POSIX or OFD write lock (the kernel grants those only through such a descriptor), else from
    /// the descriptor's fdinfo `flags:`; `None` when unknown.
    pub write_fd: Option<bool>,
}

impl Holder {
    pub fn pid(&self) -> i32 {
        self.process.pid()
    }
}

/// One lock on a file and who holds it.
#[derive(Clone, Debug)]
pub struct ResolvedLock {
    pub lock: Lock,
    pub holders: Vec<Holder>,
    /// The acquirer `/proc/locks` names is alive (in the snapshot and not dead), or not known to
    /// have exited (hidden by `hidepid`, or not examinable).
    pub acquirer_alive: bool,
}

/// Every lock on one file, with holders resolved.
#[derive(Clone, Debug, Default)]
pub struct FileLocks {
    pub locks: Vec<ResolvedLock>,
    /// Processes whose descriptors were examined: `Ok` when they could be read.
    pub examined: Vec<(i32, Result<(), Errno>)>,
    /// The candidate limit stopped the search.
    pub capped: bool,
}

impl FileLocks {
    pub fn locked(&self) -> bool {
        !self.locks.is_empty()
    }

    /// Whether this process's descriptors were read (so "not a holder" is a fact, not a guess).
    pub fn examined_ok(&self, pid: i32) -> bool {
        self.examined.iter().any(|(p, r)| *p == pid && r.is_ok())
    }

    /// Every distinct holder, in lock order.
    pub fn holders(&self) -> Vec<&Holder> {
        let mut seen = HashSet::new();
        self.locks
            .iter()
            .flat_map(|l| l.holders.iter())
            .filter(|h| seen.insert(h.pid()))
            .collect()
    }
}

/// A descriptor through which a process has a file open.
#[derive(Clone, Debug)]
pub struct OpenFd {
    pub fd: i32,
    /// What `/proc/PID/fd/N` links to (ends with ` (deleted)` when the file was unlinked).
    pub path: Option<PathBuf>,
}

impl LockTable {
    /// Reads and indexes `locks` under the proc root (`None`: no proc root).
    pub fn load(proc: Option<BorrowedFd<'_>>) -> LockTable {
        let (bytes, reads, truncated, error) = match proc {
            None => (Vec::new(), 0, false, Some(Errno::NOENT)),
            Some(proc) => match read_locks(proc, LOCKS_READ_BUDGET) {
                Ok((b, reads, truncated)) => (b, reads, truncated, None),
                Err(e) => (Vec::new(), 0, false, Some(e)),
            },
        };
        let mut table = LockTable::from_parsed(locks::parse_proc_locks(&bytes), error, truncated);
        table.reads = reads;
        table
    }

    /// Indexes already parsed locks.
    pub fn from_parsed(parsed: ProcLocks, error: Option<Errno>, truncated: bool) -> LockTable {
        let mut by_file: HashMap<(u64, u64), Vec<usize>> = HashMap::new();
        for (i, l) in parsed.locks.iter().enumerate() {
            if let Some(f) = l.line.file {
                by_file.entry((f.dev(), f.ino)).or_default().push(i);
            }
        }
        LockTable {
            error,
            truncated,
            reads: 1,
            parsed,
            by_file,
            fds: Mutex::new(HashMap::new()),
            probed: Mutex::new(HashSet::new()),
            fdinfo: Mutex::new(HashMap::new()),
        }
    }

    /// Whether the lock facts are complete: the file was read whole and every line parsed.
    pub fn complete(&self) -> bool {
        self.error.is_none() && !self.truncated && self.parsed.errors.is_empty()
    }

    /// Whether the table is one consistent view: complete, and read in one piece. Only then is a
    /// lock absent from it known to be absent.
    pub fn consistent(&self) -> bool {
        self.complete() && self.reads <= 1
    }

    /// The locks `pid` holds on the file `(dev, ino)`, from the fdinfo of its descriptors of the
    /// file, with the descriptor each is held through: how a lock missing from a table that is not
    /// one consistent view is confirmed or found. `Err` when the descriptors could not all be read.
    pub fn held_by(
        &self,
        snap: &Snapshot,
        pid: i32,
        dev: u64,
        ino: u64,
    ) -> Result<Vec<(i32, LockLine)>, Errno> {
        let table = self.fd_table(snap, pid);
        let fds = table.fds.as_ref().map_err(|e| *e)?;
        let mut out = Vec::new();
        for &(fd, _, _) in fds.iter().filter(|(_, d, i)| (*d, *i) == (dev, ino)) {
            match &*self.fd_locks(snap, pid, fd) {
                Ok(info) => out.extend(info.locks.iter().map(|l| (fd, l.clone()))),
                Err(Errno::NOENT) => {}
                Err(e) => return Err(*e),
            }
        }
        if out.is_empty() && table.truncated {
            return Err(Errno::MFILE);
        }
        Ok(out)
    }

    /// The granted locks on a file (`st_dev`, inode).
    pub fn on(&self, dev: u64, ino: u64) -> impl Iterator<Item = &Lock> {
        self.by_file
            .get(&(dev, ino))
            .into_iter()
            .flatten()
            .map(|&i| &self.parsed.locks[i])
    }

    /// Every indexed file, with its locks.
    pub fn files(&self) -> impl Iterator<Item = ((u64, u64), impl Iterator<Item = &Lock>)> {
        self.by_file
            .iter()
            .map(|(k, v)| (*k, v.iter().map(|&i| &self.parsed.locks[i])))
    }

    /// Resolves the holders of every lock on the file `(dev, ino)`, whose pidfile records `recorded`
    /// (see the module docs for the candidates examined).
    pub fn resolve(
        &self,
        snap: &Snapshot,
        dev: u64,
        ino: u64,
        recorded: Option<&Arc<Process>>,
    ) -> FileLocks {
        let mut out = FileLocks::default();
        let records: Vec<&Lock> = self.on(dev, ino).collect();
        if records.is_empty() {
            return out;
        }
        // Kept for the whole run, once per pidfile: no spare capacity.
        out.locks.reserve_exact(records.len());
        let mut budget = Budget {
            left: MAX_CANDIDATES,
            seen: HashMap::new(),
        };
        for lock in records {
            let line = &lock.line;
            let acquirer = line.acquirer().and_then(|p| snap.get(p)).cloned();
            // Missing from the snapshot is not dead: /proc may hide it (hidepid), or it started
            // since. Only a PID the kernel says is gone has exited.
            let acquirer_alive = match (&acquirer, line.acquirer()) {
                (Some(p), _) => !snap.is_dead(p),
                (None, Some(pid)) => !matches!(snap.lookup(pid), super::Lookup::Absent),
                (None, None) => false,
            };
            let mut holders = Vec::new();
            let mut first: Vec<Arc<Process>> = Vec::new();
            first.extend(acquirer.clone());
            first.extend(recorded.cloned());
            for p in dedup(first) {
                // A POSIX lock belongs to the process /proc/locks names and dies with it: when that
                // is the live PID the pidfile records, it is the holder, known without reading its
                // descriptors. Which descriptor it holds the file through only the report shows:
                // looked up with `--verbose`.
                let owner = line.kind == LockKind::Posix
                    && line.acquirer() == Some(p.pid())
                    && recorded.is_some_and(|r| r.pid() == p.pid())
                    && !snap.is_dead(&p);
                if owner && !snap.eager() {
                    holders.push(Holder {
                        write_fd: self.write_fd(snap, p.pid(), None, line),
                        process: p,
                        fd: None,
                        verified: true,
                    });
                    continue;
                }
                match self.probe(snap, &mut budget, &p, dev, ino, line) {
                    Probe::Holds(fd) => holders.push(Holder {
                        write_fd: self.write_fd(snap, p.pid(), Some(fd), line),
                        process: p,
                        fd: Some(fd),
                        verified: true,
                    }),
                    Probe::Unreadable if Some(p.pid()) == line.acquirer() => holders.push(Holder {
                        write_fd: self.write_fd(snap, p.pid(), None, line),
                        process: p,
                        fd: None,
                        verified: false,
                    }),
                    _ => {}
                }
            }
            if holders.is_empty() && line.kind.follows_descriptor() {
                let tree = snap.tree();
                let mut more: Vec<i32> = Vec::new();
                for parent in [
                    recorded.map(|p| p.pid()),
                    acquirer.as_ref().map(|p| p.pid()),
                ]
                .into_iter()
                .flatten()
                {
                    more.extend(tree.children(parent));
                }
                if let (Some(gone), false) = (line.acquirer(), acquirer_alive) {
                    more.extend(tree.in_session_or_group(gone));
                }
                let more: Vec<Arc<Process>> =
                    more.iter().filter_map(|p| snap.get(*p)).cloned().collect();
                for p in dedup(more) {
                    if let Probe::Holds(fd) = self.probe(snap, &mut budget, &p, dev, ino, line) {
                        holders.push(Holder {
                            write_fd: self.write_fd(snap, p.pid(), Some(fd), line),
                            process: p,
                            fd: Some(fd),
                            verified: true,
                        });
                    }
                }
            }
            if line.kind.follows_descriptor() {
                self.wrapped(snap, &mut budget, &mut holders, dev, ino, line);
            }
            holders.shrink_to_fit();
            out.locks.push(ResolvedLock {
                lock: lock.clone(),
                holders,
                acquirer_alive,
            });
        }
        let mut examined: Vec<_> = budget.seen.into_iter().collect();
        examined.sort_by_key(|(p, _)| *p);
        out.examined = examined;
        out.capped = budget.left == 0;
        out
    }

    /// Adds the children of wrapper holders ([`super::identity::WRAPPERS`]: `flock FILE cmd`,
    /// `timeout`, `sudo`) that share the locked open file description: the daemon a wrapper forked
    /// holds the lock as much as the wrapper does. Followed down a chain of wrappers, within the
    /// candidate budget.
    fn wrapped(
        &self,
        snap: &Snapshot,
        budget: &mut Budget,
        holders: &mut Vec<Holder>,
        dev: u64,
        ino: u64,
        line: &LockLine,
    ) {
        let tree = snap.tree();
        let mut i = 0;
        while i < holders.len() {
            let parent = &holders[i].process;
            i += 1;
            if !super::identity::is_wrapper(&parent.stat.comm) {
                continue;
            }
            let children: Vec<Arc<Process>> = tree
                .children(parent.pid())
                .iter()
                .filter_map(|p| snap.get(*p))
                .filter(|p| !holders.iter().any(|h| h.pid() == p.pid()))
                .cloned()
                .collect();
            for p in children {
                if let Probe::Holds(fd) = self.probe(snap, budget, &p, dev, ino, line) {
                    holders.push(Holder {
                        write_fd: self.write_fd(snap, p.pid(), Some(fd), line),
                        process: p,
                        fd: Some(fd),
                        verified: true,
                    });
                }
            }
        }
    }

    /// Whether `process` holds `line` on the file, through which descriptor.
    fn probe(
        &self,
        snap: &Snapshot,
        budget: &mut Budget,
        process: &Process,
        dev: u64,
        ino: u64,
        line: &LockLine,
    ) -> Probe {
        let pid = process.pid();
        if snap.is_dead(process) || process.stat.is_kernel_thread() {
            return Probe::No;
        }
        if !budget.seen.contains_key(&pid) {
            if budget.left == 0 {
                return Probe::Skipped;
            }
            budget.left -= 1;
        }
        // A POSIX lock belongs to the process /proc/locks names, and every descriptor it has of the
        // file lists it in fdinfo: the first such descriptor is the one, no fdinfo needed.
        let owner = line.kind == LockKind::Posix && line.acquirer() == Some(pid);
        let holds = |fd: i32| owner || self.fd_holds(snap, pid, fd, line);
        // A process examined before (one holding several audited files) gets its whole descriptor
        // table read once and kept; otherwise the search stops at the descriptor that holds the lock.
        let again = !lock(&self.probed).insert(pid);
        let found = if again {
            let table = self.fd_table(snap, pid);
            table.fds.as_ref().map_err(|e| *e).and_then(|fds| {
                let found = fds
                    .iter()
                    .filter(|(_, d, i)| (*d, *i) == (dev, ino))
                    .map(|&(fd, _, _)| fd)
                    .find(|&fd| holds(fd));
                // Descriptors past MAX_FDS were not examined: "holds none" is not known.
                match found {
                    None if table.truncated => Err(Errno::MFILE),
                    found => Ok(found),
                }
            })
        } else {
            match snap.proc_dir() {
                Some(proc) => find_fd(proc, &snap.files_dir(pid), dev, ino, holds),
                None => Err(Errno::NOENT),
            }
        };
        match found {
            Ok(fd) => {
                budget.seen.insert(pid, Ok(()));
                fd.map_or(Probe::No, Probe::Holds)
            }
            Err(e) => {
                budget.seen.insert(pid, Err(e));
                match e {
                    Errno::NOENT | Errno::SRCH => Probe::No,
                    _ => Probe::Unreadable,
                }
            }
        }
    }

    /// The descriptors of `pid` that refer to the file `(dev, ino)`, with what their links say.
    pub fn open_fds(&self, snap: &Snapshot, pid: i32, dev: u64, ino: u64) -> Vec<OpenFd> {
        let table = self.fd_table(snap, pid);
        let Ok(fds) = &table.fds else {
            return Vec::new();
        };
        let base = snap.files_dir(pid);
        fds.iter()
            .filter(|(_, d, i)| (*d, *i) == (dev, ino))
            .map(|&(fd, _, _)| OpenFd {
                fd,
                path: snap.proc_dir().and_then(|proc| {
                    rustix::fs::readlinkat(proc, format!("{base}/fd/{fd}").as_str(), Vec::new())
                        .ok()
                        .map(|t| {
                            PathBuf::from(
                                <std::ffi::OsString as std::os::unix::ffi::OsStringExt>::from_vec(
                                    t.into_bytes(),
                                ),
                            )
                        })
                }),
            })
            .collect()
    }

    /// Why the descriptors of `pid` could not be read, if they could not (another user's process,
    /// unprivileged: `EACCES`).
    pub fn fds_error(&self, snap: &Snapshot, pid: i32) -> Option<Errno> {
        self.fd_table(snap, pid).fds.as_ref().err().copied()
    }

    /// Whether `pid` holds a lock equal to `line` through descriptor `fd`.
    pub fn fd_holds(&self, snap: &Snapshot, pid: i32, fd: i32, line: &LockLine) -> bool {
        matches!(&*self.fd_locks(snap, pid, fd), Ok(info) if info.locks.iter().any(|h| h.same_lock(line)))
    }

    /// Whether `pid` holds `line` through a descriptor opened for writing (see [`Holder::write_fd`]).
    pub fn write_fd(
        &self,
        snap: &Snapshot,
        pid: i32,
        fd: Option<i32>,
        line: &LockLine,
    ) -> Option<bool> {
        if matches!(line.kind, LockKind::Posix | LockKind::Ofd) && line.mode == LockMode::Write {
            return Some(true);
        }
        let fd = fd?;
        match &*self.fd_locks(snap, pid, fd) {
            Ok(FdInfo { flags: Some(f), .. }) => {
                Some(*f & OFlags::ACCMODE.bits() != OFlags::RDONLY.bits())
            }
            _ => None,
        }
    }

    fn fd_table(&self, snap: &Snapshot, pid: i32) -> Arc<FdTable> {
        if let Some(t) = lock(&self.fds).get(&pid) {
            return Arc::clone(t);
        }
        let t = Arc::new(match snap.proc_dir() {
            Some(proc) => scan_fds(proc, &snap.files_dir(pid)),
            None => FdTable {
                fds: Err(Errno::NOENT),
                truncated: false,
            },
        });
        lock(&self.fds).insert(pid, Arc::clone(&t));
        t
    }

    /// What `/proc/PID/fdinfo/FD` says (open flags, `lock:` lines), read once per run.
    pub fn fd_locks(&self, snap: &Snapshot, pid: i32, fd: i32) -> Arc<FdLocks> {
        if let Some(l) = lock(&self.fdinfo).get(&(pid, fd)) {
            return Arc::clone(l);
        }
        let l = Arc::new(match snap.proc_dir() {
            Some(proc) => read_whole_at(
                proc,
                format!("{}/fdinfo/{fd}", snap.files_dir(pid)).as_str(),
                64 * 1024,
                |b| FdInfo {
                    flags: locks::parse_fdinfo_flags(b),
                    locks: locks::parse_fdinfo_locks(b).0,
                },
            ),
            None => Err(Errno::NOENT),
        });
        lock(&self.fdinfo).insert((pid, fd), Arc::clone(&l));
        l
    }
}

#[cfg(test)]
impl LockTable {
    /// Records a process's descriptors and the `lock:` lines of their fdinfo as if they had been read
    /// already (a process examined before): how an in-memory snapshot ([`super::fake`]) hands them
    /// to the holder resolution, which then takes them from these caches and never opens `/proc`.
    pub(super) fn preload(
        &self,
        pid: i32,
        fds: Result<Vec<(i32, u64, u64)>, Errno>,
        fdinfo: Vec<(i32, FdInfo)>,
    ) {
        lock(&self.probed).insert(pid);
        lock(&self.fds).insert(
            pid,
            Arc::new(FdTable {
                fds,
                truncated: false,
            }),
        );
        let mut cache = lock(&self.fdinfo);
        for (fd, info) in fdinfo {
            cache.insert((pid, fd), Arc::new(Ok(info)));
        }
    }
}

/// A descriptor whose link a search wanted (see [`Snapshot::held_fds`]), identified through the
/// link itself (the kernel's magic link to the open file, never a path lookup).
#[derive(Clone, Debug)]
pub struct HeldFd {
    pub fd: i32,
    /// What `/proc/PID/fd/N` links to (ends with ` (deleted)` when the file was unlinked).
    pub link: PathBuf,
    pub dev: u64,
    pub ino: u64,
    /// Links left to the inode: 0 for a deleted file.
    pub nlink: u32,
    pub uid: u32,
}

/// The descriptors of one process whose links a search wanted.
#[derive(Debug)]
pub struct HeldScan {
    /// Why the descriptors could not be listed (`EACCES`: another user's process, unprivileged).
    pub fds: Result<Vec<HeldFd>, Errno>,
    /// Descriptors listed (at most the limit given).
    pub examined: usize,
    /// The limit stopped the listing: the descriptors past it were not examined.
    pub truncated: bool,
}

impl Snapshot {
    /// Lists at most `max_fds` descriptors of `process` through its verified `/proc/PID` (the PID
    /// still belongs to the snapshot's process), reads each one's link (one `readlinkat`) and
    /// identifies, with `statx(AT_STATX_DONT_SYNC)` through the link, only those whose link text
    /// `wanted` accepts. Nothing is opened but the `fd` directory.
    pub fn held_fds(
        &self,
        process: &Process,
        max_fds: usize,
        wanted: impl Fn(&[u8]) -> bool,
    ) -> HeldScan {
        let fail = |e| HeldScan {
            fds: Err(e),
            examined: 0,
            truncated: false,
        };
        let pid = process.pid();
        let files = self.files_dir(pid);
        let opened = if files == pid.to_string() {
            match self.verified_dir(process) {
                Some(dir) => rustix::fs::openat(
                    &dir,
                    "fd",
                    OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC,
                    Mode::empty(),
                ),
                None => Err(Errno::SRCH),
            }
        } else {
            match self.proc_dir() {
                Some(proc) => rustix::fs::openat(
                    proc,
                    format!("{files}/fd").as_str(),
                    OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC,
                    Mode::empty(),
                ),
                None => Err(Errno::NOENT),
            }
        };
        let dir = match opened {
            Ok(d) => d,
            Err(e) => return fail(e),
        };
        let mut fds = Vec::new();
        let mut examined = 0;
        let mut truncated = false;
        let walked = walk_fd_dir(&dir, |dir, fd, name| {
            if examined >= max_fds {
                truncated = true;
                return ControlFlow::Break(());
            }
            examined += 1;
            let Ok(link) = rustix::fs::readlinkat(dir, name, Vec::new()) else {
                return ControlFlow::Continue(());
            };
            if !wanted(link.as_bytes()) {
                return ControlFlow::Continue(());
            }
            if let Ok(st) = rustix::fs::statx(
                dir,
                name,
                AtFlags::STATX_DONT_SYNC,
                StatxFlags::INO | StatxFlags::NLINK | StatxFlags::UID,
            ) {
                fds.push(HeldFd {
                    fd,
                    link: PathBuf::from(
                        <std::ffi::OsString as std::os::unix::ffi::OsStringExt>::from_vec(
                            link.into_bytes(),
                        ),
                    ),
                    dev: locks::makedev(st.stx_dev_major, st.stx_dev_minor),
                    ino: st.stx_ino,
                    nlink: st.stx_nlink,
                    uid: st.stx_uid,
                });
            }
            ControlFlow::Continue(())
        });
        if let Err(e) = walked {
            return fail(e);
        }
        fds.sort_by_key(|h| h.fd);
        HeldScan {
            fds: Ok(fds),
            examined,
            truncated,
        }
    }
}

struct Budget {
    left: usize,
    seen: HashMap<i32, Result<(), Errno>>,
}

enum Probe {
    Holds(i32),
    No,
    /// Its descriptors could not be read (EACCES).
    Unreadable,
    /// The candidate limit was reached.
    Skipped,
}

/// Reads `/proc/locks` within [`LOCKS_READ_CAP`] and `budget` ([`LOCKS_READ_BUDGET`] for an
/// audit): the bytes, the number of `read` calls that returned data, and whether the read stopped
/// early.
pub(crate) fn read_locks(
    proc: BorrowedFd<'_>,
    budget: std::time::Duration,
) -> Result<(Vec<u8>, usize, bool), Errno> {
    let fd = super::open_read(proc, "locks")?;
    let started = std::time::Instant::now();
    let mut buf = vec![0u8; 64 * 1024];
    let mut len = 0;
    let mut reads = 0;
    loop {
        if len == buf.len() {
            if buf.len() >= LOCKS_READ_CAP {
                return Ok((whole_lines(buf), reads, true));
            }
            buf.resize((buf.len() * 2).min(LOCKS_READ_CAP), 0);
        }
        match rustix::io::read(&fd, &mut buf[len..]) {
            Ok(0) => break,
            Ok(n) => {
                len += n;
                reads += 1;
            }
            Err(Errno::INTR) => continue,
            Err(e) => return Err(e),
        }
        if started.elapsed() > budget {
            buf.truncate(len);
            return Ok((whole_lines(buf), reads, true));
        }
    }
    buf.truncate(len);
    Ok((buf, reads, false))
}

/// The bytes up to the last complete line: a read cut short ends mid-line.
fn whole_lines(mut buf: Vec<u8>) -> Vec<u8> {
    let keep = buf.iter().rposition(|&b| b == b'\n').map_or(0, |i| i + 1);
    buf.truncate(keep);
    buf
}

fn dedup(v: Vec<Arc<Process>>) -> Vec<Arc<Process>> {
    let mut seen = HashSet::new();
    v.into_iter().filter(|p| seen.insert(p.pid())).collect()
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// Walks the descriptors under `base` (a process's [`Snapshot::files_dir`]) in `fd` order
/// (ascending), calling `visit` with the directory, the descriptor number and its entry name until
/// it breaks.
fn walk_fds(
    proc: BorrowedFd<'_>,
    base: &str,
    visit: impl FnMut(BorrowedFd<'_>, i32, &std::ffi::CStr) -> ControlFlow<()>,
) -> Result<(), Errno> {
    let dir = rustix::fs::openat(
        proc,
        format!("{base}/fd").as_str(),
        OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC,
        Mode::empty(),
    )?;
    walk_fd_dir(&dir, visit)
}

/// Walks an open `fd` directory as [`walk_fds`] does.
fn walk_fd_dir(
    dir: &rustix::fd::OwnedFd,
    mut visit: impl FnMut(BorrowedFd<'_>, i32, &std::ffi::CStr) -> ControlFlow<()>,
) -> Result<(), Errno> {
    let mut buf = [std::mem::MaybeUninit::<u8>::uninit(); 8192];
    let mut entries = rustix::fs::RawDir::new(dir, &mut buf);
    while let Some(entry) = entries.next() {
        let entry = entry?;
        let name = entry.file_name();
        let Some(fd) = std::str::from_utf8(name.to_bytes())
            .ok()
            .and_then(|s| s.parse::<i32>().ok())
        else {
            continue;
        };
        if visit(dir.as_fd(), fd, name).is_break() {
            break;
        }
    }
    Ok(())
}

/// Lists the `fd` directory under `base` and identifies what each descriptor refers to.
fn scan_fds(proc: BorrowedFd<'_>, base: &str) -> FdTable {
    let mut fds = Vec::new();
    let mut truncated = false;
    let walked = walk_fds(proc, base, |dir, fd, name| {
        if fds.len() >= MAX_FDS {
            truncated = true;
            return ControlFlow::Break(());
        }
        if let Ok(id) = identify(dir, name) {
            fds.push((fd, id.0, id.1));
        }
        ControlFlow::Continue(())
    });
    if let Err(e) = walked {
        return FdTable {
            fds: Err(e),
            truncated: false,
        };
    }
    fds.sort_unstable();
    FdTable {
        fds: Ok(fds),
        truncated,
    }
}

/// The first descriptor under `base` (a process's [`Snapshot::files_dir`], in `fd` order:
/// ascending) that refers to the file `(dev, ino)` and for which `holds` is true, examining at most
/// [`MAX_FDS`] descriptors and identifying each only until that one is found.
fn find_fd(
    proc: BorrowedFd<'_>,
    base: &str,
    dev: u64,
    ino: u64,
    holds: impl Fn(i32) -> bool,
) -> Result<Option<i32>, Errno> {
    let mut seen = 0;
    let mut found = None;
    let mut cut = false;
    walk_fds(proc, base, |dir, fd, name| {
        seen += 1;
        if seen > MAX_FDS {
            cut = true;
            return ControlFlow::Break(());
        }
        if identify(dir, name) == Ok((dev, ino)) && holds(fd) {
            found = Some(fd);
            return ControlFlow::Break(());
        }
        ControlFlow::Continue(())
    })?;
    // Descriptors past MAX_FDS were not examined: "holds none" is not known.
    if found.is_none() && cut {
        return Err(Errno::MFILE);
    }
    Ok(found)
}

/// Device (`st_dev` encoding) and inode of what a `/proc/PID/fd` entry refers to, without syncing
/// with a network filesystem's server.
fn identify(dir: BorrowedFd<'_>, name: &std::ffi::CStr) -> Result<(u64, u64), Errno> {
    match rustix::fs::statx(dir, name, AtFlags::STATX_DONT_SYNC, StatxFlags::INO) {
        Ok(st) => Ok((
            locks::makedev(st.stx_dev_major, st.stx_dev_minor),
            st.stx_ino,
        )),
        Err(Errno::NOSYS) => rustix::fs::statat(dir, name, AtFlags::empty())
            .map(|st| (st.st_dev as u64, st.st_ino as u64)),
        Err(e) => Err(e),
    }
}
