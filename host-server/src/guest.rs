//! The host side of the wasmtime guest (`wasm-guest`): every server decision runs inside it.
//!
//! Start-up work once, per-call work cheap: [`GuestRuntime`] holds the wasmtime `Engine` and the
//! compiled `Module` (deserialized from a precompiled cache when one matches, compiled and cached
//! otherwise); each worker owns a [`GuestInstance`] (its own `Store`, memory and resident
//! policy-core engine). Guests are untrusted work: every call runs under an epoch deadline and
//! the instance's memory is capped, so a runaway evaluation ends with a clear error, not a hung
//! server. After a trap the instance is poisoned and must be replaced.
//!
//! Why epochs, not fuel: fuel counts every wasm instruction and measured ≈ 30 % slower per
//! decision (1.52× native vs 1.19× with epochs on the same run); an epoch check is a load and a
//! compare at loop heads and calls. A ticker thread advances the epoch every [`TICK`].

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use policy_core::json_api::Op;
use sha2::{Digest, Sha256};
use wasmtime::{
    Config, Engine, Instance, Linker, Memory, Module, Store, StoreLimits, StoreLimitsBuilder, Trap,
    TypedFunc,
};

/// How often the epoch advances: the granularity of call deadlines.
pub const TICK: Duration = Duration::from_millis(5);

/// Limits applied to every guest instance.
#[derive(Debug, Clone, Copy)]
pub struct GuestLimits {
    /// Wall-clock budget per call (rounded up to whole ticks); decisions take microseconds,
    /// loading a large entity set seconds.
    pub deadline: Duration,
    /// Linear memory cap per instance, bytes.
    pub max_memory: usize,
    /// Native stack wasm code may use per call, bytes (wasmtime's `max_wasm_stack`); past it
    /// the call traps with a stack overflow and the instance is replaced. It must stay well
    /// below the stack of every thread that calls into a guest: wasmtime's default, 512 KiB,
    /// fits the 2 MiB of plain threads, and the deepest input policy-core's nesting limits
    /// admit needs less (tested).
    pub max_stack: usize,
}

impl Default for GuestLimits {
    fn default() -> Self {
        Self {
            deadline: Duration::from_secs(60),
            max_memory: 2 << 30,
            max_stack: 512 << 10,
        }
    }
}

impl GuestLimits {
    fn ticks(&self) -> u64 {
        (self.deadline.as_nanos() / TICK.as_nanos()).max(1) as u64 + 1
    }
}

#[derive(Debug, thiserror::Error)]
pub enum GuestError {
    #[error("cannot read the guest module {path}: {source}")]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("wasmtime: {0}")]
    Wasmtime(String),
    #[error("the guest call exceeded its deadline ({0:?}): evaluation cut off")]
    DeadlineExceeded(Duration),
    #[error("the guest hit its memory limit ({0} bytes)")]
    OutOfMemory(usize),
    #[error("the guest trapped: {0}")]
    Trap(String),
    #[error("this guest instance trapped earlier and must be replaced")]
    Poisoned,
    #[error("the guest returned a malformed answer: {0}")]
    Protocol(String),
}

fn wasmtime_error(e: impl std::fmt::Display) -> GuestError {
    GuestError::Wasmtime(e.to_string())
}

/// How the module was obtained, for the cold-start report.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ModuleSource {
    Compiled,
    Deserialized,
}

/// The wasmtime engine and compiled guest module, created once per process.
pub struct GuestRuntime {
    engine: Engine,
    ticker_stop: Arc<AtomicBool>,
    module: Module,
    limits: GuestLimits,
    pub source: ModuleSource,
    pub startup_ms: f64,
}

