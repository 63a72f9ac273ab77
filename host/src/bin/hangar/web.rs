//! The web chat and the operator page of `hangar serve`: static pages
//! compiled into the binary (no CDN), the chat's JSON API (log in, rooms,
//! history, preview, pick, views, interactions, action buttons), a live
//! stream of changes (server-sent events, fed by the chat's change counter,
//! so writes from the CLI or another `serve` show up too), and the
//! operator's API behind a bearer token.

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::{Path as UrlPath, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use futures_util::stream::{self, Stream};
use hangar_host::{Driver, Error, Interaction, PreviewItem};
use serde::Deserialize;

use crate::serve::{blocking, error, json, parse};

/// What the web routes share.
#[derive(Clone)]
pub(crate) struct Web {
    pub(crate) driver: Arc<Driver>,
    /// The operator's bearer token.
    pub(crate) token: Arc<String>,
    /// The chat's change counter, and whether the server is stopping.
    pub(crate) changes: tokio::sync::watch::Receiver<Changes>,
    /// Served beyond loopback (`--public`): any Host header is taken.
    pub(crate) public: bool,
}

/// What the live stream carries.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct Changes {
    pub(crate) seq: i64,
    pub(crate) stopping: bool,
}

/// How often the chat's change counter is read.
const WATCH_EVERY: Duration = Duration::from_millis(100);

/// Read the chat's change counter until `stop`, publishing each new value.
pub(crate) fn watch_changes(
    driver: Arc<Driver>,
    tx: tokio::sync::watch::Sender<Changes>,
    stop: Arc<std::sync::atomic::AtomicBool>,
) -> std::thread::JoinHandle<()> {
    std::thread::spawn(move || {
        while !stop.load(std::sync::atomic::Ordering::SeqCst) {
            if let Ok(seq) = driver.chat().change_seq() {
                tx.send_if_modified(|c| {
                    let changed = c.seq != seq;
                    c.seq = seq;
                    changed
                });
            }
            std::thread::sleep(WATCH_EVERY);
        }
        tx.send_modify(|c| c.stopping = true);
    })
}

/// The web routes.
pub(crate) fn routes(web: Web) -> Router {
    Router::new()
        .route("/", get(|| page(CHAT_HTML)))
        .route("/operator", get(|| page(OPERATOR_HTML)))
        .route("/static/{file}", get(asset))
        .route("/api/login", post(login))
        .route("/api/rooms", get(rooms))
        .route("/api/join", post(join))
        .route("/api/preview", post(preview))
        .route("/api/pick", post(pick))
        .route("/api/views", get(views))
        .route("/api/interact", post(interact))
        .route("/api/action-buttons", get(action_buttons))
        .route("/api/stream", get(stream))
        .route("/api/operator/apps", get(op_apps))
        .route("/api/operator/apps/{app}/{action}", post(op_toggle))
        .route("/api/operator/apps/{app}/settings", get(op_settings))
        .route("/api/operator/apps/{app}/settings/{setting}", put(op_set))
        .route("/api/operator/apps/{app}/logs", get(op_logs))
        .route("/api/operator/apps/{app}/records", get(op_records))
        .route("/api/operator/apps/{app}/jobs", get(op_jobs))
        .with_state(web)
}

