// datagen.h — the procedural data factory: reads hand-written content (categories of tool
// definitions, query templates and slot value lists, data/factory/) and writes Needle-format
// JSONL examples ({"query", "tools", "answers"}) with automatic variation of tool names,
// descriptions, parameter names, schema shapes and query surface, multi-call and no-call
// examples, deduplication and a statistics report. A fixed seed gives identical bytes.
// Splits: train and dev draw from the same tool pool (different seed streams); test draws
// only from the held-out tools (marked "split": "test" in the content), whose names,
// descriptions and parameter names never occur in train or dev output.
// Not here: the teacher's HTTP client and the command line (cli/cmd_datagen.cpp), tokenizer
// training.
// Content format, variation rules and decisions: docs/data.md; tests: tests/core/test_datagen.cpp.
#pragma once
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "np/status.h"
#include "np/tokenizer.h"

namespace np {

enum class DataSplit { kTrain = 0, kDev = 1, kTest = 2 };
const char* data_split_name(DataSplit split);  // "train", "dev", "test"
// "train" / "dev" / "test" -> split; false for anything else.
bool data_split_from_name(const std::string& name, DataSplit* out);

struct DatagenOptions {
  DataSplit split = DataSplit::kTrain;
  uint64_t seed = 1;
  int64_t count = 1000;        // examples to write (all distinct)
  double multi_share = 0.10;   // examples with two calls
  double none_share = 0.10;    // examples answered with [] (half chit-chat, half an unoffered tool)
  int32_t min_tools = 1;       // tools offered per example, drawn uniformly in [min, max]
  int32_t max_tools = 10;
  double typo_share = 0.10;    // queries with one or two typos (never inside a value)
  double teacher_share = 0.0;  // calling examples whose query a teacher is asked to rephrase
  // JSONL files whose examples must not be repeated (dev/test against train): an example
  // whose query (ignoring case) and answer (snake_case names) occur there is drawn again.
  std::vector<std::string> avoid_files;
};

// An optional teacher model: (system prompt, user prompt) -> the assistant's reply text.
// The CLI's is an OpenAI-compatible chat-completions client (--teacher-url); tests use a
// local fake. Its replies are never trusted: see DataFactory::generate.
using TeacherFn = std::function<Result<std::string>(const std::string& system, const std::string& user)>;

// Sizes of the loaded content (for reports and tests).
struct ContentCounts {
  int64_t categories = 0;
  int64_t tools = 0;        // hand-designed tool definitions
  int64_t train_tools = 0;  // the train/dev pool
  int64_t test_tools = 0;   // held out for the test split
  int64_t templates = 0;    // query templates over all tools
  int64_t slot_values = 0;  // values over all slot lists (ranges count as 1)
  int64_t no_call_queries = 0;
};

// Statistics of one generate() run; to_json() is the --stats report.
struct DatagenStats {
  DataSplit split = DataSplit::kTrain;
  uint64_t seed = 0;
  ContentCounts content;
  int64_t examples = 0;
  int64_t single = 0, multi = 0, none = 0;       // by number of calls (0, 1, 2)
  int64_t none_chitchat = 0, none_unoffered = 0;
  int64_t duplicates_rejected = 0;  // within the output, or found in avoid_files
  int64_t avoided_examples = 0;      // examples read from avoid_files
  int64_t typos = 0;
  int64_t distinct_tools_called = 0;
  std::vector<std::pair<std::string, int64_t>> per_category;  // examples whose first call is there
  std::vector<std::pair<std::string, int64_t>> calls_per_category;
  std::vector<int64_t> tools_offered;          // [k] = examples offering k tools (k <= 10)
  std::vector<std::pair<std::string, int64_t>> schema_forms;  // flat, json_schema, openai, ...
  std::vector<std::pair<std::string, int64_t>> name_styles;   // snake, camel, ... (per offered tool)
  int64_t params_offered = 0, params_renamed = 0;
  // Teacher paraphrases: asked, accepted, rejected by validation, failed calls, and the
  // first few rejection reasons.
  int64_t teacher_asked = 0, teacher_accepted = 0, teacher_rejected = 0, teacher_errors = 0;
  std::vector<std::string> teacher_notes;
  // Lengths of query, tools (normalised JSON) and answer, in characters (bytes) and, when a
  // tokenizer was given, in tokens.
  std::vector<int64_t> query_chars, tools_chars, answer_chars;
  std::vector<int64_t> query_tokens, tools_tokens, answer_tokens;
  double seconds = 0;  // wall time, set by the caller (reported when > 0)
  std::string to_json() const;  // pretty JSON object
};

class DataFactory {
 public:
  // Loads every *.json under dir/categories/ (sorted by file name) and dir/common.json.
  // Errors (Code::kInvalidInput, kIoError) name the file and the offending field, e.g.
  //   data/factory/categories/timers.json: tools[3] "set_timer": queries[2]: unknown slot {minuts}
  static Result<std::unique_ptr<DataFactory>> load(const std::string& dir);
  ~DataFactory();

  const ContentCounts& counts() const;

  // Writes options.count JSONL lines (each ending in '\n') to *out, appending. tokenizer
  // (optional) adds token lengths to *stats (optional). kInvalidInput for bad options or
  // when the content cannot give that many distinct examples.
  // teacher (optional): for options.teacher_share of the calling examples the teacher is
  // asked to rephrase the query keeping every value verbatim. A reply is used only if it is
  // one line of 3 to 400 bytes, differs from the query, and contains every string value of
  // the answer (exactly; enum values in any case) and every number's digits; the example is
  // then checked again like any other. A rejected reply or a failed call keeps the
  // procedural query. Teacher output is not reproducible from the seed.
  Status generate(const DatagenOptions& options, const Tokenizer* tokenizer, std::string* out,
                  DatagenStats* stats, const TeacherFn* teacher = nullptr) const;
  // The same, handing each line (without its '\n') to `sink` as it is made, so that a large
  // set never sits in memory; an error from the sink stops the run and is returned.
  using LineSink = std::function<Status(const std::string& line)>;
  Status generate_to(const DatagenOptions& options, const Tokenizer* tokenizer, const LineSink& sink,
                     DatagenStats* stats, const TeacherFn* teacher = nullptr) const;

 private:
  DataFactory();
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// What two JSONL files share, by tool name (snake_case), tool description and parameter
// name (snake_case). The split rule is that train and test share none of them.
struct DisjointReport {
  int64_t a_examples = 0, b_examples = 0;
  int64_t a_tools = 0, b_tools = 0;  // distinct tool names in each
  std::vector<std::string> shared_names, shared_descriptions, shared_params;  // sorted
  bool disjoint() const {
    return shared_names.empty() && shared_descriptions.empty() && shared_params.empty();
  }
};
// Reads both files (every line must be a valid example). kIoError / kInvalidInput.
Status check_disjoint(const std::string& path_a, const std::string& path_b, DisjointReport* report);

}  // namespace np
