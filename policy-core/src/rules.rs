//! The firm model's rules (only for a bundle that declares the model) every entity write must keep, not only bundle loading: a custom access profile
//! never wider than its base or its licence, exactly one default profile. Checked on the store
//! as a write would leave it, before the write is applied, so a refused write changes nothing.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use cedar_policy::Entity;
use cedar_policy_core::ast::{Entity as CoreEntity, EntityType, EntityUID};
use ref_cast::RefCast;

use crate::error::{Diagnostic, EngineError, ErrorCode};
use crate::firm_model::{FirmModel, Part};
use crate::store::{refs_of, EntityStore, Node};
use crate::tenant_rule::Owners;

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
        .map(|(entity, refs)| (entity.uid(), Node { entity, refs }))
        .collect();
    let node = |uid: &EntityUID| -> Option<Node<'_>> {
        match written.get(uid) {
            Some(n) => Some(*n),
            None if removed.contains(uid) => None,
            None => store.node(uid),
        }
    };
    // Reported after the profile rules' (the more specific) when both are broken.
    let mut tenants = tenant_crossings(model, written.values().copied(), node);
    tenants.extend(tenant_moves(model, store, written.values().copied(), node));
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
        .iter()
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
    diagnostics.extend(tenants);
    verdict(diagnostics)
}

/// The entities of `check` that would belong to two firms (`tenant_rule`).
fn tenant_crossings<'s>(
    model: &FirmModel,
    check: impl Iterator<Item = Node<'s>>,
    get: impl Fn(&EntityUID) -> Option<Node<'s>>,
) -> Vec<Diagnostic> {
    let Some(firm) = model.entity_type(Part::Firm) else {
        return Vec::new();
    };
    let firm: &EntityType = firm.as_ref();
    let mut owners = Owners::new(firm.clone(), get);
    check.filter_map(|e| owners.check(e)).collect()
}

/// The written entities that exist already and would reach other firms than they do.
fn tenant_moves<'s>(
    model: &FirmModel,
    store: &'s EntityStore,
    written: impl Iterator<Item = Node<'s>>,
    get: impl Fn(&EntityUID) -> Option<Node<'s>>,
) -> Vec<Diagnostic> {
    let Some(firm) = model.entity_type(Part::Firm) else {
        return Vec::new();
    };
    let firm: &EntityType = firm.as_ref();
    let mut before = Owners::new(firm.clone(), |uid: &EntityUID| store.node(uid));
    let mut after = Owners::new(firm.clone(), get);
    let names = |owners: &[EntityUID]| match owners {
        [] => "no firm".to_string(),
        _ => owners
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join(" and "),
    };
    written
        .filter_map(|node| {
            let old = before.owners(store.node(node.entity.uid())?);
            let new = after.owners(node);
            (old != new).then(|| {
                Diagnostic::error(
                    ErrorCode::CrossTenant,
                    format!(
                        "{} belongs to {}; this write would make it belong to {}: an entity stays in its firm (remove it and create it in the other)",
                        node.entity.uid(),
                        names(&old),
                        names(&new)
                    ),
                )
            })
        })
        .collect()
}

/// The rules over a whole store (after a full replace or a new bundle version).
pub(crate) fn check(model: Option<&FirmModel>, store: &EntityStore) -> Result<(), EngineError> {
    let Some(model) = model else {
        return Ok(());
    };
    let mut diagnostics = crate::profile::check_profile_entities(
        model,
        store.iter(),
        |uid| store.get(uid.as_ref()),
        &HashMap::new(),
    );
    diagnostics.extend(tenant_crossings(model, store.nodes(), |uid: &EntityUID| {
        store.node(uid)
    }));
    verdict(diagnostics)
}

fn verdict(diagnostics: Vec<Diagnostic>) -> Result<(), EngineError> {
    let errors: Vec<Diagnostic> = diagnostics.into_iter().filter(|d| d.is_error()).collect();
    if errors.is_empty() {
        Ok(())
    } else {
        Err(EngineError::Rules(errors))
    }
}
