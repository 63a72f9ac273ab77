//! The embedded registry: one SQLite file in the data dir, shared by
//! every host process using that dir.

use std::path::Path;
use std::sync::Mutex;
use std::sync::atomic::Ordering;
use std::time::Duration;

use rusqlite::{Connection, OptionalExtension, params};

use super::{
    AppEntry, CallStats, LOCAL_CHANGES, LOG_MAX_AGE, LOG_RETENTION, LogEntry, Status,
    VIEW_LIFETIME_MS, VIEWS_PER_USER, check_commands, now_ms, random_secret,
};
use crate::error::{Error, Result};
use crate::manifest::Manifest;

pub(crate) struct SqliteRegistry {
    conn: Mutex<Connection>,
    /// Its own connection for fault counts, so a fault's write never holds
    /// the connection other threads use.
    faults: Mutex<Option<Connection>>,
    /// Whether `apps.size` exists (a read-only registry of an older host
    /// cannot be migrated).
    has_size: bool,
}

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS apps (
    id TEXT PRIMARY KEY,
    seq INTEGER NOT NULL,
    manifest TEXT NOT NULL,
    sha256 TEXT NOT NULL,
    status TEXT NOT NULL,
    status_reason TEXT,
    installed_at INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS settings (
    app TEXT NOT NULL,
    id TEXT NOT NULL,
    value TEXT NOT NULL,
    PRIMARY KEY (app, id)
);
CREATE TABLE IF NOT EXISTS logs (
    seq INTEGER PRIMARY KEY,
    app TEXT NOT NULL,
    time INTEGER NOT NULL,
    level TEXT NOT NULL,
    source TEXT NOT NULL,
    message TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS logs_by_app ON logs(app, seq);
CREATE TABLE IF NOT EXISTS stats (
    app TEXT NOT NULL,
    handler TEXT NOT NULL,
    calls INTEGER NOT NULL,
    errors INTEGER NOT NULL,
    total_us INTEGER NOT NULL,
    PRIMARY KEY (app, handler)
);
CREATE TABLE IF NOT EXISTS faults (
    app TEXT NOT NULL,
    time INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS faults_by_app ON faults(app, time);
CREATE TABLE IF NOT EXISTS endpoint_secrets (app TEXT PRIMARY KEY, secret TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS views (
    id TEXT PRIMARY KEY, app TEXT NOT NULL, user TEXT NOT NULL, view TEXT NOT NULL,
    opened_at INTEGER NOT NULL, closed_at INTEGER, submitting_since INTEGER
);
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value INTEGER NOT NULL);
INSERT OR IGNORE INTO meta (key, value) VALUES ('version', 0), ('next-seq', 1);
";

impl SqliteRegistry {
    pub(crate) fn open(path: &Path, busy_timeout: Duration) -> Result<SqliteRegistry> {
        let (conn, read_only) =
            crate::sqlite::open_connection(path).map_err(|e| Error::Storage {
                context: Some(format!("opening the registry {}", path.display())),
                cause: e,
            })?;
        if read_only {
            return Ok(SqliteRegistry {
                has_size: has_size(&conn),
                conn: Mutex::new(conn),
                faults: Mutex::new(None),
            });
        }
        conn.busy_timeout(busy_timeout)?;
        conn.execute_batch("PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;")?;
        if let Err(e) = conn
            .execute_batch(&format!("BEGIN IMMEDIATE; {SCHEMA} COMMIT;"))
            .and_then(|()| migrate(&conn))
        {
            let _ = conn.execute_batch("ROLLBACK");
            // A read-only data dir can still be served (reads only).
            if e.sqlite_error_code() != Some(rusqlite::ErrorCode::ReadOnly) {
                return Err(e.into());
            }
        }
        let faults = crate::sqlite::open_connection(path)
            .ok()
            .map(|(c, _)| c)
            .filter(|c| c.busy_timeout(busy_timeout).is_ok());
        Ok(SqliteRegistry {
            has_size: has_size(&conn),
            conn: Mutex::new(conn),
            faults: Mutex::new(faults),
        })
    }

    fn with<T>(&self, f: impl FnOnce(&Connection) -> rusqlite::Result<T>) -> Result<T> {
        let conn = self.conn.lock().expect("registry lock poisoned");
        Ok(f(&conn)?)
    }

    /// Run `f` in a write transaction that also bumps the version.
    fn change<T>(&self, f: impl FnOnce(&Connection) -> Result<T>) -> Result<T> {
        let conn = self.conn.lock().expect("registry lock poisoned");
        let out = crate::sqlite::immediate(&conn, |c| {
            let v = f(c)?;
            c.execute(
                "UPDATE meta SET value = value + 1 WHERE key = 'version'",
                [],
            )?;
            Ok(v)
        });
        if out.is_ok() {
            LOCAL_CHANGES.fetch_add(1, Ordering::Release);
        }
        out
    }

    /// The change counter; differs from a cached value when anything changed.
    pub(crate) fn version(&self) -> Result<i64> {
        self.with(|c| {
            c.query_row("SELECT value FROM meta WHERE key = 'version'", [], |r| {
                r.get(0)
            })
        })
    }

    pub(crate) fn apps(&self) -> Result<Vec<AppEntry>> {
        let rows = self.with(|c| {
            let mut stmt = c.prepare_cached(
                if self.has_size {
                    "SELECT manifest, seq, status, status_reason, sha256, installed_at, size FROM apps ORDER BY seq"
                } else {
                    "SELECT manifest, seq, status, status_reason, sha256, installed_at, NULL FROM apps ORDER BY seq"
                },
            )?;
            stmt.query_map([], |r| {
                Ok((
                    r.get::<_, String>(0)?,
                    r.get(1)?,
                    r.get::<_, String>(2)?,
                    r.get(3)?,
                    r.get(4)?,
                    r.get::<_, i64>(5)? as u64,
                    r.get::<_, Option<i64>>(6)?.map(|n| n as u64),
                ))
            })?
            .collect::<rusqlite::Result<Vec<_>>>()
        })?;
        rows.into_iter()
            .map(
                |(manifest, order, status, status_reason, sha256, installed_at, size)| {
                    Ok(AppEntry {
                        manifest: serde_json::from_str(&manifest)
                            .map_err(|e| Error::InvalidManifest(format!("registry entry: {e}")))?,
                        order,
                        status: Status::parse(&status),
                        status_reason,
                        sha256,
                        installed_at,
                        size,
                    })
                },
            )
            .collect()
    }

    /// Add an app; `before_commit` runs inside the transaction (the files
    /// are moved into place there) so a failure leaves no entry.
    pub(crate) fn insert(
        &self,
        manifest: &Manifest,
        sha256: &str,
        size: u64,
        status: Status,
        before_commit: impl FnOnce() -> Result<()>,
    ) -> Result<()> {
        self.change(|c| {
            let exists: Option<i64> = c
                .query_row("SELECT 1 FROM apps WHERE id = ?1", [&manifest.id], |r| r.get(0))
                .optional()?;
            if exists.is_some() {
                return Err(Error::AlreadyInstalled(manifest.id.clone()));
            }
            check_commands(&manifests(c)?, manifest)?;
            let seq: i64 = c.query_row("SELECT value FROM meta WHERE key = 'next-seq'", [], |r| r.get(0))?;
            c.execute("UPDATE meta SET value = value + 1 WHERE key = 'next-seq'", [])?;
            c.execute(
                "INSERT INTO apps (id, seq, manifest, sha256, status, status_reason, installed_at, size) VALUES (?1, ?2, ?3, ?4, ?5, NULL, ?6, ?7)",
                params![
                    manifest.id,
                    seq,
                    serde_json::to_string(manifest).expect("manifest serializes"),
                    sha256,
                    status.as_str(),
                    now_ms() as i64,
                    size as i64
                ],
            )?;
            before_commit()
        })
    }

    pub(crate) fn set_status(&self, app: &str, status: Status, reason: Option<&str>) -> Result<()> {
        self.change(|c| {
            let n = c.execute(
                "UPDATE apps SET status = ?2, status_reason = ?3 WHERE id = ?1",
                params![app, status.as_str(), reason],
            )?;
            if n == 0 {
                return Err(Error::UnknownApp(app.to_string()));
            }
            Ok(())
        })
    }

    /// Replace an app's manifest and hash; `before_commit` swaps the files.
    pub(crate) fn replace(
        &self,
        manifest: &Manifest,
        sha256: &str,
        size: u64,
        before_commit: impl FnOnce() -> Result<()>,
    ) -> Result<()> {
        self.change(|c| {
            check_commands(&manifests(c)?, manifest)?;
            let n = c.execute(
                "UPDATE apps SET manifest = ?2, sha256 = ?3, size = ?4 WHERE id = ?1",
                params![
                    manifest.id,
                    serde_json::to_string(manifest).expect("manifest serializes"),
                    sha256,
                    size as i64
                ],
            )?;
            if n == 0 {
                return Err(Error::UnknownApp(manifest.id.clone()));
            }
            // Settings the new version no longer declares are dropped.
            let keep: Vec<&str> = manifest.settings.iter().map(|s| s.id.as_str()).collect();
            let stored: Vec<String> = c
                .prepare("SELECT id FROM settings WHERE app = ?1")?
                .query_map([&manifest.id], |r| r.get(0))?
                .collect::<rusqlite::Result<_>>()?;
            for id in stored.iter().filter(|id| !keep.contains(&id.as_str())) {
                c.execute(
                    "DELETE FROM settings WHERE app = ?1 AND id = ?2",
                    params![manifest.id, id],
                )?;
            }
            before_commit()
        })
    }

    /// Remove an app's entry, settings and logs; `before_commit` removes its files.
    pub(crate) fn remove(
        &self,
        app: &str,
        before_commit: impl FnOnce() -> Result<()>,
    ) -> Result<()> {
        self.change(|c| {
            let n = c.execute("DELETE FROM apps WHERE id = ?1", [app])?;
            if n == 0 {
                return Err(Error::UnknownApp(app.to_string()));
            }
            c.execute("DELETE FROM settings WHERE app = ?1", [app])?;
            c.execute("DELETE FROM logs WHERE app = ?1", [app])?;
            c.execute("DELETE FROM stats WHERE app = ?1", [app])?;
            c.execute("DELETE FROM faults WHERE app = ?1", [app])?;
            c.execute("DELETE FROM endpoint_secrets WHERE app = ?1", [app])?;
            c.execute("DELETE FROM views WHERE app = ?1", [app])?;
            before_commit()
        })
    }

    /// Record a view an app opened (after its handler committed); views
    /// older than [`VIEW_LIFETIME_MS`] are forgotten, so the table stays
    /// bounded by what was opened lately.
    /// An update changes a view that is still open, nothing else: false
    /// when it closed (or was forgotten) meanwhile, and the update is then
    /// not shown. A user keeps at most [`VIEWS_PER_USER`] open; opening
    /// another closes their oldest (returned with its app, to close in the
    /// chat too).
    pub(crate) fn open_view(
        &self,
        view: &crate::bridge::View,
        update: bool,
    ) -> Result<(bool, Vec<(String, String)>)> {
        let json = serde_json::to_string(view).unwrap_or_default();
        let now = now_ms() as i64;
        self.with(|c| {
            if update {
                let n = c.execute(
                    "UPDATE views SET view = ?2 WHERE id = ?1 AND closed_at IS NULL",
                    rusqlite::params![view.id, json],
                )?;
                return Ok((n == 1, Vec::new()));
            }
            c.execute(
                "DELETE FROM views WHERE opened_at < ?1",
                [now - VIEW_LIFETIME_MS],
            )?;
            c.execute(
                "INSERT INTO views (id, app, user, view, opened_at) VALUES (?1, ?2, ?3, ?4, ?5)",
                rusqlite::params![view.id, view.app, view.user, json, now],
            )?;
            let dropped: Vec<(String, String)> = c
                .prepare_cached(
                    "UPDATE views SET closed_at = ?3 WHERE user = ?1 AND closed_at IS NULL AND id NOT IN
                     (SELECT id FROM views WHERE user = ?1 AND closed_at IS NULL
                      ORDER BY opened_at DESC, rowid DESC LIMIT ?2)
                     RETURNING id, app",
                )?
                .query_map(
                    rusqlite::params![view.user, VIEWS_PER_USER as i64, now],
                    |r| Ok((r.get(0)?, r.get(1)?)),
                )?
                .collect::<rusqlite::Result<_>>()?;
            Ok((true, dropped))
        })
    }

    /// Mark a view as being submitted (or closed); false if it is closed
    /// or another submit holds it. A claim older than a minute (its
    /// process died) is taken over.
    pub(crate) fn begin_submit(&self, id: &str) -> Result<bool> {
        let now = now_ms() as i64;
        let n = self.with(|c| {
            c.execute(
                "UPDATE views SET submitting_since = ?2 WHERE id = ?1 AND closed_at IS NULL
                 AND (submitting_since IS NULL OR submitting_since < ?2 - 60000)",
                rusqlite::params![id, now],
            )
        })?;
        Ok(n == 1)
    }

    /// The submit of a view is over.
    pub(crate) fn end_submit(&self, id: &str) -> Result<()> {
        self.with(|c| {
            c.execute(
                "UPDATE views SET submitting_since = NULL WHERE id = ?1",
                [id],
            )
        })?;
        Ok(())
    }

    /// The ids and users of app `app`'s open views.
    pub(crate) fn open_views_of(&self, app: &str) -> Result<Vec<(String, String)>> {
        self.with(|c| {
            c.prepare_cached("SELECT id, user FROM views WHERE app = ?1 AND closed_at IS NULL")?
                .query_map([app], |r| Ok((r.get(0)?, r.get(1)?)))?
                .collect()
        })
    }

    /// A view, if it is known and still open.
    pub(crate) fn open_view_by_id(&self, id: &str) -> Result<Option<crate::bridge::View>> {
        let json: Option<String> = self.with(|c| {
            c.prepare_cached(
                "SELECT view FROM views WHERE id = ?1 AND closed_at IS NULL AND opened_at >= ?2",
            )?
            .query_row(
                rusqlite::params![id, now_ms() as i64 - VIEW_LIFETIME_MS],
                |r| r.get(0),
            )
            .optional()
        })?;
        Ok(json.and_then(|j| serde_json::from_str(&j).ok()))
    }

    /// Close a view; true if it was open (of two closes, one wins).
    pub(crate) fn close_view(&self, id: &str) -> Result<bool> {
        let n = self.with(|c| {
            c.execute(
                "UPDATE views SET closed_at = ?2 WHERE id = ?1 AND closed_at IS NULL",
                rusqlite::params![id, now_ms() as i64],
            )
        })?;
        Ok(n == 1)
    }

    /// App `app`'s endpoint secret, if it has one yet.
    pub(crate) fn endpoint_secret(&self, app: &str) -> Result<Option<String>> {
        self.with(|c| {
            c.prepare_cached("SELECT secret FROM endpoint_secrets WHERE app = ?1")?
                .query_row([app], |r| r.get(0))
                .optional()
        })
    }

    /// App `app`'s endpoint secret, created if it has none (two processes
    /// asking at once get the same one).
    pub(crate) fn ensure_endpoint_secret(&self, app: &str) -> Result<String> {
        if let Some(secret) = self.endpoint_secret(app)? {
            return Ok(secret);
        }
        let candidate = random_secret()?;
        self.change(|c| {
            c.execute(
                "INSERT OR IGNORE INTO endpoint_secrets (app, secret) VALUES (?1, ?2)",
                [app, &candidate],
            )?;
            Ok(())
        })?;
        self.endpoint_secret(app)?
            .ok_or_else(|| Error::InvalidInput(format!("app '{app}' has no endpoint secret")))
    }

    /// Give `app` a new endpoint secret (replacing any), and return it.
    pub(crate) fn new_endpoint_secret(&self, app: &str) -> Result<String> {
        let secret = random_secret()?;
        self.change(|c| {
            c.execute(
                "INSERT INTO endpoint_secrets (app, secret) VALUES (?1, ?2)
                 ON CONFLICT (app) DO UPDATE SET secret = excluded.secret",
                [app, &secret],
            )?;
            Ok(())
        })?;
        Ok(secret)
    }

    pub(crate) fn settings(&self, app: &str) -> Result<Vec<(String, serde_json::Value)>> {
        let rows = self.with(|c| {
            c.prepare_cached("SELECT id, value FROM settings WHERE app = ?1")?
                .query_map([app], |r| {
                    Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?))
                })?
                .collect::<rusqlite::Result<Vec<_>>>()
        })?;
        Ok(rows
            .into_iter()
            .filter_map(|(id, v)| serde_json::from_str(&v).ok().map(|v| (id, v)))
            .collect())
    }

    pub(crate) fn set_setting(&self, app: &str, id: &str, value: &serde_json::Value) -> Result<()> {
        self.change(|c| {
            c.execute(
                "INSERT INTO settings (app, id, value) VALUES (?1, ?2, ?3) ON CONFLICT (app, id) DO UPDATE SET value = excluded.value",
                params![app, id, value.to_string()],
            )?;
            Ok(())
        })
    }

    /// Count one fault of `app`, seen by every process on the data dir;
    /// true when `max` faults fall within `window` (the count then starts
    /// over).
    pub(crate) fn record_fault(&self, app: &str, max: u32, window: Duration) -> Result<bool> {
        let now = now_ms() as i64;
        let conn = self.faults.lock().expect("registry lock poisoned");
        let Some(conn) = conn.as_ref() else {
            return Ok(false);
        };
        crate::sqlite::immediate(conn, |c| {
            c.prepare_cached("INSERT INTO faults (app, time) VALUES (?1, ?2)")?
                .execute(params![app, now])?;
            c.prepare_cached("DELETE FROM faults WHERE app = ?1 AND time <= ?2")?
                .execute(params![app, now - window.as_millis() as i64])?;
            let n: i64 = c
                .prepare_cached("SELECT count(*) FROM faults WHERE app = ?1")?
                .query_row([app], |r| r.get(0))?;
            let tripped = n >= i64::from(max);
            if tripped {
                c.prepare_cached("DELETE FROM faults WHERE app = ?1")?
                    .execute([app])?;
            }
            Ok(tripped)
        })
    }

    /// Mark app `app` invalid if its entry still names the package `sha256`
    /// (another process may have updated or removed it meanwhile).
    pub(crate) fn mark_invalid(&self, app: &str, sha256: &str, reason: &str) -> Result<()> {
        self.change(|c| {
            c.execute(
                "UPDATE apps SET status = 'invalid', status_reason = ?3 WHERE id = ?1 AND sha256 = ?2",
                params![app, sha256, reason],
            )?;
            Ok(())
        })
    }

    /// Forget an operator's value: the manifest default applies again.
    pub(crate) fn clear_setting(&self, app: &str, id: &str) -> Result<()> {
        self.change(|c| {
            c.execute(
                "DELETE FROM settings WHERE app = ?1 AND id = ?2",
                params![app, id],
            )?;
            Ok(())
        })
    }

    /// Append log lines and apply retention now (the journal does the
    /// same in batches, off the calling thread).
    #[cfg(test)]
    pub(crate) fn log(&self, app: &str, source: &str, lines: &[(&str, String)]) -> Result<()> {
        let time = now_ms() as i64;
        self.with(|c| {
            crate::sqlite::immediate(c, |c| {
                append_logs(c, app, source, lines, time)?;
                retain_logs(c, app, time)
            })
        })
    }

    /// The last `limit` lines with `seq > after`, oldest first.
    pub(crate) fn logs(&self, app: &str, after: i64, limit: usize) -> Result<Vec<LogEntry>> {
        let mut rows = self.with(|c| {
            c.prepare_cached(
                "SELECT seq, app, time, level, source, message FROM logs WHERE app = ?1 AND seq > ?2 ORDER BY seq DESC LIMIT ?3",
            )?
            .query_map(params![app, after, limit as i64], |r| {
                Ok(LogEntry {
                    seq: r.get(0)?,
                    app: r.get(1)?,
                    time: r.get::<_, i64>(2)? as u64,
                    level: r.get(3)?,
                    source: r.get(4)?,
                    message: r.get(5)?,
                })
            })?
            .collect::<rusqlite::Result<Vec<_>>>()
        })?;
        rows.reverse();
        Ok(rows)
    }

    pub(crate) fn stats(&self, app: &str) -> Result<Vec<CallStats>> {
        self.with(|c| {
            c.prepare_cached("SELECT handler, calls, errors, total_us FROM stats WHERE app = ?1 ORDER BY handler")?
                .query_map([app], |r| {
                    Ok(CallStats {
                        handler: r.get(0)?,
                        calls: r.get::<_, i64>(1)? as u64,
                        errors: r.get::<_, i64>(2)? as u64,
                        total_us: r.get::<_, i64>(3)? as u64,
                    })
                })?
                .collect()
        })
    }
}

fn has_size(conn: &Connection) -> bool {
    conn.prepare("SELECT 1 FROM pragma_table_info('apps') WHERE name = 'size'")
        .and_then(|mut s| s.exists([]))
        .unwrap_or(false)
}

/// Columns added since the first registry: `apps.size`.
fn migrate(conn: &Connection) -> rusqlite::Result<()> {
    crate::sqlite::immediate(conn, |c| {
        let has_size = c
            .prepare("SELECT 1 FROM pragma_table_info('apps') WHERE name = 'size'")?
            .exists([])?;
        if !has_size {
            c.execute_batch("ALTER TABLE apps ADD COLUMN size INTEGER")?;
        }
        Ok(())
    })
}

fn manifests(c: &Connection) -> Result<Vec<Manifest>> {
    let texts: Vec<String> = c
        .prepare_cached("SELECT manifest FROM apps")?
        .query_map([], |r| r.get(0))?
        .collect::<rusqlite::Result<_>>()?;
    texts
        .iter()
        .map(|t| {
            serde_json::from_str(t)
                .map_err(|e| Error::InvalidManifest(format!("registry entry: {e}")))
        })
        .collect()
}

/// Append log lines (inside the caller's transaction).
pub(crate) fn append_logs(
    c: &Connection,
    app: &str,
    source: &str,
    lines: &[(&str, String)],
    time: i64,
) -> rusqlite::Result<()> {
    let mut stmt = c.prepare_cached(
        "INSERT INTO logs (app, time, level, source, message) VALUES (?1, ?2, ?3, ?4, ?5)",
    )?;
    for (level, message) in lines {
        stmt.execute(params![app, time, level, source, message])?;
    }
    Ok(())
}

/// How many of `app`'s own log lines were written since `since` (ms), by
/// any process: the per-minute log budget is counted here.
pub(crate) fn app_lines_since(c: &Connection, app: &str, since: i64) -> rusqlite::Result<u64> {
    c.prepare_cached("SELECT count(*) FROM logs WHERE app = ?1 AND source = 'app' AND time > ?2")?
        .query_row(params![app, since], |r| r.get::<_, i64>(0))
        .map(|n| n as u64)
}

/// Bounded retention, by count and by age: an app cannot fill the disk
/// with logs.
pub(crate) fn retain_logs(c: &Connection, app: &str, now: i64) -> rusqlite::Result<()> {
    c.prepare_cached(
        "DELETE FROM logs WHERE app = ?1 AND seq <= (SELECT seq FROM logs WHERE app = ?1 ORDER BY seq DESC LIMIT 1 OFFSET ?2)",
    )?
    .execute(params![app, LOG_RETENTION as i64])?;
    c.prepare_cached("DELETE FROM logs WHERE app = ?1 AND time < ?2")?
        .execute(params![app, now - LOG_MAX_AGE.as_millis() as i64])?;
    Ok(())
}

/// Add call counters (inside the caller's transaction).
pub(crate) fn add_stats(c: &Connection, stats: &[(String, CallStats)]) -> rusqlite::Result<()> {
    let mut stmt = c.prepare_cached(
        "INSERT INTO stats (app, handler, calls, errors, total_us) VALUES (?1, ?2, ?3, ?4, ?5) \
         ON CONFLICT (app, handler) DO UPDATE SET calls = calls + excluded.calls, \
         errors = errors + excluded.errors, total_us = total_us + excluded.total_us",
    )?;
    for (app, s) in stats {
        stmt.execute(params![
            app,
            s.handler,
            s.calls as i64,
            s.errors as i64,
            s.total_us as i64
        ])?;
    }
    Ok(())
}

impl SqliteRegistry {
    /// Under the registry's write lock (so no install or uninstall is half
    /// done), delete what no entry points at: app directories of removed
    /// apps, package files of replaced versions, and the staging
    /// directories of processes that died.
    pub(crate) fn sweep(&self, apps_dir: &Path) -> Result<()> {
        let conn = self.conn.lock().expect("registry lock poisoned");
        conn.execute_batch("BEGIN IMMEDIATE")?;
        let result = (|| -> Result<()> {
            let entries: Vec<(String, String)> = conn
                .prepare("SELECT id, sha256 FROM apps")?
                .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?
                .collect::<rusqlite::Result<_>>()?;
            super::sweep_dir(&entries, apps_dir);
            Ok(())
        })();
        let _ = conn.execute_batch(if result.is_ok() { "COMMIT" } else { "ROLLBACK" });
        result
    }
}

/// Writes the journal's batches into `registry.db`, on a connection of
/// its own.
pub(crate) struct SqliteLog(Connection);

impl SqliteLog {
    /// The writer for the registry at `path`; None when it cannot be
    /// opened (the journal then drops what it is sent).
    pub(crate) fn open(path: &Path) -> Option<SqliteLog> {
        let (conn, _) = crate::sqlite::open_connection(path).ok()?;
        let _ = conn.busy_timeout(Duration::from_secs(5));
        Some(SqliteLog(conn))
    }
}

impl crate::journal::LogStore for SqliteLog {
    fn batch(
        &mut self,
        f: &mut dyn FnMut(&mut dyn crate::journal::LogTxn) -> Result<()>,
    ) -> Result<()> {
        crate::sqlite::immediate(&self.0, |c| f(&mut SqliteLogTxn(c)))
    }
}

struct SqliteLogTxn<'a>(&'a Connection);

