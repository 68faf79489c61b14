// GENERATED from policy-core's wire types (policy_core::contract::typescript); do not edit.
// Regenerate: SESAME_REGENERATE=1 cargo test -p sesame-tests --test contract

/** A Cedar entity record (Cedar entity JSON); `__entity` / `__extn` escapes are accepted. */
export type CedarEntity = {
  uid: EntityRef | { __entity: EntityRef };
  attrs: Record<string, unknown>;
  parents: Array<EntityRef | { __entity: EntityRef }>;
  tags?: Record<string, unknown>;
};

/**
 * A reference to an entity: `{"type": "Document", "id": "inv-42"}`.
 */
export type EntityRef = { type: string, id: string, };

/**
 * The operations of the JSON API. Every face names them with this enum (the browser package and
 * the wasmtime guest receive the name as text and parse it here), so a name is spelled once.
 */
export type Op = "decide" | "batch" | "matrix" | "field_level" | "apply_delta" | "replace_entities" | "profiles" | "compare_profiles" | "info" | "run_tests" | "validate" | "diff" | "directory" | "impact" | "licences" | "roles" | "field_levels" | "query_resources" | "query_principals" | "query_plan";

/**
 * One authorization question.
 */
export type DecisionRequest = { principal: EntityRef, action: EntityRef, resource: EntityRef, 
/**
 * Cedar context record; absent means `{}`.
 */
context?: Record<string, unknown>, 
/**
 * Entities for this call only (Cedar entity JSON), added to the resident store or
 * replacing stored entities of the same uid; never stored.
 */
entities?: Array<CedarEntity>, };

export type Decision = "allow" | "deny";

/**
 * An error raised while evaluating one policy (the policy is then ignored, as in Cedar).
 */
export type EvaluationError = { policy_id: string, message: string, };

/**
 * The answer to one `DecisionRequest`.
 */
export type DecisionResponse = { decision: Decision, 
/**
 * `@id`s of the policies that determined the decision, sorted.
 */
determining_policies: Array<string>, errors: Array<EvaluationError>, 
/**
 * Digest of the bundle version that answered.
 */
bundle_digest: string, };

/**
 * Many requests in one call; there is no cap in the core (the server sets its own limit).
 */
export type BatchRequest = { requests: Array<DecisionRequest>, };

/**
 * One batch result: a bad request fails alone, the others are still decided.
 */
export type BatchItem = DecisionResponse | { error: ErrorBody, };

export type BatchResponse = { results: Array<BatchItem>, bundle_digest: string, };

/**
 * What a UI asks to render a page: one principal, many actions and resources, and optionally
 * the level of each named field on each resource.
 */
export type MatrixRequest = { principal: EntityRef, actions?: Array<EntityRef>, resources: Array<EntityRef>, fields?: Array<string>, context?: Record<string, unknown>, 
/**
 * Entities for this call only (e.g. a stand-in user holding one role), as in
 * `DecisionRequest`; never stored.
 */
entities?: Array<CedarEntity>, };

/**
 * One resource's row of the matrix. `decisions` is keyed by action id, `fields` by field name.
 */
export type MatrixRow = { resource: EntityRef, decisions: { [key in string]: Decision }, fields?: { [key in string]: FieldLevel }, };

export type MatrixResponse = { principal: EntityRef, rows: Array<MatrixRow>, bundle_digest: string, };

/**
 * The input of [`Op::FieldLevel`].
 */
export type FieldLevelRequest = { principal: EntityRef, resource: EntityRef, field: string, };

/**
 * How much of a field (or section) a user gets. Ordered: `None < Print < Read < Full`.
 */
export type FieldLevel = "none" | "print" | "read" | "full";

/**
 * Changes to the resident entity store. Applied all-or-nothing: removals first, then upserts.
 */
export type EntityDelta = { 
/**
 * Cedar entity JSON records to add or replace.
 */
upsert?: Array<CedarEntity>, 
/**
 * Entities to remove (absent ones are ignored).
 */
remove?: Array<EntityRef>, };

export type DeltaReport = { upserted: number, removed: number, entity_count: number, };

/**
 * The input of [`Op::CompareProfiles`].
 */
export type CompareRequest = { left: EntityRef, right: EntityRef, };

