//! In-memory snapshots for unit tests: a [`Snapshot`] built from a list of fake processes, with no
//! `/proc` behind it, so a check family can be tested without a live system or a fixture tree.
//!
//! Compiled only for the crate's own unit tests (`#[cfg(test)]`): nothing in the binary or the
//! public API carries it, and the production structs gain no field and no branch for it outside
//! test builds. Integration tests, which see only the public API, keep using real processes and the
//! fake `/proc` trees of `tests/golden.rs`.
//!
//! Nothing here parses on its own: each process is rendered as the kernel prints it (a
//! `/proc/PID/stat` line, a `status` file, a NUL-separated `cmdline`) and read back through the
//! same pure parsers as the live snapshot; `/proc/locks` and fdinfo `lock:` lines go through
//! [`super::locks`]. The results are placed where the live code keeps what it has read: the
//! lazily filled details of each process (every group already read, so nothing opens `/proc`), the
//! lock table (read once per run), and the lock table's caches of descriptor tables and fdinfo
//! (as for a process examined before). A PID the snapshot does not list is looked up in the
//! builder's answers: a thread, a hidden process, one that cannot be examined, else absent.
//!
//! ```ignore
//! let snap = Snapshot::builder()
//!     .process(FakeProcess::new(100, "nginx").uid(33).exe("/usr/sbin/nginx").fd(3, DEV, 77))
//!     .thread(101, 100)
//!     .locks("1: FLOCK  ADVISORY  WRITE 100 08:01:77 0 EOF\n")
//!     .build();
//! ```

use super::details::{parse_cmdline, Exe, Lazy};
use super::holders::FdInfo;
use super::holders::LockTable;
use super::locks::{parse_fdinfo_flags, parse_fdinfo_locks, parse_proc_locks};
use super::stat::PF_KTHREAD;
use super::{parse_stat, parse_status, Lookup, Process, Snapshot, PID_MAX_LIMIT};
use rustix::io::Errno;
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, OnceLock};
use std::time::{Duration, SystemTime};

/// The boot time of a fake snapshot unless set, Unix seconds.
pub const BOOT_TIME: u64 = 1_700_000_000;
/// Clock ticks per second of a fake snapshot.
pub const CLK_TCK: u64 = 100;

/// A fake process: what `/proc/PID` would show of it.
#[derive(Clone, Debug)]
pub struct FakeProcess {
    pid: i32,
    comm: String,
    state: char,
    ppid: i32,
    pgrp: Option<i32>,
    session: Option<i32>,
    flags: u32,
    /// Start time, seconds after boot.
    started: f64,
    uid: u32,
    nspid: Vec<i32>,
    exe: Exe,
    cmdline: Option<Vec<u8>>,
    readable: bool,
    fds: Result<Vec<(i32, u64, u64)>, Errno>,
    fdinfo: Vec<(i32, String)>,
}

impl FakeProcess {
    /// A sleeping process of uid 0, child of PID 1, leading its own session, started one second after
    /// boot, with no executable, no command line and no descriptors.
    pub fn new(pid: i32, comm: &str) -> FakeProcess {
        FakeProcess {
            pid,
            comm: comm.to_string(),
            state: 'S',
            ppid: 1,
            pgrp: None,
            session: None,
            flags: 0,
            started: 1.0,
            uid: 0,
            nspid: Vec::new(),
            exe: Exe::default(),
            cmdline: None,
            readable: true,
            fds: Ok(Vec::new()),
            fdinfo: Vec::new(),
        }
    }

    pub fn ppid(mut self, ppid: i32) -> Self {
        self.ppid = ppid;
        self
    }

    /// `R`, `S`, `Z`, ...
    pub fn state(mut self, state: char) -> Self {
        self.state = state;
        self
    }

    pub fn zombie(self) -> Self {
        self.state('Z')
    }

    /// A kernel thread (`PF_KTHREAD`).
    pub fn kernel_thread(mut self) -> Self {
        self.flags |= PF_KTHREAD;
        self
    }

    /// Its session and process group (both; a member of another process's session).
    pub fn session(mut self, session: i32) -> Self {
        self.session = Some(session);
        self.pgrp = Some(session);
        self
    }

    /// Its process group alone.
    pub fn pgrp(mut self, pgrp: i32) -> Self {
        self.pgrp = Some(pgrp);
        self
    }

    /// Started `secs` after boot.
    pub fn started(mut self, secs: f64) -> Self {
        self.started = secs;
        self
    }

    /// Real, effective, saved and filesystem uid.
    pub fn uid(mut self, uid: u32) -> Self {
        self.uid = uid;
        self
    }

    /// `NSpid`: its PIDs from the snapshot's namespace inwards.
    pub fn nspid(mut self, nspid: &[i32]) -> Self {
        self.nspid = nspid.to_vec();
        self
    }

    /// The `exe` link.
    pub fn exe(mut self, path: &str) -> Self {
        self.exe.path = Some(PathBuf::from(path));
        self
    }

