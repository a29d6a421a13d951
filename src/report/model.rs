//! The render model: what reporters see of an audit, built from the judged [`Audit`] by
//! [`Report::from`]. Findings are filtered by `--select`/`--ignore` here, never in a reporter.

use crate::audit::Audit;
use crate::checks::supervised::ServiceFacts;
use crate::checks::Entry;
use crate::model::{text, Code, Finding, Severity, State};
use crate::pidfile::FileFacts;
use crate::system::holders::FileLocks;
use crate::system::Snapshot;
use serde::Serialize;
use std::collections::BTreeMap;
use std::os::unix::ffi::OsStrExt;
use std::path::PathBuf;
use std::time::{Duration, SystemTime};

/// What a report shows of a process.
#[derive(Clone, Debug, Serialize)]
pub struct ProcessInfo {
    pub pid: i32,
    pub ppid: i32,
    pub state: String,
    pub comm: String,
    /// What the process is called: the script an interpreter runs (`gunicorn` for `python3
    /// /usr/bin/gunicorn`), else `comm`.
    pub name: String,
    /// Read only when a check needed it, or with `--verbose`; escaped like `path`.
    pub exe: Option<String>,
    pub cmdline: Option<Vec<String>>,
    pub uid: Option<u32>,
    /// The name of `uid` in the system's user database (live `/proc` only; absent when unknown).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
    /// Unix seconds.
    pub start_time: Option<f64>,
}

/// User names from the system's user database, next to uid numbers, each looked up once. Only for
/// the live `/proc`: the uids of another `/proc` (`--proc-root`) are another machine's.
#[derive(Debug, Default)]
pub struct UserNames {
    live: bool,
    cache: std::cell::RefCell<std::collections::HashMap<u32, Option<String>>>,
}

impl UserNames {
    pub fn new(live: bool) -> UserNames {
        UserNames {
            live,
            cache: Default::default(),
        }
    }

    /// The user's name (escaped like every name), or `None` when unknown or not live.
    pub fn name(&self, uid: u32) -> Option<String> {
        if !self.live {
            return None;
        }
        self.cache
            .borrow_mut()
            .entry(uid)
            .or_insert_with(|| {
                nix::unistd::User::from_uid(nix::unistd::Uid::from_raw(uid))
                    .ok()
                    .flatten()
                    .map(|u| text::text(&u.name))
            })
            .clone()
    }

    /// Adds, beside each uid of a finding's evidence (`uid`, `*_uid`), the user's name (`user`,
    /// `*_user`) when it is known.
    pub fn name_evidence(&self, findings: &mut [Finding]) {
        if !self.live {
            return;
        }
        for f in findings {
            let named: Vec<(&'static str, String)> = f
                .evidence
                .iter()
                .filter_map(|(k, v)| {
                    let key = user_key(k)?;
                    let uid = u32::try_from(v.as_u64()?).ok()?;
                    Some((key, self.name(uid)?))
                })
                .collect();
            for (k, name) in named {
                f.evidence.entry(k).or_insert(name.into());
            }
        }
    }
}

/// Evidence uid keys and the keys of the user names beside them.
const USER_KEYS: [(&str, &str); 9] = [
    ("uid", "user"),
    ("daemon_uid", "daemon_user"),
    ("expected_uid", "expected_user"),
    ("file_uid", "file_user"),
    ("foreign_uid", "foreign_user"),
    ("from_uid", "from_user"),
    ("holder_uid", "holder_user"),
    ("link_uid", "link_user"),
    ("to_uid", "to_user"),
];

/// The evidence key of the user name beside a uid key (`holder_uid`: `holder_user`).
pub fn user_key(uid_key: &str) -> Option<&'static str> {
    USER_KEYS
        .iter()
        .find(|(u, _)| *u == uid_key)
        .map(|(_, n)| *n)
}

/// The uid key a user-name key stands beside (`holder_user`: `holder_uid`).
pub fn uid_key(user_key: &str) -> Option<&'static str> {
    USER_KEYS
        .iter()
        .find(|(_, n)| *n == user_key)
        .map(|(u, _)| *u)
}

/// What a report shows of a pidfile.
#[derive(Clone, Debug, Serialize)]
pub struct PidfileReport {
    /// The path, escaped losslessly (see [`crate::model::text::path`]): a backslash is `\\`, and a
    /// byte that is not valid UTF-8 or belongs to a control or bidi character is `\xNN`.
    pub path: String,
    /// The path's exact bytes, present only when `path` is not the name verbatim (something in it
    /// was escaped).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub path_bytes: Option<Vec<u8>>,
    pub state: State,
    pub pid: Option<u32>,
    /// Every PID of a file that lists several, each judged (absent for a file naming one).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub pids: Vec<ListedPidReport>,
    pub file: Option<FileFacts>,
    pub process: Option<Box<ProcessInfo>>,
    pub lock: Option<Box<LockReport>>,
    pub findings: Vec<Finding>,
    /// Whether repairs may act on this pidfile.
    pub trusted: bool,
    /// The finding codes that make it untrusted (all of them, whatever `--select`/`--ignore` show).
    pub trust_reasons: Vec<Code>,
    /// For a supervisor's file (`supervise/pid`, `supervise/status`): the service, its state as
    /// the supervisor says it, the supervisor process, and the command that restarts the service
    /// through it (`control`). Absent for other pidfiles.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub supervised: Option<Box<ServiceFacts>>,
    /// The systemd unit whose `PIDFile=` names this file (`NAME.service`). Absent otherwise.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub unit: Option<String>,
}

