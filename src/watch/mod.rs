//! `pidaudit watch`: a full audit, then the model kept current from what the kernel reports, and
//! one event per change.
//!
//! One thread waits in one epoll set on: a signalfd (SIGTERM, SIGINT: stop), an inotify descriptor
//! with a watch on every directory the audit walked (and every directory holding a pidfile named
//! on the command line), and a pidfd per tracked daemon (a live process a pidfile names). Nothing
//! polls: the only timer is the `--interval`, the backstop for what no event reports (a second
//! copy started by hand, a PID reused): its check ([`backstop`]) looks at what can have changed
//! unreported (processes started, the lock table, the unit files) and audits everything again
//! only then.
//!
//! On an event the pidfiles it concerns are judged again ([`crate::audit::judge_some`]: the
//! pipeline of a scan on those entries, against a fresh process table, told by the [`Model`] what
//! the others record), and the model's part about them compared with the result
//! ([`event::diff`]) and patched. Whatever a partial audit cannot judge as the whole one would (a
//! directory changed, an overflow, a named PATH, a supervise directory, a manifest) is judged by
//! the whole audit ([`crate::audit::judge`]), as is everything at an interval whose check asks for
//! it and, [`REFRESH`]
//! after a partial change, for the observer's textfile and `/metrics`. Events
//! that arrive together are judged once: the loop waits [`COALESCE`] after the first, and never
//! judges again sooner than the last judgement took (so a storm of changes costs at most about
//! half a core, and the model converges to the last state). inotify events whose name cannot be a
//! pidfile (`*.pid`, `supervise/pid`, a directory, or a pidfile already audited) are read and
//! dropped, so a busy `/run` costs nothing. An inotify queue overflow is reported and audited
//! again like any other change.
//!
//! Bounded: at most [`kernel::MAX_WATCHES`] directories are watched and [`kernel::MAX_PIDFDS`]
//! daemons tracked; what could not be (the caps, `fs.inotify.max_user_watches`, the descriptor
//! limit) is reported as an `unwatched` event and left to the interval. Memory is that of one
//! audit and its model: events are never queued beyond one judgement.
//!
//! Read-only like scan: the loop never writes (the textfile is the caller's), never locks and never
//! signals; pidfds are only waited on.

pub mod backstop;
pub mod event;
pub mod http;
pub mod kernel;

use crate::audit::{self, Audit};
use crate::config::Config;
use backstop::Backstop;
pub use event::{Event, Kind, Model};
use kernel::{Failures, Pidfds, Watches, PIDFD_TOKEN};
use nix::sys::signal::{SigSet, Signal};
use nix::sys::signalfd::{SfdFlags, SignalFd};
use rustix::event::epoll;
use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::ffi::OsStr;
use std::os::fd::OwnedFd;
use std::path::PathBuf;
use std::time::{Duration, Instant};

/// How long the loop waits after the first event of a burst before it judges.
pub const COALESCE: Duration = Duration::from_millis(5);

/// How long after a change judged by a partial audit at the soonest the whole audit follows (for
/// the observer's textfile and `/metrics`), and at least four times what the last whole audit took.
pub const REFRESH: Duration = Duration::from_secs(1);

/// Above this many changed pidfiles at once, the whole audit is judged instead of a partial one.
pub const MAX_PARTIAL: usize = 256;

/// The default interval of the backstop's check.
pub const DEFAULT_INTERVAL: Duration = Duration::from_secs(60);

const SIGNAL_TOKEN: u64 = 0;
const INOTIFY_TOKEN: u64 = 1;

/// What the loop has done, for the metrics.
#[derive(Clone, Debug, Default)]
pub struct Stats {
    /// Events emitted, by kind.
    pub events: BTreeMap<&'static str, u64>,
    /// Full audits judged (the first one included).
    pub audits: u64,
    /// Intervals whose check found nothing the events had not reported (no whole audit ran).
    pub quiet_intervals: u64,
    /// Intervals whose check asked for the whole audit.
    pub audited_intervals: u64,
    pub watched_directories: usize,
    pub tracked_daemons: usize,
    pub unwatched_directories: usize,
    pub untracked_daemons: usize,
    /// How long the last audit took (whole or partial).
    pub last_audit: Duration,
    /// How long the last whole audit took.
    pub last_full: Duration,
}

