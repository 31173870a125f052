// retrieval.cpp — tool ranking with the retrieval head and the embedding cache (np/retrieval.h).
#include "np/retrieval.h"

#include <algorithm>
#include <numeric>

#include "np/dataset.h"

namespace np {

ToolRetriever::ToolRetriever(std::shared_ptr<const Model> model, size_t capacity)
    : model_(std::move(model)), capacity_(std::max<size_t>(1, capacity)) {}

bool ToolRetriever::available() const { return model_ && model_->has_retrieval_head(); }

Result<std::vector<float>> ToolRetriever::embed(std::string_view text) const {
  if (!available()) return Status(Code::kUnsupported, "this model has no retrieval head (needle.contrastive_dim is 0)");
  std::vector<int32_t> ids = model_->tokenizer().encode(text);
  if (ids.empty()) return Status(Code::kInvalidInput, "the text encodes to no token");
  if (ids.size() > static_cast<size_t>(model_->config().max_enc_len)) ids.resize(static_cast<size_t>(model_->config().max_enc_len));
  EncoderOutput enc;
  NP_RETURN_IF_ERROR(model_->encode(ids, &enc));
  std::vector<float> e;
  NP_RETURN_IF_ERROR(model_->embed(enc, ids, &e));
  return e;
}

Result<std::vector<float>> ToolRetriever::tool_embedding(const std::string& text) const {
  {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = cache_.find(text);
    if (it != cache_.end()) {
      lru_.splice(lru_.begin(), lru_, it->second.pos);
      return it->second.embedding;
    }
  }
  auto e = embed(text);  // outside the lock: encoding is the slow part
  if (!e.ok()) return e.status();
  std::lock_guard<std::mutex> lock(mu_);
  if (cache_.find(text) == cache_.end()) {
    lru_.push_front(text);
    cache_[text] = Entry{e.value(), lru_.begin()};
    while (cache_.size() > capacity_) {
      cache_.erase(lru_.back());
      lru_.pop_back();
    }
  }
  return e;
}

Result<std::vector<RankedTool>> ToolRetriever::rank(std::string_view query, const ToolSet& set) const {
  auto q = embed(query);
  if (!q.ok()) return q.status();
  std::vector<RankedTool> out;
  out.reserve(set.tools.size());
  for (size_t i = 0; i < set.tools.size(); ++i) {
    auto t = tool_embedding(tool_retrieval_text(set.tools[i]));
    if (!t.ok()) return t.status();
    double dot = 0;
    for (size_t k = 0; k < q.value().size(); ++k) dot += static_cast<double>(q.value()[k]) * t.value()[k];
    out.push_back({static_cast<int32_t>(i), set.tools[i].original_name, static_cast<float>(dot)});
  }
  std::stable_sort(out.begin(), out.end(), [](const RankedTool& a, const RankedTool& b) { return a.score > b.score; });
  return out;
}

size_t ToolRetriever::cached() const {
  std::lock_guard<std::mutex> lock(mu_);
  return cache_.size();
}

}  // namespace np
