//! The host registry: which apps are installed, in what order, with what
//! status and settings, plus their logs, call counters, fault counts,
//! endpoint secrets and open views. Every host process sharing it sees the
//! same apps; a version counter bumped on each change lets the others
//! notice and reload.
//!
//! - [`sqlite`]: one file in the data dir (the embedded default).
//! - [`postgres`]: tables in the PostgreSQL database the app stores use,
//!   with the packages themselves, so hosts on several machines share it;
//!   changes are announced with `NOTIFY`.
//!
//! [`Registry`] is the one front the host uses; each method goes to the
//! backend chosen at open.

use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::manifest::Manifest;

pub(crate) mod postgres;
pub(crate) mod sqlite;

pub(crate) use postgres::PgRegistry;
pub(crate) use sqlite::{SqliteLog, SqliteRegistry};

/// An app's status, after the Apps-Engine's where they mean something here.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Status {
    /// Receives events.
    Enabled,
    /// Turned off by the operator.
    Disabled,
    /// Turned off because it kept failing.
    ErrorDisabled,
    /// Its package no longer loads (corrupt or incompatible); reinstall it.
    Invalid,
}

impl Status {
    /// The name shown and stored.
    pub fn name(self) -> &'static str {
        self.as_str()
    }

    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Status::Enabled => "enabled",
            Status::Disabled => "disabled",
            Status::ErrorDisabled => "error-disabled",
            Status::Invalid => "invalid",
        }
    }
    pub(crate) fn parse(s: &str) -> Status {
        match s {
            "enabled" => Status::Enabled,
            "disabled" => Status::Disabled,
            "error-disabled" => Status::ErrorDisabled,
            _ => Status::Invalid,
        }
    }
}

/// One installed app as the registry records it.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct AppEntry {
    /// The manifest it was installed with.
    pub(crate) manifest: Manifest,
    /// Install order; dispatch follows it.
    pub(crate) order: i64,
    /// Current status.
    pub(crate) status: Status,
    /// Why it has that status, when it is not enabled.
    pub(crate) status_reason: Option<String>,
    /// SHA-256 of the package.
    pub(crate) sha256: String,
    /// When it was installed (ms since the epoch).
    pub(crate) installed_at: u64,
    /// The package's size in bytes (unknown for apps installed by hosts
    /// that did not record it).
    pub(crate) size: Option<u64>,
}

/// A log line about an app: its own, or the host's about it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LogEntry {
    /// Position in the log (increasing).
    pub seq: i64,
    /// The app.
    pub app: String,
    /// Milliseconds since the epoch.
    pub time: u64,
    /// debug, info, warn or error.
    pub level: String,
    /// "app" for the app's own lines, "host" for the host's.
    pub source: String,
    /// The text.
    pub message: String,
}

/// How long a view is remembered: one opened longer ago than this is
/// stale and refused (a week).
pub(crate) const VIEW_LIFETIME_MS: i64 = 7 * 24 * 3600 * 1000;

/// Views open at once per user; opening another closes the oldest.
pub(crate) const VIEWS_PER_USER: usize = 20;

/// Log lines kept per app; older ones are deleted.
pub const LOG_RETENTION: u64 = 5_000;
/// Log lines older than this are deleted.
pub const LOG_MAX_AGE: std::time::Duration = std::time::Duration::from_secs(7 * 24 * 3600);

/// Call counters of one app handler, summed over every host process.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CallStats {
    /// The export.
    pub handler: String,
    /// Calls made.
    pub calls: u64,
    /// Calls that failed.
    pub errors: u64,
    /// Total wall time, microseconds.
    pub total_us: u64,
}

pub(crate) fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .as_millis() as u64
}

/// The registry, on the backend chosen at open.
pub(crate) enum Registry {
    /// `registry.db` in the data dir.
    Sqlite(SqliteRegistry),
    /// Tables in a PostgreSQL database.
    Postgres(PgRegistry),
}

/// Call the same method on whichever backend is open.
macro_rules! either {
    ($self:ident, $r:ident => $call:expr) => {
        match $self {
            Registry::Sqlite($r) => $call,
            Registry::Postgres($r) => $call,
        }
    };
}

impl Registry {
    /// The change counter; differs from a cached value when anything changed.
    pub(crate) fn version(&self) -> Result<i64> {
        either!(self, r => r.version())
    }

    /// Every installed app, in install order.
    pub(crate) fn apps(&self) -> Result<Vec<AppEntry>> {
        either!(self, r => r.apps())
    }

    /// One installed app.
    pub(crate) fn app(&self, id: &str) -> Result<AppEntry> {
        self.apps()?
            .into_iter()
            .find(|a| a.manifest.id == id)
            .ok_or_else(|| Error::UnknownApp(id.to_string()))
    }

