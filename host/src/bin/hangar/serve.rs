//! `hangar serve`: the long-running host over the data dir, a small
//! composition of services on one axum router: health and readiness, the
//! reference chat's HTTP API (send, command, a room's messages), the web
//! chat and operator page (`web`), and the apps' endpoints under
//! `/apps/<id>/...`. Dispatch runs on tokio's
//! blocking pool (the host is synchronous); installs, updates and setting
//! changes made meanwhile (by the CLI or another `serve`) are picked up at
//! the next dispatch, as everywhere. A thread runs due jobs (the
//! scheduler's runner; several `serve` processes share the work). SIGTERM
//! or Ctrl-C: stop accepting, let in-flight requests and the job in
//! progress finish (each within its call deadline), exit 0.
//! One JSON line per request on stderr.

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::Instant;

use anyhow::{Context, Result};
use axum::Router;
use axum::body::Body;
use axum::extract::{Path as UrlPath, Query, Request, State};
use axum::http::{HeaderMap, HeaderName, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{any, get, post};
use hangar_host::{Driver, HttpRequest, HttpResponse};
use serde::Deserialize;

use crate::open;

/// What every route shares.
#[derive(Clone)]
struct Service {
    driver: Arc<Driver>,
    max_body: usize,
}

/// Run the server on `addr` until SIGTERM or Ctrl-C. The chat API lets a
/// caller act as any user, so an address other than loopback needs
/// `public`.
pub fn serve(dir: &Path, addr: &str, public: bool) -> Result<()> {
    check_address(
        addr,
        public,
        "the reference chat's /api routes, which let any caller act as any user,",
    )?;
    let (host, chat) = open(dir)?;
    let max_body = host.config().max_http_body_bytes;
    let service = Service {
        driver: Arc::new(Driver::new(host, chat)),
        max_body,
    };
    let token = crate::web::operator_token(dir)?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let runner = jobs_runner(service.driver.host().clone(), stop.clone());
    let (tx, changes) = tokio::sync::watch::channel(crate::web::Changes::default());
    let web = crate::web::Web {
        driver: service.driver.clone(),
        token: Arc::new(token),
        changes,
        public,
    };
    let watcher = crate::web::watch_changes(service.driver.clone(), tx, stop.clone());
    let served = runtime.block_on(run(service, web, addr, stop.clone()));
    // Stop claiming jobs; a run in progress finishes (within its deadline).
    stop.store(true, std::sync::atomic::Ordering::SeqCst);
    let _ = runner.join();
    let _ = watcher.join();
    served
}

/// Refuse an address beyond loopback unless `public` says so: `what`
/// would answer anyone who reaches it.
pub(crate) fn check_address(addr: &str, public: bool, what: &str) -> Result<()> {
    let loopback = addr
        .parse::<SocketAddr>()
        .map(|a| a.ip().is_loopback())
        .unwrap_or_else(|_| addr.starts_with("localhost:"));
    if !loopback && !public {
        anyhow::bail!(
            "{addr} is not a loopback address; {what} would answer anyone who reaches it, so serving beyond this machine needs --public"
        );
    }
    Ok(())
}

/// How often the runner looks for due jobs.
const JOBS_POLL: std::time::Duration = std::time::Duration::from_millis(100);

/// The scheduler's runner: a thread that runs due jobs until `stop`. Every
/// `serve` on the data dir runs one; leases and fences keep each job's
/// commit to one.
pub(crate) fn jobs_runner(
    host: hangar_host::Host,
    stop: Arc<std::sync::atomic::AtomicBool>,
) -> std::thread::JoinHandle<()> {
    let owner = format!("serve:{}", std::process::id());
    std::thread::spawn(move || {
        while !stop.load(std::sync::atomic::Ordering::SeqCst) {
            // One job per app per pass, so a stop is seen between claims.
            match host.run_due_jobs(&owner, 1) {
                Ok(runs) => {
                    for r in &runs {
                        eprintln!(
                            "{}",
                            serde_json::json!({
                                "event": "job", "app": r.app, "job": r.job, "processor": r.processor,
                                "outcome": r.outcome, "lag_ms": r.lag_ms,
                                "ms": r.report.as_ref().map(|r| r.duration_us as f64 / 1000.0),
                            })
                        );
                    }
                    if !runs.is_empty() {
                        continue;
                    }
                }
                Err(e) => eprintln!(
                    "{}",
                    serde_json::json!({"event": "jobs-error", "error": e.to_string()})
                ),
            }
            std::thread::sleep(JOBS_POLL);
        }
    })
}

async fn run(
    service: Service,
    web: crate::web::Web,
    addr: &str,
    stop: Arc<std::sync::atomic::AtomicBool>,
) -> Result<()> {
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .with_context(|| format!("listening on {addr} (is another server using it?)"))?;
    let local: SocketAddr = listener.local_addr()?;
    let app = Router::new()
        .route("/healthz", get(|| async { "ok" }))
        .route("/readyz", get(ready))
        .route("/api/send", post(send))
        .route("/api/command", post(command))
        .route("/api/rooms/{room}/messages", get(messages))
        .route("/apps/{app}", any(endpoint_root_of::<Service>))
        .route("/apps/{app}/", any(endpoint_root_of::<Service>))
        .route("/apps/{app}/{*path}", any(endpoint_of::<Service>))
        .with_state(service)
        .merge(crate::web::routes(web.clone()))
        .layer(axum::middleware::from_fn_with_state(
            web.clone(),
            crate::web::guard,
        ))
        .layer(axum::middleware::from_fn(log));
    // The address goes to stdout, so a script (or test) started with
    // port 0 can read where it landed.
    out!("listening on http://{local}");
    out!(
        "web chat: http://{local}/  operator page: http://{local}/operator#token={}",
        web.token
    );
    axum::serve(listener, app)
        .with_graceful_shutdown(async move {
            shutdown().await;
            // Live streams end, so they do not hold the shutdown open.
            stop.store(true, std::sync::atomic::Ordering::SeqCst);
        })
        .await
        .context("serving")?;
    eprintln!(
        "{}",
        serde_json::json!({"event": "stopped", "address": local.to_string()})
    );
    Ok(())
}

/// Resolve on SIGTERM or Ctrl-C.
pub(crate) async fn shutdown() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    tokio::select! {
        () = ctrl_c => {},
        () = term => {},
    }
    eprintln!(
        "{}",
        serde_json::json!({"event": "shutting-down", "note": "finishing in-flight requests"})
    );
}

