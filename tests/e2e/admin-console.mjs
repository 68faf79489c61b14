// The admin console in headless Chromium, as a firm admin / policy author would use it, against
// a real server: sign in; edit a policy with an error and see it underlined; run the tests, the
// diff and the impact in the page; deploy with a message and watch the open demo app change;
// roll back from the history; custom profile refused when wider, created when restricted;
// invites up to the plan limit — as alice, signed in with a JWT of the identity provider, bound
// to her; leaving the firm (deactivate, delete), site profiles, deletion rights, buttons greyed
// with the reason; her firm's activity history (filtered, exported as CSV); what carol's own
// session may do; the permission matrix; the operators' activity history.
// Screenshots go to $SHOTS (default target/screenshots).
// Usage: SESAME_URL=http://... SESAME_TOKEN=... SESAME_ALICE_TOKEN=<jwt> SESAME_CAROL_TOKEN=<jwt>
//        node tests/e2e/admin-console.mjs
import { readFile } from "node:fs/promises";
import { check, launch, shots, token, url } from "./harness.mjs";

const text = (page, testid) => page.textContent(`[data-testid='${testid}']`);
const waitText = (page, testid, needle, timeout = 10000) => page.waitForFunction(
  ([t, n]) => document.querySelector(`[data-testid='${t}']`)?.textContent.includes(n), [testid, needle], { timeout });

/** Signs the page out and in again with `secret`; waits for the session line to show `role`. */
async function signInAs(page, secret, role) {
  // Forget the stored token on a page of the same origin that runs no console script (an open
  // console could store its token again while signing in).
  await page.goto(`${url}/healthz`);
  await page.evaluate(() => sessionStorage.clear());
  await page.goto(`${url}/admin/`);
  await page.waitForSelector("[data-testid=token]", { state: "visible" });
  await page.fill("[data-testid=token]", secret);
  await page.click("[data-testid=sign-in]");
  await waitText(page, "session", `(${role})`);
  // Signed in once the acting user is chosen (after the data is loaded).
  await page.waitForSelector("[data-testid=actor] option", { state: "attached" });
}

/** Clicks a console button and waits for the operation's outcome in the status line. */
async function submitAndWait(page, testid) {
  await page.evaluate(() => { document.querySelector("[data-testid=status]").textContent = ""; });
  await page.click(`[data-testid=${testid}]`);
  await page.waitForFunction(() => /^(done|refused)/.test(document.querySelector("[data-testid=status]").textContent));
}

// Decisions the server logs, for the impact view: carol exports inv-1 (allowed today).
for (let i = 0; i < 3; i++) {
  await fetch(`${url}/v1/decide`, {
    method: "POST", headers: { "Content-Type": "application/json" },
    body: JSON.stringify({ principal: { type: "User", id: "carol" }, action: { type: "Action", id: "export_document" }, resource: { type: "Document", id: "inv-1" } }),
  });
}

// A decision with call-only entities: a stand-in for carol known to that call alone. The log
// keeps how many entities the call carried, not them; replayed without them the stand-in is a
// stranger and would be denied, so the impact must count it as not replayable, not as a change.
const records = await (await fetch(`${url}/v1/admin/entities`, { headers: { Authorization: `Bearer ${token}` } })).json();
const carol = records.find((r) => r.uid.type === "User" && r.uid.id === "carol");
const twin = { ...carol, uid: { type: "User", id: "carol-twin" }, attrs: { ...carol.attrs, email: "carol-twin@example.invalid" } };
const twinAnswer = await (await fetch(`${url}/v1/decide`, {
  method: "POST", headers: { "Content-Type": "application/json" },
  body: JSON.stringify({ principal: twin.uid, action: { type: "Action", id: "export_document" }, resource: { type: "Document", id: "inv-1" }, entities: [twin] }),
})).json();
check(twinAnswer.decision === "allow", "a stand-in for carol sent with its call may export inv-1");

