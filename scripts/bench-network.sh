#!/usr/bin/env bash
# The network benchmark (docs/server.md, "Memory model"): generated accounting networks of about
# 220,000 and 1,100,000 entities, each loaded by plain cedar-policy and by Sesame alone in their
# own process (load time, peak memory), Sesame's decisions through a wasmtime guest on
# host-packed slices (p50/p99) and one-entity deltas, then the server on the same file with 1
# and 4 workers: start-up time, resident memory, single decisions over loopback (p50/p99).
# A benchmark, not a test: it prints figures and fails only if something refuses to run.
#   scripts/bench-network.sh            both sizes
#   SIZES="500 2000 200000" scripts/bench-network.sh    users clients documents, one size
set -euo pipefail
. "$(dirname "$0")/paths.sh"

cargo build --release -p sesame-cli --locked
scripts/wasm-build.sh wasm-guest -p wasm-guest --locked

work=$(mktemp -d "${TMPDIR:-/tmp}/sesame-network.XXXXXX")
server_pid=
cleanup() {
  [ -n "$server_pid" ] && kill "$server_pid" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

# One line per size: users clients documents (entities ≈ documents + 10 × clients + users).
SIZES=${SIZES:-"500 2000 200000
2500 10000 1000000"}

proc_kb() { awk -v k="$2:" '$1 == k { print $2 }' "/proc/$1/status"; }

port=18470
while read -r users clients documents; do
  [ -n "$users" ] || continue
  size=(--users "$users" --clients "$clients" --documents "$documents")
  file="$work/entities-$documents.json"
  "$SESAME" gen-firm "${size[@]}" --requests 0 --entities-only > "$file"
  echo "== network: $users users, $clients clients, $documents documents ($(du -h "$file" | cut -f1) of JSON)"
  "$SESAME" bench-load policies --engine cedar --entities "$file" "${size[@]}"
  "$SESAME" bench-load policies --engine sesame --entities "$file" "${size[@]}" --guest "$GUEST_WASM"
  for workers in 1 4; do
    data="$work/data-$documents-$workers"
    port=$((port + 1))
    started=$(date +%s.%N)
    "$SESAME" serve --data "$data" --bundle policies --entities "$file" --workers "$workers" \
      --listen "127.0.0.1:$port" --guest "$GUEST_WASM" --decision-log-sample 0 \
      > "$work/serve-$workers.log" 2>&1 &
    server_pid=$!
    until curl -sf "http://127.0.0.1:$port/readyz" > /dev/null; do
      kill -0 "$server_pid" 2>/dev/null || { cat "$work/serve-$workers.log"; exit 1; }
      sleep 0.2
    done
    ready=$(echo "$(date +%s.%N) - $started" | bc)
    printf 'server, %s worker(s): ready after %.1f s (first start: entities stored, then loaded); RSS %d MiB, peak %d MiB\n' \
      "$workers" "$ready" $(( $(proc_kb "$server_pid" VmRSS) / 1024 )) $(( $(proc_kb "$server_pid" VmHWM) / 1024 ))
    if [ "$workers" = 1 ]; then
      "$SESAME" loadtest policies --server "http://127.0.0.1:$port" --token-file "$data/admin.token" \
        "${size[@]}" --keep-entities --concurrency 1 --seconds 5 --requests 4000 \
        | grep -E "phase|native|server single  "
    fi
    printf '  after decisions: RSS %d MiB\n' $(( $(proc_kb "$server_pid" VmRSS) / 1024 ))
    kill "$server_pid"; wait "$server_pid" 2>/dev/null || true; server_pid=
  done
done <<< "$SIZES"
