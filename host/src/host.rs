//! The embedding API: [`Host`], built by a [`HostBuilder`](crate::HostBuilder),
//! shared with `Arc` (it is `Send + Sync`), called at each chat event. A
//! thin facade: each method hands its work to the service that owns it.

use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;

use crate::apps::Apps;
use crate::bridge::{Bridge, ChatEvent, Message};
use crate::call::CallEngine;
use crate::config::HostConfig;
use crate::endpoint::{EndpointOutcome, HttpRequest, HttpResponse};
use crate::engine::Runtime;
use crate::error::{Error, Result};
use crate::interact::{Interaction, InteractionReport};
use crate::journal::Journal;
use crate::journal::{LogStore, OpenLog};
use crate::lifecycle::Lifecycle;
use crate::manifest::ActionButtonSpec;
use crate::package::Package;
use crate::pg::PgConfig;
use crate::pipeline;
use crate::pipeline::command::Typed;
use crate::pipeline::jobs::JobRun;
use crate::registry::{LogEntry, Registry, SqliteLog, SqliteRegistry};
use crate::report::{
    AppInfo, AppReport, AppSummary, CommandReport, EventReport, PreviewItem, SendReport,
};
use crate::stats::Stats;
use crate::storage::Backend;
use crate::storage::postgres::PgBackend;
use crate::storage::sqlite::SqliteBackend;
use crate::storage::{JobOp, JobRow, Record};
use crate::workers::Workers;

/// The host's services, composed once.
struct Services {
    config: Arc<HostConfig>,
    registry: Arc<Registry>,
    journal: Arc<Journal>,
    stats: Arc<Stats>,
    apps: Arc<Apps>,
    calls: Arc<CallEngine>,
    lifecycle: Lifecycle,
    workers: Workers,
    jobs: pipeline::jobs::Runner,
}

impl Drop for Services {
    fn drop(&mut self) {
        // Counters not yet handed over; the journal writes them as it ends.
        self.journal.stats(self.stats.drain());
    }
}

/// The plugin host. Cheap to clone (an `Arc` inside); every method is
/// blocking, so call it from `spawn_blocking` in async code (or use the
/// `tokio` feature's `*_async` methods).
#[derive(Clone)]
pub struct Host {
    inner: Arc<Services>,
}

impl std::fmt::Debug for Host {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Host")
            .field("data_dir", &self.inner.config.data_dir)
            .finish()
    }
}

