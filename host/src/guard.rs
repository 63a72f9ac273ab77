//! Per-app protections that need memory across calls: the fault window
//! that moves a misbehaving app to "disabled by error", and the log rate
//! limit that keeps an app from flooding the registry.

use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::dispatch::{AppReport, FailureKind};
use crate::host::{HostInner, LoadedApp};
use crate::registry::Status;

#[derive(Default)]
pub(crate) struct Guard {
    faults: Mutex<HashMap<String, VecDeque<Instant>>>,
    logs: Mutex<HashMap<String, LogBudget>>,
}

struct LogBudget {
    window_start: Instant,
    used: u32,
    dropped: u64,
}

const LOG_WINDOW: Duration = Duration::from_secs(60);

impl HostInner {
    /// Count a guest fault; disable the app when it faults too often.
    pub(crate) fn count_fault(&self, app: &LoadedApp, report: &AppReport) {
        let fault = matches!(
            report.failure,
            Some(FailureKind::Trap | FailureKind::Timeout | FailureKind::OutOfMemory)
        );
        if !fault {
            return;
        }
        let policy = self.config.error_disable;
        let id = &app.manifest.id;
        let now = Instant::now();
        let tripped = {
            let mut faults = self.guard.faults.lock().expect("guard lock poisoned");
            let window = faults.entry(id.clone()).or_default();
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
        };
        if tripped {
            let why = format!(
                "disabled after {} faults within {} s; last: {} {}",
                policy.max_faults,
                policy.window.as_secs(),
                report.handler,
                report.headline()
            );
            let _ = self
                .registry
                .set_status(id, Status::ErrorDisabled, Some(&why));
            let _ = self.registry.log(
                id,
                "host",
                &[(
                    "error",
                    format!("{why}; `hangar enable {id}` turns it back on"),
                )],
            );
        }
    }

    /// Keep at most `log_lines_per_minute` app log lines per app.
    pub(crate) fn rate_limit_logs<'a>(
        &self,
        app: &str,
        mut lines: Vec<(&'a str, String)>,
    ) -> Vec<(&'a str, String)> {
        let limit = self.config.log_lines_per_minute;
        let mut budgets = self.guard.logs.lock().expect("guard lock poisoned");
        let now = Instant::now();
        let b = budgets.entry(app.to_string()).or_insert(LogBudget {
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
