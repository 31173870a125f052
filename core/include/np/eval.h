// eval.h — evaluation metrics for function calling, as the original Needle reported them:
// exact match (order-insensitive multiset of calls, values normalised), JSON parse rate,
// tool-name precision/recall/F1, call F1, argument accuracy, hallucinated- and
// missing-parameter rates, value accuracy, and empty-prediction shares. BFCL-style
// `accept` lists give acceptable alternatives per argument ("" = may be omitted).
// Definitions: docs/eval.md. Not here: running the model (the CLI's eval command does).
#pragma once
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace np {

// One call as compared: name (the caller's spelling) and arguments (an object).
struct EvalCall {
  std::string name;
  nlohmann::ordered_json arguments = nlohmann::ordered_json::object();
};

// One example: the reference calls, the optional accept list aligned with them (same
// length, each {"name", "arguments": {param: [alternatives...]}}; empty = none), and
// the prediction: parsed calls, or parsed = false when the output was not answer JSON.
struct EvalExample {
  std::vector<EvalCall> reference;
  nlohmann::ordered_json accept;          // null or an array aligned with `reference`
  bool parsed = true;
  std::vector<EvalCall> prediction;
};

// Value normalisation: strings trimmed and lowercased, and a string that is a number
// ("3", " 2.50 ") becomes that number; numbers compared as doubles; arrays and objects
// recursively. Examples: "  Paris " == "paris"; "3" == 3; 2.50 == "2.5"; true != "true".
nlohmann::ordered_json eval_normalize(const nlohmann::ordered_json& v);
bool eval_values_equal(const nlohmann::ordered_json& a, const nlohmann::ordered_json& b);

// Whether `pred` satisfies reference call `ref` (with its accept entry, or null).
bool eval_call_matches(const EvalCall& pred, const EvalCall& ref, const nlohmann::ordered_json& accept);
// Exact match of one example: every reference call matched by a distinct predicted call
// and no predicted call left over (maximum bipartite matching).
bool eval_exact_match(const EvalExample& e);

struct EvalMetrics {
  int64_t examples = 0;
  double exact_match = 0;          // share of examples
  double parse_rate = 0;           // share of outputs that parsed as answer JSON
  double name_precision = 0, name_recall = 0, name_f1 = 0;  // micro, over name multisets
  double call_precision = 0, call_recall = 0, call_f1 = 0;  // micro, over matched calls
  double argument_accuracy = 0;    // share of name-paired calls whose arguments all match
  double hallucinated_param_rate = 0;  // predicted keys the reference lacks / predicted keys
  double missing_param_rate = 0;   // reference keys (not omittable) the prediction lacks / reference keys
  double value_accuracy = 0;       // keys in both whose values match / keys in both
  double empty_pred_share = 0;     // examples predicting []
  double empty_ref_share = 0;      // examples whose reference is []
  double false_empty_share = 0;    // predicted [] where the reference has calls
  double false_call_share = 0;     // predicted calls where the reference is []
  // Raw counts behind the rates.
  int64_t pred_calls = 0, ref_calls = 0, matched_calls = 0, paired_calls = 0;
  int64_t pred_keys = 0, ref_keys = 0, shared_keys = 0;
};

EvalMetrics eval_compute(const std::vector<EvalExample>& examples);

// Runs the model on every example (constrained decoding, default options) and computes the
// metrics: what `needlepoint eval` and the fine-tuning before/after comparisons report.
struct Example;
class Model;
EvalMetrics evaluate_model(std::shared_ptr<const Model> model, const std::vector<Example>& examples);
nlohmann::ordered_json eval_metrics_to_json(const EvalMetrics& m);

}  // namespace np
