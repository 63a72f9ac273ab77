//! The host's [`Bridge`] in a Matrix homeserver: lookups and effects
//! through the Client-Server API with the app service's `as_token`, each
//! app speaking as its own puppet (`@<sender>_<app>:<server>`, registered
//! once, named after the app). Lookups are cached with a bound; what must
//! outlive a restart (transactions handled, the ids of messages apps sent,
//! the rooms of events seen) is kept in `matrix.db` in the data dir.

use std::collections::HashMap;
use std::path::Path;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use hangar_host::{Bridge, ChatEvent, Content, Effect, Message, Room, RoomKind, User};
use rusqlite::{Connection, OptionalExtension, params};
use serde_json::{Value, json};

use super::Registration;
use super::render;

/// How long a cached lookup is trusted.
const CACHE_TTL: Duration = Duration::from_secs(30);
/// Most cached lookups per kind; the cache is emptied when full.
const CACHE_MAX: usize = 4096;
/// How long handled transactions and events seen are remembered.
const KEEP_MS: u64 = 7 * 24 * 3600 * 1000;
/// A request to the homeserver gives up after this.
const HTTP_TIMEOUT: Duration = Duration::from_secs(10);
/// Most bytes of a homeserver answer read.
const MAX_ANSWER: u64 = 4 << 20;

/// A bounded cache of lookups.
struct Cache<T> {
    entries: HashMap<String, (Instant, T)>,
}

impl<T: Clone> Cache<T> {
    fn new() -> Self {
        Cache {
            entries: HashMap::new(),
        }
    }

    fn get(&self, key: &str) -> Option<T> {
        self.entries
            .get(key)
            .filter(|(at, _)| at.elapsed() < CACHE_TTL)
            .map(|(_, v)| v.clone())
    }

    fn put(&mut self, key: &str, value: T) {
        if self.entries.len() >= CACHE_MAX {
            self.entries.clear();
        }
        self.entries
            .insert(key.to_string(), (Instant::now(), value));
    }
}

/// The cached value of `key`, or `fetch`ed and cached (the lock is not
/// held while fetching).
fn cached<T: Clone>(
    cache: &Mutex<Cache<T>>,
    key: &str,
    fetch: impl FnOnce() -> Result<T, String>,
) -> Result<T, String> {
    let lock = || cache.lock().unwrap_or_else(|p| p.into_inner());
    if let Some(v) = lock().get(key) {
        return Ok(v);
    }
    let value = fetch()?;
    lock().put(key, value.clone());
    Ok(value)
}

/// An event the bridge saw: its type, and what it relates to.
pub(crate) struct Seen {
    pub(crate) kind: String,
    pub(crate) target: Option<String>,
    pub(crate) key: Option<String>,
}

/// A Client-Server API failure: the HTTP status (0 when none came back)
/// and Matrix's error code.
#[derive(Debug)]
pub(crate) struct CsError {
    pub(crate) status: u16,
    pub(crate) code: String,
    pub(crate) message: String,
}

impl std::fmt::Display for CsError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.status == 0 {
            write!(f, "the homeserver did not answer: {}", self.message)
        } else {
            write!(
                f,
                "the homeserver answered {} {}: {}",
                self.status, self.code, self.message
            )
        }
    }
}

/// The Matrix side of the host.
pub(crate) struct MatrixBridge {
    pub(crate) reg: Registration,
    agent: ureq::Agent,
    db: Mutex<Connection>,
    rooms: Mutex<Cache<Option<Room>>>,
    users: Mutex<Cache<Option<User>>>,
    members: Mutex<Cache<Vec<User>>>,
    /// Puppets registered in this process (the homeserver keeps them).
    puppets: Mutex<std::collections::HashSet<String>>,
    /// App names, for the puppets' display names.
    pub(crate) app_names: Mutex<HashMap<String, String>>,
}

