//! Discovery: roots and paths become candidate pidfiles.
//!
//! The kernel never follows a link and never looks anything up on a filesystem that may hang. Every
//! component, from `/` (or the working directory) down, is opened `O_PATH|O_NOFOLLOW` relative to
//! the directory before it and examined with cached `statx`, whose mount ID says (through
//! `/proc/self/mountinfo`, see [`mounts`]) whether it is on a FUSE, network or automount
//! filesystem: such a directory is never entered (a `WalkProblem`, `EREMOTE`), because a server
//! that never answers would hang the audit. A symlink in a PATH named on the command line (and
//! `/var/run -> /run`) is meant: it is read (`readlinkat`) and its target walked the same way. In
//! the walk below a root, symlinked directories are not followed, and a directory swapped for a
//! symlink mid-walk is never entered, so nothing outside the tree is read. Unreadable directories
//! are reported and the walk goes on.
//!
//! The walk is a loop with an explicit stack: it holds no descriptor per level (directories are
//! [`Dir`]s, reopened on demand, at most [`dirs::CACHED`] open; see [`dirs`]) and builds each path
//! in one buffer, so descriptors stay bounded and memory grows with the number of directories and
//! the depth, never with their product.

pub mod dirs;
pub mod mounts;

pub use dirs::Dir;

use globset::GlobSet;
use mounts::{Component, FsKind};
use rustix::fd::{AsFd, OwnedFd};
use rustix::fs::{Mode, OFlags};
use rustix::io::Errno;
use std::collections::{HashSet, VecDeque};
use std::ffi::{OsStr, OsString};
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// The roots walked when no PATH is given: the runtime directories, and the usual homes of
/// supervised service directories (daemontools' `/service` and `/etc/service`, runit's `/etc/sv`
/// and `/var/service`, s6's `/run/service` and s6-rc's service directories, which lie deeper below
/// `/run` than its walk goes). Roots met twice (a link, or a directory inside another root) are
/// walked once per path; a file found twice is one candidate.
pub const DEFAULT_ROOTS: [&str; 8] = [
    "/run",
    "/var/run",
    "/service",
    "/etc/service",
    "/etc/sv",
    "/var/service",
    "/run/service",
    "/run/s6-rc/servicedirs",
];
/// How deep the default roots are walked (`/run/a/b/c/x.pid` is depth 4).
pub const DEFAULT_MAX_DEPTH: usize = 4;
/// The most symbolic links followed while resolving one PATH (as the kernel allows).
pub const MAX_ROOT_FOLLOWS: u32 = 40;

/// A file to audit as a pidfile.
#[derive(Clone, Debug)]
pub struct Candidate {
    /// The path as shown to people.
    pub path: PathBuf,
    /// The directory that holds it (opened on demand: [`Dir::open`]).
    pub dir: Arc<Dir>,
    /// Its name in that directory.
    pub name: OsString,
    /// Named on the command line (a missing explicit pidfile is a finding).
    pub explicit: bool,
}

/// Something the walk could not look into.
#[derive(Clone, Debug)]
pub struct WalkProblem {
    pub path: PathBuf,
    pub op: &'static str,
    pub errno: Errno,
}

/// What discovery found.
#[derive(Debug, Default)]
pub struct Discovery {
    pub roots: Vec<PathBuf>,
    /// The directories walked as roots, as discovery resolved them (parallel to `roots`).
    pub root_dirs: Vec<Arc<Dir>>,
    pub candidates: Vec<Candidate>,
    pub problems: Vec<WalkProblem>,
    /// Files named explicitly whose directory does not exist (so they do not either).
    pub missing: Vec<PathBuf>,
    /// Every directory listed by the walk, in walk order (`watch` watches them).
    pub dirs: Vec<Arc<Dir>>,
}

/// How to discover.
#[derive(Clone, Debug)]
pub struct Options {
    /// Paths named on the command line; the default roots when empty.
    pub paths: Vec<PathBuf>,
    pub max_depth: usize,
    pub exclude: GlobSet,
}

/// Whether a directory entry is audited as a pidfile: `*.pid` (which covers PostgreSQL's
/// `postmaster.pid`), and in a supervisor's control directory ([`is_supervise_dir`]) runit's `pid`
/// and the binary `status` of daemontools and s6 (a directory with both is audited once, by its
/// `pid`: see [`Discovery::candidates`]).
pub fn is_pidfile_name(name: &OsStr, parent: &Path) -> bool {
    let bytes = name.as_bytes();
    if bytes.len() > 4 && bytes.ends_with(b".pid") {
        return true;
    }
    (bytes == b"pid" || bytes == b"status") && is_supervise_dir(parent)
}

