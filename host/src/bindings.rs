//! The only place that runs `bindgen!`. The generated code stays in the
//! private `generated` module; the rest of the crate uses the small API
//! below (conversions and the per-call [`CallState`]).

use std::collections::HashMap;
use std::sync::Arc;

use wasmtime::component::{HasSelf, Resource, ResourceTable};
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};

use crate::bridge::{Bridge, Effect, Message};
use crate::manifest::Manifest;
use crate::persistence::{Association, Model, Record, StoreError, Txn};

pub(crate) mod generated {
    #![allow(missing_docs)]
    wasmtime::component::bindgen!({
        path: "../wit",
        world: "app",
        imports: { default: trappable },
        with: {
            "hangar:app/persistence.writer": super::WriterToken,
            "hangar:app/modify.modifier": super::ModifierToken,
        },
    });
}

pub(crate) use generated::exports::hangar::app::commands::CommandContext;
pub(crate) use generated::hangar::app::types as wit;
pub(crate) use generated::{App as AppBindings, AppPre};

/// Host-side marker for the borrowed `writer`: the call state holds the
/// transaction; the token only proves the guest was handed one.
pub struct WriterToken;
/// Host-side marker for the borrowed `modifier`.
pub struct ModifierToken;

/// A log line an app wrote during a call.
#[derive(Debug, Clone)]
pub(crate) struct AppLog {
    pub(crate) level: &'static str,
    pub(crate) message: String,
}

/// Everything one call of one app can reach: the store data of a fresh
/// `Store`, thrown away after the call.
pub(crate) struct CallState {
    pub(crate) wasi: WasiCtx,
    pub(crate) table: ResourceTable,
    pub(crate) limits: CallLimiter,
    pub(crate) manifest: Arc<Manifest>,
    pub(crate) settings: Arc<HashMap<String, serde_json::Value>>,
    pub(crate) bridge: Arc<dyn Bridge>,
    /// When the call's deadline passes.
    pub(crate) deadline: std::time::Instant,
    /// Reads go through this, so a handler reads its own writes.
    pub(crate) txn: Txn,
    /// True only while an event handler holding the writer runs.
    pub(crate) writer_live: bool,
    /// Effects buffered until the transaction commits.
    pub(crate) effects: Vec<Effect>,
    pub(crate) logs: Vec<AppLog>,
    /// Permissions the app lacked during this call, for the report.
    pub(crate) denied: Vec<&'static str>,
    /// Largest string an app may pass to a host call.
    pub(crate) max_argument_bytes: usize,
    /// Log lines kept per call; the rest are counted and dropped.
    pub(crate) max_logs_per_call: usize,
    pub(crate) dropped_logs: usize,
}

/// `StoreLimits` plus a note of whether a limit was hit, so a trap that
/// follows a refused `memory.grow` is reported as the memory cap.
pub(crate) struct CallLimiter {
    pub(crate) inner: wasmtime::StoreLimits,
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

/// Register the app world's imports (and WASI, with nothing granted).
pub(crate) fn add_to_linker(
    linker: &mut wasmtime::component::Linker<CallState>,
) -> wasmtime::Result<()> {
    wasmtime_wasi::p2::add_to_linker_sync(linker)?;
    AppBindings::add_to_linker::<CallState, HasSelf<CallState>>(linker, |s| s)?;
    // A guest sleep blocks in the host, where epochs cannot interrupt it:
    // cap every clock subscription at the call's deadline.
    linker.allow_shadowing(true);
    let mut clock = linker.instance("wasi:clocks/monotonic-clock@0.2.12")?;
    clock.func_wrap(
        "subscribe-duration",
        |mut store: wasmtime::StoreContextMut<'_, CallState>, (nanos,): (u64,)| {
            let wait = std::time::Duration::from_nanos(nanos);
            Ok((capped_sleep(store.data_mut(), wait)?,))
        },
    )?;
    clock.func_wrap(
        "subscribe-instant",
        |mut store: wasmtime::StoreContextMut<'_, CallState>, (when,): (u64,)| {
            let state = store.data_mut();
            let now = state.wasi_monotonic_now();
            let wait = std::time::Duration::from_nanos(when.saturating_sub(now));
            Ok((capped_sleep(state, wait)?,))
        },
    )?;
    linker.allow_shadowing(false);
    Ok(())
}

/// A sleep that ends no later than the call's deadline.
struct CappedSleep {
    until: std::time::Instant,
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
            std::thread::sleep(until.saturating_duration_since(std::time::Instant::now()));
        })
    }
}

