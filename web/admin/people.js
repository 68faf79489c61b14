// The Profiles and Users tabs: access profiles grouped by licence with their per-field levels
// as a grid, custom profiles (a restricted copy of a base; wider is refused with the reason),
// comparison, default profile, moving users; inviting (staff or external, with a profile, a
// site profile, deletion rights; pending until accepted, the invitation resent), blocking, deactivating, deleting, detaching users, changing
// e-mails, roles, site profiles, deletion rights, company roles, profiles per client dossier. Every operation is a
// /v1/directory call, planned in the page first: a button the plan refuses is greyed with the
// reason beside it (`gate`).
import { $, actorFirm, administer, element, entitiesOf, firmProfiles, gate, idOf, may, ref, session } from "./session.js";
import { renderCustomRoles } from "./roles.js";
import { renderSections } from "./sections.js";

// Levels, licences and roles are read by the engine (policy-core), not copied here.
const levelCell = (level) => element("td", { className: `level-${level}`, textContent: level });

/** The most a profile of the licence may grant, per key (absent: none). */
function licenceLevels(licenceId) {
  return session.engine.licences().find((l) => l.uid.id === licenceId)?.levels ?? {};
}

const usersOfProfile = (profileId) => entitiesOf("User").filter((u) => idOf(u.attrs.profile) === profileId);

/** The dossiers where `u` holds a profile other than his own: [client key, profile id] pairs
 * (his tags, named by the client's key). */
const dossierProfiles = (u) => Object.entries(u.tags ?? {}).map(([key, p]) => [key, idOf(p)]);

/** "carol on acme" for every user holding `profileId` on a dossier. */
const dossierHoldersOf = (profileId) => entitiesOf("User").flatMap((u) =>
  dossierProfiles(u).filter(([, p]) => p === profileId).map(([key]) => `${u.uid.id} on ${key}`));

function profileSelect(id, selected, testid) {
  return element("select", { id, testid }, ...firmProfiles().map((p) =>
    element("option", { value: p.uid.id, textContent: p.name ?? p.uid.id, selected: p.uid.id === selected })));
}

