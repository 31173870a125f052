// tool_caller.cpp — prompt building, greedy constrained decoding, result mapping.
#include "np/tool_caller.h"

#include <algorithm>
#include <chrono>

#include "decode/call_grammar.h"
#include "decode/greedy.h"
#include "np/dataset.h"

namespace np {

namespace {

using Clock = std::chrono::steady_clock;
double ms_since(Clock::time_point t0) {
  return std::chrono::duration<double, std::milli>(Clock::now() - t0).count();
}

// A JSON value as the model would write it: compact, non-ASCII left as UTF-8.
std::string raw_json(const nlohmann::ordered_json& v) {
  return v.dump(-1, ' ', false, nlohmann::ordered_json::error_handler_t::replace);
}

ValueKind kind_of(const ToolParam& p) {
  if (!p.enum_values.empty()) return ValueKind::kEnum;
  if (p.type == "string") return ValueKind::kString;
  if (p.type == "integer" || p.type == "int") return ValueKind::kInteger;
  if (p.type == "number" || p.type == "float" || p.type == "double") return ValueKind::kNumber;
  if (p.type == "boolean" || p.type == "bool") return ValueKind::kBoolean;
  return ValueKind::kAny;
}

std::vector<GrammarTool> grammar_tools(const ToolSet& set) {
  std::vector<GrammarTool> out;
  for (const Tool& t : set.tools) {
    GrammarTool g;
    g.name = t.name;
    for (const ToolParam& p : t.params) {
      GrammarParam gp;
      const std::string quoted = raw_json(nlohmann::ordered_json(p.name));
      gp.key = quoted.substr(1, quoted.size() - 2);
      gp.kind = kind_of(p);
      for (const auto& v : p.enum_values) gp.literals.push_back(raw_json(v));
      g.params.push_back(std::move(gp));
    }
    out.push_back(std::move(g));
  }
  return out;
}

}  // namespace

std::vector<int32_t> ToolCaller::build_encoder_input(std::string_view query, const std::string& tools_json,
                                                     bool* truncated) const {
  return build_encoder_ids(model_->tokenizer(), model_->config(), query, tools_json, truncated);
}

Result<CallResult> ToolCaller::call(std::string_view query, std::string_view tools_json,
                                    const CallOptions& options) const {
  const auto t_start = Clock::now();
  const ModelConfig& c = model_->config();
  const Tokenizer& tok = model_->tokenizer();
  if (query.empty()) return Status(Code::kInvalidInput, "query is empty");
  if (query.size() > (size_t{1} << 20)) return Status(Code::kInvalidInput, "query is longer than 1 MiB");
  if (options.max_tokens < 0) return Status(Code::kInvalidInput, "max_tokens must be >= 0");
  auto tools = parse_tools(tools_json);
  if (!tools.ok()) return tools.status();
  const ToolSet& set = tools.value();

  CallResult r;
  r.input_ids = build_encoder_input(query, set.normalized_json, &r.truncated);
  r.input_tokens = static_cast<int32_t>(r.input_ids.size());
  r.timings.tokenize_ms = ms_since(t_start);

  const auto t_enc = Clock::now();
  EncoderOutput enc;
  NP_RETURN_IF_ERROR(model_->encode(r.input_ids, &enc));
  r.timings.encode_ms = ms_since(t_enc);

  const auto t_dec = Clock::now();
  const std::vector<GrammarTool> gtools = grammar_tools(set);
  DecodeSpec spec;
  spec.tokenizer = &tok;
  spec.start_id = c.eos_id;
  spec.eos_id = c.eos_id;
  spec.tool_call_id = c.tool_call_id;
  spec.budget = std::min(options.max_tokens > 0 ? options.max_tokens : c.max_dec_len - 1, c.max_dec_len - 1);
  spec.constrained = options.constrained;
  spec.tools = &gtools;
  spec.on_token = options.on_token;
  DecoderState state = model_->new_decoder_state();
  DecodeOutput dec;
  NP_RETURN_IF_ERROR(greedy_decode(spec, [&](int32_t token, float* logits) {
    return model_->decode_step(enc, state, token, logits);
  }, &dec));
  r.output_ids = dec.ids;
  r.output_tokens = static_cast<int32_t>(dec.ids.size());
  r.raw = dec.text;
  r.completed = dec.completed;
  r.stop_reason = dec.stop_reason;

  auto calls = parse_calls(r.raw, set);
  if (calls.ok()) {
    r.calls = calls.take();
  } else {
    if (options.constrained)
      return Status(Code::kInternal, "constrained output did not parse: " + calls.status().message() + " raw: " + r.raw);
    r.valid = false;
    r.error = calls.status().message();
  }
  r.timings.decode_ms = ms_since(t_dec);
  r.timings.total_ms = ms_since(t_start);
  return r;
}

std::string call_result_to_json(const CallResult& r) {
  nlohmann::ordered_json j;
  nlohmann::ordered_json calls = nlohmann::ordered_json::array();
  for (const Call& c : r.calls) calls.push_back({{"name", c.name}, {"arguments", c.arguments}});
  j["calls"] = calls;
  j["raw"] = r.raw;
  j["valid"] = r.valid;
  if (!r.valid) j["error"] = r.error;
  j["truncated"] = r.truncated;
  j["completed"] = r.completed;
  j["stop_reason"] = r.stop_reason;
  j["tokens"] = {{"input", r.input_tokens}, {"output", r.output_tokens}};
  j["timings"] = {{"tokenize_ms", r.timings.tokenize_ms}, {"encode_ms", r.timings.encode_ms},
                  {"decode_ms", r.timings.decode_ms}, {"total_ms", r.timings.total_ms}};
  return j.dump(-1, ' ', false, nlohmann::ordered_json::error_handler_t::replace);
}

}  // namespace np
