//! An app's settings and the host's configuration.

use std::path::Path;

use anyhow::{Result, bail};

use crate::{open, print_json};

/// Show an app's settings, or set one.
pub fn settings(
    dir: &Path,
    app: String,
    id: Option<String>,
    value: Option<String>,
    json: bool,
) -> Result<()> {
    let (host, _) = open(dir)?;
    match (id, value) {
        (Some(id), Some(value)) => {
            let v = serde_json::from_str(&value).unwrap_or(serde_json::Value::String(value));
            host.set_setting(&app, &id, v.clone())?;
            if json {
                return print_json(&serde_json::json!({ "app": app, "id": id, "value": v }));
            }
            say!("{app}: {id} = {v}");
        }
        (Some(id), None) => {
            bail!("give a value for '{id}', e.g. `hangar settings {app} {id} '<json>'`")
        }
        _ => {
            let settings: serde_json::Map<_, _> = host.settings(&app)?.into_iter().collect();
            if json {
                return print_json(&settings);
            }
            for (k, v) in settings {
                say!("{k} = {v}");
            }
        }
    }
    Ok(())
}

/// Show the effective configuration.
pub fn config(dir: &Path, json: bool) -> Result<()> {
    let config = crate::load_config(dir)?;
    let value = config.to_json();
    if json {
        return print_json(&value);
    }
    say!(
        "configuration of {} (edit {}/config.json to change it):",
        dir.display(),
        dir.display()
    );
    out!("{}", serde_json::to_string_pretty(&value)?);
    Ok(())
}
