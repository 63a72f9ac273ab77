//! Call counters: per app and export, atomics bumped by every call (no
//! lock on the hot path), drained into the journal every few seconds and
//! whenever someone reads them.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
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

/// One app's counters, one slot per export.
#[derive(Default)]
pub(crate) struct Counters {
    slots: [Slot; Export::ALL.len()],
}

impl Counters {
    fn slot(&self, export: Export) -> &Slot {
        let i = Export::ALL
            .iter()
            .position(|e| *e == export)
            .expect("every export has a slot");
        &self.slots[i]
    }
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
        let slot = counters.slot(export);
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
            for (export, slot) in Export::ALL.iter().zip(&counters.slots) {
                let calls = slot.calls.swap(0, Ordering::Relaxed);
                if calls == 0 {
                    continue;
                }
                out.push((
                    app.clone(),
                    CallStats {
                        handler: export.name().to_string(),
                        calls,
                        errors: slot.errors.swap(0, Ordering::Relaxed),
                        total_us: slot.total_us.swap(0, Ordering::Relaxed),
                    },
                ));
            }
        }
        out
    }

    /// Forget an uninstalled app.
    pub(crate) fn forget(&self, app: &str) {
        self.apps.lock().expect("stats poisoned").remove(app);
    }
}
