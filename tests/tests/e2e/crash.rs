//! Several host processes on one data dir, killed with SIGKILL at random
//! moments of heavy write traffic: every database stays intact, no handler
//! is ever half applied, no message of an uncommitted handler is delivered,
//! and the registry stays consistent.

use std::collections::HashMap;
use std::hash::{BuildHasher, Hasher};
use std::path::Path;
use std::process::{Child, Stdio};
use std::time::Duration;

use hangar_tests::{guests, host_at};

fn random_below(n: u64) -> u64 {
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u64(n);
    h.finish() % n
}

fn spawn(dir: &Path, args: &[&str]) -> Child {
    hangar_tests::hangar_at(dir)
        .args(args)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap()
}

fn integrity(path: &Path) {
    let conn = rusqlite::Connection::open(path).unwrap();
    let verdict: String = conn
        .query_row("PRAGMA integrity_check", [], |r| r.get(0))
        .unwrap();
    assert_eq!(verdict, "ok", "{}", path.display());
}

const BATCH: usize = 12;

#[test]
fn sigkill_during_heavy_writes_never_leaves_a_partial_handler() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    {
        let (host, _chat) = host_at(d);
        host.install(guests::PROBE.as_ref()).unwrap();
        host.install(guests::KARMA.as_ref()).unwrap();
    }
    // Warm the data dir's own compile cache so processes reach the handlers.
    assert!(
        hangar_tests::hangar_at(d)
            .arg("list")
            .status()
            .unwrap()
            .success()
    );

    let rounds = 40;
    let mut killed = 0;
    let mut finished = 0;
    for round in 0..rounds {
        let mut children = Vec::new();
        for p in 0..3 {
            let tag = format!("r{round}p{p}");
            children.push(spawn(
                d,
                &[
                    "command",
                    "--room",
                    "general",
                    "--user",
                    "w",
                    &format!("/p batch {tag} {BATCH}"),
                ],
            ));
        }
        children.push(spawn(
            d,
            &["send", "--room", "general", "--user", "w", "@bob++"],
        ));
        if round % 4 == 0 {
            // Lifecycle traffic too: install or uninstall an app mid-kill.
            children.push(spawn(d, &["install", guests::HOOKS]));
            children.push(spawn(d, &["uninstall", "hooks"]));
        }
        std::thread::sleep(Duration::from_millis(40 + random_below(160)));
        for mut c in children {
            match c.try_wait().unwrap() {
                Some(_) => finished += 1,
                None => {
                    c.kill().unwrap(); // SIGKILL
                    c.wait().unwrap();
                    killed += 1;
                }
            }
        }
    }
    assert!(
        killed >= rounds / 2,
        "the kills must land: {killed} killed, {finished} finished"
    );

    // Every database passes integrity_check.
    integrity(&d.join("registry.db"));
    integrity(&d.join("chat.db"));
    for app in std::fs::read_dir(d.join("apps")).unwrap().flatten() {
        let store = app.path().join("store.db");
        if store.exists() {
            integrity(&store);
        }
    }

    // Each batch handler's writes are all there or none.
    let (host, chat) = host_at(d);
    let mut per_tag: HashMap<String, usize> = HashMap::new();
    for r in host.records("probe").unwrap() {
        let v: serde_json::Value = serde_json::from_str(&r.data).unwrap();
        *per_tag
            .entry(v["tag"].as_str().unwrap().to_string())
            .or_default() += 1;
    }
    for (tag, n) in &per_tag {
        assert_eq!(*n, BATCH, "batch {tag} is partial");
    }
    // A delivered batch message means its handler committed.
    let history = chat.history("general", 100_000).unwrap();
    let mut delivered = 0;
    for m in &history {
        if let Some(tag) = m.message.text.strip_prefix("batch ") {
            delivered += 1;
            assert_eq!(
                per_tag.get(tag),
                Some(&BATCH),
                "message of an uncommitted handler {tag} was delivered"
            );
        }
    }
    // karma equals the number of committed @bob++ sends: every stored
    // message from "w" that reached post-message-sent and committed.
    let karma: i64 = host.records("karma").unwrap().first().map_or(0, |r| {
        serde_json::from_str::<serde_json::Value>(&r.data).unwrap()["score"]
            .as_i64()
            .unwrap()
    });
    let sends = history
        .iter()
        .filter(|m| m.message.text == "@bob++")
        .count() as i64;
    assert!(karma <= sends, "karma {karma} > {sends} stored sends");

    // The registry is consistent: every app loads, each app dir holds just
    // its package and store, and nothing else is left in apps/.
    for app in host.list().unwrap() {
        assert_ne!(app.status, hangar_host::Status::Invalid, "{app:?}");
        let files: Vec<String> = std::fs::read_dir(d.join("apps").join(&app.id))
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|f| f.ends_with(".wasm"))
            .collect();
        assert_eq!(files.len(), 1, "{}: {files:?}", app.id);
    }
    let ids: Vec<String> = host.list().unwrap().into_iter().map(|a| a.id).collect();
    for entry in std::fs::read_dir(d.join("apps")).unwrap().flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        assert!(ids.contains(&name), "leftover {name} in apps/");
    }
    println!(
        "crash test: {rounds} rounds, {killed} processes killed, {finished} finished, {} complete batches, {delivered} batch messages delivered, karma {karma} of {sends} stored sends",
        per_tag.len()
    );
}
