//! The `hangar` binary as operators use it: separate processes sharing one
//! data directory.

use std::path::Path;
use std::process::{Command, Output};

use hangar_tests::{guests, hangar_bin};
use serde_json::{Value, json};

fn hangar(dir: &Path, args: &[&str]) -> Output {
    hangar_tests::hangar_at(dir)
        .args(args)
        .output()
        .expect("run hangar")
}

fn ok_json(dir: &Path, args: &[&str]) -> Value {
    let out = hangar(dir, args);
    assert!(
        out.status.success(),
        "hangar {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "hangar {args:?} printed no JSON ({e}): {}",
            String::from_utf8_lossy(&out.stdout)
        )
    })
}

fn install_examples(dir: &Path) {
    for app in [guests::FEEDBACK, guests::WORD_FILTER, guests::KARMA] {
        let out = hangar(dir, &["install", app]);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

#[test]
fn the_issue_walkthrough_works_across_invocations() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    install_examples(d);
    let list = ok_json(d, &["list", "--json"]);
    let ids: Vec<&str> = list
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, vec!["feedback", "word-filter", "karma"]);

    let reply = hangar(
        d,
        &[
            "command",
            "--room",
            "general",
            "--user",
            "alice",
            "/feedback love it",
        ],
    );
    assert!(reply.status.success());
    assert!(String::from_utf8_lossy(&reply.stdout).contains("Thanks for your feedback, alice!"));
    let data = ok_json(d, &["data", "feedback", "--json"]);
    let rec = &data[0];
    assert_eq!(rec["data"]["text"], "love it");
    assert!(
        rec["associations"]
            .as_array()
            .unwrap()
            .contains(&json!({"model": "user", "id": "alice"}))
    );

    let sent = ok_json(
        d,
        &[
            "send",
            "--room",
            "general",
            "--user",
            "bob",
            "what the heck",
            "--json",
        ],
    );
    assert_eq!(sent["status"], "sent");
    assert_eq!(sent["message"]["text"], "what the ****");
    assert!(
        sent["apps"]
            .as_array()
            .unwrap()
            .iter()
            .any(|a| a["app"] == "word-filter" && a["outcome"] == "modified")
    );
    let strikes = ok_json(d, &["data", "word-filter", "--json"]);
    assert_eq!(strikes[0]["data"], json!({"user": "bob", "count": 1}));

    // HANGAR_DATA_DIR works like --data-dir.
    let out = Command::new(hangar_bin())
        .env("HANGAR_DATA_DIR", d)
        .args([
            "send",
            "--room",
            "general",
            "--user",
            "carol",
            "@dave++ thanks",
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let karma = ok_json(d, &["data", "karma", "--json"]);
    assert_eq!(karma[0]["data"], json!({"user": "dave", "score": 1}));
    assert!(
        karma[0]["associations"]
            .as_array()
            .unwrap()
            .contains(&json!({"model": "user", "id": "dave"}))
    );
}

#[test]
fn a_bad_package_changes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    install_examples(d);
    let junk = d.join("junk.wasm");
    std::fs::write(&junk, b"these are not the bytes you are looking for").unwrap();
    let core = d.join("core.wasm");
    std::fs::write(&core, b"\0asm\x01\0\0\0").unwrap();
    let truncated = d.join("truncated.wasm");
    let bytes = std::fs::read(guests::KARMA).unwrap();
    std::fs::write(&truncated, &bytes[..bytes.len() / 2]).unwrap();
    let before: Vec<_> = std::fs::read_dir(d.join("apps"))
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    for (file, says) in [
        (&junk, "not a valid WebAssembly file"),
        (&core, "core wasm module, not a component"),
        (&truncated, "not a valid WebAssembly file"),
        (&Path::new(guests::KARMA).to_path_buf(), "already installed"),
    ] {
        let out = hangar(d, &["install", file.to_str().unwrap()]);
        assert!(!out.status.success());
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains(says), "{file:?}: {err}");
    }
    let after: Vec<_> = std::fs::read_dir(d.join("apps"))
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(before, after);
    assert_eq!(ok_json(d, &["list", "--json"]).as_array().unwrap().len(), 3);
}

