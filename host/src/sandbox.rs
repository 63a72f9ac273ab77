//! What one call of one app can reach: the data of a fresh wasmtime
//! `Store`, thrown away after the call. WASI with nothing granted (stderr
//! captured for failure reports, a clock whose sleeps end at the call's
//! deadline), memory and table caps, and the host state the imports use:
//! the app's manifest and settings, the bridge, the call's transaction,
//! and the effects and logs buffered until the call settles.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use wasmtime::component::{Linker, Resource, ResourceTable};
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};

use crate::bridge::{Bridge, Effect};
use crate::manifest::Manifest;
use crate::storage::Txn;

/// Most host-side resources (WASI streams, pollables) one call may hold.
const MAX_RESOURCES: usize = 4096;

/// Bytes of a guest's stderr kept for a failure report.
pub(crate) const STDERR_CAPTURE: usize = 4096;

/// The app as a call sees it.
pub(crate) struct AppView {
    pub(crate) manifest: Arc<Manifest>,
    pub(crate) settings: Arc<HashMap<String, serde_json::Value>>,
}

/// The bounds on what one call may hand the host.
#[derive(Debug, Clone, Copy)]
pub(crate) struct CallLimits {
    /// Largest string an app may pass to a host call.
    pub(crate) max_argument_bytes: usize,
    /// Log lines kept per call; the rest are counted and dropped.
    pub(crate) max_logs_per_call: usize,
    /// Largest linear memory, in bytes.
    pub(crate) max_memory_bytes: usize,
    /// Most table elements.
    pub(crate) max_table_elements: usize,
    /// Messages and notifications one call may queue.
    pub(crate) max_effects: usize,
    /// Bytes those effects may hold in all.
    pub(crate) max_effect_bytes: usize,
    /// Nanosecond clocks from a fixed origin (operator opt-in).
    pub(crate) precise_clocks: bool,
    /// Outbound requests may reach internal addresses (operator opt-in).
    pub(crate) outbound_allow_private: bool,
    /// Largest outbound response body.
    pub(crate) max_fetch_response_bytes: usize,
    /// Largest outbound request body.
    pub(crate) max_http_body_bytes: usize,
}

/// Everything one call of one app can reach.
pub(crate) struct CallState {
    wasi: WasiCtx,
    table: ResourceTable,
    pub(crate) limiter: CallLimiter,
    pub(crate) app: AppView,
    pub(crate) bridge: Arc<dyn Bridge>,
    pub(crate) limits: CallLimits,
    /// When the call's deadline passes.
    pub(crate) deadline: Instant,
    /// Reads go through this, so a handler reads its own writes.
    pub(crate) txn: Box<dyn Txn>,
    /// True only while an event handler holding the writer runs.
    pub(crate) writer_live: bool,
    /// Effects buffered until the transaction commits.
    pub(crate) effects: Vec<Effect>,
    /// Bytes held by `effects`.
    pub(crate) effect_bytes: usize,
    clock: CallClock,
    pub(crate) logs: Vec<(&'static str, String)>,
    pub(crate) dropped_logs: usize,
    /// Permissions the app lacked during this call, for the report.
    pub(crate) denied: Vec<&'static str>,
    /// The operator's narrowing of the app's allowed hosts, if any.
    pub(crate) operator_hosts: Option<Vec<String>>,
    /// One line per outbound request (made or refused), for the report
    /// and the log.
    pub(crate) requests: Vec<String>,
    /// In a job run: the job's id and the claim's fence.
    pub(crate) running_job: Option<(String, i64)>,
    /// In a job run that rescheduled or cancelled its own job: the fence
    /// held when it did (checked inside this call's transaction, so it
    /// still holds at commit).
    pub(crate) own_job_touched: bool,
    /// In an interaction's (or command's) handler: the trigger a view may
    /// be opened with.
    pub(crate) trigger: Option<crate::interact::Trigger>,
    /// A delivery the chat may repeat: marked in this call's transaction,
    /// so the handler's writes commit once.
    pub(crate) once: Option<crate::call::Once>,
    /// Where open views are known, for update-view and close-view.
    pub(crate) views: Option<Arc<crate::registry::Registry>>,
}

impl CallState {
    pub(crate) fn new(
        app: AppView,
        bridge: Arc<dyn Bridge>,
        limits: CallLimits,
        txn: Box<dyn Txn>,
        deadline: Instant,
        stderr: Capture,
    ) -> Self {
        let clock = CallClock::new(limits.precise_clocks);
        // A call needs a handful of WASI resources (streams, pollables);
        // a guest that hoards them would grow host memory.
        let mut table = ResourceTable::new();
        table.set_max_capacity(MAX_RESOURCES);
        CallState {
            wasi: WasiCtx::builder()
                .stderr(stderr)
                .monotonic_clock(clock)
                .wall_clock(clock)
                .build(),
            table,
            limiter: CallLimiter {
                inner: wasmtime::StoreLimitsBuilder::new()
                    .memory_size(limits.max_memory_bytes)
                    .table_elements(limits.max_table_elements)
                    .instances(32)
                    .tables(32)
                    .memories(8)
                    .build(),
                hit: false,
            },
            app,
            bridge,
            limits,
            deadline,
            txn,
            writer_live: false,
            effects: Vec::new(),
            effect_bytes: 0,
            clock,
            logs: Vec::new(),
            dropped_logs: 0,
            denied: Vec::new(),
            operator_hosts: None,
            requests: Vec::new(),
            running_job: None,
            own_job_touched: false,
            trigger: None,
            once: None,
            views: None,
        }
    }
}

/// `StoreLimits` plus a note of whether a limit was hit, so a trap that
/// follows a refused `memory.grow` is reported as the memory cap.
pub(crate) struct CallLimiter {
    inner: wasmtime::StoreLimits,
    pub(crate) hit: bool,
}

impl wasmtime::ResourceLimiter for CallLimiter {
    fn memory_growing(
        &mut self,
        current: usize,
        desired: usize,
        maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        let ok = self.inner.memory_growing(current, desired, maximum)?;
        self.hit |= !ok;
        Ok(ok)
    }

