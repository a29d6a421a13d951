//! systemd units: which pidfiles their `PIDFile=` names, read from the unit files themselves (no
//! running systemd is needed), and which processes a unit's cgroup holds.
//!
//! Units are searched in systemd's order of precedence: `/etc/systemd/system`,
//! `/run/systemd/system`, `/lib/systemd/system`, `/usr/lib/systemd/system` (or the directories
//! in `PIDAUDIT_UNIT_PATH`, colon-separated, for tests and for auditing another root). The first
//! `NAME.service` found is the unit's file; a link to `/dev/null` masks it; other links (aliases)
//! are not read. Drop-ins (`NAME.service.d/*.conf`; for an instance also its template's
//! `NAME@.service.d`) of every directory apply after it, in file name order, a higher
//! directory's file replacing a lower one's of the same name.
//!
//! A template (`NAME@.service`) is audited through the instances that exist: instance files,
//! instance links in the unit directories and their `*.wants/`, `*.requires/`, `*.upholds/`
//! directories, and (running) instances with a cgroup in the template's slice. Specifiers are
//! expanded by [`spec::expand`]; a unit whose `PIDFile=` needs one that the files cannot tell is
//! an [`Unresolvable`], reported, never guessed. Where systemd runs, one `systemctl show` ([`show`])
//! gives each unit's main PID and cgroup.
//!
//! Directories are opened one component at a time like a PATH ([`crate::discover::open_dir`]);
//! files are opened `O_NOFOLLOW|O_NONBLOCK`, only regular ones are read, at most [`UNIT_CAP`] bytes.
//!
//! [`parse_setting`] is pure: a `[Service]` setting's last value (an empty one resets it), with
//! line continuations and comments; [`pidfile_path`] applies systemd's rules to the value (a
//! relative path is below `/run`, `/var/run/` is `/run/`).

pub mod show;
pub mod spec;

use crate::discover::{self, Dir};
use rustix::fd::AsFd;
use rustix::fs::{Mode, OFlags};
use std::collections::{BTreeMap, BTreeSet};
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
    /// Where its cgroup may be, below the cgroup v2 mount (`system.slice/NAME`, the `Slice=`'s,
    /// `system.slice/system-PREFIX.slice/NAME` for an instance; systemd's `ControlGroup` where it
    /// runs), first match wins.
    pub cgroups: Vec<String>,
    /// Its main PID as a running systemd knows it (0: none); `None` when systemd was not asked.
    pub main_pid: Option<u32>,
}

/// The `PIDFile=` a unit file or drop-in sets in its `[Service]` section (see [`parse_setting`]).
pub fn parse_pidfile(bytes: &[u8]) -> Option<Option<String>> {
    parse_setting(bytes, "PIDFile")
}

/// The `key=` a unit file or drop-in sets in its `[Service]` section: `None` when it says
/// nothing, `Some(None)` when an empty assignment resets it, `Some(Some(value))` otherwise (the
/// last assignment wins).
pub fn parse_setting(bytes: &[u8], key: &str) -> Option<Option<String>> {
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
        if let Some((k, value)) = l.split_once('=') {
            if k.trim() == key {
                let v = value.trim();
                out = Some((!v.is_empty()).then(|| v.to_string()));
            }
        }
    }
    out
}

/// The path systemd takes an expanded `PIDFile=` value for (specifiers already resolved by
/// [`spec::expand`]): a relative path is below `/run`, and `/var/run/...` is `/run/...`.
pub fn pidfile_path(value: &str) -> Option<PathBuf> {
    if value.is_empty() || value.contains('\0') {
        return None;
    }
    let out = match value.strip_prefix("/var/run/") {
        Some(rest) => format!("/run/{rest}"),
        None if !value.starts_with('/') => format!("/run/{value}"),
        None => value.to_string(),
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

/// A unit whose `PIDFile=` cannot be resolved from the files: reported, never guessed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Unresolvable {
    /// `NAME.service`.
    pub name: String,
    /// The unit file read.
    pub fragment: PathBuf,
    /// The `PIDFile=` value as written.
    pub value: String,
    /// Why it cannot be resolved.
    pub reason: String,
}

/// What the unit directories (and a running systemd) say.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Survey {
    /// Units (and template instances) whose pidfile is known.
    pub units: Vec<Unit>,
    /// Units naming a pidfile that could not be resolved.
    pub unresolved: Vec<Unresolvable>,
    /// Why `systemctl show` told nothing, where systemd runs and it was asked.
    pub show_error: Option<String>,
}

