//! The engine's entity store: every entity once, compactly, its transitive ancestors kept up to
//! date incrementally, and a per-request *slice* handed to Cedar.
//!
//! Why not one `cedar_policy::Entities`? Its upsert and remove walk every entity and recompute
//! the closure (seconds at 250k entities), and it offers no way to mutate in place. Here a delta
//! touches only the changed entities and their descendants, and a decision evaluates on the
//! entities reachable from the request (principal, action, resource, context, and everything
//! their attributes and tags reference, transitively). Cedar can only look at entities it reaches
//! through those references, so the slice answers exactly as the whole store would; the
//! differential tests and the benchmark check this against plain Cedar.
//!
//! Why not Cedar's `Entity` values either? Each keeps its uid (120 bytes) and every parent and
//! ancestor as a full uid in two hash sets, and its attributes in a `BTreeMap` of 128-byte
//! partial values: about 3.5 KB for a document with three attributes. Here an entity is a slot
//! (its uid once, in the index) whose parents, ancestors and references are slot numbers and
//! whose values are compact (`value`): a few hundred bytes. Cedar entities are rebuilt for the
//! entities a call reads; those that are someone's parent (firms, clients, roles: read by most
//! calls, few) keep the rebuilt entity, the leaves (documents, most of a store) do not, unless
//! the store keeps every rebuilt entity (`keep_rebuilt`: a page holding one firm).
//!
//! Invariant: after any delta the store equals what a full load of the resulting records gives.
//! Removing an entity does not rewrite other entities' parent lists (as a reload would not).

mod lookup;
pub(crate) mod value;

use std::collections::HashSet;
use std::sync::{Arc, OnceLock};

use cedar_policy::Entity;
use cedar_policy_core::ast::{
    Entity as CoreEntity, EntityType, EntityUID, Literal, PartialValue, Value, ValueKind,
};
use cedar_policy_core::entities::{Entities as CoreEntities, NoEntitiesSchema, TCComputation};
use cedar_policy_core::extensions::Extensions;
use ref_cast::RefCast;
use rustc_hash::{FxHashMap, FxHashSet};
use smol_str::SmolStr;

use crate::error::EngineError;
pub(crate) use lookup::Slots;
use value::{Ix, Val};

/// Deepest `parents` chain accepted; bounds recursion (and stack use in wasm).
const MAX_DEPTH: usize = 512;

/// Views a core store as the public `cedar_policy::Entities` the authorizer takes.
pub(crate) fn as_cedar(core: &CoreEntities) -> &cedar_policy::Entities {
    cedar_policy::Entities::ref_cast(core)
}

/// A uid the store knows: an entity it holds, or one that held entities name (a parent, a
/// reference) without it being held. Freed when neither is left (`refs` counts them).
#[derive(Debug, Clone)]
struct Slot {
    uid: EntityUID,
    /// How many held entities name this slot (itself, as parent, ancestor or reference).
    refs: u32,
    held: Option<Held>,
}

#[derive(Debug, Clone)]
struct Held {
    attrs: Box<[(SmolStr, Val)]>,
    tags: Box<[(SmolStr, Val)]>,
    parents: Box<[Ix]>,
    /// Ancestors that are not parents (the closure, kept up to date).
    indirect: Box<[Ix]>,
    /// Entities named in attributes and tags: what evaluation may dereference next.
    named: Box<[Ix]>,
    /// Given by the host as data (not one of the bundle's own entities).
    data: bool,
    /// The Cedar entity, once rebuilt and worth keeping (see the module's comment).
    cedar: OnceLock<Arc<CoreEntity>>,
}

impl Held {
    /// About what this entity takes in the store: its slot, its index entry and what it owns
    /// (not the Cedar entity rebuilt from it, kept for parents, or for all with `keep_rebuilt`).
    /// Counted by the store so
    /// a host can measure what a tenant takes without asking the allocator (which walks the
    /// whole heap to answer).
    fn bytes(&self, uid: &EntityUID) -> usize {
        const INDEX_ENTRY: usize = size_of::<EntityUID>() + size_of::<Ix>() + 1;
        size_of::<Slot>()
            + INDEX_ENTRY
            + value::text_heap(uid.eid().as_ref())
            + value::pairs_heap(&self.attrs)
            + value::pairs_heap(&self.tags)
            + size_of::<Ix>() * (self.parents.len() * 2 + self.indirect.len() + self.named.len())
    }

    /// Every slot this entity names (each counted in that slot's `refs`).
    fn links(&self) -> impl Iterator<Item = Ix> + '_ {
        self.parents
            .iter()
            .chain(self.indirect.iter())
            .chain(self.named.iter())
            .copied()
    }
}

/// An entity and the entities it points at (its direct parents, then the entities its
/// attributes and tags name): what the tenant rule and a partition's reach walk.
#[derive(Clone)]
pub(crate) struct Node<'s> {
    pub(crate) uid: &'s EntityUID,
    pub(crate) next: Vec<&'s EntityUID>,
}

impl<'s> Node<'s> {
    /// The node of an entity not (yet) in a store, its references found by [`refs_of`].
    pub(crate) fn of(entity: &'s CoreEntity, refs: &'s [EntityUID]) -> Self {
        Self {
            uid: entity.uid(),
            next: entity.parents().chain(refs.iter()).collect(),
        }
    }
}

/// A held entity, for filters that pick entities before they are rebuilt.
pub(crate) struct Peek<'s> {
    pub(crate) uid: &'s EntityUID,
    held: &'s Held,
}

