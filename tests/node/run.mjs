// Drives the browser package under Node exactly as a page would (ES module, wasm bytes handed to
// init), for the differential tests in tests/tests/browser.rs.
// Usage: node tests/node/run.mjs INPUT.json  -> JSON on stdout
// INPUT: { "bundle": {"files": {...}}, "entities": [...], "requests": [...], "delta": {...},
//          "directory": [DirectoryRequest], "impact": {"files": {...}, "log": [LoggedDecision]} }
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { dirname, join, resolve } from "node:path";

const root = join(dirname(fileURLToPath(import.meta.url)), "..", "..");
// The target directory as scripts/paths.sh names it ($CARGO_TARGET_DIR, relative to the root).
const pkg = join(resolve(root, process.env.CARGO_TARGET_DIR || "target"), "pkg");
const { loadSesame, SesameError } = await import(join(pkg, "sesame.js"));

const input = JSON.parse(readFileSync(process.argv[2], "utf8"));
const engine = await loadSesame({ wasm: readFileSync(join(pkg, "wasm_bindings_bg.wasm")), bundle: input.bundle });
const out = { digest: engine.digest, tests: engine.runTests() };
engine.replaceEntities(input.entities);
out.batch = engine.batch(input.requests);
out.directory = input.directory.map((r) => {
  try {
    return { ok: engine.planDirectory(r) };
  } catch (err) {
    return { error: err.code, message: err.message };
  }
});
out.impact = engine.impact(input.impact.files, input.impact.log);
out.licences = engine.licences();
out.roles = engine.roles();
out.fieldLevels = engine.fieldLevels();
out.afterDelta = (engine.applyDelta(input.delta), engine.batch(input.requests));
try {
  engine.callJson("decide", "{not json");
  out.error = null;
} catch (err) {
  out.error = { isError: err instanceof Error, isSesameError: err instanceof SesameError, code: err.code };
}
try {
  await loadSesame({ bundle: { files: { ...input.bundle.files, "bad.cedar": "@id(\"bad\")\npermit (principal, action, resource) when { resource.nope };\n" } } });
  out.badBundle = null;
} catch (err) {
  out.badBundle = { code: err.code, location: err.diagnostics[0]?.location ?? null };
}
out.validate = engine.validate({ ...input.bundle.files, "typo.cedar": "@id(\"typo\")\npermit (principal, action, resource)\n" });
out.digestAfterValidate = engine.digest;
process.stdout.write(JSON.stringify(out));
