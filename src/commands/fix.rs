//! `pidaudit fix`: judge, plan the repairs, and (with `--apply`) perform the safe ones, each
//! re-verified at the moment it is taken and journaled before and after.

use crate::audit::{self, Audit};
use crate::config::Config;
use crate::fix::journal::{timestamp, Journal, JournalError};
use crate::fix::{self, Class, Outcome, Plan};
use serde_json::json;
use std::path::PathBuf;
use std::time::{Duration, SystemTime};

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
    let plan = fix::plan::plan(&audit, config);
    Planned { audit, plan }
}

/// What `--apply` was asked to do beyond the safe actions.
#[derive(Clone, Copy, Debug)]
pub struct ApplyOptions {
    /// Also the unsafe actions (`--unsafe`).
    pub unsafe_actions: bool,
    /// How long a stopped copy is waited for after SIGTERM (`--timeout`).
    pub timeout: Duration,
    /// SIGKILL a copy still running after the timeout (`--kill`).
    pub kill: bool,
}

impl Default for ApplyOptions {
    fn default() -> Self {
        ApplyOptions {
            unsafe_actions: false,
            timeout: Duration::from_secs(10),
            kill: false,
        }
    }
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

/// The journal's `before` record of one action.
fn before_record(seq: usize, a: &fix::Action) -> serde_json::Value {
    let mut v = json!({
        "record": "before",
        "seq": seq,
        "action": a.kind.as_str(),
        "class": a.class.as_str(),
        "path": crate::model::text::path(&absolute_dir(a).join(&a.name)),
        "dir": crate::model::text::path(&absolute_dir(a)),
        "name": crate::model::text::bytes(std::os::unix::ffi::OsStrExt::as_bytes(a.name.as_os_str())),
        "dir_dev": a.basis.dir_dev,
        "dir_ino": a.basis.dir_ino,
        "reason": a.basis.code,
        "state": a.basis.state,
        "pid": a.basis.pid,
        "at": timestamp(SystemTime::now()),
    });
    if let Some(b) = &a.basis.file {
        v["before"] = json!({
            "dev": b.dev, "ino": b.ino, "uid": b.uid, "gid": b.gid, "mode": b.mode,
            "size": b.size, "mtime": b.mtime, "mtime_nsec": b.mtime_nsec,
            "content": crate::model::text::bytes(&b.content),
        });
    }
    if let Some(r) = &a.retrack {
        v["retrack"] = json!({
            "instance": r.instance,
            "found_by": r.found_by,
            "method": r.method,
            "content": crate::model::text::bytes(r.content.as_bytes()),
            "tmp": (r.method == fix::WriteMethod::Rename).then(|| {
                crate::model::text::bytes(fix::retrack::temp_name(&a.name).as_bytes())
            }),
        });
    }
    if let Some(p) = &a.stop {
        v["process"] = serde_json::to_value(p).unwrap_or_default();
    }
    if let Some(p) = &a.permissions {
        v["permissions"] = serde_json::to_value(p).unwrap_or_default();
    }
    v
}

/// Performs one action, re-verified; the outcome and the journal's `after` record.
fn perform(
    a: &fix::Action,
    seq: usize,
    proc: rustix::fd::BorrowedFd<'_>,
    opts: &ApplyOptions,
) -> (Outcome, serde_json::Value) {
    let at = timestamp(SystemTime::now());
    let skipped = |reason: String| {
        let rec =
            json!({"record": "after", "seq": seq, "status": "skipped", "reason": reason, "at": at});
        (Outcome::Skipped { reason }, rec)
    };
    match a.kind {
        fix::Kind::Remove => match fix::apply::remove(a, proc) {
            Ok(()) => (
                Outcome::Done,
                json!({"record": "after", "seq": seq, "status": "done", "after": {"exists": false}, "at": at}),
            ),
            Err(reason) => skipped(reason),
        },
        fix::Kind::FixPermissions => match fix::apply::fix_permissions(a) {
            Ok(()) => (
                Outcome::Done,
                json!({"record": "after", "seq": seq, "status": "done", "after": {
                    "exists": true, "permissions": a.permissions,
                }, "at": at}),
            ),
            Err(reason) => skipped(reason),
        },
        fix::Kind::Retrack | fix::Kind::Write => match if a.kind == fix::Kind::Write {
            fix::retrack::write_missing(a, proc)
        } else {
            fix::retrack::retrack(a, proc)
        } {
            Ok(w) => (
                Outcome::Done,
                json!({"record": "after", "seq": seq, "status": "done", "after": {
                    "exists": true, "dev": w.dev, "ino": w.ino, "size": w.size,
                    "mtime": w.mtime, "mtime_nsec": w.mtime_nsec,
                    "content": crate::model::text::bytes(&w.content),
                }, "at": at}),
            ),
            Err(reason) => skipped(reason),
        },
        fix::Kind::Stop => {
            let Some(p) = &a.stop else {
                return skipped("the plan has no process for this action".into());
            };
            match fix::pin::stop(p, proc, opts.timeout, opts.kill) {
                Ok(s) => {
                    let status = if s.exited { "done" } else { "incomplete" };
                    let rec = json!({"record": "after", "seq": seq, "status": status,
                        "signals": s.signals, "exited": s.exited,
                        "at": timestamp(SystemTime::now())});
                    if s.exited {
                        (Outcome::Done, rec)
                    } else {
                        let reason = format!(
                            "{} sent; PID {} still runs after {} s{}",
                            s.signals.join(", then "),
                            p.pid,
                            opts.timeout.as_secs_f64(),
                            if opts.kill {
                                ""
                            } else {
                                " (--kill sends SIGKILL then)"
                            }
                        );
                        (Outcome::Incomplete { reason }, rec)
                    }
                }
                Err(reason) => skipped(reason),
            }
        }
    }
}

/// Performs the plan's safe actions (and with `--unsafe` the unsafe ones) under the (locked)
/// journal: every `before` record written and fsynced before the first change, every outcome
/// recorded and fsynced after. Stops run first, so a file rewritten or removed afterwards is
/// judged with the copies already gone.
pub fn apply(
    planned: &Planned,
    journal: &Journal,
    opts: &ApplyOptions,
) -> Result<Applied, JournalError> {
    let actions = &planned.plan.actions;
    let mut outcomes: Vec<Option<Outcome>> = actions
        .iter()
        .map(|a| {
            (a.class != Class::Safe && !opts.unsafe_actions).then(|| Outcome::NotRun {
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
    let order: Vec<usize> = {
        let mut o: Vec<usize> = (0..actions.len())
            .filter(|i| outcomes[*i].is_none())
            .collect();
        o.sort_by_key(|i| actions[*i].kind != fix::Kind::Stop);
        o
    };
    for &seq in &order {
        run.record(&before_record(seq, &actions[seq]));
    }
    // Durable before the first change.
    run.sync()?;
    for &seq in &order {
        let a = &actions[seq];
        let (outcome, rec) = perform(a, seq, proc, opts);
        run.record(&rec);
        // A signal cannot be taken back: its record is durable before the next action.
        if a.kind == fix::Kind::Stop {
            run.sync()?;
        }
        outcomes[seq] = Some(outcome);
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
        .filter(|i| {
            applied.outcomes[*i] == Outcome::Done
                && planned.plan.actions[*i].kind != fix::Kind::Stop
        })
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
