//! The JSON report: one versioned document (schema in `schema/pidaudit.schema.json`).

use super::model::{PidfileReport, Report};
use crate::model::Finding;
use serde::Serialize;
use std::collections::BTreeMap;
use std::io::Write;

/// Bumped on every incompatible change of the document's shape.
pub const SCHEMA_VERSION: u32 = 1;

#[derive(Serialize)]
struct Document<'a> {
    schema_version: u32,
    tool: Tool,
    host: &'a str,
    generated_at: String,
    duration_ms: f64,
    roots: Vec<String>,
    summary: Summary,
    pidfiles: &'a [PidfileReport],
    findings: Vec<&'a Finding>,
}

#[derive(Serialize)]
struct Tool {
    name: &'static str,
    version: &'static str,
}

#[derive(Serialize)]
struct Summary {
    pidfiles: usize,
    by_state: BTreeMap<&'static str, usize>,
    by_severity: BTreeMap<&'static str, usize>,
}

/// Writes the report as one JSON document and a newline.
pub fn render(report: &Report, out: &mut dyn Write) -> std::io::Result<()> {
    let doc = Document {
        schema_version: SCHEMA_VERSION,
        tool: Tool {
            name: "pidaudit",
            version: env!("CARGO_PKG_VERSION"),
        },
        host: &report.host,
        generated_at: humantime::format_rfc3339_seconds(report.generated_at).to_string(),
        duration_ms: (report.duration.as_secs_f64() * 1e6).round() / 1e3,
        roots: report
            .roots
            .iter()
            .map(|r| crate::model::text::path(r))
            .collect(),
        summary: Summary {
            pidfiles: report.pidfiles.len(),
            by_state: report.by_state(),
            by_severity: report.by_severity(),
        },
        pidfiles: &report.pidfiles,
        findings: report.findings().collect(),
    };
    serde_json::to_writer_pretty(&mut *out, &doc)?;
    out.write_all(b"\n")
}
