//! The resident engine: a bundle plus an entity store, answering decisions. Every face of Sesame
//! (native, browser, wasmtime guest, server) decides through this type.

use std::collections::BTreeMap;
use std::sync::Arc;

use cedar_policy::{Authorizer, Context, Entities, EntityUid, Request, Response};
use serde_json::Value;

use crate::bundle::Bundle;
use crate::entity_json::{engine_error, parse_records, to_ref, to_uid, uid_of_record};
use crate::error::{render_chain, EngineError};
use crate::profile::{self, AccessProfile, FieldLevel};
use crate::wire::{
    BatchItem, BatchResponse, Decision, DecisionRequest, DecisionResponse, DeltaReport,
    EntityDelta, EntityRef, ErrorBody, EvaluationError, MatrixRequest, MatrixResponse, MatrixRow,
    ProfileDifference,
};

/// A bundle and the entities decisions are made on: the bundle's static entities plus the data
/// entities a host loads and changes with deltas.
#[derive(Debug, Clone)]
pub struct Engine {
    bundle: Arc<Bundle>,
    /// Data entities as given by the host (not the bundle's), kept so that a new bundle version
    /// can be installed over the same data.
    data: BTreeMap<EntityRef, Value>,
    store: Entities,
}

impl Engine {
    /// An engine on the bundle's static entities only.
    pub fn new(bundle: Bundle) -> Self {
        let store = bundle.entities().clone();
        Self {
            bundle: Arc::new(bundle),
            data: BTreeMap::new(),
            store,
        }
    }

    /// An engine on the bundle's static entities plus `records` (Cedar entity JSON).
    pub fn with_entities(bundle: Bundle, records: Vec<Value>) -> Result<Self, EngineError> {
        let mut engine = Self::new(bundle);
        engine.replace_entities(records)?;
        Ok(engine)
    }

    pub fn bundle(&self) -> &Bundle {
        &self.bundle
    }

    pub fn digest(&self) -> &str {
        self.bundle.digest()
    }

    /// The whole store (static, data and action entities).
    pub fn entities(&self) -> &Entities {
        &self.store
    }

    pub fn entity_count(&self) -> usize {
        self.store.len()
    }

    /// The data entities as given, for hosts that persist them.
    pub fn data_records(&self) -> impl Iterator<Item = &Value> {
        self.data.values()
    }

    /// Installs another bundle version over the same data. Fails (and changes nothing) if the
    /// data does not conform to the new schema.
    pub fn install_bundle(&mut self, bundle: Bundle) -> Result<(), EngineError> {
        let store = build_store(&bundle, self.data.values().cloned().collect())?;
        self.bundle = Arc::new(bundle);
        self.store = store;
        Ok(())
    }

    /// Replaces all data entities. All-or-nothing.
    pub fn replace_entities(&mut self, records: Vec<Value>) -> Result<DeltaReport, EngineError> {
        let data = keyed_records(records)?;
        let store = build_store(&self.bundle, data.values().cloned().collect())?;
        let upserted = data.len();
        self.data = data;
        self.store = store;
        Ok(DeltaReport {
            upserted,
            removed: 0,
            entity_count: self.store.len(),
        })
    }

    /// Removes then upserts entities, keeping ancestors consistent. All-or-nothing: on error the
    /// store is exactly as before.
    pub fn apply_delta(&mut self, delta: &EntityDelta) -> Result<DeltaReport, EngineError> {
        let schema = self.bundle.schema();
        let upserts = keyed_records(delta.upsert.clone())?;
        let removals = delta
            .remove
            .iter()
            .map(|r| {
                reject_action_entity(r)?;
                to_uid(r)
            })
            .collect::<Result<Vec<EntityUid>, EngineError>>()?;
        let parsed = if upserts.is_empty() {
            None
        } else {
            Some(
                parse_records(upserts.values().cloned().collect(), schema)
                    .map_err(|e| engine_error(&e))?,
            )
        };
        // Cedar's store operations consume the store; work on a copy so a failure changes nothing.
        let mut next = self.store.clone();
        let removed = removals.len();
        if !removals.is_empty() {
            next = next
                .remove_entities(removals)
                .map_err(|e| engine_error(&e))?;
        }
        if let Some(parsed) = parsed {
            next = next
                .upsert_entities(parsed, None)
                .map_err(|e| engine_error(&e))?;
        }
        self.store = next;
        for r in &delta.remove {
            self.data.remove(r);
        }
        let upserted = upserts.len();
        self.data.extend(upserts);
        Ok(DeltaReport {
            upserted,
            removed,
            entity_count: self.store.len(),
        })
    }