/// Whether `dir` (a path) is a supervisor's control directory: named `supervise` (or
/// `supervise.*`), or a service's directory below one named `supervise` (Debian's runit links
/// `/etc/sv/NAME/supervise` to `/run/runit/supervise/NAME`).
pub fn is_supervise_dir(dir: &Path) -> bool {
    dir.file_name()
        .is_some_and(|n| n.as_bytes().starts_with(b"supervise"))
        || dir
            .parent()
            .and_then(Path::file_name)
            .is_some_and(|n| n == "supervise")
}

/// Finds the candidate pidfiles.
pub fn discover(opts: &Options) -> Discovery {
    let mut out = Discovery::default();
    let mut bases = Bases::new(dirs::FdCache::new());
    let mut seen_dirs: HashSet<(u64, u64)> = HashSet::new();
    let explicit = !opts.paths.is_empty();
    let roots: Vec<PathBuf> = if explicit {
        opts.paths.clone()
    } else {
        DEFAULT_ROOTS.iter().map(PathBuf::from).collect()
    };
    let mut walked: Vec<(Arc<Dir>, PathBuf)> = Vec::new();
    for root in roots {
        match resolve(&mut bases, &root) {
            // A directory of procfs or sysfs named as a PATH is kernel state, not a directory of
            // pidfiles: audited as one entry (`not-a-file`), never walked.
            Ok(Resolved::Dir(dir)) if explicit && on_kernel_fs(&dir) => {
                let (dir, name) = match dir.parent() {
                    Some(parent) => (Arc::clone(parent), dir.name().to_os_string()),
                    None => (dir, OsString::from(".")),
                };
                out.candidates.push(Candidate {
                    path: root,
                    dir,
                    name,
                    explicit: true,
                });
            }
            Ok(Resolved::Dir(dir)) => {
                if seen_dirs.insert(dir.id()) {
                    out.roots.push(root.clone());
                    out.root_dirs.push(Arc::clone(&dir));
                    walk(opts, Arc::clone(&dir), &root, &mut out);
                    walked.push((dir, root));
                }
            }
            // A PATH that is not a directory is audited as a pidfile whatever its name.
            Ok(Resolved::Entry { dir, name }) if explicit => out.candidates.push(Candidate {
                path: root,
                dir,
                name,
                explicit: true,
            }),
            Ok(Resolved::Entry { .. }) => {}
            Err(Unresolved::Missing) if explicit => out.missing.push(root),
            Err(Unresolved::Missing) => {}
            Err(Unresolved::Refused(kind)) => out.problems.push(WalkProblem {
                path: root,
                op: kind.through_op(),
                errno: mounts::REFUSED,
            }),
            Err(Unresolved::Failed { op, errno }) => out.problems.push(WalkProblem {
                path: root,
                op,
                errno,
            }),
        }
    }
    // After every root: a file found through a link and directly is kept under its direct path.
    for (dir, root) in walked {
        service_links(&mut bases, opts, &dir, &root, &mut out, &mut seen_dirs);
    }
    out.candidates.sort_by(|a, b| a.path.cmp(&b.path));
    // runit writes both `pid` and `status`: its service is audited once, by the `pid`.
    let runit: HashSet<(u64, u64)> = out
        .candidates
        .iter()
        .filter(|c| c.name == "pid" && is_supervise_dir(c.path.parent().unwrap_or(Path::new(""))))
        .map(|c| c.dir.id())
        .collect();
    out.candidates.retain(|c| {
        c.explicit
            || c.name != "status"
            || !runit.contains(&c.dir.id())
            || !is_supervise_dir(c.path.parent().unwrap_or(Path::new("")))
    });
    // A file both walked and named explicitly is explicit.
    out.candidates.dedup_by(|a, b| {
        let same = a.path == b.path;
        if same {
            b.explicit |= a.explicit;
        }
        same
    });
    out
}

