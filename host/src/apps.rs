//! The set of loaded apps: each installed app compiled, linked and paired
//! with its store and settings, and for each export the enabled apps that
//! handle it, in dispatch order (precomputed when the set is rebuilt, not
//! per event).
//!
//! Other processes change the registry too. Seeing their changes costs no
//! lock per event: the set is an atomically swapped `Arc`, and at most once
//! per [`CHECK_INTERVAL`] one dispatching thread asks SQLite whether the
//! registry file changed (`PRAGMA data_version`, a read of shared memory)
//! and reloads only if the version counter moved. Bound: a change committed
//! by another process is seen by every event that starts
//! [`CHECK_INTERVAL`] or more after the commit. Changes made in this
//! process (any `Host`) are seen by the next event.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use arc_swap::ArcSwap;
use sha2::{Digest, Sha256};

use crate::bindings::AppPre;
use crate::engine::{PendingCache, Runtime, hex};
use crate::error::{Error, Result};
use crate::exports::Export;
use crate::journal::Journal;
use crate::manifest::Manifest;
use crate::registry::{self, AppEntry, Registry, Status};
use crate::sandbox::AppView;
use crate::stats::{Counters, Stats};
use crate::storage::{Backend, Store};

/// How often, at most, a dispatch checks the registry for changes made by
/// other processes: a change committed elsewhere is seen by every event
/// that starts this long or longer after the commit.
pub const CHECK_INTERVAL: Duration = Duration::from_millis(2);

/// With a PostgreSQL registry, changes are announced by `NOTIFY`; the
/// version is also read at least this often, so a change is seen within
/// this bound even if a notification was lost (a reconnect).
pub const REMOTE_POLL_INTERVAL: Duration = Duration::from_secs(1);

/// An app ready to run: its compiled component, store and settings.
pub(crate) struct LoadedApp {
    pub(crate) manifest: Arc<Manifest>,
    pub(crate) pre: AppPre,
    pub(crate) store: Arc<dyn Store>,
    pub(crate) settings: Arc<HashMap<String, serde_json::Value>>,
    pub(crate) status: Status,
    pub(crate) sha256: String,
    /// The registry's install order: a new install gets a new one.
    pub(crate) order: i64,
    pub(crate) counters: Arc<Counters>,
    exports: [bool; Export::ALL.len()],
}

impl LoadedApp {
    /// The app id.
    pub(crate) fn id(&self) -> &str {
        &self.manifest.id
    }

    /// Whether the app is ever called for `export`.
    pub(crate) fn handles(&self, export: Export) -> bool {
        self.exports[export.index()]
    }

    /// What a call of this app sees of it.
    pub(crate) fn view(&self) -> AppView {
        AppView {
            manifest: self.manifest.clone(),
            settings: self.settings.clone(),
        }
    }
}

/// The settings a call sees: the manifest's defaults overlaid with the
/// operator's values.
fn effective_settings(
    manifest: &Manifest,
    stored: Vec<(String, serde_json::Value)>,
) -> HashMap<String, serde_json::Value> {
    let mut settings: HashMap<String, serde_json::Value> = manifest
        .settings
        .iter()
        .map(|s| (s.id.clone(), s.default.clone()))
        .collect();
    settings.extend(stored);
    settings
}

fn exports_of(manifest: &Manifest) -> [bool; Export::ALL.len()] {
    Export::ALL.map(|export| match export.event() {
        Some(event) => manifest.handles(event),
        None => !manifest.commands.is_empty(),
    })
}

/// One consistent view of the installed apps.
pub(crate) struct AppSet {
    version: i64,
    /// Every app that loads (not invalid), in install order.
    all: Vec<Arc<LoadedApp>>,
    /// Per export, the enabled apps that handle it, in install order.
    handling: [Vec<Arc<LoadedApp>>; Export::ALL.len()],
    /// Each enabled app's commands (the first app in order wins a name).
    commands: HashMap<String, Arc<LoadedApp>>,
}

impl AppSet {
    fn new(version: i64, all: Vec<Arc<LoadedApp>>) -> AppSet {
        let enabled = || all.iter().filter(|a| a.status == Status::Enabled);
        let handling = Export::ALL.map(|export| {
            enabled()
                .filter(|a| a.handles(export))
                .cloned()
                .collect::<Vec<_>>()
        });
        let mut commands = HashMap::new();
        for app in enabled() {
            for c in &app.manifest.commands {
                commands
                    .entry(c.command.clone())
                    .or_insert_with(|| app.clone());
            }
        }
        AppSet {
            version,
            all,
            handling,
            commands,
        }
    }

