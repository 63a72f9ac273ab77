//! Dispatch: one fresh instance per call, one transaction per handler, and
//! the event pipelines (pre-send prevent / extend / modify, post-send fan
//! out, slash commands), each returning a per-app report.

use std::sync::Arc;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};
use wasmtime::Store;
use wasmtime::component::Resource;

use crate::bindings::{
    AppBindings, CallState, CommandContext, ModifierToken, WriterToken, from_wit_message,
    to_wit_message,
};
use crate::bridge::{Effect, Message};
use crate::error::{Error, Result};
use crate::host::{HostInner, LoadedApp};
use crate::manifest::Event;

/// Bytes of a guest's stderr kept for a failure report.
const STDERR_CAPTURE: usize = 4096;

/// The event classes that have their own deadline.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum EventClass {
    /// Pre-send checks, prevent, extend and modify.
    PreMessage,
    /// Post-send handlers.
    PostMessage,
    /// Slash commands and previews.
    Command,
    /// Install, uninstall, update, enable, disable.
    Lifecycle,
    /// Setting validation and updates.
    Settings,
}

/// Per-class call deadlines.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct Deadlines {
    /// Pre-send handlers hold up the sender: keep them short.
    pub pre_message: Duration,
    /// Post-send handlers.
    pub post_message: Duration,
    /// Slash commands.
    pub command: Duration,
    /// Lifecycle hooks.
    pub lifecycle: Duration,
    /// Settings hooks.
    pub settings: Duration,
}

impl Default for Deadlines {
    fn default() -> Self {
        Deadlines {
            pre_message: Duration::from_millis(500),
            post_message: Duration::from_secs(2),
            command: Duration::from_secs(2),
            lifecycle: Duration::from_secs(5),
            settings: Duration::from_secs(1),
        }
    }
}

impl EventClass {
    /// The name used in configuration.
    pub fn name(self) -> &'static str {
        match self {
            EventClass::PreMessage => "pre-message",
            EventClass::PostMessage => "post-message",
            EventClass::Command => "command",
            EventClass::Lifecycle => "lifecycle",
            EventClass::Settings => "settings",
        }
    }

    /// Parse a configuration name.
    pub fn parse(name: &str) -> Option<EventClass> {
        Some(match name {
            "pre-message" => EventClass::PreMessage,
            "post-message" => EventClass::PostMessage,
            "command" => EventClass::Command,
            "lifecycle" => EventClass::Lifecycle,
            "settings" => EventClass::Settings,
            _ => return None,
        })
    }
}

impl Deadlines {
    /// Set the deadline of `class`.
    pub fn set(&mut self, class: EventClass, deadline: Duration) {
        match class {
            EventClass::PreMessage => self.pre_message = deadline,
            EventClass::PostMessage => self.post_message = deadline,
            EventClass::Command => self.command = deadline,
            EventClass::Lifecycle => self.lifecycle = deadline,
            EventClass::Settings => self.settings = deadline,
        }
    }

    /// The deadline of `class`.
    pub fn of(&self, class: EventClass) -> Duration {
        match class {
            EventClass::PreMessage => self.pre_message,
            EventClass::PostMessage => self.post_message,
            EventClass::Command => self.command,
            EventClass::Lifecycle => self.lifecycle,
            EventClass::Settings => self.settings,
        }
    }
}

/// How one app's handler call ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Outcome {
    /// Returned normally; its writes committed.
    Ok,
    /// Vetoed the action (pre-send prevent).
    Vetoed,
    /// Changed the message (extend or modify).
    Modified,
    /// Failed; nothing it wrote or sent was kept.
    Error,
}

/// Why a call failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum FailureKind {
    /// The handler returned an error.
    AppError,
    /// The guest trapped (panic, bad memory access, stashed writer, ...).
    Trap,
    /// It ran past its deadline.
    Timeout,
    /// Its memory cap was hit.
    OutOfMemory,
    /// The host could not run it (instantiation, storage).
    Host,
}

