//! Interactions: each is checked against what the host showed, then runs
//! as one handler of the app that showed it (writer, modifier, one
//! transaction, effects after commit), with a fresh trigger that can open
//! one view. A block action names a message of the app's bot user in a
//! room the user is in, or a view open for that user, and an element that
//! is there (a button's value is the app's, a choice one of its choices);
//! a submit carries only the view's inputs; an action button is one the
//! app declares. Anything else is refused before any app runs.

use std::collections::BTreeMap;
use std::sync::Arc;

use crate::apps::{AppSet, LoadedApp};
use crate::bridge::{Effect, Interactive, View, interactive};
use crate::call::CallEngine;
use crate::error::{Error, Result};
use crate::exports::{ActionButtonCall, BlockActionCall, Export, ViewClosedCall, ViewSubmitCall};
use crate::interact::{
    ActionButton, BlockAction, FieldError, InputValue, Interaction, InteractionReport, Trigger,
    ViewClosed, ViewSubmit,
};
use crate::registry::Status;
use crate::rich::{MAX_BLOCKS, is_date};

/// Longest error message shown under an input.
const MAX_FIELD_ERROR: usize = 512;

fn refuse<T>(why: impl Into<String>) -> Result<T> {
    Err(Error::Refused(why.into()))
}

fn shown(s: &str) -> String {
    s.chars().take(100).collect()
}

/// Run an interaction.
pub(crate) fn run(
    calls: &CallEngine,
    set: &AppSet,
    interaction: &Interaction,
) -> Result<InteractionReport> {
    bounded(interaction, calls.config.max_argument_bytes)?;
    match interaction {
        Interaction::BlockAction {
            user,
            message,
            view,
            block_id,
            action_id,
            value,
        } => {
            let place = match (message, view) {
                (Some(m), None) => Place::Message(m),
                (None, Some(v)) => Place::View(v),
                _ => {
                    return Err(Error::InvalidInput(
                        "a block action names either a message or a view".into(),
                    ));
                }
            };
            block_action(
                calls,
                set,
                user,
                place,
                block_id.as_deref(),
                action_id,
                value.as_deref(),
            )
        }
        Interaction::ViewSubmit { user, view, state } => submit(calls, set, user, view, state),
        Interaction::ViewClosed { user, view } => closed(calls, set, user, view),
        Interaction::ActionButton {
            user,
            app,
            button,
            room,
            message,
            thread,
        } => {
            let app = enabled(set, app, Export::ActionButton)?;
            if !app.manifest.action_buttons.iter().any(|b| &b.id == button) {
                return refuse(format!(
                    "app '{}' declares no action button '{}'",
                    app.id(),
                    shown(button)
                ));
            }
            let declared = app
                .manifest
                .action_buttons
                .iter()
                .find(|b| &b.id == button)
                .map(|b| b.context);
            let on_message = declared == Some(crate::manifest::ButtonContext::MessageAction);
            if on_message != message.is_some() {
                return refuse(format!(
                    "button '{}' is {}",
                    shown(button),
                    if on_message {
                        "a message action: name the message it was clicked on"
                    } else {
                        "not a message action: it names no message"
                    }
                ));
            }
            member(calls, room, user)?;
            if let Some(id) = message {
                let m = calls.bridge.message(id).map_err(Error::InvalidInput)?;
                if m.is_none_or(|m| &m.room != room) {
                    return refuse(format!("no message '{}' in that room", shown(id)));
                }
            }
            let trigger = Trigger::new(user);
            let arg = ActionButton {
                trigger: trigger.id.clone(),
                user: user.clone(),
                button: button.clone(),
                room: room.clone(),
                message: message.clone(),
                thread: thread.clone(),
            };
            let out =
                calls.handler_triggered(&app, &ActionButtonCall(&arg), Some(trigger), |_| Ok(()));
            Ok(InteractionReport {
                app: app.id().to_string(),
                report: Some(out.report),
                effects: out.effects,
                errors: BTreeMap::new(),
                closed: false,
            })
        }
    }
}

