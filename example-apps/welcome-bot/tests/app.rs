//! The welcome bot in the real host, through the test kit.

use hangar_host::testkit::{Replies, TestApp, TestChat};
use hangar_host::{Effect, RoomKind};

fn app() -> TestApp {
    TestApp::build(env!("CARGO_MANIFEST_DIR"))
}

#[test]
fn a_person_is_welcomed_once_in_a_direct_room() {
    let chat = TestChat::with(&[&app()]);
    let first = chat.join("general", "alice");
    first.assert_ok();
    assert_eq!(first.replies(), ["Welcome to #general, alice!"]);
    let Some(Effect::CreateRoom { room, members, .. }) = first.events[1]
        .effects
        .iter()
        .find(|e| matches!(e, Effect::CreateRoom { .. }))
    else {
        panic!("no direct room was created: {first:?}")
    };
    assert_eq!(room.kind, RoomKind::Direct);
    assert_eq!(members, &["alice", "app:welcome-bot"]);
    let dm = chat.history(&room.id);
    assert_eq!(dm.len(), 1);
    assert_eq!(dm[0].message.blocks.len(), 3);
    assert_eq!(dm[0].message.attachments[0].fields[0].value, "alice");

    // Joining again, elsewhere, or after leaving: no second welcome.
    chat.leave("general", "alice").assert_ok();
    assert!(chat.join("general", "alice").replies().is_empty());
    assert!(chat.join("random", "alice").replies().is_empty());
    assert_eq!(chat.history(&room.id).len(), 1);
    assert_eq!(chat.records("welcome-bot").len(), 1);
}

#[test]
fn the_greeting_is_a_setting_and_bots_are_not_greeted() {
    let chat = TestChat::with(&[&app()]);
    chat.host()
        .set_setting(
            "welcome-bot",
            "greeting",
            "Hi {user}, this is #{room}".into(),
        )
        .unwrap();
    assert_eq!(chat.join("dev", "bob").replies(), ["Hi bob, this is #dev"]);
    assert!(chat.join("dev", "app:other").replies().is_empty());
}
