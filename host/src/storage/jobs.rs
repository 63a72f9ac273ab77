//! Scheduled jobs, kept in the app's own store: scheduling commits with
//! the handler that asked for it, and the jobs go with the app on
//! uninstall. Runners claim due jobs with a lease and a fence token; a
//! run completes the job (deletes it, or advances a recurring one) inside
//! its own handler transaction only if the fence still matches, so a
//! runner that lost its lease (paused, slow, killed) commits nothing.

use serde::{Deserialize, Serialize};

/// A job to schedule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewJob {
    /// Its id: the same id replaces the job.
    pub id: String,
    /// The processor (declared in the manifest) that runs it.
    pub processor: String,
    /// JSON data handed to the processor.
    pub data: String,
    /// When it is first due (ms since the Unix epoch).
    pub due: u64,
    /// For a recurring job, its interval...
    pub every_ms: Option<u64>,
    /// ...or its cron schedule (UTC; `sec min hour day month weekday`, or
    /// five fields without seconds).
    pub cron: Option<String>,
}

/// A job a runner claimed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClaimedJob {
    /// Its id.
    pub id: String,
    /// Its processor.
    pub processor: String,
    /// Its JSON data.
    pub data: String,
    /// The fence token of this claim.
    pub fence: i64,
    /// When it was due.
    pub due: u64,
    /// Failed runs so far.
    pub attempts: u32,
}

/// A job as operators see it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct JobRow {
    /// Its id.
    pub id: String,
    /// Its processor.
    pub processor: String,
    /// Its JSON data.
    pub data: String,
    /// When it is due next.
    pub due: u64,
    /// Interval of a recurring job.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub every_ms: Option<u64>,
    /// Cron schedule of a recurring job.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cron: Option<String>,
    /// Failed runs of this occurrence.
    pub attempts: u32,
    /// Who holds its lease, while one does.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub lease_owner: Option<String>,
    /// Until when.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub lease_until: Option<u64>,
    /// The last failure.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_error: Option<String>,
    /// Dead-lettered: it kept failing; it waits for `retry`.
    pub dead: bool,
}

/// An app's jobs at a glance, for `info`: what waits, and how late the
/// committed runs started (over every process).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct JobStats {
    /// Jobs scheduled and not dead.
    pub pending: u64,
    /// Dead-lettered jobs.
    pub dead: u64,
    /// Committed runs.
    pub runs: u64,
    /// Their mean lag from due to start, in ms.
    pub mean_lag_ms: u64,
    /// Their longest lag, in ms.
    pub max_lag_ms: u64,
}

/// What an operator does to a job.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JobOp {
    /// Make it due now.
    RunNow,
    /// Bring a dead job back, due now, attempts reset.
    Retry,
    /// Remove it.
    Cancel,
}

/// How failed runs are retried.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Failed runs before the job is dead-lettered.
    pub max_attempts: u32,
    /// The first backoff; it doubles per attempt.
    pub backoff_ms: u64,
    /// The longest backoff.
    pub max_backoff_ms: u64,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            max_attempts: 5,
            backoff_ms: 1000,
            max_backoff_ms: 300_000,
        }
    }
}

impl RetryPolicy {
    /// The wait after the `attempts`-th failure.
    pub fn backoff(&self, attempts: u32) -> u64 {
        self.backoff_ms
            .saturating_mul(1u64 << attempts.saturating_sub(1).min(20))
            .min(self.max_backoff_ms)
    }
}

/// The next due time of a recurring job after `now`: missed occurrences
/// collapse into the one run that just happened.
pub fn next_due(due: u64, every_ms: u64, now: u64) -> u64 {
    let every = every_ms.max(1);
    if due > now {
        return due + every;
    }
    due + ((now - due) / every + 1) * every
}

/// A cron schedule, parsed; five fields get a leading `0` seconds field.
pub fn parse_cron(expr: &str) -> Result<cron::Schedule, String> {
    use std::str::FromStr;
    if expr.len() > 200 {
        return Err("a cron expression is at most 200 bytes".into());
    }
    let fields = expr.split_whitespace().count();
    let full = if fields == 5 {
        format!("0 {expr}")
    } else {
        expr.to_string()
    };
    cron::Schedule::from_str(&full).map_err(|e| {
        format!("'{expr}' is not a cron schedule (sec min hour day month weekday): {e}")
    })
}

/// The first time `expr` fires after `now` (ms since the Unix epoch):
/// missed firings collapse into the run that just happened.
pub fn next_cron(expr: &str, now: u64) -> Result<u64, String> {
    let schedule = parse_cron(expr)?;
    let now = chrono::DateTime::from_timestamp_millis(now as i64)
        .ok_or_else(|| "the clock is out of range".to_string())?;
    schedule
        .after(&now)
        .next()
        .map(|t| t.timestamp_millis() as u64)
        .ok_or_else(|| format!("'{expr}' never fires again"))
}

pub(crate) const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS jobs (
    id          TEXT PRIMARY KEY,
    processor   TEXT NOT NULL,
    data        TEXT NOT NULL,
    due         INTEGER NOT NULL,
    every_ms    INTEGER,
    cron        TEXT,
    attempts    INTEGER NOT NULL DEFAULT 0,
    fence       INTEGER NOT NULL DEFAULT 0,
    lease_owner TEXT,
    lease_until INTEGER,
    last_error  TEXT,
    dead        INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS jobs_due ON jobs(dead, due);
CREATE TABLE IF NOT EXISTS job_marks (key TEXT PRIMARY KEY);
CREATE TABLE IF NOT EXISTS job_stats (
    k            INTEGER PRIMARY KEY CHECK (k = 0),
    runs         INTEGER NOT NULL,
    lag_total_ms INTEGER NOT NULL,
    lag_max_ms   INTEGER NOT NULL
);
";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn missed_occurrences_collapse_into_one() {
        assert_eq!(next_due(1000, 100, 999), 1100);
        assert_eq!(next_due(1000, 100, 1000), 1100);
        assert_eq!(next_due(1000, 100, 1550), 1600, "five missed, one run");
        let p = RetryPolicy::default();
        assert_eq!(
            (p.backoff(1), p.backoff(2), p.backoff(3)),
            (1000, 2000, 4000)
        );
        assert_eq!(p.backoff(30), 300_000);
    }

    #[test]
    fn cron_schedules_with_and_without_seconds() {
        // 2023-11-14T22:13:20Z
        let now = 1_700_000_000_000;
        assert_eq!(next_cron("0 */5 * * * *", now), Ok(1_700_000_100_000));
        assert_eq!(next_cron("*/5 * * * *", now), Ok(1_700_000_100_000));
        assert_eq!(next_cron("* * * * * *", now), Ok(now + 1000));
        assert!(
            next_cron("every tuesday", now)
                .unwrap_err()
                .contains("not a cron schedule")
        );
    }
}
