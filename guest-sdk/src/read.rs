//! The read accessor: available in every call, including read-only ones.

use serde::de::DeserializeOwned;

use crate::__wit::hangar::app::reader;
use crate::adapter::{from_wit_message, from_wit_record};
use crate::{Association, Message, Record, Result, Room, User, parse, wit_associations};

/// Record `id`, with its data as `T`.
pub fn by_id<T: DeserializeOwned>(id: &str) -> Result<Option<Record<T>>> {
    reader::read(id)?
        .map(|r| typed(from_wit_record(r)?))
        .transpose()
}

/// Every record carrying all `associations` (AND; order and duplicates
/// ignored), oldest first, with data as `T`.
pub fn by_associations<T: DeserializeOwned>(
    associations: &[Association],
) -> Result<Vec<Record<T>>> {
    reader::read_by_associations(&wit_associations(associations))?
        .into_iter()
        .map(|r| typed(from_wit_record(r)?))
        .collect()
}

fn typed<T: DeserializeOwned>(r: Record<serde_json::Value>) -> Result<Record<T>> {
    Ok(Record {
        data: serde_json::from_value(r.data)
            .map_err(|e| crate::Error::Data(format!("record {}: {e}", r.id)))?,
        id: r.id,
        associations: r.associations,
    })
}

/// The current value of setting `id` (the manifest's default until the
/// operator changes it).
pub fn setting<T: DeserializeOwned>(id: &str) -> Result<T> {
    parse(&format!("setting '{id}'"), &reader::setting(id)?)
}

/// This app's id, name, version and API version.
pub fn app_info() -> (String, String, String, String) {
    let i = reader::info();
    (i.id, i.name, i.version, i.api_version)
}

/// A room by id.
pub fn room(id: &str) -> Result<Option<Room>> {
    Ok(reader::get_room(id)?.map(|r| Room {
        id: r.id,
        name: r.name,
    }))
}

/// A user by id.
pub fn user(id: &str) -> Result<Option<User>> {
    Ok(reader::get_user(id)?.map(|u| User {
        id: u.id,
        username: u.username,
        display_name: u.display_name,
    }))
}

/// A stored message by id.
pub fn message(id: &str) -> Result<Option<Message>> {
    reader::get_message(id)?.map(from_wit_message).transpose()
}
