//! Liveness: is the recorded PID alive, a zombie, or a different process than the one that wrote the
//! file?
//!
//! A process whose state is `Z` is a zombie only when it is alone: a thread-group leader whose main
//! thread exited shows `Z` while its other threads run (`Threads:` above 1 in /proc/PID/status), and
//! that process is alive (`main-thread-exited`).
//!
//! A PID is *reused* when the process that has it now started after the file was last written: the
//! writer must have existed when it wrote its PID, so a younger process cannot be it. Start times are
//! `btime + starttime / CLK_TCK`; `btime` is whole seconds, so the comparison allows
//! [`REUSE_TOLERANCE_SECS`]. A clock stepped forward after boot (a machine without an RTC syncing
//! late) shifts every computed start time by the step: the evidence carries both times so an operator
//! can see it.

use super::entry::{ListedPid, PidVerdict, ProcessFact};
use super::Cx;
use super::Entry;
use crate::model::{Code, CodeDoc, Finding, Severity};
use crate::pidfile::Parsed;
use crate::system::Lookup;

/// How many PIDs of a file that lists several a message names before it says how many more.
const MAX_NAMED: usize = 16;

/// Slack for the comparison of a process's start time with a file's mtime, in seconds.
pub const REUSE_TOLERANCE_SECS: f64 = 2.0;

pub const STALE: Code = Code::new(&CodeDoc {
    code: "stale",
    severity: Severity::Warning,
    summary: "No process has the PID in the file.",
    why: "The daemon died without removing its pidfile (SIGKILL, OOM, power loss). Init scripts may refuse to start it again, and the PID will eventually be handed to an unrelated process that a stop script would then signal.",
    fix: "Confirm the daemon is not running under another PID, then remove the file (after checking that no process holds a lock on it: see the lock evidence) or start the daemon, which rewrites it.",
});

pub const ZOMBIE: Code = Code::new(&CodeDoc {
    code: "zombie",
    severity: Severity::Error,
    summary: "The PID is a zombie: the process is dead but its parent has not reaped it.",
    why: "`kill -0 PID` still succeeds, so status scripts report the daemon as running while it does nothing. The parent named in the evidence is not calling wait(); zombies pile up until it does.",
    fix: "Restart or fix the parent named in the evidence (if it is a supervisor, it has a bug); the zombie disappears when its parent reaps it or exits. Then restart the daemon.",
});

pub const MAIN_THREAD_EXITED: Code = Code::new(&CodeDoc {
    code: "main-thread-exited",
    severity: Severity::Info,
    summary: "The process's main thread has exited, but its other threads keep it running: it is alive, not a zombie.",
    why: "A program whose main thread calls `pthread_exit()` (or exits it another way while other threads run) shows state `Z` in /proc/PID/stat and in `ps`, yet the process runs on. Judged by the state letter alone it would be a zombie, and a restart would start a second copy next to it. `Threads:` in /proc/PID/status tells them apart. Evidence has the thread count (the exited main thread included). Details that live on the main thread (its executable link, its descriptor table) may be unreadable.",
    fix: "Nothing to fix in the pidfile. Tools that read only the state letter (`ps`, status scripts) misreport this daemon; check /proc/PID/status `Threads:` or /proc/PID/task.",
});

pub const PID_REUSED: Code = Code::new(&CodeDoc {
    code: "pid-reused",
    severity: Severity::Error,
    summary: "A process has the PID, but it started after the file was last written: it is not the writer.",
    why: "The daemon died and the kernel handed its PID to an unrelated process. `kill $(cat file)` now signals the wrong process, possibly as root.",
    fix: "Do not signal the PID. Check whether the daemon runs under another PID; remove the stale file and restart the daemon.",
});

pub const PREVIOUS_BOOT: Code = Code::new(&CodeDoc {
    code: "previous-boot",
    severity: Severity::Warning,
    summary: "The file was last written before the current boot.",
    why: "No process of this boot can have written it, so its PID means nothing now (`/run` is normally a tmpfs, cleared at boot; a file from before boot lives on a disk-backed directory).",
    fix: "Remove the file; move the daemon's pidfile to /run so the next boot starts clean.",
});

