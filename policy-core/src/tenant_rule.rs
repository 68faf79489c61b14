//! Under a declared firm model, each firm's data is its own partition: an entity belongs to the
//! firms it reaches through its parents and entity references (attributes, tags) — a user names
//! its firm, a document its client, the client its firm — and it may reach at most one. A
//! record that reaches no firm is shared (plans, licences, base profiles, roles). A write that
//! would make an entity reach two firms (a document of firm A filed under a client of firm B,
//! a user of A put in a team of B's client) is refused, naming both.
//!
//! The walk stops at a firm (what a firm references, its plan, is not its data) and reuses the
//! owners already found for an entity, so checking a whole store reads each entity about once.

use std::collections::BTreeSet;
use std::sync::Arc;

use cedar_policy_core::ast::{Entity as CoreEntity, EntityType, EntityUID};
use rustc_hash::{FxHashMap, FxHashSet};

use crate::error::{Diagnostic, ErrorCode};

/// Finds the firms entities reach, remembering what it found.
pub(crate) struct Owners<G> {
    tenant: EntityType,
    get: G,
    known: FxHashMap<EntityUID, Arc<BTreeSet<EntityUID>>>,
}

impl<'s, G> Owners<G>
where
    G: Fn(&EntityUID) -> Option<&'s CoreEntity>,
{
    pub(crate) fn new(tenant: EntityType, get: G) -> Self {
        Self {
            tenant,
            get,
            known: FxHashMap::default(),
        }
    }

    /// A diagnostic if `entity` reaches more than one firm.
    pub(crate) fn check(&mut self, entity: &'s CoreEntity) -> Option<Diagnostic> {
        if entity.uid().entity_type() == &self.tenant {
            return None;
        }
        let owners = self.of(entity);
        (owners.len() > 1).then(|| {
            let firms: Vec<String> = owners.iter().map(ToString::to_string).collect();
            Diagnostic::error(
                ErrorCode::CrossTenant,
                format!(
                    "{} would belong to {}: an entity belongs to one firm (it reaches them through its parents and references)",
                    entity.uid(),
                    firms.join(" and ")
                ),
            )
        })
    }

    fn of(&mut self, start: &'s CoreEntity) -> Arc<BTreeSet<EntityUID>> {
        if let Some(done) = self.known.get(start.uid()) {
            return done.clone();
        }
        let mut found = BTreeSet::new();
        let mut seen: FxHashSet<EntityUID> = FxHashSet::default();
        let mut queue: Vec<&'s CoreEntity> = vec![start];
        seen.insert(start.uid().clone());
        while let Some(entity) = queue.pop() {
            for next in neighbours(entity) {
                if next.entity_type() == &self.tenant {
                    found.insert(next);
                } else if let Some(known) = self.known.get(&next) {
                    found.extend(known.iter().cloned());
                } else if let Some(e) = (self.get)(&next) {
                    if seen.insert(next) {
                        queue.push(e);
                    }
                }
            }
        }
        let found = Arc::new(found);
        self.known.insert(start.uid().clone(), found.clone());
        found
    }
}

/// The uids an entity points at: parents, and entity references in attributes and tags.
fn neighbours(entity: &CoreEntity) -> impl Iterator<Item = EntityUID> + '_ {
    entity.parents().cloned().chain(
        crate::store::refs_of(entity)
            .iter()
            .cloned()
            .collect::<Vec<_>>(),
    )
}
