//! Instances: a daemon running twice, running untracked, or leaving workers behind.
//!
//! Runs after the per-pidfile checks, over all entries at once (a process tracked by one pidfile is
//! no orphan of another). Each pidfile is judged on its own (per-pidfile findings); processes that no
//! pidfile and no manifest entry points at are not judged.
//!
//! - **The tracked daemon.** A pidfile tracks its daemon when its state is `running` and its process
//!   is plausibly the daemon: it matches the manifest's `exe`/`cmdline` when the manifest gives them,
//!   and otherwise has no `name-mismatch`. Its *tree* is everything below the top of the run of
//!   same-daemon processes above it (see [`crate::system::identity`]): a master and all its workers
//!   (nginx, postgres, php-fpm, gunicorn), whichever of them the file names.
//! - **`duplicate-instance`.** Another process with the same identity (comm, exe, argv, uid) outside
//!   that tree. Only the top of each foreign tree is listed (its workers are part of it). Threads are
//!   never listed: `/proc` shows thread-group leaders only. Processes of the daemon's comm whose
//!   identity (or the daemon's) could not be read whole (another user's executable link,
//!   unprivileged) cannot be compared: they are named in a `not-visible` finding, so a clean result
//!   is not mistaken for a checked one.
//! - **`orphaned-instance`.** The pidfile is stale, missing, reused, a zombie, or names a process that
//!   is not the daemon, and a process that is very likely the daemon runs without any pidfile of this
//!   run tracking it (nor being below a tracked process). "Very likely" means: it matches the
//!   manifest's `exe`/`cmdline` (when given, at least one confirmed and none contradicted), or else
//!   the *orphan rule* of [`super::name`] (one of its names is exactly the pidfile's name), and its
//!   user could be the file's daemon (root, the file's owner, or for a root file a system account
//!   below uid 1000 other than nobody: a root daemon may drop to its own account). Each
//!   candidate is listed by the top of its tree: the highest ancestor running the same executable
//!   file (a master that renamed itself, with workers that kept the daemon's name, is one instance),
//!   except for interpreters, whose executable unrelated programs share.
//! - **`orphaned-worker`.** The recorded PID is dead (or a zombie) and processes remain in the
//!   session or process group it led: the kernel never reuses a PID that still names a session or a
//!   group, so those processes were forked by the recorded master and were reparented to init or a
//!   subreaper when it died. They must also look like the daemon (manifest identity, or the file's
//!   name rule when the name says anything). A worker holding a listening socket blocks the next
//!   start (`bind(): Address already in use`): the finding is then an error and names the sockets
//!   (their descriptors, read for at most 16 workers, matched with `/proc/PID/net/{tcp,tcp6,udp,udp6}`).
//!
//! A process whose command line names the audited pidfile (`-P FILE`, `--pidfile FILE`, ...) is an
//! instance of it whatever its other arguments ([`Found::Argv`]).
//!
//! How an untracked process was recognised is recorded as a [`Found`] in the evidence (`found_by`),
//! so further sources of the same fact (a process holding the pidfile's lock) slot in as new
//! variants without changing the findings.
//!
//! Cost: indexes by comm, parent and session are built once ([`crate::system::Tree`]); exe, argv and
//! uid are read only for processes whose comm could match (a tracked daemon's only when its parent
//! or an untracked process has its comm).

use super::expect::{identity_match, service_for};
use super::liveness::NOT_VISIBLE;
use super::Cx;
use super::Entry;
use crate::model::State;
use crate::model::{Code, CodeDoc, Finding, Severity};
use crate::system::identity::{self, Identity};
use crate::system::Process;
use std::collections::{HashMap, HashSet};
use std::sync::Arc;

pub const DUPLICATE_INSTANCE: Code = Code::new(&CodeDoc {
    code: "duplicate-instance",
    severity: Severity::Error,
    summary: "Another copy of the daemon (same exe, arguments and user) runs outside the tracked process's tree.",
    why: "Two copies of one daemon double every side effect: jobs run twice, messages are consumed or produced twice, files are written concurrently. The usual cause is a daemon put under a supervisor while a forgotten background copy still runs, or a start script run twice. The copy the pidfile does not track is invisible to stop scripts and survives every restart. Workers forked by the tracked process (its tree) and threads are never duplicates.",
    fix: "Look at the instances in the evidence (start time, parent, supervisor, which one the pidfile tracks). Stop the copy nobody manages (usually the one without a supervisor and not tracked), then fix what started it.",
});

