//! Exit statuses and the policies that choose them, in one place.
//!
//! | status | scan and other commands | `--format nagios` |
//! |---|---|---|
//! | 0 | nothing at or above `--fail-on` | OK |
//! | 1 | findings at or above `--fail-on` | WARNING |
//! | 2 | usage or internal error | CRITICAL |
//! | 3 | - | UNKNOWN (also usage errors) |
//!
//! `pidaudit status` answers with the LSB init-script status codes instead ([`LsbStatus`],
//! chosen by [`lsb_status`]).
//!
//! `fix` and `undo` ([`fix_status`], [`undo_status`]): 0 nothing left to do (a dry run that plans
//! nothing and refuses nothing; an apply or undo that did everything); 1 actions planned, refused,
//! skipped or not run (an undo that refused a restore); 2 usage or internal error (a journal that
//! cannot be used, `--apply` with no terminal and no `--yes`).
//!
//! The Nagios status of an audit:
//! - Without thresholds: any `error` finding -> CRITICAL, else any `warning` -> WARNING.
//! - With `-w`/`-c`: the number of *problem pidfiles* (pidfiles with at least one `error` or
//!   `warning` finding) is matched against the ranges (critical first) instead; findings not about
//!   one pidfile (an unreadable directory, an unreadable `/proc`) still map by severity.
//! - Then, if the status is still OK and some finding is `unknown`, the status is UNKNOWN: the truth
//!   could not be determined. `info` findings never change the status.

use crate::config::range::Thresholds;
use crate::config::FailOn;
use crate::model::{Severity, State};

/// The exit status of a normal run.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ExitStatus {
    /// No finding at or above the `--fail-on` threshold.
    Clean = 0,
    /// At least one finding at or above the threshold.
    Findings = 1,
    /// Usage error, bad manifest, or an internal error.
    Error = 2,
}

/// The exit status of a Nagios/Icinga plugin run (monitoring-plugins guidelines).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum NagiosStatus {
    Ok = 0,
    Warning = 1,
    Critical = 2,
    Unknown = 3,
}

impl NagiosStatus {
    pub fn label(self) -> &'static str {
        match self {
            NagiosStatus::Ok => "OK",
            NagiosStatus::Warning => "WARNING",
            NagiosStatus::Critical => "CRITICAL",
            NagiosStatus::Unknown => "UNKNOWN",
        }
    }

    /// Worse of two statuses in alerting order: OK < UNKNOWN < WARNING < CRITICAL.
    fn worse(self, other: NagiosStatus) -> NagiosStatus {
        let rank = |s: NagiosStatus| match s {
            NagiosStatus::Ok => 0,
            NagiosStatus::Unknown => 1,
            NagiosStatus::Warning => 2,
            NagiosStatus::Critical => 3,
        };
        if rank(other) > rank(self) {
            other
        } else {
            self
        }
    }
}

impl From<ExitStatus> for std::process::ExitCode {
    fn from(s: ExitStatus) -> Self {
        std::process::ExitCode::from(s as u8)
    }
}

impl From<NagiosStatus> for std::process::ExitCode {
    fn from(s: NagiosStatus) -> Self {
        std::process::ExitCode::from(s as u8)
    }
}

/// Whether a finding of this severity fails the run (info < unknown < warning < error).
pub fn fails(fail_on: FailOn, severity: Severity) -> bool {
    match fail_on {
        FailOn::Error => severity >= Severity::Error,
        FailOn::Warning => severity >= Severity::Warning,
        FailOn::Info => true,
        FailOn::Never => false,
    }
}

/// Whether a pidfile with findings of these severities is a *problem pidfile*: one `error` or
/// `warning` finding makes one; `unknown` and `info` do not. Nagios thresholds and
/// `pidaudit_problem_pidfiles` count these.
pub fn is_problem(mut severities: impl Iterator<Item = Severity>) -> bool {
    severities.any(|s| s >= Severity::Warning)
}

/// What the exit policies need to know of the findings an audit shows.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Tally {
    /// The worst severity among findings about pidfiles.
    pub pidfile_worst: Option<Severity>,
    /// The worst severity among findings about no single pidfile.
    pub system_worst: Option<Severity>,
    /// Some finding is `unknown`.
    pub unknown: bool,
    /// Pidfiles with an `error` or `warning` finding.
    pub problem_pidfiles: usize,
}

impl Tally {
    /// Counts one pidfile's findings.
    pub fn pidfile(&mut self, severities: impl Iterator<Item = Severity> + Clone) {
        if is_problem(severities.clone()) {
            self.problem_pidfiles += 1;
        }
        for s in severities {
            self.pidfile_worst = self.pidfile_worst.max(Some(s));
            self.unknown |= s == Severity::Unknown;
        }
    }

    /// Counts one finding about no single pidfile.
    pub fn system(&mut self, severity: Severity) {
        self.system_worst = self.system_worst.max(Some(severity));
        self.unknown |= severity == Severity::Unknown;
    }

