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

use std::sync::OnceLock;

use crate::bridge::{ChatEvent, EventKind, Message};
use crate::error::{Error, Result};
use crate::report::{ErrorKind, PreviewItem};
use crate::sandbox::CallState;

mod shared;
pub(crate) mod v0_1;
pub(crate) mod v0_2;

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

/// An error an export returned, with its kind (always `app` for 0.1).
pub(crate) struct AppError {
    pub(crate) kind: ErrorKind,
    pub(crate) message: String,
}

/// A 0.1 export's string error.
fn app_error(message: String) -> AppError {
    AppError {
        kind: ErrorKind::App,
        message,
    }
}

/// What an export returns: the outer error is a trap, the inner one the
/// app's own error.
pub(crate) type Returned<T> = wasmtime::Result<std::result::Result<T, AppError>>;

/// Every API version's imports, in one linker.
pub(crate) fn add_to_linker(linker: &mut Linker<CallState>) -> wasmtime::Result<()> {
    crate::sandbox::add_wasi_to_linker(linker)?;
    v0_1::add_to_linker(linker)?;
    v0_2::add_to_linker(linker)
}

/// A 0.1 result, with its string error as an app error.
fn v1<T>(r: wasmtime::Result<std::result::Result<T, String>>) -> Returned<T> {
    r.map(|r| r.map_err(app_error))
}

/// A 0.2 result, with its error's kind kept.
fn v2<T>(r: wasmtime::Result<std::result::Result<T, v0_2::wit::Error>>) -> Returned<T> {
    r.map(|r| r.map_err(v0_2::app_error))
}

/// A call of an export this version of the world does not have: the host
/// never makes one (the manifest check refuses such handlers for 0.1
/// apps), so reaching it is a host bug, reported as a trap.
fn missing<T>(export: &str) -> Returned<T> {
    Err(wasmtime::Error::msg(format!(
        "'{export}' is not in API 0.1; the host called it by mistake"
    )))
}

/// An app component linked and checked against its API version.
pub(crate) enum AppPre {
    /// `hangar:app@0.1.x`.
    V0_1(v0_1::AppPre<CallState>),
    /// `hangar:app@0.2.x`.
    V0_2(v0_2::AppPre<CallState>),
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
            ["0", "2"] => Ok(AppPre::V0_2(v0_2::AppPre::new(pre).map_err(world)?)),
            _ => Err(Error::InvalidManifest(format!(
                "api-version: no binding for '{api_version}'"
            ))),
        }
    }

    /// A fresh instance in `store`.
    pub(crate) fn instantiate(&self, store: &mut Store<CallState>) -> wasmtime::Result<Instance> {
        match self {
            AppPre::V0_1(pre) => pre.instantiate(store).map(Instance::V0_1),
            AppPre::V0_2(pre) => pre.instantiate(store).map(Instance::V0_2),
        }
    }
}

/// A live instance, for one call.
// One per call, held briefly: boxing the larger variant would allocate on
// every dispatch.
#[allow(clippy::large_enum_variant)]
pub(crate) enum Instance {
    /// `hangar:app@0.1.x`.
    V0_1(v0_1::App),
    /// `hangar:app@0.2.x`.
    V0_2(v0_2::App),
}

/// A message as an export argument, converted at most once per version
/// (on first use: a pipeline stage whose apps are all 0.2 never builds the
/// 0.1 form).
pub(crate) struct MessageArg {
    message: Message,
    v0_1: OnceLock<v0_1::wit::Message>,
    v0_2: OnceLock<v0_2::wit::Message>,
}

impl MessageArg {
    pub(crate) fn new(message: &Message) -> Self {
        MessageArg {
            message: message.clone(),
            v0_1: OnceLock::new(),
            v0_2: OnceLock::new(),
        }
    }

    fn v0_1(&self) -> &v0_1::wit::Message {
        self.v0_1
            .get_or_init(|| v0_1::to_wit_message(&self.message))
    }

    fn v0_2(&self) -> &v0_2::wit::Message {
        self.v0_2
            .get_or_init(|| v0_2::to_wit_message(&self.message))
    }
}

