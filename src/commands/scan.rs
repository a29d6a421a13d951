//! `pidaudit scan`: judge the pidfiles and say how the run ends.

use crate::audit::{self, Audit};
use crate::config::{self, Config, OutputFormat, UsageError};
use crate::exit::{self, ExitStatus, NagiosStatus, Tally};
use crate::model::State;

/// A judged audit and the exit statuses its findings call for.
#[derive(Debug)]
pub struct Scan {
    pub audit: Audit,
    pub tally: Tally,
    /// The exit status of a normal run (`--fail-on`).
    pub status: ExitStatus,
    /// The plugin status (`--format nagios`; `-w`/`-c`).
    pub nagios: NagiosStatus,
}

/// Runs the audit. A PATH named on the command line that does not exist and was meant as a
/// directory ([`config::meant_as_directory`]) is a usage error.
pub fn run(config: &Config) -> Result<Scan, UsageError> {
    let audit = audit::judge(config);
    if let Some(e) = audit.entries.iter().find(|e| {
        e.explicit
            && e.state() == State::Missing
            && config.named.contains(&e.path)
            && config::meant_as_directory(&e.path)
    }) {
        return Err(UsageError(format!(
            "{}: no such directory (a PATH that does not exist is taken for a missing pidfile only when its name has a dot, like NAME.pid)",
            crate::model::text::path(&e.path)
        )));
    }
    let tally = audit.tally();
    Ok(Scan {
        status: exit::scan_status(config.fail_on, &tally),
        nagios: exit::nagios_status(&tally, &config.thresholds),
        audit,
        tally,
    })
}

impl Scan {
    /// The process exit code for the configured format.
    pub fn exit_code(&self, config: &Config) -> u8 {
        match config.format {
            OutputFormat::Nagios => self.nagios as u8,
            _ => self.status as u8,
        }
    }
}
