// catalog_cache.cpp — the byte-bounded LRU of encoded tool blocks (np/catalog_cache.h).
#include "np/catalog_cache.h"

#include <cstring>

namespace np {

std::string CatalogCache::key_of(const std::vector<int32_t>& ids) {
  std::string key(ids.size() * sizeof(int32_t), '\0');
  if (!ids.empty()) std::memcpy(key.data(), ids.data(), key.size());
  return key;
}

std::shared_ptr<const EncoderBlock> CatalogCache::find(const std::vector<int32_t>& block_ids) const {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = map_.find(key_of(block_ids));
  if (it == map_.end()) return nullptr;
  lru_.splice(lru_.begin(), lru_, it->second.pos);
  return it->second.block;
}

void CatalogCache::put(std::shared_ptr<const EncoderBlock> block) const {
  if (!block) return;
  const uint64_t n = block->bytes();
  std::lock_guard<std::mutex> lock(mu_);
  if (n > max_bytes_) return;
  std::string key = key_of(block->ids);
  auto it = map_.find(key);
  if (it != map_.end()) {  // another call encoded the same block meanwhile: keep one
    lru_.splice(lru_.begin(), lru_, it->second.pos);
    return;
  }
  evict_to(max_bytes_ - n);
  lru_.push_front(key);
  map_.emplace(std::move(key), Entry{std::move(block), lru_.begin()});
  bytes_ += n;
}

void CatalogCache::evict_to(uint64_t budget) const {
  while (bytes_ > budget && !lru_.empty()) {
    auto it = map_.find(lru_.back());
    bytes_ -= it->second.block->bytes();
    map_.erase(it);
    lru_.pop_back();
  }
}

void CatalogCache::set_max_bytes(uint64_t max_bytes) {
  std::lock_guard<std::mutex> lock(mu_);
  max_bytes_ = max_bytes;
  evict_to(max_bytes_);
}

uint64_t CatalogCache::max_bytes() const {
  std::lock_guard<std::mutex> lock(mu_);
  return max_bytes_;
}

uint64_t CatalogCache::bytes() const {
  std::lock_guard<std::mutex> lock(mu_);
  return bytes_;
}

size_t CatalogCache::size() const {
  std::lock_guard<std::mutex> lock(mu_);
  return map_.size();
}

void CatalogCache::clear() const {
  std::lock_guard<std::mutex> lock(mu_);
  evict_to(0);
}

}  // namespace np
