//! Glue between the generated WIT exports and the SDK's traits: the one
//! place that knows both shapes.

use crate::__wit::exports::hangar::app::{
    commands, endpoints, events, interactions, jobs, lifecycle, messages, settings,
};
use crate::__wit::hangar::app::modify::Modifier as WitModifier;
use crate::__wit::hangar::app::persistence::Writer as WitWriter;
use crate::__wit::hangar::app::types as wit;
use crate::{
    __Phantom, Accessory, Association, Attachment, AttachmentField, Block, BlockKind, Command,
    Commands, Content, ContextElement, DueJob, Endpoints, Error, Event, Events, Image, Jobs,
    Lifecycle, Membership, Message, MessageEdit, MessageRemoval, Messages, Model, Modifier,
    NewMessage, PreviewItem, Reaction, Record, Result, Room, RoomChange, RoomKind, Settings, Text,
    User, Writer, parse,
};
use crate::{
    Button, ButtonStyle, Choice, DatePicker, Element, InputElement, Interactions, OverflowMenu,
    StaticSelect, TextInput, View, ViewKind,
};

/// Exports the WIT world for app type `A`.
pub struct Adapter<A>(__Phantom<A>);

pub(crate) fn to_wit_association(a: &Association) -> wit::Association {
    let model = match a.model {
        Model::Room => wit::Model::Room,
        Model::Discussion => wit::Model::Discussion,
        Model::Message => wit::Model::Message,
        Model::LivechatMessage => wit::Model::LivechatMessage,
        Model::User => wit::Model::User,
        Model::File => wit::Model::File,
        Model::Misc => wit::Model::Misc,
        Model::VideoConference => wit::Model::VideoConference,
    };
    wit::Association {
        model,
        id: a.id.clone(),
    }
}

fn from_wit_association(a: wit::Association) -> Association {
    let model = match a.model {
        wit::Model::Room => Model::Room,
        wit::Model::Discussion => Model::Discussion,
        wit::Model::Message => Model::Message,
        wit::Model::LivechatMessage => Model::LivechatMessage,
        wit::Model::User => Model::User,
        wit::Model::File => Model::File,
        wit::Model::Misc => Model::Misc,
        wit::Model::VideoConference => Model::VideoConference,
    };
    Association { model, id: a.id }
}

pub(crate) fn from_wit_record(r: wit::Stored) -> Result<Record<serde_json::Value>> {
    Ok(Record {
        data: parse(&format!("record {}", r.id), &r.data)?,
        id: r.id,
        associations: r
            .associations
            .into_iter()
            .map(from_wit_association)
            .collect(),
    })
}

pub(crate) fn from_wit_message(m: wit::Message) -> Result<Message> {
    Ok(Message {
        custom_fields: parse("message custom fields", &m.content.custom_fields)?,
        id: m.id,
        room: m.room,
        sender: m.sender,
        text: m.content.text,
        timestamp: m.timestamp,
        thread: m.thread,
        alias: m.alias,
        avatar: m.avatar,
        edited_at: m.edited_at,
        attachments: m
            .content
            .attachments
            .into_iter()
            .map(from_attachment)
            .collect(),
        blocks: m.content.blocks.into_iter().map(from_block).collect(),
    })
}

fn to_wit_message(m: Message) -> wit::Message {
    let content = Content {
        text: m.text,
        attachments: m.attachments,
        blocks: m.blocks,
        custom_fields: m.custom_fields,
    };
    wit::Message {
        id: m.id,
        room: m.room,
        sender: m.sender,
        timestamp: m.timestamp,
        thread: m.thread,
        alias: m.alias,
        avatar: m.avatar,
        edited_at: m.edited_at,
        content: to_wit_content(content),
    }
}

fn to_text(t: Text) -> wit::Text {
    wit::Text {
        markdown: t.markdown,
        text: t.text,
    }
}

fn from_text(t: wit::Text) -> Text {
    Text {
        markdown: t.markdown,
        text: t.text,
    }
}

fn to_image(i: Image) -> wit::Image {
    wit::Image {
        url: i.url,
        alt: i.alt,
    }
}

fn from_image(i: wit::Image) -> Image {
    Image {
        url: i.url,
        alt: i.alt,
    }
}

