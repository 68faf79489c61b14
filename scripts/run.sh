#!/usr/bin/env bash
# The main job on a fresh machine: install what is missing, build everything (wasm included),
# validate and test the demo bundle in policies/, and decide a sample request with it.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
cargo build --release --workspace
scripts/wasm-build.sh wasm -p wasm-bindings
scripts/wasm-build.sh wasm-guest -p wasm-guest
scripts/browser-pkg.sh
sesame=target/release/sesame
echo; echo "== sesame check policies"; "$sesame" check policies
echo; echo "== sesame test policies"; "$sesame" test policies
echo; echo "== sesame decide (sample: an assigned accountant opens an invoice; an admin does not)"
printf '%s\n' \
  '{"principal":{"type":"User","id":"carol"},"action":{"type":"Action","id":"view_document"},"resource":{"type":"Document","id":"inv-1"}}' \
  '{"principal":{"type":"User","id":"alice"},"action":{"type":"Action","id":"view_document"},"resource":{"type":"Document","id":"inv-1"}}' \
  | "$sesame" decide --bundle policies --entities policies/tests/fixtures/demo-firm.json
