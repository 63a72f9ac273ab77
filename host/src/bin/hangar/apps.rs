//! Managing installed apps: install, list, enable, disable, update,
//! uninstall, info.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};

use crate::{open, print_json};

/// Install a package.
pub fn install(dir: &Path, path: PathBuf, json: bool) -> Result<()> {
    let (host, _) = open(dir)?;
    let app = host
        .install(&path)
        .with_context(|| format!("installing {}", path.display()))?;
    if json {
        return print_json(&app);
    }
    println!("installed {} {} ({})", app.id, app.version, app.name);
    let perms = if app.permissions.is_empty() {
        "none".to_string()
    } else {
        app.permissions.join(", ")
    };
    println!("  permissions: {perms}");
    if !app.commands.is_empty() {
        println!(
            "  commands: {}",
            app.commands
                .iter()
                .map(|c| format!("/{c}"))
                .collect::<Vec<_>>()
                .join(" ")
        );
    }
    Ok(())
}

/// List installed apps.
pub fn list(dir: &Path, json: bool) -> Result<()> {
    let (host, _) = open(dir)?;
    let apps = host.list()?;
    if json {
        return print_json(&apps);
    }
    if apps.is_empty() {
        println!("no apps installed; `hangar install <app.wasm>` adds one");
    }
    for a in apps {
        println!(
            "{:<16} {:<10} {:<15} {}",
            a.id,
            a.version,
            format!("{:?}", a.status).to_lowercase(),
            a.name
        );
    }
    Ok(())
}

/// Enable an app.
pub fn enable(dir: &Path, app: String, json: bool) -> Result<()> {
    let (host, _) = open(dir)?;
    let a = host.enable(&app)?;
    if json {
        return print_json(&a);
    }
    println!("{} enabled", a.id);
    Ok(())
}

/// Disable an app.
pub fn disable(dir: &Path, app: String, json: bool) -> Result<()> {
    let (host, _) = open(dir)?;
    let a = host.disable(&app)?;
    if json {
        return print_json(&a);
    }
    println!(
        "{} disabled; its data is kept (`hangar enable {}` turns it back on)",
        a.id, a.id
    );
    Ok(())
}

/// Replace an app with a new build.
pub fn update(dir: &Path, path: PathBuf, json: bool) -> Result<()> {
    let (host, _) = open(dir)?;
    let a = host
        .update(&path)
        .with_context(|| format!("updating from {}", path.display()))?;
    if json {
        return print_json(&a);
    }
    println!("updated {} to {}; data kept", a.id, a.version);
    Ok(())
}

/// Remove an app and its data.
pub fn uninstall(dir: &Path, app: String) -> Result<()> {
    let (host, _) = open(dir)?;
    host.uninstall(&app)?;
    println!("uninstalled {app}; its data and files are deleted");
    Ok(())
}

/// Show everything about an app.
pub fn info(dir: &Path, app: String, json: bool) -> Result<()> {
    let (host, _) = open(dir)?;
    let i = host.info(&app)?;
    if json {
        return print_json(&i);
    }
    let s = &i.summary;
    println!("{} {} ({})", s.id, s.version, s.name);
    if !i.manifest.description.is_empty() {
        println!("  {}", i.manifest.description);
    }
    let status = format!("{:?}", s.status).to_lowercase();
    match &s.status_reason {
        Some(r) => println!("  status: {status} ({r})"),
        None => println!("  status: {status}"),
    }
    println!("  api version: {}", i.manifest.api_version);
    println!(
        "  permissions: {}",
        if s.permissions.is_empty() {
            "none".into()
        } else {
            s.permissions.join(", ")
        }
    );
    println!(
        "  events: {}",
        s.events
            .iter()
            .map(|e| format!("{e:?}"))
            .collect::<Vec<_>>()
            .join(", ")
    );
    println!(
        "  commands: {}",
        s.commands
            .iter()
            .map(|c| format!("/{c}"))
            .collect::<Vec<_>>()
            .join(" ")
    );
    for (k, v) in &i.settings {
        println!("  setting {k} = {v}");
    }
    println!(
        "  storage: {} records, {} bytes",
        i.records, i.storage_bytes
    );
    Ok(())
}
