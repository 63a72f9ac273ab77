//! The WIT contracts this host speaks, behind one internal interface.
//!
//! Each released `hangar:app` version is frozen in `wit/<version>/` and has
//! a module here (only these modules call `bindgen!`, each inside a private
//! `generated` module). The rest of the host sees [`AppPre`] and
//! [`Instance`], which dispatch on the version a package was built for, and
//! version-neutral arguments ([`MessageArg`], [`CommandArg`]) converted once
//! per pipeline stage. Adding a version: a `vX_Y.rs` beside `v0_1.rs`, one
//! arm per enum here.

use wasmtime::Store;
use wasmtime::component::{Component, Linker, Resource};

use crate::bridge::Message;
use crate::error::{Error, Result};
use crate::report::PreviewItem;
use crate::sandbox::CallState;

pub(crate) mod v0_1;

/// Host-side marker for the borrowed `writer`: the call state holds the
/// transaction; the token only proves the guest was handed one.
pub struct WriterToken;
/// Host-side marker for the borrowed `modifier`.
pub struct ModifierToken;

/// The borrowed writer and modifier handed to a handler call. Only the
/// call engine's handler entry point creates them.
pub(crate) struct Accessors {
    pub(crate) writer: Resource<WriterToken>,
    pub(crate) modifier: Resource<ModifierToken>,
}

impl Accessors {
    /// Fixed reps: the call state, not a table, holds the transaction, so
    /// nothing leaks per call. The component runtime drops the guest's
    /// borrow when the call returns.
    pub(crate) fn new() -> Self {
        Accessors {
            writer: Resource::new_borrow(0),
            modifier: Resource::new_borrow(0),
        }
    }
}

/// What an export returns: the outer error is a trap, the inner one the
/// app's own error.
pub(crate) type Returned<T> = wasmtime::Result<std::result::Result<T, String>>;

/// Every API version's imports, in one linker.
pub(crate) fn add_to_linker(linker: &mut Linker<CallState>) -> wasmtime::Result<()> {
    crate::sandbox::add_wasi_to_linker(linker)?;
    v0_1::add_to_linker(linker)
}

/// An app component linked and checked against its API version.
pub(crate) enum AppPre {
    /// `hangar:app@0.1.x`.
    V0_1(v0_1::AppPre<CallState>),
}

impl AppPre {
    /// Pre-instantiate `component` for API `api_version`.
    pub(crate) fn new(
        linker: &Linker<CallState>,
        component: &Component,
        id: &str,
        api_version: &str,
    ) -> Result<AppPre> {
        let pre = linker.instantiate_pre(component).map_err(|e| {
            Error::wasm(
                format!("app '{id}' needs imports this host does not give"),
                e,
            )
        })?;
        let world = |e| {
            Error::wasm(
                format!(
                    "app '{id}' does not export the hangar:app world this host expects (API {api_version})"
                ),
                e,
            )
        };
        match api_version.split('.').take(2).collect::<Vec<_>>()[..] {
            ["0", "1"] => Ok(AppPre::V0_1(v0_1::AppPre::new(pre).map_err(world)?)),
            _ => Err(Error::InvalidManifest(format!(
                "api-version: no binding for '{api_version}'"
            ))),
        }
    }

    /// A fresh instance in `store`.
    pub(crate) fn instantiate(&self, store: &mut Store<CallState>) -> wasmtime::Result<Instance> {
        match self {
            AppPre::V0_1(pre) => pre.instantiate(store).map(Instance::V0_1),
        }
    }
}

/// A live instance, for one call.
pub(crate) enum Instance {
    /// `hangar:app@0.1.x`.
    V0_1(v0_1::App),
}

/// A message as an export argument, converted once for every version.
pub(crate) struct MessageArg {
    pub(crate) v0_1: v0_1::wit::Message,
}

impl MessageArg {
    pub(crate) fn new(message: &Message) -> Self {
        MessageArg {
            v0_1: v0_1::to_wit_message(message),
        }
    }
}

/// A slash command as an export argument.
pub(crate) struct CommandArg {
    pub(crate) v0_1: v0_1::CommandContext,
}

impl CommandArg {
    pub(crate) fn new(command: String, arguments: Vec<String>, room: &str, sender: &str) -> Self {
        CommandArg {
            v0_1: v0_1::CommandContext {
                command,
                arguments,
                room: room.to_string(),
                sender: sender.to_string(),
            },
        }
    }

    /// The command, without its slash.
    pub(crate) fn command(&self) -> &str {
        &self.v0_1.command
    }
}

/// A custom field an extend handler returned: key and JSON text.
pub(crate) type CustomField = (String, String);

/// What a modify handler returned, before the host checks it.
pub(crate) enum ReturnedMessage {
    V0_1(v0_1::wit::Message),
}

impl ReturnedMessage {
    /// Whether the host can take this message back (see `into_message`),
    /// without taking it.
    pub(crate) fn check(
        &self,
        original: &Message,
        max_bytes: usize,
    ) -> std::result::Result<(), String> {
        match self {
            ReturnedMessage::V0_1(m) => v0_1::check_wit_message(original, m, max_bytes),
        }
    }

