//! Hangar host: loads sandboxed WebAssembly apps (components targeting the
//! `hangar:app` world) and dispatches chat events to them.
//!
//! Every call runs in a fresh instance with a deadline and a memory cap;
//! every event handler runs in one transaction on the app's own SQLite
//! store, committed only when the handler returns Ok. The persistence writer
//! reaches an app only as a borrow passed into a handler; the reader is
//! available in every call.
//!
//! # Layout
//! - [`engine`]: the shared wasmtime engine, epoch ticker, compile cache.
//! - [`manifest`]: the app manifest and its validation.
//! - [`package`]: reading a `.wasm` package and its embedded manifest.
//! - `bindings`: the only `bindgen!`; private.
//! - `accessors`: the host side of the imports (reader, writer, modifier, log); private.
//! - [`persistence`]: the record store trait and its SQLite backend.
//! - [`dispatch`]: calls, transactions, the event pipelines and reports.
//! - [`config`]: [`HostConfig`], policies, the operator's `config.json`.
//! - `guard`: fault window (disabled by error) and log rate limit; private.
//! - [`registry`]: installed apps, statuses, settings, logs.
//! - [`host`]: [`Host`] and [`HostBuilder`], the embedding API.
//! - [`bridge`]: the trait an embedding chat server implements.
//! - [`builder`]: building app crates to validated packages.
//! - [`refchat`]: a small reference chat stored in the data dir.
//! - `cli` (feature `cli`): the `hangar` command.
//! - `asynchronous` (feature `tokio`): `send_async` / `command_async`.
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

pub mod bridge;
pub mod builder;
pub mod config;
pub mod dispatch;
pub mod engine;
pub mod error;
pub mod host;
pub mod manifest;
pub mod package;
pub mod persistence;
pub mod refchat;
pub mod registry;

mod accessors;
mod bindings;
#[doc(hidden)]
pub mod floor;
mod guard;

#[cfg(feature = "cli")]
pub mod cli;

#[cfg(feature = "tokio")]
pub mod asynchronous;

pub use bridge::{Bridge, Effect, Message, Room, User};
pub use config::{ErrorDisable, HostConfig};
pub use dispatch::{
    AppReport, CommandReport, Deadlines, EventClass, FailureKind, Outcome, PreviewItem, SendReport,
    SendStatus,
};
pub use engine::InstanceLimits;
pub use error::{Error, Result};
pub use host::{AppInfo, AppSummary, Host, HostBuilder};
pub use manifest::{API_VERSION, Manifest, Permission};
pub use package::Package;
pub use persistence::{Association, Durability, Limits, Model, Record};
pub use refchat::RefChat;
pub use registry::{CallStats, LogEntry, Status};
