//! The journal: app and host log lines and call counters, handed to one
//! background writer that batches them into the registry, so no call ever
//! waits for the registry's write lock. Retention runs in the writer's
//! periodic pass. [`Journal::flush`] is the barrier readers use (`logs`,
//! `info`); dropping the journal flushes it.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::mpsc::{Receiver, RecvTimeoutError, Sender, channel};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crate::error::Result;
use crate::registry::{self, CallStats};

/// Where the journal's writer keeps lines and counters: the registry, on
/// whichever backend it lives.
pub(crate) trait LogStore: Send {
    /// Run `f` in one write transaction.
    fn batch(&mut self, f: &mut dyn FnMut(&mut dyn LogTxn) -> Result<()>) -> Result<()>;
}

/// The writes of one journal batch.
pub(crate) trait LogTxn {
    /// Append log lines about `app` from `source`.
    fn append(
        &mut self,
        app: &str,
        source: &str,
        lines: &[(&str, String)],
        time: i64,
    ) -> Result<()>;
    /// Add call counters.
    fn add_stats(&mut self, stats: &[(String, CallStats)]) -> Result<()>;
    /// How many of `app`'s own lines were written since `since` (ms), by
    /// any process.
    fn lines_since(&mut self, app: &str, since: i64) -> Result<u64>;
    /// Apply retention to `app`'s lines.
    fn retain(&mut self, app: &str, now: i64) -> Result<()>;
}

/// Opens the writer's log store, on the writer's thread.
pub(crate) type OpenLog = Box<dyn FnOnce() -> Option<Box<dyn LogStore>> + Send>;

/// How often the writer runs retention for the apps it wrote lines for.
const RETENTION_EVERY: Duration = Duration::from_secs(1);
/// Most entries written in one transaction.
const BATCH: usize = 1024;
/// Most bytes of log lines waiting for the writer: when it falls behind
/// (another process holds the registry), lines past this are dropped and
/// counted rather than held in memory.
const MAX_QUEUED_BYTES: usize = 16 << 20;

enum Entry {
    Lines {
        app: String,
        source: &'static str,
        lines: Vec<(&'static str, String)>,
        time: i64,
    },
    Stats(Vec<(String, CallStats)>),
    Flush(Sender<()>),
}

/// The sending side; cheap to call from any thread.
pub(crate) struct Journal {
    tx: Option<Sender<Entry>>,
    writer: Option<JoinHandle<()>>,
    /// Bytes of lines queued and not yet written.
    queued: Arc<AtomicUsize>,
    /// Lines dropped because the queue was full, not yet said.
    dropped: AtomicU64,
}

impl Journal {
    /// Start the writer on the log store `open` opens; an app keeps at
    /// most `lines_per_minute` of its own lines, counted over every
    /// process writing to that registry.
    pub(crate) fn start(open: OpenLog, lines_per_minute: u32) -> std::io::Result<Journal> {
        let (tx, rx) = channel();
        let queued = Arc::new(AtomicUsize::new(0));
        let writer = {
            let queued = queued.clone();
            std::thread::Builder::new()
                .name("hangar-journal".into())
                .spawn(move || write_loop(open, rx, lines_per_minute, &queued))?
        };
        Ok(Journal {
            tx: Some(tx),
            writer: Some(writer),
            queued,
            dropped: AtomicU64::new(0),
        })
    }

    fn send(&self, entry: Entry) {
        // The channel is lock-free for senders: no call waits here.
        if let Some(tx) = &self.tx {
            let _ = tx.send(entry);
        }
    }