impl Peek<'_> {
    fn attr(&self, name: &str) -> Option<&Val> {
        self.held
            .attrs
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v)
    }

    pub(crate) fn has_attr(&self, name: &str) -> bool {
        self.attr(name).is_some()
    }

    /// The attribute `name` when it is a boolean.
    pub(crate) fn attr_bool(&self, name: &str) -> Option<bool> {
        match self.attr(name) {
            Some(Val::Bool(b)) => Some(*b),
            _ => None,
        }
    }

    /// Whether the attribute `name` is the entity numbered `target` (see
    /// [`EntityStore::number_of`]).
    pub(crate) fn attr_is(&self, name: &str, target: Ix) -> bool {
        matches!(self.attr(name), Some(Val::Entity(ix)) if *ix == target)
    }

    /// Whether the entity points at the entity numbered `target`: a direct parent, or named
    /// in an attribute or tag.
    pub(crate) fn points_at(&self, target: Ix) -> bool {
        self.held.parents.contains(&target) || self.held.named.contains(&target)
    }

    /// Whether the entity is `in` the entity numbered `target` (a parent or an ancestor).
    pub(crate) fn is_in(&self, target: Ix) -> bool {
        self.held.parents.contains(&target) || self.held.indirect.contains(&target)
    }
}

#[derive(Debug, Clone, Default)]
pub(crate) struct EntityStore {
    slots: Vec<Slot>,
    // Fx hashing: probed a few dozen times per decision; SipHash's DoS resistance buys nothing
    // for keys that came through schema validation, and costs a quarter of a decision.
    index: FxHashMap<EntityUID, Ix>,
    /// Slots freed for reuse.
    free: Vec<Ix>,
    /// Direct parent → children, to find descendants without scanning the store.
    children: FxHashMap<Ix, Vec<Ix>>,
    /// Every slot of each entity type: what counts of one type (a firm's seats, decided on
    /// every request on a firm) read, instead of scanning a store of hundreds of thousands.
    by_type: FxHashMap<EntityType, FxHashSet<Ix>>,
    /// Held entities.
    held: usize,
    /// What the held entities take in the store's form (see [`Held::bytes`]).
    bytes: usize,
    /// Keep every entity's rebuilt Cedar form, not only parents' ([`EntityStore::cedar`]):
    /// speed over memory, for a page holding one firm (a rebuild is a fifth of a decision).
    keep_rebuilt: bool,
    /// A slice's firm counts as its host computed them on its whole store (`plan_counts.rs`):
    /// a slice holds what a call reads, not every user of a firm, so it cannot count them.
    /// Empty in a host's own store, which counts its entities.
    host_counts: FxHashMap<EntityUID, crate::plan_counts::PlanCounts>,
    /// Reverse attribute indexes for list queries (`lookup`), cleared when an entity changes.
    reverse: lookup::ReverseIndexes,
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

/// The entities a Cedar entity's attributes and tags name, sorted, each once.
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

fn cycle_error(uid: &EntityUID) -> EngineError {
    EngineError::EntityCycle(format!(
        "{uid} is its own ancestor: the `parents` of these entities form a cycle"
    ))
}

fn too_deep(uid: &EntityUID) -> EngineError {
    EngineError::EntityInvalid(format!(
        "{uid}: the entity hierarchy is deeper than {MAX_DEPTH} levels"
    ))
}

impl EntityStore {
    fn ix(&self, uid: &EntityUID) -> Option<Ix> {
        self.index.get(uid).copied()
    }

    fn slot(&self, ix: Ix) -> &Slot {
        &self.slots[ix as usize]
    }

    fn uid_at(&self, ix: Ix) -> &EntityUID {
        &self.slot(ix).uid
    }

    fn held_at(&self, ix: Ix) -> Option<&Held> {
        self.slot(ix).held.as_ref()
    }

    fn held_of(&self, uid: &EntityUID) -> Option<(Ix, &Held)> {
        let ix = self.ix(uid)?;
        self.held_at(ix).map(|h| (ix, h))
    }

    /// The slot of `uid`, made if new. A new slot is counted by nobody: whoever interns it
    /// holds or names it before the store is next read (or it would never be freed).
    fn intern(&mut self, uid: &EntityUID) -> Ix {
        if let Some(ix) = self.index.get(uid) {
            return *ix;
        }
        let slot = Slot {
            uid: uid.clone(),
            refs: 0,
            held: None,
        };
        let ix = match self.free.pop() {
            Some(ix) => {
                self.slots[ix as usize] = slot;
                ix
            }
            None => {
                self.slots.push(slot);
                // A store cannot hold 4 billion entities in any memory this runs in.
                (self.slots.len() - 1) as Ix
            }
        };
        self.index.insert(uid.clone(), ix);
        self.by_type
            .entry(uid.entity_type().clone())
            .or_default()
            .insert(ix);
        ix
    }

    fn release(&mut self, ix: Ix) {
        let slot = &mut self.slots[ix as usize];
        // Counted once per release by construction; a miscount would free a slot still named.
        debug_assert!(slot.refs > 0, "{} released more often than named", slot.uid);
        slot.refs = slot.refs.saturating_sub(1);
        if slot.refs == 0 && slot.held.is_none() {
            self.index.remove(&slot.uid);
            if let Some(of_type) = self.by_type.get_mut(slot.uid.entity_type()) {
                of_type.remove(&ix);
            }
            self.free.push(ix);
        }
    }