    /// One decision.
    pub fn decide(&self, request: &DecisionRequest) -> Result<DecisionResponse, EngineError> {
        decide_on(&self.bundle, &self.store, request)
    }

    /// Any number of decisions; a bad request fails alone.
    pub fn decide_batch(&self, requests: &[DecisionRequest]) -> BatchResponse {
        BatchResponse {
            results: requests
                .iter()
                .map(|r| match self.decide(r) {
                    Ok(d) => BatchItem::Decided(d),
                    Err(e) => BatchItem::Failed {
                        error: ErrorBody::from(&e),
                    },
                })
                .collect(),
            bundle_digest: self.digest().to_string(),
        }
    }

    /// One principal × actions × resources, plus the level of each field on each resource.
    pub fn matrix(&self, request: &MatrixRequest) -> Result<MatrixResponse, EngineError> {
        matrix_on(&self.bundle, &self.store, request)
    }

    /// The level the principal has on one field of one resource.
    pub fn field_level(
        &self,
        principal: &EntityRef,
        resource: &EntityRef,
        field: &str,
    ) -> Result<FieldLevel, EngineError> {
        field_level_on(&self.bundle, &self.store, principal, resource, field)
    }

    /// Every access profile in the store (bundle and data).
    pub fn profiles(&self) -> Vec<AccessProfile> {
        profile::profiles(&self.store)
    }

    pub fn profile(&self, uid: &EntityRef) -> Result<AccessProfile, EngineError> {
        self.profiles()
            .into_iter()
            .find(|p| &p.uid == uid)
            .ok_or_else(|| EngineError::NotFound(format!("no access profile {uid}")))
    }

    /// Keys whose level differs between two profiles.
    pub fn compare_profiles(
        &self,
        left: &EntityRef,
        right: &EntityRef,
    ) -> Result<Vec<ProfileDifference>, EngineError> {
        Ok(profile::compare(
            &self.profile(left)?,
            &self.profile(right)?,
        ))
    }
}

/// Action entities come from the schema; a delta may not forge or drop them.
fn reject_action_entity(r: &EntityRef) -> Result<(), EngineError> {
    if r.type_name == "Action" || r.type_name.ends_with("::Action") {
        return Err(EngineError::EntityInvalid(format!(
            "{r}: action entities are defined by the schema, not by entity data"
        )));
    }
    Ok(())
}

fn keyed_records(records: Vec<Value>) -> Result<BTreeMap<EntityRef, Value>, EngineError> {
    let mut out = BTreeMap::new();
    for (i, record) in records.into_iter().enumerate() {
        let uid = uid_of_record(&record).ok_or_else(|| {
            EngineError::EntityInvalid(format!(
                "entity record #{i} needs a `uid` of the form {{\"type\": ..., \"id\": ...}}"
            ))
        })?;
        reject_action_entity(&uid)?;
        out.insert(uid, record);
    }
    Ok(out)
}

/// Static entities of the bundle plus data records, validated against its schema.
fn build_store(bundle: &Bundle, data: Vec<Value>) -> Result<Entities, EngineError> {
    if data.is_empty() {
        return Ok(bundle.entities().clone());
    }
    let parsed = parse_records(data, bundle.schema()).map_err(|e| engine_error(&e))?;
    bundle
        .entities()
        .clone()
        .upsert_entities(parsed, None)
        .map_err(|e| engine_error(&e))
}

