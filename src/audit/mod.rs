//! The judged audit: [`judge`] runs discover -> read -> snapshot -> checks -> resolution and keeps
//! everything it judged in an [`Audit`]: the entries with their directory fds, facts, trust
//! verdicts and findings, the system-wide findings, and the snapshot they were judged against.
//! Commands consume it (scan renders it, repair re-verifies and acts on it); reporters never see
//! it, only the render model built from it.

use crate::checks::{self, Cx, Entry};
use crate::config::{CodeFilter, Config};
use crate::discover;
use crate::exit::Tally;
use crate::model::Finding;
use crate::pidfile::ReadOutcome;
use crate::supervise::Supervision;
use crate::system::Snapshot;
use rustix::fd::AsFd;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

/// Everything one audit judged.
#[derive(Debug)]
pub struct Audit {
    pub host: String,
    pub generated_at: SystemTime,
    pub duration: Duration,
    /// The roots that were walked.
    pub roots: Vec<PathBuf>,
    /// Every pidfile, sorted by path, with its final facts and findings (before `--select` and
    /// `--ignore`, which only filter what is shown).
    pub entries: Vec<Entry>,
    /// Findings about no single pidfile (unreadable directories, `/proc` problems, lock tables).
    pub system_findings: Vec<Finding>,
    /// The process table the entries were judged against.
    pub snapshot: Snapshot,
    /// Whether every live process's details were read for the report (`--verbose`).
    pub details: bool,
    /// The codes shown (`--select`, `--ignore`); the entries keep every finding.
    pub filter: CodeFilter,
    /// Every directory the walk listed (`watch` watches them).
    pub dirs: Vec<std::sync::Arc<discover::Dir>>,
    /// The directories walked as roots.
    pub root_dirs: Vec<std::sync::Arc<discover::Dir>>,
}

impl Audit {
    /// The findings shown about one entry.
    pub fn shown<'a>(
        &'a self,
        findings: &'a [Finding],
    ) -> impl Iterator<Item = &'a Finding> + Clone {
        findings.iter().filter(|f| self.filter.keeps(f.code))
    }

    /// What the exit policies need of the findings shown.
    pub fn tally(&self) -> Tally {
        let mut t = Tally::default();
        for e in &self.entries {
            t.pidfile(self.shown(&e.findings).map(|f| f.severity));
        }
        for f in self.shown(&self.system_findings) {
            t.system(f.severity);
        }
        t
    }
}

/// Where pidfiles are looked for when only some paths are audited, to know which processes other
/// pidfiles track: the default roots, which hold the usual service directories (runit's,
/// daemontools', s6's).
pub const TRACKING_ROOTS: [&str; 8] = discover::DEFAULT_ROOTS;

/// The PIDs that the machine's other pidfiles record (with their files' mtimes), when only some
/// paths are audited: a per-service check (`pidaudit /run/nginx.pid`) must not call a process
/// another pidfile tracks a duplicate or an orphan. Only read and parsed: no liveness, lock or
/// identity work. Only for the live `/proc` (a fake or foreign one has other PIDs).
fn tracked_elsewhere(
    config: &Config,
    snapshot: &Snapshot,
    audited: &[Entry],
) -> Vec<(i32, f64, u32)> {
    if config.discover.paths.is_empty() || !snapshot.live {
        return Vec::new();
    }
    let roots: Vec<PathBuf> = TRACKING_ROOTS
        .iter()
        .map(PathBuf::from)
        .filter(|p| std::fs::symlink_metadata(p).is_ok_and(|m| m.is_dir()))
        .collect();
    if roots.is_empty() {
        return Vec::new();
    }
    let found = discover::discover(&discover::Options {
        paths: roots,
        max_depth: discover::DEFAULT_MAX_DEPTH,
        exclude: config.discover.exclude.clone(),
    });
    let audited: std::collections::HashSet<(u64, u64)> = audited
        .iter()
        .filter_map(|e| e.facts().map(|f| (f.dev, f.ino)))
        .collect();
    let reads = crate::pidfile::read_candidates(&found.candidates);
    found
        .candidates
        .iter()
        .zip(reads)
        .filter_map(|(c, r)| match r {
            // A file others may write proves nothing about what it names.
            ReadOutcome::Content { facts, bytes }
                if !audited.contains(&(facts.dev, facts.ino)) && facts.mode & 0o022 == 0 =>
            {
                let format = crate::pidfile::Format::for_name(&c.name);
                let pid = if c.name == "status" {
                    // A supervisor's binary status (discovery lists `status` only in `supervise/`).
                    crate::supervise::parse_status(&bytes)
                        .ok()
                        .and_then(|s| s.pid)
                } else {
                    crate::pidfile::parse(&bytes, facts.size, format, snapshot.pid_max).pid()
                };
                pid.map(|pid| (pid as i32, facts.mtime_f64(), facts.uid))
            }
            _ => None,
        })
        .collect()
}

