//! Write Hangar apps in Rust.
//!
//! An app is a type that implements the event-family traits it needs
//! ([`Lifecycle`], [`Messages`], [`Commands`], [`Settings`], [`Events`],
//! [`Endpoints`], [`Jobs`]; every method has a
//! default), each in an impl block marked [`#[hangar_sdk::handlers]`](handlers),
//! registered with [`export_app!`]. The methods an app writes are the events
//! it handles, declared once: the attribute records them, and `export_app!`
//! embeds them with the SDK's [`API_VERSION`] in the component, next to the
//! app's manifest (a JSON file in the crate). Build it for `wasm32-wasip2`
//! (`hangar build`) and install the `.wasm` into a host.
//!
//! Each call runs in a fresh instance: keep nothing in statics, keep state
//! in persistence. Reads ([`read`], settings, chat lookups) work in every
//! call; writes need the [`Writer`] that only event handlers receive, and
//! all of a handler's writes and sent messages are kept only if it returns
//! `Ok`.
//!
//! # A complete app
//! ```ignore
//! use hangar_sdk::{Association, Commands, Command, Modifier, Result, Writer, read};
//! use serde::{Deserialize, Serialize};
//!
//! #[derive(Serialize, Deserialize)]
//! struct Visit { user: String }
//!
//! struct Guestbook;
//!
//! #[hangar_sdk::handlers] // records `execute-command`: the one event it handles
//! impl Commands for Guestbook {
//!     fn execute(cmd: &Command, writer: &Writer, modifier: &Modifier) -> Result<()> {
//!         let book = Association::misc("guestbook");
//!         writer.create_with(&Visit { user: cmd.sender.clone() }, &[book.clone()])?;
//!         let count = read::by_associations::<Visit>(&[book])?.len();
//!         modifier.send_message(&cmd.room, &format!("{} signed; {count} visits so far", cmd.sender))?;
//!         Ok(())
//!     }
//! }
//!
//! hangar_sdk::export_app!(Guestbook, manifest = "hangar.json", handles = [Commands]);
//! ```
//!
//! with, next to its `Cargo.toml`, a `hangar.json` holding what only the
//! author knows (`docs/manifest.md` in the Hangar repository describes every
//! field; `api-version` and `events` are written by the SDK):
//!
//! ```json
//! { "id": "guestbook", "name": "Guestbook", "version": "0.1.0",
//!   "permissions": ["persistence", "slashcommand", "message.write"],
//!   "commands": [{ "command": "sign" }] }
//! ```
//!
//! # Layout
//! - the family traits, [`export_app!`] and the data types: here;
//! - [`read`]: reads, allowed in every call; [`log`]: the app's log;
//! - `exports`: the hidden per-family marker traits that
//!   [`handlers`] implements, and the `hangar:exports` section built from
//!   them at compile time;
//! - `adapter`: the glue between the generated WIT exports and the traits.

extern crate self as hangar_sdk;

use std::marker::PhantomData;

use serde::Serialize;
use serde::de::DeserializeOwned;

#[doc(hidden)]
pub mod __wit {
    #![allow(missing_docs, clippy::all)]
    wit_bindgen::generate!({
        path: "../wit/0.2.0",
        world: "app",
        pub_export_macro: true,
        export_macro_name: "__export_hangar_world",
        default_bindings_module: "::hangar_sdk::__wit",
        runtime_path: "::hangar_sdk::__private::wit_bindgen::rt",
    });
}

#[doc(hidden)]
pub mod __private {
    pub use wit_bindgen;
}

mod adapter;
mod chat;
mod exports;
pub mod http;
pub mod log;
pub mod read;
mod ui;

pub use chat::{
    Accessory, Attachment, AttachmentField, Block, BlockKind, Content, ContextElement, Event,
    Image, Membership, Message, MessageEdit, MessageRemoval, NewMessage, Reaction, Room,
    RoomChange, RoomKind, Text, User,
};
pub use ui::{
    ActionButton, BlockAction, Button, ButtonStyle, Choice, DatePicker, Element, FieldError,
    InputElement, InputValue, OverflowMenu, StaticSelect, TextInput, View, ViewClosed, ViewKind,
    ViewSubmit,
};

#[doc(hidden)]
pub use adapter::Adapter as __Adapter;
#[doc(hidden)]
pub use exports::{
    __CommandsHandlers, __EndpointsHandlers, __EventsHandlers, __InteractionsHandlers,
    __JobsHandlers, __LifecycleHandlers, __MessagesHandlers, __SettingsHandlers,
    recorded as __recorded, section as __exports_section, section_len as __exports_len,
};
pub use hangar_sdk_macros::handlers;

pub use serde;
pub use serde_json;

use __wit::hangar::app::types as wit;

