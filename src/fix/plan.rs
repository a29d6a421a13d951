//! Planning: a judged audit -> the actions `fix` would take and what it refuses, with the reasons.
//! Planning reads nothing that the audit did not already hold (a thread's start time, and the
//! executable link, user and start time of a process an action concerns, aside) and changes
//! nothing.
//!
//! - **Remove** (safe): the state is `stale`, `reused` or `invalid` (empty, malformed, an invalid
//!   PID, init, a kernel thread or a thread: never `unknown`, which covers a file caught
//!   mid-write), the finding that calls for it is shown (`--select`/`--ignore`), the file is a
//!   trusted regular file of at most [`READ_CAP`] bytes, the process table is this system's live
//!   `/proc`, the lock table was read and no process holds a lock on the file, and no instance of
//!   the daemon was found running untracked (that calls for a retrack).
//! - **Retrack** (rewrite the file to name the live instance): the file is stale, reused or
//!   invalid, trusted, and exactly one instance is found. *Safe* when the instance is proven by a
//!   lock only the daemon could hold (`checks::locks::proof`: a write lock through a descriptor
//!   opened for writing, by root or the file's owner), on the file itself (rewritten in place, so
//!   the lock keeps guarding the path) or on the file the path held before it was replaced
//!   (`replaced-while-locked`; rewritten by renaming a temporary file over it), and the instance
//!   looks like the daemon (the manifest's identity, or the file's name rule, or its command line
//!   names the file). *Unsafe* when the instance is an `orphaned-instance` found by name, command
//!   line or manifest alone.
//! - **Stop** (unsafe): a `duplicate-instance` copy that no supervisor runs (a supervised copy is
//!   refused, with the supervisor's control command as advice), and each `orphaned-worker` of a
//!   dead master. Only for a trusted pidfile: the file decides which copy is tracked.
//! - Refused, with the reason: zombies (naming the parent), foreign PID namespaces, `unknown`
//!   states, untrusted files, locks held by someone not proven to be the daemon, and findings with
//!   no repair.

use super::{
    Action, Basis, Class, DirHandle, FileBasis, FoundBy, Kind, LockBasis, ParentInfo, PidBasis,
    Plan, ProcBasis, Reason, Refusal, Retrack, WriteMethod,
};
use crate::audit::Audit;
use crate::checks::{content, expect, instances, liveness, locks, target, trust, Cx, Entry};
use crate::config::Config;
use crate::model::{Code, Finding, Severity, State};
use crate::pidfile::{ReadOutcome, READ_CAP};
use crate::system::Process;
use std::sync::Arc;

/// The findings that call for removing the file, in the order one is named as the reason.
const REMOVE_CODES: &[Code] = &[
    liveness::STALE,
    liveness::PID_REUSED,
    content::EMPTY,
    content::MALFORMED,
    content::INVALID_PID,
    target::TARGETS_INIT,
    target::KERNEL_THREAD,
    target::THREAD_ID,
    liveness::PREVIOUS_BOOT,
];

/// The findings a retrack repairs.
const RETRACK_CODES: &[Code] = &[
    locks::LOCK_HOLDER_MISMATCH,
    locks::REPLACED_WHILE_LOCKED,
    instances::ORPHANED_INSTANCE,
];

/// The findings a permissions fix repairs.
const PERMISSION_CODES: &[Code] = &[
    trust::WORLD_WRITABLE,
    trust::GROUP_WRITABLE,
    trust::INSECURE_OWNER,
];

/// The findings a stop repairs.
const STOP_CODES: &[Code] = &[instances::DUPLICATE_INSTANCE, instances::ORPHANED_WORKER];

const REMOVE_TEXT: &str =
    "`pidaudit fix` plans removing the file (a safe action; `pidaudit fix --apply` performs it, \
     `pidaudit undo` restores it from the journal) when the file is trusted, a regular file, \
     not judged `unknown`, no process holds a lock on it and no instance of the daemon runs \
     untracked; at the moment of removal it re-verifies the file's identity, content and lock \
     and that the PID is still dead or still the same process.";

const RETRACK_TEXT: &str = "`pidaudit fix` plans a retrack: rewriting the trusted pidfile to name the live instance. It is \
     safe (`pidaudit fix --apply`) when the instance holds the file's write lock (or the replaced \
     file's) through a write descriptor as only the daemon could and looks like the daemon; \
     unsafe (`--apply --unsafe`) when the instance was found by name, command line or manifest \
     alone. At apply time the file, the instance (pinned by a pidfd, start time, executable and \
     user) and its lock are re-verified; `pidaudit undo` restores the file's bytes, owner and mode.";

const STOP_TEXT: &str =
    "`pidaudit fix --apply --unsafe` stops the copy no supervisor runs (for duplicate-instance, \
     the one outside the tracked tree; for orphaned-worker, each worker of the dead master): \
     SIGTERM through a pidfd after re-verifying start time, executable and user, waiting \
     `--timeout` (10 s), SIGKILL only with `--kill`. A supervised copy is never signalled: the \
     plan names the supervisor's control command. Signals cannot be undone.";