pub const ORPHANED_INSTANCE: Code = Code::new(&CodeDoc {
    code: "orphaned-instance",
    severity: Severity::Error,
    summary: "The daemon runs untracked while its pidfile is stale, missing or names another process.",
    why: "A stop that failed after removing the pidfile, or a second start that overwrote it and then exited, leaves the daemon running where no stop, restart or status script can find it: restarts start a second copy, stops report success while it keeps running. The process is recognised through the manifest's exe/cmdline, or by the pidfile's name (one of its names is exactly the file's; see the README).",
    fix: "Check the process in the evidence. If it is the daemon, stop it (signal it by PID after checking), remove the stale file, and start the daemon cleanly under its init system or supervisor.",
});

pub const ORPHANED_WORKER: Code = Code::new(&CodeDoc {
    code: "orphaned-worker",
    severity: Severity::Warning,
    summary: "The recorded master is dead but workers it forked still run, reparented to init or a subreaper.",
    why: "The master was killed (SIGKILL, OOM) and its workers were not: they may still hold the listening socket, serve stale configuration, or keep files and locks, so a new master fails to start or runs beside them. They are recognised by session or process group: the kernel never reuses a PID that still names one, so members of the recorded PID's session were forked by it. A worker that holds a listening TCP socket or a bound UDP socket (its descriptors matched against its network namespace's socket tables) makes the next start fail with `bind(): Address already in use`: the finding is then an error, and the evidence lists the sockets (`listening`, address:port/protocol).",
    fix: "Stop the workers listed in the evidence (a worker holding a listening socket first: the daemon cannot start until it is gone), remove the stale pidfile, and start the daemon again.",
});

/// Every code this check emits, in catalogue order.
pub const CODES: &[Code] = &[DUPLICATE_INSTANCE, ORPHANED_INSTANCE, ORPHANED_WORKER];

/// How an untracked process was recognised as the daemon.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Found {
    /// It matches the manifest entry's `exe`/`cmdline`.
    Expectation,
    /// One of its names is exactly the pidfile's name (the orphan rule).
    Name,
    /// It holds the lock on the pidfile (confirmed in its fdinfo).
    LockHolder,
    /// Its command line names the pidfile (`-P FILE`, `--pidfile FILE`, ...).
    Argv,
}

impl Found {
    pub fn as_str(self) -> &'static str {
        match self {
            Found::Expectation => "expectation",
            Found::Name => "name",
            Found::LockHolder => "lock",
            Found::Argv => "argv",
        }
    }
}

/// What one pidfile's daemon looks like across the process table.
#[derive(Clone, Debug, Default)]
pub struct Survey {
    /// The top of the tracked daemon's tree, when the pidfile tracks the daemon.
    pub tracked: Option<i32>,
    /// Tops of other trees of the same daemon.
    pub duplicates: Vec<i32>,
    /// Tops of untracked trees that are very likely the daemon (when it is not tracked).
    pub orphans: Vec<(i32, Found)>,
    /// Survivors of a dead recorded master's session or process group.
    pub workers: Vec<i32>,
    /// Why the instances could not be counted, if they could not.
    pub uncounted: Option<&'static str>,
    /// Processes of the tracked daemon's comm, outside its tree, whose identity (or the daemon's)
    /// could not be read: whether they are duplicates is not known.
    pub unseen: Vec<i32>,
}

impl Survey {
    /// Independent instances of the daemon seen running.
    pub fn instances(&self) -> usize {
        usize::from(self.tracked.is_some()) + self.duplicates.len() + self.orphans.len()
    }
}

/// The pidfile's process, if it is plausibly the daemon.
pub fn tracked_daemon(cx: &Cx<'_>, entry: &Entry) -> Option<Arc<Process>> {
    if entry.state() != State::Running {
        return None;
    }
    let process = entry.process.clone()?;
    match service_for(cx, entry).filter(|s| s.has_identity()) {
        Some(service) => (!identity_match(cx, service, &process).contradicted()).then_some(process),
        None => (!entry
            .findings
            .iter()
            .any(|f| f.code == super::name::NAME_MISMATCH))
        .then_some(process),
    }
}

/// Whether the pidfile says the daemon should be tracked but is not.
fn orphan_eligible(entry: &Entry) -> bool {
    match entry.state() {
        State::Stale | State::Missing | State::Reused | State::Zombie | State::Running => true,
        State::Invalid => entry.pid.is_some(),
        _ => false,
    }
}

/// A tracked daemon's process, identity (when its parent has its comm) and the top of its tree.
type Tracked = (Arc<Process>, Option<Identity>, i32);

