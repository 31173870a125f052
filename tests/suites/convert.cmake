# convert.cmake — tools/convert-needle (docs/needle-weights.md) on checkpoints built like
# Cactus's needle.pkl: GGUF bytes, engine logits/embeddings against a numpy forward pass over
# the pickle's Flax tree, refusals of incomplete or hostile pickles, tokenizer ids against
# spm_encode (tests/convert/run_convert_tests.py). About 20 s; needs spm_train/spm_encode.
add_test(NAME convert
         COMMAND ${NP_PYTHON} ${NP_SOURCE_DIR}/tests/convert/run_convert_tests.py
                 --cli ${NP_CLI} --work ${CMAKE_BINARY_DIR}/convert_suite)
set_tests_properties(convert PROPERTIES TIMEOUT 170)
