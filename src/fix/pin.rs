//! A live process an action concerns, pinned and re-verified: the pidfd opened when planning
//! (`pidfd_open`; opened now when the plan has none) must not have become readable (the process
//! exited), then its `/proc/PID` directory is opened and its start time, state, kernel-thread
//! flag, executable link and real user read through that directory and compared with what the plan
//! saw, and the pidfd is asked again: a process still running after the reads is the one whose
//! directory was read (its PID cannot have been reused meanwhile). A process that exited after the
//! plan is never confused with one given its PID later, even one started within the same clock
//! tick with the same program and user. [`stop`] then signals through the pidfd only.

use super::ProcBasis;
use rustix::fd::{AsFd, BorrowedFd, OwnedFd};
use rustix::fs::{Mode, OFlags};
use rustix::io::Errno;
use std::time::{Duration, Instant};

/// A process pinned by its pidfd, with its verified `/proc` directory.
#[derive(Debug)]
pub struct Pinned {
    pub pidfd: OwnedFd,
    pub dir: OwnedFd,
}

/// Pins `basis.pid` and checks it is still the planned process. `Err` says what differs.
pub fn pin(basis: &ProcBasis, proc: BorrowedFd<'_>) -> Result<Pinned, String> {
    let pid = basis.pid;
    if pid <= 1 {
        return Err(format!("PID {pid}: never acted on"));
    }
    if pid == std::process::id() {
        return Err(format!("PID {pid} is pidaudit itself"));
    }
    let pidfd = match &basis.pidfd {
        Some(fd) => fd
            .as_fd()
            .try_clone_to_owned()
            .map_err(|e| format!("PID {pid}: {e}"))?,
        None => match crate::system::pidfd(pid) {
            Ok(fd) => fd,
            Err(Errno::SRCH) => return Err(format!("PID {pid} has exited since it was judged")),
            Err(e) => return Err(format!("PID {pid}: pidfd_open: {e}")),
        },
    };
    if exited(pidfd.as_fd(), Duration::ZERO) {
        return Err(format!("PID {pid} has exited since it was judged"));
    }
    let dir = rustix::fs::openat(
        proc,
        pid.to_string().as_str(),
        OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
        Mode::empty(),
    )
    .map_err(|e| format!("PID {pid}: /proc entry: {e}"))?;
    let stat = crate::system::read_whole_at(&dir, "stat", 4096, |b| {
        crate::system::parse_stat(b).map_err(|_| Errno::INVAL)
    })
    .and_then(|r| r)
    .map_err(|e| format!("PID {pid}: stat: {e}"))?;
    if stat.starttime != basis.start_ticks {
        return Err(format!("PID {pid} is another process than the one judged"));
    }
    if stat.is_kernel_thread() {
        return Err(format!("PID {pid} is a kernel thread"));
    }
    if stat.is_zombie() {
        return Err(format!("PID {pid} has exited (a zombie)"));
    }
    let exe = rustix::fs::readlinkat(&dir, "exe", Vec::new())
        .map_err(|e| format!("PID {pid}: exe: {e}"))?;
    if exe.as_bytes() != basis.exe_raw.as_slice() {
        return Err(format!(
            "PID {pid} runs another executable than the one judged"
        ));
    }
    let uid = crate::system::read_whole_at(&dir, "status", 16384, |b| {
        crate::system::parse_status(b).uid()
    })
    .map_err(|e| format!("PID {pid}: status: {e}"))?;
    if uid != Some(basis.uid) {
        return Err(format!(
            "PID {pid} runs as another user than the one judged"
        ));
    }
    // Still running now, after everything was read: the PID cannot have been reused in between,
    // so the directory read was the pinned process's.
    if exited(pidfd.as_fd(), Duration::ZERO) {
        return Err(format!("PID {pid} has exited since it was judged"));
    }
    Ok(Pinned { pidfd, dir })
}

/// Whether the pinned process has exited (its pidfd is readable).
fn exited(pidfd: BorrowedFd<'_>, wait: Duration) -> bool {
    use rustix::event::{poll, PollFd, PollFlags};
    let deadline = Instant::now() + wait;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        let ts = rustix::event::Timespec {
            tv_sec: left.as_secs() as _,
            tv_nsec: left.subsec_nanos() as _,
        };
        let mut fds = [PollFd::new(&pidfd, PollFlags::IN)];
        match poll(&mut fds, Some(&ts)) {
            Ok(n) if n > 0 => return true,
            Ok(_) => return false,
            Err(Errno::INTR) => continue,
            Err(_) => return false,
        }
    }
}

/// How a stop ended.
#[derive(Debug)]
pub struct Stopped {
    /// The signals sent, in order.
    pub signals: Vec<&'static str>,
    /// Whether the process exited.
    pub exited: bool,
}

/// Stops a pinned process: SIGTERM, then waits up to `timeout` for its pidfd to become readable;
/// with `kill`, SIGKILL after that and another wait. Never a process group: one pidfd, one
/// process. Whether the process is supervised was judged by the plan; its parent is re-read here
/// and a supervisor met since refuses the signal.
pub fn stop(
    basis: &ProcBasis,
    proc: BorrowedFd<'_>,
    timeout: Duration,
    kill: bool,
) -> Result<Stopped, String> {
    let pinned = pin(basis, proc)?;
    let ppid = crate::system::read_whole_at(&pinned.dir, "stat", 4096, |b| {
        crate::system::parse_stat(b).map(|s| s.ppid).ok()
    })
    .ok()
    .flatten();
    if let Some(ppid) = ppid.filter(|p| *p > 1) {
        let comm = crate::system::read_whole_at(proc, &format!("{ppid}/stat"), 4096, |b| {
            crate::system::parse_stat(b).map(|s| s.comm).ok()
        })
        .ok()
        .flatten();
        if let Some(c) = comm.filter(|c| crate::system::identity::SUPERVISORS.contains(&c.as_str()))
        {
            return Err(format!(
                "PID {} now runs under {c} (PID {ppid}): a supervised copy is never signalled",
                basis.pid
            ));
        }
    }
    let send = |sig| rustix::process::pidfd_send_signal(&pinned.pidfd, sig);
    let mut out = Stopped {
        signals: Vec::new(),
        exited: false,
    };
    match send(rustix::process::Signal::TERM) {
        Ok(()) => out.signals.push("SIGTERM"),
        Err(Errno::SRCH) => return Err(format!("PID {} exited before the signal", basis.pid)),
        Err(e) => return Err(format!("PID {}: pidfd_send_signal: {e}", basis.pid)),
    }
    out.exited = exited(pinned.pidfd.as_fd(), timeout);
    if !out.exited && kill {
        match send(rustix::process::Signal::KILL) {
            Ok(()) => out.signals.push("SIGKILL"),
            Err(Errno::SRCH) => {}
            Err(e) => return Err(format!("PID {}: pidfd_send_signal: {e}", basis.pid)),
        }
        out.exited = exited(pinned.pidfd.as_fd(), Duration::from_secs(5));
    }
    Ok(out)
}
