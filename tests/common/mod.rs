//! Test support: the built binary, real daemons (the test daemon's builder, copies of sleep),
//! zombies, dead PIDs, file times, unprivileged and traced runs, and the JSON report.
//!
//! Tests share the machine with whatever else runs on it, other test binaries included: a daemon
//! whose pidfile a test audits gets a name no other process has ([`unique_name`]), since the
//! instance checks survey the whole process table for processes of a pidfile's name.
#![allow(dead_code)]

pub mod fixing;

use std::collections::HashMap;
use std::ffi::{OsStr, OsString};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{Ipv4Addr, TcpStream};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// The pidaudit binary under test.
pub const BIN: &str = env!("CARGO_BIN_EXE_pidaudit");

/// The unprivileged user of unprivileged runs (nobody).
pub const NOBODY: u32 = 65534;

/// A command running the pidaudit binary under test.
pub fn pidaudit() -> Command {
    Command::new(BIN)
}

/// A name no other process on the machine has: `base`, a dash and a word of letters made of this
/// test binary's PID (five letters: any PID up to 2^22) and a per-binary counter (two letters, never
/// `d`: 625 names per test binary). Letters, because the name rule drops trailing digits and ignores
/// all-digit words. Every word has the same length and none ends in `d` (which the name rule drops
/// from `crond`), so no name's word is a prefix of another's (the name rule matches a prefix of four
/// letters or more). At most 15 bytes, so it is also the whole comm: `base` has at most 7.
pub fn unique_name(base: &str) -> String {
    static NEXT: AtomicU32 = AtomicU32::new(0);
    let letter = |n: u32| char::from(b'a' + (n % 26) as u8);
    let mut name = format!("{base}-");
    let pid = std::process::id();
    name.extend((0..5).map(|i| letter(pid / 26u32.pow(i))));
    const COUNTER: &[u8] = b"abcefghijklmnopqrstuvwxyz";
    let base_n = COUNTER.len() as u32;
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    assert!(
        n < base_n * base_n,
        "more than 625 unique names in one test binary"
    );
    name.push(char::from(COUNTER[(n / base_n) as usize]));
    name.push(char::from(COUNTER[(n % base_n) as usize]));
    assert!(name.len() <= 15, "{name} is longer than a comm");
    name
}

/// A fresh [`unique_name`] and the path of its pidfile in `dir`.
pub fn unique_pidfile(dir: &Path, base: &str) -> (String, PathBuf) {
    let name = unique_name(base);
    let path = dir.join(format!("{name}.pid"));
    (name, path)
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

    /// Wraps a spawned child process: killed and reaped when dropped.
    pub fn from_child(child: Child) -> Daemon {
        Daemon {
            pid: child.id(),
            child: Some(child),
            killed: false,
        }
    }

    /// Kills the process with SIGKILL and reaps it if it is our child. Afterwards its PID is dead:
    /// gone, or a zombie its parent has not reaped.
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

/// Sends SIGKILL (errors ignored: the process may be gone already).
pub fn kill9(pid: u32) {
    if let Some(pid) = rustix::process::Pid::from_raw(pid as i32) {
        let _ = rustix::process::kill_process(pid, rustix::process::Signal::KILL);
    }
}

/// The state letter of a process (`/proc/PID/stat`), if it exists.
pub fn proc_state(pid: u32) -> Option<char> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    stat.rsplit_once(')')?.1.trim_start().chars().next()
}

/// A process's comm, empty if it is gone.
pub fn comm(pid: u32) -> String {
    std::fs::read_to_string(format!("/proc/{pid}/comm"))
        .unwrap_or_default()
        .trim_end_matches('\n')
        .to_string()
}

/// Waits (at most 5 s, silently: it runs in `drop`) until a killed process is dead: gone, or a
/// zombie. A process that is not our child is reaped by its parent or by init, and an init that
/// never reaps orphans (as in some containers and VMs) leaves it a zombie for good.
pub fn wait_gone(pid: u32) {
    let deadline = Instant::now() + Duration::from_secs(5);
    while proc_state(pid).is_some_and(|s| s != 'Z') && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// Waits until `ok` holds, failing the test after 10 s.
pub fn wait_until(what: &str, mut ok: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while !ok() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(10));
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
            r => return r.unwrap_or_else(|e| panic!("{cmd:?}: {e}")),
        }
    }
}

