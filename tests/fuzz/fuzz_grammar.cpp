// fuzz_grammar.cpp — libFuzzer target: the grammar compiler and the constrained decoder.
// Input: a tools JSON list, a 0x00 byte, then token choices (two bytes per step pick the
// token the "model" prefers; the decoder must still only emit what the grammar allows).
// The decoded answer must parse, and every call in it (placeholders written by the grammar's
// completion included) must follow its tool's schema by the independent checker in
// tests/core/schema_check.h; a call count must agree with calls_closed().
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "decode/call_grammar.h"
#include "decode/greedy.h"
#include "np/model.h"
#include "np/tools.h"
#include "schema_check.h"
#include "scripted_model.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const uint8_t* zero = static_cast<const uint8_t*>(std::memchr(data, 0, size));
  const size_t tools_len = zero ? static_cast<size_t>(zero - data) : size;
  const std::string_view tools_text(reinterpret_cast<const char*>(data), tools_len);
  const uint8_t* choices = zero ? zero + 1 : data + size;
  const size_t n_choices = static_cast<size_t>(data + size - choices) / 2;

  auto set = np::parse_tools(tools_text);
  if (!set.ok()) return 0;
  const nlohmann::ordered_json tools = nlohmann::ordered_json::parse(tools_text, nullptr, false);
  if (tools.is_discarded()) std::abort();  // parse_tools accepted it
  const std::vector<np::GrammarTool> gtools = np::grammar_tools(set.value());

  const np::Tokenizer& tok = fuzz::scripted_tokenizer();
  fuzz::ScriptedModel model(tok, choices, n_choices);
  np::DecodeSpec spec;
  spec.tokenizer = &tok;
  spec.budget = model.budget();
  spec.tools = &gtools;
  np::DecodeOutput out;
  np::Status st = np::greedy_decode(spec, std::ref(model), &out);
  if (!st.ok()) std::abort();
  auto calls = np::parse_calls(out.text, set.value());
  if (!calls.ok()) std::abort();
  if (out.calls_closed > static_cast<int>(calls.value().size())) std::abort();
  if (!out.completed && out.calls_closed != static_cast<int>(calls.value().size())) std::abort();
  for (const np::Call& c : calls.value())
    if (!schema_check::check_call(tools, c.name, c.arguments).empty()) std::abort();
  return 0;
}