const PERMISSIONS_TEXT: &str =
    "`pidaudit fix --apply --unsafe` takes group and other write permission away and gives a file \
     another user owns to root, through the file's descriptor (`fchown`, `fchmod`; never by path), \
     when the file's permissions are its only trust problem (a regular file with one link, in a \
     trusted directory); `pidaudit undo` restores the former owner and mode. The file, now \
     trusted, is judged and repaired by the next run.";

const WRITE_TEXT: &str =
    "`pidaudit fix --apply --unsafe` writes the missing pidfile of a manifest (`--expect`) entry \
     whose single instance runs (found by the manifest's identity): a temporary file created \
     `O_EXCL` in the held directory, renamed into place only if nothing stands there. `pidaudit \
     undo` removes it again.";

/// The repair `pidaudit fix` offers for findings with this code, for `pidaudit explain`.
pub fn repair(code: Code) -> Option<&'static str> {
    if PERMISSION_CODES.contains(&code) {
        Some(PERMISSIONS_TEXT)
    } else if code == content::MISSING_PIDFILE {
        Some(WRITE_TEXT)
    } else if REMOVE_CODES.contains(&code) {
        Some(REMOVE_TEXT)
    } else if RETRACK_CODES.contains(&code) {
        Some(RETRACK_TEXT)
    } else if STOP_CODES.contains(&code) {
        Some(STOP_TEXT)
    } else {
        None
    }
}

/// What the plan does with one pidfile.
enum Decision {
    Act(Box<Action>),
    Refuse(Refusal),
}

/// The directory an entry's file is in. The one place the plan reads `Entry::dir`.
fn dir_of(entry: &Entry) -> Option<DirHandle> {
    entry.dir.clone()
}

/// Plans the repairs of an audit judged with `config`.
pub fn plan(audit: &Audit, config: &Config) -> Plan {
    let cx = Cx {
        snapshot: &audit.snapshot,
        config,
        trust: Default::default(),
        elsewhere: Vec::new(),
        files_elsewhere: Default::default(),
        root_dirs: Vec::new(),
    };
    let mut plan = Plan::default();
    for entry in &audit.entries {
        for d in one(audit, &cx, entry) {
            match d {
                Decision::Act(action) => plan.actions.push(*action),
                Decision::Refuse(refusal) => plan.refused.push(refusal),
            }
        }
    }
    plan
}

fn refusal(entry: &Entry, codes: &[Code], reason: Reason, message: impl Into<String>) -> Refusal {
    Refusal {
        target: entry.subject(),
        state: entry.state(),
        reason,
        message: message.into(),
        codes: codes.to_vec(),
        trust_reasons: Vec::new(),
        parent: None,
        lock_holders: Vec::new(),
        pid: None,
        advice: None,
    }
}

fn untrusted(entry: &Entry, codes: &[Code]) -> Refusal {
    let names: Vec<&str> = entry.trust_reasons.iter().map(|c| c.as_str()).collect();
    let mut r = refusal(
        entry,
        codes,
        Reason::Untrusted,
        if names.is_empty() {
            "untrusted: its owner, mode or path could not be verified".to_string()
        } else {
            format!(
                "untrusted ({}): someone other than root or the daemon may have written it",
                names.join(", ")
            )
        },
    );
    r.trust_reasons = entry.trust_reasons.clone();
    r
}

/// The actions and refusals for one pidfile (none when there is nothing to do). Stops come first:
/// the file's own action follows them.
fn one(audit: &Audit, cx: &Cx<'_>, entry: &Entry) -> Vec<Decision> {
    let shown: Vec<&Finding> = audit.shown(&entry.findings).collect();
    if shown.is_empty() {
        return Vec::new();
    }
    let codes: Vec<Code> = shown.iter().map(|f| f.code).collect();
    // A supervisor's file is left to the supervisor, permissions included.
    let perm = if entry.supervision.is_some() {
        None
    } else {
        permissions(audit, entry, &codes)
    };
    let fixes_permissions = perm.is_some();
    let mut decided = decide(audit, cx, entry, &shown, &codes, fixes_permissions);
    // The file stays untrusted (and what calls for trust refused) until its permissions are
    // fixed; the next run judges it again.
    if let Some(p) = perm {
        decided.insert(0, p);
    }
    decided
}

