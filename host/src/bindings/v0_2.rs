//! `hangar:app@0.2.0` (in `wit/0.2.0/`): the generated bindings, the
//! conversions between its types and the host's (rich messages, rooms,
//! users, events), and its imports, each a thin shell over the
//! version-neutral accessors.

use wasmtime::component::{HasSelf, Linker, Resource};

use super::{ModifierToken, WriterToken};
use crate::accessors::{ImportError, Outgoing};
use crate::bridge::{
    Accessory, Attachment, AttachmentField, Block, BlockKind, Button, ButtonStyle, ChatEvent,
    Choice, Content, ContextElement, DatePicker, Element, Image, InputBlock, InputElement, Message,
    OverflowMenu, Room, RoomKind, StaticSelect, Text, TextInput, User, View, ViewKind,
};
use crate::manifest::Permission;
use crate::report::ErrorKind;
use crate::sandbox::CallState;
use crate::storage::{Association, Model, Record};

mod generated {
    #![allow(missing_docs)]
    wasmtime::component::bindgen!({
        path: "../wit/0.2.0",
        world: "app",
        imports: { default: trappable },
        with: {
            "hangar:app/persistence.writer": crate::bindings::WriterToken,
            "hangar:app/modify.modifier": crate::bindings::ModifierToken,
        },
    });
}

pub(crate) use generated::exports::hangar::app::commands::{CommandContext, PreviewItem};
pub(crate) use generated::exports::hangar::app::endpoints as ep;
pub(crate) use generated::exports::hangar::app::events as ev;
pub(crate) use generated::exports::hangar::app::interactions as ia;
pub(crate) use generated::exports::hangar::app::jobs as jb;
pub(crate) use generated::hangar::app::types as wit;
use generated::hangar::app::{http, log, modify, persistence, reader};
pub(crate) use generated::{App, AppPre};

/// The API version this module binds.
pub(crate) const VERSION: &str = "0.2.0";

/// The WIT package's interface names, for the benchmarks' bare linker.
#[cfg(feature = "bench")]
pub(crate) const PERSISTENCE: &str = "hangar:app/persistence@0.2.0";
#[cfg(feature = "bench")]
pub(crate) const MODIFY: &str = "hangar:app/modify@0.2.0";

type HostResult<T> = wasmtime::Result<Result<T, wit::Error>>;

pub(crate) fn add_to_linker(linker: &mut Linker<CallState>) -> wasmtime::Result<()> {
    App::add_to_linker::<CallState, HasSelf<CallState>>(linker, |s| s)
}

super::shared::shared_imports!();

/// An export's error, with its kind kept.
pub(crate) fn app_error(e: wit::Error) -> super::AppError {
    let (kind, message) = match e {
        wit::Error::App(m) => (ErrorKind::App, m),
        wit::Error::Denied(m) => (ErrorKind::Denied, m),
        wit::Error::Invalid(m) => (ErrorKind::Invalid, m),
        wit::Error::TooLarge(m) => (ErrorKind::TooLarge, m),
        wit::Error::QuotaExceeded(m) => (ErrorKind::QuotaExceeded, m),
        wit::Error::NotFound(m) => (ErrorKind::NotFound, m),
        wit::Error::Host(m) => (ErrorKind::Host, m),
    };
    super::AppError { kind, message }
}

// ---- rich content, host -> app ----

fn to_text(t: &Text) -> wit::Text {
    wit::Text {
        markdown: t.markdown,
        text: t.text.clone(),
    }
}

fn to_image(i: &Image) -> wit::Image {
    wit::Image {
        url: i.url.clone(),
        alt: i.alt.clone(),
    }
}

