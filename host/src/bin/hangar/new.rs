//! `hangar new <name>`: scaffold an app crate that builds and installs unchanged.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};

use hangar_host::validate_app_id;

/// Where this checkout's SDK lives (the SDK is used by path until it is published).
fn sdk_path() -> PathBuf {
    let p = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../guest-sdk");
    p.canonicalize().unwrap_or(p)
}

/// Create the crate `dir`, named after its last component.
pub fn run(dir: &Path, sdk: Option<PathBuf>) -> Result<()> {
    let name = dir
        .file_name()
        .and_then(|n| n.to_str())
        .context("the app needs a directory name, e.g. `hangar new hello`")?
        .to_string();
    if let Err(why) = validate_app_id(&name) {
        bail!("'{name}' cannot be an app id: {why}");
    }
    if dir.exists() {
        bail!(
            "{} already exists; pick another name or remove it",
            dir.display()
        );
    }
    let sdk = match sdk {
        Some(p) => p.canonicalize().unwrap_or(p),
        None => sdk_path(),
    };
    if !sdk.join("Cargo.toml").is_file() {
        bail!(
            "{} is not the hangar-sdk crate (no Cargo.toml there); point --sdk (or HANGAR_SDK) at a checkout's guest-sdk directory",
            sdk.display()
        );
    }
    let ident = name.replace('-', "_");
    // The test kit is the host crate beside the SDK; without it (an SDK
    // from elsewhere) the scaffold has no test.
    let host = sdk.parent().map(|p| p.join("host"));
    let host = host.filter(|h| h.join("Cargo.toml").is_file());
    let dev_dependencies = match &host {
        Some(h) => format!(
            "\n[dev-dependencies]\n# The test kit: `cargo test` runs the app in the real host.\nhangar-host = {{ path = {:?}, default-features = false, features = [\"testkit\"] }}\n",
            h.display().to_string()
        ),
        None => String::new(),
    };
    let mut files: Vec<(&str, String)> = vec![
        (
            "Cargo.toml",
            format!(
                r#"[package]
name = "{name}"
version = "0.1.0"
edition = "2024"
publish = false

[lib]
crate-type = ["cdylib"]

[dependencies]
hangar-sdk = {{ path = {sdk:?} }}
serde = {{ version = "1", features = ["derive"] }}
{dev_dependencies}
# A standalone crate, not part of any enclosing workspace.
[workspace]

# The tests run the host natively: optimise its compiler crates.
[profile.dev.package.cranelift-codegen]
opt-level = 2
[profile.dev.package.regalloc2]
opt-level = 2
[profile.dev.package.wasmparser]
opt-level = 2
[profile.dev.package.libsqlite3-sys]
opt-level = 2

[profile.release]
opt-level = "s"
lto = true
codegen-units = 1
panic = "abort"
strip = "debuginfo"
"#,
                sdk = sdk.display().to_string()
            ),
        ),
        (
            "hangar.json",
            format!(
                r#"{{
  "id": "{name}",
  "name": "{name}",
  "version": "0.1.0",
  "description": "Says hello and counts greetings.",
  "permissions": ["persistence", "slashcommand", "message.write"],
  "commands": [{{ "command": "{name}", "description": "Say hello" }}]
}}
"#
            ),
        ),
        (
            "src/lib.rs",
            format!(
                r#"//! {name}: `/{name}` greets the caller and counts greetings per user.

use hangar_sdk::{{Association, Command, Commands, Modifier, Result, Writer, read}};
use serde::{{Deserialize, Serialize}};

#[derive(Serialize, Deserialize)]
struct Greetings {{
    count: u64,
}}

struct App;

/// The events this app handles are the methods written here: `execute` is
/// `/{name}`. Add `fn preview` for suggestions, or another family (`Messages`,
/// `Lifecycle`, `Settings`, `Events`) in its own `#[hangar_sdk::handlers]` impl and in
/// `handles` below.
#[hangar_sdk::handlers]
impl Commands for App {{
    fn execute(command: &Command, writer: &Writer, modifier: &Modifier) -> Result<()> {{
        let key = [Association::user(&command.sender), Association::misc("greetings")];
        let count = read::by_associations::<Greetings>(&key)?.first().map_or(0, |r| r.data.count) + 1;
        writer.update_by_associations(&key, &Greetings {{ count }}, true)?;
        modifier.send_message(&command.room, &format!("hello, {{}}! (greeting #{{count}})", command.sender))?;
        Ok(())
    }}
}}

hangar_sdk::export_app!(App, manifest = "hangar.json", handles = [Commands]);
"#
            ),
        ),
        (
            "README.md",
            format!(
                "# {name}\n\nA Hangar app. `/{name}` greets the caller and counts greetings per user.\n\n```sh\nhangar build {name}\nhangar install {name}/target/wasm32-wasip2/release/{ident}.wasm\nhangar command --room general --user alice \"/{name}\"\ncargo test --manifest-path {name}/Cargo.toml   # tests/app.rs: the app in the real host\n```\n\nThe manifest is `hangar.json`: add permissions, commands and settings there\nas the app grows (docs/manifest.md lists every field).\n"
            ),
        ),
        (".gitignore", "/target\n".to_string()),
    ];
    if host.is_some() {
        files.push((
            "tests/app.rs",
            format!(
                r#"//! `cargo test` builds the app and runs it in the real host with the
//! test kit, over a temporary reference chat.

use hangar_host::testkit::{{Replies, TestApp, TestChat}};

#[test]
fn greets_and_counts() {{
    let app = TestApp::build(env!("CARGO_MANIFEST_DIR"));
    let chat = TestChat::with(&[&app]);
    let first = chat.command("general", "alice", "/{name}");
    assert_eq!(first.replies(), ["hello, alice! (greeting #1)"]);
    let second = chat.command("general", "alice", "/{name}");
    assert_eq!(second.replies(), ["hello, alice! (greeting #2)"]);
    assert_eq!(chat.records(app.id()).len(), 1);
}}
"#
            ),
        ));
    }
    for (file, text) in files {
        let path = dir.join(file);
        std::fs::create_dir_all(path.parent().expect("file in a dir"))
            .with_context(|| format!("creating {}", dir.display()))?;
        std::fs::write(&path, text).with_context(|| format!("writing {}", path.display()))?;
    }
    out!("created app '{name}' in {}", dir.display());
    out!("next: hangar build {}", dir.display());
    if host.is_some() {
        out!(
            "test: cargo test --manifest-path {}",
            dir.join("Cargo.toml").display()
        );
    }
    Ok(())
}