/// Follows a scan directory's links to service directories (`/etc/service/NAME -> /etc/sv/NAME`,
/// as `svscan` and `runsvdir` use them), one level deep, only where nobody but root could have made
/// them: the scan directory (a root) is owned by root and writable by nobody else, the link is
/// root's, and its target is a directory that holds `supervise` (or is the root's own `supervise`:
/// `pidaudit /etc/sv/NAME` on Debian, whose runit links it to `/run/runit/supervise/NAME`). The target is resolved like a
/// PATH (one component at a time, never through a mount that may hang) and walked under the
/// link's path (`/etc/service/NAME/supervise/status`); files already found directly keep their
/// direct path.
fn service_links(
    bases: &mut Bases,
    opts: &Options,
    dir: &Arc<Dir>,
    root: &Path,
    out: &mut Discovery,
    seen_dirs: &mut HashSet<(u64, u64)>,
) {
    let Ok(fd) = dir.open() else {
        return;
    };
    match rustix::fs::fstat(&*fd) {
        Ok(st) if st.st_uid == 0 && st.st_mode & 0o022 == 0 => {}
        _ => return,
    }
    let Ok(entries) = list_dir(&*fd) else {
        return;
    };
    let links: Vec<OsString> = entries
        .flatten()
        .filter(|e| {
            matches!(
                e.file_type(),
                rustix::fs::FileType::Symlink | rustix::fs::FileType::Unknown
            )
        })
        .map(|e| OsStr::from_bytes(e.file_name().to_bytes()).to_os_string())
        .filter(|n| n != "." && n != "..")
        .collect();
    if links.is_empty() {
        return;
    }
    let known: HashSet<((u64, u64), OsString)> = out
        .candidates
        .iter()
        .map(|c| (c.dir.id(), c.name.clone()))
        .collect();
    for name in links {
        let path = root.join(&name);
        if excluded(opts, &path, &name) {
            continue;
        }
        match mounts::open_component(fd.as_fd(), &name) {
            Ok(c) if c.is_symlink() && c.st.stx_uid == 0 => {}
            _ => continue,
        }
        let Ok(Resolved::Dir(target)) = resolve(bases, &path) else {
            continue;
        };
        // A service directory's own `supervise` link (Debian's runit: to
        // `/run/runit/supervise/NAME`) when the service directory is the root.
        let holds_supervise = name == "supervise"
            || target
                .open()
                .and_then(|t| mounts::open_component(t.as_fd(), OsStr::new("supervise")))
                .is_ok();
        if !holds_supervise || !seen_dirs.insert(target.id()) {
            continue;
        }
        let mut found = Discovery::default();
        walk(opts, target, &path, &mut found);
        out.candidates.extend(
            found
                .candidates
                .into_iter()
                .filter(|c| !known.contains(&(c.dir.id(), c.name.clone()))),
        );
        out.problems.extend(found.problems);
    }
}

/// The entries of a directory held as an `O_PATH` descriptor (`.` reopened for listing: never
/// another directory).
pub fn list_dir(fd: impl AsFd) -> Result<rustix::fs::Dir, Errno> {
    let listing = rustix::fs::openat(
        fd,
        ".",
        OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC,
        Mode::empty(),
    )?;
    rustix::fs::Dir::new(listing)
}

/// Opens a directory by path the way a PATH is resolved (one component at a time, links read and
/// followed in this process, never through a mount that may hang): for fixed places such as
/// systemd's unit directories. `None` when it is missing or not a directory.
pub fn open_dir(path: &Path) -> Option<Arc<Dir>> {
    let mut bases = Bases::new(dirs::FdCache::new());
    match resolve(&mut bases, path) {
        Ok(Resolved::Dir(dir)) => Some(dir),
        _ => None,
    }
}

/// A candidate for a file outside the walked roots (a systemd unit's `PIDFile=`): its directory
/// opened like a PATH. `None` when the directory does not exist.
pub fn candidate_at(path: &Path) -> Option<Candidate> {
    let dir = open_dir(path.parent()?)?;
    Some(Candidate {
        path: path.to_path_buf(),
        dir,
        name: path.file_name()?.to_os_string(),
        explicit: false,
    })
}

/// Whether a directory is on procfs or sysfs (its cached attributes and mount ID).
fn on_kernel_fs(dir: &Arc<Dir>) -> bool {
    dir.open()
        .ok()
        .and_then(|fd| mounts::probe(fd.as_fd()).ok())
        .is_some_and(|st| matches!(mounts::kind_of(&st), FsKind::Proc | FsKind::Sys))
}

/// The directories held for the whole run: `/` and the working directory, opened when first needed.
struct Bases {
    cache: Arc<dirs::FdCache>,
    root: Option<Result<Arc<Dir>, Unresolved>>,
    cwd: Option<Result<Arc<Dir>, Unresolved>>,
}