    /// Take back the message, refusing changes an app may not make.
    pub(crate) fn into_message(
        self,
        original: &Message,
        max_bytes: usize,
    ) -> std::result::Result<Message, String> {
        match self {
            ReturnedMessage::V0_1(m) => v0_1::from_wit_message(original, m, max_bytes),
        }
    }
}

/// The export calls, one method per export, dispatching on the version.
impl Instance {
    pub(crate) fn on_install(&self, s: &mut Store<CallState>, a: Accessors) -> Returned<()> {
        match self {
            Instance::V0_1(i) => i.hangar_app_lifecycle().call_on_install(s, a.writer),
        }
    }

    pub(crate) fn on_uninstall(&self, s: &mut Store<CallState>, a: Accessors) -> Returned<()> {
        match self {
            Instance::V0_1(i) => i.hangar_app_lifecycle().call_on_uninstall(s, a.writer),
        }
    }

    pub(crate) fn on_update(
        &self,
        s: &mut Store<CallState>,
        a: Accessors,
        previous: &str,
    ) -> Returned<()> {
        match self {
            Instance::V0_1(i) => i
                .hangar_app_lifecycle()
                .call_on_update(s, a.writer, previous),
        }
    }

    pub(crate) fn on_enable(&self, s: &mut Store<CallState>) -> Returned<()> {
        match self {
            Instance::V0_1(i) => i.hangar_app_lifecycle().call_on_enable(s),
        }
    }

    pub(crate) fn on_disable(&self, s: &mut Store<CallState>) -> Returned<()> {
        match self {
            Instance::V0_1(i) => i.hangar_app_lifecycle().call_on_disable(s),
        }
    }

    pub(crate) fn check_pre_message_sent_prevent(
        &self,
        s: &mut Store<CallState>,
        m: &MessageArg,
    ) -> Returned<bool> {
        match self {
            Instance::V0_1(i) => i
                .hangar_app_messages()
                .call_check_pre_message_sent_prevent(s, &m.v0_1),
        }
    }

    pub(crate) fn pre_message_sent_prevent(
        &self,
        s: &mut Store<CallState>,
        m: &MessageArg,
        a: Accessors,
    ) -> Returned<bool> {
        match self {
            Instance::V0_1(i) => i
                .hangar_app_messages()
                .call_execute_pre_message_sent_prevent(s, &m.v0_1, a.writer),
        }
    }

    pub(crate) fn pre_message_sent_extend(
        &self,
        s: &mut Store<CallState>,
        m: &MessageArg,
        a: Accessors,
    ) -> Returned<Vec<CustomField>> {
        match self {
            Instance::V0_1(i) => i
                .hangar_app_messages()
                .call_execute_pre_message_sent_extend(s, &m.v0_1, a.writer)
                .map(|r| r.map(|fields| fields.into_iter().map(|f| (f.key, f.value)).collect())),
        }
    }

    pub(crate) fn pre_message_sent_modify(
        &self,
        s: &mut Store<CallState>,
        m: &MessageArg,
        a: Accessors,
    ) -> Returned<ReturnedMessage> {
        match self {
            Instance::V0_1(i) => i
                .hangar_app_messages()
                .call_execute_pre_message_sent_modify(s, &m.v0_1, a.writer)
                .map(|r| r.map(ReturnedMessage::V0_1)),
        }
    }

    pub(crate) fn post_message_sent(
        &self,
        s: &mut Store<CallState>,
        m: &MessageArg,
        a: Accessors,
    ) -> Returned<()> {
        match self {
            Instance::V0_1(i) => i
                .hangar_app_messages()
                .call_execute_post_message_sent(s, &m.v0_1, a.writer, a.modifier),
        }
    }

    pub(crate) fn execute_command(
        &self,
        s: &mut Store<CallState>,
        c: &CommandArg,
        a: Accessors,
    ) -> Returned<()> {
        match self {
            Instance::V0_1(i) => i
                .hangar_app_commands()
                .call_execute_command(s, &c.v0_1, a.writer, a.modifier),
        }
    }

    pub(crate) fn preview_command(
        &self,
        s: &mut Store<CallState>,
        c: &CommandArg,
    ) -> Returned<Vec<PreviewItem>> {
        match self {
            Instance::V0_1(i) => i
                .hangar_app_commands()
                .call_preview_command(s, &c.v0_1)
                .map(|r| {
                    r.map(|items| {
                        items
                            .into_iter()
                            .map(|i| PreviewItem {
                                id: i.id,
                                text: i.text,
                            })
                            .collect()
                    })
                }),
        }
    }

    pub(crate) fn on_pre_setting_update(
        &self,
        s: &mut Store<CallState>,
        id: &str,
        old: &str,
        new: &str,
    ) -> Returned<()> {
        match self {
            Instance::V0_1(i) => i
                .hangar_app_settings()
                .call_on_pre_setting_update(s, id, old, new),
        }
    }

    pub(crate) fn on_setting_updated(
        &self,
        s: &mut Store<CallState>,
        a: Accessors,
        id: &str,
        value: &str,
    ) -> Returned<()> {
        match self {
            Instance::V0_1(i) => i
                .hangar_app_settings()
                .call_on_setting_updated(s, id, value, a.writer),
        }
    }
}
