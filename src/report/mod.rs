//! Reporters: they render a [`Report`], and decide nothing.

pub mod explain;
pub mod human;
pub mod json;

use crate::audit::Report;
use crate::cli::OutputFormat;
use crate::config::Config;
use std::io::Write;

/// Renders the report in the configured format.
pub fn render(config: &Config, report: &Report, out: &mut dyn Write) -> std::io::Result<()> {
    match config.format {
        OutputFormat::Human => human::render(config, report, out),
        OutputFormat::Json => json::render(report, out),
    }
}
