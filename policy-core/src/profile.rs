//! Access profiles: per-field levels `none < print < read < full`, grouped by licence.
//!
//! Part of the declared firm model (`firm_model.rs`): only a bundle whose manifest declares it
//! has access profiles. A profile is an entity of the declared profile type with the declared
//! attributes for its licence (a licence entity), optional base (the profile it was copied
//! from) and default flag (Bool), and one tag per field or section key holding its level as a
//! Long 0..=3. A licence entity carries the same kind of tags: the highest level any profile of
//! that licence may grant. A key that is absent is `none`.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use cedar_policy::{Entities, Entity, EntityUid, EvalResult};
use serde::{Deserialize, Serialize};

use crate::entity_json::{attr_string, attr_uid, to_ref};
use crate::error::{Diagnostic, ErrorCode, Location};
use crate::firm_model::{FirmModel, Part};
pub use crate::level::FieldLevel;
use crate::wire::{EntityRef, ProfileDifference};

/// One access profile as read from the entity store.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "typescript", derive(ts_rs::TS))]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct AccessProfile {
    pub uid: EntityRef,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "typescript", ts(optional))]
    #[cfg_attr(feature = "openapi", schema(nullable = false))]
    pub name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "typescript", ts(optional))]
    #[cfg_attr(feature = "openapi", schema(nullable = false))]
    pub licence: Option<EntityRef>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "typescript", ts(optional))]
    #[cfg_attr(feature = "openapi", schema(nullable = false))]
    pub base: Option<EntityRef>,
    /// A custom profile's firm: only that firm uses it. Absent: shared by every firm.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "typescript", ts(optional))]
    #[cfg_attr(feature = "openapi", schema(nullable = false))]
    pub firm: Option<EntityRef>,
    /// Whether new users get it: in a listing for one firm, that firm's default
    /// ([`crate::Engine::firm_profiles`]); otherwise the shared default of the bundle.
    pub is_default: bool,
    pub levels: BTreeMap<String, FieldLevel>,
}

impl AccessProfile {
    pub fn level(&self, key: &str) -> FieldLevel {
        self.levels.get(key).copied().unwrap_or(FieldLevel::None)
    }
}

/// Reads tags as levels; reports any tag that is not a Long in 0..=3.
pub(crate) fn levels_of(
    entity: &Entity,
    problems: &mut Vec<String>,
) -> BTreeMap<String, FieldLevel> {
    let mut levels = BTreeMap::new();
    for (key, value) in entity.tags() {
        match value {
            Ok(EvalResult::Long(n)) => match FieldLevel::from_long(n) {
                Some(level) => {
                    levels.insert(key.to_string(), level);
                }
                None => problems.push(format!(
                    "`{key}` has level {n}; levels are 0 (none), 1 (print), 2 (read), 3 (full)"
                )),
            },
            _ => problems.push(format!("`{key}` must be a Long level 0..=3")),
        }
    }
    levels
}

/// Every access profile in the store, sorted by uid.
pub fn profiles<'a>(
    model: &FirmModel,
    entities: impl IntoIterator<Item = &'a Entity>,
) -> Vec<AccessProfile> {
    let profile_type = model.entity_type(Part::Profile);
    let mut out: Vec<AccessProfile> = entities
        .into_iter()
        .filter(|e| Some(e.uid().type_name()) == profile_type.as_ref())
        .map(|e| read_profile(model, e, &mut Vec::new()))
        .collect();
    out.sort_by(|a, b| a.uid.cmp(&b.uid));
    out
}

/// `entity` as an access profile, if it is one (of the declared profile type).
pub(crate) fn profile_of(model: &FirmModel, entity: &Entity) -> Option<AccessProfile> {
    let profile_type = model.entity_type(Part::Profile)?;
    (entity.uid().type_name() == &profile_type)
        .then(|| read_profile(model, entity, &mut Vec::new()))
}

fn read_profile(model: &FirmModel, entity: &Entity, problems: &mut Vec<String>) -> AccessProfile {
    let attrs = &model.attributes;
    AccessProfile {
        uid: to_ref(&entity.uid()),
        name: attr_string(entity, "name"),
        licence: attr_uid(entity, &attrs.licence).map(|u| to_ref(&u)),
        base: attr_uid(entity, &attrs.base).map(|u| to_ref(&u)),
        firm: attr_uid(entity, &attrs.firm).map(|u| to_ref(&u)),
        is_default: matches!(
            entity.attr(&attrs.is_default),
            Some(Ok(EvalResult::Bool(true)))
        ),
        levels: levels_of(entity, problems),
    }
}

/// Checks the profile rules over a store: levels well-formed, a profile never wider than its
/// base or its licence, exactly one default. `origins` says where each entity is written.
pub(crate) fn check_profiles(
    model: &FirmModel,
    entities: &Entities,
    origins: &HashMap<EntityRef, Location>,
) -> Vec<Diagnostic> {
    check_profile_entities(model, entities.iter(), |uid| entities.get(uid), origins)
}

