# demo.cmake — the demo page (demo/, tests/demo/) in Debian's Chromium via playwright-core,
# served on 127.0.0.1 with and without COOP/COEP. Needs npm/dist (tools/build-wasm.sh, which
# tools/test.sh runs before ctest); the test builds the demo site itself (demo/build.mjs) into
# a temporary folder. Labelled slow (Release pass only), like the web suites.
find_program(NP_NODE NAMES node nodejs)
add_test(NAME demo_browser COMMAND ${NP_NODE} --test ${NP_SOURCE_DIR}/tests/demo/demo.test.mjs)
set_tests_properties(demo_browser PROPERTIES TIMEOUT 400 LABELS "slow;web" ENVIRONMENT "NP_CLI=${NP_CLI}")
