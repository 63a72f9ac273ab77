//! Persistence: each app's records in its own SQLite database file.
//!
//! The [`Records`] trait is what handlers see of a store; [`SqliteStore`] is
//! the embedded backend (one file per app, WAL, `BEGIN IMMEDIATE` so that
//! several host processes never lose an update). A server database would be
//! another implementation of the same trait.
//!
//! Association matching is one rule everywhere: a record matches a list when
//! it carries all of them (AND); order and duplicates in the list are ignored.

use std::collections::hash_map::RandomState;
use std::hash::{BuildHasher, Hasher};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use rusqlite::{Connection, ErrorCode, OptionalExtension, params};
use serde::{Deserialize, Serialize};

/// What a record is associated with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Model {
    /// A chat room.
    Room,
    /// A discussion.
    Discussion,
    /// A message.
    Message,
    /// A livechat message.
    LivechatMessage,
    /// A user.
    User,
    /// A file.
    File,
    /// Anything else, keyed by the app.
    Misc,
    /// A video conference.
    VideoConference,
}

impl Model {
    /// The stored (and printed) name.
    pub fn as_str(self) -> &'static str {
        match self {
            Model::Room => "room",
            Model::Discussion => "discussion",
            Model::Message => "message",
            Model::LivechatMessage => "livechat-message",
            Model::User => "user",
            Model::File => "file",
            Model::Misc => "misc",
            Model::VideoConference => "video-conference",
        }
    }

    fn parse(s: &str) -> Option<Model> {
        Some(match s {
            "room" => Model::Room,
            "discussion" => Model::Discussion,
            "message" => Model::Message,
            "livechat-message" => Model::LivechatMessage,
            "user" => Model::User,
            "file" => Model::File,
            "misc" => Model::Misc,
            "video-conference" => Model::VideoConference,
            _ => return None,
        })
    }
}

/// A link from a record to a model instance.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Association {
    /// What kind of thing.
    pub model: Model,
    /// Its id.
    pub id: String,
}

impl Association {
    /// An association with `model` and `id`.
    pub fn new(model: Model, id: impl Into<String>) -> Self {
        Association {
            model,
            id: id.into(),
        }
    }
}

/// A stored record.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Record {
    /// The record id.
    pub id: String,
    /// Its associations, in the order they were stored.
    pub associations: Vec<Association>,
    /// Its data, JSON text.
    pub data: String,
}

/// Why a store operation failed; each maps to a WIT `error` case.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// Bad argument: invalid JSON, empty association list, ...
    #[error("{0}")]
    Invalid(String),
    /// Over a size limit.
    #[error("{0}")]
    TooLarge(String),
    /// The app's storage quota is full.
    #[error("{0}")]
    QuotaExceeded(String),
    /// No such record.
    #[error("{0}")]
    NotFound(String),
    /// Another writer held the store past the call's deadline.
    #[error("{0}")]
    Busy(String),
    /// The store cannot be written (read-only data dir).
    #[error("{0}")]
    Unavailable(String),
    /// The database failed.
    #[error("database error: {0}")]
    Backend(#[from] rusqlite::Error),
}

impl StoreError {
    fn from_sqlite(err: rusqlite::Error, limits: &Limits) -> StoreError {
        if err.sqlite_error_code() == Some(ErrorCode::ReadOnly) {
            return StoreError::Unavailable(
                "the app's store is read-only (is the data directory mounted read-only?); reads still work".into(),
            );
        }
        if err.sqlite_error_code() == Some(ErrorCode::DiskFull) {
            StoreError::QuotaExceeded(format!(
                "the app's storage quota of {} bytes is full (or the disk is); remove records or ask the operator to raise the quota",
                limits.max_storage_bytes
            ))
        } else {
            StoreError::Backend(err)
        }
    }
}

type StoreResult<T> = std::result::Result<T, StoreError>;