#[test]
fn concurrent_processes_never_lose_a_karma_increment() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().to_path_buf();
    let out = hangar(&d, &["install", guests::KARMA]);
    assert!(out.status.success());
    let (processes, messages) = (4, 5);
    let handles: Vec<_> = (0..processes)
        .map(|p| {
            let d = d.clone();
            std::thread::spawn(move || {
                for _ in 0..messages {
                    let out = hangar(
                        &d,
                        &[
                            "send",
                            "--room",
                            "general",
                            "--user",
                            &format!("p{p}"),
                            "@bob++",
                            "--json",
                        ],
                    );
                    assert!(
                        out.status.success(),
                        "{}",
                        String::from_utf8_lossy(&out.stderr)
                    );
                    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
                    assert_eq!(report["apps"][0]["outcome"], "ok", "{report}");
                }
            })
        })
        .collect();
    for h in handles {
        h.join().unwrap();
    }
    let karma = ok_json(&d, &["data", "karma", "--json"]);
    assert_eq!(karma[0]["data"]["score"], processes * messages);
}

fn run(dir: &Path, args: &[&str]) -> String {
    hangar_tests::hangar_ok(dir, args)
}

fn fails(dir: &Path, args: &[&str]) -> String {
    let out = hangar(dir, args);
    assert!(!out.status.success(), "hangar {args:?} should fail");
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[test]
fn lifecycle_commands_keep_data_until_uninstall() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    run(d, &["install", guests::KARMA]);
    run(
        d,
        &["send", "--room", "general", "--user", "carol", "@dave++"],
    );
    let disabled = ok_json(d, &["disable", "karma", "--json"]);
    assert_eq!(disabled["status"], "disabled");
    assert_eq!(
        ok_json(d, &["info", "karma", "--json"])["status_reason"],
        "disabled by the operator"
    );
    let sent = ok_json(
        d,
        &[
            "send", "--room", "general", "--user", "carol", "@dave++", "--json",
        ],
    );
    assert_eq!(sent["apps"], json!([]), "a disabled app gets no events");
    assert!(
        fails(
            d,
            &["command", "--room", "general", "--user", "a", "/karma dave"]
        )
        .contains("/karma")
    );
    assert_eq!(
        ok_json(d, &["enable", "karma", "--json"])["status"],
        "enabled"
    );
    assert_eq!(
        ok_json(d, &["data", "karma", "--json"])[0]["data"]["score"],
        1
    );

    // update with a rebuilt karma (a new version of the same id): data kept.
    let patched = hangar_tests::patched(
        guests::KARMA,
        r#""version": "0.1.0""#,
        r#""version": "0.2.0""#,
    );
    let newer = d.join("karma-0.2.0.wasm");
    std::fs::write(&newer, patched).unwrap();
    assert_eq!(
        ok_json(d, &["update", newer.to_str().unwrap(), "--json"])["version"],
        "0.2.0"
    );
    assert_eq!(
        ok_json(d, &["data", "karma", "--json"])[0]["data"]["score"],
        1
    );
    let info = ok_json(d, &["info", "karma", "--json"]);
    assert_eq!(info["records"], 1);
    assert!(
        info["calls"]
            .as_array()
            .unwrap()
            .iter()
            .any(|c| c["handler"] == "execute-post-message-sent" && c["calls"] == 1),
        "{info}"
    );

    run(d, &["uninstall", "karma"]);
    assert!(!d.join("apps/karma").exists());
    assert_eq!(ok_json(d, &["list", "--json"]), json!([]));
    assert!(fails(d, &["data", "karma"]).contains("no app 'karma' is installed"));
}

