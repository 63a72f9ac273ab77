//! A small reference chat kept in the data dir (`chat.db`): the bridge the
//! CLI uses, so consecutive `hangar` invocations share rooms, members,
//! users, threads, direct rooms, edits, reactions and history. Rooms and
//! users are created on first use; a user's id is their name, and so is a
//! room's unless an app created it. Also a worked example of implementing
//! every method of [`Bridge`].

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::{Mutex, MutexGuard};

use rusqlite::{Connection, OptionalExtension, params};
use serde::{Deserialize, Serialize};

use crate::bridge::{
    Attachment, Block, Bridge, Content, Effect, Message, Room, RoomKind, User, View, bot_user_id,
};
use crate::error::{Error, Result};
use crate::registry::now_ms;

/// The reference chat.
pub struct RefChat {
    conn: Mutex<Connection>,
}

impl std::fmt::Debug for RefChat {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("RefChat")
    }
}

/// A message as the reference chat stored it, with who it was for and its
/// reactions.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct StoredMessage {
    /// The message.
    #[serde(flatten)]
    pub message: Message,
    /// For a notification, the only user who sees it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub visible_to: Option<String>,
    /// A room notification: shown to the room, not part of its history.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub notice: bool,
    /// Reactions: each reaction and who reacted with it.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub reactions: BTreeMap<String, Vec<String>>,
}

/// What [`RefChat::ensure`] had to create.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Ensured {
    /// The room was new.
    pub room_created: bool,
    /// The user was new.
    pub user_created: bool,
    /// The user was not a member of the room yet.
    pub joined: bool,
}

/// Attachments and blocks, kept as one JSON column.
#[derive(Default, Serialize, Deserialize)]
struct Rich {
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    attachments: Vec<Attachment>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    blocks: Vec<Block>,
}

const SCHEMA: &str = "
    CREATE TABLE IF NOT EXISTS rooms (id TEXT PRIMARY KEY, name TEXT NOT NULL);
    CREATE TABLE IF NOT EXISTS users (id TEXT PRIMARY KEY, display_name TEXT NOT NULL);
    CREATE TABLE IF NOT EXISTS messages (
        seq INTEGER PRIMARY KEY, id TEXT NOT NULL UNIQUE, room TEXT NOT NULL,
        sender TEXT NOT NULL, text TEXT NOT NULL, custom_fields TEXT NOT NULL,
        time INTEGER NOT NULL, visible_to TEXT);
    CREATE TABLE IF NOT EXISTS members (
        room TEXT NOT NULL, user TEXT NOT NULL, PRIMARY KEY (room, user));
    CREATE TABLE IF NOT EXISTS reactions (
        message TEXT NOT NULL, user TEXT NOT NULL, reaction TEXT NOT NULL,
        PRIMARY KEY (message, reaction, user));
    CREATE TABLE IF NOT EXISTS server_settings (id TEXT PRIMARY KEY, value TEXT NOT NULL);
    CREATE TABLE IF NOT EXISTS views (
        id TEXT PRIMARY KEY, user TEXT NOT NULL, view TEXT NOT NULL, opened_at INTEGER NOT NULL);
    CREATE TABLE IF NOT EXISTS changes (id INTEGER PRIMARY KEY CHECK (id = 1), seq INTEGER NOT NULL);
    INSERT OR IGNORE INTO changes (id, seq) VALUES (1, 0);
";

/// Tables whose every write bumps the change counter (by trigger, so a
/// write from any process is seen by every page watching it).
const WATCHED: [&str; 6] = [
    "rooms",
    "users",
    "messages",
    "members",
    "reactions",
    "views",
];

/// Open views kept per user; older ones are dropped.
const VIEWS_PER_USER: usize = 20;

/// Columns added after the first release of `chat.db`: added in place to
/// an older file.
const ADDED_COLUMNS: [(&str, &str); 9] = [
    ("rooms", "kind TEXT NOT NULL DEFAULT 'channel'"),
    ("rooms", "creator TEXT NOT NULL DEFAULT ''"),
    ("rooms", "direct_key TEXT"),
    ("users", "is_bot INTEGER NOT NULL DEFAULT 0"),
    ("messages", "thread TEXT"),
    ("messages", "alias TEXT"),
    ("messages", "avatar TEXT"),
    ("messages", "edited_at INTEGER"),
    ("messages", "rich TEXT"),
];

