//! The host side of the app's imports, version-neutral: the reader (every
//! call), the persistence writer and the modifier (handler calls only),
//! and logs. Every call checks the app's permissions and argument sizes; a
//! denied or oversized call returns an error the app can handle, never a
//! silent empty result. The per-version modules in `bindings` map these to
//! their WIT types.

use crate::bridge::{Content, Effect, Message, Room, RoomKind, User, View, bot_user_id};
use crate::manifest::{Manifest, Permission};
use crate::outbound;
use crate::policy::bounded;
use crate::registry::now_ms;
use crate::rich;
use crate::sandbox::CallState;
use crate::storage::{Association, Record, StoreError, StoreResult, Txn, new_record_id};

/// An error a host call returns to the app (a WIT `error` case).
#[derive(Debug)]
pub(crate) enum ImportError {
    Denied(String),
    Invalid(String),
    TooLarge(String),
    QuotaExceeded(String),
    NotFound(String),
    Host(String),
}

impl From<StoreError> for ImportError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::Invalid(m) => ImportError::Invalid(m),
            StoreError::TooLarge(m) => ImportError::TooLarge(m),
            StoreError::QuotaExceeded(m) => ImportError::QuotaExceeded(m),
            StoreError::NotFound(m) => ImportError::NotFound(m),
            StoreError::Busy(m) | StoreError::Unavailable(m) | StoreError::Aborted(m) => {
                ImportError::Host(m)
            }
            StoreError::Backend(e) => ImportError::Host(format!("storage failed: {e}")),
        }
    }
}

impl From<rich::Refusal> for ImportError {
    fn from(r: rich::Refusal) -> Self {
        match r {
            rich::Refusal::TooLarge(m) => ImportError::TooLarge(m),
            rich::Refusal::Invalid(m) => ImportError::Invalid(m),
        }
    }
}

type Outcome<T> = Result<T, ImportError>;

/// Longest log line kept; longer ones are cut.
const MAX_LOG_LINE: usize = 4096;

impl CallState {
    fn need(&mut self, permission: Permission) -> Outcome<()> {
        if self.app.manifest.grants(permission) {
            return Ok(());
        }
        let name = permission.name();
        if !self.denied.contains(&name) {
            self.denied.push(name);
        }
        Err(ImportError::Denied(format!(
            "app '{}' lacks the '{name}' permission; add it to the manifest's permissions",
            self.app.manifest.id
        )))
    }

    fn check_size(&self, what: &str, value: &str) -> Outcome<()> {
        if value.len() > self.limits.max_argument_bytes {
            return Err(ImportError::TooLarge(format!(
                "{what} is {} bytes, over the limit of {} bytes",
                value.len(),
                self.limits.max_argument_bytes
            )));
        }
        Ok(())
    }

    /// A stashed or forged handle is a guest fault: trap, do not write.
    fn handler_only(&self) -> wasmtime::Result<()> {
        if self.writer_live {
            Ok(())
        } else {
            Err(wasmtime::Error::msg(
                "the persistence writer was used outside the handler call it was passed to",
            ))
        }
    }

    pub(crate) fn manifest(&self) -> &Manifest {
        &self.app.manifest
    }

    pub(crate) fn read_record(&mut self, id: &str) -> Outcome<Option<Record>> {
        self.need(Permission::Persistence)?;
        Ok(self.txn.read(id)?)
    }

    pub(crate) fn read_matching(&mut self, list: &[Association]) -> Outcome<Vec<Record>> {
        self.need(Permission::Persistence)?;
        Ok(self.txn.read_by_associations(list)?)
    }

    pub(crate) fn setting_json(&mut self, id: &str) -> Outcome<String> {
        self.need(Permission::Settings)?;
        match self.app.settings.get(id) {
            Some(v) => Ok(v.to_string()),
            None => Err(ImportError::NotFound(format!(
                "app '{}' declares no setting '{}'",
                self.app.manifest.id,
                id.chars().take(100).collect::<String>()
            ))),
        }
    }

    pub(crate) fn room(&mut self, id: &str) -> Outcome<Option<Room>> {
        self.need(Permission::RoomRead)?;
        self.check_size("room id", id)?;
        self.bridge.room(id).map_err(ImportError::Host)
    }