    /// The enabled apps that handle `export`, in dispatch order.
    pub(crate) fn handling(&self, export: Export) -> &[Arc<LoadedApp>] {
        &self.handling[export.index()]
    }

    /// The enabled app that provides `/command`.
    pub(crate) fn command(&self, command: &str) -> Option<&Arc<LoadedApp>> {
        self.commands.get(command)
    }

    /// The app (any status) that declares `/command`.
    pub(crate) fn owner(&self, command: &str) -> Option<&Arc<LoadedApp>> {
        self.all
            .iter()
            .find(|a| a.manifest.commands.iter().any(|c| c.command == command))
    }

    /// A loaded app by id, whatever its status.
    pub(crate) fn get(&self, id: &str) -> Option<&Arc<LoadedApp>> {
        self.all.iter().find(|a| a.id() == id)
    }
}

/// The cheap "did anything change?" check.
struct Watch {
    /// SQLite: its own connection, where `data_version` moves when another
    /// connection commits. Locked only when a check is due (at most once
    /// per interval per thread), never per event.
    conn: Option<Mutex<(rusqlite::Connection, i64)>>,
    /// PostgreSQL: the listener's count of announced changes, the count as
    /// of the last reload check, and when the version was last read.
    signal: Option<(Arc<AtomicU64>, AtomicU64, AtomicU64)>,
    started: Instant,
    /// Microseconds after `started` of the last check.
    last_check: AtomicU64,
    /// `LOCAL_CHANGES` as of the last check.
    local_seen: AtomicU64,
}

/// The loaded apps and how they are kept current.
pub(crate) struct Apps {
    current: ArcSwap<AppSet>,
    watch: Watch,
    reloading: Mutex<()>,
    apps_dir: PathBuf,
    registry: Arc<Registry>,
    backend: Arc<dyn Backend>,
    runtime: Arc<Runtime>,
    journal: Arc<Journal>,
    stats: Arc<Stats>,
}

impl Apps {
    pub(crate) fn open(
        data_dir: &Path,
        registry: Arc<Registry>,
        backend: Arc<dyn Backend>,
        runtime: Arc<Runtime>,
        journal: Arc<Journal>,
        stats: Arc<Stats>,
    ) -> Result<Apps> {
        let (conn, signal) = match registry.as_ref() {
            Registry::Sqlite(_) => {
                let (conn, _) = crate::sqlite::open_connection(&data_dir.join("registry.db"))?;
                (Some(Mutex::new((conn, -1))), None)
            }
            Registry::Postgres(r) => (
                None,
                Some((
                    r.notified().clone(),
                    AtomicU64::new(u64::MAX),
                    AtomicU64::new(0),
                )),
            ),
        };
        let apps = Apps {
            current: ArcSwap::from_pointee(AppSet::new(-1, Vec::new())),
            watch: Watch {
                conn,
                signal,
                started: Instant::now(),
                last_check: AtomicU64::new(0),
                local_seen: AtomicU64::new(registry::local_changes()),
            },
            reloading: Mutex::new(()),
            apps_dir: data_dir.join("apps"),
            registry,
            backend,
            runtime,
            journal,
            stats,
        };
        apps.reload()?;
        Ok(apps)
    }

    /// The current set, after picking up changes (see the module docs for
    /// the bound). The hot path: an atomic load, a clock read, and now and
    /// then one `PRAGMA data_version`.
    pub(crate) fn current(&self) -> Result<Arc<AppSet>> {
        let local = registry::local_changes();
        let now = self.watch.started.elapsed().as_micros() as u64;
        let due = now.saturating_sub(self.watch.last_check.load(Ordering::Relaxed))
            >= CHECK_INTERVAL.as_micros() as u64;
        if due || local != self.watch.local_seen.load(Ordering::Relaxed) {
            self.check(local, now)?;
        }
        Ok(self.current.load_full())
    }

