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

type HostResult<T> = wasmtime::Result<Result<T, wit::Error>>;

pub(crate) fn add_to_linker(linker: &mut Linker<CallState>) -> wasmtime::Result<()> {
    App::add_to_linker::<CallState, HasSelf<CallState>>(linker, |s| s)
}

super::shared::shared_imports!();

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
    // What 0.1 cannot see (rich content, thread, alias) stays as it was.
    Ok(Message {
        text: m.text,
        custom_fields,
        ..original.clone()
    })
}

impl wit::Host for CallState {}
impl persistence::Host for CallState {}
impl modify::Host for CallState {}

impl reader::Host for CallState {
    super::shared::shared_reader!();

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