/// A slash command as an export argument.
pub(crate) struct CommandArg {
    pub(crate) v0_1: v0_1::CommandContext,
    pub(crate) v0_2: v0_2::CommandContext,
}

/// A slash command as typed, split for both versions.
pub(crate) struct CommandLine<'a> {
    pub(crate) command: String,
    /// The text after the command, trimmed.
    pub(crate) rest: &'a str,
    pub(crate) room: &'a str,
    pub(crate) sender: &'a str,
    pub(crate) thread: Option<String>,
    /// The trigger a handler may open a view with.
    pub(crate) trigger: String,
}

impl CommandArg {
    /// 0.1 apps get the words split on whitespace (as they always did);
    /// 0.2 apps get shell-style arguments and the raw line.
    pub(crate) fn new(line: CommandLine<'_>) -> Self {
        CommandArg {
            v0_1: v0_1::CommandContext {
                command: line.command.clone(),
                arguments: line.rest.split_whitespace().map(str::to_string).collect(),
                room: line.room.to_string(),
                sender: line.sender.to_string(),
            },
            v0_2: v0_2::CommandContext {
                command: line.command,
                arguments: shell_words(line.rest),
                line: line.rest.to_string(),
                room: line.room.to_string(),
                sender: line.sender.to_string(),
                thread: line.thread,
                trigger: line.trigger,
            },
        }
    }

    /// The command, without its slash.
    pub(crate) fn command(&self) -> &str {
        &self.v0_1.command
    }
}

/// Split `line` as a shell does: whitespace separates words, single or
/// double quotes group them (`"two words"`), a backslash escapes the next
/// character outside single quotes. An unclosed quote runs to the end.
pub(crate) fn shell_words(line: &str) -> Vec<String> {
    let mut words = Vec::new();
    let mut word = String::new();
    let mut in_word = false;
    let mut quote: Option<char> = None;
    let mut chars = line.chars();
    while let Some(c) = chars.next() {
        match (quote, c) {
            (Some(q), c) if c == q => quote = None,
            (Some('\''), c) => word.push(c),
            (_, '\\') => {
                if let Some(next) = chars.next() {
                    word.push(next);
                }
                in_word = true;
            }
            (Some(_), c) => word.push(c),
            (None, '"' | '\'') => {
                quote = Some(c);
                in_word = true;
            }
            (None, c) if c.is_whitespace() => {
                if in_word {
                    words.push(std::mem::take(&mut word));
                    in_word = false;
                }
            }
            (None, c) => {
                word.push(c);
                in_word = true;
            }
        }
    }
    if in_word {
        words.push(word);
    }
    words
}

/// A picked preview item as an export argument.
pub(crate) struct PreviewItemArg {
    pub(crate) v0_2: v0_2::PreviewItem,
}

impl PreviewItemArg {
    pub(crate) fn new(item: &PreviewItem) -> Self {
        PreviewItemArg {
            v0_2: v0_2::PreviewItem {
                id: item.id.clone(),
                text: item.text.clone(),
            },
        }
    }
}

/// A chat event as an export argument (0.2 and later only).
pub(crate) struct EventArg {
    pub(crate) kind: EventKind,
    pub(crate) v0_2: v0_2::ev::Event,
}

impl EventArg {
    pub(crate) fn new(event: &ChatEvent) -> Self {
        EventArg {
            kind: event.kind(),
            v0_2: v0_2::to_wit_event(event),
        }
    }
}

/// A custom field an extend handler returned: key and JSON text.
pub(crate) type CustomField = (String, String);

/// What a modify handler returned, before the host checks it.
pub(crate) enum ReturnedMessage {
    V0_1(v0_1::wit::Message),
    V0_2(v0_2::wit::Message),
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
            ReturnedMessage::V0_2(m) => v0_2::check_wit_message(original, m, max_bytes),
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
            ReturnedMessage::V0_2(m) => v0_2::from_wit_message(original, m, max_bytes),
        }
    }
}

