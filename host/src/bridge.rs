//! The embedder's side: what the host needs to know about the chat server
//! (rooms, users, messages) and how it delivers what apps send; and the
//! chat data both sides share: messages with rich content (attachments and
//! blocks), rooms, users, and the chat events apps can handle.

use serde::{Deserialize, Serialize};

/// A chat message as the host and apps see it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct Message {
    /// Empty until the chat server stores the message.
    pub id: String,
    /// Room id.
    pub room: String,
    /// Sender's user id (`app:<id>` for an app's bot user).
    pub sender: String,
    /// The text.
    pub text: String,
    /// Public JSON object any app may read or extend.
    pub custom_fields: serde_json::Map<String, serde_json::Value>,
    /// Milliseconds since the Unix epoch.
    pub timestamp: u64,
    /// The root message of the thread this one replies in.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub thread: Option<String>,
    /// A name shown instead of the sender's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub alias: Option<String>,
    /// An avatar URL shown instead of the sender's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub avatar: Option<String>,
    /// When it was last edited (milliseconds since the Unix epoch).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub edited_at: Option<u64>,
    /// Attachments, in order.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub attachments: Vec<Attachment>,
    /// Blocks to render, in order.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub blocks: Vec<Block>,
}

impl Message {
    /// What the message shows.
    pub fn content(&self) -> Content {
        Content {
            text: self.text.clone(),
            attachments: self.attachments.clone(),
            blocks: self.blocks.clone(),
            custom_fields: self.custom_fields.clone(),
        }
    }

    /// Replace what the message shows.
    pub fn set_content(&mut self, content: Content) {
        self.text = content.text;
        self.attachments = content.attachments;
        self.blocks = content.blocks;
        self.custom_fields = content.custom_fields;
    }
}

/// What a message shows: its text and rich content. An edit replaces it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct Content {
    /// The text.
    pub text: String,
    /// Attachments.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub attachments: Vec<Attachment>,
    /// Blocks.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub blocks: Vec<Block>,
    /// Public custom fields.
    #[serde(default)]
    pub custom_fields: serde_json::Map<String, serde_json::Value>,
}

/// Text in a block.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Text {
    /// Markdown when true, plain text otherwise.
    #[serde(default)]
    pub markdown: bool,
    /// The text.
    pub text: String,
}

/// An image by URL (`https:` or `http:`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Image {
    /// Where it is.
    pub url: String,
    /// Alternative text.
    #[serde(default)]
    pub alt: String,
}

/// One item of a context block.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "kebab-case")]
pub enum ContextElement {
    /// Small text.
    Text(Text),
    /// A small image.
    Image(Image),
}

/// How a button looks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "kebab-case")]
pub enum ButtonStyle {
    /// The usual look.
    #[default]
    Normal,
    /// Stands out: the action the app expects.
    Primary,
    /// A destructive action.
    Danger,
}

/// A button: a click is a block action carrying its value.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Button {
    /// Names the action to the app.
    pub action_id: String,
    /// The label.
    pub text: String,
    /// Sent with the click.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<String>,
    /// How it looks.
    #[serde(default)]
    pub style: ButtonStyle,
}

/// One choice of a select or an overflow menu.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Choice {
    /// What the user sees.
    pub text: String,
    /// What the app gets.
    pub value: String,
}

/// A drop-down of choices.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StaticSelect {
    /// Names the action to the app.
    pub action_id: String,
    /// Shown before a choice is made.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub placeholder: Option<String>,
    /// The choices.
    pub choices: Vec<Choice>,
    /// The value chosen at first.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub initial: Option<String>,
}

/// A "more" menu of choices.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OverflowMenu {
    /// Names the action to the app.
    pub action_id: String,
    /// The choices.
    pub choices: Vec<Choice>,
}

/// A date picker; its values are `YYYY-MM-DD`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DatePicker {
    /// Names the action to the app.
    pub action_id: String,
    /// Shown before a date is picked.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub placeholder: Option<String>,
    /// The date picked at first.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub initial: Option<String>,
}

