//! What the kernel tells `watch`: inotify watches on the audited directories and a pidfd per
//! tracked daemon, both bounded, and the reconciliation of each with the last audit.

use crate::discover::Dir;
use rustix::event::epoll;
use rustix::fs::inotify::WatchFlags;
use rustix::io::Errno;
use std::collections::{HashMap, HashSet};
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::path::PathBuf;
use std::sync::Arc;

/// At most this many directories are watched; the rest are audited every interval only.
pub const MAX_WATCHES: usize = 4096;
/// At most this many daemons are tracked by pidfd; the rest are audited every interval only.
pub const MAX_PIDFDS: usize = 4096;

/// The epoll token of a pidfd: this bit and the PID.
pub const PIDFD_TOKEN: u64 = 1 << 32;

/// What a directory watch reports: entries created, removed, moved, written or changed in mode,
/// and the directory itself removed or moved.
fn mask() -> WatchFlags {
    WatchFlags::CREATE
        | WatchFlags::DELETE
        | WatchFlags::MOVED_FROM
        | WatchFlags::MOVED_TO
        | WatchFlags::CLOSE_WRITE
        | WatchFlags::MODIFY
        | WatchFlags::ATTRIB
        | WatchFlags::DELETE_SELF
        | WatchFlags::MOVE_SELF
        | WatchFlags::ONLYDIR
        | WatchFlags::EXCL_UNLINK
}

/// The inotify watches, by directory identity and by watch descriptor.
pub struct Watches {
    pub fd: OwnedFd,
    by_id: HashMap<(u64, u64), i32>,
    by_wd: HashMap<i32, ((u64, u64), PathBuf)>,
}

/// What could not be watched or tracked in one reconciliation.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Failures {
    pub count: usize,
    /// The first few, with the reason.
    pub first: Vec<(String, String)>,
}

impl Failures {
    fn add(&mut self, what: String, why: String) {
        self.count += 1;
        if self.first.len() < 3 {
            self.first.push((what, why));
        }
    }
}

impl Watches {
    pub fn new() -> Result<Watches, Errno> {
        use rustix::fs::inotify::CreateFlags;
        Ok(Watches {
            fd: rustix::fs::inotify::init(CreateFlags::NONBLOCK | CreateFlags::CLOEXEC)?,
            by_id: HashMap::new(),
            by_wd: HashMap::new(),
        })
    }

    pub fn len(&self) -> usize {
        self.by_wd.len()
    }

    pub fn is_empty(&self) -> bool {
        self.by_wd.is_empty()
    }

    /// The directory a watch descriptor watches.
    pub fn path(&self, wd: i32) -> Option<&std::path::Path> {
        self.by_wd.get(&wd).map(|(_, p)| p.as_path())
    }

    /// The kernel dropped a watch (its directory is gone, or it was removed).
    pub fn dropped(&mut self, wd: i32) {
        if let Some((id, _)) = self.by_wd.remove(&wd) {
            if self.by_id.get(&id) == Some(&wd) {
                self.by_id.remove(&id);
            }
        }
    }

    /// Watches exactly `dirs` (up to [`MAX_WATCHES`]): each new one through its held descriptor
    /// (`/proc/self/fd/N` of the `O_PATH` descriptor discovery re-verified), never by path, and
    /// removes the watches of directories no longer audited. Returns what could not be watched,
    /// and how many watches were added (a directory changed between the walk that found it and
    /// its watch is seen only by another audit).
    pub fn reconcile<'a>(&mut self, dirs: impl Iterator<Item = &'a Arc<Dir>>) -> (Failures, usize) {
        let mut failures = Failures::default();
        let mut new_watches = 0;
        let mut wanted: HashSet<(u64, u64)> = HashSet::new();
        for dir in dirs {
            let id = dir.id();
            if !wanted.insert(id) || self.by_id.contains_key(&id) {
                continue;
            }
            let path = dir.path();
            if self.by_id.len() >= MAX_WATCHES {
                failures.add(
                    crate::model::text::path(&path),
                    format!("more than {MAX_WATCHES} directories"),
                );
                continue;
            }
            let added = dir.open().and_then(|fd| {
                let link = format!("/proc/self/fd/{}", fd.as_fd().as_raw_fd());
                rustix::fs::inotify::add_watch(&self.fd, link, mask())
            });
            match added {
                Ok(wd) => {
                    // The same inode under two names (a bind mount) has one watch.
                    if let Some((old, _)) = self.by_wd.insert(wd, (id, path)) {
                        self.by_id.remove(&old);
                    }
                    self.by_id.insert(id, wd);
                    new_watches += 1;
                }
                Err(e) => failures.add(crate::model::text::path(&path), e.to_string()),
            }
        }
        let gone: Vec<(u64, u64)> = self
            .by_id
            .keys()
            .filter(|id| !wanted.contains(id))
            .copied()
            .collect();
        for id in gone {
            if let Some(wd) = self.by_id.remove(&id) {
                self.by_wd.remove(&wd);
                // Already gone with its directory: nothing to remove.
                let _ = rustix::fs::inotify::remove_watch(&self.fd, wd);
            }
        }
        (failures, new_watches)
    }
}

