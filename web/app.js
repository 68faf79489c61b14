// The demo firm app: what a front-end developer does with Sesame. The page loads the browser
// package once, the bundle the server enforces (by digest), lists the documents the user may
// view with one list query (exact, from the policies' structure: not a question per document),
// and renders every screen from ONE permission-matrix call over what is shown — no call per
// button. When a new version is deployed the
// page notices (ETag) and swaps engines without a reload.
import { loadSesame } from "/pkg/sesame.js";

const FIXTURE = "tests/fixtures/demo-firm.json"; // the demo firm's data, shipped in the bundle
const DOC_ACTIONS = ["view_document", "edit_document", "approve_document", "send_document", "export_document", "delete_document"];
const CLIENT_ACTIONS = ["view_client", "update_client", "upload_document", "delete_client"];
const FIRM_ACTIONS = ["view_users", "view_activity", "manage_subscription", "create_client"];
const FIELDS = { amount: "invoice.amount", notes: "invoice.notes", iban: "invoice.iban" };
const ref = (type, id) => ({ type, id });
const $ = (id) => document.getElementById(id);

let engine = null;
let digest = null;
let records = []; // the firm's data entities (sent to the engine)
let statics = []; // the bundle's own entities (sections, roles, profiles...)

async function loadActive() {
  const res = await fetch("/v1/bundle/active", { headers: digest ? { "If-None-Match": `"${digest}"` } : {} });
  if (res.status === 304) return false;
  if (!res.ok) throw new Error(`no active version (${res.status})`);
  const bundle = await res.json();
  const next = await loadSesame({ bundle });
  records = JSON.parse(bundle.files[FIXTURE] ?? "[]");
  statics = JSON.parse(bundle.files["entities.json"] ?? "[]");
  next.replaceEntities(records);
  engine = next;
  digest = res.headers.get("ETag").replaceAll('"', "");
  return true;
}

const ofType = (type) => [...statics, ...records].filter((r) => r.uid.type === type);

function button(label, allowed, testid) {
  const b = document.createElement("button");
  b.textContent = label.replaceAll("_", " ");
  b.disabled = allowed !== "allow";
  b.dataset.testid = testid;
  return b;
}

function fieldCell(level, value) {
  const td = document.createElement("td");
  td.dataset.level = level;
  if (level === "none") { td.textContent = "hidden"; td.className = "field-none"; }
  else if (level === "print") { td.textContent = `${value} (print only)`; td.className = "field-print"; }
  else if (level === "read") { td.textContent = value; }
  else { const i = document.createElement("input"); i.value = value; i.className = "field-full"; td.append(i); }
  return td;
}

