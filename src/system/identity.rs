//! The identity of a daemon's process, and where an instance stands in the process tree.
//!
//! Two processes are the *same daemon* when they have the same `comm`, run the same executable (the
//! same device and inode, or the same path: an upgraded binary replaced on disk is still the same
//! daemon), with the same arguments (`argv[0]` compared by basename, so `/usr/sbin/foo -x` and `foo -x`
//! agree) and the same real uid. Anything that could not be read (EACCES, a process that exited)
//! never makes two processes the same.
//!
//! `comm` comes with the snapshot's `stat`, so comparing it first is free; exe, argv and uid are read
//! (lazily, once per process) only for processes whose `comm` already matches.

use crate::system::{Process, Snapshot};
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// Process supervisors recognised in an instance's parent chain (by comm).
pub const SUPERVISORS: &[&str] = &["supervise", "runsv", "s6-supervise", "supervisord"];

/// Programs that start a daemon (by `exec` or by forking it) and are not the daemon themselves:
/// `flock FILE cmd` forks the daemon and shares the locked open file description with it.
pub const WRAPPERS: &[&str] = &[
    "flock", "setsid", "nohup", "timeout", "chpst", "setpriv", "su", "sudo", "runuser", "env",
];

/// Whether a process's comm is one of the known [`WRAPPERS`].
pub fn is_wrapper(comm: &str) -> bool {
    WRAPPERS.contains(&comm)
}

/// Interpreters whose processes are named by the script or module they run (by comm: the name,
/// or the name and a version, `python3.11`, `php8.2`).
const SCRIPT_RUNNERS: &[&str] = &[
    "python", "perl", "ruby", "node", "nodejs", "php", "bash", "sh", "dash", "java",
];

/// Whether a comm is one of [`SCRIPT_RUNNERS`], with or without a version.
pub fn runs_scripts(comm: &str) -> bool {
    SCRIPT_RUNNERS.iter().any(|r| {
        comm.strip_prefix(r)
            .is_some_and(|v| v.bytes().all(|b| b.is_ascii_digit() || b == b'.'))
    })
}

/// The name of the program an interpreter runs, from its command line: the script's basename
/// (`python3 /usr/bin/gunicorn app:app` is `gunicorn`, `perl ./preforkd.pl` is `preforkd.pl`), a
/// Python module (`python3 -m celery worker` is `celery`), a Java archive or main class (`java
/// -jar /opt/x/app.jar` is `app.jar`, `java -cp lib org.example.Server` is `Server`). `None` when
/// `comm` is no interpreter, or the program comes from the command line itself (`-c`, `-e`). Pure.
pub fn script_name(comm: &str, argv: &[String]) -> Option<String> {
    if !runs_scripts(comm) {
        return None;
    }
    let java = comm.starts_with("java");
    let mut args = argv.iter().skip(1);
    while let Some(a) = args.next() {
        match a.as_str() {
            "-c" | "-e" | "--eval" | "-E" | "-r" => return None,
            "-m" if !java => return args.next().cloned().filter(|m| !m.is_empty()),
            "-jar" if java => return args.next().map(|j| basename(j).to_string()),
            "-cp" | "-classpath" | "--class-path" | "-p" | "--module-path" if java => {
                args.next();
            }
            "--" => return args.next().map(|s| basename(s).to_string()),
            _ if a.starts_with('-') => {}
            _ if java => return a.rsplit('.').next().map(str::to_string),
            _ => return Some(basename(a).to_string()).filter(|s| !s.is_empty()),
        }
    }
    None
}

/// What reports call a process: the script an interpreter runs ([`script_name`]), else its comm.
pub fn display_name(snapshot: &Snapshot, process: &Process) -> String {
    let comm = &process.stat.comm;
    if !runs_scripts(comm) {
        return comm.clone();
    }
    snapshot
        .details(process)
        .cmdline
        .and_then(|argv| script_name(comm, argv))
        .unwrap_or_else(|| comm.clone())
}

/// How far up the parent chain a supervisor is looked for.
const MAX_ANCESTORS: usize = 64;

/// What makes a process the daemon it is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Identity {
    pub comm: String,
    /// The executable's path, without the ` (deleted)` the kernel appends when it was removed.
    pub exe: Option<PathBuf>,
    pub exe_deleted: bool,
    /// Device and inode of the running executable.
    pub exe_id: Option<(u64, u64)>,
    pub argv: Option<Vec<String>>,
    pub uid: Option<u32>,
}