/// Spawns a command and waits for it to print `ready` as its first line; killed when dropped.
pub fn spawn_ready(cmd: &mut Command, ready: &str) -> Daemon {
    let mut child = spawn(cmd.stdout(Stdio::piped()));
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let d = Daemon::from_child(child);
    assert_eq!(line.trim(), ready);
    d
}

/// Copies /bin/sleep to `dir/name` (so a process running it has comm and exe `name`), once.
pub fn sleep_copy(dir: &Path, name: &str) -> PathBuf {
    let exe = dir.join(name);
    if !exe.exists() {
        std::fs::copy("/bin/sleep", &exe).unwrap();
    }
    exe
}

/// Runs a copy of /bin/sleep named `name` (so its comm and exe are `name`) from `dir`.
pub fn named_sleep(dir: &Path, name: &str) -> Daemon {
    Daemon::from_child(spawn(Command::new(sleep_copy(dir, name)).arg("1000")))
}

/// Compiles the C program `source` (with `-pthread`) to `dir/name`, so a process running it has
/// comm `name`.
pub fn build_c(dir: &Path, name: &str, source: &str) -> PathBuf {
    let src = dir.join(format!("{name}.c"));
    std::fs::write(&src, source).unwrap();
    let exe = dir.join(name);
    let built = Command::new("cc")
        .args(["-pthread", "-o"])
        .arg(&exe)
        .arg(&src)
        .status()
        .expect("a C compiler (cc) is installed");
    assert!(built.success(), "cc {}", src.display());
    exe
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
    let parent = Daemon::from_child(child);
    let mut line = String::new();
    BufReader::new(stdout).read_line(&mut line).unwrap();
    let zpid: u32 = line.trim().parse().unwrap();
    wait_until("a zombie", || proc_state(zpid) == Some('Z'));
    (parent, zpid)
}

/// Writes a pidfile.
pub fn write_pidfile(path: &Path, content: &str) {
    std::fs::write(path, content).unwrap();
}

/// Writes a pidfile holding `pid` and a newline, as daemons do.
pub fn write_pid(path: &Path, pid: u32) {
    write_pidfile(path, &format!("{pid}\n"));
}

/// Sets a file's mode.
pub fn chmod(path: &Path, mode: u32) {
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
}

/// Creates a FIFO (mode 0644).
pub fn mkfifo(path: &Path) {
    rustix::fs::mkfifoat(
        rustix::fs::CWD,
        path,
        rustix::fs::Mode::from_raw_mode(0o644),
    )
    .unwrap();
}

/// Creates a character (or, with `block`, a block) device node `major:minor` (mode 0644; needs
/// root).
pub fn mknod(path: &Path, block: bool, major: u32, minor: u32) {
    use rustix::fs::FileType;
    let kind = if block {
        FileType::BlockDevice
    } else {
        FileType::CharacterDevice
    };
    rustix::fs::mknodat(
        rustix::fs::CWD,
        path,
        kind,
        rustix::fs::Mode::from_raw_mode(0o644),
        rustix::fs::makedev(major, minor),
    )
    .expect("mknod needs root");
}

/// A temporary directory every user can search and list (tempfile makes them 0700).
pub fn open_tempdir() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    chmod(dir.path(), 0o755);
    dir
}

/// The kernel's `pid_max`.
pub fn pid_max() -> u32 {
    std::fs::read_to_string("/proc/sys/kernel/pid_max")
        .unwrap()
        .trim()
        .parse()
        .unwrap()
}

/// The boot time in Unix seconds, as pidaudit reads it (`btime` in /proc/stat).
pub fn boot_time() -> u64 {
    std::fs::read_to_string("/proc/stat")
        .unwrap()
        .lines()
        .find_map(|l| l.strip_prefix("btime "))
        .expect("btime in /proc/stat")
        .trim()
        .parse()
        .unwrap()
}

