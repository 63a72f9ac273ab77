//! Storage as backends: a [`Backend`] opens an app's [`Store`]; a store
//! begins a [`Txn`], the unit of work of one call; a transaction performs
//! the [`Records`] operations. The host depends on these traits only, so a
//! server database plugs in beside the embedded SQLite backend without
//! touching dispatch.
//!
//! The rules every backend follows live here too: record and association
//! limits, JSON validation, and the one association rule (a record matches
//! a list when it carries all of them; order and duplicates ignored).
//!
//! - [`sqlite`]: one SQLite file per app, the embedded default.
//! - [`postgres`]: shared tables in one PostgreSQL database, keyed by
//!   app id, for hosts on several machines.
//! - [`memory`]: records in process memory, for unit tests.

use std::collections::hash_map::RandomState;
use std::hash::{BuildHasher, Hasher};
use std::sync::Arc;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};

#[cfg(test)]
pub(crate) mod memory;
pub(crate) mod postgres;
pub(crate) mod sqlite;

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

    pub(crate) fn parse(s: &str) -> Option<Model> {
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
    /// An earlier error ended the handler's transaction: nothing of the
    /// handler can be kept, so every later store call fails too.
    #[error("{0}")]
    Aborted(String),
    /// The database failed.
    #[error("database error: {0}")]
    Backend(String),
}

/// A store operation's result.
pub type StoreResult<T> = std::result::Result<T, StoreError>;

/// Per-app storage limits, set by the operator. In `config.json` every
/// field is optional (a missing one keeps its default).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields, rename_all = "kebab-case")]
pub struct Limits {
    /// Largest JSON data of one record, in bytes.
    pub max_record_bytes: usize,
    /// Most records one call may read, and most it may create, update or
    /// remove (each counted).
    pub max_records_per_call: usize,
    /// Total size of the app's database, in bytes (SQLite `max_page_count`).
    pub max_storage_bytes: u64,
    /// Most bytes of record data one host call may return (a read or a
    /// remove of many records): what one call can make the host hold.
    pub max_result_bytes: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_record_bytes: 1 << 20,
            max_records_per_call: 10_000,
            max_storage_bytes: 256 << 20,
            max_result_bytes: 8 << 20,
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

/// What a transaction may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// An event handler: reads and writes, one atomic unit, serialised
    /// with every other writer of the store (in any process).
    Write,
    /// A read-only call: one consistent snapshot, no writes.
    Read,
}

/// The record operations of one transaction.
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

/// One call's unit of work on a store. It touches the backend only at its
/// first operation (a call that never reads or writes costs nothing) and
/// rolls back when dropped without [`Txn::commit`].
pub trait Txn: Records + Send {
    /// Make every write of this transaction durable.
    fn commit(self: Box<Self>) -> StoreResult<()>;
    /// Schedule (or, with the same id, replace) a job, in this transaction.
    fn schedule_job(&mut self, _job: &NewJob) -> StoreResult<()> {
        Err(no_jobs())
    }
    /// Cancel job `id`; whether it existed.
    fn cancel_job(&mut self, _id: &str) -> StoreResult<bool> {
        Err(no_jobs())
    }
    /// Cancel every job; how many.
    fn cancel_all_jobs(&mut self) -> StoreResult<u64> {
        Err(no_jobs())
    }
    /// Whether claimed job `id` still carries `fence`, read in this
    /// transaction (a write transaction: the answer holds until it ends).
    fn job_fence_holds(&mut self, _id: &str, _fence: i64) -> StoreResult<bool> {
        Err(no_jobs())
    }
    /// Complete claimed job `id` in this transaction if `fence` still holds:
    /// delete it, or advance a recurring one past `now`, and count the run
    /// (started `lag_ms` after it was due). False (and nothing changed)
    /// when another runner took the job meanwhile.
    fn finish_job(&mut self, _id: &str, _fence: i64, _now: u64, _lag_ms: u64) -> StoreResult<bool> {
        Err(no_jobs())
    }
    /// Record delivery mark `key` in this transaction, so it commits with
    /// the handler's writes or not at all: false (nothing changed) when it
    /// was recorded before. Marks in `expired` (a key range) are dropped.
    fn mark_once(&mut self, _key: &str, _expired: (&str, &str)) -> StoreResult<bool> {
        Err(no_jobs())
    }
}

fn no_jobs() -> StoreError {
    StoreError::Unavailable("this storage backend does not keep jobs".into())
}

