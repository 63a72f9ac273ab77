//! Interactivity through the real host and reference chat, with the
//! `panel` guest (every element, views, triggers, action buttons) beside
//! the poll app: what reaches an app, what the host refuses before any app
//! runs, and what a view's life looks like in the chat.

use hangar_host::{Error, Host, InputValue, Interaction, RefChat, View, ViewKind};
use hangar_tests::{guests, host_with, texts};
use serde_json::{Value, json};

/// Run `/panel <op>` as `user`; its JSON answer.
fn panel(host: &Host, user: &str, op: &str) -> Value {
    let r = host
        .command("general", user, &format!("/panel {op}"))
        .unwrap();
    assert!(r.report.error.is_none(), "{:?}", r.report);
    let answer = texts(&r.effects)
        .into_iter()
        .find(|t| t.starts_with('{'))
        .expect("the panel's answer");
    serde_json::from_str(&answer).unwrap()
}

fn act(view: &str, user: &str, action: &str, value: Option<&str>) -> Interaction {
    Interaction::BlockAction {
        user: user.into(),
        message: None,
        view: Some(view.into()),
        block_id: None,
        action_id: action.into(),
        value: value.map(str::to_string),
    }
}

fn refused(r: hangar_host::Result<hangar_host::InteractionReport>, why: &str) {
    match r {
        Err(Error::Refused(m)) => assert!(m.contains(why), "{m}"),
        other => panic!("expected a refusal ({why}), got {other:?}"),
    }
}

/// What the panel's handlers recorded, oldest first.
fn seen(host: &Host) -> Vec<Value> {
    host.records("panel")
        .unwrap()
        .into_iter()
        .filter(|r| !["last-trigger", "bad-errors"].contains(&r.id.as_str()))
        .map(|r| serde_json::from_str(&r.data).unwrap())
        .collect()
}

fn only_view(chat: &RefChat, user: &str) -> View {
    let views = chat.views(user).unwrap();
    assert_eq!(views.len(), 1, "{views:?}");
    views.into_iter().next().unwrap()
}

fn section_text(view: &View) -> String {
    serde_json::to_value(&view.blocks[0]).unwrap()["text"]["text"]
        .as_str()
        .unwrap()
        .to_string()
}

