//! The benchmarks' guest. post-message-sent does nothing, or creates one
//! record when the text is "write"; pre-message-sent-modify returns the
//! message unchanged. Its `hangar:exports` section lists both handlers, in
//! this order: `"execute-pre-message-sent-modify","execute-post-message-sent"`.
//! Benchmarks patch the manifest id (`bench00` to `bench49`) to install many
//! copies, and blank one of the two names in the section with spaces to
//! install copies that handle only the other event.

use hangar_sdk::serde_json::json;
use hangar_sdk::{Association, Message, Messages, Modifier, Result, Writer};

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

hangar_sdk::export_app!(Bench, manifest = "hangar.json", handles = [Messages]);
