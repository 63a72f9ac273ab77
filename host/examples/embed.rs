//! Embedding Hangar in an async chat server: implement `Bridge`, build a
//! `Host`, call it at each event from tokio without blocking the runtime.
//!
//! ```sh
//! cargo run -p hangar-host --features tokio --example embed -- example-apps/target/wasm32-wasip2/release/karma.wasm
//! ```

use std::sync::{Arc, Mutex};

use hangar_host::{Bridge, Effect, HostBuilder, Message, Room, RoomKind, User};

/// The chat server's side: here, messages kept in memory.
#[derive(Default)]
struct MyChat {
    messages: Mutex<Vec<Message>>,
    delivered: Mutex<Vec<Effect>>,
}

impl Bridge for MyChat {
    fn room(&self, id: &str) -> Result<Option<Room>, String> {
        Ok(Some(Room {
            id: id.into(),
            name: format!("#{id}"),
            kind: RoomKind::Channel,
            creator: String::new(),
        }))
    }
    fn user(&self, id: &str) -> Result<Option<User>, String> {
        Ok(Some(User {
            id: id.into(),
            username: id.into(),
            display_name: id.into(),
            is_bot: false,
        }))
    }
    fn message(&self, id: &str) -> Result<Option<Message>, String> {
        Ok(self
            .messages
            .lock()
            .unwrap()
            .iter()
            .find(|m| m.id == id)
            .cloned())
    }
    fn store_message(&self, message: &Message) -> Result<String, String> {
        let mut messages = self.messages.lock().unwrap();
        let mut m = message.clone();
        m.id = format!("m{}", messages.len() + 1);
        messages.push(m.clone());
        Ok(m.id)
    }
    fn deliver(&self, effect: &Effect) -> Result<(), String> {
        self.delivered.lock().unwrap().push(effect.clone());
        Ok(())
    }
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let app = std::env::args()
        .nth(1)
        .ok_or("usage: embed <app.wasm> (build one with `hangar build example-apps`)")?;
    let data = tempfile::tempdir()?;
    let chat = Arc::new(MyChat::default());
    let host = HostBuilder::new(data.path()).build(chat.clone())?;
    let installed = host.install(app.as_ref())?;
    println!("installed {} {}", installed.id, installed.version);

    // Events arrive concurrently; each dispatch runs on the blocking pool.
    let mut tasks = Vec::new();
    for user in ["carol", "erin", "bob"] {
        let host = host.clone();
        tasks.push(tokio::spawn(async move {
            let message = Message {
                room: "general".into(),
                sender: user.into(),
                text: "@dave++ thanks".into(),
                ..Message::default()
            };
            host.send_async(message).await
        }));
    }
    for t in tasks {
        let report = t.await??;
        for a in &report.apps {
            println!(
                "{} {} -> {:?} in {} us",
                a.app, a.handler, a.outcome, a.duration_us
            );
        }
    }
    if installed.commands.iter().any(|c| c == "karma") {
        let reply = host
            .command_async("general", "alice", "/karma dave")
            .await?;
        println!("{:?}", reply.effects);
    }
    println!(
        "{} messages stored, {} effects delivered",
        chat.messages.lock().unwrap().len(),
        chat.delivered.lock().unwrap().len()
    );
    Ok(())
}
