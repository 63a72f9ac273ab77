//! `hangar migrate`: move a data dir's SQLite state into PostgreSQL.

use std::path::Path;

use anyhow::{Context, Result};

use crate::print_json;

/// Copy `dir`'s registry and app stores into the database `to`; progress
/// on stderr, the report on stdout.
pub fn run(dir: &Path, to: &str, json: bool) -> Result<()> {
    let report = hangar_host::migrate_to_postgres(dir, to, &mut |line| eprintln!("{line}"))
        .with_context(|| format!("migrating {} to PostgreSQL", dir.display()))?;
    if json {
        return print_json(&report);
    }
    let copied = report
        .apps
        .iter()
        .filter(|a| a.status == hangar_host::MigrateStatus::Copied)
        .count();
    say!(
        "{copied} of {} apps copied ({} already there); start hosts with --store (or \"store\" in config.json) to use it",
        report.apps.len(),
        report.apps.len() - copied
    );
    Ok(())
}