/// What the supervisor keeps beside a candidate in its `supervise/` directory, for runit's `pid`
/// and the `status` of daemontools and s6 (see [`crate::supervise`]).
fn supervision_of(c: &discover::Candidate) -> Option<Arc<Supervision>> {
    let parent = c.path.parent()?;
    if !discover::is_supervise_dir(parent) || !(c.name == "pid" || c.name == "status") {
        return None;
    }
    let fd = c.dir.open().ok()?;
    let service = c.dir.parent().and_then(|p| p.open().ok());
    Some(Arc::new(crate::supervise::read(
        &*fd,
        parent,
        &c.name,
        service.as_deref().map(AsFd::as_fd),
    )))
}

/// Runs the whole audit.
pub fn judge(config: &Config) -> Audit {
    let started = Instant::now();
    let generated_at = SystemTime::now();
    // The /proc snapshot and the pidfiles are independent: read them at the same time, so the serial
    // parts of each (the directory walk, listing /proc) overlap with the other's reads. A process
    // started meanwhile is looked up in /proc directly (`Snapshot::lookup`).
    let (discovery, reads, snapshot, units) = std::thread::scope(|scope| {
        let snapshot = scope.spawn(|| Snapshot::load(&config.proc_root));
        let units = scope.spawn(|| {
            crate::units::survey(
                &crate::units::unit_dirs(),
                crate::units::cgroup2_root().as_deref(),
            )
        });
        let mut discovery = discover::discover(&config.discover);
        let units = units
            .join()
            .unwrap_or_else(|e| std::panic::resume_unwind(e));
        // A unit's pidfile outside the walked roots is audited too (with no PATH given).
        if config.discover.paths.is_empty() {
            let known: std::collections::HashSet<PathBuf> = discovery
                .candidates
                .iter()
                .map(|c| c.path.clone())
                .collect();
            let extra: Vec<discover::Candidate> = units
                .units
                .iter()
                .filter(|u| !known.contains(&u.pidfile))
                .filter_map(|u| discover::candidate_at(&u.pidfile))
                .collect();
            discovery.candidates.extend(extra);
            discovery.candidates.sort_by(|a, b| a.path.cmp(&b.path));
            discovery.candidates.dedup_by(|a, b| a.path == b.path);
        }
        let reads = crate::pidfile::read_candidates(&discovery.candidates);
        let snapshot = snapshot
            .join()
            .unwrap_or_else(|e| std::panic::resume_unwind(e));
        (discovery, reads, snapshot, units)
    });
    let unit_notes = if config.discover.paths.is_empty() {
        checks::units::survey_findings(&units)
    } else {
        Vec::new()
    };
    finish(
        config,
        (started, generated_at),
        Judged {
            candidates: discovery.candidates,
            reads,
            missing: discovery.missing,
            snapshot,
            units,
        },
        Scope {
            notes: unit_notes,
            others: None,
            root_dirs: discovery.root_dirs,
            problems: discovery.problems,
            roots: discovery.roots,
            dirs: discovery.dirs,
        },
    )
}

/// What a partial audit ([`judge_some`]) is told of the pidfiles it does not judge, and of the
/// whole audit it stands in for.
#[derive(Default)]
pub struct Others {
    /// The PIDs those pidfiles record, with their files' modification times and owners (only
    /// those whose daemon the whole audit counts as tracked), as [`Cx::elsewhere`].
    pub elsewhere: Vec<(i32, f64, u32)>,
    /// Their files (device, inode), as [`Cx::files_elsewhere`].
    pub files: std::collections::HashSet<(u64, u64)>,
    /// The directories the whole audit walked as roots.
    pub root_dirs: Vec<Arc<discover::Dir>>,
}

