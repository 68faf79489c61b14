//! Small helpers over Cedar entity JSON shared by bundle loading, deltas and tests.

use cedar_policy::entities_errors::EntitiesError;
use cedar_policy::{Entities, EntityId, EntityTypeName, EntityUid, Schema};
use serde_json::Value;
use std::str::FromStr;

use crate::error::{render_chain, EngineError, ErrorCode};
use crate::wire::EntityRef;

/// The uid of an entity JSON record, in either of Cedar's forms (`{"type","id"}` or `__entity`).
pub fn uid_of_record(record: &Value) -> Option<EntityRef> {
    entity_ref_of(record.get("uid")?)
}

/// An entity reference written as `{"type","id"}` or `{"__entity": {"type","id"}}`.
pub(crate) fn entity_ref_of(value: &Value) -> Option<EntityRef> {
    let v = value.get("__entity").unwrap_or(value);
    Some(EntityRef::new(
        v.get("type")?.as_str()?,
        v.get("id")?.as_str()?,
    ))
}

/// Converts a wire reference to a Cedar uid, rejecting malformed type names.
pub(crate) fn to_uid(r: &EntityRef) -> Result<EntityUid, EngineError> {
    let type_name = EntityTypeName::from_str(&r.type_name).map_err(|e| {
        EngineError::InvalidRequest(format!("`{}` is not an entity type name: {e}", r.type_name))
    })?;
    Ok(EntityUid::from_type_name_and_id(
        type_name,
        EntityId::new(&r.id),
    ))
}

pub(crate) fn to_ref(uid: &EntityUid) -> EntityRef {
    EntityRef::new(uid.type_name().to_string(), uid.id().unescaped())
}

/// An entity-valued attribute (`None` if absent or of another kind).
pub(crate) fn attr_uid(entity: &cedar_policy::Entity, name: &str) -> Option<EntityUid> {
    match entity.attr(name) {
        Some(Ok(cedar_policy::EvalResult::EntityUid(uid))) => Some(uid),
        _ => None,
    }
}

/// A String attribute (`None` if absent or of another kind).
pub(crate) fn attr_string(entity: &cedar_policy::Entity, name: &str) -> Option<String> {
    match entity.attr(name) {
        Some(Ok(cedar_policy::EvalResult::String(s))) => Some(s),
        _ => None,
    }
}

/// Maps Cedar's entity errors onto our codes, with the whole cause chain as message.
pub(crate) fn classify(err: &EntitiesError) -> (ErrorCode, String) {
    let code = match err {
        EntitiesError::TransitiveClosureError(_) => ErrorCode::EntityCycle,
        EntitiesError::Duplicate(_) => ErrorCode::EntityDuplicate,
        _ => ErrorCode::EntityInvalid,
    };
    (code, render_chain(err))
}

pub(crate) fn engine_error(err: &EntitiesError) -> EngineError {
    let (code, message) = classify(err);
    match code {
        ErrorCode::EntityCycle => EngineError::EntityCycle(message),
        ErrorCode::EntityDuplicate => EngineError::EntityDuplicate(message),
        _ => EngineError::EntityInvalid(message),
    }
}

/// Parses entity records against the schema, if any (schema action entities are not added).
pub(crate) fn parse_records(
    records: Vec<Value>,
    schema: Option<&Schema>,
) -> Result<Entities, Box<EntitiesError>> {
    Entities::empty()
        .add_entities_from_json_value(Value::Array(records), schema)
        .map_err(Box::new)
}
