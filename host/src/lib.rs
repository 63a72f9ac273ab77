//! Hangar host: loads sandboxed WebAssembly apps (components targeting the
//! `hangar:app` world) and dispatches chat events to them.
//!
//! Every call runs in a fresh instance with a deadline and a memory cap;
//! every event handler runs in one transaction on the app's own store,
//! committed only when the handler returns Ok. The persistence writer
//! reaches an app only as a borrow passed into a handler; the reader is
//! available in every call.
//!
//! # Layout
//! The embedder's side:
//! - `host`: [`Host`], a facade over the services below; `builder`:
//!   [`HostBuilder`]; `config`: [`HostConfig`] and the operator's
//!   `config.json`; `bridge`: the [`Bridge`] a chat server implements;
//!   `report`: what calls return; `refchat`: a small reference chat.
//!
//! The services, one concept each:
//! - `apps`: the loaded apps, kept current cheaply, with each export's
//!   app list precomputed.
//! - `lifecycle`: install, update, uninstall, enable, disable, settings.
//! - `pipeline`: the message pipeline and slash commands, a file each.
//! - `call`: the call engine (prepare, invoke, settle); `exports`: the
//!   typed exports it calls; `sandbox`: what one call can reach;
//!   `accessors`: the imports' host side.
//! - `policy`: event classes, deadlines, fail-closed, fault and log guards.
//! - `storage`: backend, store and transaction traits; SQLite and
//!   in-memory backends. `sqlite`: helpers shared with the registry.
//! - `registry`: installed apps, statuses, settings, logs; `journal`: the
//!   background writer of logs and counters; `stats`: call counters.
//! - `engine`: the wasmtime engine, epoch ticker, compile cache;
//!   `bindings`: one module per frozen WIT version behind one interface;
//!   `manifest` and `package`: what an app says and how it is read.
//! - `workers`: the fan-out thread pool; `asynchronous` (feature
//!   `tokio`): `*_async` methods; `floor` (feature `bench`): the
//!   benchmarks' baseline.
//!
//! # Example
//! ```no_run
//! use std::sync::Arc;
//! use hangar_host::{HostBuilder, RefChat};
//!
//! let dir = std::path::Path::new("/tmp/hangar-example");
//! let chat = Arc::new(RefChat::open(dir)?);
//! let host = HostBuilder::new(dir).build(chat.clone())?;
//! host.install("karma.wasm".as_ref())?;
//! chat.ensure("general", "carol")?;
//! let report = host.send_message("general", "carol", "@dave++ thanks")?;
//! println!("{:?}", report.status);
//! # Ok::<(), hangar_host::Error>(())
//! ```

mod accessors;
mod apps;
mod bindings;
mod bridge;
mod build;
mod builder;
mod call;
mod config;
mod driver;
mod endpoint;
mod engine;
mod error;
mod exports;
mod host;
mod interact;
mod journal;
mod lifecycle;
mod manifest;
mod migrate;
mod outbound;
mod package;
mod pg;
mod pipeline;
mod policy;
mod refchat;
mod registry;
mod report;
mod rich;
mod sandbox;
mod sqlite;
mod stats;
mod storage;
mod workers;

#[cfg(feature = "tokio")]
mod asynchronous;
#[cfg(feature = "bench")]
mod floor;
#[cfg(any(test, feature = "testkit"))]
pub mod test_postgres;
#[cfg(feature = "testkit")]
pub mod testkit;

pub use apps::{
    CHECK_INTERVAL as REGISTRY_CHECK_INTERVAL,
    REMOTE_POLL_INTERVAL as REGISTRY_REMOTE_POLL_INTERVAL,
};
pub use bridge::{
    Accessory, Attachment, AttachmentField, Block, BlockKind, Bridge, Button, ButtonStyle,
    ChatEvent, Choice, Content, ContextElement, DatePicker, Effect, Element, EventKind, Image,
    InputBlock, InputElement, Interactive, Message, OverflowMenu, Room, RoomKind, StaticSelect,
    Text, TextInput, User, View, ViewKind, bot_user_id, interactive,
};
pub use build::{Built as BuiltApp, TARGET as GUEST_TARGET, build_app};
pub use builder::HostBuilder;
pub use config::HostConfig;
pub use driver::{Done, Driver};
pub use endpoint::{EndpointOutcome, HttpRequest, HttpResponse};
pub use engine::InstanceLimits;
pub use error::{Error, Result};
pub use host::{Delivery, Host};
pub use interact::{FieldError, InputValue, Interaction, InteractionReport};
pub use manifest::{
    API_VERSION, ActionButtonSpec, ButtonContext, CommandSpec, EndpointAuth, EndpointSpec, Event,
    Manifest, Permission, ProcessorSpec, SUPPORTED_API_VERSIONS, SettingSpec, SettingType,
    StartupJob, validate_app_id,
};
pub use migrate::{MigrateReport, MigrateStatus, MigratedApp, migrate_to_postgres};
pub use package::Package;
pub use pipeline::jobs::{JobOutcome, JobRun};
pub use policy::{Deadlines, ErrorDisable, EventClass};
pub use refchat::{Ensured, RefChat, StoredMessage};
pub use registry::{CallStats, LOG_MAX_AGE, LOG_RETENTION, LogEntry, Status};
pub use report::{
    AppInfo, AppReport, AppSummary, CommandReport, ErrorKind, EventReport, FailureKind, Outcome,
    PreviewItem, SendReport, SendStatus,
};
pub use storage::{
    Association, Durability, JobOp, JobRow, Limits, Model, Record, RetryPolicy, new_record_id,
};

/// What the benchmarks need beyond the embedding API (feature `bench`):
/// the bare floor and direct access to SQLite and PostgreSQL app stores.
#[cfg(feature = "bench")]
pub mod bench {
    pub use crate::floor::Floor;
    pub use crate::storage::postgres::PgBackend;
    pub use crate::storage::sqlite::{SqliteBackend, SqliteStore, SqliteTxn};
    pub use crate::storage::{Backend, Mode, Records, Store, Txn};
}