    /// `entity` in the store's form, every slot it names interned; `indirect` its ancestors
    /// that are not parents. Nothing is counted yet (see [`Self::place`]).
    fn compact(
        &mut self,
        entity: &CoreEntity,
        indirect: impl IntoIterator<Item = EntityUID>,
        data: bool,
    ) -> Result<Held, EngineError> {
        // Refused before anything is interned, so a refusal leaves no uncounted slot.
        known_values(entity)?;
        let pairs = |store: &mut Self,
                     items: &mut dyn Iterator<Item = (&SmolStr, &PartialValue)>|
         -> Result<Box<[(SmolStr, Val)]>, EngineError> {
            items
                .map(|(k, v)| {
                    value::hold(v, &mut |uid| store.intern(uid))
                        .map(|v| (k.clone(), v))
                        .ok_or_else(|| {
                            EngineError::Unsupported(format!(
                                "{}: attribute or tag `{k}` holds an unknown value",
                                entity.uid()
                            ))
                        })
                })
                .collect()
        };
        let attrs = pairs(self, &mut entity.attrs())?;
        let tags = pairs(self, &mut entity.tags())?;
        let mut named = Vec::new();
        for (_, v) in attrs.iter().chain(tags.iter()) {
            value::refs_in(v, &mut named);
        }
        named.sort_unstable();
        named.dedup();
        let parents: Box<[Ix]> = entity.parents().map(|p| self.intern(p)).collect();
        let indirect: Box<[Ix]> = indirect
            .into_iter()
            .filter(|a| !entity.parents().any(|p| p == a))
            .map(|a| self.intern(&a))
            .collect();
        Ok(Held {
            attrs,
            tags,
            parents,
            indirect,
            named: named.into(),
            data,
            cedar: OnceLock::new(),
        })
    }

    /// Holds `held` in slot `ix` (replacing what it held), counting what it names before the
    /// replaced entity stops counting, so a slot both name is never freed in between.
    fn place(&mut self, ix: Ix, held: Held) {
        self.reverse.clear();
        self.bytes += held.bytes(self.uid_at(ix));
        self.slots[ix as usize].refs += 1;
        for link in held.links() {
            self.slots[link as usize].refs += 1;
        }
        for parent in held.parents.iter() {
            self.children.entry(*parent).or_default().push(ix);
        }
        match self.slots[ix as usize].held.replace(held) {
            Some(old) => self.forget(ix, old),
            None => self.held += 1,
        }
    }

    /// Empties slot `ix`, if it held an entity.
    fn take(&mut self, ix: Ix) {
        self.reverse.clear();
        if let Some(old) = self.slots[ix as usize].held.take() {
            self.held -= 1;
            self.forget(ix, old);
        }
    }

    /// Uncounts what `old` (no longer in slot `ix`) named.
    fn forget(&mut self, ix: Ix, old: Held) {
        self.bytes = self.bytes.saturating_sub(old.bytes(self.uid_at(ix)));
        for parent in old.parents.iter() {
            if let Some(kids) = self.children.get_mut(parent) {
                // The slot may hold a new entity with the same parent: drop one entry only.
                if let Some(at) = kids.iter().position(|k| *k == ix) {
                    kids.swap_remove(at);
                }
                if kids.is_empty() {
                    self.children.remove(parent);
                }
            }
        }
        for link in old.links() {
            self.release(link);
        }
        self.release(ix);
    }

    /// The Cedar entity held in slot `ix`, rebuilt from its compact form.
    fn rebuild(&self, ix: Ix, held: &Held) -> CoreEntity {
        let uid = |i: Ix| self.uid_at(i);
        let pairs = |items: &[(SmolStr, Val)]| -> Vec<(SmolStr, PartialValue)> {
            items
                .iter()
                .map(|(k, v)| (k.clone(), PartialValue::Value(value::to_value(v, &uid))))
                .collect()
        };
        let uids = |ixs: &[Ix]| -> HashSet<EntityUID> {
            ixs.iter().map(|i| self.uid_at(*i).clone()).collect()
        };
        CoreEntity::new_with_attr_partial_value(
            self.uid_at(ix).clone(),
            pairs(&held.attrs),
            uids(&held.indirect),
            uids(&held.parents),
            pairs(&held.tags),
        )
    }

    /// The Cedar entity of slot `ix`, kept if it is someone's parent (read by many calls), or
    /// if the store keeps every rebuilt entity.
    fn cedar(&self, ix: Ix, held: &Held) -> Arc<CoreEntity> {
        if let Some(kept) = held.cedar.get() {
            return kept.clone();
        }
        if self.keep_rebuilt || self.children.contains_key(&ix) {
            held.cedar
                .get_or_init(|| Arc::new(self.rebuild(ix, held)))
                .clone()
        } else {
            Arc::new(self.rebuild(ix, held))
        }
    }

    /// Keeps (or not) every entity's rebuilt Cedar form from now on; carried to the store that
    /// replaces this one ([`EntityStore::keeping_as`]).
    pub(crate) fn keep_rebuilt(&mut self, keep: bool) {
        self.keep_rebuilt = keep;
    }

    /// `self`, keeping rebuilt entities as `other` does.
    pub(crate) fn keeping_as(mut self, other: &EntityStore) -> Self {
        self.keep_rebuilt = other.keep_rebuilt;
        self
    }

    /// The Cedar entity of slot `ix`, kept for later reads (entities the engine's own
    /// operations look up by uid: profiles, users, firms).
    fn kept<'s>(&'s self, ix: Ix, held: &'s Held) -> &'s Entity {
        let entity = held.cedar.get_or_init(|| Arc::new(self.rebuild(ix, held)));
        Entity::ref_cast(entity.as_ref())
    }

    /// A store of `entities`; a later entity with the same uid replaces an earlier one.
    #[cfg(test)]
    pub(crate) fn build(
        statics: Vec<CoreEntity>,
        data: Vec<CoreEntity>,
    ) -> Result<Self, EngineError> {
        let mut store = Self::default();
        for (entities, data) in [(statics, false), (data, true)] {
            for entity in &entities {
                store.add(entity, data)?;
            }
        }
        store.close()
    }

