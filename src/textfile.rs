//! `--textfile DIR`: writes the Prometheus exposition to `DIR/pidaudit.prom` for node exporter's
//! textfile collector, atomically. This is the only file pidaudit's scan ever writes, and only when
//! asked to.
//!
//! The text goes to a temporary file created in DIR with `O_CREAT|O_EXCL|O_NOFOLLOW` (so an existing
//! file or link at that name is never opened), made mode 0644 through its fd, fsynced, then renamed
//! over `pidaudit.prom` with `renameat` (a symlink standing at `pidaudit.prom` is replaced, never
//! followed), and the directory is fsynced. The temporary name does not end in `.prom`, so the
//! collector never reads a half-written file. On any error the temporary file is removed.
//!
//! DIR itself is opened with `O_NOFOLLOW|O_DIRECTORY`, so a symlink standing at DIR is refused, never
//! followed, and so is a directory another user could fill or swap files in: one owned by neither
//! root nor this process's user, or writable by others without the sticky bit. The checks are made
//! on the descriptor the file is then written through.

use rustix::fs::{AtFlags, Mode, OFlags};
use std::fmt;
use std::io::Write;
use std::os::fd::{AsFd, OwnedFd};
use std::path::{Path, PathBuf};

/// The file name written in DIR.
pub const FILE_NAME: &str = "pidaudit.prom";

/// Why the textfile could not be written.
#[derive(Debug)]
pub struct TextfileError {
    pub path: PathBuf,
    pub op: &'static str,
    pub error: std::io::Error,
}

impl fmt::Display for TextfileError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "cannot write {}: {}: {}",
            self.path.display(),
            self.op,
            self.error
        )
    }
}

impl std::error::Error for TextfileError {}

/// Atomically replaces `dir/pidaudit.prom` with `content`. Returns the path written.
pub fn write(dir: &Path, content: &[u8]) -> Result<PathBuf, TextfileError> {
    let target = dir.join(FILE_NAME);
    let err = |op: &'static str, e: rustix::io::Errno| TextfileError {
        path: target.clone(),
        op,
        error: e.into(),
    };
    let dirfd = open_dir(dir).map_err(|error| TextfileError {
        path: target.clone(),
        op: "open directory",
        error,
    })?;
    let (tmp_name, fd) = create_temp(&dirfd).map_err(|e| err("create temporary file", e))?;
    let result = fill(fd, content)
        .map_err(|(op, e)| TextfileError {
            path: target.clone(),
            op,
            error: e,
        })
        .and_then(|()| {
            rustix::fs::renameat(&dirfd, &tmp_name, &dirfd, FILE_NAME).map_err(|e| err("rename", e))
        });
    if result.is_err() {
        let _ = rustix::fs::unlinkat(&dirfd, &tmp_name, AtFlags::empty());
    }
    result?;
    rustix::fs::fsync(&dirfd).map_err(|e| err("fsync directory", e))?;
    Ok(target)
}

/// Checks, writing nothing, that DIR would be accepted by [`write`] (`watch` asks before its
/// first audit).
pub fn check_dir(dir: &Path) -> Result<(), TextfileError> {
    open_dir(dir).map(drop).map_err(|error| TextfileError {
        path: dir.join(FILE_NAME),
        op: "open directory",
        error,
    })
}

/// Opens DIR without following a symlink at it, and checks that no other user controls it.
fn open_dir(dir: &Path) -> Result<OwnedFd, std::io::Error> {
    let refuse = |why: String| std::io::Error::other(format!("{}: {why}", dir.display()));
    let dirfd = match rustix::fs::open(
        dir,
        OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
        Mode::empty(),
    ) {
        Ok(fd) => fd,
        // With `O_DIRECTORY`, a symlink fails as "not a directory"; say what it is.
        Err(e @ (rustix::io::Errno::LOOP | rustix::io::Errno::NOTDIR)) => {
            return Err(match std::fs::symlink_metadata(dir) {
                Ok(m) if m.file_type().is_symlink() => {
                    refuse("a symbolic link; not followed".into())
                }
                _ => e.into(),
            });
        }
        Err(e) => return Err(e.into()),
    };
    let st = rustix::fs::fstat(&dirfd)?;
    let (uid, mode) = (st.st_uid as u32, st.st_mode as u32 & 0o7777);
    let me = rustix::process::geteuid().as_raw();
    if uid != 0 && uid != me {
        return Err(refuse(format!(
            "owned by uid {uid}, neither root nor this user (uid {me}), who could replace the file"
        )));
    }
    if mode & 0o002 != 0 && mode & 0o1000 == 0 {
        return Err(refuse(format!(
            "mode {mode:04o}: writable by others without the sticky bit, who could replace the file"
        )));
    }
    Ok(dirfd)
}