/// One line of a dispatch report.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AppReport {
    /// The app id.
    pub app: String,
    /// The app's version.
    pub version: String,
    /// The export that was called.
    pub handler: String,
    /// How it ended.
    pub outcome: Outcome,
    /// Why it failed, when it did.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub failure: Option<FailureKind>,
    /// The error or trap message, when it failed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// Permissions it lacked during the call.
    #[serde(skip_serializing_if = "Vec::is_empty", default)]
    pub denied: Vec<String>,
    /// Wall time of the call, in microseconds.
    pub duration_us: u64,
}

impl AppReport {
    /// The first line of the error (the trap's backtrace follows it), or "".
    pub fn headline(&self) -> &str {
        self.error
            .as_deref()
            .and_then(|e| e.lines().next())
            .unwrap_or("")
    }
}

/// Whether a message went out.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum SendStatus {
    /// Stored and post-send handlers ran.
    Sent,
    /// An app vetoed it; it was not stored.
    Prevented,
}

/// What happened to a message pushed through the pipeline.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SendReport {
    /// Sent or prevented.
    pub status: SendStatus,
    /// The app that vetoed it, or whose failure blocked it (fail closed).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub prevented_by: Option<String>,
    /// Why it was prevented.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// The message as stored (or as it was when vetoed).
    pub message: Message,
    /// One line per handler call, in call order.
    pub apps: Vec<AppReport>,
    /// Effects of committed handlers, delivered through the bridge.
    pub effects: Vec<Effect>,
}

/// What happened to a slash command.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CommandReport {
    /// The app that provides the command.
    pub app: String,
    /// The command, without its slash.
    pub command: String,
    /// The handler's report line.
    pub report: AppReport,
    /// Effects delivered (replies and notifications).
    pub effects: Vec<Effect>,
}

/// A suggestion from a command preview.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PreviewItem {
    /// Item id.
    pub id: String,
    /// Text shown.
    pub text: String,
}

/// The result of one call of one app.
pub(crate) struct CallOutcome<T> {
    pub(crate) value: Option<T>,
    pub(crate) report: AppReport,
    pub(crate) effects: Vec<Effect>,
}

/// The borrowed accessors handed to a handler.
pub(crate) struct Accessors {
    pub(crate) writer: Resource<WriterToken>,
    pub(crate) modifier: Resource<ModifierToken>,
}

type Export<T> = dyn FnOnce(
    &AppBindings,
    &mut Store<CallState>,
    Option<Accessors>,
) -> wasmtime::Result<Result<T, String>>;

