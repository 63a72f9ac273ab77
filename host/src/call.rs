//! The call engine: one export of one app in a fresh instance, in three
//! short steps. *Prepare* begins the store transaction and builds the
//! sandbox; *invoke* instantiates and calls; *settle* names a failure,
//! commits (handlers) or rolls back, delivers effects, and records logs,
//! counters and faults. Two entry points, typed by the export:
//! [`CallEngine::handler`] hands the call a writer and modifier,
//! [`CallEngine::read_only`] cannot.

use std::sync::Arc;
use std::time::{Duration, Instant};

use wasmtime::Store;

use crate::apps::LoadedApp;
use crate::bindings::{Accessors, Instance, Returned};
use crate::bridge::{Bridge, Effect};
use crate::config::HostConfig;
use crate::engine::{EPOCH_TICK, Runtime};
use crate::exports::{Export, HandlerCall, ReadOnlyCall};
use crate::journal::Journal;
use crate::policy::{MAX_APP_TEXT, bounded, is_fault};
use crate::registry::{Registry, Status};
use crate::report::{AppReport, ErrorKind, FailureKind, Outcome};
use crate::sandbox::{CallLimits, CallState, Capture};
use crate::stats::Stats;
use crate::storage::Mode;

/// The result of one call of one app.
pub(crate) struct CallOutcome<T> {
    pub(crate) value: Option<T>,
    pub(crate) report: AppReport,
    pub(crate) effects: Vec<Effect>,
}

/// Runs calls; shared by every pipeline and the lifecycle manager.
pub(crate) struct CallEngine {
    pub(crate) runtime: Arc<Runtime>,
    pub(crate) config: Arc<HostConfig>,
    pub(crate) bridge: Arc<dyn Bridge>,
    pub(crate) journal: Arc<Journal>,
    pub(crate) registry: Arc<Registry>,
    pub(crate) stats: Arc<Stats>,
    /// Per app: held from a handler's commit through the delivery of its
    /// effects, so this process delivers them in commit order (the last
    /// edit of a message is the last one committed).
    pub(crate) deliveries:
        std::sync::Mutex<std::collections::HashMap<String, Arc<std::sync::Mutex<()>>>>,
}

/// How long a delivery's mark is kept: a chat that repeats a delivery
/// later than this (a homeserver retrying after a week's outage) has it
/// handled again.
pub(crate) const ONCE_RETENTION_MS: u64 = 7 * 24 * 3600 * 1000;

/// A delivery the chat may repeat, such as a Matrix event that a
/// homeserver sends again after a crash. Its mark sorts by time, so old
/// marks are dropped by range.
#[derive(Debug, Clone)]
pub(crate) struct Once {
    pub(crate) key: String,
}

impl Once {
    /// The mark of delivery `id` of the chat, made at `at_ms`.
    pub(crate) fn new(id: &str, at_ms: u64) -> Once {
        Once {
            key: format!("once:{at_ms:013}:{id}"),
        }
    }

    /// The range of marks old enough to drop.
    fn expired(&self) -> (&'static str, String) {
        let cutoff = crate::registry::now_ms().saturating_sub(ONCE_RETENTION_MS);
        ("once:", format!("once:{cutoff:013}"))
    }
}

/// A call ready to run.
struct Prepared {
    store: Store<CallState>,
    start: Instant,
    deadline: Duration,
    stderr: Capture,
}

impl CallEngine {
    /// Call an event handler: writer and modifier, one transaction that
    /// commits only if it returns Ok; its effects are delivered after.
    pub(crate) fn handler<C: HandlerCall>(
        &self,
        app: &LoadedApp,
        call: &C,
    ) -> CallOutcome<C::Output> {
        self.handler_checked(app, call, |_| Ok(()))
    }

    /// [`CallEngine::handler`], with `check` judging what the handler
    /// returned before anything commits: a refused value fails the call
    /// (app error), so none of its writes or effects are kept.
    pub(crate) fn handler_checked<C: HandlerCall>(
        &self,
        app: &LoadedApp,
        call: &C,
        check: impl FnOnce(&C::Output) -> Result<(), String>,
    ) -> CallOutcome<C::Output> {
        let mut prepared = self.prepare(app, call.export(), Mode::Write);
        let result = invoke(&mut prepared, app, true, |i, s| {
            call.invoke(i, s, Accessors::new())
        });
        self.settle(app, call.export(), prepared, result, check)
    }

