//! Whether the process table or the lock table can have changed since a moment, cheaply: for the
//! watch's interval backstop, which audits everything again only when something its events do not
//! report may have happened.
//!
//! A [`Mark`] records, at a moment, the kernel's count of tasks created since boot (`processes` in
//! `/proc/stat`), the last PID it handed out in the reader's PID namespace (the fifth field of
//! `/proc/loadavg`) and a digest of `/proc/locks`. Between two marks, a process that is new (a
//! second copy started by hand, a reused PID) is one alive now whose PID lies in the range the
//! kernel handed out meanwhile: PIDs are handed out in increasing order, wrapping at `pid_max`, so
//! that range is exact unless more tasks were created than `pid_max` allows (then everything counts
//! as changed). A lock taken or released anywhere changes `/proc/locks`. [`since`] lists `/proc`
//! once (one `getdents64` per 1,000 or so processes) and reads two small files and the lock table:
//! no file per process.
//!
//! What it cannot see: an existing process that executes another program or changes its user
//! without creating a task; the watch documents it.
//!
//! [`parse_forks`] and [`parse_last_pid`] are pure.

use super::holders;
use rustix::fd::{AsFd, OwnedFd};
use rustix::fs::{AtFlags, Mode, OFlags, StatxFlags};
use std::hash::{BuildHasher, Hasher};
use std::path::Path;

/// `statfs.f_type` of procfs.
const PROC_SUPER_MAGIC: i64 = 0x9fa0;

/// The mount a descriptor's file is on, asking no filesystem.
fn mount_id(fd: impl AsFd) -> Option<u64> {
    let st = rustix::fs::statx(
        fd,
        "",
        AtFlags::EMPTY_PATH | AtFlags::STATX_DONT_SYNC,
        StatxFlags::MNT_ID,
    )
    .ok()?;
    StatxFlags::from_bits_retain(st.stx_mask)
        .contains(StatxFlags::MNT_ID)
        .then_some(st.stx_mnt_id)
}

/// The `processes` line of `/proc/stat`: tasks (processes and threads) created since boot.
pub fn parse_forks(stat: &[u8]) -> Option<u64> {
    stat.split(|&b| b == b'\n').find_map(|line| {
        let rest = line.strip_prefix(b"processes ")?;
        std::str::from_utf8(rest).ok()?.trim().parse().ok()
    })
}

/// The last PID handed out in the reader's PID namespace: the fifth field of `/proc/loadavg`
/// (`0.00 0.01 0.05 1/80 12345`).
pub fn parse_last_pid(loadavg: &[u8]) -> Option<u32> {
    let text = std::str::from_utf8(loadavg).ok()?;
    let mut fields = text.split_ascii_whitespace();
    let last = fields.nth(4)?;
    if fields.next().is_some() {
        return None;
    }
    last.parse().ok()
}

/// Whether `pid` was handed out after `from` and up to `to`, PIDs being handed out in increasing
/// order and wrapping around (the range is `(from, to]`, or `(from, max) ∪ [1, to]` after a wrap).
pub fn handed_out(pid: u32, from: u32, to: u32) -> bool {
    if from <= to {
        pid > from && pid <= to
    } else {
        pid > from || pid <= to
    }
}

/// The process and lock tables' marks at one moment (see the module docs).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Mark {
    pub forks: u64,
    pub last_pid: u32,
    /// A digest of `/proc/locks`; `None` when it could not be read whole.
    pub locks: Option<u64>,
}

/// What changed since a mark, as far as a mark can tell.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Change {
    /// A process alive now was created since (the first found).
    NewProcess(u32),
    /// More tasks were created than PIDs exist: the range of new PIDs wrapped entirely.
    Wrapped,
    /// `/proc/locks` differs (or could not be read whole, then or now).
    Locks,
    /// What the mark needs could not be read now.
    Unreadable(&'static str),
}

impl std::fmt::Display for Change {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Change::NewProcess(pid) => write!(f, "PID {pid} started"),
            Change::Wrapped => f.write_str("PIDs wrapped around"),
            Change::Locks => f.write_str("the lock table changed"),
            Change::Unreadable(what) => write!(f, "{what} could not be read"),
        }
    }
}