    fn check(&self, local: u64, now: u64) -> Result<()> {
        if let Some((notified, seen, polled)) = &self.watch.signal {
            self.watch.last_check.store(now, Ordering::Relaxed);
            let local_moved = self.watch.local_seen.swap(local, Ordering::Relaxed) != local;
            let count = notified.load(Ordering::Acquire);
            let poll_due = now.saturating_sub(polled.load(Ordering::Relaxed))
                >= REMOTE_POLL_INTERVAL.as_micros() as u64;
            // A change by any `Host` of this process is seen by the next
            // event (as on SQLite), one announced by another machine once
            // its notification arrives, any other at the next poll.
            if !local_moved && count == seen.load(Ordering::Relaxed) && !poll_due {
                return Ok(());
            }
            polled.store(now, Ordering::Relaxed);
            if self.registry.version()? != self.current.load().version {
                self.reload()?;
            }
            seen.store(count, Ordering::Relaxed);
            return Ok(());
        }
        let Some(conn) = &self.watch.conn else {
            return Ok(());
        };
        let watch = conn.lock().expect("watch lock poisoned");
        self.watch.last_check.store(now, Ordering::Relaxed);
        self.watch.local_seen.store(local, Ordering::Relaxed);
        let data_version: i64 = watch.0.query_row("PRAGMA data_version", [], |r| r.get(0))?;
        if data_version == watch.1 {
            return Ok(());
        }
        // The version counter, read on the watch's own connection: no
        // dispatching thread waits for the registry's.
        let version: i64 =
            watch
                .0
                .query_row("SELECT value FROM meta WHERE key = 'version'", [], |r| {
                    r.get(0)
                })?;
        drop(watch);
        if version != self.current.load().version {
            self.reload()?;
        }
        // Only once the set is current: a failed reload is retried at the
        // next check.
        conn.lock().expect("watch lock poisoned").1 = data_version;
        Ok(())
    }

    /// Rebuild the set from the registry if its version moved, reusing
    /// every app whose package, status and settings are unchanged.
    pub(crate) fn reload(&self) -> Result<Arc<AppSet>> {
        let _one_at_a_time = self.reloading.lock().expect("reload lock poisoned");
        let version = self.registry.version()?;
        let old = self.current.load_full();
        if old.version == version {
            return Ok(old);
        }
        let mut apps = Vec::new();
        for entry in self.registry.apps()? {
            if entry.status == Status::Invalid {
                continue;
            }
            let id = entry.manifest.id.clone();
            let settings_now = effective_settings(&entry.manifest, self.registry.settings(&id)?);
            // Same install (an uninstall and reinstall gets a new order and
            // a new store), same package, status and settings.
            let reuse = old.get(&id).filter(|a| {
                a.order == entry.order
                    && a.sha256 == entry.sha256
                    && a.status == entry.status
                    && *a.settings == settings_now
            });
            let sha256 = entry.sha256.clone();
            let app = match reuse {
                Some(a) => a.clone(),
                None => match self.load_installed(entry) {
                    Ok(app) => Arc::new(app),
                    // The server is unreachable: not the package's fault;
                    // the next check retries.
                    Err(e @ Error::Database(_)) => return Err(e),
                    Err(e) => {
                        // One broken app must not keep the host from starting.
                        // Only the package that failed is marked: another
                        // process may have updated or removed it meanwhile.
                        let why = format!("its package no longer loads: {e}; reinstall it");
                        self.journal.host(&id, "error", why.clone());
                        self.registry.mark_invalid(&id, &sha256, &why)?;
                        continue;
                    }
                },
            };
            apps.push(app);
        }
        let set = Arc::new(AppSet::new(version, apps));
        self.current.store(set.clone());
        Ok(set)
    }

    /// A loaded app by id, after picking up changes.
    pub(crate) fn app(&self, id: &str) -> Result<Arc<LoadedApp>> {
        self.current()?
            .get(id)
            .cloned()
            .ok_or_else(|| Error::UnknownApp(id.to_string()))
    }

    /// The directory of app `id`'s package and store.
    pub(crate) fn app_dir(&self, id: &str) -> PathBuf {
        self.apps_dir.join(id)
    }

    /// Packages are stored by content hash, so an update can write the new
    /// file before it commits and a crash never leaves the registry
    /// pointing at a missing or different file.
    pub(crate) fn package_path(&self, id: &str, sha256: &str) -> PathBuf {
        self.app_dir(id).join(format!("{sha256}.wasm"))
    }

    pub(crate) fn apps_dir(&self) -> &Path {
        &self.apps_dir
    }

    pub(crate) fn backend(&self) -> &dyn Backend {
        self.backend.as_ref()
    }

    /// Compile (or load from the cache) and link a package, pairing it with
    /// `store` and its settings. A fresh compilation comes back with what
    /// to cache once the caller knows the app is installed.
    pub(crate) fn prepare(
        &self,
        manifest: Manifest,
        bytes: &[u8],
        status: Status,
        sha256: String,
        store: Arc<dyn Store>,
    ) -> Result<(LoadedApp, Option<PendingCache>)> {
        let (component, fresh) = self.runtime.load(bytes)?;
        let app = self.link(manifest, &component, status, sha256, store)?;
        Ok((app, fresh))
    }

