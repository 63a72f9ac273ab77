//! Interactivity: buttons, selects, menus, date pickers and inputs in
//! blocks; views (modals and contextual bars) an app opens for a user; and
//! what the [`Interactions`](crate::Interactions) handlers receive.
//!
//! ```
//! use hangar_sdk::{Block, Button, Choice, StaticSelect, Text, TextInput, View};
//! // A message with buttons...
//! let poll = [
//!     Block::section(Text::markdown("*Lunch?*")),
//!     Block::actions([
//!         Button::new("vote", "Pizza").value("0").primary().into(),
//!         Button::new("vote", "Sushi").value("1").into(),
//!     ])
//!     .id("votes"),
//! ];
//! // ...and a modal that asks for input.
//! let form = View::modal("New poll")
//!     .block(Block::input("Question", TextInput::new("text")).id("question"))
//!     .block(Block::input("Options, one per line", TextInput::new("text").multiline()).id("options"))
//!     .block(
//!         Block::input(
//!             "Votes",
//!             StaticSelect::new("mode", [Choice::new("One each", "single"), Choice::new("Several", "multiple")]),
//!         )
//!         .id("mode"),
//!     )
//!     .submit("Create")
//!     .close("Cancel");
//! assert_eq!(poll.len(), 2);
//! assert_eq!(form.blocks.len(), 3);
//! ```

use crate::{Accessory, Block, BlockKind, Image};

/// How a button looks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ButtonStyle {
    /// The usual look.
    #[default]
    Normal,
    /// The action the app expects.
    Primary,
    /// A destructive action.
    Danger,
}

/// A button: a click is a block action carrying its value (the host sends
/// the value set here, whatever a client claims).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Button {
    /// Names the action.
    pub action_id: String,
    /// The label.
    pub text: String,
    /// Sent with the click.
    pub value: Option<String>,
    /// How it looks.
    pub style: ButtonStyle,
}

impl Button {
    /// A button with an action id and a label.
    pub fn new(action_id: impl Into<String>, text: impl Into<String>) -> Self {
        Button {
            action_id: action_id.into(),
            text: text.into(),
            value: None,
            style: ButtonStyle::Normal,
        }
    }
    /// The value a click carries.
    pub fn value(mut self, value: impl Into<String>) -> Self {
        self.value = Some(value.into());
        self
    }
    /// Make it stand out.
    pub fn primary(mut self) -> Self {
        self.style = ButtonStyle::Primary;
        self
    }
    /// Mark it destructive.
    pub fn danger(mut self) -> Self {
        self.style = ButtonStyle::Danger;
        self
    }
}

/// One choice of a select or menu.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Choice {
    /// What the user sees.
    pub text: String,
    /// What the app gets.
    pub value: String,
}

impl Choice {
    /// A choice.
    pub fn new(text: impl Into<String>, value: impl Into<String>) -> Self {
        Choice {
            text: text.into(),
            value: value.into(),
        }
    }
}

/// A drop-down of choices (at most 100).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StaticSelect {
    /// Names the action.
    pub action_id: String,
    /// Shown before a choice is made.
    pub placeholder: Option<String>,
    /// The choices.
    pub choices: Vec<Choice>,
    /// The value chosen at first.
    pub initial: Option<String>,
}

impl StaticSelect {
    /// A select of these choices.
    pub fn new(action_id: impl Into<String>, choices: impl IntoIterator<Item = Choice>) -> Self {
        StaticSelect {
            action_id: action_id.into(),
            placeholder: None,
            choices: choices.into_iter().collect(),
            initial: None,
        }
    }
    /// Text shown before a choice is made.
    pub fn placeholder(mut self, text: impl Into<String>) -> Self {
        self.placeholder = Some(text.into());
        self
    }
    /// The value chosen at first.
    pub fn initial(mut self, value: impl Into<String>) -> Self {
        self.initial = Some(value.into());
        self
    }
}

/// A "more" menu of choices (at most 100).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OverflowMenu {
    /// Names the action.
    pub action_id: String,
    /// The choices.
    pub choices: Vec<Choice>,
}