    pub(crate) fn user(&mut self, id: &str) -> Outcome<Option<User>> {
        self.need(Permission::UserRead)?;
        self.check_size("user id", id)?;
        self.bridge.user(id).map_err(ImportError::Host)
    }

    pub(crate) fn message(&mut self, id: &str) -> Outcome<Option<Message>> {
        self.need(Permission::MessageRead)?;
        self.check_size("message id", id)?;
        self.bridge.message(id).map_err(ImportError::Host)
    }

    /// One writer operation: liveness (a trap when dead), the permission,
    /// then the operation on the call's transaction.
    pub(crate) fn write<T>(
        &mut self,
        op: impl FnOnce(&mut dyn Txn) -> StoreResult<T>,
    ) -> wasmtime::Result<Outcome<T>> {
        self.handler_only()?;
        if let Err(e) = self.need(Permission::Persistence) {
            return Ok(Err(e));
        }
        Ok(op(self.txn.as_mut()).map_err(ImportError::from))
    }

    pub(crate) fn send_message(
        &mut self,
        room: String,
        text: String,
    ) -> wasmtime::Result<Outcome<()>> {
        self.handler_only()?;
        let checked = self.message_write(&[("room id", &room), ("message text", &text)]);
        if let Err(e) = checked {
            return Ok(Err(e));
        }
        let bytes = room.len() + text.len();
        let message = Message {
            id: new_record_id(),
            room,
            sender: self.bot(),
            text,
            timestamp: now_ms(),
            ..Message::default()
        };
        let app = self.app.manifest.id.clone();
        Ok(self.queue(Effect::SendMessage { app, message }, bytes))
    }

    /// A message-writing modifier call's checks: `message.write`, then
    /// each named string within the argument bound.
    fn message_write(&mut self, strings: &[(&str, &str)]) -> Outcome<()> {
        self.need(Permission::MessageWrite)?;
        strings
            .iter()
            .try_for_each(|(what, value)| self.check_size(what, value))
    }

    pub(crate) fn notify_user(
        &mut self,
        user: String,
        room: String,
        text: String,
    ) -> wasmtime::Result<Outcome<()>> {
        self.handler_only()?;
        let checked = self.message_write(&[
            ("user id", &user),
            ("room id", &room),
            ("message text", &text),
        ]);
        if let Err(e) = checked {
            return Ok(Err(e));
        }
        let bytes = user.len() + room.len() + text.len();
        let app = self.app.manifest.id.clone();
        Ok(self.queue(
            Effect::NotifyUser {
                app,
                user,
                room,
                text,
            },
            bytes,
        ))
    }

    /// Keep one app log line (cut to 4 KiB, copied so the guest's large
    /// string is freed at once); past the per-call limit lines are counted
    /// and dropped.
    pub(crate) fn app_log(&mut self, level: &'static str, message: String) {
        if self.logs.len() >= self.limits.max_logs_per_call {
            self.dropped_logs += 1;
            return;
        }
        self.logs.push((level, bounded(message, MAX_LOG_LINE)));
    }

    /// Queue an effect, within the per-call count and byte limits.
    fn queue(&mut self, effect: Effect, bytes: usize) -> Outcome<()> {
        if self.effects.len() >= self.limits.max_effects {
            return Err(ImportError::TooLarge(format!(
                "this call already queued {} messages, the limit per call",
                self.limits.max_effects
            )));
        }
        if self.effect_bytes + bytes > self.limits.max_effect_bytes {
            return Err(ImportError::TooLarge(format!(
                "this call's messages would hold more than {} bytes, the limit per call",
                self.limits.max_effect_bytes
            )));
        }
        self.effect_bytes += bytes;
        self.effects.push(effect);
        Ok(())
    }
}

/// A message an app sends (API 0.2's `outgoing`).
pub(crate) struct Outgoing {
    pub(crate) room: String,
    pub(crate) thread: Option<String>,
    pub(crate) alias: Option<String>,
    pub(crate) avatar: Option<String>,
    pub(crate) content: Content,
}

/// Most room members one read returns.
const MAX_MEMBERS: u32 = 1000;
/// Most messages one history or thread read returns.
const MAX_HISTORY: u32 = 100;
/// Most users named in one direct-room call.
const MAX_DIRECT_USERS: usize = 16;
/// Most bytes one chat read may hand the app.
const MAX_READ_BYTES: usize = 8 << 20;

