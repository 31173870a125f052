// fuzz_tokenizer.cpp — libFuzzer target: the BPE tokenizer (a fixed synthetic vocabulary
// with byte fallback) on arbitrary bytes: encode() must give ids inside the vocabulary and
// never fault, whatever the bytes (invalid UTF-8 included); decode() of arbitrary ids, out
// of range ones included (skipped by contract), must not fault.
// Not here: agreement with spm_encode (tests/tokenizer/run_agreement.py).
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <vector>

#include "np/model.h"
#include "np/tokenizer.h"

namespace {

const np::Tokenizer& tokenizer() {
  static const np::Tokenizer tok = np::synthetic_tokenizer(1024).take();
  return tok;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const np::Tokenizer& t = tokenizer();
  const std::string text(reinterpret_cast<const char*>(data), size);
  const std::vector<int32_t> ids = t.encode(text);
  for (int32_t id : ids)
    if (id < 0 || id >= t.vocab_size()) std::abort();
  (void)t.decode(ids);
  // The same bytes read as token ids (any value, also out of range).
  std::vector<int32_t> raw;
  for (size_t i = 0; i + 2 <= size; i += 2) raw.push_back(static_cast<int16_t>(data[i] | (data[i + 1] << 8)));
  (void)t.decode(raw);
  for (int32_t id : raw)
    if (id >= 0 && id < t.vocab_size()) (void)t.token_text(id);
  return 0;
}