/// Surveys every entry; the result is parallel to `entries`.
pub fn survey_all(cx: &Cx<'_>, entries: &[Entry]) -> Vec<Survey> {
    let snap = cx.snapshot;
    let tree = snap.tree();
    // Identities read process details: spread over the cores.
    let tracked: Vec<Option<Tracked>> = crate::util::parallel::map(entries, |e| {
        tracked_daemon(cx, e).map(|p| {
            // Identities (exe, cmdline, status) are compared only with processes of the same
            // comm: a process whose parent has another comm is the top of its tree, and one whose
            // comm no other process has has no duplicate. Its identity is read here only when the
            // parent's comm is the same, else below when an untracked process shares its comm.
            let parent_same = snap
                .get(p.stat.ppid)
                .is_some_and(|pp| p.stat.ppid > 1 && pp.stat.comm == p.stat.comm);
            let ident = parent_same.then(|| Identity::of(snap, &p));
            let root = ident
                .as_ref()
                .map_or(p.pid(), |i| identity::root_of(snap, &p, i));
            (p, ident, root)
        })
    });
    let mut tracked_set: HashSet<i32> = HashSet::new();
    for (_, _, root) in tracked.iter().flatten() {
        if !tracked_set.contains(root) {
            tracked_set.extend(tree.subtree(*root));
        }
    }
    // The other running PIDs a tracking file lists (one per process of a multi-process daemon)
    // are tracked by it too.
    for (e, _) in entries.iter().zip(&tracked).filter(|(_, t)| t.is_some()) {
        for l in e
            .listed
            .iter()
            .filter(|l| l.verdict == super::PidVerdict::Running)
        {
            let pid = l.pid as i32;
            if !tracked_set.contains(&pid) {
                tracked_set.extend(tree.subtree(pid));
            }
        }
    }
    // Processes the machine's other pidfiles track (when only some are audited): a live process
    // that could have written its file (not younger than it, and the file root's or its user's:
    // any user can write a file naming any PID where users may create files).
    for &(pid, mtime, owner) in &cx.elsewhere {
        if tracked_set.contains(&pid) {
            continue;
        }
        let Some(p) = snap.get(pid).filter(|p| !p.stat.is_zombie()) else {
            continue;
        };
        let owned = owner == 0 || snap.details(p).uid() == Some(owner);
        let writer = owned
            && snap
                .start_time(&p.stat)
                .is_some_and(|s| s <= mtime + super::liveness::REUSE_TOLERANCE_SECS);
        if writer {
            tracked_set.extend(tree.subtree(pid));
        }
    }
    // Processes of each comm that no audited pidfile tracks, computed once per comm: another
    // pidfile's daemon (a multi-instance service, one pidfile per instance) is never a duplicate.
    let mut untracked: HashMap<String, Vec<i32>> = HashMap::new();
    for (p, _, _) in tracked.iter().flatten() {
        let comm = &p.stat.comm;
        untracked.entry(comm.clone()).or_insert_with(|| {
            tree.with_comm(comm)
                .iter()
                .copied()
                .filter(|pid| !tracked_set.contains(pid))
                .collect()
        });
    }
    let index = std::sync::OnceLock::new();
    let pairs: Vec<(&Entry, &Option<Tracked>)> = entries.iter().zip(&tracked).collect();
    crate::util::parallel::map(&pairs, |&(entry, t)| {
        let mut s = Survey::default();
        if snap.proc_error.is_some() {
            s.uncounted = Some("/proc could not be read");
            return s;
        }
        if let Some((p, ident, root)) = t {
            s.tracked = Some(*root);
            let candidates = untracked
                .get(&p.stat.comm)
                .map(Vec::as_slice)
                .unwrap_or(&[]);
            if !candidates.is_empty() {
                let ident = ident.clone().unwrap_or_else(|| Identity::of(snap, p));
                (s.duplicates, s.unseen) = duplicates(cx, &ident, *root, candidates, entry);
            }
        } else if orphan_eligible(entry) {
            s.workers = workers(cx, entry);
            // A holder of the pidfile's lock is the daemon itself, not a leftover worker.
            let holders: Vec<i32> = super::locks::proving_holders(cx, entry)
                .iter()
                .map(|h| h.pid())
                .collect();
            s.workers.retain(|w| !holders.contains(w));
            let index = index.get_or_init(|| CommIndex::build(cx, &tracked_set));
            let (orphans, uncounted) = orphans(cx, entry, &tracked_set, index, &s.workers);
            s.orphans = orphans;
            s.uncounted = uncounted;
        }
        s
    })
}

