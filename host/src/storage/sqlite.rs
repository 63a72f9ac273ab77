//! The embedded backend: one SQLite database per app at
//! `<data_dir>/apps/<id>/store.db`, WAL, a small connection pool, and
//! `BEGIN IMMEDIATE` at a handler's first access so that several host
//! processes never lose an update.

use std::path::{Path, PathBuf};
use std::sync::{Arc, LazyLock, Mutex};
use std::time::{Duration, Instant};

use rusqlite::{Connection, ErrorCode, OptionalExtension, params};

use super::{
    Association, Backend, Budget, ClaimedJob, Durability, JobOp, JobRow, JobStats, Limits,
    MAX_ASSOCIATIONS, Mode, Model, NewJob, Record, Records, RetryPolicy, Store, StoreError,
    StoreResult, Txn,
};
use crate::manifest::validate_app_id;

/// Opens each app's SQLite file under the apps directory.
pub struct SqliteBackend {
    apps_dir: PathBuf,
    limits: Limits,
    durability: Durability,
    busy_timeout: Duration,
}

impl SqliteBackend {
    /// Stores under `apps_dir/<app>/store.db`.
    pub fn new(
        apps_dir: impl Into<PathBuf>,
        limits: Limits,
        durability: Durability,
        busy_timeout: Duration,
    ) -> Self {
        SqliteBackend {
            apps_dir: apps_dir.into(),
            limits,
            durability,
            busy_timeout,
        }
    }

    /// Open (creating) a store file at `path`.
    pub fn open_file(&self, path: impl Into<PathBuf>) -> StoreResult<Arc<SqliteStore>> {
        let store = StoreFile {
            path: path.into(),
            limits: self.limits,
            durability: self.durability,
            busy_timeout: self.busy_timeout,
            pool: Mutex::new(Vec::new()),
        };
        let conn = store.connect()?;
        store.put_back(conn);
        Ok(Arc::new(SqliteStore(Arc::new(store))))
    }

    /// The app id names a directory: refuse anything that is not a plain,
    /// safe path segment, so no app can be mapped onto another's file.
    fn checked(&self, app: &str) -> StoreResult<()> {
        validate_app_id(app).map_err(|e| StoreError::Invalid(format!("app id {e}")))
    }
}

impl Backend for SqliteBackend {
    fn open(&self, app: &str) -> StoreResult<Arc<dyn Store>> {
        self.checked(app)?;
        let dir = self.apps_dir.join(app);
        if !dir.exists() {
            std::fs::create_dir_all(&dir)
                .map_err(|e| StoreError::Unavailable(format!("creating {}: {e}", dir.display())))?;
        }
        Ok(self.open_file(dir.join("store.db"))?)
    }

    fn open_staged(&self, app: &str, staging: &Path) -> StoreResult<Arc<dyn Store>> {
        self.checked(app)?;
        Ok(self.open_file(staging.join("store.db"))?)
    }
}

fn sqlite_error(err: rusqlite::Error, limits: &Limits) -> StoreError {
    match err.sqlite_error_code() {
        Some(ErrorCode::ReadOnly) => StoreError::Unavailable(
            "the app's store is read-only (is the data directory mounted read-only?); reads still work".into(),
        ),
        Some(ErrorCode::DiskFull) => StoreError::QuotaExceeded(format!(
            "the app's storage quota of {} bytes is full (or the disk is); remove records or ask the operator to raise the quota",
            limits.max_storage_bytes
        )),
        _ => StoreError::Backend(err.to_string()),
    }
}

impl From<rusqlite::Error> for StoreError {
    fn from(err: rusqlite::Error) -> Self {
        StoreError::Backend(err.to_string())
    }
}

/// One app's SQLite store: a database file and a small pool of connections.
pub struct SqliteStore(Arc<StoreFile>);

/// The file and its pool, shared with the store's transactions.
struct StoreFile {
    path: PathBuf,
    limits: Limits,
    durability: Durability,
    busy_timeout: Duration,
    pool: Mutex<Vec<Connection>>,
}

