//! Which handlers an app defines, and the `hangar:exports` section that
//! tells the host.
//!
//! Each family trait has a hidden marker supertrait whose `IMPLEMENTED`
//! lists the WIT exports the app's impl defines. `#[hangar_sdk::handlers]`
//! implements it from the methods it sees; [`export_app!`](crate::export_app)
//! implements it with an empty list for the families the app leaves out,
//! then lays the four lists out as JSON at compile time:
//! `{"api-version":"0.2.0","handlers":["execute-command","preview-command"]}`.
//! There is deliberately no default for `IMPLEMENTED`: an impl that forgot
//! the attribute does not compile, rather than silently handle nothing.

use crate::API_VERSION;

/// One family's marker trait: the handlers an app's `#[handlers]` impl of
/// the family defines, as WIT export names.
macro_rules! handlers_marker {
    ($marker:ident, $family:literal, $message:literal, $note:literal) => {
        #[doc = concat!("The `", $family, "` handlers an app defines, as WIT export names.")]
        #[diagnostic::on_unimplemented(message = $message, note = $note)]
        pub trait $marker {
            /// Filled in by `#[hangar_sdk::handlers]`, in WIT declaration order.
            const IMPLEMENTED: &'static [&'static str];
        }
    };
}

handlers_marker!(
    __LifecycleHandlers,
    "Lifecycle",
    "the `Lifecycle` handlers of `{Self}` are not recorded",
    "put `#[hangar_sdk::handlers]` on the `impl Lifecycle for {Self}` block: it records the handlers the block defines, the events the host will call"
);
handlers_marker!(
    __MessagesHandlers,
    "Messages",
    "the `Messages` handlers of `{Self}` are not recorded",
    "put `#[hangar_sdk::handlers]` on the `impl Messages for {Self}` block: it records the handlers the block defines, the events the host will call"
);
handlers_marker!(
    __CommandsHandlers,
    "Commands",
    "the `Commands` handlers of `{Self}` are not recorded",
    "put `#[hangar_sdk::handlers]` on the `impl Commands for {Self}` block: it records the handlers the block defines, the events the host will call"
);
handlers_marker!(
    __SettingsHandlers,
    "Settings",
    "the `Settings` handlers of `{Self}` are not recorded",
    "put `#[hangar_sdk::handlers]` on the `impl Settings for {Self}` block: it records the handlers the block defines, the events the host will call"
);

handlers_marker!(
    __EventsHandlers,
    "Events",
    "the `Events` handlers of `{Self}` are not recorded",
    "put `#[hangar_sdk::handlers]` on the `impl Events for {Self}` block: it records the handlers the block defines, the events the host will call"
);

handlers_marker!(
    __EndpointsHandlers,
    "Endpoints",
    "the `Endpoints` handlers of `{Self}` are not recorded",
    "put `#[hangar_sdk::handlers]` on the `impl Endpoints for {Self}` block: it records the handlers the block defines, the events the host will call"
);

handlers_marker!(
    __InteractionsHandlers,
    "Interactions",
    "the `Interactions` handlers of `{Self}` are not recorded",
    "put `#[hangar_sdk::handlers]` on the `impl Interactions for {Self}` block: it records the handlers the block defines, the events the host will call"
);

handlers_marker!(
    __JobsHandlers,
    "Jobs",
    "the `Jobs` handlers of `{Self}` are not recorded",
    "put `#[hangar_sdk::handlers]` on the `impl Jobs for {Self}` block: it records the handlers the block defines, the events the host will call"
);

/// The handler lists of app `A`, in family order.
pub const fn recorded<A>() -> [&'static [&'static str]; 8]
where
    A: __LifecycleHandlers
        + __MessagesHandlers
        + __CommandsHandlers
        + __SettingsHandlers
        + __EventsHandlers
        + __EndpointsHandlers
        + __JobsHandlers
        + __InteractionsHandlers,
{
    [
        <A as __LifecycleHandlers>::IMPLEMENTED,
        <A as __MessagesHandlers>::IMPLEMENTED,
        <A as __CommandsHandlers>::IMPLEMENTED,
        <A as __SettingsHandlers>::IMPLEMENTED,
        <A as __EventsHandlers>::IMPLEMENTED,
        <A as __EndpointsHandlers>::IMPLEMENTED,
        <A as __JobsHandlers>::IMPLEMENTED,
        <A as __InteractionsHandlers>::IMPLEMENTED,
    ]
}

/// The length of the section for `handlers` (the size of its static).
pub const fn section_len(handlers: &[&[&str]]) -> usize {
    // An empty buffer takes nothing: `emit` only counts.
    emit(handlers, &mut [])
}

/// The section for `handlers`, `N` bytes long (from [`section_len`]).
pub const fn section<const N: usize>(handlers: &[&[&str]]) -> [u8; N] {
    let mut out = [0u8; N];
    let written = emit(handlers, &mut out);
    assert!(written == N, "hangar:exports: length mismatch");
    out
}

