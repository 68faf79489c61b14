// The admin console's shell: sign-in with an API token (recorded as a login in the activity
// history), the firm user the console acts as, tabs, and following the active version (a
// deploy or rollback made elsewhere shows up without a reload).
import { $, api, boundSession, entitiesOf, idOf, reload, session, status, tokenMay } from "./session.js";
import { activeChanged, initPolicies } from "./policies.js";
import { initPeople, renderAll } from "./people.js";
import { initViews, readsFirmActivity, renderActivity, renderMatrix } from "./views.js";

const tabs = {
  policies: () => {},
  profiles: () => renderAll(),
  users: () => renderAll(),
  matrix: () => renderMatrix(),
  activity: () => renderActivity(),
};

function selectTab(name) {
  for (const b of document.querySelectorAll("#tabs button")) b.classList.toggle("active", b.dataset.tab === name);
  for (const t of Object.keys(tabs)) $(t).hidden = t !== name;
  Promise.resolve(tabs[name]()).catch((e) => status(e.message, "error"));
}

/**
 * The firm user the console acts as: a session's own user, fixed; for a service token, a user of
 * its tenants; for an operator's token, a user whose view is previewed (administration greyed:
 * the server accepts it only from a caller bound to a user or tenant).
 */
function renderActors() {
  const bound = boundSession();
  let users = entitiesOf("User");
  if (bound?.fixed) users = users.filter((u) => u.uid.id === bound.fixed);
  else users = users.filter((u) => !u.attrs.external && (!bound?.tenants || bound.tenants.includes(idOf(u.attrs.firm))));
  const current = bound?.fixed ?? session.actor ?? users.find((u) => (u.parents ?? []).some((p) => p.id === "administrator"))?.uid.id;
  $("actor").disabled = Boolean(bound?.fixed);
  $("actor-label").textContent = bound ? "acting as firm user" : "previewing as firm user (sign in as a firm user to administer)";
  $("actor").replaceChildren(...users.map((u) => {
    const o = document.createElement("option");
    o.value = u.uid.id;
    o.textContent = `${u.attrs.name} (${u.uid.id})`;
    o.selected = u.uid.id === current;
    return o;
  }));
  session.actor = current;
}

async function signIn(event) {
  event?.preventDefault();
  session.token = $("token").value.trim() || session.token;
  try {
    session.who = await api("/v1/admin/login", { method: "POST" });
  } catch (err) {
    $("login-error").textContent = `sign-in refused: ${err.message}`;
    return;
  }
  sessionStorage.setItem("sesame-token", session.token);
  $("session").textContent = `signed in: ${session.who.name} (${session.who.role})`;
  $("login").hidden = true;
  $("console").hidden = false;
  await reload();
  renderActors();
  // A firm user's session administers its firm: the bundle's files, versions and the server's
  // audit chain are the operators'.
  const operator = tokenMay("viewer");
  document.querySelector("#tabs button[data-tab=policies]").hidden = !operator;
  // The activity tab: an operator's whole audit, or the firm's own history for a firm user the
  // bundle allows `view_activity`.
  document.querySelector("#tabs button[data-tab=activity]").hidden = !operator && !readsFirmActivity();
  if (operator) await initPolicies();
  initPeople();
  initViews();
  if (!operator) selectTab("users");
  status(`version ${session.digest.slice(7, 19)} loaded, ${session.records.length} entities`);
  setInterval(followActive, 2000);
}

/** Polls the active version by ETag; a new one (deploy, rollback elsewhere) is loaded. */
async function followActive() {
  const res = await fetch("/v1/bundle/active", { method: "HEAD", headers: { "If-None-Match": `"${session.digest}"` } });
  if (res.status !== 304) {
    await reload();
    activeChanged();
    status(`the active version changed: ${session.digest.slice(7, 19)}`);
  }
}

for (const b of document.querySelectorAll("#tabs button")) b.onclick = () => selectTab(b.dataset.tab);
$("actor").onchange = () => {
  session.actor = $("actor").value;
  selectTab(document.querySelector("#tabs button.active").dataset.tab);
};
$("login").onsubmit = signIn;
if (session.token) signIn();