/// Reads marks from one `/proc`: the reader's own (it shows this process as `self`), since
/// `/proc/loadavg` speaks of the reader's PID namespace.
pub struct Marker {
    proc: OwnedFd,
    /// The mount of `/proc` (its files must be on it).
    mount: u64,
    pid_max: u32,
    hasher: std::collections::hash_map::RandomState,
}

impl Marker {
    /// `None` when `proc_root` is not this process's own `/proc` (another namespace's, a fixture):
    /// then no mark can be compared with the process table it lists.
    pub fn new(proc_root: &Path) -> Option<Marker> {
        let proc = rustix::fs::open(
            proc_root,
            OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC,
            Mode::empty(),
        )
        .ok()?;
        let fs = rustix::fs::fstatfs(&proc).ok()?;
        if fs.f_type as i64 != PROC_SUPER_MAGIC {
            return None;
        }
        let mount = mount_id(&proc)?;
        let own = rustix::process::getpid().as_raw_nonzero().get().to_string();
        let link = rustix::fs::readlinkat(&proc, "self", Vec::new()).ok()?;
        if link.to_bytes() != own.as_bytes() {
            return None;
        }
        let pid_max = super::read_at(&proc, "sys/kernel/pid_max", 64)
            .ok()
            .and_then(|b| std::str::from_utf8(&b).ok()?.trim().parse().ok())
            .unwrap_or(super::PID_MAX_LIMIT);
        Some(Marker {
            proc,
            mount,
            pid_max,
            hasher: Default::default(),
        })
    }

    /// The mark now: the counters first, so that a process created while the lock table is read
    /// is after the mark.
    pub fn mark(&self) -> Result<Mark, Change> {
        let forks = self
            .kernel_file("stat", super::PROC_READ_CAP)
            .and_then(|b| parse_forks(&b))
            .ok_or(Change::Unreadable("/proc/stat"))?;
        let last_pid = self
            .kernel_file("loadavg", 256)
            .and_then(|b| parse_last_pid(&b))
            .ok_or(Change::Unreadable("/proc/loadavg"))?;
        let locks = match holders::read_locks(self.proc.as_fd()) {
            Ok((bytes, _, false)) => {
                let mut h = self.hasher.build_hasher();
                h.write(&bytes);
                Some(h.finish())
            }
            _ => None,
        };
        Ok(Mark {
            forks,
            last_pid,
            locks,
        })
    }

    /// A file of `/proc` as the kernel writes it: `None` when another file is mounted over it (a
    /// container's FUSE file, as lxcfs binds over `loadavg` and `stat`, tells other numbers and
    /// could hang). Its mount is told by `statx` through an `O_PATH` descriptor with
    /// `AT_STATX_DONT_SYNC`, which asks no filesystem, before it is opened.
    fn kernel_file(&self, name: &str, cap: usize) -> Option<Vec<u8>> {
        let path = rustix::fs::openat(
            &self.proc,
            name,
            OFlags::PATH | OFlags::NOFOLLOW | OFlags::CLOEXEC,
            Mode::empty(),
        )
        .ok()?;
        if mount_id(&path)? != self.mount {
            return None;
        }
        super::read_at(&self.proc, name, cap).ok()
    }

    /// What changed between `base` and now, and the mark now (the next base). `None`: nothing a
    /// mark can see. A kernel thread started since (the kernel starts and ends its workers as it
    /// needs them) is a change only when `named` says a pidfile names its PID.
    pub fn since(
        &self,
        base: &Mark,
        named: &dyn Fn(u32) -> bool,
    ) -> (Result<Mark, Change>, Option<Change>) {
        let now = match self.mark() {
            Ok(now) => now,
            Err(e) => return (Err(e.clone()), Some(e)),
        };
        let change = self.compare(base, &now, named);
        (Ok(now), change)
    }

