//! Drive the reference chat as its users would, raising the app events
//! around each operation: the pre stage (apps may prevent it), the
//! operation on [`RefChat`], then the post stage. The CLI and the app test
//! kit both go through here, so an operation means the same in a terminal,
//! a test and the docs.

use std::sync::Arc;

use serde::Serialize;

use crate::bridge::{Bridge, ChatEvent, Content, Message, Room, RoomKind, User};
use crate::error::{Error, Result};
use crate::host::Host;
use crate::refchat::RefChat;
use crate::report::{CommandReport, EventReport, SendReport};

/// A host and the reference chat it is embedded in.
#[derive(Debug, Clone)]
pub struct Driver {
    host: Host,
    chat: Arc<RefChat>,
}

/// What a chat operation did: whether it happened, and what the apps did
/// at each stage.
#[derive(Debug, Clone, Serialize)]
pub struct Done {
    /// False when an app prevented it, or there was nothing to do.
    pub done: bool,
    /// The app that prevented it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub prevented_by: Option<String>,
    /// Why it was prevented.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// The events raised, in order, with each app's report and effects.
    pub events: Vec<EventReport>,
}

impl Done {
    fn happened(events: Vec<EventReport>) -> Done {
        Done {
            done: true,
            prevented_by: None,
            reason: None,
            events,
        }
    }
}

fn missing(what: &str, id: &str) -> Error {
    Error::InvalidInput(format!("no {what} '{id}'"))
}

impl Driver {
    /// Drive `chat` through `host` (built over that chat as its bridge).
    pub fn new(host: Host, chat: Arc<RefChat>) -> Driver {
        Driver { host, chat }
    }

    /// The host.
    pub fn host(&self) -> &Host {
        &self.host
    }

    /// The chat.
    pub fn chat(&self) -> &RefChat {
        &self.chat
    }

    fn room(&self, id: &str) -> Result<Room> {
        self.chat
            .room(id)
            .map_err(Error::InvalidInput)?
            .ok_or_else(|| missing("room", id))
    }

    fn user(&self, id: &str) -> Result<User> {
        self.chat
            .user(id)
            .map_err(Error::InvalidInput)?
            .ok_or_else(|| missing("user", id))
    }

    fn message(&self, id: &str) -> Result<Message> {
        self.chat
            .message(id)
            .map_err(Error::InvalidInput)?
            .ok_or_else(|| missing("message", id))
    }

    /// Raise `pre`; unless prevented, `apply` the operation and raise the
    /// post event it yields.
    fn around<T>(
        &self,
        pre: &ChatEvent,
        apply: impl FnOnce() -> Result<T>,
        post: impl FnOnce(T) -> Option<ChatEvent>,
    ) -> Result<Done> {
        let first = self.host.pre_event(pre)?;
        if first.prevented {
            return Ok(Done {
                done: false,
                prevented_by: first.prevented_by.clone(),
                reason: first.reason.clone(),
                events: vec![first],
            });
        }
        let value = apply()?;
        let mut events = vec![first];
        if let Some(event) = post(value) {
            events.push(self.host.post_event(&event)?);
        }
        Ok(Done::happened(events))
    }

    /// A chat person who speaks or logs in: never an app's bot user, which
    /// speaks only through its app's modifier (a bot may still join rooms).
    fn person(user: &str) -> Result<()> {
        if user.starts_with("app:") {
            return Err(crate::Error::InvalidInput(format!(
                "'{}' is an app's bot user: apps act through their modifier, never as a chat user",
                user.chars().take(100).collect::<String>()
            )));
        }
        Ok(())
    }

    /// Make sure the room, the user and their membership exist, raising
    /// the post events of what was new (user created, room created, user
    /// joined): what a chat does when someone first speaks in a room.
    pub fn ensure(&self, room: &str, user: &str) -> Result<Vec<EventReport>> {
        Self::person(user)?;
        let new = self.chat.ensure(room, user)?;
        let mut reports = Vec::new();
        if new.user_created {
            let user = self.user(user)?;
            reports.push(self.host.post_event(&ChatEvent::UserCreated { user })?);
        }
        if new.room_created {
            let event = ChatEvent::RoomCreated {
                room: self.room(room)?,
                by: user.to_string(),
            };
            reports.push(self.host.post_event(&event)?);
        }
        if new.joined {
            let event = ChatEvent::UserJoined {
                room: self.room(room)?,
                user: self.user(user)?,
            };
            reports.push(self.host.post_event(&event)?);
        }
        Ok(reports)
    }

    /// `user` says `text` in `room` (in `thread`, if given).
    pub fn send(
        &self,
        room: &str,
        user: &str,
        text: &str,
        thread: Option<&str>,
    ) -> Result<SendReport> {
        self.ensure(room, user)?;
        self.host.send(Message {
            room: room.to_string(),
            sender: user.to_string(),
            text: text.to_string(),
            thread: thread.map(str::to_string),
            timestamp: crate::registry::now_ms(),
            ..Message::default()
        })
    }

    /// `user` runs the slash command `line` in `room` (in `thread`).
    pub fn command(
        &self,
        room: &str,
        user: &str,
        line: &str,
        thread: Option<&str>,
    ) -> Result<CommandReport> {
        self.ensure(room, user)?;
        self.host.command_in_thread(room, thread, user, line)
    }