/// Sets a file's mtime.
pub fn set_mtime(path: &Path, t: SystemTime) {
    std::fs::File::options()
        .write(true)
        .open(path)
        .unwrap()
        .set_modified(t)
        .unwrap();
}

/// Sets a file's mtime `secs` seconds in the past, but within the current boot: on a machine booted
/// less than that ago, one second after boot (a file written before boot would be `previous-boot`).
/// Either way the file is older than any process started by the test.
pub fn age(path: &Path, secs: u64) {
    let since_boot = SystemTime::now()
        .duration_since(UNIX_EPOCH + Duration::from_secs(boot_time()))
        .unwrap()
        .as_secs();
    assert!(
        since_boot >= 6,
        "booted {since_boot} s ago: too recently to date a file before a process's start"
    );
    let secs = secs.min(since_boot - 1);
    set_mtime(path, SystemTime::now() - Duration::from_secs(secs));
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

/// Runs a command with a timeout, collecting its output.
pub fn run_cmd(cmd: &mut Command) -> Run {
    run_with(cmd.stdin(Stdio::null()), None)
}

/// Runs a command with `input` on its standard input and a timeout, collecting its output.
pub fn run_input(cmd: &mut Command, input: &[u8]) -> Run {
    run_with(cmd.stdin(Stdio::piped()), Some(input.to_vec()))
}

fn run_with(cmd: &mut Command, input: Option<Vec<u8>>) -> Run {
    let mut child = spawn(cmd.stdout(Stdio::piped()).stderr(Stdio::piped()));
    // Feed and drain the pipes while waiting, so a large input or report cannot block either side.
    if let (Some(input), Some(mut stdin)) = (input, child.stdin.take()) {
        std::thread::spawn(move || std::io::Write::write_all(&mut stdin, &input));
    }
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
            panic!("{cmd:?} did not finish within 30 s");
        }
        std::thread::sleep(Duration::from_millis(5));
    };
    Run {
        code: status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&stdout.join().unwrap()).into_owned(),
        stderr: String::from_utf8_lossy(&stderr.join().unwrap()).into_owned(),
    }
}

/// The command line prefix that runs a program as nobody (no supplementary groups).
pub const SETPRIV_NOBODY: &[&str] = &[
    "setpriv",
    "--reuid=65534",
    "--regid=65534",
    "--clear-groups",
    "--",
];

/// `program` run as the unprivileged user nobody.
pub fn as_nobody(program: impl AsRef<OsStr>) -> Command {
    let mut cmd = Command::new(SETPRIV_NOBODY[0]);
    cmd.args(&SETPRIV_NOBODY[1..]).arg(program);
    cmd
}

/// Runs pidaudit as the unprivileged user nobody, with a timeout.
pub fn run_as_nobody(args: &[&str]) -> Run {
    run_cmd(as_nobody(BIN).args(args))
}

/// `strace -f` recording the system calls `calls` (a `-e trace=` list) in `log`, signals left out;
/// the traced command follows as arguments.
pub fn strace(log: &Path, calls: &str) -> Command {
    let mut cmd = Command::new("strace");
    cmd.args(["-f", "-qq", "-e", &format!("trace={calls}")])
        .args(["-e", "signal=none", "-o"])
        .arg(log);
    cmd
}

/// A command run as PID 1 of a new PID namespace with its own /proc (killed with its children
/// when `unshare` dies); the command follows as arguments.
pub fn unshare_pid() -> Command {
    let mut cmd = Command::new("unshare");
    cmd.args(["--pid", "--fork", "--mount-proc", "--kill-child"]);
    cmd
}

/// Runs a pidaudit command (possibly wrapped: unprivileged, in a namespace) whose output is JSON; it
/// must end normally: exit 0 or 1 (findings), never a usage or internal error, never a panic.
pub fn audit_cmd(cmd: &mut Command) -> (i32, serde_json::Value) {
    let r = run_cmd(cmd);
    assert!(!r.stderr.contains("panicked"), "{}", r.stderr);
    assert!(r.code == 0 || r.code == 1, "exit {}: {}", r.code, r.stderr);
    (r.code, r.json())
}

