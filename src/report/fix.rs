//! The plan and result of `pidaudit fix`, and what `pidaudit undo` did: human text or one JSON
//! document (schema in `schema/pidaudit-fix.schema.json`). Render only.

use crate::fix::undo::{RunSummary, Undo};
use crate::fix::{Action, Class, Kind, Outcome, PidBasis, Plan, ProcBasis, Recheck};
use crate::model::text::text;
use serde_json::{json, Value};
use std::io::Write;
use std::path::PathBuf;
use std::time::SystemTime;

/// Bumped on every incompatible change of the fix document's shape.
pub const SCHEMA_VERSION: u32 = 1;

/// What a fix run is rendered from.
pub struct FixView<'a> {
    pub host: &'a str,
    pub generated_at: SystemTime,
    pub plan: &'a Plan,
    /// `None` for a dry run; one outcome per action after an apply, and for each action done what
    /// the fresh audit found at its path.
    pub outcomes: Option<(&'a [Outcome], &'a [Option<Recheck>])>,
    /// The journal run (id, file) of an apply that changed or tried to change anything.
    pub run: Option<&'a (String, PathBuf)>,
}

fn action_json(a: &Action, outcome: Option<&Outcome>, recheck: Option<&Recheck>) -> Value {
    let mut v = serde_json::to_value(a).unwrap_or(Value::Null);
    if let Some(f) = a.basis.file.as_ref().filter(|f| f.shows_content()) {
        v["basis"]["file"]["content"] = crate::model::text::bytes(&f.content).into();
    }
    if let Some(o) = outcome {
        v["outcome"] = serde_json::to_value(o).unwrap_or(Value::Null);
    }
    if let Some(r) = recheck {
        v["recheck"] = serde_json::to_value(r).unwrap_or(Value::Null);
    }
    v
}

/// The fix document.
pub fn document(view: &FixView<'_>) -> Value {
    let outcomes = view.outcomes.map(|(o, _)| o);
    let outcome = |i: usize| outcomes.and_then(|o| o.get(i));
    let recheck = |i: usize| {
        view.outcomes
            .and_then(|(_, r)| r.get(i))
            .and_then(Option::as_ref)
    };
    let count = |f: fn(&Outcome) -> bool| outcomes.map(|o| o.iter().filter(|x| f(x)).count());
    json!({
        "schema_version": SCHEMA_VERSION,
        "tool": {"name": "pidaudit", "version": env!("CARGO_PKG_VERSION")},
        "host": view.host,
        "generated_at": humantime::format_rfc3339_seconds(view.generated_at).to_string(),
        "mode": if view.outcomes.is_some() { "apply" } else { "plan" },
        "run": view.run.map(|(id, path)| json!({"id": id, "journal": crate::model::text::path(path)})),
        "summary": {
            "actions": view.plan.actions.len(),
            "refused": view.plan.refused.len(),
            "done": count(|o| *o == Outcome::Done),
            "skipped": count(|o| matches!(o, Outcome::Skipped { .. })),
            "incomplete": count(|o| matches!(o, Outcome::Incomplete { .. })),
            "not_run": count(|o| matches!(o, Outcome::NotRun { .. })),
        },
        "actions": view.plan.actions.iter().enumerate().map(|(i, a)| action_json(a, outcome(i), recheck(i))).collect::<Vec<_>>(),
        "refused": view.plan.refused,
    })
}

/// Writes the fix document as JSON.
pub fn json(view: &FixView<'_>, out: &mut dyn Write) -> std::io::Result<()> {
    serde_json::to_writer_pretty(&mut *out, &document(view))?;
    out.write_all(b"\n")
}

fn pid_text(p: PidBasis) -> String {
    match p {
        PidBasis::NoPid => "no PID".into(),
        PidBasis::Dead { pid } => format!("PID {pid} dead"),
        PidBasis::Same { pid, start_ticks } => format!("PID {pid} started at tick {start_ticks}"),
    }
}

/// What an action did, in the past tense.
fn done_word(a: &Action) -> &'static str {
    match a.kind {
        Kind::Remove => "removed",
        Kind::Retrack => "retracked",
        Kind::Stop => "stopped",
        Kind::FixPermissions => "fixed",
        Kind::Write => "written",
    }
}

