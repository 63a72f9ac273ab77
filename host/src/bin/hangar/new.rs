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
    let files: [(&str, String); 5] = [
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

# A standalone crate, not part of any enclosing workspace.
[workspace]

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
/// `Lifecycle`, `Settings`) in its own `#[hangar_sdk::handlers]` impl and in
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
                "# {name}\n\nA Hangar app. `/{name}` greets the caller and counts greetings per user.\n\n```sh\nhangar build {name}\nhangar install {name}/target/wasm32-wasip2/release/{ident}.wasm\nhangar command --room general --user alice \"/{name}\"\n```\n\nThe manifest is `hangar.json`: add permissions, commands and settings there\nas the app grows (docs/manifest.md lists every field).\n"
            ),
        ),
        (".gitignore", "/target\n".to_string()),
    ];
    for (file, text) in files {
        let path = dir.join(file);
        std::fs::create_dir_all(path.parent().expect("file in a dir"))
            .with_context(|| format!("creating {}", dir.display()))?;
        std::fs::write(&path, text).with_context(|| format!("writing {}", path.display()))?;
    }
    out!("created app '{name}' in {}", dir.display());
    out!("next: hangar build {}", dir.display());
    Ok(())
}