    /// [`CallEngine::handler_checked`] for an interaction or a command:
    /// the call may open one view with `trigger`.
    pub(crate) fn handler_triggered<C: HandlerCall>(
        &self,
        app: &LoadedApp,
        call: &C,
        trigger: Option<crate::interact::Trigger>,
        check: impl FnOnce(&C::Output) -> Result<(), String>,
    ) -> CallOutcome<C::Output> {
        let mut prepared = self.prepare(app, call.export(), Mode::Write);
        prepared.store.data_mut().trigger = trigger;
        let result = invoke(&mut prepared, app, true, |i, s| {
            call.invoke(i, s, Accessors::new())
        });
        self.settle(app, call.export(), prepared, result, check)
    }

    /// [`CallEngine::handler_triggered`] for a delivery the chat may
    /// repeat: `None` (nothing runs) when `once` was committed before;
    /// otherwise its mark commits with the handler's writes.
    pub(crate) fn handler_once<C: HandlerCall>(
        &self,
        app: &LoadedApp,
        call: &C,
        trigger: Option<crate::interact::Trigger>,
        once: Option<&Once>,
    ) -> Option<CallOutcome<C::Output>> {
        if let Some(once) = once
            && app.store.marked(&once.key).unwrap_or(false)
        {
            return None;
        }
        let mut prepared = self.prepare(app, call.export(), Mode::Write);
        prepared.store.data_mut().trigger = trigger;
        prepared.store.data_mut().once = once.cloned();
        let result = invoke(&mut prepared, app, true, |i, s| {
            call.invoke(i, s, Accessors::new())
        });
        Some(self.settle(app, call.export(), prepared, result, |_| Ok(())))
    }

    /// [`CallEngine::handler`], with `step` run on the call's transaction
    /// after the handler returned Ok and before it commits (a job run
    /// completes its job there, if its fence still holds): a refused step
    /// fails the call as a host failure and nothing is kept.
    pub(crate) fn handler_then<C: HandlerCall>(
        &self,
        app: &LoadedApp,
        call: &C,
        job: Option<(String, i64)>,
        step: impl FnOnce(&mut crate::sandbox::CallState) -> Result<(), String>,
    ) -> CallOutcome<C::Output> {
        let mut prepared = self.prepare(app, call.export(), Mode::Write);
        prepared.store.data_mut().running_job = job;
        let result = invoke(&mut prepared, app, true, |i, s| {
            call.invoke(i, s, Accessors::new())
        });
        let result = match result {
            Ok(Ok(value)) => match step(prepared.store.data_mut()) {
                Ok(()) => Ok(Ok(value)),
                Err(why) => Err(wasmtime::Error::msg(format!("{STEP_REFUSED}{why}"))),
            },
            other => other,
        };
        self.settle(app, call.export(), prepared, result, |_| Ok(()))
    }

    /// Call a read-only export: no writer, no modifier, one snapshot.
    pub(crate) fn read_only<C: ReadOnlyCall>(
        &self,
        app: &LoadedApp,
        call: &C,
    ) -> CallOutcome<C::Output> {
        let mut prepared = self.prepare(app, call.export(), Mode::Read);
        let result = invoke(&mut prepared, app, false, |i, s| call.invoke(i, s));
        self.settle(app, call.export(), prepared, result, |_| Ok(()))
    }

