//! The engine's entity store: every entity once, its transitive ancestors kept up to date
//! incrementally, and a per-request *slice* handed to Cedar.
//!
//! Why not one `cedar_policy::Entities`? Its upsert and remove walk every entity and recompute
//! the closure (seconds at 250k entities), and it offers no way to mutate in place. Here a delta
//! touches only the changed entities and their descendants, and a decision evaluates on the
//! entities reachable from the request (principal, action, resource, context, and everything
//! their attributes and tags reference, transitively). Cedar can only look at entities it reaches
//! through those references, so the slice answers exactly as the whole store would; the
//! differential tests and the benchmark check this against plain Cedar.
//!
//! Invariant: after any delta the store equals what a full load of the resulting records gives.
//! Removing an entity does not rewrite other entities' parent lists (as a reload would not).

use std::collections::{HashMap, HashSet};

use rustc_hash::{FxHashMap, FxHashSet};
use std::sync::Arc;

use cedar_policy::Entity;
use cedar_policy_core::ast::{
    Entity as CoreEntity, EntityUID, Literal, PartialValue, Value, ValueKind,
};
use cedar_policy_core::entities::{Entities as CoreEntities, NoEntitiesSchema, TCComputation};
use cedar_policy_core::extensions::Extensions;
use ref_cast::RefCast;

use crate::error::EngineError;

/// Deepest `parents` chain accepted; bounds recursion (and stack use in wasm).
const MAX_DEPTH: usize = 512;

/// Views a core store as the public `cedar_policy::Entities` the authorizer takes.
pub(crate) fn as_cedar(core: &CoreEntities) -> &cedar_policy::Entities {
    cedar_policy::Entities::ref_cast(core)
}

#[derive(Debug, Clone)]
struct Stored {
    entity: Arc<CoreEntity>,
    /// Entities named in attributes and tags: what evaluation may dereference next.
    refs: Arc<[EntityUID]>,
    /// Given by the host as data (not one of the bundle's own entities).
    data: bool,
}

/// An entity and the entities its attributes and tags name.
#[derive(Clone, Copy)]
pub(crate) struct Node<'s> {
    pub(crate) entity: &'s CoreEntity,
    pub(crate) refs: &'s [EntityUID],
}

#[derive(Debug, Clone, Default)]
pub(crate) struct EntityStore {
    // Fx hashing: these maps are probed a few dozen times per decision; SipHash's DoS resistance
    // buys nothing for keys that came through schema validation, and costs a quarter of a decision.
    entities: FxHashMap<EntityUID, Stored>,
    /// Direct parent → children, to find descendants without scanning the store.
    children: FxHashMap<EntityUID, FxHashSet<EntityUID>>,
}

fn collect_value_refs(value: &Value, out: &mut Vec<EntityUID>) {
    match &value.value {
        ValueKind::Lit(Literal::EntityUID(uid)) => out.push(uid.as_ref().clone()),
        ValueKind::Lit(_) | ValueKind::ExtensionValue(_) => {}
        ValueKind::Set(set) => set
            .authoritative
            .iter()
            .for_each(|v| collect_value_refs(v, out)),
        ValueKind::Record(rec) => rec.values().for_each(|v| collect_value_refs(v, out)),
    }
}

pub(crate) fn refs_of(entity: &CoreEntity) -> Arc<[EntityUID]> {
    let mut out = Vec::new();
    for (_, v) in entity.attrs().chain(entity.tags()) {
        if let PartialValue::Value(v) = v {
            collect_value_refs(v, &mut out);
        }
    }
    out.sort();
    out.dedup();
    out.into()
}

/// Every ancestor of `uid` among the stored entities (memoized in `closures`; `path` is the
/// chain being followed, to detect cycles and bound depth).
fn closure_of(
    uid: &EntityUID,
    entities: &FxHashMap<EntityUID, Stored>,
    closures: &mut FxHashMap<EntityUID, Arc<FxHashSet<EntityUID>>>,
    path: &mut Vec<EntityUID>,
) -> Result<Arc<FxHashSet<EntityUID>>, EngineError> {
    if let Some(done) = closures.get(uid) {
        return Ok(done.clone());
    }
    let Some(stored) = entities.get(uid) else {
        // A parent that is not stored has no known ancestors.
        return Ok(Arc::default());
    };
    if path.contains(uid) {
        return Err(cycle_error(uid));
    }
    if path.len() >= MAX_DEPTH {
        return Err(EngineError::EntityInvalid(format!(
            "{uid}: the entity hierarchy is deeper than {MAX_DEPTH} levels"
        )));
    }
    path.push(uid.clone());
    let mut out = FxHashSet::default();
    for parent in stored.entity.parents() {
        if parent == uid {
            return Err(cycle_error(uid));
        }
        let above = closure_of(parent, entities, closures, path)?;
        out.extend(above.iter().cloned());
        out.insert(parent.clone());
    }
    path.pop();
    let out = Arc::new(out);
    closures.insert(uid.clone(), out.clone());
    Ok(out)
}

