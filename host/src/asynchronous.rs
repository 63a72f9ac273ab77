//! `async` variants of the dispatch calls, for tokio servers (feature
//! `tokio`). Each runs the blocking call on tokio's blocking pool, so the
//! server's async workers never wait for a wasm instance or SQLite.

use crate::error::{Error, Result};
use crate::report::{CommandReport, SendReport};
use crate::{Host, Message};

async fn blocking<T: Send + 'static>(f: impl FnOnce() -> Result<T> + Send + 'static) -> Result<T> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| Error::InvalidInput(format!("the dispatch task failed: {e}")))?
}

impl Host {
    /// [`Host::send`] without blocking the async runtime.
    pub async fn send_async(&self, message: Message) -> Result<SendReport> {
        let host = self.clone();
        blocking(move || host.send(message)).await
    }

    /// [`Host::command`] without blocking the async runtime.
    pub async fn command_async(
        &self,
        room: &str,
        sender: &str,
        line: &str,
    ) -> Result<CommandReport> {
        let (host, room, sender, line) = (
            self.clone(),
            room.to_string(),
            sender.to_string(),
            line.to_string(),
        );
        blocking(move || host.command(&room, &sender, &line)).await
    }
}
