//! Reminder: `/remind me in 10 minutes to stretch` schedules a one-shot
//! job; when it is due the processor reminds the person (only they see it)
//! and forgets the reminder. The reminder's record and its job are written
//! in one handler transaction, and the job's run removes the record in its
//! own: a reminder is never lost nor delivered twice, whichever host
//! process runs it. `/remind digest every 60 minutes` posts, to the room,
//! how many reminders are pending (a recurring job; runs missed while no
//! runner was up collapse into one).

use hangar_sdk::{
    Association, Command, Commands, DueJob, Error, Job, Jobs, Modifier, Result, Writer, read,
};
use serde::{Deserialize, Serialize};

/// A pending reminder.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Reminder {
    user: String,
    room: String,
    text: String,
    due: u64,
}

/// The digest's room.
#[derive(Debug, Serialize, Deserialize)]
struct Digest {
    room: String,
}

struct App;

fn pending() -> [Association; 1] {
    [Association::misc("reminder")]
}

/// `in <n> <unit>` as milliseconds.
fn delay(n: &str, unit: &str) -> Option<u64> {
    let n: u64 = n.parse().ok()?;
    let ms = match unit.trim_end_matches('s') {
        "second" | "sec" => 1_000,
        "minute" | "min" => 60_000,
        "hour" => 3_600_000,
        "day" => 86_400_000,
        _ => return None,
    };
    n.checked_mul(ms)
}

const USAGE: &str = "usage: /remind me in <n> seconds|minutes|hours to <text> | list | cancel <id> | digest every <n> minutes | digest off";

#[hangar_sdk::handlers]
impl Commands for App {
    fn execute(command: &Command, writer: &Writer, modifier: &Modifier) -> Result<()> {
        let words: Vec<&str> = command.args.iter().map(String::as_str).collect();
        let reply = match words.as_slice() {
            ["me", "in", n, unit, "to", text @ ..] if !text.is_empty() => {
                let Some(ms) = delay(n, unit) else {
                    return modifier.notify_user(&command.sender, &command.room, USAGE);
                };
                let reminder = Reminder {
                    user: command.sender.clone(),
                    room: command.room.clone(),
                    text: text.join(" "),
                    due: 0,
                };
                let id = modifier.schedule(Job::new("remind", &reminder)?.after_ms(ms))?;
                writer.create_with(
                    &reminder,
                    &[
                        Association::misc("reminder"),
                        Association::misc(format!("job:{id}")),
                    ],
                )?;
                format!("OK, in {n} {unit}: {} (reminder {id})", reminder.text)
            }
            ["list"] => {
                let mine: Vec<String> = read::by_associations::<Reminder>(&pending())?
                    .into_iter()
                    .filter(|r| r.data.user == command.sender)
                    .map(|r| r.data.text)
                    .collect();
                if mine.is_empty() {
                    "no reminders pending".into()
                } else {
                    format!("pending: {}", mine.join("; "))
                }
            }
            ["cancel", id] => {
                let found = modifier.cancel_job(id)?;
                writer.remove_by_associations(&[Association::misc(format!("job:{id}"))])?;
                if found {
                    format!("cancelled {id}")
                } else {
                    format!("no reminder {id}")
                }
            }
            ["digest", "every", n, unit] => {
                let Some(ms) = delay(n, unit) else {
                    return modifier.notify_user(&command.sender, &command.room, USAGE);
                };
                let digest = Digest {
                    room: command.room.clone(),
                };
                modifier.schedule(
                    Job::new("digest", &digest)?
                        .id("digest")
                        .every_ms(ms.max(1000)),
                )?;
                format!("a digest every {n} {unit} in this room")
            }
            ["digest", "off"] => {
                modifier.cancel_job("digest")?;
                "digest off".into()
            }
            _ => USAGE.into(),
        };
        modifier.notify_user(&command.sender, &command.room, &reply)
    }
}

#[hangar_sdk::handlers]
impl Jobs for App {
    fn run(job: &DueJob, writer: &Writer, modifier: &Modifier) -> Result<()> {
        match job.processor.as_str() {
            "remind" => {
                let r: Reminder = job.data()?;
                writer.remove_by_associations(&[Association::misc(format!("job:{}", job.id))])?;
                modifier.notify_user(&r.user, &r.room, &format!("Reminder: {}", r.text))
            }
            "digest" => {
                let d: Digest = job.data()?;
                let n = read::by_associations::<Reminder>(&pending())?.len();
                modifier.send_message(&d.room, &format!("{n} reminders pending"))?;
                Ok(())
            }
            other => Err(Error::App(format!("no processor '{other}'"))),
        }
    }
}

hangar_sdk::export_app!(App, manifest = "hangar.json", handles = [Commands, Jobs]);
