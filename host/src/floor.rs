//! The benchmarks' floor: the same component instantiated from an
//! `InstancePre` with a bare linker (WASI, the two resource types, every
//! other import a trap) and the same export called; no transaction, no
//! report. Behind the `bench` feature: it exists so benchmarks can measure
//! Hangar's dispatch against it in the same run, with today's pool
//! settings or the first host's.

use std::path::Path;

use wasmtime::component::{Linker, Resource, ResourceTable, ResourceType};
use wasmtime::{Engine, Store};
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};

use crate::bindings::v0_2::{self, wit};
use crate::bindings::{ModifierToken, WriterToken};
use crate::engine::{SlotReset, engine_config};
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
    engine: Engine,
    pre: v0_2::AppPre<Bare>,
}

fn wasm(e: wasmtime::Error) -> Error {
    Error::wasm("building the floor", e)
}

impl Floor {
    /// Load `path` with the host's own engine (same config, same cache).
    pub fn new(host: &Host, path: &Path) -> Result<Floor> {
        let package = Package::read(path)?;
        let (component, _) = host.runtime().load(&package.bytes)?;
        Floor::link(host.runtime().engine.clone(), &component)
    }

    /// Load `path` into an engine of its own whose pool resets slots with
    /// `madvise`, as the first host did (the floor's own baseline).
    pub fn with_madvise_reset(host: &Host, path: &Path) -> Result<Floor> {
        let package = Package::read(path)?;
        let config = engine_config(&host.config().instance, SlotReset::Madvise);
        let engine = Engine::new(&config).map_err(wasm)?;
        let component =
            wasmtime::component::Component::new(&engine, &package.bytes).map_err(wasm)?;
        Floor::link(engine, &component)
    }

    fn link(engine: Engine, component: &wasmtime::component::Component) -> Result<Floor> {
        let mut linker: Linker<Bare> = Linker::new(&engine);
        wasmtime_wasi::p2::add_to_linker_sync(&mut linker).map_err(wasm)?;
        linker
            .instance(v0_2::PERSISTENCE)
            .and_then(|mut i| {
                i.resource("writer", ResourceType::host::<WriterToken>(), |_, _| Ok(()))
            })
            .map_err(wasm)?;
        linker
            .instance(v0_2::MODIFY)
            .and_then(|mut i| {
                i.resource("modifier", ResourceType::host::<ModifierToken>(), |_, _| {
                    Ok(())
                })
            })
            .map_err(wasm)?;
        linker
            .define_unknown_imports_as_traps(component)
            .map_err(wasm)?;
        let pre =
            v0_2::AppPre::new(linker.instantiate_pre(component).map_err(wasm)?).map_err(wasm)?;
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
            timestamp: 0,
            thread: None,
            alias: None,
            avatar: None,
            edited_at: None,
            content: wit::Content {
                text: text.into(),
                attachments: Vec::new(),
                blocks: Vec::new(),
                custom_fields: "{}".into(),
            },
        };
        let app = self.pre.instantiate(&mut store).map_err(wasm)?;
        app.hangar_app_messages()
            .call_execute_post_message_sent(
                &mut store,
                &message,
                Resource::new_borrow(0),
                Resource::new_borrow(0),
            )
            .map_err(wasm)?
            .map_err(|e| Error::wasm("the floor call", wasmtime::Error::msg(format!("{e:?}"))))
    }
}

impl Floor {
    /// Fresh instance, then `handle-request` with borrowed writer and
    /// modifier and `body`, as an endpoint call does; the response body.
    pub fn call_endpoint(&self, path: &str, body: &[u8]) -> Result<Vec<u8>> {
        let mut store = Store::new(
            &self.engine,
            Bare {
                wasi: WasiCtx::builder().build(),
                table: ResourceTable::new(),
            },
        );
        store.set_epoch_deadline(1_000);
        let request = v0_2::ep::Request {
            method: "POST".into(),
            path: path.into(),
            query: Vec::new(),
            headers: Vec::new(),
            body: body.to_vec(),
        };
        let app = self.pre.instantiate(&mut store).map_err(wasm)?;
        let response = app
            .hangar_app_endpoints()
            .call_handle_request(
                &mut store,
                &request,
                Resource::new_borrow(0),
                Resource::new_borrow(0),
            )
            .map_err(wasm)?
            .map_err(|e| Error::wasm("the floor call", wasmtime::Error::msg(format!("{e:?}"))))?;
        Ok(response.body)
    }
}
