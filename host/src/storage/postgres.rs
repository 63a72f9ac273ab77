//! The server-database backend: every app's records, associations, jobs
//! and usage in shared PostgreSQL tables keyed by app id, so host
//! processes on several machines share one set of stores.
//!
//! A handler's transaction begins at its first store access, in one round
//! trip: `BEGIN`, switch to the runtime role, bind the app id, cap the lock
//! and statement waits by the call's remaining deadline, and take the
//! app's advisory transaction lock. Handlers of one app thus run one at a
//! time on every machine (the analogue of SQLite's `BEGIN IMMEDIATE`),
//! other apps are unaffected, and nothing is ever re-run. Read-only calls
//! read one `REPEATABLE READ` snapshot and take no lock.
//!
//! The quota is a usage row per app, read when the transaction begins and
//! written at commit: the app's lock is held throughout, so it is exact.

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use postgres::SimpleQueryMessage;
use postgres::error::SqlState;
use postgres::types::ToSql;

use super::{
    Association, Backend, Budget, ClaimedJob, JobOp, JobRow, JobStats, Limits, Mode, Model, NewJob,
    Record, Records, RetryPolicy, Store, StoreError, StoreResult, Txn,
};
use crate::manifest::validate_app_id;
use crate::pg::{self, LOCK_SPACE, Pool, Pooled, RUNTIME_ROLE};

/// A record as read, with its sequence number.
type RecordRow = (i64, Record);

/// The columns every record read selects from `records r`: its sequence
/// number, id, data and its associations' models and keys, in byte order
/// (as SQLite returns them, whatever the database's collation), so a read
/// is one round trip.
macro_rules! record_columns {
    () => {
        "r.seq, r.id, r.data,
         ARRAY(SELECT a.model FROM associations a WHERE a.app_id = r.app_id AND a.seq = r.seq
               ORDER BY a.model COLLATE \"C\", a.key COLLATE \"C\"),
         ARRAY(SELECT a.key FROM associations a WHERE a.app_id = r.app_id AND a.seq = r.seq
               ORDER BY a.model COLLATE \"C\", a.key COLLATE \"C\")"
    };
}

/// A row of [`record_columns`] as a record.
fn record_of(row: &postgres::Row) -> StoreResult<RecordRow> {
    let models: Vec<String> = row.get(3);
    let keys: Vec<String> = row.get(4);
    let associations = models
        .into_iter()
        .zip(keys)
        .map(|(model, key)| {
            Model::parse(&model)
                .map(|m| Association::new(m, key))
                .ok_or_else(|| {
                    StoreError::Invalid(format!("unknown association model '{model}' in store"))
                })
        })
        .collect::<StoreResult<Vec<_>>>()?;
    Ok((
        row.get(0),
        Record {
            id: row.get(1),
            data: row.get(2),
            associations,
        },
    ))
}

/// The bytes of a record a read returns.
fn returned_bytes(record: &Record) -> usize {
    record.id.len()
        + record.data.len()
        + record
            .associations
            .iter()
            .map(|a| a.id.len())
            .sum::<usize>()
}

/// What a record costs against the quota beyond its id and data.
const RECORD_OVERHEAD: i64 = 64;
/// What an association costs beyond its model and key.
const ASSOCIATION_OVERHEAD: i64 = 32;
/// What a job counts against its app's quota, as SQL over its columns.
macro_rules! job_cost {
    () => {
        "(64 + octet_length(id) + octet_length(processor) + octet_length(data) + coalesce(octet_length(cron), 0))::bigint"
    };
}

/// The same for a job not stored yet.
fn new_job_cost(job: &NewJob) -> i64 {
    (64 + job.id.len()
        + job.processor.len()
        + job.data.len()
        + job.cron.as_ref().map_or(0, String::len)) as i64
}

/// How long the runner's own bookkeeping may wait for an app's lock.
const BOOKKEEPING_WAIT: Duration = Duration::from_secs(10);

/// Opens app stores in one PostgreSQL database.
pub struct PgBackend {
    shared: Arc<Shared>,
}

struct Shared {
    pool: Pool,
    limits: Limits,
}

impl PgBackend {
    /// Stores in the database at `url` (its schema created if missing).
    #[cfg(any(test, feature = "bench"))]
    pub fn connect(url: &str, limits: Limits) -> crate::Result<PgBackend> {
        let config = pg::PgConfig::parse(url, 8)?;
        Ok(PgBackend::new(pg::connect(&config)?, limits))
    }

    pub(crate) fn new(pool: Pool, limits: Limits) -> Self {
        PgBackend {
            shared: Arc::new(Shared { pool, limits }),
        }
    }

    /// The store of `key`, an app id or a staging key.
    fn store(&self, key: String) -> Arc<dyn Store> {
        Arc::new(PgStore {
            shared: self.shared.clone(),
            app: key,
        })
    }
}

/// The key a staged install writes under until it commits: the staging
/// directory's name after the app id and a `/`, which no app id contains.
pub(crate) fn staging_key(app: &str, staging: &Path) -> String {
    let name = staging
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    format!("{app}/{name}")
}

impl Backend for PgBackend {
    fn open(&self, app: &str) -> StoreResult<Arc<dyn Store>> {
        validate_app_id(app).map_err(|e| StoreError::Invalid(format!("app id {e}")))?;
        Ok(self.store(app.to_string()))
    }

    fn open_staged(&self, app: &str, staging: &Path) -> StoreResult<Arc<dyn Store>> {
        validate_app_id(app).map_err(|e| StoreError::Invalid(format!("app id {e}")))?;
        Ok(self.store(staging_key(app, staging)))
    }

    fn discard_staged(&self, app: &str, staging: &Path) {
        let key = staging_key(app, staging);
        if let Ok(mut conn) = self.shared.pool.get() {
            let _ = delete_app_rows(&mut conn.client, &key);
        }
    }
}

/// Delete every row of app data under `key` (an uninstall, or a staged
/// install that did not commit), in the caller's transaction if any.
pub(crate) fn delete_app_rows(
    client: &mut impl postgres::GenericClient,
    key: &str,
) -> Result<(), postgres::Error> {
    for table in ["records", "app_usage", "jobs", "job_marks", "job_stats"] {
        client.execute(
            &format!("DELETE FROM hangar.{table} WHERE app_id = $1"),
            &[&key],
        )?;
    }
    Ok(())
}

/// Delete the rows staged for app `app` under any key but `keep` (installs
/// that crashed or lost the race), in the caller's transaction.
pub(crate) fn delete_other_staged_rows(
    client: &mut impl postgres::GenericClient,
    app: &str,
    keep: &str,
) -> Result<(), postgres::Error> {
    let prefix = format!("{app}/");
    for table in ["records", "app_usage", "jobs", "job_marks", "job_stats"] {
        client.execute(
            &format!("DELETE FROM hangar.{table} WHERE left(app_id, $3) = $1 AND app_id <> $2"),
            &[&prefix, &keep, &(prefix.len() as i32)],
        )?;
    }
    Ok(())
}

/// Give the rows staged under `from` to app `to` (in the caller's
/// transaction: the registry's insert).
pub(crate) fn adopt_app_rows(
    client: &mut impl postgres::GenericClient,
    from: &str,
    to: &str,
) -> Result<(), postgres::Error> {
    delete_app_rows(client, to)?;
    // Associations follow their records (ON UPDATE CASCADE).
    for table in ["records", "app_usage", "jobs", "job_marks", "job_stats"] {
        client.execute(
            &format!("UPDATE hangar.{table} SET app_id = $2 WHERE app_id = $1"),
            &[&from, &to],
        )?;
    }
    Ok(())
}

/// One app's store.
pub struct PgStore {
    shared: Arc<Shared>,
    app: String,
}

impl std::fmt::Debug for PgStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PgStore").field("app", &self.app).finish()
    }
}

