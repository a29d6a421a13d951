//! `pidaudit status --pidfile FILE`: an init script's status action, with the audit's judgement
//! behind it. The one pidfile is judged by the whole pipeline ([`audit::judge`]); `--exec` and
//! `--user` by the expectations check (`identity-mismatch`, `wrong-user`), `--name` against the
//! process's comm; [`exit::lsb_status`] turns the verdict into an LSB status code.

use crate::audit;
use crate::checks::{expect, locks, Entry};
use crate::config::status::StatusConfig;
use crate::exit::{self, Doubts, LsbStatus};
use crate::model::{Code, State};

/// Findings that say the PID in a running pidfile may not be the daemon's. (What could not be read
/// about the process itself makes the state `unknown`; what could not be counted or read beside it,
/// `locks-unknown` or an uncounted `instance-count`, does not make a running daemon doubtful.)
const DOUBTS: &[Code] = &[locks::LOCK_HOLDER_MISMATCH, locks::REPLACED_WHILE_LOCKED];

/// Findings that say the process is not the daemon `--exec` or `--user` describe.
const MISMATCHES: &[Code] = &[expect::IDENTITY_MISMATCH, expect::WRONG_USER];

/// The verdict: an LSB status code and one line for people.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Status {
    pub status: LsbStatus,
    pub line: String,
}

/// Judges the pidfile.
pub fn run(sc: &StatusConfig) -> Status {
    let audit = audit::judge(&sc.config);
    let label = &sc.label;
    let Some(entry) = audit.entries.iter().find(|e| e.path == sc.pidfile) else {
        return Status {
            status: LsbStatus::Unknown,
            line: format!(
                "{label}: status unknown: {} was not audited",
                sc.pidfile.display()
            ),
        };
    };
    let state = entry.state();
    let mismatch = entry
        .findings
        .iter()
        .find(|f| MISMATCHES.contains(&f.code))
        .map(|f| f.message.clone())
        .or_else(|| comm_mismatch(sc, entry));
    let running = state == State::Running;
    let message = |code: Code| {
        entry
            .findings
            .iter()
            .find(|f| f.code == code)
            .map_or_else(|| code.as_str().to_string(), |f| f.message.clone())
    };
    let untrusted = match entry.trust_reasons.first() {
        Some(&code) if running => Some(message(code)),
        _ => None,
    };
    let doubt = entry
        .findings
        .iter()
        .find(|f| DOUBTS.contains(&f.code))
        .map(|f| f.message.clone());
    let doubts = Doubts {
        mismatch: mismatch.is_some(),
        untrusted: untrusted.is_some(),
        doubted: doubt.is_some(),
    };
    let status = exit::lsb_status(state, doubts);
    let pidfile = entry.subject();
    let pid = entry.pid.map(|p| format!("PID {p}")).unwrap_or_default();
    // Why: what decided for a running process; else the first finding, which is the state's own
    // (the content and liveness checks run first).
    let reason = untrusted
        .or(doubt)
        .or(mismatch)
        .or_else(|| entry.findings.first().map(|f| f.message.clone()))
        .unwrap_or_else(|| state.as_str().to_string());
    let line = match status {
        LsbStatus::Running => format!("{label} is running ({pid}, {pidfile})"),
        LsbStatus::Dead => format!("{label} is not running, but {pidfile} exists: {reason}"),
        LsbStatus::NotRunning => format!("{label} is not running (no {pidfile})"),
        LsbStatus::Unknown => format!("{label}: status unknown: {reason}"),
    };
    Status { status, line }
}

/// `--name`: the running process's comm is not the one given.
fn comm_mismatch(sc: &StatusConfig, entry: &Entry) -> Option<String> {
    let want = sc.comm.as_deref()?;
    let p = entry.process.as_ref()?;
    (p.stat.comm != want).then(|| format!("PID {} is {}, not {want}", p.pid(), p.stat.comm))
}
