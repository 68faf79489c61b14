// What both JS faces of the conformance test run (tests/node/conformance.mjs under Node, and
// tests/e2e/conformance-chromium.mjs in a page): each input line's bundle loaded with the
// package, its batch answered. Requests and answers cross as JSON text (`callJson`), never as JS
// numbers: Cedar's Longs are 64-bit, a JS number is not.
// IN line: `{"files": {path: text}, "policy_validation": "enforce" | "report",
//           "batch": "<BatchRequest as JSON text>" | null}`.
// OUT line: `{"load": null | ErrorBody, "batch": BatchResponse | null}`.
export async function answerCases(loadSesame, wasm, input) {
  const out = [];
  for (const line of input.split("\n")) {
    if (line === "") continue;
    const { files, policy_validation, batch } = JSON.parse(line);
    let engine;
    try {
      engine = await loadSesame({ wasm, bundle: { files, policy_validation } });
    } catch (err) {
      out.push(JSON.stringify({ load: { code: err.code, message: err.message, diagnostics: err.diagnostics ?? [] }, batch: null }));
      continue;
    }
    out.push(`{"load":null,"batch":${batch === null ? "null" : engine.callJson("batch", batch)}}`);
  }
  return out.join("\n") + "\n";
}
