//! A message through the whole pipeline: prevent (stable order, the first
//! veto stops it; a read-only check may filter first), extend (each app
//! adds custom fields; existing keys are kept), modify (each app sees the
//! previous output), storage by the chat, then post-send handlers fanned
//! out over the worker pool. The message is converted for the apps once
//! per stage, and again only when an app changed it.

use std::sync::Arc;

use crate::apps::{AppSet, LoadedApp};
use crate::bindings::MessageArg;
use crate::bridge::{Effect, Message};
use crate::call::{CallEngine, CallOutcome, Once};
use crate::error::{Error, Result};
use crate::exports::{CheckPost, CheckPrevent, Export, Extend, Modify, PostMessageSent, Prevent};
use crate::pipeline::{Done, fan_out};
use crate::policy::{EventClass, blocks};
use crate::report::{AppReport, FailureKind, Outcome, SendReport, SendStatus};
use crate::workers::Workers;

/// Most custom fields one extend handler may add.
const MAX_FIELDS_PER_EXTEND: usize = 64;

/// Why the message stops before it is stored.
struct Stop {
    app: String,
    reason: String,
}

/// One message's way through the pre-send stages.
struct Run<'a> {
    calls: &'a CallEngine,
    set: &'a AppSet,
    fail_closed: bool,
    message: Message,
    reports: Vec<AppReport>,
    effects: Vec<Effect>,
}

impl Run<'_> {
    /// Keep a call's report and effects; stop if its failure blocks the
    /// message (pre-message failing closed).
    fn step<T>(&mut self, out: CallOutcome<T>) -> Result<Option<T>, Stop> {
        let CallOutcome {
            value,
            report,
            mut effects,
        } = out;
        self.effects.append(&mut effects);
        let stop = blocks(&report, self.fail_closed).map(|reason| Stop {
            app: report.app.clone(),
            reason,
        });
        self.reports.push(report);
        match stop {
            Some(stop) => Err(stop),
            None => Ok(value),
        }
    }

    fn prevent(&mut self) -> Result<(), Stop> {
        let apps = self.set.handling(Export::PreMessageSentPrevent);
        if apps.is_empty() {
            return Ok(());
        }
        let arg = MessageArg::new(&self.message);
        for app in apps {
            if app.handles(Export::CheckPreMessageSentPrevent) {
                let wanted = self.step(self.calls.read_only(app, &CheckPrevent(&arg)))?;
                if wanted != Some(true) {
                    continue;
                }
            }
            let mut out = self.calls.handler(app, &Prevent(&arg));
            let vetoed = out.value == Some(true);
            if vetoed {
                out.report.outcome = Outcome::Vetoed;
            }
            self.step(out)?;
            if vetoed {
                return Err(Stop {
                    app: app.id().to_string(),
                    reason: format!("vetoed by app '{}'", app.id()),
                });
            }
        }
        Ok(())
    }

    fn extend(&mut self) -> Result<(), Stop> {
        let apps = self.set.handling(Export::PreMessageSentExtend);
        if apps.is_empty() {
            return Ok(());
        }
        let mut arg = MessageArg::new(&self.message);
        for app in apps {
            // Output the host cannot take fails the call before it
            // commits: the app that adds too much is the one charged, not
            // the apps after it that would choke on the message.
            let mut out = self
                .calls
                .handler_checked(app, &Extend(&arg), |fields| self.fits(fields));
            let mut changed = false;
            for (key, value) in out.value.take().unwrap_or_default() {
                // Parsed once in `fits` already, before the commit.
                let Ok(value) = serde_json::from_str(&value) else {
                    continue;
                };
                if !self.message.custom_fields.contains_key(&key) {
                    self.message.custom_fields.insert(key, value);
                    changed = true;
                }
            }
            if changed {
                if out.report.outcome == Outcome::Ok {
                    out.report.outcome = Outcome::Modified;
                }
                arg = MessageArg::new(&self.message);
            }
            self.step(out)?;
        }
        Ok(())
    }

    /// Whether adding `fields` keeps the message's custom fields within
    /// what one message may carry (the same bound modify's output has).
    fn fits(&self, fields: &[(String, String)]) -> Result<(), String> {
        if let Some((key, e)) = fields.iter().find_map(|(k, v)| {
            serde_json::from_str::<serde_json::Value>(v)
                .err()
                .map(|e| (k, e))
        }) {
            return Err(format!("custom field '{key}' is not valid JSON: {e}"));
        }
        let max = self.calls.config.max_argument_bytes;
        let added: usize = fields.iter().map(|(k, v)| k.len() + v.len() + 4).sum();
        let current = serde_json::to_string(&self.message.custom_fields).map_or(0, |s| s.len());
        if fields.len() > MAX_FIELDS_PER_EXTEND || current + added > max {
            return Err(format!(
                "returned {} custom fields ({added} bytes); a message's custom fields may hold {max} bytes and one app may add {MAX_FIELDS_PER_EXTEND} fields, so none were added",
                fields.len()
            ));
        }
        Ok(())
    }

    fn modify(&mut self) -> Result<(), Stop> {
        let apps = self.set.handling(Export::PreMessageSentModify);
        if apps.is_empty() {
            return Ok(());
        }
        let max = self.calls.config.max_argument_bytes;
        let mut arg = MessageArg::new(&self.message);
        for app in apps {
            let current = &self.message;
            let mut out = self
                .calls
                .handler_checked(app, &Modify(&arg), |returned| returned.check(current, max));
            if let Some(returned) = out.value.take() {
                match returned.into_message(&self.message, max) {
                    Ok(new) if new != self.message => {
                        self.message = new;
                        out.report.outcome = Outcome::Modified;
                        arg = MessageArg::new(&self.message);
                    }
                    Ok(_) => {}
                    Err(e) => fail(&mut out.report, e),
                }
            }
            self.step(out)?;
        }
        Ok(())
    }

    fn report(self, status: SendStatus, stop: Option<Stop>) -> SendReport {
        let (prevented_by, reason) = match stop {
            Some(s) => (Some(s.app), Some(s.reason)),
            None => (None, None),
        };
        SendReport {
            status,
            prevented_by,
            reason,
            message: self.message,
            apps: self.reports,
            effects: self.effects,
        }
    }
}