impl crate::journal::LogTxn for SqliteLogTxn<'_> {
    fn append(
        &mut self,
        app: &str,
        source: &str,
        lines: &[(&str, String)],
        time: i64,
    ) -> Result<()> {
        Ok(append_logs(self.0, app, source, lines, time)?)
    }

    fn add_stats(&mut self, stats: &[(String, CallStats)]) -> Result<()> {
        Ok(add_stats(self.0, stats)?)
    }

    fn lines_since(&mut self, app: &str, since: i64) -> Result<u64> {
        Ok(app_lines_since(self.0, app, since)?)
    }

    fn retain(&mut self, app: &str, now: i64) -> Result<()> {
        Ok(retain_logs(self.0, app, now)?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn log_retention_is_bounded_by_count_and_age() {
        let dir = tempfile::tempdir().unwrap();
        let reg = SqliteRegistry::open(&dir.path().join("r.db"), Duration::from_secs(1)).unwrap();
        let lines: Vec<(&str, String)> = (0..LOG_RETENTION + 500)
            .map(|i| ("info", format!("line {i}")))
            .collect();
        reg.log("a", "app", &lines).unwrap();
        let kept = reg.logs("a", 0, usize::MAX).unwrap();
        assert_eq!(kept.len() as u64, LOG_RETENTION);
        assert_eq!(
            kept.last().unwrap().message,
            format!("line {}", LOG_RETENTION + 499)
        );
        // Another app's lines are not touched by a's retention.
        reg.log("b", "app", &[("info", "b line".into())]).unwrap();
        reg.with(|c| c.execute("UPDATE logs SET time = 0 WHERE app = 'a'", []))
            .unwrap();
        reg.log("a", "app", &[("info", "fresh".into())]).unwrap();
        let kept = reg.logs("a", 0, usize::MAX).unwrap();
        assert_eq!(
            kept.iter().map(|l| l.message.as_str()).collect::<Vec<_>>(),
            vec!["fresh"]
        );
        assert_eq!(reg.logs("b", 0, 10).unwrap().len(), 1);
    }
}
