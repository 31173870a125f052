// dataset.h — the training data pipeline: Needle JSONL examples -> validated Example ->
// (augmented) TrainPair of encoder ids, decoder input, targets and per-token loss weights ->
// length-bucketed, padded Batch. Streaming (a file is never loaded whole), seeded shuffling
// that is identical on every platform, epochs, and a position that can be saved and
// restored so that a resumed run continues with exactly the same examples and batches.
// Not here: the model, the loss, the optimiser (train/), the metrics (eval.h).
// Format, rules and decisions: docs/training.md, section "Training data"; the tests
// (tests/core/test_dataset.cpp, [dataset]) repeat the examples given below.
#pragma once
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "np/model.h"
#include "np/status.h"
#include "np/tokenizer.h"
#include "np/tools.h"

namespace np {

// ---- one example -------------------------------------------------------------------------

// One call of a reference answer.
struct AnswerCall {
  std::string name;           // snake_case, as the model writes it: "set_timer"
  std::string original_name;  // as the example's tools spell it: "setTimer"
  nlohmann::ordered_json arguments = nlohmann::ordered_json::object();  // always an object
};

// One validated JSONL line.
struct Example {
  int64_t line = 0;     // 1-based line number in the file
  uint64_t offset = 0;  // byte offset of the line's first byte
  int32_t epoch = 0;    // the pass over the file that produced it (set by ExampleReader)
  std::string id;       // "" when absent; an integer id as its decimal text
  std::string query;    // never empty
  nlohmann::ordered_json tools;     // the tool list as given (an array; augmentation permutes a copy)
  ToolSet toolset;                  // parse_tools(tools); toolset.normalized_json is the encoder's text
  std::vector<AnswerCall> answers;  // [] = no call
  nlohmann::ordered_json accept;    // null when absent, else an array aligned with answers (eval.h)
};

// Parses and validates one line: {"query": string, "tools": array | string holding one,
// "answers": array | string holding one, "id"?: string | integer, "accept"?: array}; other
// fields are ignored. Errors name the line and the field, e.g.
//   line 7: "tools": tools[0]: missing "name"            (Code::kInvalidTools, parse_tools' text)
//   line 9: "answers"[1]: "play_music" is not a tool in "tools"   (Code::kInvalidInput)
// Answer names match a tool by original name, by snake_case name, or when their snake_case
// forms agree. With check_argument_keys, every argument key must be a parameter of the
// called tool (the constrained decoder could never write another key).
Status parse_example(std::string_view line, int64_t line_no, bool check_argument_keys, Example* out);

// ---- tokenization ------------------------------------------------------------------------

// The encoder input, exactly as ToolCaller::build_encoder_input builds it: encode(query)
// cut to max_enc_len - 2 tokens, config.tools_id, encode(tools_json) cut to fill
// max_enc_len. *truncated tells whether anything was cut.
// With the catalog mask the same pieces come in another order: the tool block first
// (config.tools_id, encode(tools_json) cut the same way), then encode(query); *block_prefix
// (when given) gets the tool block's length, which the encoder's mask needs (0 for the
// bidirectional mask).
// tools_ids: encode(tools_json) when the caller has it already (ToolCaller remembers the last
// few lists'), else null.
std::vector<int32_t> build_encoder_ids(const Tokenizer& tokenizer, const ModelConfig& config,
                                       std::string_view query, const std::string& tools_json,
                                       bool* truncated, int32_t* block_prefix = nullptr,
                                       const std::vector<int32_t>* tools_ids = nullptr);

// What a target token is, for the loss weight. Structure is everything that is not a tool
// name, an argument key or an argument value: brackets, braces, quotes, colons, commas, the
// literal keys "name"/"arguments", <tool_call> and EOS. A nested (array/object) argument
// value is value as a whole, its inner brackets and keys included.
enum class TokenRole : uint8_t { kStructure = 0, kName = 1, kKey = 2, kValue = 3 };
const char* token_role_name(TokenRole role);  // "structure", "name", "key", "value"

struct RoleWeights {
  float name = 2.0f, key = 1.5f, value = 3.0f, structure = 1.0f;
  float of(TokenRole role) const;
};

// The answer as the model writes it: json.dumps(calls, separators=(",", ":"),
// ensure_ascii=False) of [{"name": snake, "arguments": {...}}]: keys "name" then
// "arguments", argument keys in the example's order, non-ASCII as raw UTF-8 (the model
// copies values from the query, which it reads as raw text), \" \\ \n \r \t \b \f and
// \u00XX for other control bytes, integers as integers, floats as Python's repr.
// byte_roles (optional) gets one role per byte of the result. Examples:
//   [] -> "[]"
//   set_timer {minutes: 10} -> [{"name":"set_timer","arguments":{"minutes":10}}]
//   {"city": "Zürich"} -> {"city":"Zürich"} (raw UTF-8, not \u00fc)
std::string answer_text(const std::vector<AnswerCall>& calls, std::vector<TokenRole>* byte_roles);

// One role per token of ids = tokenizer.encode(text): the role, among the bytes of `text`
// the token covers, with the highest weight (ties: value, name, key, structure). Tokens are
// aligned with `text` through their token_text: every non-space byte is matched in order, so
// the dummy-prefix space and runs of spaces that the tokenizer collapsed are handled.
// Code::kInternal if the tokens do not spell the text (a bug, or an exotic vocabulary).
Status answer_token_roles(const Tokenizer& tokenizer, std::string_view text,
                          const std::vector<TokenRole>& byte_roles,
                          const std::vector<int32_t>& ids, const RoleWeights& weights,
                          std::vector<TokenRole>* roles);

// Per-example augmentation of the tool list, applied before normalisation. The answer is
// unaffected: nothing in it refers to an order. parse_tools writes every tool as
// {"name","description","parameters"}, so shuffling a tool's own keys changes what the
// encoder sees only for keys inside the parameter specs (shuffle_param_keys).
struct AugmentOptions {
  bool enabled = true;
  bool shuffle_tools = true;        // order of the tools in the list
  bool shuffle_params = true;       // order of the parameters of each tool
  bool shuffle_tool_keys = true;    // top-level key order of each tool object
  bool shuffle_param_keys = false;  // key order inside each flat parameter spec
  // Renaming (docs/training.md, "Augmentation"): each tool (each parameter) is given, with
  // this probability, a new name made of words from the example's own descriptions, in the
  // tool list and in the answer alike, so the model learns to copy names from the list
  // rather than remember them. 0 = never (the default).
  double rename_tools = 0.0;
  double rename_params = 0.0;
  // Word swapping (the same section): with this probability an example's words that the
  // request shares with its tools (each with probability 1/2, at least one) and a few words
  // only the tools use (0.15 each) are replaced everywhere, in the request, the tool list
  // and the answer, by other words of the tokenizer's vocabulary, so the model learns to
  // match requests to tools by the words they share. 0 = never (the default).
  double swap_words = 0.0;
};

// Renames tools and parameters of a normalised tool list (`tools_json`, as parse_tools writes
// it) and of the calls of its answer, consistently, as AugmentOptions::rename_* say; names
// drawn from `seed`. Returns false (and leaves both alone) when a call names an unknown tool.
bool rename_tools_and_calls(std::string* tools_json, std::vector<AnswerCall>* calls,
                            const AugmentOptions& options, uint64_t seed);
// The word swap of AugmentOptions::swap_words on a request, its normalised tool list and its
// answer, with replacement words drawn from `pool` (swap_word_pool) by `seed`. Returns how
// many words were swapped; 0 leaves all three alone.
int swap_shared_words(std::string* query, std::string* tools_json, std::vector<AnswerCall>* calls,
                      const std::vector<std::string>& pool, const AugmentOptions& options, uint64_t seed);
// A tokenizer's whole-word pieces of 4 to 10 lower-case letters (common words left out).
std::vector<std::string> swap_word_pool(const Tokenizer& tokenizer);
// A permuted copy of `tools` (an array of tool objects in any shape parse_tools accepts):
// the same tools and parameters, in an order drawn from `seed`.
nlohmann::ordered_json augment_tools(const nlohmann::ordered_json& tools,
                                     const AugmentOptions& options, uint64_t seed);

struct PairOptions {
  RoleWeights weights;
  AugmentOptions augment;
};

// One training pair. With answer tokens a1..an:
//   dec_in  = [EOS, <tool_call>, a1, ..., an]
//   targets = [<tool_call>, a1, ..., an, EOS]
struct TrainPair {
  std::vector<int32_t> enc_ids;  // (Te) build_encoder_ids(query, tools JSON)
  int32_t enc_prefix = 0;        // the catalog mask's tool block length (0: bidirectional)
  std::vector<int32_t> dec_in;   // (Td)
  std::vector<int32_t> targets;  // (Td)
  std::vector<float> weights;    // (Td) RoleWeights of each target token's role
  std::vector<TokenRole> roles;  // (Td)
  bool enc_truncated = false;    // the encoder input was cut to max_enc_len (kept, as at inference)
  bool fits = true;              // false: Td > max_dec_len; the vectors are then empty
  int32_t target_len = 0;        // n + 2, set even when !fits
  std::string answer;            // answer_text(answers)
  std::string tools_json;        // the normalised (augmented) tools JSON the encoder saw
  int64_t line = 0;
  int32_t epoch = 0;
};

// Builds the pair for `example`; with options.augment.enabled the tools are first permuted
// by augment_tools(..., augment_seed). A target longer than config.max_dec_len is never
// cut: fits = false (the caller drops the example and counts it).
Status make_train_pair(const Tokenizer& tokenizer, const ModelConfig& config,
                       const PairOptions& options, const Example& example,
                       uint64_t augment_seed, TrainPair* out);

// ---- batches -----------------------------------------------------------------------------

// B pairs padded on the right to the batch's longest input/target.
struct Batch {
  int32_t B = 0, Te = 0, Td = 0;
  std::vector<int32_t> enc_ids;    // (B, Te) pad_id on padding
  std::vector<uint8_t> enc_valid;  // (B, Te) 1 = real token, 0 = padding
  std::vector<int32_t> dec_in;     // (B, Td) pad_id on padding
  std::vector<int32_t> targets;    // (B, Td) -1 on padding
  std::vector<float> weights;      // (B, Td) 0 on padding
  std::vector<int32_t> enc_len;    // (B) real encoder tokens per row
  std::vector<int32_t> enc_prefix; // (B) the catalog mask's tool block per row (0: none)
  std::vector<int32_t> dec_len;    // (B) real decoder tokens per row
  std::vector<int64_t> lines;      // (B) source line of each row
  int64_t enc_tokens = 0;          // sum of enc_len
  int64_t dec_tokens = 0;          // sum of dec_len (= target tokens)
  double weight_sum = 0;           // sum of weights
};

// Rows in the given order; every pair must have fits = true.
Batch make_batch(const std::vector<const TrainPair*>& rows, int32_t pad_id);

// ---- streaming ---------------------------------------------------------------------------

enum class BadLinePolicy { kSkip, kStop };

struct ReaderOptions {
  size_t max_line_bytes = size_t{1} << 20;  // a longer line is an error for that line
  BadLinePolicy policy = BadLinePolicy::kSkip;  // skip and count, or fail at the first bad line
  size_t max_errors = 20;           // messages kept in DataReport::errors
  bool shuffle = true;
  size_t shuffle_window = 4096;     // lines shuffled together (memory: this many lines)
  uint64_t seed = 0;
  int32_t epochs = 1;               // passes over the file; 0 = forever
  bool check_argument_keys = true;  // see parse_example
  // Train/validation split by content: a non-blank line is in the holdout set when
  // holdout_bucket(line) < holdout_fraction (so duplicate lines always land on the same side,
  // and the split does not depend on the seed or on the line's position). kTrain reads only
  // the other lines, kHoldout only those; counts in DataReport are of the lines read.
  double holdout_fraction = 0.0;
  enum class Split : uint8_t { kAll = 0, kTrain = 1, kHoldout = 2 } split = Split::kAll;
};

// Where a line falls in [0, 1) for the holdout split: FNV-1a of its bytes (a trailing '\r'
// excluded), top 53 bits.
double holdout_bucket(std::string_view line);

// Counts of the first pass over the file (complete once epoch 1 starts; later passes see
// the same lines and are not counted again), plus running totals.
struct DataReport {
  int64_t lines = 0;             // non-blank lines
  int64_t examples = 0;          // lines that passed validation
  int64_t bad_lines = 0;         // lines rejected (validation, or longer than max_line_bytes)
  int64_t dropped_too_long = 0;  // DataLoader: valid examples whose target exceeds max_dec_len
  int64_t truncated_inputs = 0;  // DataLoader: encoder inputs cut to max_enc_len (still used)
  std::vector<std::string> errors;  // the first max_errors messages ("line N: ...") since open/restore
  int32_t epoch = 0;             // the pass being read now
  int64_t examples_out = 0;      // all passes: examples handed out by the reader
  int64_t batches_out = 0;       // all passes: batches handed out by the loader
};

// Where a reader or loader stands. Saved with a checkpoint (to_json) and given back to
// restore(). The shuffle order is a function of (seed, epoch, window offset), so no RNG
// state needs saving: the reader re-reads the window's lines and skips those already
// handed out (without parsing them).
struct DataPosition {
  uint64_t reader_fingerprint = 0;  // options that shape the order; restore refuses others
  uint64_t loader_fingerprint = 0;  // 0 for a bare ExampleReader
  uint64_t file_bytes = 0;          // size of the file; restore refuses a changed file
  int32_t epoch = 0;
  uint64_t window_offset = 0;  // byte offset where the current shuffle window's reading began
  int64_t window_line = 1;     // the line number there
  uint64_t window_taken = 0;   // window lines already handed out
  uint64_t batches_taken = 0;  // DataLoader: batches already handed out from the bucket window
                               // that started at the reader position above
  DataReport report;           // the counts restore() starts from: the reader's at this
                               // point, the loader's as its bucket window began (no errors)