/// [`one`] but for a permissions fix.
fn decide(
    audit: &Audit,
    cx: &Cx<'_>,
    entry: &Entry,
    shown: &[&Finding],
    codes: &[Code],
    fixes_permissions: bool,
) -> Vec<Decision> {
    let state = entry.state();
    let refuse = |reason, msg: String| vec![Decision::Refuse(refusal(entry, codes, reason, msg))];
    let mut out = Vec::new();
    // A supervisor's file is the supervisor's: it is restarted through its control command.
    if let Some(sv) = &entry.supervision {
        if shown.iter().all(|f| f.severity == Severity::Info) {
            return Vec::new();
        }
        let gone = entry
            .service
            .as_ref()
            .is_some_and(|f| f.supervisor_alive == Some(false));
        let how = match sv.term_command() {
            _ if gone => "; its supervisor is not running: start it again".to_string(),
            Some(c) => format!("; restart the service with `{c}`"),
            None => String::new(),
        };
        return refuse(
            Reason::Supervised,
            format!("a supervisor's file: only the supervisor writes or removes it{how}"),
        );
    }
    match state {
        State::Running => {
            if let Some(f) = shown
                .iter()
                .find(|f| f.code == instances::DUPLICATE_INSTANCE)
            {
                out.extend(stops(audit, entry, codes, f, "duplicates"));
            }
            let rest: Vec<&str> = shown
                .iter()
                .filter(|f| {
                    f.severity != Severity::Info
                        && !STOP_CODES.contains(&f.code)
                        && !(fixes_permissions && PERMISSION_CODES.contains(&f.code))
                })
                .map(|f| f.code.as_str())
                .collect();
            if !rest.is_empty() && !entry.trusted {
                out.push(Decision::Refuse(untrusted(entry, codes)));
            } else if !rest.is_empty() {
                out.push(Decision::Refuse(refusal(
                    entry,
                    codes,
                    Reason::NoRepair,
                    format!("no repair for {} in this version", rest.join(", ")),
                )));
            }
            return out;
        }
        State::Zombie => {
            let process = entry.process.as_ref();
            let parent = process.map(|p| ParentInfo {
                pid: p.stat.ppid,
                comm: audit
                    .snapshot
                    .get(p.stat.ppid)
                    .map(|pp| pp.stat.comm.clone()),
            });
            let msg = match &parent {
                Some(p) => format!(
                    "PID {} is a zombie: only its parent {} ({}) can reap it; fix or restart the parent",
                    entry.pid.unwrap_or(0),
                    p.pid,
                    p.comm.as_deref().unwrap_or("?")
                ),
                None => "the PID is a zombie: only its parent can reap it".into(),
            };
            let mut r = refusal(entry, codes, Reason::Zombie, msg);
            r.parent = parent;
            return vec![Decision::Refuse(r)];
        }
        State::Unknown if entry.facts.foreign_namespace => {
            return refuse(
                Reason::ForeignNamespace,
                "the PID may belong to another PID namespace: its process cannot be judged from here"
                    .into(),
            );
        }
        State::Unknown | State::Unreadable => {
            return refuse(
                Reason::UnknownState,
                "the file's state could not be determined: nothing is done on a guess".into(),
            );
        }
        State::Missing => {
            if let Some(d) = write_missing(audit, cx, entry, codes, shown) {
                return vec![d];
            }
            return refuse(
                Reason::NotARegularFile,
                "missing: a pidfile is written only for a manifest entry whose single instance runs"
                    .into(),
            );
        }
        State::NotAFile | State::Down => {
            return refuse(
                Reason::NotARegularFile,
                format!("{}: only regular files are repaired", state.as_str()),
            );
        }
        State::Stale | State::Reused | State::Invalid => {}
    }
    if let Some(f) = shown.iter().find(|f| f.code == instances::ORPHANED_WORKER) {
        out.extend(stops(audit, entry, codes, f, "workers"));
    }
    let Some(code) = REMOVE_CODES.iter().copied().find(|c| codes.contains(c)) else {
        let names: Vec<&str> = codes
            .iter()
            .filter(|c| {
                !(STOP_CODES.contains(c) || (fixes_permissions && PERMISSION_CODES.contains(c)))
            })
            .map(|c| c.as_str())
            .collect();
        if !names.is_empty() {
            out.push(Decision::Refuse(refusal(
                entry,
                codes,
                Reason::NoRepair,
                format!("no repair for {} in this version", names.join(", ")),
            )));
        }
        return out;
    };
    out.push(file_action(audit, cx, entry, code, codes, shown));
    out
}

/// A permissions fix (unsafe) when the file's owner or mode is its only trust problem: a regular
/// file with one link (another link could name any file), at most [`READ_CAP`] bytes, whose
/// directories are trusted. Root becomes the owner of a file another user owns (the process the
/// file names could be anyone's: its content was writable); group and other lose write permission.
fn permissions(audit: &Audit, entry: &Entry, codes: &[Code]) -> Option<Decision> {
    if !codes.iter().any(|c| PERMISSION_CODES.contains(c))
        || entry.trust_reasons.is_empty()
        || !entry
            .trust_reasons
            .iter()
            .all(|c| PERMISSION_CODES.contains(c))
        || !audit.snapshot.live
    {
        return None;
    }
    let ReadOutcome::Content { facts, bytes } = &entry.read else {
        return None;
    };
    if facts.nlink != 1 || facts.size > READ_CAP as u64 || bytes.len() as u64 != facts.size {
        return None;
    }
    let dir = dir_of(entry)?;
    let dst = super::open_dir(&dir).and_then(rustix::fs::fstat).ok()?;
    let uid = if entry.trust_reasons.contains(&trust::INSECURE_OWNER) {
        0
    } else {
        facts.uid
    };
    let want = super::Permissions {
        uid,
        gid: facts.gid,
        mode: facts.mode & 0o7777 & !0o022,
    };
    let names: Vec<&str> = entry.trust_reasons.iter().map(|c| c.as_str()).collect();
    Some(Decision::Act(Box::new(Action {
        kind: Kind::FixPermissions,
        target: entry.subject(),
        class: Class::Unsafe,
        message: format!(
            "{}: owner {} mode {:04o} -> owner {} mode {:04o}; the file is judged again by the next run",
            names.join(", "),
            facts.uid,
            facts.mode & 0o7777,
            want.uid,
            want.mode
        ),
        basis: Basis {
            file: Some(file_basis(facts, bytes)),
            pid: PidBasis::NoPid,
            state: entry.state(),
            code: entry.trust_reasons[0],
            dir_dev: dst.st_dev as u64,
            dir_ino: dst.st_ino as u64,
        },
        retrack: None,
        stop: None,
        permissions: Some(want),
        path: entry.path.clone(),
        dir,
        name: entry.name.clone(),
    })))
}

