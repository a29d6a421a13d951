//! Retracking: rewriting a pidfile to name the live instance, re-verified at the moment it is done.
//!
//! [`retrack`] re-checks, in this order: the held directory and the file (as a removal does: the
//! directory's dev/inode, the name opened `O_PATH|O_NOFOLLOW`, kind, dev/inode, size, mtime,
//! owner, mode and link count, then the content byte for byte through the reopened inode); the PID
//! the file names (still dead, or still the same process); the instance, pinned by a pidfd with
//! its start time, executable and user re-read through its `/proc` entry ([`super::pin`]); and,
//! when a lock proved it, that it still holds that lock: a write lock on the planned file in the
//! fdinfo of the planned descriptor, opened for writing.
//!
//! How the file is written:
//! - **in place** when the instance holds the file's own lock: replacing the inode would leave the
//!   path unguarded (safety.md: never replace a file a live process holds locked). The new bytes
//!   are written over the old at offset 0, then the file is truncated to their length and fsynced:
//!   it is never empty, and owner and mode stay as they are. A reader racing the write may see the
//!   new PID followed by the old bytes' tail for an instant; its first line is already the new PID.
//! - **by rename** otherwise: a temporary file `.NAME.pidaudit-PID` is created in the held
//!   directory (`O_CREAT|O_EXCL|O_NOFOLLOW`, mode 0600), written, given the old file's owner and
//!   mode through its descriptor, fsynced, and renamed over the name (`renameat`) after checking
//!   the name still names the planned inode; the directory is then fsynced.
//!
//! Anything different skips the action with the reason; nothing is adapted.

use super::{Action, WriteMethod};
use rustix::fd::{AsFd, BorrowedFd, OwnedFd};
use rustix::fs::{AtFlags, Mode, OFlags};
use rustix::io::Errno;

/// The file a retrack left at the path.
#[derive(Clone, Debug)]
pub struct Written {
    pub dev: u64,
    pub ino: u64,
    pub size: u64,
    pub mtime: i64,
    pub mtime_nsec: u32,
    pub content: Vec<u8>,
}

/// Whether the pinned instance still holds the planned write lock through the planned
/// descriptor, opened for writing.
fn still_locked(pinned: &super::pin::Pinned, lock: &super::LockBasis) -> Result<(), String> {
    let info = crate::system::read_at(&pinned.dir, &format!("fdinfo/{}", lock.fd), 65536)
        .map_err(|e| format!("the instance's descriptor {}: {e}", lock.fd))?;
    let flags = crate::system::locks::parse_fdinfo_flags(&info).unwrap_or(0);
    let writable = matches!(flags & 0o3, 1 | 2);
    let (locks, _) = crate::system::locks::parse_fdinfo_locks(&info);
    let held = locks.iter().any(|l| {
        l.mode == crate::system::locks::LockMode::Write
            && l.file
                .is_some_and(|f| (f.dev(), f.ino) == (lock.dev, lock.ino))
    });
    if held && writable {
        Ok(())
    } else {
        Err("the instance no longer holds the lock that proved it".into())
    }
}

/// Rewrites the planned file to name the planned instance (see the module docs). `Err` says why it
/// was skipped; nothing was changed then.
pub fn retrack(action: &Action, proc: BorrowedFd<'_>) -> Result<Written, String> {
    let r = action
        .retrack
        .as_ref()
        .ok_or("the plan has no instance for this action")?;
    let b = action
        .basis
        .file
        .as_ref()
        .ok_or("the plan has no file for this action")?;
    let (dirfd, handle, file) = super::apply::open_planned(action)?;
    let dir = dirfd.as_fd();
    let bytes = super::apply::read_all(&file).map_err(|e| format!("read: {e}"))?;
    if bytes != b.content {
        return Err("the content changed since it was judged".into());
    }
    super::apply::check_pid(action.basis.pid, proc)?;
    let pinned = super::pin::pin(&r.instance, proc)?;
    if let Some(lock) = &r.lock {
        still_locked(&pinned, lock)?;
    }
    let new = r.content.as_bytes();
    match r.method {
        WriteMethod::InPlace => {
            if r.lock.is_none_or(|l| (l.dev, l.ino) != (b.dev, b.ino)) {
                return Err(
                    "an in-place rewrite needs the instance's lock on this very file".into(),
                );
            }
            let w = reopen_write(&handle)?;
            let st = rustix::fs::fstat(&w).map_err(|e| format!("fstat: {e}"))?;
            if (st.st_dev as u64, st.st_ino as u64) != (b.dev, b.ino) {
                return Err("replaced by another file since it was judged".into());
            }
            write_over(&w, new)?;
            written(&w, new)
        }
        WriteMethod::Rename => {
            // A file a live process locks is never replaced: its guard would be lost.
            if super::apply::posix_lock(&file)?.is_some() {
                return Err("a process holds a POSIX or OFD lock on the file".into());
            }
            match rustix::fs::flock(&file, rustix::fs::FlockOperation::NonBlockingLockShared) {
                Ok(()) => {}
                Err(Errno::WOULDBLOCK) => return Err("a process holds a flock on the file".into()),
                Err(e) => return Err(format!("flock: {e}")),
            }
            let result = install(
                dir,
                action,
                new,
                (b.uid, b.gid, b.mode & 0o7777),
                rustix::fs::RenameFlags::empty(),
                || {
                    let at = rustix::fs::statat(dir, &action.name, AtFlags::SYMLINK_NOFOLLOW)
                        .map_err(|e| format!("the name no longer names the file: {e}"))?;
                    if (at.st_dev as u64, at.st_ino as u64) != (b.dev, b.ino) {
                        return Err("the name now names another file".into());
                    }
                    Ok(())
                },
            );
            drop(file);
            result
        }
    }
}