pub(crate) fn build_request(
    bundle: &Bundle,
    principal: &EntityRef,
    action: &EntityRef,
    resource: &EntityRef,
    context: Option<&Value>,
) -> Result<Request, EngineError> {
    let schema = bundle.schema();
    let action_uid = to_uid(action)?;
    let context = match context {
        None => Context::empty(),
        Some(Value::Null) => Context::empty(),
        Some(v) => Context::from_json_value(v.clone(), Some((schema, &action_uid)))
            .map_err(|e| EngineError::InvalidRequest(render_chain(&e)))?,
    };
    Request::new(
        to_uid(principal)?,
        action_uid,
        to_uid(resource)?,
        context,
        Some(schema),
    )
    .map_err(|e| EngineError::InvalidRequest(render_chain(&e)))
}

fn to_response(bundle: &Bundle, response: &Response) -> DecisionResponse {
    let mut determining: Vec<String> = response
        .diagnostics()
        .reason()
        .map(|id| id.to_string())
        .collect();
    determining.sort();
    DecisionResponse {
        decision: match response.decision() {
            cedar_policy::Decision::Allow => Decision::Allow,
            cedar_policy::Decision::Deny => Decision::Deny,
        },
        determining_policies: determining,
        errors: response
            .diagnostics()
            .errors()
            .map(|e| match e {
                cedar_policy::AuthorizationError::PolicyEvaluationError(inner) => EvaluationError {
                    policy_id: inner.policy_id().to_string(),
                    message: render_chain(inner.inner()),
                },
            })
            .collect(),
        bundle_digest: bundle.digest().to_string(),
    }
}

pub(crate) fn decide_on(
    bundle: &Bundle,
    store: &Entities,
    request: &DecisionRequest,
) -> Result<DecisionResponse, EngineError> {
    let cedar_request = build_request(
        bundle,
        &request.principal,
        &request.action,
        &request.resource,
        request.context.as_ref(),
    )?;
    let response = Authorizer::new().is_authorized(&cedar_request, bundle.policies(), store);
    Ok(to_response(bundle, &response))
}

pub(crate) fn field_level_on(
    bundle: &Bundle,
    store: &Entities,
    principal: &EntityRef,
    resource: &EntityRef,
    field: &str,
) -> Result<FieldLevel, EngineError> {
    let manifest = bundle.manifest();
    let Some(actions) = &manifest.field_actions else {
        return Err(EngineError::Unsupported(
            "this bundle declares no field actions (manifest `field_actions`)".into(),
        ));
    };
    let context = serde_json::json!({ manifest.field_context_key.as_str(): field });
    let authorizer = Authorizer::new();
    let mut level = FieldLevel::None;
    // Levels are cumulative: a level counts only if every level below it is granted too.
    for (action, granted) in [
        (&actions.print, FieldLevel::Print),
        (&actions.read, FieldLevel::Read),
        (&actions.full, FieldLevel::Full),
    ] {
        let action: EntityUid = action
            .parse()
            .map_err(|e| EngineError::Unsupported(format!("field action `{action}`: {e}")))?;
        let request = build_request(
            bundle,
            principal,
            &to_ref(&action),
            resource,
            Some(&context),
        )?;
        if authorizer
            .is_authorized(&request, bundle.policies(), store)
            .decision()
            != cedar_policy::Decision::Allow
        {
            break;
        }
        level = granted;
    }
    Ok(level)
}

pub(crate) fn matrix_on(
    bundle: &Bundle,
    store: &Entities,
    request: &MatrixRequest,
) -> Result<MatrixResponse, EngineError> {
    let mut rows = Vec::with_capacity(request.resources.len());
    for resource in &request.resources {
        let mut decisions = BTreeMap::new();
        for action in &request.actions {
            let single = DecisionRequest {
                principal: request.principal.clone(),
                action: action.clone(),
                resource: resource.clone(),
                context: request.context.clone(),
            };
            decisions.insert(
                action.id.clone(),
                decide_on(bundle, store, &single)?.decision,
            );
        }
        let mut fields = BTreeMap::new();
        for field in &request.fields {
            fields.insert(
                field.clone(),
                field_level_on(bundle, store, &request.principal, resource, field)?,
            );
        }
        rows.push(MatrixRow {
            resource: resource.clone(),
            decisions,
            fields,
        });
    }
    Ok(MatrixResponse {
        principal: request.principal.clone(),
        rows,
        bundle_digest: bundle.digest().to_string(),
    })
}
