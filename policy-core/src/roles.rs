//! The roles a bundle's entities declare (under its declared firm model), for faces that offer
//! them: firm roles are the entities of the model's role type (a user is `in` each role he holds, as the directory's invitations
//! write it); company roles are the names of the teams client companies have (the `teams`
//! record a company's role assignments go through).

use std::collections::BTreeSet;

use cedar_policy::{Entity, EvalResult};
use serde::{Deserialize, Serialize};

use crate::firm_model::{FirmModel, Part};

/// Role names, each list sorted.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "typescript", derive(ts_rs::TS))]
pub struct Roles {
    /// Ids of the `Role` entities.
    pub firm: Vec<String>,
    /// Names of the teams in any entity's `teams` record.
    pub company: Vec<String>,
}

pub fn roles<'a>(model: &FirmModel, entities: impl IntoIterator<Item = &'a Entity>) -> Roles {
    let role_type = model.type_name(Part::Role);
    let mut firm = BTreeSet::new();
    let mut company = BTreeSet::new();
    for entity in entities {
        let uid = entity.uid();
        if uid.type_name().to_string() == role_type {
            firm.insert(uid.id().unescaped().to_string());
        }
        if let Some(Ok(EvalResult::Record(teams))) = entity.attr("teams") {
            company.extend(teams.iter().map(|(name, _)| name.to_string()));
        }
    }
    Roles {
        firm: firm.into_iter().collect(),
        company: company.into_iter().collect(),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

    use super::*;
    use crate::licence::licences;
    use crate::profile::FieldLevel;
    use crate::{Bundle, Engine};

    const SCHEMA: &str = "entity Role;\n\
        entity Team;\n\
        entity User in [Role, Team];\n\
        entity Licence = { name: String } tags Long;\n\
        entity AccessProfile = { name: String, licence: Licence, is_default: Bool } tags Long;\n\
        entity Client = { teams: { director: Team, billing: Team } };\n\
        action view appliesTo { principal: User, resource: Client };\n";

    const ENTITIES: &str = r#"[
        {"uid": {"type": "Role", "id": "administrator"}, "attrs": {}, "parents": []},
        {"uid": {"type": "Role", "id": "accountant"}, "attrs": {}, "parents": []},
        {"uid": {"type": "Team", "id": "acme-director"}, "attrs": {}, "parents": []},
        {"uid": {"type": "Team", "id": "acme-billing"}, "attrs": {}, "parents": []},
        {"uid": {"type": "Client", "id": "acme"}, "parents": [], "attrs": {"teams": {
            "director": {"__entity": {"type": "Team", "id": "acme-director"}},
            "billing": {"__entity": {"type": "Team", "id": "acme-billing"}}}}},
        {"uid": {"type": "Licence", "id": "basic"}, "attrs": {"name": "Basic"}, "parents": [],
         "tags": {"invoice.amount": 2}},
        {"uid": {"type": "Licence", "id": "unsold"}, "attrs": {"name": "Unsold"}, "parents": [],
         "tags": {"invoice.amount": 3}},
        {"uid": {"type": "AccessProfile", "id": "clerk"}, "parents": [], "tags": {"invoice.amount": 1},
         "attrs": {"name": "Clerk", "licence": {"__entity": {"type": "Licence", "id": "basic"}}, "is_default": true}}
    ]"#;

    /// The firm model with its default names (the schema above has only the parts read here).
    fn model() -> FirmModel {
        serde_json::from_str("{}").unwrap()
    }

    fn engine() -> Engine {
        Engine::new(
            Bundle::load([
                ("schema.cedarschema", SCHEMA),
                ("policies.cedar", ""),
                ("entities.json", ENTITIES),
            ])
            .unwrap(),
        )
    }

    #[test]
    fn firm_roles_are_the_role_entities_and_company_roles_the_team_names() {
        let roles = roles(&model(), engine().entities());
        assert_eq!(roles.firm, ["accountant", "administrator"]);
        assert_eq!(roles.company, ["billing", "director"]);
    }

    #[test]
    fn a_licence_named_by_a_profile_gives_its_levels_by_name() {
        let found = licences(&model(), engine().entities());
        assert_eq!(found.len(), 1, "{found:?}");
        assert_eq!(found[0].name.as_deref(), Some("Basic"));
        assert_eq!(found[0].levels["invoice.amount"], FieldLevel::Read);
    }
}
