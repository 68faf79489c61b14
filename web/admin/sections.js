// Sections the actor's firm hides from some of its roles: the firm's own choice, kept on the
// firm's record (one tag per section key), on top of the bundle's `hidden_for`, which holds for
// every firm. Other firms' choices are not shown and not changed.
import { $, actorFirm, administer, element, entitiesOf, idOf, may, session } from "./session.js";

export function renderSections() {
  const firm = actorFirm();
  const record = entitiesOf("Firm").find((f) => f.uid.id === firm.id);
  const roles = session.engine.roles().firm;
  const canManage = may("manage_sections", firm);
  const rows = entitiesOf("Section").map((section) => {
    const key = section.attrs.key;
    const hidden = (record?.tags?.[key] ?? []).map(idOf);
    const everywhere = (section.attrs.hidden_for ?? []).map(idOf);
    const boxes = roles.map((role) => element("label", {},
      element("input", { type: "checkbox", value: role, checked: hidden.includes(role), disabled: !canManage,
        testid: `hide-${section.uid.id}-${role}` }), ` ${role}`));
    const save = element("button", { textContent: "save", disabled: !canManage, testid: `save-section-${section.uid.id}`,
      onclick: () => administer({
        op: "hide_section", section: section.uid,
        roles: boxes.map((b) => b.querySelector("input")).filter((i) => i.checked).map((i) => i.value),
      }).then(() => renderSections(), () => {}) });
    return element("tr", { testid: `section-${section.uid.id}` },
      element("td", { textContent: section.uid.id }),
      element("td", {}, ...boxes),
      element("td", { textContent: everywhere.length ? `hidden for ${everywhere.join(", ")} in every firm` : "" }),
      element("td", {}, save));
  });
  $("sections").tBodies[0].replaceChildren(
    element("tr", {}, element("th", { textContent: "section" }), element("th", { textContent: "hidden in this firm for" }),
      element("th", { textContent: "bundle rule" }), element("th")),
    ...rows);
}
