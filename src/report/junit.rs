//! The JUnit XML report (`--format junit`), for CI systems: one `<testsuite>`, one `<testcase>` per
//! audited subject.
//!
//! A test case *fails* when it has a finding at or above `--fail-on` (the same rule as the exit
//! status, so a red CI job and a red test agree); all its findings are in the `<failure>` text. A
//! case that does not fail but has an `unknown` finding is *skipped* (nothing could be determined).
//! Findings below the threshold are listed in `<system-out>`. Findings not about one pidfile go to
//! one extra case, `pidaudit.scan` / `scan`, present only when there are such findings.
//!
//! Text is escaped for XML 1.0; characters XML 1.0 cannot carry (controls other than tab, line feed
//! and carriage return; U+FFFE, U+FFFF) are written as `\xNN` / `\u{NNNN}` text. Text from the
//! system (process names, messages) is first escaped like every report's (see
//! [`crate::model::text`]).

use super::Report;
use crate::config::FailOn;
use crate::exit::fails;
use crate::model::text::text;
use crate::model::{Finding, Severity};
use std::fmt::Write as _;
use std::io::Write;

/// One test case: a subject and the findings about it.
pub struct Case<'a> {
    /// Groups cases in CI views: `pidaudit.pidfile`, `pidaudit.scan`.
    pub classname: &'static str,
    pub name: String,
    /// One line on what was observed (state, PID, process), for `<system-out>`.
    pub observed: String,
    pub findings: Vec<&'a Finding>,
}

/// The test cases of a report, in report order. Each kind of audited subject adds its cases here.
pub fn cases(report: &Report) -> Vec<Case<'_>> {
    let mut cases: Vec<Case<'_>> = report
        .pidfiles
        .iter()
        .map(|p| {
            let mut observed = format!("state: {}", p.state.as_str());
            if let Some(pid) = p.pid {
                let _ = write!(observed, ", PID {pid}");
            }
            if let Some(proc) = &p.process {
                let _ = write!(observed, " ({})", text(&proc.comm));
            }
            Case {
                classname: "pidaudit.pidfile",
                name: p.path.clone(),
                observed,
                findings: p.findings.iter().collect(),
            }
        })
        .collect();
    if !report.system_findings.is_empty() {
        cases.push(Case {
            classname: "pidaudit.scan",
            name: "scan".into(),
            observed: String::new(),
            findings: report.system_findings.iter().collect(),
        });
    }
    cases
}

/// Escapes text for XML 1.0 (element content and attribute values alike).
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            // Written as references so attribute-value normalisation keeps them.
            '\n' => out.push_str("&#10;"),
            '\r' => out.push_str("&#13;"),
            '\t' => out.push_str("&#9;"),
            c if (c as u32) < 0x20 => {
                let _ = write!(out, "\\x{:02x}", c as u32);
            }
            '\u{FFFE}' | '\u{FFFF}' => {
                let _ = write!(out, "\\u{{{:04X}}}", c as u32);
            }
            c => out.push(c),
        }
    }
    out
}

fn finding_text(f: &Finding) -> String {
    let mut s = format!(
        "{}[{}] {}: {}",
        f.severity,
        f.code,
        text(&f.subject),
        text(&f.message)
    );
    for (k, v) in &f.evidence {
        let _ = write!(s, "\n    {k}: {}", text(&v.to_string()));
    }
    s
}

/// Renders the report as one JUnit XML document.
pub fn render(report: &Report, fail_on: FailOn, out: &mut dyn Write) -> std::io::Result<()> {
    let cases = cases(report);
    let mut body = String::new();
    let (mut failures, mut skipped) = (0, 0);
    for case in &cases {
        let _ = write!(
            body,
            "    <testcase classname=\"{}\" name=\"{}\"",
            case.classname,
            escape(&text(&case.name))
        );
        let failing: Vec<&Finding> = case
            .findings
            .iter()
            .copied()
            .filter(|f| fails(fail_on, f.severity))
            .collect();
        let mut out_lines: Vec<String> = Vec::new();
        if !case.observed.is_empty() {
            out_lines.push(case.observed.clone());
        }
        let inner = if let Some(worst) = failing.iter().max_by_key(|f| f.severity) {
            failures += 1;
            let lines: Vec<String> = failing.iter().map(|f| finding_text(f)).collect();
            out_lines.extend(
                case.findings
                    .iter()
                    .filter(|f| !fails(fail_on, f.severity))
                    .map(|f| finding_text(f)),
            );
            format!(
                "      <failure type=\"{}\" message=\"{}\">{}</failure>\n",
                escape(worst.code.as_str()),
                escape(&text(&worst.message)),
                escape(&lines.join("\n"))
            )
        } else {
            out_lines.extend(case.findings.iter().map(|f| finding_text(f)));
            match case
                .findings
                .iter()
                .find(|f| f.severity == Severity::Unknown)
            {
                Some(u) => {
                    skipped += 1;
                    format!(
                        "      <skipped message=\"{}\"/>\n",
                        escape(&format!("could not be determined: {}", text(&u.message)))
                    )
                }
                None => String::new(),
            }
        };
        let system_out = if out_lines.is_empty() {
            String::new()
        } else {
            format!(
                "      <system-out>{}</system-out>\n",
                escape(&out_lines.join("\n"))
            )
        };
        if inner.is_empty() && system_out.is_empty() {
            body.push_str("/>\n");
        } else {
            let _ = write!(body, ">\n{inner}{system_out}    </testcase>\n");
        }
    }
    let time = format!("{:.6}", report.duration.as_secs_f64());
    // JUnit timestamps are ISO 8601 without a zone; this one is UTC.
    let stamp = humantime::format_rfc3339_seconds(report.generated_at).to_string();
    let stamp = stamp.trim_end_matches('Z');
    let n = cases.len();
    write!(
        out,
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n\
         <testsuites name=\"pidaudit\" tests=\"{n}\" failures=\"{failures}\" errors=\"0\" skipped=\"{skipped}\" time=\"{time}\">\n  \
         <testsuite name=\"pidaudit\" tests=\"{n}\" failures=\"{failures}\" errors=\"0\" skipped=\"{skipped}\" time=\"{time}\" timestamp=\"{stamp}\" hostname=\"{}\">\n    \
         <properties>\n      <property name=\"pidaudit.version\" value=\"{}\"/>\n      <property name=\"pidaudit.fail_on\" value=\"{}\"/>\n    </properties>\n\
         {body}  </testsuite>\n</testsuites>\n",
        escape(&report.host),
        env!("CARGO_PKG_VERSION"),
        fail_on.as_str(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Markup characters become entities; characters XML 1.0 forbids become visible escapes.
    #[test]
    fn escaping() {
        assert_eq!(escape("a<b>&\"c'"), "a&lt;b&gt;&amp;&quot;c&apos;");
        assert_eq!(escape("x\ny\tz\r"), "x&#10;y&#9;z&#13;");
        assert_eq!(
            escape("nul\0bell\u{7}esc\u{1b}"),
            "nul\\x00bell\\x07esc\\x1b"
        );
        assert_eq!(escape("\u{FFFF}é"), "\\u{FFFF}é");
    }
}
