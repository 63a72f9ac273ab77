//! Host configuration: what an embedder sets with [`HostBuilder`](crate::HostBuilder)
//! and what an operator sets in `<data_dir>/config.json`.
//!
//! ```json
//! {
//!   "deadlines-ms": { "pre-message": 300, "post-message": 2000 },
//!   "app-deadlines-ms": { "karma": { "post-message": 100 } },
//!   "fail-closed": ["pre-message"],
//!   "error-disable": { "max-faults": 5, "window-ms": 60000 },
//!   "storage": { "max-record-bytes": 1048576, "max-records-per-call": 10000,
//!                "max-storage-bytes": 268435456, "max-result-bytes": 8388608 },
//!   "max-memory-bytes": 67108864,
//!   "durability": "full",
//!   "log-lines-per-minute": 600,
//!   "max-effects-per-call": 100,
//!   "max-effect-bytes-per-call": 1048576,
//!   "precise-clocks": false,
//!   "outbound-allow-private": false,
//!   "outbound-hosts": { "webhook": ["https://status.example.org"] },
//!   "max-fetch-response-bytes": 4194304,
//!   "max-http-body-bytes": 1048576,
//!   "store": "postgres://hangar@db.internal/hangar",
//!   "max-connections": 16
//! }
//! ```
//! Every field is optional, the fields of `storage` too; what is missing
//! keeps its default.

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;

use crate::engine::InstanceLimits;
use crate::error::{Error, Result};
use crate::policy::{Deadlines, ErrorDisable, EventClass};
use crate::storage::{Durability, Limits};

/// Everything an operator can tune: with [`HostBuilder`](crate::HostBuilder),
/// or in `<data_dir>/config.json` ([`HostConfig::load`]), for example:
///
/// ```json
/// {
///   "deadlines-ms": { "pre-message": 300, "post-message": 2000 },
///   "app-deadlines-ms": { "karma": { "post-message": 100 } },
///   "fail-closed": ["pre-message"],
///   "error-disable": { "max-faults": 5, "window-ms": 60000 },
///   "storage": { "max-record-bytes": 1048576, "max-records-per-call": 10000,
///                "max-storage-bytes": 268435456, "max-result-bytes": 8388608 },
///   "max-memory-bytes": 67108864,
///   "durability": "full",
///   "log-lines-per-minute": 600,
///   "max-effects-per-call": 100,
///   "max-effect-bytes-per-call": 1048576,
///   "precise-clocks": false
/// }
/// ```
///
/// Every field is optional, the fields of `storage` too; what is missing
/// keeps its default. `hangar config` prints the effective values.
#[derive(Debug, Clone)]
pub struct HostConfig {
    /// Where the registry, app packages, stores and compile cache live.
    pub data_dir: PathBuf,
    /// Compile cache directory (default `<data_dir>/cache`).
    pub cache_dir: Option<PathBuf>,
    /// Per-app storage limits.
    pub storage: Limits,
    /// Per-instance caps.
    pub instance: InstanceLimits,
    /// Per-class call deadlines.
    pub deadlines: Deadlines,
    /// Per-app deadline overrides.
    pub app_deadlines: HashMap<String, HashMap<EventClass, Duration>>,
    /// Event classes that fail closed: a failed or timed-out app blocks the
    /// action (only pre-message events can be blocked; the others have
    /// already happened or report their failure anyway).
    pub fail_closed: HashSet<EventClass>,
    /// When repeated faults disable an app.
    pub error_disable: ErrorDisable,
    /// Commit durability.
    pub durability: Durability,
    /// How long a write waits for another's lock, at most (a call's own
    /// deadline is the tighter bound inside handlers).
    pub busy_timeout: Duration,
    /// Largest string argument to a host call, and largest message text
    /// (records have their own limit).
    pub max_argument_bytes: usize,
    /// Log lines kept per call.
    pub max_logs_per_call: usize,
    /// Messages and notifications one call may queue.
    pub max_effects_per_call: usize,
    /// Bytes (texts, rooms, users) one call's effects may hold in all.
    pub max_effect_bytes_per_call: usize,
    /// Give apps nanosecond clocks counting from a fixed origin; by default
    /// each call's monotonic clock starts at an arbitrary origin and both
    /// clocks tick in milliseconds (no host uptime, no timing side channel
    /// finer than 1 ms).
    pub precise_clocks: bool,
    /// Log lines kept per app per minute; the rest are counted and dropped.
    pub log_lines_per_minute: u32,
    /// Threads for post-event fan-out.
    pub workers: usize,
    /// Let apps' outbound requests reach loopback, private, link-local and
    /// metadata addresses (refused by default).
    pub outbound_allow_private: bool,
    /// Per app, the operator's narrowing of its manifest's `allowed-hosts`:
    /// a request must match both lists.
    pub outbound_hosts: HashMap<String, Vec<String>>,
    /// Largest outbound response body an app may receive.
    pub max_fetch_response_bytes: usize,
    /// Largest HTTP endpoint request or response body.
    pub max_http_body_bytes: usize,
    /// How long a runner's claim on a job outlasts the job's deadline (the
    /// grace): a healthy run never loses its claim; a killed or paused
    /// runner's job is taken over once deadline and grace have passed.
    pub job_lease: Duration,
    /// How failed job runs are retried.
    pub job_retry: crate::storage::RetryPolicy,
    /// Where app stores, the registry and jobs live: `None` for SQLite
    /// files in the data dir (the embedded default), or a PostgreSQL
    /// connection string (`postgres://user:password@host/database`) that
    /// hosts on several machines share; the data dir then holds only
    /// caches.
    pub store: Option<String>,
    /// Most connections to the PostgreSQL store this host holds at once.
    pub max_connections: u32,
}

