//! The `hangar` command: argument parsing, then one library call per
//! command, in one file per command group.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{Context, Result};
use clap::{Parser, Subcommand};
use hangar_host::{Effect, Host, HostBuilder, HostConfig, RefChat};

/// `println!` for text meant for a terminal: control characters in app
/// text (newlines, escape sequences) are shown escaped, so an app cannot
/// forge host lines or drive the terminal. JSON output stays exact.
macro_rules! say {
    ($($arg:tt)*) => {
        $crate::emit(&$crate::printable(&format!($($arg)*)))
    };
}

/// `println!` for the host's own text (JSON, the demo's colours), which
/// must not be escaped.
macro_rules! out {
    () => {
        $crate::emit("")
    };
    ($($arg:tt)*) => {
        $crate::emit(&format!($($arg)*))
    };
}

mod apps;
mod build;
mod chat;
mod data;
mod demo;
mod develop;
mod matrix;
mod migrate;
mod new;
mod serve;
mod settings;
mod web;

/// Hangar: a plugin host for chat servers, running sandboxed WebAssembly apps.
#[derive(Debug, Parser)]
#[command(name = "hangar", version, about)]
struct Cli {
    /// Data directory (registry, apps, their stores, the reference chat).
    /// Default: $HANGAR_DATA_DIR, else ~/.local/share/hangar.
    #[arg(long, global = true, env = "HANGAR_DATA_DIR")]
    data_dir: Option<PathBuf>,
    /// Where app stores, the registry and jobs live: `sqlite` (files in the
    /// data dir, the default) or a PostgreSQL connection string
    /// (postgres://user:password@host:port/database) that hosts on several
    /// machines share. Overrides `store` in config.json.
    #[arg(long, global = true, env = "HANGAR_STORE")]
    store: Option<String>,
    /// What to do.
    #[command(subcommand)]
    command: Cmd,
}

/// What `hangar jobs` does to one job.
#[derive(Debug, Subcommand)]
enum JobsCmd {
    /// Make a job due now.
    RunNow {
        /// App id.
        app: String,
        /// Job id.
        job: String,
    },
    /// Bring a dead-lettered job back, due now, its attempts reset.
    Retry {
        /// App id.
        app: String,
        /// Job id.
        job: String,
    },
    /// Remove a job.
    Cancel {
        /// App id.
        app: String,
        /// Job id.
        job: String,
    },
}

