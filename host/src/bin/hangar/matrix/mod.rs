//! Hangar apps in a Matrix homeserver (Synapse): `hangar serve --matrix
//! <registration.yaml>` is an application service. The homeserver pushes
//! every event of its rooms to `/_matrix/app/v1/transactions/{txnId}`
//! (checked with `hs_token`); messages become sent-message events,
//! `!command args` (or a raw `/command args`) runs an app's command, and
//! edits, redactions, reactions, joins and leaves become the 0.2 events.
//! Synapse repeats a transaction until it is answered, so each handled
//! transaction is remembered in `matrix.db` and each app handles each
//! event at most once (its mark commits with the handler's writes: a
//! crash mid-transaction replays only what did not commit). Apps answer
//! through the Client-Server API as their own puppets (`bridge.rs`).
//! The homeserver's pre-send module (`hangar_synapse.py`) posts each new
//! message to `/_hangar/pre-send`, which runs prevent, extend and modify
//! without storing. `hangar matrix init` writes the files a homeserver
//! needs.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{Context, Result};
use axum::Router;
use axum::extract::{DefaultBodyLimit, Path as UrlPath, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use axum::routing::{any, get, post, put};
use hangar_host::{ChatEvent, Delivery, Error as HostError, Host, HostBuilder, Room, User};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::serve::{error, json as reply};

mod bridge;
mod render;

use bridge::MatrixBridge;

/// The Synapse module, copied next to the registration by `init`.
const MODULE: &str = include_str!("../../../../matrix/hangar_synapse.py");
/// Most events one transaction may carry (Synapse sends at most 100
/// events and 100 ephemeral events).
const MAX_EVENTS: usize = 2000;
/// Most bytes of a transaction's body.
const MAX_TXN_BYTES: usize = 32 << 20;
/// Most bytes of a transaction id.
const MAX_TXN_ID: usize = 255;

/// An application service registration, as Synapse reads it, with
/// Hangar's own settings under `hangar:` (Synapse ignores keys it does
/// not know).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct Registration {
    pub(crate) id: String,
    #[serde(default)]
    url: Option<String>,
    pub(crate) as_token: String,
    hs_token: String,
    pub(crate) sender_localpart: String,
    #[serde(default)]
    rate_limited: Option<bool>,
    #[serde(default)]
    namespaces: Value,
    pub(crate) hangar: HangarKeys,
}

/// Hangar's settings in the registration file.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct HangarKeys {
    /// The homeserver's Client-Server API, e.g. `http://127.0.0.1:8008`.
    pub(crate) homeserver: String,
    /// The server name in user ids (`@alice:<server_name>`).
    pub(crate) server_name: String,
    /// What the pre-send module sends as its bearer token.
    #[serde(default)]
    pub(crate) pre_send_secret: Option<String>,
}

impl Registration {
    /// Read and check the registration at `path`.
    pub(crate) fn load(path: &Path) -> Result<Registration> {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("reading the registration {}", path.display()))?;
        let reg: Registration = serde_norway::from_str(&text).with_context(|| {
            format!(
                "{} is not an app service registration with a `hangar:` section (homeserver, server_name); `hangar matrix init` writes one",
                path.display()
            )
        })?;
        for (key, value) in [("as_token", &reg.as_token), ("hs_token", &reg.hs_token)] {
            anyhow::ensure!(
                value.len() >= 16,
                "{}: {key} must be at least 16 characters",
                path.display()
            );
        }
        anyhow::ensure!(
            !reg.sender_localpart.is_empty()
                && reg
                    .sender_localpart
                    .chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || "._=-".contains(c)),
            "{}: sender_localpart must be a Matrix localpart (a-z, 0-9, . _ = -)",
            path.display()
        );
        anyhow::ensure!(
            reg.hangar.homeserver.starts_with("http://")
                || reg.hangar.homeserver.starts_with("https://"),
            "{}: hangar.homeserver must be an http:// or https:// URL, such as http://127.0.0.1:8008",
            path.display()
        );
        anyhow::ensure!(
            !reg.hangar.server_name.is_empty() && !reg.hangar.server_name.contains('/'),
            "{}: hangar.server_name must be the homeserver's server name, such as example.org",
            path.display()
        );
        Ok(reg)
    }
}

/// `hangar matrix init`: what it writes.
#[derive(Debug, Serialize)]
struct Written {
    registration: PathBuf,
    module: PathBuf,
    homeserver_snippet: PathBuf,
    puppets: String,
}

