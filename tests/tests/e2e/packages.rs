//! Bad packages of every kind: a clear error, nothing installed, and the
//! data directory exactly as it was.

use std::collections::BTreeMap;
use std::path::Path;

use hangar_tests::{guests, host_at, patch_all};

/// Every file under `dir` with its size, except SQLite's WAL side files.
fn snapshot(dir: &Path) -> BTreeMap<String, u64> {
    let mut out = BTreeMap::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap().flatten() {
            let p = e.path();
            let name = p.strip_prefix(dir).unwrap().display().to_string();
            if p.is_dir() {
                stack.push(p);
            } else if !name.ends_with("-wal")
                && !name.ends_with("-shm")
                && !name.starts_with("bad/")
            {
                out.insert(name, e.metadata().unwrap().len());
            }
        }
    }
    out
}

#[test]
fn every_kind_of_bad_package_is_refused_and_changes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    {
        // A data dir with one app and some data in it.
        let (host, _chat) = host_at(d);
        host.install(guests::KARMA.as_ref()).unwrap();
        host.send_message("general", "carol", "@dave++").unwrap();
    }
    let bad = d.join("bad");
    std::fs::create_dir(&bad).unwrap();
    let probe = std::fs::read(guests::PROBE).unwrap();
    let oversized = bad.join("oversized.wasm");
    std::fs::File::create(&oversized)
        .unwrap()
        .set_len(65 << 20)
        .unwrap();
    let cases: Vec<(&str, Vec<u8>, &str)> = vec![
        (
            "random",
            b"\x13\x37 random bytes, not wasm at all".to_vec(),
            "not a valid WebAssembly file",
        ),
        ("empty", Vec::new(), "not a valid WebAssembly file"),
        (
            "truncated",
            probe[..probe.len() / 3].to_vec(),
            "not a valid WebAssembly file",
        ),
        (
            "core-module",
            b"\0asm\x01\0\0\0".to_vec(),
            "core wasm module, not a component",
        ),
        (
            "other-world",
            std::fs::read(guests::OTHERWORLD).unwrap(),
            "does not export the hangar:app world",
        ),
        (
            "no-manifest",
            patch_all(&probe, b"hangar:manifest", b"hangar:manifesx"),
            "no 'hangar:manifest' section",
        ),
        (
            "bad-manifest",
            patch_all(&probe, br#""id": "probe""#, br#""ix": "probe""#),
            "unknown field `ix`",
        ),
        (
            "bad-json",
            patch_all(&probe, br#""id": "probe""#, br#""id": "probe,"#),
            "invalid manifest",
        ),
        (
            "dot-dot-id",
            patch_all(&probe, br#""id": "probe""#, br#""id": "../pr""#),
            "id:",
        ),
        (
            "slash-id",
            patch_all(&probe, br#""id": "probe""#, br#""id": "/prob""#),
            "id:",
        ),
        (
            "nul-id",
            patch_all(&probe, br#""id": "probe""#, br#""id":"\u0000""#),
            "id:",
        ),
        (
            "duplicate-id",
            std::fs::read(guests::KARMA).unwrap(),
            "already installed",
        ),
    ];
    // Opening the data dir from the CLI once fills its compile cache.
    let listed = hangar_tests::hangar_at(d).arg("list").output().unwrap();
    assert!(listed.status.success());
    let before = snapshot(d);
    for (name, bytes, says) in &cases {
        let path = bad.join(format!("{name}.wasm"));
        std::fs::write(&path, bytes).unwrap();
        let out = hangar_tests::hangar_at(d)
            .args(["install", path.to_str().unwrap()])
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{name} was installed");
        assert!(err.contains(says), "{name}: expected {says:?} in: {err}");
        assert!(err.contains("error:"), "{name}: {err}");
        assert_eq!(snapshot(d), before, "{name} changed the data dir");
    }
    let out = hangar_tests::hangar_at(d)
        .args(["install", oversized.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&out.stderr).contains("over the package limit"));
    assert_eq!(snapshot(d), before);
    let (host, _chat) = host_at(d);
    assert_eq!(host.list().unwrap().len(), 1);
    assert_eq!(
        host.command("general", "a", "/karma dave")
            .unwrap()
            .report
            .error,
        None
    );
}
