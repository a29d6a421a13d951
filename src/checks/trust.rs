//! Trust: may the pidfile be believed, and acted on, by a root process? Can its PID be judged from
//! this PID namespace at all?
//!
//! # Trust rules
//! A pidfile is *untrusted* when any of these holds (each is a finding, and its code goes into the
//! entry's `trust_reasons`; repairs never act on an untrusted file):
//!
//! - `insecure-owner`: the file is owned by neither root nor a uid (real, effective, saved or
//!   filesystem) of the process it names. Judged only when that process is alive and readable.
//! - `world-writable` / `group-writable`: the file's mode lets others change the PID.
//! - `hardlink`: the file has more than one link.
//! - `unsafe-path`: a directory on the path is writable by others without the sticky bit, or the path
//!   steps from a component owned by a non-root user into one owned by another user (systemd's
//!   `CHASE_SAFE` rule), the last step being from the file's directory to the file. Directories are
//!   examined through descriptors: the pidfile's directory descriptor (held since discovery) and
//!   its ancestors, each opened as `..` of the one below with `O_PATH` and `fstat`ed; no path is
//!   looked up by name. Each directory is examined once per run (cached by device and inode, and by
//!   the descriptor discovery shares between the files of one directory).
//! - `acl-writable`: a POSIX access ACL lets a named user or group write the file, or a named user
//!   write a directory on its path that has no sticky bit (root, the owner and the uids of the
//!   process the file names excepted; gid 0 excepted; named groups on directories are left out like
//!   the owning group's write bit). The ACL is read (see [`super::acl`]) only where the mode's group
//!   write bit, which shows the ACL mask, allows such a grant; on the file with `fgetxattr` through a
//!   descriptor opened `O_PATH|O_NOFOLLOW` relative to the held directory and checked to be the
//!   inode that was read, on directories through the descriptors of the walk. With an ACL, the
//!   owning group's own entry (not the mask in the mode) decides `group-writable`.
//! - `symlink` (emitted by the content check): the pidfile is a link.
//!
//! A file that could not be examined at all (missing, or unopenable) is untrusted too; its reason is
//! the content finding that says why (`missing-pidfile`, `unreadable`).
//!
//! # PID namespaces
//! A PID that `/proc` does not show is normally `stale`. It is `foreign-namespace` (unknown) instead
//! when the file may hold a PID of another namespace (see [`crate::system::ns`]): a process in a
//! nested namespace has that PID there (`NSpid`), or `/proc` belongs to a non-initial namespace
//! (the auditor runs in a container): then the file predates that namespace's init, names a PID
//! above the last one it allocated, or, for any other number, may have been written by a process of
//! an ancestor namespace (the host), which no `/proc` here shows. Nothing visible from inside tells
//! a host daemon's live PID from a dead one of this namespace, so only the operator can say that
//! every audited pidfile is written from inside (`--own-pid-namespace`); then such a PID is
//! `stale`. A file written before the current boot stays `stale`: no live process of any namespace
//! wrote it.
//!
//! A PID that `/proc` shows can be foreign too: a file written inside a container holds the
//! container's numbers, and its `1` and `2` (the container's init and first child) name the host's
//! init and `kthreadd` here. Neither writes pidfiles, so when the PID names init (`targets-init`) or a
//! kernel thread (`kernel-thread`), the process here cannot be the writer. The file is
//! `foreign-namespace` (unknown) instead when a process of a nested namespace has that PID there and
//! started before the file was last written (it could have written it); without such a process the
//! verdict stands (a planted `1` stays `targets-init`). Only the first process indexed for an inner
//! PID is looked at.

use super::acl::{self, Acl, Grant};
use super::content::{MISSING_PIDFILE, SYMLINK, UNREADABLE};
use super::liveness::PREVIOUS_BOOT;
use super::Cx;
use super::Entry;
use crate::discover::{mounts, Dir};
use crate::model::State;
use crate::model::{Code, CodeDoc, Finding, Severity};
use crate::pidfile::chase::fd_path;
use crate::pidfile::{FileFacts, FileKind, ReadOutcome};
use crate::system::ns::{self, Nested, NsView};
use rustix::fd::{AsFd, BorrowedFd, OwnedFd};
use rustix::fs::{Mode, OFlags};
use rustix::io::Errno;
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock};

pub const INSECURE_OWNER: Code = Code::new(&CodeDoc {
    code: "insecure-owner",
    severity: Severity::Error,
    summary: "The pidfile is owned by neither root nor the user the process it names runs as.",
    why: "Whoever owns the file can write any PID into it. A root stop script or monitor that signals the PID it reads can then be made to kill any process on the system, sshd or init included (CVE-2017-14159 slapd, CVE-2017-12847 Nagios, CVE-2020-14367 chrony). Evidence has the file's uid and the process's uids.",
    fix: "Make the daemon write its pidfile as root (before dropping privileges) or as its own user, and `chown` the existing file to that user; find out how another user came to own it.",
});

pub const WORLD_WRITABLE: Code = Code::new(&CodeDoc {
    code: "world-writable",
    severity: Severity::Error,
    summary: "The pidfile is writable by every user.",
    why: "Any local user can replace the PID, so the next root `kill $(cat file)` signals a process of the attacker's choosing (start-stop-daemon refuses such files).",
    fix: "`chmod 644` the file and fix the daemon's umask or the code that creates it.",
});

