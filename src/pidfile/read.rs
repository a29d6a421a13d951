//! Reading a pidfile as root without being tricked.
//!
//! The file is opened with `O_PATH|O_NOFOLLOW` relative to its directory's descriptor and examined
//! with cached `statx` before anything else (see [`crate::discover::mounts`]): a file on a FUSE,
//! network or automount filesystem (a FUSE mount can cover a single file) is reported, never opened
//! or `stat`ed for real, since its server could hang the audit. Only a regular file is ever opened
//! for reading, so a FIFO (whose open would block), a device (whose open runs driver code), a socket
//! or a directory is reported, never opened. A final symlink is reported with its target and
//! followed only through a safe chain, one component at a time (see [`super::chase`]); the kernel
//! never resolves it. The read is capped at [`READ_CAP`] bytes; the file is `fstat`ed again
//! afterwards and re-read at once when it changed underneath.
//!
//! A file that may be caught mid-write (empty: a writer between truncate and write; a few digits
//! without the newline, written moments ago: a writer between two `write()`s; or still changing)
//! is not judged on that read. [`read_candidates`] collects every such file of the run after the
//! first pass, waits once ([`SETTLE_WAIT`]) for all of them, and reads them again: one wait per run,
//! however many files are suspect. A file still caught so is `Unstable` (judged unknown), except an
//! empty file last modified more than [`FRESH`] ago, which is empty.

use super::chase::Chase;
use crate::discover::{mounts, Candidate};
use rustix::fd::{AsFd, OwnedFd};
use rustix::fs::{FileType, Mode, OFlags};
use rustix::io::Errno;
use rustix::path::DecInt;
use serde::Serialize;
use std::ffi::OsStr;
use std::path::PathBuf;
use std::sync::OnceLock;
use std::time::Duration;

/// The most bytes read from a pidfile. PostgreSQL's `postmaster.pid`, the longest known format, is
/// about 100 bytes.
pub const READ_CAP: usize = 4096;

/// How often a file that changed while being read is read again at once, in one pass.
const CHANGE_RETRIES: u32 = 3;
/// The one wait per run before the files that may have been caught mid-write are read again.
pub const SETTLE_WAIT: Duration = Duration::from_millis(50);
/// A file modified less than this long ago that is empty, or holds digits without the newline, may
/// be mid-write: if it still is after [`SETTLE_WAIT`], it is reported as unknown.
pub const FRESH: Duration = Duration::from_secs(2);
/// The longest run of digits taken for the start of a PID being written (a PID has at most 10
/// digits, leading zeroes aside).
const PREFIX_MAX: usize = 20;
/// `statfs.f_type` of procfs.
const PROC_SUPER_MAGIC: i64 = 0x9fa0;

/// What a directory entry is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum FileKind {
    Regular,
    Directory,
    Symlink,
    Fifo,
    Socket,
    CharDevice,
    BlockDevice,
    Unknown,
}

impl FileKind {
    pub fn from_mode(mode: u32) -> FileKind {
        match FileType::from_raw_mode(mode as _) {
            FileType::RegularFile => FileKind::Regular,
            FileType::Directory => FileKind::Directory,
            FileType::Symlink => FileKind::Symlink,
            FileType::Fifo => FileKind::Fifo,
            FileType::Socket => FileKind::Socket,
            FileType::CharacterDevice => FileKind::CharDevice,
            FileType::BlockDevice => FileKind::BlockDevice,
            FileType::Unknown => FileKind::Unknown,
        }
    }

    pub fn describe(self) -> &'static str {
        match self {
            FileKind::Regular => "regular file",
            FileKind::Directory => "directory",
            FileKind::Symlink => "symbolic link",
            FileKind::Fifo => "FIFO (named pipe)",
            FileKind::Socket => "socket",
            FileKind::CharDevice => "character device",
            FileKind::BlockDevice => "block device",
            FileKind::Unknown => "file of unknown type",
        }
    }
}