/// Tops of same-daemon trees outside the tracked tree, and the candidates that could not be
/// compared (sorted).
fn duplicates(
    cx: &Cx<'_>,
    ident: &Identity,
    root: i32,
    candidates: &[i32],
    entry: &Entry,
) -> (Vec<i32>, Vec<i32>) {
    let snap = cx.snapshot;
    if candidates.is_empty() {
        return (Vec::new(), Vec::new());
    }
    let own = snap.tree().subtree(root);
    // The same daemon, or a copy started with other arguments but this very pidfile (a second
    // start with another port overwrote the file: the first copy runs untracked).
    let mut same: HashSet<i32> = HashSet::new();
    let mut unseen: Vec<i32> = Vec::new();
    for &pid in candidates.iter().filter(|pid| !own.contains(pid)) {
        match identity::compare(snap, pid, ident) {
            Some(true) => {
                same.insert(pid);
            }
            _ if names_pidfile(cx, pid, entry) => {
                same.insert(pid);
            }
            Some(false) => {}
            None => unseen.push(pid),
        }
    }
    unseen.sort_unstable();
    let mut out: Vec<i32> = same
        .iter()
        .copied()
        .filter(|pid| snap.get(*pid).is_some_and(|p| !same.contains(&p.stat.ppid)))
        .collect();
    out.sort_unstable();
    (out, unseen)
}

/// Whether a process's command line names the pidfile.
/// Whether a process's command line names the entry's pidfile, and its user could have written it
/// (root, or the file's owner): anyone can start a process whose arguments name any path.
fn names_pidfile(cx: &Cx<'_>, pid: i32, entry: &Entry) -> bool {
    let Some(p) = cx.snapshot.get(pid) else {
        return false;
    };
    let d = cx.snapshot.details(p);
    let writer = match (d.uid(), entry.facts().map(|f| f.uid)) {
        (Some(0), _) => true,
        (Some(uid), Some(owner)) => uid == owner,
        _ => false,
    };
    writer
        && d.cmdline
            .is_some_and(|argv| identity::argv_names_pidfile(argv, &entry.path))
}

/// The first uid of regular (login) users; below it are root and the system accounts daemons run
/// as.
const FIRST_USER_UID: u32 = 1000;
/// The unprivileged user `nobody`.
const NOBODY_UID: u32 = 65534;

/// Whether a process's user could be the daemon of the entry's file: root, the file's owner, or a
/// system account (a root daemon may drop to its own account after writing its file). A regular
/// user's or nobody's process named like the daemon is no orphan of another user's pidfile, as a
/// copy under another uid is no duplicate ([`Identity::same_daemon`] compares uids). Unknown
/// (unreadable) is not a daemon user.
fn daemon_user(cx: &Cx<'_>, p: &Process, entry: &Entry) -> bool {
    let uid = cx.snapshot.details(p).uid();
    match (uid, entry.facts().map(|f| f.uid)) {
        (Some(0), _) => true,
        (Some(uid), Some(owner)) if uid == owner => true,
        (Some(uid), Some(0)) => uid < FIRST_USER_UID && uid != NOBODY_UID,
        _ => false,
    }
}

/// Whether a process could be a daemon instance at all.
fn plausible(cx: &Cx<'_>, p: &Process) -> bool {
    p.pid() > 1
        && p.pid() != cx.snapshot.self_pid
        && !cx.snapshot.is_dead(p)
        && !p.stat.is_kernel_thread()
}

/// Survivors of the dead recorded master's session or process group that look like the daemon.
fn workers(cx: &Cx<'_>, entry: &Entry) -> Vec<i32> {
    if !matches!(entry.state(), State::Stale | State::Zombie) {
        return Vec::new();
    }
    let Some(master) = entry.pid.map(|p| p as i32) else {
        return Vec::new();
    };
    let snap = cx.snapshot;
    let service = service_for(cx, entry).filter(|s| s.has_identity());
    snap.tree()
        .in_session_or_group(master)
        .iter()
        .copied()
        .filter(|&pid| pid != master)
        .filter(|&pid| {
            let Some(p) = snap.get(pid) else { return false };
            if !plausible(cx, p) {
                return false;
            }
            match service {
                Some(s) => identity_match(cx, s, p).confirmed(),
                None => {
                    let d = snap.details(p);
                    let t = super::name::process_tokens(&p.stat.comm, d.exe, d.cmdline);
                    super::name::names_match(&entry.path, &p.stat.comm, &t) != Some(false)
                }
            }
        })
        .collect()
}

/// The processes an orphan could be, by comm, built once per run: each comm's name tokens and its
/// plausible processes that no audited pidfile tracks. A pidfile's candidates are then found by its
/// name tokens (one hash lookup each), not by tokenizing every comm for every pidfile.
struct CommIndex {
    comms: Vec<CommCandidates>,
    /// Indexes into `comms` by name token.
    by_token: HashMap<String, Vec<usize>>,
    /// By the comm itself (a manifest's executable names it).
    by_comm: HashMap<String, usize>,
    /// Comms that could be any daemon: truncated ones (15 bytes, the kernel's limit) and
    /// interpreters.
    always: Vec<usize>,
}

