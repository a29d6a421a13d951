//! `pidaudit fix`: judge, plan the repairs, and (with `--apply`) perform the safe ones, each
//! re-verified at the moment it is taken and journaled before and after.

use crate::audit::{self, Audit};
use crate::config::Config;
use crate::fix::journal::{timestamp, Journal, JournalError};
use crate::fix::{self, Class, Outcome, Plan};
use serde_json::json;
use std::path::PathBuf;
use std::time::SystemTime;

/// A judged audit and its plan.
#[derive(Debug)]
pub struct Planned {
    pub audit: Audit,
    pub plan: Plan,
}

/// What an apply did: the run's journal (when it changed or tried to change anything), one
/// outcome per planned action, in plan order, and for each action done what a fresh audit found
/// at its path afterwards ([`recheck`]).
#[derive(Debug)]
pub struct Applied {
    pub run: Option<(String, PathBuf)>,
    pub outcomes: Vec<Outcome>,
    pub recheck: Vec<Option<fix::Recheck>>,
}

impl Applied {
    /// Actions not done (skipped or not run).
    pub fn not_done(&self) -> usize {
        self.outcomes
            .iter()
            .filter(|o| **o != Outcome::Done)
            .count()
    }
}

/// Judges and plans; changes nothing.
pub fn plan(config: &Config) -> Planned {
    let audit = audit::judge(config);
    let plan = fix::plan::plan(&audit);
    Planned { audit, plan }
}

/// The absolute path of the directory an action acts in, as the kernel knows the held descriptor
/// (no symbolic link on the way, so `undo` can reopen it without following one); the shown path's
/// parent, made absolute, if that cannot be read.
fn absolute_dir(a: &fix::Action) -> PathBuf {
    use std::os::fd::AsRawFd;
    if let Ok(fd) = fix::open_dir(&a.dir) {
        if let Ok(p) = std::fs::read_link(format!("/proc/self/fd/{}", fd.as_raw_fd())) {
            if p.is_absolute() {
                return p;
            }
        }
    }
    let parent = a.path.parent().unwrap_or(std::path::Path::new("."));
    if parent.is_absolute() {
        parent.to_path_buf()
    } else {
        std::env::current_dir()
            .unwrap_or_else(|_| PathBuf::from("/"))
            .join(parent)
    }
}

/// Performs the plan's safe actions under the (locked) journal: every `before` record written and
/// fsynced before the first change, every outcome recorded and fsynced after.
pub fn apply(planned: &Planned, journal: &Journal) -> Result<Applied, JournalError> {
    let actions = &planned.plan.actions;
    let mut outcomes: Vec<Option<Outcome>> = actions
        .iter()
        .map(|a| {
            (a.class != Class::Safe).then(|| Outcome::NotRun {
                reason: "unsafe actions need --unsafe".into(),
            })
        })
        .collect();
    if outcomes.iter().all(Option::is_some) {
        let n = outcomes.len();
        return Ok(Applied {
            run: None,
            outcomes: outcomes.into_iter().flatten().collect(),
            recheck: vec![None; n],
        });
    }
    let Some(proc) = planned.audit.snapshot.proc_dir() else {
        return Err(JournalError(
            "/proc is not open: nothing can be re-verified".into(),
        ));
    };
    let mut run = journal.begin(&planned.audit.host)?;
    for (seq, a) in actions.iter().enumerate() {
        if outcomes[seq].is_some() {
            continue;
        }
        let b = &a.basis.file;
        run.record(&json!({
            "record": "before",
            "seq": seq,
            "action": a.kind.as_str(),
            "path": crate::model::text::path(&absolute_dir(a).join(&a.name)),
            "dir": crate::model::text::path(&absolute_dir(a)),
            "name": crate::model::text::bytes(std::os::unix::ffi::OsStrExt::as_bytes(a.name.as_os_str())),
            "dir_dev": a.basis.dir_dev,
            "dir_ino": a.basis.dir_ino,
            "reason": a.basis.code,
            "state": a.basis.state,
            "pid": a.basis.pid,
            "before": {
                "dev": b.dev, "ino": b.ino, "uid": b.uid, "gid": b.gid, "mode": b.mode,
                "size": b.size, "mtime": b.mtime, "mtime_nsec": b.mtime_nsec,
                "content": crate::model::text::bytes(&b.content),
            },
            "at": timestamp(SystemTime::now()),
        }));
    }
    // Durable before the first change.
    run.sync()?;
    for (seq, a) in actions.iter().enumerate() {
        if outcomes[seq].is_some() {
            continue;
        }
        let result = fix::apply::remove(a, proc);
        run.record(&match &result {
            Ok(()) => json!({
                "record": "after", "seq": seq, "status": "done",
                "after": {"exists": false}, "at": timestamp(SystemTime::now()),
            }),
            Err(reason) => json!({
                "record": "after", "seq": seq, "status": "skipped",
                "reason": reason, "at": timestamp(SystemTime::now()),
            }),
        });
        outcomes[seq] = Some(match result {
            Ok(()) => Outcome::Done,
            Err(reason) => Outcome::Skipped { reason },
        });
    }
    run.record(&json!({"record": "end", "at": timestamp(SystemTime::now())}));
    run.sync()?;
    let n = outcomes.len();
    Ok(Applied {
        run: Some((run.id.clone(), run.path.clone())),
        outcomes: outcomes.into_iter().flatten().collect(),
        recheck: vec![None; n],
    })
}

/// Ends an apply with a fresh audit of what it touched: the directories of the removed files, one
/// level deep, judged anew; each removed path is then `absent`, or holds a file again (a daemon
/// started meanwhile) whose state is given.
pub fn recheck(config: &Config, planned: &Planned, applied: &mut Applied) {
    let done: Vec<usize> = (0..applied.outcomes.len())
        .filter(|i| applied.outcomes[*i] == Outcome::Done)
        .collect();
    if done.is_empty() {
        return;
    }
    let mut dirs: Vec<PathBuf> = done
        .iter()
        .map(|i| {
            let p = &planned.plan.actions[*i].path;
            p.parent()
                .filter(|d| !d.as_os_str().is_empty())
                .unwrap_or(std::path::Path::new("."))
                .to_path_buf()
        })
        .collect();
    dirs.sort();
    dirs.dedup();
    let mut fresh = config.clone();
    fresh.discover.paths = dirs;
    fresh.discover.max_depth = 1;
    fresh.expect = None;
    fresh.details = false;
    let audit = audit::judge(&fresh);
    for i in done {
        let a = &planned.plan.actions[i];
        let now = audit
            .entries
            .iter()
            .find(|e| e.path == a.path || (e.name == a.name && e.path.parent() == a.path.parent()));
        applied.recheck[i] = Some(match now {
            None => fix::Recheck::Absent,
            Some(e) => fix::Recheck::Present(e.state()),
        });
    }
}
