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
}

impl Daemon {
    /// Kills the process with SIGKILL and reaps it if it is our child. Afterwards its PID is dead.
    pub fn kill(&mut self) {
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
        Daemon { pid, child: None }
    } else {
        Daemon {
            pid,
            child: Some(child),
        }
    }
}

/// Runs a copy of /bin/sleep named `name` (so its comm and exe are `name`) from `dir`.
pub fn named_sleep(dir: &Path, name: &str) -> Daemon {
    let exe = dir.join(name);
    if !exe.exists() {
        std::fs::copy("/bin/sleep", &exe).unwrap();
    }
    // A test thread forking while the copy's write descriptor is open makes exec fail with
    // ETXTBSY until that child execs or exits: retry.
    let mut tries = 0;
    let child = loop {
        match Command::new(&exe).arg("1000").spawn() {
            Err(e) if e.kind() == std::io::ErrorKind::ExecutableFileBusy && tries < 100 => {
                tries += 1;
                std::thread::sleep(Duration::from_millis(10));
            }
            other => break other.unwrap(),
        }
    };
    Daemon {
        pid: child.id(),
        child: Some(child),
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
    let mut child = Command::new("sh")
        .arg("-c")
        .arg("sleep 0 & echo $!; exec sleep 1000")
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let mut line = String::new();
    BufReader::new(stdout).read_line(&mut line).unwrap();
    let zpid: u32 = line.trim().parse().unwrap();
    let deadline = Instant::now() + Duration::from_secs(5);
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
    let pid = child.id();
    (
        Daemon {
            pid,
            child: Some(child),
        },
        zpid,
    )
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
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if child.try_wait().unwrap().is_some() {
            break;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("pidaudit did not finish within 30 s");
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    let out = child.wait_with_output().unwrap();
    Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
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
    /// Takes charge of a spawned child: killed and reaped when dropped.
    pub fn adopt(child: Child) -> Daemon {
        Daemon {
            pid: child.id(),
            child: Some(child),
        }
    }
}
