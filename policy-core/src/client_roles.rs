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

fn plan_includes(
    model: &FirmModel,
    entities: &Entities,
    client: &EntityUid,
    role: &str,
) -> Option<(EntityUid, bool)> {
    let plan = attr_uid(entities.get(client)?, &model.attributes.plan)?;
    let included = match entities.get(&plan)?.attr(&model.attributes.client_roles) {
        Some(Ok(EvalResult::Set(set))) => set.contains(&EvalResult::String(role.to_string())),
        _ => false,
    };
    Some((plan, included))
}

pub(crate) fn check_client_roles(
    model: &FirmModel,
    entities: &Entities,
    origins: &HashMap<EntityRef, Location>,
) -> Vec<Diagnostic> {
    let gated_roles = &model.client_roles;
    let team_type = model.type_name(Part::Team);
    let mut diags = Vec::new();
    if gated_roles.is_empty() {
        return diags;
    }
    for member in entities.iter() {
        let member_uid = member.uid();
        let Some(ancestors) = entities.ancestors(&member_uid) else {
            continue;
        };
        for team_uid in ancestors.filter(|a| a.type_name().to_string() == team_type) {
            let Some(team) = entities.get(team_uid) else {
                continue;
            };
            let (Some(role), Some(client)) = (
                attr_string(team, &model.attributes.role),
                attr_uid(team, &model.attributes.client),
            ) else {
                continue;
            };
            if !gated_roles.contains(&role) {
                continue;
            }
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
