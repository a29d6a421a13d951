//! Pidfiles deleted or replaced under their daemons, found from the daemons' descriptors.
//!
//! [`super::locks`] finds such files from `/proc/locks`, which names the acquirer of POSIX and flock
//! locks. Two cases escape it: a daemon that keeps its pidfile open without a lock (a stop script
//! deleted the file, the daemon ignored the signal), and an OFD lock, which `/proc/locks` prints
//! with PID `-1`. Both are looked for here among a bounded set of candidates, never every
//! process.
//!
//! # Candidates
//! Daemon-like processes that no pidfile found tracks: a parent that is PID 1 or a known supervisor
//! ([`crate::system::identity::SUPERVISORS`], or a `systemd` user manager), or a session leader;
//! never PID 1, a kernel thread, a dead process or the auditor. A process some pidfile records
//! (audited and running, listed, or one of the machine's other pidfiles when only some paths are
//! audited, written by root or the process's user), and its children of the same name, are not
//! candidates. The older first (parents PID 1 or a supervisor before session leaders), at most
//! [`MAX_HELD_PROCESSES`], each read up to [`MAX_HELD_FDS`] descriptors and
//! [`MAX_HELD_TOTAL_FDS`] in all (the candidates left then count as not examined): `/proc/PID/fd` listed
//! through the verified `/proc/PID`, one `readlinkat` per descriptor, and `statx` and fdinfo only
//! for a descriptor whose link names a pidfile the search wants.
//!
//! # What is reported
//! - `deleted-pidfile-held`: a descriptor opened for writing on a deleted file (no links left)
//!   whose last path was a pidfile name below a walked root, no pidfile of the run naming it, the
//!   file root's or the holder's own; with or without a lock (`locked`, and the lock in the
//!   evidence when fdinfo shows one). Once per deleted inode.
//! - `replaced-while-locked`: a descriptor on an audited pidfile's path whose inode is not the one
//!   there now, holding a write lock (fdinfo `lock:` line) through a descriptor opened for
//!   writing: the OFD case `/proc/locks` cannot attribute.
//!
//! More candidates than the limit is a `locks-unknown` finding with the counts, never silence; a
//! process read in part (more descriptors than the limit) or not at all during a directory scan
//! (another user's, unprivileged) is the same finding as info, so that every scan of a machine
//! with a busy server, or by a monitoring agent, is not unknown. Only on the live `/proc`.

use super::locks::{deleted_held, replaced_finding, LOCKS_UNKNOWN};
use super::{Cx, Entry, PidVerdict};
use crate::model::{Finding, State};
use crate::system::holders::HeldFd;
use crate::system::locks::{LockLine, LockMode};
use crate::system::{Process, Snapshot};
use rustix::fs::OFlags;
use rustix::io::Errno;
use std::collections::{HashMap, HashSet};
use std::ffi::OsString;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// The most daemon-like processes whose descriptors are read.
pub const MAX_HELD_PROCESSES: usize = 256;
/// The most descriptors read in one of them (as many as the lock-holder search reads).
pub const MAX_HELD_FDS: usize = crate::system::holders::MAX_FDS;
/// The most descriptors read in all: past it, the candidates left are not examined.
pub const MAX_HELD_TOTAL_FDS: usize = 65_536;

/// What the search looks for, from the lock search ([`super::locks`]).
pub struct Wanted<'a> {
    /// Audited pidfiles by the path the kernel gives their directory, and name.
    pub by_key: &'a HashMap<(PathBuf, OsString), usize>,
    /// The walked roots, as the kernel names them.
    pub roots: &'a [PathBuf],
    /// The auditor's mount namespace (a holder in another sees other files under the same path).
    pub own_mnt: Option<&'a std::ffi::CString>,
    /// (entry or `usize::MAX`, PID, fd) already reported.
    pub reported: &'a mut HashSet<(usize, i32, i32)>,
    /// Deleted inodes already reported.
    pub deleted: &'a mut HashSet<(u64, u64)>,
}

/// Splits a descriptor link into the path shown and whether it ends with ` (deleted)`.
pub fn split_link(bytes: &[u8]) -> (&Path, bool) {
    match bytes.strip_suffix(b" (deleted)") {
        Some(b) => (Path::new(std::ffi::OsStr::from_bytes(b)), true),
        None => (Path::new(std::ffi::OsStr::from_bytes(bytes)), false),
    }
}

/// How daemon-like a process is: `Some(0)` for a child of PID 1 or of a supervisor, `Some(1)` for
/// another session leader, `None` for a process that is no candidate.
pub fn daemon_like(snap: &Snapshot, p: &Process, own: i32) -> Option<u8> {
    let s = &p.stat;
    if s.pid <= 1 || s.pid == own || s.is_kernel_thread() || snap.is_dead(p) {
        return None;
    }
    let supervised = s.ppid == 1
        || snap.get(s.ppid).is_some_and(|pp| {
            pp.stat.comm == "systemd"
                || crate::system::identity::SUPERVISORS.contains(&pp.stat.comm.as_str())
        });
    if supervised {
        Some(0)
    } else if s.session == s.pid {
        Some(1)
    } else {
        None
    }
}

