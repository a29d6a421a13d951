//! Deploy: is the running daemon the one on disk, and was it (re)started after the deploy?
//!
//! - `deleted-exe`: `/proc/PID/exe` ends with ` (deleted)`: the executable the daemon runs was removed
//!   or replaced since it started (a package upgrade without a restart). The path is looked up again
//!   (through `/proc/PID/root`, so a container's paths resolve in its own root) and its device and
//!   inode compared with the running file's: the finding says whether another file now stands there.
//!   Anonymous executables (`/memfd:...`) never had a path and are not judged.
//! - `started-before-deploy`: with `--started-after TIME` (or a manifest entry's `started_after`, the
//!   later of the two applying), a daemon whose process started earlier was not restarted by the
//!   deploy. Start times are `btime + starttime / CLK_TCK` and `btime` is whole seconds, so a process
//!   counts as started before only when it is more than [`START_TOLERANCE_SECS`] earlier.
//!
//! Both judge the process a `running` pidfile names.

use super::Cx;
use super::Entry;
use crate::model::State;
use crate::model::{Code, CodeDoc, Finding, Severity};
use crate::util::time::{rfc3339, unix};

/// Slack for computed start times (`btime` is truncated to whole seconds).
pub const START_TOLERANCE_SECS: f64 = 1.0;

pub const DELETED_EXE: Code = Code::new(&CodeDoc {
    code: "deleted-exe",
    severity: Severity::Warning,
    summary: "The daemon runs an executable that was deleted or replaced on disk since it started.",
    why: "The binary was upgraded (or removed) and the daemon not restarted: it still runs the old code, with the old bugs and security holes, and its next restart will run something else. Evidence says whether a different file now stands at the path (`replaced`) or nothing does.",
    fix: "Restart the daemon so it runs the file now on disk; if the file was removed, find out why (an uninstalled package, an attacker deleting their tracks).",
});

pub const STARTED_BEFORE_DEPLOY: Code = Code::new(&CodeDoc {
    code: "started-before-deploy",
    severity: Severity::Error,
    summary: "The daemon started before the time given with --started-after (or the manifest's started_after).",
    why: "A deploy that should have restarted the daemon did not: it still runs the old code and configuration while the deploy reports success.",
    fix: "Restart the daemon, then find out why the deploy's restart did not happen (a failed stop, a reload instead of a restart, a second copy answering instead).",
});

/// Every code this check emits, in catalogue order.
pub const CODES: &[Code] = &[DELETED_EXE, STARTED_BEFORE_DEPLOY];

/// Judges the running process's executable and start time.
pub fn check(cx: &Cx<'_>, entry: &mut Entry) {
    if entry.state() != State::Running {
        return;
    }
    let Some(process) = entry.process.clone() else {
        return;
    };
    let subject = entry.subject();
    let snap = cx.snapshot;
    // Only the executable is needed here. The unverified link is enough to find that nothing is
    // deleted (the common case: one system call); a link that ends with ` (deleted)` is read again
    // through the verified `/proc/PID` with the file it names, and only that is reported.
    let deleted = |p: &std::path::Path| p.as_os_str().as_encoded_bytes().ends_with(b" (deleted)");
    if !snap.exe_link(&process).is_some_and(deleted) {
        check_start(cx, entry, &process, &subject);
        return;
    }
    let exe = snap.exe(&process);
    let d = crate::system::Details {
        exe: exe.path.as_deref(),
        exe_id: exe.id,
        ..Default::default()
    };
    if let Some(exe) = d.exe.as_ref().filter(|_| d.exe_deleted()) {
        let (path, _) = crate::system::identity::strip_deleted(exe);
        if !path.as_os_str().as_encoded_bytes().starts_with(b"/memfd:") {
            let now = snap.stat_in_root(&process, &path);
            let (what, replaced) = match now {
                Ok(id) if Some(id) != d.exe_id => (
                    format!("was replaced: {} is now a different file", path.display()),
                    Some(true),
                ),
                Ok(_) => (
                    format!(
                        "was unlinked, but {} names the same file again",
                        path.display()
                    ),
                    Some(false),
                ),
                Err(rustix::io::Errno::NOENT) => (
                    format!("was deleted: nothing is at {} now", path.display()),
                    Some(false),
                ),
                Err(errno) => (
                    format!(
                        "was deleted or replaced ({} cannot be examined: {errno})",
                        path.display()
                    ),
                    None,
                ),
            };
            let id = |x: Option<(u64, u64)>| {
                x.map(|(dev, ino)| serde_json::json!({"dev": dev, "ino": ino}))
            };
            entry.findings.push(
                Finding::new(
                    DELETED_EXE,
                    &subject,
                    format!(
                        "PID {} ({}) runs an executable that {what}",
                        process.pid(),
                        process.stat.comm
                    ),
                )
                .with("pid", process.pid())
                .with("exe", path.display().to_string())
                .with("running_file", id(d.exe_id))
                .with("file_now", id(now.ok()))
                .with("replaced", replaced),
            );
        }
    }
    check_start(cx, entry, &process, &subject);
}

/// `started-before-deploy`.
fn check_start(cx: &Cx<'_>, entry: &mut Entry, process: &crate::system::Process, subject: &str) {
    let snap = cx.snapshot;
    let service = super::expect::service_for(cx, entry).and_then(|s| s.started_after);
    let threshold = match (cx.config.started_after, service) {
        (Some(a), Some(b)) => Some(a.max(b)),
        (a, b) => a.or(b),
    };
    if let (Some(after), Some(start)) = (threshold, snap.start_time(&process.stat)) {
        let after = unix(after);
        if start + START_TOLERANCE_SECS < after {
            entry.findings.push(
                Finding::new(
                    STARTED_BEFORE_DEPLOY,
                    subject,
                    format!(
                        "PID {} ({}) started at {}, before {}",
                        process.pid(),
                        process.stat.comm,
                        rfc3339(start),
                        rfc3339(after)
                    ),
                )
                .with("pid", process.pid())
                .with("start_time", (start * 100.0).round() / 100.0)
                .with("started_after", after),
            );
        }
    }
}
