// tool_caller.cpp — prompt building, greedy constrained decoding, result mapping.
#include "np/tool_caller.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <memory>
#include <mutex>

#include "decode/call_grammar.h"
#include "decode/greedy.h"
#include "decode/token_trie.h"
#include "decode/tool_prior.h"
#include "ops/gemm.h"
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

using json = nlohmann::ordered_json;

const json* field(const json& obj, const char* key) {
  if (!obj.is_object()) return nullptr;
  auto it = obj.find(key);
  return (it == obj.end() || it->is_null()) ? nullptr : &*it;
}

// A schema's "type": a string as is, a list's first entry other than "null" (a list of only
// "null" gives "null"); "" when absent. Examples: "integer" -> "integer",
// ["string","null"] -> "string", ["null"] -> "null", 3 -> "".
std::string type_of(const json* t) {
  if (!t) return std::string();
  if (t->is_string()) return t->get<std::string>();
  if (!t->is_array()) return std::string();
  bool null_seen = false;
  for (const json& e : *t) {
    if (!e.is_string()) continue;
    if (e.get_ref<const std::string&>() == "null") null_seen = true;
    else return e.get<std::string>();
  }
  return null_seen ? "null" : std::string();
}

// The schema the value should follow: `spec` itself when it has a "type"; else, when it has
// an "anyOf"/"oneOf" list, the first alternative (looked into recursively) with a type other
// than "null" (pydantic's Optional[X], as tools.cpp chooses the type the model sees), else a
// "null" alternative, else the first alternative that is an object; else `spec`.
const json& effective_schema(const json& spec, int depth = 0) {
  if (!type_of(field(spec, "type")).empty() || depth > kMaxJsonDepth) return spec;
  for (const char* key : {"anyOf", "oneOf"}) {
    const json* alts = field(spec, key);
    if (!alts || !alts->is_array()) continue;
    const json* null_alt = nullptr;
    const json* first_obj = nullptr;
    for (const json& alt : *alts) {
      if (!alt.is_object()) continue;
      if (!first_obj) first_obj = &alt;
      const json& e = effective_schema(alt, depth + 1);
      const std::string t = type_of(field(e, "type"));
      if (t == "null") {
        if (!null_alt) null_alt = &e;
      } else if (!t.empty()) {
        return e;
      }
    }
    if (null_alt) return *null_alt;
    if (first_obj) return effective_schema(*first_obj, depth + 1);
  }
  return spec;
}

// Whether an enum value can stand for a value of type `type` ("" = no type given).
bool literal_fits(const std::string& type, const json& v) {
  if (type.empty()) return true;
  if (type == "string") return v.is_string();
  if (type == "integer" || type == "int") return v.is_number_integer();
  if (type == "number" || type == "float" || type == "double") return v.is_number();
  if (type == "boolean" || type == "bool") return v.is_boolean();
  if (type == "null") return v.is_null();
  if (type == "object") return v.is_object();
  if (type == "array") return v.is_array();
  return true;  // a type this engine does not know constrains nothing
}

// Key text as it appears between the quotes: JSON-escaped, non-ASCII left as UTF-8.
std::string key_text(const std::string& name) {
  const std::string quoted = raw_json(json(name));
  return quoted.substr(1, quoted.size() - 2);
}

