//! The registry in PostgreSQL: the same tables as the SQLite registry,
//! plus the packages themselves (another machine may install an app this
//! host then loads). Changes are serialised by an advisory lock (the
//! analogue of `BEGIN IMMEDIATE`), bump the version counter and announce
//! themselves with `NOTIFY`, which a listener thread turns into a counter
//! the dispatch path compares, so other machines reload without polling
//! the server on every event.

use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Weak};
use std::time::Duration;

use postgres::fallible_iterator::FallibleIterator;
use postgres::{NoTls, Transaction};

use super::{
    AppEntry, CallStats, LOCAL_CHANGES, LOG_MAX_AGE, LOG_RETENTION, LogEntry, Status,
    VIEW_LIFETIME_MS, VIEWS_PER_USER, check_commands, now_ms, random_secret,
};
use crate::error::{Error, Result};
use crate::manifest::Manifest;
use crate::pg::{self, CHANGES_CHANNEL, LOCK_SPACE, PgConfig, Pool, Pooled};
use crate::storage::postgres::{adopt_app_rows, delete_app_rows, staging_key};

/// Second key of the advisory lock every registry change takes.
pub(crate) const CHANGE_LOCK: i32 = 2;
/// Second key of the lock journal batches that count app lines take.
const LOG_LOCK: i32 = 3;

/// The registry in a PostgreSQL database.
pub(crate) struct PgRegistry {
    pool: Pool,
    config: PgConfig,
    /// Bumped by the listener for every change announced by any host (and
    /// whenever it reconnects, as it may have missed some).
    notified: Arc<AtomicU64>,
    /// Dropped with the registry: the listener then stops.
    _alive: Arc<()>,
}

impl PgRegistry {
    /// The registry in `config`'s database (the schema already set up).
    pub(crate) fn open(pool: Pool, config: PgConfig) -> Result<PgRegistry> {
        let notified = Arc::new(AtomicU64::new(0));
        let alive = Arc::new(());
        {
            let (notified, alive, config) = (
                notified.clone(),
                Arc::downgrade(&alive),
                config.config.clone(),
            );
            std::thread::Builder::new()
                .name("hangar-listen".into())
                .spawn(move || listen(config, notified, alive))
                .map_err(|e| Error::io("starting the change listener thread", e))?;
        }
        Ok(PgRegistry {
            pool,
            config,
            notified,
            _alive: alive,
        })
    }

    /// The counter of changes announced by any host.
    pub(crate) fn notified(&self) -> &Arc<AtomicU64> {
        &self.notified
    }

    fn conn(&self) -> Result<Pooled> {
        self.pool.get().map_err(|e| {
            Error::Database(format!(
                "no connection to {} ({e}); is the PostgreSQL server up?",
                self.config.display()
            ))
        })
    }

    fn with<T>(&self, f: impl FnOnce(&mut postgres::Client) -> Result<T>) -> Result<T> {
        let mut conn = self.conn()?;
        f(&mut conn.client)
    }