fn to_block(b: &Block) -> wit::Block {
    let kind = match &b.kind {
        BlockKind::Section {
            text,
            fields,
            accessory,
        } => wit::BlockKind::Section(wit::Section {
            text: text.as_ref().map(to_text),
            fields: fields.iter().map(to_text).collect(),
            accessory: accessory.as_ref().map(|a| match a {
                Accessory::Image(i) => wit::Accessory::Image(to_image(i)),
                Accessory::Button(b) => wit::Accessory::Button(to_button(b)),
                Accessory::StaticSelect(s) => wit::Accessory::StaticSelect(to_select(s)),
                Accessory::Overflow(o) => wit::Accessory::Overflow(to_overflow(o)),
                Accessory::DatePicker(d) => wit::Accessory::DatePicker(to_date(d)),
            }),
        }),
        BlockKind::Context { elements } => wit::BlockKind::Context(
            elements
                .iter()
                .map(|e| match e {
                    ContextElement::Text(t) => wit::ContextElement::Text(to_text(t)),
                    ContextElement::Image(i) => wit::ContextElement::Image(to_image(i)),
                })
                .collect(),
        ),
        BlockKind::Divider => wit::BlockKind::Divider,
        BlockKind::Image { image, title } => wit::BlockKind::Image(wit::ImageBlock {
            image: to_image(image),
            title: title.clone(),
        }),
        BlockKind::Actions { elements } => wit::BlockKind::Actions(
            elements
                .iter()
                .map(|e| match e {
                    Element::Button(b) => wit::Element::Button(to_button(b)),
                    Element::StaticSelect(s) => wit::Element::StaticSelect(to_select(s)),
                    Element::Overflow(o) => wit::Element::Overflow(to_overflow(o)),
                    Element::DatePicker(d) => wit::Element::DatePicker(to_date(d)),
                })
                .collect(),
        ),
        BlockKind::Input(i) => wit::BlockKind::Input(wit::InputBlock {
            label: i.label.clone(),
            element: match &i.element {
                InputElement::TextInput(t) => wit::InputElement::TextInput(wit::TextInput {
                    action_id: t.action_id.clone(),
                    placeholder: t.placeholder.clone(),
                    initial: t.initial.clone(),
                    multiline: t.multiline,
                    max_length: t.max_length,
                }),
                InputElement::StaticSelect(s) => wit::InputElement::StaticSelect(to_select(s)),
                InputElement::DatePicker(d) => wit::InputElement::DatePicker(to_date(d)),
            },
            optional: i.optional,
            hint: i.hint.clone(),
        }),
    };
    wit::Block {
        block_id: b.block_id.clone(),
        kind,
    }
}

fn to_button(b: &Button) -> wit::Button {
    wit::Button {
        action_id: b.action_id.clone(),
        text: b.text.clone(),
        value: b.value.clone(),
        style: match b.style {
            ButtonStyle::Normal => wit::ButtonStyle::Normal,
            ButtonStyle::Primary => wit::ButtonStyle::Primary,
            ButtonStyle::Danger => wit::ButtonStyle::Danger,
        },
    }
}

fn to_choices(c: &[Choice]) -> Vec<wit::Choice> {
    c.iter()
        .map(|c| wit::Choice {
            text: c.text.clone(),
            value: c.value.clone(),
        })
        .collect()
}

fn to_select(s: &StaticSelect) -> wit::StaticSelect {
    wit::StaticSelect {
        action_id: s.action_id.clone(),
        placeholder: s.placeholder.clone(),
        choices: to_choices(&s.choices),
        initial: s.initial.clone(),
    }
}

fn to_overflow(o: &OverflowMenu) -> wit::OverflowMenu {
    wit::OverflowMenu {
        action_id: o.action_id.clone(),
        choices: to_choices(&o.choices),
    }
}

fn to_date(d: &DatePicker) -> wit::DatePicker {
    wit::DatePicker {
        action_id: d.action_id.clone(),
        placeholder: d.placeholder.clone(),
        initial: d.initial.clone(),
    }
}

fn to_attachment(a: &Attachment) -> wit::Attachment {
    wit::Attachment {
        title: a.title.clone(),
        title_link: a.title_link.clone(),
        text: a.text.clone(),
        color: a.color.clone(),
        image_url: a.image_url.clone(),
        author_name: a.author_name.clone(),
        fields: a
            .fields
            .iter()
            .map(|f| wit::AttachmentField {
                title: f.title.clone(),
                value: f.value.clone(),
                short: f.short,
            })
            .collect(),
    }
}