impl GuestRuntime {
    /// Compiles `wasm` or, when `cache_dir` holds a precompiled module for exactly these bytes
    /// and this wasmtime build, deserializes it (and writes the cache after compiling).
    pub fn new(
        wasm: &[u8],
        cache_dir: Option<&Path>,
        limits: GuestLimits,
    ) -> Result<Self, GuestError> {
        let started = Instant::now();
        let mut config = Config::new();
        config.epoch_interruption(true);
        config.max_wasm_stack(limits.max_stack);
        let engine = Engine::new(&config).map_err(wasmtime_error)?;
        let ticker_stop = Arc::new(AtomicBool::new(false));
        {
            let (engine, stop) = (engine.clone(), ticker_stop.clone());
            std::thread::Builder::new()
                .name("sesame-epoch".into())
                .spawn(move || {
                    while !stop.load(Ordering::Relaxed) {
                        std::thread::sleep(TICK);
                        engine.increment_epoch();
                    }
                })
                .map_err(|e| GuestError::Wasmtime(format!("cannot start the epoch ticker: {e}")))?;
        }
        let cache_path = cache_dir.map(|dir| {
            let mut hasher = Sha256::new();
            hasher.update(wasm);
            std::hash::Hash::hash(
                &engine.precompile_compatibility_hash(),
                &mut HashWriter(&mut hasher),
            );
            dir.join(format!(
                "guest-{}.cwasm",
                hex::encode(&hasher.finalize()[..16])
            ))
        });
        let cached = cache_path.as_ref().and_then(|p| std::fs::read(p).ok());
        let (module, source) = match cached {
            // SAFETY: the file is one this function wrote for these exact wasm bytes and this
            // engine's compatibility hash (both in its name); wasmtime re-checks the version
            // header and refuses an incompatible artifact.
            Some(bytes) => match unsafe { Module::deserialize(&engine, &bytes) } {
                Ok(m) => (m, ModuleSource::Deserialized),
                Err(_) => (
                    Module::new(&engine, wasm).map_err(wasmtime_error)?,
                    ModuleSource::Compiled,
                ),
            },
            None => (
                Module::new(&engine, wasm).map_err(wasmtime_error)?,
                ModuleSource::Compiled,
            ),
        };
        if let (ModuleSource::Compiled, Some(path)) = (source, &cache_path) {
            // A cache that cannot be written only costs the next start a compile.
            if let Ok(bytes) = module.serialize() {
                if let Some(dir) = path.parent() {
                    let _ = std::fs::create_dir_all(dir);
                }
                let tmp = path.with_extension("tmp");
                if std::fs::write(&tmp, bytes).is_ok() {
                    let _ = std::fs::rename(&tmp, path);
                }
            }
        }
        Ok(Self {
            engine,
            ticker_stop,
            module,
            limits,
            source,
            startup_ms: started.elapsed().as_secs_f64() * 1e3,
        })
    }

    pub fn from_file(
        path: &Path,
        cache_dir: Option<&Path>,
        limits: GuestLimits,
    ) -> Result<Self, GuestError> {
        let wasm = std::fs::read(path).map_err(|source| GuestError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        Self::new(&wasm, cache_dir, limits)
    }

    /// A fresh instance (its own store and memory) for one worker.
    pub fn instance(&self) -> Result<GuestInstance, GuestError> {
        let limits = StoreLimitsBuilder::new()
            .memory_size(self.limits.max_memory)
            .instances(1)
            .build();
        let mut store = Store::new(&self.engine, limits);
        store.limiter(|l| l);
        // The guest's one import: the host's clock, the request time of time-bound access.
        let mut linker: Linker<StoreLimits> = Linker::new(&self.engine);
        linker
            .func_wrap("sesame", "now_ms", now_ms)
            .map_err(wasmtime_error)?;
        let instance = linker
            .instantiate(&mut store, &self.module)
            .map_err(wasmtime_error)?;
        let memory = instance
            .get_memory(&mut store, "memory")
            .ok_or_else(|| GuestError::Protocol("the guest exports no memory".into()))?;
        Ok(GuestInstance {
            alloc: export(&instance, &mut store, "sesame_alloc")?,
            free: export(&instance, &mut store, "sesame_free")?,
            load: export(&instance, &mut store, "sesame_load")?,
            call: export(&instance, &mut store, "sesame_call")?,
            call_slice: export(&instance, &mut store, "sesame_call_slice")?,
            store,
            memory,
            limits: self.limits,
            poisoned: false,
        })
    }
}

/// Milliseconds since the Unix epoch (0 on a clock set before it, which ends every dated
/// access: the safe side).
pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

fn export<P: wasmtime::WasmParams, R: wasmtime::WasmResults>(
    instance: &Instance,
    store: &mut Store<StoreLimits>,
    name: &str,
) -> Result<TypedFunc<P, R>, GuestError> {
    instance.get_typed_func(store, name).map_err(wasmtime_error)
}

impl Drop for GuestRuntime {
    fn drop(&mut self) {
        self.ticker_stop.store(true, Ordering::Relaxed);
    }
}

/// Feeds `Hash` output into a SHA-256 (for the cache key).
struct HashWriter<'a>(&'a mut Sha256);