/// `/proc/PID/exe` without the kernel's ` (deleted)` suffix.
pub fn strip_deleted(exe: &Path) -> (PathBuf, bool) {
    let bytes = exe.as_os_str().as_encoded_bytes();
    match bytes.strip_suffix(b" (deleted)") {
        Some(b) => (
            PathBuf::from(<std::ffi::OsStr as std::os::unix::ffi::OsStrExt>::from_bytes(b)),
            true,
        ),
        None => (exe.to_path_buf(), false),
    }
}

fn basename(s: &str) -> &str {
    s.rsplit('/').next().unwrap_or(s)
}

fn same_argv(a: &[String], b: &[String]) -> bool {
    !a.is_empty() && a.len() == b.len() && basename(&a[0]) == basename(&b[0]) && a[1..] == b[1..]
}

impl Identity {
    /// Reads (lazily, once) the identity of a process.
    pub fn of(snapshot: &Snapshot, process: &Process) -> Identity {
        let d = snapshot.details(process);
        let (exe, exe_deleted) = match &d.exe {
            Some(e) => {
                let (p, del) = strip_deleted(e);
                (Some(p), del)
            }
            None => (None, false),
        };
        Identity {
            comm: process.stat.comm.clone(),
            exe,
            exe_deleted,
            exe_id: d.exe_id,
            argv: d.cmdline.filter(|a| !a.is_empty()).map(<[String]>::to_vec),
            uid: d.uid(),
        }
    }

    /// Whether every part was read: executable, arguments and uid. Two identities can be compared
    /// only when both are complete.
    pub fn complete(&self) -> bool {
        (self.exe.is_some() || self.exe_id.is_some()) && self.argv.is_some() && self.uid.is_some()
    }

    /// Whether what both identities show already tells them apart: another executable, other
    /// arguments or another user, each where both could be read.
    pub fn contradicts(&self, other: &Identity) -> bool {
        let exe = match ((self.exe_id, other.exe_id), (&self.exe, &other.exe)) {
            ((Some(a), Some(b)), (Some(x), Some(y))) => a != b && x != y,
            ((Some(a), Some(b)), _) => a != b,
            (_, (Some(x), Some(y))) => x != y,
            _ => false,
        };
        let argv = matches!((&self.argv, &other.argv), (Some(a), Some(b)) if !same_argv(a, b));
        let uid = matches!((self.uid, other.uid), (Some(a), Some(b)) if a != b);
        exe || argv || uid
    }

    /// Whether `other` is the same daemon (see the module docs).
    pub fn same_daemon(&self, other: &Identity) -> bool {
        let exe = match (self.exe_id, other.exe_id) {
            (Some(a), Some(b)) if a == b => true,
            _ => matches!((&self.exe, &other.exe), (Some(a), Some(b)) if a == b),
        };
        self.comm == other.comm
            && exe
            && matches!((&self.argv, &other.argv), (Some(a), Some(b)) if same_argv(a, b))
            && self.uid.is_some()
            && self.uid == other.uid
    }
}

/// The options daemons take their pidfile's path from: `-P FILE`, `-p FILE`, `--pidfile FILE`,
/// `--pid-file FILE`, `-pidfile FILE` and the `=FILE` forms, and a bare `pidfile FILE` (as in
/// `daemon pidfile /run/x.pid`).
const PIDFILE_OPTIONS: &[&str] = &["-P", "-p", "--pidfile", "--pid-file", "-pidfile", "pidfile"];

/// Whether a command line names `pidfile` as its pidfile (see [`PIDFILE_OPTIONS`]). Pure; the path
/// must be written as the audit names it (no lookup resolves it).
pub fn argv_names_pidfile(argv: &[String], pidfile: &Path) -> bool {
    let is = |v: &str| Path::new(v) == pidfile;
    argv.iter().skip(1).enumerate().any(|(i, a)| {
        PIDFILE_OPTIONS.iter().any(|opt| {
            (a == opt && argv.get(i + 2).is_some_and(|v| is(v)))
                || (opt.starts_with("--") || *opt == "-pidfile")
                    && a.strip_prefix(opt)
                        .and_then(|r| r.strip_prefix('='))
                        .is_some_and(is)
        })
    })
}

/// Whether `pid` is the same daemon as `ident`: comm first (free), then the rest.
pub fn is_same(snapshot: &Snapshot, pid: i32, ident: &Identity) -> bool {
    compare(snapshot, pid, ident) == Some(true)
}

/// Whether `pid` is the same daemon as `ident`; `None` when it has the daemon's comm, is alive, and
/// its identity or `ident` could not be read whole (another user's process, unprivileged), so the
/// answer is not known.
pub fn compare(snapshot: &Snapshot, pid: i32, ident: &Identity) -> Option<bool> {
    let Some(p) = snapshot.get(pid) else {
        return Some(false);
    };
    if p.stat.comm != ident.comm || snapshot.is_dead(p) {
        return Some(false);
    }
    let other = Identity::of(snapshot, p);
    if ident.same_daemon(&other) {
        return Some(true);
    }
    if (ident.complete() && other.complete()) || ident.contradicts(&other) {
        return Some(false);
    }
    // A process that exited meanwhile is no instance; one still there is out of reach.
    match snapshot.verified_dir(p) {
        Some(_) => None,
        None => Some(false),
    }
}