/// A text input, in an input block.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TextInput {
    /// Names the input in the view's state.
    pub action_id: String,
    /// Shown while it is empty.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub placeholder: Option<String>,
    /// Its text at first.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub initial: Option<String>,
    /// Several lines.
    #[serde(default)]
    pub multiline: bool,
    /// At most this many characters.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_length: Option<u32>,
}

/// What sits beside a section's text: an image or an interactive element.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "kebab-case")]
pub enum Accessory {
    /// An image.
    Image(Image),
    /// A button.
    Button(Button),
    /// A drop-down.
    StaticSelect(StaticSelect),
    /// A "more" menu.
    Overflow(OverflowMenu),
    /// A date picker.
    DatePicker(DatePicker),
}

/// An interactive element of an actions block.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "kebab-case")]
pub enum Element {
    /// A button.
    Button(Button),
    /// A drop-down.
    StaticSelect(StaticSelect),
    /// A "more" menu.
    Overflow(OverflowMenu),
    /// A date picker.
    DatePicker(DatePicker),
}

/// What an input block holds.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "kebab-case")]
pub enum InputElement {
    /// Text, one line or several.
    TextInput(TextInput),
    /// A drop-down.
    StaticSelect(StaticSelect),
    /// A date picker.
    DatePicker(DatePicker),
}

/// One interactive element found in blocks, with the block it is in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Interactive<'a> {
    /// A button.
    Button(&'a Button),
    /// A drop-down.
    StaticSelect(&'a StaticSelect),
    /// A "more" menu.
    Overflow(&'a OverflowMenu),
    /// A date picker.
    DatePicker(&'a DatePicker),
    /// A text input.
    TextInput(&'a TextInput),
}

impl<'a> Interactive<'a> {
    /// Its action id.
    pub fn action_id(self) -> &'a str {
        match self {
            Interactive::Button(b) => &b.action_id,
            Interactive::StaticSelect(s) => &s.action_id,
            Interactive::Overflow(o) => &o.action_id,
            Interactive::DatePicker(d) => &d.action_id,
            Interactive::TextInput(t) => &t.action_id,
        }
    }
}

/// Every interactive element of `blocks`, with its block's id and whether
/// it sits in an input block (a view's state) or acts on its own.
pub fn interactive(blocks: &[Block]) -> Vec<(Option<&str>, Interactive<'_>, bool)> {
    let mut found = Vec::new();
    for b in blocks {
        let id = b.block_id.as_deref();
        match &b.kind {
            BlockKind::Section {
                accessory: Some(a), ..
            } => {
                let e = match a {
                    Accessory::Image(_) => continue,
                    Accessory::Button(x) => Interactive::Button(x),
                    Accessory::StaticSelect(x) => Interactive::StaticSelect(x),
                    Accessory::Overflow(x) => Interactive::Overflow(x),
                    Accessory::DatePicker(x) => Interactive::DatePicker(x),
                };
                found.push((id, e, false));
            }
            BlockKind::Actions { elements } => {
                for e in elements {
                    let e = match e {
                        Element::Button(x) => Interactive::Button(x),
                        Element::StaticSelect(x) => Interactive::StaticSelect(x),
                        Element::Overflow(x) => Interactive::Overflow(x),
                        Element::DatePicker(x) => Interactive::DatePicker(x),
                    };
                    found.push((id, e, false));
                }
            }
            BlockKind::Input(input) => {
                let e = match &input.element {
                    InputElement::TextInput(x) => Interactive::TextInput(x),
                    InputElement::StaticSelect(x) => Interactive::StaticSelect(x),
                    InputElement::DatePicker(x) => Interactive::DatePicker(x),
                };
                found.push((id, e, true));
            }
            _ => {}
        }
    }
    found
}

/// An input block: a labelled input whose value is part of a view's state.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InputBlock {
    /// The label over it.
    pub label: String,
    /// The input.
    pub element: InputElement,
    /// May be left empty.
    #[serde(default)]
    pub optional: bool,
    /// Small text under it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hint: Option<String>,
}

/// What kind of surface a view is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "kebab-case")]
pub enum ViewKind {
    /// A dialog over the chat.
    #[default]
    Modal,
    /// A panel beside the room.
    ContextualBar,
}

/// A surface an app shows one user: a modal or a contextual bar.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct View {
    /// Its id, chosen by the host when it opens.
    pub id: String,
    /// The app that opened it.
    pub app: String,
    /// Who sees it.
    pub user: String,
    /// Modal or contextual bar.
    pub kind: ViewKind,
    /// The title.
    pub title: String,
    /// What it shows; input blocks make its state.
    pub blocks: Vec<Block>,
    /// The submit button's label (no button when absent).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub submit: Option<String>,
    /// The close button's label.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub close: Option<String>,
}

/// The kinds of block.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "kebab-case")]
pub enum BlockKind {
    /// Text, fields in two columns, and an accessory.
    Section {
        /// The text.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        text: Option<Text>,
        /// Fields.
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        fields: Vec<Text>,
        /// Beside the text.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        accessory: Option<Accessory>,
    },
    /// Small text and images.
    Context {
        /// Its items.
        elements: Vec<ContextElement>,
    },
    /// A line.
    Divider,
    /// A large image.
    Image {
        /// The image.
        image: Image,
        /// A title over it.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        title: Option<String>,
    },
    /// A row of interactive elements.
    Actions {
        /// Its buttons, selects, menus and date pickers.
        elements: Vec<Element>,
    },
    /// A labelled input (in a view).
    Input(InputBlock),
}

/// One block of a rich message: data to render.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Block {
    /// The app's id for the block.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub block_id: Option<String>,
    /// What it is.
    #[serde(flatten)]
    pub kind: BlockKind,
}