/// The PIDs some pidfile of the run (or of the machine, [`Cx::elsewhere`]) records.
fn tracked(cx: &Cx<'_>, entries: &[Entry]) -> HashSet<i32> {
    let snap = cx.snapshot;
    let mut set = HashSet::new();
    for e in entries {
        if let (Some(p), State::Running) = (&e.process, e.state()) {
            set.insert(p.pid());
        }
        set.extend(
            e.listed
                .iter()
                .filter(|l| l.verdict == PidVerdict::Running)
                .map(|l| l.pid as i32),
        );
    }
    for &(pid, _, owner) in &cx.elsewhere {
        // Any user can write a file naming any PID where users may create files.
        if let Some(p) = snap.get(pid) {
            if owner == 0 || snap.status(p).and_then(|s| s.uid()) == Some(owner) {
                set.insert(pid);
            }
        }
    }
    set
}

/// The candidates, best first, and how many there were in all.
pub fn candidates(cx: &Cx<'_>, entries: &[Entry], own: i32) -> (Vec<Arc<Process>>, usize) {
    let snap = cx.snapshot;
    let tracked = tracked(cx, entries);
    let mut all: Vec<(u8, u64, i32, &Arc<Process>)> = snap
        .processes()
        .filter(|p| {
            let s = &p.stat;
            // Tracked, or a tracked daemon's worker (same name as its tracked parent).
            let worker = tracked.contains(&s.ppid)
                && snap.get(s.ppid).is_some_and(|pp| pp.stat.comm == s.comm);
            !tracked.contains(&s.pid) && !worker
        })
        .filter_map(|p| daemon_like(snap, p, own).map(|c| (c, p.stat.starttime, p.pid(), p)))
        .collect();
    all.sort_unstable_by_key(|&(c, start, pid, _)| (c, start, pid));
    let total = all.len();
    let chosen = all
        .into_iter()
        .take(MAX_HELD_PROCESSES)
        .map(|(_, _, _, p)| Arc::clone(p))
        .collect();
    (chosen, total)
}

/// Searches the candidates' descriptors; findings about audited pidfiles go to their entries,
/// the others are returned.
pub fn search(cx: &Cx<'_>, entries: &mut [Entry], mut want: Wanted<'_>) -> Vec<Finding> {
    let snap = cx.snapshot;
    let own = std::process::id() as i32;
    let (chosen, total) = candidates(cx, entries, own);
    let mut out = Vec::new();
    let mut fd_cut = 0usize;
    let mut unreadable: Vec<(i32, Errno)> = Vec::new();
    let (by_key, roots) = (want.by_key, want.roots);
    let wanted = |bytes: &[u8]| -> bool {
        if !bytes.starts_with(b"/") {
            return false;
        }
        let (shown, deleted) = split_link(bytes);
        let (Some(parent), Some(name)) = (shown.parent(), shown.file_name()) else {
            return false;
        };
        by_key.contains_key(&(parent.to_path_buf(), name.to_os_string()))
            || (deleted
                && crate::discover::is_pidfile_name(name, parent)
                && roots.iter().any(|r| parent.starts_with(r)))
    };
    let mut left = MAX_HELD_TOTAL_FDS;
    let mut examined = 0;
    for p in &chosen {
        if left == 0 {
            break;
        }
        examined += 1;
        let pid = p.pid();
        let scan = snap.held_fds(p, MAX_HELD_FDS.min(left), wanted);
        left -= scan.examined;
        fd_cut += usize::from(scan.truncated);
        let fds = match scan.fds {
            Ok(fds) => fds,
            // Exited meanwhile: nothing to find.
            Err(Errno::NOENT | Errno::SRCH) => continue,
            Err(e) => {
                unreadable.push((pid, e));
                continue;
            }
        };
        for h in fds {
            judge(cx, entries, &mut want, p, &h, &mut out);
        }
    }
    let cut = total.saturating_sub(examined);
    // Unreadable descriptors matter where a directory was walked: a per-service check names its
    // files, and another user's process is not its concern.
    let unseen = if want.roots.is_empty() {
        0
    } else {
        unreadable.len()
    };
    if cut > 0 || fd_cut > 0 || unseen > 0 {
        let subject = snap.proc_root.join("locks").display().to_string();
        let f = Finding::new(
                LOCKS_UNKNOWN,
                &subject,
                format!(
                    "the search for pidfiles deleted or replaced under their daemons examined {} of the {total} daemon-like processes no pidfile tracks ({fd_cut} with more than {MAX_HELD_FDS} descriptors read in part, {unseen} whose descriptors could not be read{}): a daemon among the others would not be found",
                    examined - unreadable.len(),
                    unreadable.first().map(|(_, e)| format!(": {e}")).unwrap_or_default(),
                ),
            )
            .with("search", "held-descriptors")
            .with("candidates", total)
            .with("examined", examined - unreadable.len())
            .with("max_processes", MAX_HELD_PROCESSES)
            .with("fds_truncated", fd_cut)
            .with("max_fds", MAX_HELD_FDS)
            .with("unreadable", unseen)
            .with(
                "unreadable_pids",
                unreadable
                    .iter()
                    .take(if unseen > 0 { 16 } else { 0 })
                    .map(|(p, _)| *p)
                    .collect::<Vec<_>>(),
            );
        // Every candidate examined, some only in part (a server with thousands of sockets) or
        // not at all (other users' processes, unprivileged, as a monitoring agent runs): said,
        // as info, so that such a machine's every directory scan is not unknown. Candidates left
        // out by the limit (which any user can force with session leaders) stay unknown.
        out.push(if cut == 0 {
            f.severity(crate::model::Severity::Info)
        } else {
            f
        });
    }
    out
}

