//! Poll: `/poll` (or the "New poll" button beside the message box) opens a
//! form; its submit posts the poll, one vote button per option. A vote
//! updates the poll message in place: counts, a bar, and who voted unless
//! the poll is anonymous. Single-choice polls move a vote; multiple-choice
//! polls toggle it. The creator may close the poll. `/poll "Question?"
//! "A" "B" [--multiple] [--anonymous]` creates one without the form.
//!
//! A poll is one record whose id is the poll message's id; each vote is
//! one handler (one transaction) that reads it, changes it and edits the
//! message, so concurrent votes are all counted.

use std::collections::BTreeMap;

use hangar_sdk::{
    ActionButton, Block, BlockAction, Button, Choice, Command, Commands, Content, FieldError,
    Interactions, Message, Modifier, Result, StaticSelect, Text, TextInput, View, ViewSubmit,
    Writer, read,
};
use serde::{Deserialize, Serialize};

struct Polls;

/// Most options a poll has.
const MAX_OPTIONS: usize = 10;

/// A poll, stored under its message's id.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Poll {
    question: String,
    options: Vec<String>,
    multiple: bool,
    anonymous: bool,
    creator: String,
    room: String,
    closed: bool,
    /// Each voter's chosen options.
    votes: BTreeMap<String, Vec<usize>>,
}

/// Where a form's poll goes, stored under the form's view id.
#[derive(Debug, Serialize, Deserialize)]
struct Pending {
    room: String,
    thread: Option<String>,
}

impl Poll {
    fn count(&self, option: usize) -> usize {
        self.votes.values().filter(|v| v.contains(&option)).count()
    }

    fn voters(&self, option: usize) -> Vec<&str> {
        self.votes
            .iter()
            .filter(|(_, v)| v.contains(&option))
            .map(|(who, _)| who.as_str())
            .collect()
    }

    /// Record `user`'s click on `option`: single choice moves the vote
    /// (a second click takes it back), multiple choice toggles it.
    fn vote(&mut self, user: &str, option: usize) {
        let mine = self.votes.entry(user.to_string()).or_default();
        if let Some(at) = mine.iter().position(|o| *o == option) {
            mine.remove(at);
        } else if self.multiple {
            mine.push(option);
        } else {
            *mine = vec![option];
        }
        if mine.is_empty() {
            self.votes.remove(user);
        }
    }

    /// The poll message: the question, one section per option with its
    /// count, bar, voters and vote button, and the creator's close button.
    fn content(&self) -> Content {
        let total: usize = (0..self.options.len()).map(|i| self.count(i)).sum();
        let mut summary = format!("Poll: {}", self.question);
        // People's words (the question, options, names) go in as plain
        // text: markdown in them must not become links or formatting.
        let mut message =
            Message::new(&self.room).block(Block::section(Text::plain(&self.question)));
        for (i, option) in self.options.iter().enumerate() {
            let n = self.count(i);
            summary.push_str(&format!(" | {option}: {n}"));
            let width = (n * 10).checked_div(total).unwrap_or(0);
            let mut line = format!(
                "{option}  {}{}  {n} vote{}",
                "█".repeat(width),
                "░".repeat(10 - width),
                if n == 1 { "" } else { "s" }
            );
            if !self.anonymous && n > 0 {
                line.push_str(&format!("\n{}", self.voters(i).join(", ")));
            }
            let mut block = Block::section(Text::plain(line)).id(format!("option-{i}"));
            if !self.closed {
                block = block.accessory(Button::new("vote", "Vote").value(i.to_string()));
            }
            message = message.block(block);
        }
        let how = format!(
            "{} · {} · by {}{}",
            if self.multiple {
                "several choices"
            } else {
                "one choice"
            },
            if self.anonymous {
                "anonymous"
            } else {
                "public"
            },
            self.creator,
            if self.closed { " · closed" } else { "" }
        );
        message = message.block(Block::context([Text::plain(how).into()]));
        if !self.closed {
            message = message.block(
                Block::actions([Button::new("close", "Close poll").danger().into()]).id("controls"),
            );
        }
        message.text(summary).into()
    }
}

/// The form that creates a poll.
fn form() -> View {
    View::modal("New poll")
        .block(
            Block::input(
                "Question",
                TextInput::new("text")
                    .placeholder("Where do we eat?")
                    .max_length(200),
            )
            .id("question"),
        )
        .block(
            Block::input(
                "Options",
                TextInput::new("text").multiline().max_length(2000),
            )
            .hint("One per line, 2 to 10")
            .id("options"),
        )
        .block(
            Block::input(
                "Votes",
                StaticSelect::new(
                    "choice",
                    [
                        Choice::new("One choice each", "single"),
                        Choice::new("Several choices each", "multiple"),
                    ],
                )
                .initial("single"),
            )
            .id("mode"),
        )
        .block(
            Block::input(
                "Voters",
                StaticSelect::new(
                    "choice",
                    [
                        Choice::new("Shown", "public"),
                        Choice::new("Anonymous", "anonymous"),
                    ],
                )
                .initial("public"),
            )
            .id("visibility"),
        )
        .submit("Create")
        .close("Cancel")
}