impl MatrixBridge {
    /// Open the bridge's state in `data_dir/matrix.db`.
    pub(crate) fn open(reg: Registration, data_dir: &Path) -> anyhow::Result<MatrixBridge> {
        let path = data_dir.join("matrix.db");
        let db = Connection::open(&path)?;
        db.busy_timeout(Duration::from_secs(5))?;
        db.execute_batch(
            "PRAGMA journal_mode = WAL;
             PRAGMA synchronous = FULL;
             CREATE TABLE IF NOT EXISTS txns (id TEXT PRIMARY KEY, events TEXT NOT NULL,
                 at INTEGER NOT NULL);
             CREATE TABLE IF NOT EXISTS events (id TEXT PRIMARY KEY, room TEXT NOT NULL,
                 at INTEGER NOT NULL, kind TEXT NOT NULL DEFAULT '', target TEXT, key TEXT);
             CREATE INDEX IF NOT EXISTS events_at ON events (at);
             CREATE INDEX IF NOT EXISTS txns_at ON txns (at);
             CREATE TABLE IF NOT EXISTS sent (id TEXT PRIMARY KEY, event TEXT NOT NULL,
                 room TEXT NOT NULL, at INTEGER NOT NULL);
             CREATE INDEX IF NOT EXISTS sent_event ON sent (event);
             CREATE INDEX IF NOT EXISTS sent_at ON sent (at);
             CREATE TABLE IF NOT EXISTS state (key TEXT PRIMARY KEY, value TEXT NOT NULL);
             CREATE TABLE IF NOT EXISTS rooms (id TEXT PRIMARY KEY, matrix TEXT NOT NULL,
                 direct TEXT);
             CREATE INDEX IF NOT EXISTS rooms_direct ON rooms (direct);",
        )?;
        let agent = ureq::AgentBuilder::new()
            .timeout(HTTP_TIMEOUT)
            .redirects(0)
            .build();
        Ok(MatrixBridge {
            reg,
            agent,
            db: Mutex::new(db),
            rooms: Mutex::new(Cache::new()),
            users: Mutex::new(Cache::new()),
            members: Mutex::new(Cache::new()),
            puppets: Mutex::new(Default::default()),
            app_names: Mutex::new(HashMap::new()),
        })
    }

