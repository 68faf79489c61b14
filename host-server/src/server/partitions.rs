//! Tenants loaded on demand, within a memory budget (`--entity-memory`).
//!
//! Under a declared firm model every stored entity row carries its tenant: the firm it belongs
//! to, or '' when shared (`policy_core::Engine::tenants_of`; assigned when written, and for a
//! whole store when partitions are first used). The version's entity store then holds the
//! shared entities always and each tenant only from its first use: a call names entities (its
//! principal, resource, context...), the tenants of those not resident are looked up in the
//! store, loaded, and kept while used. What an entity reaches is its tenant's or shared (the
//! tenant rule refuses anything else at write time), so a decision on the resident entities is
//! the decision on the whole store. Beyond the budget the least recently used tenants are
//! unloaded, never one the current call needs.
//!
//! Lock order: the resident set's mutex, then the entity store's lock; a write holds both for
//! its whole apply-and-persist, so no tenant it reads is unloaded under it.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex, MutexGuard, RwLock};
use std::time::Instant;

use policy_core::wire::EntityRef;
use policy_core::Engine;
use serde_json::Value;

use super::metrics::TenantMetrics;
use crate::store::{PolicyStore, StoreError, Tenants};

/// What a tenant is counted as when the allocator cannot be read: a conservative entity size.
const ESTIMATED_ENTITY_BYTES: u64 = 2_048;

#[derive(Debug, thiserror::Error)]
pub enum PartitionError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("a stored tenant does not load: {0}")]
    Engine(#[from] policy_core::EngineError),
    #[error("the entity store's lock is poisoned")]
    Poisoned,
}

/// The tenants resident in one version's entity store.
pub struct Partitions {
    store: Arc<dyn PolicyStore>,
    budget: u64,
    metrics: TenantMetrics,
    resident: Mutex<Resident>,
}

#[derive(Default)]
pub struct Resident {
    tenants: HashMap<String, Tenant>,
    clock: u64,
    bytes: u64,
}

struct Tenant {
    /// Its entities in the store (those loaded and those written since); unloading removes
    /// the ones still there.
    uids: Vec<EntityRef>,
    bytes: u64,
    last_used: u64,
}

impl Partitions {
    /// Partitions over `store`'s rows, none resident yet (the shared entities are loaded by the
    /// caller with the version).
    pub fn new(store: Arc<dyn PolicyStore>, budget: u64, metrics: TenantMetrics) -> Self {
        metrics.loaded.set(0);
        metrics.bytes.set(0);
        Self {
            store,
            budget,
            metrics,
            resident: Mutex::new(Resident::default()),
        }
    }

