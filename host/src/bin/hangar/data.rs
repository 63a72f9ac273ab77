//! An app's records and logs.

use std::path::Path;

use anyhow::Result;

use crate::{open, print_json};

/// Dump an app's records.
pub fn data(dir: &Path, app: String, json: bool) -> Result<()> {
    let (host, _) = open(dir)?;
    let records = host.records(&app)?;
    if json {
        let out: Vec<serde_json::Value> = records
            .iter()
            .map(|r| {
                serde_json::json!({
                    "id": r.id,
                    "associations": r.associations,
                    "data": serde_json::from_str::<serde_json::Value>(&r.data).unwrap_or(serde_json::Value::Null),
                })
            })
            .collect();
        return print_json(&out);
    }
    if records.is_empty() {
        say!("app {app} has no records");
    }
    for r in records {
        let assoc: Vec<String> = r
            .associations
            .iter()
            .map(|a| format!("{}:{}", a.model.as_str(), a.id))
            .collect();
        say!("{}  [{}]  {}", r.id, assoc.join(", "), r.data);
    }
    Ok(())
}

/// Show (or follow) an app's logs.
pub fn logs(dir: &Path, app: String, lines: usize, follow: bool, json: bool) -> Result<()> {
    let (host, _) = open(dir)?;
    let mut last = 0;
    let mut batch = host.logs(&app, lines)?;
    loop {
        for l in &batch {
            last = l.seq;
            if json {
                say!("{}", serde_json::to_string(l)?);
            } else {
                say!("{} {:<5} {:<4} {}", l.time, l.level, l.source, l.message);
            }
        }
        if !follow {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(250));
        batch = host.logs_after(&app, last, 1000)?;
    }
    Ok(())
}