/// The `fstat` facts of a pidfile that the checks judge on.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct FileFacts {
    pub dev: u64,
    pub ino: u64,
    pub kind: FileKind,
    /// Permission bits (`st_mode & 0o7777`).
    pub mode: u32,
    pub uid: u32,
    pub gid: u32,
    pub nlink: u64,
    pub size: u64,
    /// Last modification, Unix seconds.
    pub mtime: i64,
    pub mtime_nsec: u32,
}

impl FileFacts {
    /// The facts of a `statx` result (with at least `STATX_BASIC_STATS`).
    pub fn from_statx(st: &rustix::fs::Statx) -> FileFacts {
        let (dev, ino) = crate::discover::mounts::id_of(st);
        FileFacts {
            dev,
            ino,
            kind: FileKind::from_mode(u32::from(st.stx_mode)),
            mode: u32::from(st.stx_mode) & 0o7777,
            uid: st.stx_uid,
            gid: st.stx_gid,
            nlink: u64::from(st.stx_nlink),
            size: st.stx_size,
            mtime: st.stx_mtime.tv_sec,
            mtime_nsec: st.stx_mtime.tv_nsec,
        }
    }

    pub fn from_stat(st: &rustix::fs::Stat) -> FileFacts {
        FileFacts {
            dev: st.st_dev as u64,
            ino: st.st_ino as u64,
            kind: FileKind::from_mode(st.st_mode as u32),
            mode: st.st_mode as u32 & 0o7777,
            uid: st.st_uid as u32,
            gid: st.st_gid as u32,
            nlink: st.st_nlink as u64,
            size: st.st_size as u64,
            mtime: st.st_mtime as i64,
            mtime_nsec: st.st_mtime_nsec as u32,
        }
    }

    /// Modification time as fractional Unix seconds.
    pub fn mtime_f64(&self) -> f64 {
        self.mtime as f64 + f64::from(self.mtime_nsec) / 1e9
    }

    fn same_file(&self, other: &FileFacts) -> bool {
        self.dev == other.dev && self.ino == other.ino
    }

    fn same_version(&self, other: &FileFacts) -> bool {
        self.same_file(other)
            && self.size == other.size
            && self.mtime == other.mtime
            && self.mtime_nsec == other.mtime_nsec
    }
}

/// The outcome of reading one pidfile.
#[derive(Clone, Debug)]
pub enum ReadOutcome {
    /// A regular file and (up to [`READ_CAP`] bytes of) its content.
    Content { facts: FileFacts, bytes: Vec<u8> },
    /// Not a regular file, or anything of procfs or sysfs (`kernel`); never opened.
    NotAFile { facts: FileFacts, kernel: bool },
    /// A symbolic link (`facts` are the link's own), with where its chain leads: followed and read
    /// only when every step was safe.
    Symlink {
        facts: FileFacts,
        target: PathBuf,
        chase: Chase,
    },
    /// The file disappeared before it could be opened.
    Vanished,
    /// The file may have been caught mid-write (see the module docs): it kept changing, or stayed
    /// empty or unterminated, after the wait.
    Unstable { facts: FileFacts, why: Unsettled },
    /// The file could not be opened or read.
    Error { op: &'static str, errno: Errno },
}

/// Why a file was not judged on its content.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Unsettled {
    /// It changed under every read.
    Changing,
    /// It was emptied moments ago (or its version changed while it was empty) and is still empty.
    Emptied,
    /// It was written moments ago and holds digits without the newline: perhaps the start of a PID.
    Unterminated,
}

impl Unsettled {
    /// What was seen, for the finding's message.
    pub fn describe(self) -> &'static str {
        match self {
            Unsettled::Changing => "the file kept changing while it was read",
            Unsettled::Emptied => "the file was emptied moments ago and kept changing or stayed empty while it was read: a writer may be between truncate and write",
            Unsettled::Unterminated => "the file was written moments ago and still held digits without the newline after a wait: a writer may be between two writes",
        }
    }

    /// A stable snake_case name for the evidence.
    pub fn reason(self) -> &'static str {
        match self {
            Unsettled::Changing => "changing",
            Unsettled::Emptied => "emptied",
            Unsettled::Unterminated => "unterminated",
        }
    }
}

