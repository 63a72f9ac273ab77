//! The reference chat: send a message, run a command, read a room.

use std::path::Path;

use anyhow::{Result, bail};
use hangar_host::{Outcome, RefChat, SendStatus};

use crate::{describe, open, print_json};

/// Push a message through the pipeline.
pub fn send(dir: &Path, room: String, user: String, text: String, json: bool) -> Result<()> {
    let (host, chat) = open(dir)?;
    chat.ensure(&room, &user)?;
    let report = host.send_message(&room, &user, &text)?;
    if json {
        return print_json(&report);
    }
    match report.status {
        SendStatus::Sent => say!("sent: {}", report.message.text),
        SendStatus::Prevented => say!(
            "prevented ({}): {}",
            report.reason.as_deref().unwrap_or("?"),
            report.message.text
        ),
    }
    for a in &report.apps {
        if a.outcome == Outcome::Modified {
            say!("  {} {}: changed the message", a.app, a.handler);
        }
        if a.outcome == Outcome::Error {
            say!(
                "  {} {}: error: {}",
                a.app,
                a.handler,
                a.error.as_deref().unwrap_or("")
            );
        }
    }
    for e in &report.effects {
        say!("  {}", describe(e));
    }
    Ok(())
}

/// Run (or preview) a slash command.
pub fn command(
    dir: &Path,
    room: String,
    user: String,
    line: String,
    preview: bool,
    json: bool,
) -> Result<()> {
    let (host, chat) = open(dir)?;
    chat.ensure(&room, &user)?;
    if preview {
        let (items, report) = host.preview(&room, &user, &line)?;
        if json {
            return print_json(&serde_json::json!({ "items": items, "report": report }));
        }
        if let Some(e) = &report.error {
            bail!("{} preview failed: {e}", report.app);
        }
        for i in items {
            say!("{}", i.text);
        }
        return Ok(());
    }
    let report = host.command(&room, &user, &line)?;
    if json {
        return print_json(&report);
    }
    if let Some(e) = &report.report.error {
        bail!("/{} ({}) failed: {e}", report.command, report.app);
    }
    for e in &report.effects {
        say!("{}", describe(e));
    }
    Ok(())
}

/// Show a room's recent messages.
pub fn history(dir: &Path, room: String, lines: usize, json: bool) -> Result<()> {
    let chat = RefChat::open(dir)?;
    let history = chat.history(&room, lines)?;
    if json {
        return print_json(&history);
    }
    for m in history {
        let to = m
            .visible_to
            .map(|u| format!(" (to {u})"))
            .unwrap_or_default();
        say!("{}{to}: {}", m.message.sender, m.message.text);
    }
    Ok(())
}
