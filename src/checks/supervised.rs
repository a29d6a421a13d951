//! Supervised services: what daemontools, runit and s6 say about a service, against the process
//! table and the locks.
//!
//! A `supervise/pid` (runit) or `supervise/status` (daemontools, s6) is judged like a pidfile (the
//! PID it names is alive, a zombie, reused...), with these differences:
//! - **Down is a state, not a broken file.** A status that names no process (runit empties `pid`
//!   after `sv down`, and while the `finish` script runs) makes the entry `down`: never `empty`,
//!   `invalid` or something to remove ([`content`]).
//! - **The supervisor holds the lock.** The supervisor holds a lock on `supervise/lock` for its
//!   whole life (daemontools and runit by `flock`, s6 by `lockf`); the daemon never locks the status
//!   file. So `unlocked` is never said of these files; the supervisor is the process holding a
//!   write lock on `lock` through a descriptor opened for writing, with root's or the file owner's
//!   uid (the same proof as a pidfile's lock, `locks::proof`). No lock on it in a consistent
//!   `/proc/locks`: the supervisor is gone.
//! - **Findings.** `supervised-down` (down on purpose, paused, or run once), `flapping` (wanted up
//!   but restarting: see [`FLAPPING`] for how one audit tells), `unsupervised` (the service runs,
//!   its supervisor is gone), `supervisor-gone` (neither runs: nothing will restart it),
//!   `supervisor-mismatch` (the PID is not the supervisor's child, or the daemon's own pidfile
//!   names another process), `double-managed` (another copy of the supervised daemon runs outside
//!   the supervisor). `double-managed` replaces `duplicate-instance` on the same entry (resolve).
//!
//! Only a trusted file (see `trust`: root's or the service user's, writable by nobody else, on a
//! safe path) is judged this way: a status another user may have forged (under `/run/user`, say)
//! could name any process, and gets only its trust findings.
//!
//! What a supervised service is, and the control command that restarts it without fighting its
//! supervisor, is recorded on the entry ([`ServiceFacts`]) and shown in every report: repair never
//! acts on these files, and operators use `svc -t`, `sv term` or `s6-svc -t`.

use super::entry::FileFact;
use super::Cx;
use super::Entry;
use crate::model::{Code, CodeDoc, Finding, Severity, State};
use crate::pidfile::{Parsed, ReadOutcome, Unsettled};
use crate::supervise::{parse_status, Phase, Supervision, Supervisor};
use crate::system::identity::{self, Identity};
use crate::system::Process;
use serde::Serialize;
use std::collections::HashSet;
use std::sync::Arc;

pub const SUPERVISED_DOWN: Code = Code::new(&CodeDoc {
    code: "supervised-down",
    severity: Severity::Info,
    summary: "A supervised service is down, paused, or ran once, as its supervisor was told.",
    why: "The supervisor's status names no running process because the service was taken down (`svc -d`, `sv down`, `s6-svc -d`), paused with SIGSTOP (`svc -p`, `sv pause`, `s6-svc -p`; a warning: the process exists but serves nothing), or run once and not restarted (`svc -o`). runit empties `supervise/pid` then: that is how it marks a service down, not a broken pidfile, and nothing is to be removed. Evidence says whether the service directory has a `down` file (`normally_up`), for how long it has been down, and the supervisor's status command.",
    fix: "Nothing, if it is meant to be down. Otherwise start it through its supervisor (`svc -u DIR`, `sv up DIR`, `s6-svc -u DIR`); resume a paused one with `svc -c`, `sv cont`, `s6-svc -c`.",
});

