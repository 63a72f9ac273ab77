//! The app test kit (feature `testkit`): an app's own `cargo test` builds
//! the app, runs it in the real host over a temporary reference chat,
//! drives messages, commands and chat events, and asserts on replies,
//! effects and records.
//!
//! In the app crate's `Cargo.toml`:
//!
//! ```toml
//! [dev-dependencies]
//! hangar-host = { path = "../../host", default-features = false, features = ["testkit"] }
//! ```
//!
//! and a test in `tests/app.rs`:
//!
//! ```no_run
//! use hangar_host::testkit::{Replies, TestApp, TestChat};
//!
//! #[test]
//! fn greets_on_join() {
//!     let app = TestApp::build(env!("CARGO_MANIFEST_DIR"));
//!     let chat = TestChat::with(&[&app]);
//!     let joined = chat.join("general", "alice");
//!     assert_eq!(joined.replies(), ["Welcome to #general, alice!"]);
//!     assert_eq!(chat.records(app.id()).len(), 1);
//! }
//! ```
//!
//! `HANGAR_TESTKIT_STORE=postgres cargo test` runs the same tests with
//! the app's store on PostgreSQL (each chat on a fresh database of a
//! throwaway cluster from Debian's `postgresql`, or of the server named by
//! `HANGAR_TEST_POSTGRES`).
//!
//! Everything here panics with a message naming what failed: it is for
//! tests. The app is built in release mode for `wasm32-wasip2` into
//! `<target>/hangar-testkit` (apart from the test's own build, so the two
//! cargo runs never wait on each other), once per test binary; compiled
//! components are cached in `$CARGO_TARGET_DIR/hangar-testkit-cache`, or
//! the system's temporary directory.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock};

use crate::bridge::{Effect, Message, RoomKind, View};
use crate::builder::HostBuilder;
use crate::driver::{Done, Driver};
use crate::endpoint::{EndpointOutcome, HttpRequest};
use crate::host::Host;
use crate::interact::{InputValue, Interaction, InteractionReport};
use crate::package::Package;
use crate::refchat::{RefChat, StoredMessage};
use crate::report::{CommandReport, EventReport, SendReport};
use crate::storage::Record;

/// An app package built for the tests.
#[derive(Debug, Clone)]
pub struct TestApp {
    path: PathBuf,
    id: String,
}

/// Where the kit builds and caches: `$CARGO_TARGET_DIR/hangar-testkit`, or
/// `target/hangar-testkit` beside the crate.
fn kit_dir(crate_dir: &Path) -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| crate_dir.join("target"))
        .join("hangar-testkit")
}

impl TestApp {
    /// Build the app crate at `crate_dir` (pass
    /// `env!("CARGO_MANIFEST_DIR")`), once per test binary.
    pub fn build(crate_dir: impl AsRef<Path>) -> TestApp {
        static BUILT: OnceLock<Mutex<HashMap<PathBuf, TestApp>>> = OnceLock::new();
        let dir = crate_dir.as_ref().to_path_buf();
        let mut built = BUILT
            .get_or_init(Default::default)
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        if let Some(app) = built.get(&dir) {
            return app.clone();
        }
        let progress = |m: &str| eprintln!("hangar-testkit: {m}");
        let apps = crate::build::build_app(&dir, Some(&kit_dir(&dir)), &progress)
            .unwrap_or_else(|e| panic!("building the app at {}: {e}", dir.display()));
        let name = dir
            .file_name()
            .map(|n| n.to_string_lossy().replace('-', "_"));
        // A workspace builds several; the crate's own is named after it.
        let one = apps
            .iter()
            .find(|b| b.path.file_stem().map(|s| s.to_string_lossy().into_owned()) == name)
            .or(apps.first())
            .expect("the build produced an app");
        let app = TestApp {
            path: one.path.clone(),
            id: one.package.manifest.id.clone(),
        };
        built.insert(dir, app.clone());
        app
    }

