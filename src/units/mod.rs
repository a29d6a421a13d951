//! systemd units: which pidfiles their `PIDFile=` names, read from the unit files themselves (no
//! running systemd is needed), and which processes a unit's cgroup holds.
//!
//! Units are searched in systemd's order of precedence: `/etc/systemd/system`,
//! `/run/systemd/system`, `/lib/systemd/system`, `/usr/lib/systemd/system` (or the directories
//! in `PIDAUDIT_UNIT_PATH`, colon-separated, for tests and for auditing another root). The first
//! `NAME.service` found is the unit's file; a link to `/dev/null` masks it; other links (aliases)
//! are not read. Drop-ins (`NAME.service.d/*.conf`) of every directory apply after it, in file name
//! order, a higher directory's file replacing a lower one's of the same name. Template units
//! (`NAME@.service`) have no instance to audit and are skipped. Directories are opened one
//! component at a time like a PATH ([`crate::discover::open_dir`]); files are opened
//! `O_NOFOLLOW|O_NONBLOCK`, only regular ones are read, at most [`UNIT_CAP`] bytes.
//!
//! [`parse_pidfile`] is pure: the `[Service]` section's last `PIDFile=` (an empty one resets it),
//! with line continuations and comments; [`pidfile_path`] applies systemd's rules to the value
//! (`%t` is `/run`, a relative path is below `/run`, `/var/run/` is `/run/`).

use crate::discover::{self, Dir};
use rustix::fd::AsFd;
use rustix::fs::{Mode, OFlags};
use std::collections::BTreeMap;
use std::ffi::{OsStr, OsString};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// systemd's unit directories, highest precedence first.
pub const UNIT_DIRS: [&str; 4] = [
    "/etc/systemd/system",
    "/run/systemd/system",
    "/lib/systemd/system",
    "/usr/lib/systemd/system",
];
/// The environment variable that replaces [`UNIT_DIRS`].
pub const UNIT_PATH_ENV: &str = "PIDAUDIT_UNIT_PATH";
/// The most bytes read of one unit file or drop-in.
pub const UNIT_CAP: usize = 64 * 1024;
/// The most unit files read per directory (a directory of a million files costs a bounded time).
pub const MAX_UNITS_PER_DIR: usize = 4096;

/// A service unit that names a pidfile.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Unit {
    /// `NAME.service`.
    pub name: String,
    /// The unit file read (for people).
    pub fragment: PathBuf,
    /// Its `PIDFile=`, as systemd resolves it.
    pub pidfile: PathBuf,
}

/// The `PIDFile=` a unit file or drop-in sets in its `[Service]` section: `None` when it says
/// nothing, `Some(None)` when an empty assignment resets it, `Some(Some(value))` otherwise (the
/// last assignment wins).
pub fn parse_pidfile(bytes: &[u8]) -> Option<Option<String>> {
    let text = String::from_utf8_lossy(bytes);
    let mut out = None;
    let mut in_service = false;
    let mut logical = String::new();
    for raw in text.lines() {
        let line = raw.trim_end();
        if logical.is_empty() {
            let t = line.trim_start();
            if t.starts_with('#') || t.starts_with(';') {
                continue;
            }
        }
        if let Some(cont) = line.strip_suffix('\\') {
            logical.push_str(cont);
            logical.push(' ');
            continue;
        }
        logical.push_str(line);
        let l = std::mem::take(&mut logical);
        let l = l.trim();
        if l.starts_with('[') {
            in_service = l == "[Service]";
            continue;
        }
        if !in_service {
            continue;
        }
        if let Some((key, value)) = l.split_once('=') {
            if key.trim() == "PIDFile" {
                let v = value.trim();
                out = Some((!v.is_empty()).then(|| v.to_string()));
            }
        }
    }
    out
}

/// The path systemd takes a `PIDFile=` value for: `%t` is `/run` and `%%` a `%` (any other
/// specifier: `None`, not guessed), a relative path is below `/run`, and `/var/run/...` is
/// `/run/...`.
pub fn pidfile_path(value: &str) -> Option<PathBuf> {
    let mut out = String::new();
    let mut chars = value.chars();
    while let Some(c) = chars.next() {
        if c != '%' {
            out.push(c);
            continue;
        }
        match chars.next()? {
            't' => out.push_str("/run"),
            '%' => out.push('%'),
            _ => return None,
        }
    }
    if out.is_empty() || out.contains('\0') {
        return None;
    }
    let out = match out.strip_prefix("/var/run/") {
        Some(rest) => format!("/run/{rest}"),
        None if !out.starts_with('/') => format!("/run/{out}"),
        None => out,
    };
    Some(PathBuf::from(out))
}