/// How a name appears in its highest unit directory.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    File,
    /// A link to `/dev/null`.
    Masked,
    /// Another link (an alias; for an instance name, a link to its template).
    Link,
}

/// The listing of the unit directories.
struct Listing {
    opened: Vec<(PathBuf, Arc<Dir>)>,
    /// Unit name -> (directory index, kind) of its first (highest) occurrence.
    first: BTreeMap<OsString, (usize, Kind)>,
    /// Drop-in directory name (`NAME.service.d`) -> drop-in file name -> directory index (the
    /// highest wins).
    dropins: BTreeMap<OsString, BTreeMap<OsString, usize>>,
    /// Instance names linked from `*.wants/`, `*.requires/` and `*.upholds/` directories.
    wanted: BTreeSet<String>,
}

/// A subdirectory of `dir` (never through a link).
fn subdir(dir: &Arc<Dir>, name: &OsStr) -> Option<Arc<Dir>> {
    let fd = dir.open().ok()?;
    let c = discover::mounts::open_component(fd.as_fd(), name).ok()?;
    c.is_dir().then(|| Dir::child(dir, name, c).0)
}

fn list_units(dirs: &[PathBuf]) -> Listing {
    let opened: Vec<(PathBuf, Arc<Dir>)> = dirs
        .iter()
        .filter_map(|p| discover::open_dir(p).map(|d| (p.clone(), d)))
        .collect();
    let mut first = BTreeMap::new();
    let mut dropins: BTreeMap<OsString, BTreeMap<OsString, usize>> = BTreeMap::new();
    let mut wanted = BTreeSet::new();
    for (i, (_, dir)) in opened.iter().enumerate() {
        for (name, link) in list(dir) {
            let b = name.as_bytes();
            if b.ends_with(b".service") {
                if first.contains_key(&name) {
                    continue;
                }
                let kind = if !link {
                    Kind::File
                } else {
                    let target = dir.open().ok().and_then(|fd| {
                        rustix::fs::readlinkat(&*fd, name.as_os_str(), Vec::new()).ok()
                    });
                    match target {
                        Some(t) if t.as_bytes() == b"/dev/null" => Kind::Masked,
                        _ => Kind::Link,
                    }
                };
                first.insert(name, (i, kind));
            } else if b.ends_with(b".service.d") && !link {
                let Some(sub) = subdir(dir, &name) else {
                    continue;
                };
                for (conf, _) in list(&sub) {
                    if conf.as_bytes().ends_with(b".conf") {
                        dropins
                            .entry(name.clone())
                            .or_default()
                            .entry(conf)
                            .or_insert(i);
                    }
                }
            } else if (b.ends_with(b".wants")
                || b.ends_with(b".requires")
                || b.ends_with(b".upholds"))
                && !link
            {
                let Some(sub) = subdir(dir, &name) else {
                    continue;
                };
                for (unit, _) in list(&sub) {
                    if let Some(u) = unit.to_str().filter(|u| spec::template_of(u).is_some()) {
                        wanted.insert(u.to_string());
                    }
                }
            }
        }
    }
    Listing {
        opened,
        first,
        dropins,
        wanted,
    }
}

