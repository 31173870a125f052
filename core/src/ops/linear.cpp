// linear.cpp — y = x W^T for W stored (out, in) row-major: the forward/backward pair
// (kernels.h), the Matrix-based float forward of inference (ops.h), which calls it, and the
// few-token matvec kernels of matvec.h with their _ref. The double instantiation is the
// reference (plain loops, the specification); the float one sends products of up to
// kMatvecMaxT tokens at fp32 to the matvec and every other product to the packed GEMM of
// ops/gemm.h at the process's matmul precision (fp32 or bf16), threaded there.
#include <algorithm>
#include <cmath>
#include <cstring>
#include <type_traits>

#include "np/threads.h"
#include "ops/f32vec.h"
#include "ops/gemm.h"
#include "ops/kernels.h"
#include "ops/matvec.h"
#include "ops/ops.h"

#if defined(__AVX2__) || defined(__AVX512F__)
#include <immintrin.h>
#endif
#include "ops/simd128.h"

namespace np {

namespace {

// dot of two length-n vectors with 16 independent partial sums (fixed order, so the
// result is reproducible for a given n). Shared by both linear forwards, so they agree
// bit for bit in float.
template <class Real>
Real dot_ref(const Real* a, const Real* b, int64_t n) {
  Real acc[16] = {0};
  int64_t i = 0;
  for (; i + 16 <= n; i += 16)
    for (int j = 0; j < 16; ++j) acc[j] += a[i + j] * b[i + j];
  Real tail = 0;
  for (; i < n; ++i) tail += a[i] * b[i];
  for (int j = 0; j < 8; ++j) acc[j] += acc[j + 8];
  for (int j = 0; j < 4; ++j) acc[j] += acc[j + 4];
  return (acc[0] + acc[2]) + (acc[1] + acc[3]) + tail;
}

}  // namespace

// ---- few-token matvec (matvec.h) ----

namespace {

using simd::F32Vec;


constexpr int kLanes = F32Vec::kLanes;
// Rows of W per block for NT tokens: NR * NT accumulators (+ NT inputs) stay within 16
// registers (AVX2's and, through V8, SIMD128's), and a single token still gets 8 independent
// chains to hide the add latency.
constexpr int matvec_rows_per_block(int NT) { return NT == 1 ? 8 : NT == 2 ? 4 : 2; }

// out[t * ldo + r] = inp_t . W_r (+ bias[r]) for NT tokens (inp rows ldi apart) and rows
// [r0, r0 + NR). Every row gets the same arithmetic whatever NR is (its own accumulator per
// token, C in order, the tail zero-padded into one more vector), so a row's result does not
// depend on the block or thread that computes it.
template <int NT, int NR>
void matvec_block(float* out, int64_t ldo, const float* inp, int64_t ldi, const float* W, const float* bias,
                  int64_t r0, int C) {
  F32Vec acc[NR][NT];
  for (int r = 0; r < NR; ++r)
    for (int t = 0; t < NT; ++t) acc[r][t] = F32Vec::zero();
  const float* w0 = W + r0 * C;
  int c = 0;
  for (; c + kLanes <= C; c += kLanes) {
    F32Vec x[NT];
    for (int t = 0; t < NT; ++t) x[t] = F32Vec::load(inp + t * ldi + c);
    for (int r = 0; r < NR; ++r) {
      const F32Vec w = F32Vec::load(w0 + static_cast<int64_t>(r) * C + c);
      for (int t = 0; t < NT; ++t) acc[r][t] = F32Vec::madd(acc[r][t], w, x[t]);
    }
  }
  if (c < C) {
    // The tail through zero-padded copies: the same madd as the full vectors.
    const int n = C - c;
    float xt[NT][kLanes] = {}, wt[kLanes] = {};
    for (int t = 0; t < NT; ++t) std::memcpy(xt[t], inp + t * ldi + c, sizeof(float) * n);
    for (int r = 0; r < NR; ++r) {
      std::memcpy(wt, w0 + static_cast<int64_t>(r) * C + c, sizeof(float) * n);
      const F32Vec w = F32Vec::load(wt);
      for (int t = 0; t < NT; ++t) acc[r][t] = F32Vec::madd(acc[r][t], w, F32Vec::load(xt[t]));
    }
  }
  for (int r = 0; r < NR; ++r)
    for (int t = 0; t < NT; ++t) {
      const float s = acc[r][t].sum();
      out[t * ldo + r0 + r] = bias ? s + bias[r0 + r] : s;
    }
}

// Rows [rb, re) for NT tokens: whole blocks, then single rows.
template <int NT>
void matvec_rows(float* out, int64_t ldo, const float* inp, int64_t ldi, const float* W, const float* bias,
                 int64_t rb, int64_t re, int C) {
  constexpr int NR = matvec_rows_per_block(NT);
  int64_t r = rb;
  for (; r + NR <= re; r += NR) matvec_block<NT, NR>(out, ldo, inp, ldi, W, bias, r, C);
  for (; r < re; ++r) matvec_block<NT, 1>(out, ldo, inp, ldi, W, bias, r, C);
}

// ---- the Q8_0 matvec: int16 activations, integer dot products ----
//
// Each input row is quantized per 32-value block to int16 (s = max|x| / 32767, q = round(x / s),
// relative error at most 2^-16 of the block's largest value); a block's 32 products q_x * q_w
// are summed exactly in int32 (|sum| <= 32 * 32767 * 127 < 2^31), in lanes, and each lane's sum
// is added to a float accumulator times s_x * d_w. One instruction does 8 (SIMD128's
// i32x4.dot_i16x8_s), 16 (AVX2's vpmaddwd) or 32 (AVX-512BW's) of the products, against a
// conversion, a scale and a multiply-add per weight for float weights.

// A block of 32 weights widened to int16, and its dot product with 32 int16 activations as
// kLanes int32 lane sums converted to floats.
#if defined(__AVX512F__) && defined(__AVX512BW__)
struct W16 {
  __m512i v;
  static W16 load(const int8_t* q) { return {_mm512_cvtepi8_epi16(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(q)))}; }
  F32Vec dot(const int16_t* x) const {
    return {_mm512_cvtepi32_ps(_mm512_madd_epi16(_mm512_loadu_si512(x), v))};
  }
};
#elif defined(__AVX2__) && defined(__FMA__) && !defined(__AVX512F__)
struct W16 {
  __m256i lo, hi;
  static W16 load(const int8_t* q) {
    return {_mm256_cvtepi8_epi16(_mm_loadu_si128(reinterpret_cast<const __m128i*>(q))),
            _mm256_cvtepi8_epi16(_mm_loadu_si128(reinterpret_cast<const __m128i*>(q + 16)))};
  }
  F32Vec dot(const int16_t* x) const {
    const __m256i a = _mm256_madd_epi16(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(x)), lo);
    const __m256i b = _mm256_madd_epi16(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(x + 16)), hi);
    return {_mm256_cvtepi32_ps(_mm256_add_epi32(a, b))};
  }
};
#elif defined(NP_SIMD128)
struct W16 {
  v128_t w[4];
  // v128.load8x8_s loads and widens in one instruction (one pmovsxbw in V8).
  static W16 load(const int8_t* q) {
    return {{wasm_i16x8_load8x8(q), wasm_i16x8_load8x8(q + 8), wasm_i16x8_load8x8(q + 16), wasm_i16x8_load8x8(q + 24)}};
  }
  F32Vec dot(const int16_t* x) const {
    const v128_t s0 = wasm_i32x4_dot_i16x8(wasm_v128_load(x), w[0]);
    const v128_t s1 = wasm_i32x4_dot_i16x8(wasm_v128_load(x + 8), w[1]);
    const v128_t s2 = wasm_i32x4_dot_i16x8(wasm_v128_load(x + 16), w[2]);
    const v128_t s3 = wasm_i32x4_dot_i16x8(wasm_v128_load(x + 24), w[3]);
    return {wasm_f32x4_convert_i32x4(wasm_i32x4_add(wasm_i32x4_add(s0, s1), wasm_i32x4_add(s2, s3)))};
  }
};
#else
// Portable (and AVX-512F without BW): kLanes lanes, lane l summing products l, l + kLanes, ...
struct W16 {
  int16_t w[32];
  static W16 load(const int8_t* q) {
    W16 r;
    for (int j = 0; j < 32; ++j) r.w[j] = q[j];
    return r;
  }
  F32Vec dot(const int16_t* x) const {
    float lanes[kLanes];
    for (int l = 0; l < kLanes; ++l) {
      int32_t s = 0;
      for (int j = l; j < 32; j += kLanes) s += static_cast<int32_t>(x[j]) * w[j];
      lanes[l] = static_cast<float>(s);
    }
    return F32Vec::load(lanes);
  }
};
#endif

