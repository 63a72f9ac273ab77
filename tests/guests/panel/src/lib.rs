//! A test guest for interactivity: `/panel <op>` opens views with every
//! element, tries triggers it should not be able to use, and reaches for
//! views that are not its own; its handlers record each interaction they
//! receive and answer by updating or closing the view. Each command
//! answers with one notification: JSON `{"ok": ...}` or `{"err", "kind"}`.

use hangar_sdk::{
    ActionButton, Block, BlockAction, Button, Choice, Command, Commands, DatePicker, Error,
    FieldError, Interactions, Modifier, OverflowMenu, Result, StaticSelect, Text, TextInput, View,
    ViewClosed, ViewSubmit, Writer, read,
};
use serde_json::{Value, json};

struct Panel;

fn bar(note: &str) -> View {
    View::contextual_bar("Panel")
        .block(
            Block::section(Text::plain(note))
                .id("top")
                .accessory(OverflowMenu::new(
                    "more",
                    [Choice::new("Alpha", "a"), Choice::new("Beta", "b")],
                )),
        )
        .block(
            Block::actions([
                StaticSelect::new("pick", [Choice::new("X", "x"), Choice::new("Y", "y")]).into(),
                DatePicker::new("day").placeholder("When?").into(),
                Button::new("close", "Close").danger().into(),
            ])
            .id("controls"),
        )
        .block(Block::input("Note", TextInput::new("text").max_length(5)).id("note"))
        .submit("Save")
}

fn kind(e: &Error) -> &'static str {
    match e {
        Error::Denied(_) => "denied",
        Error::Invalid(_) => "invalid",
        Error::TooLarge(_) => "too-large",
        Error::NotFound(_) => "not-found",
        _ => "other",
    }
}

fn answer(r: Result<Value>) -> String {
    match r {
        Ok(v) => json!({ "ok": v }).to_string(),
        Err(e) => json!({"err": e.to_string(), "kind": kind(&e)}).to_string(),
    }
}

/// Remember what a handler received, for the test to read.
fn record(writer: &Writer, what: Value) -> Result<()> {
    writer.create(&what)?;
    Ok(())
}

fn run(op: &str, args: &[String], c: &Command, w: &Writer, m: &Modifier) -> Result<Value> {
    match op {
        "bar" => {
            let id = m.open_view(&c.trigger, bar("fresh"))?;
            w.update("last-trigger", &json!(c.trigger), true)?;
            Ok(json!(id))
        }
        "twice" => {
            m.open_view(&c.trigger, bar("one"))?;
            m.open_view(&c.trigger, bar("two")).map(|id| json!(id))
        }
        "stale" => {
            let old = read::by_id::<String>("last-trigger")?
                .ok_or_else(|| Error::App("run /panel bar first".into()))?;
            m.open_view(&old.data, bar("stale")).map(|id| json!(id))
        }
        "plant" => {
            // Put a button of its own into another app's message.
            let id = args.first().cloned().unwrap_or_default();
            let planted = hangar_sdk::Message::new("").text("click me").block(
                Block::actions([Button::new("vote", "Vote").value("0").into()]).id("option-0"),
            );
            m.update_message(&id, planted).map(|()| json!(null))
        }
        "steal" => {
            let id = args.first().cloned().unwrap_or_default();
            let updated = m.update_view(&id, bar("mine now")).err().map(|e| kind(&e));
            let closed = m.close_view(&id).err().map(|e| kind(&e));
            Ok(json!({"update": updated, "close": closed}))
        }
        "nosubmit" => m
            .open_view(
                &c.trigger,
                View::modal("Read only").block(Block::section(Text::plain("look"))),
            )
            .map(|id| json!(id)),
        "bad-errors" => {
            let id = m.open_view(
                &c.trigger,
                View::modal("Bad errors")
                    .block(Block::input("Field", TextInput::new("text")).id("field"))
                    .submit("Go"),
            )?;
            w.update("bad-errors", &json!(id), true)?;
            Ok(json!(id))
        }
        other => Err(Error::App(format!("unknown op '{other}'"))),
    }
}

#[hangar_sdk::handlers]
impl Commands for Panel {
    fn execute(command: &Command, writer: &Writer, modifier: &Modifier) -> Result<()> {
        let (op, args) = command
            .args
            .split_first()
            .map(|(op, rest)| (op.as_str(), rest))
            .unwrap_or(("", &[]));
        let reply = answer(run(op, args, command, writer, modifier));
        modifier.notify_user(&command.sender, &command.room, &reply)
    }
}

#[hangar_sdk::handlers]
impl Interactions for Panel {
    fn block_action(action: &BlockAction, writer: &Writer, modifier: &Modifier) -> Result<()> {
        record(
            writer,
            json!({"action": action.action_id, "block": action.block_id, "value": action.value,
                   "view": action.view, "message": action.message, "user": action.user}),
        )?;
        let Some(view) = &action.view else {
            return Ok(());
        };
        match action.action_id.as_str() {
            "close" => modifier.close_view(view),
            other => modifier.update_view(
                view,
                bar(&format!(
                    "{other}={}",
                    action.value.clone().unwrap_or_default()
                )),
            ),
        }
    }

    fn view_submit(submit: &ViewSubmit, writer: &Writer, _m: &Modifier) -> Result<Vec<FieldError>> {
        record(
            writer,
            json!({"submit": submit.view, "note": submit.value("note")}),
        )?;
        let bad = read::by_id::<String>("bad-errors")?.map(|r| r.data);
        if bad.as_deref() == Some(submit.view.as_str()) {
            return Ok(vec![FieldError::new("nope", "no such input")]);
        }
        Ok(Vec::new())
    }

    fn view_closed(closed: &ViewClosed, writer: &Writer, _m: &Modifier) -> Result<()> {
        record(writer, json!({"closed": closed.view, "user": closed.user}))
    }

    fn action_button(click: &ActionButton, writer: &Writer, modifier: &Modifier) -> Result<()> {
        record(
            writer,
            json!({"button": click.button, "room": click.room, "message": click.message}),
        )?;
        if click.button == "room-panel" {
            modifier.open_view(&click.trigger, bar("from a button"))?;
        }
        Ok(())
    }
}

hangar_sdk::export_app!(
    Panel,
    manifest = "hangar.json",
    handles = [Commands, Interactions]
);