/// The top of the run of same-daemon processes above `process` (a master whose worker a pidfile
/// names is the root of the worker's tree).
pub fn root_of(snapshot: &Snapshot, process: &Arc<Process>, ident: &Identity) -> i32 {
    let mut pid = process.pid();
    for _ in 0..MAX_ANCESTORS {
        let Some(p) = snapshot.get(pid) else { break };
        let ppid = p.stat.ppid;
        if ppid <= 1 || !is_same(snapshot, ppid, ident) {
            break;
        }
        pid = ppid;
    }
    pid
}

/// The supervisor of a process: the nearest ancestor that is a known supervisor, or the systemd
/// service whose cgroup holds it (when systemd is among its ancestors).
pub fn supervisor(snapshot: &Snapshot, process: &Process) -> Option<String> {
    let mut ppid = process.stat.ppid;
    let mut under_systemd = false;
    for _ in 0..MAX_ANCESTORS {
        let Some(parent) = snapshot.get(ppid) else {
            break;
        };
        let comm = parent.stat.comm.as_str();
        if SUPERVISORS.contains(&comm) {
            return Some(format!("{comm} (PID {})", parent.pid()));
        }
        if comm == "systemd" {
            under_systemd = true;
            break;
        }
        if ppid <= 1 {
            break;
        }
        ppid = parent.stat.ppid;
    }
    if !under_systemd {
        return None;
    }
    let cgroup = snapshot.read_proc_file(process, "cgroup")?;
    let unit = systemd_unit(&cgroup)?;
    Some(format!("systemd ({unit})"))
}

/// The `.service` unit a `/proc/PID/cgroup` names (cgroup v2 line, or v1 `name=systemd`).
pub fn systemd_unit(cgroup: &[u8]) -> Option<String> {
    let text = std::str::from_utf8(cgroup).ok()?;
    text.lines()
        .filter(|l| l.starts_with("0::") || l.contains(":name=systemd:"))
        .find_map(|l| {
            l.rsplit(':')
                .next()?
                .split('/')
                .rev()
                .find(|c| c.ends_with(".service"))
                .map(str::to_string)
        })
}