/// Receives what the loop produces, in order.
pub trait Observer {
    /// One event, as it happens.
    fn event(&mut self, e: &Event) -> std::io::Result<()>;
    /// After each audit, before its events: the audit now current, whether it is news (its model
    /// differs from the previous one, or it is the interval's audit), and the counters.
    /// It takes the audit, so that a report built from it moves what it needs out of it.
    fn audited(&mut self, audit: Audit, changed: bool, stats: &Stats) -> std::io::Result<()>;
    /// At an interval whose check found nothing to audit again: the audit last given is current
    /// as of `at`.
    fn confirmed(&mut self, at: std::time::SystemTime, stats: &Stats) -> std::io::Result<()> {
        let _ = (at, stats);
        Ok(())
    }
    /// Whether it uses the audits (a textfile, `/metrics`): a change judged by a partial audit is
    /// then followed, [`REFRESH`] later, by a whole audit for it.
    fn wants_audits(&self) -> bool {
        true
    }
}

/// Why the watch could not start or go on.
#[derive(Debug)]
pub struct WatchError(pub String);

impl std::fmt::Display for WatchError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for WatchError {}

fn failed(what: &str) -> impl Fn(rustix::io::Errno) -> WatchError + '_ {
    move |e| WatchError(format!("{what}: {e}"))
}

/// The kernel objects of a watch, made before anything else runs.
pub struct Watch {
    epoll: OwnedFd,
    signals: SignalFd,
    watches: Watches,
    pidfds: Pidfds,
    interval: Duration,
}

impl Watch {
    /// Blocks SIGTERM and SIGINT in this thread (threads started later inherit the mask, so the
    /// signals wait for the signalfd) and makes the epoll set. Call before starting any thread.
    pub fn new(interval: Duration) -> Result<Watch, WatchError> {
        limit_arenas();
        let mut mask = SigSet::empty();
        mask.add(Signal::SIGTERM);
        mask.add(Signal::SIGINT);
        mask.thread_block()
            .map_err(|e| WatchError(format!("block signals: {e}")))?;
        let signals = SignalFd::with_flags(&mask, SfdFlags::SFD_NONBLOCK | SfdFlags::SFD_CLOEXEC)
            .map_err(|e| WatchError(format!("signalfd: {e}")))?;
        let epoll = epoll::create(epoll::CreateFlags::CLOEXEC).map_err(failed("epoll"))?;
        let watches = Watches::new().map_err(failed("inotify"))?;
        epoll::add(
            &epoll,
            &signals,
            epoll::EventData::new_u64(SIGNAL_TOKEN),
            epoll::EventFlags::IN,
        )
        .map_err(failed("epoll"))?;
        epoll::add(
            &epoll,
            &watches.fd,
            epoll::EventData::new_u64(INOTIFY_TOKEN),
            epoll::EventFlags::IN,
        )
        .map_err(failed("epoll"))?;
        Ok(Watch {
            epoll,
            signals,
            watches,
            pidfds: Pidfds::default(),
            interval,
        })
    }