/// Reads every candidate pidfile (on all cores), with one shared wait for the files that may have
/// been caught mid-write (see the module docs).
pub fn read_candidates(candidates: &[Candidate]) -> Vec<ReadOutcome> {
    let mut out = crate::util::parallel::map(candidates, read_candidate);
    let suspects: Vec<usize> = (0..out.len()).filter(|&i| suspect(&out[i])).collect();
    if suspects.is_empty() {
        return out;
    }
    std::thread::sleep(SETTLE_WAIT);
    let again = crate::util::parallel::map(&suspects, |&i| read_candidate(&candidates[i]));
    for (i, again) in suspects.into_iter().zip(again) {
        out[i] = settle(&out[i], again);
    }
    out
}

fn read_candidate(c: &Candidate) -> ReadOutcome {
    match c.dir.open() {
        Ok(dir) => read_once(&*dir, &c.name),
        // The directory was removed since the walk: so was the file.
        Err(Errno::NOENT) => ReadOutcome::Vanished,
        Err(errno) => ReadOutcome::Error {
            op: "open directory",
            errno,
        },
    }
}

/// Reads the pidfile `name` in the directory `dir`, safely (see the module docs), waiting
/// [`SETTLE_WAIT`] and reading again if it may have been caught mid-write. Many files are read
/// with [`read_candidates`], which waits once for all of them.
pub fn read_at(dir: impl AsFd, name: &OsStr) -> ReadOutcome {
    let dir = dir.as_fd();
    let first = read_once(dir, name);
    if !suspect(&first) {
        return first;
    }
    std::thread::sleep(SETTLE_WAIT);
    let again = read_once(dir, name);
    settle(&first, again)
}

/// The outcome whose content is judged: a symlink's target when it was read through a safe chain.
fn judged(outcome: &ReadOutcome) -> &ReadOutcome {
    match outcome {
        ReadOutcome::Symlink {
            chase: Chase::Followed { outcome, .. },
            ..
        } => outcome,
        other => other,
    }
}

/// Whether a read may have caught a writer mid-write: read again after the wait.
fn suspect(outcome: &ReadOutcome) -> bool {
    match judged(outcome) {
        ReadOutcome::Unstable { .. } => true,
        ReadOutcome::Content { facts, bytes } => {
            (bytes.is_empty() && facts.size == 0) || unterminated(facts, bytes)
        }
        _ => false,
    }
}

/// A few digits without the newline, written moments ago: perhaps the start of a longer PID.
fn unterminated(facts: &FileFacts, bytes: &[u8]) -> bool {
    !bytes.is_empty()
        && bytes.len() <= PREFIX_MAX
        && bytes.iter().all(u8::is_ascii_digit)
        && fresh(facts)
}

/// The verdict on a suspect file read again after the wait (`first` is the first read).
fn settle(first: &ReadOutcome, again: ReadOutcome) -> ReadOutcome {
    let was_empty = match judged(first) {
        ReadOutcome::Content { facts, bytes } if bytes.is_empty() => Some(*facts),
        _ => None,
    };
    map_judged(again, |outcome| match outcome {
        ReadOutcome::Content { facts, bytes } if bytes.is_empty() && facts.size == 0 => {
            let rewritten = was_empty.is_some_and(|f| !f.same_version(&facts));
            if fresh(&facts) || rewritten {
                ReadOutcome::Unstable {
                    facts,
                    why: Unsettled::Emptied,
                }
            } else {
                ReadOutcome::Content { facts, bytes }
            }
        }
        ReadOutcome::Content { facts, bytes } if unterminated(&facts, &bytes) => {
            ReadOutcome::Unstable {
                facts,
                why: Unsettled::Unterminated,
            }
        }
        other => other,
    })
}