    fn prepare(&self, app: &LoadedApp, export: Export, mode: Mode) -> Prepared {
        let start = Instant::now();
        let deadline = self.config.deadline(app.id(), export.class());
        let limits = CallLimits {
            max_argument_bytes: self.config.max_argument_bytes,
            max_logs_per_call: self.config.max_logs_per_call,
            max_memory_bytes: self.config.instance.max_memory_bytes,
            max_table_elements: self.config.instance.max_table_elements,
            max_effects: self.config.max_effects_per_call,
            max_effect_bytes: self.config.max_effect_bytes_per_call,
            precise_clocks: self.config.precise_clocks,
            outbound_allow_private: self.config.outbound_allow_private,
            max_fetch_response_bytes: self.config.max_fetch_response_bytes,
            max_http_body_bytes: self.config.max_http_body_bytes,
        };
        // The guest's stderr (panic messages) is kept, bounded, for the report.
        let stderr = Capture::default();
        let mut state = CallState::new(
            app.view(),
            self.bridge.clone(),
            limits,
            app.store.begin(mode, start + deadline),
            start + deadline,
            stderr.clone(),
        );
        state.operator_hosts = self.config.outbound_hosts.get(app.id()).cloned();
        state.views = Some(self.registry.clone());
        let mut store = Store::new(&self.runtime.engine, state);
        store.limiter(|s| &mut s.limiter);
        let ticks = (deadline.as_millis() / EPOCH_TICK.as_millis()).max(1) as u64 + 1;
        store.set_epoch_deadline(ticks);
        store.epoch_deadline_trap();
        Prepared {
            store,
            start,
            deadline,
            stderr,
        }
    }

    fn settle<T>(
        &self,
        app: &LoadedApp,
        export: Export,
        prepared: Prepared,
        result: Returned<T>,
        check: impl FnOnce(&T) -> Result<(), String>,
    ) -> CallOutcome<T> {
        let Prepared {
            store,
            start,
            deadline,
            stderr,
        } = prepared;
        let mut state = store.into_data();
        let mut report = AppReport {
            app: app.manifest.id.clone(),
            version: app.manifest.version.clone(),
            handler: export.name().to_string(),
            outcome: Outcome::Ok,
            failure: None,
            error: None,
            error_kind: None,
            denied: state.denied.iter().map(|s| s.to_string()).collect(),
            requests: std::mem::take(&mut state.requests),
            duration_us: 0,
        };
        self.keep_logs(app, &mut state);
        let ended = end(result, &state, start, deadline, &stderr).and_then(|value| {
            check(&value).map_err(|e| {
                (
                    FailureKind::AppError,
                    bounded(e, MAX_APP_TEXT),
                    Some(ErrorKind::Invalid),
                )
            })?;
            Ok(value)
        });
        // Calls with effects commit and deliver one at a time per app.
        let order = (!state.effects.is_empty()).then(|| self.delivery_lock(app.id()));
        let in_order = order
            .as_ref()
            .map(|o| o.lock().unwrap_or_else(|p| p.into_inner()));
        let (value, effects) = match ended.and_then(|value| commit(state, value)) {
            Ok((value, effects)) => (Some(value), self.deliver(app, effects)),
            Err((kind, message, error_kind)) => {
                report.outcome = Outcome::Error;
                report.failure = Some(kind);
                report.error = Some(message);
                report.error_kind = error_kind;
                (None, Vec::new())
            }
        };
        drop(in_order);
        report.duration_us = start.elapsed().as_micros() as u64;
        self.record(app, export, &report);
        CallOutcome {
            value,
            report,
            effects,
        }
    }

    /// The app's own log lines, within the per-call and per-minute limits.
    fn keep_logs(&self, app: &LoadedApp, state: &mut CallState) {
        if state.logs.is_empty() && state.dropped_logs == 0 {
            return;
        }
        let mut logs = std::mem::take(&mut state.logs);
        if state.dropped_logs > 0 {
            logs.push((
                "warn",
                format!(
                    "{} log lines dropped: over the per-call limit of {}",
                    state.dropped_logs, self.config.max_logs_per_call
                ),
            ));
        }
        // The per-minute budget is applied by the journal, over every
        // process on the data dir.
        self.journal.lines(app.id(), "app", logs);
    }