// Activations of NT tokens quantized by quantize_act_q16: xq (NT, C), xs (NT, C / 32).
// re: the end of the caller's rows; the next rows' cache lines up to it are prefetched while
// these compute (NR short row streams at once defeat the hardware prefetchers, as in the
// WebAssembly kernel below: natively 7.8 GB/s a thread without this).
template <int NT, int NR>
void matvec_block_q8(float* out, int64_t ldo, const int16_t* xq, const float* xs, int C, const Q8Rows& W,
                     const float* bias, int64_t r0, int64_t re) {
  F32Vec acc[NR][NT];
  for (int r = 0; r < NR; ++r)
    for (int t = 0; t < NT; ++t) acc[r][t] = F32Vec::zero();
  const int64_t nb = C / 32, row_bytes = nb * 34;
  const uint8_t* ahead = W.blocks + (r0 + NR) * row_bytes;
  const uint8_t* ahead_end = W.blocks + re * row_bytes;
  const int64_t lines_per_block = (NR * row_bytes / 64 + nb - 1) / nb;
  for (int64_t b = 0; b < nb; ++b) {
    for (int64_t l = 0; l < lines_per_block; ++l) {
      const uint8_t* t = ahead + (b * lines_per_block + l) * 64;
      if (t < ahead_end) __builtin_prefetch(t);
    }
    for (int r = 0; r < NR; ++r) {
      const W16 w = W16::load(reinterpret_cast<const int8_t*>(W.blocks + (r0 + r) * row_bytes + b * 34 + 2));
      const float d = W.d(nb, r0 + r, b);
      for (int t = 0; t < NT; ++t)
        acc[r][t] = F32Vec::madd(acc[r][t], w.dot(xq + static_cast<int64_t>(t) * C + b * 32), F32Vec::splat(xs[t * nb + b] * d));
    }
  }
  for (int r = 0; r < NR; ++r)
    for (int t = 0; t < NT; ++t) {
      const float s = acc[r][t].sum();
      out[t * ldo + r0 + r] = bias ? s + bias[r0 + r] : s;
    }
}

