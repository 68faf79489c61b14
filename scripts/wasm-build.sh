#!/usr/bin/env bash
# Builds crates for wasm32-unknown-unknown. Usage: scripts/wasm-build.sh PROFILE -p CRATE [...]
# PROFILE `wasm` (size, for browsers) or `wasm-guest` (speed, for wasmtime); output in
# $WASM_TARGET/wasm32-unknown-unknown/PROFILE/ (target/wasm/..., or under $CARGO_TARGET_DIR:
# scripts/paths.sh).
# Uses a rustup wasm32 target when installed, otherwise Debian's rustc-web with build-std.
set -euo pipefail
. "$(dirname "$0")/paths.sh"
profile="$1"; shift
if rustup target list --installed 2>/dev/null | grep -q '^wasm32-unknown-unknown$'; then
  CARGO_TARGET_DIR="$WASM_TARGET" exec cargo build --profile "$profile" --target wasm32-unknown-unknown "$@"
fi
# Separate target dir (also with a rustup target, above): a different rustc must not invalidate
# the host build's cache.
export RUSTC=/usr/bin/rustc RUSTC_BOOTSTRAP=1 CARGO_TARGET_WASM32_UNKNOWN_UNKNOWN_LINKER=wasm-ld-16
export CARGO_TARGET_DIR="$WASM_TARGET"
exec /usr/bin/cargo build --profile "$profile" --target wasm32-unknown-unknown -Zbuild-std=std,panic_abort "$@"