fn to_block(b: Block) -> wit::Block {
    let kind = match b.kind {
        BlockKind::Section {
            text,
            fields,
            accessory,
        } => wit::BlockKind::Section(wit::Section {
            text: text.map(to_text),
            fields: fields.into_iter().map(to_text).collect(),
            accessory: accessory.map(|a| match a {
                Accessory::Image(i) => wit::Accessory::Image(to_image(i)),
                Accessory::Button(b) => wit::Accessory::Button(to_button(b)),
                Accessory::StaticSelect(s) => wit::Accessory::StaticSelect(to_select(s)),
                Accessory::Overflow(o) => wit::Accessory::Overflow(to_overflow(o)),
                Accessory::DatePicker(d) => wit::Accessory::DatePicker(to_date(d)),
            }),
        }),
        BlockKind::Context(elements) => wit::BlockKind::Context(
            elements
                .into_iter()
                .map(|e| match e {
                    ContextElement::Text(t) => wit::ContextElement::Text(to_text(t)),
                    ContextElement::Image(i) => wit::ContextElement::Image(to_image(i)),
                })
                .collect(),
        ),
        BlockKind::Divider => wit::BlockKind::Divider,
        BlockKind::Image { image, title } => wit::BlockKind::Image(wit::ImageBlock {
            image: to_image(image),
            title,
        }),
        BlockKind::Actions(elements) => wit::BlockKind::Actions(
            elements
                .into_iter()
                .map(|e| match e {
                    Element::Button(b) => wit::Element::Button(to_button(b)),
                    Element::StaticSelect(s) => wit::Element::StaticSelect(to_select(s)),
                    Element::Overflow(o) => wit::Element::Overflow(to_overflow(o)),
                    Element::DatePicker(d) => wit::Element::DatePicker(to_date(d)),
                })
                .collect(),
        ),
        BlockKind::Input {
            label,
            element,
            optional,
            hint,
        } => wit::BlockKind::Input(wit::InputBlock {
            label,
            element: match element {
                InputElement::TextInput(t) => wit::InputElement::TextInput(wit::TextInput {
                    action_id: t.action_id,
                    placeholder: t.placeholder,
                    initial: t.initial,
                    multiline: t.multiline,
                    max_length: t.max_length,
                }),
                InputElement::StaticSelect(s) => wit::InputElement::StaticSelect(to_select(s)),
                InputElement::DatePicker(d) => wit::InputElement::DatePicker(to_date(d)),
            },
            optional,
            hint,
        }),
    };
    wit::Block {
        block_id: b.block_id,
        kind,
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
        wit::BlockKind::Context(elements) => BlockKind::Context(
            elements
                .into_iter()
                .map(|e| match e {
                    wit::ContextElement::Text(t) => ContextElement::Text(from_text(t)),
                    wit::ContextElement::Image(i) => ContextElement::Image(from_image(i)),
                })
                .collect(),
        ),
        wit::BlockKind::Divider => BlockKind::Divider,
        wit::BlockKind::Image(i) => BlockKind::Image {
            image: from_image(i.image),
            title: i.title,
        },
        wit::BlockKind::Actions(elements) => BlockKind::Actions(
            elements
                .into_iter()
                .map(|e| match e {
                    wit::Element::Button(b) => Element::Button(from_button(b)),
                    wit::Element::StaticSelect(s) => Element::StaticSelect(from_select(s)),
                    wit::Element::Overflow(o) => Element::Overflow(from_overflow(o)),
                    wit::Element::DatePicker(d) => Element::DatePicker(from_date(d)),
                })
                .collect(),
        ),
        wit::BlockKind::Input(i) => BlockKind::Input {
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
        },
    };
    Block {
        block_id: b.block_id,
        kind,
    }
}

