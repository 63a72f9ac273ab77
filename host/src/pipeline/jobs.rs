//! Running due jobs. For each enabled app with processors (disabled apps'
//! jobs wait; an uninstalled app's store, jobs included, is gone): make
//! sure its startup jobs exist (once per loaded version: a restart never
//! adds another), claim due jobs with a lease and a new fence token, and
//! run each as a handler whose transaction completes the job (deletes it,
//! or advances a recurring one, collapsing missed runs) only if the fence
//! still holds. A runner that lost its lease commits nothing; a failed run
//! backs off and, after the retry policy's attempts, is dead-lettered; a
//! job whose processor the app no longer declares is dead-lettered saying
//! so.

use std::collections::HashSet;
use std::sync::Mutex;

use serde::{Deserialize, Serialize};

use crate::apps::{AppSet, LoadedApp};
use crate::call::CallEngine;
use crate::exports::{Export, RunJob};
use crate::policy::EventClass;
use crate::registry::now_ms;
use crate::report::{AppReport, Outcome};
use crate::storage::{ClaimedJob, NewJob, RetryPolicy};

/// How one job run ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum JobOutcome {
    /// Committed: the job is done (or advanced).
    Done,
    /// Failed; it will be retried after a backoff.
    Retrying,
    /// Failed for the last time, or its processor is gone: dead-lettered.
    Dead,
    /// Another runner took it meanwhile; nothing of this run was kept.
    LostLease,
}

/// One job run.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct JobRun {
    /// The app.
    pub app: String,
    /// The job id.
    pub job: String,
    /// Its processor.
    pub processor: String,
    /// How it ended.
    pub outcome: JobOutcome,
    /// From due to started, in ms.
    pub lag_ms: u64,
    /// The handler's report (absent when it did not run).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub report: Option<AppReport>,
}

/// What the runner remembers between passes.
#[derive(Default)]
pub(crate) struct Runner {
    /// Apps (id and package hash) whose startup jobs are ensured.
    started: Mutex<HashSet<(String, String)>>,
}

/// The marker of a run whose fence no longer held.
const LOST: &str = "another runner took the job";

impl Runner {
    /// One pass: run up to `max` due jobs per app.
    pub(crate) fn pass(
        &self,
        calls: &CallEngine,
        set: &AppSet,
        owner: &str,
        max: usize,
    ) -> Vec<JobRun> {
        let mut runs = Vec::new();
        for app in set.handling(Export::RunJob) {
            self.ensure_startup(calls, app);
            // A claim outlasts the run's deadline by the grace, so a
            // healthy run never loses it; jobs are claimed one at a time,
            // so none waits out its lease behind another.
            let lease = calls.config.deadline(app.id(), EventClass::Job) + calls.config.job_lease;
            for _ in 0..max {
                let claimed =
                    match app
                        .store
                        .claim_jobs(owner, now_ms(), lease.as_millis() as u64, 1)
                    {
                        Ok(c) => c,
                        Err(e) => {
                            calls.journal.host(
                                app.id(),
                                "error",
                                format!("claiming due jobs: {e}"),
                            );
                            break;
                        }
                    };
                let Some(job) = claimed.into_iter().next() else {
                    break;
                };
                runs.push(run(calls, app, job));
            }
        }
        runs
    }

    fn ensure_startup(&self, calls: &CallEngine, app: &LoadedApp) {
        // The install order too: a reinstall of the same package is a new
        // store, whose startup jobs are new.
        let key = (
            app.id().to_string(),
            format!("{}:{}", app.sha256, app.order),
        );
        if self
            .started
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .contains(&key)
        {
            return;
        }
        let now = now_ms();
        for p in &app.manifest.processors {
            let Some(s) = &p.startup else { continue };
            let first = match (&s.cron, s.delay_ms) {
                (Some(expr), 0) => crate::storage::next_cron(expr, now).unwrap_or(now),
                _ => now + s.delay_ms,
            };
            let job = NewJob {
                id: format!("startup:{}", p.id),
                processor: p.id.clone(),
                data: s.data.to_string(),
                due: first,
                every_ms: s.every_ms,
                cron: s.cron.clone(),
            };
            let mark = format!("{}:{}", job.id, app.sha256);
            if let Err(e) = app.store.ensure_job(&job, &mark) {
                calls.journal.host(
                    app.id(),
                    "error",
                    format!("scheduling startup job {}: {e}", job.id),
                );
                return;
            }
        }
        self.started
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(key);
    }
}

fn run(calls: &CallEngine, app: &LoadedApp, job: ClaimedJob) -> JobRun {
    let started = now_ms();
    let record = |outcome, report| JobRun {
        app: app.id().to_string(),
        job: job.id.clone(),
        processor: job.processor.clone(),
        outcome,
        lag_ms: started.saturating_sub(job.due),
        report,
    };
    let policy = calls.config.job_retry;
    if !app
        .manifest
        .processors
        .iter()
        .any(|p| p.id == job.processor)
    {
        let why = format!(
            "app '{}' {} no longer declares processor '{}'; the job is kept, dead, for `hangar jobs retry` after an update that declares it, or `cancel`",
            app.id(),
            app.manifest.version,
            job.processor
        );
        let last = RetryPolicy {
            max_attempts: 1,
            ..policy
        };
        let _ = app.store.fail_job(&job.id, job.fence, &why, now_ms(), last);
        calls.journal.host(app.id(), "error", why);
        return record(JobOutcome::Dead, None);
    }
    let claim = Some((job.id.clone(), job.fence));
    let lost = std::cell::Cell::new(false);
    let out = calls.handler_then(app, &RunJob(&job), claim, |state| {
        // A run that rescheduled or cancelled its own job checked its claim
        // then, in this transaction: the new state stands.
        if state.own_job_touched {
            return Ok(());
        }
        let lag = started.saturating_sub(job.due);
        match state.txn.finish_job(&job.id, job.fence, now_ms(), lag) {
            Ok(true) => Ok(()),
            Ok(false) => {
                lost.set(true);
                Err(format!(
                    "{LOST}, or replaced or cancelled it, while this run went on (its lease ran out)"
                ))
            }
            Err(e) => Err(format!("completing the job: {e}")),
        }
    });
    if out.report.outcome != Outcome::Error {
        return record(JobOutcome::Done, Some(out.report));
    }
    if lost.get() {
        return record(JobOutcome::LostLease, Some(out.report));
    }
    // Any other failure, including a run that found it no longer held its
    // job: `fail_job` checks the fence too, and a stale one changes nothing.
    let error = out.report.error.clone().unwrap_or_default();
    let dead = job.attempts + 1 >= policy.max_attempts;
    match app
        .store
        .fail_job(&job.id, job.fence, &error, now_ms(), policy)
    {
        Ok(true) if dead => {
            calls.journal.host(
                app.id(),
                "error",
                format!(
                    "job {} ({}) failed {} times and is dead-lettered; `hangar jobs retry {} {}` runs it again",
                    job.id, job.processor, policy.max_attempts, app.id(), job.id
                ),
            );
            record(JobOutcome::Dead, Some(out.report))
        }
        Ok(true) => record(JobOutcome::Retrying, Some(out.report)),
        Ok(false) => record(JobOutcome::LostLease, Some(out.report)),
        Err(e) => {
            calls.journal.host(
                app.id(),
                "error",
                format!("recording job {}'s failure: {e}", job.id),
            );
            record(JobOutcome::Retrying, Some(out.report))
        }
    }
}