#if defined(NP_SIMD128)
// One token in WebAssembly (the decoder step): each row's block is summed to one exact int32
// and converted once, four rows' totals gathered into one vector by a transpose-add, so the
// float work (convert, scale, accumulate) is shared by four rows: about 16 instructions per
// row and block against 22 for the generic kernel. Every row gets the same arithmetic in its
// own lane (acc += float(total) * (d * s_x), block by block), the tail rows the same in a
// scalar, so a row's result does not depend on the block or thread that computes it.
int32_t block_total(v128_t s) {
  return (wasm_i32x4_extract_lane(s, 0) + wasm_i32x4_extract_lane(s, 1)) +
         (wasm_i32x4_extract_lane(s, 2) + wasm_i32x4_extract_lane(s, 3));
}

v128_t block_sums(const uint8_t* w, v128_t x0, v128_t x1, v128_t x2, v128_t x3) {
  const W16 q = W16::load(reinterpret_cast<const int8_t*>(w));
  return wasm_i32x4_add(wasm_i32x4_add(wasm_i32x4_dot_i16x8(x0, q.w[0]), wasm_i32x4_dot_i16x8(x1, q.w[1])),
                        wasm_i32x4_add(wasm_i32x4_dot_i16x8(x2, q.w[2]), wasm_i32x4_dot_i16x8(x3, q.w[3])));
}

// Block b's contribution to four consecutive rows (row i in lane i): float(total_i) *
// (d_i * s_x). wb points at the first row's block, d4 at the row quad's scales (matvec.h).
v128_t four_rows_block(const uint8_t* wb, int64_t row_bytes, const float* d4, int64_t b, v128_t x0, v128_t x1,
                       v128_t x2, v128_t x3, v128_t sx) {
  const v128_t s0 = block_sums(wb, x0, x1, x2, x3), s1 = block_sums(wb + row_bytes, x0, x1, x2, x3),
               s2 = block_sums(wb + 2 * row_bytes, x0, x1, x2, x3), s3 = block_sums(wb + 3 * row_bytes, x0, x1, x2, x3);
  // lanes (s0_0 + s0_2, s1_0 + s1_2, s0_1 + s0_3, s1_1 + s1_3), the same for s2, s3
  const v128_t t0 = wasm_i32x4_add(wasm_i32x4_shuffle(s0, s1, 0, 4, 1, 5), wasm_i32x4_shuffle(s0, s1, 2, 6, 3, 7));
  const v128_t t1 = wasm_i32x4_add(wasm_i32x4_shuffle(s2, s3, 0, 4, 1, 5), wasm_i32x4_shuffle(s2, s3, 2, 6, 3, 7));
  const v128_t tot = wasm_i32x4_add(wasm_i32x4_shuffle(t0, t1, 0, 1, 4, 5), wasm_i32x4_shuffle(t0, t1, 2, 3, 6, 7));
  const v128_t scale = wasm_f32x4_mul(wasm_v128_load(d4 + 4 * b), sx);
  return wasm_f32x4_mul(wasm_f32x4_convert_i32x4(tot), scale);
}