impl Listing {
    /// The settings a unit's files give, in order: its fragment, then its drop-ins (for an
    /// instance, the template's `NAME@.service.d` and the instance's own, by file name, the
    /// instance's winning in one directory).
    fn read(&self, fragment: (usize, &OsStr), name: &str) -> Vec<Vec<u8>> {
        let (i, file) = fragment;
        let mut out = Vec::new();
        let Ok(fd) = self.opened[i].1.open() else {
            return out;
        };
        let Some(bytes) = read_file(&*fd, file) else {
            return out;
        };
        out.push(bytes);
        let mut dirs = vec![format!("{name}.d")];
        if let Some(t) = spec::template_of(name) {
            dirs.push(format!("{t}.d"));
        }
        // Drop-in file name -> (directory index, rank of the `.d` directory, its name).
        let mut confs: BTreeMap<&OsStr, (usize, usize, &str)> = BTreeMap::new();
        for (rank, d) in dirs.iter().enumerate() {
            if let Some(m) = self.dropins.get(OsStr::new(d)) {
                for (conf, &j) in m {
                    let e = confs.entry(conf.as_os_str()).or_insert((j, rank, d));
                    if (j, rank) < (e.0, e.1) {
                        *e = (j, rank, d);
                    }
                }
            }
        }
        for (conf, (j, _, d)) in confs {
            let Ok(dfd) = self.opened[j].1.open() else {
                continue;
            };
            let Ok(sub) = rustix::fs::openat(
                &*dfd,
                d,
                OFlags::PATH | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
                Mode::empty(),
            ) else {
                continue;
            };
            if let Some(b) = read_file(&sub, conf) {
                out.push(b);
            }
        }
        out
    }
}

/// The last value of a `[Service]` setting across a unit's files (an empty assignment resets it).
fn setting(files: &[Vec<u8>], key: &str) -> Option<String> {
    let mut value = None;
    for f in files {
        if let Some(set) = parse_setting(f, key) {
            value = set;
        }
    }
    value
}

/// Every service unit of the directories (highest precedence first) that names a pidfile, and
/// every instance of a template that does: instance files, instance links in `*.wants/` (and
/// `*.requires/`, `*.upholds/`) directories and in the unit directories, and instances that
/// have a cgroup under the cgroup v2 mount `cgroup2` (running). Where systemd runs, one
/// `systemctl show` adds what it knows (main PID, cgroup, the pidfile it resolved).
pub fn survey(dirs: &[PathBuf], cgroup2: Option<&Path>) -> Survey {
    let (mut out, listing, templates) = survey_in(dirs, cgroup2);
    if let Some(program) = show::program() {
        show_all(&mut out, &listing, &templates, &program);
    }
    out
}

/// What [`survey`] finds in the files and the cgroup tree alone, without asking systemd: for the
/// watch, which compares it between audits (what systemd says changes only with its processes).
pub fn survey_files(dirs: &[PathBuf], cgroup2: Option<&Path>) -> Survey {
    survey_in(dirs, cgroup2).0
}

type Templates = BTreeMap<String, (usize, OsString)>;

