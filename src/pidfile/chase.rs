//! Following a symlinked pidfile safely, one component at a time.
//!
//! The link is never handed to the kernel to resolve. Each component is opened with
//! `O_PATH|O_NOFOLLOW` relative to the descriptor of the directory before it and examined with
//! cached `statx`; each link is read through its own descriptor (`readlinkat(fd, "")`) and its
//! target's components are walked the same way. The walk stops (and nothing is read) at the first step that is not safe:
//!
//! - a step from a component owned by a non-root user into one owned by another user, including from
//!   a link to `/` when the link is absolute (systemd's `CHASE_SAFE` rule: an unprivileged user must
//!   not be able to point root at something that merely *looks* trustworthy);
//! - a link owned by someone other than root or the owner of the directory holding it;
//! - a directory writable by others without the sticky bit (anyone could swap what follows);
//! - a component on `/proc`, `/sys`, or a FUSE, network or automount filesystem: `/proc` holds
//!   "magic" links that resolve to open files rather than paths (the walk's equivalent of
//!   `RESOLVE_NO_MAGICLINKS`), and a FUSE or network server can hang a reader. The filesystem is
//!   known from the component's cached `statx` and the mount table (see
//!   [`crate::discover::mounts`]) before anything is looked up in it or `stat`ed for real;
//! - more than [`MAX_FOLLOWS`] links (a loop) or [`MAX_STEPS`] components.
//!
//! Only a regular file at the end of a safe chain is read, through the descriptor the walk opened.

use super::read::{read_opened, FileFacts, FileKind, ReadOutcome};
use crate::discover::mounts::{self, FsKind};
use rustix::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use rustix::fs::{Mode, OFlags};
use rustix::io::Errno;
use std::collections::VecDeque;
use std::ffi::{OsStr, OsString};
use std::fmt;
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::path::PathBuf;

/// The most symbolic links followed for one pidfile (the kernel allows 40).
pub const MAX_FOLLOWS: u32 = 32;
/// The most path components walked for one pidfile.
pub const MAX_STEPS: u32 = 1024;

/// Where a symlinked pidfile leads.
#[derive(Clone, Debug)]
pub enum Chase {
    /// Every step was safe. `outcome` is what stands at the end: the content of a regular file, or
    /// `NotAFile` (never opened), or the error that stopped the read.
    Followed {
        resolved: PathBuf,
        outcome: Box<ReadOutcome>,
    },
    /// The chain was not followed to its end; nothing behind `at` was read.
    Refused { refusal: Refusal, at: PathBuf },
}

impl Chase {
    /// Whether every step of the chain was safe.
    pub fn is_safe(&self) -> bool {
        matches!(self, Chase::Followed { .. })
    }
}

/// Why a chain was not followed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Refusal {
    /// A step from a component owned by a non-root user into one owned by another user.
    UnsafeTransition { from_uid: u32, to_uid: u32 },
    /// A link owned by neither root nor the owner of its directory.
    UntrustedLink { uid: u32, dir_uid: u32 },
    /// A directory writable by others without the sticky bit.
    WritableDirectory { uid: u32, mode: u32 },
    /// A component on /proc, /sys, or a FUSE, network or automount filesystem.
    SpecialFilesystem,
    /// More than [`MAX_FOLLOWS`] links: a loop.
    Loop,
    /// More than [`MAX_STEPS`] components.
    TooLong,
    /// A component does not exist.
    Dangling,
    /// A component that should be a directory is not.
    NotADirectory,
    /// A step failed with this errno.
    Error(Errno),
}

impl Refusal {
    /// A stable snake_case name for the evidence.
    pub fn reason(&self) -> &'static str {
        match self {
            Refusal::UnsafeTransition { .. } => "unsafe_transition",
            Refusal::UntrustedLink { .. } => "untrusted_link",
            Refusal::WritableDirectory { .. } => "writable_directory",
            Refusal::SpecialFilesystem => "special_filesystem",
            Refusal::Loop => "loop",
            Refusal::TooLong => "too_long",
            Refusal::Dangling => "dangling",
            Refusal::NotADirectory => "not_a_directory",
            Refusal::Error(_) => "error",
        }
    }
}