function renderProfiles() {
  const profiles = firmProfiles();
  const canManage = may("manage_profiles", actorFirm());
  const byLicence = new Map();
  for (const p of profiles) {
    const key = p.licence?.id ?? "(no licence)";
    byLicence.set(key, [...(byLicence.get(key) ?? []), p]);
  }
  const groups = [...byLicence.entries()].map(([licence, list]) => {
    const max = licenceLevels(licence);
    const keys = [...new Set([...Object.keys(max), ...list.flatMap((p) => Object.keys(p.levels))])].sort();
    const head = element("tr", {}, element("th", { textContent: "profile" }), ...keys.map((k) => element("th", { textContent: k })), element("th", { textContent: "users" }), element("th"));
    const licenceRow = element("tr", {}, element("td", {}, element("em", { textContent: "licence maximum" })), ...keys.map((k) => levelCell(max[k] ?? "none")), element("td"), element("td"));
    const rows = list.map((p) => {
      const users = usersOfProfile(p.uid.id);
      const onDossiers = dossierHoldersOf(p.uid.id);
      const target = profileSelect("", profiles.find((o) => o.uid.id !== p.uid.id)?.uid.id, `move-target-${p.uid.id}`);
      // Their own profile, or the one they hold on one client dossier.
      const where = element("select", { testid: `move-where-${p.uid.id}` }, element("option", { value: "", textContent: "as their own profile" }),
        ...entitiesOf("Client").map((c) => element("option", { value: c.uid.id, textContent: `on ${c.attrs.name ?? c.uid.id}` })));
      return element("tr", { testid: `profile-${p.uid.id}` },
        element("td", {}, `${p.name ?? p.uid.id} `, p.is_default ? element("span", { className: "badge", textContent: "default" }) : "",
          p.base ? element("small", { textContent: ` copy of ${p.base.id}` }) : ""),
        ...keys.map((k) => levelCell(p.levels[k] ?? "none")),
        element("td", { testid: `users-of-${p.uid.id}` }, users.length
          ? element("details", {}, element("summary", { textContent: `${users.length} user(s)` }), users.map((u) => u.uid.id).join(", "))
          : "none",
          onDossiers.length ? element("small", { testid: `dossiers-of-${p.uid.id}`, textContent: `; on dossiers: ${onDossiers.join(", ")}` }) : ""),
        element("td", {},
          p.is_default ? "" : element("button", { textContent: "make default", disabled: !canManage, testid: `default-${p.uid.id}`,
            onclick: () => administer({ op: "set_default_profile", profile: p.uid }).then(renderAll, () => {}) }),
          p.base && !p.is_default && !users.length ? element("button", { textContent: "delete", disabled: !canManage, testid: `delete-${p.uid.id}`,
            onclick: () => administer({ op: "delete_profile", profile: p.uid }).then(renderAll, () => {}) }) : "",
          users.length || onDossiers.length ? element("span", {}, " move all users to ", target, where, element("button", {
            textContent: "move", testid: `move-${p.uid.id}`,
            onclick: () => administer({ op: "move_profile_users", from: p.uid, to: ref("AccessProfile", target.value),
              ...(where.value ? { client: ref("Client", where.value) } : {}) }).then(renderAll, () => {}),
          })) : ""));
    });
    return element("div", { testid: `licence-${licence}` }, element("h3", { textContent: `Licence ${licence}` }),
      element("table", {}, element("thead", {}, head), element("tbody", {}, licenceRow, ...rows)));
  });
  $("profile-groups").replaceChildren(...groups);

  // Custom profile form: the base's levels, each editable.
  const base = $("cp-base").value || profiles.find((p) => p.is_default)?.uid.id;
  $("cp-base").replaceChildren(...profileSelect("", base, "").children);
  $("cp-base").value = base;
  renderLevelGrid();
  for (const id of ["cmp-left", "cmp-right"]) {
    const current = $(id).value || profiles[id === "cmp-left" ? 0 : 1]?.uid.id;
    $(id).replaceChildren(...profileSelect("", current, "").children);
    $(id).value = current;
  }
}

function renderLevelGrid() {
  const base = firmProfiles().find((p) => p.uid.id === $("cp-base").value);
  if (!base) return;
  const keys = Object.keys(licenceLevels(base.licence?.id)).sort();
  $("cp-levels").tBodies[0].replaceChildren(...keys.map((k) => element("tr", {},
    element("td", { textContent: k }),
    element("td", {}, element("select", { name: k, testid: `cp-level-${k}` }, ...session.engine.fieldLevels().map((l) =>
      element("option", { value: l, textContent: l, selected: l === (base.levels[k] ?? "none") })))))));
}

function saveCustomProfile(event) {
  event.preventDefault();
  const levels = {};
  for (const select of $("cp-levels").querySelectorAll("select")) levels[select.name] = select.value;
  administer({
    op: "save_profile", id: $("cp-id").value.trim(), name: $("cp-name").value.trim(),
    base: ref("AccessProfile", $("cp-base").value), levels,
  }).then(renderAll, () => {});
}

function compare() {
  const diffs = session.engine.compareProfiles(ref("AccessProfile", $("cmp-left").value), ref("AccessProfile", $("cmp-right").value));
  $("comparison").tBodies[0].replaceChildren(
    element("tr", {}, element("th", { textContent: "key" }), element("th", { textContent: $("cmp-left").value }), element("th", { textContent: $("cmp-right").value })),
    ...(diffs.length ? diffs.map((d) => element("tr", {}, element("td", { textContent: d.key }), levelCell(d.left), levelCell(d.right)))
      : [element("tr", {}, element("td", { colSpan: 3, textContent: "no difference" }))]));
}