/// One JSON line per request: method, path, status, milliseconds.
pub(crate) async fn log(request: Request, next: axum::middleware::Next) -> Response {
    let start = Instant::now();
    let method = request.method().to_string();
    let path = request.uri().path().to_string();
    let response = next.run(request).await;
    eprintln!(
        "{}",
        serde_json::json!({
            "time_ms": std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_millis() as u64),
            "method": method,
            "path": path,
            "status": response.status().as_u16(),
            "ms": start.elapsed().as_secs_f64() * 1000.0,
        })
    );
    response
}

/// Ready once the host answers: the registry reads.
async fn ready(State(s): State<Service>) -> Response {
    let driver = s.driver.clone();
    match tokio::task::spawn_blocking(move || driver.host().list()).await {
        Ok(Ok(apps)) => json(
            StatusCode::OK,
            &serde_json::json!({"ready": true, "apps": apps.len()}),
        ),
        Ok(Err(e)) => error(StatusCode::SERVICE_UNAVAILABLE, &e.to_string()),
        Err(e) => error(StatusCode::SERVICE_UNAVAILABLE, &e.to_string()),
    }
}

pub(crate) fn json(status: StatusCode, value: &impl serde::Serialize) -> Response {
    let body = serde_json::to_vec(value).unwrap_or_default();
    (status, [("content-type", "application/json")], body).into_response()
}

pub(crate) fn error(status: StatusCode, why: &str) -> Response {
    json(status, &serde_json::json!({"error": why}))
}

/// A JSON body of the shape `expected`, or a 400 saying so (boxed: a
/// response is large).
pub(crate) fn parse<T: serde::de::DeserializeOwned>(
    body: &[u8],
    expected: &str,
) -> std::result::Result<T, Box<Response>> {
    serde_json::from_slice(body).map_err(|e| {
        Box::new(error(
            StatusCode::BAD_REQUEST,
            &format!("expected {expected}: {e}"),
        ))
    })
}

/// Run `f` on the blocking pool; a host error is a 400 saying why.
pub(crate) async fn blocking<T: serde::Serialize + Send + 'static>(
    f: impl FnOnce() -> hangar_host::Result<T> + Send + 'static,
) -> Response {
    match tokio::task::spawn_blocking(f).await {
        Ok(Ok(value)) => json(StatusCode::OK, &value),
        Ok(Err(e)) => error(StatusCode::BAD_REQUEST, &e.to_string()),
        Err(e) => error(StatusCode::INTERNAL_SERVER_ERROR, &e.to_string()),
    }
}

/// `POST /api/send`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SendBody {
    room: String,
    user: String,
    text: String,
    #[serde(default)]
    thread: Option<String>,
}

