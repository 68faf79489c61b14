// Custom roles: roles a firm makes as data. Each names the action groups it grants (reading,
// writing, deleting documents or entries) on the firm's clients; the firm's record holds, per
// group, the roles granting it (tags `grant.<group>`), which the bundle's policies read. The
// groups offered are those the plans offer custom roles; one the firm's plan does not offer is
// greyed by the page's own plan of the operation, with the policy as the reason. Given and
// taken like any firm role, in the Users table.
import { $, actorFirm, administer, element, entitiesOf, gate, idOf } from "./session.js";

const GRANT = "grant.";

/** The action groups any plan offers custom roles, sorted. */
function grantable() {
  return [...new Set(entitiesOf("Plan").flatMap((p) => p.attrs.custom_grants ?? []))].sort();
}

/** The groups the firm's record grants `roleId`. */
function grantsOf(firmRecord, roleId) {
  return Object.entries(firmRecord?.tags ?? {})
    .filter(([key, roles]) => key.startsWith(GRANT) && (roles ?? []).map(idOf).includes(roleId))
    .map(([key]) => key.slice(GRANT.length));
}

function grantBoxes(groups, checked, prefix) {
  return groups.map((g) => element("label", {},
    element("input", { type: "checkbox", value: g, checked: checked.includes(g), testid: `${prefix}-${g}` }), ` ${g}`));
}

const ticked = (boxes) => boxes.map((b) => b.querySelector("input")).filter((i) => i.checked).map((i) => i.value);

export function renderCustomRoles(renderAll) {
  const firm = actorFirm();
  const firmRecord = entitiesOf("Firm").find((f) => f.uid.id === firm.id);
  const groups = grantable();
  const mine = entitiesOf("Role").filter((r) => idOf(r.attrs?.firm) === firm.id);
  const rows = mine.map((role) => {
    const id = role.uid.id;
    const boxes = grantBoxes(groups, grantsOf(firmRecord, id), `grant-${id}`);
    const op = () => ({ op: "save_role", id, name: role.attrs.name ?? id, grants: ticked(boxes) });
    const save = element("button", { textContent: "save", testid: `save-role-${id}`,
      onclick: () => administer(op()).then(renderAll, () => {}) });
    const remove = element("button", { textContent: "delete", testid: `delete-role-${id}`,
      onclick: () => administer({ op: "delete_role", role: role.uid }).then(renderAll, () => {}) });
    return element("tr", { testid: `custom-role-${id}` },
      element("td", { textContent: `${role.attrs.name ?? id} (${id})` }),
      element("td", {}, ...boxes),
      element("td", {}, gate(save, op, boxes.map((b) => b.querySelector("input"))), " ",
        gate(remove, { op: "delete_role", role: role.uid })));
  });
  $("custom-roles").tBodies[0].replaceChildren(...rows);
  const newBoxes = grantBoxes(groups, [], "role-grant");
  $("role-grants").replaceChildren(element("legend", { textContent: "grants" }), ...newBoxes);
  const op = () => ({ op: "save_role", id: $("role-id").value.trim(), name: $("role-name").value.trim(), grants: ticked(newBoxes) });
  const create = element("button", { type: "submit", textContent: "Save role", testid: "role-save" });
  $("role-gate").replaceChildren(gate(create, op, [$("role-id"), $("role-name"), ...newBoxes.map((b) => b.querySelector("input"))]));
  $("custom-role").onsubmit = (event) => {
    event.preventDefault();
    administer(op()).then(() => { $("custom-role").reset(); renderAll(); }, () => {});
  };
}