/// The WIT API version this SDK builds against.
pub const API_VERSION: &str = "0.2.0";

/// What a record is associated with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Model {
    /// A chat room.
    Room,
    /// A discussion.
    Discussion,
    /// A message.
    Message,
    /// A livechat message.
    LivechatMessage,
    /// A user.
    User,
    /// A file.
    File,
    /// Anything else, keyed by the app.
    Misc,
    /// A video conference.
    VideoConference,
}

/// A link from a record to a user, room, message, or an app-chosen key.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Association {
    /// What kind of thing.
    pub model: Model,
    /// Its id.
    pub id: String,
}

impl Association {
    /// An association with any model.
    pub fn new(model: Model, id: impl Into<String>) -> Self {
        Association {
            model,
            id: id.into(),
        }
    }
    /// With a user: user-level data.
    pub fn user(id: impl Into<String>) -> Self {
        Self::new(Model::User, id)
    }
    /// With a room.
    pub fn room(id: impl Into<String>) -> Self {
        Self::new(Model::Room, id)
    }
    /// With a message.
    pub fn message(id: impl Into<String>) -> Self {
        Self::new(Model::Message, id)
    }
    /// With an app-chosen key: app-level data.
    pub fn misc(key: impl Into<String>) -> Self {
        Self::new(Model::Misc, key)
    }
    /// With a file.
    pub fn file(id: impl Into<String>) -> Self {
        Self::new(Model::File, id)
    }
    /// With a discussion.
    pub fn discussion(id: impl Into<String>) -> Self {
        Self::new(Model::Discussion, id)
    }
    /// With a livechat message.
    pub fn livechat_message(id: impl Into<String>) -> Self {
        Self::new(Model::LivechatMessage, id)
    }
    /// With a video conference.
    pub fn video_conference(id: impl Into<String>) -> Self {
        Self::new(Model::VideoConference, id)
    }
}

/// A stored record with typed data.
#[derive(Debug, Clone, PartialEq)]
pub struct Record<T> {
    /// The record id.
    pub id: String,
    /// Its data.
    pub data: T,
    /// Its associations.
    pub associations: Vec<Association>,
}

/// Errors an app sees: the host's (denied, too large, ...) and its own.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Error {
    /// A permission the manifest does not grant.
    Denied(String),
    /// A bad argument.
    Invalid(String),
    /// Over a size limit.
    TooLarge(String),
    /// The storage quota is full.
    QuotaExceeded(String),
    /// No such record or setting.
    NotFound(String),
    /// The host failed.
    Host(String),
    /// Data that does not (de)serialize as the type asked for.
    Data(String),
    /// The app's own error, shown in the dispatch report.
    App(String),
}

impl std::fmt::Display for Error {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Error::Denied(m) => write!(f, "permission denied: {m}"),
            Error::Invalid(m) => write!(f, "invalid argument: {m}"),
            Error::TooLarge(m) => write!(f, "too large: {m}"),
            Error::QuotaExceeded(m) => write!(f, "quota exceeded: {m}"),
            Error::NotFound(m) => write!(f, "not found: {m}"),
            Error::Host(m) => write!(f, "host error: {m}"),
            Error::Data(m) => write!(f, "bad data: {m}"),
            Error::App(m) => f.write_str(m),
        }
    }
}

impl std::error::Error for Error {}

impl From<wit::Error> for Error {
    fn from(e: wit::Error) -> Self {
        match e {
            wit::Error::Denied(m) => Error::Denied(m),
            wit::Error::Invalid(m) => Error::Invalid(m),
            wit::Error::TooLarge(m) => Error::TooLarge(m),
            wit::Error::QuotaExceeded(m) => Error::QuotaExceeded(m),
            wit::Error::NotFound(m) => Error::NotFound(m),
            wit::Error::Host(m) => Error::Host(m),
            wit::Error::App(m) => Error::App(m),
        }
    }
}

impl From<serde_json::Error> for Error {
    fn from(e: serde_json::Error) -> Self {
        Error::Data(e.to_string())
    }
}

impl From<String> for Error {
    fn from(m: String) -> Self {
        Error::App(m)
    }
}

impl From<&str> for Error {
    fn from(m: &str) -> Self {
        Error::App(m.to_string())
    }
}

/// The SDK's result type.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// A slash command as typed by a user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Command {
    /// The command without its slash.
    pub name: String,
    /// The words after it, split as a shell does: `/poll "Lunch today?"
    /// pizza 'dim sum'` gives `Lunch today?`, `pizza`, `dim sum`.
    pub args: Vec<String>,
    /// The text after the command, exactly as typed (trimmed).
    pub line: String,
    /// Where it was typed.
    pub room: String,
    /// Who typed it.
    pub sender: String,
    /// The thread it was typed in, if any.
    pub thread: Option<String>,
    /// Hand to [`Modifier::open_view`] to answer with a modal.
    pub trigger: String,
}