    /// Whether the new process `pid` matters: not a kernel thread no pidfile names, and still
    /// there (a process that cannot be read for another reason matters).
    fn matters(&self, pid: u32, named: &dyn Fn(u32) -> bool) -> bool {
        let path = format!("{pid}/stat");
        match super::read_whole_at(&self.proc, &path, 4096, super::parse_stat) {
            Ok(Ok(stat)) => !stat.is_kernel_thread() || named(pid),
            Err(rustix::io::Errno::NOENT | rustix::io::Errno::SRCH) => false,
            _ => true,
        }
    }

    fn compare(&self, base: &Mark, now: &Mark, named: &dyn Fn(u32) -> bool) -> Option<Change> {
        let created = now.forks.wrapping_sub(base.forks);
        // The kernel hands out PIDs from 300 up after a wrap: fewer than pid_max - 300 new tasks
        // cannot have gone all the way round.
        if created >= u64::from(self.pid_max.saturating_sub(300)) {
            return Some(Change::Wrapped);
        }
        if created > 0 && now.last_pid != base.last_pid {
            let pids = match super::list_pids(&self.proc) {
                Ok(pids) => pids,
                Err(_) => return Some(Change::Unreadable("/proc")),
            };
            if let Some(pid) = pids
                .into_iter()
                .filter_map(|p| u32::try_from(p).ok())
                .filter(|&p| handed_out(p, base.last_pid, now.last_pid))
                .find(|&p| self.matters(p, named))
            {
                return Some(Change::NewProcess(pid));
            }
        }
        match (base.locks, now.locks) {
            (Some(a), Some(b)) if a == b => None,
            _ => Some(Change::Locks),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forks_line() {
        let stat = b"cpu  1 2 3\ncpu0 1 2 3\nintr 5 0\nctxt 99\nbtime 1700000000\nprocesses 2637210\nprocs_running 1\n";
        assert_eq!(parse_forks(stat), Some(2_637_210));
        assert_eq!(parse_forks(b"cpu 1\nprocs_running 1\n"), None);
        assert_eq!(parse_forks(b"processes x\n"), None);
        assert_eq!(parse_forks(b"processes_x 5\n"), None);
    }

    #[test]
    fn loadavg_last_pid() {
        assert_eq!(parse_last_pid(b"0.19 0.87 1.21 1/80 19834\n"), Some(19834));
        assert_eq!(parse_last_pid(b"0.19 0.87 1.21 1/80\n"), None);
        assert_eq!(parse_last_pid(b"0.19 0.87 1.21 1/80 19834 7\n"), None);
        assert_eq!(parse_last_pid(b"0.19 0.87 1.21 1/80 -1\n"), None);
        assert_eq!(parse_last_pid(b"\xff"), None);
    }

    #[test]
    fn handed_out_range_wraps() {
        assert!(handed_out(11, 10, 20));
        assert!(handed_out(20, 10, 20));
        assert!(!handed_out(10, 10, 20));
        assert!(!handed_out(21, 10, 20));
        assert!(!handed_out(5, 10, 10));
        // Wrapped past pid_max back to the low PIDs.
        assert!(handed_out(32000, 30000, 400));
        assert!(handed_out(350, 30000, 400));
        assert!(!handed_out(401, 30000, 400));
        assert!(!handed_out(30000, 30000, 400));
    }

    #[test]
    fn own_proc_marks_a_process_started_since() {
        let Some(marker) = Marker::new(Path::new("/proc")) else {
            panic!("/proc is this test's own");
        };
        let base = marker.mark().unwrap();
        let mut child = std::process::Command::new("sleep")
            .arg("30")
            .spawn()
            .unwrap();
        let (now, change) = marker.since(&base, &|_| false);
        let _ = child.kill();
        let _ = child.wait();
        assert!(now.is_ok());
        // Other tests of this binary may start processes too; this one is the first or another.
        assert!(matches!(change, Some(Change::NewProcess(_))), "{change:?}");
    }

    #[test]
    fn not_own_proc() {
        assert!(Marker::new(Path::new("/nonexistent-proc")).is_none());
        assert!(Marker::new(Path::new("/tmp")).is_none());
    }
}