/// The unit directories to search: `PIDAUDIT_UNIT_PATH` when set, else [`UNIT_DIRS`].
pub fn unit_dirs() -> Vec<PathBuf> {
    match std::env::var_os(UNIT_PATH_ENV) {
        Some(v) => std::env::split_paths(&v)
            .filter(|p| !p.as_os_str().is_empty())
            .collect(),
        None => UNIT_DIRS.iter().map(PathBuf::from).collect(),
    }
}

/// Reads a regular file in `dir`, never through a link, never opening a FIFO or device.
fn read_file(dir: impl AsFd, name: &OsStr) -> Option<Vec<u8>> {
    let fd = rustix::fs::openat(
        dir,
        name,
        OFlags::RDONLY | OFlags::NOFOLLOW | OFlags::NONBLOCK | OFlags::NOCTTY | OFlags::CLOEXEC,
        Mode::empty(),
    )
    .ok()?;
    let st = rustix::fs::fstat(&fd).ok()?;
    if st.st_mode & 0o170000 != 0o100000 {
        return None;
    }
    let mut buf = vec![0u8; UNIT_CAP];
    let mut len = 0;
    while len < buf.len() {
        match rustix::io::read(&fd, &mut buf[len..]) {
            Ok(0) => break,
            Ok(n) => len += n,
            Err(rustix::io::Errno::INTR) => continue,
            Err(_) => return None,
        }
    }
    buf.truncate(len);
    Some(buf)
}

/// What a directory lists: names, and whether each is a link.
fn list(dir: &Arc<Dir>) -> Vec<(OsString, bool)> {
    let Ok(fd) = dir.open() else {
        return Vec::new();
    };
    let Ok(entries) = discover::list_dir(&*fd) else {
        return Vec::new();
    };
    entries
        .flatten()
        .filter(|e| !matches!(e.file_name().to_bytes(), b"." | b".."))
        .take(MAX_UNITS_PER_DIR)
        .map(|e| {
            (
                OsStr::from_bytes(e.file_name().to_bytes()).to_os_string(),
                e.file_type() == rustix::fs::FileType::Symlink,
            )
        })
        .collect()
}

/// Every service unit of the directories (highest precedence first) that names a pidfile.
pub fn load(dirs: &[PathBuf]) -> Vec<Unit> {
    let opened: Vec<(PathBuf, Arc<Dir>)> = dirs
        .iter()
        .filter_map(|p| discover::open_dir(p).map(|d| (p.clone(), d)))
        .collect();
    // Unit name -> (directory index, is a link) of its first (highest) occurrence.
    let mut first: BTreeMap<OsString, (usize, bool)> = BTreeMap::new();
    // Unit name -> drop-in file name -> directory index (the highest wins).
    let mut dropins: BTreeMap<OsString, BTreeMap<OsString, usize>> = BTreeMap::new();
    for (i, (_, dir)) in opened.iter().enumerate() {
        for (name, link) in list(dir) {
            let b = name.as_bytes();
            if b.ends_with(b".service") && !b.contains(&b'@') {
                first.entry(name).or_insert((i, link));
            } else if let Some(unit) = b.strip_suffix(b".d") {
                if unit.ends_with(b".service") && !unit.contains(&b'@') && !link {
                    let unit = OsStr::from_bytes(unit).to_os_string();
                    let Ok(fd) = dir.open() else { continue };
                    let Ok(c) = discover::mounts::open_component(fd.as_fd(), &name) else {
                        continue;
                    };
                    if !c.is_dir() {
                        continue;
                    }
                    let sub = Dir::child(dir, &name, c).0;
                    for (conf, _) in list(&sub) {
                        if conf.as_bytes().ends_with(b".conf") {
                            dropins
                                .entry(unit.clone())
                                .or_default()
                                .entry(conf)
                                .or_insert(i);
                        }
                    }
                }
            }
        }
    }
    let mut out = Vec::new();
    for (name, (i, link)) in first {
        let (path, dir) = &opened[i];
        let Ok(fd) = dir.open() else { continue };
        if link {
            // A masked unit (a link to /dev/null), or an alias: not read.
            continue;
        }
        let Some(bytes) = read_file(&*fd, &name) else {
            continue;
        };
        let mut value = parse_pidfile(&bytes).flatten();
        if let Some(confs) = dropins.get(&name) {
            for (conf, &j) in confs {
                let mut d = name.clone();
                d.push(".d");
                let Ok(dfd) = opened[j].1.open() else {
                    continue;
                };
                let Ok(sub) = rustix::fs::openat(
                    &*dfd,
                    &d,
                    OFlags::PATH | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
                    Mode::empty(),
                ) else {
                    continue;
                };
                if let Some(set) = read_file(&sub, conf).and_then(|b| parse_pidfile(&b)) {
                    value = set;
                }
            }
        }
        let Some(pidfile) = value.as_deref().and_then(pidfile_path) else {
            continue;
        };
        out.push(Unit {
            name: name.to_string_lossy().into_owned(),
            fragment: path.join(&name),
            pidfile,
        });
    }
    out
}

