//! `hangar serve` as a real process on a free loopback port, driven by a
//! real HTTP client: health, the chat API, app endpoints and every refusal,
//! 1,000 webhook posts at concurrency 8, SIGTERM under load losing nothing
//! acknowledged, the CLI changing apps under a running server; and apps'
//! outbound requests against loopback servers the tests start.

use std::collections::BTreeSet;
use std::io::{BufRead, BufReader, Read, Write};
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use hangar_host::{Driver, EventClass, HostBuilder, RefChat};
use hangar_tests::{Serve, cache_dir, guests, hangar_at, texts};
use serde_json::{Value, json};

fn agent() -> ureq::Agent {
    ureq::AgentBuilder::new()
        .timeout(Duration::from_secs(60))
        .build()
}

/// Status and body of a response, whatever the status.
fn answer(r: Result<ureq::Response, ureq::Error>) -> (u16, String) {
    match r {
        Ok(r) | Err(ureq::Error::Status(_, r)) => (r.status(), r.into_string().unwrap_or_default()),
        Err(e) => panic!("transport error: {e}"),
    }
}

fn cli(dir: &Path, args: &[&str]) -> String {
    let out = hangar_at(dir).args(args).output().unwrap();
    assert!(
        out.status.success(),
        "hangar {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn secret(dir: &Path, app: &str) -> String {
    let v: Value = serde_json::from_str(&cli(dir, &["endpoints", app, "--json"])).unwrap();
    v["secret"].as_str().unwrap().to_string()
}

#[test]
fn serve_answers_health_and_the_chat_api() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    cli(d, &["install", guests::KARMA]);
    let serve = Serve::start(d);
    let a = agent();
    assert_eq!(
        answer(a.get(&serve.url("/healthz")).call()),
        (200, "ok".into())
    );
    let (status, ready) = answer(a.get(&serve.url("/readyz")).call());
    assert_eq!(status, 200, "{ready}");
    let sent = answer(
        a.post(&serve.url("/api/send"))
            .set("content-type", "application/json")
            .send_string(
                &json!({"room": "general", "user": "carol", "text": "@dave++"}).to_string(),
            ),
    );
    assert_eq!(sent.0, 200, "{}", sent.1);
    let reply = answer(
        a.post(&serve.url("/api/command"))
            .set("content-type", "application/json")
            .send_string(
                &json!({"room": "general", "user": "carol", "line": "/karma dave"}).to_string(),
            ),
    );
    let reply: Value = serde_json::from_str(&reply.1).unwrap();
    assert_eq!(reply["effects"][0]["message"]["text"], "dave has 1 karma");
    let (_, list) = answer(
        a.get(&serve.url("/api/rooms/general/messages?limit=5"))
            .call(),
    );
    let list: Value = serde_json::from_str(&list).unwrap();
    assert_eq!(list.as_array().unwrap().len(), 2, "{list}");
    let bad = answer(
        a.post(&serve.url("/api/send"))
            .set("content-type", "application/json")
            .send_string("{}"),
    );
    assert_eq!(bad.0, 400);
    assert!(bad.1.contains("expected"), "{}", bad.1);
    // What a page on another site could send without asking first (a form,
    // a plain fetch) is refused: the chat API takes JSON only.
    let forged = answer(
        a.post(&serve.url("/api/send"))
            .set("content-type", "text/plain")
            .send_string(&json!({"room": "general", "user": "carol", "text": "hi"}).to_string()),
    );
    assert_eq!(forged.0, 415, "{}", forged.1);
    // No one speaks as an app's bot user, and trying creates nobody.
    let bot = answer(
        a.post(&serve.url("/api/send"))
            .set("content-type", "application/json")
            .send_string(
                &json!({"room": "general", "user": "app:karma", "text": "hi"}).to_string(),
            ),
    );
    assert_eq!(bot.0, 400, "{}", bot.1);
    assert!(bot.1.contains("bot user"), "{}", bot.1);
    // And, on loopback, only loopback names (no DNS rebinding).
    let rebound = answer(
        a.get(&serve.url("/api/rooms/general/messages"))
            .set("host", "evil.example:8080")
            .call(),
    );
    assert_eq!(rebound.0, 421, "{}", rebound.1);
    assert!(serve.stop().success());
}

