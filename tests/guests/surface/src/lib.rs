//! Drives every API 0.2 reader and modifier call through `/s <op> <args>`
//! (shell-style arguments), replying with `{"ok": ...}` or `{"err": ...,
//! "kind": ...}` as a message; records every chat event it receives and
//! prevents a few (joins of room `locked`, edits to text with `forbidden`,
//! deletes by `mallory`, rooms named `forbidden*`, deleting room `keep`,
//! leaving rooms `stuck` and `open`); its pre check lets everything through
//! in room `open`, its post check skips events in room `quiet`.
//! `/s fail <op> ...` passes the op's error on as the handler's own, so
//! the host's report shows its kind.

use hangar_sdk::http::{HttpRequest, HttpResponse};
use hangar_sdk::serde_json::{Value, json};
use hangar_sdk::{
    Association, Attachment, Block, Command, Commands, Endpoints, Error, Event, Events, Image,
    Membership, Message, MessageEdit, MessageRemoval, Modifier, PreviewItem, Reaction, Result,
    RoomChange, RoomKind, Text, User, Writer, read,
};

struct Surface;

fn room_json(r: hangar_sdk::Room) -> Value {
    json!({"id": r.id, "name": r.name, "kind": format!("{:?}", r.kind), "creator": r.creator})
}

fn user_json(u: User) -> Value {
    json!({"id": u.id, "username": u.username, "display_name": u.display_name, "is_bot": u.is_bot})
}

fn message_json(m: Message) -> Value {
    json!({
        "id": m.id, "room": m.room, "sender": m.sender, "text": m.text, "thread": m.thread,
        "alias": m.alias, "edited": m.edited_at.is_some(), "attachments": m.attachments.len(),
        "blocks": m.blocks.len(),
    })
}

fn arg(args: &[String], i: usize) -> Result<&str> {
    args.get(i)
        .map(String::as_str)
        .ok_or_else(|| Error::Invalid(format!("argument {i} missing")))
}

fn run(op: &str, args: &[String], command: &Command, modifier: &Modifier) -> Result<Value> {
    Ok(match op {
        "args" => json!({"args": args, "line": command.line, "thread": command.thread}),
        "whoami" => {
            let (id, _, _, api) = read::app_info();
            json!({"id": id, "api": api, "user": user_json(read::app_user())})
        }
        "room" => json!(read::room(arg(args, 0)?)?.map(room_json)),
        "room-by-name" => json!(read::room_by_name(arg(args, 0)?)?.map(room_json)),
        "members" => json!(
            read::room_members(arg(args, 0)?, 100)?
                .into_iter()
                .map(|u| u.id)
                .collect::<Vec<_>>()
        ),
        "history" => json!(
            read::room_messages(arg(args, 0)?, arg(args, 1)?.parse().unwrap_or(10))?
                .into_iter()
                .map(message_json)
                .collect::<Vec<_>>()
        ),
        "direct" => {
            let users: Vec<&str> = args.iter().map(String::as_str).collect();
            json!(read::direct_room(&users)?.map(room_json))
        }
        "user-by-name" => json!(read::user_by_username(arg(args, 0)?)?.map(user_json)),
        "message" => json!(read::message(arg(args, 0)?)?.map(message_json)),
        "thread" => json!(
            read::thread(arg(args, 0)?, 100)?
                .into_iter()
                .map(message_json)
                .collect::<Vec<_>>()
        ),
        "server-setting" => json!(read::server_setting::<Value>(arg(args, 0)?)?),
        "rich" => {
            let mut m = Message::new(arg(args, 0)?)
                .text(arg(args, 1)?)
                .alias("Surface bot")
                .avatar("https://example.test/bot.png")
                .attach(
                    Attachment::new()
                        .title("report")
                        .title_link("https://example.test/r/1")
                        .text("all green")
                        .color("#2eb67d")
                        .field("passed", "12", true)
                        .field("failed", "0", true),
                )
                .block(
                    Block::section(Text::markdown("*bold* news"))
                        .field(Text::plain("a"))
                        .accessory(Image::new("https://example.test/i.png", "icon"))
                        .id("top"),
                )
                .block(Block::divider())
                .block(Block::context([Text::plain("ctx").into()]))
                .block(Block::image(
                    Image::new("https://example.test/big.png", "big"),
                    Some("Big"),
                ))
                .custom_field("source", json!("surface"));
            if let Some(thread) = args.get(2) {
                m = m.thread(thread);
            }
            json!(modifier.send(m)?)
        }
        "many-blocks" => {
            let n: usize = arg(args, 1)?.parse().unwrap_or(0);
            let mut m = Message::new(arg(args, 0)?).text("blocks");
            for _ in 0..n {
                m = m.block(Block::divider());
            }
            json!(modifier.send(m)?)
        }
        "bad-url" => json!(
            modifier.send(
                Message::new(arg(args, 0)?)
                    .text("x")
                    .block(Block::image(Image::new("javascript:alert(1)", "x"), None))
            )?
        ),
        "send-then-edit" => {
            let id = modifier.send_message(arg(args, 0)?, "draft")?;
            modifier.update_message(&id, Message::new(arg(args, 0)?).text("final"))?;
            json!(id)
        }
        "edit" => {
            modifier.update_message(arg(args, 0)?, Message::new("").text(arg(args, 1)?))?;
            json!(null)
        }
        "delete" => {
            modifier.delete_message(arg(args, 0)?)?;
            json!(null)
        }
        "notify-room" => {
            modifier.notify_room(arg(args, 0)?, arg(args, 1)?)?;
            json!(null)
        }
        "create-room" => {
            let members: Vec<&str> = args[1..].iter().map(String::as_str).collect();
            json!(modifier.create_room(arg(args, 0)?, RoomKind::Channel, &members)?)
        }
        "dm" => {
            let users: Vec<&str> = args.iter().map(String::as_str).collect();
            let first = modifier.create_direct(&users)?;
            let again = modifier.create_direct(&users)?;
            json!({"id": first, "same": first == again})
        }
        "fetch" => {
            let r = hangar_sdk::http::Request::new(arg(args, 0)?, arg(args, 1)?);
            let r = match args.get(2) {
                Some(ms) => r.timeout_ms(ms.parse().unwrap_or(1000)),
                None => r,
            };
            let got = r.send()?;
            json!({"status": got.status, "body": got.text().unwrap_or_default()})
        }
        "events" => json!(
            read::by_associations::<Value>(&[Association::misc("events")])?
                .into_iter()
                .map(|r| r.data)
                .collect::<Vec<_>>()
        ),
        other => return Err(Error::App(format!("unknown op '{other}'"))),
    })
}

