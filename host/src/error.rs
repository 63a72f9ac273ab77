//! The host library's error type.

use std::path::PathBuf;

/// Everything that can go wrong in the host, each saying what happened,
/// to which app, and what to do about it.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A package could not be read or is not a valid Hangar app.
    #[error("invalid app package {path}: {reason}")]
    InvalidPackage {
        /// The file that was being loaded.
        path: PathBuf,
        /// Why it was refused.
        reason: String,
    },
    /// The manifest embedded in a package is missing or wrong.
    #[error("invalid manifest: {0}")]
    InvalidManifest(String),
    /// No app with this id is installed.
    #[error("no app '{0}' is installed; `hangar list` shows the installed apps")]
    UnknownApp(String),
    /// An app with this id is installed already.
    #[error("app '{0}' is already installed; use `hangar update` to replace it")]
    AlreadyInstalled(String),
    /// A slash command that no enabled app provides.
    #[error("no enabled app provides the command '/{0}'")]
    UnknownCommand(String),
    /// The caller passed something unacceptable.
    #[error("{0}")]
    InvalidInput(String),
    /// An interaction that does not match what the host showed: an
    /// unknown or closed view, another app's or user's, an element that
    /// is not there, a value that is not one of its choices. No app saw it.
    #[error("interaction refused: {0}")]
    Refused(String),
    /// A persistence or registry operation failed.
    #[error("storage error{}: {cause}", context.as_deref().map(|c| format!(" ({c})")).unwrap_or_default())]
    Storage {
        /// What was being done.
        context: Option<String>,
        /// The SQLite error (in the message already, so not a `source`:
        /// printing the chain would repeat it).
        cause: rusqlite::Error,
    },
    /// The PostgreSQL server failed or cannot be reached (the message
    /// says which, and what to check).
    #[error("database error: {0}")]
    Database(String),
    /// A file-system operation failed.
    #[error("{context}: {cause}")]
    Io {
        /// What was being done, with the path.
        context: String,
        /// The underlying error (in the message already).
        cause: std::io::Error,
    },
    /// The WebAssembly engine failed (compiling, linking, instantiating).
    #[error("{context}: {message}")]
    Wasm {
        /// What was being done.
        context: String,
        /// The engine's message.
        message: String,
    },
    /// An app's own call failed; the report says why.
    #[error("app '{app}' {handler} failed: {message}")]
    App {
        /// The app id.
        app: String,
        /// The handler that failed.
        handler: String,
        /// The app's error or the trap.
        message: String,
    },
}

/// The host's result type.
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl From<rusqlite::Error> for Error {
    fn from(source: rusqlite::Error) -> Self {
        Error::Storage {
            context: None,
            cause: source,
        }
    }
}

impl From<postgres::Error> for Error {
    fn from(e: postgres::Error) -> Self {
        if crate::pg::is_connection_error(&e) {
            return Error::Database(format!(
                "lost the connection to the PostgreSQL server ({}); calls fail until it is back",
                crate::pg::describe(&e)
            ));
        }
        Error::Database(format!("PostgreSQL: {}", crate::pg::describe(&e)))
    }
}

impl Error {
    pub(crate) fn io(context: impl Into<String>, source: std::io::Error) -> Self {
        Error::Io {
            context: context.into(),
            cause: source,
        }
    }

    pub(crate) fn wasm(context: impl Into<String>, err: impl std::fmt::Display) -> Self {
        Error::Wasm {
            context: context.into(),
            message: format!("{err:#}"),
        }
    }
}
