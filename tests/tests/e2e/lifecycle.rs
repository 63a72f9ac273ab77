//! Lifecycle transitions and package validation through the real host.

use hangar_host::{Error, Package, Status};
use hangar_tests::{guests, host_with, patch_all, patched, probe, texts};
use serde_json::json;

#[test]
fn disabled_apps_get_no_events_and_keep_their_data() {
    let (_dir, host, _chat) = host_with(&[guests::KARMA]);
    host.send_message("general", "carol", "@dave++").unwrap();
    let a = host.disable("karma").unwrap();
    assert_eq!(a.status, Status::Disabled);
    let r = host.send_message("general", "carol", "@dave++").unwrap();
    assert!(
        r.apps.is_empty(),
        "a disabled app is not called: {:?}",
        r.apps
    );
    assert!(host.command("general", "a", "/karma dave").is_err());
    assert_eq!(host.enable("karma").unwrap().status, Status::Enabled);
    let reply = host.command("general", "a", "/karma dave").unwrap();
    assert_eq!(texts(&reply.effects), vec!["dave has 1 karma"]);
}

#[test]
fn update_keeps_data_and_uninstall_purges_it() {
    let (dir, host, _chat) = host_with(&[guests::PROBE]);
    probe(&host, r#"/p create {"v":1} misc:keep"#);
    let newer = patched(
        guests::PROBE,
        r#""version": "0.1.0""#,
        r#""version": "0.1.1""#,
    );
    let path = dir.path().join("probe-0.1.1.wasm");
    std::fs::write(&path, newer).unwrap();
    let updated = host.update(&path).unwrap();
    assert_eq!(updated.version, "0.1.1");
    assert_eq!(
        probe(&host, "/p read-by misc:keep")["ok"][0]["data"],
        json!({"v": 1})
    );
    assert!(
        host.logs("probe", 10)
            .unwrap()
            .iter()
            .any(|l| l.message.contains("updated from 0.1.0 to 0.1.1"))
    );

    host.uninstall("probe").unwrap();
    assert!(!dir.path().join("apps/probe").exists());
    assert!(matches!(host.records("probe"), Err(Error::UnknownApp(_))));
    // Reinstalling starts from an empty store.
    host.install(guests::PROBE.as_ref()).unwrap();
    assert_eq!(probe(&host, "/p read-by misc:keep")["ok"], json!([]));
}

#[test]
fn incompatible_api_version_is_refused_naming_both() {
    // A package whose SDK and manifest both say 0.3.
    let bytes = patch_all(
        &patched(
            guests::PROBE,
            r#""api-version": "0.2.0""#,
            r#""api-version": "0.3.0""#,
        ),
        br#"{"api-version":"0.2.0""#,
        br#"{"api-version":"0.3.0""#,
    );
    let Err(err) = Package::from_bytes(bytes) else {
        panic!("an app built for API 0.3.0 was accepted")
    };
    let err = err.to_string();
    assert!(
        err.contains("0.3.0") && err.contains("0.1.0 and 0.2.0") && err.contains("api-version"),
        "{err}"
    );
}

#[test]
fn ids_with_path_characters_are_refused_and_nothing_is_left() {
    let (dir, host, _chat) = host_with(&[]);
    for to in [r#""id": "../pr""#, r#""id": "a/b/c""#, r#""id":"\u0000""#] {
        let bad = to;
        let bytes = patched(guests::PROBE, r#""id": "probe""#, to);
        let err = Package::from_bytes(bytes).map(|p| host.install_package(p));
        let msg = match err {
            Err(e) => e.to_string(),
            Ok(Err(e)) => e.to_string(),
            Ok(Ok(_)) => panic!("{bad} was installed"),
        };
        assert!(msg.contains("id"), "{bad}: {msg}");
    }
    assert!(host.list().unwrap().is_empty());
    let entries: Vec<_> = std::fs::read_dir(dir.path().join("apps"))
        .unwrap()
        .collect();
    assert!(entries.is_empty(), "{entries:?}");
}

fn hooks_seen(host: &hangar_host::Host) -> Vec<serde_json::Value> {
    host.records("hooks")
        .unwrap()
        .into_iter()
        .map(|r| serde_json::from_str(&r.data).unwrap())
        .collect()
}

#[test]
fn every_transition_calls_its_hook() {
    let (dir, host, _chat) = host_with(&[guests::HOOKS]);
    assert_eq!(hooks_seen(&host), vec![json!({"hook": "install"})]);

    host.disable("hooks").unwrap();
    assert!(
        host.logs("hooks", 10)
            .unwrap()
            .iter()
            .any(|l| l.message == "disable hook ran")
    );

    // enable may refuse: the app stays disabled and says why.
    host.set_setting("hooks", "refuse-enable", json!(true))
        .unwrap();
    let err = host.enable("hooks").unwrap_err().to_string();
    assert!(err.contains("refuse-enable is set"), "{err}");
    let info = host.info("hooks").unwrap();
    assert_eq!(info.summary.status, Status::Disabled);
    assert!(
        info.summary
            .status_reason
            .unwrap()
            .contains("refuse-enable is set")
    );
    host.set_setting("hooks", "refuse-enable", json!(false))
        .unwrap();
    assert_eq!(host.enable("hooks").unwrap().status, Status::Enabled);

    // settings: the read-only validation can refuse; the value is unchanged.
    let err = host
        .set_setting("hooks", "label", json!("forbidden"))
        .unwrap_err()
        .to_string();
    assert!(err.contains("not allowed"), "{err}");
    assert_eq!(
        host.settings("hooks")
            .unwrap()
            .iter()
            .find(|s| s.0 == "label")
            .unwrap()
            .1,
        json!("plain")
    );
    host.set_setting("hooks", "label", json!("fancy")).unwrap();
    assert!(
        hooks_seen(&host).contains(&json!({"hook": "updated", "id": "label", "value": "fancy"}))
    );
    // a value of the wrong type never reaches the app.
    assert!(host.set_setting("hooks", "label", json!(3)).is_err());

    let newer = patched(
        guests::HOOKS,
        r#""version": "0.1.0""#,
        r#""version": "0.3.0""#,
    );
    let path = dir.path().join("hooks-0.3.0.wasm");
    std::fs::write(&path, newer).unwrap();
    host.update(&path).unwrap();
    assert!(hooks_seen(&host).contains(&json!({"hook": "update", "from": "0.1.0"})));
    assert_eq!(host.info("hooks").unwrap().summary.version, "0.3.0");
    // settings survive an update
    assert_eq!(
        host.settings("hooks")
            .unwrap()
            .iter()
            .find(|s| s.0 == "label")
            .unwrap()
            .1,
        json!("fancy")
    );

    host.uninstall("hooks").unwrap();
    assert!(!dir.path().join("apps/hooks").exists());
    assert!(host.list().unwrap().is_empty());
}

#[test]
fn an_app_whose_package_breaks_is_marked_invalid_and_the_host_still_starts() {
    let (dir, package) = hangar_tests::karma_installed();
    hangar_tests::host_at(dir.path())
        .0
        .install(guests::PROBE.as_ref())
        .unwrap();
    std::fs::write(package, b"garbage").unwrap();
    let (host, _chat) = hangar_tests::host_at(dir.path());
    let list = host.list().unwrap();
    let karma = list.iter().find(|a| a.id == "karma").unwrap();
    assert_eq!(karma.status, Status::Invalid);
    assert!(
        karma
            .status_reason
            .as_deref()
            .unwrap()
            .contains("reinstall"),
        "{karma:?}"
    );
    assert!(
        probe(&host, "/p create 1")["ok"].is_string(),
        "the other app still works"
    );
}