pub const HIDDEN_PROCESS: Code = Code::new(&CodeDoc {
    code: "hidden-process",
    severity: Severity::Unknown,
    summary: "A process has the PID, but /proc does not show it to this user (hidepid).",
    why: "With /proc mounted `hidepid=1|2` an unprivileged user cannot see other users' processes. The process exists (the kernel confirms it), so the file is not stale, but nothing else can be judged.",
    fix: "Run pidaudit as root, or as a member of the group named in the proc mount's `gid=` option.",
});

pub const PROCESS_UNKNOWN: Code = Code::new(&CodeDoc {
    code: "process-unknown",
    severity: Severity::Unknown,
    summary: "The PID's process could not be examined.",
    why: "/proc is missing or unreadable here, or refused access to the process (evidence has the errno). Nothing is concluded: the file is neither stale nor healthy as far as pidaudit can tell.",
    fix: "Run pidaudit where /proc is mounted and readable, as root.",
});

pub const NOT_VISIBLE: Code = Code::new(&CodeDoc {
    code: "not-visible",
    severity: Severity::Unknown,
    summary: "Facts a check needs about other processes could not be read: a clean result would not mean clean.",
    why: "Unprivileged (a common monitoring setup), pidaudit cannot read other users' executables (`/proc/PID/exe`) or descriptors (`/proc/PID/fd`), and `hidepid` hides their processes. The checks that need them then find nothing, and silence would look like health: a second copy of the daemon (`duplicate-instance`) or an instance holding the lock on a deleted pidfile (`replaced-while-locked`) goes unreported. Evidence names the check left incomplete (`incomplete`), the processes out of reach (`pids`) and why (`reason`, `errno`).",
    fix: "Run pidaudit as root (for Nagios, through sudo: see contrib/), or accept that these checks are incomplete and `--ignore not-visible`.",
});

pub const LISTED_PID_NOT_RUNNING: Code = Code::new(&CodeDoc {
    code: "listed-pid-not-running",
    severity: Severity::Warning,
    summary: "A file that lists several PIDs names one that no longer runs (gone, a zombie, or reused).",
    why: "Multi-process daemons (haproxy without a master, some LSB scripts) write one PID per process. Each is judged: the file's state comes from the first PID that runs (else the first), and every other listed PID that is gone, a zombie or now another process's is reported here, since a stop script that signals every PID in the file would signal it too. One finding names them all. Evidence: `pids`, with `verdicts` (`stale`, `zombie`, `reused`) and `comms` in the same order, and the file's judged PID (`judged_pid`).",
    fix: "Restart the daemon so it rewrites the file with the PIDs it runs as; do not signal a `reused` PID.",
});

/// Every code this check emits, in catalogue order.
pub const CODES: &[Code] = &[
    STALE,
    LISTED_PID_NOT_RUNNING,
    ZOMBIE,
    MAIN_THREAD_EXITED,
    PID_REUSED,
    PREVIOUS_BOOT,
    HIDDEN_PROCESS,
    PROCESS_UNKNOWN,
    NOT_VISIBLE,
];