    /// Queue log lines about `app` from `source` ("app" or "host").
    pub(crate) fn lines(
        &self,
        app: &str,
        source: &'static str,
        lines: Vec<(&'static str, String)>,
    ) {
        if lines.is_empty() {
            return;
        }
        let mut lines = lines;
        let bytes = bytes_of(&lines);
        if self.queued.fetch_add(bytes, Ordering::AcqRel) + bytes > MAX_QUEUED_BYTES {
            self.queued.fetch_sub(bytes, Ordering::AcqRel);
            self.dropped
                .fetch_add(lines.len() as u64, Ordering::Relaxed);
            return;
        }
        let dropped = self.dropped.swap(0, Ordering::Relaxed);
        if dropped > 0 {
            lines.push((
                "warn",
                format!("{dropped} log lines dropped: the log writer had fallen behind"),
            ));
        }
        self.send(Entry::Lines {
            app: app.to_string(),
            source,
            lines,
            time: registry::now_ms() as i64,
        });
    }

    /// Queue one host line about `app`.
    pub(crate) fn host(&self, app: &str, level: &'static str, message: String) {
        self.lines(app, "host", vec![(level, message)]);
    }

    /// Queue call counters to add.
    pub(crate) fn stats(&self, batch: Vec<(String, CallStats)>) {
        if !batch.is_empty() {
            self.send(Entry::Stats(batch));
        }
    }

    /// Wait until everything queued so far is written and retention ran.
    pub(crate) fn flush(&self) {
        let (ack, done) = channel();
        self.send(Entry::Flush(ack));
        let _ = done.recv();
    }
}

impl Drop for Journal {
    fn drop(&mut self) {
        self.tx.take();
        if let Some(writer) = self.writer.take() {
            let _ = writer.join();
        }
    }
}

fn bytes_of(lines: &[(&'static str, String)]) -> usize {
    lines.iter().map(|(_, l)| l.len()).sum()
}

fn write_loop(open: OpenLog, rx: Receiver<Entry>, lines_per_minute: u32, queued: &AtomicUsize) {
    // A read-only data dir still opens; its writes fail and are dropped.
    let Some(mut store) = open() else {
        for entry in rx {
            if let Entry::Flush(ack) = entry {
                let _ = ack.send(());
            }
        }
        return;
    };
    let mut touched: HashSet<String> = HashSet::new();
    let mut budget = Budget {
        per_minute: lines_per_minute,
        dropped: HashMap::new(),
    };
    let mut last_retention = Instant::now();
    loop {
        let first = match rx.recv_timeout(RETENTION_EVERY) {
            Ok(entry) => Some(entry),
            Err(RecvTimeoutError::Timeout) => None,
            Err(RecvTimeoutError::Disconnected) => break,
        };
        let mut batch: Vec<Entry> = first.into_iter().collect();
        while batch.len() < BATCH {
            match rx.try_recv() {
                Ok(entry) => batch.push(entry),
                Err(_) => break,
            }
        }
        for entry in &batch {
            if let Entry::Lines { lines, .. } = entry {
                queued.fetch_sub(bytes_of(lines), Ordering::AcqRel);
            }
        }
        let mut acks = Vec::new();
        let mut batch = Some(batch);
        let _ = store.batch(&mut |c| {
            for entry in batch.take().unwrap_or_default() {
                match entry {
                    Entry::Lines {
                        app,
                        source,
                        mut lines,
                        time,
                    } => {
                        if source == "app" {
                            budget.apply(c, &app, &mut lines, time)?;
                        }
                        c.append(&app, source, &lines, time)?;
                        touched.insert(app);
                    }
                    Entry::Stats(stats) => c.add_stats(&stats)?,
                    Entry::Flush(ack) => acks.push(ack),
                }
            }
            Ok(())
        });
        if !acks.is_empty() || last_retention.elapsed() >= RETENTION_EVERY {
            retain(store.as_mut(), &mut touched);
            last_retention = Instant::now();
        }
        for ack in acks {
            let _ = ack.send(());
        }
    }
    retain(store.as_mut(), &mut touched);
}

/// The per-minute budget of app log lines, counted in the registry so that
/// every process on the data dir shares it.
struct Budget {
    per_minute: u32,
    /// Per app: lines dropped since the last note, and when that note was.
    dropped: HashMap<String, (u64, Option<Instant>)>,
}

impl Budget {
    fn apply(
        &mut self,
        c: &mut dyn LogTxn,
        app: &str,
        lines: &mut Vec<(&'static str, String)>,
        time: i64,
    ) -> Result<()> {
        let used = c.lines_since(app, time - MINUTE.as_millis() as i64)?;
        let room = u64::from(self.per_minute).saturating_sub(used) as usize;
        let (dropped, noted) = self.dropped.entry(app.to_string()).or_insert((0, None));
        if lines.len() > room {
            *dropped += (lines.len() - room) as u64;
            lines.truncate(room);
        }
        if *dropped > 0 && noted.is_none_or(|t| t.elapsed() >= MINUTE) {
            c.append(
                app,
                "host",
                &[(
                    "warn",
                    format!(
                        "{dropped} log lines dropped: over the limit of {} lines per minute (counted over every process on this data dir)",
                        self.per_minute
                    ),
                )],
                time,
            )?;
            *dropped = 0;
            *noted = Some(Instant::now());
        }
        Ok(())
    }
}

/// The window of the log budget.
const MINUTE: Duration = Duration::from_secs(60);

fn retain(store: &mut dyn LogStore, touched: &mut HashSet<String>) {
    if touched.is_empty() {
        return;
    }
    let now = registry::now_ms() as i64;
    let _ = store.batch(&mut |c| {
        for app in touched.iter() {
            c.retain(app, now)?;
        }
        Ok(())
    });
    touched.clear();
}
