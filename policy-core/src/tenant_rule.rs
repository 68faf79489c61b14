//! Under a declared firm model, each firm's data is its own partition: an entity belongs to the
//! firms it reaches through its parents and entity references (attributes, tags) — a user names
//! its firm, a document its client, the client its firm — and it may reach at most one. A
//! record that reaches no firm is shared (plans, licences, base profiles, roles). A write that
//! would make an entity reach two firms (a document of firm A filed under a client of firm B,
//! a user of A put in a team of B's client) is refused, naming both.
//!
//! An entity that exists stays in its firm: a write that would change the firms it reaches (a
//! team moved to another firm's client) is refused too, since everything that already points
//! at it would then reach both.
//!
//! The walk stops at a firm (what a firm references, its plan, is not its data) and reuses the
//! owners already found for an entity, so checking a whole store reads each entity about once.

use std::collections::BTreeSet;
use std::sync::Arc;

use cedar_policy_core::ast::{EntityType, EntityUID};
use rustc_hash::{FxHashMap, FxHashSet};

use crate::error::{Diagnostic, ErrorCode};
use crate::store::Node;

/// Finds the firms entities reach, remembering what it found.
pub(crate) struct Owners<'s, G> {
    tenant: EntityType,
    get: G,
    known: FxHashMap<&'s EntityUID, Arc<[EntityUID]>>,
}

impl<'s, G> Owners<'s, G>
where
    G: Fn(&EntityUID) -> Option<Node<'s>>,
{
    pub(crate) fn new(tenant: EntityType, get: G) -> Self {
        Self {
            tenant,
            get,
            known: FxHashMap::default(),
        }
    }

    /// The firms `node`'s entity reaches. A firm is its own, and what it references (its plan,
    /// the default profile it chose) must be shared or its own: a firm naming another firm's
    /// profile would reach that firm too.
    pub(crate) fn owners(&mut self, node: Node<'s>) -> Arc<[EntityUID]> {
        if node.uid.entity_type() == &self.tenant {
            let mut found: BTreeSet<EntityUID> = BTreeSet::new();
            found.insert(node.uid.clone());
            for next in node.next.iter().copied() {
                if next.entity_type() == &self.tenant {
                    found.insert(next.clone());
                } else if let Some(n) = (self.get)(next) {
                    found.extend(self.of(n).iter().cloned());
                }
            }
            return found.into_iter().collect();
        }
        // The entities it points at first, each once for the whole check: then its own owners
        // are the union of theirs, and a store of documents under a few thousand clients is
        // walked about once, not once per document.
        for next in node.next.iter().copied() {
            if next.entity_type() != &self.tenant && !self.known.contains_key(next) {
                if let Some(n) = (self.get)(next) {
                    self.of(n);
                }
            }
        }
        self.of(node)
    }

    fn of(&mut self, start: Node<'s>) -> Arc<[EntityUID]> {
        let start_uid = start.uid;
        if let Some(done) = self.known.get(start_uid) {
            return done.clone();
        }
        let mut found: BTreeSet<EntityUID> = BTreeSet::new();
        let mut seen: FxHashSet<&'s EntityUID> = FxHashSet::default();
        let mut queue: Vec<Node<'s>> = vec![start];
        while let Some(node) = queue.pop() {
            for next in node.next.iter().copied() {
                if next.entity_type() == &self.tenant {
                    found.insert(next.clone());
                } else if let Some(known) = self.known.get(next) {
                    found.extend(known.iter().cloned());
                } else if next != start_uid && !seen.contains(next) {
                    if let Some(n) = (self.get)(next) {
                        // The node's own uid: borrowed for as long as the store is.
                        seen.insert(n.uid);
                        queue.push(n);
                    }
                }
            }
        }
        let found: Arc<[EntityUID]> = found.into_iter().collect();
        self.known.insert(start_uid, found.clone());
        found
    }
}

/// A diagnostic if `uid` reaches more than one firm (`owners`).
pub(crate) fn crossing(uid: &EntityUID, owners: &[EntityUID]) -> Option<Diagnostic> {
    (owners.len() > 1).then(|| {
        Diagnostic::error(
            ErrorCode::CrossTenant,
            format!(
                "{uid} would belong to {}: an entity belongs to one firm (it reaches them through its parents and references)",
                firm_names(owners)
            ),
        )
    })
}

/// The diagnostic of an existing entity a write would move from the firms `old` to `new`.
pub(crate) fn moved(uid: &EntityUID, old: &[EntityUID], new: &[EntityUID]) -> Diagnostic {
    Diagnostic::error(
        ErrorCode::CrossTenant,
        format!(
            "{uid} belongs to {}; this write would make it belong to {}: an entity stays in its firm (remove it and create it in the other)",
            firm_names(old),
            firm_names(new)
        ),
    )
}

fn firm_names(firms: &[EntityUID]) -> String {
    match firms {
        [] => "no firm".to_string(),
        _ => firms
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join(" and "),
    }
}