    /// The worst severity of all.
    pub fn worst(&self) -> Option<Severity> {
        self.pidfile_worst.max(self.system_worst)
    }
}

/// The exit status of a scan.
pub fn scan_status(fail_on: FailOn, tally: &Tally) -> ExitStatus {
    if tally.worst().is_some_and(|s| fails(fail_on, s)) {
        ExitStatus::Findings
    } else {
        ExitStatus::Clean
    }
}

/// The exit status of `fix`: `applied_not_done` is `None` for a dry run, else how many actions
/// the apply did not do.
pub fn fix_status(actions: usize, refused: usize, applied_not_done: Option<usize>) -> ExitStatus {
    let left = match applied_not_done {
        None => actions,
        Some(n) => n,
    };
    if left > 0 || refused > 0 {
        ExitStatus::Findings
    } else {
        ExitStatus::Clean
    }
}

/// The exit status of `undo`: 1 when a restore was refused.
pub fn undo_status(refused: usize) -> ExitStatus {
    if refused > 0 {
        ExitStatus::Findings
    } else {
        ExitStatus::Clean
    }
}

fn by_severity(worst: Option<Severity>) -> NagiosStatus {
    match worst {
        Some(Severity::Error) => NagiosStatus::Critical,
        Some(Severity::Warning) => NagiosStatus::Warning,
        _ => NagiosStatus::Ok,
    }
}

/// The plugin status of an audit (see the module docs for the rule).
pub fn nagios_status(tally: &Tally, thresholds: &Thresholds) -> NagiosStatus {
    let pidfiles = if thresholds.is_set() {
        let n = tally.problem_pidfiles as f64;
        if thresholds.critical.as_ref().is_some_and(|r| r.alerts(n)) {
            NagiosStatus::Critical
        } else if thresholds.warning.as_ref().is_some_and(|r| r.alerts(n)) {
            NagiosStatus::Warning
        } else {
            NagiosStatus::Ok
        }
    } else {
        by_severity(tally.pidfile_worst)
    };
    let status = pidfiles.worse(by_severity(tally.system_worst));
    if status == NagiosStatus::Ok && tally.unknown {
        NagiosStatus::Unknown
    } else {
        status
    }
}

/// The exit status of `pidaudit status`: the LSB init-script status action's codes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LsbStatus {
    /// The daemon is running.
    Running = 0,
    /// The daemon is dead and its pidfile exists.
    Dead = 1,
    /// The daemon is not running (no pidfile).
    NotRunning = 3,
    /// The status could not be determined (also usage errors).
    Unknown = 4,
}

impl From<LsbStatus> for std::process::ExitCode {
    fn from(s: LsbStatus) -> Self {
        std::process::ExitCode::from(s as u8)
    }
}

/// What `pidaudit status` judged of a running pidfile's process, beyond its state.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Doubts {
    /// The process is not the daemon `--exec`, `--user` or `--name` describe.
    pub mismatch: bool,
    /// The file may have been written by someone else than the daemon (a trust finding).
    pub untrusted: bool,
    /// A finding says the PID may not be the daemon's (another process holds the lock, the file
    /// was replaced).
    pub doubted: bool,
}

