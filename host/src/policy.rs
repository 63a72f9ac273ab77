//! Policy: the event classes and their deadlines, which failures block an
//! action (fail closed), which count as faults toward error-disable (the
//! count itself is kept in the registry, across processes), and the bound
//! on app text the host keeps.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::report::{AppReport, FailureKind, Outcome};

/// Whether a failure is the app's fault and counts toward error-disable:
/// traps, timeouts and the memory cap (not errors it returned, not a busy
/// host).
pub(crate) fn is_fault(report: &AppReport) -> bool {
    matches!(
        report.failure,
        Some(FailureKind::Trap | FailureKind::Timeout | FailureKind::OutOfMemory)
    )
}

/// The event classes that have their own deadline.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum EventClass {
    /// Pre-send checks, prevent, extend and modify.
    PreMessage,
    /// Post-send handlers.
    PostMessage,
    /// Slash commands and previews.
    Command,
    /// Install, uninstall, update, enable, disable.
    Lifecycle,
    /// Setting validation and updates.
    Settings,
    /// HTTP endpoint requests.
    Http,
    /// Scheduled job runs.
    Job,
    /// Block actions, view submits and closes, action buttons: a person
    /// waits on each.
    Interaction,
}

impl EventClass {
    /// Every class.
    pub const ALL: [EventClass; 8] = [
        EventClass::PreMessage,
        EventClass::PostMessage,
        EventClass::Command,
        EventClass::Lifecycle,
        EventClass::Settings,
        EventClass::Http,
        EventClass::Job,
        EventClass::Interaction,
    ];
}

/// Per-class call deadlines.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default, rename_all = "kebab-case")]
pub struct Deadlines {
    /// Pre-send handlers hold up the sender: keep them short.
    pub pre_message: Duration,
    /// Post-send handlers.
    pub post_message: Duration,
    /// Slash commands.
    pub command: Duration,
    /// Lifecycle hooks.
    pub lifecycle: Duration,
    /// Settings hooks.
    pub settings: Duration,
    /// HTTP endpoint requests (they may wait on outbound requests).
    pub http: Duration,
    /// Scheduled job runs.
    pub job: Duration,
    /// Interactions (a person waits for the view or the updated message).
    pub interaction: Duration,
}

impl Default for Deadlines {
    fn default() -> Self {
        Deadlines {
            pre_message: Duration::from_millis(500),
            post_message: Duration::from_secs(2),
            command: Duration::from_secs(2),
            lifecycle: Duration::from_secs(5),
            settings: Duration::from_secs(1),
            http: Duration::from_secs(10),
            job: Duration::from_secs(10),
            interaction: Duration::from_secs(3),
        }
    }
}

impl EventClass {
    /// The name used in configuration.
    pub fn name(self) -> &'static str {
        match self {
            EventClass::PreMessage => "pre-message",
            EventClass::PostMessage => "post-message",
            EventClass::Command => "command",
            EventClass::Lifecycle => "lifecycle",
            EventClass::Settings => "settings",
            EventClass::Http => "http",
            EventClass::Job => "job",
            EventClass::Interaction => "interaction",
        }
    }

    /// Parse a configuration name.
    pub fn parse(name: &str) -> Option<EventClass> {
        Some(match name {
            "pre-message" => EventClass::PreMessage,
            "post-message" => EventClass::PostMessage,
            "command" => EventClass::Command,
            "lifecycle" => EventClass::Lifecycle,
            "settings" => EventClass::Settings,
            "http" => EventClass::Http,
            "job" => EventClass::Job,
            "interaction" => EventClass::Interaction,
            _ => return None,
        })
    }
}

impl Deadlines {
    /// Set the deadline of `class`.
    pub fn set(&mut self, class: EventClass, deadline: Duration) {
        match class {
            EventClass::PreMessage => self.pre_message = deadline,
            EventClass::PostMessage => self.post_message = deadline,
            EventClass::Command => self.command = deadline,
            EventClass::Lifecycle => self.lifecycle = deadline,
            EventClass::Settings => self.settings = deadline,
            EventClass::Http => self.http = deadline,
            EventClass::Job => self.job = deadline,
            EventClass::Interaction => self.interaction = deadline,
        }
    }

    /// The deadline of `class`.
    pub fn of(&self, class: EventClass) -> Duration {
        match class {
            EventClass::PreMessage => self.pre_message,
            EventClass::PostMessage => self.post_message,
            EventClass::Command => self.command,
            EventClass::Lifecycle => self.lifecycle,
            EventClass::Settings => self.settings,
            EventClass::Http => self.http,
            EventClass::Job => self.job,
            EventClass::Interaction => self.interaction,
        }
    }
}

/// When an app faults this often, it is disabled until an operator
/// re-enables it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ErrorDisable {
    /// Faults (traps, timeouts, memory cap) that disable the app.
    pub max_faults: u32,
    /// Within this window.
    pub window: Duration,
}

impl Default for ErrorDisable {
    fn default() -> Self {
        ErrorDisable {
            max_faults: 5,
            window: Duration::from_secs(60),
        }
    }
}

/// Why a failed pre-message call blocks the message, when that class fails
/// closed; `None` when it fails open or the call did not fail.
pub(crate) fn blocks(report: &AppReport, fails_closed: bool) -> Option<String> {
    (report.outcome == Outcome::Error && fails_closed).then(|| {
        format!(
            "app '{}' failed in {} and the pre-message policy is fail-closed: {}",
            report.app,
            report.handler,
            report.headline()
        )
    })
}

/// Longest app error, refusal reason or trap message the host keeps.
pub(crate) const MAX_APP_TEXT: usize = 4096;

/// `text` cut to at most `max` bytes (at a character boundary), copied, so
/// the cut string does not keep the original's allocation.
pub(crate) fn bounded(text: String, max: usize) -> String {
    if text.len() <= max {
        return text;
    }
    let mut cut = max;
    while !text.is_char_boundary(cut) {
        cut -= 1;
    }
    format!("{}… ({} bytes cut)", &text[..cut], text.len() - cut)
}
