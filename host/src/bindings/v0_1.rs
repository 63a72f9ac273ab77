//! `hangar:app@0.1.0` (frozen in `wit/0.1.0/`): the generated bindings,
//! the conversions between its types and the host's, and its imports,
//! each a thin shell over the version-neutral accessors.

use wasmtime::component::{HasSelf, Linker, Resource};

use super::{ModifierToken, WriterToken};
use crate::accessors::ImportError;
use crate::bridge::Message;
use crate::sandbox::CallState;
use crate::storage::{Association, Model, Record};

mod generated {
    #![allow(missing_docs)]
    wasmtime::component::bindgen!({
        path: "../wit/0.1.0",
        world: "app",
        imports: { default: trappable },
        with: {
            "hangar:app/persistence.writer": crate::bindings::WriterToken,
            "hangar:app/modify.modifier": crate::bindings::ModifierToken,
        },
    });
}

pub(crate) use generated::exports::hangar::app::commands::CommandContext;
pub(crate) use generated::hangar::app::types as wit;
use generated::hangar::app::{log, modify, persistence, reader};
pub(crate) use generated::{App, AppPre};

/// The API version this module binds.
pub(crate) const VERSION: &str = "0.1.0";

/// The WIT package's interface names, for the benchmarks' bare linker.
#[cfg(feature = "bench")]
pub(crate) const PERSISTENCE: &str = "hangar:app/persistence@0.1.0";
#[cfg(feature = "bench")]
pub(crate) const MODIFY: &str = "hangar:app/modify@0.1.0";

type HostResult<T> = wasmtime::Result<Result<T, wit::Error>>;

pub(crate) fn add_to_linker(linker: &mut Linker<CallState>) -> wasmtime::Result<()> {
    App::add_to_linker::<CallState, HasSelf<CallState>>(linker, |s| s)
}

impl From<ImportError> for wit::Error {
    fn from(e: ImportError) -> wit::Error {
        match e {
            ImportError::Denied(m) => wit::Error::Denied(m),
            ImportError::Invalid(m) => wit::Error::Invalid(m),
            ImportError::TooLarge(m) => wit::Error::TooLarge(m),
            ImportError::QuotaExceeded(m) => wit::Error::QuotaExceeded(m),
            ImportError::NotFound(m) => wit::Error::NotFound(m),
            ImportError::Host(m) => wit::Error::Host(m),
        }
    }
}

impl From<wit::Model> for Model {
    fn from(m: wit::Model) -> Model {
        match m {
            wit::Model::Room => Model::Room,
            wit::Model::Discussion => Model::Discussion,
            wit::Model::Message => Model::Message,
            wit::Model::LivechatMessage => Model::LivechatMessage,
            wit::Model::User => Model::User,
            wit::Model::File => Model::File,
            wit::Model::Misc => Model::Misc,
            wit::Model::VideoConference => Model::VideoConference,
        }
    }
}

impl From<Model> for wit::Model {
    fn from(m: Model) -> wit::Model {
        match m {
            Model::Room => wit::Model::Room,
            Model::Discussion => wit::Model::Discussion,
            Model::Message => wit::Model::Message,
            Model::LivechatMessage => wit::Model::LivechatMessage,
            Model::User => wit::Model::User,
            Model::File => wit::Model::File,
            Model::Misc => wit::Model::Misc,
            Model::VideoConference => wit::Model::VideoConference,
        }
    }
}

fn associations(list: Vec<wit::Association>) -> Vec<Association> {
    list.into_iter()
        .map(|a| Association {
            model: a.model.into(),
            id: a.id,
        })
        .collect()
}

fn stored(r: Record) -> wit::Stored {
    wit::Stored {
        id: r.id,
        data: r.data,
        associations: r
            .associations
            .into_iter()
            .map(|a| wit::Association {
                model: a.model.into(),
                id: a.id,
            })
            .collect(),
    }
}

fn all_stored(list: Vec<Record>) -> Vec<wit::Stored> {
    list.into_iter().map(stored).collect()
}

pub(crate) fn to_wit_message(m: &Message) -> wit::Message {
    wit::Message {
        id: m.id.clone(),
        room: m.room.clone(),
        sender: m.sender.clone(),
        text: m.text.clone(),
        custom_fields: serde_json::to_string(&m.custom_fields).unwrap_or_else(|_| "{}".into()),
        timestamp: m.timestamp,
    }
}

/// Refuse a returned message the host cannot take back.
pub(crate) fn check_wit_message(
    original: &Message,
    m: &wit::Message,
    max_bytes: usize,
) -> Result<(), String> {
    if m.text.len() > max_bytes || m.custom_fields.len() > max_bytes {
        return Err(format!(
            "the returned message is larger than the limit of {max_bytes} bytes"
        ));
    }
    if m.room != original.room || m.sender != original.sender || m.id != original.id {
        return Err(
            "a modify handler may change the text and custom fields only, not id, room or sender"
                .into(),
        );
    }
    match serde_json::from_str::<serde_json::Value>(&m.custom_fields) {
        Ok(serde_json::Value::Object(_)) => Ok(()),
        _ => Err("custom-fields must be a JSON object".into()),
    }
}