    /// Run `f` in a transaction that holds the change lock, bumps the
    /// version and announces the change at commit.
    fn change<T>(&self, f: impl FnOnce(&mut Transaction<'_>) -> Result<T>) -> Result<T> {
        let mut conn = self.conn()?;
        let mut tx = conn.client.transaction()?;
        // A machine that died holding the lock cannot stall every change.
        tx.batch_execute(&format!(
            "SET LOCAL lock_timeout = 10000; SET LOCAL statement_timeout = 30000;
             SELECT pg_advisory_xact_lock({LOCK_SPACE}, {CHANGE_LOCK});"
        ))?;
        let value = f(&mut tx)?;
        tx.batch_execute(&format!(
            "UPDATE hangar.meta SET value = value + 1 WHERE key = 'version'; NOTIFY {CHANGES_CHANNEL};"
        ))?;
        tx.commit()?;
        LOCAL_CHANGES.fetch_add(1, Ordering::Release);
        Ok(value)
    }

    pub(crate) fn version(&self) -> Result<i64> {
        self.with(|c| {
            Ok(
                c.query_one("SELECT value FROM hangar.meta WHERE key = 'version'", &[])?
                    .get(0),
            )
        })
    }

    pub(crate) fn apps(&self) -> Result<Vec<AppEntry>> {
        let rows = self.with(|c| {
            Ok(c.query(
                "SELECT manifest, seq, status, status_reason, sha256, installed_at, size
                 FROM hangar.apps ORDER BY seq",
                &[],
            )?)
        })?;
        rows.iter()
            .map(|r| {
                let manifest: String = r.get(0);
                Ok(AppEntry {
                    manifest: serde_json::from_str(&manifest)
                        .map_err(|e| Error::InvalidManifest(format!("registry entry: {e}")))?,
                    order: r.get(1),
                    status: Status::parse(r.get(2)),
                    status_reason: r.get(3),
                    sha256: r.get(4),
                    installed_at: r.get::<_, i64>(5) as u64,
                    size: r.get::<_, Option<i64>>(6).map(|n| n as u64),
                })
            })
            .collect()
    }

    pub(crate) fn insert(
        &self,
        manifest: &Manifest,
        sha256: &str,
        bytes: &[u8],
        status: Status,
        staging: &Path,
        before_commit: impl FnOnce() -> Result<()>,
    ) -> Result<()> {
        self.change(|tx| {
            if tx
                .query_opt("SELECT 1 FROM hangar.apps WHERE id = $1", &[&manifest.id])?
                .is_some()
            {
                return Err(Error::AlreadyInstalled(manifest.id.clone()));
            }
            check_commands(&manifests(tx)?, manifest)?;
            add_app(tx, manifest, sha256, status, None, now_ms(), bytes)?;
            // What the install hook wrote becomes the app's in this commit;
            // what other, uncommitted installs of it staged is dropped.
            let key = staging_key(&manifest.id, staging);
            crate::storage::postgres::delete_other_staged_rows(tx, &manifest.id, &key)?;
            adopt_app_rows(tx, &key, &manifest.id)?;
            before_commit()
        })
    }

    pub(crate) fn set_status(&self, app: &str, status: Status, reason: Option<&str>) -> Result<()> {
        self.change(|tx| {
            let n = tx.execute(
                "UPDATE hangar.apps SET status = $2, status_reason = $3 WHERE id = $1",
                &[&app, &status.as_str(), &reason],
            )?;
            if n == 0 {
                return Err(Error::UnknownApp(app.to_string()));
            }
            Ok(())
        })
    }

    pub(crate) fn replace(
        &self,
        manifest: &Manifest,
        sha256: &str,
        bytes: &[u8],
        before_commit: impl FnOnce() -> Result<()>,
    ) -> Result<()> {
        self.change(|tx| {
            check_commands(&manifests(tx)?, manifest)?;
            let n = tx.execute(
                "UPDATE hangar.apps SET manifest = $2, sha256 = $3, size = $4 WHERE id = $1",
                &[
                    &manifest.id,
                    &serde_json::to_string(manifest).expect("manifest serializes"),
                    &sha256,
                    &(bytes.len() as i64),
                ],
            )?;
            if n == 0 {
                return Err(Error::UnknownApp(manifest.id.clone()));
            }
            // Settings the new version no longer declares are dropped.
            let keep: Vec<&str> = manifest.settings.iter().map(|s| s.id.as_str()).collect();
            tx.execute(
                "DELETE FROM hangar.settings WHERE app = $1 AND NOT (id = ANY($2))",
                &[&manifest.id, &keep],
            )?;
            // Only the current package is kept.
            tx.execute(
                "DELETE FROM hangar.packages WHERE app = $1 AND sha256 <> $2",
                &[&manifest.id, &sha256],
            )?;
            store_package(tx, &manifest.id, sha256, bytes)?;
            before_commit()
        })
    }

    pub(crate) fn remove(
        &self,
        app: &str,
        before_commit: impl FnOnce() -> Result<()>,
    ) -> Result<()> {
        self.change(|tx| {
            let n = tx.execute("DELETE FROM hangar.apps WHERE id = $1", &[&app])?;
            if n == 0 {
                return Err(Error::UnknownApp(app.to_string()));
            }
            for table in [
                "settings",
                "logs",
                "stats",
                "faults",
                "endpoint_secrets",
                "views",
                "packages",
            ] {
                tx.execute(
                    &format!("DELETE FROM hangar.{table} WHERE app = $1"),
                    &[&app],
                )?;
            }
            // Its store goes in the same commit: a new install starts empty.
            delete_app_rows(tx, app)?;
            before_commit()
        })
    }

    pub(crate) fn package(&self, app: &str, sha256: &str) -> Result<Option<Vec<u8>>> {
        self.with(|c| {
            Ok(c.query_opt(
                "SELECT bytes FROM hangar.packages WHERE app = $1 AND sha256 = $2",
                &[&app, &sha256],
            )?
            .map(|r| r.get(0)))
        })
    }

    pub(crate) fn open_view(
        &self,
        view: &crate::bridge::View,
        update: bool,
    ) -> Result<(bool, Vec<(String, String)>)> {
        let json = serde_json::to_string(view).unwrap_or_default();
        let now = now_ms() as i64;
        let mut conn = self.conn()?;
        if update {
            let n = conn.client.execute(
                "UPDATE hangar.views SET view = $2 WHERE id = $1 AND closed_at IS NULL",
                &[&view.id, &json],
            )?;
            return Ok((n == 1, Vec::new()));
        }
        let mut tx = conn.client.transaction()?;
        // One user's views open one at a time on every machine, so the
        // per-user cap holds exactly.
        tx.execute(
            "SELECT pg_advisory_xact_lock($1, hashtext('views:' || $2))",
            &[&LOCK_SPACE, &view.user],
        )?;
        tx.execute(
            "DELETE FROM hangar.views WHERE opened_at < $1",
            &[&(now - VIEW_LIFETIME_MS)],
        )?;
        tx.execute(
            "INSERT INTO hangar.views (id, app, user_id, view, opened_at) VALUES ($1, $2, $3, $4, $5)",
            &[&view.id, &view.app, &view.user, &json, &now],
        )?;
        let dropped = tx
            .query(
                "UPDATE hangar.views SET closed_at = $3 WHERE user_id = $1 AND closed_at IS NULL AND id NOT IN
                 (SELECT id FROM hangar.views WHERE user_id = $1 AND closed_at IS NULL
                  ORDER BY opened_at DESC, id DESC LIMIT $2)
                 RETURNING id, app",
                &[&view.user, &(VIEWS_PER_USER as i64), &now],
            )?
            .iter()
            .map(|r| (r.get(0), r.get(1)))
            .collect();
        tx.commit()?;
        Ok((true, dropped))
    }

    pub(crate) fn begin_submit(&self, id: &str) -> Result<bool> {
        let now = now_ms() as i64;
        let n = self.with(|c| {
            Ok(c.execute(
                "UPDATE hangar.views SET submitting_since = $2 WHERE id = $1 AND closed_at IS NULL
                 AND (submitting_since IS NULL OR submitting_since < $2::bigint - 60000)",
                &[&id, &now],
            )?)
        })?;
        Ok(n == 1)
    }

    pub(crate) fn end_submit(&self, id: &str) -> Result<()> {
        self.with(|c| {
            c.execute(
                "UPDATE hangar.views SET submitting_since = NULL WHERE id = $1",
                &[&id],
            )?;
            Ok(())
        })
    }

    pub(crate) fn open_views_of(&self, app: &str) -> Result<Vec<(String, String)>> {
        self.with(|c| {
            Ok(c.query(
                "SELECT id, user_id FROM hangar.views WHERE app = $1 AND closed_at IS NULL",
                &[&app],
            )?
            .iter()
            .map(|r| (r.get(0), r.get(1)))
            .collect())
        })
    }

    pub(crate) fn open_view_by_id(&self, id: &str) -> Result<Option<crate::bridge::View>> {
        let json: Option<String> = self.with(|c| {
            Ok(c.query_opt(
                "SELECT view FROM hangar.views WHERE id = $1 AND closed_at IS NULL AND opened_at >= $2",
                &[&id, &(now_ms() as i64 - VIEW_LIFETIME_MS)],
            )?
            .map(|r| r.get(0)))
        })?;
        Ok(json.and_then(|j| serde_json::from_str(&j).ok()))
    }

    pub(crate) fn close_view(&self, id: &str) -> Result<bool> {
        let n = self.with(|c| {
            Ok(c.execute(
                "UPDATE hangar.views SET closed_at = $2 WHERE id = $1 AND closed_at IS NULL",
                &[&id, &(now_ms() as i64)],
            )?)
        })?;
        Ok(n == 1)
    }

    pub(crate) fn endpoint_secret(&self, app: &str) -> Result<Option<String>> {
        self.with(|c| {
            Ok(c.query_opt(
                "SELECT secret FROM hangar.endpoint_secrets WHERE app = $1",
                &[&app],
            )?
            .map(|r| r.get(0)))
        })
    }

    pub(crate) fn ensure_endpoint_secret(&self, app: &str) -> Result<String> {
        let candidate = random_secret()?;
        self.change(|tx| {
            tx.execute(
                "INSERT INTO hangar.endpoint_secrets (app, secret) VALUES ($1, $2) ON CONFLICT DO NOTHING",
                &[&app, &candidate],
            )?;
            Ok(())
        })?;
        self.endpoint_secret(app)?
            .ok_or_else(|| Error::InvalidInput(format!("app '{app}' has no endpoint secret")))
    }

    pub(crate) fn new_endpoint_secret(&self, app: &str) -> Result<String> {
        let secret = random_secret()?;
        self.change(|tx| {
            tx.execute(
                "INSERT INTO hangar.endpoint_secrets (app, secret) VALUES ($1, $2)
                 ON CONFLICT (app) DO UPDATE SET secret = excluded.secret",
                &[&app, &secret],
            )?;
            Ok(())
        })?;
        Ok(secret)
    }

    pub(crate) fn settings(&self, app: &str) -> Result<Vec<(String, serde_json::Value)>> {
        let rows = self.with(|c| {
            Ok(c.query(
                "SELECT id, value FROM hangar.settings WHERE app = $1",
                &[&app],
            )?)
        })?;
        Ok(rows
            .iter()
            .filter_map(|r| {
                let (id, v): (String, String) = (r.get(0), r.get(1));
                serde_json::from_str(&v).ok().map(|v| (id, v))
            })
            .collect())
    }

    pub(crate) fn set_setting(&self, app: &str, id: &str, value: &serde_json::Value) -> Result<()> {
        self.change(|tx| {
            tx.execute(
                "INSERT INTO hangar.settings (app, id, value) VALUES ($1, $2, $3)
                 ON CONFLICT (app, id) DO UPDATE SET value = excluded.value",
                &[&app, &id, &value.to_string()],
            )?;
            Ok(())
        })
    }

    pub(crate) fn record_fault(&self, app: &str, max: u32, window: Duration) -> Result<bool> {
        let now = now_ms() as i64;
        let mut conn = self.conn()?;
        let mut tx = conn.client.transaction()?;
        // One app's fault counts change one at a time on every machine.
        tx.execute(
            "SELECT pg_advisory_xact_lock($1, hashtext('faults:' || $2))",
            &[&LOCK_SPACE, &app],
        )?;
        tx.execute(
            "INSERT INTO hangar.faults (app, time) VALUES ($1, $2)",
            &[&app, &now],
        )?;
        tx.execute(
            "DELETE FROM hangar.faults WHERE app = $1 AND time <= $2",
            &[&app, &(now - window.as_millis() as i64)],
        )?;
        let n: i64 = tx
            .query_one("SELECT count(*) FROM hangar.faults WHERE app = $1", &[&app])?
            .get(0);
        let tripped = n >= i64::from(max);
        if tripped {
            tx.execute("DELETE FROM hangar.faults WHERE app = $1", &[&app])?;
        }
        tx.commit()?;
        Ok(tripped)
    }

    pub(crate) fn mark_invalid(&self, app: &str, sha256: &str, reason: &str) -> Result<()> {
        self.change(|tx| {
            tx.execute(
                "UPDATE hangar.apps SET status = 'invalid', status_reason = $3 WHERE id = $1 AND sha256 = $2",
                &[&app, &sha256, &reason],
            )?;
            Ok(())
        })
    }

    pub(crate) fn clear_setting(&self, app: &str, id: &str) -> Result<()> {
        self.change(|tx| {
            tx.execute(
                "DELETE FROM hangar.settings WHERE app = $1 AND id = $2",
                &[&app, &id],
            )?;
            Ok(())
        })
    }

    pub(crate) fn logs(&self, app: &str, after: i64, limit: usize) -> Result<Vec<LogEntry>> {
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        let mut rows: Vec<LogEntry> = self.with(|c| {
            Ok(c.query(
                "SELECT seq, app, time, level, source, message FROM hangar.logs
                 WHERE app = $1 AND seq > $2 ORDER BY seq DESC LIMIT $3",
                &[&app, &after, &limit],
            )?
            .iter()
            .map(|r| LogEntry {
                seq: r.get(0),
                app: r.get(1),
                time: r.get::<_, i64>(2) as u64,
                level: r.get(3),
                source: r.get(4),
                message: r.get(5),
            })
            .collect())
        })?;
        rows.reverse();
        Ok(rows)
    }

    pub(crate) fn stats(&self, app: &str) -> Result<Vec<CallStats>> {
        self.with(|c| {
            Ok(c.query(
                "SELECT handler, calls, errors, total_us FROM hangar.stats WHERE app = $1 ORDER BY handler",
                &[&app],
            )?
            .iter()
            .map(|r| CallStats {
                handler: r.get(0),
                calls: r.get::<_, i64>(1) as u64,
                errors: r.get::<_, i64>(2) as u64,
                total_us: r.get::<_, i64>(3) as u64,
            })
            .collect())
        })
    }

    /// Sweep this host's package cache, under the change lock (no install
    /// or uninstall is half done meanwhile).
    pub(crate) fn sweep(&self, apps_dir: &Path) -> Result<()> {
        let mut conn = self.conn()?;
        let mut tx = conn.client.transaction()?;
        tx.execute(
            "SELECT pg_advisory_xact_lock($1, $2)",
            &[&LOCK_SPACE, &CHANGE_LOCK],
        )?;
        let entries: Vec<(String, String)> = tx
            .query("SELECT id, sha256 FROM hangar.apps", &[])?
            .iter()
            .map(|r| (r.get(0), r.get(1)))
            .collect();
        super::sweep_dir(&entries, apps_dir);
        tx.commit()?;
        Ok(())
    }

    /// The journal's writer: log lines and counters in batches.
    pub(crate) fn log_writer(&self) -> PgLog {
        PgLog {
            pool: self.pool.clone(),
        }
    }
}

/// Add app `manifest`'s entry with the next install order, and its
/// package (in the caller's transaction: an install, or a migration).
pub(crate) fn add_app(
    tx: &mut Transaction<'_>,
    manifest: &Manifest,
    sha256: &str,
    status: Status,
    status_reason: Option<&str>,
    installed_at: u64,
    bytes: &[u8],
) -> Result<()> {
    let seq: i64 = tx
        .query_one(
            "UPDATE hangar.meta SET value = value + 1 WHERE key = 'next-seq' RETURNING value - 1",
            &[],
        )?
        .get(0);
    tx.execute(
        "INSERT INTO hangar.apps (id, seq, manifest, sha256, status, status_reason, installed_at, size)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        &[
            &manifest.id,
            &seq,
            &serde_json::to_string(manifest).expect("manifest serializes"),
            &sha256,
            &status.as_str(),
            &status_reason,
            &(installed_at as i64),
            &(bytes.len() as i64),
        ],
    )?;
    store_package(tx, &manifest.id, sha256, bytes)
}

