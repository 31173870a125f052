#!/usr/bin/env bash
# test.sh — builds everything and runs every test suite: the Release build's ctest
# (unit tests, tokenizer agreement with SentencePiece, NumPy parity, CLI), then the same
# suites under AddressSanitizer + UndefinedBehaviorSanitizer (less those labelled slow). Installs what is missing.
set -euo pipefail
cd "$(dirname "$0")/.."
bash tools/install-deps.sh
JOBS=$(nproc)

echo "== Release build and tests"
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release
cmake --build build -j"$JOBS"
bash tools/build-wasm.sh   # the WebAssembly builds and npm/dist for the web suites (incremental)
bash tools/fuzz.sh --build-only   # the libFuzzer targets (build-fuzz/, clang) for ctest's fuzz_smoke
(cd build && ctest --output-on-failure -j1)

echo "== ASan + UBSan build and tests"
cmake -S . -B build-asan -DCMAKE_BUILD_TYPE=RelWithDebInfo -DNP_SANITIZE=ON
cmake --build build-asan -j"$JOBS"
(cd build-asan && ASAN_OPTIONS=detect_leaks=1:abort_on_error=0 UBSAN_OPTIONS=print_stacktrace=1 \
  ctest --output-on-failure -j1 -LE slow)