const MESSAGE_COLUMNS: &str = "id, room, sender, text, custom_fields, time, thread, alias, avatar, edited_at, rich, visible_to";

fn kind_name(kind: RoomKind) -> &'static str {
    kind.name()
}

fn parse_kind(name: &str) -> RoomKind {
    match name {
        "private-group" => RoomKind::PrivateGroup,
        "direct" => RoomKind::Direct,
        _ => RoomKind::Channel,
    }
}

/// A direct room's member set, in one spelling.
fn direct_key(users: &[String]) -> String {
    let mut users = users.to_vec();
    users.sort();
    users.dedup();
    users.join("\n")
}

impl RefChat {
    /// Open (creating, or bringing an older file up to date)
    /// `<data_dir>/chat.db`.
    pub fn open(data_dir: &Path) -> Result<RefChat> {
        std::fs::create_dir_all(data_dir)
            .map_err(|e| Error::io(format!("creating {}", data_dir.display()), e))?;
        let (conn, read_only) = crate::sqlite::open_connection(&data_dir.join("chat.db"))?;
        if read_only {
            return Ok(RefChat {
                conn: Mutex::new(conn),
            });
        }
        conn.busy_timeout(std::time::Duration::from_secs(10))?;
        conn.execute_batch("PRAGMA journal_mode=WAL; BEGIN IMMEDIATE;")?;
        let migrated = (|| -> rusqlite::Result<()> {
            conn.execute_batch(SCHEMA)?;
            for (table, column) in ADDED_COLUMNS {
                let name = column.split(' ').next().unwrap_or("");
                let present: bool = conn
                    .prepare(&format!(
                        "SELECT 1 FROM pragma_table_info('{table}') WHERE name = ?1"
                    ))?
                    .exists([name])?;
                if !present {
                    conn.execute_batch(&format!("ALTER TABLE {table} ADD COLUMN {column}"))?;
                }
            }
            for table in WATCHED {
                for op in ["INSERT", "UPDATE", "DELETE"] {
                    conn.execute_batch(&format!(
                        "CREATE TRIGGER IF NOT EXISTS changes_{table}_{op} AFTER {op} ON {table}
                         BEGIN UPDATE changes SET seq = seq + 1 WHERE id = 1; END;"
                    ))?;
                }
            }
            conn.execute_batch(
                "CREATE UNIQUE INDEX IF NOT EXISTS rooms_direct ON rooms(direct_key);
                 CREATE INDEX IF NOT EXISTS messages_room ON messages(room, seq);
                 CREATE INDEX IF NOT EXISTS messages_thread ON messages(thread, seq);
                 COMMIT;",
            )
        })();
        if let Err(e) = migrated {
            let _ = conn.execute_batch("ROLLBACK");
            return Err(e.into());
        }
        Ok(RefChat {
            conn: Mutex::new(conn),
        })
    }

    /// A counter that grows with every change to rooms, users, messages,
    /// members, reactions and views, made by any process: watch it to
    /// know when to look again.
    pub fn change_seq(&self) -> Result<i64> {
        Ok(self
            .conn()
            .query_row("SELECT seq FROM changes WHERE id = 1", [], |r| r.get(0))?)
    }

    /// The views open for `user`, oldest first.
    pub fn views(&self, user: &str) -> Result<Vec<View>> {
        let conn = self.conn();
        let mut stmt =
            conn.prepare_cached("SELECT view FROM views WHERE user = ?1 ORDER BY opened_at, id")?;
        let rows = stmt
            .query_map([user], |r| r.get::<_, String>(0))?
            .collect::<rusqlite::Result<Vec<_>>>()?;
        Ok(rows
            .iter()
            .filter_map(|j| serde_json::from_str(j).ok())
            .collect())
    }

