//! A pool of wasmtime guest instances for one active version, over the version's one entity
//! store: every decision runs in one of the instances. One instance per worker slot, each
//! behind its own lock, and a semaphore so a call waits only for a free slot, never for a
//! global lock.
//!
//! The entities are held once per process, natively (`policy_core::Engine`: the bundle and
//! every data entity, parsed, with closed ancestor sets), not once per instance: an instance
//! holds only the bundle, and each decision call carries the packed slice of entities it reads
//! (`json_api::slice_for`). Memory therefore does not grow with the number of workers, and an
//! entity write is applied (and validated) once, on the store, where every later decision sees
//! it. An instance that trapped (deadline, memory) is rebuilt from the bundle alone.
//!
//! With partitions (`--entity-memory`, `partitions.rs`) the store holds the shared entities and
//! the tenants in use: each call first makes its tenants resident, and holds them (the resident
//! set's lock) until its slice is packed or its write stored.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, RwLock, RwLockReadGuard, RwLockWriteGuard};
use std::time::Duration;

use std::collections::HashSet;

use policy_core::json_api::{self, Op};
use policy_core::wire::{DeltaReport, EntityDelta, EntityRef};
use serde_json::Value;

use super::partitions::{refs_in, tenants_in, PartitionError, Partitions, Resident};
use super::state::EntityChange;
use crate::store::{StoreError, Tenants};
use policy_core::Engine;
use tokio::sync::Semaphore;

use crate::guest::{GuestAnswer, GuestError, GuestInstance, GuestRuntime};

/// Loading a large entity set takes seconds; decisions get the configured short deadline.
pub const LOAD_DEADLINE: Duration = Duration::from_secs(300);

#[derive(Debug, thiserror::Error)]
pub enum PoolError {
    #[error(transparent)]
    Guest(#[from] GuestError),
    /// The engine refused the bundle or the entities while the pool was being built.
    #[error("the guest refused {what}: {body}")]
    Refused { what: &'static str, body: String },
    #[error("worker lock poisoned")]
    Poisoned,
    #[error(transparent)]
    Partition(#[from] PartitionError),
    #[error(transparent)]
    Store(#[from] StoreError),
}

struct Worker {
    instance: Option<GuestInstance>,
}

pub struct WorkerPool {
    runtime: Arc<GuestRuntime>,
    bundle_json: Arc<str>,
    /// The version's bundle over every entity: decisions read their slices from it, writes
    /// change it.
    data: RwLock<Engine>,
    /// Tenants loaded on demand; `None`: `data` holds every entity.
    partitions: Option<Partitions>,
    slots: Vec<Mutex<Worker>>,
    free: Semaphore,
    next: AtomicUsize,
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
        self.pool.revive(&mut self.worker)?;
        self.pool.run(&mut self.worker, op, input, deadline)
    }
}

impl WorkerPool {
    /// Builds `size` instances, each loading the bundle, in parallel, each load within
    /// `load_deadline`, over `data` (the bundle and the entities, already loaded: all of
    /// them, or with `partitions` the shared ones). Fails, leaving nothing behind, if the
    /// guest refuses the bundle or a load runs out of time.
    pub fn build(
        runtime: Arc<GuestRuntime>,
        bundle_json: Arc<str>,
        data: Engine,
        partitions: Option<Partitions>,
        size: usize,
        load_deadline: Duration,
    ) -> Result<Self, PoolError> {
        let size = size.max(1);
        let instances: Vec<Result<GuestInstance, PoolError>> = std::thread::scope(|scope| {
            let handles: Vec<_> = (0..size)
                .map(|_| scope.spawn(|| fresh_instance(&runtime, &bundle_json, load_deadline)))
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
            }));
        }
        Ok(Self {
            runtime,
            bundle_json,
            data: RwLock::new(data),
            partitions,
            slots,
            free: Semaphore::new(size),
            next: AtomicUsize::new(0),
        })
    }

    pub fn size(&self) -> usize {
        self.slots.len()
    }

    /// The version's entity store, for reading.
    pub fn data(&self) -> Result<RwLockReadGuard<'_, Engine>, PoolError> {
        self.data.read().map_err(|_| PoolError::Poisoned)
    }

