//! The resident engine: a bundle plus an entity store, answering decisions. Every face of Sesame
//! (native, browser, wasmtime guest, server) decides through this type.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use cedar_policy::{Authorizer, Context, Entity, EntityUid, Request, Response};
use serde_json::Value;

use crate::bundle::Bundle;
use crate::entity_json::{engine_error, to_ref, to_uid, uid_of_record};
use crate::error::{render_chain, EngineError};
use crate::firm_model::{FirmModel, Part};
use crate::load::{build_store, missing_uid};
use crate::profile::{self, AccessProfile, FieldLevel};
use crate::rules;
use crate::store::{as_cedar, EntityStore};
use crate::wire::{
    BatchItem, BatchResponse, Decision, DecisionRequest, DecisionResponse, DeltaReport,
    EntityDelta, EntityRef, ErrorBody, EvaluationError, MatrixRequest, MatrixResponse, MatrixRow,
    ProfileDifference,
};
use cedar_policy_core::ast::{EntityType, EntityUID};

/// A bundle and the entities decisions are made on: the bundle's static entities plus the data
/// entities a host loads and changes with deltas, each held once (parsed, with its closed
/// ancestor set; no second copy of the JSON it came as).
#[derive(Debug, Clone)]
pub struct Engine {
    pub(crate) bundle: Arc<Bundle>,
    pub(crate) store: EntityStore,
}

impl Engine {
    /// An engine on the bundle's static entities only.
    pub fn new(bundle: Bundle) -> Self {
        // The bundle's entities were validated when it loaded; this cannot fail on them.
        let store = build_store(&bundle, &[]).unwrap_or_default();
        Self {
            bundle: Arc::new(bundle),
            store,
        }
    }

    /// An engine on the bundle's static entities plus `records` (Cedar entity JSON).
    pub fn with_entities(bundle: Bundle, records: Vec<Value>) -> Result<Self, EngineError> {
        let mut engine = Self::new(bundle);
        engine.replace_entities(&records)?;
        Ok(engine)
    }

    /// The same bundle over a slice another engine packed (`json_api::slice_for`): what a
    /// guest instance decides on when its host holds the entity store.
    pub(crate) fn on_slice(&self, packed: &[u8]) -> Result<Self, EngineError> {
        let unpacked = crate::packed::unpack(packed)?;
        Ok(Self {
            bundle: self.bundle.clone(),
            store: EntityStore::from_closed(unpacked.entities)?.with_host_counts(unpacked.counts),
        })
    }

    /// The packed entities a call rooted at `roots` reads (see [`crate::packed`]), with the
    /// plan-limit counts of `counted_firms` counted here, on the whole store: packing the
    /// users they count instead made a slice of a firm's every user for each request on it.
    pub(crate) fn pack_slice(
        &self,
        roots: &[EntityUID],
        counted_firms: &[EntityUID],
    ) -> Result<Vec<u8>, EngineError> {
        let counts: Vec<_> = match self.firm_model() {
            // A matrix names a firm once per action: counted once.
            Some(model) => counted_firms
                .iter()
                .collect::<BTreeSet<_>>()
                .into_iter()
                .map(|firm| {
                    let n = crate::plan_counts::firm_counts(model, &self.store, firm);
                    (firm.clone(), n)
                })
                .collect(),
            None => Vec::new(),
        };
        crate::packed::pack(&self.store.pick(roots.iter()), &counts)
    }

    pub fn bundle(&self) -> &Bundle {
        &self.bundle
    }

    pub fn digest(&self) -> &str {
        self.bundle.digest()
    }

    /// One entity of the store (static, data or action entity).
    pub fn entity(&self, uid: &EntityRef) -> Option<&Entity> {
        to_uid(uid).ok().and_then(|u| self.store.get(u.as_ref()))
    }

    pub fn entity_count(&self) -> usize {
        self.store.len()
    }

    /// Makes room for `additional` more entities, so that a host loading tenants one at a time
    /// does not pay for the store's index growing (a rehash of every held entity) on a call.
    pub fn reserve_entities(&mut self, additional: usize) {
        self.store.reserve(additional);
    }

