//! Chat data: messages with rich content (attachments and blocks), the
//! builder for messages an app sends, rooms, users, and the chat events.

/// Text in a block: plain or markdown.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Text {
    /// Markdown when true.
    pub markdown: bool,
    /// The text.
    pub text: String,
}

impl Text {
    /// Plain text.
    pub fn plain(text: impl Into<String>) -> Self {
        Text {
            markdown: false,
            text: text.into(),
        }
    }
    /// Markdown.
    pub fn markdown(text: impl Into<String>) -> Self {
        Text {
            markdown: true,
            text: text.into(),
        }
    }
}

/// An image by URL (`https:` or `http:`; the host refuses others).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Image {
    /// Where it is.
    pub url: String,
    /// Alternative text.
    pub alt: String,
}

impl Image {
    /// An image with alternative text.
    pub fn new(url: impl Into<String>, alt: impl Into<String>) -> Self {
        Image {
            url: url.into(),
            alt: alt.into(),
        }
    }
}

/// One item of a context block.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ContextElement {
    /// Small text.
    Text(Text),
    /// A small image.
    Image(Image),
}

/// What sits beside a section's text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Accessory {
    /// An image.
    Image(Image),
    /// A button.
    Button(crate::Button),
    /// A drop-down.
    StaticSelect(crate::StaticSelect),
    /// A "more" menu.
    Overflow(crate::OverflowMenu),
    /// A date picker.
    DatePicker(crate::DatePicker),
}

/// A block: data the chat renders, in order.
///
/// ```
/// use hangar_sdk::{Block, Text};
/// let blocks = [
///     Block::section(Text::markdown("*Standup* for today"))
///         .field(Text::plain("Done: 3"))
///         .field(Text::plain("Blocked: 1")),
///     Block::divider(),
///     Block::context([Text::plain("posted by standup").into()]),
/// ];
/// assert_eq!(blocks.len(), 3);
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Block {
    /// The app's id for the block.
    pub block_id: Option<String>,
    /// What it is.
    pub kind: BlockKind,
}

/// The kinds of block.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BlockKind {
    /// Text, fields in two columns, and an accessory.
    Section {
        /// The text.
        text: Option<Text>,
        /// Fields.
        fields: Vec<Text>,
        /// Beside the text.
        accessory: Option<Accessory>,
    },
    /// Small text and images.
    Context(Vec<ContextElement>),
    /// A line.
    Divider,
    /// A large image.
    Image {
        /// The image.
        image: Image,
        /// A title over it.
        title: Option<String>,
    },
    /// A row of interactive elements.
    Actions(Vec<crate::Element>),
    /// A labelled input (in views).
    Input {
        /// The label.
        label: String,
        /// The input.
        element: crate::InputElement,
        /// May be left empty.
        optional: bool,
        /// Small text under it.
        hint: Option<String>,
    },
}

impl From<Text> for ContextElement {
    fn from(t: Text) -> Self {
        ContextElement::Text(t)
    }
}

impl From<Image> for ContextElement {
    fn from(i: Image) -> Self {
        ContextElement::Image(i)
    }
}

impl Block {
    fn of(kind: BlockKind) -> Self {
        Block {
            block_id: None,
            kind,
        }
    }
    /// A section with text.
    pub fn section(text: Text) -> Self {
        Self::of(BlockKind::Section {
            text: Some(text),
            fields: Vec::new(),
            accessory: None,
        })
    }
    /// A context block of small items.
    pub fn context(elements: impl IntoIterator<Item = ContextElement>) -> Self {
        Self::of(BlockKind::Context(elements.into_iter().collect()))
    }
    /// A divider.
    pub fn divider() -> Self {
        Self::of(BlockKind::Divider)
    }
    /// A large image.
    pub fn image(image: Image, title: Option<&str>) -> Self {
        Self::of(BlockKind::Image {
            image,
            title: title.map(str::to_string),
        })
    }
    /// Add a field (sections only; ignored on other blocks).
    pub fn field(mut self, text: Text) -> Self {
        if let BlockKind::Section { fields, .. } = &mut self.kind {
            fields.push(text);
        }
        self
    }
    /// Set the accessory: an image, button, select, menu or date picker
    /// (sections only).
    pub fn accessory(mut self, item: impl Into<Accessory>) -> Self {
        if let BlockKind::Section { accessory, .. } = &mut self.kind {
            *accessory = Some(item.into());
        }
        self
    }
    /// Give the block an id.
    pub fn id(mut self, id: impl Into<String>) -> Self {
        self.block_id = Some(id.into());
        self
    }
}