impl std::hash::Hasher for HashWriter<'_> {
    fn finish(&self) -> u64 {
        0
    }
    fn write(&mut self, bytes: &[u8]) {
        self.0.update(bytes);
    }
}

/// A guest answer: the JSON text of a result, or of an `ErrorBody` the engine returned.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GuestAnswer {
    Ok(String),
    EngineError(String),
}

/// One instance of the guest with its resident engine. Not shared: one per worker.
pub struct GuestInstance {
    store: Store<StoreLimits>,
    memory: Memory,
    alloc: TypedFunc<u32, u32>,
    free: TypedFunc<(u32, u32), ()>,
    load: TypedFunc<(u32, u32), i64>,
    call: TypedFunc<(u32, u32, u32, u32), i64>,
    call_slice: TypedFunc<(u32, u32, u32, u32, u32, u32), i64>,
    limits: GuestLimits,
    poisoned: bool,
}

impl GuestInstance {
    /// Sets the wall-clock budget of each following call (decisions get a short one, loads of
    /// large entity sets a long one).
    pub fn set_deadline(&mut self, deadline: Duration) {
        self.limits.deadline = deadline;
    }

    pub fn is_poisoned(&self) -> bool {
        self.poisoned
    }

    /// Loads a bundle (`{"files": {...}}` JSON) into this instance.
    pub fn load_bundle(&mut self, bundle_json: &str) -> Result<GuestAnswer, GuestError> {
        self.guard(|g| {
            let (ptr, len) = g.write(bundle_json.as_bytes())?;
            let packed = g.load.call(&mut g.store, (ptr, len));
            g.free
                .call(&mut g.store, (ptr, len))
                .map_err(|e| g.classify(e))?;
            g.read_answer(packed.map_err(|e| g.classify(e))?)
        })
    }

    /// Runs one `json_api` operation; the guest receives it by its wire name.
    pub fn call(&mut self, op: Op, input_json: &str) -> Result<GuestAnswer, GuestError> {
        self.guard(|g| {
            let (op_ptr, op_len) = g.write(op.as_str().as_bytes())?;
            let (in_ptr, in_len) = g.write(input_json.as_bytes())?;
            let packed = g.call.call(&mut g.store, (op_ptr, op_len, in_ptr, in_len));
            g.free
                .call(&mut g.store, (op_ptr, op_len))
                .map_err(|e| g.classify(e))?;
            g.free
                .call(&mut g.store, (in_ptr, in_len))
                .map_err(|e| g.classify(e))?;
            g.read_answer(packed.map_err(|e| g.classify(e))?)
        })
    }

