#!/usr/bin/env bash
# Installs what this machine is missing to build and test Sesame. Idempotent; needs root (or
# sudo) only when Debian packages are missing. Safe with CI=true and no stdin.
set -euo pipefail
. "$(dirname "$0")/paths.sh"

log() { printf '\033[1m[setup]\033[0m %s\n' "$*" >&2; }

as_root() {
  if [ "$(id -u)" = 0 ]; then "$@"; else sudo -n "$@"; fi
}

# wasm32-unknown-unknown: rustup here ships only the x86_64 std and cannot download another, so
# we build std from source with Debian's rustc-web (a rustc with the std sources) and link with
# lld. Prefer a rustup wasm32 target when one is installed.
need_pkgs=()
if ! rustup target list --installed 2>/dev/null | grep -q '^wasm32-unknown-unknown$'; then
  [ -x /usr/bin/rustc ] && /usr/bin/rustc --version 2>/dev/null | grep -q . || need_pkgs+=(rustc-web cargo-web rust-web-src)
  [ -d /usr/lib/rustlib/src/rust/library ] || need_pkgs+=(rust-web-src)
  command -v wasm-ld-16 >/dev/null || need_pkgs+=(lld-16)
  [ -x /usr/bin/cargo ] || need_pkgs+=(cargo-web)
fi
# A C++ compiler: libfuzzer-sys builds libFuzzer for the fuzz targets (scripts/fuzz.sh).
command -v c++ >/dev/null || need_pkgs+=(g++)
# Headless Chromium for the browser end-to-end tests (driven by playwright-core from npm).
[ -x /usr/bin/chromium ] || need_pkgs+=(chromium)
# A PostgreSQL server for the replica tests (started by the tests themselves, in a temp dir).
ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || need_pkgs+=(postgresql)

if [ "${#need_pkgs[@]}" -gt 0 ]; then
  log "installing Debian packages: ${need_pkgs[*]}"
  export DEBIAN_FRONTEND=noninteractive
  as_root apt-get update -qq
  as_root apt-get install -y -qq "${need_pkgs[@]}" >/dev/null
fi

command -v cargo >/dev/null || { echo "cargo (rustup) is required" >&2; exit 2; }
rustup component list --installed 2>/dev/null | grep -q '^rustfmt' || rustup component add rustfmt clippy 2>/dev/null || true
# wasm-bindgen-cli must match the wasm-bindgen crate exactly (its version is in Cargo.lock).
wb_version=$(grep -A1 '^name = "wasm-bindgen"$' Cargo.lock | sed -n 's/^version = "\(.*\)"/\1/p')
if [ "$(wasm-bindgen --version 2>/dev/null | awk '{print $2}')" != "$wb_version" ]; then
  log "installing wasm-bindgen-cli $wb_version (a few minutes, once per machine)"
  cargo install --quiet wasm-bindgen-cli --version "$wb_version"
fi
command -v node >/dev/null || { echo "node is required for the browser package tests" >&2; exit 2; }
if [ ! -d tests/e2e/node_modules/playwright-core ]; then
  log "installing playwright-core (npm, tests/e2e)"
  (cd tests/e2e && npm ci --no-audit --no-fund --silent)
fi
if [ ! -x web/editor/node_modules/.bin/esbuild ]; then
  log "installing the console's editor (CodeMirror + esbuild from npm, web/editor)"
  (cd web/editor && npm ci --no-audit --no-fund --silent)
fi

log "toolchain ready: $(cargo --version); wasm via $( [ -x /usr/bin/rustc ] && /usr/bin/rustc --version || echo rustup)"
