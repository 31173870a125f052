// attention_rows.cpp — attention for a few query rows (attention_rows.h): per query row and
// head, the scores as dot products of q with K's rows four keys at a time, the masks, the
// softmax's exps (softmax.h), then the output as the probability-weighted sum of V's rows,
// in chunks of up to 8 vectors of the head's columns held in registers.
#include "ops/attention_rows.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <vector>

#include "np/threads.h"
#include "ops/attention_q8.h"
#include "ops/f32vec.h"
#include "ops/softmax.h"

namespace np {

namespace {

using simd::F32Vec;
constexpr int kLanes = F32Vec::kLanes;

float* row_scratch(size_t n) {
  thread_local std::vector<float> scratch;
  if (scratch.size() < n) scratch.resize(n);
  return scratch.data();
}

// The int8 segment's scratch: the query row in int16, the weights and their int16 form.
struct Q8Scratch {
  std::vector<int16_t> q16, w16;
  std::vector<float> w;
};
Q8Scratch& q8_scratch(size_t hs, size_t rows) {
  thread_local Q8Scratch s;
  if (s.q16.size() < hs) s.q16.resize(hs);
  if (s.w.size() < rows) {
    s.w.resize(rows);
    s.w16.resize(rows);
  }
  return s;
}

// One vector of a key or value row: floats, or bf16 bits widened.
inline F32Vec load_row(const float* p) { return F32Vec::load(p); }
inline F32Vec load_row(const uint16_t* p) { return F32Vec::load_bf16(p); }

// p[j] = q . k_j for j < Tk (k_j = k + j * ldk, HS values): four keys per pass, each with
// its own accumulator, so four independent chains hide the add latency.
template <typename K>
void scores(float* p, const float* q, const K* k, int64_t ldk, int Tk, int HS) {
  int j = 0;
  for (; j + 4 <= Tk; j += 4) {
    const K* k0 = k + j * ldk;
    F32Vec a0 = F32Vec::zero(), a1 = F32Vec::zero(), a2 = F32Vec::zero(), a3 = F32Vec::zero();
    for (int c = 0; c < HS; c += kLanes) {
      const F32Vec x = F32Vec::load(q + c);
      a0 = F32Vec::madd(a0, load_row(k0 + c), x);
      a1 = F32Vec::madd(a1, load_row(k0 + ldk + c), x);
      a2 = F32Vec::madd(a2, load_row(k0 + 2 * ldk + c), x);
      a3 = F32Vec::madd(a3, load_row(k0 + 3 * ldk + c), x);
    }
    p[j] = a0.sum();
    p[j + 1] = a1.sum();
    p[j + 2] = a2.sum();
    p[j + 3] = a3.sum();
  }
  for (; j < Tk; ++j) {
    const K* kj = k + j * ldk;
    F32Vec a = F32Vec::zero();
    for (int c = 0; c < HS; c += kLanes) a = F32Vec::madd(a, load_row(kj + c), F32Vec::load(q + c));
    p[j] = a.sum();
  }
}

void segment_scores(float* p, const float* q, const KVSegment& s, int64_t kvo, int64_t ldk, int HS) {
  if (s.k16) scores(p, q, s.k16 + kvo, ldk, s.n, HS);
  else scores(p, q, s.k + kvo, ldk, s.n, HS);
}

// acc[u] += sum_j p[j] v_j[c0 + u * kLanes, ...) over one segment's keys with p[j] != 0.
template <int NV, typename V>
void accumulate(F32Vec* acc, const float* p, const V* v, int n, int64_t ldv) {
  for (int j = 0; j < n; ++j) {
    if (p[j] == 0.0f) continue;
    const F32Vec w = F32Vec::splat(p[j]);
    const V* vj = v + j * ldv;
    for (int u = 0; u < NV; ++u) acc[u] = F32Vec::madd(acc[u], w, load_row(vj + u * kLanes));
  }
}

// out[c0, c0 + NV * kLanes) = sum_j p[j] v_j[c0, ...) over the keys with p[j] != 0, the keys
// running through the segments in order (p indexes them as one list).
// With `onto`, the sums start from out's values (the int8 segment's part) instead of zero.
template <int NV>
void weighted_sum(float* out, const float* p, const KVSegment* segs, int nseg, int64_t vo, int64_t ldv, int c0,
                  bool onto) {
  F32Vec acc[NV];
  for (int u = 0; u < NV; ++u) acc[u] = onto ? F32Vec::load(out + c0 + u * kLanes) : F32Vec::zero();
  for (int s = 0; s < nseg; ++s) {
    if (segs[s].v16) accumulate<NV>(acc, p, segs[s].v16 + vo + c0, segs[s].n, ldv);
    else accumulate<NV>(acc, p, segs[s].v + vo + c0, segs[s].n, ldv);
    p += segs[s].n;
  }
  for (int u = 0; u < NV; ++u) acc[u].store(out + c0 + u * kLanes);
}

void weighted_sum_all(float* out, const float* p, const KVSegment* segs, int nseg, int64_t vo, int64_t ldv, int HS,
                      bool onto) {
  const int nv = HS / kLanes;
  int u = 0;
  for (; u + 8 <= nv; u += 8) weighted_sum<8>(out, p, segs, nseg, vo, ldv, u * kLanes, onto);
  if (u + 4 <= nv) {
    weighted_sum<4>(out, p, segs, nseg, vo, ldv, u * kLanes, onto);
    u += 4;
  }
  if (u + 2 <= nv) {
    weighted_sum<2>(out, p, segs, nseg, vo, ldv, u * kLanes, onto);
    u += 2;
  }
  if (u < nv) weighted_sum<1>(out, p, segs, nseg, vo, ldv, u * kLanes, onto);
}

void attention_rows_impl(float* out, const float* q, const KVSegment* segs, int nseg, int Tq, int NH, int NKV,
                         int HS, const uint8_t* key_valid, int causal_offset, int block_prefix) {
  int Tk = 0;
  for (int s = 0; s < nseg; ++s) Tk += segs[s].n;
  const int group = NH / NKV;
  const float scale = 1.0f / std::sqrt(static_cast<float>(HS));
  const float lowest = std::numeric_limits<float>::lowest();
  const int64_t qstride = static_cast<int64_t>(NH) * HS, kvstride = static_cast<int64_t>(NKV) * HS;
  // A pool dispatch costs microseconds: split heads only when each share has some 64K
  // multiply-adds (a 26M decoder step's cross-attention over 300 keys: 38K per head).
  const int64_t per_head = 2 * static_cast<int64_t>(Tq) * Tk * HS;
  const int64_t min_heads = std::max<int64_t>(1, 65536 / (per_head + 1));
  // An int8 first segment (a kept block): its products in integers (attention_q8.h), the
  // other segments' on top in float.
  const KVQ8* kq = nseg > 0 ? segs[0].kq : nullptr;
  const KVQ8* vq = nseg > 0 ? segs[0].vq : nullptr;
  // No mask at all (the decoder's cross-attention over a block without pad tokens): the
  // scores' scaling and max run in vectors.
  bool unmasked = causal_offset < 0 && block_prefix == 0;
  if (unmasked && key_valid)
    for (int j = 0; j < Tk && unmasked; ++j) unmasked = key_valid[j] != 0;
  parallel_for(NH, min_heads, [&](int64_t h0, int64_t h1) {
    float* p = row_scratch(static_cast<size_t>(Tk));
    Q8Scratch* qs = kq ? &q8_scratch(static_cast<size_t>(HS), static_cast<size_t>(vq->rows)) : nullptr;
    for (int h = static_cast<int>(h0); h < static_cast<int>(h1); ++h) {
      const int g = h / group;
      const int64_t kvo = static_cast<int64_t>(g) * HS;
      for (int i = 0; i < Tq; ++i) {
        const float* qi = q + i * qstride + static_cast<int64_t>(h) * HS;
        for (int s = 0, off = 0; s < nseg; off += segs[s].n, ++s) {
          if (s == 0 && kq) {
            const float sq = quantize_q16(qi, HS, qs->q16.data());
            scores_q8(p, qs->q16.data(), sq, *kq, g, HS);
          } else {
            segment_scores(p + off, qi, segs[s], kvo, kvstride, HS);
          }
        }
        float maxv = lowest;
        if (unmasked) {  // scale and max in vectors (the same values)
          F32Vec m = F32Vec::splat(lowest);
          const F32Vec sv = F32Vec::splat(scale);
          int j = 0;
          for (; j + kLanes <= Tk; j += kLanes) {
            const F32Vec x = F32Vec::mul(F32Vec::load(p + j), sv);
            x.store(p + j);
            m = F32Vec::max(m, x);
          }
          maxv = m.max_lane();
          for (; j < Tk; ++j) {
            p[j] *= scale;
            if (p[j] > maxv) maxv = p[j];
          }
        } else {
          for (int j = 0; j < Tk; ++j) {
            const float sc = attention_key_masked(key_valid, causal_offset, block_prefix, i, j) ? lowest : p[j] * scale;
            p[j] = sc;
            if (sc > maxv) maxv = sc;
          }
        }
        const float inv = 1.0f / softmax_exp_sum(p, Tk, maxv);
        float* oi = out + i * qstride + static_cast<int64_t>(h) * HS;
        if (vq) {
          // The int8 segment's weights are its exps (not yet divided by their sum) times the
          // value scales; the division goes into the weights' scale, the float segments' keys
          // are normalised as usual.
          const float* vs = vq->scale.data() + static_cast<size_t>(g) * vq->rows;
          float* w = qs->w.data();
          int j = 0;
          for (; j + kLanes <= vq->T; j += kLanes) F32Vec::mul(F32Vec::load(p + j), F32Vec::load(vs + j)).store(w + j);
          for (; j < vq->T; ++j) w[j] = p[j] * vs[j];
          for (; j < vq->rows; ++j) w[j] = 0.0f;
          const float ws = quantize_weights_q16(w, vq->rows, qs->w16.data());
          weighted_sum_q8(oi, qs->w16.data(), ws * inv, *vq, g, HS);
          for (int k = vq->T; k < Tk; ++k) p[k] *= inv;
          weighted_sum_all(oi, p + vq->T, segs + 1, nseg - 1, kvo, kvstride, HS, true);
        } else {
          for (int k = 0; k < Tk; ++k) p[k] *= inv;
          weighted_sum_all(oi, p, segs, nseg, kvo, kvstride, HS, false);
        }
      }
    }
  });
}

}  // namespace

bool attention_rows_supported(int HS) { return HS > 0 && HS % kLanes == 0; }

int attention_rows_int8_max_rows() {
#if defined(NP_SIMD128)
  return 64;
#elif defined(__AVX2__) || defined(__AVX512F__)
  return 0;
#else
  return 64;
#endif
}

void attention_rows_forward(float* out, const float* q, const float* k, const float* v, int Tq, int Tk, int NH,
                            int NKV, int HS, const uint8_t* key_valid, int causal_offset, int block_prefix) {
  const KVSegment seg{k, v, Tk, nullptr, nullptr};
  attention_rows_impl(out, q, &seg, 1, Tq, NH, NKV, HS, key_valid, causal_offset, block_prefix);
}

void attention_rows_forward(float* out, const float* q, KVSegment a, KVSegment b, int Tq, int NH, int NKV, int HS,
                            const uint8_t* key_valid) {
  const KVSegment segs[2] = {a, b};
  attention_rows_impl(out, q, segs, 2, Tq, NH, NKV, HS, key_valid, -1, 0);
}

}  // namespace np
