//! The lifecycle manager: install, update, uninstall, enable, disable and
//! settings, each calling the app's hook and committing to the registry
//! only when the hook agrees. Files written before a commit are held by a
//! [`Staged`] guard that removes them if the change does not commit.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use sha2::{Digest, Sha256};

use crate::apps::{Apps, LoadedApp};
use crate::call::{CallEngine, CallOutcome};
use crate::engine::{PendingCache, hex};
use crate::error::{Error, Result};
use crate::exports::{
    Export, OnDisable, OnEnable, OnInstall, OnUninstall, OnUpdate, PreSettingUpdate, SettingUpdated,
};
use crate::journal::Journal;
use crate::manifest::{Manifest, compare_versions};
use crate::package::Package;
use crate::registry::{Registry, Status};
use crate::report::{AppReport, AppSummary, Outcome};
use crate::storage::Store;

/// Paths written for a change that has not committed: removed on drop
/// unless [`Staged::keep`] was called.
struct Staged {
    paths: Vec<PathBuf>,
}

impl Staged {
    fn new() -> Self {
        Staged { paths: Vec::new() }
    }

    fn hold(&mut self, path: PathBuf) -> &Path {
        self.paths.push(path);
        self.paths.last().expect("just pushed")
    }

    /// The change committed: the files are the app's now.
    fn keep(mut self) {
        self.paths.clear();
    }
}

impl Drop for Staged {
    fn drop(&mut self) {
        for path in self.paths.drain(..) {
            let _ = if path.is_dir() {
                std::fs::remove_dir_all(&path)
            } else {
                std::fs::remove_file(&path)
            };
        }
    }
}

/// Runs the transitions of installed apps.
pub(crate) struct Lifecycle {
    pub(crate) apps: Arc<Apps>,
    pub(crate) calls: Arc<CallEngine>,
    pub(crate) registry: Arc<Registry>,
    pub(crate) journal: Arc<Journal>,
}

/// A failed hook refuses the transition.
fn check_ok<T>(app: &str, out: CallOutcome<T>) -> Result<()> {
    check_report(app, out.report)
}

fn check_report(app: &str, report: AppReport) -> Result<()> {
    if report.outcome == Outcome::Error {
        return Err(Error::App {
            app: app.to_string(),
            handler: report.handler,
            message: report.error.unwrap_or_default(),
        });
    }
    Ok(())
}

impl Lifecycle {
    /// A command belongs to one app for good: refuse one that another
    /// installed app (whatever its status) already declares. Checked
    /// before the hooks run, and again inside the registry's transaction.
    fn check_commands(&self, manifest: &Manifest) -> Result<()> {
        let others: Vec<Manifest> = self
            .registry
            .apps()?
            .into_iter()
            .map(|a| a.manifest)
            .collect();
        crate::registry::check_commands(&others, manifest)
    }

    fn summary(&self, id: &str) -> Result<AppSummary> {
        Ok(AppSummary::from(&self.registry.app(id)?))
    }

    /// Compile and link a package against `store`, then run `hook` on it:
    /// the steps install and update share before they commit.
    fn stage(
        &self,
        manifest: &Manifest,
        bytes: &[u8],
        status: Status,
        sha256: &str,
        store: Arc<dyn Store>,
        hook: impl FnOnce(&LoadedApp) -> Result<()>,
    ) -> Result<Option<PendingCache>> {
        let (app, fresh) =
            self.apps
                .prepare(manifest.clone(), bytes, status, sha256.to_string(), store)?;
        hook(&app)?;
        Ok(fresh)
    }