impl PgStore {
    fn transaction(&self, mode: Mode, deadline: Instant) -> PgTxn {
        PgTxn {
            shared: self.shared.clone(),
            app: self.app.clone(),
            conn: None,
            begun: false,
            lost: false,
            mode,
            deadline,
            budget: Budget::default(),
            usage: (0, 0),
            usage_at_begin: (0, 0),
        }
    }

    /// Run `f` in a write transaction of its own (the runner's bookkeeping).
    fn bookkeeping<T>(&self, f: impl FnOnce(&mut PgTxn) -> StoreResult<T>) -> StoreResult<T> {
        let mut txn = self.transaction(Mode::Write, Instant::now() + BOOKKEEPING_WAIT);
        let value = f(&mut txn)?;
        txn.commit_inner()?;
        Ok(value)
    }

    fn reading<T>(&self, f: impl FnOnce(&mut PgTxn) -> StoreResult<T>) -> StoreResult<T> {
        let mut txn = self.transaction(Mode::Read, Instant::now() + BOOKKEEPING_WAIT);
        f(&mut txn)
    }
}

impl Store for PgStore {
    fn begin(&self, mode: Mode, deadline: Instant) -> Box<dyn Txn> {
        Box::new(self.transaction(mode, deadline))
    }

    fn all_records(&self) -> StoreResult<Vec<Record>> {
        self.reading(|t| {
            let rows = t.query(
                concat!(
                    "SELECT ",
                    record_columns!(),
                    " FROM records r WHERE r.app_id = $1 ORDER BY r.seq"
                ),
                &[],
            )?;
            rows.iter()
                .map(|r| record_of(r).map(|(_, rec)| rec))
                .collect()
        })
    }

    fn usage(&self) -> StoreResult<(u64, u64)> {
        self.reading(|t| {
            let row = t.query(
                "SELECT records, bytes FROM app_usage WHERE app_id = $1",
                &[],
            )?;
            Ok(row
                .first()
                .map(|r| (r.get::<_, i64>(0) as u64, r.get::<_, i64>(1) as u64))
                .unwrap_or((0, 0)))
        })
    }