struct CommCandidates {
    comm: String,
    /// Sorted by PID.
    pids: Vec<i32>,
}

impl CommIndex {
    fn build(cx: &Cx<'_>, tracked_set: &HashSet<i32>) -> CommIndex {
        let snap = cx.snapshot;
        let mut ix = CommIndex {
            comms: Vec::new(),
            by_token: HashMap::new(),
            by_comm: HashMap::new(),
            always: Vec::new(),
        };
        let mut comms: Vec<(&str, &[i32])> = snap.tree().comms().collect();
        comms.sort_unstable_by_key(|(c, _)| *c);
        for (comm, pids) in comms {
            let pids: Vec<i32> = pids
                .iter()
                .copied()
                .filter(|pid| !tracked_set.contains(pid))
                .filter(|pid| snap.get(*pid).is_some_and(|p| plausible(cx, p)))
                .collect();
            if pids.is_empty() {
                continue;
            }
            let i = ix.comms.len();
            let (tokens, always) = super::name::comm_tokens(comm);
            if always {
                ix.always.push(i);
            } else {
                for t in tokens {
                    ix.by_token.entry(t).or_default().push(i);
                }
            }
            ix.by_comm.insert(comm.to_string(), i);
            ix.comms.push(CommCandidates {
                comm: comm.to_string(),
                pids,
            });
        }
        ix
    }

    /// The comms that could be the daemon named by `name` tokens (or whose comm is `exe_comm`), in
    /// comm order.
    fn candidates(&self, name: &[String], exe_comm: Option<&str>) -> Vec<&CommCandidates> {
        let mut idx: Vec<usize> = self.always.clone();
        for t in name {
            idx.extend(self.by_token.get(t).into_iter().flatten());
        }
        idx.extend(exe_comm.and_then(|c| self.by_comm.get(c)));
        idx.sort_unstable();
        idx.dedup();
        idx.into_iter().map(|i| &self.comms[i]).collect()
    }
}

/// Untracked processes that are very likely the daemon, and why none could be looked for.
fn orphans(
    cx: &Cx<'_>,
    entry: &Entry,
    tracked_set: &HashSet<i32>,
    index: &CommIndex,
    workers: &[i32],
) -> (Vec<(i32, Found)>, Option<&'static str>) {
    let snap = cx.snapshot;
    let service = service_for(cx, entry).filter(|s| s.has_identity());
    let mut name = super::name::name_tokens(&entry.path);
    // Only a lock the daemon could have taken names an instance (see `locks::proof`).
    // The daemon, not the wrapper that started it and shares its lock (`flock FILE daemon`).
    let mut lock_holders = super::locks::proving_holders(cx, entry);
    if lock_holders
        .iter()
        .any(|h| !identity::is_wrapper(&h.process.stat.comm))
    {
        lock_holders.retain(|h| !identity::is_wrapper(&h.process.stat.comm));
    }
    let has_holder = !lock_holders.is_empty();
    if service.is_none() && name.is_empty() && !has_holder {
        return (
            Vec::new(),
            Some("the manifest gives no exe or cmdline and the pidfile's name names no process"),
        );
    }
    let exe_comm: Option<String> = service
        .and_then(|s| s.exe.as_ref())
        .and_then(|e| e.file_name())
        .map(|n| {
            let n = n.to_string_lossy();
            n.chars()
                .scan(0, |len, c| {
                    *len += c.len_utf8();
                    (*len <= 15).then_some(c)
                })
                .collect()
        });
    if let Some(s) = service {
        let mut extra = Vec::new();
        super::name::tokens_of(&s.name, &mut extra);
        name.extend(extra);
    }
    let recorded = entry.pid.map(|p| p as i32);
    let mut found: Vec<(i32, Found)> = Vec::new();
    // A verified holder of the pidfile's lock is the strongest witness of the real instance.
    for holder in lock_holders {
        let pid = holder.pid();
        if holder.verified
            && Some(pid) != recorded
            && !tracked_set.contains(&pid)
            && !workers.contains(&pid)
            && !found.iter().any(|(p, _)| *p == pid)
        {
            found.push((pid, Found::LockHolder));
        }
    }
    let path_tokens = super::name::name_tokens(&entry.path);
    for c in index.candidates(&name, exe_comm.as_deref()) {
        let comm = c.comm.as_str();
        for &pid in &c.pids {
            if workers.contains(&pid) || Some(pid) == recorded {
                // The process the file names is judged by the other checks, not found as an orphan.
                continue;
            }
            let Some(p) = snap.get(pid) else { continue };
            let how = if names_pidfile(cx, pid, entry) {
                Some(Found::Argv)
            } else {
                match service {
                    Some(s) => identity_match(cx, s, p)
                        .confirmed()
                        .then_some(Found::Expectation),
                    None => {
                        let d = snap.details(p);
                        super::name::strictly_named(&path_tokens, comm, d.exe, d.cmdline)
                            .then_some(Found::Name)
                    }
                }
            };
            // By name or by the manifest, only a process whose user could be the file's daemon.
            let how = how.filter(|h| *h == Found::Argv || daemon_user(cx, p, entry));
            if let Some(how) = how {
                if !found.iter().any(|(p, _)| *p == pid) {
                    found.push((pid, how));
                }
            }
        }
    }
    // One instance per tree: a candidate's workers, and a master that renamed itself but runs the
    // same executable as the candidates below it, make one instance, listed by its top.
    let set: HashSet<i32> = found.iter().map(|(p, _)| *p).collect();
    let mut tops: Vec<(i32, Found)> = Vec::new();
    for (pid, how) in found {
        let top = same_exe_top(cx, pid, tracked_set);
        let parent_found = snap.get(top).is_some_and(|p| set.contains(&p.stat.ppid));
        if !parent_found && !tops.iter().any(|(t, _)| *t == top) {
            tops.push((top, how));
        }
    }
    tops.sort_unstable_by_key(|(p, _)| *p);
    (tops, None)
}

