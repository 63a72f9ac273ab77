//! Helpers shared by the benchmarks: a bridge that does no I/O and hosts
//! with many copies of the bench guest.

use std::path::Path;
use std::sync::Arc;

use hangar_host::{Bridge, Effect, Host, HostBuilder, Message, Room, User};

/// A bridge with no storage: benchmarks measure the host, not a chat.
pub struct NullChat;

impl Bridge for NullChat {
    fn room(&self, id: &str) -> Result<Option<Room>, String> {
        Ok(Some(Room {
            id: id.into(),
            name: id.into(),
            kind: Default::default(),
            creator: String::new(),
        }))
    }
    fn user(&self, _id: &str) -> Result<Option<User>, String> {
        Ok(None)
    }
    fn message(&self, _id: &str) -> Result<Option<Message>, String> {
        Ok(None)
    }
    fn store_message(&self, _message: &Message) -> Result<String, String> {
        Ok("m".into())
    }
    fn deliver(&self, _effect: &Effect) -> Result<(), String> {
        Ok(())
    }
}

/// Which handlers a bench copy declares.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Events {
    /// post-message-sent only (and the command).
    Post,
    /// pre-message-sent-modify only (and the command).
    Modify,
}

/// The bench guest as app `bench{index:02}` with the command
/// `/bench{index:02}`, declaring `events` (and its command).
pub fn bench_package(index: usize, events: Events) -> Vec<u8> {
    assert!(index < 100, "bench copies are bench00 to bench99");
    // `"bench00"` is the manifest's id and its command's name.
    let id = format!(r#""bench{index:02}""#);
    let bytes = crate::patched(crate::guests::BENCH, r#""bench00""#, &id);
    // The SDK's section lists both message handlers, then execute-command:
    // `["execute-pre-message-sent-modify","execute-post-message-sent","execute-command"]`.
    // Blank one message handler (same length, still JSON) so the copy
    // handles only the other.
    match events {
        Events::Post => crate::patch_all(
            &bytes,
            br#""execute-pre-message-sent-modify","#,
            &[b' '; 34],
        ),
        Events::Modify => crate::patch_all(&bytes, br#","execute-post-message-sent""#, &[b' '; 28]),
    }
}

/// A host on `dir` with `n` bench apps installed.
pub fn bench_host(dir: &Path, n: usize, events: Events, workers: usize) -> Host {
    bench_host_on(dir, None, n, events, workers)
}

/// [`bench_host`], with its stores and registry in the PostgreSQL
/// database `store` when given.
pub fn bench_host_on(
    dir: &Path,
    store: Option<&str>,
    n: usize,
    events: Events,
    workers: usize,
) -> Host {
    let mut builder = HostBuilder::new(dir)
        .cache_dir(crate::cache_dir())
        .workers(workers);
    if let Some(url) = store {
        builder = builder.postgres(url);
    }
    let host = builder.build(Arc::new(NullChat)).expect("host");
    for i in 0..n {
        let package = hangar_host::Package::from_bytes(bench_package(i, events)).expect("package");
        host.install_package(package).expect("install");
    }
    host
}

/// The command line that runs app `bench{index:02}`'s command (which
/// creates one record); no other app is called.
pub fn command_line(index: usize) -> String {
    format!("/bench{index:02}")
}

/// A message from `bench` in `general`.
pub fn message(text: &str) -> Message {
    Message {
        room: "general".into(),
        sender: "bench".into(),
        text: text.into(),
        ..Message::default()
    }
}
