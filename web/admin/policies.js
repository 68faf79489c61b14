// The Policies tab: the bundle's files in a CodeMirror editor, validated as you type by the
// browser package (errors underlined where policy-core locates them), the bundle's tests run in
// the page, the diff and the impact against the active version, deploy with a message, the
// history with one-click rollback.
import { EditorView, EditorState, basicSetup, linter, lintGutter, forceLinting } from "/pkg/editor/codemirror.js";
import { loadSesame } from "/pkg/sesame.js";
import { cedarLanguage } from "./cedar-mode.js";
import { $, api, element, reload, session, status, tokenMay } from "./session.js";

let drafts = {}; // file -> text being edited
let states = {}; // file -> EditorState (keeps each file's undo history)
let open = null;
let view = null;
let lastValidation = { ok: true, diagnostics: [] };

function validateDrafts() {
  try {
    lastValidation = session.engine.validate(drafts);
  } catch (err) {
    lastValidation = { ok: false, diagnostics: [{ severity: "error", message: err.message }] };
  }
  renderValidity();
  return lastValidation;
}

/** policy-core's located diagnostics of the open file, as CodeMirror ranges. */
function lintOpenFile(v) {
  drafts[open] = v.state.doc.toString();
  const { diagnostics } = validateDrafts();
  const doc = v.state.doc;
  return diagnostics
    .filter((d) => d.location?.file === open)
    .map((d) => {
      const line = doc.line(Math.min(Math.max(d.location.line, 1), doc.lines));
      let from = Math.min(line.from + Math.max(d.location.column - 1, 0), line.to);
      const word = /^[\w@"]+/.exec(doc.sliceString(from, line.to))?.[0].length ?? 1;
      let to = Math.min(from + Math.max(d.length ?? word, 1), Math.max(line.to, from + 1), doc.length);
      if (from === to && from > 0) from -= 1;
      return { from, to, severity: d.severity === "warning" ? "warning" : "error", message: `${d.code}: ${d.message}${d.help ? `\nhelp: ${d.help}` : ""}` };
    });
}

function extensions(file) {
  const lang = /\.cedar(schema)?$/.test(file) ? cedarLanguage : [];
  return [
    basicSetup,
    lang,
    lintGutter(),
    linter(lintOpenFile, { delay: 250 }),
    EditorView.updateListener.of((u) => {
      if (u.docChanged) {
        drafts[open] = u.state.doc.toString();
        renderFiles();
      }
    }),
  ];
}

function openFile(file) {
  if (view && open) states[open] = view.state;
  open = file;
  const state = states[file] ?? EditorState.create({ doc: drafts[file], extensions: extensions(file) });
  if (!view) view = new EditorView({ state, parent: $("editor") });
  else view.setState(state);
  forceLinting(view);
  renderFiles();
}

function renderFiles() {
  const bad = new Set(lastValidation.diagnostics.filter((d) => d.severity === "error").map((d) => d.location?.file));
  $("files").replaceChildren(...Object.keys(drafts).sort().map((f) => element("li", {
    textContent: f,
    className: [f === open ? "open" : "", drafts[f] !== session.files[f] ? "dirty" : "", bad.has(f) ? "bad" : ""].join(" "),
    testid: `file-${f}`,
    onclick: () => openFile(f),
  })));
}

function renderValidity() {
  const errors = lastValidation.diagnostics.filter((d) => d.severity === "error");
  $("validity").textContent = lastValidation.ok
    ? `valid — ${lastValidation.digest === session.digest ? "same as the active version" : `new version ${lastValidation.digest?.slice(7, 19)}`}`
    : `${errors.length} error(s)`;
  $("validity").className = lastValidation.ok ? "ok" : "error";
  $("problems").replaceChildren(...errors.map((d) => element("li", {
    textContent: `${d.location ? `${d.location.file}:${d.location.line}:${d.location.column}: ` : ""}${d.message}`,
    onclick: () => d.location && openFile(d.location.file),
  })));
  renderFiles();
}

const output = (text) => { $("output").textContent = text; };

async function runTests() {
  if (!validateDrafts().ok) return output("fix the errors first: the bundle does not load");
  const candidate = await loadSesame({ bundle: { files: drafts } });
  const report = candidate.runTests();
  const failures = report.cases.filter((c) => !c.passed);
  output([
    `${report.passed} passed, ${report.failed} failed`,
    `coverage: ${report.coverage.policies_determining}/${report.coverage.policies} policies determining, ${report.coverage.actions_tested}/${report.coverage.actions} actions tested`,
    ...failures.map((c) => `FAIL ${c.location.file}:${c.location.line} ${c.name}: expected ${c.expected}, got ${c.got}${c.failure ? ` (${c.failure})` : ""}`),
  ].join("\n"));
}

function showDiff() {
  if (!validateDrafts().ok) return output("fix the errors first: the bundle does not load");
  const d = session.engine.diff(drafts);
  const lines = [];
  for (const [label, list] of [["files added", d.files_added], ["files removed", d.files_removed], ["files changed", d.files_changed],
    ["policies added", d.policies_added], ["policies removed", d.policies_removed], ["policies changed", d.policies_changed]]) {
    if (list.length) lines.push(`${label}: ${list.join(", ")}`);
  }
  output(lines.length ? lines.join("\n") : "no change from the active version");
}

/**
 * The server's logged decisions replayed on the active version and on the edited bundle, over
 * the server's entities: policy-core's impact, the same `sesame impact` prints.
 */
async function showImpact() {
  if (!validateDrafts().ok) return output("fix the errors first: the bundle does not load");
  const log = await api("/v1/admin/decisions?limit=5000");
  if (!log.length) return output("the server has logged no decisions to replay (see --decision-log-sample)");
  const impact = session.engine.impact(drafts, log);
  const skipped = impact.not_replayed;
  const notReplayed = skipped.call_entities + skipped.truncated + skipped.unreadable;
  const label = (o) => o.decision ?? `error ${o.error.code}`;
  const by = (o) => (o.determining_policies?.length ? ` (${o.determining_policies.join(", ")})` : "");
  output([
    `${impact.replayed} logged decision(s) replayed, ${impact.changes.length} change(s)`,
    ...(notReplayed ? [`${notReplayed} not replayable: ${skipped.call_entities} with call-only entities (the log keeps their count), ${skipped.truncated} cut for size, ${skipped.unreadable} unreadable`] : []),
    ...(impact.drifted ? [`${impact.drifted} answered otherwise by the active version today than logged (entities changed since, masked context, or another version then)`] : []),
    ...impact.changes.map(({ request: q, before, after, masked }) =>
      `${label(before)} → ${label(after)}: ${q.principal.id} ${q.action.id} ${q.resource.type}::${q.resource.id}${by(after)}${masked ? " (masked context: approximate)" : ""}`),
  ].join("\n"));
}

async function deploy() {
  const message = $("deploy-message").value.trim();
  if (!message) return output("say what the change is in the message first");
  try {
    const outcome = await api("/v1/admin/deploy", { method: "POST", body: { files: drafts, message } });
    await reload();
    resetDrafts();
    await renderHistory();
    output(`deployed version ${outcome.version?.number ?? ""} ${session.digest}`);
    status("deployed", "ok");
  } catch (err) {
    const diags = err.body?.diagnostics ?? [];
    output([`deploy refused: ${err.message}`, ...diags.map((d) => `${d.location?.file ?? ""}:${d.location?.line ?? ""}: ${d.message}`)].join("\n"));
    status("deploy refused; the active version is unchanged", "error");
  }
}

async function rollback(digest) {
  await api("/v1/admin/rollback", { method: "POST", body: { to: digest } });
  await reload();
  resetDrafts();
  await renderHistory();
  status(`rolled back to ${digest.slice(7, 19)}`, "ok");
}

export async function renderHistory() {
  const h = await api("/v1/admin/history");
  const activeDigest = h.active?.digest;
  const rows = [...h.versions].reverse().map((v) => element("tr", { testid: `version-${v.number}` },
    element("td", { textContent: v.number }),
    element("td", {}, element("code", { textContent: v.digest.slice(7, 19) }), v.digest === activeDigest ? element("span", { className: "badge", textContent: "active" }) : ""),
    element("td", { textContent: v.message }),
    element("td", { textContent: v.author }),
    element("td", { textContent: v.created_at }),
    element("td", {}, v.digest === activeDigest ? "" : element("button", {
      textContent: "roll back to this", testid: `rollback-${v.number}`, disabled: !tokenMay("deployer"),
      onclick: () => rollback(v.digest),
    }))));
  $("history").tBodies[0].replaceChildren(...rows);
}

function resetDrafts() {
  drafts = { ...session.files };
  states = {};
  const first = open && drafts[open] !== undefined ? open : Object.keys(drafts).sort().find((f) => f.endsWith(".cedar"));
  open = null;
  openFile(first);
}

export async function initPolicies() {
  $("run-tests").onclick = () => runTests().catch((e) => output(e.message));
  $("show-diff").onclick = () => showDiff();
  $("show-impact").onclick = () => showImpact().catch((e) => output(e.message));
  $("deploy").onclick = () => deploy();
  $("deploy").disabled = !tokenMay("deployer");
  $("deploy").title = tokenMay("deployer") ? "" : "deploying needs a deployer or admin token";
  $("revert").onclick = () => resetDrafts();
  resetDrafts();
  await renderHistory();
}

/** A newer active version (deployed elsewhere): start from it unless the author has edits. */
export function activeChanged() {
  const edited = Object.keys(drafts).some((f) => drafts[f] !== session.files[f]);
  if (!edited) resetDrafts();
  renderHistory().catch(() => {});
}
