//! Welcome bot: the first time a person joins any room, it opens a direct
//! room with them and posts a rich welcome (a greeting from its setting,
//! a section with the room's name and a context line). It keeps one
//! user-level record per person greeted, read and written in the join
//! handler's transaction, so a person is greeted once however many rooms
//! they join, and however many joins race in several host processes.

use hangar_sdk::{
    Association, Attachment, Block, Events, Membership, Message, Modifier, Result, Text, Writer,
    read,
};
use serde::{Deserialize, Serialize};

/// A person greeted: where, and the welcome message's id.
#[derive(Debug, Serialize, Deserialize)]
struct Greeted {
    user: String,
    room: String,
    message: String,
}

struct WelcomeBot;

fn key(user: &str) -> [Association; 2] {
    [Association::user(user), Association::misc("greeted")]
}

#[hangar_sdk::handlers]
impl Events for WelcomeBot {
    fn user_joined(joined: &Membership, writer: &Writer, modifier: &Modifier) -> Result<()> {
        let user = &joined.user;
        if user.is_bot || !read::by_associations::<Greeted>(&key(&user.id))?.is_empty() {
            return Ok(());
        }
        let template: String = read::setting("greeting")?;
        let greeting = template
            .replace("{user}", &user.display_name)
            .replace("{room}", &joined.room.name);
        let direct = modifier.create_direct(&[&user.id])?;
        let message = modifier.send(
            Message::new(&direct)
                .text(&greeting)
                .block(Block::section(Text::markdown(format!(
                    "You joined *#{}*. Say hello, and type `/help` to see what the apps here can do.",
                    joined.room.name
                ))))
                .block(Block::divider())
                .block(Block::context([Text::plain(
                    "You get this message once; the bot will not write again.",
                )
                .into()]))
                .attach(
                    Attachment::new()
                        .title(format!("#{}", joined.room.name))
                        .field("Joined as", &user.username, true),
                ),
        )?;
        writer.create_with(
            &Greeted {
                user: user.id.clone(),
                room: joined.room.id.clone(),
                message,
            },
            &key(&user.id),
        )?;
        Ok(())
    }
}

hangar_sdk::export_app!(WelcomeBot, manifest = "hangar.json", handles = [Events]);
