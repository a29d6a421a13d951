//! Directories met by discovery, reopened on demand.
//!
//! Each directory is a [`Dir`]: its name in its parent, its device and inode, and its parent. No
//! descriptor is held per directory for the run: at most [`CACHED`] are kept open, shared by the
//! walk, the reads and the trust check, and a directory whose descriptor was dropped is reopened
//! one component at a time from the cheapest open point: climbing by `..` from a cached directory
//! below one of its ancestors (how a walk or a read comes back up a deep tree), then down by name.
//! Each step is opened `O_PATH|O_NOFOLLOW`, examined with cached `statx` (see [`super::mounts`])
//! and checked to be the very directory discovery saw (same device and inode). A directory swapped
//! since (replaced by another or by a link, covered by a mount) is never reopened by name:
//! `ESTALE`. (Climbing by `..` from a directory inside it finds a directory renamed elsewhere, as
//! a descriptor held since the walk would.) Only the bases, `/` and the working directory, stay
//! open for the whole run.
//!
//! Memory is one name per directory; nothing is copied per level of depth.

use super::mounts::{self, Component};
use rustix::fd::{AsFd, OwnedFd};
use rustix::io::Errno;
use std::collections::HashMap;
use std::ffi::{OsStr, OsString};
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::path::PathBuf;
use std::sync::{Arc, Mutex, Weak};

/// How many directory descriptors a discovery keeps open at most (besides its bases and the few in
/// use at a time).
pub const CACHED: usize = 64;
/// How many levels a cached directory may be below an ancestor of the one to reopen for `..` to be
/// climbed from it.
const CLIMB: usize = 256;

/// A directory found by discovery.
pub struct Dir {
    parent: Option<Arc<Dir>>,
    /// The name in the parent (for a base: how it was named, `/` or `.`).
    name: Box<OsStr>,
    dev: u64,
    ino: u64,
    /// A base's descriptor, held for the run.
    base: Option<Arc<OwnedFd>>,
    cache: Arc<FdCache>,
}

impl std::fmt::Debug for Dir {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Dir")
            .field("name", &self.name)
            .field("dev", &self.dev)
            .field("ino", &self.ino)
            .finish_non_exhaustive()
    }
}

impl Drop for Dir {
    /// Drops a long chain of parents one at a time, not by recursion (a directory may be thousands
    /// of levels deep).
    fn drop(&mut self) {
        let mut next = self.parent.take();
        while let Some(p) = next {
            next = Arc::into_inner(p).and_then(|mut d| d.parent.take());
        }
    }
}

impl Dir {
    /// A base: a directory held open for the run (`/`, the working directory).
    pub(crate) fn base(c: Component, name: &OsStr, cache: &Arc<FdCache>) -> Arc<Dir> {
        let (dev, ino) = c.id();
        Arc::new(Dir {
            parent: None,
            name: name.into(),
            dev,
            ino,
            base: Some(Arc::new(c.fd)),
            cache: Arc::clone(cache),
        })
    }

    /// The subdirectory `name` of `parent`, just opened as `c` (its descriptor is cached).
    pub(crate) fn child(parent: &Arc<Dir>, name: &OsStr, c: Component) -> (Arc<Dir>, Arc<OwnedFd>) {
        let (dev, ino) = c.id();
        let dir = Arc::new(Dir {
            parent: Some(Arc::clone(parent)),
            name: name.into(),
            dev,
            ino,
            base: None,
            cache: Arc::clone(&parent.cache),
        });
        let fd = Arc::new(c.fd);
        dir.cache.put(&dir, &fd);
        (dir, fd)
    }

    /// `(device, inode)`.
    pub fn id(&self) -> (u64, u64) {
        (self.dev, self.ino)
    }

    /// The parent, unless this is a base.
    /// The name it was met by (`/`, `.` or `..` for a base).
    pub fn name(&self) -> &OsStr {
        &self.name
    }

    pub fn parent(&self) -> Option<&Arc<Dir>> {
        self.parent.as_ref()
    }