/// Writes the plan (and the outcomes, after an apply) for people.
pub fn human(view: &FixView<'_>, out: &mut dyn Write) -> std::io::Result<()> {
    let outcomes = view.outcomes.map(|(o, _)| o);
    for (i, a) in view.plan.actions.iter().enumerate() {
        let head = match outcomes.and_then(|o| o.get(i)) {
            None => format!("{} [{}]", a.kind.as_str(), a.class.as_str()),
            Some(Outcome::Done) => done_word(a).into(),
            Some(Outcome::Skipped { .. }) => "skipped".into(),
            Some(Outcome::Incomplete { .. }) => "incomplete".into(),
            Some(Outcome::NotRun { .. }) => "not run".into(),
        };
        writeln!(out, "{head:<15} {}", text(&a.target))?;
        writeln!(out, "    {}", text(&a.message))?;
        if let Some(b) = &a.basis.file {
            writeln!(
                out,
                "    based on: dev {} ino {}, {} bytes, mtime {}.{:09}, uid {} mode {:04o}, {}",
                b.dev,
                b.ino,
                b.size,
                b.mtime,
                b.mtime_nsec,
                b.uid,
                b.mode,
                pid_text(a.basis.pid)
            )?;
        }
        let proc_line = |p: &ProcBasis| {
            format!(
                "PID {} ({}) started at tick {}, exe {}, uid {}",
                p.pid,
                text(&p.comm),
                p.start_ticks,
                text(&p.exe),
                p.uid
            )
        };
        if let Some(r) = &a.retrack {
            writeln!(
                out,
                "    instance: {}; writes {:?} {}",
                proc_line(&r.instance),
                r.content,
                r.method.as_str()
            )?;
        }
        if let Some(p) = &a.stop {
            writeln!(
                out,
                "    signals: {} (SIGTERM through a pidfd)",
                proc_line(p)
            )?;
        }
        match outcomes.and_then(|o| o.get(i)) {
            Some(Outcome::Skipped { reason })
            | Some(Outcome::NotRun { reason })
            | Some(Outcome::Incomplete { reason }) => writeln!(out, "    why: {}", text(reason))?,
            _ => {}
        }
        if let (Kind::Remove, Some(Some(Recheck::Present(state)))) =
            (a.kind, view.outcomes.and_then(|(_, r)| r.get(i)))
        {
            writeln!(
                out,
                "    afterwards: a file stands at the path again ({}): a daemon started meanwhile?",
                state.as_str()
            )?;
        }
    }
    for r in &view.plan.refused {
        writeln!(out, "{:<15} {}", "refused", text(&r.target))?;
        writeln!(
            out,
            "    {} ({}): {}",
            r.reason.as_str(),
            r.state.as_str(),
            text(&r.message)
        )?;
        if let Some(advice) = &r.advice {
            writeln!(out, "    instead: {}", text(advice))?;
        }
    }
    let n = view.plan.actions.len();
    let refused = view.plan.refused.len();
    let safe = view
        .plan
        .actions
        .iter()
        .filter(|a| a.class == Class::Safe)
        .count();
    match outcomes {
        None => writeln!(
            out,
            "plan: {n} action{} ({safe} safe, {} unsafe), {refused} refused. Dry run: nothing was changed{}",
            if n == 1 { "" } else { "s" },
            n - safe,
            if n == 0 {
                "."
            } else if safe == n {
                "; --apply performs the safe actions."
            } else {
                "; --apply performs the safe actions, --apply --unsafe all of them."
            }
        ),
        Some(o) => {
            let done = o.iter().filter(|x| **x == Outcome::Done).count();
            write!(
                out,
                "applied: {done} of {n} done, {} not done, {refused} refused",
                n - done
            )?;
            match view.run {
                Some((id, path)) => writeln!(
                    out,
                    ". Run {id}, journal {} (`pidaudit undo {id}` restores files; signals cannot be undone).",
                    text(&path.display().to_string())
                ),
                None => writeln!(out, "."),
            }
        }
    }
}

/// Writes what an undo did.
pub fn undo_human(u: &Undo, out: &mut dyn Write) -> std::io::Result<()> {
    for i in &u.items {
        writeln!(
            out,
            "{:<10} {}: {}",
            i.status,
            text(&i.target),
            text(&i.message)
        )?;
    }
    let restored = u.items.iter().filter(|i| i.status == "restored").count();
    writeln!(
        out,
        "undo of run {}: {restored} restored, {} refused.",
        u.run,
        u.refused()
    )
}

/// Writes the journal's runs.
pub fn runs_human(runs: &[RunSummary], out: &mut dyn Write) -> std::io::Result<()> {
    if runs.is_empty() {
        return writeln!(out, "no runs in the journal");
    }
    for r in runs {
        writeln!(
            out,
            "{}  {}  removed {}, rewritten {}, signalled {}, skipped {}, restored {}{}",
            r.run,
            r.started_at.as_deref().unwrap_or("?"),
            r.removed,
            r.rewritten,
            r.signalled,
            r.skipped,
            r.restored,
            if r.unfinished > 0 {
                format!(", {} interrupted", r.unfinished)
            } else {
                String::new()
            }
        )?;
    }
    Ok(())
}
