//! A chat that stores messages itself and may deliver an event twice (a
//! Matrix homeserver retrying a transaction): `check_message` runs the
//! pre-send stages without storing, and `post_message`,
//! `post_event_once` and `command_once` commit each app's handler at most
//! once per delivery.

use hangar_host::{Delivery, Message, SendStatus};
use hangar_tests::{guests, host_with, texts};

fn karma_of(host: &hangar_host::Host, user: &str) -> i64 {
    host.records("karma")
        .unwrap()
        .iter()
        .map(|r| serde_json::from_str::<serde_json::Value>(&r.data).unwrap())
        .find(|v| v["user"] == user)
        .map_or(0, |v| v["score"].as_i64().unwrap())
}

fn stored(id: &str, text: &str) -> Message {
    Message {
        id: id.into(),
        room: "!room:example.org".into(),
        sender: "@alice:example.org".into(),
        text: text.into(),
        timestamp: 1_700_000_000_000,
        ..Message::default()
    }
}

#[test]
pub(crate) fn a_repeated_delivery_commits_once_per_app() {
    let (_dir, host, chat) = host_with(&[guests::KARMA, guests::WORD_FILTER]);
    let first = Delivery {
        id: "$event1".into(),
        at_ms: 1_700_000_000_000,
    };
    let report = host
        .post_message(stored("$event1", "@bob++ @bob++"), Some(&first))
        .unwrap();
    assert_eq!(report.status, SendStatus::Sent);
    assert_eq!(report.apps.len(), 1, "karma handles sent messages");
    assert_eq!(karma_of(&host, "bob"), 2);
    // The same delivery again (the homeserver did not hear the answer):
    // no app runs, nothing is counted twice.
    let again = host
        .post_message(stored("$event1", "@bob++ @bob++"), Some(&first))
        .unwrap();
    assert!(again.apps.is_empty(), "{:?}", again.apps);
    assert_eq!(karma_of(&host, "bob"), 2);
    // Another event with the same text counts.
    let second = Delivery {
        id: "$event2".into(),
        at_ms: 1_700_000_000_001,
    };
    host.post_message(stored("$event2", "@bob++"), Some(&second))
        .unwrap();
    assert_eq!(karma_of(&host, "bob"), 3);
    // Without a delivery the chat vouches for once itself.
    host.post_message(stored("$event3", "@bob++"), None)
        .unwrap();
    host.post_message(stored("$event3", "@bob++"), None)
        .unwrap();
    assert_eq!(karma_of(&host, "bob"), 5);

    // A command delivered twice runs once.
    let command = Delivery {
        id: "$command".into(),
        at_ms: 1_700_000_000_002,
    };
    let ran = host
        .command_once(
            "!room:example.org",
            None,
            "@carol:example.org",
            "/karma bob",
            &command,
        )
        .unwrap()
        .expect("the first delivery runs");
    assert_eq!(texts(&ran.effects), vec!["bob has 5 karma"]);
    let twice = host
        .command_once(
            "!room:example.org",
            None,
            "@carol:example.org",
            "/karma bob",
            &command,
        )
        .unwrap();
    assert!(twice.is_none(), "a repeated command ran again: {twice:?}");
    // An unknown command says so (the bridge then treats it as a message).
    let unknown = host.command_once(
        "!room:example.org",
        None,
        "@carol:example.org",
        "/nosuch",
        &Delivery {
            id: "$other".into(),
            at_ms: 1,
        },
    );
    assert!(
        matches!(unknown, Err(hangar_host::Error::UnknownCommand(_))),
        "{unknown:?}"
    );
    // Bad delivery ids are refused and change nothing.
    for id in ["", "bad\0id", &"x".repeat(513)] {
        let bad = Delivery {
            id: id.to_string(),
            at_ms: 5,
        };
        assert!(
            host.post_message(stored("$event9", "@bob++"), Some(&bad))
                .is_err()
        );
    }
    assert_eq!(karma_of(&host, "bob"), 5);
    // The chat's own store holds only karma's reply: the messages were
    // stored by "the homeserver", not through the host.
    let history = chat.history("!room:example.org", 10).unwrap();
    assert_eq!(history.len(), 1, "{history:?}");
    assert_eq!(history[0].message.sender, "app:karma");
}

#[test]
pub(crate) fn check_message_runs_the_pre_send_stages_without_storing() {
    let (_dir, host, chat) = host_with(&[guests::WORD_FILTER, guests::KARMA]);
    let masked = host.check_message(stored("", "darn it @bob++")).unwrap();
    assert_eq!(masked.status, SendStatus::Checked);
    assert_eq!(masked.message.text, "**** it @bob++");
    // Post-send handlers did not run, and the chat stored nothing.
    assert_eq!(karma_of(&host, "bob"), 0);
    assert!(chat.history("!room:example.org", 10).unwrap().is_empty());
    host.set_setting("word-filter", "mode", serde_json::json!("block"))
        .unwrap();
    let vetoed = host.check_message(stored("", "heck no")).unwrap();
    assert_eq!(vetoed.status, SendStatus::Prevented);
    assert_eq!(vetoed.prevented_by.as_deref(), Some("word-filter"));
    let clean = host.check_message(stored("", "fine words")).unwrap();
    assert_eq!(clean.status, SendStatus::Checked);
    assert_eq!(clean.message.text, "fine words");
    // An app's bot user is not a chat user.
    assert!(
        host.check_message(Message {
            sender: "app:karma".into(),
            ..stored("", "hi")
        })
        .is_err()
    );
}
