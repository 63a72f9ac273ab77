//! The benchmarks' guest. post-message-sent does nothing, or creates one
//! record when the text is "write"; pre-message-sent-modify returns the
//! message unchanged; its command, named like its id (`/bench00`), creates
//! one record. Its `hangar:exports` section lists the handlers in this
//! order: `"execute-pre-message-sent-modify","execute-post-message-sent","execute-command","execute-post-room-user-joined"`
//! (a user joining: a no-op, for the chat-event benchmark), then
//! `"handle-request"` (public endpoint `/noop`: 200 "ok", for the HTTP
//! benchmark).
//! Benchmarks patch `"bench00"` (the id and the command, `bench00` to
//! `bench99`) to install many copies, each with a command of its own, and
//! blank one of the two message handler names in the section with spaces to
//! install copies that handle only the other message event.

use hangar_sdk::http::{HttpRequest, HttpResponse};
use hangar_sdk::serde_json::json;
use hangar_sdk::{
    Association, Command, Commands, Endpoints, Events, Membership, Message, Messages, Modifier,
    Result, Writer,
};

struct Bench;

#[hangar_sdk::handlers]
impl Messages for Bench {
    fn pre_message_sent_modify(message: Message, _writer: &Writer) -> Result<Message> {
        Ok(message)
    }

    fn post_message_sent(message: &Message, writer: &Writer, _modifier: &Modifier) -> Result<()> {
        if message.text == "write" {
            writer.create_with(&json!({"n": 1}), &[Association::misc("bench")])?;
        }
        Ok(())
    }
}

#[hangar_sdk::handlers]
impl Commands for Bench {
    /// Creates one record, as post-message-sent does for "write".
    fn execute(_command: &Command, writer: &Writer, _modifier: &Modifier) -> Result<()> {
        writer.create_with(&json!({"n": 1}), &[Association::misc("bench")])?;
        Ok(())
    }
}

#[hangar_sdk::handlers]
impl Events for Bench {
    fn user_joined(_joined: &Membership, _writer: &Writer, _modifier: &Modifier) -> Result<()> {
        Ok(())
    }
}

#[hangar_sdk::handlers]
impl Endpoints for Bench {
    /// `/noop` answers 200 "ok" and does nothing else.
    fn handle(
        _request: &HttpRequest,
        _writer: &Writer,
        _modifier: &Modifier,
    ) -> Result<HttpResponse> {
        Ok(HttpResponse::text(200, "ok"))
    }
}

hangar_sdk::export_app!(
    Bench,
    manifest = "hangar.json",
    handles = [Messages, Commands, Events, Endpoints]
);