/// Per-app storage limits, set by the operator.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct Limits {
    /// Largest JSON data of one record, in bytes.
    pub max_record_bytes: usize,
    /// Most records one call may read or change.
    pub max_records_per_call: usize,
    /// Total size of the app's database, in bytes (SQLite `max_page_count`).
    pub max_storage_bytes: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_record_bytes: 1 << 20,
            max_records_per_call: 10_000,
            max_storage_bytes: 256 << 20,
        }
    }
}

/// How hard a commit waits for the disk.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Durability {
    /// `synchronous=NORMAL` in WAL mode: a commit survives a process crash;
    /// a power loss may undo the last commits, never corrupt.
    #[default]
    Normal,
    /// `synchronous=FULL`: a commit survives a power loss too.
    Full,
}

/// The record operations a handler can perform, on one store.
pub trait Records {
    /// Store `data` with `associations`; returns the new id.
    fn create(&mut self, data: &str, associations: &[Association]) -> StoreResult<String>;
    /// Replace record `id`'s data; with `upsert`, create it if missing.
    fn update(&mut self, id: &str, data: &str, upsert: bool) -> StoreResult<String>;
    /// Replace the data of every record matching `associations`; with
    /// `upsert` and no match, create one carrying them.
    fn update_by_associations(
        &mut self,
        associations: &[Association],
        data: &str,
        upsert: bool,
    ) -> StoreResult<Vec<String>>;
    /// Remove record `id`.
    fn remove(&mut self, id: &str) -> StoreResult<Option<Record>>;
    /// Remove every record matching `associations`.
    fn remove_by_associations(&mut self, associations: &[Association]) -> StoreResult<Vec<Record>>;
    /// Record `id`.
    fn read(&mut self, id: &str) -> StoreResult<Option<Record>>;
    /// Every record matching `associations`, oldest first.
    fn read_by_associations(&mut self, associations: &[Association]) -> StoreResult<Vec<Record>>;
}

/// One app's SQLite store: a database file and a small pool of connections.
pub struct SqliteStore {
    path: PathBuf,
    limits: Limits,
    durability: Durability,
    busy_timeout: Duration,
    pool: Mutex<Vec<Connection>>,
}

impl std::fmt::Debug for SqliteStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SqliteStore")
            .field("path", &self.path)
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

/// Longest association id accepted.
const MAX_ASSOCIATION_ID: usize = 1024;
/// Most associations on one record or in one query.
const MAX_ASSOCIATIONS: usize = 32;

impl SqliteStore {
    /// Open (creating if needed) the store at `path`.
    pub fn open(
        path: impl Into<PathBuf>,
        limits: Limits,
        durability: Durability,
        busy_timeout: Duration,
    ) -> StoreResult<SqliteStore> {
        let store = SqliteStore {
            path: path.into(),
            limits,
            durability,
            busy_timeout,
            pool: Mutex::new(Vec::new()),
        };
        let conn = store.connect()?;
        store.put_back(conn);
        Ok(store)
    }

    /// Where the database lives.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The limits in force.
    pub fn limits(&self) -> &Limits {
        &self.limits
    }

    fn connect(&self) -> StoreResult<Connection> {
        let (conn, read_only) = open_connection(&self.path)?;
        conn.busy_timeout(self.busy_timeout)?;
        // Keep query plans stable: with STAT4 compiled in, SQLite would
        // otherwise re-prepare a cached statement at every step to re-plan
        // for the bound values, a ~25 us cost per query.
        conn.set_db_config(
            rusqlite::config::DbConfig::SQLITE_DBCONFIG_ENABLE_QPSG,
            true,
        )?;
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
        let mut pool = self.pool.lock().expect("store pool poisoned");
        if pool.len() < 8 {
            pool.push(conn);
        }
    }

    /// A transaction that takes the write lock (`BEGIN IMMEDIATE`) at its
    /// first operation and rolls back unless [`Txn::commit`] is called.
    pub fn transaction(self: &Arc<Self>) -> StoreResult<Txn> {
        Ok(Txn {
            store: self.clone(),
            conn: Some(self.take()?),
            begun: false,
            write: true,
            deadline: None,
        })
    }

