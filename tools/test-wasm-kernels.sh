#!/usr/bin/env bash
# test-wasm-kernels.sh — runs tests/core/test_simd_kernels.cpp (the few-token matvec, the GEMM
# micro-kernel and the softmax's exp against their references) compiled with Emscripten and
# -msimd128, under
# Node, so the WASM SIMD128 kernels the browser builds run are checked at the same awkward
# sizes as the native ones. Single-threaded build (no pthreads): the thread-count cases run
# inline. Builds incrementally in build-wasm-kernels/ (Catch2's main is compiled once).
# Registered with ctest as wasm_kernels (tests/suites/wasm_kernels.cmake).
# Usage: bash tools/test-wasm-kernels.sh [Catch2 test spec, default "[matvec],[simd]"]
set -euo pipefail
cd "$(dirname "$0")/.."
command -v em++ >/dev/null || { echo "em++ not found: run tools/install-deps.sh" >&2; exit 1; }
export NODE_PATH=/usr/share/nodejs   # Debian emscripten runs acorn from Debian node-acorn
out=build-wasm-kernels
mkdir -p "$out/include/catch2"
# em++ must not see /usr/include: Catch2 is copied, as the CMake build does.
cmp -s /usr/include/catch2/catch.hpp "$out/include/catch2/catch.hpp" || cp /usr/include/catch2/catch.hpp "$out/include/catch2/"
# Catch2 reports failures through exceptions, so this test binary (only) enables them.
flags=(-O2 -std=c++17 -msimd128 -fexceptions -Icore/include -Icore/src -isystem "$out/include")
if [ ! -f "$out/catch_main.o" ] || [ tests/core/catch_main.cpp -nt "$out/catch_main.o" ]; then
  em++ "${flags[@]}" -c tests/core/catch_main.cpp -o "$out/catch_main.o"
fi
sources=(tests/core/test_simd_kernels.cpp core/src/ops/linear.cpp core/src/ops/attention.cpp core/src/ops/attention_rows.cpp core/src/ops/attention_q8.cpp core/src/ops/kv_q8.cpp core/src/ops/norm.cpp core/src/ops/gemm.cpp core/src/ops/gemm_q8_int16.cpp
         core/src/util/threads.cpp)
em++ "${flags[@]}" "${sources[@]}" "$out/catch_main.o" -sENVIRONMENT=node -sALLOW_MEMORY_GROWTH=1 \
  -sEXIT_RUNTIME=1 -o "$out/test_simd_kernels.js"
# Node 20's fetch cannot load a file path, which Emscripten 3.1.6's glue tries first.
node --no-experimental-fetch "$out/test_simd_kernels.js" "${1:-[matvec],[simd]}"
