//! The app's exports, named by one enum, and the typed calls the call
//! engine runs. A [`HandlerCall`] is invoked with the writer and modifier;
//! a [`ReadOnlyCall`] has no way to receive them: the types carry the rule
//! "writer only in handlers", not a flag.

use wasmtime::Store;

use crate::bindings::{
    Accessors, CommandArg, CustomField, EventArg, Instance, MessageArg, PreviewItemArg, Returned,
    ReturnedMessage,
};
use crate::bridge::EventKind;
use crate::endpoint::{HttpRequest, HttpResponse};
use crate::manifest::Event;
use crate::policy::EventClass;
use crate::report::PreviewItem;
use crate::sandbox::CallState;
use crate::storage::ClaimedJob;

/// Every export of the `hangar:app` worlds (0.1 has the first fourteen).
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
    CheckPostMessageSent,
    ExecutePreviewItem,
    CheckPreEvent,
    CheckPostEvent,
    HandleRequest,
    RunJob,
    BlockAction,
    ViewSubmit,
    ViewClosed,
    ActionButton,
    /// `execute-pre-event-prevent` for one kind of event.
    PreEvent(EventKind),
    /// `execute-post-event` for one kind of event.
    PostEvent(EventKind),
}

/// How many exports there are, counting each event kind's.
const COUNT: usize = FIXED + PREVENTABLE.len() + EventKind::ALL.len();

/// How many exports have no event kind.
const FIXED: usize = 24;

/// The kinds of event apps may prevent, in `EventKind` order.
const PREVENTABLE: [EventKind; 6] = [
    EventKind::MessageUpdated,
    EventKind::MessageDeleted,
    EventKind::RoomCreated,
    EventKind::RoomDeleted,
    EventKind::UserJoined,
    EventKind::UserLeft,
];

impl Export {
    /// Every export, in WIT order.
    pub(crate) const ALL: [Export; COUNT] = {
        let mut all = [Export::OnInstall; COUNT];
        let fixed = [
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
            Export::CheckPostMessageSent,
            Export::ExecutePreviewItem,
            Export::CheckPreEvent,
            Export::CheckPostEvent,
            Export::HandleRequest,
            Export::RunJob,
            Export::BlockAction,
            Export::ViewSubmit,
            Export::ViewClosed,
            Export::ActionButton,
        ];
        let mut i = 0;
        while i < fixed.len() {
            all[i] = fixed[i];
            i += 1;
        }
        let mut k = 0;
        while k < PREVENTABLE.len() {
            all[i] = Export::PreEvent(PREVENTABLE[k]);
            i += 1;
            k += 1;
        }
        let mut k = 0;
        while k < EventKind::ALL.len() {
            all[i] = Export::PostEvent(EventKind::ALL[k]);
            i += 1;
            k += 1;
        }
        all
    };

    /// Its position in [`Export::ALL`] (a match: this is on every
    /// dispatch's path).
    pub(crate) fn index(self) -> usize {
        match self {
            Export::OnInstall => 0,
            Export::OnUninstall => 1,
            Export::OnUpdate => 2,
            Export::OnEnable => 3,
            Export::OnDisable => 4,
            Export::CheckPreMessageSentPrevent => 5,
            Export::PreMessageSentPrevent => 6,
            Export::PreMessageSentExtend => 7,
            Export::PreMessageSentModify => 8,
            Export::PostMessageSent => 9,
            Export::ExecuteCommand => 10,
            Export::PreviewCommand => 11,
            Export::OnPreSettingUpdate => 12,
            Export::OnSettingUpdated => 13,
            Export::CheckPostMessageSent => 14,
            Export::ExecutePreviewItem => 15,
            Export::CheckPreEvent => 16,
            Export::CheckPostEvent => 17,
            Export::HandleRequest => 18,
            Export::RunJob => 19,
            Export::BlockAction => 20,
            Export::ViewSubmit => 21,
            Export::ViewClosed => 22,
            Export::ActionButton => 23,
            Export::PreEvent(kind) => {
                FIXED
                    + PREVENTABLE
                        .iter()
                        .position(|k| *k == kind)
                        .expect("only preventable kinds have a pre export")
            }
            Export::PostEvent(kind) => FIXED + PREVENTABLE.len() + kind as usize,
        }
    }

