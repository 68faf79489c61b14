// The demo firm app in headless Chromium, as a person would use it, against a real server:
// two users see different screens; a deploy changes what the open page shows without a reload;
// a rollback brings it back. Screenshots go to $SHOTS (default target/screenshots).
// Usage: SESAME_URL=http://... SESAME_TOKEN=... node tests/e2e/demo-app.mjs
import { check, launch, shots, token, url } from "./harness.mjs";

async function admin(path, body) {
  const res = await fetch(`${url}${path}`, {
    method: body ? "POST" : "GET",
    headers: { Authorization: `Bearer ${token}`, "Content-Type": "application/json" },
    body: body ? JSON.stringify(body) : undefined,
  });
  const json = await res.json();
  if (!res.ok) throw new Error(`${path}: ${res.status} ${JSON.stringify(json)}`);
  return json;
}

const browser = await launch();
const errors = [];
try {
  const page = await browser.newPage({ viewport: { width: 1280, height: 800 } });
  page.on("pageerror", (e) => errors.push(e.message));
  page.on("console", (m) => { if (m.type() === "error") errors.push(m.text()); });

  // Carol, accountant of acme: acme's documents, editable amount, no delete (she is not an admin).
  await page.goto(`${url}/?user=carol`);
  await page.waitForSelector("[data-testid=document-inv-1]");
  check(await page.isVisible("[data-testid=client-acme]"), "carol sees her client acme");
  check(!(await page.isVisible("[data-testid=client-globex]")), "carol does not see globex (not assigned)");
  check(await page.isEnabled("[data-testid=document-inv-1-edit_document]"), "carol may edit inv-1");
  const timing = await page.textContent("[data-testid=timing]");
  check(timing.includes("one list query"), `the document list comes from one list query (${timing})`);
  const digest1 = await page.getAttribute("body", "data-digest");
  check(digest1?.startsWith("sha256:"), "the page shows the version digest");
  check((await page.textContent("[data-testid=timing]")).includes("one matrix call"), "decision time shown");
  await page.screenshot({ path: `${shots}/demo-app-carol.png`, fullPage: true });

  // Alice, firm administrator: users and subscriptions, but no client documents by herself.
  await page.selectOption("[data-testid=user-picker]", "alice");
  await page.waitForFunction(() => document.body.dataset.user === "alice");
  check(await page.isEnabled("[data-testid=firm-manage_subscription]"), "alice manages the subscription");
  check(!(await page.isVisible("[data-testid=document-inv-1]")), "alice sees no client document");
  await page.screenshot({ path: `${shots}/demo-app-alice.png`, fullPage: true });
  await page.selectOption("[data-testid=user-picker]", "carol");
  check(!(await page.isEnabled("[data-testid=firm-manage_subscription]")), "carol cannot manage the subscription");

  // A deploy that forbids carol's edits: the open page follows within seconds, no reload.
  const active = await (await fetch(`${url}/v1/bundle/active`)).json();
  const files = { ...active.files, "freeze.cedar": "@id(\"freeze-carol-edits\")\nforbid (principal == User::\"carol\", action == Action::\"edit_document\", resource);\n" };
  // The bundle's own tests expect carol to edit: the deploy must say why it changes that.
  for (const f of Object.keys(files)) if (f.startsWith("tests/") && f.endsWith(".yaml")) delete files[f];
  const deployed = await admin("/v1/admin/deploy", { files, message: "freeze carol's edits (browser test)" });
  await page.waitForFunction((d) => document.body.dataset.digest === d, deployed.version.digest, { timeout: 10000 });
  check(!(await page.isEnabled("[data-testid=document-inv-1-edit_document]")), "after the deploy carol's edit button is disabled");
  check(await page.isVisible("[data-testid=document-inv-1]"), "and she still sees the document");

  // One-click rollback on the server: the page follows again.
  await admin("/v1/admin/rollback", {});
  await page.waitForFunction((d) => document.body.dataset.digest === d, digest1, { timeout: 10000 });
  check(await page.isEnabled("[data-testid=document-inv-1-edit_document]"), "after the rollback carol may edit again");
  check(errors.length === 0, `no page errors (${errors.join("; ")})`);
} finally {
  await browser.close();
}
