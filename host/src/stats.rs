//! Call counters: per app and export, atomics bumped by every call (no
//! lock on the hot path), drained into the journal every few seconds and
//! whenever someone reads them.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::exports::Export;
use crate::registry::CallStats;

/// How often counters are handed to the journal.
const FLUSH_EVERY: Duration = Duration::from_secs(2);

#[derive(Default)]
struct Slot {
    calls: AtomicU64,
    errors: AtomicU64,
    total_us: AtomicU64,
}

/// Counters are spread over this many shards, so threads dispatching to
/// the same app do not fight over one cache line.
const SHARDS: usize = 4;

/// One shard: a slot per export, on cache lines of its own.
#[repr(align(128))]
struct Shard([Slot; Export::ALL.len()]);

impl Default for Shard {
    fn default() -> Self {
        Shard(std::array::from_fn(|_| Slot::default()))
    }
}

/// One app's counters.
#[derive(Default)]
pub(crate) struct Counters {
    shards: [Shard; SHARDS],
}

/// This thread's shard.
fn shard() -> usize {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    thread_local! {
        static MINE: usize = NEXT.fetch_add(1, Ordering::Relaxed) % SHARDS;
    }
    MINE.with(|m| *m)
}

/// Every app's counters in this process.
pub(crate) struct Stats {
    apps: Mutex<HashMap<String, Arc<Counters>>>,
    started: Instant,
    /// Milliseconds after `started` of the last drain.
    last_drain: AtomicU64,
}

impl Stats {
    pub(crate) fn new() -> Self {
        Stats {
            apps: Mutex::default(),
            started: Instant::now(),
            last_drain: AtomicU64::new(0),
        }
    }

    /// The counters of `app`, shared by every version loaded (taken when
    /// an app is loaded, not per call).
    pub(crate) fn of(&self, app: &str) -> Arc<Counters> {
        self.apps
            .lock()
            .expect("stats poisoned")
            .entry(app.to_string())
            .or_default()
            .clone()
    }

    /// Count one call; true when the counters are due to be drained (only
    /// one caller sees true per period).
    pub(crate) fn record(
        &self,
        counters: &Counters,
        export: Export,
        failed: bool,
        duration_us: u64,
    ) -> bool {
        let slot = &counters.shards[shard()].0[export.index()];
        slot.calls.fetch_add(1, Ordering::Relaxed);
        slot.errors.fetch_add(u64::from(failed), Ordering::Relaxed);
        slot.total_us.fetch_add(duration_us, Ordering::Relaxed);
        let now = self.started.elapsed().as_millis() as u64;
        let last = self.last_drain.load(Ordering::Relaxed);
        now.saturating_sub(last) >= FLUSH_EVERY.as_millis() as u64
            && self
                .last_drain
                .compare_exchange(last, now, Ordering::Relaxed, Ordering::Relaxed)
                .is_ok()
    }

    /// Take every non-zero counter, leaving zeros.
    pub(crate) fn drain(&self) -> Vec<(String, CallStats)> {
        let apps = self.apps.lock().expect("stats poisoned");
        let mut out = Vec::new();
        for (app, counters) in apps.iter() {
            for (i, export) in Export::ALL.iter().enumerate() {
                let mut sum = CallStats {
                    handler: export.name().to_string(),
                    ..CallStats::default()
                };
                for shard in &counters.shards {
                    let slot = &shard.0[i];
                    sum.calls += slot.calls.swap(0, Ordering::Relaxed);
                    sum.errors += slot.errors.swap(0, Ordering::Relaxed);
                    sum.total_us += slot.total_us.swap(0, Ordering::Relaxed);
                }
                if sum.calls > 0 {
                    out.push((app.clone(), sum));
                }
            }
        }
        out
    }

    /// Forget an uninstalled app.
    pub(crate) fn forget(&self, app: &str) {
        self.apps.lock().expect("stats poisoned").remove(app);
    }
}