    /// An `O_PATH` descriptor of this directory: held or cached, or reopened from the cheapest
    /// starting point (see [`FdCache::start`]), every step checked to be the directory discovery
    /// saw. `ESTALE` when one is not.
    pub fn open(self: &Arc<Dir>) -> Result<Arc<OwnedFd>, Errno> {
        if let Some(fd) = self.held() {
            return Ok(fd);
        }
        // This directory and its ancestors, nearest first; the last is a base, held open.
        let mut up: Vec<&Arc<Dir>> = vec![self];
        while let Some(p) = up[up.len() - 1].parent.as_ref() {
            up.push(p);
        }
        let index: HashMap<*const Dir, usize> = up
            .iter()
            .enumerate()
            .map(|(i, d)| (Arc::as_ptr(d), i))
            .collect();
        let climbed = self
            .cache
            .start(&index, up.len() - 1)
            .and_then(|(fd, from, climb)| self.climb(fd, from, climb));
        let (mut fd, at) = match climbed {
            Some((fd, at)) => (fd, index[&Arc::as_ptr(&at)]),
            None => {
                let base = up[up.len() - 1];
                (base.held().ok_or(Errno::STALE)?, up.len() - 1)
            }
        };
        for dir in up[..at].iter().rev() {
            let c = mounts::open_component(fd.as_fd(), &dir.name)?;
            if c.id() != dir.id() || !c.is_dir() || c.kind.may_hang() {
                return Err(Errno::STALE);
            }
            fd = Arc::new(c.fd);
            self.cache.put(dir, &fd);
        }
        Ok(fd)
    }

    /// Climbs `steps` levels by `..` from `from` (open as `fd`), each step checked to be the parent
    /// discovery saw: a directory moved since leads elsewhere, and gives `None`.
    fn climb(
        &self,
        mut fd: Arc<OwnedFd>,
        from: Arc<Dir>,
        steps: usize,
    ) -> Option<(Arc<OwnedFd>, Arc<Dir>)> {
        let mut cur = from;
        for _ in 0..steps {
            let parent = Arc::clone(cur.parent.as_ref()?);
            let c = mounts::open_component(fd.as_fd(), OsStr::new("..")).ok()?;
            if c.id() != parent.id() || !c.is_dir() || c.kind.may_hang() {
                return None;
            }
            fd = Arc::new(c.fd);
            self.cache.put(&parent, &fd);
            cur = parent;
        }
        Some((fd, cur))
    }

    fn held(self: &Arc<Dir>) -> Option<Arc<OwnedFd>> {
        self.base.clone().or_else(|| self.cache.get(self))
    }

    /// The path from the base, for people (never used to open anything).
    pub fn path(&self) -> PathBuf {
        let mut names: Vec<&OsStr> = Vec::new();
        let mut cur = Some(self);
        while let Some(d) = cur {
            names.push(&d.name);
            cur = d.parent.as_deref();
        }
        let mut out: Vec<u8> = Vec::new();
        for name in names.into_iter().rev() {
            if !out.is_empty() && out.last() != Some(&b'/') {
                out.push(b'/');
            }
            out.extend_from_slice(name.as_bytes());
        }
        PathBuf::from(OsString::from_vec(out))
    }
}

/// The open directory descriptors one discovery keeps: at most [`CACHED`], replaced in turn.
#[derive(Debug)]
pub struct FdCache {
    slots: Mutex<Slots>,
}

#[derive(Debug, Default)]
struct Slots {
    entries: Vec<(Weak<Dir>, Arc<OwnedFd>)>,
    next: usize,
}

impl FdCache {
    pub fn new() -> Arc<FdCache> {
        Arc::new(FdCache {
            slots: Mutex::new(Slots::default()),
        })
    }

    fn slots(&self) -> std::sync::MutexGuard<'_, Slots> {
        self.slots.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn get(&self, dir: &Arc<Dir>) -> Option<Arc<OwnedFd>> {
        let ptr = Arc::as_ptr(dir);
        self.slots()
            .entries
            .iter()
            .find(|(d, _)| d.as_ptr() == ptr)
            .map(|(_, fd)| Arc::clone(fd))
    }

    /// The cheapest cached starting point for reopening a directory whose ancestors (itself
    /// first) are `index`ed by distance: a cached directory at or below one of them, at most
    /// [`CLIMB`] levels, costing the levels climbed by `..` plus those opened by name down from that
    /// ancestor. `None` when none beats `base_cost`, the names from the base down.
    fn start(
        &self,
        index: &HashMap<*const Dir, usize>,
        base_cost: usize,
    ) -> Option<(Arc<OwnedFd>, Arc<Dir>, usize)> {
        let s = self.slots();
        let mut best_cost = base_cost;
        let mut best = None;
        for (weak, fd) in &s.entries {
            let Some(from) = weak.upgrade() else {
                continue;
            };
            let mut cur: Option<&Dir> = Some(&from);
            let mut climb = 0;
            while let Some(d) = cur {
                if climb >= best_cost || climb > CLIMB {
                    break;
                }
                if let Some(&down) = index.get(&(d as *const Dir)) {
                    if climb + down < best_cost {
                        best_cost = climb + down;
                        best = Some((Arc::clone(fd), Arc::clone(&from), climb));
                    }
                    break;
                }
                cur = d.parent.as_deref();
                climb += 1;
            }
        }
        best
    }

