#!/usr/bin/env bash
# The whole test suite, as CI runs it: formatting, lints, every crate's tests (unit,
# integration, the policies/ bundle tests with coverage and mutation), the CLI on the demo
# bundle, the wasm32 build of the browser face over policy-core, and a bounded fuzzing run.
set -euo pipefail
. "$(dirname "$0")/paths.sh"
export CI="${CI:-true}"
# A one-off build: incremental state would only be written, never reused (GBs of disk).
export CARGO_INCREMENTAL="${CARGO_INCREMENTAL:-0}"
step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }

step "setup"; scripts/setup.sh
step "cargo fmt --check"; cargo fmt --all -- --check
step "cargo clippy -D warnings"; cargo clippy --workspace --all-targets --locked -- -D warnings
# The authoring CLI alone (no `server` feature) must build, lint clean and link none of the
# server's runtime: no tokio, wasmtime, SQLite or PostgreSQL in its graph.
step "sesame without the server feature: clippy, and none of tokio/wasmtime/rusqlite/postgres"
cargo clippy -p sesame-cli --no-default-features --all-targets --locked -- -D warnings
if cargo tree -p sesame-cli --no-default-features -e normal --prefix none --locked \
  | grep -E '^(tokio|wasmtime|rusqlite|postgres|axum) '; then
  echo "the authoring CLI links a server dependency" >&2; exit 1
fi
# The wasm faces first: the guest and browser tests below load what this builds.
step "wasm32-unknown-unknown: browser face and wasmtime guest (policy-core under both)"
scripts/wasm-build.sh wasm -p wasm-bindings --locked
scripts/wasm-build.sh wasm-guest -p wasm-guest --locked
ls -l "$BROWSER_WASM" "$GUEST_WASM"
step "browser package (wasm-bindgen ES module + typed wrapper) into $PKG"; scripts/browser-pkg.sh
step "cargo test (unit, cross-crate, CLI, server end to end, wasmtime guest and browser package vs native)"; cargo test --workspace --locked
step "sesame check + fmt --check + test policies/ (fails on any failing policy test)"
cargo run --quiet --locked -p sesame-cli --bin sesame -- check policies
cargo run --quiet --locked -p sesame-cli --bin sesame -- fmt --check policies
cargo run --quiet --locked -p sesame-cli --bin sesame -- test policies
step "sesame check + test host-server/admin-policy (who may use the admin API)"
cargo run --quiet --locked -p sesame-cli --bin sesame -- check host-server/admin-policy
cargo run --quiet --locked -p sesame-cli --bin sesame -- test host-server/admin-policy
# Fuzzing, bounded: every target (bundle files, decision requests, entity deltas, directory
# operations, entity files) for 45 s; a longer run is `scripts/fuzz.sh` alone (docs/fuzzing.md).
step "fuzz policy-core: each target 45 s (fails on any crash)"; scripts/fuzz.sh --time 45
step "all tests passed"
