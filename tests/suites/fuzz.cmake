# fuzz.cmake — the libFuzzer smoke run (tools/fuzz.sh --smoke): every saved crash input in
# tests/fuzz/regressions/<target>/ replayed, then each target (tests/fuzz/fuzz_*.cpp) fuzzed
# for 8 seconds from its committed seeds. Labelled slow so that it runs once, in the Release
# pass: the fuzzers carry their own ASan + UBSan. tools/test.sh builds them (build-fuzz/,
# clang) before ctest, so this test only runs them (it builds them itself when run alone).
find_program(NP_CLANGXX clang++)
if(NP_CLANGXX AND NOT NP_FUZZ AND NOT NP_SANITIZE)
  add_test(NAME fuzz_smoke COMMAND bash ${NP_SOURCE_DIR}/tools/fuzz.sh --smoke 8)
  set_tests_properties(fuzz_smoke PROPERTIES TIMEOUT 1200 LABELS slow)
endif()
