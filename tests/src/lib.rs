//! Shared helpers for Hangar's end-to-end tests: the paths of the guests
//! built by `build.rs`, and hosts on temporary data directories.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use hangar_host::{CommandReport, Effect, Host, HostBuilder, RefChat};

pub mod bench;

/// Paths of the built guest components.
pub mod guests {
    include!(concat!(env!("OUT_DIR"), "/guests.rs"));
}

/// Compiled components are cached here across tests (keyed by hash).
pub fn cache_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target/hangar-test-cache")
}

thread_local! {
    static STORE: std::cell::RefCell<Option<String>> = const { std::cell::RefCell::new(None) };
}

/// Run `f` with every host this thread builds ([`host_at`], [`host_with`],
/// [`host_configured`]) and every `hangar` process it starts
/// ([`hangar_at`]) on the PostgreSQL database `url`: the same test, on the
/// other backend.
pub fn on_postgres<T>(url: &str, f: impl FnOnce() -> T) -> T {
    let before = STORE.with(|s| s.replace(Some(url.to_string())));
    struct Restore(Option<String>);
    impl Drop for Restore {
        fn drop(&mut self) {
            STORE.with(|s| *s.borrow_mut() = self.0.take());
        }
    }
    let _restore = Restore(before);
    f()
}

/// The PostgreSQL database this thread's hosts use, if any ([`on_postgres`]).
pub fn current_store() -> Option<String> {
    STORE.with(|s| s.borrow().clone())
}

/// `builder` on this thread's PostgreSQL database, if [`on_postgres`] set one.
pub fn on_current_store(builder: HostBuilder) -> HostBuilder {
    match current_store() {
        Some(url) => builder.postgres(&url),
        None => builder,
    }
}

/// A host and its reference chat on `dir`.
pub fn host_at(dir: &Path) -> (Host, Arc<RefChat>) {
    let chat = Arc::new(RefChat::open(dir).expect("open chat"));
    let host = on_current_store(HostBuilder::new(dir).cache_dir(cache_dir()))
        .build(chat.clone())
        .expect("build host");
    (host, chat)
}

/// A host on a fresh temporary data directory, with the given guests installed.
pub fn host_with(apps: &[&str]) -> (tempfile::TempDir, Host, Arc<RefChat>) {
    host_configured(apps, |b| b)
}

/// Like [`host_with`], with the builder adjusted by `configure`.
pub fn host_configured(
    apps: &[&str],
    configure: impl FnOnce(HostBuilder) -> HostBuilder,
) -> (tempfile::TempDir, Host, Arc<RefChat>) {
    let dir = tempfile::tempdir().expect("tempdir");
    let chat = Arc::new(RefChat::open(dir.path()).expect("open chat"));
    let builder = on_current_store(HostBuilder::new(dir.path()).cache_dir(cache_dir()));
    let host = configure(builder).build(chat.clone()).expect("build host");
    for app in apps {
        host.install(Path::new(app)).expect("install");
    }
    (dir, host, chat)
}

/// Replace every occurrence of `from` by `to` (same length, so sections
/// keep their sizes) in `bytes`; used to make variants of a built guest
/// (another version, another id, a broken manifest).
pub fn patch_all(bytes: &[u8], from: &[u8], to: &[u8]) -> Vec<u8> {
    assert_eq!(from.len(), to.len(), "a patch must keep the section size");
    let mut out = bytes.to_vec();
    let (mut at, mut found) = (0, 0);
    while let Some(i) = out[at..].windows(from.len()).position(|w| w == from) {
        out[at + i..at + i + to.len()].copy_from_slice(to);
        at += i + to.len();
        found += 1;
    }
    assert!(found > 0, "{:?} not found", String::from_utf8_lossy(from));
    out
}

/// The guest at `path` with `from` patched to `to` (see [`patch_all`]).
pub fn patched(path: &str, from: &str, to: &str) -> Vec<u8> {
    patch_all(
        &std::fs::read(path).expect("guest"),
        from.as_bytes(),
        to.as_bytes(),
    )
}

/// A data dir with karma installed by a host that is gone again, and the
/// path of karma's package file in it (for tests that damage it).
pub fn karma_installed() -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().expect("tempdir");
    {
        let (host, _chat) = host_at(dir.path());
        host.install(Path::new(guests::KARMA))
            .expect("install karma");
    }
    let package = std::fs::read_dir(dir.path().join("apps/karma"))
        .expect("karma's directory")
        .map(|e| e.expect("entry").path())
        .find(|p| p.extension().is_some_and(|x| x == "wasm"))
        .expect("karma's package");
    (dir, package)
}