/// The basis of a file as it was read.
fn file_basis(facts: &crate::pidfile::FileFacts, bytes: &[u8]) -> FileBasis {
    FileBasis {
        dev: facts.dev,
        ino: facts.ino,
        size: facts.size,
        mtime: facts.mtime,
        mtime_nsec: facts.mtime_nsec,
        uid: facts.uid,
        gid: facts.gid,
        mode: facts.mode,
        nlink: facts.nlink,
        content: bytes.to_vec(),
    }
}

/// Writing the missing pidfile of a manifest entry (unsafe), when exactly one instance runs,
/// found by the manifest's identity, and the directory is root's and writable by no one else.
fn write_missing(
    audit: &Audit,
    cx: &Cx<'_>,
    entry: &Entry,
    codes: &[Code],
    shown: &[&Finding],
) -> Option<Decision> {
    let snap = &audit.snapshot;
    expect::service_for(cx, entry).filter(|s| s.has_identity())?;
    if !snap.live || !codes.contains(&content::MISSING_PIDFILE) {
        return None;
    }
    let f = shown
        .iter()
        .find(|f| f.code == instances::ORPHANED_INSTANCE)?;
    if f.evidence.get("found_by").and_then(|v| v.as_str()) != Some("expectation") {
        return None;
    }
    let orphans = f.evidence.get("orphans")?.as_array()?;
    let [pid] = orphans.as_slice() else {
        return None;
    };
    let p = snap.get(pid.as_i64()? as i32)?;
    let instance = proc_basis(audit, p)?;
    let dir = dir_of(entry)?;
    let dst = super::open_dir(&dir).and_then(rustix::fs::fstat).ok()?;
    if dst.st_uid != 0 || dst.st_mode & 0o022 != 0 {
        return None;
    }
    Some(Decision::Act(Box::new(Action {
        kind: Kind::Write,
        target: entry.subject(),
        class: Class::Unsafe,
        message: format!(
            "missing-pidfile: the manifest's daemon runs as PID {} ({}): write the file to name it",
            p.pid(),
            p.stat.comm
        ),
        basis: Basis {
            file: None,
            pid: PidBasis::NoPid,
            state: entry.state(),
            code: content::MISSING_PIDFILE,
            dir_dev: dst.st_dev as u64,
            dir_ino: dst.st_ino as u64,
        },
        retrack: Some(Retrack {
            content: format!("{}\n", p.pid()),
            instance,
            found_by: FoundBy::Expectation,
            lock: None,
            method: WriteMethod::Rename,
        }),
        stop: None,
        permissions: None,
        path: entry.path.clone(),
        dir,
        name: entry.name.clone(),
    })))
}

/// The facts of a live process an action concerns, read now through its verified `/proc` entry,
/// and a pidfd pinning it: `None` when it exited or its executable or user could not be read (or
/// no descriptor is left for the pidfd).
fn proc_basis(audit: &Audit, p: &Process) -> Option<ProcBasis> {
    let snap = &audit.snapshot;
    if snap.is_dead(p) || p.stat.is_kernel_thread() {
        return None;
    }
    let d = snap.details(p);
    let exe = d.exe?;
    let uid = d.uid()?;
    let raw = std::os::unix::ffi::OsStrExt::as_bytes(exe.as_os_str()).to_vec();
    // Pinned now: at apply time the pidfd says whether this very process still runs.
    let pidfd = crate::system::pidfd(p.pid() as u32).ok()?;
    Some(ProcBasis {
        pidfd: Some(Arc::new(pidfd)),
        pid: p.pid() as u32,
        start_ticks: p.stat.starttime,
        comm: p.stat.comm.clone(),
        exe: crate::model::text::bytes(&raw),
        exe_raw: raw,
        uid,
    })
}

