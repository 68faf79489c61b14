//! Firm administration (for a bundle that declares the firm model, `firm_model.rs`: the types
//! and relations come from the declaration; the other attributes the operations write —
//! `email`, `blocked`, `profile`, `departments`, `detached`... — are those of `policies/`)
//! as the admin console and the server perform it: invite (pending until accepted), accept,
//! resend an invitation, block, deactivate, delete, detach,
//! change an e-mail, change a user's firm roles, site profile, deletion rights or access end
//! date, move users
//! between access profiles or company roles, create a custom
//! profile, choose the firm's default one, make custom roles, hide sections from some of the firm's roles. Each operation is *planned* here — checked against the
//! bundle's own policies for the acting user (plan limits included, with the counts the policies
//! need computed from the store, never taken from the caller) and against the domain rules —
//! and comes out as an entity delta. The browser plans to explain a refusal before sending; the
//! server plans again over its own data and applies the delta through its audited write path.
//
//! `planner` holds the dispatch and what every operation needs (asking the bundle, reading and
//! editing records); `users`, `leaving` (deactivate, delete), `grants` (deletion rights, site
//! profiles), `access_end` (time-bound access), `invitations` (accept, resend),
//! `custom_roles` (roles as data, within the plan), `dossier_profiles` (a profile on one
//! client dossier), `profiles`, `departments` and `sections` the
//! operations on each.

mod access_end;
mod custom_roles;
mod departments;
mod dossier_profiles;
mod grants;
mod invitations;
mod leaving;
mod planner;
mod profiles;
mod sections;
mod users;

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::error::EngineError;
use crate::profile::FieldLevel;
use crate::wire::{EntityDelta, EntityRef};
use crate::Engine;
use planner::Planner;

/// One operation, performed on behalf of `actor` (the firm user whose rights are checked).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "typescript", derive(ts_rs::TS))]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct DirectoryRequest {
    pub actor: EntityRef,
    #[serde(flatten)]
    pub op: DirectoryOp,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