/// Lays the section out into `out` (as far as it fits); returns its length.
/// One function for both passes, so the length and the bytes cannot drift.
const fn emit(handlers: &[&[&str]], out: &mut [u8]) -> usize {
    let mut at = put(out, 0, b"{\"api-version\":\"");
    at = put(out, at, API_VERSION.as_bytes());
    at = put(out, at, b"\",\"handlers\":[");
    let mut first = true;
    let mut family = 0;
    while family < handlers.len() {
        let names = handlers[family];
        let mut i = 0;
        while i < names.len() {
            // Names go in unescaped, so only WIT export names are allowed.
            assert!(
                is_export_name(names[i].as_bytes()),
                "hangar:exports: a handler name is not a WIT export name"
            );
            if !first {
                at = put(out, at, b",");
            }
            first = false;
            at = put(out, at, b"\"");
            at = put(out, at, names[i].as_bytes());
            at = put(out, at, b"\"");
            i += 1;
        }
        family += 1;
    }
    put(out, at, b"]}")
}

/// Copies `bytes` to `out[at..]` if they fit; returns the end position.
const fn put(out: &mut [u8], at: usize, bytes: &[u8]) -> usize {
    if at + bytes.len() <= out.len() {
        let mut i = 0;
        while i < bytes.len() {
            out[at + i] = bytes[i];
            i += 1;
        }
    }
    at + bytes.len()
}

/// Lower-case kebab-case: `a-z`, `0-9` and `-`, not empty.
const fn is_export_name(name: &[u8]) -> bool {
    let mut i = 0;
    while i < name.len() {
        if !matches!(name[i], b'a'..=b'z' | b'0'..=b'9' | b'-') {
            return false;
        }
        i += 1;
    }
    !name.is_empty()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Command, Commands, Message, Messages, Modifier, PreviewItem, Result, Writer};

    /// Handles two message events, written out of WIT order, and commands.
    struct App;

    #[crate::handlers]
    impl Messages for App {
        fn post_message_sent(_: &Message, _: &Writer, _: &Modifier) -> Result<()> {
            Ok(())
        }
        fn pre_message_sent_modify(message: Message, _: &Writer) -> Result<Message> {
            Ok(message)
        }
    }

    #[crate::handlers]
    impl Commands for App {
        fn preview(_: &Command) -> Result<Vec<PreviewItem>> {
            Ok(Vec::new())
        }
    }

    crate::__default_impl!(Lifecycle, App, [Messages, Commands]);
    crate::__default_impl!(Settings, App, [Messages, Commands]);
    crate::__default_impl!(Events, App, [Messages, Commands]);
    crate::__default_impl!(Endpoints, App, [Messages, Commands]);
    crate::__default_impl!(Jobs, App, [Messages, Commands]);
    crate::__default_impl!(Interactions, App, [Messages, Commands]);

    /// Handles nothing.
    struct Idle;
    crate::__default_impl!(Lifecycle, Idle, []);
    crate::__default_impl!(Messages, Idle, []);
    crate::__default_impl!(Commands, Idle, []);
    crate::__default_impl!(Settings, Idle, []);
    crate::__default_impl!(Events, Idle, []);
    crate::__default_impl!(Endpoints, Idle, []);
    crate::__default_impl!(Jobs, Idle, []);
    crate::__default_impl!(Interactions, Idle, []);

    // The same computation `export_app!` does, at compile time.
    const APP: [&[&str]; 8] = recorded::<App>();
    static APP_SECTION: [u8; section_len(&APP)] = section(&APP);
    const IDLE: [&[&str]; 8] = recorded::<Idle>();
    static IDLE_SECTION: [u8; section_len(&IDLE)] = section(&IDLE);

    #[test]
    fn lists_handlers_in_family_then_wit_order() {
        assert_eq!(
            std::str::from_utf8(&APP_SECTION).unwrap(),
            r#"{"api-version":"0.2.0","handlers":["execute-pre-message-sent-modify","execute-post-message-sent","preview-command"]}"#
        );
    }

    #[test]
    fn an_app_without_handlers_lists_none() {
        assert_eq!(
            std::str::from_utf8(&IDLE_SECTION).unwrap(),
            r#"{"api-version":"0.2.0","handlers":[]}"#
        );
    }

    #[test]
    fn the_section_is_json_with_the_sdk_api_version() {
        let parsed: serde_json::Value = serde_json::from_slice(&APP_SECTION).unwrap();
        assert_eq!(parsed["api-version"], API_VERSION);
        assert_eq!(parsed["handlers"].as_array().unwrap().len(), 3);
    }

    #[test]
    fn refuses_names_that_would_need_escaping() {
        assert!(is_export_name(b"on-install"));
        assert!(!is_export_name(b"on\"install"));
        assert!(!is_export_name(b""));
    }
}