impl std::fmt::Debug for SqliteStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SqliteStore")
            .field("path", &self.0.path)
            .finish()
    }
}

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS records (
    seq  INTEGER PRIMARY KEY,
    id   TEXT NOT NULL UNIQUE,
    data TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS associations (
    model TEXT NOT NULL,
    key   TEXT NOT NULL,
    seq   INTEGER NOT NULL REFERENCES records(seq) ON DELETE CASCADE,
    PRIMARY KEY (model, key, seq)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS associations_by_record ON associations(seq);
";

/// The association query for 1..=MAX_ASSOCIATIONS associations, built
/// once: the first association leads (an index range), the others are
/// checked per candidate; the row limit is the last parameter.
static MATCH_SQL: LazyLock<Vec<String>> = LazyLock::new(|| {
    (1..=MAX_ASSOCIATIONS)
        .map(|n| {
            let mut sql = String::from(
                "SELECT r.seq, r.id, r.data FROM associations a0 JOIN records r ON r.seq = a0.seq \
                 WHERE a0.model = ?1 AND a0.key = ?2",
            );
            for i in 1..n {
                sql.push_str(&format!(
                    " AND EXISTS (SELECT 1 FROM associations a WHERE a.model = ?{} AND a.key = ?{} AND a.seq = r.seq)",
                    2 * i + 1,
                    2 * i + 2
                ));
            }
            sql.push_str(&format!(" ORDER BY r.seq LIMIT ?{}", 2 * n + 1));
            sql
        })
        .collect()
});

impl SqliteStore {
    /// A transaction on this store, begun lazily at its first operation.
    pub fn transaction(&self, mode: Mode, deadline: Option<Instant>) -> SqliteTxn {
        SqliteTxn {
            store: self.0.clone(),
            conn: None,
            begun: false,
            lost: false,
            budget: Budget::default(),
            returned: 0,
            mode,
            deadline,
        }
    }
}

impl StoreFile {
    fn connect(&self) -> StoreResult<Connection> {
        let (conn, read_only) = crate::sqlite::open_connection(&self.path)?;
        conn.busy_timeout(self.busy_timeout)?;
        // Keep query plans stable: with STAT4 compiled in, SQLite would
        // otherwise re-prepare a cached statement at every step to re-plan
        // for the bound values, a ~25 us cost per query.
        conn.set_db_config(
            rusqlite::config::DbConfig::SQLITE_DBCONFIG_ENABLE_QPSG,
            true,
        )?;
        conn.set_prepared_statement_cache_capacity(MAX_ASSOCIATIONS + 16);
        let sync = match self.durability {
            Durability::Normal => "NORMAL",
            Durability::Full => "FULL",
        };
        if !read_only {
            conn.execute_batch(&format!(
                "PRAGMA journal_mode=WAL; PRAGMA synchronous={sync}; PRAGMA foreign_keys=ON;"
            ))?;
            let page_size = conn.query_row("PRAGMA page_size", [], |r| r.get::<_, i64>(0))? as u64;
            let pages = (self.limits.max_storage_bytes / page_size).max(16);
            conn.query_row(&format!("PRAGMA max_page_count={pages}"), [], |_| Ok(()))?;
            conn.execute_batch(SCHEMA)?;
            conn.execute_batch(super::jobs::SCHEMA)?;
        }
        Ok(conn)
    }

    fn take(&self) -> StoreResult<Connection> {
        let pooled = self.pool.lock().expect("store pool poisoned").pop();
        match pooled {
            Some(conn) => Ok(conn),
            None => self.connect(),
        }
    }

    fn put_back(&self, conn: Connection) {
        // Only a connection outside any transaction, with the store's own
        // busy timeout (a call may have shortened it to its deadline).
        if !conn.is_autocommit() || conn.busy_timeout(self.busy_timeout).is_err() {
            return;
        }
        let mut pool = self.pool.lock().expect("store pool poisoned");
        if pool.len() < 8 {
            pool.push(conn);
        }
    }
}

impl Store for SqliteStore {
    fn begin(&self, mode: Mode, deadline: Instant) -> Box<dyn Txn> {
        Box::new(self.transaction(mode, Some(deadline)))
    }

    fn all_records(&self) -> StoreResult<Vec<Record>> {
        let mut txn = self.transaction(Mode::Read, None);
        let conn = txn.conn()?;
        let mut stmt = conn.prepare_cached("SELECT seq, id, data FROM records ORDER BY seq")?;
        let rows = stmt
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?
            .collect::<Result<Vec<(i64, String, String)>, _>>()?;
        drop(stmt);
        rows.into_iter()
            .map(|(seq, id, data)| txn.with_associations(seq, id, data))
            .collect()
    }

    fn claim_jobs(
        &self,
        owner: &str,
        now: u64,
        lease_ms: u64,
        max: usize,
    ) -> StoreResult<Vec<ClaimedJob>> {
        // A cheap read first: most ticks find nothing due and take no lock.
        {
            let mut txn = self.transaction(Mode::Read, None);
            let due: bool = txn
                .conn()?
                .prepare_cached(
                    "SELECT EXISTS (SELECT 1 FROM jobs WHERE dead = 0 AND due <= ?1
                         AND (lease_until IS NULL OR lease_until < ?1))",
                )?
                .query_row([now as i64], |r| r.get(0))?;
            if !due {
                return Ok(Vec::new());
            }
        }
        self.bookkeeping(|conn| {
            let mut stmt = conn.prepare_cached(
                "UPDATE jobs SET fence = fence + 1, lease_owner = ?2, lease_until = ?3
                 WHERE id IN (SELECT id FROM jobs WHERE dead = 0 AND due <= ?1
                              AND (lease_until IS NULL OR lease_until < ?1)
                              ORDER BY due LIMIT ?4)
                 RETURNING id, processor, data, fence, due, attempts",
            )?;
            let rows = stmt
                .query_map(
                    params![now as i64, owner, (now + lease_ms) as i64, max as i64],
                    |r| {
                        Ok(ClaimedJob {
                            id: r.get(0)?,
                            processor: r.get(1)?,
                            data: r.get(2)?,
                            fence: r.get(3)?,
                            due: r.get::<_, i64>(4)? as u64,
                            attempts: r.get::<_, i64>(5)? as u32,
                        })
                    },
                )?
                .collect::<rusqlite::Result<Vec<_>>>()?;
            Ok(rows)
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
        self.bookkeeping(|conn| {
            let attempts: Option<i64> = conn
                .prepare_cached("SELECT attempts FROM jobs WHERE id = ?1 AND fence = ?2")?
                .query_row(params![id, fence], |r| r.get(0))
                .optional()?;
            let Some(attempts) = attempts else {
                return Ok(false);
            };
            let attempts = attempts as u32 + 1;
            let dead = attempts >= policy.max_attempts;
            conn.prepare_cached(
                "UPDATE jobs SET attempts = ?2, last_error = ?3, dead = ?4, due = ?5,
                     lease_owner = NULL, lease_until = NULL WHERE id = ?1",
            )?
            .execute(params![
                id,
                attempts as i64,
                crate::policy::bounded(error.to_string(), 1024),
                dead as i64,
                (now + policy.backoff(attempts)) as i64
            ])?;
            Ok(true)
        })
    }

    fn ensure_job(&self, job: &NewJob, mark: &str) -> StoreResult<bool> {
        self.bookkeeping(|conn| {
            if conn.execute("INSERT OR IGNORE INTO job_marks (key) VALUES (?1)", [mark])? == 0 {
                return Ok(false);
            }
            conn.prepare_cached(
                "INSERT INTO jobs (id, processor, data, due, every_ms, cron) VALUES (?1, ?2, ?3, ?4, ?5, ?6)
                 ON CONFLICT (id) DO UPDATE SET processor = excluded.processor,
                     data = excluded.data, every_ms = excluded.every_ms, cron = excluded.cron",
            )?
            .execute(params![
                job.id,
                job.processor,
                job.data,
                job.due as i64,
                job.every_ms.map(|e| e as i64),
                job.cron
            ])?;
            Ok(true)
        })
    }

    fn marked(&self, key: &str) -> StoreResult<bool> {
        let mut txn = self.transaction(Mode::Read, None);
        let conn = txn.conn()?;
        Ok(conn
            .prepare_cached("SELECT 1 FROM job_marks WHERE key = ?1")?
            .exists([key])?)
    }

    fn jobs(&self) -> StoreResult<Vec<JobRow>> {
        let mut txn = self.transaction(Mode::Read, None);
        let conn = txn.conn()?;
        let rows = conn
            .prepare_cached(
                "SELECT id, processor, data, due, every_ms, attempts, lease_owner, lease_until,
                        last_error, dead, cron FROM jobs ORDER BY due, id",
            )?
            .query_map([], job_row)?
            .collect::<rusqlite::Result<Vec<_>>>()?;
        Ok(rows)
    }

    fn job_stats(&self) -> StoreResult<JobStats> {
        let mut txn = self.transaction(Mode::Read, None);
        let conn = txn.conn()?;
        let (pending, dead): (i64, i64) = conn.query_row(
            "SELECT count(*) FILTER (WHERE dead = 0), count(*) FILTER (WHERE dead = 1) FROM jobs",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )?;
        let (runs, total, max): (i64, i64, i64) = conn
            .query_row(
                "SELECT runs, lag_total_ms, lag_max_ms FROM job_stats WHERE k = 0",
                [],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
            )
            .optional()?
            .unwrap_or((0, 0, 0));
        Ok(JobStats {
            pending: pending as u64,
            dead: dead as u64,
            runs: runs as u64,
            mean_lag_ms: total.checked_div(runs).unwrap_or(0) as u64,
            max_lag_ms: max as u64,
        })
    }

    fn job_op(&self, id: &str, op: JobOp, now: u64) -> StoreResult<bool> {
        self.bookkeeping(|conn| {
            let sql = match op {
                JobOp::Cancel => "DELETE FROM jobs WHERE id = ?1",
                JobOp::RunNow => {
                    "UPDATE jobs SET due = ?2, dead = 0, lease_owner = NULL, lease_until = NULL
                     WHERE id = ?1"
                }
                JobOp::Retry => {
                    "UPDATE jobs SET due = ?2, dead = 0, attempts = 0, last_error = NULL,
                         lease_owner = NULL, lease_until = NULL WHERE id = ?1"
                }
            };
            let n = if op == JobOp::Cancel {
                conn.execute(sql, [id])?
            } else {
                conn.execute(sql, params![id, now as i64])?
            };
            Ok(n > 0)
        })
    }

    fn usage(&self) -> StoreResult<(u64, u64)> {
        let mut txn = self.transaction(Mode::Read, None);
        let conn = txn.conn()?;
        let count =
            conn.query_row("SELECT count(*) FROM records", [], |r| r.get::<_, i64>(0))? as u64;
        let pages = conn.query_row("PRAGMA page_count", [], |r| r.get::<_, i64>(0))? as u64;
        let size = conn.query_row("PRAGMA page_size", [], |r| r.get::<_, i64>(0))? as u64;
        Ok((count, pages * size))
    }
}

/// One unit of work on a [`SqliteStore`]; takes a connection at its first
/// operation.
pub struct SqliteTxn {
    store: Arc<StoreFile>,
    conn: Option<Connection>,
    begun: bool,
    /// SQLite ended the transaction after an error (e.g. SQLITE_FULL rolls
    /// it all back): nothing more may run, outside it or in autocommit.
    lost: bool,
    budget: Budget,
    /// Association bytes returned by the current operation (record data
    /// is counted as rows are read).
    returned: usize,
    mode: Mode,
    deadline: Option<Instant>,
}

impl SqliteTxn {
    fn conn(&mut self) -> StoreResult<&Connection> {
        if self.lost {
            return Err(lost());
        }
        if self.conn.is_none() {
            self.conn = Some(self.store.take()?);
        }
        if !self.begun {
            self.begin()?;
        }
        Ok(self.conn.as_ref().expect("taken above"))
    }

    fn begin(&mut self) -> StoreResult<()> {
        let conn = self.conn.as_ref().expect("connection taken");
        if self.mode == Mode::Read {
            // One read transaction per read-only call: a single snapshot,
            // and one WAL lock round trip instead of one per statement.
            conn.execute_batch("BEGIN")?;
            self.begun = true;
            return Ok(());
        }
        let wait = match self.deadline {
            Some(d) => d
                .saturating_duration_since(Instant::now())
                .min(self.store.busy_timeout),
            None => self.store.busy_timeout,
        };
        conn.busy_timeout(wait)?;
        match conn.execute_batch("BEGIN IMMEDIATE") {
            Ok(()) => {}
            Err(e) if e.sqlite_error_code() == Some(ErrorCode::ReadOnly) => {
                // A read-only data dir: keep serving reads in a plain
                // transaction; writes fail with a clear error.
                conn.execute_batch("BEGIN")?;
            }
            Err(e) if e.sqlite_error_code() == Some(ErrorCode::DatabaseBusy) => {
                return Err(StoreError::Busy(format!(
                    "the app's store stayed locked by another writer for {} ms; try again",
                    wait.as_millis()
                )));
            }
            Err(e) => return Err(sqlite_error(e, &self.store.limits)),
        }
        self.begun = true;
        Ok(())
    }

    /// Whether the transaction has begun (taken its lock or snapshot).
    #[cfg(test)]
    pub fn is_begun(&self) -> bool {
        self.begun
    }

    /// After a failed operation: if SQLite has ended the transaction, the
    /// handler's earlier writes are gone and none of its later ones may be
    /// kept, so the transaction is lost for good.
    fn check<T>(&mut self, result: StoreResult<T>) -> StoreResult<T> {
        if result.is_err() && self.begun && self.conn.as_ref().is_some_and(|c| c.is_autocommit()) {
            self.lost = true;
            self.begun = false;
        }
        result
    }

    /// Make every write of this transaction durable.
    pub fn commit(mut self) -> StoreResult<()> {
        if self.lost {
            return Err(lost());
        }
        if self.begun {
            let conn = self.conn.as_ref().expect("connection present");
            if let Err(e) = conn.execute_batch("COMMIT") {
                let _ = conn.execute_batch("ROLLBACK");
                self.begun = false;
                return Err(sqlite_error(e, &self.store.limits));
            }
            self.begun = false;
        }
        Ok(())
    }

    fn write_error(&self, e: rusqlite::Error) -> StoreError {
        sqlite_error(e, &self.store.limits)
    }

    fn with_associations(&mut self, seq: i64, id: String, data: String) -> StoreResult<Record> {
        let limits = self.store.limits;
        let conn = self.conn()?;
        let mut stmt = conn.prepare_cached("SELECT model, key FROM associations WHERE seq = ?1")?;
        let associations = stmt
            .query_map([seq], |r| {
                Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?))
            })?
            .map(|row| {
                let (model, key) = row?;
                let model = Model::parse(&model).ok_or_else(|| {
                    StoreError::Invalid(format!("unknown association model '{model}' in store"))
                })?;
                Ok(Association::new(model, key))
            })
            .collect::<StoreResult<Vec<_>>>()?;
        drop(stmt);
        let keys: usize = associations.iter().map(|a| a.id.len()).sum();
        self.returned += keys;
        super::check_result_bytes(self.returned, &limits)?;
        Ok(Record {
            id,
            associations,
            data,
        })
    }

    /// Lead with the most selective association (a capped count over the
    /// index), so a selective query stays an index lookup however common
    /// the other associations are.
    fn most_selective_first(&mut self, wanted: &mut [Association]) -> StoreResult<()> {
        if wanted.len() < 2 {
            return Ok(());
        }
        let conn = self.conn()?;
        let mut stmt = conn.prepare_cached(
            "SELECT count(*) FROM (SELECT 1 FROM associations WHERE model = ?1 AND key = ?2 LIMIT 32)",
        )?;
        let mut counts = Vec::with_capacity(wanted.len());
        for a in wanted.iter() {
            let n: i64 = stmt.query_row(params![a.model.as_str(), a.id], |r| r.get(0))?;
            counts.push(n);
        }
        let mut order: Vec<usize> = (0..wanted.len()).collect();
        order.sort_by_key(|&i| counts[i]);
        let sorted: Vec<Association> = order.iter().map(|&i| wanted[i].clone()).collect();
        wanted.clone_from_slice(&sorted);
        Ok(())
    }

    fn matching(
        &mut self,
        associations: &[Association],
    ) -> StoreResult<Vec<(i64, String, String)>> {
        let mut wanted = super::normalize(associations)?;
        self.most_selective_first(&mut wanted)?;
        let limits = self.store.limits;
        let limit =
            i64::try_from(limits.max_records_per_call.saturating_add(1)).unwrap_or(i64::MAX);
        let sql = &MATCH_SQL[wanted.len() - 1];
        let conn = self.conn()?;
        let mut stmt = conn.prepare_cached(sql)?;
        let mut args: Vec<&dyn rusqlite::ToSql> = Vec::with_capacity(2 * wanted.len() + 1);
        for a in &wanted {
            args.push(&a.model);
            args.push(&a.id);
        }
        args.push(&limit);
        let mut rows: Vec<(i64, String, String)> = Vec::new();
        let mut bytes = 0;
        let mut found = stmt.query(args.as_slice())?;
        while let Some(row) = found.next()? {
            let (seq, id, data): (i64, String, String) = (row.get(0)?, row.get(1)?, row.get(2)?);
            bytes += id.len() + data.len();
            super::check_result_bytes(bytes, &limits)?;
            rows.push((seq, id, data));
        }
        drop(found);
        drop(stmt);
        // Association keys are added as the records are assembled.
        self.returned = bytes;
        super::check_match_count(rows.len(), &limits)?;
        Ok(rows)
    }

    fn insert(&mut self, id: &str, data: &str, associations: &[Association]) -> StoreResult<()> {
        let conn = self.conn()?;
        let run = || -> rusqlite::Result<()> {
            conn.prepare_cached("INSERT INTO records (id, data) VALUES (?1, ?2)")?
                .execute(params![id, data])?;
            let seq = conn.last_insert_rowid();
            let mut stmt = conn.prepare_cached(
                "INSERT OR IGNORE INTO associations (model, key, seq) VALUES (?1, ?2, ?3)",
            )?;
            for a in associations {
                stmt.execute(params![a.model.as_str(), a.id, seq])?;
            }
            Ok(())
        };
        let out = run();
        out.map_err(|e| self.write_error(e))
    }

    fn execute(&mut self, sql: &str, params: impl rusqlite::Params) -> StoreResult<()> {
        let conn = self.conn()?;
        let out = conn.prepare_cached(sql).and_then(|mut s| s.execute(params));
        out.map(|_| ()).map_err(|e| self.write_error(e))
    }

    fn find(&mut self, id: &str) -> StoreResult<Option<(i64, String)>> {
        let conn = self.conn()?;
        Ok(conn
            .prepare_cached("SELECT seq, data FROM records WHERE id = ?1")?
            .query_row([id], |r| Ok((r.get(0)?, r.get(1)?)))
            .optional()?)
    }
}

fn lost() -> StoreError {
    StoreError::Aborted(
        "an earlier store error ended this handler's transaction; nothing it wrote is kept and further store calls fail".into(),
    )
}

impl rusqlite::ToSql for Model {
    fn to_sql(&self) -> rusqlite::Result<rusqlite::types::ToSqlOutput<'_>> {
        Ok(self.as_str().into())
    }
}

