# wasm_kernels.cmake — the SIMD kernel tests (tests/core/test_simd_kernels.cpp) compiled with
# Emscripten -msimd128 and run under Node by tools/test-wasm-kernels.sh, so the WASM SIMD128
# matvec and GEMM micro-kernel are checked against their references (about 15 s the first
# time). Labelled slow and web like the other WebAssembly suites: the Release pass of
# tools/test.sh runs it, the ASan pass does not.
add_test(NAME wasm_kernels COMMAND bash ${NP_SOURCE_DIR}/tools/test-wasm-kernels.sh)
set_tests_properties(wasm_kernels PROPERTIES TIMEOUT 300 LABELS "slow;web")