/// One pidfd per tracked daemon, registered with the epoll set.
#[derive(Default)]
pub struct Pidfds {
    fds: HashMap<u32, OwnedFd>,
}

impl Pidfds {
    pub fn len(&self) -> usize {
        self.fds.len()
    }

    pub fn is_empty(&self) -> bool {
        self.fds.is_empty()
    }

    /// Forgets a daemon (its pidfd was readable: it exited).
    pub fn exited(&mut self, epoll: &OwnedFd, pid: u32) {
        if let Some(fd) = self.fds.remove(&pid) {
            let _ = epoll::delete(epoll, &fd);
        }
    }

    /// Tracks exactly the daemons `wanted` (PID and start time in clock ticks), up to
    /// [`MAX_PIDFDS`]. A new pidfd is kept only if `/proc/PID/stat` still shows the start time the
    /// audit saw (so it pins that process, not a successor with the same PID). Returns what could
    /// not be tracked, and the PIDs that were gone (or replaced) before their pidfd was opened.
    pub fn reconcile(
        &mut self,
        epoll: &OwnedFd,
        wanted: &HashMap<u32, u64>,
        proc_root: &std::path::Path,
    ) -> (Failures, Vec<u32>) {
        let mut failures = Failures::default();
        let mut gone = Vec::new();
        let stale: Vec<u32> = self
            .fds
            .keys()
            .filter(|pid| !wanted.contains_key(pid))
            .copied()
            .collect();
        for pid in stale {
            self.exited(epoll, pid);
        }
        let mut pids: Vec<(&u32, &u64)> = wanted.iter().collect();
        pids.sort();
        for (&pid, &start) in pids {
            if self.fds.contains_key(&pid) {
                continue;
            }
            if self.fds.len() >= MAX_PIDFDS {
                failures.add(
                    format!("PID {pid}"),
                    format!("more than {MAX_PIDFDS} daemons"),
                );
                continue;
            }
            let fd = match crate::system::pidfd(pid) {
                Ok(fd) => fd,
                Err(Errno::SRCH) => {
                    gone.push(pid);
                    continue;
                }
                Err(e) => {
                    failures.add(format!("PID {pid}"), e.to_string());
                    continue;
                }
            };
            let stat = match std::fs::read(proc_root.join(pid.to_string()).join("stat")) {
                Ok(bytes) => Some(bytes),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
                // Out of descriptors, say: not tracked, and not to be taken for an exit.
                Err(e) => {
                    failures.add(format!("PID {pid}"), e.to_string());
                    continue;
                }
            };
            let same = stat
                .and_then(|b| crate::system::stat::parse_stat(&b).ok())
                .is_some_and(|s| s.starttime == start && !s.is_zombie());
            if !same {
                gone.push(pid);
                continue;
            }
            let data = epoll::EventData::new_u64(PIDFD_TOKEN | u64::from(pid));
            match epoll::add(epoll, &fd, data, epoll::EventFlags::IN) {
                Ok(()) => {
                    self.fds.insert(pid, fd);
                }
                Err(e) => failures.add(format!("PID {pid}"), e.to_string()),
            }
        }
        (failures, gone)
    }
}
