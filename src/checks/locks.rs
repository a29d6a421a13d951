//! Locks: who really holds each pidfile's lock, and what that says about the PID in the file.
//!
//! A daemon that locks its pidfile (`lockf`/`fcntl`, `flock`, OFD locks) makes a second start fail;
//! the lock is also the best witness of which process is the real instance when the file's content is
//! wrong. The holders are resolved as [`crate::system::holders`] describes (the acquirer `/proc/locks`
//! names, the recorded PID, a bounded set of relatives; confirmed by fdinfo `lock:` lines). pidaudit
//! never takes a lock to find out.
//!
//! # Which locks count
//! Any user who can open the file can lock it. Only a lock the daemon could have taken counts as
//! the daemon's ([`proof`]): a write lock, held through a descriptor opened for writing, by a
//! process whose uid could have written the file. Every other lock is evidence only
//! (`lock-foreign-holder` with the `reason`), never an override, never an instance.
//!
//! # Rules
//! - `unlocked`: the state is `running`, the recorded process holds no lock on the file's inode and
//!   no other process holds one that counts (only judged when `/proc/locks` was read whole and every
//!   line parsed).
//! - `lock-holder-mismatch`: the file is locked, the recorded PID is not among the holders, and that
//!   is known: the recorded PID is not running (stale, zombie), or its descriptors were read and show no
//!   such lock. The evidence says how each holder relates to the recorded PID (`parent`, `child`,
//!   `ancestor`, `descendant`, `unrelated`). When the recorded PID is not the writer (stale, zombie,
//!   reused) the holder is named as `likely_instance`. When the recorded PID's descriptors could not be
//!   read (an unprivileged audit) the finding has severity `unknown`.
//! - Stale interplay: a `stale` file stays `stale` (its PID is dead), and its `stale` finding gains
//!   `lock_holders` evidence: such a file must not be removed, since the likely real instance would lose
//!   its single-instance guard.
//! - Lock overrides `pid-reused`: when liveness judged the PID `reused` (it started after the file's
//!   mtime, e.g. after a clock step or an mtime set by hand) but that very process holds a lock on this
//!   very inode (confirmed in its fdinfo, or a POSIX lock `/proc/locks` attributes to it, which only
//!   its owner can hold), the lock wins: the process has the file open and locked, so the PID in the
//!   file names the instance that owns it. The state becomes `running` and `pid-reused` is withdrawn;
//!   the lock object shows the holder.
//! - `inherited-lock`: a lock's acquirer (the PID `/proc/locks` prints) exited or no longer holds it,
//!   while the lock lives on in a process that inherited the descriptor.
//! - `lock-foreign-holder`: a lock that does not count, held by another process than the running
//!   daemon; or, the state being `running`, a counting lock's holder's real UID differs from the
//!   recorded process's.
//! - `replaced-while-locked` (across pidfiles): a live process holds a lock on a file that is not any
//!   audited pidfile's current inode, and its descriptor's link (`/proc/PID/fd/N`) names an audited
//!   pidfile's path (usually with ` (deleted)`; compared as text with the path the kernel gives the
//!   pidfile's held directory descriptor, never looked up, so a hung mount on the holder's path
//!   cannot hang the search): the file was deleted or replaced while locked. Only
//!   locks on a device that holds audited pidfiles, whose acquirer is alive and in the auditor's mount
//!   namespace, are examined, at most [`MAX_REPLACED_PROBES`] processes. A candidate whose
//!   descriptors could not be read (another user's process, unprivileged) and whose name could be
//!   a pidfile's daemon on that device gives that pidfile a `not-visible` finding naming it: the
//!   search is incomplete there. OFD locks (no acquirer) and deleted pidfiles held open without a
//!   lock are looked for by [`super::held`].

use super::liveness::{NOT_VISIBLE, STALE};
use super::Cx;
use super::{Entry, FileFact};
use crate::model::State;
use crate::model::{Code, CodeDoc, Finding, Severity};
use crate::pidfile::ReadOutcome;
use crate::system::holders::{FileLocks, Holder, ResolvedLock};
use crate::system::locks::{Lock, LockKind, LockLine, LockMode};
use crate::system::{Process, Snapshot};
use rustix::io::Errno;
use serde_json::{json, Value};
use std::collections::{HashMap, HashSet};
use std::ffi::OsString;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// The most processes whose descriptors are examined to find pidfiles replaced while locked.
pub const MAX_REPLACED_PROBES: usize = 64;

pub const UNLOCKED: Code = Code::new(&CodeDoc {
    code: "unlocked",
    severity: Severity::Info,
    summary: "The daemon is running but nothing holds a lock on its pidfile.",
    why: "Without a lock nothing stops a second instance: a start script that only checks the PID in the file races with the daemon's own start, and a second copy started by hand overwrites the file and runs alongside the first (the classic duplicate-start incident). A daemon that takes a POSIX lock (lockf/fcntl) and then forks loses it: such locks are not inherited.",
    fix: "Have the daemon lock its pidfile for its whole life (flock or an OFD lock on the open descriptor, taken after the last fork), or let a supervisor (systemd, runit) guarantee a single instance and drop the pidfile.",
});

pub const LOCK_HOLDER_MISMATCH: Code = Code::new(&CodeDoc {
    code: "lock-holder-mismatch",
    severity: Severity::Error,
    summary: "The pidfile's lock is held by other process(es) than the PID in the file.",
    why: "The lock shows who really owns the file; the PID in it is wrong. The evidence says how the holder relates to the recorded PID: `parent` (a POSIX lock taken before fork stays with the parent, so the child that wrote its PID is unprotected), `child`, `ancestor`, `descendant` or `unrelated`. When the recorded PID is not running or is not the writer, the holder is very likely the real instance (`likely_instance`): stop scripts would signal the wrong PID, and removing the file would drop the real instance's guard.",
    fix: "Check the holder named in the evidence. If it is the daemon, rewrite the pidfile with its PID (or restart it cleanly); do not remove a locked file. If the recorded PID is the daemon, find out why another process locks its file.",
});

pub const REPLACED_WHILE_LOCKED: Code = Code::new(&CodeDoc {
    code: "replaced-while-locked",
    severity: Severity::Error,
    summary: "A live process holds a lock on an earlier version of this pidfile, deleted or replaced.",
    why: "A second start deleted (or renamed over) the running instance's locked pidfile and wrote its own: the lock no longer protects the path, two instances may run, and the file names the newcomer. The evidence names the holder, the descriptor it holds the old file through, and what the path holds now.",
    fix: "Decide which instance is the real one; stop the other. Fix the start script or daemon so that it never deletes a pidfile it could not lock (take the lock on the existing file instead).",
});

pub const LOCK_FOREIGN_HOLDER: Code = Code::new(&CodeDoc {
    code: "lock-foreign-holder",
    severity: Severity::Warning,
    summary: "A lock on the pidfile proves nothing about the daemon (a read lock, a read-only descriptor), or a process of another user holds one.",
    why: "Any user who can open a file can lock it: a foreign lock can keep the daemon from starting or make tools believe it runs (a denial of service, cf. CVE-2022-1348). It can also be a monitoring tool misbehaving.",
    fix: "Check the holder named in the evidence; make the pidfile and its directory readable only by the daemon's user (mode 0644 lets everyone open, and so lock, it; 0600 or a private directory does not).",
});

