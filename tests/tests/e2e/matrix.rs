//! `hangar serve --matrix` as a real process against a fake homeserver
//! written here (real HTTP on loopback, no Python): `matrix init` writes
//! its files and keeps its tokens, the app service checks the
//! homeserver's token, handles each event once through repeated,
//! skipped and renumbered transactions, answers commands as the app's puppet through the
//! Client-Server API, and the pre-send hook masks, vetoes and needs its
//! secret. The test against a real Synapse is `tests/matrix/run`.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Output, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use hangar_tests::{guests, hangar_at};
use serde_json::{Value, json};

/// The room every event of these tests is in.
const ROOM: &str = "!r:localhost";
/// How long anything may take to show up on this loaded machine.
const PATIENCE: Duration = Duration::from_secs(30);

fn hangar(dir: &Path, args: &[&str]) -> Output {
    hangar_at(dir).args(args).output().expect("run hangar")
}

fn run(dir: &Path, args: &[&str]) -> String {
    hangar_tests::hangar_ok(dir, args)
}

fn ok_json(dir: &Path, args: &[&str]) -> Value {
    let out = run(dir, args);
    serde_json::from_str(&out)
        .unwrap_or_else(|e| panic!("hangar {args:?} printed no JSON ({e}): {out}"))
}

/// `hangar matrix init` into `dir/matrix`, with `extra` arguments.
fn init(dir: &Path, homeserver: &str, url: &str, extra: &[&str]) -> Output {
    let out = dir.join("matrix");
    let out = out.to_str().expect("a UTF-8 temp dir");
    let mut args = vec![
        "matrix",
        "init",
        "--server-name",
        "localhost",
        "--homeserver",
        homeserver,
        "--url",
        url,
        "--out",
        out,
    ];
    args.extend_from_slice(extra);
    hangar(dir, &args)
}

/// The value of `key: "..."` in the registration's text.
fn value_of(text: &str, key: &str) -> String {
    text.lines()
        .find_map(|l| l.trim().strip_prefix(key)?.strip_prefix(": "))
        .map(|v| v.trim().trim_matches('"').to_string())
        .unwrap_or_else(|| panic!("no `{key}:` in the registration:\n{text}"))
}

/// The secrets `matrix init` wrote.
struct Tokens {
    as_token: String,
    hs_token: String,
    pre_send_secret: String,
}

fn tokens(registration: &Path) -> Tokens {
    let text = std::fs::read_to_string(registration).expect("the registration");
    Tokens {
        as_token: value_of(&text, "as_token"),
        hs_token: value_of(&text, "hs_token"),
        pre_send_secret: value_of(&text, "pre_send_secret"),
    }
}

fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("a clock after 1970")
        .as_millis() as u64
}