/// A name and value in an attachment.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AttachmentField {
    /// The name.
    pub title: String,
    /// The value.
    pub value: String,
    /// Shown beside the next short field.
    #[serde(default)]
    pub short: bool,
}

/// A message attachment.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct Attachment {
    /// Title.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    /// Link on the title.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub title_link: Option<String>,
    /// Body text.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub text: Option<String>,
    /// Side bar colour.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub color: Option<String>,
    /// An image.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image_url: Option<String>,
    /// Author shown.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub author_name: Option<String>,
    /// Fields.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub fields: Vec<AttachmentField>,
}

/// What kind of room.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "kebab-case")]
pub enum RoomKind {
    /// Public.
    #[default]
    Channel,
    /// Members only.
    PrivateGroup,
    /// A direct conversation.
    Direct,
}

impl RoomKind {
    /// Its name in JSON and the CLI.
    pub fn name(self) -> &'static str {
        match self {
            RoomKind::Channel => "channel",
            RoomKind::PrivateGroup => "private-group",
            RoomKind::Direct => "direct",
        }
    }
}

/// A chat room.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Room {
    /// Room id.
    pub id: String,
    /// Display name.
    pub name: String,
    /// What kind.
    #[serde(default)]
    pub kind: RoomKind,
    /// Who created it.
    #[serde(default)]
    pub creator: String,
}

/// A chat user.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct User {
    /// User id.
    pub id: String,
    /// Login name.
    pub username: String,
    /// Display name.
    pub display_name: String,
    /// A bot (an app's bot user).
    #[serde(default)]
    pub is_bot: bool,
}

/// The user id of app `app`'s bot user: the sender of what it posts.
pub fn bot_user_id(app: &str) -> String {
    format!("app:{app}")
}

/// A chat event beyond new messages, raised by the embedder around the
/// operation: [`Host::pre_event`](crate::Host::pre_event) before it takes
/// effect (apps may prevent it), [`Host::post_event`](crate::Host::post_event)
/// after.
// Passed by reference, one at a time: boxing the message variants would
// only cost an allocation.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "event", rename_all = "kebab-case")]
pub enum ChatEvent {
    /// A message edited: as it will be (pre) or is (post), and as it was.
    MessageUpdated {
        /// The message after the edit.
        message: Message,
        /// The message before it.
        previous: Message,
        /// Who edits.
        editor: String,
    },
    /// A message deleted.
    MessageDeleted {
        /// The message.
        message: Message,
        /// Who deletes it.
        by: String,
    },
    /// A reaction added or removed (post only).
    MessageReacted {
        /// The message.
        message: Message,
        /// Who reacted.
        user: String,
        /// The reaction, such as `:thumbsup:`.
        reaction: String,
        /// False when taken back.
        added: bool,
    },
    /// A room created.
    RoomCreated {
        /// The room.
        room: Room,
        /// Who created it.
        by: String,
    },
    /// A room deleted.
    RoomDeleted {
        /// The room.
        room: Room,
        /// Who deleted it.
        by: String,
    },
    /// A user joined a room.
    UserJoined {
        /// The room.
        room: Room,
        /// The user.
        user: User,
    },
    /// A user left a room.
    UserLeft {
        /// The room.
        room: Room,
        /// The user.
        user: User,
    },
    /// A user account created (post only).
    UserCreated {
        /// The user.
        user: User,
    },
    /// A user account changed (post only).
    UserUpdated {
        /// The user.
        user: User,
    },
    /// A user logged in (post only).
    UserLoggedIn {
        /// The user.
        user: User,
    },
}