fn survey_in(dirs: &[PathBuf], cgroup2: Option<&Path>) -> (Survey, Listing, Templates) {
    let listing = list_units(dirs);
    let mut out = Survey::default();
    // Unit name -> its fragment (directory index, file name); templates kept apart.
    let mut names: BTreeSet<String> = BTreeSet::new();
    let mut templates: BTreeMap<String, (usize, OsString)> = BTreeMap::new();
    for (name, &(i, kind)) in &listing.first {
        let Some(n) = name.to_str() else { continue };
        let Some(split) = spec::split(n) else {
            continue;
        };
        match (kind, split.instance) {
            (Kind::File, Some("")) => {
                templates.insert(n.to_string(), (i, name.clone()));
            }
            (Kind::File, _) => {
                names.insert(n.to_string());
            }
            // An instance linked to its template in a unit directory.
            (Kind::Link, Some(inst)) if !inst.is_empty() => {
                names.insert(n.to_string());
            }
            _ => {}
        }
    }
    names.extend(listing.wanted.iter().cloned());
    // Running instances: the cgroups of each template's slice.
    if let Some(root) = cgroup2 {
        for (t, &(i, ref file)) in &templates {
            let files = listing.read((i, file), t);
            if setting(&files, "PIDFile").is_none() {
                continue;
            }
            let Some(split) = spec::split(t) else {
                continue;
            };
            let slice = setting(&files, "Slice").unwrap_or_else(|| spec::default_slice(&split));
            let Some(sp) = spec::slice_path(&slice) else {
                continue;
            };
            let Some(dir) = discover::open_dir(&root.join(sp)) else {
                continue;
            };
            let head = format!("{}@", split.prefix);
            for (entry, _) in list(&dir) {
                if let Some(e) = entry.to_str() {
                    if e.starts_with(&head) && spec::template_of(e).as_deref() == Some(t) {
                        names.insert(e.to_string());
                    }
                }
            }
        }
    }
    for name in names {
        add_unit(&mut out, &listing, &templates, name);
    }
    (out, listing, templates)
}

/// Adds the unit `name` to the survey: to its units, to those that cannot be resolved, or not at
/// all (see [`unit_of`]).
fn add_unit(out: &mut Survey, listing: &Listing, templates: &Templates, name: String) {
    match unit_of(listing, templates, name) {
        Some(Ok(u)) => out.units.push(u),
        Some(Err(u)) => out.unresolved.push(u),
        None => {}
    }
}

/// Asks `systemctl show` about the units found and the instances systemd loaded of each template.
fn show_all(out: &mut Survey, listing: &Listing, templates: &Templates, program: &Path) {
    // The units found, and a pattern per template: systemd adds the instances it has loaded.
    let patterns: Vec<String> = templates
        .keys()
        .filter_map(|t| spec::split(t).map(|n| format!("{}@*.service", n.prefix)))
        .collect();
    let asked: Vec<String> = out
        .units
        .iter()
        .map(|u| u.name.clone())
        .chain(out.unresolved.iter().map(|u| u.name.clone()))
        .chain(patterns)
        .collect();
    match show::show(program, &asked) {
        Ok(shown) => {
            let have: BTreeSet<String> = asked.into_iter().collect();
            let mut loaded: Vec<&String> = shown
                .keys()
                .filter(|id| !have.contains(*id))
                .filter(|id| spec::template_of(id).is_some_and(|t| templates.contains_key(&t)))
                .collect();
            loaded.sort();
            for id in loaded {
                add_unit(out, listing, templates, id.clone());
            }
            apply_shown(out, &shown)
        }
        Err(e) => out.show_error = Some(e),
    }
}

/// The unit `name` as its files (or its template's) describe it: `None` when it names no
/// pidfile (or is masked, or has no file), `Err` when its `PIDFile=` cannot be resolved.
fn unit_of(
    listing: &Listing,
    templates: &Templates,
    name: String,
) -> Option<Result<Unit, Unresolvable>> {
    let split = spec::split(&name)?;
    let own = listing.first.get(OsStr::new(&name)).copied();
    if matches!(own, Some((_, Kind::Masked))) {
        return None;
    }
    let fragment = match (own, spec::template_of(&name)) {
        (Some((i, Kind::File)), _) => (i, OsString::from(&name)),
        (_, Some(t)) => templates.get(&t).map(|(i, f)| (*i, f.clone()))?,
        _ => return None,
    };
    let files = listing.read((fragment.0, &fragment.1), &name);
    let value = setting(&files, "PIDFile")?;
    let fragment = listing.opened[fragment.0].0.join(&fragment.1);
    let frag = fragment.to_string_lossy();
    let pidfile = spec::expand(&value, &split, &frag)
        .map_err(|e| e.to_string())
        .and_then(|v| pidfile_path(&v.to_string_lossy()).ok_or_else(|| "not a path".to_string()));
    let pidfile = match pidfile {
        Ok(p) => p,
        Err(reason) => {
            return Some(Err(Unresolvable {
                name: name.clone(),
                fragment,
                value,
                reason,
            }))
        }
    };
    let cgroups = match setting(&files, "Slice") {
        Some(slice) => spec::expand(&slice, &split, &frag)
            .ok()
            .and_then(|s| spec::slice_path(&s.to_string_lossy()))
            .map(|sp| vec![join_cgroup(&sp, &name)])
            .unwrap_or_default(),
        None if split.instance.is_some() => {
            let sp = spec::slice_path(&spec::default_slice(&split)).unwrap_or_default();
            vec![join_cgroup(&sp, &name)]
        }
        None => vec![format!("system.slice/{name}"), name.clone()],
    };
    Some(Ok(Unit {
        name,
        fragment,
        pidfile,
        cgroups,
        main_pid: None,
    }))
}