function renderUsers() {
  const clients = entitiesOf("Client");
  const roles = session.engine.roles();
  $("inv-roles").replaceChildren(element("legend", { textContent: "roles" }), ...roles.firm.map((r) =>
    element("label", {}, element("input", { type: "checkbox", value: r, testid: `inv-role-${r}` }), ` ${r}`)));
  const rows = entitiesOf("User").map((u) => {
    const uid = u.uid;
    const blocked = u.attrs.blocked;
    const email = element("input", { value: u.attrs.email, testid: `email-${uid.id}`, size: 22 });
    const client = element("select", { testid: `client-${uid.id}` }, ...clients.map((c) => element("option", { value: c.uid.id, textContent: c.attrs.name ?? c.uid.id })));
    const companyRole = element("select", { testid: `company-role-${uid.id}` }, ...roles.company.map((r) => element("option", { value: r, textContent: r })));
    const profile = profileSelect("", idOf(u.attrs.profile), `profile-of-${uid.id}`);
    const held = (u.parents ?? []).filter((p) => p.type === "Role").map((p) => p.id);
    const firmRoles = element("select", { multiple: true, size: 2, testid: `roles-of-${uid.id}` },
      ...roles.firm.map((r) => element("option", { value: r, textContent: r, selected: held.includes(r) })));
    const mine = (u.attrs.departments ?? []).map(idOf);
    const departments = element("select", { multiple: true, size: 2, testid: `departments-of-${uid.id}` },
      ...departmentsOf(idOf(u.attrs.firm)).map((d) => element("option", { value: d.uid.id, textContent: d.attrs.name, selected: mine.includes(d.uid.id) })));
    const act = (op) => () => administer(op).then(renderAll, () => {});
    // A profile on one client dossier (WinAuditor), other than the user's own; "(own profile)"
    // takes it away.
    const dossier = element("select", { testid: `dossier-of-${uid.id}` }, ...clients.map((c) => element("option", { value: c.uid.id, textContent: c.attrs.name ?? c.uid.id })));
    const dossierProfile = element("select", { testid: `dossier-profile-of-${uid.id}` },
      element("option", { value: "", textContent: "(own profile)" }),
      ...firmProfiles().map((p) => element("option", { value: p.uid.id, textContent: p.name ?? p.uid.id })));
    const dossierOp = () => ({ op: "set_dossier_profile", user: uid, client: ref("Client", dossier.value),
      profile: dossierProfile.value ? ref("AccessProfile", dossierProfile.value) : null });
    const setDossier = element("button", { textContent: "set on dossier", testid: `set-dossier-${uid.id}`, onclick: () => act(dossierOp())() });
    // Whether the role may be given on the chosen company is a decision of its own (the client's
    // plan decides which roles exist there): recomputed when either choice changes.
    const setRole = element("button", { textContent: "set company role", testid: `set-role-${uid.id}`,
      onclick: () => act({ op: "set_company_role", user: uid, client: ref("Client", client.value), role: companyRole.value })() });
    const detach = element("button", { textContent: "detach", testid: `detach-${uid.id}`,
      onclick: () => act({ op: "detach_user", user: uid, client: ref("Client", client.value) })() });
    // The user acted on is part of each question: authority over the company is not authority
    // over whoever is put into its teams (a client's director manages its own staff only).
    const gateRole = () => {
      const company = ref("Client", client.value);
      setRole.disabled = !may("assign_client_role", company, { role: companyRole.value, user: uid });
      detach.disabled = !may("detach_user", uid, { client: company });
    };
    client.addEventListener("change", gateRole);
    companyRole.addEventListener("change", gateRole);
    gateRole();
    const deactivated = u.attrs.deactivated === true;
    const site = siteProfileSelect(siteProfileOf(u), `site-of-${uid.id}`);
    const setSite = element("button", { textContent: "set", testid: `set-site-${uid.id}`,
      onclick: () => act({ op: "set_site_profile", user: uid, site_profile: site.value || null })() });
    const rights = element("button", { textContent: u.attrs.can_delete ? "take deletion rights" : "give deletion rights",
      testid: `rights-${uid.id}`, onclick: act({ op: "set_deletion_rights", user: uid, can_delete: !u.attrs.can_delete }) });
    const leave = element("button", { textContent: deactivated ? "reactivate" : "deactivate", testid: `deactivate-${uid.id}`,
      onclick: act({ op: "deactivate_user", user: uid, deactivated: !deactivated }) });
    // Time-bound access: the end date (a datetime attribute) as a date input; ended when the
    // page's clock has passed it (the server decides on its own clock).
    const until = accessUntil(u);
    const ended = until !== "" && new Date(until) <= new Date();
    const endDate = element("input", { type: "date", value: until.slice(0, 10), testid: `until-${uid.id}` });
    const endOp = () => ({ op: "set_access_end", user: uid, access_until: endDate.value || null });
    const setEnd = element("button", { textContent: "set end date", testid: `set-until-${uid.id}`,
      title: "no access from that day on (00:00 UTC); empty lifts the end date", onclick: () => act(endOp())() });
    // Invited, not accepted yet: no access until the user accepts with the token the server
    // put in its outbox; an administrator sends a new one (the old one stops working).
    const pending = u.attrs.pending === true;
    const resend = pending ? gate(element("button", { textContent: "resend invitation", testid: `resend-${uid.id}`,
      onclick: act({ op: "resend_invitation", user: uid }) }), { op: "resend_invitation", user: uid }) : "";
    const remove = element("button", { textContent: "delete", testid: `delete-user-${uid.id}`,
      onclick: () => confirm(`Delete ${u.attrs.name}? The activity history keeps what they did.`)
        && act({ op: "delete_user", user: uid })() });
    return element("tr", { testid: `user-${uid.id}`, className: [blocked ? "blocked" : "", deactivated ? "deactivated" : ""].join(" ").trim() },
      element("td", {}, `${u.attrs.name} (${uid.id})`, u.attrs.external ? element("small", { textContent: " external" }) : "",
        blocked ? element("span", { className: "badge", textContent: "blocked" }) : "",
        deactivated ? element("span", { className: "badge", textContent: "deactivated" }) : "",
        pending ? element("span", { className: "badge", testid: `pending-${uid.id}`, textContent: "invited, not accepted" }) : "",
        until ? element("span", { className: "badge", testid: `until-badge-${uid.id}`,
          textContent: ended ? `access ended ${until}` : `until ${until}` }) : ""),
      element("td", {}, email, element("button", { textContent: "save", disabled: !may("change_email", uid), testid: `save-email-${uid.id}`,
        onclick: act({ op: "change_email", user: uid, email: email.value }) })),
      element("td", {}, firmRoles,
        element("button", { textContent: "set roles", testid: `set-roles-${uid.id}`,
          disabled: !roles.firm.some((r) => may("assign_role", uid, { role: ref("Role", r) })),
          onclick: () => act({ op: "set_roles", user: uid,
            roles: [...firmRoles.selectedOptions].map((o) => o.value) })() }),
        element("small", { textContent: ` ${(u.parents ?? []).filter((p) => p.type !== "Role").map((p) => p.id).join(", ")}` })),
      element("td", {}, profile, element("button", { textContent: "move", disabled: !may("assign_profile", uid, { profile: ref("AccessProfile", profile.value) }),
        onclick: act({ op: "set_profile", user: uid, profile: ref("AccessProfile", profile.value) }) }),
        element("br"), " on dossier ", dossier, dossierProfile, gate(setDossier, dossierOp, [dossier, dossierProfile]),
        ...dossierProfiles(u).map(([key, p]) => element("span", { className: "badge", testid: `dossier-badge-${uid.id}-${key}`, textContent: `${p} on ${key}` }))),
      element("td", {}, site, gate(setSite, () => ({ op: "set_site_profile", user: uid, site_profile: site.value || null }), [site]),
        " ", gate(rights, { op: "set_deletion_rights", user: uid, can_delete: !u.attrs.can_delete })),
      element("td", {},
        gate(element("button", { textContent: blocked ? "unblock" : "block", testid: `block-${uid.id}`,
          onclick: act({ op: "block_user", user: uid, blocked: !blocked }) }), { op: "block_user", user: uid, blocked: !blocked }),
        " on ", client,
        detach,
        companyRole,
        setRole,
        " departments ", departments,
        element("button", { textContent: "restrict", disabled: !may("restrict_user", uid), testid: `restrict-${uid.id}`,
          title: "only the selected departments; none selected lifts the restriction",
          onclick: () => act({ op: "restrict_departments", user: uid, departments: [...departments.selectedOptions].map((o) => o.value) })() }),
        u.attrs.department_restricted ? element("span", { className: "badge", textContent: "restricted" }) : ""),
      element("td", {}, resend, " ", gate(leave, { op: "deactivate_user", user: uid, deactivated: !deactivated }), " ",
        gate(remove, { op: "delete_user", user: uid }), " ", endDate, gate(setEnd, endOp, [endDate])));
  });
  $("user-table").tBodies[0].replaceChildren(...rows);
  const firm = actorFirm();
  $("department-list").textContent = departmentsOf(firm.id).map((d) => d.attrs.name).join(", ") || "none";
  // The counts the plan limits need are the engine's own: no number is sent, and a form the
  // plan would refuse (the plan's limit reached, an id taken) greys its button with the reason.
  const create = element("button", { type: "submit", textContent: "Create department", testid: "dep-create" });
  $("dep-gate").replaceChildren(gate(create, department, [$("dep-id"), $("dep-name")]));
  // Options moved out of a built select come with the selection that select gave them as it
  // emptied (its next option, each time): the value is set again once they are in place.
  const defaultProfile = firmProfiles().find((p) => p.is_default)?.uid.id;
  const invitedProfile = $("inv-profile").value || defaultProfile;
  $("inv-profile").replaceChildren(...profileSelect("", invitedProfile, "").children);
  $("inv-profile").value = invitedProfile;
  const invitedSite = $("inv-site").value;
  $("inv-site").replaceChildren(...siteProfileSelect(invitedSite, "").children);
  $("inv-site").value = invitedSite;
  const company = $("inv-company").value;
  $("inv-company").replaceChildren(element("option", { value: "", textContent: "(none: firm staff or auditor)", selected: !company }),
    ...clients.map((c) => element("option", { value: c.uid.id, textContent: c.attrs.name ?? c.uid.id, selected: c.uid.id === company })));
  const companyRole = $("inv-company-role").value || "director";
  $("inv-company-role").replaceChildren(...roles.company.map((r) => element("option", { value: r, textContent: r, selected: r === companyRole })));
  renderClientUsers(clients);
  const send = element("button", { type: "submit", textContent: "Invite", testid: "inv-send" });
  const fields = ["inv-first", "inv-name", "inv-email", "inv-external", "inv-profile", "inv-site", "inv-can-delete", "inv-until", "inv-company", "inv-company-role"].map($);
  $("inv-gate").replaceChildren(gate(send, invitation, [...fields, ...$("inv-roles").querySelectorAll("input")]));
}