impl OverflowMenu {
    /// A menu of these choices.
    pub fn new(action_id: impl Into<String>, choices: impl IntoIterator<Item = Choice>) -> Self {
        OverflowMenu {
            action_id: action_id.into(),
            choices: choices.into_iter().collect(),
        }
    }
}

/// A date picker; its values are `YYYY-MM-DD`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DatePicker {
    /// Names the action.
    pub action_id: String,
    /// Shown before a date is picked.
    pub placeholder: Option<String>,
    /// The date picked at first (`YYYY-MM-DD`).
    pub initial: Option<String>,
}

impl DatePicker {
    /// A date picker.
    pub fn new(action_id: impl Into<String>) -> Self {
        DatePicker {
            action_id: action_id.into(),
            placeholder: None,
            initial: None,
        }
    }
    /// The date picked at first (`YYYY-MM-DD`).
    pub fn initial(mut self, day: impl Into<String>) -> Self {
        self.initial = Some(day.into());
        self
    }
    /// Text shown before a date is picked.
    pub fn placeholder(mut self, text: impl Into<String>) -> Self {
        self.placeholder = Some(text.into());
        self
    }
}

/// A text input, in an input block.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TextInput {
    /// Names the input in the view's state.
    pub action_id: String,
    /// Shown while it is empty.
    pub placeholder: Option<String>,
    /// Its text at first.
    pub initial: Option<String>,
    /// Several lines.
    pub multiline: bool,
    /// At most this many characters (the host refuses longer values).
    pub max_length: Option<u32>,
}

impl TextInput {
    /// A one-line text input.
    pub fn new(action_id: impl Into<String>) -> Self {
        TextInput {
            action_id: action_id.into(),
            placeholder: None,
            initial: None,
            multiline: false,
            max_length: None,
        }
    }
    /// Several lines.
    pub fn multiline(mut self) -> Self {
        self.multiline = true;
        self
    }
    /// Text shown while it is empty.
    pub fn placeholder(mut self, text: impl Into<String>) -> Self {
        self.placeholder = Some(text.into());
        self
    }
    /// Its text at first.
    pub fn initial(mut self, text: impl Into<String>) -> Self {
        self.initial = Some(text.into());
        self
    }
    /// At most this many characters.
    pub fn max_length(mut self, max: u32) -> Self {
        self.max_length = Some(max);
        self
    }
}

/// An interactive element of an actions block.
#[derive(Debug, Clone, PartialEq, Eq)]
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
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum InputElement {
    /// Text.
    TextInput(TextInput),
    /// A drop-down.
    StaticSelect(StaticSelect),
    /// A date picker.
    DatePicker(DatePicker),
}

macro_rules! into {
    ($enum:ident: $($variant:ident($ty:ty)),*) => {
        $(impl From<$ty> for $enum {
            fn from(x: $ty) -> Self {
                $enum::$variant(x)
            }
        })*
    };
}
into!(Element: Button(Button), StaticSelect(StaticSelect), Overflow(OverflowMenu), DatePicker(DatePicker));
into!(InputElement: TextInput(TextInput), StaticSelect(StaticSelect), DatePicker(DatePicker));
into!(Accessory: Button(Button), StaticSelect(StaticSelect), Overflow(OverflowMenu), DatePicker(DatePicker), Image(Image));

impl Block {
    /// A row of buttons, selects, menus and date pickers (at most 25).
    pub fn actions(elements: impl IntoIterator<Item = Element>) -> Self {
        Block {
            block_id: None,
            kind: BlockKind::Actions(elements.into_iter().collect()),
        }
    }
    /// A labelled input of a view (give it an id with [`Block::id`]: the
    /// view's state names each input by its block and action ids).
    pub fn input(label: impl Into<String>, element: impl Into<InputElement>) -> Self {
        Block {
            block_id: None,
            kind: BlockKind::Input {
                label: label.into(),
                element: element.into(),
                optional: false,
                hint: None,
            },
        }
    }
    /// Let an input be left empty (inputs only).
    pub fn optional(mut self) -> Self {
        if let BlockKind::Input { optional, .. } = &mut self.kind {
            *optional = true;
        }
        self
    }
    /// Small text under an input (inputs only).
    pub fn hint(mut self, text: impl Into<String>) -> Self {
        if let BlockKind::Input { hint, .. } = &mut self.kind {
            *hint = Some(text.into());
        }
        self
    }
}

