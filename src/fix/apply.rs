//! Applying one action, re-verified at the moment it is taken.
//!
//! [`remove`] re-checks everything the plan was based on, through held descriptors, in this order:
//! 1. the directory is the one planned (its held descriptor's dev/inode);
//! 2. the name is opened `O_PATH|O_NOFOLLOW` relative to it and `fstat`ed: a regular file with the
//!    planned dev, inode, size, mtime, owner, mode and link count (a symlink, FIFO or device swapped
//!    in is never opened for reading); it is then reopened for reading through `/proc/self/fd`, so
//!    the very inode that was checked is opened;
//! 3. a non-blocking exclusive `flock` is taken (anyone holding one: skipped) and `F_OFD_GETLK`
//!    asks whether any POSIX or OFD lock is held on it (one held: skipped); the `flock` is held
//!    until after the unlink, so a daemon that starts and locks its pidfile meanwhile fails to;
//! 4. the content is re-read and compared byte for byte, and the file re-`fstat`ed;
//! 5. the PID is re-checked: still dead (`pidfd_open` fails with ESRCH), or still the same process
//!    or thread (its start time in `/proc/PID/stat`, read after a `pidfd_open` of it);
//! 6. `fstatat(dir, name, AT_SYMLINK_NOFOLLOW)` still names the opened inode;
//! 7. `unlinkat(dir, name)`.
//!
//! Anything different skips the action with the reason; nothing is adapted.

use super::{Action, PidBasis};
use crate::pidfile::{FileFacts, FileKind, READ_CAP};
use rustix::fd::{AsFd, BorrowedFd, OwnedFd};
use rustix::fs::{AtFlags, FlockOperation, Mode, OFlags};
use rustix::io::Errno;

/// Reads the start time (clock ticks after boot) of process or thread `pid` under `proc`.
pub fn read_start_ticks(proc: BorrowedFd<'_>, pid: u32) -> Result<u64, Errno> {
    crate::system::read_whole_at(proc, format!("{pid}/stat").as_str(), 4096, |b| {
        crate::system::parse_stat(b).map(|s| s.starttime)
    })?
    .map_err(|_| Errno::INVAL)
}

/// Removes the planned file after re-verifying it (see the module docs). `Err` says why it was
/// skipped; nothing was changed then.
pub fn remove(action: &Action, proc: BorrowedFd<'_>) -> Result<(), String> {
    let (dirfd, _handle, file) = open_planned(action)?;
    let b = planned_file(action)?;
    let dir = dirfd.as_fd();
    match rustix::fs::flock(&file, FlockOperation::NonBlockingLockExclusive) {
        Ok(()) => {}
        Err(Errno::WOULDBLOCK) => return Err("a process holds a flock on the file".into()),
        Err(e) => return Err(format!("flock: {e}")),
    }
    if let Some(holder) = posix_lock(&file)? {
        return Err(match holder {
            -1 => "a process holds an OFD lock on the file".to_string(),
            p => format!("PID {p} holds a POSIX lock on the file"),
        });
    }
    let bytes = read_all(&file).map_err(|e| format!("read: {e}"))?;
    if bytes != b.content {
        return Err("the content changed since it was judged".into());
    }
    let after = FileFacts::from_stat(&rustix::fs::fstat(&file).map_err(|e| format!("fstat: {e}"))?);
    same_file(b, &after)?;
    check_pid(action.basis.pid, proc)?;
    let at = rustix::fs::statat(dir, &action.name, AtFlags::SYMLINK_NOFOLLOW)
        .map_err(|e| format!("the name no longer names the file: {e}"))?;
    if (at.st_dev as u64, at.st_ino as u64) != (b.dev, b.ino) {
        return Err("the name now names another file".into());
    }
    rustix::fs::unlinkat(dir, &action.name, AtFlags::empty())
        .map_err(|e| format!("unlink: {e}"))?;
    // The flock is released when `file` is closed, after the unlink.
    drop(file);
    Ok(())
}

/// The planned file's basis (every file action has one).
fn planned_file(action: &Action) -> Result<&super::FileBasis, String> {
    action
        .basis
        .file
        .as_ref()
        .ok_or_else(|| "the plan has no file for this action".to_string())
}

/// The directory the action acts in, reopened as discovery holds it and checked to be the planned
/// one (dev/inode).
pub(crate) fn held_dir(action: &Action) -> Result<std::sync::Arc<OwnedFd>, String> {
    let dirfd = super::open_dir(&action.dir)
        .map_err(|e| format!("the directory is not the one audited: {e}"))?;
    let dst = rustix::fs::fstat(&*dirfd).map_err(|e| format!("directory: fstat: {e}"))?;
    if (dst.st_dev as u64, dst.st_ino as u64) != (action.basis.dir_dev, action.basis.dir_ino) {
        return Err("the directory is not the one audited".into());
    }
    Ok(dirfd)
}