/// Every string and list a client hands in, bounded where it enters.
fn bounded(i: &Interaction, max: usize) -> Result<()> {
    let mut texts: Vec<&str> = vec![i.user()];
    let mut count = 0;
    match i {
        Interaction::BlockAction {
            message,
            view,
            block_id,
            action_id,
            value,
            ..
        } => {
            texts.push(action_id);
            texts.extend(
                [message, view, block_id, value]
                    .into_iter()
                    .flatten()
                    .map(String::as_str),
            );
        }
        Interaction::ViewSubmit { view, state, .. } => {
            texts.push(view);
            count = state.len();
            for v in state {
                texts.extend([&v.block_id, &v.action_id, &v.value].map(String::as_str));
            }
        }
        Interaction::ViewClosed { view, .. } => texts.push(view),
        Interaction::ActionButton {
            app,
            button,
            room,
            message,
            thread,
            ..
        } => {
            texts.extend([app, button, room].map(String::as_str));
            texts.extend([message, thread].into_iter().flatten().map(String::as_str));
        }
    }
    if count > MAX_BLOCKS {
        return Err(Error::InvalidInput(format!(
            "a view's state has {count} values; a view has at most {MAX_BLOCKS} inputs"
        )));
    }
    let total: usize = texts.iter().map(|t| t.len()).sum();
    if texts.iter().any(|t| t.len() > max) || total > max.saturating_mul(4) {
        return Err(Error::InvalidInput(format!(
            "an interaction's ids and values are over the limit of {max} bytes"
        )));
    }
    if i.user().is_empty() {
        return Err(Error::InvalidInput("an interaction needs a user".into()));
    }
    Ok(())
}

/// The enabled app `id`, which handles `export`.
fn enabled(set: &AppSet, id: &str, export: Export) -> Result<Arc<LoadedApp>> {
    let Some(app) = set.get(id) else {
        return refuse(format!("no app '{}' is installed", shown(id)));
    };
    if app.status != Status::Enabled {
        return refuse(format!(
            "app '{}' is {}; `hangar enable {}` turns it back on",
            app.id(),
            app.status.name(),
            app.id()
        ));
    }
    if !app.handles(export) {
        return refuse(format!(
            "app '{}' does not handle {}",
            app.id(),
            export.name()
        ));
    }
    Ok(app.clone())
}

/// `user` is in `room`: the room's messages were shown to them.
fn member(calls: &CallEngine, room: &str, user: &str) -> Result<()> {
    match calls.bridge.is_member(room, user) {
        Ok(true) => Ok(()),
        Ok(false) => refuse(format!(
            "user '{}' is not in room '{}', so was not shown it",
            shown(user),
            shown(room)
        )),
        Err(e) => Err(Error::InvalidInput(e)),
    }
}

/// A view open for `user`.
fn open_view(calls: &CallEngine, id: &str, user: &str) -> Result<View> {
    let Some(view) = calls.registry.open_view_by_id(id)? else {
        return refuse(format!(
            "no open view '{}': it was closed, is too old, or never existed",
            shown(id)
        ));
    };
    if view.user != user {
        return refuse(format!("view '{}' was opened for another user", shown(id)));
    }
    Ok(view)
}

