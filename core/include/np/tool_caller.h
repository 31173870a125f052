// tool_caller.h — the engine's front door: (query, tools JSON) -> function calls.
// Builds the encoder input as Needle was trained (query, <tools>, normalised tools JSON),
// runs the encoder once, decodes greedily from EOS with the answer grammar constraining
// every token (names are declared tools, keys belong to the chosen tool and appear once,
// values follow each parameter's full schema: types, enums, required keys, nested objects
// and arrays; the output is always valid answer JSON), drops a call the token budget cut
// off, and maps names back to the caller's spelling.
// Not here: model math (model.h), tools parsing (tools.h), the grammar (decode/).
#pragma once
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "np/catalog_cache.h"
#include "np/model.h"
#include "np/retrieval.h"
#include "np/status.h"
#include "np/tools.h"

namespace np {

// Limits on one call (exceeding one is Code::kInvalidInput; the tools limits are in tools.h).
inline constexpr size_t kMaxQueryBytes = size_t{1} << 20;  // 1 MiB of query text
// max_tokens above the decoder context (max_dec_len - 1) is lowered to it.
// Working memory one call needs: encoder activations and cross-attention K/V for the input,
// the decoder's self-attention cache for its whole context, the logits. A model whose shape
// implies more than this is refused (kInvalidInput, naming the bytes) before any of it is
// allocated; Needle v1 needs about 36 MiB at a full encoder context.
inline constexpr uint64_t kMaxCallWorkingBytes = uint64_t{2} << 30;  // 2 GiB
uint64_t call_working_bytes(const ModelConfig& config, int64_t encoder_tokens);
// Scratch each thread that works on a call keeps (matrix-product packing buffers, one head's
// attention scores): the caller's thread and every pool thread hold this much.
uint64_t call_thread_scratch_bytes(const ModelConfig& config, int64_t encoder_tokens);

struct CallOptions {
  int32_t max_tokens = 0;       // generated-token budget; 0 = the model's decoder context - 1
  bool constrained = true;      // grammar-constrained decoding (false: plain greedy)
  // Called for every generated token with its id and text; return false to stop (the call
  // then fails with Code::kAborted).
  std::function<bool(int32_t id, const std::string& text)> on_token;
  // Tool pre-selection with the retrieval head (models that have one): when the list has
  // more than `preselect_above` tools, or its prompt does not fit the encoder context, only
  // the `preselect_k` tools closest to the query are offered to the model (in the caller's
  // order). preselect_above < 0: never. The defaults: the default model was trained on lists
  // of 1 to 10 tools (docs/retrieval.md).
  int32_t preselect_above = 10;
  int32_t preselect_k = 8;
  // Jump-forward decoding of the answer's fixed JSON structure (greedy.h). Off by default: the
  // default model's tokenizer leaves it little to append (docs/engine.md).
  bool jump_forward = false;
  // Catalog-mask models: reuse (and keep) the encoded tool block of this list through the
  // caller's CatalogCache. false: encode the whole input afresh (the answer is the same).
  bool use_catalog_cache = true;
  // The lexical tool prior (docs/engine.md, "Lexical tool prior"): how much the words a tool
  // shares with the query weigh where the model chooses a tool name, and against answering
  // `[]`. Negative: the model's own tuned weights (ModelConfig::tool_prior_*; 0 when it has
  // none). 0 and 0: the model's scores alone.
  float tool_prior_name = -1.0f;
  float tool_prior_call = -1.0f;
  // The empty answer's margin (greedy.h, DecodeSpec::call_margin): where no offered tool shares
  // a word with the query, `[]` gains tool_prior_call times this. Negative: the model's own.
  float tool_prior_margin = -1.0f;
  // The sole match (greedy.h, DecodeSpec::sole_weight): where exactly one offered tool shares a
  // word with the query, its name gains this much more. Negative: the model's own.
  float tool_prior_sole = -1.0f;
  // The copy prior (docs/engine.md, "Copy prior"): how much keeping a string value a piece of
  // the query weighs. Negative: the model's own (ModelConfig::copy_prior); 0: off.
  float copy_prior = -1.0f;
  // The echo prior (docs/engine.md, "Echo prior"): how much a string value one of whose words is
  // one of the chosen tool's own name or description words loses. Negative: the model's own
  // (ModelConfig::echo_prior); 0: off.
  float echo_prior = -1.0f;
  // Sparse logits (constrained only; docs/engine.md, "Sparse logits"): where the grammar
  // allows few tokens (structure, names, keys, enums, numbers), compute only their logits.
  // The same answer; the confidence then weighs each such choice among the allowed tokens.
  bool sparse_logits = true;
};

struct CallTimings {
  double tokenize_ms = 0, retrieve_ms = 0, encode_ms = 0, decode_ms = 0, total_ms = 0;
  // The part of decode_ms spent in the model's decoder steps; the rest is decoding's own work
  // (the grammar, the priors, the trie walk, confidence).
  double steps_ms = 0;
};

struct CallResult {
  std::vector<Call> calls;      // with the caller's tool names; free-text values trimmed (trim_free_text)
  std::string raw;              // the answer text the model wrote (leading <tool_call> dropped)
  bool valid = true;            // raw parsed as an answer (always true when constrained)
  std::string error;            // why raw did not parse (unconstrained decoding only)
  bool truncated = false;       // the input did not fit the encoder context and was cut
  bool completed = false;       // the token budget ran out and the grammar closed the JSON
  std::string stop_reason;      // "complete" (answer closed), "eos", "max_tokens"
  // Calls the model began but could not finish within the token budget. The grammar closes
  // the JSON with placeholder values ("", 0, the first enum value) for required arguments, so
  // such a call is dropped, never returned: `calls` holds only the calls the model finished.
  int32_t dropped_calls = 0;
  std::string reason;           // why calls were dropped ("" when none was)
  // Calls dropped because they repeated an earlier call exactly with a value the query says
  // only once (drop_repeated_calls in np/tools.h); `raw` still holds them.
  int32_t repeated_calls = 0;
  // Confidence (np/confidence.h, docs/confidence.md): the model's probability for its weakest
  // choice in the answer, through the model's calibration when it has one; per returned call
  // the same over that call's tokens; the probability the model gave to answering with no
  // call at that decision (-1 when unconstrained).
  double confidence = 0;
  double confidence_raw = 0;    // before calibration (what `needlepoint calibrate` fits)
  std::vector<double> call_confidence;
  double no_call_probability = -1;
  // Tools offered to the model after pre-selection, best first (empty: all were offered).
  std::vector<std::string> preselected;
  int32_t input_tokens = 0;     // encoder tokens used
  int32_t output_tokens = 0;    // decoder tokens generated
  int32_t forced_tokens = 0;    // of those, appended by jump-forward without logits
  int32_t sparse_steps = 0;     // steps that computed only the allowed tokens' logits
  int32_t prior_overrides = 0;  // decoding steps where the lexical tool prior changed the choice
  // The catalog mask's tool block: "hit" (reused from the cache: only the query was
  // encoded), "miss" (encoded and kept), "off" (encoded, not kept: cache disabled or the
  // block too big), "none" (a bidirectional model).
  std::string catalog = "none";
  int32_t block_tokens = 0;     // the tool block's length (catalog mask), 0 otherwise
  std::vector<int32_t> input_ids, output_ids;
  CallTimings timings;
};

// The token ids of the last few tool lists a ToolCaller tokenized, keyed by their normalised
// JSON: calls with a list already seen skip tokenizing it (1.3-1.6 ms of a WebAssembly call
// for a 5-tool list). Thread-safe.
class ToolsTokenMemo {
 public:
  static constexpr size_t kEntries = 8;
  // The ids of `json`: remembered, or encode(json) (then remembered, the oldest dropped).
  std::vector<int32_t> get(const std::string& json, const std::function<std::vector<int32_t>(const std::string&)>& encode);