impl fmt::Display for Refusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Refusal::UnsafeTransition { from_uid, to_uid } => write!(
                f,
                "it steps from a component owned by uid {from_uid} into one owned by uid {to_uid}"
            ),
            Refusal::UntrustedLink { uid, dir_uid } => write!(
                f,
                "a link is owned by uid {uid}, neither root nor its directory's owner (uid {dir_uid})"
            ),
            Refusal::WritableDirectory { uid, mode } => write!(
                f,
                "a directory (uid {uid}, mode {mode:04o}) is writable by others without the sticky bit"
            ),
            Refusal::SpecialFilesystem => f.write_str(
                "it leads into /proc, /sys, or a FUSE, network or automount filesystem",
            ),
            Refusal::Loop => write!(f, "it follows more than {MAX_FOLLOWS} links (a loop)"),
            Refusal::TooLong => write!(f, "it has more than {MAX_STEPS} components"),
            Refusal::Dangling => f.write_str("it leads nowhere (dangling)"),
            Refusal::NotADirectory => f.write_str("a component that must be a directory is not"),
            Refusal::Error(errno) => write!(f, "a step failed: {errno}"),
        }
    }
}

/// A component held open (`O_PATH|O_NOFOLLOW`), with its cached `statx` and its filesystem.
struct Node {
    fd: OwnedFd,
    st: FileFacts,
    fs: FsKind,
}

fn node(c: mounts::Component) -> Node {
    Node {
        st: FileFacts::from_statx(&c.st),
        fs: c.kind,
        fd: c.fd,
    }
}

/// Opens `name` in `dir`, a directory already known to be on a filesystem that cannot hang.
fn open_path(dir: BorrowedFd<'_>, name: &OsStr) -> Result<Node, Errno> {
    mounts::open_component(dir, name).map(node)
}

fn kind(st: &FileFacts) -> FileKind {
    st.kind
}

/// Whether nothing may be looked up, opened or `stat`ed on the component's filesystem.
fn special(n: &Node) -> bool {
    n.fs.may_hang() || matches!(n.fs, FsKind::Proc | FsKind::Sys)
}

/// systemd's rule: stepping from a root-owned component is always fine; otherwise the next
/// component must have the same owner.
fn unsafe_transition(from: &FileFacts, to: &FileFacts) -> Option<Refusal> {
    let (a, b) = (from.uid, to.uid);
    (a != 0 && a != b).then_some(Refusal::UnsafeTransition {
        from_uid: a,
        to_uid: b,
    })
}

/// The path a descriptor refers to, for people (never used to open anything).
pub(crate) fn fd_path(fd: BorrowedFd<'_>) -> Option<PathBuf> {
    rustix::fs::readlink(format!("/proc/self/fd/{}", fd.as_raw_fd()), Vec::new())
        .ok()
        .map(|p| PathBuf::from(OsString::from_vec(p.into_bytes())))
}

fn at(node: &Node, name: Option<&OsStr>) -> PathBuf {
    let base = fd_path(node.fd.as_fd()).unwrap_or_else(|| PathBuf::from("?"));
    match name {
        Some(n) => base.join(n),
        None => base,
    }
}

/// Queues a link's target components in front of what is left to walk.
fn queue(todo: &mut VecDeque<OsString>, target: &[u8]) {
    for comp in target.split(|&b| b == b'/').rev() {
        todo.push_front(OsStr::from_bytes(comp).to_os_string());
    }
}

