// catalog_cache.h — encoded tool blocks of catalog-mask models, kept across calls: the first
// call with a tool list encodes the block (<tools> + the list) once; every later call with
// the same list (byte for byte after normalisation, cut to the same length) encodes only its
// query, attending to the cached keys and values (Model::encode_after). Bounded by bytes,
// least recently used dropped first; thread-safe. Bidirectional models never use it: their
// tool tokens see the query, so nothing can be reused.
#pragma once
#include <cstdint>
#include <list>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>
#include <vector>

#include "np/model.h"

namespace np {

class CatalogCache {
 public:
  // The default budget holds about two full-context blocks of the default model (6.8 MB
  // each) or ten of its typical 5-tool lists.
  static constexpr uint64_t kDefaultBytes = uint64_t{16} << 20;
  explicit CatalogCache(uint64_t max_bytes = kDefaultBytes) : max_bytes_(max_bytes) {}
  CatalogCache(const CatalogCache&) = delete;
  CatalogCache& operator=(const CatalogCache&) = delete;

  // The block for these ids, or null. A hit makes it the most recent.
  std::shared_ptr<const EncoderBlock> find(const std::vector<int32_t>& block_ids) const;
  // Keeps the block (dropping the least recently used until the budget holds); a block
  // larger than the whole budget is not kept.
  void put(std::shared_ptr<const EncoderBlock> block) const;
  void set_max_bytes(uint64_t max_bytes);  // 0 disables (and empties) the cache
  uint64_t max_bytes() const;
  uint64_t bytes() const;                  // held now
  size_t size() const;                     // blocks held now
  void clear() const;

 private:
  static std::string key_of(const std::vector<int32_t>& ids);
  void evict_to(uint64_t budget) const;  // mu_ held

  mutable std::mutex mu_;
  uint64_t max_bytes_;
  mutable uint64_t bytes_ = 0;
  mutable std::list<std::string> lru_;  // most recent first
  struct Entry { std::shared_ptr<const EncoderBlock> block; std::list<std::string>::iterator pos; };
  mutable std::unordered_map<std::string, Entry> map_;
};

}  // namespace np
