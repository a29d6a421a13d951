//! Target: is the recorded PID one a daemon can have at all?
//!
//! Kernel threads have no executable and cannot be stopped by a signal; a thread ID that is not a
//! thread-group leader is never what a daemon writes; PID 1 is the init system unless the daemon *is*
//! PID 1 (in a container).

use super::Cx;
use super::Entry;
use crate::model::{Code, CodeDoc, Finding, Severity};

pub const KERNEL_THREAD: Code = Code::new(&CodeDoc {
    code: "kernel-thread",
    severity: Severity::Error,
    summary: "The PID belongs to a kernel thread.",
    why: "No daemon is a kernel thread: the file is stale and its PID was reused by the kernel. Kernel threads ignore most signals, so the mistake shows up only when a stop script 'succeeds' and the daemon never stopped.",
    fix: "Remove the stale file; restart the daemon.",
});

pub const THREAD_ID: Code = Code::new(&CodeDoc {
    code: "thread-id",
    severity: Severity::Error,
    summary: "The PID is a thread ID, not a process: not a thread-group leader.",
    why: "A daemon writes its process ID (getpid), never a thread ID (gettid). A TID here means the file is stale and the number was reused by a thread of another process; signals sent to it reach that whole process.",
    fix: "Remove the stale file; restart the daemon. If the daemon itself writes gettid(), report the bug.",
});

pub const TARGETS_INIT: Code = Code::new(&CodeDoc {
    code: "targets-init",
    severity: Severity::Error,
    summary: "The file names PID 1, the init system, not the daemon.",
    why: "A stop script would signal init. Outside containers no daemon is PID 1; the file is stale, corrupt or planted (the classic `echo 1 > x.pid` attack on root stop scripts).",
    fix: "Remove the file and restart the daemon; find out who wrote it.",
});

/// Every code this check emits, in catalogue order.
pub const CODES: &[Code] = &[KERNEL_THREAD, THREAD_ID, TARGETS_INIT];

/// Judges what kind of task the recorded PID is.
pub fn check(cx: &Cx<'_>, entry: &mut Entry) {
    let subject = entry.subject();
    let Some(pid) = entry.pid else { return };
    if let Some(tgid) = entry.thread_of() {
        let comm = cx.snapshot.get(tgid).map(|p| p.stat.comm.clone());
        entry.findings.push(
            Finding::new(
                THREAD_ID,
                &subject,
                format!(
                    "{pid} is a thread of process {tgid} ({}), not a process",
                    comm.as_deref().unwrap_or("?")
                ),
            )
            .with("pid", pid)
            .with("tgid", tgid)
            .with("tgid_comm", comm),
        );
        return;
    }
    let Some(process) = entry.process.clone() else {
        return;
    };
    let stat = &process.stat;
    if stat.is_kernel_thread() {
        entry.findings.push(
            Finding::new(
                KERNEL_THREAD,
                &subject,
                format!("PID {pid} is the kernel thread {}", stat.comm),
            )
            .with("pid", pid)
            .with("comm", stat.comm.clone()),
        );
        return;
    }
    // PID 1 is the daemon only in a container whose init it is: then its names match the file's. A
    // file whose name says nothing cannot show that, and PID 1 is whatever init this machine runs
    // (systemd, a container's tini, a VM agent), so it is judged to target init.
    if pid == 1 && super::name::verdict(cx, entry, &process).0 != Some(true) {
        entry.facts.targets_init = true;
        entry.findings.push(
            Finding::new(
                TARGETS_INIT,
                &subject,
                format!("names PID 1, the init system ({})", stat.comm),
            )
            .with("pid", 1)
            .with("comm", stat.comm.clone()),
        );
    }
}
