//! The host side of the app's imports: the reader (every call), the
//! persistence writer and the modifier (handler calls only), and logs.
//! Every call checks the app's permissions and argument sizes; a denied or
//! oversized call returns a WIT error the app can handle, never a silent
//! empty result.

use wasmtime::component::Resource;

use crate::bindings::generated::hangar::app::{log, modify, persistence, reader, types};
use crate::bindings::{
    AppLog, CallState, ModifierToken, WriterToken, from_wit_associations, to_wit_error,
    to_wit_message, to_wit_record, wit,
};
use crate::bridge::Effect;
use crate::manifest::{API_VERSION, Permission};
use crate::persistence::Records;

type HostResult<T> = wasmtime::Result<Result<T, wit::Error>>;

impl CallState {
    fn need(&mut self, permission: Permission) -> Result<(), wit::Error> {
        if self.manifest.grants(permission) {
            return Ok(());
        }
        let name = permission.name();
        if !self.denied.contains(&name) {
            self.denied.push(name);
        }
        Err(wit::Error::Denied(format!(
            "app '{}' lacks the '{name}' permission; add it to the manifest's permissions",
            self.manifest.id
        )))
    }

    fn check_size(&self, what: &str, value: &str) -> Result<(), wit::Error> {
        if value.len() > self.max_argument_bytes {
            return Err(wit::Error::TooLarge(format!(
                "{what} is {} bytes, over the limit of {} bytes",
                value.len(),
                self.max_argument_bytes
            )));
        }
        Ok(())
    }

    /// A stashed or forged handle is a guest fault: trap, do not write.
    fn writer_must_be_live(&self) -> wasmtime::Result<()> {
        if self.writer_live {
            Ok(())
        } else {
            Err(wasmtime::Error::msg(
                "the persistence writer was used outside the handler call it was passed to",
            ))
        }
    }
}

/// Run `f` after the permission and liveness checks, mapping store errors.
macro_rules! write_op {
    ($self:ident, $body:expr) => {{
        $self.writer_must_be_live()?;
        if let Err(e) = $self.need(Permission::Persistence) {
            return Ok(Err(e));
        }
        Ok($body.map_err(to_wit_error))
    }};
}

impl types::Host for CallState {}
impl persistence::Host for CallState {}
impl modify::Host for CallState {}

impl reader::Host for CallState {
    fn read(&mut self, id: String) -> HostResult<Option<wit::Stored>> {
        if let Err(e) = self.need(Permission::Persistence) {
            return Ok(Err(e));
        }
        Ok(self
            .txn
            .read(&id)
            .map(|r| r.map(to_wit_record))
            .map_err(to_wit_error))
    }

    fn read_by_associations(
        &mut self,
        associations: Vec<wit::Association>,
    ) -> HostResult<Vec<wit::Stored>> {
        if let Err(e) = self.need(Permission::Persistence) {
            return Ok(Err(e));
        }
        let list = from_wit_associations(associations);
        Ok(self
            .txn
            .read_by_associations(&list)
            .map(|v| v.into_iter().map(to_wit_record).collect())
            .map_err(to_wit_error))
    }

    fn setting(&mut self, id: String) -> HostResult<String> {
        if let Err(e) = self.need(Permission::Settings) {
            return Ok(Err(e));
        }
        Ok(match self.settings.get(&id) {
            Some(v) => Ok(v.to_string()),
            None => Err(wit::Error::NotFound(format!(
                "app '{}' declares no setting '{}'",
                self.manifest.id,
                id.chars().take(100).collect::<String>()
            ))),
        })
    }

    fn info(&mut self) -> wasmtime::Result<wit::AppInfo> {
        Ok(wit::AppInfo {
            id: self.manifest.id.clone(),
            name: self.manifest.name.clone(),
            version: self.manifest.version.clone(),
            api_version: API_VERSION.to_string(),
        })
    }

    fn get_room(&mut self, id: String) -> HostResult<Option<wit::Room>> {
        if let Err(e) = self
            .need(Permission::RoomRead)
            .and_then(|_| self.check_size("room id", &id))
        {
            return Ok(Err(e));
        }
        Ok(self
            .bridge
            .room(&id)
            .map(|r| {
                r.map(|r| wit::Room {
                    id: r.id,
                    name: r.name,
                })
            })
            .map_err(wit::Error::Host))
    }

    fn get_user(&mut self, id: String) -> HostResult<Option<wit::User>> {
        if let Err(e) = self
            .need(Permission::UserRead)
            .and_then(|_| self.check_size("user id", &id))
        {
            return Ok(Err(e));
        }
        Ok(self
            .bridge
            .user(&id)
            .map(|u| {
                u.map(|u| wit::User {
                    id: u.id,
                    username: u.username,
                    display_name: u.display_name,
                })
            })
            .map_err(wit::Error::Host))
    }

