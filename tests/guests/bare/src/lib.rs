//! An app that asks for nothing but its command, then tries persistence and
//! messaging: every call must come back denied, naming the permission.

use hangar_sdk::{
    Association, Command, Commands, Message, Messages, Modifier, Result, Writer, log, read,
};

struct Bare;

#[hangar_sdk::handlers]
impl Commands for Bare {
    fn execute(_command: &Command, writer: &Writer, modifier: &Modifier) -> Result<()> {
        if let Err(e) = writer.create(&1) {
            log::warn(&format!("create: {e}"));
        }
        if let Err(e) = read::by_associations::<u8>(&[Association::misc("x")]) {
            log::warn(&format!("read: {e}"));
        }
        if let Err(e) = modifier.send_message("general", "hi") {
            log::warn(&format!("send: {e}"));
        }
        Ok(())
    }
}

#[hangar_sdk::handlers]
impl Messages for Bare {
    fn post_message_sent(message: &Message, writer: &Writer, _modifier: &Modifier) -> Result<()> {
        if let Err(e) = writer.create(&message.text) {
            log::warn(&format!("post-message-sent create: {e}"));
        }
        Ok(())
    }
}

hangar_sdk::export_app!(
    Bare,
    manifest = "hangar.json",
    handles = [Commands, Messages]
);