pub(crate) fn to_wit_message(m: &Message) -> wit::Message {
    wit::Message {
        id: m.id.clone(),
        room: m.room.clone(),
        sender: m.sender.clone(),
        timestamp: m.timestamp,
        thread: m.thread.clone(),
        alias: m.alias.clone(),
        avatar: m.avatar.clone(),
        edited_at: m.edited_at,
        content: wit::Content {
            text: m.text.clone(),
            attachments: m.attachments.iter().map(to_attachment).collect(),
            blocks: m.blocks.iter().map(to_block).collect(),
            custom_fields: serde_json::to_string(&m.custom_fields).unwrap_or_else(|_| "{}".into()),
        },
    }
}

fn to_room_kind(k: RoomKind) -> wit::RoomKind {
    match k {
        RoomKind::Channel => wit::RoomKind::Channel,
        RoomKind::PrivateGroup => wit::RoomKind::PrivateGroup,
        RoomKind::Direct => wit::RoomKind::Direct,
    }
}

fn to_room(r: Room) -> wit::Room {
    wit::Room {
        id: r.id,
        name: r.name,
        kind: to_room_kind(r.kind),
        creator: r.creator,
    }
}

fn to_user(u: User) -> wit::User {
    wit::User {
        id: u.id,
        username: u.username,
        display_name: u.display_name,
        is_bot: u.is_bot,
    }
}

pub(crate) fn to_wit_event(e: &ChatEvent) -> ev::Event {
    let m = to_wit_message;
    match e {
        ChatEvent::MessageUpdated {
            message,
            previous,
            editor,
        } => ev::Event::MessageUpdated(ev::MessageEdit {
            message: m(message),
            previous: m(previous),
            editor: editor.clone(),
        }),
        ChatEvent::MessageDeleted { message, by } => {
            ev::Event::MessageDeleted(ev::MessageRemoval {
                message: m(message),
                by: by.clone(),
            })
        }
        ChatEvent::MessageReacted {
            message,
            user,
            reaction,
            added,
        } => ev::Event::MessageReacted(ev::Reaction {
            message: m(message),
            user: user.clone(),
            reaction: reaction.clone(),
            added: *added,
        }),
        ChatEvent::RoomCreated { room, by } => ev::Event::RoomCreated(ev::RoomChange {
            room: to_room(room.clone()),
            by: by.clone(),
        }),
        ChatEvent::RoomDeleted { room, by } => ev::Event::RoomDeleted(ev::RoomChange {
            room: to_room(room.clone()),
            by: by.clone(),
        }),
        ChatEvent::UserJoined { room, user } => ev::Event::UserJoined(ev::Membership {
            room: to_room(room.clone()),
            user: to_user(user.clone()),
        }),
        ChatEvent::UserLeft { room, user } => ev::Event::UserLeft(ev::Membership {
            room: to_room(room.clone()),
            user: to_user(user.clone()),
        }),
        ChatEvent::UserCreated { user } => ev::Event::UserCreated(to_user(user.clone())),
        ChatEvent::UserUpdated { user } => ev::Event::UserUpdated(to_user(user.clone())),
        ChatEvent::UserLoggedIn { user } => ev::Event::UserLoggedIn(to_user(user.clone())),
    }
}

// ---- rich content, app -> host ----

fn from_text(t: wit::Text) -> Text {
    Text {
        markdown: t.markdown,
        text: t.text,
    }
}

fn from_image(i: wit::Image) -> Image {
    Image {
        url: i.url,
        alt: i.alt,
    }
}