/// Judges the recorded PID against the snapshot.
pub fn check(cx: &Cx<'_>, entry: &mut Entry) {
    let subject = entry.subject();
    // Kernel state (procfs, sysfs) has no writer, and no age to judge.
    let kernel = matches!(
        entry.read,
        crate::pidfile::ReadOutcome::NotAFile { kernel: true, .. }
    );
    if let (Some(facts), Some(boot), false) = (entry.facts(), cx.snapshot.boot_time, kernel) {
        if facts.mtime < boot as i64 {
            entry.findings.push(
                Finding::new(
                    PREVIOUS_BOOT,
                    &subject,
                    "the file was last written before the current boot",
                )
                .with("mtime", facts.mtime)
                .with("boot_time", boot),
            );
        }
    }
    if entry.pid.is_none() {
        return;
    }
    let listed = judge_listed(cx, entry);
    let Some(pid) = entry.pid else { return };
    let pid = pid as i32;
    let down: Vec<&ListedPid> = listed
        .iter()
        .filter(|l| l.pid != pid as u32)
        .filter(|l| {
            matches!(
                l.verdict,
                PidVerdict::Stale | PidVerdict::Zombie | PidVerdict::Reused
            )
        })
        .collect();
    if !down.is_empty() {
        // One finding for all of them: a file of a few KiB can list hundreds.
        let said: Vec<String> = down
            .iter()
            .take(MAX_NAMED)
            .map(|l| {
                let comm = l.comm.as_deref().unwrap_or("?");
                match l.verdict {
                    PidVerdict::Stale => format!("PID {} (gone)", l.pid),
                    PidVerdict::Zombie => format!("PID {} (a zombie, {comm})", l.pid),
                    _ => format!(
                        "PID {} (now {comm}, started after the file was written)",
                        l.pid
                    ),
                }
            })
            .collect();
        let more = down.len().saturating_sub(MAX_NAMED);
        entry.findings.push(
            Finding::new(
                LISTED_PID_NOT_RUNNING,
                &subject,
                format!(
                    "the file lists {} PIDs; {} of them {} not running: {}{}",
                    listed.len(),
                    down.len(),
                    if down.len() == 1 { "is" } else { "are" },
                    said.join(", "),
                    if more > 0 {
                        format!(" and {more} more")
                    } else {
                        String::new()
                    }
                ),
            )
            .with("pids", down.iter().map(|l| l.pid).collect::<Vec<_>>())
            .with(
                "verdicts",
                down.iter().map(|l| l.verdict.as_str()).collect::<Vec<_>>(),
            )
            .with(
                "comms",
                down.iter().map(|l| l.comm.clone()).collect::<Vec<_>>(),
            )
            .with("judged_pid", pid),
        );
    }
    entry.listed = listed;
    match cx.snapshot.lookup(pid) {
        Lookup::Absent => {
            entry.facts.process = Some(ProcessFact::Absent);
            entry.findings.push(
                Finding::new(STALE, &subject, format!("no process has PID {pid}")).with("pid", pid),
            );
        }
        Lookup::Hidden => {
            entry.facts.process = Some(ProcessFact::Hidden);
            entry.findings.push(
                Finding::new(
                    HIDDEN_PROCESS,
                    &subject,
                    format!("PID {pid} exists but /proc hides it from this user"),
                )
                .with("pid", pid),
            );
        }
        Lookup::Unknown(errno) => {
            entry.facts.process = Some(ProcessFact::Unexaminable);
            entry.findings.push(
                Finding::new(
                    PROCESS_UNKNOWN,
                    &subject,
                    format!("cannot examine PID {pid}: {errno}"),
                )
                .with("pid", pid)
                .with("errno", errno.raw_os_error()),
            );
        }
        Lookup::Thread { tgid } => {
            entry.facts.process = Some(ProcessFact::Thread { tgid });
        }
        Lookup::Process(process) => {
            let stat = &process.stat;
            // A `Z` leader with other threads is a running process whose main thread exited.
            let threads = cx.snapshot.leader_exited(&process);
            if cx.snapshot.is_dead(&process) {
                entry.facts.process = Some(ProcessFact::Zombie);
                let parent = cx.snapshot.get(stat.ppid);
                let parent_comm = parent.map(|p| p.stat.comm.clone());
                entry.findings.push(
                    Finding::new(
                        ZOMBIE,
                        &subject,
                        format!(
                            "PID {pid} ({}) is a zombie; its parent {} ({}) has not reaped it",
                            stat.comm,
                            stat.ppid,
                            parent_comm.as_deref().unwrap_or("?")
                        ),
                    )
                    .with("pid", pid)
                    .with("comm", stat.comm.clone())
                    .with("parent_pid", stat.ppid)
                    .with("parent_comm", parent_comm),
                );
            } else if stat.is_kernel_thread() {
                entry.facts.process = Some(ProcessFact::KernelThread);
            } else {
                let started = cx.snapshot.start_time(stat);
                let mtime = entry.facts().map(|f| f.mtime_f64());
                match (started, mtime) {
                    (Some(start), Some(mtime)) if start > mtime + REUSE_TOLERANCE_SECS => {
                        entry.facts.process = Some(ProcessFact::StartedAfterWrite);
                        entry.findings.push(
                            Finding::new(
                                PID_REUSED,
                                &subject,
                                format!(
                                    "PID {pid} is now {} (started {} after the file was written): not the writer",
                                    stat.comm,
                                    crate::util::time::human_duration(start - mtime)
                                ),
                            )
                            .with("pid", pid)
                            .with("comm", stat.comm.clone())
                            .with("process_start_time", round3(start))
                            .with("file_mtime", round3(mtime)),
                        );
                    }
                    _ => match threads {
                        Some(threads) => {
                            entry.facts.process = Some(ProcessFact::LeaderExited { threads });
                            entry.findings.push(
                                Finding::new(
                                    MAIN_THREAD_EXITED,
                                    &subject,
                                    format!(
                                        "PID {pid} ({}) shows state Z, but only its main thread has exited: {} other thread{} keep{} it running",
                                        stat.comm,
                                        threads - 1,
                                        if threads == 2 { "" } else { "s" },
                                        if threads == 2 { "s" } else { "" },
                                    ),
                                )
                                .with("pid", pid)
                                .with("state", stat.state.to_string())
                                .with("threads", threads),
                            );
                        }
                        None => entry.facts.process = Some(ProcessFact::Alive),
                    },
                }
            }
            entry.process = Some(process);
        }
    }
}