pub const GROUP_WRITABLE: Code = Code::new(&CodeDoc {
    code: "group-writable",
    severity: Severity::Warning,
    summary: "The pidfile is writable by its group.",
    why: "Every member of the file's group can change the PID that root scripts will signal: a group membership becomes a way to kill any process.",
    fix: "`chmod g-w` the file and fix the daemon's umask; if the group needs to write it, the group must be as trusted as root.",
});

pub const UNSAFE_PATH: Code = Code::new(&CodeDoc {
    code: "unsafe-path",
    severity: Severity::Error,
    summary: "A directory on the pidfile's path lets another user replace the file.",
    why: "A user who can write a directory on the path (mode writable by others without the sticky bit), or who owns a directory that root-owned files sit below, can swap the pidfile or a parent for one of their own or for a link to any file: root then reads a PID, or opens, truncates or chowns a path, of the attacker's choosing (CVE-2018-6536 Icinga 2, CVE-2020-28935 Unbound/NSD, CVE-2022-1348 logrotate). The rule is systemd's `CHASE_SAFE`: never step from a component owned by a non-root user into one owned by another user. Evidence lists each offending directory with its owner and mode. At severity `unknown`, a directory could not be examined.",
    fix: "Make every directory on the path owned by root (or, below a root-owned directory, by the daemon's user throughout) and not writable by others, or move the pidfile to a directory that is, such as a RuntimeDirectory under /run.",
});

pub const HARDLINK: Code = Code::new(&CodeDoc {
    code: "hardlink",
    severity: Severity::Warning,
    summary: "The pidfile has more than one hard link.",
    why: "The same inode is reachable under another name, possibly in a directory its owner controls: writing, chowning or removing one name affects a file that lives elsewhere (the Nagios CVE-2016-10089 vector). Daemons never create hard links to their pidfiles.",
    fix: "Find the other names (`find / -xdev -samefile FILE`), remove them, and restart the daemon so it writes a fresh file.",
});

pub const ACL_WRITABLE: Code = Code::new(&CodeDoc {
    code: "acl-writable",
    severity: Severity::Error,
    summary: "A POSIX ACL lets another user or group write the pidfile or a directory on its path.",
    why: "An ACL entry (`setfacl -m u:alice:rw`) gives write access that the owner and mode bits do not show (`ls -l` prints only a `+`): the named user can change the PID root will signal, or replace the file in a directory it may write (the same attacks as `world-writable` and `unsafe-path`). Entries for root, the owner and the uid of the process the file names are not counted, nor are sticky directories, nor named groups on directories (like a group-writable directory, a deliberate grant). Evidence lists each grant with its path, `user` or `group`, and id. At severity `warning` only groups are granted; at `unknown` an ACL could not be read.",
    fix: "Remove the entry (`setfacl -x u:alice PATH`, or `setfacl -b PATH` to drop the ACL) from the file and the directories named in the evidence; check default ACLs (`getfacl -d`) on the directory so new files do not inherit it.",
});

pub const FOREIGN_NAMESPACE: Code = Code::new(&CodeDoc {
    code: "foreign-namespace",
    severity: Severity::Unknown,
    summary: "The PID is not in the PID namespace of this /proc, but may be alive in another one: not judged stale.",
    why: "A pidfile holds a PID of its writer's namespace. Seen from a container (or any child PID namespace), a PID written by a host daemon is invisible; seen from the host, a PID written inside a container belongs to that container's numbering. Calling such a file stale would invite its removal while the daemon runs. A file written in a container and read from the host names the container's PIDs, and its `1` and `2` are the host's init and kthreadd here, which write no pidfiles: then the PID is judged foreign (not `targets-init`, `kernel-thread`) when a process of a nested namespace has it there and started before the write; `here` says what the PID is on this side. Do not signal such a PID from here. Evidence says why: a process in a nested namespace has this PID there (`nested_pid`, `nspid`), or this /proc is a nested namespace and the file predates its init (`predates_namespace`), names a PID it never allocated (`never_allocated`), or names one it did allocate while a process of an ancestor namespace may have written it (`ancestor_namespace`: from inside, nothing tells a host daemon's live PID from a dead one of this namespace; `--own-pid-namespace` says every audited file is written from inside, and such a PID is then stale).",
    fix: "Audit from the namespace the daemon runs in: inside the container, or from the host with `--proc-root` pointing at the container's /proc. If you know the file was written in this namespace, it is stale.",
});

/// Every code this check emits, in catalogue order.
pub const CODES: &[Code] = &[
    INSECURE_OWNER,
    WORLD_WRITABLE,
    GROUP_WRITABLE,
    UNSAFE_PATH,
    HARDLINK,
    ACL_WRITABLE,
    FOREIGN_NAMESPACE,
];

/// The codes that make a pidfile untrusted, in the order they are listed in `trust_reasons`.
pub const TRUST_CODES: &[Code] = &[
    INSECURE_OWNER,
    WORLD_WRITABLE,
    GROUP_WRITABLE,
    UNSAFE_PATH,
    SYMLINK,
    HARDLINK,
    ACL_WRITABLE,
];