fn from_block(b: wit::Block) -> Block {
    let kind = match b.kind {
        wit::BlockKind::Section(s) => BlockKind::Section {
            text: s.text.map(from_text),
            fields: s.fields.into_iter().map(from_text).collect(),
            accessory: s.accessory.map(|a| match a {
                wit::Accessory::Image(i) => Accessory::Image(from_image(i)),
                wit::Accessory::Button(b) => Accessory::Button(from_button(b)),
                wit::Accessory::StaticSelect(s) => Accessory::StaticSelect(from_select(s)),
                wit::Accessory::Overflow(o) => Accessory::Overflow(from_overflow(o)),
                wit::Accessory::DatePicker(d) => Accessory::DatePicker(from_date(d)),
            }),
        },
        wit::BlockKind::Context(elements) => BlockKind::Context {
            elements: elements
                .into_iter()
                .map(|e| match e {
                    wit::ContextElement::Text(t) => ContextElement::Text(from_text(t)),
                    wit::ContextElement::Image(i) => ContextElement::Image(from_image(i)),
                })
                .collect(),
        },
        wit::BlockKind::Divider => BlockKind::Divider,
        wit::BlockKind::Image(i) => BlockKind::Image {
            image: from_image(i.image),
            title: i.title,
        },
        wit::BlockKind::Actions(elements) => BlockKind::Actions {
            elements: elements
                .into_iter()
                .map(|e| match e {
                    wit::Element::Button(b) => Element::Button(from_button(b)),
                    wit::Element::StaticSelect(s) => Element::StaticSelect(from_select(s)),
                    wit::Element::Overflow(o) => Element::Overflow(from_overflow(o)),
                    wit::Element::DatePicker(d) => Element::DatePicker(from_date(d)),
                })
                .collect(),
        },
        wit::BlockKind::Input(i) => BlockKind::Input(InputBlock {
            label: i.label,
            element: match i.element {
                wit::InputElement::TextInput(t) => InputElement::TextInput(TextInput {
                    action_id: t.action_id,
                    placeholder: t.placeholder,
                    initial: t.initial,
                    multiline: t.multiline,
                    max_length: t.max_length,
                }),
                wit::InputElement::StaticSelect(s) => InputElement::StaticSelect(from_select(s)),
                wit::InputElement::DatePicker(d) => InputElement::DatePicker(from_date(d)),
            },
            optional: i.optional,
            hint: i.hint,
        }),
    };
    Block {
        block_id: b.block_id,
        kind,
    }
}

fn from_button(b: wit::Button) -> Button {
    Button {
        action_id: b.action_id,
        text: b.text,
        value: b.value,
        style: match b.style {
            wit::ButtonStyle::Normal => ButtonStyle::Normal,
            wit::ButtonStyle::Primary => ButtonStyle::Primary,
            wit::ButtonStyle::Danger => ButtonStyle::Danger,
        },
    }
}

fn from_choices(c: Vec<wit::Choice>) -> Vec<Choice> {
    c.into_iter()
        .map(|c| Choice {
            text: c.text,
            value: c.value,
        })
        .collect()
}

fn from_select(s: wit::StaticSelect) -> StaticSelect {
    StaticSelect {
        action_id: s.action_id,
        placeholder: s.placeholder,
        choices: from_choices(s.choices),
        initial: s.initial,
    }
}

fn from_overflow(o: wit::OverflowMenu) -> OverflowMenu {
    OverflowMenu {
        action_id: o.action_id,
        choices: from_choices(o.choices),
    }
}

fn from_date(d: wit::DatePicker) -> DatePicker {
    DatePicker {
        action_id: d.action_id,
        placeholder: d.placeholder,
        initial: d.initial,
    }
}

/// A view an app opens or updates; the host sets its id, app and user.
fn from_view(v: wit::View) -> View {
    View {
        id: String::new(),
        app: String::new(),
        user: String::new(),
        kind: match v.kind {
            wit::ViewKind::Modal => ViewKind::Modal,
            wit::ViewKind::ContextualBar => ViewKind::ContextualBar,
        },
        title: v.title,
        blocks: v.blocks.into_iter().map(from_block).collect(),
        submit: v.submit,
        close: v.close,
    }
}

fn from_attachment(a: wit::Attachment) -> Attachment {
    Attachment {
        title: a.title,
        title_link: a.title_link,
        text: a.text,
        color: a.color,
        image_url: a.image_url,
        author_name: a.author_name,
        fields: a
            .fields
            .into_iter()
            .map(|f| AttachmentField {
                title: f.title,
                value: f.value,
                short: f.short,
            })
            .collect(),
    }
}

