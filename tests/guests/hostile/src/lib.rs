//! Misbehaves on purpose. A message (or `/h <word>`) naming a behaviour
//! makes the handler first write a record and queue a message, then:
//! `loop` (infinite loop), `busy` (loop calling the host), `vec-bomb`
//! (allocate with `vec!` until it aborts), `reserve-bomb` (allocate with
//! `try_reserve`, handling the failure by returning an error), `recurse`
//! (unbounded recursion), `panic`, `sleep` (100 s in the host's clock), `fill` (write until the quota is full,
//! then fail), `flood` (100k log lines), `giant` (giant arguments to every
//! import; then returns Ok). In pre-message-sent-modify, `?grow` returns a
//! 10 MB message text and `?slowmodify` loops; `?fatextend` makes extend
//! add 80 KiB of custom fields. Audit behaviours: `quota-then-write` /
//! `quota-then-ok` (write after a quota error, then fail / succeed), `spam`
//! (2,000 x 64 KiB messages), `long-error` (a 30 MiB error), `biglogs` (100
//! log lines of 8 MiB), `stderr` (100 KiB on stderr), `ansi` (a log line
//! with terminal escapes and a newline), `manycreates` (20,000 records), `log40` (40 log lines);
//! `/h arm-enable` makes on-enable refuse with a 20 MiB reason.

use std::hint::black_box;

use hangar_sdk::serde_json::json;
use hangar_sdk::{
    Association, Command, Commands, Error, Lifecycle, Message, Messages, Modifier, Result, Writer,
    log, read,
};

struct Hostile;

fn recurse(n: u64) -> u64 {
    if black_box(n) == u64::MAX {
        0
    } else {
        1 + recurse(black_box(n + 1))
    }
}

fn misbehave(word: &str, writer: &Writer, modifier: &Modifier) -> Result<()> {
    writer.create_with(&json!({"partial": word}), &[Association::misc("partial")])?;
    modifier.send_message("general", &format!("partial effect of {word}"))?;
    match word {
        "loop" => loop {
            black_box(0);
        },
        "busy" => loop {
            let _ = black_box(read::room("general"));
        },
        "vec-bomb" => {
            let mut hoard = Vec::new();
            loop {
                hoard.push(black_box(vec![1u8; 1 << 20]));
            }
        }
        "reserve-bomb" => {
            let mut hoard: Vec<Vec<u8>> = Vec::new();
            loop {
                let mut chunk = Vec::new();
                if chunk.try_reserve_exact(1 << 20).is_err() {
                    return Err(Error::App(format!(
                        "out of memory after {} MiB",
                        hoard.len()
                    )));
                }
                chunk.resize(1 << 20, 1);
                hoard.push(black_box(chunk));
            }
        }
        "recurse" => {
            black_box(recurse(0));
            Ok(())
        }
        "panic" => panic!("hostile panic"),
        "sleep" => {
            std::thread::sleep(std::time::Duration::from_secs(100));
            Ok(())
        }
        "fill" => {
            let chunk = "f".repeat(64 * 1024);
            loop {
                writer.create(&chunk)?;
            }
        }
        "flood" => {
            for i in 0..100_000 {
                log::info(&format!("flood line {i}"));
            }
            Err(Error::App("flooded".into()))
        }
        "giant" => {
            let big = "g".repeat(8 << 20);
            let errors = [
                writer.create(&big).err(),
                writer.update(&big, &1, true).err(),
                writer
                    .create_with(&1, &[Association::misc(big.clone())])
                    .err(),
                modifier.send_message(&big, "x").err(),
                modifier.send_message("general", &big).err(),
                modifier.notify_user(&big, "general", "x").err(),
                read::by_id::<u8>(&big).err(),
                read::room(&big).err(),
                read::setting::<u8>(&big).err(),
            ];
            log::info(&big);
            let refused = errors.iter().filter(|e| e.is_some()).count();
            log::info(&format!(
                "giant arguments refused: {refused} of {}",
                errors.len()
            ));
            Ok(())
        }
        "quota-then-write" | "quota-then-ok" => {
            // Fill until quota-exceeded, then write once more: after SQLite
            // ended the transaction nothing of this handler may be kept.
            let chunk = "q".repeat(64 * 1024);
            while writer.create(&chunk).is_ok() {}
            let after = writer.create(&json!({"after": "quota"}));
            log::info(&format!("write after the quota error: {after:?}"));
            if word == "quota-then-ok" {
                Ok(())
            } else {
                Err(Error::App("gave up after the quota error".into()))
            }
        }
        "spam" => {
            let text = "s".repeat(64 * 1024);
            let mut refused = None;
            for i in 0..2000 {
                if let Err(e) = modifier.send_message("general", &text) {
                    refused = Some(format!("refused at {i}: {e}"));
                    break;
                }
            }
            log::info(refused.as_deref().unwrap_or("spam: nothing refused"));
            Ok(())
        }
        "long-error" => Err(Error::App("e".repeat(30 << 20))),
        "fetch" => hangar_sdk::http::get("http://127.0.0.1:9/").map(|_| ()),
        "biglogs" => {
            let line = "l".repeat(8 << 20);
            for _ in 0..100 {
                log::info(&line);
            }
            Ok(())
        }
        "stderr" => {
            for _ in 0..100 {
                eprintln!("{}", "x".repeat(1024));
            }
            Ok(())
        }
        "ansi" => {
            log::warn("\u{1b}[31mred\u{1b}[0m\nforged host line: error: karma deleted");
            Ok(())
        }
        "log40" => {
            for i in 0..40 {
                log::info(&format!("line {i}"));
            }
            Ok(())
        }
        "manycreates" => {
            for i in 0..20_000 {
                writer.create(&i)?;
            }
            Ok(())
        }
        "arm-enable" => {
            writer.update("refuse-enable", &true, true)?;
            Ok(())
        }
        _ => Ok(()),
    }
}