/// The cgroup v2 filesystem's mount point: `/sys/fs/cgroup` (unified) or
/// `/sys/fs/cgroup/unified` (hybrid), checked by its magic number.
pub fn cgroup2_root() -> Option<PathBuf> {
    const CGROUP2_SUPER_MAGIC: i64 = 0x6367_7270;
    ["/sys/fs/cgroup", "/sys/fs/cgroup/unified"]
        .iter()
        .map(PathBuf::from)
        .find(|p| {
            rustix::fs::statfs(p.as_path()).is_ok_and(|s| s.f_type as i64 == CGROUP2_SUPER_MAGIC)
        })
}

/// The processes in a unit's cgroup (`system.slice/NAME`, or `NAME` at the top), read from
/// `cgroup.procs` under the cgroup v2 mount `root`. `None` when the unit has no cgroup there.
pub fn unit_processes(root: &Path, unit: &str) -> Option<Vec<i32>> {
    if unit.contains('/') || unit.starts_with('.') {
        return None;
    }
    for sub in [format!("system.slice/{unit}"), unit.to_string()] {
        let Some(dir) = discover::open_dir(&root.join(&sub)) else {
            continue;
        };
        let Ok(fd) = dir.open() else { continue };
        let Some(bytes) = read_file(&*fd, OsStr::new("cgroup.procs")) else {
            continue;
        };
        let pids = String::from_utf8_lossy(&bytes)
            .lines()
            .filter_map(|l| l.trim().parse().ok())
            .collect();
        return Some(pids);
    }
    None
}

/// Whether systemd runs this system (as `sd_booted()` tells it: `/run/systemd/system` exists).
pub fn systemd_running() -> bool {
    discover::open_dir(Path::new("/run/systemd/system")).is_some()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pidfile_directive() {
        let unit = b"[Unit]\nPIDFile=/run/no.pid\n[Service]\nType=forking\nPIDFile=/run/a.pid\n";
        assert_eq!(parse_pidfile(unit), Some(Some("/run/a.pid".into())));
        assert_eq!(parse_pidfile(b"[Service]\nPIDFile=\n"), Some(None));
        assert_eq!(parse_pidfile(b"[Service]\nExecStart=x\n"), None);
        assert_eq!(
            parse_pidfile(b"[Service]\n# PIDFile=/x\nPIDFile = /run/b.pid\nPIDFile=/run/c.pid\n"),
            Some(Some("/run/c.pid".into()))
        );
        assert_eq!(
            parse_pidfile(b"[Service]\nPIDFile=/run/\\\nd.pid\n"),
            Some(Some("/run/ d.pid".into()))
        );
        assert_eq!(parse_pidfile(&[0xff, b'\n', b'[']), None);
    }

    #[test]
    fn pidfile_paths() {
        assert_eq!(pidfile_path("/run/a.pid"), Some("/run/a.pid".into()));
        assert_eq!(pidfile_path("%t/a.pid"), Some("/run/a.pid".into()));
        assert_eq!(pidfile_path("a/b.pid"), Some("/run/a/b.pid".into()));
        assert_eq!(pidfile_path("/var/run/a.pid"), Some("/run/a.pid".into()));
        assert_eq!(pidfile_path("/srv/100%%.pid"), Some("/srv/100%.pid".into()));
        assert_eq!(pidfile_path("/run/%i.pid"), None);
        assert_eq!(pidfile_path("%"), None);
        assert_eq!(pidfile_path(""), None);
    }
}
