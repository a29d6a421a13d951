//! Spreading independent work over the machine's cores.
//!
//! Work is handed out in blocks of `BLOCK` (32) items from a shared queue rather than split in fixed
//! halves up front: on a busy machine one thread may be descheduled for milliseconds, and the others
//! then take over its share instead of waiting for it. The calling thread works too.

use std::sync::Mutex;

/// Items handed to a thread at a time: enough to make taking a block cheap next to doing it (a block
/// is a few hundred system calls), few enough to balance the load.
const BLOCK: usize = 32;

/// Below this many items everything runs on the calling thread.
const SERIAL_BELOW: usize = 64;

/// How many threads to use: the cores this process may run on, at most 8.
fn threads() -> usize {
    std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1)
        .min(8)
}

/// Runs `work` on `n` threads (this one and `n - 1` more) and joins them, re-raising a panic.
fn run_on(n: usize, work: impl Fn() + Sync) {
    std::thread::scope(|scope| {
        let work = &work;
        let handles: Vec<_> = (1..n).map(|_| scope.spawn(work)).collect();
        work();
        for h in handles {
            h.join().unwrap_or_else(|e| std::panic::resume_unwind(e));
        }
    });
}

/// Maps `f` over `items` on all available cores, keeping the order. Small inputs run on this thread.
pub fn map<T: Sync, R: Send>(items: &[T], f: impl Fn(&T) -> R + Sync) -> Vec<R> {
    let n = threads();
    if n < 2 || items.len() < SERIAL_BELOW {
        return items.iter().map(f).collect();
    }
    let queue = Mutex::new(items.chunks(BLOCK).enumerate());
    let done: Mutex<Vec<(usize, Vec<R>)>> = Mutex::new(Vec::new());
    run_on(n, || loop {
        let next = queue.lock().unwrap_or_else(|e| e.into_inner()).next();
        let Some((i, block)) = next else { break };
        let out: Vec<R> = block.iter().map(&f).collect();
        done.lock()
            .unwrap_or_else(|e| e.into_inner())
            .push((i, out));
    });
    let mut done = done.into_inner().unwrap_or_else(|e| e.into_inner());
    done.sort_unstable_by_key(|(i, _)| *i);
    // Sized once: the results of a large input are large.
    let mut all = Vec::with_capacity(items.len());
    for (_, out) in done {
        all.extend(out);
    }
    all
}

/// Calls `f` on every item on all available cores. Small inputs run on this thread.
pub fn for_each_mut<T: Send>(items: &mut [T], f: impl Fn(&mut T) + Sync) {
    let n = threads();
    if n < 2 || items.len() < SERIAL_BELOW {
        items.iter_mut().for_each(f);
        return;
    }
    let queue = Mutex::new(items.chunks_mut(BLOCK));
    run_on(n, || loop {
        let next = queue.lock().unwrap_or_else(|e| e.into_inner()).next();
        let Some(block) = next else { break };
        block.iter_mut().for_each(&f);
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every item is mapped exactly once and the results keep the input's order.
    #[test]
    fn map_keeps_order() {
        let items: Vec<u32> = (0..1000).collect();
        let out = map(&items, |x| x * 2);
        assert_eq!(out, items.iter().map(|x| x * 2).collect::<Vec<_>>());
        let few: Vec<u32> = (0..3).collect();
        assert_eq!(map(&few, |x| x + 1), vec![1, 2, 3]);
    }

    /// Every item is visited exactly once.
    #[test]
    fn for_each_mut_visits_all() {
        let mut items = vec![0u32; 1000];
        for_each_mut(&mut items, |x| *x += 1);
        assert!(items.iter().all(|&x| x == 1));
    }
}
