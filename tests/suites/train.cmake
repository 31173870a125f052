# train.cmake — the training engine: loss and gradients against PyTorch autograd.
add_test(NAME train_parity COMMAND ${NP_PYTHON} ${NP_SOURCE_DIR}/tests/ref/check_train_parity.py --cli ${NP_CLI})
set_tests_properties(train_parity PROPERTIES TIMEOUT 300)
# The CLI training loop end to end on the tiny fixture (tests/cli/check_train.py).
add_test(NAME train_cli COMMAND ${NP_PYTHON} ${NP_SOURCE_DIR}/tests/cli/check_train.py --cli ${NP_CLI} --source ${NP_SOURCE_DIR})
# Labelled slow: tools/test.sh runs it in the Release pass only (training under ASan adds
# nothing that train_parity does not already cover, at ten times the cost).
set_tests_properties(train_cli PROPERTIES TIMEOUT 900 LABELS slow)