    /// A read-only view: each read sees the latest committed data.
    pub fn reader(self: &Arc<Self>) -> StoreResult<Txn> {
        Ok(Txn {
            store: self.clone(),
            conn: Some(self.take()?),
            begun: false,
            write: false,
            deadline: None,
        })
    }

    /// Every record, oldest first (for operators' dumps).
    pub fn all_records(self: &Arc<Self>) -> StoreResult<Vec<Record>> {
        let mut txn = self.reader()?;
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

    /// Number of records and database size in bytes.
    pub fn usage(self: &Arc<Self>) -> StoreResult<(u64, u64)> {
        let mut txn = self.reader()?;
        let conn = txn.conn()?;
        let count =
            conn.query_row("SELECT count(*) FROM records", [], |r| r.get::<_, i64>(0))? as u64;
        let pages = conn.query_row("PRAGMA page_count", [], |r| r.get::<_, i64>(0))? as u64;
        let size = conn.query_row("PRAGMA page_size", [], |r| r.get::<_, i64>(0))? as u64;
        Ok((count, pages * size))
    }
}

/// One unit of work on a [`SqliteStore`].
pub struct Txn {
    store: Arc<SqliteStore>,
    conn: Option<Connection>,
    begun: bool,
    write: bool,
    deadline: Option<std::time::Instant>,
}

impl Txn {
    /// Wait for another writer's lock no later than `deadline` (the call's
    /// own deadline), so a locked database cannot keep a call alive.
    pub fn set_deadline(&mut self, deadline: std::time::Instant) {
        self.deadline = Some(deadline);
    }

    fn conn(&mut self) -> StoreResult<&Connection> {
        let conn = self.conn.as_ref().expect("connection present until drop");
        if !self.write && !self.begun {
            // One read transaction per read-only call: a single snapshot,
            // and one WAL lock round trip instead of one per statement.
            conn.execute_batch("BEGIN")?;
            self.begun = true;
            return Ok(conn);
        }
        if self.write && !self.begun {
            let wait = match self.deadline {
                Some(d) => d
                    .saturating_duration_since(std::time::Instant::now())
                    .min(self.store.busy_timeout),
                None => self.store.busy_timeout,
            };
            conn.busy_timeout(wait)?;
            let begun = conn.execute_batch("BEGIN IMMEDIATE");
            if let Err(e) = &begun
                && e.sqlite_error_code() == Some(ErrorCode::ReadOnly)
            {
                // A read-only data dir: keep serving reads in a plain
                // transaction; writes fail with a clear error.
                conn.execute_batch("BEGIN")?;
                self.begun = true;
                return Ok(conn);
            }
            begun.map_err(|e| {
                if e.sqlite_error_code() == Some(ErrorCode::DatabaseBusy) {
                    StoreError::Busy(format!(
                        "the app's store stayed locked by another writer for {} ms; try again",
                        wait.as_millis()
                    ))
                } else {
                    StoreError::from_sqlite(e, &self.store.limits)
                }
            })?;
            self.begun = true;
        }
        Ok(conn)
    }

    /// Whether the transaction has taken the write lock.
    pub fn is_begun(&self) -> bool {
        self.begun
    }

    /// Make every write of this transaction durable.
    pub fn commit(mut self) -> StoreResult<()> {
        if self.begun {
            let conn = self.conn.as_ref().expect("connection present");
            if let Err(e) = conn.execute_batch("COMMIT") {
                let _ = conn.execute_batch("ROLLBACK");
                self.begun = false;
                return Err(StoreError::from_sqlite(e, &self.store.limits));
            }
            self.begun = false;
        }
        Ok(())
    }

    fn check_data(&self, data: &str) -> StoreResult<()> {
        let max = self.store.limits.max_record_bytes;
        if data.len() > max {
            return Err(StoreError::TooLarge(format!(
                "record data is {} bytes, over the limit of {max} bytes",
                data.len()
            )));
        }
        serde_json::from_str::<serde::de::IgnoredAny>(data)
            .map_err(|e| StoreError::Invalid(format!("record data is not valid JSON: {e}")))?;
        Ok(())
    }

