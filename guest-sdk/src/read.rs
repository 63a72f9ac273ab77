//! The read accessor: available in every call, including read-only ones.

use serde::de::DeserializeOwned;

use crate::__wit::hangar::app::reader;
use crate::adapter::{from_wit_message, from_wit_record, from_wit_room, from_wit_user};
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

/// The app's own bot user: the sender of everything it posts. Compare a
/// message's sender with its id to skip the app's own messages.
///
/// ```ignore
/// if message.sender == read::app_user().id {
///     return Ok(()); // our own message
/// }
/// ```
pub fn app_user() -> User {
    from_wit_user(reader::app_user())
}

/// A room by id (`room.read`).
pub fn room(id: &str) -> Result<Option<Room>> {
    Ok(reader::get_room(id)?.map(from_wit_room))
}

/// A room by name (`room.read`).
pub fn room_by_name(name: &str) -> Result<Option<Room>> {
    Ok(reader::get_room_by_name(name)?.map(from_wit_room))
}

/// Up to `limit` (at most 1000) members of a room (`room.read`).
pub fn room_members(room: &str, limit: u32) -> Result<Vec<User>> {
    Ok(reader::get_room_members(room, limit)?
        .into_iter()
        .map(from_wit_user)
        .collect())
}

/// A room's last `limit` (at most 100) messages, oldest first
/// (`room.read` and `message.read`).
pub fn room_messages(room: &str, limit: u32) -> Result<Vec<Message>> {
    reader::get_room_messages(room, limit)?
        .into_iter()
        .map(from_wit_message)
        .collect()
}

/// The direct room whose members are exactly these user ids (`room.read`).
pub fn direct_room(users: &[&str]) -> Result<Option<Room>> {
    let users: Vec<String> = users.iter().map(|u| u.to_string()).collect();
    Ok(reader::get_direct(&users)?.map(from_wit_room))
}

/// A user by id (`user.read`).
pub fn user(id: &str) -> Result<Option<User>> {
    Ok(reader::get_user(id)?.map(from_wit_user))
}

/// A user by username (`user.read`).
pub fn user_by_username(username: &str) -> Result<Option<User>> {
    Ok(reader::get_user_by_username(username)?.map(from_wit_user))
}

/// A stored message by id (`message.read`).
pub fn message(id: &str) -> Result<Option<Message>> {
    reader::get_message(id)?.map(from_wit_message).transpose()
}

/// A thread: its root, then up to `limit - 1` replies, oldest first
/// (`message.read`; `limit` at most 100).
pub fn thread(root: &str, limit: u32) -> Result<Vec<Message>> {
    reader::get_thread(root, limit)?
        .into_iter()
        .map(from_wit_message)
        .collect()
}

/// A server setting's value as `T`, if the server has it
/// (`server-setting.read`).
pub fn server_setting<T: DeserializeOwned>(id: &str) -> Result<Option<T>> {
    reader::server_setting(id)?
        .map(|json| parse(&format!("server setting '{id}'"), &json))
        .transpose()
}