/// Applies `f` to the outcome whose content is judged (see [`judged`]).
fn map_judged(outcome: ReadOutcome, f: impl FnOnce(ReadOutcome) -> ReadOutcome) -> ReadOutcome {
    match outcome {
        ReadOutcome::Symlink {
            facts,
            target,
            chase: Chase::Followed { resolved, outcome },
        } => ReadOutcome::Symlink {
            facts,
            target,
            chase: Chase::Followed {
                resolved,
                outcome: Box::new(f(*outcome)),
            },
        },
        ReadOutcome::Symlink { .. } => outcome,
        other => f(other),
    }
}

/// One read of the pidfile `name` in `dir`: no wait.
fn read_once(dir: impl AsFd, name: &OsStr) -> ReadOutcome {
    let dir = dir.as_fd();
    let handle = match rustix::fs::openat(
        dir,
        name,
        OFlags::PATH | OFlags::NOFOLLOW | OFlags::CLOEXEC,
        Mode::empty(),
    ) {
        Ok(fd) => fd,
        Err(Errno::NOENT) => return ReadOutcome::Vanished,
        Err(errno) => return ReadOutcome::Error { op: "open", errno },
    };
    // Cached attributes first: nothing is asked of a filesystem that may hang.
    let st = match mounts::probe(handle.as_fd()) {
        Ok(st) => st,
        Err(errno) => return ReadOutcome::Error { op: "fstat", errno },
    };
    let kind = mounts::kind_of(&st);
    if kind.may_hang() {
        return ReadOutcome::Error {
            op: kind.open_op(),
            errno: mounts::REFUSED,
        };
    }
    let facts = FileFacts::from_statx(&st);
    match facts.kind {
        // A file of procfs or sysfs is kernel state generated on read (sysfs runs driver code):
        // never a pidfile, never opened.
        FileKind::Regular | FileKind::Directory
            if matches!(kind, mounts::FsKind::Proc | mounts::FsKind::Sys) =>
        {
            return ReadOutcome::NotAFile {
                facts,
                kernel: true,
            };
        }
        FileKind::Regular => {}
        FileKind::Symlink => {
            return match rustix::fs::readlinkat(&handle, "", Vec::new()) {
                Ok(target) => ReadOutcome::Symlink {
                    facts,
                    target: PathBuf::from(
                        <std::ffi::OsString as std::os::unix::ffi::OsStringExt>::from_vec(
                            target.into_bytes(),
                        ),
                    ),
                    chase: super::chase::chase(dir, name, handle),
                },
                Err(Errno::NOENT) => ReadOutcome::Vanished,
                Err(errno) => ReadOutcome::Error {
                    op: "readlink",
                    errno,
                },
            }
        }
        _ => {
            return ReadOutcome::NotAFile {
                facts,
                kernel: false,
            }
        }
    }
    read_opened(&handle, dir, name, &facts)
}

/// Reads the regular file behind an `O_PATH` handle (`name` in `dir`, `fstat`ed as `facts`).
pub(crate) fn read_opened(
    handle: &OwnedFd,
    dir: rustix::fd::BorrowedFd<'_>,
    name: &OsStr,
    facts: &FileFacts,
) -> ReadOutcome {
    let file = match reopen(handle, dir, name, facts) {
        Ok(fd) => fd,
        Err(errno) => return ReadOutcome::Error { op: "open", errno },
    };
    read_regular(&file, *facts)
}

/// `/proc/self/fd`, opened once per process and only if it is procfs (`None` otherwise).
pub(crate) fn proc_self_fd() -> Option<rustix::fd::BorrowedFd<'static>> {
    static DIR: OnceLock<Option<OwnedFd>> = OnceLock::new();
    DIR.get_or_init(|| {
        let fd = rustix::fs::open(
            "/proc/self/fd",
            OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC,
            Mode::empty(),
        )
        .ok()?;
        let fs = rustix::fs::fstatfs(&fd).ok()?;
        (fs.f_type as i64 == PROC_SUPER_MAGIC).then_some(fd)
    })
    .as_ref()
    .map(|fd| fd.as_fd())
}