// The grammar for one value's schema. `default_type` applies when the schema names no type
// ("string" for a tool's parameters, as the model is told; "" = any value when nested).
// Recursion is bounded by kMaxJsonDepth, which parse_tools enforces.
GrammarParam grammar_node(const json& raw_spec, const std::string& default_type) {
  const json& spec = effective_schema(raw_spec);
  GrammarParam g;
  std::string type = type_of(field(spec, "type"));
  const bool typed = !type.empty();
  if (!typed) {
    if (field(spec, "properties")) type = "object";
    else if (field(spec, "items")) type = "array";
    else type = default_type;
  }
  if (const json* e = field(spec, "enum"); e && e->is_array()) {
    g.kind = ValueKind::kEnum;
    for (const json& v : *e)
      if (literal_fits(typed ? type : std::string(), v)) g.literals.push_back(raw_json(v));
    return g;
  }
  if (type == "string") g.kind = ValueKind::kString;
  else if (type == "integer" || type == "int") g.kind = ValueKind::kInteger;
  else if (type == "number" || type == "float" || type == "double") g.kind = ValueKind::kNumber;
  else if (type == "boolean" || type == "bool") g.kind = ValueKind::kBoolean;
  else if (type == "null") g.kind = ValueKind::kNull;
  else if (type == "array") {
    g.kind = ValueKind::kArray;
    if (const json* items = field(spec, "items"); items && items->is_object())
      g.items.push_back(grammar_node(*items, std::string()));
  } else if (type == "object") {
    const json* props = field(spec, "properties");
    if (!props || !props->is_object() || props->empty()) {
      g.kind = ValueKind::kAnyObject;
      return g;
    }
    g.kind = ValueKind::kObject;
    const json* req = field(spec, "required");
    for (auto it = props->begin(); it != props->end(); ++it) {
      GrammarParam q = grammar_node(it.value(), std::string());
      q.key = key_text(it.key());
      if (req && req->is_array())
        for (const json& r : *req)
          if (r.is_string() && r.get_ref<const std::string&>() == it.key()) q.required = true;
      if (const json* own = field(it.value(), "required"); own && own->is_boolean() && own->get<bool>())
        q.required = true;
      g.properties.push_back(std::move(q));
    }
    // A required name that "properties" does not declare may hold any value.
    if (req && req->is_array())
      for (const json& r : *req) {
        if (!r.is_string() || props->contains(r.get_ref<const std::string&>())) continue;
        bool seen = false;
        for (const GrammarParam& q : g.properties) seen = seen || q.key == key_text(r.get<std::string>());
        if (seen) continue;
        GrammarParam q;
        q.key = key_text(r.get<std::string>());
        q.required = true;
        g.properties.push_back(std::move(q));
      }
  }
  return g;  // kAny otherwise
}

}  // namespace

std::vector<GrammarTool> grammar_tools(const ToolSet& set) {
  std::vector<GrammarTool> out;
  for (const Tool& t : set.tools) {
    GrammarTool g;
    g.name = t.name;
    for (const ToolParam& p : t.params) {
      GrammarParam gp = grammar_node(p.source, "string");
      gp.key = key_text(p.name);
      gp.required = p.required;
      g.params.push_back(std::move(gp));
    }
    out.push_back(std::move(g));
  }
  return out;
}

namespace {

}  // namespace

uint64_t call_working_bytes(const ModelConfig& c, int64_t encoder_tokens) {
  const uint64_t T = static_cast<uint64_t>(encoder_tokens < 0 ? 0 : encoder_tokens);
  const uint64_t d = static_cast<uint64_t>(c.d_model), kv = static_cast<uint64_t>(c.kv_dim());
  const uint64_t ff = static_cast<uint64_t>(c.d_ff), L = static_cast<uint64_t>(c.n_dec_layers);
  const uint64_t floats = T * (5 * d + 2 * kv + 2 * ff)                   // encoder activations
                          + 2 * L * T * kv                                // cross-attention K/V
                          + 2 * L * static_cast<uint64_t>(c.max_dec_len) * kv  // decoder cache
                          + static_cast<uint64_t>(c.vocab_size) + 8 * d;  // logits, one step
  return floats * sizeof(float);  // no overflow: ModelConfig::validate bounds every factor
}

uint64_t call_thread_scratch_bytes(const ModelConfig& c, int64_t encoder_tokens) {
  const uint64_t T = static_cast<uint64_t>(encoder_tokens < 0 ? 0 : encoder_tokens);
  const uint64_t widest = static_cast<uint64_t>(std::max(c.d_model, c.d_ff));
  return gemm_thread_scratch_bytes() + T * T * sizeof(float)  // + attention scores (Tq, Tk)
         + T * widest * sizeof(int16_t) + T * (widest / 32) * sizeof(float);  // + int16 activations (gemm_q8_int16.h)
}

namespace {
// The memos' recency lists (the most recent last, at most `cap`): the value of `key`, moved to
// the end, or null.
template <class V>
const V* recent_find(std::vector<std::pair<std::string, V>>& entries, std::string_view key) {
  for (size_t i = 0; i < entries.size(); ++i)
    if (entries[i].first == key) {
      std::rotate(entries.begin() + static_cast<std::ptrdiff_t>(i), entries.begin() + static_cast<std::ptrdiff_t>(i) + 1,
                  entries.end());
      return &entries.back().second;
    }
  return nullptr;
}
template <class V>
void recent_put(std::vector<std::pair<std::string, V>>& entries, std::string_view key, V value, size_t cap) {
  if (entries.size() >= cap) entries.erase(entries.begin());
  entries.emplace_back(std::string(key), std::move(value));
}
}  // namespace

