//! The audit pipeline: discover -> read -> snapshot -> checks -> report model.

use crate::checks::{self, Cx};
use crate::config::Config;
use crate::discover::{self, Candidate};
use crate::finding::{Finding, Severity};
use crate::pidfile::{FileFacts, Parsed, ReadOutcome};
use crate::system::{Process, Snapshot};
use serde::Serialize;
use std::collections::BTreeMap;
use std::ffi::OsString;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

/// The verdict on one pidfile.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum State {
    /// The PID is alive and plausibly the writer.
    Running,
    /// No process has the PID.
    Stale,
    /// The PID is a zombie.
    Zombie,
    /// The PID is alive but belongs to a process that started after the file was written.
    Reused,
    /// The content is not a valid PID, or names something no daemon can be (a thread, a kernel
    /// thread, init).
    Invalid,
    /// The file could not be read.
    Unreadable,
    /// The truth could not be determined.
    Unknown,
    /// A FIFO, socket, device, directory or symlink stands at the path.
    NotAFile,
    /// A pidfile named explicitly does not exist.
    Missing,
}

impl State {
    pub const ALL: [State; 9] = [
        State::Running,
        State::Stale,
        State::Zombie,
        State::Reused,
        State::Invalid,
        State::Unreadable,
        State::Unknown,
        State::NotAFile,
        State::Missing,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            State::Running => "running",
            State::Stale => "stale",
            State::Zombie => "zombie",
            State::Reused => "reused",
            State::Invalid => "invalid",
            State::Unreadable => "unreadable",
            State::Unknown => "unknown",
            State::NotAFile => "not-a-file",
            State::Missing => "missing",
        }
    }
}

/// One pidfile as it moves through the checks.
#[derive(Debug)]
pub struct Entry {
    pub path: PathBuf,
    pub name: OsString,
    pub explicit: bool,
    pub read: ReadOutcome,
    pub parsed: Option<Parsed>,
    /// The valid PID the file names.
    pub pid: Option<u32>,
    /// The live process with that PID.
    pub process: Option<Arc<Process>>,
    /// Set when the PID is a thread of this process.
    pub thread_of: Option<i32>,
    pub state: State,
    pub findings: Vec<Finding>,
    /// The locks on the file and their resolved holders (regular files, when `/proc/locks` was read).
    pub lock: Option<crate::system::holders::FileLocks>,
    /// The directory that holds the pidfile, opened on demand (the trust check walks up from it);
    /// `None` when it does not exist.
    pub dir: Option<Arc<crate::discover::Dir>>,
    /// Whether repairs may act on this pidfile (set by the trust check).
    pub trusted: bool,
    /// The codes that make it untrusted.
    pub trust_reasons: Vec<&'static str>,
}

impl Entry {
    pub fn new(candidate: &Candidate, read: ReadOutcome) -> Entry {
        Entry::blank(
            candidate.path.clone(),
            candidate.name.clone(),
            candidate.explicit,
            read,
            Some(Arc::clone(&candidate.dir)),
        )
    }

    /// A file named explicitly whose directory does not exist.
    pub fn missing(path: &std::path::Path) -> Entry {
        let name = path.file_name().unwrap_or_default().to_os_string();
        Entry::blank(path.to_path_buf(), name, true, ReadOutcome::Vanished, None)
    }

    fn blank(
        path: PathBuf,
        name: OsString,
        explicit: bool,
        read: ReadOutcome,
        dir: Option<Arc<crate::discover::Dir>>,
    ) -> Entry {
        Entry {
            path,
            name,
            explicit,
            read,
            parsed: None,
            pid: None,
            process: None,
            thread_of: None,
            state: State::Unknown,
            findings: Vec::new(),
            lock: None,
            dir,
            trusted: false,
            trust_reasons: Vec::new(),
        }
    }