/**
 * The input of [`Op::Profiles`]: without `firm`, every profile of the store (`is_default`:
 * the bundle's shared default); with it, the shared profiles and that firm's own, `is_default`
 * marking the firm's default.
 */
export type ProfilesRequest = { firm?: EntityRef, };

/**
 * Result of comparing two access profiles: only keys whose level differs.
 */
export type ProfileDifference = { key: string, left: FieldLevel, right: FieldLevel, };

/**
 * One access profile as read from the entity store.
 */
export type AccessProfile = { uid: EntityRef, name?: string, licence?: EntityRef, base?: EntityRef, 
/**
 * A custom profile's firm: only that firm uses it. Absent: shared by every firm.
 */
firm?: EntityRef, 
/**
 * Whether new users get it: in a listing for one firm, that firm's default
 * ([`crate::Engine::firm_profiles`]); otherwise the shared default of the bundle.
 */
is_default: boolean, levels: { [key in string]: FieldLevel }, };

/**
 * A bundle as JSON: `{"files": {"policies.cedar": "...", "schema.cedarschema": "..."}}`.
 */
export type BundleFiles = { files: { [key in string]: string }, };

/**
 * What a face loads its engine from ([`load_bundle`]): a bundle's files, and whether policies
 * that fail validation refuse it (the default) or are only reported, to decide with a draft as
 * Cedar would. The server deploys with validation enforced, whatever a client sends.
 */
export type BundleLoad = { files: { [key in string]: string }, 
/**
 * `enforce` when absent.
 */
policy_validation?: PolicyValidation, };

/**
 * Whether policies that fail strict validation against the schema stop a bundle from loading.
 *
 * Sesame deploys only validated policies (`Enforce`, what [`Bundle::load`] does). Cedar itself
 * decides with any policy that parses; `Report` loads such a draft anyway, its validation
 * errors kept as warnings, so an author (or Cedar's own corpus) can see what Cedar would decide
 * with it. Every other check still refuses the bundle.
 */
export type PolicyValidation = "enforce" | "report";

/**
 * Summary of a loaded bundle, for faces that show what is active.
 */
export type BundleInfo = { digest: string, name?: string, policy_ids: Array<string>, entity_count: number, files: Array<string>, warnings: Array<Diagnostic>, };

/**
 * What an editor needs while an author types: every located problem of a candidate bundle,
 * without touching the resident engine.
 */
export type Validation = { ok: boolean, digest?: string, diagnostics: Array<Diagnostic>, };

/**
 * Files and policies that differ between an older (`from`) and a newer (`to`) bundle.
 */
export type BundleDiff = { from_digest: string, to_digest: string, files_added: Array<string>, files_removed: Array<string>, files_changed: Array<string>, policies_added: Array<string>, policies_removed: Array<string>, 
/**
 * Same `@id`, different text (annotations, effect, scope or conditions).
 */
policies_changed: Array<string>, };

export type TestReport = { bundle_digest: string, passed: number, failed: number, cases: Array<CaseResult>, coverage: Coverage, };

export type CaseResult = { suite: string, name: string, location: Location, passed: boolean, 
/**
 * What was expected and what came out, e.g. `allow` / `deny` or `read` / `none`.
 */
expected: string, got: string, request: string, determining_policies: Array<string>, errors: Array<string>, failure?: string, };

export type Coverage = { policies: number, policies_determining: number, never_determining: Array<string>, actions: number, actions_tested: number, untested_actions: Array<string>, };

/**
 * One operation, performed on behalf of `actor` (the firm user whose rights are checked).
 */