/// A name and value in an attachment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AttachmentField {
    /// The name.
    pub title: String,
    /// The value.
    pub value: String,
    /// Shown beside the next short field.
    pub short: bool,
}

/// A message attachment.
///
/// ```
/// use hangar_sdk::Attachment;
/// let a = Attachment::new()
///     .title("Build 512")
///     .text("all green")
///     .color("#2eb67d")
///     .field("Duration", "4 min", true);
/// assert_eq!(a.fields.len(), 1);
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Attachment {
    /// Title.
    pub title: Option<String>,
    /// Link on the title (`https:` or `http:`).
    pub title_link: Option<String>,
    /// Body text.
    pub text: Option<String>,
    /// Side bar colour, such as `#2eb67d`.
    pub color: Option<String>,
    /// An image URL.
    pub image_url: Option<String>,
    /// Author shown.
    pub author_name: Option<String>,
    /// Fields.
    pub fields: Vec<AttachmentField>,
}

impl Attachment {
    /// An empty attachment.
    pub fn new() -> Self {
        Self::default()
    }
    /// Set the title.
    pub fn title(mut self, title: impl Into<String>) -> Self {
        self.title = Some(title.into());
        self
    }
    /// Set the title's link.
    pub fn title_link(mut self, url: impl Into<String>) -> Self {
        self.title_link = Some(url.into());
        self
    }
    /// Set the body text.
    pub fn text(mut self, text: impl Into<String>) -> Self {
        self.text = Some(text.into());
        self
    }
    /// Set the side bar colour.
    pub fn color(mut self, color: impl Into<String>) -> Self {
        self.color = Some(color.into());
        self
    }
    /// Set an image.
    pub fn image(mut self, url: impl Into<String>) -> Self {
        self.image_url = Some(url.into());
        self
    }
    /// Set the author shown.
    pub fn author(mut self, name: impl Into<String>) -> Self {
        self.author_name = Some(name.into());
        self
    }
    /// Add a field.
    pub fn field(
        mut self,
        title: impl Into<String>,
        value: impl Into<String>,
        short: bool,
    ) -> Self {
        self.fields.push(AttachmentField {
            title: title.into(),
            value: value.into(),
            short,
        });
        self
    }
}

/// What a message shows; an edit replaces it.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Content {
    /// The text.
    pub text: String,
    /// Attachments.
    pub attachments: Vec<Attachment>,
    /// Blocks.
    pub blocks: Vec<Block>,
    /// Public custom fields.
    pub custom_fields: serde_json::Map<String, serde_json::Value>,
}

/// A chat message.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Message {
    /// Empty before the message is stored (pre-send events).
    pub id: String,
    /// Room id.
    pub room: String,
    /// Sender's user id (`app:<id>` for an app's bot user).
    pub sender: String,
    /// The text.
    pub text: String,
    /// Public custom fields any app may read or set.
    pub custom_fields: serde_json::Map<String, serde_json::Value>,
    /// Milliseconds since the Unix epoch.
    pub timestamp: u64,
    /// The root message of the thread it replies in.
    pub thread: Option<String>,
    /// A name shown instead of the sender's.
    pub alias: Option<String>,
    /// An avatar URL shown instead of the sender's.
    pub avatar: Option<String>,
    /// When it was last edited.
    pub edited_at: Option<u64>,
    /// Attachments.
    pub attachments: Vec<Attachment>,
    /// Blocks.
    pub blocks: Vec<Block>,
}

impl Message {
    /// Start a message to send to `room` (see [`NewMessage`]).
    // Named as the Apps-Engine's builder is started: `Message::new(room)...`.
    #[allow(clippy::new_ret_no_self)]
    pub fn new(room: impl Into<String>) -> NewMessage {
        NewMessage {
            room: room.into(),
            ..NewMessage::default()
        }
    }

    /// What the message shows, to edit and pass to
    /// [`Modifier::update_message`](crate::Modifier::update_message).
    pub fn content(&self) -> Content {
        Content {
            text: self.text.clone(),
            attachments: self.attachments.clone(),
            blocks: self.blocks.clone(),
            custom_fields: self.custom_fields.clone(),
        }
    }
}

