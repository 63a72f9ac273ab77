//! A small reference chat kept in the data dir (`chat.db`): the bridge the
//! CLI uses, so consecutive `hangar` invocations share rooms, users and
//! history. Rooms and users are created on first use; a user's id is their
//! name. Also a worked example of implementing [`Bridge`].

use std::path::Path;
use std::sync::Mutex;

use rusqlite::{Connection, OptionalExtension, params};

use crate::bridge::{Bridge, Effect, Message, Room, User};
use crate::error::{Error, Result};

/// The reference chat.
pub struct RefChat {
    conn: Mutex<Connection>,
}

impl std::fmt::Debug for RefChat {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("RefChat")
    }
}

/// A message as the reference chat stored it, with who it was for.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct StoredMessage {
    /// The message.
    #[serde(flatten)]
    pub message: Message,
    /// For a notification, the only user who sees it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub visible_to: Option<String>,
}

impl RefChat {
    /// Open (creating) `<data_dir>/chat.db`.
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
        conn.execute_batch(
            "PRAGMA journal_mode=WAL;
             BEGIN IMMEDIATE;
             CREATE TABLE IF NOT EXISTS rooms (id TEXT PRIMARY KEY, name TEXT NOT NULL);
             CREATE TABLE IF NOT EXISTS users (id TEXT PRIMARY KEY, display_name TEXT NOT NULL);
             CREATE TABLE IF NOT EXISTS messages (
                 seq INTEGER PRIMARY KEY, id TEXT NOT NULL UNIQUE, room TEXT NOT NULL,
                 sender TEXT NOT NULL, text TEXT NOT NULL, custom_fields TEXT NOT NULL,
                 time INTEGER NOT NULL, visible_to TEXT);
             COMMIT;",
        )?;
        Ok(RefChat {
            conn: Mutex::new(conn),
        })
    }

    /// Create a room and a user if they do not exist yet.
    pub fn ensure(&self, room: &str, user: &str) -> Result<()> {
        let conn = self.conn.lock().expect("chat lock poisoned");
        conn.execute(
            "INSERT OR IGNORE INTO rooms (id, name) VALUES (?1, ?1)",
            [room],
        )?;
        conn.execute(
            "INSERT OR IGNORE INTO users (id, display_name) VALUES (?1, ?1)",
            [user],
        )?;
        Ok(())
    }

    /// The last `limit` messages of a room, oldest first.
    pub fn history(&self, room: &str, limit: usize) -> Result<Vec<StoredMessage>> {
        let conn = self.conn.lock().expect("chat lock poisoned");
        let mut stmt = conn.prepare(
            "SELECT id, room, sender, text, custom_fields, time, visible_to FROM messages WHERE room = ?1 ORDER BY seq DESC LIMIT ?2",
        )?;
        let mut rows = stmt
            .query_map(params![room, limit as i64], |r| {
                Ok(StoredMessage {
                    message: row_message(r)?,
                    visible_to: r.get(6)?,
                })
            })?
            .collect::<rusqlite::Result<Vec<_>>>()?;
        rows.reverse();
        Ok(rows)
    }

    fn insert(&self, m: &Message, visible_to: Option<&str>) -> rusqlite::Result<()> {
        let conn = self.conn.lock().expect("chat lock poisoned");
        conn.execute(
            "INSERT INTO messages (id, room, sender, text, custom_fields, time, visible_to) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
            params![
                m.id,
                m.room,
                m.sender,
                m.text,
                serde_json::Value::Object(m.custom_fields.clone()).to_string(),
                m.timestamp as i64,
                visible_to
            ],
        )?;
        Ok(())
    }
}

fn row_message(r: &rusqlite::Row<'_>) -> rusqlite::Result<Message> {
    let fields: String = r.get(4)?;
    Ok(Message {
        id: r.get(0)?,
        room: r.get(1)?,
        sender: r.get(2)?,
        text: r.get(3)?,
        custom_fields: serde_json::from_str(&fields).unwrap_or_default(),
        timestamp: r.get::<_, i64>(5)? as u64,
    })
}

impl Bridge for RefChat {
    fn room(&self, id: &str) -> Result<Option<Room>, String> {
        let conn = self.conn.lock().expect("chat lock poisoned");
        conn.query_row("SELECT id, name FROM rooms WHERE id = ?1", [id], |r| {
            Ok(Room {
                id: r.get(0)?,
                name: r.get(1)?,
            })
        })
        .optional()
        .map_err(|e| e.to_string())
    }

    fn user(&self, id: &str) -> Result<Option<User>, String> {
        let conn = self.conn.lock().expect("chat lock poisoned");
        conn.query_row(
            "SELECT id, display_name FROM users WHERE id = ?1",
            [id],
            |r| {
                Ok(User {
                    id: r.get(0)?,
                    username: r.get(0)?,
                    display_name: r.get(1)?,
                })
            },
        )
        .optional()
        .map_err(|e| e.to_string())
    }

    fn message(&self, id: &str) -> Result<Option<Message>, String> {
        let conn = self.conn.lock().expect("chat lock poisoned");
        conn.query_row(
            "SELECT id, room, sender, text, custom_fields, time FROM messages WHERE id = ?1 AND visible_to IS NULL",
            [id],
            row_message,
        )
        .optional()
        .map_err(|e| e.to_string())
    }

    fn store_message(&self, message: &Message) -> Result<String, String> {
        let mut m = message.clone();
        m.id = crate::storage::new_record_id();
        self.insert(&m, None).map_err(|e| e.to_string())?;
        Ok(m.id)
    }

    fn deliver(&self, effect: &Effect) -> Result<(), String> {
        let (room, text, sender, visible_to) = match effect {
            Effect::SendMessage { app, room, text } => (room, text, format!("app:{app}"), None),
            Effect::NotifyUser {
                app,
                user,
                room,
                text,
            } => (room, text, format!("app:{app}"), Some(user.as_str())),
        };
        let m = Message {
            id: crate::storage::new_record_id(),
            room: room.clone(),
            sender,
            text: text.clone(),
            custom_fields: Default::default(),
            timestamp: crate::registry::now_ms(),
        };
        self.insert(&m, visible_to).map_err(|e| e.to_string())
    }
}