    /// About how many bytes the held entities take in the store's compact form (a host's
    /// memory budget counts tenants with it; the Cedar entities kept once rebuilt, for parents
    /// or for all with [`Engine::keep_rebuilt_entities`], are not included).
    pub fn entity_bytes(&self) -> usize {
        self.store.bytes()
    }

    /// The data entities as Cedar entity JSON (direct parents only), for hosts that persist them
    /// or load them into another bundle version.
    pub fn data_records(&self) -> Result<Vec<Value>, EngineError> {
        self.store.data_entities().map(|e| record_of(&e)).collect()
    }

    /// Keeps every entity's Cedar form once rebuilt for a decision, not only parents'. The
    /// store holds entities compactly and rebuilds a leaf (a document, a user) for each call
    /// that reads it; keeping them makes decisions faster for more memory (about 3 KB an
    /// entity). For a page holding one firm (the browser package sets it), not for a server
    /// holding many tenants within a budget.
    pub fn keep_rebuilt_entities(&mut self, keep: bool) {
        self.store.keep_rebuilt(keep);
    }

    /// Installs another bundle version over the same data. Fails (and changes nothing) if the
    /// data does not conform to the new schema.
    pub fn install_bundle(&mut self, bundle: Bundle) -> Result<(), EngineError> {
        let store = build_store(&bundle, &self.data_records()?)?.keeping_as(&self.store);
        rules::check(bundle.manifest().firm_model.as_ref(), &store)?;
        self.bundle = Arc::new(bundle);
        self.store = store;
        Ok(())
    }

    /// An engine on the bundle's static entities plus the records of `text`, a JSON array of
    /// Cedar entity records, read as a stream (see [`Self::replace_entities_json`]).
    pub fn with_entities_json(bundle: Bundle, text: &str) -> Result<Self, EngineError> {
        let mut engine = Self::new(bundle);
        engine.replace_entities_json(text)?;
        Ok(engine)
    }

    /// Replaces all data entities with the records of `text`, a JSON array of Cedar entity
    /// records, read as a stream: records are parsed and stored a chunk at a time while the
    /// next is read, never all held as JSON values (a large load's peak memory is the text and
    /// the store). The same as [`Self::replace_entities`] on the parsed array, except that the
    /// first error in record order is reported (malformed JSON with its line and column).
    /// All-or-nothing.
    pub fn replace_entities_json(&mut self, text: &str) -> Result<DeltaReport, EngineError> {
        let store = crate::load::build_store_from_text(&self.bundle, text)?;
        self.replace_store(store)
    }

    /// Replaces all data entities. All-or-nothing.
    pub fn replace_entities(&mut self, records: &[Value]) -> Result<DeltaReport, EngineError> {
        for (i, record) in records.iter().enumerate() {
            reject_action_entity(
                &self.bundle,
                &uid_of_record(record).ok_or_else(|| missing_uid(i))?,
            )?;
        }
        let store = build_store(&self.bundle, records)?;
        self.replace_store(store)
    }

    /// Puts a whole new store in place if it keeps the domain's rules.
    fn replace_store(&mut self, store: EntityStore) -> Result<DeltaReport, EngineError> {
        rules::check(self.firm_model(), &store)?;
        let upserted = store.data_len();
        self.store = store.keeping_as(&self.store);
        Ok(DeltaReport {
            upserted,
            removed: 0,
            entity_count: self.store.len(),
        })
    }

    /// Removes then upserts entities, keeping ancestors consistent. All-or-nothing: on error the
    /// store is exactly as before.
    pub fn apply_delta(&mut self, delta: &EntityDelta) -> Result<DeltaReport, EngineError> {
        let upserts = keyed_records(&self.bundle, delta.upsert.clone())?;
        let removals = delta
            .remove
            .iter()
            .map(|r| {
                reject_action_entity(&self.bundle, r)?;
                to_uid(r).map(|u| u.as_ref().clone())
            })
            .collect::<Result<Vec<_>, EngineError>>()?;
        let upserted = upserts.len();
        let parsed = parse_each(upserts.into_values(), &self.bundle)?;
        // Domain rules are checked on the store as it would be, before anything changes.
        rules::check_overlay(self.firm_model(), &self.store, &parsed, &removals)?;
        self.store.apply(&removals, parsed, true)?;
        Ok(DeltaReport {
            upserted,
            removed: removals.len(),
            entity_count: self.store.len(),
        })
    }

