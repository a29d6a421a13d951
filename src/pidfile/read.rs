//! Reading a pidfile as root without being tricked.
//!
//! The file is opened with `O_PATH|O_NOFOLLOW` relative to its directory's descriptor and `fstat`ed
//! before anything else: only a regular file is ever opened for reading, so a FIFO (whose open would
//! block), a device (whose open runs driver code), a socket or a directory is reported, never opened. A
//! final symlink is reported with its target and followed only through a safe chain, one component at a
//! time (see [`super::chase`]); the kernel never resolves it. The read is capped at [`READ_CAP`] bytes;
//! the file is `fstat`ed again afterwards and re-read when it changed underneath (a writer between
//! truncate and write); an empty file is re-read briefly before it is called empty.

use super::chase::Chase;
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

/// How often a file that changed while being read is re-read before it is reported as unknown.
const CHANGE_RETRIES: u32 = 10;
/// How long an empty file is watched for a writer that truncated it and is about to write.
const EMPTY_RETRIES: u32 = 3;
const EMPTY_WAIT: Duration = Duration::from_millis(10);
/// An empty file modified less than this long ago may be mid-rewrite: it is reported as unknown.
const FRESH: Duration = Duration::from_secs(2);
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
    /// Not a regular file; never opened.
    NotAFile { facts: FileFacts },
    /// A symbolic link (`facts` are the link's own), with where its chain leads: followed and read
    /// only when every step was safe.
    Symlink {
        facts: FileFacts,
        target: PathBuf,
        chase: Chase,
    },
    /// The file disappeared before it could be opened.
    Vanished,
    /// The file kept changing while being read.
    Unstable { facts: FileFacts },
    /// The file could not be opened or read.
    Error { op: &'static str, errno: Errno },
}

/// Reads the pidfile `name` in the directory `dir`, safely (see the module docs).
pub fn read_at(dir: impl AsFd, name: &OsStr) -> ReadOutcome {
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
    let facts = match rustix::fs::fstat(&handle) {
        Ok(st) => FileFacts::from_stat(&st),
        Err(errno) => return ReadOutcome::Error { op: "fstat", errno },
    };
    match facts.kind {
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
        _ => return ReadOutcome::NotAFile { facts },
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
fn proc_self_fd() -> Option<rustix::fd::BorrowedFd<'static>> {
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
/// bytes read match the size. An empty read is watched for [`EMPTY_RETRIES`] more reads
/// [`EMPTY_WAIT`] apart: a writer between truncate and write soon makes it non-empty; an empty file
/// whose version changes while it is watched is being rewritten, so it is never called empty (it is
/// re-read like any other change). A file that stays empty but was emptied less than [`FRESH`] ago
/// is `Unstable`: its writer may be stalled mid-rewrite. Only a file that stays empty and unchanged,
/// and was emptied earlier than that, is empty. More than
/// [`CHANGE_RETRIES`] changes give up with `Unstable`.
fn read_regular(file: &OwnedFd, first: FileFacts) -> ReadOutcome {
    let mut facts = first;
    let mut changes = 0;
    let mut empty_polls = 0;
    let mut empty_version: Option<FileFacts> = None;
    loop {
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
        let consistent = after.same_version(&facts)
            && (after.size > READ_CAP as u64 || bytes.len() as u64 == after.size);
        let changed_while_empty = consistent
            && bytes.is_empty()
            && after.size == 0
            && empty_version.is_some_and(|v| !v.same_version(&after));
        if !consistent || changed_while_empty {
            changes += 1;
            if changes > CHANGE_RETRIES {
                return ReadOutcome::Unstable { facts: after };
            }
            facts = after;
            if changed_while_empty {
                empty_version = Some(after);
            }
            std::thread::sleep(Duration::from_micros(200 << changes.min(4)));
            continue;
        }
        if empty_polls >= EMPTY_RETRIES && bytes.is_empty() && after.size == 0 && fresh(&after) {
            // Emptied moments ago and still empty: a writer may be stalled between truncate and
            // write (a truncate waits for writeback of the old data). Not known to be empty.
            return ReadOutcome::Unstable { facts: after };
        }
        if !bytes.is_empty() || after.size != 0 || empty_polls >= EMPTY_RETRIES {
            return ReadOutcome::Content {
                facts: after,
                bytes,
            };
        }
        // Empty: watch it briefly for a writer between truncate and write.
        empty_version.get_or_insert(after);
        empty_polls += 1;
        std::thread::sleep(EMPTY_WAIT);
        facts = match rustix::fs::fstat(file) {
            Ok(st) => FileFacts::from_stat(&st),
            Err(errno) => return ReadOutcome::Error { op: "fstat", errno },
        };
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

    /// An empty file last written a while ago is reported empty (after the brief re-reads); one
    /// emptied moments ago may be mid-rewrite and is unstable, never empty.
    #[test]
    fn empty_file_is_empty_content() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("e.pid");
        std::fs::write(&path, b"").unwrap();
        let fd = dir_fd(dir.path());
        assert!(matches!(
            read_at(&fd, OsStr::new("e.pid")),
            ReadOutcome::Unstable { .. }
        ));
        let old = std::time::SystemTime::now() - Duration::from_secs(60);
        std::fs::File::options()
            .write(true)
            .open(&path)
            .unwrap()
            .set_modified(old)
            .unwrap();
        let (facts, bytes) = content(read_at(&fd, OsStr::new("e.pid")));
        assert!(bytes.is_empty());
        assert_eq!(facts.size, 0);
    }

    /// A FIFO is reported as not a file and never opened (opening it for reading would block).
    #[test]
    fn fifo_is_not_opened() {
        let dir = tempfile::tempdir().unwrap();
        let fd = dir_fd(dir.path());
        rustix::fs::mknodat(&fd, "f.pid", FileType::Fifo, Mode::from_raw_mode(0o644), 0).unwrap();
        match read_at(&fd, OsStr::new("f.pid")) {
            ReadOutcome::NotAFile { facts } => assert_eq!(facts.kind, FileKind::Fifo),
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
            ReadOutcome::NotAFile { facts } => assert_eq!(facts.kind, FileKind::Directory),
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