/// Write the registration, the Synapse module and the lines to add to
/// `homeserver.yaml` into `out`.
pub(crate) fn init(
    out: &Path,
    server_name: &str,
    homeserver: &str,
    url: &str,
    force: bool,
    json_out: bool,
) -> Result<()> {
    let registration = out.join("registration.yaml");
    anyhow::ensure!(
        force || !registration.exists(),
        "{} exists; its tokens are what the homeserver knows. Pass --force to write new ones (then restart the homeserver)",
        registration.display()
    );
    anyhow::ensure!(
        url.starts_with("http://") || url.starts_with("https://"),
        "--url must be where `hangar serve --matrix` listens, such as http://127.0.0.1:9009"
    );
    std::fs::create_dir_all(out).with_context(|| format!("creating {}", out.display()))?;
    let as_token = crate::web::random_hex(32, "the app service token")?;
    let hs_token = crate::web::random_hex(32, "the homeserver token")?;
    let secret = crate::web::random_hex(32, "the pre-send secret")?;
    let server = server_name.replace('.', "\\\\.");
    let text = format!(
        "# The Hangar application service: add this file to the homeserver's
# app_service_config_files and run `hangar serve --matrix {reg}`.
id: hangar
url: \"{url}\"
as_token: \"{as_token}\"
hs_token: \"{hs_token}\"
sender_localpart: hangar
rate_limited: false
namespaces:
  # Each app speaks as its own puppet, @hangar_<app>:{server_name}.
  users:
    - exclusive: true
      regex: \"@hangar_.*:{server}\"
  aliases: []
  # Hangar sees the events of every room (room ids of room version 12
  # carry no server name, so the pattern cannot name the server).
  rooms:
    - exclusive: false
      regex: \"!.*\"
# Hangar's own settings (the homeserver ignores them).
hangar:
  homeserver: \"{homeserver}\"
  server_name: \"{server_name}\"
  pre_send_secret: \"{secret}\"
",
        reg = registration.display()
    );
    let module = out.join("hangar_synapse.py");
    let snippet = out.join("homeserver-snippet.yaml");
    let snippet_text = format!(
        "
# Add these to homeserver.yaml, and start Synapse with PYTHONPATH={dir}
# so it finds the module.
app_service_config_files:
  - \"{reg}\"
modules:
  - module: hangar_synapse.HangarPreSend
    config:
      url: \"{url}/_hangar/pre-send\"
      secret: \"{secret}\"
      # How long a message waits for Hangar's apps.
      timeout_ms: 1000
      # When Hangar is down or slow: false lets messages through unchecked,
      # true refuses them.
      fail_closed: false
      # The app service's own users are not checked.
      skip_senders: \"^@hangar(_.*)?:{server}$\"
",
        dir = out.display(),
        reg = registration.display(),
        url = url.trim_end_matches('/'),
    );
    write_private(&registration, &text)?;
    std::fs::write(&module, MODULE).with_context(|| format!("writing {}", module.display()))?;
    write_private(&snippet, &snippet_text)?;
    let written = Written {
        registration: registration.clone(),
        module,
        homeserver_snippet: snippet.clone(),
        puppets: format!("@hangar_<app>:{server_name}"),
    };
    if json_out {
        return crate::print_json(&written);
    }
    say!("wrote {}", registration.display());
    say!("wrote {}", written.module.display());
    say!("wrote {}", snippet.display());
    say!("next:");
    say!(
        "  1. add the lines of {} to the homeserver's homeserver.yaml",
        snippet.display()
    );
    say!(
        "  2. start the homeserver with PYTHONPATH={}",
        out.display()
    );
    say!("  3. install apps: hangar install <app>.wasm (`hangar build <crate>` makes one)");
    say!(
        "  4. hangar serve --addr {} --matrix {}",
        url.trim_start_matches("http://")
            .trim_start_matches("https://")
            .trim_end_matches('/'),
        registration.display()
    );
    say!("apps then answer in every room as {}", written.puppets);
    Ok(())
}

/// Write a file only its owner reads (it holds tokens).
fn write_private(path: &Path, text: &str) -> Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)
        .with_context(|| format!("writing {}", path.display()))?;
    file.write_all(text.as_bytes())
        .with_context(|| format!("writing {}", path.display()))
}

/// What the app service's routes share.
#[derive(Clone)]
struct Service {
    host: Host,
    bridge: Arc<MatrixBridge>,
    /// One transaction at a time (Synapse sends them in order; a retry
    /// that overtakes a slow first try waits for it).
    txns: Arc<tokio::sync::Mutex<()>>,
    /// The catch-up after transaction ids that do not follow.
    catch_up: Arc<std::sync::Mutex<CatchUp>>,
    /// Tries of transactions whose apps' storage failed.
    tries: Arc<std::sync::Mutex<std::collections::HashMap<String, u32>>>,
    max_body: usize,
}