    /// Runs until SIGTERM or SIGINT (`Ok`), or until the observer fails (its error).
    pub fn run(mut self, config: &Config, obs: &mut dyn Observer) -> std::io::Result<()> {
        let mut stats = Stats::default();
        let mut loop_state = LoopState::default();
        let mut backstop = Backstop::new(&config.proc_root, self.interval);
        // The first audit: its findings, then `watching`.
        backstop.before_audit();
        let audit = self.judge(config, &mut stats);
        backstop.after_audit(&audit);
        let model = Model::of(&audit);
        let mut batch = event::diff(&Model::default(), &model, true);
        let again = self.reconcile(&audit, &mut loop_state, &mut stats, &mut batch);
        batch.push(Event::new(
            Kind::Watching,
            format!(
                "{} pidfiles, {} directories watched, {} daemons tracked, interval check every {}",
                model.len(),
                stats.watched_directories,
                stats.tracked_daemons,
                humantime::format_duration(self.interval)
            ),
        ));
        // The observer takes the audit (the report it builds moves out of it): only the model is
        // kept between audits, one audit in memory at a time.
        deliver(obs, &mut stats, batch, Some((audit, true)))?;
        trim_heap();
        let mut current = model;
        // What the next judgement must look at: the pidfiles at these paths (a partial audit), or
        // everything (`full`).
        let mut affected: BTreeSet<PathBuf> = BTreeSet::new();
        let mut full = again;
        let mut refresh_at: Option<Instant> = None;
        let mut overflow = false;
        let mut next_full = Instant::now() + self.interval;
        let mut not_before = Instant::now();
        let mut events: Vec<epoll::Event> = Vec::with_capacity(64);
        let mut buf = vec![std::mem::MaybeUninit::<u8>::uninit(); 64 * 1024];
        loop {
            let now = Instant::now();
            let pending = full || !affected.is_empty();
            let mut deadline = if pending {
                not_before.max(now).min(next_full)
            } else {
                next_full
            };
            if let Some(r) = refresh_at {
                deadline = deadline.min(r);
            }
            let wait = deadline.saturating_duration_since(now);
            let timeout = rustix::fs::Timespec {
                tv_sec: wait.as_secs() as i64,
                tv_nsec: i64::from(wait.subsec_nanos()),
            };
            events.clear();
            match epoll::wait(
                &self.epoll,
                rustix::buffer::spare_capacity(&mut events),
                Some(&timeout),
            ) {
                Ok(_) | Err(rustix::io::Errno::INTR) => {}
                Err(e) => return Err(e.into()),
            }
            let mut woken = false;
            let mut exits = Vec::new();
            for ev in events.iter() {
                let token = ev.data.u64();
                if token == SIGNAL_TOKEN {
                    if let Ok(Some(info)) = self.signals.read_signal() {
                        let name = Signal::try_from(info.ssi_signo as i32)
                            .map(|s| s.as_str())
                            .unwrap_or("a signal");
                        let stopped = Event::new(Kind::Stopped, format!("{name} received"));
                        return deliver(obs, &mut stats, vec![stopped], None);
                    }
                } else if token == INOTIFY_TOKEN {
                    let (relevant, lost) =
                        self.drain_inotify(&mut buf, &current, &mut |path: Option<PathBuf>| {
                            match path.filter(|p| partial_path(config, &loop_state, p)) {
                                Some(p) => {
                                    affected.insert(p);
                                }
                                None => full = true,
                            }
                        });
                    overflow |= lost;
                    full |= lost;
                    woken |= relevant || lost;
                } else if token & PIDFD_TOKEN != 0 {
                    let pid = (token & 0xffff_ffff) as u32;
                    self.exited(pid, &current, &mut exits);
                    self.affect(config, &loop_state, &current, pid, &mut affected, &mut full);
                    woken = true;
                }
            }
            // An exit is news at once, before the audit that follows it.
            deliver(obs, &mut stats, exits, None)?;
            if woken && !pending {
                not_before = not_before.max(Instant::now() + COALESCE);
            }
            let now = Instant::now();
            let due = now >= next_full;
            let refresh = refresh_at.is_some_and(|r| now >= r);
            let pending = full || !affected.is_empty();
            if !due && !refresh && (!pending || now < not_before) {
                continue;
            }
            // A refresh still to come means the last whole audit is not current: no confirming it.
            if due && refresh_at.is_none() && !pending {
                if backstop.check(&current, &stats).is_none() {
                    stats.quiet_intervals += 1;
                    obs.confirmed(std::time::SystemTime::now(), &stats)?;
                    next_full = Instant::now() + self.interval;
                    continue;
                }
                stats.audited_intervals += 1;
            }
            let whole =
                due || refresh || full || affected.len() > MAX_PARTIAL || config.expect.is_some();
            if !whole {
                let paths: Vec<PathBuf> = std::mem::take(&mut affected).into_iter().collect();
                let changed = self.judge_part(
                    config,
                    &loop_state,
                    &mut current,
                    &paths,
                    obs,
                    &mut stats,
                    &mut affected,
                    &mut full,
                )?;
                let end = Instant::now();
                if changed && refresh_at.is_none() && obs.wants_audits() {
                    refresh_at = Some(end + REFRESH.max(stats.last_full * 4));
                }
                not_before = end + stats.last_audit.max(COALESCE);
                continue;
            }
            // A whole audit asked for by events (a directory changed, the queue overflowed, many
            // pidfiles at once) holds the next one back as long as it took, so a storm costs at most
            // about half a core; the interval's and the refresh's do not (they come seldom).
            let asked = !due && !refresh;
            affected.clear();
            refresh_at = None;
            let mut batch = Vec::new();
            if std::mem::take(&mut overflow) {
                batch.push(Event::new(
                    Kind::Overflow,
                    "the inotify queue overflowed: everything is audited again",
                ));
            }
            backstop.before_audit();
            let audit = self.judge(config, &mut stats);
            backstop.after_audit(&audit);
            // Exits the audit already shows come before what it shows of them.
            self.exits_ready(&current, &mut batch, &mut Vec::new());
            let model = Model::of(&audit);
            let changes = event::diff(&current, &model, false);
            // The interval's audit refreshes the textfile even when nothing changed, so its
            // timestamp says the watch is alive; the refresh brings it up to partial audits' changes.
            let changed = !changes.is_empty() || due || refresh;
            batch.extend(changes);
            full = self.reconcile(&audit, &mut loop_state, &mut stats, &mut batch);
            deliver(obs, &mut stats, batch, Some((audit, changed)))?;
            trim_heap();
            current = model;
            let end = Instant::now();
            not_before = end
                + if asked {
                    stats.last_audit.max(COALESCE)
                } else {
                    COALESCE
                };
            next_full = end + self.interval;
        }
    }

