// Sesame in the browser: a resident engine over the same policy-core the server enforces.
// ES module, no bundler needed:
//
//   import { loadSesame } from "./sesame.js";
//   const engine = await loadSesame({ bundle: { files } });          // or { bundleUrl: "/v1/bundle/active" }
//   engine.replaceEntities(records);
//   engine.decide({ principal, action, resource });                   // -> { decision, determining_policies, ... }
//
// Every failure is a SesameError (an Error) carrying the stable `code`, and `location` /
// `diagnostics` where the engine located the problem.
import init, { SesameEngine } from "./wasm_bindings.js";

export class SesameError extends Error {
  constructor(body) {
    super(body.message);
    this.name = "SesameError";
    this.code = body.code;
    this.location = body.location ?? null;
    this.diagnostics = body.diagnostics ?? [];
  }
}

function rethrow(err) {
  let body;
  try {
    body = JSON.parse(err.message);
  } catch {
    throw err;
  }
  throw new SesameError(body);
}

export class Sesame {
  #engine;
  constructor(engine) {
    this.#engine = engine;
  }
  #call(op, input) {
    try {
      return JSON.parse(this.#engine.call(op, typeof input === "string" ? input : JSON.stringify(input)));
    } catch (err) {
      rethrow(err);
    }
  }
  get digest() { return this.#engine.digest(); }
  info() { return this.#call("info", {}); }
  decide(request) { return this.#call("decide", request); }
  batch(requests) { return this.#call("batch", { requests }); }
  matrix(request) { return this.#call("matrix", request); }
  fieldLevel(principal, resource, field) { return this.#call("field_level", { principal, resource, field }); }
  applyDelta(delta) { return this.#call("apply_delta", delta); }
  replaceEntities(records) { return this.#call("replace_entities", records); }
  /** Every profile; with `firm`, those the firm may use, its own default marked. */
  profiles(firm) { return this.#call("profiles", firm ? { firm } : {}); }
  compareProfiles(left, right) { return this.#call("compare_profiles", { left, right }); }
  runTests() { return this.#call("run_tests", {}); }
  /** Validates candidate files (an editor's buffer) without changing the resident engine. */
  validate(files) { return this.#call("validate", { files }); }
  /** What changes from this engine's bundle to candidate files: files and policies. */
  diff(files) { return this.#call("diff", { files }); }
  /** Plans a firm administration operation for `actor` (checked, not applied): a delta. */
  planDirectory(request) { return this.#call("directory", request); }
  /**
   * Replays logged decisions (`GET /v1/admin/decisions`) on this engine and on candidate files
   * over this engine's data: what the candidate changes. Records the log kept only in part
   * (call-only entities, cut for size) are counted as not replayed, never as changed.
   */
  impact(files, log) { return this.#call("impact", { files, log }); }
  /** The licences access profiles name, each with the most it lets a profile grant per key. */
  licences() { return this.#call("licences", {}); }
  /** The firm roles (`Role` entities) and company roles (client teams) of the store. */
  roles() { return this.#call("roles", {}); }
  /** Every field level, lowest first: `["none", "print", "read", "full"]`. */
  fieldLevels() { return this.#call("field_levels", {}); }
  /** The resources of a type `principal` may take `action` on: exact, paged (docs/query.md). */
  queryResources(query) { return this.#call("query_resources", query); }
  /** The principals of a type that may take `action` on `resource`. */
  queryPrincipals(query) { return this.#call("query_principals", query); }
  /** A condition on resources of a type (and its SQL WHERE clause, given a mapping). */
  queryPlan(request) { return this.#call("query_plan", request); }
  /** Raw JSON in, raw JSON out: for callers that already hold JSON text. */
  callJson(op, json) {
    try {
      return this.#engine.call(op, json);
    } catch (err) {
      rethrow(err);
    }
  }
}

/**
 * Loads the wasm module once and a bundle into a resident engine.
 * `wasm`: bytes, URL or Response of `wasm_bindings_bg.wasm` (default: next to this file).
 * `bundle`: `{ files: { path: text } }`, or `bundleUrl` serving that JSON. With
 * `policy_validation: "report"` a draft whose policies fail validation loads anyway (its
 * errors become warnings of `info()`), to see what Cedar would decide with it.
 */
export async function loadSesame({ wasm, bundle, bundleUrl } = {}) {
  await init(wasm === undefined ? undefined : { module_or_path: wasm });
  if (bundle === undefined) {
    const res = await fetch(bundleUrl);
    if (!res.ok) throw new Error(`cannot fetch bundle ${bundleUrl}: ${res.status}`);
    bundle = await res.json();
  }
  try {
    return new Sesame(new SesameEngine(JSON.stringify(bundle)));
  } catch (err) {
    rethrow(err);
  }
}