    /// Runs `read` on the store with the tenants of `refs` resident and held resident until
    /// it returns (firm administration plans read the actor's firm whole).
    pub fn with_tenants<T>(
        &self,
        refs: &[EntityRef],
        read: impl FnOnce(&Engine) -> T,
    ) -> Result<T, PoolError> {
        let _held = self.hold_tenants(refs)?;
        Ok(read(&*self.data()?))
    }

    /// Makes the tenants of `refs` resident and returns the guard that keeps them so (`None`
    /// without partitions).
    fn hold_tenants(
        &self,
        refs: &[EntityRef],
    ) -> Result<Option<MutexGuard<'_, Resident>>, PoolError> {
        let Some(partitions) = &self.partitions else {
            return Ok(None);
        };
        let mut resident = partitions.lock()?;
        partitions.ensure_locked(&mut resident, &self.data, refs)?;
        Ok(Some(resident))
    }

    /// As [`Self::hold_tenants`], for a decision call on an async thread: when everything it
    /// reaches is resident (the usual case) no store is read and the thread stays; a call that
    /// loads moves off the async threads first.
    fn hold_tenants_for_call<'a>(
        &'a self,
        partitions: &'a Partitions,
        refs: &[EntityRef],
    ) -> Result<Option<MutexGuard<'a, Resident>>, PoolError> {
        let mut resident = partitions.lock()?;
        if partitions.resident_already(&mut resident, &self.data, refs)? {
            return Ok(Some(resident));
        }
        drop(resident);
        tokio::task::block_in_place(|| self.hold_tenants(refs))
    }

    fn data_mut(&self) -> Result<RwLockWriteGuard<'_, Engine>, PoolError> {
        self.data.write().map_err(|_| PoolError::Poisoned)
    }

    /// Runs one read-only operation (`decide`, `matrix`...) with the given deadline, on the
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

    /// Applies an entity write to the store; if the engine accepts it, `persist` runs (the
    /// write is acknowledged only once it is stored). No decision sees a write before it is
    /// acknowledged: decisions wait while a delta is applied and stored (and a delta that
    /// cannot be stored is undone); a full replace is built and stored beside the current
    /// store, then swapped in. Callers serialize writes. Answers the engine's `DeltaReport` as
    /// JSON, or its refusal.
    pub fn write(
        &self,
        change: &EntityChange,
        persist: impl FnOnce(&Tenants) -> Result<(), crate::store::StoreError>,
    ) -> Result<Result<GuestAnswer, crate::store::StoreError>, PoolError> {
        tokio::task::block_in_place(|| match change {
            EntityChange::Delta(delta) => {
                let mut refs = delta.remove.clone();
                delta.upsert.iter().for_each(|r| refs_in(r, &mut refs));
                let mut held = self.hold_tenants(&refs)?;
                let mut data = self.data_mut()?;
                let written: Vec<EntityRef> = delta
                    .upsert
                    .iter()
                    .filter_map(policy_core::uid_of_record)
                    .collect();
                let undo = match undo_of(&data, delta) {
                    Ok(undo) => undo,
                    Err(e) => return Ok(Ok(refused(&e))),
                };
                let bytes_before = data.entity_bytes();
                let report = match data.apply_delta(delta) {
                    Ok(report) => report,
                    Err(e) => return Ok(Ok(refused(&e))),
                };
                let grown = data.entity_bytes() as i64 - bytes_before as i64;
                let tenants = tenants_in(&data, written.clone());
                if let Err(e) = persist(&tenants) {
                    if let Err(undo_error) = data.apply_delta(&undo) {
                        tracing::error!("undoing an unstored write failed: {undo_error}");
                    }
                    return Ok(Err(e));
                }
                drop(data);
                if let (Some(p), Some(resident)) = (&self.partitions, held.as_mut()) {
                    if let Err(e) = p.written(
                        resident,
                        &self.data,
                        &written,
                        &delta.remove,
                        &tenants,
                        grown,
                    ) {
                        // Stored and applied: the write stands; its tenant loads on next use.
                        tracing::warn!("after an entity write: {e}");
                    }
                }
                Ok(Ok(GuestAnswer::Ok(json_api::to_json(&report))))
            }
            EntityChange::Replace(records) => {
                // Built and stored beside the current store, which goes on answering (writes
                // are serialized by the caller: nothing else changes it meanwhile); swapped in
                // once stored, so no decision sees it before it is acknowledged.
                let (next, report) = match self.loaded(records)? {
                    Ok(loaded) => loaded,
                    Err(e) => return Ok(Ok(refused(&e))),
                };
                let uids = records
                    .iter()
                    .filter_map(policy_core::uid_of_record)
                    .collect();
                let tenants = tenants_in(&next, uids);
                let Some(partitions) = &self.partitions else {
                    if let Err(e) = persist(&tenants) {
                        return Ok(Err(e));
                    }
                    self.swap_in(next)?;
                    return Ok(Ok(GuestAnswer::Ok(json_api::to_json(&report))));
                };
                // The new data's shared entities only (tenants load again on demand), built
                // before anything is stored; no tenant loads from the store between the store
                // and the swap (the resident set is held).
                drop(next);
                let shared = match self.loaded(&shared_of(records, &tenants))? {
                    Ok((shared, _)) => shared,
                    Err(e) => return Ok(Ok(refused(&e))),
                };
                let mut resident = partitions.lock()?;
                if let Err(e) = persist(&tenants) {
                    return Ok(Err(e));
                }
                self.swap_in(shared)?;
                partitions.clear(&mut resident);
                Ok(Ok(GuestAnswer::Ok(json_api::to_json(&report))))
            }
        })
    }

    /// Applies a write another replica made (already validated and stored). A refusal means
    /// this store diverged from the shared one: the caller rebuilds the pool.
    pub fn replay(&self, change: &EntityChange) -> Result<(), PoolError> {
        let refused = |e: policy_core::EngineError| PoolError::Refused {
            what: "a logged entity write on replay",
            body: e.to_string(),
        };
        match (change, &self.partitions) {
            (EntityChange::Delta(delta), None) => {
                self.data_mut()?.apply_delta(delta).map_err(refused)?;
            }
            (EntityChange::Delta(delta), Some(partitions)) => {
                // The tenants it touches are unloaded (they load again as stored); what it
                // changes of the shared entities is applied.
                let mut resident = partitions.lock()?;
                let written: Vec<EntityRef> = delta
                    .upsert
                    .iter()
                    .filter_map(policy_core::uid_of_record)
                    .collect();
                let mut touched: HashSet<String> = partitions
                    .resident_tenants(&resident, &[written.clone(), delta.remove.clone()].concat());
                let mut shared = EntityDelta::default();
                let mut now_tenants: Vec<EntityRef> = Vec::new();
                for (uid, record) in written.iter().zip(&delta.upsert) {
                    match partitions.stored_tenant(uid)? {
                        Some(t) if t.is_empty() => shared.upsert.push(record.clone()),
                        Some(t) => {
                            touched.insert(t);
                            now_tenants.push(uid.clone());
                        }
                        None => {}
                    }
                }
                partitions.drop_tenants(&mut resident, &self.data, &touched)?;
                let mut data = self.data_mut()?;
                // Removed, and what is a tenant's now but still held as shared (an older copy):
                // out of the shared entities (the tenant loads them as stored).
                shared.remove = delta
                    .remove
                    .iter()
                    .chain(&now_tenants)
                    .filter(|u| data.contains(u))
                    .cloned()
                    .collect();
                data.apply_delta(&shared).map_err(refused)?;
            }
            (EntityChange::Replace(records), None) => {
                // Built beside the current store, as a local replace is.
                let (next, _) = self.loaded(records)?.map_err(refused)?;
                self.swap_in(next)?;
            }
            (EntityChange::Replace(_), Some(partitions)) => {
                let (mut next, _) = self.loaded(&partitions.shared()?)?.map_err(refused)?;
                partitions.size_store(&mut next);
                self.swap_in_cleared(next)?;
            }
        }
        Ok(())
    }

    /// A new store of the version's bundle over `records`, built while the current one goes
    /// on answering.
    fn loaded(
        &self,
        records: &[serde_json::Value],
    ) -> Result<Result<(Engine, DeltaReport), policy_core::EngineError>, PoolError> {
        let mut next = Engine::new(self.data()?.bundle().clone());
        Ok(next.replace_entities(records).map(|report| (next, report)))
    }

    /// Makes `next`, a store of shared entities only, the store, no tenant resident.
    fn swap_in_cleared(&self, next: Engine) -> Result<(), PoolError> {
        match &self.partitions {
            Some(partitions) => {
                let mut resident = partitions.lock()?;
                self.swap_in(next)?;
                partitions.clear(&mut resident);
                Ok(())
            }
            None => self.swap_in(next),
        }
    }

    /// Makes `next` the store; the old one is freed after the lock is released (not while
    /// decisions wait), and its pages go back to the system.
    fn swap_in(&self, next: Engine) -> Result<(), PoolError> {
        let old = std::mem::replace(&mut *self.data_mut()?, next);
        drop(old);
        crate::memory::release_freed();
        Ok(())
    }

    /// Locks a free slot (the semaphore guarantees one), rebuilt if it trapped.
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
        self.revive(&mut worker)?;
        Ok(worker)
    }

    /// Replaces an instance that trapped: it holds only the bundle, so this is quick.
    fn revive(&self, worker: &mut Worker) -> Result<(), PoolError> {
        if worker
            .instance
            .as_ref()
            .is_none_or(GuestInstance::is_poisoned)
        {
            worker.instance = None;
            worker.instance = Some(fresh_instance(
                &self.runtime,
                &self.bundle_json,
                LOAD_DEADLINE,
            )?);
        }
        Ok(())
    }

    /// Runs `op` in the worker's instance: decision operations over the slice of the store
    /// they read, the others (the bundle's tests) on the bundle alone.
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
        if !op.decides_on_slice() {
            return Ok(instance.call(op, input)?);
        }
        let slice = match &self.partitions {
            None => json_api::slice_for(&*self.data()?, op, input),
            Some(partitions) => {
                // Its own statement: the read guard must be gone before tenants load.
                let roots = json_api::roots_for(&*self.data()?, op, input);
                match roots {
                    Ok(roots) => {
                        // Held until packed: no tenant the slice reads is unloaded meanwhile.
                        let _held = self.hold_tenants_for_call(partitions, &roots.refs())?;
                        json_api::slice_of(&*self.data()?, &roots)
                    }
                    Err(body) => Err(body),
                }
            }
        };
        match slice {
            Ok(slice) => Ok(instance.call_on_slice(op, input, &slice)?),
            Err(body) => Ok(GuestAnswer::EngineError(json_api::error_json(&body))),
        }
    }
}

