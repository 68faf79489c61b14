#!/usr/bin/env bash
# Fuzzes policy-core with libFuzzer, one target per kind of untrusted input (see docs/fuzzing.md):
#   bundle     bundle files (policies, schema, entities, manifest, tests) through Bundle::load
#   decide     decide / batch / matrix / field_level request JSON against the demo bundle
#   delta      apply_delta JSON against the demo bundle and firm
#   directory  directory::plan with any DirectoryRequest JSON against the demo bundle and firm
#   entities   an entity file's text, read as a stream into a copy of the demo engine
#
# Usage: scripts/fuzz.sh [--runs N | --time SECONDS] [TARGET...]
#   default: every target for 1,000,000 executions. Prints, per target, the executions done and
#   the crashes found (a crash stops that target; its input is kept in fuzz/artifacts/TARGET/).
#   Exit 1 if any target crashed.
#
# Runs on stable rustc: the coverage instrumentation libFuzzer needs is passed as RUSTFLAGS
# (cargo-fuzz does the same, plus nightly-only sanitizers we go without). The corpus grows in
# fuzz/corpus/TARGET (not committed), seeded from fuzz/seeds/TARGET.
set -euo pipefail
. "$(dirname "$0")/paths.sh"

runs=1000000
seconds=""
targets=()
while [ $# -gt 0 ]; do
  case "$1" in
    --runs) runs="$2"; shift 2 ;;
    --time) seconds="$2"; shift 2 ;;
    -h|--help) sed -n '2,16p' "$0"; exit 0 ;;
    -*) echo "unknown option $1" >&2; exit 2 ;;
    *) targets+=("$1"); shift ;;
  esac
done
[ "${#targets[@]}" -gt 0 ] || targets=(bundle decide delta directory entities)

host=$(rustc -vV | sed -n 's/^host: //p')
# --target keeps the instrumentation off build scripts and proc macros (they run at build time
# and would miss libFuzzer's symbols).
export RUSTFLAGS="-Cpasses=sancov-module -Cllvm-args=-sanitizer-coverage-level=4 \
-Cllvm-args=-sanitizer-coverage-inline-8bit-counters -Cllvm-args=-sanitizer-coverage-pc-table \
-Cllvm-args=-sanitizer-coverage-trace-compares --cfg fuzzing -Cdebug-assertions -Coverflow-checks"
started=$(date +%s)
# Not --locked: fuzz/Cargo.lock follows policy-core's dependencies, which change in the root
# workspace; cargo adds what a change needs and keeps every other version.
# Their own target dir: the instrumentation flags must not invalidate the other builds.
CARGO_TARGET_DIR="$FUZZ_TARGET" cargo build --quiet --release --manifest-path fuzz/Cargo.toml \
  --target "$host" --bins
echo "fuzz build: $(( $(date +%s) - started )) s"

limit=(-runs="$runs")
[ -n "$seconds" ] && limit=(-max_total_time="$seconds")
crashed=0
for t in "${targets[@]}"; do
  bin="$FUZZ_TARGET/$host/release/$t"
  [ -x "$bin" ] || { echo "no fuzz target $t" >&2; exit 2; }
  mkdir -p "fuzz/corpus/$t" "fuzz/artifacts/$t"
  log="fuzz/artifacts/$t/last-run.log"
  # -max_len: 16 KiB holds a small bundle (the seeds); larger inputs only slow the search.
  # -rss_limit_mb: 2 GiB, libFuzzer's default and the guest's memory cap. -timeout: one input
  # may take at most 10 s.
  set +e
  "$bin" "${limit[@]}" -max_len=16384 -timeout=10 \
    -rss_limit_mb=2048 -print_final_stats=1 -artifact_prefix="fuzz/artifacts/$t/" \
    "fuzz/corpus/$t" "fuzz/seeds/$t" >"$log" 2>&1
  rc=$?
  set -e
  execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | awk '{s+=$1} END {print s+0}')
  crashes=$(grep -c 'Test unit written to' "$log" || true)
  echo "fuzz $t: $execs executions, $crashes crash(es)$([ "$rc" = 0 ] || echo ", libFuzzer exit $rc: see $log")"
  if [ "$rc" != 0 ] || [ "$crashes" != 0 ]; then
    crashed=1
    grep -E '(^==|^SUMMARY|panicked|overflow|Test unit written)' "$log" | head -5 || true
  fi
done
exit "$crashed"
