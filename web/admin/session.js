// What every tab of the console shares: the signed-in token, the admin API, and the resident
// engine of the active version over the server's own entities — so every pre-check in the
// console is computed by the same policy-core the server enforces.
import { loadSesame } from "/pkg/sesame.js";

export const $ = (id) => document.getElementById(id);
export const ref = (type, id) => ({ type, id });
export const show = (r) => `${r.type}::${r.id}`;
/** The id of an entity reference in either JSON form (`{"__entity": {...}}` or `{type, id}`). */
export const idOf = (value) => value?.__entity?.id ?? value?.id;

export const session = {
  token: sessionStorage.getItem("sesame-token") ?? "",
  who: null, // { name, role } of the token
  engine: null, // the active version, resident, over `records`
  files: {}, // the active version's files
  statics: [], // the bundle's own entities (entities.json), parsed once per version
  digest: null,
  records: [], // the server's data entities
  actor: null, // the firm user the console acts as (checked by the bundle's policies)
};

const ROLES = ["viewer", "author", "deployer", "admin"];

/**
 * Whether the signed-in token's role reaches `role` (viewer ⊂ author ⊂ deployer ⊂ admin, as the
 * server's admin policy grants). Only to grey out what the server would refuse anyway.
 */
export function tokenMay(role) {
  return ROLES.indexOf(session.who?.role) >= ROLES.indexOf(role);
}

/**
 * Whether the signed-in caller administers the firm, and as whom: a firm user's session (a JWT
 * or a subject-bound token) as that user only; a service token scoped to tenants as their users;
 * an operator's token as nobody (the server refuses it: it never said who is behind the call).
 */
export function boundSession() {
  const who = session.who ?? {};
  if (who.subject) return { fixed: who.subject.id, tenants: who.tenants ?? null };
  if (who.tenants && tokenMay("author")) return { fixed: null, tenants: who.tenants };
  return null;
}

export class ApiError extends Error {
  constructor(status, body) {
    super(body?.message ?? `HTTP ${status}`);
    this.status = status;
    this.code = body?.code;
    this.body = body;
  }
}

/** Calls the server's API with the session's token; JSON in and out, errors thrown as ApiError. */
export async function api(path, { method = "GET", body } = {}) {
  const res = await fetch(path, {
    method,
    headers: {
      Authorization: `Bearer ${session.token}`,
      ...(body === undefined ? {} : { "Content-Type": "application/json" }),
    },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await res.text();
  let json = null;
  try { json = text ? JSON.parse(text) : null; } catch { json = { message: text }; }
  if (!res.ok) throw new ApiError(res.status, json);
  return json;
}

export function status(message, kind = "") {
  const footer = $("status");
  footer.textContent = message;
  footer.className = kind;
}

/** Reloads the active version and the server's entities into a fresh resident engine. */
export async function reload() {
  const res = await fetch("/v1/bundle/active");
  if (!res.ok) throw new Error(`no active version (${res.status})`);
  const bundle = await res.json();
  const records = await api("/v1/admin/entities");
  const engine = await loadSesame({ bundle });
  engine.replaceEntities(records);
  Object.assign(session, {
    engine,
    files: bundle.files,
    statics: JSON.parse(bundle.files["entities.json"] ?? "[]"),
    records,
    digest: res.headers.get("ETag").replaceAll('"', ""),
  });
  $("digest").textContent = session.digest.slice(7, 19);
}

/** Every entity the engine knows of a type: the bundle's own and the server's data. */
export function entitiesOf(type) {
  const byKey = new Map();
  for (const r of [...session.statics, ...session.records]) {
    if (r.uid.type === type) byKey.set(r.uid.id, r);
  }
  return [...byKey.values()];
}

/** The firm of the user the console acts as. */
export function actorFirm() {
  return ref("Firm", idOf(entitiesOf("User").find((u) => u.uid.id === session.actor)?.attrs.firm) ?? "");
}

/** The profiles the actor's firm may use (shared ones and its own), its default marked. */
export function firmProfiles() {
  const firm = actorFirm();
  return session.engine.profiles(firm.id ? firm : undefined);
}

/**
 * Whether the console may do `action` for the actor: the token may write entities and the
 * bundle's policies allow the actor (decided in the page, no server call).
 */
export function may(action, resource, context = {}) {
  if (!session.actor || !boundSession()) return false;
  const answer = session.engine.decide({
    principal: ref("User", session.actor), action: ref("Action", action), resource, context,
  });
  return answer.decision === "allow";
}

/**
 * Why the actor may not run `op` now (the page's own plan of it, policies and domain rules
 * alike: "the last active administrator", "its plan allows 15"), or null when he may.
 */
export function refusal(op) {
  if (!session.actor || !boundSession()) return "sign in as a firm user to administer";
  try {
    session.engine.planDirectory({ actor: ref("User", session.actor), ...op });
    return null;
  } catch (err) {
    return err.message;
  }
}

/**
 * Greys `button` out when `op` (an operation, or a function building it from the form's
 * current values) would be refused, with the reason as its tooltip and in a note beside it;
 * `watch`ed inputs re-check it when they change (their `oninput`/`onchange` are this gate's).
 */
export function gate(button, op, watch = []) {
  const note = element("small", { className: "refusal" });
  const check = () => {
    const why = refusal(typeof op === "function" ? op() : op);
    button.disabled = why !== null;
    button.title = why ?? "";
    button.dataset.reason = why ?? "";
    note.textContent = why ? ` ${why}` : "";
    note.hidden = !why;
  };
  // Set, not added: a form's inputs outlive the buttons re-rendered over them, and each keeps
  // only the current button's check.
  for (const input of watch) {
    input.oninput = check;
    input.onchange = check;
  }
  check();
  return element("span", { className: "gated" }, button, note);
}

/**
 * Runs a firm administration operation: planned in the page first (a refusal is shown with its
 * reason without a round trip), then sent to the server, which plans again over its own data,
 * writes and audits it. The console reloads afterwards.
 */
export async function administer(op) {
  const request = { actor: ref("User", session.actor), ...op };
  try {
    session.engine.planDirectory(request);
  } catch (err) {
    status(`refused: ${err.message}`, "error");
    throw err;
  }
  const plan = await api("/v1/directory", { method: "POST", body: request }).catch((err) => {
    status(`refused by the server: ${err.message}`, "error");
    throw err;
  });
  await reload();
  status(`done: ${plan.summary}`, "ok");
  return plan;
}

export function element(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (k === "testid") el.dataset.testid = v;
    else if (k.startsWith("on")) el.addEventListener(k.slice(2), v);
    else if (k in el) el[k] = v;
    else el.setAttribute(k, v);
  }
  el.append(...children);
  return el;
}