/// The profile rules over any entity view: `all` yields every entity (profiles are picked out),
/// `get` finds a licence by uid. Shared by bundle loading and entity writes.
pub(crate) fn check_profile_entities<'a>(
    model: &FirmModel,
    all: impl Iterator<Item = &'a Entity>,
    get: impl Fn(&EntityUid) -> Option<&'a Entity>,
    origins: &HashMap<EntityRef, Location>,
) -> Vec<Diagnostic> {
    let mut diags = Vec::new();
    let mut by_uid: BTreeMap<EntityRef, AccessProfile> = BTreeMap::new();
    let profile_type = model.entity_type(Part::Profile);
    for entity in all.filter(|e| Some(e.uid().type_name()) == profile_type.as_ref()) {
        let mut problems = Vec::new();
        let profile = read_profile(model, entity, &mut problems);
        let at = origins.get(&profile.uid).cloned();
        for p in problems {
            diags.push(
                Diagnostic::error(
                    ErrorCode::ProfileInvalid,
                    format!("profile {}: {p}", profile.uid),
                )
                .at(at.clone()),
            );
        }
        by_uid.insert(profile.uid.clone(), profile);
    }
    if by_uid.is_empty() {
        return diags;
    }
    for profile in by_uid.values() {
        let at = origins.get(&profile.uid).cloned();
        let licence_levels = match &profile.licence {
            None => {
                diags.push(
                    Diagnostic::error(
                        ErrorCode::ProfileInvalid,
                        format!("profile {} has no licence", profile.uid),
                    )
                    .at(at.clone()),
                );
                None
            }
            Some(licence) => match crate::entity_json::to_uid(licence)
                .ok()
                .and_then(|u| get(&u))
            {
                Some(e) => Some(levels_of(e, &mut Vec::new())),
                None => {
                    diags.push(
                        Diagnostic::error(
                            ErrorCode::ProfileInvalid,
                            format!("profile {}: licence {licence} does not exist", profile.uid),
                        )
                        .at(at.clone()),
                    );
                    None
                }
            },
        };
        if let (Some(licence), Some(levels)) = (&profile.licence, &licence_levels) {
            for (key, level) in &profile.levels {
                let max = levels.get(key).copied().unwrap_or(FieldLevel::None);
                if *level > max {
                    diags.push(
                        Diagnostic::error(
                            ErrorCode::ProfileWiderThanLicence,
                            format!(
                                "profile {} gives `{key}` level {level}, but its licence {licence} allows at most {max}",
                                profile.uid
                            ),
                        )
                        .at(at.clone()),
                    );
                }
            }
        }
        if let Some(base_ref) = &profile.base {
            match by_uid.get(base_ref) {
                None => diags.push(
                    Diagnostic::error(
                        ErrorCode::ProfileInvalid,
                        format!(
                            "profile {}: base profile {base_ref} does not exist",
                            profile.uid
                        ),
                    )
                    .at(at.clone()),
                ),
                Some(base) => {
                    if base.licence != profile.licence {
                        diags.push(
                            Diagnostic::error(
                                ErrorCode::ProfileInvalid,
                                format!(
                                    "profile {} must have the licence of its base {base_ref}",
                                    profile.uid
                                ),
                            )
                            .at(at.clone()),
                        );
                    }
                    for (key, level) in &profile.levels {
                        let max = base.level(key);
                        if *level > max {
                            diags.push(
                                Diagnostic::error(
                                    ErrorCode::ProfileWiderThanBase,
                                    format!(
                                        "profile {} gives `{key}` level {level}, but its base {base_ref} gives {max}",
                                        profile.uid
                                    ),
                                )
                                .at(at.clone())
                                .with_help(Some(
                                    "a custom profile may only restrict its base profile".into(),
                                )),
                            );
                        }
                    }
                }
            }
        }
    }
    let defaults: Vec<&EntityRef> = by_uid
        .values()
        .filter(|p| p.is_default)
        .map(|p| &p.uid)
        .collect();
    if defaults.len() != 1 {
        let names: Vec<String> = defaults.iter().map(|d| d.to_string()).collect();
        let at = defaults.get(1).and_then(|d| origins.get(*d)).cloned();
        diags.push(
            Diagnostic::error(
                ErrorCode::DefaultProfile,
                format!(
                    "exactly one access profile must have is_default = true; found {}{}",
                    defaults.len(),
                    if names.is_empty() {
                        String::new()
                    } else {
                        format!(": {}", names.join(", "))
                    }
                ),
            )
            .at(at),
        );
    }
    diags
}

/// Every key whose level differs between two profiles, sorted by key.
pub fn compare(left: &AccessProfile, right: &AccessProfile) -> Vec<ProfileDifference> {
    let keys: BTreeSet<&String> = left.levels.keys().chain(right.levels.keys()).collect();
    keys.into_iter()
        .filter_map(|key| {
            let (l, r) = (left.level(key), right.level(key));
            (l != r).then(|| ProfileDifference {
                key: key.clone(),
                left: l,
                right: r,
            })
        })
        .collect()
}

/// The shared default is every firm's until a firm chooses its own: a write may not make one
/// firm's custom profile the default (the other firms' new users would get a profile not
/// theirs). Checked on what a write upserts only: a store holding such a profile from before
/// firms chose their own defaults still loads (each firm's default then falls back as
/// [`crate::Engine::default_profile`] says).
pub(crate) fn firm_owned_defaults<'a>(
    model: &FirmModel,
    upserted: impl Iterator<Item = &'a Entity>,
) -> Vec<Diagnostic> {
    let profile_type = model.entity_type(Part::Profile);
    upserted
        .filter(|e| Some(e.uid().type_name()) == profile_type.as_ref())
        .map(|e| read_profile(model, e, &mut Vec::new()))
        .filter(|p| p.is_default)
        .filter_map(|p| {
            let firm = p.firm.as_ref()?;
            Some(
                Diagnostic::error(
                    ErrorCode::DefaultProfile,
                    format!(
                        "profile {} is {firm}'s own: it cannot be the default shared by every firm",
                        p.uid
                    ),
                )
                .with_help(Some(format!(
                    "a firm chooses its own default with its `{}` attribute",
                    model.attributes.default_profile
                ))),
            )
        })
        .collect()
}
