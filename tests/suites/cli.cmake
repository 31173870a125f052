# The CLI end to end (tests/cli/check_cli.py).
add_test(NAME cli COMMAND ${NP_PYTHON} ${NP_SOURCE_DIR}/tests/cli/check_cli.py --cli ${NP_CLI})