    fn claim_jobs(
        &self,
        owner: &str,
        now: u64,
        lease_ms: u64,
        max: usize,
    ) -> StoreResult<Vec<ClaimedJob>> {
        // A cheap read first: most ticks find nothing due and take no lock.
        let due = self.reading(|t| {
            let rows = t.query(
                "SELECT 1 FROM jobs WHERE app_id = $1 AND NOT dead AND due <= $2
                   AND (lease_until IS NULL OR lease_until < $2) LIMIT 1",
                &[&(now as i64)],
            )?;
            Ok(!rows.is_empty())
        })?;
        if !due {
            return Ok(Vec::new());
        }
        self.bookkeeping(|t| {
            let rows = t.query(
                // A CTE is evaluated once: as an `IN (...)` subquery the
                // planner may rescan it per row and claim past the limit.
                "WITH picked AS (
                     SELECT id FROM jobs WHERE app_id = $1 AND NOT dead AND due <= $2
                       AND (lease_until IS NULL OR lease_until < $2)
                     ORDER BY due, id LIMIT $5 FOR UPDATE SKIP LOCKED)
                 UPDATE jobs j SET fence = j.fence + 1, lease_owner = $3, lease_until = $4
                 FROM picked WHERE j.app_id = $1 AND j.id = picked.id
                 RETURNING j.id, j.processor, j.data, j.fence, j.due, j.attempts",
                &[
                    &(now as i64),
                    &owner,
                    &((now + lease_ms) as i64),
                    &(max as i64),
                ],
            )?;
            let mut jobs: Vec<ClaimedJob> = rows
                .iter()
                .map(|r| ClaimedJob {
                    id: r.get(0),
                    processor: r.get(1),
                    data: r.get(2),
                    fence: r.get(3),
                    due: r.get::<_, i64>(4) as u64,
                    attempts: r.get::<_, i64>(5) as u32,
                })
                .collect();
            jobs.sort_by_key(|j| j.due);
            Ok(jobs)
        })
    }

    fn fail_job(
        &self,
        id: &str,
        fence: i64,
        error: &str,
        now: u64,
        policy: RetryPolicy,
    ) -> StoreResult<bool> {
        self.bookkeeping(|t| {
            let rows = t.query(
                "SELECT attempts FROM jobs WHERE app_id = $1 AND id = $2 AND fence = $3",
                &[&id, &fence],
            )?;
            let Some(attempts) = rows.first().map(|r| r.get::<_, i64>(0)) else {
                return Ok(false);
            };
            let attempts = attempts as u32 + 1;
            let dead = attempts >= policy.max_attempts;
            t.execute(
                "UPDATE jobs SET attempts = $3, last_error = $4, dead = $5, due = $6,
                     lease_owner = NULL, lease_until = NULL WHERE app_id = $1 AND id = $2",
                &[
                    &id,
                    &i64::from(attempts),
                    &crate::policy::bounded(error.to_string(), 1024),
                    &dead,
                    &((now + policy.backoff(attempts)) as i64),
                ],
            )?;
            Ok(true)
        })
    }

    fn ensure_job(&self, job: &NewJob, mark: &str) -> StoreResult<bool> {
        self.bookkeeping(|t| {
            let n = t.execute(
                "INSERT INTO job_marks (app_id, key) VALUES ($1, $2) ON CONFLICT DO NOTHING",
                &[&mark],
            )?;
            if n == 0 {
                return Ok(false);
            }
            let old = t.job_cost_of(&job.id)?;
            t.charge(0, new_job_cost(job) - old)?;
            t.execute(
                "INSERT INTO jobs (app_id, id, processor, data, due, every_ms, cron)
                 VALUES ($1, $2, $3, $4, $5, $6, $7)
                 ON CONFLICT (app_id, id) DO UPDATE SET processor = excluded.processor,
                     data = excluded.data, every_ms = excluded.every_ms, cron = excluded.cron",
                &[
                    &job.id,
                    &job.processor,
                    &job.data,
                    &(job.due as i64),
                    &job.every_ms.map(|e| e as i64),
                    &job.cron,
                ],
            )?;
            Ok(true)
        })
    }

    fn marked(&self, key: &str) -> StoreResult<bool> {
        self.reading(|t| {
            let rows = t.query(
                "SELECT 1 FROM job_marks WHERE app_id = $1 AND key = $2",
                &[&key],
            )?;
            Ok(!rows.is_empty())
        })
    }

    fn jobs(&self) -> StoreResult<Vec<JobRow>> {
        self.reading(|t| {
            let rows = t.query(
                "SELECT id, processor, data, due, every_ms, attempts, lease_owner, lease_until,
                        last_error, dead, cron FROM jobs WHERE app_id = $1 ORDER BY due, id",
                &[],
            )?;
            Ok(rows
                .iter()
                .map(|r| JobRow {
                    id: r.get(0),
                    processor: r.get(1),
                    data: r.get(2),
                    due: r.get::<_, i64>(3) as u64,
                    every_ms: r.get::<_, Option<i64>>(4).map(|e| e as u64),
                    attempts: r.get::<_, i64>(5) as u32,
                    lease_owner: r.get(6),
                    lease_until: r.get::<_, Option<i64>>(7).map(|e| e as u64),
                    last_error: r.get(8),
                    dead: r.get(9),
                    cron: r.get(10),
                })
                .collect())
        })
    }

    fn job_stats(&self) -> StoreResult<JobStats> {
        self.reading(|t| {
            let counts = t.query(
                "SELECT count(*) FILTER (WHERE NOT dead), count(*) FILTER (WHERE dead)
                 FROM jobs WHERE app_id = $1",
                &[],
            )?;
            let (pending, dead): (i64, i64) = counts
                .first()
                .map(|r| (r.get(0), r.get(1)))
                .unwrap_or((0, 0));
            let lag = t.query(
                "SELECT runs, lag_total_ms, lag_max_ms FROM job_stats WHERE app_id = $1",
                &[],
            )?;
            let (runs, total, max): (i64, i64, i64) = lag
                .first()
                .map(|r| (r.get(0), r.get(1), r.get(2)))
                .unwrap_or((0, 0, 0));
            Ok(JobStats {
                pending: pending as u64,
                dead: dead as u64,
                runs: runs as u64,
                mean_lag_ms: total.checked_div(runs).unwrap_or(0) as u64,
                max_lag_ms: max as u64,
            })
        })
    }

    fn job_op(&self, id: &str, op: JobOp, now: u64) -> StoreResult<bool> {
        self.bookkeeping(|t| {
            let n = match op {
                JobOp::Cancel => {
                    let freed = t.query(
                        concat!(
                            "DELETE FROM jobs WHERE app_id = $1 AND id = $2 RETURNING ",
                            job_cost!()
                        ),
                        &[&id],
                    )?;
                    t.refund_jobs(&freed)?;
                    freed.len() as u64
                }
                JobOp::RunNow => t.execute(
                    "UPDATE jobs SET due = $3, dead = false, lease_owner = NULL, lease_until = NULL
                     WHERE app_id = $1 AND id = $2",
                    &[&id, &(now as i64)],
                )?,
                JobOp::Retry => t.execute(
                    "UPDATE jobs SET due = $3, dead = false, attempts = 0, last_error = NULL,
                         lease_owner = NULL, lease_until = NULL WHERE app_id = $1 AND id = $2",
                    &[&id, &(now as i64)],
                )?,
            };
            Ok(n > 0)
        })
    }
}

/// One unit of work on a [`PgStore`]; takes a connection at its first
/// operation.
pub struct PgTxn {
    shared: Arc<Shared>,
    app: String,
    conn: Option<Pooled>,
    begun: bool,
    /// The server aborted the transaction (any failed statement does):
    /// nothing more may run in it.
    lost: bool,
    mode: Mode,
    deadline: Instant,
    budget: Budget,
    /// Records and bytes used, as this transaction has left them.
    usage: (i64, i64),
    usage_at_begin: (i64, i64),
}

