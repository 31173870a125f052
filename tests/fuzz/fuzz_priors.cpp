// fuzz_priors.cpp — libFuzzer target: the decoding priors over any query.
// Input: a query, a 0x00 byte, a tools JSON list, a 0x00 byte, then token choices (two bytes
// per step pick the token the "model" prefers: scripted_model.h). The decoder runs with every
// prior the shipped model uses on (the lexical tool prior with the rest-of-request scores and
// the sole match, the copy prior and its unit, direction and naming rules, the echo prior,
// numeric units, a first-call ban from the first choice byte) at the default model's weights,
// with the query as the copy source: the priors index the query byte by byte, so any bytes
// (invalid UTF-8, digits and ':' runs, quotes, a query of one byte) must leave them in bounds.
// The answer must parse and every call must follow its tool's schema (tests/core/schema_check.h),
// the lexical scores must be finite and non-negative, and the second look's check
// (second_look_tool) must name no tool or one of the offered ones.
#include <cmath>
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
#include "decode/tool_prior.h"
#include "np/model.h"
#include "np/tools.h"
#include "schema_check.h"
#include "scripted_model.h"

namespace {

// The next 0x00-terminated part of [*at, end): the bytes before the 0x00 (all that is left
// where there is none); *at moves past it.
std::string_view part(const uint8_t** at, const uint8_t* end) {
  const uint8_t* zero = static_cast<const uint8_t*>(std::memchr(*at, 0, static_cast<size_t>(end - *at)));
  const uint8_t* stop = zero ? zero : end;
  const std::string_view out(reinterpret_cast<const char*>(*at), static_cast<size_t>(stop - *at));
  *at = zero ? zero + 1 : end;
  return out;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const uint8_t* at = data;
  const uint8_t* end = data + size;
  const std::string_view query = part(&at, end);
  const std::string_view tools_text = part(&at, end);
  const uint8_t* choices = at;
  const size_t n_choices = static_cast<size_t>(end - choices) / 2;
  if (query.size() > 4096) return 0;  // ToolCaller refuses longer queries (kMaxQueryBytes is larger; this keeps runs fast)

  auto set = np::parse_tools(tools_text);
  if (!set.ok()) return 0;
  const nlohmann::ordered_json tools = nlohmann::ordered_json::parse(tools_text, nullptr, false);
  if (tools.is_discarded()) std::abort();  // parse_tools accepted it
  const std::vector<np::GrammarTool> gtools = np::grammar_tools(set.value());
  const std::vector<np::ToolWords> words = np::tool_words(set.value());
  if (words.size() != gtools.size()) std::abort();
  std::vector<std::vector<float>> rest;
  const std::vector<float> scores = np::lexical_tool_scores(query, words, &rest);
  if (scores.size() != words.size() || rest.size() != words.size()) std::abort();
  for (const float s : scores)
    if (!std::isfinite(s) || s < 0.0f) std::abort();
  for (const std::vector<float>& row : rest)
    for (const float s : row)
      if (!std::isfinite(s) || s < 0.0f) std::abort();

  const np::Tokenizer& tok = fuzz::scripted_tokenizer();
  fuzz::ScriptedModel model(tok, choices, n_choices);
  np::DecodeSpec spec;
  spec.tokenizer = &tok;
  spec.budget = model.budget();
  spec.tools = &gtools;
  spec.tool_scores = &scores;
  spec.rest_scores = &rest;
  spec.name_weight = 1.5f;  // the default model's priors (docs/models.md)
  spec.call_weight = 4.0f;
  spec.call_margin = 1.0f;
  spec.sole_weight = 3.0f;
  spec.copy_source = query;
  spec.copy_weight = 10.0f;
  spec.tool_words = &words;
  spec.echo_weight = 5.0f;
  if (n_choices > 0 && !gtools.empty() && (choices[0] & 1))
    spec.first_call_ban = static_cast<int>(choices[1] % gtools.size());
  np::DecodeOutput out;
  np::Status st = np::greedy_decode(spec, std::ref(model), &out);
  if (!st.ok()) std::abort();
  auto calls = np::parse_calls(out.text, set.value());
  if (!calls.ok()) std::abort();
  for (const np::Call& c : calls.value())
    if (!schema_check::check_call(tools, c.name, c.arguments).empty()) std::abort();
  const int again = np::second_look_tool(query, calls.value(), words);
  if (again < -1 || again >= static_cast<int>(gtools.size())) std::abort();
  return 0;
}
