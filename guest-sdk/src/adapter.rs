//! Glue between the generated WIT exports and the SDK's traits: the one
//! place that knows both shapes.

use crate::__wit::exports::hangar::app::{commands, lifecycle, messages, settings};
use crate::__wit::hangar::app::modify::Modifier as WitModifier;
use crate::__wit::hangar::app::persistence::Writer as WitWriter;
use crate::__wit::hangar::app::types as wit;
use crate::{
    __Phantom, Association, Command, Commands, Lifecycle, Message, Messages, Model, Modifier,
    Record, Result, Settings, Writer, parse,
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
        custom_fields: parse("message custom fields", &m.custom_fields)?,
        id: m.id,
        room: m.room,
        sender: m.sender,
        text: m.text,
        timestamp: m.timestamp,
    })
}

fn to_wit_message(m: Message) -> wit::Message {
    wit::Message {
        id: m.id,
        room: m.room,
        sender: m.sender,
        text: m.text,
        custom_fields: serde_json::Value::Object(m.custom_fields).to_string(),
        timestamp: m.timestamp,
    }
}

fn command(c: commands::CommandContext) -> Command {
    Command {
        name: c.command,
        args: c.arguments,
        room: c.room,
        sender: c.sender,
    }
}

/// A handler's error, as text for the host's report.
fn done<T>(r: Result<T>) -> Result<T, String> {
    r.map_err(|e| e.to_string())
}

impl<A: Lifecycle> lifecycle::Guest for Adapter<A> {
    fn on_install(writer: &WitWriter) -> Result<(), String> {
        done(A::on_install(&Writer::__new(writer)))
    }
    fn on_uninstall(writer: &WitWriter) -> Result<(), String> {
        done(A::on_uninstall(&Writer::__new(writer)))
    }
    fn on_update(writer: &WitWriter, previous_version: String) -> Result<(), String> {
        done(A::on_update(&Writer::__new(writer), &previous_version))
    }
    fn on_enable() -> Result<(), String> {
        done(A::on_enable())
    }
    fn on_disable() -> Result<(), String> {
        done(A::on_disable())
    }
}

impl<A: Messages> messages::Guest for Adapter<A> {
    fn check_pre_message_sent_prevent(message: wit::Message) -> Result<bool, String> {
        done(from_wit_message(message).and_then(|m| A::check_pre_message_sent_prevent(&m)))
    }
    fn execute_pre_message_sent_prevent(
        message: wit::Message,
        writer: &WitWriter,
    ) -> Result<bool, String> {
        done(
            from_wit_message(message)
                .and_then(|m| A::pre_message_sent_prevent(&m, &Writer::__new(writer))),
        )
    }
    fn execute_pre_message_sent_extend(
        message: wit::Message,
        writer: &WitWriter,
    ) -> Result<Vec<messages::CustomField>, String> {
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
    ) -> Result<wit::Message, String> {
        done(
            from_wit_message(message)
                .and_then(|m| A::pre_message_sent_modify(m, &Writer::__new(writer)))
                .map(to_wit_message),
        )
    }
    fn execute_post_message_sent(
        message: wit::Message,
        writer: &WitWriter,
        modifier: &WitModifier,
    ) -> Result<(), String> {
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
    ) -> Result<(), String> {
        done(A::execute(
            &command(context),
            &Writer::__new(writer),
            &Modifier::__new(modifier),
        ))
    }
    fn preview_command(
        context: commands::CommandContext,
    ) -> Result<Vec<commands::PreviewItem>, String> {
        let items = done(A::preview(&command(context)))?;
        Ok(items
            .into_iter()
            .map(|i| commands::PreviewItem {
                id: i.id,
                text: i.text,
            })
            .collect())
    }
}

impl<A: Settings> settings::Guest for Adapter<A> {
    fn on_pre_setting_update(
        id: String,
        old_value: String,
        new_value: String,
    ) -> Result<(), String> {
        let run = || -> Result<()> {
            let old = parse("old setting value", &old_value)?;
            let new = parse("new setting value", &new_value)?;
            A::validate(&id, &old, &new)
        };
        done(run())
    }
    fn on_setting_updated(id: String, value: String, writer: &WitWriter) -> Result<(), String> {
        done(
            parse("setting value", &value)
                .and_then(|v| A::updated(&id, &v, &Writer::__new(writer))),
        )
    }
}