    /// Checks a delta against the domain rules without applying it (planning).
    pub(crate) fn check_rules(&self, delta: &EntityDelta) -> Result<(), EngineError> {
        let parsed = parse_each(delta.upsert.iter(), &self.bundle)?;
        rules::check_overlay(self.firm_model(), &self.store, &parsed, &[])
    }

    /// The bundle's declared firm model; `None` for plain Cedar.
    pub fn firm_model(&self) -> Option<&FirmModel> {
        self.bundle.manifest().firm_model.as_ref()
    }

    /// The firm model, for operations that only exist under it (profiles, the directory).
    pub(crate) fn require_firm_model(&self) -> Result<&FirmModel, EngineError> {
        self.firm_model().ok_or_else(|| {
            EngineError::InvalidRequest(
                "this bundle declares no firm model (`firm_model` in manifest.json): it has no access profiles or directory".into(),
            )
        })
    }

    /// Any entity of the store (data or the bundle's) as Cedar entity JSON.
    pub fn entity_record(&self, uid: &EntityRef) -> Option<Result<Value, EngineError>> {
        // Read once, not kept: hosts read any record this way (documents included).
        let entity = self.store.read(to_uid(uid).ok()?.as_ref())?;
        Some(record_of(&entity))
    }

    /// Whether the store holds an entity of this uid.
    pub fn contains(&self, uid: &EntityRef) -> bool {
        to_uid(uid).is_ok_and(|u| self.store.contains(u.as_ref()))
    }

    /// The entities of the type named `type_name` (none if it names no type). Each is kept
    /// as Cedar's once read: ask for the few of one type (users, profiles), not documents.
    pub(crate) fn entities_of_type(&self, type_name: &str) -> impl Iterator<Item = &Entity> {
        self.store
            .entities_of_type(EntityType::from_normalized_str(type_name).ok())
    }

    /// Every entity of the store (tests: each is kept as Cedar's once read).
    #[cfg(test)]
    pub(crate) fn entities(&self) -> impl Iterator<Item = &Entity> {
        self.store.entities_where(|_| true)
    }