    /// Show a view, or replace one still shown; a user keeps at most a
    /// few open.
    fn show_view(&self, view: &View, update: bool) -> rusqlite::Result<()> {
        let json = serde_json::to_string(view).unwrap_or_default();
        let conn = self.conn();
        if update {
            conn.execute(
                "UPDATE views SET view = ?2 WHERE id = ?1",
                rusqlite::params![view.id, json],
            )?;
            return Ok(());
        }
        conn.execute(
            "INSERT INTO views (id, user, view, opened_at) VALUES (?1, ?2, ?3, ?4)",
            rusqlite::params![view.id, view.user, json, now_ms() as i64],
        )?;
        conn.execute(
            "DELETE FROM views WHERE user = ?1 AND id NOT IN
             (SELECT id FROM views WHERE user = ?1 ORDER BY opened_at DESC, id DESC LIMIT ?2)",
            rusqlite::params![view.user, VIEWS_PER_USER as i64],
        )?;
        Ok(())
    }

    fn conn(&self) -> MutexGuard<'_, Connection> {
        self.conn.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Create a room, a user and the user's membership if they do not exist
    /// yet; says what was new, so the caller can raise the events.
    pub fn ensure(&self, room: &str, user: &str) -> Result<Ensured> {
        let conn = self.conn();
        let room_created = conn.execute(
            "INSERT OR IGNORE INTO rooms (id, name, creator) VALUES (?1, ?1, ?2)",
            [room, user],
        )? > 0;
        let user_created = conn.execute(
            "INSERT OR IGNORE INTO users (id, display_name) VALUES (?1, ?1)",
            [user],
        )? > 0;
        let joined = conn.execute(
            "INSERT OR IGNORE INTO members (room, user) VALUES (?1, ?2)",
            [room, user],
        )? > 0;
        Ok(Ensured {
            room_created,
            user_created,
            joined,
        })
    }

    /// Create a user if missing; true if it was new.
    pub fn ensure_user(&self, user: &str) -> Result<bool> {
        Ok(self.conn().execute(
            "INSERT OR IGNORE INTO users (id, display_name) VALUES (?1, ?1)",
            [user],
        )? > 0)
    }

    /// Create room `room` (its id and name, kind and creator) with
    /// `members`; false if a room with that id, or a direct room with
    /// those members, exists already.
    pub fn create_room(&self, room: &Room, members: &[String]) -> Result<bool> {
        let mut conn = self.conn();
        let tx = conn.transaction()?;
        let key = (room.kind == RoomKind::Direct).then(|| direct_key(members));
        let created = tx.execute(
            "INSERT OR IGNORE INTO rooms (id, name, kind, creator, direct_key) VALUES (?1, ?2, ?3, ?4, ?5)",
            params![room.id, room.name, kind_name(room.kind), room.creator, key],
        )? > 0;
        if created {
            for m in members {
                tx.execute(
                    "INSERT OR IGNORE INTO members (room, user) VALUES (?1, ?2)",
                    [&room.id, m],
                )?;
            }
        }
        tx.commit()?;
        Ok(created)
    }

    /// Delete a room with its members and messages; the room, if it existed.
    pub fn delete_room(&self, id: &str) -> Result<Option<Room>> {
        let Some(room) = self.room(id).map_err(Error::InvalidInput)? else {
            return Ok(None);
        };
        let mut conn = self.conn();
        let tx = conn.transaction()?;
        tx.execute(
            "DELETE FROM reactions WHERE message IN (SELECT id FROM messages WHERE room = ?1)",
            [id],
        )?;
        tx.execute("DELETE FROM messages WHERE room = ?1", [id])?;
        tx.execute("DELETE FROM members WHERE room = ?1", [id])?;
        tx.execute("DELETE FROM rooms WHERE id = ?1", [id])?;
        tx.commit()?;
        Ok(Some(room))
    }

    /// Add `user` to `room`; false if they were a member already.
    pub fn join(&self, room: &str, user: &str) -> Result<bool> {
        Ok(self.conn().execute(
            "INSERT OR IGNORE INTO members (room, user) VALUES (?1, ?2)",
            [room, user],
        )? > 0)
    }

    /// Remove `user` from `room`; false if they were not a member.
    pub fn leave(&self, room: &str, user: &str) -> Result<bool> {
        Ok(self.conn().execute(
            "DELETE FROM members WHERE room = ?1 AND user = ?2",
            [room, user],
        )? > 0)
    }