impl HostInner {
    /// Call one export of `app` in a fresh instance. With `writes`, the call
    /// gets the writer and modifier and runs in one transaction that commits
    /// only if the handler returns Ok; its effects are delivered after.
    pub(crate) fn call<T>(
        &self,
        app: &LoadedApp,
        handler: &str,
        class: EventClass,
        writes: bool,
        export: Box<Export<T>>,
    ) -> CallOutcome<T> {
        let start = Instant::now();
        let mut report = AppReport {
            app: app.manifest.id.clone(),
            version: app.manifest.version.clone(),
            handler: handler.to_string(),
            outcome: Outcome::Ok,
            failure: None,
            error: None,
            denied: Vec::new(),
            duration_us: 0,
        };
        let fail = |mut report: AppReport, kind: FailureKind, msg: String| {
            report.outcome = Outcome::Error;
            report.failure = Some(kind);
            report.error = Some(msg);
            report.duration_us = start.elapsed().as_micros() as u64;
            CallOutcome {
                value: None,
                report,
                effects: Vec::new(),
            }
        };

        let deadline = self.config.deadline(&app.manifest.id, class);
        let txn = match if writes {
            app.store.transaction()
        } else {
            app.store.reader()
        } {
            Ok(mut t) => {
                t.set_deadline(start + deadline);
                t
            }
            Err(e) => {
                let out = fail(
                    report,
                    FailureKind::Host,
                    format!("opening the app's store: {e}"),
                );
                self.log_failure(app, &out.report);
                return out;
            }
        };
        // The guest's stderr (panic messages) is kept, bounded, for the report.
        let stderr = wasmtime_wasi::p2::pipe::MemoryOutputPipe::new(STDERR_CAPTURE);
        let state = CallState {
            wasi: wasmtime_wasi::WasiCtx::builder()
                .stderr(stderr.clone())
                .monotonic_clock(crate::bindings::ProcessClock)
                .build(),
            table: wasmtime::component::ResourceTable::new(),
            limits: crate::bindings::CallLimiter {
                inner: wasmtime::StoreLimitsBuilder::new()
                    .memory_size(self.config.instance.max_memory_bytes)
                    .table_elements(self.config.instance.max_table_elements)
                    .instances(32)
                    .tables(32)
                    .memories(8)
                    .build(),
                hit: false,
            },
            manifest: app.manifest.clone(),
            settings: app.settings.clone(),
            bridge: self.bridge.clone(),
            txn,
            deadline: start + deadline,
            writer_live: false,
            effects: Vec::new(),
            logs: Vec::new(),
            denied: Vec::new(),
            max_argument_bytes: self.config.max_argument_bytes,
            max_logs_per_call: self.config.max_logs_per_call,
            dropped_logs: 0,
        };
        let mut store = Store::new(&self.runtime.engine, state);
        store.limiter(|s| &mut s.limits);
        let ticks =
            (deadline.as_millis() / crate::engine::EPOCH_TICK.as_millis()).max(1) as u64 + 1;
        store.set_epoch_deadline(ticks);
        store.epoch_deadline_trap();

        let result = match app.pre.instantiate(&mut store) {
            Ok(bindings) => {
                let accessors = writes.then(|| Accessors {
                    // Fixed reps: the call state, not a table, holds the
                    // transaction, so nothing leaks per call. The component
                    // runtime drops the guest's borrow when the call returns.
                    writer: Resource::new_borrow(0),
                    modifier: Resource::new_borrow(0),
                });
                store.data_mut().writer_live = writes;
                let r = export(&bindings, &mut store, accessors);
                store.data_mut().writer_live = false;
                r
            }
            Err(e) => Err(e),
        };
        let state = store.into_data();
        report.denied = state.denied.iter().map(|s| s.to_string()).collect();
        let mut logs: Vec<(&str, String)> = state
            .logs
            .iter()
            .map(|l| (l.level, l.message.clone()))
            .collect();
        if state.dropped_logs > 0 {
            logs.push((
                "warn",
                format!(
                    "{} log lines dropped: over the per-call limit of {}",
                    state.dropped_logs, self.config.max_logs_per_call
                ),
            ));
        }
        let logs = self.rate_limit_logs(&app.manifest.id, logs);
        let _ = self.registry.log(&app.manifest.id, "app", &logs);

        // A call that came back after its deadline (it was blocked in the
        // host, e.g. sleeping, where epochs cannot stop it) is a timeout too.
        let late = start.elapsed() > deadline;
        let late_msg =
            |what: &str| format!("ran past its deadline of {} ms{what}", deadline.as_millis());
        let out = match result {
            Ok(Ok(_)) if late => fail(
                report,
                FailureKind::Timeout,
                late_msg(" (blocked in a host call)"),
            ),
            Ok(Err(message)) if late => fail(
                report,
                FailureKind::Timeout,
                late_msg(&format!(": {message}")),
            ),
            Ok(Ok(value)) => {
                let commit = if writes { state.txn.commit() } else { Ok(()) };
                match commit {
                    Ok(()) => {
                        report.duration_us = start.elapsed().as_micros() as u64;
                        let effects = self.deliver(app, state.effects);
                        CallOutcome {
                            value: Some(value),
                            report,
                            effects,
                        }
                    }
                    Err(e) => fail(
                        report,
                        FailureKind::Host,
                        format!("committing the handler's writes: {e}"),
                    ),
                }
            }
            Ok(Err(message)) => fail(report, FailureKind::AppError, message),
            Err(trap) => {
                let said = String::from_utf8_lossy(&stderr.contents())
                    .trim()
                    .to_string();
                let (kind, message) = classify(
                    &trap,
                    deadline,
                    self.config.instance.max_memory_bytes,
                    state.limits.hit,
                    &said,
                );
                fail(report, kind, message)
            }
        };
        self.count_call(
            &app.manifest.id,
            handler,
            out.report.outcome == Outcome::Error,
            out.report.duration_us,
        );
        if out.report.outcome == Outcome::Error {
            self.log_failure(app, &out.report);
            self.count_fault(app, &out.report);
        } else if !out.report.denied.is_empty() {
            let lines: Vec<(&str, String)> = out
                .report
                .denied
                .iter()
                .map(|p| ("warn", format!("{handler}: permission '{p}' denied")))
                .collect();
            let _ = self.registry.log(&app.manifest.id, "host", &lines);
        }
        out
    }

