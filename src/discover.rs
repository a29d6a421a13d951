//! Discovery: roots and paths become candidate pidfiles.
//!
//! The walk holds a directory descriptor at every level and opens each subdirectory relative to its
//! parent with `O_NOFOLLOW|O_DIRECTORY`, so a directory swapped for a symlink mid-walk is never
//! entered and nothing outside the tree is read. Symlinked directories are not followed. FUSE mounts
//! (where a stuck server can hang any reader) are not entered. Unreadable directories are reported and
//! the walk goes on.

use globset::GlobSet;
use rustix::fd::OwnedFd;
use rustix::fs::{Mode, OFlags};
use rustix::io::Errno;
use std::collections::HashSet;
use std::ffi::{OsStr, OsString};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// The roots walked when no PATH is given.
pub const DEFAULT_ROOTS: [&str; 2] = ["/run", "/var/run"];
/// How deep the default roots are walked (`/run/a/b/c/x.pid` is depth 4).
pub const DEFAULT_MAX_DEPTH: usize = 4;

const FUSE_SUPER_MAGIC: i64 = 0x6573_5546;

/// A file to audit as a pidfile.
#[derive(Clone, Debug)]
pub struct Candidate {
    /// The path as shown to people.
    pub path: PathBuf,
    /// The directory that holds it, open.
    pub dir: Arc<OwnedFd>,
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
    pub candidates: Vec<Candidate>,
    pub problems: Vec<WalkProblem>,
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
/// `postmaster.pid`), and runit's `supervise/pid`.
pub fn is_pidfile_name(name: &OsStr, parent: &Path) -> bool {
    let bytes = name.as_bytes();
    if bytes.len() > 4 && bytes.ends_with(b".pid") {
        return true;
    }
    bytes == b"pid"
        && parent
            .file_name()
            .is_some_and(|p| p.as_bytes().starts_with(b"supervise"))
}

/// Finds the candidate pidfiles.
pub fn discover(opts: &Options) -> Discovery {
    let mut out = Discovery::default();
    let mut seen_dirs: HashSet<(u64, u64)> = HashSet::new();
    let explicit = !opts.paths.is_empty();
    let roots: Vec<PathBuf> = if explicit {
        opts.paths.clone()
    } else {
        DEFAULT_ROOTS.iter().map(PathBuf::from).collect()
    };
    for root in roots {
        // A root named by the user (or /var/run -> /run) is followed: that link was meant.
        match rustix::fs::stat(&root) {
            Ok(st)
                if rustix::fs::FileType::from_raw_mode(st.st_mode)
                    == rustix::fs::FileType::Directory =>
            {
                let fd = match open_dir_following(&root) {
                    Ok(fd) => fd,
                    Err(errno) => {
                        out.problems.push(WalkProblem {
                            path: root,
                            op: "open",
                            errno,
                        });
                        continue;
                    }
                };
                if !seen_dirs.insert((st.st_dev as u64, st.st_ino as u64)) {
                    continue;
                }
                out.roots.push(root.clone());
                walk(opts, Arc::new(fd), &root, 0, &mut out);
            }
            Err(Errno::NOENT) if !explicit => {}
            _ if explicit => add_explicit_file(&root, &mut out),
            Ok(_) => {}
            Err(errno) => out.problems.push(WalkProblem {
                path: root,
                op: "stat",
                errno,
            }),
        }
    }
    out.candidates.sort_by(|a, b| a.path.cmp(&b.path));
    out.candidates.dedup_by(|a, b| a.path == b.path);
    out
}

fn open_dir_following(path: &Path) -> Result<OwnedFd, Errno> {
    rustix::fs::open(
        path,
        OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC,
        Mode::empty(),
    )
}

/// A PATH that is not a directory is audited as a pidfile whatever its name; its parent is opened as
/// the user named it, its final component never followed.
fn add_explicit_file(path: &Path, out: &mut Discovery) {
    let (parent, name) = match (path.parent(), path.file_name()) {
        (Some(p), Some(n)) => (
            if p.as_os_str().is_empty() {
                Path::new(".")
            } else {
                p
            },
            n,
        ),
        _ => {
            out.problems.push(WalkProblem {
                path: path.to_path_buf(),
                op: "open",
                errno: Errno::INVAL,
            });
            return;
        }
    };
    match open_dir_following(parent) {
        Ok(fd) => out.candidates.push(Candidate {
            path: path.to_path_buf(),
            dir: Arc::new(fd),
            name: name.to_os_string(),
            explicit: true,
        }),
        // No parent directory, so no pidfile: the candidate names the whole path, which the
        // non-following open then finds missing.
        Err(Errno::NOENT) => match open_dir_following(Path::new(".")) {
            Ok(fd) => out.candidates.push(Candidate {
                path: path.to_path_buf(),
                dir: Arc::new(fd),
                name: path.as_os_str().to_os_string(),
                explicit: true,
            }),
            Err(errno) => out.problems.push(WalkProblem {
                path: parent.to_path_buf(),
                op: "open",
                errno,
            }),
        },
        Err(errno) => out.problems.push(WalkProblem {
            path: parent.to_path_buf(),
            op: "open",
            errno,
        }),
    }
}

fn excluded(opts: &Options, path: &Path, name: &OsStr) -> bool {
    !opts.exclude.is_empty() && (opts.exclude.is_match(path) || opts.exclude.is_match(name))
}

fn walk(opts: &Options, dir: Arc<OwnedFd>, path: &Path, depth: usize, out: &mut Discovery) {
    let entries = match rustix::fs::Dir::read_from(&*dir) {
        Ok(d) => d,
        Err(errno) => {
            out.problems.push(WalkProblem {
                path: path.to_path_buf(),
                op: "read directory",
                errno,
            });
            return;
        }
    };
    let mut subdirs = Vec::new();
    for entry in entries {
        let entry = match entry {
            Ok(e) => e,
            Err(errno) => {
                out.problems.push(WalkProblem {
                    path: path.to_path_buf(),
                    op: "read directory",
                    errno,
                });
                break;
            }
        };
        let name_bytes = entry.file_name().to_bytes();
        if name_bytes == b"." || name_bytes == b".." {
            continue;
        }
        let name = OsStr::from_bytes(name_bytes).to_os_string();
        let child = path.join(&name);
        if excluded(opts, &child, &name) {
            continue;
        }
        if is_pidfile_name(&name, path) {
            out.candidates.push(Candidate {
                path: child,
                dir: Arc::clone(&dir),
                name,
                explicit: false,
            });
            continue;
        }
        let is_dir = match entry.file_type() {
            rustix::fs::FileType::Directory => true,
            rustix::fs::FileType::Unknown => rustix::fs::statat(
                &*dir,
                name.as_os_str(),
                rustix::fs::AtFlags::SYMLINK_NOFOLLOW,
            )
            .map(|st| {
                rustix::fs::FileType::from_raw_mode(st.st_mode) == rustix::fs::FileType::Directory
            })
            .unwrap_or(false),
            _ => false,
        };
        if is_dir && depth + 1 < opts.max_depth {
            subdirs.push((name, child));
        }
    }
    for (name, child) in subdirs {
        let fd = match rustix::fs::openat(
            &*dir,
            name.as_os_str(),
            OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
            Mode::empty(),
        ) {
            Ok(fd) => fd,
            // Gone, or replaced by a symlink or a file since it was listed: not ours to follow.
            Err(Errno::NOENT) | Err(Errno::LOOP) | Err(Errno::NOTDIR) => continue,
            Err(errno) => {
                out.problems.push(WalkProblem {
                    path: child,
                    op: "open",
                    errno,
                });
                continue;
            }
        };
        if rustix::fs::fstatfs(&fd).is_ok_and(|s| s.f_type as i64 == FUSE_SUPER_MAGIC) {
            continue;
        }
        walk(opts, Arc::new(fd), &child, depth + 1, out);
    }
}
