#!/usr/bin/env bash
# Builds crates for wasm32-unknown-unknown with the `wasm` profile (size-optimized).
# Usage: scripts/wasm-build.sh -p CRATE [-p CRATE...]; output in target/wasm/wasm32-unknown-unknown/wasm/
# Uses a rustup wasm32 target when installed, otherwise Debian's rustc-web with build-std.
set -euo pipefail
cd "$(dirname "$0")/.."
if rustup target list --installed 2>/dev/null | grep -q '^wasm32-unknown-unknown$'; then
  CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-target/wasm}" exec cargo build --profile wasm --target wasm32-unknown-unknown "$@"
fi
# Separate target dir: a different rustc must not invalidate the host build's cache.
export RUSTC=/usr/bin/rustc RUSTC_BOOTSTRAP=1 CARGO_TARGET_WASM32_UNKNOWN_UNKNOWN_LINKER=wasm-ld-16
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-target/wasm}"
exec /usr/bin/cargo build --profile wasm --target wasm32-unknown-unknown -Zbuild-std=std,panic_abort "$@"
