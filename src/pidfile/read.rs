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
use rustix::fd::{AsFd, AsRawFd, OwnedFd};
use rustix::fs::{FileType, Mode, OFlags};
use rustix::io::Errno;
use serde::Serialize;
use std::ffi::OsStr;
use std::path::PathBuf;
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

    fn same_version(&self, other: &FileFacts) -> bool {
        self.dev == other.dev
            && self.ino == other.ino
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

/// Opens the regular file behind an `O_PATH` handle for reading. Through `/proc/self/fd` this reopens
/// the very inode that was `fstat`ed, with no second path lookup; where `/proc` is not mounted it falls
/// back to a non-following, non-blocking `openat` and checks that the inode is the one `fstat`ed.
fn reopen(
    handle: &OwnedFd,
    dir: rustix::fd::BorrowedFd<'_>,
    name: &OsStr,
    facts: &FileFacts,
) -> Result<OwnedFd, Errno> {
    let flags = OFlags::RDONLY | OFlags::NONBLOCK | OFlags::NOCTTY | OFlags::CLOEXEC;
    let via_proc = format!("/proc/self/fd/{}", handle.as_raw_fd());
    let fd = match rustix::fs::open(via_proc.as_str(), flags, Mode::empty()) {
        Ok(fd) => fd,
        Err(Errno::NOENT) | Err(Errno::NOTDIR) => {
            rustix::fs::openat(dir, name, flags | OFlags::NOFOLLOW, Mode::empty())?
        }
        Err(errno) => return Err(errno),
    };
    let st = FileFacts::from_stat(&rustix::fs::fstat(&fd)?);
    if st.dev != facts.dev || st.ino != facts.ino || st.kind != FileKind::Regular {
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
            if let Err(errno) = read_capped(file, &mut bytes) {
                return ReadOutcome::Error { op: "read", errno };
            }
        }
        let after = match rustix::fs::fstat(file) {
            Ok(st) => FileFacts::from_stat(&st),
            Err(errno) => return ReadOutcome::Error { op: "fstat", errno },
        };
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

/// Reads from offset 0 up to `READ_CAP` bytes.
fn read_capped(file: &OwnedFd, out: &mut Vec<u8>) -> Result<(), Errno> {
    let mut buf = [0u8; READ_CAP];
    let mut len = 0;
    while len < READ_CAP {
        match rustix::io::pread(file, &mut buf[len..], len as u64) {
            Ok(0) => break,
            Ok(n) => len += n,
            Err(Errno::INTR) => continue,
            Err(errno) => return Err(errno),
        }
    }
    out.extend_from_slice(&buf[..len]);
    Ok(())
}
