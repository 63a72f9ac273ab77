//! A full disk and a read-only data dir: writes fail with a clear error,
//! nothing is corrupted, and the host keeps serving reads. Uses a small
//! tmpfs, so it needs root (CI runs as root); elsewhere it says it skipped.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;

use hangar_host::{HostBuilder, Outcome, RefChat};
use hangar_tests::{cache_dir, guests, texts};

struct Mount(PathBuf);

impl Drop for Mount {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(&self.0).status();
    }
}

fn mount_tmpfs(at: &Path, size: &str) -> Option<Mount> {
    let ok = Command::new("mount")
        .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
        .arg(at)
        .status()
        .is_ok_and(|s| s.success());
    ok.then(|| Mount(at.to_path_buf()))
}

fn integrity(path: &Path) {
    let conn =
        rusqlite::Connection::open_with_flags(path, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)
            .unwrap();
    let verdict: String = conn
        .query_row("PRAGMA integrity_check", [], |r| r.get(0))
        .unwrap();
    assert_eq!(verdict, "ok", "{}", path.display());
}

#[test]
fn full_disk_and_read_only_data_dir() {
    let base = tempfile::tempdir().unwrap();
    let data = base.path().join("data");
    std::fs::create_dir(&data).unwrap();
    let Some(_mount) = mount_tmpfs(&data, "4m") else {
        eprintln!("skipped: mounting a tmpfs needs root");
        return;
    };
    // The CLI's reference chat exists in the data dir (for the read-only
    // part), but this host's chat lives elsewhere so only the apps' stores
    // see the full disk.
    drop(RefChat::open(&data).unwrap());
    let chat = Arc::new(RefChat::open(&base.path().join("chat")).unwrap());
    let host = HostBuilder::new(&data)
        .cache_dir(cache_dir())
        .build(chat.clone())
        .unwrap();
    host.install(guests::KARMA.as_ref()).unwrap();
    host.send_message("general", "carol", "@dave++").unwrap();

    // Fill the disk.
    let chunk = vec![7u8; 64 * 1024];
    let mut filler = std::fs::File::create(data.join("filler")).unwrap();
    while std::io::Write::write_all(&mut filler, &chunk).is_ok() {}
    drop(filler);

    for _ in 0..3 {
        let r = host.send_message("general", "carol", "@dave++").unwrap();
        let karma = r.apps.iter().find(|a| a.app == "karma").unwrap();
        assert_eq!(karma.outcome, Outcome::Error);
        let err = karma.error.as_deref().unwrap();
        assert!(err.contains("full"), "{err}");
    }
    // Reads still work, inside handlers and out.
    assert_eq!(
        texts(&host.command("general", "x", "/karma dave").unwrap().effects),
        vec!["dave has 1 karma"]
    );
    assert_eq!(host.records("karma").unwrap().len(), 1);
    integrity(&data.join("apps/karma/store.db"));

    // Space again: writes work again.
    std::fs::remove_file(data.join("filler")).unwrap();
    host.send_message("general", "carol", "@dave++").unwrap();
    assert_eq!(
        texts(&host.command("general", "x", "/karma dave").unwrap().effects),
        vec!["dave has 2 karma"]
    );

    // Read-only data dir: a read-only view of the same directory.
    drop(host);
    let ro = base.path().join("ro");
    std::fs::create_dir(&ro).unwrap();
    assert!(
        Command::new("mount")
            .arg("--bind")
            .arg(&data)
            .arg(&ro)
            .status()
            .unwrap()
            .success()
    );
    let _ro_mount = Mount(ro.clone());
    assert!(
        Command::new("mount")
            .args(["-o", "remount,bind,ro"])
            .arg(&ro)
            .status()
            .unwrap()
            .success()
    );
    let host = HostBuilder::new(&ro)
        .cache_dir(cache_dir())
        .build(chat.clone())
        .unwrap();
    let r = host.send_message("general", "carol", "@dave++").unwrap();
    let karma = r.apps.iter().find(|a| a.app == "karma").unwrap();
    assert_eq!(karma.outcome, Outcome::Error);
    assert!(
        karma.error.as_deref().unwrap().contains("read-only"),
        "{:?}",
        karma.error
    );
    assert_eq!(
        texts(&host.command("general", "x", "/karma dave").unwrap().effects),
        vec!["dave has 2 karma"]
    );
    assert!(
        host.install(guests::PROBE.as_ref()).is_err(),
        "nothing can be installed"
    );
    // A separate `hangar` process on the read-only dir starts and reads too.
    let out = hangar_tests::hangar_at(&ro)
        .args(["data", "karma", "--json"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("\"score\": 2"));
    drop(host);
    integrity(&data.join("apps/karma/store.db"));
    integrity(&data.join("registry.db"));
}
