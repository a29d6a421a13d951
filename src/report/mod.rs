//! Reporters: they render a [`Report`], and decide nothing.

pub mod explain;
pub mod human;
pub mod json;
pub mod junit;
pub mod nagios;
pub mod prometheus;

use crate::audit::{PidfileReport, Report};
use crate::cli::OutputFormat;
use crate::config::Config;
use crate::finding::Severity;
use std::io::Write;

/// Renders the report in the configured format.
pub fn render(config: &Config, report: &Report, out: &mut dyn Write) -> std::io::Result<()> {
    match config.format {
        OutputFormat::Human => human::render(config, report, out),
        OutputFormat::Json => json::render(report, out),
        OutputFormat::Nagios => nagios::render(report, &config.thresholds, out).map(|_| ()),
        OutputFormat::Prometheus => prometheus::render(report, out),
        OutputFormat::Junit => junit::render(report, config.fail_on, out),
    }
}

/// A *problem pidfile* has at least one finding of severity `error` or `warning` (after `--select`
/// and `--ignore`); `unknown` and `info` findings do not make one. Nagios thresholds and
/// `pidaudit_problem_pidfiles` count these.
pub fn is_problem(p: &PidfileReport) -> bool {
    p.findings.iter().any(|f| f.severity >= Severity::Warning)
}

/// The number of problem pidfiles in the report.
pub fn problem_pidfiles(report: &Report) -> usize {
    report.pidfiles.iter().filter(|p| is_problem(p)).count()
}
