//! Karma: `@name++` / `@name--` in any message adjusts name's score by one;
//! `/karma <name>` shows it. Scores are user-level records, updated with a
//! read-modify-write inside the handler's transaction, so concurrent
//! messages (in one host process or several) never lose an increment.

use hangar_sdk::{
    Association, Command, Commands, Message, Messages, Modifier, Result, Writer, read,
};
use serde::{Deserialize, Serialize};

/// One user's score.
#[derive(Debug, Serialize, Deserialize)]
struct Score {
    user: String,
    score: i64,
}

struct Karma;

fn key(user: &str) -> [Association; 2] {
    [Association::user(user), Association::misc("karma")]
}

fn score_of(user: &str) -> Result<i64> {
    Ok(read::by_associations::<Score>(&key(user))?
        .first()
        .map_or(0, |r| r.data.score))
}

/// Every `@name++` / `@name--` in `text`, as (name, +1 / -1).
fn changes(text: &str) -> Vec<(String, i64)> {
    text.split_whitespace()
        .filter_map(|word| {
            let word = word.strip_prefix('@')?;
            let (name, delta) = if let Some(n) = word.strip_suffix("++") {
                (n, 1)
            } else {
                (word.strip_suffix("--")?, -1)
            };
            let valid = !name.is_empty()
                && name
                    .chars()
                    .all(|c| c.is_alphanumeric() || c == '.' || c == '_' || c == '-');
            valid.then(|| (name.to_string(), delta))
        })
        .collect()
}

#[hangar_sdk::handlers]
impl Messages for Karma {
    fn post_message_sent(message: &Message, writer: &Writer, _modifier: &Modifier) -> Result<()> {
        for (user, delta) in changes(&message.text) {
            if user == message.sender {
                continue; // no karma for yourself
            }
            let score = score_of(&user)? + delta;
            writer.update_by_associations(
                &key(&user),
                &Score {
                    user: user.clone(),
                    score,
                },
                true,
            )?;
        }
        Ok(())
    }
}

#[hangar_sdk::handlers]
impl Commands for Karma {
    fn execute(command: &Command, _writer: &Writer, modifier: &Modifier) -> Result<()> {
        let Some(user) = command.args.first() else {
            return modifier.notify_user(&command.sender, &command.room, "usage: /karma <name>");
        };
        let user = user.trim_start_matches('@');
        modifier.send_message(
            &command.room,
            &format!("{user} has {} karma", score_of(user)?),
        )?;
        Ok(())
    }
}

hangar_sdk::export_app!(
    Karma,
    manifest = "hangar.json",
    handles = [Messages, Commands]
);

#[cfg(test)]
mod tests {
    #[test]
    fn finds_changes() {
        assert_eq!(
            super::changes("@dave++ thanks, @eve-- and @x+ @++ a@b++"),
            vec![("dave".to_string(), 1), ("eve".to_string(), -1)]
        );
    }
}