    /// Counters, the failure and denial lines, and the fault window.
    fn record(&self, app: &LoadedApp, export: Export, report: &AppReport) {
        let failed = report.outcome == Outcome::Error;
        if self
            .stats
            .record(&app.counters, export, failed, report.duration_us)
        {
            self.journal.stats(self.stats.drain());
        }
        let mut lines = Vec::new();
        if failed {
            lines.push((
                "error",
                format!(
                    "{} failed ({:?}): {}; its writes and effects were rolled back",
                    report.handler,
                    report.failure.unwrap_or(FailureKind::Host),
                    report.error.as_deref().unwrap_or("")
                ),
            ));
        }
        lines.extend(report.denied.iter().map(|p| {
            (
                "warn",
                format!("{}: permission '{p}' denied", report.handler),
            )
        }));
        lines.extend(
            report
                .requests
                .iter()
                .map(|r| ("info", format!("{}: {r}", report.handler))),
        );
        self.journal.lines(app.id(), "host", lines);
        if is_fault(report) {
            let policy = self.config.error_disable;
            let tripped = self
                .registry
                .record_fault(app.id(), policy.max_faults, policy.window);
            if tripped.unwrap_or(false) {
                self.error_disable(app, report);
            }
        }
    }

    fn error_disable(&self, app: &LoadedApp, report: &AppReport) {
        let policy = self.config.error_disable;
        let why = format!(
            "disabled after {} faults within {} s; last: {} {}",
            policy.max_faults,
            policy.window.as_secs(),
            report.handler,
            report.headline()
        );
        let id = app.id();
        let _ = self
            .registry
            .set_status(id, Status::ErrorDisabled, Some(&why));
        self.journal.host(
            id,
            "error",
            format!("{why}; `hangar enable {id}` turns it back on"),
        );
    }

    /// The lock that keeps app `id`'s deliveries in commit order.
    fn delivery_lock(&self, id: &str) -> Arc<std::sync::Mutex<()>> {
        let mut locks = self.deliveries.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(lock) = locks.get(id) {
            return lock.clone();
        }
        let lock = Arc::new(std::sync::Mutex::new(()));
        locks.insert(id.to_string(), lock.clone());
        lock
    }

    fn deliver(&self, app: &LoadedApp, effects: Vec<Effect>) -> Vec<Effect> {
        let mut delivered = Vec::with_capacity(effects.len());
        for effect in effects {
            // The host keeps what views are open (interactions are checked
            // against it) before the chat shows them.
            let kept = match &effect {
                Effect::OpenView { view, update, .. } => {
                    self.registry
                        .open_view(view, *update)
                        .map(|(shown, dropped)| {
                            // Views past the per-user cap close in the chat.
                            for (id, owner) in dropped {
                                let _ = self.bridge.deliver(&Effect::CloseView {
                                    app: owner,
                                    user: view.user.clone(),
                                    id,
                                });
                            }
                            shown
                        })
                }
                Effect::CloseView { id, .. } => self.registry.close_view(id).map(|_| true),
                _ => Ok(true),
            };
            match kept {
                Ok(true) => {}
                // An update of a view its user closed meanwhile: not shown.
                Ok(false) => continue,
                Err(e) => {
                    self.journal.host(
                        app.id(),
                        "error",
                        format!("recording a view failed, so it is not shown: {e}"),
                    );
                    continue;
                }
            }
            match self.bridge.deliver(&effect) {
                Ok(()) => delivered.push(effect),
                Err(e) => self.journal.host(
                    app.id(),
                    "error",
                    format!("delivering {effect:?} failed: {e}"),
                ),
            }
        }
        delivered
    }
}

/// Instantiate and call, with the writer live only inside a handler call.
fn invoke<T>(
    prepared: &mut Prepared,
    app: &LoadedApp,
    handler: bool,
    call: impl FnOnce(&Instance, &mut Store<CallState>) -> Returned<T>,
) -> Returned<T> {
    let store = &mut prepared.store;
    let instance = app.pre.instantiate(store)?;
    store.data_mut().writer_live = handler;
    let result = call(&instance, store);
    store.data_mut().writer_live = false;
    result
}

/// Marks a refused commit step, so it is told apart from a trap.
const STEP_REFUSED: &str = "the host refused to commit: ";

/// Why a call failed, what it said, and for an error it returned, its kind.
type Failure = (FailureKind, String, Option<ErrorKind>);

