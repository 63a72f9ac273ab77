//! The app's exports, named by one enum, and the typed calls the call
//! engine runs. A [`HandlerCall`] is invoked with the writer and modifier;
//! a [`ReadOnlyCall`] has no way to receive them: the types carry the rule
//! "writer only in handlers", not a flag.

use wasmtime::Store;

use crate::bindings::{
    Accessors, CommandArg, CustomField, Instance, MessageArg, Returned, ReturnedMessage,
};
use crate::manifest::Event;
use crate::policy::EventClass;
use crate::report::PreviewItem;
use crate::sandbox::CallState;

/// Every export of the `hangar:app` world.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum Export {
    OnInstall,
    OnUninstall,
    OnUpdate,
    OnEnable,
    OnDisable,
    CheckPreMessageSentPrevent,
    PreMessageSentPrevent,
    PreMessageSentExtend,
    PreMessageSentModify,
    PostMessageSent,
    ExecuteCommand,
    PreviewCommand,
    OnPreSettingUpdate,
    OnSettingUpdated,
}

impl Export {
    /// Every export, in WIT order.
    pub(crate) const ALL: [Export; 14] = [
        Export::OnInstall,
        Export::OnUninstall,
        Export::OnUpdate,
        Export::OnEnable,
        Export::OnDisable,
        Export::CheckPreMessageSentPrevent,
        Export::PreMessageSentPrevent,
        Export::PreMessageSentExtend,
        Export::PreMessageSentModify,
        Export::PostMessageSent,
        Export::ExecuteCommand,
        Export::PreviewCommand,
        Export::OnPreSettingUpdate,
        Export::OnSettingUpdated,
    ];

    /// Its WIT name (also the handler name in reports and logs).
    pub(crate) const fn name(self) -> &'static str {
        match self {
            Export::OnInstall => "on-install",
            Export::OnUninstall => "on-uninstall",
            Export::OnUpdate => "on-update",
            Export::OnEnable => "on-enable",
            Export::OnDisable => "on-disable",
            Export::CheckPreMessageSentPrevent => "check-pre-message-sent-prevent",
            Export::PreMessageSentPrevent => "execute-pre-message-sent-prevent",
            Export::PreMessageSentExtend => "execute-pre-message-sent-extend",
            Export::PreMessageSentModify => "execute-pre-message-sent-modify",
            Export::PostMessageSent => "execute-post-message-sent",
            Export::ExecuteCommand => "execute-command",
            Export::PreviewCommand => "preview-command",
            Export::OnPreSettingUpdate => "on-pre-setting-update",
            Export::OnSettingUpdated => "on-setting-updated",
        }
    }

    /// The export with WIT name `name`.
    pub(crate) fn parse(name: &str) -> Option<Export> {
        Export::ALL.into_iter().find(|e| e.name() == name)
    }

    /// The deadline class it runs under.
    pub(crate) const fn class(self) -> EventClass {
        match self {
            Export::OnInstall
            | Export::OnUninstall
            | Export::OnUpdate
            | Export::OnEnable
            | Export::OnDisable => EventClass::Lifecycle,
            Export::CheckPreMessageSentPrevent
            | Export::PreMessageSentPrevent
            | Export::PreMessageSentExtend
            | Export::PreMessageSentModify => EventClass::PreMessage,
            Export::PostMessageSent => EventClass::PostMessage,
            Export::ExecuteCommand | Export::PreviewCommand => EventClass::Command,
            Export::OnPreSettingUpdate | Export::OnSettingUpdated => EventClass::Settings,
        }
    }

    /// The manifest event that enables it; `None` for `execute-command`,
    /// which the manifest's `commands` enable.
    pub(crate) const fn event(self) -> Option<Event> {
        Some(match self {
            Export::OnInstall
            | Export::OnUninstall
            | Export::OnUpdate
            | Export::OnEnable
            | Export::OnDisable => Event::Lifecycle,
            Export::CheckPreMessageSentPrevent => Event::CheckPreMessageSentPrevent,
            Export::PreMessageSentPrevent => Event::PreMessageSentPrevent,
            Export::PreMessageSentExtend => Event::PreMessageSentExtend,
            Export::PreMessageSentModify => Event::PreMessageSentModify,
            Export::PostMessageSent => Event::PostMessageSent,
            Export::ExecuteCommand => return None,
            Export::PreviewCommand => Event::CommandPreview,
            Export::OnPreSettingUpdate | Export::OnSettingUpdated => Event::Settings,
        })
    }
}

/// A typed call of one export.
pub(crate) trait Call {
    /// What the export returns on success.
    type Output;
    /// Which export.
    const EXPORT: Export;
}

/// An event handler: gets the writer and modifier, runs in one transaction.
pub(crate) trait HandlerCall: Call {
    fn invoke(
        &self,
        i: &Instance,
        s: &mut Store<CallState>,
        a: Accessors,
    ) -> Returned<Self::Output>;
}