impl SqliteTxn {
    fn create_inner(&mut self, data: &str, associations: &[Association]) -> StoreResult<String> {
        super::check_data(data, &self.store.limits)?;
        super::check_associations(associations)?;
        self.budget.write(1, &self.store.limits)?;
        let id = super::new_record_id();
        self.insert(&id, data, associations)?;
        Ok(id)
    }

    fn update_inner(&mut self, id: &str, data: &str, upsert: bool) -> StoreResult<String> {
        super::check_id(id)?;
        super::check_data(data, &self.store.limits)?;
        self.budget.write(1, &self.store.limits)?;
        match self.find(id)? {
            Some((seq, _)) => self.execute(
                "UPDATE records SET data = ?1 WHERE seq = ?2",
                params![data, seq],
            )?,
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
        super::check_data(data, &self.store.limits)?;
        let rows = self.matching(associations)?;
        if rows.is_empty() {
            if upsert {
                return Ok(vec![self.create_inner(data, associations)?]);
            }
            return Ok(Vec::new());
        }
        self.budget.write(rows.len(), &self.store.limits)?;
        let mut ids = Vec::with_capacity(rows.len());
        for (seq, id, _) in rows {
            self.execute(
                "UPDATE records SET data = ?1 WHERE seq = ?2",
                params![data, seq],
            )?;
            ids.push(id);
        }
        Ok(ids)
    }

    fn remove_inner(&mut self, id: &str) -> StoreResult<Option<Record>> {
        self.returned = 0;
        super::check_id(id)?;
        let Some((seq, data)) = self.find(id)? else {
            return Ok(None);
        };
        self.budget.write(1, &self.store.limits)?;
        let record = self.with_associations(seq, id.to_string(), data)?;
        self.execute("DELETE FROM records WHERE seq = ?1", [seq])?;
        Ok(Some(record))
    }

    fn remove_by_associations_inner(
        &mut self,
        associations: &[Association],
    ) -> StoreResult<Vec<Record>> {
        let rows = self.matching(associations)?;
        self.budget.write(rows.len(), &self.store.limits)?;
        let mut removed = Vec::with_capacity(rows.len());
        for (seq, id, data) in rows {
            removed.push(self.with_associations(seq, id, data)?);
            self.execute("DELETE FROM records WHERE seq = ?1", [seq])?;
        }
        Ok(removed)
    }

    fn read_inner(&mut self, id: &str) -> StoreResult<Option<Record>> {
        self.returned = 0;
        super::check_id(id)?;
        match self.find(id)? {
            Some((seq, data)) => Ok(Some(self.with_associations(seq, id.to_string(), data)?)),
            None => Ok(None),
        }
    }

    fn read_by_associations_inner(
        &mut self,
        associations: &[Association],
    ) -> StoreResult<Vec<Record>> {
        self.matching(associations)?
            .into_iter()
            .map(|(seq, id, data)| self.with_associations(seq, id, data))
            .collect()
    }
}

impl Records for SqliteTxn {
    fn create(&mut self, data: &str, associations: &[Association]) -> StoreResult<String> {
        let r = self.create_inner(data, associations);
        self.check(r)
    }

