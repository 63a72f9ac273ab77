//! The one shared wasmtime engine: configuration (pooling allocator, epoch
//! interruption), the epoch ticker thread, and the compile cache of
//! serialized components keyed by the component's hash and the engine's
//! configuration.

use std::hash::{Hash, Hasher};
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::Duration;

use sha2::{Digest, Sha256};
use wasmtime::component::{Component, Linker};
use wasmtime::{Config, Engine, InstanceAllocationStrategy, PoolingAllocationConfig};

use crate::error::{Error, Result};
use crate::sandbox::CallState;

/// How often the epoch advances; deadlines are counted in these ticks.
pub(crate) const EPOCH_TICK: Duration = Duration::from_millis(5);

/// Per-instance resource caps.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct InstanceLimits {
    /// Largest linear memory of one instance, in bytes.
    pub max_memory_bytes: usize,
    /// Most table elements.
    pub max_table_elements: usize,
    /// Largest wasm stack, in bytes (deep recursion traps past it).
    pub max_wasm_stack: usize,
    /// Most instances alive at once across the host (pool size).
    pub max_concurrent_instances: u32,
}

impl Default for InstanceLimits {
    fn default() -> Self {
        InstanceLimits {
            max_memory_bytes: 64 << 20,
            max_table_elements: 20_000,
            max_wasm_stack: 512 << 10,
            max_concurrent_instances: 256,
        }
    }
}

/// The engine plus what keeps it ticking, and the linker every app
/// component is linked with.
pub(crate) struct Runtime {
    pub(crate) engine: Engine,
    pub(crate) linker: Linker<CallState>,
    cache_dir: PathBuf,
    config_key: String,
    stop: Arc<AtomicBool>,
    ticker: Option<JoinHandle<()>>,
}

/// How a pool slot is reset to its pristine image when an instance ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum SlotReset {
    /// Copy back only the pages the instance dirtied (found with the
    /// `PAGEMAP_SCAN` ioctl, Linux 6.7+) and keep them resident, so the
    /// next instance takes no page faults; `madvise` where the kernel has
    /// no `PAGEMAP_SCAN`.
    KeepResident,
    /// `madvise(MADV_DONTNEED)` every slot on drop (the first host's
    /// setting; kept for the benchmarks' side-by-side floor).
    #[cfg(feature = "bench")]
    Madvise,
}

/// The engine configuration: pooling allocator, epochs, no async.
pub(crate) fn engine_config(limits: &InstanceLimits, reset: SlotReset) -> Config {
    let mut pool = PoolingAllocationConfig::new();
    // A Rust wasip2 component holds several core modules, memories and
    // tables (the app plus the WASI adapter).
    pool.total_component_instances(limits.max_concurrent_instances)
        .total_core_instances(limits.max_concurrent_instances * 8)
        .total_memories(limits.max_concurrent_instances * 2)
        .total_tables(limits.max_concurrent_instances * 4)
        .total_stacks(limits.max_concurrent_instances)
        .max_core_instances_per_component(16)
        .max_memories_per_component(4)
        .max_tables_per_component(8)
        .max_memory_size(limits.max_memory_bytes)
        .max_component_instance_size(1 << 20)
        .max_core_instance_size(1 << 20);
    if reset == SlotReset::KeepResident {
        if PoolingAllocationConfig::is_pagemap_scan_available() {
            // Semantics unchanged: every dirty page is restored from the
            // image, the rest zeroed, tables memset. Up to 1 MiB of dirty
            // pages stay resident per slot; past that, madvise.
            pool.pagemap_scan(wasmtime::Enabled::Yes)
                .linear_memory_keep_resident(1 << 20)
                .table_keep_resident(64 << 10);
        } else {
            // Without pagemap, keep-resident memsets the lowest bytes of
            // memory (a Rust guest's untouched stack): slower. Batch the
            // madvise calls instead.
            pool.decommit_batch_size(64);
        }
    }
    let mut config = Config::new();
    config
        .epoch_interruption(true)
        // A synchronous host: the async machinery only slows calls.
        .concurrency_support(false)
        .max_wasm_stack(limits.max_wasm_stack)
        .allocation_strategy(InstanceAllocationStrategy::Pooling(pool));
    config
}

