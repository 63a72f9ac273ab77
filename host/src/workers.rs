//! A persistent pool of threads for fanning out post-event handlers: no
//! thread is spawned per event. The calling thread takes the first share
//! of the work itself, so `workers = n` means n threads busy in all.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc::{Receiver, Sender, TryRecvError, channel};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

type Job = Box<dyn FnOnce() + Send>;

/// How long a thread spins for the next message before it sleeps: waking a
/// sleeping thread costs tens of microseconds, as much as a few calls, so
/// back-to-back fan-outs find their workers awake.
const SPIN: Duration = Duration::from_micros(50);

/// The next message, spinning briefly before blocking; `None` once every
/// sender is gone.
fn next<T>(rx: &Receiver<T>) -> Option<T> {
    let start = Instant::now();
    loop {
        match rx.try_recv() {
            Ok(v) => return Some(v),
            Err(TryRecvError::Disconnected) => return None,
            Err(TryRecvError::Empty) if start.elapsed() < SPIN => std::hint::spin_loop(),
            Err(TryRecvError::Empty) => return rx.recv().ok(),
        }
    }
}

/// The pool.
pub(crate) struct Workers {
    size: usize,
    queues: Vec<Sender<Job>>,
    next: AtomicUsize,
    threads: Vec<JoinHandle<()>>,
}

impl Workers {
    /// A pool for `size` concurrent shares (it starts `size - 1` threads).
    pub(crate) fn new(size: usize) -> std::io::Result<Workers> {
        let size = size.max(1);
        let mut queues = Vec::new();
        let mut threads = Vec::new();
        for i in 1..size {
            let (tx, rx) = channel::<Job>();
            threads.push(
                std::thread::Builder::new()
                    .name(format!("hangar-worker-{i}"))
                    .spawn(move || {
                        while let Some(job) = next(&rx) {
                            job();
                        }
                    })?,
            );
            queues.push(tx);
        }
        Ok(Workers {
            size,
            queues,
            next: AtomicUsize::new(0),
            threads,
        })
    }

    /// Run `f` on every item, spread over the pool, results in item order.
    /// A panic in `f` is re-raised on the calling thread.
    pub(crate) fn map<I, T>(&self, items: Vec<I>, f: Arc<dyn Fn(I) -> T + Send + Sync>) -> Vec<T>
    where
        I: Send + 'static,
        T: Send + 'static,
    {
        let shares = self.size.min(items.len());
        if shares <= 1 {
            return items.into_iter().map(|i| f(i)).collect();
        }
        let per = items.len().div_ceil(shares);
        let mut chunks: Vec<Vec<I>> = Vec::with_capacity(shares);
        let mut items = items.into_iter().peekable();
        while items.peek().is_some() {
            chunks.push(items.by_ref().take(per).collect());
        }
        // Chunking by `per` can make fewer chunks than shares (5 items in
        // 4 shares: chunks of 2, 2, 1): wait for the chunks there are.
        let shares = chunks.len();
        let mine = chunks.remove(0);
        let (done, results) = channel();
        for (k, chunk) in chunks.into_iter().enumerate() {
            let (f, done) = (f.clone(), done.clone());
            let job: Job = Box::new(move || {
                let out = catch_unwind(AssertUnwindSafe(|| {
                    chunk.into_iter().map(|i| f(i)).collect::<Vec<T>>()
                }));
                let _ = done.send((k + 1, out));
            });
            let q = self.next.fetch_add(1, Ordering::Relaxed) % self.queues.len();
            if let Err(returned) = self.queues[q].send(job) {
                // The worker is gone: run its share here.
                (returned.0)();
            }
        }
        drop(done);
        let mut parts: Vec<(usize, Vec<T>)> = vec![(0, mine.into_iter().map(|i| f(i)).collect())];
        while let Some((k, out)) = next(&results) {
            match out {
                Ok(v) => parts.push((k, v)),
                Err(panic) => std::panic::resume_unwind(panic),
            }
        }
        assert_eq!(parts.len(), shares, "a dispatch worker died");
        parts.sort_by_key(|(k, _)| *k);
        parts.into_iter().flat_map(|(_, v)| v).collect()
    }
}

impl Drop for Workers {
    fn drop(&mut self) {
        self.queues.clear();
        for t in self.threads.drain(..) {
            let _ = t.join();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn results_come_back_in_order_and_work_is_spread() {
        let pool = Workers::new(3).unwrap();
        let f: Arc<dyn Fn(u32) -> (u32, String) + Send + Sync> = Arc::new(|i| {
            (
                i * 2,
                std::thread::current()
                    .name()
                    .unwrap_or("caller")
                    .to_string(),
            )
        });
        let out = pool.map((0..30).collect(), f);
        assert_eq!(
            out.iter().map(|o| o.0).collect::<Vec<_>>(),
            (0..30).map(|i| i * 2).collect::<Vec<_>>()
        );
        let mut threads: Vec<&str> = out.iter().map(|o| o.1.as_str()).collect();
        threads.dedup();
        assert_eq!(threads.len(), 3, "{threads:?}");
    }

    #[test]
    fn any_number_of_items_over_any_pool_size() {
        for size in 1..6 {
            let pool = Workers::new(size).unwrap();
            for n in 0..12u32 {
                let f: Arc<dyn Fn(u32) -> u32 + Send + Sync> = Arc::new(|i| i + 1);
                assert_eq!(pool.map((0..n).collect(), f), (1..=n).collect::<Vec<_>>());
            }
        }
    }

    #[test]
    fn a_panic_reaches_the_caller_and_the_pool_survives() {
        let pool = Workers::new(2).unwrap();
        let f: Arc<dyn Fn(u32) -> u32 + Send + Sync> = Arc::new(|i| {
            assert!(i != 7, "seven");
            i
        });
        let caught = catch_unwind(AssertUnwindSafe(|| pool.map((0..10).collect(), f.clone())));
        assert!(caught.is_err());
        assert_eq!(pool.map((0..4).collect(), f), vec![0, 1, 2, 3]);
    }
}
