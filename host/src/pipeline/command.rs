//! Slash commands: the line is split into the command and its words, the
//! enabled app that declares the command runs it (a handler, with writer
//! and modifier), previews it (read-only), or acts on the preview item the
//! user picked (a handler).

use std::sync::Arc;

use crate::apps::{AppSet, LoadedApp};
use crate::bindings::{CommandArg, CommandLine, PreviewItemArg};
use crate::call::{CallEngine, Once};
use crate::error::{Error, Result};
use crate::exports::{ExecuteCommand, Export, PickedItem, PreviewCommand};
use crate::report::{AppReport, CommandReport, FailureKind, Outcome, PreviewItem};

/// Most suggestions one preview may return.
const MAX_PREVIEW_ITEMS: usize = 100;

/// The app that provides the command on `line`, and the call's argument.
fn target(
    calls: &CallEngine,
    set: &AppSet,
    at: &Typed<'_>,
) -> Result<(Arc<LoadedApp>, CommandArg)> {
    let Typed {
        room,
        thread,
        sender,
        line,
    } = *at;
    let max = calls.config.max_argument_bytes;
    if let Some(len) = [
        line.len(),
        room.len(),
        sender.len(),
        thread.map_or(0, str::len),
    ]
    .into_iter()
    .find(|l| *l > max)
    {
        return Err(Error::InvalidInput(format!(
            "a command's line, room, thread or sender of {len} bytes is over the limit of {max}"
        )));
    }
    let line = line.trim();
    let body = line.strip_prefix('/').ok_or_else(|| {
        Error::InvalidInput(format!(
            "'{line}' is not a slash command; it must start with '/'"
        ))
    })?;
    let (command, rest) = body.split_once(char::is_whitespace).unwrap_or((body, ""));
    let command = command.to_string();
    if command.is_empty() {
        return Err(Error::InvalidInput("empty slash command".into()));
    }
    let Some(app) = set.command(&command).cloned() else {
        return Err(match set.owner(&command) {
            Some(owner) => Error::InvalidInput(format!(
                "the command '/{command}' belongs to app '{}', which is {}; `hangar enable {}` turns it back on",
                owner.id(),
                owner.status.name(),
                owner.id()
            )),
            None => Error::UnknownCommand(command),
        });
    };
    let arg = CommandArg::new(CommandLine {
        command,
        rest: rest.trim(),
        room,
        sender,
        thread: thread.map(str::to_string),
        trigger: crate::interact::Trigger::new(sender).id,
    });
    Ok((app, arg))
}

/// Where, by whom and what was typed.
#[derive(Clone, Copy)]
pub(crate) struct Typed<'a> {
    pub(crate) room: &'a str,
    pub(crate) thread: Option<&'a str>,
    pub(crate) sender: &'a str,
    pub(crate) line: &'a str,
}

/// Run a slash command line such as `/karma bob`; with `once`, a delivery
/// the chat may repeat, `None` when the command's app handled it before.
pub(crate) fn run(
    calls: &CallEngine,
    set: &AppSet,
    at: &Typed<'_>,
    once: Option<&Once>,
) -> Result<Option<CommandReport>> {
    let (app, arg) = target(calls, set, at)?;
    let trigger = crate::interact::Trigger {
        id: arg.v0_2.trigger.clone(),
        user: at.sender.to_string(),
        used: false,
    };
    let Some(out) = calls.handler_once(&app, &ExecuteCommand(&arg), Some(trigger), once) else {
        return Ok(None);
    };
    Ok(Some(CommandReport {
        app: app.id().to_string(),
        command: arg.command().to_string(),
        report: out.report,
        effects: out.effects,
    }))
}

/// Ask the command's app for a preview (read-only).
pub(crate) fn preview(
    calls: &CallEngine,
    set: &AppSet,
    at: &Typed<'_>,
) -> Result<(Vec<PreviewItem>, AppReport)> {
    let (app, arg) = target(calls, set, at)?;
    if !app.handles(Export::PreviewCommand) {
        return Err(Error::InvalidInput(format!(
            "app '{}' has no preview for '/{}'",
            app.id(),
            arg.command()
        )));
    }
    let mut out = calls.read_only(&app, &PreviewCommand(&arg));
    let items = out.value.take().unwrap_or_default();
    let bytes: usize = items.iter().map(|i| i.id.len() + i.text.len()).sum();
    let max = calls.config.max_argument_bytes;
    if items.len() > MAX_PREVIEW_ITEMS || bytes > max {
        out.report.outcome = Outcome::Error;
        out.report.failure = Some(FailureKind::AppError);
        out.report.error = Some(format!(
            "returned {} preview items ({bytes} bytes); at most {MAX_PREVIEW_ITEMS} items and {max} bytes are shown",
            items.len()
        ));
        return Ok((Vec::new(), out.report));
    }
    Ok((items, out.report))
}

/// Act on the preview item the user picked (a handler).
pub(crate) fn pick(
    calls: &CallEngine,
    set: &AppSet,
    at: &Typed<'_>,
    item: &PreviewItem,
) -> Result<CommandReport> {
    let (app, arg) = target(calls, set, at)?;
    let max = calls.config.max_argument_bytes;
    if item.id.len() + item.text.len() > max {
        return Err(Error::InvalidInput(format!(
            "a preview item of {} bytes is over the limit of {max}",
            item.id.len() + item.text.len()
        )));
    }
    if !app.handles(Export::ExecutePreviewItem) {
        return Err(Error::InvalidInput(format!(
            "app '{}' does not act on picked preview items of '/{}'",
            app.id(),
            arg.command()
        )));
    }
    let item = PreviewItemArg::new(item);
    let trigger = crate::interact::Trigger {
        id: arg.v0_2.trigger.clone(),
        user: at.sender.to_string(),
        used: false,
    };
    let out = calls.handler_triggered(&app, &PickedItem(&item, &arg), Some(trigger), |_| Ok(()));
    Ok(CommandReport {
        app: app.id().to_string(),
        command: arg.command().to_string(),
        report: out.report,
        effects: out.effects,
    })
}