// Rows [r, r + 4G), r a multiple of 4 (whole row quads of the scales): G groups of four rows
// per pass over the blocks (two groups keep more loads in flight: decoder steps stream their
// weights from memory, not cache).
template <int G>
void matvec_q8_row_groups(float* out, const int16_t* xq, const float* xs, int64_t nb, int64_t row_bytes,
                          const Q8Rows& W, const float* bias, int64_t r, int64_t re) {
  const uint8_t* w = W.blocks + r * row_bytes + 2;
  const float* d4 = W.scales + (r >> 2) * nb * 4;
  v128_t acc[G];
  for (int g = 0; g < G; ++g) acc[g] = wasm_f32x4_splat(0.0f);
  // Touch the next rows' cache lines while this group computes: WebAssembly has no prefetch,
  // and 8 short row streams at once defeat the hardware prefetchers (5.5-6.0 GB/s from memory
  // without this, 16.8-17.3 with it; a plain sequential read: 19-20).
  const int64_t group_bytes = 4 * G * row_bytes;
  const uint8_t* ahead = W.blocks + (r + 4 * G) * row_bytes;
  const uint8_t* ahead_end = W.blocks + re * row_bytes;
  const int64_t lines_per_block = (group_bytes / 64 + nb - 1) / nb;
  for (int64_t b = 0; b < nb; ++b) {
    for (int64_t l = 0; l < lines_per_block; ++l) {
      const uint8_t* t = ahead + (b * lines_per_block + l) * 64;
      if (t < ahead_end) (void)*static_cast<const volatile uint8_t*>(t);
    }
    const int16_t* x = xq + b * 32;
    const v128_t x0 = wasm_v128_load(x), x1 = wasm_v128_load(x + 8), x2 = wasm_v128_load(x + 16),
                 x3 = wasm_v128_load(x + 24), sx = wasm_f32x4_splat(xs[b]);
    for (int g = 0; g < G; ++g)
      acc[g] = wasm_f32x4_add(acc[g], four_rows_block(w + 4 * g * row_bytes + b * 34, row_bytes, d4 + 4 * g * nb, b,
                                                      x0, x1, x2, x3, sx));
  }
  for (int g = 0; g < G; ++g) {
    if (bias) acc[g] = wasm_f32x4_add(acc[g], wasm_v128_load(bias + r + 4 * g));
    wasm_v128_store(out + r + 4 * g, acc[g]);
  }
}

// One row alone (rows before the first whole quad, and after the last): the lanes' arithmetic.
// Out of line: inlined at both its call sites it cost 0.4 KB of the gzipped module.
__attribute__((noinline)) void matvec_q8_one_row(float* out, const int16_t* xq, const float* xs, int64_t nb,
                                                 int64_t row_bytes, const Q8Rows& W, const float* bias, int64_t r) {
  const uint8_t* w = W.blocks + r * row_bytes + 2;
  float acc = 0.0f;
  for (int64_t b = 0; b < nb; ++b) {
    const int16_t* x = xq + b * 32;
    const v128_t s = block_sums(w + b * 34, wasm_v128_load(x), wasm_v128_load(x + 8), wasm_v128_load(x + 16),
                                wasm_v128_load(x + 24));
    acc += static_cast<float>(block_total(s)) * (W.d(nb, r, b) * xs[b]);
  }
  out[r] = bias ? acc + bias[r] : acc;
}

void matvec_q8_one_token(float* out, const int16_t* xq, const float* xs, int C, const Q8Rows& W, const float* bias,
                         int64_t rb, int64_t re) {
  const int64_t nb = C / 32, row_bytes = nb * 34;
  int64_t r = rb;
  for (; r < re && (r & 3) != 0; ++r) matvec_q8_one_row(out, xq, xs, nb, row_bytes, W, bias, r);
  for (; r + 8 <= re; r += 8) matvec_q8_row_groups<2>(out, xq, xs, nb, row_bytes, W, bias, r, re);
  for (; r + 4 <= re; r += 4) matvec_q8_row_groups<1>(out, xq, xs, nb, row_bytes, W, bias, r, re);
  for (; r < re; ++r) matvec_q8_one_row(out, xq, xs, nb, row_bytes, W, bias, r);
}
#endif

