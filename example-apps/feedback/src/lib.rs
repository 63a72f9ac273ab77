//! Feedback: the classic comment box of app-level data from user input.
//!
//! - `/feedback <text>` stores `{text, user, room, time}` associated with the
//!   user (user-level) and with `misc:feedback` (app-level), and thanks the user;
//! - `/feedback list` shows everyone's feedback; `/feedback mine` the caller's;
//! - the command preview (read-only) shows the latest five entries.

use hangar_sdk::{
    Association, Command, Commands, Modifier, PreviewItem, Record, Result, Writer, read,
};
use serde::{Deserialize, Serialize};

/// One piece of feedback.
#[derive(Debug, Serialize, Deserialize)]
struct Feedback {
    text: String,
    user: String,
    room: String,
    /// Milliseconds since the Unix epoch.
    time: u64,
}

struct FeedbackApp;

fn everyone() -> Vec<Record<Feedback>> {
    read::by_associations::<Feedback>(&[Association::misc("feedback")]).unwrap_or_default()
}

fn format(entries: &[Record<Feedback>]) -> String {
    if entries.is_empty() {
        return "no feedback yet".into();
    }
    entries
        .iter()
        .map(|r| format!("- {}: {}", r.data.user, r.data.text))
        .collect::<Vec<_>>()
        .join("\n")
}

fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

#[hangar_sdk::handlers]
impl Commands for FeedbackApp {
    fn execute(command: &Command, writer: &Writer, modifier: &Modifier) -> Result<()> {
        let reply = |text: &str| modifier.notify_user(&command.sender, &command.room, text);
        match command.args.as_slice() {
            [] => reply("usage: /feedback <text> | list | mine"),
            [word] if word == "list" => reply(&format(&everyone())),
            [word] if word == "mine" => {
                let mine = read::by_associations::<Feedback>(&[
                    Association::user(&command.sender),
                    Association::misc("feedback"),
                ])?;
                reply(&format(&mine))
            }
            _ => {
                let entry = Feedback {
                    text: command.text(),
                    user: command.sender.clone(),
                    room: command.room.clone(),
                    time: now_ms(),
                };
                writer.create_with(
                    &entry,
                    &[
                        Association::user(&command.sender),
                        Association::misc("feedback"),
                    ],
                )?;
                hangar_sdk::log::info(&format!("feedback from {}", command.sender));
                reply(&format!("Thanks for your feedback, {}!", command.sender))
            }
        }
    }

    fn preview(_command: &Command) -> Result<Vec<PreviewItem>> {
        let all = everyone();
        Ok(all
            .iter()
            .rev()
            .take(5)
            .map(|r| PreviewItem {
                id: r.id.clone(),
                text: format!("{}: {}", r.data.user, r.data.text),
            })
            .collect())
    }
}

hangar_sdk::export_app!(FeedbackApp, manifest = "hangar.json", handles = [Commands]);
