//! The events `watch` emits, and the model they are the differences of.
//!
//! A [`Model`] is what one judged audit showed, reduced to what the events speak of: for each
//! pidfile its file identity (device, inode, size, mtime), PID, state and shown findings; and the
//! system findings. [`diff`] compares two models and says what changed, one event per change,
//! pidfiles in path order. It does no I/O.

use crate::audit::Audit;
use crate::model::{Code, Severity, State};
use serde::Serialize;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::time::SystemTime;

/// What happened.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Kind {
    /// The first audit is done and the watches are set (its findings came just before).
    Watching,
    /// A finding appeared (on a pidfile, or about the system).
    FindingRaised,
    /// A finding went away.
    FindingCleared,
    /// A pidfile appeared.
    PidfileCreated,
    /// A pidfile was written again, or replaced by another file.
    PidfileRewritten,
    /// A pidfile went away.
    PidfileRemoved,
    /// A daemon a pidfile names exited (its pidfd became readable).
    DaemonExited,
    /// The kernel's inotify queue overflowed: events were lost, everything was audited again.
    Overflow,
    /// Directories or daemons that cannot be watched (caps, descriptor or watch limits): they are
    /// audited every interval only.
    Unwatched,
    /// A signal ended the watch.
    Stopped,
}

impl Kind {
    pub const ALL: [Kind; 10] = [
        Kind::Watching,
        Kind::FindingRaised,
        Kind::FindingCleared,
        Kind::PidfileCreated,
        Kind::PidfileRewritten,
        Kind::PidfileRemoved,
        Kind::DaemonExited,
        Kind::Overflow,
        Kind::Unwatched,
        Kind::Stopped,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Watching => "watching",
            Kind::FindingRaised => "finding-raised",
            Kind::FindingCleared => "finding-cleared",
            Kind::PidfileCreated => "pidfile-created",
            Kind::PidfileRewritten => "pidfile-rewritten",
            Kind::PidfileRemoved => "pidfile-removed",
            Kind::DaemonExited => "daemon-exited",
            Kind::Overflow => "overflow",
            Kind::Unwatched => "unwatched",
            Kind::Stopped => "stopped",
        }
    }
}

/// One event.
#[derive(Clone, Debug, Serialize)]
pub struct Event {
    #[serde(serialize_with = "rfc3339")]
    pub time: SystemTime,
    pub event: Kind,
    /// The pidfile (escaped losslessly, as in the reports), or a system finding's subject, or the
    /// directory that cannot be watched.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pid: Option<u32>,
    /// The pidfile's state after the change.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub state: Option<State>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub code: Option<Code>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub severity: Option<Severity>,
    /// One line, for people.
    pub message: String,
}

fn rfc3339<S: serde::Serializer>(t: &SystemTime, s: S) -> Result<S::Ok, S::Error> {
    s.collect_str(&humantime::format_rfc3339_millis(*t))
}

impl Event {
    pub fn new(event: Kind, message: impl Into<String>) -> Event {
        Event {
            time: SystemTime::now(),
            event,
            path: None,
            pid: None,
            state: None,
            code: None,
            severity: None,
            message: message.into(),
        }
    }

    fn at(mut self, path: &str) -> Event {
        self.path = Some(path.to_string());
        self
    }

    fn finding(mut self, f: &Shown) -> Event {
        self.code = Some(f.code);
        self.severity = Some(f.severity);
        self
    }
}

/// A finding as the model keeps it.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Shown {
    code: Code,
    severity: Severity,
    message: String,
}

/// The file behind a pidfile's path: another inode, size or mtime is a rewrite.
type FileId = (u64, u64, u64, i64, u32);

/// A pidfile's PID, its file's mtime and owner (see [`crate::checks::Cx::elsewhere`]).
pub type Writer = (i32, f64, u32);

/// What the model keeps of one pidfile.
#[derive(Clone, Debug)]
struct Pidfile {
    file: Option<FileId>,
    pid: Option<u32>,
    state: State,
    findings: BTreeMap<&'static str, Shown>,
    /// Where it is (the key is its escaped form).
    path: PathBuf,
    /// What a partial audit needs of it: the PID it records with the file's mtime and owner,
    /// when the whole audit counts that process as the daemon it tracks (see
    /// [`crate::audit::Others`]).
    writer: Option<Writer>,
    /// The live daemon it names and that daemon's start time (tracked by pidfd).
    daemon: Option<(u32, u64)>,
    /// Every PID of a file that lists several.
    listed: Vec<u32>,
}