impl Command {
    /// The text after the command, as typed.
    pub fn text(&self) -> String {
        self.line.clone()
    }
}

/// One suggestion shown while the user types a command.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PreviewItem {
    /// Item id.
    pub id: String,
    /// Text shown.
    pub text: String,
}

/// The persistence writer: handed to event handlers only, valid for the
/// length of that call (the borrow checker and the runtime both see to it).
pub struct Writer<'a> {
    inner: &'a __wit::hangar::app::persistence::Writer,
}

fn to_json<T: Serialize + ?Sized>(data: &T) -> Result<String> {
    Ok(serde_json::to_string(data)?)
}

fn wit_associations(list: &[Association]) -> Vec<wit::Association> {
    list.iter().map(adapter::to_wit_association).collect()
}

impl<'a> Writer<'a> {
    #[doc(hidden)]
    pub fn __new(inner: &'a __wit::hangar::app::persistence::Writer) -> Self {
        Writer { inner }
    }

    /// The raw WIT handle, for the host's own adversarial tests.
    #[doc(hidden)]
    pub fn __raw(&self) -> &'a __wit::hangar::app::persistence::Writer {
        self.inner
    }

    /// Store `data`; returns the new record's id.
    pub fn create<T: Serialize + ?Sized>(&self, data: &T) -> Result<String> {
        Ok(self.inner.create(&to_json(data)?)?)
    }

    /// Store `data` with associations; returns the new record's id.
    pub fn create_with<T: Serialize + ?Sized>(
        &self,
        data: &T,
        associations: &[Association],
    ) -> Result<String> {
        Ok(self
            .inner
            .create_with_associations(&to_json(data)?, &wit_associations(associations))?)
    }

    /// Replace record `id`'s data; with `upsert`, create it if missing.
    pub fn update<T: Serialize + ?Sized>(
        &self,
        id: &str,
        data: &T,
        upsert: bool,
    ) -> Result<String> {
        Ok(self.inner.update(id, &to_json(data)?, upsert)?)
    }

    /// Replace the data of every record carrying all `associations`; with
    /// `upsert` and no match, create one. Returns the ids written.
    pub fn update_by_associations<T: Serialize + ?Sized>(
        &self,
        associations: &[Association],
        data: &T,
        upsert: bool,
    ) -> Result<Vec<String>> {
        Ok(self.inner.update_by_associations(
            &wit_associations(associations),
            &to_json(data)?,
            upsert,
        )?)
    }

    /// Remove record `id`, returning it (data as JSON) if it existed.
    pub fn remove(&self, id: &str) -> Result<Option<Record<serde_json::Value>>> {
        self.inner
            .remove(id)?
            .map(adapter::from_wit_record)
            .transpose()
    }

    /// Remove every record carrying all `associations`.
    pub fn remove_by_associations(
        &self,
        associations: &[Association],
    ) -> Result<Vec<Record<serde_json::Value>>> {
        self.inner
            .remove_by_associations(&wit_associations(associations))?
            .into_iter()
            .map(adapter::from_wit_record)
            .collect()
    }
}

/// Chat side effects, handed to event handlers only. Messages are delivered
/// when the handler returns `Ok`, and never if it fails.
pub struct Modifier<'a> {
    inner: &'a __wit::hangar::app::modify::Modifier,
}

impl<'a> Modifier<'a> {
    #[doc(hidden)]
    pub fn __new(inner: &'a __wit::hangar::app::modify::Modifier) -> Self {
        Modifier { inner }
    }

    /// Send a text message to a room as the app's bot user; returns the
    /// id it will have (valid at once, e.g. to store or edit later).
    pub fn send_message(&self, room: &str, text: &str) -> Result<String> {
        self.send(Message::new(room).text(text))
    }

    /// Send a rich message built with [`Message::new`]; returns its id.
    ///
    /// ```ignore
    /// let id = modifier.send(
    ///     Message::new(&cmd.room)
    ///         .text("Standup summary")
    ///         .attach(Attachment::new().title("alice").text("shipped it"))
    ///         .thread(&root),
    /// )?;
    /// ```
    pub fn send(&self, message: NewMessage) -> Result<String> {
        Ok(self
            .inner
            .send_message(&adapter::to_wit_outgoing(message))?)
    }

    /// Replace a message's content: the app's own with `message.write`,
    /// others' with `message.update`.
    pub fn update_message(&self, id: &str, content: impl Into<Content>) -> Result<()> {
        Ok(self
            .inner
            .update_message(id, &adapter::to_wit_content(content.into()))?)
    }