/// One app's store.
pub trait Store: Send + Sync {
    /// Begin a transaction; waiting for another writer ends at `deadline`
    /// (the call's own), so a locked store cannot keep a call alive.
    fn begin(&self, mode: Mode, deadline: Instant) -> Box<dyn Txn>;
    /// Every record, oldest first (operators' dumps).
    fn all_records(&self) -> StoreResult<Vec<Record>>;
    /// Number of records and bytes used.
    fn usage(&self) -> StoreResult<(u64, u64)>;
    /// Claim up to `max` due jobs for `owner` until `now + lease_ms`, each
    /// with a new fence token.
    fn claim_jobs(
        &self,
        _owner: &str,
        _now: u64,
        _lease_ms: u64,
        _max: usize,
    ) -> StoreResult<Vec<ClaimedJob>> {
        Ok(Vec::new())
    }
    /// Record a failed run of claimed job `id` if `fence` still holds: back
    /// off, or dead-letter it after the policy's attempts.
    fn fail_job(
        &self,
        _id: &str,
        _fence: i64,
        _error: &str,
        _now: u64,
        _policy: RetryPolicy,
    ) -> StoreResult<bool> {
        Err(no_jobs())
    }
    /// Schedule `job` once per `mark` (a startup job per package version):
    /// false when `mark` was seen before, whether or not the job still
    /// exists, so a restart never schedules it again.
    fn ensure_job(&self, _job: &NewJob, _mark: &str) -> StoreResult<bool> {
        Err(no_jobs())
    }
    /// Whether delivery mark `key` was committed (see [`Txn::mark_once`]).
    fn marked(&self, _key: &str) -> StoreResult<bool> {
        Ok(false)
    }
    /// Every job, by due time.
    fn jobs(&self) -> StoreResult<Vec<JobRow>> {
        Ok(Vec::new())
    }
    /// Counts and lag of the app's jobs.
    fn job_stats(&self) -> StoreResult<JobStats> {
        Ok(JobStats::default())
    }
    /// An operator's action on job `id`; whether the job existed.
    fn job_op(&self, _id: &str, _op: JobOp, _now: u64) -> StoreResult<bool> {
        Err(no_jobs())
    }
}

/// Opens app stores: the one place that maps an app to where its data
/// lives, so the isolation boundary is checked once, here.
pub trait Backend: Send + Sync {
    /// The store of app `app`, at its home (installed apps).
    fn open(&self, app: &str) -> StoreResult<Arc<dyn Store>>;
    /// The store of app `app` while it is being installed: its data lives
    /// in `staging` until the lifecycle manager moves that directory into
    /// place (backends that keep no files ignore it).
    fn open_staged(&self, app: &str, staging: &std::path::Path) -> StoreResult<Arc<dyn Store>>;
    /// Forget what a staged install wrote, when it does not commit
    /// (backends whose staged data lives in `staging` have nothing to do).
    fn discard_staged(&self, _app: &str, _staging: &std::path::Path) {}
}

/// Longest association id accepted.
pub(crate) const MAX_ASSOCIATION_ID: usize = 1024;
/// Most associations on one record or in one query.
pub(crate) const MAX_ASSOCIATIONS: usize = 32;

/// Check one record's data: size, then JSON.
pub(crate) fn check_data(data: &str, limits: &Limits) -> StoreResult<()> {
    let max = limits.max_record_bytes;
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

/// Dedupe and sort a query's associations; refuse an empty or oversized list.
pub(crate) fn normalize(associations: &[Association]) -> StoreResult<Vec<Association>> {
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

/// Refuse too many associations or an oversized id.
pub(crate) fn check_associations(associations: &[Association]) -> StoreResult<()> {
    if associations.len() > MAX_ASSOCIATIONS {
        return Err(StoreError::TooLarge(format!(
            "{} associations given; at most {MAX_ASSOCIATIONS} are allowed",
            associations.len()
        )));
    }
    if associations.iter().any(|a| a.id.contains('\0')) {
        return Err(StoreError::Invalid(
            "an association id may not contain a NUL character".into(),
        ));
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

/// Refuse an empty or oversized record id.
pub(crate) fn check_id(id: &str) -> StoreResult<()> {
    if id.is_empty() || id.len() > 256 {
        return Err(StoreError::Invalid(format!(
            "a record id must be 1 to 256 bytes, not {}",
            id.len()
        )));
    }
    if id.contains('\0') {
        return Err(StoreError::Invalid(
            "a record id may not contain a NUL character".into(),
        ));
    }
    Ok(())
}

/// What one transaction has done so far, against the per-call limits.
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct Budget {
    writes: usize,
}

impl Budget {
    /// Count `n` more records written (created, updated or removed).
    pub(crate) fn write(&mut self, n: usize, limits: &Limits) -> StoreResult<()> {
        self.writes += n;
        if self.writes > limits.max_records_per_call {
            return Err(StoreError::TooLarge(format!(
                "this call would write more than {} records, the limit per call; split the work over several events",
                limits.max_records_per_call
            )));
        }
        Ok(())
    }
}

/// Refuse a result holding more record data than one host call may return.
pub(crate) fn check_result_bytes(bytes: usize, limits: &Limits) -> StoreResult<()> {
    if bytes > limits.max_result_bytes {
        return Err(StoreError::TooLarge(format!(
            "the matching records hold more than {} bytes, the limit one call may return; narrow the associations",
            limits.max_result_bytes
        )));
    }
    Ok(())
}

/// Refuse a match of more records than one call may touch.
pub(crate) fn check_match_count(n: usize, limits: &Limits) -> StoreResult<()> {
    if n > limits.max_records_per_call {
        return Err(StoreError::TooLarge(format!(
            "more than {} records match; narrow the associations",
            limits.max_records_per_call
        )));
    }
    Ok(())
}

/// The error for an update of a missing record without upsert.
pub(crate) fn missing_for_update(id: &str) -> StoreError {
    StoreError::NotFound(format!(
        "no record '{id}' to update; pass upsert to create it"
    ))
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

#[cfg(test)]
pub(crate) mod contract_tests;
pub(crate) mod jobs;

pub use jobs::{
    ClaimedJob, JobOp, JobRow, JobStats, NewJob, RetryPolicy, next_cron, next_due, parse_cron,
};