/// Refuse a read that would hand the app more than [`MAX_READ_BYTES`].
fn within_read_bound<T: serde::Serialize>(what: &str, value: T) -> Outcome<T> {
    let bytes = serde_json::to_vec(&value).map_or(0, |v| v.len());
    if bytes > MAX_READ_BYTES {
        return Err(ImportError::TooLarge(format!(
            "{what} is {bytes} bytes, over the limit of {MAX_READ_BYTES} per read; ask for fewer"
        )));
    }
    Ok(value)
}

impl CallState {
    fn bot(&self) -> String {
        bot_user_id(&self.app.manifest.id)
    }

    /// The app's own bot user.
    pub(crate) fn app_user(&self) -> User {
        User {
            id: self.bot(),
            username: format!("{}.bot", self.app.manifest.id),
            display_name: self.app.manifest.name.clone(),
            is_bot: true,
        }
    }

    fn check_list(&self, what: &str, list: &[String], max: usize) -> Outcome<()> {
        if list.is_empty() || list.len() > max {
            return Err(ImportError::Invalid(format!(
                "{what} must name 1 to {max} users, not {}",
                list.len()
            )));
        }
        list.iter()
            .try_for_each(|u| self.check_size("a user id", u))
    }

    pub(crate) fn room_by_name(&mut self, name: &str) -> Outcome<Option<Room>> {
        self.need(Permission::RoomRead)?;
        self.check_size("room name", name)?;
        self.bridge.room_by_name(name).map_err(ImportError::Host)
    }

    pub(crate) fn room_members(&mut self, room: &str, limit: u32) -> Outcome<Vec<User>> {
        self.need(Permission::RoomRead)?;
        self.check_size("room id", room)?;
        let limit = limit.min(MAX_MEMBERS) as usize;
        let members = self
            .bridge
            .room_members(room, limit)
            .map_err(ImportError::Host)?;
        within_read_bound("the member list", truncate(members, limit))
    }

    pub(crate) fn room_messages(&mut self, room: &str, limit: u32) -> Outcome<Vec<Message>> {
        self.need(Permission::RoomRead)?;
        self.need(Permission::MessageRead)?;
        self.check_size("room id", room)?;
        let limit = limit.min(MAX_HISTORY) as usize;
        let mut list = self
            .bridge
            .room_messages(room, limit)
            .map_err(ImportError::Host)?;
        // The newest `limit`, oldest first, whatever the chat returned.
        if list.len() > limit {
            list.drain(..list.len() - limit);
        }
        within_read_bound("the room's history", list)
    }

    pub(crate) fn direct_room(&mut self, users: &[String]) -> Outcome<Option<Room>> {
        self.need(Permission::RoomRead)?;
        self.check_list("a direct room", users, MAX_DIRECT_USERS)?;
        self.bridge
            .direct_room(&members(users, None))
            .map_err(ImportError::Host)
    }

    pub(crate) fn user_by_username(&mut self, username: &str) -> Outcome<Option<User>> {
        self.need(Permission::UserRead)?;
        self.check_size("username", username)?;
        self.bridge
            .user_by_username(username)
            .map_err(ImportError::Host)
    }

    pub(crate) fn thread(&mut self, root: &str, limit: u32) -> Outcome<Vec<Message>> {
        self.need(Permission::MessageRead)?;
        self.check_size("message id", root)?;
        let limit = limit.min(MAX_HISTORY) as usize;
        let list = self.bridge.thread(root, limit).map_err(ImportError::Host)?;
        within_read_bound("the thread", truncate(list, limit))
    }

    pub(crate) fn server_setting(&mut self, id: &str) -> Outcome<Option<String>> {
        self.need(Permission::ServerSettingRead)?;
        self.check_size("setting id", id)?;
        let value = self.bridge.server_setting(id).map_err(ImportError::Host)?;
        let text = value.map(|v| v.to_string());
        if let Some(t) = &text {
            self.check_size("the setting's value", t)?;
        }
        Ok(text)
    }

    /// Send a rich message as the app's bot user; its id is chosen now.
    pub(crate) fn send(&mut self, out: Outgoing) -> wasmtime::Result<Outcome<String>> {
        self.handler_only()?;
        Ok(self.send_checked(out))
    }

