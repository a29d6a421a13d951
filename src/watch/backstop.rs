//! The interval's backstop: every `--interval` the watch asks whether anything its events do not
//! report can have changed since the last whole audit began, and audits everything again only
//! when so. (The kernel's own threads come and go as it needs workers: one is news only when a
//! pidfile names its PID.)
//!
//! Events report every change to a watched directory or pidfile (inotify: created, deleted,
//! renamed, written, owner, mode, times) and every exit of a tracked daemon (its pidfd). What they
//! do not report is looked at cheaply ([`crate::system::activity`]): a process started since (a
//! second copy started by hand, a stale pidfile's PID handed to someone else: a PID handed out
//! since that is alive now), a lock taken or released (`/proc/locks`), a unit file changed (the
//! unit directories surveyed again, without asking systemd). The whole audit runs anyway when
//! something cannot be watched (the caps, the descriptor limit: those are left to the interval),
//! when a verdict depends on the clock alone (`flapping` clears as a service stays up), and when the
//! `/proc` audited is not the watch's own (`--proc-root`: its PIDs cannot be compared).
//!
//! An existing process that executes another program, or changes its user, without creating a
//! task is not seen by the check; it is by the next whole audit, which any process started, lock
//! changed or pidfile event brings.

use super::{Model, Stats};
use crate::system::activity::{Mark, Marker};
use crate::units::Survey;
use std::path::Path;

/// What the last whole audit began with.
struct Base {
    mark: Mark,
    units: Survey,
}

/// The backstop's memory between intervals.
pub struct Backstop {
    marker: Option<Marker>,
    base: Option<Base>,
}

fn units_now() -> Survey {
    crate::units::survey_files(
        &crate::units::unit_dirs(),
        crate::units::cgroup2_root().as_deref(),
    )
}

impl Backstop {
    pub fn new(proc_root: &Path) -> Backstop {
        Backstop {
            marker: Marker::new(proc_root),
            base: None,
        }
    }

    /// Called just before each whole audit: what it will have seen at least.
    pub fn before_audit(&mut self) {
        self.base = self.marker.as_ref().and_then(|m| {
            let mark = m.mark().ok()?;
            Some(Base {
                mark,
                units: units_now(),
            })
        });
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
        if model.shows(crate::checks::supervised::FLAPPING) {
            return Some("a flapping verdict depends on the clock".into());
        }
        let (now, change) = marker.since(&base.mark, &|pid| model.names(pid));
        if let Some(change) = change {
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
