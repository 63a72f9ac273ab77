//! The `hangar` binary as operators use it: separate processes sharing one
//! data directory.

use std::path::Path;
use std::process::{Command, Output};

use hangar_tests::{guests, hangar_bin};
use serde_json::{Value, json};

fn hangar(dir: &Path, args: &[&str]) -> Output {
    Command::new(hangar_bin())
        .arg("--data-dir")
        .arg(dir)
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