    /// Install a package: validate, compile, run its install hook, enable
    /// it. On any failure nothing is installed and nothing is left on disk.
    pub(crate) fn install(&self, package: Package) -> Result<AppSummary> {
        let Package { manifest, bytes } = package;
        let id = manifest.id.clone();
        if self.registry.app(&id).is_ok() {
            return Err(Error::AlreadyInstalled(id));
        }
        self.check_commands(&manifest)?;
        let sha256 = hex(&Sha256::digest(&bytes));
        let dir = self.apps.app_dir(&id);
        // Staged in a private directory; it becomes the app's only on commit.
        let staging = self.apps.apps_dir().join(format!(
            ".staging-{id}-{}-{}",
            &crate::storage::new_record_id()[12..20],
            std::process::id()
        ));
        let _ = std::fs::remove_dir_all(&staging);
        let mut staged = Staged::new();
        let staging = staged.hold(staging).to_path_buf();
        std::fs::create_dir_all(&staging)
            .map_err(|e| Error::io(format!("creating {}", staging.display()), e))?;
        std::fs::write(staging.join(format!("{sha256}.wasm")), &bytes)
            .map_err(|e| Error::io(format!("writing {}", staging.display()), e))?;
        // The install hook writes into the staged store.
        let store = self
            .apps
            .backend()
            .open_staged(&id, &staging)
            .map_err(|e| Error::InvalidInput(format!("creating the store of app '{id}': {e}")))?;
        let installed = self
            .stage(&manifest, &bytes, Status::Enabled, &sha256, store, |app| {
                if !app.handles(Export::OnInstall) {
                    return Ok(());
                }
                check_ok(&id, self.calls.handler(app, &OnInstall))
            })
            .and_then(|fresh| {
                self.registry.insert(
                    &manifest,
                    &sha256,
                    &bytes,
                    Status::Enabled,
                    &staging,
                    || {
                        if dir.exists() {
                            std::fs::remove_dir_all(&dir)
                                .map_err(|e| Error::io(format!("clearing {}", dir.display()), e))?;
                        }
                        std::fs::rename(&staging, &dir).map_err(|e| {
                            Error::io(format!("moving the app into {}", dir.display()), e)
                        })
                    },
                )?;
                Ok(fresh)
            });
        let fresh = match installed {
            Ok(fresh) => fresh,
            Err(e) => {
                // What the install hook wrote, where it is not in `staging`.
                self.apps.backend().discard_staged(&id, &staging);
                return Err(e);
            }
        };
        staged.keep();
        // Cache the compiled component only once the app is installed.
        if let Some(fresh) = fresh {
            fresh.store();
        }
        self.journal.host(
            &id,
            "info",
            format!("installed version {}", manifest.version),
        );
        self.apps.reload()?;
        self.summary(&id)
    }

    /// Enable an app. Its read-only enable hook may refuse, with a reason:
    /// the app then stays disabled and its status says why.
    pub(crate) fn enable(&self, id: &str) -> Result<AppSummary> {
        let app = self.apps.app(id)?;
        if app.handles(Export::OnEnable) {
            let out = self.calls.read_only(&app, &OnEnable);
            if let Some(reason) = out.report.error {
                let why = format!("refused to enable: {reason}");
                self.registry.set_status(id, Status::Disabled, Some(&why))?;
                return Err(Error::App {
                    app: id.to_string(),
                    handler: Export::OnEnable.name().into(),
                    message: format!("{reason}; the app stays disabled"),
                });
            }
        }
        self.registry.set_status(id, Status::Enabled, None)?;
        self.journal.host(id, "info", "enabled".to_string());
        self.apps.reload()?;
        self.summary(id)
    }

    /// Disable an app: it receives no events; its data is kept.
    pub(crate) fn disable(&self, id: &str) -> Result<AppSummary> {
        let app = self.apps.app(id)?;
        self.registry
            .set_status(id, Status::Disabled, Some("disabled by the operator"))?;
        if app.handles(Export::OnDisable) {
            // The app is told; it cannot keep itself enabled.
            self.calls.read_only(&app, &OnDisable);
        }
        self.journal
            .host(id, "info", "disabled by the operator".to_string());
        self.apps.reload()?;
        self.summary(id)
    }

    /// Replace an installed app with a new version of the same id; its
    /// data and status are kept, and its update hook (with the writer) is
    /// told the previous version. On failure the old version stays.
    pub(crate) fn update(&self, package: Package, allow_downgrade: bool) -> Result<AppSummary> {
        let Package { manifest, bytes } = package;
        let id = manifest.id.clone();
        let old = self.apps.app(&id).map_err(|e| match self.registry.app(&id) {
            Ok(entry) if entry.status == Status::Invalid => Error::InvalidInput(format!(
                "app '{id}' is invalid (its package no longer loads); `hangar uninstall {id}`, then install the new package"
            )),
            _ => e,
        })?;
        let (from, to) = (&old.manifest.version, &manifest.version);
        if !allow_downgrade && compare_versions(to, from).is_lt() {
            return Err(Error::InvalidInput(format!(
                "app '{id}' is at version {from} and this package is {to}, older: refusing a downgrade (`hangar update --allow-downgrade` if you mean it)"
            )));
        }
        self.check_commands(&manifest)?;
        let sha256 = hex(&Sha256::digest(&bytes));
        let dir = self.apps.app_dir(&id);
        let target = self.apps.package_path(&id, &sha256);
        // The new package waits under a temporary name (which the sweep of
        // other processes leaves alone while we live) and takes its real
        // name inside the registry transaction.
        let mut staged = Staged::new();
        let tmp = staged
            .hold(dir.join(format!(".{sha256}.wasm.tmp{}", std::process::id())))
            .to_path_buf();
        std::fs::write(&tmp, &bytes)
            .map_err(|e| Error::io(format!("writing {}", tmp.display()), e))?;
        let previous = old.manifest.version.clone();
        let fresh = self.stage(
            &manifest,
            &bytes,
            old.status,
            &sha256,
            old.store.clone(),
            |app| {
                if !app.handles(Export::OnUpdate) {
                    return Ok(());
                }
                check_ok(&id, self.calls.handler(app, &OnUpdate(&previous)))
            },
        )?;
        self.registry.replace(&manifest, &sha256, &bytes, || {
            std::fs::rename(&tmp, &target)
                .map_err(|e| Error::io(format!("moving the package to {}", target.display()), e))
        })?;
        staged.keep();
        if let Some(fresh) = fresh {
            fresh.store();
        }
        // The old package file is no longer referenced.
        let _ = self.registry.sweep(self.apps.apps_dir());
        self.journal.host(
            &id,
            "info",
            format!("updated from {previous} to {}", manifest.version),
        );
        self.apps.reload()?;
        self.summary(&id)
    }

