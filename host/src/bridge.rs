//! The embedder's side: what the host needs to know about the chat server
//! (rooms, users, messages) and how it delivers what apps send.

use serde::{Deserialize, Serialize};

/// A chat message as the host and apps see it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct Message {
    /// Empty until the chat server stores the message.
    pub id: String,
    /// Room id.
    pub room: String,
    /// Sender's user id.
    pub sender: String,
    /// The text.
    pub text: String,
    /// Public JSON object any app may read or extend.
    pub custom_fields: serde_json::Map<String, serde_json::Value>,
    /// Milliseconds since the Unix epoch.
    pub timestamp: u64,
}

/// A chat room.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Room {
    /// Room id.
    pub id: String,
    /// Display name.
    pub name: String,
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
}

/// A side effect an app asked for through its modifier. Effects are
/// buffered during the handler and delivered only once it has committed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum Effect {
    /// Post a message in a room, as the app.
    SendMessage {
        /// The app that sends it.
        app: String,
        /// Target room.
        room: String,
        /// Text.
        text: String,
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
}

/// What the embedding chat server implements. Calls come from the host's
/// worker threads, possibly several at once; keep them quick (they run
/// inside an app's call deadline).
pub trait Bridge: Send + Sync + 'static {
    /// A room by id.
    fn room(&self, id: &str) -> Result<Option<Room>, String>;
    /// A user by id.
    fn user(&self, id: &str) -> Result<Option<User>, String>;
    /// A stored message by id.
    fn message(&self, id: &str) -> Result<Option<Message>, String>;
    /// Store a message that passed the pre-send pipeline; return its id.
    fn store_message(&self, message: &Message) -> Result<String, String>;
    /// Deliver an effect of a committed handler.
    fn deliver(&self, effect: &Effect) -> Result<(), String>;
}
