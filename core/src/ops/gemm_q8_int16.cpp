// gemm_q8_int16.cpp — C (M, N) = A (M, K) W^T for a Q8_0 W in integer arithmetic, the
// encoder's products in the 128-bit builds (WebAssembly and its native twin), where SIMD128
// has no fused multiply-add: a float product costs a multiply and an add per 4 products,
// while i32x4.dot_i16x8_s does 8 products in one instruction.
//
// Arithmetic (gemm_q8_int16_ref is its definition, the kernel gives its bits):
//   - each row of A is quantized per 32-value block to int16 as the decoder's matvec does
//     (quantize_act_q16: s = max|x| / 32767, q = round(x / s));
//   - for a row i, a column j and a block b, the 32 products q_a * q_w are summed exactly in
//     int32 (|sum| <= 32 * 32767 * 127 < 2^31);
//   - C[i][j] = sum over blocks, in order, of float(isum) * (d_w * s_a), in float.
// The error against the float product over the dequantized W is at most
// sum_b max|a_b| / 65534 * sum_k |w_k| plus float rounding (the matvec's bound); results do
// not depend on the thread count (each C element is one kernel's fixed-order sum).
//
// Layout: the caller's threads quantize A once into strips of 4 rows, each k-pair of a
// strip as 4 int32 (a row's two int16); each thread packs its own column panels of W, 8
// columns wide, each k-pair as 8 int32 (a column's two int8 widened to int16). The kernel
// splats a row's pair over the 4 lanes and dot-multiplies it with 4 columns' pairs.
#include "ops/gemm_q8_int16.h"

#include <algorithm>
#include <cstring>
#include <vector>

#include "np/threads.h"
#include "ops/matvec.h"
#include "ops/simd128.h"

