//! The embedding API: [`Host`], built from a [`HostBuilder`], shared with
//! `Arc` (it is `Send + Sync`), called at each chat event.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use wasmtime::component::Linker;

use crate::bindings::{AppPre, CallState};
use crate::bridge::{Bridge, Message};
use crate::config::HostConfig;
use crate::dispatch::{AppReport, CommandReport, EventClass, PreviewItem, SendReport};
use crate::engine::{InstanceLimits, Runtime, hex};
use crate::error::{Error, Result};
use crate::manifest::{Event, Manifest};
use crate::package::Package;
use crate::persistence::{Durability, Limits, Record, SqliteStore};
use crate::registry::{AppEntry, CallStats, LogEntry, Registry, Status};

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
    /// `<data_dir>/config.json` (see [`crate::config`]).
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
    pub fn error_disable(mut self, policy: crate::config::ErrorDisable) -> Self {
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

    /// Open the data directory and load every installed app.
    pub fn build(self, bridge: Arc<dyn Bridge>) -> Result<Host> {
        let config = self.config;
        let dir = &config.data_dir;
        std::fs::create_dir_all(dir.join("apps"))
            .map_err(|e| Error::io(format!("creating the data directory {}", dir.display()), e))?;
        let cache_dir = config
            .cache_dir
            .clone()
            .unwrap_or_else(|| dir.join("cache"));
        let runtime = Runtime::new(&config.instance, cache_dir)?;
        let mut linker = Linker::new(&runtime.engine);
        crate::bindings::add_to_linker(&mut linker)
            .map_err(|e| Error::wasm("linking the host imports", e))?;
        let registry = Registry::open(&dir.join("registry.db"), config.busy_timeout)?;
        let inner = HostInner {
            runtime,
            linker,
            registry,
            bridge,
            loaded: RwLock::new(Loaded {
                version: -1,
                apps: Vec::new(),
            }),
            config,
            guard: Default::default(),
            stats: std::sync::Mutex::new(PendingStats {
                since: std::time::Instant::now(),
                counts: HashMap::new(),
            }),
        };
        // Leftovers of processes that crashed mid-install/update/uninstall.
        inner.registry.sweep(&inner.config.data_dir.join("apps"))?;
        inner.refresh()?;
        Ok(Host {
            inner: Arc::new(inner),
        })
    }
}

/// An app ready to run: its compiled component, store and settings.
pub(crate) struct LoadedApp {
    pub(crate) manifest: Arc<Manifest>,
    pub(crate) pre: AppPre<CallState>,
    pub(crate) store: Arc<SqliteStore>,
    pub(crate) settings: Arc<HashMap<String, serde_json::Value>>,
    pub(crate) status: Status,
    pub(crate) sha256: String,
}

struct Loaded {
    version: i64,
    apps: Vec<Arc<LoadedApp>>,
}

pub(crate) struct HostInner {
    pub(crate) runtime: Runtime,
    linker: Linker<CallState>,
    pub(crate) registry: Registry,
    pub(crate) bridge: Arc<dyn Bridge>,
    loaded: RwLock<Loaded>,
    pub(crate) config: HostConfig,
    /// Call counters not yet written to the registry.
    stats: std::sync::Mutex<PendingStats>,
    pub(crate) guard: crate::guard::Guard,
}

struct PendingStats {
    since: std::time::Instant,
    counts: HashMap<String, HashMap<String, CallStats>>,
}

/// How often in-memory call counters are written to the registry.
const STATS_FLUSH: Duration = Duration::from_secs(2);

