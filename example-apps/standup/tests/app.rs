//! Standup in the real host, through the test kit.

use hangar_host::testkit::{Replies, TestApp, TestChat};

fn chat() -> TestChat {
    TestChat::with(&[&TestApp::build(env!("CARGO_MANIFEST_DIR"))])
}

#[test]
fn posts_a_summary_in_a_thread_then_edits_it_in_place() {
    let chat = chat();
    chat.send("team", "alice", "fixed the login bug");
    chat.send("team", "bob", "reviewing the builder");
    chat.send("team", "alice", "writing tests");
    chat.command("team", "carol", "/standup").assert_ok();

    let history = chat.history("team");
    let root = history
        .iter()
        .find(|m| m.message.text == "Standup")
        .unwrap();
    let summary = history
        .iter()
        .find(|m| m.message.thread.as_deref() == Some(root.message.id.as_str()))
        .expect("the summary replies in the root's thread");
    assert_eq!(summary.message.text, "Standup: 3 updates from 2 people");
    let alice = &summary.message.attachments[0];
    assert_eq!(alice.author_name.as_deref(), Some("alice"));
    assert_eq!(
        alice.text.as_deref(),
        Some("fixed the login bug\nwriting tests")
    );
    assert_eq!(summary.message.sender, "app:standup");

    // Asked again: the same message, edited; nothing new in the room.
    chat.send("team", "bob", "merged it");
    let again = chat.command("team", "carol", "/standup");
    assert_eq!(
        again.replies(),
        [
            "Standup: 4 updates from 2 people",
            "standup: the summary in the thread is up to date"
        ]
    );
    let after = chat.history("team");
    let edited = after
        .iter()
        .find(|m| m.message.id == summary.message.id)
        .unwrap();
    assert!(edited.message.edited_at.is_some());
    assert_eq!(edited.message.text, "Standup: 4 updates from 2 people");
    assert_eq!(
        after
            .iter()
            .filter(|m| m.message.sender == "app:standup" && m.visible_to.is_none())
            .count(),
        2,
        "the root and the one summary (and a note only carol sees)"
    );
}

#[test]
fn a_command_typed_in_a_thread_replies_there() {
    let chat = chat();
    let root = chat.send("ops", "dana", "daily sync");
    chat.reply("ops", &root.message.id, "erin", "deploying now");
    let report = chat
        .host()
        .command_in_thread("ops", Some(&root.message.id), "dana", "/standup")
        .unwrap();
    report.assert_ok();
    let summary = chat
        .history("ops")
        .into_iter()
        .find(|m| m.message.sender == "app:standup")
        .unwrap();
    assert_eq!(
        summary.message.thread.as_deref(),
        Some(root.message.id.as_str())
    );
    chat.command("ops", "dana", "/standup reset").assert_ok();
    assert!(chat.records("standup").is_empty());
}