/// Undo percent-encoding (and `+` for a space) of a query value.
fn decode(s: &str) -> String {
    let mut out = Vec::new();
    let bytes = s.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        let hex = s
            .get(i + 1..i + 3)
            .and_then(|h| u8::from_str_radix(h, 16).ok());
        match (bytes[i], hex) {
            (b'%', Some(b)) => {
                out.push(b);
                i += 3;
                continue;
            }
            (b'+', _) => out.push(b' '),
            (b, _) => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// One request the fake homeserver received.
#[derive(Debug, Clone)]
struct Seen {
    method: String,
    /// The path with its query, as sent.
    target: String,
    auth: Option<String>,
    body: String,
}

impl Seen {
    fn path(&self) -> &str {
        self.target.split('?').next().unwrap_or("")
    }

    /// A query parameter, decoded.
    fn query(&self, key: &str) -> Option<String> {
        let (_, query) = self.target.split_once('?')?;
        query.split('&').find_map(|pair| {
            let (k, v) = pair.split_once('=')?;
            (k == key).then(|| decode(v))
        })
    }

    fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap_or(Value::Null)
    }
}

/// A homeserver that answers just what the app service asks of it, and
/// remembers every request.
struct FakeHomeserver {
    port: u16,
    seen: Arc<Mutex<Vec<Seen>>>,
    stop: Arc<AtomicBool>,
}

impl FakeHomeserver {
    fn start() -> FakeHomeserver {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind the fake homeserver");
        let port = listener.local_addr().expect("its address").port();
        let seen = Arc::new(Mutex::new(Vec::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let (log, stopping) = (seen.clone(), stop.clone());
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                if stopping.load(Ordering::SeqCst) {
                    break;
                }
                let Ok(stream) = stream else { continue };
                let log = log.clone();
                std::thread::spawn(move || {
                    let _ = answer_one(stream, &log);
                });
            }
        });
        FakeHomeserver { port, seen, stop }
    }

    fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    fn requests(&self) -> Vec<Seen> {
        self.seen.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// The first request matching `test`, waiting for it.
    fn wait_for(&self, what: &str, test: impl Fn(&Seen) -> bool) -> Seen {
        let start = Instant::now();
        loop {
            if let Some(s) = self.requests().into_iter().find(&test) {
                return s;
            }
            assert!(
                start.elapsed() < PATIENCE,
                "the homeserver never got {what}; it got:\n{:#?}",
                self.requests()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for FakeHomeserver {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        // Wake the accept loop so its thread ends.
        let _ = TcpStream::connect(("127.0.0.1", self.port));
    }
}

/// Read one request, record it, answer it and close the connection.
fn answer_one(stream: TcpStream, log: &Mutex<Vec<Seen>>) -> std::io::Result<()> {
    stream.set_read_timeout(Some(Duration::from_secs(10)))?;
    let mut reader = BufReader::new(stream.try_clone()?);
    let mut line = String::new();
    reader.read_line(&mut line)?;
    let mut words = line.split_whitespace();
    let method = words.next().unwrap_or("").to_string();
    let target = words.next().unwrap_or("").to_string();
    let (mut length, mut auth) = (0usize, None);
    loop {
        let mut header = String::new();
        if reader.read_line(&mut header)? == 0 || header.trim_end().is_empty() {
            break;
        }
        if let Some((name, value)) = header.trim_end().split_once(':') {
            match name.trim().to_ascii_lowercase().as_str() {
                "content-length" => length = value.trim().parse().unwrap_or(0),
                "authorization" => auth = Some(value.trim().to_string()),
                _ => {}
            }
        }
    }
    let mut body = vec![0u8; length.min(8 << 20)];
    reader.read_exact(&mut body)?;
    let seen = Seen {
        method,
        target,
        auth,
        body: String::from_utf8_lossy(&body).into_owned(),
    };
    let (path, method) = (seen.path().to_string(), seen.method.as_str());
    let answer = {
        let mut all = log.lock().unwrap_or_else(|p| p.into_inner());
        let sends = all.iter().filter(|s| s.path().contains("/send/")).count();
        let answer = match method {
            "POST" if path == "/_matrix/client/v3/register" => Some(json!({
                "user_id": format!("@{}:localhost", seen.json()["username"].as_str().unwrap_or(""))
            })),
            "PUT" if path.contains("/send/m.room.message/") => {
                Some(json!({"event_id": format!("$sent{}", sends + 1)}))
            }
            "PUT" if path.starts_with("/_matrix/client/v3/profile/") => Some(json!({})),
            "POST" if path == "/_matrix/client/v1/appservice/hangar/ping" => Some(json!({})),
            "POST" if path.starts_with("/_matrix/client/v3/join/") => {
                Some(json!({"room_id": ROOM}))
            }
            _ => None,
        };
        all.push(seen);
        answer
    };
    let (status, body) = match answer {
        Some(v) => ("200 OK", v.to_string()),
        None => (
            "404 Not Found",
            json!({"errcode": "M_NOT_FOUND", "error": "fake"}).to_string(),
        ),
    };
    let mut stream = stream;
    write!(
        stream,
        "HTTP/1.1 {status}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )?;
    stream.flush()
}

/// A data dir with karma and word-filter installed, a fake homeserver and
/// a registration pointing at both.
struct Setup {
    dir: tempfile::TempDir,
    fake: FakeHomeserver,
    port: u16,
    tokens: Tokens,
}

fn set_up() -> Setup {
    let dir = tempfile::tempdir().expect("tempdir");
    let d = dir.path();
    run(d, &["install", guests::KARMA]);
    run(d, &["install", guests::WORD_FILTER]);
    let fake = FakeHomeserver::start();
    let port = TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port();
    let out = init(d, &fake.url(), &format!("http://127.0.0.1:{port}"), &[]);
    assert!(
        out.status.success(),
        "matrix init: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let tokens = tokens(&d.join("matrix/registration.yaml"));
    Setup {
        dir,
        fake,
        port,
        tokens,
    }
}

/// A running `hangar serve --matrix`; killed if the test ends without
/// stopping it.
struct AppService {
    child: Child,
    base: String,
    log: PathBuf,
}

impl AppService {
    fn start(setup: &Setup) -> AppService {
        let d = setup.dir.path();
        let log = d.join("serve.log");
        let addr = format!("127.0.0.1:{}", setup.port);
        let mut child = hangar_at(d)
            .args(["serve", "--addr", addr.as_str()])
            .arg("--matrix")
            .arg(d.join("matrix/registration.yaml"))
            .stdout(Stdio::piped())
            .stderr(std::fs::File::create(&log).expect("the serve log"))
            .spawn()
            .expect("start hangar serve --matrix");
        let stdout = child.stdout.take().expect("piped stdout");
        let mut service = AppService {
            child,
            base: String::new(),
            log,
        };
        let mut line = String::new();
        let _ = BufReader::new(stdout).read_line(&mut line);
        service.base = match line.trim().strip_prefix("listening on ") {
            Some(base) => base.to_string(),
            None => panic!(
                "unexpected first line {line:?}; the server's log:\n{}",
                service.log()
            ),
        };
        let a = agent();
        let start = Instant::now();
        while answer(a.get(&service.url("/healthz")).call()).0 != 200 {
            assert!(
                start.elapsed() < PATIENCE,
                "no /healthz; the server's log:\n{}",
                service.log()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        service
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// SIGTERM, then whether it exited cleanly (within 60 s).
    fn stop(mut self) -> bool {
        std::process::Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .expect("kill");
        let start = Instant::now();
        loop {
            if let Some(status) = self.child.try_wait().expect("wait") {
                return status.success();
            }
            assert!(
                start.elapsed() < Duration::from_secs(60),
                "hangar serve --matrix did not stop on SIGTERM"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for AppService {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn agent() -> ureq::Agent {
    ureq::AgentBuilder::new()
        .timeout(Duration::from_secs(60))
        .build()
}

/// The response, whatever its status.
fn response(r: Result<ureq::Response, ureq::Error>) -> ureq::Response {
    match r {
        Ok(r) | Err(ureq::Error::Status(_, r)) => r,
        Err(e) => panic!("transport error: {e}"),
    }
}

/// Status and body of a response, whatever the status.
fn answer(r: Result<ureq::Response, ureq::Error>) -> (u16, String) {
    match r {
        Ok(r) | Err(ureq::Error::Status(_, r)) => (r.status(), r.into_string().unwrap_or_default()),
        // Not listening yet, while starting.
        Err(ureq::Error::Transport(_)) => (0, String::new()),
    }
}

/// An `m.room.message` event in [`ROOM`].
fn message(id: &str, sender: &str, body: &str, ts: u64) -> Value {
    json!({
        "event_id": id,
        "room_id": ROOM,
        "sender": sender,
        "type": "m.room.message",
        "origin_server_ts": ts,
        "content": {"msgtype": "m.text", "body": body},
    })
}

/// Push transaction `txn` as the homeserver does.
fn push(s: &AppService, token: &str, txn: &str, events: &[Value]) -> (u16, String) {
    answer(
        agent()
            .put(&s.url(&format!("/_matrix/app/v1/transactions/{txn}")))
            .set("authorization", &format!("Bearer {token}"))
            .set("content-type", "application/json")
            .send_string(&json!({"events": events}).to_string()),
    )
}

fn karma_of(dir: &Path, user: &str) -> i64 {
    ok_json(dir, &["data", "karma", "--json"])
        .as_array()
        .expect("records")
        .iter()
        .find(|r| r["data"]["user"] == user)
        .map_or(0, |r| r["data"]["score"].as_i64().expect("a score"))
}

#[test]
fn matrix_init_writes_the_files_and_keeps_the_tokens() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let out_dir = d.join("matrix");
    let (homeserver, url) = ("http://127.0.0.1:8008", "http://127.0.0.1:9009");
    let out = init(d, homeserver, url, &[]);
    assert!(
        out.status.success(),
        "matrix init: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let registration = out_dir.join("registration.yaml");
    let module = out_dir.join("hangar_synapse.py");
    let snippet = out_dir.join("homeserver-snippet.yaml");
    for file in [&registration, &module, &snippet] {
        assert!(
            file.exists(),
            "matrix init did not write {}",
            file.display()
        );
    }
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&registration)
            .unwrap()
            .permissions()
            .mode()
            & 0o777;
        assert_eq!(mode, 0o600, "the registration holds tokens: mode {mode:o}");
    }
    let first = tokens(&registration);
    assert!(
        first.as_token.len() >= 16
            && first.hs_token.len() >= 16
            && first.pre_send_secret.len() >= 16,
        "short tokens in {}",
        registration.display()
    );
    assert_ne!(first.as_token, first.hs_token, "two tokens, not one");
    let snippet_text = std::fs::read_to_string(&snippet).unwrap();
    assert!(
        snippet_text.contains(&format!("{url}/_hangar/pre-send")),
        "the snippet does not point the module at the pre-send hook:\n{snippet_text}"
    );
    assert!(
        snippet_text.contains(&first.pre_send_secret),
        "the snippet does not carry the pre-send secret:\n{snippet_text}"
    );

    // A second init keeps the tokens the homeserver knows.
    let before = std::fs::read(&registration).unwrap();
    let again = init(d, homeserver, url, &[]);
    assert!(
        !again.status.success(),
        "a second init overwrote the registration"
    );
    let why = String::from_utf8_lossy(&again.stderr);
    assert!(
        why.contains("--force"),
        "the refusal does not name --force: {why}"
    );
    assert_eq!(
        std::fs::read(&registration).unwrap(),
        before,
        "a refused init changed the registration"
    );

    // --force writes new ones, and --json names the files.
    let forced = init(d, homeserver, url, &["--force", "--json"]);
    assert!(
        forced.status.success(),
        "matrix init --force: {}",
        String::from_utf8_lossy(&forced.stderr)
    );
    let written: Value = serde_json::from_slice(&forced.stdout).unwrap_or_else(|e| {
        panic!(
            "matrix init --json printed no JSON ({e}): {}",
            String::from_utf8_lossy(&forced.stdout)
        )
    });
    for (key, path) in [
        ("registration", &registration),
        ("module", &module),
        ("homeserver_snippet", &snippet),
    ] {
        assert_eq!(
            written[key].as_str(),
            path.to_str(),
            "{key} in the JSON: {written}"
        );
    }
    assert_ne!(
        tokens(&registration).as_token,
        first.as_token,
        "--force kept the old tokens"
    );
}

#[test]
fn the_app_service_checks_its_token_and_handles_each_event_once() {
    let setup = set_up();
    let d = setup.dir.path();
    let hs = setup.tokens.hs_token.clone();
    let service = AppService::start(&setup);
    let a = agent();
    let txn1 = service.url("/_matrix/app/v1/transactions/1");

    // On start, the app service asks the homeserver to ping it back.
    let ping = setup.fake.wait_for("the start-up ping", |s| {
        s.method == "POST" && s.path() == "/_matrix/client/v1/appservice/hangar/ping"
    });
    assert_eq!(
        ping.auth.as_deref(),
        Some(format!("Bearer {}", setup.tokens.as_token).as_str()),
        "the ping goes with the as_token"
    );

    // The homeserver's token.
    let (status, body) = answer(a.put(&txn1).send_string(r#"{"events": []}"#));
    assert_eq!(status, 401, "no token: {body}");
    assert!(body.contains("M_UNAUTHORIZED"), "{body}");
    let (status, body) = answer(
        a.put(&txn1)
            .set("authorization", "Bearer not-the-hs-token")
            .send_string(r#"{"events": []}"#),
    );
    assert_eq!(status, 403, "a wrong token: {body}");
    assert!(body.contains("M_FORBIDDEN"), "{body}");
    let (status, body) = answer(
        a.put(&txn1)
            .set("authorization", &format!("Bearer {hs}"))
            .send_string("not json"),
    );
    assert_eq!(status, 400, "a body that is not JSON: {body}");
    let (status, body) = answer(
        a.post(&service.url("/_matrix/app/v1/ping"))
            .set("authorization", &format!("Bearer {hs}"))
            .send_string("{}"),
    );
    assert_eq!(status, 200, "the homeserver's ping: {body}");
    let (status, body) = answer(
        a.post(&service.url(&format!("/_matrix/app/v1/ping?access_token={hs}")))
            .send_string("{}"),
    );
    assert_eq!(
        status, 200,
        "the token as the older query parameter: {body}"
    );

    // Each event once, through repeated transactions.
    let ts = now_ms();
    let alice = "@alice:localhost";
    let e1 = message("$e1", alice, "@bob++", ts);
    let e2 = message("$e2", alice, "@bob++", ts + 1);
    let e3 = message("$e3", alice, "@bob++", ts + 2);
    let e4 = message("$e4", alice, "@bob++", ts + 3);
    let log = |s: &AppService| format!("the server's log:\n{}", s.log());
    let txn = |id: &str, events: &[Value]| {
        let (status, body) = push(&service, &hs, id, events);
        assert_eq!(status, 200, "transaction {id}: {body}; {}", log(&service));
    };
    txn("1", &[e1.clone(), e2.clone()]);
    assert_eq!(
        karma_of(d, "bob"),
        2,
        "two events, two karma; {}",
        log(&service)
    );
    txn("1", &[e1, e2.clone()]);
    assert_eq!(karma_of(d, "bob"), 2, "transaction 1 again counted again");
    txn("2", &[e2, e3]);
    assert_eq!(
        karma_of(d, "bob"),
        3,
        "$e2 again counted again, or $e3 not at all"
    );

    // Ids skip ahead when the homeserver has other application services
    // (they share its counter): taken as they come.
    txn("7", &[e4]);
    assert_eq!(karma_of(d, "bob"), 4, "transaction 7 was not counted");

    // A command is answered by the app's puppet, through the
    // Client-Server API with the as_token.
    let as_bearer = format!("Bearer {}", setup.tokens.as_token);
    txn(
        "8",
        &[message("$e5", "@carol:localhost", "!karma bob", ts + 4)],
    );
    let register = setup.fake.wait_for("the puppet's registration", |s| {
        s.method == "POST" && s.path() == "/_matrix/client/v3/register"
    });
    assert_eq!(
        register.json(),
        json!({"type": "m.login.application_service", "username": "hangar_karma", "inhibit_login": true})
    );
    assert_eq!(register.auth.as_deref(), Some(as_bearer.as_str()));
    let named = setup.fake.wait_for("the puppet's display name", |s| {
        s.method == "PUT" && s.path().starts_with("/_matrix/client/v3/profile/")
    });
    assert_eq!(
        named.path(),
        "/_matrix/client/v3/profile/%40hangar_karma%3Alocalhost/displayname"
    );
    assert_eq!(named.json()["displayname"], "Karma");
    let sent = setup.fake.wait_for("karma's answer", |s| {
        s.method == "PUT"
            && s.path()
                .starts_with("/_matrix/client/v3/rooms/%21r%3Alocalhost/send/m.room.message/")
    });
    assert_eq!(
        sent.query("user_id").as_deref(),
        Some("@hangar_karma:localhost"),
        "karma does not speak as its puppet: {}",
        sent.target
    );
    assert_eq!(sent.auth.as_deref(), Some(as_bearer.as_str()));
    assert_eq!(sent.json()["body"], "bob has 4 karma", "{}", sent.body);
    assert_eq!(sent.json()["msgtype"], "m.text", "{}", sent.body);

    // What the puppet says is not handed back to apps.
    txn(
        "9",
        &[message("$e6", "@hangar_karma:localhost", "@bob++", ts + 5)],
    );
    assert_eq!(
        karma_of(d, "bob"),
        4,
        "karma counted its own puppet's message"
    );
    let sends = setup
        .fake
        .requests()
        .iter()
        .filter(|s| s.path().contains("/send/"))
        .count();
    assert_eq!(
        sends,
        1,
        "one command, one answer: {:#?}",
        setup.fake.requests()
    );
    // An id below the last one handled: Synapse on SQLite restarted and
    // numbers anew. The transaction counts, and the rooms' recent
    // history is read for events the restart may have lost.
    txn("3", &[message("$e7", "@dave:localhost", "@bob++", ts + 6)]);
    assert_eq!(
        karma_of(d, "bob"),
        5,
        "a renumbered transaction was dropped"
    );
    setup.fake.wait_for("a read of the room's history", |s| {
        s.method == "GET" && s.path() == "/_matrix/client/v3/rooms/%21r%3Alocalhost/messages"
    });

    let log = service.log();
    assert!(
        service.stop(),
        "hangar serve --matrix failed to stop; its log:\n{log}"
    );
}

#[test]
fn the_pre_send_hook_masks_vetoes_and_needs_its_secret() {
    let setup = set_up();
    let d = setup.dir.path();
    let service = AppService::start(&setup);
    let a = agent();
    let url = service.url("/_hangar/pre-send");
    let secret = format!("Bearer {}", setup.tokens.pre_send_secret);
    let event = |sender: &str, kind: &str, body: &str| {
        json!({
            "event_id": "$x",
            "room_id": ROOM,
            "sender": sender,
            "type": kind,
            "content": {"msgtype": "m.text", "body": body},
        })
    };
    let check = |event: &Value| {
        let r = response(
            a.post(&url)
                .set("authorization", &secret)
                .set("content-type", "application/json")
                .send_string(&event.to_string()),
        );
        let (status, close) = (r.status(), r.header("connection").map(str::to_string));
        let body = r.into_string().unwrap_or_default();
        assert_eq!(status, 200, "pre-send of {event}: {body}");
        let answer: Value = serde_json::from_str(&body)
            .unwrap_or_else(|e| panic!("pre-send answered no JSON ({e}): {body}"));
        (answer, close)
    };
    let alice = "@alice:localhost";

    let darn = event(alice, "m.room.message", "darn it");
    let (status, body) = answer(a.post(&url).send_string(&darn.to_string()));
    assert_eq!(status, 401, "no secret: {body}");
    let (status, body) = answer(
        a.post(&url)
            .set("authorization", "Bearer not-the-secret")
            .send_string(&darn.to_string()),
    );
    assert_eq!(status, 401, "a wrong secret: {body}");

    let (masked, close) = check(&darn);
    assert_eq!(
        masked,
        json!({"action": "modify", "content": {"msgtype": "m.text", "body": "**** it"}}),
        "word-filter did not mask"
    );
    assert_eq!(
        close.as_deref(),
        Some("close"),
        "each pre-send answer closes its connection"
    );
    let allow = json!({"action": "allow"});
    assert_eq!(
        check(&event(alice, "m.room.message", "hello there")).0,
        allow
    );
    assert_eq!(
        check(&event(alice, "m.room.message", "!karma darn")).0,
        json!({"action": "modify", "content": {"msgtype": "m.text", "body": "!karma ****"}}),
        "a command's line is seen by the whole room: it is checked too"
    );
    // A client's own custom fields are dropped: they are the apps' to set.
    let mut forged = event(alice, "m.room.message", "hello");
    forged["content"]["org.hangar.custom_fields"] = json!({"word-filter": {"ok": true}});
    assert_eq!(
        check(&forged).0,
        json!({"action": "modify", "content": {"msgtype": "m.text", "body": "hello"}}),
        "a client's forged custom fields were kept"
    );
    assert_eq!(
        check(&event(
            "@hangar_karma:localhost",
            "m.room.message",
            "darn it"
        ))
        .0,
        allow,
        "the app service's own users are not checked"
    );
    assert_eq!(
        check(&event(alice, "m.sticker", "darn it")).0,
        allow,
        "only m.room.message is checked"
    );

    let limit = 1 << 20;
    let big = event(alice, "m.room.message", &"x".repeat(limit + 1));
    let (status, body) = answer(
        a.post(&url)
            .set("authorization", &secret)
            .set("content-type", "application/json")
            .send_string(&big.to_string()),
    );
    assert_eq!(status, 413, "a body over the HTTP body limit: {body}");

    // Block mode, set by another process, reaches the running server.
    run(d, &["settings", "word-filter", "mode", "block"]);
    let start = Instant::now();
    let vetoed = loop {
        let (answer, _) = check(&event(alice, "m.room.message", "heck no"));
        if answer["action"] == "prevent" {
            break answer;
        }
        assert!(
            start.elapsed() < PATIENCE,
            "still no veto in block mode: {answer}; the server's log:\n{}",
            service.log()
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    assert_eq!(vetoed["app"], "word-filter", "{vetoed}");
    assert_eq!(
        check(&event(alice, "m.room.message", "hello again")).0,
        allow,
        "block mode vetoed a clean message"
    );
    let log = service.log();
    assert!(
        service.stop(),
        "hangar serve --matrix failed to stop; its log:\n{log}"
    );
}
