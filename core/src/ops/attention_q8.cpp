// attention_q8.cpp — the integer attention products over a kept block's int8 keys and values
// (attention_q8.h): the int16 quantizers of queries and weights, and the two kernels with
// their _ref twins (the layouts themselves: kv_q8.cpp). The kernels run on 128-bit integer
// vectors: WebAssembly SIMD128 (and the native SIMD128 twin, through simd128.h), SSE4.1
// natively; a build with neither runs the _ref loops.
#include "ops/attention_q8.h"

#include <algorithm>
#include <cmath>
#include <cstring>

#include "ops/simd128.h"

#if defined(NP_SIMD128)
#define NP_Q8_ATTN_VEC 1
#elif defined(__SSE4_1__)
#include <smmintrin.h>
#define NP_Q8_ATTN_VEC 1
#endif

namespace np {

namespace {

constexpr int kKeyGroup = 4;    // tokens per key group
constexpr int kValuePair = 2;   // tokens per value pair
// The weights' int16 total stays under this (127 times it is below 2^31 with room for the
// rounding of up to 2 * 2^20 weights, far beyond any context).
constexpr double kWeightTotal = 16000000.0;

// x / scale rounded to the nearest integer, within [-lim, lim] (scale > 0).
// NaN gives 0 and infinities the limit, as the vector paths' saturating conversions do (a
// float-to-int conversion of NaN traps in WebAssembly: a model whose activations overflow
// gives a wrong answer, never a crash).
inline int32_t quant(float x, float inv, int32_t lim) {
  float r = std::nearbyint(x * inv);
  if (!(r == r)) return 0;
  r = std::min(std::max(r, static_cast<float>(-lim)), static_cast<float>(lim));
  return static_cast<int32_t>(r);
}

#if defined(NP_SIMD128)
using IVec = v128_t;
using FVec = v128_t;
inline IVec iv_zero() { return wasm_i32x4_splat(0); }
inline IVec iv_load8(const int8_t* p) { return wasm_i16x8_load8x8(p); }
inline IVec iv_pair(const int16_t* p) { return wasm_v128_load32_splat(p); }
inline IVec iv_dot_add(IVec acc, IVec a, IVec b) { return wasm_i32x4_add(acc, wasm_i32x4_dot_i16x8(a, b)); }
inline FVec fv_splat(float x) { return wasm_f32x4_splat(x); }
inline FVec fv_load(const float* p) { return wasm_v128_load(p); }
inline FVec fv_mul(FVec a, FVec b) { return wasm_f32x4_mul(a, b); }
inline void store_scaled(float* out, IVec acc, FVec s) { wasm_v128_store(out, wasm_f32x4_mul(wasm_f32x4_convert_i32x4(acc), s)); }
#elif defined(NP_Q8_ATTN_VEC)
using IVec = __m128i;
using FVec = __m128;
inline IVec iv_zero() { return _mm_setzero_si128(); }
inline IVec iv_load8(const int8_t* p) { return _mm_cvtepi8_epi16(_mm_loadl_epi64(reinterpret_cast<const __m128i*>(p))); }
inline IVec iv_pair(const int16_t* p) {
  int32_t x;
  std::memcpy(&x, p, sizeof x);
  return _mm_set1_epi32(x);
}
inline IVec iv_dot_add(IVec acc, IVec a, IVec b) { return _mm_add_epi32(acc, _mm_madd_epi16(a, b)); }
inline FVec fv_splat(float x) { return _mm_set1_ps(x); }
inline FVec fv_load(const float* p) { return _mm_loadu_ps(p); }
inline FVec fv_mul(FVec a, FVec b) { return _mm_mul_ps(a, b); }
inline void store_scaled(float* out, IVec acc, FVec s) { _mm_storeu_ps(out, _mm_mul_ps(_mm_cvtepi32_ps(acc), s)); }
#endif

// out[i] = x[i] * inv rounded half to even, within +-32767, NaN to 0: eight at a time in
// SIMD128 (a saturating conversion and narrow), the rest by quant().
void round_q16(const float* x, int n, float inv, int16_t* out) {
  int i = 0;
#if defined(NP_SIMD128)
  const v128_t vi = wasm_f32x4_splat(inv);
  for (; i + 8 <= n; i += 8) {
    const v128_t lo = wasm_i32x4_trunc_sat_f32x4(wasm_f32x4_nearest(wasm_f32x4_mul(wasm_v128_load(x + i), vi)));
    const v128_t hi = wasm_i32x4_trunc_sat_f32x4(wasm_f32x4_nearest(wasm_f32x4_mul(wasm_v128_load(x + i + 4), vi)));
    wasm_v128_store(out + i, wasm_i16x8_narrow_i32x4(lo, hi));
  }
#endif
  for (; i < n; ++i) out[i] = static_cast<int16_t>(quant(x[i], inv, 32767));
}

}  // namespace

// The quantizers in vectors give their scalar loops' bits: the max is exact in any order, the
// total is summed the same way (four lanes, i mod 4, then (l0 + l1) + (l2 + l3), then the
// tail in order), f32x4.nearest rounds half to even as nearbyint does, and no value reaches
// past 32767 (|x| <= max, so |x * inv| <= 32767 up to one rounding: the clamp never acts).
float quantize_q16(const float* x, int n, int16_t* out) {
  int i = 0;
  float m = 0.0f;
#if defined(NP_SIMD128)
  const v128_t abs_mask = wasm_i32x4_splat(0x7fffffff);
  v128_t m4 = wasm_f32x4_splat(0.0f);
  for (; i + 4 <= n; i += 4) m4 = wasm_f32x4_pmax(m4, wasm_v128_and(wasm_v128_load(x + i), abs_mask));
  m = std::max(std::max(wasm_f32x4_extract_lane(m4, 0), wasm_f32x4_extract_lane(m4, 1)),
               std::max(wasm_f32x4_extract_lane(m4, 2), wasm_f32x4_extract_lane(m4, 3)));
#endif
  for (; i < n; ++i) m = std::max(m, std::fabs(x[i]));
  if (!(m > 0.0f)) {
    std::fill(out, out + n, int16_t{0});
    return 0.0f;
  }
  round_q16(x, n, 32767.0f / m, out);
  return m / 32767.0f;
}

float quantize_weights_q16(const float* w, int n, int16_t* out) {
  int i = 0;
  float m = 0.0f, total = 0.0f;
#if defined(NP_SIMD128)
  v128_t m4 = wasm_f32x4_splat(0.0f), s4 = wasm_f32x4_splat(0.0f);
  for (; i + 4 <= n; i += 4) {
    const v128_t x = wasm_v128_load(w + i);
    m4 = wasm_f32x4_pmax(m4, x);
    s4 = wasm_f32x4_add(s4, x);
  }
  m = std::max(std::max(wasm_f32x4_extract_lane(m4, 0), wasm_f32x4_extract_lane(m4, 1)),
               std::max(wasm_f32x4_extract_lane(m4, 2), wasm_f32x4_extract_lane(m4, 3)));
  total = (wasm_f32x4_extract_lane(s4, 0) + wasm_f32x4_extract_lane(s4, 1)) +
          (wasm_f32x4_extract_lane(s4, 2) + wasm_f32x4_extract_lane(s4, 3));
#else
  float lanes[4] = {0.0f, 0.0f, 0.0f, 0.0f};
  for (; i + 4 <= n; i += 4)
    for (int l = 0; l < 4; ++l) {
      m = std::max(m, w[i + l]);
      lanes[l] += w[i + l];
    }
  total = (lanes[0] + lanes[1]) + (lanes[2] + lanes[3]);
#endif
  for (; i < n; ++i) {
    m = std::max(m, w[i]);
    total += w[i];
  }
  if (!(m > 0.0f)) {
    std::fill(out, out + n, int16_t{0});
    return 0.0f;
  }
  // The float total is within n * 2^-24 of the true one: far inside kWeightTotal's margin.
  const float scale = std::max(m / 32767.0f, total / static_cast<float>(kWeightTotal));
  round_q16(w, n, 1.0f / scale, out);
  return scale;
}

void scores_q8_ref(float* p, const int16_t* q16, float qs, const KVQ8& K, int g, int HS) {
  const int8_t* head = K.q.data() + static_cast<size_t>(g) * K.rows * HS;
  const float* ks = K.scale.data() + static_cast<size_t>(g) * K.rows;
  for (int j = 0; j < K.T; ++j) {
    const int jg = j / kKeyGroup, jj = j % kKeyGroup;
    int32_t acc = 0;
    for (int u = 0; u < HS / 2; ++u) {
      const int8_t* unit = head + (static_cast<int64_t>(jg) * (HS / 2) + u) * 8 + jj * 2;
      acc += static_cast<int32_t>(unit[0]) * q16[2 * u] + static_cast<int32_t>(unit[1]) * q16[2 * u + 1];
    }
    p[j] = static_cast<float>(acc) * (qs * ks[j]);
  }
}

void weighted_sum_q8_ref(float* out, const int16_t* w16, float ws, const KVQ8& V, int g, int HS) {
  const int8_t* head = V.q.data() + static_cast<size_t>(g) * V.rows * HS;
  for (int c = 0; c < HS; ++c) {
    int32_t acc = 0;
    for (int jp = 0; jp < V.rows / kValuePair; ++jp) {
      const int8_t* unit = head + (static_cast<int64_t>(jp) * (HS / 4) + c / 4) * 8 + (c % 4) * 2;
      acc += static_cast<int32_t>(unit[0]) * w16[2 * jp] + static_cast<int32_t>(unit[1]) * w16[2 * jp + 1];
    }
    out[c] = static_cast<float>(acc) * ws;
  }
}

#if defined(NP_Q8_ATTN_VEC)
// Four key groups (16 tokens) per pass, one accumulator each; the last groups one at a time.
void scores_q8(float* p, const int16_t* q16, float qs, const KVQ8& K, int g, int HS) {
  const int units = HS / 2;
  const int8_t* head = K.q.data() + static_cast<size_t>(g) * K.rows * HS;
  const float* ks = K.scale.data() + static_cast<size_t>(g) * K.rows;
  const FVec sq = fv_splat(qs);
  const int groups = K.rows / kKeyGroup;
  const auto finish = [&](int jg, IVec acc) {
    const int j = jg * kKeyGroup;
    const FVec s = fv_mul(sq, fv_load(ks + j));
    if (j + kKeyGroup <= K.T) {
      store_scaled(p + j, acc, s);
    } else {
      float tail[kKeyGroup];
      store_scaled(tail, acc, s);
      for (int t = 0; j + t < K.T; ++t) p[j + t] = tail[t];
    }
  };
  int jg = 0;
  for (; jg + 4 <= groups; jg += 4) {
    const int8_t* b = head + static_cast<int64_t>(jg) * units * 8;
    IVec a0 = iv_zero(), a1 = iv_zero(), a2 = iv_zero(), a3 = iv_zero();
    for (int u = 0; u < units; ++u) {
      const IVec q = iv_pair(q16 + 2 * u);
      a0 = iv_dot_add(a0, iv_load8(b + u * 8), q);
      a1 = iv_dot_add(a1, iv_load8(b + (units + u) * 8), q);
      a2 = iv_dot_add(a2, iv_load8(b + (2 * units + u) * 8), q);
      a3 = iv_dot_add(a3, iv_load8(b + (3 * units + u) * 8), q);
    }
    finish(jg, a0);
    finish(jg + 1, a1);
    finish(jg + 2, a2);
    finish(jg + 3, a3);
  }
  for (; jg < groups; ++jg) {
    const int8_t* b = head + static_cast<int64_t>(jg) * units * 8;
    IVec a = iv_zero();
    for (int u = 0; u < units; ++u) a = iv_dot_add(a, iv_load8(b + u * 8), iv_pair(q16 + 2 * u));
    finish(jg, a);
  }
}

// Sixteen output columns (four units) per pass over the token pairs; the rest four at a time.
void weighted_sum_q8(float* out, const int16_t* w16, float ws, const KVQ8& V, int g, int HS) {
  const int units = HS / 4, pairs = V.rows / kValuePair;
  const int8_t* head = V.q.data() + static_cast<size_t>(g) * V.rows * HS;
  const FVec s = fv_splat(ws);
  int u0 = 0;
  for (; u0 + 4 <= units; u0 += 4) {
    IVec a0 = iv_zero(), a1 = iv_zero(), a2 = iv_zero(), a3 = iv_zero();
    const int8_t* b = head + static_cast<int64_t>(u0) * 8;
    for (int jp = 0; jp < pairs; ++jp, b += static_cast<int64_t>(units) * 8) {
      const IVec w = iv_pair(w16 + 2 * jp);
      a0 = iv_dot_add(a0, iv_load8(b), w);
      a1 = iv_dot_add(a1, iv_load8(b + 8), w);
      a2 = iv_dot_add(a2, iv_load8(b + 16), w);
      a3 = iv_dot_add(a3, iv_load8(b + 24), w);
    }
    store_scaled(out + 4 * u0, a0, s);
    store_scaled(out + 4 * u0 + 4, a1, s);
    store_scaled(out + 4 * u0 + 8, a2, s);
    store_scaled(out + 4 * u0 + 12, a3, s);
  }
  for (; u0 < units; ++u0) {
    IVec a = iv_zero();
    const int8_t* b = head + static_cast<int64_t>(u0) * 8;
    for (int jp = 0; jp < pairs; ++jp, b += static_cast<int64_t>(units) * 8) a = iv_dot_add(a, iv_load8(b), iv_pair(w16 + 2 * jp));
    store_scaled(out + 4 * u0, a, s);
  }
}
#else
void scores_q8(float* p, const int16_t* q16, float qs, const KVQ8& K, int g, int HS) {
  scores_q8_ref(p, q16, qs, K, g, HS);
}
void weighted_sum_q8(float* out, const int16_t* w16, float ws, const KVQ8& V, int g, int HS) {
  weighted_sum_q8_ref(out, w16, ws, V, g, HS);
}
#endif

}  // namespace np
