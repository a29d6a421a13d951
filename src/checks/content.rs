//! Content: can the pidfile be read safely, and does it hold one valid PID?
//!
//! Decides the states `not-a-file`, `unreadable`, `unknown`, `missing` and `invalid`; a file that holds
//! a valid PID is left for the liveness check.

use super::entry::FileFact;
use super::Cx;
use super::Entry;
use crate::model::{Code, CodeDoc, Finding, Severity};
use crate::pidfile::{Chase, FileFacts, FileKind, Parsed, ReadOutcome};

pub const EMPTY: Code = Code::new(&CodeDoc {
    code: "empty",
    severity: Severity::Warning,
    summary: "The pidfile is empty.",
    why: "A stop or status script reads an empty PID; `kill $(cat file)` then signals nothing or, in some shells, its own process group. An empty file is usually left by a daemon that crashed between truncating and writing it, or by a disk that filled up.",
    fix: "If the daemon is running, restart it so it rewrites the file; otherwise remove the file. Never remove it while a process holds its lock (`lock-holder-mismatch` names it: the daemon whose file was emptied).",
});

pub const MALFORMED: Code = Code::new(&CodeDoc {
    code: "malformed",
    severity: Severity::Error,
    summary: "The content holds no PID a reader can take: its first line is not one decimal number.",
    why: "Readers are lenient on the form (see `nonstandard-format`) but never guess the number: `12abc` is not 12, `12 34` on one line is not a PID (`kill $(cat file)` would signal both), nor is a `+`, a NUL, or a first line left empty while others follow. Evidence names the reason (whitespace inside the number, sign, NUL, not decimal, oversize, first line empty) and shows the first bytes of a world-readable file.",
    fix: "Find out what wrote the file. Restart the daemon so it rewrites it, or remove the file if the daemon is not running.",
});

pub const INVALID_PID: Code = Code::new(&CodeDoc {
    code: "invalid-pid",
    severity: Severity::Error,
    summary: "The number is not a PID that can exist: 0, negative, or above pid_max.",
    why: "`kill 0` signals the caller's whole process group and `kill -1` every process the caller may signal: a root stop script reading such a file can take the machine down.",
    fix: "Remove the file and restart the daemon; report the bug to whatever wrote it.",
});

pub const NOT_A_FILE: Code = Code::new(&CodeDoc {
    code: "not-a-file",
    severity: Severity::Warning,
    summary: "A FIFO, socket, device or directory stands where a pidfile should be, or the path is a file of /proc or /sys.",
    why: "Opening a FIFO blocks, opening a device runs driver code; a naive `cat` in a stop script hangs or worse. pidaudit never opens such a file. A directory named `*.pid` usually comes from a packaging mistake. A file of procfs or sysfs (`reason: kernel_filesystem`) is kernel state generated when read, never a pidfile: it is not opened either; a directory there named as a PATH is not walked.",
    fix: "Find out who created it (`ls -l`, the owner), then remove it.",
});

pub const SYMLINK: Code = Code::new(&CodeDoc {
    code: "symlink",
    severity: Severity::Warning,
    summary: "The pidfile is a symbolic link; evidence says where it points and whether the chain is safe.",
    why: "A root process that opens, truncates or chowns a pidfile through a link can be redirected to any file on the system (CVE-2018-6536, CVE-2020-28935), and a stop script reading it signals whatever PID the target holds. pidaudit follows the link one component at a time and reads the target only when every step is safe (no step from a non-root owner into another owner, no link owned by another user, no directory writable by others without the sticky bit, nothing under /proc, /sys or FUSE, no loop); the file's state is then that of the target's content. An unsafe or broken chain is not read (state `not-a-file`). A symlinked pidfile is never trusted: pidaudit never acts through a link.",
    fix: "Replace the link with a regular file written by the daemon (point the daemon's configuration at the real path); make sure nobody but root can write the directories on the way.",
});

pub const UNREADABLE: Code = Code::new(&CodeDoc {
    code: "unreadable",
    severity: Severity::Unknown,
    summary: "The pidfile (or a directory being searched) could not be read; evidence has the errno.",
    why: "Nothing can be said about a file that cannot be read: the state is unknown, not stale. Usually the audit runs without the privileges the file needs, or the file kept changing while it was read.",
    fix: "Run pidaudit as root, or as the daemon's user. If the file keeps changing, look for a writer looping on it.",
});

pub const MISSING_PIDFILE: Code = Code::new(&CodeDoc {
    code: "missing-pidfile",
    severity: Severity::Error,
    summary: "A pidfile that was named explicitly does not exist.",
    why: "A PATH given on the command line (or a manifest entry) says a daemon should have a pidfile there; without it, stop scripts cannot find the daemon.",
    fix: "Start the daemon, or correct the path.",
});