/// One instance of a daemon, as evidence shows it.
pub fn describe(snapshot: &Snapshot, pid: i32, tracked: bool) -> serde_json::Value {
    let Some(p) = snapshot.get(pid) else {
        return serde_json::json!({ "pid": pid, "tracked": tracked });
    };
    let parent = snapshot.get(p.stat.ppid);
    let ident = Identity::of(snapshot, p);
    serde_json::json!({
        "pid": pid,
        "name": display_name(snapshot, p),
        "ppid": p.stat.ppid,
        "parent_comm": parent.map(|q| q.stat.comm.clone()),
        "start_time": snapshot.start_time(&p.stat).map(|t| (t * 100.0).round() / 100.0),
        "supervisor": supervisor(snapshot, p),
        "uid": ident.uid,
        "cmdline": ident.argv,
        "tracked": tracked,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(exe: &str, ino: u64, argv: &[&str], uid: u32) -> Identity {
        let (exe, exe_deleted) = strip_deleted(Path::new(exe));
        Identity {
            comm: "foo".into(),
            exe: Some(exe),
            exe_deleted,
            exe_id: Some((8, ino)),
            argv: Some(argv.iter().map(|s| s.to_string()).collect()),
            uid: Some(uid),
        }
    }

    /// An interpreter's process is named by its script, module, archive or main class.
    #[test]
    fn script_names() {
        let n = |comm: &str, argv: &[&str]| {
            script_name(
                comm,
                &argv.iter().map(|s| s.to_string()).collect::<Vec<_>>(),
            )
        };
        assert_eq!(
            n(
                "python3",
                &["/usr/bin/python3", "/usr/bin/gunicorn", "app:app"]
            )
            .as_deref(),
            Some("gunicorn")
        );
        assert_eq!(
            n("python3.11", &["python3", "-u", "-m", "celery", "worker"]).as_deref(),
            Some("celery")
        );
        assert_eq!(
            n("perl", &["perl", "-w", "./preforkd.pl"]).as_deref(),
            Some("preforkd.pl")
        );
        assert_eq!(
            n("java", &["java", "-Xmx1g", "-jar", "/opt/app/app.jar"]).as_deref(),
            Some("app.jar")
        );
        assert_eq!(
            n("java", &["java", "-cp", "lib/*", "org.example.Server"]).as_deref(),
            Some("Server")
        );
        assert_eq!(n("python3", &["python3", "-c", "import x"]), None);
        assert_eq!(n("python3", &["python3"]), None);
        assert_eq!(n("sshd", &["sshd", "/x"]), None);
        assert_eq!(n("shutdown", &["shutdown", "/x"]), None);
        assert_eq!(
            n("bash", &["bash", "/etc/init.d/foo"]).as_deref(),
            Some("foo")
        );
        assert!(runs_scripts("php8.2") && !runs_scripts("phpd"));
    }

    /// Same exe (by inode or by path), same arguments and uid make the same daemon; any difference
    /// does not.
    #[test]
    fn same_daemon_rule() {
        let a = id("/usr/sbin/foo", 1, &["/usr/sbin/foo", "-c", "x"], 0);
        assert!(a.same_daemon(&id("/usr/sbin/foo", 1, &["foo", "-c", "x"], 0)));
        // Upgraded on disk: another inode, same path.
        assert!(a.same_daemon(&id("/usr/sbin/foo (deleted)", 2, &["foo", "-c", "x"], 0)));
        // A hard link elsewhere: same inode.
        assert!(a.same_daemon(&id("/opt/foo", 1, &["foo", "-c", "x"], 0)));
        assert!(!a.same_daemon(&id("/usr/sbin/foo", 1, &["foo", "-c", "y"], 0)));
        assert!(!a.same_daemon(&id("/usr/sbin/foo", 1, &["foo", "-c"], 0)));
        assert!(!a.same_daemon(&id("/usr/sbin/foo", 1, &["foo", "-c", "x"], 33)));
        assert!(!a.same_daemon(&id("/usr/bin/bar", 3, &["foo", "-c", "x"], 0)));
        let mut unknown = a.clone();
        unknown.argv = None;
        assert!(!a.same_daemon(&unknown));
    }

    /// The service unit is read from cgroup v2 and v1 lines; other cgroups name none.
    #[test]
    fn systemd_units() {
        assert_eq!(
            systemd_unit(b"0::/system.slice/nginx.service\n").as_deref(),
            Some("nginx.service")
        );
        assert_eq!(
            systemd_unit(b"12:cpu:/\n1:name=systemd:/system.slice/redis-server.service\n")
                .as_deref(),
            Some("redis-server.service")
        );
        assert_eq!(
            systemd_unit(b"0::/user.slice/user-0.slice/session-3.scope\n"),
            None
        );
    }

    /// The pidfile options daemons use name the pidfile; a value that only starts with the path,
    /// or the path as an argument of another option, does not.
    #[test]
    fn argv_pidfile_options() {
        let p = Path::new("/run/memcached/memcached.pid");
        let argv = |a: &[&str]| a.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        for yes in [
            &[
                "memcached",
                "-d",
                "-P",
                "/run/memcached/memcached.pid",
                "-p",
                "11211",
            ][..],
            &["x", "--pidfile", "/run/memcached/memcached.pid"],
            &["x", "--pidfile=/run/memcached/memcached.pid"],
            &["x", "--pid-file=/run/memcached/memcached.pid"],
            &["x", "-p", "/run/memcached/memcached.pid"],
            &["daemon", "pidfile", "/run/memcached/memcached.pid"],
        ] {
            assert!(argv_names_pidfile(&argv(yes), p), "{yes:?}");
        }
        for no in [
            &["memcached", "-d", "-P", "/run/memcached/memcached.pid2"][..],
            &["x", "--config", "/run/memcached/memcached.pid"],
            &["/run/memcached/memcached.pid"],
            &["x", "-P"],
            &["x", "-P=/run/memcached/memcached.pid"],
        ] {
            assert!(!argv_names_pidfile(&argv(no), p), "{no:?}");
        }
    }

    /// What both identities show is enough to tell two processes apart, whatever could not be
    /// read of either; nothing readable differing is no contradiction.
    #[test]
    fn contradictions() {
        let a = id("/usr/sbin/foo", 1, &["foo", "-c", "x"], 0);
        let mut b = a.clone();
        b.exe = None;
        b.exe_id = None;
        assert!(!a.contradicts(&b));
        b.argv = Some(vec!["foo".into(), "-c".into(), "y".into()]);
        assert!(a.contradicts(&b));
        let mut c = a.clone();
        c.argv = None;
        c.uid = Some(33);
        assert!(a.contradicts(&c));
        let mut d = a.clone();
        d.uid = None;
        assert!(!a.contradicts(&d));
    }
}