export type DirectoryRequest = { actor: EntityRef, } & ({ "op": "invite_user", id: string, name: string, first_name: string, email: string, roles?: Array<string>, external?: boolean, 
/**
 * Default: the default access profile.
 */
profile?: EntityRef, 
/**
 * A site profile id (manager, collaborator) for the whole firm; default none.
 */
site_profile?: string, 
/**
 * Deletion rights (documents, entries, clients); default without.
 */
can_delete?: boolean, 
/**
 * A client company's user, invited straight onto that company with a client role
 * (the user is external and employed by the company).
 */
company?: CompanyRole, 
/**
 * When the user's access ends (interim staff, auditors): a Cedar datetime (a date,
 * 2027-06-30, or a date and time, 2027-06-30T18:00:00Z, 2027-06-30T18:00:00+0200);
 * default none.
 */
access_until?: string, } | { "op": "block_user", user: EntityRef, blocked: boolean, } | { "op": "deactivate_user", user: EntityRef, deactivated: boolean, } | { "op": "delete_user", user: EntityRef, } | { "op": "set_deletion_rights", user: EntityRef, can_delete: boolean, } | { "op": "set_site_profile", user: EntityRef, site_profile: string | null, } | { "op": "set_roles", user: EntityRef, roles: Array<string>, } | { "op": "set_access_end", user: EntityRef, access_until: string | null, } | { "op": "accept_invitation", user: EntityRef, } | { "op": "resend_invitation", user: EntityRef, } | { "op": "detach_user", user: EntityRef, client: EntityRef, } | { "op": "change_email", user: EntityRef, email: string, } | { "op": "set_profile", user: EntityRef, profile: EntityRef, } | { "op": "move_profile_users", from: EntityRef, to: EntityRef, client?: EntityRef, } | { "op": "set_dossier_profile", user: EntityRef, client: EntityRef, profile: EntityRef | null, } | { "op": "set_company_role", user: EntityRef, client: EntityRef, role: string, } | { "op": "save_profile", id: string, name: string, base: EntityRef, levels: { [key in string]: FieldLevel }, } | { "op": "set_default_profile", profile: EntityRef, } | { "op": "delete_profile", profile: EntityRef, } | { "op": "create_department", id: string, name: string, } | { "op": "restrict_departments", user: EntityRef, departments: Array<string>, } | { "op": "save_role", id: string, name: string, grants: Array<string>, } | { "op": "delete_role", role: EntityRef, } | { "op": "hide_section", section: EntityRef, roles: Array<string>, });

export type DirectoryOp = { "op": "invite_user", id: string, name: string, first_name: string, email: string, roles?: Array<string>, external?: boolean, 
/**
 * Default: the default access profile.
 */
profile?: EntityRef, 
/**
 * A site profile id (manager, collaborator) for the whole firm; default none.
 */
site_profile?: string, 
/**
 * Deletion rights (documents, entries, clients); default without.
 */
can_delete?: boolean, 
/**
 * A client company's user, invited straight onto that company with a client role
 * (the user is external and employed by the company).
 */
company?: CompanyRole, 
/**
 * When the user's access ends (interim staff, auditors): a Cedar datetime (a date,
 * 2027-06-30, or a date and time, 2027-06-30T18:00:00Z, 2027-06-30T18:00:00+0200);
 * default none.
 */
access_until?: string, } | { "op": "block_user", user: EntityRef, blocked: boolean, } | { "op": "deactivate_user", user: EntityRef, deactivated: boolean, } | { "op": "delete_user", user: EntityRef, } | { "op": "set_deletion_rights", user: EntityRef, can_delete: boolean, } | { "op": "set_site_profile", user: EntityRef, site_profile: string | null, } | { "op": "set_roles", user: EntityRef, roles: Array<string>, } | { "op": "set_access_end", user: EntityRef, access_until: string | null, } | { "op": "accept_invitation", user: EntityRef, } | { "op": "resend_invitation", user: EntityRef, } | { "op": "detach_user", user: EntityRef, client: EntityRef, } | { "op": "change_email", user: EntityRef, email: string, } | { "op": "set_profile", user: EntityRef, profile: EntityRef, } | { "op": "move_profile_users", from: EntityRef, to: EntityRef, client?: EntityRef, } | { "op": "set_dossier_profile", user: EntityRef, client: EntityRef, profile: EntityRef | null, } | { "op": "set_company_role", user: EntityRef, client: EntityRef, role: string, } | { "op": "save_profile", id: string, name: string, base: EntityRef, levels: { [key in string]: FieldLevel }, } | { "op": "set_default_profile", profile: EntityRef, } | { "op": "delete_profile", profile: EntityRef, } | { "op": "create_department", id: string, name: string, } | { "op": "restrict_departments", user: EntityRef, departments: Array<string>, } | { "op": "save_role", id: string, name: string, grants: Array<string>, } | { "op": "delete_role", role: EntityRef, } | { "op": "hide_section", section: EntityRef, roles: Array<string>, };

/**
 * A role on one client company (`role`: one of the company's teams, e.g. `director`).
 */
export type CompanyRole = { client: EntityRef, role: string, };

/**
 * What an operation would write, and what was checked to allow it.
 */
