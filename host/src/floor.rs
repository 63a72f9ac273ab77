//! The benchmarks' floor: the same component instantiated from an
//! `InstancePre` with a bare linker (WASI, the two resource types, every
//! other import a trap) and the same export called; no store, no
//! transaction, no report. Hidden: it exists so benchmarks can measure
//! Hangar's dispatch against it in the same run.

use std::path::Path;

use wasmtime::Store;
use wasmtime::component::{Linker, Resource, ResourceTable, ResourceType};
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};

use crate::bindings::{AppPre, ModifierToken, WriterToken, wit};
use crate::error::{Error, Result};
use crate::host::Host;
use crate::package::Package;

struct Bare {
    wasi: WasiCtx,
    table: ResourceTable,
}

impl WasiView for Bare {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.wasi,
            table: &mut self.table,
        }
    }
}

/// A component ready to be called the bare way.
pub struct Floor {
    engine: wasmtime::Engine,
    pre: AppPre<Bare>,
}

impl Floor {
    /// Load `path` with the host's own engine (same config, same cache).
    pub fn new(host: &Host, path: &Path) -> Result<Floor> {
        let package = Package::read(path)?;
        let runtime = host.runtime();
        let (component, _) = runtime.load(&package.bytes)?;
        let engine = runtime.engine.clone();
        let mut linker: Linker<Bare> = Linker::new(&engine);
        let wasm = |e| Error::wasm("building the bare linker", e);
        wasmtime_wasi::p2::add_to_linker_sync(&mut linker).map_err(wasm)?;
        linker
            .instance("hangar:app/persistence@0.1.0")
            .and_then(|mut i| {
                i.resource("writer", ResourceType::host::<WriterToken>(), |_, _| Ok(()))
            })
            .map_err(wasm)?;
        linker
            .instance("hangar:app/modify@0.1.0")
            .and_then(|mut i| {
                i.resource("modifier", ResourceType::host::<ModifierToken>(), |_, _| {
                    Ok(())
                })
            })
            .map_err(wasm)?;
        linker
            .define_unknown_imports_as_traps(&component)
            .map_err(wasm)?;
        let pre = AppPre::new(linker.instantiate_pre(&component).map_err(wasm)?).map_err(wasm)?;
        Ok(Floor { engine, pre })
    }

    /// Fresh instance, then `execute-post-message-sent` with borrowed
    /// writer and modifier, as dispatch does.
    pub fn call_post(&self, text: &str) -> Result<()> {
        let mut store = Store::new(
            &self.engine,
            Bare {
                wasi: WasiCtx::builder().build(),
                table: ResourceTable::new(),
            },
        );
        store.set_epoch_deadline(1_000);
        let message = wit::Message {
            id: "m".into(),
            room: "general".into(),
            sender: "bench".into(),
            text: text.into(),
            custom_fields: "{}".into(),
            timestamp: 0,
        };
        let wasm = |e| Error::wasm("calling the floor", e);
        let app = self.pre.instantiate(&mut store).map_err(wasm)?;
        app.hangar_app_messages()
            .call_execute_post_message_sent(
                &mut store,
                &message,
                Resource::new_borrow(0),
                Resource::new_borrow(0),
            )
            .map_err(wasm)?
            .map_err(|e| Error::wasm("the floor call", e))
    }
}