/// Something wrong on the directory path of a pidfile.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PathProblem {
    /// A directory writable by others without the sticky bit.
    WritableDir { path: String, uid: u32, mode: u32 },
    /// A step from a component owned by a non-root user into one owned by another user.
    Transition {
        from: String,
        from_uid: u32,
        to: String,
        to_uid: u32,
    },
    /// A directory whose parent could not be examined.
    Unverified { path: String, errno: Errno },
    /// A POSIX ACL lets a named user or group write the file or directory (reported as
    /// `acl-writable`, not `unsafe-path`).
    AclWrite { path: String, grant: Grant },
    /// The ACL of the file or directory could not be read.
    AclUnknown { path: String, errno: Errno },
}

impl PathProblem {
    fn describe(&self) -> String {
        match self {
            PathProblem::WritableDir { path, uid, mode } => format!(
                "{path} (uid {uid}, mode {mode:04o}) is writable by others without the sticky bit"
            ),
            PathProblem::Transition {
                from,
                from_uid,
                to,
                to_uid,
            } => format!("{from} is owned by uid {from_uid} but holds {to}, owned by uid {to_uid}"),
            PathProblem::Unverified { path, errno } => {
                format!("the directories above {path} could not be examined: {errno}")
            }
            PathProblem::AclWrite { path, grant } => format!(
                "{path} has an ACL entry letting {} {} write it",
                grant.kind(),
                grant.id
            ),
            PathProblem::AclUnknown { path, errno } => {
                format!("the ACL of {path} could not be read: {errno}")
            }
        }
    }

    fn is_acl(&self) -> bool {
        matches!(
            self,
            PathProblem::AclWrite { .. } | PathProblem::AclUnknown { .. }
        )
    }

    fn evidence(&self) -> serde_json::Value {
        match self {
            PathProblem::WritableDir { path, uid, mode } => serde_json::json!({
                "problem": "writable_directory", "path": path, "uid": uid, "mode": format!("{mode:04o}"),
            }),
            PathProblem::Transition {
                from,
                from_uid,
                to,
                to_uid,
            } => serde_json::json!({
                "problem": "owner_transition", "from": from, "from_uid": from_uid, "to": to, "to_uid": to_uid,
            }),
            PathProblem::Unverified { path, errno } => serde_json::json!({
                "problem": "unverified", "path": path, "errno": errno.raw_os_error(),
            }),
            PathProblem::AclWrite { path, grant } => serde_json::json!({
                "path": path, "kind": grant.kind(), "id": grant.id,
            }),
            PathProblem::AclUnknown { path, errno } => serde_json::json!({
                "path": path, "errno": errno.raw_os_error(),
            }),
        }
    }
}

/// The verdict on one directory: its owner and the problems found at it; those of the directories
/// above it are in `above`, shared, so that memory grows with the depth, not its square.
#[derive(Debug)]
struct DirInfo {
    uid: u32,
    path: String,
    problems: Vec<PathProblem>,
    above: Option<Arc<DirInfo>>,
}

impl DirInfo {
    /// Every problem from `/` down to this directory.
    fn all_problems(&self) -> Vec<PathProblem> {
        let mut levels = vec![&self.problems];
        let mut cur = self.above.as_deref();
        while let Some(d) = cur {
            levels.push(&d.problems);
            cur = d.above.as_deref();
        }
        levels.into_iter().rev().flatten().cloned().collect()
    }
}

/// Per-run state of the trust check: directory verdicts and the PID namespace view, each computed
/// once.
#[derive(Debug, Default)]
pub struct Cache {
    by_inode: Mutex<HashMap<(u64, u64), Arc<DirInfo>>>,
    by_fd: Mutex<HashMap<usize, Arc<DirInfo>>>,
    /// Held while a directory chain is walked, so checks running in parallel never walk it twice.
    walking: Mutex<()>,
    ns: OnceLock<NsView>,
    inner: OnceLock<HashMap<i32, Nested>>,
    examined: AtomicUsize,
}

/// The deepest directory chain examined (deeper is not a real filesystem).
const MAX_DEPTH: usize = 4096;

impl Cache {
    /// How many directories were `fstat`ed and judged so far.
    pub fn directories_examined(&self) -> usize {
        self.examined.load(Ordering::Relaxed)
    }

    fn ns(&self, cx: &Cx<'_>) -> &NsView {
        self.ns.get_or_init(|| ns::view(cx.snapshot))
    }

    fn inner(&self, cx: &Cx<'_>) -> &HashMap<i32, Nested> {
        self.inner.get_or_init(|| ns::inner_pids(cx.snapshot))
    }

