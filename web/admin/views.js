// Read-only views: the permission matrix (rows users or roles, columns firm actions, sections
// and clients, cells the decision computed in the page) and the activity history (the server's
// hash-chained audit: sign-ins, creations, modifications, deletions, deploys).
import { $, api, element, entitiesOf, ref, session, tokenMay } from "./session.js";

const FIRM_ACTIONS = ["view_users", "view_activity", "manage_subscription", "manage_extensions", "manage_profiles", "create_client"];
const idOf = (value) => value?.__entity?.id ?? value?.id;

/** A stand-in user holding only `role`, sent with each request (never stored). */
function roleUser(role) {
  const firm = idOf(entitiesOf("User").find((u) => u.uid.id === session.actor)?.attrs.firm) ?? "";
  const profile = session.engine.profiles().find((p) => p.is_default)?.uid;
  return {
    uid: ref("User", `role:${role}`),
    attrs: {
      name: role, email: `${role}@role.invalid`, firm: { __entity: ref("Firm", firm) }, external: false, blocked: false,
      can_delete: true, profile: { __entity: profile }, department_restricted: false, departments: [],
    },
    parents: [ref("Role", role)],
  };
}

export function renderMatrix() {
  const sections = entitiesOf("Section").map((s) => s.uid);
  const clients = entitiesOf("Client").map((c) => c.uid);
  const byRole = $("matrix-rows").value === "roles";
  const rows = byRole
    ? entitiesOf("Role").map((r) => ({ label: r.uid.id, user: roleUser(r.uid.id) }))
    : entitiesOf("User").map((u) => ({ label: u.uid.id, user: u }));
  const columns = [
    ...FIRM_ACTIONS.map((a) => ({ label: a, action: a, resource: (user) => ref("Firm", idOf(user.attrs.firm)) })),
    ...sections.map((s) => ({ label: `section ${s.id}`, action: "view_section", resource: () => s })),
    ...clients.map((c) => ({ label: `client ${c.id}`, action: "view_client", resource: () => c })),
  ];
  const requests = rows.flatMap(({ user }) => columns.map((c) => ({
    principal: user.uid, action: ref("Action", c.action), resource: c.resource(user),
    ...(byRole ? { entities: [user] } : {}),
  })));
  const started = performance.now();
  const { results } = session.engine.batch(requests);
  const ms = performance.now() - started;
  const head = element("tr", {}, element("th", { textContent: `${requests.length} decisions in ${ms.toFixed(1)} ms` }), ...columns.map((c) => element("th", { textContent: c.label })));
  const body = rows.map(({ label }, r) => element("tr", { testid: `matrix-${label}` }, element("th", { textContent: label }),
    ...columns.map((c, i) => {
      const res = results[r * columns.length + i];
      const decision = res.decision ?? "error";
      return element("td", { className: decision, title: (res.determining_policies ?? []).join(", ") || res.error?.message || "", textContent: decision });
    })));
  $("matrix-table").replaceChildren(element("thead", {}, head), element("tbody", {}, ...body));
}

/** Which kind of activity an audit record is, for the filter. */
function kindOf(record) {
  const summary = record.detail?.directory?.summary ?? "";
  if (record.action === "login") return "login";
  if (["deploy", "deploy_rejected", "activate", "rollback", "bootstrap"].includes(record.action)) return "deploy";
  if (/ invited | saved custom profile /.test(summary) || (record.action === "replace_entities")) return "create";
  if ((record.detail?.removed ?? 0) > 0 && !(record.detail?.upserted > 0)) return "delete";
  return "modify";
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

export async function renderActivity() {
  if (!tokenMay("admin")) {
    $("activity-table").tBodies[0].replaceChildren(element("tr", {}, element("td", { colSpan: 5, testid: "activity-denied", textContent: "the activity history is for admin tokens" })));
    return;
  }
  const records = await api("/v1/admin/audit?limit=10000");
  const wanted = $("activity-kind").value;
  const rows = records.reverse().filter((r) => !wanted || kindOf(r) === wanted).map((r) => element("tr", { testid: `activity-${r.seq}` },
    element("td", { textContent: r.seq }),
    element("td", { textContent: r.at }),
    element("td", { textContent: `${r.actor} (${r.role})` }),
    element("td", { textContent: r.action }),
    element("td", { textContent: describe(r) })));
  $("activity-table").tBodies[0].replaceChildren(...rows);
}

export function initViews() {
  $("matrix-rows").onchange = renderMatrix;
  $("activity-kind").onchange = () => renderActivity();
}