/// One PID of a file that lists several, as reports show it.
#[derive(Clone, Debug, Serialize)]
pub struct ListedPidReport {
    pub pid: u32,
    /// `running`, `stale`, `zombie`, `reused`, `hidden`, `unknown`, `thread`, `kernel_thread`.
    pub verdict: &'static str,
    pub comm: Option<String>,
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

    /// The counts the summaries show.
    pub fn counts(&self) -> Counts {
        let mut c = Counts::default();
        for p in &self.pidfiles {
            c.pidfile(p);
        }
        for f in &self.system_findings {
            c.finding(f);
        }
        c
    }

    pub fn by_state(&self) -> BTreeMap<&'static str, usize> {
        self.counts().by_state
    }

    pub fn by_severity(&self) -> BTreeMap<&'static str, usize> {
        self.counts().by_severity
    }

    /// The most severe finding, if any.
    pub fn worst(&self) -> Option<Severity> {
        self.findings().map(|f| f.severity).max()
    }

    /// The number of problem pidfiles (see [`crate::exit::is_problem`]).
    pub fn problem_pidfiles(&self) -> usize {
        self.pidfiles.iter().filter(|p| p.is_problem()).count()
    }
}

impl PidfileReport {
    /// Whether this is a problem pidfile (see [`crate::exit::is_problem`]).
    pub fn is_problem(&self) -> bool {
        crate::exit::is_problem(self.findings.iter().map(|f| f.severity))
    }
}

/// Pidfiles by state and findings by severity, every state and severity present (zero or more).
#[derive(Clone, Debug)]
pub struct Counts {
    pub pidfiles: usize,
    pub by_state: BTreeMap<&'static str, usize>,
    pub by_severity: BTreeMap<&'static str, usize>,
}

impl Default for Counts {
    fn default() -> Counts {
        Counts {
            pidfiles: 0,
            by_state: State::ALL.iter().map(|s| (s.as_str(), 0)).collect(),
            by_severity: Severity::ALL.iter().map(|s| (s.as_str(), 0)).collect(),
        }
    }
}

impl Counts {
    /// Counts one pidfile and its findings.
    pub fn pidfile(&mut self, p: &PidfileReport) {
        self.pidfiles += 1;
        *self.by_state.entry(p.state.as_str()).or_default() += 1;
        for f in &p.findings {
            self.finding(f);
        }
    }

    /// Counts one finding.
    pub fn finding(&mut self, f: &Finding) {
        *self.by_severity.entry(f.severity.as_str()).or_default() += 1;
    }
}

impl From<&Audit> for Report {
    fn from(audit: &Audit) -> Report {
        let users = UserNames::new(audit.snapshot.live);
        let pidfiles = audit
            .entries
            .iter()
            .map(|e| {
                let mut r = report_entry(&audit.snapshot, audit.details, e, &users);
                r.findings = audit.shown(&e.findings).cloned().collect();
                users.name_evidence(&mut r.findings);
                r
            })
            .collect();
        let mut system_findings: Vec<Finding> =
            audit.shown(&audit.system_findings).cloned().collect();
        users.name_evidence(&mut system_findings);
        Report {
            host: audit.host.clone(),
            generated_at: audit.generated_at,
            duration: audit.duration,
            roots: audit.roots.clone(),
            pidfiles,
            system_findings,
        }
    }
}

/// A one-shot scan has no use for the audit once it is rendered: its findings are moved into the
/// report rather than copied (the report and the judged entries are the run's largest allocations).
impl From<Audit> for Report {
    fn from(mut audit: Audit) -> Report {
        let filter = &audit.filter;
        let users = UserNames::new(audit.snapshot.live);
        let mut pidfiles = Vec::with_capacity(audit.entries.len());
        for e in audit.entries.iter_mut() {
            let mut r = report_entry(&audit.snapshot, audit.details, e, &users);
            r.findings = std::mem::take(&mut e.findings)
                .into_iter()
                .filter(|f| filter.keeps(f.code))
                .collect();
            users.name_evidence(&mut r.findings);
            pidfiles.push(r);
        }
        let mut system_findings: Vec<Finding> = std::mem::take(&mut audit.system_findings)
            .into_iter()
            .filter(|f| filter.keeps(f.code))
            .collect();
        users.name_evidence(&mut system_findings);
        Report {
            host: std::mem::take(&mut audit.host),
            generated_at: audit.generated_at,
            duration: audit.duration,
            roots: std::mem::take(&mut audit.roots),
            pidfiles,
            system_findings,
        }
    }
}