/// The control command of the supervisor running `p`, for the plan's advice: the service
/// directory is the supervisor's working directory (runsv, supervise, s6-supervise), read as a
/// link (nothing is looked up).
fn supervisor_advice(audit: &Audit, p: &Process, supervisor: &str) -> String {
    let snap = &audit.snapshot;
    let mut sup: Option<&Arc<Process>> = None;
    let mut ppid = p.stat.ppid;
    for _ in 0..64 {
        let Some(parent) = snap.get(ppid) else { break };
        if crate::system::identity::SUPERVISORS.contains(&parent.stat.comm.as_str()) {
            sup = Some(parent);
            break;
        }
        if ppid <= 1 {
            break;
        }
        ppid = parent.stat.ppid;
    }
    let dir = sup.and_then(|s| {
        let proc = snap.proc_dir()?;
        rustix::fs::readlinkat(proc, format!("{}/cwd", s.pid()).as_str(), Vec::new())
            .ok()
            .map(|c| crate::model::text::bytes(c.as_bytes()))
    });
    let dir = dir.unwrap_or_else(|| "SERVICE-DIR".into());
    match sup.map(|s| s.stat.comm.as_str()) {
        Some("runsv") => format!("sv term {dir}  (or `sv down {dir}` to keep it down)"),
        Some("supervise") => format!("svc -t {dir}  (or `svc -d {dir}` to keep it down)"),
        Some("s6-supervise") => format!("s6-svc -t {dir}  (or `s6-svc -d {dir}` to keep it down)"),
        Some("supervisord") => {
            "supervisorctl stop PROGRAM (the program supervisord runs it as)".into()
        }
        _ => match supervisor
            .strip_prefix("systemd (")
            .and_then(|u| u.strip_suffix(')'))
        {
            Some(unit) => format!("systemctl restart {unit} (or `systemctl stop {unit}`)"),
            None => format!("stop it through its supervisor, {supervisor}"),
        },
    }
}

/// Stops for the PIDs a finding lists under `key` (`duplicates`, `workers`): unsafe actions for
/// copies no supervisor runs, refusals (with the supervisor's control command) for the others.
fn stops(audit: &Audit, entry: &Entry, codes: &[Code], f: &Finding, key: &str) -> Vec<Decision> {
    let snap = &audit.snapshot;
    let mut out = Vec::new();
    if !entry.trusted {
        out.push(Decision::Refuse(untrusted(entry, codes)));
        return out;
    }
    if !snap.live {
        out.push(Decision::Refuse(refusal(
            entry,
            codes,
            Reason::NotLive,
            format!(
                "{} is not this system's live /proc: no process can be re-verified",
                snap.proc_root.display()
            ),
        )));
        return out;
    }
    let pids: Vec<i32> = f
        .evidence
        .get(key)
        .and_then(|v| v.as_array())
        .map(|a| {
            a.iter()
                .filter_map(|v| v.as_i64())
                .map(|p| p as i32)
                .collect()
        })
        .unwrap_or_default();
    for pid in pids {
        let Some(p) = snap.get(pid).filter(|_| pid > 1 && pid != snap.self_pid) else {
            let mut r = refusal(
                entry,
                codes,
                Reason::ProcessUnknown,
                format!("PID {pid} exited or cannot be signalled"),
            );
            r.pid = Some(pid);
            out.push(Decision::Refuse(r));
            continue;
        };
        if let Some(sup) = crate::system::identity::supervisor(snap, p) {
            let mut r = refusal(
                entry,
                codes,
                Reason::Supervised,
                format!(
                    "PID {pid} ({}) runs under {sup}: pidaudit never signals a supervised copy",
                    p.stat.comm
                ),
            );
            r.pid = Some(pid);
            r.advice = Some(supervisor_advice(audit, p, &sup));
            out.push(Decision::Refuse(r));
            continue;
        }
        let Some(basis) = proc_basis(audit, p) else {
            let mut r = refusal(
                entry,
                codes,
                Reason::ProcessUnknown,
                format!(
                    "PID {pid} ({}): its executable or user could not be read, or it could not be pinned with a pidfd, so it could not be re-verified",
                    p.stat.comm
                ),
            );
            r.pid = Some(pid);
            out.push(Decision::Refuse(r));
            continue;
        };
        let what = if key == "workers" {
            format!(
                "orphaned-worker: PID {pid} ({}) was forked by the dead master PID {}",
                p.stat.comm,
                entry.pid.unwrap_or(0)
            )
        } else {
            format!(
                "duplicate-instance: PID {pid} ({}) is a copy outside the tracked tree, run by no supervisor",
                p.stat.comm
            )
        };
        out.push(Decision::Act(Box::new(Action {
            kind: Kind::Stop,
            target: entry.subject(),
            class: Class::Unsafe,
            message: what,
            basis: Basis {
                file: None,
                pid: PidBasis::Same {
                    pid: pid as u32,
                    start_ticks: p.stat.starttime,
                },
                state: entry.state(),
                code: f.code,
                dir_dev: 0,
                dir_ino: 0,
            },
            retrack: None,
            stop: Some(basis),
            permissions: None,
            path: entry.path.clone(),
            dir: match dir_of(entry) {
                Some(d) => d,
                None => continue,
            },
            name: entry.name.clone(),
        })));
    }
    out
}