/// Every installed app's manifest.
pub(crate) fn manifests(tx: &mut Transaction<'_>) -> Result<Vec<Manifest>> {
    tx.query("SELECT manifest FROM hangar.apps", &[])?
        .iter()
        .map(|r| {
            serde_json::from_str(r.get(0))
                .map_err(|e| Error::InvalidManifest(format!("registry entry: {e}")))
        })
        .collect()
}

fn store_package(tx: &mut Transaction<'_>, app: &str, sha256: &str, bytes: &[u8]) -> Result<()> {
    tx.execute(
        "INSERT INTO hangar.packages (app, sha256, bytes) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING",
        &[&app, &sha256, &bytes],
    )?;
    Ok(())
}

/// Turn `NOTIFY`s on the change channel into bumps of `notified`, on a
/// connection of its own, until the registry is dropped. A lost connection
/// is retried every second; a reconnect bumps too (changes may have been
/// missed meanwhile).
fn listen(config: postgres::Config, notified: Arc<AtomicU64>, alive: Weak<()>) {
    while alive.strong_count() > 0 {
        let Ok(mut client) = config.connect(NoTls) else {
            std::thread::sleep(Duration::from_secs(1));
            continue;
        };
        if client
            .batch_execute(&format!("LISTEN {CHANGES_CHANNEL}"))
            .is_err()
        {
            std::thread::sleep(Duration::from_secs(1));
            continue;
        }
        notified.fetch_add(1, Ordering::Release);
        while alive.strong_count() > 0 {
            let mut notifications = client.notifications();
            let mut waiting = notifications.timeout_iter(Duration::from_millis(500));
            match waiting.next() {
                Ok(Some(_)) => {
                    notified.fetch_add(1, Ordering::Release);
                }
                Ok(None) => {
                    // A timeout; make sure the connection is still there.
                    drop(waiting);
                    drop(notifications);
                    if client.is_closed() || client.batch_execute("").is_err() {
                        break;
                    }
                }
                Err(_) => break,
            }
        }
    }
}

