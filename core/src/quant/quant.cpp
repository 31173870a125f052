// quant.cpp — scalar reference conversions: fp16, bf16, Q8_0, Q4_0 (see quant.h for the
// block layouts). These _ref kernels define the bytes on disk; any faster variant must
// match them bit for bit. Half/bfloat conversions are plain bit manipulation (no F16C,
// no _Float16) so native and WASM builds give identical bytes.
// Not here: SIMD, dot products, anything that depends on the host's FP environment
// beyond IEEE float arithmetic. Assumes a little-endian host (x86, ARM, wasm32) for the
// raw-byte helpers, as does the GGUF reader.
#include "np/quant.h"
#include "util/bits.h"

#include <cassert>
#include <cmath>
#include <cstring>

// x*id + 8.5f must round the product before the add on every target (WASM has no FMA),
// so contraction into fma is off for this file.
#if defined(__clang__)
#pragma clang fp contract(off)
#elif defined(__GNUC__)
#pragma GCC optimize("fp-contract=off")
#endif

namespace np {

namespace {

// Rounds `v` (already scaled) to an integer in [lo, hi] the way C's roundf does
// (half away from zero). NaN gives 0. For the values the quantizers produce from finite
// input the clamp never binds, so this equals plain roundf.
int round_clamped(float v, int lo, int hi) {
  if (std::isnan(v)) return 0;
  if (v < static_cast<float>(lo)) return lo;
  if (v > static_cast<float>(hi)) return hi;
  return static_cast<int>(std::roundf(v));
}

// floor(v), clamped to [lo, hi]; NaN gives `nan_value`.
int floor_clamped(float v, int lo, int hi, int nan_value) {
  if (std::isnan(v)) return nan_value;
  if (v < static_cast<float>(lo)) return lo;
  if (v >= static_cast<float>(hi)) return hi;
  return static_cast<int>(std::floor(v));
}

void quantize_block_q8_0(const float* x, BlockQ8_0* y) {
  float amax = 0.0f;
  for (int j = 0; j < kQK; ++j) amax = std::fmax(amax, std::fabs(x[j]));
  const float d = amax / 127.0f;
  const float id = d != 0.0f ? 1.0f / d : 0.0f;  // inverse of the unrounded scale
  y->d = fp32_to_fp16(d);
  for (int j = 0; j < kQK; ++j) y->qs[j] = static_cast<int8_t>(round_clamped(x[j] * id, -127, 127));
}

void quantize_block_q4_0(const float* x, BlockQ4_0* y) {
  // m: the element of largest magnitude, sign kept; the first one wins a tie.
  float amax = 0.0f;
  float m = 0.0f;
  for (int j = 0; j < kQK; ++j) {
    const float a = std::fabs(x[j]);
    if (a > amax) {
      amax = a;
      m = x[j];
    }
  }
  const float d = m / -8.0f;
  const float id = d != 0.0f ? 1.0f / d : 0.0f;
  y->d = fp32_to_fp16(d);
  for (int j = 0; j < kQK / 2; ++j) {
    const int lo = floor_clamped(x[j] * id + 8.5f, 0, 15, 8);
    const int hi = floor_clamped(x[j + kQK / 2] * id + 8.5f, 0, 15, 8);
    y->qs[j] = static_cast<uint8_t>(lo | (hi << 4));
  }
}

}  // namespace

// f32: s eeeeeeee mmmmmmmmmmmmmmmmmmmmmmm (bias 127)
// f16: s eeeee mmmmmmmmmm (bias 15; e=0 subnormal q*2^-24, e=31 inf/NaN)
// Examples (tests repeat them): 1.0f -> 0x3C00, 65504 -> 0x7BFF, 65520 -> 0x7C00 (inf),
// 2^-24 -> 0x0001, 2^-25 -> 0x0000 (tie to even), 3*2^-25 -> 0x0002.
uint16_t fp32_to_fp16(float f) {
  const uint32_t x = bit_cast<uint32_t>(f);
  const uint16_t sign = static_cast<uint16_t>((x >> 16) & 0x8000u);
  const uint32_t exp = (x >> 23) & 0xffu;
  const uint32_t mant = x & 0x7fffffu;

  if (exp == 0xffu) {
    if (mant == 0) return sign | 0x7c00u;
    // NaN: keep the top 10 payload bits; if they are all zero set the quiet bit so the
    // result stays a NaN. Every half NaN survives fp16 -> f32 -> fp16 unchanged.
    uint16_t payload = static_cast<uint16_t>(mant >> 13);
    if (payload == 0) payload = 0x200u;
    return sign | 0x7c00u | payload;
  }
  const int e = static_cast<int>(exp) - 127;
  if (e > 15) return sign | 0x7c00u;

  if (e >= -14) {
    // Normal half: drop 13 mantissa bits with round-to-nearest-even. A carry out of the
    // mantissa bumps the exponent, and from exponent 30 that gives 0x7c00 (inf).
    uint32_t h = (static_cast<uint32_t>(e + 15) << 10) | (mant >> 13);
    const uint32_t rest = mant & 0x1fffu;
    if (rest > 0x1000u || (rest == 0x1000u && (h & 1u))) ++h;
    return static_cast<uint16_t>(sign | h);
  }

  // Subnormal half (or zero). f32 subnormals are below 2^-126, far under half of the
  // smallest half subnormal (2^-25), so they round to zero.
  if (exp == 0) return sign;
  const uint32_t m = mant | 0x800000u;  // value = m * 2^(e-23); in units of 2^-24: m * 2^(e+1)
  const int shift = -(e + 1);           // >= 14
  if (shift > 24) return sign;          // value < 2^-25
  uint32_t h = m >> shift;
  const uint32_t rest = m & ((1u << shift) - 1u);
  const uint32_t half = 1u << (shift - 1);
  if (rest > half || (rest == half && (h & 1u))) ++h;  // 0x3ff + 1 = 0x400 is the smallest normal
  return static_cast<uint16_t>(sign | h);
}

float fp16_to_fp32(uint16_t h) {
  const uint32_t sign = static_cast<uint32_t>(h & 0x8000u) << 16;
  const uint32_t exp = (h >> 10) & 0x1fu;
  uint32_t mant = h & 0x3ffu;
  if (exp == 0x1fu) return bit_cast<float>(sign | 0x7f800000u | (mant << 13));
  if (exp == 0) {
    if (mant == 0) return bit_cast<float>(sign);
    int e = -14;
    while ((mant & 0x400u) == 0) {
      mant <<= 1;
      --e;
    }
    mant &= 0x3ffu;
    return bit_cast<float>(sign | (static_cast<uint32_t>(e + 127) << 23) | (mant << 13));
  }
  return bit_cast<float>(sign | ((exp - 15 + 127) << 23) | (mant << 13));
}

// bf16 is the top half of an f32. Examples: 1.0f -> 0x3F80, 1+2^-8 -> 0x3F80 (tie to
// even), FLT_MAX -> 0x7F80 (inf).
uint16_t fp32_to_bf16(float f) {
  const uint32_t x = bit_cast<uint32_t>(f);
  if ((x & 0x7fffffffu) > 0x7f800000u) {
    uint16_t h = static_cast<uint16_t>(x >> 16);
    if ((h & 0x7fu) == 0) h |= 0x40u;  // keep it a NaN
    return h;
  }
  const uint32_t rounded = x + 0x7fffu + ((x >> 16) & 1u);
  return static_cast<uint16_t>(rounded >> 16);
}

float bf16_to_fp32(uint16_t h) { return bit_cast<float>(static_cast<uint32_t>(h) << 16); }

void quantize_row_q8_0_ref(const float* x, BlockQ8_0* y, int64_t k) {
  assert(k % kQK == 0);
  const int64_t nb = k / kQK;
  for (int64_t b = 0; b < nb; ++b) quantize_block_q8_0(x + b * kQK, y + b);
}

void dequantize_row_q8_0_ref(const BlockQ8_0* x, float* y, int64_t k) {
  assert(k % kQK == 0);
  const int64_t nb = k / kQK;
  for (int64_t b = 0; b < nb; ++b) {
    const float d = fp16_to_fp32(x[b].d);
    for (int j = 0; j < kQK; ++j) y[b * kQK + j] = static_cast<float>(x[b].qs[j]) * d;
  }
}

void quantize_row_q4_0_ref(const float* x, BlockQ4_0* y, int64_t k) {
  assert(k % kQK == 0);
  const int64_t nb = k / kQK;
  for (int64_t b = 0; b < nb; ++b) quantize_block_q4_0(x + b * kQK, y + b);
}

void dequantize_row_q4_0_ref(const BlockQ4_0* x, float* y, int64_t k) {
  assert(k % kQK == 0);
  const int64_t nb = k / kQK;
  for (int64_t b = 0; b < nb; ++b) {
    const float d = fp16_to_fp32(x[b].d);
    for (int j = 0; j < kQK / 2; ++j) {
      const int lo = x[b].qs[j] & 0x0f;
      const int hi = x[b].qs[j] >> 4;
      y[b * kQK + j] = static_cast<float>(lo - 8) * d;
      y[b * kQK + j + kQK / 2] = static_cast<float>(hi - 8) * d;
    }
  }
}

// src/dst may be unaligned: every access goes through memcpy of one element or block.
void widen_q4_0_to_q8_0(const uint8_t* src, uint8_t* dst, int64_t n_blocks) {
  for (int64_t b = 0; b < n_blocks; ++b) {
    const uint8_t* in = src + b * sizeof(BlockQ4_0);
    uint8_t* out = dst + b * sizeof(BlockQ8_0);
    std::memcpy(out, in, sizeof(uint16_t));  // d, as stored
    for (int j = 0; j < kQK / 2; ++j) {
      const uint8_t byte = in[sizeof(uint16_t) + j];
      out[sizeof(uint16_t) + j] = static_cast<uint8_t>(static_cast<int8_t>((byte & 0x0f) - 8));
      out[sizeof(uint16_t) + j + kQK / 2] = static_cast<uint8_t>(static_cast<int8_t>((byte >> 4) - 8));
    }
  }
}

void dequantize_to_f32(GgmlType type, const void* src, float* dst, int64_t n) {
  const uint8_t* p = static_cast<const uint8_t*>(src);
  switch (type) {
    case GgmlType::F32:
      if (n > 0) std::memcpy(dst, p, static_cast<size_t>(n) * sizeof(float));
      return;
    case GgmlType::F16:
      for (int64_t i = 0; i < n; ++i) {
        uint16_t h;
        std::memcpy(&h, p + 2 * i, 2);
        dst[i] = fp16_to_fp32(h);
      }
      return;
    case GgmlType::BF16:
      for (int64_t i = 0; i < n; ++i) {
        uint16_t h;
        std::memcpy(&h, p + 2 * i, 2);
        dst[i] = bf16_to_fp32(h);
      }
      return;
    case GgmlType::Q8_0:
      assert(n % kQK == 0);
      for (int64_t b = 0; b < n / kQK; ++b) {
        BlockQ8_0 blk;
        std::memcpy(&blk, p + b * sizeof(BlockQ8_0), sizeof blk);
        dequantize_row_q8_0_ref(&blk, dst + b * kQK, kQK);
      }
      return;
    case GgmlType::Q4_0:
      assert(n % kQK == 0);
      for (int64_t b = 0; b < n / kQK; ++b) {
        BlockQ4_0 blk;
        std::memcpy(&blk, p + b * sizeof(BlockQ4_0), sizeof blk);
        dequantize_row_q4_0_ref(&blk, dst + b * kQK, kQK);
      }
      return;
  }
  assert(false && "dequantize_to_f32: unknown type");
}

void quantize_from_f32(GgmlType type, const float* src, void* dst, int64_t n) {
  uint8_t* p = static_cast<uint8_t*>(dst);
  switch (type) {
    case GgmlType::F32:
      if (n > 0) std::memcpy(p, src, static_cast<size_t>(n) * sizeof(float));
      return;
    case GgmlType::F16:
      for (int64_t i = 0; i < n; ++i) {
        const uint16_t h = fp32_to_fp16(src[i]);
        std::memcpy(p + 2 * i, &h, 2);
      }
      return;
    case GgmlType::BF16:
      for (int64_t i = 0; i < n; ++i) {
        const uint16_t h = fp32_to_bf16(src[i]);
        std::memcpy(p + 2 * i, &h, 2);
      }
      return;
    case GgmlType::Q8_0:
      assert(n % kQK == 0);
      for (int64_t b = 0; b < n / kQK; ++b) {
        BlockQ8_0 blk;
        quantize_block_q8_0(src + b * kQK, &blk);
        std::memcpy(p + b * sizeof(BlockQ8_0), &blk, sizeof blk);
      }
      return;
    case GgmlType::Q4_0:
      assert(n % kQK == 0);
      for (int64_t b = 0; b < n / kQK; ++b) {
        BlockQ4_0 blk;
        quantize_block_q4_0(src + b * kQK, &blk);
        std::memcpy(p + b * sizeof(BlockQ4_0), &blk, sizeof blk);
      }
      return;
  }
  assert(false && "quantize_from_f32: unknown type");
}

}  // namespace np
