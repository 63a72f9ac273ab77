//! Standup: `/standup` reads the room's recent history and posts a
//! summary, one attachment per person with what they said, as a reply in
//! a thread (the thread the command was typed in, or a new "Standup" root
//! message). Asked again in the same room, it edits that summary in place
//! (same message id) instead of posting another; `/standup reset` starts
//! over. The room's summary is one record, so two `/standup` at once never
//! post two summaries.

use hangar_sdk::{
    Association, Attachment, Block, Command, Commands, Content, Message, Modifier, Result, Text,
    Writer, read,
};
use serde::{Deserialize, Serialize};

/// The room's summary: the thread it lives in and its message id.
#[derive(Debug, Serialize, Deserialize)]
struct Summary {
    room: String,
    thread: String,
    message: String,
}

struct Standup;

/// How many of the room's latest messages are summarised.
const HISTORY: u32 = 50;
/// How many lines per person are shown.
const LINES: usize = 3;

fn key(room: &str) -> [Association; 2] {
    [Association::room(room), Association::misc("standup")]
}

/// The summary of `room`'s recent messages by people (not bots, not
/// commands), one attachment per person in order of first message.
fn summary(room: &str) -> Result<Content> {
    let bot = read::app_user().id;
    let mut people: Vec<(String, Vec<String>)> = Vec::new();
    for m in read::room_messages(room, HISTORY)? {
        if m.sender == bot || m.sender.starts_with("app:") || m.text.starts_with('/') {
            continue;
        }
        match people.iter_mut().find(|(who, _)| *who == m.sender) {
            Some((_, lines)) => lines.push(m.text),
            None => people.push((m.sender.clone(), vec![m.text])),
        }
    }
    let updates: usize = people.iter().map(|(_, l)| l.len()).sum();
    let mut message = Message::new(room)
        .text(format!(
            "Standup: {updates} updates from {} people",
            people.len()
        ))
        .block(Block::section(Text::markdown(format!(
            "*Standup* for the last {HISTORY} messages"
        ))));
    for (who, lines) in people {
        let recent = &lines[lines.len().saturating_sub(LINES)..];
        message = message.attach(
            Attachment::new()
                .author(&who)
                .text(recent.join("\n"))
                .field("Messages", lines.len().to_string(), true),
        );
    }
    Ok(message.into())
}

#[hangar_sdk::handlers]
impl Commands for Standup {
    fn execute(command: &Command, writer: &Writer, modifier: &Modifier) -> Result<()> {
        let room = &command.room;
        let existing = read::by_associations::<Summary>(&key(room))?;
        if command.args.first().map(String::as_str) == Some("reset") {
            writer.remove_by_associations(&key(room))?;
            return modifier.notify_user(&command.sender, room, "standup: starting over");
        }
        let content = summary(room)?;
        if let Some(found) = existing.first() {
            modifier.update_message(&found.data.message, content)?;
            return modifier.notify_user(
                &command.sender,
                room,
                "standup: the summary in the thread is up to date",
            );
        }
        let thread = match &command.thread {
            Some(root) => root.clone(),
            None => modifier.send_message(room, "Standup")?,
        };
        let mut reply = Message::new(room).thread(&thread);
        reply.content = content;
        let message = modifier.send(reply)?;
        writer.create_with(
            &Summary {
                room: room.clone(),
                thread,
                message,
            },
            &key(room),
        )?;
        Ok(())
    }
}

hangar_sdk::export_app!(Standup, manifest = "hangar.json", handles = [Commands]);
