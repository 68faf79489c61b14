//! The firm model's rules (only for a bundle that declares the model) every entity write must keep, not only bundle loading: a custom access profile
//! never wider than its base or its licence, exactly one default profile, an entity in one
//! firm, a client-side role only where the client's plan includes it. Checked on the store
//! as a write would leave it, before the write is applied, so a refused write changes nothing.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use cedar_policy::Entity;
use cedar_policy_core::ast::{Entity as CoreEntity, EntityType, EntityUID};
use ref_cast::RefCast;

use crate::error::{Diagnostic, EngineError};
use crate::firm_model::{FirmModel, Part};
use crate::store::{refs_of, EntityStore, Node};
use crate::tenant_rule::{crossing, moved, Owners};

/// Whether a write to `uid` can break a rule here (profiles and the licences that cap them).
/// Asked for every entity of every delta: a comparison of parsed types, no allocation.
fn governs(governed: &[cedar_policy::EntityTypeName], uid: &EntityUID) -> bool {
    governed.iter().any(|t| t.as_ref() == uid.entity_type())
}

/// The rules over `store` with `upsert` written and `remove` removed. Only writes that touch a
/// governed type are checked (the check reads every entity once).
pub(crate) fn check_overlay(
    model: Option<&FirmModel>,
    store: &EntityStore,
    upsert: &[CoreEntity],
    remove: &[EntityUID],
) -> Result<(), EngineError> {
    let Some(model) = model else {
        return Ok(());
    };
    let incoming: HashMap<&EntityUID, &Entity> = upsert
        .iter()
        .map(|e| (e.uid(), Entity::ref_cast(e)))
        .collect();
    let removed: HashSet<&EntityUID> = remove.iter().collect();
    // The written entities as nodes, their references found once.
    let refs: Vec<Arc<[EntityUID]>> = upsert.iter().map(refs_of).collect();
    let written: HashMap<&EntityUID, Node<'_>> = upsert
        .iter()
        .zip(&refs)
        .map(|(entity, refs)| (entity.uid(), Node::of(entity, refs)))
        .collect();
    let node = |uid: &EntityUID| -> Option<Node<'_>> {
        match written.get(uid) {
            Some(n) => Some(n.clone()),
            None if removed.contains(uid) => None,
            None => store.node(uid),
        }
    };
    // Reported after the profile rules' (the more specific) when both are broken.
    let mut tenants = tenant_diagnostics(model, written.values().cloned(), node, Some(store));
    tenants.extend(crate::client_roles::check_written(
        model,
        incoming.values().copied(),
        |uid: &cedar_policy::EntityUid| {
            let core: &EntityUID = uid.as_ref();
            match incoming.get(core) {
                Some(e) => Some(*e),
                None if removed.contains(core) => None,
                None => store.get(core),
            }
        },
        |uid: &cedar_policy::EntityUid| store.get(uid.as_ref()),
        |team: &cedar_policy::EntityUid| {
            store
                .children_of(team.as_ref())
                .into_iter()
                .filter(|m| !removed.contains(m) && !incoming.contains_key(m))
                .map(cedar_policy::EntityUid::from)
                .collect()
        },
    ));
    // Declared names that do not parse as a type name name no entity: nothing to govern.
    let governed: Vec<cedar_policy::EntityTypeName> = [Part::Profile, Part::Licence]
        .into_iter()
        .filter_map(|part| model.entity_type(part))
        .collect();
    if !upsert
        .iter()
        .map(|e| e.uid())
        .chain(remove)
        .any(|uid| governs(&governed, uid))
    {
        return verdict(tenants);
    }
    let all = store
        .entities_of_type(profile_type(model))
        .filter(|e| {
            let uid = e.uid();
            let uid: &EntityUID = uid.as_ref();
            !incoming.contains_key(uid) && !removed.contains(uid)
        })
        .chain(incoming.values().copied());
    let get = |uid: &cedar_policy::EntityUid| {
        let core: &EntityUID = uid.as_ref();
        match incoming.get(core) {
            Some(e) => Some(*e),
            None if removed.contains(core) => None,
            None => store.get(core),
        }
    };
    let mut diagnostics = crate::profile::check_profile_entities(model, all, get, &HashMap::new());
    diagnostics.extend(crate::profile::firm_owned_defaults(
        model,
        incoming.values().copied(),
    ));
    diagnostics.extend(tenants);
    verdict(diagnostics)
}

/// The tenant rule over `written` (`tenant_rule`): none may reach two firms and, given the
/// store as it was (`before`), none that exists may reach other firms than it does. One walk of
/// the written state serves both.
fn tenant_diagnostics<'s>(
    model: &FirmModel,
    written: impl Iterator<Item = Node<'s>>,
    get: impl Fn(&EntityUID) -> Option<Node<'s>>,
    before: Option<&'s EntityStore>,
) -> Vec<Diagnostic> {
    let Some(firm) = model.entity_type(Part::Firm) else {
        return Vec::new();
    };
    let firm: &EntityType = firm.as_ref();
    let mut after = Owners::new(firm.clone(), get);
    let mut previous = before.map(|store| {
        let owners = Owners::new(firm.clone(), move |uid: &EntityUID| store.node(uid));
        (store, owners)
    });
    let mut out = Vec::new();
    for node in written {
        let uid = node.uid;
        let owners = after.owners(node);
        out.extend(crossing(uid, &owners));
        if let Some((store, previous)) = previous.as_mut() {
            if let Some(old) = store.node(uid).map(|old| previous.owners(old)) {
                if old != owners {
                    out.push(moved(uid, &old, &owners));
                }
            }
        }
    }
    out
}

/// The rules over a whole store (after a full replace or a new bundle version).
pub(crate) fn check(model: Option<&FirmModel>, store: &EntityStore) -> Result<(), EngineError> {
    let Some(model) = model else {
        return Ok(());
    };
    let mut diagnostics = crate::profile::check_profile_entities(
        model,
        store.entities_of_type(profile_type(model)),
        |uid| store.get(uid.as_ref()),
        &HashMap::new(),
    );
    diagnostics.extend(tenant_diagnostics(
        model,
        store.nodes(),
        |uid: &EntityUID| store.node(uid),
        None,
    ));
    verdict(diagnostics)
}

/// The declared profile type: the entities the profile rules read.
fn profile_type(model: &FirmModel) -> Option<EntityType> {
    model.entity_type(Part::Profile).map(|t| t.as_ref().clone())
}

fn verdict(diagnostics: Vec<Diagnostic>) -> Result<(), EngineError> {
    let errors: Vec<Diagnostic> = diagnostics.into_iter().filter(|d| d.is_error()).collect();
    if errors.is_empty() {
        Ok(())
    } else {
        Err(EngineError::Rules(errors))
    }
}
