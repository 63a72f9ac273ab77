//! Feedback in the real host, through the test kit.

use hangar_host::testkit::{Replies, TestApp, TestChat};

#[test]
fn stores_feedback_and_lists_it() {
    let chat = TestChat::with(&[&TestApp::build(env!("CARGO_MANIFEST_DIR"))]);
    chat.command("general", "alice", "/feedback more coffee")
        .assert_ok();
    chat.command("general", "bob", "/feedback fewer meetings")
        .assert_ok();
    let mine = chat.command("general", "alice", "/feedback mine");
    assert!(
        mine.replies().concat().contains("more coffee")
            && !mine.replies().concat().contains("fewer meetings"),
        "{:?}",
        mine.replies()
    );
    assert_eq!(chat.records("feedback").len(), 2);
}
