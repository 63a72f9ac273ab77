//! Building app crates to validated `.wasm` packages: what `hangar build`
//! and the app test kit run.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use crate::error::{Error, Result};
use crate::package::Package;

/// The target apps are built for.
pub const TARGET: &str = "wasm32-wasip2";

fn failed(what: &str) -> impl FnOnce(std::io::Error) -> Error + '_ {
    move |e| Error::io(what.to_string(), e)
}

fn refuse<T>(message: String) -> Result<T> {
    Err(Error::InvalidInput(message))
}

/// Install the wasm target with rustup if it is missing.
pub fn ensure_target(progress: &dyn Fn(&str)) -> Result<()> {
    let installed = Command::new("rustup")
        .args(["target", "list", "--installed"])
        .output()
        .map_err(failed(
            "running `rustup target list` (is rustup installed?)",
        ))?;
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
        .map_err(failed("running `rustup target add`"))?;
    if !status.success() {
        return refuse(format!(
            "`rustup target add {TARGET}` failed; run it by hand and retry"
        ));
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
/// `wasm32-wasip2`, and validate every `.wasm` it produced. With
/// `target_dir`, cargo builds there (the test kit keeps apart from the
/// running test's own build).
pub fn build_app(
    dir: &Path,
    target_dir: Option<&Path>,
    progress: &dyn Fn(&str),
) -> Result<Vec<Built>> {
    let manifest = dir.join("Cargo.toml");
    if !manifest.is_file() {
        return refuse(format!(
            "{} has no Cargo.toml; point `hangar build` at an app crate (see `hangar new`)",
            dir.display()
        ));
    }
    ensure_target(progress)?;
    progress(&format!(
        "building {} for {TARGET} (release)...",
        dir.display()
    ));
    let wasm = run_cargo(dir, &manifest, target_dir)?;
    if wasm.is_empty() {
        return refuse(format!(
            "{} built no .wasm; an app crate needs `crate-type = [\"cdylib\"]`",
            dir.display()
        ));
    }
    wasm.into_iter()
        .map(|path| {
            let package = Package::read(&path).map_err(|e| {
                Error::InvalidInput(format!(
                    "checking the built app (its manifest is hangar.json in {}, embedded by export_app!): {e}",
                    dir.display()
                ))
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
fn run_cargo(dir: &Path, manifest: &Path, target_dir: Option<&Path>) -> Result<Vec<PathBuf>> {
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let mut command = Command::new(cargo);
    command.args([
        "build",
        "--release",
        "--target",
        TARGET,
        "--message-format=json-render-diagnostics",
    ]);
    if let Some(t) = target_dir {
        command.arg("--target-dir").arg(t);
    }
    let mut child = command
        .arg("--manifest-path")
        .arg(manifest)
        // Flags meant for the host build must not leak into the guest build.
        .env_remove("RUSTFLAGS")
        .env_remove("CARGO_ENCODED_RUSTFLAGS")
        .env_remove("CARGO_BUILD_TARGET")
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .map_err(failed("running cargo"))?;
    let mut wasm = Vec::new();
    for line in BufReader::new(child.stdout.take().expect("piped stdout")).lines() {
        let line = line.map_err(failed("reading cargo's output"))?;
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
    let status = child.wait().map_err(failed("waiting for cargo"))?;
    if !status.success() {
        return refuse(format!(
            "building {} failed; see cargo's errors above",
            dir.display()
        ));
    }
    Ok(wasm)
}