/// The export calls, one method per export, dispatching on the version.
impl Instance {
    pub(crate) fn on_install(&self, s: &mut Store<CallState>, a: Accessors) -> Returned<()> {
        match self {
            Instance::V0_1(i) => v1(i.hangar_app_lifecycle().call_on_install(s, a.writer)),
            Instance::V0_2(i) => v2(i.hangar_app_lifecycle().call_on_install(s, a.writer)),
        }
    }

    pub(crate) fn on_uninstall(&self, s: &mut Store<CallState>, a: Accessors) -> Returned<()> {
        match self {
            Instance::V0_1(i) => v1(i.hangar_app_lifecycle().call_on_uninstall(s, a.writer)),
            Instance::V0_2(i) => v2(i.hangar_app_lifecycle().call_on_uninstall(s, a.writer)),
        }
    }

    pub(crate) fn on_update(
        &self,
        s: &mut Store<CallState>,
        a: Accessors,
        previous: &str,
    ) -> Returned<()> {
        match self {
            Instance::V0_1(i) => v1(i
                .hangar_app_lifecycle()
                .call_on_update(s, a.writer, previous)),
            Instance::V0_2(i) => v2(i
                .hangar_app_lifecycle()
                .call_on_update(s, a.writer, previous)),
        }
    }

    pub(crate) fn on_enable(&self, s: &mut Store<CallState>) -> Returned<()> {
        match self {
            Instance::V0_1(i) => v1(i.hangar_app_lifecycle().call_on_enable(s)),
            Instance::V0_2(i) => v2(i.hangar_app_lifecycle().call_on_enable(s)),
        }
    }

    pub(crate) fn on_disable(&self, s: &mut Store<CallState>) -> Returned<()> {
        match self {
            Instance::V0_1(i) => v1(i.hangar_app_lifecycle().call_on_disable(s)),
            Instance::V0_2(i) => v2(i.hangar_app_lifecycle().call_on_disable(s)),
        }
    }

    pub(crate) fn check_pre_message_sent_prevent(
        &self,
        s: &mut Store<CallState>,
        m: &MessageArg,
    ) -> Returned<bool> {
        match self {
            Instance::V0_1(i) => v1(i
                .hangar_app_messages()
                .call_check_pre_message_sent_prevent(s, m.v0_1())),
            Instance::V0_2(i) => v2(i
                .hangar_app_messages()
                .call_check_pre_message_sent_prevent(s, m.v0_2())),
        }
    }

    pub(crate) fn pre_message_sent_prevent(
        &self,
        s: &mut Store<CallState>,
        m: &MessageArg,
        a: Accessors,
    ) -> Returned<bool> {
        match self {
            Instance::V0_1(i) => v1(i
                .hangar_app_messages()
                .call_execute_pre_message_sent_prevent(s, m.v0_1(), a.writer)),
            Instance::V0_2(i) => v2(i
                .hangar_app_messages()
                .call_execute_pre_message_sent_prevent(s, m.v0_2(), a.writer)),
        }
    }

    pub(crate) fn pre_message_sent_extend(
        &self,
        s: &mut Store<CallState>,
        m: &MessageArg,
        a: Accessors,
    ) -> Returned<Vec<CustomField>> {
        match self {
            Instance::V0_1(i) => v1(i
                .hangar_app_messages()
                .call_execute_pre_message_sent_extend(s, m.v0_1(), a.writer)
                .map(|r| r.map(|fields| fields.into_iter().map(|f| (f.key, f.value)).collect()))),
            Instance::V0_2(i) => v2(i
                .hangar_app_messages()
                .call_execute_pre_message_sent_extend(s, m.v0_2(), a.writer)
                .map(|r| r.map(|fields| fields.into_iter().map(|f| (f.key, f.value)).collect()))),
        }
    }

    pub(crate) fn pre_message_sent_modify(
        &self,
        s: &mut Store<CallState>,
        m: &MessageArg,
        a: Accessors,
    ) -> Returned<ReturnedMessage> {
        match self {
            Instance::V0_1(i) => v1(i
                .hangar_app_messages()
                .call_execute_pre_message_sent_modify(s, m.v0_1(), a.writer)
                .map(|r| r.map(ReturnedMessage::V0_1))),
            Instance::V0_2(i) => v2(i
                .hangar_app_messages()
                .call_execute_pre_message_sent_modify(s, m.v0_2(), a.writer)
                .map(|r| r.map(ReturnedMessage::V0_2))),
        }
    }

