#!/usr/bin/env bash
# The network benchmark (docs/server.md, "Memory model"): generated accounting networks of about
# 220,000 and 1,100,000 entities, each loaded by plain cedar-policy and by Sesame alone in their
# own process (load time, peak memory), Sesame's decisions through a wasmtime guest on
# host-packed slices (p50/p99) and one-entity deltas, then the server on the same file with 1
# and 4 workers: start-up time, resident memory, single decisions over loopback (p50/p99);
# then a network of many firms served with --entity-memory (tenants on demand).
# A benchmark, not a test: it prints figures and fails only if something refuses to run.
#   scripts/bench-network.sh            both sizes
#   SIZES="500 2000 200000" scripts/bench-network.sh    users clients documents, one size
#   SIZES= TENANTS="500 5 20 2200" ENTITY_MEMORY=1GiB scripts/bench-network.sh   tenants on demand only
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
SIZES=${SIZES-"500 2000 200000
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

# Tenants on demand: a network of many firms (TENANTS="firms users clients documents", each
# firm that size) served with a memory budget (ENTITY_MEMORY). First start: the file stored and
# its tenants assigned; then a restart (the shared entities only), each of COLD firms' first
# decision (its tenant loaded from the store), the same decisions again (resident), and a sweep
# over every firm (loads and evictions within the budget). Times are curl's, loopback included.
read -r firms t_users t_clients t_documents <<< "${TENANTS:-500 5 20 2200}"
file="$work/tenants.json"
"$SESAME" gen-firm --users "$t_users" --clients "$t_clients" --documents "$t_documents" \
  --requests 0 --entities-only --firms "$firms" > "$file"
echo "== tenants on demand: $firms firms of $t_users users, $t_clients clients, $t_documents documents ($(du -h "$file" | cut -f1) of JSON), --entity-memory ${ENTITY_MEMORY:=1GiB}"
data="$work/data-tenants"
port=$((port + 1))
serve() {
  "$SESAME" serve --data "$data" --bundle policies --entities "$file" --workers 2 \
    --listen "127.0.0.1:$port" --guest "$GUEST_WASM" --decision-log-sample 0 \
    --entity-memory "$ENTITY_MEMORY" > "$work/serve-tenants.log" 2>&1 &
  server_pid=$!
  local started; started=$(date +%s.%N)
  until curl -sf "http://127.0.0.1:$port/readyz" > /dev/null; do
    kill -0 "$server_pid" 2>/dev/null || { cat "$work/serve-tenants.log"; exit 1; }
    sleep 0.2
  done
  printf '%s: ready after %.1f s; RSS %d MiB, peak %d MiB\n' "$1" \
    "$(echo "$(date +%s.%N) - $started" | bc)" \
    $(( $(proc_kb "$server_pid" VmRSS) / 1024 )) $(( $(proc_kb "$server_pid" VmHWM) / 1024 ))
}
decide_ms() {
  curl -s -o /dev/null -w '%{time_total}\n' -H 'content-type: application/json' \
    -d "{\"principal\":{\"type\":\"User\",\"id\":\"f$1-u2\"},\"action\":{\"type\":\"Action\",\"id\":\"view_client\"},\"resource\":{\"type\":\"Client\",\"id\":\"f$1-c0\"}}" \
    "http://127.0.0.1:$port/v1/decide" | awk '{ printf "%.2f\n", $1 * 1000 }'
}
summary() { sort -n | awk '{ a[NR] = $1 } END { printf "p50 %.2f ms, max %.2f ms (%d calls)\n", a[int((NR + 1) / 2)], a[NR], NR }'; }
metric() { curl -s "http://127.0.0.1:$port/metrics" | awk -v m="$1" '$1 == m { print $2 }'; }
serve "first start (stored, tenants assigned)"
kill "$server_pid"; wait "$server_pid" 2>/dev/null || true
serve "restart (shared entities only)"
cold=${COLD:-20}
echo "cold tenant, first decision: $(for f in $(seq 0 $((cold - 1))); do decide_ms "$f"; done | summary)"
echo "the same firms again (resident): $(for f in $(seq 0 $((cold - 1))); do decide_ms "$f"; done | summary)"
echo "sweep over every firm: $(for f in $(seq 0 $((firms - 1))); do decide_ms "$f"; done | summary)"
printf 'after the sweep: RSS %d MiB; tenants resident %s, loads %s, evictions %s, bytes %s\n' \
  $(( $(proc_kb "$server_pid" VmRSS) / 1024 )) "$(metric sesame_tenants_loaded)" \
  "$(metric sesame_tenant_loads_total)" "$(metric sesame_tenant_evictions_total)" "$(metric sesame_tenant_bytes)"
kill "$server_pid"; wait "$server_pid" 2>/dev/null || true; server_pid=
