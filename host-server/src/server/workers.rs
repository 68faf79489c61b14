//! A pool of wasmtime guest instances for one active version: every decision runs in one of
//! them. One instance per worker slot, each behind its own lock, and a semaphore so a call waits
//! only for a free slot, never for a global lock.
//!
//! Entity writes reach every instance through an ordered log: a write is applied (and so
//! validated) on the instance that takes it, persisted, then appended to the log; every other
//! instance replays the entries it has not seen before its next call. A decision therefore always
//! sees every write acknowledged before it started. An instance that trapped (deadline, memory)
//! is rebuilt from the version's bundle, its base entities and the log.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, RwLock};
use std::time::Duration;

use policy_core::json_api::Op;
use tokio::sync::Semaphore;

use crate::guest::{GuestAnswer, GuestError, GuestInstance, GuestRuntime};

/// Loading a large entity set takes seconds; decisions get the configured short deadline.
pub const LOAD_DEADLINE: Duration = Duration::from_secs(300);

#[derive(Debug, thiserror::Error)]
pub enum PoolError {
    #[error(transparent)]
    Guest(#[from] GuestError),
    /// The engine refused the bundle or the entities while an instance was being built.
    #[error("the guest refused {what}: {body}")]
    Refused { what: &'static str, body: String },
    #[error("worker lock poisoned")]
    Poisoned,
}

/// An entity write, replayed on every instance in order.
#[derive(Clone)]
struct EntityOp {
    op: Op,
    input: Arc<str>,
}

struct Worker {
    instance: Option<GuestInstance>,
    /// How many log entries this instance has applied.
    applied: usize,
}

pub struct WorkerPool {
    runtime: Arc<GuestRuntime>,
    bundle_json: Arc<str>,
    base_entities: Arc<str>,
    slots: Vec<Mutex<Worker>>,
    free: Semaphore,
    next: AtomicUsize,
    log: RwLock<Vec<EntityOp>>,
}

/// A worker held by one caller for a slice of work (see [`WorkerPool::session`]).
pub struct Session<'a> {
    pool: &'a WorkerPool,
    worker: MutexGuard<'a, Worker>,
}

impl Session<'_> {
    /// Runs one operation with its own deadline. An instance that trapped in an earlier call
    /// of the session is rebuilt first.
    pub fn call(
        &mut self,
        op: Op,
        input: &str,
        deadline: Duration,
    ) -> Result<GuestAnswer, PoolError> {
        self.pool.catch_up(&mut self.worker)?;
        self.pool.run(&mut self.worker, op, input, deadline)
    }
}

impl WorkerPool {
    /// Builds `size` instances, each holding the bundle and `base_entities` (a JSON array),
    /// loaded in parallel, each load within `load_deadline`. Fails, leaving nothing behind, if
    /// the guest refuses either or a load runs out of time.
    pub fn build(
        runtime: Arc<GuestRuntime>,
        bundle_json: Arc<str>,
        base_entities: Arc<str>,
        size: usize,
        load_deadline: Duration,
    ) -> Result<Self, PoolError> {
        let size = size.max(1);
        let instances: Vec<Result<GuestInstance, PoolError>> = std::thread::scope(|scope| {
            let handles: Vec<_> = (0..size)
                .map(|_| {
                    scope.spawn(|| {
                        fresh_instance(&runtime, &bundle_json, &base_entities, load_deadline)
                    })
                })
                .collect();
            handles
                .into_iter()
                .map(|h| {
                    h.join().unwrap_or_else(|_| {
                        Err(PoolError::Guest(GuestError::Trap(
                            "instance builder panicked".into(),
                        )))
                    })
                })
                .collect()
        });
        let mut slots = Vec::with_capacity(size);
        for instance in instances {
            slots.push(Mutex::new(Worker {
                instance: Some(instance?),
                applied: 0,
            }));
        }
        Ok(Self {
            runtime,
            bundle_json,
            base_entities,
            slots,
            free: Semaphore::new(size),
            next: AtomicUsize::new(0),
            log: RwLock::new(Vec::new()),
        })
    }

    pub fn size(&self) -> usize {
        self.slots.len()
    }

    /// Runs one read-only operation (`decide`, `profiles`...) with the given deadline, on the
    /// calling thread: a single decision takes microseconds, less than moving off the async
    /// threads would cost, and its deadline bounds how long it can hold one.
    pub async fn call(
        &self,
        op: Op,
        input: &str,
        deadline: Duration,
    ) -> Result<GuestAnswer, PoolError> {
        let _permit = self.free.acquire().await.map_err(|_| PoolError::Poisoned)?;
        let mut worker = self.checkout()?;
        self.run(&mut worker, op, input, deadline)
    }

