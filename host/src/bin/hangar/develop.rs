//! For app developers: build an app crate to a validated package.

use std::path::PathBuf;

use anyhow::Result;

use crate::print_json;

/// Build an app crate and validate the result.
pub fn build(path: PathBuf, json: bool) -> Result<()> {
    let built = crate::build::build(&path, &|msg| eprintln!("{}", crate::printable(msg)))?;
    if json {
        let out: Vec<_> = built
            .iter()
            .map(|b| serde_json::json!({"app": b.package.manifest.id, "path": b.path, "size": b.size}))
            .collect();
        return print_json(&out);
    }
    for b in built {
        say!(
            "{} {} -> {} ({} KB)",
            b.package.manifest.id,
            b.package.manifest.version,
            b.path.display(),
            b.size / 1024
        );
    }
    Ok(())
}