#[cfg_attr(feature = "typescript", derive(ts_rs::TS))]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum DirectoryOp {
    /// A new user of the actor's firm. `roles` are firm role ids (administrator, ...).
    InviteUser {
        id: String,
        name: String,
        first_name: String,
        email: String,
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        roles: Vec<String>,
        #[serde(default, skip_serializing_if = "std::ops::Not::not")]
        external: bool,
        /// Default: the default access profile.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        #[cfg_attr(feature = "typescript", ts(optional))]
        #[cfg_attr(feature = "openapi", schema(nullable = false))]
        profile: Option<EntityRef>,
        /// A site profile id (manager, collaborator) for the whole firm; default none.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        #[cfg_attr(feature = "typescript", ts(optional))]
        #[cfg_attr(feature = "openapi", schema(nullable = false))]
        site_profile: Option<String>,
        /// Deletion rights (documents, entries, clients); default without.
        #[serde(default, skip_serializing_if = "std::ops::Not::not")]
        can_delete: bool,
        /// A client company's user, invited straight onto that company with a client role
        /// (the user is external and employed by the company).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        #[cfg_attr(feature = "typescript", ts(optional))]
        #[cfg_attr(feature = "openapi", schema(nullable = false))]
        company: Option<CompanyRole>,
        /// When the user's access ends (interim staff, auditors): a Cedar datetime (a date,
        /// 2027-06-30, or a date and time, 2027-06-30T18:00:00Z, 2027-06-30T18:00:00+0200);
        /// default none.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        #[cfg_attr(feature = "typescript", ts(optional))]
        #[cfg_attr(feature = "openapi", schema(nullable = false))]
        access_until: Option<String>,
    },
    /// Blocks (or unblocks) a user: no access at all. Never the firm's last active
    /// administrator.
    BlockUser {
        user: EntityRef,
        blocked: bool,
    },
    /// Deactivates a user (no access; the seat of the plan is freed) or reactivates him
    /// (within the plan's user limit). Never the firm's last active administrator.
    DeactivateUser {
        user: EntityRef,
        deactivated: bool,
    },
    /// Deletes a user: he leaves every team, profile and company list; the activity history
    /// keeps what he did. Never the firm's last active administrator.
    DeleteUser {
        user: EntityRef,
    },
    /// Gives or takes a user's deletion rights (`can_delete`).
    SetDeletionRights {
        user: EntityRef,
        can_delete: bool,
    },
    /// Gives a user a site profile (manager, collaborator: the whole firm and all its
    /// companies), or takes it away (`null`). Staff only: never an external user.
    SetSiteProfile {
        user: EntityRef,
        #[serde(default)]
        site_profile: Option<String>,
    },
    /// Replaces a user's firm roles (role ids: administrator, client_manager, accountant...),
    /// at any time after the invitation, one's own included; never leaves the firm without an
    /// active administrator.
    SetRoles {
        user: EntityRef,
        roles: Vec<String>,
    },
    /// Ends a user's access at an instant (a Cedar datetime: a date, or a date and time with
    /// its zone, `Z` or `+hhmm`) or
    /// lifts the end (`null`): from then on the policies refuse him everything, with no job to
    /// run. Decided as `restrict_user`; never on the firm's last administrator without one.
    SetAccessEnd {
        user: EntityRef,
        #[serde(default)]
        access_until: Option<String>,
    },
    /// The invited user accepts his invitation (the actor is the user himself: a host asks on
    /// behalf of whoever its invitation token names). From then on his roles and profile
    /// apply; until then the policies refuse him everything else.
    AcceptInvitation {
        user: EntityRef,
    },
    /// Sends a pending user's invitation again: nothing is written to the entities; the host
    /// issues a new token (the older ones stop working) and emits the event to deliver it.
    ResendInvitation {
        user: EntityRef,
    },
    /// Detaches a user from one client company; the rest of their access stays.
    DetachUser {
        user: EntityRef,
        client: EntityRef,
    },
    ChangeEmail {
        user: EntityRef,
        email: String,
    },
    /// Moves one user to another access profile.
    SetProfile {
        user: EntityRef,
        profile: EntityRef,
    },
    /// Moves every user of profile `from` to profile `to`: their own profile, or with
    /// `client`, the profile they hold on that client's dossier.
    MoveProfileUsers {
        from: EntityRef,
        to: EntityRef,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        #[cfg_attr(feature = "typescript", ts(optional))]
        #[cfg_attr(feature = "openapi", schema(nullable = false))]
        client: Option<EntityRef>,
    },
    /// Gives a user a profile on one client dossier, other than his own (WinAuditor's profile
    /// per dossier), or takes it away (`null`: his own profile applies there again).
    SetDossierProfile {
        user: EntityRef,
        client: EntityRef,
        #[serde(default)]
        profile: Option<EntityRef>,
    },
    /// Moves one user, on one client company, into the team of `role` (leaving their other
    /// teams of that company).
    SetCompanyRole {
        user: EntityRef,
        client: EntityRef,
        role: String,
    },
    /// Creates or updates a custom profile: a copy of `base` restricted to `levels`.
    SaveProfile {
        id: String,
        name: String,
        base: EntityRef,
        levels: BTreeMap<String, FieldLevel>,
    },
    SetDefaultProfile {
        profile: EntityRef,
    },
    /// Removes a custom profile nobody uses any more (never the default).
    DeleteProfile {
        profile: EntityRef,
    },
    /// A new department of the actor's firm, within the plan's department limit.
    CreateDepartment {
        id: String,
        name: String,
    },
    /// Restricts a user to these departments of the firm (empty: no restriction).
    RestrictDepartments {
        user: EntityRef,
        departments: Vec<String>,
    },
    /// Creates or changes a custom role of the actor's firm (`id`: its role id), granting the
    /// action groups `grants` (e.g. `document_read`, `entry_write`) on the firm's clients and
    /// nothing else, within what the firm's plan offers custom roles. Given and taken like any
    /// firm role (`set_roles`).
    SaveRole {
        id: String,
        name: String,
        grants: Vec<String>,
    },
    /// Deletes a custom role of the actor's firm that nobody holds (its grants and hidden
    /// sections go with it).
    DeleteRole {
        role: EntityRef,
    },
    /// Hides an app section from the actor's firm's users holding any of `roles` (firm role
    /// ids), whatever their profiles give; empty: the firm hides it from no role. Other firms
    /// are not affected.
    HideSection {
        section: EntityRef,
        roles: Vec<String>,
    },
}

/// A role on one client company (`role`: one of the company's teams, e.g. `director`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "typescript", derive(ts_rs::TS))]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct CompanyRole {
    pub client: EntityRef,
    pub role: String,
}

/// What an operation would write, and what was checked to allow it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "typescript", derive(ts_rs::TS))]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct DirectoryPlan {
    /// One line for the activity history: "alice invited User::\"zoe\"".
    pub summary: String,
    pub delta: EntityDelta,
    /// The decisions taken (action on resource), all allowed.
    pub checked: Vec<String>,
    /// The acting user's firm: a host that scopes its callers to tenants checks it.
    pub actor_firm: EntityRef,
}

/// The firm the acting user belongs to (from the engine's data, never from the caller): a host
/// that scopes callers to tenants checks it before planning, so that a caller acting outside
/// its tenants learns nothing from a plan's refusals.
pub fn actor_firm(engine: &Engine, actor: &EntityRef) -> Result<EntityRef, EngineError> {
    let model = engine.require_firm_model()?;
    let planner = Planner::new(engine, model, actor);
    planner.entity(actor)?;
    planner.actor_firm()
}

/// Plans `request` over the engine's current data; the engine is not changed.
pub fn plan(engine: &Engine, request: &DirectoryRequest) -> Result<DirectoryPlan, EngineError> {
    let model = engine.require_firm_model()?;
    let planner = Planner::new(engine, model, &request.actor);
    planner.entity(&request.actor)?;
    let actor_firm = planner.actor_firm()?;
    let plan = planner.plan(&request.op, actor_firm)?;
    // A custom profile wider than its base or licence is refused here, with the reason, before
    // anyone tries to write it.
    engine.check_rules(&plan.delta)?;
    Ok(plan)
}