    /// Delete a message: its own with `message.write`, others' with
    /// `message.update`.
    pub fn delete_message(&self, id: &str) -> Result<()> {
        Ok(self.inner.delete_message(id)?)
    }

    /// Show a message to one user only.
    pub fn notify_user(&self, user: &str, room: &str, text: &str) -> Result<()> {
        Ok(self.inner.notify_user(user, room, text)?)
    }

    /// Show a notice to everyone in a room, not kept in its history.
    pub fn notify_room(&self, room: &str, text: &str) -> Result<()> {
        Ok(self.inner.notify_room(room, text)?)
    }

    /// Create a room (`room.write`) with the app's bot user and `members`;
    /// returns its id.
    pub fn create_room(&self, name: &str, kind: RoomKind, members: &[&str]) -> Result<String> {
        Ok(self
            .inner
            .create_room(&adapter::to_wit_new_room(name, kind, members))?)
    }

    /// The direct room between the app's bot user and `users` (`room.write`):
    /// the existing one's id, or a new one's.
    pub fn create_direct(&self, users: &[&str]) -> Result<String> {
        let users: Vec<String> = users.iter().map(|u| u.to_string()).collect();
        Ok(self.inner.create_direct(&users)?)
    }

    /// Schedule a job (`scheduler`) built with [`Job::new`]; returns its
    /// id. It is part of this handler's transaction: if the handler fails,
    /// nothing was scheduled.
    ///
    /// ```ignore
    /// modifier.schedule(Job::new("remind", &reminder)?.after_ms(10 * 60_000))?;
    /// modifier.schedule(Job::new("digest", &())?.id("daily-digest").every_ms(86_400_000))?;
    /// ```
    pub fn schedule(&self, job: Job) -> Result<String> {
        Ok(self.inner.schedule(&job.into_wit())?)
    }

    /// Cancel job `id`; whether it existed (`scheduler`).
    pub fn cancel_job(&self, id: &str) -> Result<bool> {
        Ok(self.inner.cancel_job(id)?)
    }

    /// Cancel every job of the app; how many (`scheduler`).
    pub fn cancel_all_jobs(&self) -> Result<u64> {
        Ok(self.inner.cancel_all_jobs()?)
    }

    /// Open a view (a modal or contextual bar) for the user whose command
    /// or interaction handed this handler `trigger` (`ui.interact`);
    /// returns the view's id. A trigger opens one view, in the handler it
    /// was handed to only.
    pub fn open_view(&self, trigger: &str, view: View) -> Result<String> {
        Ok(self.inner.open_view(trigger, &adapter::to_wit_view(view))?)
    }

    /// Replace what one of the app's open views shows (`ui.interact`): a
    /// submit handler that does this keeps the view open (a next step).
    pub fn update_view(&self, id: &str, view: View) -> Result<()> {
        Ok(self.inner.update_view(id, &adapter::to_wit_view(view))?)
    }

    /// Close one of the app's open views (`ui.interact`).
    pub fn close_view(&self, id: &str) -> Result<()> {
        Ok(self.inner.close_view(id)?)
    }
}

/// A job to schedule: a processor the manifest declares runs it, with its
/// data, once (now, at a time, or after a delay) or every so often.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Job {
    id: Option<String>,
    processor: String,
    data: String,
    at_ms: Option<u64>,
    delay_ms: Option<u64>,
    every_ms: Option<u64>,
    cron: Option<String>,
}

impl Job {
    /// A job for `processor` with `data` (any serializable value), due now.
    pub fn new<T: Serialize + ?Sized>(processor: &str, data: &T) -> Result<Job> {
        Ok(Job {
            id: None,
            processor: processor.to_string(),
            data: to_json(data)?,
            at_ms: None,
            delay_ms: None,
            every_ms: None,
            cron: None,
        })
    }
    /// Give it an id: scheduling the same id again replaces the job.
    pub fn id(mut self, id: &str) -> Job {
        self.id = Some(id.to_string());
        self
    }
    /// Due at `ms` since the Unix epoch.
    pub fn at_ms(mut self, ms: u64) -> Job {
        self.at_ms = Some(ms);
        self
    }
    /// Due after `ms`.
    pub fn after_ms(mut self, ms: u64) -> Job {
        self.delay_ms = Some(ms);
        self
    }
    /// Run again every `ms` (at least 1000); missed runs collapse into one.
    pub fn every_ms(mut self, ms: u64) -> Job {
        self.every_ms = Some(ms);
        self
    }
    /// Run on a cron schedule, in UTC: `sec min hour day month weekday`,
    /// or five fields without seconds (`"0 9 * * Mon-Fri"`). Without a
    /// start time the first run is the schedule's next firing.
    pub fn cron(mut self, expr: &str) -> Job {
        self.cron = Some(expr.to_string());
        self
    }
    fn into_wit(self) -> __wit::hangar::app::modify::NewJob {
        __wit::hangar::app::modify::NewJob {
            id: self.id,
            processor: self.processor,
            data: self.data,
            at_ms: self.at_ms,
            delay_ms: self.delay_ms,
            every_ms: self.every_ms,
            cron: self.cron,
        }
    }
}

