//! PID namespaces: can a PID that is missing from the `/proc` being read be called dead?
//!
//! A pidfile holds a number in the PID namespace of whoever wrote it. `/proc` shows one namespace and
//! its descendants. A number missing from it is dead only if the writer was in that namespace:
//!
//! - When the `/proc` read belongs to a namespace other than the initial one (the auditor runs in a
//!   container, or under `unshare --pid --mount-proc`), a process of an *ancestor* namespace may have
//!   written the file, and ancestors are invisible from here. [`NsView`] records what tells such files
//!   apart: when this namespace's init started (a file written before it was not written from inside)
//!   and the last PID this namespace allocated (`ns_last_pid`; a higher number was never handed out
//!   here, wraparound aside).
//! - A process in a *descendant* namespace (a container seen from the host, or the auditor's own
//!   namespace seen through an ancestor's `/proc`) writes its inner PID, which `/proc` shows only in
//!   `NSpid` of `/proc/PID/status`. [`inner_pids`] indexes those.

use super::{read_at, read_whole_at, Snapshot};
use std::collections::HashMap;

/// The inode number of the initial PID namespace (`PROC_PID_INIT_INO` in the kernel).
pub const PROC_PID_INIT_INO: u64 = 0xEFFF_FFFC;

/// What the auditor knows about the PID namespace of the `/proc` it reads.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct NsView {
    /// The namespace's inode number, when it could be read.
    pub ns_inode: Option<u64>,
    /// The `/proc` read belongs to a PID namespace other than the initial one.
    pub nested: bool,
    /// When that namespace's init (its PID 1) started, Unix seconds.
    pub ns_start: Option<f64>,
    /// The last PID allocated in that namespace, when the auditor runs in it.
    pub last_pid: Option<u32>,
    /// The auditor runs in a child namespace of the `/proc` it reads (`self` there is another PID).
    pub auditor_in_child: bool,
}

/// Reads the namespace view of the snapshot's `/proc`. Anything unreadable leaves its field unset; a
/// `/proc` that is a fixture directory (no `ns` files) is not nested.
pub fn view(snapshot: &Snapshot) -> NsView {
    let mut v = NsView::default();
    let Some(proc) = snapshot.proc_dir() else {
        return v;
    };
    let self_pid = rustix::fs::readlinkat(proc, "self", Vec::new())
        .ok()
        .and_then(|s| s.to_str().ok().and_then(|s| s.parse::<i32>().ok()));
    v.auditor_in_child = self_pid.is_some_and(|p| p != snapshot.self_pid);
    // The namespace of the /proc: our own when /proc is live (always readable), else that of its
    // init (readable with ptrace rights over it).
    let ns_of = |path: &str| {
        rustix::fs::statat(proc, path, rustix::fs::AtFlags::empty())
            .ok()
            .map(|st| st.st_ino as u64)
    };
    v.ns_inode = if snapshot.live {
        ns_of("self/ns/pid")
    } else {
        ns_of("1/ns/pid")
    };
    v.nested = v.ns_inode.is_some_and(|ino| ino != PROC_PID_INIT_INO);
    if v.nested {
        v.ns_start = snapshot
            .get(1)
            .and_then(|init| snapshot.start_time(&init.stat));
        if snapshot.live {
            v.last_pid = read_at(proc, "sys/kernel/ns_last_pid", 64)
                .ok()
                .and_then(|b| std::str::from_utf8(&b).ok()?.trim().parse().ok());
        }
    }
    v
}

/// A process seen in this `/proc` that lives in a descendant PID namespace.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Nested {
    /// Its PID in this `/proc`.
    pub pid: i32,
    /// Its PIDs from this namespace inwards (`NSpid`).
    pub nspid: Vec<i32>,
}

/// Every PID that a process of a descendant namespace has there (any `NSpid` entry after the
/// first), mapped to that process. Reads `/proc/PID/status` of every process in the snapshot that
/// may live in another PID namespace than the `/proc`'s: all of them, unless `ns/pid` of the
/// `/proc`'s namespace and of the process can be compared (one `readlinkat` each, none for kernel
/// threads; equal means one `NSpid` entry, nothing to index). Processes whose status cannot be read
/// are left out.
pub fn inner_pids(snapshot: &Snapshot) -> HashMap<i32, Nested> {
    let Some(proc) = snapshot.proc_dir() else {
        return HashMap::new();
    };
    // The link's text (`pid:[INODE]`; every namespace is on the one nsfs device) identifies the
    // namespace: `readlinkat` does not open it as `stat` through the link does.
    let ns_of = |pid: i32| {
        rustix::fs::readlinkat(proc, format!("{pid}/ns/pid").as_str(), Vec::new())
            .ok()
            .filter(|t| t.to_bytes().starts_with(b"pid:["))
    };
    // The /proc's own namespace: the auditor's when the /proc is live and shows it under its own
    // PID (always readable), else that of the /proc's init (readable with ptrace rights over it).
    let own = snapshot.live
        && rustix::fs::readlinkat(proc, "self", Vec::new())
            .is_ok_and(|s| s.to_bytes() == snapshot.self_pid.to_string().as_bytes());
    let init_ns = if own {
        ns_of(snapshot.self_pid)
    } else {
        ns_of(1)
    };
    let pids: Vec<i32> = snapshot.processes().map(|p| p.pid()).collect();
    let statuses = crate::util::parallel::map(&pids, |pid| {
        // Kernel threads (children of kthreadd, PID 2) all live in the initial namespace.
        let kthread = snapshot
            .get(*pid)
            .is_some_and(|p| p.stat.is_kernel_thread());
        if init_ns.is_some() && (kthread || ns_of(*pid) == init_ns) {
            return None;
        }
        read_whole_at(proc, format!("{pid}/status").as_str(), 64 * 1024, |b| {
            (*pid, super::parse_status(b).nspid)
        })
        .ok()
    });
    index_nested(statuses.into_iter().flatten())
}

/// Indexes processes by the PIDs they have in descendant namespaces (`NSpid` entries after the
/// first), from each process's PID and `NSpid`. Pure.
pub fn index_nested(statuses: impl Iterator<Item = (i32, Vec<i32>)>) -> HashMap<i32, Nested> {
    let mut out = HashMap::new();
    for (pid, nspid) in statuses {
        if nspid.len() > 1 {
            for &inner in &nspid[1..] {
                out.entry(inner).or_insert_with(|| Nested {
                    pid,
                    nspid: nspid.clone(),
                });
            }
        }
    }
    out
}