impl PgTxn {
    fn remaining_ms(&self) -> u64 {
        (self
            .deadline
            .saturating_duration_since(Instant::now())
            .as_millis() as u64)
            .max(1)
    }

    /// The connection, with the transaction begun.
    fn conn(&mut self) -> StoreResult<&mut Pooled> {
        if self.lost {
            return Err(lost());
        }
        if self.conn.is_none() {
            let wait = Duration::from_millis(self.remaining_ms()).min(Duration::from_secs(5));
            let conn = self.shared.pool.get_timeout(wait).map_err(|e| {
                StoreError::Unavailable(format!(
                    "no PostgreSQL connection within {} ms ({e}); the server may be down or every pooled connection busy",
                    wait.as_millis()
                ))
            })?;
            self.conn = Some(conn);
        }
        if !self.begun
            && let Err(e) = self.begin()
        {
            // A pooled connection the server closed meanwhile (it
            // restarted): nothing was done on it yet, so one fresh try.
            let stale = self.conn.as_ref().is_some_and(|c| c.client.is_closed());
            if !(stale && matches!(e, StoreError::Unavailable(_))) {
                return Err(e);
            }
            if let Some(mut conn) = self.conn.take() {
                conn.broken = true;
            }
            let wait = Duration::from_millis(self.remaining_ms()).min(Duration::from_secs(5));
            self.conn = Some(self.shared.pool.get_timeout(wait).map_err(|_| e)?);
            self.begin()?;
        }
        Ok(self.conn.as_mut().expect("taken above"))
    }

    fn begin(&mut self) -> StoreResult<()> {
        let wait = self.remaining_ms();
        let app = pg::literal(&self.app);
        let sql = match self.mode {
            Mode::Read => format!(
                "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY;
                 SET LOCAL ROLE {RUNTIME_ROLE};
                 SELECT set_config('hangar.app_id', {app}, true);
                 SET LOCAL statement_timeout = {wait};"
            ),
            Mode::Write => format!(
                "BEGIN;
                 SET LOCAL ROLE {RUNTIME_ROLE};
                 SELECT set_config('hangar.app_id', {app}, true);
                 SET LOCAL lock_timeout = {wait};
                 SET LOCAL statement_timeout = {wait};
                 SELECT pg_advisory_xact_lock({LOCK_SPACE}, hashtext({app}));
                 SELECT records, bytes FROM hangar.app_usage WHERE app_id = {app};"
            ),
        };
        let conn = self.conn.as_mut().expect("connection taken");
        match conn.client.simple_query(&sql) {
            Ok(messages) => {
                let usage = messages.iter().rev().find_map(|m| match m {
                    SimpleQueryMessage::Row(r) if r.len() == 2 => Some((
                        r.get(0).and_then(|v| v.parse().ok()).unwrap_or(0),
                        r.get(1).and_then(|v| v.parse().ok()).unwrap_or(0),
                    )),
                    _ => None,
                });
                self.usage = usage.unwrap_or((0, 0));
                self.usage_at_begin = self.usage;
                self.begun = true;
                Ok(())
            }
            Err(e) => {
                if conn.client.batch_execute("ROLLBACK").is_err() {
                    conn.broken = true;
                }
                Err(self.error(e, wait))
            }
        }
    }

    fn error(&self, e: postgres::Error, wait: u64) -> StoreError {
        store_error(&e, wait, &self.shared.limits)
    }

    /// After a failed operation: a failed statement aborts the server's
    /// transaction, so none of the handler's writes can be kept.
    fn fail(&mut self, e: postgres::Error) -> StoreError {
        if self.begun {
            self.lost = true;
        }
        let wait = self.remaining_ms();
        self.error(e, wait)
    }

    /// Run `sql` with the app id as `$1` and `params` after it.
    fn query(
        &mut self,
        sql: &'static str,
        params: &[&(dyn ToSql + Sync)],
    ) -> StoreResult<Vec<postgres::Row>> {
        let app = self.app.clone();
        let conn = self.conn()?;
        let out = conn.statement(sql).and_then(|stmt| {
            let mut all: Vec<&(dyn ToSql + Sync)> = Vec::with_capacity(params.len() + 1);
            all.push(&app);
            all.extend_from_slice(params);
            conn.client.query(&stmt, &all)
        });
        out.map_err(|e| self.fail(e))
    }

    fn execute(&mut self, sql: &'static str, params: &[&(dyn ToSql + Sync)]) -> StoreResult<u64> {
        let app = self.app.clone();
        let conn = self.conn()?;
        let out = conn.statement(sql).and_then(|stmt| {
            let mut all: Vec<&(dyn ToSql + Sync)> = Vec::with_capacity(params.len() + 1);
            all.push(&app);
            all.extend_from_slice(params);
            conn.client.execute(&stmt, &all)
        });
        out.map_err(|e| self.fail(e))
    }

    fn commit_inner(&mut self) -> StoreResult<()> {
        if self.lost {
            return Err(lost());
        }
        if !self.begun {
            return Ok(());
        }
        // The usage row and the commit in one round trip.
        let commit = if self.usage != self.usage_at_begin {
            let (records, bytes) = self.usage;
            format!(
                "INSERT INTO app_usage (app_id, records, bytes) VALUES ({}, {records}, {bytes})
                 ON CONFLICT (app_id) DO UPDATE SET records = excluded.records, bytes = excluded.bytes;
                 COMMIT",
                pg::literal(&self.app)
            )
        } else {
            "COMMIT".to_string()
        };
        let conn = self.conn.as_mut().expect("connection present");
        self.begun = false;
        if let Err(e) = conn.client.batch_execute(&commit) {
            if conn.client.batch_execute("ROLLBACK").is_err() {
                conn.broken = true;
            }
            if pg::is_connection_error(&e) {
                // The server may have committed before the line went down.
                return Err(StoreError::Unavailable(format!(
                    "the connection to the PostgreSQL server was lost during COMMIT ({}); this call's writes may or may not be kept",
                    pg::describe(&e)
                )));
            }
            return Err(store_error(&e, 0, &self.shared.limits));
        }
        Ok(())
    }

