//! `hangar build`: the library's app build, with the CLI's errors.

use std::path::Path;

use anyhow::Result;
pub use hangar_host::BuiltApp as Built;

/// Build the app crate (or workspace of apps) at `dir` and validate every
/// `.wasm` it produced.
pub fn build(dir: &Path, progress: &dyn Fn(&str)) -> Result<Vec<Built>> {
    Ok(hangar_host::build_app(dir, None, progress)?)
}