fn to_button(b: Button) -> wit::Button {
    wit::Button {
        action_id: b.action_id,
        text: b.text,
        value: b.value,
        style: match b.style {
            ButtonStyle::Normal => wit::ButtonStyle::Normal,
            ButtonStyle::Primary => wit::ButtonStyle::Primary,
            ButtonStyle::Danger => wit::ButtonStyle::Danger,
        },
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

fn to_choices(c: Vec<Choice>) -> Vec<wit::Choice> {
    c.into_iter()
        .map(|c| wit::Choice {
            text: c.text,
            value: c.value,
        })
        .collect()
}

fn from_choices(c: Vec<wit::Choice>) -> Vec<Choice> {
    c.into_iter()
        .map(|c| Choice {
            text: c.text,
            value: c.value,
        })
        .collect()
}

fn to_select(s: StaticSelect) -> wit::StaticSelect {
    wit::StaticSelect {
        action_id: s.action_id,
        placeholder: s.placeholder,
        choices: to_choices(s.choices),
        initial: s.initial,
    }
}

fn from_select(s: wit::StaticSelect) -> StaticSelect {
    StaticSelect {
        action_id: s.action_id,
        placeholder: s.placeholder,
        choices: from_choices(s.choices),
        initial: s.initial,
    }
}

fn to_overflow(o: OverflowMenu) -> wit::OverflowMenu {
    wit::OverflowMenu {
        action_id: o.action_id,
        choices: to_choices(o.choices),
    }
}

fn from_overflow(o: wit::OverflowMenu) -> OverflowMenu {
    OverflowMenu {
        action_id: o.action_id,
        choices: from_choices(o.choices),
    }
}

fn to_date(d: DatePicker) -> wit::DatePicker {
    wit::DatePicker {
        action_id: d.action_id,
        placeholder: d.placeholder,
        initial: d.initial,
    }
}

fn from_date(d: wit::DatePicker) -> DatePicker {
    DatePicker {
        action_id: d.action_id,
        placeholder: d.placeholder,
        initial: d.initial,
    }
}

pub(crate) fn to_wit_view(v: View) -> wit::View {
    wit::View {
        kind: match v.kind {
            ViewKind::Modal => wit::ViewKind::Modal,
            ViewKind::ContextualBar => wit::ViewKind::ContextualBar,
        },
        title: v.title,
        blocks: v.blocks.into_iter().map(to_block).collect(),
        submit: v.submit,
        close: v.close,
    }
}

fn to_attachment(a: Attachment) -> wit::Attachment {
    wit::Attachment {
        title: a.title,
        title_link: a.title_link,
        text: a.text,
        color: a.color,
        image_url: a.image_url,
        author_name: a.author_name,
        fields: a
            .fields
            .into_iter()
            .map(|f| wit::AttachmentField {
                title: f.title,
                value: f.value,
                short: f.short,
            })
            .collect(),
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

pub(crate) fn to_wit_content(c: Content) -> wit::Content {
    wit::Content {
        text: c.text,
        attachments: c.attachments.into_iter().map(to_attachment).collect(),
        blocks: c.blocks.into_iter().map(to_block).collect(),
        custom_fields: serde_json::Value::Object(c.custom_fields).to_string(),
    }
}

pub(crate) fn to_wit_outgoing(m: NewMessage) -> wit::Outgoing {
    wit::Outgoing {
        room: m.room,
        thread: m.thread,
        alias: m.alias,
        avatar: m.avatar,
        content: to_wit_content(m.content),
    }
}

pub(crate) fn to_wit_new_room(name: &str, kind: RoomKind, members: &[&str]) -> wit::NewRoom {
    wit::NewRoom {
        name: name.to_string(),
        kind: match kind {
            RoomKind::Channel => wit::RoomKind::Channel,
            RoomKind::PrivateGroup => wit::RoomKind::PrivateGroup,
            RoomKind::Direct => wit::RoomKind::Direct,
        },
        members: members.iter().map(|m| m.to_string()).collect(),
    }
}

pub(crate) fn from_wit_room(r: wit::Room) -> Room {
    Room {
        id: r.id,
        name: r.name,
        kind: match r.kind {
            wit::RoomKind::Channel => RoomKind::Channel,
            wit::RoomKind::PrivateGroup => RoomKind::PrivateGroup,
            wit::RoomKind::Direct => RoomKind::Direct,
        },
        creator: r.creator,
    }
}

pub(crate) fn from_wit_user(u: wit::User) -> User {
    User {
        id: u.id,
        username: u.username,
        display_name: u.display_name,
        is_bot: u.is_bot,
    }
}

fn from_wit_event(e: events::Event) -> Result<Event> {
    let edit = |e: events::MessageEdit| -> Result<MessageEdit> {
        Ok(MessageEdit {
            message: from_wit_message(e.message)?,
            previous: from_wit_message(e.previous)?,
            editor: e.editor,
        })
    };
    let change = |c: events::RoomChange| RoomChange {
        room: from_wit_room(c.room),
        by: c.by,
    };
    let membership = |m: events::Membership| Membership {
        room: from_wit_room(m.room),
        user: from_wit_user(m.user),
    };
    Ok(match e {
        events::Event::MessageUpdated(e) => Event::MessageUpdated(edit(e)?),
        events::Event::MessageDeleted(r) => Event::MessageDeleted(MessageRemoval {
            message: from_wit_message(r.message)?,
            by: r.by,
        }),
        events::Event::MessageReacted(r) => Event::MessageReacted(Reaction {
            message: from_wit_message(r.message)?,
            user: r.user,
            reaction: r.reaction,
            added: r.added,
        }),
        events::Event::RoomCreated(c) => Event::RoomCreated(change(c)),
        events::Event::RoomDeleted(c) => Event::RoomDeleted(change(c)),
        events::Event::UserJoined(m) => Event::UserJoined(membership(m)),
        events::Event::UserLeft(m) => Event::UserLeft(membership(m)),
        events::Event::UserCreated(u) => Event::UserCreated(from_wit_user(u)),
        events::Event::UserUpdated(u) => Event::UserUpdated(from_wit_user(u)),
        events::Event::UserLoggedIn(u) => Event::UserLoggedIn(from_wit_user(u)),
    })
}

fn command(c: commands::CommandContext) -> Command {
    Command {
        name: c.command,
        args: c.arguments,
        line: c.line,
        room: c.room,
        sender: c.sender,
        thread: c.thread,
        trigger: c.trigger,
    }
}

/// A handler's error for the host's report, its kind kept.
fn done<T>(r: Result<T>) -> Result<T, wit::Error> {
    r.map_err(|e| match e {
        Error::Denied(m) => wit::Error::Denied(m),
        Error::Invalid(m) => wit::Error::Invalid(m),
        Error::TooLarge(m) => wit::Error::TooLarge(m),
        Error::QuotaExceeded(m) => wit::Error::QuotaExceeded(m),
        Error::NotFound(m) => wit::Error::NotFound(m),
        Error::Host(m) => wit::Error::Host(m),
        Error::Data(m) => wit::Error::App(format!("bad data: {m}")),
        Error::App(m) => wit::Error::App(m),
    })
}

impl<A: Lifecycle> lifecycle::Guest for Adapter<A> {
    fn on_install(writer: &WitWriter) -> Result<(), wit::Error> {
        done(A::on_install(&Writer::__new(writer)))
    }
    fn on_uninstall(writer: &WitWriter) -> Result<(), wit::Error> {
        done(A::on_uninstall(&Writer::__new(writer)))
    }
    fn on_update(writer: &WitWriter, previous_version: String) -> Result<(), wit::Error> {
        done(A::on_update(&Writer::__new(writer), &previous_version))
    }
    fn on_enable() -> Result<(), wit::Error> {
        done(A::on_enable())
    }
    fn on_disable() -> Result<(), wit::Error> {
        done(A::on_disable())
    }
}

impl<A: Messages> messages::Guest for Adapter<A> {
    fn check_pre_message_sent_prevent(message: wit::Message) -> Result<bool, wit::Error> {
        done(from_wit_message(message).and_then(|m| A::check_pre_message_sent_prevent(&m)))
    }
    fn execute_pre_message_sent_prevent(
        message: wit::Message,
        writer: &WitWriter,
    ) -> Result<bool, wit::Error> {
        done(
            from_wit_message(message)
                .and_then(|m| A::pre_message_sent_prevent(&m, &Writer::__new(writer))),
        )
    }
    fn execute_pre_message_sent_extend(
        message: wit::Message,
        writer: &WitWriter,
    ) -> Result<Vec<messages::CustomField>, wit::Error> {
        let fields = done(
            from_wit_message(message)
                .and_then(|m| A::pre_message_sent_extend(&m, &Writer::__new(writer))),
        )?;
        Ok(fields
            .into_iter()
            .map(|(key, value)| messages::CustomField {
                key,
                value: value.to_string(),
            })
            .collect())
    }
    fn execute_pre_message_sent_modify(
        message: wit::Message,
        writer: &WitWriter,
    ) -> Result<wit::Message, wit::Error> {
        done(
            from_wit_message(message)
                .and_then(|m| A::pre_message_sent_modify(m, &Writer::__new(writer)))
                .map(to_wit_message),
        )
    }
    fn check_post_message_sent(message: wit::Message) -> Result<bool, wit::Error> {
        done(from_wit_message(message).and_then(|m| A::check_post_message_sent(&m)))
    }
    fn execute_post_message_sent(
        message: wit::Message,
        writer: &WitWriter,
        modifier: &WitModifier,
    ) -> Result<(), wit::Error> {
        done(from_wit_message(message).and_then(|m| {
            A::post_message_sent(&m, &Writer::__new(writer), &Modifier::__new(modifier))
        }))
    }
}

impl<A: Commands> commands::Guest for Adapter<A> {
    fn execute_command(
        context: commands::CommandContext,
        writer: &WitWriter,
        modifier: &WitModifier,
    ) -> Result<(), wit::Error> {
        done(A::execute(
            &command(context),
            &Writer::__new(writer),
            &Modifier::__new(modifier),
        ))
    }
    fn preview_command(
        context: commands::CommandContext,
    ) -> Result<Vec<commands::PreviewItem>, wit::Error> {
        let items = done(A::preview(&command(context)))?;
        Ok(items
            .into_iter()
            .map(|i| commands::PreviewItem {
                id: i.id,
                text: i.text,
            })
            .collect())
    }
    fn execute_preview_item(
        item: commands::PreviewItem,
        context: commands::CommandContext,
        writer: &WitWriter,
        modifier: &WitModifier,
    ) -> Result<(), wit::Error> {
        let item = PreviewItem {
            id: item.id,
            text: item.text,
        };
        done(A::preview_item(
            &item,
            &command(context),
            &Writer::__new(writer),
            &Modifier::__new(modifier),
        ))
    }
}

impl<A: Settings> settings::Guest for Adapter<A> {
    fn on_pre_setting_update(
        id: String,
        old_value: String,
        new_value: String,
    ) -> Result<(), wit::Error> {
        let run = || -> Result<()> {
            let old = parse("old setting value", &old_value)?;
            let new = parse("new setting value", &new_value)?;
            A::validate(&id, &old, &new)
        };
        done(run())
    }
    fn on_setting_updated(id: String, value: String, writer: &WitWriter) -> Result<(), wit::Error> {
        done(
            parse("setting value", &value)
                .and_then(|v| A::updated(&id, &v, &Writer::__new(writer))),
        )
    }
}

impl<A: Events> events::Guest for Adapter<A> {
    fn check_pre_event(event: events::Event) -> Result<bool, wit::Error> {
        done(from_wit_event(event).and_then(|e| A::check_pre(&e)))
    }
    fn execute_pre_event_prevent(
        event: events::Event,
        writer: &WitWriter,
    ) -> Result<bool, wit::Error> {
        let w = &Writer::__new(writer);
        done(from_wit_event(event).and_then(|e| match &e {
            Event::MessageUpdated(x) => A::prevent_message_update(x, w),
            Event::MessageDeleted(x) => A::prevent_message_delete(x, w),
            Event::RoomCreated(x) => A::prevent_room_create(x, w),
            Event::RoomDeleted(x) => A::prevent_room_delete(x, w),
            Event::UserJoined(x) => A::prevent_user_join(x, w),
            Event::UserLeft(x) => A::prevent_user_leave(x, w),
            // The host raises no pre stage for the others.
            _ => Ok(false),
        }))
    }
    fn check_post_event(event: events::Event) -> Result<bool, wit::Error> {
        done(from_wit_event(event).and_then(|e| A::check_post(&e)))
    }
    fn execute_post_event(
        event: events::Event,
        writer: &WitWriter,
        modifier: &WitModifier,
    ) -> Result<(), wit::Error> {
        let (w, m) = (&Writer::__new(writer), &Modifier::__new(modifier));
        done(from_wit_event(event).and_then(|e| match &e {
            Event::MessageUpdated(x) => A::message_updated(x, w, m),
            Event::MessageDeleted(x) => A::message_deleted(x, w, m),
            Event::MessageReacted(x) => A::message_reacted(x, w, m),
            Event::RoomCreated(x) => A::room_created(x, w, m),
            Event::RoomDeleted(x) => A::room_deleted(x, w, m),
            Event::UserJoined(x) => A::user_joined(x, w, m),
            Event::UserLeft(x) => A::user_left(x, w, m),
            Event::UserCreated(x) => A::user_created(x, w, m),
            Event::UserUpdated(x) => A::user_updated(x, w, m),
            Event::UserLoggedIn(x) => A::user_logged_in(x, w, m),
        }))
    }
}

impl<A: Endpoints> endpoints::Guest for Adapter<A> {
    fn handle_request(
        request: endpoints::Request,
        writer: &WitWriter,
        modifier: &WitModifier,
    ) -> Result<endpoints::Response, wit::Error> {
        let request = crate::http::HttpRequest {
            method: request.method,
            path: request.path,
            query: request.query,
            headers: request.headers,
            body: request.body,
        };
        let response = done(A::handle(
            &request,
            &Writer::__new(writer),
            &Modifier::__new(modifier),
        ))?;
        Ok(endpoints::Response {
            status: response.status,
            headers: response.headers,
            body: response.body,
        })
    }
}

impl<A: Jobs> jobs::Guest for Adapter<A> {
    fn run_job(
        job: jobs::Job,
        writer: &WitWriter,
        modifier: &WitModifier,
    ) -> Result<(), wit::Error> {
        let due = parse(&format!("job {} data", job.id), &job.data).map(|data| DueJob {
            id: job.id,
            processor: job.processor,
            data,
            due: job.due,
            attempt: job.attempt,
        });
        done(due.and_then(|job| A::run(&job, &Writer::__new(writer), &Modifier::__new(modifier))))
    }
}

impl<A: Interactions> interactions::Guest for Adapter<A> {
    fn execute_block_action(
        a: interactions::BlockAction,
        writer: &WitWriter,
        modifier: &WitModifier,
    ) -> Result<(), wit::Error> {
        let action = crate::BlockAction {
            trigger: a.trigger,
            user: a.user,
            room: a.room,
            message: a.message,
            view: a.view,
            block_id: a.block_id,
            action_id: a.action_id,
            value: a.value,
        };
        done(A::block_action(
            &action,
            &Writer::__new(writer),
            &Modifier::__new(modifier),
        ))
    }

    fn execute_view_submit(
        s: interactions::ViewSubmit,
        writer: &WitWriter,
        modifier: &WitModifier,
    ) -> Result<Vec<interactions::FieldError>, wit::Error> {
        let submit = crate::ViewSubmit {
            trigger: s.trigger,
            user: s.user,
            view: s.view,
            state: s
                .state
                .into_iter()
                .map(|v| crate::InputValue {
                    block_id: v.block_id,
                    action_id: v.action_id,
                    value: v.value,
                })
                .collect(),
        };
        let errors = done(A::view_submit(
            &submit,
            &Writer::__new(writer),
            &Modifier::__new(modifier),
        ))?;
        Ok(errors
            .into_iter()
            .map(|e| interactions::FieldError {
                block_id: e.block_id,
                message: e.message,
            })
            .collect())
    }

    fn execute_view_closed(
        c: interactions::ViewClosed,
        writer: &WitWriter,
        modifier: &WitModifier,
    ) -> Result<(), wit::Error> {
        let closed = crate::ViewClosed {
            user: c.user,
            view: c.view,
        };
        done(A::view_closed(
            &closed,
            &Writer::__new(writer),
            &Modifier::__new(modifier),
        ))
    }

    fn execute_action_button(
        a: interactions::ActionButton,
        writer: &WitWriter,
        modifier: &WitModifier,
    ) -> Result<(), wit::Error> {
        let click = crate::ActionButton {
            trigger: a.trigger,
            user: a.user,
            button: a.button,
            room: a.room,
            message: a.message,
            thread: a.thread,
        };
        done(A::action_button(
            &click,
            &Writer::__new(writer),
            &Modifier::__new(modifier),
        ))
    }
}