/// A JSON audit with these arguments: its exit status and document.
pub fn audit(args: &[&str]) -> (i32, serde_json::Value) {
    audit_cmd(pidaudit().args(["--format", "json"]).args(args))
}

/// The document of a JSON audit with these arguments.
pub fn audit_json(args: &[&str]) -> serde_json::Value {
    audit(args).1
}

/// Leaves `unlocked` (info) out of an audit: for daemons that do not lock their pidfiles, where
/// the test is not about locks.
pub const NO_UNLOCKED: &[&str] = &["--ignore", "unlocked"];

/// A JSON audit of one path (a pidfile or a directory) with more arguments, such as `--ignore`.
pub fn audit_path(path: &Path, args: &[&str]) -> (i32, serde_json::Value) {
    audit_cmd(pidaudit().args(["--format", "json"]).args(args).arg(path))
}

/// Audits one explicit pidfile (with more arguments, such as `--ignore`) and returns its entry.
pub fn audit_one(path: &Path, args: &[&str]) -> serde_json::Value {
    pidfile(&audit_path(path, args).1, path).clone()
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

/// The (first) finding with this code in an entry.
pub fn finding<'a>(entry: &'a serde_json::Value, code: &str) -> &'a serde_json::Value {
    findings_with(entry, code)
        .first()
        .unwrap_or_else(|| panic!("no {code} finding in {entry:#}"))
}

/// The single finding of an entry, asserting there is exactly one.
pub fn only_finding(entry: &serde_json::Value) -> &serde_json::Value {
    let f = entry["findings"].as_array().unwrap();
    assert_eq!(f.len(), 1, "expected one finding: {entry:#}");
    &f[0]
}

/// The findings with this code in a document or an entry (both have `findings`).
pub fn findings_with<'a>(v: &'a serde_json::Value, code: &str) -> Vec<&'a serde_json::Value> {
    v["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["code"] == code)
        .collect()
}

/// Whether any finding in the document has this code.
pub fn has_code(doc: &serde_json::Value, code: &str) -> bool {
    !findings_with(doc, code).is_empty()
}

/// A lock the test daemon takes on its pidfile (`--lock`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Lock {
    /// `flock(LOCK_EX)`
    Flock,
    /// `flock(LOCK_SH)`
    FlockShared,
    /// `lockf(F_LOCK)`: a POSIX record lock
    Lockf,
    /// An open file description lock (`F_OFD_SETLK`)
    Ofd,
}

impl Lock {
    pub fn as_str(self) -> &'static str {
        match self {
            Lock::Flock => "flock",
            Lock::FlockShared => "flock-shared",
            Lock::Lockf => "lockf",
            Lock::Ofd => "ofd",
        }
    }
}

/// How the test daemon forks around its pidfile (`--fork`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Fork {
    /// Open and lock, then fork; the child is the daemon and the parent exits.
    AfterLockExit,
    /// Open and lock, then fork; the child is the daemon and the parent stays.
    AfterLockStay,
    /// Write the pidfile, then fork a child that opens and locks it separately.
    ChildLocks,
}

impl Fork {
    fn as_str(self) -> &'static str {
        match self {
            Fork::AfterLockExit => "after-lock-exit",
            Fork::AfterLockStay => "after-lock-stay",
            Fork::ChildLocks => "child-locks",
        }
    }
}

/// A TCP port on 127.0.0.1 that nothing listens on now.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// The test daemon (`tests/support/testd.py`) to start: one method per option of the script.
#[must_use]
pub struct Testd {
    args: Vec<OsString>,
    workers: bool,
    unprivileged: bool,
}

impl Testd {
    /// A daemon that writes its PID to `pidfile` (`--pidfile`).
    pub fn new(pidfile: &Path) -> Testd {
        Testd::without_pidfile().arg("--pidfile").arg(pidfile)
    }