impl Host {
    /// Open `config.data_dir` and load every installed app.
    pub(crate) fn open(config: HostConfig, bridge: Arc<dyn Bridge>) -> Result<Host> {
        let dir = config.data_dir.clone();
        let apps_dir = dir.join("apps");
        std::fs::create_dir_all(&apps_dir)
            .map_err(|e| Error::io(format!("creating the data directory {}", dir.display()), e))?;
        let cache_dir = config
            .cache_dir
            .clone()
            .unwrap_or_else(|| dir.join("cache"));
        let runtime = Arc::new(Runtime::new(&config.instance, cache_dir)?);
        let (registry, backend, log): (Registry, Arc<dyn Backend>, OpenLog) = match &config.store {
            None => {
                let path = dir.join("registry.db");
                let registry = Registry::Sqlite(SqliteRegistry::open(&path, config.busy_timeout)?);
                let backend = Arc::new(SqliteBackend::new(
                    &apps_dir,
                    config.storage,
                    config.durability,
                    config.busy_timeout,
                ));
                let log: OpenLog = Box::new(move || {
                    SqliteLog::open(&path).map(|l| Box::new(l) as Box<dyn LogStore>)
                });
                (registry, backend, log)
            }
            Some(url) => {
                let pg = PgConfig::parse(url, config.max_connections)?;
                // A session idle in a transaction longer than any call's
                // deadline belongs to a stuck or vanished host.
                let longest = crate::policy::EventClass::ALL
                    .iter()
                    .map(|c| config.deadlines.of(*c))
                    .chain(
                        config
                            .app_deadlines
                            .values()
                            .flat_map(|m| m.values().copied()),
                    )
                    .max()
                    .unwrap_or_default();
                let idle_ms = (longest + std::time::Duration::from_secs(30)).as_millis() as u64;
                let (pool, registry) = crate::registry::postgres::open(&pg, idle_ms)?;
                let backend = Arc::new(PgBackend::new(pool, config.storage));
                let writer = registry.log_writer();
                let log: OpenLog = Box::new(move || Some(Box::new(writer) as Box<dyn LogStore>));
                (Registry::Postgres(registry), backend, log)
            }
        };
        let registry = Arc::new(registry);
        let journal = Arc::new(
            Journal::start(log, config.log_lines_per_minute)
                .map_err(|e| Error::io("starting the log writer thread", e))?,
        );
        let stats = Arc::new(Stats::new());
        // Leftovers of processes that crashed mid-install/update/uninstall.
        registry.sweep(&apps_dir)?;
        let apps = Arc::new(Apps::open(
            &dir,
            registry.clone(),
            backend,
            runtime.clone(),
            journal.clone(),
            stats.clone(),
        )?);
        let config = Arc::new(config);
        let calls = Arc::new(CallEngine {
            runtime,
            config: config.clone(),
            bridge,
            journal: journal.clone(),
            registry: registry.clone(),
            stats: stats.clone(),
            deliveries: Default::default(),
        });
        let workers = Workers::new(config.workers)
            .map_err(|e| Error::io("starting the dispatch worker threads", e))?;
        let lifecycle = Lifecycle {
            apps: apps.clone(),
            calls: calls.clone(),
            registry: registry.clone(),
            journal: journal.clone(),
        };
        Ok(Host {
            inner: Arc::new(Services {
                config,
                registry,
                journal,
                stats,
                apps,
                calls,
                lifecycle,
                workers,
                jobs: Default::default(),
            }),
        })
    }

    /// Install the app package at `path`: validate, compile, run its install
    /// hook, and enable it. On any failure nothing is installed and nothing
    /// is left on disk.
    pub fn install(&self, path: &Path) -> Result<AppSummary> {
        self.install_package(Package::read(path)?)
    }

    /// Install an already-read package.
    pub fn install_package(&self, package: Package) -> Result<AppSummary> {
        self.inner.lifecycle.install(package)
    }

    /// Enable an app. Its read-only enable hook may refuse, with a reason:
    /// the app then stays disabled and its status says why.
    pub fn enable(&self, id: &str) -> Result<AppSummary> {
        self.inner.lifecycle.enable(id)
    }

    /// Disable an app: it receives no events; its data is kept.
    pub fn disable(&self, id: &str) -> Result<AppSummary> {
        self.inner.lifecycle.disable(id)
    }

    /// Replace an installed app with a new version of the same id; its data
    /// and status are kept, and its update hook (with the writer) is told the
    /// previous version. On failure the old version stays.
    /// The target is the installed app with the package's id; an older
    /// version is refused (see [`Host::update_allowing_downgrade`]).
    pub fn update(&self, path: &Path) -> Result<AppSummary> {
        self.inner.lifecycle.update(Package::read(path)?, false)
    }

    /// [`Host::update`], accepting a package older than the installed app.
    pub fn update_allowing_downgrade(&self, path: &Path) -> Result<AppSummary> {
        self.inner.lifecycle.update(Package::read(path)?, true)
    }

    /// Uninstall an app: its uninstall hook runs (with the writer), then its
    /// entry, settings, logs, package and store are deleted.
    pub fn uninstall(&self, id: &str) -> Result<()> {
        self.inner.lifecycle.uninstall(id)
    }

