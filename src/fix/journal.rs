//! The journal: every change a `fix` run makes, written before and after it is made, so an operator
//! can see and undo it.
//!
//! The directory (`/var/lib/pidaudit/journal/` unless `--journal DIR`) is opened one component at a
//! time without following links, created mode 0700 when missing, and refused when it is not owned
//! by root (the running user) or is writable by anyone else ([`super::safedir`]). A `lock` file in
//! it is `flock`ed exclusively for a whole apply or undo, so two runs never act at once.
//!
//! Each run is one file, `RUN-ID.jsonl` (created `O_EXCL|O_NOFOLLOW`, mode 0600): one JSON object
//! a line, each with a `record` field:
//! - `run`: `run` (the id: UTC time to the millisecond and a random suffix), `started_at`, `host`,
//!   `version`;
//! - `before` (one per action, all written and fsynced before the first change): `seq`, `action`,
//!   `path`, `dir` (absolute), `name`, `dir_dev`/`dir_ino`, `reason` (the finding code), and
//!   `before`: `dev`, `ino`, `uid`, `gid`, `mode`, `size`, `mtime`, `mtime_nsec` and `content`
//!   (the whole file, escaped losslessly: `\\` and `\xNN`);
//! - `after` (written and fsynced once the changes are made): `seq`, `status` (`done` or
//!   `skipped`), `reason` for a skipped one, `after` (`{"exists": false}` once removed), `at`;
//! - `restored` (appended by `undo`): `seq`, `dev`, `ino`, `at`;
//! - `end`: `at`.
//!
//! A `before` with no `after` means the run ended (was killed) between the two: `undo` restores
//! such a file when nothing stands at its path.

use super::safedir;
use rustix::fd::{AsFd, OwnedFd};
use rustix::fs::{FlockOperation, Mode, OFlags};
use serde_json::{json, Value};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, SystemTime};

/// The journal directory when `--journal` is not given.
pub const DEFAULT_DIR: &str = "/var/lib/pidaudit/journal";
/// How long a run waits for another run to release the journal lock.
pub const LOCK_WAIT: Duration = Duration::from_secs(30);
const LOCK_NAME: &str = "lock";
const SUFFIX: &str = ".jsonl";

/// Why the journal could not be used.
#[derive(Debug)]
pub struct JournalError(pub String);

impl std::fmt::Display for JournalError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for JournalError {}

/// An open, locked journal directory.
#[derive(Debug)]
pub struct Journal {
    pub path: PathBuf,
    dir: OwnedFd,
    _lock: OwnedFd,
}

/// RFC 3339 time, to the millisecond.
pub fn timestamp(t: SystemTime) -> String {
    humantime::format_rfc3339_millis(t).to_string()
}

impl Journal {
    /// Opens (creating when missing) and locks the journal; waits up to [`LOCK_WAIT`] for another
    /// run holding it.
    pub fn open(path: &Path) -> Result<Journal, JournalError> {
        let dir = safedir::open(path, true)
            .map_err(|e| JournalError(format!("journal directory {e}")))?;
        let lock = rustix::fs::openat(
            &dir,
            LOCK_NAME,
            OFlags::RDWR | OFlags::CREATE | OFlags::NOFOLLOW | OFlags::NONBLOCK | OFlags::CLOEXEC,
            Mode::from_raw_mode(0o600),
        )
        .map_err(|e| JournalError(format!("{}/{LOCK_NAME}: {e}", path.display())))?;
        let st = rustix::fs::fstat(&lock)
            .map_err(|e| JournalError(format!("{}/{LOCK_NAME}: {e}", path.display())))?;
        if rustix::fs::FileType::from_raw_mode(st.st_mode) != rustix::fs::FileType::RegularFile {
            return Err(JournalError(format!(
                "{}/{LOCK_NAME}: not a regular file",
                path.display()
            )));
        }
        let started = Instant::now();
        loop {
            match rustix::fs::flock(&lock, FlockOperation::NonBlockingLockExclusive) {
                Ok(()) => break,
                Err(rustix::io::Errno::WOULDBLOCK) if started.elapsed() < LOCK_WAIT => {
                    std::thread::sleep(Duration::from_millis(20));
                }
                Err(rustix::io::Errno::WOULDBLOCK) => {
                    return Err(JournalError(format!(
                        "{}: another pidaudit fix or undo holds the journal lock",
                        path.display()
                    )))
                }
                Err(e) => return Err(JournalError(format!("{}: flock: {e}", path.display()))),
            }
        }
        Ok(Journal {
            path: path.to_path_buf(),
            dir,
            _lock: lock,
        })
    }

    /// Starts a run: a new run file with its `run` record, fsynced with the directory.
    pub fn begin(&self, host: &str) -> Result<Run, JournalError> {
        let now = SystemTime::now();
        let id = new_run_id(now)?;
        let name = format!("{id}{SUFFIX}");
        let fd = rustix::fs::openat(
            &self.dir,
            name.as_str(),
            OFlags::WRONLY | OFlags::CREATE | OFlags::EXCL | OFlags::NOFOLLOW | OFlags::CLOEXEC,
            Mode::from_raw_mode(0o600),
        )
        .map_err(|e| self.err(&name, e))?;
        let mut run = Run {
            id: id.clone(),
            file: std::fs::File::from(fd),
            buf: Vec::new(),
            path: self.path.join(&name),
        };
        run.record(&json!({
            "record": "run",
            "run": id,
            "started_at": timestamp(now),
            "host": host,
            "version": env!("CARGO_PKG_VERSION"),
        }));
        run.sync()?;
        rustix::fs::fsync(&self.dir).map_err(|e| self.err(".", e))?;
        Ok(run)
    }

