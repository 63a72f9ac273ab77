//! `hangar demo`: a guided, self-checking tour with the example apps.

use std::io::IsTerminal;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};

use super::open;
use hangar_host::{Effect, Host, SendStatus};

struct Tour {
    color: bool,
    failures: Vec<String>,
}

impl Tour {
    fn paint(&self, code: &str, text: &str) -> String {
        if self.color {
            format!("\x1b[{code}m{text}\x1b[0m")
        } else {
            text.to_string()
        }
    }
    fn section(&self, title: &str) {
        out!("\n{}", self.paint("1;36", &format!("== {title}")));
    }
    fn say(&self, who: &str, what: &str) {
        out!("  {} {what}", self.paint("1", &format!("{who}>")));
    }
    fn show(&self, line: &str) {
        out!("    {}", self.paint("2", line));
    }
    fn check(&mut self, ok: bool, what: &str) {
        if ok {
            out!("    {} {what}", self.paint("32", "ok"));
        } else {
            out!("    {} {what}", self.paint("31", "FAILED"));
            self.failures.push(what.to_string());
        }
    }
}

fn effect_texts(effects: &[Effect]) -> Vec<String> {
    effects
        .iter()
        .map(|e| match e {
            Effect::SendMessage { app, message } => format!("[{app}] {}", message.text),
            Effect::NotifyUser {
                app, user, text, ..
            } => format!("[{app} -> {user}] {text}"),
            other => crate::describe(other),
        })
        .collect()
}

fn command(t: &mut Tour, host: &Host, user: &str, line: &str) -> Result<Vec<String>> {
    t.say(user, line);
    let report = host.command("general", user, line)?;
    if let Some(e) = report.report.error {
        bail!("{line} failed: {e}");
    }
    let texts = effect_texts(&report.effects);
    for l in &texts {
        for part in l.lines() {
            t.show(part);
        }
    }
    Ok(texts)
}

/// Run the tour; fails unless every step behaved as shown.
pub fn run(data_dir: Option<PathBuf>, apps: Option<PathBuf>) -> Result<()> {
    let mut t = Tour {
        color: std::io::stdout().is_terminal() && std::env::var_os("NO_COLOR").is_none(),
        failures: Vec::new(),
    };
    let apps_dir =
        apps.unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../example-apps"));
    let temp = data_dir.is_none();
    let dir = data_dir.unwrap_or_else(|| {
        std::env::temp_dir().join(format!("hangar-demo-{}", std::process::id()))
    });
    if temp {
        let _ = std::fs::remove_dir_all(&dir);
    }
    let host = install(&mut t, &apps_dir, &dir)?;
    chat_tour(&mut t, &host)?;
    drop(host);
    lifecycle_tour(&mut t, &dir)?;
    if temp {
        let _ = std::fs::remove_dir_all(&dir);
    }
    out!();
    if t.failures.is_empty() {
        out!(
            "{}",
            t.paint("1;32", "demo complete: every step behaved as shown")
        );
        Ok(())
    } else {
        bail!(
            "{} demo step(s) failed: {}",
            t.failures.len(),
            t.failures.join("; ")
        )
    }
}

/// Build the example apps and install them into a host on `dir`.
fn install(t: &mut Tour, apps_dir: &Path, dir: &Path) -> Result<Host> {
    t.section("Building the example apps");
    let built = super::build::build(apps_dir, &|m| out!("  {m}"))
        .with_context(|| format!("building the example apps in {}", apps_dir.display()))?;
    for b in &built {
        t.show(&format!(
            "{} -> {} ({} KB)",
            b.package.manifest.id,
            b.path.display(),
            b.size / 1024
        ));
    }

    t.section(&format!("Installing them into {}", dir.display()));
    let (host, chat) = open(dir)?;
    for b in &built {
        let app = host.install(&b.path)?;
        t.show(&format!(
            "installed {} {}: permissions {}",
            app.id,
            app.version,
            app.permissions.join(", ")
        ));
    }
    for user in ["alice", "bob", "carol", "erin"] {
        chat.ensure("general", user)?;
    }

    Ok(host)
}