/// The LSB status of a pidfile: running (0) only for a live process that is plausibly the writer,
/// matches `--exec`/`--user`/`--name`, in a trusted file, with no finding casting doubt on it.
/// A zombie, a reused or stale PID, or a process that is not the daemon: dead with a pidfile (1).
/// No pidfile: not running (3). Invalid content, an unreadable file or process, an untrusted or
/// doubtful file: unknown (4).
pub fn lsb_status(state: State, doubts: Doubts) -> LsbStatus {
    match state {
        State::Running if doubts.untrusted || doubts.doubted => LsbStatus::Unknown,
        State::Running if doubts.mismatch => LsbStatus::Dead,
        State::Running => LsbStatus::Running,
        State::Stale | State::Zombie | State::Reused => LsbStatus::Dead,
        State::Missing | State::Down => LsbStatus::NotRunning,
        State::Invalid | State::Unreadable | State::Unknown | State::NotAFile => LsbStatus::Unknown,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::range::Range;

    fn r(s: &str) -> Range {
        Range::parse(s).unwrap_or_else(|e| panic!("{s}: {e}"))
    }

    fn tally(pidfiles: Vec<Vec<Severity>>, system: Vec<Severity>) -> Tally {
        let mut t = Tally::default();
        for p in pidfiles {
            t.pidfile(p.into_iter());
        }
        for s in system {
            t.system(s);
        }
        t
    }

    use Severity::{Error as E, Info as I, Unknown as U, Warning as W};

    /// Only a trusted, undoubted, matching running pidfile is running; a dead PID with a file is 1,
    /// no file 3, anything undetermined 4.
    #[test]
    fn lsb_statuses() {
        let ok = Doubts::default();
        assert_eq!(lsb_status(State::Running, ok), LsbStatus::Running);
        for (d, want) in [
            (
                Doubts {
                    mismatch: true,
                    ..ok
                },
                LsbStatus::Dead,
            ),
            (
                Doubts {
                    untrusted: true,
                    ..ok
                },
                LsbStatus::Unknown,
            ),
            (
                Doubts {
                    doubted: true,
                    mismatch: true,
                    ..ok
                },
                LsbStatus::Unknown,
            ),
        ] {
            assert_eq!(lsb_status(State::Running, d), want, "{d:?}");
        }
        for s in [State::Stale, State::Zombie, State::Reused] {
            assert_eq!(lsb_status(s, ok), LsbStatus::Dead);
        }
        assert_eq!(lsb_status(State::Missing, ok), LsbStatus::NotRunning);
        for s in [
            State::Invalid,
            State::Unreadable,
            State::Unknown,
            State::NotAFile,
        ] {
            assert_eq!(lsb_status(s, ok), LsbStatus::Unknown);
        }
    }

    /// `--fail-on` levels: each fails at its severity and above, `never` never.
    #[test]
    fn fail_on_levels() {
        assert!(fails(FailOn::Error, E) && !fails(FailOn::Error, W));
        assert!(fails(FailOn::Warning, W) && !fails(FailOn::Warning, U));
        assert!(fails(FailOn::Info, I));
        assert!(!fails(FailOn::Never, E));
        assert_eq!(
            scan_status(FailOn::Error, &tally(vec![vec![W]], vec![E])),
            ExitStatus::Findings
        );
        assert_eq!(
            scan_status(FailOn::Error, &tally(vec![vec![W]], vec![])),
            ExitStatus::Clean
        );
    }

    /// fix: a dry run with anything planned or refused is 1; an apply that did everything is 0.
    #[test]
    fn fix_and_undo_statuses() {
        assert_eq!(fix_status(0, 0, None), ExitStatus::Clean);
        assert_eq!(fix_status(2, 0, None), ExitStatus::Findings);
        assert_eq!(fix_status(0, 1, None), ExitStatus::Findings);
        assert_eq!(fix_status(2, 0, Some(0)), ExitStatus::Clean);
        assert_eq!(fix_status(2, 0, Some(1)), ExitStatus::Findings);
        assert_eq!(fix_status(2, 1, Some(0)), ExitStatus::Findings);
        assert_eq!(undo_status(0), ExitStatus::Clean);
        assert_eq!(undo_status(1), ExitStatus::Findings);
    }

    /// Without thresholds the worst severity decides, and only-unknown is UNKNOWN.
    #[test]
    fn status_by_severity() {
        let none = Thresholds::default();
        let s = |p, sys| nagios_status(&tally(p, sys), &none);
        assert_eq!(s(vec![vec![]], vec![]), NagiosStatus::Ok);
        assert_eq!(s(vec![vec![I]], vec![]), NagiosStatus::Ok);
        assert_eq!(s(vec![vec![U]], vec![]), NagiosStatus::Unknown);
        assert_eq!(s(vec![vec![]], vec![U]), NagiosStatus::Unknown);
        assert_eq!(s(vec![vec![W, U]], vec![]), NagiosStatus::Warning);
        assert_eq!(s(vec![vec![W], vec![E]], vec![]), NagiosStatus::Critical);
        assert_eq!(s(vec![], vec![E]), NagiosStatus::Critical);
    }

    /// With thresholds the problem-pidfile count decides; system findings still map by severity.
    #[test]
    fn status_by_thresholds() {
        let t = Thresholds {
            warning: Some(r("1")),
            critical: Some(r("3")),
        };
        let s = |p, sys| nagios_status(&tally(p, sys), &t);
        assert_eq!(s(vec![vec![E]], vec![]), NagiosStatus::Ok);
        assert_eq!(s(vec![vec![E], vec![W]], vec![]), NagiosStatus::Warning);
        assert_eq!(
            s(vec![vec![E], vec![W], vec![E], vec![W]], vec![]),
            NagiosStatus::Critical
        );
        // Unknown and info pidfiles are not problems.
        assert_eq!(
            s(vec![vec![U], vec![U], vec![I]], vec![]),
            NagiosStatus::Unknown
        );
        assert_eq!(s(vec![vec![E]], vec![W]), NagiosStatus::Warning);
        assert_eq!(s(vec![vec![]], vec![E]), NagiosStatus::Critical);
        // Only -c given: below it, OK whatever the severities.
        let c = Thresholds {
            warning: None,
            critical: Some(r("1")),
        };
        assert_eq!(
            nagios_status(&tally(vec![vec![E]], vec![]), &c),
            NagiosStatus::Ok
        );
        assert_eq!(
            nagios_status(&tally(vec![vec![E], vec![E]], vec![]), &c),
            NagiosStatus::Critical
        );
    }
}