    /// Device and inode of the running executable.
    pub fn exe_id(mut self, dev: u64, ino: u64) -> Self {
        self.exe.id = Some((dev, ino));
        self
    }

    pub fn cmdline(mut self, argv: &[&str]) -> Self {
        let mut bytes = Vec::new();
        for a in argv {
            bytes.extend_from_slice(a.as_bytes());
            bytes.push(0);
        }
        self.cmdline = Some(bytes);
        self
    }

    /// Its details (exe, status, cmdline) cannot be read: gone, or another user's under `hidepid`.
    pub fn unreadable(mut self) -> Self {
        self.readable = false;
        self
    }

    /// A descriptor referring to the file `(dev, ino)` (`st_dev` encoding).
    pub fn fd(mut self, fd: i32, dev: u64, ino: u64) -> Self {
        if let Ok(fds) = &mut self.fds {
            fds.push((fd, dev, ino));
        }
        self
    }

    /// `/proc/PID/fdinfo/FD` of one of its descriptors (its `lock:` lines are what matters).
    pub fn fdinfo(mut self, fd: i32, text: &str) -> Self {
        self.fdinfo.push((fd, text.to_string()));
        self
    }

    /// Its descriptors cannot be listed (`EACCES` for another user's process).
    pub fn fds_unreadable(mut self, errno: Errno) -> Self {
        self.fds = Err(errno);
        self
    }

    /// The `/proc/PID/stat` line the kernel would print.
    fn stat_line(&self) -> String {
        let ticks = (self.started.max(0.0) * CLK_TCK as f64).round() as u64;
        format!(
            "{} ({}) {} {} {} {} 0 -1 {} 0 0 0 0 0 0 0 0 20 0 1 0 {ticks} 0 0\n",
            self.pid,
            self.comm,
            self.state,
            self.ppid,
            self.pgrp.unwrap_or(self.pid),
            self.session.unwrap_or(self.pid),
            self.flags,
        )
    }

    /// The `/proc/PID/status` lines the audit reads.
    fn status_text(&self) -> String {
        let u = self.uid;
        let nspid: Vec<String> = std::iter::once(self.pid)
            .chain(self.nspid.iter().skip(1).copied())
            .map(|p| p.to_string())
            .collect();
        format!(
            "Name:\t{}\nTgid:\t{}\nPid:\t{}\nPPid:\t{}\nUid:\t{u}\t{u}\t{u}\t{u}\nNSpid:\t{}\n",
            self.comm,
            self.pid,
            self.pid,
            self.ppid,
            nspid.join("\t")
        )
    }

    fn process(&self) -> Process {
        let stat = parse_stat(self.stat_line().as_bytes())
            .unwrap_or_else(|e| panic!("fake process {}: {e}", self.pid));
        let lazy = if self.readable {
            Lazy::read(
                self.exe.clone(),
                Some(parse_status(self.status_text().as_bytes())),
                self.cmdline.as_deref().map(parse_cmdline),
            )
        } else {
            Lazy::read(Exe::default(), None, None)
        };
        Process { stat, lazy }
    }
}

/// Builds an in-memory [`Snapshot`]; see the module docs.
#[derive(Debug)]
pub struct Builder {
    boot_time: u64,
    pid_max: u32,
    processes: Vec<FakeProcess>,
    unlisted: HashMap<i32, Lookup>,
    locks: Option<Result<String, Errno>>,
}

impl Snapshot {
    /// An in-memory snapshot for unit tests (see [`fake`](self::fake)).
    pub fn builder() -> Builder {
        Builder {
            boot_time: BOOT_TIME,
            pid_max: PID_MAX_LIMIT,
            processes: Vec::new(),
            unlisted: HashMap::new(),
            locks: None,
        }
    }
}

impl Builder {
    /// Boot time, Unix seconds.
    pub fn boot_time(mut self, secs: u64) -> Self {
        self.boot_time = secs;
        self
    }

    pub fn pid_max(mut self, pid_max: u32) -> Self {
        self.pid_max = pid_max;
        self
    }

    pub fn process(mut self, p: FakeProcess) -> Self {
        self.processes.push(p);
        self
    }

    /// `tid` is a thread of process `tgid` (listed in no snapshot: `/proc` lists leaders only).
    pub fn thread(mut self, tid: i32, tgid: i32) -> Self {
        self.unlisted.insert(tid, Lookup::Thread { tgid });
        self
    }

    /// A process the kernel has but `/proc` hides (`hidepid`).
    pub fn hidden(mut self, pid: i32) -> Self {
        self.unlisted.insert(pid, Lookup::Hidden);
        self
    }

    /// A PID whose process cannot be examined.
    pub fn unknown(mut self, pid: i32, errno: Errno) -> Self {
        self.unlisted.insert(pid, Lookup::Unknown(errno));
        self
    }

    /// The text of `/proc/locks`. Without it (or [`Builder::locks_unreadable`]) the snapshot has no
    /// lock table, as when `/proc` has no `locks` file.
    pub fn locks(mut self, text: &str) -> Self {
        self.locks = Some(Ok(text.to_string()));
        self
    }