    /// The verdict on the directory `dir`, examining it and the ancestors not seen yet.
    fn dir(&self, dir: &Arc<Dir>) -> Arc<DirInfo> {
        let key = Arc::as_ptr(dir) as usize;
        if let Some(hit) = lock(&self.by_fd).get(&key) {
            return Arc::clone(hit);
        }
        let _walking = lock(&self.walking);
        if let Some(hit) = lock(&self.by_fd).get(&key) {
            return Arc::clone(hit);
        }
        let info = match dir.open() {
            Ok(fd) => self.walk_up(fd.as_fd()),
            Err(errno) => {
                let path = dir.path().display().to_string();
                Arc::new(DirInfo {
                    uid: u32::MAX,
                    problems: vec![PathProblem::Unverified {
                        path: path.clone(),
                        errno,
                    }],
                    path,
                    above: None,
                })
            }
        };
        lock(&self.by_fd).insert(key, Arc::clone(&info));
        info
    }

    fn walk_up(&self, dir: BorrowedFd<'_>) -> Arc<DirInfo> {
        let path_of = |fd: BorrowedFd<'_>| {
            fd_path(fd)
                .unwrap_or_else(|| PathBuf::from("?"))
                .display()
                .to_string()
        };
        // Collect the uncached chain, bottom first (paths, not descriptors: one is held at a time),
        // with each directory's ACL problems, read while its descriptor is held.
        let mut chain: Vec<(String, rustix::fs::Stat, Vec<PathProblem>)> = Vec::new();
        let mut base: Option<Arc<DirInfo>> = None;
        let mut unverified: Option<Errno> = None;
        let mut cur = match open_dir(dir, ".") {
            Ok(fd) => fd,
            Err(errno) => {
                return Arc::new(DirInfo {
                    uid: u32::MAX,
                    path: path_of(dir),
                    problems: vec![PathProblem::Unverified {
                        path: path_of(dir),
                        errno,
                    }],
                    above: None,
                })
            }
        };
        loop {
            let st = match mounts::fstat_safe(cur.as_fd()) {
                Ok(st) => st,
                Err(errno) => {
                    unverified = Some(errno);
                    break;
                }
            };
            let key = (st.st_dev as u64, st.st_ino as u64);
            if let Some(hit) = lock(&self.by_inode).get(&key) {
                base = Some(Arc::clone(hit));
                break;
            }
            let parent = open_dir(cur.as_fd(), "..").and_then(|fd| {
                let pst = mounts::fstat_safe(fd.as_fd())?;
                Ok((fd, pst))
            });
            let path = path_of(cur.as_fd());
            let acl = dir_acl_problems(cur.as_fd(), &path, &st);
            chain.push((path, st, acl));
            match parent {
                Ok((_, pst)) if (pst.st_dev as u64, pst.st_ino as u64) == key => break,
                Ok((fd, _)) if chain.len() < MAX_DEPTH => cur = fd,
                Ok(_) => {
                    unverified = Some(Errno::LOOP);
                    break;
                }
                Err(errno) => {
                    unverified = Some(errno);
                    break;
                }
            }
        }
        let mut above = base;
        let top = chain.len().saturating_sub(1);
        for (i, (path, st, acl)) in chain.into_iter().enumerate().rev() {
            self.examined.fetch_add(1, Ordering::Relaxed);
            let uid = st.st_uid as u32;
            let mut problems = Vec::new();
            if i == top {
                if let Some(errno) = unverified {
                    problems.push(PathProblem::Unverified {
                        path: path.clone(),
                        errno,
                    });
                }
            }
            if let Some(a) = &above {
                if a.uid != 0 && a.uid != uid {
                    problems.push(PathProblem::Transition {
                        from: a.path.clone(),
                        from_uid: a.uid,
                        to: path.clone(),
                        to_uid: uid,
                    });
                }
            }
            let mode = st.st_mode as u32;
            if mode & 0o002 != 0 && mode & 0o1000 == 0 {
                problems.push(PathProblem::WritableDir {
                    path: path.clone(),
                    uid,
                    mode: mode & 0o7777,
                });
            }
            problems.extend(acl);
            let info = Arc::new(DirInfo {
                uid,
                path,
                problems,
                above: above.take(),
            });
            lock(&self.by_inode).insert((st.st_dev as u64, st.st_ino as u64), Arc::clone(&info));
            above = Some(info);
        }
        above.unwrap_or_else(|| {
            Arc::new(DirInfo {
                uid: u32::MAX,
                path: path_of(dir),
                problems: vec![PathProblem::Unverified {
                    path: path_of(dir),
                    errno: unverified.unwrap_or(Errno::INVAL),
                }],
                above: None,
            })
        })
    }
}

