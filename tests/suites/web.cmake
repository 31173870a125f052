# web.cmake — the WebAssembly builds and the npm package (tests/web/). They need
# npm/dist, which tools/build-wasm.sh builds (tools/test.sh runs it before ctest).
# Labelled slow: tools/test.sh runs them in the Release pass only (the ASan build does not
# touch the WebAssembly code).
find_program(NP_NODE NAMES node nodejs)
if(NP_NODE)
  # The JS API in Node on mt and st against the native CLI, typed errors, abort, dispose.
  add_test(NAME web_node COMMAND ${NP_NODE} --test ${NP_SOURCE_DIR}/tests/web/node.test.mjs)
  set_tests_properties(web_node PROPERTIES TIMEOUT 300 LABELS "slow;web" ENVIRONMENT "NP_CLI=${NP_CLI}")
endif()
if(NP_NODE)
  # The packed tarball installed into a fresh project: by name from Node, exports
  # conditions, the needlepoint bin, the bundled default model.
  add_test(NAME web_package COMMAND ${NP_NODE} --test ${NP_SOURCE_DIR}/tests/web/package.test.mjs)
  set_tests_properties(web_package PROPERTIES TIMEOUT 300 LABELS "slow;web" ENVIRONMENT "NP_CLI=${NP_CLI}")
endif()
if(NP_NODE)
  # The edge build in the real workerd runtime, over HTTP on 127.0.0.1.
  add_test(NAME web_edge COMMAND ${NP_NODE} --test ${NP_SOURCE_DIR}/tests/web/edge.test.mjs)
  set_tests_properties(web_edge PROPERTIES TIMEOUT 300 LABELS "slow;web" ENVIRONMENT "NP_CLI=${NP_CLI}")
endif()
