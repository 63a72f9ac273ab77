//! Word filter: in "mask" mode (the default) banned words are replaced by
//! asterisks of the same length; in "block" mode a message containing one is
//! vetoed. Either way the sender gets a strike (a user-level record);
//! `/strikes <user>` shows the count.

use hangar_sdk::{
    Association, Command, Commands, Message, Messages, Modifier, Result, Writer, read,
};
use serde::{Deserialize, Serialize};

/// A user's strike count.
#[derive(Debug, Serialize, Deserialize)]
struct Strikes {
    user: String,
    count: u64,
}

struct WordFilter;

fn banned() -> Result<Vec<String>> {
    Ok(read::setting::<Vec<String>>("banned-words")?
        .into_iter()
        .map(|w| w.to_lowercase())
        .collect())
}

fn block_mode() -> Result<bool> {
    Ok(read::setting::<String>("mode")? == "block")
}

/// The byte ranges of whole words of `text` that are banned.
fn banned_ranges(text: &str, banned: &[String]) -> Vec<(usize, usize)> {
    let mut ranges = Vec::new();
    let mut start = None;
    for (i, c) in text
        .char_indices()
        .chain(std::iter::once((text.len(), ' ')))
    {
        if c.is_alphanumeric() {
            start.get_or_insert(i);
        } else if let Some(s) = start.take()
            && banned.iter().any(|b| *b == text[s..i].to_lowercase())
        {
            ranges.push((s, i));
        }
    }
    ranges
}

fn mask(text: &str, ranges: &[(usize, usize)]) -> String {
    let mut out = String::with_capacity(text.len());
    let mut last = 0;
    for &(s, e) in ranges {
        out.push_str(&text[last..s]);
        out.extend(std::iter::repeat_n('*', text[s..e].chars().count()));
        last = e;
    }
    out.push_str(&text[last..]);
    out
}

fn key(user: &str) -> [Association; 2] {
    [Association::user(user), Association::misc("strikes")]
}

fn strikes(user: &str) -> Result<u64> {
    Ok(read::by_associations::<Strikes>(&key(user))?
        .first()
        .map_or(0, |r| r.data.count))
}

fn add_strike(writer: &Writer, user: &str) -> Result<()> {
    let count = strikes(user)? + 1;
    writer.update_by_associations(
        &key(user),
        &Strikes {
            user: user.to_string(),
            count,
        },
        true,
    )?;
    Ok(())
}

#[hangar_sdk::handlers]
impl Messages for WordFilter {
    /// Read-only: only block mode needs the prevent handler.
    fn check_pre_message_sent_prevent(_message: &Message) -> Result<bool> {
        block_mode()
    }

    fn pre_message_sent_prevent(message: &Message, writer: &Writer) -> Result<bool> {
        if !block_mode()? || banned_ranges(&message.text, &banned()?).is_empty() {
            return Ok(false);
        }
        add_strike(writer, &message.sender)?;
        Ok(true)
    }

    fn pre_message_sent_modify(mut message: Message, writer: &Writer) -> Result<Message> {
        if block_mode()? {
            return Ok(message);
        }
        let ranges = banned_ranges(&message.text, &banned()?);
        if !ranges.is_empty() {
            message.text = mask(&message.text, &ranges);
            add_strike(writer, &message.sender)?;
        }
        Ok(message)
    }
}

#[hangar_sdk::handlers]
impl Commands for WordFilter {
    fn execute(command: &Command, _writer: &Writer, modifier: &Modifier) -> Result<()> {
        let Some(user) = command.args.first() else {
            return modifier.notify_user(&command.sender, &command.room, "usage: /strikes <user>");
        };
        let user = user.trim_start_matches('@');
        modifier.notify_user(
            &command.sender,
            &command.room,
            &format!("{user} has {} strike(s)", strikes(user)?),
        )
    }
}

hangar_sdk::export_app!(
    WordFilter,
    manifest = "hangar.json",
    handles = [Messages, Commands]
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn masks_whole_words_any_case() {
        let banned = vec!["heck".to_string(), "darn".to_string()];
        let text = "what the HECK, heckle darn!";
        assert_eq!(
            mask(text, &banned_ranges(text, &banned)),
            "what the ****, heckle ****!"
        );
    }
}