/// Creates a fresh temporary file in the directory; never opens an existing file or a link.
fn create_temp(dirfd: &OwnedFd) -> Result<(String, OwnedFd), rustix::io::Errno> {
    let pid = std::process::id();
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    let mut last = rustix::io::Errno::EXIST;
    for attempt in 0..16u32 {
        let name = format!(".{FILE_NAME}.{pid}.{:x}.tmp", nanos.wrapping_add(attempt));
        match rustix::fs::openat(
            dirfd,
            &name,
            OFlags::WRONLY | OFlags::CREATE | OFlags::EXCL | OFlags::NOFOLLOW | OFlags::CLOEXEC,
            Mode::from_raw_mode(0o600),
        ) {
            Ok(fd) => return Ok((name, fd)),
            Err(e) if e == rustix::io::Errno::EXIST => last = e,
            Err(e) => return Err(e),
        }
    }
    Err(last)
}

fn fill(fd: OwnedFd, content: &[u8]) -> Result<(), (&'static str, std::io::Error)> {
    rustix::fs::fchmod(fd.as_fd(), Mode::from_raw_mode(0o644)).map_err(|e| ("chmod", e.into()))?;
    let mut file = std::fs::File::from(fd);
    file.write_all(content).map_err(|e| ("write", e))?;
    file.sync_all().map_err(|e| ("fsync", e))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::{MetadataExt, PermissionsExt};

    /// The file is written with mode 0644 and no temporary file is left behind.
    #[test]
    fn writes_and_leaves_no_temp() {
        let dir = tempfile::tempdir().unwrap();
        let path = write(dir.path(), b"x 1\n").unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), b"x 1\n");
        assert_eq!(
            std::fs::metadata(&path).unwrap().permissions().mode() & 0o777,
            0o644
        );
        let names: Vec<_> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, vec![std::ffi::OsString::from(FILE_NAME)]);
    }

    /// A symlink at the target is replaced by the file, and the file it pointed to is untouched.
    #[test]
    fn symlink_target_is_replaced_not_followed() {
        let dir = tempfile::tempdir().unwrap();
        let victim = dir.path().join("victim");
        std::fs::write(&victim, b"precious").unwrap();
        std::os::unix::fs::symlink(&victim, dir.path().join(FILE_NAME)).unwrap();
        let path = write(dir.path(), b"x 1\n").unwrap();
        assert_eq!(std::fs::read(&victim).unwrap(), b"precious");
        let meta = std::fs::symlink_metadata(&path).unwrap();
        assert!(meta.file_type().is_file());
        assert_ne!(meta.ino(), std::fs::metadata(&victim).unwrap().ino());
    }

    /// A directory standing at the target is an error, and the temporary file is removed.
    #[test]
    fn directory_at_target_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join(FILE_NAME)).unwrap();
        let e = write(dir.path(), b"x 1\n").unwrap_err();
        assert_eq!(e.op, "rename", "{e}");
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
    }

    /// A symlink at DIR is refused, not followed; so is a directory owned by another user, or
    /// writable by others without the sticky bit. Nothing is written in any of them.
    #[test]
    fn untrusted_directory_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let real = dir.path().join("real");
        std::fs::create_dir(&real).unwrap();
        let link = dir.path().join("link");
        std::os::unix::fs::symlink(&real, &link).unwrap();
        let e = write(&link, b"x 1\n").unwrap_err();
        assert!(e.to_string().contains("symbolic link; not followed"), "{e}");
        let open = dir.path().join("open");
        std::fs::create_dir(&open).unwrap();
        std::fs::set_permissions(&open, std::fs::Permissions::from_mode(0o777)).unwrap();
        let e = write(&open, b"x 1\n").unwrap_err();
        assert!(e.to_string().contains("writable by others"), "{e}");
        // Sticky, like /tmp: accepted.
        std::fs::set_permissions(&open, std::fs::Permissions::from_mode(0o1777)).unwrap();
        write(&open, b"x 1\n").unwrap();
        if rustix::process::geteuid().is_root() {
            let theirs = dir.path().join("theirs");
            std::fs::create_dir(&theirs).unwrap();
            std::os::unix::fs::chown(&theirs, Some(65534), Some(65534)).unwrap();
            let e = write(&theirs, b"x 1\n").unwrap_err();
            assert!(e.to_string().contains("owned by uid 65534"), "{e}");
            assert_eq!(std::fs::read_dir(&theirs).unwrap().count(), 0);
        }
        assert_eq!(std::fs::read_dir(&real).unwrap().count(), 0);
    }

    /// A missing directory is an error naming the path.
    #[test]
    fn missing_directory_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let e = write(&dir.path().join("nope"), b"").unwrap_err();
        assert!(e.to_string().contains("nope/pidaudit.prom"), "{e}");
    }
}