/// Writes the journal's batches into the registry's log and counter tables.
pub(crate) struct PgLog {
    pool: Pool,
}

impl crate::journal::LogStore for PgLog {
    fn batch(
        &mut self,
        f: &mut dyn FnMut(&mut dyn crate::journal::LogTxn) -> Result<()>,
    ) -> Result<()> {
        let mut conn = self
            .pool
            .get()
            .map_err(|e| Error::Database(e.to_string()))?;
        let mut tx = conn.client.transaction()?;
        f(&mut PgLogTxn(&mut tx))?;
        tx.commit()?;
        Ok(())
    }
}

struct PgLogTxn<'a, 'b>(&'a mut Transaction<'b>);

impl crate::journal::LogTxn for PgLogTxn<'_, '_> {
    fn append(
        &mut self,
        app: &str,
        source: &str,
        lines: &[(&str, String)],
        time: i64,
    ) -> Result<()> {
        if lines.is_empty() {
            return Ok(());
        }
        let levels: Vec<&str> = lines.iter().map(|(l, _)| *l).collect();
        // PostgreSQL text cannot hold NUL; one such line must not lose the batch.
        let messages: Vec<std::borrow::Cow<'_, str>> = lines
            .iter()
            .map(|(_, m)| {
                if m.contains('\0') {
                    m.replace('\0', "\u{fffd}").into()
                } else {
                    m.as_str().into()
                }
            })
            .collect();
        let messages: Vec<&str> = messages.iter().map(|m| m.as_ref()).collect();
        self.0.execute(
            "INSERT INTO hangar.logs (app, time, level, source, message)
             SELECT $1, $2, l, $3, m FROM unnest($4::text[], $5::text[]) WITH ORDINALITY AS u(l, m, n) ORDER BY n",
            &[&app, &time, &source, &levels, &messages],
        )?;
        Ok(())
    }