    fn send_checked(&mut self, out: Outgoing) -> Outcome<String> {
        let thread = out.thread.as_deref().unwrap_or("");
        self.message_write(&[("room id", &out.room), ("thread id", thread)])?;
        let bytes = rich::check(
            &out.content,
            out.alias.as_deref(),
            out.avatar.as_deref(),
            self.limits.max_argument_bytes,
        )?;
        let mut message = Message {
            id: new_record_id(),
            room: out.room,
            sender: self.bot(),
            timestamp: now_ms(),
            thread: out.thread,
            alias: out.alias,
            avatar: out.avatar,
            ..Message::default()
        };
        message.set_content(out.content);
        let id = message.id.clone();
        let app = self.app.manifest.id.clone();
        self.queue(Effect::SendMessage { app, message }, bytes)?;
        Ok(id)
    }

    /// Whether the app may edit or delete message `id`: its own (sent
    /// earlier, or queued by this call) with `message.write`, others' with
    /// `message.update`.
    fn may_change(&mut self, id: &str) -> Outcome<()> {
        self.need(Permission::MessageWrite)?;
        self.check_size("message id", id)?;
        let queued = self
            .effects
            .iter()
            .any(|e| matches!(e, Effect::SendMessage { message, .. } if message.id == id));
        if queued {
            return Ok(());
        }
        let found = self.bridge.message(id).map_err(ImportError::Host)?;
        if found.as_ref().is_some_and(|m| m.sender == self.bot()) {
            return Ok(());
        }
        // Others' messages, and unknown ids, need message.update: without
        // it "not found" and "not yours" look the same, so an app cannot
        // probe which ids exist.
        self.need(Permission::MessageUpdate)?;
        match found {
            Some(_) => Ok(()),
            None => Err(ImportError::NotFound(format!(
                "no message '{}'",
                id.chars().take(100).collect::<String>()
            ))),
        }
    }

    /// An edit of a message that is not the app's own leaves its
    /// interactive elements exactly as they are: interactions with a
    /// message go to the app that sent it, so no other app may plant or
    /// change a button there.
    fn keeps_elements(&mut self, id: &str, content: &Content) -> Outcome<()> {
        let own = self
            .effects
            .iter()
            .any(|e| matches!(e, Effect::SendMessage { message, .. } if message.id == id));
        if own {
            return Ok(());
        }
        let Some(original) = self.bridge.message(id).map_err(ImportError::Host)? else {
            return Ok(());
        };
        if original.sender == self.bot()
            || crate::bridge::interactive(&original.blocks)
                == crate::bridge::interactive(&content.blocks)
        {
            return Ok(());
        }
        Err(ImportError::Denied(format!(
            "message '{}' is not this app's: an edit keeps its buttons, selects, menus and date pickers as they are",
            id.chars().take(100).collect::<String>()
        )))
    }

    /// Before a modifier call's arguments are even converted: the writer's
    /// liveness (a trap when dead) and the permission.
    pub(crate) fn modifier_call(
        &mut self,
        permission: Permission,
    ) -> wasmtime::Result<Outcome<()>> {
        self.handler_only()?;
        Ok(self.need(permission))
    }

    pub(crate) fn update_message(
        &mut self,
        id: String,
        content: Content,
    ) -> wasmtime::Result<Outcome<()>> {
        self.handler_only()?;
        let checked = self
            .may_change(&id)
            .and_then(|()| {
                rich::check(&content, None, None, self.limits.max_argument_bytes)
                    .map_err(ImportError::from)
            })
            .and_then(|bytes| self.keeps_elements(&id, &content).map(|()| bytes));
        let bytes = match checked {
            Ok(bytes) => bytes + id.len(),
            Err(e) => return Ok(Err(e)),
        };
        let app = self.app.manifest.id.clone();
        Ok(self.queue(Effect::UpdateMessage { app, id, content }, bytes))
    }

    pub(crate) fn delete_message(&mut self, id: String) -> wasmtime::Result<Outcome<()>> {
        self.handler_only()?;
        if let Err(e) = self.may_change(&id) {
            return Ok(Err(e));
        }
        let bytes = id.len();
        let app = self.app.manifest.id.clone();
        Ok(self.queue(Effect::DeleteMessage { app, id }, bytes))
    }

    pub(crate) fn notify_room(
        &mut self,
        room: String,
        text: String,
    ) -> wasmtime::Result<Outcome<()>> {
        self.handler_only()?;
        let checked = self.message_write(&[("room id", &room), ("message text", &text)]);
        if let Err(e) = checked {
            return Ok(Err(e));
        }
        let bytes = room.len() + text.len();
        let app = self.app.manifest.id.clone();
        Ok(self.queue(Effect::NotifyRoom { app, room, text }, bytes))
    }