    /// Every room, by name.
    pub fn rooms(&self) -> Result<Vec<Room>> {
        let conn = self.conn();
        let mut stmt =
            conn.prepare("SELECT id, name, kind, creator FROM rooms ORDER BY name, id")?;
        let rooms = stmt
            .query_map([], row_room)?
            .collect::<rusqlite::Result<Vec<_>>>()?;
        Ok(rooms)
    }

    /// A room's member ids, in order.
    pub fn members(&self, room: &str) -> Result<Vec<String>> {
        let conn = self.conn();
        let mut stmt = conn.prepare("SELECT user FROM members WHERE room = ?1 ORDER BY user")?;
        let list = stmt
            .query_map([room], |r| r.get(0))?
            .collect::<rusqlite::Result<Vec<String>>>()?;
        Ok(list)
    }

    /// Replace a message's content (as its editor); the message before and
    /// after, or `None` if there is no such message.
    pub fn edit(&self, id: &str, content: &Content) -> Result<Option<(Message, Message)>> {
        let Some(before) = self.message(id).map_err(Error::InvalidInput)? else {
            return Ok(None);
        };
        self.apply_edit(id, content)?;
        let after = self
            .message(id)
            .map_err(Error::InvalidInput)?
            .unwrap_or_else(|| before.clone());
        Ok(Some((before, after)))
    }

    fn apply_edit(&self, id: &str, content: &Content) -> rusqlite::Result<usize> {
        let rich = rich_json(&content.attachments, &content.blocks);
        self.conn().execute(
            "UPDATE messages SET text = ?2, custom_fields = ?3, rich = ?4, edited_at = ?5 WHERE id = ?1",
            params![
                id,
                content.text,
                serde_json::Value::Object(content.custom_fields.clone()).to_string(),
                rich,
                now_ms() as i64
            ],
        )
    }

    /// Delete a message and its reactions; the message, if it existed.
    pub fn delete_message(&self, id: &str) -> Result<Option<Message>> {
        let message = self.message(id).map_err(Error::InvalidInput)?;
        let conn = self.conn();
        conn.execute("DELETE FROM reactions WHERE message = ?1", [id])?;
        conn.execute("DELETE FROM messages WHERE id = ?1", [id])?;
        Ok(message)
    }

    /// Add (or with `added` false, take back) `user`'s `reaction` to a
    /// message; false if nothing changed.
    pub fn react(&self, message: &str, user: &str, reaction: &str, added: bool) -> Result<bool> {
        let conn = self.conn();
        let sql = if added {
            "INSERT OR IGNORE INTO reactions (message, user, reaction) VALUES (?1, ?2, ?3)"
        } else {
            "DELETE FROM reactions WHERE message = ?1 AND user = ?2 AND reaction = ?3"
        };
        Ok(conn.execute(sql, [message, user, reaction])? > 0)
    }

    /// Change a user's display name; the user after, if they exist.
    pub fn rename_user(&self, user: &str, display_name: &str) -> Result<Option<User>> {
        self.conn().execute(
            "UPDATE users SET display_name = ?2 WHERE id = ?1",
            [user, display_name],
        )?;
        self.user(user).map_err(Error::InvalidInput)
    }

    /// Set a server setting (JSON), as an administrator would.
    pub fn set_server_setting(&self, id: &str, value: &serde_json::Value) -> Result<()> {
        self.conn().execute(
            "INSERT INTO server_settings (id, value) VALUES (?1, ?2)
             ON CONFLICT (id) DO UPDATE SET value = excluded.value",
            [id, &value.to_string()],
        )?;
        Ok(())
    }

