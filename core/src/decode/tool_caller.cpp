// tool_caller.cpp — prompt building, greedy constrained decoding, result mapping.
#include "np/tool_caller.h"

#include <algorithm>
#include <chrono>
#include <numeric>

#include "decode/call_grammar.h"

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

int32_t argmax(const std::vector<float>& v) {
  return static_cast<int32_t>(std::max_element(v.begin(), v.end()) - v.begin());
}

}  // namespace

std::vector<int32_t> ToolCaller::build_encoder_input(std::string_view query, const std::string& tools_json,
                                                     bool* truncated) const {
  const ModelConfig& c = model_->config();
  const Tokenizer& tok = model_->tokenizer();
  const size_t L = static_cast<size_t>(c.max_enc_len);
  *truncated = false;
  std::vector<int32_t> ids = tok.encode(query);
  if (ids.size() > L - 2) {
    ids.resize(L - 2);
    *truncated = true;
  }
  ids.push_back(c.tools_id);
  std::vector<int32_t> t = tok.encode(tools_json);
  const size_t room = L - ids.size();
  if (t.size() > room) {
    t.resize(room);
    *truncated = true;
  }
  ids.insert(ids.end(), t.begin(), t.end());
  return ids;
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
  const int32_t budget = std::min(options.max_tokens > 0 ? options.max_tokens : c.max_dec_len - 1, c.max_dec_len - 1);
  const std::vector<GrammarTool> gtools = grammar_tools(set);
  CallGrammar grammar(&gtools);
  DecoderState state = model_->new_decoder_state();
  std::vector<float> logits(static_cast<size_t>(c.vocab_size));
  std::vector<int32_t> order;
  std::string text;  // answer bytes written so far (without <tool_call>)
  int32_t token = c.eos_id;
  r.stop_reason = "max_tokens";

  // Whether `id` may come next under the grammar; on success `g` has consumed it.
  auto allowed = [&](int32_t id, bool first, CallGrammar* g) {
    if (id == c.tool_call_id) return first;
    if (id == c.eos_id) return g->done();
    const std::string& piece = tok.token_text(id);
    if (piece.empty() || tok.type(id) == TokenType::kControl || tok.type(id) == TokenType::kUnknown) return false;
    return g->feed(piece);
  };

  for (int32_t step = 0; step < budget; ++step) {
    NP_RETURN_IF_ERROR(model_->decode_step(enc, state, token, logits.data()));
    int32_t next = argmax(logits);
    if (options.constrained) {
      const bool first = r.output_ids.empty();
      CallGrammar trial = grammar;
      if (allowed(next, first, &trial)) {
        grammar = std::move(trial);
      } else {
        if (order.empty()) order.resize(logits.size());
        std::iota(order.begin(), order.end(), 0);
        std::sort(order.begin(), order.end(), [&](int32_t a, int32_t b) {
          return logits[a] > logits[b] || (logits[a] == logits[b] && a < b);
        });
        next = -1;
        for (int32_t id : order) {
          trial = grammar;
          if (allowed(id, first, &trial)) {
            next = id;
            grammar = std::move(trial);
            break;
          }
        }
        if (next < 0) break;  // no token can continue (a vocabulary without byte pieces)
      }
    }
    if (next == c.eos_id) {
      r.stop_reason = "eos";
      break;
    }
    r.output_ids.push_back(next);
    const std::string& piece = next == c.tool_call_id ? std::string() : tok.token_text(next);
    text += piece;
    if (options.on_token && !options.on_token(next, next == c.tool_call_id ? tok.piece(next) : piece))
      return Status(Code::kAborted, "stopped by the token callback after " + std::to_string(r.output_ids.size()) + " tokens");
    if (options.constrained && grammar.done()) {
      r.stop_reason = "complete";
      break;
    }
    token = next;
  }
  r.output_tokens = static_cast<int32_t>(r.output_ids.size());

  if (options.constrained) {
    if (!grammar.done()) {
      text += grammar.completion();
      r.completed = true;
    }
    r.raw = text;
  } else {
    r.raw = tok.decode(r.output_ids);
    const std::string tc = tok.piece(c.tool_call_id);
    if (r.raw.compare(0, tc.size(), tc) == 0) r.raw.erase(0, tc.size());
  }
  // The dummy-prefix space SentencePiece puts before the answer is not part of it.
  const size_t first = r.raw.find_first_not_of(' ');
  r.raw.erase(0, first == std::string::npos ? r.raw.size() : first);

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