fn report_entry(snapshot: &Snapshot, details: bool, e: &Entry, users: &UserNames) -> PidfileReport {
    let process = e.process.as_ref().map(|p| {
        // First: an interpreter's name reads its command line, which the details then show.
        let name = crate::system::identity::display_name(snapshot, p);
        let d = if details {
            snapshot.details(p)
        } else {
            p.details_if_read()
        };
        ProcessInfo {
            pid: p.stat.pid,
            ppid: p.stat.ppid,
            state: p.stat.state.to_string(),
            comm: p.stat.comm.clone(),
            name,
            exe: d.exe.map(text::path),
            cmdline: d.cmdline.map(<[String]>::to_vec),
            uid: d.uid(),
            user: d.uid().and_then(|u| users.name(u)),
            start_time: snapshot
                .start_time(&p.stat)
                .map(|t| (t * 100.0).round() / 100.0),
        }
    });
    let raw = e.path.as_os_str().as_bytes();
    PidfileReport {
        path: e.subject(),
        path_bytes: (!text::is_verbatim(raw)).then(|| raw.to_vec()),
        state: e.state(),
        pid: e.pid,
        pids: e
            .listed
            .iter()
            .map(|l| ListedPidReport {
                pid: l.pid,
                verdict: l.verdict.as_str(),
                comm: l.comm.clone(),
            })
            .collect(),
        file: e.facts().copied(),
        process: process.map(Box::new),
        lock: e.lock.as_ref().map(|l| Box::new(LockReport::from(l))),
        findings: Vec::new(),
        trusted: e.trusted,
        trust_reasons: e.trust_reasons.clone(),
        supervised: e.service.clone(),
        unit: e.unit.as_ref().map(|u| u.name.clone()),
    }
}

/// The lock facts of one pidfile as reports show them.
#[derive(Clone, Debug, Serialize)]
pub struct LockReport {
    pub locked: bool,
    /// `flock`, `posix`, `ofd`, `lease` (`delegation`, `access`, `unknown` for rarer kinds): of the
    /// first lock with a known holder, else of the first lock.
    pub kind: Option<&'static str>,
    /// `read` or `write` (`unlock` for a lease being broken).
    pub mode: Option<&'static str>,
    /// Every process found holding a lock on the file.
    pub holders: Vec<HolderReport>,
    /// The PID `/proc/locks` names for a lock when it is not among that lock's holders (an exited or
    /// reused acquirer of an inherited flock).
    pub reported_pid: Option<i32>,
    /// Requests blocked on the file's locks.
    pub waiters: Vec<WaiterReport>,
}

/// A holder as reports show it.
#[derive(Clone, Debug, Serialize)]
pub struct HolderReport {
    pub pid: i32,
    pub comm: String,
    /// The descriptor the lock is held through; `null` when the holder's descriptors could not be
    /// read and it is taken from `/proc/locks` unverified, or when the holder is the recorded PID
    /// owning a POSIX lock and the descriptor was not looked up (without `--verbose`).
    pub fd: Option<i32>,
}

/// A blocked request as reports show it.
#[derive(Clone, Debug, Serialize)]
pub struct WaiterReport {
    /// `-1` for OFD lock requests.
    pub pid: i32,
    pub kind: &'static str,
    pub mode: &'static str,
}

impl From<&FileLocks> for LockReport {
    fn from(fl: &FileLocks) -> LockReport {
        let main = fl
            .locks
            .iter()
            .find(|l| !l.holders.is_empty())
            .or(fl.locks.first());
        LockReport {
            locked: fl.locked(),
            kind: main.map(|l| l.lock.line.kind.as_str()),
            mode: main.map(|l| l.lock.line.mode.as_str()),
            holders: fl
                .holders()
                .into_iter()
                .map(|h| HolderReport {
                    pid: h.pid(),
                    comm: h.process.stat.comm.clone(),
                    fd: h.fd,
                })
                .collect(),
            reported_pid: fl.locks.iter().find_map(|l| {
                l.lock
                    .line
                    .acquirer()
                    .filter(|a| !l.holders.iter().any(|h| h.pid() == *a))
            }),
            waiters: fl
                .locks
                .iter()
                .flat_map(|l| l.lock.waiters.iter())
                .map(|w| WaiterReport {
                    pid: w.line.pid,
                    kind: w.line.kind.as_str(),
                    mode: w.line.mode.as_str(),
                })
                .collect(),
        }
    }
}

#[cfg(test)]
mod user_tests {
    use super::*;

    /// Every user key pairs with one uid key, both ways; a fake `/proc` names nobody.
    #[test]
    fn user_keys_pair_with_uid_keys() {
        for (uid, user) in USER_KEYS {
            assert_eq!(user_key(uid), Some(user));
            assert_eq!(uid_key(user), Some(uid));
        }
        assert_eq!(user_key("pid"), None);
        assert_eq!(UserNames::new(false).name(0), None);
        let mut f =
            vec![Finding::new(crate::checks::locks::UNLOCKED, "x", "y").with("holder_uid", 0)];
        UserNames::new(false).name_evidence(&mut f);
        assert_eq!(f[0].evidence.len(), 1);
    }
}