    /// An app package built elsewhere (a `.wasm` file).
    pub fn package(path: impl Into<PathBuf>) -> TestApp {
        let path = path.into();
        let package = Package::read(&path)
            .unwrap_or_else(|e| panic!("reading the app package {}: {e}", path.display()));
        TestApp {
            id: package.manifest.id,
            path,
        }
    }

    /// The app's id.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// Its `.wasm` file.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

/// A real host over a temporary reference chat (gone with the value).
#[derive(Debug)]
pub struct TestChat {
    driver: Driver,
    dir: tempfile::TempDir,
}

fn ok<T>(what: &str, r: crate::error::Result<T>) -> T {
    r.unwrap_or_else(|e| panic!("{what}: {e}"))
}

impl TestChat {
    /// A chat with no apps.
    pub fn new() -> TestChat {
        TestChat::configured(&[], |b| b)
    }

    /// A chat with `apps` installed (and enabled), in order.
    pub fn with(apps: &[&TestApp]) -> TestChat {
        TestChat::configured(apps, |b| b)
    }

    /// Like [`TestChat::with`], the host adjusted by `configure` (deadlines,
    /// outbound policy, ...).
    pub fn configured(
        apps: &[&TestApp],
        configure: impl FnOnce(HostBuilder) -> HostBuilder,
    ) -> TestChat {
        let dir = tempfile::tempdir().expect("a temporary data dir");
        let cache = std::env::var_os("CARGO_TARGET_DIR")
            .map(PathBuf::from)
            .unwrap_or_else(std::env::temp_dir)
            .join("hangar-testkit-cache");
        let chat = Arc::new(ok("opening the chat", RefChat::open(dir.path())));
        let mut builder = HostBuilder::new(dir.path()).cache_dir(cache);
        // The same tests on the server database: each chat gets a fresh one.
        if std::env::var("HANGAR_TESTKIT_STORE").is_ok_and(|v| v == "postgres") {
            let server = crate::test_postgres::TestPostgres::shared().expect(
                "HANGAR_TESTKIT_STORE=postgres needs HANGAR_TEST_POSTGRES or Debian's postgresql",
            );
            builder = builder.postgres(&server.database());
        }
        let host = ok("starting the host", configure(builder).build(chat.clone()));
        let chat = TestChat {
            driver: Driver::new(host, chat),
            dir,
        };
        for app in apps {
            chat.install(app);
        }
        chat
    }

    /// Send `request` to app `app`'s endpoint (with the app's secret, as a
    /// caller that knows it would).
    pub fn request(&self, app: &str, mut request: HttpRequest) -> EndpointOutcome {
        let secret = ok(
            "reading the endpoint secret",
            self.host().endpoint_secret(app),
        );
        request.headers.push(("x-hangar-secret".into(), secret));
        self.host().http(app, &request)
    }

    /// POST `body` to app `app`'s endpoint `path`, with its secret.
    pub fn post(&self, app: &str, path: &str, body: &[u8]) -> EndpointOutcome {
        let request = HttpRequest {
            method: "POST".into(),
            path: path.into(),
            headers: vec![("content-type".into(), "application/json".into())],
            body: body.to_vec(),
            ..HttpRequest::default()
        };
        self.request(app, request)
    }

    /// Install `app`.
    pub fn install(&self, app: &TestApp) {
        ok(
            &format!("installing {}", app.path.display()),
            self.host().install(&app.path),
        );
    }

    /// The host, for anything the kit does not wrap.
    pub fn host(&self) -> &Host {
        self.driver.host()
    }

    /// The reference chat.
    pub fn chat(&self) -> &RefChat {
        self.driver.chat()
    }

    /// The data dir (for a second host on it, say).
    pub fn data_dir(&self) -> &Path {
        self.dir.path()
    }

    /// `user` says `text` in `room`.
    pub fn send(&self, room: &str, user: &str, text: &str) -> SendReport {
        ok("sending", self.driver.send(room, user, text, None))
    }

    /// `user` replies `text` in the thread of message `root`.
    pub fn reply(&self, room: &str, root: &str, user: &str, text: &str) -> SendReport {
        ok("replying", self.driver.send(room, user, text, Some(root)))
    }

