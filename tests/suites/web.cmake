# web.cmake — the WebAssembly builds and the npm package (tests/web/, node:test). They need
# npm/dist, which tools/build-wasm.sh builds (tools/test.sh runs it before ctest), Node and
# Debian's chromium (tools/install-deps.sh). A missing tool fails the suite, never skips it.
# Labelled slow: tools/test.sh runs them in the Release pass only (the ASan build does not
# touch the WebAssembly code).
find_program(NP_NODE NAMES node nodejs)
set(NP_WEB_SUITES
  node      # the JS API in Node on mt and st vs the native CLI, typed errors, abort, dispose
  package   # the npm pack tarball in a fresh project: by name, conditions, bin, default model
  edge      # the edge build in the real workerd, over HTTP on 127.0.0.1
  browser   # Chromium with and without COOP/COEP, in-thread and through the Worker proxy
  reliability  # memory bound, integrity, dispose, 200 concurrent calls, strict CSP
  handoff   # confidence, retrieve(), pre-selection, the fallback against a local OpenAI-style server
  finetune  # in-tab LoRA fine-tuning in Node (st, mt) and Chromium (Worker): gain, cancel, errors
  docs)     # docs/web.md against the .d.ts files (every export, member, code documented)
foreach(suite ${NP_WEB_SUITES})
  add_test(NAME web_${suite} COMMAND ${NP_NODE} --test ${NP_SOURCE_DIR}/tests/web/${suite}.test.mjs)
  set_tests_properties(web_${suite} PROPERTIES TIMEOUT 300 LABELS "slow;web" ENVIRONMENT "NP_CLI=${NP_CLI}")
endforeach()
