//! Static entity files of a bundle: parsed against the schema, every problem located at the
//! entity record that caused it.

use std::collections::{BTreeMap, HashMap};

use cedar_policy::{Entities, Schema};
use serde_json::Value;

use crate::entity_json::{classify, parse_records, uid_of_record};
use crate::error::{Diagnostic, ErrorCode, Location};
use crate::source::{json_array_element_starts, json_syntax_diagnostic, SourceText};
use crate::wire::EntityRef;

pub(crate) struct LoadedEntities {
    /// Static entities plus the schema's action entities.
    pub entities: Entities,
    pub records: Vec<Value>,
    /// Where each entity is written, for domain checks to point at.
    pub origins: HashMap<EntityRef, Location>,
}

/// Reads a JSON file that must hold an array of entity records; located syntax errors.
pub(crate) fn read_records(
    path: &str,
    text: &str,
    diags: &mut Vec<Diagnostic>,
) -> Option<Vec<(Value, Location)>> {
    read_json_array(
        path,
        text,
        ErrorCode::EntityInvalid,
        "an entity file must hold a JSON array of entity records",
        diags,
    )
}

/// Reads a JSON file that must hold an array, each element with where it starts; a syntax error
/// is located, a value that is not an array is `code` with `not_array`.
pub(crate) fn read_json_array(
    path: &str,
    text: &str,
    code: ErrorCode,
    not_array: &str,
    diags: &mut Vec<Diagnostic>,
) -> Option<Vec<(Value, Location)>> {
    let src = SourceText::new(path, text);
    let value: Value = match serde_json::from_str(text) {
        Ok(v) => v,
        Err(e) => {
            diags.push(json_syntax_diagnostic(&src, &e));
            return None;
        }
    };
    let Value::Array(items) = value else {
        diags.push(Diagnostic::error(code, not_array).at(Some(src.start())));
        return None;
    };
    let starts = json_array_element_starts(text);
    Some(
        items
            .into_iter()
            .enumerate()
            .map(|(i, v)| {
                let loc = starts
                    .get(i)
                    .map(|o| src.locate(*o))
                    .unwrap_or_else(|| src.start());
                (v, loc)
            })
            .collect(),
    )
}

pub(crate) fn load(
    files: &[(&str, &str)],
    schema: Option<&Schema>,
    diags: &mut Vec<Diagnostic>,
) -> Option<LoadedEntities> {
    let mut records = Vec::new();
    let mut origins: HashMap<EntityRef, Location> = HashMap::new();
    let mut locations = Vec::new();
    let mut ok = true;
    for (path, text) in files {
        let Some(items) = read_records(path, text, diags) else {
            ok = false;
            continue;
        };
        for (record, loc) in items {
            match uid_of_record(&record) {
                Some(uid) => {
                    if let Some(first) = origins.get(&uid) {
                        diags.push(
                            Diagnostic::error(
                                ErrorCode::EntityDuplicate,
                                format!("entity {uid} is already defined at {first}"),
                            )
                            .at(Some(loc.clone())),
                        );
                        ok = false;
                        continue;
                    }
                    origins.insert(uid, loc.clone());
                }
                None => {
                    diags.push(
                        Diagnostic::error(
                            ErrorCode::EntityInvalid,
                            "entity record needs a `uid` of the form {\"type\": ..., \"id\": ...}",
                        )
                        .at(Some(loc.clone())),
                    );
                    ok = false;
                    continue;
                }
            }
            records.push(record);
            locations.push(loc);
        }
    }
    if !ok {
        return None;
    }
    let all = Value::Array(records.clone());
    match Entities::from_json_value(all, schema) {
        Ok(entities) => Some(LoadedEntities {
            entities,
            records,
            origins,
        }),
        Err(whole_err) => {
            // Find the records that fail on their own, to point at them; what remains is a
            // problem between records (a cycle), located at the entity its message names.
            let mut found = false;
            for (record, loc) in records.iter().zip(&locations) {
                if let Err(e) = parse_records(vec![record.clone()], schema) {
                    let (code, message) = classify(&e);
                    diags.push(Diagnostic::error(code, message).at(Some(loc.clone())));
                    found = true;
                }
            }
            if !found {
                let (code, message) = classify(&whole_err);
                let named: BTreeMap<usize, &Location> = origins
                    .iter()
                    .filter_map(|(uid, loc)| message.find(&uid.to_string()).map(|at| (at, loc)))
                    .collect();
                let loc = named.values().next().map(|l| (*l).clone());
                diags.push(Diagnostic::error(code, message).at(loc));
            }
            None
        }
    }
}