pub const INHERITED_LOCK: Code = Code::new(&CodeDoc {
    code: "inherited-lock",
    severity: Severity::Info,
    summary: "The process /proc/locks names for the lock exited; the lock lives on in a process that inherited the descriptor.",
    why: "flock and OFD locks belong to the open file description, not the process: a daemon that locks and then forks keeps the lock in the child. `/proc/locks` (and `lslocks`) still print the PID that took it, which may be dead or reused; this finding says who really holds it so the output is not misread.",
    fix: "Nothing to fix when the holder is the daemon. Tools that read /proc/locks should resolve holders from /proc/PID/fdinfo, as pidaudit does.",
});

pub const LOCKS_UNKNOWN: Code = Code::new(&CodeDoc {
    code: "locks-unknown",
    severity: Severity::Unknown,
    summary: "/proc/locks could not be read completely; lock facts may be missing.",
    why: "Without the lock table no holder can be resolved; lines the parser did not understand may hide a lock. Lock findings are limited to what was read (`unlocked` is not reported).",
    fix: "Run pidaudit where /proc is mounted and readable; report unparsed lines (in the evidence) as a bug.",
});

pub const DELETED_PIDFILE_HELD: Code = Code::new(&CodeDoc {
    code: "deleted-pidfile-held",
    severity: Severity::Error,
    summary: "A live process holds a write lock on, or a descriptor opened for writing to, a pidfile deleted from an audited directory: the daemon runs without its pidfile.",
    why: "A stop script that deletes the pidfile before the daemon has exited (and a daemon that ignores the signal) leaves the daemon running with no file at the path: status scripts say it is stopped, and the next start runs a second copy, whose new pidfile's lock no longer excludes the first. The deleted file is found from `/proc/locks` (write locks on an audited directory's file system, on no audited file) and the holder's descriptor link (`PATH (deleted)`, matched as text with the audited directories, never looked up). Only a write lock through a descriptor opened for writing counts, on a file that was root's (error) or the holder's own (warning: a user's daemon). A daemon that keeps the file open without a lock, or holds an OFD lock (`/proc/locks` names no acquirer), is found among the descriptors of daemon-like processes no pidfile tracks (children of init or a supervisor, session leaders; bounded, a search cut short is `locks-unknown`): a descriptor opened for writing on the deleted file counts. Evidence names the holder, its descriptor, the lock (`locked`), the deleted inode and how it was found (`found_by`: `lock` or `descriptor`).",
    fix: "Check the process in the evidence: if it is the daemon, stop it by PID (after checking), then start the daemon cleanly; fix the stop script so it removes the pidfile only after the daemon has exited.",
});

/// Every code this check emits, in catalogue order.
pub const CODES: &[Code] = &[
    UNLOCKED,
    LOCK_HOLDER_MISMATCH,
    REPLACED_WHILE_LOCKED,
    DELETED_PIDFILE_HELD,
    LOCK_FOREIGN_HOLDER,
    INHERITED_LOCK,
    LOCKS_UNKNOWN,
];

/// Resolves the lock facts of one pidfile and judges them. Runs after liveness.
pub fn check(cx: &Cx<'_>, entry: &mut Entry) {
    let ReadOutcome::Content { facts, .. } = &entry.read else {
        return;
    };
    let facts = *facts;
    let table = cx.snapshot.locks();
    if table.error.is_some() {
        return;
    }
    let recorded = entry
        .process
        .as_ref()
        .filter(|p| p.stat.pid as u32 == entry.pid.unwrap_or(0));
    let mut fl = table.resolve(cx.snapshot, facts.dev, facts.ino, recorded);
    // A lock absent from a table read in pieces (or cut short) may have been missed: the recorded
    // process's own descriptors say whether it holds one, also when other processes' locks on the
    // file were listed (a reader's lock says nothing of the daemon's).
    let mut confirmed = table.consistent();
    let recorded_listed = recorded.is_some_and(|r| {
        fl.locks
            .iter()
            .any(|l| l.holders.iter().any(|h| h.pid() == r.pid()))
    });
    // A supervisor's file is never the daemon's to lock (`supervised` judges `supervise/lock`).
    if !confirmed && !recorded_listed && entry.supervision.is_none() {
        if let Some(p) = recorded.filter(|p| !cx.snapshot.is_dead(p)) {
            let p = Arc::clone(p);
            match table.held_by(cx.snapshot, p.pid(), facts.dev, facts.ino) {
                Ok(held) => {
                    confirmed = true;
                    if !held.is_empty() {
                        fl.locks.extend(from_fdinfo(cx, &p, held).locks);
                    }
                }
                Err(errno) => {
                    let subject = entry.path.display().to_string();
                    entry.findings.push(
                        Finding::new(
                            LOCKS_UNKNOWN,
                            &subject,
                            format!(
                                "{} shows no lock on this file, but it was {}; whether PID {} ({}) holds one could not be checked: {errno}",
                                cx.snapshot.proc_root.join("locks").display(),
                                if table.complete() { "read in pieces while locks may have changed" } else { "not read whole" },
                                p.pid(),
                                p.stat.comm
                            ),
                        )
                        .with("pid", p.pid())
                        .with("errno", errno.raw_os_error())
                        .with("reads", table.reads)
                        .with("truncated", table.truncated),
                    );
                }
            }
        }
    }
    judge(cx, entry, &fl, confirmed);
    entry.lock = Some(fl);
}

/// The lock facts of a file as the recorded process's fdinfo shows them.
fn from_fdinfo(cx: &Cx<'_>, p: &Arc<Process>, held: Vec<(i32, LockLine)>) -> FileLocks {
    let table = cx.snapshot.locks();
    let mut fl = FileLocks::default();
    for (fd, line) in held {
        let write_fd = table.write_fd(cx.snapshot, p.pid(), Some(fd), &line);
        fl.locks.push(ResolvedLock {
            lock: Lock {
                line,
                waiters: Vec::new(),
            },
            holders: vec![Holder {
                process: Arc::clone(p),
                fd: Some(fd),
                verified: true,
                write_fd,
            }],
            acquirer_alive: true,
        });
    }
    fl.examined.push((p.pid(), Ok(())));
    fl
}

/// Why a held lock is not evidence that the daemon holds it, if it is not. Any process that can
/// open the file can lock it: a read lock, or any lock through a descriptor opened read-only, can
/// be taken by every user who can read the file. Only a write lock, held through a descriptor
/// opened for writing, by a process whose uid could have written the file (root, or the file's
/// owner) counts as the daemon's lock.
pub fn proof(
    cx: &Cx<'_>,
    l: &ResolvedLock,
    h: &Holder,
    file_uid: Option<u32>,
) -> Result<(), &'static str> {
    if l.lock.line.mode != LockMode::Write {
        return Err("read_lock");
    }
    match h.write_fd {
        Some(true) => {}
        Some(false) if flock_wrapped(cx, l, file_uid) => {}
        Some(false) => return Err("read_only_descriptor"),
        None => return Err("descriptor_unknown"),
    }
    match file_uid {
        // A root-owned file was written by root; a daemon may drop privileges after writing it,
        // keeping the descriptor it opened for writing.
        Some(0) => Ok(()),
        Some(owner) => match cx.snapshot.status(&h.process).and_then(|s| s.uid()) {
            Some(uid) if uid == 0 || uid == owner => Ok(()),
            Some(_) => Err("foreign_uid"),
            None => Err("uid_unknown"),
        },
        None => Err("file_unknown"),
    }
}

