//! API 0.2 end to end: every reader, modifier call and chat event of the
//! `surface` guest through the real host and the reference chat (driven as
//! its users would, events raised around each operation); the example apps
//! through real `hangar` processes; 0.1 packages beside 0.2 apps.

use std::path::Path;
use std::sync::Arc;

use hangar_host::{Bridge, Driver, ErrorKind, Host, Outcome, PreviewItem, RefChat, RoomKind};
use hangar_tests::{guests, hangar_at, host_with, patched, texts};
use serde_json::{Value, json};

fn driver(apps: &[&str]) -> (tempfile::TempDir, Driver, Arc<RefChat>) {
    let (dir, host, chat) = host_with(apps);
    (dir, Driver::new(host, chat.clone()), chat)
}

/// Run `/s <line>` as alice in `general`; the guest's JSON reply.
fn s(d: &Driver, line: &str) -> Value {
    let r = d
        .command("general", "alice", &format!("/s {line}"), None)
        .unwrap();
    assert!(r.report.error.is_none(), "/s {line}: {:?}", r.report.error);
    let text = texts(&r.effects).pop().expect("a reply");
    serde_json::from_str(&text).unwrap_or_else(|_| panic!("/s {line}: {text}"))
}

fn ok(d: &Driver, line: &str) -> Value {
    let v = s(d, line);
    assert!(v.get("err").is_none(), "/s {line}: {v}");
    v["ok"].clone()
}

fn events(d: &Driver) -> Vec<Value> {
    ok(d, "events").as_array().unwrap().clone()
}

#[test]
fn readers_see_the_bot_rooms_members_history_threads_users_and_settings() {
    let (_dir, d, chat) = driver(&[guests::SURFACE]);
    let root = d.send("general", "alice", "standup at ten", None).unwrap();
    let root = root.message.id;
    d.send("general", "bob", "on my way", None).unwrap();
    d.send("general", "bob", "me too", Some(&root)).unwrap();

    // First, before the guest's replies join the history.
    let history = ok(&d, "history general 2");
    assert_eq!(history[0]["text"], "on my way");
    assert_eq!(history[1]["text"], "me too");
    assert_eq!(history[1]["thread"], root.as_str());
    let me = ok(&d, "whoami");
    assert_eq!(me["api"], "0.2.0");
    assert_eq!(me["user"]["id"], "app:surface");
    assert_eq!(me["user"]["is_bot"], true);
    assert_eq!(ok(&d, "room-by-name general")["id"], "general");
    assert_eq!(ok(&d, "room-by-name nowhere"), Value::Null);
    assert_eq!(ok(&d, "members general"), json!(["alice", "bob"]));
    let thread = ok(&d, &format!("thread {root}"));
    assert_eq!(thread.as_array().unwrap().len(), 2);
    assert_eq!(thread[0]["id"], root.as_str());
    assert_eq!(ok(&d, "user-by-name bob")["id"], "bob");
    assert_eq!(ok(&d, &format!("message {root}"))["text"], "standup at ten");

    assert_eq!(ok(&d, "server-setting Site_Name"), Value::Null);
    chat.set_server_setting("Site_Name", &json!("Hangar chat"))
        .unwrap();
    assert_eq!(ok(&d, "server-setting Site_Name"), "Hangar chat");

    // A direct room: created once, found after.
    assert_eq!(ok(&d, "direct alice app:surface"), Value::Null);
    let dm = ok(&d, "dm alice");
    assert_eq!(
        dm["same"], true,
        "a second create-direct in one call reuses the first"
    );
    let found = ok(&d, "direct app:surface alice");
    assert_eq!(found["id"], dm["id"]);
    assert_eq!(found["kind"], "Direct");
    assert_eq!(
        ok(&d, "dm alice")["id"],
        dm["id"],
        "an existing direct room is reused"
    );
    let id = dm["id"].as_str().unwrap();
    assert_eq!(chat.members(id).unwrap(), ["alice", "app:surface"]);
}

