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
use wasmtime_wasi::p2::pipe::MemoryOutputPipe;
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};

use crate::bridge::{Bridge, Effect};
use crate::manifest::Manifest;
use crate::storage::Txn;

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
    pub(crate) logs: Vec<(&'static str, String)>,
    pub(crate) dropped_logs: usize,
    /// Permissions the app lacked during this call, for the report.
    pub(crate) denied: Vec<&'static str>,
}

impl CallState {
    pub(crate) fn new(
        app: AppView,
        bridge: Arc<dyn Bridge>,
        limits: CallLimits,
        txn: Box<dyn Txn>,
        deadline: Instant,
        stderr: MemoryOutputPipe,
    ) -> Self {
        CallState {
            wasi: WasiCtx::builder()
                .stderr(stderr)
                .monotonic_clock(ProcessClock)
                .build(),
            table: ResourceTable::new(),
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
            logs: Vec::new(),
            dropped_logs: 0,
            denied: Vec::new(),
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
            let now = wasmtime_wasi::HostMonotonicClock::now(&ProcessClock);
            let wait = Duration::from_nanos(when.saturating_sub(now));
            Ok((capped_sleep(store.data_mut(), wait)?,))
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

/// The monotonic clock apps see: nanoseconds since the host process
/// started, so the host can turn a guest's instant back into a wait.
struct ProcessClock;

fn process_start() -> Instant {
    static START: std::sync::OnceLock<Instant> = std::sync::OnceLock::new();
    *START.get_or_init(Instant::now)
}

impl wasmtime_wasi::HostMonotonicClock for ProcessClock {
    fn resolution(&self) -> u64 {
        1
    }
    fn now(&self) -> u64 {
        process_start().elapsed().as_nanos() as u64
    }
}
