//! The loader: one `.wasm` file is one app. Checks that the bytes are a
//! component and extracts the manifest from its `hangar:manifest` custom
//! section (the SDK puts it in the app's core module, so nested modules are
//! searched too).

use std::path::Path;

use wasmparser::{Encoding, Parser, Payload};

use std::collections::BTreeSet;

use serde::Deserialize;

use crate::error::{Error, Result};
use crate::exports::Export;
use crate::manifest::{EXPORTS_SECTION, Event, MANIFEST_SECTION, Manifest};

/// Largest package accepted.
pub const MAX_PACKAGE_BYTES: u64 = 64 << 20;

/// Largest manifest (and SDK section) accepted: the registry keeps it and
/// every host process loads it.
pub const MAX_MANIFEST_BYTES: usize = 64 << 10;

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
        if meta.is_dir() {
            return Err(invalid(
                "is a directory; build an app crate with `hangar build <dir>` and install the .wasm it prints".into(),
            ));
        }
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
        if bytes.len() >= 4 && &bytes[..4] != b"\0asm" {
            let start: String = String::from_utf8_lossy(&bytes[..bytes.len().min(8)])
                .chars()
                .map(|c| if c.is_control() { '.' } else { c })
                .collect();
            return Err(invalid(format!(
                "not a valid WebAssembly file (it starts with {start:?}, not the wasm magic); build an app with `hangar build`"
            )));
        }
        let mut manifests = Vec::new();
        let mut exports = Vec::new();
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
                Payload::CustomSection(section) if section.name() == EXPORTS_SECTION => {
                    exports.push(section.data().to_vec());
                }
                _ => {}
            }
        }
        if first {
            return Err(invalid("the file is empty".into()));
        }
        if manifests.iter().any(|m| m.len() > MAX_MANIFEST_BYTES)
            || exports.iter().any(|e| e.len() > MAX_MANIFEST_BYTES)
        {
            return Err(invalid(format!(
                "a '{MANIFEST_SECTION}' or '{EXPORTS_SECTION}' section is over {MAX_MANIFEST_BYTES} bytes"
            )));
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
        let manifest = match exports.as_slice() {
            // Built before the SDK recorded its handlers: the manifest says all.
            [] => Manifest::parse(json)?,
            [declared] => resolve(json, declared)?,
            _ => {
                return Err(invalid(format!(
                    "more than one '{EXPORTS_SECTION}' section"
                )));
            }
        };
        Ok(Package { manifest, bytes })
    }
}

/// What the SDK records in the `hangar:exports` section.
#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct Declared {
    api_version: String,
    handlers: Vec<String>,
}

/// The manifest completed from what the SDK recorded: the API version and
/// the events of the handlers the app implements. A manifest that still
/// states either must agree.
fn resolve(manifest_json: &[u8], declared: &[u8]) -> Result<Manifest> {
    let bad = |field: &str, why: String| Error::InvalidManifest(format!("{field}: {why}"));
    let declared: Declared = serde_json::from_slice(declared).map_err(|e| {
        bad(
            EXPORTS_SECTION,
            format!("{e}; rebuild the app with `hangar build`"),
        )
    })?;
    let handlers = declared
        .handlers
        .iter()
        .map(|h| {
            Export::parse(h).ok_or_else(|| {
                bad(
                    EXPORTS_SECTION,
                    format!("the app implements '{h}', which this host does not know; it needs a newer host"),
                )
            })
        })
        .collect::<Result<Vec<Export>>>()?;
    let mut manifest: Manifest = serde_json::from_slice(manifest_json)
        .map_err(|e| Error::InvalidManifest(format!("{e}")))?;
    let stated: serde_json::Value = serde_json::from_slice(manifest_json)
        .map_err(|e| Error::InvalidManifest(format!("{e}")))?;
    if stated.get("api-version").is_some() && manifest.api_version != declared.api_version {
        return Err(bad(
            "api-version",
            format!(
                "the manifest says '{}' but the app was built against hangar:app API {}; remove api-version from hangar.json (the SDK writes it)",
                manifest.api_version, declared.api_version
            ),
        ));
    }
    manifest.api_version = declared.api_version;
    let derived: BTreeSet<Event> = handlers.iter().filter_map(|h| h.event()).collect();
    if stated.get("events").is_some() {
        agree(&manifest.events.iter().copied().collect(), &derived)?;
    }
    manifest.events = derived.into_iter().collect();
    check_handlers(&manifest, &handlers)?;
    manifest.validate()?;
    Ok(manifest)
}

/// The manifest's events must be exactly those of the implemented handlers.
fn agree(stated: &BTreeSet<Event>, derived: &BTreeSet<Event>) -> Result<()> {
    if stated == derived {
        return Ok(());
    }
    let names = |set: Vec<&Event>| {
        let list: Vec<&str> = set.into_iter().map(|e| e.name()).collect();
        if list.is_empty() {
            "none".into()
        } else {
            list.join(", ")
        }
    };
    Err(Error::InvalidManifest(format!(
        "events: the manifest lists events that differ from the handlers the app implements (implemented but not listed: {}; listed but not implemented: {}); remove \"events\" from hangar.json, the SDK declares them",
        names(derived.difference(stated).collect()),
        names(stated.difference(derived).collect()),
    )))
}

