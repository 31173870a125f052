# default_model.cmake — the bundled default model as shipped (tests/cli/check_default_model.py):
# size, loading, calibration, and its quality on a fresh unseen-tool sample against the floors
# the model card (docs/models.md) sets. Labelled slow: the Release pass only.
add_test(NAME default_model COMMAND ${NP_PYTHON} ${NP_SOURCE_DIR}/tests/cli/check_default_model.py
         --cli ${NP_CLI} --source ${NP_SOURCE_DIR})
set_tests_properties(default_model PROPERTIES TIMEOUT 300 LABELS "slow")