/// Opens the regular file behind an `O_PATH` handle for reading.
///
/// Through `/proc/self/fd/N` this reopens the very inode that was `fstat`ed: the kernel follows the
/// handle's own path (its dentry), not a name, so no FIFO, device or other file swapped in at the name
/// since can be opened. That holds only if `/proc/self/fd` really is procfs (a chroot or container may
/// have anything at `/proc`), so the directory is opened once, checked with `fstatfs`, and every reopen
/// is relative to that descriptor; the inode then needs no `fstat` before reading, and the `fstat`
/// after reading still compares device and inode with the handle's (see [`read_regular`]). Where
/// `/proc` is not procfs, a non-following, non-blocking `openat` by name is used instead and its inode
/// is checked before anything is read.
pub(crate) fn reopen(
    handle: &OwnedFd,
    dir: rustix::fd::BorrowedFd<'_>,
    name: &OsStr,
    facts: &FileFacts,
) -> Result<OwnedFd, Errno> {
    let flags = OFlags::RDONLY | OFlags::NONBLOCK | OFlags::NOCTTY | OFlags::CLOEXEC;
    if let Some(fds) = proc_self_fd() {
        match rustix::fs::openat(fds, DecInt::from_fd(handle), flags, Mode::empty()) {
            Ok(fd) => return Ok(fd),
            Err(Errno::NOENT) | Err(Errno::NOTDIR) => {}
            Err(errno) => return Err(errno),
        }
    }
    let fd = rustix::fs::openat(dir, name, flags | OFlags::NOFOLLOW, Mode::empty())?;
    let st = FileFacts::from_stat(&rustix::fs::fstat(&fd)?);
    if !st.same_file(facts) || st.kind != FileKind::Regular {
        // Replaced between the two opens: treat as a change seen while reading.
        return Err(Errno::STALE);
    }
    Ok(fd)
}

/// Reads a regular file until one read is consistent with the `fstat`s around it.
///
/// A read is consistent when the file's identity, size and mtime did not change across it and the
/// bytes read match the size. An inconsistent read is repeated at once, at most [`CHANGE_RETRIES`]
/// times, then reported `Unstable` (read again after the run's one wait, see the module docs).
fn read_regular(file: &OwnedFd, first: FileFacts) -> ReadOutcome {
    let mut facts = first;
    for _ in 0..=CHANGE_RETRIES {
        let mut bytes = Vec::new();
        if facts.size <= READ_CAP as u64 {
            if let Err(errno) = read_capped(file, facts.size, &mut bytes) {
                return ReadOutcome::Error { op: "read", errno };
            }
        }
        let after = match rustix::fs::fstat(file) {
            Ok(st) => FileFacts::from_stat(&st),
            Err(errno) => return ReadOutcome::Error { op: "fstat", errno },
        };
        if !after.same_file(&first) {
            // Not the inode the handle named: never reported as its content.
            return ReadOutcome::Error {
                op: "open",
                errno: Errno::STALE,
            };
        }
        if after.same_version(&facts)
            && (after.size > READ_CAP as u64 || bytes.len() as u64 == after.size)
        {
            return ReadOutcome::Content {
                facts: after,
                bytes,
            };
        }
        facts = after;
    }
    ReadOutcome::Unstable {
        facts,
        why: Unsettled::Changing,
    }
}

/// Whether the file was modified less than [`FRESH`] ago.
fn fresh(facts: &FileFacts) -> bool {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0);
    now - facts.mtime_f64() < FRESH.as_secs_f64()
}