/// Whether a process looks like the entry's daemon: the manifest's identity when it gives one,
/// else its command line names the file, else the file's name rule says so.
fn looks_like_daemon(cx: &Cx<'_>, entry: &Entry, p: &Process) -> bool {
    use crate::checks::{expect, name};
    if let Some(s) = expect::service_for(cx, entry).filter(|s| s.has_identity()) {
        return expect::identity_match(cx, s, p).confirmed();
    }
    let d = cx.snapshot.details(p);
    if d.cmdline
        .is_some_and(|argv| crate::system::identity::argv_names_pidfile(argv, &entry.path))
    {
        return true;
    }
    let tokens = name::process_tokens(&p.stat.comm, d.exe, d.cmdline);
    name::names_match(&entry.path, &p.stat.comm, &tokens) == Some(true)
}

/// The instance a retrack would name, if one is found: how, and the lock that proves it.
enum Instance {
    None,
    Found(Arc<Process>, FoundBy, Option<LockBasis>),
    Refused(Reason, String),
}

/// Finds the live instance of a stale, reused or invalid pidfile's daemon.
fn instance(cx: &Cx<'_>, entry: &Entry, shown: &[&Finding]) -> Instance {
    let snap = cx.snapshot;
    let recorded = entry.pid.map(|p| p as i32);
    let live = |pid: i32| {
        snap.get(pid)
            .filter(|p| !snap.is_dead(p) && pid > 1 && pid != snap.self_pid)
            .cloned()
    };
    // A lock on the file itself, held as only the daemon could.
    let holders: Vec<(Arc<Process>, Option<i32>)> = locks::proving_holders(cx, entry)
        .into_iter()
        .filter(|h| h.verified && Some(h.pid()) != recorded)
        .filter_map(|h| live(h.pid()).map(|p| (p, h.fd)))
        .collect();
    if !holders.is_empty() {
        let pids: Vec<i32> = holders.iter().map(|(p, _)| p.pid()).collect();
        // Workers that inherited the descriptor share the lock: the instance is the top.
        let tops: Vec<&(Arc<Process>, Option<i32>)> = holders
            .iter()
            .filter(|(p, _)| !pids.contains(&p.stat.ppid))
            .collect();
        if tops.len() != 1 {
            return Instance::Refused(
                Reason::Ambiguous,
                format!(
                    "{} hold the file's lock as only the daemon could: which one to name is not guessed",
                    instances::pid_list(&pids)
                ),
            );
        }
        let (p, fd) = tops[0];
        if !looks_like_daemon(cx, entry, p) {
            return Instance::Refused(
                Reason::Locked,
                format!(
                    "locked by PID {} ({}), which does not look like the file's daemon",
                    p.pid(),
                    p.stat.comm
                ),
            );
        }
        let Some(facts) = entry.facts() else {
            return Instance::None;
        };
        let Some(fd) = *fd else {
            return Instance::Refused(
                Reason::Locked,
                format!(
                    "PID {} holds the lock, but through which descriptor is not known",
                    p.pid()
                ),
            );
        };
        return Instance::Found(
            Arc::clone(p),
            FoundBy::Lock,
            Some(LockBasis {
                fd,
                dev: facts.dev,
                ino: facts.ino,
            }),
        );
    }
    // A lock on the file the path held before it was replaced.
    let replaced: Vec<&&Finding> = shown
        .iter()
        .filter(|f| f.code == locks::REPLACED_WHILE_LOCKED)
        .collect();
    if !replaced.is_empty() {
        let mut found: Vec<(Arc<Process>, LockBasis)> = Vec::new();
        for f in &replaced {
            let num = |k: &str| f.evidence.get(k).and_then(|v| v.as_i64());
            let (Some(pid), Some(fd), Some(dev), Some(ino)) = (
                num("holder_pid"),
                num("holder_fd"),
                f.evidence.get("locked_dev").and_then(|v| v.as_u64()),
                f.evidence.get("locked_ino").and_then(|v| v.as_u64()),
            ) else {
                continue;
            };
            let Some(p) = live(pid as i32) else { continue };
            if found.iter().any(|(q, _)| q.pid() == p.pid()) {
                continue;
            }
            // Only root or the file's owner could have written the file it locks.
            let owner = entry.facts().map(|f| f.uid);
            let uid = snap.status(&p).and_then(|s| s.uid());
            if !(uid == Some(0) || (uid.is_some() && uid == owner)) {
                continue;
            }
            found.push((
                p,
                LockBasis {
                    fd: fd as i32,
                    dev,
                    ino,
                },
            ));
        }
        let pids: Vec<i32> = found.iter().map(|(p, _)| p.pid()).collect();
        let tops: Vec<&(Arc<Process>, LockBasis)> = found
            .iter()
            .filter(|(p, _)| !pids.contains(&p.stat.ppid))
            .collect();
        match tops.as_slice() {
            [(p, lock)] if looks_like_daemon(cx, entry, p) => {
                return Instance::Found(Arc::clone(p), FoundBy::ReplacedLock, Some(*lock));
            }
            [] => {}
            [(p, _)] => {
                return Instance::Refused(
                    Reason::Locked,
                    format!(
                        "PID {} ({}) holds the replaced file's lock but does not look like the file's daemon",
                        p.pid(),
                        p.stat.comm
                    ),
                )
            }
            _ => {
                return Instance::Refused(
                    Reason::Ambiguous,
                    format!(
                        "{} hold locks on earlier files at this path: which one to name is not guessed",
                        instances::pid_list(&pids)
                    ),
                )
            }
        }
    }
    // Found by name, command line or manifest only.
    if let Some(f) = shown
        .iter()
        .find(|f| f.code == instances::ORPHANED_INSTANCE)
    {
        let orphans: Vec<i32> = f
            .evidence
            .get("orphans")
            .and_then(|v| v.as_array())
            .map(|a| {
                a.iter()
                    .filter_map(|v| v.as_i64())
                    .map(|p| p as i32)
                    .collect()
            })
            .unwrap_or_default();
        let how = match f.evidence.get("found_by").and_then(|v| v.as_str()) {
            Some("argv") => FoundBy::Argv,
            Some("expectation") => FoundBy::Expectation,
            _ => FoundBy::Name,
        };
        return match orphans.as_slice() {
            [pid] => match live(*pid) {
                Some(p) => Instance::Found(p, how, None),
                None => Instance::Refused(
                    Reason::ProcessUnknown,
                    format!("the untracked instance PID {pid} exited"),
                ),
            },
            [] => Instance::None,
            more => Instance::Refused(
                Reason::Ambiguous,
                format!(
                    "{} run untracked: which one the file should name is not guessed",
                    instances::pid_list(more)
                ),
            ),
        };
    }
    Instance::None
}