    fn with_associations(&mut self, seq: i64, id: String, data: String) -> StoreResult<Record> {
        let conn = self.conn.as_ref().expect("connection present");
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
        Ok(Record {
            id,
            associations,
            data,
        })
    }

    fn matching(
        &mut self,
        associations: &[Association],
    ) -> StoreResult<Vec<(i64, String, String)>> {
        let mut wanted = normalize(associations)?;
        if wanted.len() > 1 {
            // Lead with the most selective association (a capped count
            // over the index), then check the others per candidate, so a
            // selective query stays an index lookup however common the
            // other associations are.
            let conn = self.conn()?;
            let mut stmt = conn.prepare_cached(
                "SELECT count(*) FROM (SELECT 1 FROM associations WHERE model = ?1 AND key = ?2 LIMIT 32)",
            )?;
            let mut counted = Vec::with_capacity(wanted.len());
            for a in wanted {
                let n: i64 = stmt.query_row(params![a.model.as_str(), a.id], |r| r.get(0))?;
                counted.push((n, a));
            }
            counted.sort_by_key(|(n, _)| *n);
            wanted = counted.into_iter().map(|(_, a)| a).collect();
        }
        let mut sql = String::from(
            "SELECT r.seq, r.id, r.data FROM associations a0 JOIN records r ON r.seq = a0.seq \
             WHERE a0.model = ?1 AND a0.key = ?2",
        );
        for i in 1..wanted.len() {
            sql.push_str(&format!(
                " AND EXISTS (SELECT 1 FROM associations a WHERE a.model = ?{} AND a.key = ?{} AND a.seq = r.seq)",
                2 * i + 1,
                2 * i + 2
            ));
        }
        sql.push_str(&format!(
            " ORDER BY r.seq LIMIT {}",
            self.store.limits.max_records_per_call + 1
        ));
        let args: Vec<&str> = wanted
            .iter()
            .flat_map(|a| [a.model.as_str(), a.id.as_str()])
            .collect();
        let limits = self.store.limits;
        let conn = self.conn()?;
        let mut stmt = conn.prepare_cached(&sql)?;
        let rows = stmt
            .query_map(rusqlite::params_from_iter(args), |r| {
                Ok((r.get(0)?, r.get(1)?, r.get(2)?))
            })?
            .collect::<Result<Vec<_>, _>>()?;
        if rows.len() > limits.max_records_per_call {
            return Err(StoreError::TooLarge(format!(
                "more than {} records match; narrow the associations",
                limits.max_records_per_call
            )));
        }
        Ok(rows)
    }

    fn insert(&mut self, id: &str, data: &str, associations: &[Association]) -> StoreResult<()> {
        let limits = self.store.limits;
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
        run().map_err(|e| StoreError::from_sqlite(e, &limits))
    }

    fn set_data(&mut self, seq: i64, data: &str) -> StoreResult<()> {
        let limits = self.store.limits;
        let conn = self.conn()?;
        conn.prepare_cached("UPDATE records SET data = ?1 WHERE seq = ?2")
            .and_then(|mut s| s.execute(params![data, seq]))
            .map_err(|e| StoreError::from_sqlite(e, &limits))?;
        Ok(())
    }

