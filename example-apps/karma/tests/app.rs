//! Karma in the real host, through the test kit.

use hangar_host::testkit::{Replies, TestApp, TestChat};

#[test]
fn counts_karma_and_reports_it() {
    let chat = TestChat::with(&[&TestApp::build(env!("CARGO_MANIFEST_DIR"))]);
    chat.send("general", "carol", "@dave++ thanks").assert_ok();
    chat.send("general", "erin", "@dave++ @carol--").assert_ok();
    chat.send("general", "dave", "@dave++ me!").assert_ok();
    let reply = chat.command("general", "alice", "/karma dave");
    assert_eq!(reply.replies(), ["dave has 2 karma"]);
    assert_eq!(
        chat.command("general", "alice", "/karma").replies(),
        ["usage: /karma <name>"]
    );
    assert_eq!(chat.records("karma").len(), 2);
}
