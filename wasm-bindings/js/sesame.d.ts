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
export interface MatrixRequest { principal: EntityRef; actions: EntityRef[]; resources: EntityRef[]; fields?: string[]; context?: Record<string, unknown>; }
export interface MatrixRow { resource: EntityRef; decisions: Record<string, Decision>; fields?: Record<string, FieldLevel>; }
export interface MatrixResponse { principal: EntityRef; rows: MatrixRow[]; bundle_digest: string; }
export interface EntityDelta { upsert?: unknown[]; remove?: EntityRef[]; }
export interface DeltaReport { upserted: number; removed: number; entity_count: number; }
export interface ProfileDifference { key: string; left: FieldLevel; right: FieldLevel; }
export interface AccessProfile { uid: EntityRef; name?: string; licence?: EntityRef; base?: EntityRef; is_default: boolean; levels: Record<string, FieldLevel>; }
export interface BundleInfo { digest: string; name?: string; policy_ids: string[]; entity_count: number; files: string[]; warnings: Diagnostic[]; }
export interface BundleFiles { files: Record<string, string>; }
export interface Validation { ok: boolean; digest: string | null; diagnostics: Diagnostic[]; }

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
  callJson(op: string, json: string): string;
}

export declare function loadSesame(options: {
  wasm?: BufferSource | URL | Response | string;
  bundle?: BundleFiles;
  bundleUrl?: string;
}): Promise<Sesame>;