/// A message an app sends, built from [`Message::new`].
///
/// ```
/// use hangar_sdk::{Attachment, Block, Message, Text};
/// let m = Message::new("general")
///     .text("Standup summary")
///     .attach(Attachment::new().title("alice").text("shipped the builder"))
///     .block(Block::section(Text::markdown("*3* updates")))
///     .thread("m-123")
///     .alias("Standup bot");
/// assert_eq!(m.room, "general");
/// assert_eq!(m.content.attachments.len(), 1);
/// ```
#[derive(Debug, Clone, PartialEq, Default)]
pub struct NewMessage {
    /// Target room.
    pub room: String,
    /// Reply in the thread of this root message.
    pub thread: Option<String>,
    /// A name shown instead of the app's.
    pub alias: Option<String>,
    /// An avatar URL shown instead of the app's.
    pub avatar: Option<String>,
    /// What it shows.
    pub content: Content,
}

impl NewMessage {
    /// Set the text.
    pub fn text(mut self, text: impl Into<String>) -> Self {
        self.content.text = text.into();
        self
    }
    /// Add an attachment.
    pub fn attach(mut self, attachment: Attachment) -> Self {
        self.content.attachments.push(attachment);
        self
    }
    /// Add a block.
    pub fn block(mut self, block: Block) -> Self {
        self.content.blocks.push(block);
        self
    }
    /// Reply in the thread of `root`.
    pub fn thread(mut self, root: impl Into<String>) -> Self {
        self.thread = Some(root.into());
        self
    }
    /// Show `alias` as the sender's name.
    pub fn alias(mut self, alias: impl Into<String>) -> Self {
        self.alias = Some(alias.into());
        self
    }
    /// Show the avatar at `url`.
    pub fn avatar(mut self, url: impl Into<String>) -> Self {
        self.avatar = Some(url.into());
        self
    }
    /// Set a public custom field.
    pub fn custom_field(mut self, key: impl Into<String>, value: serde_json::Value) -> Self {
        self.content.custom_fields.insert(key.into(), value);
        self
    }
}

impl From<NewMessage> for Content {
    fn from(m: NewMessage) -> Content {
        m.content
    }
}

/// What kind of room.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RoomKind {
    /// Public.
    Channel,
    /// Members only.
    PrivateGroup,
    /// A direct conversation.
    Direct,
}

/// A chat room.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Room {
    /// Room id.
    pub id: String,
    /// Display name.
    pub name: String,
    /// What kind.
    pub kind: RoomKind,
    /// Who created it.
    pub creator: String,
}

/// A chat user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct User {
    /// User id.
    pub id: String,
    /// Login name.
    pub username: String,
    /// Display name.
    pub display_name: String,
    /// A bot (such as an app's bot user).
    pub is_bot: bool,
}

/// A message edit: the message as it will be (pre) or is (post), and as
/// it was.
#[derive(Debug, Clone, PartialEq)]
pub struct MessageEdit {
    /// After the edit.
    pub message: Message,
    /// Before it.
    pub previous: Message,
    /// Who edits.
    pub editor: String,
}

/// A message being deleted, or deleted.
#[derive(Debug, Clone, PartialEq)]
pub struct MessageRemoval {
    /// The message.
    pub message: Message,
    /// Who deletes it.
    pub by: String,
}

/// A reaction added or taken back.
#[derive(Debug, Clone, PartialEq)]
pub struct Reaction {
    /// The message.
    pub message: Message,
    /// Who reacted.
    pub user: String,
    /// The reaction, such as `:thumbsup:`.
    pub reaction: String,
    /// False when taken back.
    pub added: bool,
}

/// A room created or deleted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RoomChange {
    /// The room.
    pub room: Room,
    /// Who did it.
    pub by: String,
}

/// A user joining or leaving a room.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Membership {
    /// The room.
    pub room: Room,
    /// The user.
    pub user: User,
}

/// A chat event, as the `check_*` filters of [`Events`](crate::Events) see it.
// Passed by reference, one at a time: boxing the message variants would
// only cost an allocation.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, PartialEq)]
pub enum Event {
    /// A message edited.
    MessageUpdated(MessageEdit),
    /// A message deleted.
    MessageDeleted(MessageRemoval),
    /// A reaction.
    MessageReacted(Reaction),
    /// A room created.
    RoomCreated(RoomChange),
    /// A room deleted.
    RoomDeleted(RoomChange),
    /// A user joined a room.
    UserJoined(Membership),
    /// A user left a room.
    UserLeft(Membership),
    /// A user account created.
    UserCreated(User),
    /// A user account changed.
    UserUpdated(User),
    /// A user logged in.
    UserLoggedIn(User),
}
