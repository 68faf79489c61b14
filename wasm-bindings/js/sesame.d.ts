// Types of the browser package. They mirror policy_core::wire (docs/wire.md), the JSON every
// face of Sesame speaks; keep both in step (tests/node checks the shapes at run time).

export interface EntityRef { type: string; id: string; }
export type Decision = "allow" | "deny";
export type FieldLevel = "none" | "print" | "read" | "full";
export interface Location { file: string; line: number; column: number; }
export interface Diagnostic {
  code: string; severity: "error" | "warning"; message: string;
  location?: Location; length?: number; help?: string;
}
export interface DecisionRequest { principal: EntityRef; action: EntityRef; resource: EntityRef; context?: Record<string, unknown>; /** Entities for this call only; never stored. */ entities?: unknown[]; }
export interface EvaluationError { policy_id: string; message: string; }
export interface DecisionResponse { decision: Decision; determining_policies: string[]; errors: EvaluationError[]; bundle_digest: string; }
export interface ErrorBody { code: string; message: string; location?: Location; diagnostics?: Diagnostic[]; }
export type BatchItem = DecisionResponse | { error: ErrorBody };
export interface BatchResponse { results: BatchItem[]; bundle_digest: string; }
export interface MatrixRequest { principal: EntityRef; actions: EntityRef[]; resources: EntityRef[]; fields?: string[]; context?: Record<string, unknown>; /** Entities for this call only; never stored. */ entities?: unknown[]; }
export interface MatrixRow { resource: EntityRef; decisions: Record<string, Decision>; fields?: Record<string, FieldLevel>; }
export interface MatrixResponse { principal: EntityRef; rows: MatrixRow[]; bundle_digest: string; }
export interface EntityDelta { upsert?: unknown[]; remove?: EntityRef[]; }
export interface DeltaReport { upserted: number; removed: number; entity_count: number; }
export interface ProfileDifference { key: string; left: FieldLevel; right: FieldLevel; }
export interface AccessProfile { uid: EntityRef; name?: string; licence?: EntityRef; base?: EntityRef; is_default: boolean; levels: Record<string, FieldLevel>; }
export interface BundleInfo { digest: string; name?: string; policy_ids: string[]; entity_count: number; files: string[]; warnings: Diagnostic[]; }
export interface BundleFiles { files: Record<string, string>; }
export interface Validation { ok: boolean; digest: string | null; diagnostics: Diagnostic[]; }
export interface BundleDiff { from_digest: string; to_digest: string; files_added: string[]; files_removed: string[]; files_changed: string[]; policies_added: string[]; policies_removed: string[]; policies_changed: string[]; }
/** A firm administration operation on behalf of `actor`; `op` names it (docs/server.md, /v1/directory). */
export type DirectoryRequest = { actor: EntityRef } & (
  | { op: "invite_user"; id: string; name: string; first_name: string; email: string; roles?: string[]; external?: boolean; profile?: EntityRef }
  | { op: "block_user"; user: EntityRef; blocked: boolean }
  | { op: "detach_user"; user: EntityRef; client: EntityRef }
  | { op: "change_email"; user: EntityRef; email: string }
  | { op: "set_profile"; user: EntityRef; profile: EntityRef }
  | { op: "move_profile_users"; from: EntityRef; to: EntityRef }
  | { op: "set_company_role"; user: EntityRef; client: EntityRef; role: string }
  | { op: "save_profile"; id: string; name: string; base: EntityRef; levels: Record<string, FieldLevel> }
  | { op: "set_default_profile"; profile: EntityRef }
  | { op: "delete_profile"; profile: EntityRef }
  | { op: "create_department"; id: string; name: string }
  | { op: "restrict_departments"; user: EntityRef; departments: string[] });
export interface DirectoryPlan { summary: string; delta: EntityDelta; checked: string[]; actor_firm: EntityRef; }
export interface LoggedDecision { request: Record<string, unknown>; decision: string; determining_policies?: string[]; digest?: string; }
export type ReplayOutcome = { decision: Decision; determining_policies: string[] } | { error: ErrorBody };
export interface ChangedDecision { request: Record<string, unknown>; logged: string; before: ReplayOutcome; after: ReplayOutcome; masked: boolean; }
export interface ImpactReport {
  from_digest: string; to_digest: string; records: number; replayed: number; unchanged: number;
  allow_to_deny: number; deny_to_allow: number; newly_refused: number; newly_decided: number; drifted: number;
  not_replayed: { call_entities: number; truncated: number; unreadable: number };
  changes: ChangedDecision[];
}
export interface Licence { uid: EntityRef; name?: string; levels: Record<string, FieldLevel>; }
export interface Roles { firm: string[]; company: string[]; }

export declare class SesameError extends Error {
  code: string;
  location: Location | null;
  diagnostics: Diagnostic[];
}

export declare class Sesame {
  readonly digest: string;
  info(): BundleInfo;
  decide(request: DecisionRequest): DecisionResponse;
  batch(requests: DecisionRequest[]): BatchResponse;
  matrix(request: MatrixRequest): MatrixResponse;
  fieldLevel(principal: EntityRef, resource: EntityRef, field: string): FieldLevel;
  applyDelta(delta: EntityDelta): DeltaReport;
  replaceEntities(records: unknown[]): DeltaReport;
  profiles(): AccessProfile[];
  compareProfiles(left: EntityRef, right: EntityRef): ProfileDifference[];
  runTests(): unknown;
  validate(files: Record<string, string>): Validation;
  diff(files: Record<string, string>): BundleDiff;
  planDirectory(request: DirectoryRequest): DirectoryPlan;
  impact(files: Record<string, string>, log: LoggedDecision[]): ImpactReport;
  licences(): Licence[];
  roles(): Roles;
  fieldLevels(): FieldLevel[];
  callJson(op: string, json: string): string;
}

export declare function loadSesame(options: {
  wasm?: BufferSource | URL | Response | string;
  bundle?: BundleFiles;
  bundleUrl?: string;
}): Promise<Sesame>;