/// Whether a lock is util-linux `flock`'s, taken for the daemon it forked: `flock -x FILE daemon`
/// opens the file read-only and shares that open file description with the daemon. It counts when
/// a holder is a `flock` process whose user could have written the file (root, or the file's
/// owner): another user's `flock` on a readable file proves nothing.
fn flock_wrapped(cx: &Cx<'_>, l: &ResolvedLock, file_uid: Option<u32>) -> bool {
    l.lock.line.kind.follows_descriptor()
        && l.holders.iter().any(|w| {
            w.verified
                && w.process.stat.comm == "flock"
                && match (
                    cx.snapshot.status(&w.process).and_then(|s| s.uid()),
                    file_uid,
                ) {
                    (Some(0), Some(_)) => true,
                    (Some(uid), Some(owner)) => uid == owner,
                    _ => false,
                }
        })
}

/// Holders in the order to name the likely instance in: the daemon before the known wrappers
/// (`flock`, `timeout`, `sudo`, ...) that started it and share its lock.
pub fn daemon_first<'h>(holders: &[&'h Holder]) -> Vec<&'h Holder> {
    let mut out: Vec<&Holder> = holders.to_vec();
    out.sort_by_key(|h| crate::system::identity::is_wrapper(&h.process.stat.comm));
    out
}

/// The processes whose lock on the entry's file proves them the daemon (see [`proof`]).
pub fn proving_holders<'e>(cx: &Cx<'_>, entry: &'e Entry) -> Vec<&'e Holder> {
    let Some(fl) = &entry.lock else {
        return Vec::new();
    };
    let uid = entry.facts().map(|f| f.uid);
    let mut seen = HashSet::new();
    fl.locks
        .iter()
        .flat_map(|l| l.holders.iter().map(move |h| (l, h)))
        .filter(|(l, h)| proof(cx, l, h, uid).is_ok())
        .map(|(_, h)| h)
        .filter(|h| seen.insert(h.pid()))
        .collect()
}