/** The site profiles of the bundle (`""`: none). */
function siteProfileSelect(selected, testid) {
  return element("select", { testid }, element("option", { value: "", textContent: "(none)", selected: !selected }),
    ...entitiesOf("SiteProfile").map((p) => element("option", { value: p.uid.id, textContent: p.uid.id, selected: p.uid.id === selected })));
}

/** A user's access end date as an ISO instant in UTC (`""`: none). A datetime attribute reads
 * as an extension value: `datetime("…")` as written, or Cedar's canonical form once the engine
 * has read it, `offset(datetime("1970-01-01"), duration("<ms>ms"))`. */
function accessUntil(u) {
  const value = u.attrs.access_until;
  const call = value?.__extn ?? {};
  let ms = NaN;
  if (typeof value === "string") ms = instantMs(value);
  else if (call.fn === "datetime") ms = instantMs(call.arg);
  else if (call.fn === "offset") {
    const [base, by] = call.args ?? [];
    ms = instantMs(base?.__extn?.arg) + parseInt(by?.__extn?.arg, 10);
  }
  return Number.isFinite(ms) ? new Date(ms).toISOString() : "";
}

/** Cedar's datetime text in ms, its `+hhmm` zone written as JavaScript reads it (`+hh:mm`). */
const instantMs = (text) => Date.parse(String(text ?? "").replace(/([+-])(\d{2})(\d{2})$/, "$1$2:$3"));