    fn get_message(&mut self, id: String) -> HostResult<Option<wit::Message>> {
        if let Err(e) = self
            .need(Permission::MessageRead)
            .and_then(|_| self.check_size("message id", &id))
        {
            return Ok(Err(e));
        }
        Ok(self
            .bridge
            .message(&id)
            .map(|m| m.as_ref().map(to_wit_message))
            .map_err(wit::Error::Host))
    }
}

impl persistence::HostWriter for CallState {
    fn create(&mut self, _w: Resource<WriterToken>, data: String) -> HostResult<String> {
        write_op!(self, self.txn.create(&data, &[]))
    }

    fn create_with_associations(
        &mut self,
        _w: Resource<WriterToken>,
        data: String,
        associations: Vec<wit::Association>,
    ) -> HostResult<String> {
        write_op!(
            self,
            self.txn.create(&data, &from_wit_associations(associations))
        )
    }

    fn update(
        &mut self,
        _w: Resource<WriterToken>,
        id: String,
        data: String,
        upsert: bool,
    ) -> HostResult<String> {
        write_op!(self, self.txn.update(&id, &data, upsert))
    }

    fn update_by_associations(
        &mut self,
        _w: Resource<WriterToken>,
        associations: Vec<wit::Association>,
        data: String,
        upsert: bool,
    ) -> HostResult<Vec<String>> {
        write_op!(
            self,
            self.txn
                .update_by_associations(&from_wit_associations(associations), &data, upsert)
        )
    }

    fn remove(&mut self, _w: Resource<WriterToken>, id: String) -> HostResult<Option<wit::Stored>> {
        write_op!(self, self.txn.remove(&id).map(|r| r.map(to_wit_record)))
    }

    fn remove_by_associations(
        &mut self,
        _w: Resource<WriterToken>,
        associations: Vec<wit::Association>,
    ) -> HostResult<Vec<wit::Stored>> {
        write_op!(
            self,
            self.txn
                .remove_by_associations(&from_wit_associations(associations))
                .map(|v| v.into_iter().map(to_wit_record).collect())
        )
    }

    fn drop(&mut self, _rep: Resource<WriterToken>) -> wasmtime::Result<()> {
        // Borrows only: the guest never owns a writer, so there is nothing to free.
        Ok(())
    }
}

impl modify::HostModifier for CallState {
    fn send_message(
        &mut self,
        _m: Resource<ModifierToken>,
        room: String,
        text: String,
    ) -> HostResult<()> {
        self.writer_must_be_live()?;
        if let Err(e) = self
            .need(Permission::MessageWrite)
            .and_then(|_| self.check_size("room id", &room))
            .and_then(|_| self.check_size("message text", &text))
        {
            return Ok(Err(e));
        }
        self.effects.push(Effect::SendMessage {
            app: self.manifest.id.clone(),
            room,
            text,
        });
        Ok(Ok(()))
    }

    fn notify_user(
        &mut self,
        _m: Resource<ModifierToken>,
        user: String,
        room: String,
        text: String,
    ) -> HostResult<()> {
        self.writer_must_be_live()?;
        if let Err(e) = self
            .need(Permission::MessageWrite)
            .and_then(|_| self.check_size("user id", &user))
            .and_then(|_| self.check_size("room id", &room))
            .and_then(|_| self.check_size("message text", &text))
        {
            return Ok(Err(e));
        }
        self.effects.push(Effect::NotifyUser {
            app: self.manifest.id.clone(),
            user,
            room,
            text,
        });
        Ok(Ok(()))
    }

    fn drop(&mut self, _rep: Resource<ModifierToken>) -> wasmtime::Result<()> {
        Ok(())
    }
}

/// Longest log line kept; longer ones are cut.
const MAX_LOG_LINE: usize = 4096;

impl log::Host for CallState {
    fn log(&mut self, level: log::Level, message: String) -> wasmtime::Result<()> {
        if self.logs.len() >= self.max_logs_per_call {
            self.dropped_logs += 1;
            return Ok(());
        }
        let level = match level {
            log::Level::Debug => "debug",
            log::Level::Info => "info",
            log::Level::Warn => "warn",
            log::Level::Error => "error",
        };
        let mut message = message;
        if message.len() > MAX_LOG_LINE {
            let mut cut = MAX_LOG_LINE;
            while !message.is_char_boundary(cut) {
                cut -= 1;
            }
            message.truncate(cut);
            message.push_str("… (truncated)");
        }
        self.logs.push(AppLog { level, message });
        Ok(())
    }
}
