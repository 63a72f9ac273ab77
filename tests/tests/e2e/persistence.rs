//! Every persistence method, the association rule, isolation between apps,
//! restarts and atomicity, through real guests in the real host.

use hangar_host::{FailureKind, Outcome};
use hangar_tests::{guests, host_at, host_with, probe, texts};
use serde_json::json;

#[test]
pub(crate) fn every_persistence_method_round_trips() {
    let (_dir, host, _chat) = host_with(&[guests::PROBE]);
    let id = probe(&host, r#"/p create {"n":1} user:alice misc:k"#)["ok"]
        .as_str()
        .unwrap()
        .to_string();
    let plain = probe(&host, r#"/p create {"n":2}"#)["ok"]
        .as_str()
        .unwrap()
        .to_string();

    let rec = &probe(&host, &format!("/p read {id}"))["ok"];
    assert_eq!(rec["data"], json!({"n": 1}));
    let mut assoc: Vec<String> = serde_json::from_value(rec["associations"].clone()).unwrap();
    assoc.sort();
    assert_eq!(assoc, vec!["misc:k", "user:alice"]);
    assert_eq!(
        probe(&host, &format!("/p read {plain}"))["ok"]["data"],
        json!({"n": 2})
    );
    assert_eq!(probe(&host, "/p read nope")["ok"], json!(null));

    assert_eq!(
        probe(&host, &format!(r#"/p update {id} {{"n":5}} false"#))["ok"],
        json!(id)
    );
    assert_eq!(
        probe(&host, &format!("/p read {id}"))["ok"]["data"],
        json!({"n": 5})
    );
    let missing = probe(&host, r#"/p update ghost {"n":0} false"#);
    assert!(
        missing["err"].as_str().unwrap().contains("not found"),
        "{missing}"
    );
    assert_eq!(
        probe(&host, r#"/p update ghost {"n":0} true"#)["ok"],
        json!("ghost")
    );
    assert_eq!(probe(&host, "/p read ghost")["ok"]["data"], json!({"n": 0}));

    let updated = probe(&host, r#"/p update-by {"n":7} false misc:k user:alice"#);
    assert_eq!(updated["ok"], json!([id]));
    let upserted = probe(&host, r#"/p update-by {"n":8} true misc:new"#);
    assert_eq!(upserted["ok"].as_array().unwrap().len(), 1);
    assert_eq!(
        probe(&host, "/p read-by misc:new")["ok"][0]["data"],
        json!({"n": 8})
    );

    let removed = probe(&host, &format!("/p remove {id}"));
    assert_eq!(removed["ok"]["data"], json!({"n": 7}));
    assert_eq!(probe(&host, &format!("/p remove {id}"))["ok"], json!(null));
    let removed = probe(&host, "/p remove-by misc:new");
    assert_eq!(removed["ok"].as_array().unwrap().len(), 1);
    assert_eq!(probe(&host, "/p read-by misc:new")["ok"], json!([]));

    // What the guest saw is what is on disk.
    let ids: Vec<String> = host
        .records("probe")
        .unwrap()
        .into_iter()
        .map(|r| r.id)
        .collect();
    assert_eq!(ids, vec![plain, "ghost".to_string()]);
}

#[test]
pub(crate) fn association_matching_is_and_ignoring_order_and_duplicates() {
    let (_dir, host, _chat) = host_with(&[guests::PROBE]);
    let both = probe(&host, r#"/p create 1 user:a misc:k"#)["ok"].clone();
    let user_only = probe(&host, r#"/p create 2 user:a"#)["ok"].clone();
    probe(&host, r#"/p create 3 misc:k"#);
    let ids = |v: serde_json::Value| {
        v["ok"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["id"].clone())
            .collect::<Vec<_>>()
    };
    assert_eq!(
        ids(probe(&host, "/p read-by user:a")),
        vec![both.clone(), user_only]
    );
    assert_eq!(
        ids(probe(&host, "/p read-by misc:k user:a")),
        vec![both.clone()]
    );
    assert_eq!(
        ids(probe(&host, "/p read-by user:a misc:k user:a")),
        vec![both.clone()]
    );
    assert_eq!(
        ids(probe(&host, "/p read-by user:b")),
        Vec::<serde_json::Value>::new()
    );
    // update and remove use the same rule as read.
    assert_eq!(
        probe(&host, "/p update-by 9 false misc:k user:a")["ok"],
        json!([both])
    );
    assert_eq!(
        ids(probe(&host, "/p remove-by user:a misc:k user:a")),
        vec![both]
    );
    // An empty list is refused, not "everything".
    let empty = probe(&host, "/p read-by");
    assert!(
        empty["err"]
            .as_str()
            .unwrap()
            .contains("at least one association"),
        "{empty}"
    );
}

#[test]
pub(crate) fn apps_cannot_see_each_others_records() {
    let (dir, host, _chat) = host_with(&[guests::PROBE, guests::NEIGHBOR]);
    probe(&host, r#"/p create {"secret":1} user:alice"#);
    let id = probe(&host, r#"/p create {"secret":2}"#)["ok"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(probe(&host, "/n read-by user:alice")["ok"], json!([]));
    assert_eq!(probe(&host, &format!("/n read {id}"))["ok"], json!(null));
    // Writing under the same id and associations touches only its own store.
    probe(&host, &format!(r#"/n update {id} {{"mine":true}} true"#));
    probe(&host, "/n remove-by user:alice");
    assert_eq!(
        probe(&host, &format!("/p read {id}"))["ok"]["data"],
        json!({"secret": 2})
    );
    assert_eq!(
        probe(&host, "/p read-by user:alice")["ok"]
            .as_array()
            .unwrap()
            .len(),
        1
    );
    // One database file per app (on SQLite; shared tables on PostgreSQL).
    if hangar_tests::current_store().is_none() {
        assert!(dir.path().join("apps/probe/store.db").exists());
        assert!(dir.path().join("apps/neighbor/store.db").exists());
    }
}

#[test]
pub(crate) fn data_survives_a_host_restart() {
    let dir = tempfile::tempdir().unwrap();
    {
        let (host, _chat) = host_at(dir.path());
        host.install(guests::PROBE.as_ref()).unwrap();
        probe(&host, r#"/p create {"kept":true} misc:restart"#);
    }
    let (host, _chat) = host_at(dir.path());
    assert_eq!(host.list().unwrap().len(), 1);
    assert_eq!(
        probe(&host, "/p read-by misc:restart")["ok"][0]["data"],
        json!({"kept": true})
    );
}

#[test]
pub(crate) fn a_failed_handler_leaves_nothing_and_sends_nothing() {
    let (_dir, host, chat) = host_with(&[guests::PROBE]);
    for (op, kind) in [
        ("fail-after-write", FailureKind::AppError),
        ("trap-after-write", FailureKind::Trap),
    ] {
        let report = host
            .command("general", "tester", &format!("/p {op}"))
            .unwrap();
        assert_eq!(report.report.outcome, Outcome::Error, "{op}");
        assert_eq!(
            report.report.failure,
            Some(kind),
            "{op}: {:?}",
            report.report.error
        );
        assert!(
            report.effects.is_empty(),
            "{op}: effects {:?}",
            report.effects
        );
    }
    assert!(host.records("probe").unwrap().is_empty());
    let history = chat.history("general", 50).unwrap();
    assert!(
        history
            .iter()
            .all(|m| !m.message.text.contains("failed handler")
                && !m.message.text.contains("trapped handler")),
        "{history:?}"
    );
    // The host and the app are fine afterwards.
    assert!(probe(&host, "/p create 1")["ok"].is_string());
    let logs = host.logs("probe", 20).unwrap();
    assert!(
        logs.iter()
            .any(|l| l.source == "host" && l.message.contains("trapping on purpose")),
        "{logs:?}"
    );
}

#[test]
pub(crate) fn a_stashed_writer_traps_in_a_later_read_only_call_and_writes_nothing() {
    let (_dir, host, _chat) = host_with(&[guests::PROBE]);
    let handle = probe(&host, "/p stash")["ok"].clone();
    assert!(handle.is_u64(), "{handle}");
    let before = host.records("probe").unwrap().len();
    let (items, report) = host.preview("general", "tester", "/p use-stash").unwrap();
    assert!(items.is_empty());
    assert_eq!(report.outcome, Outcome::Error);
    assert_eq!(
        report.failure,
        Some(FailureKind::Trap),
        "{:?}",
        report.error
    );
    assert!(
        report.error.as_deref().unwrap().contains("handle"),
        "{:?}",
        report.error
    );
    assert_eq!(host.records("probe").unwrap().len(), before);
}

#[test]
pub(crate) fn preview_is_read_only_but_reads() {
    let (_dir, host, _chat) = host_with(&[guests::PROBE]);
    probe(&host, r#"/p create {"x":1} misc:seen"#);
    let (items, report) = host.preview("general", "tester", "/p misc:seen").unwrap();
    assert_eq!(report.outcome, Outcome::Ok, "{:?}", report.error);
    assert_eq!(items.len(), 1);
    assert_eq!(items[0].text, r#"{"x":1}"#);
}

#[test]
pub(crate) fn permissions_are_enforced_and_reported() {
    let (_dir, host, chat) = host_with(&[guests::BARE]);
    let report = host.command("general", "tester", "/bare").unwrap();
    assert_eq!(report.report.outcome, Outcome::Ok);
    let mut denied = report.report.denied.clone();
    denied.sort();
    assert_eq!(denied, vec!["message.write", "persistence"]);
    assert!(report.effects.is_empty());
    let logs = host.logs("bare", 20).unwrap();
    let text: Vec<&str> = logs.iter().map(|l| l.message.as_str()).collect();
    assert!(
        text.iter()
            .any(|l| l.starts_with("create: permission denied") && l.contains("'persistence'")),
        "{text:?}"
    );
    assert!(
        text.iter()
            .any(|l| l.starts_with("send: permission denied") && l.contains("'message.write'")),
        "{text:?}"
    );
    assert!(chat.history("general", 10).unwrap().is_empty());
}

#[test]
pub(crate) fn oversized_and_invalid_data_is_refused_and_rolled_back() {
    let (_dir, host, _chat) = host_with(&[guests::PROBE]);
    let big = probe(&host, &format!("/p big {}", 2 << 20));
    assert!(big["err"].as_str().unwrap().contains("too large"), "{big}");
    assert!(host.records("probe").unwrap().is_empty());
    assert!(
        texts(
            &host
                .command("general", "t", "/p create {bad")
                .unwrap()
                .effects
        )[0]
        .contains("err")
    );
}
