// Cedar's conformance corpus through the browser package under Node, loaded exactly as a page
// loads it (ES module, wasm bytes handed to init). tests/tests/conformance_node.rs writes the
// inputs and compares the answers through the same runner as the other faces.
// Usage: node tests/node/conformance.mjs IN.jsonl OUT.jsonl
// IN: one line a case, `{"files": {path: text}, "batch": "<BatchRequest as JSON text>" | null}`.
// OUT: one line a case, `{"load": null | ErrorBody, "batch": BatchResponse | null}`.
// Requests and answers cross as JSON text (`callJson`), never as JS numbers: Cedar's Longs are
// 64-bit, a JS number is not.
import { readFileSync, writeFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { dirname, join, resolve } from "node:path";

const root = join(dirname(fileURLToPath(import.meta.url)), "..", "..");
// The target directory as scripts/paths.sh names it ($CARGO_TARGET_DIR, relative to the root).
const pkg = join(resolve(root, process.env.CARGO_TARGET_DIR || "target"), "pkg");
const { loadSesame } = await import(join(pkg, "sesame.js"));
const wasm = readFileSync(join(pkg, "wasm_bindings_bg.wasm"));

const [inPath, outPath] = process.argv.slice(2);
const out = [];
for (const line of readFileSync(inPath, "utf8").split("\n")) {
  if (line === "") continue;
  const { files, batch } = JSON.parse(line);
  let engine;
  try {
    engine = await loadSesame({ wasm, bundle: { files } });
  } catch (err) {
    out.push(JSON.stringify({ load: { code: err.code, message: err.message, diagnostics: err.diagnostics ?? [] }, batch: null }));
    continue;
  }
  out.push(`{"load":null,"batch":${batch === null ? "null" : engine.callJson("batch", batch)}}`);
}
writeFileSync(outPath, out.join("\n") + "\n");