    /// Count `records` and `bytes` more (or fewer) against the quota.
    fn charge(&mut self, records: i64, bytes: i64) -> StoreResult<()> {
        // The usage is read when the transaction begins.
        self.conn()?;
        let (r, b) = self.usage;
        let after = b + bytes;
        if bytes > 0 && after > self.shared.limits.max_storage_bytes as i64 {
            return Err(StoreError::QuotaExceeded(format!(
                "the app's storage quota of {} bytes is full; remove records or ask the operator to raise the quota",
                self.shared.limits.max_storage_bytes
            )));
        }
        self.usage = (r + records, after.max(0));
        Ok(())
    }

    /// The records matching every association, oldest first, bounded in
    /// count and bytes while they stream in.
    fn matching(&mut self, associations: &[Association]) -> StoreResult<Vec<RecordRow>> {
        let wanted = super::normalize(associations)?;
        let limits = self.shared.limits;
        let limit =
            i64::try_from(limits.max_records_per_call.saturating_add(1)).unwrap_or(i64::MAX);
        let models: Vec<&str> = wanted.iter().map(|a| a.model.as_str()).collect();
        let keys: Vec<&str> = wanted.iter().map(|a| a.id.as_str()).collect();
        let n = wanted.len() as i64;
        let app = self.app.clone();
        let conn = self.conn()?;
        let out = (|| -> Result<StoreResult<Vec<RecordRow>>, postgres::Error> {
            let stmt = conn.statement(concat!(
                "SELECT ",
                record_columns!(),
                " FROM records r
                 WHERE r.app_id = $1 AND r.seq IN (
                     SELECT a.seq FROM associations a
                     JOIN unnest($2::text[], $3::text[]) AS w(model, key)
                       ON a.model = w.model AND a.key = w.key
                     WHERE a.app_id = $1
                     GROUP BY a.seq HAVING count(*) = $4)
                 ORDER BY r.seq LIMIT $5"
            ))?;
            let params: [&(dyn ToSql + Sync); 5] = [&app, &models, &keys, &n, &limit];
            let mut rows = conn.client.query_raw(&stmt, params)?;
            let mut found = Vec::new();
            let mut bytes = 0;
            let mut over = None;
            use postgres::fallible_iterator::FallibleIterator;
            while let Some(row) = rows.next()? {
                if over.is_some() {
                    // Read to the end (at most the row limit) and drop:
                    // the transaction carries on, as on SQLite.
                    continue;
                }
                let record = match record_of(&row) {
                    Ok(r) => r,
                    Err(e) => {
                        over = Some(e);
                        continue;
                    }
                };
                bytes += returned_bytes(&record.1);
                if let Err(e) = super::check_result_bytes(bytes, &limits) {
                    over = Some(e);
                    found.clear();
                    continue;
                }
                found.push(record);
            }
            if let Some(e) = over {
                return Ok(Err(e));
            }
            Ok(Ok(found))
        })();
        let rows = match out {
            Ok(Ok(rows)) => rows,
            Ok(Err(e)) => return Err(e),
            Err(e) => return Err(self.fail(e)),
        };
        super::check_match_count(rows.len(), &limits)?;
        Ok(rows)
    }

    fn insert(&mut self, id: &str, data: &str, associations: &[Association]) -> StoreResult<()> {
        let mut list = associations.to_vec();
        list.sort();
        list.dedup();
        let cost = RECORD_OVERHEAD
            + (id.len() + data.len()) as i64
            + list
                .iter()
                .map(|a| ASSOCIATION_OVERHEAD + (a.model.as_str().len() + a.id.len()) as i64)
                .sum::<i64>();
        self.charge(1, cost)?;
        let models: Vec<&str> = list.iter().map(|a| a.model.as_str()).collect();
        let keys: Vec<&str> = list.iter().map(|a| a.id.as_str()).collect();
        let out = self.execute(
            "WITH r AS (INSERT INTO records (app_id, id, data) VALUES ($1, $2, $3) RETURNING seq)
             INSERT INTO associations (app_id, model, key, seq)
             SELECT $1, w.model, w.key, r.seq FROM r, unnest($4::text[], $5::text[]) AS w(model, key)",
            &[&id, &data, &models, &keys],
        );
        out.map(|_| ())
    }

    fn cost_of(record: &Record) -> i64 {
        record_cost(record)
    }

    /// What job `id` counts against the quota now (0 if there is none).
    fn job_cost_of(&mut self, id: &str) -> StoreResult<i64> {
        let rows = self.query(
            concat!(
                "SELECT ",
                job_cost!(),
                " FROM jobs WHERE app_id = $1 AND id = $2"
            ),
            &[&id],
        )?;
        Ok(rows.first().map_or(0, |r| r.get(0)))
    }

    /// Give back the quota of the deleted jobs `freed` (each row: its cost).
    fn refund_jobs(&mut self, freed: &[postgres::Row]) -> StoreResult<()> {
        let bytes: i64 = freed.iter().map(|r| r.get::<_, i64>(0)).sum();
        self.charge(0, -bytes)
    }

    /// Record `id` with its associations, in one round trip, bounded.
    fn find_record(&mut self, id: &str) -> StoreResult<Option<RecordRow>> {
        let rows = self.query(
            concat!(
                "SELECT ",
                record_columns!(),
                " FROM records r WHERE r.app_id = $1 AND r.id = $2"
            ),
            &[&id],
        )?;
        let Some(row) = rows.first() else {
            return Ok(None);
        };
        let found = record_of(row)?;
        super::check_result_bytes(returned_bytes(&found.1), &self.shared.limits)?;
        Ok(Some(found))
    }

    fn find(&mut self, id: &str) -> StoreResult<Option<(i64, String)>> {
        let rows = self.query(
            "SELECT seq, data FROM records WHERE app_id = $1 AND id = $2",
            &[&id],
        )?;
        Ok(rows.first().map(|r| (r.get(0), r.get(1))))
    }