impl Bases {
    fn new(cache: Arc<dirs::FdCache>) -> Bases {
        Bases {
            cache,
            root: None,
            cwd: None,
        }
    }

    fn get(&mut self, absolute: bool) -> Result<Arc<Dir>, Unresolved> {
        let (slot, name) = if absolute {
            (&mut self.root, "/")
        } else {
            (&mut self.cwd, ".")
        };
        let cache = &self.cache;
        slot.get_or_insert_with(|| {
            let fd = rustix::fs::open(
                name,
                OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC,
                Mode::empty(),
            )
            .map_err(|errno| Unresolved::Failed { op: "open", errno })?;
            let c = component(fd)?;
            Ok(Dir::base(c, OsStr::new(name), cache))
        })
        .clone()
    }

    /// `..` of a base (`..` of `/` is `/`): a new base.
    fn above(&self, base: &Arc<Dir>) -> Result<Arc<Dir>, Unresolved> {
        let fd = base
            .open()
            .map_err(|errno| Unresolved::Failed { op: "open", errno })?;
        let c = mounts::open_component(fd.as_fd(), OsStr::new(".."))
            .map_err(|errno| Unresolved::Failed { op: "open", errno })?;
        if c.id() == base.id() {
            return Ok(Arc::clone(base));
        }
        if c.kind.may_hang() {
            return Err(Unresolved::Refused(c.kind));
        }
        Ok(Dir::base(c, OsStr::new(".."), &self.cache))
    }
}

/// A descriptor examined as a [`Component`].
fn component(fd: OwnedFd) -> Result<Component, Unresolved> {
    let st = mounts::probe(fd.as_fd()).map_err(|errno| Unresolved::Failed { op: "stat", errno })?;
    let kind = mounts::kind_of(&st);
    if kind.may_hang() {
        return Err(Unresolved::Refused(kind));
    }
    Ok(Component { fd, st, kind })
}

/// What a PATH named on the command line leads to.
enum Resolved {
    /// A directory: walked.
    Dir(Arc<Dir>),
    /// Anything else (or nothing yet): audited as the pidfile `name` in `dir`. A final symlink that
    /// does not lead to a directory is the link itself, read as a symlinked pidfile.
    Entry { dir: Arc<Dir>, name: OsString },
}

#[derive(Clone, Debug)]
enum Unresolved {
    /// A directory on the way does not exist.
    Missing,
    /// The path leads through a mount that may hang; nothing on it was touched.
    Refused(FsKind),
    Failed {
        op: &'static str,
        errno: Errno,
    },
}

/// Resolves a PATH one component at a time, following its symlinks in this process: each component
/// is opened `O_PATH|O_NOFOLLOW` relative to the directory before it and examined before anything
/// is looked up in it (see the module docs).
fn resolve(bases: &mut Bases, path: &Path) -> Result<Resolved, Unresolved> {
    let bytes = path.as_os_str().as_bytes();
    let mut cur = bases.get(bytes.first() == Some(&b'/'))?;
    let mut todo: VecDeque<OsString> = VecDeque::new();
    queue(&mut todo, bytes);
    let mut follows = 0u32;
    // Set while the target of a final symlink is being resolved: the link itself, audited as the
    // pidfile unless its target turns out to be a directory.
    let mut final_link: Option<(Arc<Dir>, OsString)> = None;
    let link_or = |final_link: &Option<(Arc<Dir>, OsString)>, e: Unresolved| match final_link {
        Some((dir, name)) => Ok(Resolved::Entry {
            dir: Arc::clone(dir),
            name: name.clone(),
        }),
        None => Err(e),
    };
    while let Some(comp) = todo.pop_front() {
        if comp == ".." {
            cur = match cur.parent() {
                Some(p) => Arc::clone(p),
                None => match bases.above(&cur) {
                    Ok(d) => d,
                    Err(e) => return link_or(&final_link, e),
                },
            };
            continue;
        }
        let last = todo.is_empty();
        let opened = cur
            .open()
            .and_then(|fd| mounts::open_component(fd.as_fd(), &comp));
        let c = match opened {
            Ok(c) => c,
            Err(Errno::NOENT) if last && final_link.is_none() => {
                return Ok(Resolved::Entry {
                    dir: cur,
                    name: comp,
                })
            }
            Err(Errno::NOENT) => return link_or(&final_link, Unresolved::Missing),
            Err(errno) => return link_or(&final_link, Unresolved::Failed { op: "open", errno }),
        };
        if c.is_symlink() {
            follows += 1;
            if follows > MAX_ROOT_FOLLOWS {
                return link_or(
                    &final_link,
                    Unresolved::Failed {
                        op: "open",
                        errno: Errno::LOOP,
                    },
                );
            }
            let target = match rustix::fs::readlinkat(&c.fd, "", Vec::new()) {
                Ok(t) => t.into_bytes(),
                Err(errno) => {
                    return link_or(
                        &final_link,
                        Unresolved::Failed {
                            op: "readlink",
                            errno,
                        },
                    )
                }
            };
            if last && final_link.is_none() {
                final_link = Some((Arc::clone(&cur), comp));
            }
            if target.first() == Some(&b'/') {
                cur = match bases.get(true) {
                    Ok(d) => d,
                    Err(e) => return link_or(&final_link, e),
                };
            }
            queue(&mut todo, &target);
            continue;
        }
        if c.is_dir() {
            if c.kind.may_hang() {
                return link_or(&final_link, Unresolved::Refused(c.kind));
            }
            cur = Dir::child(&cur, &comp, c).0;
            continue;
        }
        if final_link.is_some() || !last {
            return link_or(
                &final_link,
                Unresolved::Failed {
                    op: "open",
                    errno: Errno::NOTDIR,
                },
            );
        }
        // The file itself (its read refuses it if it is on a mount that may hang).
        return Ok(Resolved::Entry {
            dir: cur,
            name: comp,
        });
    }
    Ok(Resolved::Dir(cur))
}