    fn update(&mut self, id: &str, data: &str, upsert: bool) -> StoreResult<String> {
        let r = self.update_inner(id, data, upsert);
        self.check(r)
    }

    fn update_by_associations(
        &mut self,
        associations: &[Association],
        data: &str,
        upsert: bool,
    ) -> StoreResult<Vec<String>> {
        let r = self.update_by_associations_inner(associations, data, upsert);
        self.check(r)
    }

    fn remove(&mut self, id: &str) -> StoreResult<Option<Record>> {
        let r = self.remove_inner(id);
        self.check(r)
    }

    fn remove_by_associations(&mut self, associations: &[Association]) -> StoreResult<Vec<Record>> {
        let r = self.remove_by_associations_inner(associations);
        self.check(r)
    }

    fn read(&mut self, id: &str) -> StoreResult<Option<Record>> {
        let r = self.read_inner(id);
        self.check(r)
    }

    fn read_by_associations(&mut self, associations: &[Association]) -> StoreResult<Vec<Record>> {
        let r = self.read_by_associations_inner(associations);
        self.check(r)
    }
}

impl Txn for SqliteTxn {
    fn commit(self: Box<Self>) -> StoreResult<()> {
        SqliteTxn::commit(*self)
    }

    fn schedule_job(&mut self, job: &NewJob) -> StoreResult<()> {
        let r = (|| {
            self.budget.write(1, &self.store.limits)?;
            let conn = self.conn()?;
            conn.prepare_cached(
                "INSERT INTO jobs (id, processor, data, due, every_ms, cron) VALUES (?1, ?2, ?3, ?4, ?5, ?6)
                 ON CONFLICT (id) DO UPDATE SET processor = excluded.processor, data = excluded.data,
                     due = excluded.due, every_ms = excluded.every_ms, cron = excluded.cron,
                     attempts = 0, dead = 0,
                     last_error = NULL, lease_owner = NULL, lease_until = NULL, fence = fence + 1",
            )?
            .execute(params![
                job.id,
                job.processor,
                job.data,
                job.due as i64,
                job.every_ms.map(|e| e as i64),
                job.cron
            ])?;
            Ok(())
        })();
        self.check(r)
    }