    fn set_data(&mut self, seq: i64, old: usize, data: &str) -> StoreResult<()> {
        self.charge(0, data.len() as i64 - old as i64)?;
        self.execute(
            "UPDATE records SET data = $3 WHERE app_id = $1 AND seq = $2",
            &[&seq, &data],
        )?;
        Ok(())
    }

    fn delete(&mut self, seq: i64, record: &Record) -> StoreResult<()> {
        self.execute(
            "DELETE FROM records WHERE app_id = $1 AND seq = $2",
            &[&seq],
        )?;
        self.charge(-1, -Self::cost_of(record))
    }
}

/// What `record` counts against its app's quota.
pub(crate) fn record_cost(record: &Record) -> i64 {
    RECORD_OVERHEAD
        + (record.id.len() + record.data.len()) as i64
        + record
            .associations
            .iter()
            .map(|a| ASSOCIATION_OVERHEAD + (a.model.as_str().len() + a.id.len()) as i64)
            .sum::<i64>()
}

fn lost() -> StoreError {
    StoreError::Aborted(
        "an earlier store error ended this handler's transaction; nothing it wrote is kept and further store calls fail".into(),
    )
}

/// What a server error means to the app.
fn store_error(e: &postgres::Error, wait_ms: u64, limits: &Limits) -> StoreError {
    let code = e.code();
    if code == Some(&SqlState::LOCK_NOT_AVAILABLE) {
        return StoreError::Busy(format!(
            "the app's store stayed locked by another writer for {wait_ms} ms; try again"
        ));
    }
    if code == Some(&SqlState::QUERY_CANCELED) {
        return StoreError::Busy(format!(
            "the database did not answer within the call's remaining {wait_ms} ms; try again"
        ));
    }
    if code == Some(&SqlState::DISK_FULL) || code == Some(&SqlState::PROGRAM_LIMIT_EXCEEDED) {
        return StoreError::QuotaExceeded(format!(
            "the database refused the write ({}); the app's quota is {} bytes",
            pg::describe(e),
            limits.max_storage_bytes
        ));
    }
    if code == Some(&SqlState::READ_ONLY_SQL_TRANSACTION) {
        return StoreError::Unavailable(
            "the database is read-only (a standby?); reads still work".into(),
        );
    }
    if pg::is_connection_error(e) {
        return StoreError::Unavailable(format!(
            "the PostgreSQL server is unreachable ({}); store calls fail until it is back, and nothing of this call was kept",
            pg::describe(e)
        ));
    }
    StoreError::Backend(pg::describe(e))
}

impl PgTxn {
    fn create_inner(&mut self, data: &str, associations: &[Association]) -> StoreResult<String> {
        super::check_data(data, &self.shared.limits)?;
        super::check_associations(associations)?;
        self.budget.write(1, &self.shared.limits)?;
        let id = super::new_record_id();
        self.insert(&id, data, associations)?;
        Ok(id)
    }

    fn update_inner(&mut self, id: &str, data: &str, upsert: bool) -> StoreResult<String> {
        super::check_id(id)?;
        super::check_data(data, &self.shared.limits)?;
        self.budget.write(1, &self.shared.limits)?;
        match self.find(id)? {
            Some((seq, old)) => self.set_data(seq, old.len(), data)?,
            None if upsert => self.insert(id, data, &[])?,
            None => return Err(super::missing_for_update(id)),
        }
        Ok(id.to_string())
    }

    fn update_by_associations_inner(
        &mut self,
        associations: &[Association],
        data: &str,
        upsert: bool,
    ) -> StoreResult<Vec<String>> {
        super::check_data(data, &self.shared.limits)?;
        let rows = self.matching(associations)?;
        if rows.is_empty() {
            if upsert {
                return Ok(vec![self.create_inner(data, associations)?]);
            }
            return Ok(Vec::new());
        }
        self.budget.write(rows.len(), &self.shared.limits)?;
        let mut ids = Vec::with_capacity(rows.len());
        for (seq, old) in rows {
            self.set_data(seq, old.data.len(), data)?;
            ids.push(old.id);
        }
        Ok(ids)
    }

    fn remove_inner(&mut self, id: &str) -> StoreResult<Option<Record>> {
        super::check_id(id)?;
        let Some((seq, record)) = self.find_record(id)? else {
            return Ok(None);
        };
        self.budget.write(1, &self.shared.limits)?;
        self.delete(seq, &record)?;
        Ok(Some(record))
    }

    fn remove_by_associations_inner(
        &mut self,
        associations: &[Association],
    ) -> StoreResult<Vec<Record>> {
        let rows = self.matching(associations)?;
        self.budget.write(rows.len(), &self.shared.limits)?;
        let seqs: Vec<i64> = rows.iter().map(|r| r.0).collect();
        let removed: Vec<Record> = rows.into_iter().map(|(_, r)| r).collect();
        if !seqs.is_empty() {
            self.execute(
                "DELETE FROM records WHERE app_id = $1 AND seq = ANY($2)",
                &[&seqs],
            )?;
            let bytes: i64 = removed.iter().map(Self::cost_of).sum();
            self.charge(-(removed.len() as i64), -bytes)?;
        }
        Ok(removed)
    }

    fn read_inner(&mut self, id: &str) -> StoreResult<Option<Record>> {
        super::check_id(id)?;
        Ok(self.find_record(id)?.map(|(_, r)| r))
    }

    fn read_by_associations_inner(
        &mut self,
        associations: &[Association],
    ) -> StoreResult<Vec<Record>> {
        Ok(self
            .matching(associations)?
            .into_iter()
            .map(|(_, r)| r)
            .collect())
    }
}

impl Records for PgTxn {
    fn create(&mut self, data: &str, associations: &[Association]) -> StoreResult<String> {
        self.create_inner(data, associations)
    }

    fn update(&mut self, id: &str, data: &str, upsert: bool) -> StoreResult<String> {
        self.update_inner(id, data, upsert)
    }

