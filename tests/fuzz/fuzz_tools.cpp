// fuzz_tools.cpp — libFuzzer target: arbitrary bytes as a tools JSON list and as a model
// answer. parse_tools must return ok or kInvalidTools/kInvalidInput; an accepted list must
// re-normalise to the same bytes (normalisation is idempotent, docs/tools.md) and yield a
// grammar; parse_calls must return ok or kInvalidInput against the list (or a fixed one).
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "decode/call_grammar.h"
#include "np/tools.h"

namespace {

const np::ToolSet& fixed_tools() {
  static const np::ToolSet set = np::parse_tools(
      R"([{"name":"getWeather","parameters":{"location":{"type":"string","required":true}}},)"
      R"({"type":"function","function":{"name":"set.lights","parameters":{"type":"object",)"
      R"("properties":{"on":{"type":"boolean"}},"required":["on"]}}}])").take();
  return set;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  auto set = np::parse_tools(text);
  if (set.ok()) {
    auto again = np::parse_tools(set.value().normalized_json);
    if (!again.ok() || again.value().normalized_json != set.value().normalized_json) std::abort();
    (void)np::grammar_tools(set.value());
    auto calls = np::parse_calls(text, set.value());
    if (!calls.ok() && calls.status().code() != np::Code::kInvalidInput) std::abort();
  } else if (set.status().code() != np::Code::kInvalidTools && set.status().code() != np::Code::kInvalidInput) {
    std::abort();
  }
  auto calls = np::parse_calls(text, fixed_tools());
  if (calls.ok()) {
    (void)np::calls_to_json(calls.value());
  } else if (calls.status().code() != np::Code::kInvalidInput) {
    std::abort();
  }
  return 0;
}
