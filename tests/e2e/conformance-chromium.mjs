// Cedar's conformance corpus through the browser package in headless Chromium: a page imports
// the package as any page would and answers every case with the same code as the Node face
// (tests/node/conformance-answers.mjs); tests/tests/conformance_browser.rs compares the answers.
// Usage: node tests/e2e/conformance-chromium.mjs IN.jsonl OUT.jsonl
import { readFileSync, writeFileSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { launch } from "./harness.mjs";

const root = join(dirname(fileURLToPath(import.meta.url)), "..", "..");
const pkg = join(resolve(root, process.env.CARGO_TARGET_DIR || "target"), "pkg");
const [inPath, outPath] = process.argv.slice(2);
const origin = "http://conformance.sesame.test";
const types = { ".js": "text/javascript", ".mjs": "text/javascript", ".wasm": "application/wasm", ".jsonl": "text/plain", ".html": "text/html" };

const browser = await launch();
try {
  const page = await browser.newPage();
  // A fake origin: the package's files and the input, served from disk.
  await page.route(`${origin}/**`, (route) => {
    const path = new URL(route.request().url()).pathname;
    const file = path === "/input.jsonl" ? inPath
      : path === "/conformance-answers.mjs" ? join(root, "tests/node/conformance-answers.mjs")
      : path === "/" ? null : join(pkg, path.slice(1));
    if (file === null) return route.fulfill({ body: "<!doctype html><title>conformance</title>", contentType: "text/html" });
    const ext = file.slice(file.lastIndexOf("."));
    route.fulfill({ body: readFileSync(file), contentType: types[ext] ?? "application/octet-stream" });
  });
  await page.goto(`${origin}/`);
  const out = await page.evaluate(async (origin) => {
    const { loadSesame } = await import(`${origin}/sesame.js`);
    const { answerCases } = await import(`${origin}/conformance-answers.mjs`);
    const wasm = await (await fetch(`${origin}/wasm_bindings_bg.wasm`)).arrayBuffer();
    return answerCases(loadSesame, wasm, await (await fetch(`${origin}/input.jsonl`)).text());
  }, origin);
  writeFileSync(outPath, out);
} finally {
  await browser.close();
}
