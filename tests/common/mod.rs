//! Test support: the built binary, real daemons, zombies, dead PIDs, and JSON output.
#![allow(dead_code)]

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A command running the pidaudit binary under test.
pub fn pidaudit() -> Command {
    Command::new(env!("CARGO_BIN_EXE_pidaudit"))
}

/// Path of the Python test daemon.
pub fn testd_path() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/support/testd.py")
}

/// A process started for a test; killed (and reaped, if ours) when dropped.
pub struct Daemon {
    pub pid: u32,
    child: Option<Child>,
    /// Set once killed: the PID may then belong to an unrelated process, never signal it again.
    killed: bool,
}

impl Daemon {
    /// Takes charge of a process that is not our child: killed (and waited for) when dropped.
    pub fn adopt(pid: u32) -> Daemon {
        Daemon {
            pid,
            child: None,
            killed: false,
        }
    }

    /// Kills the process with SIGKILL and reaps it if it is our child. Afterwards its PID is dead.
    pub fn kill(&mut self) {
        if std::mem::replace(&mut self.killed, true) {
            return;
        }
        kill9(self.pid);
        if let Some(mut c) = self.child.take() {
            let _ = c.wait();
        } else {
            wait_gone(self.pid);
        }
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        self.kill();
    }
}

pub fn kill9(pid: u32) {
    let _ = Command::new("kill")
        .arg("-9")
        .arg(pid.to_string())
        .stderr(Stdio::null())
        .status();
}

/// Waits until /proc/PID is gone (a non-child that was killed is reaped by init).
pub fn wait_gone(pid: u32) {
    let deadline = Instant::now() + Duration::from_secs(5);
    while Path::new(&format!("/proc/{pid}")).exists() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// Starts the test daemon with these arguments and waits for it to print its PID.
pub fn testd(args: &[&str]) -> Daemon {
    let mut child = Command::new("python3")
        .arg(testd_path())
        .args(args)
        .stdout(Stdio::piped())
        .stdin(Stdio::null())
        .spawn()
        .expect("python3 runs the test daemon");
    let stdout = child.stdout.take().unwrap();
    let mut line = String::new();
    BufReader::new(stdout).read_line(&mut line).unwrap();
    let pid: u32 = line
        .trim()
        .parse()
        .unwrap_or_else(|_| panic!("test daemon printed {line:?}"));
    let daemonized = args.contains(&"--daemonize");
    if daemonized {
        let _ = child.wait();
        Daemon {
            pid,
            child: None,
            killed: false,
        }
    } else {
        Daemon {
            pid,
            child: Some(child),
            killed: false,
        }
    }
}

/// Runs a copy of /bin/sleep named `name` (so its comm and exe are `name`) from `dir`.
pub fn named_sleep(dir: &Path, name: &str) -> Daemon {
    let exe = dir.join(name);
    if !exe.exists() {
        std::fs::copy("/bin/sleep", &exe).unwrap();
    }
    let child = spawn(Command::new(&exe).arg("1000"));
    Daemon {
        pid: child.id(),
        child: Some(child),
        killed: false,
    }
}

/// Spawns, retrying while the executable is busy: a binary copied just now can still be open for
/// writing in a child another test thread forked meanwhile (ETXTBSY) until that child execs.
pub fn spawn(cmd: &mut Command) -> Child {
    let mut tries = 0;
    loop {
        match cmd.spawn() {
            Err(e) if e.raw_os_error() == Some(26) && tries < 100 => {
                tries += 1;
                std::thread::sleep(Duration::from_millis(10));
            }
            r => return r.unwrap(),
        }
    }
}

/// A PID that was alive a moment ago and is now dead and reaped.
pub fn dead_pid() -> u32 {
    let mut c = Command::new("true").spawn().unwrap();
    let pid = c.id();
    c.wait().unwrap();
    pid
}

/// A real zombie: returns its (non-reaping) parent and the zombie's PID.
pub fn zombie() -> (Daemon, u32) {
    // The child exits only once the shell has become `sleep 1000` (which never reaps), so the shell
    // cannot reap it first.
    let mut child = Command::new("sh")
        .arg("-c")
        .arg("( while [ \"$(cat /proc/$$/comm 2>/dev/null)\" = sh ]; do sleep 0.01; done; exec sleep 0 ) & echo $!; exec sleep 1000")
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let parent = Daemon {
        pid: child.id(),
        child: Some(child),
        killed: false,
    };
    let mut line = String::new();
    BufReader::new(stdout).read_line(&mut line).unwrap();
    let zpid: u32 = line.trim().parse().unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let stat = std::fs::read_to_string(format!("/proc/{zpid}/stat")).unwrap_or_default();
        if stat
            .rsplit(')')
            .next()
            .is_some_and(|r| r.trim_start().starts_with('Z'))
        {
            break;
        }
        assert!(Instant::now() < deadline, "no zombie appeared");
        std::thread::sleep(Duration::from_millis(10));
    }
    (parent, zpid)
}