/// What one audit showed, as the events compare it.
#[derive(Clone, Debug, Default)]
pub struct Model {
    pidfiles: BTreeMap<String, Pidfile>,
    /// System findings by subject and code.
    system: BTreeMap<(String, &'static str), Shown>,
}

impl Model {
    /// The model of a judged audit (the findings `--select`/`--ignore` show).
    pub fn of(audit: &Audit) -> Model {
        let shown = |f: &crate::model::Finding| Shown {
            code: f.code,
            severity: f.severity,
            message: f.message.clone(),
        };
        let pidfiles = audit
            .entries
            .iter()
            .map(|e| {
                let file = e
                    .facts()
                    .map(|f| (f.dev, f.ino, f.size, f.mtime, f.mtime_nsec));
                let findings = audit
                    .shown(&e.findings)
                    .map(|f| (f.code.as_str(), shown(f)))
                    .collect();
                // The whole audit counts its daemon as tracked (see
                // `checks::instances::tracked_daemon`; no manifest: a partial audit needs none).
                let tracked = e.state() == State::Running
                    && !e
                        .findings
                        .iter()
                        .any(|f| f.code == crate::checks::name::NAME_MISMATCH);
                let writer = match (e.facts(), e.pid) {
                    (Some(f), Some(pid)) if tracked => Some((pid as i32, f.mtime_f64(), f.uid)),
                    _ => None,
                };
                let daemon = e
                    .process
                    .as_ref()
                    .filter(|p| {
                        audit.snapshot.live && !audit.snapshot.is_dead(p) && !p.stat.is_zombie()
                    })
                    .map(|p| (p.pid() as u32, p.stat.starttime));
                (
                    e.subject(),
                    Pidfile {
                        file,
                        pid: e.pid,
                        state: e.state(),
                        findings,
                        path: e.path.clone(),
                        writer,
                        daemon,
                        listed: e.listed.iter().map(|l| l.pid).collect(),
                    },
                )
            })
            .collect();
        let system = audit
            .shown(&audit.system_findings)
            .map(|f| ((f.subject.clone(), f.code.as_str()), shown(f)))
            .collect();
        Model { pidfiles, system }
    }

    /// Every PID the pidfiles name (as their PID, or among the PIDs they list).
    pub fn named_pids(&self) -> Vec<u32> {
        let mut pids: Vec<u32> = self
            .pidfiles
            .values()
            .flat_map(|p| p.pid.into_iter().chain(p.listed.iter().copied()))
            .collect();
        pids.sort_unstable();
        pids.dedup();
        pids
    }

    /// Whether a pidfile shows a finding of `code`.
    pub fn shows(&self, code: Code) -> bool {
        self.pidfiles
            .values()
            .any(|p| p.findings.contains_key(code.as_str()))
    }

    /// How many pidfiles the model holds.
    pub fn len(&self) -> usize {
        self.pidfiles.len()
    }

    pub fn is_empty(&self) -> bool {
        self.pidfiles.is_empty()
    }

    /// The pidfiles that name `pid`.
    pub fn naming(&self, pid: u32) -> impl Iterator<Item = &str> {
        self.pidfiles
            .iter()
            .filter(move |(_, p)| p.pid == Some(pid))
            .map(|(path, _)| path.as_str())
    }

    /// The model without its system findings (a partial audit's: they are the whole audit's).
    pub fn without_system(mut self) -> Model {
        self.system.clear();
        self
    }

    /// The paths of the pidfiles that name `pid`.
    pub fn paths_naming(&self, pid: u32) -> Vec<PathBuf> {
        self.pidfiles
            .values()
            .filter(|p| p.pid == Some(pid))
            .map(|p| p.path.clone())
            .collect()
    }

    /// Whether the model holds a pidfile at `path`.
    pub fn holds(&self, path: &Path) -> bool {
        self.pidfiles.contains_key(&crate::model::text::path(path))
    }

    /// The live daemons the pidfiles name, with their start times (what pidfds should track).
    pub fn daemons(&self) -> HashMap<u32, u64> {
        self.pidfiles.values().filter_map(|p| p.daemon).collect()
    }

    /// What a partial audit of `paths` is told of the other pidfiles.
    pub fn others(&self, paths: &[PathBuf]) -> (Vec<Writer>, HashSet<(u64, u64)>) {
        let skip: HashSet<String> = paths.iter().map(|p| crate::model::text::path(p)).collect();
        let rest = self.pidfiles.iter().filter(|(k, _)| !skip.contains(*k));
        let elsewhere = rest.clone().filter_map(|(_, p)| p.writer).collect();
        let files = rest
            .filter_map(|(_, p)| p.file.map(|(dev, ino, ..)| (dev, ino)))
            .collect();
        (elsewhere, files)
    }

