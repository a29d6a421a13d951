//! Findings: what a check reports, with a stable code, a severity and the evidence it was judged on.

use super::code::Code;
use serde::Serialize;
use std::collections::BTreeMap;
use std::fmt;

/// How bad a finding is. `Unknown` means the truth could not be determined (permission denied, hidden
/// `/proc`, foreign PID namespace): it is never a verdict that something is wrong.
///
/// Ordering (for `--fail-on`): info < unknown < warning < error.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Info,
    Unknown,
    Warning,
    Error,
}

impl Severity {
    pub const ALL: [Severity; 4] = [
        Severity::Error,
        Severity::Warning,
        Severity::Unknown,
        Severity::Info,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Info => "info",
            Severity::Unknown => "unknown",
            Severity::Warning => "warning",
            Severity::Error => "error",
        }
    }
}

impl fmt::Display for Severity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Evidence: named facts, rendered as a JSON object. Keys are stable snake_case names.
pub type Evidence = BTreeMap<&'static str, serde_json::Value>;

/// One finding.
#[derive(Clone, Debug, Serialize)]
pub struct Finding {
    /// Stable kebab-case code, documented by `pidaudit explain CODE`.
    pub code: Code,
    pub severity: Severity,
    /// The pidfile path, or `pid:N` / another name for system-wide findings.
    pub subject: String,
    /// One line, for people.
    pub message: String,
    pub evidence: Evidence,
}

impl Finding {
    /// A finding with the code's default severity from the catalogue.
    pub fn new(code: Code, subject: impl Into<String>, message: impl Into<String>) -> Finding {
        let severity = code.default_severity();
        Finding {
            code,
            severity,
            subject: subject.into(),
            message: message.into(),
            evidence: Evidence::new(),
        }
    }

    /// Adds one fact to the evidence.
    pub fn with(mut self, key: &'static str, value: impl Into<serde_json::Value>) -> Finding {
        self.evidence.insert(key, value.into());
        self
    }

    /// Overrides the default severity.
    pub fn severity(mut self, severity: Severity) -> Finding {
        self.severity = severity;
        self
    }
}