    fn cancel_job(&mut self, id: &str) -> StoreResult<bool> {
        let r = (|| {
            self.budget.write(1, &self.store.limits)?;
            let conn = self.conn()?;
            Ok(conn
                .prepare_cached("DELETE FROM jobs WHERE id = ?1")?
                .execute([id])?
                > 0)
        })();
        self.check(r)
    }

    fn cancel_all_jobs(&mut self) -> StoreResult<u64> {
        let r = (|| {
            self.budget.write(1, &self.store.limits)?;
            let conn = self.conn()?;
            Ok(conn.prepare_cached("DELETE FROM jobs")?.execute([])? as u64)
        })();
        self.check(r)
    }

    fn mark_once(&mut self, key: &str, expired: (&str, &str)) -> StoreResult<bool> {
        let r = (|| {
            let conn = self.conn()?;
            conn.prepare_cached("DELETE FROM job_marks WHERE key >= ?1 AND key < ?2")?
                .execute(params![expired.0, expired.1])?;
            Ok(conn
                .prepare_cached("INSERT OR IGNORE INTO job_marks (key) VALUES (?1)")?
                .execute([key])?
                == 1)
        })();
        self.check(r)
    }

    fn job_fence_holds(&mut self, id: &str, fence: i64) -> StoreResult<bool> {
        let r = (|| {
            let conn = self.conn()?;
            Ok(conn
                .prepare_cached("SELECT 1 FROM jobs WHERE id = ?1 AND fence = ?2")?
                .exists(params![id, fence])?)
        })();
        self.check(r)
    }

