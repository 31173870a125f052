// metrics.cpp — function-calling metrics (see eval.h and docs/eval.md).
#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstdlib>
#include <functional>

#include "np/eval.h"
#include "util/text.h"

namespace np {

using json = nlohmann::ordered_json;

namespace {

std::string trim_lower(const std::string& s) {
  size_t a = 0, b = s.size();
  while (a < b && std::isspace(static_cast<unsigned char>(s[a]))) ++a;
  while (b > a && std::isspace(static_cast<unsigned char>(s[b - 1]))) --b;
  return ascii_lowered(std::string_view(s).substr(a, b - a));
}

// A whole string that is a JSON-style decimal number -> true and its value.
bool parse_number(const std::string& s, double* out) {
  if (s.empty()) return false;
  const char c0 = s[0];
  if (!(std::isdigit(static_cast<unsigned char>(c0)) || c0 == '-' || c0 == '+' || c0 == '.')) return false;
  char* end = nullptr;
  const double v = std::strtod(s.c_str(), &end);
  if (end != s.c_str() + s.size() || !std::isfinite(v)) return false;
  *out = v;
  return true;
}

const json* accept_for(const json& accept, const std::string& key) {
  if (!accept.is_object()) return nullptr;
  auto args = accept.find("arguments");
  if (args == accept.end() || !args->is_object()) return nullptr;
  auto it = args->find(key);
  if (it == args->end() || !it->is_array()) return nullptr;
  return &*it;
}

bool omittable(const json* alts) {
  if (!alts) return false;
  for (const auto& a : *alts)
    if (a.is_string() && a.get<std::string>().empty()) return true;
  return false;
}

// Value of reference key `key` accepted? (the reference value, or any alternative)
bool value_ok(const json& pred, const json& ref, const json* alts) {
  if (eval_values_equal(pred, ref)) return true;
  if (alts)
    for (const auto& a : *alts)
      if (!(a.is_string() && a.get<std::string>().empty()) && eval_values_equal(pred, a)) return true;
  return false;
}

const json& accept_at(const json& accept, size_t i) {
  static const json null_json;
  if (accept.is_array() && i < accept.size()) return accept[i];
  return null_json;
}

// Maximum bipartite matching (Kuhn): refs on the left, preds on the right.
int64_t max_matching(size_t nref, size_t npred, const std::function<bool(size_t, size_t)>& edge) {
  std::vector<int> match_pred(npred, -1);
  int64_t count = 0;
  for (size_t r = 0; r < nref; ++r) {
    std::vector<char> seen(npred, 0);
    std::function<bool(size_t)> augment = [&](size_t rr) {
      for (size_t p = 0; p < npred; ++p) {
        if (seen[p] || !edge(rr, p)) continue;
        seen[p] = 1;
        if (match_pred[p] < 0 || augment(static_cast<size_t>(match_pred[p]))) {
          match_pred[p] = static_cast<int>(rr);
          return true;
        }
      }
      return false;
    };
    if (augment(r)) ++count;
  }
  return count;
}

// Arguments as an object (anything else counts as no arguments).
const json& args_of(const EvalCall& c) {
  static const json empty = json::object();
  return c.arguments.is_object() ? c.arguments : empty;
}

}  // namespace

json eval_normalize(const json& v) {
  if (v.is_string()) {
    const std::string s = trim_lower(v.get<std::string>());
    double d = 0;
    if (parse_number(s, &d)) return json(d);
    return json(s);
  }
  if (v.is_number()) return json(v.get<double>());
  if (v.is_array()) {
    json out = json::array();
    for (const auto& x : v) out.push_back(eval_normalize(x));
    return out;
  }
  if (v.is_object()) {
    // Key order does not matter: compare as a sorted map.
    nlohmann::json sorted = nlohmann::json::object();
    for (auto it = v.begin(); it != v.end(); ++it) sorted[it.key()] = eval_normalize(it.value());
    json out = json::object();
    for (auto it = sorted.begin(); it != sorted.end(); ++it) out[it.key()] = json(it.value());
    return out;
  }
  return v;
}

bool eval_values_equal(const json& a, const json& b) { return eval_normalize(a) == eval_normalize(b); }

bool eval_call_matches(const EvalCall& pred, const EvalCall& ref, const json& accept) {
  if (pred.name != ref.name) return false;
  const json& pa = args_of(pred);
  const json& ra = args_of(ref);
  for (auto it = ra.begin(); it != ra.end(); ++it) {
    const json* alts = accept_for(accept, it.key());
    auto p = pa.find(it.key());
    if (p == pa.end()) {
      if (!omittable(alts)) return false;
      continue;
    }
    if (!value_ok(*p, it.value(), alts)) return false;
  }
  for (auto it = pa.begin(); it != pa.end(); ++it) {
    if (ra.contains(it.key())) continue;
    // A key the reference omits is fine only when the accept list names it with a value.
    const json* alts = accept_for(accept, it.key());
    if (!alts) return false;
    bool ok = false;
    for (const auto& a : *alts)
      if (!(a.is_string() && a.get<std::string>().empty()) && eval_values_equal(it.value(), a)) ok = true;
    if (!ok) return false;
  }
  return true;
}

bool eval_exact_match(const EvalExample& e) {
  if (!e.parsed || e.prediction.size() != e.reference.size()) return false;
  const int64_t m = max_matching(e.reference.size(), e.prediction.size(), [&](size_t r, size_t p) {
    return eval_call_matches(e.prediction[p], e.reference[r], accept_at(e.accept, r));
  });
  return m == static_cast<int64_t>(e.reference.size());
}

EvalMetrics eval_compute(const std::vector<EvalExample>& examples) {
  EvalMetrics m;
  m.examples = static_cast<int64_t>(examples.size());
  int64_t exact = 0, parsed = 0, name_tp = 0, args_all_ok = 0;
  int64_t empty_pred = 0, empty_ref = 0, false_empty = 0, false_call = 0, value_ok_count = 0;
  int64_t hallucinated = 0, missing = 0;
  for (const EvalExample& e : examples) {
    if (eval_exact_match(e)) ++exact;
    if (e.parsed) ++parsed;
    const std::vector<EvalCall> none;
    const std::vector<EvalCall>& pred = e.parsed ? e.prediction : none;
    m.pred_calls += static_cast<int64_t>(pred.size());
    m.ref_calls += static_cast<int64_t>(e.reference.size());
    if (pred.empty()) ++empty_pred;
    if (e.reference.empty()) ++empty_ref;
    if (pred.empty() && !e.reference.empty()) ++false_empty;
    if (!pred.empty() && e.reference.empty()) ++false_call;
    // names: multiset intersection
    std::vector<std::string> pn, rn;
    for (const auto& c : pred) pn.push_back(c.name);
    for (const auto& c : e.reference) rn.push_back(c.name);
    std::sort(pn.begin(), pn.end());
    std::sort(rn.begin(), rn.end());
    std::vector<std::string> common;
    std::set_intersection(pn.begin(), pn.end(), rn.begin(), rn.end(), std::back_inserter(common));
    name_tp += static_cast<int64_t>(common.size());
    // calls: maximum matching of whole calls
    m.matched_calls += max_matching(e.reference.size(), pred.size(), [&](size_t r, size_t p) {
      return eval_call_matches(pred[p], e.reference[r], accept_at(e.accept, r));
    });
    // arguments: pair each reference call with a predicted call of the same name,
    // preferring one that matches fully.
    std::vector<char> used(pred.size(), 0);
    for (size_t r = 0; r < e.reference.size(); ++r) {
      const EvalCall& ref = e.reference[r];
      const json& acc = accept_at(e.accept, r);
      int pick = -1;
      for (size_t p = 0; p < pred.size() && pick < 0; ++p)
        if (!used[p] && eval_call_matches(pred[p], ref, acc)) pick = static_cast<int>(p);
      for (size_t p = 0; p < pred.size() && pick < 0; ++p)
        if (!used[p] && pred[p].name == ref.name) pick = static_cast<int>(p);
      if (pick < 0) continue;
      used[pick] = 1;
      ++m.paired_calls;
      const EvalCall& pc = pred[pick];
      if (eval_call_matches(pc, ref, acc)) ++args_all_ok;
      const json& ra = args_of(ref);
      const json& pa = args_of(pc);
      for (auto it = ra.begin(); it != ra.end(); ++it) {
        const json* alts = accept_for(acc, it.key());
        auto p = pa.find(it.key());
        if (p == pa.end()) {
          if (!omittable(alts)) {
            ++m.ref_keys;
            ++missing;
          }
          continue;
        }
        ++m.ref_keys;
        ++m.shared_keys;
        if (value_ok(*p, it.value(), alts)) ++value_ok_count;
      }
      for (auto it = pa.begin(); it != pa.end(); ++it) {
        ++m.pred_keys;
        if (!ra.contains(it.key()) && !accept_for(acc, it.key())) ++hallucinated;
      }
    }
  }
  auto ratio = [](int64_t a, int64_t b, double if_zero) { return b ? static_cast<double>(a) / b : if_zero; };
  auto f1 = [](double p, double r) { return p + r > 0 ? 2 * p * r / (p + r) : 0.0; };
  const int64_t n = m.examples;
  m.exact_match = ratio(exact, n, 0);
  m.parse_rate = ratio(parsed, n, 0);
  // Empty sets agree perfectly: precision/recall of nothing against nothing is 1.
  m.name_precision = ratio(name_tp, m.pred_calls, m.ref_calls ? 0.0 : 1.0);
  m.name_recall = ratio(name_tp, m.ref_calls, 1.0);
  m.name_f1 = f1(m.name_precision, m.name_recall);
  m.call_precision = ratio(m.matched_calls, m.pred_calls, m.ref_calls ? 0.0 : 1.0);
  m.call_recall = ratio(m.matched_calls, m.ref_calls, 1.0);
  m.call_f1 = f1(m.call_precision, m.call_recall);
  m.argument_accuracy = ratio(args_all_ok, m.paired_calls, 1.0);
  m.hallucinated_param_rate = ratio(hallucinated, m.pred_keys, 0);
  m.missing_param_rate = ratio(missing, m.ref_keys, 0);
  m.value_accuracy = ratio(value_ok_count, m.shared_keys, 1.0);
  m.empty_pred_share = ratio(empty_pred, n, 0);
  m.empty_ref_share = ratio(empty_ref, n, 0);
  m.false_empty_share = ratio(false_empty, n, 0);
  m.false_call_share = ratio(false_call, n, 0);
  return m;
}

json eval_metrics_to_json(const EvalMetrics& m) {
  return json{{"examples", m.examples},
              {"exact_match", m.exact_match},
              {"parse_rate", m.parse_rate},
              {"name_precision", m.name_precision},
              {"name_recall", m.name_recall},
              {"name_f1", m.name_f1},
              {"call_precision", m.call_precision},
              {"call_recall", m.call_recall},
              {"call_f1", m.call_f1},
              {"argument_accuracy", m.argument_accuracy},
              {"hallucinated_param_rate", m.hallucinated_param_rate},
              {"missing_param_rate", m.missing_param_rate},
              {"value_accuracy", m.value_accuracy},
              {"empty_pred_share", m.empty_pred_share},
              {"empty_ref_share", m.empty_ref_share},
              {"false_empty_share", m.false_empty_share},
              {"false_call_share", m.false_call_share},
              {"counts", {{"pred_calls", m.pred_calls}, {"ref_calls", m.ref_calls}, {"matched_calls", m.matched_calls},
                          {"paired_calls", m.paired_calls}, {"pred_keys", m.pred_keys}, {"ref_keys", m.ref_keys},
                          {"shared_keys", m.shared_keys}}}};
}

}  // namespace np
