//! Licences: a licence entity's tags are the highest level per field or section key that any
//! access profile of the licence may grant (the convention of [`crate::profile`]). Read here
//! so that faces show what the engine checks, not a copy of it.

use std::collections::{BTreeMap, BTreeSet};

use cedar_policy::Entity;
use serde::{Deserialize, Serialize};

use crate::entity_json::{attr_string, to_ref};
use crate::firm_model::FirmModel;
use crate::profile::{levels_of, FieldLevel};
use crate::wire::EntityRef;

/// One licence, as the engine reads it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "typescript", derive(ts_rs::TS))]
pub struct Licence {
    pub uid: EntityRef,
    pub name: Option<String>,
    /// The most any of its profiles may grant; a key that is absent is `none`.
    pub levels: BTreeMap<String, FieldLevel>,
}

/// Every licence some access profile names, sorted by uid.
pub fn licences<'a>(
    model: &FirmModel,
    entities: impl IntoIterator<Item = &'a Entity>,
) -> Vec<Licence> {
    let all: Vec<&Entity> = entities.into_iter().collect();
    let named: BTreeSet<EntityRef> = crate::profile::profiles(model, all.iter().copied())
        .into_iter()
        .filter_map(|p| p.licence)
        .collect();
    let mut out: Vec<Licence> = all
        .into_iter()
        .filter(|e| named.contains(&to_ref(&e.uid())))
        .map(|e| Licence {
            uid: to_ref(&e.uid()),
            name: attr_string(e, "name"),
            levels: levels_of(e, &mut Vec::new()),
        })
        .collect();
    out.sort_by(|a, b| a.uid.cmp(&b.uid));
    out
}

/// Every level, lowest first: the order the engine compares them in.
pub fn field_levels() -> [FieldLevel; 4] {
    FieldLevel::ALL
}