template <int NT>
void matvec_rows_q8(float* out, int64_t ldo, const int16_t* xq, const float* xs, int C, const Q8Rows& W,
                    const float* bias, int64_t rb, int64_t re) {
#if defined(NP_SIMD128)
  if constexpr (NT == 1) {
    matvec_q8_one_token(out, xq, xs, C, W, bias, rb, re);
    return;
  }
#endif
  constexpr int NR = matvec_rows_per_block(NT);
  int64_t r = rb;
  for (; r + NR <= re; r += NR) matvec_block_q8<NT, NR>(out, ldo, xq, xs, C, W, bias, r, re);
  for (; r < re; ++r) matvec_block_q8<NT, 1>(out, ldo, xq, xs, C, W, bias, r, re);
}

struct MatvecArgs {
  float* out;
  const float* inp;
  const float* W;     // or null with q8 set
  const Q8Rows* q8;
  const int16_t* xq;  // with q8: inp quantized by quantize_act_q16, (T, C) and (T, C / 32)
  const float* xs;
  const float* bias;
  int T, R, C;
};

// Every token (in groups of up to 4) for rows [rb, re).
void matvec_range(const MatvecArgs& a, int64_t rb, int64_t re) {
  for (int t0 = 0; t0 < a.T; t0 += 4) {
    float* out = a.out + static_cast<int64_t>(t0) * a.R;
    const float* inp = a.inp + static_cast<int64_t>(t0) * a.C;
    if (a.q8) {
      const int16_t* xq = a.xq + static_cast<int64_t>(t0) * a.C;
      const float* xs = a.xs + static_cast<int64_t>(t0) * (a.C / 32);
#ifdef __EMSCRIPTEN__
      // Size: two or three tokens (a query of a few tokens after a kept block) run one at a
      // time; the two kernels a decoder step and four-token groups use stay (each kernel is
      // some 5 KB of WebAssembly).
      if (a.T - t0 < 4) {
        for (int t = 0; t < a.T - t0; ++t)
          matvec_rows_q8<1>(out + static_cast<int64_t>(t) * a.R, a.R, xq + static_cast<int64_t>(t) * a.C,
                            xs + static_cast<int64_t>(t) * (a.C / 32), a.C, *a.q8, a.bias, rb, re);
      } else {
        matvec_rows_q8<4>(out, a.R, xq, xs, a.C, *a.q8, a.bias, rb, re);
      }
#else
      switch (std::min(4, a.T - t0)) {
        case 1: matvec_rows_q8<1>(out, a.R, xq, xs, a.C, *a.q8, a.bias, rb, re); break;
        case 2: matvec_rows_q8<2>(out, a.R, xq, xs, a.C, *a.q8, a.bias, rb, re); break;
        case 3: matvec_rows_q8<3>(out, a.R, xq, xs, a.C, *a.q8, a.bias, rb, re); break;
        default: matvec_rows_q8<4>(out, a.R, xq, xs, a.C, *a.q8, a.bias, rb, re); break;
      }
#endif
      continue;
    }
    switch (std::min(4, a.T - t0)) {
      case 1: matvec_rows<1>(out, a.R, inp, a.C, a.W, a.bias, rb, re, a.C); break;
      case 2: matvec_rows<2>(out, a.R, inp, a.C, a.W, a.bias, rb, re, a.C); break;
      case 3: matvec_rows<3>(out, a.R, inp, a.C, a.W, a.bias, rb, re, a.C); break;
      default: matvec_rows<4>(out, a.R, inp, a.C, a.W, a.bias, rb, re, a.C); break;
    }
  }
}

// Below this many multiply-adds per thread the matvec runs on one thread. Since the pool's
// threads poll for work between jobs (util/threads.cpp) a dispatch costs about a microsecond
// natively, so needle's 512 x 512 projections split too (2^18 before, when a dispatch woke
// sleeping threads: two threads then decoded slower than one).
constexpr int64_t kMatvecMinMacsPerThread = 1 << 15;

// Several matrices' rows as one range [0, sum R_i): each chunk runs its part of each matrix.
void run_matvec_multi(const MatvecArgs* args, int n) {
  int64_t total = 0;
  for (int i = 0; i < n; ++i) total += args[i].R;
  if (total <= 0) return;
  const int64_t macs_per_row = std::max<int64_t>(1, static_cast<int64_t>(args[0].T) * args[0].C);
  const int64_t min_rows = std::max<int64_t>(8, kMatvecMinMacsPerThread / macs_per_row);
  const auto run = [args, n](int64_t rb, int64_t re) {
    int64_t off = 0;
    for (int i = 0; i < n && off < re; off += args[i].R, ++i) {
      const int64_t b = std::max(rb, off), e = std::min(re, off + args[i].R);
      if (b < e) matvec_range(args[i], b - off, e - off);
    }
  };
  if (total < 2 * min_rows) run(0, total);
  else parallel_for(total, min_rows, run);
}

void run_matvec(const MatvecArgs& args) { run_matvec_multi(&args, 1); }