    /// Its name (also the handler name in reports, logs and the
    /// `hangar:exports` section); an event kind's handler is named after
    /// its manifest event, such as `execute-post-room-user-joined`.
    pub(crate) fn name(self) -> &'static str {
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
            Export::CheckPostMessageSent => "check-post-message-sent",
            Export::ExecutePreviewItem => "execute-preview-item",
            Export::CheckPreEvent => "check-pre-event",
            Export::CheckPostEvent => "check-post-event",
            Export::HandleRequest => "handle-request",
            Export::RunJob => "run-job",
            Export::BlockAction => "execute-block-action",
            Export::ViewSubmit => "execute-view-submit",
            Export::ViewClosed => "execute-view-closed",
            Export::ActionButton => "execute-action-button",
            Export::PreEvent(k) => HANDLER_NAMES[Export::PreEvent(k).index() - FIXED],
            Export::PostEvent(k) => HANDLER_NAMES[Export::PostEvent(k).index() - FIXED],
        }
    }

    /// The export with name `name`.
    pub(crate) fn parse(name: &str) -> Option<Export> {
        Export::ALL.into_iter().find(|e| e.name() == name)
    }

    /// The deadline class it runs under: event prevents share the
    /// pre-message class, event handlers the post-message one.
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
            | Export::PreMessageSentModify
            | Export::CheckPreEvent
            | Export::PreEvent(_) => EventClass::PreMessage,
            Export::PostMessageSent
            | Export::CheckPostMessageSent
            | Export::CheckPostEvent
            | Export::PostEvent(_) => EventClass::PostMessage,
            Export::ExecuteCommand | Export::PreviewCommand | Export::ExecutePreviewItem => {
                EventClass::Command
            }
            Export::OnPreSettingUpdate | Export::OnSettingUpdated => EventClass::Settings,
            Export::HandleRequest => EventClass::Http,
            Export::RunJob => EventClass::Job,
            Export::BlockAction
            | Export::ViewSubmit
            | Export::ViewClosed
            | Export::ActionButton => EventClass::Interaction,
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
            Export::CheckPostMessageSent => Event::CheckPostMessageSent,
            Export::ExecutePreviewItem => Event::CommandPreviewItem,
            Export::CheckPreEvent => Event::CheckPreEvent,
            Export::CheckPostEvent => Event::CheckPostEvent,
            Export::HandleRequest => Event::HttpRequest,
            Export::RunJob => Event::Job,
            Export::BlockAction => Event::BlockAction,
            Export::ViewSubmit => Event::ViewSubmit,
            Export::ViewClosed => Event::ViewClosed,
            Export::ActionButton => Event::ActionButton,
            Export::PreEvent(k) => Event::Pre(k),
            Export::PostEvent(k) => Event::Post(k),
        })
    }
}

/// The handler names of the event kinds' exports, in [`Export::ALL`] order.
const HANDLER_NAMES: [&str; PREVENTABLE.len() + EventKind::ALL.len()] = [
    "execute-pre-message-updated-prevent",
    "execute-pre-message-deleted-prevent",
    "execute-pre-room-created-prevent",
    "execute-pre-room-deleted-prevent",
    "execute-pre-room-user-joined-prevent",
    "execute-pre-room-user-left-prevent",
    "execute-post-message-updated",
    "execute-post-message-deleted",
    "execute-post-message-reacted",
    "execute-post-room-created",
    "execute-post-room-deleted",
    "execute-post-room-user-joined",
    "execute-post-room-user-left",
    "execute-post-user-created",
    "execute-post-user-updated",
    "execute-post-user-logged-in",
];

/// A typed call of one export.
pub(crate) trait Call {
    /// What the export returns on success.
    type Output;
    /// Which export.
    fn export(&self) -> Export;
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
            fn export(&self) -> Export {
                Export::$export
            }
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
call!(CheckPost<'a>(&'a MessageArg), CheckPostMessageSent, bool);
call!(PickedItem<'a>(&'a PreviewItemArg, &'a CommandArg), ExecutePreviewItem, ());
call!(CheckPreEvent<'a>(&'a EventArg), CheckPreEvent, bool);
call!(CheckPostEvent<'a>(&'a EventArg), CheckPostEvent, bool);
call!(HandleRequest<'a>(&'a HttpRequest), HandleRequest, HttpResponse);
call!(RunJob<'a>(&'a ClaimedJob), RunJob, ());
call!(BlockActionCall<'a>(&'a crate::interact::BlockAction), BlockAction, ());
call!(ViewSubmitCall<'a>(&'a crate::interact::ViewSubmit), ViewSubmit, Vec<crate::interact::FieldError>);
call!(ViewClosedCall<'a>(&'a crate::interact::ViewClosed), ViewClosed, ());
call!(ActionButtonCall<'a>(&'a crate::interact::ActionButton), ActionButton, ());