fn cycle_error(uid: &EntityUID) -> EngineError {
    EngineError::EntityCycle(format!(
        "{uid} is its own ancestor: the `parents` of these entities form a cycle"
    ))
}

impl EntityStore {
    /// A store of `entities`; a later entity with the same uid replaces an earlier one.
    ///
    /// A load of everything at once, so not through [`Self::apply`]'s incremental machinery:
    /// the closure of each entity that is someone's parent is computed once (memoized), then
    /// every entity's ancestors are the union of its parents' closures.
    pub(crate) fn build(
        statics: Vec<CoreEntity>,
        data: Vec<CoreEntity>,
    ) -> Result<Self, EngineError> {
        let mut store = Self::default();
        store.entities.reserve(statics.len() + data.len());
        for (entities, data) in [(statics, false), (data, true)] {
            for mut entity in entities {
                entity.remove_all_indirect_ancestors();
                store.entities.insert(
                    entity.uid().clone(),
                    Stored {
                        refs: refs_of(&entity),
                        entity: Arc::new(entity),
                        data,
                    },
                );
            }
        }
        let mut closures: FxHashMap<EntityUID, Arc<FxHashSet<EntityUID>>> = FxHashMap::default();
        let mut path = Vec::new();
        for stored in store.entities.values() {
            for parent in stored.entity.parents() {
                closure_of(parent, &store.entities, &mut closures, &mut path)?;
            }
        }
        let Self { entities, children } = &mut store;
        for (uid, stored) in entities.iter_mut() {
            // Each `Arc` was made just above and is not shared yet: this never clones.
            let entity = Arc::make_mut(&mut stored.entity);
            let mut indirect: Vec<EntityUID> = Vec::new();
            for parent in entity.parents() {
                if let Some(above) = closures.get(parent) {
                    indirect.extend(above.iter().cloned());
                }
                children
                    .entry(parent.clone())
                    .or_default()
                    .insert(uid.clone());
            }
            for ancestor in indirect {
                entity.add_indirect_ancestor(ancestor);
            }
        }
        Ok(store)
    }

    /// A store of entities whose ancestor sets are already closed (a slice another store
    /// picked): nothing is recomputed, and it is only read (no children index).
    pub(crate) fn from_closed(entities: Vec<Arc<CoreEntity>>) -> Self {
        let entities = entities
            .into_iter()
            .map(|entity| {
                let refs = refs_of(&entity);
                (
                    entity.uid().clone(),
                    Stored {
                        entity,
                        refs,
                        data: true,
                    },
                )
            })
            .collect();
        Self {
            entities,
            children: FxHashMap::default(),
        }
    }

    /// The data entities (not the bundle's own).
    pub(crate) fn data_entities(&self) -> impl Iterator<Item = &Entity> {
        self.entities
            .values()
            .filter(|s| s.data)
            .map(|s| Entity::ref_cast(s.entity.as_ref()))
    }