// The activations quantized by quantize_act_q16, row by row, into the calling thread's buffers
// (the row split of the products that follow shares them).
void quantize_rows_q16(const float* inp, int T, int C, const int16_t** xq_out, const float** xs_out) {
  thread_local std::vector<int16_t> xq;
  thread_local std::vector<float> xs;
  xq.resize(static_cast<size_t>(T) * C);
  xs.resize(static_cast<size_t>(T) * (C / 32));
  for (int t = 0; t < T; ++t)
    quantize_act_q16(inp + static_cast<int64_t>(t) * C, C, xq.data() + static_cast<int64_t>(t) * C,
                     xs.data() + static_cast<int64_t>(t) * (C / 32));
  *xq_out = xq.data();
  *xs_out = xs.data();
}

}  // namespace

void linear_matvec_forward(float* out, const float* inp, const float* W, const float* bias, int T, int R, int C) {
  run_matvec(MatvecArgs{out, inp, W, nullptr, nullptr, nullptr, bias, T, R, C});
}

void linear_matvec_q8_forward(float* out, const float* inp, const Q8Rows& W, const float* bias, int T, int R, int C) {
  if (T <= 0 || R <= 0) return;
  const int16_t* xq;
  const float* xs;
  quantize_rows_q16(inp, T, C, &xq, &xs);
  run_matvec(MatvecArgs{out, inp, nullptr, &W, xq, xs, bias, T, R, C});
}

void linear_matvec_forward_ref(float* out, const float* inp, const float* W, const float* bias, int T, int R, int C) {
  for (int t = 0; t < T; ++t)
    for (int r = 0; r < R; ++r) {
      const float* x = inp + static_cast<int64_t>(t) * C;
      const float* w = W + static_cast<int64_t>(r) * C;
      float s = 0.0f;
      for (int c = 0; c < C; ++c) s += x[c] * w[c];
      out[static_cast<int64_t>(t) * R + r] = bias ? s + bias[r] : s;
    }
}

template <class Real>
void linear_forward(Real* out, const Real* inp, const Real* W, const Real* bias, int T, int R, int C) {
  if constexpr (std::is_same_v<Real, float>) {
    // bf16 stays on the GEMM, whose packing defines that precision's rounding.
    if (T <= kMatvecMaxT && gemm_precision() == MatmulPrecision::kF32) {
      linear_matvec_forward(out, inp, W, bias, T, R, C);
      return;
    }
    // out (T, R) = inp (T, C) @ W^T, W^T viewed as (C, R) with strides (1, C)
    gemm(T, R, C, {inp, C, 1}, {W, 1, C}, out, R, false, gemm_precision());
    if (bias)
      for (int t = 0; t < T; ++t)
        for (int r = 0; r < R; ++r) out[static_cast<int64_t>(t) * R + r] += bias[r];
    return;
  }
  constexpr int64_t kRowBlock = 64;  // rows of W kept hot in cache across the tokens
  // Rows are split across threads; each output is the same dot product whatever the split.
  const int64_t min_rows = std::max<int64_t>(1, 65536 / std::max<int64_t>(1, static_cast<int64_t>(C) * T));
  parallel_for(R, min_rows, [&](int64_t rb, int64_t re) {
    for (int64_t r0 = rb; r0 < re; r0 += kRowBlock) {
      const int64_t r1 = std::min(r0 + kRowBlock, re);
      for (int t = 0; t < T; ++t) {
        const Real* x = inp + static_cast<int64_t>(t) * C;
        Real* y = out + static_cast<int64_t>(t) * R;
        for (int64_t r = r0; r < r1; ++r) {
          y[r] = dot_ref(x, W + r * C, C);
          if (bias) y[r] += bias[r];
        }
      }
    }
  });
}