/// `slice/name`, or `name` for the root slice.
fn join_cgroup(slice: &str, name: &str) -> String {
    if slice.is_empty() {
        name.to_string()
    } else {
        format!("{slice}/{name}")
    }
}

/// What systemd showed replaces the guesses: its cgroup, its main PID, and for a unit whose
/// `PIDFile=` the files could not resolve, the path systemd resolved.
fn apply_shown(out: &mut Survey, shown: &std::collections::HashMap<String, show::Shown>) {
    for u in &mut out.units {
        if let Some(s) = shown.get(&u.name) {
            u.main_pid = Some(s.main_pid);
            if let Some(cg) = s.control_group.strip_prefix('/') {
                u.cgroups = vec![cg.to_string()];
            }
        }
    }
    let mut kept = Vec::new();
    for u in std::mem::take(&mut out.unresolved) {
        let resolved = shown
            .get(&u.name)
            .filter(|s| s.pidfile.starts_with('/') && !s.pidfile.contains('%'));
        match resolved {
            Some(s) => out.units.push(Unit {
                name: u.name.clone(),
                fragment: u.fragment,
                pidfile: PathBuf::from(&s.pidfile),
                cgroups: s
                    .control_group
                    .strip_prefix('/')
                    .map(|c| vec![c.to_string()])
                    .unwrap_or_default(),
                main_pid: Some(s.main_pid),
            }),
            None => kept.push(u),
        }
    }
    out.unresolved = kept;
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

/// The processes in a unit's cgroup, read from `cgroup.procs` of the first of `cgroups` (paths
/// below the cgroup v2 mount `root`) that exists. `None` when the unit has no cgroup there.
pub fn unit_processes(root: &Path, cgroups: &[String]) -> Option<Vec<i32>> {
    for sub in cgroups {
        if sub.split('/').any(|c| c.is_empty() || c.starts_with('.')) {
            continue;
        }
        let Some(dir) = discover::open_dir(&root.join(sub)) else {
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
pub fn systemd_booted() -> bool {
    discover::open_dir(Path::new("/run/systemd/system")).is_some()
}

/// Whether systemd runs: booted with it, or `PIDAUDIT_SYSTEMCTL` says so (see [`show`]).
pub fn systemd_running() -> bool {
    std::env::var_os(show::SYSTEMCTL_ENV).is_some() || systemd_booted()
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
        assert_eq!(pidfile_path("a/b.pid"), Some("/run/a/b.pid".into()));
        assert_eq!(pidfile_path("/var/run/a.pid"), Some("/run/a.pid".into()));
        assert_eq!(pidfile_path("/srv/100%.pid"), Some("/srv/100%.pid".into()));
        assert_eq!(pidfile_path("/run/a\0"), None);
        assert_eq!(pidfile_path(""), None);
    }

    #[test]
    fn slice_setting() {
        let unit = b"[Service]\nSlice=a-b.slice\nPIDFile=/run/x.pid\n[Install]\nSlice=no\n";
        assert_eq!(parse_setting(unit, "Slice"), Some(Some("a-b.slice".into())));
    }
}