    /// The `fstat` facts of the file whose content is judged (a symlink's target when it was read
    /// through a safe chain, else what stands at the path), when it could be examined.
    pub fn facts(&self) -> Option<&FileFacts> {
        if let ReadOutcome::Symlink {
            chase: crate::pidfile::Chase::Followed { outcome, .. },
            ..
        } = &self.read
        {
            if let ReadOutcome::Content { facts, .. } | ReadOutcome::Unstable { facts, .. } =
                &**outcome
            {
                return Some(facts);
            }
        }
        match &self.read {
            ReadOutcome::Content { facts, .. }
            | ReadOutcome::NotAFile { facts }
            | ReadOutcome::Symlink { facts, .. }
            | ReadOutcome::Unstable { facts, .. } => Some(facts),
            ReadOutcome::Vanished | ReadOutcome::Error { .. } => None,
        }
    }
}

/// What a report shows of a process.
#[derive(Clone, Debug, Serialize)]
pub struct ProcessInfo {
    pub pid: i32,
    pub ppid: i32,
    pub state: String,
    pub comm: String,
    /// Read only when a check needed it, or with `--verbose`.
    pub exe: Option<String>,
    pub cmdline: Option<Vec<String>>,
    pub uid: Option<u32>,
    /// Unix seconds.
    pub start_time: Option<f64>,
}

/// What a report shows of a pidfile.
#[derive(Clone, Debug, Serialize)]
pub struct PidfileReport {
    pub path: String,
    pub state: State,
    pub pid: Option<u32>,
    pub file: Option<FileFacts>,
    pub process: Option<ProcessInfo>,
    pub lock: Option<crate::system::holders::LockReport>,
    pub findings: Vec<Finding>,
    /// Whether repairs may act on this pidfile.
    pub trusted: bool,
    /// The finding codes that make it untrusted (all of them, whatever `--select`/`--ignore` show).
    pub trust_reasons: Vec<&'static str>,
}

/// Everything a reporter renders.
#[derive(Clone, Debug)]
pub struct Report {
    pub host: String,
    pub generated_at: SystemTime,
    pub duration: Duration,
    pub roots: Vec<PathBuf>,
    pub pidfiles: Vec<PidfileReport>,
    /// Findings not about one pidfile (unreadable directories, /proc problems).
    pub system_findings: Vec<Finding>,
}

impl Report {
    /// Every finding, pidfile findings first.
    pub fn findings(&self) -> impl Iterator<Item = &Finding> {
        self.pidfiles
            .iter()
            .flat_map(|p| p.findings.iter())
            .chain(self.system_findings.iter())
    }

    pub fn by_state(&self) -> BTreeMap<&'static str, usize> {
        let mut m: BTreeMap<&'static str, usize> =
            State::ALL.iter().map(|s| (s.as_str(), 0)).collect();
        for p in &self.pidfiles {
            *m.entry(p.state.as_str()).or_default() += 1;
        }
        m
    }

    pub fn by_severity(&self) -> BTreeMap<&'static str, usize> {
        let mut m: BTreeMap<&'static str, usize> =
            Severity::ALL.iter().map(|s| (s.as_str(), 0)).collect();
        for f in self.findings() {
            *m.entry(f.severity.as_str()).or_default() += 1;
        }
        m
    }

    /// The most severe finding, if any.
    pub fn worst(&self) -> Option<Severity> {
        self.findings().map(|f| f.severity).max()
    }
}