/// An app's content, with custom fields parsed (a JSON object or refused).
pub(crate) fn from_wit_content(c: wit::Content) -> Result<Content, String> {
    let custom_fields = match c.custom_fields.trim() {
        "" => serde_json::Map::new(),
        text => match serde_json::from_str(text) {
            Ok(serde_json::Value::Object(map)) => map,
            _ => return Err("custom-fields must be a JSON object".into()),
        },
    };
    Ok(Content {
        text: c.text,
        attachments: c.attachments.into_iter().map(from_attachment).collect(),
        blocks: c.blocks.into_iter().map(from_block).collect(),
        custom_fields,
    })
}

/// Refuse a returned message the host cannot take back: only its content
/// may change, within the bounds of a rich message.
pub(crate) fn check_wit_message(
    original: &Message,
    m: &wit::Message,
    max_bytes: usize,
) -> Result<(), String> {
    if m.content.text.len() > max_bytes || m.content.custom_fields.len() > max_bytes {
        return Err(format!(
            "the returned message is larger than the limit of {max_bytes} bytes"
        ));
    }
    if m.room != original.room
        || m.sender != original.sender
        || m.id != original.id
        || m.thread != original.thread
        || m.alias != original.alias
        || m.avatar != original.avatar
    {
        return Err(
            "a modify handler may change the message's content only, not its id, room, sender, thread, alias or avatar"
                .into(),
        );
    }
    let content = from_wit_content(m.content.clone())?;
    crate::rich::check(&content, None, None, max_bytes)
        .map(|_| ())
        .map_err(String::from)
}

/// Take back a message an app returned, refusing changes it may not make.
pub(crate) fn from_wit_message(
    original: &Message,
    m: wit::Message,
    max_bytes: usize,
) -> Result<Message, String> {
    check_wit_message(original, &m, max_bytes)?;
    let mut message = original.clone();
    message.set_content(from_wit_content(m.content)?);
    Ok(message)
}

impl wit::Host for CallState {}
impl persistence::Host for CallState {}
impl modify::Host for CallState {}

fn users(list: Vec<User>) -> Vec<wit::User> {
    list.into_iter().map(to_user).collect()
}

fn messages(list: Vec<Message>) -> Vec<wit::Message> {
    list.iter().map(to_wit_message).collect()
}

impl reader::Host for CallState {
    super::shared::shared_reader!();

    fn info(&mut self) -> wasmtime::Result<wit::AppInfo> {
        let bot_user = CallState::app_user(self).id;
        let m = self.manifest();
        Ok(wit::AppInfo {
            id: m.id.clone(),
            name: m.name.clone(),
            version: m.version.clone(),
            api_version: VERSION.to_string(),
            bot_user,
        })
    }

    fn app_user(&mut self) -> wasmtime::Result<wit::User> {
        Ok(to_user(CallState::app_user(self)))
    }

    fn get_room(&mut self, id: String) -> HostResult<Option<wit::Room>> {
        out(self.room(&id), |r| r.map(to_room))
    }

    fn get_room_by_name(&mut self, name: String) -> HostResult<Option<wit::Room>> {
        out(self.room_by_name(&name), |r| r.map(to_room))
    }

    fn get_room_members(&mut self, room: String, limit: u32) -> HostResult<Vec<wit::User>> {
        out(self.room_members(&room, limit), users)
    }

    fn get_room_messages(&mut self, room: String, limit: u32) -> HostResult<Vec<wit::Message>> {
        out(self.room_messages(&room, limit), messages)
    }

    fn get_direct(&mut self, list: Vec<String>) -> HostResult<Option<wit::Room>> {
        out(self.direct_room(&list), |r| r.map(to_room))
    }

    fn get_user(&mut self, id: String) -> HostResult<Option<wit::User>> {
        out(self.user(&id), |u| u.map(to_user))
    }

    fn get_user_by_username(&mut self, username: String) -> HostResult<Option<wit::User>> {
        out(self.user_by_username(&username), |u| u.map(to_user))
    }

    fn get_message(&mut self, id: String) -> HostResult<Option<wit::Message>> {
        out(self.message(&id), |m| m.as_ref().map(to_wit_message))
    }