    /// The entities reachable from `roots` (see [`Self::slice`]), as they are stored.
    pub(crate) fn pick<'a>(
        &'a self,
        roots: impl IntoIterator<Item = &'a EntityUID>,
    ) -> Vec<Arc<CoreEntity>> {
        self.reachable(roots.into_iter().collect(), &FxHashSet::default())
    }

    pub(crate) fn len(&self) -> usize {
        self.entities.len()
    }

    /// The entities whose direct parents include `uid`.
    pub(crate) fn children_of(&self, uid: &EntityUID) -> Vec<EntityUID> {
        self.children
            .get(uid)
            .map(|kids| kids.iter().cloned().collect())
            .unwrap_or_default()
    }

    pub(crate) fn get(&self, uid: &EntityUID) -> Option<&Entity> {
        self.entities
            .get(uid)
            .map(|s| Entity::ref_cast(s.entity.as_ref()))
    }

    /// A stored entity with the entities its attributes and tags name (kept with it).
    pub(crate) fn node(&self, uid: &EntityUID) -> Option<Node<'_>> {
        self.entities.get(uid).map(|s| Node {
            entity: &s.entity,
            refs: &s.refs,
        })
    }

    /// Every stored entity as a [`Node`].
    pub(crate) fn nodes(&self) -> impl Iterator<Item = Node<'_>> {
        self.entities.values().map(|s| Node {
            entity: &s.entity,
            refs: &s.refs,
        })
    }

    pub(crate) fn iter(&self) -> impl Iterator<Item = &Entity> {
        self.entities
            .values()
            .map(|s| Entity::ref_cast(s.entity.as_ref()))
    }

    /// Removes `remove`, then inserts or replaces `upsert` (entities whose `parents` are
    /// direct parents; indirect ancestors are computed here), marked as `data` or the bundle's.
    /// All-or-nothing: on error (a cycle) the store is unchanged.
    pub(crate) fn apply(
        &mut self,
        remove: &[EntityUID],
        upsert: Vec<CoreEntity>,
        data: bool,
    ) -> Result<(), EngineError> {
        let mut incoming: HashMap<EntityUID, CoreEntity> = HashMap::with_capacity(upsert.len());
        for e in upsert {
            incoming.insert(e.uid().clone(), e);
        }
        let removed: HashSet<&EntityUID> = remove
            .iter()
            .filter(|u| !incoming.contains_key(*u))
            .collect();

        // Every entity whose ancestor set may change: the upserted ones, and the descendants of
        // anything upserted or removed (through old edges and the new ones).
        let mut new_children: HashMap<&EntityUID, Vec<&EntityUID>> = HashMap::new();
        for (uid, e) in &incoming {
            for p in e.parents() {
                new_children.entry(p).or_default().push(uid);
            }
        }
        let mut affected: HashSet<EntityUID> = HashSet::new();
        let mut queue: Vec<EntityUID> = incoming
            .keys()
            .cloned()
            .chain(removed.iter().map(|u| (*u).clone()))
            .collect();
        while let Some(uid) = queue.pop() {
            if !affected.insert(uid.clone()) {
                continue;
            }
            if let Some(kids) = self.children.get(&uid) {
                queue.extend(kids.iter().cloned());
            }
            if let Some(kids) = new_children.get(&uid) {
                queue.extend(kids.iter().map(|k| (*k).clone()));
            }
        }

        // Recompute ancestors of the affected entities, parents first, detecting cycles.
        let mut computed: HashMap<EntityUID, HashSet<EntityUID>> = HashMap::new();
        for uid in &affected {
            if removed.contains(uid) {
                continue;
            }
            self.ancestors_of(
                uid,
                &incoming,
                &removed,
                &affected,
                &mut computed,
                &mut Vec::new(),
            )?;
        }

        // Nothing below can fail: commit.
        for uid in &removed {
            if let Some(old) = self.entities.remove(*uid) {
                self.unlink(uid, &old.entity);
            }
        }
        for (uid, ancestors) in computed {
            let mut is_data = data;
            let mut entity = match incoming.remove(&uid) {
                Some(e) => {
                    if let Some(old) = self.entities.get(&uid).map(|s| s.entity.clone()) {
                        self.unlink(&uid, &old);
                    }
                    for p in e.parents() {
                        self.children
                            .entry(p.clone())
                            .or_default()
                            .insert(uid.clone());
                    }
                    e
                }
                None => match self.entities.get(&uid) {
                    Some(s) => {
                        is_data = s.data;
                        s.entity.as_ref().clone()
                    }
                    None => continue,
                },
            };
            entity.remove_all_indirect_ancestors();
            let parents: HashSet<&EntityUID> = entity.parents().collect();
            let indirect: Vec<EntityUID> = ancestors
                .into_iter()
                .filter(|a| !parents.contains(a))
                .collect();
            for a in indirect {
                entity.add_indirect_ancestor(a);
            }
            let refs = refs_of(&entity);
            self.entities.insert(
                uid,
                Stored {
                    entity: Arc::new(entity),
                    refs,
                    data: is_data,
                },
            );
        }
        Ok(())
    }

    fn unlink(&mut self, uid: &EntityUID, old: &CoreEntity) {
        for p in old.parents() {
            if let Some(kids) = self.children.get_mut(p) {
                kids.remove(uid);
                if kids.is_empty() {
                    self.children.remove(p);
                }
            }
        }
    }

    /// Ancestors of `uid` after the pending change (memoized in `computed`).
    fn ancestors_of(
        &self,
        uid: &EntityUID,
        incoming: &HashMap<EntityUID, CoreEntity>,
        removed: &HashSet<&EntityUID>,
        affected: &HashSet<EntityUID>,
        computed: &mut HashMap<EntityUID, HashSet<EntityUID>>,
        path: &mut Vec<EntityUID>,
    ) -> Result<HashSet<EntityUID>, EngineError> {
        if let Some(done) = computed.get(uid) {
            return Ok(done.clone());
        }
        if removed.contains(uid) {
            return Ok(HashSet::new());
        }
        if !affected.contains(uid) {
            // Unchanged entity: its stored closure is still right.
            return Ok(self
                .entities
                .get(uid)
                .map(|s| s.entity.ancestors().cloned().collect())
                .unwrap_or_default());
        }
        if path.contains(uid) {
            return Err(cycle_error(uid));
        }
        if path.len() >= MAX_DEPTH {
            return Err(EngineError::EntityInvalid(format!(
                "{uid}: the entity hierarchy is deeper than {MAX_DEPTH} levels"
            )));
        }
        let parents: Vec<EntityUID> = match incoming.get(uid) {
            Some(e) => e.parents().cloned().collect(),
            None => match self.entities.get(uid) {
                Some(s) => s.entity.parents().cloned().collect(),
                None => Vec::new(),
            },
        };
        path.push(uid.clone());
        let mut out = HashSet::new();
        for p in parents {
            if &p == uid {
                path.pop();
                return Err(cycle_error(uid));
            }
            let above = self.ancestors_of(&p, incoming, removed, affected, computed, path)?;
            if above.contains(uid) {
                path.pop();
                return Err(cycle_error(uid));
            }
            out.extend(above);
            out.insert(p);
        }
        path.pop();
        computed.insert(uid.clone(), out.clone());
        Ok(out)
    }

    /// The entities reachable from `roots` through attribute and tag references, as a Cedar
    /// store. Evaluation of a request rooted there can only touch these.
    /// (Returned as Cedar's core store; `as_cedar` views it as the public type.)
    pub(crate) fn slice<'a>(
        &self,
        roots: impl IntoIterator<Item = &'a EntityUID>,
    ) -> Result<CoreEntities, EngineError> {
        let picked = self.reachable(roots.into_iter().collect(), &FxHashSet::default());
        CoreEntities::new()
            .add_entities(
                picked,
                None::<&NoEntitiesSchema>,
                TCComputation::AssumeAlreadyComputed,
                Extensions::all_available(),
            )
            .map_err(|e| EngineError::EntityInvalid(e.to_string()))
    }

    /// A slice plus entities given for one call only (they replace stored entities of the same
    /// uid for this call). Their ancestors are closed over the stored ancestors of their parents;
    /// stored descendants of a replaced entity keep the ancestry they have in the store.
    pub(crate) fn slice_with<'a>(
        &self,
        roots: impl IntoIterator<Item = &'a EntityUID>,
        extras: Vec<CoreEntity>,
    ) -> Result<CoreEntities, EngineError> {
        let replaced: FxHashSet<EntityUID> = extras.iter().map(|e| e.uid().clone()).collect();
        let mut extra_roots: Vec<EntityUID> = Vec::new();
        for entity in &extras {
            extra_roots.extend(entity.ancestors().cloned());
            extra_roots.extend(refs_of(entity).iter().cloned());
        }
        let mut queue: Vec<&EntityUID> = roots.into_iter().collect();
        queue.extend(extra_roots.iter());
        let mut picked = self.reachable(queue, &replaced);
        picked.extend(extras.into_iter().map(Arc::new));
        CoreEntities::new()
            .add_entities(
                picked,
                None::<&NoEntitiesSchema>,
                TCComputation::ComputeNow,
                Extensions::all_available(),
            )
            .map_err(|e| EngineError::EntityInvalid(e.to_string()))
    }

    fn reachable<'q>(
        &'q self,
        mut queue: Vec<&'q EntityUID>,
        skip: &FxHashSet<EntityUID>,
    ) -> Vec<Arc<CoreEntity>> {
        let mut seen: FxHashSet<&EntityUID> = FxHashSet::default();
        let mut picked: Vec<Arc<CoreEntity>> = Vec::new();
        while let Some(uid) = queue.pop() {
            if !seen.insert(uid) || skip.contains(uid) {
                continue;
            }
            if let Some(s) = self.entities.get(uid) {
                picked.push(s.entity.clone());
                queue.extend(s.refs.iter());
            }
        }
        picked
    }
}