    /// The entities with an attribute `name` (see [`Self::entities_of_type`]).
    pub(crate) fn entities_with_attr<'s>(
        &'s self,
        name: &'s str,
    ) -> impl Iterator<Item = &'s Entity> + 's {
        self.store.entities_where(move |e| e.has_attr(name))
    }

    /// The other entities that point at `target` (it is their parent, or an attribute or tag
    /// names it): what removing it leaves dangling. Each is kept as Cedar's once read.
    pub(crate) fn entities_pointing_at(&self, target: &EntityRef) -> Vec<&Entity> {
        let Some(ix) = to_uid(target)
            .ok()
            .and_then(|uid| self.store.number_of(uid.as_ref()))
        else {
            return Vec::new();
        };
        self.store
            .entities_where(move |e| e.points_at(ix) && self.store.number_of(e.uid) != Some(ix))
            .collect()
    }

    /// The seats of its plan `firm` takes and its departments, as the plan limits are decided
    /// on them (`plan_counts.rs`); zeros without a firm model.
    pub(crate) fn plan_counts(&self, firm: &EntityRef) -> (usize, usize) {
        match (self.firm_model(), to_uid(firm)) {
            (Some(model), Ok(firm)) => (
                crate::plan_counts::seats_taken(model, &self.store, firm.as_ref()),
                crate::plan_counts::departments(model, &self.store, firm.as_ref()),
            ),
            _ => (0, 0),
        }
    }

    /// Decides one request.
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
        field_level_on(
            &self.bundle,
            &self.store,
            principal,
            resource,
            field,
            HostTime::Stamped,
        )
    }

    /// Every access profile in the store (bundle and data).
    /// Empty for a bundle without a declared firm model.
    pub fn profiles(&self) -> Vec<AccessProfile> {
        match self.firm_model() {
            Some(model) => profile::profiles(
                model,
                self.entities_of_type(&model.type_name(Part::Profile)),
            ),
            None => Vec::new(),
        }
    }

    /// One access profile, read from its entity (not from a scan of the store).
    pub fn profile(&self, uid: &EntityRef) -> Result<AccessProfile, EngineError> {
        let model = self.require_firm_model()?;
        self.entity(uid)
            .and_then(|e| profile::profile_of(model, e))
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

/// Action entities come from the schema; a delta may not forge or drop them. (Without a schema,
/// as in Cedar, action entities and their groups are data like any other.)
pub(crate) fn reject_action_entity(bundle: &Bundle, r: &EntityRef) -> Result<(), EngineError> {
    if bundle.schema().is_some() && (r.type_name == "Action" || r.type_name.ends_with("::Action")) {
        return Err(EngineError::EntityInvalid(format!(
            "{r}: action entities are defined by the schema, not by entity data"
        )));
    }
    Ok(())
}

fn keyed_records(
    bundle: &Bundle,
    records: Vec<Value>,
) -> Result<BTreeMap<EntityRef, Value>, EngineError> {
    let mut out = BTreeMap::new();
    for (i, record) in records.into_iter().enumerate() {
        let uid = uid_of_record(&record).ok_or_else(|| missing_uid(i))?;
        reject_action_entity(bundle, &uid)?;
        out.insert(uid, record);
    }
    Ok(out)
}

/// Parses data records one by one against the schema (no closure computed here: the store
/// does that).
pub(crate) fn parse_each<R: std::borrow::Borrow<Value>>(
    records: impl Iterator<Item = R>,
    bundle: &Bundle,
) -> Result<Vec<cedar_policy_core::ast::Entity>, EngineError> {
    let mut plain = plain_parser(bundle);
    records
        .map(|record| parse_one(bundle, plain.as_mut(), record.borrow()))
        .collect()
}

/// The fast reader of plain records (`entity_parse`), when there is a schema to read them by.
pub(crate) fn plain_parser(bundle: &Bundle) -> Option<crate::entity_parse::PlainParser<'_>> {
    bundle
        .schema()
        .map(|s| crate::entity_parse::PlainParser::new(s.as_ref()))
}

/// One record: read directly when plain, else (and for every error) by Cedar's parser.
pub(crate) fn parse_one(
    bundle: &Bundle,
    plain: Option<&mut crate::entity_parse::PlainParser<'_>>,
    record: &Value,
) -> Result<cedar_policy_core::ast::Entity, EngineError> {
    if let Some(entity) = plain.and_then(|p| p.entity(record)) {
        return Ok(entity);
    }
    let label = uid_of_record(record)
        .map(|u| u.to_string())
        .unwrap_or_default();
    Entity::from_json_value(record.clone(), bundle.schema())
        .map(|e| e.as_ref().clone())
        .map_err(|e| match engine_error(&e) {
            EngineError::EntityInvalid(m) => EngineError::EntityInvalid(format!("{label}: {m}")),
            other => other,
        })
}

/// An entity as Cedar entity JSON (the form hosts give and store): its *direct* parents only
/// (Cedar's own `to_json_value` lists every ancestor, which would turn the closure into
/// parents and change the hierarchy the next time the record is loaded), in a stable order
/// (Cedar holds them in a hash set: unsorted, the same entity would print differently in two
/// processes, and a plan made in a guest would differ from a native one).
pub(crate) fn record_of(entity: &Entity) -> Result<Value, EngineError> {
    let mut record = entity
        .to_json_value()
        .map_err(|e| EngineError::EntityInvalid(format!("{}: {e}", entity.uid())))?;
    let core: &cedar_policy_core::ast::Entity = entity.as_ref();
    let mut parents: Vec<EntityRef> = core
        .parents()
        .map(|p| EntityRef::new(p.entity_type().to_string(), p.eid().as_ref()))
        .collect();
    parents.sort();
    if let Some(fields) = record.as_object_mut() {
        fields.insert(
            "parents".into(),
            serde_json::to_value(parents).unwrap_or(Value::Array(Vec::new())),
        );
    }
    Ok(record)
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
    let context = parse_context(bundle, &action_uid, context)?;
    Request::new(
        to_uid(principal)?,
        action_uid,
        to_uid(resource)?,
        context,
        schema,
    )
    .map_err(|e| EngineError::InvalidRequest(render_chain(&e)))
}