template <class Real>
void linear_backward(Real* dinp, Real* dW, Real* dbias, const Real* dout, const Real* inp,
                     const Real* W, int T, int R, int C) {
  // forward: out[t][r] = sum_c inp[t][c] * W[r][c] + bias[r]
  if constexpr (std::is_same_v<Real, float>) {
    const MatmulPrecision prec = gemm_precision();
    // dinp (T, C) += dout (T, R) @ W (R, C)
    if (dinp) gemm(T, C, R, {dout, R, 1}, {W, C, 1}, dinp, C, true, prec);
    // dW (R, C) += dout^T (R, T) @ inp (T, C)
    if (dW) gemm(R, C, T, {dout, 1, R}, {inp, C, 1}, dW, C, true, prec);
    if (dbias)
      for (int t = 0; t < T; ++t)
        for (int r = 0; r < R; ++r) dbias[r] += dout[static_cast<int64_t>(t) * R + r];
    return;
  }
  const int64_t work = std::max<int64_t>(1, static_cast<int64_t>(R) * C);
  // dinp[t][c] += sum_r dout[t][r] * W[r][c]: tokens split across threads.
  if (dinp)
    parallel_for(T, std::max<int64_t>(1, 65536 / work), [&](int64_t t0, int64_t t1) {
      for (int64_t t = t0; t < t1; ++t) {
        const Real* dy = dout + t * R;
        Real* dx = dinp + t * C;
        for (int r = 0; r < R; ++r) {
          const Real d = dy[r];
          const Real* w = W + static_cast<int64_t>(r) * C;
          for (int c = 0; c < C; ++c) dx[c] += d * w[c];
        }
      }
    });
  // dW[r][c] += sum_t dout[t][r] * inp[t][c], dbias[r] += sum_t dout[t][r]: rows of W split.
  if (dW || dbias)
    parallel_for(R, std::max<int64_t>(1, 65536 / std::max<int64_t>(1, static_cast<int64_t>(T) * C)),
                 [&](int64_t r0, int64_t r1) {
      for (int64_t r = r0; r < r1; ++r) {
        Real* dw = dW ? dW + r * C : nullptr;
        for (int t = 0; t < T; ++t) {
          const Real d = dout[static_cast<int64_t>(t) * R + r];
          if (dbias) dbias[r] += d;
          if (!dw) continue;
          const Real* x = inp + static_cast<int64_t>(t) * C;
          for (int c = 0; c < C; ++c) dw[c] += d * x[c];
        }
      }
    });
}

template void linear_forward<float>(float*, const float*, const float*, const float*, int, int, int);
template void linear_forward<double>(double*, const double*, const double*, const double*, int, int, int);
template void linear_backward<float>(float*, float*, float*, const float*, const float*, const float*, int, int, int);
template void linear_backward<double>(double*, double*, double*, const double*, const double*, const double*, int, int, int);

// matvec.h
void quantize_act_q16(const float* x, int C, int16_t* q, float* s) {
#if defined(NP_SIMD128)
  // The same values in vectors: the max is exact in any order, and f32x4.nearest rounds half
  // to even as nearbyint does; |x * inv| <= 32767 up to rounding, so no clamp is needed.
  const v128_t abs_mask = wasm_i32x4_splat(0x7fffffff);
  for (int b = 0; b < C / 32; ++b) {
    const float* xb = x + b * 32;
    v128_t m4 = wasm_f32x4_splat(0.0f);
    for (int j = 0; j < 32; j += 4) m4 = wasm_f32x4_pmax(m4, wasm_v128_and(wasm_v128_load(xb + j), abs_mask));
    const float m = std::max(std::max(wasm_f32x4_extract_lane(m4, 0), wasm_f32x4_extract_lane(m4, 1)),
                             std::max(wasm_f32x4_extract_lane(m4, 2), wasm_f32x4_extract_lane(m4, 3)));
    s[b] = m / 32767.0f;
    const v128_t inv = wasm_f32x4_splat(m > 0 ? 32767.0f / m : 0.0f);
    for (int j = 0; j < 32; j += 8) {
      const v128_t lo = wasm_i32x4_trunc_sat_f32x4(wasm_f32x4_nearest(wasm_f32x4_mul(wasm_v128_load(xb + j), inv)));
      const v128_t hi = wasm_i32x4_trunc_sat_f32x4(wasm_f32x4_nearest(wasm_f32x4_mul(wasm_v128_load(xb + j + 4), inv)));
      wasm_v128_store(q + b * 32 + j, wasm_i16x8_narrow_i32x4(lo, hi));
    }
  }
  return;
#elif defined(__AVX512F__) && defined(__AVX512BW__)
  // The same values 16 at a time: the max is exact in any order, vcvtps2dq rounds half to even
  // as nearbyint does (the default rounding mode), and the saturating narrow is the clamp.
  for (int b = 0; b < C / 32; ++b) {
    const float* xb = x + b * 32;
    const __m512 x0 = _mm512_loadu_ps(xb), x1 = _mm512_loadu_ps(xb + 16);
    const float m = _mm512_reduce_max_ps(_mm512_max_ps(_mm512_abs_ps(x0), _mm512_abs_ps(x1)));
    s[b] = m / 32767.0f;
    const __m512 inv = _mm512_set1_ps(m > 0 ? 32767.0f / m : 0.0f);
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(q + b * 32), _mm512_cvtsepi32_epi16(_mm512_cvtps_epi32(_mm512_mul_ps(x0, inv))));
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(q + b * 32 + 16), _mm512_cvtsepi32_epi16(_mm512_cvtps_epi32(_mm512_mul_ps(x1, inv))));
  }
  return;