function render() {
  const user = $("user").value;
  const me = records.find((r) => r.uid.type === "User" && r.uid.id === user);
  const firm = me?.attrs?.firm?.__entity?.id ?? "dupont";
  const sections = ofType("Section").map((r) => r.uid.id);
  const clients = ofType("Client").map((r) => r.uid);
  const started = performance.now();
  const documents = listAll({ principal: ref("User", user), action: ref("Action", "view_document"), resource_type: "Document" });
  const matrix = engine.matrix({
    principal: ref("User", user),
    actions: [...DOC_ACTIONS, ...CLIENT_ACTIONS, ...FIRM_ACTIONS, "view_section"].map((a) => ref("Action", a)),
    resources: [...sections.map((s) => ref("Section", s)), ref("Firm", firm), ...clients, ...documents],
    fields: Object.values(FIELDS),
  });
  const elapsed = performance.now() - started;
  const row = (type, id) => matrix.rows.find((r) => r.resource.type === type && r.resource.id === id);

  $("sections").replaceChildren(...sections.map((s) => {
    const a = document.createElement("a");
    a.href = `#${s}`; a.textContent = s; a.dataset.testid = `section-${s}`;
    a.className = row("Section", s)?.decisions.view_section === "allow" ? "" : "locked";
    return a;
  }));
  const firmRow = row("Firm", firm);
  $("firm-actions").replaceChildren(...FIRM_ACTIONS.map((a) => button(a, firmRow?.decisions[a], `firm-${a}`)));

  const visibleClients = clients.filter((c) => row("Client", c.id)?.decisions.view_client === "allow");
  $("clients").tBodies[0].replaceChildren(...(visibleClients.length ? visibleClients.map((c) => {
    const tr = document.createElement("tr"); tr.dataset.testid = `client-${c.id}`;
    const name = records.find((r) => r.uid.type === "Client" && r.uid.id === c.id)?.attrs?.name ?? c.id;
    const td = document.createElement("td"); td.textContent = name; tr.append(td);
    const actions = document.createElement("td");
    actions.append(...CLIENT_ACTIONS.slice(1).map((a) => button(a, row("Client", c.id).decisions[a], `client-${c.id}-${a}`)));
    tr.append(actions);
    return tr;
  }) : [emptyRow("no client visible to this user", 2)]));

  const visibleDocs = documents;
  $("documents").tBodies[0].replaceChildren(...(visibleDocs.length ? visibleDocs.map((d) => {
    const r = row("Document", d.id);
    const rec = records.find((x) => x.uid.type === "Document" && x.uid.id === d.id);
    const tr = document.createElement("tr"); tr.dataset.testid = `document-${d.id}`;
    const name = document.createElement("td"); name.textContent = `${d.id} (${rec?.attrs?.kind ?? ""})`;
    const client = document.createElement("td"); client.textContent = rec?.attrs?.client?.__entity?.id ?? "";
    tr.append(name, client,
      fieldCell(r.fields[FIELDS.amount], "1 250,00 €"),
      fieldCell(r.fields[FIELDS.notes], "paid by transfer"),
      fieldCell(r.fields[FIELDS.iban], "FR76 3000 6000 0112 3456 7890 189"));
    const actions = document.createElement("td");
    actions.append(...DOC_ACTIONS.slice(1).map((a) => button(a, r.decisions[a], `document-${d.id}-${a}`)));
    tr.append(actions);
    return tr;
  }) : [emptyRow("no document visible to this user", 6)]));

  $("digest").textContent = digest.slice(0, 19);
  $("digest").title = digest;
  $("timing").textContent = `${documents.length} documents listed and ${matrix.rows.length} rows in ${elapsed.toFixed(1)} ms (one list query, one matrix call, in the page)`;
  $("status").textContent = `ready: ${records.length} entities, policy version ${digest}`;
  document.body.dataset.digest = digest;
  document.body.dataset.user = user;
}

/** Every page of a resource list query. */
function listAll(query) {
  const out = [];
  let cursor;
  do {
    const page = engine.queryResources({ ...query, limit: 1000, cursor });
    out.push(...page.resources);
    cursor = page.next;
  } while (cursor);
  return out;
}

function emptyRow(text, span) {
  const tr = document.createElement("tr"); const td = document.createElement("td");
  td.colSpan = span; td.className = "empty"; td.textContent = text; tr.append(td); return tr;
}

async function main() {
  try {
    await loadActive();
  } catch (err) {
    $("status").textContent = `cannot load the policy engine: ${err.message}`;
    return;
  }
  const users = ofType("User");
  $("user").replaceChildren(...users.map((u) => {
    const o = document.createElement("option");
    o.value = u.uid.id; o.textContent = `${u.attrs.name ?? u.uid.id} (${u.uid.id})`;
    return o;
  }));
  const wanted = new URLSearchParams(location.search).get("user");
  if (wanted) $("user").value = wanted;
  $("user").addEventListener("change", render);
  render();
  // A deploy on the server shows here within two seconds, without a reload.
  setInterval(async () => {
    try { if (await loadActive()) render(); } catch (err) { $("status").textContent = `update failed: ${err.message}`; }
  }, 2000);
}

main();