    /// The part of the model about the pidfiles at `paths` (no system findings).
    pub fn part(&self, paths: &[PathBuf]) -> Model {
        let pidfiles = paths
            .iter()
            .map(|p| crate::model::text::path(p))
            .filter_map(|k| self.pidfiles.get(&k).map(|p| (k, p.clone())))
            .collect();
        Model {
            pidfiles,
            system: BTreeMap::new(),
        }
    }

    /// Replaces what the model says of the pidfiles at `paths` with `part` (a partial audit's
    /// model of them: a pidfile it does not hold is gone). The system findings stay.
    pub fn patch(&mut self, paths: &[PathBuf], part: Model) {
        for p in paths {
            self.pidfiles.remove(&crate::model::text::path(p));
        }
        self.pidfiles.extend(part.pidfiles);
    }

    /// Whether two models show the same pidfiles, states, PIDs and findings (file identities
    /// aside): what a fresh audit is compared with after a storm.
    pub fn same_verdicts(&self, other: &Model) -> bool {
        self.system == other.system
            && self.pidfiles.len() == other.pidfiles.len()
            && self
                .pidfiles
                .iter()
                .zip(&other.pidfiles)
                .all(|((a, pa), (b, pb))| {
                    a == b && pa.pid == pb.pid && pa.state == pb.state && pa.findings == pb.findings
                })
    }
}

/// The events that turn `old` into `new`, in order: per pidfile (in path order) its creation,
/// rewrite or removal, then its findings cleared and raised; then the system findings. `initial`:
/// the first audit, whose pidfiles are not news (only their findings are reported).
pub fn diff(old: &Model, new: &Model, initial: bool) -> Vec<Event> {
    let mut out = Vec::new();
    let empty = BTreeMap::new();
    let mut paths: Vec<&String> = old.pidfiles.keys().chain(new.pidfiles.keys()).collect();
    paths.sort();
    paths.dedup();
    for path in paths {
        let (before, after) = (old.pidfiles.get(path), new.pidfiles.get(path));
        let change = match (before, after) {
            (None, Some(a)) if !initial && a.file.is_some() => Some(
                Event::new(
                    Kind::PidfileCreated,
                    format!("{} {}", a.state.as_str(), pid_text(a.pid)),
                )
                .at(path),
            ),
            (Some(b), Some(a)) if b.file != a.file && a.file.is_some() && b.file.is_some() => {
                let message = if b.pid == a.pid {
                    format!("{} {}", a.state.as_str(), pid_text(a.pid))
                } else {
                    format!(
                        "{} {} (was {})",
                        a.state.as_str(),
                        pid_text(a.pid),
                        pid_text(b.pid)
                    )
                };
                Some(Event::new(Kind::PidfileRewritten, message).at(path))
            }
            (Some(b), Some(a)) if b.file.is_some() && a.file.is_none() => Some(
                Event::new(
                    Kind::PidfileRemoved,
                    format!("{} (was {})", a.state.as_str(), pid_text(b.pid)),
                )
                .at(path),
            ),
            (Some(b), Some(a)) if b.file.is_none() && a.file.is_some() => Some(
                Event::new(
                    Kind::PidfileCreated,
                    format!("{} {}", a.state.as_str(), pid_text(a.pid)),
                )
                .at(path),
            ),
            (Some(b), None) => {
                Some(Event::new(Kind::PidfileRemoved, format!("was {}", pid_text(b.pid))).at(path))
            }
            _ => None,
        };
        let pid = after.or(before).and_then(|p| p.pid);
        let state = after.map(|a| a.state);
        out.extend(change.map(|mut e| {
            e.pid = pid;
            e.state = state;
            e
        }));
        let bf = before.map_or(&empty, |b| &b.findings);
        let af = after.map_or(&empty, |a| &a.findings);
        for (kind, f) in findings_changed(bf, af) {
            let mut e = Event::new(kind, f.message.clone()).at(path).finding(f);
            e.pid = pid;
            e.state = state;
            out.push(e);
        }
    }
    for (kind, (subject, _), f) in changed(&old.system, &new.system) {
        out.push(Event::new(kind, f.message.clone()).at(subject).finding(f));
    }
    out
}

/// The findings cleared (in `old` and not in `new` with the same severity), then those raised.
fn changed<'a, K: Ord>(
    old: &'a BTreeMap<K, Shown>,
    new: &'a BTreeMap<K, Shown>,
) -> impl Iterator<Item = (Kind, &'a K, &'a Shown)> {
    let gone = |from: &'a BTreeMap<K, Shown>, to: &'a BTreeMap<K, Shown>, kind: Kind| {
        from.iter()
            .filter(move |(k, f)| to.get(k).is_none_or(|g| g.severity != f.severity))
            .map(move |(k, f)| (kind, k, f))
    };
    gone(old, new, Kind::FindingCleared).chain(gone(new, old, Kind::FindingRaised))
}