export type DirectoryPlan = { 
/**
 * One line for the activity history: "alice invited User::\"zoe\"".
 */
summary: string, delta: EntityDelta, 
/**
 * The decisions taken (action on resource), all allowed.
 */
checked: Array<string>, 
/**
 * The acting user's firm: a host that scopes its callers to tenants checks it.
 */
actor_firm: EntityRef, };

/**
 * The JSON body of every error on every face.
 */
export type ErrorBody = { code: ErrorCode, message: string, location?: Location, diagnostics?: Array<Diagnostic>, };

/**
 * Stable, machine-readable error codes. Renaming one is a breaking change of the wire format.
 */
export type ErrorCode = "malformed_json" | "invalid_path" | "schema_missing" | "schema_invalid" | "policy_parse" | "policy_id_missing" | "policy_id_duplicate" | "policy_validation" | "policy_warning" | "entity_invalid" | "entity_cycle" | "entity_duplicate" | "manifest_invalid" | "test_invalid" | "profile_wider_than_base" | "profile_wider_than_licence" | "profile_invalid" | "default_profile" | "client_role_outside_plan" | "invalid_request" | "not_found" | "unsupported" | "file_ignored" | "forbidden" | "duplicate_email" | "too_deep" | "link_invalid" | "cross_tenant";

/**
 * One problem found in a bundle, a request or a delta.
 */
export type Diagnostic = { code: ErrorCode, severity: Severity, message: string, location?: Location, 
/**
 * Byte length of the offending text at `location`, for editors that underline it.
 */
length?: number, help?: string, };

export type Severity = "error" | "warning";

/**
 * Where a problem is: a bundle file, 1-based line and column (columns count characters).
 */
export type Location = { file: string, line: number, column: number, };

/**
 * The input of [`Op::Impact`]: a candidate bundle and the decisions to replay on it and on the
 * resident engine.
 */
export type ImpactRequest = { files: { [key in string]: string }, log: Array<LoggedDecision>, };

/**
 * One logged decision, as `GET /v1/admin/decisions` returns it (`at` and `latency_us` are
 * read past).
 */
export type LoggedDecision = { 
/**
 * The request as logged: masked context fields are `"***"`, per-call entities are
 * replaced by `entities_count`.
 */
request: Record<string, unknown>, 
/**
 * `allow`, `deny`, or `error`.
 */
decision: string, determining_policies: Array<string>, 
/**
 * The bundle version that answered.
 */
digest: string, };

/**
 * The impact of a candidate on a decision log.
 */
export type ImpactReport = { 
/**
 * The active version replayed as "before".
 */
from_digest: string, 
/**
 * The candidate.
 */
to_digest: string, 
/**
 * Logged records read.
 */
records: number, 
/**
 * Records replayed on both versions.
 */
replayed: number, unchanged: number, allow_to_deny: number, deny_to_allow: number, 
/**
 * Decided by the active version, refused by the candidate.
 */
newly_refused: number, 
/**
 * Refused by the active version, decided by the candidate.
 */
newly_decided: number, 
/**
 * Replayed records the active version answers otherwise than the log says: the entities
 * changed since, a masked context field mattered, or another version answered then.
 */
drifted: number, not_replayed: NotReplayed, changes: Array<ChangedDecision>, };

/**
 * One logged request the candidate answers differently from the active version.
 */
export type ChangedDecision = { 
/**
 * The request as logged.
 */
request: Record<string, unknown>, 
/**
 * What the log recorded.
 */
logged: string, 
/**
 * The active version's answer today.
 */
before: Outcome, 
/**
 * The candidate's answer.
 */
after: Outcome, 
/**
 * The logged context had masked fields: both versions saw `"***"`, not the real values.
 */
masked: boolean, };

/**
 * What one version answers to a replayed request: a decision, or a refusal (e.g. an action
 * the candidate no longer declares). JSON: `{decision, determining_policies}` or `{error}`,
 * as in a batch answer.
 */
export type Outcome = { decision: Decision, determining_policies: Array<string>, } | { error: ErrorBody, };

/**
 * How many records were not replayed, by reason.
 */
export type NotReplayed = { call_entities: number, truncated: number, unreadable: number, };

/**
 * Why a logged record cannot be replayed faithfully.
 */
export type NotReplayable = "call_entities" | "truncated" | "unreadable";