    /// `/proc/locks` cannot be read.
    pub fn locks_unreadable(mut self, errno: Errno) -> Self {
        self.locks = Some(Err(errno));
        self
    }

    pub fn build(self) -> Snapshot {
        let (parsed, error) = match self.locks {
            Some(Ok(text)) => (parse_proc_locks(text.as_bytes()), None),
            Some(Err(errno)) => (Default::default(), Some(errno)),
            None => (Default::default(), Some(Errno::NOENT)),
        };
        let table = LockTable::from_parsed(parsed, error, false);
        for p in &self.processes {
            let fdinfo = p
                .fdinfo
                .iter()
                .map(|(fd, text)| {
                    let bytes = text.as_bytes();
                    let info = FdInfo {
                        flags: parse_fdinfo_flags(bytes),
                        locks: parse_fdinfo_locks(bytes).0,
                    };
                    (*fd, info)
                })
                .collect();
            table.preload(p.pid, p.fds.clone(), fdinfo);
        }
        let locks = OnceLock::new();
        let _ = locks.set(table);
        Snapshot {
            proc_root: PathBuf::from("/fake/proc"),
            proc: None,
            proc_error: None,
            live: false,
            boot_time: Some(self.boot_time),
            clk_tck: CLK_TCK,
            pid_max: self.pid_max,
            self_pid: 0,
            taken_at: SystemTime::UNIX_EPOCH + Duration::from_secs(self.boot_time + 3600),
            processes: self
                .processes
                .iter()
                .map(|p| (p.pid, Arc::new(p.process())))
                .collect(),
            locks,
            tree: OnceLock::new(),
            eager: Default::default(),
            unlisted: Some(self.unlisted),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A fake process reads back through the parsers and the lazy details: stat fields, start time,
    /// exe, argv, uid, NSpid; unlisted PIDs are threads, hidden or absent; the tree indexes it.
    #[test]
    fn processes_read_back() {
        let snap = Snapshot::builder()
            .process(
                FakeProcess::new(100, "a) S 1 (b")
                    .ppid(7)
                    .session(50)
                    .started(12.5)
                    .uid(33)
                    .nspid(&[100, 1])
                    .exe("/usr/sbin/x")
                    .exe_id(8, 9)
                    .cmdline(&["x", "-f"]),
            )
            .process(FakeProcess::new(2, "kthreadd").kernel_thread().ppid(0))
            .process(FakeProcess::new(200, "y").unreadable())
            .thread(101, 100)
            .hidden(300)
            .build();
        let Lookup::Process(p) = snap.lookup(100) else {
            panic!("100 not listed")
        };
        assert_eq!(
            (
                p.stat.comm.as_str(),
                p.stat.ppid,
                p.stat.session,
                p.stat.pgrp
            ),
            ("a) S 1 (b", 7, 50, 50)
        );
        assert_eq!(snap.start_time(&p.stat), Some(BOOT_TIME as f64 + 12.5));
        let d = snap.details(&p);
        assert_eq!(d.exe, Some(std::path::Path::new("/usr/sbin/x")));
        assert_eq!(d.exe_id, Some((8, 9)));
        assert_eq!(d.cmdline, Some(&["x".to_string(), "-f".to_string()][..]));
        assert_eq!(d.uid(), Some(33));
        assert_eq!(d.status.unwrap().nspid, [100, 1]);
        assert!(matches!(snap.lookup(101), Lookup::Thread { tgid: 100 }));
        assert!(matches!(snap.lookup(300), Lookup::Hidden));
        assert!(matches!(snap.lookup(400), Lookup::Absent));
        assert!(snap.get(2).unwrap().stat.is_kernel_thread());
        assert!(snap.details(snap.get(200).unwrap()).status.is_none());
        assert_eq!(snap.tree().in_session_or_group(50), &[100]);
        assert!(snap.tree().with_comm("kthreadd").is_empty());
    }

    /// Holder resolution finds the process whose fdinfo lists the lock, from the preloaded caches.
    #[test]
    fn holders_resolve_from_fake_descriptors() {
        let dev = super::super::locks::makedev(8, 1);
        let line = "1: FLOCK  ADVISORY  WRITE 100 08:01:77 0 EOF";
        let snap = Snapshot::builder()
            .process(FakeProcess::new(100, "d").fd(3, dev, 77))
            .process(
                FakeProcess::new(101, "d")
                    .ppid(100)
                    .fd(4, dev, 77)
                    .fdinfo(4, &format!("pos:\t0\nflags:\t02\nlock:\t{line}\n")),
            )
            .locks(&format!("{line}\n"))
            .build();
        let table = snap.locks();
        assert!(table.complete());
        let fl = table.resolve(&snap, dev, 77, snap.get(100));
        let holders: Vec<(i32, Option<i32>)> =
            fl.holders().iter().map(|h| (h.pid(), h.fd)).collect();
        assert_eq!(holders, [(101, Some(4))]);
        assert!(fl.examined_ok(100));
    }
}