    /// Create a room with the bot user as creator and member.
    pub(crate) fn create_room(
        &mut self,
        name: String,
        kind: RoomKind,
        users: Vec<String>,
    ) -> wasmtime::Result<Outcome<String>> {
        self.handler_only()?;
        let checked = self
            .need(Permission::RoomWrite)
            .and_then(|_| self.check_size("room name", &name))
            .and_then(|_| {
                if name.trim().is_empty() {
                    return Err(ImportError::Invalid("a room needs a name".into()));
                }
                if kind == RoomKind::Direct {
                    return Err(ImportError::Invalid(
                        "direct rooms come from create-direct, not create-room".into(),
                    ));
                }
                if users.len() > MAX_MEMBERS as usize {
                    return Err(ImportError::Invalid(format!(
                        "a new room may start with at most {MAX_MEMBERS} members"
                    )));
                }
                users
                    .iter()
                    .try_for_each(|u| self.check_size("a user id", u))
            });
        if let Err(e) = checked {
            return Ok(Err(e));
        }
        let room = Room {
            id: new_record_id(),
            name,
            kind,
            creator: self.bot(),
        };
        Ok(self.queue_room(room, members(&users, Some(self.bot()))))
    }

    /// The direct room between the bot user and `users`: the existing one
    /// (in the chat, or queued by this call), or a new one.
    pub(crate) fn create_direct(
        &mut self,
        users: Vec<String>,
    ) -> wasmtime::Result<Outcome<String>> {
        self.handler_only()?;
        Ok(self.direct_checked(users))
    }

    fn direct_checked(&mut self, users: Vec<String>) -> Outcome<String> {
        self.need(Permission::RoomWrite)?;
        self.check_list("a direct room", &users, MAX_DIRECT_USERS)?;
        let members = members(&users, Some(self.bot()));
        let queued = self.effects.iter().find_map(|e| match e {
            Effect::CreateRoom {
                room, members: m, ..
            } if room.kind == RoomKind::Direct && *m == members => Some(room.id.clone()),
            _ => None,
        });
        if let Some(id) = queued {
            return Ok(id);
        }
        if let Some(room) = self
            .bridge
            .direct_room(&members)
            .map_err(ImportError::Host)?
        {
            return Ok(room.id);
        }
        let room = Room {
            id: new_record_id(),
            name: members.join(", "),
            kind: RoomKind::Direct,
            creator: self.bot(),
        };
        self.queue_room(room, members)
    }

    fn queue_room(&mut self, room: Room, members: Vec<String>) -> Outcome<String> {
        let bytes = room.name.len() + members.iter().map(String::len).sum::<usize>();
        let id = room.id.clone();
        let app = self.app.manifest.id.clone();
        self.queue(Effect::CreateRoom { app, room, members }, bytes)?;
        Ok(id)
    }
}

/// `users` (plus `extra`), sorted and without repeats: a direct room's
/// member set has one spelling.
fn members(users: &[String], extra: Option<String>) -> Vec<String> {
    let mut all: Vec<String> = users.iter().cloned().chain(extra).collect();
    all.sort();
    all.dedup();
    all
}

fn truncate<T>(mut list: Vec<T>, limit: usize) -> Vec<T> {
    list.truncate(limit);
    list
}

impl CallState {
    /// An outbound request (`networking`), within the allow-lists, the
    /// internal-address guard, the call's deadline and the size caps; one
    /// line per request in the report and the log.
    pub(crate) fn fetch(&mut self, request: outbound::Request) -> Outcome<outbound::Response> {
        self.need(Permission::Networking)?;
        let policy = outbound::Policy {
            manifest: &self.app.manifest.allowed_hosts,
            operator: self.operator_hosts.as_deref(),
            allow_private: self.limits.outbound_allow_private,
            max_response_bytes: self.limits.max_fetch_response_bytes,
            max_request_bytes: self.limits.max_http_body_bytes,
        };
        let start = std::time::Instant::now();
        let result = outbound::fetch(&request, &policy, self.deadline);
        let url: String = request.url.chars().take(200).collect();
        let ms = start.elapsed().as_millis();
        if self.requests.len() < MAX_REQUEST_LINES {
            self.requests.push(match &result {
                Ok(r) => format!("{} {url} -> {} ({ms} ms)", request.method, r.status),
                Err(e) => format!(
                    "{} {url} refused: {} ({ms} ms)",
                    request.method,
                    e.message()
                ),
            });
        }
        result.map_err(|e| match e {
            outbound::Refused::Denied(m) => ImportError::Denied(m),
            outbound::Refused::Invalid(m) => ImportError::Invalid(m),
            outbound::Refused::TooLarge(m) => ImportError::TooLarge(m),
            outbound::Refused::Failed(m) => ImportError::Host(m),
        })
    }
}