std::vector<int32_t> ToolsTokenMemo::get(const std::string& json,
                                         const std::function<std::vector<int32_t>(const std::string&)>& encode) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (const auto* ids = recent_find(entries_, json)) return *ids;
  }
  std::vector<int32_t> ids = encode(json);  // outside the lock: tokenizing takes a while
  std::lock_guard<std::mutex> lock(mu_);
  recent_put(entries_, json, ids, kEntries);
  return ids;
}

// A tool list as a call uses it: parsed and normalised, its answer grammar and its tools'
// words as the decoding priors read them.
struct ParsedTools {
  ToolSet set;
  std::vector<GrammarTool> grammar;
  std::vector<ToolWords> words;
};

// The last few tool lists a ToolCaller parsed, keyed by the caller's JSON text: an app calls
// with the same catalog again and again, and parsing it (nlohmann, the normalisation, the
// grammar's schemas) took 0.2-0.3 ms of a cached WebAssembly call. Lists that fail to parse
// are not kept (their error comes back each time). Thread-safe.
class ToolsParseMemo {
 public:
  static constexpr size_t kEntries = 8;
  Result<std::shared_ptr<const ParsedTools>> get(std::string_view json) {
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (const auto* hit = recent_find(entries_, json)) return *hit;
    }
    auto tools = parse_tools(json);  // outside the lock
    if (!tools.ok()) return tools.status();
    auto parsed = std::make_shared<ParsedTools>();
    parsed->set = tools.take();
    parsed->grammar = grammar_tools(parsed->set);
    parsed->words = tool_words(parsed->set);
    std::shared_ptr<const ParsedTools> out = std::move(parsed);
    std::lock_guard<std::mutex> lock(mu_);
    recent_put(entries_, json, out, kEntries);
    return out;
  }

 private:
  std::mutex mu_;
  std::vector<std::pair<std::string, std::shared_ptr<const ParsedTools>>> entries_;  // the most recent last
};

std::vector<int32_t> ToolCaller::build_encoder_input(std::string_view query, const std::string& tools_json,
                                                     bool* truncated, int32_t* block_prefix) const {
  const Tokenizer& tok = model_->tokenizer();
  const std::vector<int32_t> tools_ids = tools_memo_->get(tools_json, [&](const std::string& j) { return tok.encode(j); });
  return build_encoder_ids(tok, model_->config(), query, tools_json, truncated, block_prefix, &tools_ids);
}

Result<int32_t> ToolCaller::prepare_catalog(std::string_view tools_json, std::string* status) const {
  auto tools = parse_memo_->get(tools_json);
  if (!tools.ok()) return tools.status();
  *status = "none";
  if (!model_->config().catalog_mask()) return 0;
  bool truncated = false;
  int32_t prefix = 0;
  const std::vector<int32_t> ids = build_encoder_input("?", tools.value()->set.normalized_json, &truncated, &prefix);
  auto block = catalog_block(std::vector<int32_t>(ids.begin(), ids.begin() + prefix), true, status);
  if (!block.ok()) return block.status();
  return prefix;
}

Result<std::shared_ptr<const EncoderBlock>> ToolCaller::catalog_block(const std::vector<int32_t>& ids, bool use_cache,
                                                                      std::string* status) const {
  if (use_cache) {
    if (auto hit = catalog_->find(ids)) {
      *status = "hit";
      return hit;
    }
  }
  const bool keep = use_cache && encoder_block_bytes(model_->config(), static_cast<int64_t>(ids.size())) <= catalog_->max_bytes();
  *status = keep ? "miss" : "off";
  if (!keep) return std::shared_ptr<const EncoderBlock>();
  auto fresh = std::make_shared<EncoderBlock>();
  NP_RETURN_IF_ERROR(model_->encode_block(ids, fresh.get()));
  catalog_->put(fresh);
  return std::shared_ptr<const EncoderBlock>(std::move(fresh));
}

// The most tokens a sparse step computes logits for: an eighth of Needle's vocabulary (the
// trie walk stops there and the step computes all of them).
constexpr int32_t kSparseLogitsLimit = 1024;

ToolCaller::ToolCaller(std::shared_ptr<const Model> model)
    : model_(std::move(model)), retriever_(std::make_shared<ToolRetriever>(model_)),
      catalog_(std::make_shared<CatalogCache>()), tools_memo_(std::make_shared<ToolsTokenMemo>()),
      parse_memo_(std::make_shared<ToolsParseMemo>()),
      trie_(std::make_shared<TokenTrie>(model_->tokenizer())) {}

