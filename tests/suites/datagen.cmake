# datagen.cmake — the data factory's CLI end to end (tests/cli/check_datagen.py): generation,
# determinism, an independent Python check of every example, stats, split disjointness, errors.
add_test(NAME datagen_cli COMMAND ${NP_PYTHON} ${NP_SOURCE_DIR}/tests/cli/check_datagen.py --cli ${NP_CLI} --source ${NP_SOURCE_DIR})
set_tests_properties(datagen_cli PROPERTIES TIMEOUT 300)