    fn db(&self) -> std::sync::MutexGuard<'_, Connection> {
        self.db.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Whether transaction `id` with these `events` (a digest of their
    /// ids) was handled before. The id alone is not enough: Synapse on
    /// SQLite numbers transactions from the highest one still pending, so
    /// after a restart it reuses ids of transactions already handled.
    pub(crate) fn txn_done(&self, id: &str, events: &str) -> anyhow::Result<bool> {
        Ok(self
            .db()
            .prepare_cached("SELECT 1 FROM txns WHERE id = ?1 AND events = ?2")?
            .exists([id, events])?)
    }

    /// The id of the last transaction handled.
    pub(crate) fn last_txn(&self) -> anyhow::Result<Option<String>> {
        Ok(self
            .db()
            .prepare_cached("SELECT value FROM state WHERE key = 'last_txn'")?
            .query_row([], |r| r.get(0))
            .optional()?)
    }

    /// The rooms with events seen since `since_ms`, with the newest
    /// event's time in each.
    pub(crate) fn recent_rooms(&self, since_ms: u64) -> anyhow::Result<Vec<(String, u64)>> {
        let db = self.db();
        let mut stmt = db.prepare_cached(
            "SELECT room, max(at) FROM events WHERE at >= ?1 GROUP BY room ORDER BY 2 DESC LIMIT 100",
        )?;
        let rows = stmt
            .query_map([since_ms as i64], |r| {
                Ok((r.get(0)?, r.get::<_, i64>(1)? as u64))
            })?
            .collect::<rusqlite::Result<Vec<_>>>()?;
        Ok(rows)
    }

    /// Remember transaction `id` as handled (and forget old ones).
    pub(crate) fn finish_txn(&self, id: &str, events: &str) -> anyhow::Result<()> {
        let now = now_ms();
        let db = self.db();
        db.prepare_cached("INSERT OR REPLACE INTO txns (id, events, at) VALUES (?1, ?2, ?3)")?
            .execute(params![id, events, now as i64])?;
        db.prepare_cached("INSERT OR REPLACE INTO state (key, value) VALUES ('last_txn', ?1)")?
            .execute([id])?;
        let old = now.saturating_sub(KEEP_MS) as i64;
        db.prepare_cached("DELETE FROM txns WHERE at < ?1")?
            .execute([old])?;
        db.prepare_cached("DELETE FROM events WHERE at < ?1")?
            .execute([old])?;
        // Apps edit their messages for a while; a month is plenty.
        db.prepare_cached("DELETE FROM sent WHERE at < ?1")?
            .execute([now.saturating_sub(4 * KEEP_MS) as i64])?;
        Ok(())
    }

    /// Remember event `id` (made at `at_ms`): its room, for message
    /// lookups and catching up, and its type and relation, so a redaction
    /// of a reaction can be told from a deleted message.
    pub(crate) fn saw_event(
        &self,
        id: &str,
        room: &str,
        at_ms: u64,
        kind: &str,
        target: Option<&str>,
        key: Option<&str>,
    ) {
        let saved = self
            .db()
            .prepare_cached(
                "INSERT OR IGNORE INTO events (id, room, at, kind, target, key)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            )
            .and_then(|mut s| {
                s.execute(params![
                    id,
                    room,
                    at_ms.min(now_ms()) as i64,
                    kind,
                    target,
                    key
                ])
            });
        if let Err(e) = saved {
            eprintln!(
                "{}",
                json!({"event": "matrix-db-error", "doing": "remembering an event", "error": e.to_string()})
            );
        }
    }

    /// What the bridge saw of event `id`.
    pub(crate) fn seen(&self, id: &str) -> Option<Seen> {
        self.db()
            .prepare_cached("SELECT kind, target, key FROM events WHERE id = ?1")
            .and_then(|mut s| {
                s.query_row([id], |r| {
                    Ok(Seen {
                        kind: r.get(0)?,
                        target: r.get(1)?,
                        key: r.get(2)?,
                    })
                })
                .optional()
            })
            .ok()
            .flatten()
    }

    /// Whether `user` belongs to this homeserver.
    pub(crate) fn is_local(&self, user: &str) -> bool {
        user.strip_suffix(self.reg.hangar.server_name.as_str())
            .is_some_and(|u| u.starts_with('@') && u.ends_with(':'))
    }

    /// The Matrix event id and room of message `id` (an event id, or the
    /// id the host gave a message an app sent).
    fn locate(&self, id: &str) -> Option<(String, String)> {
        let db = self.db();
        let sent: Option<(String, String)> = db
            .prepare_cached("SELECT event, room FROM sent WHERE id = ?1")
            .and_then(|mut s| s.query_row([id], |r| Ok((r.get(0)?, r.get(1)?))).optional())
            .ok()
            .flatten();
        if sent.is_some() {
            return sent;
        }
        db.prepare_cached("SELECT room FROM events WHERE id = ?1")
            .and_then(|mut s| s.query_row([id], |r| r.get::<_, String>(0)).optional())
            .ok()
            .flatten()
            .map(|room| (id.to_string(), room))
    }

    /// The host's id for event `event` (an app's message keeps the id the
    /// app holds).
    pub(crate) fn host_id(&self, event: &str) -> String {
        self.db()
            .prepare_cached("SELECT id FROM sent WHERE event = ?1")
            .and_then(|mut s| s.query_row([event], |r| r.get::<_, String>(0)).optional())
            .ok()
            .flatten()
            .unwrap_or_else(|| event.to_string())
    }

    /// The puppet user of app `app`.
    pub(crate) fn puppet(&self, app: &str) -> String {
        format!(
            "@{}_{}:{}",
            self.reg.sender_localpart, app, self.reg.hangar.server_name
        )
    }

    /// Whether `user` is one of the app service's own users (its sender
    /// or a puppet): their events are the apps' own, not the chat's.
    pub(crate) fn is_ours(&self, user: &str) -> bool {
        let server = &self.reg.hangar.server_name;
        let Some(local) = user
            .strip_prefix('@')
            .and_then(|u| u.strip_suffix(server.as_str()))
            .and_then(|u| u.strip_suffix(':'))
        else {
            return false;
        };
        let me = &self.reg.sender_localpart;
        local == me || local.starts_with(&format!("{me}_"))
    }

    /// The app a puppet speaks for.
    pub(crate) fn app_of(&self, user: &str) -> Option<String> {
        let prefix = format!("@{}_", self.reg.sender_localpart);
        let suffix = format!(":{}", self.reg.hangar.server_name);
        user.strip_prefix(&prefix)?
            .strip_suffix(&suffix)
            .map(str::to_string)
    }

    /// One Client-Server call as `user` (the app service's sender when
    /// `None`).
    pub(crate) fn call(
        &self,
        method: &str,
        path: &str,
        user: Option<&str>,
        body: Option<&Value>,
    ) -> Result<Value, CsError> {
        let url = format!("{}{path}", self.reg.hangar.homeserver.trim_end_matches('/'));
        let mut request = self
            .agent
            .request(method, &url)
            .set("Authorization", &format!("Bearer {}", self.reg.as_token));
        if let Some(user) = user {
            request = request.query("user_id", user);
        }
        let response = match body {
            Some(b) => request
                .set("Content-Type", "application/json")
                .send_string(&b.to_string()),
            None => request.call(),
        };
        let (status, response) = match response {
            Ok(r) => (r.status(), r),
            Err(ureq::Error::Status(code, r)) => (code, r),
            Err(e) => {
                return Err(CsError {
                    status: 0,
                    code: String::new(),
                    message: e.to_string(),
                });
            }
        };
        let mut text = String::new();
        use std::io::Read;
        let read = response
            .into_reader()
            .take(MAX_ANSWER + 1)
            .read_to_string(&mut text);
        let value: Value = serde_json::from_str(&text).unwrap_or(Value::Null);
        if (200..300).contains(&status) {
            if let Err(e) = read {
                return Err(CsError {
                    status,
                    code: String::new(),
                    message: format!("reading the answer: {e}"),
                });
            }
            if text.len() as u64 > MAX_ANSWER || (value.is_null() && !text.trim().is_empty()) {
                return Err(CsError {
                    status,
                    code: String::new(),
                    message: format!(
                        "the answer is over {MAX_ANSWER} bytes or not JSON; nothing of it was used"
                    ),
                });
            }
            return Ok(value);
        }
        Err(CsError {
            status,
            code: value["errcode"].as_str().unwrap_or("").to_string(),
            message: value["error"]
                .as_str()
                .unwrap_or(&text)
                .chars()
                .take(300)
                .collect(),
        })
    }

    /// Register app `app`'s puppet once and name it after the app.
    pub(crate) fn ensure_puppet(&self, app: &str) -> Result<String, String> {
        let user = self.puppet(app);
        if self
            .puppets
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .contains(&user)
        {
            return Ok(user);
        }
        let local = format!("{}_{app}", self.reg.sender_localpart);
        match self.call(
            "POST",
            "/_matrix/client/v3/register",
            None,
            Some(&json!({"type": "m.login.application_service", "username": local, "inhibit_login": true})),
        ) {
            Ok(_) => {
                let name = self
                    .app_names
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .get(app)
                    .cloned()
                    .unwrap_or_else(|| app.to_string());
                let path = format!("/_matrix/client/v3/profile/{}/displayname", enc(&user));
                let _ = self.call(
                    "PUT",
                    &path,
                    Some(&user),
                    Some(&json!({"displayname": name})),
                );
            }
            Err(e) if e.code == "M_USER_IN_USE" => {}
            Err(e) => return Err(format!("registering {user}: {e}")),
        }
        self.puppets
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(user.clone());
        Ok(user)
    }

    /// Join `room` as `user`.
    pub(crate) fn join(&self, room: &str, user: Option<&str>) -> Result<(), CsError> {
        let path = format!("/_matrix/client/v3/join/{}", enc(room));
        self.call("POST", &path, user, Some(&json!({}))).map(|_| ())
    }

    /// Send an event as `user`, joining the room first when the user is
    /// not in it (public rooms; an invite is needed otherwise).
    fn send_as(
        &self,
        user: &str,
        room: &str,
        kind: &str,
        txn: &str,
        content: &Value,
    ) -> Result<String, String> {
        let matrix = self.matrix_room(room);
        let room = matrix.as_str();
        let path = format!(
            "/_matrix/client/v3/rooms/{}/send/{kind}/{}",
            enc(room),
            enc(txn)
        );
        let sent = match self.call("PUT", &path, Some(user), Some(content)) {
            Err(e) if e.code == "M_FORBIDDEN" => {
                self.join(room, Some(user))
                    .map_err(|j| {
                format!("{user} cannot speak in {room} ({e}) nor join it ({j}); invite {user} to the room")
            })?;
                self.call("PUT", &path, Some(user), Some(content))
            }
            other => other,
        }
        .map_err(|e| format!("sending to {room} as {user}: {e}"))?;
        Ok(sent["event_id"].as_str().unwrap_or_default().to_string())
    }

    fn send_message(&self, app: &str, message: &Message) -> Result<(), String> {
        let user = self.ensure_puppet(app)?;
        let mut content = render::content(&message.content());
        if let Some(thread) = &message.thread {
            let root = self.locate(thread).map_or(thread.clone(), |(e, _)| e);
            content["m.relates_to"] = json!({
                "rel_type": "m.thread",
                "event_id": root,
                "is_falling_back": true,
                "m.in_reply_to": {"event_id": root},
            });
        }
        // The host's message id is the transaction id: a repeated delivery
        // is the same send to the homeserver.
        let event = self.send_as(
            &user,
            &message.room,
            "m.room.message",
            &message.id,
            &content,
        )?;
        let _ = self
            .db()
            .prepare_cached(
                "INSERT OR REPLACE INTO sent (id, event, room, at) VALUES (?1, ?2, ?3, ?4)",
            )
            .and_then(|mut s| s.execute(params![message.id, event, message.room, now_ms() as i64]));
        Ok(())
    }

    fn edit(&self, app: &str, id: &str, content: &Content) -> Result<(), String> {
        let user = self.ensure_puppet(app)?;
        let (event, room) = self
            .locate(id)
            .ok_or_else(|| format!("message {id} is not known to the bridge"))?;
        let new = render::content(content);
        let mut body = new.clone();
        body["body"] = json!(format!("* {}", new["body"].as_str().unwrap_or("")));
        body["m.new_content"] = new;
        body["m.relates_to"] = json!({"rel_type": "m.replace", "event_id": event});
        let txn = format!("edit-{}", hangar_host::new_record_id());
        self.send_as(&user, &room, "m.room.message", &txn, &body)
            .map(|_| ())
    }

    fn delete(&self, app: &str, id: &str) -> Result<(), String> {
        let user = self.ensure_puppet(app)?;
        let (event, room) = self
            .locate(id)
            .ok_or_else(|| format!("message {id} is not known to the bridge"))?;
        let path = format!(
            "/_matrix/client/v3/rooms/{}/redact/{}/{}",
            enc(&room),
            enc(&event),
            hangar_host::new_record_id()
        );
        self.call("PUT", &path, Some(&user), Some(&json!({})))
            .map(|_| ())
            .map_err(|e| format!("deleting {event}: {e}"))
    }

    fn notice(&self, app: &str, room: &str, text: &str) -> Result<(), String> {
        let user = self.ensure_puppet(app)?;
        let content = json!({"msgtype": "m.notice", "body": text});
        let txn = format!("notice-{}", hangar_host::new_record_id());
        self.send_as(&user, room, "m.room.message", &txn, &content)
            .map(|_| ())
    }

    fn create_room(&self, app: &str, room: &Room, members: &[String]) -> Result<(), String> {
        let user = self.ensure_puppet(app)?;
        let invite: Vec<&String> = members
            .iter()
            .filter(|m| m.starts_with('@') && **m != user)
            .collect();
        let preset = match room.kind {
            RoomKind::Channel => "public_chat",
            RoomKind::PrivateGroup => "private_chat",
            RoomKind::Direct => "trusted_private_chat",
        };
        // A direct room is named by its members in every client; the
        // host's name for it lists internal ids.
        let mut body = json!({
            "preset": preset, "invite": invite,
            "is_direct": room.kind == RoomKind::Direct,
        });
        if room.kind != RoomKind::Direct {
            body["name"] = json!(room.name);
        }
        let made = self
            .call(
                "POST",
                "/_matrix/client/v3/createRoom",
                Some(&user),
                Some(&body),
            )
            .map_err(|e| format!("creating room {}: {e}", room.name))?;
        let Some(matrix) = made["room_id"].as_str() else {
            return Err(format!(
                "creating room {}: the homeserver named no room",
                room.name
            ));
        };
        // The app holds the id the host chose: later effects and lookups
        // name the room by it.
        let direct = (room.kind == RoomKind::Direct).then(|| members.join("\n"));
        self.db()
            .prepare_cached("INSERT OR REPLACE INTO rooms (id, matrix, direct) VALUES (?1, ?2, ?3)")
            .and_then(|mut s| s.execute(params![room.id, matrix, direct]))
            .map_err(|e| format!("remembering room {}: {e}", room.name))?;
        Ok(())
    }

    /// The Matrix id of room `id` (an app's room keeps the host's id).
    pub(crate) fn matrix_room(&self, id: &str) -> String {
        self.db()
            .prepare_cached("SELECT matrix FROM rooms WHERE id = ?1")
            .and_then(|mut s| s.query_row([id], |r| r.get::<_, String>(0)).optional())
            .ok()
            .flatten()
            .unwrap_or_else(|| id.to_string())
    }

    /// A room from its state.
    fn fetch_room(&self, id: &str) -> Result<Option<Room>, String> {
        let path = format!("/_matrix/client/v3/rooms/{}/state", enc(id));
        let state = match self.call("GET", &path, None, None) {
            Ok(s) => s,
            // Hangar's user reads the rooms it was invited to; it does not
            // push into others. The room exists (its events come here).
            Err(e) if e.code == "M_FORBIDDEN" => {
                return Ok(Some(Room {
                    id: id.to_string(),
                    name: id.to_string(),
                    kind: RoomKind::PrivateGroup,
                    creator: String::new(),
                }));
            }
            Err(e) if e.status == 404 => return Ok(None),
            Err(e) => return Err(e.to_string()),
        };
        let mut room = Room {
            id: id.to_string(),
            name: id.to_string(),
            kind: RoomKind::PrivateGroup,
            creator: String::new(),
        };
        for event in state.as_array().into_iter().flatten() {
            match event["type"].as_str() {
                Some("m.room.name") => {
                    if let Some(n) = event["content"]["name"].as_str() {
                        room.name = n.to_string();
                    }
                }
                Some("m.room.create") => {
                    room.creator = event["sender"].as_str().unwrap_or("").to_string();
                }
                Some("m.room.join_rules") if event["content"]["join_rule"] == "public" => {
                    room.kind = RoomKind::Channel;
                }
                _ => {}
            }
        }
        Ok(Some(room))
    }

    fn fetch_user(&self, id: &str) -> Result<Option<User>, String> {
        let path = format!("/_matrix/client/v3/profile/{}", enc(id));
        let profile = match self.call("GET", &path, None, None) {
            Ok(p) => p,
            Err(e) if e.status == 404 => return Ok(None),
            Err(e) => return Err(e.to_string()),
        };
        let username = id
            .strip_prefix('@')
            .and_then(|u| u.split(':').next())
            .unwrap_or(id)
            .to_string();
        Ok(Some(User {
            id: id.to_string(),
            display_name: profile["displayname"]
                .as_str()
                .unwrap_or(&username)
                .to_string(),
            username,
            is_bot: self.is_ours(id),
        }))
    }

    /// A room's joined members.
    fn fetch_members(&self, room: &str) -> Result<Vec<User>, String> {
        let path = format!("/_matrix/client/v3/rooms/{}/joined_members", enc(room));
        let answer = match self.call("GET", &path, None, None) {
            Ok(a) => a,
            Err(e) if e.code == "M_FORBIDDEN" => {
                return Err(format!(
                    "Hangar's user is not in room {room}: invite @{}:{} to let apps read its members",
                    self.reg.sender_localpart, self.reg.hangar.server_name
                ));
            }
            Err(e) => return Err(e.to_string()),
        };
        let joined = answer["joined"].as_object().cloned().unwrap_or_default();
        Ok(joined
            .iter()
            .map(|(id, info)| {
                let username = id
                    .strip_prefix('@')
                    .and_then(|u| u.split(':').next())
                    .unwrap_or(id)
                    .to_string();
                User {
                    id: id.clone(),
                    display_name: info["display_name"]
                        .as_str()
                        .unwrap_or(&username)
                        .to_string(),
                    username,
                    is_bot: self.is_ours(id),
                }
            })
            .collect())
    }

    /// A message from its event.
    fn fetch_message(&self, id: &str) -> Result<Option<Message>, String> {
        let Some((event, room)) = self.locate(id) else {
            return Ok(None);
        };
        let path = format!(
            "/_matrix/client/v3/rooms/{}/event/{}",
            enc(&room),
            enc(&event)
        );
        match self.call("GET", &path, None, None) {
            Ok(e) => Ok(render::message_of(&e, self).map(|mut m| {
                m.id = id.to_string();
                m
            })),
            Err(e) if e.status == 404 => Ok(None),
            Err(e) if e.code == "M_FORBIDDEN" => Err(format!(
                "Hangar's user is not in room {room}: invite @{}:{} to let apps read its messages",
                self.reg.sender_localpart, self.reg.hangar.server_name
            )),
            Err(e) => Err(e.to_string()),
        }
    }
}

impl Bridge for MatrixBridge {
    fn room(&self, id: &str) -> Result<Option<Room>, String> {
        cached(&self.rooms, id, || {
            Ok(self.fetch_room(&self.matrix_room(id))?.map(|mut r| {
                r.id = id.to_string();
                r
            }))
        })
    }

    fn user(&self, id: &str) -> Result<Option<User>, String> {
        cached(&self.users, id, || self.fetch_user(id))
    }

    fn message(&self, id: &str) -> Result<Option<Message>, String> {
        self.fetch_message(id)
    }

    fn store_message(&self, _message: &Message) -> Result<String, String> {
        Err("in a Matrix homeserver the homeserver stores messages: send through it".into())
    }

    fn deliver(&self, effect: &Effect) -> Result<(), String> {
        match effect {
            Effect::SendMessage { app, message } => self.send_message(app, message),
            Effect::UpdateMessage { app, id, content } => self.edit(app, id, content),
            Effect::DeleteMessage { app, id } => self.delete(app, id),
            // Matrix has no message shown to one user only: a notice
            // addressed to the user stands in.
            Effect::NotifyUser {
                app,
                user,
                room,
                text,
            } => self.notice(app, room, &format!("{user}: {text}")),
            Effect::NotifyRoom { app, room, text } => self.notice(app, room, text),
            Effect::CreateRoom { app, room, members } => self.create_room(app, room, members),
            Effect::OpenView { .. } | Effect::CloseView { .. } => Err(
                "Matrix clients have no modals or contextual bars: the view is not shown".into(),
            ),
        }
    }

    fn room_members(&self, room: &str, limit: usize) -> Result<Vec<User>, String> {
        let members = cached(&self.members, room, || {
            self.fetch_members(&self.matrix_room(room))
        })?;
        Ok(members.into_iter().take(limit).collect())
    }

    fn direct_room(&self, users: &[String]) -> Result<Option<Room>, String> {
        let found: Option<String> = self
            .db()
            .prepare_cached("SELECT id FROM rooms WHERE direct = ?1")
            .and_then(|mut s| s.query_row([users.join("\n")], |r| r.get(0)).optional())
            .map_err(|e| e.to_string())?;
        Ok(found.map(|id| Room {
            name: users.join(", "),
            kind: RoomKind::Direct,
            creator: String::new(),
            id,
        }))
    }

    fn user_by_username(&self, username: &str) -> Result<Option<User>, String> {
        self.user(&format!("@{username}:{}", self.reg.hangar.server_name))
    }
}

impl MatrixBridge {
    /// Forget cached lookups an event changes.
    pub(crate) fn invalidate(&self, event: &ChatEvent) {
        match event {
            ChatEvent::UserJoined { room, .. } | ChatEvent::UserLeft { room, .. } => {
                self.members
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .entries
                    .remove(&room.id);
            }
            ChatEvent::RoomCreated { room, .. } | ChatEvent::RoomDeleted { room, .. } => {
                self.rooms
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .entries
                    .remove(&room.id);
            }
            _ => {}
        }
    }
}

/// Percent-encode one path segment.
pub(crate) fn enc(segment: &str) -> String {
    url::form_urlencoded::byte_serialize(segment.as_bytes())
        .collect::<String>()
        .replace('+', "%20")
}

pub(crate) fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}