    /// The pidfiles naming an exited daemon are judged again: by a partial audit when all can be.
    fn affect(
        &self,
        config: &Config,
        state: &LoopState,
        model: &Model,
        pid: u32,
        affected: &mut BTreeSet<PathBuf>,
        full: &mut bool,
    ) {
        for path in model.paths_naming(pid) {
            if partial_path(config, state, &path) {
                affected.insert(path);
            } else {
                *full = true;
            }
        }
    }

    /// Judges the pidfiles at `paths` again (a partial audit against a fresh process table, told
    /// what the model says of the others), patches the model with the result, re-pins the daemons
    /// and delivers the events. Returns whether anything changed.
    #[allow(clippy::too_many_arguments)]
    fn judge_part(
        &mut self,
        config: &Config,
        state: &LoopState,
        current: &mut Model,
        paths: &[PathBuf],
        obs: &mut dyn Observer,
        stats: &mut Stats,
        affected: &mut BTreeSet<PathBuf>,
        full: &mut bool,
    ) -> std::io::Result<bool> {
        let started = Instant::now();
        let (elsewhere, files) = current.others(paths);
        let audit = audit::judge_some(
            config,
            paths,
            audit::Others {
                elsewhere,
                files,
                root_dirs: state.root_dirs.clone(),
            },
        );
        stats.last_audit = started.elapsed();
        let mut batch = Vec::new();
        let mut exited = Vec::new();
        self.exits_ready(current, &mut batch, &mut exited);
        let part = Model::of(&audit).without_system();
        drop(audit);
        let changes = event::diff(&current.part(paths), &part, false);
        let changed = !changes.is_empty();
        batch.extend(changes);
        current.patch(paths, part);
        let (failures, gone) =
            self.pidfds
                .reconcile(&self.epoll, &current.daemons(), &config.proc_root);
        for pid in exited.into_iter().chain(gone) {
            self.affect(config, state, current, pid, affected, full);
        }
        stats.tracked_daemons = self.pidfds.len();
        stats.untracked_daemons = failures.count;
        deliver(obs, stats, batch, None)?;
        Ok(changed)
    }

    /// A tracked daemon's pidfd was readable: it exited. One event per pidfile naming it.
    fn exited(&mut self, pid: u32, model: &Model, out: &mut Vec<Event>) {
        self.pidfds.exited(&self.epoll, pid);
        for path in model.naming(pid) {
            let mut e = Event::new(
                Kind::DaemonExited,
                format!("PID {pid} exited (its pidfd reported it)"),
            );
            e.path = Some(path.to_string());
            e.pid = Some(pid);
            out.push(e);
        }
    }

    /// The exits reported by pidfds by now (without waiting), so that an audit that already shows
    /// a daemon dead never drops its pidfd unread.
    fn exits_ready(&mut self, model: &Model, out: &mut Vec<Event>, pids_out: &mut Vec<u32>) {
        let mut events: Vec<epoll::Event> = Vec::with_capacity(64);
        let zero = rustix::fs::Timespec {
            tv_sec: 0,
            tv_nsec: 0,
        };
        loop {
            events.clear();
            if epoll::wait(
                &self.epoll,
                rustix::buffer::spare_capacity(&mut events),
                Some(&zero),
            )
            .is_err()
            {
                return;
            }
            let pids: Vec<u32> = events
                .iter()
                .map(|ev| ev.data.u64())
                .filter(|t| t & PIDFD_TOKEN != 0)
                .map(|t| (t & 0xffff_ffff) as u32)
                .collect();
            if pids.is_empty() {
                return;
            }
            for pid in pids {
                self.exited(pid, model, out);
                pids_out.push(pid);
            }
        }
    }