impl HostConfig {
    /// Defaults for `data_dir`.
    pub fn new(data_dir: impl Into<PathBuf>) -> Self {
        HostConfig {
            data_dir: data_dir.into(),
            cache_dir: None,
            storage: Limits::default(),
            instance: InstanceLimits::default(),
            deadlines: Deadlines::default(),
            app_deadlines: HashMap::new(),
            fail_closed: HashSet::new(),
            error_disable: ErrorDisable::default(),
            durability: Durability::Normal,
            busy_timeout: Duration::from_secs(5),
            max_argument_bytes: 64 << 10,
            max_logs_per_call: 100,
            max_effects_per_call: 100,
            max_effect_bytes_per_call: 1 << 20,
            precise_clocks: false,
            log_lines_per_minute: 600,
            workers: std::thread::available_parallelism().map_or(2, |n| n.get()),
            outbound_allow_private: false,
            outbound_hosts: HashMap::new(),
            max_fetch_response_bytes: 4 << 20,
            max_http_body_bytes: 1 << 20,
            job_lease: Duration::from_secs(5),
            job_retry: crate::storage::RetryPolicy::default(),
            store: None,
            max_connections: 16,
        }
    }

    /// Defaults for `data_dir`, overlaid with `<data_dir>/config.json` if
    /// it exists.
    pub fn load(data_dir: impl Into<PathBuf>) -> Result<Self> {
        let mut config = HostConfig::new(data_dir);
        let path = config.data_dir.join("config.json");
        if path.exists() {
            let text = std::fs::read_to_string(&path)
                .map_err(|e| Error::io(format!("reading {}", path.display()), e))?;
            let file: OperatorConfig = serde_json::from_str(&text).map_err(|e| {
                Error::InvalidInput(format!(
                    "{}: {e}; see `hangar config --help`",
                    path.display()
                ))
            })?;
            file.apply(&mut config, &path)?;
        }
        Ok(config)
    }

    /// Set where data lives from an operator's string: `sqlite` (files in
    /// the data dir) or a PostgreSQL connection string. A bad string is an
    /// error that says what to write.
    pub fn set_store(&mut self, store: &str) -> Result<()> {
        self.store = parse_store(store).map_err(Error::InvalidInput)?;
        Ok(())
    }

    /// The deadline of `class` for `app`.
    pub fn deadline(&self, app: &str, class: EventClass) -> Duration {
        self.app_deadlines
            .get(app)
            .and_then(|m| m.get(&class))
            .copied()
            .unwrap_or_else(|| self.deadlines.of(class))
    }

    /// Whether a failure in `class` blocks the action.
    pub fn fails_closed(&self, class: EventClass) -> bool {
        self.fail_closed.contains(&class)
    }