    fn get_thread(&mut self, root: String, limit: u32) -> HostResult<Vec<wit::Message>> {
        out(self.thread(&root, limit), messages)
    }

    fn server_setting(&mut self, id: String) -> HostResult<Option<String>> {
        out(CallState::server_setting(self, &id), |v| v)
    }
}

impl modify::HostModifier for CallState {
    fn send_message(
        &mut self,
        _m: Resource<ModifierToken>,
        message: wit::Outgoing,
    ) -> HostResult<String> {
        if let Err(e) = self.modifier_call(Permission::MessageWrite)? {
            return out(Err(e), |v: String| v);
        }
        let content = match from_wit_content(message.content) {
            Ok(c) => c,
            Err(e) => return out(Err(ImportError::Invalid(e)), |v: String| v),
        };
        let outgoing = Outgoing {
            room: message.room,
            thread: message.thread,
            alias: message.alias,
            avatar: message.avatar,
            content,
        };
        out(self.send(outgoing)?, |v| v)
    }

    fn update_message(
        &mut self,
        _m: Resource<ModifierToken>,
        id: String,
        content: wit::Content,
    ) -> HostResult<()> {
        if let Err(e) = self.modifier_call(Permission::MessageWrite)? {
            return out(Err(e), |v: ()| v);
        }
        match from_wit_content(content) {
            Ok(c) => out(CallState::update_message(self, id, c)?, |v| v),
            Err(e) => out(Err(ImportError::Invalid(e)), |v: ()| v),
        }
    }

    fn delete_message(&mut self, _m: Resource<ModifierToken>, id: String) -> HostResult<()> {
        out(CallState::delete_message(self, id)?, |v| v)
    }

    fn notify_user(
        &mut self,
        _m: Resource<ModifierToken>,
        user: String,
        room: String,
        text: String,
    ) -> HostResult<()> {
        out(CallState::notify_user(self, user, room, text)?, |v| v)
    }

    fn notify_room(
        &mut self,
        _m: Resource<ModifierToken>,
        room: String,
        text: String,
    ) -> HostResult<()> {
        out(CallState::notify_room(self, room, text)?, |v| v)
    }

    fn create_room(
        &mut self,
        _m: Resource<ModifierToken>,
        room: wit::NewRoom,
    ) -> HostResult<String> {
        let kind = match room.kind {
            wit::RoomKind::Channel => RoomKind::Channel,
            wit::RoomKind::PrivateGroup => RoomKind::PrivateGroup,
            wit::RoomKind::Direct => RoomKind::Direct,
        };
        out(
            CallState::create_room(self, room.name, kind, room.members)?,
            |v| v,
        )
    }

    fn create_direct(
        &mut self,
        _m: Resource<ModifierToken>,
        list: Vec<String>,
    ) -> HostResult<String> {
        out(CallState::create_direct(self, list)?, |v| v)
    }

    fn schedule(&mut self, _m: Resource<ModifierToken>, job: modify::NewJob) -> HostResult<String> {
        out(
            CallState::schedule(
                self,
                job.id,
                job.processor,
                job.data,
                (job.at_ms, job.delay_ms),
                (job.every_ms, job.cron),
            )?,
            |v| v,
        )
    }

    fn cancel_job(&mut self, _m: Resource<ModifierToken>, id: String) -> HostResult<bool> {
        out(CallState::cancel_job(self, id)?, |v| v)
    }

    fn cancel_all_jobs(&mut self, _m: Resource<ModifierToken>) -> HostResult<u64> {
        out(CallState::cancel_all_jobs(self)?, |v| v)
    }

    fn open_view(
        &mut self,
        _m: Resource<ModifierToken>,
        trigger: String,
        view: wit::View,
    ) -> HostResult<String> {
        if let Err(e) = self.modifier_call(Permission::UiInteract)? {
            return out(Err(e), |v: String| v);
        }
        out(CallState::open_view(self, trigger, from_view(view))?, |v| v)
    }