#[test]
fn rich_messages_edits_deletes_notices_and_rooms() {
    let (_dir, d, chat) = driver(&[guests::SURFACE]);
    let id = ok(&d, r#"rich general "quarterly report""#);
    let id = id.as_str().unwrap();
    let stored = chat
        .message(id)
        .unwrap()
        .expect("stored under the id the app got");
    assert_eq!(stored.sender, "app:surface");
    assert_eq!(stored.text, "quarterly report");
    assert_eq!(stored.alias.as_deref(), Some("Surface bot"));
    assert_eq!(stored.attachments[0].fields.len(), 2);
    assert_eq!(stored.blocks.len(), 4);
    assert_eq!(stored.blocks[0].block_id.as_deref(), Some("top"));
    assert_eq!(stored.custom_fields["source"], "surface");
    let reply = ok(&d, &format!("rich general answer {id}"));
    let reply = chat.message(reply.as_str().unwrap()).unwrap().unwrap();
    assert_eq!(reply.thread.as_deref(), Some(id));

    // An app edits a message it sent in the same call, and others' with
    // message.update; the id stays.
    let edited = ok(&d, "send-then-edit general");
    let edited = chat.message(edited.as_str().unwrap()).unwrap().unwrap();
    assert_eq!(edited.text, "final");
    assert!(edited.edited_at.is_some());
    let bobs = d.send("general", "bob", "typo", None).unwrap().message.id;
    assert_eq!(ok(&d, &format!(r#"edit {bobs} "fixed typo""#)), Value::Null);
    assert_eq!(chat.message(&bobs).unwrap().unwrap().text, "fixed typo");
    ok(&d, &format!("delete {bobs}"));
    assert!(chat.message(&bobs).unwrap().is_none());

    ok(&d, r#"notify-room general "deploy in 5""#);
    let notices: Vec<String> = chat
        .history("general", 50)
        .unwrap()
        .into_iter()
        .filter(|m| m.notice)
        .map(|m| m.message.text)
        .collect();
    assert!(notices.contains(&"deploy in 5".to_string()), "{notices:?}");

    let room = ok(&d, "create-room projects alice bob");
    let room = room.as_str().unwrap();
    let created = chat.room(room).unwrap().unwrap();
    assert_eq!(created.name, "projects");
    assert_eq!(created.kind, RoomKind::Channel);
    assert_eq!(created.creator, "app:surface");
    assert_eq!(chat.members(room).unwrap(), ["alice", "app:surface", "bob"]);

    // Bad input: a script URL is refused as invalid and nothing is sent.
    let before = chat.history("general", 100).unwrap().len();
    let bad = s(&d, "bad-url general");
    assert_eq!(bad["kind"], "invalid", "{bad}");
    assert!(
        bad["err"]
            .as_str()
            .unwrap()
            .contains("not an https: or http: URL")
    );
    assert_eq!(
        chat.history("general", 100).unwrap().len(),
        before + 1,
        "only the reply"
    );
    // Editing what does not exist is not-found; too many blocks too-large.
    assert_eq!(s(&d, "edit no-such-id x")["kind"], "not-found");
    let fifty = s(&d, "many-blocks general 50");
    assert_eq!(fifty["kind"], Value::Null, "{fifty}");
    let many = s(&d, "many-blocks general 51");
    assert_eq!(many["kind"], "too-large", "{many}");
    assert_eq!(
        stored.avatar.as_deref(),
        Some("https://example.test/bot.png")
    );
}

#[test]
fn every_preventable_event_can_be_prevented_and_the_pre_check_filters() {
    let (_dir, d, chat) = driver(&[guests::SURFACE]);
    let no_room = d
        .create_room("forbidden-zone", "carol", RoomKind::Channel)
        .unwrap();
    assert!(!no_room.done);
    assert!(chat.room("forbidden-zone").unwrap().is_none());
    d.create_room("keep", "carol", RoomKind::Channel).unwrap();
    assert!(!d.delete_room("keep", "carol").unwrap().done);
    assert!(chat.room("keep").unwrap().is_some());
    d.join("stuck", "alice").unwrap();
    assert!(!d.leave("stuck", "alice").unwrap().done);
    assert_eq!(chat.members("stuck").unwrap(), ["alice"]);
    // In room `open` the pre check says no: the prevent handler never runs.
    d.join("open", "alice").unwrap();
    let left = d.leave("open", "alice").unwrap();
    assert!(left.done, "{left:?}");
    let handlers: Vec<&str> = left.events[0]
        .apps
        .iter()
        .map(|a| a.handler.as_str())
        .collect();
    assert_eq!(handlers, ["check-pre-event"]);
}

#[test]
fn a_chat_without_the_new_lookups_refuses_them_clearly() {
    // The benchmarks' bridge implements only the 0.1 lookups.
    let dir = tempfile::tempdir().unwrap();
    let host = hangar_host::HostBuilder::new(dir.path())
        .cache_dir(hangar_tests::cache_dir())
        .build(Arc::new(hangar_tests::bench::NullChat))
        .unwrap();
    host.install(guests::SURFACE.as_ref()).unwrap();
    let r = host
        .command("general", "alice", "/s room-by-name general")
        .unwrap();
    let reply: Value = serde_json::from_str(&texts(&r.effects)[0]).unwrap();
    assert_eq!(reply["kind"], "host");
    assert!(
        reply["err"]
            .as_str()
            .unwrap()
            .contains("does not provide rooms by name"),
        "{reply}"
    );
}

#[test]
fn editing_others_messages_needs_message_update() {
    let bytes = patched(
        guests::SURFACE,
        r#""message.update","#,
        r#""message.write", "#,
    );
    let dir = tempfile::tempdir().unwrap();
    let limited = dir.path().join("surface.wasm");
    std::fs::write(&limited, bytes).unwrap();
    let (_dir, d, chat) = driver(&[limited.to_str().unwrap()]);
    // Its own message: allowed with message.write.
    let own = ok(&d, "send-then-edit general");
    assert_eq!(
        chat.message(own.as_str().unwrap()).unwrap().unwrap().text,
        "final"
    );
    // Someone else's: denied, naming the permission, and unchanged.
    let bobs = d.send("general", "bob", "mine", None).unwrap().message.id;
    let denied = s(&d, &format!("edit {bobs} changed"));
    assert_eq!(denied["kind"], "denied");
    assert!(denied["err"].as_str().unwrap().contains("message.update"));
    assert_eq!(s(&d, &format!("delete {bobs}"))["kind"], "denied");
    assert_eq!(chat.message(&bobs).unwrap().unwrap().text, "mine");
}

#[test]
fn chat_events_reach_apps_which_may_prevent_them() {
    let (_dir, d, chat) = driver(&[guests::SURFACE]);
    // Joining: the post handler records it and posts a notice.
    let joined = d.join("general", "alice").unwrap();
    assert!(joined.done);
    assert!(joined.events[1].effects.iter().any(|e| matches!(
        e,
        hangar_host::Effect::NotifyRoom { text, .. } if text == "alice joined"
    )));
    // A prevented join changes nothing.
    let locked = d.join("locked", "alice").unwrap();
    assert!(!locked.done);
    assert_eq!(locked.prevented_by.as_deref(), Some("surface"));
    let prevent = locked.events[0]
        .apps
        .iter()
        .find(|a| a.handler.contains("prevent"));
    assert_eq!(prevent.unwrap().outcome, Outcome::Vetoed);
    assert!(chat.members("locked").unwrap().is_empty());

    let id = d
        .send("general", "alice", "first draft", None)
        .unwrap()
        .message
        .id;
    let refused = d.edit(&id, "alice", "a forbidden word").unwrap();
    assert!(!refused.done);
    assert_eq!(chat.message(&id).unwrap().unwrap().text, "first draft");
    assert!(d.edit(&id, "alice", "second draft").unwrap().done);
    assert!(!d.delete(&id, "mallory").unwrap().done);
    d.react(&id, "bob", ":tada:", true).unwrap();
    assert!(d.delete(&id, "bob").unwrap().done);
    assert!(chat.message(&id).unwrap().is_none());

    d.create_room("quiet", "carol", RoomKind::Channel).unwrap();
    d.join("quiet", "alice").unwrap();
    d.create_room("team", "carol", RoomKind::PrivateGroup)
        .unwrap();
    d.leave("team", "carol").unwrap();
    d.delete_room("team", "carol").unwrap();
    d.login("dave").unwrap();
    d.rename("dave", "Dave D.").unwrap();

    let seen: Vec<String> = events(&d)
        .iter()
        .map(|e| {
            let who = e.get("user").or(e.get("room")).or(e.get("by"));
            format!(
                "{} {}",
                e["event"].as_str().unwrap(),
                who.and_then(Value::as_str).unwrap_or("")
            )
        })
        .collect();
    assert_eq!(
        seen,
        [
            "user-created alice",
            "room-created general",
            "user-joined alice",
            "room-created locked",
            "message-updated ",
            "message-reacted bob",
            "message-deleted bob",
            "user-created carol",
            "room-created team",
            "user-left carol",
            "room-deleted team",
            "user-created dave",
            "user-logged-in dave",
            "user-updated dave",
        ],
        "events in order; none for the quiet room (the check filtered them), none prevented (the locked room exists, alice is not in it)"
    );
    let edit = events(&d)
        .into_iter()
        .find(|e| e["event"] == "message-updated")
        .unwrap();
    assert_eq!(edit["previous"], "first draft");
    assert_eq!(edit["text"], "second draft");
}

#[test]
fn preview_items_shell_arguments_and_error_kinds() {
    let (_dir, d, _chat) = driver(&[guests::SURFACE]);
    let host: &Host = d.host();
    let (items, _) = host.preview("general", "alice", "/s lunch").unwrap();
    assert_eq!(
        items.iter().map(|i| i.id.as_str()).collect::<Vec<_>>(),
        ["alpha", "beta"]
    );
    let picked = host
        .pick_preview_item("general", "alice", "/s lunch", &items[1])
        .unwrap();
    assert_eq!(texts(&picked.effects), ["picked beta (beta for lunch)"]);
    let forged = PreviewItem {
        id: "x".repeat(100_000),
        text: String::new(),
    };
    assert!(
        host.pick_preview_item("general", "alice", "/s", &forged)
            .is_err()
    );

    let args = ok(&d, r#"args "Q with spaces?" 'b c' d\ e"#);
    assert_eq!(args["args"], json!(["Q with spaces?", "b c", "d e"]));
    assert_eq!(args["line"], r#"args "Q with spaces?" 'b c' d\ e"#);

    for (line, kind) in [
        ("fail edit no-such-id x", ErrorKind::NotFound),
        ("fail bad-url general", ErrorKind::Invalid),
        ("fail nonsense", ErrorKind::App),
    ] {
        let r = d
            .command("general", "alice", &format!("/s {line}"), None)
            .unwrap();
        assert_eq!(r.report.outcome, Outcome::Error, "{line}");
        assert_eq!(
            r.report.error_kind,
            Some(kind),
            "{line}: {:?}",
            r.report.error
        );
    }
}

fn cli(dir: &Path, args: &[&str]) -> String {
    let out = hangar_at(dir).args(args).output().unwrap();
    assert!(
        out.status.success(),
        "hangar {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn cli_json(dir: &Path, args: &[&str]) -> Value {
    serde_json::from_str(&cli(dir, args)).unwrap()
}

/// The issue's checks, through `hangar` processes on a fresh data dir.
#[test]
fn the_cli_drives_welcomes_edits_threads_and_app_rooms() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    for app in [guests::WELCOME_BOT, guests::STANDUP, guests::SURFACE] {
        cli(d, &["install", app]);
    }
    // One welcome DM, however many times alice joins.
    cli(d, &["chat", "join", "general", "--user", "alice"]);
    cli(d, &["chat", "leave", "general", "--user", "alice"]);
    cli(d, &["chat", "join", "general", "--user", "alice"]);
    let again = cli(d, &["chat", "join", "random", "--user", "alice", "--json"]);
    assert!(!again.contains("Welcome"), "{again}");
    let rooms = cli_json(d, &["chat", "rooms", "--json"]);
    let directs: Vec<&Value> = rooms
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["kind"] == "direct")
        .collect();
    assert_eq!(directs.len(), 1, "{rooms}");
    assert_eq!(directs[0]["members"], json!(["alice", "app:welcome-bot"]));
    let dm = directs[0]["id"].as_str().unwrap();
    let welcome = cli_json(d, &["history", "--room", dm, "--json"]);
    assert_eq!(welcome.as_array().unwrap().len(), 1);
    assert_eq!(welcome[0]["text"], "Welcome to #general, alice!");
    assert_eq!(welcome[0]["blocks"][1]["type"], "divider");

    // A summary posted in a thread, then edited in place.
    cli(
        d,
        &["send", "--room", "team", "--user", "bob", "shipped it"],
    );
    cli(
        d,
        &["command", "--room", "team", "--user", "carol", "/standup"],
    );
    let first = cli_json(d, &["history", "--room", "team", "--json"]);
    let summary = |h: &Value| -> Value {
        h.as_array()
            .unwrap()
            .iter()
            .find(|m| m["text"].as_str().unwrap_or("").starts_with("Standup:"))
            .cloned()
            .unwrap()
    };
    let root = first
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["text"] == "Standup")
        .unwrap()["id"]
        .clone();
    let s1 = summary(&first);
    assert_eq!(
        s1["thread"], root,
        "the summary replies in the root's thread"
    );
    assert_eq!(s1["attachments"][0]["author_name"], "bob");
    cli(
        d,
        &["send", "--room", "team", "--user", "bob", "and tested it"],
    );
    cli(
        d,
        &["command", "--room", "team", "--user", "carol", "/standup"],
    );
    let s2 = summary(&cli_json(d, &["history", "--room", "team", "--json"]));
    assert_eq!(s2["id"], s1["id"], "edited in place");
    assert!(s2["edited_at"].is_u64());
    assert_eq!(s2["text"], "Standup: 2 updates from 1 people");

    // A thread reply typed by a person carries its thread id.
    let sent = cli_json(
        d,
        &[
            "send",
            "--room",
            "team",
            "--user",
            "bob",
            "--thread",
            root.as_str().unwrap(),
            "+1",
            "--json",
        ],
    );
    assert_eq!(sent["message"]["thread"], root);

    // A room created by an app appears with its members.
    cli(
        d,
        &[
            "command",
            "--room",
            "general",
            "--user",
            "alice",
            "/s create-room projects alice bob",
        ],
    );
    let rooms = cli_json(d, &["chat", "rooms", "--json"]);
    let projects = rooms
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["name"] == "projects")
        .unwrap();
    assert_eq!(projects["members"], json!(["alice", "app:surface", "bob"]));
    assert_eq!(projects["creator"], "app:surface");

    // Edits, reactions and deletes from the CLI raise their events.
    let id = sent["message"]["id"].as_str().unwrap();
    cli(d, &["chat", "edit", id, "+2", "--user", "bob"]);
    cli(d, &["chat", "react", id, ":tada:", "--user", "alice"]);
    let shown = cli_json(d, &["history", "--room", "team", "--json"]);
    let m = shown
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["id"] == id)
        .unwrap();
    assert_eq!(m["text"], "+2");
    assert_eq!(m["reactions"][":tada:"], json!(["alice"]));
    let prevented = cli(d, &["chat", "delete", id, "--user", "mallory"]);
    assert!(
        prevented.contains("prevented by app 'surface'"),
        "{prevented}"
    );
    cli(d, &["chat", "delete", id, "--user", "bob"]);
    let picked = cli(
        d,
        &[
            "command", "--room", "general", "--user", "alice", "/s x", "--pick", "alpha",
        ],
    );
    assert!(picked.contains("picked alpha"), "{picked}");
}

/// API 0.1 packages (built from the 0.1 sources, kept as binaries) beside
/// 0.2 apps on one host: each sees the chat as its version defines it.
#[test]
fn api_0_1_packages_run_beside_0_2_apps() {
    let fixture = |name: &str| format!("{}/fixtures/0.1.0/{name}.wasm", env!("CARGO_MANIFEST_DIR"));
    let (karma, filter) = (fixture("karma"), fixture("word_filter"));
    let (_dir, d, chat) = driver(&[&karma, &filter, guests::WELCOME_BOT, guests::SURFACE]);
    let api: Vec<(String, String)> = d
        .host()
        .list()
        .unwrap()
        .into_iter()
        .map(|a| {
            (
                a.id.clone(),
                d.host().info(&a.id).unwrap().manifest.api_version,
            )
        })
        .collect();
    assert!(api.contains(&("karma".into(), "0.1.0".into())), "{api:?}");
    assert!(api.contains(&("surface".into(), "0.2.0".into())), "{api:?}");

    assert!(
        d.join("general", "carol")
            .unwrap()
            .replies_contain("Welcome to #general, carol!")
    );
    let sent = d
        .send("general", "carol", "@dave++ what the heck", None)
        .unwrap();
    assert_eq!(
        sent.message.text, "@dave++ what the ****",
        "0.1 modify still works"
    );
    // A rich message keeps its blocks through a 0.1 modify handler, which
    // cannot see them.
    ok(&d, r#"rich general "oh heck""#);
    let rich = chat
        .history("general", 100)
        .unwrap()
        .into_iter()
        .find(|m| m.message.sender == "app:surface" && !m.message.blocks.is_empty())
        .unwrap();
    assert_eq!(rich.message.blocks.len(), 4);
    let reply = d.command("general", "carol", "/karma dave", None).unwrap();
    assert_eq!(texts(&reply.effects), ["dave has 1 karma"]);
    // 0.1 arguments are split on whitespace as before.
    let reply = d
        .command("general", "carol", r#"/karma "dave""#, None)
        .unwrap();
    assert_eq!(texts(&reply.effects), [r#""dave" has 0 karma"#]);
}

/// A replies check over a chat operation's events.
trait RepliesContain {
    fn replies_contain(&self, text: &str) -> bool;
}

impl RepliesContain for hangar_host::Done {
    fn replies_contain(&self, text: &str) -> bool {
        self.events
            .iter()
            .any(|e| texts(&e.effects).iter().any(|t| t == text))
    }
}