/// A due job, as its processor gets it.
#[derive(Debug, Clone, PartialEq)]
pub struct DueJob {
    /// Its id.
    pub id: String,
    /// The processor it names.
    pub processor: String,
    /// Its data.
    pub data: serde_json::Value,
    /// When it was due (ms since the Unix epoch).
    pub due: u64,
    /// Earlier failed runs of this occurrence.
    pub attempt: u32,
}

impl DueJob {
    /// Its data as `T`.
    pub fn data<T: DeserializeOwned>(&self) -> Result<T> {
        Ok(serde_json::from_value(self.data.clone())?)
    }
}

/// Install, update, uninstall (with the writer), enable and disable.
///
/// Implement it in a [`#[hangar_sdk::handlers]`](handlers) impl block: the
/// methods you write are the hooks the host calls.
pub trait Lifecycle: __LifecycleHandlers {
    /// After the app is installed.
    fn on_install(_writer: &Writer) -> Result<()> {
        Ok(())
    }
    /// Before the app and its data are removed.
    fn on_uninstall(_writer: &Writer) -> Result<()> {
        Ok(())
    }
    /// After a new version replaced `previous_version`; data is kept.
    fn on_update(_writer: &Writer, _previous_version: &str) -> Result<()> {
        Ok(())
    }
    /// Return an error to refuse being enabled (with the reason).
    fn on_enable() -> Result<()> {
        Ok(())
    }
    /// When the app is disabled.
    fn on_disable() -> Result<()> {
        Ok(())
    }
}

/// The message pipeline.
///
/// Implement it in a [`#[hangar_sdk::handlers]`](handlers) impl block: the
/// methods you write are the message events the host calls; the others
/// cost nothing, since the app is never instantiated for them.
pub trait Messages: __MessagesHandlers {
    /// Read-only filter run before `pre_message_sent_prevent`.
    fn check_pre_message_sent_prevent(_message: &Message) -> Result<bool> {
        Ok(true)
    }
    /// Return `true` to veto the message.
    fn pre_message_sent_prevent(_message: &Message, _writer: &Writer) -> Result<bool> {
        Ok(false)
    }
    /// Custom fields to add to the message (existing keys are kept).
    fn pre_message_sent_extend(
        _message: &Message,
        _writer: &Writer,
    ) -> Result<Vec<(String, serde_json::Value)>> {
        Ok(Vec::new())
    }
    /// Return the message, changed or not (text and custom fields).
    fn pre_message_sent_modify(message: Message, _writer: &Writer) -> Result<Message> {
        Ok(message)
    }
    /// Read-only filter run before `post_message_sent`.
    fn check_post_message_sent(_message: &Message) -> Result<bool> {
        Ok(true)
    }
    /// After the message is stored.
    fn post_message_sent(_message: &Message, _writer: &Writer, _modifier: &Modifier) -> Result<()> {
        Ok(())
    }
}

/// Slash commands declared in the manifest.
///
/// Implement it in a [`#[hangar_sdk::handlers]`](handlers) impl block; write
/// `preview` only if the commands offer suggestions.
pub trait Commands: __CommandsHandlers {
    /// Run a command.
    fn execute(_command: &Command, _writer: &Writer, _modifier: &Modifier) -> Result<()> {
        Err(Error::App("this app does not implement commands".into()))
    }
    /// Suggestions while the command is typed (read-only).
    fn preview(_command: &Command) -> Result<Vec<PreviewItem>> {
        Ok(Vec::new())
    }
    /// The user picked `item` from the preview of `command`.
    fn preview_item(
        _item: &PreviewItem,
        _command: &Command,
        _writer: &Writer,
        _modifier: &Modifier,
    ) -> Result<()> {
        Ok(())
    }
}

/// Settings declared in the manifest.
///
/// Implement it in a [`#[hangar_sdk::handlers]`](handlers) impl block: the
/// methods you write are the settings hooks the host calls.
pub trait Settings: __SettingsHandlers {
    /// Refuse a new value with an error message (read-only).
    fn validate(_id: &str, _old: &serde_json::Value, _new: &serde_json::Value) -> Result<()> {
        Ok(())
    }
    /// After a value changed.
    fn updated(_id: &str, _value: &serde_json::Value, _writer: &Writer) -> Result<()> {
        Ok(())
    }
}

