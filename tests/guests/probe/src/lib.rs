// A persistence probe driven by its slash command: `/p <op> <args...>`.
// Each op replies with one message holding JSON: {"ok": ...} or {"err": "..."}.
// Associations are written `model:id` (user:alice, misc:key, room:general).

use hangar_sdk::serde_json::{self, Value, json};
use hangar_sdk::{
    Association, Command, Commands, Error, Model, Modifier, PreviewItem, Record, Result, Writer,
    read,
};

struct Probe;

fn assoc(text: &str) -> Result<Association> {
    let (model, id) = text
        .split_once(':')
        .ok_or_else(|| Error::App(format!("bad association {text}")))?;
    let model = match model {
        "user" => Model::User,
        "room" => Model::Room,
        "misc" => Model::Misc,
        "message" => Model::Message,
        "file" => Model::File,
        _ => return Err(Error::App(format!("bad model {model}"))),
    };
    Ok(Association::new(model, id))
}

fn assocs(args: &[String]) -> Result<Vec<Association>> {
    args.iter().map(|a| assoc(a)).collect()
}

fn record_json(r: Record<Value>) -> Value {
    let a: Vec<String> = r
        .associations
        .iter()
        .map(|a| format!("{}:{}", format!("{:?}", a.model).to_lowercase(), a.id))
        .collect();
    json!({"id": r.id, "data": r.data, "associations": a})
}

fn parse(text: &str) -> Result<Value> {
    Ok(serde_json::from_str(text)?)
}

fn run(op: &str, args: &[String], writer: &Writer, modifier: &Modifier) -> Result<Value> {
    Ok(match (op, args) {
        ("create", [data]) => json!(writer.create(&parse(data)?)?),
        ("create", [data, rest @ ..]) => json!(writer.create_with(&parse(data)?, &assocs(rest)?)?),
        ("update", [id, data, upsert]) => {
            json!(writer.update(id, &parse(data)?, upsert == "true")?)
        }
        ("update-by", [data, upsert, rest @ ..]) => {
            json!(writer.update_by_associations(&assocs(rest)?, &parse(data)?, upsert == "true")?)
        }
        ("remove", [id]) => json!(writer.remove(id)?.map(record_json)),
        ("remove-by", rest) => json!(
            writer
                .remove_by_associations(&assocs(rest)?)?
                .into_iter()
                .map(record_json)
                .collect::<Vec<_>>()
        ),
        ("read", [id]) => json!(read::by_id::<Value>(id)?.map(record_json)),
        ("read-by", rest) => json!(
            read::by_associations::<Value>(&assocs(rest)?)?
                .into_iter()
                .map(record_json)
                .collect::<Vec<_>>()
        ),
        ("clock", []) => {
            let wall = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_err(|e| Error::App(e.to_string()))?;
            let a = std::time::Instant::now();
            let mut b = std::time::Instant::now();
            while b == a {
                b = std::time::Instant::now();
            }
            json!({"wall_ns": wall.as_nanos() as u64, "tick_ns": (b - a).as_nanos() as u64})
        }
        ("big", [bytes]) => {
            let n: usize = bytes.parse().map_err(|_| Error::App("bad size".into()))?;
            json!(writer.create(&"x".repeat(n))?)
        }
        ("batch", [tag, n]) => {
            // Several writes spread over a few milliseconds, then a message:
            // a crash test kills the host somewhere in here.
            let n: usize = n.parse().map_err(|_| Error::App("bad count".into()))?;
            for i in 0..n {
                writer.create_with(
                    &json!({"tag": tag, "i": i}),
                    &[Association::misc(tag.as_str())],
                )?;
                std::thread::sleep(std::time::Duration::from_millis(2));
            }
            modifier.send_message("general", &format!("batch {tag}"))?;
            json!(n)
        }
        ("fail-after-write", []) => {
            writer.create_with(&json!({"doomed": true}), &[Association::misc("doomed")])?;
            modifier.send_message("general", "from a failed handler")?;
            return Err(Error::App("failing on purpose after a write".into()));
        }
        ("trap-after-write", []) => {
            writer.create_with(&json!({"doomed": true}), &[Association::misc("doomed")])?;
            modifier.send_message("general", "from a trapped handler")?;
            panic!("trapping on purpose after a write");
        }
        ("stash", []) => {
            // Keep the raw handle of the borrowed writer where a later call can find it.
            let handle = writer.__raw().handle();
            writer.create_with(&json!({"handle": handle}), &[Association::misc("stash")])?;
            json!(handle)
        }
        _ => {
            return Err(Error::App(format!(
                "unknown op {op} with {} args",
                args.len()
            )));
        }
    })
}

/// The words of the raw line, split on whitespace only: the probe's
/// arguments are JSON, whose quotes a shell-style split would take apart.
fn words(command: &Command) -> Vec<String> {
    command
        .line
        .split_whitespace()
        .map(str::to_string)
        .collect()
}

#[hangar_sdk::handlers]
impl Commands for Probe {
    fn execute(command: &Command, writer: &Writer, modifier: &Modifier) -> Result<()> {
        let words = words(command);
        let (op, args) = words
            .split_first()
            .ok_or_else(|| Error::App("no op".into()))?;
        let reply = match run(op, args, writer, modifier) {
            Ok(v) => json!({"ok": v}),
            Err(e @ Error::App(_)) if op.ends_with("-after-write") => return Err(e),
            Err(e) => json!({"err": e.to_string()}),
        };
        modifier.send_message(&command.room, &reply.to_string())?;
        Ok(())
    }

    /// Read-only. With `use-stash`, forges the writer handle a previous
    /// handler call stashed and tries to write through it: must trap.
    fn preview(command: &Command) -> Result<Vec<PreviewItem>> {
        let words = words(command);
        if words.first().map(String::as_str) == Some("use-stash") {
            let stashed = read::by_associations::<Value>(&[Association::misc("stash")])?;
            let handle = stashed
                .first()
                .and_then(|r| r.data["handle"].as_u64())
                .unwrap_or(1) as u32;
            // SAFETY: deliberately unsound: the test checks the runtime refuses it.
            let forged =
                unsafe { hangar_sdk::__wit::hangar::app::persistence::Writer::from_handle(handle) };
            let _ = forged.create("{\"forged\": true}");
            return Ok(vec![PreviewItem {
                id: "x".into(),
                text: "forged write returned".into(),
            }]);
        }
        let all = read::by_associations::<Value>(&assocs(&words)?)?;
        Ok(all
            .into_iter()
            .map(|r| PreviewItem {
                id: r.id,
                text: r.data.to_string(),
            })
            .collect())
    }
}

hangar_sdk::export_app!(Probe, manifest = "hangar.json", handles = [Commands]);
