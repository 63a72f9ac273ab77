//! The event pipelines, one file each: a message through pre-send prevent,
//! extend and modify, storage and post-send fan-out ([`message`]); a slash
//! command, its preview and a picked preview item ([`command`]); the other
//! chat events' prevent and post stages ([`event`]). Lifecycle hooks run
//! from the lifecycle manager. Post stages share [`fan_out`].

use std::sync::Arc;

use crate::apps::LoadedApp;
use crate::bridge::Effect;
use crate::call::{CallEngine, CallOutcome};
use crate::report::AppReport;
use crate::workers::Workers;

pub(crate) mod command;
pub(crate) mod event;
pub(crate) mod http;
pub(crate) mod interact;
pub(crate) mod jobs;
pub(crate) mod message;

/// What one app's post stage did: a check's report (when it has a check)
/// and the handler's.
pub(crate) struct Done {
    pub(crate) reports: Vec<AppReport>,
    pub(crate) effects: Vec<Effect>,
}

impl Done {
    /// Run `check` (a read-only filter) when given, then `handler` if the
    /// check let it through. A handler that found its delivery handled
    /// before (`None`) adds no report.
    pub(crate) fn checked_once(
        check: Option<impl FnOnce() -> CallOutcome<bool>>,
        handler: impl FnOnce() -> Option<CallOutcome<()>>,
    ) -> Done {
        let mut reports = Vec::new();
        if let Some(check) = check {
            let out = check();
            let wanted = out.value == Some(true);
            reports.push(out.report);
            if !wanted {
                return Done {
                    reports,
                    effects: Vec::new(),
                };
            }
        }
        let mut effects = Vec::new();
        if let Some(out) = handler() {
            reports.push(out.report);
            effects = out.effects;
        }
        Done { reports, effects }
    }
}

/// Run `one` for every app, fanned out over the worker pool (in place for
/// a single app); errors stay with their app.
pub(crate) fn fan_out<A: Send + Sync + 'static>(
    calls: &Arc<CallEngine>,
    apps: &[Arc<LoadedApp>],
    workers: &Workers,
    arg: A,
    one: fn(&CallEngine, &LoadedApp, &A) -> Done,
) -> Vec<Done> {
    match apps {
        [] => Vec::new(),
        [app] => vec![one(calls, app, &arg)],
        _ => {
            let (calls, arg) = (calls.clone(), Arc::new(arg));
            workers.map(
                apps.to_vec(),
                Arc::new(move |app: Arc<LoadedApp>| one(&calls, &app, &arg)),
            )
        }
    }
}