/// Chat events beyond new messages: edits, deletes, reactions, rooms,
/// membership and users.
///
/// Implement it in a [`#[hangar_sdk::handlers]`](handlers) impl block: the
/// methods you write are the events the host calls. The `prevent_*`
/// methods run before the event takes effect (return `true` to stop it;
/// writer only); the others after (writer and modifier). `check_pre` and
/// `check_post` are read-only filters run first. Each event needs its
/// permission in the manifest (`docs/manifest.md` lists them): message
/// events `message.read` (`message.intercept` to prevent), room and
/// membership events `room.read` (`room.write` to prevent), user events
/// `user.read`.
///
/// ```ignore
/// #[hangar_sdk::handlers]
/// impl Events for Welcome {
///     fn user_joined(joined: &Membership, writer: &Writer, modifier: &Modifier) -> Result<()> {
///         let dm = modifier.create_direct(&[&joined.user.id])?;
///         modifier.send(Message::new(dm).text("Welcome!"))?;
///         Ok(())
///     }
/// }
/// ```
pub trait Events: __EventsHandlers {
    /// Read-only filter before a `prevent_*` handler.
    fn check_pre(_event: &Event) -> Result<bool> {
        Ok(true)
    }
    /// Return `true` to stop an edit.
    fn prevent_message_update(_edit: &MessageEdit, _writer: &Writer) -> Result<bool> {
        Ok(false)
    }
    /// Return `true` to stop a deletion.
    fn prevent_message_delete(_removal: &MessageRemoval, _writer: &Writer) -> Result<bool> {
        Ok(false)
    }
    /// Return `true` to stop a room being created.
    fn prevent_room_create(_change: &RoomChange, _writer: &Writer) -> Result<bool> {
        Ok(false)
    }
    /// Return `true` to stop a room being deleted.
    fn prevent_room_delete(_change: &RoomChange, _writer: &Writer) -> Result<bool> {
        Ok(false)
    }
    /// Return `true` to stop a user joining.
    fn prevent_user_join(_membership: &Membership, _writer: &Writer) -> Result<bool> {
        Ok(false)
    }
    /// Return `true` to stop a user leaving.
    fn prevent_user_leave(_membership: &Membership, _writer: &Writer) -> Result<bool> {
        Ok(false)
    }
    /// Read-only filter before a post handler.
    fn check_post(_event: &Event) -> Result<bool> {
        Ok(true)
    }
    /// After a message was edited.
    fn message_updated(_edit: &MessageEdit, _writer: &Writer, _modifier: &Modifier) -> Result<()> {
        Ok(())
    }
    /// After a message was deleted.
    fn message_deleted(
        _removal: &MessageRemoval,
        _writer: &Writer,
        _modifier: &Modifier,
    ) -> Result<()> {
        Ok(())
    }
    /// After a reaction was added or taken back.
    fn message_reacted(_reaction: &Reaction, _writer: &Writer, _modifier: &Modifier) -> Result<()> {
        Ok(())
    }
    /// After a room was created.
    fn room_created(_change: &RoomChange, _writer: &Writer, _modifier: &Modifier) -> Result<()> {
        Ok(())
    }
    /// After a room was deleted.
    fn room_deleted(_change: &RoomChange, _writer: &Writer, _modifier: &Modifier) -> Result<()> {
        Ok(())
    }
    /// After a user joined a room.
    fn user_joined(_membership: &Membership, _writer: &Writer, _modifier: &Modifier) -> Result<()> {
        Ok(())
    }
    /// After a user left a room.
    fn user_left(_membership: &Membership, _writer: &Writer, _modifier: &Modifier) -> Result<()> {
        Ok(())
    }
    /// After a user account was created.
    fn user_created(_user: &User, _writer: &Writer, _modifier: &Modifier) -> Result<()> {
        Ok(())
    }
    /// After a user account changed.
    fn user_updated(_user: &User, _writer: &Writer, _modifier: &Modifier) -> Result<()> {
        Ok(())
    }
    /// After a user logged in.
    fn user_logged_in(_user: &User, _writer: &Writer, _modifier: &Modifier) -> Result<()> {
        Ok(())
    }
}

/// HTTP endpoints declared in the manifest's `endpoints` (permission
/// `api`): `hangar serve` routes `/apps/<id>/<path>` here. One request is
/// one handler call: one transaction, effects after commit.
///
/// ```ignore
/// #[hangar_sdk::handlers]
/// impl Endpoints for Webhook {
///     fn handle(request: &HttpRequest, writer: &Writer, modifier: &Modifier) -> Result<HttpResponse> {
///         let event: serde_json::Value = request.json()?;
///         writer.create(&event)?;
///         modifier.send_message("builds", &format!("build {}", event["status"]))?;
///         HttpResponse::json(202, &serde_json::json!({"stored": true}))
///     }
/// }
/// ```
pub trait Endpoints: __EndpointsHandlers {
    /// Answer one request.
    fn handle(
        _request: &http::HttpRequest,
        _writer: &Writer,
        _modifier: &Modifier,
    ) -> Result<http::HttpResponse> {
        Ok(http::HttpResponse::new(404))
    }
}