impl HostInner {
    /// Count one call; written to the registry every few seconds and on drop.
    pub(crate) fn count_call(&self, app: &str, handler: &str, failed: bool, duration_us: u64) {
        let mut pending = self.stats.lock().expect("stats lock poisoned");
        // Look up by &str first: no allocation on the hot path.
        if !pending
            .counts
            .get(app)
            .is_some_and(|m| m.contains_key(handler))
        {
            pending.counts.entry(app.to_string()).or_default().insert(
                handler.to_string(),
                CallStats {
                    handler: handler.to_string(),
                    ..CallStats::default()
                },
            );
        }
        let entry = pending
            .counts
            .get_mut(app)
            .and_then(|m| m.get_mut(handler))
            .expect("inserted above");
        entry.calls += 1;
        entry.errors += u64::from(failed);
        entry.total_us += duration_us;
        if pending.since.elapsed() >= STATS_FLUSH {
            self.flush_stats(&mut pending);
        }
    }

    fn flush_stats(&self, pending: &mut PendingStats) {
        let batch: Vec<(String, CallStats)> = pending
            .counts
            .drain()
            .flat_map(|(app, m)| m.into_values().map(move |s| (app.clone(), s)))
            .collect();
        pending.since = std::time::Instant::now();
        let _ = self.registry.add_stats(&batch);
    }
}

impl Drop for HostInner {
    fn drop(&mut self) {
        let mut pending = self.stats.lock().expect("stats lock poisoned");
        self.flush_stats(&mut pending);
    }
}

/// The plugin host. Cheap to clone (an `Arc` inside); every method is
/// blocking, so call it from `spawn_blocking` in async code.
#[derive(Clone)]
pub struct Host {
    inner: Arc<HostInner>,
}

impl std::fmt::Debug for Host {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Host")
            .field("data_dir", &self.inner.config.data_dir)
            .finish()
    }
}

/// An installed app, as `list` and `info` show it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AppSummary {
    /// App id.
    pub id: String,
    /// Name.
    pub name: String,
    /// Version.
    pub version: String,
    /// Status.
    pub status: Status,
    /// Why it has that status.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status_reason: Option<String>,
    /// Permissions granted by its manifest.
    pub permissions: Vec<String>,
    /// Events it handles.
    pub events: Vec<Event>,
    /// Slash commands it provides.
    pub commands: Vec<String>,
}

/// Everything `hangar info` shows about an app.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AppInfo {
    /// Status and the short facts.
    #[serde(flatten)]
    pub summary: AppSummary,
    /// The full manifest.
    pub manifest: Manifest,
    /// SHA-256 of the package.
    pub sha256: String,
    /// Records in its store.
    pub records: u64,
    /// Size of its store, in bytes.
    pub storage_bytes: u64,
    /// Current setting values.
    pub settings: serde_json::Map<String, serde_json::Value>,
    /// Call counts per handler, over every host process.
    pub calls: Vec<CallStats>,
}

impl From<&AppEntry> for AppSummary {
    fn from(e: &AppEntry) -> Self {
        AppSummary {
            id: e.manifest.id.clone(),
            name: e.manifest.name.clone(),
            version: e.manifest.version.clone(),
            status: e.status,
            status_reason: e.status_reason.clone(),
            permissions: e
                .manifest
                .permissions
                .iter()
                .map(|p| p.name().to_string())
                .collect(),
            events: e.manifest.events.clone(),
            commands: e
                .manifest
                .commands
                .iter()
                .map(|c| c.command.clone())
                .collect(),
        }
    }
}

impl HostInner {
    fn app_dir(&self, id: &str) -> PathBuf {
        self.config.data_dir.join("apps").join(id)
    }

    /// Packages are stored by content hash, so an update can write the new
    /// file before it commits and a crash never leaves the registry
    /// pointing at a missing or different file.
    fn package_path(&self, id: &str, sha256: &str) -> PathBuf {
        self.app_dir(id).join(format!("{sha256}.wasm"))
    }

    fn open_store(&self, id: &str) -> Result<Arc<SqliteStore>> {
        let path = self.app_dir(id).join("store.db");
        SqliteStore::open(
            path,
            self.config.storage,
            self.config.durability,
            self.config.busy_timeout,
        )
        .map(Arc::new)
        .map_err(|e| Error::InvalidInput(format!("opening the store of app '{id}': {e}")))
    }