    /// Link a compiled component and pair it with its store and settings.
    fn link(
        &self,
        manifest: Manifest,
        component: &wasmtime::component::Component,
        status: Status,
        sha256: String,
        store: Arc<dyn Store>,
    ) -> Result<LoadedApp> {
        let id = manifest.id.clone();
        let pre = AppPre::new(&self.runtime.linker, component, &id, &manifest.api_version)?;
        let settings = effective_settings(&manifest, self.registry.settings(&id)?);
        Ok(LoadedApp {
            // Not in the registry yet (install, update): set by the loader.
            order: -1,
            exports: exports_of(&manifest),
            counters: self.stats.of(&id),
            store,
            manifest: Arc::new(manifest),
            pre,
            settings: Arc::new(settings),
            status,
            sha256,
        })
    }

    /// Load an installed app. Trusting the registry's hash: when the
    /// package file is there with its recorded size and the compile cache
    /// has the component, neither the package nor its hash is read; else
    /// the package is read and its hash checked.
    fn load_installed(&self, entry: AppEntry) -> Result<LoadedApp> {
        let order = entry.order;
        let mut app = self.load_entry(entry)?;
        app.order = order;
        Ok(app)
    }

    fn load_entry(&self, entry: AppEntry) -> Result<LoadedApp> {
        let id = entry.manifest.id.clone();
        let path = self.package_path(&id, &entry.sha256);
        let on_disk = std::fs::metadata(&path).map(|m| m.len()).ok();
        if on_disk.is_some()
            && on_disk == entry.size
            && let Some(component) = self.runtime.load_cached(&entry.sha256)
        {
            let store = self.open_store(&id)?;
            return self.link(
                entry.manifest,
                &component,
                entry.status,
                entry.sha256,
                store,
            );
        }
        let bytes = match std::fs::read(&path) {
            Ok(bytes) => bytes,
            // Installed by a host on another machine: the registry keeps
            // the package; this data dir caches it.
            Err(e) => match self.registry.package(&id, &entry.sha256)? {
                Some(bytes) => {
                    self.cache_package(&path, &bytes);
                    bytes
                }
                None => {
                    return Err(Error::io(
                        format!("reading app '{id}' from {}", path.display()),
                        e,
                    ));
                }
            },
        };
        let bytes = if hex(&Sha256::digest(&bytes)) == entry.sha256 {
            bytes
        } else {
            // A damaged cache: the registry's copy (PostgreSQL) replaces it.
            match self.registry.package(&id, &entry.sha256)? {
                Some(good) if hex(&Sha256::digest(&good)) == entry.sha256 => {
                    self.cache_package(&path, &good);
                    good
                }
                _ => {
                    return Err(Error::InvalidPackage {
                        path,
                        reason: "the file changed since it was installed".into(),
                    });
                }
            }
        };
        let store = self.open_store(&id)?;
        let (app, fresh) =
            self.prepare(entry.manifest, &bytes, entry.status, entry.sha256, store)?;
        if let Some(fresh) = fresh {
            fresh.store();
        }
        Ok(app)
    }

    /// Keep a package fetched from the registry in the data dir, written
    /// whole under a temporary name first (the sweep removes one left by a
    /// process that died).
    fn cache_package(&self, path: &Path, bytes: &[u8]) {
        let Some(dir) = path.parent() else {
            return;
        };
        let name = path.file_name().unwrap_or_default().to_string_lossy();
        static WRITERS: AtomicU64 = AtomicU64::new(0);
        let tmp = dir.join(format!(
            ".{name}.{}tmp{}",
            WRITERS.fetch_add(1, Ordering::Relaxed),
            std::process::id()
        ));
        let _ = std::fs::create_dir_all(dir)
            .and_then(|()| std::fs::write(&tmp, bytes))
            .and_then(|()| std::fs::rename(&tmp, path));
        let _ = std::fs::remove_file(&tmp);
    }

    fn open_store(&self, id: &str) -> Result<Arc<dyn Store>> {
        self.backend
            .open(id)
            .map_err(|e| Error::InvalidInput(format!("opening the store of app '{id}': {e}")))
    }

    /// Forget an uninstalled app's counters.
    pub(crate) fn forget(&self, id: &str) {
        self.stats.forget(id);
    }
}