/// The pipeline, app- and user-level data, read-modify-write.
fn chat_tour(t: &mut Tour, host: &Host) -> Result<()> {
    t.section("word-filter masks banned words (mode = mask)");
    t.say("bob", "what the heck");
    let r = host.send_message("general", "bob", "what the heck")?;
    t.show(&format!("delivered as: {}", r.message.text));
    t.check(
        r.status == SendStatus::Sent && r.message.text == "what the ****",
        "the message went out masked",
    );

    t.section("feedback stores app-level and user-level data");
    command(t, host, "alice", "/feedback love it")?;
    command(t, host, "carol", "/feedback more emoji please")?;
    let mine = command(t, host, "alice", "/feedback mine")?;
    t.check(
        mine.iter().any(|l| l.contains("love it")) && !mine.iter().any(|l| l.contains("emoji")),
        "/feedback mine shows only alice's",
    );
    let all = command(t, host, "bob", "/feedback list")?;
    t.check(
        all.iter().any(|l| l.contains("love it")) && all.iter().any(|l| l.contains("emoji")),
        "/feedback list shows everyone's",
    );

    t.section("karma counts @name++ (read-modify-write in one transaction)");
    for (who, text) in [
        ("carol", "@dave++ thanks"),
        ("erin", "@dave++ nice work"),
        ("bob", "@dave++ @carol--"),
    ] {
        t.say(who, text);
        host.send_message("general", who, text)?;
    }
    let k = command(t, host, "alice", "/karma dave")?;
    t.check(
        k.iter().any(|l| l.contains("dave has 3 karma")),
        "dave has 3 karma",
    );

    t.section("Stored data (hangar data <app>)");
    for app in ["feedback", "word-filter", "karma"] {
        for r in host.records(app)? {
            let assoc: Vec<String> = r
                .associations
                .iter()
                .map(|a| format!("{}:{}", a.model.as_str(), a.id))
                .collect();
            t.show(&format!("{app:<12} [{}] {}", assoc.join(", "), r.data));
        }
    }

    Ok(())
}

/// Restart, settings, disable/enable, uninstall.
fn lifecycle_tour(t: &mut Tour, dir: &Path) -> Result<()> {
    t.section("Restarting the host: state lives in persistence, not in app memory");
    let (host, _chat) = open(dir)?;
    let k = command(t, &host, "alice", "/karma dave")?;
    t.check(
        k.iter().any(|l| l.contains("dave has 3 karma")),
        "karma survived the restart",
    );
    let s = command(t, &host, "alice", "/strikes bob")?;
    t.check(
        s.iter().any(|l| l.contains("bob has 1 strike")),
        "bob's strike survived the restart",
    );

    t.section("word-filter in block mode vetoes the message");
    t.say("operator", "hangar settings word-filter mode block");
    host.set_setting("word-filter", "mode", serde_json::json!("block"))?;
    t.say("bob", "darn it");
    let r = host.send_message("general", "bob", "darn it")?;
    t.check(
        r.status == SendStatus::Prevented && r.prevented_by.as_deref() == Some("word-filter"),
        "the message was vetoed and not stored",
    );

    t.section("Disabling an app: no events, data kept");
    host.disable("karma")?;
    t.say("carol", "@dave++ while karma is off");
    host.send_message("general", "carol", "@dave++ while karma is off")?;
    host.enable("karma")?;
    let k = command(t, &host, "alice", "/karma dave")?;
    t.check(
        k.iter().any(|l| l.contains("dave has 3 karma")),
        "karma kept its data and missed the event while disabled",
    );

    t.section("Uninstalling an app purges its data");
    host.uninstall("feedback")?;
    let gone =
        !dir.join("apps/feedback").exists() && host.list()?.iter().all(|a| a.id != "feedback");
    t.check(gone, "feedback and its store are gone");

    Ok(())
}
