// quant.h — scalar (_ref) conversions for the tensor types GGUF files may hold.
// The _ref functions define the bytes on disk; faster variants must match them bit for bit.
// Q8_0: 32 values/block, 34 bytes: f16 d + int8 qs[32]; d = max|x|/127, q = round(x/d), value q*d.
// Q4_0: 32 values/block, 18 bytes: f16 d + u8 qs[16]; byte j = value j (low nibble) | value j+16
//       (high nibble); d = m/-8 with m the element of largest magnitude (sign kept),
//       q = min(15, floor(x/d + 8.5)), value (q-8)*d.
#pragma once
#include <cstddef>
#include <cstdint>

#include "np/gguf.h"

namespace np {

constexpr int kQK = 32;  // values per quantized block

struct BlockQ8_0 {
  uint16_t d;       // f16 scale
  int8_t qs[kQK];
};
static_assert(sizeof(BlockQ8_0) == 34, "Q8_0 block is 34 bytes on disk");

struct BlockQ4_0 {
  uint16_t d;       // f16 scale
  uint8_t qs[kQK / 2];
};
static_assert(sizeof(BlockQ4_0) == 18, "Q4_0 block is 18 bytes on disk");

uint16_t fp32_to_fp16(float f);   // round to nearest even; overflow -> inf; NaN kept
float fp16_to_fp32(uint16_t h);
uint16_t fp32_to_bf16(float f);   // round to nearest even
float bf16_to_fp32(uint16_t h);

// k must be a multiple of kQK.
void quantize_row_q8_0_ref(const float* x, BlockQ8_0* y, int64_t k);
void dequantize_row_q8_0_ref(const BlockQ8_0* x, float* y, int64_t k);
void quantize_row_q4_0_ref(const float* x, BlockQ4_0* y, int64_t k);
void dequantize_row_q4_0_ref(const BlockQ4_0* x, float* y, int64_t k);

// Q4_0 -> Q8_0 without loss: each block keeps its scale d and its values (q-8) in -8..7, which
// int8 holds exactly, so the Q8_0 block's values are the Q4_0 block's bit for bit. src and dst
// are byte arrays (18 and 34 bytes a block; either may be unaligned); n_blocks blocks.
void widen_q4_0_to_q8_0(const uint8_t* src, uint8_t* dst, int64_t n_blocks);

// Any supported type -> f32 (n values; for quantized types n a multiple of kQK).
// src may be unaligned.
void dequantize_to_f32(GgmlType type, const void* src, float* dst, int64_t n);
// f32 -> any supported type (BF16 included); dst sized by ggml_row_bytes.
void quantize_from_f32(GgmlType type, const float* src, void* dst, int64_t n);

}  // namespace np
