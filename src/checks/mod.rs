//! Checks: each file judges one family of problems and documents its codes.
//!
//! Per-pidfile checks run in pipeline order on one [`Entry`]: `content` (can the file be read, does it
//! hold a PID), `liveness` (is that PID alive, a zombie, reused, from a previous boot), `target` (is it
//! a PID a daemon can have at all), `name` (does the process look like the daemon the file is named
//! after), `trust` (may the file be believed and acted on; can its PID be judged from this PID
//! namespace), with `locks` (who holds the file's lock) after `target`, `deploy` (is the
//! running executable still on disk, did it start after the deploy) and `units` (is the PID in the
//! cgroup of the systemd unit whose `PIDFile=` names the file). Checks across pidfiles see
//! every entry at once and may attach findings to them: `check_across` (locks), then
//! [`check_entries`]: `instances` (duplicates, orphans, orphaned workers), `supervised` (what a
//! supervisor's status says against the process table and its lock) and, last, `expect` (the
//! manifest's expectations). System-wide checks return findings of their own.
//!
//! Checks record facts on the entry ([`Facts`]) and add findings; none writes a state or removes
//! another check's finding. [`resolve`] derives the state from the facts and, once every check has
//! run, applies the rules that withdraw or raise findings. Checks decide; reporters only render.

pub mod acl;
pub mod content;
pub mod deploy;
pub mod entry;
pub mod expect;
pub mod held;
pub mod instances;
pub mod liveness;
pub mod locks;
pub mod name;
pub mod resolve;
pub mod supervised;
pub mod target;
#[cfg(test)]
mod testing;
pub mod trust;
pub mod units;

pub use entry::{Entry, Facts, FileFact, ListedPid, PidVerdict, ProcessFact};

use crate::config::Config;
use crate::discover::WalkProblem;
use crate::model::{Code, Finding};
use crate::system::Snapshot;

/// What every check may look at.
pub struct Cx<'a> {
    pub snapshot: &'a Snapshot,
    pub config: &'a Config,
    /// Per-run caches of the trust check (directory verdicts, PID namespace view).
    pub trust: trust::Cache,
    /// The PIDs that pidfiles found on the machine but not audited in this run record (files no
    /// other user may write), with their files' modification times and owners: a process one of
    /// them tracks is not a duplicate or an orphan of an audited pidfile (see [`instances`]).
    pub elsewhere: Vec<(i32, f64, u32)>,
    /// The files (device, inode) of pidfiles not judged in this run but current (a partial audit
    /// of `watch`): a lock on one of them is no lock on a replaced pidfile (see [`locks`]).
    pub files_elsewhere: std::collections::HashSet<(u64, u64)>,
    /// The directories walked as roots: a pidfile deleted from one while a live process holds it
    /// is looked for there too (see [`locks`]).
    pub root_dirs: Vec<std::sync::Arc<crate::discover::Dir>>,
}

/// Runs every check on the entries, then the resolution rules; returns the findings about no
/// single pidfile. `problems` are the directories the walk could not read.
pub fn run(cx: &Cx<'_>, entries: &mut [Entry], problems: &[WalkProblem]) -> Vec<Finding> {
    // Checks read process details (status, exe, cmdline) lazily: several system calls per
    // process, worth both cores.
    crate::util::parallel::for_each_mut(entries, |entry| {
        check_pidfile(cx, entry);
        // Most pidfiles have no finding or one: no spare capacity kept for the run.
        entry.findings.shrink_to_fit();
        // The report shows every process's details: read them here, on the threads already running.
        if let (true, Some(p)) = (cx.config.details, &entry.process) {
            cx.snapshot.details(p);
        }
    });
    let mut system = check_across(cx, entries);
    check_entries(cx, entries);
    system.extend(check_system(cx, problems));
    for entry in entries.iter_mut() {
        resolve::finish(entry);
    }
    system
}