/// The top of the run of ancestors of `pid` that run the same executable file.
fn same_exe_top(cx: &Cx<'_>, pid: i32, tracked_set: &HashSet<i32>) -> i32 {
    let snap = cx.snapshot;
    let exe_of = |p: &Process| snap.details(p).exe_id;
    let Some(mut cur) = snap.get(pid) else {
        return pid;
    };
    let Some(exe) = exe_of(cur) else { return pid };
    // Unrelated programs share an interpreter's executable: no climbing there.
    let d = snap.details(cur);
    if super::name::is_interpreter(&cur.stat.comm, d.exe) {
        return pid;
    }
    for _ in 0..64 {
        match snap.get(cur.stat.ppid) {
            Some(parent)
                if plausible(cx, parent)
                    && !tracked_set.contains(&parent.pid())
                    && exe_of(parent) == Some(exe) =>
            {
                cur = parent;
            }
            _ => break,
        }
    }
    cur.pid()
}

/// Reports duplicates, orphans and orphaned workers.
pub fn check(cx: &Cx<'_>, entries: &mut [Entry], surveys: &[Survey]) {
    let snap = cx.snapshot;
    for (entry, s) in entries.iter_mut().zip(surveys) {
        let subject = entry.subject();
        let service = service_for(cx, entry);
        let expected = service.map(|s| s.instances as usize).unwrap_or(1);
        if let Some(root) = s.tracked {
            if !s.duplicates.is_empty() && expected == 1 {
                let p = snap.get(root).cloned();
                let ident = p.as_ref().map(|p| Identity::of(snap, p));
                let mut instances = vec![identity::describe(snap, root, true)];
                instances.extend(
                    s.duplicates
                        .iter()
                        .take(MAX_LISTED)
                        .map(|d| identity::describe(snap, *d, false)),
                );
                entry.findings.push(
                    Finding::new(
                        DUPLICATE_INSTANCE,
                        &subject,
                        format!(
                            "{} also runs as {} outside the tracked PID {root}'s tree",
                            p.as_ref()
                                .map(|p| identity::display_name(snap, p))
                                .as_deref()
                                .unwrap_or("the daemon"),
                            pid_list(&s.duplicates)
                        ),
                    )
                    .with("tracked_pid", entry.pid)
                    .with("tree_root", root)
                    .with("duplicates", s.duplicates.clone())
                    .with(
                        "found_by",
                        s.duplicates
                            .iter()
                            .map(|d| match &ident {
                                Some(i) if identity::is_same(snap, *d, i) => "identity",
                                _ => Found::Argv.as_str(),
                            })
                            .collect::<Vec<_>>(),
                    )
                    .with(
                        "exe",
                        ident
                            .as_ref()
                            .and_then(|i| i.exe.as_ref().map(|e| e.display().to_string())),
                    )
                    .with("cmdline", ident.as_ref().and_then(|i| i.argv.clone()))
                    .with("uid", ident.as_ref().and_then(|i| i.uid))
                    .with("instances", instances),
                );
            }
        }
        if !s.unseen.is_empty() {
            let comm = entry
                .process
                .as_ref()
                .map_or(String::new(), |p| p.stat.comm.clone());
            entry.findings.push(
                Finding::new(
                    NOT_VISIBLE,
                    &subject,
                    format!(
                        "the executable, arguments or user of {} ({} other process{} named {comm}) could not be read: duplicate-instance is incomplete",
                        pid_list(&s.unseen),
                        s.unseen.len(),
                        if s.unseen.len() == 1 { "" } else { "es" },
                    ),
                )
                .with("incomplete", "duplicate-instance")
                .with("reason", "identity_unreadable")
                .with("pids", s.unseen.clone())
                .with("comm", comm),
            );
        }
        if !s.orphans.is_empty() {
            let pids: Vec<i32> = s.orphans.iter().map(|(p, _)| *p).collect();
            let first = snap.get(pids[0]).map(|p| identity::display_name(snap, p));
            let why = match (entry.state(), entry.pid, &entry.process) {
                (State::Missing, _, _) => "the pidfile is missing".to_string(),
                (State::Stale, Some(pid), _) => format!("the recorded PID {pid} is gone"),
                (State::Zombie, Some(pid), _) => format!("the recorded PID {pid} is a zombie"),
                (_, Some(pid), Some(p)) => {
                    format!("the file names PID {pid} ({}), not the daemon", p.stat.comm)
                }
                (_, Some(pid), None) => format!("the file names PID {pid}, not the daemon"),
                _ => "the file names no daemon".to_string(),
            };
            let listed: Vec<serde_json::Value> = s
                .orphans
                .iter()
                .take(MAX_LISTED)
                .map(|(pid, how)| {
                    let mut v = identity::describe(snap, *pid, false);
                    v["found_by"] = how.as_str().into();
                    v
                })
                .collect();
            entry.findings.push(
                Finding::new(
                    ORPHANED_INSTANCE,
                    &subject,
                    format!(
                        "{why}, but {} runs untracked as {}",
                        first.as_deref().unwrap_or("the daemon"),
                        pid_list(&pids)
                    ),
                )
                .with("recorded_pid", entry.pid)
                .with("state", entry.state().as_str())
                .with("orphans", pids.clone())
                .with("found_by", s.orphans[0].1.as_str())
                .with("instances", listed),
            );
        }
        if !s.workers.is_empty() {
            let master = entry.pid.unwrap_or_default();
            let sockets = worker_sockets(cx, &s.workers);
            let listed: Vec<serde_json::Value> = s
                .workers
                .iter()
                .take(MAX_LISTED)
                .map(|w| {
                    let mut v = identity::describe(snap, *w, false);
                    if let Some((_, l)) = sockets.held.iter().find(|(p, _)| p == w) {
                        v["listening"] = l.iter().map(|l| l.describe()).collect();
                    }
                    v
                })
                .collect();
            let all = sockets.all();
            let mut message = format!(
                "the recorded master PID {master} is gone, but {} it forked still run{}",
                pid_list(&s.workers),
                if s.workers.len() == 1 { "s" } else { "" }
            );
            if !all.is_empty() {
                message.push_str(&format!(
                    ", listening on {}: a new master cannot bind {}",
                    all.join(", "),
                    if all.len() == 1 { "it" } else { "them" }
                ));
            }
            let mut f = Finding::new(ORPHANED_WORKER, &subject, message)
                .with("master_pid", master)
                .with("workers", s.workers.clone())
                .with("listening", all.clone())
                .with("instances", listed);
            if !all.is_empty() {
                f = f.severity(Severity::Error);
            }
            if !sockets.unknown.is_empty() {
                f = f.with("sockets_unknown", sockets.unknown.clone());
            }
            entry.findings.push(f);
        }
    }
}