    fn table_growing(
        &mut self,
        current: usize,
        desired: usize,
        maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        let ok = self.inner.table_growing(current, desired, maximum)?;
        self.hit |= !ok;
        Ok(ok)
    }

    fn instances(&self) -> usize {
        self.inner.instances()
    }
    fn tables(&self) -> usize {
        self.inner.tables()
    }
    fn memories(&self) -> usize {
        self.inner.memories()
    }
}

impl WasiView for CallState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.wasi,
            table: &mut self.table,
        }
    }
}

/// Link WASI with nothing granted, its clock subscriptions capped at the
/// call's deadline: a guest sleep blocks in the host, where epochs cannot
/// interrupt it.
pub(crate) fn add_wasi_to_linker(linker: &mut Linker<CallState>) -> wasmtime::Result<()> {
    wasmtime_wasi::p2::add_to_linker_sync(linker)?;
    linker.allow_shadowing(true);
    let mut clock = linker.instance("wasi:clocks/monotonic-clock@0.2.12")?;
    clock.func_wrap(
        "subscribe-duration",
        |mut store: wasmtime::StoreContextMut<'_, CallState>, (nanos,): (u64,)| {
            Ok((capped_sleep(store.data_mut(), Duration::from_nanos(nanos))?,))
        },
    )?;
    clock.func_wrap(
        "subscribe-instant",
        |mut store: wasmtime::StoreContextMut<'_, CallState>, (when,): (u64,)| {
            let state = store.data_mut();
            let now = wasmtime_wasi::HostMonotonicClock::now(&state.clock);
            let wait = Duration::from_nanos(when.saturating_sub(now));
            Ok((capped_sleep(state, wait)?,))
        },
    )?;
    linker.allow_shadowing(false);
    Ok(())
}

/// A sleep that ends no later than the call's deadline.
struct CappedSleep {
    until: Instant,
}

impl wasmtime_wasi::p2::Pollable for CappedSleep {
    fn ready<'a, 'b>(
        &'a mut self,
    ) -> std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send + 'b>>
    where
        'a: 'b,
        Self: 'b,
    {
        let until = self.until;
        Box::pin(async move {
            // Synchronous host: the guest is blocked in poll anyway.
            std::thread::sleep(until.saturating_duration_since(Instant::now()));
        })
    }
}

fn capped_sleep(
    state: &mut CallState,
    wait: Duration,
) -> wasmtime::Result<Resource<wasmtime_wasi::p2::DynPollable>> {
    let until = (Instant::now() + wait).min(state.deadline);
    let sleep = state.table.push(CappedSleep { until })?;
    wasmtime_wasi::p2::subscribe(&mut state.table, sleep)
}

/// The clocks a call sees. By default the monotonic clock starts at an
/// arbitrary point per call (it reveals neither the host's uptime nor the
/// time between calls) and both clocks tick in milliseconds.
#[derive(Clone, Copy)]
struct CallClock {
    start: Instant,
    origin: u64,
    tick: u64,
}