/// The file's action for a stale, reused or invalid pidfile (a retrack when the daemon runs
/// untracked, else a removal), or why it is refused.
fn file_action(
    audit: &Audit,
    cx: &Cx<'_>,
    entry: &Entry,
    code: Code,
    codes: &[Code],
    shown: &[&Finding],
) -> Decision {
    let refuse = |reason, msg: String| Decision::Refuse(refusal(entry, codes, reason, msg));
    if !entry.trusted {
        return Decision::Refuse(untrusted(entry, codes));
    }
    let (facts, bytes) = match &entry.read {
        ReadOutcome::Content { facts, bytes } => (*facts, bytes),
        _ => {
            return refuse(
                Reason::NotARegularFile,
                "not a regular file read at its path (a symbolic link is never removed)".into(),
            )
        }
    };
    if facts.size > READ_CAP as u64 || bytes.len() as u64 != facts.size {
        return refuse(
            Reason::Oversize,
            format!(
                "{} bytes: larger than any pidfile, and more than the journal keeps ({READ_CAP})",
                facts.size
            ),
        );
    }
    if !audit.snapshot.live {
        return refuse(
            Reason::NotLive,
            format!(
                "{} is not this system's live /proc: the PID cannot be re-verified",
                audit.snapshot.proc_root.display()
            ),
        );
    }
    let Some(fl) = &entry.lock else {
        return refuse(
            Reason::LocksUnknown,
            "the lock table could not be read: a live instance may hold the file's lock".into(),
        );
    };
    let pid = match pid_basis(audit, entry) {
        Ok(p) => p,
        Err(msg) => return refuse(Reason::UnknownState, msg),
    };
    let Some(dir) = dir_of(entry) else {
        return refuse(Reason::NotARegularFile, "its directory is not open".into());
    };
    let dst = match super::open_dir(&dir).and_then(rustix::fs::fstat) {
        Ok(st) => st,
        Err(e) => return refuse(Reason::UnknownState, format!("directory: fstat: {e}")),
    };
    let basis = Basis {
        file: Some(file_basis(&facts, bytes)),
        pid,
        state: entry.state(),
        code,
        dir_dev: dst.st_dev as u64,
        dir_ino: dst.st_ino as u64,
    };
    let action = |kind, class, message, retrack| {
        Decision::Act(Box::new(Action {
            kind,
            target: entry.subject(),
            class,
            message,
            basis: basis.clone(),
            retrack,
            stop: None,
            permissions: None,
            path: entry.path.clone(),
            dir: dir.clone(),
            name: entry.name.clone(),
        }))
    };
    match instance(cx, entry, shown) {
        Instance::Refused(reason, msg) => {
            let mut r = refusal(entry, codes, reason, msg);
            r.lock_holders = fl.holders().iter().map(|h| h.pid()).collect();
            return Decision::Refuse(r);
        }
        Instance::Found(p, found_by, lock) => {
            let Some(instance) = proc_basis(audit, &p) else {
                return refuse(
                    Reason::ProcessUnknown,
                    format!(
                        "the instance PID {} ({}): its executable or user could not be read, or it could not be pinned with a pidfd",
                        p.pid(),
                        p.stat.comm
                    ),
                );
            };
            let safe = matches!(found_by, FoundBy::Lock | FoundBy::ReplacedLock);
            // The file's own lock must keep guarding the path: its inode stays.
            let method = if found_by == FoundBy::Lock {
                WriteMethod::InPlace
            } else {
                WriteMethod::Rename
            };
            if method == WriteMethod::Rename && fl.locked() {
                let mut r = refusal(
                    entry,
                    codes,
                    Reason::Locked,
                    "a process not proven to be the daemon holds a lock on the file: it is not replaced",
                );
                r.lock_holders = fl.holders().iter().map(|h| h.pid()).collect();
                return Decision::Refuse(r);
            }
            let message = format!(
                "{}: the file names {}, but the daemon runs as PID {} ({}), found by {}: rewrite the file ({}) to name it",
                code.as_str(),
                match entry.pid {
                    Some(pid) => format!("PID {pid}"),
                    None => "no PID".to_string(),
                },
                p.pid(),
                p.stat.comm,
                match found_by {
                    FoundBy::Lock => "the file's write lock",
                    FoundBy::ReplacedLock => "the replaced file's write lock",
                    FoundBy::Name => "its name only",
                    FoundBy::Argv => "its command line only",
                    FoundBy::Expectation => "the manifest's identity only",
                },
                method.as_str()
            );
            return action(
                Kind::Retrack,
                if safe { Class::Safe } else { Class::Unsafe },
                message,
                Some(Retrack {
                    content: format!("{}\n", p.pid()),
                    instance,
                    found_by,
                    lock,
                    method,
                }),
            );
        }
        Instance::None => {}
    }
    if fl.locked() {
        let holders: Vec<i32> = fl.holders().iter().map(|h| h.pid()).collect();
        let list: Vec<String> = holders
            .iter()
            .map(|p| {
                let comm = audit.snapshot.get(*p).map(|x| x.stat.comm.as_str());
                format!("{p} ({})", comm.unwrap_or("?"))
            })
            .collect();
        let mut r = refusal(
            entry,
            codes,
            Reason::Locked,
            if list.is_empty() {
                "a process holds a lock on the file: it is likely the real instance".into()
            } else {
                format!(
                    "locked by {}: likely the real instance, whose single-instance guard the file is",
                    list.join(", ")
                )
            },
        );
        r.lock_holders = holders;
        return Decision::Refuse(r);
    }
    if let Some(c) = [instances::ORPHANED_INSTANCE, instances::DUPLICATE_INSTANCE]
        .iter()
        .find(|c| codes.contains(c))
    {
        return refuse(
            Reason::NoRepair,
            format!(
                "{}: the daemon runs elsewhere, but no single instance to name was found",
                c.as_str()
            ),
        );
    }
    action(Kind::Remove, Class::Safe, shown_message(entry, code), None)
}