/// The listening sockets of orphaned workers.
#[derive(Default)]
struct WorkerSockets {
    /// Workers holding a listening socket, with the sockets.
    held: Vec<(i32, Vec<crate::system::net::Listener>)>,
    /// Workers whose sockets could not be read (another user's process, unprivileged).
    unknown: Vec<i32>,
}

impl WorkerSockets {
    /// Every socket held, described once each, in order.
    fn all(&self) -> Vec<String> {
        let mut out: Vec<String> = Vec::new();
        for l in self.held.iter().flat_map(|(_, l)| l) {
            let d = l.describe();
            if !out.contains(&d) {
                out.push(d);
            }
        }
        out
    }
}

/// The listening sockets of at most [`MAX_LISTED`] orphaned workers (read only for them: their
/// descriptors and their network namespace's socket tables).
fn worker_sockets(cx: &Cx<'_>, workers: &[i32]) -> WorkerSockets {
    let snap = cx.snapshot;
    let mut out = WorkerSockets::default();
    let mut tables = crate::system::net::Tables::default();
    for &w in workers.iter().take(MAX_LISTED) {
        let Some(p) = snap.get(w) else { continue };
        match crate::system::net::listening(snap, p, &mut tables) {
            Ok(l) if l.is_empty() => {}
            Ok(l) => out.held.push((w, l)),
            // Exited meanwhile: it holds nothing.
            Err(rustix::io::Errno::SRCH | rustix::io::Errno::NOENT) => {}
            Err(_) => out.unknown.push(w),
        }
    }
    out
}