    fn prepare(
        &self,
        manifest: Manifest,
        bytes: &[u8],
        status: Status,
        sha256: String,
        store: Arc<SqliteStore>,
    ) -> Result<(LoadedApp, Option<crate::engine::PendingCache>)> {
        let id = manifest.id.clone();
        let (component, fresh) = self.runtime.load(bytes)?;
        let instance_pre = self.linker.instantiate_pre(&component).map_err(|e| {
            Error::wasm(
                format!("app '{id}' needs imports this host does not give"),
                e,
            )
        })?;
        let pre = AppPre::new(instance_pre).map_err(|e| {
            Error::wasm(
                format!("app '{id}' does not export the hangar:app world this host expects"),
                e,
            )
        })?;
        let mut settings: HashMap<String, serde_json::Value> = manifest
            .settings
            .iter()
            .map(|s| (s.id.clone(), s.default.clone()))
            .collect();
        for (k, v) in self.registry.settings(&id)? {
            settings.insert(k, v);
        }
        let app = LoadedApp {
            store,
            manifest: Arc::new(manifest),
            pre,
            settings: Arc::new(settings),
            status,
            sha256,
        };
        Ok((app, fresh))
    }

    /// Load an installed app from its directory, checking the package hash.
    fn load_installed(&self, entry: AppEntry) -> Result<LoadedApp> {
        let id = entry.manifest.id.clone();
        let path = self.package_path(&id, &entry.sha256);
        let bytes = std::fs::read(&path)
            .map_err(|e| Error::io(format!("reading app '{id}' from {}", path.display()), e))?;
        if hex(&Sha256::digest(&bytes)) != entry.sha256 {
            return Err(Error::InvalidPackage {
                path,
                reason: "the file changed since it was installed".into(),
            });
        }
        let store = self.open_store(&id)?;
        let (app, fresh) =
            self.prepare(entry.manifest, &bytes, entry.status, entry.sha256, store)?;
        if let Some(fresh) = fresh {
            fresh.store();
        }
        Ok(app)
    }

    /// Reload from the registry if it changed (in this or another process).
    pub(crate) fn refresh(&self) -> Result<()> {
        let version = self.registry.version()?;
        if self.loaded.read().expect("apps lock poisoned").version == version {
            return Ok(());
        }
        let entries = self.registry.apps()?;
        let old: HashMap<String, Arc<LoadedApp>> = self
            .loaded
            .read()
            .expect("apps lock poisoned")
            .apps
            .iter()
            .map(|a| (a.manifest.id.clone(), a.clone()))
            .collect();
        let mut apps = Vec::with_capacity(entries.len());
        for entry in entries {
            let id = entry.manifest.id.clone();
            if entry.status == Status::Invalid {
                continue;
            }
            let settings_now = self.registry.settings(&id)?;
            let reuse = old.get(&id).filter(|a| {
                a.sha256 == entry.sha256
                    && a.status == entry.status
                    && settings_now
                        .iter()
                        .all(|(k, v)| a.settings.get(k) == Some(v))
            });
            let app = match reuse {
                Some(a) => a.clone(),
                None => match self.load_installed(entry) {
                    Ok(app) => Arc::new(app),
                    Err(e) => {
                        // One broken app must not keep the host from starting.
                        let why = format!("its package no longer loads: {e}; reinstall it");
                        let _ = self.registry.log(&id, "host", &[("error", why.clone())]);
                        self.registry.set_status(&id, Status::Invalid, Some(&why))?;
                        continue;
                    }
                },
            };
            apps.push(app);
        }
        *self.loaded.write().expect("apps lock poisoned") = Loaded { version, apps };
        Ok(())
    }