async fn send(State(s): State<Service>, body: axum::body::Bytes) -> Response {
    let b: SendBody = match serde_json::from_slice(&body) {
        Ok(b) => b,
        Err(e) => {
            return error(
                StatusCode::BAD_REQUEST,
                &format!("expected {{\"room\", \"user\", \"text\"}}: {e}"),
            );
        }
    };
    let d = s.driver.clone();
    blocking(move || d.send(&b.room, &b.user, &b.text, b.thread.as_deref())).await
}

/// `POST /api/command`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CommandBody {
    room: String,
    user: String,
    line: String,
    #[serde(default)]
    thread: Option<String>,
}

async fn command(State(s): State<Service>, body: axum::body::Bytes) -> Response {
    let b: CommandBody = match serde_json::from_slice(&body) {
        Ok(b) => b,
        Err(e) => {
            return error(
                StatusCode::BAD_REQUEST,
                &format!("expected {{\"room\", \"user\", \"line\"}}: {e}"),
            );
        }
    };
    let d = s.driver.clone();
    blocking(move || d.command(&b.room, &b.user, &b.line, b.thread.as_deref())).await
}

#[derive(Deserialize)]
struct Limit {
    limit: Option<usize>,
    /// Only what this user sees (others' private notifications left out).
    user: Option<String>,
}

/// `GET /api/rooms/<room>/messages?limit=50[&user=alice]`.
async fn messages(
    State(s): State<Service>,
    UrlPath(room): UrlPath<String>,
    Query(q): Query<Limit>,
) -> Response {
    let d = s.driver.clone();
    let limit = q.limit.unwrap_or(50).min(1000);
    blocking(move || {
        let mut history = d.chat().history(&room, limit)?;
        if let Some(user) = &q.user {
            history.retain(|m| m.visible_to.as_ref().is_none_or(|v| v == user));
        }
        Ok(history)
    })
    .await
}

/// A server state that serves apps' endpoints.
pub(crate) trait Endpoints: Clone + Send + Sync + 'static {
    /// The host.
    fn host(&self) -> hangar_host::Host;
    /// Most bytes of a request body.
    fn max_body(&self) -> usize;
}

impl Endpoints for Service {
    fn host(&self) -> hangar_host::Host {
        self.driver.host().clone()
    }
    fn max_body(&self) -> usize {
        self.max_body
    }
}

pub(crate) async fn endpoint_root_of<S: Endpoints>(
    State(s): State<S>,
    UrlPath(app): UrlPath<String>,
    request: Request,
) -> Response {
    dispatch(s, app, "/".to_string(), request).await
}

pub(crate) async fn endpoint_of<S: Endpoints>(
    State(s): State<S>,
    UrlPath((app, path)): UrlPath<(String, String)>,
    request: Request,
) -> Response {
    dispatch(s, app, format!("/{path}"), request).await
}

/// An app endpoint: the body read within its limit (413 past it), then the
/// host's checks and the app's handler on the blocking pool.
async fn dispatch<S: Endpoints>(s: S, app: String, path: String, request: Request) -> Response {
    let (parts, body) = request.into_parts();
    let max_body = s.max_body();
    let too_large = || {
        to_response(HttpResponse::refusal(
            413,
            &format!("the body is over the limit of {max_body} bytes"),
        ))
    };
    // Read a little past the limit (bounded), so a client that sent a
    // slightly larger body reads the 413 rather than a broken pipe.
    let Ok(body) = axum::body::to_bytes(body, max_body.saturating_mul(2)).await else {
        return too_large();
    };
    if body.len() > max_body {
        return too_large();
    }
    let query = parts
        .uri
        .query()
        .map(|q| {
            url::form_urlencoded::parse(q.as_bytes())
                .into_owned()
                .collect()
        })
        .unwrap_or_default();
    let request = HttpRequest {
        method: parts.method.to_string(),
        path,
        query,
        headers: headers(&parts.headers),
        body: body.to_vec(),
    };
    let host = s.host();
    match tokio::task::spawn_blocking(move || host.http(&app, &request)).await {
        Ok(outcome) => to_response(outcome.response),
        Err(e) => error(StatusCode::INTERNAL_SERVER_ERROR, &e.to_string()),
    }
}

fn headers(map: &HeaderMap) -> Vec<(String, String)> {
    map.iter()
        .map(|(n, v)| {
            (
                n.as_str().to_string(),
                String::from_utf8_lossy(v.as_bytes()).into_owned(),
            )
        })
        .collect()
}

fn to_response(r: HttpResponse) -> Response {
    let status = StatusCode::from_u16(r.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let mut response = Response::new(Body::from(r.body));
    *response.status_mut() = status;
    for (name, value) in r.headers {
        if let (Ok(n), Ok(v)) = (HeaderName::try_from(name), HeaderValue::try_from(value)) {
            response.headers_mut().append(n, v);
        }
    }
    response
}
