//! "A client-side role is only assignable when the client's plan includes it", checked over an
//! entity store.
//!
//! Part of the declared firm model (`firm_model.rs`): a user holds a role on a client by being a
//! member (`in`) of an entity of the team type whose attributes name the client (an entity) and
//! the role (String). The client's plan attribute names a plan entity whose client-roles
//! attribute is a `Set<String>`. Which roles are plan-gated is the model's `client_roles`.

use std::collections::HashMap;

use cedar_policy::{Entities, EntityUid, EvalResult};

use crate::entity_json::{attr_string, attr_uid, to_ref};
use crate::error::{Diagnostic, ErrorCode, Location};
use crate::firm_model::{FirmModel, Part};
use crate::wire::EntityRef;

/// The client-side role `team` gives and the client it gives it on, when the role is one the
/// model gates by plan.
fn gated_role(model: &FirmModel, team: &cedar_policy::Entity) -> Option<(String, EntityUid)> {
    let role = attr_string(team, &model.attributes.role)?;
    let client = attr_uid(team, &model.attributes.client)?;
    model.client_roles.contains(&role).then_some((role, client))
}

/// Whether `plan` offers `role` (its client-roles set names it).
fn offers(model: &FirmModel, plan: &cedar_policy::Entity, role: &str) -> bool {
    matches!(plan.attr(&model.attributes.client_roles),
        Some(Ok(EvalResult::Set(set))) if set.contains(&EvalResult::String(role.to_string())))
}

fn plan_includes(
    model: &FirmModel,
    entities: &Entities,
    client: &EntityUid,
    role: &str,
) -> Option<(EntityUid, bool)> {
    let plan = attr_uid(entities.get(client)?, &model.attributes.plan)?;
    let included = offers(model, entities.get(&plan)?, role);
    Some((plan, included))
}

pub(crate) fn check_client_roles(
    model: &FirmModel,
    entities: &Entities,
    origins: &HashMap<EntityRef, Location>,
) -> Vec<Diagnostic> {
    let team_type = model.type_name(Part::Team);
    let mut diags = Vec::new();
    if model.client_roles.is_empty() {
        return diags;
    }
    for member in entities.iter() {
        let member_uid = member.uid();
        let Some(ancestors) = entities.ancestors(&member_uid) else {
            continue;
        };
        for team_uid in ancestors.filter(|a| a.type_name().to_string() == team_type) {
            let Some((role, client)) = entities.get(team_uid).and_then(|t| gated_role(model, t))
            else {
                continue;
            };
            if let Some((plan, false)) = plan_includes(model, entities, &client, &role) {
                let member_ref = to_ref(&member_uid);
                diags.push(
                    Diagnostic::error(
                        ErrorCode::ClientRoleOutsidePlan,
                        format!(
                            "{member_ref} holds client role `{role}` on {client}, but plan {plan} does not include it"
                        ),
                    )
                    .at(origins.get(&member_ref).cloned())
                    .with_help(Some(format!(
                        "upgrade the client's plan or remove {member_ref} from {team_uid}"
                    ))),
                );
            }
        }
    }
    diags.sort_by(|a, b| a.message.cmp(&b.message));
    diags
}

/// The same rule on what a write changes, without reading the whole store: a member the write
/// puts into a team of a plan-gated role, and the members of a team whose role or client the
/// write changes, must find the role in the client's plan (what a write leaves as it was is
/// not its doing: a plan downgrade is the policies' to enforce, at decision time). `get` reads
/// the store as the write would leave it, `before` as it was; `members_of` gives a team's
/// stored members (not removed or rewritten by the write).
pub(crate) fn check_written<'a>(
    model: &FirmModel,
    written: impl Iterator<Item = &'a cedar_policy::Entity>,
    get: impl Fn(&EntityUid) -> Option<&'a cedar_policy::Entity>,
    before: impl Fn(&EntityUid) -> Option<&'a cedar_policy::Entity>,
    members_of: impl Fn(&EntityUid) -> Vec<EntityUid>,
) -> Vec<Diagnostic> {
    if model.client_roles.is_empty() {
        return Vec::new();
    }
    let Some(team_type) = model.entity_type(Part::Team) else {
        return Vec::new();
    };
    // (member, team) pairs to check, each once, in a stable order.
    let mut pairs: std::collections::BTreeSet<(EntityUid, EntityUid)> = Default::default();
    for entity in written {
        let uid = entity.uid();
        let old = before(&uid);
        if uid.type_name() == &team_type {
            let same = |name: &str| {
                old.is_some_and(|o| attr_string(o, name) == attr_string(entity, name))
                    && old.is_some_and(|o| attr_uid(o, name) == attr_uid(entity, name))
            };
            if !(same(&model.attributes.role) && same(&model.attributes.client)) {
                for member in members_of(&uid) {
                    pairs.insert((member, uid.clone()));
                }
            }
        }
        let core: &cedar_policy_core::ast::Entity = entity.as_ref();
        for parent in core.parents() {
            let was_member = old.is_some_and(|o| {
                let o: &cedar_policy_core::ast::Entity = o.as_ref();
                o.parents().any(|p| p == parent)
            });
            let parent = EntityUid::from(parent.clone());
            if parent.type_name() == &team_type && !was_member {
                pairs.insert((uid.clone(), parent));
            }
        }
    }
    let mut diags = Vec::new();
    for (member, team) in pairs {
        let Some((role, client)) = get(&team).and_then(|t| gated_role(model, t)) else {
            continue;
        };
        let plan = get(&client).and_then(|c| attr_uid(c, &model.attributes.plan));
        let included = plan
            .as_ref()
            .and_then(&get)
            .is_some_and(|p| offers(model, p, &role));
        if let (Some(plan), false) = (plan, included) {
            let (member, team) = (to_ref(&member), to_ref(&team));
            diags.push(
                Diagnostic::error(
                    ErrorCode::ClientRoleOutsidePlan,
                    format!(
                        "{member} would hold client role `{role}` on {client}, but plan {plan} does not include it"
                    ),
                )
                .with_help(Some(format!(
                    "upgrade the client's plan, or keep {member} out of {team}"
                ))),
            );
        }
    }
    diags
}