fn capped_sleep(
    state: &mut CallState,
    wait: std::time::Duration,
) -> wasmtime::Result<Resource<wasmtime_wasi::p2::DynPollable>> {
    let until = (std::time::Instant::now() + wait).min(state.deadline);
    let sleep = state.table.push(CappedSleep { until })?;
    wasmtime_wasi::p2::subscribe(&mut state.table, sleep)
}

/// The monotonic clock apps see: nanoseconds since the host process
/// started, so the host can turn a guest's instant back into a wait.
pub(crate) struct ProcessClock;

fn process_start() -> std::time::Instant {
    static START: std::sync::OnceLock<std::time::Instant> = std::sync::OnceLock::new();
    *START.get_or_init(std::time::Instant::now)
}

impl wasmtime_wasi::HostMonotonicClock for ProcessClock {
    fn resolution(&self) -> u64 {
        1
    }
    fn now(&self) -> u64 {
        process_start().elapsed().as_nanos() as u64
    }
}

impl CallState {
    fn wasi_monotonic_now(&mut self) -> u64 {
        wasmtime_wasi::HostMonotonicClock::now(&ProcessClock)
    }
}

impl From<wit::Model> for Model {
    fn from(m: wit::Model) -> Model {
        match m {
            wit::Model::Room => Model::Room,
            wit::Model::Discussion => Model::Discussion,
            wit::Model::Message => Model::Message,
            wit::Model::LivechatMessage => Model::LivechatMessage,
            wit::Model::User => Model::User,
            wit::Model::File => Model::File,
            wit::Model::Misc => Model::Misc,
            wit::Model::VideoConference => Model::VideoConference,
        }
    }
}

impl From<Model> for wit::Model {
    fn from(m: Model) -> wit::Model {
        match m {
            Model::Room => wit::Model::Room,
            Model::Discussion => wit::Model::Discussion,
            Model::Message => wit::Model::Message,
            Model::LivechatMessage => wit::Model::LivechatMessage,
            Model::User => wit::Model::User,
            Model::File => wit::Model::File,
            Model::Misc => wit::Model::Misc,
            Model::VideoConference => wit::Model::VideoConference,
        }
    }
}

pub(crate) fn from_wit_associations(list: Vec<wit::Association>) -> Vec<Association> {
    list.into_iter()
        .map(|a| Association {
            model: a.model.into(),
            id: a.id,
        })
        .collect()
}

pub(crate) fn to_wit_record(r: Record) -> wit::Stored {
    wit::Stored {
        id: r.id,
        data: r.data,
        associations: r
            .associations
            .into_iter()
            .map(|a| wit::Association {
                model: a.model.into(),
                id: a.id,
            })
            .collect(),
    }
}

pub(crate) fn to_wit_error(e: StoreError) -> wit::Error {
    match e {
        StoreError::Invalid(m) => wit::Error::Invalid(m),
        StoreError::TooLarge(m) => wit::Error::TooLarge(m),
        StoreError::QuotaExceeded(m) => wit::Error::QuotaExceeded(m),
        StoreError::NotFound(m) => wit::Error::NotFound(m),
        StoreError::Busy(m) | StoreError::Unavailable(m) => wit::Error::Host(m),
        StoreError::Backend(e) => wit::Error::Host(format!("storage failed: {e}")),
    }
}

pub(crate) fn to_wit_message(m: &Message) -> wit::Message {
    wit::Message {
        id: m.id.clone(),
        room: m.room.clone(),
        sender: m.sender.clone(),
        text: m.text.clone(),
        custom_fields: serde_json::Value::Object(m.custom_fields.clone()).to_string(),
        timestamp: m.timestamp,
    }
}

/// Take back a message an app returned, refusing changes it may not make.
pub(crate) fn from_wit_message(
    original: &Message,
    m: wit::Message,
    max_bytes: usize,
) -> Result<Message, String> {
    if m.text.len() > max_bytes || m.custom_fields.len() > max_bytes {
        return Err(format!(
            "the returned message is larger than the limit of {max_bytes} bytes"
        ));
    }
    if m.room != original.room || m.sender != original.sender || m.id != original.id {
        return Err(
            "a modify handler may change the text and custom fields only, not id, room or sender"
                .into(),
        );
    }
    let custom_fields = match serde_json::from_str::<serde_json::Value>(&m.custom_fields) {
        Ok(serde_json::Value::Object(map)) => map,
        _ => return Err("custom-fields must be a JSON object".into()),
    };
    Ok(Message {
        id: m.id,
        room: m.room,
        sender: m.sender,
        text: m.text,
        custom_fields,
        timestamp: original.timestamp,
    })
}