/// What kind of surface a view is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ViewKind {
    /// A dialog over the chat.
    #[default]
    Modal,
    /// A panel beside the room.
    ContextualBar,
}

/// A surface an app opens for one user with [`Modifier::open_view`](crate::Modifier::open_view).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct View {
    /// Modal or contextual bar.
    pub kind: ViewKind,
    /// The title.
    pub title: String,
    /// What it shows; input blocks make its state.
    pub blocks: Vec<Block>,
    /// The submit button's label (none: no submit button).
    pub submit: Option<String>,
    /// The close button's label.
    pub close: Option<String>,
}

impl View {
    /// A modal with a title.
    pub fn modal(title: impl Into<String>) -> Self {
        View {
            kind: ViewKind::Modal,
            title: title.into(),
            blocks: Vec::new(),
            submit: None,
            close: None,
        }
    }
    /// A contextual bar with a title.
    pub fn contextual_bar(title: impl Into<String>) -> Self {
        View {
            kind: ViewKind::ContextualBar,
            ..View::modal(title)
        }
    }
    /// Add a block.
    pub fn block(mut self, block: Block) -> Self {
        self.blocks.push(block);
        self
    }
    /// A submit button with this label.
    pub fn submit(mut self, label: impl Into<String>) -> Self {
        self.submit = Some(label.into());
        self
    }
    /// The close button's label.
    pub fn close(mut self, label: impl Into<String>) -> Self {
        self.close = Some(label.into());
        self
    }
}

/// A click or choice on an element of a message or a view (the host
/// checked it against what it showed).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BlockAction {
    /// Hand to [`Modifier::open_view`](crate::Modifier::open_view) to answer with a view.
    pub trigger: String,
    /// Who acted.
    pub user: String,
    /// The room of the message.
    pub room: Option<String>,
    /// The message the element is in.
    pub message: Option<String>,
    /// The view the element is in.
    pub view: Option<String>,
    /// The element's block.
    pub block_id: Option<String>,
    /// The element's action id.
    pub action_id: String,
    /// A button's value, or the value chosen or picked.
    pub value: Option<String>,
}

/// One input's value in a submitted view.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InputValue {
    /// The input block.
    pub block_id: String,
    /// The input.
    pub action_id: String,
    /// Its value (empty when left empty).
    pub value: String,
}

/// A view submitted by its user: every input's value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ViewSubmit {
    /// Hand to [`Modifier::open_view`](crate::Modifier::open_view) to open another view.
    pub trigger: String,
    /// Who submitted it.
    pub user: String,
    /// The view's id.
    pub view: String,
    /// Every input's value, in the view's order.
    pub state: Vec<InputValue>,
}

impl ViewSubmit {
    /// The value of the input in block `block_id` ("" if there is none).
    pub fn value(&self, block_id: &str) -> &str {
        self.state
            .iter()
            .find(|v| v.block_id == block_id)
            .map_or("", |v| v.value.as_str())
    }
}

/// An error shown under one input of a submitted view, which then stays
/// open.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldError {
    /// The input block.
    pub block_id: String,
    /// What is wrong.
    pub message: String,
}

impl FieldError {
    /// An error for the input in `block_id`.
    pub fn new(block_id: impl Into<String>, message: impl Into<String>) -> Self {
        FieldError {
            block_id: block_id.into(),
            message: message.into(),
        }
    }
}

/// A view its user closed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ViewClosed {
    /// Who closed it.
    pub user: String,
    /// The view's id.
    pub view: String,
}

/// A click on an action button the manifest declares.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ActionButton {
    /// Hand to [`Modifier::open_view`](crate::Modifier::open_view) to answer with a view.
    pub trigger: String,
    /// Who clicked.
    pub user: String,
    /// The button's id in the manifest.
    pub button: String,
    /// The room.
    pub room: String,
    /// The message it was clicked on (message actions).
    pub message: Option<String>,
    /// The thread it was clicked in.
    pub thread: Option<String>,
}