    fn finish_job(&mut self, id: &str, fence: i64, now: u64, lag_ms: u64) -> StoreResult<bool> {
        let r = (|| {
            let conn = self.conn()?;
            let row: Option<(u64, Option<u64>, Option<String>)> = conn
                .prepare_cached(
                    "SELECT due, every_ms, cron FROM jobs WHERE id = ?1 AND fence = ?2",
                )?
                .query_row(params![id, fence], |r| {
                    Ok((
                        r.get::<_, i64>(0)? as u64,
                        r.get::<_, Option<i64>>(1)?.map(|e| e as u64),
                        r.get(2)?,
                    ))
                })
                .optional()?;
            let Some((due, every, cron)) = row else {
                return Ok(false);
            };
            let next = match (every, cron) {
                (Some(every), _) => Some(super::next_due(due, every, now)),
                (None, Some(expr)) => super::next_cron(&expr, now).ok(),
                (None, None) => None,
            };
            match next {
                Some(next) => conn
                    .prepare_cached(
                        "UPDATE jobs SET due = ?2, attempts = 0, last_error = NULL,
                             lease_owner = NULL, lease_until = NULL WHERE id = ?1",
                    )?
                    .execute(params![id, next as i64])?,
                None => conn
                    .prepare_cached("DELETE FROM jobs WHERE id = ?1")?
                    .execute([id])?,
            };
            conn.prepare_cached(
                "INSERT INTO job_stats (k, runs, lag_total_ms, lag_max_ms) VALUES (0, 1, ?1, ?1)
                 ON CONFLICT (k) DO UPDATE SET runs = runs + 1,
                     lag_total_ms = lag_total_ms + ?1, lag_max_ms = max(lag_max_ms, ?1)",
            )?
            .execute([lag_ms as i64])?;
            Ok(true)
        })();
        self.check(r)
    }
}

impl SqliteStore {
    /// Run `f` in a write transaction of its own (the runner's bookkeeping).
    fn bookkeeping<T>(&self, f: impl FnOnce(&Connection) -> StoreResult<T>) -> StoreResult<T> {
        let mut txn = self.transaction(Mode::Write, None);
        let value = f(txn.conn()?)?;
        txn.commit()?;
        Ok(value)
    }
}

fn job_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<JobRow> {
    Ok(JobRow {
        id: r.get(0)?,
        processor: r.get(1)?,
        data: r.get(2)?,
        due: r.get::<_, i64>(3)? as u64,
        every_ms: r.get::<_, Option<i64>>(4)?.map(|e| e as u64),
        attempts: r.get::<_, i64>(5)? as u32,
        lease_owner: r.get(6)?,
        lease_until: r.get::<_, Option<i64>>(7)?.map(|e| e as u64),
        last_error: r.get(8)?,
        dead: r.get::<_, i64>(9)? != 0,
        cron: r.get(10)?,
    })
}

impl Drop for SqliteTxn {
    fn drop(&mut self) {
        if let Some(conn) = self.conn.take() {
            if self.begun && conn.execute_batch("ROLLBACK").is_err() {
                // A connection in an unknown state is not reused.
                return;
            }
            self.store.put_back(conn);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn backend(dir: &Path, limits: Limits) -> SqliteBackend {
        SqliteBackend::new(dir, limits, Durability::Normal, Duration::from_secs(5))
    }

    #[test]
    fn contract() {
        let dir = tempfile::tempdir().unwrap();
        let b = backend(dir.path(), Limits::default());
        crate::storage::contract_tests::run_all(&b);
    }

    #[test]
    fn quota_is_enforced_by_sqlite() {
        let dir = tempfile::tempdir().unwrap();
        let limits = Limits {
            max_storage_bytes: 256 * 1024,
            ..Limits::default()
        };
        let store = backend(dir.path(), limits).open("quota").unwrap();
        let mut t = store.begin(Mode::Write, Instant::now() + Duration::from_secs(5));
        let chunk = format!("\"{}\"", "z".repeat(16 * 1024));
        let err = (0..100)
            .find_map(|_| t.create(&chunk, &[]).err())
            .expect("quota hit");
        assert!(matches!(err, StoreError::QuotaExceeded(_)), "{err}");
    }

    #[test]
    fn app_ids_that_are_not_path_segments_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let b = backend(dir.path(), Limits::default());
        for bad in ["../x", "a/b", "", "A"] {
            assert!(matches!(b.open(bad), Err(StoreError::Invalid(_))), "{bad}");
        }
    }

    #[test]
    fn a_call_that_never_touches_the_store_takes_no_connection() {
        let dir = tempfile::tempdir().unwrap();
        let store = backend(dir.path(), Limits::default())
            .open_file(dir.path().join("s.db"))
            .unwrap();
        let t = store.transaction(Mode::Write, None);
        assert!(!t.is_begun() && t.conn.is_none());
        Box::new(t).commit().unwrap();
    }
}