    /// Adds an entity of a whole load (replacing one added before with its uid); its
    /// ancestors are closed by [`Self::close`] once every entity is in. A load adds entities
    /// as they are parsed, so it never holds them all as Cedar's at once.
    pub(crate) fn add(&mut self, entity: &CoreEntity, data: bool) -> Result<(), EngineError> {
        let held = self.compact(entity, [], data)?;
        let ix = self.intern(entity.uid());
        self.place(ix, held);
        Ok(())
    }

    /// Ends a whole load: not through [`Self::apply`]'s incremental machinery, the closure of
    /// each entity that is someone's parent is computed once (memoized), then every entity's
    /// ancestors are the union of its parents' closures.
    pub(crate) fn close(mut self) -> Result<Self, EngineError> {
        let store = &mut self;
        let mut closures: FxHashMap<Ix, (Arc<[Ix]>, usize)> = FxHashMap::default();
        let mut path = Vec::new();
        let parents: Vec<Ix> = store.children.keys().copied().collect();
        for parent in parents {
            store.closure_of(parent, &mut closures, &mut path)?;
        }
        for ix in 0..store.slots.len() as Ix {
            let Some(held) = store.held_at(ix) else {
                continue;
            };
            let mut indirect: Vec<Ix> = Vec::new();
            for parent in held.parents.iter() {
                if let Some((above, _)) = closures.get(parent) {
                    indirect.extend(above.iter().filter(|a| !held.parents.contains(a)));
                }
            }
            if indirect.is_empty() {
                continue;
            }
            indirect.sort_unstable();
            indirect.dedup();
            for a in &indirect {
                store.slots[*a as usize].refs += 1;
            }
            store.bytes += size_of::<Ix>() * indirect.len();
            if let Some(held) = store.slots[ix as usize].held.as_mut() {
                // `add` leaves it empty, and nothing reads the store before it is closed.
                debug_assert!(held.indirect.is_empty());
                held.indirect = indirect.into();
                held.cedar = OnceLock::new();
            }
        }
        Ok(self)
    }

    /// Every ancestor of slot `ix` among the held entities, and the length of its longest
    /// chain of parents (memoized in `closures`; `path` is the chain being followed, to detect
    /// cycles). The bound is on that length, not on the path walked to find it: memoized
    /// chains would otherwise let a hierarchy in or not by the order it is visited in.
    fn closure_of(
        &self,
        ix: Ix,
        closures: &mut FxHashMap<Ix, (Arc<[Ix]>, usize)>,
        path: &mut Vec<Ix>,
    ) -> Result<(Arc<[Ix]>, usize), EngineError> {
        if let Some(done) = closures.get(&ix) {
            return Ok(done.clone());
        }
        let Some(held) = self.held_at(ix) else {
            // A parent that is not held has no known ancestors.
            return Ok((Arc::from([]), 0));
        };
        if path.contains(&ix) {
            return Err(cycle_error(self.uid_at(ix)));
        }
        // Bounds the recursion (the stack); a path this long means a chain this deep anyway.
        if path.len() >= MAX_DEPTH {
            return Err(too_deep(self.uid_at(ix)));
        }
        path.push(ix);
        let (mut out, mut depth): (FxHashSet<Ix>, usize) = (FxHashSet::default(), 0);
        for parent in held.parents.iter() {
            if *parent == ix {
                return Err(cycle_error(self.uid_at(ix)));
            }
            let (above, above_depth) = self.closure_of(*parent, closures, path)?;
            out.extend(above.iter().copied());
            out.insert(*parent);
            depth = depth.max(above_depth + 1);
        }
        path.pop();
        if depth >= MAX_DEPTH {
            return Err(too_deep(self.uid_at(ix)));
        }
        let mut out: Vec<Ix> = out.into_iter().collect();
        out.sort_unstable();
        let out: Arc<[Ix]> = out.into();
        closures.insert(ix, (out.clone(), depth));
        Ok((out, depth))
    }

    /// A store of entities whose ancestor sets are already closed (a slice another store
    /// picked): nothing is recomputed, and each keeps the Cedar entity it came as.
    pub(crate) fn from_closed(entities: Vec<Arc<CoreEntity>>) -> Result<Self, EngineError> {
        let mut store = Self::default();
        for entity in entities {
            let ix = store.intern(entity.uid());
            let held = store.compact(&entity, entity.indirect_ancestors().cloned(), true)?;
            // Just made: the cell is empty.
            let _ = held.cedar.set(entity);
            store.place(ix, held);
        }
        Ok(store)
    }

    /// The firm counts a slice's host computed (see `host_counts`).
    pub(crate) fn with_host_counts(
        mut self,
        counts: impl IntoIterator<Item = (EntityUID, crate::plan_counts::PlanCounts)>,
    ) -> Self {
        self.host_counts = counts.into_iter().collect();
        self
    }

    /// What the host counted for `firm`, when this store is a slice it packed with counts.
    pub(crate) fn host_counts(&self, firm: &EntityUID) -> Option<crate::plan_counts::PlanCounts> {
        self.host_counts.get(firm).copied()
    }

    /// The data entities (not the bundle's own), rebuilt.
    pub(crate) fn data_entities(&self) -> impl Iterator<Item = Entity> + '_ {
        self.slots.iter().enumerate().filter_map(|(ix, slot)| {
            let held = slot.held.as_ref().filter(|h| h.data)?;
            Some(Entity::from(self.cedar(ix as Ix, held).as_ref().clone()))
        })
    }

