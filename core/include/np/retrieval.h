// retrieval.h — ranking a tool list by a query with the model's contrastive retrieval head
// (needle-v1 spec, "Contrastive tool-retrieval head"): the query and each tool are encoded
// separately (a tool as tool_retrieval_text, the text it was trained on), pooled and
// projected to unit vectors, and tools are ranked by cosine similarity. Tool embeddings are
// cached by their text, so a catalog is embedded once and every later query costs one
// encoder pass. Used by ToolCaller to pre-select tools when a list is large.
#pragma once
#include <cstdint>
#include <list>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "np/model.h"
#include "np/status.h"
#include "np/tools.h"

namespace np {

struct RankedTool {
  int32_t index = 0;     // into ToolSet::tools (the caller's order)
  std::string name;      // the caller's spelling
  float score = 0;       // cosine similarity in [-1, 1]
};

class ToolRetriever {
 public:
  // capacity: tool embeddings kept (least recently used dropped first).
  explicit ToolRetriever(std::shared_ptr<const Model> model, size_t capacity = 4096);
  ToolRetriever(const ToolRetriever&) = delete;
  ToolRetriever& operator=(const ToolRetriever&) = delete;

  // The model has a retrieval head (contrastive_dim > 0).
  bool available() const;
  // Unit-norm embedding of a text encoded alone (cut to the encoder context). InvalidInput
  // for text that encodes to no token, Unsupported without a retrieval head.
  Result<std::vector<float>> embed(std::string_view text) const;
  // Every tool of the set, best first (ties: the caller's order). Thread-safe.
  Result<std::vector<RankedTool>> rank(std::string_view query, const ToolSet& set) const;
  // Tool embeddings held in the cache now.
  size_t cached() const;

 private:
  Result<std::vector<float>> tool_embedding(const std::string& text) const;

  std::shared_ptr<const Model> model_;
  size_t capacity_;
  mutable std::mutex mu_;
  mutable std::list<std::string> lru_;  // most recent first
  struct Entry { std::vector<float> embedding; std::list<std::string>::iterator pos; };
  mutable std::unordered_map<std::string, Entry> cache_;
};

}  // namespace np