    fn find(&mut self, id: &str) -> StoreResult<Option<(i64, String)>> {
        let conn = self.conn()?;
        Ok(conn
            .prepare_cached("SELECT seq, data FROM records WHERE id = ?1")?
            .query_row([id], |r| Ok((r.get(0)?, r.get(1)?)))
            .optional()?)
    }
}

impl Drop for Txn {
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

/// Open a database read-write, or read-only where the file system allows
/// no more (a read-only data dir keeps serving reads). Returns whether the
/// connection is read-only.
pub(crate) fn open_connection(path: &Path) -> rusqlite::Result<(Connection, bool)> {
    match Connection::open(path) {
        Ok(conn) => {
            // A writable handle on a read-only mount fails at first use.
            match conn.query_row("PRAGMA schema_version", [], |r| r.get::<_, i64>(0)) {
                Ok(_) => Ok((conn, false)),
                Err(e) if is_read_only(&e) => read_only(path),
                Err(e) => Err(e),
            }
        }
        Err(e) if is_read_only(&e) => read_only(path),
        Err(e) => Err(e),
    }
}

fn read_only(path: &Path) -> rusqlite::Result<(Connection, bool)> {
    let flags =
        rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY | rusqlite::OpenFlags::SQLITE_OPEN_NO_MUTEX;
    // Without a -shm file a WAL database opens read-only only as immutable.
    let uri = format!("file:{}?immutable=1", path.display());
    match Connection::open_with_flags(path, flags) {
        Ok(conn)
            if conn
                .query_row("PRAGMA schema_version", [], |r| r.get::<_, i64>(0))
                .is_ok() =>
        {
            Ok((conn, true))
        }
        _ => Ok((
            Connection::open_with_flags(uri, flags | rusqlite::OpenFlags::SQLITE_OPEN_URI)?,
            true,
        )),
    }
}

fn is_read_only(e: &rusqlite::Error) -> bool {
    matches!(
        e.sqlite_error_code(),
        Some(ErrorCode::ReadOnly | ErrorCode::CannotOpen)
    )
}

/// Dedupe and sort a query's associations; refuse an empty or oversized list.
fn normalize(associations: &[Association]) -> StoreResult<Vec<Association>> {
    if associations.is_empty() {
        return Err(StoreError::Invalid(
            "at least one association is needed to match records".into(),
        ));
    }
    check_associations(associations)?;
    let mut list = associations.to_vec();
    list.sort();
    list.dedup();
    Ok(list)
}

fn check_associations(associations: &[Association]) -> StoreResult<()> {
    if associations.len() > MAX_ASSOCIATIONS {
        return Err(StoreError::TooLarge(format!(
            "{} associations given; at most {MAX_ASSOCIATIONS} are allowed",
            associations.len()
        )));
    }
    if let Some(a) = associations
        .iter()
        .find(|a| a.id.len() > MAX_ASSOCIATION_ID)
    {
        return Err(StoreError::TooLarge(format!(
            "an association id of {} bytes is over the limit of {MAX_ASSOCIATION_ID}",
            a.id.len()
        )));
    }
    Ok(())
}

fn check_id(id: &str) -> StoreResult<()> {
    if id.is_empty() || id.len() > 256 {
        return Err(StoreError::Invalid(format!(
            "a record id must be 1 to 256 bytes, not {}",
            id.len()
        )));
    }
    Ok(())
}

/// A new record id: time-ordered and unique across processes.
pub fn new_record_id() -> String {
    let millis = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .as_millis() as u64;
    let mut h = RandomState::new().build_hasher();
    h.write_u32(std::process::id());
    format!("{millis:012x}{:016x}", h.finish())
}

impl Records for Txn {
    fn create(&mut self, data: &str, associations: &[Association]) -> StoreResult<String> {
        self.check_data(data)?;
        check_associations(associations)?;
        let id = new_record_id();
        self.insert(&id, data, associations)?;
        Ok(id)
    }

    fn update(&mut self, id: &str, data: &str, upsert: bool) -> StoreResult<String> {
        check_id(id)?;
        self.check_data(data)?;
        match self.find(id)? {
            Some((seq, _)) => self.set_data(seq, data)?,
            None if upsert => self.insert(id, data, &[])?,
            None => {
                return Err(StoreError::NotFound(format!(
                    "no record '{id}' to update; pass upsert to create it"
                )));
            }
        }
        Ok(id.to_string())
    }

    fn update_by_associations(
        &mut self,
        associations: &[Association],
        data: &str,
        upsert: bool,
    ) -> StoreResult<Vec<String>> {
        self.check_data(data)?;
        let rows = self.matching(associations)?;
        if rows.is_empty() {
            if upsert {
                return Ok(vec![self.create(data, associations)?]);
            }
            return Ok(Vec::new());
        }
        let mut ids = Vec::with_capacity(rows.len());
        for (seq, id, _) in rows {
            self.set_data(seq, data)?;
            ids.push(id);
        }
        Ok(ids)
    }

