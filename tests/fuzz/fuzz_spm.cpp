// fuzz_spm.cpp — libFuzzer target: arbitrary bytes as a SentencePiece .model (our protobuf
// reader). Loading must return a Status; a model that loads must encode and decode text
// without faults and only produce ids inside its vocabulary.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>

#include "np/tokenizer.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  auto tok = np::Tokenizer::from_spm_bytes(data, size);
  if (!tok.ok()) return 0;
  const np::Tokenizer& t = tok.value();
  const std::string text = "Hello wörld, set a timer for 5 minutes 😀 <tools> [\"x\"]";
  const std::vector<int32_t> ids = t.encode(text);
  for (int32_t id : ids)
    if (id < 0 || id >= t.vocab_size()) std::abort();
  (void)t.decode(ids);
  return 0;
}
