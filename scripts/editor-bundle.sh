#!/usr/bin/env bash
# Bundles the admin console's editor (CodeMirror 6 from npm, web/editor/) into one ES module,
# target/pkg/editor/codemirror.js, served with the browser package at /pkg/editor/.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ ! -x web/editor/node_modules/.bin/esbuild ]; then
  (cd web/editor && npm ci --no-audit --no-fund --silent)
fi
mkdir -p target/pkg/editor
web/editor/node_modules/.bin/esbuild web/editor/entry.js --bundle --format=esm --minify \
  --log-level=warning --outfile=target/pkg/editor/codemirror.js
echo "editor bundle: target/pkg/editor/codemirror.js ($(wc -c < target/pkg/editor/codemirror.js) B)"