    /// `user` runs `line` (such as `/karma bob`) in `room`.
    pub fn command(&self, room: &str, user: &str, line: &str) -> CommandReport {
        ok(line, self.driver.command(room, user, line, None))
    }

    /// `user` joins `room`.
    pub fn join(&self, room: &str, user: &str) -> Done {
        ok("joining", self.driver.join(room, user))
    }

    /// `user` leaves `room`.
    pub fn leave(&self, room: &str, user: &str) -> Done {
        ok("leaving", self.driver.leave(room, user))
    }

    /// `user` creates channel `name`.
    pub fn create_room(&self, name: &str, user: &str) -> Done {
        ok(
            "creating a room",
            self.driver.create_room(name, user, RoomKind::Channel),
        )
    }

    /// `user` edits message `id` to `text`.
    pub fn edit(&self, id: &str, user: &str, text: &str) -> Done {
        ok("editing", self.driver.edit(id, user, text))
    }

    /// `user` deletes message `id`.
    pub fn delete(&self, id: &str, user: &str) -> Done {
        ok("deleting", self.driver.delete(id, user))
    }

    /// `user` reacts to message `id`.
    pub fn react(&self, id: &str, user: &str, reaction: &str) -> Done {
        ok("reacting", self.driver.react(id, user, reaction, true))
    }

    /// `user` takes back their `reaction` to message `id`.
    pub fn unreact(&self, id: &str, user: &str, reaction: &str) -> Done {
        ok(
            "taking back a reaction",
            self.driver.react(id, user, reaction, false),
        )
    }

    /// `user` logs in.
    pub fn login(&self, user: &str) -> Done {
        ok("logging in", self.driver.login(user))
    }

    /// A room's last 100 messages, oldest first.
    pub fn history(&self, room: &str) -> Vec<StoredMessage> {
        ok("reading history", self.chat().history(room, 100))
    }

    /// An app's records.
    pub fn records(&self, app: &str) -> Vec<Record> {
        ok("reading records", self.host().records(app))
    }

    /// Report an interaction as a chat client would; a refused one is an
    /// `Err` (say, a forged value or another user's view).
    pub fn interact(&self, interaction: &Interaction) -> crate::Result<InteractionReport> {
        self.host().interact(interaction)
    }

    /// `user` clicks the button `action_id` of message `message` (the
    /// first such button, or the one in block `block_id`).
    pub fn click(
        &self,
        user: &str,
        message: &str,
        block_id: Option<&str>,
        action_id: &str,
    ) -> InteractionReport {
        ok(
            "clicking",
            self.interact(&Interaction::BlockAction {
                user: user.into(),
                message: Some(message.into()),
                view: None,
                block_id: block_id.map(str::to_string),
                action_id: action_id.into(),
                value: None,
            }),
        )
    }

    /// `user` submits view `view` with these `(block id, value)` pairs
    /// (each input's action id is looked up in the view).
    pub fn submit(&self, user: &str, view: &View, values: &[(&str, &str)]) -> InteractionReport {
        let state = crate::bridge::interactive(&view.blocks)
            .into_iter()
            .filter(|(_, _, input)| *input)
            .filter_map(|(block, e, _)| {
                let block = block?;
                let value = values.iter().find(|(b, _)| *b == block)?.1;
                Some(InputValue {
                    block_id: block.to_string(),
                    action_id: e.action_id().to_string(),
                    value: value.to_string(),
                })
            })
            .collect();
        ok(
            "submitting",
            self.interact(&Interaction::ViewSubmit {
                user: user.into(),
                view: view.id.clone(),
                state,
            }),
        )
    }

    /// The views open for `user`, oldest first.
    pub fn views(&self, user: &str) -> Vec<View> {
        ok("reading views", self.chat().views(user))
    }