    pub fn lock(&self) -> Result<MutexGuard<'_, Resident>, PartitionError> {
        self.resident.lock().map_err(|_| PartitionError::Poisoned)
    }

    /// Makes the tenants of `refs` resident in `data` (see [`Self::ensure_locked`]).
    pub fn ensure(&self, data: &RwLock<Engine>, refs: &[EntityRef]) -> Result<(), PartitionError> {
        let mut resident = self.lock()?;
        self.ensure_locked(&mut resident, data, refs)
    }

    /// Makes every tenant one of `refs` belongs to resident in `data`: a ref the store holds
    /// but `data` does not is looked up (its row's tenant) and its tenant loaded. The tenants
    /// named are marked used; then the least recently used others are unloaded while the
    /// resident ones take more than the budget.
    pub fn ensure_locked(
        &self,
        resident: &mut Resident,
        data: &RwLock<Engine>,
        refs: &[EntityRef],
    ) -> Result<(), PartitionError> {
        let (absent, mut wanted) = {
            let engine = data.read().map_err(|_| PartitionError::Poisoned)?;
            let (present, absent): (Vec<EntityRef>, Vec<EntityRef>) = refs
                .iter()
                .cloned()
                .partition(|r| engine.entity(r).is_some());
            let wanted: HashSet<String> = engine
                .tenants_of(&present)
                .into_iter()
                .flatten()
                .map(|t| t.to_string())
                .collect();
            (absent, wanted)
        };
        for r in &absent {
            if let Some(tenant) = self.store.tenant_of(&r.to_string())? {
                if !tenant.is_empty() {
                    wanted.insert(tenant);
                }
            }
        }
        for tenant in &wanted {
            if !resident.tenants.contains_key(tenant) {
                self.load(resident, data, tenant)?;
            }
        }
        resident.clock += 1;
        let now = resident.clock;
        for tenant in &wanted {
            if let Some(t) = resident.tenants.get_mut(tenant) {
                t.last_used = now;
            }
        }
        self.evict_beyond_budget(resident, data, &wanted)
    }

    fn load(
        &self,
        resident: &mut Resident,
        data: &RwLock<Engine>,
        tenant: &str,
    ) -> Result<(), PartitionError> {
        let started = Instant::now();
        let (records, _) = self.store.partition(tenant)?;
        let uids: Vec<EntityRef> = records
            .iter()
            .filter_map(policy_core::uid_of_record)
            .collect();
        let before = crate::memory::allocated();
        data.write()
            .map_err(|_| PartitionError::Poisoned)?
            .insert_partition(&records)?;
        let after = crate::memory::allocated();
        let bytes = match (before, after) {
            (Some(b), Some(a)) if a > b => a - b,
            _ => uids.len() as u64 * ESTIMATED_ENTITY_BYTES,
        };
        drop(records);
        resident.bytes += bytes;
        resident.tenants.insert(
            tenant.to_string(),
            Tenant {
                uids,
                bytes,
                last_used: resident.clock,
            },
        );
        self.metrics.loads.inc();
        self.metrics
            .load_seconds
            .observe(started.elapsed().as_secs_f64());
        self.publish(resident);
        tracing::debug!(tenant, bytes, "tenant loaded");
        Ok(())
    }

    fn evict_beyond_budget(
        &self,
        resident: &mut Resident,
        data: &RwLock<Engine>,
        keep: &HashSet<String>,
    ) -> Result<(), PartitionError> {
        let mut evicted = 0;
        while resident.bytes > self.budget {
            let Some(oldest) = resident
                .tenants
                .iter()
                .filter(|(name, _)| !keep.contains(*name))
                .min_by_key(|(_, t)| t.last_used)
                .map(|(name, _)| name.clone())
            else {
                break;
            };
            if let Some(tenant) = resident.tenants.remove(&oldest) {
                data.write()
                    .map_err(|_| PartitionError::Poisoned)?
                    .remove_partition(&tenant.uids)?;
                resident.bytes = resident.bytes.saturating_sub(tenant.bytes);
                self.metrics.evictions.inc();
                evicted += 1;
            }
        }
        if evicted > 0 {
            crate::memory::release_freed();
            self.publish(resident);
        }
        Ok(())
    }

    /// Records what a write added: new entities join their (resident) tenant's list, a new
    /// tenant (a firm just created) becomes resident.
    pub fn written(&self, resident: &mut Resident, added: &[EntityRef], tenants: &Tenants) {
        for uid in added {
            let Some(tenant) = tenants.by_uid.get(&uid.to_string()) else {
                continue;
            };
            if tenant.is_empty() {
                continue;
            }
            let clock = resident.clock;
            resident
                .tenants
                .entry(tenant.clone())
                .or_insert_with(|| Tenant {
                    uids: Vec::new(),
                    bytes: 0,
                    last_used: clock,
                })
                .uids
                .push(uid.clone());
        }
        self.publish(resident);
    }

    /// Unloads the resident tenants among `tenants` (another replica changed them: they load
    /// again, as stored, on next use).
    pub fn drop_tenants(
        &self,
        resident: &mut Resident,
        data: &RwLock<Engine>,
        tenants: &HashSet<String>,
    ) -> Result<(), PartitionError> {
        for name in tenants {
            if let Some(tenant) = resident.tenants.remove(name) {
                data.write()
                    .map_err(|_| PartitionError::Poisoned)?
                    .remove_partition(&tenant.uids)?;
                resident.bytes = resident.bytes.saturating_sub(tenant.bytes);
            }
        }
        self.publish(resident);
        Ok(())
    }

    /// Forgets every resident tenant (the store was replaced by one of shared entities only).
    pub fn clear(&self, resident: &mut Resident) {
        *resident = Resident::default();
        self.publish(resident);
    }

    /// The tenant of the row `uid` in the store ('' shared; `None`: no such row).
    pub fn stored_tenant(&self, uid: &EntityRef) -> Result<Option<String>, StoreError> {
        self.store.tenant_of(&uid.to_string())
    }

    /// The shared entities as stored (what a version's store starts with).
    pub fn shared(&self) -> Result<Vec<Value>, StoreError> {
        Ok(self.store.partition("")?.0)
    }

    fn publish(&self, resident: &Resident) {
        self.metrics
            .loaded
            .set(i64::try_from(resident.tenants.len()).unwrap_or(i64::MAX));
        self.metrics
            .bytes
            .set(i64::try_from(resident.bytes).unwrap_or(i64::MAX));
    }
}

/// The tenants of `uids` in `engine`, keyed as the store keeps them.
pub fn tenants_in(engine: &Engine, uids: Vec<EntityRef>) -> Tenants {
    let model = engine
        .firm_model()
        .and_then(|m| serde_json::to_string(m).ok())
        .unwrap_or_default();
    let found = engine.tenants_of(&uids);
    Tenants {
        model,
        by_uid: uids
            .iter()
            .zip(found)
            .map(|(uid, t)| {
                (
                    uid.to_string(),
                    t.map(|t| t.to_string()).unwrap_or_default(),
                )
            })
            .collect(),
    }
}

/// Every entity reference in a JSON value: `{"type", "id"}` objects and `__entity` wrappers
/// (record uids, parents, attribute values, a directory operation's fields).
pub fn refs_in(value: &Value, out: &mut Vec<EntityRef>) {
    match value {
        Value::Object(map) => {
            let v = map.get("__entity").unwrap_or(value);
            if let (Some(Value::String(t)), Some(Value::String(id))) = (v.get("type"), v.get("id"))
            {
                out.push(EntityRef::new(t.as_str(), id.as_str()));
            }
            map.values().for_each(|v| refs_in(v, out));
        }
        Value::Array(items) => items.iter().for_each(|v| refs_in(v, out)),
        _ => {}
    }
}
