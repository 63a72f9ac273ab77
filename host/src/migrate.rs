//! `hangar migrate`: move a data dir's SQLite registry and app stores into
//! PostgreSQL, so an operator can grow from one machine to several.
//!
//! Each app moves in one transaction (its registry entry, package,
//! settings, endpoint secret, records with their associations, jobs, job
//! marks and usage), with the counts checked against the SQLite side
//! before it commits: an app is in PostgreSQL whole or not at all. An app
//! already there is left alone, so running it again is safe and copies
//! nothing twice. Logs, call counters and open views stay behind (they
//! are history, not state).

use std::path::Path;
use std::time::Duration;

use serde::Serialize;
use sha2::{Digest, Sha256};

use crate::engine::hex;
use crate::error::{Error, Result};
use crate::pg::{self, CHANGES_CHANNEL, LOCK_SPACE, PgConfig};
use crate::registry::SqliteRegistry;
use crate::registry::postgres::CHANGE_LOCK;
use crate::storage::postgres::record_cost;
use crate::storage::sqlite::SqliteBackend;
use crate::storage::{Durability, Limits, Store};

/// What happened to one app.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum MigrateStatus {
    /// Copied now.
    Copied,
    /// Already in PostgreSQL with the same package: left alone.
    AlreadyThere,
}

/// One app's migration, with the counts checked on both sides.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "kebab-case")]
pub struct MigratedApp {
    /// The app id.
    pub app: String,
    /// Copied, or already there.
    pub status: MigrateStatus,
    /// Records in the SQLite store.
    pub records: u64,
    /// Records of the app in PostgreSQL after the move.
    pub verified_records: u64,
    /// Jobs in the SQLite store.
    pub jobs: u64,
    /// Jobs of the app in PostgreSQL after the move.
    pub verified_jobs: u64,
    /// Operator settings copied.
    pub settings: u64,
}

/// What `migrate` did.
#[derive(Debug, Clone, Serialize)]
pub struct MigrateReport {
    /// Every app of the data dir, in install order.
    pub apps: Vec<MigratedApp>,
}