/// A request's context as Cedar parses it for `action` (against the schema, when there is one).
pub(crate) fn parse_context(
    bundle: &Bundle,
    action: &EntityUid,
    context: Option<&Value>,
) -> Result<Context, EngineError> {
    match context {
        None | Some(Value::Null) => Ok(Context::empty()),
        Some(v) => Context::from_json_value(v.clone(), bundle.schema().map(|s| (s, action)))
            .map_err(|e| EngineError::InvalidRequest(render_chain(&e))),
    }
}

fn to_response(bundle: &Bundle, response: &Response) -> DecisionResponse {
    decision_response(
        bundle,
        response.decision() == cedar_policy::Decision::Allow,
        response.diagnostics().reason().map(ToString::to_string),
        response.diagnostics().errors().map(|e| match e {
            cedar_policy::AuthorizationError::PolicyEvaluationError(inner) => {
                (inner.policy_id().to_string(), inner.inner())
            }
        }),
    )
}

fn from_outcome(bundle: &Bundle, outcome: crate::bundle::Outcome<'_>) -> DecisionResponse {
    decision_response(
        bundle,
        outcome.allowed,
        outcome.determining.iter().map(ToString::to_string),
        outcome
            .errors
            .iter()
            .map(|(id, error)| (id.to_string(), error)),
    )
}

/// The wire answer, from Cedar's authorizer or the engine's own loop alike: determining
/// policies sorted, erroring policies in evaluation order with their error chains.
fn decision_response<'e>(
    bundle: &Bundle,
    allowed: bool,
    determining: impl Iterator<Item = String>,
    errors: impl Iterator<Item = (String, &'e cedar_policy::EvaluationError)>,
) -> DecisionResponse {
    let mut determining: Vec<String> = determining.collect();
    determining.sort();
    DecisionResponse {
        decision: if allowed {
            Decision::Allow
        } else {
            Decision::Deny
        },
        determining_policies: determining,
        errors: errors
            .map(|(policy_id, error)| EvaluationError {
                policy_id,
                message: render_chain(error),
            })
            .collect(),
        bundle_digest: bundle.digest().to_string(),
    }
}

pub(crate) fn decide_on(
    bundle: &Bundle,
    store: &EntityStore,
    request: &DecisionRequest,
) -> Result<DecisionResponse, EngineError> {
    decide_with(bundle, store, request, HostTime::Stamped)
}

/// Whether a decision takes the host's clock as its request time (`request_time.rs`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum HostTime {
    /// The installed clock's time, as for every request a host decides.
    Stamped,
    /// The time the request states: a bundle's tests are about the instant they name, wherever
    /// they run (a deploy runs them in a guest, whose clock would replace it).
    AsStated,
}

pub(crate) fn decide_with(
    bundle: &Bundle,
    store: &EntityStore,
    request: &DecisionRequest,
    time: HostTime,
) -> Result<DecisionResponse, EngineError> {
    // A firm's plan-limit counts are the engine's, whatever the caller sent.
    let counted = crate::plan_counts::counted_context(
        bundle,
        store,
        &request.action,
        &request.resource,
        request.context.as_ref(),
        time,
    )?;
    let context = counted.as_ref().or(request.context.as_ref());
    let cedar_request = build_request(
        bundle,
        &request.principal,
        &request.action,
        &request.resource,
        context,
    )?;
    let slice = if request.entities.is_empty() {
        request_slice(bundle, store, &cedar_request, context)?
    } else {
        store.slice_with(
            request_roots(bundle, &cedar_request, request.context.as_ref()).iter(),
            given_entities(bundle, &request.entities)?,
        )?
    };
    Ok(authorize(bundle, &cedar_request, as_cedar(&slice)))
}