/**
 * One licence, as the engine reads it.
 */
export type Licence = { uid: EntityRef, name: string | null, 
/**
 * The most any of its profiles may grant; a key that is absent is `none`.
 */
levels: { [key in string]: FieldLevel }, };

/**
 * Role names, each list sorted.
 */
export type Roles = { 
/**
 * Ids of the `Role` entities.
 */
firm: Array<string>, 
/**
 * Names of the teams in any entity's `teams` record.
 */
company: Array<string>, };

/**
 * `POST /v1/query/resources`: the resources of one type `principal` may take `action` on.
 */
export type ResourceQuery = { principal: EntityRef, action: EntityRef, resource_type: string, context?: Record<string, unknown>, 
/**
 * At most this many per page (default 100, at most 1,000).
 */
limit?: number | null, 
/**
 * The `next` of the previous page.
 */
cursor?: string | null, };

/**
 * A page of resources, sorted by id; `next` is set when more follow.
 */
export type ResourceList = { resources: Array<EntityRef>, next?: string | null, bundle_digest: string, };

/**
 * `POST /v1/query/principals`: the principals of one type that may take `action` on `resource`.
 */
export type PrincipalQuery = { action: EntityRef, resource: EntityRef, principal_type: string, context?: Record<string, unknown>, limit?: number | null, cursor?: string | null, };

/**
 * A page of principals, sorted by id; `next` is set when more follow.
 */
export type PrincipalList = { principals: Array<EntityRef>, next?: string | null, bundle_digest: string, };

/**
 * `POST /v1/query/plan`: a filter on resources of one type, for data that lives elsewhere.
 */
export type PlanRequest = { principal: EntityRef, action: EntityRef, resource_type: string, context?: Record<string, unknown>, 
/**
 * Where the resources' data lives; with it the answer carries the SQL `WHERE` clause.
 */
sql?: SqlMapping | null, };

/**
 * The plan: decided for every resource of the type, or a condition on the resource.
 */
export type PlanResponse = { plan: Plan, 
/**
 * The condition as a parameterized `WHERE` clause, when a mapping was given.
 */
sql?: SqlFilter | null, bundle_digest: string, };

export type Plan = { "kind": "always_allowed" } | { "kind": "always_denied" } | { "kind": "condition", condition: Condition, };

/**
 * A condition on the resource (docs/query.md). Literals are JSON strings, numbers and booleans,
 * or entity references.
 */
export type Condition = { "op": "true" } | { "op": "false" } | { "op": "and", args: Array<Condition>, } | { "op": "or", args: Array<Condition>, } | { "op": "not", arg: Condition, } | { "op": "eq", path: Array<PathStep>, value: unknown, } | { "op": "one_of", path: Array<PathStep>, values: Array<unknown>, } | { "op": "in", path: Array<PathStep>, entities: Array<EntityRef>, } | { "op": "contains", path: Array<PathStep>, value: unknown, } | { "op": "has", path: Array<PathStep>, } | { "op": "compare", path: Array<PathStep>, cmp: string, value: number, };

/**
 * One step of an attribute path: `attribute` (an attribute, then record fields) read on an
 * entity of `entity_type`. A path's steps go from the resource outward; an empty path is the
 * resource itself.
 */
export type PathStep = { entity_type: string, attribute: Array<string>, };

/**
 * How the resources' data is laid out in SQL tables.
 */
export type SqlMapping = { dialect: SqlDialect, 
/**
 * Keyed by entity type.
 */
tables: { [key in string]: TableMapping }, };

export type SqlDialect = "postgres" | "sqlite";

/**
 * One entity type's table: its id column, a column per attribute (nested record fields joined
 * with `.`, entity references as the referenced entity's id), a join table per set-valued
 * attribute, and optionally a table of its ancestors (every ancestor, not only parents).
 */
export type TableMapping = { table: string, id: string, columns: { [key in string]: string }, sets: { [key in string]: JoinTable }, ancestors?: JoinTable | null, };

/**
 * A two-column table: `owner` (the entity's id) to `value`.
 */
export type JoinTable = { table: string, owner: string, value: string, };

/**
 * A `WHERE` clause (the resource table named by its own name) and its parameters, in order:
 * `$1, $2, …` for PostgreSQL, `?1, ?2, …` for SQLite.
 */
export type SqlFilter = { where: string, params: Array<unknown>, };
