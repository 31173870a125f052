// attention.cpp — grouped-query scaled dot-product attention with key and causal masks:
// forward (optionally keeping the softmax probabilities) and backward (kernels.h), and the
// float inference forward (ops.h). The double instantiation is the reference loops (the
// specification); the float one runs each head's products (q k^T, p v and the four of the
// backward) through the packed GEMM of ops/gemm.h, heads (forward) or kv heads (backward)
// split across threads. Each output is computed by the same code whatever the split, so
// results do not depend on the thread count.
#include <algorithm>
#include <cmath>
#include <limits>
#include <type_traits>
#include <vector>

#include "np/threads.h"
#include "ops/gemm.h"
#include "ops/kernels.h"
#include "ops/ops.h"

namespace np {

namespace {

inline bool key_masked(const uint8_t* key_valid, int causal_offset, int i, int j) {
  return (key_valid && !key_valid[j]) || (causal_offset >= 0 && j > i + causal_offset);
}

// Per-thread scratch for score / probability-gradient rows: grows, never shrinks.
float* attention_scratch(size_t n) {
  thread_local std::vector<float> scratch;
  if (scratch.size() < n) scratch.resize(n);
  return scratch.data();
}

// Float forward: per query head h, S = q_h k_kvh^T (Tq, Tk) by GEMM, then the reference's
// scale, mask and softmax row by row, then out_h = P v_kvh by GEMM.
void attention_forward_fast(float* out, float* att, const float* q, const float* k, const float* v,
                            int Tq, int Tk, int NH, int NKV, int HS, const uint8_t* key_valid,
                            int causal_offset) {
  const int group = NH / NKV;
  const float scale = 1.0f / std::sqrt(static_cast<float>(HS));
  const float lowest = std::numeric_limits<float>::lowest();
  const int64_t qstride = static_cast<int64_t>(NH) * HS, kvstride = static_cast<int64_t>(NKV) * HS;
  const MatmulPrecision prec = gemm_precision();
  const int64_t min_heads = std::max<int64_t>(1, 262144 / (static_cast<int64_t>(Tq) * Tk * HS + 1));
  parallel_for(NH, min_heads, [&](int64_t h0, int64_t h1) {
    for (int h = static_cast<int>(h0); h < static_cast<int>(h1); ++h) {
      const int kvh = h / group;
      // P (Tq, Tk): scores, then the probabilities
      float* P = att ? att + static_cast<int64_t>(h) * Tq * Tk : attention_scratch(static_cast<size_t>(Tq) * Tk);
      gemm(Tq, Tk, HS, {q + static_cast<int64_t>(h) * HS, qstride, 1}, {k + static_cast<int64_t>(kvh) * HS, 1, kvstride},
           P, Tk, false, prec);
      for (int i = 0; i < Tq; ++i) {
        float* p = P + static_cast<int64_t>(i) * Tk;
        float maxv = lowest;
        for (int j = 0; j < Tk; ++j) {
          const float s = key_masked(key_valid, causal_offset, i, j) ? lowest : p[j] * scale;
          p[j] = s;
          if (s > maxv) maxv = s;
        }
        float sum = 0;
        for (int j = 0; j < Tk; ++j) {
          p[j] = std::exp(p[j] - maxv);
          sum += p[j];
        }
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
                             int NKV, int HS, const uint8_t* key_valid, int causal_offset) {
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
          ds[j] = key_masked(key_valid, causal_offset, i, j) ? 0.0f : p[j] * (ds[j] - pdp) * scale;
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
                             int causal_offset) {
  if constexpr (std::is_same_v<Real, float>) {
    attention_forward_fast(out, att, q, k, v, Tq, Tk, NH, NKV, HS, key_valid, causal_offset);
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
          if (!key_masked(key_valid, causal_offset, i, j)) {
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
                        int NKV, int HS, const uint8_t* key_valid, int causal_offset) {
  if constexpr (std::is_same_v<Real, float>) {
    attention_backward_fast(dq, dk, dv, dout, att, q, k, v, Tq, Tk, NH, NKV, HS, key_valid, causal_offset);
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
          if (key_masked(key_valid, causal_offset, i, j)) continue;
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

template void attention_forward_train<float>(float*, float*, const float*, const float*, const float*, int, int, int, int, int, const uint8_t*, int);
template void attention_forward_train<double>(double*, double*, const double*, const double*, const double*, int, int, int, int, int, const uint8_t*, int);
template void attention_backward<float>(float*, float*, float*, const float*, const float*, const float*, const float*, const float*, int, int, int, int, int, const uint8_t*, int);
template void attention_backward<double>(double*, double*, double*, const double*, const double*, const double*, const double*, const double*, int, int, int, int, int, const uint8_t*, int);

// ---- float inference API (ops.h) ----

void attention_forward(float* out, const float* q, const float* k, const float* v, int Tq,
                       int Tk, int NH, int NKV, int HS, const uint8_t* key_valid,
                       int causal_offset) {
  attention_forward_train<float>(out, nullptr, q, k, v, Tq, Tk, NH, NKV, HS, key_valid, causal_offset);
}

}  // namespace np