/// Where a block action happened.
enum Place<'a> {
    Message(&'a str),
    View(&'a str),
}

fn block_action(
    calls: &CallEngine,
    set: &AppSet,
    user: &str,
    place: Place<'_>,
    block_id: Option<&str>,
    action_id: &str,
    value: Option<&str>,
) -> Result<InteractionReport> {
    let (app_id, blocks, room, message, view) = match place {
        Place::Message(id) => {
            let Some(m) = calls.bridge.message(id).map_err(Error::InvalidInput)? else {
                return refuse(format!("no message '{}'", shown(id)));
            };
            let Some(app) = m.sender.strip_prefix("app:") else {
                return refuse(format!("message '{}' was not sent by an app", shown(id)));
            };
            member(calls, &m.room, user)?;
            (
                app.to_string(),
                m.blocks,
                Some(m.room),
                Some(id.to_string()),
                None,
            )
        }
        Place::View(id) => {
            let v = open_view(calls, id, user)?;
            (v.app, v.blocks, None, None, Some(id.to_string()))
        }
    };
    let app = enabled(set, &app_id, Export::BlockAction)?;
    let found = interactive(&blocks);
    let mut matching = found.iter().filter(|(b, e, input)| {
        !input && e.action_id() == action_id && block_id.is_none_or(|want| *b == Some(want))
    });
    let Some((block, element, _)) = matching.next() else {
        return refuse(format!(
            "there is no element '{}' to act on there",
            shown(action_id)
        ));
    };
    if matching.next().is_some() {
        return refuse(format!(
            "several elements are named '{}' there; name the block too",
            shown(action_id)
        ));
    }
    let value = acted_value(*element, value)?;
    let trigger = Trigger::new(user);
    let arg = BlockAction {
        trigger: trigger.id.clone(),
        user: user.to_string(),
        room,
        message,
        view,
        block_id: block.map(str::to_string),
        action_id: action_id.to_string(),
        value,
    };
    let out = calls.handler_triggered(&app, &BlockActionCall(&arg), Some(trigger), |_| Ok(()));
    Ok(InteractionReport {
        app: app.id().to_string(),
        report: Some(out.report),
        effects: out.effects,
        errors: BTreeMap::new(),
        closed: false,
    })
}

/// The value an element's action carries: a button's own value (a client
/// that claims another is refused), one of a select's or menu's choices,
/// a real date.
fn acted_value(element: Interactive<'_>, claimed: Option<&str>) -> Result<Option<String>> {
    match element {
        Interactive::Button(b) => {
            if claimed.is_some_and(|c| Some(c) != b.value.as_deref()) {
                return refuse(format!(
                    "button '{}' does not carry that value",
                    shown(&b.action_id)
                ));
            }
            Ok(b.value.clone())
        }
        Interactive::StaticSelect(s) => choice(&s.action_id, &s.choices, claimed).map(Some),
        Interactive::Overflow(o) => choice(&o.action_id, &o.choices, claimed).map(Some),
        Interactive::DatePicker(d) => match claimed {
            Some(day) if is_date(day) => Ok(Some(day.to_string())),
            _ => refuse(format!(
                "date picker '{}' needs a YYYY-MM-DD date",
                shown(&d.action_id)
            )),
        },
        Interactive::TextInput(t) => refuse(format!(
            "input '{}' is part of its view's state, not an action",
            shown(&t.action_id)
        )),
    }
}

fn choice(
    action: &str,
    choices: &[crate::bridge::Choice],
    claimed: Option<&str>,
) -> Result<String> {
    match claimed {
        Some(v) if choices.iter().any(|c| c.value == v) => Ok(v.to_string()),
        _ => refuse(format!(
            "that is not one of the choices of '{}'",
            shown(action)
        )),
    }
}

fn submit(
    calls: &CallEngine,
    set: &AppSet,
    user: &str,
    id: &str,
    state: &[InputValue],
) -> Result<InteractionReport> {
    let view = open_view(calls, id, user)?;
    if view.submit.is_none() {
        return refuse(format!("view '{}' has no submit button", shown(id)));
    }
    let app = enabled(set, &view.app, Export::ViewSubmit)?;
    let inputs: Vec<_> = interactive(&view.blocks)
        .into_iter()
        .filter(|(_, _, input)| *input)
        .collect();
    for (i, v) in state.iter().enumerate() {
        if !inputs
            .iter()
            .any(|(b, e, _)| *b == Some(v.block_id.as_str()) && e.action_id() == v.action_id)
        {
            return refuse(format!(
                "view '{}' has no input '{}' / '{}'",
                shown(id),
                shown(&v.block_id),
                shown(&v.action_id)
            ));
        }
        if state[..i]
            .iter()
            .any(|o| o.block_id == v.block_id && o.action_id == v.action_id)
        {
            return refuse(format!(
                "the input '{}' is submitted twice",
                shown(&v.block_id)
            ));
        }
    }
    // Every input, in the view's order; one left out keeps its initial
    // value (or is empty).
    let mut values = Vec::with_capacity(inputs.len());
    let mut errors = BTreeMap::new();
    for (block, element, _) in &inputs {
        let block = block.unwrap_or_default();
        let initial = match element {
            Interactive::TextInput(t) => t.initial.as_deref(),
            Interactive::StaticSelect(s) => s.initial.as_deref(),
            Interactive::DatePicker(d) => d.initial.as_deref(),
            Interactive::Button(_) | Interactive::Overflow(_) => None,
        };
        let value = state
            .iter()
            .find(|v| v.block_id == block && v.action_id == element.action_id())
            .map_or(initial.unwrap_or(""), |v| v.value.as_str());
        let optional = view.blocks.iter().any(|b| {
            b.block_id.as_deref() == Some(block)
                && matches!(&b.kind, crate::bridge::BlockKind::Input(i) if i.optional)
        });
        if let Some(why) = input_error(*element, value, optional)? {
            errors.insert(block.to_string(), why);
        }
        values.push(InputValue {
            block_id: block.to_string(),
            action_id: element.action_id().to_string(),
            value: value.to_string(),
        });
    }
    if !errors.is_empty() {
        // The host's own checks (required, too long, not a date): the app
        // is not called and the view stays open.
        return Ok(InteractionReport {
            app: app.id().to_string(),
            report: None,
            effects: Vec::new(),
            errors,
            closed: false,
        });
    }
    // One submit (or close) of a view at a time: a second one waits its
    // turn and finds the view closed, so the app never runs twice.
    if !calls.registry.begin_submit(id)? {
        return refuse(format!(
            "view '{}' is being submitted or was closed",
            shown(id)
        ));
    }
    let trigger = Trigger::new(user);
    let arg = ViewSubmit {
        trigger: trigger.id.clone(),
        user: user.to_string(),
        view: id.to_string(),
        state: values,
    };
    let blocks: Vec<&str> = inputs.iter().filter_map(|(b, _, _)| *b).collect();
    let out = calls.handler_triggered(&app, &ViewSubmitCall(&arg), Some(trigger), |errors| {
        for (i, e) in errors.iter().enumerate() {
            if !blocks.contains(&e.block_id.as_str())
                || errors[..i].iter().any(|o| o.block_id == e.block_id)
            {
                return Err(format!(
                    "returned an error for '{}', which is not one of the view's inputs or is named twice",
                    shown(&e.block_id)
                ));
            }
            if e.message.len() > MAX_FIELD_ERROR {
                return Err(format!(
                    "returned a field error of {} bytes; at most {MAX_FIELD_ERROR}",
                    e.message.len()
                ));
            }
        }
        Ok(())
    });
    let errors: BTreeMap<String, String> = out
        .value
        .clone()
        .unwrap_or_default()
        .into_iter()
        .map(|FieldError { block_id, message }| (block_id, message))
        .collect();
    let mut effects = out.effects;
    let committed = out.value.is_some();
    // A submit that the app accepted closes the view, unless the app
    // replaced it (a next step) or closed it itself.
    let kept = effects.iter().any(|e| {
        matches!(e, Effect::OpenView { view, update: true, .. } if view.id == id)
            || matches!(e, Effect::CloseView { id: closed, .. } if closed == id)
    });
    let mut closed = effects
        .iter()
        .any(|e| matches!(e, Effect::CloseView { id: closed, .. } if closed == id));
    if committed && errors.is_empty() && !kept {
        closed = close(calls, &app, &view, &mut effects)?;
    }
    calls.registry.end_submit(id)?;
    Ok(InteractionReport {
        app: app.id().to_string(),
        report: Some(out.report),
        effects,
        errors,
        closed,
    })
}

/// Why an input's value cannot be taken, shown under it; a select value
/// that is not one of its choices is forged and refused outright.
fn input_error(element: Interactive<'_>, value: &str, optional: bool) -> Result<Option<String>> {
    if value.is_empty() {
        return Ok((!optional).then(|| "Please fill this in.".to_string()));
    }
    Ok(match element {
        Interactive::TextInput(t) => t
            .max_length
            .filter(|max| value.chars().count() > *max as usize)
            .map(|max| format!("At most {max} characters.")),
        Interactive::StaticSelect(s) => {
            choice(&s.action_id, &s.choices, Some(value))?;
            None
        }
        Interactive::DatePicker(_) => (!is_date(value)).then(|| "Pick a date.".to_string()),
        Interactive::Button(_) | Interactive::Overflow(_) => None,
    })
}

/// Close `view` for its user (once: of two closes, one wins).
fn close(
    calls: &CallEngine,
    app: &LoadedApp,
    view: &View,
    effects: &mut Vec<Effect>,
) -> Result<bool> {
    if !calls.registry.close_view(&view.id)? {
        return Ok(false);
    }
    let effect = Effect::CloseView {
        app: app.id().to_string(),
        user: view.user.clone(),
        id: view.id.clone(),
    };
    match calls.bridge.deliver(&effect) {
        Ok(()) => effects.push(effect),
        Err(e) => calls.journal.host(
            app.id(),
            "error",
            format!("telling the chat that view {} closed failed: {e}", view.id),
        ),
    }
    Ok(true)
}

fn closed(calls: &CallEngine, set: &AppSet, user: &str, id: &str) -> Result<InteractionReport> {
    let view = open_view(calls, id, user)?;
    let mut effects = Vec::new();
    let Some(app) = set.get(&view.app).cloned() else {
        // Its app is gone: the view just closes.
        calls.registry.close_view(id)?;
        let _ = calls.bridge.deliver(&Effect::CloseView {
            app: view.app.clone(),
            user: view.user.clone(),
            id: view.id.clone(),
        });
        return Ok(InteractionReport {
            app: view.app,
            report: None,
            effects,
            errors: BTreeMap::new(),
            closed: true,
        });
    };
    if !calls.registry.begin_submit(id)? {
        return refuse(format!(
            "view '{}' is being submitted or was closed",
            shown(id)
        ));
    }
    let closed_now = close(calls, &app, &view, &mut effects);
    calls.registry.end_submit(id)?;
    if !closed_now? {
        return refuse(format!("view '{}' is closed already", shown(id)));
    }
    // The app hears of it if it is enabled and listens.
    let report = (app.status == Status::Enabled && app.handles(Export::ViewClosed)).then(|| {
        let arg = ViewClosed {
            user: user.to_string(),
            view: id.to_string(),
        };
        let out = calls.handler_triggered(&app, &ViewClosedCall(&arg), None, |_| Ok(()));
        effects.extend(out.effects);
        out.report
    });
    Ok(InteractionReport {
        app: app.id().to_string(),
        report,
        effects,
        errors: BTreeMap::new(),
        closed: true,
    })
}