    pub(crate) fn check_post_message_sent(
        &self,
        s: &mut Store<CallState>,
        m: &MessageArg,
    ) -> Returned<bool> {
        match self {
            Instance::V0_1(_) => missing("check-post-message-sent"),
            Instance::V0_2(i) => v2(i
                .hangar_app_messages()
                .call_check_post_message_sent(s, m.v0_2())),
        }
    }

    pub(crate) fn post_message_sent(
        &self,
        s: &mut Store<CallState>,
        m: &MessageArg,
        a: Accessors,
    ) -> Returned<()> {
        match self {
            Instance::V0_1(i) => v1(i.hangar_app_messages().call_execute_post_message_sent(
                s,
                m.v0_1(),
                a.writer,
                a.modifier,
            )),
            Instance::V0_2(i) => v2(i.hangar_app_messages().call_execute_post_message_sent(
                s,
                m.v0_2(),
                a.writer,
                a.modifier,
            )),
        }
    }

    pub(crate) fn execute_command(
        &self,
        s: &mut Store<CallState>,
        c: &CommandArg,
        a: Accessors,
    ) -> Returned<()> {
        match self {
            Instance::V0_1(i) => v1(i
                .hangar_app_commands()
                .call_execute_command(s, &c.v0_1, a.writer, a.modifier)),
            Instance::V0_2(i) => v2(i
                .hangar_app_commands()
                .call_execute_command(s, &c.v0_2, a.writer, a.modifier)),
        }
    }

