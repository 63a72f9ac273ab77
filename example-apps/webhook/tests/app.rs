//! The CI webhook in the real host, through the test kit: events in through
//! its endpoint, the status fetched from a loopback server.

use hangar_host::testkit::{Replies, Stub, TestApp, TestChat};

fn app() -> TestApp {
    TestApp::build(env!("CARGO_MANIFEST_DIR"))
}

#[test]
fn an_event_is_stored_and_posted_once() {
    let chat = TestChat::with(&[&app()]);
    let event = br#"{"id": "b-1", "pipeline": "main", "status": "failed", "duration_s": 42}"#;
    let first = chat.post("webhook", "/events", event);
    assert_eq!(
        first.response.status,
        202,
        "{:?}",
        String::from_utf8_lossy(&first.response.body)
    );
    // The CI retries: acknowledged, not posted again.
    let again = chat.post("webhook", "/events", event);
    assert_eq!(again.response.status, 200);
    let room = chat.history("builds");
    assert_eq!(room.len(), 1);
    assert_eq!(room[0].message.text, "Build main failed");
    assert_eq!(
        room[0].message.attachments[0].color.as_deref(),
        Some("#e01e5a")
    );
    assert_eq!(chat.records("webhook").len(), 1);
    // Not JSON: a 400 that says so, nothing kept.
    let bad = chat.post("webhook", "/events", b"not json");
    assert_eq!(bad.response.status, 400);
    assert_eq!(chat.records("webhook").len(), 1);
    assert_eq!(
        chat.command("builds", "alice", "/ci last").replies(),
        ["main failed"]
    );
}

#[test]
fn a_request_without_the_secret_is_refused() {
    let chat = TestChat::with(&[&app()]);
    let request = hangar_host::HttpRequest {
        method: "POST".into(),
        path: "/events".into(),
        body: br#"{"pipeline": "main", "status": "passed"}"#.to_vec(),
        ..Default::default()
    };
    assert_eq!(chat.host().http("webhook", &request).response.status, 401);
    assert!(chat.records("webhook").is_empty());
}

#[test]
fn status_is_fetched_from_the_configured_url() {
    let stub = Stub::start(200, "all systems go");
    let chat = TestChat::configured(&[&app()], |b| b.outbound_allow_private(true));
    chat.host()
        .set_setting(
            "webhook",
            "status-url",
            format!("{}/status", stub.url()).into(),
        )
        .unwrap();
    let reply = chat.command("builds", "alice", "/ci status");
    assert_eq!(reply.replies(), ["CI status: all systems go"]);
    assert_eq!(stub.hits(), 1);
    // Without the operator's consent, loopback is refused.
    let strict = TestChat::with(&[&app()]);
    strict
        .host()
        .set_setting(
            "webhook",
            "status-url",
            format!("{}/status", stub.url()).into(),
        )
        .unwrap();
    let refused = strict.command("builds", "alice", "/ci status").replies();
    assert!(
        refused[0].contains("loopback, private, link-local and metadata addresses are refused"),
        "{refused:?}"
    );
    assert_eq!(stub.hits(), 1);
}