#[test]
fn endpoints_refuse_clearly_and_keep_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::fs::write(d.join("config.json"), r#"{"deadlines-ms": {"http": 500}}"#).unwrap();
    cli(d, &["install", guests::SURFACE]);
    let key = secret(d, "surface");
    let serve = Serve::start(d);
    let a = agent();
    let echo = serve.url("/apps/surface/echo");
    let with = |r: ureq::Request| r.set("x-hangar-secret", &key);

    let (status, body) = answer(
        with(a.post(&format!("{echo}?x=1&y=two")))
            .set("x-test", "yes")
            .send_string("hi"),
    );
    assert_eq!(status, 200, "{body}");
    let body: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(body["path"], "/echo");
    assert_eq!(body["query"], json!([["x", "1"], ["y", "two"]]));
    assert_eq!(body["body"], "hi");
    assert_eq!(body["test"], "yes");
    assert_eq!(answer(a.get(&format!("{echo}?secret={key}")).call()).0, 200);
    assert_eq!(
        answer(a.get(&serve.url("/apps/surface/public/anything")).call()).0,
        200
    );

    for (request, status) in [
        (a.get(&serve.url("/apps/nobody/echo")), 404),
        (a.get(&serve.url("/apps/surface/missing")), 404),
        (a.get(&echo), 401),
        (a.get(&echo).set("x-hangar-secret", "wrong"), 401),
        (with(a.put(&echo)), 405),
        (with(a.get(&serve.url("/apps/surface/loop"))), 504),
        (with(a.get(&serve.url("/apps/surface/fail"))), 500),
        (with(a.get(&serve.url("/apps/surface/big"))), 500),
    ] {
        let (got, body) = answer(request.call());
        assert_eq!(got, status, "{body}");
        assert!(
            !body.contains("on purpose"),
            "an app's error stays in its log: {body}"
        );
    }
    let store = serve.url("/apps/surface/store");
    let big = vec![b'x'; (1 << 20) + 1];
    assert_eq!(answer(with(a.post(&store)).send_bytes(&big)).0, 413);
    assert_eq!(answer(a.post(&store).send_string("no secret")).0, 401);

    // The CLI changes the app under the running server.
    cli(d, &["disable", "surface"]);
    assert_eq!(answer(with(a.post(&store)).send_string("off")).0, 503);
    cli(d, &["enable", "surface"]);
    assert_eq!(answer(with(a.post(&store)).send_string("kept")).0, 202);
    let rotated: Value =
        serde_json::from_str(&cli(d, &["endpoints", "surface", "--rotate", "--json"])).unwrap();
    assert_eq!(answer(with(a.post(&store)).send_string("old key")).0, 401);
    let new_key = rotated["secret"].as_str().unwrap();
    assert_eq!(
        answer(
            a.post(&store)
                .set("x-hangar-secret", new_key)
                .send_string("new key")
        )
        .0,
        202
    );
    assert!(serve.stop().success());

    let records: Value = serde_json::from_str(&cli(d, &["data", "surface", "--json"])).unwrap();
    let bodies: Vec<&str> = records
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|r| r["data"]["body"].as_str())
        .collect();
    assert_eq!(
        bodies,
        ["kept", "new key"],
        "only the accepted requests kept anything"
    );
    let logs = cli(d, &["logs", "surface"]);
    assert!(logs.contains("failed on purpose"), "{logs}");
}

/// POST `n` events with ids `prefix-0..` from `threads` threads until done
/// or a request fails; the ids acknowledged with a 2xx.
fn burst(url: &str, key: &str, prefix: &str, n: usize, threads: usize) -> BTreeSet<String> {
    let acked = Arc::new(Mutex::new(BTreeSet::new()));
    let next = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let workers: Vec<_> = (0..threads)
        .map(|_| {
            let (acked, next, url, key, prefix) = (
                acked.clone(),
                next.clone(),
                url.to_string(),
                key.to_string(),
                prefix.to_string(),
            );
            std::thread::spawn(move || {
                let a = agent();
                loop {
                    let i = next.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                    if i >= n {
                        return;
                    }
                    let id = format!("{prefix}-{i}");
                    let sent = a
                        .post(&url)
                        .set("x-hangar-secret", &key)
                        .set("content-type", "application/json")
                        .send_string(
                            &json!({"id": id, "pipeline": "main", "status": "passed"}).to_string(),
                        );
                    match sent {
                        Ok(r) if r.status() == 202 => {
                            acked.lock().unwrap().insert(id);
                        }
                        Ok(r) => panic!("{id}: {}", r.status()),
                        Err(ureq::Error::Status(s, r)) => {
                            panic!("{id}: {s} {}", r.into_string().unwrap_or_default())
                        }
                        Err(ureq::Error::Transport(_)) => return,
                    }
                }
            })
        })
        .collect();
    for w in workers {
        w.join().unwrap();
    }
    Arc::try_unwrap(acked).unwrap().into_inner().unwrap()
}