#[test]
pub(crate) fn every_element_of_a_view_reaches_its_app_and_nothing_forged_does() {
    let (_dir, host, chat) = host_with(&[guests::PANEL, guests::POLL]);
    for user in ["alice", "bob"] {
        chat.ensure("general", user).unwrap();
    }
    let id = panel(&host, "alice", "bar")["ok"]
        .as_str()
        .unwrap()
        .to_string();
    let view = only_view(&chat, "alice");
    assert_eq!(
        (view.id.as_str(), view.kind),
        (id.as_str(), ViewKind::ContextualBar)
    );
    assert!(chat.views("bob").unwrap().is_empty());

    // A select, a menu and a date: each reaches the app, which updates the
    // view in place (same id).
    for (action, value, shown) in [
        ("pick", "y", "pick=y"),
        ("more", "b", "more=b"),
        ("day", "2026-11-28", "day=2026-11-28"),
    ] {
        let r = host
            .interact(&act(&id, "alice", action, Some(value)))
            .unwrap();
        assert!(r.ok(), "{r:?}");
        let now = only_view(&chat, "alice");
        assert_eq!(
            (now.id.as_str(), section_text(&now).as_str()),
            (id.as_str(), shown)
        );
    }
    // Refused, and never seen by the app: a choice it did not offer, a date
    // that is not one, an element that is not there, the text input (state,
    // not an action), another user.
    let before = seen(&host).len();
    refused(
        host.interact(&act(&id, "alice", "pick", Some("z"))),
        "not one of the choices",
    );
    refused(
        host.interact(&act(&id, "alice", "day", Some("2026-13-01"))),
        "YYYY-MM-DD",
    );
    refused(
        host.interact(&act(&id, "alice", "nope", None)),
        "no element 'nope'",
    );
    refused(
        host.interact(&act(&id, "alice", "text", Some("x"))),
        "no element 'text'",
    );
    refused(
        host.interact(&act(&id, "bob", "pick", Some("x"))),
        "another user",
    );
    assert_eq!(seen(&host).len(), before, "the app saw none of them");
    let actions = seen(&host);
    assert_eq!(
        actions[0],
        json!({"action": "pick", "block": "controls", "value": "y", "view": id,
               "message": null, "user": "alice"})
    );
    assert_eq!(actions[1]["block"], json!("top"));

    // The host answers a too-long note itself; a good one closes the view.
    let note = |value: &str| Interaction::ViewSubmit {
        user: "alice".into(),
        view: id.clone(),
        state: vec![InputValue {
            block_id: "note".into(),
            action_id: "text".into(),
            value: value.into(),
        }],
    };
    let r = host.interact(&note("toolong")).unwrap();
    assert!(r.report.is_none() && !r.closed, "{r:?}");
    assert_eq!(r.errors["note"], "At most 5 characters.");
    let r = host.interact(&note("hi")).unwrap();
    assert!(r.ok() && r.closed, "{r:?}");
    assert!(chat.views("alice").unwrap().is_empty());
    assert_eq!(
        seen(&host).last().unwrap(),
        &json!({"submit": id, "note": "hi"})
    );
    refused(host.interact(&note("hi")), "no open view");

    // The app's own close button, and the user's close.
    let id = panel(&host, "alice", "bar")["ok"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(
        host.interact(&act(&id, "alice", "close", None))
            .unwrap()
            .ok()
    );
    assert!(chat.views("alice").unwrap().is_empty(), "closed by the app");
    refused(
        host.interact(&act(&id, "alice", "pick", Some("x"))),
        "no open view",
    );
    let id = panel(&host, "alice", "bar")["ok"]
        .as_str()
        .unwrap()
        .to_string();
    let close = Interaction::ViewClosed {
        user: "alice".into(),
        view: id.clone(),
    };
    let r = host.interact(&close).unwrap();
    assert!(r.closed && r.ok(), "{r:?}");
    assert_eq!(
        seen(&host).last().unwrap(),
        &json!({"closed": id, "user": "alice"})
    );
    refused(host.interact(&close), "no open view");
}

#[test]
pub(crate) fn triggers_open_one_view_in_their_own_call_and_apps_keep_to_their_views() {
    let (_dir, host, chat) = host_with(&[guests::PANEL, guests::POLL]);
    chat.ensure("general", "alice").unwrap();
    assert!(panel(&host, "alice", "bar")["ok"].is_string());
    let twice = panel(&host, "alice", "twice");
    assert_eq!(twice["kind"], json!("invalid"), "{twice}");
    assert!(
        twice["err"]
            .as_str()
            .unwrap()
            .contains("already opened a view")
    );
    let stale = panel(&host, "alice", "stale");
    assert_eq!(stale["kind"], json!("invalid"), "{stale}");
    assert!(stale["err"].as_str().unwrap().contains("not this call's"));
    // The poll's form is the poll's: the panel can neither change nor
    // close it, and cannot tell it from a view that does not exist.
    host.command("general", "alice", "/poll").unwrap();
    let form = chat
        .views("alice")
        .unwrap()
        .into_iter()
        .find(|v| v.app == "poll")
        .unwrap();
    for id in [form.id.as_str(), "v-none"] {
        let stolen = panel(&host, "alice", &format!("steal {id}"));
        assert_eq!(
            stolen["ok"],
            json!({"update": "not-found", "close": "not-found"}),
            "{stolen}"
        );
    }
    assert!(chat.views("alice").unwrap().iter().any(|v| v.id == form.id));

    // Field errors must name the view's inputs: anything else fails the
    // call, which keeps nothing and leaves the view open.
    let id = panel(&host, "alice", "bad-errors")["ok"]
        .as_str()
        .unwrap()
        .to_string();
    let r = host
        .interact(&Interaction::ViewSubmit {
            user: "alice".into(),
            view: id.clone(),
            state: vec![InputValue {
                block_id: "field".into(),
                action_id: "text".into(),
                value: "x".into(),
            }],
        })
        .unwrap();
    assert!(!r.ok() && !r.closed, "{r:?}");
    assert!(
        r.report
            .unwrap()
            .error
            .unwrap()
            .contains("not one of the view's inputs"),
    );
    assert!(
        !seen(&host).iter().any(|s| s["submit"] == json!(id)),
        "rolled back"
    );

    // A view without a submit button cannot be submitted.
    let id = panel(&host, "alice", "nosubmit")["ok"]
        .as_str()
        .unwrap()
        .to_string();
    refused(
        host.interact(&Interaction::ViewSubmit {
            user: "alice".into(),
            view: id,
            state: Vec::new(),
        }),
        "no submit button",
    );
    // A user keeps 20 views open; the 21st closes the oldest, in the host
    // and in the chat.
    let first = panel(&host, "alice", "bar")["ok"]
        .as_str()
        .unwrap()
        .to_string();
    for _ in 0..20 {
        panel(&host, "alice", "bar");
    }
    let open = chat.views("alice").unwrap();
    assert_eq!(open.len(), 20);
    assert!(open.iter().all(|v| v.id != first));
    refused(
        host.interact(&act(&first, "alice", "pick", Some("x"))),
        "no open view",
    );

    // Uninstalling the panel closes its views in the chat.
    host.uninstall("panel").unwrap();
    assert!(chat.views("alice").unwrap().is_empty());
}

#[test]
pub(crate) fn an_app_cannot_plant_buttons_in_another_apps_message() {
    let (_dir, host, chat) = host_with(&[guests::PANEL, guests::POLL]);
    for user in ["alice", "bob"] {
        chat.ensure("general", user).unwrap();
    }
    let made = host
        .command("general", "alice", r#"/poll "Q?" A B"#)
        .unwrap();
    let poll = hangar_tests::first_sent(&made.effects);
    use hangar_host::Bridge;
    let before = chat.message(&poll).unwrap().unwrap();
    // The panel holds message.update, so it may edit others' messages, but
    // not their buttons: interactions with the poll's message go to the poll.
    let planted = panel(&host, "alice", &format!("plant {poll}"));
    assert_eq!(planted["kind"], json!("denied"), "{planted}");
    assert!(
        planted["err"]
            .as_str()
            .unwrap()
            .contains("keeps its buttons")
    );
    assert_eq!(chat.message(&poll).unwrap().unwrap(), before);
    // Nor can a chat user speak as an app's bot user.
    let mut forged = before.clone();
    forged.id = String::new();
    forged.sender = "app:poll".into();
    let err = host.send(forged).unwrap_err().to_string();
    assert!(err.contains("bot user"), "{err}");
}

#[test]
pub(crate) fn action_buttons_are_checked_against_the_manifest_and_the_room() {
    let (_dir, host, chat) = host_with(&[guests::PANEL, guests::POLL]);
    chat.ensure("general", "alice").unwrap();
    chat.ensure("elsewhere", "mallory").unwrap();
    let buttons: Vec<(String, String)> = host
        .action_buttons()
        .unwrap()
        .into_iter()
        .map(|(app, b)| (app, b.id))
        .collect();
    for want in [
        ("panel", "room-panel"),
        ("panel", "on-message"),
        ("poll", "new-poll"),
    ] {
        assert!(
            buttons.contains(&(want.0.into(), want.1.into())),
            "{buttons:?}"
        );
    }
    let message = host
        .send_message("general", "alice", "look at this")
        .unwrap()
        .message
        .id;
    let click = |user: &str, button: &str, message: Option<&str>| Interaction::ActionButton {
        user: user.into(),
        app: "panel".into(),
        button: button.into(),
        room: "general".into(),
        message: message.map(str::to_string),
        thread: None,
    };
    let r = host.interact(&click("alice", "room-panel", None)).unwrap();
    assert!(r.ok(), "{r:?}");
    assert_eq!(section_text(&only_view(&chat, "alice")), "from a button");
    assert!(
        host.interact(&click("alice", "on-message", Some(&message)))
            .unwrap()
            .ok()
    );
    assert_eq!(
        seen(&host).last().unwrap(),
        &json!({"button": "on-message", "room": "general", "message": message})
    );
    refused(
        host.interact(&click("alice", "on-message", None)),
        "name the message",
    );
    refused(
        host.interact(&click("alice", "room-panel", Some(&message))),
        "names no message",
    );
    refused(
        host.interact(&click("mallory", "room-panel", None)),
        "not in room",
    );
    refused(
        host.interact(&click("alice", "nope", None)),
        "declares no action button",
    );
    refused(
        host.interact(&click("alice", "on-message", Some("no-such-message"))),
        "in that room",
    );
    // Disabled: refused with a way back.
    host.disable("panel").unwrap();
    refused(
        host.interact(&click("alice", "room-panel", None)),
        "hangar enable panel",
    );
    assert!(
        host.action_buttons()
            .unwrap()
            .iter()
            .all(|(app, _)| app != "panel")
    );
}

/// Apps built for API 0.2 when it was frozen (`tests/fixtures/0.2.0/`,
/// kept as binaries): later hosts must keep running them unchanged.
#[test]
pub(crate) fn the_example_apps_built_for_api_0_2_keep_behaving() {
    let fixture = |name: &str| format!("{}/fixtures/0.2.0/{name}.wasm", env!("CARGO_MANIFEST_DIR"));
    let (_dir, host, chat) = host_with(&[&fixture("karma"), &fixture("poll")]);
    for user in ["carol", "dave"] {
        chat.ensure("general", user).unwrap();
    }
    host.send_message("general", "carol", "@dave++").unwrap();
    let reply = host.command("general", "carol", "/karma dave").unwrap();
    assert_eq!(texts(&reply.effects), ["dave has 1 karma"]);
    let made = host
        .command("general", "carol", r#"/poll "Tea?" Yes No"#)
        .unwrap();
    let poll = hangar_tests::first_sent(&made.effects);
    let r = host
        .interact(&Interaction::BlockAction {
            user: "dave".into(),
            message: Some(poll.clone()),
            view: None,
            block_id: Some("option-1".into()),
            action_id: "vote".into(),
            value: None,
        })
        .unwrap();
    assert!(r.ok(), "{r:?}");
    use hangar_host::Bridge;
    assert_eq!(
        chat.message(&poll).unwrap().unwrap().text,
        "Poll: Tea? | Yes: 0 | No: 1"
    );
}
