# tokenizer.cmake — needlepoint's tokenizer against SentencePiece's spm_encode/spm_decode,
# line for line (tests/tokenizer/run_agreement.py, docs/tokenizer.md). Trained models are
# cached in the build tree (tokenizer_suite/), so only the first run trains (~15 s).
# Missing spm_* tools fail the suite (tools/install-deps.sh installs them).
add_test(NAME tokenizer_agreement
         COMMAND ${NP_PYTHON} ${NP_SOURCE_DIR}/tests/tokenizer/run_agreement.py
                 --cli ${NP_CLI} --work ${CMAKE_BINARY_DIR}/tokenizer_suite)
set_tests_properties(tokenizer_agreement PROPERTIES TIMEOUT 300)
