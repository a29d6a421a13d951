//! Exit statuses, in one place.
//!
//! | status | scan and other commands | `--format nagios` |
//! |---|---|---|
//! | 0 | nothing at or above `--fail-on` | OK |
//! | 1 | findings at or above `--fail-on` | WARNING |
//! | 2 | usage or internal error | CRITICAL |
//! | 3 | - | UNKNOWN (also usage errors) |

/// The exit status of a normal run.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ExitStatus {
    /// No finding at or above the `--fail-on` threshold.
    Clean = 0,
    /// At least one finding at or above the threshold.
    Findings = 1,
    /// Usage error, bad manifest, or an internal error.
    Error = 2,
}

/// The exit status of a Nagios/Icinga plugin run (monitoring-plugins guidelines).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum NagiosStatus {
    Ok = 0,
    Warning = 1,
    Critical = 2,
    Unknown = 3,
}

impl NagiosStatus {
    pub fn label(self) -> &'static str {
        match self {
            NagiosStatus::Ok => "OK",
            NagiosStatus::Warning => "WARNING",
            NagiosStatus::Critical => "CRITICAL",
            NagiosStatus::Unknown => "UNKNOWN",
        }
    }
}

impl From<ExitStatus> for std::process::ExitCode {
    fn from(s: ExitStatus) -> Self {
        std::process::ExitCode::from(s as u8)
    }
}

impl From<NagiosStatus> for std::process::ExitCode {
    fn from(s: NagiosStatus) -> Self {
        std::process::ExitCode::from(s as u8)
    }
}
