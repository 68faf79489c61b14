// Cedar's conformance corpus through the browser package under Node, loaded exactly as a page
// loads it (ES module, wasm bytes handed to init). tests/tests/conformance_browser.rs writes the
// inputs and compares the answers through the same runner as the other faces.
// Usage: node tests/node/conformance.mjs IN.jsonl OUT.jsonl (lines: see conformance-answers.mjs)
import { readFileSync, writeFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { dirname, join, resolve } from "node:path";
import { answerCases } from "./conformance-answers.mjs";

const root = join(dirname(fileURLToPath(import.meta.url)), "..", "..");
// The target directory as scripts/paths.sh names it ($CARGO_TARGET_DIR, relative to the root).
const pkg = join(resolve(root, process.env.CARGO_TARGET_DIR || "target"), "pkg");
const { loadSesame } = await import(join(pkg, "sesame.js"));
const wasm = readFileSync(join(pkg, "wasm_bindings_bg.wasm"));

const [inPath, outPath] = process.argv.slice(2);
writeFileSync(outPath, await answerCases(loadSesame, wasm, readFileSync(inPath, "utf8")));