Result<CallResult> ToolCaller::call(std::string_view query, std::string_view tools_json,
                                    const CallOptions& options) const {
  const auto t_start = Clock::now();
  const ModelConfig& c = model_->config();
  const Tokenizer& tok = model_->tokenizer();
  if (query.empty()) return Status(Code::kInvalidInput, "query is empty");
  if (query.size() > kMaxQueryBytes)
    return Status(Code::kInvalidInput, "query is " + std::to_string(query.size()) + " bytes; the limit is " +
                                           std::to_string(kMaxQueryBytes));
  if (options.max_tokens < 0) return Status(Code::kInvalidInput, "max_tokens must be >= 0");
  for (const float w : {options.tool_prior_name, options.tool_prior_call, options.tool_prior_margin,
                        options.tool_prior_sole, options.copy_prior, options.echo_prior})
    if (!(std::isfinite(w) && w <= 100.0f))
      return Status(Code::kInvalidInput, "prior weights must be numbers up to 100 (negative: the model's own)");
  auto parsed = parse_memo_->get(tools_json);
  if (!parsed.ok()) return parsed.status();
  const std::shared_ptr<const ParsedTools> tools = parsed.take();  // held for the call
  const ToolSet& all = tools->set;

  CallResult r;
  int32_t block_prefix = 0;
  r.input_ids = build_encoder_input(query, all.normalized_json, &r.truncated, &block_prefix);
  r.timings.tokenize_ms = ms_since(t_start);

  // Pre-selection: a list longer than the model was trained on, or one whose prompt is cut,
  // is narrowed to the tools closest to the query. `kept` maps the offered set's indices
  // back to the caller's.
  const ToolSet* offered = &all;
  ToolSet subset;
  std::vector<size_t> kept;
  const size_t n_tools = all.tools.size();
  if (options.preselect_above >= 0 && retriever_->available() && options.preselect_k > 0 &&
      n_tools > static_cast<size_t>(options.preselect_k) &&
      (n_tools > static_cast<size_t>(options.preselect_above) || r.truncated)) {
    const auto t_ret = Clock::now();
    auto ranked = retriever_->rank(query, all);
    if (!ranked.ok()) return ranked.status();
    const size_t k = static_cast<size_t>(options.preselect_k);
    for (size_t i = 0; i < k; ++i) {
      kept.push_back(static_cast<size_t>(ranked.value()[i].index));
      r.preselected.push_back(ranked.value()[i].name);
    }
    std::sort(kept.begin(), kept.end());
    const auto source = nlohmann::ordered_json::parse(tools_json, nullptr, false);
    nlohmann::ordered_json picked = nlohmann::ordered_json::array();
    if (!source.is_array() || source.size() != n_tools) return Status(Code::kInternal, "tools JSON changed shape while pre-selecting");
    for (size_t i : kept) picked.push_back(source[i]);
    auto sub = parse_tools(json_dumps_compact(picked));
    if (!sub.ok()) return Status(Code::kInternal, "pre-selected tools did not parse: " + sub.status().message());
    subset = sub.take();
    offered = &subset;
    r.input_ids = build_encoder_input(query, subset.normalized_json, &r.truncated, &block_prefix);
    r.timings.retrieve_ms = ms_since(t_ret);
  }
  const ToolSet& set = *offered;
  r.input_tokens = static_cast<int32_t>(r.input_ids.size());

  const uint64_t working = call_working_bytes(c, r.input_tokens);
  if (working > kMaxCallWorkingBytes)
    return Status(Code::kInvalidInput, "this model needs " + std::to_string(working) +
                                           " bytes of working memory per call; the limit is " +
                                           std::to_string(kMaxCallWorkingBytes));

  const auto t_enc = Clock::now();
  EncoderOutput enc;
  r.block_tokens = block_prefix;
  if (block_prefix > 0 && block_prefix < r.input_tokens) {  // catalog mask, with a query after the block
    const std::vector<int32_t> block_ids(r.input_ids.begin(), r.input_ids.begin() + block_prefix);
    const std::vector<int32_t> rest(r.input_ids.begin() + block_prefix, r.input_ids.end());
    auto block = catalog_block(block_ids, options.use_catalog_cache, &r.catalog);
    if (!block.ok()) return block.status();
    if (block.value()) {
      NP_RETURN_IF_ERROR(model_->encode_after(block.value(), rest, &enc));  // reads the block in place
    } else {  // not kept: one pass, which holds no per-layer keys and values of the block
      NP_RETURN_IF_ERROR(model_->encode(r.input_ids, &enc, block_prefix));
    }
  } else {
    if (c.catalog_mask()) r.catalog = "off";
    NP_RETURN_IF_ERROR(model_->encode(r.input_ids, &enc, block_prefix));
  }
  r.timings.encode_ms = ms_since(t_enc);

  const auto t_dec = Clock::now();
  const std::vector<GrammarTool> subset_grammar = offered == &all ? std::vector<GrammarTool>() : grammar_tools(set);
  const std::vector<GrammarTool>& gtools = offered == &all ? tools->grammar : subset_grammar;
  const std::vector<ToolWords> subset_words = offered == &all ? std::vector<ToolWords>() : tool_words(set);
  const std::vector<ToolWords>& words = offered == &all ? tools->words : subset_words;
  DecodeSpec spec;
  spec.tokenizer = &tok;
  spec.start_id = c.eos_id;
  spec.eos_id = c.eos_id;
  spec.tool_call_id = c.tool_call_id;
  spec.budget = std::min(options.max_tokens > 0 ? options.max_tokens : c.max_dec_len - 1, c.max_dec_len - 1);
  spec.constrained = options.constrained;
  spec.jump_forward = options.jump_forward;
  spec.tools = &gtools;
  spec.on_token = options.on_token;
  const float prior_name = options.tool_prior_name >= 0 ? options.tool_prior_name : c.tool_prior_name;
  const float prior_call = options.tool_prior_call >= 0 ? options.tool_prior_call : c.tool_prior_call;
  std::vector<float> tool_scores;
  std::vector<std::vector<float>> rest_scores;
  if (options.constrained && (prior_name > 0 || prior_call > 0)) {
    tool_scores = lexical_tool_scores(query, words, &rest_scores);
    spec.tool_scores = &tool_scores;
    spec.rest_scores = &rest_scores;
    spec.name_weight = prior_name;
    spec.call_weight = prior_call;
    spec.call_margin = options.tool_prior_margin >= 0 ? options.tool_prior_margin : c.tool_prior_margin;
    spec.sole_weight = options.tool_prior_sole >= 0 ? options.tool_prior_sole : c.tool_prior_sole;
  }
  const float copy = options.copy_prior >= 0 ? options.copy_prior : c.copy_prior;
  const float echo = options.echo_prior >= 0 ? options.echo_prior : c.echo_prior;
  if (options.constrained && (copy > 0 || echo > 0)) {
    spec.copy_source = query;
    spec.copy_weight = copy;
    spec.tool_words = &words;
  }
  if (options.constrained && echo > 0) spec.echo_weight = echo;
  DecoderState state = model_->new_decoder_state();
  if (options.constrained && options.sparse_logits) {
    spec.trie = trie_.get();
    spec.sparse_limit = kSparseLogitsLimit;
    spec.step_rows = [&](int32_t token, float* logits, const std::vector<int32_t>& rows) {
      const auto t = Clock::now();
      Status s = model_->decode_step_rows(enc, state, token, logits, rows.data(), static_cast<int>(rows.size()));
      r.timings.steps_ms += ms_since(t);
      return s;
    };
  }
  const auto step = [&](int32_t token, float* logits) {
    const auto t = Clock::now();
    Status s = model_->decode_step(enc, state, token, logits);
    r.timings.steps_ms += ms_since(t);
    return s;
  };
  DecodeOutput dec;
  NP_RETURN_IF_ERROR(greedy_decode(spec, step, &dec));
  // The second look (tool_prior.h, second_look_tool): an answer whose first call took the
  // tool the request's second part asks for, with the first part's values, is decoded again
  // with that tool barred from the first call; the new answer is kept where it still calls
  // the tool later. Not while streaming: the tokens already went out.
  if (spec.tool_scores && !spec.on_token && dec.calls_closed >= 2) {
    auto first = parse_calls(dec.text, set);
    const int again = first.ok() ? second_look_tool(query, first.value(), words) : -1;
    if (again >= 0) {
      state = model_->new_decoder_state();
      spec.first_call_ban = again;
      DecodeOutput look;
      NP_RETURN_IF_ERROR(greedy_decode(spec, step, &look));
      auto second = parse_calls(look.text, set);
      const auto later = [&](const std::vector<Call>& cs) {
        return std::any_of(cs.begin() + 1, cs.end(), [&](const Call& c) { return static_cast<int>(c.tool_index) == again; });
      };
      if (second.ok() && look.calls_closed >= 2 && second.value().size() >= 2 &&
          static_cast<int>(second.value()[0].tool_index) != again && later(second.value()))
        dec = std::move(look);
    }
  }
  r.output_ids = dec.ids;
  r.output_tokens = static_cast<int32_t>(dec.ids.size());
  r.forced_tokens = dec.forced_tokens;
  r.prior_overrides = dec.prior_overrides;
  r.sparse_steps = dec.sparse_steps;
  r.raw = dec.text;
  r.completed = dec.completed;
  r.stop_reason = dec.stop_reason;

  auto calls = parse_calls(r.raw, set);
  std::vector<size_t> origin;  // per returned call, its index among the calls decoded
  if (calls.ok()) {
    r.calls = calls.take();
    for (Call& call : r.calls) trim_free_text(&call, set);
    if (!kept.empty())
      for (Call& call : r.calls) call.tool_index = kept[call.tool_index];
    // A call the budget cut off was finished by the grammar with placeholder values: it is
    // well formed but not what the model meant, so it never reaches the caller.
    if (options.constrained && dec.completed && static_cast<int>(r.calls.size()) > dec.calls_closed) {
      r.dropped_calls = static_cast<int32_t>(r.calls.size()) - dec.calls_closed;
      r.calls.resize(static_cast<size_t>(dec.calls_closed));
      r.reason = "the token budget (" + std::to_string(spec.budget) + ") ran out inside call " +
                 std::to_string(dec.calls_closed + 1) + "; it was dropped";
    }
    // A call that repeats an earlier one exactly, with a value the query says only once,
    // is the model writing the same thing twice (tools.h, drop_repeated_calls).
    const size_t finished = r.calls.size();
    origin = drop_repeated_calls(query, &r.calls);
    r.repeated_calls = static_cast<int32_t>(finished - r.calls.size());
  } else {
    if (options.constrained)
      return Status(Code::kInternal, "constrained output did not parse: " + calls.status().message() + " raw: " + r.raw);
    r.valid = false;
    r.error = calls.status().message();
  }
  // Confidence: the weakest choice, overall and per returned call, calibrated when the model
  // carries a calibration.
  const Calibration& cal = model_->calibration();
  double weakest = dec.token_probs.empty() ? 0.0 : 1.0;
  for (float p : dec.token_probs) weakest = std::min(weakest, static_cast<double>(p));
  r.confidence_raw = weakest;
  r.confidence = cal.apply(weakest);
  for (size_t i = 0; i < r.calls.size(); ++i) {
    double w = 1.0;
    bool any = false;
    for (size_t t = 0; t < dec.token_probs.size(); ++t)
      if (dec.token_call[t] == static_cast<int32_t>(i < origin.size() ? origin[i] : i)) {
        w = std::min(w, static_cast<double>(dec.token_probs[t]));
        any = true;
      }
    r.call_confidence.push_back(cal.apply(any ? w : weakest));
  }
  r.no_call_probability = dec.no_call_prob;
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
  j["dropped_calls"] = r.dropped_calls;
  j["reason"] = r.reason;
  j["repeated_calls"] = r.repeated_calls;
  j["confidence"] = r.confidence;
  j["confidence_raw"] = r.confidence_raw;
  j["call_confidence"] = r.call_confidence;
  j["no_call_probability"] = r.no_call_probability;
  j["preselected"] = r.preselected;
  j["catalog"] = r.catalog;
  j["tokens"] = {{"input", r.input_tokens}, {"output", r.output_tokens}, {"forced", r.forced_tokens},
                 {"sparse", r.sparse_steps}};
  j["prior_overrides"] = r.prior_overrides;
  j["timings"] = {{"tokenize_ms", r.timings.tokenize_ms}, {"retrieve_ms", r.timings.retrieve_ms}, {"encode_ms", r.timings.encode_ms},
                  {"decode_ms", r.timings.decode_ms}, {"steps_ms", r.timings.steps_ms}, {"total_ms", r.timings.total_ms}};
  return j.dump(-1, ' ', false, nlohmann::ordered_json::error_handler_t::replace);
}

}  // namespace np