    fn log_failure(&self, app: &LoadedApp, report: &AppReport) {
        let line = format!(
            "{} failed ({:?}): {}; its writes and effects were rolled back",
            report.handler,
            report.failure.unwrap_or(FailureKind::Host),
            report.error.as_deref().unwrap_or("")
        );
        let mut lines = vec![("error", line)];
        lines.extend(report.denied.iter().map(|p| {
            (
                "warn",
                format!("{}: permission '{p}' denied", report.handler),
            )
        }));
        let _ = self.registry.log(&app.manifest.id, "host", &lines);
    }

    fn deliver(&self, app: &LoadedApp, effects: Vec<Effect>) -> Vec<Effect> {
        let mut delivered = Vec::with_capacity(effects.len());
        for effect in effects {
            match self.bridge.deliver(&effect) {
                Ok(()) => delivered.push(effect),
                Err(e) => {
                    let _ = self.registry.log(
                        &app.manifest.id,
                        "host",
                        &[("error", format!("delivering {effect:?} failed: {e}"))],
                    );
                }
            }
        }
        delivered
    }

    /// Push a message through the whole pipeline.
    pub(crate) fn send_message(&self, mut message: Message) -> Result<SendReport> {
        let apps = self.enabled_apps()?;
        let mut reports = Vec::new();
        let mut effects = Vec::new();

        // 1. Prevent: stable order, first veto stops the chain.
        for app in apps
            .iter()
            .filter(|a| a.manifest.handles(Event::PreMessageSentPrevent))
        {
            if app.manifest.handles(Event::CheckPreMessageSentPrevent) {
                let msg = to_wit_message(&message);
                let check = self.call(
                    app,
                    "check-pre-message-sent-prevent",
                    EventClass::PreMessage,
                    false,
                    Box::new(move |b, s, _| {
                        b.hangar_app_messages()
                            .call_check_pre_message_sent_prevent(s, &msg)
                    }),
                );
                let wanted = check.value;
                reports.push(check.report);
                if let Some(reason) = self.blocks(reports.last().expect("just pushed")) {
                    return Ok(prevented(app, reason, message, reports, effects));
                }
                if wanted != Some(true) {
                    continue;
                }
            }
            let msg = to_wit_message(&message);
            let mut out = self.call(
                app,
                "execute-pre-message-sent-prevent",
                EventClass::PreMessage,
                true,
                Box::new(move |b, s, acc| {
                    let acc = acc.expect("handler gets accessors");
                    b.hangar_app_messages()
                        .call_execute_pre_message_sent_prevent(s, &msg, acc.writer)
                }),
            );
            effects.append(&mut out.effects);
            let vetoed = out.value == Some(true);
            if vetoed {
                out.report.outcome = Outcome::Vetoed;
            }
            reports.push(out.report);
            if vetoed {
                let reason = format!("vetoed by app '{}'", app.manifest.id);
                return Ok(prevented(app, reason, message, reports, effects));
            }
            if let Some(reason) = self.blocks(reports.last().expect("just pushed")) {
                return Ok(prevented(app, reason, message, reports, effects));
            }
        }

        // 2. Extend: each app adds custom fields; existing keys are kept.
        for app in apps
            .iter()
            .filter(|a| a.manifest.handles(Event::PreMessageSentExtend))
        {
            let msg = to_wit_message(&message);
            let mut out = self.call(
                app,
                "execute-pre-message-sent-extend",
                EventClass::PreMessage,
                true,
                Box::new(move |b, s, acc| {
                    let acc = acc.expect("handler gets accessors");
                    b.hangar_app_messages()
                        .call_execute_pre_message_sent_extend(s, &msg, acc.writer)
                }),
            );
            effects.append(&mut out.effects);
            if let Some(fields) = out.value {
                let mut changed = false;
                for field in fields {
                    match serde_json::from_str(&field.value) {
                        Ok(v) => {
                            if !message.custom_fields.contains_key(&field.key) {
                                message.custom_fields.insert(field.key, v);
                                changed = true;
                            }
                        }
                        Err(e) => {
                            out.report.outcome = Outcome::Error;
                            out.report.failure = Some(FailureKind::AppError);
                            out.report.error = Some(format!(
                                "custom field '{}' is not valid JSON: {e}",
                                field.key
                            ));
                        }
                    }
                }
                if changed && out.report.outcome == Outcome::Ok {
                    out.report.outcome = Outcome::Modified;
                }
            }
            reports.push(out.report);
            if let Some(reason) = self.blocks(reports.last().expect("just pushed")) {
                return Ok(prevented(app, reason, message, reports, effects));
            }
        }

        // 3. Modify: a pipeline, each app sees the previous output.
        for app in apps
            .iter()
            .filter(|a| a.manifest.handles(Event::PreMessageSentModify))
        {
            let msg = to_wit_message(&message);
            let mut out = self.call(
                app,
                "execute-pre-message-sent-modify",
                EventClass::PreMessage,
                true,
                Box::new(move |b, s, acc| {
                    let acc = acc.expect("handler gets accessors");
                    b.hangar_app_messages()
                        .call_execute_pre_message_sent_modify(s, &msg, acc.writer)
                }),
            );
            effects.append(&mut out.effects);
            if let Some(returned) = out.value {
                match from_wit_message(&message, returned, self.config.max_argument_bytes) {
                    Ok(new) => {
                        if new != message {
                            message = new;
                            out.report.outcome = Outcome::Modified;
                        }
                    }
                    Err(e) => {
                        out.report.outcome = Outcome::Error;
                        out.report.failure = Some(FailureKind::AppError);
                        out.report.error = Some(e);
                    }
                }
            }
            reports.push(out.report);
            if let Some(reason) = self.blocks(reports.last().expect("just pushed")) {
                return Ok(prevented(app, reason, message, reports, effects));
            }
        }

        // 4. Store it.
        message.id = self
            .bridge
            .store_message(&message)
            .map_err(|e| Error::InvalidInput(format!("the chat refused the message: {e}")))?;

        // 5. Post: fan out across apps, errors isolated per app.
        let post: Vec<&Arc<LoadedApp>> = apps
            .iter()
            .filter(|a| a.manifest.handles(Event::PostMessageSent))
            .collect();
        let run_post = |app: &LoadedApp| {
            let msg = to_wit_message(&message);
            self.call(
                app,
                "execute-post-message-sent",
                EventClass::PostMessage,
                true,
                Box::new(move |b, s, acc| {
                    let acc = acc.expect("handler gets accessors");
                    b.hangar_app_messages().call_execute_post_message_sent(
                        s,
                        &msg,
                        acc.writer,
                        acc.modifier,
                    )
                }),
            )
        };
        let outs: Vec<CallOutcome<()>> = if post.len() <= 1 || self.config.workers <= 1 {
            post.iter().map(|a| run_post(a)).collect()
        } else {
            std::thread::scope(|scope| {
                let chunks = post.chunks(post.len().div_ceil(self.config.workers));
                let handles: Vec<_> = chunks
                    .map(|chunk| {
                        scope.spawn(|| chunk.iter().map(|a| run_post(a)).collect::<Vec<_>>())
                    })
                    .collect();
                handles
                    .into_iter()
                    .flat_map(|h| h.join().expect("dispatch worker panicked"))
                    .collect()
            })
        };
        for mut out in outs {
            effects.append(&mut out.effects);
            reports.push(out.report);
        }

        Ok(SendReport {
            status: SendStatus::Sent,
            prevented_by: None,
            reason: None,
            message,
            apps: reports,
            effects,
        })
    }

