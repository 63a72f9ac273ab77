//! The host side of the app's imports, version-neutral: the reader (every
//! call), the persistence writer and the modifier (handler calls only),
//! and logs. Every call checks the app's permissions and argument sizes; a
//! denied or oversized call returns an error the app can handle, never a
//! silent empty result. The per-version modules in `bindings` map these to
//! their WIT types.

use crate::bridge::{Effect, Message, Room, User};
use crate::manifest::{Manifest, Permission};
use crate::policy::bounded;
use crate::sandbox::CallState;
use crate::storage::{Association, Record, StoreError, StoreResult, Txn};

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
        let checked = self
            .need(Permission::MessageWrite)
            .and_then(|_| self.check_size("room id", &room))
            .and_then(|_| self.check_size("message text", &text));
        if let Err(e) = checked {
            return Ok(Err(e));
        }
        let bytes = room.len() + text.len();
        let app = self.app.manifest.id.clone();
        Ok(self.queue(Effect::SendMessage { app, room, text }, bytes))
    }

    pub(crate) fn notify_user(
        &mut self,
        user: String,
        room: String,
        text: String,
    ) -> wasmtime::Result<Outcome<()>> {
        self.handler_only()?;
        let checked = self
            .need(Permission::MessageWrite)
            .and_then(|_| self.check_size("user id", &user))
            .and_then(|_| self.check_size("room id", &room))
            .and_then(|_| self.check_size("message text", &text));
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
