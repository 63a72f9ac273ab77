//! Interactions: what a chat client sends when a person clicks a button,
//! chooses from a select or menu, picks a date, submits or closes a view,
//! or clicks an action button; what the app is handed after the host
//! checked it; and the triggers that let a handler answer with a view.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::bridge::Effect;
use crate::report::AppReport;

/// An interaction as a chat client reports it. The host checks it against
/// what it showed (the message or view, its app, its user, the element and
/// its choices) before any app sees it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "kebab-case")]
pub enum Interaction {
    /// A click or choice on an element of a message or a view.
    BlockAction {
        /// Who acted.
        user: String,
        /// The message the element is in (or `view`).
        #[serde(default)]
        message: Option<String>,
        /// The view the element is in (or `message`).
        #[serde(default)]
        view: Option<String>,
        /// The element's block (may be left out when its action id is
        /// unique in the message or view).
        #[serde(default)]
        block_id: Option<String>,
        /// The element's action id.
        action_id: String,
        /// The choice or date picked; ignored for buttons, whose value is
        /// the one the app set.
        #[serde(default)]
        value: Option<String>,
    },
    /// A view submitted with its inputs' values.
    ViewSubmit {
        /// Who submitted it (the user it was opened for).
        user: String,
        /// The view's id.
        view: String,
        /// The inputs' values.
        #[serde(default)]
        state: Vec<InputValue>,
    },
    /// A view closed by its user.
    ViewClosed {
        /// Who closed it.
        user: String,
        /// The view's id.
        view: String,
    },
    /// A click on an action button an app declares.
    ActionButton {
        /// Who clicked.
        user: String,
        /// The app that declares the button.
        app: String,
        /// The button's id in the manifest.
        button: String,
        /// The room it was clicked in.
        room: String,
        /// The message it was clicked on (message actions).
        #[serde(default)]
        message: Option<String>,
        /// The thread it was clicked in.
        #[serde(default)]
        thread: Option<String>,
    },
}

impl Interaction {
    /// Who acted.
    pub fn user(&self) -> &str {
        match self {
            Interaction::BlockAction { user, .. }
            | Interaction::ViewSubmit { user, .. }
            | Interaction::ViewClosed { user, .. }
            | Interaction::ActionButton { user, .. } => user,
        }
    }
}

/// One input's value in a submitted view.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InputValue {
    /// The input block's id.
    pub block_id: String,
    /// The input's action id.
    pub action_id: String,
    /// Its value (empty when left empty).
    pub value: String,
}

/// An error an app (or the host) shows under one input of a view.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FieldError {
    /// The input block.
    pub block_id: String,
    /// What is wrong.
    pub message: String,
}

/// What came of an interaction the host accepted.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct InteractionReport {
    /// The app it went to.
    pub app: String,
    /// The app's call, if it was called (a close of a view whose app does
    /// not handle closes, or a submit the host found incomplete, calls
    /// nothing).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub report: Option<AppReport>,
    /// Effects delivered.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub effects: Vec<Effect>,
    /// For a view submit: errors per input block; the view stays open.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub errors: BTreeMap<String, String>,
    /// For a view submit or close: the view was closed.
    pub closed: bool,
}

impl InteractionReport {
    /// Whether the app's call (if any) succeeded.
    pub fn ok(&self) -> bool {
        self.report
            .as_ref()
            .is_none_or(|r| r.outcome == crate::report::Outcome::Ok)
    }
}

/// A block action as the app receives it, after the host's checks.
#[derive(Debug, Clone)]
pub(crate) struct BlockAction {
    pub(crate) trigger: String,
    pub(crate) user: String,
    pub(crate) room: Option<String>,
    pub(crate) message: Option<String>,
    pub(crate) view: Option<String>,
    pub(crate) block_id: Option<String>,
    pub(crate) action_id: String,
    pub(crate) value: Option<String>,
}

/// A view submit as the app receives it: every input's value.
#[derive(Debug, Clone)]
pub(crate) struct ViewSubmit {
    pub(crate) trigger: String,
    pub(crate) user: String,
    pub(crate) view: String,
    pub(crate) state: Vec<InputValue>,
}

/// A view close as the app receives it.
#[derive(Debug, Clone)]
pub(crate) struct ViewClosed {
    pub(crate) user: String,
    pub(crate) view: String,
}

/// An action button click as the app receives it.
#[derive(Debug, Clone)]
pub(crate) struct ActionButton {
    pub(crate) trigger: String,
    pub(crate) user: String,
    pub(crate) button: String,
    pub(crate) room: String,
    pub(crate) message: Option<String>,
    pub(crate) thread: Option<String>,
}

/// The trigger of the interaction (or command) a handler runs for: good
/// for one `open-view`, for its user, in that call only.
#[derive(Debug, Clone)]
pub(crate) struct Trigger {
    pub(crate) id: String,
    pub(crate) user: String,
    pub(crate) used: bool,
}

impl Trigger {
    /// A fresh trigger for `user`.
    pub(crate) fn new(user: &str) -> Trigger {
        Trigger {
            id: format!("t-{}", crate::storage::new_record_id()),
            user: user.to_string(),
            used: false,
        }
    }
}