/// The kinds of [`ChatEvent`], as manifests and reports name them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum EventKind {
    /// [`ChatEvent::MessageUpdated`].
    MessageUpdated,
    /// [`ChatEvent::MessageDeleted`].
    MessageDeleted,
    /// [`ChatEvent::MessageReacted`].
    MessageReacted,
    /// [`ChatEvent::RoomCreated`].
    RoomCreated,
    /// [`ChatEvent::RoomDeleted`].
    RoomDeleted,
    /// [`ChatEvent::UserJoined`].
    UserJoined,
    /// [`ChatEvent::UserLeft`].
    UserLeft,
    /// [`ChatEvent::UserCreated`].
    UserCreated,
    /// [`ChatEvent::UserUpdated`].
    UserUpdated,
    /// [`ChatEvent::UserLoggedIn`].
    UserLoggedIn,
}

impl EventKind {
    /// Every kind.
    pub const ALL: [EventKind; 10] = [
        EventKind::MessageUpdated,
        EventKind::MessageDeleted,
        EventKind::MessageReacted,
        EventKind::RoomCreated,
        EventKind::RoomDeleted,
        EventKind::UserJoined,
        EventKind::UserLeft,
        EventKind::UserCreated,
        EventKind::UserUpdated,
        EventKind::UserLoggedIn,
    ];

    /// Its name.
    pub const fn name(self) -> &'static str {
        match self {
            EventKind::MessageUpdated => "message-updated",
            EventKind::MessageDeleted => "message-deleted",
            EventKind::MessageReacted => "message-reacted",
            EventKind::RoomCreated => "room-created",
            EventKind::RoomDeleted => "room-deleted",
            EventKind::UserJoined => "room-user-joined",
            EventKind::UserLeft => "room-user-left",
            EventKind::UserCreated => "user-created",
            EventKind::UserUpdated => "user-updated",
            EventKind::UserLoggedIn => "user-logged-in",
        }
    }

    /// Whether apps may prevent it before it takes effect.
    pub const fn preventable(self) -> bool {
        matches!(
            self,
            EventKind::MessageUpdated
                | EventKind::MessageDeleted
                | EventKind::RoomCreated
                | EventKind::RoomDeleted
                | EventKind::UserJoined
                | EventKind::UserLeft
        )
    }
}

impl ChatEvent {
    /// Its kind.
    pub fn kind(&self) -> EventKind {
        match self {
            ChatEvent::MessageUpdated { .. } => EventKind::MessageUpdated,
            ChatEvent::MessageDeleted { .. } => EventKind::MessageDeleted,
            ChatEvent::MessageReacted { .. } => EventKind::MessageReacted,
            ChatEvent::RoomCreated { .. } => EventKind::RoomCreated,
            ChatEvent::RoomDeleted { .. } => EventKind::RoomDeleted,
            ChatEvent::UserJoined { .. } => EventKind::UserJoined,
            ChatEvent::UserLeft { .. } => EventKind::UserLeft,
            ChatEvent::UserCreated { .. } => EventKind::UserCreated,
            ChatEvent::UserUpdated { .. } => EventKind::UserUpdated,
            ChatEvent::UserLoggedIn { .. } => EventKind::UserLoggedIn,
        }
    }
}