    /// The enabled apps in dispatch order, after picking up registry changes.
    pub(crate) fn enabled_apps(&self) -> Result<Vec<Arc<LoadedApp>>> {
        self.refresh()?;
        Ok(self
            .loaded
            .read()
            .expect("apps lock poisoned")
            .apps
            .iter()
            .filter(|a| a.status == Status::Enabled)
            .cloned()
            .collect())
    }

    fn loaded_app(&self, id: &str) -> Result<Arc<LoadedApp>> {
        self.refresh()?;
        self.loaded
            .read()
            .expect("apps lock poisoned")
            .apps
            .iter()
            .find(|a| a.manifest.id == id)
            .cloned()
            .ok_or_else(|| Error::UnknownApp(id.to_string()))
    }
}

impl Host {
    /// Install the app package at `path`: validate, compile, run its install
    /// hook, and enable it. On any failure nothing is installed and nothing
    /// is left on disk.
    pub fn install(&self, path: &Path) -> Result<AppSummary> {
        let package = Package::read(path)?;
        self.install_package(package)
    }

    /// Install an already-read package.
    pub fn install_package(&self, package: Package) -> Result<AppSummary> {
        let inner = &self.inner;
        let manifest = package.manifest;
        let id = manifest.id.clone();
        if inner.registry.app(&id).is_ok() {
            return Err(Error::AlreadyInstalled(id));
        }
        let sha256 = hex(&Sha256::digest(&package.bytes));
        let dir = inner.app_dir(&id);
        // Stage in a private directory; it becomes the app's only on commit.
        let staging = inner
            .config
            .data_dir
            .join("apps")
            .join(format!(".staging-{id}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&staging);
        let result = (|| {
            std::fs::create_dir_all(&staging)
                .map_err(|e| Error::io(format!("creating {}", staging.display()), e))?;
            std::fs::write(staging.join(format!("{sha256}.wasm")), &package.bytes)
                .map_err(|e| Error::io(format!("writing {}", staging.display()), e))?;
            // The install hook writes into the staged store.
            let store = SqliteStore::open(
                staging.join("store.db"),
                inner.config.storage,
                inner.config.durability,
                inner.config.busy_timeout,
            )
            .map_err(|e| Error::InvalidInput(format!("creating the store of app '{id}': {e}")))?;
            let (app, fresh) = inner.prepare(
                manifest.clone(),
                &package.bytes,
                Status::Enabled,
                sha256.clone(),
                Arc::new(store),
            )?;
            if manifest.handles(Event::Lifecycle) {
                let out = inner.call(
                    &app,
                    "on-install",
                    EventClass::Lifecycle,
                    true,
                    Box::new(|b, s, acc| {
                        let acc = acc.expect("handler gets accessors");
                        b.hangar_app_lifecycle().call_on_install(s, acc.writer)
                    }),
                );
                check_ok(&id, out.report)?;
            }
            drop(app);
            inner
                .registry
                .insert(&manifest, &sha256, Status::Enabled, || {
                    if dir.exists() {
                        std::fs::remove_dir_all(&dir)
                            .map_err(|e| Error::io(format!("clearing {}", dir.display()), e))?;
                    }
                    std::fs::rename(&staging, &dir)
                        .map_err(|e| Error::io(format!("moving the app into {}", dir.display()), e))
                })?;
            Ok(fresh)
        })();
        match result {
            // Cache the compiled component only once the app is installed.
            Ok(fresh) => {
                if let Some(fresh) = fresh {
                    fresh.store();
                }
            }
            Err(e) => {
                let _ = std::fs::remove_dir_all(&staging);
                return Err(e);
            }
        }
        let _ = inner.registry.log(
            &id,
            "host",
            &[("info", format!("installed version {}", manifest.version))],
        );
        inner.refresh()?;
        Ok(AppSummary::from(&inner.registry.app(&id)?))
    }

    /// Enable an app. Its read-only enable hook may refuse, with a reason:
    /// the app then stays disabled and its status says why.
    pub fn enable(&self, id: &str) -> Result<AppSummary> {
        let inner = &self.inner;
        let app = inner.loaded_app(id)?;
        if app.manifest.handles(Event::Lifecycle) {
            let out = inner.call(
                &app,
                "on-enable",
                EventClass::Lifecycle,
                false,
                Box::new(|b, s, _| b.hangar_app_lifecycle().call_on_enable(s)),
            );
            if let Some(reason) = out.report.error {
                let why = format!("refused to enable: {reason}");
                inner
                    .registry
                    .set_status(id, Status::Disabled, Some(&why))?;
                return Err(Error::App {
                    app: id.to_string(),
                    handler: "on-enable".into(),
                    message: format!("{reason}; the app stays disabled"),
                });
            }
        }
        inner.registry.set_status(id, Status::Enabled, None)?;
        let _ = inner
            .registry
            .log(id, "host", &[("info", "enabled".to_string())]);
        Ok(AppSummary::from(&inner.registry.app(id)?))
    }

    /// Disable an app: it receives no events; its data is kept.
    pub fn disable(&self, id: &str) -> Result<AppSummary> {
        let inner = &self.inner;
        let app = inner.loaded_app(id)?;
        inner
            .registry
            .set_status(id, Status::Disabled, Some("disabled by the operator"))?;
        if app.manifest.handles(Event::Lifecycle) {
            // The app is told; it cannot keep itself enabled.
            inner.call(
                &app,
                "on-disable",
                EventClass::Lifecycle,
                false,
                Box::new(|b, s, _| b.hangar_app_lifecycle().call_on_disable(s)),
            );
        }
        let _ = inner.registry.log(
            id,
            "host",
            &[("info", "disabled by the operator".to_string())],
        );
        Ok(AppSummary::from(&inner.registry.app(id)?))
    }

    /// Replace an installed app with a new version of the same id; its data
    /// and status are kept, and its update hook (with the writer) is told the
    /// previous version. On failure the old version stays.
    pub fn update(&self, path: &Path) -> Result<AppSummary> {
        let inner = &self.inner;
        let package = Package::read(path)?;
        let manifest = package.manifest;
        let id = manifest.id.clone();
        let old = inner.loaded_app(&id)?;
        let sha256 = hex(&Sha256::digest(&package.bytes));
        let dir = inner.app_dir(&id);
        let staged = inner.package_path(&id, &sha256);
        let tmp = dir.join(format!(".{sha256}.wasm.tmp{}", std::process::id()));
        let result = (|| {
            // Unreferenced until the registry commits; swept if we crash.
            std::fs::write(&tmp, &package.bytes)
                .and_then(|()| std::fs::rename(&tmp, &staged))
                .map_err(|e| Error::io(format!("writing {}", staged.display()), e))?;
            let (app, fresh) = inner.prepare(
                manifest.clone(),
                &package.bytes,
                old.status,
                sha256.clone(),
                old.store.clone(),
            )?;
            if manifest.handles(Event::Lifecycle) {
                let previous = old.manifest.version.clone();
                let out = inner.call(
                    &app,
                    "on-update",
                    EventClass::Lifecycle,
                    true,
                    Box::new(move |b, s, acc| {
                        let acc = acc.expect("handler gets accessors");
                        b.hangar_app_lifecycle()
                            .call_on_update(s, acc.writer, &previous)
                    }),
                );
                check_ok(&id, out.report)?;
            }
            inner.registry.replace(&manifest, &sha256, || Ok(()))?;
            Ok(fresh)
        })();
        match result {
            Ok(fresh) => {
                if let Some(fresh) = fresh {
                    fresh.store();
                }
            }
            Err(e) => {
                if sha256 != old.sha256 {
                    let _ = std::fs::remove_file(&staged);
                }
                let _ = std::fs::remove_file(&tmp);
                return Err(e);
            }
        }
        // The old package file is no longer referenced.
        let _ = inner.registry.sweep(&inner.config.data_dir.join("apps"));
        let _ = inner.registry.log(
            &id,
            "host",
            &[(
                "info",
                format!(
                    "updated from {} to {}",
                    old.manifest.version, manifest.version
                ),
            )],
        );
        inner.refresh()?;
        Ok(AppSummary::from(&inner.registry.app(&id)?))
    }

    /// Uninstall an app: its uninstall hook runs (with the writer), then its
    /// entry, settings, logs, package and store are deleted.
    pub fn uninstall(&self, id: &str) -> Result<()> {
        let inner = &self.inner;
        let app = inner.loaded_app(id)?;
        if app.manifest.handles(Event::Lifecycle) {
            // A failing hook does not keep an app the operator removes.
            inner.call(
                &app,
                "on-uninstall",
                EventClass::Lifecycle,
                true,
                Box::new(|b, s, acc| {
                    let acc = acc.expect("handler gets accessors");
                    b.hangar_app_lifecycle().call_on_uninstall(s, acc.writer)
                }),
            );
        }
        drop(app);
        // Commit the removal first, then delete the files under the
        // registry lock: a crash in between leaves only files no entry
        // points at, which the next sweep removes.
        inner.registry.remove(id, || Ok(()))?;
        inner.refresh()?;
        inner.registry.sweep(&inner.config.data_dir.join("apps"))?;
        Ok(())
    }

    /// Everything about one app: manifest, status, storage use, settings,
    /// call counts.
    pub fn info(&self, id: &str) -> Result<AppInfo> {
        let inner = &self.inner;
        inner.refresh()?;
        let entry = inner.registry.app(id)?;
        {
            // Include this process's unflushed counts.
            let mut pending = inner.stats.lock().expect("stats lock poisoned");
            inner.flush_stats(&mut pending);
        }
        let (records, storage_bytes) = inner
            .open_store(id)?
            .usage()
            .map_err(|e| Error::InvalidInput(format!("reading the store of app '{id}': {e}")))?;
        let stored: HashMap<String, serde_json::Value> =
            inner.registry.settings(id)?.into_iter().collect();
        let settings = entry
            .manifest
            .settings
            .iter()
            .map(|s| {
                (
                    s.id.clone(),
                    stored.get(&s.id).cloned().unwrap_or(s.default.clone()),
                )
            })
            .collect();
        Ok(AppInfo {
            summary: AppSummary::from(&entry),
            manifest: entry.manifest,
            sha256: entry.sha256,
            records,
            storage_bytes,
            settings,
            calls: inner.registry.stats(id)?,
        })
    }

    /// Every installed app, in dispatch order.
    pub fn list(&self) -> Result<Vec<AppSummary>> {
        Ok(self
            .inner
            .registry
            .apps()?
            .iter()
            .map(AppSummary::from)
            .collect())
    }

    /// Every record in an app's store, oldest first.
    pub fn records(&self, app: &str) -> Result<Vec<Record>> {
        let app = self.inner.loaded_app(app)?;
        app.store.all_records().map_err(|e| {
            Error::InvalidInput(format!(
                "reading the records of app '{}': {e}",
                app.manifest.id
            ))
        })
    }

    /// Push a message from `sender` in `room` through the whole pipeline.
    pub fn send_message(&self, room: &str, sender: &str, text: &str) -> Result<SendReport> {
        self.send(Message {
            id: String::new(),
            room: room.to_string(),
            sender: sender.to_string(),
            text: text.to_string(),
            custom_fields: Default::default(),
            timestamp: crate::registry::now_ms(),
        })
    }

    /// Push a prepared message through the whole pipeline.
    pub fn send(&self, message: Message) -> Result<SendReport> {
        self.inner.send_message(message)
    }

    /// Run a slash command line such as `/karma bob`.
    pub fn command(&self, room: &str, sender: &str, line: &str) -> Result<CommandReport> {
        self.inner.run_command(room, sender, line)
    }

    /// Ask for a command's preview (read-only).
    pub fn preview(
        &self,
        room: &str,
        sender: &str,
        line: &str,
    ) -> Result<(Vec<PreviewItem>, AppReport)> {
        self.inner.preview_command(room, sender, line)
    }

    /// The most recent `limit` log lines of an app, oldest first.
    pub fn logs(&self, app: &str, limit: usize) -> Result<Vec<LogEntry>> {
        self.logs_after(app, 0, limit)
    }

    /// Up to `limit` log lines of an app after position `after` (a
    /// [`LogEntry::seq`]), oldest first: poll it to follow the log.
    pub fn logs_after(&self, app: &str, after: i64, limit: usize) -> Result<Vec<LogEntry>> {
        self.inner.registry.app(app)?;
        self.inner.registry.logs(app, after, limit)
    }

    /// The current settings of an app (manifest defaults overlaid with the
    /// operator's values).
    pub fn settings(&self, app: &str) -> Result<Vec<(String, serde_json::Value)>> {
        let app = self.inner.loaded_app(app)?;
        Ok(app
            .manifest
            .settings
            .iter()
            .map(|s| {
                (
                    s.id.clone(),
                    app.settings
                        .get(&s.id)
                        .cloned()
                        .unwrap_or(s.default.clone()),
                )
            })
            .collect())
    }

    /// Change a setting: checked against its declared type, then offered to
    /// the app's read-only validation hook (which may refuse it: the value
    /// is then unchanged), stored, and passed to the app's updated hook.
    pub fn set_setting(&self, app_id: &str, id: &str, value: serde_json::Value) -> Result<()> {
        let inner = &self.inner;
        let app = inner.loaded_app(app_id)?;
        let spec = app.manifest.setting(id).ok_or_else(|| {
            let known: Vec<&str> = app
                .manifest
                .settings
                .iter()
                .map(|s| s.id.as_str())
                .collect();
            Error::InvalidInput(format!(
                "app '{app_id}' has no setting '{id}'; its settings are {known:?}"
            ))
        })?;
        spec.check(&value)?;
        let old = app
            .settings
            .get(id)
            .cloned()
            .unwrap_or(spec.default.clone());
        if app.manifest.handles(Event::Settings) {
            let (sid, old_text, new_text) = (id.to_string(), old.to_string(), value.to_string());
            let out = inner.call(
                &app,
                "on-pre-setting-update",
                EventClass::Settings,
                false,
                Box::new(move |b, s, _| {
                    b.hangar_app_settings()
                        .call_on_pre_setting_update(s, &sid, &old_text, &new_text)
                }),
            );
            check_ok(app_id, out.report)?;
        }
        inner.registry.set_setting(app_id, id, &value)?;
        let app = inner.loaded_app(app_id)?;
        if app.manifest.handles(Event::Settings) {
            let (sid, text) = (id.to_string(), value.to_string());
            let out = inner.call(
                &app,
                "on-setting-updated",
                EventClass::Settings,
                true,
                Box::new(move |b, s, acc| {
                    let acc = acc.expect("handler gets accessors");
                    b.hangar_app_settings()
                        .call_on_setting_updated(s, &sid, &text, acc.writer)
                }),
            );
            check_ok(app_id, out.report)?;
        }
        Ok(())
    }

    pub(crate) fn runtime(&self) -> &Runtime {
        &self.inner.runtime
    }

    /// The configuration in force.
    pub fn config(&self) -> &HostConfig {
        &self.inner.config
    }
}

fn check_ok(id: &str, report: AppReport) -> Result<()> {
    if report.outcome == crate::dispatch::Outcome::Error {
        return Err(Error::App {
            app: id.to_string(),
            handler: report.handler,
            message: report.error.unwrap_or_default(),
        });
    }
    Ok(())
}