/// The records of `records` that `tenants` finds shared.
fn shared_of(records: &[Value], tenants: &Tenants) -> Vec<Value> {
    records
        .iter()
        .filter(|r| {
            crate::store::entity_key(r)
                .ok()
                .and_then(|k| tenants.by_uid.get(&k))
                .is_none_or(|t| t.is_empty())
        })
        .cloned()
        .collect()
}

fn refused(e: &policy_core::EngineError) -> GuestAnswer {
    GuestAnswer::EngineError(json_api::error_json(&policy_core::wire::ErrorBody::from(e)))
}

/// The delta that puts back what `delta` changes: the entities it replaces or removes as they
/// are (the bundle's own included), and the removal of those it adds.
fn undo_of(data: &Engine, delta: &EntityDelta) -> Result<EntityDelta, policy_core::EngineError> {
    let mut undo = EntityDelta::default();
    let touched = delta
        .upsert
        .iter()
        .filter_map(policy_core::uid_of_record)
        .chain(delta.remove.iter().cloned());
    for uid in touched {
        match data.entity_record(&uid) {
            Some(record) => undo.upsert.push(record?),
            None => undo.remove.push(uid),
        }
    }
    Ok(undo)
}

fn fresh_instance(
    runtime: &GuestRuntime,
    bundle_json: &str,
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
    Ok(instance)
}