/// Run the app service on `addr` until SIGTERM or Ctrl-C.
pub(crate) fn serve(dir: &Path, addr: &str, registration: &Path) -> Result<()> {
    let reg = Registration::load(registration)?;
    if let Some(url) = &reg.url
        && !url.contains(addr.trim_start_matches("0.0.0.0"))
    {
        eprintln!(
            "{}",
            json!({"event": "warning", "note": format!("the registration's url is {url} but this server listens on {addr}: the homeserver pushes events to the url")})
        );
    }
    if reg.hangar.pre_send_secret.as_deref().unwrap_or("").len() < 16 {
        eprintln!(
            "{}",
            json!({"event": "warning", "note": "the registration has no hangar.pre_send_secret (16 characters or more): the pre-send hook refuses every call, so with fail_closed: false messages pass unchecked; `hangar matrix init --force` writes one"})
        );
    }
    let config = crate::load_config(dir)?;
    let bridge = Arc::new(MatrixBridge::open(reg, dir)?);
    let host = HostBuilder::from_config(config)
        .build(bridge.clone())
        .with_context(|| format!("opening the host data directory {}", dir.display()))?;
    let service = Service {
        max_body: host.config().max_http_body_bytes,
        host: host.clone(),
        bridge,
        txns: Default::default(),
        tries: Default::default(),
        catch_up: Default::default(),
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let runner = crate::serve::jobs_runner(host, stop.clone());
    let served = runtime.block_on(run(service, addr));
    stop.store(true, std::sync::atomic::Ordering::SeqCst);
    let _ = runner.join();
    served
}

async fn run(service: Service, addr: &str) -> Result<()> {
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .with_context(|| format!("listening on {addr} (is another server using it?)"))?;
    let local: SocketAddr = listener.local_addr()?;
    // The homeserver's routes check its token before a body is read.
    let homeserver = Router::new()
        .route(
            "/_matrix/app/v1/transactions/{txn}",
            put(transaction).layer(DefaultBodyLimit::max(MAX_TXN_BYTES)),
        )
        .route(
            "/transactions/{txn}",
            put(transaction).layer(DefaultBodyLimit::max(MAX_TXN_BYTES)),
        )
        .route("/_matrix/app/v1/ping", post(ping))
        .route("/_matrix/app/v1/users/{user}", get(query_user))
        .route("/_matrix/app/v1/rooms/{alias}", get(query_room))
        .route_layer(axum::middleware::from_fn_with_state(
            service.clone(),
            homeserver_only,
        ));
    let app = Router::new()
        .route("/healthz", get(|| async { "ok" }))
        .route("/readyz", get(ready))
        .merge(homeserver)
        .route("/_hangar/pre-send", post(pre_send))
        .route(
            "/apps/{app}",
            any(crate::serve::endpoint_root_of::<Service>),
        )
        .route(
            "/apps/{app}/",
            any(crate::serve::endpoint_root_of::<Service>),
        )
        .route(
            "/apps/{app}/{*path}",
            any(crate::serve::endpoint_of::<Service>),
        )
        .with_state(service.clone())
        .layer(axum::middleware::from_fn(crate::serve::log));
    out!("listening on http://{local}");
    out!(
        "matrix app service for {} (homeserver {}); apps speak as @{}_<app>:{}",
        service.bridge.reg.hangar.server_name,
        service.bridge.reg.hangar.homeserver,
        service.bridge.reg.sender_localpart,
        service.bridge.reg.hangar.server_name
    );
    // Ask the homeserver to ping back: this checks both directions at
    // start (the tokens and the registration's url), and the log says
    // what is wrong.
    let bridge = service.bridge.clone();
    tokio::task::spawn_blocking(move || {
        let path = format!(
            "/_matrix/client/v1/appservice/{}/ping",
            bridge::enc(&bridge.reg.id)
        );
        let body = json!({"transaction_id": format!("hangar-start-{}", bridge::now_ms())});
        if let Err(e) = bridge.call("POST", &path, None, Some(&body)) {
            eprintln!(
                "{}",
                json!({"event": "matrix-ping-failed", "error": e.to_string(), "note": "the homeserver will retry on its own schedule"})
            );
        }
    });
    axum::serve(listener, app)
        .with_graceful_shutdown(crate::serve::shutdown())
        .await
        .context("serving")?;
    eprintln!(
        "{}",
        json!({"event": "stopped", "address": local.to_string()})
    );
    Ok(())
}

impl crate::serve::Endpoints for Service {
    fn host(&self) -> Host {
        self.host.clone()
    }
    fn max_body(&self) -> usize {
        self.max_body
    }
}

/// Ready once the host answers: the registry reads.
async fn ready(State(s): State<Service>) -> Response {
    let host = s.host.clone();
    match tokio::task::spawn_blocking(move || host.list()).await {
        Ok(Ok(apps)) => reply(StatusCode::OK, &json!({"ready": true, "apps": apps.len()})),
        Ok(Err(e)) => error(StatusCode::SERVICE_UNAVAILABLE, &e.to_string()),
        Err(e) => error(StatusCode::SERVICE_UNAVAILABLE, &e.to_string()),
    }
}

/// A Matrix error answer.
fn matrix_error(status: StatusCode, code: &str, why: &str) -> Response {
    reply(status, &json!({"errcode": code, "error": why}))
}

#[derive(Deserialize)]
struct Token {
    access_token: Option<String>,
}

/// The homeserver's token: `Authorization: Bearer`, or the older
/// `access_token` query parameter.
fn homeserver_authorized(
    s: &Service,
    headers: &HeaderMap,
    query: &Token,
) -> Result<(), Box<Response>> {
    let given = crate::web::bearer(headers).or(query.access_token.as_deref());
    match given {
        None => Err(Box::new(matrix_error(
            StatusCode::UNAUTHORIZED,
            "M_UNAUTHORIZED",
            "the homeserver's hs_token is missing",
        ))),
        Some(t) if crate::web::same_secret(t, &s.bridge.reg.hs_token) => Ok(()),
        Some(_) => Err(Box::new(matrix_error(
            StatusCode::FORBIDDEN,
            "M_FORBIDDEN",
            "wrong hs_token: it must be the registration's hs_token",
        ))),
    }
}

/// The homeserver's token, checked before anything of the request is
/// read.
async fn homeserver_only(
    State(s): State<Service>,
    Query(q): Query<Token>,
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    if let Err(r) = homeserver_authorized(&s, request.headers(), &q) {
        return *r;
    }
    next.run(request).await
}

async fn ping() -> Response {
    reply(StatusCode::OK, &json!({}))
}

/// Hangar makes no users or rooms on demand.
async fn query_user() -> Response {
    matrix_error(
        StatusCode::NOT_FOUND,
        "M_NOT_FOUND",
        "Hangar makes no users on demand",
    )
}

async fn query_room() -> Response {
    matrix_error(
        StatusCode::NOT_FOUND,
        "M_NOT_FOUND",
        "Hangar makes no rooms on demand",
    )
}

#[derive(Deserialize)]
struct Transaction {
    #[serde(default)]
    events: Vec<Value>,
}

/// `PUT /_matrix/app/v1/transactions/{txnId}`: handle each event once,
/// then remember the transaction.
async fn transaction(
    State(s): State<Service>,
    UrlPath(txn): UrlPath<String>,
    body: axum::body::Bytes,
) -> Response {
    if txn.is_empty() || txn.len() > MAX_TXN_ID {
        return matrix_error(
            StatusCode::BAD_REQUEST,
            "M_INVALID_PARAM",
            &format!("a transaction id is 1 to {MAX_TXN_ID} bytes"),
        );
    }
    let t: Transaction = match serde_json::from_slice(&body) {
        Ok(t) => t,
        Err(e) => {
            return matrix_error(
                StatusCode::BAD_REQUEST,
                "M_NOT_JSON",
                &format!("expected {{\"events\": [...]}}: {e}"),
            );
        }
    };
    if t.events.len() > MAX_EVENTS {
        return matrix_error(
            StatusCode::BAD_REQUEST,
            "M_TOO_LARGE",
            &format!(
                "{} events; at most {MAX_EVENTS} per transaction",
                t.events.len()
            ),
        );
    }
    // Held by the blocking work itself: if the homeserver gives up
    // waiting and retries, the retry waits for this one to finish.
    let one_at_a_time = s.txns.clone().lock_owned().await;
    let started = std::time::Instant::now();
    let count = t.events.len();
    let handled = tokio::task::spawn_blocking(move || {
        let handled = handle(&s, &txn, t.events);
        drop(one_at_a_time);
        handled
    })
    .await;
    match handled {
        Ok(Ok(done)) => {
            eprintln!(
                "{}",
                json!({"event": "matrix-transaction", "events": count, "dispatched": done,
                       "ms": started.elapsed().as_secs_f64() * 1000.0})
            );
            reply(StatusCode::OK, &json!({}))
        }
        // The homeserver tries again later; what committed is not redone.
        Ok(Err(e)) => matrix_error(
            StatusCode::SERVICE_UNAVAILABLE,
            "M_UNKNOWN",
            &format!("{e:#}"),
        ),
        Err(e) => matrix_error(
            StatusCode::INTERNAL_SERVER_ERROR,
            "M_UNKNOWN",
            &e.to_string(),
        ),
    }
}

/// Handle a transaction's events in order; how many reached apps. An
/// error the host cannot get past (its storage is down) fails the
/// transaction, so the homeserver sends it again.
fn handle(s: &Service, txn: &str, events: Vec<Value>) -> Result<usize> {
    let digest = {
        use sha2::Digest;
        let mut hash = sha2::Sha256::new();
        for e in &events {
            hash.update(e["event_id"].as_str().unwrap_or("").as_bytes());
            hash.update([0]);
        }
        hash.finalize()
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect::<String>()
    };
    if s.bridge.txn_done(txn, &digest)? {
        return Ok(0);
    }
    let last = s.bridge.last_txn()?;
    if let Some(last) = &last
        && !follows(last, txn)
    {
        s.catch_up.lock().unwrap_or_else(|p| p.into_inner()).due = true;
    }
    let run_now = {
        let mut c = s.catch_up.lock().unwrap_or_else(|p| p.into_inner());
        let now = c.due && c.last.is_none_or(|t| t.elapsed() >= CATCH_UP_EVERY);
        if now {
            c.due = false;
            c.last = Some(std::time::Instant::now());
        }
        now
    };
    if run_now {
        // Ids that do not follow: Synapse restarted (on SQLite it numbers
        // anew; queued events may be lost and a transaction it stored but
        // never sent waits until it next thinks Hangar was down), or it
        // skipped one it parked, or another application service took ids.
        // Read the rooms' recent history first; each app's marks skip what
        // it handled before.
        let caught = catch_up(s);
        eprintln!(
            "{}",
            json!({"event": "matrix-catch-up", "after": last, "got": txn, "dispatched": caught})
        );
    }
    if let Ok(apps) = s.host.list() {
        let mut names = s.bridge.app_names.lock().unwrap_or_else(|p| p.into_inner());
        for a in apps {
            names.insert(a.id, a.name);
        }
    }
    let mut dispatched = 0;
    let mut failed = Vec::new();
    for event in &events {
        match dispatch(s, event) {
            Ok(Dispatched::Skipped) => {}
            Ok(Dispatched::Done { store_failed }) => {
                dispatched += 1;
                if store_failed {
                    failed.push(event["event_id"].clone());
                }
            }
            Err(e) if retryable(&e) => failed.push(event["event_id"].clone()),
            Err(e) => eprintln!(
                "{}",
                json!({"event": "matrix-event-refused", "event_id": event["event_id"], "error": e.to_string()})
            ),
        }
    }
    if !failed.is_empty() {
        // The apps whose storage failed did not commit (nor mark) the
        // event: the homeserver's retry brings it to them alone. A
        // transaction that keeps failing is given up after a few tries,
        // so one bad event cannot hold the queue forever.
        let mut tries = s.tries.lock().unwrap_or_else(|p| p.into_inner());
        let n = tries.entry(txn.to_string()).or_insert(0);
        *n += 1;
        if *n < MAX_TRIES {
            anyhow::bail!(
                "storage failed for events {failed:?} (try {n} of {MAX_TRIES}); the homeserver will send the transaction again"
            );
        }
        eprintln!(
            "{}",
            json!({"event": "matrix-gave-up", "transaction": txn, "events": failed,
                   "note": format!("apps' storage failed {MAX_TRIES} times; see `hangar logs <app>`")})
        );
        tries.remove(txn);
    }
    s.bridge.finish_txn(txn, &digest)?;
    Ok(dispatched)
}

/// Tries of a transaction whose apps' storage failed before it is
/// acknowledged anyway.
const MAX_TRIES: u32 = 5;

/// What one event did.
enum Dispatched {
    /// Not for apps (or not understood).
    Skipped,
    /// Handed to the apps; `store_failed` when an app's storage failed
    /// (so it neither committed nor marked the event).
    Done { store_failed: bool },
}

impl Dispatched {
    /// What the apps' reports say; each failure is logged (the app's own
    /// log has it too: `hangar logs <app>`).
    fn of(reports: &[hangar_host::AppReport]) -> Dispatched {
        for r in reports.iter().filter(|r| r.error.is_some()) {
            eprintln!(
                "{}",
                json!({"event": "matrix-app-failed", "app": r.app, "handler": r.handler,
                       "error": r.error})
            );
        }
        Dispatched::Done {
            store_failed: reports.iter().any(store_failed),
        }
    }
}

/// Whether an app's call failed because its storage did: the commit or
/// the delivery mark, or a store call whose error the app passed on.
fn store_failed(r: &hangar_host::AppReport) -> bool {
    let error = r.error.as_deref().unwrap_or("");
    (r.failure == Some(hangar_host::FailureKind::Host)
        && (error.starts_with("committing") || error.starts_with("marking the delivery")))
        || r.error_kind == Some(hangar_host::ErrorKind::Host)
}

/// Whether transaction id `next` follows `last`: Synapse numbers
/// transactions (ids that are not numbers say nothing).
fn follows(last: &str, next: &str) -> bool {
    match (last.parse::<u64>(), next.parse::<u64>()) {
        (Ok(l), Ok(n)) => n == l + 1,
        _ => true,
    }
}

/// Catch-ups run at most this often. Ids skip on every transaction when
/// other application services share the homeserver's counter; a catch-up
/// due meanwhile runs with the first transaction after the pause.
const CATCH_UP_EVERY: std::time::Duration = std::time::Duration::from_secs(10);

/// Whether a catch-up is due, and when the last one ran.
#[derive(Default)]
struct CatchUp {
    due: bool,
    last: Option<std::time::Instant>,
}

/// How far back a catch-up reads each room.
const CATCH_UP_WINDOW_MS: u64 = 10 * 60 * 1000;

/// Dispatch the recent events of the rooms seen lately, oldest first;
/// apps that handled an event before skip it. How many reached apps.
fn catch_up(s: &Service) -> usize {
    let now = bridge::now_ms();
    let Ok(rooms) = s
        .bridge
        .recent_rooms(now.saturating_sub(CATCH_UP_WINDOW_MS))
    else {
        return 0;
    };
    let mut dispatched = 0;
    for (room, newest) in rooms {
        let path = format!(
            "/_matrix/client/v3/rooms/{}/messages?dir=b&limit=100",
            bridge::enc(&room)
        );
        let page = match s.bridge.call("GET", &path, None, None) {
            Err(e) if e.code == "M_FORBIDDEN" && s.bridge.join(&room, None).is_ok() => {
                s.bridge.call("GET", &path, None, None)
            }
            other => other,
        };
        let Ok(page) = page else { continue };
        let since = newest.saturating_sub(CATCH_UP_WINDOW_MS);
        let mut events: Vec<&Value> = page["chunk"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|e| e["origin_server_ts"].as_u64().is_some_and(|t| t >= since))
            .collect();
        events.reverse();
        for event in events {
            match dispatch(s, event) {
                Ok(Dispatched::Done { .. }) => dispatched += 1,
                Ok(Dispatched::Skipped) => {}
                Err(e) => eprintln!(
                    "{}",
                    json!({"event": "matrix-catch-up-error", "event_id": event["event_id"], "error": e.to_string()})
                ),
            }
        }
    }
    dispatched
}

/// Errors worth the homeserver's retry: the host's own storage failing,
/// not the event.
fn retryable(e: &HostError) -> bool {
    matches!(
        e,
        HostError::Storage { .. } | HostError::Database(_) | HostError::Io { .. }
    )
}

/// One event to the apps.
fn dispatch(s: &Service, event: &Value) -> hangar_host::Result<Dispatched> {
    let (Some(id), Some(room), Some(sender), Some(kind)) = (
        event["event_id"].as_str(),
        event["room_id"].as_str(),
        event["sender"].as_str(),
        event["type"].as_str(),
    ) else {
        return Ok(Dispatched::Skipped);
    };
    let delivery = Delivery {
        id: id.to_string(),
        at_ms: event["origin_server_ts"].as_u64().unwrap_or(0),
    };
    let content = &event["content"];
    let relates = &content["m.relates_to"];
    s.bridge.saw_event(
        id,
        room,
        delivery.at_ms,
        kind,
        relates["event_id"].as_str(),
        relates["key"].as_str(),
    );
    let bridge = &s.bridge;
    if kind == "m.room.member" {
        return member(s, event, room, &delivery);
    }
    // What the apps' puppets do is theirs, not the chat's.
    if bridge.is_ours(sender) {
        return Ok(Dispatched::Skipped);
    }
    let chat_event = match kind {
        "m.room.message" if relates["rel_type"] == "m.replace" => {
            let (Some(mut message), Some(original)) = (
                render::message_of(event, bridge),
                relates["event_id"].as_str(),
            ) else {
                return Ok(Dispatched::Skipped);
            };
            message.id = bridge.host_id(original);
            let previous = hangar_host::Bridge::message(bridge.as_ref(), original)
                .ok()
                .flatten();
            // Only the sender of a message may edit it (clients ignore
            // other edits, and so do apps).
            if previous.as_ref().is_some_and(|p| p.sender != sender) {
                return Ok(Dispatched::Skipped);
            }
            let previous = previous.unwrap_or_else(|| message.clone());
            ChatEvent::MessageUpdated {
                message,
                previous,
                editor: sender.to_string(),
            }
        }
        "m.room.message" => {
            let Some(message) = render::message_of(event, bridge) else {
                return Ok(Dispatched::Skipped);
            };
            let text = message.text.trim_start();
            if let Some(line) = text.strip_prefix('!').or_else(|| text.strip_prefix('/'))
                && line.starts_with(|c: char| c.is_alphanumeric())
            {
                let line = format!("/{line}");
                match s
                    .host
                    .command_once(room, message.thread.as_deref(), sender, &line, &delivery)
                {
                    Ok(report) => {
                        return Ok(Dispatched::of(
                            report
                                .as_ref()
                                .map(|r| std::slice::from_ref(&r.report))
                                .unwrap_or(&[]),
                        ));
                    }
                    // Not a command of any app: an ordinary message.
                    Err(HostError::UnknownCommand(_)) => {}
                    Err(e) => return Err(e),
                }
            }
            let report = s.host.post_message(message, Some(&delivery))?;
            return Ok(Dispatched::of(&report.apps));
        }
        "m.reaction" if relates["rel_type"] == "m.annotation" => {
            let (Some(target), Some(key)) = (relates["event_id"].as_str(), relates["key"].as_str())
            else {
                return Ok(Dispatched::Skipped);
            };
            ChatEvent::MessageReacted {
                message: lookup(s, target, room),
                user: sender.to_string(),
                reaction: key.to_string(),
                added: true,
            }
        }
        "m.room.redaction" => {
            let Some(target) = event["redacts"]
                .as_str()
                .or_else(|| content["redacts"].as_str())
            else {
                return Ok(Dispatched::Skipped);
            };
            match bridge.seen(target) {
                // Taking a reaction back.
                Some(seen) if seen.kind == "m.reaction" => {
                    let (Some(on), Some(key)) = (seen.target, seen.key) else {
                        return Ok(Dispatched::Skipped);
                    };
                    ChatEvent::MessageReacted {
                        message: lookup(s, &on, room),
                        user: sender.to_string(),
                        reaction: key,
                        added: false,
                    }
                }
                Some(seen) if seen.kind != "m.room.message" => return Ok(Dispatched::Skipped),
                _ => ChatEvent::MessageDeleted {
                    message: lookup(s, target, room),
                    by: sender.to_string(),
                },
            }
        }
        "m.room.create" => ChatEvent::RoomCreated {
            room: room_of(s, room),
            by: sender.to_string(),
        },
        _ => return Ok(Dispatched::Skipped),
    };
    bridge.invalidate(&chat_event);
    let report = s.host.post_event_once(&chat_event, &delivery)?;
    Ok(Dispatched::of(&report.apps))
}

/// A membership change: joins and leaves reach apps; an invite of an
/// installed app's puppet (or the app service's user) by a user of this
/// server is accepted.
fn member(
    s: &Service,
    event: &Value,
    room: &str,
    delivery: &Delivery,
) -> hangar_host::Result<Dispatched> {
    let Some(target) = event["state_key"].as_str() else {
        return Ok(Dispatched::Skipped);
    };
    let membership = event["content"]["membership"].as_str().unwrap_or("");
    let before = event["unsigned"]["prev_content"]["membership"]
        .as_str()
        .unwrap_or("");
    if s.bridge.is_ours(target) {
        let inviter = event["sender"].as_str().unwrap_or("");
        if membership == "invite" && s.bridge.is_local(inviter) {
            accept_invite(s, room, target);
        }
        return Ok(Dispatched::Skipped);
    }
    let user = User {
        id: target.to_string(),
        username: target
            .strip_prefix('@')
            .and_then(|u| u.split(':').next())
            .unwrap_or(target)
            .to_string(),
        display_name: event["content"]["displayname"]
            .as_str()
            .unwrap_or(target)
            .to_string(),
        is_bot: false,
    };
    let chat_event = match (membership, before) {
        ("join", b) if b != "join" => ChatEvent::UserJoined {
            room: room_of(s, room),
            user,
        },
        ("leave" | "ban", "join") => ChatEvent::UserLeft {
            room: room_of(s, room),
            user,
        },
        _ => return Ok(Dispatched::Skipped),
    };
    s.bridge.invalidate(&chat_event);
    let report = s.host.post_event_once(&chat_event, delivery)?;
    Ok(Dispatched::of(&report.apps))
}

/// Join `room` as `user` (an installed app's puppet, registered first, or
/// the app service's own user) after an invite.
fn accept_invite(s: &Service, room: &str, user: &str) {
    let joined = match s.bridge.app_of(user) {
        Some(app) => {
            let installed = s
                .bridge
                .app_names
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .contains_key(&app);
            if !installed {
                return;
            }
            s.bridge
                .ensure_puppet(&app)
                .map_err(|e| e.to_string())
                .and_then(|u| s.bridge.join(room, Some(&u)).map_err(|e| e.to_string()))
        }
        None => s.bridge.join(room, None).map_err(|e| e.to_string()),
    };
    if let Err(e) = joined {
        eprintln!(
            "{}",
            json!({"event": "matrix-join-failed", "room": room, "user": user, "error": e})
        );
    }
}

/// A message for an event, as far as the homeserver still shows it.
fn lookup(s: &Service, id: &str, room: &str) -> hangar_host::Message {
    hangar_host::Bridge::message(s.bridge.as_ref(), id)
        .ok()
        .flatten()
        .unwrap_or_else(|| hangar_host::Message {
            id: s.bridge.host_id(id),
            room: room.to_string(),
            ..Default::default()
        })
}

fn room_of(s: &Service, id: &str) -> Room {
    hangar_host::Bridge::room(s.bridge.as_ref(), id)
        .ok()
        .flatten()
        .unwrap_or_else(|| Room {
            id: id.to_string(),
            name: id.to_string(),
            kind: Default::default(),
            creator: String::new(),
        })
}

/// What the pre-send module posts.
#[derive(Deserialize)]
struct PreSend {
    #[serde(default)]
    event_id: Option<String>,
    room_id: String,
    sender: String,
    #[serde(rename = "type")]
    kind: String,
    content: serde_json::Map<String, Value>,
}

/// `POST /_hangar/pre-send`: prevent, extend and modify a message the
/// homeserver is about to store; nothing is stored here. Each answer
/// closes its connection: Synapse's client does not retry a POST sent on a
/// pooled connection the server had closed meanwhile.
async fn pre_send(state: State<Service>, headers: HeaderMap, body: axum::body::Bytes) -> Response {
    let mut response = check(state, headers, body).await;
    response.headers_mut().insert(
        axum::http::header::CONNECTION,
        axum::http::HeaderValue::from_static("close"),
    );
    response
}

async fn check(State(s): State<Service>, headers: HeaderMap, body: axum::body::Bytes) -> Response {
    let want = s.bridge.reg.hangar.pre_send_secret.as_deref().unwrap_or("");
    if !crate::web::same_secret(crate::web::bearer(&headers).unwrap_or(""), want) {
        return error(
            StatusCode::UNAUTHORIZED,
            "the pre-send hook needs 'Authorization: Bearer <hangar.pre_send_secret of the registration>'",
        );
    }
    if body.len() > s.max_body {
        return error(
            StatusCode::PAYLOAD_TOO_LARGE,
            &format!("the event is over the limit of {} bytes", s.max_body),
        );
    }
    let p: PreSend =
        match crate::serve::parse(&body, "{\"room_id\", \"sender\", \"type\", \"content\"}") {
            Ok(p) => p,
            Err(r) => return *r,
        };
    let allow = || reply(StatusCode::OK, &json!({"action": "allow"}));
    let Some(text) = p.content.get("body").and_then(Value::as_str) else {
        return allow();
    };
    if p.kind != "m.room.message" || s.bridge.is_ours(&p.sender) {
        return allow();
    }
    // A command's line is a message everyone in the room sees, so it is
    // checked like any other; the command runs on the text stored.
    let mut message = hangar_host::Message {
        id: p.event_id.clone().unwrap_or_default(),
        room: p.room_id.clone(),
        sender: p.sender.clone(),
        text: text.to_string(),
        timestamp: bridge::now_ms(),
        ..Default::default()
    };
    // Custom fields are the apps' to set: a client's own are dropped.
    let forged = p.content.contains_key(render::CUSTOM_FIELDS);
    let relates = p.content.get("m.relates_to").unwrap_or(&Value::Null);
    if relates["rel_type"] == "m.thread" {
        message.thread = relates["event_id"].as_str().map(|t| s.bridge.host_id(t));
    }
    let before = message.clone();
    let host = s.host.clone();
    let report = match tokio::task::spawn_blocking(move || host.check_message(message)).await {
        Ok(Ok(r)) => r,
        Ok(Err(e)) => return error(StatusCode::BAD_REQUEST, &e.to_string()),
        Err(e) => return error(StatusCode::INTERNAL_SERVER_ERROR, &e.to_string()),
    };
    if report.status == hangar_host::SendStatus::Prevented {
        eprintln!(
            "{}",
            json!({"event": "matrix-pre-send", "action": "prevent", "room": p.room_id,
                   "sender": p.sender, "app": report.prevented_by, "reason": report.reason})
        );
        return reply(
            StatusCode::OK,
            &json!({"action": "prevent", "reason": report.reason, "app": report.prevented_by}),
        );
    }
    let after = report.message;
    if after.text == before.text && after.custom_fields == before.custom_fields && !forged {
        return allow();
    }
    let mut content = p.content;
    if after.text != before.text {
        content.insert("body".into(), json!(after.text));
        // A formatted body would still show the old text.
        content.remove("format");
        content.remove("formatted_body");
    }
    if after.custom_fields.is_empty() {
        content.remove(render::CUSTOM_FIELDS);
    } else {
        content.insert(
            render::CUSTOM_FIELDS.into(),
            Value::Object(after.custom_fields),
        );
    }
    let changed_by: Vec<&str> = report
        .apps
        .iter()
        .filter(|a| a.outcome == hangar_host::Outcome::Modified)
        .map(|a| a.app.as_str())
        .collect();
    eprintln!(
        "{}",
        json!({"event": "matrix-pre-send", "action": "modify", "room": p.room_id,
               "sender": p.sender, "apps": changed_by})
    );
    reply(
        StatusCode::OK,
        &json!({"action": "modify", "content": content}),
    )
}