pub const NONSTANDARD_FORMAT: Code = Code::new(&CodeDoc {
    code: "nonstandard-format",
    severity: Severity::Info,
    summary: "The PID is read, but the file is not in the writer's form (decimal digits and one newline).",
    why: "The FHS (3.0, /run) asks readers to ignore whitespace, leading zeroes, a missing newline and additional lines, and writers to write the PID and one newline. pidaudit reads the PID as readers should and judges it; stricter tools (some init scripts, monitoring plugins) may not. Evidence names each deviation: `whitespace` around the number, `crlf` line ends, `extra_lines` after the PID (sendmail writes its command line there), `several_pids` (one PID per line, as some multi-process daemons write, or several on a line in a file whose writer does so, haproxy's; each is judged, the file's state comes from the first that runs, else the first, the others are listed in `more_pids` and a report's `pids`, and one that is not running is `listed-pid-not-running`).",
    fix: "Nothing is wrong with the process. If a tool misreads the file, fix the writer (or the tool); `--ignore nonstandard-format` hides the finding.",
});

/// Every code this check emits, in catalogue order.
pub const CODES: &[Code] = &[
    EMPTY,
    MALFORMED,
    NONSTANDARD_FORMAT,
    INVALID_PID,
    NOT_A_FILE,
    SYMLINK,
    UNREADABLE,
    MISSING_PIDFILE,
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
        let subject = entry.subject();
        let kind = serde_json::to_value(FileKind::Symlink).unwrap_or_default();
        let base = |message: String| {
            Finding::new(SYMLINK, &subject, message)
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
                    ReadOutcome::NotAFile { facts, .. } => {
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
                entry.facts.file = Some(FileFact::NotAFile);
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
    // A supervisor's binary status, or runit's `pid` emptied by `sv down`.
    if super::supervised::content(entry, read) {
        return;
    }
    let subject = entry.subject();
    let finding = match read {
        ReadOutcome::Vanished => {
            entry.facts.file = Some(FileFact::Missing);
            Finding::new(MISSING_PIDFILE, &subject, "no file at this path")
        }
        ReadOutcome::Error { op, errno } => {
            entry.facts.file = Some(FileFact::Unreadable);
            Finding::new(UNREADABLE, &subject, format!("cannot {op}: {errno}"))
                .with("operation", *op)
                .with("errno", errno.raw_os_error())
        }
        ReadOutcome::Unstable { facts, why } => {
            entry.facts.file = Some(FileFact::Unstable);
            Finding::new(UNREADABLE, &subject, why.describe())
                .with("operation", "read")
                .with("reason", why.reason())
                .with("size", facts.size)
        }
        ReadOutcome::NotAFile { facts, kernel } => {
            entry.facts.file = Some(FileFact::NotAFile);
            let what = facts.kind.describe();
            let f = if *kernel && facts.kind == crate::pidfile::FileKind::Directory {
                // A directory of procfs or sysfs named as a PATH: one answer, not a walk.
                Finding::new(
                    NOT_A_FILE,
                    &subject,
                    "a directory of the kernel's proc or sys file system (state generated when read), not a pidfile nor a directory of pidfiles; not walked",
                )
                .with("reason", "kernel_filesystem")
            } else if *kernel {
                Finding::new(
                    NOT_A_FILE,
                    &subject,
                    "a file of the kernel's proc or sys file system (state generated when read), not a pidfile; not opened",
                )
                .with("reason", "kernel_filesystem")
            } else {
                Finding::new(
                    NOT_A_FILE,
                    &subject,
                    format!("a {what}, not a regular file; not opened"),
                )
            };
            f.with("kind", serde_json::to_value(facts.kind).unwrap_or_default())
        }
        // Only reached for a link met at the end of a chain, which the chase never returns.
        ReadOutcome::Symlink { .. } => {
            entry.facts.file = Some(FileFact::NotAFile);
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
                Parsed::Lenient { pid, deviation } => {
                    entry.pid = Some(*pid);
                    let mut f = Finding::new(
                        NONSTANDARD_FORMAT,
                        &subject,
                        format!(
                            "PID {pid}, read as the FHS says readers should, but not in the writer's form (decimal digits and one newline): {deviation}"
                        ),
                    )
                    .with("deviations", deviation.reasons());
                    if !deviation.more_pids.is_empty() {
                        f = f.with("more_pids", deviation.more_pids.clone());
                    }
                    Some(f)
                }
                Parsed::Empty => {
                    entry.facts.file = Some(FileFact::NoPid);
                    Some(
                        Finding::new(EMPTY, &subject, "the file is empty").with("size", facts.size),
                    )
                }
                Parsed::Malformed(m) => {
                    entry.facts.file = Some(FileFact::NoPid);
                    Some(
                        Finding::new(MALFORMED, &subject, format!("the content {m}"))
                            .with("reason", m.reason())
                            .with("content", preview(bytes))
                            .with("size", facts.size),
                    )
                }
                Parsed::Invalid(i) => {
                    entry.facts.file = Some(FileFact::NoPid);
                    Some(
                        Finding::new(INVALID_PID, &subject, format!("{i}"))
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::checks::testing::{codes, config, cx, entry, file, pidfile};
    use crate::model::State;
    use crate::pidfile::{FileFacts, Refusal};
    use crate::system::Snapshot;
    use rustix::io::Errno;

    fn judged(mut e: Entry) -> Entry {
        let snap = Snapshot::builder().pid_max(32768).build();
        let config = config();
        check(&cx(&snap, &config), &mut e);
        e
    }

    fn fifo() -> FileFacts {
        FileFacts {
            kind: FileKind::Fifo,
            ..file(7, 0)
        }
    }

    /// Each read outcome without a PID records its file fact, state and finding.
    #[test]
    fn read_outcomes() {
        let cases: Vec<(ReadOutcome, FileFact, State, Code)> = vec![
            (
                ReadOutcome::Vanished,
                FileFact::Missing,
                State::Missing,
                MISSING_PIDFILE,
            ),
            (
                ReadOutcome::Error {
                    op: "open",
                    errno: Errno::ACCESS,
                },
                FileFact::Unreadable,
                State::Unreadable,
                UNREADABLE,
            ),
            (
                ReadOutcome::Unstable {
                    facts: file(7, 0),
                    why: crate::pidfile::Unsettled::Changing,
                },
                FileFact::Unstable,
                State::Unknown,
                UNREADABLE,
            ),
            (
                ReadOutcome::NotAFile {
                    facts: fifo(),
                    kernel: false,
                },
                FileFact::NotAFile,
                State::NotAFile,
                NOT_A_FILE,
            ),
        ];
        for (read, fact, state, code) in cases {
            let e = judged(entry("/run/a.pid", read.clone()));
            assert_eq!(e.facts.file, Some(fact), "{read:?}");
            assert_eq!(e.state(), state, "{read:?}");
            assert_eq!(codes(&e), [code], "{read:?}");
            assert_eq!(e.pid, None);
        }
    }

    /// Content that holds no valid PID is `NoPid` (invalid) with the finding saying why.
    #[test]
    fn content_without_a_pid() {
        for (content, code) in [
            ("", EMPTY),
            ("12 34\n", MALFORMED),
            ("0\n", INVALID_PID),
            ("40000\n", INVALID_PID),
        ] {
            let e = judged(pidfile("/run/a.pid", content, file(7, 0)));
            assert_eq!(e.facts.file, Some(FileFact::NoPid), "{content:?}");
            assert_eq!(e.state(), State::Invalid, "{content:?}");
            assert_eq!(codes(&e), [code], "{content:?}");
            assert_eq!(e.pid, None);
        }
    }

    /// A valid PID is recorded for the liveness check, with no file fact and no finding.
    #[test]
    fn content_with_a_pid() {
        let e = judged(pidfile("/run/a.pid", "4242\n", file(7, 0)));
        assert_eq!(e.pid, Some(4242));
        assert_eq!(e.facts.file, None);
        assert!(e.findings.is_empty(), "{:?}", e.findings);
        assert_eq!(e.state(), State::Unknown);
    }

    /// A link followed through a safe chain is judged by its target's content; a refused chain is
    /// not a file. Both carry the `symlink` warning.
    #[test]
    fn symlinks() {
        let link = |chase| ReadOutcome::Symlink {
            facts: FileFacts {
                kind: FileKind::Symlink,
                ..file(8, 0)
            },
            target: "/srv/a.pid".into(),
            chase,
        };
        let followed = judged(entry(
            "/run/a.pid",
            link(Chase::Followed {
                resolved: "/srv/a.pid".into(),
                outcome: Box::new(ReadOutcome::Content {
                    facts: file(7, 0),
                    bytes: b"4242\n".to_vec(),
                }),
            }),
        ));
        assert_eq!(followed.pid, Some(4242));
        assert_eq!(followed.facts.file, None);
        assert_eq!(codes(&followed), [SYMLINK]);
        assert_eq!(followed.findings[0].evidence["chain_safe"], true);
        let refused = judged(entry(
            "/run/a.pid",
            link(Chase::Refused {
                refusal: Refusal::Dangling,
                at: "/srv".into(),
            }),
        ));
        assert_eq!(refused.facts.file, Some(FileFact::NotAFile));
        assert_eq!(refused.state(), State::NotAFile);
        assert_eq!(codes(&refused), [SYMLINK]);
        assert_eq!(refused.findings[0].evidence["reason"], "dangling");
    }
}