pub const FLAPPING: Code = Code::new(&CodeDoc {
    code: "flapping",
    severity: Severity::Warning,
    summary: "A supervised service is wanted up but keeps dying: it is down, finishing, or up for only seconds while its supervisor has run much longer.",
    why: "A supervisor restarts a dying service about once a second for ever, so a crash loop looks healthy to anything that only asks whether a process exists. One audit tells it this way: the service is wanted up and either has no process (between a death and the restart, or running its `finish` script), or its process has been up less than 5 seconds although its supervisor started more than 2 seconds before that process (it is not the supervisor's first start). A manual restart (`svc -t`) looks the same for those 5 seconds: audit again, or watch `supervise/status` change. s6 records its deaths (`supervise/death_tally`): 3 or more in the last 60 seconds is flapping whatever the instant shows (evidence `deaths_last_minute`), and the last death's wait status (evidence `last_exit` / `last_signal`).",
    fix: "Run the service's `run` script by hand to see why it dies (its log service, `svlogd`/`multilog`/`s6-log` output), fix the cause; take it down meanwhile if its restarts cause harm (`svc -d`, `sv down`, `s6-svc -d`).",
});

pub const UNSUPERVISED: Code = Code::new(&CodeDoc {
    code: "unsupervised",
    severity: Severity::Error,
    summary: "The supervised service runs, but its supervisor is gone.",
    why: "No live process holds the supervisor's lock (`supervise/lock`) any more: the supervisor died or was killed (a SIGKILL leaves its child running, reparented to init). Nobody restarts the service when it dies, `svc`/`sv`/`s6-svc` commands go nowhere, and a supervisor started again runs a second copy beside the orphan.",
    fix: "Stop the orphaned process (its PID is in the evidence; check it first), then start the supervisor again (`svscan`, `runsvdir`, `s6-svscan`, or the init that runs them) so it starts the service.",
});

pub const SUPERVISOR_GONE: Code = Code::new(&CodeDoc {
    code: "supervisor-gone",
    severity: Severity::Warning,
    summary: "Nothing supervises the service any more, and it does not run: its status files are leftovers.",
    why: "No live process holds `supervise/lock`, so the supervisor has exited and nothing will start the service. `svstat` says `supervise not running`, `sv status` `unable to open supervise/ok`, `s6-svstat` `s6-supervise not running`.",
    fix: "Start the supervisor again (or the scanner that runs it); if the service was retired, remove its service directory from the scan directory.",
});

pub const SUPERVISOR_MISMATCH: Code = Code::new(&CodeDoc {
    code: "supervisor-mismatch",
    severity: Severity::Error,
    summary: "The supervisor and the process table (or the daemon's own pidfile) disagree about which process is the service.",
    why: "Either the PID in the supervisor's status is alive but is not the supervisor's child (the supervisor was restarted and this PID belongs to someone else, or the status file was written by another hand), or the daemon's own pidfile (a file its command line names with `-P FILE`, `--pidfile FILE`...) names another process than the one its supervisor runs: stop scripts that read the pidfile signal the wrong process, or nothing.",
    fix: "Restart the service through its supervisor (`svc -t`, `sv term`, `s6-svc -t`) so it rewrites its files; if a second copy wrote the pidfile, see `double-managed`.",
});

pub const DOUBLE_MANAGED: Code = Code::new(&CodeDoc {
    code: "double-managed",
    severity: Severity::Error,
    summary: "Another copy of a supervised daemon (same exe, arguments and user) runs outside its supervisor.",
    why: "The daemon is run by a supervisor and also by an init script, a cron job or by hand: two copies do every job twice, fight over ports and files, and the one outside the supervisor is neither restarted nor stopped by it. The seed incident: one copy under `supervise`, one forgotten in the background. The evidence lists the other copies (PID, parent, start time, whether a pidfile tracks them).",
    fix: "Stop the copy outside the supervisor (check its PID first), and remove whatever started it (init script, rc.local, cron); control the daemon only through its supervisor.",
});

/// Every code this check emits.
pub const CODES: &[Code] = &[
    SUPERVISED_DOWN,
    FLAPPING,
    UNSUPERVISED,
    SUPERVISOR_GONE,
    SUPERVISOR_MISMATCH,
    DOUBLE_MANAGED,
];