#[hangar_sdk::handlers]
impl Commands for Surface {
    fn execute(command: &Command, writer: &Writer, modifier: &Modifier) -> Result<()> {
        let _ = writer;
        let (op, args) = command
            .args
            .split_first()
            .ok_or_else(|| Error::App("no op".into()))?;
        if op == "fail" {
            let (op, args) = args
                .split_first()
                .ok_or_else(|| Error::App("no op".into()))?;
            run(op, args, command, modifier)?;
            return Ok(());
        }
        let reply = match run(op, args, command, modifier) {
            Ok(v) => json!({"ok": v}),
            Err(e) => json!({"err": e.to_string(), "kind": kind(&e)}),
        };
        modifier.send_message(&command.room, &reply.to_string())?;
        Ok(())
    }

    fn preview(command: &Command) -> Result<Vec<PreviewItem>> {
        Ok(["alpha", "beta"]
            .into_iter()
            .map(|id| PreviewItem {
                id: id.into(),
                text: format!("{id} for {}", command.line),
            })
            .collect())
    }

    fn preview_item(
        item: &PreviewItem,
        command: &Command,
        _writer: &Writer,
        modifier: &Modifier,
    ) -> Result<()> {
        modifier.send_message(
            &command.room,
            &format!("picked {} ({})", item.id, item.text),
        )?;
        Ok(())
    }
}

fn kind(e: &Error) -> &'static str {
    match e {
        Error::Denied(_) => "denied",
        Error::Invalid(_) => "invalid",
        Error::TooLarge(_) => "too-large",
        Error::QuotaExceeded(_) => "quota-exceeded",
        Error::NotFound(_) => "not-found",
        Error::Host(_) => "host",
        Error::Data(_) => "data",
        Error::App(_) => "app",
    }
}

fn record(writer: &Writer, event: Value) -> Result<()> {
    writer.create_with(&event, &[Association::misc("events")])?;
    Ok(())
}

fn room_of(event: &Event) -> Option<&str> {
    match event {
        Event::MessageUpdated(e) => Some(&e.message.room),
        Event::MessageDeleted(e) => Some(&e.message.room),
        Event::MessageReacted(e) => Some(&e.message.room),
        Event::RoomCreated(c) | Event::RoomDeleted(c) => Some(&c.room.id),
        Event::UserJoined(m) | Event::UserLeft(m) => Some(&m.room.id),
        _ => None,
    }
}