/// Entities a request gives for itself (they replace stored ones for that call).
fn given_entities(
    bundle: &Bundle,
    records: &[Value],
) -> Result<Vec<cedar_policy_core::ast::Entity>, EngineError> {
    let records = keyed_records(bundle, records.to_vec())?;
    parse_each(records.into_values(), bundle)
}

/// Where a host's slice for a call starts, read from the request as JSON without parsing it
/// the way evaluation will (that stays the deciding engine's work, within its deadline): the
/// request's entities, every entity reference in its context and in the entities given with
/// it (their parents and attributes), and the entities the policies' conditions name. A
/// superset of what evaluation reads; a malformed part adds nothing and fails when decided.
fn host_roots<'a>(
    bundle: &Bundle,
    uids: impl IntoIterator<Item = &'a EntityRef>,
    json: impl IntoIterator<Item = &'a Value>,
) -> Vec<EntityUID> {
    let mut roots: Vec<EntityUID> = bundle.condition_literals().to_vec();
    roots.extend(
        uids.into_iter()
            .filter_map(|r| to_uid(r).ok())
            .map(|u| u.as_ref().clone()),
    );
    for value in json {
        context_entities(value, &mut roots);
    }
    roots
}

/// Every stored entity [`decide_on`] may read for `request` (see [`host_roots`]).
pub(crate) fn decision_roots(bundle: &Bundle, request: &DecisionRequest) -> Vec<EntityUID> {
    host_roots(
        bundle,
        [&request.principal, &request.action, &request.resource],
        request.context.iter().chain(&request.entities),
    )
}

/// Cedar's authorization of `request`, over the policies its action and resource type may
/// trigger, with their conditions built once when there is nothing only Cedar's own
/// authorizer answers (see `bundle::compiled`).
fn authorize(
    bundle: &Bundle,
    request: &Request,
    entities: &cedar_policy::Entities,
) -> DecisionResponse {
    let candidates = bundle.policies_for(request);
    let outcome = candidates
        .and_then(|c| c.compiled_for(request.resource().map(|r| r.type_name())))
        .and_then(|compiled| {
            crate::bundle::authorize(request.as_ref(), entities.as_ref(), compiled)
        });
    if let Some(outcome) = outcome {
        return from_outcome(bundle, outcome);
    }
    // The action's policies whatever the resource's type: a superset of the typed ones that
    // decides the same (see `bundle::action_index`).
    let set = candidates.map_or(bundle.policies(), |c| &c.set);
    to_response(
        bundle,
        &Authorizer::new().is_authorized(request, set, entities),
    )
}

/// The manifest's field actions, lowest level first.
fn field_actions(bundle: &Bundle) -> Result<[(EntityUid, FieldLevel); 3], EngineError> {
    let Some(actions) = &bundle.manifest().field_actions else {
        return Err(EngineError::Unsupported(
            "this bundle declares no field actions (manifest `field_actions`)".into(),
        ));
    };
    let parse = |text: &String| {
        text.parse::<EntityUid>()
            .map_err(|e| EngineError::Unsupported(format!("field action `{text}`: {e}")))
    };
    Ok([
        (parse(&actions.print)?, FieldLevel::Print),
        (parse(&actions.read)?, FieldLevel::Read),
        (parse(&actions.full)?, FieldLevel::Full),
    ])
}

pub(crate) fn field_level_on(
    bundle: &Bundle,
    store: &EntityStore,
    principal: &EntityRef,
    resource: &EntityRef,
    field: &str,
    time: HostTime,
) -> Result<FieldLevel, EngineError> {
    let actions = field_actions(bundle)?;
    let roots = field_level_start(bundle, principal, resource)?;
    let slice = store.slice(roots.iter())?;
    field_level_in(
        bundle,
        as_cedar(&slice),
        &actions,
        principal,
        resource,
        field,
        time,
    )
}