/// s6 records deaths: this many within [`FLAP_DEATHS_WINDOW_SECS`] of the audit is flapping.
pub const FLAP_DEATHS: usize = 3;
pub const FLAP_DEATHS_WINDOW_SECS: f64 = 60.0;
/// A service up for less than this (seconds) while its supervisor is older is flapping.
pub const FLAP_UPTIME_SECS: f64 = 5.0;
/// The supervisor's own start-up: a service started within this of its supervisor is its first start.
pub const FLAP_GRACE_SECS: f64 = 2.0;

/// What the audit established about a supervised service; shown in every report as `supervised`.
#[derive(Clone, Debug, Default, Serialize)]
pub struct ServiceFacts {
    /// `daemontools`, `runit` or `s6` (null when the status could not be read).
    pub supervisor: Option<Supervisor>,
    /// The service as its control commands take it (directory, or runit service name).
    pub service: String,
    /// `run`, `down` or `finish`, from the status.
    pub phase: Option<Phase>,
    /// `up`, `down`, or `once` (daemontools `svc -o`).
    pub want: Option<&'static str>,
    pub paused: bool,
    /// Whether the service directory has no `down` file; null when unknown.
    pub normally_up: Option<bool>,
    /// Seconds since the status last changed (up or down for that long).
    pub for_secs: Option<f64>,
    /// The process holding `supervise/lock`; null when none does or it is not known.
    pub supervisor_pid: Option<i32>,
    /// Whether the supervisor runs: null when it could not be told.
    pub supervisor_alive: Option<bool>,
    /// Whether the service's process is the supervisor's child.
    pub child_of_supervisor: Option<bool>,
    /// The command that restarts the service through its supervisor (`svc -t DIR`, `sv term DIR`,
    /// `s6-svc -t DIR`): the only restart that does not fight the supervisor.
    pub control: Option<String>,
    /// The supervisor's own status command for the service (`svstat DIR`, ...).
    pub status_command: Option<String>,
}

/// The content check's part for supervised files: decodes a binary `status` (its PID becomes the
/// entry's), and makes a status that names no process `down`. Returns whether it judged the
/// content (else the pidfile rules apply: runit's `pid` is a plain pidfile while the service runs).
pub fn content(entry: &mut Entry, read: &ReadOutcome) -> bool {
    let Some(sv) = entry.supervision.clone() else {
        return false;
    };
    let subject = entry.subject();
    if entry.name == "status" {
        let ReadOutcome::Content { bytes, facts } = read else {
            return false;
        };
        match parse_status(bytes) {
            Ok(st) => match st.pid {
                Some(pid) => {
                    entry.pid = Some(pid);
                    entry.parsed = Some(Parsed::Pid(pid));
                }
                None => entry.facts.file = Some(FileFact::Down),
            },
            Err(e) => {
                entry.facts.file = Some(FileFact::NoPid);
                entry.findings.push(
                    Finding::new(
                        super::content::MALFORMED,
                        &subject,
                        format!("not a supervisor's status: {e}"),
                    )
                    .with("reason", e.reason())
                    .with("size", facts.size),
                );
            }
        }
        return true;
    }
    // runit's `pid`: empty while the service is down or finishing.
    let empty = match read {
        ReadOutcome::Content { bytes, .. } => bytes.iter().all(u8::is_ascii_whitespace),
        ReadOutcome::Unstable {
            why: Unsettled::Emptied,
            ..
        } => true,
        _ => false,
    };
    let down = match (&sv.status, &sv.stat) {
        (Ok(st), _) => st.pid.is_none() || st.phase != Phase::Run,
        (Err(_), Some(stat)) => stat.phase != Phase::Run,
        (Err(_), None) => false,
    };
    if empty && down {
        entry.facts.file = Some(FileFact::Down);
        return true;
    }
    false
}