    /// Add an app whose package is `bytes` and whose install hook wrote
    /// into the store staged at `staging`; `before_commit` runs inside the
    /// transaction (the files are moved into place there) so a failure
    /// leaves no entry.
    pub(crate) fn insert(
        &self,
        manifest: &Manifest,
        sha256: &str,
        bytes: &[u8],
        status: Status,
        staging: &Path,
        before_commit: impl FnOnce() -> Result<()>,
    ) -> Result<()> {
        match self {
            Registry::Sqlite(r) => {
                r.insert(manifest, sha256, bytes.len() as u64, status, before_commit)
            }
            Registry::Postgres(r) => {
                r.insert(manifest, sha256, bytes, status, staging, before_commit)
            }
        }
    }

    /// Change an app's status (and why).
    pub(crate) fn set_status(&self, app: &str, status: Status, reason: Option<&str>) -> Result<()> {
        either!(self, r => r.set_status(app, status, reason))
    }

    /// Replace an app's manifest and package; `before_commit` swaps the files.
    pub(crate) fn replace(
        &self,
        manifest: &Manifest,
        sha256: &str,
        bytes: &[u8],
        before_commit: impl FnOnce() -> Result<()>,
    ) -> Result<()> {
        match self {
            Registry::Sqlite(r) => r.replace(manifest, sha256, bytes.len() as u64, before_commit),
            Registry::Postgres(r) => r.replace(manifest, sha256, bytes, before_commit),
        }
    }

    /// Remove an app's entry, settings, logs (and, on PostgreSQL, its data
    /// and packages); `before_commit` removes its files.
    pub(crate) fn remove(
        &self,
        app: &str,
        before_commit: impl FnOnce() -> Result<()>,
    ) -> Result<()> {
        either!(self, r => r.remove(app, before_commit))
    }

    /// The package `sha256` of app `app`, when the registry keeps packages
    /// (PostgreSQL: another machine may have installed it).
    pub(crate) fn package(&self, app: &str, sha256: &str) -> Result<Option<Vec<u8>>> {
        match self {
            Registry::Sqlite(_) => Ok(None),
            Registry::Postgres(r) => r.package(app, sha256),
        }
    }

    /// Record a view an app opened; see [`SqliteRegistry::open_view`].
    pub(crate) fn open_view(
        &self,
        view: &crate::bridge::View,
        update: bool,
    ) -> Result<(bool, Vec<(String, String)>)> {
        either!(self, r => r.open_view(view, update))
    }

    /// Claim a view's submit (or close); false if closed or claimed.
    pub(crate) fn begin_submit(&self, id: &str) -> Result<bool> {
        either!(self, r => r.begin_submit(id))
    }

    /// The submit of a view is over.
    pub(crate) fn end_submit(&self, id: &str) -> Result<()> {
        either!(self, r => r.end_submit(id))
    }

    /// The ids and users of app `app`'s open views.
    pub(crate) fn open_views_of(&self, app: &str) -> Result<Vec<(String, String)>> {
        either!(self, r => r.open_views_of(app))
    }

    /// A view, if it is known and still open.
    pub(crate) fn open_view_by_id(&self, id: &str) -> Result<Option<crate::bridge::View>> {
        either!(self, r => r.open_view_by_id(id))
    }

    /// Close a view; true if it was open.
    pub(crate) fn close_view(&self, id: &str) -> Result<bool> {
        either!(self, r => r.close_view(id))
    }

    /// App `app`'s endpoint secret, if it has one yet.
    pub(crate) fn endpoint_secret(&self, app: &str) -> Result<Option<String>> {
        either!(self, r => r.endpoint_secret(app))
    }

    /// App `app`'s endpoint secret, created if it has none.
    pub(crate) fn ensure_endpoint_secret(&self, app: &str) -> Result<String> {
        if let Some(secret) = self.endpoint_secret(app)? {
            return Ok(secret);
        }
        either!(self, r => r.ensure_endpoint_secret(app))
    }

    /// Give `app` a new endpoint secret, and return it.
    pub(crate) fn new_endpoint_secret(&self, app: &str) -> Result<String> {
        either!(self, r => r.new_endpoint_secret(app))
    }

    /// The operator's setting values of `app`.
    pub(crate) fn settings(&self, app: &str) -> Result<Vec<(String, serde_json::Value)>> {
        either!(self, r => r.settings(app))
    }

    /// Store an operator's setting value.
    pub(crate) fn set_setting(&self, app: &str, id: &str, value: &serde_json::Value) -> Result<()> {
        either!(self, r => r.set_setting(app, id, value))
    }