/// Follows the symlink `name` in `dir` (already opened as `link`, `O_PATH|O_NOFOLLOW`) safely.
pub(crate) fn chase(dir: BorrowedFd<'_>, name: &OsStr, link: OwnedFd) -> Chase {
    let refuse = |refusal: Refusal, at: PathBuf| Chase::Refused { refusal, at };
    let mut cur = match open_path(dir, OsStr::new(".")) {
        Ok(n) => n,
        Err(errno) => return refuse(Refusal::Error(errno), PathBuf::from(name)),
    };
    let link = match mounts::probe(link.as_fd()) {
        Ok(st) => node(mounts::Component {
            kind: mounts::kind_of(&st),
            st,
            fd: link,
        }),
        Err(errno) => return refuse(Refusal::Error(errno), at(&cur, Some(name))),
    };
    let mut todo: VecDeque<OsString> = VecDeque::new();
    let mut follows = 0u32;
    let mut steps = 0u32;
    let mut pending_link = Some((link, name.to_os_string()));
    loop {
        // Follow a link met at the last step (or the pidfile itself).
        if let Some((link, link_name)) = pending_link.take() {
            follows += 1;
            if follows > MAX_FOLLOWS {
                return refuse(Refusal::Loop, at(&cur, Some(&link_name)));
            }
            let (uid, dir_uid) = (link.st.uid, cur.st.uid);
            if uid != 0 && uid != dir_uid {
                return refuse(
                    Refusal::UntrustedLink { uid, dir_uid },
                    at(&cur, Some(&link_name)),
                );
            }
            let target = match rustix::fs::readlinkat(&link.fd, "", Vec::new()) {
                Ok(t) => t.into_bytes(),
                Err(errno) => return refuse(Refusal::Error(errno), at(&cur, Some(&link_name))),
            };
            if target.first() == Some(&b'/') {
                let root = match rustix::fs::open(
                    "/",
                    OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC,
                    Mode::empty(),
                )
                .and_then(|fd| {
                    let st = mounts::probe(fd.as_fd())?;
                    Ok(node(mounts::Component {
                        kind: mounts::kind_of(&st),
                        st,
                        fd,
                    }))
                }) {
                    Ok(n) => n,
                    Err(errno) => return refuse(Refusal::Error(errno), PathBuf::from("/")),
                };
                if special(&root) {
                    return refuse(Refusal::SpecialFilesystem, PathBuf::from("/"));
                }
                if let Some(r) = unsafe_transition(&link.st, &root.st) {
                    return refuse(r, at(&cur, Some(&link_name)));
                }
                cur = root;
            }
            queue(&mut todo, &target);
        }
        let Some(comp) = todo.pop_front() else {
            // The chain ends on a directory.
            let facts = cur.st;
            return Chase::Followed {
                resolved: at(&cur, None),
                outcome: Box::new(ReadOutcome::NotAFile {
                    facts,
                    kernel: false,
                }),
            };
        };
        if comp.is_empty() || comp == "." {
            continue;
        }
        steps += 1;
        if steps > MAX_STEPS {
            return refuse(Refusal::TooLong, at(&cur, Some(&comp)));
        }
        let child = match open_path(cur.fd.as_fd(), &comp) {
            Ok(n) => n,
            Err(Errno::NOENT) => return refuse(Refusal::Dangling, at(&cur, Some(&comp))),
            Err(Errno::NOTDIR) => return refuse(Refusal::NotADirectory, at(&cur, Some(&comp))),
            Err(errno) => return refuse(Refusal::Error(errno), at(&cur, Some(&comp))),
        };
        if let Some(r) = unsafe_transition(&cur.st, &child.st) {
            return refuse(r, at(&cur, Some(&comp)));
        }
        // Whatever it is (a FUSE mount can cover a single file), nothing more is asked of it.
        if special(&child) {
            return refuse(Refusal::SpecialFilesystem, at(&child, None));
        }
        match kind(&child.st) {
            FileKind::Symlink => pending_link = Some((child, comp)),
            FileKind::Directory => {
                let mode = child.st.mode;
                if mode & 0o002 != 0 && mode & 0o1000 == 0 {
                    return refuse(
                        Refusal::WritableDirectory {
                            uid: child.st.uid,
                            mode,
                        },
                        at(&child, None),
                    );
                }
                cur = child;
            }
            _ if !todo.iter().all(|c| c.is_empty() || c == ".") => {
                return refuse(Refusal::NotADirectory, at(&cur, Some(&comp)));
            }
            FileKind::Regular => {
                let facts = child.st;
                let resolved = at(&child, None);
                let outcome = read_opened(&child.fd, cur.fd.as_fd(), &comp, &facts);
                return Chase::Followed {
                    resolved,
                    outcome: Box::new(outcome),
                };
            }
            _ => {
                let facts = child.st;
                return Chase::Followed {
                    resolved: at(&child, None),
                    outcome: Box::new(ReadOutcome::NotAFile {
                        facts,
                        kernel: false,
                    }),
                };
            }
        }
    }
}
