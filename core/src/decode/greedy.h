// greedy.h — the decoding loop, apart from the model: feed a token, get logits, pick the
// highest-scoring token the answer grammar allows (or the plain argmax), until the answer
// closes, EOS, or the budget runs out (the grammar then closes the JSON). Taking the model
// step as a function lets tests script the logits and check the policy exactly.
#pragma once
#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "decode/call_grammar.h"
#include "decode/token_trie.h"
#include "decode/tool_prior.h"
#include "np/status.h"
#include "np/tokenizer.h"

namespace np {

// Feeds `token` to the decoder and writes vocab_size logits (or only feeds it when logits is
// null: jump-forward already knows the next token).
using StepFn = std::function<Status(int32_t token, float* logits)>;

struct DecodeSpec {
  const Tokenizer* tokenizer = nullptr;
  int32_t start_id = 1;          // the first decoder input (EOS for Needle)
  int32_t eos_id = 1;
  int32_t tool_call_id = 4;      // allowed only as the first generated token
  int32_t budget = 0;            // max generated tokens
  bool constrained = true;
  // Jump-forward: where the grammar allows exactly one continuation (JSON structure such as
  // `,"arguments":{`), the tokens the tokenizer writes for it after the text so far are
  // appended without logits (the step function is called with logits == nullptr), all but the
  // last, and only while the model has written the tokenizer's own pieces. Constrained only.
  // Off by default: with the default model's tokenizer it appends few tokens (docs/engine.md).
  bool jump_forward = false;
  const std::vector<GrammarTool>* tools = nullptr;  // required when constrained
  // Lexical tool prior (decode/tool_prior.h), constrained only: one score per tool of `tools`.
  // Where a tool name may come next, each allowed token is ranked by its logit plus
  // name_weight times the best score among the names it leaves possible (the chosen name's
  // once the token closes it), and the tokens that close the answer empty lose call_weight
  // times the best score of any tool. null or both weights 0: the model's logits alone.
  const std::vector<float>* tool_scores = nullptr;
  float name_weight = 0.0f;
  float call_weight = 0.0f;
  // The empty answer's side of the same prior: the tokens that close the answer empty get
  // call_weight * (call_margin - best score), so when no tool shares a word with the query
  // they gain call_weight * call_margin (0: they only ever lose); with a margin (> 0) they
  // lose at most as much: never less than -call_weight * call_margin.
  float call_margin = 0.0f;
  // The sole match (with name_weight > 0): where exactly one tool shares a word with the
  // query, its name gains this much more (a model sure of an unrelated tool, as small models
  // are of tools they never saw, then needs that many more logits to call it). 0: off.
  float sole_weight = 0.0f;
  // For the names of calls after the first (null: tool_scores again): per tool t, one score
  // per tool over the query words t does not match (tool_prior.h, lexical_tool_scores's
  // `rest`); the row of the call before is used.
  const std::vector<std::vector<float>>* rest_scores = nullptr;
  // With the tool prior on (tool_scores): a tool (index into tools) the answer's first call
  // may not name (the tool caller's second look, tool_prior.h, second_look_tool). -1: none.
  int first_call_ban = -1;
  // Copy prior, constrained only: where a value may be written, every allowed token gains
  // copy_weight except those that make a string value stop being a piece of `copy_source` (the
  // query, as it writes it: letter case too; an empty value is none) or a number stop being
  // (the start of) one of its numbers. 0: off.
  std::string_view copy_source;
  float copy_weight = 0.0f;
  // Per tool of `tools`, its words (decode/tool_prior.h, ToolWords), for the echo prior and
  // the copy prior's unit rule below. null: both off.
  const std::vector<ToolWords>* tool_words = nullptr;
  // Echo prior, constrained only (needs copy_source and tool_words): where a string value is
  // written, the tokens that make one of its words one of the chosen tool's own words
  // (ToolWords::echo; decode/tool_prior.h, echoes_tool_word) lose echo_weight. A word the
  // value has not finished is read on in copy_source where the value so far occurs there (at
  // every place it occurs the word must be an echo). 0: off.
  float echo_weight = 0.0f;
  // The copy prior's unit rule (needs copy_source and tool_words): a number of the query
  // followed by a word ("6 weeks", "8 km") gains copy_weight more as the value of a parameter
  // whose words (ToolWords::params) hold that word, and loses as much in one whose words do
  // not where another number parameter's of the tool do ("6 weeks ... 8 km": weeks_out 6, not
  // 8).
  std::function<bool(int32_t id, const std::string& text)> on_token;
  // Sparse logits (constrained only; docs/engine.md, "Sparse logits"): at a step after the
  // answer's first call began and outside a string value, where walking `trie` finds at most
  // sparse_limit tokens the grammar allows, step_rows computes the logits of those tokens
  // only and every other token counts as impossible (the lowest float): the same choice as
  // over all logits, and the chosen token's probability is its share among the allowed ones.
  // null trie or step_rows, or a limit of 0: every step computes all logits.
  const TokenTrie* trie = nullptr;
  std::function<Status(int32_t token, float* logits, const std::vector<int32_t>& rows)> step_rows;
  int32_t sparse_limit = 0;
};

struct DecodeOutput {
  std::vector<int32_t> ids;      // generated tokens (EOS not included)
  std::string text;              // the answer text: token texts, <tool_call> and the leading
                                 // dummy-prefix space dropped, grammar completion appended
  bool completed = false;        // the grammar had to close the JSON
  int calls_closed = 0;         // calls the model itself closed (the rest of `text`'s calls
                                 // were cut off by the budget and finished by the grammar)
  std::string stop_reason;       // "complete", "eos", "max_tokens"
  // Per generated token: its probability under the model's full softmax (a token the grammar
  // forced against the model's choice gets the low probability the model gave it; at sparse
  // steps, its share among the tokens the grammar allowed there), and the
  // index of the call it belongs to (calls closed before it; constrained decoding only, else 0).
  std::vector<float> token_probs;   // forced tokens (jump-forward): 1
  std::vector<int32_t> token_call;
  std::vector<uint8_t> token_forced;  // 1 where jump-forward appended the token
  int32_t forced_tokens = 0;        // tokens appended by jump-forward
  // Probability the model gave, at the last step before the first call began, to the tokens
  // that close the answer empty there ("]" after "[", or "[]" in one token): the no-call
  // probability of that decision. -1 when unconstrained or when no such step came.
  float no_call_prob = -1.0f;
  // Steps where the tool or copy prior chose another token than the model's logits would.
  int32_t prior_overrides = 0;
  int32_t sparse_steps = 0;         // steps that computed only the allowed tokens' logits
};

Status greedy_decode(const DecodeSpec& spec, const StepFn& step, DecodeOutput* out);

}  // namespace np
