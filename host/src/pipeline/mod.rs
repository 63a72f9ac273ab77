//! The event pipelines, one file each: a message through pre-send prevent,
//! extend and modify, storage and post-send fan-out ([`message`]); a slash
//! command and its preview ([`command`]). Lifecycle hooks run from the
//! lifecycle manager.

pub(crate) mod command;
pub(crate) mod message;
