// data_contrastive.cpp — (query, positive tool text) pairs for the retrieval head's
// contrastive loss (dataset.h, "contrastive retrieval pairs"): the text a tool is retrieved
// by, one pair per example that calls a tool, grouping into batches whose tool texts are all
// different (so every in-batch negative is a real negative), padding.
// Not here: the loss (train_contrastive.cpp), the training loop.
#include <algorithm>
#include <string>
#include <unordered_set>
#include <vector>

#include "np/dataset.h"
#include "train/data_internal.h"

namespace np {

using data_detail::json;

std::string tool_retrieval_text(const Tool& tool) {
  // The same object parse_tools writes into normalized_json for this tool.
  json params = json::object();
  for (const ToolParam& p : tool.params) params[p.name] = p.schema;
  json obj = json::object();
  obj["name"] = tool.name;
  obj["description"] = tool.description;
  obj["parameters"] = std::move(params);
  return json_dumps_compact(obj);
}

Status make_contrastive_pair(const Tokenizer& tokenizer, const ModelConfig& config,
                             const Example& example, ContrastivePair* out, bool* has_pair) {
  *has_pair = false;
  if (example.answers.empty()) return Status::Ok();
  const std::string at = "line " + std::to_string(example.line) + ": ";
  const Tool* tool = example.toolset.find(example.answers[0].name);
  if (!tool)
    return Status(Code::kInvalidInput, at + data_detail::quote(example.answers[0].name) + " is not a tool of the example");
  ContrastivePair p;
  p.line = example.line;
  p.tool_name = tool->name;
  p.tool_text = tool_retrieval_text(*tool);
  p.query_ids = tokenizer.encode(example.query);
  p.tool_ids = tokenizer.encode(p.tool_text);
  if (p.query_ids.empty()) return Status(Code::kInvalidInput, at + "the query encodes to no token");
  if (p.tool_ids.empty()) return Status(Code::kInvalidInput, at + "the tool text encodes to no token");
  const size_t L = static_cast<size_t>(config.max_enc_len);
  for (std::vector<int32_t>* ids : {&p.query_ids, &p.tool_ids})
    if (ids->size() > L) {
      ids->resize(L);
      p.truncated = true;
    }
  *out = std::move(p);
  *has_pair = true;
  return Status::Ok();
}

std::vector<std::vector<size_t>> group_contrastive_pairs(const std::vector<ContrastivePair>& pairs,
                                                         int32_t batch_size) {
  std::vector<std::vector<size_t>> closed;
  if (batch_size < 2) return closed;
  struct Open {
    std::vector<size_t> rows;
    std::unordered_set<std::string> texts;
  };
  std::vector<Open> open;  // in the order they opened
  for (size_t i = 0; i < pairs.size(); ++i) {
    const std::string& text = pairs[i].tool_text;
    size_t g = 0;
    while (g < open.size() && open[g].texts.count(text)) ++g;
    if (g == open.size()) open.emplace_back();
    open[g].rows.push_back(i);
    open[g].texts.insert(text);
    if (open[g].rows.size() == static_cast<size_t>(batch_size)) {
      closed.push_back(std::move(open[g].rows));
      open.erase(open.begin() + static_cast<std::ptrdiff_t>(g));
    }
  }
  for (Open& o : open)
    if (o.rows.size() >= 2) closed.push_back(std::move(o.rows));
  return closed;
}

Status make_contrastive_batch(const std::vector<const ContrastivePair*>& rows, int32_t pad_id,
                              ContrastiveBatch* out) {
  if (rows.size() < 2)
    return Status(Code::kInvalidInput, "a contrastive batch needs at least 2 pairs, got " + std::to_string(rows.size()));
  ContrastiveBatch b;
  b.N = static_cast<int32_t>(rows.size());
  std::unordered_set<std::string> texts;
  for (const ContrastivePair* p : rows) {
    if (p->query_ids.empty() || p->tool_ids.empty())
      return Status(Code::kInvalidInput, "line " + std::to_string(p->line) + ": empty query or tool ids");
    if (!texts.insert(p->tool_text).second)
      return Status(Code::kInvalidInput, "line " + std::to_string(p->line) + ": tool " +
                                             data_detail::quote(p->tool_name) +
                                             " appears twice in one contrastive batch");
    b.Tq = std::max<int32_t>(b.Tq, static_cast<int32_t>(p->query_ids.size()));
    b.Tt = std::max<int32_t>(b.Tt, static_cast<int32_t>(p->tool_ids.size()));
  }
  b.query_ids.assign(static_cast<size_t>(b.N) * b.Tq, pad_id);
  b.tool_ids.assign(static_cast<size_t>(b.N) * b.Tt, pad_id);
  for (int32_t i = 0; i < b.N; ++i) {
    const ContrastivePair& p = *rows[i];
    std::copy(p.query_ids.begin(), p.query_ids.end(), b.query_ids.begin() + static_cast<std::ptrdiff_t>(i) * b.Tq);
    std::copy(p.tool_ids.begin(), p.tool_ids.end(), b.tool_ids.begin() + static_cast<std::ptrdiff_t>(i) * b.Tt);
    b.lines.push_back(p.line);
  }
  *out = std::move(b);
  return Status::Ok();
}

Status make_contrastive_batches(const Tokenizer& tokenizer, const ModelConfig& config,
                                const std::vector<Example>& examples, int32_t batch_size,
                                std::vector<ContrastiveBatch>* out, int64_t* skipped) {
  out->clear();
  std::vector<ContrastivePair> pairs;
  int64_t skip = 0;
  for (const Example& e : examples) {
    ContrastivePair p;
    bool has = false;
    NP_RETURN_IF_ERROR(make_contrastive_pair(tokenizer, config, e, &p, &has));
    if (has) pairs.push_back(std::move(p));
    else ++skip;
  }
  size_t grouped = 0;
  for (const std::vector<size_t>& g : group_contrastive_pairs(pairs, batch_size)) {
    std::vector<const ContrastivePair*> rows;
    for (size_t i : g) rows.push_back(&pairs[i]);
    ContrastiveBatch b;
    NP_RETURN_IF_ERROR(make_contrastive_batch(rows, config.pad_id, &b));
    out->push_back(std::move(b));
    grouped += g.size();
  }
  skip += static_cast<int64_t>(pairs.size() - grouped);
  if (skipped) *skipped = skip;
  return Status::Ok();
}

}  // namespace np
