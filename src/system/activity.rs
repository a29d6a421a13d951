//! Whether the process table or the lock table can have changed since a moment, cheaply: for the
//! watch's interval backstop, which audits everything again only when something its events do not
//! report may have happened.
//!
//! A [`Mark`] records, at a moment, the kernel's count of tasks created since boot (`processes` in
//! `/proc/stat`), the last PID it handed out in the reader's PID namespace (the fifth field of
//! `/proc/loadavg`), the PIDs `/proc` lists (thread-group leaders; the kernel's own threads,
//! kthreadd's children, left out) and a digest of `/proc/locks`. Between two marks, a process
//! started or ended is a PID in one listing and not the other; a PID in both that the kernel
//! handed out meanwhile (PIDs are handed out in increasing order, wrapping at `pid_max`) belongs to
//! another process now; more tasks created than `pid_max` allows counts as a change. A lock taken
//! or released anywhere changes `/proc/locks` (compared without the lines' ordinals, which locks
//! hidden in other PID namespaces shift). [`Marker::since`] lists `/proc` once (one
//! `getdents64` per 1,000 or so processes) and reads a few small files and the lock table: no
//! file per process. `/proc/stat` and `/proc/loadavg` are trusted only on `/proc`'s own mount
//! (lxcfs binds other files over them in containers). [`Marker::exes`] and
//! [`Marker::exes_changed`] tell whether a process's `exe` link reads otherwise (another program
//! executed, the executable deleted or replaced on disk).
//!
//! What it cannot see: an existing process (other than those whose `exe` links it is given) that
//! executes another program, or one that renames itself or changes its user or cgroup, without
//! creating a task; the watch audits everything at least hourly for those.
//!
//! [`parse_forks`] and [`parse_last_pid`] are pure.

use super::holders;
use rustix::fd::{AsFd, OwnedFd};
use rustix::fs::{AtFlags, Mode, OFlags, StatxFlags};
use std::hash::{BuildHasher, Hasher};
use std::path::Path;

/// The longest the lock table is read for a mark. A table that takes longer (its cost grows with
/// the square of the number of locks, which any user can raise) counts as changed, and the
/// whole audit reads it within its own budget: a user with a huge lock table costs the watch this
/// much more per interval than the audit alone.
pub const LOCKS_BUDGET: std::time::Duration = std::time::Duration::from_millis(50);

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

/// A `/proc/locks` line without its leading ordinal (`12: `): the kernel numbers every lock,
/// those of processes another PID namespace hides included, so a lock taken or released there
/// renumbers the lines shown here without changing them.
pub fn without_ordinal(line: &[u8]) -> &[u8] {
    match line.iter().position(|&b| b == b':') {
        Some(i) if i > 0 && line[..i].iter().all(u8::is_ascii_digit) => &line[i + 1..],
        _ => line,
    }
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
    /// The processes `/proc` lists (thread-group leaders), the kernel's own threads left out,
    /// in ascending order.
    pub pids: Vec<u32>,
    /// A digest of `/proc/locks`; `None` when it could not be read whole.
    pub locks: Option<u64>,
}

/// What changed since a mark, as far as a mark can tell.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Change {
    /// A process alive now was not then (the first found).
    NewProcess(u32),
    /// A process alive then is gone.
    Exited(u32),
    /// A process has a PID that was handed out since, though a process had it then too.
    Reused(u32),
    /// A PID a pidfile names, which `/proc` does not list, now exists (a thread, a kernel thread).
    NamedThread(u32),
    /// More tasks were created than PIDs exist: the range of new PIDs wrapped entirely.
    Wrapped,
    /// `/proc/locks` differs (or could not be read whole, then or now).
    Locks,
    /// A process runs another executable than then, or its executable was deleted or replaced on
    /// disk (an upgrade): its `exe` link reads otherwise.
    ExeChanged(u32),
    /// What the mark needs could not be read now.
    Unreadable(&'static str),
}

/// What a process's `exe` link read at a mark (`None`: it could not be read).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ExeMark {
    pub pid: u32,
    pub link: Option<Vec<u8>>,
}