/// Runs the whole audit.
pub fn run(config: &Config) -> Report {
    let started = Instant::now();
    let generated_at = SystemTime::now();
    // The /proc snapshot and the pidfiles are independent: read them at the same time, so the serial
    // parts of each (the directory walk, listing /proc) overlap with the other's reads. A process
    // started meanwhile is looked up in /proc directly (`Snapshot::lookup`).
    let (discovery, reads, snapshot) = std::thread::scope(|scope| {
        let snapshot = scope.spawn(|| Snapshot::load(&config.proc_root));
        let discovery = discover::discover(&config.discover);
        let reads = crate::pidfile::read_candidates(&discovery.candidates);
        let snapshot = snapshot
            .join()
            .unwrap_or_else(|e| std::panic::resume_unwind(e));
        (discovery, reads, snapshot)
    });
    snapshot.set_eager(config.details);
    let cx = Cx {
        snapshot: &snapshot,
        config,
        trust: Default::default(),
    };
    let mut entries: Vec<Entry> =
        Vec::with_capacity(discovery.candidates.len() + discovery.missing.len());
    entries.extend(
        discovery
            .candidates
            .iter()
            .zip(reads)
            // A walked file that vanished before it was opened was removed by its daemon: nothing to audit.
            .filter(|(c, r)| c.explicit || !matches!(r, ReadOutcome::Vanished))
            .map(|(c, r)| Entry::new(c, r)),
    );
    entries.extend(discovery.missing.iter().map(|p| Entry::missing(p)));
    entries.sort_by(|a, b| a.path.cmp(&b.path));
    // Checks and reports read process details (status, exe, cmdline) lazily: several system calls
    // per process, worth both cores.
    crate::parallel::for_each_mut(&mut entries, |entry| {
        checks::check_pidfile(&cx, entry);
        // Most pidfiles have no finding or one: no spare capacity kept for the run.
        entry.findings.shrink_to_fit();
        // The report shows every process's details: read them here, on the threads already running.
        if let (true, Some(p)) = (config.details, &entry.process) {
            snapshot.details(p);
        }
    });
    let across = checks::check_across(&cx, &mut entries);
    checks::check_entries(&cx, &mut entries);
    let mut system_findings = checks::check_system(&cx, &entries);
    system_findings.extend(across);
    for p in &discovery.problems {
        system_findings.push(
            Finding::new(
                "unreadable",
                p.path.display().to_string(),
                format!("cannot {} {}: {}", p.op, p.path.display(), p.errno),
            )
            .with("operation", p.op)
            .with("errno", p.errno.raw_os_error()),
        );
    }
    if let Some(errno) = snapshot.proc_error {
        system_findings.push(
            Finding::new(
                "process-unknown",
                config.proc_root.display().to_string(),
                format!("cannot read {}: {errno}", config.proc_root.display()),
            )
            .with("errno", errno.raw_os_error()),
        );
    }
    // Built on this thread, sized once, findings moved rather than copied: the details it shows
    // were read in the check pass, and the copies of a parallel map (its blocks, then the whole)
    // would double the largest allocation of the run.
    let pidfiles: Vec<PidfileReport> = entries
        .iter_mut()
        .map(|e| {
            let mut r = report_entry(&snapshot, config, e);
            r.findings = std::mem::take(&mut e.findings);
            r
        })
        .collect();
    drop(entries);
    let mut report = Report {
        host: rustix::system::uname()
            .nodename()
            .to_string_lossy()
            .into_owned(),
        generated_at,
        duration: Duration::ZERO,
        roots: discovery.roots,
        pidfiles,
        system_findings,
    };
    filter_codes(config, &mut report);
    report.duration = started.elapsed();
    report
}

fn filter_codes(config: &Config, report: &mut Report) {
    let keep = |f: &Finding| {
        config.select.as_ref().is_none_or(|s| s.contains(f.code)) && !config.ignore.contains(f.code)
    };
    for p in &mut report.pidfiles {
        p.findings.retain(keep);
    }
    report.system_findings.retain(keep);
}

fn report_entry(snapshot: &Snapshot, config: &Config, e: &Entry) -> PidfileReport {
    let process = e.process.as_ref().map(|p| {
        let d = if config.details {
            snapshot.details(p)
        } else {
            p.details_if_read()
        };
        ProcessInfo {
            pid: p.stat.pid,
            ppid: p.stat.ppid,
            state: p.stat.state.to_string(),
            comm: p.stat.comm.clone(),
            exe: d.exe.map(|x| x.display().to_string()),
            cmdline: d.cmdline.map(<[String]>::to_vec),
            uid: d.uid(),
            start_time: snapshot
                .start_time(&p.stat)
                .map(|t| (t * 100.0).round() / 100.0),
        }
    });
    PidfileReport {
        path: e.path.display().to_string(),
        state: e.state,
        pid: e.pid,
        file: e.facts().copied(),
        process,
        lock: e.lock.as_ref().map(|l| l.report()),
        findings: Vec::new(),
        trusted: e.trusted,
        trust_reasons: e.trust_reasons.clone(),
    }
}
