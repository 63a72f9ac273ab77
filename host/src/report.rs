//! Reports: what one call of one app did, and what a whole dispatch did
//! (a message through the pipeline, a slash command).

use serde::{Deserialize, Serialize};

use crate::bridge::{Effect, EventKind, Message};
use crate::manifest::{Event, Manifest};
use crate::registry::{AppEntry, CallStats, Status};

/// How one app's handler call ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Outcome {
    /// Returned normally; its writes committed.
    Ok,
    /// Vetoed the action (pre-send prevent).
    Vetoed,
    /// Changed the message (extend or modify).
    Modified,
    /// Failed; nothing it wrote or sent was kept.
    Error,
}

/// Why a call failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum FailureKind {
    /// The handler returned an error.
    AppError,
    /// The guest trapped (panic, bad memory access, stashed writer, ...).
    Trap,
    /// It ran past its deadline.
    Timeout,
    /// Its memory cap was hit.
    OutOfMemory,
    /// The host could not run it (instantiation, storage).
    Host,
}

/// The kind of error a handler returned: its own (`app`), or one a host
/// call gave it that it passed on (API 0.2 keeps the kind; 0.1 apps return
/// strings, always `app`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ErrorKind {
    /// The app's own error.
    App,
    /// A permission it lacks.
    Denied,
    /// A bad argument (or output the host refused).
    Invalid,
    /// Over a size limit.
    TooLarge,
    /// Its storage quota is full.
    QuotaExceeded,
    /// Something it named does not exist.
    NotFound,
    /// A host failure it passed on.
    Host,
}

/// One line of a dispatch report.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AppReport {
    /// The app id.
    pub app: String,
    /// The app's version.
    pub version: String,
    /// The export that was called.
    pub handler: String,
    /// How it ended.
    pub outcome: Outcome,
    /// Why it failed, when it did.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub failure: Option<FailureKind>,
    /// The error or trap message, when it failed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// For an error the handler returned, its kind.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub error_kind: Option<ErrorKind>,
    /// Permissions it lacked during the call.
    #[serde(skip_serializing_if = "Vec::is_empty", default)]
    pub denied: Vec<String>,
    /// Its outbound HTTP requests, made or refused, one line each.
    #[serde(skip_serializing_if = "Vec::is_empty", default)]
    pub requests: Vec<String>,
    /// Wall time of the call, in microseconds.
    pub duration_us: u64,
}

impl AppReport {
    /// The first line of the error (the trap's backtrace follows it), or "".
    pub fn headline(&self) -> &str {
        self.error
            .as_deref()
            .and_then(|e| e.lines().next())
            .unwrap_or("")
    }
}

/// Whether a message went out.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum SendStatus {
    /// Stored and post-send handlers ran.
    Sent,
    /// An app vetoed it; it was not stored.
    Prevented,
    /// It passed prevent, extend and modify; the chat stores it itself
    /// ([`Host::check_message`](crate::Host::check_message)).
    Checked,
}

/// What happened to a message pushed through the pipeline.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SendReport {
    /// Sent or prevented.
    pub status: SendStatus,
    /// The app that vetoed it, or whose failure blocked it (fail closed).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub prevented_by: Option<String>,
    /// Why it was prevented.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// The message as stored (or as it was when vetoed).
    pub message: Message,
    /// One line per handler call, in call order.
    pub apps: Vec<AppReport>,
    /// Effects of committed handlers, delivered through the bridge.
    pub effects: Vec<Effect>,
}

/// What happened to a slash command.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CommandReport {
    /// The app that provides the command.
    pub app: String,
    /// The command, without its slash.
    pub command: String,
    /// The handler's report line.
    pub report: AppReport,
    /// Effects delivered (replies and notifications).
    pub effects: Vec<Effect>,
}

/// What happened to a chat event at one stage (pre or post).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EventReport {
    /// The event's kind.
    pub event: EventKind,
    /// Whether an app prevented it (pre stage only): the embedder must
    /// then not carry it out.
    pub prevented: bool,
    /// The app that prevented it, or whose failure blocked it (fail closed).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub prevented_by: Option<String>,
    /// Why.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// One line per handler call, in call order.
    pub apps: Vec<AppReport>,
    /// Effects of committed handlers, delivered through the bridge.
    pub effects: Vec<Effect>,
}

/// A suggestion from a command preview.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PreviewItem {
    /// Item id.
    pub id: String,
    /// Text shown.
    pub text: String,
}

/// An installed app, as `list` and `info` show it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AppSummary {
    /// App id.
    pub id: String,
    /// Name.
    pub name: String,
    /// Version.
    pub version: String,
    /// Status.
    pub status: Status,
    /// Why it has that status.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status_reason: Option<String>,
    /// Permissions granted by its manifest.
    pub permissions: Vec<String>,
    /// Permissions its events amount to that it did not ask for (API 0.1
    /// apps hold them implied; later versions must ask).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub implied_permissions: Vec<String>,
    /// Events it handles.
    pub events: Vec<Event>,
    /// Slash commands it provides.
    pub commands: Vec<String>,
}

/// Everything `hangar info` shows about an app.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AppInfo {
    /// Status and the short facts.
    #[serde(flatten)]
    pub summary: AppSummary,
    /// The full manifest.
    pub manifest: Manifest,
    /// SHA-256 of the package.
    pub sha256: String,
    /// Records in its store.
    pub records: u64,
    /// Size of its store, in bytes.
    pub storage_bytes: u64,
    /// Current setting values.
    pub settings: serde_json::Map<String, serde_json::Value>,
    /// Call counts per handler, over every host process.
    pub calls: Vec<CallStats>,
    /// Its scheduled jobs: pending, dead, committed runs and their lag
    /// from due to start (over every process).
    pub jobs: crate::storage::JobStats,
}

impl From<&AppEntry> for AppSummary {
    fn from(e: &AppEntry) -> Self {
        AppSummary {
            id: e.manifest.id.clone(),
            name: e.manifest.name.clone(),
            version: e.manifest.version.clone(),
            status: e.status,
            status_reason: e.status_reason.clone(),
            permissions: e
                .manifest
                .permissions
                .iter()
                .map(|p| p.name().to_string())
                .collect(),
            implied_permissions: e
                .manifest
                .implied_permissions()
                .iter()
                .map(|p| p.name().to_string())
                .collect(),
            events: e.manifest.events.clone(),
            commands: e
                .manifest
                .commands
                .iter()
                .map(|c| c.command.clone())
                .collect(),
        }
    }
}