    /// A daemon with no pidfile.
    pub fn without_pidfile() -> Testd {
        Testd {
            args: Vec::new(),
            workers: false,
            unprivileged: false,
        }
    }

    fn arg(mut self, arg: impl AsRef<OsStr>) -> Testd {
        self.args.push(arg.as_ref().to_owned());
        self
    }

    /// Its comm (`--name`, `PR_SET_NAME`).
    pub fn name(self, name: &str) -> Testd {
        self.arg("--name").arg(name)
    }

    /// Locks the pidfile (`--lock`).
    pub fn lock(self, lock: Lock) -> Testd {
        self.arg("--lock").arg(lock.as_str())
    }

    /// Double-forks and calls setsid first (`--daemonize`).
    pub fn daemonize(self) -> Testd {
        self.arg("--daemonize")
    }

    /// Writes this PID instead of its own (`--write-pid`).
    pub fn write_pid(self, pid: u32) -> Testd {
        self.arg("--write-pid").arg(pid.to_string())
    }

    /// Opens (and locks) the pidfile without writing it (`--no-pidfile-write`).
    pub fn no_pidfile_write(self) -> Testd {
        self.arg("--no-pidfile-write")
    }

    /// Opens the existing pidfile read-only, never writing it (`--readonly`).
    pub fn readonly(self) -> Testd {
        self.arg("--readonly")
    }

    /// Deletes the pidfile first, as a careless second start does (`--unlink-first`).
    pub fn unlink_first(self) -> Testd {
        self.arg("--unlink-first")
    }

    /// Becomes a session leader before opening the pidfile (`--setsid`).
    pub fn setsid(self) -> Testd {
        self.arg("--setsid")
    }

    /// Forks around the lock (`--fork`).
    pub fn fork(self, fork: Fork) -> Testd {
        self.arg("--fork").arg(fork.as_str())
    }

    /// With [`Testd::fork`]: the parent writes its own PID, not the daemon (`--writer parent`).
    pub fn parent_writes(self) -> Testd {
        self.arg("--writer").arg("parent")
    }

    /// Forks this many workers after writing the pidfile (`--workers`).
    pub fn workers(mut self, n: u32) -> Testd {
        self.workers = n > 0;
        self.arg("--workers").arg(n.to_string())
    }

    /// Listens on `127.0.0.1:port` before forking its workers, which inherit the socket
    /// (`--listen`).
    pub fn listen(self, port: u16) -> Testd {
        self.arg("--listen").arg(port.to_string())
    }

    /// Starts this many extra threads (`--threads`).
    pub fn threads(self, n: u32) -> Testd {
        self.arg("--threads").arg(n.to_string())
    }

    /// Runs as the unprivileged user nobody.
    pub fn unprivileged(mut self) -> Testd {
        self.unprivileged = true;
        self
    }

    /// Starts it and waits until it is ready: pidfile written, lock taken, workers forked.
    pub fn start(self) -> RunningTestd {
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/support/testd.py");
        let mut cmd = if self.unprivileged {
            // Root's own Python may live in a directory nobody cannot enter.
            let python = Path::new("/usr/bin/python3");
            as_nobody(if python.exists() {
                python
            } else {
                Path::new("python3")
            })
        } else {
            Command::new("python3")
        };
        let mut child = cmd
            .arg(script)
            .arg("--ids")
            .args(&self.args)
            .stdout(Stdio::piped())
            .stdin(Stdio::null())
            .spawn()
            .expect("python3 runs the test daemon");
        let mut out = BufReader::new(child.stdout.take().unwrap());
        let mut line = String::new();
        out.read_line(&mut line).unwrap();
        let mut words = line.split_whitespace();
        let pid: u32 = words
            .next()
            .and_then(|w| w.parse().ok())
            .unwrap_or_else(|| panic!("test daemon printed {line:?}"));
        let ids: HashMap<String, u32> = words
            .filter_map(|w| w.split_once('='))
            .map(|(k, v)| (k.to_string(), v.parse().unwrap()))
            .collect();
        let mut workers = Vec::new();
        if self.workers {
            line.clear();
            out.read_line(&mut line).unwrap();
            workers = line
                .split_whitespace()
                .map(|w| Daemon::adopt(w.parse().unwrap()))
                .collect();
        }
        let spawned = child.id();
        // "parent" is always the spawned process (handled below), never a process of its own.
        let mut procs: Vec<Daemon> = [Some(pid), ids.get("child").copied()]
            .into_iter()
            .flatten()
            .filter(|p| *p != spawned)
            .map(Daemon::adopt)
            .collect();
        // A process that exited once its child took over (`--daemonize`, `--fork after-lock-exit`)
        // is reaped now, so its PID is dead rather than a zombie of the test.
        if child.try_wait().unwrap().is_none() {
            procs.push(Daemon::from_child(child));
        }
        RunningTestd {
            pid,
            ids,
            procs,
            workers,
        }
    }
}

