#!/usr/bin/env bash
# Builds a crate for wasm32-unknown-unknown (release). Usage: scripts/wasm-build.sh -p CRATE
# Uses a rustup wasm32 target when installed, otherwise Debian's rustc-web with build-std.
set -euo pipefail
cd "$(dirname "$0")/.."
if rustup target list --installed 2>/dev/null | grep -q '^wasm32-unknown-unknown$'; then
  exec cargo build --release --target wasm32-unknown-unknown "$@"
fi
# Separate target dir: a different rustc must not invalidate the host build's cache.
export RUSTC=/usr/bin/rustc RUSTC_BOOTSTRAP=1 CARGO_TARGET_WASM32_UNKNOWN_UNKNOWN_LINKER=wasm-ld-16
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-target/wasm}"
exec /usr/bin/cargo build --release --target wasm32-unknown-unknown -Zbuild-std=std,panic_abort "$@"