    fn command_target(
        &self,
        line: &str,
        room: &str,
        sender: &str,
    ) -> Result<(Arc<LoadedApp>, CommandContext)> {
        let line = line.trim();
        let body = line.strip_prefix('/').ok_or_else(|| {
            Error::InvalidInput(format!(
                "'{line}' is not a slash command; it must start with '/'"
            ))
        })?;
        let mut words = body.split_whitespace();
        let command = words.next().unwrap_or("").to_string();
        if command.is_empty() {
            return Err(Error::InvalidInput("empty slash command".into()));
        }
        let arguments = words.map(str::to_string).collect();
        let app = self
            .enabled_apps()?
            .into_iter()
            .find(|a| a.manifest.commands.iter().any(|c| c.command == command))
            .ok_or_else(|| Error::UnknownCommand(command.clone()))?;
        Ok((
            app,
            CommandContext {
                command,
                arguments,
                room: room.to_string(),
                sender: sender.to_string(),
            },
        ))
    }

    /// Run a slash command line such as `/karma bob`.
    pub(crate) fn run_command(
        &self,
        room: &str,
        sender: &str,
        line: &str,
    ) -> Result<CommandReport> {
        let (app, ctx) = self.command_target(line, room, sender)?;
        let command = ctx.command.clone();
        let out = self.call(
            &app,
            "execute-command",
            EventClass::Command,
            true,
            Box::new(move |b, s, acc| {
                let acc = acc.expect("handler gets accessors");
                b.hangar_app_commands()
                    .call_execute_command(s, &ctx, acc.writer, acc.modifier)
            }),
        );
        Ok(CommandReport {
            app: app.manifest.id.clone(),
            command,
            report: out.report,
            effects: out.effects,
        })
    }

