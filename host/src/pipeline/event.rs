//! Chat events beyond new messages (edits, deletes, reactions, rooms,
//! membership, users). The embedder raises each around its operation:
//! the pre stage before it (apps that prevent this kind run in a stable
//! order, a read-only check first when they have one; the first veto, or a
//! failure under fail-closed, stops it), the post stage after (fanned out).

use std::sync::Arc;

use crate::apps::{AppSet, LoadedApp};
use crate::bindings::EventArg;
use crate::bridge::{ChatEvent, Effect};
use crate::call::{CallEngine, CallOutcome, Once};
use crate::exports::{CheckPostEvent, CheckPreEvent, Export, PostEvent, PreventEvent};
use crate::pipeline::{Done, fan_out};
use crate::policy::{EventClass, blocks};
use crate::report::{AppReport, EventReport, Outcome};
use crate::workers::Workers;

/// One event's pre stage.
struct Pre<'a> {
    calls: &'a CallEngine,
    fail_closed: bool,
    reports: Vec<AppReport>,
    effects: Vec<Effect>,
}

impl Pre<'_> {
    /// Keep a call's report; `Some(reason)` if its failure blocks the event.
    fn step<T>(&mut self, out: CallOutcome<T>) -> (Option<T>, Option<String>) {
        let CallOutcome {
            value,
            report,
            mut effects,
        } = out;
        self.effects.append(&mut effects);
        let stop = blocks(&report, self.fail_closed);
        self.reports.push(report);
        (value, stop)
    }

    /// The app that stops the event and why, if one does.
    fn run(&mut self, app: &LoadedApp, arg: &EventArg) -> Option<String> {
        if app.handles(Export::CheckPreEvent) {
            let (wanted, stop) = self.step(self.calls.read_only(app, &CheckPreEvent(arg)));
            if stop.is_some() {
                return stop;
            }
            if wanted != Some(true) {
                return None;
            }
        }
        let mut out = self.calls.handler(app, &PreventEvent(arg));
        let vetoed = out.value == Some(true);
        if vetoed {
            out.report.outcome = Outcome::Vetoed;
        }
        let (_, stop) = self.step(out);
        stop.or_else(|| vetoed.then(|| format!("prevented by app '{}'", app.id())))
    }
}

/// The pre stage of `event`: may an app prevent it?
pub(crate) fn pre(calls: &CallEngine, set: &AppSet, event: &ChatEvent) -> EventReport {
    let kind = event.kind();
    let mut run = Pre {
        calls,
        fail_closed: calls.config.fails_closed(EventClass::PreMessage),
        reports: Vec::new(),
        effects: Vec::new(),
    };
    let mut stop = None;
    if kind.preventable() {
        let apps = set.handling(Export::PreEvent(kind));
        if !apps.is_empty() {
            let arg = EventArg::new(event);
            stop = apps
                .iter()
                .find_map(|app| run.run(app, &arg).map(|why| (app.id().to_string(), why)));
        }
    }
    EventReport {
        event: kind,
        prevented: stop.is_some(),
        prevented_by: stop.as_ref().map(|s| s.0.clone()),
        reason: stop.map(|s| s.1),
        apps: run.reports,
        effects: run.effects,
    }
}

/// The post stage of `event`, fanned out over the apps that handle it.
pub(crate) fn post(
    calls: &Arc<CallEngine>,
    set: &AppSet,
    workers: &Workers,
    event: &ChatEvent,
    once: Option<Once>,
) -> EventReport {
    let kind = event.kind();
    let mut report = EventReport {
        event: kind,
        prevented: false,
        prevented_by: None,
        reason: None,
        apps: Vec::new(),
        effects: Vec::new(),
    };
    let apps = set.handling(Export::PostEvent(kind));
    if apps.is_empty() {
        return report;
    }
    for mut done in fan_out(calls, apps, workers, (EventArg::new(event), once), one) {
        report.apps.append(&mut done.reports);
        report.effects.append(&mut done.effects);
    }
    report
}

fn one(calls: &CallEngine, app: &LoadedApp, (arg, once): &(EventArg, Option<Once>)) -> Done {
    let check = app
        .handles(Export::CheckPostEvent)
        .then_some(|| calls.read_only(app, &CheckPostEvent(arg)));
    Done::checked_once(check, || {
        calls.handler_once(app, &PostEvent(arg), None, once.as_ref())
    })
}