/// Reads from offset 0 up to `READ_CAP` bytes, stopping at end of file or once the `expected` size
/// (from `fstat`) is in: the `fstat` after the read decides whether the file changed meanwhile, so
/// the extra read that would only confirm end of file is saved.
fn read_capped(file: &OwnedFd, expected: u64, out: &mut Vec<u8>) -> Result<(), Errno> {
    let mut buf = [0u8; READ_CAP];
    let mut len = 0;
    while len < READ_CAP {
        match rustix::io::pread(file, &mut buf[len..], len as u64) {
            Ok(0) => break,
            Ok(n) => {
                len += n;
                if len as u64 >= expected {
                    break;
                }
            }
            Err(Errno::INTR) => continue,
            Err(errno) => return Err(errno),
        }
    }
    out.extend_from_slice(&buf[..len]);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::symlink;

    fn dir_fd(path: &std::path::Path) -> OwnedFd {
        rustix::fs::open(path, OFlags::RDONLY | OFlags::DIRECTORY, Mode::empty()).unwrap()
    }

    fn content(outcome: ReadOutcome) -> (FileFacts, Vec<u8>) {
        match outcome {
            ReadOutcome::Content { facts, bytes } => (facts, bytes),
            other => panic!("expected content, got {other:?}"),
        }
    }

    /// A regular file's bytes come back whole, with the facts of that very file.
    #[test]
    fn regular_file_is_read_whole() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("a.pid"), b"4242\n").unwrap();
        let fd = dir_fd(dir.path());
        let (facts, bytes) = content(read_at(&fd, OsStr::new("a.pid")));
        assert_eq!(bytes, b"4242\n");
        assert_eq!(facts.kind, FileKind::Regular);
        assert_eq!(facts.size, 5);
        let st = rustix::fs::stat(dir.path().join("a.pid")).unwrap();
        assert_eq!((facts.dev, facts.ino), (st.st_dev as u64, st.st_ino as u64));
    }

    /// A file of exactly READ_CAP bytes is read whole; one byte more is not read at all (oversize).
    #[test]
    fn read_cap_boundary() {
        let dir = tempfile::tempdir().unwrap();
        let full: Vec<u8> = (0..READ_CAP).map(|i| b'0' + (i % 10) as u8).collect();
        std::fs::write(dir.path().join("full.pid"), &full).unwrap();
        let mut over = full.clone();
        over.push(b'9');
        std::fs::write(dir.path().join("over.pid"), &over).unwrap();
        let fd = dir_fd(dir.path());
        let (_, bytes) = content(read_at(&fd, OsStr::new("full.pid")));
        assert_eq!(bytes, full);
        let (facts, bytes) = content(read_at(&fd, OsStr::new("over.pid")));
        assert!(bytes.is_empty());
        assert_eq!(facts.size, READ_CAP as u64 + 1);
    }

    fn set_age(path: &std::path::Path, secs: u64) {
        let old = std::time::SystemTime::now() - Duration::from_secs(secs);
        std::fs::File::options()
            .write(true)
            .open(path)
            .unwrap()
            .set_modified(old)
            .unwrap();
    }

    /// An empty file last written a while ago is reported empty (after the re-read); one emptied
    /// moments ago may be mid-rewrite and is unstable, never empty.
    #[test]
    fn empty_file_is_empty_content() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("e.pid");
        std::fs::write(&path, b"").unwrap();
        let fd = dir_fd(dir.path());
        assert!(matches!(
            read_at(&fd, OsStr::new("e.pid")),
            ReadOutcome::Unstable {
                why: Unsettled::Emptied,
                ..
            }
        ));
        set_age(&path, 60);
        let (facts, bytes) = content(read_at(&fd, OsStr::new("e.pid")));
        assert!(bytes.is_empty());
        assert_eq!(facts.size, 0);
    }

    /// Digits without the newline, written moments ago, may be the start of a PID: unstable, never
    /// judged; the same file written a while ago is read as it is. Other unterminated content
    /// (which no later write can make a valid PID) and a terminated PID are read at once.
    #[test]
    fn young_digits_without_newline_are_unsettled() {
        let dir = tempfile::tempdir().unwrap();
        let fd = dir_fd(dir.path());
        std::fs::write(dir.path().join("p.pid"), b"12").unwrap();
        assert!(matches!(
            read_at(&fd, OsStr::new("p.pid")),
            ReadOutcome::Unstable {
                why: Unsettled::Unterminated,
                ..
            }
        ));
        set_age(&dir.path().join("p.pid"), 60);
        assert_eq!(content(read_at(&fd, OsStr::new("p.pid"))).1, b"12");
        for (name, bytes) in [
            ("a.pid", &b"12a"[..]),
            ("b.pid", b"12\n"),
            ("c.pid", b" 12"),
        ] {
            std::fs::write(dir.path().join(name), bytes).unwrap();
            let first = read_once(&fd, OsStr::new(name));
            assert!(!suspect(&first), "{name}");
            assert_eq!(content(first).1, bytes);
        }
    }

    /// A file caught empty, then found with its PID after the wait, is judged on the PID; one
    /// caught half-written and found complete likewise.
    #[test]
    fn settled_by_the_second_read() {
        let dir = tempfile::tempdir().unwrap();
        let fd = dir_fd(dir.path());
        let path = dir.path().join("w.pid");
        for caught in [&b""[..], b"12"] {
            std::fs::write(&path, caught).unwrap();
            let first = read_once(&fd, OsStr::new("w.pid"));
            assert!(suspect(&first));
            std::fs::write(&path, b"12345\n").unwrap();
            let (_, bytes) = content(settle(&first, read_once(&fd, OsStr::new("w.pid"))));
            assert_eq!(bytes, b"12345\n");
        }
    }

    /// A FIFO is reported as not a file and never opened (opening it for reading would block).
    #[test]
    fn fifo_is_not_opened() {
        let dir = tempfile::tempdir().unwrap();
        let fd = dir_fd(dir.path());
        rustix::fs::mknodat(&fd, "f.pid", FileType::Fifo, Mode::from_raw_mode(0o644), 0).unwrap();
        match read_at(&fd, OsStr::new("f.pid")) {
            ReadOutcome::NotAFile { facts, .. } => assert_eq!(facts.kind, FileKind::Fifo),
            other => panic!("expected not-a-file, got {other:?}"),
        }
    }

    /// A symlink is reported with its target and not followed; a directory is not a file; a name
    /// that does not exist has vanished.
    #[test]
    fn symlink_directory_and_absent() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("real.pid"), b"1\n").unwrap();
        symlink(dir.path().join("real.pid"), dir.path().join("link.pid")).unwrap();
        std::fs::create_dir(dir.path().join("d.pid")).unwrap();
        let fd = dir_fd(dir.path());
        match read_at(&fd, OsStr::new("link.pid")) {
            ReadOutcome::Symlink { facts, target, .. } => {
                assert_eq!(facts.kind, FileKind::Symlink);
                assert_eq!(target, dir.path().join("real.pid"));
            }
            other => panic!("expected symlink, got {other:?}"),
        }
        match read_at(&fd, OsStr::new("d.pid")) {
            ReadOutcome::NotAFile { facts, .. } => assert_eq!(facts.kind, FileKind::Directory),
            other => panic!("expected not-a-file, got {other:?}"),
        }
        assert!(matches!(
            read_at(&fd, OsStr::new("absent.pid")),
            ReadOutcome::Vanished
        ));
    }

    /// The descriptor used to reopen pidfiles is this system's procfs `/proc/self/fd`.
    #[test]
    fn reopen_directory_is_procfs() {
        let fds = proc_self_fd().expect("/proc is mounted where the tests run");
        let fs = rustix::fs::fstatfs(fds).unwrap();
        assert_eq!(fs.f_type as i64, PROC_SUPER_MAGIC);
    }
}
