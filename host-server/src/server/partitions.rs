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
use policy_core::{Engine, Reach};
use serde_json::Value;

use super::metrics::TenantMetrics;
use crate::store::{PolicyStore, StoreError, Tenants};

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
    tenants: HashMap<Arc<str>, Tenant>,
    /// The stored tenant of each resident entity that is a tenant's (not the shared ones):
    /// what an unload removes, and which tenants a call reads.
    by_uid: HashMap<EntityRef, Arc<str>>,
    /// Uids a call named that the store does not hold (dangling references): not looked up
    /// again until the next write.
    not_stored: HashSet<EntityRef>,
    clock: u64,
    bytes: u64,
}

struct Tenant {
    /// Its entities as loaded and written since (an unload removes those still its own).
    uids: Vec<EntityRef>,
    bytes: u64,
    last_used: u64,
}

/// About how many entities a budget of `budget` bytes holds (the store counts a few hundred
/// bytes an entity), capped at 2 million (a budget of about 1 GiB). The maps keyed by entity
/// are sized for that many up front: grown on demand, each doubling rehashes every resident
/// entity under the lock, a stall of a quarter of a second at a few hundred thousand
/// (measured: the 24th, 48th, 96th and 192nd tenant's first decision). Only their control
/// bytes are touched until used.
pub fn expected_entities(budget: u64) -> usize {
    const ENTITY_BYTES: u64 = 512;
    const MAX: u64 = 2_000_000;
    usize::try_from((budget / ENTITY_BYTES).min(MAX)).unwrap_or(0)
}

impl Resident {
    fn sized(budget: u64) -> Self {
        Self {
            by_uid: HashMap::with_capacity(expected_entities(budget)),
            ..Self::default()
        }
    }

    fn tenant_key(&self, name: &str) -> Arc<str> {
        self.tenants
            .get_key_value(name)
            .map(|(k, _)| k.clone())
            .unwrap_or_else(|| Arc::from(name))
    }
}

impl Partitions {
    /// Partitions over `store`'s rows, none resident yet (the shared entities are loaded by the
    /// caller with the version).
    pub fn new(store: Arc<dyn PolicyStore>, budget: u64, metrics: TenantMetrics) -> Self {
        metrics.loaded.set(0);
        metrics.bytes.set(0);
        let resident = Resident::sized(budget);
        Self {
            store,
            budget,
            metrics,
            resident: Mutex::new(resident),
        }
    }

    /// Sizes a version's entity store for what the budget holds (see [`expected_entities`]).
    pub fn size_store(&self, data: &mut Engine) {
        data.reserve_entities(expected_entities(self.budget));
    }

