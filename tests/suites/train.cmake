# train.cmake — the training engine: loss and gradients against PyTorch autograd.
add_test(NAME train_parity COMMAND ${NP_PYTHON} ${NP_SOURCE_DIR}/tests/ref/check_train_parity.py --cli ${NP_CLI})
set_tests_properties(train_parity PROPERTIES TIMEOUT 300)
