//! The one process-tree index over the snapshot, built once per run on first use: children by
//! parent, processes by `comm`, and members by session and process group. It serves the instance
//! survey (tracked trees, duplicates, orphans) and the lock-holder search (children of the
//! acquirer, members of an exited acquirer's session or group), keeping both O(pidfiles +
//! processes): they look up the few processes that could matter instead of scanning all of them for
//! every pidfile. Pure: built from parsed `stat` lines, no I/O.

use super::Stat;
use std::collections::{HashMap, HashSet};

/// Indexes of the process tree. Kernel threads are left out.
#[derive(Debug, Default)]
pub struct Tree {
    children: HashMap<i32, Vec<i32>>,
    by_comm: HashMap<String, Vec<i32>>,
    by_session: HashMap<i32, Vec<i32>>,
}

impl Tree {
    /// Builds the indexes; every list is sorted by PID.
    pub fn build<'a>(stats: impl Iterator<Item = &'a Stat>) -> Tree {
        let mut t = Tree::default();
        for s in stats.filter(|s| !s.is_kernel_thread()) {
            t.children.entry(s.ppid).or_default().push(s.pid);
            t.by_comm.entry(s.comm.clone()).or_default().push(s.pid);
            t.by_session.entry(s.session).or_default().push(s.pid);
            if s.pgrp != s.session {
                t.by_session.entry(s.pgrp).or_default().push(s.pid);
            }
        }
        for v in t
            .children
            .values_mut()
            .chain(t.by_comm.values_mut())
            .chain(t.by_session.values_mut())
        {
            v.sort_unstable();
        }
        t
    }

    /// The direct children of `pid`.
    pub fn children(&self, pid: i32) -> &[i32] {
        self.children.get(&pid).map(Vec::as_slice).unwrap_or(&[])
    }

    /// `pid` and every process below it.
    pub fn subtree(&self, pid: i32) -> HashSet<i32> {
        let mut seen = HashSet::from([pid]);
        let mut todo = vec![pid];
        while let Some(p) = todo.pop() {
            for &c in self.children(p) {
                if seen.insert(c) {
                    todo.push(c);
                }
            }
        }
        seen
    }

    /// The processes whose comm is exactly `comm`.
    pub fn with_comm(&self, comm: &str) -> &[i32] {
        self.by_comm.get(comm).map(Vec::as_slice).unwrap_or(&[])
    }

    /// Every distinct comm, with its processes.
    pub fn comms(&self) -> impl Iterator<Item = (&str, &[i32])> {
        self.by_comm.iter().map(|(c, v)| (c.as_str(), v.as_slice()))
    }

    /// The processes whose session or process group is `id`.
    pub fn in_session_or_group(&self, id: i32) -> &[i32] {
        self.by_session.get(&id).map(Vec::as_slice).unwrap_or(&[])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn st(pid: i32, ppid: i32, comm: &str, session: i32) -> Stat {
        Stat {
            pid,
            comm: comm.into(),
            state: 'S',
            ppid,
            pgrp: session,
            session,
            flags: 0,
            starttime: 0,
        }
    }

    /// Subtrees, comm and session lookups over a small tree; kernel threads are not indexed.
    #[test]
    fn indexes() {
        let mut kt = st(2, 0, "kthreadd", 0);
        kt.flags = super::super::stat::PF_KTHREAD;
        let stats = [
            st(1, 0, "init", 1),
            kt,
            st(10, 1, "nginx", 10),
            st(11, 10, "nginx", 10),
            st(12, 10, "nginx", 10),
            st(13, 12, "sh", 10),
            st(20, 1, "nginx", 20),
        ];
        let t = Tree::build(stats.iter());
        assert_eq!(t.subtree(10), HashSet::from([10, 11, 12, 13]));
        assert_eq!(t.with_comm("nginx"), &[10, 11, 12, 20]);
        assert_eq!(t.in_session_or_group(10), &[10, 11, 12, 13]);
        assert!(t.with_comm("kthreadd").is_empty());
        assert_eq!(t.children(0), &[1]);
    }
}