#[test]
fn settings_logs_and_history_commands() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    run(d, &["install", guests::WORD_FILTER]);
    let settings = ok_json(d, &["settings", "word-filter", "--json"]);
    assert_eq!(settings["mode"], "mask");
    let err = fails(d, &["settings", "word-filter", "mode", "shout"]);
    assert!(err.contains("mode") && err.contains("block"), "{err}");
    assert_eq!(
        ok_json(d, &["settings", "word-filter", "--json"])["mode"],
        "mask",
        "a refused value changes nothing"
    );
    run(d, &["settings", "word-filter", "mode", "block"]);
    let sent = ok_json(
        d,
        &[
            "send", "--room", "general", "--user", "bob", "heck no", "--json",
        ],
    );
    assert_eq!(sent["status"], "prevented");
    assert_eq!(sent["prevented_by"], "word-filter");
    run(
        d,
        &["send", "--room", "general", "--user", "bob", "hello there"],
    );
    let history = ok_json(d, &["history", "--room", "general", "--json"]);
    let texts: Vec<&str> = history
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["text"].as_str().unwrap())
        .collect();
    assert_eq!(texts, vec!["hello there"]);
    let logs = run(d, &["logs", "word-filter", "--json"]);
    assert!(
        logs.lines().any(|l| l.contains("installed version 0.1.0")),
        "{logs}"
    );
}

#[test]
fn a_missing_permission_is_named_in_send_json_and_in_logs() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let installed = run(d, &["install", guests::BARE]);
    assert!(
        installed.contains("permissions: slashcommand"),
        "{installed}"
    );
    let sent = ok_json(
        d,
        &["send", "--room", "general", "--user", "bob", "hi", "--json"],
    );
    let bare = &sent["apps"][0];
    assert_eq!(bare["app"], "bare");
    assert_eq!(bare["denied"], json!(["persistence"]), "{sent}");
    let logs = run(d, &["logs", "bare", "--json"]);
    assert!(
        logs.contains("lacks the 'persistence' permission"),
        "{logs}"
    );
    assert!(logs.contains("permission 'persistence' denied"), "{logs}");
}

/// Run `cargo test` for the crate or workspace at `manifest`, sharing this
/// build's target dir (its compiled host crates are reused; cargo runs
/// builds there one at a time). Whether it passed, and its output.
fn cargo_test(manifest: &Path) -> (bool, String) {
    cargo_test_with(manifest, &[])
}

/// [`cargo_test`] with `env` set for the tests.
pub(crate) fn cargo_test_with(manifest: &Path, env: &[(&str, &str)]) -> (bool, String) {
    let target = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target");
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let out = Command::new(cargo)
        .args(["test", "--manifest-path"])
        .arg(manifest)
        .envs(env.iter().copied())
        .env("CARGO_TARGET_DIR", &target)
        .env_remove("RUSTC_WORKSPACE_WRAPPER")
        .env_remove("RUSTFLAGS")
        .env_remove("CARGO_ENCODED_RUSTFLAGS")
        .output()
        .unwrap();
    let log = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), log)
}

/// The example apps' own tests (each runs its app in the real host with the
/// test kit) pass: what an app developer's CI runs.
#[test]
fn the_example_apps_pass_their_own_tests() {
    let manifest =
        std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../example-apps/Cargo.toml");
    let (ok, log) = cargo_test(&manifest);
    assert!(ok, "cargo test of the example apps failed:\n{log}");
    for test in EXAMPLE_TESTS {
        assert!(
            log.contains(&format!("test {test} ... ok")),
            "{test} did not pass:\n{log}"
        );
    }
}

/// Tests the example apps' own suites must run and pass.
pub(crate) const EXAMPLE_TESTS: [&str; 7] = [
    "a_person_is_welcomed_once_in_a_direct_room",
    "posts_a_summary_in_a_thread_then_edits_it_in_place",
    "counts_karma_and_reports_it",
    "stores_feedback_and_lists_it",
    "masks_then_blocks_and_counts_strikes",
    "an_event_is_stored_and_posted_once",
    "a_reminder_comes_once_when_due",
];