/// Scheduled jobs: the processors declared in the manifest's `processors`
/// (permission `scheduler`). A due job runs as a handler: one transaction,
/// effects after commit, committed exactly once (a runner that lost the
/// job's lease commits nothing). An error retries with backoff; a job that
/// keeps failing is dead-lettered (`hangar jobs`).
///
/// ```ignore
/// #[hangar_sdk::handlers]
/// impl Jobs for Reminders {
///     fn run(job: &DueJob, _writer: &Writer, modifier: &Modifier) -> Result<()> {
///         let r: Reminder = job.data()?;
///         modifier.notify_user(&r.user, &r.room, &format!("Reminder: {}", r.text))
///     }
/// }
/// ```
pub trait Jobs: __JobsHandlers {
    /// Run one due job (match on `job.processor`).
    fn run(_job: &DueJob, _writer: &Writer, _modifier: &Modifier) -> Result<()> {
        Err(Error::App("this app does not run jobs".into()))
    }
}

/// Interactions (permission `ui.interact`): clicks and choices on the
/// elements of the app's messages and views, views submitted and closed,
/// and clicks on the action buttons the manifest declares
/// (`action-buttons`, permission `ui.registerButtons`). Each is a handler:
/// one transaction, effects after commit. The host checks each against
/// what it showed before the app sees it.
///
/// ```ignore
/// #[hangar_sdk::handlers]
/// impl Interactions for Polls {
///     fn block_action(action: &BlockAction, writer: &Writer, modifier: &Modifier) -> Result<()> {
///         // action.message, action.action_id, action.value: record the vote, edit the message
///         Ok(())
///     }
///     fn view_submit(submit: &ViewSubmit, writer: &Writer, modifier: &Modifier) -> Result<Vec<FieldError>> {
///         if submit.value("question").trim().is_empty() {
///             return Ok(vec![FieldError::new("question", "Ask something")]);
///         }
///         Ok(Vec::new()) // the view closes
///     }
/// }
/// ```
pub trait Interactions: __InteractionsHandlers {
    /// A click or choice on an element of one of the app's messages or
    /// views.
    fn block_action(_action: &BlockAction, _writer: &Writer, _modifier: &Modifier) -> Result<()> {
        Ok(())
    }
    /// One of the app's views submitted: return errors per input to keep
    /// it open and show them; none closes it.
    fn view_submit(
        _submit: &ViewSubmit,
        _writer: &Writer,
        _modifier: &Modifier,
    ) -> Result<Vec<FieldError>> {
        Ok(Vec::new())
    }
    /// One of the app's views closed by its user.
    fn view_closed(_closed: &ViewClosed, _writer: &Writer, _modifier: &Modifier) -> Result<()> {
        Ok(())
    }
    /// One of the app's action buttons clicked.
    fn action_button(_click: &ActionButton, _writer: &Writer, _modifier: &Modifier) -> Result<()> {
        Ok(())
    }
}

/// Parse JSON text into `T`, naming what was being read on failure.
fn parse<T: DeserializeOwned>(what: &str, json: &str) -> Result<T> {
    serde_json::from_str(json).map_err(|e| Error::Data(format!("{what}: {e}")))
}

/// Keeps the type parameter used by [`__Adapter`].
#[doc(hidden)]
pub type __Phantom<A> = PhantomData<A>;