    /// Everything about one app: manifest, status, storage use, settings,
    /// call counts (over every host process).
    pub fn info(&self, id: &str) -> Result<AppInfo> {
        let s = &self.inner;
        let entry = s.registry.app(id)?;
        // Include this process's counters not yet written.
        s.journal.stats(s.stats.drain());
        s.journal.flush();
        let store =
            s.apps.backend().open(id).map_err(|e| {
                Error::InvalidInput(format!("reading the store of app '{id}': {e}"))
            })?;
        let (records, storage_bytes) = store
            .usage()
            .map_err(|e| Error::InvalidInput(format!("reading the store of app '{id}': {e}")))?;
        let jobs = store
            .job_stats()
            .map_err(|e| Error::InvalidInput(format!("reading the jobs of app '{id}': {e}")))?;
        let stored: HashMap<String, serde_json::Value> =
            s.registry.settings(id)?.into_iter().collect();
        let settings = entry
            .manifest
            .settings
            .iter()
            .map(|spec| {
                let value = stored.get(&spec.id).unwrap_or(&spec.default);
                (spec.id.clone(), value.clone())
            })
            .collect();
        Ok(AppInfo {
            summary: AppSummary::from(&entry),
            calls: s.registry.stats(id)?,
            manifest: entry.manifest,
            sha256: entry.sha256,
            records,
            storage_bytes,
            settings,
            jobs,
        })
    }

    /// Every installed app, in dispatch order.
    pub fn list(&self) -> Result<Vec<AppSummary>> {
        Ok(self
            .inner
            .registry
            .apps()?
            .iter()
            .map(AppSummary::from)
            .collect())
    }

    /// Every record in an app's store, oldest first.
    pub fn records(&self, app: &str) -> Result<Vec<Record>> {
        let app = self.inner.apps.app(app)?;
        app.store.all_records().map_err(|e| {
            Error::InvalidInput(format!("reading the records of app '{}': {e}", app.id()))
        })
    }

    /// Push a message from `sender` in `room` through the whole pipeline.
    pub fn send_message(&self, room: &str, sender: &str, text: &str) -> Result<SendReport> {
        self.send(Message {
            room: room.to_string(),
            sender: sender.to_string(),
            text: text.to_string(),
            timestamp: crate::registry::now_ms(),
            ..Message::default()
        })
    }

    /// Push a prepared message (in a thread, with attachments and blocks
    /// as the chat allows) through the whole pipeline. Its text, ids,
    /// custom fields and rich content are bounded like anything an app
    /// hands the host.
    pub fn send(&self, message: Message) -> Result<SendReport> {
        let s = &self.inner;
        check_message(&message, s.config.max_argument_bytes)?;
        let set = s.apps.current()?;
        pipeline::message::send(&s.calls, &set, &s.workers, message)
    }

    /// Run a slash command line such as `/karma bob`.
    pub fn command(&self, room: &str, sender: &str, line: &str) -> Result<CommandReport> {
        self.command_in_thread(room, None, sender, line)
    }

    /// Run a slash command typed in a thread (`thread` is its root
    /// message); API 0.2 apps see the thread.
    pub fn command_in_thread(
        &self,
        room: &str,
        thread: Option<&str>,
        sender: &str,
        line: &str,
    ) -> Result<CommandReport> {
        // Without a delivery mark the handler always runs.
        Ok(self
            .typed_command(room, thread, sender, line, None)?
            .expect("a command without a mark runs"))
    }

    /// Ask for a command's preview (read-only).
    pub fn preview(
        &self,
        room: &str,
        sender: &str,
        line: &str,
    ) -> Result<(Vec<PreviewItem>, AppReport)> {
        let s = &self.inner;
        let set = s.apps.current()?;
        let at = Typed {
            room,
            thread: None,
            sender,
            line,
        };
        pipeline::command::preview(&s.calls, &set, &at)
    }

    /// The user picked `item` from the preview of the command on `line`:
    /// the command's app acts on it (a handler, API 0.2).
    pub fn pick_preview_item(
        &self,
        room: &str,
        sender: &str,
        line: &str,
        item: &PreviewItem,
    ) -> Result<CommandReport> {
        let s = &self.inner;
        let set = s.apps.current()?;
        let at = Typed {
            room,
            thread: None,
            sender,
            line,
        };
        pipeline::command::pick(&s.calls, &set, &at, item)
    }

