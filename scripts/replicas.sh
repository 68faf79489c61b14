#!/usr/bin/env bash
# Several replicas on one PostgreSQL, locally: starts a throwaway PostgreSQL in $PGDIR (default
# .sesame-pg/, port 55432) and N replicas (default 2) of `sesame serve` on ports 8081, 8082, ...
# all on the demo bundle. Ctrl-C stops everything. Run scripts/run.sh (or the builds) first.
# PIN=1 pins replica i to core (i-1) mod cores with one guest worker each (to measure scaling
# on a small machine: `sesame loadtest --server URL1 --replica URL2`).
set -euo pipefail
. "$(dirname "$0")/paths.sh"
n="${1:-2}"
pgdir="${PGDIR:-$PWD/.sesame-pg}"
port="${PGPORT:-55432}"
bin=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -1)
as_pg() { if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi; }
if [ ! -d "$pgdir/data" ]; then
  mkdir -p "$pgdir"; [ "$(id -u)" = 0 ] && chown -R postgres:postgres "$pgdir"
  as_pg "$bin/initdb" -D "$pgdir/data" -A trust -U sesame >/dev/null
fi
as_pg "$bin/pg_ctl" -D "$pgdir/data" -o "-p $port -k $pgdir -c listen_addresses=127.0.0.1" -l "$pgdir/log" -w start >/dev/null
pids=()
cleanup() { kill "${pids[@]}" 2>/dev/null || true; as_pg "$bin/pg_ctl" -D "$pgdir/data" -m fast -w stop >/dev/null || true; }
trap cleanup EXIT INT TERM
url="postgres://sesame@127.0.0.1:$port/postgres"
# One admin token for every replica (each also writes its own to .sesame-replica-N/admin.token).
export SESAME_ADMIN_TOKEN="${SESAME_ADMIN_TOKEN:-$(head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n')}"
cores=$(nproc)
for i in $(seq 1 "$n"); do
  pin=(); workers=()
  if [ "${PIN:-0}" = 1 ]; then pin=(taskset -c $(( (i - 1) % cores ))); workers=(--workers 1); fi
  "${pin[@]}" "$SESAME" serve "${workers[@]}" --listen "127.0.0.1:$((8080 + i))" --data ".sesame-replica-$i" \
    --database-url "$url" --bundle policies --entities policies/tests/fixtures/demo-firm.json \
    --guest "$GUEST_WASM" --guest-cache "$GUEST_CACHE" &
  pids+=($!)
  sleep 1   # the first replica seeds the empty store; the others find it seeded
done
echo "replicas on http://127.0.0.1:8081..$((8080 + n)), store $url"
echo "admin token for all of them: SESAME_TOKEN=$SESAME_ADMIN_TOKEN"
wait
