// The browser package under Node vs the official @cedar-policy/cedar-wasm, same bundle, same
// generated firm, same requests, one run. Sesame keeps a resident engine (policies, schema and
// entities loaded once); cedar-wasm is measured stateless (everything passed per call) and with
// pre-parsed policies and schema (entities still passed per call: its API has no resident
// entity store), each with all the entities and with the request's entity slice (its best fair
// mode). Decisions are compared on every measured request.
// Usage: node tests/e2e/bench-browser.mjs [--users N --clients N --documents N --requests N
//          --peer-requests N --pkg DIR]   (--pkg: another build of the package, default target/pkg)
import { readFileSync } from "node:fs";
import { join, dirname, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { execFileSync } from "node:child_process";
import * as cedar from "@cedar-policy/cedar-wasm/nodejs";
import { bundleFiles } from "./bundle-files.mjs";

const root = join(dirname(fileURLToPath(import.meta.url)), "..", "..");
const arg = (name, dflt) => {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? process.argv[i + 1] : dflt;
};
// The target directory as scripts/paths.sh names it ($CARGO_TARGET_DIR, relative to the root).
const target = resolve(root, process.env.CARGO_TARGET_DIR || "target");
const sesameBin = join(target, "release", "sesame");
const firm = JSON.parse(execFileSync(sesameBin, ["gen-firm",
  "--users", arg("users", "100"), "--clients", arg("clients", "500"),
  "--documents", arg("documents", "5000"), "--requests", arg("requests", "2000")],
  { maxBuffer: 1 << 30 }).toString());

const files = bundleFiles(join(root, "policies"));
const pkg = resolve(arg("pkg", join(target, "pkg")));
const { loadSesame } = await import(join(pkg, "sesame.js"));

const median = (xs) => { const s = [...xs].sort((a, b) => a - b); return s[Math.floor(s.length / 2)]; };
function perCall(requests, rounds, fn) {
  const samples = [];
  for (let r = 0; r < rounds; r++) {
    const t0 = process.hrtime.bigint();
    for (const q of requests) fn(q);
    samples.push(Number(process.hrtime.bigint() - t0) / 1e3 / requests.length);
  }
  return median(samples);
}

// Sesame: resident engine.
let t0 = performance.now();
const engine = await loadSesame({ wasm: readFileSync(join(pkg, "wasm_bindings_bg.wasm")), bundle: { files } });
engine.replaceEntities(firm.entities);
const sesameLoadMs = performance.now() - t0;
const sesameDecide = perCall(firm.requests, 5, (q) => engine.decide(q));
// The same calls with the JSON already text both ways (`callJson`): what the JS boundary
// (JSON.stringify of the request, JSON.parse of the answer) costs `decide`.
const requestTexts = new Map(firm.requests.map((q) => [q, JSON.stringify(q)]));
const sesameDecideJson = perCall(firm.requests, 5, (q) => engine.callJson("decide", requestTexts.get(q)));
const sesameBatch = (() => {
  const samples = [];
  for (let r = 0; r < 5; r++) {
    const t = process.hrtime.bigint();
    engine.batch(firm.requests);
    samples.push(Number(process.hrtime.bigint() - t) / 1e3 / firm.requests.length);
  }
  return median(samples);
})();

// cedar-wasm: the same policies (all .cedar files), schema, and entities (static + generated).
const policyText = Object.entries(files).filter(([p]) => p.endsWith(".cedar")).map(([, t]) => t).join("\n");
const schema = Object.entries(files).find(([p]) => p.endsWith(".cedarschema"))[1];
const entities = [...JSON.parse(files["entities.json"]), ...firm.entities];
const call = (q) => ({ principal: q.principal, action: q.action, resource: q.resource, context: q.context ?? {} });
const sample = firm.requests.slice(0, Number(arg("peer-requests", "100")));
const stateless = (q) => cedar.isAuthorized({ ...call(q), schema, validateRequest: true, policies: { staticPolicies: policyText }, entities });
for (const [what, answer] of [["policies", cedar.preparsePolicySet("sesame", { staticPolicies: policyText })], ["schema", cedar.preparseSchema("sesame", schema)]]) {
  if (answer.type !== "success") throw new Error(`cedar-wasm refused the ${what}: ${JSON.stringify(answer.errors)}`);
}
const preparsed = (q) => cedar.statefulIsAuthorized({ ...call(q), preparsedPolicySetId: "sesame", preparsedSchemaName: "sesame", validateRequest: true, entities });
const cedarStateless = perCall(sample, 3, stateless);
const cedarPreparsed = perCall(sample, 3, preparsed);

// cedar-wasm's best fair mode: pre-parsed policies and schema, and each request with only its
// entity slice, as small as gives Cedar's decision (what a caller that knows its data would
// send; the slice Sesame's server hands its wasmtime guest): the principal, action, resource,
// context entities and the entities the policies' conditions name, then every entity their
// attributes and tags reference, transitively; each with its ancestors flattened into
// `parents`, so no ancestor need travel as an entity of its own. Slices are computed before
// timing (the caller's cost, not cedar-wasm's); decisions are compared below.
const byKey = new Map(entities.map((e) => [`${e.uid.type}::${e.uid.id}`, e]));
function refsIn(value, out) {
  if (Array.isArray(value)) value.forEach((v) => refsIn(v, out));
  else if (value && typeof value === "object") {
    if (value.__entity) out.push(value.__entity);
    else if (typeof value.type === "string" && typeof value.id === "string" && Object.keys(value).length === 2) out.push(value);
    else Object.values(value).forEach((v) => refsIn(v, out));
  }
}
const ancestorMemo = new Map();
function ancestors(key) {
  if (ancestorMemo.has(key)) return ancestorMemo.get(key);
  const out = new Map();
  ancestorMemo.set(key, out);
  for (const p of byKey.get(key)?.parents ?? []) {
    const pk = `${p.type}::${p.id}`;
    out.set(pk, p);
    for (const [k, v] of ancestors(pk)) out.set(k, v);
  }
  return out;
}
// Entity literals of the policies' conditions (`Type::"id"` after `when`/`unless`), read the
// way a caller would: from the policy text.
const conditionLiterals = [];
for (const m of policyText.matchAll(/((?:[A-Za-z_][A-Za-z0-9_]*::)*[A-Za-z_][A-Za-z0-9_]*)::"((?:[^"\\]|\\.)*)"/g)) {
  conditionLiterals.push({ type: m[1], id: JSON.parse(`"${m[2]}"`) });
}
function slice(q) {
  const todo = [q.principal, q.action, q.resource, ...conditionLiterals];
  refsIn(q.context ?? {}, todo);
  const seen = new Map();
  while (todo.length) {
    const r = todo.pop();
    const key = `${r.type}::${r.id}`;
    if (seen.has(key)) continue;
    const e = byKey.get(key);
    if (!e) continue;
    seen.set(key, { ...e, parents: [...ancestors(key).values()] });
    refsIn(e.attrs ?? {}, todo);
    refsIn(e.tags ?? {}, todo);
  }
  return [...seen.values()];
}
const slices = new Map(sample.map((q) => [q, slice(q)]));
const slicedStateless = (q) => cedar.isAuthorized({ ...call(q), schema, validateRequest: true, policies: { staticPolicies: policyText }, entities: slices.get(q) });
const slicedPreparsed = (q) => cedar.statefulIsAuthorized({ ...call(q), preparsedPolicySetId: "sesame", preparsedSchemaName: "sesame", validateRequest: true, entities: slices.get(q) });
const cedarSlicedStateless = perCall(sample, 3, slicedStateless);
const cedarSlicedPreparsed = perCall(sample, 3, slicedPreparsed);
const meanSlice = sample.reduce((n, q) => n + slices.get(q).length, 0) / sample.length;

