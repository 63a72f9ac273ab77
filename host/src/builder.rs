//! [`HostBuilder`]: the embedder's configuration, then [`HostBuilder::build`]
//! opens the data directory and composes the host's services.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use crate::bridge::Bridge;
use crate::config::HostConfig;
use crate::engine::InstanceLimits;
use crate::error::Result;
use crate::host::Host;
use crate::policy::{ErrorDisable, EventClass};
use crate::storage::{Durability, Limits};

/// Builds a [`Host`].
///
/// ```no_run
/// # use hangar_host::{HostBuilder, RefChat};
/// # use std::sync::Arc;
/// let chat = Arc::new(RefChat::open("/tmp/hangar-data".as_ref())?);
/// let host = HostBuilder::new("/tmp/hangar-data")
///     .deadline(hangar_host::EventClass::PreMessage, std::time::Duration::from_millis(200))
///     .build(chat)?;
/// # Ok::<(), hangar_host::Error>(())
/// ```
#[derive(Debug, Clone)]
pub struct HostBuilder {
    config: HostConfig,
}

impl HostBuilder {
    /// Start from defaults with the given data directory.
    pub fn new(data_dir: impl Into<PathBuf>) -> Self {
        HostBuilder {
            config: HostConfig::new(data_dir),
        }
    }

    /// Start from defaults overlaid with the operator's
    /// `<data_dir>/config.json` (see [`HostConfig`], whose docs show the file).
    pub fn with_operator_config(data_dir: impl Into<PathBuf>) -> Result<Self> {
        Ok(HostBuilder {
            config: HostConfig::load(data_dir)?,
        })
    }

    /// Start from a full configuration.
    pub fn from_config(config: HostConfig) -> Self {
        HostBuilder { config }
    }

    /// Keep compiled components here instead of `<data_dir>/cache`.
    pub fn cache_dir(mut self, dir: impl Into<PathBuf>) -> Self {
        self.config.cache_dir = Some(dir.into());
        self
    }

    /// Set the deadline of one event class.
    pub fn deadline(mut self, class: EventClass, deadline: Duration) -> Self {
        self.config.deadlines.set(class, deadline);
        self
    }

    /// Set one app's deadline for one event class.
    pub fn app_deadline(mut self, app: &str, class: EventClass, deadline: Duration) -> Self {
        self.config
            .app_deadlines
            .entry(app.to_string())
            .or_default()
            .insert(class, deadline);
        self
    }

    /// Make failures in `class` block the action (fail closed).
    pub fn fail_closed(mut self, class: EventClass) -> Self {
        self.config.fail_closed.insert(class);
        self
    }

    /// How many faults within what window disable an app.
    pub fn error_disable(mut self, policy: ErrorDisable) -> Self {
        self.config.error_disable = policy;
        self
    }

    /// Per-app storage limits.
    pub fn storage_limits(mut self, limits: Limits) -> Self {
        self.config.storage = limits;
        self
    }

    /// Per-instance caps.
    pub fn instance_limits(mut self, limits: InstanceLimits) -> Self {
        self.config.instance = limits;
        self
    }

    /// Keep app stores, the registry and jobs in the PostgreSQL database at
    /// `url` (`postgres://user:password@host:port/database`), shared by
    /// hosts on several machines, instead of SQLite files in the data dir
    /// (which then holds only caches).
    pub fn postgres(mut self, url: &str) -> Self {
        self.config.store = Some(url.to_string());
        self
    }

    /// Hold at most `n` (2 or more) connections to the PostgreSQL store.
    pub fn max_connections(mut self, n: u32) -> Self {
        self.config.max_connections = n.max(2);
        self
    }

    /// Commit durability.
    pub fn durability(mut self, durability: Durability) -> Self {
        self.config.durability = durability;
        self
    }

    /// Threads used for post-event fan-out.
    pub fn workers(mut self, workers: usize) -> Self {
        self.config.workers = workers.max(1);
        self
    }

    /// Let apps' outbound requests reach loopback, private, link-local and
    /// metadata addresses (refused by default).
    pub fn outbound_allow_private(mut self, allow: bool) -> Self {
        self.config.outbound_allow_private = allow;
        self
    }

    /// Narrow app `app`'s outbound requests to `hosts` (patterns like the
    /// manifest's `allowed-hosts`; a request must match both).
    pub fn outbound_hosts(mut self, app: &str, hosts: &[&str]) -> Self {
        self.config.outbound_hosts.insert(
            app.to_string(),
            hosts.iter().map(|h| h.to_string()).collect(),
        );
        self
    }

    /// Open the data directory and load every installed app, over `bridge`.
    pub fn build(self, bridge: Arc<dyn Bridge>) -> Result<Host> {
        Host::open(self.config, bridge)
    }
}
