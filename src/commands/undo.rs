//! `pidaudit undo [RUN-ID]` and `pidaudit undo --list`: restore what a fix run removed, from its
//! journal, under the journal's lock.

use crate::fix::journal::{Journal, JournalError};
use crate::fix::undo::{self, RunSummary, Undo};
use std::path::Path;

/// The journal's runs, oldest first.
pub fn list(journal_dir: &Path) -> Result<Vec<RunSummary>, JournalError> {
    undo::list(&Journal::open(journal_dir)?)
}

/// Restores what run `id` (the last one by default) removed.
pub fn run(journal_dir: &Path, id: Option<&str>) -> Result<Undo, JournalError> {
    undo::undo(&Journal::open(journal_dir)?, id)
}