    /// Serve an HTTP request to app `app`'s endpoint `request.path` (the
    /// web server mounts `/apps/<app>/...`): the app's declared endpoint,
    /// method and auth are checked, then its `handle-request` runs as a
    /// handler. Every outcome is an answer to send, never an error: 404 for
    /// an unknown app or path, 401 for a bad secret, 503 while disabled,
    /// 413/431 for oversized bodies or headers, 504 on the deadline, 500 if
    /// the app failed.
    pub fn http(&self, app: &str, request: &HttpRequest) -> EndpointOutcome {
        let s = &self.inner;
        let set = match s.apps.current() {
            Ok(set) => set,
            Err(e) => {
                return EndpointOutcome {
                    response: HttpResponse::refusal(
                        503,
                        &format!("the host cannot load apps: {e}"),
                    ),
                    report: None,
                };
            }
        };
        let secret = || s.registry.endpoint_secret(app);
        pipeline::http::handle(&s.calls, &set, app, request, secret)
    }

    /// App `app`'s endpoint secret, created on first use.
    pub fn endpoint_secret(&self, app: &str) -> Result<String> {
        let s = &self.inner;
        s.apps.app(app)?;
        s.registry.ensure_endpoint_secret(app)
    }

    /// Replace app `app`'s endpoint secret; the old one stops working at once.
    pub fn rotate_endpoint_secret(&self, app: &str) -> Result<String> {
        let s = &self.inner;
        s.apps.app(app)?;
        s.registry.new_endpoint_secret(app)
    }

    /// Run due jobs: up to `max` per app, claimed for `owner` (name the
    /// process, e.g. `host:pid`). Every process on the data dir may call
    /// this; each job's run commits exactly once. `hangar serve` calls it
    /// in a loop.
    pub fn run_due_jobs(&self, owner: &str, max: usize) -> Result<Vec<JobRun>> {
        let s = &self.inner;
        let set = s.apps.current()?;
        Ok(s.jobs.pass(&s.calls, &set, owner, max))
    }

    /// App `app`'s jobs, by due time.
    pub fn jobs(&self, app: &str) -> Result<Vec<JobRow>> {
        let app = self.inner.apps.app(app)?;
        app.store.jobs().map_err(|e| {
            Error::InvalidInput(format!("reading the jobs of app '{}': {e}", app.id()))
        })
    }

    /// An operator's action on job `id` of app `app` (run now, retry a
    /// dead one, cancel); false if there is no such job.
    pub fn job_op(&self, app: &str, id: &str, op: JobOp) -> Result<bool> {
        let app = self.inner.apps.app(app)?;
        app.store
            .job_op(id, op, crate::registry::now_ms())
            .map_err(|e| Error::InvalidInput(format!("job '{id}' of app '{}': {e}", app.id())))
    }

    /// Raise `event` before the chat carries it out: the apps that prevent
    /// its kind decide. If the report says `prevented`, do not carry it out;
    /// otherwise carry it out, then call [`Host::post_event`].
    pub fn pre_event(&self, event: &ChatEvent) -> Result<EventReport> {
        let s = &self.inner;
        check_event(event, s.config.max_argument_bytes)?;
        let set = s.apps.current()?;
        Ok(pipeline::event::pre(&s.calls, &set, event))
    }

    /// Raise `event` after the chat carried it out: the apps that handle
    /// its kind run, fanned out.
    pub fn post_event(&self, event: &ChatEvent) -> Result<EventReport> {
        let s = &self.inner;
        check_event(event, s.config.max_argument_bytes)?;
        let set = s.apps.current()?;
        Ok(pipeline::event::post(
            &s.calls, &set, &s.workers, event, None,
        ))
    }

    /// [`Host::post_event`] for a chat that may deliver the same event
    /// again (a Matrix homeserver retries a transaction until it is
    /// acknowledged): each app's handler commits at most once per
    /// `delivery`, because its mark commits in the handler's own
    /// transaction. Apps that handled it before are skipped (no report).
    pub fn post_event_once(&self, event: &ChatEvent, delivery: &Delivery) -> Result<EventReport> {
        let s = &self.inner;
        check_event(event, s.config.max_argument_bytes)?;
        let once = delivery.once(s.config.max_argument_bytes)?;
        let set = s.apps.current()?;
        Ok(pipeline::event::post(
            &s.calls,
            &set,
            &s.workers,
            event,
            Some(once),
        ))
    }