/// How the call ended: its value, or why it failed. A call that came back
/// after its deadline (blocked in the host, e.g. sleeping, where epochs
/// cannot stop it) is a timeout too.
fn end<T>(
    result: Returned<T>,
    state: &CallState,
    start: Instant,
    deadline: Duration,
    stderr: &Capture,
) -> Result<T, Failure> {
    let late = start.elapsed() > deadline;
    let late_msg =
        |what: &str| format!("ran past its deadline of {} ms{what}", deadline.as_millis());
    match result {
        Ok(Ok(_)) if late => Err((
            FailureKind::Timeout,
            late_msg(" (blocked in a host call)"),
            None,
        )),
        Ok(Err(e)) if late => Err((
            FailureKind::Timeout,
            late_msg(&format!(": {}", bounded(e.message, MAX_APP_TEXT))),
            None,
        )),
        Ok(Ok(value)) => Ok(value),
        Ok(Err(e)) => Err((
            FailureKind::AppError,
            bounded(e.message, MAX_APP_TEXT),
            Some(e.kind),
        )),
        Err(trap) => {
            let said = String::from_utf8_lossy(&stderr.contents())
                .trim()
                .to_string();
            Err(classify(
                &trap,
                deadline,
                state.limits.max_memory_bytes,
                state.limiter.hit,
                &said,
            ))
        }
    }
}

/// Commit the call's transaction (a no-op for a read-only call or one that
/// never touched its store) and release its effects.
fn commit<T>(mut state: CallState, value: T) -> Result<(T, Vec<Effect>), Failure> {
    if let Some(once) = state.once.take() {
        let (from, to) = once.expired();
        match state.txn.mark_once(&once.key, (from, &to)) {
            Ok(true) => {}
            Ok(false) => {
                return Err((
                    FailureKind::Host,
                    format!(
                        "this delivery ({}) was handled already; this run's writes and effects were dropped",
                        once.key
                    ),
                    None,
                ));
            }
            Err(e) => {
                return Err((
                    FailureKind::Host,
                    format!("marking the delivery handled: {e}"),
                    None,
                ));
            }
        }
    }
    match state.txn.commit() {
        Ok(()) => Ok((value, state.effects)),
        Err(e) => Err((
            FailureKind::Host,
            format!("committing the handler's writes: {e}"),
            None,
        )),
    }
}

/// Name a trap: deadline, memory cap, or another guest fault. The first
/// line says what happened (with what the guest printed, e.g. its panic
/// message); the wasm backtrace follows.
fn classify(
    trap: &wasmtime::Error,
    deadline: Duration,
    max_memory: usize,
    limit_hit: bool,
    stderr: &str,
) -> Failure {
    let said: String = stderr
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
        .chars()
        .take(500)
        .collect();
    let said = if said.is_empty() {
        String::new()
    } else {
        format!(" (guest said: {said})")
    };
    if let Some(why) = trap.to_string().strip_prefix(STEP_REFUSED) {
        return (FailureKind::Host, why.to_string(), None);
    }
    // The backtrace of a deep recursion can run to megabytes.
    let detail = bounded(format!("{trap:#}"), 4 * MAX_APP_TEXT);
    if trap
        .downcast_ref::<wasmtime::PoolConcurrencyLimitError>()
        .is_some()
    {
        // The host is busy, not the app at fault: not counted as a fault.
        return (
            FailureKind::Host,
            format!("the host is busy (every instance slot is in use); try again: {trap}"),
            None,
        );
    }
    if trap.downcast_ref::<wasmtime::Trap>() == Some(&wasmtime::Trap::Interrupt) {
        return (
            FailureKind::Timeout,
            format!(
                "ran past its deadline of {} ms and was stopped{said}",
                deadline.as_millis()
            ),
            None,
        );
    }
    if limit_hit || stderr.contains("memory allocation of") {
        return (
            FailureKind::OutOfMemory,
            format!("hit its memory cap of {max_memory} bytes{said}\n{detail}"),
            None,
        );
    }
    let root = bounded(trap.root_cause().to_string(), MAX_APP_TEXT);
    (
        FailureKind::Trap,
        format!("trapped: {root}{said}\n{detail}"),
        None,
    )
}