    fn add_stats(&mut self, stats: &[(String, CallStats)]) -> Result<()> {
        for (app, s) in stats {
            self.0.execute(
                "INSERT INTO hangar.stats (app, handler, calls, errors, total_us) VALUES ($1, $2, $3, $4, $5)
                 ON CONFLICT (app, handler) DO UPDATE SET calls = stats.calls + excluded.calls,
                     errors = stats.errors + excluded.errors, total_us = stats.total_us + excluded.total_us",
                &[
                    &app,
                    &s.handler,
                    &(s.calls as i64),
                    &(s.errors as i64),
                    &(s.total_us as i64),
                ],
            )?;
        }
        Ok(())
    }

    fn lines_since(&mut self, app: &str, since: i64) -> Result<u64> {
        // Held to the batch's commit: the count and the append that uses
        // it are one step for every machine, so the budget holds exactly.
        // One lock for all apps (taken again in the same batch, it is
        // already held): batches of several apps cannot deadlock.
        self.0.execute(
            "SELECT pg_advisory_xact_lock($1, $2)",
            &[&LOCK_SPACE, &LOG_LOCK],
        )?;
        let n: i64 = self
            .0
            .query_one(
                "SELECT count(*) FROM hangar.logs WHERE app = $1 AND source = 'app' AND time > $2",
                &[&app, &since],
            )?
            .get(0);
        Ok(n as u64)
    }