    fn remove(&mut self, id: &str) -> StoreResult<Option<Record>> {
        check_id(id)?;
        let Some((seq, data)) = self.find(id)? else {
            return Ok(None);
        };
        let record = self.with_associations(seq, id.to_string(), data)?;
        let limits = self.store.limits;
        self.conn()?
            .prepare_cached("DELETE FROM records WHERE seq = ?1")
            .and_then(|mut s| s.execute([seq]))
            .map_err(|e| StoreError::from_sqlite(e, &limits))?;
        Ok(Some(record))
    }

    fn remove_by_associations(&mut self, associations: &[Association]) -> StoreResult<Vec<Record>> {
        let rows = self.matching(associations)?;
        let mut removed = Vec::with_capacity(rows.len());
        let limits = self.store.limits;
        for (seq, id, data) in rows {
            removed.push(self.with_associations(seq, id, data)?);
            self.conn()?
                .prepare_cached("DELETE FROM records WHERE seq = ?1")
                .and_then(|mut s| s.execute([seq]))
                .map_err(|e| StoreError::from_sqlite(e, &limits))?;
        }
        Ok(removed)
    }

    fn read(&mut self, id: &str) -> StoreResult<Option<Record>> {
        check_id(id)?;
        match self.find(id)? {
            Some((seq, data)) => Ok(Some(self.with_associations(seq, id.to_string(), data)?)),
            None => Ok(None),
        }
    }