  std::string to_json() const;  // compact JSON object
  static Result<DataPosition> from_json(std::string_view text);  // kInvalidInput on bad input
};

// Reads validated examples from a JSONL file, one window of lines at a time.
class ExampleReader {
 public:
  // kIoError when the file cannot be opened; kInvalidInput for bad options.
  static Result<std::unique_ptr<ExampleReader>> open(const std::string& path,
                                                     const ReaderOptions& options);
  ~ExampleReader();

  // The next valid example; *end = true (and ok) after the last epoch. Errors: the bad
  // line's status under BadLinePolicy::kStop (the reader has then moved past it; another
  // call continues), kIoError, or kInvalidInput when a whole pass yields no valid example.
  Status next(Example* out, bool* end);
  DataPosition position() const;
  // kInvalidInput when the position belongs to other options or another file.
  Status restore(const DataPosition& position);
  const DataReport& report() const;

  size_t window_bytes() const;       // bytes of line text held now
  size_t peak_window_bytes() const;  // the most held at any time
  uint64_t file_bytes() const;

 private:
  ExampleReader();
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

struct BatchOptions {
  int32_t batch_size = 32;       // rows per batch (the last batch of a window may be smaller)
  int32_t bucket_window = 1024;  // examples sorted by encoder length together, then cut into batches
  bool shuffle_batches = true;   // shuffle the batches of each window (seeded)
};

struct DataOptions {
  ReaderOptions reader;
  PairOptions pair;
  BatchOptions batch;
};

// Examples -> pairs -> length-bucketed batches: take bucket_window pairs from the reader
// (dropping and counting targets that do not fit), stable-sort them by encoder length, cut
// into batches of batch_size, shuffle the batch order, hand them out one by one.
class DataLoader {
 public:
  // Copies the tokenizer and config; kInvalidInput for bad options.
  static Result<std::unique_ptr<DataLoader>> open(const std::string& path, const Tokenizer& tokenizer,
                                                  const ModelConfig& config, const DataOptions& options);
  ~DataLoader();

