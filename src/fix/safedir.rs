//! Directories opened by path as root without following a link: one component at a time, each
//! opened `O_DIRECTORY|O_NOFOLLOW` relative to its parent's descriptor, each checked to be owned by
//! root (or this user) and not writable by others unless sticky.

use rustix::fd::OwnedFd;
use rustix::fs::{Mode, OFlags};
use std::path::{Component, Path};

/// Why a directory was refused (a message naming it).
pub type DirError = String;

fn open_dir(at: Option<&OwnedFd>, name: &Path) -> rustix::io::Result<OwnedFd> {
    let flags = OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC;
    match at {
        Some(dir) => rustix::fs::openat(dir, name, flags, Mode::empty()),
        None => rustix::fs::open(name, flags, Mode::empty()),
    }
}

/// Whether a directory on the way is safe to step through: owned by root or this user, and not
/// writable by group or others unless it is root's and sticky (`/tmp`).
fn check_step(fd: &OwnedFd, shown: &Path, euid: u32) -> Result<(), DirError> {
    let st = rustix::fs::fstat(fd).map_err(|e| format!("{}: {e}", shown.display()))?;
    let mode = st.st_mode as u32;
    let uid = st.st_uid as u32;
    if uid != 0 && uid != euid {
        return Err(format!(
            "{}: owned by uid {uid}, not by root",
            shown.display()
        ));
    }
    if mode & 0o022 != 0 && !(uid == 0 && mode & 0o1000 != 0) {
        return Err(format!(
            "{}: writable by others (mode {:04o})",
            shown.display(),
            mode & 0o7777
        ));
    }
    Ok(())
}

/// Opens the directory at `path` (absolute, or relative to the working directory) without
/// following a link at any component; with `create`, missing components are made mode 0700. Every
/// component is checked (see [`check_step`]); the last must also belong to this user and be
/// writable by no one else.
pub fn open(path: &Path, create: bool) -> Result<OwnedFd, DirError> {
    let euid = rustix::process::geteuid().as_raw();
    let abs = if path.is_absolute() {
        path.to_path_buf()
    } else {
        std::env::current_dir()
            .map_err(|e| format!("working directory: {e}"))?
            .join(path)
    };
    let mut cur = open_dir(None, Path::new("/")).map_err(|e| format!("/: {e}"))?;
    let mut shown = std::path::PathBuf::from("/");
    check_step(&cur, &shown, euid)?;
    for c in abs.components() {
        let name = match c {
            Component::RootDir | Component::CurDir | Component::Prefix(_) => continue,
            Component::ParentDir => Path::new(".."),
            Component::Normal(n) => Path::new(n),
        };
        shown.push(name);
        let next = match open_dir(Some(&cur), name) {
            Ok(fd) => fd,
            Err(rustix::io::Errno::NOENT) if create => {
                match rustix::fs::mkdirat(&cur, name, Mode::from_raw_mode(0o700)) {
                    Ok(()) | Err(rustix::io::Errno::EXIST) => {}
                    Err(e) => return Err(format!("{}: mkdir: {e}", shown.display())),
                }
                open_dir(Some(&cur), name).map_err(|e| format!("{}: {e}", shown.display()))?
            }
            Err(rustix::io::Errno::LOOP) | Err(rustix::io::Errno::NOTDIR) => {
                return Err(format!(
                    "{}: not a directory (a symbolic link is never followed)",
                    shown.display()
                ))
            }
            Err(e) => return Err(format!("{}: {e}", shown.display())),
        };
        check_step(&next, &shown, euid)?;
        cur = next;
    }
    let st = rustix::fs::fstat(&cur).map_err(|e| format!("{}: {e}", shown.display()))?;
    if st.st_uid as u32 != euid || st.st_mode as u32 & 0o022 != 0 {
        return Err(format!(
            "{}: must be owned by uid {euid} and writable by no one else (owner {}, mode {:04o})",
            path.display(),
            st.st_uid,
            st.st_mode as u32 & 0o7777
        ));
    }
    Ok(cur)
}

/// Opens the directory at `path` without following a link at any component, with no ownership
/// rule (the caller compares it with what it expects, such as a journaled dev/inode).
pub fn open_plain(path: &Path) -> rustix::io::Result<OwnedFd> {
    let mut cur = open_dir(None, Path::new("/"))?;
    for c in path.components() {
        let name = match c {
            Component::RootDir | Component::CurDir | Component::Prefix(_) => continue,
            Component::ParentDir => Path::new(".."),
            Component::Normal(n) => Path::new(n),
        };
        cur = open_dir(Some(&cur), name)?;
    }
    Ok(cur)
}
