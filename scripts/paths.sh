#!/usr/bin/env bash
# Where the builds go, for every script: sourced first (`. "$(dirname "$0")/paths.sh"`), it moves
# to the repository root and names each output under cargo's target directory, so that a
# CARGO_TARGET_DIR set for cargo moves all of them together (a relative one is read from the
# repository root, as cargo reads it when run there). host_server::build_output follows the same
# rule for the Rust tests and the CLI's defaults. Run on its own, it prints the paths.
#   TARGET        $CARGO_TARGET_DIR, else target/     native builds: $TARGET/release/sesame
#   WASM_TARGET   $TARGET/wasm      the wasm32 builds (their own dir: another rustc, build-std)
#   BROWSER_WASM  the size-optimized browser face    GUEST_WASM  the wasmtime guest
#   PKG           $TARGET/pkg       the browser package (and the console's editor in editor/)
#   GUEST_CACHE   $TARGET/guest-cache   precompiled guests
#   FUZZ_TARGET   $TARGET/fuzz      the fuzz workspace's builds (instrumented, their own dir)
cd "$(dirname "${BASH_SOURCE[0]}")/.."
ROOT="$PWD"
TARGET="${CARGO_TARGET_DIR:-target}"
case "$TARGET" in /*) ;; *) TARGET="$ROOT/$TARGET" ;; esac
WASM_TARGET="$TARGET/wasm"
BROWSER_WASM="$WASM_TARGET/wasm32-unknown-unknown/wasm/wasm_bindings.wasm"
GUEST_WASM="$WASM_TARGET/wasm32-unknown-unknown/wasm-guest/wasm_guest.wasm"
PKG="$TARGET/pkg"
GUEST_CACHE="$TARGET/guest-cache"
FUZZ_TARGET="$TARGET/fuzz"
SESAME="$TARGET/release/sesame"

if [ "${BASH_SOURCE[0]}" = "$0" ]; then
  for name in ROOT TARGET WASM_TARGET BROWSER_WASM GUEST_WASM PKG GUEST_CACHE FUZZ_TARGET SESAME; do
    printf '%s=%s\n' "$name" "${!name}"
  done
fi