    fn put(&self, dir: &Arc<Dir>, fd: &Arc<OwnedFd>) {
        let ptr = Arc::as_ptr(dir);
        let mut s = self.slots();
        let entry = (Arc::downgrade(dir), Arc::clone(fd));
        if let Some(e) = s.entries.iter_mut().find(|(d, _)| d.as_ptr() == ptr) {
            *e = entry;
        } else if s.entries.len() < CACHED {
            s.entries.push(entry);
        } else {
            let i = s.next;
            s.entries[i] = entry;
            s.next = (i + 1) % CACHED;
        }
    }

    /// How many descriptors are cached.
    pub fn len(&self) -> usize {
        self.slots().entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rustix::fs::{Mode, OFlags};

    fn base(path: &std::path::Path, cache: &Arc<FdCache>) -> Arc<Dir> {
        let fd = rustix::fs::open(path, OFlags::PATH | OFlags::DIRECTORY, Mode::empty()).unwrap();
        let st = mounts::probe(fd.as_fd()).unwrap();
        let kind = mounts::kind_of(&st);
        Dir::base(Component { fd, st, kind }, path.as_os_str(), cache)
    }

    fn child(parent: &Arc<Dir>, name: &str) -> Arc<Dir> {
        let pfd = parent.open().unwrap();
        let c = mounts::open_component(pfd.as_fd(), OsStr::new(name)).unwrap();
        Dir::child(parent, OsStr::new(name), c).0
    }

    /// More directories than the cache holds are all reopened, each as the same inode, with no more
    /// descriptors kept than the cache's size.
    #[test]
    fn reopens_beyond_the_cache() {
        let t = tempfile::tempdir().unwrap();
        let cache = FdCache::new();
        let root = base(t.path(), &cache);
        let mut dirs = Vec::new();
        for i in 0..(CACHED * 3) {
            let name = format!("d{i}");
            std::fs::create_dir_all(t.path().join(&name).join("sub")).unwrap();
            let d = child(&root, &name);
            dirs.push(child(&d, "sub"));
        }
        assert!(cache.len() <= CACHED);
        for d in &dirs {
            let fd = d.open().unwrap();
            let st = rustix::fs::fstat(&*fd).unwrap();
            assert_eq!((st.st_dev as u64, st.st_ino as u64), d.id());
        }
        assert!(cache.len() <= CACHED);
        assert!(dirs[0].path().ends_with(std::path::Path::new("d0/sub")));
    }

    /// A directory swapped for another (renamed away, a new one made at its name) or for a symlink
    /// is not reopened.
    #[test]
    fn swapped_directory_is_stale() {
        let t = tempfile::tempdir().unwrap();
        let cache = FdCache::new();
        let root = base(t.path(), &cache);
        let mut dirs = Vec::new();
        for i in 0..(CACHED + 2) {
            std::fs::create_dir(t.path().join(format!("d{i}"))).unwrap();
            dirs.push(child(&root, &format!("d{i}")));
        }
        // d0 and d1 are out of the cache by now.
        std::fs::rename(t.path().join("d0"), t.path().join("gone")).unwrap();
        std::fs::create_dir(t.path().join("d0")).unwrap();
        std::fs::remove_dir(t.path().join("d1")).unwrap();
        std::os::unix::fs::symlink("gone", t.path().join("d1")).unwrap();
        assert_eq!(dirs[0].open().unwrap_err(), Errno::STALE);
        assert_eq!(dirs[1].open().unwrap_err(), Errno::STALE);
        assert!(dirs[2].open().is_ok());
    }

    /// A chain far deeper than any stack allows is dropped without recursion.
    #[test]
    fn deep_chain_drops() {
        let t = tempfile::tempdir().unwrap();
        let cache = FdCache::new();
        let root = base(t.path(), &cache);
        let mut cur = root;
        for _ in 0..200_000 {
            cur = Arc::new(Dir {
                parent: Some(cur),
                name: OsStr::new("x").into(),
                dev: 0,
                ino: 0,
                base: None,
                cache: Arc::clone(&cache),
            });
        }
        drop(cur);
    }
}