const browser = await launch();
const errors = [];
try {
  const context = await browser.newContext({ viewport: { width: 1400, height: 900 } });
  const page = await context.newPage();
  const watch = (p) => {
    p.on("pageerror", (e) => { errors.push(e.message); console.error(`page error: ${e.message}`); });
    p.on("console", (m) => { if (m.type() === "error") console.error(`console: ${m.text()}`); });
  };
  watch(page);

  // Sign in: a wrong token is refused, the right one opens the console.
  await page.goto(`${url}/admin/`);
  await page.fill("[data-testid=token]", "not-a-token");
  await page.click("[data-testid=sign-in]");
  await waitText(page, "login-error", "sign-in refused");
  check(true, "a wrong token is refused at sign-in");
  await page.fill("[data-testid=token]", token);
  await page.click("[data-testid=sign-in]");
  await waitText(page, "session", "(admin)");
  await page.waitForSelector("[data-testid=editor] .cm-content");
  check(await page.isVisible("[data-testid='file-guards.cedar']"), "the bundle's files are listed");

  // Edit a policy with an error: policy-core's location is underlined in the editor.
  await page.click("[data-testid='file-guards.cedar']");
  await page.click("[data-testid=editor] .cm-content");
  await page.keyboard.press("Control+End");
  await page.keyboard.type('\n@id("broken")\nforbid (principal, action, resource) when { principal.no_such_attribute };\n');
  await page.waitForSelector(".cm-lintRange-error", { timeout: 10000 });
  const underlined = await page.$$eval(".cm-lintRange-error", (els) => els.map((e) => e.textContent).join(" "));
  check(/no_such_attribute|principal/.test(underlined), `the error is underlined where it is (${underlined})`);
  await waitText(page, "validity", "error(s)");
  check((await text(page, "problems")).includes("guards.cedar:"), "the problem is listed with file:line:column");
  await page.hover(".cm-lintRange-error");
  await page.waitForSelector(".cm-tooltip-lint", { timeout: 5000 }).catch(() => {});
  await page.screenshot({ path: `${shots}/admin-editor.png` });
  await page.fill("[data-testid=deploy-message]", "should not deploy");
  await page.click("[data-testid=deploy]");
  await waitText(page, "output", "deploy refused");
  check(true, "a bundle with an error is refused at deploy; the active version is unchanged");

  // A real change: carol may no longer export inv-1. Tests, diff and impact run in the page.
  await page.click("[data-testid=revert]");
  await waitText(page, "validity", "same as the active version");
  await page.click("[data-testid='file-guards.cedar']");
  await page.click("[data-testid=editor] .cm-content");
  await page.keyboard.press("Control+End");
  await page.keyboard.type('\n@id("no-export-inv-1-for-carol")\nforbid (principal == User::"carol", action == Action::"export_document", resource == Document::"inv-1");\n');
  await waitText(page, "validity", "new version");
  await page.click("[data-testid=run-tests]");
  await waitText(page, "output", "passed");
  check(/\d+ passed, 0 failed/.test(await text(page, "output")), "the bundle's tests run in the page and pass");
  await page.click("[data-testid=show-diff]");
  await waitText(page, "output", "policies added: no-export-inv-1-for-carol");
  check(true, "the diff against the active version names the new policy");
  await page.click("[data-testid=show-impact]");
  await waitText(page, "output", "allow → deny: carol export_document Document::inv-1");
  check(true, "the impact replays the logged decisions: carol's exports flip to deny");
  const impact = await text(page, "output");
  check(/(^|\n)1 not replayable: 1 with call-only entities/.test(impact) && !impact.includes("carol-twin"),
    "the decision logged with call-only entities is not replayed, not reported as a change");

  // The demo app, open as carol in another tab, follows the deploy without a reload.
  const app = await context.newPage();
  watch(app);
  await app.goto(`${url}/?user=carol`);
  await app.waitForSelector("[data-testid=document-inv-1]");
  check(await app.isEnabled("[data-testid=document-inv-1-export_document]"), "before the deploy carol may export inv-1");
  const before = await app.getAttribute("body", "data-digest");
  await page.fill("[data-testid=deploy-message]", "no export of inv-1 for carol (console test)");
  await page.click("[data-testid=deploy]");
  await waitText(page, "output", "deployed version");
  await waitText(page, "history", "no export of inv-1 for carol (console test)");
  check(true, "the history lists the deploy with its message and author");
  await app.waitForFunction((d) => document.body.dataset.digest !== d, before, { timeout: 10000 });
  check(!(await app.isEnabled("[data-testid=document-inv-1-export_document]")), "the open demo app disables carol's export after the deploy");

  // One-click rollback from the history.
  await page.click("[data-testid=rollback-1]");
  await app.waitForFunction((d) => document.body.dataset.digest === d, before, { timeout: 10000 });
  check(await app.isEnabled("[data-testid=document-inv-1-export_document]"), "after the rollback carol may export again");
  await page.screenshot({ path: `${shots}/admin-history.png`, fullPage: true });

  // An operator's token administers no firm: it never said which firm user is behind it.
  await page.click("[data-testid=tab-users]");
  await page.waitForSelector("[data-testid=user-bob]");
  check(!(await page.isEnabled("[data-testid=block-bob]")) && !(await page.isEnabled("[data-testid=inv-send]")),
    "an operator's token previews the firm but cannot administer it");

  // alice signs in with her identity provider's token: the console acts as her, and only her.
  await signInAs(page, process.env.SESAME_ALICE_TOKEN, "member");
  check((await text(page, "session")).includes("User::\"alice\""), "alice's JWT signs her in as herself");
  check(!(await page.isEnabled("[data-testid=actor]")) && (await page.inputValue("[data-testid=actor]")) === "alice",
    "a firm user's session cannot pick another acting user");
  check(!(await page.isVisible("[data-testid=tab-policies]")), "a firm user's session has no policy editor");
  check(!(await page.isVisible("[data-testid=user-uma]")), "another firm's users are not shown");

  // Profiles: by licence; a custom profile wider than its base is refused with the reason.
  await page.click("[data-testid=tab-profiles]");
  await page.waitForSelector("[data-testid=licence-full_accounting]");
  check(await page.isVisible("[data-testid=profile-junior_accountant]"), "profiles are grouped by licence");
  await page.selectOption("[data-testid=cp-base]", "junior_accountant");
  await page.fill("[data-testid=cp-id]", "junior_no_notes");
  await page.fill("[data-testid=cp-name]", "Junior without notes");
  await page.selectOption("[data-testid='cp-level-invoice.iban']", "read");
  await page.click("[data-testid=cp-save]");
  await waitText(page, "status", "refused");
  check((await text(page, "status")).includes("invoice.iban"), `widening is refused with the reason (${await text(page, "status")})`);
  await page.selectOption("[data-testid='cp-level-invoice.iban']", "none");
  await page.selectOption("[data-testid='cp-level-invoice.notes']", "none");
  await page.click("[data-testid=cp-save]");
  await page.waitForSelector("[data-testid=profile-junior_no_notes]");
  check(true, "a restricted copy is created");
  await page.selectOption("[data-testid=cmp-left]", "junior_accountant");
  await page.selectOption("[data-testid=cmp-right]", "junior_no_notes");
  await page.click("[data-testid=compare]");
  await waitText(page, "comparison", "invoice.notes");
  check(!(await text(page, "comparison")).includes("invoice.amount"), "the comparison lists differences only");
  await page.click("[data-testid=default-junior_no_notes]");
  await page.waitForSelector("[data-testid=profile-junior_no_notes] .badge");
  check(!(await page.isVisible("[data-testid=profile-full_accounting_standard] .badge")), "one default profile at a time");
  await page.screenshot({ path: `${shots}/admin-profiles.png`, fullPage: true });
  await page.click("[data-testid=default-full_accounting_standard]");
  await page.waitForSelector("[data-testid=profile-full_accounting_standard] .badge");
  await page.click("[data-testid=delete-junior_no_notes]");
  await page.waitForSelector("[data-testid=profile-junior_no_notes]", { state: "detached" });
  check(true, "an unused custom profile is deleted");

  // Sections: the firm hides payments from its accountants (its record, not the bundle's rule).
  await page.check("[data-testid=hide-payments-accountant]");
  await submitAndWait(page, "save-section-payments");
  check((await text(page, "status")).startsWith("done"), `a firm hides a section (${await text(page, "status")})`);
  await page.waitForFunction(() => document.querySelector("[data-testid=hide-payments-accountant]")?.checked);
  check(true, "the firm's hidden section is kept on its record");

  // Users: two invites fit the plan; the third is greyed out with the counts as the reason.
  await page.click("[data-testid=tab-users]");
  const fillInvite = async (first, email, { external = false } = {}) => {
    await page.fill("[data-testid=inv-first]", first);
    await page.fill("[data-testid=inv-name]", "Martin");
    await page.fill("[data-testid=inv-email]", email);
    // Firm roles are for staff only (`firm-roles-for-staff-only`).
    if (external) {
      await page.check("[data-testid=inv-external]");
      await page.uncheck("[data-testid=inv-role-accountant]");
    } else await page.check("[data-testid=inv-role-accountant]");
  };
  const reason = (testid) => page.getAttribute(`[data-testid=${testid}]`, "data-reason");
  for (const [first, email] of [["Zoe", "zoe@example.com"], ["Yves", "yves@example.com"]]) {
    await fillInvite(first, email);
    await submitAndWait(page, "inv-send");
    await page.waitForSelector(`[data-testid=user-${first.toLowerCase()}]`);
  }
  // Invited users are pending until they accept; an administrator sends an invitation again,
  // and the invitee accepts with the token the server put in its outbox for the app to deliver.
  await waitText(page, "pending-zoe", "invited, not accepted");
  await submitAndWait(page, "resend-zoe");
  check((await text(page, "status")).includes("invitation again"), `an invitation is resent (${await text(page, "status")})`);
  const outbox = await (await fetch(`${url}/v1/outbox`, { headers: { Authorization: `Bearer ${token}` } })).json();
  const invitationsOfZoe = outbox.filter((e) => e.payload.user.id === "zoe");
  check(invitationsOfZoe.map((e) => e.kind).join() === "invitation,invitation_resent", `the outbox holds zoe's invitation and its resend (${JSON.stringify(invitationsOfZoe.map((e) => e.kind))})`);
  const accept = (t) => fetch(`${url}/v1/invitations/accept`, { method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify({ token: t }) });
  check((await accept(invitationsOfZoe[0].payload.token)).status === 404, "the first token stopped working at the resend");
  const accepted = await accept(invitationsOfZoe[1].payload.token);
  check(accepted.ok, `zoe accepts her invitation with the new token (${accepted.status})`);
  await fillInvite("Xena", "xena@example.com");
  check(!(await page.isEnabled("[data-testid=inv-send]")) && (await reason("inv-send")).includes("its plan firm_standard allows 15")
    && (await text(page, "invite")).includes("its plan firm_standard allows 15"),
    `a sixteenth user is greyed out with the plan's counts as the reason (${await reason("inv-send")})`);
  // An external auditor takes no seat: invited with the plan full.
  await fillInvite("Xavier", "xavier@audit.example", { external: true });
  check(await page.isEnabled("[data-testid=inv-send]"), `an external auditor may be invited with the plan full (${await reason("inv-send")})`);
  await submitAndWait(page, "inv-send");
  await waitText(page, "user-xavier", "external");
  check(true, "an external user is invited while the plan is full");
  await page.waitForSelector("[data-testid=pending-zoe]", { state: "detached" });
  check(!(await page.$("[data-testid=resend-zoe]")), "zoe has accepted: no pending badge, nothing to resend");
  // A client's user, straight onto his company with a client role (not one its plan lacks).
  await page.fill("[data-testid=inv-first]", "Paula");
  await page.fill("[data-testid=inv-name]", "Martin");
  await page.fill("[data-testid=inv-email]", "paula@acme.example");
  await page.selectOption("[data-testid=inv-company]", "globex");
  await page.selectOption("[data-testid=inv-company-role]", "billing");
  check(!(await page.isEnabled("[data-testid=inv-send]")) && (await reason("inv-send")).includes("client-roles-need-plan"),
    `billing on Globex (its plan lacks it) is greyed out with the reason (${await reason("inv-send")})`);
  await page.selectOption("[data-testid=inv-company]", "acme");
  await submitAndWait(page, "inv-send");
  await waitText(page, "client-user-acme-paula", "billing");
  check((await text(page, "client-users-acme")).includes("director: "), "the client's users are listed by role");
  // Leaving the firm: deactivating Heidi frees her seat, which Xena takes; Heidi then cannot
  // come back until a seat is free again; deleting Xena frees it.
  await submitAndWait(page, "deactivate-heidi");
  await waitText(page, "user-heidi", "deactivated");
  await fillInvite("Xena", "xena@example.com");
  await submitAndWait(page, "inv-send");
  await page.waitForSelector("[data-testid=user-xena]");
  check(true, "a deactivated user's seat is free for an invitation");
  check(!(await page.isEnabled("[data-testid=deactivate-heidi]")) && (await reason("deactivate-heidi")).includes("taking a seat"),
    `reactivating with the plan full is greyed out with the reason (${await reason("deactivate-heidi")})`);
  page.once("dialog", (dialog) => dialog.accept());
  await submitAndWait(page, "delete-user-xena");
  await page.waitForSelector("[data-testid=user-xena]", { state: "detached" });
  await submitAndWait(page, "deactivate-heidi");
  await page.waitForFunction(() => !document.querySelector("[data-testid=user-heidi]").textContent.includes("deactivated"));
  check(true, "a deleted user frees the seat; the deactivated user comes back");
  // Site profiles (staff only) and deletion rights, after the invitation.
  await page.selectOption("[data-testid=site-of-bob]", "collaborator");
  await submitAndWait(page, "set-site-bob");
  check((await text(page, "status")).startsWith("done"), `bob gets a site profile (${await text(page, "status")})`);
  await page.selectOption("[data-testid=site-of-ivan]", "manager");
  check(!(await page.isEnabled("[data-testid=set-site-ivan]")) && (await reason("set-site-ivan")).includes("site-profiles-for-staff-only"),
    `an external user gets no site profile, greyed out with the policy as the reason (${await reason("set-site-ivan")})`);
  await submitAndWait(page, "rights-tom");
  await waitText(page, "rights-tom", "take deletion rights");
  check(true, "tom gets deletion rights");
  // Time-bound access: an end date given (dave's has passed: his access ended), then lifted.
  await page.fill("[data-testid=until-dave]", "2020-01-01");
  await submitAndWait(page, "set-until-dave");
  await waitText(page, "until-badge-dave", "access ended 2020-01-01");
  check(true, "an end date in the past ends dave's access, as his badge says");
  await page.fill("[data-testid=until-dave]", "");
  await submitAndWait(page, "set-until-dave");
  await page.waitForSelector("[data-testid=until-badge-dave]", { state: "detached" });
  check(true, "the end date is lifted");
  // Firm roles after the invitation: Carol becomes client manager too.
  await page.selectOption("[data-testid=roles-of-carol]", ["accountant", "client_manager"]);
  await submitAndWait(page, "set-roles-carol");
  check((await text(page, "status")).startsWith("done"), `roles change after the invitation (${await text(page, "status")})`);
  await page.waitForFunction(() => [...document.querySelector("[data-testid=roles-of-carol]").selectedOptions].map((o) => o.value).join() === "accountant,client_manager");
  check(true, "the new roles are kept");
  // A firm keeps an administrator: with Erin's role taken away, Alice cannot give up hers.
  await page.selectOption("[data-testid=roles-of-erin]", ["accountant"]);
  await submitAndWait(page, "set-roles-erin");
  check((await text(page, "status")).startsWith("done"), `erin is an accountant only (${await text(page, "status")})`);
  for (const button of ["deactivate-alice", "delete-user-alice", "block-alice"]) {
    check(!(await page.isEnabled(`[data-testid=${button}]`)) && (await reason(button)).includes("last active administrator"),
      `${button} is greyed out: the last active administrator (${await reason(button)})`);
  }
  await page.selectOption("[data-testid=roles-of-alice]", ["accountant"]);
  await submitAndWait(page, "set-roles-alice");
  check((await text(page, "status")).includes("last active administrator"), `the last administrator keeps the role, with the reason (${await text(page, "status")})`);
  await page.selectOption("[data-testid=roles-of-erin]", ["administrator", "accountant"]);
  await submitAndWait(page, "set-roles-erin");
  check((await text(page, "status")).startsWith("done"), `erin is an administrator again (${await text(page, "status")})`);
  // Custom roles as data: deleting documents is greyed (the standard plan does not offer it to
  // custom roles); a role reading documents is made, given to dave, and cannot be deleted
  // while he holds it.
  await page.fill("[data-testid=role-id]", "junior");
  await page.fill("[data-testid=role-name]", "Junior");
  await page.check("[data-testid=role-grant-document_delete]");
  check(!(await page.isEnabled("[data-testid=role-save]")) && (await reason("role-save")).includes("custom-role-grants-within-plan"),
    `a custom role deleting documents is greyed with the plan's policy as the reason (${await reason("role-save")})`);
  await page.uncheck("[data-testid=role-grant-document_delete]");
  await page.check("[data-testid=role-grant-document_read]");
  await submitAndWait(page, "role-save");
  await waitText(page, "custom-role-junior", "Junior");
  check(await page.isChecked("[data-testid=grant-junior-document_read]"), "the custom role grants reading documents");
  await page.selectOption("[data-testid=roles-of-dave]", ["accountant", "junior"]);
  await submitAndWait(page, "set-roles-dave");
  check((await text(page, "status")).startsWith("done"), `dave is given the custom role (${await text(page, "status")})`);
  check(!(await page.isEnabled("[data-testid=delete-role-junior]")) && (await reason("delete-role-junior")).includes("hold"),
    `a custom role someone holds is not deleted (${await reason("delete-role-junior")})`);
  // Profiles per dossier: carol gets the junior profile on Acme only; the profile lists her
  // with the dossier; every holder on Acme moves to the read-only profile at once.
  await page.selectOption("[data-testid=dossier-of-carol]", "acme");
  await page.selectOption("[data-testid=dossier-profile-of-carol]", "junior_accountant");
  await submitAndWait(page, "set-dossier-carol");
  await waitText(page, "dossier-badge-carol-acme", "junior_accountant on acme");
  check(true, "carol holds the junior profile on the Acme dossier");
  await page.click("[data-testid=tab-profiles]");
  await waitText(page, "dossiers-of-junior_accountant", "carol on acme");
  check(true, "the profile lists its users with their dossiers");
  await page.selectOption("[data-testid=move-target-junior_accountant]", "full_accounting_readonly");
  await page.selectOption("[data-testid=move-where-junior_accountant]", "acme");
  await submitAndWait(page, "move-junior_accountant");
  await waitText(page, "dossiers-of-full_accounting_readonly", "carol on acme");
  check((await text(page, "status")).includes("on Client::\"acme\""), `the users of a profile on one dossier move together (${await text(page, "status")})`);
  await page.click("[data-testid=tab-users]");
  for (const id of ["east", "west", "centre"]) {
    await page.fill("[data-testid=dep-id]", id);
    await page.fill("[data-testid=dep-name]", id.toUpperCase());
    await submitAndWait(page, "dep-create");
  }
  await page.fill("[data-testid=dep-id]", "coast");
  await page.fill("[data-testid=dep-name]", "COAST");
  check(!(await page.isEnabled("[data-testid=dep-create]")) && (await reason("dep-create")).includes("has 5 department(s); its plan allows 5"),
    `a sixth department is greyed out with the plan's counts as the reason (${await reason("dep-create")})`);
  check(!(await text(page, "department-list")).includes("COAST"), "the refused department was not created");
  await page.selectOption("[data-testid=departments-of-tom]", ["south"]);
  await page.click("[data-testid=restrict-tom]");
  await waitText(page, "user-tom", "restricted");
  check(true, "a user is restricted to a department");
  await page.click("[data-testid=block-dave]");
  await waitText(page, "user-dave", "blocked");
  check(true, "a user is blocked");
  await page.screenshot({ path: `${shots}/admin-users.png`, fullPage: true });
  await page.selectOption("[data-testid=client-pete]", "globex");
  await page.selectOption("[data-testid=company-role-pete]", "billing");
  check(!(await page.isEnabled("[data-testid=set-role-pete]")), "billing cannot be given on globex (its plan lacks it)");
  await page.selectOption("[data-testid=company-role-pete]", "director");
  await page.click("[data-testid=set-role-pete]");
  await waitText(page, "user-pete", "globex/director");
  check(true, "one user moved on one company: pete is globex's director");

  // Alice reads her firm's activity history (the bundle allows her `view_activity`): her own
  // operations and sign-in, filtered by user, exported as CSV.
  await page.click("[data-testid=tab-activity]");
  await waitText(page, "activity-table", "invited User::\"zoe\"");
  const firmActivity = await text(page, "activity-table");
  for (const needle of ["alice signed in", "deleted User::\"xena\"", "deactivated User::\"heidi\"", "gave User::\"tom\" deletion rights"]) {
    check(firmActivity.includes(needle), `the firm's activity history shows ${needle}`);
  }
  check(!firmActivity.includes("uma"), "no other firm's activity");
  await page.fill("[data-testid=activity-user]", "xena");
  await page.dispatchEvent("[data-testid=activity-user]", "change");
  await page.waitForFunction(() => !document.querySelector("[data-testid=activity-table]").textContent.includes("zoe"));
  check((await text(page, "activity-table")).includes("deleted User::\"xena\""), "the history filters by user");
  const [download] = await Promise.all([page.waitForEvent("download"), page.click("[data-testid=activity-csv]")]);
  const csv = await readFile(await download.path(), "utf8");
  check(csv.startsWith("seq,at,kind,user,via,summary,about\n") && csv.includes("deleted User::") && !csv.includes("zoe"),
    `the filtered history exports as CSV (${csv.split("\n").length - 2} line(s))`);
  await page.fill("[data-testid=activity-user]", "");
  await page.click("[data-testid=tab-users]");

  // carol (an accountant) signs in with her own token: the administration buttons are disabled.
  const carol = await (await browser.newContext({ viewport: { width: 1400, height: 900 } })).newPage();
  watch(carol);
  await signInAs(carol, process.env.SESAME_CAROL_TOKEN, "member");
  await carol.waitForSelector("[data-testid=user-bob]");
  check(!(await carol.isEnabled("[data-testid=inv-send]")), "carol may not invite");
  check(!(await carol.isEnabled("[data-testid=block-bob]")), "carol may not block");
  check(!(await carol.isEnabled("[data-testid=save-email-ivan]")), "carol may not change a client user's e-mail");
  check(!(await carol.isVisible("[data-testid=tab-activity]")), "carol (no view_activity) has no activity tab");

  // The permission matrix, by users and by roles.
  await page.click("[data-testid=tab-matrix]");
  await page.waitForSelector("[data-testid=matrix-alice]");
  const aliceRow = await text(page, "matrix-alice");
  const carolRow = await text(page, "matrix-carol");
  check(aliceRow.includes("allow") && carolRow.includes("deny") && aliceRow !== carolRow, "the matrix shows different rights for alice and carol");
  await page.selectOption("[data-testid=matrix-document]", "inv-1");
  await waitText(page, "matrix-table", "invoice.iban on inv-1");
  const veraRow = await page.$$eval("[data-testid=matrix-vera] td", (tds) => tds.map((td) => td.textContent));
  check(veraRow.includes("print") && veraRow.includes("none"), `field levels per user (vera, junior profile: ${veraRow.slice(-4).join(" ")})`);
  // Who can see this document? (a principal list query) is exactly the matrix's viewers.
  const whoSees = await page.$$eval("[data-testid=who-can-see] li", (lis) => lis.map((li) => li.textContent.replace(/^User /, "")));
  const matrixUsers = await page.$$eval("[data-testid=matrix-table]", ([table]) => {
    const heads = [...table.tHead.rows[0].cells].map((c) => c.textContent);
    const col = heads.indexOf("view inv-1");
    const rows = [...table.tBodies[0].rows];
    const pick = (want) => rows.filter((r) => (r.cells[col].textContent === "allow") === want).map((r) => r.cells[0].textContent);
    return { viewers: pick(true), others: pick(false) };
  });
  const sorted = (xs) => JSON.stringify([...xs].sort());
  check(whoSees.length > 0 && sorted(whoSees) === sorted(matrixUsers.viewers), `who can see inv-1 (${whoSees.join(", ")}) = the matrix's viewers`);
  // What can this user see? (resource list queries) holds inv-1 exactly for its viewers.
  for (const [user, sees] of [[matrixUsers.viewers[0], true], [matrixUsers.others[0], false]]) {
    await page.selectOption("[data-testid=query-user]", user);
    await page.waitForFunction((u) => document.querySelector("[data-testid=query-user]").value === u, user);
    const listed = await page.isVisible("[data-testid=sees-Document-inv-1]");
    check(listed === sees, `what ${user} can see ${sees ? "holds" : "lacks"} inv-1`);
  }
  await page.selectOption("[data-testid=matrix-rows]", "roles");
  await page.waitForSelector("[data-testid=matrix-administrator]");
  check(true, "the matrix by roles");
  await page.screenshot({ path: `${shots}/admin-matrix.png`, fullPage: true });

  // The activity history (the operators'): sign-in, invites, deploy, rollback.
  await signInAs(page, token, "admin");
  await page.click("[data-testid=tab-activity]");
  await waitText(page, "activity-table", "invited User::\"zoe\"");
  const activity = await text(page, "activity-table");
  for (const needle of ["login", "deploy", "rollback", "blocked User::\"dave\"", "deleted custom profile", "restricted User::\"tom\" to south"]) {
    check(activity.includes(needle), `the activity history shows ${needle}`);
  }
  await page.selectOption("[data-testid=activity-kind]", "login");
  await page.waitForFunction(() => !document.querySelector("[data-testid=activity-table]").textContent.includes("invited"));
  check(true, "the activity history filters by kind");

  // Another person signs in with a viewer token: they read, but may not deploy or administer.
  const viewer = await (await browser.newContext({ viewport: { width: 1400, height: 900 } })).newPage();
  watch(viewer);
  await viewer.goto(`${url}/admin/`);
  await viewer.fill("[data-testid=token]", process.env.SESAME_VIEWER_TOKEN ?? "viewer-secret");
  await viewer.click("[data-testid=sign-in]");
  await waitText(viewer, "session", "(viewer)");
  await viewer.waitForSelector("[data-testid=editor] .cm-content");
  check(!(await viewer.isEnabled("[data-testid=deploy]")), "a viewer cannot deploy");
  check(!(await viewer.isEnabled("[data-testid=rollback-2]")), "a viewer cannot roll back");
  await viewer.click("[data-testid=tab-users]");
  check(!(await viewer.isEnabled("[data-testid=inv-send]")) && !(await viewer.isEnabled("[data-testid=block-bob]")), "a viewer cannot administer users");
  await viewer.click("[data-testid=tab-activity]");
  await viewer.waitForSelector("[data-testid=activity-denied]");
  check(true, "the activity history is for admins only");
  check(errors.length === 0, `no page errors (${errors.join("; ")})`);
} finally {
  await browser.close();
}