// The same decisions, or the comparison means nothing.
let mismatches = 0;
for (const q of sample) {
  const ours = engine.decide(q).decision;
  for (const theirs of [preparsed(q), slicedPreparsed(q)]) {
    if (theirs.type !== "success" || theirs.response.decision !== ours) mismatches++;
  }
}

const report = {
  entities: entities.length,
  requests: firm.requests.length,
  peer_requests: sample.length,
  cedar_wasm_version: cedar.getCedarVersion(),
  sesame_load_ms: sesameLoadMs,
  sesame_decide_us: sesameDecide,
  sesame_decide_json_text_us: sesameDecideJson,
  sesame_batch_us: sesameBatch,
  cedar_wasm_stateless_all_entities_us: cedarStateless,
  cedar_wasm_preparsed_all_entities_us: cedarPreparsed,
  mean_slice_entities: meanSlice,
  cedar_wasm_stateless_slice_us: cedarSlicedStateless,
  cedar_wasm_preparsed_slice_us: cedarSlicedPreparsed,
  speedup_vs_preparsed_slice: cedarSlicedPreparsed / sesameDecide,
  speedup_vs_stateless_slice: cedarSlicedStateless / sesameDecide,
  speedup_vs_preparsed_all_entities: cedarPreparsed / sesameDecide,
  mismatches,
};
console.log(JSON.stringify(report, null, 2));
if (mismatches > 0) process.exit(1);