#[hangar_sdk::handlers]
impl Events for Surface {
    fn check_pre(event: &Event) -> Result<bool> {
        // Anything goes in room `open`: no prevent handler runs there.
        Ok(room_of(event) != Some("open"))
    }
    fn prevent_room_create(change: &RoomChange, _writer: &Writer) -> Result<bool> {
        Ok(change.room.name.starts_with("forbidden"))
    }
    fn prevent_room_delete(change: &RoomChange, _writer: &Writer) -> Result<bool> {
        Ok(change.room.id == "keep")
    }
    fn prevent_user_leave(membership: &Membership, _writer: &Writer) -> Result<bool> {
        Ok(membership.room.id == "stuck" || membership.room.id == "open")
    }
    fn prevent_message_update(edit: &MessageEdit, _writer: &Writer) -> Result<bool> {
        Ok(edit.message.text.contains("forbidden"))
    }
    fn prevent_message_delete(removal: &MessageRemoval, _writer: &Writer) -> Result<bool> {
        Ok(removal.by == "mallory")
    }
    fn prevent_user_join(membership: &Membership, _writer: &Writer) -> Result<bool> {
        Ok(membership.room.id == "locked")
    }
    fn check_post(event: &Event) -> Result<bool> {
        Ok(room_of(event) != Some("quiet"))
    }
    fn message_updated(edit: &MessageEdit, writer: &Writer, _: &Modifier) -> Result<()> {
        record(
            writer,
            json!({"event": "message-updated", "id": edit.message.id, "text": edit.message.text,
                   "previous": edit.previous.text, "editor": edit.editor}),
        )
    }
    fn message_deleted(removal: &MessageRemoval, writer: &Writer, _: &Modifier) -> Result<()> {
        record(
            writer,
            json!({"event": "message-deleted", "id": removal.message.id, "by": removal.by}),
        )
    }
    fn message_reacted(reaction: &Reaction, writer: &Writer, _: &Modifier) -> Result<()> {
        record(
            writer,
            json!({"event": "message-reacted", "id": reaction.message.id, "user": reaction.user,
                   "reaction": reaction.reaction, "added": reaction.added}),
        )
    }
    fn room_created(change: &RoomChange, writer: &Writer, _: &Modifier) -> Result<()> {
        record(
            writer,
            json!({"event": "room-created", "room": change.room.id, "by": change.by}),
        )
    }
    fn room_deleted(change: &RoomChange, writer: &Writer, _: &Modifier) -> Result<()> {
        record(
            writer,
            json!({"event": "room-deleted", "room": change.room.id, "by": change.by}),
        )
    }
    fn user_joined(m: &Membership, writer: &Writer, modifier: &Modifier) -> Result<()> {
        modifier.notify_room(&m.room.id, &format!("{} joined", m.user.id))?;
        record(
            writer,
            json!({"event": "user-joined", "room": m.room.id, "user": m.user.id}),
        )
    }
    fn user_left(m: &Membership, writer: &Writer, _: &Modifier) -> Result<()> {
        record(
            writer,
            json!({"event": "user-left", "room": m.room.id, "user": m.user.id}),
        )
    }
    fn user_created(user: &User, writer: &Writer, _: &Modifier) -> Result<()> {
        record(writer, json!({"event": "user-created", "user": user.id}))
    }
    fn user_updated(user: &User, writer: &Writer, _: &Modifier) -> Result<()> {
        record(
            writer,
            json!({"event": "user-updated", "user": user.id, "name": user.display_name}),
        )
    }
    fn user_logged_in(user: &User, writer: &Writer, _: &Modifier) -> Result<()> {
        record(writer, json!({"event": "user-logged-in", "user": user.id}))
    }
}

#[hangar_sdk::handlers]
impl Endpoints for Surface {
    fn handle(request: &HttpRequest, writer: &Writer, modifier: &Modifier) -> Result<HttpResponse> {
        match request.path.as_str() {
            "/loop" => loop {
                std::hint::black_box(0);
            },
            "/fail" => Err(Error::App("the endpoint failed on purpose".into())),
            "/big" => Ok(HttpResponse::new(200).with_body(vec![b'x'; 2 << 20])),
            "/store" => {
                let body = request.text()?;
                writer.create_with(&json!({"body": body}), &[Association::misc("stored")])?;
                modifier.send_message("hooks", &body)?;
                HttpResponse::json(202, &json!({"stored": body}))
            }
            _ => HttpResponse::json(
                200,
                &json!({
                    "method": request.method, "path": request.path, "query": request.query,
                    "body": request.text().unwrap_or_default(), "test": request.header("x-test"),
                }),
            ),
        }
    }
}

hangar_sdk::export_app!(
    Surface,
    manifest = "hangar.json",
    handles = [Commands, Events, Endpoints]
);
