//! Builds the example apps and the test guests for wasm32-wasip2, each
//! workspace with its own target dir (a nested cargo must not share ours),
//! and writes their paths as constants into `$OUT_DIR/guests.rs`.

use std::path::{Path, PathBuf};
use std::process::Command;

const TARGET: &str = "wasm32-wasip2";

fn watch(dir: &Path) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        let name = entry.file_name();
        if name == "target" {
            continue;
        }
        if path.is_dir() {
            watch(&path);
        } else {
            println!("cargo::rerun-if-changed={}", path.display());
        }
    }
}

fn ensure_target() {
    let out = Command::new("rustup")
        .args(["target", "list", "--installed"])
        .output();
    let installed = out.map(|o| {
        String::from_utf8_lossy(&o.stdout)
            .lines()
            .any(|l| l.trim() == TARGET)
    });
    if !installed.unwrap_or(false) {
        let ok = Command::new("rustup")
            .args(["target", "add", TARGET])
            .status()
            .map(|s| s.success());
        assert_eq!(
            ok.ok(),
            Some(true),
            "could not install the {TARGET} target; run `rustup target add {TARGET}`"
        );
    }
}

fn main() {
    let root = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").unwrap()).join("..");
    let root = root.canonicalize().unwrap();
    for dir in ["guest-sdk", "wit", "example-apps", "tests/guests"] {
        watch(&root.join(dir));
    }
    ensure_target();
    let target_dir = root.join("target").join("guests");
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let mut consts = String::new();
    for (workspace, guests) in [
        (
            "example-apps",
            &[
                "feedback",
                "word_filter",
                "karma",
                "welcome_bot",
                "standup",
                "webhook",
                "reminder",
                "poll",
            ][..],
        ),
        (
            "tests/guests",
            &[
                "probe",
                "neighbor",
                "bare",
                "hooks",
                "hostile",
                "otherworld",
                "bench",
                "surface",
                "ticker",
                "panel",
            ][..],
        ),
    ] {
        let status = Command::new(&cargo)
            .args(["build", "--release", "--target", TARGET, "--manifest-path"])
            .arg(root.join(workspace).join("Cargo.toml"))
            .arg("--target-dir")
            .arg(&target_dir)
            .env_remove("RUSTFLAGS")
            .env_remove("CARGO_ENCODED_RUSTFLAGS")
            .env_remove("CARGO_BUILD_TARGET")
            .env_remove("CARGO_TARGET_DIR")
            .env_remove("RUSTC_WORKSPACE_WRAPPER")
            .env_remove("RUSTC_WRAPPER")
            .status()
            .expect("running cargo for the guests");
        assert!(
            status.success(),
            "building the guests in {workspace} failed"
        );
        for guest in guests {
            let path = target_dir
                .join(TARGET)
                .join("release")
                .join(format!("{guest}.wasm"));
            assert!(path.exists(), "{} missing", path.display());
            consts.push_str(&format!(
                "/// `{guest}.wasm`, built from `{workspace}`.\npub const {}: &str = {:?};\n",
                guest.to_uppercase(),
                path.display().to_string()
            ));
        }
    }
    let out = PathBuf::from(std::env::var("OUT_DIR").unwrap()).join("guests.rs");
    std::fs::write(out, consts).unwrap();
}