    fn read_by_associations(&mut self, associations: &[Association]) -> StoreResult<Vec<Record>> {
        self.matching(associations)?
            .into_iter()
            .map(|(seq, id, data)| self.with_associations(seq, id, data))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn store() -> (tempfile::TempDir, Arc<SqliteStore>) {
        let dir = tempfile::tempdir().unwrap();
        let store = SqliteStore::open(
            dir.path().join("store.db"),
            Limits::default(),
            Durability::Normal,
            Duration::from_secs(5),
        )
        .unwrap();
        (dir, Arc::new(store))
    }

    fn user(id: &str) -> Association {
        Association::new(Model::User, id)
    }
    fn misc(id: &str) -> Association {
        Association::new(Model::Misc, id)
    }

    #[test]
    fn create_read_update_remove() {
        let (_d, store) = store();
        let mut t = store.transaction().unwrap();
        let id = t.create(r#"{"n":1}"#, &[user("alice")]).unwrap();
        let rec = t.read(&id).unwrap().unwrap();
        assert_eq!(rec.data, r#"{"n":1}"#);
        assert_eq!(rec.associations, vec![user("alice")]);
        assert_eq!(t.update(&id, r#"{"n":2}"#, false).unwrap(), id);
        assert_eq!(t.read(&id).unwrap().unwrap().data, r#"{"n":2}"#);
        assert!(matches!(
            t.update("missing", "1", false),
            Err(StoreError::NotFound(_))
        ));
        assert_eq!(t.update("fixed", "1", true).unwrap(), "fixed");
        assert_eq!(t.read("fixed").unwrap().unwrap().data, "1");
        let removed = t.remove(&id).unwrap().unwrap();
        assert_eq!(removed.associations, vec![user("alice")]);
        assert!(t.read(&id).unwrap().is_none());
        assert!(t.remove(&id).unwrap().is_none());
        t.commit().unwrap();
        assert_eq!(store.all_records().unwrap().len(), 1);
    }

    #[test]
    fn association_rule_is_and_ignoring_order_and_duplicates() {
        let (_d, store) = store();
        let mut t = store.transaction().unwrap();
        let both = t.create("1", &[user("a"), misc("k")]).unwrap();
        let only_user = t.create("2", &[user("a")]).unwrap();
        t.create("3", &[misc("k")]).unwrap();
        let ids = |v: Vec<Record>| v.into_iter().map(|r| r.id).collect::<Vec<_>>();
        assert_eq!(
            ids(t.read_by_associations(&[user("a")]).unwrap()),
            vec![both.clone(), only_user]
        );
        assert_eq!(
            ids(t.read_by_associations(&[misc("k"), user("a")]).unwrap()),
            vec![both.clone()]
        );
        assert_eq!(
            ids(t
                .read_by_associations(&[user("a"), misc("k"), user("a")])
                .unwrap()),
            vec![both.clone()]
        );
        assert!(t.read_by_associations(&[user("b")]).unwrap().is_empty());
        assert!(matches!(
            t.read_by_associations(&[]),
            Err(StoreError::Invalid(_))
        ));
        // update uses the same rule as read.
        let updated = t
            .update_by_associations(&[misc("k"), user("a")], "9", false)
            .unwrap();
        assert_eq!(updated, vec![both.clone()]);
        assert_eq!(t.read(&both).unwrap().unwrap().data, "9");
        // and remove too.
        let removed = t.remove_by_associations(&[user("a"), misc("k")]).unwrap();
        assert_eq!(ids(removed), vec![both]);
        assert_eq!(t.read_by_associations(&[user("a")]).unwrap().len(), 1);
    }

    #[test]
    fn update_by_associations_upserts_only_when_nothing_matches() {
        let (_d, store) = store();
        let mut t = store.transaction().unwrap();
        assert!(
            t.update_by_associations(&[user("x")], "1", false)
                .unwrap()
                .is_empty()
        );
        let created = t.update_by_associations(&[user("x")], "1", true).unwrap();
        assert_eq!(created.len(), 1);
        let again = t.update_by_associations(&[user("x")], "2", true).unwrap();
        assert_eq!(again, created);
        let recs = t.read_by_associations(&[user("x")]).unwrap();
        assert_eq!(recs.len(), 1);
        assert_eq!(recs[0].data, "2");
        assert_eq!(recs[0].associations, vec![user("x")]);
    }

    #[test]
    fn rejects_bad_data() {
        let (_d, store) = store();
        let mut t = store.transaction().unwrap();
        assert!(matches!(
            t.create("{not json", &[]),
            Err(StoreError::Invalid(_))
        ));
        let big = format!("\"{}\"", "x".repeat(Limits::default().max_record_bytes));
        assert!(matches!(t.create(&big, &[]), Err(StoreError::TooLarge(_))));
        let long = "y".repeat(MAX_ASSOCIATION_ID + 1);
        assert!(matches!(
            t.create("1", &[misc(&long)]),
            Err(StoreError::TooLarge(_))
        ));
    }

    #[test]
    fn rollback_on_drop_and_commit_persists() {
        let (_d, store) = store();
        {
            let mut t = store.transaction().unwrap();
            t.create("1", &[misc("gone")]).unwrap();
            // dropped without commit
        }
        let mut t = store.transaction().unwrap();
        assert!(t.read_by_associations(&[misc("gone")]).unwrap().is_empty());
        t.create("2", &[misc("kept")]).unwrap();
        t.commit().unwrap();
        let mut r = store.reader().unwrap();
        assert_eq!(r.read_by_associations(&[misc("kept")]).unwrap().len(), 1);
    }

    #[test]
    fn quota_is_enforced_by_sqlite() {
        let dir = tempfile::tempdir().unwrap();
        let limits = Limits {
            max_storage_bytes: 256 * 1024,
            ..Limits::default()
        };
        let store = Arc::new(
            SqliteStore::open(
                dir.path().join("s.db"),
                limits,
                Durability::Normal,
                Duration::from_secs(1),
            )
            .unwrap(),
        );
        let mut t = store.transaction().unwrap();
        let chunk = format!("\"{}\"", "z".repeat(16 * 1024));
        let err = (0..100)
            .find_map(|_| t.create(&chunk, &[]).err())
            .expect("quota hit");
        assert!(matches!(err, StoreError::QuotaExceeded(_)), "{err}");
    }

    #[test]
    fn matches_an_in_memory_model() {
        use proptest::prelude::*;
        #[derive(Debug, Clone)]
        enum Op {
            Create(u8, Vec<Association>),
            Update(usize, u8, bool),
            UpdateBy(Vec<Association>, u8, bool),
            Remove(usize),
            RemoveBy(Vec<Association>),
        }
        let assoc = prop_oneof![
            (0..3u8).prop_map(|i| user(&format!("u{i}"))),
            (0..3u8).prop_map(|i| misc(&format!("m{i}"))),
        ];
        let assocs = proptest::collection::vec(assoc, 1..3);
        let op = prop_oneof![
            (any::<u8>(), assocs.clone()).prop_map(|(d, a)| Op::Create(d, a)),
            (0..8usize, any::<u8>(), any::<bool>()).prop_map(|(i, d, u)| Op::Update(i, d, u)),
            (assocs.clone(), any::<u8>(), any::<bool>())
                .prop_map(|(a, d, u)| Op::UpdateBy(a, d, u)),
            (0..8usize).prop_map(Op::Remove),
            assocs.clone().prop_map(Op::RemoveBy),
        ];
        let matches =
            |have: &[Association], want: &[Association]| want.iter().all(|w| have.contains(w));
        proptest!(ProptestConfig::with_cases(48), |(ops in proptest::collection::vec(op, 1..30), probe in assocs)| {
            let (_d, store) = store();
            let mut t = store.transaction().unwrap();
            // The model: (id, data, associations) in creation order.
            let mut model: Vec<(String, String, Vec<Association>)> = Vec::new();
            let mut ids: Vec<String> = Vec::new();
            for op in ops {
                match op {
                    Op::Create(d, a) => {
                        let id = t.create(&d.to_string(), &a).unwrap();
                        ids.push(id.clone());
                        model.push((id, d.to_string(), a));
                    }
                    Op::Update(i, d, upsert) => {
                        let id = ids.get(i).cloned().unwrap_or_else(|| format!("k{i}"));
                        let res = t.update(&id, &d.to_string(), upsert);
                        match model.iter_mut().find(|r| r.0 == id) {
                            Some(r) => { r.1 = d.to_string(); prop_assert!(res.is_ok()); }
                            None if upsert => { prop_assert!(res.is_ok()); model.push((id, d.to_string(), vec![])); }
                            None => prop_assert!(matches!(res, Err(StoreError::NotFound(_)))),
                        }
                    }
                    Op::UpdateBy(a, d, upsert) => {
                        let got = t.update_by_associations(&a, &d.to_string(), upsert).unwrap();
                        let want: Vec<String> = model.iter_mut().filter(|r| matches(&r.2, &a)).map(|r| { r.1 = d.to_string(); r.0.clone() }).collect();
                        if want.is_empty() && upsert {
                            prop_assert_eq!(got.len(), 1);
                            ids.push(got[0].clone());
                            model.push((got[0].clone(), d.to_string(), a));
                        } else {
                            prop_assert_eq!(got, want);
                        }
                    }
                    Op::Remove(i) => {
                        let id = ids.get(i).cloned().unwrap_or_default();
                        if id.is_empty() { continue; }
                        let got = t.remove(&id).unwrap().map(|r| r.id);
                        let pos = model.iter().position(|r| r.0 == id);
                        prop_assert_eq!(got, pos.map(|p| model.remove(p).0));
                    }
                    Op::RemoveBy(a) => {
                        let got: Vec<String> = t.remove_by_associations(&a).unwrap().into_iter().map(|r| r.id).collect();
                        let want: Vec<String> = model.iter().filter(|r| matches(&r.2, &a)).map(|r| r.0.clone()).collect();
                        model.retain(|r| !matches(&r.2, &a));
                        prop_assert_eq!(got, want);
                    }
                }
                let got: Vec<(String, String)> = t.read_by_associations(&probe).unwrap().into_iter().map(|r| (r.id, r.data)).collect();
                let want: Vec<(String, String)> = model.iter().filter(|r| matches(&r.2, &probe)).map(|r| (r.0.clone(), r.1.clone())).collect();
                prop_assert_eq!(got, want);
            }
        });
    }
}