/// Where [`field_level_on`]'s slice starts.
fn field_level_start(
    bundle: &Bundle,
    principal: &EntityRef,
    resource: &EntityRef,
) -> Result<Vec<EntityUID>, EngineError> {
    let mut roots = vec![
        to_uid(principal)?.as_ref().clone(),
        to_uid(resource)?.as_ref().clone(),
    ];
    roots.extend(
        field_actions(bundle)?
            .iter()
            .map(|(a, _)| a.as_ref().clone()),
    );
    roots.extend(bundle.condition_literals().iter().cloned());
    Ok(roots)
}

/// Every stored entity [`field_level_on`] may read (empty if the call cannot be made).
pub(crate) fn field_level_roots(
    bundle: &Bundle,
    principal: &EntityRef,
    resource: &EntityRef,
) -> Vec<EntityUID> {
    field_level_start(bundle, principal, resource).unwrap_or_default()
}

/// The level of `field` on a slice that already holds principal, resource and field actions.
fn field_level_in(
    bundle: &Bundle,
    entities: &cedar_policy::Entities,
    actions: &[(EntityUid, FieldLevel); 3],
    principal: &EntityRef,
    resource: &EntityRef,
    field: &str,
    time: HostTime,
) -> Result<FieldLevel, EngineError> {
    let mut level = FieldLevel::None;
    // Levels are cumulative: a level counts only if every level below it is granted too.
    for (action, granted) in actions {
        let action = to_ref(action);
        let mut context = serde_json::Map::new();
        context.insert(
            bundle.manifest().field_context_key.clone(),
            Value::from(field),
        );
        if time == HostTime::Stamped {
            crate::request_time::stamp_if_clocked(bundle, &action, &mut context);
        }
        let context = Value::Object(context);
        let request = build_request(bundle, principal, &action, resource, Some(&context))?;
        if authorize(bundle, &request, entities).decision != Decision::Allow {
            break;
        }
        level = *granted;
    }
    Ok(level)
}

fn matrix_field_actions(
    bundle: &Bundle,
    request: &MatrixRequest,
) -> Result<Option<[(EntityUid, FieldLevel); 3]>, EngineError> {
    if request.fields.is_empty() {
        Ok(None)
    } else {
        field_actions(bundle).map(Some)
    }
}

/// Where every row's slice starts: principal, actions, field actions, context, literals.
fn matrix_shared_roots(
    bundle: &Bundle,
    request: &MatrixRequest,
    field_levels: Option<&[(EntityUid, FieldLevel); 3]>,
) -> Result<Vec<EntityUID>, EngineError> {
    let mut shared_roots = vec![to_uid(&request.principal)?.as_ref().clone()];
    for action in &request.actions {
        shared_roots.push(to_uid(action)?.as_ref().clone());
    }
    if let Some(levels) = field_levels {
        shared_roots.extend(levels.iter().map(|(a, _)| a.as_ref().clone()));
    }
    if let Some(context) = &request.context {
        context_entities(context, &mut shared_roots);
    }
    shared_roots.extend(bundle.condition_literals().iter().cloned());
    Ok(shared_roots)
}

/// Every stored entity [`matrix_on`] may read (see [`host_roots`]): the principal, actions,
/// field actions, every row's resource.
pub(crate) fn matrix_roots(bundle: &Bundle, request: &MatrixRequest) -> Vec<EntityUID> {
    let mut roots = host_roots(
        bundle,
        std::iter::once(&request.principal)
            .chain(&request.actions)
            .chain(&request.resources),
        request.context.iter().chain(&request.entities),
    );
    if let Ok(Some(levels)) = matrix_field_actions(bundle, request) {
        roots.extend(levels.iter().map(|(a, _)| a.as_ref().clone()));
    }
    roots
}