/// The ACL problems of a directory (open as `fd`, examined as `st`): the group write bit shows the
/// ACL mask, and only then can a named entry write. Named groups are left out, like the owning
/// group's write bit: a group that may write a directory is a deliberate grant.
fn dir_acl_problems(fd: BorrowedFd<'_>, path: &str, st: &rustix::fs::Stat) -> Vec<PathProblem> {
    let mode = st.st_mode as u32;
    if mode & 0o020 == 0 || mode & 0o1000 != 0 {
        return Vec::new();
    }
    acl_problems(fd, path, &[0, st.st_uid as u32])
        .into_iter()
        .filter(|p| !matches!(p, PathProblem::AclWrite { grant, .. } if !grant.user))
        .collect()
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// The ACL grants of an open file or directory that let someone other than root or the uids in
/// `exempt` write it (named groups other than gid 0), as path problems.
fn acl_problems(fd: BorrowedFd<'_>, path: &str, exempt: &[u32]) -> Vec<PathProblem> {
    match acl::read(fd) {
        Ok(Some(a)) => grant_problems(&a, path, exempt),
        Ok(None) => Vec::new(),
        Err(errno) => vec![PathProblem::AclUnknown {
            path: path.to_string(),
            errno,
        }],
    }
}

fn grant_problems(a: &Acl, path: &str, exempt: &[u32]) -> Vec<PathProblem> {
    a.write_grants()
        .into_iter()
        .filter(|g| g.id != 0 && !(g.user && exempt.contains(&g.id)))
        .map(|grant| PathProblem::AclWrite {
            path: path.to_string(),
            grant,
        })
        .collect()
}

/// The pidfile's own ACL, read through a descriptor of what stands at its name, when the mode's
/// group write bit (the mask) allows a grant and the file was read directly (not through a link).
/// `None` when there is no ACL; problems when it could not be read or is not the file read.
fn file_acl(entry: &Entry, f: &FileFacts) -> Result<Option<Acl>, Errno> {
    if f.mode & 0o020 == 0 || !matches!(entry.read, ReadOutcome::Content { .. }) {
        return Ok(None);
    }
    let Some(dir) = &entry.dir else {
        return Ok(None);
    };
    let dir = dir.open()?;
    let fd = rustix::fs::openat(
        dir.as_fd(),
        entry.name.as_os_str(),
        OFlags::PATH | OFlags::NOFOLLOW | OFlags::CLOEXEC,
        Mode::empty(),
    )?;
    let st = rustix::fs::fstat(&fd)?;
    if (st.st_dev as u64, st.st_ino as u64) != (f.dev, f.ino) {
        // Replaced since it was read: its ACL says nothing about the file judged.
        return Err(Errno::STALE);
    }
    acl::read(fd.as_fd())
}

fn open_dir(dir: BorrowedFd<'_>, name: &str) -> Result<OwnedFd, Errno> {
    rustix::fs::openat(
        dir,
        name,
        OFlags::PATH | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
        Mode::empty(),
    )
}

/// Judges whether the pidfile can be trusted, and whether a missing PID may belong to another PID
/// namespace.
pub fn check(cx: &Cx<'_>, entry: &mut Entry) {
    let subject = entry.subject();
    namespace(cx, entry, &subject);
    let mut found: Vec<Finding> = Vec::new();
    // ACL grants: the directories' (top down), then the file's.
    let mut acl_grants: Vec<PathProblem> = Vec::new();
    let mut file_grants: Vec<PathProblem> = Vec::new();
    // What stands at the path (the link itself for a symlink), and the file whose content is judged.
    let at_path: Option<FileFacts> = match &entry.read {
        ReadOutcome::Symlink { facts, .. } => Some(*facts),
        _ => entry.facts().copied(),
    };
    if let Some(f) = entry
        .facts()
        .copied()
        .filter(|f| f.kind == FileKind::Regular)
    {
        file_rules(cx, entry, &f, &subject, &mut found, &mut file_grants);
    }
    if let (Some(p), Some(entry_dir)) = (at_path, &entry.dir) {
        let dir = cx.trust.dir(entry_dir);
        let (acl, mut problems): (Vec<PathProblem>, Vec<PathProblem>) = dir
            .all_problems()
            .into_iter()
            .partition(PathProblem::is_acl);
        acl_grants = acl;
        if dir.uid != 0 && dir.uid != u32::MAX && dir.uid != p.uid {
            problems.push(PathProblem::Transition {
                from: dir.path.clone(),
                from_uid: dir.uid,
                to: subject.clone(),
                to_uid: p.uid,
            });
        }
        if let Some(first) = problems.first() {
            let only_unverified = problems
                .iter()
                .all(|p| matches!(p, PathProblem::Unverified { .. }));
            let more = match problems.len() {
                1 => String::new(),
                n => format!(" (and {} more)", n - 1),
            };
            let mut f = Finding::new(UNSAFE_PATH, &subject, format!("{}{more}", first.describe()))
                .with(
                    "problems",
                    serde_json::Value::Array(problems.iter().map(PathProblem::evidence).collect()),
                );
            if only_unverified {
                f = f.severity(Severity::Unknown);
            }
            found.push(f);
        }
    }
    acl_grants.extend(file_grants);
    if let Some(f) = acl_finding(cx, entry, &subject, acl_grants) {
        found.push(f);
    }
    let mut reasons: Vec<Code> = Vec::new();
    for code in TRUST_CODES {
        let here = found.iter().any(|f| f.code == *code)
            || (*code == SYMLINK && matches!(entry.read, ReadOutcome::Symlink { .. }));
        if here {
            reasons.push(*code);
        }
    }
    if at_path.is_none() {
        reasons.extend(
            entry
                .findings
                .iter()
                .map(|f| f.code)
                .filter(|c| [MISSING_PIDFILE, UNREADABLE].contains(c)),
        );
    }
    entry.trusted = at_path.is_some() && reasons.is_empty();
    entry.trust_reasons = reasons;
    entry.findings.extend(found);
}

/// The `acl-writable` finding for these grants, once the process's own uids are excepted: an error
/// when a user is granted, a warning when only groups are, unknown when an ACL could not be read.
fn acl_finding(
    cx: &Cx<'_>,
    entry: &Entry,
    subject: &str,
    mut grants: Vec<PathProblem>,
) -> Option<Finding> {
    let user_grant = |p: &PathProblem| match p {
        PathProblem::AclWrite { grant, .. } if grant.user => Some(grant.id),
        _ => None,
    };
    if grants.iter().any(|p| user_grant(p).is_some()) {
        if let Some(uids) = process_uids(cx, entry) {
            grants.retain(|p| user_grant(p).is_none_or(|id| !uids.contains(&id)));
        }
    }
    let first = grants.first()?;
    let more = match grants.len() {
        1 => String::new(),
        n => format!(" (and {} more)", n - 1),
    };
    let severity = if grants.iter().any(|p| user_grant(p).is_some()) {
        Severity::Error
    } else if grants
        .iter()
        .any(|p| matches!(p, PathProblem::AclWrite { .. }))
    {
        Severity::Warning
    } else {
        Severity::Unknown
    };
    Some(
        Finding::new(ACL_WRITABLE, subject, format!("{}{more}", first.describe()))
            .with(
                "grants",
                serde_json::Value::Array(grants.iter().map(PathProblem::evidence).collect()),
            )
            .severity(severity),
    )
}

/// The uids (real, effective, saved, filesystem) of the process the pidfile names, when it is alive
/// and readable.
fn process_uids(cx: &Cx<'_>, entry: &Entry) -> Option<[u32; 4]> {
    entry
        .process
        .as_ref()
        .and_then(|p| cx.snapshot.status(p).and_then(|s| s.uids))
}

/// Owner, mode, ACL and link count of the regular file whose content is judged. ACL grants go to
/// `grants` (reported with the directories' as `acl-writable`).
fn file_rules(
    cx: &Cx<'_>,
    entry: &Entry,
    f: &FileFacts,
    subject: &str,
    out: &mut Vec<Finding>,
    grants: &mut Vec<PathProblem>,
) {
    let mode = format!("{:04o}", f.mode);
    // With an ACL the mode's group bits are its mask: the owning group's own entry decides.
    let group_writes = match file_acl(entry, f) {
        Ok(Some(a)) => {
            grants.extend(grant_problems(&a, subject, &[f.uid]));
            a.group_obj_writes()
        }
        Ok(None) => f.mode & 0o020 != 0,
        Err(errno) => {
            grants.push(PathProblem::AclUnknown {
                path: subject.to_string(),
                errno,
            });
            f.mode & 0o020 != 0
        }
    };
    if f.mode & 0o002 != 0 {
        out.push(
            Finding::new(
                WORLD_WRITABLE,
                subject,
                format!("mode {mode}: any user can change the PID"),
            )
            .with("mode", mode.clone()),
        );
    } else if group_writes {
        out.push(
            Finding::new(
                GROUP_WRITABLE,
                subject,
                format!("mode {mode}: members of group {} can change the PID", f.gid),
            )
            .with("mode", mode.clone())
            .with("gid", f.gid),
        );
    }
    if f.nlink > 1 {
        out.push(
            Finding::new(
                HARDLINK,
                subject,
                format!("the file has {} hard links", f.nlink),
            )
            .with("nlink", f.nlink)
            .with("ino", f.ino),
        );
    }
    if f.uid != 0 {
        if let (Some(uids), Some(p)) = (process_uids(cx, entry), &entry.process) {
            if !uids.contains(&f.uid) {
                out.push(
                    Finding::new(
                        INSECURE_OWNER,
                        subject,
                        format!(
                            "owned by uid {}, but PID {} ({}) runs as uid {}: that user can make root signal any process",
                            f.uid,
                            p.pid(),
                            p.stat.comm,
                            uids[0]
                        ),
                    )
                    .with("file_uid", f.uid)
                    .with("process_uids", uids.to_vec())
                    .with("pid", p.pid()),
                );
            }
        }
    }
}

/// Records `foreign-namespace` when the PID may live in another namespace: a `stale` PID, or one
/// that names a process here that cannot have written the file (init, a kernel thread).
fn namespace(cx: &Cx<'_>, entry: &mut Entry, subject: &str) {
    if entry.findings.iter().any(|f| f.code == PREVIOUS_BOOT) {
        return;
    }
    let Some(pid) = entry.pid else { return };
    let not_writer = entry.facts.targets_init
        || entry.facts.process == Some(super::entry::ProcessFact::KernelThread);
    if not_writer {
        if let Some(f) = nested_writer(cx, entry, pid, subject) {
            entry.facts.foreign_namespace = true;
            entry.findings.push(f.with("pid", pid));
        }
        return;
    }
    if entry.state() != State::Stale {
        return;
    }
    let finding = if let Some(n) = cx.trust.inner(cx).get(&(pid as i32)) {
        Finding::new(
            FOREIGN_NAMESPACE,
            subject,
            format!(
                "no process has PID {pid} in this PID namespace, but process {} has PID {pid} in a nested one (NSpid {}): the file may have been written there",
                n.pid,
                n.nspid.iter().map(|p| p.to_string()).collect::<Vec<_>>().join(" ")
            ),
        )
        .with("reason", "nested_namespace")
        .with("nested_pid", n.pid)
        .with("nspid", n.nspid.clone())
    } else {
        let view = cx.trust.ns(cx);
        if !view.nested {
            return;
        }
        let mtime = entry.facts().map(|f| f.mtime_f64());
        let predates = match (mtime, view.ns_start) {
            (Some(m), Some(start)) if m < start => Some(start),
            _ => None,
        };
        let f = if let Some(start) = predates {
            Finding::new(
                FOREIGN_NAMESPACE,
                subject,
                format!("no process has PID {pid} here, but this /proc is a nested PID namespace and the file predates it: it was written from another namespace"),
            )
            .with("reason", "predates_namespace")
            .with("namespace_start", (start * 1000.0).round() / 1000.0)
        } else {
            match view.last_pid {
                Some(last) if pid > last => Finding::new(
                    FOREIGN_NAMESPACE,
                    subject,
                    format!("no process has PID {pid} here, but this /proc is a nested PID namespace that never allocated it (last PID {last}): it may belong to an ancestor namespace"),
                )
                .with("reason", "never_allocated")
                .with("ns_last_pid", last),
                _ if cx.config.own_pid_namespace => return,
                _ => Finding::new(
                    FOREIGN_NAMESPACE,
                    subject,
                    format!("no process has PID {pid} here, but this /proc is a nested PID namespace: a process of an ancestor namespace (the host) may have written the file and still run there, invisible from here. Audit from the host, or pass --own-pid-namespace if every pidfile audited here is written from inside this namespace"),
                )
                .with("reason", "ancestor_namespace"),
            }
        };
        match view.ns_inode {
            Some(ino) => f.with("pid_namespace", ino),
            None => f,
        }
    };
    entry.facts.foreign_namespace = true;
    entry.findings.push(finding.with("pid", pid));
}

/// The `foreign-namespace` finding for a PID that names init or a kernel thread here, when a process
/// of a nested namespace has that PID there and started before the file was last written.
fn nested_writer(cx: &Cx<'_>, entry: &Entry, pid: u32, subject: &str) -> Option<Finding> {
    let n = cx.trust.inner(cx).get(&(pid as i32))?;
    let nested = cx.snapshot.get(n.pid)?;
    let started = cx.snapshot.start_time(&nested.stat)?;
    let mtime = entry.facts()?.mtime_f64();
    if started > mtime + super::liveness::REUSE_TOLERANCE_SECS {
        return None;
    }
    let here = entry.process.as_ref()?;
    let what = if entry.facts.targets_init {
        "init"
    } else {
        "kernel_thread"
    };
    Some(
        Finding::new(
            FOREIGN_NAMESPACE,
            subject,
            format!(
                "PID {pid} is {} ({}) here, which writes no pidfile, but process {} ({}) has PID {pid} in a nested PID namespace (NSpid {}) and started before the file was written: the file was likely written there. Do not signal PID {pid} from here",
                if what == "init" { "the init system" } else { "a kernel thread" },
                here.stat.comm,
                n.pid,
                nested.stat.comm,
                n.nspid.iter().map(|p| p.to_string()).collect::<Vec<_>>().join(" ")
            ),
        )
        .with("reason", "nested_namespace")
        .with("here", what)
        .with("here_comm", here.stat.comm.clone())
        .with("nested_pid", n.pid)
        .with("nested_comm", nested.stat.comm.clone())
        .with("nspid", n.nspid.clone()),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::checks::liveness::{self, STALE};
    use crate::checks::testing::{codes, config, cx, entry, file, pidfile};
    use crate::checks::{content, resolve};
    use crate::config::Config;
    use crate::system::fake::{FakeProcess, BOOT_TIME};
    use crate::system::Snapshot;

    /// Content, liveness and trust on `/run/nginx.pid` (not on disk: no directory to walk), then
    /// the resolution rules.
    fn run(cx: &Cx<'_>, mut e: Entry) -> Entry {
        content::check(cx, &mut e);
        liveness::check(cx, &mut e);
        check(cx, &mut e);
        resolve::finish(&mut e);
        e
    }

    /// nginx, PID 500, running as uid 33.
    fn snap() -> Snapshot {
        Snapshot::builder()
            .process(FakeProcess::new(500, "nginx").uid(33))
            .build()
    }

    fn with(f: impl FnOnce(&mut FileFacts)) -> Entry {
        let mut facts = file(7, 100);
        f(&mut facts);
        pidfile("/run/nginx.pid", "500\n", facts)
    }

    /// A root-owned 0644 file with one link is trusted.
    #[test]
    fn root_owned_file_is_trusted() {
        let (snap, config) = (snap(), config());
        let e = run(&cx(&snap, &config), with(|_| {}));
        assert!(e.trusted);
        assert!(e.findings.is_empty(), "{:?}", e.findings);
    }

    /// World- and group-writable modes and extra hard links make the file untrusted, each with
    /// its finding and reason.
    #[test]
    fn mode_and_link_rules() {
        let (snap, config) = (snap(), config());
        let cx = cx(&snap, &config);
        let cases: [(Entry, &[Code]); 4] = [
            (with(|f| f.mode = 0o666), &[WORLD_WRITABLE]),
            (with(|f| f.mode = 0o664), &[GROUP_WRITABLE]),
            (with(|f| f.nlink = 2), &[HARDLINK]),
            (
                with(|f| {
                    f.mode = 0o646;
                    f.nlink = 3
                }),
                &[WORLD_WRITABLE, HARDLINK],
            ),
        ];
        for (e, want) in cases {
            let e = run(&cx, e);
            assert!(!e.trusted, "{want:?}");
            assert_eq!(codes(&e), want);
            assert_eq!(e.trust_reasons, want);
        }
    }

    /// A file owned by a user the process does not run as is `insecure-owner`; the process's own
    /// uid or root is fine.
    #[test]
    fn owner_rule() {
        let (snap, config) = (snap(), config());
        let cx = cx(&snap, &config);
        let e = run(&cx, with(|f| f.uid = 1000));
        assert_eq!(codes(&e), [INSECURE_OWNER]);
        assert_eq!(
            e.findings[0].evidence["process_uids"],
            serde_json::json!([33, 33, 33, 33])
        );
        assert!(!e.trusted);
        let e = run(&cx, with(|f| f.uid = 33));
        assert!(e.trusted && e.findings.is_empty(), "{:?}", e.findings);
    }

    /// A file that could not be examined is untrusted for the reason the content check gives.
    #[test]
    fn missing_file_is_untrusted() {
        let (snap, config) = (snap(), config());
        let e = run(
            &cx(&snap, &config),
            entry("/run/nginx.pid", ReadOutcome::Vanished),
        );
        assert!(!e.trusted);
        assert_eq!(e.trust_reasons, [MISSING_PIDFILE]);
    }

    /// A missing PID that a process of a nested namespace has there is `foreign-namespace`:
    /// unknown, and `stale` is withdrawn.
    #[test]
    fn pid_of_a_nested_namespace_is_foreign() {
        let snap = Snapshot::builder()
            .process(FakeProcess::new(4000, "nginx").nspid(&[4000, 42]))
            .build();
        let config = config();
        let cx = cx(&snap, &config);
        // What `ns::inner_pids` reads of each process's status, indexed the same way.
        let statuses = snap
            .processes()
            .filter_map(|p| Some((p.pid(), snap.status(p)?.nspid.clone())));
        cx.trust.inner.set(ns::index_nested(statuses)).unwrap();
        let e = run(&cx, pidfile("/run/nginx.pid", "42\n", file(7, 100)));
        assert!(e.facts.foreign_namespace);
        assert_eq!(e.state(), State::Unknown);
        assert_eq!(codes(&e), [FOREIGN_NAMESPACE]);
        assert_eq!(e.findings[0].evidence["nested_pid"], 4000);
    }

    /// Seen from a nested namespace, a file older than its init, or naming a PID it never
    /// allocated, is foreign; so is one written since, naming a PID it allocated (a host daemon may
    /// have it), unless the operator says every file is written from inside: then it is stale.
    #[test]
    fn nested_proc_verdicts() {
        let snap = Snapshot::builder().build();
        let config = config();
        let own = Config {
            own_pid_namespace: true,
            ..config.clone()
        };
        let view = NsView {
            nested: true,
            ns_start: Some(BOOT_TIME as f64 + 50.0),
            last_pid: Some(300),
            ..Default::default()
        };
        for (content_, written, own_ns, reason) in [
            ("200\n", 10, false, Some("predates_namespace")),
            ("500\n", 100, false, Some("never_allocated")),
            ("200\n", 100, false, Some("ancestor_namespace")),
            ("200\n", 10, true, Some("predates_namespace")),
            ("500\n", 100, true, Some("never_allocated")),
            ("200\n", 100, true, None),
        ] {
            let cx = cx(&snap, if own_ns { &own } else { &config });
            cx.trust.ns.set(view.clone()).unwrap();
            let e = run(&cx, pidfile("/run/nginx.pid", content_, file(7, written)));
            match reason {
                Some(r) => {
                    assert_eq!(codes(&e), [FOREIGN_NAMESPACE], "{content_} {written}");
                    assert_eq!(e.findings[0].evidence["reason"], r);
                    assert_eq!(e.state(), State::Unknown);
                }
                None => {
                    assert_eq!(codes(&e), [STALE]);
                    assert_eq!(e.state(), State::Stale);
                }
            }
        }
    }

    /// A file written before the current boot stays stale: no live process of any namespace
    /// wrote it.
    #[test]
    fn previous_boot_stays_stale() {
        let snap = Snapshot::builder().build();
        let config = config();
        let cx = cx(&snap, &config);
        cx.trust
            .ns
            .set(NsView {
                nested: true,
                ns_start: Some(BOOT_TIME as f64 + 50.0),
                ..Default::default()
            })
            .unwrap();
        let e = run(&cx, pidfile("/run/nginx.pid", "200\n", file(7, -100)));
        assert_eq!(codes(&e), [liveness::PREVIOUS_BOOT, STALE]);
        assert_eq!(e.state(), State::Stale);
    }
}
