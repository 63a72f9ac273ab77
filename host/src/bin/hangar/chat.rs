//! The reference chat: send a message, run a command, read a room, and
//! the chat operations that raise the app events (rooms, membership,
//! edits, deletes, reactions, users). Each operation runs the event's pre
//! stage (apps may prevent it), carries it out, then its post stage.

use std::path::Path;

use anyhow::{Result, bail};
use clap::Subcommand;
use hangar_host::{
    Done, Driver, EventReport, Outcome, PreviewItem, RefChat, Room, RoomKind, SendStatus,
};
use serde::Serialize;

use crate::{describe, open, print_json};

/// Print what the apps did for the events raised on the way.
fn say_events(reports: &[EventReport]) {
    for r in reports {
        for a in &r.apps {
            if a.outcome == Outcome::Error {
                say!("  {} {}: error: {}", a.app, a.handler, a.headline());
            }
        }
        for e in &r.effects {
            say!("  {}", describe(e));
        }
    }
}

/// Push a message through the pipeline.
pub fn send(
    dir: &Path,
    room: String,
    user: String,
    text: String,
    thread: Option<String>,
    json: bool,
) -> Result<()> {
    let driver = driver(dir)?;
    let report = driver.send(&room, &user, &text, thread.as_deref())?;
    if json {
        return print_json(&report);
    }
    match report.status {
        SendStatus::Sent | SendStatus::Checked => {
            say!("sent {}: {}", report.message.id, report.message.text)
        }
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

fn driver(dir: &Path) -> Result<Driver> {
    let (host, chat) = open(dir)?;
    Ok(Driver::new(host, chat))
}

/// How `hangar command` runs the line.
pub struct CommandMode {
    /// Show the preview instead.
    pub preview: bool,
    /// Act on this picked preview item (id) instead.
    pub pick: Option<String>,
    /// The thread it is typed in.
    pub thread: Option<String>,
}

/// Run (or preview, or pick an item of) a slash command.
pub fn command(
    dir: &Path,
    room: String,
    user: String,
    line: String,
    mode: CommandMode,
    json: bool,
) -> Result<()> {
    let driver = driver(dir)?;
    let host = driver.host();
    driver.ensure(&room, &user)?;
    if mode.preview || mode.pick.is_some() {
        let (items, report) = host.preview(&room, &user, &line)?;
        if let Some(e) = &report.error {
            if json && mode.pick.is_none() {
                return print_json(&serde_json::json!({ "items": items, "report": report }));
            }
            bail!("{} preview failed: {e}", report.app);
        }
        if let Some(id) = mode.pick {
            let Some(item) = items.iter().find(|i| i.id == id) else {
                let offered: Vec<&str> = items.iter().map(|i| i.id.as_str()).collect();
                bail!(
                    "the preview of '{line}' offers no item '{id}' (it offers: {})",
                    if offered.is_empty() {
                        "none".into()
                    } else {
                        offered.join(", ")
                    }
                );
            };
            return finish(host.pick_preview_item(&room, &user, &line, item)?, json);
        }
        if json {
            return print_json(&serde_json::json!({ "items": items, "report": report }));
        }
        for PreviewItem { id, text } in items {
            say!("{id}  {text}");
        }
        return Ok(());
    }
    let report = driver.command(&room, &user, &line, mode.thread.as_deref())?;
    finish(report, json)
}

fn finish(report: hangar_host::CommandReport, json: bool) -> Result<()> {
    if json {
        return print_json(&report);
    }
    if let Some(e) = &report.report.error {
        let kind = report
            .report
            .error_kind
            .filter(|k| *k != hangar_host::ErrorKind::App)
            .map(|k| {
                format!(
                    " [{}]",
                    serde_json::to_value(k)
                        .unwrap_or_default()
                        .as_str()
                        .unwrap_or("")
                )
            })
            .unwrap_or_default();
        bail!("/{} ({}) failed{kind}: {e}", report.command, report.app);
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
        let to = match (&m.visible_to, m.notice) {
            (Some(u), _) => format!(" (to {u})"),
            (None, true) => " (notice)".into(),
            _ => String::new(),
        };
        let thread = m
            .message
            .thread
            .as_ref()
            .map(|t| format!(" [thread {t}]"))
            .unwrap_or_default();
        let edited = if m.message.edited_at.is_some() {
            " (edited)"
        } else {
            ""
        };
        say!(
            "{} {}{to}{thread}: {}{edited}",
            m.message.id,
            m.message.sender,
            m.message.text
        );
        for a in &m.message.attachments {
            let title = a.title.as_deref().unwrap_or("");
            say!(
                "    [attachment] {title} {}",
                a.text.as_deref().unwrap_or("")
            );
            for f in &a.fields {
                say!("      {}: {}", f.title, f.value);
            }
        }
        if !m.message.blocks.is_empty() {
            say!("    [{} blocks]", m.message.blocks.len());
        }
        for (reaction, users) in &m.reactions {
            say!("    {reaction} {}", users.join(", "));
        }
    }
    Ok(())
}

/// Operations on the reference chat that raise app events.
#[derive(Debug, Subcommand)]
pub enum ChatCmd {
    /// List rooms with their kind and members.
    Rooms {
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Create a room (raises room-created).
    CreateRoom {
        /// Its name (also its id).
        name: String,
        /// Who creates it (and joins it).
        #[arg(long)]
        user: String,
        /// Members only.
        #[arg(long)]
        private: bool,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Delete a room with its messages (raises room-deleted).
    DeleteRoom {
        /// Room id.
        room: String,
        /// Who deletes it.
        #[arg(long)]
        user: String,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Join a room (raises room-user-joined).
    Join {
        /// Room id (created on first use).
        room: String,
        /// Who joins.
        #[arg(long)]
        user: String,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Leave a room (raises room-user-left).
    Leave {
        /// Room id.
        room: String,
        /// Who leaves.
        #[arg(long)]
        user: String,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Replace a message's text (raises message-updated).
    Edit {
        /// Message id.
        message: String,
        /// The new text.
        text: String,
        /// Who edits.
        #[arg(long)]
        user: String,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Delete a message (raises message-deleted).
    Delete {
        /// Message id.
        message: String,
        /// Who deletes it.
        #[arg(long)]
        user: String,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// React to a message (raises message-reacted).
    React {
        /// Message id.
        message: String,
        /// The reaction, such as :thumbsup:.
        reaction: String,
        /// Who reacts.
        #[arg(long)]
        user: String,
        /// Take the reaction back instead.
        #[arg(long)]
        remove: bool,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Log a user in (raises user-logged-in; user-created if new).
    Login {
        /// Who.
        #[arg(long)]
        user: String,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Change a user's display name (raises user-updated).
    Rename {
        /// The new display name.
        display_name: String,
        /// Who.
        #[arg(long)]
        user: String,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Set a server setting apps with server-setting.read can read.
    ServerSetting {
        /// Setting id.
        id: String,
        /// Its value, as JSON (a bare word is taken as a string).
        value: String,
    },
}

fn report(done: Done, what: &str, json: bool) -> Result<()> {
    if json {
        return print_json(&done);
    }
    if done.done {
        say!("{what}");
    } else {
        say!(
            "not done ({}): {what}",
            done.reason.as_deref().unwrap_or("?")
        );
    }
    say_events(&done.events);
    Ok(())
}

/// Run one chat operation.
pub fn chat(dir: &Path, op: ChatCmd) -> Result<()> {
    let driver = match op {
        ChatCmd::ServerSetting { id, value } => {
            let chat = RefChat::open(dir)?;
            let value = serde_json::from_str(&value).unwrap_or(serde_json::Value::String(value));
            chat.set_server_setting(&id, &value)?;
            say!("server setting {id} = {value}");
            return Ok(());
        }
        ChatCmd::Rooms { json } => return rooms(dir, json),
        _ => driver(dir)?,
    };
    let d = &driver;
    let (done, what, json) = match op {
        ChatCmd::CreateRoom {
            name,
            user,
            private,
            json,
        } => {
            let kind = if private {
                RoomKind::PrivateGroup
            } else {
                RoomKind::Channel
            };
            (
                d.create_room(&name, &user, kind)?,
                format!("created #{name}"),
                json,
            )
        }
        ChatCmd::DeleteRoom { room, user, json } => (
            d.delete_room(&room, &user)?,
            format!("deleted #{room}"),
            json,
        ),
        ChatCmd::Join { room, user, json } => (
            d.join(&room, &user)?,
            format!("{user} joined #{room}"),
            json,
        ),
        ChatCmd::Leave { room, user, json } => {
            (d.leave(&room, &user)?, format!("{user} left #{room}"), json)
        }
        ChatCmd::Edit {
            message,
            text,
            user,
            json,
        } => (
            d.edit(&message, &user, &text)?,
            format!("edited {message}"),
            json,
        ),
        ChatCmd::Delete {
            message,
            user,
            json,
        } => (
            d.delete(&message, &user)?,
            format!("deleted {message}"),
            json,
        ),
        ChatCmd::React {
            message,
            reaction,
            user,
            remove,
            json,
        } => {
            let what = if remove {
                format!("{user} took back {reaction}")
            } else {
                format!("{user} reacted {reaction}")
            };
            (d.react(&message, &user, &reaction, !remove)?, what, json)
        }
        ChatCmd::Login { user, json } => (d.login(&user)?, format!("{user} logged in"), json),
        ChatCmd::Rename {
            display_name,
            user,
            json,
        } => (
            d.rename(&user, &display_name)?,
            format!("{user} is now shown as {display_name}"),
            json,
        ),
        ChatCmd::Rooms { .. } | ChatCmd::ServerSetting { .. } => unreachable!("handled above"),
    };
    report(done, &what, json)
}

fn rooms(dir: &Path, json: bool) -> Result<()> {
    let chat = RefChat::open(dir)?;
    #[derive(Serialize)]
    struct Listed {
        #[serde(flatten)]
        room: Room,
        members: Vec<String>,
    }
    let mut list = Vec::new();
    for room in chat.rooms()? {
        let members = chat.members(&room.id)?;
        list.push(Listed { room, members });
    }
    if json {
        return print_json(&list);
    }
    for l in list {
        say!(
            "#{} ({}, {}) {}: {}",
            l.room.id,
            l.room.name,
            l.room.kind.name(),
            l.room.creator,
            l.members.join(", ")
        );
    }
    Ok(())
}