    /// The last `limit` messages of a room, oldest first, with
    /// notifications and reactions.
    pub fn history(&self, room: &str, limit: usize) -> Result<Vec<StoredMessage>> {
        let conn = self.conn();
        let mut stmt = conn.prepare(&format!(
            "SELECT {MESSAGE_COLUMNS} FROM messages WHERE room = ?1 ORDER BY seq DESC LIMIT ?2"
        ))?;
        let mut rows = stmt
            .query_map(params![room, limit as i64], |r| {
                let visible_to: Option<String> = r.get(11)?;
                let notice = visible_to.as_deref() == Some(NOTICE);
                Ok(StoredMessage {
                    message: row_message(r)?,
                    visible_to: visible_to.filter(|_| !notice),
                    notice,
                    reactions: BTreeMap::new(),
                })
            })?
            .collect::<rusqlite::Result<Vec<_>>>()?;
        rows.reverse();
        let mut stmt = conn.prepare(
            "SELECT reaction, user FROM reactions WHERE message = ?1 ORDER BY reaction, user",
        )?;
        for row in &mut rows {
            for pair in stmt.query_map([&row.message.id], |r| {
                Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?))
            })? {
                let (reaction, user) = pair?;
                row.reactions.entry(reaction).or_default().push(user);
            }
        }
        Ok(rows)
    }

    fn insert(&self, m: &Message, visible_to: Option<&str>) -> rusqlite::Result<()> {
        let conn = self.conn();
        conn.execute(
            &format!(
                "INSERT INTO messages ({MESSAGE_COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)"
            ),
            params![
                m.id,
                m.room,
                m.sender,
                m.text,
                serde_json::Value::Object(m.custom_fields.clone()).to_string(),
                m.timestamp as i64,
                m.thread,
                m.alias,
                m.avatar,
                m.edited_at.map(|t| t as i64),
                rich_json(&m.attachments, &m.blocks),
                visible_to
            ],
        )?;
        Ok(())
    }

    fn messages_where(
        &self,
        clause: &str,
        key: &str,
        limit: usize,
    ) -> Result<Vec<Message>, String> {
        let conn = self.conn();
        let mut stmt = conn
            .prepare(&format!(
                "SELECT {MESSAGE_COLUMNS} FROM messages WHERE {clause} AND visible_to IS NULL ORDER BY seq DESC LIMIT ?2"
            ))
            .map_err(|e| e.to_string())?;
        let mut list = stmt
            .query_map(params![key, limit as i64], row_message)
            .and_then(|rows| rows.collect::<rusqlite::Result<Vec<_>>>())
            .map_err(|e| e.to_string())?;
        list.reverse();
        Ok(list)
    }
}

/// `visible_to` of a room notification.
const NOTICE: &str = "\u{0}room";

fn rich_json(attachments: &[Attachment], blocks: &[Block]) -> Option<String> {
    if attachments.is_empty() && blocks.is_empty() {
        return None;
    }
    serde_json::to_string(&Rich {
        attachments: attachments.to_vec(),
        blocks: blocks.to_vec(),
    })
    .ok()
}

fn row_message(r: &rusqlite::Row<'_>) -> rusqlite::Result<Message> {
    let fields: String = r.get(4)?;
    let rich: Option<String> = r.get(10)?;
    let rich: Rich = rich
        .and_then(|j| serde_json::from_str(&j).ok())
        .unwrap_or_default();
    Ok(Message {
        id: r.get(0)?,
        room: r.get(1)?,
        sender: r.get(2)?,
        text: r.get(3)?,
        custom_fields: serde_json::from_str(&fields).unwrap_or_default(),
        timestamp: r.get::<_, i64>(5)? as u64,
        thread: r.get(6)?,
        alias: r.get(7)?,
        avatar: r.get(8)?,
        edited_at: r.get::<_, Option<i64>>(9)?.map(|t| t as u64),
        attachments: rich.attachments,
        blocks: rich.blocks,
    })
}

fn row_room(r: &rusqlite::Row<'_>) -> rusqlite::Result<Room> {
    Ok(Room {
        id: r.get(0)?,
        name: r.get(1)?,
        kind: parse_kind(&r.get::<_, String>(2)?),
        creator: r.get(3)?,
    })
}

fn row_user(r: &rusqlite::Row<'_>) -> rusqlite::Result<User> {
    Ok(User {
        id: r.get(0)?,
        username: r.get(0)?,
        display_name: r.get(1)?,
        is_bot: r.get(2)?,
    })
}

/// An app's bot user, which the reference chat knows without a row.
fn bot(id: &str) -> Option<User> {
    let app = id.strip_prefix("app:")?;
    Some(User {
        id: bot_user_id(app),
        username: format!("{app}.bot"),
        display_name: app.to_string(),
        is_bot: true,
    })
}