/// A read-only call: no writer, no modifier, a read snapshot.
pub(crate) trait ReadOnlyCall: Call {
    fn invoke(&self, i: &Instance, s: &mut Store<CallState>) -> Returned<Self::Output>;
}

macro_rules! call {
    ($name:ident $(<$lt:lifetime>)? $(($($field:ty),*))?, $export:ident, $out:ty) => {
        pub(crate) struct $name $(<$lt>)? $(($(pub(crate) $field),*))?;
        impl $(<$lt>)? Call for $name $(<$lt>)? {
            type Output = $out;
            const EXPORT: Export = Export::$export;
        }
    };
}

call!(OnInstall, OnInstall, ());
call!(OnUninstall, OnUninstall, ());
call!(OnUpdate<'a>(&'a str), OnUpdate, ());
call!(OnEnable, OnEnable, ());
call!(OnDisable, OnDisable, ());
call!(CheckPrevent<'a>(&'a MessageArg), CheckPreMessageSentPrevent, bool);
call!(Prevent<'a>(&'a MessageArg), PreMessageSentPrevent, bool);
call!(Extend<'a>(&'a MessageArg), PreMessageSentExtend, Vec<CustomField>);
call!(Modify<'a>(&'a MessageArg), PreMessageSentModify, ReturnedMessage);
call!(PostMessageSent<'a>(&'a MessageArg), PostMessageSent, ());
call!(ExecuteCommand<'a>(&'a CommandArg), ExecuteCommand, ());
call!(PreviewCommand<'a>(&'a CommandArg), PreviewCommand, Vec<PreviewItem>);
call!(PreSettingUpdate<'a>(&'a str, &'a str, &'a str), OnPreSettingUpdate, ());
call!(SettingUpdated<'a>(&'a str, &'a str), OnSettingUpdated, ());

impl HandlerCall for OnInstall {
    fn invoke(&self, i: &Instance, s: &mut Store<CallState>, a: Accessors) -> Returned<()> {
        i.on_install(s, a)
    }
}

impl HandlerCall for OnUninstall {
    fn invoke(&self, i: &Instance, s: &mut Store<CallState>, a: Accessors) -> Returned<()> {
        i.on_uninstall(s, a)
    }
}

impl HandlerCall for OnUpdate<'_> {
    fn invoke(&self, i: &Instance, s: &mut Store<CallState>, a: Accessors) -> Returned<()> {
        i.on_update(s, a, self.0)
    }
}

impl ReadOnlyCall for OnEnable {
    fn invoke(&self, i: &Instance, s: &mut Store<CallState>) -> Returned<()> {
        i.on_enable(s)
    }
}

impl ReadOnlyCall for OnDisable {
    fn invoke(&self, i: &Instance, s: &mut Store<CallState>) -> Returned<()> {
        i.on_disable(s)
    }
}

impl ReadOnlyCall for CheckPrevent<'_> {
    fn invoke(&self, i: &Instance, s: &mut Store<CallState>) -> Returned<bool> {
        i.check_pre_message_sent_prevent(s, self.0)
    }
}

impl HandlerCall for Prevent<'_> {
    fn invoke(&self, i: &Instance, s: &mut Store<CallState>, a: Accessors) -> Returned<bool> {
        i.pre_message_sent_prevent(s, self.0, a)
    }
}

impl HandlerCall for Extend<'_> {
    fn invoke(
        &self,
        i: &Instance,
        s: &mut Store<CallState>,
        a: Accessors,
    ) -> Returned<Vec<CustomField>> {
        i.pre_message_sent_extend(s, self.0, a)
    }
}

impl HandlerCall for Modify<'_> {
    fn invoke(
        &self,
        i: &Instance,
        s: &mut Store<CallState>,
        a: Accessors,
    ) -> Returned<ReturnedMessage> {
        i.pre_message_sent_modify(s, self.0, a)
    }
}

impl HandlerCall for PostMessageSent<'_> {
    fn invoke(&self, i: &Instance, s: &mut Store<CallState>, a: Accessors) -> Returned<()> {
        i.post_message_sent(s, self.0, a)
    }
}

impl HandlerCall for ExecuteCommand<'_> {
    fn invoke(&self, i: &Instance, s: &mut Store<CallState>, a: Accessors) -> Returned<()> {
        i.execute_command(s, self.0, a)
    }
}

impl ReadOnlyCall for PreviewCommand<'_> {
    fn invoke(&self, i: &Instance, s: &mut Store<CallState>) -> Returned<Vec<PreviewItem>> {
        i.preview_command(s, self.0)
    }
}

impl ReadOnlyCall for PreSettingUpdate<'_> {
    fn invoke(&self, i: &Instance, s: &mut Store<CallState>) -> Returned<()> {
        i.on_pre_setting_update(s, self.0, self.1, self.2)
    }
}

impl HandlerCall for SettingUpdated<'_> {
    fn invoke(&self, i: &Instance, s: &mut Store<CallState>, a: Accessors) -> Returned<()> {
        i.on_setting_updated(s, a, self.0, self.1)
    }
}