impl HandlerCall for BlockActionCall<'_> {
    fn invoke(&self, i: &Instance, s: &mut Store<CallState>, a: Accessors) -> Returned<()> {
        i.block_action(s, self.0, a)
    }
}

impl HandlerCall for ViewSubmitCall<'_> {
    fn invoke(
        &self,
        i: &Instance,
        s: &mut Store<CallState>,
        a: Accessors,
    ) -> Returned<Vec<crate::interact::FieldError>> {
        i.view_submit(s, self.0, a)
    }
}

impl HandlerCall for ViewClosedCall<'_> {
    fn invoke(&self, i: &Instance, s: &mut Store<CallState>, a: Accessors) -> Returned<()> {
        i.view_closed(s, self.0, a)
    }
}

impl HandlerCall for ActionButtonCall<'_> {
    fn invoke(&self, i: &Instance, s: &mut Store<CallState>, a: Accessors) -> Returned<()> {
        i.action_button(s, self.0, a)
    }
}

impl HandlerCall for RunJob<'_> {
    fn invoke(&self, i: &Instance, s: &mut Store<CallState>, a: Accessors) -> Returned<()> {
        i.run_job(s, self.0, a)
    }
}

impl HandlerCall for HandleRequest<'_> {
    fn invoke(
        &self,
        i: &Instance,
        s: &mut Store<CallState>,
        a: Accessors,
    ) -> Returned<HttpResponse> {
        i.handle_request(s, self.0, a)
    }
}

/// `execute-pre-event-prevent` for the event's kind.
pub(crate) struct PreventEvent<'a>(pub(crate) &'a EventArg);
impl Call for PreventEvent<'_> {
    type Output = bool;
    fn export(&self) -> Export {
        Export::PreEvent(self.0.kind)
    }
}

/// `execute-post-event` for the event's kind.
pub(crate) struct PostEvent<'a>(pub(crate) &'a EventArg);
impl Call for PostEvent<'_> {
    type Output = ();
    fn export(&self) -> Export {
        Export::PostEvent(self.0.kind)
    }
}

impl ReadOnlyCall for CheckPost<'_> {
    fn invoke(&self, i: &Instance, s: &mut Store<CallState>) -> Returned<bool> {
        i.check_post_message_sent(s, self.0)
    }
}

impl HandlerCall for PickedItem<'_> {
    fn invoke(&self, i: &Instance, s: &mut Store<CallState>, a: Accessors) -> Returned<()> {
        i.execute_preview_item(s, self.0, self.1, a)
    }
}

impl ReadOnlyCall for CheckPreEvent<'_> {
    fn invoke(&self, i: &Instance, s: &mut Store<CallState>) -> Returned<bool> {
        i.check_pre_event(s, self.0)
    }
}

impl ReadOnlyCall for CheckPostEvent<'_> {
    fn invoke(&self, i: &Instance, s: &mut Store<CallState>) -> Returned<bool> {
        i.check_post_event(s, self.0)
    }
}

impl HandlerCall for PreventEvent<'_> {
    fn invoke(&self, i: &Instance, s: &mut Store<CallState>, a: Accessors) -> Returned<bool> {
        i.prevent_event(s, self.0, a)
    }
}

impl HandlerCall for PostEvent<'_> {
    fn invoke(&self, i: &Instance, s: &mut Store<CallState>, a: Accessors) -> Returned<()> {
        i.post_event(s, self.0, a)
    }
}

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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn index_is_the_position_in_all_and_names_round_trip() {
        for (i, e) in Export::ALL.iter().enumerate() {
            assert_eq!(e.index(), i, "{e:?}");
            assert_eq!(Export::parse(e.name()), Some(*e));
        }
    }
}