fn text_err(e: rusqlite::Error) -> String {
    e.to_string()
}

impl Bridge for RefChat {
    fn room(&self, id: &str) -> Result<Option<Room>, String> {
        self.conn()
            .query_row(
                "SELECT id, name, kind, creator FROM rooms WHERE id = ?1",
                [id],
                row_room,
            )
            .optional()
            .map_err(text_err)
    }

    fn user(&self, id: &str) -> Result<Option<User>, String> {
        if let Some(bot) = bot(id) {
            return Ok(Some(bot));
        }
        self.conn()
            .query_row(
                "SELECT id, display_name, is_bot FROM users WHERE id = ?1",
                [id],
                row_user,
            )
            .optional()
            .map_err(text_err)
    }

    fn message(&self, id: &str) -> Result<Option<Message>, String> {
        self.conn()
            .query_row(
                &format!(
                    "SELECT {MESSAGE_COLUMNS} FROM messages WHERE id = ?1 AND visible_to IS NULL"
                ),
                [id],
                row_message,
            )
            .optional()
            .map_err(text_err)
    }

    fn store_message(&self, message: &Message) -> Result<String, String> {
        let mut m = message.clone();
        m.id = crate::storage::new_record_id();
        self.insert(&m, None).map_err(text_err)?;
        Ok(m.id)
    }

    fn deliver(&self, effect: &Effect) -> Result<(), String> {
        let note = |app: &str, room: &str, text: &str| Message {
            id: crate::storage::new_record_id(),
            room: room.to_string(),
            sender: bot_user_id(app),
            text: text.to_string(),
            timestamp: now_ms(),
            ..Message::default()
        };
        match effect {
            Effect::SendMessage { message, .. } => self.insert(message, None).map_err(text_err),
            Effect::NotifyUser {
                app,
                user,
                room,
                text,
            } => self
                .insert(&note(app, room, text), Some(user))
                .map_err(text_err),
            Effect::NotifyRoom { app, room, text } => self
                .insert(&note(app, room, text), Some(NOTICE))
                .map_err(text_err),
            Effect::UpdateMessage { id, content, .. } => match self.apply_edit(id, content) {
                Ok(0) => Err(format!("no message '{id}' to edit")),
                Ok(_) => Ok(()),
                Err(e) => Err(e.to_string()),
            },
            Effect::DeleteMessage { id, .. } => self
                .delete_message(id)
                .map(|_| ())
                .map_err(|e| e.to_string()),
            Effect::OpenView { view, update, .. } => {
                self.show_view(view, *update).map_err(text_err)
            }
            Effect::CloseView { id, .. } => self
                .conn()
                .execute("DELETE FROM views WHERE id = ?1", [id])
                .map(|_| ())
                .map_err(text_err),
            Effect::CreateRoom { room, members, .. } => {
                match self.create_room(room, members).map_err(|e| e.to_string())? {
                    true => Ok(()),
                    // Another handler made the same direct room meanwhile:
                    // keep this id usable as a plain room of those members.
                    false => {
                        let mut plain = room.clone();
                        plain.kind = RoomKind::PrivateGroup;
                        self.create_room(&plain, members)
                            .map(|_| ())
                            .map_err(|e| e.to_string())
                    }
                }
            }
        }
    }

    fn is_member(&self, room: &str, user: &str) -> Result<bool, String> {
        self.conn()
            .prepare_cached("SELECT 1 FROM members WHERE room = ?1 AND user = ?2")
            .and_then(|mut s| s.exists([room, user]))
            .map_err(text_err)
    }

    fn room_by_name(&self, name: &str) -> Result<Option<Room>, String> {
        self.conn()
            .query_row(
                "SELECT id, name, kind, creator FROM rooms WHERE name = ?1 ORDER BY rowid LIMIT 1",
                [name],
                row_room,
            )
            .optional()
            .map_err(text_err)
    }