/// How many PIDs a message names, and how many instances evidence describes, before it says how
/// many more there are.
const MAX_LISTED: usize = 16;

/// `PID 12`, `PIDs 12, 34`, or `PIDs 12, 34, ... and 40 more`.
pub fn pid_list(pids: &[i32]) -> String {
    let list: Vec<String> = pids
        .iter()
        .take(MAX_LISTED)
        .map(|p| p.to_string())
        .collect();
    let more = pids.len().saturating_sub(MAX_LISTED);
    match (pids.len(), more) {
        (1, _) => format!("PID {}", list[0]),
        (_, 0) => format!("PIDs {}", list.join(", ")),
        _ => format!("PIDs {} and {more} more", list.join(", ")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::checks::liveness::STALE;
    use crate::checks::testing::{codes, config, cx, file, judge, pidfile};
    use crate::system::fake::FakeProcess;
    use crate::system::Snapshot;

    /// An nginx master: same executable, arguments and uid for every PID.
    fn nginx(pid: i32) -> FakeProcess {
        FakeProcess::new(pid, "nginx")
            .started(50.0)
            .exe("/usr/sbin/nginx")
            .exe_id(2049, 1000)
            .cmdline(&["nginx: master process /usr/sbin/nginx"])
            .uid(0)
    }

    /// Every check on `/run/nginx.pid` holding `pid` (written 100 s after boot).
    fn run(snap: &Snapshot, pid: i32) -> Entry {
        let config = config();
        let mut entries = [pidfile("/run/nginx.pid", &format!("{pid}\n"), file(7, 100))];
        judge(&cx(snap, &config), &mut entries);
        let [e] = entries;
        e
    }

    /// A second copy of the daemon outside the tracked process's tree is a duplicate instance.
    #[test]
    fn copy_outside_the_tree_is_a_duplicate() {
        let snap = Snapshot::builder()
            .process(nginx(500))
            .process(nginx(900))
            .build();
        let e = run(&snap, 500);
        assert_eq!(e.state(), State::Running);
        assert_eq!(codes(&e), [DUPLICATE_INSTANCE]);
        let f = &e.findings[0];
        assert_eq!(f.evidence["duplicates"], serde_json::json!([900]));
        assert_eq!(f.evidence["tree_root"], 500);
    }

    /// A master's workers, however alike, are its tree and not duplicates, whichever PID the file
    /// names; a same-named process of another user is another daemon.
    #[test]
    fn master_with_workers_is_one_instance() {
        let snap = Snapshot::builder()
            .process(nginx(500))
            .process(nginx(501).ppid(500).session(500))
            .process(nginx(502).ppid(500).session(500))
            .process(nginx(900).uid(33))
            .build();
        for pid in [500, 501] {
            let e = run(&snap, pid);
            assert_eq!(e.state(), State::Running, "PID {pid}");
            assert!(e.findings.is_empty(), "PID {pid}: {:?}", e.findings);
        }
    }

    /// A dead master leaves the workers of its session running: `orphaned-worker` lists them, and
    /// they are not counted as orphaned instances.
    #[test]
    fn workers_of_a_dead_master_are_orphaned() {
        let snap = Snapshot::builder()
            .process(nginx(501).session(500))
            .process(nginx(502).session(500))
            .build();
        let e = run(&snap, 500);
        assert_eq!(e.state(), State::Stale);
        assert_eq!(codes(&e), [STALE, ORPHANED_WORKER]);
        assert_eq!(
            e.findings[1].evidence["workers"],
            serde_json::json!([501, 502])
        );
    }

    /// The daemon running untracked while its pidfile is stale is an orphaned instance, found by
    /// the file's name.
    #[test]
    fn untracked_daemon_of_a_stale_file_is_orphaned() {
        let snap = Snapshot::builder().process(nginx(900)).build();
        let e = run(&snap, 500);
        assert_eq!(codes(&e), [STALE, ORPHANED_INSTANCE]);
        assert_eq!(e.findings[1].evidence["orphans"], serde_json::json!([900]));
        assert_eq!(e.findings[1].evidence["found_by"], Found::Name.as_str());
    }
}
