//! Building app crates to validated `.wasm` packages (`hangar build`).

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use anyhow::{Context, Result, bail};
use hangar_host::Package;

/// The target apps are built for.
pub const TARGET: &str = "wasm32-wasip2";

/// Install the wasm target with rustup if it is missing.
pub fn ensure_target(progress: &dyn Fn(&str)) -> Result<()> {
    let installed = Command::new("rustup")
        .args(["target", "list", "--installed"])
        .output()
        .context("running `rustup target list` (is rustup installed?)")?;
    if String::from_utf8_lossy(&installed.stdout)
        .lines()
        .any(|l| l.trim() == TARGET)
    {
        return Ok(());
    }
    progress(&format!("installing the {TARGET} target with rustup..."));
    let status = Command::new("rustup")
        .args(["target", "add", TARGET])
        .status()
        .context("running `rustup target add`")?;
    if !status.success() {
        bail!("`rustup target add {TARGET}` failed; run it by hand and retry");
    }
    Ok(())
}

/// A built and validated app.
#[derive(Debug, Clone)]
pub struct Built {
    /// The `.wasm` file.
    pub path: PathBuf,
    /// Its size in bytes.
    pub size: u64,
    /// Its package (manifest checked the way `install` checks it).
    pub package: Package,
}

/// Build the app crate (or workspace of apps) at `dir` in release mode for
/// `wasm32-wasip2`, and validate every `.wasm` it produced.
pub fn build(dir: &Path, progress: &dyn Fn(&str)) -> Result<Vec<Built>> {
    let manifest = dir.join("Cargo.toml");
    if !manifest.is_file() {
        bail!(
            "{} has no Cargo.toml; point `hangar build` at an app crate (see `hangar new`)",
            dir.display()
        );
    }
    ensure_target(progress)?;
    progress(&format!(
        "building {} for {TARGET} (release)...",
        dir.display()
    ));
    let wasm = run_cargo(dir, &manifest)?;
    if wasm.is_empty() {
        bail!(
            "{} built no .wasm; an app crate needs `crate-type = [\"cdylib\"]`",
            dir.display()
        );
    }
    wasm.into_iter()
        .map(|path| {
            let package = Package::read(&path).with_context(|| {
                format!(
                    "checking the built app (its manifest is hangar.json in {}, embedded by export_app!)",
                    dir.display()
                )
            })?;
            let size = std::fs::metadata(&path).map(|m| m.len()).unwrap_or(0);
            Ok(Built {
                path,
                size,
                package,
            })
        })
        .collect()
}

/// Run cargo for the guest target; the `.wasm` files it produced.
fn run_cargo(dir: &Path, manifest: &Path) -> Result<Vec<PathBuf>> {
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let mut child = Command::new(cargo)
        .args([
            "build",
            "--release",
            "--target",
            TARGET,
            "--message-format=json-render-diagnostics",
            "--manifest-path",
        ])
        .arg(manifest)
        // Flags meant for the host build must not leak into the guest build.
        .env_remove("RUSTFLAGS")
        .env_remove("CARGO_ENCODED_RUSTFLAGS")
        .env_remove("CARGO_BUILD_TARGET")
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .context("running cargo")?;
    let mut wasm = Vec::new();
    for line in BufReader::new(child.stdout.take().expect("piped stdout")).lines() {
        let line = line.context("reading cargo's output")?;
        let Ok(msg) = serde_json::from_str::<serde_json::Value>(&line) else {
            continue;
        };
        if msg["reason"] == "compiler-artifact" {
            for f in msg["filenames"].as_array().into_iter().flatten() {
                if let Some(f) = f.as_str().filter(|f| f.ends_with(".wasm")) {
                    wasm.push(PathBuf::from(f));
                }
            }
        }
    }
    let status = child.wait().context("waiting for cargo")?;
    if !status.success() {
        bail!(
            "building {} failed; see cargo's errors above",
            dir.display()
        );
    }
    Ok(wasm)
}
