//! Several hosts on one data directory see one world: lifecycle and
//! setting changes made by one reach the others before their next dispatch.

use hangar_host::Status;
use hangar_tests::{guests, host_at, texts};
use serde_json::json;

#[test]
pub(crate) fn changes_in_one_host_reach_another_before_its_next_dispatch() {
    let dir = tempfile::tempdir().unwrap();
    let (a, chat_a) = host_at(dir.path());
    let (b, _chat_b) = host_at(dir.path());
    chat_a.ensure("general", "carol").unwrap();

    a.install(guests::KARMA.as_ref()).unwrap();
    a.install(guests::WORD_FILTER.as_ref()).unwrap();
    // install in A -> B dispatches to it
    let r = b.send_message("general", "carol", "@dave++ heck").unwrap();
    assert!(r.apps.iter().any(|x| x.app == "karma"));
    assert_eq!(r.message.text, "@dave++ ****");
    // committed data written through B is read through A
    assert_eq!(
        texts(&a.command("general", "x", "/karma dave").unwrap().effects),
        vec!["dave has 1 karma"]
    );

    // settings in A -> B
    a.set_setting("word-filter", "mode", json!("block"))
        .unwrap();
    assert_eq!(
        b.send_message("general", "carol", "heck")
            .unwrap()
            .prevented_by
            .as_deref(),
        Some("word-filter")
    );

    // disable in A -> B stops dispatching; enable -> resumes
    a.disable("karma").unwrap();
    assert!(
        b.send_message("general", "carol", "@dave++")
            .unwrap()
            .apps
            .iter()
            .all(|x| x.app != "karma")
    );
    a.enable("karma").unwrap();
    assert!(
        b.send_message("general", "carol", "@dave++")
            .unwrap()
            .apps
            .iter()
            .any(|x| x.app == "karma")
    );

    // a change made by a separate `hangar` process reaches both
    let out = hangar_tests::hangar_at(dir.path())
        .args(["disable", "word-filter"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        a.list()
            .unwrap()
            .iter()
            .find(|x| x.id == "word-filter")
            .unwrap()
            .status,
        Status::Disabled
    );
    assert_eq!(
        b.send_message("general", "carol", "heck").unwrap().status,
        hangar_host::SendStatus::Sent
    );

    // update in A -> B runs the new version; uninstall in A -> B stops
    let patched = hangar_tests::patched(
        guests::KARMA,
        r#""version": "0.1.0""#,
        r#""version": "0.1.9""#,
    );
    let newer = dir.path().join("karma-0.1.9.wasm");
    std::fs::write(&newer, patched).unwrap();
    a.update(&newer).unwrap();
    let r = b.send_message("general", "carol", "@dave++").unwrap();
    assert_eq!(
        r.apps.iter().find(|x| x.app == "karma").unwrap().version,
        "0.1.9"
    );
    a.uninstall("karma").unwrap();
    assert!(
        b.send_message("general", "carol", "@dave++")
            .unwrap()
            .apps
            .iter()
            .all(|x| x.app != "karma")
    );
    assert!(b.command("general", "x", "/karma dave").is_err());
}

/// Another process's change is seen by every event that starts at least
/// `REGISTRY_CHECK_INTERVAL` after it committed, without a registry query
/// per event. The other process is a plain SQLite connection here (so no
/// in-process signal helps) and a real `hangar` process below.
#[test]
fn another_processs_change_is_seen_within_the_check_interval() {
    let dir = tempfile::tempdir().unwrap();
    let (host, chat) = host_at(dir.path());
    chat.ensure("general", "carol").unwrap();
    host.install(guests::KARMA.as_ref()).unwrap();
    let called = |host: &hangar_host::Host| {
        host.send_message("general", "carol", "@dave++")
            .unwrap()
            .apps
            .iter()
            .any(|a| a.app == "karma")
    };
    assert!(called(&host));

    let other = rusqlite::Connection::open(dir.path().join("registry.db")).unwrap();
    other
        .busy_timeout(std::time::Duration::from_secs(10))
        .unwrap();
    other
        .execute_batch(
            "BEGIN IMMEDIATE;
             UPDATE apps SET status = 'disabled' WHERE id = 'karma';
             UPDATE meta SET value = value + 1 WHERE key = 'version';
             COMMIT;",
        )
        .unwrap();
    std::thread::sleep(hangar_host::REGISTRY_CHECK_INTERVAL * 2);
    assert!(!called(&host), "a disabled app was still called");

    // A real process: `hangar enable` commits, exits; the next event sees it.
    let out = hangar_tests::hangar_at(dir.path())
        .args(["enable", "karma"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    std::thread::sleep(hangar_host::REGISTRY_CHECK_INTERVAL * 2);
    assert!(called(&host), "an enabled app was not called");
    assert_eq!(
        host.list().unwrap()[0].status,
        Status::Enabled,
        "registry and dispatch disagree"
    );
}

/// Another process uninstalls and reinstalls an app (same package): this
/// host must use the new store, not the deleted one it had open.
#[test]
fn a_reinstall_elsewhere_is_a_new_store_here() {
    let dir = tempfile::tempdir().unwrap();
    let (host, chat) = host_at(dir.path());
    chat.ensure("general", "carol").unwrap();
    host.install(guests::KARMA.as_ref()).unwrap();
    host.send_message("general", "carol", "@dave++").unwrap();
    for args in [&["uninstall", "karma"][..], &["install", guests::KARMA][..]] {
        let out = hangar_tests::hangar_at(dir.path())
            .args(args)
            .output()
            .unwrap();
        assert!(out.status.success(), "{out:?}");
    }
    std::thread::sleep(hangar_host::REGISTRY_CHECK_INTERVAL * 2);
    host.send_message("general", "carol", "@erin++").unwrap();
    let out = hangar_tests::hangar_at(dir.path())
        .args(["data", "karma", "--json"])
        .output()
        .unwrap();
    let records: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let text = records.to_string();
    assert!(
        text.contains("erin"),
        "the write went to the new store: {text}"
    );
    assert!(!text.contains("dave"), "the old store was purged: {text}");
}