    /// Run `message` through prevent, extend and modify without storing
    /// it, for a chat that stores messages itself (a homeserver's
    /// pre-send hook): the report says `prevented` (with the app and
    /// reason) or `checked`, with the message as the apps left it. Store
    /// that, then call [`Host::post_message`].
    pub fn check_message(&self, message: Message) -> Result<SendReport> {
        let s = &self.inner;
        check_message(&message, s.config.max_argument_bytes)?;
        let set = s.apps.current()?;
        Ok(pipeline::message::check(&s.calls, &set, message))
    }

    /// The post-send stage of a message the chat stored itself (its id
    /// set): the apps that handle sent messages run, fanned out, each at
    /// most once per `delivery` when given.
    pub fn post_message(
        &self,
        message: Message,
        delivery: Option<&Delivery>,
    ) -> Result<SendReport> {
        let s = &self.inner;
        check_message(&message, s.config.max_argument_bytes)?;
        let once = match delivery {
            Some(d) => Some(d.once(s.config.max_argument_bytes)?),
            None => None,
        };
        let set = s.apps.current()?;
        Ok(pipeline::message::post_stored(
            &s.calls, &set, &s.workers, message, once,
        ))
    }

    /// [`Host::command_in_thread`] for a chat that may deliver the same
    /// command again: `None` when its app handled `delivery` before.
    pub fn command_once(
        &self,
        room: &str,
        thread: Option<&str>,
        sender: &str,
        line: &str,
        delivery: &Delivery,
    ) -> Result<Option<CommandReport>> {
        let once = delivery.once(self.inner.config.max_argument_bytes)?;
        self.typed_command(room, thread, sender, line, Some(&once))
    }

    /// A typed command line, run once per `once` when given.
    fn typed_command(
        &self,
        room: &str,
        thread: Option<&str>,
        sender: &str,
        line: &str,
        once: Option<&crate::call::Once>,
    ) -> Result<Option<CommandReport>> {
        let s = &self.inner;
        let set = s.apps.current()?;
        let at = Typed {
            room,
            thread,
            sender,
            line,
        };
        pipeline::command::run(&s.calls, &set, &at, once)
    }

    /// Handle an interaction a chat client reports: checked against what
    /// the host showed (a forged or stale one is [`Error::Refused`] and no
    /// app sees it), then one handler of the app that showed it, with a
    /// trigger that can open a view. A submit may come back with errors
    /// per input (the view stays open) or with `closed`.
    pub fn interact(&self, interaction: &Interaction) -> Result<InteractionReport> {
        let s = &self.inner;
        let set = s.apps.current()?;
        pipeline::interact::run(&s.calls, &set, interaction)
    }

    /// The action buttons of the enabled apps, for a chat to show: `(app,
    /// button)`, in install order.
    pub fn action_buttons(&self) -> Result<Vec<(String, ActionButtonSpec)>> {
        let set = self.inner.apps.current()?;
        Ok(set
            .handling(crate::exports::Export::ActionButton)
            .iter()
            .flat_map(|a| {
                a.manifest
                    .action_buttons
                    .iter()
                    .map(|b| (a.id().to_string(), b.clone()))
            })
            .collect())
    }

    /// The most recent `limit` log lines of an app, oldest first.
    pub fn logs(&self, app: &str, limit: usize) -> Result<Vec<LogEntry>> {
        self.logs_after(app, 0, limit)
    }

    /// Up to `limit` log lines of an app after position `after` (a
    /// [`LogEntry::seq`]), oldest first: poll it to follow the log.
    pub fn logs_after(&self, app: &str, after: i64, limit: usize) -> Result<Vec<LogEntry>> {
        let s = &self.inner;
        s.registry.app(app)?;
        s.journal.flush();
        s.registry.logs(app, after, limit)
    }

