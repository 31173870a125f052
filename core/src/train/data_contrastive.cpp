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
#include "util/rng.h"

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

namespace {

// group_contrastive_pairs over the tool texts alone (texts[i] is pair i's).
std::vector<std::vector<size_t>> group_by_text(const std::vector<const std::string*>& texts, int32_t batch_size) {
  std::vector<std::vector<size_t>> closed;
  if (batch_size < 2) return closed;
  struct Open {
    std::vector<size_t> rows;
    std::unordered_set<std::string> texts;
  };
  std::vector<Open> open;  // in the order they opened
  for (size_t i = 0; i < texts.size(); ++i) {
    const std::string& text = *texts[i];
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

// Seed stream of ContrastiveStream's per-epoch shuffle (the data pipeline's other streams
// are data_detail::kSeed*, 1..4).
constexpr uint64_t kSeedContrastive = 0x636c6970;  // "clip"

}  // namespace

std::vector<std::vector<size_t>> group_contrastive_pairs(const std::vector<ContrastivePair>& pairs,
                                                         int32_t batch_size) {
  std::vector<const std::string*> texts;
  texts.reserve(pairs.size());
  for (const ContrastivePair& p : pairs) texts.push_back(&p.tool_text);
  return group_by_text(texts, batch_size);
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

Result<ContrastiveStream> ContrastiveStream::create(std::vector<ContrastivePair> pairs, int32_t batch_size,
                                                    int32_t pad_id, uint64_t seed) {
  if (batch_size < 2) return Status(Code::kInvalidInput, "contrastive batch size must be at least 2");
  std::unordered_set<std::string> texts;
  for (const ContrastivePair& p : pairs) {
    if (p.query_ids.empty() || p.tool_ids.empty())
      return Status(Code::kInvalidInput, "line " + std::to_string(p.line) + ": empty query or tool ids");
    texts.insert(p.tool_text);
  }
  if (texts.size() < 2)
    return Status(Code::kInvalidInput, "contrastive pairs need at least 2 different tools, got " +
                                           std::to_string(texts.size()));
  ContrastiveStream s;
  s.pairs_ = std::move(pairs);
  s.batch_size_ = batch_size;
  s.pad_id_ = pad_id;
  s.seed_ = seed;
  s.start_epoch(0);
  return s;
}

std::vector<std::vector<size_t>> ContrastiveStream::groups_of_epoch(int32_t epoch) const {
  std::vector<size_t> order(pairs_.size());
  for (size_t i = 0; i < order.size(); ++i) order[i] = i;
  Rng rng(data_detail::mix_seed(seed_, kSeedContrastive, static_cast<uint64_t>(epoch), 0));
  for (size_t i = order.size(); i > 1; --i) std::swap(order[i - 1], order[rng.below(i)]);
  std::vector<const std::string*> texts;
  texts.reserve(order.size());
  for (size_t i : order) texts.push_back(&pairs_[i].tool_text);
  std::vector<std::vector<size_t>> groups = group_by_text(texts, batch_size_);
  for (std::vector<size_t>& g : groups)
    for (size_t& i : g) i = order[i];
  return groups;
}

void ContrastiveStream::start_epoch(int32_t epoch) {
  epoch_ = epoch;
  taken_ = 0;
  groups_ = groups_of_epoch(epoch);
}

Status ContrastiveStream::next(ContrastiveBatch* out) {
  if (taken_ >= groups_.size()) start_epoch(epoch_ + 1);
  std::vector<const ContrastivePair*> rows;
  for (size_t i : groups_[taken_]) rows.push_back(&pairs_[i]);
  NP_RETURN_IF_ERROR(make_contrastive_batch(rows, pad_id_, out));
  ++taken_;
  return Status::Ok();
}

Status ContrastiveStream::restore(int32_t epoch, uint64_t taken) {
  if (epoch < 0) return Status(Code::kInvalidInput, "contrastive stream epoch must be >= 0");
  std::vector<std::vector<size_t>> groups = groups_of_epoch(epoch);
  if (taken > groups.size())
    return Status(Code::kInvalidInput, "contrastive stream position " + std::to_string(taken) +
                                           " is past the epoch's " + std::to_string(groups.size()) + " batches");
  epoch_ = epoch;
  taken_ = static_cast<size_t>(taken);
  groups_ = std::move(groups);
  return Status::Ok();
}

}  // namespace np