    pub fn lock(&self) -> Result<MutexGuard<'_, Resident>, PartitionError> {
        self.resident.lock().map_err(|_| PartitionError::Poisoned)
    }

    /// Makes resident every stored entity a call rooted at `refs` reads: from the roots, the
    /// entities they reference and their parents, transitively (`Engine::reach`); a uid the
    /// store holds but `data` does not brings its whole tenant, and the walk goes on from
    /// there. Then the tenants read are marked used and the least recently used others
    /// unloaded while the resident ones take more than the budget. Complete whatever the
    /// tenants' boundaries: the tenant rule keeps them tight, this does not rely on it.
    pub fn ensure_locked(
        &self,
        resident: &mut Resident,
        data: &RwLock<Engine>,
        refs: &[EntityRef],
    ) -> Result<(), PartitionError> {
        // Until a round brings nothing new: each loads a tenant not resident or adds a
        // shared row that was absent, so this ends. The last round's walk changed nothing: it
        // is what the slice will read.
        let reach = loop {
            let reach = reach_of(data, refs)?;
            let mut progressed = false;
            let mut to_load: HashSet<String> = HashSet::new();
            for uid in &reach.absent {
                if resident.not_stored.contains(uid) {
                    continue;
                }
                let key = uid.to_string();
                match self.store.tenant_of(&key)? {
                    Some(t) if !t.is_empty() && !resident.tenants.contains_key(t.as_str()) => {
                        to_load.insert(t);
                    }
                    // A shared row this store does not hold yet (stored since it started, as
                    // shared or not yet assigned): it joins the shared entities.
                    Some(t) if t.is_empty() => match self.store.entity_record(&key)? {
                        Some(record) => {
                            data.write()
                                .map_err(|_| PartitionError::Poisoned)?
                                .insert_partition(&[record])?;
                            progressed = true;
                        }
                        None => {
                            resident.not_stored.insert(uid.clone());
                        }
                    },
                    // Not stored, or stored where this store should already hold it (a row
                    // another replica wrote since: its replay comes).
                    _ => {
                        resident.not_stored.insert(uid.clone());
                    }
                }
            }
            for tenant in to_load {
                self.load(resident, data, &tenant)?;
                progressed = true;
            }
            if !progressed {
                break reach;
            }
        };
        let wanted = mark_used(resident, &reach);
        self.evict_beyond_budget(resident, data, &wanted)
    }

    /// Whether everything stored that a call rooted at `refs` reaches is resident already
    /// (nothing absent but what the store does not hold): then its tenants are marked used
    /// and nothing else is done.
    pub fn resident_already(
        &self,
        resident: &mut Resident,
        data: &RwLock<Engine>,
        refs: &[EntityRef],
    ) -> Result<bool, PartitionError> {
        let reach = reach_of(data, refs)?;
        if !reach.absent.iter().all(|u| resident.not_stored.contains(u)) {
            return Ok(false);
        }
        mark_used(resident, &reach);
        Ok(true)
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
        let bytes = {
            let mut data = data.write().map_err(|_| PartitionError::Poisoned)?;
            let before = data.entity_bytes();
            data.insert_partition(&records)?;
            data.entity_bytes().saturating_sub(before) as u64
        };
        drop(records);
        let key: Arc<str> = Arc::from(tenant);
        for uid in &uids {
            resident.by_uid.insert(uid.clone(), key.clone());
        }
        resident.bytes += bytes;
        resident.tenants.insert(
            key,
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

    /// Unloads `name`: removes from `data` its entities that are still its own (one removed
    /// since, or written again as another tenant's or shared, stays).
    fn unload(
        &self,
        resident: &mut Resident,
        data: &RwLock<Engine>,
        name: &str,
    ) -> Result<(), PartitionError> {
        let Some(tenant) = resident.tenants.remove(name) else {
            return Ok(());
        };
        let own: Vec<EntityRef> = tenant
            .uids
            .into_iter()
            .filter(|uid| resident.by_uid.get(uid).is_some_and(|t| &**t == name))
            .collect();
        for uid in &own {
            resident.by_uid.remove(uid);
        }
        // Uncounted with the tenant's entry, whatever the removal below does.
        resident.bytes = resident.bytes.saturating_sub(tenant.bytes);
        data.write()
            .map_err(|_| PartitionError::Poisoned)?
            .remove_partition(&own)?;
        Ok(())
    }

    fn evict_beyond_budget(
        &self,
        resident: &mut Resident,
        data: &RwLock<Engine>,
        keep: &HashSet<Arc<str>>,
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
            self.unload(resident, data, &oldest)?;
            self.metrics.evictions.inc();
            evicted += 1;
        }
        // The freed pages are not handed back here: the next load reuses them (trimming a
        // large heap on every unload cost tens of milliseconds a call).
        if evicted > 0 {
            self.publish(resident);
        }
        Ok(())
    }

    /// Records a write (stored, and applied to `data`, whose lock the caller no longer holds):
    /// each upserted entity is its tenant's or shared; removed ones are nobody's; a tenant not
    /// resident (a firm just created, or one whose rows were reached only through what this
    /// write adds) is loaded whole from the store, so no tenant is ever resident in part.
    pub fn written(
        &self,
        resident: &mut Resident,
        data: &RwLock<Engine>,
        upserted: &[EntityRef],
        removed: &[EntityRef],
        tenants: &Tenants,
        grown: i64,
    ) -> Result<(), PartitionError> {
        // What the write added to (or took from) the store is its tenant's: counted against the
        // budget until the tenant is unloaded (the write's first entity resident as a tenant's,
        // or the first removed one).
        let owner = upserted
            .iter()
            .chain(removed)
            .find_map(|uid| resident.by_uid.get(uid).cloned());
        if let Some(tenant) = owner.and_then(|key| resident.tenants.get_mut(&key)) {
            tenant.bytes = tenant.bytes.saturating_add_signed(grown);
            resident.bytes = resident.bytes.saturating_add_signed(grown);
        }
        for uid in removed {
            resident.by_uid.remove(uid);
        }
        resident.not_stored.clear();
        let mut missing: HashSet<&str> = HashSet::new();
        for uid in upserted {
            match tenants.by_uid.get(&uid.to_string()) {
                Some(tenant) if !tenant.is_empty() => {
                    if resident.by_uid.get(uid).is_some_and(|t| **t == **tenant) {
                        continue;
                    }
                    if !resident.tenants.contains_key(tenant.as_str()) {
                        missing.insert(tenant);
                        continue;
                    }
                    let key = resident.tenant_key(tenant);
                    if let Some(t) = resident.tenants.get_mut(&key) {
                        t.uids.push(uid.clone());
                    }
                    resident.by_uid.insert(uid.clone(), key);
                }
                _ => {
                    resident.by_uid.remove(uid);
                }
            }
        }
        for tenant in missing {
            self.load(resident, data, tenant)?;
        }
        self.publish(resident);
        Ok(())
    }

    /// The resident tenants of `uids` (a replayed write's: they are unloaded).
    pub fn resident_tenants(&self, resident: &Resident, uids: &[EntityRef]) -> HashSet<String> {
        uids.iter()
            .filter_map(|u| resident.by_uid.get(u))
            .map(|t| t.to_string())
            .collect()
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
            self.unload(resident, data, name)?;
        }
        resident.not_stored.clear();
        self.publish(resident);
        Ok(())
    }

    /// Forgets every resident tenant (the store was replaced by one of shared entities only).
    pub fn clear(&self, resident: &mut Resident) {
        *resident = Resident::sized(self.budget);
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

/// What a call rooted at `refs` reads of `data` (`Engine::reach`).
fn reach_of(data: &RwLock<Engine>, refs: &[EntityRef]) -> Result<Reach, PartitionError> {
    Ok(data
        .read()
        .map_err(|_| PartitionError::Poisoned)?
        .reach(refs))
}

/// Marks the tenants `reach` reads as just used; answers them (kept by the next unloads).
fn mark_used(resident: &mut Resident, reach: &Reach) -> HashSet<Arc<str>> {
    let tenants: HashSet<Arc<str>> = reach
        .present
        .iter()
        .filter_map(|uid| resident.by_uid.get(uid).cloned())
        .collect();
    resident.clock += 1;
    let now = resident.clock;
    for tenant in &tenants {
        if let Some(t) = resident.tenants.get_mut(tenant) {
            t.last_used = now;
        }
    }
    tenants
}

/// How the store names the firm model its rows' tenants were assigned under (its JSON; ''
/// for plain Cedar).
pub fn model_key(model: Option<&policy_core::firm_model::FirmModel>) -> String {
    model
        .and_then(|m| serde_json::to_string(m).ok())
        .unwrap_or_default()
}

/// The tenants of `uids` in `engine`, keyed as the store keeps them.
pub fn tenants_in(engine: &Engine, uids: Vec<EntityRef>) -> Tenants {
    let model = model_key(engine.firm_model());
    let found = engine.tenants_of(&uids);
    Tenants {
        model,
        version: engine.digest().to_string(),
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