/// The options typed in the form, or why they will not do.
fn options(text: &str) -> std::result::Result<Vec<String>, String> {
    let options: Vec<String> = text
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(str::to_string)
        .collect();
    if options.len() < 2 {
        return Err("Give at least two options, one per line.".into());
    }
    if options.len() > MAX_OPTIONS {
        return Err(format!("At most {MAX_OPTIONS} options."));
    }
    if let Some(twice) = options
        .iter()
        .enumerate()
        .find(|(i, o)| options[..*i].contains(o))
    {
        return Err(format!("'{}' is there twice.", twice.1));
    }
    Ok(options)
}

/// Post a new poll and store it under its message's id.
fn post(poll: Poll, thread: Option<String>, writer: &Writer, modifier: &Modifier) -> Result<()> {
    let mut message = Message::new(&poll.room);
    if let Some(root) = thread {
        message = message.thread(root);
    }
    message.content = poll.content();
    let id = modifier.send(message)?;
    writer.update(&id, &poll, true)?;
    Ok(())
}

fn open_form(
    trigger: &str,
    room: &str,
    thread: Option<String>,
    writer: &Writer,
    modifier: &Modifier,
) -> Result<()> {
    let view = modifier.open_view(trigger, form())?;
    writer.update(
        &view,
        &Pending {
            room: room.to_string(),
            thread,
        },
        true,
    )?;
    Ok(())
}

#[hangar_sdk::handlers]
impl Commands for Polls {
    fn execute(command: &Command, writer: &Writer, modifier: &Modifier) -> Result<()> {
        if command.args.is_empty() {
            return open_form(
                &command.trigger,
                &command.room,
                command.thread.clone(),
                writer,
                modifier,
            );
        }
        let flag = |f: &str| command.args.iter().any(|a| a == f);
        let words: Vec<&String> = command
            .args
            .iter()
            .filter(|a| !a.starts_with("--"))
            .collect();
        let Some((question, rest)) = words.split_first() else {
            return modifier.notify_user(&command.sender, &command.room, "usage: /poll");
        };
        let list: Vec<&str> = rest.iter().map(|s| s.as_str()).collect();
        let options = match options(&list.join("\n")) {
            Ok(o) => o,
            Err(why) => return modifier.notify_user(&command.sender, &command.room, &why),
        };
        let poll = Poll {
            question: question.to_string(),
            options,
            multiple: flag("--multiple"),
            anonymous: flag("--anonymous"),
            creator: command.sender.clone(),
            room: command.room.clone(),
            closed: false,
            votes: BTreeMap::new(),
        };
        post(poll, command.thread.clone(), writer, modifier)
    }
}

#[hangar_sdk::handlers]
impl Interactions for Polls {
    fn block_action(action: &BlockAction, writer: &Writer, modifier: &Modifier) -> Result<()> {
        let Some(id) = &action.message else {
            return Ok(());
        };
        let Some(found) = read::by_id::<Poll>(id)? else {
            return Ok(());
        };
        let mut poll = found.data;
        let room = poll.room.clone();
        if poll.closed {
            return modifier.notify_user(&action.user, &room, "This poll is closed.");
        }
        match action.action_id.as_str() {
            "vote" => {
                let option: usize = action
                    .value
                    .as_deref()
                    .and_then(|v| v.parse().ok())
                    .filter(|o| *o < poll.options.len())
                    .ok_or_else(|| hangar_sdk::Error::App("no such option".into()))?;
                poll.vote(&action.user, option);
            }
            "close" if action.user == poll.creator => poll.closed = true,
            "close" => {
                return modifier.notify_user(
                    &action.user,
                    &room,
                    &format!("Only {} can close this poll.", poll.creator),
                );
            }
            _ => return Ok(()),
        }
        writer.update(id, &poll, false)?;
        modifier.update_message(id, poll.content())
    }

    fn view_submit(
        submit: &ViewSubmit,
        writer: &Writer,
        modifier: &Modifier,
    ) -> Result<Vec<FieldError>> {
        let Some(pending) = read::by_id::<Pending>(&submit.view)? else {
            return Ok(vec![FieldError::new(
                "question",
                "This form is too old; open a new one.",
            )]);
        };
        if submit.value("question").trim().is_empty() {
            return Ok(vec![FieldError::new("question", "Ask something.")]);
        }
        let options = match options(submit.value("options")) {
            Ok(o) => o,
            Err(why) => return Ok(vec![FieldError::new("options", why)]),
        };
        let poll = Poll {
            question: submit.value("question").trim().to_string(),
            options,
            multiple: submit.value("mode") == "multiple",
            anonymous: submit.value("visibility") == "anonymous",
            creator: submit.user.clone(),
            room: pending.data.room,
            closed: false,
            votes: BTreeMap::new(),
        };
        writer.remove(&submit.view)?;
        post(poll, pending.data.thread, writer, modifier)?;
        Ok(Vec::new())
    }

    fn view_closed(
        closed: &hangar_sdk::ViewClosed,
        writer: &Writer,
        _modifier: &Modifier,
    ) -> Result<()> {
        writer.remove(&closed.view)?;
        Ok(())
    }

    fn action_button(click: &ActionButton, writer: &Writer, modifier: &Modifier) -> Result<()> {
        open_form(
            &click.trigger,
            &click.room,
            click.thread.clone(),
            writer,
            modifier,
        )
    }
}

hangar_sdk::export_app!(
    Polls,
    manifest = "hangar.json",
    handles = [Commands, Interactions]
);
