//! Reminder in the real host, through the test kit; the test runs due
//! jobs itself (as `hangar serve`'s runner does).

use hangar_host::testkit::{Replies, TestApp, TestChat};

fn chat() -> TestChat {
    TestChat::with(&[&TestApp::build(env!("CARGO_MANIFEST_DIR"))])
}

#[test]
fn a_reminder_comes_once_when_due() {
    let chat = chat();
    let set = chat.command("general", "alice", "/remind me in 1 seconds to stretch");
    set.assert_ok();
    assert!(
        set.replies()[0].starts_with("OK, in 1 seconds: stretch"),
        "{:?}",
        set.replies()
    );
    assert_eq!(
        chat.command("general", "alice", "/remind list").replies(),
        ["pending: stretch"]
    );
    // Not due yet: nothing runs.
    assert!(chat.host().run_due_jobs("test", 8).unwrap().is_empty());
    std::thread::sleep(std::time::Duration::from_millis(1100));
    let runs = chat.host().run_due_jobs("test", 8).unwrap();
    assert_eq!(runs.len(), 1);
    let delivered = runs[0].report.as_ref().unwrap();
    assert!(delivered.error.is_none(), "{delivered:?}");
    assert!(
        chat.host().run_due_jobs("test", 8).unwrap().is_empty(),
        "once"
    );
    let notes: Vec<String> = chat
        .history("general")
        .into_iter()
        .filter(|m| m.visible_to.as_deref() == Some("alice"))
        .map(|m| m.message.text)
        .collect();
    assert!(
        notes.contains(&"Reminder: stretch".to_string()),
        "{notes:?}"
    );
    assert_eq!(
        chat.command("general", "alice", "/remind list").replies(),
        ["no reminders pending"]
    );
}

#[test]
fn a_cancelled_reminder_never_comes_and_the_digest_recurs() {
    let chat = chat();
    let set = chat.command("general", "bob", "/remind me in 1 seconds to call home");
    let id = set.replies()[0]
        .rsplit("reminder ")
        .next()
        .unwrap()
        .trim_end_matches(')')
        .to_string();
    chat.command("general", "bob", &format!("/remind cancel {id}"))
        .assert_ok();
    chat.command("general", "bob", "/remind me in 1 hours to later")
        .assert_ok();
    chat.command("ops", "bob", "/remind digest every 1 seconds")
        .assert_ok();
    std::thread::sleep(std::time::Duration::from_millis(1100));
    let runs = chat.host().run_due_jobs("test", 8).unwrap();
    assert_eq!(runs.len(), 1, "the digest only: {runs:?}");
    let posted: Vec<String> = chat
        .history("ops")
        .into_iter()
        .map(|m| m.message.text)
        .collect();
    assert!(
        posted.contains(&"1 reminders pending".to_string()),
        "{posted:?}"
    );
    std::thread::sleep(std::time::Duration::from_millis(1100));
    assert_eq!(
        chat.host().run_due_jobs("test", 8).unwrap().len(),
        1,
        "it recurs"
    );
    chat.command("ops", "bob", "/remind digest off").assert_ok();
    std::thread::sleep(std::time::Duration::from_millis(1100));
    assert!(chat.host().run_due_jobs("test", 8).unwrap().is_empty());
}