namespace np {

namespace {

constexpr int kRows = 4;   // a strip of A
constexpr int kCols = 8;   // a panel of W: two vectors of 4 columns
constexpr int kBlock = 32; // Q8_0
constexpr int kPairs = kBlock / 2;
// Below this many multiply-adds per thread a product runs on one thread.
constexpr double kMinMacsPerThread = 0.75e6;

// A quantized and laid out for the kernel: qa [strip][pair][row] as int32 pairs, sa
// [strip][block][row]. Rows past M are zero (their outputs are dropped).
struct PackedA {
  std::vector<int32_t> qa;
  std::vector<float> sa;
};

// One row of A (K floats read with column stride cs) -> q (K int16) and s (K / 32 scales),
// by quantize_act_q16 (matvec.h).
void quantize_row(const float* x, int64_t cs, int K, int16_t* q, float* s, float* tmp) {
  const float* row = x;
  if (cs != 1) {
    for (int k = 0; k < K; ++k) tmp[k] = x[k * cs];
    row = tmp;
  }
  quantize_act_q16(row, K, q, s);
}

void pack_a(int M, int K, ConstView A, PackedA* pa) {
  const int strips = (M + kRows - 1) / kRows, np_ = K / 2, nb = K / kBlock;
  pa->qa.assign(static_cast<size_t>(strips) * np_ * kRows, 0);
  pa->sa.assign(static_cast<size_t>(strips) * nb * kRows, 0.0f);
  const int64_t min_strips = std::max<int64_t>(1, 16384 / (static_cast<int64_t>(kRows) * K));
  parallel_for(strips, min_strips, [&](int64_t s0, int64_t s1) {
    std::vector<int16_t> q(static_cast<size_t>(K));
    std::vector<float> sc(static_cast<size_t>(nb)), tmp(A.cs == 1 ? 0 : static_cast<size_t>(K));
    for (int64_t s = s0; s < s1; ++s)
      for (int r = 0; r < kRows; ++r) {
        const int64_t i = s * kRows + r;
        if (i >= M) break;
        quantize_row(A.p + i * A.rs, A.cs, K, q.data(), sc.data(), tmp.data());
        int32_t* dst = pa->qa.data() + static_cast<size_t>(s) * np_ * kRows + r;
        for (int p = 0; p < np_; ++p) {
          uint32_t pair = static_cast<uint16_t>(q[2 * p]) | (static_cast<uint32_t>(static_cast<uint16_t>(q[2 * p + 1])) << 16);
          std::memcpy(dst + static_cast<size_t>(p) * kRows, &pair, 4);
        }
        float* sdst = pa->sa.data() + static_cast<size_t>(s) * nb * kRows + r;
        for (int b = 0; b < nb; ++b) sdst[static_cast<size_t>(b) * kRows] = sc[b];
      }
  });
}

// Columns [j0, j0 + nc) of W^T: qb [pair][col] as int32 pairs, sb [block][col]; columns past
// nc are zero.
void pack_panel(const Q8Rows& W, int K, int64_t j0, int nc, int32_t* qb, float* sb) {
  const int nb = K / kBlock;
  const int64_t row_bytes = static_cast<int64_t>(nb) * 34;
#if defined(NP_SIMD128)
  if (nc == kCols) {
    // Four columns at a time: each column's 8 weights widened to int16 are 4 pairs (int32
    // lanes); a 4x4 transpose of those lanes gives each pair's 4 columns. (The packing is a
    // third of a product of a 12-token query in scalar code.)
    for (int b = 0; b < nb; ++b) {
      for (int c = 0; c < kCols; ++c) sb[b * kCols + c] = W.scales[(j0 + c) * nb + b];
      for (int g = 0; g < kCols; g += 4) {
        const uint8_t* w = W.blocks + (j0 + g) * row_bytes + b * 34 + 2;
        for (int q = 0; q < 4; ++q) {
          const v128_t r0 = wasm_i16x8_load8x8(w + 8 * q), r1 = wasm_i16x8_load8x8(w + row_bytes + 8 * q);
          const v128_t r2 = wasm_i16x8_load8x8(w + 2 * row_bytes + 8 * q), r3 = wasm_i16x8_load8x8(w + 3 * row_bytes + 8 * q);
          const v128_t t0 = wasm_i32x4_shuffle(r0, r1, 0, 4, 1, 5), t1 = wasm_i32x4_shuffle(r0, r1, 2, 6, 3, 7);
          const v128_t t2 = wasm_i32x4_shuffle(r2, r3, 0, 4, 1, 5), t3 = wasm_i32x4_shuffle(r2, r3, 2, 6, 3, 7);
          int32_t* dst = qb + (static_cast<size_t>(b) * kPairs + 4 * q) * kCols + g;
          wasm_v128_store(dst, wasm_i32x4_shuffle(t0, t2, 0, 1, 4, 5));
          wasm_v128_store(dst + kCols, wasm_i32x4_shuffle(t0, t2, 2, 3, 6, 7));
          wasm_v128_store(dst + 2 * kCols, wasm_i32x4_shuffle(t1, t3, 0, 1, 4, 5));
          wasm_v128_store(dst + 3 * kCols, wasm_i32x4_shuffle(t1, t3, 2, 3, 6, 7));
        }
      }
    }
    return;
  }
#endif
  for (int c = 0; c < kCols; ++c) {
    const bool live = c < nc;
    const int8_t* w = live ? reinterpret_cast<const int8_t*>(W.blocks + (j0 + c) * row_bytes) : nullptr;
    for (int b = 0; b < nb; ++b) {
      sb[b * kCols + c] = live ? W.scales[(j0 + c) * nb + b] : 0.0f;
      for (int p = 0; p < kPairs; ++p) {
        uint32_t pair = 0;
        if (live) {
          const int8_t* qp = w + b * 34 + 2 + 2 * p;
          pair = static_cast<uint16_t>(static_cast<int16_t>(qp[0])) |
                 (static_cast<uint32_t>(static_cast<uint16_t>(static_cast<int16_t>(qp[1]))) << 16);
        }
        std::memcpy(qb + (static_cast<size_t>(b) * kPairs + p) * kCols + c, &pair, 4);
      }
    }
  }
}

#if defined(NP_SIMD128)
// One strip (4 rows) x one panel (8 columns) over every block; writes mr x nc of C.
void kernel(int nb, const int32_t* qa, const float* sa, const int32_t* qb, const float* sb, float* c, int64_t ldc,
            int mr, int nc) {
  v128_t acc[kRows][2];
  for (int i = 0; i < kRows; ++i) acc[i][0] = acc[i][1] = wasm_f32x4_splat(0.0f);
  for (int b = 0; b < nb; ++b) {
    v128_t ia[kRows][2];
    for (int i = 0; i < kRows; ++i) ia[i][0] = ia[i][1] = wasm_i32x4_splat(0);
    for (int p = 0; p < kPairs; ++p) {
      const v128_t b0 = wasm_v128_load(qb), b1 = wasm_v128_load(qb + 4);
      for (int i = 0; i < kRows; ++i) {
        const v128_t a = wasm_v128_load32_splat(qa + i);
        ia[i][0] = wasm_i32x4_add(ia[i][0], wasm_i32x4_dot_i16x8(a, b0));
        ia[i][1] = wasm_i32x4_add(ia[i][1], wasm_i32x4_dot_i16x8(a, b1));
      }
      qa += kRows;
      qb += kCols;
    }
    const v128_t s0 = wasm_v128_load(sb), s1 = wasm_v128_load(sb + 4);
    for (int i = 0; i < kRows; ++i) {
      const v128_t sx = wasm_v128_load32_splat(sa + i);
      acc[i][0] = wasm_f32x4_add(acc[i][0], wasm_f32x4_mul(wasm_f32x4_convert_i32x4(ia[i][0]), wasm_f32x4_mul(s0, sx)));
      acc[i][1] = wasm_f32x4_add(acc[i][1], wasm_f32x4_mul(wasm_f32x4_convert_i32x4(ia[i][1]), wasm_f32x4_mul(s1, sx)));
    }
    sa += kRows;
    sb += kCols;
  }
  if (mr == kRows && nc == kCols) {
    for (int i = 0; i < kRows; ++i) {
      wasm_v128_store(c + i * ldc, acc[i][0]);
      wasm_v128_store(c + i * ldc + 4, acc[i][1]);
    }
    return;
  }
  alignas(16) float tile[kRows][kCols];
  for (int i = 0; i < kRows; ++i) {
    wasm_v128_store(&tile[i][0], acc[i][0]);
    wasm_v128_store(&tile[i][4], acc[i][1]);
  }
  for (int i = 0; i < mr; ++i)
    for (int j = 0; j < nc; ++j) c[i * ldc + j] = tile[i][j];
}
#else
// Portable loops with the kernel's arithmetic (builds without SIMD128 use gemm_q8's float
// path; this keeps the file whole there and is what gemm_q8_int16_ref checks natively).
void kernel(int nb, const int32_t* qa, const float* sa, const int32_t* qb, const float* sb, float* c, int64_t ldc,
            int mr, int nc) {
  float acc[kRows][kCols] = {};
  for (int b = 0; b < nb; ++b) {
    int32_t ia[kRows][kCols] = {};
    for (int p = 0; p < kPairs; ++p) {
      for (int i = 0; i < kRows; ++i) {
        const int16_t a0 = static_cast<int16_t>(qa[i] & 0xffff), a1 = static_cast<int16_t>(static_cast<uint32_t>(qa[i]) >> 16);
        for (int j = 0; j < kCols; ++j) {
          const int16_t w0 = static_cast<int16_t>(qb[j] & 0xffff), w1 = static_cast<int16_t>(static_cast<uint32_t>(qb[j]) >> 16);
          ia[i][j] += a0 * w0 + a1 * w1;
        }
      }
      qa += kRows;
      qb += kCols;
    }
    for (int i = 0; i < kRows; ++i)
      for (int j = 0; j < kCols; ++j) {
        const float scale = sb[j] * sa[i];
        const float term = static_cast<float>(ia[i][j]) * scale;
        acc[i][j] = acc[i][j] + term;
      }
    sa += kRows;
    sb += kCols;
  }
  for (int i = 0; i < mr; ++i)
    for (int j = 0; j < nc; ++j) c[i * ldc + j] = acc[i][j];
}
#endif

std::vector<int32_t>& panel_q() {
  thread_local std::vector<int32_t> v;
  return v;
}
std::vector<float>& panel_s() {
  thread_local std::vector<float> v;
  return v;
}

}  // namespace

void gemm_q8_int16(int M, int N, int K, ConstView A, const Q8Rows& W, float* C, int64_t ldc) {
  if (M <= 0 || N <= 0) return;
  if (K <= 0) {
    for (int i = 0; i < M; ++i) std::fill(C + static_cast<int64_t>(i) * ldc, C + static_cast<int64_t>(i) * ldc + N, 0.0f);
    return;
  }
  thread_local PackedA pa;  // the caller's: shared by the threads below, kept between calls
  pack_a(M, K, A, &pa);
  const int strips = (M + kRows - 1) / kRows, nb = K / kBlock, np_ = K / 2;
  const int64_t panels = (N + kCols - 1) / kCols;
  const double macs_per_panel = static_cast<double>(M) * kCols * K;
  const int64_t min_panels = std::max<int64_t>(1, static_cast<int64_t>(kMinMacsPerThread / macs_per_panel));
  const PackedA& packed = pa;
  parallel_for(panels, min_panels, [&](int64_t p0, int64_t p1) {
    std::vector<int32_t>& qb = panel_q();
    std::vector<float>& sb = panel_s();
    if (qb.size() < static_cast<size_t>(np_) * kCols) qb.resize(static_cast<size_t>(np_) * kCols);
    if (sb.size() < static_cast<size_t>(nb) * kCols) sb.resize(static_cast<size_t>(nb) * kCols);
    for (int64_t p = p0; p < p1; ++p) {
      const int64_t j0 = p * kCols;
      const int nc = static_cast<int>(std::min<int64_t>(kCols, N - j0));
      pack_panel(W, K, j0, nc, qb.data(), sb.data());
      for (int s = 0; s < strips; ++s) {
        const int mr = std::min(kRows, M - s * kRows);
        kernel(nb, packed.qa.data() + static_cast<size_t>(s) * np_ * kRows, packed.sa.data() + static_cast<size_t>(s) * nb * kRows,
               qb.data(), sb.data(), C + static_cast<int64_t>(s) * kRows * ldc + j0, ldc, mr, nc);
      }
    }
  });
}

void gemm_q8_int16_ref(int M, int N, int K, ConstView A, const Q8Rows& W, float* C, int64_t ldc) {
  const int nb = K / kBlock;
  std::vector<float> x(static_cast<size_t>(K)), sx(static_cast<size_t>(nb));
  std::vector<int16_t> q(static_cast<size_t>(K));
  const int64_t row_bytes = static_cast<int64_t>(nb) * 34;
  for (int i = 0; i < M; ++i) {
    for (int k = 0; k < K; ++k) x[k] = A.p[i * A.rs + k * A.cs];
    quantize_act_q16(x.data(), K, q.data(), sx.data());
    for (int j = 0; j < N; ++j) {
      const int8_t* w = reinterpret_cast<const int8_t*>(W.blocks + j * row_bytes);
      float acc = 0.0f;
      for (int b = 0; b < nb; ++b) {
        int32_t isum = 0;
        for (int k = 0; k < kBlock; ++k) isum += static_cast<int32_t>(q[b * kBlock + k]) * w[b * 34 + 2 + k];
        const float scale = W.scales[static_cast<int64_t>(j) * nb + b] * sx[b];
        const float term = static_cast<float>(isum) * scale;
        acc = acc + term;
      }
      C[static_cast<int64_t>(i) * ldc + j] = acc;
    }
  }
}

}  // namespace np