/// Writes a pidfile.
pub fn write_pidfile(path: &Path, content: &str) {
    std::fs::write(path, content).unwrap();
}

/// Sets a file's mtime to `secs_ago` seconds in the past.
pub fn age(path: &Path, secs_ago: u64) {
    let t = std::time::SystemTime::now() - Duration::from_secs(secs_ago);
    std::fs::File::options()
        .write(true)
        .open(path)
        .unwrap()
        .set_modified(t)
        .unwrap();
}

/// The outcome of a run: exit code, stdout, stderr.
pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.stdout)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.stdout))
    }
}

/// Runs pidaudit with `args` and a timeout: a hang fails the test instead of blocking it.
pub fn run(args: &[&str]) -> Run {
    run_cmd(pidaudit().args(args))
}

pub fn run_cmd(cmd: &mut Command) -> Run {
    let mut child = cmd
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .stdin(Stdio::null())
        .spawn()
        .unwrap();
    // Drain both pipes while waiting, so a large report cannot block the child on a full pipe.
    let drain = |mut pipe: Box<dyn std::io::Read + Send>| {
        std::thread::spawn(move || {
            let mut buf = Vec::new();
            let _ = pipe.read_to_end(&mut buf);
            buf
        })
    };
    let stdout = drain(Box::new(child.stdout.take().unwrap()));
    let stderr = drain(Box::new(child.stderr.take().unwrap()));
    let deadline = Instant::now() + Duration::from_secs(30);
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("pidaudit did not finish within 30 s");
        }
        std::thread::sleep(Duration::from_millis(5));
    };
    Run {
        code: status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&stdout.join().unwrap()).into_owned(),
        stderr: String::from_utf8_lossy(&stderr.join().unwrap()).into_owned(),
    }
}

/// A JSON audit with these arguments; it must end with exit 0 or 1 (findings), never a usage or
/// internal error.
pub fn audit_json(args: &[&str]) -> serde_json::Value {
    let mut all = vec!["--format", "json"];
    all.extend_from_slice(args);
    let r = run(&all);
    assert!(r.code == 0 || r.code == 1, "exit {}: {}", r.code, r.stderr);
    r.json()
}

/// The JSON entry for the pidfile at `path`.
pub fn pidfile<'a>(doc: &'a serde_json::Value, path: &Path) -> &'a serde_json::Value {
    let p = path.display().to_string();
    doc["pidfiles"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["path"] == p.as_str())
        .unwrap_or_else(|| panic!("{p} not in report: {doc:#}"))
}

/// The codes of an entry's findings.
pub fn codes(entry: &serde_json::Value) -> Vec<String> {
    entry["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["code"].as_str().unwrap().to_string())
        .collect()
}

/// A test daemon started with `--ids`: the daemon's PID, the other numbers it printed (`parent`,
/// `child`, `fd`), and every process involved (killed when dropped).
pub struct Testd {
    pub pid: u32,
    pub ids: std::collections::HashMap<String, u32>,
    _procs: Vec<Daemon>,
}

impl Testd {
    /// A number the daemon printed.
    pub fn id(&self, key: &str) -> u32 {
        *self
            .ids
            .get(key)
            .unwrap_or_else(|| panic!("test daemon printed no {key}: {:?}", self.ids))
    }
}

/// Python for processes run as another user (root's own Python may live in a private directory).
pub fn system_python() -> &'static str {
    if Path::new("/usr/bin/python3").exists() {
        "/usr/bin/python3"
    } else {
        "python3"
    }
}