    /// The configuration as operator JSON (what `hangar config` prints).
    pub fn to_json(&self) -> serde_json::Value {
        let ms = |d: Duration| d.as_millis() as u64;
        let deadlines: serde_json::Map<String, serde_json::Value> = EventClass::ALL
            .iter()
            .map(|c| (c.name().to_string(), ms(self.deadlines.of(*c)).into()))
            .collect();
        let apps: serde_json::Map<String, serde_json::Value> = self
            .app_deadlines
            .iter()
            .map(|(app, m)| {
                let per: serde_json::Map<String, serde_json::Value> = m
                    .iter()
                    .map(|(c, d)| (c.name().to_string(), ms(*d).into()))
                    .collect();
                (app.clone(), per.into())
            })
            .collect();
        let mut closed: Vec<&str> = self.fail_closed.iter().map(|c| c.name()).collect();
        closed.sort();
        serde_json::json!({
            "data-dir": self.data_dir,
            "deadlines-ms": deadlines,
            "app-deadlines-ms": apps,
            "fail-closed": closed,
            "error-disable": { "max-faults": self.error_disable.max_faults, "window-ms": ms(self.error_disable.window) },
            "storage": self.storage,
            "max-memory-bytes": self.instance.max_memory_bytes,
            "durability": self.durability,
            "busy-timeout-ms": ms(self.busy_timeout),
            "max-argument-bytes": self.max_argument_bytes,
            "log-lines-per-minute": self.log_lines_per_minute,
            "max-effects-per-call": self.max_effects_per_call,
            "max-effect-bytes-per-call": self.max_effect_bytes_per_call,
            "precise-clocks": self.precise_clocks,
            "outbound-allow-private": self.outbound_allow_private,
            "outbound-hosts": self.outbound_hosts,
            "max-fetch-response-bytes": self.max_fetch_response_bytes,
            "max-http-body-bytes": self.max_http_body_bytes,
            "job-lease-ms": ms(self.job_lease),
            "job-max-attempts": self.job_retry.max_attempts,
            "job-backoff-ms": self.job_retry.backoff_ms,
            "store": self.store.as_deref().map(crate::pg::redact).unwrap_or_else(|| "sqlite".into()),
            "max-connections": self.max_connections,
        })
    }
}

