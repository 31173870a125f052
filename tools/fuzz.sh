#!/usr/bin/env bash
# fuzz.sh — builds the libFuzzer targets (tests/fuzz/fuzz_*.cpp) with Debian's clang, ASan and
# UBSan in build-fuzz/, replays every saved crash in tests/fuzz/regressions/<target>/, then
# fuzzes each target for a set time starting from its seed corpus in tests/fuzz/corpus/<target>/,
# and prints per target: executions, coverage (libFuzzer's cov: edges and ft: features),
# corpus size and crashes. Exit status 1 when a regression input or the fuzzing crashed.
#
#   tools/fuzz.sh [SECONDS]        fuzz each target SECONDS (default 60); the grown corpus is
#                                  kept in build-fuzz/fuzz-corpus/<target>/ for the next run
#   tools/fuzz.sh --smoke [SECONDS] the CI mode (ctest fuzz_smoke): regressions, then SECONDS
#                                  (default 8) per target from the committed seeds only
#   tools/fuzz.sh --build-only     just build (tools/test.sh does this before ctest)
#   --targets gguf,tools           only these targets
# A crash leaves its input in build-fuzz/fuzz-run/artifacts/<target>/crash-* (smoke runs:
# build-fuzz/fuzz-smoke.*/artifacts/, kept when something crashed); reproduce with
# build-fuzz/fuzz_<target> FILE, fix core/, and commit FILE under tests/fuzz/regressions/<target>/.
set -euo pipefail
cd "$(dirname "$0")/.."

MODE=run
SECONDS_PER=""
ONLY=""
while [ $# -gt 0 ]; do
  case "$1" in
    --smoke) MODE=smoke ;;
    --build-only) MODE=build ;;
    --targets) shift; ONLY="$1" ;;
    [0-9]*) SECONDS_PER="$1" ;;
    *) echo "usage: tools/fuzz.sh [--smoke|--build-only] [--targets a,b] [SECONDS]" >&2; exit 2 ;;
  esac
  shift
done
[ -n "$SECONDS_PER" ] || { [ "$MODE" = smoke ] && SECONDS_PER=8 || SECONDS_PER=60; }

BUILD=${NP_FUZZ_BUILD:-build-fuzz}
CXX_BIN=${NP_FUZZ_CXX:-clang++}
command -v "$CXX_BIN" >/dev/null || { echo "fuzz.sh: $CXX_BIN not found (bash tools/install-deps.sh)" >&2; exit 2; }

TARGETS=()
for src in tests/fuzz/fuzz_*.cpp; do
  name=$(basename "$src" .cpp)
  name=${name#fuzz_}
  if [ -z "$ONLY" ] || [[ ",$ONLY," == *",$name,"* ]]; then TARGETS+=("$name"); fi
done

cmake -S . -B "$BUILD" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCMAKE_CXX_COMPILER="$CXX_BIN" -DNP_FUZZ=ON >/dev/null
cmake --build "$BUILD" -j"$(nproc)" --target $(printf 'fuzz_%s ' "${TARGETS[@]}")
[ "$MODE" = build ] && exit 0

export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1}
failed=0
# Logs and the summary: build-fuzz/fuzz-run/ for timed runs; a fresh build-fuzz/fuzz-smoke.*/
# per smoke run (several test runs may share this tree), removed when nothing crashed.
if [ "$MODE" = smoke ]; then
  OUT=$(mktemp -d "$BUILD/fuzz-smoke.XXXXXX")
else
  OUT="$BUILD/fuzz-run"
  mkdir -p "$OUT"
fi
summary="$OUT/summary.txt"
{
  echo "# tools/fuzz.sh $MODE, ${SECONDS_PER}s per target, $(date -u +%Y-%m-%dT%H:%MZ), $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg)"
  printf '%-10s %12s %8s %8s %8s %8s %s\n' target execs exec/s cov ft corpus crashes
} > "$summary"

for name in "${TARGETS[@]}"; do
  bin="$BUILD/fuzz_$name"
  seeds="tests/fuzz/corpus/$name"
  regress="tests/fuzz/regressions/$name"
  artifacts="$OUT/artifacts/$name"
  mkdir -p "$artifacts"
  log="$OUT/$name.log"

  # 1. Every saved crash must now pass (each file is run once).
  if [ -d "$regress" ] && [ -n "$(ls -A "$regress" 2>/dev/null)" ]; then
    if ! "$bin" -runs=1 "$regress"/* > "$OUT/$name-regressions.log" 2>&1; then
      echo "fuzz.sh: $name: a regression input fails again (see $OUT/$name-regressions.log)" >&2
      failed=1
    fi
  fi

  # 2. Fuzz. New inputs go to a scratch (smoke) or kept (run) directory, never to the seeds.
  if [ "$MODE" = smoke ]; then
    work=$(mktemp -d)
  else
    work="$BUILD/fuzz-corpus/$name"
    mkdir -p "$work"
  fi
  before=$(ls "$artifacts" | wc -l)
  set +e
  "$bin" -max_total_time="$SECONDS_PER" -print_final_stats=1 -timeout=10 -rss_limit_mb=2048 \
    -artifact_prefix="$artifacts/" "$work" "$seeds" > "$log" 2>&1
  rc=$?
  set -e
  [ "$MODE" = smoke ] && rm -rf "$work"
  crashes=$(( $(ls "$artifacts" | wc -l) - before ))
  execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
  speed=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -1)
  last=$(grep -E '^#[0-9]+.* cov: ' "$log" | tail -1)
  cov=$(sed -n 's/.* cov: \([0-9]*\).*/\1/p' <<< "$last")
  ft=$(sed -n 's/.* ft: \([0-9]*\).*/\1/p' <<< "$last")
  corp=$(sed -n 's/.* corp: \([0-9]*\/[0-9A-Za-z]*\).*/\1/p' <<< "$last")
  printf '%-10s %12s %8s %8s %8s %8s %s\n' "$name" "${execs:-?}" "${speed:-?}" "${cov:-?}" "${ft:-?}" "${corp:-?}" "$crashes" >> "$summary"
  if [ "$rc" -ne 0 ] || [ "$crashes" -ne 0 ]; then
    echo "fuzz.sh: $name: exit $rc, $crashes new crash input(s) in $artifacts (log: $log)" >&2
    grep -m5 -E 'ERROR|SUMMARY|runtime error' "$log" >&2 || true
    failed=1
  fi
done
cat "$summary"
[ "$MODE" = smoke ] && [ "$failed" -eq 0 ] && rm -rf "$OUT"
exit $failed