#[hangar_sdk::handlers]
impl Messages for Hostile {
    fn post_message_sent(message: &Message, writer: &Writer, modifier: &Modifier) -> Result<()> {
        match message.text.split_whitespace().find(|w| w.starts_with('!')) {
            Some(word) => misbehave(&word[1..], writer, modifier),
            None => Ok(()),
        }
    }

    fn pre_message_sent_extend(
        message: &Message,
        _writer: &Writer,
    ) -> Result<Vec<(String, hangar_sdk::serde_json::Value)>> {
        if !message.text.contains("?fatextend") {
            return Ok(Vec::new());
        }
        // 80 fields of 1 KiB: more than one stage may add.
        Ok((0..80)
            .map(|i| (format!("fat{i}"), json!("f".repeat(1024))))
            .collect())
    }

    fn pre_message_sent_modify(mut message: Message, _writer: &Writer) -> Result<Message> {
        if message.text.contains("?grow") {
            message.text = "x".repeat(10 << 20);
        }
        if message.text.contains("?slowmodify") {
            loop {
                black_box(0);
            }
        }
        Ok(message)
    }
}

#[hangar_sdk::handlers]
impl Lifecycle for Hostile {
    /// Refuses with a 20 MiB reason once `/h arm-enable` ran.
    fn on_enable() -> Result<()> {
        if read::by_id::<bool>("refuse-enable")?.is_some() {
            return Err(Error::App("r".repeat(20 << 20)));
        }
        Ok(())
    }
}

#[hangar_sdk::handlers]
impl Commands for Hostile {
    fn execute(command: &Command, writer: &Writer, modifier: &Modifier) -> Result<()> {
        misbehave(
            command.args.first().map_or("", String::as_str),
            writer,
            modifier,
        )
    }
}

hangar_sdk::export_app!(
    Hostile,
    manifest = "hangar.json",
    handles = [Lifecycle, Messages, Commands]
);
