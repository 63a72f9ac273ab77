//! Slash commands: the line is split into the command and its words, the
//! enabled app that declares the command runs it (a handler, with writer
//! and modifier), or previews it (read-only).

use std::sync::Arc;

use crate::apps::{AppSet, LoadedApp};
use crate::bindings::CommandArg;
use crate::call::CallEngine;
use crate::error::{Error, Result};
use crate::exports::{ExecuteCommand, Export, PreviewCommand};
use crate::report::{AppReport, CommandReport, FailureKind, Outcome, PreviewItem};

/// Most suggestions one preview may return.
const MAX_PREVIEW_ITEMS: usize = 100;

/// The app that provides the command on `line`, and the call's argument.
fn target(
    calls: &CallEngine,
    set: &AppSet,
    line: &str,
    room: &str,
    sender: &str,
) -> Result<(Arc<LoadedApp>, CommandArg)> {
    let max = calls.config.max_argument_bytes;
    if let Some(len) = [line.len(), room.len(), sender.len()]
        .into_iter()
        .find(|l| *l > max)
    {
        return Err(Error::InvalidInput(format!(
            "a command's line, room or sender of {len} bytes is over the limit of {max}"
        )));
    }
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
    let arguments = words.map(str::to_string).collect();
    Ok((app, CommandArg::new(command, arguments, room, sender)))
}

/// Run a slash command line such as `/karma bob`.
pub(crate) fn run(
    calls: &CallEngine,
    set: &AppSet,
    room: &str,
    sender: &str,
    line: &str,
) -> Result<CommandReport> {
    let (app, arg) = target(calls, set, line, room, sender)?;
    let out = calls.handler(&app, &ExecuteCommand(&arg));
    Ok(CommandReport {
        app: app.id().to_string(),
        command: arg.command().to_string(),
        report: out.report,
        effects: out.effects,
    })
}

/// Ask the command's app for a preview (read-only).
pub(crate) fn preview(
    calls: &CallEngine,
    set: &AppSet,
    room: &str,
    sender: &str,
    line: &str,
) -> Result<(Vec<PreviewItem>, AppReport)> {
    let (app, arg) = target(calls, set, line, room, sender)?;
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
