// attention.cpp — grouped-query scaled dot-product attention with key and causal masks:
// forward (optionally keeping the softmax probabilities) and backward (kernels.h), and the
// float inference forward (ops.h). The double instantiation is the reference loops (the
// specification); the float one runs each head's products (q k^T, p v and the four of the
// backward) through the packed GEMM of ops/gemm.h, heads (forward) or kv heads (backward)
// split across threads. Each output is computed by the same code whatever the split, so
// results do not depend on the thread count. The float softmax's exps run through
// softmax_exp_sum (softmax.h: AVX2+FMA and WASM SIMD128 kernels here, std::exp its _ref).
#include <algorithm>
#include <cmath>
#include <limits>
#include <type_traits>
#include <vector>

#include "np/threads.h"
#include "ops/attention_rows.h"
#include "ops/f32vec.h"
#include "ops/gemm.h"
#include "ops/gemm_q8_int16.h"
#include "ops/kernels.h"
#include "ops/matvec.h"
#include "ops/ops.h"
#include "ops/softmax.h"

#if defined(__AVX2__)
#include <immintrin.h>
#endif
#include "ops/simd128.h"

namespace np {

// ---- exp of a softmax row (softmax.h) ----

namespace {

// exp(x) for x <= 0 as 2^n e^r: n = nearest(x log2 e), r = x - n ln 2 with ln 2 split in two
// (kLn2Hi = 355/512 has 9 significant bits, so n * kLn2Hi is exact for |n| <= 2^15), e^r by its
// Taylor series to r^7 (|r| <= ln2 / 2: truncation 6e-9 relative), 2^n put into the exponent
// bits. n >= -126 for x >= kExpMinArg; below it (masked scores: the lowest float), 0.
constexpr float kLog2e = 1.44269504f;
constexpr float kLn2Hi = 0.693359375f;
constexpr float kLn2Lo = -2.12194440e-4f;  // ln 2 - kLn2Hi
constexpr float kExpMinArg = -87.3f;
constexpr float kExpC[8] = {1.0f, 1.0f, 1.0f / 2, 1.0f / 6, 1.0f / 24, 1.0f / 120, 1.0f / 720, 1.0f / 5040};

#if defined(__AVX2__) && defined(__FMA__)
constexpr int kExpLanes = 8;
inline __m256 exp_nonpositive(__m256 x) {
  const __m256 n = _mm256_round_ps(_mm256_mul_ps(x, _mm256_set1_ps(kLog2e)), _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
  __m256 r = _mm256_fnmadd_ps(n, _mm256_set1_ps(kLn2Hi), x);
  r = _mm256_fnmadd_ps(n, _mm256_set1_ps(kLn2Lo), r);
  __m256 e = _mm256_set1_ps(kExpC[7]);
  for (int i = 6; i >= 0; --i) e = _mm256_fmadd_ps(e, r, _mm256_set1_ps(kExpC[i]));
  const __m256i scale = _mm256_slli_epi32(_mm256_add_epi32(_mm256_cvtps_epi32(n), _mm256_set1_epi32(127)), 23);
  const __m256 y = _mm256_mul_ps(e, _mm256_castsi256_ps(scale));
  return _mm256_and_ps(y, _mm256_cmp_ps(x, _mm256_set1_ps(kExpMinArg), _CMP_GE_OQ));
}
// p[0..8) = exp(p - maxv); returns the updated vector.
inline __m256 exp_block(float* p, __m256 maxv) {
  const __m256 y = exp_nonpositive(_mm256_sub_ps(_mm256_loadu_ps(p), maxv));
  _mm256_storeu_ps(p, y);
  return y;
}
inline __m256 exp_load(const float* p) { return _mm256_loadu_ps(p); }
inline float exp_lanes_sum(__m256 acc) {
  alignas(32) float l[8];
  _mm256_store_ps(l, acc);
  return ((l[0] + l[4]) + (l[2] + l[6])) + ((l[1] + l[5]) + (l[3] + l[7]));
}
#define NP_SOFTMAX_SIMD 1
using ExpVec = __m256;
inline ExpVec exp_splat(float v) { return _mm256_set1_ps(v); }
inline ExpVec exp_add(ExpVec a, ExpVec b) { return _mm256_add_ps(a, b); }
#elif defined(NP_SIMD128)
constexpr int kExpLanes = 4;
// As the AVX2 one, with mul + add for each FMA (SIMD128 has none).
inline v128_t exp_nonpositive(v128_t x) {
  const v128_t n = wasm_f32x4_nearest(wasm_f32x4_mul(x, wasm_f32x4_splat(kLog2e)));
  v128_t r = wasm_f32x4_sub(x, wasm_f32x4_mul(n, wasm_f32x4_splat(kLn2Hi)));
  r = wasm_f32x4_sub(r, wasm_f32x4_mul(n, wasm_f32x4_splat(kLn2Lo)));
  v128_t e = wasm_f32x4_splat(kExpC[7]);
  for (int i = 6; i >= 0; --i) e = wasm_f32x4_add(wasm_f32x4_mul(e, r), wasm_f32x4_splat(kExpC[i]));
  const v128_t scale = wasm_i32x4_shl(wasm_i32x4_add(wasm_i32x4_trunc_sat_f32x4(n), wasm_i32x4_splat(127)), 23);
  const v128_t y = wasm_f32x4_mul(e, scale);
  return wasm_v128_and(y, wasm_f32x4_ge(x, wasm_f32x4_splat(kExpMinArg)));
}
inline v128_t exp_block(float* p, v128_t maxv) {
  const v128_t y = exp_nonpositive(wasm_f32x4_sub(wasm_v128_load(p), maxv));
  wasm_v128_store(p, y);
  return y;
}
inline v128_t exp_load(const float* p) { return wasm_v128_load(p); }
inline float exp_lanes_sum(v128_t acc) {
  return (wasm_f32x4_extract_lane(acc, 0) + wasm_f32x4_extract_lane(acc, 2)) +
         (wasm_f32x4_extract_lane(acc, 1) + wasm_f32x4_extract_lane(acc, 3));
}
#define NP_SOFTMAX_SIMD 1
using ExpVec = v128_t;
inline ExpVec exp_splat(float v) { return wasm_f32x4_splat(v); }
inline ExpVec exp_add(ExpVec a, ExpVec b) { return wasm_f32x4_add(a, b); }
#endif

}  // namespace

float softmax_exp_sum_ref(float* p, int n, float maxv) {
  float sum = 0;
  for (int j = 0; j < n; ++j) {
    p[j] = std::exp(p[j] - maxv);
    sum += p[j];
  }
  return sum;
}

float softmax_exp_sum(float* p, int n, float maxv) {
#if defined(NP_SOFTMAX_SIMD)
  const ExpVec m = exp_splat(maxv);
  ExpVec acc = exp_splat(0.0f);
  int j = 0;
  for (; j + kExpLanes <= n; j += kExpLanes) acc = exp_add(acc, exp_block(p + j, m));
  if (j < n) {
    // The tail through a padded copy whose padding is zeroed before it is summed.
    alignas(32) float t[kExpLanes] = {};
    for (int i = 0; j + i < n; ++i) t[i] = p[j + i];
    exp_block(t, m);
    for (int i = 0; i < kExpLanes; ++i)
      if (j + i < n)
        p[j + i] = t[i];
      else
        t[i] = 0.0f;
    acc = exp_add(acc, exp_load(t));
  }
  return exp_lanes_sum(acc);
#else
  return softmax_exp_sum_ref(p, n, maxv);
#endif
}

namespace {

// Per-thread scratch for score / probability-gradient rows: grows, never shrinks.
float* attention_scratch(size_t n) {
  thread_local std::vector<float> scratch;
  if (scratch.size() < n) scratch.resize(n);
  return scratch.data();
}

// p[0, n) *= scale; returns their max (lowest for n == 0).
float scale_and_max(float* p, int n, float scale) {
  using simd::F32Vec;
  constexpr int W = F32Vec::kLanes;
  const F32Vec sv = F32Vec::splat(scale);
  F32Vec m = F32Vec::splat(std::numeric_limits<float>::lowest());
  int j = 0;
  for (; j + W <= n; j += W) {
    const F32Vec x = F32Vec::mul(F32Vec::load(p + j), sv);
    x.store(p + j);
    m = F32Vec::max(m, x);
  }
  float maxv = m.max_lane();
  for (; j < n; ++j) {
    p[j] *= scale;
    maxv = std::max(maxv, p[j]);
  }
  return maxv;
}

// Float forward: per query head h, S = q_h k_kvh^T (Tq, Tk) by GEMM, then the reference's
// scale, mask and softmax row by row, then out_h = P v_kvh by GEMM.
// kq8 (inference only, or null): each kv head's keys as Q8_0 rows, whose scores run in
// integers (gemm_q8_int16) instead of the float GEMM.
void attention_forward_fast(float* out, float* att, const float* q, const float* k, const float* v,
                            int Tq, int Tk, int NH, int NKV, int HS, const uint8_t* key_valid,
                            int causal_offset, int block_prefix, const Q8Rows* kq8 = nullptr) {
  const int group = NH / NKV;
  const float scale = 1.0f / std::sqrt(static_cast<float>(HS));
  const float lowest = std::numeric_limits<float>::lowest();
  const int64_t qstride = static_cast<int64_t>(NH) * HS, kvstride = static_cast<int64_t>(NKV) * HS;
  const MatmulPrecision prec = gemm_precision();
  const int64_t min_heads = std::max<int64_t>(1, 262144 / (static_cast<int64_t>(Tq) * Tk * HS + 1));
  // Without pad keys or a causal limit a row's mask is at most the catalog block's (keys from
  // block_prefix on hidden from the rows before it): its scaling and max run in vectors.
  const bool plain = causal_offset < 0 && (!key_valid || std::all_of(key_valid, key_valid + Tk, [](uint8_t b) { return b != 0; }));
  parallel_for(NH, min_heads, [&](int64_t h0, int64_t h1) {
    for (int h = static_cast<int>(h0); h < static_cast<int>(h1); ++h) {
      const int kvh = h / group;
      // P (Tq, Tk): scores, then the probabilities
      float* P = att ? att + static_cast<int64_t>(h) * Tq * Tk : attention_scratch(static_cast<size_t>(Tq) * Tk);
      if (kq8)
        gemm_q8_int16(Tq, Tk, HS, {q + static_cast<int64_t>(h) * HS, qstride, 1}, kq8[kvh], P, Tk);
      else
        gemm(Tq, Tk, HS, {q + static_cast<int64_t>(h) * HS, qstride, 1}, {k + static_cast<int64_t>(kvh) * HS, 1, kvstride},
             P, Tk, false, prec);
      for (int i = 0; i < Tq; ++i) {
        float* p = P + static_cast<int64_t>(i) * Tk;
        float maxv = lowest;
        if (plain) {  // the same values as the loop below: p * scale, and their max
          const int seen = i < block_prefix ? block_prefix : Tk;
          maxv = scale_and_max(p, seen, scale);
          std::fill(p + seen, p + Tk, lowest);
        } else {
          for (int j = 0; j < Tk; ++j) {
            const float s = attention_key_masked(key_valid, causal_offset, block_prefix, i, j) ? lowest : p[j] * scale;
            p[j] = s;
            if (s > maxv) maxv = s;
          }
        }
        const float sum = softmax_exp_sum(p, Tk, maxv);
        const float inv = 1.0f / sum;
        for (int j = 0; j < Tk; ++j) p[j] *= inv;
      }
      // out_h (Tq, HS) = P (Tq, Tk) v_kvh (Tk, HS)
      gemm(Tq, HS, Tk, {P, Tk, 1}, {v + static_cast<int64_t>(kvh) * HS, kvstride, 1},
           out + static_cast<int64_t>(h) * HS, qstride, false, prec);
    }
  });
}

// Float backward, per kv head and each query head h of its group (P = att_h):
//   dP = dout_h v^T;  dv += P^T dout_h;  dS = P * (dP - rowsum(P * dP)) * scale (0 where
//   masked);  dq_h += dS k;  dk += dS^T q_h.
void attention_backward_fast(float* dq, float* dk, float* dv, const float* dout, const float* att,
                             const float* q, const float* k, const float* v, int Tq, int Tk, int NH,
                             int NKV, int HS, const uint8_t* key_valid, int causal_offset,
                             int block_prefix) {
  const int group = NH / NKV;
  const float scale = 1.0f / std::sqrt(static_cast<float>(HS));
  const int64_t qstride = static_cast<int64_t>(NH) * HS, kvstride = static_cast<int64_t>(NKV) * HS;
  const MatmulPrecision prec = gemm_precision();
  parallel_for(NKV, 1, [&](int64_t kv0, int64_t kv1) {
    float* dS = attention_scratch(static_cast<size_t>(Tq) * Tk);
    for (int h = static_cast<int>(kv0) * group; h < static_cast<int>(kv1) * group; ++h) {
      const int kvh = h / group;
      const float* P = att + static_cast<int64_t>(h) * Tq * Tk;
      const float* doh = dout + static_cast<int64_t>(h) * HS;
      const float* vh = v + static_cast<int64_t>(kvh) * HS;
      const float* kh = k + static_cast<int64_t>(kvh) * HS;
      const float* qh = q + static_cast<int64_t>(h) * HS;
      // forward: out_i = sum_j p_ij v_j, so dP = dout_h v^T and dv += P^T dout_h
      gemm(Tq, Tk, HS, {doh, qstride, 1}, {vh, 1, kvstride}, dS, Tk, false, prec);
      if (dv) gemm(Tk, HS, Tq, {P, 1, Tk}, {doh, qstride, 1}, dv + static_cast<int64_t>(kvh) * HS, kvstride, true, prec);
      // forward: p = softmax(s), so ds_j = p_j (dp_j - sum_l p_l dp_l); masked scores are constants
      for (int i = 0; i < Tq; ++i) {
        const float* p = P + static_cast<int64_t>(i) * Tk;
        float* ds = dS + static_cast<int64_t>(i) * Tk;
        float pdp = 0;
        for (int j = 0; j < Tk; ++j) pdp += p[j] * ds[j];
        for (int j = 0; j < Tk; ++j)
          ds[j] = attention_key_masked(key_valid, causal_offset, block_prefix, i, j) ? 0.0f : p[j] * (ds[j] - pdp) * scale;
      }
      // forward: s_ij = scale * q_i . k_j, so dq_h += dS k and dk += dS^T q_h
      if (dq) gemm(Tq, HS, Tk, {dS, Tk, 1}, {kh, kvstride, 1}, dq + static_cast<int64_t>(h) * HS, qstride, true, prec);
      if (dk) gemm(Tk, HS, Tq, {dS, 1, Tk}, {qh, qstride, 1}, dk + static_cast<int64_t>(kvh) * HS, kvstride, true, prec);
    }
  });
}

}  // namespace

template <class Real>
void attention_forward_train(Real* out, Real* att, const Real* q, const Real* k, const Real* v,
                             int Tq, int Tk, int NH, int NKV, int HS, const uint8_t* key_valid,
                             int causal_offset, int block_prefix) {
  if constexpr (std::is_same_v<Real, float>) {
    attention_forward_fast(out, att, q, k, v, Tq, Tk, NH, NKV, HS, key_valid, causal_offset, block_prefix);
    return;
  }
  const int group = NH / NKV;
  const Real scale = Real(1) / std::sqrt(static_cast<Real>(HS));
  const Real lowest = std::numeric_limits<Real>::lowest();
  const int64_t qstride = static_cast<int64_t>(NH) * HS, kvstride = static_cast<int64_t>(NKV) * HS;
  // Query rows are independent: split them across threads.
  const int64_t min_rows = std::max<int64_t>(1, 32768 / (static_cast<int64_t>(Tk) * NH * HS));
  parallel_for(Tq, min_rows, [&](int64_t i0, int64_t i1) {
    std::vector<Real> scratch(att ? 0 : static_cast<size_t>(Tk));
    for (int i = static_cast<int>(i0); i < static_cast<int>(i1); ++i) {
      for (int h = 0; h < NH; ++h) {
        // p (Tk): scores, then exp(score - max), then (when kept) the probabilities
        Real* p = att ? att + (static_cast<int64_t>(h) * Tq + i) * Tk : scratch.data();
        const Real* qh = q + i * qstride + static_cast<int64_t>(h) * HS;
        const int kvh = h / group;
        Real maxv = lowest;
        for (int j = 0; j < Tk; ++j) {
          Real s = lowest;
          if (!attention_key_masked(key_valid, causal_offset, block_prefix, i, j)) {
            const Real* kh = k + j * kvstride + static_cast<int64_t>(kvh) * HS;
            Real d = 0;
            for (int c = 0; c < HS; ++c) d += qh[c] * kh[c];
            s = d * scale;
          }
          p[j] = s;
          if (s > maxv) maxv = s;
        }
        Real sum = 0;
        for (int j = 0; j < Tk; ++j) {
          p[j] = std::exp(p[j] - maxv);
          sum += p[j];
        }
        const Real inv = Real(1) / sum;
        Real* oh = out + i * qstride + static_cast<int64_t>(h) * HS;
        for (int c = 0; c < HS; ++c) oh[c] = 0;
        for (int j = 0; j < Tk; ++j) {
          const Real w = p[j] * inv;
          if (att) p[j] = w;
          if (w == 0) continue;
          const Real* vh = v + j * kvstride + static_cast<int64_t>(kvh) * HS;
          for (int c = 0; c < HS; ++c) oh[c] += w * vh[c];
        }
      }
    }
  });
}

template <class Real>
void attention_backward(Real* dq, Real* dk, Real* dv, const Real* dout, const Real* att,
                        const Real* q, const Real* k, const Real* v, int Tq, int Tk, int NH,
                        int NKV, int HS, const uint8_t* key_valid, int causal_offset,
                        int block_prefix) {
  if constexpr (std::is_same_v<Real, float>) {
    attention_backward_fast(dq, dk, dv, dout, att, q, k, v, Tq, Tk, NH, NKV, HS, key_valid, causal_offset,
                            block_prefix);
    return;
  }
  const int group = NH / NKV;
  const Real scale = Real(1) / std::sqrt(static_cast<Real>(HS));
  const int64_t qstride = static_cast<int64_t>(NH) * HS, kvstride = static_cast<int64_t>(NKV) * HS;
  // A kv head's dk/dv gather from its group of query heads only: split kv heads across
  // threads, so no two threads write the same gradient.
  parallel_for(NKV, 1, [&](int64_t kv0, int64_t kv1) {
    std::vector<Real> dp(static_cast<size_t>(Tk));
    for (int h = static_cast<int>(kv0) * group; h < static_cast<int>(kv1) * group; ++h) {
      const int kvh = h / group;
      for (int i = 0; i < Tq; ++i) {
        const Real* p = att + (static_cast<int64_t>(h) * Tq + i) * Tk;
        const Real* doh = dout + i * qstride + static_cast<int64_t>(h) * HS;
        // forward: out_i = sum_j p_j v_j, so dp_j = dout_i . v_j and dv_j += p_j dout_i
        Real pdp = 0;
        for (int j = 0; j < Tk; ++j) {
          const Real* vh = v + j * kvstride + static_cast<int64_t>(kvh) * HS;
          Real d = 0;
          for (int c = 0; c < HS; ++c) d += doh[c] * vh[c];
          dp[j] = d;
          pdp += p[j] * d;
          if (dv && p[j] != 0) {
            Real* dvh = dv + j * kvstride + static_cast<int64_t>(kvh) * HS;
            for (int c = 0; c < HS; ++c) dvh[c] += p[j] * doh[c];
          }
        }
        // forward: p = softmax(s), so ds_j = p_j (dp_j - sum_l p_l dp_l);
        // s_j = scale * q_i . k_j for unmasked keys (masked scores are constants)
        const Real* qh = q + i * qstride + static_cast<int64_t>(h) * HS;
        Real* dqh = dq ? dq + i * qstride + static_cast<int64_t>(h) * HS : nullptr;
        for (int j = 0; j < Tk; ++j) {
          if (attention_key_masked(key_valid, causal_offset, block_prefix, i, j)) continue;
          const Real ds = p[j] * (dp[j] - pdp) * scale;
          const Real* kh = k + j * kvstride + static_cast<int64_t>(kvh) * HS;
          if (dqh)
            for (int c = 0; c < HS; ++c) dqh[c] += ds * kh[c];
          if (dk) {
            Real* dkh = dk + j * kvstride + static_cast<int64_t>(kvh) * HS;
            for (int c = 0; c < HS; ++c) dkh[c] += ds * qh[c];
          }
        }
      }
    }
  });
}

template void attention_forward_train<float>(float*, float*, const float*, const float*, const float*, int, int, int, int, int, const uint8_t*, int, int);
template void attention_forward_train<double>(double*, double*, const double*, const double*, const double*, int, int, int, int, int, const uint8_t*, int, int);
template void attention_backward<float>(float*, float*, float*, const float*, const float*, const float*, const float*, const float*, int, int, int, int, int, const uint8_t*, int, int);
template void attention_backward<double>(double*, double*, double*, const double*, const double*, const double*, const double*, const double*, int, int, int, int, int, const uint8_t*, int, int);

// ---- float inference API (ops.h) ----

bool attention_int8_scores(int HS) {
#if defined(NP_SIMD128)
  return HS > 0 && HS % 32 == 0;
#else
  (void)HS;
  return false;
#endif
}

void attention_forward(float* out, const float* q, const float* k, const float* v, int Tq,
                       int Tk, int NH, int NKV, int HS, const uint8_t* key_valid,
                       int causal_offset, int block_prefix) {
  if (Tq <= kAttentionRowsMaxTq && attention_rows_supported(HS)) {
    attention_rows_forward(out, q, k, v, Tq, Tk, NH, NKV, HS, key_valid, causal_offset, block_prefix);
    return;
  }
  if (attention_int8_scores(HS)) {
    // SIMD128 has no FMA: a float product costs a multiply and an add per 4 multiply-adds, an
    // int16 dot product 8 in one instruction. So the scores of many rows run in integers, the
    // keys quantized to int8 per 32 values (the Q8_0 of the weights, once per kv head), the
    // queries to int16 per 32 (gemm_q8_int16.h): a layer's scores for 439 tokens of the 26M
    // shape at one thread in Node, 3.2-3.3 ms in float, 2.3 + 0.08 (quantizing the keys) in
    // integers. The probabilities' product with V stays float: quantizing P (Tq x Tk a head)
    // would cost about what the integer product saves.
    const int nb = HS / 32;
    thread_local std::vector<uint8_t> blocks;
    thread_local std::vector<float> scales;
    const size_t head_blocks = static_cast<size_t>(Tk) * nb * 34, head_scales = static_cast<size_t>(q8_scales_size(Tk, nb));
    blocks.resize(head_blocks * NKV);
    scales.resize(head_scales * NKV);
    // (the pool's threads write the caller's buffers: pointers, not the thread_local names)
    uint8_t* const bp = blocks.data();
    float* const sp = scales.data();
    std::vector<Q8Rows> kq8(static_cast<size_t>(NKV));
    for (int g = 0; g < NKV; ++g) kq8[g] = Q8Rows{bp + head_blocks * g, sp + head_scales * g};
    const int64_t kvstride = static_cast<int64_t>(NKV) * HS;
    parallel_for(NKV, 1, [&](int64_t g0, int64_t g1) {
      for (int64_t g = g0; g < g1; ++g) quantize_rows_q8(k + g * HS, kvstride, Tk, HS, bp + head_blocks * g, sp + head_scales * g);
    });
    attention_forward_fast(out, nullptr, q, k, v, Tq, Tk, NH, NKV, HS, key_valid, causal_offset, block_prefix, kq8.data());
    return;
  }
  attention_forward_train<float>(out, nullptr, q, k, v, Tq, Tk, NH, NKV, HS, key_valid, causal_offset,
                                 block_prefix);
}

}  // namespace np
