// The demo app's page matrix (web/app.js: 15 rows — sections, the firm, clients, documents — by
// 15 actions and 3 field levels, one `matrix` call) timed in headless Chromium and under Node,
// on the demo bundle and its demo firm: the first call (cold code) and the median of repeated
// calls. A benchmark, not a test: nothing is asserted about time.
// Usage: node tests/e2e/bench-matrix.mjs [--calls N --user ID --pkg DIR]
import { readFileSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { bundleFiles } from "./bundle-files.mjs";
import { launch } from "./harness.mjs";

const root = join(dirname(fileURLToPath(import.meta.url)), "..", "..");
const arg = (name, dflt) => {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? process.argv[i + 1] : dflt;
};
const pkg = resolve(arg("pkg", join(resolve(root, process.env.CARGO_TARGET_DIR || "target"), "pkg")));
const calls = Number(arg("calls", "200"));
const user = arg("user", "carol");

const files = bundleFiles(join(root, "policies"));

// Runs in the page and under Node alike: the same matrix request as web/app.js renders.
async function timeMatrix({ loadSesame, wasm, files, user, calls }) {
  const DOC = ["view_document", "edit_document", "approve_document", "send_document", "export_document", "delete_document"];
  const CLIENT = ["view_client", "update_client", "upload_document", "delete_client"];
  const FIRM = ["view_users", "view_activity", "manage_subscription", "create_client"];
  const ref = (type, id) => ({ type, id });
  const engine = await loadSesame({ wasm, bundle: { files } });
  const records = JSON.parse(files["tests/fixtures/demo-firm.json"]);
  engine.replaceEntities(records);
  const all = [...JSON.parse(files["entities.json"]), ...records];
  const ofType = (t) => all.filter((r) => r.uid.type === t).map((r) => r.uid);
  const me = records.find((r) => r.uid.type === "User" && r.uid.id === user);
  const request = {
    principal: ref("User", user),
    actions: [...DOC, ...CLIENT, ...FIRM, "view_section"].map((a) => ref("Action", a)),
    resources: [...ofType("Section"), ref("Firm", me?.attrs?.firm?.__entity?.id ?? "dupont"), ...ofType("Client"), ...ofType("Document")],
    fields: ["invoice.amount", "invoice.notes", "invoice.iban"],
  };
  let t = performance.now();
  const first = engine.matrix(request);
  const firstMs = performance.now() - t;
  const samples = [];
  for (let i = 0; i < calls; i++) {
    t = performance.now();
    engine.matrix(request);
    samples.push(performance.now() - t);
  }
  samples.sort((a, b) => a - b);
  return {
    rows: first.rows.length,
    actions: request.actions.length,
    fields: request.fields.length,
    first_ms: firstMs,
    median_ms: samples[Math.floor(samples.length / 2)],
    p90_ms: samples[Math.floor(samples.length * 0.9)],
  };
}

const { loadSesame } = await import(join(pkg, "sesame.js"));
const node = await timeMatrix({ loadSesame, wasm: readFileSync(join(pkg, "wasm_bindings_bg.wasm")), files, user, calls });

const origin = "http://bench.sesame.test";
const types = { ".js": "text/javascript", ".wasm": "application/wasm" };
const browser = await launch();
let chromium;
try {
  const page = await browser.newPage();
  await page.route(`${origin}/**`, (route) => {
    const path = new URL(route.request().url()).pathname;
    if (path === "/") return route.fulfill({ body: "<!doctype html><title>bench</title>", contentType: "text/html" });
    const file = join(pkg, path.slice(1));
    route.fulfill({ body: readFileSync(file), contentType: types[file.slice(file.lastIndexOf("."))] ?? "application/octet-stream" });
  });
  await page.goto(`${origin}/`);
  chromium = await page.evaluate(async ({ origin, files, user, calls, source }) => {
    const { loadSesame } = await import(`${origin}/sesame.js`);
    const timeMatrix = new Function(`return (${source})`)();
    return timeMatrix({ loadSesame, wasm: await (await fetch(`${origin}/wasm_bindings_bg.wasm`)).arrayBuffer(), files, user, calls });
  }, { origin, files, user, calls, source: timeMatrix.toString() });
} finally {
  await browser.close();
}
console.log(JSON.stringify({ user, calls, chromium, node }, null, 2));
