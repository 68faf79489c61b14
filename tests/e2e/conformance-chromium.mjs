// Cedar's conformance corpus through the browser package in headless Chromium: a page imports
// the package as any page would and answers every case (same input and output lines as
// tests/node/conformance.mjs; tests/tests/conformance_browser.rs compares them).
// Usage: node tests/e2e/conformance-chromium.mjs IN.jsonl OUT.jsonl
import { readFileSync, writeFileSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { launch } from "./harness.mjs";

const root = join(dirname(fileURLToPath(import.meta.url)), "..", "..");
const pkg = join(resolve(root, process.env.CARGO_TARGET_DIR || "target"), "pkg");
const [inPath, outPath] = process.argv.slice(2);
const origin = "http://conformance.sesame.test";
const types = { ".js": "text/javascript", ".wasm": "application/wasm", ".jsonl": "text/plain", ".html": "text/html" };

const browser = await launch();
try {
  const page = await browser.newPage();
  // A fake origin: the package's files and the input, served from disk.
  await page.route(`${origin}/**`, (route) => {
    const path = new URL(route.request().url()).pathname;
    const file = path === "/input.jsonl" ? inPath : path === "/" ? null : join(pkg, path.slice(1));
    if (file === null) return route.fulfill({ body: "<!doctype html><title>conformance</title>", contentType: "text/html" });
    const ext = file.slice(file.lastIndexOf("."));
    route.fulfill({ body: readFileSync(file), contentType: types[ext] ?? "application/octet-stream" });
  });
  await page.goto(`${origin}/`);
  const out = await page.evaluate(async (origin) => {
    const { loadSesame } = await import(`${origin}/sesame.js`);
    const wasm = await (await fetch(`${origin}/wasm_bindings_bg.wasm`)).arrayBuffer();
    const lines = (await (await fetch(`${origin}/input.jsonl`)).text()).split("\n");
    const out = [];
    for (const line of lines) {
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
    return out.join("\n") + "\n";
  }, origin);
  writeFileSync(outPath, out);
} finally {
  await browser.close();
}