/// What is known of the supervisor.
enum Holder {
    Alive(Arc<Process>),
    Gone,
    Unknown(&'static str),
}

/// The process holding `supervise/lock` as only the supervisor could (see the module docs).
fn supervisor(cx: &Cx<'_>, sv: &Supervision, daemon: Option<&Arc<Process>>) -> Holder {
    let Some(lock) = sv.lock else {
        return Holder::Unknown("no_lock_file");
    };
    if cx.snapshot.proc_error.is_some() {
        return Holder::Unknown("proc_unreadable");
    }
    let table = cx.snapshot.locks();
    let fl = table.resolve(cx.snapshot, lock.dev, lock.ino, None);
    for l in &fl.locks {
        for h in &l.holders {
            if super::locks::proof(cx, l, h, Some(lock.uid)).is_ok()
                && !cx.snapshot.is_dead(&h.process)
            {
                return Holder::Alive(Arc::clone(&h.process));
            }
        }
    }
    if fl.locked() {
        // Held, but its holder not found (or not proven): not "gone".
        return Holder::Unknown("holder_unknown");
    }
    if table.consistent() {
        return Holder::Gone;
    }
    // A table read in pieces (a busy machine's /proc/locks takes several reads) may miss the lock:
    // ask the processes that could be the supervisor (its comm), the daemon's parent first, at
    // most MAX_SUPERVISOR_CANDIDATES of them.
    let Some(kind) = sv.supervisor else {
        return Holder::Unknown("locks_inconsistent");
    };
    let snap = cx.snapshot;
    let mut candidates: Vec<i32> = daemon
        .map(|d| d.stat.ppid)
        .filter(|pp| snap.get(*pp).is_some_and(|p| p.stat.comm == kind.comm()))
        .into_iter()
        .collect();
    candidates.extend(snap.tree().with_comm(kind.comm()).iter().copied());
    candidates.dedup();
    if candidates.len() > MAX_SUPERVISOR_CANDIDATES {
        return Holder::Unknown("locks_inconsistent");
    }
    for pid in candidates {
        let Some(p) = snap.get(pid).filter(|p| !snap.is_dead(p)) else {
            continue;
        };
        match table.held_by(snap, pid, lock.dev, lock.ino) {
            Ok(held) if !held.is_empty() => return Holder::Alive(Arc::clone(p)),
            Ok(_) => {}
            // Exited since the snapshot: it holds nothing.
            Err(rustix::io::Errno::NOENT | rustix::io::Errno::SRCH) => {}
            Err(_) => return Holder::Unknown("fdinfo_unreadable"),
        }
    }
    Holder::Gone
}

/// The most processes of a supervisor's comm whose descriptors are read to find the holder of
/// `supervise/lock` when `/proc/locks` was not one consistent view.
pub const MAX_SUPERVISOR_CANDIDATES: usize = 64;

fn secs(x: f64) -> f64 {
    (x * 10.0).round() / 10.0
}

/// Judges every supervised entry (after the instance survey: see [`super::check_entries`]).
pub fn check(cx: &Cx<'_>, entries: &mut [Entry]) {
    let now = cx
        .snapshot
        .taken_at
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64());
    // (index, daemon) of each supervised service whose process runs: for the cross-file rules.
    let mut running: Vec<(usize, Arc<Process>)> = Vec::new();
    for (i, entry) in entries.iter_mut().enumerate() {
        let Some(sv) = entry.supervision.clone() else {
            continue;
        };
        let status = sv.status.as_ref().ok();
        let state = entry.state();
        let daemon = entry
            .process
            .clone()
            // A reused PID is not the service (`pid-reused` says so).
            .filter(|p| state == State::Running && !cx.snapshot.is_dead(p));
        let holder = supervisor(cx, &sv, daemon.as_ref());
        let mut facts = ServiceFacts {
            supervisor: sv.supervisor,
            service: crate::model::text::path(&sv.service),
            phase: status
                .map(|s| s.phase)
                .or(sv.stat.as_ref().map(|s| s.phase)),
            want: status.map(|s| match s.want_up {
                Some(true) => "up",
                Some(false) => "down",
                None => "once",
            }),
            paused: status.is_some_and(|s| s.paused),
            normally_up: sv.normally_up,
            for_secs: status.map(|s| secs((now - s.since).max(0.0))),
            control: sv.term_command(),
            status_command: sv.status_command(),
            ..ServiceFacts::default()
        };
        match &holder {
            Holder::Alive(p) => {
                facts.supervisor_pid = Some(p.pid());
                facts.supervisor_alive = Some(true);
            }
            Holder::Gone => facts.supervisor_alive = Some(false),
            Holder::Unknown(_) => {}
        }
        if let (Some(d), Holder::Alive(s)) = (&daemon, &holder) {
            facts.child_of_supervisor = Some(d.stat.ppid == s.pid());
        }
        let subject = entry.subject();
        let base = |code: Code, message: String| {
            let mut f = Finding::new(code, &subject, message)
                .with("service", facts.service.clone())
                .with("supervisor", facts.supervisor.map(Supervisor::as_str))
                .with("want", facts.want)
                .with("for_secs", facts.for_secs)
                .with("supervisor_pid", facts.supervisor_pid)
                .with("normally_up", facts.normally_up);
            if let Some(c) = &facts.status_command {
                f = f.with("status_command", c.clone());
            }
            if let Holder::Unknown(why) = &holder {
                f = f.with("supervisor_unknown", *why);
            }
            f
        };
        let for_text = facts
            .for_secs
            .map(|s| format!(" for {}", human_secs(s)))
            .unwrap_or_default();
        let want_up = status.and_then(|s| s.want_up);
        let mut out: Vec<Finding> = Vec::new();
        if state == State::Down {
            if let Holder::Gone = holder {
                out.push(base(
                    SUPERVISOR_GONE,
                    format!(
                        "the service is down{for_text} and no process holds {}: its supervisor is gone, nothing will start it",
                        sv.supervise_dir.join("lock").display()
                    ),
                ));
            } else if want_up == Some(false) {
                let normally = if sv.normally_up == Some(true) {
                    ", normally up"
                } else {
                    ""
                };
                out.push(base(
                    SUPERVISED_DOWN,
                    format!("down on purpose (wanted down){for_text}{normally}"),
                ));
            } else if want_up.is_none() && status.is_some() {
                out.push(base(
                    SUPERVISED_DOWN,
                    format!("ran once and exited (not to be restarted){for_text}"),
                ));
            } else if matches!(holder, Holder::Alive(_)) {
                let phase = facts.phase.map_or("down", Phase::as_str);
                let mut f = base(
                    FLAPPING,
                    format!("wanted up but {phase}{for_text}: it died and its supervisor is restarting it"),
                );
                if let Some(w) = status.and_then(|s| s.wstat) {
                    f = wstat(f, w);
                }
                out.push(f);
            }
        } else if let Some(d) = &daemon {
            match &holder {
                Holder::Gone => out.push(
                    base(
                        UNSUPERVISED,
                        format!(
                            "PID {} ({}) runs, but no process holds {}: its supervisor is gone and nothing will restart or stop it",
                            d.pid(),
                            d.stat.comm,
                            sv.supervise_dir.join("lock").display()
                        ),
                    )
                    .with("pid", d.pid())
                    .with("ppid", d.stat.ppid),
                ),
                Holder::Alive(s) => {
                    if d.stat.ppid != s.pid() {
                        out.push(
                            base(
                                SUPERVISOR_MISMATCH,
                                format!(
                                    "the supervisor (PID {}) names PID {} ({}), which is not its child (its parent is PID {})",
                                    s.pid(),
                                    d.pid(),
                                    d.stat.comm,
                                    d.stat.ppid
                                ),
                            )
                            .with("pid", d.pid())
                            .with("ppid", d.stat.ppid)
                            .with("reason", "not_child"),
                        );
                    }
                    let sup_start = cx.snapshot.start_time(&s.stat);
                    if let (Some(st), Some(sup_start), Some(true)) = (status, sup_start, want_up) {
                        let up = now - st.since;
                        if up < FLAP_UPTIME_SECS && st.since - sup_start > FLAP_GRACE_SECS {
                            let mut f = base(
                                FLAPPING,
                                format!(
                                    "up for only {} although its supervisor has run for {}: it was restarted moments ago",
                                    human_secs(up.max(0.0)),
                                    human_secs((now - sup_start).max(0.0))
                                ),
                            )
                            .with("pid", d.pid());
                            if let Some(w) = st.wstat {
                                f = wstat(f, w);
                            }
                            out.push(f);
                        }
                    }
                }
                Holder::Unknown(_) => {}
            }
            if status.is_some_and(|s| s.paused) {
                out.push(
                    base(
                        SUPERVISED_DOWN,
                        format!(
                            "paused (stopped with SIGSTOP){for_text}: PID {} serves nothing",
                            d.pid()
                        ),
                    )
                    .severity(Severity::Warning)
                    .with("pid", d.pid()),
                );
            }
            running.push((i, Arc::clone(d)));
        } else if let (State::Zombie, Holder::Alive(sup), Some(true)) = (state, &holder, want_up) {
            // Died moments ago; the supervisor reaps it and restarts the service (a zombie it
            // never reaps is the `zombie` finding's business).
            if entry
                .process
                .as_ref()
                .is_some_and(|p| p.stat.ppid == sup.pid())
            {
                out.push(base(
                    FLAPPING,
                    "wanted up but its process has just died (a zombie its supervisor has not reaped yet): it is being restarted".into(),
                ));
            }
        } else if let Holder::Gone = holder {
            out.push(base(
                SUPERVISOR_GONE,
                format!(
                    "no process holds {}: its supervisor is gone, and the PID its status names does not run the service",
                    sv.supervise_dir.join("lock").display()
                ),
            ));
        }
        // s6 counts deaths: several in the last minute, whatever the look at this instant showed.
        let recent = sv
            .deaths
            .iter()
            .filter(|d| now - d.at < FLAP_DEATHS_WINDOW_SECS && d.at <= now + 1.0)
            .count();
        if recent >= FLAP_DEATHS && want_up == Some(true) && !out.iter().any(|f| f.code == FLAPPING)
        {
            out.push(base(
                FLAPPING,
                format!(
                    "died {recent} times in the last {FLAP_DEATHS_WINDOW_SECS:.0} s (its supervisor's death tally)"
                ),
            ));
        }
        if let Some(f) = out.iter_mut().find(|f| f.code == FLAPPING) {
            if !sv.deaths.is_empty() {
                f.evidence.insert("deaths_last_minute", recent.into());
            }
        }
        // A file someone else than root or the service's user may have written proves nothing
        // about the process it names: its trust findings say why, and nothing more is said.
        if entry.trusted {
            entry.findings.extend(out);
        } else {
            running.retain(|(j, _)| *j != i);
        }
        entry.service = Some(Box::new(facts));
    }
    across(cx, entries, &running);
}