    fn update_by_associations(
        &mut self,
        associations: &[Association],
        data: &str,
        upsert: bool,
    ) -> StoreResult<Vec<String>> {
        self.update_by_associations_inner(associations, data, upsert)
    }

    fn remove(&mut self, id: &str) -> StoreResult<Option<Record>> {
        self.remove_inner(id)
    }

    fn remove_by_associations(&mut self, associations: &[Association]) -> StoreResult<Vec<Record>> {
        self.remove_by_associations_inner(associations)
    }

    fn read(&mut self, id: &str) -> StoreResult<Option<Record>> {
        self.read_inner(id)
    }

    fn read_by_associations(&mut self, associations: &[Association]) -> StoreResult<Vec<Record>> {
        self.read_by_associations_inner(associations)
    }
}

impl Txn for PgTxn {
    fn commit(mut self: Box<Self>) -> StoreResult<()> {
        self.commit_inner()
    }

    fn schedule_job(&mut self, job: &NewJob) -> StoreResult<()> {
        self.budget.write(1, &self.shared.limits)?;
        for text in [&job.id, &job.processor, &job.data] {
            if text.contains('\0') {
                return Err(StoreError::Invalid(
                    "a job's id, processor and data may not contain a NUL character".into(),
                ));
            }
        }
        // Jobs count against the quota as records do (on SQLite they live
        // in the app's size-capped file).
        let old = self.job_cost_of(&job.id)?;
        self.charge(0, new_job_cost(job) - old)?;
        self.execute(
            "INSERT INTO jobs (app_id, id, processor, data, due, every_ms, cron)
             VALUES ($1, $2, $3, $4, $5, $6, $7)
             ON CONFLICT (app_id, id) DO UPDATE SET processor = excluded.processor,
                 data = excluded.data, due = excluded.due, every_ms = excluded.every_ms,
                 cron = excluded.cron, attempts = 0, dead = false, last_error = NULL,
                 lease_owner = NULL, lease_until = NULL, fence = jobs.fence + 1",
            &[
                &job.id,
                &job.processor,
                &job.data,
                &(job.due as i64),
                &job.every_ms.map(|e| e as i64),
                &job.cron,
            ],
        )?;
        Ok(())
    }

    fn cancel_job(&mut self, id: &str) -> StoreResult<bool> {
        self.budget.write(1, &self.shared.limits)?;
        let freed = self.query(
            concat!(
                "DELETE FROM jobs WHERE app_id = $1 AND id = $2 RETURNING ",
                job_cost!()
            ),
            &[&id],
        )?;
        self.refund_jobs(&freed)?;
        Ok(!freed.is_empty())
    }

    fn cancel_all_jobs(&mut self) -> StoreResult<u64> {
        self.budget.write(1, &self.shared.limits)?;
        let freed = self.query(
            concat!("DELETE FROM jobs WHERE app_id = $1 RETURNING ", job_cost!()),
            &[],
        )?;
        self.refund_jobs(&freed)?;
        Ok(freed.len() as u64)
    }

    fn mark_once(&mut self, key: &str, expired: (&str, &str)) -> StoreResult<bool> {
        self.execute(
            "DELETE FROM job_marks WHERE app_id = $1 AND key >= $2 AND key < $3",
            &[&expired.0, &expired.1],
        )?;
        Ok(self.execute(
            "INSERT INTO job_marks (app_id, key) VALUES ($1, $2) ON CONFLICT DO NOTHING",
            &[&key],
        )? == 1)
    }

    fn job_fence_holds(&mut self, id: &str, fence: i64) -> StoreResult<bool> {
        let rows = self.query(
            "SELECT 1 FROM jobs WHERE app_id = $1 AND id = $2 AND fence = $3",
            &[&id, &fence],
        )?;
        Ok(!rows.is_empty())
    }

    fn finish_job(&mut self, id: &str, fence: i64, now: u64, lag_ms: u64) -> StoreResult<bool> {
        let rows = self.query(
            "SELECT due, every_ms, cron FROM jobs WHERE app_id = $1 AND id = $2 AND fence = $3",
            &[&id, &fence],
        )?;
        let Some(row) = rows.first() else {
            return Ok(false);
        };
        let due = row.get::<_, i64>(0) as u64;
        let every = row.get::<_, Option<i64>>(1).map(|e| e as u64);
        let cron: Option<String> = row.get(2);
        let next = match (every, cron) {
            (Some(every), _) => Some(super::next_due(due, every, now)),
            (None, Some(expr)) => super::next_cron(&expr, now).ok(),
            (None, None) => None,
        };
        match next {
            Some(next) => self.execute(
                "UPDATE jobs SET due = $3, attempts = 0, last_error = NULL,
                     lease_owner = NULL, lease_until = NULL WHERE app_id = $1 AND id = $2",
                &[&id, &(next as i64)],
            )?,
            None => {
                let freed = self.query(
                    concat!(
                        "DELETE FROM jobs WHERE app_id = $1 AND id = $2 RETURNING ",
                        job_cost!()
                    ),
                    &[&id],
                )?;
                self.refund_jobs(&freed)?;
                freed.len() as u64
            }
        };
        self.execute(
            "INSERT INTO job_stats (app_id, runs, lag_total_ms, lag_max_ms) VALUES ($1, 1, $2, $2)
             ON CONFLICT (app_id) DO UPDATE SET runs = job_stats.runs + 1,
                 lag_total_ms = job_stats.lag_total_ms + $2,
                 lag_max_ms = greatest(job_stats.lag_max_ms, $2)",
            &[&(lag_ms as i64)],
        )?;
        Ok(true)
    }
}