/// Judges one wanted descriptor of candidate `p`.
fn judge(
    cx: &Cx<'_>,
    entries: &mut [Entry],
    want: &mut Wanted<'_>,
    p: &Arc<Process>,
    h: &HeldFd,
    out: &mut Vec<Finding>,
) {
    let snap = cx.snapshot;
    let table = snap.locks();
    let pid = p.pid();
    let (shown, deleted) = split_link(h.link.as_os_str().as_bytes());
    let (Some(parent), Some(name)) = (shown.parent(), shown.file_name()) else {
        return;
    };
    let info = table.fd_locks(snap, pid, h.fd);
    let Ok(info) = &*info else { return };
    // Only a descriptor opened for writing can be the daemon's: any reader can open the file.
    let writable = info
        .flags
        .is_some_and(|f| f & OFlags::ACCMODE.bits() != OFlags::RDONLY.bits());
    if !writable {
        return;
    }
    let lock: Option<&LockLine> = info.locks.iter().find(|l| l.mode == LockMode::Write);
    // A holder in another mount namespace sees other files under the same path.
    let mnt = snap.proc_dir().and_then(|proc| {
        rustix::fs::readlinkat(proc, format!("{pid}/ns/mnt").as_str(), Vec::new()).ok()
    });
    if want.own_mnt.is_some() && mnt.is_some() && want.own_mnt != mnt.as_ref() {
        return;
    }
    match want
        .by_key
        .get(&(parent.to_path_buf(), name.to_os_string()))
        .copied()
    {
        Some(idx) => {
            let e = &mut entries[idx];
            let current = e.facts().is_some_and(|f| (f.dev, f.ino) == (h.dev, h.ino));
            let Some(line) = lock else { return };
            if current || !want.reported.insert((idx, pid, h.fd)) {
                return;
            }
            let f = replaced_finding(e, p, line, h.fd, (h.dev, h.ino), deleted, &h.link);
            e.findings.push(f.with("found_by", "descriptor"));
        }
        None => {
            if !deleted
                || h.nlink != 0
                || want.reported.contains(&(usize::MAX, pid, h.fd))
                || !want.deleted.insert((h.dev, h.ino))
            {
                return;
            }
            want.reported.insert((usize::MAX, pid, h.fd));
            if let Some(f) = deleted_held(cx, p, lock, h.fd, (h.dev, h.ino), shown, Some(h.uid)) {
                out.push(f.with("found_by", "descriptor"));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::checks::testing;
    use crate::system::fake::FakeProcess;

    /// Children of init and of supervisors first, then session leaders, the older first; never
    /// kernel threads, zombies, PID 1, the auditor, tracked daemons or their same-named workers.
    #[test]
    fn candidates_are_untracked_daemon_like_processes() {
        let snap = Snapshot::builder()
            .process(FakeProcess::new(1, "init").ppid(0).session(1))
            .process(FakeProcess::new(2, "kthreadd").kernel_thread().ppid(0))
            .process(FakeProcess::new(3, "kworker").kernel_thread().ppid(2))
            .process(FakeProcess::new(10, "runsv").ppid(1).started(5.0))
            .process(FakeProcess::new(11, "svcd").ppid(10).started(9.0))
            .process(FakeProcess::new(20, "sshd").ppid(1).started(1.0))
            .process(
                FakeProcess::new(30, "leader")
                    .ppid(29)
                    .session(30)
                    .started(2.0),
            )
            .process(FakeProcess::new(40, "worker").ppid(30).session(30))
            .process(FakeProcess::new(50, "gone").ppid(1).zombie())
            .process(FakeProcess::new(60, "nginx").ppid(1))
            .process(FakeProcess::new(61, "nginx").ppid(60).session(61))
            .process(FakeProcess::new(70, "me").ppid(1))
            .build();
        let config = testing::config();
        let cx = testing::cx(&snap, &config);
        let mut e = testing::pidfile("/run/nginx.pid", "60\n", testing::file(1, 0));
        crate::checks::check_pidfile(&cx, &mut e);
        let entries = vec![e];
        let (chosen, total) = candidates(&cx, &entries, 70);
        let pids: Vec<i32> = chosen.iter().map(|p| p.pid()).collect();
        assert_eq!(pids, vec![20, 10, 11, 30]);
        assert_eq!(total, 4);
    }
}