/// A side effect an app asked for through its modifier. Effects are
/// buffered during the handler and delivered, in order, only once it has
/// committed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum Effect {
    /// Store a message as the app's bot user. Its id was chosen by the
    /// host (the app already holds it): store it under that id.
    SendMessage {
        /// The app that sends it.
        app: String,
        /// The message, with id, sender (the bot user) and time set.
        message: Message,
    },
    /// Replace a message's content.
    UpdateMessage {
        /// The app that edits.
        app: String,
        /// The message.
        id: String,
        /// Its new content.
        content: Content,
    },
    /// Delete a message.
    DeleteMessage {
        /// The app that deletes.
        app: String,
        /// The message.
        id: String,
    },
    /// Show a message to one user only.
    NotifyUser {
        /// The app that sends it.
        app: String,
        /// Who sees it.
        user: String,
        /// In which room.
        room: String,
        /// Text.
        text: String,
    },
    /// Show a message to everyone in a room, not kept in its history.
    NotifyRoom {
        /// The app that sends it.
        app: String,
        /// The room.
        room: String,
        /// Text.
        text: String,
    },
    /// Show a view (a modal or contextual bar) to its user, or replace
    /// the one open under its id.
    OpenView {
        /// The app that opens it.
        app: String,
        /// The view, with id, app and user set.
        view: View,
        /// True when it replaces an open view.
        update: bool,
    },
    /// Close a view.
    CloseView {
        /// The app that closes it.
        app: String,
        /// Whose view.
        user: String,
        /// The view.
        id: String,
    },
    /// Create a room (or a direct room) under the id the host chose.
    CreateRoom {
        /// The app that creates it.
        app: String,
        /// The room, with id, kind and creator (the bot user) set.
        room: Room,
        /// Its members (the bot user included).
        members: Vec<String>,
    },
}

/// A lookup the embedding chat does not provide.
fn unsupported<T>(what: &str) -> Result<T, String> {
    Err(format!("this chat server does not provide {what}"))
}

/// What the embedding chat server implements. Calls come from the host's
/// worker threads, possibly several at once; keep them quick (they run
/// inside an app's call deadline). The lookups past by-id have defaults
/// that refuse, so a chat can grow into them; [`RefChat`](crate::RefChat)
/// implements every one.
pub trait Bridge: Send + Sync + 'static {
    /// A room by id.
    fn room(&self, id: &str) -> Result<Option<Room>, String>;
    /// A user by id.
    fn user(&self, id: &str) -> Result<Option<User>, String>;
    /// A stored message by id.
    fn message(&self, id: &str) -> Result<Option<Message>, String>;
    /// Store a message that passed the pre-send pipeline; return its id.
    fn store_message(&self, message: &Message) -> Result<String, String>;
    /// Deliver an effect of a committed handler. The host delivers one
    /// app's effects in commit order, holding that app's delivery lock:
    /// do not call back into the host for the same app from here.
    fn deliver(&self, effect: &Effect) -> Result<(), String>;

    /// A room by name.
    fn room_by_name(&self, _name: &str) -> Result<Option<Room>, String> {
        unsupported("rooms by name")
    }
    /// Up to `limit` members of a room.
    fn room_members(&self, _room: &str, _limit: usize) -> Result<Vec<User>, String> {
        unsupported("room members")
    }
    /// A room's last `limit` messages, oldest first.
    fn room_messages(&self, _room: &str, _limit: usize) -> Result<Vec<Message>, String> {
        unsupported("room history")
    }
    /// The direct room whose members are exactly `users`.
    fn direct_room(&self, _users: &[String]) -> Result<Option<Room>, String> {
        unsupported("direct rooms")
    }
    /// A user by username.
    fn user_by_username(&self, _username: &str) -> Result<Option<User>, String> {
        unsupported("users by name")
    }
    /// A thread's root and up to `limit - 1` replies, oldest first.
    fn thread(&self, _root: &str, _limit: usize) -> Result<Vec<Message>, String> {
        unsupported("threads")
    }
    /// A server setting's value.
    fn server_setting(&self, _id: &str) -> Result<Option<serde_json::Value>, String> {
        unsupported("server settings")
    }
    /// Whether `user` is a member of `room`: interactions with a room's
    /// messages need it. The default looks through [`Bridge::room_members`].
    fn is_member(&self, room: &str, user: &str) -> Result<bool, String> {
        Ok(self
            .room_members(room, 100_000)?
            .iter()
            .any(|u| u.id == user))
    }
}
