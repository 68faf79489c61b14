// Read-only views: the permission matrix (rows users or roles, columns firm actions, sections,
// clients, a document's actions and field levels, cells computed in the page), who can see a document and what a user
// can see (list queries, in the page), and the activity history: for an
// operator the server's whole hash-chained audit (sign-ins, creations, modifications, deletions, deploys), for a firm
// user his firm's own history (/v1/activity, when the bundle allows him `view_activity`), filtered and exported as CSV.
import { $, actorFirm, api, boundSession, element, entitiesOf, firmProfiles, idOf, may, ref, session, status, tokenMay } from "./session.js";

const FIRM_ACTIONS = ["view_users", "view_activity", "manage_subscription", "manage_extensions", "manage_profiles", "create_client"];

/** A stand-in user holding only `role`, sent with each request (never stored). */
function roleUser(role) {
  const firm = actorFirm();
  const profile = firmProfiles().find((p) => p.is_default)?.uid;
  return {
    uid: ref("User", `role:${role}`),
    attrs: {
      name: role, email: `${role}@role.invalid`, firm: { __entity: firm }, external: false, blocked: false,
      can_delete: true, profile: { __entity: profile }, department_restricted: false, departments: [],
    },
    parents: [ref("Role", role)],
  };
}

const DOCUMENT_ACTIONS = ["view_document", "edit_document", "delete_document"];
const FIELDS = ["invoice.amount", "invoice.customer", "invoice.notes", "invoice.iban"];

/** One matrix call per row (a user, or a stand-in for a role sent with the call). */
export function renderMatrix() {
  const sections = entitiesOf("Section").map((s) => s.uid);
  const clients = entitiesOf("Client").map((c) => c.uid);
  const documents = entitiesOf("Document").map((d) => d.uid);
  const picked = $("matrix-document").value || documents[0]?.id;
  $("matrix-document").replaceChildren(...documents.map((d) => element("option", { value: d.id, textContent: d.id, selected: d.id === picked })));
  $("matrix-document").value = picked;
  const doc = ref("Document", picked);
  const byRole = $("matrix-rows").value === "roles";
  const rows = byRole
    ? session.engine.roles().firm.map((role) => ({ label: role, user: roleUser(role) }))
    : entitiesOf("User").map((u) => ({ label: u.uid.id, user: u }));
  const columns = [
    ...FIRM_ACTIONS.map((a) => ({ label: a, cell: (m, firm) => m(firm)?.decisions[a] })),
    ...sections.map((s) => ({ label: `section ${s.id}`, cell: (m) => m(s)?.decisions.view_section })),
    ...clients.map((c) => ({ label: `client ${c.id}`, cell: (m) => m(c)?.decisions.view_client })),
    ...DOCUMENT_ACTIONS.map((a) => ({ label: `${a.replace("_document", "")} ${doc.id}`, cell: (m) => m(doc)?.decisions[a] })),
    ...FIELDS.map((f) => ({ label: `${f} on ${doc.id}`, cell: (m) => m(doc)?.fields?.[f] })),
  ];
  const started = performance.now();
  const matrices = rows.map(({ user }) => {
    const firm = ref("Firm", idOf(user.attrs.firm));
    const answer = session.engine.matrix({
      principal: user.uid,
      actions: [...FIRM_ACTIONS, "view_section", "view_client", ...DOCUMENT_ACTIONS].map((a) => ref("Action", a)),
      resources: [firm, ...sections, ...clients, doc],
      fields: FIELDS,
      ...(byRole ? { entities: [user] } : {}),
    });
    const find = (r) => answer.rows.find((row) => row.resource.type === r.type && row.resource.id === r.id);
    return { find, firm };
  });
  const ms = performance.now() - started;
  const head = element("tr", {}, element("th", { textContent: `${rows.length} matrix calls in ${ms.toFixed(1)} ms` }), ...columns.map((c) => element("th", { textContent: c.label })));
  const body = rows.map(({ label }, r) => element("tr", { testid: `matrix-${label}` }, element("th", { textContent: label }),
    ...columns.map((c) => {
      const value = c.cell(matrices[r].find, matrices[r].firm) ?? "n/a";
      const kind = value === "allow" || value === "deny" ? value : `level-${value}`;
      return element("td", { className: kind, textContent: value });
    })));
  $("matrix-table").replaceChildren(element("thead", {}, head), element("tbody", {}, ...body));
  renderQueries(doc);
}

/** Every page of a list query (`queryResources` or `queryPrincipals`), as the list's items. */
function listAll(call, query, key) {
  const out = [];
  let cursor;
  do {
    const page = call({ ...query, limit: 1000, cursor });
    out.push(...page[key]);
    cursor = page.next;
  } while (cursor);
  return out;
}

const item = (r, testid) => element("li", { textContent: `${r.type} ${r.id}`, testid });