const siteProfileOf = (u) => (u.parents ?? []).find((p) => p.type === "SiteProfile")?.id ?? "";

/** The invitation the form describes (planned as it is typed, sent on submit). */
function invitation() {
  const email = $("inv-email").value.trim();
  return {
    op: "invite_user",
    id: email.split("@")[0].toLowerCase().replace(/[^a-z0-9_.-]/g, "-"),
    name: $("inv-name").value.trim(),
    first_name: $("inv-first").value.trim(),
    email,
    roles: [...$("inv-roles").querySelectorAll("input:checked")].map((i) => i.value),
    // A client company's user is external.
    external: $("inv-external").checked || Boolean($("inv-company").value),
    profile: ref("AccessProfile", $("inv-profile").value),
    ...($("inv-site").value ? { site_profile: $("inv-site").value } : {}),
    can_delete: $("inv-can-delete").checked,
    ...($("inv-until").value ? { access_until: $("inv-until").value } : {}),
    ...($("inv-company").value ? { company: { client: ref("Client", $("inv-company").value), role: $("inv-company-role").value } } : {}),
  };
}

/** Each client company's users, by the role (team) they hold there. */
function renderClientUsers(clients) {
  const teams = new Map(entitiesOf("Team").map((t) => [t.uid.id, t]));
  const users = entitiesOf("User");
  $("client-users").replaceChildren(...clients.map((c) => {
    const holders = users.flatMap((u) => (u.parents ?? [])
      .filter((p) => p.type === "Team" && idOf(teams.get(p.id)?.attrs.client) === c.uid.id)
      .map((p) => [teams.get(p.id).attrs.role, u]));
    holders.sort(([a], [b]) => a.localeCompare(b));
    return element("details", { testid: `client-users-${c.uid.id}`, open: true },
      element("summary", { textContent: `${c.attrs.name ?? c.uid.id}: ${holders.length} user(s)` }),
      element("ul", {}, ...holders.map(([role, u]) => element("li", { testid: `client-user-${c.uid.id}-${u.uid.id}`,
        textContent: `${role}: ${u.attrs.name} (${u.uid.id})${u.attrs.external ? ", external" : ""}` }))));
  }));
}

function invite(event) {
  event.preventDefault();
  administer(invitation()).then(() => {
    $("invite").reset();
    $("inv-profile").replaceChildren(); // the firm's default again
    renderAll();
  }, () => {});
}

const departmentsOf = (firmId) => entitiesOf("Department").filter((d) => (d.parents ?? []).some((p) => p.type === "Firm" && p.id === firmId));

const department = () => ({ op: "create_department", id: $("dep-id").value.trim(), name: $("dep-name").value.trim() });

function createDepartment(event) {
  event.preventDefault();
  administer(department())
    .then(() => { $("department").reset(); renderAll(); }, () => {});
}

export function renderAll() {
  renderProfiles();
  renderSections();
  renderCustomRoles(renderAll);
  renderUsers();
}

export function initPeople() {
  $("cp-base").onchange = renderLevelGrid;
  $("custom-profile").onsubmit = saveCustomProfile;
  $("compare").onclick = compare;
  $("invite").onsubmit = invite;
  $("department").onsubmit = createDepartment;
  renderAll();
}
