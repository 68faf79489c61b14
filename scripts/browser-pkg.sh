#!/usr/bin/env bash
# Builds the browser package into $PKG (target/pkg, or under $CARGO_TARGET_DIR: scripts/paths.sh):
# the size-optimized wasm (scripts/wasm-build.sh), wasm-bindgen's ES-module glue and .d.ts, our
# typed wrapper (sesame.js / sesame.d.ts), the wire types it declares (wire.d.ts, generated from
# policy-core: docs/wire.md) and a package.json. Prints the .wasm size raw, gzip and brotli.
set -euo pipefail
. "$(dirname "$0")/paths.sh"
wasm="$BROWSER_WASM"
[ -f "$wasm" ] || scripts/wasm-build.sh wasm -p wasm-bindings
out="$PKG"
rm -rf "$out" && mkdir -p "$out"
# The names and producers sections are dropped here, not by `strip` in the profile, so that
# wasm-bindgen still sees the module's target features (reference types: an externref table).
wasm-bindgen --target web --remove-name-section --remove-producers-section --out-dir "$out" "$wasm"
cp wasm-bindings/js/sesame.js wasm-bindings/js/sesame.d.ts wasm-bindings/js/wire.d.ts "$out/"
version=$(sed -n 's/^version = "\(.*\)"/\1/p' Cargo.toml | head -1)
cat > "$out/package.json" <<JSON
{
  "name": "@sesame/engine",
  "version": "$version",
  "description": "Sesame's policy engine in the browser: the same decisions the server enforces",
  "type": "module",
  "main": "sesame.js",
  "types": "sesame.d.ts",
  "files": ["sesame.js", "sesame.d.ts", "wire.d.ts", "wasm_bindings.js", "wasm_bindings.d.ts", "wasm_bindings_bg.wasm", "wasm_bindings_bg.wasm.d.ts"]
}
JSON
bg="$out/wasm_bindings_bg.wasm"
read -r raw gz br < <(node -e '
  const zlib = require("zlib"), bytes = require("fs").readFileSync(process.argv[1]);
  const br = zlib.brotliCompressSync(bytes, { params: { [zlib.constants.BROTLI_PARAM_QUALITY]: 11 } });
  console.log(bytes.length, zlib.gzipSync(bytes, { level: 9 }).length, br.length);' "$bg")
echo "browser package: $out ($bg raw $raw B, gzip $gz B, brotli $br B)"
scripts/editor-bundle.sh