    /// Waits for a free worker (a future the request timeout can drop), then runs `work` on
    /// it off the async threads. `work` makes as many calls as it likes and returns when it
    /// has held the worker long enough: batches do their work in such slices, so that other
    /// callers queued for a worker (the semaphore is fair) get one between two slices.
    pub async fn session<T>(
        &self,
        work: impl FnOnce(&mut Session<'_>) -> T,
    ) -> Result<T, PoolError> {
        let _permit = self.free.acquire().await.map_err(|_| PoolError::Poisoned)?;
        tokio::task::block_in_place(|| {
            let worker = self.checkout()?;
            let mut session = Session { pool: self, worker };
            Ok(work(&mut session))
        })
    }

    /// Applies an entity write (`apply_delta` or `replace_entities`) on one instance; if the
    /// engine accepts it, `persist` runs (the write is acknowledged only once it is stored),
    /// then the write joins the log every other instance replays. Callers serialize writes.
    /// `deadline` bounds applying it (the request's remaining time); catching the instance up
    /// with earlier writes is the pool's own work and gets `LOAD_DEADLINE`.
    pub async fn write(
        &self,
        op: Op,
        input: Arc<str>,
        deadline: Duration,
        persist: impl FnOnce() -> Result<(), crate::store::StoreError>,
    ) -> Result<Result<GuestAnswer, crate::store::StoreError>, PoolError> {
        let _permit = self.free.acquire().await.map_err(|_| PoolError::Poisoned)?;
        tokio::task::block_in_place(|| {
            let mut worker = self.checkout()?;
            let answer = self.run(&mut worker, op, &input, deadline)?;
            if let GuestAnswer::EngineError(_) = answer {
                return Ok(Ok(answer));
            }
            if let Err(e) = persist() {
                // This instance holds a write the store does not: rebuild it from the store's
                // view (bundle, base entities, log) before it answers again.
                worker.instance = None;
                return Ok(Err(e));
            }
            let mut log = self.log.write().map_err(|_| PoolError::Poisoned)?;
            log.push(EntityOp { op, input });
            worker.applied = log.len();
            Ok(Ok(answer))
        })
    }

    /// Appends a write another replica made (already validated and stored) to the log.
    pub fn push_log(&self, op: Op, input: Arc<str>) {
        if let Ok(mut log) = self.log.write() {
            log.push(EntityOp { op, input });
        }
    }

    /// Brings every idle instance up to date with the log, so that a large write (a full
    /// replace) is replayed here, off the decision path, rather than by the next decision.
    pub fn catch_up_idle(&self) {
        for slot in &self.slots {
            if let Ok(mut worker) = slot.try_lock() {
                if let Err(e) = self.catch_up(&mut worker) {
                    tracing::warn!("background catch-up: {e}");
                }
            }
        }
    }

    /// Locks a free slot (the semaphore guarantees one), rebuilt and caught up.
    fn checkout(&self) -> Result<MutexGuard<'_, Worker>, PoolError> {
        let n = self.slots.len();
        let start = self.next.fetch_add(1, Ordering::Relaxed) % n;
        let mut guard = None;
        for i in 0..n {
            if let Ok(g) = self.slots[(start + i) % n].try_lock() {
                guard = Some(g);
                break;
            }
        }
        let mut worker = match guard {
            Some(g) => g,
            None => self.slots[start].lock().map_err(|_| PoolError::Poisoned)?,
        };
        self.catch_up(&mut worker)?;
        Ok(worker)
    }

    fn catch_up(&self, worker: &mut Worker) -> Result<(), PoolError> {
        if worker
            .instance
            .as_ref()
            .is_none_or(GuestInstance::is_poisoned)
        {
            worker.instance = None;
            worker.instance = Some(fresh_instance(
                &self.runtime,
                &self.bundle_json,
                &self.base_entities,
                LOAD_DEADLINE,
            )?);
            worker.applied = 0;
        }
        let pending: Vec<EntityOp> = {
            let log = self.log.read().map_err(|_| PoolError::Poisoned)?;
            log.get(worker.applied..).unwrap_or_default().to_vec()
        };
        for entry in pending {
            match self.run(worker, entry.op, &entry.input, LOAD_DEADLINE)? {
                GuestAnswer::Ok(_) => worker.applied += 1,
                GuestAnswer::EngineError(body) => {
                    // It was accepted by an instance in the same state: this one diverged.
                    worker.instance = None;
                    return Err(PoolError::Refused {
                        what: "a logged entity write on replay",
                        body,
                    });
                }
            }
        }
        Ok(())
    }

    fn run(
        &self,
        worker: &mut Worker,
        op: Op,
        input: &str,
        deadline: Duration,
    ) -> Result<GuestAnswer, PoolError> {
        let instance = worker
            .instance
            .as_mut()
            .ok_or(PoolError::Guest(GuestError::Poisoned))?;
        instance.set_deadline(deadline);
        Ok(instance.call(op, input)?)
    }
}

fn fresh_instance(
    runtime: &GuestRuntime,
    bundle_json: &str,
    entities: &str,
    load_deadline: Duration,
) -> Result<GuestInstance, PoolError> {
    let mut instance = runtime.instance()?;
    instance.set_deadline(load_deadline);
    if let GuestAnswer::EngineError(body) = instance.load_bundle(bundle_json)? {
        return Err(PoolError::Refused {
            what: "the bundle",
            body,
        });
    }
    if let GuestAnswer::EngineError(body) = instance.call(Op::ReplaceEntities, entities)? {
        return Err(PoolError::Refused {
            what: "the entities",
            body,
        });
    }
    Ok(instance)
}