    /// How many data entities (not the bundle's own) are held.
    pub(crate) fn data_len(&self) -> usize {
        self.slots
            .iter()
            .filter(|s| s.held.as_ref().is_some_and(|h| h.data))
            .count()
    }

    /// The entities reachable from `roots` (see [`Self::slice`]), as Cedar entities.
    pub(crate) fn pick<'a>(
        &'a self,
        roots: impl IntoIterator<Item = &'a EntityUID>,
    ) -> Vec<Arc<CoreEntity>> {
        let roots = roots.into_iter().filter_map(|u| self.ix(u)).collect();
        self.reachable(roots, &FxHashSet::default())
    }

    pub(crate) fn len(&self) -> usize {
        self.held
    }

    /// Makes room for `additional` more entities (slots and index entries).
    pub(crate) fn reserve(&mut self, additional: usize) {
        self.slots.reserve(additional);
        self.index.reserve(additional);
    }

    /// About what the held entities take (see [`Held::bytes`]).
    pub(crate) fn bytes(&self) -> usize {
        self.bytes
    }

    /// The entities whose direct parents include `uid`.
    pub(crate) fn children_of(&self, uid: &EntityUID) -> Vec<EntityUID> {
        self.ix(uid)
            .and_then(|ix| self.children.get(&ix))
            .map(|kids| kids.iter().map(|k| self.uid_at(*k).clone()).collect())
            .unwrap_or_default()
    }

    /// A held entity, as Cedar's (rebuilt once, then kept: see [`Self::kept`]).
    pub(crate) fn get(&self, uid: &EntityUID) -> Option<&Entity> {
        let (ix, held) = self.held_of(uid)?;
        Some(self.kept(ix, held))
    }

    /// Whether an entity of this uid is held.
    pub(crate) fn contains(&self, uid: &EntityUID) -> bool {
        self.held_of(uid).is_some()
    }

    /// A held entity, rebuilt as Cedar's and not kept (for a single read of any entity).
    pub(crate) fn read(&self, uid: &EntityUID) -> Option<Entity> {
        let (ix, held) = self.held_of(uid)?;
        Some(Entity::from(self.cedar(ix, held).as_ref().clone()))
    }

    /// A held entity with the entities it points at.
    pub(crate) fn node(&self, uid: &EntityUID) -> Option<Node<'_>> {
        let (ix, held) = self.held_of(uid)?;
        Some(self.node_at(ix, held))
    }

    fn node_at<'s>(&'s self, ix: Ix, held: &'s Held) -> Node<'s> {
        Node {
            uid: self.uid_at(ix),
            next: held
                .parents
                .iter()
                .chain(held.named.iter())
                .map(|i| self.uid_at(*i))
                .collect(),
        }
    }

    /// Every held entity as a [`Node`].
    pub(crate) fn nodes(&self) -> impl Iterator<Item = Node<'_>> {
        self.slots
            .iter()
            .enumerate()
            .filter_map(|(ix, slot)| slot.held.as_ref().map(|held| self.node_at(ix as Ix, held)))
    }

    /// The held entities of type `ty` (none for `None`: a declared type name that does not
    /// parse names no entity), as Cedar's, each kept (see [`Self::entities_where`]).
    pub(crate) fn entities_of_type<'s>(
        &'s self,
        ty: Option<EntityType>,
    ) -> impl Iterator<Item = &'s Entity> + 's {
        self.entities_where(move |e| ty.as_ref() == Some(e.uid.entity_type()))
    }

    /// The held entities `keep` picks (it sees each before it is rebuilt), as Cedar's; each
    /// picked one is kept (see [`Self::kept`]), so pick few: entities of one type.
    pub(crate) fn entities_where<'s>(
        &'s self,
        keep: impl Fn(&Peek<'_>) -> bool + 's,
    ) -> impl Iterator<Item = &'s Entity> + 's {
        self.slots.iter().enumerate().filter_map(move |(ix, slot)| {
            let held = slot.held.as_ref()?;
            keep(&Peek {
                uid: &slot.uid,
                held,
            })
            .then(|| self.kept(ix as Ix, held))
        })
    }

    /// The store's number of a held (or named) entity, for [`Peek`]'s comparisons.
    pub(crate) fn number_of(&self, uid: &EntityUID) -> Option<Ix> {
        self.ix(uid)
    }

    /// How many held entities of type `ty` `keep` picks: like [`Self::entities_where`], but
    /// nothing is rebuilt or kept, so a count over every user of a large store stays a scan.
    pub(crate) fn count_where(&self, ty: &EntityType, keep: impl Fn(&Peek<'_>) -> bool) -> usize {
        let Some(of_type) = self.by_type.get(ty) else {
            return 0;
        };
        of_type
            .iter()
            .map(|ix| self.slot(*ix))
            .filter_map(|slot| {
                let held = slot.held.as_ref()?;
                keep(&Peek {
                    uid: &slot.uid,
                    held,
                })
                .then_some(())
            })
            .count()
    }

    /// Removes `remove`, then inserts or replaces `upsert` (entities whose `parents` are
    /// direct parents; indirect ancestors are computed here), marked as `data` or the bundle's.
    /// All-or-nothing: on error (a cycle, a hierarchy too deep, an unknown value) the store is
    /// unchanged.
    pub(crate) fn apply(
        &mut self,
        remove: &[EntityUID],
        upsert: Vec<CoreEntity>,
        data: bool,
    ) -> Result<(), EngineError> {
        for entity in &upsert {
            known_values(entity)?;
        }
        let mut incoming: FxHashMap<EntityUID, CoreEntity> = FxHashMap::default();
        incoming.reserve(upsert.len());
        for e in upsert {
            incoming.insert(e.uid().clone(), e);
        }
        let removed: FxHashSet<&EntityUID> = remove
            .iter()
            .filter(|u| !incoming.contains_key(*u))
            .collect();
        let affected = self.affected_by(&incoming, &removed);
        // Checked on the hierarchy as it will be, before anything changes.
        let pending = Pending {
            incoming: &incoming,
            removed: &removed,
        };
        let mut depths: FxHashMap<&EntityUID, usize> = FxHashMap::default();
        for uid in &affected {
            self.depth_of(uid, &pending, &mut depths, &mut Vec::new())?;
        }
        drop(depths);

        // Nothing below can fail: commit.
        let removed: Vec<EntityUID> = removed.into_iter().cloned().collect();
        for uid in &removed {
            if let Some(ix) = self.ix(uid) {
                self.take(ix);
            }
        }
        for (uid, entity) in incoming {
            // Unknown values were refused above: this cannot fail.
            let held = self.compact(&entity, [], data)?;
            let ix = self.intern(&uid);
            self.place(ix, held);
        }
        // Then the ancestors of every affected entity still held, parents first (memoized).
        let affected: FxHashSet<Ix> = affected
            .iter()
            .filter_map(|uid| self.held_of(uid).map(|(ix, _)| ix))
            .collect();
        let mut closures: FxHashMap<Ix, Arc<[Ix]>> = FxHashMap::default();
        for ix in &affected {
            self.closure_after(*ix, &affected, &mut closures);
        }
        for ix in affected {
            if let Some(closure) = closures.get(&ix).cloned() {
                self.set_ancestors(ix, &closure);
            }
        }
        Ok(())
    }

    /// Every entity whose ancestor set may change: the upserted ones, and the descendants of
    /// anything upserted or removed (through old edges and the new ones).
    fn affected_by(
        &self,
        incoming: &FxHashMap<EntityUID, CoreEntity>,
        removed: &FxHashSet<&EntityUID>,
    ) -> FxHashSet<EntityUID> {
        let mut new_children: FxHashMap<&EntityUID, Vec<&EntityUID>> = FxHashMap::default();
        for (uid, e) in incoming {
            for p in e.parents() {
                new_children.entry(p).or_default().push(uid);
            }
        }
        let mut affected: FxHashSet<EntityUID> = FxHashSet::default();
        let mut queue: Vec<&EntityUID> = incoming.keys().chain(removed.iter().copied()).collect();
        while let Some(uid) = queue.pop() {
            if affected.contains(uid) {
                continue;
            }
            affected.insert(uid.clone());
            if let Some(kids) = self.ix(uid).and_then(|ix| self.children.get(&ix)) {
                queue.extend(kids.iter().map(|k| self.uid_at(*k)));
            }
            if let Some(kids) = new_children.get(uid) {
                queue.extend(kids.iter().copied());
            }
        }
        affected
    }

    /// The length of the longest chain of parents above `uid` after the pending change,
    /// refusing a cycle or a chain deeper than [`MAX_DEPTH`] (memoized in `done`; `path` is the
    /// chain being followed). Entities the change does not affect count with their whole
    /// chain: a delta may only add to a hierarchy what a reload of it would accept.
    fn depth_of<'a>(
        &'a self,
        uid: &'a EntityUID,
        pending: &Pending<'a>,
        done: &mut FxHashMap<&'a EntityUID, usize>,
        path: &mut Vec<&'a EntityUID>,
    ) -> Result<usize, EngineError> {
        if let Some(depth) = done.get(uid) {
            return Ok(*depth);
        }
        if pending.removed.contains(uid) {
            return Ok(0);
        }
        if path.contains(&uid) {
            return Err(cycle_error(uid));
        }
        if path.len() >= MAX_DEPTH {
            return Err(too_deep(uid));
        }
        let parents: Vec<&'a EntityUID> = match pending.incoming.get(uid) {
            Some(e) => e.parents().collect(),
            None => match self.held_of(uid) {
                Some((_, held)) => held.parents.iter().map(|p| self.uid_at(*p)).collect(),
                None => Vec::new(),
            },
        };
        path.push(uid);
        let mut depth = 0;
        for parent in parents {
            if parent == uid {
                return Err(cycle_error(uid));
            }
            depth = depth.max(1 + self.depth_of(parent, pending, done, path)?);
        }
        // The depth itself, not the path walked to find it: memoized depths would otherwise
        // let a chain in by the order it is visited in.
        if depth >= MAX_DEPTH {
            return Err(too_deep(uid));
        }
        path.pop();
        done.insert(uid, depth);
        Ok(depth)
    }

    /// Every ancestor of held slot `ix` once a change is placed: recomputed through its
    /// parents if it is `affected`, else as it is held (memoized in `closures`). The change
    /// was checked first ([`Self::depth_of`]): no cycle, no chain deeper than `MAX_DEPTH`.
    fn closure_after(
        &self,
        ix: Ix,
        affected: &FxHashSet<Ix>,
        closures: &mut FxHashMap<Ix, Arc<[Ix]>>,
    ) -> Arc<[Ix]> {
        if let Some(done) = closures.get(&ix) {
            return done.clone();
        }
        let Some(held) = self.held_at(ix) else {
            // A parent that is not held has no known ancestors.
            return Arc::from([]);
        };
        let mut out: Vec<Ix> = held.parents.to_vec();
        if affected.contains(&ix) {
            for parent in held.parents.iter() {
                if *parent != ix {
                    out.extend(self.closure_after(*parent, affected, closures).iter());
                }
            }
        } else {
            out.extend(held.indirect.iter());
        }
        out.sort_unstable();
        out.dedup();
        let out: Arc<[Ix]> = out.into();
        closures.insert(ix, out.clone());
        out
    }

    /// A held entity's ancestors (`closure`: parents included), changed because an ancestor's
    /// changed or it was just placed.
    fn set_ancestors(&mut self, ix: Ix, closure: &[Ix]) {
        let Some(held) = self.held_at(ix) else {
            return;
        };
        let indirect: Vec<Ix> = closure
            .iter()
            .copied()
            .filter(|a| !held.parents.contains(a))
            .collect();
        if *indirect == *held.indirect {
            return;
        }
        for a in &indirect {
            self.slots[*a as usize].refs += 1;
        }
        let Some(held) = self.slots[ix as usize].held.as_mut() else {
            return;
        };
        let (added, old) = (
            indirect.len(),
            std::mem::replace(&mut held.indirect, indirect.into()),
        );
        held.cedar = OnceLock::new();
        self.bytes =
            (self.bytes + size_of::<Ix>() * added).saturating_sub(size_of::<Ix>() * old.len());
        for a in old.iter() {
            self.release(*a);
        }
    }

    /// The entities reachable from `roots` through attribute and tag references, as a Cedar
    /// store. Evaluation of a request rooted there can only touch these.
    /// (Returned as Cedar's core store; `as_cedar` views it as the public type.)
    pub(crate) fn slice<'a>(
        &self,
        roots: impl IntoIterator<Item = &'a EntityUID>,
    ) -> Result<CoreEntities, EngineError> {
        let roots = roots.into_iter().filter_map(|u| self.ix(u)).collect();
        let picked = self.reachable(roots, &FxHashSet::default());
        cedar_store(picked, TCComputation::AssumeAlreadyComputed)
    }

    /// A slice plus entities given for one call only (they replace stored entities of the same
    /// uid for this call). Their ancestors are closed over the stored ancestors of their parents;
    /// stored descendants of a replaced entity keep the ancestry they have in the store.
    pub(crate) fn slice_with<'a>(
        &self,
        roots: impl IntoIterator<Item = &'a EntityUID>,
        extras: Vec<CoreEntity>,
    ) -> Result<CoreEntities, EngineError> {
        let replaced: FxHashSet<Ix> = extras.iter().filter_map(|e| self.ix(e.uid())).collect();
        let mut extra_roots: Vec<EntityUID> = Vec::new();
        for entity in &extras {
            extra_roots.extend(entity.ancestors().cloned());
            extra_roots.extend(refs_of(entity).iter().cloned());
        }
        let roots: Vec<Ix> = roots
            .into_iter()
            .filter_map(|u| self.ix(u))
            .chain(extra_roots.iter().filter_map(|u| self.ix(u)))
            .collect();
        let mut picked = self.reachable(roots, &replaced);
        picked.extend(extras.into_iter().map(Arc::new));
        cedar_store(picked, TCComputation::ComputeNow)
    }

    fn reachable(&self, mut queue: Vec<Ix>, skip: &FxHashSet<Ix>) -> Vec<Arc<CoreEntity>> {
        let mut seen: FxHashSet<Ix> = FxHashSet::default();
        let mut picked: Vec<Arc<CoreEntity>> = Vec::new();
        while let Some(ix) = queue.pop() {
            if !seen.insert(ix) || skip.contains(&ix) {
                continue;
            }
            if let Some(held) = self.held_at(ix) {
                picked.push(self.cedar(ix, held));
                queue.extend(held.named.iter().copied());
            }
        }
        picked
    }
}