/// The text of each effect, in order.
pub fn texts(effects: &[Effect]) -> Vec<String> {
    effects
        .iter()
        .map(|e| match e {
            Effect::SendMessage { message, .. } => message.text.clone(),
            Effect::NotifyUser { text, .. } | Effect::NotifyRoom { text, .. } => text.clone(),
            Effect::UpdateMessage { content, .. } => content.text.clone(),
            Effect::DeleteMessage { id, .. } => format!("(deleted {id})"),
            Effect::CreateRoom { room, .. } => format!("(created {})", room.id),
            Effect::OpenView { view, .. } => format!("(view {})", view.title),
            Effect::CloseView { id, .. } => format!("(closed {id})"),
        })
        .collect()
}

/// The id of the first message the effects sent.
pub fn first_sent(effects: &[Effect]) -> String {
    effects
        .iter()
        .find_map(|e| match e {
            Effect::SendMessage { message, .. } => Some(message.id.clone()),
            _ => None,
        })
        .expect("a message was sent")
}

/// Run a probe command (`/p ...` or `/n ...`) and parse its JSON reply.
pub fn probe(host: &Host, line: &str) -> serde_json::Value {
    let report: CommandReport = host
        .command("general", "tester", line)
        .expect("command runs");
    assert!(
        report.report.error.is_none(),
        "{line}: {:?}",
        report.report.error
    );
    let texts = texts(&report.effects);
    assert_eq!(texts.len(), 1, "{line}: one reply expected, got {texts:?}");
    serde_json::from_str(&texts[0]).expect("probe replies JSON")
}

/// Run `hangar args` on the data directory `dir`; its stdout (it must
/// succeed, or the test fails with its stderr).
pub fn hangar_ok(dir: &Path, args: &[&str]) -> String {
    let out = hangar_at(dir).args(args).output().expect("run hangar");
    assert!(
        out.status.success(),
        "hangar {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// A `hangar` command on the data directory `dir`.
pub fn hangar_at(dir: &Path) -> std::process::Command {
    let mut cmd = std::process::Command::new(hangar_bin());
    cmd.arg("--data-dir").arg(dir);
    match current_store() {
        Some(url) => cmd.env("HANGAR_STORE", url),
        None => cmd.env_remove("HANGAR_STORE"),
    };
    cmd
}

/// The `hangar` binary next to the test executables, built (or brought up
/// to date) once per test process: `cargo test -p hangar-tests` alone does
/// not build another package's binary.
pub fn hangar_bin() -> PathBuf {
    static BUILT: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();
    BUILT
        .get_or_init(|| {
            let exe = std::env::current_exe().expect("current exe");
            let dir = exe.parent().and_then(Path::parent).expect("target dir");
            let bin = dir.join(format!("hangar{}", std::env::consts::EXE_SUFFIX));
            let profile_release = dir.file_name().is_some_and(|n| n == "release");
            let mut cmd = std::process::Command::new(
                std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()),
            );
            cmd.args(["build", "--quiet", "-p", "hangar-host", "--bin", "hangar"]);
            if profile_release {
                cmd.arg("--release");
            }
            let status = cmd
                .env_remove("RUSTC_WORKSPACE_WRAPPER")
                .status()
                .expect("cargo build hangar");
            assert!(status.success(), "building the hangar binary failed");
            assert!(bin.exists(), "{} missing", bin.display());
            bin
        })
        .clone()
}

/// A running `hangar serve` on a free loopback port; killed if the test
/// ends without stopping it.
pub struct Serve {
    child: std::process::Child,
    base: String,
}

impl Serve {
    /// Start `hangar serve` on `dir`; returns once it listens.
    pub fn start(dir: &Path) -> Serve {
        use std::io::BufRead;
        let mut child = hangar_at(dir)
            .args(["serve", "--addr", "127.0.0.1:0"])
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("start hangar serve");
        let mut line = String::new();
        std::io::BufReader::new(child.stdout.take().expect("piped stdout"))
            .read_line(&mut line)
            .expect("its first line");
        let base = line
            .trim()
            .strip_prefix("listening on ")
            .unwrap_or_else(|| panic!("unexpected first line: {line:?}"))
            .to_string();
        Serve { child, base }
    }

    /// `http://127.0.0.1:<port><path>`.
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// Its process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Send it `signal` (such as `-STOP`).
    pub fn signal(&self, signal: &str) {
        std::process::Command::new("kill")
            .args([signal, &self.pid().to_string()])
            .status()
            .expect("kill");
    }

    /// SIGTERM, then its exit status (within 60 s).
    pub fn stop(mut self) -> std::process::ExitStatus {
        self.signal("-TERM");
        let start = std::time::Instant::now();
        loop {
            if let Some(status) = self.child.try_wait().expect("wait") {
                return status;
            }
            assert!(
                start.elapsed() < std::time::Duration::from_secs(60),
                "serve did not stop"
            );
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
    }
}

impl Drop for Serve {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