    fn judge(&self, config: &Config, stats: &mut Stats) -> Audit {
        let started = Instant::now();
        let audit = audit::judge(config);
        stats.audits += 1;
        stats.last_audit = started.elapsed();
        stats.last_full = stats.last_audit;
        audit
    }

    /// Sets the watches and pidfds to what `audit` audited; reports what could not be watched
    /// when that changed. Returns whether to judge again: a tracked daemon was already gone, or a
    /// directory was newly watched (what changed in it between the walk and the watch was seen by
    /// no watch; the next audit sees it, and adds no watch, so this converges).
    fn reconcile(
        &mut self,
        audit: &Audit,
        state: &mut LoopState,
        stats: &mut Stats,
        out: &mut Vec<Event>,
    ) -> bool {
        let mut missing_dirs = Failures::default();
        let entry_dirs = audit.entries.iter().filter_map(|e| e.dir.as_ref());
        for e in audit.entries.iter().filter(|e| e.dir.is_none()) {
            missing_dirs.count += 1;
            if missing_dirs.first.len() < 3 {
                missing_dirs
                    .first
                    .push((e.subject(), "its directory does not exist".to_string()));
            }
        }
        let (mut dirs, added) = self.watches.reconcile(audit.dirs.iter().chain(entry_dirs));
        dirs.count += missing_dirs.count;
        dirs.first.extend(missing_dirs.first);
        dirs.first.truncate(3);
        let wanted: HashMap<u32, u64> = if audit.snapshot.live {
            audit
                .entries
                .iter()
                .filter_map(|e| e.process.as_ref())
                .filter(|p| !audit.snapshot.is_dead(p) && !p.stat.is_zombie())
                .map(|p| (p.pid() as u32, p.stat.starttime))
                .collect()
        } else {
            HashMap::new()
        };
        let (daemons, gone) =
            self.pidfds
                .reconcile(&self.epoll, &wanted, &audit.snapshot.proc_root);
        state.walked = audit.dirs.iter().map(|d| d.path()).collect();
        state.root_dirs = audit
            .dirs
            .iter()
            .filter(|d| d.parent().is_none())
            .cloned()
            .collect();
        stats.watched_directories = self.watches.len();
        stats.tracked_daemons = self.pidfds.len();
        stats.unwatched_directories = dirs.count;
        stats.untracked_daemons = daemons.count;
        for (failures, last, what) in [
            (&dirs, &mut state.unwatched_dirs, "directories"),
            (&daemons, &mut state.untracked, "daemons"),
        ] {
            let summary = (failures.count, failures.first.clone());
            if summary == *last {
                continue;
            }
            *last = summary;
            if failures.count == 0 {
                continue;
            }
            let list: Vec<String> = failures
                .first
                .iter()
                .map(|(w, why)| format!("{w}: {why}"))
                .collect();
            let mut e = Event::new(
                Kind::Unwatched,
                format!(
                    "{} {what} cannot be watched ({}{}); they are audited every {} only",
                    failures.count,
                    list.join("; "),
                    if failures.count > list.len() {
                        "; ..."
                    } else {
                        ""
                    },
                    humantime::format_duration(self.interval)
                ),
            );
            if let Some((w, _)) = failures.first.first() {
                if what == "directories" {
                    e.path = Some(w.clone());
                }
            }
            out.push(e);
        }
        !gone.is_empty() || added > 0
    }