fn fail(report: &mut AppReport, error: String) {
    report.outcome = Outcome::Error;
    report.failure = Some(FailureKind::AppError);
    report.error = Some(error);
}

/// Run `message` through prevent, extend and modify.
fn pre<'a>(calls: &'a CallEngine, set: &'a AppSet, message: Message) -> (Run<'a>, Option<Stop>) {
    let mut run = Run {
        calls,
        set,
        fail_closed: calls.config.fails_closed(EventClass::PreMessage),
        message,
        reports: Vec::new(),
        effects: Vec::new(),
    };
    let stop = run
        .prevent()
        .and_then(|()| run.extend())
        .and_then(|()| run.modify())
        .err();
    (run, stop)
}

/// Push `message` through the whole pipeline.
pub(crate) fn send(
    calls: &Arc<CallEngine>,
    set: &AppSet,
    workers: &Workers,
    message: Message,
) -> Result<SendReport> {
    let (mut run, stop) = pre(calls, set, message);
    if stop.is_some() {
        return Ok(run.report(SendStatus::Prevented, stop));
    }
    run.message.id = calls
        .bridge
        .store_message(&run.message)
        .map_err(|e| Error::InvalidInput(format!("the chat refused the message: {e}")))?;
    let (effects, reports) = post_all(calls, set, workers, &run.message, None);
    run.effects.extend(effects);
    run.reports.extend(reports);
    Ok(run.report(SendStatus::Sent, None))
}

/// The pre-send stages alone, for a chat that stores messages itself:
/// prevented, or checked (with the message as the apps left it).
pub(crate) fn check(calls: &CallEngine, set: &AppSet, message: Message) -> SendReport {
    let (run, stop) = pre(calls, set, message);
    let status = if stop.is_some() {
        SendStatus::Prevented
    } else {
        SendStatus::Checked
    };
    run.report(status, stop)
}

/// The post-send stage of a message the chat stored: each app handles
/// it once per `once` when given.
pub(crate) fn post_stored(
    calls: &Arc<CallEngine>,
    set: &AppSet,
    workers: &Workers,
    message: Message,
    once: Option<Once>,
) -> SendReport {
    let (effects, apps) = post_all(calls, set, workers, &message, once);
    SendReport {
        status: SendStatus::Sent,
        prevented_by: None,
        reason: None,
        message,
        apps,
        effects,
    }
}

fn post_all(
    calls: &Arc<CallEngine>,
    set: &AppSet,
    workers: &Workers,
    message: &Message,
    once: Option<Once>,
) -> (Vec<Effect>, Vec<AppReport>) {
    let (mut effects, mut reports) = (Vec::new(), Vec::new());
    let arg = (MessageArg::new(message), once);
    for mut done in fan_out(
        calls,
        set.handling(Export::PostMessageSent),
        workers,
        arg,
        post,
    ) {
        effects.append(&mut done.effects);
        reports.append(&mut done.reports);
    }
    (effects, reports)
}

/// One app's post-send stage: its check first when it has one.
fn post(calls: &CallEngine, app: &LoadedApp, (arg, once): &(MessageArg, Option<Once>)) -> Done {
    let check = app
        .handles(Export::CheckPostMessageSent)
        .then_some(|| calls.read_only(app, &CheckPost(arg)));
    Done::checked_once(check, || {
        calls.handler_once(app, &PostMessageSent(arg), None, once.as_ref())
    })
}