/** "Who can see this document?" and "What can this user see?": list queries on the page's engine. */
function renderQueries(doc) {
  const engine = session.engine;
  const who = listAll((q) => engine.queryPrincipals(q), { action: ref("Action", "view_document"), resource: doc, principal_type: "User" }, "principals");
  $("who-can-see").replaceChildren(...(who.length ? who.map((u) => item(u, `who-${u.id}`)) : [element("li", { textContent: "nobody" })]));
  const users = entitiesOf("User").map((u) => u.uid.id);
  const picked = $("query-user").value || users[0];
  $("query-user").replaceChildren(...users.map((id) => element("option", { value: id, textContent: id, selected: id === picked })));
  $("query-user").value = picked;
  if (!picked) return;
  const principal = ref("User", picked);
  const seen = [
    ...listAll((q) => engine.queryResources(q), { principal, action: ref("Action", "view_client"), resource_type: "Client" }, "resources"),
    ...listAll((q) => engine.queryResources(q), { principal, action: ref("Action", "view_document"), resource_type: "Document" }, "resources"),
  ];
  $("user-can-see").replaceChildren(...(seen.length ? seen.map((r) => item(r, `sees-${r.type}-${r.id}`)) : [element("li", { textContent: "nothing" })]));
}

function describe(record) {
  const d = record.detail ?? {};
  if (d.directory) return d.directory.summary;
  if (record.version_after && record.action !== "apply_delta" && record.action !== "replace_entities") {
    return `${record.version_after.slice(7, 19)}${d.message ? ` — ${d.message}` : ""}${d.reason ? ` — ${d.reason}` : ""}`;
  }
  if ("upserted" in d) return `${d.upserted} upserted, ${d.removed} removed`;
  return JSON.stringify(d);
}

/** Whether the signed-in firm user reads his firm's history (the bundle's `view_activity`). */
export const readsFirmActivity = () => Boolean(boundSession()?.fixed) && may("view_activity", actorFirm());

/** The firm history's query string, from the filters. */
function activityQuery(extra = {}) {
  const q = new URLSearchParams();
  for (const [key, id] of [["kind", "activity-kind"], ["user", "activity-user"], ["client", "activity-client"], ["from", "activity-from"], ["to", "activity-to"]]) {
    if ($(id).value.trim()) q.set(key, $(id).value.trim());
  }
  for (const [k, v] of Object.entries(extra)) q.set(k, v);
  return q.toString();
}

async function renderFirmActivity() {
  $("activity-firm-filters").hidden = false;
  const entries = await api(`/v1/activity?${activityQuery()}`);
  const rows = entries.reverse().map((e) => element("tr", { testid: `activity-${e.seq}` },
    element("td", { textContent: e.seq }),
    element("td", { textContent: e.at }),
    element("td", { textContent: e.user ?? `(${e.via})` }),
    element("td", { textContent: e.kind ?? "" }),
    element("td", { textContent: e.summary })));
  $("activity-table").tBodies[0].replaceChildren(...rows);
}

/** Downloads the filtered history as CSV (fetched with the session's token, saved as a file). */
async function exportCsv() {
  const res = await fetch(`/v1/activity?${activityQuery({ format: "csv" })}`, { headers: { Authorization: `Bearer ${session.token}` } });
  if (!res.ok) {
    status(`export refused: ${(await res.json().catch(() => ({}))).message ?? res.status}`, "error");
    return;
  }
  const link = element("a", { href: URL.createObjectURL(await res.blob()), download: "activity.csv" });
  link.click();
  // Revoked once the download has started.
  setTimeout(() => URL.revokeObjectURL(link.href), 10000);
}

export async function renderActivity() {
  if (readsFirmActivity()) return renderFirmActivity();
  if (!tokenMay("admin")) {
    $("activity-table").tBodies[0].replaceChildren(element("tr", {}, element("td", { colSpan: 5, testid: "activity-denied", textContent: "the activity history is for admin tokens" })));
    return;
  }
  const records = await api("/v1/admin/audit?limit=10000");
  // The server records each action's kind (records older than kinds have none: they show
  // under "everything" only).
  const wanted = $("activity-kind").value;
  const rows = records.reverse().filter((r) => !wanted || r.kind === wanted).map((r) => element("tr", { testid: `activity-${r.seq}` },
    element("td", { textContent: r.seq }),
    element("td", { textContent: r.at }),
    element("td", { textContent: `${r.actor} (${r.role})` }),
    element("td", { textContent: r.action }),
    element("td", { textContent: describe(r) })));
  $("activity-table").tBodies[0].replaceChildren(...rows);
}

export function initViews() {
  $("matrix-rows").onchange = renderMatrix;
  $("matrix-document").onchange = renderMatrix;
  $("query-user").onchange = renderMatrix;
  $("activity-kind").onchange = () => renderActivity();
  for (const id of ["activity-user", "activity-client", "activity-from", "activity-to"]) $(id).onchange = () => renderActivity();
  $("activity-csv").onclick = exportCsv;
}
