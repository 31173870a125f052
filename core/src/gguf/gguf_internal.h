// gguf_internal.h — limits and checks shared by the GGUF reader and writer.
// Not a public header: model/ and tools/ go through np/gguf.h.
#pragma once
#include <cstddef>
#include <cstdint>
#include <string>

#include "np/gguf.h"

namespace np {
namespace gguf_detail {

constexpr uint8_t kMagic[4] = {'G', 'G', 'U', 'F'};
constexpr uint32_t kWriteVersion = 3;
constexpr uint32_t kDefaultAlignment = 32;
constexpr const char* kAlignmentKey = "general.alignment";
constexpr size_t kMaxTensorNameBytes = 63;  // ggml's GGML_MAX_NAME is 64 including the NUL
constexpr size_t kMaxDims = 4;
constexpr int kMaxArrayDepth = 8;           // arrays nested deeper than this are refused
// Scalars + array elements in the whole file. Each becomes a GgufValue (~96 bytes), so
// this caps a hostile file's metadata at ~200 MB; a 256k-token vocabulary needs < 1M.
constexpr uint64_t kMaxMetadataValues = uint64_t(1) << 21;

// Smallest encoding of one value of each type (an array: u32 type + u64 count).
// Returns 0 for an unknown type id.
uint64_t value_min_bytes(uint32_t type);
bool value_type_known(uint32_t type);
const char* value_type_name(GgufValueType t);

// Corrupt unless 1 <= size <= kMaxTensorNameBytes.
Status check_tensor_name(const std::string& name);

inline bool is_pow2(uint64_t v) { return v != 0 && (v & (v - 1)) == 0; }

// Rounds v up to a multiple of `align` (a power of two); false on overflow.
inline bool align_up(uint64_t v, uint64_t align, uint64_t* out) {
  const uint64_t mask = align - 1;
  if (v > UINT64_MAX - mask) return false;
  *out = (v + mask) & ~mask;
  return true;
}

}  // namespace gguf_detail
}  // namespace np