/// Copy the SQLite registry and stores of `data_dir` into the PostgreSQL
/// database `url`, telling `progress` what it does.
pub fn migrate_to_postgres(
    data_dir: &Path,
    url: &str,
    progress: &mut dyn FnMut(&str),
) -> Result<MigrateReport> {
    let registry_path = data_dir.join("registry.db");
    if !registry_path.exists() {
        return Err(Error::InvalidInput(format!(
            "{} has no SQLite registry (registry.db): nothing to migrate; pass the data dir of the host you are moving with --data-dir",
            data_dir.display()
        )));
    }
    let sqlite = SqliteRegistry::open(&registry_path, Duration::from_secs(5))?;
    let config = PgConfig::parse(url, 2)?;
    let pool = pg::connect(&config)?;
    let mut conn = pool
        .get()
        .map_err(|e| Error::Database(format!("no connection to {}: {e}", config.display())))?;
    let backend = SqliteBackend::new(
        data_dir.join("apps"),
        Limits {
            max_result_bytes: usize::MAX,
            max_records_per_call: usize::MAX,
            ..Limits::default()
        },
        Durability::Normal,
        Duration::from_secs(5),
    );
    let mut report = MigrateReport { apps: Vec::new() };
    for entry in sqlite.apps()? {
        let id = entry.manifest.id.clone();
        let dir = data_dir.join("apps").join(&id);
        let package_path = dir.join(format!("{}.wasm", entry.sha256));
        let bytes = std::fs::read(&package_path)
            .map_err(|e| Error::io(format!("reading {}", package_path.display()), e))?;
        if hex(&Sha256::digest(&bytes)) != entry.sha256 {
            return Err(Error::InvalidPackage {
                path: package_path,
                reason: "the file changed since it was installed; reinstall the app first".into(),
            });
        }
        let store_path = dir.join("store.db");
        let store = backend
            .open_file(&store_path)
            .map_err(|e| Error::InvalidInput(format!("opening {}: {e}", store_path.display())))?;
        let records = store
            .all_records()
            .map_err(|e| Error::InvalidInput(format!("reading {}: {e}", store_path.display())))?;
        let jobs = store
            .jobs()
            .map_err(|e| Error::InvalidInput(format!("reading {}: {e}", store_path.display())))?;
        let (marks, job_stats) = job_extras(&store_path)?;
        let settings = sqlite.settings(&id)?;
        let secret = sqlite.endpoint_secret(&id)?;

        let mut tx = conn.client.transaction()?;
        tx.execute(
            "SELECT pg_advisory_xact_lock($1, $2)",
            &[&LOCK_SPACE, &CHANGE_LOCK],
        )?;
        let there: Option<String> = tx
            .query_opt("SELECT sha256 FROM hangar.apps WHERE id = $1", &[&id])?
            .map(|r| r.get(0));
        let count = |tx: &mut postgres::Transaction<'_>, table: &str| -> Result<u64> {
            let n: i64 = tx
                .query_one(
                    &format!("SELECT count(*) FROM hangar.{table} WHERE app_id = $1"),
                    &[&id],
                )?
                .get(0);
            Ok(n as u64)
        };
        match there {
            Some(sha) if sha == entry.sha256 => {
                let verified_records = count(&mut tx, "records")?;
                let verified_jobs = count(&mut tx, "jobs")?;
                tx.commit()?;
                progress(&format!("{id}: already in PostgreSQL, left alone"));
                report.apps.push(MigratedApp {
                    app: id,
                    status: MigrateStatus::AlreadyThere,
                    records: records.len() as u64,
                    verified_records,
                    jobs: jobs.len() as u64,
                    verified_jobs,
                    settings: settings.len() as u64,
                });
                continue;
            }
            Some(_) => {
                return Err(Error::InvalidInput(format!(
                    "app '{id}' is already in PostgreSQL with another package; uninstall it there (hangar --store ... uninstall {id}) or update this data dir's copy first"
                )));
            }
            None => {}
        }
        let installed = crate::registry::postgres::manifests(&mut tx)?;
        crate::registry::check_commands(&installed, &entry.manifest)?;
        progress(&format!(
            "{id}: copying {} records and {} jobs",
            records.len(),
            jobs.len()
        ));
        crate::registry::postgres::add_app(
            &mut tx,
            &entry.manifest,
            &entry.sha256,
            entry.status,
            entry.status_reason.as_deref(),
            entry.installed_at,
            &bytes,
        )?;
        for (key, value) in &settings {
            tx.execute(
                "INSERT INTO hangar.settings (app, id, value) VALUES ($1, $2, $3)",
                &[&id, key, &value.to_string()],
            )?;
        }
        if let Some(secret) = &secret {
            tx.execute(
                "INSERT INTO hangar.endpoint_secrets (app, secret) VALUES ($1, $2)
                 ON CONFLICT (app) DO UPDATE SET secret = excluded.secret",
                &[&id, secret],
            )?;
        }
        // Leftovers of an earlier, uncommitted attempt cannot exist (one
        // transaction), but an uninstalled app's rows might: start clean.
        crate::storage::postgres::delete_app_rows(&mut tx, &id)?;
        let insert = tx.prepare(
            "WITH r AS (INSERT INTO hangar.records (app_id, id, data) VALUES ($1, $2, $3) RETURNING seq)
             INSERT INTO hangar.associations (app_id, model, key, seq)
             SELECT $1, w.model, w.key, r.seq FROM r, unnest($4::text[], $5::text[]) AS w(model, key)",
        )?;
        let mut bytes_used = 0i64;
        for (i, record) in records.iter().enumerate() {
            let mut list = record.associations.clone();
            list.sort();
            list.dedup();
            let models: Vec<&str> = list.iter().map(|a| a.model.as_str()).collect();
            let keys: Vec<&str> = list.iter().map(|a| a.id.as_str()).collect();
            tx.execute(&insert, &[&id, &record.id, &record.data, &models, &keys])?;
            bytes_used += record_cost(record);
            if (i + 1) % 10_000 == 0 {
                progress(&format!("{id}: {} of {} records", i + 1, records.len()));
            }
        }
        for job in &jobs {
            bytes_used += (64
                + job.id.len()
                + job.processor.len()
                + job.data.len()
                + job.cron.as_ref().map_or(0, String::len)) as i64;
        }
        tx.execute(
            "INSERT INTO hangar.app_usage (app_id, records, bytes) VALUES ($1, $2, $3)",
            &[&id, &(records.len() as i64), &bytes_used],
        )?;
        for job in &jobs {
            tx.execute(
                "INSERT INTO hangar.jobs (app_id, id, processor, data, due, every_ms, cron, attempts, last_error, dead)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
                &[
                    &id,
                    &job.id,
                    &job.processor,
                    &job.data,
                    &(job.due as i64),
                    &job.every_ms.map(|e| e as i64),
                    &job.cron,
                    &i64::from(job.attempts),
                    &job.last_error,
                    &job.dead,
                ],
            )?;
        }
        for mark in &marks {
            tx.execute(
                "INSERT INTO hangar.job_marks (app_id, key) VALUES ($1, $2)",
                &[&id, mark],
            )?;
        }
        if let Some((runs, total, max)) = job_stats {
            tx.execute(
                "INSERT INTO hangar.job_stats (app_id, runs, lag_total_ms, lag_max_ms) VALUES ($1, $2, $3, $4)",
                &[&id, &runs, &total, &max],
            )?;
        }
        let verified_records = count(&mut tx, "records")?;
        let verified_jobs = count(&mut tx, "jobs")?;
        if verified_records != records.len() as u64 || verified_jobs != jobs.len() as u64 {
            return Err(Error::Database(format!(
                "app '{id}': {} records and {} jobs in SQLite but {verified_records} and {verified_jobs} in PostgreSQL; nothing of it was kept",
                records.len(),
                jobs.len()
            )));
        }
        tx.batch_execute(&format!(
            "UPDATE hangar.meta SET value = value + 1 WHERE key = 'version'; NOTIFY {CHANGES_CHANNEL};"
        ))?;
        tx.commit()?;
        progress(&format!(
            "{id}: copied, {verified_records} records and {verified_jobs} jobs verified"
        ));
        report.apps.push(MigratedApp {
            app: id,
            status: MigrateStatus::Copied,
            records: records.len() as u64,
            verified_records,
            jobs: jobs.len() as u64,
            verified_jobs,
            settings: settings.len() as u64,
        });
    }
    Ok(report)
}

/// A store's job marks and lag counters (`None` when it never ran a job).
#[allow(clippy::type_complexity)]
fn job_extras(path: &Path) -> Result<(Vec<String>, Option<(i64, i64, i64)>)> {
    use rusqlite::OptionalExtension;
    let (conn, _) = crate::sqlite::open_connection(path)?;
    let marks = conn
        .prepare("SELECT key FROM job_marks")?
        .query_map([], |r| r.get(0))?
        .collect::<rusqlite::Result<Vec<String>>>()?;
    let stats = conn
        .query_row(
            "SELECT runs, lag_total_ms, lag_max_ms FROM job_stats WHERE k = 0",
            [],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
        )
        .optional()?;
    Ok((marks, stats))
}