    /// The current settings of an app (manifest defaults overlaid with the
    /// operator's values).
    pub fn settings(&self, app: &str) -> Result<Vec<(String, serde_json::Value)>> {
        let app = self.inner.apps.app(app)?;
        Ok(app
            .manifest
            .settings
            .iter()
            .map(|spec| {
                let value = app.settings.get(&spec.id).unwrap_or(&spec.default);
                (spec.id.clone(), value.clone())
            })
            .collect())
    }

    /// Change a setting: checked against its declared type, then offered to
    /// the app's read-only validation hook (which may refuse it: the value
    /// is then unchanged), stored, and passed to the app's updated hook.
    pub fn set_setting(&self, app: &str, id: &str, value: serde_json::Value) -> Result<()> {
        self.inner.lifecycle.set_setting(app, id, value)
    }

    /// The configuration in force.
    pub fn config(&self) -> &HostConfig {
        &self.inner.config
    }

    #[cfg(feature = "bench")]
    pub(crate) fn runtime(&self) -> &Runtime {
        &self.inner.calls.runtime
    }
}

/// A delivery the chat may repeat, named by the chat: each app handles it
/// at most once ([`Host::post_message`], [`Host::post_event_once`],
/// [`Host::command_once`]). Its mark is kept a week, so `at_ms` (when the
/// chat made the event, stable across retries) must be the same every
/// time it is delivered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Delivery {
    /// The chat's id of the event (a Matrix event id), at most 512 bytes.
    pub id: String,
    /// When the chat made it, in milliseconds since the epoch.
    pub at_ms: u64,
}

impl Delivery {
    fn once(&self, max: usize) -> Result<crate::call::Once> {
        let limit = max.min(512);
        if self.id.is_empty() || self.id.len() > limit || self.id.contains('\0') {
            return Err(Error::InvalidInput(format!(
                "a delivery id must be 1 to {limit} bytes without NUL characters"
            )));
        }
        Ok(crate::call::Once::new(&self.id, self.at_ms))
    }
}

/// Bound a message the chat hands the host: rich content, sender (never
/// an app's bot user) and sizes.
fn check_message(message: &Message, max: usize) -> Result<()> {
    let fields = serde_json::to_string(&message.custom_fields).map_or(0, |f| f.len());
    crate::rich::check(
        &message.content(),
        message.alias.as_deref(),
        message.avatar.as_deref(),
        max,
    )
    .map_err(|r| Error::InvalidInput(r.into()))?;
    if message.sender.starts_with("app:") {
        return Err(Error::InvalidInput(format!(
            "'{}' is an app's bot user: apps send through their modifier, never as a chat user",
            message.sender.chars().take(100).collect::<String>()
        )));
    }
    for (what, len) in [
        ("text", message.text.len()),
        ("room", message.room.len()),
        ("sender", message.sender.len()),
        ("id", message.id.len()),
        ("thread", message.thread.as_ref().map_or(0, String::len)),
        ("custom fields", fields),
    ] {
        if len > max {
            return Err(Error::InvalidInput(format!(
                "the message's {what} is {len} bytes, over the limit of {max}"
            )));
        }
    }
    Ok(())
}

/// Bound an event an embedder raises like a message it sends: each
/// message in it within the rich-message bounds, the whole within a few
/// times the argument limit.
fn check_event(event: &ChatEvent, max: usize) -> Result<()> {
    let messages: Vec<&Message> = match event {
        ChatEvent::MessageUpdated {
            message, previous, ..
        } => vec![message, previous],
        ChatEvent::MessageDeleted { message, .. } | ChatEvent::MessageReacted { message, .. } => {
            vec![message]
        }
        _ => Vec::new(),
    };
    for m in messages {
        crate::rich::check(&m.content(), m.alias.as_deref(), m.avatar.as_deref(), max)
            .map_err(|r| Error::InvalidInput(r.into()))?;
    }
    let bytes = serde_json::to_vec(event).map_or(0, |v| v.len());
    if bytes > 4 * max {
        return Err(Error::InvalidInput(format!(
            "the event is {bytes} bytes, over the limit of {}",
            4 * max
        )));
    }
    Ok(())
}
