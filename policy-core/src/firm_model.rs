//! The firm model, declared: which entity types and attributes of a bundle play the parts of an
//! accounting firm (firm, user, role, access profile, licence, plan, department, client team,
//! client-side roles). A bundle opts in with `"firm_model"` in its `manifest.json`; without it
//! the bundle is plain Cedar and none of the firm rules (profiles within their licence, one
//! default profile, client roles within the plan, the directory operations) apply, whatever
//! its types are called. Every name has the demo bundle's value as default, so
//! `"firm_model": {}` declares the model of `policies/`.

use serde::{Deserialize, Serialize};

use crate::error::{Diagnostic, ErrorCode};

/// The declaration, as written in the manifest.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FirmModel {
    /// Prefixed to every type name below that has no `::` of its own (e.g. `"Acme"` makes the
    /// user type `Acme::User`).
    #[serde(default)]
    pub namespace: Option<String>,
    #[serde(default)]
    pub types: FirmTypes,
    #[serde(default)]
    pub attributes: FirmAttributes,
    /// Client-side roles that a client's plan must include before a user may hold them
    /// (checked on a team's role attribute; see `client_roles.rs`).
    #[serde(default)]
    pub client_roles: Vec<String>,
    /// The context attributes the engine computes from its data for a request on a firm
    /// (`plan_counts.rs`): the plan limits are decided on these, never on a caller's numbers.
    #[serde(default)]
    pub counts: FirmCounts,
    /// The context attribute (a `datetime`) that carries the request time, for time-bound
    /// access (`request_time.rs`): a host with a clock puts its own time there on every action
    /// whose context declares it. Empty: no request time.
    #[serde(default = "default_request_time")]
    pub request_time: String,
}

fn default_request_time() -> String {
    "now".into()
}

/// Context attributes the engine fills in itself on a request whose resource is a firm, when
/// the action's context declares them (an empty name counts nothing).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct FirmCounts {
    /// The firm's users who take a seat of its plan: neither external nor deactivated.
    pub users: String,
    /// The firm's departments.
    pub departments: String,
}

impl Default for FirmCounts {
    fn default() -> Self {
        Self {
            users: "user_count".into(),
            departments: "department_count".into(),
        }
    }
}

/// Which entity type plays each part.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct FirmTypes {
    /// The tenant: every user, client, department and custom profile belongs to one.
    pub firm: String,
    pub user: String,
    /// A firm role (administrator, client manager, accountant): users are members of it.
    pub role: String,
    pub department: String,
    /// A client company's team holding one client-side role: its members hold the role.
    pub team: String,
    /// An access profile: tags are per-field / per-section levels 0..=3.
    pub profile: String,
    /// A licence: tags cap the levels of its profiles.
    pub licence: String,
    /// A subscription plan: client roles offered, user and department limits.
    pub plan: String,
    /// The actions' entity type (the directory asks the policies about these actions).
    pub action: String,
    /// A site profile (manager, collaborator): users are members of it. Optional: a schema
    /// without this type has no site profiles, and the directory's site-profile operation says
    /// so instead of the bundle being refused.
    pub site_profile: String,
}

impl Default for FirmTypes {
    fn default() -> Self {
        Self {
            firm: "Firm".into(),
            user: "User".into(),
            role: "Role".into(),
            department: "Department".into(),
            team: "Team".into(),
            profile: "AccessProfile".into(),
            licence: "Licence".into(),
            plan: "Plan".into(),
            action: "Action".into(),
            site_profile: "SiteProfile".into(),
        }
    }
}

/// Which attribute carries each relation the firm rules read.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct FirmAttributes {
    /// On users, clients, departments and custom profiles: their firm.
    pub firm: String,
    /// On firms and clients: their plan.
    pub plan: String,
    /// On profiles: their licence.
    pub licence: String,
    /// On custom profiles: the profile they were copied from.
    pub base: String,
    /// On profiles: whether it is the shared default, given to a firm's new users unless the
    /// firm chose its own (Bool).
    pub is_default: String,
    /// On firms: the default profile the firm chose (optional; absent, the shared default).
    pub default_profile: String,
    /// On teams: the client company.
    pub client: String,
    /// On teams: the client-side role (String).
    pub role: String,
    /// On plans: the client-side roles offered (Set<String>).
    pub client_roles: String,
    /// On plans: the most users a firm may have (Long).
    pub max_users: String,
    /// On plans: the most departments a firm may have (Long).
    pub max_departments: String,
    /// On users: whether the user is external (a client's staff, an auditor: Bool); external
    /// users take no seat of the plan.
    pub external: String,
    /// On users: whether the user is deactivated (optional Bool); a deactivated user takes no
    /// seat either.
    pub deactivated: String,
    /// On users: the instant their access ends (optional `datetime`; interim staff, auditors).
    /// The planner writes it; the policies compare it with the request time.
    pub access_until: String,
    /// On users: whether the user is invited and has not accepted yet (optional Bool). The
    /// planner writes it at the invitation when the schema declares it and clears it at the
    /// acceptance; the policies refuse a pending user everything but accepting.
    pub pending: String,
}