    fn err(&self, name: &str, e: rustix::io::Errno) -> JournalError {
        JournalError(format!("{}: {e}", self.path.join(name).display()))
    }

    /// The ids of the journal's runs, oldest first.
    pub fn run_ids(&self) -> Result<Vec<String>, JournalError> {
        let mut ids = Vec::new();
        let dir = rustix::fs::openat(
            &self.dir,
            ".",
            OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC,
            Mode::empty(),
        )
        .map_err(|e| self.err(".", e))?;
        for e in rustix::fs::Dir::read_from(&dir).map_err(|e| self.err(".", e))? {
            let e = e.map_err(|e| self.err(".", e))?;
            let name = e.file_name().to_string_lossy();
            if let Some(id) = name.strip_suffix(SUFFIX) {
                if valid_id(id) {
                    ids.push(id.to_string());
                }
            }
        }
        ids.sort();
        Ok(ids)
    }

    /// The records of one run, in order.
    pub fn read(&self, id: &str) -> Result<Vec<Value>, JournalError> {
        if !valid_id(id) {
            return Err(JournalError(format!("'{id}' is not a run id")));
        }
        let name = format!("{id}{SUFFIX}");
        let fd = rustix::fs::openat(
            &self.dir,
            name.as_str(),
            OFlags::RDONLY | OFlags::NOFOLLOW | OFlags::NONBLOCK | OFlags::CLOEXEC,
            Mode::empty(),
        )
        .map_err(|e| match e {
            rustix::io::Errno::NOENT => {
                JournalError(format!("no run {id} in {}", self.path.display()))
            }
            e => self.err(&name, e),
        })?;
        let st = rustix::fs::fstat(&fd).map_err(|e| self.err(&name, e))?;
        if rustix::fs::FileType::from_raw_mode(st.st_mode) != rustix::fs::FileType::RegularFile {
            return Err(JournalError(format!("{name}: not a regular file")));
        }
        let mut text = String::new();
        std::io::Read::read_to_string(&mut std::fs::File::from(fd), &mut text)
            .map_err(|e| JournalError(format!("{name}: {e}")))?;
        // A run killed mid-write may end with a partial line: every complete line counts.
        Ok(text
            .lines()
            .filter_map(|l| serde_json::from_str(l).ok())
            .collect())
    }

    /// Appends records to an existing run and fsyncs them.
    pub fn append(&self, id: &str, records: &[Value]) -> Result<(), JournalError> {
        let name = format!("{id}{SUFFIX}");
        let fd = rustix::fs::openat(
            &self.dir,
            name.as_str(),
            OFlags::WRONLY | OFlags::APPEND | OFlags::NOFOLLOW | OFlags::NONBLOCK | OFlags::CLOEXEC,
            Mode::empty(),
        )
        .map_err(|e| self.err(&name, e))?;
        let mut run = Run {
            id: id.to_string(),
            file: std::fs::File::from(fd),
            buf: Vec::new(),
            path: self.path.join(&name),
        };
        for r in records {
            run.record(r);
        }
        run.sync()
    }

    pub fn dir(&self) -> rustix::fd::BorrowedFd<'_> {
        self.dir.as_fd()
    }
}

/// One run's file: records are buffered and written with one fsync per batch.
#[derive(Debug)]
pub struct Run {
    pub id: String,
    pub path: PathBuf,
    file: std::fs::File,
    buf: Vec<u8>,
}

impl Run {
    /// Buffers a record (written by the next [`Run::sync`]).
    pub fn record(&mut self, v: &Value) {
        let _ = serde_json::to_writer(&mut self.buf, v);
        self.buf.push(b'\n');
    }

    /// Writes the buffered records and fsyncs the file: never skipped.
    pub fn sync(&mut self) -> Result<(), JournalError> {
        let err = |e: std::io::Error| JournalError(format!("{}: {e}", self.path.display()));
        self.file.write_all(&self.buf).map_err(err)?;
        self.buf.clear();
        self.file.sync_all().map_err(err)
    }
}

/// Whether a string has the shape of a run id (so it names a file in the journal and nothing else).
pub fn valid_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= 64
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.')
        && !id.starts_with('.')
}

/// A new run id: the UTC time to the millisecond (so ids sort by time) and 8 random hex digits.
fn new_run_id(now: SystemTime) -> Result<String, JournalError> {
    let t: String = timestamp(now)
        .chars()
        .filter(|c| *c != '-' && *c != ':')
        .collect();
    let mut rnd = [0u8; 4];
    std::io::Read::read_exact(
        &mut std::fs::File::open("/dev/urandom")
            .map_err(|e| JournalError(format!("/dev/urandom: {e}")))?,
        &mut rnd,
    )
    .map_err(|e| JournalError(format!("/dev/urandom: {e}")))?;
    Ok(format!("{t}-{:08x}", u32::from_be_bytes(rnd)))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Run ids sort by time and are accepted as ids; paths and dot names are not ids.
    #[test]
    fn run_ids() {
        let a =
            new_run_id(SystemTime::UNIX_EPOCH + Duration::from_millis(1_700_000_000_000)).unwrap();
        let b =
            new_run_id(SystemTime::UNIX_EPOCH + Duration::from_millis(1_700_000_000_001)).unwrap();
        assert!(a < b, "{a} < {b}");
        assert!(
            valid_id(&a) && a.starts_with("20231114T221320.000Z-"),
            "{a}"
        );
        for bad in ["", "../x", "a/b", ".hidden", "x y"] {
            assert!(!valid_id(bad), "{bad}");
        }
    }
}