/// The build ids the webhook app stored, and its room's message count.
fn stored(dir: &Path) -> (BTreeSet<String>, usize) {
    let chat = Arc::new(RefChat::open(dir).unwrap());
    let host = HostBuilder::new(dir)
        .cache_dir(cache_dir())
        .build(chat.clone())
        .unwrap();
    let ids = host
        .records("webhook")
        .unwrap()
        .into_iter()
        .map(|r| {
            let v: Value = serde_json::from_str(&r.data).unwrap();
            v["id"].as_str().unwrap().to_string()
        })
        .collect();
    (ids, chat.history("builds", 100_000).unwrap().len())
}

#[test]
fn a_thousand_posts_then_sigterm_under_load_lose_nothing_acknowledged() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    cli(d, &["install", guests::WEBHOOK]);
    let key = secret(d, "webhook");

    let serve = Serve::start(d);
    let url = serve.url("/apps/webhook/events");
    let acked = burst(&url, &key, "a", 1000, 8);
    assert_eq!(acked.len(), 1000);
    assert!(serve.stop().success());
    let (ids, messages) = stored(d);
    assert_eq!(ids, acked, "exactly the 1,000 events, each once");
    assert_eq!(messages, 1000, "one room message per event");

    // A second burst, with SIGTERM once a few hundred are through: every
    // acknowledged event is stored with its message, and nothing else.
    let serve = Serve::start(d);
    let url = serve.url("/apps/webhook/events");
    let (url2, key2) = (url.clone(), key.clone());
    let poster = std::thread::spawn(move || burst(&url2, &key2, "b", 100_000, 8));
    let start = Instant::now();
    while stored_count_hint(d) < 1200 && start.elapsed() < Duration::from_secs(60) {
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(serve.stop().success(), "serve exits 0 after SIGTERM");
    let acked_b = poster.join().unwrap();
    assert!(!acked_b.is_empty());
    let (ids, messages) = stored(d);
    let stored_b: BTreeSet<String> = ids.into_iter().filter(|i| i.starts_with("b-")).collect();
    assert_eq!(
        stored_b, acked_b,
        "stored = acknowledged, in the burst cut by SIGTERM"
    );
    assert_eq!(messages, 1000 + acked_b.len());
}

/// Roughly how many messages the builds room holds (a cheap read of the
/// reference chat, to time the SIGTERM).
fn stored_count_hint(dir: &Path) -> usize {
    rusqlite::Connection::open(dir.join("chat.db"))
        .and_then(|c| c.query_row("SELECT count(*) FROM messages", [], |r| r.get::<_, i64>(0)))
        .map_or(0, |n| n as usize)
}

/// A one-shot loopback server: answers each connection with `reply`
/// (after `delay`), forever.
fn server(reply: String, delay: Duration) -> String {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            let reply = reply.clone();
            std::thread::spawn(move || {
                let mut reader = BufReader::new(&stream);
                let mut line = String::new();
                while reader.read_line(&mut line).is_ok_and(|n| n > 2) {
                    line.clear();
                }
                std::thread::sleep(delay);
                let _ = (&stream).write_all(reply.as_bytes());
                let _ = (&stream).read(&mut [0u8; 1]);
            });
        }
    });
    format!("http://{addr}")
}

fn ok_reply(body: &str) -> String {
    format!(
        "HTTP/1.1 200 OK\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
        body.len()
    )
}

fn surface(configure: impl FnOnce(HostBuilder) -> HostBuilder) -> (tempfile::TempDir, Driver) {
    let dir = tempfile::tempdir().unwrap();
    let chat = Arc::new(RefChat::open(dir.path()).unwrap());
    let host = configure(HostBuilder::new(dir.path()).cache_dir(cache_dir()))
        .build(chat.clone())
        .unwrap();
    host.install(guests::SURFACE.as_ref()).unwrap();
    (dir, Driver::new(host, chat))
}