/// Picked entities as Cedar's store, their ancestors closed already or by Cedar (`tc`).
fn cedar_store(
    picked: Vec<Arc<CoreEntity>>,
    tc: TCComputation,
) -> Result<CoreEntities, EngineError> {
    CoreEntities::new()
        .add_entities(
            picked,
            None::<&NoEntitiesSchema>,
            tc,
            Extensions::all_available(),
        )
        .map_err(|e| EngineError::EntityInvalid(e.to_string()))
}

/// A change being checked, as [`EntityStore::depth_of`] reads it.
struct Pending<'p> {
    incoming: &'p FxHashMap<EntityUID, CoreEntity>,
    removed: &'p FxHashSet<&'p EntityUID>,
}

/// Refuses an entity holding an unknown (partial) value: a store holds data.
fn known_values(entity: &CoreEntity) -> Result<(), EngineError> {
    match entity
        .attrs()
        .chain(entity.tags())
        .find(|(_, v)| matches!(v, PartialValue::Residual(_)))
    {
        Some((k, _)) => Err(EngineError::Unsupported(format!(
            "{}: attribute or tag `{k}` holds an unknown value",
            entity.uid()
        ))),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use std::collections::{BTreeMap, HashSet};

    use cedar_policy_core::ast::{Eid, Entity as CoreEntity, EntityType, EntityUID, PartialValue};
    use cedar_policy_core::ast::{Literal, Value};
    use smol_str::SmolStr;

    use super::EntityStore;

    fn uid(ty: &str, id: &str) -> EntityUID {
        EntityUID::from_components(
            EntityType::from_normalized_str(ty).unwrap(),
            Eid::new(id),
            None,
        )
    }

    fn entity(ty: &str, id: &str, parents: &[EntityUID], refs: &[EntityUID]) -> CoreEntity {
        let attrs: BTreeMap<SmolStr, PartialValue> = refs
            .iter()
            .enumerate()
            .map(|(i, r)| {
                let v = Value::from(Literal::EntityUID(std::sync::Arc::new(r.clone())));
                (SmolStr::from(format!("r{i}")), PartialValue::Value(v))
            })
            .collect();
        CoreEntity::new_with_attr_partial_value(
            uid(ty, id),
            attrs,
            HashSet::new(),
            parents.iter().cloned().collect(),
            std::iter::empty(),
        )
    }

    /// Every slot is counted by what names it, and freed when nothing does: a tenant loaded
    /// and unloaded again leaves the store as it was (no uid kept for nothing).
    #[test]
    fn unloading_what_was_loaded_frees_every_slot_it_made() {
        let firm = uid("Firm", "f");
        let shared = entity("Plan", "p", &[], &[]);
        let mut store = EntityStore::build(vec![shared], Vec::new()).unwrap();
        let (slots, index, bytes) = (store.slots.len(), store.index.len(), store.bytes());

        let client = uid("Client", "c");
        let tenant = vec![
            entity("Firm", "f", &[], &[uid("Plan", "p")]),
            entity(
                "Client",
                "c",
                std::slice::from_ref(&firm),
                &[firm.clone(), uid("User", "gone")],
            ),
            entity(
                "Document",
                "d",
                std::slice::from_ref(&client),
                std::slice::from_ref(&client),
            ),
        ];
        store.apply(&[], tenant, true).unwrap();
        assert_eq!(store.len(), 4);
        assert!(store.bytes() > bytes, "a load is counted");
        let document = store.get(&uid("Document", "d")).unwrap();
        assert!(
            document.as_ref().is_descendant_of(&firm),
            "ancestors are closed"
        );

        store
            .apply(&[firm, client, uid("Document", "d")], Vec::new(), true)
            .unwrap();
        assert_eq!(store.len(), 1);
        assert_eq!(
            store.index.len(),
            index,
            "every slot the tenant made is freed"
        );
        assert!(store.children.is_empty());
        assert!(store.slots.len() <= slots + 4);
        // Freed slots are reused: loading it again makes none.
        let before = store.slots.len();
        store
            .apply(&[], vec![entity("Firm", "f", &[], &[])], true)
            .unwrap();
        assert_eq!(store.slots.len(), before);
    }

    /// Removing a parent keeps the uid its children name (a reload would too), and the
    /// child's ancestry is what a reload gives.
    #[test]
    fn a_removed_parent_stays_named_by_its_children() {
        let (root, mid) = (uid("G", "root"), uid("G", "mid"));
        let mut store = EntityStore::build(
            Vec::new(),
            vec![
                entity("G", "root", &[], &[]),
                entity("G", "mid", std::slice::from_ref(&root), &[]),
                entity("U", "u", std::slice::from_ref(&mid), &[]),
            ],
        )
        .unwrap();
        store
            .apply(std::slice::from_ref(&mid), Vec::new(), true)
            .unwrap();
        let u = store.get(&uid("U", "u")).unwrap().as_ref().clone();
        assert!(u.is_descendant_of(&mid));
        assert!(!u.is_descendant_of(&root), "{u:?}");
        assert!(store.index.contains_key(&mid));
    }

    /// A delta that would close a cycle, or chain parents deeper than the bound, is refused
    /// and changes nothing (not even the uids the store knows).
    #[test]
    fn a_cycle_or_a_chain_too_deep_is_refused_and_changes_nothing() {
        let g = |i: usize| uid("G", &i.to_string());
        let mut store = EntityStore::build(Vec::new(), vec![entity("G", "0", &[], &[])]).unwrap();
        let (len, index, bytes) = (store.len(), store.index.len(), store.bytes());
        let chain: Vec<CoreEntity> = (1..=super::MAX_DEPTH + 2)
            .map(|i| entity("G", &i.to_string(), &[g(i - 1)], &[]))
            .collect();
        let deep = store.apply(&[], chain, true).unwrap_err();
        assert!(deep.to_string().contains("deeper than"), "{deep}");
        let cycle = vec![
            entity("G", "a", &[uid("G", "b")], &[]),
            entity("G", "b", &[uid("G", "a")], &[]),
        ];
        assert!(matches!(
            store.apply(&[], cycle, true),
            Err(crate::error::EngineError::EntityCycle(_))
        ));
        assert_eq!(
            (store.len(), store.index.len(), store.bytes()),
            (len, index, bytes)
        );
        // A whole load too: refused whatever order the chain comes in.
        let chain = |reversed: bool| -> Vec<CoreEntity> {
            let mut all: Vec<CoreEntity> = (1..=super::MAX_DEPTH + 2)
                .map(|i| entity("G", &i.to_string(), &[g(i - 1)], &[]))
                .collect();
            if reversed {
                all.reverse();
            }
            all
        };
        for reversed in [false, true] {
            let err = EntityStore::build(Vec::new(), chain(reversed)).unwrap_err();
            assert!(err.to_string().contains("deeper than"), "{err}");
        }
        // A delta may not take a chain past the bound either, though the part it writes is short.
        let half = super::MAX_DEPTH / 2 + 10;
        let links = |from: usize, to: usize| -> Vec<CoreEntity> {
            (from..to)
                .map(|i| entity("H", &i.to_string(), &[uid("H", &(i - 1).to_string())], &[]))
                .collect()
        };
        let mut deep = EntityStore::build(Vec::new(), links(1, half)).unwrap();
        let err = deep.apply(&[], links(half, 2 * half), true).unwrap_err();
        assert!(err.to_string().contains("deeper than"), "{err}");
        // Within the bound it loads, and the deepest knows every ancestor.
        let chain: Vec<CoreEntity> = (1..=100)
            .map(|i| entity("G", &i.to_string(), &[g(i - 1)], &[]))
            .collect();
        store.apply(&[], chain, true).unwrap();
        let deepest = store.get(&g(100)).unwrap().as_ref().clone();
        assert!((0..100).all(|i| deepest.is_descendant_of(&g(i))));
    }
}
