// Types of the browser package. The wire types (requests, answers, errors, the operation
// names) are generated from policy_core's Rust types into wire.d.ts (docs/wire.md); this file
// declares only the package's own API over them.

import type {
  AccessProfile, BatchResponse, BundleDiff, BundleInfo, BundleLoad, CedarEntity, DecisionRequest,
  DecisionResponse, DeltaReport, Diagnostic, ErrorCode, DirectoryPlan, DirectoryRequest, EntityDelta,
  EntityRef, FieldLevel, ImpactReport, Licence, Location, LoggedDecision, MatrixRequest, MatrixResponse, Op, PlanRequest, PlanResponse,
  PrincipalList, PrincipalQuery, ProfileDifference, ResourceList, ResourceQuery, Roles, TestReport,
  Validation,
} from "./wire.js";

export type * from "./wire.js";

export declare class SesameError extends Error {
  code: ErrorCode;
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
  replaceEntities(records: CedarEntity[]): DeltaReport;
  /** Every profile; with `firm`, the shared ones and the firm's own, its default marked. */
  profiles(firm?: EntityRef): AccessProfile[];
  compareProfiles(left: EntityRef, right: EntityRef): ProfileDifference[];
  runTests(): TestReport;
  validate(files: Record<string, string>): Validation;
  diff(files: Record<string, string>): BundleDiff;
  planDirectory(request: DirectoryRequest): DirectoryPlan;
  /** Logged decisions replayed on the loaded engine and on candidate `files` over the same data. */
  impact(files: Record<string, string>, log: LoggedDecision[]): ImpactReport;
  /** The licences access profiles name, with their levels (empty without a firm model). */
  licences(): Licence[];
  /** Firm roles and company roles of the store (empty without a firm model). */
  roles(): Roles;
  /** Every field level, lowest first. */
  fieldLevels(): FieldLevel[];
  /** The resources of a type a principal may act on: exact, paged (docs/query.md). */
  queryResources(query: ResourceQuery): ResourceList;
  /** The principals of a type that may act on a resource. */
  queryPrincipals(query: PrincipalQuery): PrincipalList;
  /** A condition on resources of a type, and its SQL for a mapping. */
  queryPlan(request: PlanRequest): PlanResponse;
  /** Raw JSON in, raw JSON out: `json` is the input of `op`, the answer its output. */
  callJson(op: Op, json: string): string;
}

export declare function loadSesame(options: {
  wasm?: BufferSource | URL | Response | string;
  bundle?: BundleLoad;
  bundleUrl?: string;
}): Promise<Sesame>;
