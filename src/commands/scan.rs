//! `pidaudit scan`: judge the pidfiles and say how the run ends.

use crate::audit::{self, Audit};
use crate::config::{Config, OutputFormat};
use crate::exit::{self, ExitStatus, NagiosStatus, Tally};

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

/// Runs the audit.
pub fn run(config: &Config) -> Scan {
    let audit = audit::judge(config);
    let tally = audit.tally();
    Scan {
        status: exit::scan_status(config.fail_on, &tally),
        nagios: exit::nagios_status(&tally, &config.thresholds),
        audit,
        tally,
    }
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
