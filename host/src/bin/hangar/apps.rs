//! Managing installed apps: install, list, enable, disable, update,
//! uninstall, info.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};

use hangar_host::{Package, Status};

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
    say!("installed {} {} ({})", app.id, app.version, app.name);
    let perms = if app.permissions.is_empty() {
        "none".to_string()
    } else {
        app.permissions.join(", ")
    };
    say!("  permissions: {perms}");
    if !app.implied_permissions.is_empty() {
        say!(
            "  implied by its events (API 0.1 apps do not ask): {}",
            app.implied_permissions.join(", ")
        );
    }
    let events: Vec<&str> = app.events.iter().map(|e| e.name()).collect();
    if !events.is_empty() {
        say!("  events: {}", events.join(", "));
    }
    if !app.commands.is_empty() {
        say!(
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
        say!("no apps installed; `hangar install <app.wasm>` adds one");
    }
    for a in apps {
        say!(
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
    let was = status_of(&host, &app)?;
    let a = host.enable(&app)?;
    if json {
        return print_json(&a);
    }
    if was == Status::Enabled {
        say!("{} was already enabled", a.id);
    } else {
        say!("{} enabled (was {})", a.id, was.name());
    }
    Ok(())
}

fn status_of(host: &hangar_host::Host, app: &str) -> Result<Status> {
    host.list()?
        .into_iter()
        .find(|a| a.id == app)
        .map(|a| a.status)
        .ok_or_else(|| hangar_host::Error::UnknownApp(app.to_string()).into())
}

/// Disable an app.
pub fn disable(dir: &Path, app: String, json: bool) -> Result<()> {
    let (host, _) = open(dir)?;
    let was = status_of(&host, &app)?;
    let a = host.disable(&app)?;
    if json {
        return print_json(&a);
    }
    if was == Status::Disabled {
        say!("{} was already disabled", a.id);
        return Ok(());
    }
    say!(
        "{} disabled; its data is kept (`hangar enable {}` turns it back on)",
        a.id,
        a.id
    );
    Ok(())
}

/// Replace an app with a new build.
pub fn update(dir: &Path, path: PathBuf, allow_downgrade: bool, json: bool) -> Result<()> {
    let (host, _) = open(dir)?;
    let new = Package::read(&path).with_context(|| format!("reading {}", path.display()))?;
    let id = new.manifest.id.clone();
    let before = host
        .info(&id)
        .with_context(|| format!("{} is a package of app '{id}'", path.display()))?;
    if !json {
        say!(
            "updating app '{id}' ({}) from {} to {} with {}",
            before.summary.name,
            before.summary.version,
            new.manifest.version,
            path.display()
        );
    }
    let update = if allow_downgrade {
        host.update_allowing_downgrade(&path)
    } else {
        host.update(&path)
    };
    let a = update.with_context(|| format!("updating app '{id}' from {}", path.display()))?;
    if json {
        return print_json(&a);
    }
    let added = |now: &[String], was: &[String]| -> Vec<String> {
        now.iter().filter(|p| !was.contains(p)).cloned().collect()
    };
    let was_perms = [
        before.summary.permissions,
        before.summary.implied_permissions,
    ]
    .concat();
    let perms = added(
        &[a.permissions.clone(), a.implied_permissions.clone()].concat(),
        &was_perms,
    );
    if !perms.is_empty() {
        say!(
            "  new permissions (with those its events imply): {}",
            perms.join(", ")
        );
    }
    let names = |events: &[hangar_host::Event]| -> Vec<String> {
        events.iter().map(|e| e.name().to_string()).collect()
    };
    let events = added(&names(&a.events), &names(&before.summary.events));
    if !events.is_empty() {
        say!("  new events: {}", events.join(", "));
    }
    say!("updated {} to {}; data kept", a.id, a.version);
    Ok(())
}

/// Remove an app and its data.
pub fn uninstall(dir: &Path, app: String) -> Result<()> {
    let (host, _) = open(dir)?;
    host.uninstall(&app)?;
    say!("uninstalled {app}; its data and files are deleted");
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
    say!("{} {} ({})", s.id, s.version, s.name);
    if !i.manifest.description.is_empty() {
        say!("  {}", i.manifest.description);
    }
    let status = format!("{:?}", s.status).to_lowercase();
    match &s.status_reason {
        Some(r) => say!("  status: {status} ({r})"),
        None => say!("  status: {status}"),
    }
    say!("  api version: {}", i.manifest.api_version);
    say!(
        "  permissions: {}",
        if s.permissions.is_empty() {
            "none".into()
        } else {
            s.permissions.join(", ")
        }
    );
    if !s.implied_permissions.is_empty() {
        say!(
            "  implied by its events (API 0.1 apps do not ask): {}",
            s.implied_permissions.join(", ")
        );
    }
    let events: Vec<&str> = s.events.iter().map(|e| e.name()).collect();
    say!(
        "  events: {}",
        if events.is_empty() {
            "(none)".to_string()
        } else {
            events.join(", ")
        }
    );
    say!(
        "  commands: {}",
        s.commands
            .iter()
            .map(|c| format!("/{c}"))
            .collect::<Vec<_>>()
            .join(" ")
    );
    for (k, v) in &i.settings {
        say!("  setting {k} = {v}");
    }
    say!(
        "  storage: {} records, {} bytes",
        i.records,
        i.storage_bytes
    );
    if !i.manifest.processors.is_empty() {
        let j = i.jobs;
        say!(
            "  jobs: {} pending, {} dead; {} runs, lag from due to start {} ms mean, {} ms max",
            j.pending,
            j.dead,
            j.runs,
            j.mean_lag_ms,
            j.max_lag_ms
        );
    }
    if !i.manifest.endpoints.is_empty() {
        let paths: Vec<String> = i
            .manifest
            .endpoints
            .iter()
            .map(|e| e.path.clone())
            .collect();
        say!(
            "  endpoints: {} (`hangar endpoints {}`)",
            paths.join(" "),
            i.summary.id
        );
    }
    Ok(())
}

/// Show (or rotate the secret of) an app's HTTP endpoints.
pub fn endpoints(dir: &Path, app: String, rotate: bool, json: bool) -> Result<()> {
    let (host, _chat) = open(dir)?;
    let info = host.info(&app)?;
    let endpoints = &info.manifest.endpoints;
    if endpoints.is_empty() {
        anyhow::bail!("app '{app}' declares no endpoints");
    }
    let secret = if rotate {
        host.rotate_endpoint_secret(&app)?
    } else {
        host.endpoint_secret(&app)?
    };
    if json {
        let list: Vec<_> = endpoints
            .iter()
            .map(|e| {
                serde_json::json!({
                    "path": format!("/apps/{app}{}", e.path),
                    "methods": e.methods,
                    "auth": e.auth,
                    "description": e.description,
                })
            })
            .collect();
        return print_json(&serde_json::json!({"app": app, "endpoints": list, "secret": secret}));
    }
    for e in endpoints {
        let auth = match e.auth {
            hangar_host::EndpointAuth::Secret => "secret",
            hangar_host::EndpointAuth::Public => "public",
        };
        say!(
            "{} /apps/{app}{} ({auth}) {}",
            e.methods.join(","),
            e.path,
            e.description
        );
    }
    if rotate {
        say!("new secret: {secret}");
    } else {
        say!("secret: {secret}");
    }
    say!("callers send it as the X-Hangar-Secret header (or ?secret=)");
    Ok(())
}

/// List jobs, or act on one.
pub fn jobs(dir: &Path, app: Option<String>, json: bool, op: Option<crate::JobsCmd>) -> Result<()> {
    let (host, _chat) = open(dir)?;
    if let Some(op) = op {
        let (app, job, op, done) = match op {
            crate::JobsCmd::RunNow { app, job } => {
                (app, job, hangar_host::JobOp::RunNow, "due now")
            }
            crate::JobsCmd::Retry { app, job } => {
                (app, job, hangar_host::JobOp::Retry, "brought back, due now")
            }
            crate::JobsCmd::Cancel { app, job } => {
                (app, job, hangar_host::JobOp::Cancel, "cancelled")
            }
        };
        if !host.job_op(&app, &job, op)? {
            anyhow::bail!("app '{app}' has no job '{job}'; `hangar jobs {app}` lists them");
        }
        say!("job {job} of {app}: {done}");
        return Ok(());
    }
    let apps: Vec<String> = match app {
        Some(a) => vec![a],
        None => host.list()?.into_iter().map(|a| a.id).collect(),
    };
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64);
    let mut all = Vec::new();
    for app in apps {
        for job in host.jobs(&app)? {
            all.push((app.clone(), job));
        }
    }
    if json {
        let list: Vec<_> = all
            .iter()
            .map(|(app, job)| {
                let mut v = serde_json::to_value(job).unwrap_or_default();
                v["app"] = app.clone().into();
                v
            })
            .collect();
        return print_json(&list);
    }
    if all.is_empty() {
        say!("no jobs");
    }
    for (app, job) in all {
        let state = if job.dead {
            format!(
                "dead after {} attempts: {}",
                job.attempts,
                job.last_error.as_deref().unwrap_or("")
            )
        } else if let (Some(owner), Some(until)) = (&job.lease_owner, job.lease_until)
            && until > now
        {
            format!("running on {owner} (lease for {} ms more)", until - now)
        } else if job.due <= now {
            format!("due (late by {} ms)", now - job.due)
        } else {
            format!("due in {} s", (job.due - now).div_ceil(1000))
        };
        let every = job
            .every_ms
            .map(|e| format!(", every {} s", e / 1000))
            .unwrap_or_default();
        say!("{app} {} ({}{every}): {state}", job.id, job.processor);
    }
    Ok(())
}
