//! `pidaudit explain`: the catalogue of finding codes.

use crate::model::Code;
use std::io::Write;

/// Prints one code's documentation.
pub fn one(code: Code, out: &mut dyn Write) -> std::io::Result<()> {
    let doc = code.doc();
    writeln!(out, "{} [{}]", doc.code, doc.severity)?;
    writeln!(out, "  {}", doc.summary)?;
    writeln!(out)?;
    writeln!(out, "Why it matters:\n  {}", doc.why)?;
    writeln!(out)?;
    writeln!(out, "What to do:\n  {}", doc.fix)?;
    if let Some(repair) = crate::fix::plan::repair(code) {
        writeln!(out)?;
        writeln!(out, "Repair:\n  {repair}")?;
    }
    writeln!(out)?;
    writeln!(
        out,
        "To accept it:\n  `--ignore {code}` hides it everywhere; `--exclude PATH` skips one pidfile (a glob \
         matched against the path or the name of each walked file) with all its findings.",
        code = doc.code
    )
}

/// Prints every code with its default severity and summary.
pub fn all(codes: &[Code], out: &mut dyn Write) -> std::io::Result<()> {
    let width = codes.iter().map(|c| c.as_str().len()).max().unwrap_or(0);
    for c in codes {
        let doc = c.doc();
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
