//! Records every lifecycle and settings hook it receives as a record
//! associated with `misc:hook`, so tests can see which ran, in what order,
//! with what arguments. `on_enable` refuses while the setting
//! `refuse-enable` is true; `validate` refuses the label "forbidden".

use hangar_sdk::serde_json::{Value, json};
use hangar_sdk::{Association, Error, Lifecycle, Result, Settings, Writer, log, read};

struct Hooks;

fn note(writer: &Writer, event: Value) -> Result<()> {
    writer.create_with(&event, &[Association::misc("hook")])?;
    Ok(())
}

#[hangar_sdk::handlers]
impl Lifecycle for Hooks {
    fn on_install(writer: &Writer) -> Result<()> {
        note(writer, json!({"hook": "install"}))
    }
    fn on_update(writer: &Writer, previous_version: &str) -> Result<()> {
        note(writer, json!({"hook": "update", "from": previous_version}))
    }
    fn on_uninstall(writer: &Writer) -> Result<()> {
        note(writer, json!({"hook": "uninstall"}))
    }
    fn on_enable() -> Result<()> {
        if read::setting::<bool>("refuse-enable")? {
            return Err(Error::App("refuse-enable is set".into()));
        }
        Ok(())
    }
    fn on_disable() -> Result<()> {
        log::info("disable hook ran");
        Ok(())
    }
}

#[hangar_sdk::handlers]
impl Settings for Hooks {
    fn validate(id: &str, _old: &Value, new: &Value) -> Result<()> {
        if id == "label" && new == "forbidden" {
            return Err(Error::App("the label 'forbidden' is not allowed".into()));
        }
        Ok(())
    }
    fn updated(id: &str, value: &Value, writer: &Writer) -> Result<()> {
        if id == "label" && value == "explode" {
            return Err(Error::App(
                "the label 'explode' blew up the updated hook".into(),
            ));
        }
        note(writer, json!({"hook": "updated", "id": id, "value": value}))
    }
}

hangar_sdk::export_app!(
    Hooks,
    manifest = "hangar.json",
    handles = [Lifecycle, Settings]
);