/// Judges every PID of a file that lists several, and makes the first that runs (else the first)
/// the entry's PID. Empty for a file naming one PID.
fn judge_listed(cx: &Cx<'_>, entry: &mut Entry) -> Vec<ListedPid> {
    let (Some(first), Some(Parsed::Lenient { deviation, .. })) = (entry.pid, &entry.parsed) else {
        return Vec::new();
    };
    if deviation.more_pids.is_empty() {
        return Vec::new();
    }
    let mtime = entry.facts().map(|f| f.mtime_f64());
    let pids: Vec<u32> = std::iter::once(first)
        .chain(deviation.more_pids.iter().copied())
        .collect();
    let listed: Vec<ListedPid> = pids
        .into_iter()
        .map(|pid| {
            let (verdict, comm) = verdict(cx, pid as i32, mtime);
            ListedPid { pid, verdict, comm }
        })
        .collect();
    if let Some(l) = listed.iter().find(|l| l.verdict == PidVerdict::Running) {
        entry.pid = Some(l.pid);
    }
    listed
}

/// What one PID is, by the rules of [`check`], and the comm of its process.
fn verdict(cx: &Cx<'_>, pid: i32, mtime: Option<f64>) -> (PidVerdict, Option<String>) {
    let snap = cx.snapshot;
    match snap.lookup(pid) {
        Lookup::Absent => (PidVerdict::Stale, None),
        Lookup::Hidden => (PidVerdict::Hidden, None),
        Lookup::Unknown(_) => (PidVerdict::Unknown, None),
        Lookup::Thread { .. } => (PidVerdict::Thread, None),
        Lookup::Process(p) => {
            let comm = Some(p.stat.comm.clone());
            let v = if snap.is_dead(&p) {
                PidVerdict::Zombie
            } else if p.stat.is_kernel_thread() {
                PidVerdict::KernelThread
            } else {
                match (snap.start_time(&p.stat), mtime) {
                    (Some(start), Some(m)) if start > m + REUSE_TOLERANCE_SECS => {
                        PidVerdict::Reused
                    }
                    _ => PidVerdict::Running,
                }
            };
            (v, comm)
        }
    }
}