 private:
  std::mutex mu_;
  std::vector<std::pair<std::string, std::vector<int32_t>>> entries_;  // the most recent last
};

class TokenTrie;
class ToolsParseMemo;  // tool_caller.cpp: the last few tool lists parsed, with their grammars

class ToolCaller {
 public:
  explicit ToolCaller(std::shared_ptr<const Model> model);
  const Model& model() const { return *model_; }
  std::shared_ptr<const Model> model_ptr() const { return model_; }
  // The retriever calls use for pre-selection (its tool-embedding cache is shared by them).
  const ToolRetriever& retriever() const { return *retriever_; }
  // The encoded tool blocks calls reuse (catalog-mask models; docs/engine.md, "Catalog mask").
  CatalogCache& catalog_cache() const { return *catalog_; }

  // Errors: kInvalidTools / kInvalidInput (tools JSON, empty query, the limits), kAborted.
  Result<CallResult> call(std::string_view query, std::string_view tools_json,
                          const CallOptions& options = CallOptions()) const;
  // Catalog-mask models: encodes the tool block of this list now and keeps it in the catalog
  // cache, so the first call with the list already finds it ("hit"); for an app to pay for
  // its catalog at start-up. Returns the block's token count, and via *status what happened
  // ("hit": it was cached already, "miss": encoded and kept, "off": not kept, cache disabled
  // or too small; "none": a bidirectional model, nothing to do, 0 tokens). The block is the
  // one a call with a short query builds (a list so long that the query's length cuts it is
  // another block). Errors: kInvalidTools / kInvalidInput as call().
  Result<int32_t> prepare_catalog(std::string_view tools_json, std::string* status) const;
  // The encoder input for (query, normalised tools JSON): encode(query) cut to
  // max_enc_len - 2 tokens, <tools>, encode(tools) cut to fill the context (catalog mask:
  // the tool block first, its length in *block_prefix).
  std::vector<int32_t> build_encoder_input(std::string_view query, const std::string& tools_json,
                                           bool* truncated, int32_t* block_prefix = nullptr) const;

 private:
  std::shared_ptr<const Model> model_;
  std::shared_ptr<ToolRetriever> retriever_;
  std::shared_ptr<CatalogCache> catalog_;
  std::shared_ptr<ToolsTokenMemo> tools_memo_;
  std::shared_ptr<ToolsParseMemo> parse_memo_;
  std::shared_ptr<const TokenTrie> trie_;  // the vocabulary by text, for sparse logits
  // The encoded tool block for these ids: from the cache ("hit"), else encoded and kept
  // ("miss"); null when it would not be kept ("off": use_cache false, or bigger than the
  // cache's budget), and then nothing is encoded.
  Result<std::shared_ptr<const EncoderBlock>> catalog_block(const std::vector<int32_t>& ids, bool use_cache,
                                                            std::string* status) const;
};

// The result as JSON: {"calls":[...],"raw":...,"valid":...,"truncated":...,"completed":...,
// "stop_reason":...,"dropped_calls":N,"reason":...,"repeated_calls":N,"confidence":x,"call_confidence":[...],
// "no_call_probability":x,"preselected":[...],"catalog":"hit|miss|off|none",
// "tokens":{"input":N,"output":N},
// "timings":{...}} (compact).
std::string call_result_to_json(const CallResult& r);

}  // namespace np