    /// Runs a decision operation on the resident bundle over an entity slice the host packed
    /// (`policy_core::json_api::slice_for`).
    pub fn call_on_slice(
        &mut self,
        op: Op,
        input_json: &str,
        slice: &[u8],
    ) -> Result<GuestAnswer, GuestError> {
        self.guard(|g| {
            let (op_ptr, op_len) = g.write(op.as_str().as_bytes())?;
            let (in_ptr, in_len) = g.write(input_json.as_bytes())?;
            let (slice_ptr, slice_len) = g.write(slice)?;
            let packed = g.call_slice.call(
                &mut g.store,
                (op_ptr, op_len, in_ptr, in_len, slice_ptr, slice_len),
            );
            for (ptr, len) in [(op_ptr, op_len), (in_ptr, in_len), (slice_ptr, slice_len)] {
                g.free
                    .call(&mut g.store, (ptr, len))
                    .map_err(|e| g.classify(e))?;
            }
            g.read_answer(packed.map_err(|e| g.classify(e))?)
        })
    }

    /// Runs `f` under a fresh deadline; any trap poisons the instance.
    fn guard<T>(
        &mut self,
        f: impl FnOnce(&mut Self) -> Result<T, GuestError>,
    ) -> Result<T, GuestError> {
        if self.poisoned {
            return Err(GuestError::Poisoned);
        }
        self.store.set_epoch_deadline(self.limits.ticks());
        let result = f(self);
        if matches!(
            result,
            Err(GuestError::DeadlineExceeded(_) | GuestError::OutOfMemory(_) | GuestError::Trap(_))
        ) {
            self.poisoned = true;
        }
        result
    }

    fn classify(&self, err: wasmtime::Error) -> GuestError {
        match err.downcast_ref::<Trap>() {
            Some(Trap::Interrupt) => GuestError::DeadlineExceeded(self.limits.deadline),
            // Allocation failure inside the guest aborts (panic=abort) after memory.grow fails.
            Some(Trap::UnreachableCodeReached)
                if self.memory.data_size(&self.store) + (64 << 10) > self.limits.max_memory =>
            {
                GuestError::OutOfMemory(self.limits.max_memory)
            }
            Some(trap) => GuestError::Trap(trap.to_string()),
            None => GuestError::Trap(format!("{err:#}")),
        }
    }

    fn write(&mut self, bytes: &[u8]) -> Result<(u32, u32), GuestError> {
        let len = u32::try_from(bytes.len())
            .map_err(|_| GuestError::Protocol("input larger than 4 GiB".into()))?;
        let ptr = self
            .alloc
            .call(&mut self.store, len)
            .map_err(|e| self.classify(e))?;
        self.memory
            .write(&mut self.store, ptr as usize, bytes)
            .map_err(|e| GuestError::Protocol(e.to_string()))?;
        Ok((ptr, len))
    }

    fn read_answer(&mut self, packed: i64) -> Result<GuestAnswer, GuestError> {
        let ptr = (packed as u64 >> 32) as u32;
        let len = (packed as u64 & 0xffff_ffff) as u32;
        let mut buf = vec![0u8; len as usize];
        self.memory
            .read(&self.store, ptr as usize, &mut buf)
            .map_err(|e| GuestError::Protocol(e.to_string()))?;
        self.free
            .call(&mut self.store, (ptr, len))
            .map_err(|e| self.classify(e))?;
        let (status, json) = buf
            .split_first()
            .ok_or_else(|| GuestError::Protocol("empty answer".into()))?;
        let json =
            String::from_utf8(json.to_vec()).map_err(|e| GuestError::Protocol(e.to_string()))?;
        match status {
            0 => Ok(GuestAnswer::Ok(json)),
            1 => Ok(GuestAnswer::EngineError(json)),
            other => Err(GuestError::Protocol(format!("unknown status byte {other}"))),
        }
    }
}

/// Where the test command and scripts put the guest module.
pub fn default_guest_path() -> PathBuf {
    std::env::var_os("SESAME_GUEST_WASM")
        .map(PathBuf::from)
        .unwrap_or_else(|| crate::build_output::TargetDir::current().guest_wasm())
}