fn judge(cx: &Cx<'_>, entry: &mut Entry, fl: &FileLocks, complete: bool) {
    let subject = entry.subject();
    let recorded = entry.process.clone();
    let recorded_pid = entry.pid.map(|p| p as i32);
    let file_uid = entry.facts().map(|f| f.uid);
    // Every (lock, holder) judged once: the daemon's, or evidence only.
    let judged: Vec<(&ResolvedLock, &Holder, Result<(), &'static str>)> = fl
        .locks
        .iter()
        .flat_map(|l| l.holders.iter().map(move |h| (l, h)))
        .map(|(l, h)| (l, h, proof(cx, l, h, file_uid)))
        .collect();
    // Also when /proc/locks names it as a flock's acquirer and its descriptors could not be read.
    let recorded_may_hold =
        recorded_pid.is_some_and(|r| judged.iter().any(|(_, h, _)| h.pid() == r));
    // A write lock whose holder was not found may be the daemon's: it is not "unlocked".
    let daemon_locked = recorded_may_hold
        || fl
            .locks
            .iter()
            .any(|l| l.lock.line.mode == LockMode::Write && l.holders.is_empty())
        || judged.iter().any(|(_, _, p)| p.is_ok());
    if !daemon_locked {
        // A supervisor's file: the supervisor holds `supervise/lock` instead (see `supervised`).
        if entry.state() == State::Running && complete && entry.supervision.is_none() {
            if let Some(p) = &recorded {
                let mut f = Finding::new(
                    UNLOCKED,
                    &subject,
                    format!(
                        "PID {} ({}) is running but holds no lock on its pidfile: nothing stops a second instance",
                        p.pid(),
                        p.stat.comm
                    ),
                )
                .with("pid", p.pid())
                .with("comm", p.stat.comm.clone());
                if fl.locked() {
                    f = f.with("other_locks", fl.locks.len());
                }
                entry.findings.push(f);
            }
        }
        evidence_only(cx, entry, &subject, &judged, recorded_pid);
        return;
    }
    let holds = |pid: i32| {
        judged.iter().any(|(l, h, p)| {
            h.pid() == pid && p.is_ok() && (h.verified || l.lock.line.kind == LockKind::Posix)
        })
    };
    // A lock the recorded process itself holds, as only the daemon could, outweighs a start-time
    // comparison. Confirmed in its fdinfo, or a POSIX lock /proc/locks attributes to it (only its
    // owner holds one).
    if recorded_pid.is_some_and(holds) {
        entry.facts.own_lock = true;
    }
    let proving: Vec<&Holder> = {
        let mut seen = HashSet::new();
        judged
            .iter()
            .filter(|(_, _, p)| p.is_ok())
            .map(|(_, h, _)| *h)
            .filter(|h| seen.insert(h.pid()))
            .collect()
    };

    if recorded_pid.is_none() && entry.facts.file == Some(FileFact::NoPid) {
        pidless(cx, entry, &subject, &proving);
    }

    if let Some(rpid) = recorded_pid {
        let unknown_writer = fl
            .locks
            .iter()
            .any(|l| l.lock.line.mode == LockMode::Write && l.holders.is_empty());
        if !recorded_may_hold
            && (!proving.is_empty() || unknown_writer)
            && matches!(
                entry.state(),
                State::Running | State::Reused | State::Stale | State::Zombie
            )
        {
            mismatch(cx, entry, &subject, fl, rpid, &proving);
        }
    }

    for l in &fl.locks {
        inherited(cx, entry, &subject, l);
    }

    evidence_only(cx, entry, &subject, &judged, recorded_pid);
    if entry.state() == State::Running {
        if let Some(rec) = recorded.as_ref() {
            foreign(cx, entry, &subject, fl, rec);
        }
    }
}

/// A file that names no PID (emptied, garbled) whose lock a process holds as only the daemon could:
/// that process is very likely the running daemon (a refused second start that truncates before
/// it locks leaves this), and the file must not be removed.
fn pidless(cx: &Cx<'_>, entry: &mut Entry, subject: &str, proving: &[&Holder]) {
    let proving = daemon_first(proving);
    let Some(h) = proving.first() else { return };
    let holders: Vec<Value> = proving
        .iter()
        .map(|h| holder_json(cx.snapshot, h, None))
        .collect();
    for f in entry
        .findings
        .iter_mut()
        .filter(|f| f.code != LOCK_HOLDER_MISMATCH)
    {
        f.message.push_str(&format!(
            "; PID {} ({}) holds its lock: do not remove it",
            h.pid(),
            h.process.stat.comm
        ));
        f.evidence.insert("lock_holders", json!(holders.clone()));
    }
    entry.findings.push(
        Finding::new(
            LOCK_HOLDER_MISMATCH,
            subject,
            format!(
                "the file names no PID, but PID {} ({}) holds its write lock as only the daemon could: it is very likely the running daemon, whose pidfile was emptied or garbled; do not remove the file, restart the daemon or rewrite the file with its PID",
                h.pid(),
                h.process.stat.comm
            ),
        )
        .with("pid", Value::Null)
        .with("holder_pid", h.pid())
        .with("holder_comm", h.process.stat.comm.clone())
        .with("holder_fd", h.fd)
        .with("likely_instance", h.pid())
        .with("holders", holders),
    );
}

/// `lock-foreign-holder` for every process whose lock proves nothing about the daemon (a read
/// lock, a read-only descriptor, another user): evidence, never an override. The recorded process
/// is left out while it runs as the daemon: its own lock is not foreign.
fn evidence_only(
    cx: &Cx<'_>,
    entry: &mut Entry,
    subject: &str,
    judged: &[(&ResolvedLock, &Holder, Result<(), &'static str>)],
    recorded_pid: Option<i32>,
) {
    let mut seen = HashSet::new();
    for (l, h, p) in judged {
        let Err(reason) = p else { continue };
        if (Some(h.pid()) == recorded_pid && entry.state() == State::Running)
            || !seen.insert(h.pid())
        {
            continue;
        }
        let why = match *reason {
            "read_lock" => "any process that can read the file can take a read lock".to_string(),
            "read_only_descriptor" => {
                "it holds it through a descriptor opened read-only, which any reader of the file can have".to_string()
            }
            "foreign_uid" => "its user could not have written the file".to_string(),
            _ => "whether it could have written the file is unknown".to_string(),
        };
        let uid = cx.snapshot.status(&h.process).and_then(|s| s.uid());
        entry.findings.push(
            Finding::new(
                LOCK_FOREIGN_HOLDER,
                subject,
                format!(
                    "PID {} ({}) holds a {} on the pidfile, which proves nothing about the daemon: {why}",
                    h.pid(),
                    h.process.stat.comm,
                    describe(l)
                ),
            )
            .with("pid", recorded_pid)
            .with_holder(h, l, uid)
            .with("reason", *reason),
        );
    }
}

/// The evidence that names a lock's holder.
trait HolderEvidence {
    fn with_holder(self, h: &Holder, l: &ResolvedLock, uid: Option<u32>) -> Self;
}

impl HolderEvidence for Finding {
    fn with_holder(self, h: &Holder, l: &ResolvedLock, uid: Option<u32>) -> Finding {
        self.with("holder_pid", h.pid())
            .with("holder_comm", h.process.stat.comm.clone())
            .with("holder_uid", uid)
            .with("holder_fd", h.fd)
            .with("kind", l.lock.line.kind.as_str())
            .with("mode", l.lock.line.mode.as_str())
    }
}

fn holder_json(snap: &Snapshot, h: &Holder, recorded: Option<&Process>) -> Value {
    let mut v = json!({
        "pid": h.pid(),
        "comm": h.process.stat.comm,
        "fd": h.fd,
    });
    if let Some(r) = recorded {
        v["relation"] = json!(relation(snap, r, &h.process));
    }
    v
}

/// "write flock", "read POSIX lock", ...
fn describe_line(line: &crate::system::locks::LockLine) -> String {
    let kind = match line.kind {
        LockKind::Posix => "POSIX lock",
        LockKind::Flock => "flock",
        LockKind::Ofd => "OFD lock",
        LockKind::Lease => "lease",
        LockKind::Deleg => "delegation",
        LockKind::Access => "access lock",
        LockKind::Unknown => "lock of unknown kind",
    };
    format!("{} {kind}", line.mode.as_str())
}

fn describe(l: &ResolvedLock) -> String {
    describe_line(&l.lock.line)
}

fn inherited(cx: &Cx<'_>, entry: &mut Entry, subject: &str, l: &ResolvedLock) {
    let Some(acq) = l.lock.line.acquirer() else {
        return;
    };
    if l.holders.iter().any(|h| h.pid() == acq) {
        return;
    }
    if !l.lock.line.kind.follows_descriptor() || (l.acquirer_alive && l.holders.is_empty()) {
        // POSIX locks are not inherited; a live acquirer whose descriptors were unreadable and no
        // other holder found says nothing.
        return;
    }
    let who = if l.acquirer_alive {
        format!(
            "PID {acq}, which /proc/locks names for the file's {}, no longer holds it",
            describe(l)
        )
    } else {
        format!(
            "PID {acq}, which /proc/locks names for the file's {}, has exited",
            describe(l)
        )
    };
    let message = match l.holders.first() {
        Some(h) => format!(
            "{who}; the lock lives on in PID {} ({}){}, which inherited the descriptor",
            h.pid(),
            h.process.stat.comm,
            h.fd.map(|fd| format!(" through fd {fd}"))
                .unwrap_or_default()
        ),
        None => {
            format!("{who}; the process that inherited the descriptor was not among those examined")
        }
    };
    let holders: Vec<Value> = l
        .holders
        .iter()
        .map(|h| holder_json(cx.snapshot, h, None))
        .collect();
    entry.findings.push(
        Finding::new(INHERITED_LOCK, subject, message)
            .with("acquirer_pid", acq)
            .with("acquirer_alive", l.acquirer_alive)
            .with("kind", l.lock.line.kind.as_str())
            .with("mode", l.lock.line.mode.as_str())
            .with("holders", holders),
    );
}

fn mismatch(
    cx: &Cx<'_>,
    entry: &mut Entry,
    subject: &str,
    fl: &FileLocks,
    rpid: i32,
    holders: &[&Holder],
) {
    let snap = cx.snapshot;
    let holders = &daemon_first(holders)[..];
    let recorded = entry
        .process
        .clone()
        .filter(|p| p.pid() == rpid && !snap.is_dead(p));
    let alive = recorded.is_some();
    let not_writer = matches!(entry.state(), State::Stale | State::Zombie | State::Reused);
    // Whether "the recorded PID does not hold it" is a fact.
    let known = !alive || fl.examined_ok(rpid);
    let first = &fl.locks[0];
    let lock_desc = describe(first);
    let related_to = entry.process.clone();
    let holder_values: Vec<Value> = holders
        .iter()
        .map(|h| holder_json(snap, h, related_to.as_deref()))
        .collect();
    let mut f = match holders.first() {
        Some(h) => {
            let name = format!("PID {} ({})", h.pid(), h.process.stat.comm);
            let message = if not_writer {
                let why = match entry.state() {
                    State::Stale => "is not running",
                    State::Zombie => "is a zombie",
                    _ => "is not the writer",
                };
                format!(
                    "PID {rpid} in the file {why}, but {name} holds the file's {lock_desc}: it is very likely the real instance"
                )
            } else {
                let rel = related_to
                    .as_deref()
                    .map(|r| relation(snap, r, &h.process))
                    .unwrap_or("unrelated");
                let how = match rel {
                    "parent" if first.lock.line.kind == LockKind::Posix => {
                        format!("the parent of PID {rpid} (a POSIX lock taken before fork stays with the parent)")
                    }
                    "parent" => format!("the parent of PID {rpid}"),
                    "child" => format!("a child of PID {rpid}"),
                    "ancestor" => format!("an ancestor of PID {rpid}"),
                    "descendant" => format!("a descendant of PID {rpid}"),
                    _ => format!("unrelated to PID {rpid}"),
                };
                format!("the file's {lock_desc} is held by {name}, {how}, not by the PID in the file")
            };
            let mut f = Finding::new(LOCK_HOLDER_MISMATCH, subject, message)
                .with("pid", rpid)
                .with("recorded_alive", alive)
                .with("holder_pid", h.pid())
                .with("holder_comm", h.process.stat.comm.clone())
                .with("holder_fd", h.fd);
            if let Some(r) = related_to.as_deref() {
                f = f.with("relation", relation(snap, r, &h.process));
            }
            if not_writer {
                f = f.with("likely_instance", h.pid());
            }
            f
        }
        // Any reader of the file can take a lock and hand its descriptor to a process no
        // candidate search reaches: a holder not found proves nothing either way.
        None => Finding::new(
            LOCK_HOLDER_MISMATCH,
            subject,
            format!(
                "the file's {lock_desc} is held, but not by PID {rpid}; its holder was not among the {} processes examined{}, so whether it is the daemon's is unknown",
                fl.examined.len(),
                if fl.capped { " (the search's bound was reached)" } else { "" }
            ),
        )
        .severity(Severity::Unknown)
        .with("pid", rpid)
        .with("recorded_alive", alive)
        .with("holder_pid", Value::Null)
        .with("search_capped", fl.capped),
    };
    f = f
        .with("kind", first.lock.line.kind.as_str())
        .with("mode", first.lock.line.mode.as_str())
        .with("holders", holder_values.clone())
        .with(
            "examined",
            fl.examined.iter().map(|(p, _)| *p).collect::<Vec<_>>(),
        );
    if !known {
        let errno = fl
            .examined
            .iter()
            .find(|(p, _)| *p == rpid)
            .and_then(|(_, r)| r.err())
            .unwrap_or(Errno::ACCESS);
        f.message = format!(
            "{}; whether PID {rpid} shares it could not be checked ({errno})",
            f.message
        );
        f = f
            .severity(Severity::Unknown)
            .with("errno", errno.raw_os_error());
    }
    entry.findings.push(f);
    if entry.state() == State::Stale && !holders.is_empty() {
        for s in entry.findings.iter_mut().filter(|f| f.code == STALE) {
            s.evidence
                .insert("lock_holders", json!(holder_values.clone()));
        }
    }
}

/// `lock-foreign-holder` for a process of another user than the daemon holding a lock that would
/// otherwise count as the daemon's (the others are reported by [`evidence_only`]).
fn foreign(cx: &Cx<'_>, entry: &mut Entry, subject: &str, fl: &FileLocks, rec: &Arc<Process>) {
    let snap = cx.snapshot;
    let file_uid = entry.facts().map(|f| f.uid);
    let mut seen = HashSet::new();
    for l in &fl.locks {
        for h in &l.holders {
            if h.pid() == rec.pid() || proof(cx, l, h, file_uid).is_err() || !seen.insert(h.pid()) {
                continue;
            }
            // The daemon's uid is read only when another process holds a lock.
            let Some(daemon_uid) = snap.status(rec).and_then(|s| s.uid()) else {
                return;
            };
            let Some(uid) = snap.status(&h.process).and_then(|s| s.uid()) else {
                continue;
            };
            if uid == daemon_uid {
                continue;
            }
            entry.findings.push(
                Finding::new(
                    LOCK_FOREIGN_HOLDER,
                    subject,
                    format!(
                        "PID {} ({}) of uid {uid} holds a {} on the pidfile of PID {} (uid {daemon_uid})",
                        h.pid(),
                        h.process.stat.comm,
                        describe(l),
                        rec.pid()
                    ),
                )
                .with("pid", rec.pid())
                .with("daemon_uid", daemon_uid)
                .with_holder(h, l, Some(uid)),
            );
        }
    }
}

/// How `holder` relates to `recorded`: `parent`, `child`, `ancestor`, `descendant` or `unrelated`.
pub fn relation(snap: &Snapshot, recorded: &Process, holder: &Process) -> &'static str {
    if holder.pid() == recorded.stat.ppid {
        return "parent";
    }
    if holder.stat.ppid == recorded.pid() {
        return "child";
    }
    if is_ancestor(snap, holder.pid(), recorded.stat.ppid) {
        return "ancestor";
    }
    if is_ancestor(snap, recorded.pid(), holder.stat.ppid) {
        return "descendant";
    }
    "unrelated"
}

/// Whether `ancestor` is `start` or one of its ancestors (64 generations at most).
fn is_ancestor(snap: &Snapshot, ancestor: i32, start: i32) -> bool {
    let mut pid = start;
    for _ in 0..64 {
        if pid == ancestor {
            return true;
        }
        match snap.get(pid) {
            Some(p) if p.stat.ppid != pid && pid > 0 => pid = p.stat.ppid,
            _ => return false,
        }
    }
    false
}

/// Across pidfiles: reports `/proc/locks` problems once, and pidfiles replaced while a live process
/// kept a lock on the earlier file.
pub fn check_across(cx: &Cx<'_>, entries: &mut [Entry]) -> Vec<Finding> {
    let mut system = Vec::new();
    // A regular file to judge, or an explicitly named one that is gone (perhaps deleted while locked).
    if cx.root_dirs.is_empty()
        && !entries
            .iter()
            .any(|e| matches!(e.read, ReadOutcome::Content { .. } | ReadOutcome::Vanished))
    {
        return system;
    }
    let snap = cx.snapshot;
    let table = snap.locks();
    let subject = snap.proc_root.join("locks").display().to_string();
    match table.error {
        Some(Errno::NOENT) if !snap.live => return system,
        Some(errno) => {
            system.push(
                Finding::new(
                    LOCKS_UNKNOWN,
                    &subject,
                    format!("cannot read {subject}: {errno}; lock facts are unknown"),
                )
                .with("errno", errno.raw_os_error()),
            );
            return system;
        }
        None => {}
    }
    if table.truncated || !table.parsed.errors.is_empty() {
        let first = table.parsed.errors.first();
        system.push(
            Finding::new(
                LOCKS_UNKNOWN,
                &subject,
                format!(
                    "{} lines of {subject} could not be parsed{}",
                    table.parsed.errors.len(),
                    if table.truncated {
                        " (read truncated)"
                    } else {
                        ""
                    }
                ),
            )
            .with("unparsed_lines", table.parsed.errors.len())
            .with("truncated", table.truncated)
            .with("first_error", first.map(|e| e.to_string())),
        );
    }
    let cut = replaced(cx, entries, &mut system);
    system.extend(cut);
    system
}

/// `deleted-pidfile-held`: `p` holds a write lock through descriptor `fd` on the deleted pidfile
/// whose last path was `path`, in an audited directory. Counted only when the file was root's or
/// the holder's own (its owner read through the descriptor, never looked up by path).
pub fn deleted_held(
    cx: &Cx<'_>,
    p: &Arc<Process>,
    line: Option<&LockLine>,
    fd: i32,
    (dev, ino): (u64, u64),
    path: &Path,
    owner: Option<u32>,
) -> Option<Finding> {
    let snap = cx.snapshot;
    let pid = p.pid();
    let owner = owner.or_else(|| {
        snap.proc_dir().and_then(|proc| {
            rustix::fs::statx(
                proc,
                format!("{}/fd/{fd}", snap.files_dir(pid)).as_str(),
                rustix::fs::AtFlags::STATX_DONT_SYNC,
                rustix::fs::StatxFlags::UID | rustix::fs::StatxFlags::INO,
            )
            .ok()
            .filter(|st| st.stx_ino == ino)
            .map(|st| st.stx_uid)
        })
    })?;
    let holder_uid = snap.status(p).and_then(|s| s.uid());
    if owner != 0 && Some(owner) != holder_uid {
        return None;
    }
    let subject = crate::model::text::path(path);
    let held = match line {
        Some(l) => format!("holding a {} on it", describe_line(l)),
        None => "holding it open for writing (no lock)".to_string(),
    };
    let mut f = Finding::new(
        DELETED_PIDFILE_HELD,
        &subject,
        format!(
            "{subject} was deleted, but PID {pid} ({}) still runs {held} through fd {fd}: it is very likely the daemon, now running without a pidfile (a stop script deleted the file before the daemon exited)",
            p.stat.comm,
        ),
    )
    .with("holder_pid", pid)
    .with("holder_comm", p.stat.comm.clone())
    .with("holder_fd", fd)
    .with("holder_uid", holder_uid)
    .with("file_uid", owner)
    .with("locked", line.is_some())
    .with("kind", line.map(|l| l.kind.as_str()))
    .with("mode", line.map(|l| l.mode.as_str()))
    .with("locked_dev", dev)
    .with("locked_ino", ino);
    if owner != 0 {
        // A user's own file: that user's daemon, not the machine's.
        f = f.severity(Severity::Warning);
    }
    Some(f)
}

/// `replaced-while-locked` on `e`: `p` holds `line` through descriptor `fd` on the earlier file
/// `(dev, ino)` at this path, whose link reads `link`.
pub fn replaced_finding(
    e: &Entry,
    p: &Process,
    line: &LockLine,
    fd: i32,
    (dev, ino): (u64, u64),
    deleted: bool,
    link: &Path,
) -> Finding {
    let pid = p.pid();
    let now = match (e.facts(), e.pid) {
        (Some(f), Some(pid)) => format!("the path now holds inode {} naming PID {pid}", f.ino),
        (Some(f), None) => format!("the path now holds inode {}", f.ino),
        (None, _) => "nothing is at the path now".to_string(),
    };
    let message = format!(
        "PID {pid} ({}) still holds a {} on an earlier file at this path (inode {ino}{}) through fd {fd}; {now}",
        p.stat.comm,
        describe_line(line),
        if deleted { ", deleted" } else { "" },
    );
    Finding::new(REPLACED_WHILE_LOCKED, e.subject(), message)
        .with("holder_pid", pid)
        .with("holder_comm", p.stat.comm.clone())
        .with("holder_fd", fd)
        .with("kind", line.kind.as_str())
        .with("mode", line.mode.as_str())
        .with("locked_dev", dev)
        .with("locked_ino", ino)
        .with("deleted", deleted)
        .with("fd_link", link.display().to_string())
        .with("current_ino", e.facts().map(|f| f.ino))
        .with("current_pid", e.pid)
}

/// Finds pidfiles replaced while a live process kept a lock on the earlier file; returns a
/// `locks-unknown` finding when the search was cut short.
fn replaced(cx: &Cx<'_>, entries: &mut [Entry], system: &mut Vec<Finding>) -> Option<Finding> {
    let snap = cx.snapshot;
    let table = snap.locks();
    let current: HashSet<(u64, u64)> = entries
        .iter()
        .filter_map(|e| e.facts().map(|f| (f.dev, f.ino)))
        .collect();
    // The device of each pidfile (of its directory, when no file is there).
    let entry_devs: Vec<Option<u64>> = entries
        .iter()
        .map(|e| match e.facts() {
            Some(f) => Some(f.dev),
            None => e.dir.as_ref().map(|d| d.id().0),
        })
        .collect();
    let devs: HashSet<u64> = entry_devs
        .iter()
        .flatten()
        .copied()
        .chain(cx.root_dirs.iter().map(|d| d.id().0))
        .collect();
    // Write locks (only those can be a daemon's) on a pidfile device, on no current pidfile, whose
    // acquirer is alive.
    let mut all: Vec<(&Lock, (u64, u64), Arc<Process>)> = Vec::new();
    for (key, locks) in table.files() {
        if current.contains(&key) || cx.files_elsewhere.contains(&key) || !devs.contains(&key.0) {
            continue;
        }
        for l in locks.filter(|l| l.line.mode == LockMode::Write) {
            let Some(p) = l.line.acquirer().and_then(|p| snap.get(p)) else {
                continue;
            };
            if !snap.is_dead(p) {
                all.push((l, key, Arc::clone(p)));
            }
        }
    }
    // Directed: processes whose name could be an audited pidfile's daemon first, then by PID; at
    // most MAX_REPLACED_PROBES of them, and a search cut short says so.
    let tokens: Vec<String> = {
        let mut t: Vec<String> = entries
            .iter()
            .flat_map(|e| super::name::name_tokens(&e.path))
            .collect();
        t.sort();
        t.dedup();
        t
    };
    let mut ranked: Vec<(bool, i32)> = all
        .iter()
        .map(|(_, _, p)| {
            (
                !super::name::comm_could_match(&tokens, &p.stat.comm),
                p.pid(),
            )
        })
        .collect();
    ranked.sort_unstable();
    ranked.dedup();
    let chosen: HashSet<i32> = ranked
        .iter()
        .take(MAX_REPLACED_PROBES)
        .map(|(_, p)| *p)
        .collect();
    let cut = (ranked.len() > MAX_REPLACED_PROBES).then(|| {
        Finding::new(
            LOCKS_UNKNOWN,
            snap.proc_root.join("locks").display().to_string(),
            format!(
                "the search for pidfiles replaced while locked examined {MAX_REPLACED_PROBES} of the {} processes holding write locks on pidfile devices; a daemon among the others would not be found",
                ranked.len()
            ),
        )
        .with("examined", MAX_REPLACED_PROBES)
        .with("candidates", ranked.len())
    });
    let mut probes: Vec<(&Lock, (u64, u64), Arc<Process>)> = all
        .into_iter()
        .filter(|(_, _, p)| chosen.contains(&p.pid()))
        .collect();
    // OFD locks name no acquirer: their holders are looked for among daemon-like processes
    // ([`super::held`]), as are daemons holding a deleted pidfile open without a lock.
    let ofd = table.files().any(|(key, mut locks)| {
        !current.contains(&key)
            && devs.contains(&key.0)
            && locks.any(|l| l.line.mode == LockMode::Write && l.line.acquirer().is_none())
    });
    let search_held = snap.live && (!cx.root_dirs.is_empty() || ofd);
    if probes.is_empty() && !search_held {
        return cut;
    }
    probes.sort_by_key(|(l, _, p)| (p.pid(), l.line.id));
    // Audited paths, by the path the kernel gives their held directory descriptor (read from its
    // link, no lookup) and name. A holder's descriptor link is matched by that text: looking its
    // directory up would ask every filesystem on the path, and a hung FUSE or network mount's
    // server never answers.
    let mut dirs: HashMap<usize, Option<PathBuf>> = HashMap::new();
    let mut by_key: HashMap<(PathBuf, OsString), usize> = HashMap::new();
    for (i, e) in entries.iter().enumerate() {
        let Some(dir) = &e.dir else { continue };
        let shown = dirs.entry(Arc::as_ptr(dir) as usize).or_insert_with(|| {
            dir.open()
                .ok()
                .and_then(|fd| crate::pidfile::chase::fd_path(rustix::fd::AsFd::as_fd(&*fd)))
        });
        if let Some(shown) = shown {
            by_key.insert((shown.clone(), e.name.clone()), i);
        }
    }
    // The directories walked as roots, as the kernel names them: a deleted pidfile below one of
    // them was in an audited directory. (The directory of a pidfile named on its own is not
    // audited: a per-service check says nothing about its neighbours.)
    let roots: Vec<PathBuf> = cx
        .root_dirs
        .iter()
        .filter_map(|d| {
            d.open()
                .ok()
                .and_then(|fd| crate::pidfile::chase::fd_path(rustix::fd::AsFd::as_fd(&*fd)))
        })
        .collect();
    let own_mnt = snap
        .proc_dir()
        .and_then(|p| rustix::fs::readlinkat(p, "self/ns/mnt", Vec::new()).ok());
    let mut reported = HashSet::new();
    let mut deleted_inodes = HashSet::new();
    // Per pidfile, the candidates that could be its daemon but whose descriptors were unreadable.
    let mut unseen: HashMap<usize, Vec<(i32, Errno)>> = HashMap::new();
    for (l, (dev, ino), p) in probes {
        let pid = p.pid();
        if let Some(errno) = table.fds_error(snap, pid) {
            // Exited meanwhile: nothing to find, nothing out of reach.
            if matches!(errno, Errno::NOENT | Errno::SRCH) {
                continue;
            }
            for (i, e) in entries.iter().enumerate() {
                if entry_devs[i] == Some(dev)
                    && super::name::comm_could_match(
                        &super::name::name_tokens(&e.path),
                        &p.stat.comm,
                    )
                {
                    let list = unseen.entry(i).or_default();
                    if !list.iter().any(|(q, _)| *q == pid) {
                        list.push((pid, errno));
                    }
                }
            }
            continue;
        }
        for open in table.open_fds(snap, pid, dev, ino) {
            let Some(link) = open.path.as_deref() else {
                continue;
            };
            let bytes = link.as_os_str().as_bytes();
            let (shown, deleted) = match bytes.strip_suffix(b" (deleted)") {
                Some(b) => (Path::new(std::ffi::OsStr::from_bytes(b)), true),
                None => (link, false),
            };
            let (Some(parent), Some(name)) = (shown.parent(), shown.file_name()) else {
                continue;
            };
            let idx = by_key
                .get(&(parent.to_path_buf(), name.to_os_string()))
                .copied();
            // A deleted pidfile whose last path was in an audited directory, which no entry names.
            let gone = idx.is_none()
                && deleted
                && crate::discover::is_pidfile_name(name, parent)
                && roots.iter().any(|r| parent.starts_with(r));
            if idx.is_none() && !gone {
                continue;
            }
            // Only a write lock through a descriptor opened for writing can be the daemon's: any
            // reader of the file can take the others.
            if !table.fd_holds(snap, pid, open.fd, &l.line)
                || l.line.mode != LockMode::Write
                || table.write_fd(snap, pid, Some(open.fd), &l.line) != Some(true)
                || !reported.insert((idx.unwrap_or(usize::MAX), pid, open.fd))
            {
                continue;
            }
            // A holder in another mount namespace sees other files under the same path.
            let mnt = snap.proc_dir().and_then(|proc| {
                rustix::fs::readlinkat(proc, format!("{pid}/ns/mnt").as_str(), Vec::new()).ok()
            });
            if own_mnt.is_some() && mnt.is_some() && own_mnt != mnt {
                continue;
            }
            let Some(idx) = idx else {
                if let Some(f) =
                    deleted_held(cx, &p, Some(&l.line), open.fd, (dev, ino), shown, None)
                {
                    deleted_inodes.insert((dev, ino));
                    system.push(f.with("found_by", "lock"));
                }
                continue;
            };
            let e = &mut entries[idx];
            let f = replaced_finding(e, &p, &l.line, open.fd, (dev, ino), deleted, link);
            e.findings.push(f.with("found_by", "lock"));
        }
    }
    for (i, list) in unseen {
        let e = &mut entries[i];
        let pids: Vec<i32> = list.iter().map(|(p, _)| *p).collect();
        let named = pids
            .iter()
            .map(|p| p.to_string())
            .collect::<Vec<_>>()
            .join(", ");
        e.findings.push(
            Finding::new(
                NOT_VISIBLE,
                e.subject(),
                format!(
                    "the descriptors of PID{} {named} (holding write locks on this file system, named like this pidfile's daemon) could not be read: {}; replaced-while-locked is incomplete",
                    if pids.len() == 1 { "" } else { "s" },
                    list[0].1
                ),
            )
            .with("incomplete", "replaced-while-locked")
            .with("reason", "descriptors_unreadable")
            .with("pids", pids)
            .with("errno", list[0].1.raw_os_error()),
        );
    }
    if search_held {
        system.extend(super::held::search(
            cx,
            entries,
            super::held::Wanted {
                by_key: &by_key,
                roots: &roots,
                own_mnt: own_mnt.as_ref(),
                reported: &mut reported,
                deleted: &mut deleted_inodes,
            },
        ));
    }
    cut
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::checks::testing::{codes, config, cx, dev, file, pidfile};
    use crate::checks::{content, liveness, resolve, target};
    use crate::system::fake::FakeProcess;

    /// A `/proc/locks` line for a lock on the pidfile (inode 77 on `08:01`).
    fn line(kind: &str, mode: &str, pid: i32) -> String {
        format!("1: {kind}  ADVISORY  {mode} {pid} 08:01:77 0 EOF")
    }

    /// `p` with descriptor `fd` of the pidfile, whose fdinfo lists `line`.
    fn holding(p: FakeProcess, fd: i32, line: &str) -> FakeProcess {
        let fdinfo = format!("pos:\t0\nflags:\t0100002\nmnt_id:\t30\nino:\t77\nlock:\t{line}\n");
        p.fd(fd, dev(), 77).fdinfo(fd, &fdinfo)
    }

    /// A snapshot of `processes` whose `/proc/locks` holds `lines`.
    fn world<const N: usize>(processes: [FakeProcess; N], lines: &[&str]) -> Snapshot {
        let mut b =
            Snapshot::builder().locks(&lines.iter().map(|l| format!("{l}\n")).collect::<String>());
        for p in processes {
            b = b.process(p);
        }
        b.build()
    }

    /// The daemon nginx, PID 500, started 50 s after boot.
    fn nginx() -> FakeProcess {
        FakeProcess::new(500, "nginx").started(50.0)
    }

    /// The per-pidfile checks up to locks on `/run/nginx.pid` (inode 77, written 100 s after boot)
    /// holding `pid`, then the resolution rules.
    fn run(snap: &Snapshot, pid: i32) -> Entry {
        let config = config();
        let cx = cx(snap, &config);
        let mut e = pidfile("/run/nginx.pid", &format!("{pid}\n"), file(77, 100));
        content::check(&cx, &mut e);
        liveness::check(&cx, &mut e);
        target::check(&cx, &mut e);
        check(&cx, &mut e);
        resolve::finish(&mut e);
        e
    }

    /// The recorded PID owning a POSIX write lock holds it: `own_lock`, no `unlocked`, running.
    #[test]
    fn recorded_pid_owns_posix_lock() {
        let l = line("POSIX", "WRITE", 500);
        let snap = world([nginx().fd(3, dev(), 77)], &[&l]);
        let e = run(&snap, 500);
        assert!(e.facts.own_lock);
        assert_eq!(e.state(), State::Running);
        assert!(e.findings.is_empty(), "{:?}", e.findings);
        let holders: Vec<i32> = e
            .lock
            .as_ref()
            .unwrap()
            .holders()
            .iter()
            .map(|h| h.pid())
            .collect();
        assert_eq!(holders, [500]);
    }

    /// A flock is the recorded PID's when its descriptor's fdinfo lists it (found through fd 3).
    #[test]
    fn recorded_pid_holds_flock_through_its_descriptor() {
        let l = line("FLOCK", "WRITE", 500);
        let snap = world([holding(nginx(), 3, &l)], &[&l]);
        let e = run(&snap, 500);
        assert!(e.facts.own_lock);
        assert!(e.findings.is_empty(), "{:?}", e.findings);
        let fl = e.lock.as_ref().unwrap();
        assert_eq!(fl.holders()[0].fd, Some(3));
        assert!(fl.holders()[0].verified);
    }

    /// A running daemon with no lock on its file, judged from a complete lock table: `unlocked`.
    #[test]
    fn no_lock_is_unlocked() {
        let snap = world([nginx()], &[]);
        let e = run(&snap, 500);
        assert!(!e.facts.own_lock);
        assert_eq!(e.state(), State::Running);
        assert_eq!(codes(&e), [UNLOCKED]);
        assert_eq!(e.findings[0].severity, Severity::Info);
    }

    /// From an incomplete lock table, `unlocked` is said only when the daemon's own descriptors
    /// confirm it holds no lock; a lock they show is found; unreadable ones make it
    /// `locks-unknown`. Without a table, nothing is said.
    #[test]
    fn incomplete_table_is_confirmed_from_fdinfo() {
        let garbage = "1: POSIX  ADVISORY  WRITE 12 garbage";
        let snap = world([nginx()], &[garbage]);
        assert!(!snap.locks().complete());
        assert_eq!(codes(&run(&snap, 500)), [UNLOCKED]);
        let flock = line("FLOCK", "WRITE", 500);
        let snap = world([holding(nginx(), 3, &flock)], &[garbage]);
        let e = run(&snap, 500);
        assert!(codes(&e).is_empty() && e.facts.own_lock, "{:?}", codes(&e));
        assert_eq!(e.lock.as_ref().unwrap().holders()[0].fd, Some(3));
        let snap = world([nginx().fds_unreadable(Errno::ACCESS)], &[garbage]);
        let e = run(&snap, 500);
        assert_eq!(codes(&e), [LOCKS_UNKNOWN]);
        assert_eq!(e.findings[0].severity, Severity::Unknown);
        let snap = Snapshot::builder()
            .process(nginx())
            .locks_unreadable(Errno::ACCESS)
            .build();
        let e = run(&snap, 500);
        assert!(e.findings.is_empty() && e.lock.is_none());
    }

    /// A lock held by an unrelated process while the recorded PID's descriptors show none:
    /// `lock-holder-mismatch` at error, naming the holder.
    #[test]
    fn lock_held_by_another_process() {
        let l = line("FLOCK", "WRITE", 600);
        let snap = world(
            [
                nginx().fd(3, dev(), 77),
                holding(FakeProcess::new(600, "flock"), 4, &l),
            ],
            &[&l],
        );
        let e = run(&snap, 500);
        assert!(!e.facts.own_lock);
        assert_eq!(codes(&e), [LOCK_HOLDER_MISMATCH]);
        let f = &e.findings[0];
        assert_eq!(f.severity, Severity::Error);
        assert_eq!(f.evidence["holder_pid"], 600);
        assert_eq!(f.evidence["holder_fd"], 4);
        assert_eq!(f.evidence["relation"], "unrelated");
        assert!(!f.evidence.contains_key("likely_instance"));
    }

    /// When the recorded PID's descriptors cannot be read, the mismatch is only `unknown`.
    #[test]
    fn mismatch_is_unknown_when_recorded_fds_are_unreadable() {
        let l = line("FLOCK", "WRITE", 600);
        let snap = world(
            [
                nginx().fds_unreadable(Errno::ACCESS),
                holding(FakeProcess::new(600, "flock"), 4, &l),
            ],
            &[&l],
        );
        let e = run(&snap, 500);
        assert_eq!(codes(&e), [LOCK_HOLDER_MISMATCH]);
        assert_eq!(e.findings[0].severity, Severity::Unknown);
        assert_eq!(
            e.findings[0].evidence["errno"],
            Errno::ACCESS.raw_os_error()
        );
    }

    /// A stale file whose lock a live process holds: that holder is the likely instance, and the
    /// `stale` finding carries it so the file is not removed.
    #[test]
    fn stale_file_held_by_the_likely_instance() {
        let l = line("FLOCK", "WRITE", 600);
        let snap = world([holding(FakeProcess::new(600, "nginx"), 4, &l)], &[&l]);
        let e = run(&snap, 500);
        assert_eq!(e.state(), State::Stale);
        assert_eq!(codes(&e), [liveness::STALE, LOCK_HOLDER_MISMATCH]);
        assert_eq!(e.findings[1].evidence["likely_instance"], 600);
        assert_eq!(e.findings[0].evidence["lock_holders"][0]["pid"], 600);
    }

    /// The recorded process's own lock outweighs a start time after the write: running, and
    /// `pid-reused` is withdrawn.
    #[test]
    fn own_lock_outweighs_reuse() {
        let l = line("POSIX", "WRITE", 500);
        let snap = world([nginx().started(300.0)], &[&l]);
        let e = run(&snap, 500);
        assert_eq!(
            e.facts.process,
            Some(crate::checks::ProcessFact::StartedAfterWrite)
        );
        assert!(e.facts.own_lock);
        assert_eq!(e.state(), State::Running);
        assert!(e.findings.is_empty(), "{:?}", e.findings);
    }

    /// A flock whose acquirer exited lives on in the child that inherited the descriptor (the
    /// recorded PID): `inherited-lock`, and no mismatch.
    #[test]
    fn lock_inherited_from_an_exited_acquirer() {
        let l = line("FLOCK", "WRITE", 499);
        let snap = world([holding(nginx(), 3, &l)], &[&l]);
        let e = run(&snap, 500);
        assert!(e.facts.own_lock);
        assert_eq!(codes(&e), [INHERITED_LOCK]);
        assert_eq!(e.findings[0].evidence["acquirer_pid"], 499);
        assert_eq!(e.findings[0].evidence["acquirer_alive"], false);
    }

    /// A process of another uid holding a (shared, read) lock on a running daemon's file:
    /// `lock-foreign-holder`, a read lock proving nothing.
    #[test]
    fn foreign_uid_holder() {
        let own = line("POSIX", "READ", 500);
        let other = "2: POSIX  ADVISORY  READ 700 08:01:77 0 EOF";
        let snap = world(
            [
                nginx().uid(33).fd(3, dev(), 77),
                FakeProcess::new(700, "spy").uid(1000).fd(5, dev(), 77),
            ],
            &[&own, other],
        );
        let e = run(&snap, 500);
        assert_eq!(e.state(), State::Running);
        assert_eq!(codes(&e), [LOCK_FOREIGN_HOLDER]);
        assert_eq!(e.findings[0].evidence["holder_uid"], 1000);
        assert_eq!(e.findings[0].evidence["reason"], "read_lock");
    }

    /// An exclusive flock counts as the daemon's only through a descriptor opened for writing: the
    /// same lock through a read-only one (fdinfo `flags: 0100000`) is evidence, and the recorded
    /// PID started after the write stays `reused`.
    #[test]
    fn flock_counts_only_through_a_write_descriptor() {
        let flock = line("FLOCK", "WRITE", 500);
        let young = || FakeProcess::new(500, "nginx").started(150.0);
        let rw = world([holding(young(), 3, &flock)], &[&flock]);
        let e = run(&rw, 500);
        assert_eq!(e.state(), State::Running);
        assert!(e.facts.own_lock && codes(&e).is_empty(), "{:?}", codes(&e));
        let fdinfo = format!("pos:\t0\nflags:\t0100000\nmnt_id:\t30\nino:\t77\nlock:\t{flock}\n");
        let ro = world([young().fd(3, dev(), 77).fdinfo(3, &fdinfo)], &[&flock]);
        let e = run(&ro, 500);
        assert_eq!(e.state(), State::Reused);
        assert!(!e.facts.own_lock);
        let mut got = codes(&e);
        got.sort();
        assert_eq!(got, [LOCK_FOREIGN_HOLDER, liveness::PID_REUSED]);
        let f = e
            .findings
            .iter()
            .find(|f| f.code == LOCK_FOREIGN_HOLDER)
            .unwrap();
        assert_eq!(f.evidence["reason"], "read_only_descriptor");
    }
}