/// The held directory (checked to be the planned one), an `O_PATH|O_NOFOLLOW` handle of the name
/// in it (checked to be the planned version: kind, dev/inode, size, mtime, owner, mode, links), and
/// that inode reopened for reading.
pub(crate) fn open_planned(
    action: &Action,
) -> Result<(std::sync::Arc<OwnedFd>, OwnedFd, OwnedFd), String> {
    let b = planned_file(action)?;
    let dirfd = held_dir(action)?;
    let dir = dirfd.as_fd();
    let handle = match rustix::fs::openat(
        dir,
        &action.name,
        OFlags::PATH | OFlags::NOFOLLOW | OFlags::CLOEXEC,
        Mode::empty(),
    ) {
        Ok(fd) => fd,
        Err(Errno::NOENT) => return Err("the file is gone".into()),
        Err(e) => return Err(format!("open: {e}")),
    };
    let now = FileFacts::from_stat(&rustix::fs::fstat(&handle).map_err(|e| format!("fstat: {e}"))?);
    same_file(b, &now)?;
    let file = crate::pidfile::read::reopen(&handle, dir, action.name.as_os_str(), &now)
        .map_err(|e| format!("reopen: {e}"))?;
    Ok((dirfd, handle, file))
}

/// Whether the file is still the planned version: kind, identity, size, mtime, owner, mode, links.
pub(crate) fn same_file(b: &super::FileBasis, now: &FileFacts) -> Result<(), String> {
    if now.kind != FileKind::Regular {
        return Err(format!("now a {}", now.kind.describe()));
    }
    if (now.dev, now.ino) != (b.dev, b.ino) {
        return Err("replaced by another file since it was judged".into());
    }
    if now.size != b.size || (now.mtime, now.mtime_nsec) != (b.mtime, b.mtime_nsec) {
        return Err("modified since it was judged (size or mtime)".into());
    }
    if (now.uid, now.gid, now.mode, now.nlink) != (b.uid, b.gid, b.mode, b.nlink) {
        return Err("owner, mode or link count changed since it was judged".into());
    }
    Ok(())
}

/// The PID of a POSIX lock holder (-1 for an OFD lock) that would conflict with a write lock on the
/// whole file, if any (`F_OFD_GETLK`: nothing is locked).
pub(crate) fn posix_lock(file: &OwnedFd) -> Result<Option<i32>, String> {
    use nix::fcntl::{fcntl, FcntlArg};
    use nix::libc;
    // SAFETY: flock is a plain C struct; all-zero is a valid value.
    let mut fl: libc::flock = unsafe { std::mem::zeroed() };
    fl.l_type = libc::F_WRLCK as libc::c_short;
    fl.l_whence = libc::SEEK_SET as libc::c_short;
    fl.l_start = 0;
    fl.l_len = 0;
    fl.l_pid = 0;
    fcntl(file, FcntlArg::F_OFD_GETLK(&mut fl)).map_err(|e| format!("F_OFD_GETLK: {e}"))?;
    if fl.l_type == libc::F_UNLCK as libc::c_short {
        Ok(None)
    } else {
        Ok(Some(fl.l_pid))
    }
}

/// Reads the whole file (up to one byte more than [`READ_CAP`]).
pub(crate) fn read_all(file: &OwnedFd) -> Result<Vec<u8>, Errno> {
    let mut buf = vec![0u8; READ_CAP + 1];
    let mut len = 0;
    while len < buf.len() {
        match rustix::io::pread(file, &mut buf[len..], len as u64) {
            Ok(0) => break,
            Ok(n) => len += n,
            Err(Errno::INTR) => continue,
            Err(e) => return Err(e),
        }
    }
    buf.truncate(len);
    Ok(buf)
}

/// Re-checks the PID: still dead, or still the same process.
pub(crate) fn check_pid(basis: PidBasis, proc: BorrowedFd<'_>) -> Result<(), String> {
    match basis {
        PidBasis::NoPid => Ok(()),
        PidBasis::Dead { pid } => match crate::system::pidfd(pid) {
            Err(Errno::SRCH) => Ok(()),
            Ok(_) | Err(Errno::INVAL) => Err(format!("PID {pid} is in use again")),
            Err(e) => Err(format!("PID {pid}: pidfd_open: {e}")),
        },
        PidBasis::Same { pid, start_ticks } => {
            // Pin the process (a thread has no pidfd of its own: EINVAL), then read its start time.
            let _pin = match crate::system::pidfd(pid) {
                Ok(fd) => Some(fd),
                Err(Errno::INVAL) => None,
                Err(Errno::SRCH) => {
                    return Err(format!("PID {pid} has exited since it was judged"))
                }
                Err(e) => return Err(format!("PID {pid}: pidfd_open: {e}")),
            };
            match read_start_ticks(proc, pid) {
                Ok(t) if t == start_ticks => Ok(()),
                Ok(_) => Err(format!("PID {pid} is another process than the one judged")),
                Err(e) => Err(format!("PID {pid}: cannot read its start time: {e}")),
            }
        }
    }
}

/// Sets the planned owner and mode through a descriptor of the re-verified file (never by path):
/// `fchown` first (it clears set-ID bits), then `fchmod`. `Err` says why it was skipped.
pub fn fix_permissions(action: &Action) -> Result<(), String> {
    let want = action
        .permissions
        .ok_or("the plan has no permissions for this action")?;
    let b = planned_file(action)?;
    let (_dir, _handle, file) = open_planned(action)?;
    let bytes = read_all(&file).map_err(|e| format!("read: {e}"))?;
    if bytes != b.content {
        return Err("the content changed since it was judged".into());
    }
    rustix::fs::fchown(
        &file,
        Some(rustix::process::Uid::from_raw(want.uid)),
        Some(rustix::process::Gid::from_raw(want.gid)),
    )
    .map_err(|e| format!("fchown: {e}"))?;
    rustix::fs::fchmod(&file, Mode::from_raw_mode(want.mode))
        .map_err(|e| format!("fchmod: {e}"))?;
    rustix::fs::fsync(&file).map_err(|e| format!("fsync: {e}"))
}