    /// `user` creates room `name` (its id too), joining it.
    pub fn create_room(&self, name: &str, user: &str, kind: RoomKind) -> Result<Done> {
        Self::person(user)?;
        if self.chat.ensure_user(user)? {
            let created = ChatEvent::UserCreated {
                user: self.user(user)?,
            };
            self.host.post_event(&created)?;
        }
        if self.room(name).is_ok() {
            return Err(Error::InvalidInput(format!("room '{name}' exists already")));
        }
        let room = Room {
            id: name.to_string(),
            name: name.to_string(),
            kind,
            creator: user.to_string(),
        };
        let event = ChatEvent::RoomCreated {
            room: room.clone(),
            by: user.to_string(),
        };
        let members = [user.to_string()];
        self.around(
            &event,
            || self.chat.create_room(&room, &members),
            |_| Some(event.clone()),
        )
    }

    /// `user` deletes room `id` with its messages.
    pub fn delete_room(&self, id: &str, user: &str) -> Result<Done> {
        let event = ChatEvent::RoomDeleted {
            room: self.room(id)?,
            by: user.to_string(),
        };
        self.around(
            &event,
            || self.chat.delete_room(id),
            |_| Some(event.clone()),
        )
    }

    /// `user` joins `room` (both created if new).
    pub fn join(&self, room: &str, user: &str) -> Result<Done> {
        if self.chat.ensure_user(user)? {
            let created = ChatEvent::UserCreated {
                user: self.user(user)?,
            };
            self.host.post_event(&created)?;
        }
        if self.room(room).is_err() {
            let new = Room {
                id: room.to_string(),
                name: room.to_string(),
                kind: RoomKind::Channel,
                creator: user.to_string(),
            };
            let created = ChatEvent::RoomCreated {
                room: new.clone(),
                by: user.to_string(),
            };
            let done = self.around(
                &created,
                || self.chat.create_room(&new, &[]),
                |_| Some(created.clone()),
            )?;
            if !done.done {
                return Ok(done);
            }
        }
        if self.chat.members(room)?.iter().any(|m| m == user) {
            return Err(Error::InvalidInput(format!(
                "{user} is a member of #{room} already"
            )));
        }
        let event = ChatEvent::UserJoined {
            room: self.room(room)?,
            user: self.user(user)?,
        };
        self.around(
            &event,
            || self.chat.join(room, user),
            |_| Some(event.clone()),
        )
    }

    /// `user` leaves `room`.
    pub fn leave(&self, room: &str, user: &str) -> Result<Done> {
        if !self.chat.members(room)?.iter().any(|m| m == user) {
            return Err(Error::InvalidInput(format!(
                "{user} is not a member of #{room}"
            )));
        }
        let event = ChatEvent::UserLeft {
            room: self.room(room)?,
            user: self.user(user)?,
        };
        self.around(
            &event,
            || self.chat.leave(room, user),
            |_| Some(event.clone()),
        )
    }

    /// `user` replaces the text of message `id`.
    pub fn edit(&self, id: &str, user: &str, text: &str) -> Result<Done> {
        let previous = self.message(id)?;
        let content = Content {
            text: text.to_string(),
            ..previous.content()
        };
        let mut proposed = previous.clone();
        proposed.set_content(content.clone());
        let event = ChatEvent::MessageUpdated {
            message: proposed,
            previous,
            editor: user.to_string(),
        };
        self.around(
            &event,
            || self.chat.edit(id, &content),
            |changed| {
                changed.map(|(previous, message)| ChatEvent::MessageUpdated {
                    message,
                    previous,
                    editor: user.to_string(),
                })
            },
        )
    }

    /// `user` deletes message `id`.
    pub fn delete(&self, id: &str, user: &str) -> Result<Done> {
        let event = ChatEvent::MessageDeleted {
            message: self.message(id)?,
            by: user.to_string(),
        };
        self.around(
            &event,
            || self.chat.delete_message(id),
            |_| Some(event.clone()),
        )
    }

    /// `user` adds (or with `added` false, takes back) `reaction` on
    /// message `id`.
    pub fn react(&self, id: &str, user: &str, reaction: &str, added: bool) -> Result<Done> {
        let message = self.message(id)?;
        if !self.chat.react(id, user, reaction, added)? {
            return Ok(Done {
                done: false,
                prevented_by: None,
                reason: Some("nothing changed".into()),
                events: Vec::new(),
            });
        }
        let event = ChatEvent::MessageReacted {
            message,
            user: user.to_string(),
            reaction: reaction.to_string(),
            added,
        };
        Ok(Done::happened(vec![self.host.post_event(&event)?]))
    }

    /// `user` logs in (created if new).
    pub fn login(&self, user: &str) -> Result<Done> {
        Self::person(user)?;
        let mut events = Vec::new();
        if self.chat.ensure_user(user)? {
            let created = ChatEvent::UserCreated {
                user: self.user(user)?,
            };
            events.push(self.host.post_event(&created)?);
        }
        let event = ChatEvent::UserLoggedIn {
            user: self.user(user)?,
        };
        events.push(self.host.post_event(&event)?);
        Ok(Done::happened(events))
    }

    /// `user` changes their display name.
    pub fn rename(&self, user: &str, display_name: &str) -> Result<Done> {
        let Some(updated) = self.chat.rename_user(user, display_name)? else {
            return Err(missing("user", user));
        };
        let event = ChatEvent::UserUpdated { user: updated };
        Ok(Done::happened(vec![self.host.post_event(&event)?]))
    }
}
