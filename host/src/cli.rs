//! The `hangar` command line: thin over the library. Every command that
//! prints data takes `--json`.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{Context, Result, bail};
use clap::{Parser, Subcommand};

use crate::dispatch::{Outcome, SendStatus};
use crate::{Effect, Host, HostBuilder, RefChat};

mod demo;
mod new;

/// Hangar: a plugin host for chat servers, running sandboxed WebAssembly apps.
#[derive(Debug, Parser)]
#[command(name = "hangar", version, about)]
pub struct Cli {
    /// Data directory (registry, apps, their stores, the reference chat).
    /// Default: $HANGAR_DATA_DIR, else ~/.local/share/hangar.
    #[arg(long, global = true, env = "HANGAR_DATA_DIR")]
    pub data_dir: Option<PathBuf>,
    /// What to do.
    #[command(subcommand)]
    pub command: Cmd,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Cmd {
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
        /// Print JSON.
        #[arg(long)]
        json: bool,
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
        /// The new package.
        path: PathBuf,
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
    /// <data-dir>/config.json: deadlines, per-app deadlines, fail-closed
    /// classes, error-disable policy, storage and memory limits).
    Config {
        /// Print JSON (the same shape config.json takes).
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
pub fn default_data_dir() -> PathBuf {
    if let Some(d) = std::env::var_os("XDG_DATA_HOME") {
        return PathBuf::from(d).join("hangar");
    }
    match std::env::var_os("HOME") {
        Some(h) => PathBuf::from(h).join(".local/share/hangar"),
        None => PathBuf::from(".hangar"),
    }
}

/// Open the host and reference chat in `dir`.
pub fn open(dir: &Path) -> Result<(Host, Arc<RefChat>)> {
    let chat = Arc::new(
        RefChat::open(dir)
            .with_context(|| format!("opening the reference chat in {}", dir.display()))?,
    );
    let host = HostBuilder::with_operator_config(dir)?
        .build(chat.clone())
        .with_context(|| format!("opening the host data directory {}", dir.display()))?;
    Ok((host, chat))
}

fn print_json(value: &impl serde::Serialize) -> Result<()> {
    println!("{}", serde_json::to_string_pretty(value)?);
    Ok(())
}

fn describe(effect: &Effect) -> String {
    match effect {
        Effect::SendMessage { app, room, text } => format!("[{app} -> #{room}] {text}"),
        Effect::NotifyUser {
            app, user, text, ..
        } => format!("[{app} -> @{user}, only they see it] {text}"),
    }
}

/// Run the CLI.
pub fn run(cli: Cli) -> Result<()> {
    let dir = cli.data_dir.clone().unwrap_or_else(default_data_dir);
    match cli.command {
        Cmd::Install { path, json } => {
            let (host, _) = open(&dir)?;
            let app = host
                .install(&path)
                .with_context(|| format!("installing {}", path.display()))?;
            if json {
                return print_json(&app);
            }
            println!("installed {} {} ({})", app.id, app.version, app.name);
            let perms = if app.permissions.is_empty() {
                "none".to_string()
            } else {
                app.permissions.join(", ")
            };
            println!("  permissions: {perms}");
            if !app.commands.is_empty() {
                println!(
                    "  commands: {}",
                    app.commands
                        .iter()
                        .map(|c| format!("/{c}"))
                        .collect::<Vec<_>>()
                        .join(" ")
                );
            }
        }
        Cmd::List { json } => {
            let (host, _) = open(&dir)?;
            let apps = host.list()?;
            if json {
                return print_json(&apps);
            }
            if apps.is_empty() {
                println!("no apps installed; `hangar install <app.wasm>` adds one");
            }
            for a in apps {
                println!(
                    "{:<16} {:<10} {:<15} {}",
                    a.id,
                    a.version,
                    format!("{:?}", a.status).to_lowercase(),
                    a.name
                );
            }
        }
        Cmd::Send {
            room,
            user,
            text,
            json,
        } => {
            let (host, chat) = open(&dir)?;
            chat.ensure(&room, &user)?;
            let report = host.send_message(&room, &user, &text)?;
            if json {
                return print_json(&report);
            }
            match report.status {
                SendStatus::Sent => println!("sent: {}", report.message.text),
                SendStatus::Prevented => println!(
                    "prevented ({}): {}",
                    report.reason.as_deref().unwrap_or("?"),
                    report.message.text
                ),
            }
            for a in &report.apps {
                if a.outcome == Outcome::Error {
                    println!(
                        "  {} {}: error: {}",
                        a.app,
                        a.handler,
                        a.error.as_deref().unwrap_or("")
                    );
                }
            }
            for e in &report.effects {
                println!("  {}", describe(e));
            }
        }
        Cmd::Command {
            room,
            user,
            line,
            preview,
            json,
        } => {
            let (host, chat) = open(&dir)?;
            chat.ensure(&room, &user)?;
            if preview {
                let (items, report) = host.preview(&room, &user, &line)?;
                if json {
                    return print_json(&serde_json::json!({ "items": items, "report": report }));
                }
                if let Some(e) = &report.error {
                    bail!("{} preview failed: {e}", report.app);
                }
                for i in items {
                    println!("{}", i.text);
                }
                return Ok(());
            }
            let report = host.command(&room, &user, &line)?;
            if json {
                return print_json(&report);
            }
            if let Some(e) = &report.report.error {
                bail!("/{} ({}) failed: {e}", report.command, report.app);
            }
            for e in &report.effects {
                println!("{}", describe(e));
            }
        }
        Cmd::Data { app, json } => {
            let (host, _) = open(&dir)?;
            let records = host.records(&app)?;
            if json {
                let out: Vec<serde_json::Value> = records
                    .iter()
                    .map(|r| {
                        serde_json::json!({
                            "id": r.id,
                            "associations": r.associations,
                            "data": serde_json::from_str::<serde_json::Value>(&r.data).unwrap_or(serde_json::Value::Null),
                        })
                    })
                    .collect();
                return print_json(&out);
            }
            if records.is_empty() {
                println!("app {app} has no records");
            }
            for r in records {
                let assoc: Vec<String> = r
                    .associations
                    .iter()
                    .map(|a| format!("{}:{}", a.model.as_str(), a.id))
                    .collect();
                println!("{}  [{}]  {}", r.id, assoc.join(", "), r.data);
            }
        }
        Cmd::Logs {
            app,
            lines,
            follow,
            json,
        } => {
            let (host, _) = open(&dir)?;
            let mut last = 0;
            let mut batch = host.logs(&app, lines)?;
            loop {
                for l in &batch {
                    last = l.seq;
                    if json {
                        println!("{}", serde_json::to_string(l)?);
                    } else {
                        println!("{} {:<5} {:<4} {}", l.time, l.level, l.source, l.message);
                    }
                }
                if !follow {
                    break;
                }
                std::thread::sleep(std::time::Duration::from_millis(250));
                batch = host.logs_after(&app, last, 1000)?;
            }
        }
        Cmd::History { room, lines, json } => {
            let chat = RefChat::open(&dir)?;
            let history = chat.history(&room, lines)?;
            if json {
                return print_json(&history);
            }
            for m in history {
                let to = m
                    .visible_to
                    .map(|u| format!(" (to {u})"))
                    .unwrap_or_default();
                println!("{}{to}: {}", m.message.sender, m.message.text);
            }
        }
        Cmd::Build { path, json } => {
            let built = crate::builder::build(&path, &|msg| eprintln!("{msg}"))?;
            if json {
                let out: Vec<_> = built
                    .iter()
                    .map(|b| serde_json::json!({"app": b.package.manifest.id, "path": b.path, "size": b.size}))
                    .collect();
                return print_json(&out);
            }
            for b in built {
                println!(
                    "{} {} -> {} ({} KB)",
                    b.package.manifest.id,
                    b.package.manifest.version,
                    b.path.display(),
                    b.size / 1024
                );
            }
        }
        Cmd::Enable { app, json } => {
            let (host, _) = open(&dir)?;
            let a = host.enable(&app)?;
            if json {
                return print_json(&a);
            }
            println!("{} enabled", a.id);
        }
        Cmd::Disable { app, json } => {
            let (host, _) = open(&dir)?;
            let a = host.disable(&app)?;
            if json {
                return print_json(&a);
            }
            println!(
                "{} disabled; its data is kept (`hangar enable {}` turns it back on)",
                a.id, a.id
            );
        }
        Cmd::Update { path, json } => {
            let (host, _) = open(&dir)?;
            let a = host
                .update(&path)
                .with_context(|| format!("updating from {}", path.display()))?;
            if json {
                return print_json(&a);
            }
            println!("updated {} to {}; data kept", a.id, a.version);
        }
        Cmd::Uninstall { app } => {
            let (host, _) = open(&dir)?;
            host.uninstall(&app)?;
            println!("uninstalled {app}; its data and files are deleted");
        }
        Cmd::Info { app, json } => {
            let (host, _) = open(&dir)?;
            let i = host.info(&app)?;
            if json {
                return print_json(&i);
            }
            let s = &i.summary;
            println!("{} {} ({})", s.id, s.version, s.name);
            if !i.manifest.description.is_empty() {
                println!("  {}", i.manifest.description);
            }
            let status = format!("{:?}", s.status).to_lowercase();
            match &s.status_reason {
                Some(r) => println!("  status: {status} ({r})"),
                None => println!("  status: {status}"),
            }
            println!("  api version: {}", i.manifest.api_version);
            println!(
                "  permissions: {}",
                if s.permissions.is_empty() {
                    "none".into()
                } else {
                    s.permissions.join(", ")
                }
            );
            println!(
                "  events: {}",
                s.events
                    .iter()
                    .map(|e| format!("{e:?}"))
                    .collect::<Vec<_>>()
                    .join(", ")
            );
            println!(
                "  commands: {}",
                s.commands
                    .iter()
                    .map(|c| format!("/{c}"))
                    .collect::<Vec<_>>()
                    .join(" ")
            );
            for (k, v) in &i.settings {
                println!("  setting {k} = {v}");
            }
            println!(
                "  storage: {} records, {} bytes",
                i.records, i.storage_bytes
            );
        }
        Cmd::Settings {
            app,
            id,
            value,
            json,
        } => {
            let (host, _) = open(&dir)?;
            match (id, value) {
                (Some(id), Some(value)) => {
                    let v =
                        serde_json::from_str(&value).unwrap_or(serde_json::Value::String(value));
                    host.set_setting(&app, &id, v.clone())?;
                    if json {
                        return print_json(
                            &serde_json::json!({ "app": app, "id": id, "value": v }),
                        );
                    }
                    println!("{app}: {id} = {v}");
                }
                (Some(id), None) => {
                    bail!("give a value for '{id}', e.g. `hangar settings {app} {id} '<json>'`")
                }
                _ => {
                    let settings: serde_json::Map<_, _> =
                        host.settings(&app)?.into_iter().collect();
                    if json {
                        return print_json(&settings);
                    }
                    for (k, v) in settings {
                        println!("{k} = {v}");
                    }
                }
            }
        }
        Cmd::New { path } => new::run(&path)?,
        Cmd::Config { json } => {
            let config = crate::HostConfig::load(&dir)?;
            let value = config.to_json();
            if json {
                return print_json(&value);
            }
            println!(
                "configuration of {} (edit {}/config.json to change it):",
                dir.display(),
                dir.display()
            );
            println!("{}", serde_json::to_string_pretty(&value)?);
        }
        Cmd::Demo { apps } => demo::run(cli.data_dir, apps)?,
    }
    Ok(())
}
