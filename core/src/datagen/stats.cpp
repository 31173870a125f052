// stats.cpp — the data factory's statistics report (DatagenStats::to_json) and the split
// check (check_disjoint): which tool names, descriptions and parameter names two JSONL files
// share. Not here: generation (generate.cpp).
#include <algorithm>
#include <cmath>
#include <set>

#include "np/datagen.h"
#include "np/dataset.h"
#include "np/tools.h"

namespace np {

namespace {

using json = nlohmann::ordered_json;

// {"min", "mean", "p50", "p95", "max"} of a list of lengths ({} when empty).
json summary(std::vector<int64_t> v) {
  json s = json::object();
  if (v.empty()) return s;
  std::sort(v.begin(), v.end());
  double sum = 0;
  for (int64_t x : v) sum += static_cast<double>(x);
  auto at = [&](double q) { return v[std::min(v.size() - 1, static_cast<size_t>(q * static_cast<double>(v.size())))]; };
  s["min"] = v.front();
  s["mean"] = std::round(sum / static_cast<double>(v.size()) * 10.0) / 10.0;
  s["p50"] = at(0.5);
  s["p95"] = at(0.95);
  s["max"] = v.back();
  return s;
}

json pairs(const std::vector<std::pair<std::string, int64_t>>& v) {
  json o = json::object();
  for (const auto& kv : v) o[kv.first] = kv.second;
  return o;
}

double share(int64_t a, int64_t b) { return b ? std::round(1e4 * static_cast<double>(a) / static_cast<double>(b)) / 1e4 : 0.0; }

}  // namespace

std::string DatagenStats::to_json() const {
  json j = json::object();
  j["split"] = data_split_name(split);
  j["seed"] = seed;
  json c = json::object();
  c["categories"] = content.categories;
  c["tools"] = content.tools;
  c["train_tools"] = content.train_tools;
  c["test_tools"] = content.test_tools;
  c["templates"] = content.templates;
  c["slot_values"] = content.slot_values;
  c["no_call_queries"] = content.no_call_queries;
  j["content"] = c;
  j["examples"] = examples;
  json calls = json::object();
  calls["0"] = none;
  calls["1"] = single;
  calls["2"] = multi;
  j["examples_by_calls"] = calls;
  j["share_no_call"] = share(none, examples);
  j["share_multi_call"] = share(multi, examples);
  j["no_call_kinds"] = json{{"chitchat", none_chitchat}, {"unoffered_tool", none_unoffered}};
  j["duplicates_rejected"] = duplicates_rejected;
  if (avoided_examples > 0) j["avoided_examples"] = avoided_examples;
  j["share_typos"] = share(typos, examples);
  j["distinct_tools_called"] = distinct_tools_called;
  j["examples_per_category"] = pairs(per_category);
  j["calls_per_category"] = pairs(calls_per_category);
  json offered = json::object();
  for (size_t k = 1; k < tools_offered.size(); ++k) offered[std::to_string(k)] = tools_offered[k];
  j["tools_offered"] = offered;
  j["schema_forms"] = pairs(schema_forms);
  j["name_styles"] = pairs(name_styles);
  j["share_params_renamed"] = share(params_renamed, params_offered);
  json chars = json::object();
  chars["query"] = summary(query_chars);
  chars["tools"] = summary(tools_chars);
  chars["answer"] = summary(answer_chars);
  j["length_chars"] = chars;
  if (!query_tokens.empty()) {
    json toks = json::object();
    toks["query"] = summary(query_tokens);
    toks["tools"] = summary(tools_tokens);
    toks["answer"] = summary(answer_tokens);
    j["length_tokens"] = toks;
  }
  if (teacher_asked > 0) {
    json t = json::object();
    t["asked"] = teacher_asked;
    t["accepted"] = teacher_accepted;
    t["rejected"] = teacher_rejected;
    t["errors"] = teacher_errors;
    t["notes"] = teacher_notes;
    j["teacher"] = t;
  }
  if (seconds > 0) j["seconds"] = std::round(seconds * 1000.0) / 1000.0;
  return j.dump(2, ' ', false, json::error_handler_t::replace);
}

namespace {

struct Vocab {
  std::set<std::string> names, descriptions, params;
  int64_t examples = 0;
};

Status collect(const std::string& path, Vocab* v) {
  ReaderOptions ro;
  ro.shuffle = false;
  ro.policy = BadLinePolicy::kStop;
  ro.check_argument_keys = true;
  DataReport report;
  auto examples = read_examples(path, ro, &report);
  if (!examples.ok()) return Status(examples.status().code(), path + ": " + examples.status().message());
  for (const auto& ex : examples.value()) {
    for (const auto& t : ex.toolset.tools) {
      v->names.insert(t.name);
      if (!t.description.empty()) v->descriptions.insert(t.description);
      for (const auto& p : t.params) v->params.insert(to_snake_case(p.name));
    }
  }
  v->examples = static_cast<int64_t>(examples.value().size());
  return Status::Ok();
}

std::vector<std::string> common(const std::set<std::string>& a, const std::set<std::string>& b) {
  std::vector<std::string> out;
  std::set_intersection(a.begin(), a.end(), b.begin(), b.end(), std::back_inserter(out));
  return out;
}

}  // namespace

Status check_disjoint(const std::string& path_a, const std::string& path_b, DisjointReport* report) {
  *report = DisjointReport();
  Vocab a, b;
  NP_RETURN_IF_ERROR(collect(path_a, &a));
  NP_RETURN_IF_ERROR(collect(path_b, &b));
  report->a_examples = a.examples;
  report->b_examples = b.examples;
  report->a_tools = static_cast<int64_t>(a.names.size());
  report->b_tools = static_cast<int64_t>(b.names.size());
  report->shared_names = common(a.names, b.names);
  report->shared_descriptions = common(a.descriptions, b.descriptions);
  report->shared_params = common(a.params, b.params);
  return Status::Ok();
}

}  // namespace np