/// One slice per resource row serves every action and field of the row: a page's matrix costs
/// one slice per resource, not one per cell.
pub(crate) fn matrix_on(
    bundle: &Bundle,
    store: &EntityStore,
    request: &MatrixRequest,
) -> Result<MatrixResponse, EngineError> {
    let field_levels = matrix_field_actions(bundle, request)?;
    let shared_roots = matrix_shared_roots(bundle, request, field_levels.as_ref())?;
    // A page mixes resource types (sections, clients, documents); a cell whose action does
    // not apply to the row's resource type is left out rather than failing the whole matrix.
    // The types each action applies to are read from the schema once, not per cell.
    let schema = bundle.schema();
    // `None`: every type (a schema-less bundle declares no applies-to).
    let resource_types = |action: &EntityRef| -> Result<Option<BTreeSet<String>>, EngineError> {
        let action = to_uid(action)?;
        Ok(schema.map(|schema| {
            schema
                .resources_for_action(&action)
                .map(|types| types.map(ToString::to_string).collect())
                .unwrap_or_default()
        }))
    };
    let action_types = request
        .actions
        .iter()
        .map(resource_types)
        .collect::<Result<Vec<_>, _>>()?;
    let field_types = match &field_levels {
        Some(levels) => resource_types(&to_ref(&levels[0].0))?,
        None => Some(BTreeSet::new()),
    };
    let applies = |types: &Option<BTreeSet<String>>, resource: &EntityRef| {
        types
            .as_ref()
            .is_none_or(|types| types.contains(&resource.type_name))
    };
    let extras = if request.entities.is_empty() {
        None
    } else {
        Some(given_entities(bundle, &request.entities)?)
    };
    let mut rows = Vec::with_capacity(request.resources.len());
    for resource in &request.resources {
        let resource_uid = to_uid(resource)?.as_ref().clone();
        let roots = shared_roots.iter().chain(std::iter::once(&resource_uid));
        let slice = match &extras {
            None => store.slice(roots)?,
            Some(extras) => store.slice_with(roots, extras.clone())?,
        };
        let entities = as_cedar(&slice);
        let mut decisions = BTreeMap::new();
        for (action, types) in request.actions.iter().zip(&action_types) {
            if !applies(types, resource) {
                continue;
            }
            let counted = crate::plan_counts::counted_context(
                bundle,
                store,
                action,
                resource,
                request.context.as_ref(),
                HostTime::Stamped,
            )?;
            let cedar_request = build_request(
                bundle,
                &request.principal,
                action,
                resource,
                counted.as_ref().or(request.context.as_ref()),
            )?;
            decisions.insert(
                action.id.clone(),
                authorize(bundle, &cedar_request, entities).decision,
            );
        }
        let mut fields = BTreeMap::new();
        if let (Some(levels), true) = (&field_levels, applies(&field_types, resource)) {
            for field in &request.fields {
                let level = field_level_in(
                    bundle,
                    entities,
                    levels,
                    &request.principal,
                    resource,
                    field,
                    HostTime::Stamped,
                )?;
                fields.insert(field.clone(), level);
            }
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

/// The entities a request can reach: principal, action, resource and any entity named in the
/// context (over-including is harmless: the slice only has to contain what evaluation reads).
fn request_slice(
    bundle: &Bundle,
    store: &EntityStore,
    request: &Request,
    context: Option<&Value>,
) -> Result<cedar_policy_core::entities::Entities, EngineError> {
    store.slice(request_roots(bundle, request, context).iter())
}

/// Where a decision's slice starts: the request's entities, the context's, and the entities
/// the policies' conditions name.
fn request_roots(
    bundle: &Bundle,
    request: &Request,
    context: Option<&Value>,
) -> Vec<cedar_policy_core::ast::EntityUID> {
    let literals = bundle.condition_literals();
    let mut roots: Vec<cedar_policy_core::ast::EntityUID> = Vec::with_capacity(4 + literals.len());
    roots.extend(literals.iter().cloned());
    for uid in [request.principal(), request.action(), request.resource()]
        .into_iter()
        .flatten()
    {
        roots.push(uid.as_ref().clone());
    }
    if let Some(context) = context {
        context_entities(context, &mut roots);
    }
    roots
}

pub(crate) fn context_entities(value: &Value, out: &mut Vec<cedar_policy_core::ast::EntityUID>) {
    match value {
        Value::Object(map) => {
            if let Some(r) = crate::entity_json::entity_ref_of(value) {
                if let Ok(uid) = to_uid(&r) {
                    out.push(uid.as_ref().clone());
                }
            }
            map.values().for_each(|v| context_entities(v, out));
        }
        Value::Array(items) => items.iter().for_each(|v| context_entities(v, out)),
        _ => {}
    }
}
