//! `pidaudit explain`: the catalogue of finding codes.

use crate::finding::CodeDoc;
use std::io::Write;

/// Prints one code's documentation.
pub fn one(doc: &CodeDoc, out: &mut dyn Write) -> std::io::Result<()> {
    writeln!(out, "{} [{}]", doc.code, doc.severity)?;
    writeln!(out, "  {}", doc.summary)?;
    writeln!(out)?;
    writeln!(out, "Why it matters:\n  {}", doc.why)?;
    writeln!(out)?;
    writeln!(out, "What to do:\n  {}", doc.fix)
}

/// Prints every code with its default severity and summary.
pub fn all(out: &mut dyn Write) -> std::io::Result<()> {
    let width = crate::checks::catalogue()
        .map(|d| d.code.len())
        .max()
        .unwrap_or(0);
    for doc in crate::checks::catalogue() {
        writeln!(
            out,
            "{:width$}  {:7}  {}",
            doc.code,
            doc.severity.as_str(),
            doc.summary
        )?;
    }
    writeln!(
        out,
        "\n`pidaudit explain CODE` says why each matters and what to do."
    )
}