/// Writes a missing pidfile to name the planned instance: the held directory re-checked, the
/// instance pinned and re-verified, nothing at the name, then a temporary file created `O_EXCL`
/// (owner root, mode 0644), fsynced and renamed into place with `RENAME_NOREPLACE`: a file that
/// appeared meanwhile (the daemon's own) is never replaced.
pub fn write_missing(action: &Action, proc: BorrowedFd<'_>) -> Result<Written, String> {
    let r = action
        .retrack
        .as_ref()
        .ok_or("the plan has no instance for this action")?;
    let dirfd = super::apply::held_dir(action)?;
    let dir = dirfd.as_fd();
    let _pinned = super::pin::pin(&r.instance, proc)?;
    match rustix::fs::statat(dir, &action.name, AtFlags::SYMLINK_NOFOLLOW) {
        Err(Errno::NOENT) => {}
        Ok(_) => return Err("a file stands at the path now".into()),
        Err(e) => return Err(format!("stat: {e}")),
    }
    install(
        dir,
        action,
        r.content.as_bytes(),
        (0, 0, 0o644),
        rustix::fs::RenameFlags::NOREPLACE,
        || Ok(()),
    )
}

/// The temporary file a rename writes first for `name`: `.NAME.pidaudit-PID` (this process's PID),
/// journaled so that `undo` can remove one a killed run left behind.
pub fn temp_name(name: &std::ffi::OsStr) -> String {
    format!(
        ".{}.pidaudit-{}",
        name.to_string_lossy(),
        std::process::id()
    )
}

/// Puts `content` at the action's name in `dir` through a temporary file: created
/// `O_CREAT|O_EXCL|O_NOFOLLOW` (mode 0600), written, given `owner` (uid, gid, mode) through its
/// descriptor, fsynced; then `check` (the last look at what stands at the name), `renameat` with
/// `flags`, and the directory fsynced. The temporary file is removed on any failure.
fn install(
    dir: BorrowedFd<'_>,
    action: &Action,
    content: &[u8],
    owner: (u32, u32, u32),
    flags: rustix::fs::RenameFlags,
    check: impl FnOnce() -> Result<(), String>,
) -> Result<Written, String> {
    let tmp = temp_name(&action.name);
    let t = rustix::fs::openat(
        dir,
        tmp.as_str(),
        OFlags::WRONLY | OFlags::CREATE | OFlags::EXCL | OFlags::NOFOLLOW | OFlags::CLOEXEC,
        Mode::from_raw_mode(0o600),
    )
    .map_err(|e| format!("create {tmp}: {e}"))?;
    let fill = || -> Result<Written, String> {
        write_over(&t, content)?;
        rustix::fs::fchown(
            &t,
            Some(rustix::process::Uid::from_raw(owner.0)),
            Some(rustix::process::Gid::from_raw(owner.1)),
        )
        .map_err(|e| format!("fchown: {e}"))?;
        rustix::fs::fchmod(&t, Mode::from_raw_mode(owner.2)).map_err(|e| format!("fchmod: {e}"))?;
        rustix::fs::fsync(&t).map_err(|e| format!("fsync: {e}"))?;
        check()?;
        rustix::fs::renameat_with(dir, tmp.as_str(), dir, &action.name, flags).map_err(
            |e| match e {
                Errno::EXIST => "a file appeared at the path meanwhile".to_string(),
                e => format!("rename: {e}"),
            },
        )?;
        let _ = rustix::fs::fsync(dir);
        written(&t, content)
    };
    let result = fill();
    if result.is_err() {
        let _ = rustix::fs::unlinkat(dir, tmp.as_str(), AtFlags::empty());
    }
    result
}

/// Reopens the inode behind an `O_PATH` handle for writing, through `/proc/self/fd` (the very
/// inode, never a name).
pub(crate) fn reopen_write(handle: &OwnedFd) -> Result<OwnedFd, String> {
    let fds = crate::pidfile::read::proc_self_fd().ok_or("/proc/self/fd is not procfs")?;
    rustix::fs::openat(
        fds,
        rustix::path::DecInt::from_fd(handle),
        OFlags::WRONLY | OFlags::NONBLOCK | OFlags::NOCTTY | OFlags::CLOEXEC,
        Mode::empty(),
    )
    .map_err(|e| format!("reopen for writing: {e}"))
}

/// Writes `bytes` at offset 0, truncates to their length and fsyncs.
pub(crate) fn write_over(fd: &OwnedFd, bytes: &[u8]) -> Result<(), String> {
    let mut off = 0;
    while off < bytes.len() {
        match rustix::io::pwrite(fd, &bytes[off..], off as u64) {
            Ok(0) => return Err("write: no progress".into()),
            Ok(n) => off += n,
            Err(Errno::INTR) => continue,
            Err(e) => return Err(format!("write: {e}")),
        }
    }
    rustix::fs::ftruncate(fd, bytes.len() as u64).map_err(|e| format!("truncate: {e}"))?;
    rustix::fs::fsync(fd).map_err(|e| format!("fsync: {e}"))
}

fn written(fd: &OwnedFd, content: &[u8]) -> Result<Written, String> {
    let st = rustix::fs::fstat(fd).map_err(|e| format!("fstat: {e}"))?;
    Ok(Written {
        dev: st.st_dev as u64,
        ino: st.st_ino as u64,
        size: st.st_size as u64,
        mtime: st.st_mtime as i64,
        mtime_nsec: st.st_mtime_nsec as u32,
        content: content.to_vec(),
    })
}
