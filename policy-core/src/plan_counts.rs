//! The counts a firm's plan limits are decided on (its seats taken, its departments), computed
//! from the engine's data for every request on a firm, never taken from the caller.
//!
//! Part of the declared firm model (`firm_model.rs`, `counts`): when a request's resource is a
//! firm and its action's context declares a count attribute (`user_count`, `department_count`
//! in `policies/`), the engine puts its own number there before deciding, replacing whatever
//! the caller sent. A caller can thus neither invite past the plan by sending `0` nor needs to
//! know the number; the directory's planner reads the same numbers for its refusal messages.

use cedar_policy_core::ast::EntityUID;
use cedar_policy_core::validator::types::Type;
use serde_json::{Map, Value};

use crate::bundle::Bundle;
use crate::engine::HostTime;
use crate::entity_json::to_uid;
use crate::error::EngineError;
use crate::firm_model::{FirmModel, Part};
use crate::store::EntityStore;
use crate::wire::EntityRef;

/// A firm's counts, as a host hands them to a slice it packed (`packed.rs`): the slice holds
/// what a call reads, not the firm's every user, so the guest takes the host's numbers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub(crate) struct PlanCounts {
    pub seats: u64,
    pub departments: u64,
}

/// `firm`'s counts on `store` (for a host packing a slice).
pub(crate) fn firm_counts(model: &FirmModel, store: &EntityStore, firm: &EntityUID) -> PlanCounts {
    PlanCounts {
        seats: seats_taken(model, store, firm) as u64,
        departments: departments(model, store, firm) as u64,
    }
}

/// The firm's users who take a seat of its plan: of the firm, neither external nor
/// deactivated.
pub(crate) fn seats_taken(model: &FirmModel, store: &EntityStore, firm: &EntityUID) -> usize {
    if let Some(counts) = store.host_counts(firm) {
        return usize::try_from(counts.seats).unwrap_or(usize::MAX);
    }
    let (Some(firm), Some(user_type)) = (store.number_of(firm), model.entity_type(Part::User))
    else {
        return 0;
    };
    let names = &model.attributes;
    store.count_where(user_type.as_ref(), |user| {
        user.attr_is(&names.firm, firm)
            && user.attr_bool(&names.external) != Some(true)
            && user.attr_bool(&names.deactivated) != Some(true)
    })
}

/// The firm's departments (the departments `in` it).
pub(crate) fn departments(model: &FirmModel, store: &EntityStore, firm: &EntityUID) -> usize {
    if let Some(counts) = store.host_counts(firm) {
        return usize::try_from(counts.departments).unwrap_or(usize::MAX);
    }
    let (Some(firm), Some(department_type)) =
        (store.number_of(firm), model.entity_type(Part::Department))
    else {
        return 0;
    };
    store.count_where(department_type.as_ref(), |d| d.is_in(firm))
}

/// Whether the action's context declares the attribute `name`. Without a schema nothing says
/// so: the count then replaces only an attribute the caller sent.
fn declares(bundle: &Bundle, action: &EntityUID, name: &str, sent: &Map<String, Value>) -> bool {
    match bundle.schema() {
        Some(schema) => matches!(
            schema.as_ref().context_type(action),
            Some(Type::Record { attrs, .. }) if attrs.get_attr(name).is_some()
        ),
        None => sent.contains_key(name),
    }
}

type Count = fn(&FirmModel, &EntityStore, &EntityUID) -> usize;

/// The counts a request on `resource` is decided on (attribute name, how it is counted), with
/// the firm model: none unless the resource is a firm and the action declares them.
fn wanted<'b>(
    bundle: &'b Bundle,
    action: &EntityRef,
    resource: &EntityRef,
    sent: &Map<String, Value>,
) -> Result<Vec<(&'b String, Count)>, EngineError> {
    let Some(model) = bundle.manifest().firm_model.as_ref() else {
        return Ok(Vec::new());
    };
    if !model.is(Part::Firm, &resource.type_name) {
        return Ok(Vec::new());
    }
    let action = to_uid(action)?;
    let counts: [(&String, Count); 2] = [
        (&model.counts.users, seats_taken),
        (&model.counts.departments, departments),
    ];
    Ok(counts
        .into_iter()
        .filter(|(name, _)| !name.is_empty() && declares(bundle, action.as_ref(), name, sent))
        .collect())
}

/// Whether decisions of `action` on `resource` (a firm, for plan limits) put counts of that
/// firm's users into the context: then each firm is decided on a context of its own.
pub(crate) fn counts_per_resource(
    bundle: &Bundle,
    action: &EntityRef,
    resource: &EntityRef,
    context: Option<&Value>,
) -> Result<bool, EngineError> {
    let sent = as_record(context).unwrap_or_default();
    Ok(!wanted(bundle, action, resource, &sent)?.is_empty())
}

/// The caller's context as a record (`None`: not a record, refused when the request is built).
fn as_record(context: Option<&Value>) -> Option<Map<String, Value>> {
    match context {
        None | Some(Value::Null) => Some(Map::new()),
        Some(Value::Object(map)) => Some(map.clone()),
        Some(_) => None,
    }
}

/// Whether deciding `action` on `resource` reads the firm's counts: a slice for such a request
/// carries them, counted by its host ([`firm_counts`]).
pub(crate) fn reads_counts(
    bundle: &Bundle,
    action: &EntityRef,
    resource: &EntityRef,
    context: Option<&Value>,
) -> bool {
    as_record(context)
        .and_then(|sent| wanted(bundle, action, resource, &sent).ok())
        .is_some_and(|w| !w.is_empty())
}

/// The context to decide on: the caller's with the model's counts put in, when the resource is
/// a firm and the action declares them, and with the host's request time when a clock is
/// installed and the action declares it (`request_time.rs`); `None` to decide on the context as sent (no firm
/// model, another resource, nothing declared, or a context that is not a record: that one is
/// refused when the request is built).
pub(crate) fn counted_context(
    bundle: &Bundle,
    store: &EntityStore,
    action: &EntityRef,
    resource: &EntityRef,
    context: Option<&Value>,
    time: HostTime,
) -> Result<Option<Value>, EngineError> {
    let Some(model) = bundle.manifest().firm_model.as_ref() else {
        return Ok(None);
    };
    let clocked = time == HostTime::Stamped && crate::request_time::is_stamped(bundle, action);
    let counted = model.is(Part::Firm, &resource.type_name);
    if !clocked && !counted {
        return Ok(None);
    }
    let Some(mut sent) = as_record(context) else {
        return Ok(None);
    };
    let mut changed = clocked && crate::request_time::stamp(&mut sent, &model.request_time);
    let wanted = wanted(bundle, action, resource, &sent)?;
    if !wanted.is_empty() {
        let firm = to_uid(resource)?;
        for (name, count) in wanted {
            let n = count(model, store, firm.as_ref());
            sent.insert(name.clone(), Value::from(n));
        }
        changed = true;
    }
    Ok(changed.then_some(Value::Object(sent)))
}
