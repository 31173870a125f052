# tools.cmake — the tools-schema layer against real Python (tests/tools/check_dumps.py):
# `needlepoint normalize-tools` must print exactly what Python's
# json.dumps(normalised, separators=(",", ":")) prints, and reject what the rules reject.
add_test(NAME tools_dumps COMMAND ${NP_PYTHON} ${NP_SOURCE_DIR}/tests/tools/check_dumps.py ${NP_CLI})
set_tests_properties(tools_dumps PROPERTIES TIMEOUT 300)