/// Most outbound request lines one call's report keeps.
const MAX_REQUEST_LINES: usize = 32;

/// Shortest interval of a recurring job.
const MIN_EVERY_MS: u64 = 1000;

impl CallState {
    /// Schedule a job in this handler's transaction (`scheduler`): the
    /// processor must be one the manifest declares.
    pub(crate) fn schedule(
        &mut self,
        id: Option<String>,
        processor: String,
        data: String,
        when: (Option<u64>, Option<u64>),
        repeat: (Option<u64>, Option<String>),
    ) -> wasmtime::Result<Outcome<String>> {
        self.handler_only()?;
        Ok(self.schedule_checked(id, processor, data, when, repeat))
    }

    fn schedule_checked(
        &mut self,
        id: Option<String>,
        processor: String,
        data: String,
        (at_ms, delay_ms): (Option<u64>, Option<u64>),
        (every_ms, cron): (Option<u64>, Option<String>),
    ) -> Outcome<String> {
        self.need(Permission::Scheduler)?;
        self.check_size("job data", &data)?;
        if serde_json::from_str::<serde_json::Value>(&data).is_err() {
            return Err(ImportError::Invalid("job data must be JSON".into()));
        }
        if !self
            .app
            .manifest
            .processors
            .iter()
            .any(|p| p.id == processor)
        {
            return Err(ImportError::Invalid(format!(
                "app '{}' declares no processor '{}'; add it to the manifest's processors",
                self.app.manifest.id,
                processor.chars().take(64).collect::<String>()
            )));
        }
        if every_ms.is_some_and(|e| e < MIN_EVERY_MS) {
            return Err(ImportError::Invalid(format!(
                "a recurring job runs at most once a second: every-ms must be at least {MIN_EVERY_MS}"
            )));
        }
        let id = match id {
            Some(id) if id.is_empty() || id.len() > 200 => {
                return Err(ImportError::Invalid("a job id is 1 to 200 bytes".into()));
            }
            Some(id) => id,
            None => new_record_id(),
        };
        if every_ms.is_some() && cron.is_some() {
            return Err(ImportError::Invalid(
                "a job recurs on an interval or a cron schedule, not both".into(),
            ));
        }
        let now = now_ms();
        let due = match (at_ms, delay_ms, &cron) {
            (Some(at), _, _) => at,
            (None, Some(delay), _) => now.saturating_add(delay),
            (None, None, Some(expr)) => {
                crate::storage::next_cron(expr, now).map_err(ImportError::Invalid)?
            }
            (None, None, None) => now,
        };
        if let Some(expr) = &cron {
            crate::storage::parse_cron(expr).map_err(ImportError::Invalid)?;
        }
        let job = crate::storage::NewJob {
            id: id.clone(),
            processor,
            data,
            due,
            every_ms,
            cron,
        };
        self.own_job(Some(&job.id))?;
        self.txn.schedule_job(&job)?;
        Ok(id)
    }

    /// Before a job run touches its own job (`id`, or all jobs with
    /// `None`): check, inside this call's transaction, that the run still
    /// holds the job; then the run's completion leaves the new state alone.
    fn own_job(&mut self, id: Option<&str>) -> Outcome<()> {
        let Some((running, fence)) = self.running_job.clone() else {
            return Ok(());
        };
        if id.is_some_and(|id| id != running) || self.own_job_touched {
            return Ok(());
        }
        if !self.txn.job_fence_holds(&running, fence)? {
            return Err(ImportError::Host(
                "this run no longer holds its job (another runner took it, or it was replaced or cancelled)".into(),
            ));
        }
        self.own_job_touched = true;
        Ok(())
    }

