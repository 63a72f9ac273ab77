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
    /// post-message-sent only.
    Post,
    /// pre-message-sent-modify only.
    Modify,
}

/// The bench guest as app `bench{index:02}` declaring `events`.
pub fn bench_package(index: usize, events: Events) -> Vec<u8> {
    let id = format!(r#""id": "bench{index:02}""#);
    let bytes = crate::patched(crate::guests::BENCH, r#""id": "bench00""#, &id);
    // The SDK's section lists both handlers; blank one (same length, still
    // JSON) so the copy handles only the other.
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
    let host = HostBuilder::new(dir)
        .cache_dir(crate::cache_dir())
        .workers(workers)
        .build(Arc::new(NullChat))
        .expect("host");
    for i in 0..n {
        let package = hangar_host::Package::from_bytes(bench_package(i, events)).expect("package");
        host.install_package(package).expect("install");
    }
    host
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