/// Starts the test daemon with `--ids` and these arguments.
pub fn testd_ids(args: &[&str]) -> Testd {
    testd_ids_as(&[], args)
}

/// Starts the test daemon with `--ids` under a wrapper (such as `setpriv ... PYTHON`); an empty
/// wrapper runs `python3`.
pub fn testd_ids_as(wrapper: &[&str], args: &[&str]) -> Testd {
    let mut cmd = match wrapper.split_first() {
        Some((prog, rest)) => {
            let mut c = Command::new(prog);
            c.args(rest);
            c
        }
        None => Command::new("python3"),
    };
    let mut child = cmd
        .arg(testd_path())
        .arg("--ids")
        .args(args)
        .stdout(Stdio::piped())
        .stdin(Stdio::null())
        .spawn()
        .expect("the test daemon starts");
    let stdout = child.stdout.take().unwrap();
    let mut line = String::new();
    BufReader::new(stdout).read_line(&mut line).unwrap();
    let mut words = line.split_whitespace();
    let pid: u32 = words
        .next()
        .and_then(|w| w.parse().ok())
        .unwrap_or_else(|| panic!("test daemon printed {line:?}"));
    let ids: std::collections::HashMap<String, u32> = words
        .filter_map(|w| w.split_once('='))
        .map(|(k, v)| (k.to_string(), v.parse().unwrap()))
        .collect();
    let spawned = child.id();
    // "parent" is always the spawned process (waited for below), never a process of its own.
    let mut procs: Vec<Daemon> = [Some(pid), ids.get("child").copied()]
        .into_iter()
        .flatten()
        .filter(|p| *p != spawned)
        .map(|p| Daemon {
            pid: p,
            child: None,
            killed: false,
        })
        .collect();
    // A parent that exited once its child took over (`--fork after-lock-exit`) is reaped now, so its
    // PID is dead rather than a zombie of the test.
    if child.try_wait().unwrap().is_none() {
        procs.push(Daemon {
            pid: spawned,
            child: Some(child),
            killed: false,
        });
    }
    Testd {
        pid,
        ids,
        _procs: procs,
    }
}

/// The finding with this code in an entry.
pub fn finding<'a>(entry: &'a serde_json::Value, code: &str) -> &'a serde_json::Value {
    entry["findings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["code"] == code)
        .unwrap_or_else(|| panic!("no {code} finding in {entry:#}"))
}

/// The user unprivileged runs use (nobody).
pub const NOBODY: &str = "65534";

/// Runs pidaudit as the unprivileged user nobody (`setpriv`), with a timeout.
pub fn run_as_nobody(args: &[&str]) -> Run {
    run_cmd(
        Command::new("setpriv")
            .args([
                "--reuid",
                NOBODY,
                "--regid",
                NOBODY,
                "--clear-groups",
                "--",
                env!("CARGO_BIN_EXE_pidaudit"),
            ])
            .args(args),
    )
}

/// A temporary directory every user can search and list (tempfile makes them 0700).
pub fn open_tempdir() -> tempfile::TempDir {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    dir
}

/// The single finding of an entry, asserting there is exactly one.
pub fn only_finding(entry: &serde_json::Value) -> &serde_json::Value {
    let f = entry["findings"].as_array().unwrap();
    assert_eq!(f.len(), 1, "expected one finding: {entry:#}");
    &f[0]
}

/// Audits one explicit pidfile and returns its JSON entry.
pub fn audit_one(path: &Path) -> serde_json::Value {
    let r = run(&["--format", "json", path.to_str().unwrap()]);
    assert!(r.code == 0 || r.code == 1, "exit {}: {}", r.code, r.stderr);
    pidfile(&r.json(), path).clone()
}

/// Whether any finding in the document has this code.
pub fn has_code(doc: &serde_json::Value, code: &str) -> bool {
    doc["findings"]
        .as_array()
        .unwrap()
        .iter()
        .any(|f| f["code"] == code)
}

impl Daemon {
    /// Wraps a spawned child process: killed and reaped when dropped.
    pub fn from_child(child: Child) -> Daemon {
        Daemon {
            pid: child.id(),
            child: Some(child),
            killed: false,
        }
    }
}