/// `hangar matrix ...`.
#[derive(Debug, Subcommand)]
enum MatrixCmd {
    /// Write the app service registration, the Synapse pre-send module and
    /// the lines to add to homeserver.yaml.
    Init {
        /// The homeserver's server name (the part after ':' in user ids).
        #[arg(long, default_value = "localhost")]
        server_name: String,
        /// The homeserver's Client-Server API.
        #[arg(long, default_value = "http://127.0.0.1:8008")]
        homeserver: String,
        /// Where `hangar serve --matrix` will listen, as the homeserver
        /// reaches it.
        #[arg(long, default_value = "http://127.0.0.1:8080")]
        url: String,
        /// Directory to write to (default: `matrix` in the data dir).
        #[arg(long)]
        out: Option<PathBuf>,
        /// Replace an existing registration (new tokens: restart the
        /// homeserver after).
        #[arg(long)]
        force: bool,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
}

/// The subcommands.
#[derive(Debug, Subcommand)]
enum Cmd {
    /// Install an app package (.wasm).
    Install {
        /// The package.
        path: PathBuf,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// List installed apps.
    List {
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Push a message through the whole pipeline in the reference chat.
    Send {
        /// Room id (created on first use).
        #[arg(long)]
        room: String,
        /// Sender's user id (created on first use).
        #[arg(long)]
        user: String,
        /// The text.
        text: String,
        /// Reply in the thread of this message id.
        #[arg(long)]
        thread: Option<String>,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Run a slash command, e.g. "/karma dave".
    Command {
        /// Room id.
        #[arg(long)]
        room: String,
        /// User id.
        #[arg(long)]
        user: String,
        /// The command line, starting with '/'.
        line: String,
        /// Show the command's (read-only) preview instead of running it.
        #[arg(long)]
        preview: bool,
        /// Pick the preview item with this id: the app acts on it.
        #[arg(long, conflicts_with = "preview")]
        pick: Option<String>,
        /// The thread (root message id) the command is typed in.
        #[arg(long)]
        thread: Option<String>,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Run the long-running host: app HTTP endpoints under `/apps/<id>/`, the
    /// reference chat's HTTP API, health checks. SIGTERM stops it cleanly.
    Serve {
        /// Address to listen on (port 0 picks a free port; the address is
        /// printed).
        #[arg(long, default_value = "127.0.0.1:8080")]
        addr: String,
        /// Allow an address other than loopback (the chat API then answers
        /// anyone who can reach it).
        #[arg(long)]
        public: bool,
        /// Serve as a Matrix application service with this registration
        /// (written by `hangar matrix init`) instead of the reference chat:
        /// apps answer in the homeserver's rooms.
        #[arg(long, value_name = "REGISTRATION")]
        matrix: Option<PathBuf>,
    },
    /// Connect Hangar to a Matrix homeserver (Synapse).
    #[command(subcommand)]
    Matrix(MatrixCmd),
    /// Show an app's HTTP endpoints and the secret callers must send.
    Endpoints {
        /// App id.
        app: String,
        /// Replace the secret; the old one stops working at once.
        #[arg(long)]
        rotate: bool,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Scheduled jobs: list them (due, running with the lease holder,
    /// dead), or act on one.
    #[command(args_conflicts_with_subcommands = true)]
    Jobs {
        /// App id (default: every app).
        app: Option<String>,
        /// Print JSON.
        #[arg(long)]
        json: bool,
        /// An action on one job.
        #[command(subcommand)]
        op: Option<JobsCmd>,
    },
    /// Reference chat operations that raise app events: rooms, joins,
    /// edits, deletes, reactions, users.
    Chat {
        /// The operation.
        #[command(subcommand)]
        op: chat::ChatCmd,
    },
    /// Dump an app's records.
    Data {
        /// App id.
        app: String,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Show an app's logs.
    Logs {
        /// App id.
        app: String,
        /// How many recent lines.
        #[arg(long, default_value_t = 50)]
        lines: usize,
        /// Keep printing new lines as they arrive (Ctrl-C to stop).
        #[arg(long, short)]
        follow: bool,
        /// Print JSON lines.
        #[arg(long)]
        json: bool,
    },
    /// Show a room's recent messages in the reference chat.
    History {
        /// Room id.
        #[arg(long)]
        room: String,
        /// How many.
        #[arg(long, default_value_t = 20)]
        lines: usize,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Scaffold a new app crate that builds and installs unchanged.
    New {
        /// Directory to create; its name is the app id.
        path: PathBuf,
        /// The hangar-sdk crate to depend on (default: the SDK of the
        /// checkout this binary was built from).
        #[arg(long, env = "HANGAR_SDK")]
        sdk: Option<PathBuf>,
    },
    /// Build an app crate for wasm32-wasip2 and validate the result.
    Build {
        /// The crate (or workspace) directory.
        #[arg(default_value = ".")]
        path: PathBuf,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Enable an app (it may refuse, saying why).
    Enable {
        /// App id.
        app: String,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Disable an app: no events; data kept.
    Disable {
        /// App id.
        app: String,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Replace an installed app with a new build of the same id; data kept.
    Update {
        /// The new package; it replaces the installed app with its id.
        path: PathBuf,
        /// Accept a package older than the installed version.
        #[arg(long)]
        allow_downgrade: bool,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Remove an app and purge its data.
    Uninstall {
        /// App id.
        app: String,
    },
    /// Show an app's manifest, status, permissions, settings and storage use.
    Info {
        /// App id.
        app: String,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Show an app's settings, or set one: `hangar settings word-filter mode '"block"'`.
    Settings {
        /// App id.
        app: String,
        /// Setting id to change.
        id: Option<String>,
        /// New value as JSON (a bare word is taken as a string).
        value: Option<String>,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Show the effective configuration (defaults overlaid with
    /// `<data-dir>/config.json`: deadlines, per-app deadlines, fail-closed
    /// classes, error-disable policy, storage and memory limits).
    Config {
        /// Print JSON (the same shape config.json takes).
        #[arg(long)]
        json: bool,
    },
    /// Copy this data dir's SQLite registry and app stores into a
    /// PostgreSQL database, so hosts on several machines can share them.
    /// Each app moves in one transaction with its counts verified; apps
    /// already there are left alone, so running it again is safe.
    ///
    /// Example: hangar --data-dir /var/lib/hangar migrate --to postgres://hangar@db/hangar
    Migrate {
        /// The PostgreSQL connection string (default: --store / HANGAR_STORE).
        #[arg(long)]
        to: Option<String>,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// A guided tour with the example apps, on a fresh temporary data dir.
    Demo {
        /// The example apps' workspace (default: the one in this checkout).
        #[arg(long)]
        apps: Option<PathBuf>,
    },
}

/// Where data lives when no --data-dir or HANGAR_DATA_DIR is given.
fn default_data_dir() -> PathBuf {
    if let Some(d) = std::env::var_os("XDG_DATA_HOME") {
        return PathBuf::from(d).join("hangar");
    }
    match std::env::var_os("HOME") {
        Some(h) => PathBuf::from(h).join(".local/share/hangar"),
        None => PathBuf::from(".hangar"),
    }
}

/// The `--store` given on the command line (or `HANGAR_STORE`).
static STORE: std::sync::OnceLock<String> = std::sync::OnceLock::new();

/// The host configuration of `dir`: defaults, `config.json`, `--store`.
pub(crate) fn load_config(dir: &Path) -> Result<HostConfig> {
    let mut config = HostConfig::load(dir)?;
    if let Some(store) = STORE.get() {
        config
            .set_store(store)
            .context("--store (or HANGAR_STORE)")?;
    }
    Ok(config)
}

/// Open the host and reference chat in `dir`.
pub(crate) fn open(dir: &Path) -> Result<(Host, Arc<RefChat>)> {
    // A bad configuration is refused before anything is created.
    let config = load_config(dir)?;
    let chat = Arc::new(
        RefChat::open(dir)
            .with_context(|| format!("opening the reference chat in {}", dir.display()))?,
    );
    let host = HostBuilder::from_config(config)
        .build(chat.clone())
        .with_context(|| format!("opening the host data directory {}", dir.display()))?;
    Ok((host, chat))
}

pub(crate) fn print_json(value: &impl serde::Serialize) -> Result<()> {
    out!("{}", serde_json::to_string_pretty(value)?);
    Ok(())
}

/// Set once stdout's reader has gone (`hangar ... | head`).
static STDOUT_GONE: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// Whether stdout's reader has gone: loops that only print should stop.
pub(crate) fn stdout_gone() -> bool {
    STDOUT_GONE.load(std::sync::atomic::Ordering::Relaxed)
}

/// Write one line to stdout. When the reader has gone, output stops
/// quietly and the command still finishes normally (its host is dropped,
/// so its logs and counters are written).
pub(crate) fn emit(line: &str) {
    use std::io::Write;
    if stdout_gone() {
        return;
    }
    if let Err(e) = writeln!(std::io::stdout().lock(), "{line}") {
        if e.kind() != std::io::ErrorKind::BrokenPipe {
            eprintln!("error: writing to stdout: {e}");
        }
        STDOUT_GONE.store(true, std::sync::atomic::Ordering::Relaxed);
    }
}

pub(crate) fn describe(effect: &Effect) -> String {
    match effect {
        Effect::SendMessage { app, message } => {
            let thread = message
                .thread
                .as_ref()
                .map(|t| format!(" (thread {t})"))
                .unwrap_or_default();
            let rich = match (message.attachments.len(), message.blocks.len()) {
                (0, 0) => String::new(),
                (a, b) => format!(" [+{a} attachments, {b} blocks]"),
            };
            format!(
                "[{app} -> #{}{thread}] {}{rich}",
                message.room, message.text
            )
        }
        Effect::NotifyUser {
            app, user, text, ..
        } => format!("[{app} -> @{user}, only they see it] {text}"),
        Effect::NotifyRoom { app, room, text } => format!("[{app} -> #{room}, notice] {text}"),
        Effect::UpdateMessage { app, id, content } => {
            format!("[{app} edited {id}] {}", content.text)
        }
        Effect::DeleteMessage { app, id } => format!("[{app} deleted {id}]"),
        Effect::OpenView { app, view, update } => format!(
            "[{app} {} {} '{}' for @{} ({}; `hangar serve` shows it in the web chat)]",
            if *update { "updated" } else { "opened" },
            match view.kind {
                hangar_host::ViewKind::Modal => "modal",
                hangar_host::ViewKind::ContextualBar => "contextual bar",
            },
            view.title,
            view.user,
            view.id
        ),
        Effect::CloseView { app, user, id } => format!("[{app} closed view {id} of @{user}]"),
        Effect::CreateRoom { app, room, members } => format!(
            "[{app} created {} #{} ({}) with {}]",
            room.kind.name(),
            room.id,
            room.name,
            members.join(", ")
        ),
    }
}

fn run(cli: Cli) -> Result<()> {
    if let Some(store) = &cli.store {
        let _ = STORE.set(store.clone());
    }
    let dir = cli.data_dir.clone().unwrap_or_else(default_data_dir);
    let dir = dir.as_path();
    match cli.command {
        Cmd::Install { path, json } => apps::install(dir, path, json),
        Cmd::List { json } => apps::list(dir, json),
        Cmd::Enable { app, json } => apps::enable(dir, app, json),
        Cmd::Disable { app, json } => apps::disable(dir, app, json),
        Cmd::Update {
            path,
            allow_downgrade,
            json,
        } => apps::update(dir, path, allow_downgrade, json),
        Cmd::Uninstall { app } => apps::uninstall(dir, app),
        Cmd::Info { app, json } => apps::info(dir, app, json),
        Cmd::Send {
            room,
            user,
            text,
            thread,
            json,
        } => chat::send(dir, room, user, text, thread, json),
        Cmd::Command {
            room,
            user,
            line,
            preview,
            pick,
            thread,
            json,
        } => {
            let mode = chat::CommandMode {
                preview,
                pick,
                thread,
            };
            chat::command(dir, room, user, line, mode, json)
        }
        Cmd::Chat { op } => chat::chat(dir, op),
        Cmd::Serve {
            addr,
            public,
            matrix: Some(registration),
        } => {
            serve::check_address(
                &addr,
                public,
                "the app service's pre-send hook and endpoints",
            )?;
            matrix::serve(dir, &addr, &registration)
        }
        Cmd::Serve {
            addr,
            public,
            matrix: None,
        } => serve::serve(dir, &addr, public),
        Cmd::Matrix(MatrixCmd::Init {
            server_name,
            homeserver,
            url,
            out,
            force,
            json,
        }) => {
            let out = out.unwrap_or_else(|| dir.join("matrix"));
            matrix::init(&out, &server_name, &homeserver, &url, force, json)
        }
        Cmd::Jobs { app, json, op } => apps::jobs(dir, app, json, op),
        Cmd::Endpoints { app, rotate, json } => apps::endpoints(dir, app, rotate, json),
        Cmd::History { room, lines, json } => chat::history(dir, room, lines, json),
        Cmd::Data { app, json } => data::data(dir, app, json),
        Cmd::Logs {
            app,
            lines,
            follow,
            json,
        } => data::logs(dir, app, lines, follow, json),
        Cmd::Settings {
            app,
            id,
            value,
            json,
        } => settings::settings(dir, app, id, value, json),
        Cmd::Config { json } => settings::config(dir, json),
        Cmd::New { path, sdk } => new::run(&path, sdk),
        Cmd::Build { path, json } => develop::build(path, json),
        Cmd::Migrate { to, json } => {
            let Some(to) = to.or_else(|| STORE.get().cloned()) else {
                anyhow::bail!(
                    "say where to migrate to: hangar migrate --to postgres://user:password@host/database"
                );
            };
            migrate::run(dir, &to, json)
        }
        Cmd::Demo { apps } => demo::run(cli.data_dir, apps),
    }
}

/// `text` with every control character escaped (`\n`, `\u{1b}`, ...).
pub(crate) fn printable(text: &str) -> std::borrow::Cow<'_, str> {
    if !text.chars().any(char::is_control) {
        return std::borrow::Cow::Borrowed(text);
    }
    text.chars()
        .map(|c| {
            if c.is_control() {
                c.escape_default().to_string()
            } else {
                c.to_string()
            }
        })
        .collect::<String>()
        .into()
}

fn main() {
    if let Err(e) = run(Cli::parse()) {
        eprintln!("error: {}", printable(&format!("{e:#}")));
        std::process::exit(1);
    }
}