impl std::fmt::Display for Change {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Change::NewProcess(pid) => write!(f, "PID {pid} started"),
            Change::Exited(pid) => write!(f, "PID {pid} exited"),
            Change::Reused(pid) => write!(f, "PID {pid} was handed to another process"),
            Change::NamedThread(pid) => write!(f, "PID {pid}, which a pidfile names, now exists"),
            Change::ExeChanged(pid) => write!(
                f,
                "PID {pid} runs another executable, or its executable was deleted or replaced"
            ),
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
        Some(Marker {
            proc,
            mount,
            hasher: Default::default(),
        })
    }

    /// The `exe` links of `pids`, for [`Marker::exes_changed`]. A link is read by `readlinkat`,
    /// which asks no filesystem (the kernel prints the path it holds, with ` (deleted)` once the
    /// file is unlinked), so an executable on a FUSE or network mount cannot hang it.
    pub fn exes(&self, pids: &[u32]) -> Vec<ExeMark> {
        pids.iter()
            .map(|&pid| ExeMark {
                pid,
                link: self.exe_link(pid),
            })
            .collect()
    }

    /// The first process whose `exe` link reads otherwise than at its mark: it executed another
    /// program, or its executable was deleted or replaced on disk.
    pub fn exes_changed(&self, exes: &[ExeMark]) -> Option<Change> {
        exes.iter()
            .find(|e| self.exe_link(e.pid) != e.link)
            .map(|e| Change::ExeChanged(e.pid))
    }

    fn exe_link(&self, pid: u32) -> Option<Vec<u8>> {
        let path = format!("{pid}/exe");
        rustix::fs::readlinkat(&self.proc, path.as_str(), Vec::new())
            .ok()
            .map(|l| l.into_bytes())
    }

    /// `pid_max` now (it may be changed while the watch runs).
    fn pid_max(&self) -> u32 {
        super::read_at(&self.proc, "sys/kernel/pid_max", 64)
            .ok()
            .and_then(|b| std::str::from_utf8(&b).ok()?.trim().parse().ok())
            .unwrap_or(super::PID_MAX_LIMIT)
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
        let pids = self.processes().ok_or(Change::Unreadable("/proc"))?;
        let locks = match holders::read_locks(self.proc.as_fd(), LOCKS_BUDGET) {
            Ok((bytes, _, false)) => {
                let mut h = self.hasher.build_hasher();
                for line in bytes.split(|&b| b == b'\n') {
                    h.write(without_ordinal(line));
                    h.write_u8(b'\n');
                }
                Some(h.finish())
            }
            _ => None,
        };
        Ok(Mark {
            forks,
            last_pid,
            pids,
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

    /// The processes `/proc` lists, ascending, without the kernel's threads: kthreadd's children
    /// (one read of `/proc/2/task/2/children`, when PID 2 is kthreadd) and kthreadd. The kernel
    /// starts and ends its workers as it needs them; they write no pidfile.
    fn processes(&self) -> Option<Vec<u32>> {
        let mut pids: Vec<u32> = super::list_pids(&self.proc)
            .ok()?
            .into_iter()
            .filter_map(|p| u32::try_from(p).ok())
            .collect();
        let kthreadd = super::read_whole_at(&self.proc, "2/stat", 4096, super::parse_stat)
            .ok()
            .and_then(Result::ok)
            .is_some_and(|s| s.comm == "kthreadd" && s.ppid == 0 && s.is_kernel_thread());
        if kthreadd {
            let children =
                super::read_at(&self.proc, "2/task/2/children", 1 << 20).unwrap_or_default();
            let mut kernel: Vec<u32> = std::str::from_utf8(&children)
                .unwrap_or("")
                .split_ascii_whitespace()
                .filter_map(|w| w.parse().ok())
                .collect();
            kernel.push(2);
            kernel.sort_unstable();
            pids.retain(|p| kernel.binary_search(p).is_err());
        }
        pids.sort_unstable();
        Some(pids)
    }

    /// What changed between `base` and now, and the mark now (the next base). `None`: nothing a
    /// mark can see. `named`: the PIDs the pidfiles name, each looked up when `/proc` does not list
    /// it (a thread or a kernel thread may have it now).
    pub fn since(&self, base: &Mark, named: &[u32]) -> (Result<Mark, Change>, Option<Change>) {
        let now = match self.mark() {
            Ok(now) => now,
            Err(e) => return (Err(e.clone()), Some(e)),
        };
        let change = self.compare(base, &now, named);
        (Ok(now), change)
    }

    fn compare(&self, base: &Mark, now: &Mark, named: &[u32]) -> Option<Change> {
        let created = now.forks.wrapping_sub(base.forks);
        // The kernel hands out PIDs from 300 up after a wrap: fewer than pid_max - 300 new tasks
        // cannot have gone all the way round.
        let pid_max = self.pid_max();
        if created >= u64::from(pid_max.saturating_sub(300)) {
            return Some(Change::Wrapped);
        }
        let (mut a, mut b) = (base.pids.iter().peekable(), now.pids.iter().peekable());
        loop {
            match (a.peek(), b.peek()) {
                (Some(&&x), Some(&&y)) if x == y => {
                    // Handed out since, while a process had it then: that one ended, this one is new.
                    if created > 0
                        && now.last_pid != base.last_pid
                        && handed_out(y, base.last_pid, now.last_pid)
                    {
                        return Some(Change::Reused(y));
                    }
                    a.next();
                    b.next();
                }
                (Some(&&x), Some(&&y)) if x < y => return Some(Change::Exited(x)),
                (Some(_), Some(&&y)) => return Some(Change::NewProcess(y)),
                (Some(&&x), None) => return Some(Change::Exited(x)),
                (None, Some(&&y)) => return Some(Change::NewProcess(y)),
                (None, None) => break,
            }
        }
        if created > 0 {
            let gone = named.iter().filter(|p| now.pids.binary_search(p).is_err());
            for &pid in gone {
                let path = pid.to_string();
                if rustix::fs::accessat(
                    &self.proc,
                    path.as_str(),
                    rustix::fs::Access::EXISTS,
                    AtFlags::empty(),
                )
                .is_ok()
                {
                    return Some(Change::NamedThread(pid));
                }
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
    fn lock_lines_without_ordinals() {
        assert_eq!(
            without_ordinal(b"12: FLOCK  ADVISORY  WRITE 1234 00:1a:5678 0 EOF"),
            b" FLOCK  ADVISORY  WRITE 1234 00:1a:5678 0 EOF"
        );
        assert_eq!(
            without_ordinal(b"3: -> POSIX  ADVISORY  WRITE 9 08:01:7 0 EOF"),
            b" -> POSIX  ADVISORY  WRITE 9 08:01:7 0 EOF"
        );
        assert_eq!(without_ordinal(b"x: y"), b"x: y");
        assert_eq!(without_ordinal(b": y"), b": y");
        assert_eq!(without_ordinal(b""), b"");
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
    fn own_proc_marks_a_process_started_and_ended() {
        let Some(marker) = Marker::new(Path::new("/proc")) else {
            panic!("/proc is this test's own");
        };
        let base = marker.mark().unwrap();
        assert!(base.pids.windows(2).all(|w| w[0] < w[1]));
        assert!(base.pids.contains(&std::process::id()));
        let mut child = std::process::Command::new("sleep")
            .arg("30")
            .spawn()
            .unwrap();
        let (now, change) = marker.since(&base, &[]);
        let now = now.unwrap();
        assert!(now.pids.contains(&child.id()));
        // Other tests of this binary may start processes too: some change is seen.
        assert!(change.is_some());
        let _ = child.kill();
        let _ = child.wait();
        let (_, change) = marker.since(&now, &[]);
        assert!(change.is_some());
    }

    /// A named PID that `/proc` does not list but that exists (this test's thread) is a change
    /// once tasks were created.
    #[test]
    fn named_thread_is_seen() {
        let marker = Marker::new(Path::new("/proc")).unwrap();
        let base = marker.mark().unwrap();
        let (tx, rx) = std::sync::mpsc::channel();
        let (done_tx, done_rx) = std::sync::mpsc::channel::<()>();
        let t = std::thread::spawn(move || {
            tx.send(nix::unistd::gettid().as_raw() as u32).unwrap();
            let _ = done_rx.recv();
        });
        let tid = rx.recv().unwrap();
        let mut quiet = base.clone();
        let now = marker.mark().unwrap();
        // Only the thread differs: the same processes, no lock changed.
        quiet.pids = now.pids.clone();
        quiet.locks = now.locks;
        quiet.last_pid = now.last_pid;
        let change = marker.compare(&quiet, &now, &[tid]);
        done_tx.send(()).unwrap();
        t.join().unwrap();
        assert_eq!(change, Some(Change::NamedThread(tid)));
    }

    #[test]
    fn not_own_proc() {
        assert!(Marker::new(Path::new("/nonexistent-proc")).is_none());
        assert!(Marker::new(Path::new("/tmp")).is_none());
    }
}
