//! `pidaudit explain [CODE]`: the documentation of finding codes.

use crate::checks;
use crate::model::Code;

/// The codes to document: one, or the whole catalogue. `Err` names a code that does not exist.
pub fn run(code: Option<&str>) -> Result<Vec<Code>, String> {
    match code {
        Some(name) => checks::lookup(name).map(|c| vec![c]),
        None => Ok(checks::catalogue().collect()),
    }
}