fn findings_changed<'a>(
    old: &'a BTreeMap<&'static str, Shown>,
    new: &'a BTreeMap<&'static str, Shown>,
) -> impl Iterator<Item = (Kind, &'a Shown)> {
    changed(old, new).map(|(kind, _, f)| (kind, f))
}

fn pid_text(pid: Option<u32>) -> String {
    match pid {
        Some(p) => format!("PID {p}"),
        None => "no PID".to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::checks::liveness::STALE;

    fn pidfile(file: Option<FileId>, pid: Option<u32>, state: State, codes: &[Code]) -> Pidfile {
        Pidfile {
            path: PathBuf::new(),
            writer: None,
            daemon: None,
            listed: Vec::new(),
            file,
            pid,
            state,
            findings: codes
                .iter()
                .map(|&code| {
                    (
                        code.as_str(),
                        Shown {
                            code,
                            severity: code.default_severity(),
                            message: format!("{} here", code.as_str()),
                        },
                    )
                })
                .collect(),
        }
    }

    fn model(entries: Vec<(&str, Pidfile)>) -> Model {
        Model {
            pidfiles: entries
                .into_iter()
                .map(|(p, f)| (p.to_string(), f))
                .collect(),
            system: BTreeMap::new(),
        }
    }

    fn kinds(events: &[Event]) -> Vec<(Kind, Option<&str>)> {
        events
            .iter()
            .map(|e| (e.event, e.path.as_deref()))
            .collect()
    }

    /// The PIDs a model names: each file's PID and every PID a file lists; and the codes it shows.
    #[test]
    fn names_and_shows() {
        let mut several = pidfile(None, Some(7), State::Running, &[]);
        several.listed = vec![7, 8];
        let m = model(vec![
            ("/run/a.pid", pidfile(None, Some(5), State::Stale, &[STALE])),
            ("/run/b.pid", several),
        ]);
        assert_eq!(m.named_pids(), vec![5, 7, 8]);
        assert!(m.shows(STALE));
        assert!(!m.shows(crate::checks::supervised::FLAPPING));
    }

    #[test]
    fn the_first_audit_reports_findings_only() {
        let new = model(vec![
            (
                "/run/a.pid",
                pidfile(Some((1, 1, 5, 0, 0)), Some(9), State::Stale, &[STALE]),
            ),
            (
                "/run/b.pid",
                pidfile(Some((1, 2, 5, 0, 0)), Some(8), State::Running, &[]),
            ),
        ]);
        let events = diff(&Model::default(), &new, true);
        assert_eq!(
            kinds(&events),
            vec![(Kind::FindingRaised, Some("/run/a.pid"))]
        );
        assert_eq!(events[0].code, Some(STALE));
        assert_eq!(events[0].pid, Some(9));
    }

    #[test]
    fn a_daemon_dying_and_restarting() {
        let running = model(vec![(
            "/run/a.pid",
            pidfile(Some((1, 1, 5, 0, 0)), Some(9), State::Running, &[]),
        )]);
        let stale = model(vec![(
            "/run/a.pid",
            pidfile(Some((1, 1, 5, 0, 0)), Some(9), State::Stale, &[STALE]),
        )]);
        let restarted = model(vec![(
            "/run/a.pid",
            pidfile(Some((1, 3, 6, 1, 0)), Some(12), State::Running, &[]),
        )]);
        assert_eq!(
            kinds(&diff(&running, &stale, false)),
            vec![(Kind::FindingRaised, Some("/run/a.pid"))]
        );
        let events = diff(&stale, &restarted, false);
        assert_eq!(
            kinds(&events),
            vec![
                (Kind::PidfileRewritten, Some("/run/a.pid")),
                (Kind::FindingCleared, Some("/run/a.pid")),
            ]
        );
        assert_eq!(events[0].message, "running PID 12 (was PID 9)");
        assert!(diff(&restarted, &restarted, false).is_empty());
    }

    #[test]
    fn created_and_removed() {
        let none = Model::default();
        let one = model(vec![(
            "/run/a.pid",
            pidfile(Some((1, 1, 5, 0, 0)), Some(9), State::Stale, &[STALE]),
        )]);
        assert_eq!(
            kinds(&diff(&none, &one, false)),
            vec![
                (Kind::PidfileCreated, Some("/run/a.pid")),
                (Kind::FindingRaised, Some("/run/a.pid")),
            ]
        );
        assert_eq!(
            kinds(&diff(&one, &none, false)),
            vec![
                (Kind::PidfileRemoved, Some("/run/a.pid")),
                (Kind::FindingCleared, Some("/run/a.pid")),
            ]
        );
        assert!(one.same_verdicts(&one.clone()));
        assert!(!one.same_verdicts(&none));
    }
}