    /// The message with id `id`, as stored now.
    pub fn message(&self, id: &str) -> Message {
        use crate::Bridge;
        match self.chat().message(id) {
            Ok(Some(m)) => m,
            other => panic!("no message '{id}': {other:?}"),
        }
    }
}

impl Default for TestChat {
    fn default() -> Self {
        TestChat::new()
    }
}

/// The text of what the apps sent, in order: messages, notifications,
/// edits.
pub trait Replies {
    /// The effects' texts.
    fn replies(&self) -> Vec<String>;
    /// Whether every app call succeeded (panics naming the first failure).
    fn assert_ok(&self) -> &Self;
}

fn texts<'a>(effects: impl IntoIterator<Item = &'a Effect>) -> Vec<String> {
    effects
        .into_iter()
        .filter_map(|e| match e {
            Effect::SendMessage { message, .. } => Some(message.text.clone()),
            Effect::NotifyUser { text, .. } | Effect::NotifyRoom { text, .. } => Some(text.clone()),
            Effect::UpdateMessage { content, .. } => Some(content.text.clone()),
            Effect::DeleteMessage { .. }
            | Effect::CreateRoom { .. }
            | Effect::OpenView { .. }
            | Effect::CloseView { .. } => None,
        })
        .collect()
}

fn all_ok<'a>(reports: impl IntoIterator<Item = &'a crate::report::AppReport>) {
    if let Some(r) = reports.into_iter().find(|r| r.error.is_some()) {
        panic!(
            "app '{}' {} failed: {}",
            r.app,
            r.handler,
            r.error.as_deref().unwrap_or("")
        );
    }
}

impl Replies for SendReport {
    fn replies(&self) -> Vec<String> {
        texts(&self.effects)
    }
    fn assert_ok(&self) -> &Self {
        all_ok(&self.apps);
        self
    }
}

impl Replies for CommandReport {
    fn replies(&self) -> Vec<String> {
        texts(&self.effects)
    }
    fn assert_ok(&self) -> &Self {
        all_ok([&self.report]);
        self
    }
}

impl Replies for EventReport {
    fn replies(&self) -> Vec<String> {
        texts(&self.effects)
    }
    fn assert_ok(&self) -> &Self {
        all_ok(&self.apps);
        self
    }
}

impl Replies for InteractionReport {
    fn replies(&self) -> Vec<String> {
        texts(&self.effects)
    }
    fn assert_ok(&self) -> &Self {
        all_ok(self.report.iter());
        self
    }
}

impl Replies for Done {
    fn replies(&self) -> Vec<String> {
        texts(self.events.iter().flat_map(|e| &e.effects))
    }
    fn assert_ok(&self) -> &Self {
        all_ok(self.events.iter().flat_map(|e| &e.apps));
        self
    }
}

/// A tiny HTTP server on loopback for an app's outbound requests in
/// tests: every request gets the same status and body; it counts them.
/// Allow loopback for the app under test with
/// `TestChat::configured(&[&app], |b| b.outbound_allow_private(true))`.
#[derive(Debug)]
pub struct Stub {
    addr: std::net::SocketAddr,
    hits: Arc<std::sync::atomic::AtomicUsize>,
}

impl Stub {
    /// Answer every request with `status` and `body`.
    pub fn start(status: u16, body: &str) -> Stub {
        use std::io::{BufRead, BufReader, Read, Write};
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("a loopback port");
        let addr = listener.local_addr().expect("its address");
        let hits = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let (count, body) = (hits.clone(), body.to_string());
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                count.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                let mut reader = BufReader::new(&stream);
                let mut length = 0usize;
                let mut line = String::new();
                while reader.read_line(&mut line).is_ok_and(|n| n > 2) {
                    if let Some(v) = line.to_ascii_lowercase().strip_prefix("content-length:") {
                        length = v.trim().parse().unwrap_or(0);
                    }
                    line.clear();
                }
                let _ = reader.take(length as u64).read_to_end(&mut Vec::new());
                let _ = write!(
                    &stream,
                    "HTTP/1.1 {status} X\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                    body.len()
                );
            }
        });
        Stub { addr, hits }
    }

    /// Its base URL, `http://127.0.0.1:<port>`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// How many requests it got.
    pub fn hits(&self) -> usize {
        self.hits.load(std::sync::atomic::Ordering::SeqCst)
    }
}
