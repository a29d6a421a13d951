//! Content: can the pidfile be read safely, and does it hold one valid PID?
//!
//! Decides the states `not-a-file`, `unreadable`, `unknown`, `missing` and `invalid`; a file that holds
//! a valid PID is left for the liveness check.

use super::Cx;
use crate::audit::{Entry, State};
use crate::finding::{CodeDoc, Finding, Severity};
use crate::pidfile::{FileKind, Parsed, ReadOutcome};

pub const CODES: &[CodeDoc] = &[
    CodeDoc {
        code: "empty",
        severity: Severity::Warning,
        summary: "The pidfile is empty.",
        why: "A stop or status script reads an empty PID; `kill $(cat file)` then signals nothing or, in some shells, its own process group. An empty file is usually left by a daemon that crashed between truncating and writing it, or by a disk that filled up.",
        fix: "If the daemon is running, restart it so it rewrites the file; otherwise remove the file.",
    },
    CodeDoc {
        code: "malformed",
        severity: Severity::Error,
        summary: "The content is not a single decimal PID.",
        why: "Tools parse pidfiles loosely: `kill $(cat file)` word-splits `12 34` into two PIDs, and some parsers read `12abc` as 12. A pidfile must hold decimal digits and at most one trailing newline. Evidence names the reason (whitespace, sign, NUL, more than one line, not decimal, oversize).",
        fix: "Find out what wrote the file. Restart the daemon so it rewrites it, or remove the file if the daemon is not running.",
    },
    CodeDoc {
        code: "invalid-pid",
        severity: Severity::Error,
        summary: "The number is not a PID that can exist: 0, negative, or above pid_max.",
        why: "`kill 0` signals the caller's whole process group and `kill -1` every process the caller may signal: a root stop script reading such a file can take the machine down.",
        fix: "Remove the file and restart the daemon; report the bug to whatever wrote it.",
    },
    CodeDoc {
        code: "not-a-file",
        severity: Severity::Warning,
        summary: "A FIFO, socket, device or directory stands where a pidfile should be.",
        why: "Opening a FIFO blocks, opening a device runs driver code; a naive `cat` in a stop script hangs or worse. pidaudit never opens such a file. A directory named `*.pid` usually comes from a packaging mistake.",
        fix: "Find out who created it (`ls -l`, the owner), then remove it.",
    },
    CodeDoc {
        code: "symlink",
        severity: Severity::Warning,
        summary: "The pidfile is a symbolic link.",
        why: "A root process that opens, truncates or chowns a pidfile through a link can be redirected to any file on the system (CVE-2018-6536, CVE-2020-28935). pidaudit does not follow it.",
        fix: "Replace the link with a regular file written by the daemon; make sure nobody but root can write the directory.",
    },
    CodeDoc {
        code: "unreadable",
        severity: Severity::Unknown,
        summary: "The pidfile (or a directory being searched) could not be read; evidence has the errno.",
        why: "Nothing can be said about a file that cannot be read: the state is unknown, not stale. Usually the audit runs without the privileges the file needs, or the file kept changing while it was read.",
        fix: "Run pidaudit as root, or as the daemon's user. If the file keeps changing, look for a writer looping on it.",
    },
    CodeDoc {
        code: "missing-pidfile",
        severity: Severity::Error,
        summary: "A pidfile that was named explicitly does not exist.",
        why: "A PATH given on the command line (or a manifest entry) says a daemon should have a pidfile there; without it, stop scripts cannot find the daemon.",
        fix: "Start the daemon, or correct the path.",
    },
];

/// Judges the read outcome and content of one pidfile.
pub fn check(cx: &Cx<'_>, entry: &mut Entry) {
    let subject = entry.path.display().to_string();
    let finding = match &entry.read {
        ReadOutcome::Vanished => {
            entry.state = State::Missing;
            Finding::new("missing-pidfile", &subject, "no file at this path")
        }
        ReadOutcome::Error { op, errno } => {
            entry.state = State::Unreadable;
            Finding::new("unreadable", &subject, format!("cannot {op}: {errno}"))
                .with("operation", *op)
                .with("errno", errno.raw_os_error())
        }
        ReadOutcome::Unstable { facts } => {
            entry.state = State::Unknown;
            Finding::new(
                "unreadable",
                &subject,
                "the file kept changing while it was read",
            )
            .with("operation", "read")
            .with("size", facts.size)
        }
        ReadOutcome::NotAFile { facts } => {
            entry.state = State::NotAFile;
            let what = facts.kind.describe();
            Finding::new(
                "not-a-file",
                &subject,
                format!("a {what}, not a regular file; not opened"),
            )
            .with("kind", serde_json::to_value(facts.kind).unwrap_or_default())
        }
        ReadOutcome::Symlink { target, .. } => {
            entry.state = State::NotAFile;
            Finding::new(
                "symlink",
                &subject,
                format!("a symbolic link to {}; not followed", target.display()),
            )
            .with(
                "kind",
                serde_json::to_value(FileKind::Symlink).unwrap_or_default(),
            )
            .with("target", target.display().to_string())
        }
        ReadOutcome::Content { facts, bytes } => {
            let parsed = crate::pidfile::parse(
                bytes,
                facts.size,
                crate::pidfile::Format::for_name(&entry.name),
                cx.snapshot.pid_max,
            );
            let f = match &parsed {
                Parsed::Pid(pid) => {
                    entry.pid = Some(*pid);
                    None
                }
                Parsed::Empty => {
                    entry.state = State::Invalid;
                    Some(
                        Finding::new("empty", &subject, "the file is empty")
                            .with("size", facts.size),
                    )
                }
                Parsed::Malformed(m) => {
                    entry.state = State::Invalid;
                    Some(
                        Finding::new("malformed", &subject, format!("the content {m}"))
                            .with("reason", m.reason())
                            .with("content", preview(bytes))
                            .with("size", facts.size),
                    )
                }
                Parsed::Invalid(i) => {
                    entry.state = State::Invalid;
                    Some(
                        Finding::new("invalid-pid", &subject, format!("{i}"))
                            .with("reason", i.reason())
                            .with("content", preview(bytes))
                            .with("pid_max", cx.snapshot.pid_max),
                    )
                }
            };
            entry.parsed = Some(parsed);
            match f {
                Some(f) => f,
                None => return,
            }
        }
    };
    entry.findings.push(finding);
}

/// The first bytes of the content, escaped, for evidence.
fn preview(bytes: &[u8]) -> String {
    let shown = &bytes[..bytes.len().min(40)];
    let mut s = shown.escape_ascii().to_string();
    if bytes.len() > shown.len() {
        s.push_str("...");
    }
    s
}
