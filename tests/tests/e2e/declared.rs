//! Events are declared once, by the handlers an app implements: the SDK
//! records them in the package, the host derives the manifest's events and
//! refuses a manifest that disagrees; packages built before keep running.

use hangar_host::{Event, Package};
use hangar_tests::{guests, host_with, patched, texts};

const OLD_KARMA: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/fixtures/karma-0.1.0-manifest-events.wasm"
);

#[test]
fn a_package_built_before_the_sdk_declared_handlers_installs_and_runs() {
    let (_dir, host, chat) = host_with(&[OLD_KARMA]);
    chat.ensure("general", "carol").unwrap();
    let info = host.info("karma").unwrap();
    assert_eq!(info.manifest.api_version, "0.1.0");
    assert_eq!(info.manifest.events, vec![Event::PostMessageSent]);
    let sent = host.send_message("general", "carol", "@dave++").unwrap();
    assert!(sent.apps.iter().any(|a| a.app == "karma"), "{sent:?}");
    let reply = host.command("general", "carol", "/karma dave").unwrap();
    assert_eq!(texts(&reply.effects), vec!["dave has 1 karma"]);
}

#[test]
fn events_come_from_the_implemented_handlers() {
    // karma's hangar.json lists no events: what it implements is called.
    let (_dir, host, chat) = host_with(&[guests::KARMA, guests::WORD_FILTER]);
    chat.ensure("general", "carol").unwrap();
    let karma = host.info("karma").unwrap();
    assert_eq!(karma.manifest.events, vec![Event::PostMessageSent]);
    assert_eq!(karma.manifest.api_version, hangar_host::API_VERSION);
    let filter = host.info("word-filter").unwrap();
    assert_eq!(
        filter.manifest.events,
        vec![
            Event::CheckPreMessageSentPrevent,
            Event::PreMessageSentPrevent,
            Event::PreMessageSentModify
        ]
    );
    let sent = host
        .send_message("general", "carol", "@dave++ heck")
        .unwrap();
    let called: Vec<(&str, &str)> = sent
        .apps
        .iter()
        .map(|a| (a.app.as_str(), a.handler.as_str()))
        .collect();
    assert!(
        called.contains(&("karma", "execute-post-message-sent")),
        "{called:?}"
    );
    assert!(
        called.contains(&("word-filter", "execute-pre-message-sent-modify")),
        "{called:?}"
    );
}

#[test]
fn a_manifest_whose_events_disagree_with_the_handlers_is_refused_naming_both() {
    // The probe implements execute-command and preview-command, and its
    // manifest still lists ["command-preview"]: it agrees, so it installs.
    let (_dir, host, _chat) = host_with(&[guests::PROBE]);
    assert_eq!(
        host.info("probe").unwrap().manifest.events,
        vec![Event::CommandPreview]
    );
    // Listing another event instead: refused, saying which differ.
    let bytes = patched(
        guests::PROBE,
        r#""events": ["command-preview"]"#,
        r#""events": ["settings"       ]"#,
    );
    let err = Package::from_bytes(bytes).unwrap_err().to_string();
    assert!(err.contains("events"), "{err}");
    assert!(
        err.contains("implemented but not listed: command-preview"),
        "{err}"
    );
    assert!(
        err.contains("listed but not implemented: settings"),
        "{err}"
    );
}

/// The three example apps as built for API 0.1 (`tests/fixtures/0.1.0/`,
/// kept as binaries so later hosts must keep running them unchanged).
#[test]
fn the_example_apps_built_for_api_0_1_keep_behaving() {
    let fixture = |name: &str| format!("{}/fixtures/0.1.0/{name}.wasm", env!("CARGO_MANIFEST_DIR"));
    let apps = [
        fixture("feedback"),
        fixture("word_filter"),
        fixture("karma"),
    ];
    let apps: Vec<&str> = apps.iter().map(String::as_str).collect();
    let (_dir, host, chat) = host_with(&apps);
    chat.ensure("general", "carol").unwrap();
    for app in host.list().unwrap() {
        assert_eq!(app.status, hangar_host::Status::Enabled, "{app:?}");
    }
    let sent = host
        .send_message("general", "carol", "what the heck")
        .unwrap();
    assert_eq!(sent.message.text, "what the ****");
    let reply = host
        .command("general", "alice", "/feedback love it")
        .unwrap();
    assert_eq!(
        texts(&reply.effects),
        vec!["Thanks for your feedback, alice!"]
    );
    host.send_message("general", "carol", "@dave++ thanks")
        .unwrap();
    let reply = host.command("general", "carol", "/karma dave").unwrap();
    assert_eq!(texts(&reply.effects), vec!["dave has 1 karma"]);
}