/// Take back a message an app returned, refusing changes it may not make.
pub(crate) fn from_wit_message(
    original: &Message,
    m: wit::Message,
    max_bytes: usize,
) -> Result<Message, String> {
    check_wit_message(original, &m, max_bytes)?;
    let Ok(serde_json::Value::Object(custom_fields)) = serde_json::from_str(&m.custom_fields)
    else {
        return Err("custom-fields must be a JSON object".into());
    };
    Ok(Message {
        id: m.id,
        room: m.room,
        sender: m.sender,
        text: m.text,
        custom_fields,
        timestamp: original.timestamp,
    })
}

/// Map an accessor's result to this version's WIT error.
fn out<T, U>(r: Result<T, ImportError>, f: impl FnOnce(T) -> U) -> HostResult<U> {
    Ok(r.map(f).map_err(wit::Error::from))
}

impl wit::Host for CallState {}
impl persistence::Host for CallState {}
impl modify::Host for CallState {}

impl reader::Host for CallState {
    fn read(&mut self, id: String) -> HostResult<Option<wit::Stored>> {
        out(self.read_record(&id), |r| r.map(stored))
    }

    fn read_by_associations(
        &mut self,
        list: Vec<wit::Association>,
    ) -> HostResult<Vec<wit::Stored>> {
        out(self.read_matching(&associations(list)), all_stored)
    }

    fn setting(&mut self, id: String) -> HostResult<String> {
        out(self.setting_json(&id), |v| v)
    }

    fn info(&mut self) -> wasmtime::Result<wit::AppInfo> {
        let m = self.manifest();
        Ok(wit::AppInfo {
            id: m.id.clone(),
            name: m.name.clone(),
            version: m.version.clone(),
            api_version: VERSION.to_string(),
        })
    }

    fn get_room(&mut self, id: String) -> HostResult<Option<wit::Room>> {
        out(self.room(&id), |r| {
            r.map(|r| wit::Room {
                id: r.id,
                name: r.name,
            })
        })
    }

    fn get_user(&mut self, id: String) -> HostResult<Option<wit::User>> {
        out(self.user(&id), |u| {
            u.map(|u| wit::User {
                id: u.id,
                username: u.username,
                display_name: u.display_name,
            })
        })
    }

    fn get_message(&mut self, id: String) -> HostResult<Option<wit::Message>> {
        out(self.message(&id), |m| m.as_ref().map(to_wit_message))
    }
}

impl persistence::HostWriter for CallState {
    fn create(&mut self, _w: Resource<WriterToken>, data: String) -> HostResult<String> {
        out(self.write(|t| t.create(&data, &[]))?, |v| v)
    }

    fn create_with_associations(
        &mut self,
        _w: Resource<WriterToken>,
        data: String,
        list: Vec<wit::Association>,
    ) -> HostResult<String> {
        let list = associations(list);
        out(self.write(|t| t.create(&data, &list))?, |v| v)
    }

    fn update(
        &mut self,
        _w: Resource<WriterToken>,
        id: String,
        data: String,
        upsert: bool,
    ) -> HostResult<String> {
        out(self.write(|t| t.update(&id, &data, upsert))?, |v| v)
    }

    fn update_by_associations(
        &mut self,
        _w: Resource<WriterToken>,
        list: Vec<wit::Association>,
        data: String,
        upsert: bool,
    ) -> HostResult<Vec<String>> {
        let list = associations(list);
        out(
            self.write(|t| t.update_by_associations(&list, &data, upsert))?,
            |v| v,
        )
    }

    fn remove(&mut self, _w: Resource<WriterToken>, id: String) -> HostResult<Option<wit::Stored>> {
        out(self.write(|t| t.remove(&id))?, |r| r.map(stored))
    }

    fn remove_by_associations(
        &mut self,
        _w: Resource<WriterToken>,
        list: Vec<wit::Association>,
    ) -> HostResult<Vec<wit::Stored>> {
        let list = associations(list);
        out(self.write(|t| t.remove_by_associations(&list))?, all_stored)
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
        out(self.send_message(room, text)?, |v| v)
    }

    fn notify_user(
        &mut self,
        _m: Resource<ModifierToken>,
        user: String,
        room: String,
        text: String,
    ) -> HostResult<()> {
        out(self.notify_user(user, room, text)?, |v| v)
    }

    fn drop(&mut self, _rep: Resource<ModifierToken>) -> wasmtime::Result<()> {
        Ok(())
    }
}

impl log::Host for CallState {
    fn log(&mut self, level: log::Level, message: String) -> wasmtime::Result<()> {
        let level = match level {
            log::Level::Debug => "debug",
            log::Level::Info => "info",
            log::Level::Warn => "warn",
            log::Level::Error => "error",
        };
        self.app_log(level, message);
        Ok(())
    }
}
