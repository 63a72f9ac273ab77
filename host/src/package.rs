//! The loader: one `.wasm` file is one app. Checks that the bytes are a
//! component and extracts the manifest from its `hangar:manifest` custom
//! section (the SDK puts it in the app's core module, so nested modules are
//! searched too).

use std::path::Path;

use wasmparser::{Encoding, Parser, Payload};

use crate::error::{Error, Result};
use crate::manifest::{MANIFEST_SECTION, Manifest};

/// Largest package accepted.
pub const MAX_PACKAGE_BYTES: u64 = 64 << 20;

/// A package read from disk and checked, not yet compiled.
#[derive(Debug, Clone)]
pub struct Package {
    /// The validated manifest.
    pub manifest: Manifest,
    /// The component's bytes.
    pub bytes: Vec<u8>,
}

impl Package {
    /// Read and check the package at `path`.
    pub fn read(path: &Path) -> Result<Package> {
        let invalid = |reason: String| Error::InvalidPackage {
            path: path.to_path_buf(),
            reason,
        };
        let meta = std::fs::metadata(path)
            .map_err(|e| Error::io(format!("reading {}", path.display()), e))?;
        if !meta.is_file() {
            return Err(invalid("not a file".into()));
        }
        if meta.len() > MAX_PACKAGE_BYTES {
            return Err(invalid(format!(
                "{} bytes is over the package limit of {MAX_PACKAGE_BYTES} bytes",
                meta.len()
            )));
        }
        let bytes =
            std::fs::read(path).map_err(|e| Error::io(format!("reading {}", path.display()), e))?;
        Package::from_bytes(bytes).map_err(|e| match e {
            Error::InvalidManifest(m) => invalid(format!("invalid manifest: {m}")),
            Error::InvalidPackage { reason, .. } => invalid(reason),
            other => other,
        })
    }

    /// Check `bytes` as a package.
    pub fn from_bytes(bytes: Vec<u8>) -> Result<Package> {
        let invalid = |reason: String| Error::InvalidPackage {
            path: "<bytes>".into(),
            reason,
        };
        let mut manifests = Vec::new();
        let mut first = true;
        for payload in Parser::new(0).parse_all(&bytes) {
            let payload = payload.map_err(|e| {
                invalid(format!(
                    "not a valid WebAssembly file ({e}); build it with `hangar build`"
                ))
            })?;
            match payload {
                Payload::Version { encoding, .. } if first => {
                    first = false;
                    if encoding != Encoding::Component {
                        return Err(invalid(
                            "this is a core wasm module, not a component; build the app for the wasm32-wasip2 target (`hangar build`)".into(),
                        ));
                    }
                }
                Payload::CustomSection(section) if section.name() == MANIFEST_SECTION => {
                    manifests.push(section.data().to_vec());
                }
                _ => {}
            }
        }
        if first {
            return Err(invalid("the file is empty".into()));
        }
        let json = match manifests.as_slice() {
            [one] => one,
            [] => {
                return Err(invalid(format!(
                    "no '{MANIFEST_SECTION}' section: is this a Hangar app? Apps register with `hangar_sdk::export_app!`"
                )));
            }
            _ => {
                return Err(invalid(format!(
                    "more than one '{MANIFEST_SECTION}' section"
                )));
            }
        };
        let manifest = Manifest::parse(json)?;
        Ok(Package { manifest, bytes })
    }
}