/// What other web sites must not do through a person's browser: reach the
/// pages under another name (DNS rebinding: on loopback, only loopback
/// names are answered), or post to the chat API (a cross-site form or
/// `fetch` cannot send `Content-Type: application/json` without a
/// preflight this server never allows).
pub(crate) async fn guard(
    State(w): State<Web>,
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    // Apps' endpoints answer whoever reaches them (a proxy in front may
    // pass any name; their own auth applies).
    if request.uri().path().starts_with("/apps") {
        return next.run(request).await;
    }
    let headers = request.headers();
    if !w.public {
        let host = headers
            .get("host")
            .and_then(|h| h.to_str().ok())
            .unwrap_or("");
        let name = host
            .rsplit_once(':')
            .filter(|(_, port)| port.bytes().all(|b| b.is_ascii_digit()))
            .map_or(host, |(name, _)| name);
        if !matches!(name, "127.0.0.1" | "localhost" | "[::1]") {
            return error(
                StatusCode::MISDIRECTED_REQUEST,
                "this server answers only to 127.0.0.1, localhost or [::1] (serve with --public to take other names)",
            );
        }
    }
    // Apps' endpoints take what their callers send; the operator API
    // needs its token, which a cross-site request cannot carry.
    let path = request.uri().path();
    let writes = matches!(request.method().as_str(), "POST" | "PUT");
    let operator = path.starts_with("/api/operator/") || !path.starts_with("/api/");
    let json_body = headers
        .get("content-type")
        .and_then(|h| h.to_str().ok())
        .is_some_and(|t| t.starts_with("application/json"));
    if writes && !operator && !json_body {
        return error(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "send the body as JSON with 'Content-Type: application/json'",
        );
    }
    next.run(request).await
}

const CHAT_HTML: &str = include_str!("web/chat.html");
const OPERATOR_HTML: &str = include_str!("web/operator.html");

/// Pages may load only what this server serves.
const CSP: &str = "default-src 'self'; img-src 'self' https: http: data:; style-src 'self'; script-src 'self'; connect-src 'self'; frame-ancestors 'none'";

async fn page(html: &'static str) -> Response {
    (
        [
            ("content-type", "text/html; charset=utf-8"),
            ("content-security-policy", CSP),
            ("x-content-type-options", "nosniff"),
        ],
        html,
    )
        .into_response()
}