/// Register an app: embeds its manifest and the list of its handlers, and
/// exports the `hangar:app` world.
///
/// `handles` lists the families the app implements, each in a
/// [`#[hangar_sdk::handlers]`](handlers) impl block; the others get their
/// defaults and handle nothing. (A family implemented but missing from
/// `handles` fails with "conflicting implementations": add it to the list.) The methods written in those blocks are the
/// app's events: the macro lays them out, with the SDK's [`API_VERSION`], as
/// the JSON of a second custom section, `hangar:exports`, built at compile
/// time (WIT export names, in family then WIT declaration order):
///
/// ```text
/// {"api-version":"0.2.0","handlers":["execute-post-message-sent","execute-command"]}
/// ```
///
/// The host calls an app only for the handlers listed there.
///
/// The manifest path is relative to the app crate's root. The manifest
/// holds `id`, `name`, `version` and, as needed, `description`,
/// `permissions`, `commands` and `settings`; `docs/manifest.md` in the Hangar
/// repository describes every field. `api-version` and `events` are written
/// by the SDK: leave them out. A manifest that still lists them must agree
/// with what the SDK records (`events` in the manifest's event names, which
/// `docs/manifest.md` maps to handlers), or the host refuses the app.
///
/// ```ignore
/// hangar_sdk::export_app!(Karma, manifest = "hangar.json", handles = [Messages, Commands]);
/// ```
///
/// A family impl without the attribute does not compile ("the `Messages`
/// handlers of `App` are not recorded"), rather than silently handle
/// nothing:
///
/// ```compile_fail,E0277
/// struct App;
/// impl hangar_sdk::Messages for App {}
/// ```
#[macro_export]
macro_rules! export_app {
    ($app:ty, manifest = $path:literal, handles = [$($family:ident),* $(,)?] $(,)?) => {
        #[used]
        #[unsafe(link_section = "hangar:manifest")]
        static __HANGAR_MANIFEST: [u8; include_bytes!(concat!(env!("CARGO_MANIFEST_DIR"), "/", $path)).len()] =
            *include_bytes!(concat!(env!("CARGO_MANIFEST_DIR"), "/", $path));
        $crate::__default_impl!(Lifecycle, $app, [$($family),*]);
        $crate::__default_impl!(Messages, $app, [$($family),*]);
        $crate::__default_impl!(Commands, $app, [$($family),*]);
        $crate::__default_impl!(Settings, $app, [$($family),*]);
        $crate::__default_impl!(Events, $app, [$($family),*]);
        $crate::__default_impl!(Endpoints, $app, [$($family),*]);
        $crate::__default_impl!(Jobs, $app, [$($family),*]);
        $crate::__default_impl!(Interactions, $app, [$($family),*]);
        const __HANGAR_HANDLERS: [&[&str]; 8] = $crate::__recorded::<$app>();
        #[used]
        #[unsafe(link_section = "hangar:exports")]
        static __HANGAR_EXPORTS: [u8; $crate::__exports_len(&__HANGAR_HANDLERS)] =
            $crate::__exports_section(&__HANGAR_HANDLERS);
        type __HangarExport = $crate::__Adapter<$app>;
        $crate::__wit::__export_hangar_world!(__HangarExport with_types_in $crate::__wit);
    };
}

/// Implement a family trait with its defaults, handling nothing, unless it
/// is listed.
#[doc(hidden)]
#[macro_export]
macro_rules! __default_impl {
    (@none Lifecycle, $app:ty) => {
        impl $crate::__LifecycleHandlers for $app {
            const IMPLEMENTED: &'static [&'static str] = &[];
        }
    };
    (@none Messages, $app:ty) => {
        impl $crate::__MessagesHandlers for $app {
            const IMPLEMENTED: &'static [&'static str] = &[];
        }
    };
    (@none Commands, $app:ty) => {
        impl $crate::__CommandsHandlers for $app {
            const IMPLEMENTED: &'static [&'static str] = &[];
        }
    };
    (@none Settings, $app:ty) => {
        impl $crate::__SettingsHandlers for $app {
            const IMPLEMENTED: &'static [&'static str] = &[];
        }
    };
    (@none Events, $app:ty) => {
        impl $crate::__EventsHandlers for $app {
            const IMPLEMENTED: &'static [&'static str] = &[];
        }
    };
    (@none Endpoints, $app:ty) => {
        impl $crate::__EndpointsHandlers for $app {
            const IMPLEMENTED: &'static [&'static str] = &[];
        }
    };
    (@none Jobs, $app:ty) => {
        impl $crate::__JobsHandlers for $app {
            const IMPLEMENTED: &'static [&'static str] = &[];
        }
    };
    (@none Interactions, $app:ty) => {
        impl $crate::__InteractionsHandlers for $app {
            const IMPLEMENTED: &'static [&'static str] = &[];
        }
    };
    ($trait:ident, $app:ty, []) => {
        impl $crate::$trait for $app {}
        $crate::__default_impl!(@none $trait, $app);
    };
    (Lifecycle, $app:ty, [Lifecycle $(, $rest:ident)*]) => {};
    (Messages, $app:ty, [Messages $(, $rest:ident)*]) => {};
    (Commands, $app:ty, [Commands $(, $rest:ident)*]) => {};
    (Settings, $app:ty, [Settings $(, $rest:ident)*]) => {};
    (Events, $app:ty, [Events $(, $rest:ident)*]) => {};
    (Endpoints, $app:ty, [Endpoints $(, $rest:ident)*]) => {};
    (Jobs, $app:ty, [Jobs $(, $rest:ident)*]) => {};
    (Interactions, $app:ty, [Interactions $(, $rest:ident)*]) => {};
    ($trait:ident, $app:ty, [$other:ident $(, $rest:ident)*]) => {
        $crate::__default_impl!($trait, $app, [$($rest),*]);
    };
}