impl CallClock {
    fn new(precise: bool) -> CallClock {
        use std::hash::{BuildHasher, Hasher};
        let origin = if precise {
            0
        } else {
            // Somewhere in the first ~2^62 ns: arbitrary, far from overflow.
            let mut h = std::collections::hash_map::RandomState::new().build_hasher();
            h.write_u8(0);
            h.finish() >> 2
        };
        CallClock {
            start: if precise {
                process_start()
            } else {
                Instant::now()
            },
            origin,
            tick: if precise { 1 } else { 1_000_000 },
        }
    }

    fn coarse(&self, nanos: u64) -> u64 {
        nanos - nanos % self.tick
    }
}

fn process_start() -> Instant {
    static START: std::sync::OnceLock<Instant> = std::sync::OnceLock::new();
    *START.get_or_init(Instant::now)
}

impl wasmtime_wasi::HostMonotonicClock for CallClock {
    fn resolution(&self) -> u64 {
        self.tick
    }
    fn now(&self) -> u64 {
        self.coarse(self.origin + self.start.elapsed().as_nanos() as u64)
    }
}

impl wasmtime_wasi::HostWallClock for CallClock {
    fn resolution(&self) -> Duration {
        Duration::from_nanos(self.tick)
    }
    fn now(&self) -> Duration {
        let since = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default();
        Duration::from_nanos(self.coarse(since.as_nanos() as u64))
    }
}

/// The guest's stderr: the first [`STDERR_CAPTURE`] bytes are kept for a
/// failure report, the rest dropped without an error (a guest printing a
/// lot must not trap for it).
#[derive(Clone, Default)]
pub(crate) struct Capture(Arc<std::sync::Mutex<Vec<u8>>>);

impl Capture {
    /// What the guest wrote, up to the limit.
    pub(crate) fn contents(&self) -> Vec<u8> {
        self.0.lock().expect("capture poisoned").clone()
    }

    fn keep(&self, bytes: &[u8]) {
        let mut buf = self.0.lock().expect("capture poisoned");
        let room = STDERR_CAPTURE.saturating_sub(buf.len());
        buf.extend_from_slice(&bytes[..bytes.len().min(room)]);
    }
}

impl wasmtime_wasi::cli::IsTerminal for Capture {
    fn is_terminal(&self) -> bool {
        false
    }
}

impl wasmtime_wasi::cli::StdoutStream for Capture {
    fn async_stream(&self) -> Box<dyn tokio::io::AsyncWrite + Send + Sync> {
        Box::new(tokio::io::sink())
    }

    fn p2_stream(&self) -> Box<dyn wasmtime_wasi::p2::OutputStream> {
        Box::new(self.clone())
    }
}

impl wasmtime_wasi::p2::OutputStream for Capture {
    fn write(&mut self, bytes: bytes::Bytes) -> wasmtime_wasi::p2::StreamResult<()> {
        self.keep(&bytes);
        Ok(())
    }
    fn flush(&mut self) -> wasmtime_wasi::p2::StreamResult<()> {
        Ok(())
    }
    fn check_write(&mut self) -> wasmtime_wasi::p2::StreamResult<usize> {
        Ok(64 << 10)
    }
}

impl wasmtime_wasi::p2::Pollable for Capture {
    fn ready<'a, 'b>(
        &'a mut self,
    ) -> std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send + 'b>>
    where
        'a: 'b,
        Self: 'b,
    {
        Box::pin(async {})
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use wasmtime_wasi::{HostMonotonicClock, HostWallClock};

    #[test]
    fn each_call_has_its_own_coarse_clock_unless_precise() {
        let (a, b) = (CallClock::new(false), CallClock::new(false));
        let (ta, tb) = (HostMonotonicClock::now(&a), HostMonotonicClock::now(&b));
        assert_eq!(ta % 1_000_000, 0);
        assert_eq!(HostWallClock::now(&a).subsec_nanos() % 1_000_000, 0);
        // Origins are arbitrary: two calls' clocks are far apart (not the
        // host's uptime, not each other).
        assert!(ta.abs_diff(tb) > 1_000_000_000_000, "{ta} {tb}");
        let p = CallClock::new(true);
        assert_eq!(HostMonotonicClock::resolution(&p), 1);
        assert!(HostMonotonicClock::now(&p) < 1_000_000_000_000_000);
    }

    #[test]
    fn stderr_keeps_its_first_bytes_and_drops_the_rest_quietly() {
        use wasmtime_wasi::p2::OutputStream;
        let capture = Capture::default();
        let mut stream = capture.clone();
        for _ in 0..10 {
            stream.write(bytes::Bytes::from(vec![b'x'; 1000])).unwrap();
        }
        assert_eq!(capture.contents().len(), STDERR_CAPTURE);
    }
}