/// Queues a path's components (without empty ones and `.`) in front of what is left to resolve.
fn queue(todo: &mut VecDeque<OsString>, path: &[u8]) {
    for comp in path.split(|&b| b == b'/').rev() {
        if !comp.is_empty() && comp != b"." {
            todo.push_front(OsString::from_vec(comp.to_vec()));
        }
    }
}

fn excluded(opts: &Options, path: &Path, name: &OsStr) -> bool {
    !opts.exclude.is_empty() && (opts.exclude.is_match(path) || opts.exclude.is_match(name))
}

/// One directory on the walk's stack: the subdirectories still to enter, and how long the path
/// buffer is at this level.
struct Frame {
    dir: Arc<Dir>,
    subdirs: Vec<OsString>,
    path_len: usize,
    depth: usize,
}

/// Walks the tree below `root` (named `root_path`), depth first, without recursion.
fn walk(opts: &Options, root: Arc<Dir>, root_path: &Path, out: &mut Discovery) {
    let mut path: Vec<u8> = root_path.as_os_str().as_bytes().to_vec();
    let listing = root.open().and_then(|fd| {
        rustix::fs::openat(
            fd.as_fd(),
            ".",
            OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC,
            Mode::empty(),
        )
    });
    let listing = match listing {
        Ok(fd) => fd,
        Err(errno) => {
            out.problems.push(WalkProblem {
                path: root_path.to_path_buf(),
                op: "open",
                errno,
            });
            return;
        }
    };
    out.dirs.push(Arc::clone(&root));
    let subdirs = list(opts, &root, listing, &mut path, 0, out);
    let mut stack = vec![Frame {
        dir: root,
        subdirs,
        path_len: path.len(),
        depth: 0,
    }];
    while let Some(top) = stack.last_mut() {
        let Some(name) = top.subdirs.pop() else {
            stack.pop();
            continue;
        };
        path.truncate(top.path_len);
        push_component(&mut path, &name);
        let depth = top.depth + 1;
        match enter(&top.dir, &name) {
            Ok(Some((dir, listing))) => {
                out.dirs.push(Arc::clone(&dir));
                let subdirs = list(opts, &dir, listing, &mut path, depth, out);
                if !subdirs.is_empty() {
                    stack.push(Frame {
                        dir,
                        subdirs,
                        path_len: path.len(),
                        depth,
                    });
                }
            }
            Ok(None) => {}
            Err((op, errno)) => out.problems.push(WalkProblem {
                path: PathBuf::from(OsStr::from_bytes(&path)),
                op,
                errno,
            }),
        }
    }
}

fn push_component(path: &mut Vec<u8>, name: &OsStr) {
    if !path.is_empty() && path.last() != Some(&b'/') {
        path.push(b'/');
    }
    path.extend_from_slice(name.as_bytes());
}