impl Drop for PgTxn {
    fn drop(&mut self) {
        if let Some(conn) = self.conn.as_mut()
            && (self.begun || self.lost)
            && conn.client.batch_execute("ROLLBACK").is_err()
        {
            // A connection in an unknown state is not reused.
            conn.broken = true;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_postgres::TestPostgres;

    fn backend(limits: Limits) -> Option<PgBackend> {
        let server = TestPostgres::shared()?;
        let config = crate::pg::PgConfig::parse(&server.database(), 8).unwrap();
        let pool = crate::pg::connect(&config).unwrap();
        Some(PgBackend::new(pool, limits))
    }

    #[test]
    fn contract() {
        let Some(b) = backend(Limits::default()) else {
            return;
        };
        crate::storage::contract_tests::run_all(&b);
    }

    #[test]
    fn quota_is_enforced_by_the_usage_row() {
        let Some(b) = backend(Limits {
            max_storage_bytes: 256 * 1024,
            ..Limits::default()
        }) else {
            return;
        };
        let store = b.open("quota").unwrap();
        let chunk = format!("\"{}\"", "z".repeat(16 * 1024));
        let mut t = store.begin(Mode::Write, Instant::now() + Duration::from_secs(5));
        let err = (0..100)
            .find_map(|_| t.create(&chunk, &[]).err())
            .expect("quota hit");
        assert!(matches!(err, StoreError::QuotaExceeded(_)), "{err}");
        t.commit().unwrap();
        let (records, bytes) = store.usage().unwrap();
        assert_eq!(records as usize, store.all_records().unwrap().len());
        assert!(records >= 14 && bytes <= 256 * 1024, "{records} {bytes}");
        // Removing frees the quota for the next call.
        let mut t = store.begin(Mode::Write, Instant::now() + Duration::from_secs(5));
        for r in store.all_records().unwrap() {
            assert!(t.remove(&r.id).unwrap().is_some());
        }
        t.create(&chunk, &[]).unwrap();
        t.commit().unwrap();
        assert_eq!(store.usage().unwrap().0, 1);
    }

    #[test]
    fn row_level_security_hides_other_apps_even_from_a_query_without_the_id() {
        let Some(b) = backend(Limits::default()) else {
            return;
        };
        let mine = b.open("mine").unwrap();
        let theirs = b.open("theirs").unwrap();
        let mut t = theirs.begin(Mode::Write, Instant::now() + Duration::from_secs(5));
        t.create("1", &[]).unwrap();
        t.commit().unwrap();
        // A host bug: a statement that forgets the app id. Row-level
        // security, under the runtime role, still shows only "mine".
        let store = b.shared.clone();
        let mut txn = PgStore {
            shared: store,
            app: "mine".into(),
        }
        .transaction(Mode::Write, Instant::now() + Duration::from_secs(5));
        let seen = txn
            .query(
                "SELECT count(*) FROM records WHERE $1::text IS NOT NULL",
                &[],
            )
            .unwrap()[0]
            .get::<_, i64>(0);
        assert_eq!(seen, 0);
        // Nor can it write a row in another app's name.
        let err = txn
            .execute(
                "INSERT INTO records (app_id, id, data) VALUES ('theirs', $1, '1')",
                &[],
            )
            .unwrap_err();
        assert!(err.to_string().contains("row-level security"), "{err}");
        drop(txn);
        assert_eq!(mine.all_records().unwrap().len(), 0);
        assert_eq!(theirs.all_records().unwrap().len(), 1);
    }
}

#[cfg(test)]
mod job_tests {
    use super::*;
    use crate::test_postgres::TestPostgres;

    #[test]
    fn jobs_are_claimed_one_by_one() {
        let Some(server) = TestPostgres::shared() else {
            return;
        };
        let config = crate::pg::PgConfig::parse(&server.database(), 8).unwrap();
        let b = PgBackend::new(crate::pg::connect(&config).unwrap(), Limits::default());
        let store = b.open("jobs").unwrap();
        let now = crate::registry::now_ms();
        let mut t = store.begin(Mode::Write, Instant::now() + Duration::from_secs(5));
        for i in 0..3 {
            t.schedule_job(&NewJob {
                id: format!("j{i}"),
                processor: "p".into(),
                data: "{}".into(),
                due: now,
                every_ms: None,
                cron: None,
            })
            .unwrap();
        }
        t.commit().unwrap();
        for i in 0..3 {
            let c = store.claim_jobs("me", now + 10, 1000, 1).unwrap();
            assert_eq!(c.len(), 1, "claim {i}: {:?}", store.jobs());
            let mut t = store.begin(Mode::Write, Instant::now() + Duration::from_secs(5));
            assert!(t.finish_job(&c[0].id, c[0].fence, now + 10, 0).unwrap());
            t.commit().unwrap();
        }
        assert!(store.jobs().unwrap().is_empty());
    }

    #[test]
    fn jobs_count_against_the_quota_and_cancelling_frees_it() {
        let Some(server) = TestPostgres::shared() else {
            return;
        };
        let config = crate::pg::PgConfig::parse(&server.database(), 8).unwrap();
        let limits = Limits {
            max_storage_bytes: 64 * 1024,
            ..Limits::default()
        };
        let b = PgBackend::new(crate::pg::connect(&config).unwrap(), limits);
        let store = b.open("jobs").unwrap();
        let job = |i: usize| NewJob {
            id: format!("j{i}"),
            processor: "p".into(),
            data: format!("\"{}\"", "x".repeat(8 * 1024)),
            due: u64::MAX / 2,
            every_ms: None,
            cron: None,
        };
        let mut t = store.begin(Mode::Write, Instant::now() + Duration::from_secs(5));
        let err = (0..20)
            .find_map(|i| t.schedule_job(&job(i)).err())
            .expect("quota hit");
        assert!(matches!(err, StoreError::QuotaExceeded(_)), "{err}");
        // Replacing a job by id charges only the difference.
        t.schedule_job(&job(0)).unwrap();
        t.commit().unwrap();
        let full = store.usage().unwrap().1;
        let mut t = store.begin(Mode::Write, Instant::now() + Duration::from_secs(5));
        assert!(t.cancel_all_jobs().unwrap() >= 7);
        t.commit().unwrap();
        assert!(full > 56 * 1024, "{full}");
        assert_eq!(store.usage().unwrap().1, 0);
    }
}