#endif
  for (int b = 0; b < C / 32; ++b) {
    const float* xb = x + b * 32;
    float m = 0;
    for (int j = 0; j < 32; ++j) m = std::max(m, std::fabs(xb[j]));
    s[b] = m / 32767.0f;
    const float inv = m > 0 ? 32767.0f / m : 0.0f;
    for (int j = 0; j < 32; ++j) {
      const float v = std::nearbyint(xb[j] * inv);
      q[b * 32 + j] = static_cast<int16_t>(std::max(-32767.0f, std::min(32767.0f, v)));
    }
  }
}

// ---- float inference API (ops.h) ----

void linear_forward_multi(const float* inp, int T, const LinearOut* outs, int n) {
  constexpr int kMax = 4;
  bool fused = n >= 1 && n <= kMax && T >= 1 && T <= kMatvecMaxT && gemm_precision() == MatmulPrecision::kF32;
  for (int i = 0; fused && i < n; ++i) fused = outs[i].W->q8() && outs[i].W->cols == outs[0].W->cols;
  if (!fused) {
    for (int i = 0; i < n; ++i) linear_forward(outs[i].out, inp, *outs[i].W, T);
    return;
  }
  const int C = static_cast<int>(outs[0].W->cols);
  const int16_t* xq;
  const float* xs;
  quantize_rows_q16(inp, T, C, &xq, &xs);
  Q8Rows q[kMax];
  MatvecArgs args[kMax];
  for (int i = 0; i < n; ++i) {
    q[i] = Q8Rows{outs[i].W->raw, outs[i].W->q8_scales.data()};
    args[i] = MatvecArgs{outs[i].out, inp, nullptr, &q[i], xq, xs, nullptr, T, static_cast<int>(outs[i].W->rows), C};
  }
  run_matvec_multi(args, n);
}

void linear_forward(float* out, const float* inp, const Matrix& W, int T) {
  const int R = static_cast<int>(W.rows), C = static_cast<int>(W.cols);
  if (!W.q8()) {
    linear_forward<float>(out, inp, W.f32, nullptr, T, R, C);
    return;
  }
  // Q8_0 in place: the same dispatch as linear_forward<float>, weights dequantized on the fly
  // (the matvec's loads, the GEMM's packing of W), the same bits as over a dequantized copy.
  const Q8Rows q{W.raw, W.q8_scales.data()};
  if (T <= kMatvecMaxT && gemm_precision() == MatmulPrecision::kF32) {
    linear_matvec_q8_forward(out, inp, q, nullptr, T, R, C);
    return;
  }
  gemm_q8(T, R, C, {inp, C, 1}, q, out, R);
}

void linear_rows_forward(float* out, const float* inp, const Matrix& W, const int32_t* rows, int n) {
  const int R = static_cast<int>(W.rows), C = static_cast<int>(W.cols);
  if (n <= 0) return;
  if (gemm_precision() != MatmulPrecision::kF32) {  // bf16: the GEMM defines the bits
    thread_local std::vector<float> all;
    all.resize(static_cast<size_t>(R));
    linear_forward(all.data(), inp, W, 1);
    for (int i = 0; i < n; ++i) out[rows[i]] = all[static_cast<size_t>(rows[i])];
    return;
  }
  MatvecArgs a{out, inp, W.f32, nullptr, nullptr, nullptr, nullptr, 1, R, C};
  Q8Rows q{W.raw, W.q8_scales.data()};
  thread_local std::vector<int16_t> xq;
  thread_local std::vector<float> xs;
  if (W.q8()) {
    xq.resize(static_cast<size_t>(C));
    xs.resize(static_cast<size_t>(C / 32));
    quantize_act_q16(inp, C, xq.data(), xs.data());
    a.q8 = &q;
    a.xq = xq.data();
    a.xs = xs.data();
  }
  // Each row alone: the same arithmetic as inside the full product (a row's result does not
  // depend on its neighbours, see matvec_block).
  const auto run = [&a, rows](int64_t b, int64_t e) {
    for (int64_t i = b; i < e; ++i) matvec_range(a, rows[i], rows[i] + 1);
  };
  if (static_cast<int64_t>(n) * C < 2 * kMatvecMinMacsPerThread) run(0, n);
  else parallel_for(n, std::max<int64_t>(8, kMatvecMinMacsPerThread / C), run);
}

void add_bias(float* out, const float* bias, int T, int R) {
  for (int t = 0; t < T; ++t)
    for (int r = 0; r < R; ++r) out[static_cast<int64_t>(t) * R + r] += bias[r];
}

}  // namespace np