    /// Cancel job `id` (`scheduler`), in this handler's transaction.
    pub(crate) fn cancel_job(&mut self, id: String) -> wasmtime::Result<Outcome<bool>> {
        self.handler_only()?;
        let r = self
            .need(Permission::Scheduler)
            .and_then(|()| self.check_size("job id", &id))
            .and_then(|()| self.own_job(Some(&id)))
            .and_then(|()| Ok(self.txn.cancel_job(&id)?));
        Ok(r)
    }

    /// Cancel every job of the app (`scheduler`).
    pub(crate) fn cancel_all_jobs(&mut self) -> wasmtime::Result<Outcome<u64>> {
        self.handler_only()?;
        let r = self
            .need(Permission::Scheduler)
            .and_then(|()| self.own_job(None))
            .and_then(|()| Ok(self.txn.cancel_all_jobs()?));
        Ok(r)
    }
}

impl CallState {
    /// Open a view for the user whose interaction handed this call
    /// `trigger`.
    pub(crate) fn open_view(
        &mut self,
        trigger: String,
        view: View,
    ) -> wasmtime::Result<Outcome<String>> {
        self.handler_only()?;
        Ok(self.open_view_checked(trigger, view))
    }

    fn open_view_checked(&mut self, trigger: String, mut view: View) -> Outcome<String> {
        self.check_size("trigger", &trigger)?;
        let Some(t) = self.trigger.as_ref().filter(|t| t.id == trigger) else {
            return Err(ImportError::Invalid(
                "this trigger is not this call's: a trigger opens a view only in the handler it was handed to (a command, block action, view submit or action button), so a stored one is stale".into(),
            ));
        };
        if t.used {
            return Err(ImportError::Invalid(
                "this call's trigger already opened a view; change that view with update-view"
                    .into(),
            ));
        }
        let user = t.user.clone();
        let bytes = rich::check_view(&view, self.limits.max_argument_bytes)?;
        view.id = format!("v-{}", new_record_id());
        view.app = self.app.manifest.id.clone();
        view.user = user;
        let id = view.id.clone();
        let app = view.app.clone();
        self.queue(
            Effect::OpenView {
                app,
                view,
                update: false,
            },
            bytes,
        )?;
        if let Some(t) = self.trigger.as_mut() {
            t.used = true;
        }
        Ok(id)
    }

    /// Replace what one of the app's open views shows.
    pub(crate) fn update_view(&mut self, id: String, view: View) -> wasmtime::Result<Outcome<()>> {
        self.handler_only()?;
        Ok(self.update_view_checked(id, view))
    }

    fn update_view_checked(&mut self, id: String, mut view: View) -> Outcome<()> {
        let current = self.own_view(&id)?;
        let bytes = rich::check_view(&view, self.limits.max_argument_bytes)?;
        view.id = current.id;
        view.app = current.app;
        view.user = current.user;
        let app = view.app.clone();
        self.queue(
            Effect::OpenView {
                app,
                view,
                update: true,
            },
            bytes,
        )
    }

    /// Close one of the app's open views.
    pub(crate) fn close_view(&mut self, id: String) -> wasmtime::Result<Outcome<()>> {
        self.handler_only()?;
        let current = match self.own_view(&id) {
            Ok(v) => v,
            Err(e) => return Ok(Err(e)),
        };
        let bytes = id.len() + current.user.len();
        Ok(self.queue(
            Effect::CloseView {
                app: current.app,
                user: current.user,
                id,
            },
            bytes,
        ))
    }

    /// One of this app's open views: opened earlier in this call, or known
    /// to the host and still open. Another app's view and an unknown id
    /// look the same.
    fn own_view(&mut self, id: &str) -> Outcome<View> {
        self.check_size("view id", id)?;
        let queued = self.effects.iter().rev().find_map(|e| match e {
            Effect::OpenView { view, .. } if view.id == id => Some(view.clone()),
            _ => None,
        });
        if let Some(v) = queued {
            return Ok(v);
        }
        let found = match &self.views {
            Some(registry) => registry
                .open_view_by_id(id)
                .map_err(|e| ImportError::Host(e.to_string()))?,
            None => None,
        };
        match found {
            Some(v) if v.app == self.app.manifest.id => Ok(v),
            _ => Err(ImportError::NotFound(format!(
                "no open view '{}' of this app",
                id.chars().take(100).collect::<String>()
            ))),
        }
    }
}