/// Parse an operator's store: `sqlite` (the data dir's files) or a
/// PostgreSQL connection string.
pub(crate) fn parse_store(store: &str) -> std::result::Result<Option<String>, String> {
    let store = store.trim();
    if store == "sqlite" || store.is_empty() {
        return Ok(None);
    }
    if store.starts_with("postgres://")
        || store.starts_with("postgresql://")
        || store.contains("host=")
        || store.contains("dbname=")
    {
        crate::pg::PgConfig::parse(store, 2).map_err(|e| e.to_string())?;
        return Ok(Some(store.to_string()));
    }
    Err(format!(
        "'{}' is neither `sqlite` nor a PostgreSQL connection string (postgres://user:password@host:port/database)",
        crate::pg::redact(store)
    ))
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct OperatorConfig {
    #[serde(default)]
    deadlines_ms: HashMap<String, u64>,
    #[serde(default)]
    app_deadlines_ms: HashMap<String, HashMap<String, u64>>,
    #[serde(default)]
    fail_closed: Vec<String>,
    error_disable: Option<ErrorDisableFile>,
    storage: Option<Limits>,
    max_memory_bytes: Option<usize>,
    durability: Option<Durability>,
    busy_timeout_ms: Option<u64>,
    max_argument_bytes: Option<usize>,
    log_lines_per_minute: Option<u32>,
    max_effects_per_call: Option<usize>,
    max_effect_bytes_per_call: Option<usize>,
    precise_clocks: Option<bool>,
    outbound_allow_private: Option<bool>,
    #[serde(default)]
    outbound_hosts: HashMap<String, Vec<String>>,
    max_fetch_response_bytes: Option<usize>,
    max_http_body_bytes: Option<usize>,
    job_lease_ms: Option<u64>,
    job_max_attempts: Option<u32>,
    job_backoff_ms: Option<u64>,
    store: Option<String>,
    max_connections: Option<u32>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct ErrorDisableFile {
    max_faults: u32,
    window_ms: u64,
}

fn class(name: &str, path: &Path) -> Result<EventClass> {
    EventClass::parse(name).ok_or_else(|| {
        Error::InvalidInput(format!(
            "{}: unknown event class '{name}'; use pre-message, post-message, command, lifecycle, settings, http or job",
            path.display()
        ))
    })
}

fn positive(ms: u64, what: &str, path: &Path) -> Result<Duration> {
    if ms == 0 {
        return Err(Error::InvalidInput(format!(
            "{}: {what} must be more than 0 ms",
            path.display()
        )));
    }
    Ok(Duration::from_millis(ms))
}

impl OperatorConfig {
    fn apply(self, config: &mut HostConfig, path: &Path) -> Result<()> {
        for (name, ms) in self.deadlines_ms {
            let c = class(&name, path)?;
            config
                .deadlines
                .set(c, positive(ms, &format!("deadlines-ms.{name}"), path)?);
        }
        for (app, per) in self.app_deadlines_ms {
            for (name, ms) in per {
                let c = class(&name, path)?;
                let d = positive(ms, &format!("app-deadlines-ms.{app}.{name}"), path)?;
                config
                    .app_deadlines
                    .entry(app.clone())
                    .or_default()
                    .insert(c, d);
            }
        }
        for name in self.fail_closed {
            config.fail_closed.insert(class(&name, path)?);
        }
        if let Some(e) = self.error_disable {
            config.error_disable = ErrorDisable {
                max_faults: e.max_faults.max(1),
                window: positive(e.window_ms, "error-disable.window-ms", path)?,
            };
        }
        if let Some(s) = self.storage {
            config.storage = s;
        }
        if let Some(m) = self.max_memory_bytes {
            config.instance.max_memory_bytes = m;
        }
        if let Some(store) = self.store {
            config.store = parse_store(&store)
                .map_err(|e| Error::InvalidInput(format!("{}: store: {e}", path.display())))?;
        }
        if let Some(n) = self.max_connections {
            if n < 2 {
                return Err(Error::InvalidInput(format!(
                    "{}: max-connections must be 2 or more",
                    path.display()
                )));
            }
            config.max_connections = n;
        }
        if let Some(d) = self.durability {
            config.durability = d;
        }
        if let Some(ms) = self.busy_timeout_ms {
            config.busy_timeout = positive(ms, "busy-timeout-ms", path)?;
        }
        if let Some(b) = self.max_argument_bytes {
            config.max_argument_bytes = b;
        }
        if let Some(n) = self.log_lines_per_minute {
            config.log_lines_per_minute = n;
        }
        if let Some(n) = self.max_effects_per_call {
            config.max_effects_per_call = n;
        }
        if let Some(b) = self.outbound_allow_private {
            config.outbound_allow_private = b;
        }
        for (app, hosts) in &self.outbound_hosts {
            for h in hosts {
                crate::outbound::HostPattern::parse(h).map_err(|why| {
                    Error::InvalidInput(format!("{}: outbound-hosts.{app}: {why}", path.display()))
                })?;
            }
        }
        config.outbound_hosts.extend(self.outbound_hosts);
        if let Some(n) = self.max_fetch_response_bytes {
            config.max_fetch_response_bytes = n;
        }
        if let Some(n) = self.max_http_body_bytes {
            config.max_http_body_bytes = n;
        }
        if let Some(ms) = self.job_lease_ms {
            config.job_lease = positive(ms, "job-lease-ms", path)?;
        }
        if let Some(n) = self.job_max_attempts {
            config.job_retry.max_attempts = n.max(1);
        }
        if let Some(ms) = self.job_backoff_ms {
            config.job_retry.backoff_ms = ms;
        }
        if let Some(n) = self.max_effect_bytes_per_call {
            config.max_effect_bytes_per_call = n;
        }
        if let Some(p) = self.precise_clocks {
            config.precise_clocks = p;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn operator_file_overlays_defaults_and_names_bad_fields() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("config.json"),
            r#"{"deadlines-ms": {"pre-message": 300}, "app-deadlines-ms": {"karma": {"post-message": 50}},
                "fail-closed": ["pre-message"], "durability": "full"}"#,
        )
        .unwrap();
        let c = HostConfig::load(dir.path()).unwrap();
        assert_eq!(
            c.deadline("x", EventClass::PreMessage),
            Duration::from_millis(300)
        );
        assert_eq!(
            c.deadline("karma", EventClass::PostMessage),
            Duration::from_millis(50)
        );
        assert_eq!(
            c.deadline("x", EventClass::PostMessage),
            Deadlines::default().post_message
        );
        assert!(c.fails_closed(EventClass::PreMessage));
        assert_eq!(c.durability, Durability::Full);

        std::fs::write(
            dir.path().join("config.json"),
            r#"{"deadlines-ms": {"pre-mesage": 300}}"#,
        )
        .unwrap();
        let err = HostConfig::load(dir.path()).unwrap_err().to_string();
        assert!(err.contains("pre-mesage"), "{err}");
        // One storage field alone keeps the others' defaults.
        std::fs::write(
            dir.path().join("config.json"),
            r#"{"storage": {"max-storage-bytes": 1048576}}"#,
        )
        .unwrap();
        let c = HostConfig::load(dir.path()).unwrap();
        assert_eq!(c.storage.max_storage_bytes, 1 << 20);
        assert_eq!(
            c.storage.max_record_bytes,
            Limits::default().max_record_bytes
        );
        std::fs::write(dir.path().join("config.json"), r#"{"deadline": 1}"#).unwrap();
        let err = HostConfig::load(dir.path()).unwrap_err().to_string();
        assert!(err.contains("deadline"), "{err}");
    }
}
