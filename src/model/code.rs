//! Finding codes: each is a constant of the check that emits it, pointing at its documentation, so
//! a mistyped code is a compile error and every emitted code has a severity and docs.

use super::finding::Severity;
use serde::{Serialize, Serializer};
use std::fmt;

/// The documentation of one finding code, as `pidaudit explain` prints it.
#[derive(Debug, Serialize)]
pub struct CodeDoc {
    /// The stable kebab-case name.
    pub code: &'static str,
    /// The default severity.
    pub severity: Severity,
    /// One line: what the finding says.
    pub summary: &'static str,
    /// Why it matters.
    pub why: &'static str,
    /// What to do about it.
    pub fix: &'static str,
}

/// A finding code: a check's constant (`liveness::STALE`), never a string looked up at run time.
/// Compared, hashed and ordered by its name; serialized as the name.
#[derive(Clone, Copy)]
pub struct Code(&'static CodeDoc);

impl Code {
    /// The code documented by `doc` (used in the checks' constant tables).
    pub const fn new(doc: &'static CodeDoc) -> Code {
        Code(doc)
    }

    /// The stable kebab-case name.
    pub fn as_str(self) -> &'static str {
        self.0.code
    }

    /// The documentation.
    pub fn doc(self) -> &'static CodeDoc {
        self.0
    }

    /// The severity a finding with this code has unless a rule raises it.
    pub fn default_severity(self) -> Severity {
        self.0.severity
    }
}

impl PartialEq for Code {
    fn eq(&self, other: &Code) -> bool {
        self.0.code == other.0.code
    }
}

impl Eq for Code {}

impl std::hash::Hash for Code {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.0.code.hash(state)
    }
}

impl PartialOrd for Code {
    fn partial_cmp(&self, other: &Code) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Code {
    fn cmp(&self, other: &Code) -> std::cmp::Ordering {
        self.0.code.cmp(other.0.code)
    }
}

impl fmt::Debug for Code {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.0.code)
    }
}

impl fmt::Display for Code {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.0.code)
    }
}

impl Serialize for Code {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.0.code)
    }
}
