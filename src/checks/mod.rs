//! Checks: each file judges one family of problems and documents its codes.
//!
//! Per-pidfile checks run in pipeline order on one [`Entry`]: `content` (can the file be read, does it
//! hold a PID), `liveness` (is that PID alive, a zombie, reused, from a previous boot), `target` (is it
//! a PID a daemon can have at all), `name` (does the process look like the daemon the file is named
//! after), `trust` (may the file be believed and acted on; can its PID be judged from this PID
//! namespace), with `locks` (who holds the file's lock) after `target`, and `deploy` (is the
//! running executable still on disk, did it start after the deploy). Checks across pidfiles see
//! every entry at once and may attach findings to them: `check_across` (locks), then
//! [`check_entries`]: `instances` (duplicates, orphans, orphaned workers) and, last, `expect` (the
//! manifest's expectations, which consult every earlier finding). System-wide checks return
//! findings of their own. Checks decide; reporters only render.

pub mod content;
pub mod deploy;
pub mod expect;
pub mod instances;
pub mod liveness;
pub mod locks;
pub mod name;
pub mod target;
pub mod trust;

use crate::audit::Entry;
use crate::config::Config;
use crate::finding::{CodeDoc, Finding, Severity};
use crate::system::Snapshot;

/// What every check may look at.
pub struct Cx<'a> {
    pub snapshot: &'a Snapshot,
    pub config: &'a Config,
    /// Per-run caches of the trust check (directory verdicts, PID namespace view).
    pub trust: trust::Cache,
}

/// Runs every per-pidfile check on one entry, in pipeline order.
pub fn check_pidfile(cx: &Cx<'_>, entry: &mut Entry) {
    content::check(cx, entry);
    liveness::check(cx, entry);
    // Before locks: a PID no daemon can have (a thread, a kernel thread, init) is not a running
    // daemon whose pidfile should be locked.
    target::check(cx, entry);
    locks::check(cx, entry);
    name::check(cx, entry);
    deploy::check(cx, entry);
    trust::check(cx, entry);
}

/// Runs the checks that judge each pidfile against all the others and the whole process table
/// (instances, then the manifest's expectations, which need the instance survey and every earlier
/// finding on the entry).
pub fn check_entries(cx: &Cx<'_>, entries: &mut [Entry]) {
    let surveys = instances::survey_all(cx, entries);
    instances::check(cx, entries, &surveys);
    expect::check(cx, entries, &surveys);
}

/// Runs the checks that look across pidfiles.
pub fn check_system(_cx: &Cx<'_>, _entries: &[Entry]) -> Vec<Finding> {
    Vec::new()
}

/// Runs the checks that look across pidfiles and attach their findings to the entries they concern;
/// returns the findings that concern no single pidfile.
pub fn check_across(cx: &Cx<'_>, entries: &mut [Entry]) -> Vec<Finding> {
    locks::check_across(cx, entries)
}

/// Every finding code, in catalogue order.
pub fn catalogue() -> impl Iterator<Item = &'static CodeDoc> {
    [
        content::CODES,
        liveness::CODES,
        target::CODES,
        name::CODES,
        locks::CODES,
        deploy::CODES,
        instances::CODES,
        expect::CODES,
        trust::CODES,
    ]
    .into_iter()
    .flatten()
}

/// The documentation of one code.
pub fn doc(code: &str) -> Option<&'static CodeDoc> {
    catalogue().find(|d| d.code == code)
}

/// The default severity of a code. Unknown codes (a bug) are errors so they are never hidden.
pub fn default_severity(code: &str) -> Severity {
    doc(code).map(|d| d.severity).unwrap_or(Severity::Error)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Codes are unique, kebab-case, and fully documented, naming only commands that exist.
    #[test]
    fn catalogue_is_well_formed() {
        let mut seen = std::collections::HashSet::new();
        for d in catalogue() {
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
            // The docs send operators only to commands this binary has.
            for text in [d.summary, d.why, d.fix] {
                for cmd in ["pidaudit fix", "pidaudit snapshot"] {
                    assert!(!text.contains(cmd), "{} names `{cmd}`", d.code);
                }
            }
        }
    }
}
