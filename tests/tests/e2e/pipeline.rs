//! The message pipeline and slash commands with the three example apps.

use std::sync::Arc;

use hangar_host::{Model, Outcome, SendStatus};
use hangar_tests::{guests, host_with, texts};
use serde_json::json;

fn all_apps() -> (
    tempfile::TempDir,
    hangar_host::Host,
    Arc<hangar_host::RefChat>,
) {
    host_with(&[guests::FEEDBACK, guests::WORD_FILTER, guests::KARMA])
}

fn data(host: &hangar_host::Host, app: &str) -> Vec<serde_json::Value> {
    host.records(app)
        .unwrap()
        .into_iter()
        .map(|r| serde_json::from_str(&r.data).unwrap())
        .collect()
}

#[test]
fn word_filter_masks_and_counts_a_strike() {
    let (_dir, host, chat) = all_apps();
    let report = host
        .send_message("general", "bob", "what the heck")
        .unwrap();
    assert_eq!(report.status, SendStatus::Sent);
    assert_eq!(report.message.text, "what the ****");
    let modify = report
        .apps
        .iter()
        .find(|a| a.app == "word-filter" && a.handler == "execute-pre-message-sent-modify")
        .unwrap();
    assert_eq!(modify.outcome, Outcome::Modified);
    // mask mode: the read-only check skipped the prevent handler.
    assert!(
        !report
            .apps
            .iter()
            .any(|a| a.handler == "execute-pre-message-sent-prevent")
    );
    assert_eq!(
        data(&host, "word-filter"),
        vec![json!({"user": "bob", "count": 1})]
    );
    let stored = chat.history("general", 1).unwrap();
    assert_eq!(stored[0].message.text, "what the ****");
    // Whole words only: no strike for "heckle".
    let clean = host.send_message("general", "bob", "heckle me").unwrap();
    assert_eq!(clean.message.text, "heckle me");
    assert_eq!(
        data(&host, "word-filter"),
        vec![json!({"user": "bob", "count": 1})]
    );
}

#[test]
fn word_filter_blocks_in_block_mode() {
    let (_dir, host, chat) = all_apps();
    host.set_setting("word-filter", "mode", json!("block"))
        .unwrap();
    let report = host.send_message("general", "eve", "oh DARN").unwrap();
    assert_eq!(report.status, SendStatus::Prevented);
    assert_eq!(report.prevented_by.as_deref(), Some("word-filter"));
    assert!(
        chat.history("general", 10).unwrap().is_empty(),
        "a vetoed message is not stored"
    );
    // The veto ran post-message handlers of nobody.
    assert!(
        !report
            .apps
            .iter()
            .any(|a| a.handler == "execute-post-message-sent")
    );
    let strikes = host.command("general", "admin", "/strikes eve").unwrap();
    assert_eq!(texts(&strikes.effects), vec!["eve has 1 strike(s)"]);
    // A bad setting value is refused and changes nothing.
    assert!(
        host.set_setting("word-filter", "mode", json!("shout"))
            .is_err()
    );
    assert_eq!(
        host.settings("word-filter")
            .unwrap()
            .iter()
            .find(|s| s.0 == "mode")
            .unwrap()
            .1,
        json!("block")
    );
}

#[test]
fn karma_counts_and_reports() {
    let (_dir, host, _chat) = all_apps();
    host.send_message("general", "carol", "@dave++ thanks")
        .unwrap();
    host.send_message("general", "erin", "@dave++ @carol--")
        .unwrap();
    host.send_message("general", "dave", "@dave++ me!").unwrap();
    let reply = host.command("general", "alice", "/karma dave").unwrap();
    assert_eq!(texts(&reply.effects), vec!["dave has 2 karma"]);
    let records = host.records("karma").unwrap();
    let dave = records
        .iter()
        .find(|r| r.data.contains("\"dave\""))
        .unwrap();
    assert!(
        dave.associations
            .iter()
            .any(|a| a.model == Model::User && a.id == "dave")
    );
}

#[test]
pub(crate) fn karma_never_loses_an_increment_under_concurrent_dispatch() {
    let (_dir, host, _chat) = all_apps();
    let threads = 4;
    let per_thread = 15;
    std::thread::scope(|s| {
        for t in 0..threads {
            let host = host.clone();
            s.spawn(move || {
                for _ in 0..per_thread {
                    let r = host
                        .send_message("general", &format!("u{t}"), "@bob++")
                        .unwrap();
                    let post = r.apps.iter().find(|a| a.app == "karma").unwrap();
                    assert_eq!(post.outcome, Outcome::Ok, "{:?}", post.error);
                }
            });
        }
    });
    let reply = host.command("general", "alice", "/karma bob").unwrap();
    assert_eq!(
        texts(&reply.effects),
        vec![format!("bob has {} karma", threads * per_thread)]
    );
}

#[test]
fn feedback_stores_app_and_user_level_data() {
    let (_dir, host, _chat) = all_apps();
    let thanks = host
        .command("general", "alice", "/feedback love it")
        .unwrap();
    assert_eq!(
        texts(&thanks.effects),
        vec!["Thanks for your feedback, alice!"]
    );
    host.command("general", "bob", "/feedback more please")
        .unwrap();
    let records = host.records("feedback").unwrap();
    assert_eq!(records.len(), 2);
    let alice = &records[0];
    assert_eq!(
        serde_json::from_str::<serde_json::Value>(&alice.data).unwrap()["text"],
        "love it"
    );
    assert!(
        alice
            .associations
            .iter()
            .any(|a| a.model == Model::User && a.id == "alice")
    );
    let mine = texts(
        &host
            .command("general", "alice", "/feedback mine")
            .unwrap()
            .effects,
    );
    assert_eq!(mine, vec!["- alice: love it"]);
    let all = texts(
        &host
            .command("general", "carol", "/feedback list")
            .unwrap()
            .effects,
    );
    assert_eq!(all, vec!["- alice: love it\n- bob: more please"]);
    let (preview, report) = host.preview("general", "carol", "/feedback").unwrap();
    assert_eq!(report.outcome, Outcome::Ok);
    assert_eq!(
        preview.iter().map(|p| p.text.as_str()).collect::<Vec<_>>(),
        vec!["bob: more please", "alice: love it"]
    );
}

#[test]
fn unknown_commands_and_bad_lines_are_clear_errors() {
    let (_dir, host, _chat) = all_apps();
    let err = host
        .command("general", "a", "/nope")
        .unwrap_err()
        .to_string();
    assert!(err.contains("/nope"), "{err}");
    let err = host
        .command("general", "a", "karma dave")
        .unwrap_err()
        .to_string();
    assert!(err.contains("must start with '/'"), "{err}");
}
