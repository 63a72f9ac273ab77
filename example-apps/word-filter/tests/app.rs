//! The word filter in the real host, through the test kit.

use hangar_host::SendStatus;
use hangar_host::testkit::{Replies, TestApp, TestChat};

#[test]
fn masks_then_blocks_and_counts_strikes() {
    let chat = TestChat::with(&[&TestApp::build(env!("CARGO_MANIFEST_DIR"))]);
    let sent = chat.send("general", "bob", "what the heck");
    assert_eq!(sent.message.text, "what the ****");
    chat.host()
        .set_setting("word-filter", "mode", "block".into())
        .unwrap();
    let blocked = chat.send("general", "bob", "oh DARN");
    assert_eq!(blocked.status, SendStatus::Prevented);
    assert_eq!(
        chat.command("general", "admin", "/strikes bob").replies(),
        ["bob has 2 strike(s)"]
    );
}