fn round3(x: f64) -> f64 {
    (x * 1000.0).round() / 1000.0
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::checks::entry::ProcessFact;
    use crate::checks::testing::{codes, config, cx, file, pidfile};
    use crate::checks::{content, target};
    use crate::model::State;
    use crate::system::fake::{FakeProcess, BOOT_TIME};
    use crate::system::Snapshot;

    /// Content, then liveness and target on a pidfile written 100 s after boot.
    fn run(snap: &Snapshot, content_: &str) -> Entry {
        let config = config();
        let cx = cx(snap, &config);
        let mut e = pidfile("/run/nginx.pid", content_, file(7, 100));
        content::check(&cx, &mut e);
        check(&cx, &mut e);
        target::check(&cx, &mut e);
        e
    }

    /// A process that started before the write is the writer: running, no finding.
    #[test]
    fn alive_process_is_running() {
        let snap = Snapshot::builder()
            .process(FakeProcess::new(500, "nginx").started(99.0))
            .build();
        let e = run(&snap, "500\n");
        assert_eq!(e.facts.process, Some(ProcessFact::Alive));
        assert_eq!(e.state(), State::Running);
        assert_eq!(e.process.as_ref().map(|p| p.pid()), Some(500));
        assert!(e.findings.is_empty(), "{:?}", e.findings);
    }

    /// A PID no process has is absent: the file is stale.
    #[test]
    fn absent_pid_is_stale() {
        let snap = Snapshot::builder()
            .process(FakeProcess::new(1, "systemd"))
            .build();
        let e = run(&snap, "500\n");
        assert_eq!(e.facts.process, Some(ProcessFact::Absent));
        assert_eq!(e.state(), State::Stale);
        assert_eq!(codes(&e), [STALE]);
        assert!(e.process.is_none());
    }

    /// A zombie is judged a zombie, and the finding names the parent that has not reaped it.
    #[test]
    fn zombie_names_its_parent() {
        let snap = Snapshot::builder()
            .process(FakeProcess::new(40, "supervise"))
            .process(FakeProcess::new(500, "nginx").ppid(40).zombie())
            .build();
        let e = run(&snap, "500\n");
        assert_eq!(e.facts.process, Some(ProcessFact::Zombie));
        assert_eq!(e.state(), State::Zombie);
        assert_eq!(codes(&e), [ZOMBIE]);
        assert_eq!(e.findings[0].evidence["parent_comm"], "supervise");
    }

    /// A process that started after the file was written is not its writer: reused; within the
    /// tolerance it still counts as the writer.
    #[test]
    fn started_after_write_is_reused() {
        let snap = Snapshot::builder()
            .process(FakeProcess::new(500, "bash").started(100.0 + REUSE_TOLERANCE_SECS + 5.0))
            .process(FakeProcess::new(501, "nginx").started(100.0 + REUSE_TOLERANCE_SECS))
            .build();
        let e = run(&snap, "500\n");
        assert_eq!(e.facts.process, Some(ProcessFact::StartedAfterWrite));
        assert_eq!(e.state(), State::Reused);
        assert_eq!(codes(&e), [PID_REUSED]);
        let e = run(&snap, "501\n");
        assert_eq!(e.facts.process, Some(ProcessFact::Alive));
        assert!(e.findings.is_empty(), "{:?}", e.findings);
    }

    /// A kernel thread's PID is invalid, reported by the target check.
    #[test]
    fn kernel_thread_is_invalid() {
        let snap = Snapshot::builder()
            .process(FakeProcess::new(57, "kworker/0:1").ppid(2).kernel_thread())
            .build();
        let e = run(&snap, "57\n");
        assert_eq!(e.facts.process, Some(ProcessFact::KernelThread));
        assert_eq!(e.state(), State::Invalid);
        assert_eq!(codes(&e), [target::KERNEL_THREAD]);
    }

    /// A thread ID records the Thread fact with its process; the target check reports it.
    #[test]
    fn thread_id_is_a_thread() {
        let snap = Snapshot::builder()
            .process(FakeProcess::new(500, "nginx"))
            .thread(503, 500)
            .build();
        let e = run(&snap, "503\n");
        assert_eq!(e.facts.process, Some(ProcessFact::Thread { tgid: 500 }));
        assert_eq!(e.thread_of(), Some(500));
        assert_eq!(e.state(), State::Invalid);
        assert_eq!(codes(&e), [target::THREAD_ID]);
    }

    /// A hidden process and one that cannot be examined are unknown, never stale.
    #[test]
    fn hidden_and_unexaminable_are_unknown() {
        let snap = Snapshot::builder()
            .hidden(500)
            .unknown(600, rustix::io::Errno::ACCESS)
            .build();
        let e = run(&snap, "500\n");
        assert_eq!(e.facts.process, Some(ProcessFact::Hidden));
        assert_eq!(
            (e.state(), codes(&e)),
            (State::Unknown, vec![HIDDEN_PROCESS])
        );
        let e = run(&snap, "600\n");
        assert_eq!(e.facts.process, Some(ProcessFact::Unexaminable));
        assert_eq!(
            (e.state(), codes(&e)),
            (State::Unknown, vec![PROCESS_UNKNOWN])
        );
    }

    /// A file last written before boot gets `previous-boot` as well as its process verdict.
    #[test]
    fn written_before_boot() {
        let snap = Snapshot::builder().build();
        let config = config();
        let cx = cx(&snap, &config);
        let mut e = pidfile("/var/run/nginx.pid", "500\n", file(7, -60));
        content::check(&cx, &mut e);
        check(&cx, &mut e);
        assert_eq!(codes(&e), [PREVIOUS_BOOT, STALE]);
        assert_eq!(e.findings[0].evidence["boot_time"], BOOT_TIME);
    }
}