/// Handlers the host would never call, or commands nothing would run.
fn check_handlers(manifest: &Manifest, handlers: &[Export]) -> Result<()> {
    let has = |e: Export| handlers.contains(&e);
    let bad = |field: &str, why: &str| Err(Error::InvalidManifest(format!("{field}: {why}")));
    if has(Export::ExecuteCommand) && manifest.commands.is_empty() {
        return bad(
            "commands",
            "the app implements Commands::execute but declares no commands, so it would never run; add {\"command\": \"...\"} to \"commands\"",
        );
    }
    if !has(Export::ExecuteCommand) && !manifest.commands.is_empty() {
        return bad(
            "commands",
            "the manifest declares commands but the app does not implement Commands::execute; implement it in its #[hangar_sdk::handlers] impl",
        );
    }
    if has(Export::PreviewCommand) && manifest.commands.is_empty() {
        return bad(
            "commands",
            "the app implements Commands::preview but declares no commands",
        );
    }
    if has(Export::CheckPreMessageSentPrevent) && !has(Export::PreMessageSentPrevent) {
        return bad(
            "events",
            "the app implements check_pre_message_sent_prevent without pre_message_sent_prevent, so the check would never run; implement both",
        );
    }
    let pairs = [
        (
            Export::CheckPostMessageSent,
            has(Export::PostMessageSent),
            "check_post_message_sent without post_message_sent",
        ),
        (
            Export::CheckPreEvent,
            Export::ALL
                .iter()
                .any(|e| matches!(e, Export::PreEvent(_)) && has(*e)),
            "Events::check_pre without any prevent_* method",
        ),
        (
            Export::CheckPostEvent,
            Export::ALL
                .iter()
                .any(|e| matches!(e, Export::PostEvent(_)) && has(*e)),
            "Events::check_post without any post method",
        ),
        (
            Export::ExecutePreviewItem,
            has(Export::PreviewCommand),
            "Commands::preview_item without Commands::preview, which offers the items",
        ),
    ];
    if let Some((_, _, what)) = pairs.iter().find(|(e, with, _)| has(*e) && !with) {
        return Err(Error::InvalidManifest(format!(
            "events: the app implements {what}, so it would never run; implement both"
        )));
    }
    if has(Export::ActionButton) == manifest.action_buttons.is_empty() {
        return bad(
            "action-buttons",
            if manifest.action_buttons.is_empty() {
                "the app implements Interactions::action_button but declares no action-buttons, so it would never run; add {\"id\", \"label\", \"context\"} to \"action-buttons\""
            } else {
                "the manifest declares action-buttons but the app does not implement Interactions::action_button; implement it in its #[hangar_sdk::handlers] impl"
            },
        );
    }
    if has(Export::RunJob) == manifest.processors.is_empty() {
        return bad(
            "processors",
            if manifest.processors.is_empty() {
                "the app implements Jobs::run but declares no processors, so it would never run; add {\"id\": \"...\"} to \"processors\""
            } else {
                "the manifest declares processors but the app does not implement Jobs::run; implement it in its #[hangar_sdk::handlers] impl"
            },
        );
    }
    if has(Export::HandleRequest) == manifest.endpoints.is_empty() {
        return bad(
            "endpoints",
            if manifest.endpoints.is_empty() {
                "the app implements Endpoints::handle but declares no endpoints, so it would never run; add {\"path\": \"/...\"} to \"endpoints\""
            } else {
                "the manifest declares endpoints but the app does not implement Endpoints::handle; implement it in its #[hangar_sdk::handlers] impl"
            },
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const MANIFEST: &str = r#"{"id": "a", "name": "A", "version": "1.0.0", "permissions": ["slashcommand"], "commands": [{"command": "a"}]}"#;

    fn declared(handlers: &[&str]) -> Vec<u8> {
        serde_json::json!({"api-version": "0.1.0", "handlers": handlers})
            .to_string()
            .into_bytes()
    }

    fn with(manifest: &str, handlers: &[&str]) -> Result<Manifest> {
        resolve(manifest.as_bytes(), &declared(handlers))
    }

    #[test]
    fn version_and_events_come_from_the_section() {
        let m = with(
            MANIFEST,
            &["execute-command", "preview-command", "on-install"],
        )
        .unwrap();
        assert_eq!(m.api_version, "0.1.0");
        assert_eq!(m.events, vec![Event::Lifecycle, Event::CommandPreview]);
    }

    #[test]
    fn a_manifest_may_repeat_them_only_if_they_agree() {
        let agreeing = MANIFEST.replace(
            r#""version": "1.0.0","#,
            r#""version": "1.0.0", "api-version": "0.1.0", "events": ["command-preview"],"#,
        );
        assert!(with(&agreeing, &["execute-command", "preview-command"]).is_ok());
        let err = with(&agreeing, &["execute-command"])
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("listed but not implemented: command-preview"),
            "{err}"
        );
        let other_api = agreeing.replace(r#""api-version": "0.1.0""#, r#""api-version": "0.1.1""#);
        let err = with(&other_api, &["execute-command", "preview-command"])
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("api-version") && err.contains("0.1.1"),
            "{err}"
        );
    }

    #[test]
    fn handlers_that_would_never_run_are_refused() {
        let no_commands = r#"{"id": "a", "name": "A", "version": "1.0.0"}"#;
        for (manifest, handlers, says) in [
            (
                no_commands,
                &["execute-command"][..],
                "declares no commands",
            ),
            (MANIFEST, &[][..], "does not implement Commands::execute"),
            (
                no_commands,
                &["check-pre-message-sent-prevent"][..],
                "without pre_message_sent_prevent",
            ),
            (no_commands, &["on-teleport"][..], "on-teleport"),
        ] {
            let err = with(manifest, handlers).unwrap_err().to_string();
            assert!(err.contains(says), "{handlers:?}: {err}");
        }
    }

    #[test]
    fn a_package_without_the_section_needs_its_api_version() {
        let err = Manifest::parse(br#"{"id": "a", "name": "A", "version": "1.0.0"}"#)
            .unwrap_err()
            .to_string();
        assert!(err.contains("api-version: missing"), "{err}");
    }
}