fn fetch(d: &Driver, line: &str) -> (Value, hangar_host::CommandReport) {
    let r = d
        .command("general", "alice", &format!("/s fetch {line}"), None)
        .unwrap();
    let text = texts(&r.effects).pop().unwrap_or_default();
    (serde_json::from_str(&text).unwrap_or(Value::Null), r)
}

#[test]
fn outbound_requests_reach_allowed_hosts_only() {
    let pong = server(ok_reply("pong"), Duration::ZERO);
    // Allowed by the operator: the loopback server answers.
    let (_dir, open) = surface(|b| b.outbound_allow_private(true));
    let (got, report) = fetch(&open, &format!("GET {pong}/ping"));
    assert_eq!(got["ok"], json!({"status": 200, "body": "pong"}), "{got}");
    assert!(
        report.report.requests[0].contains("-> 200"),
        "{:?}",
        report.report.requests
    );

    // By default: loopback refused, by IP and by a name resolving to it.
    let (_dir, strict) = surface(|b| b);
    let (got, report) = fetch(&strict, &format!("GET {pong}/ping"));
    assert_eq!(got["kind"], "denied", "{got}");
    assert!(
        got["err"]
            .as_str()
            .unwrap()
            .contains("refused unless the operator allows"),
        "{got}"
    );
    assert!(
        report.report.requests[0].contains("refused"),
        "{:?}",
        report.report.requests
    );
    let port = pong.rsplit(':').next().unwrap();
    let (got, _) = fetch(&strict, &format!("GET http://localhost:{port}/ping"));
    assert_eq!(got["kind"], "denied", "a name resolving to loopback: {got}");
    // Not in allowed-hosts at all.
    let (got, _) = fetch(&strict, "GET http://169.254.169.254/latest/meta-data");
    assert_eq!(got["kind"], "denied");
    assert!(
        got["err"].as_str().unwrap().contains("allowed-hosts"),
        "{got}"
    );
    // Bad input.
    assert_eq!(
        fetch(&strict, "BREW http://127.0.0.1/").0["kind"],
        "invalid"
    );
    assert_eq!(
        fetch(&strict, "GET file:///etc/passwd").0["kind"],
        "invalid"
    );

    // A redirect is checked again: the operator narrowed the app to the
    // first server, so following it to the second is refused.
    let redirect = server(
        format!(
            "HTTP/1.1 302 Found\r\nlocation: {pong}/ping\r\ncontent-length: 0\r\nconnection: close\r\n\r\n"
        ),
        Duration::ZERO,
    );
    let (_dir, narrowed) = surface(|b| {
        b.outbound_allow_private(true)
            .outbound_hosts("surface", &[redirect.as_str()])
    });
    let (got, _) = fetch(&narrowed, &format!("GET {redirect}/go"));
    assert_eq!(got["kind"], "denied", "{got}");
    assert!(
        got["err"]
            .as_str()
            .unwrap()
            .contains("operator's outbound-hosts"),
        "{got}"
    );
    let (_dir, both) = surface(|b| b.outbound_allow_private(true));
    assert_eq!(
        fetch(&both, &format!("GET {redirect}/go")).0["ok"]["body"],
        "pong"
    );
}

#[test]
fn a_slow_server_is_cut_at_the_deadline() {
    let slow = server(ok_reply("late"), Duration::from_secs(30));
    let (_dir, d) = surface(|b| {
        b.outbound_allow_private(true)
            .deadline(EventClass::Command, Duration::from_millis(1000))
    });
    let start = Instant::now();
    let (got, report) = fetch(&d, &format!("GET {slow}/"));
    assert!(
        start.elapsed() < Duration::from_secs(15),
        "cut near the 1 s deadline, not after the server's 30 s"
    );
    let timed_out =
        report.report.failure == Some(hangar_host::FailureKind::Timeout) || got["kind"] == "host";
    assert!(timed_out, "{got} {:?}", report.report);
}

#[test]
fn an_app_without_networking_is_denied_naming_it() {
    let (_dir, host, _chat) = hangar_tests::host_with(&[guests::HOSTILE]);
    let r = host.command("general", "carol", "/h fetch").unwrap();
    let error = r.report.error.unwrap_or_default();
    assert!(error.contains("'networking' permission"), "{error}");
    assert_eq!(r.report.denied, ["networking"]);
}
