#!/usr/bin/env bash
# Bundles the admin console's editor (CodeMirror 6 from npm, web/editor/) into one ES module,
# $PKG/editor/codemirror.js (target/pkg/..., or under $CARGO_TARGET_DIR: scripts/paths.sh),
# served with the browser package at /pkg/editor/.
set -euo pipefail
. "$(dirname "$0")/paths.sh"
if [ ! -x web/editor/node_modules/.bin/esbuild ]; then
  (cd web/editor && npm ci --no-audit --no-fund --silent)
fi
out="$PKG/editor/codemirror.js"
mkdir -p "$PKG/editor"
web/editor/node_modules/.bin/esbuild web/editor/entry.js --bundle --format=esm --minify \
  --log-level=warning --outfile="$out"
echo "editor bundle: $out ($(wc -c < "$out") B)"