impl Default for FirmAttributes {
    fn default() -> Self {
        Self {
            firm: "firm".into(),
            plan: "plan".into(),
            licence: "licence".into(),
            base: "base".into(),
            is_default: "is_default".into(),
            default_profile: "default_profile".into(),
            client: "client".into(),
            role: "role".into(),
            client_roles: "client_roles".into(),
            max_users: "max_users".into(),
            max_departments: "max_departments".into(),
            external: "external".into(),
            deactivated: "deactivated".into(),
            access_until: "access_until".into(),
            pending: "pending".into(),
        }
    }
}

/// One part of the model, for looking up its (namespaced) type name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Part {
    Firm,
    User,
    Role,
    Department,
    Team,
    Profile,
    Licence,
    Plan,
    Action,
    /// Optional: not in [`Part::ALL`], the types every declared model must have.
    SiteProfile,
}

impl Part {
    pub const ALL: [Part; 9] = [
        Part::Firm,
        Part::User,
        Part::Role,
        Part::Department,
        Part::Team,
        Part::Profile,
        Part::Licence,
        Part::Plan,
        Part::Action,
    ];

    fn key(self) -> &'static str {
        match self {
            Part::Firm => "firm",
            Part::User => "user",
            Part::Role => "role",
            Part::Department => "department",
            Part::Team => "team",
            Part::Profile => "profile",
            Part::Licence => "licence",
            Part::Plan => "plan",
            Part::Action => "action",
            Part::SiteProfile => "site_profile",
        }
    }
}

impl FirmModel {
    /// The full type name (namespace included) that plays `part`.
    pub fn type_name(&self, part: Part) -> String {
        let t = &self.types;
        let name = match part {
            Part::Firm => &t.firm,
            Part::User => &t.user,
            Part::Role => &t.role,
            Part::Department => &t.department,
            Part::Team => &t.team,
            Part::Profile => &t.profile,
            Part::Licence => &t.licence,
            Part::Plan => &t.plan,
            Part::Action => &t.action,
            Part::SiteProfile => &t.site_profile,
        };
        match &self.namespace {
            Some(ns) if !ns.is_empty() && !name.contains("::") => format!("{ns}::{name}"),
            _ => name.clone(),
        }
    }

    /// The type that plays `part`, parsed, for comparisons made once per entity (no string built
    /// per entity); `None` when the declared name is not a type name (it then names nothing).
    pub fn entity_type(&self, part: Part) -> Option<cedar_policy::EntityTypeName> {
        self.type_name(part).parse().ok()
    }

    /// Whether an entity of type `type_name` (full name) plays `part`.
    pub fn is(&self, part: Part, type_name: &str) -> bool {
        self.type_name(part) == type_name
    }

    /// Every declared type must be one of the schema's entity types (the action type, the
    /// schema's actions): a misspelt name would silently switch a rule off.
    pub(crate) fn check_against(&self, schema: &cedar_policy::Schema) -> Vec<Diagnostic> {
        let entity_types: std::collections::BTreeSet<String> =
            schema.entity_types().map(|t| t.to_string()).collect();
        let action_types: std::collections::BTreeSet<String> = schema
            .actions()
            .map(|a| a.type_name().to_string())
            .collect();
        Part::ALL
            .iter()
            .filter_map(|&part| {
                let name = self.type_name(part);
                let known = if part == Part::Action {
                    action_types.contains(&name)
                } else {
                    entity_types.contains(&name)
                };
                (!known).then(|| {
                    Diagnostic::error(
                        ErrorCode::ManifestInvalid,
                        format!(
                            "firm_model: the {} type `{name}` is not an entity type of the schema",
                            part.key()
                        ),
                    )
                    .with_help(Some(format!(
                        "name it in `firm_model.types.{}` (or set `firm_model.namespace`)",
                        part.key()
                    )))
                })
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_empty_declaration_is_the_demo_model() {
        let model: FirmModel = serde_json::from_str("{}").unwrap_or_else(|_| FirmModel {
            namespace: Some("wrong".into()),
            types: FirmTypes::default(),
            attributes: FirmAttributes::default(),
            client_roles: vec![],
            counts: FirmCounts::default(),
            request_time: String::new(),
        });
        assert_eq!(model.request_time, "now");
        assert_eq!(model.type_name(Part::Profile), "AccessProfile");
        assert!(model.is(Part::User, "User"));
    }

    #[test]
    fn the_namespace_prefixes_bare_names_only() {
        let model: Result<FirmModel, _> = serde_json::from_str(
            r#"{"namespace": "Acme", "types": {"profile": "Other::Profile"}}"#,
        );
        let Ok(model) = model else {
            return assert!(model.is_ok());
        };
        assert_eq!(model.type_name(Part::User), "Acme::User");
        assert_eq!(model.type_name(Part::Profile), "Other::Profile");
    }

    #[test]
    fn unknown_keys_are_refused() {
        assert!(serde_json::from_str::<FirmModel>(r#"{"typos": {}}"#).is_err());
    }
}
