// fuzz_jsonl.cpp — libFuzzer target: arbitrary bytes as one line of Needle training data
// (np::parse_example), with and without the argument-key check. Every input must give ok or
// a Status; an accepted example must have a non-empty query and answers naming its tools.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "np/dataset.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view line(reinterpret_cast<const char*>(data), size);
  for (bool check_keys : {true, false}) {
    np::Example ex;
    np::Status st = np::parse_example(line, 1, check_keys, &ex);
    if (!st.ok()) {
      if (st.code() == np::Code::kOk || st.code() == np::Code::kInternal) std::abort();
      continue;
    }
    if (ex.query.empty()) std::abort();
    for (const np::AnswerCall& a : ex.answers)
      if (!ex.toolset.find(a.name)) std::abort();
  }
  return 0;
}