/// A started test daemon: its PID, the other numbers it printed (`parent`, `child`, `fd`), its
/// workers, and every process involved (killed when dropped).
pub struct RunningTestd {
    pub pid: u32,
    pub ids: HashMap<String, u32>,
    procs: Vec<Daemon>,
    /// The workers it forked, killed when dropped (after the daemon).
    pub workers: Vec<Daemon>,
}

impl RunningTestd {
    /// A number the daemon printed.
    pub fn id(&self, key: &str) -> u32 {
        *self
            .ids
            .get(key)
            .unwrap_or_else(|| panic!("test daemon printed no {key}: {:?}", self.ids))
    }

    /// Kills the daemon and the processes of its start (not its workers): afterwards its PID is
    /// dead.
    pub fn kill(&mut self) {
        for p in &mut self.procs {
            p.kill();
        }
    }
}

/// A node exporter (`prometheus-node-exporter`) serving a textfile directory on loopback, killed
/// when dropped.
pub struct Exporter {
    _process: Daemon,
    pub port: u16,
}

/// Starts node exporter on 127.0.0.1 with only the textfile collector, and waits until it accepts
/// connections (a port taken between choosing and binding is retried with another).
pub fn start_exporter(dir: &Path) -> Exporter {
    for _ in 0..5 {
        let port = free_port();
        let mut child = Command::new("prometheus-node-exporter")
            .arg(format!("--web.listen-address=127.0.0.1:{port}"))
            .arg("--collector.disable-defaults")
            .arg("--collector.textfile")
            .arg(format!("--collector.textfile.directory={}", dir.display()))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("prometheus-node-exporter is installed");
        let deadline = Instant::now() + Duration::from_secs(20);
        while Instant::now() < deadline {
            if TcpStream::connect((Ipv4Addr::LOCALHOST, port)).is_ok() {
                return Exporter {
                    _process: Daemon::from_child(child),
                    port,
                };
            }
            if child.try_wait().unwrap().is_some() {
                break; // exited: most likely the port was taken; try another.
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        drop(Daemon::from_child(child));
    }
    panic!("node exporter did not start");
}

pub fn scrape(port: u16) -> String {
    let mut s = TcpStream::connect((Ipv4Addr::LOCALHOST, port)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    s.write_all(b"GET /metrics HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n")
        .unwrap();
    let mut body = String::new();
    s.read_to_string(&mut body).unwrap();
    assert!(
        body.starts_with("HTTP/1.0 200") || body.starts_with("HTTP/1.1 200"),
        "{body}"
    );
    body
}

/// `METHOD PATH` over HTTP/1.0 on loopback: the status code and the whole response (headers and body).
pub fn http(port: u16, method: &str, path: &str) -> (u16, String) {
    let mut s = TcpStream::connect((Ipv4Addr::LOCALHOST, port)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    write!(s, "{method} {path} HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n").unwrap();
    let mut response = String::new();
    s.read_to_string(&mut response).unwrap();
    let code = response
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or_else(|| panic!("no status line: {response}"));
    (code, response)
}

/// Starts a real redis (`exe`: `redis-server` or a copy) daemonized in `dir` (its cwd and data
/// directory), on the private socket `dir/sock` and no TCP port (nothing else on the machine is
/// touched), writing `pf`; returns it once the pidfile names a live process other than `not`.
pub fn start_redis(exe: &Path, dir: &Path, pf: &Path, sock: &str, not: u32) -> Daemon {
    let r = run_cmd(
        Command::new(exe)
            .args([
                "--port",
                "0",
                "--daemonize",
                "yes",
                "--save",
                "",
                "--pidfile",
            ])
            .arg(pf)
            .arg("--unixsocket")
            .arg(dir.join(sock))
            .arg("--dir")
            .arg(dir)
            .arg("--logfile")
            .arg(dir.join(format!("{sock}.log")))
            .current_dir(dir),
    );
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    let mut pid = 0;
    wait_until("redis to write its pidfile", || {
        pid = std::fs::read_to_string(pf)
            .ok()
            .and_then(|s| s.trim().parse().ok())
            .unwrap_or(0);
        pid != 0 && pid != not && proc_state(pid).is_some_and(|s| s != 'Z')
    });
    Daemon::adopt(pid)
}

/// A `pidaudit watch --format json` run in a private PID namespace (so that no other process on
/// the machine is new to it): `setup` runs first in the namespace's shell, then the shell becomes
/// `pidaudit watch --format json ARGS`. Its events are read by a thread.
pub struct NsWatch {
    child: Child,
    rx: std::sync::mpsc::Receiver<String>,
    pub seen: Vec<serde_json::Value>,
}

impl NsWatch {
    pub fn start(setup: &str, args: &[&OsStr], env: &[(&str, &OsStr)]) -> NsWatch {
        let script = format!("{setup}\nexec \"$0\" \"$@\"");
        let mut cmd = unshare_pid();
        cmd.args(["sh", "-c", &script, BIN])
            .args(["watch", "--format", "json"])
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped());
        for (k, v) in env {
            cmd.env(k, v);
        }
        let mut child = cmd.spawn().unwrap();
        let rx = stdout_lines(&mut child);
        let mut w = NsWatch {
            child,
            rx,
            seen: Vec::new(),
        };
        w.until("watching", |e| e["event"] == "watching");
        w
    }

    /// Reads events until one matches `pred` (fails after 30 s or when the watch ends).
    pub fn until(&mut self, what: &str, pred: impl Fn(&serde_json::Value) -> bool) {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.rx.recv_timeout(left) {
                Ok(line) => {
                    let e: serde_json::Value = serde_json::from_str(&line)
                        .unwrap_or_else(|err| panic!("not JSON ({err}): {line}"));
                    self.seen.push(e.clone());
                    if pred(&e) {
                        return;
                    }
                }
                Err(_) => panic!("no {what} within 30 s: {:#?}", self.seen),
            }
        }
    }
}

impl Drop for NsWatch {
    fn drop(&mut self) {
        end_namespace(&mut self.child);
    }
}

/// The lines a child writes to its (piped) standard output, read by a thread as they come.
pub fn stdout_lines(child: &mut Child) -> std::sync::mpsc::Receiver<String> {
    let out = BufReader::new(child.stdout.take().unwrap());
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in out.lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    rx
}

/// Ends a command started with [`unshare_pid`] (or any child): SIGKILL to its children first (a
/// namespace's init: that ends the namespace), then to the command unless it exits by itself once
/// it has reaped them. Killing `unshare` first would leave the init to this machine's PID 1, which
/// may never reap it: a zombie that is PID 1 of a nested namespace, visible to other tests.
pub fn end_namespace(unshare: &mut Child) {
    let pid = unshare.id();
    let children =
        std::fs::read_to_string(format!("/proc/{pid}/task/{pid}/children")).unwrap_or_default();
    for child in children.split_whitespace().filter_map(|c| c.parse().ok()) {
        kill9(child);
    }
    // unshare exits once it has reaped its child; anything else is killed after a while.
    let deadline = Instant::now() + Duration::from_secs(5);
    while Instant::now() < deadline && !children.trim().is_empty() {
        if let Ok(Some(_)) = unshare.try_wait() {
            return;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    let _ = unshare.kill();
    let _ = unshare.wait();
}
