//! The interval's backstop: every `--interval` the watch asks whether anything its events do not
//! report can have changed since the last whole audit began, and audits everything again only
//! when so.
//!
//! Events report every change to a watched directory or pidfile (inotify: created, deleted,
//! renamed, written, owner, mode, times) and every exit of a tracked daemon (its pidfd). What they
//! do not report is looked at cheaply ([`crate::system::activity`]): a process started, ended or
//! given a PID handed out since; a PID a pidfile names that now exists unlisted (a thread); a lock
//! taken or released (`/proc/locks`); a process a pidfile names that executed another program or
//! whose executable was deleted or replaced on disk (its `exe` link reads otherwise); a unit file
//! changed (the unit directories surveyed again, without
//! asking systemd). The whole audit runs anyway when something cannot be watched (the
//! caps, the descriptor limit: those are left to the interval), when a verdict depends on the
//! clock alone (`flapping` clears as a service stays up), when the `/proc` audited is not the
//! watch's own (`--proc-root`: its PIDs cannot be compared) or its counters cannot be trusted, and
//! when the last whole audit is [`WHOLE_AT_LEAST`] old: for what the check cannot see (a process
//! no pidfile names that executes another program; one that renames itself, changes its user or
//! cgroup without creating a task; a directory above the roots changed).

use super::{Model, Stats};
use crate::audit::Audit;
use crate::system::activity::{ExeMark, Mark, Marker};
use crate::units::Survey;
use std::path::Path;
use std::time::{Duration, Instant};

/// The longest the watch goes without a whole audit, whatever the check says (or the interval,
/// if longer): for what the check cannot see.
pub const WHOLE_AT_LEAST: Duration = Duration::from_secs(3600);

/// What the last whole audit began with.
struct Base {
    mark: Mark,
    units: Survey,
    /// When that audit began.
    at: Instant,
    /// The executables its daemons run.
    exes: Vec<ExeMark>,
}

/// The backstop's memory between intervals.
pub struct Backstop {
    marker: Option<Marker>,
    base: Option<Base>,
    /// The longest between whole audits.
    longest: Duration,
}

fn units_now() -> Survey {
    crate::units::survey_files(
        &crate::units::unit_dirs(),
        crate::units::cgroup2_root().as_deref(),
    )
}

impl Backstop {
    pub fn new(proc_root: &Path, interval: Duration) -> Backstop {
        Backstop {
            marker: Marker::new(proc_root),
            base: None,
            longest: WHOLE_AT_LEAST.max(interval),
        }
    }

    /// Called just before each whole audit: what it will have seen at least.
    pub fn before_audit(&mut self) {
        self.base = self.marker.as_ref().and_then(|m| {
            let at = Instant::now();
            let mark = m.mark().ok()?;
            Some(Base {
                mark,
                units: units_now(),
                at,
                exes: Vec::new(),
            })
        });
    }

    /// Called after each whole audit: the `exe` links of the live processes its pidfiles name.
    pub fn after_audit(&mut self, audit: &Audit) {
        let (Some(marker), Some(base)) = (&self.marker, &mut self.base) else {
            return;
        };
        let snap = &audit.snapshot;
        let mut pids: Vec<u32> = audit
            .entries
            .iter()
            .filter_map(|e| e.process.as_ref())
            .filter(|p| !snap.is_dead(p) && !p.stat.is_zombie())
            .map(|p| p.pid() as u32)
            .collect();
        pids.sort_unstable();
        pids.dedup();
        base.exes = marker.exes(&pids);
    }

    /// At the interval: why everything must be audited again, or `None` when nothing the events
    /// do not report can have changed (then what it looked at is the base for the next interval).
    pub fn check(&mut self, model: &Model, stats: &Stats) -> Option<String> {
        let Some(marker) = &self.marker else {
            return Some("the /proc audited is not the watch's own".into());
        };
        let Some(base) = &mut self.base else {
            return Some("the process table could not be marked".into());
        };
        if stats.unwatched_directories > 0 || stats.untracked_daemons > 0 {
            return Some("some directories or daemons are not watched".into());
        }
        if base.at.elapsed() >= self.longest {
            return Some(format!(
                "no whole audit for {}",
                humantime::format_duration(self.longest)
            ));
        }
        if model.shows(crate::checks::supervised::FLAPPING) {
            return Some("a flapping verdict depends on the clock".into());
        }
        let (now, change) = marker.since(&base.mark, &model.named_pids());
        if let Some(change) = change {
            return Some(change.to_string());
        }
        if let Some(change) = marker.exes_changed(&base.exes) {
            return Some(change.to_string());
        }
        let units = units_now();
        if units != base.units {
            return Some("the unit files changed".into());
        }
        if let Ok(now) = now {
            base.mark = now;
        }
        None
    }
}