fn wstat(f: Finding, w: u16) -> Finding {
    // A wait status: signal in the low 7 bits, else the exit code in the next byte.
    let sig = w & 0x7f;
    if sig != 0 {
        f.with("last_signal", sig)
    } else {
        f.with("last_exit", (w >> 8) & 0xff)
    }
}

fn human_secs(s: f64) -> String {
    if s < 60.0 {
        format!("{s:.1} s")
    } else if s < 3600.0 {
        format!("{:.0} min", s / 60.0)
    } else if s < 86400.0 {
        format!("{:.1} h", s / 3600.0)
    } else {
        format!("{:.1} d", s / 86400.0)
    }
}

/// The rules across files: other copies of a supervised daemon (`double-managed`), and the
/// daemon's own pidfile naming another process (`supervisor-mismatch`).
fn across(cx: &Cx<'_>, entries: &mut [Entry], running: &[(usize, Arc<Process>)]) {
    let snap = cx.snapshot;
    let tree = snap.tree();
    // Every supervised daemon's tree: a copy inside another service's tree is that service's.
    let supervised: HashSet<i32> = running
        .iter()
        .flat_map(|(_, d)| tree.subtree(d.pid()))
        .collect();
    for (i, d) in running {
        let ident = Identity::of(snap, d);
        let mine = tree.subtree(d.pid());
        let mut copies: Vec<i32> = Vec::new();
        for &pid in tree.with_comm(&d.stat.comm) {
            if mine.contains(&pid) || supervised.contains(&pid) {
                continue;
            }
            if identity::is_same(snap, pid, &ident) {
                let Some(p) = snap.get(pid) else { continue };
                let top = identity::root_of(snap, p, &ident);
                if !copies.contains(&top) && !mine.contains(&top) {
                    copies.push(top);
                }
            }
        }
        copies.sort_unstable();
        if !copies.is_empty() {
            let tracked: HashSet<i32> = entries
                .iter()
                .filter_map(|e| e.process.as_ref().map(|p| p.pid()))
                .collect();
            let e = &mut entries[*i];
            let service = e
                .service
                .as_ref()
                .map(|s| s.service.clone())
                .unwrap_or_default();
            let instances: Vec<serde_json::Value> =
                std::iter::once(identity::describe(snap, d.pid(), true))
                    .chain(
                        copies
                            .iter()
                            .map(|&c| identity::describe(snap, c, tracked.contains(&c))),
                    )
                    .collect();
            e.findings.push(
                Finding::new(
                    DOUBLE_MANAGED,
                    e.subject(),
                    format!(
                        "{} more cop{} of {} (PID {}) run{} outside its supervisor: PID {}",
                        copies.len(),
                        if copies.len() == 1 { "y" } else { "ies" },
                        d.stat.comm,
                        d.pid(),
                        if copies.len() == 1 { "s" } else { "" },
                        copies
                            .iter()
                            .map(i32::to_string)
                            .collect::<Vec<_>>()
                            .join(", ")
                    ),
                )
                .with("pid", d.pid())
                .with("tracked_pid", d.pid())
                .with("service", service)
                .with("duplicates", copies.clone())
                .with("instances", instances),
            );
        }
        // The daemon's own pidfile: one its command line names.
        let Some(argv) = ident.argv.clone() else {
            continue;
        };
        let supervise_path = entries[*i].path.clone();
        let service = entries[*i]
            .service
            .as_ref()
            .map(|s| s.service.clone())
            .unwrap_or_default();
        for e in entries.iter_mut() {
            if e.supervision.is_some() || !identity::argv_names_pidfile(&argv, &e.path) {
                continue;
            }
            let names = e.pid.map(|p| p as i32);
            if names.is_some_and(|p| mine.contains(&p)) {
                continue;
            }
            let what = match names {
                Some(p) => format!("names PID {p}"),
                None => "names no process".to_string(),
            };
            e.findings.push(
                Finding::new(
                    SUPERVISOR_MISMATCH,
                    e.subject(),
                    format!(
                        "the daemon's own pidfile {what}, but its supervisor ({}) runs it as PID {}",
                        supervise_path.display(),
                        d.pid()
                    ),
                )
                .with("pid", names)
                .with("supervised_pid", d.pid())
                .with("service", service.clone())
                .with("reason", "pidfile_disagrees"),
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::checks::content::{EMPTY, MALFORMED};
    use crate::checks::testing::{codes, config, cx, entry, file, pidfile};
    use crate::supervise::{Status, StatusProblem, Supervision};
    use crate::system::Snapshot;

    fn supervision(status: Result<Status, StatusProblem>) -> Arc<Supervision> {
        Arc::new(Supervision {
            supervisor: Some(Supervisor::Runit),
            supervise_dir: "/etc/sv/a/supervise".into(),
            service: "/etc/sv/a".into(),
            status,
            stat: None,
            deaths: Vec::new(),
            lock: None,
            normally_up: Some(true),
        })
    }

    fn status(pid: Option<u32>, phase: Phase) -> Status {
        Status {
            supervisor: Supervisor::Runit,
            since: 1.0,
            pid,
            phase,
            paused: false,
            want_up: Some(phase == Phase::Run),
            got_term: false,
            ready: None,
            wstat: None,
        }
    }

    fn judged(mut e: Entry) -> Entry {
        let snap = Snapshot::builder().pid_max(32768).build();
        let config = config();
        super::super::content::check(&cx(&snap, &config), &mut e);
        e
    }

    /// runit's `pid` emptied by `sv down` is `down`, not `empty`; emptied while the status says the
    /// service runs, it stays `empty` (a writer caught mid-write, or a broken supervisor).
    #[test]
    fn emptied_runit_pid() {
        let mut e = pidfile("/etc/sv/a/supervise/pid", "", file(1, 10));
        e.name = "pid".into();
        e.supervision = Some(supervision(Ok(status(None, Phase::Down))));
        let e = judged(e);
        assert_eq!(e.state(), State::Down);
        assert!(e.findings.is_empty());
        let mut e = pidfile("/etc/sv/a/supervise/pid", "", file(1, 10));
        e.name = "pid".into();
        e.supervision = Some(supervision(Ok(status(Some(7), Phase::Run))));
        let e = judged(e);
        assert_eq!(codes(&e), [EMPTY]);
        // Finishing (runit runs `finish`): down too.
        let mut e = pidfile("/etc/sv/a/supervise/pid", "\n", file(1, 10));
        e.name = "pid".into();
        e.supervision = Some(supervision(Ok(status(None, Phase::Finish))));
        assert_eq!(judged(e).state(), State::Down);
    }

    /// A binary status gives its PID to the entry, a down one makes it `down`, and bytes of no
    /// supervisor are `malformed` with the reason.
    #[test]
    fn binary_status() {
        let mut up = vec![0x40, 0, 0, 0, 0x6b, 0, 0, 0, 0, 0, 0, 0];
        up.extend(42u32.to_le_bytes());
        up.extend([0, b'u']);
        let read = |bytes: &[u8]| ReadOutcome::Content {
            facts: file(2, 10),
            bytes: bytes.to_vec(),
        };
        let mut e = entry("/s/a/supervise/status", read(&up));
        e.name = "status".into();
        e.supervision = Some(supervision(Err(StatusProblem::Unreadable("x".into()))));
        let e = judged(e);
        assert_eq!(e.pid, Some(42));
        assert!(e.findings.is_empty());
        let mut down = up.clone();
        down[12..16].copy_from_slice(&[0; 4]);
        let mut e = entry("/s/a/supervise/status", read(&down));
        e.name = "status".into();
        e.supervision = Some(supervision(Err(StatusProblem::Unreadable("x".into()))));
        assert_eq!(judged(e).state(), State::Down);
        let mut e = entry("/s/a/supervise/status", read(b"12\n"));
        e.name = "status".into();
        e.supervision = Some(supervision(Err(StatusProblem::Unreadable("x".into()))));
        let e = judged(e);
        assert_eq!(codes(&e), [MALFORMED]);
        assert_eq!(e.findings[0].evidence["reason"], "status_size");
        assert_eq!(e.state(), State::Invalid);
    }
}