/// Judges only the pidfiles at `paths` (those that exist; each as a walk would have found it),
/// against a fresh process table, with what `others` says of the rest: the same verdicts a whole
/// audit gives those pidfiles, for `watch`, which keeps the others' from its last audit. Its
/// system findings are only those of this run (a `/proc` that could not be read).
pub fn judge_some(config: &Config, paths: &[PathBuf], others: Others) -> Audit {
    let started = Instant::now();
    let generated_at = SystemTime::now();
    let (candidates, reads, snapshot, units) = std::thread::scope(|scope| {
        let snapshot = scope.spawn(|| Snapshot::load(&config.proc_root));
        let units = crate::units::survey(
            &crate::units::unit_dirs(),
            crate::units::cgroup2_root().as_deref(),
        );
        let candidates: Vec<discover::Candidate> = paths
            .iter()
            .filter_map(|p| discover::candidate_at(p))
            .collect();
        let reads = crate::pidfile::read_candidates(&candidates);
        let snapshot = snapshot
            .join()
            .unwrap_or_else(|e| std::panic::resume_unwind(e));
        (candidates, reads, snapshot, units)
    });
    finish(
        config,
        (started, generated_at),
        Judged {
            candidates,
            reads,
            missing: Vec::new(),
            snapshot,
            units,
        },
        Scope {
            notes: Vec::new(),
            root_dirs: others.root_dirs.clone(),
            others: Some(others),
            problems: Vec::new(),
            roots: Vec::new(),
            dirs: Vec::new(),
        },
    )
}

/// What was read for an audit, before the checks.
struct Judged {
    candidates: Vec<discover::Candidate>,
    reads: Vec<ReadOutcome>,
    missing: Vec<PathBuf>,
    snapshot: Snapshot,
    units: crate::units::Survey,
}

/// What an audit covers: the whole walk, or some pidfiles and what is known of the others.
struct Scope {
    /// Findings of the audit's own (the unit survey's).
    notes: Vec<Finding>,
    others: Option<Others>,
    root_dirs: Vec<Arc<discover::Dir>>,
    problems: Vec<discover::WalkProblem>,
    roots: Vec<PathBuf>,
    dirs: Vec<Arc<discover::Dir>>,
}

/// Builds the entries of what was read, runs the checks, and keeps it all in an [`Audit`].
fn finish(
    config: &Config,
    (started, generated_at): (Instant, SystemTime),
    judged: Judged,
    scope: Scope,
) -> Audit {
    let Judged {
        candidates,
        reads,
        missing,
        snapshot,
        units,
    } = judged;
    let units: std::collections::HashMap<PathBuf, Arc<crate::units::Unit>> = units
        .units
        .into_iter()
        .map(|u| (u.pidfile.clone(), Arc::new(u)))
        .collect();
    snapshot.set_eager(config.details);
    let mut entries: Vec<Entry> = Vec::with_capacity(candidates.len() + missing.len());
    let supervisions = crate::util::parallel::map(&candidates, supervision_of);
    entries.extend(
        candidates
            .iter()
            .zip(reads)
            .zip(supervisions)
            // A walked file that vanished before it was opened was removed by its daemon: nothing to audit.
            .filter(|((c, r), _)| c.explicit || !matches!(r, ReadOutcome::Vanished))
            .map(|((c, r), sv)| {
                let mut e = Entry::new(c, r);
                e.supervision = sv;
                e.unit = units.get(&c.path).cloned();
                e
            }),
    );
    entries.extend(missing.iter().map(|p| Entry::missing(p)));
    entries.sort_by(|a, b| a.path.cmp(&b.path));
    let system_findings = {
        let cx = Cx {
            snapshot: &snapshot,
            config,
            trust: Default::default(),
            elsewhere: match &scope.others {
                Some(o) => o.elsewhere.clone(),
                None => tracked_elsewhere(config, &snapshot, &entries),
            },
            files_elsewhere: scope.others.map(|o| o.files).unwrap_or_default(),
            root_dirs: scope.root_dirs.clone(),
        };
        let mut system = checks::run(&cx, &mut entries, &scope.problems);
        system.extend(scope.notes);
        system
    };
    Audit {
        host: rustix::system::uname()
            .nodename()
            .to_string_lossy()
            .into_owned(),
        generated_at,
        duration: started.elapsed(),
        roots: scope.roots,
        entries,
        system_findings,
        snapshot,
        details: config.details,
        filter: config.filter.clone(),
        dirs: scope.dirs,
        root_dirs: scope.root_dirs,
    }
}
