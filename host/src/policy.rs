//! Policy: the event classes and their deadlines, which failures block an
//! action (fail closed), and the per-app guards that need memory across
//! calls: the fault window that disables a misbehaving app, and the log
//! budget that keeps one app from flooding the registry.

use std::collections::VecDeque;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use crate::report::{AppReport, FailureKind, Outcome};

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
}

/// Per-class call deadlines.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
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
}

impl Default for Deadlines {
    fn default() -> Self {
        Deadlines {
            pre_message: Duration::from_millis(500),
            post_message: Duration::from_secs(2),
            command: Duration::from_secs(2),
            lifecycle: Duration::from_secs(5),
            settings: Duration::from_secs(1),
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

/// How long a log budget lasts.
const LOG_WINDOW: Duration = Duration::from_secs(60);

/// One app's guards, shared by every version of the app loaded in this
/// process. A lock per app, taken only when the app faults or logs.
#[derive(Default)]
pub(crate) struct AppGuard {
    faults: Mutex<VecDeque<Instant>>,
    logs: Mutex<Option<LogBudget>>,
}

struct LogBudget {
    window_start: Instant,
    used: u32,
    dropped: u64,
}

impl AppGuard {
    /// Count a call's failure; true when it trips the error-disable policy
    /// (the window is then cleared). Only guest faults count: traps,
    /// timeouts and the memory cap, not errors the app returned.
    pub(crate) fn fault(&self, report: &AppReport, policy: ErrorDisable) -> bool {
        let fault = matches!(
            report.failure,
            Some(FailureKind::Trap | FailureKind::Timeout | FailureKind::OutOfMemory)
        );
        if !fault {
            return false;
        }
        let now = Instant::now();
        let mut window = self.faults.lock().expect("guard lock poisoned");
        window.push_back(now);
        while window
            .front()
            .is_some_and(|t| now.duration_since(*t) > policy.window)
        {
            window.pop_front();
        }
        let tripped = window.len() as u32 >= policy.max_faults;
        if tripped {
            window.clear();
        }
        tripped
    }

    /// Keep at most `limit` app log lines per minute; a note says how many
    /// were dropped in the previous window.
    pub(crate) fn budget_logs(
        &self,
        limit: u32,
        mut lines: Vec<(&'static str, String)>,
    ) -> Vec<(&'static str, String)> {
        let now = Instant::now();
        let mut budget = self.logs.lock().expect("guard lock poisoned");
        let b = budget.get_or_insert(LogBudget {
            window_start: now,
            used: 0,
            dropped: 0,
        });
        let mut notes = Vec::new();
        if now.duration_since(b.window_start) >= LOG_WINDOW {
            if b.dropped > 0 {
                notes.push((
                    "warn",
                    format!(
                        "{} log lines dropped: over the limit of {limit} lines per minute",
                        b.dropped
                    ),
                ));
            }
            *b = LogBudget {
                window_start: now,
                used: 0,
                dropped: 0,
            };
        }
        let room = limit.saturating_sub(b.used) as usize;
        if lines.len() > room {
            b.dropped += (lines.len() - room) as u64;
            lines.truncate(room);
        }
        b.used += lines.len() as u32;
        notes.extend(lines);
        notes
    }
}