impl Runtime {
    pub(crate) fn new(limits: &InstanceLimits, cache_dir: PathBuf) -> Result<Runtime> {
        let config = engine_config(limits, SlotReset::KeepResident);
        let engine =
            Engine::new(&config).map_err(|e| Error::wasm("creating the wasm engine", e))?;

        let mut hasher = std::collections::hash_map::DefaultHasher::new();
        engine.precompile_compatibility_hash().hash(&mut hasher);
        let config_key = format!("{:016x}", hasher.finish());

        let stop = Arc::new(AtomicBool::new(false));
        let ticker = {
            let engine = engine.clone();
            let stop = stop.clone();
            std::thread::Builder::new()
                .name("hangar-epoch".into())
                .spawn(move || {
                    while !stop.load(Ordering::Relaxed) {
                        std::thread::sleep(EPOCH_TICK);
                        engine.increment_epoch();
                    }
                })
                .map_err(|e| Error::io("starting the epoch ticker thread", e))?
        };
        let mut linker = Linker::new(&engine);
        crate::bindings::add_to_linker(&mut linker)
            .map_err(|e| Error::wasm("linking the host imports", e))?;
        Ok(Runtime {
            engine,
            linker,
            cache_dir,
            config_key,
            stop,
            ticker: Some(ticker),
        })
    }

    /// The compiled component of a package with this hash, if the cache
    /// has it: no need to read (or hash) the package itself.
    pub(crate) fn load_cached(&self, sha256: &str) -> Option<Component> {
        let path = self
            .cache_dir
            .join(format!("{sha256}-{}.cwasm", self.config_key));
        if !path.exists() {
            return None;
        }
        // SAFETY: as in `load`: the host's own cache, written by an engine
        // with this exact configuration.
        unsafe { Component::deserialize_file(&self.engine, &path) }.ok()
    }

    /// Compile `bytes`, or load the serialized artifact from the cache.
    /// A fresh compilation is returned with what to cache, so the caller
    /// writes the cache only once the component has proved usable.
    pub(crate) fn load(&self, bytes: &[u8]) -> Result<(Component, Option<PendingCache>)> {
        let digest = Sha256::digest(bytes);
        let name = format!("{}-{}.cwasm", hex(&digest), self.config_key);
        let path = self.cache_dir.join(name);
        if path.exists() {
            // SAFETY: the file is in the host's own cache directory, written
            // by `precompile_component` of an engine with this exact
            // configuration (its hash is in the file name).
            match unsafe { Component::deserialize_file(&self.engine, &path) } {
                Ok(component) => return Ok((component, None)),
                Err(_) => {
                    // A damaged cache entry is rebuilt below.
                    let _ = std::fs::remove_file(&path);
                }
            }
        }
        let serialized = self
            .engine
            .precompile_component(bytes)
            .map_err(|e| Error::wasm("compiling the component", e))?;
        // SAFETY: produced just now by this engine.
        let component = unsafe { Component::deserialize(&self.engine, &serialized) }
            .map_err(|e| Error::wasm("loading the compiled component", e))?;
        Ok((component, Some(PendingCache { path, serialized })))
    }
}

/// A compiled artifact not yet written to the cache.
pub(crate) struct PendingCache {
    path: PathBuf,
    serialized: Vec<u8>,
}

impl PendingCache {
    /// Write it (atomically). The cache is an optimisation: failing to
    /// write it is not an error.
    pub(crate) fn store(self) {
        let Some(dir) = self.path.parent() else {
            return;
        };
        if std::fs::create_dir_all(dir).is_err() {
            return;
        }
        // One temporary file per writer, not per process: two threads
        // caching the same component must never write one file, or the
        // second truncates what the first already renamed into place (and
        // another thread has mapped: SIGBUS).
        static WRITERS: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
        let tmp = self.path.with_extension(format!(
            "tmp{}-{}",
            std::process::id(),
            WRITERS.fetch_add(1, Ordering::Relaxed)
        ));
        if std::fs::write(&tmp, &self.serialized).is_ok()
            && std::fs::rename(&tmp, &self.path).is_err()
        {
            let _ = std::fs::remove_file(&tmp);
        }
    }
}

impl Drop for Runtime {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.ticker.take() {
            let _ = t.join();
        }
    }
}

pub(crate) fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