/// The finding's own message, or the code's summary.
fn shown_message(entry: &Entry, code: Code) -> String {
    entry
        .findings
        .iter()
        .find(|f| f.code == code)
        .map(|f| format!("{}: {}", code.as_str(), f.message))
        .unwrap_or_else(|| format!("{}: {}", code.as_str(), code.doc().summary))
}

/// What the PID must still be when the removal is applied.
fn pid_basis(audit: &Audit, entry: &Entry) -> Result<PidBasis, String> {
    let Some(pid) = entry.pid else {
        return Ok(PidBasis::NoPid);
    };
    if entry.state() == State::Stale {
        return Ok(PidBasis::Dead { pid });
    }
    if let Some(p) = entry.process.as_ref().filter(|p| p.pid() as u32 == pid) {
        return Ok(PidBasis::Same {
            pid,
            start_ticks: p.stat.starttime,
        });
    }
    // A thread ID: not in the snapshot (which lists thread-group leaders); its start time now.
    match start_ticks(audit, pid) {
        Ok(start_ticks) => Ok(PidBasis::Same { pid, start_ticks }),
        Err(e) => Err(format!("PID {pid}: cannot read its start time: {e}")),
    }
}

/// The start time (clock ticks after boot) of the process or thread `pid`, read now.
pub fn start_ticks(audit: &Audit, pid: u32) -> Result<u64, rustix::io::Errno> {
    let proc = audit.snapshot.proc_dir().ok_or(rustix::io::Errno::NOENT)?;
    super::apply::read_start_ticks(proc, pid)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every code the plan removes files for has a repair text naming the command; others none.
    #[test]
    fn repairs_are_documented() {
        for c in crate::checks::catalogue() {
            let planned = [
                REMOVE_CODES,
                RETRACK_CODES,
                STOP_CODES,
                PERMISSION_CODES,
                &[content::MISSING_PIDFILE],
            ]
            .iter()
            .any(|l| l.contains(&c));
            match repair(c) {
                Some(t) => assert!(planned && t.contains("pidaudit fix")),
                None => assert!(!planned, "{}", c.as_str()),
            }
        }
        assert!(repair(liveness::STALE).is_some() && repair(liveness::ZOMBIE).is_none());
    }
}