    /// Uninstall an app: its uninstall hook runs (with the writer), then
    /// its entry, settings, logs, package and store are deleted.
    pub(crate) fn uninstall(&self, id: &str) -> Result<()> {
        match self.apps.app(id) {
            Ok(app) if app.handles(Export::OnUninstall) => {
                // A failing hook does not keep an app the operator removes.
                self.calls.handler(&app, &OnUninstall);
            }
            Ok(_) => {}
            // An invalid app (its package no longer loads) has no hook to
            // run, but the operator must still be able to remove it.
            Err(Error::UnknownApp(_)) => {
                self.registry.app(id)?;
            }
            Err(e) => return Err(e),
        }
        // The journal may still hold lines about the app: write them first,
        // so the removal below deletes them too.
        self.journal.flush();
        let views = self.registry.open_views_of(id).unwrap_or_default();
        // Commit the removal first, then delete the files under the
        // registry lock: a crash in between leaves only files no entry
        // points at, which the next sweep removes.
        self.registry.remove(id, || Ok(()))?;
        // Its views leave the chat with it.
        for (view, user) in views {
            let _ = self
                .calls
                .bridge
                .deliver(&crate::bridge::Effect::CloseView {
                    app: id.to_string(),
                    user,
                    id: view,
                });
        }
        self.apps.reload()?;
        self.apps.forget(id);
        self.registry.sweep(self.apps.apps_dir())?;
        Ok(())
    }

    /// Change a setting: checked against its declared type, offered to the
    /// app's read-only validation hook (which may refuse it: the value is
    /// then unchanged), stored, and passed to the app's updated hook.
    pub(crate) fn set_setting(
        &self,
        app_id: &str,
        id: &str,
        value: serde_json::Value,
    ) -> Result<()> {
        let app = self.apps.app(app_id)?;
        let spec = app.manifest.setting(id).ok_or_else(|| {
            let known: Vec<&str> = app
                .manifest
                .settings
                .iter()
                .map(|s| s.id.as_str())
                .collect();
            Error::InvalidInput(format!(
                "app '{app_id}' has no setting '{id}'; its settings are {known:?}"
            ))
        })?;
        spec.check(&value)?;
        let old = app
            .settings
            .get(id)
            .cloned()
            .unwrap_or(spec.default.clone());
        let new_text = value.to_string();
        if app.handles(Export::OnPreSettingUpdate) {
            let old_text = old.to_string();
            let out = self
                .calls
                .read_only(&app, &PreSettingUpdate(id, &old_text, &new_text));
            check_ok(app_id, out)?;
        }
        let stored = self.registry.settings(app_id)?;
        let previous = stored.into_iter().find(|(k, _)| k == id).map(|(_, v)| v);
        self.registry.set_setting(app_id, id, &value)?;
        self.apps.reload()?;
        let app = self.apps.app(app_id)?;
        if !app.handles(Export::OnSettingUpdated) {
            return Ok(());
        }
        let out = self.calls.handler(&app, &SettingUpdated(id, &new_text));
        if let Err(Error::App {
            app,
            handler,
            message,
        }) = check_ok(app_id, out)
        {
            // The change and its hook are one unit: put the value back.
            match previous {
                Some(v) => self.registry.set_setting(app_id, id, &v)?,
                None => self.registry.clear_setting(app_id, id)?,
            }
            self.apps.reload()?;
            return Err(Error::App {
                app,
                handler,
                message: format!("{message}; the setting keeps its previous value {old}"),
            });
        }
        Ok(())
    }
}