    fn update_view(
        &mut self,
        _m: Resource<ModifierToken>,
        id: String,
        view: wit::View,
    ) -> HostResult<()> {
        if let Err(e) = self.modifier_call(Permission::UiInteract)? {
            return out(Err(e), |v: ()| v);
        }
        out(CallState::update_view(self, id, from_view(view))?, |v| v)
    }

    fn close_view(&mut self, _m: Resource<ModifierToken>, id: String) -> HostResult<()> {
        if let Err(e) = self.modifier_call(Permission::UiInteract)? {
            return out(Err(e), |v: ()| v);
        }
        out(CallState::close_view(self, id)?, |v| v)
    }

    fn drop(&mut self, _rep: Resource<ModifierToken>) -> wasmtime::Result<()> {
        Ok(())
    }
}

impl http::Host for CallState {
    fn fetch(&mut self, request: http::Request) -> HostResult<http::Response> {
        let request = crate::outbound::Request {
            method: request.method,
            url: request.url,
            headers: request.headers,
            body: request.body,
            timeout: request
                .timeout_ms
                .map(|ms| std::time::Duration::from_millis(ms.into())),
        };
        out(CallState::fetch(self, request), |r| http::Response {
            status: r.status,
            headers: r.headers,
            body: r.body,
        })
    }
}

/// An endpoint request as this version's export argument.
pub(crate) fn to_wit_request(r: &crate::endpoint::HttpRequest) -> ep::Request {
    ep::Request {
        method: r.method.clone(),
        path: r.path.clone(),
        query: r.query.clone(),
        headers: r.headers.clone(),
        body: r.body.clone(),
    }
}

/// An endpoint's answer, back in the host's terms.
pub(crate) fn from_wit_response(r: ep::Response) -> crate::endpoint::HttpResponse {
    crate::endpoint::HttpResponse {
        status: r.status,
        headers: r.headers,
        body: r.body,
    }
}

/// A claimed job as this version's export argument.
pub(crate) fn to_wit_job(j: &crate::storage::ClaimedJob) -> jb::Job {
    jb::Job {
        id: j.id.clone(),
        processor: j.processor.clone(),
        data: j.data.clone(),
        due: j.due,
        attempt: j.attempts,
    }
}

/// A block action as this version's export argument.
pub(crate) fn to_wit_block_action(a: &crate::interact::BlockAction) -> ia::BlockAction {
    ia::BlockAction {
        trigger: a.trigger.clone(),
        user: a.user.clone(),
        room: a.room.clone(),
        message: a.message.clone(),
        view: a.view.clone(),
        block_id: a.block_id.clone(),
        action_id: a.action_id.clone(),
        value: a.value.clone(),
    }
}

/// A view submit as this version's export argument.
pub(crate) fn to_wit_view_submit(v: &crate::interact::ViewSubmit) -> ia::ViewSubmit {
    ia::ViewSubmit {
        trigger: v.trigger.clone(),
        user: v.user.clone(),
        view: v.view.clone(),
        state: v
            .state
            .iter()
            .map(|i| ia::InputValue {
                block_id: i.block_id.clone(),
                action_id: i.action_id.clone(),
                value: i.value.clone(),
            })
            .collect(),
    }
}

/// A view close as this version's export argument.
pub(crate) fn to_wit_view_closed(v: &crate::interact::ViewClosed) -> ia::ViewClosed {
    ia::ViewClosed {
        user: v.user.clone(),
        view: v.view.clone(),
    }
}

/// An action button click as this version's export argument.
pub(crate) fn to_wit_action_button(a: &crate::interact::ActionButton) -> ia::ActionButton {
    ia::ActionButton {
        trigger: a.trigger.clone(),
        user: a.user.clone(),
        button: a.button.clone(),
        room: a.room.clone(),
        message: a.message.clone(),
        thread: a.thread.clone(),
    }
}

/// Field errors a view submit returned.
pub(crate) fn from_wit_field_errors(e: Vec<ia::FieldError>) -> Vec<crate::interact::FieldError> {
    e.into_iter()
        .map(|e| crate::interact::FieldError {
            block_id: e.block_id,
            message: e.message,
        })
        .collect()
}