#[test]
fn new_then_build_then_install_works_unchanged() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let app = d.join("hello");
    let out = Command::new(hangar_bin())
        .current_dir(d)
        .args(["new", "hello"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // Share the guests' target dir so the SDK's dependencies are built once.
    let target = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target/guests");
    let out = Command::new(hangar_bin())
        .args(["build", app.to_str().unwrap(), "--json"])
        .env("CARGO_TARGET_DIR", &target)
        .env_remove("RUSTC_WORKSPACE_WRAPPER")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let built: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(built[0]["app"], "hello");
    let wasm = built[0]["path"].as_str().unwrap();
    run(d, &["install", wasm]);
    let reply = run(
        d,
        &["command", "--room", "general", "--user", "alice", "/hello"],
    );
    assert!(reply.contains("hello, alice! (greeting #1)"), "{reply}");
    // The scaffold's own test passes: `cargo test` builds the app and runs
    // it in the real host with the test kit.
    let (ok, log) = cargo_test(&app.join("Cargo.toml"));
    assert!(ok, "the new app's cargo test failed:\n{log}");
    assert!(log.contains("test greets_and_counts ... ok"), "{log}");
    // `new` refuses to overwrite, and refuses ids that are not safe.
    let again = Command::new(hangar_bin())
        .current_dir(d)
        .args(["new", "hello"])
        .output()
        .unwrap();
    assert!(!again.status.success());
    let bad = Command::new(hangar_bin())
        .current_dir(d)
        .args(["new", "Bad_Name"])
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&bad.stderr).contains("cannot be an app id"));
}

#[test]
fn logs_follow_prints_new_lines_as_they_arrive() {
    use std::io::BufRead;
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    run(d, &["install", guests::FEEDBACK]);
    let mut child = hangar_tests::hangar_at(d)
        .args(["logs", "feedback", "--follow", "--json"])
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in std::io::BufReader::new(stdout).lines() {
            if tx.send(line.unwrap()).is_err() {
                break;
            }
        }
    });
    let first = rx.recv_timeout(std::time::Duration::from_secs(20)).unwrap();
    assert!(first.contains("installed version"), "{first}");
    run(
        d,
        &[
            "command",
            "--room",
            "general",
            "--user",
            "alice",
            "/feedback hello",
        ],
    );
    let next = rx.recv_timeout(std::time::Duration::from_secs(20)).unwrap();
    child.kill().unwrap();
    let _ = child.wait();
    assert!(next.contains("feedback from alice"), "{next}");
}

#[test]
fn demo_runs_every_step_and_exits_zero() {
    let dir = tempfile::tempdir().unwrap();
    let out = Command::new(hangar_bin())
        .args(["demo", "--data-dir"])
        .arg(dir.path())
        .env_remove("RUSTC_WORKSPACE_WRAPPER")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stdout.contains("demo complete: every step behaved as shown"),
        "{stdout}"
    );
    assert!(!stdout.contains("FAILED"));
    assert!(
        !stdout.contains("\x1b["),
        "no colour when stdout is not a terminal"
    );
}

#[test]
fn config_shows_defaults_and_the_operator_file() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let defaults = ok_json(d, &["config", "--json"]);
    assert_eq!(defaults["deadlines-ms"]["pre-message"], 500);
    std::fs::write(
        d.join("config.json"),
        r#"{"deadlines-ms": {"pre-message": 250}, "fail-closed": ["pre-message"], "app-deadlines-ms": {"karma": {"post-message": 80}}}"#,
    )
    .unwrap();
    let c = ok_json(d, &["config", "--json"]);
    assert_eq!(c["deadlines-ms"]["pre-message"], 250);
    assert_eq!(c["fail-closed"], json!(["pre-message"]));
    assert_eq!(c["app-deadlines-ms"]["karma"]["post-message"], 80);
    std::fs::write(d.join("config.json"), r#"{"deadlines-ms": {"pre-msg": 1}}"#).unwrap();
    let err = fails(d, &["list"]);
    assert!(
        err.contains("pre-msg") && err.contains("config.json"),
        "{err}"
    );
}
