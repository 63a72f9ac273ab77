//! Poll in the real host, through the test kit: the form, its errors,
//! votes that edit the message in place, closing, and forged clicks.

use hangar_host::testkit::{Replies, TestApp, TestChat};
use hangar_host::{Error, Interaction};

fn chat() -> TestChat {
    TestChat::with(&[&TestApp::build(env!("CARGO_MANIFEST_DIR"))])
}

/// The id of the poll message in `room`.
fn poll_id(chat: &TestChat, room: &str) -> String {
    chat.history(room)
        .into_iter()
        .rev()
        .find(|m| m.message.text.starts_with("Poll:"))
        .expect("a poll message")
        .message
        .id
}

#[test]
fn the_form_creates_a_poll_and_keeps_bad_input_open() {
    let chat = chat();
    chat.join("general", "alice");
    chat.command("general", "alice", "/poll").assert_ok();
    let views = chat.views("alice");
    assert_eq!(views.len(), 1, "{views:?}");
    let form = &views[0];
    assert_eq!(form.title, "New poll");
    assert!(chat.views("bob").is_empty(), "only alice sees her form");

    // One option: the app's error under the options input; still open.
    let out = chat.submit(
        "alice",
        form,
        &[("question", "Lunch?"), ("options", "Pizza")],
    );
    out.assert_ok();
    assert!(
        out.errors["options"].contains("at least two"),
        "{:?}",
        out.errors
    );
    assert!(!out.closed);
    assert_eq!(chat.views("alice").len(), 1);
    // An empty question: the host's own check, the app is not called.
    let out = chat.submit("alice", form, &[("options", "A\nB")]);
    assert!(out.report.is_none());
    assert_eq!(out.errors["question"], "Please fill this in.");

    let out = chat.submit(
        "alice",
        form,
        &[
            ("question", "Lunch?"),
            ("options", "Pizza\nSushi\n\nTacos"),
            ("mode", "single"),
            ("visibility", "public"),
        ],
    );
    out.assert_ok();
    assert!(out.closed && out.errors.is_empty(), "{out:?}");
    assert!(chat.views("alice").is_empty());
    let id = poll_id(&chat, "general");
    assert_eq!(
        chat.message(&id).text,
        "Poll: Lunch? | Pizza: 0 | Sushi: 0 | Tacos: 0"
    );
    // The form is gone: submitting it again is refused.
    let again = chat.interact(&Interaction::ViewSubmit {
        user: "alice".into(),
        view: form.id.clone(),
        state: Vec::new(),
    });
    assert!(matches!(again, Err(Error::Refused(_))), "{again:?}");
}

#[test]
fn votes_update_the_message_in_place_and_only_the_creator_closes() {
    let chat = chat();
    for user in ["alice", "bob", "carol"] {
        chat.join("general", user);
    }
    chat.command("general", "alice", r#"/poll "Lunch?" Pizza Sushi"#)
        .assert_ok();
    let id = poll_id(&chat, "general");
    chat.click("bob", &id, Some("option-0"), "vote").assert_ok();
    chat.click("carol", &id, Some("option-1"), "vote")
        .assert_ok();
    // Single choice: bob's second vote moves.
    chat.click("bob", &id, Some("option-1"), "vote").assert_ok();
    let m = chat.message(&id);
    assert_eq!(m.text, "Poll: Lunch? | Pizza: 0 | Sushi: 2");
    assert!(m.edited_at.is_some());
    let blocks = hangar_sdk::serde_json::to_string(&m.blocks).unwrap();
    assert!(blocks.contains("bob, carol"), "voters shown: {blocks}");

    let denied = chat.click("bob", &id, Some("controls"), "close");
    assert_eq!(denied.replies(), ["Only alice can close this poll."]);
    chat.click("alice", &id, Some("controls"), "close")
        .assert_ok();
    let m = chat.message(&id);
    assert!(
        hangar_sdk::serde_json::to_string(&m.blocks)
            .unwrap()
            .contains("closed")
    );
    // The buttons are gone, so a vote now is refused by the host.
    let late = chat.interact(&Interaction::BlockAction {
        user: "carol".into(),
        message: Some(id.clone()),
        view: None,
        block_id: Some("option-0".into()),
        action_id: "vote".into(),
        value: None,
    });
    assert!(matches!(late, Err(Error::Refused(_))), "{late:?}");
}

#[test]
fn forged_clicks_never_reach_the_app() {
    let chat = chat();
    chat.join("general", "alice");
    chat.command("general", "alice", r#"/poll "Q?" A B --multiple"#)
        .assert_ok();
    let id = poll_id(&chat, "general");
    let forge = |user: &str, block: &str, action: &str, value: Option<&str>| {
        chat.interact(&Interaction::BlockAction {
            user: user.into(),
            message: Some(id.clone()),
            view: None,
            block_id: Some(block.into()),
            action_id: action.into(),
            value: value.map(str::to_string),
        })
    };
    // A value the button does not carry, an element that is not there, a
    // user who is not in the room.
    for refused in [
        forge("alice", "option-0", "vote", Some("7")),
        forge("alice", "option-9", "vote", None),
        forge("mallory", "option-0", "vote", None),
    ] {
        assert!(matches!(refused, Err(Error::Refused(_))), "{refused:?}");
    }
    assert_eq!(chat.message(&id).text, "Poll: Q? | A: 0 | B: 0");
    // Multiple choice: votes toggle.
    chat.click("alice", &id, Some("option-0"), "vote")
        .assert_ok();
    chat.click("alice", &id, Some("option-1"), "vote")
        .assert_ok();
    assert_eq!(chat.message(&id).text, "Poll: Q? | A: 1 | B: 1");
}

#[test]
fn an_anonymous_poll_counts_without_names() {
    let chat = chat();
    chat.join("general", "alice");
    chat.join("general", "bob");
    chat.command("general", "alice", r#"/poll "Secret?" Yes No --anonymous"#)
        .assert_ok();
    let id = poll_id(&chat, "general");
    chat.click("bob", &id, Some("option-0"), "vote").assert_ok();
    let m = chat.message(&id);
    assert_eq!(m.text, "Poll: Secret? | Yes: 1 | No: 0");
    let blocks = hangar_sdk::serde_json::to_string(&m.blocks).unwrap();
    assert!(
        blocks.contains("1 vote") && blocks.contains("anonymous"),
        "{blocks}"
    );
    assert!(!blocks.contains("bob"), "no voter named: {blocks}");
}