    fn retain(&mut self, app: &str, now: i64) -> Result<()> {
        self.0.execute(
            "DELETE FROM hangar.logs WHERE app = $1 AND seq <= (SELECT seq FROM hangar.logs
                 WHERE app = $1 ORDER BY seq DESC LIMIT 1 OFFSET $2)",
            &[&app, &(LOG_RETENTION as i64)],
        )?;
        self.0.execute(
            "DELETE FROM hangar.logs WHERE app = $1 AND time < $2",
            &[&app, &(now - LOG_MAX_AGE.as_millis() as i64)],
        )?;
        Ok(())
    }
}

/// Set up `config`'s database and open the registry, with a pool for the
/// app stores and a smaller one of its own (a handler holding a store
/// connection may need the registry, e.g. for a view: it never waits for
/// the stores' pool). A session idle in a transaction for `idle_ms` is
/// ended by the server.
pub(crate) fn open(config: &PgConfig, idle_ms: u64) -> Result<(Pool, PgRegistry)> {
    pg::prepare(config)?;
    let stores = pg::pool(config, config.max_connections, idle_ms);
    let own = pg::pool(config, (config.max_connections / 4).max(4), idle_ms);
    let registry = PgRegistry::open(own, config.clone())?;
    Ok((stores, registry))
}
