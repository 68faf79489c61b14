//! The store by tenant, for hosts that hold only some tenants at a time. Under a declared firm
//! model every entity is one firm's or shared (`tenant_rule`: what it reaches through parents
//! and references; a firm is its own). What an entity reaches is its tenant's or shared, so an
//! engine holding the shared entities and the tenants a call names decides exactly as one
//! holding everything. Without a firm model everything is shared: one partition.

use cedar_policy_core::ast::EntityUID;
use serde_json::Value;

use crate::engine::parse_each;
use crate::entity_json::{to_ref, to_uid};
use crate::error::EngineError;
use crate::firm_model::Part;
use crate::tenant_rule::Owners;
use crate::wire::EntityRef;
use crate::Engine;

/// See [`Engine::reach`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Reach {
    pub present: Vec<EntityRef>,
    pub absent: Vec<EntityRef>,
}

impl Engine {
    /// The tenant (firm) of each of `uids` as the store holds them: `None` for a shared entity,
    /// an absent one, or any entity without a declared firm model.
    pub fn tenants_of(&self, uids: &[EntityRef]) -> Vec<Option<EntityRef>> {
        let Some(firm) = self.firm_model().and_then(|m| m.entity_type(Part::Firm)) else {
            return vec![None; uids.len()];
        };
        let store = &self.store;
        let firm: &cedar_policy_core::ast::EntityType = firm.as_ref();
        let mut owners = Owners::new(firm.clone(), |uid: &EntityUID| store.node(uid));
        uids.iter()
            .map(|r| {
                let uid = to_uid(r).ok()?;
                let node = store.node(uid.as_ref())?;
                // A firm is always its own tenant (whatever an older record references).
                if node.uid.entity_type() == firm {
                    return Some(r.clone());
                }
                let found = owners.owners(node);
                // More than one is refused at write time; a store holding such an entity
                // (from before the rule) keeps it wherever its first firm is.
                found.first().map(|f| to_ref(&f.clone().into()))
            })
            .collect()
    }

    /// What a call rooted at `roots` reads, split into the entities the store holds and the
    /// uids it names but does not hold: from each root, the entities its attributes and tags
    /// name and its direct parents, transitively. A host holding tenants on demand loads the
    /// tenants of the absent ones (if stored) until nothing stored is absent: then the slice
    /// of `roots` is what the whole store would give, whatever the tenants' boundaries.
    pub fn reach(&self, roots: &[EntityRef]) -> Reach {
        let mut queue: Vec<EntityUID> = roots
            .iter()
            .filter_map(|r| to_uid(r).ok())
            .map(|u| u.as_ref().clone())
            .collect();
        let mut seen: rustc_hash::FxHashSet<EntityUID> = rustc_hash::FxHashSet::default();
        let mut reach = Reach::default();
        while let Some(uid) = queue.pop() {
            if !seen.insert(uid.clone()) {
                continue;
            }
            match self.store.node(&uid) {
                Some(node) => {
                    queue.extend(node.next.iter().map(|u| (*u).clone()));
                    reach.present.push(to_ref(&uid.clone().into()));
                }
                None => reach.absent.push(to_ref(&uid.into())),
            }
        }
        reach
    }

    /// Adds one tenant's records (as stored: already validated, tenant rules included, when
    /// they were written) to the store. The records must not be in the store already.
    pub fn insert_partition(&mut self, records: &[Value]) -> Result<usize, EngineError> {
        let parsed = parse_each(records.iter(), &self.bundle)?;
        let count = parsed.len();
        self.store.apply(&[], parsed, true)?;
        Ok(count)
    }

    /// Removes the entities of `uids` that are in the store (a tenant's, when it is unloaded).
    pub fn remove_partition(&mut self, uids: &[EntityRef]) -> Result<usize, EngineError> {
        let present: Vec<EntityUID> = uids
            .iter()
            .filter_map(|r| to_uid(r).ok())
            .map(|u| u.as_ref().clone())
            .filter(|u| self.store.contains(u))
            .collect();
        self.store.apply(&present, Vec::new(), true)?;
        Ok(present.len())
    }
}
