// gemm_q8_int16.cpp — C (M, N) = A (M, K) W^T for a Q8_0 W in integer arithmetic, the
// encoder's products in the 128-bit builds (WebAssembly and its native twin), where SIMD128
// has no fused multiply-add: a float product costs a multiply and an add per 4 products,
// while i32x4.dot_i16x8_s does 8 products in one instruction; and natively where AVX-512
// VNNI is: vpdpwssd does 32 products and their sums in one instruction, a float FMA 16.
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
// columns wide (32 with AVX-512 VNNI), each k-pair as 8 (32) int32 (a column's two int8
// widened to int16). The kernel splats a row's pair over the lanes and dot-multiplies it
// with 4 (16) columns' pairs: i32x4.dot_i16x8_s, or vpdpwssd, which adds in the same
// instruction. The float steps (scale, convert, add) are separate multiplies and adds on
// every build (this file is compiled with -ffp-contract=off), so AVX-512 gives the
// WebAssembly build's bits.
#include "ops/gemm_q8_int16.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <vector>

#include "ops/f32vec.h"  // the intrinsics of every ISA, and GCC 12's AVX-512 false positive silenced

#include "np/threads.h"
#include "ops/matvec.h"
#include "ops/simd128.h"

namespace np {

namespace {

constexpr int kRows = 4;   // a strip of A (6 with VNNI measured slower: 277 against 324 GFLOP/s)
#if defined(NP_GEMM_INT16_VNNI)
constexpr int kCols = 32;  // a panel of W: two vectors of 16 columns
#else
constexpr int kCols = 8;   // a panel of W: two vectors of 4 columns
#endif
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

// dst[4 p + r] = row r's pair p (int16 2p and 2p + 1 as one int32, the first in the low half)
// for p < n: four rows' pairs interleaved, by 4 x 4 transposes where there are vectors.
void interleave4(const int16_t* const rows[kRows], int64_t n, int32_t* dst) {
  static_assert(kRows == 4, "a strip is 4 rows");
  int64_t p = 0;
#if defined(NP_SIMD128)
  for (; p + 4 <= n; p += 4) {
    const v128_t a = wasm_v128_load(rows[0] + 2 * p), b = wasm_v128_load(rows[1] + 2 * p);
    const v128_t c = wasm_v128_load(rows[2] + 2 * p), d = wasm_v128_load(rows[3] + 2 * p);
    const v128_t ab_lo = wasm_i32x4_shuffle(a, b, 0, 4, 1, 5), ab_hi = wasm_i32x4_shuffle(a, b, 2, 6, 3, 7);
    const v128_t cd_lo = wasm_i32x4_shuffle(c, d, 0, 4, 1, 5), cd_hi = wasm_i32x4_shuffle(c, d, 2, 6, 3, 7);
    wasm_v128_store(dst + 4 * p, wasm_i32x4_shuffle(ab_lo, cd_lo, 0, 1, 4, 5));
    wasm_v128_store(dst + 4 * p + 4, wasm_i32x4_shuffle(ab_lo, cd_lo, 2, 3, 6, 7));
    wasm_v128_store(dst + 4 * p + 8, wasm_i32x4_shuffle(ab_hi, cd_hi, 0, 1, 4, 5));
    wasm_v128_store(dst + 4 * p + 12, wasm_i32x4_shuffle(ab_hi, cd_hi, 2, 3, 6, 7));
  }
#elif defined(__SSE2__)
  for (; p + 4 <= n; p += 4) {
    const __m128i a = _mm_loadu_si128(reinterpret_cast<const __m128i*>(rows[0] + 2 * p));
    const __m128i b = _mm_loadu_si128(reinterpret_cast<const __m128i*>(rows[1] + 2 * p));
    const __m128i c = _mm_loadu_si128(reinterpret_cast<const __m128i*>(rows[2] + 2 * p));
    const __m128i d = _mm_loadu_si128(reinterpret_cast<const __m128i*>(rows[3] + 2 * p));
    const __m128i ab_lo = _mm_unpacklo_epi32(a, b), ab_hi = _mm_unpackhi_epi32(a, b);
    const __m128i cd_lo = _mm_unpacklo_epi32(c, d), cd_hi = _mm_unpackhi_epi32(c, d);
    _mm_storeu_si128(reinterpret_cast<__m128i*>(dst + 4 * p), _mm_unpacklo_epi64(ab_lo, cd_lo));
    _mm_storeu_si128(reinterpret_cast<__m128i*>(dst + 4 * p + 4), _mm_unpackhi_epi64(ab_lo, cd_lo));
    _mm_storeu_si128(reinterpret_cast<__m128i*>(dst + 4 * p + 8), _mm_unpacklo_epi64(ab_hi, cd_hi));
    _mm_storeu_si128(reinterpret_cast<__m128i*>(dst + 4 * p + 12), _mm_unpackhi_epi64(ab_hi, cd_hi));
  }
#endif
  for (; p < n; ++p)
    for (int r = 0; r < kRows; ++r) std::memcpy(dst + 4 * p + r, rows[r] + 2 * p, 4);
}

void pack_a(int M, int K, ConstView A, PackedA* pa) {
  const int strips = (M + kRows - 1) / kRows, np_ = K / 2, nb = K / kBlock;
  pa->qa.resize(static_cast<size_t>(strips) * np_ * kRows);
  pa->sa.resize(static_cast<size_t>(strips) * nb * kRows);
  const int64_t min_strips = std::max<int64_t>(1, 16384 / (static_cast<int64_t>(kRows) * K));
  parallel_for(strips, min_strips, [&](int64_t s0, int64_t s1) {
    // A strip's rows quantized (rows past M zero), then interleaved.
    std::vector<int16_t> q(static_cast<size_t>(kRows) * K);
    std::vector<float> sc(static_cast<size_t>(kRows) * nb), tmp(A.cs == 1 ? 0 : static_cast<size_t>(K));
    const int16_t* rows[kRows];
    for (int r = 0; r < kRows; ++r) rows[r] = q.data() + static_cast<size_t>(r) * K;
    for (int64_t s = s0; s < s1; ++s) {
      for (int r = 0; r < kRows; ++r) {
        const int64_t i = s * kRows + r;
        int16_t* qr = q.data() + static_cast<size_t>(r) * K;
        if (i < M) {
          quantize_row(A.p + i * A.rs, A.cs, K, qr, sc.data() + static_cast<size_t>(r) * nb, tmp.data());
        } else {
          std::fill(qr, qr + K, int16_t{0});
          std::fill(sc.begin() + static_cast<std::ptrdiff_t>(r) * nb, sc.begin() + static_cast<std::ptrdiff_t>(r + 1) * nb, 0.0f);
        }
      }
      interleave4(rows, np_, pa->qa.data() + static_cast<size_t>(s) * np_ * kRows);
      float* sdst = pa->sa.data() + static_cast<size_t>(s) * nb * kRows;
      for (int b = 0; b < nb; ++b)
        for (int r = 0; r < kRows; ++r) sdst[b * kRows + r] = sc[static_cast<size_t>(r) * nb + b];
    }
  });
}

// Columns [j0, j0 + nc) of W^T: qb [pair][col] as int32 pairs, sb [block][col]; columns past
// nc are zero.
#if defined(NP_GEMM_INT16_VNNI)
// 16 columns of one block (w: the first column's 32 int8, rows row_bytes apart) -> dst[p * kCols
// + c] = column c's pair p, for p < 16. Each column's block widened to int16 is one vector
// whose int32 lane p is its pair p; the 16 vectors are transposed as int32 (pairs within
// 128-bit lanes, then 128-bit lanes across vectors).
void pack16(const uint8_t* w, int64_t row_bytes, int32_t* dst) {
  __m512i z[16], t[16], v[4][4];
  for (int c = 0; c < 16; ++c)
    z[c] = _mm512_cvtepi8_epi16(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(w + c * row_bytes)));
  for (int c = 0; c < 16; c += 2) {
    t[c] = _mm512_unpacklo_epi32(z[c], z[c + 1]);      // lane L: c[4L], c+1[4L], c[4L+1], c+1[4L+1]
    t[c + 1] = _mm512_unpackhi_epi32(z[c], z[c + 1]);  // the same for pairs 4L+2, 4L+3
  }
  for (int g = 0; g < 4; ++g) {  // v[g][q], lane L: pair 4L+q of columns 4g..4g+3
    v[g][0] = _mm512_unpacklo_epi64(t[4 * g], t[4 * g + 2]);
    v[g][1] = _mm512_unpackhi_epi64(t[4 * g], t[4 * g + 2]);
    v[g][2] = _mm512_unpacklo_epi64(t[4 * g + 1], t[4 * g + 3]);
    v[g][3] = _mm512_unpackhi_epi64(t[4 * g + 1], t[4 * g + 3]);
  }
  for (int q = 0; q < 4; ++q) {  // pair 4L+q: lane g of its vector is v[g][q]'s lane L
    const __m512i a = _mm512_shuffle_i32x4(v[0][q], v[1][q], 0x44), b = _mm512_shuffle_i32x4(v[0][q], v[1][q], 0xEE);
    const __m512i c = _mm512_shuffle_i32x4(v[2][q], v[3][q], 0x44), d = _mm512_shuffle_i32x4(v[2][q], v[3][q], 0xEE);
    _mm512_storeu_si512(dst + (0 + q) * kCols, _mm512_shuffle_i32x4(a, c, 0x88));
    _mm512_storeu_si512(dst + (4 + q) * kCols, _mm512_shuffle_i32x4(a, c, 0xDD));
    _mm512_storeu_si512(dst + (8 + q) * kCols, _mm512_shuffle_i32x4(b, d, 0x88));
    _mm512_storeu_si512(dst + (12 + q) * kCols, _mm512_shuffle_i32x4(b, d, 0xDD));
  }
}
#endif

void pack_panel(const Q8Rows& W, int K, int64_t j0, int nc, int32_t* qb, float* sb) {
  const int nb = K / kBlock;
  const int64_t row_bytes = static_cast<int64_t>(nb) * 34;
#if defined(NP_GEMM_INT16_VNNI)
  if (nc == kCols) {
    for (int b = 0; b < nb; ++b) {
      for (int c = 0; c < kCols; ++c) sb[b * kCols + c] = W.d(nb, j0 + c, b);
      for (int h = 0; h < kCols; h += 16)
        pack16(W.blocks + (j0 + h) * row_bytes + b * 34 + 2, row_bytes, qb + static_cast<size_t>(b) * kPairs * kCols + h);
    }
    return;
  }
#endif
#if defined(NP_SIMD128)
  if (nc == kCols) {
    // Four columns at a time: each column's 8 weights widened to int16 are 4 pairs (int32
    // lanes); a 4x4 transpose of those lanes gives each pair's 4 columns. (The packing is a
    // third of a product of a 12-token query in scalar code.)
    for (int b = 0; b < nb; ++b) {
      for (int c = 0; c < kCols; ++c) sb[b * kCols + c] = W.d(nb, j0 + c, b);
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
      sb[b * kCols + c] = live ? W.d(nb, j0 + c, b) : 0.0f;
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
#elif defined(NP_GEMM_INT16_VNNI)
// One strip (4 rows) x one panel (32 columns) over every block; writes mr x nc of C.
void kernel(int nb, const int32_t* qa, const float* sa, const int32_t* qb, const float* sb, float* c, int64_t ldc,
            int mr, int nc) {
  __m512 acc[kRows][2];
  for (int i = 0; i < kRows; ++i) acc[i][0] = acc[i][1] = _mm512_setzero_ps();
  for (int b = 0; b < nb; ++b) {
    __m512i ia[kRows][2];
    for (int i = 0; i < kRows; ++i) ia[i][0] = ia[i][1] = _mm512_setzero_si512();
    for (int p = 0; p < kPairs; ++p) {
      __m512i b0 = _mm512_loadu_si512(qb), b1 = _mm512_loadu_si512(qb + 16);
      // Kept in registers: GCC otherwise folds the loads into each vpdpwssd, 12 loads per 8
      // products where 6 (2 panels, 4 broadcasts) do, and the loads become the bound.
      asm("" : "+v"(b0), "+v"(b1));
      for (int i = 0; i < kRows; ++i) {
        const __m512i a = _mm512_set1_epi32(qa[i]);
        ia[i][0] = _mm512_dpwssd_epi32(ia[i][0], a, b0);
        ia[i][1] = _mm512_dpwssd_epi32(ia[i][1], a, b1);
      }
      qa += kRows;
      qb += kCols;
    }
    const __m512 s0 = _mm512_loadu_ps(sb), s1 = _mm512_loadu_ps(sb + 16);
    for (int i = 0; i < kRows; ++i) {
      const __m512 sx = _mm512_set1_ps(sa[i]);
      acc[i][0] = _mm512_add_ps(acc[i][0], _mm512_mul_ps(_mm512_cvtepi32_ps(ia[i][0]), _mm512_mul_ps(s0, sx)));
      acc[i][1] = _mm512_add_ps(acc[i][1], _mm512_mul_ps(_mm512_cvtepi32_ps(ia[i][1]), _mm512_mul_ps(s1, sx)));
    }
    sa += kRows;
    sb += kCols;
  }
  if (mr == kRows && nc == kCols) {
    for (int i = 0; i < kRows; ++i) {
      _mm512_storeu_ps(c + i * ldc, acc[i][0]);
      _mm512_storeu_ps(c + i * ldc + 16, acc[i][1]);
    }
    return;
  }
  alignas(64) float tile[kRows][kCols];
  for (int i = 0; i < kRows; ++i) {
    _mm512_store_ps(&tile[i][0], acc[i][0]);
    _mm512_store_ps(&tile[i][16], acc[i][1]);
  }
  for (int i = 0; i < mr; ++i)
    for (int j = 0; j < nc; ++j) c[i * ldc + j] = tile[i][j];
}
#else
// Portable loops with the kernel's arithmetic (builds without SIMD128 or VNNI use gemm_q8's
// float path; this keeps the file whole there and is what gemm_q8_int16_ref checks natively).
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

void quantize_rows_q8(const float* x, int64_t rs, int R, int C, uint8_t* blocks, float* scales) {
  const int nb = C / kBlock;
  std::fill(scales, scales + q8_scales_size(R, nb), 0.0f);
  for (int r = 0; r < R; ++r) {
    const float* row = x + r * rs;
    for (int b = 0; b < nb; ++b) {
      const float* v = row + b * kBlock;
      float m = 0.0f;
#if defined(NP_SIMD128)
      v128_t mv = wasm_f32x4_splat(0.0f);  // pmax keeps the first operand where a lane is NaN
      for (int j = 0; j < kBlock; j += 4) mv = wasm_f32x4_pmax(mv, wasm_f32x4_abs(wasm_v128_load(v + j)));
      m = std::max(std::max(wasm_f32x4_extract_lane(mv, 0), wasm_f32x4_extract_lane(mv, 1)),
                   std::max(wasm_f32x4_extract_lane(mv, 2), wasm_f32x4_extract_lane(mv, 3)));
#else
      for (int j = 0; j < kBlock; ++j) m = std::max(m, std::fabs(v[j]));  // NaN is skipped
#endif
      const float d = m / 127.0f, inv = m > 0.0f ? 127.0f / m : 0.0f;
      uint8_t* q = blocks + (static_cast<int64_t>(r) * nb + b) * 34;
      q[0] = q[1] = 0;
      int j = 0;
#if defined(NP_SIMD128)
      // The same rounding 16 at a time: nearest (ties to even), a saturating conversion (NaN to
      // 0), two saturating narrows (|t| <= 127 already).
      const v128_t vi = wasm_f32x4_splat(inv), lim = wasm_f32x4_splat(127.0f), nlim = wasm_f32x4_splat(-127.0f);
      const auto q32 = [&](const float* p) {
        const v128_t t = wasm_f32x4_nearest(wasm_f32x4_mul(wasm_v128_load(p), vi));
        return wasm_i32x4_trunc_sat_f32x4(wasm_f32x4_pmin(wasm_f32x4_pmax(t, nlim), lim));
      };
      for (; j + 16 <= kBlock; j += 16) {
        const v128_t a = wasm_i16x8_narrow_i32x4(q32(v + j), q32(v + j + 4));
        const v128_t c = wasm_i16x8_narrow_i32x4(q32(v + j + 8), q32(v + j + 12));
        wasm_v128_store(q + 2 + j, wasm_i8x16_narrow_i16x8(a, c));
      }
#endif
      for (; j < kBlock; ++j) {
        float t = std::nearbyint(v[j] * inv);
        if (!(t == t)) t = 0.0f;
        t = std::min(std::max(t, -127.0f), 127.0f);
        q[2 + j] = static_cast<uint8_t>(static_cast<int8_t>(t));
      }
      scales[q8_scale_index(nb, r, b)] = std::isfinite(d) ? d : 0.0f;
    }
  }
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
        const float scale = W.d(nb, j, b) * sx[b];
        const float term = static_cast<float>(isum) * scale;
        acc = acc + term;
      }
      C[static_cast<int64_t>(i) * ldc + j] = acc;
    }
  }
}

}  // namespace np