/// Runs every per-pidfile check on one entry, in pipeline order: each records facts that later
/// ones read through [`Entry::state`].
pub fn check_pidfile(cx: &Cx<'_>, entry: &mut Entry) {
    content::check(cx, entry);
    liveness::check(cx, entry);
    // Before locks: a PID no daemon can have (a thread, a kernel thread, init) is not a running
    // daemon whose pidfile should be locked.
    target::check(cx, entry);
    locks::check(cx, entry);
    name::check(cx, entry);
    deploy::check(cx, entry);
    units::check(cx, entry);
    trust::check(cx, entry);
}

/// Runs the checks that judge each pidfile against all the others and the whole process table
/// (instances, then the manifest's expectations, which need the instance survey).
pub fn check_entries(cx: &Cx<'_>, entries: &mut [Entry]) {
    let surveys = instances::survey_all(cx, entries);
    instances::check(cx, entries, &surveys);
    supervised::check(cx, entries);
    expect::check(cx, entries, &surveys);
}

/// Findings about the run itself: directories the walk could not read, a `/proc` that could not
/// be read.
pub fn check_system(cx: &Cx<'_>, problems: &[WalkProblem]) -> Vec<Finding> {
    let mut out: Vec<Finding> = problems
        .iter()
        .map(|p| {
            Finding::new(
                content::UNREADABLE,
                crate::model::text::path(&p.path),
                format!("cannot {} {}: {}", p.op, p.path.display(), p.errno),
            )
            .with("operation", p.op)
            .with("errno", p.errno.raw_os_error())
        })
        .collect();
    if let Some(errno) = cx.snapshot.proc_error {
        let root = &cx.config.proc_root;
        out.push(
            Finding::new(
                liveness::PROCESS_UNKNOWN,
                crate::model::text::path(root),
                format!("cannot read {}: {errno}", root.display()),
            )
            .with("errno", errno.raw_os_error()),
        );
    }
    out
}

/// Runs the checks that look across pidfiles and attach their findings to the entries they concern;
/// returns the findings that concern no single pidfile.
pub fn check_across(cx: &Cx<'_>, entries: &mut [Entry]) -> Vec<Finding> {
    locks::check_across(cx, entries)
}

/// Every finding code, in catalogue order.
pub fn catalogue() -> impl Iterator<Item = Code> {
    [
        content::CODES,
        liveness::CODES,
        target::CODES,
        name::CODES,
        locks::CODES,
        deploy::CODES,
        instances::CODES,
        supervised::CODES,
        units::CODES,
        expect::CODES,
        trust::CODES,
    ]
    .into_iter()
    .flatten()
    .copied()
}

/// The code a user named (`--select`, `--ignore`, `explain`), in any case; `Err` says that it
/// does not exist, with the closest code when the name looks like a typo of one.
pub fn lookup(name: &str) -> Result<Code, String> {
    if let Some(code) = catalogue().find(|c| c.as_str().eq_ignore_ascii_case(name)) {
        return Ok(code);
    }
    let hint = crate::util::suggest::closest(name, catalogue().map(Code::as_str))
        .map(|c| format!("; did you mean '{c}'?"))
        .unwrap_or_default();
    Err(format!(
        "unknown finding code '{name}'{hint} (`pidaudit explain` lists them)"
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Codes are unique, kebab-case, and fully documented, naming only commands that exist.
    #[test]
    fn catalogue_is_well_formed() {
        let mut seen = std::collections::HashSet::new();
        for c in catalogue() {
            let d = c.doc();
            assert!(seen.insert(d.code), "duplicate code {}", d.code);
            assert!(
                d.code.bytes().all(|b| b.is_ascii_lowercase() || b == b'-')
                    && !d.code.starts_with('-')
                    && !d.code.ends_with('-'),
                "code {} is not kebab-case",
                d.code
            );
            assert!(
                !d.summary.is_empty() && !d.why.is_empty() && !d.fix.is_empty(),
                "{} lacks docs",
                d.code
            );
            // The docs send operators only to commands this binary has (`pidaudit fix` exists;
            // the repair it offers for a code is documented beside the plan, `fix::plan::repair`).
            for text in [d.summary, d.why, d.fix] {
                for cmd in ["pidaudit snapshot", "pidaudit watch"] {
                    assert!(!text.contains(cmd), "{} names `{cmd}`", d.code);
                }
            }
        }
    }
}