/// Opens the subdirectory `name` of `parent` for listing: `None` when it is not a directory (any
/// more); an error (the operation and errno) when it cannot be listed or is on a mount that may
/// hang.
#[allow(clippy::type_complexity)]
fn enter(
    parent: &Arc<Dir>,
    name: &OsStr,
) -> Result<Option<(Arc<Dir>, OwnedFd)>, (&'static str, Errno)> {
    let pfd = parent.open().map_err(|errno| ("open", errno))?;
    let c = match mounts::open_component(pfd.as_fd(), name) {
        Ok(c) => c,
        // Gone since it was listed: nothing to walk.
        Err(Errno::NOENT) => return Ok(None),
        Err(errno) => return Err(("open", errno)),
    };
    // A symlink (or a file) now stands at the name: not ours to follow.
    if !c.is_dir() {
        return Ok(None);
    }
    if c.kind.may_hang() {
        return Err((c.kind.enter_op(), mounts::REFUSED));
    }
    let (dir, fd) = Dir::child(parent, name, c);
    // `.` never crosses into a mount: this opens the very directory just examined.
    let listing = rustix::fs::openat(
        fd.as_fd(),
        ".",
        OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC,
        Mode::empty(),
    )
    .map_err(|errno| ("open", errno))?;
    Ok(Some((dir, listing)))
}

/// Lists one directory (`path`, at `depth` below the root): its pidfiles become candidates, and the
/// names of the subdirectories to enter are returned.
fn list(
    opts: &Options,
    dir: &Arc<Dir>,
    listing: OwnedFd,
    path: &mut Vec<u8>,
    depth: usize,
    out: &mut Discovery,
) -> Vec<OsString> {
    let here = path.len();
    let problem = |out: &mut Discovery, path: &[u8], errno| {
        out.problems.push(WalkProblem {
            path: PathBuf::from(OsStr::from_bytes(path)),
            op: "read directory",
            errno,
        })
    };
    let entries = match rustix::fs::Dir::new(listing) {
        Ok(d) => d,
        Err(errno) => {
            problem(out, path, errno);
            return Vec::new();
        }
    };
    let mut subdirs = Vec::new();
    for entry in entries {
        let entry = match entry {
            Ok(e) => e,
            Err(errno) => {
                problem(out, &path[..here], errno);
                break;
            }
        };
        let name_bytes = entry.file_name().to_bytes();
        if name_bytes == b"." || name_bytes == b".." {
            continue;
        }
        let name = OsStr::from_bytes(name_bytes);
        if !opts.exclude.is_empty() {
            path.truncate(here);
            push_component(path, name);
            let skip = excluded(opts, Path::new(OsStr::from_bytes(path)), name);
            path.truncate(here);
            if skip {
                continue;
            }
        }
        if is_pidfile_name(name, Path::new(OsStr::from_bytes(&path[..here]))) {
            let mut child = path[..here].to_vec();
            push_component(&mut child, name);
            out.candidates.push(Candidate {
                path: PathBuf::from(OsString::from_vec(child)),
                dir: Arc::clone(dir),
                name: name.to_os_string(),
                explicit: false,
            });
            continue;
        }
        // Whether an entry of unknown type is a directory is found out when it is entered.
        let maybe_dir = matches!(
            entry.file_type(),
            rustix::fs::FileType::Directory | rustix::fs::FileType::Unknown
        );
        if maybe_dir && depth + 1 < opts.max_depth {
            subdirs.push(name.to_os_string());
        }
    }
    path.truncate(here);
    subdirs.reverse();
    subdirs
}

#[cfg(test)]
mod supervise_tests {
    use super::*;

    #[test]
    fn supervise_dirs() {
        assert!(is_supervise_dir(Path::new("/etc/sv/a/supervise")));
        assert!(is_supervise_dir(Path::new("/etc/sv/a/log/supervise")));
        assert!(is_supervise_dir(Path::new("/run/runit/supervise/a")));
        assert!(is_supervise_dir(Path::new("supervise")));
        assert!(!is_supervise_dir(Path::new("/run/a")));
        assert!(!is_supervise_dir(Path::new("/run/supervisor/a/b")));
        assert!(is_pidfile_name(
            OsStr::new("status"),
            Path::new("/s/a/supervise")
        ));
        assert!(is_pidfile_name(
            OsStr::new("pid"),
            Path::new("/run/runit/supervise/a")
        ));
        assert!(!is_pidfile_name(OsStr::new("status"), Path::new("/run/a")));
        assert!(!is_pidfile_name(
            OsStr::new("lock"),
            Path::new("/s/a/supervise")
        ));
    }
}