async fn asset(UrlPath(file): UrlPath<String>) -> Response {
    let (body, kind) = match file.as_str() {
        "chat.js" => (include_str!("web/chat.js"), "text/javascript"),
        "operator.js" => (include_str!("web/operator.js"), "text/javascript"),
        "chat.css" => (include_str!("web/chat.css"), "text/css"),
        _ => return error(StatusCode::NOT_FOUND, "no such file"),
    };
    (
        [
            ("content-type", kind),
            ("x-content-type-options", "nosniff"),
        ],
        body,
    )
        .into_response()
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Login {
    user: String,
}

/// Log in as `user` (created on first use) and join `general`.
async fn login(State(w): State<Web>, body: axum::body::Bytes) -> Response {
    let b: Login = match parse(&body, "{\"user\"}") {
        Ok(b) => b,
        Err(r) => return *r,
    };
    let user = b.user.trim().to_string();
    if user.is_empty()
        || user.chars().count() > 64
        || user.starts_with("app:")
        || user.contains(char::is_whitespace)
    {
        return error(
            StatusCode::BAD_REQUEST,
            "a user name is 1 to 64 characters, without spaces, not starting with 'app:'",
        );
    }
    let d = w.driver.clone();
    blocking(move || {
        d.login(&user)?;
        d.ensure("general", &user)?;
        Ok(serde_json::json!({"user": user, "rooms": room_list(&d, &user)?}))
    })
    .await
}

fn room_list(d: &Driver, user: &str) -> hangar_host::Result<Vec<serde_json::Value>> {
    let mut out = Vec::new();
    for room in d.chat().rooms()? {
        let member = d.chat().members(&room.id)?.iter().any(|m| m == user);
        // Private rooms and direct rooms show to their members only.
        if !member && room.kind != hangar_host::RoomKind::Channel {
            continue;
        }
        let mut v = serde_json::to_value(&room).unwrap_or_default();
        v["member"] = member.into();
        out.push(v);
    }
    Ok(out)
}

#[derive(Deserialize)]
struct UserQuery {
    user: String,
}

async fn rooms(State(w): State<Web>, Query(q): Query<UserQuery>) -> Response {
    let d = w.driver.clone();
    blocking(move || room_list(&d, &q.user)).await
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Join {
    room: String,
    user: String,
}

/// Join a room (made if it does not exist).
async fn join(State(w): State<Web>, body: axum::body::Bytes) -> Response {
    let b: Join = match parse(&body, "{\"room\", \"user\"}") {
        Ok(b) => b,
        Err(r) => return *r,
    };
    let d = w.driver.clone();
    blocking(move || {
        d.ensure(&b.room, &b.user)?;
        Ok(serde_json::json!({}))
    })
    .await
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Typed {
    room: String,
    user: String,
    line: String,
    #[serde(default)]
    item: Option<PreviewItem>,
}

/// The preview of a command being typed.
async fn preview(State(w): State<Web>, body: axum::body::Bytes) -> Response {
    let b: Typed = match parse(&body, "{\"room\", \"user\", \"line\"}") {
        Ok(b) => b,
        Err(r) => return *r,
    };
    let d = w.driver.clone();
    blocking(move || {
        let (items, report) = d.host().preview(&b.room, &b.user, &b.line)?;
        Ok(serde_json::json!({"app": report.app, "items": items, "error": report.error}))
    })
    .await
}

/// Act on the preview item the user picked.
async fn pick(State(w): State<Web>, body: axum::body::Bytes) -> Response {
    let b: Typed = match parse(&body, "{\"room\", \"user\", \"line\", \"item\"}") {
        Ok(b) => b,
        Err(r) => return *r,
    };
    let Some(item) = b.item else {
        return error(StatusCode::BAD_REQUEST, "pick needs the \"item\" picked");
    };
    let d = w.driver.clone();
    blocking(move || d.host().pick_preview_item(&b.room, &b.user, &b.line, &item)).await
}

async fn views(State(w): State<Web>, Query(q): Query<UserQuery>) -> Response {
    let d = w.driver.clone();
    blocking(move || d.chat().views(&q.user)).await
}

/// An interaction from the page: 200 with what came of it (a submit's
/// errors per input), 403 when the host refused it as forged or stale.
async fn interact(State(w): State<Web>, body: axum::body::Bytes) -> Response {
    let i: Interaction = match parse(
        &body,
        "{\"type\": \"block-action\" | \"view-submit\" | \"view-closed\" | \"action-button\", ...}",
    ) {
        Ok(i) => i,
        Err(r) => return *r,
    };
    let d = w.driver.clone();
    match tokio::task::spawn_blocking(move || d.host().interact(&i)).await {
        Ok(Ok(report)) => {
            let failed = report
                .report
                .as_ref()
                .and_then(|r| r.error.as_ref())
                .map(|e| e.lines().next().unwrap_or("").to_string());
            let ok = failed.is_none() && report.errors.is_empty();
            json(
                StatusCode::OK,
                &serde_json::json!({
                    "ok": ok,
                    "app": report.app,
                    "errors": report.errors,
                    "closed": report.closed,
                    "error": failed.map(|e| format!("app '{}' failed: {e}", report.app)),
                }),
            )
        }
        Ok(Err(Error::Refused(why))) => error(StatusCode::FORBIDDEN, &format!("refused: {why}")),
        Ok(Err(e)) => error(StatusCode::BAD_REQUEST, &e.to_string()),
        Err(e) => error(StatusCode::INTERNAL_SERVER_ERROR, &e.to_string()),
    }
}

async fn action_buttons(State(w): State<Web>) -> Response {
    let d = w.driver.clone();
    blocking(move || {
        Ok(d.host()
            .action_buttons()?
            .into_iter()
            .map(|(app, b)| {
                serde_json::json!({"app": app, "id": b.id, "label": b.label, "context": b.context})
            })
            .collect::<Vec<_>>())
    })
    .await
}

/// The live stream: `change` with the chat's change counter, at once and
/// on every change; it ends when the server stops.
async fn stream(
    State(w): State<Web>,
) -> Sse<impl Stream<Item = Result<Event, std::convert::Infallible>>> {
    let rx = w.changes.clone();
    let events = stream::unfold((rx, true), |(mut rx, first)| async move {
        if !first && rx.changed().await.is_err() {
            return None;
        }
        let now = *rx.borrow_and_update();
        if now.stopping {
            return None;
        }
        let event = Event::default()
            .event("change")
            .data(serde_json::json!({"seq": now.seq}).to_string());
        Some((Ok(event), (rx, false)))
    });
    Sse::new(events).keep_alive(KeepAlive::new().interval(Duration::from_secs(15)))
}

// ---- the operator's API ----

/// The token of an `Authorization: Bearer <token>` header.
pub(crate) fn bearer(headers: &HeaderMap) -> Option<&str> {
    headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
}

/// Whether `given` is the (non-empty) secret `want`, compared in constant
/// time.
pub(crate) fn same_secret(given: &str, want: &str) -> bool {
    let want = want.as_bytes();
    !want.is_empty()
        && given.len() == want.len()
        && given
            .bytes()
            .zip(want)
            .fold(0u8, |acc, (a, b)| acc | (a ^ b))
            == 0
}

/// `n` random bytes from the operating system, as hex, for `what`.
pub(crate) fn random_hex(n: usize, what: &str) -> anyhow::Result<String> {
    use anyhow::Context;
    use std::io::Read;
    let mut bytes = vec![0u8; n];
    std::fs::File::open("/dev/urandom")
        .and_then(|mut f| f.read_exact(&mut bytes))
        .with_context(|| format!("reading /dev/urandom for {what}"))?;
    Ok(bytes.iter().map(|b| format!("{b:02x}")).collect())
}

/// The bearer token, compared in constant time.
fn authorized(w: &Web, headers: &HeaderMap) -> Result<(), Box<Response>> {
    if same_secret(bearer(headers).unwrap_or(""), &w.token) {
        Ok(())
    } else {
        Err(Box::new(error(
            StatusCode::UNAUTHORIZED,
            "the operator API needs 'Authorization: Bearer <token>'; `hangar serve` prints the operator page's address with its token, and keeps the token in <data dir>/operator-token",
        )))
    }
}

macro_rules! operator {
    ($w:expr, $headers:expr) => {
        if let Err(r) = authorized(&$w, &$headers) {
            return *r;
        }
    };
}

async fn op_apps(State(w): State<Web>, headers: HeaderMap) -> Response {
    operator!(w, headers);
    let d = w.driver.clone();
    blocking(move || d.host().list()).await
}

async fn op_toggle(
    State(w): State<Web>,
    headers: HeaderMap,
    UrlPath((app, action)): UrlPath<(String, String)>,
) -> Response {
    operator!(w, headers);
    let d = w.driver.clone();
    match action.as_str() {
        "enable" => blocking(move || d.host().enable(&app)).await,
        "disable" => blocking(move || d.host().disable(&app)).await,
        _ => error(StatusCode::NOT_FOUND, "use .../enable or .../disable"),
    }
}

/// An app's settings: each declared one with its type, choices and value.
async fn op_settings(
    State(w): State<Web>,
    headers: HeaderMap,
    UrlPath(app): UrlPath<String>,
) -> Response {
    operator!(w, headers);
    let d = w.driver.clone();
    blocking(move || {
        let info = d.host().info(&app)?;
        let values = d.host().settings(&app)?;
        Ok(info
            .manifest
            .settings
            .iter()
            .map(|s| {
                let value = values
                    .iter()
                    .find(|(id, _)| *id == s.id)
                    .map(|(_, v)| v.clone())
                    .unwrap_or_else(|| s.default.clone());
                let kind = serde_json::to_value(s.kind).unwrap_or_default();
                serde_json::json!({
                    "id": s.id, "type": kind, "label": s.description, "required": s.required,
                    "choices": s.values.iter().map(|v| serde_json::json!({"key": v, "value": v})).collect::<Vec<_>>(),
                    "value": value, "default": s.default,
                })
            })
            .collect::<Vec<_>>())
    })
    .await
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SettingValue {
    value: serde_json::Value,
}

async fn op_set(
    State(w): State<Web>,
    headers: HeaderMap,
    UrlPath((app, setting)): UrlPath<(String, String)>,
    body: axum::body::Bytes,
) -> Response {
    operator!(w, headers);
    let b: SettingValue = match parse(&body, "{\"value\": <JSON>}") {
        Ok(b) => b,
        Err(r) => return *r,
    };
    let d = w.driver.clone();
    blocking(move || {
        d.host().set_setting(&app, &setting, b.value)?;
        Ok(serde_json::json!({"ok": true}))
    })
    .await
}

#[derive(Deserialize)]
struct After {
    #[serde(default)]
    after: i64,
}

async fn op_logs(
    State(w): State<Web>,
    headers: HeaderMap,
    UrlPath(app): UrlPath<String>,
    Query(q): Query<After>,
) -> Response {
    operator!(w, headers);
    let d = w.driver.clone();
    blocking(move || d.host().logs_after(&app, q.after, 200)).await
}

async fn op_records(
    State(w): State<Web>,
    headers: HeaderMap,
    UrlPath(app): UrlPath<String>,
) -> Response {
    operator!(w, headers);
    let d = w.driver.clone();
    blocking(move || {
        let mut records = d.host().records(&app)?;
        // A page shows the latest few hundred.
        let skip = records.len().saturating_sub(500);
        Ok(records.split_off(skip))
    })
    .await
}

async fn op_jobs(
    State(w): State<Web>,
    headers: HeaderMap,
    UrlPath(app): UrlPath<String>,
) -> Response {
    operator!(w, headers);
    let d = w.driver.clone();
    blocking(move || d.host().jobs(&app)).await
}

/// The operator token: `HANGAR_OPERATOR_TOKEN`, else the one kept in
/// `<data dir>/operator-token` (made on first use, readable by its owner
/// only).
pub(crate) fn operator_token(dir: &std::path::Path) -> anyhow::Result<String> {
    use anyhow::Context;
    if let Ok(t) = std::env::var("HANGAR_OPERATOR_TOKEN")
        && !t.trim().is_empty()
    {
        anyhow::ensure!(
            t.trim().len() >= 16,
            "HANGAR_OPERATOR_TOKEN is too short to guard the operator page: use at least 16 characters"
        );
        return Ok(t.trim().to_string());
    }
    let path = dir.join("operator-token");
    if let Ok(t) = std::fs::read_to_string(&path) {
        if t.trim().len() >= 32 {
            return Ok(t.trim().to_string());
        }
        // Empty or too short to be one of ours: replaced below.
        std::fs::remove_file(&path)
            .with_context(|| format!("replacing the unusable token in {}", path.display()))?;
    }
    let token = random_hex(24, "the operator token")?;
    // Written aside and linked into place: of two servers starting at
    // once, one token wins and both use it.
    use std::os::unix::fs::OpenOptionsExt;
    let aside = dir.join(format!("operator-token.{}", std::process::id()));
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(&aside)
        .with_context(|| format!("writing {}", aside.display()))?;
    std::io::Write::write_all(&mut file, token.as_bytes())
        .and_then(|()| file.sync_all())
        .with_context(|| format!("writing {}", aside.display()))?;
    let linked = std::fs::hard_link(&aside, &path);
    let _ = std::fs::remove_file(&aside);
    let token = match linked {
        Ok(()) => token,
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
            std::fs::read_to_string(&path)?.trim().to_string()
        }
        Err(e) => return Err(e).with_context(|| format!("writing {}", path.display())),
    };
    anyhow::ensure!(
        token.len() >= 32,
        "{} holds no usable token; delete it and start again",
        path.display()
    );
    Ok(token)
}