    /// Ask the command's app for a preview (read-only).
    pub(crate) fn preview_command(
        &self,
        room: &str,
        sender: &str,
        line: &str,
    ) -> Result<(Vec<PreviewItem>, AppReport)> {
        let (app, ctx) = self.command_target(line, room, sender)?;
        if !app.manifest.handles(Event::CommandPreview) {
            return Err(Error::InvalidInput(format!(
                "app '{}' has no preview for '/{}'",
                app.manifest.id, ctx.command
            )));
        }
        let out = self.call(
            &app,
            "preview-command",
            EventClass::Command,
            false,
            Box::new(move |b, s, _| b.hangar_app_commands().call_preview_command(s, &ctx)),
        );
        let items = out
            .value
            .unwrap_or_default()
            .into_iter()
            .map(|i| PreviewItem {
                id: i.id,
                text: i.text,
            })
            .collect();
        Ok((items, out.report))
    }
}

impl HostInner {
    /// With the pre-message class failing closed, the reason a failed
    /// pre-message call blocks the message.
    fn blocks(&self, report: &AppReport) -> Option<String> {
        (report.outcome == Outcome::Error && self.config.fails_closed(EventClass::PreMessage)).then(
            || {
                format!(
                    "app '{}' failed in {} and the pre-message policy is fail-closed: {}",
                    report.app,
                    report.handler,
                    report.headline()
                )
            },
        )
    }
}

fn prevented(
    app: &LoadedApp,
    reason: String,
    message: Message,
    apps: Vec<AppReport>,
    effects: Vec<Effect>,
) -> SendReport {
    SendReport {
        status: SendStatus::Prevented,
        prevented_by: Some(app.manifest.id.clone()),
        reason: Some(reason),
        message,
        apps,
        effects,
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
) -> (FailureKind, String) {
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
    let detail = format!("{trap:#}");
    if trap.downcast_ref::<wasmtime::Trap>() == Some(&wasmtime::Trap::Interrupt) {
        return (
            FailureKind::Timeout,
            format!(
                "ran past its deadline of {} ms and was stopped{said}",
                deadline.as_millis()
            ),
        );
    }
    if limit_hit || stderr.contains("memory allocation of") {
        return (
            FailureKind::OutOfMemory,
            format!("hit its memory cap of {max_memory} bytes{said}\n{detail}"),
        );
    }
    let root = trap.root_cause().to_string();
    (
        FailureKind::Trap,
        format!("trapped: {root}{said}\n{detail}"),
    )
}