    fn room_members(&self, room: &str, limit: usize) -> Result<Vec<User>, String> {
        let ids = self.members(room).map_err(|e| e.to_string())?;
        let mut users = Vec::new();
        for id in ids.into_iter().take(limit) {
            let user = self.user(&id)?.unwrap_or(User {
                username: id.clone(),
                display_name: id.clone(),
                id,
                is_bot: false,
            });
            users.push(user);
        }
        Ok(users)
    }

    fn room_messages(&self, room: &str, limit: usize) -> Result<Vec<Message>, String> {
        self.messages_where("room = ?1", room, limit)
    }

    fn direct_room(&self, users: &[String]) -> Result<Option<Room>, String> {
        self.conn()
            .query_row(
                "SELECT id, name, kind, creator FROM rooms WHERE direct_key = ?1",
                [direct_key(users)],
                row_room,
            )
            .optional()
            .map_err(text_err)
    }

    fn user_by_username(&self, username: &str) -> Result<Option<User>, String> {
        // A user's id is their name here.
        self.user(username)
    }

    fn thread(&self, root: &str, limit: usize) -> Result<Vec<Message>, String> {
        let Some(first) = self.message(root)? else {
            return Ok(Vec::new());
        };
        let mut list = vec![first];
        if limit > 1 {
            // The earliest replies after the root.
            let conn = self.conn();
            let mut stmt = conn
                .prepare(&format!(
                    "SELECT {MESSAGE_COLUMNS} FROM messages WHERE thread = ?1 AND visible_to IS NULL ORDER BY seq LIMIT ?2"
                ))
                .map_err(text_err)?;
            let replies = stmt
                .query_map(params![root, (limit - 1) as i64], row_message)
                .and_then(|rows| rows.collect::<rusqlite::Result<Vec<_>>>())
                .map_err(text_err)?;
            list.extend(replies);
        }
        Ok(list)
    }

    fn server_setting(&self, id: &str) -> Result<Option<serde_json::Value>, String> {
        let text: Option<String> = self
            .conn()
            .query_row(
                "SELECT value FROM server_settings WHERE id = ?1",
                [id],
                |r| r.get(0),
            )
            .optional()
            .map_err(text_err)?;
        Ok(text.and_then(|t| serde_json::from_str(&t).ok()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A `chat.db` written by an older Hangar (no room kinds, members,
    /// threads or rich content) opens, keeps its messages and gains the
    /// new columns.
    #[test]
    fn an_older_chat_db_is_brought_up_to_date_in_place() {
        let dir = tempfile::tempdir().unwrap();
        {
            let old = Connection::open(dir.path().join("chat.db")).unwrap();
            old.execute_batch(
                "CREATE TABLE rooms (id TEXT PRIMARY KEY, name TEXT NOT NULL);
                 CREATE TABLE users (id TEXT PRIMARY KEY, display_name TEXT NOT NULL);
                 CREATE TABLE messages (
                     seq INTEGER PRIMARY KEY, id TEXT NOT NULL UNIQUE, room TEXT NOT NULL,
                     sender TEXT NOT NULL, text TEXT NOT NULL, custom_fields TEXT NOT NULL,
                     time INTEGER NOT NULL, visible_to TEXT);
                 INSERT INTO rooms VALUES ('general', 'general');
                 INSERT INTO users VALUES ('carol', 'carol');
                 INSERT INTO messages (id, room, sender, text, custom_fields, time)
                     VALUES ('m1', 'general', 'carol', 'hello', '{}', 1);",
            )
            .unwrap();
        }
        let chat = RefChat::open(dir.path()).unwrap();
        let history = chat.history("general", 10).unwrap();
        assert_eq!(history[0].message.text, "hello");
        assert_eq!(
            chat.room("general").unwrap().unwrap().kind,
            RoomKind::Channel
        );
        assert!(chat.ensure("general", "carol").unwrap().joined);
        let (_, after) = chat
            .edit(
                "m1",
                &Content {
                    text: "hello again".into(),
                    ..Content::default()
                },
            )
            .unwrap()
            .unwrap();
        assert!(after.edited_at.is_some());
        // Opening it again changes nothing.
        drop(chat);
        let again = RefChat::open(dir.path()).unwrap();
        assert_eq!(
            again.history("general", 10).unwrap()[0].message.text,
            "hello again"
        );
    }
}
