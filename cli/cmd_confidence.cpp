// cmd_confidence.cpp — the retrieval and confidence commands (docs/retrieval.md,
// docs/confidence.md):
//   retrieve        rank a tool list by a query with the retrieval head
//   eval-retrieval  recall@k of a data file's queries against the catalog of all its tools
//   calibrate       fit the confidence calibration on a data file and write it into a copy
//                   of the model (needle.format_version 2)
#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <set>
#include <sstream>

#include <nlohmann/json.hpp>

#include "commands.h"
#include "np/confidence.h"
#include "np/dataset.h"
#include "np/eval.h"
#include "np/retrieval.h"
#include "np/tool_caller.h"

namespace np_cli {

namespace {

using ojson = nlohmann::ordered_json;

std::vector<int> parse_ks(const std::string& s) {
  std::vector<int> ks;
  std::stringstream in(s);
  std::string part;
  while (std::getline(in, part, ',')) {
    char* end = nullptr;
    const long k = std::strtol(part.c_str(), &end, 10);
    if (part.empty() || *end != '\0' || k < 1 || k > 100000) return {};
    ks.push_back(static_cast<int>(k));
  }
  return ks;
}

}  // namespace

int cmd_retrieve(const Args& args) {
  std::string model_path, query, tools_arg, tools, k_s;
  if (!arg_value(args, "--model", &model_path) || !arg_value(args, "--query", &query) ||
      !arg_value(args, "--tools", &tools_arg))
    return usage_error("retrieve needs --model M --query Q --tools JSON|@file [-k K]");
  if (!text_or_file(tools_arg, &tools)) return fail("IO_ERROR: cannot read " + tools_arg.substr(1));
  int k = 0;
  if (arg_value(args, "-k", &k_s) || arg_value(args, "--k", &k_s)) {
    const std::vector<int> ks = parse_ks(k_s);
    if (ks.size() != 1) return usage_error("-k must be a positive integer");
    k = ks[0];
  }
  auto model = np::Model::load_file(model_path);
  if (!model.ok()) return fail(model.status().to_string());
  auto set = np::parse_tools(tools);
  if (!set.ok()) return fail(set.status().to_string());
  np::ToolRetriever retriever(model.take());
  auto ranked = retriever.rank(query, set.value());
  if (!ranked.ok()) return fail(ranked.status().to_string());
  ojson out = ojson::array();
  for (const np::RankedTool& t : ranked.value()) {
    if (k > 0 && static_cast<int>(out.size()) >= k) break;
    out.push_back({{"name", t.name}, {"index", t.index}, {"score", t.score}});
  }
  std::printf("%s\n", out.dump().c_str());
  return 0;
}

int cmd_eval_retrieval(const Args& args) {
  std::string model_path, data, k_s = "1,3,5,10";
  if (!arg_value(args, "--model", &model_path) || !arg_value(args, "--data", &data))
    return usage_error("eval-retrieval needs --model M --data D.jsonl [--k 1,3,5,10]");
  arg_value(args, "--k", &k_s);
  const std::vector<int> ks = parse_ks(k_s);
  if (ks.empty()) return usage_error("--k must be a comma-separated list of positive integers");
  auto model = np::Model::load_file(model_path);
  if (!model.ok()) return fail(model.status().to_string());
  np::DataReport report;
  std::vector<np::Example> examples;
  std::string read_error;
  if (!read_examples_in_order(data, &examples, &report, &read_error)) return fail(read_error);
  // The catalog: every distinct tool of the file (by the text it is retrieved by). Built
  // directly (not through parse_tools, whose 1,000-tool limit guards call inputs): ranking
  // reads only each tool's retrieval text.
  np::ToolSet catalog;
  std::map<std::string, size_t> by_text;  // retrieval text -> catalog index
  for (const np::Example& ex : examples)
    for (const np::Tool& t : ex.toolset.tools) {
      const std::string text = np::tool_retrieval_text(t);
      if (by_text.count(text)) continue;
      by_text[text] = catalog.tools.size();
      catalog.tools.push_back(t);
    }
  np::ToolRetriever retriever(model.take(), catalog.tools.size() + 16);
  std::vector<int64_t> hits(ks.size(), 0);
  int64_t queries = 0;
  double mrr = 0;
  for (const np::Example& ex : examples) {
    if (ex.answers.empty()) continue;
    auto ranked = retriever.rank(ex.query, catalog);
    if (!ranked.ok()) return fail(ranked.status().to_string());
    // The rank of the first catalog entry with the called tool's (snake_case) name: the
    // factory renders one tool in several variants (description paraphrases, parameter
    // spellings), and any of them retrieves the right tool.
    std::map<std::string, size_t> first_rank;  // snake name -> best rank
    for (size_t r = 0; r < ranked.value().size(); ++r)
      first_rank.emplace(catalog.tools[static_cast<size_t>(ranked.value()[r].index)].name, r);
    for (const auto& a : ex.answers) {  // every called tool is a (query, tool) pair
      const np::Tool* t = ex.toolset.find(a.name);
      if (!t) continue;
      const size_t r = first_rank[t->name];
      for (size_t i = 0; i < ks.size(); ++i) hits[i] += r < static_cast<size_t>(ks[i]) ? 1 : 0;
      mrr += 1.0 / static_cast<double>(r + 1);
      ++queries;
    }
  }
  if (queries == 0) return fail("INVALID_INPUT: no example of the file calls a tool");
  ojson j;
  j["catalog_tools"] = catalog.tools.size();
  {
    std::set<std::string> distinct;
    for (const np::Tool& t : catalog.tools) distinct.insert(t.name);
    j["catalog_names"] = distinct.size();
  }
  j["pairs"] = queries;
  for (size_t i = 0; i < ks.size(); ++i) j["recall@" + std::to_string(ks[i])] = static_cast<double>(hits[i]) / static_cast<double>(queries);
  j["mrr"] = mrr / static_cast<double>(queries);
  std::printf("%s\n", j.dump().c_str());
  return 0;
}

int cmd_calibrate(const Args& args) {
  std::string model_path, data, out_path, knots_s;
  if (!arg_value(args, "--model", &model_path) || !arg_value(args, "--data", &data) || !arg_value(args, "--out", &out_path))
    return usage_error("calibrate needs --model M --data D.jsonl --out M2.gguf [--knots 20]");
  int knots = 20;
  if (arg_value(args, "--knots", &knots_s)) {
    const std::vector<int> v = parse_ks(knots_s);
    if (v.size() != 1 || v[0] < 2) return usage_error("--knots must be an integer >= 2");
    knots = v[0];
  }
  auto file = np::GgufFile::open_file(model_path);
  if (!file.ok()) return fail(file.status().to_string());
  auto model = np::Model::load(file.value());
  if (!model.ok()) return fail(model.status().to_string());
  np::DataReport report;
  std::vector<np::Example> examples;
  std::string read_error;
  if (!read_examples_in_order(data, &examples, &report, &read_error)) return fail(read_error);
  // The priors the calls decode with, written into the copy as the model's own (negative:
  // the file's, kept as they are).
  np::CallOptions opt;
  {
    std::string prior_error;
    if (!read_tool_prior(args, &opt.tool_prior_name, &opt.tool_prior_call, &opt.tool_prior_margin, &opt.tool_prior_sole, &opt.copy_prior, &opt.echo_prior, &prior_error))
      return usage_error(prior_error);
  }
  np::ToolCaller caller(model.take());
  std::vector<double> raw;
  std::vector<int> correct;
  for (const np::Example& ex : examples) {
    auto r = caller.call(ex.query, ex.tools.dump(), opt);
    if (!r.ok()) return fail("line " + std::to_string(ex.line) + ": " + r.status().to_string());
    np::EvalExample e;
    for (const auto& a : ex.answers) e.reference.push_back({a.original_name, a.arguments});
    e.accept = ex.accept;
    for (const auto& c : r.value().calls) e.prediction.push_back({c.name, c.arguments});
    raw.push_back(r.value().confidence_raw);
    correct.push_back(np::eval_exact_match(e) ? 1 : 0);
  }
  auto cal = np::fit_calibration(raw, correct, knots);
  if (!cal.ok()) return fail(cal.status().to_string());
  // A copy of the file with the calibration key and format version 2.
  np::GgufWriter w;
  const std::vector<std::pair<std::string, float>> priors = {{"needlepoint.decode.tool_prior_name", opt.tool_prior_name},
                                                               {"needlepoint.decode.tool_prior_call", opt.tool_prior_call},
                                                               {"needlepoint.decode.tool_prior_margin", opt.tool_prior_margin},
                                                               {"needlepoint.decode.tool_prior_sole", opt.tool_prior_sole},
                                                               {"needlepoint.decode.copy_prior", opt.copy_prior},
                                                               {"needlepoint.decode.echo_prior", opt.echo_prior}};
  const auto replaced = [&](const std::string& key) {
    if (key == np::kCalibrationKey) return true;
    for (const auto& p : priors)
      if (p.first == key && p.second >= 0) return true;
    return false;
  };
  for (const np::GgufKV& kv : file.value()->kvs())
    if (!replaced(kv.key)) w.set_kv(kv.key, kv.value);
  for (const auto& p : priors)
    if (p.second >= 0) w.set_kv(p.first, np::GgufValue::make_f32(p.second));
  w.set_kv("needle.format_version", np::GgufValue::make_u32(2));
  np::calibration_to_gguf(cal.value(), w);
  for (const np::GgufTensorInfo& t : file.value()->tensors()) {
    const np::Status s = w.add_tensor_raw(t.name, t.dims, t.type, file.value()->tensor_data(t), t.nbytes);
    if (!s.ok()) return fail(s.to_string());
  }
  const np::Status ws = w.write_file(out_path);
  if (!ws.ok()) return fail(ws.to_string());
  std::vector<double> calibrated;
  for (double x : raw) calibrated.push_back(cal.value().apply(x));
  ojson j;
  j["examples"] = raw.size();
  j["exact_match"] = static_cast<double>(std::count(correct.begin(), correct.end(), 1)) / static_cast<double>(correct.size());
  j["ece_raw"] = np::expected_calibration_error(raw, correct);
  j["ece_calibrated_in_sample"] = np::expected_calibration_error(calibrated, correct);
  ojson knots_j = ojson::array();
  for (size_t i = 0; i < cal.value().x.size(); ++i) knots_j.push_back({cal.value().x[i], cal.value().y[i]});
  j["knots"] = knots_j;
  std::printf("%s\n", j.dump().c_str());
  return 0;
}

}  // namespace np_cli
