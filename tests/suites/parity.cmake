# parity.cmake — the numpy reference suites (tests/ref/, docs/reference.md).
# ref_selftest: the float64 reference and its GGUF reader/writer checked against themselves.
# parity: the engine CLI's logits and retrieval embeddings against the reference, err <= 1e-4.
add_test(NAME ref_selftest COMMAND ${NP_PYTHON} ${NP_SOURCE_DIR}/tests/ref/test_ref.py)
add_test(NAME parity COMMAND ${NP_PYTHON} ${NP_SOURCE_DIR}/tests/ref/check_parity.py --cli ${NP_CLI})
set_tests_properties(ref_selftest PROPERTIES TIMEOUT 120)
set_tests_properties(parity PROPERTIES TIMEOUT 600)