    /// Count one fault of `app`, seen by every process sharing the
    /// registry; true when `max` faults fall within `window`.
    pub(crate) fn record_fault(
        &self,
        app: &str,
        max: u32,
        window: std::time::Duration,
    ) -> Result<bool> {
        either!(self, r => r.record_fault(app, max, window))
    }

    /// Mark app `app` invalid if its entry still names the package `sha256`.
    pub(crate) fn mark_invalid(&self, app: &str, sha256: &str, reason: &str) -> Result<()> {
        either!(self, r => r.mark_invalid(app, sha256, reason))
    }

    /// Forget an operator's value: the manifest default applies again.
    pub(crate) fn clear_setting(&self, app: &str, id: &str) -> Result<()> {
        either!(self, r => r.clear_setting(app, id))
    }

    /// The last `limit` lines with `seq > after`, oldest first.
    pub(crate) fn logs(&self, app: &str, after: i64, limit: usize) -> Result<Vec<LogEntry>> {
        either!(self, r => r.logs(app, after, limit))
    }

    /// The call counters of `app`'s handlers.
    pub(crate) fn stats(&self, app: &str) -> Result<Vec<CallStats>> {
        either!(self, r => r.stats(app))
    }

    /// Under the registry's write lock, delete what no entry points at in
    /// `apps_dir`: app directories of removed apps, package files of
    /// replaced versions, and the staging directories of processes that died.
    pub(crate) fn sweep(&self, apps_dir: &Path) -> Result<()> {
        either!(self, r => r.sweep(apps_dir))
    }
}

/// Delete what `entries` (app id, package hash) do not point at in
/// `apps_dir` (the caller holds the registry's write lock).
pub(crate) fn sweep_dir(entries: &[(String, String)], apps_dir: &Path) {
    let Ok(dirs) = std::fs::read_dir(apps_dir) else {
        return;
    };
    for dir in dirs.flatten() {
        let name = dir.file_name().to_string_lossy().into_owned();
        let path = dir.path();
        if let Some(rest) = name.strip_prefix(".staging-") {
            let pid = rest.rsplit('-').next().and_then(|p| p.parse::<u32>().ok());
            if pid.is_some_and(|p| !process_alive(p)) {
                let _ = std::fs::remove_dir_all(&path);
            }
            continue;
        }
        match entries.iter().find(|(id, _)| *id == name) {
            None => {
                let _ = std::fs::remove_dir_all(&path);
            }
            Some((_, sha)) => {
                let keep = format!("{sha}.wasm");
                for file in std::fs::read_dir(&path).into_iter().flatten().flatten() {
                    let f = file.file_name().to_string_lossy().into_owned();
                    let stale_tmp = f.starts_with('.')
                        && f.rsplit("tmp")
                            .next()
                            .and_then(|p| p.parse::<u32>().ok())
                            .is_some_and(|p| !process_alive(p));
                    if (f.ends_with(".wasm") && f != keep) || stale_tmp {
                        let _ = std::fs::remove_file(file.path());
                    }
                }
            }
        }
    }
}

/// 32 random bytes from the operating system, as hex.
pub(crate) fn random_secret() -> Result<String> {
    use std::io::Read;
    let mut bytes = [0u8; 32];
    std::fs::File::open("/dev/urandom")
        .and_then(|mut f| f.read_exact(&mut bytes))
        .map_err(|e| Error::io("reading /dev/urandom for an endpoint secret", e))?;
    Ok(bytes.iter().map(|b| format!("{b:02x}")).collect())
}

/// Refuse `manifest` if it declares a command another app in `installed`
/// declares.
pub(crate) fn check_commands(installed: &[Manifest], manifest: &Manifest) -> Result<()> {
    for other in installed.iter().filter(|o| o.id != manifest.id) {
        if let Some(c) = manifest
            .commands
            .iter()
            .find(|c| other.commands.iter().any(|o| o.command == c.command))
        {
            return Err(Error::InvalidInput(format!(
                "the command '/{}' belongs to the installed app '{}'; app '{}' cannot declare it too (rename the command, or uninstall '{}' first)",
                c.command, other.id, manifest.id, other.id
            )));
        }
    }
    Ok(())
}

/// Bumped by every registry change committed in this process.
pub(crate) static LOCAL_CHANGES: AtomicU64 = AtomicU64::new(0);

/// The count of registry changes committed in this process so far: when
/// it moves, every `Host` in the process rechecks its apps.
pub(crate) fn local_changes() -> u64 {
    LOCAL_CHANGES.load(Ordering::Acquire)
}

/// Whether a process with this id is running (Linux; elsewhere assume yes,
/// which only means leftovers are kept).
pub(crate) fn process_alive(pid: u32) -> bool {
    if pid == std::process::id() {
        return true;
    }
    let proc = Path::new("/proc");
    !proc.exists() || proc.join(pid.to_string()).exists()
}