    /// Reads every queued inotify event. Returns whether one may concern a pidfile, and whether the
    /// queue overflowed. Each that may is told to `changed`: the path of the pidfile, or `None`
    /// when everything must be audited again (a directory changed or was dropped).
    fn drain_inotify(
        &mut self,
        buf: &mut [std::mem::MaybeUninit<u8>],
        model: &Model,
        changed: &mut dyn FnMut(Option<PathBuf>),
    ) -> (bool, bool) {
        use rustix::fs::inotify::ReadFlags;
        let mut relevant = false;
        let mut overflow = false;
        let mut dropped = Vec::new();
        let mut reader = rustix::fs::inotify::Reader::new(&self.watches.fd, buf);
        loop {
            let ev = match reader.next() {
                Ok(ev) => ev,
                Err(rustix::io::Errno::INTR) => continue,
                // WOULDBLOCK: drained; anything else: nothing more to read now.
                Err(_) => break,
            };
            let flags = ev.events();
            if flags.contains(ReadFlags::QUEUE_OVERFLOW) {
                overflow = true;
                continue;
            }
            if flags.contains(ReadFlags::IGNORED) {
                dropped.push(ev.wd());
                relevant = true;
                changed(None);
                continue;
            }
            if flags.intersects(ReadFlags::DELETE_SELF | ReadFlags::MOVE_SELF | ReadFlags::ISDIR) {
                relevant = true;
                changed(None);
                continue;
            }
            let Some(name) = ev.file_name() else {
                continue;
            };
            let name = OsStr::from_bytes(name.to_bytes());
            if let Some(dir) = self.watches.path(ev.wd()) {
                let path = dir.join(name);
                if crate::discover::is_pidfile_name(name, dir) || model.holds(&path) {
                    relevant = true;
                    changed(Some(path));
                }
            }
        }
        for wd in dropped {
            self.watches.dropped(wd);
        }
        (relevant, overflow)
    }
}

use std::os::unix::ffi::OsStrExt;

/// Whether a change of the pidfile at `path` can be judged by a partial audit, with the same
/// verdicts as the whole audit: the file is in a directory the walk listed (not a named PATH, not
/// one only a unit names), not excluded, not in a supervisor's directory (whose files are judged
/// together), and no manifest is in use (its expectations span every pidfile).
fn partial_path(config: &Config, state: &LoopState, path: &std::path::Path) -> bool {
    let (Some(dir), Some(name)) = (path.parent(), path.file_name()) else {
        return false;
    };
    let exclude = &config.discover.exclude;
    config.expect.is_none()
        && state.walked.contains(dir)
        && !config.discover.paths.iter().any(|p| p == path)
        && !crate::discover::is_supervise_dir(dir)
        && !(!exclude.is_empty() && (exclude.is_match(path) || exclude.is_match(name)))
}

/// Limits glibc's malloc to one arena, and serves blocks of 128 KiB and more by mmap: each audit's
/// worker threads are new threads, and with an arena each (up to eight per core) the memory one
/// audit freed would not serve the next; and glibc's mmap threshold rises as large blocks are
/// freed, so an audit's large tables (the process table, the entries) moved into the heap, between
/// the model's long-lived blocks, where freeing them left holes malloc_trim cannot return. Either
/// way the resident set grew with the number of audits (38-42 MiB after a few hundred at 2,000
/// daemons; 21 MiB with these settings).
fn limit_arenas() {
    #[cfg(target_env = "gnu")]
    // SAFETY: mallopt only sets an allocator parameter; called before any thread starts.
    unsafe {
        libc::mallopt(libc::M_ARENA_MAX, 1);
        libc::mallopt(libc::M_MMAP_THRESHOLD, 128 * 1024);
    }
}

/// Gives the memory an audit freed back to the kernel, so an idle watch holds no more than its
/// model.
fn trim_heap() {
    #[cfg(target_env = "gnu")]
    // SAFETY: malloc_trim only releases free memory of the allocator.
    unsafe {
        libc::malloc_trim(0);
    }
}

/// Counts a batch of events, hands the observer the audit they came from (so the textfile and
/// `/metrics` are current when the events are seen), then the events in order.
fn deliver(
    obs: &mut dyn Observer,
    stats: &mut Stats,
    batch: Vec<Event>,
    audit: Option<(Audit, bool)>,
) -> std::io::Result<()> {
    for e in &batch {
        *stats.events.entry(e.event.as_str()).or_default() += 1;
    }
    if let Some((audit, changed)) = audit {
        obs.audited(audit, changed, stats)?;
    }
    batch.iter().try_for_each(|e| obs.event(e))
}

/// What the loop remembers between audits.
#[derive(Default)]
struct LoopState {
    /// The directories the last whole audit walked (a pidfile in one is judged alone when it
    /// changes), and those walked as roots.
    walked: HashSet<PathBuf>,
    root_dirs: Vec<std::sync::Arc<crate::discover::Dir>>,
    /// The last `unwatched` reports, so an unchanged one is not repeated.
    unwatched_dirs: (usize, Vec<(String, String)>),
    untracked: (usize, Vec<(String, String)>),
}