  // The next batch; *end = true (and ok) when the reader is exhausted. Errors as
  // ExampleReader::next, and kInvalidInput when a whole pass yields no pair that fits.
  Status next(Batch* out, bool* end);
  DataPosition position() const;
  Status restore(const DataPosition& position);
  DataReport report() const;

 private:
  DataLoader();
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// Every valid example of a file in file order (one pass, no shuffle): for evaluation and
// tools. Bad lines follow options.policy; *report (optional) gets the counts.
Result<std::vector<Example>> read_examples(const std::string& path, ReaderOptions options,
                                           DataReport* report);

// ---- contrastive retrieval pairs -----------------------------------------------------------
// (query, positive tool text) pairs for the retrieval head's CLIP loss (trainer.h,
// TrainModel::contrastive_forward_backward). The query and each tool are encoded SEPARATELY,
// as a retriever encodes them at inference: no <tools> token, no other tool beside it.

// The text a tool is retrieved by: its normalised JSON object exactly as it appears inside
// ToolSet::normalized_json (json_dumps_compact of {"name": snake_case, "description",
// "parameters": {p: flat spec}}), so "[" + texts joined by "," + "]" == normalized_json.
// Example: {"name":"get_weather","description":"Current weather.","parameters":
// {"location":{"type":"string","description":"City.","required":true}}}
std::string tool_retrieval_text(const Tool& tool);

// One pair. The positive is the tool the example's first answer calls.
struct ContrastivePair {
  std::vector<int32_t> query_ids;  // encode(query) cut to max_enc_len
  std::vector<int32_t> tool_ids;   // encode(tool_retrieval_text(positive)) cut to max_enc_len
  std::string tool_text;           // tool_retrieval_text(positive): in-batch identity
  std::string tool_name;           // the positive's snake_case name
  bool truncated = false;          // either side was cut to max_enc_len
  int64_t line = 0;
};

// The pair of `example`; *has_pair = false (and ok, *out untouched) when it answers [].
// kInvalidInput when the query or the tool text encodes to no token.
Status make_contrastive_pair(const Tokenizer& tokenizer, const ModelConfig& config,
                             const Example& example, ContrastivePair* out, bool* has_pair);

// Pairs grouped for in-batch negatives, as indices into `pairs`: walking the pairs in order,
// each joins the oldest open group that does not yet hold its tool text (else opens a new
// one); a group closes when it reaches batch_size. Closed groups come first, in the order
// they closed, then the open ones in the order they opened; groups of one pair (no negative)
// are dropped. Within a group no two pairs share a tool text. Example (batch_size 2, tool
// texts A A B C): {0, 2}, {1, 3}. batch_size < 2 gives no group.
std::vector<std::vector<size_t>> group_contrastive_pairs(const std::vector<ContrastivePair>& pairs,
                                                         int32_t batch_size);

// N pairs padded on the right (pad_id) to the longest query and the longest tool text.
struct ContrastiveBatch {
  int32_t N = 0, Tq = 0, Tt = 0;
  std::vector<int32_t> query_ids;  // (N, Tq)
  std::vector<int32_t> tool_ids;   // (N, Tt)
  std::vector<int64_t> lines;      // (N) source line of each pair
};
// kInvalidInput for fewer than 2 rows, an empty side, or two rows with the same tool text.
Status make_contrastive_batch(const std::vector<const ContrastivePair*>& rows, int32_t pad_id,
                              ContrastiveBatch* out);

// All of the above over a list of examples, in their order: pairs (examples without a call
// skipped), grouped, padded. *skipped (optional) counts the examples that gave no pair or
// were left in a group of one.
Status make_contrastive_batches(const Tokenizer& tokenizer, const ModelConfig& config,
                                const std::vector<Example>& examples, int32_t batch_size,
                                std::vector<ContrastiveBatch>* out, int64_t* skipped);

// An endless, seeded stream of contrastive batches over a fixed list of pairs, for a training
// loop: each epoch shuffles the pairs (a pure function of seed and epoch), groups them
// (group_contrastive_pairs) and hands the groups out in order, padded. The position is two
// numbers (epoch, batches taken in it): save them and restore() gives the same continuation.
class ContrastiveStream {
 public:
  // kInvalidInput for batch_size < 2, a pair with empty ids, or fewer than 2 different tool
  // texts (no batch could be formed).
  static Result<ContrastiveStream> create(std::vector<ContrastivePair> pairs, int32_t batch_size,
                                          int32_t pad_id, uint64_t seed);
  Status next(ContrastiveBatch* out);
  int32_t epoch() const { return epoch_; }
  uint64_t taken() const { return taken_; }  // batches handed out in this epoch
  size_t batches_in_epoch() const { return groups_.size(); }
  // kInvalidInput (and no change) for a negative epoch or taken past the epoch's batches.
  Status restore(int32_t epoch, uint64_t taken);

 private:
  std::vector<std::vector<size_t>> groups_of_epoch(int32_t epoch) const;
  void start_epoch(int32_t epoch);
  std::vector<ContrastivePair> pairs_;
  int32_t batch_size_ = 0, pad_id_ = 0;
  uint64_t seed_ = 0;
  int32_t epoch_ = 0;
  size_t taken_ = 0;
  std::vector<std::vector<size_t>> groups_;  // this epoch's batches, as indices into pairs_
};

}  // namespace np
