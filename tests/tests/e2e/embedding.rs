//! The embedding API from async code: a tokio server dispatching
//! concurrently through `send_async`, with its own `Bridge`.

use std::sync::Arc;

use hangar_host::{HostBuilder, Message, Outcome, SendStatus};
use hangar_tests::{cache_dir, guests, texts};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn async_dispatch_from_many_tasks() {
    let dir = tempfile::tempdir().unwrap();
    let chat = Arc::new(hangar_tests::bench::NullChat);
    let host = HostBuilder::new(dir.path())
        .cache_dir(cache_dir())
        .build(chat)
        .unwrap();
    host.install(guests::KARMA.as_ref()).unwrap();
    let tasks: Vec<_> = (0..20)
        .map(|i| {
            let host = host.clone();
            tokio::spawn(async move {
                let message = Message {
                    room: "general".into(),
                    sender: format!("u{i}"),
                    text: "@dave++".into(),
                    ..Message::default()
                };
                host.send_async(message).await.unwrap()
            })
        })
        .collect();
    for t in tasks {
        let report = t.await.unwrap();
        assert_eq!(report.status, SendStatus::Sent);
        assert_eq!(report.apps[0].outcome, Outcome::Ok);
    }
    let reply = host
        .command_async("general", "alice", "/karma dave")
        .await
        .unwrap();
    assert_eq!(texts(&reply.effects), vec!["dave has 20 karma"]);
}