    pub(crate) fn preview_command(
        &self,
        s: &mut Store<CallState>,
        c: &CommandArg,
    ) -> Returned<Vec<PreviewItem>> {
        match self {
            Instance::V0_1(i) => v1(i
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
                })),
            Instance::V0_2(i) => v2(i
                .hangar_app_commands()
                .call_preview_command(s, &c.v0_2)
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
                })),
        }
    }

    pub(crate) fn execute_preview_item(
        &self,
        s: &mut Store<CallState>,
        item: &PreviewItemArg,
        c: &CommandArg,
        a: Accessors,
    ) -> Returned<()> {
        match self {
            Instance::V0_1(_) => missing("execute-preview-item"),
            Instance::V0_2(i) => v2(i
                .hangar_app_commands()
                .call_execute_preview_item(s, &item.v0_2, &c.v0_2, a.writer, a.modifier)),
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
            Instance::V0_1(i) => v1(i
                .hangar_app_settings()
                .call_on_pre_setting_update(s, id, old, new)),
            Instance::V0_2(i) => v2(i
                .hangar_app_settings()
                .call_on_pre_setting_update(s, id, old, new)),
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
            Instance::V0_1(i) => v1(i
                .hangar_app_settings()
                .call_on_setting_updated(s, id, value, a.writer)),
            Instance::V0_2(i) => v2(i
                .hangar_app_settings()
                .call_on_setting_updated(s, id, value, a.writer)),
        }
    }

    pub(crate) fn handle_request(
        &self,
        s: &mut Store<CallState>,
        r: &crate::endpoint::HttpRequest,
        a: Accessors,
    ) -> Returned<crate::endpoint::HttpResponse> {
        match self {
            Instance::V0_1(_) => missing("handle-request"),
            Instance::V0_2(i) => v2(i
                .hangar_app_endpoints()
                .call_handle_request(s, &v0_2::to_wit_request(r), a.writer, a.modifier)
                .map(|r| r.map(v0_2::from_wit_response))),
        }
    }

    pub(crate) fn block_action(
        &self,
        s: &mut Store<CallState>,
        x: &crate::interact::BlockAction,
        a: Accessors,
    ) -> Returned<()> {
        match self {
            Instance::V0_1(_) => missing("execute-block-action"),
            Instance::V0_2(i) => v2(i.hangar_app_interactions().call_execute_block_action(
                s,
                &v0_2::to_wit_block_action(x),
                a.writer,
                a.modifier,
            )),
        }
    }

    pub(crate) fn view_submit(
        &self,
        s: &mut Store<CallState>,
        x: &crate::interact::ViewSubmit,
        a: Accessors,
    ) -> Returned<Vec<crate::interact::FieldError>> {
        match self {
            Instance::V0_1(_) => missing("execute-view-submit"),
            Instance::V0_2(i) => v2(i
                .hangar_app_interactions()
                .call_execute_view_submit(s, &v0_2::to_wit_view_submit(x), a.writer, a.modifier)
                .map(|r| r.map(v0_2::from_wit_field_errors))),
        }
    }

    pub(crate) fn view_closed(
        &self,
        s: &mut Store<CallState>,
        x: &crate::interact::ViewClosed,
        a: Accessors,
    ) -> Returned<()> {
        match self {
            Instance::V0_1(_) => missing("execute-view-closed"),
            Instance::V0_2(i) => v2(i.hangar_app_interactions().call_execute_view_closed(
                s,
                &v0_2::to_wit_view_closed(x),
                a.writer,
                a.modifier,
            )),
        }
    }

    pub(crate) fn action_button(
        &self,
        s: &mut Store<CallState>,
        x: &crate::interact::ActionButton,
        a: Accessors,
    ) -> Returned<()> {
        match self {
            Instance::V0_1(_) => missing("execute-action-button"),
            Instance::V0_2(i) => v2(i.hangar_app_interactions().call_execute_action_button(
                s,
                &v0_2::to_wit_action_button(x),
                a.writer,
                a.modifier,
            )),
        }
    }

    pub(crate) fn run_job(
        &self,
        s: &mut Store<CallState>,
        j: &crate::storage::ClaimedJob,
        a: Accessors,
    ) -> Returned<()> {
        match self {
            Instance::V0_1(_) => missing("run-job"),
            Instance::V0_2(i) => {
                v2(i.hangar_app_jobs()
                    .call_run_job(s, &v0_2::to_wit_job(j), a.writer, a.modifier))
            }
        }
    }

    pub(crate) fn check_pre_event(&self, s: &mut Store<CallState>, e: &EventArg) -> Returned<bool> {
        match self {
            Instance::V0_1(_) => missing("check-pre-event"),
            Instance::V0_2(i) => v2(i.hangar_app_events().call_check_pre_event(s, &e.v0_2)),
        }
    }

    pub(crate) fn check_post_event(
        &self,
        s: &mut Store<CallState>,
        e: &EventArg,
    ) -> Returned<bool> {
        match self {
            Instance::V0_1(_) => missing("check-post-event"),
            Instance::V0_2(i) => v2(i.hangar_app_events().call_check_post_event(s, &e.v0_2)),
        }
    }

    pub(crate) fn prevent_event(
        &self,
        s: &mut Store<CallState>,
        e: &EventArg,
        a: Accessors,
    ) -> Returned<bool> {
        match self {
            Instance::V0_1(_) => missing("execute-pre-event-prevent"),
            Instance::V0_2(i) => v2(i
                .hangar_app_events()
                .call_execute_pre_event_prevent(s, &e.v0_2, a.writer)),
        }
    }

    pub(crate) fn post_event(
        &self,
        s: &mut Store<CallState>,
        e: &EventArg,
        a: Accessors,
    ) -> Returned<()> {
        match self {
            Instance::V0_1(_) => missing("execute-post-event"),
            Instance::V0_2(i) => v2(i
                .hangar_app_events()
                .call_execute_post_event(s, &e.v0_2, a.writer, a.modifier)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::shell_words;

    #[test]
    fn shell_words_group_quotes_and_escapes() {
        assert_eq!(
            shell_words(r#"add "Q with spaces?" 'it''s' a\ b "#),
            vec!["add", "Q with spaces?", "its", "a b"]
        );
        assert_eq!(shell_words(r#"say "" x"#), vec!["say", "", "x"]);
        assert_eq!(
            shell_words(r#"open "unclosed quote"#),
            vec!["open", "unclosed quote"]
        );
        assert_eq!(shell_words("  "), Vec::<String>::new());
        assert_eq!(shell_words(r#"it\'s"#), vec!["it's"]);
    }
}
