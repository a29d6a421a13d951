//! Content: can the pidfile be read safely, and does it hold one valid PID?
//!
//! Decides the states `not-a-file`, `unreadable`, `unknown`, `missing` and `invalid`; a file that holds
//! a valid PID is left for the liveness check.

use super::Cx;
use crate::audit::{Entry, State};
use crate::finding::{CodeDoc, Finding, Severity};
use crate::pidfile::{Chase, FileFacts, FileKind, Parsed, ReadOutcome};

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
        why: "Tools parse pidfiles loosely: `kill $(cat file)` word-splits `12 34` into two PIDs, and some parsers read `12abc` as 12. A pidfile must hold decimal digits and at most one trailing newline. Evidence names the reason (whitespace, sign, NUL, more than one line, not decimal, oversize, an empty first line in `postmaster.pid`) and shows the first bytes of a world-readable file.",
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
        summary: "The pidfile is a symbolic link; evidence says where it points and whether the chain is safe.",
        why: "A root process that opens, truncates or chowns a pidfile through a link can be redirected to any file on the system (CVE-2018-6536, CVE-2020-28935), and a stop script reading it signals whatever PID the target holds. pidaudit follows the link one component at a time and reads the target only when every step is safe (no step from a non-root owner into another owner, no link owned by another user, no directory writable by others without the sticky bit, nothing under /proc, /sys or FUSE, no loop); the file's state is then that of the target's content. An unsafe or broken chain is not read (state `not-a-file`). A symlinked pidfile is never trusted: pidaudit never acts through a link.",
        fix: "Replace the link with a regular file written by the daemon (point the daemon's configuration at the real path); make sure nobody but root can write the directories on the way.",
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
///
/// A symlinked pidfile gets the `symlink` warning, which says where it points and whether the chain is
/// safe. Through a safe chain the target is read and judged like any pidfile (its state is that of the
/// content: `running`, `stale`, ...); otherwise it is not read and its state is `not-a-file`. Either
/// way the entry is untrusted: pidaudit never acts through a link.
pub fn check(cx: &Cx<'_>, entry: &mut Entry) {
    let read = entry.read.clone();
    if let ReadOutcome::Symlink {
        target,
        chase,
        facts,
    } = &read
    {
        let subject = entry.path.display().to_string();
        let kind = serde_json::to_value(FileKind::Symlink).unwrap_or_default();
        let base = |message: String| {
            Finding::new("symlink", &subject, message)
                .with("kind", kind.clone())
                .with("target", target.display().to_string())
                .with("link_uid", facts.uid)
        };
        match chase {
            Chase::Followed { resolved, outcome } => {
                let what = match &**outcome {
                    ReadOutcome::Content { .. } | ReadOutcome::Unstable { .. } => {
                        "target read".to_string()
                    }
                    ReadOutcome::NotAFile { facts } => {
                        format!("the target is a {}; not opened", facts.kind.describe())
                    }
                    _ => "the target could not be read".to_string(),
                };
                entry.findings.push(
                    base(format!(
                        "a symbolic link to {}, resolving to {} through a safe chain; {what}",
                        target.display(),
                        resolved.display()
                    ))
                    .with("resolved", resolved.display().to_string())
                    .with("chain_safe", true),
                );
                judge(cx, entry, outcome);
            }
            Chase::Refused { refusal, at } => {
                entry.state = State::NotAFile;
                entry.findings.push(
                    base(format!(
                        "a symbolic link to {}; not followed: {refusal}",
                        target.display()
                    ))
                    .with("chain_safe", false)
                    .with("refused_at", at.display().to_string())
                    .with("reason", refusal.reason()),
                );
            }
        }
        return;
    }
    judge(cx, entry, &read);
}

/// Judges one read outcome (the pidfile's own, or that of a symlink's target).
fn judge(cx: &Cx<'_>, entry: &mut Entry, read: &ReadOutcome) {
    let subject = entry.path.display().to_string();
    let finding = match read {
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
        ReadOutcome::Unstable { facts, why } => {
            entry.state = State::Unknown;
            Finding::new("unreadable", &subject, why.describe())
                .with("operation", "read")
                .with("reason", why.reason())
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
        // Only reached for a link met at the end of a chain, which the chase never returns.
        ReadOutcome::Symlink { .. } => {
            entry.state = State::NotAFile;
            return;
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
                Some(f) => withhold(f, facts),
                None => return,
            }
        }
    };
    entry.findings.push(finding);
}

/// Takes the content out of the evidence of a file that is not world-readable: its bytes (a secret
/// behind a link made by root, say) never reach a report. `content` is then null, and
/// `content_withheld` and the message say why.
fn withhold(mut f: Finding, facts: &FileFacts) -> Finding {
    if facts.mode & 0o004 != 0 || !f.evidence.contains_key("content") {
        return f;
    }
    f.message
        .push_str(" (content not shown: the file is not world-readable)");
    f.with("content", serde_json::Value::Null)
        .with("content_withheld", true)
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
