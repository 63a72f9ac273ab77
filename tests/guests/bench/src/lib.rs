//! The benchmarks' guest. post-message-sent does nothing, or creates one
//! record when the text is "write"; pre-message-sent-modify returns the
//! message unchanged. Benchmarks patch the id (`bench00` to `bench49`) and
//! the events list to install many copies.

use hangar_sdk::serde_json::json;
use hangar_sdk::{Association, Message, Messages, Modifier, Result, Writer};

struct Bench;

impl Messages for Bench {
    fn post_message_sent(message: &Message, writer: &Writer, _modifier: &Modifier) -> Result<()> {
        if message.text == "write" {
            writer.create_with(&json!({"n": 1}), &[Association::misc("bench")])?;
        }
        Ok(())
    }
}

hangar_sdk::export_app!(Bench, manifest = "hangar.json", handles = [Messages]);
