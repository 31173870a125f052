// gemm.cpp — the packed, cache-blocked float GEMM of gemm.h (BLIS's loop order):
//
//   for each column block jc of kNc columns       (the thread's share of N, or all of it)
//     for each depth block pc of kKc                 pack B (kc, nc) into kNr-wide panels
//       for each row block ic of kMc rows            pack A (mc, kc) into kMr-tall strips
//         for each panel jr, for each strip ir:      micro-kernel: a kMr x kNr tile of C
//
// The micro-kernel keeps its tile in registers and runs k in order; edge tiles run the same
// kernel into a local tile (the packs are zero-padded), so an element's arithmetic does not
// depend on where its tile sits, and C gets the same bits at any thread count. Threads split
// C's columns (or rows when there are few columns) in whole tiles through parallel_for.
// Packing buffers are thread-local and sized once per thread.
//
// Micro-kernels, picked at compile time (the build uses -march=native; Emscripten builds
// use -msimd128): AVX-512F 8x32, AVX2+FMA 6x16, WASM SIMD128 4x8, portable C++ 4x16; and with
// AVX-512 BF16 an 8x32 bf16 kernel (_mm512_dpbf16_ps: pairs of bf16 products summed into
// fp32), whose packs hold k in pairs: word (kp, j) = bf16(X(2kp+1, j)) << 16 | bf16(X(2kp, j)),
// rounded while packing straight from the fp32 source.
#include "ops/gemm.h"
#include "ops/gemm_q8_int16.h"
#include "ops/matvec.h"

#include <algorithm>
#include <cstring>
#include <vector>

#include "np/threads.h"

#include "ops/f32vec.h"  // the intrinsics of every ISA, and GCC 12's AVX-512 false positive silenced

namespace np {

namespace {

#if defined(__AVX512F__)
constexpr int kMr = 8, kNr = 32;
#elif defined(__AVX2__) && defined(__FMA__)
constexpr int kMr = 6, kNr = 16;
#elif defined(NP_SIMD128)
// 4x8: 8 accumulators + 2 B vectors + 1 broadcast fit the 16 registers V8 maps SIMD128 onto
// on x86. Measured in Node 20 on 439x512x512: 53 GFLOP/s, against 37 for 4x16 (spills),
// 34 for 5x8 and 22 for the portable 4x16 loops.
constexpr int kMr = 4, kNr = 8;
#else
constexpr int kMr = 4, kNr = 16;
#endif
#if defined(__AVX512BF16__) && defined(__AVX512F__)
#define NP_GEMM_BF16 1
#endif
constexpr int kKc = 256;               // even: the bf16 packs hold k in pairs
constexpr int kMc = kMr * (128 / kMr); // A block (mc, kc): 128 KB in L2
constexpr int kNc = kNr * (512 / kNr); // B block (kc, nc): 512 KB in L2; a panel (32 KB) in L1
// Below this many flops per thread a product runs on one thread (a pool dispatch costs
// roughly what 1-2 MFLOP of compute does).
constexpr double kMinFlopsPerThread = 1.5e6;

// ---- bf16 rounding (round to nearest, ties to even; NaN is not expected here) ----

inline uint32_t bf16_bits(float x) {
  uint32_t u;
  std::memcpy(&u, &x, 4);
  u += 0x7FFFu + ((u >> 16) & 1u);
  return u >> 16;
}

// Thread-local packing buffers, 64-byte aligned, allocated on first use by each thread.
struct PackBuffers {
  std::vector<float> a_store, b_store;
  std::vector<uint32_t> a16_store, b16_store;
  float* a = nullptr;
  float* b = nullptr;
  uint32_t* a16 = nullptr;
  uint32_t* b16 = nullptr;
  PackBuffers() {
    a_store.resize(static_cast<size_t>(kMc) * kKc + 16);
    b_store.resize(static_cast<size_t>(kNc) * kKc + 16);
    a = align(a_store.data());
    b = align(b_store.data());
  }
  void ensure_bf16() {
    if (a16) return;
    a16_store.resize(static_cast<size_t>(kMc) * (kKc / 2) + 16);
    b16_store.resize(static_cast<size_t>(kNc) * (kKc / 2) + 16);
    a16 = align(a16_store.data());
    b16 = align(b16_store.data());
  }
  template <class T>
  static T* align(T* p) {
    const uintptr_t u = reinterpret_cast<uintptr_t>(p);
    return reinterpret_cast<T*>((u + 63) & ~static_cast<uintptr_t>(63));
  }
};

}  // namespace

size_t gemm_thread_scratch_bytes() {
  const size_t f32 = (static_cast<size_t>(kMc) * kKc + 16 + static_cast<size_t>(kNc) * kKc + 16) * sizeof(float);
  const size_t b16 = (static_cast<size_t>(kMc) * (kKc / 2) + 16 + static_cast<size_t>(kNc) * (kKc / 2) + 16) * sizeof(uint32_t);
  return f32 + b16;
}

namespace {

PackBuffers& pack_buffers() {
  thread_local PackBuffers buffers;
  return buffers;
}

// ---- packing ----

#if defined(__AVX2__) || defined(__AVX512F__)
// In-register 8x8 transpose: r[i] lane j -> r[j] lane i.
inline void transpose8(__m256 r[8]) {
  const __m256 t0 = _mm256_unpacklo_ps(r[0], r[1]), t1 = _mm256_unpackhi_ps(r[0], r[1]);
  const __m256 t2 = _mm256_unpacklo_ps(r[2], r[3]), t3 = _mm256_unpackhi_ps(r[2], r[3]);
  const __m256 t4 = _mm256_unpacklo_ps(r[4], r[5]), t5 = _mm256_unpackhi_ps(r[4], r[5]);
  const __m256 t6 = _mm256_unpacklo_ps(r[6], r[7]), t7 = _mm256_unpackhi_ps(r[6], r[7]);
  const __m256 u0 = _mm256_shuffle_ps(t0, t2, _MM_SHUFFLE(1, 0, 1, 0));
  const __m256 u1 = _mm256_shuffle_ps(t0, t2, _MM_SHUFFLE(3, 2, 3, 2));
  const __m256 u2 = _mm256_shuffle_ps(t1, t3, _MM_SHUFFLE(1, 0, 1, 0));
  const __m256 u3 = _mm256_shuffle_ps(t1, t3, _MM_SHUFFLE(3, 2, 3, 2));
  const __m256 u4 = _mm256_shuffle_ps(t4, t6, _MM_SHUFFLE(1, 0, 1, 0));
  const __m256 u5 = _mm256_shuffle_ps(t4, t6, _MM_SHUFFLE(3, 2, 3, 2));
  const __m256 u6 = _mm256_shuffle_ps(t5, t7, _MM_SHUFFLE(1, 0, 1, 0));
  const __m256 u7 = _mm256_shuffle_ps(t5, t7, _MM_SHUFFLE(3, 2, 3, 2));
  r[0] = _mm256_permute2f128_ps(u0, u4, 0x20);
  r[1] = _mm256_permute2f128_ps(u1, u5, 0x20);
  r[2] = _mm256_permute2f128_ps(u2, u6, 0x20);
  r[3] = _mm256_permute2f128_ps(u3, u7, 0x20);
  r[4] = _mm256_permute2f128_ps(u0, u4, 0x31);
  r[5] = _mm256_permute2f128_ps(u1, u5, 0x31);
  r[6] = _mm256_permute2f128_ps(u2, u6, 0x31);
  r[7] = _mm256_permute2f128_ps(u3, u7, 0x31);
}

// dst[c * dstride + r] = src[r * sstride + c] for an 8x8 block.
inline void transpose8x8(const float* src, int64_t sstride, float* dst, int64_t dstride) {
  __m256 r[8];
  for (int i = 0; i < 8; ++i) r[i] = _mm256_loadu_ps(src + i * sstride);
  transpose8(r);
  for (int i = 0; i < 8; ++i) _mm256_storeu_ps(dst + i * dstride, r[i]);
}
#define NP_GEMM_TRANSPOSE8 1
#endif

#if defined(NP_SIMD128)
// dst[c * dstride + r] = src[r * sstride + c] for a 4x4 block: SIMD128 loads and shuffles in
// place of 16 strided scalar copies (packing moves data only, so the result is unchanged).
inline void transpose4x4(const float* src, int64_t sstride, float* dst, int64_t dstride) {
  const v128_t r0 = wasm_v128_load(src), r1 = wasm_v128_load(src + sstride);
  const v128_t r2 = wasm_v128_load(src + 2 * sstride), r3 = wasm_v128_load(src + 3 * sstride);
  const v128_t t0 = wasm_i32x4_shuffle(r0, r1, 0, 4, 1, 5), t1 = wasm_i32x4_shuffle(r0, r1, 2, 6, 3, 7);
  const v128_t t2 = wasm_i32x4_shuffle(r2, r3, 0, 4, 1, 5), t3 = wasm_i32x4_shuffle(r2, r3, 2, 6, 3, 7);
  wasm_v128_store(dst, wasm_i32x4_shuffle(t0, t2, 0, 1, 4, 5));
  wasm_v128_store(dst + dstride, wasm_i32x4_shuffle(t0, t2, 2, 3, 6, 7));
  wasm_v128_store(dst + 2 * dstride, wasm_i32x4_shuffle(t1, t3, 0, 1, 4, 5));
  wasm_v128_store(dst + 3 * dstride, wasm_i32x4_shuffle(t1, t3, 2, 3, 6, 7));
}
#define NP_GEMM_TRANSPOSE4 1
#endif

// Packs X (rows [r0, r0 + nr), cols [c0, c0 + kc)) as a (kc, W) slab: dst[k * W + r] =
// X(r0 + r, c0 + k), zero for r >= nr. Used for A strips (W = kMr; X = A, rows = M) and,
// through a transposed view, for B panels (W = kNr; X = B^T, rows = N).
template <int W>
void pack_slab(ConstView X, int64_t r0, int nr, int64_t c0, int kc, float* dst) {
  const float* base = X.p + r0 * X.rs + c0 * X.cs;
  if (X.rs == 1 && nr == W) {
    // Rows contiguous: each k is one contiguous run of W values.
    for (int k = 0; k < kc; ++k) std::memcpy(dst + static_cast<int64_t>(k) * W, base + k * X.cs, sizeof(float) * W);
    return;
  }
  if (X.rs == 1) {
    for (int k = 0; k < kc; ++k) {
      float* d = dst + static_cast<int64_t>(k) * W;
      std::memcpy(d, base + k * X.cs, sizeof(float) * nr);
      for (int r = nr; r < W; ++r) d[r] = 0.0f;
    }
    return;
  }
  int k0 = 0;
#if defined(NP_GEMM_TRANSPOSE8)
  if (X.cs == 1 && W % 8 == 0 && nr == W) {
    // Columns contiguous: 8x8 transposes.
    for (; k0 + 8 <= kc; k0 += 8)
      for (int r = 0; r < W; r += 8) transpose8x8(base + r * X.rs + k0, X.rs, dst + static_cast<int64_t>(k0) * W + r, W);
  }
#endif
#if defined(NP_GEMM_TRANSPOSE4)
  if (X.cs == 1 && W % 4 == 0 && nr == W) {
    // Columns contiguous: 4x4 transposes.
    for (; k0 + 4 <= kc; k0 += 4)
      for (int r = 0; r < W; r += 4) transpose4x4(base + r * X.rs + k0, X.rs, dst + static_cast<int64_t>(k0) * W + r, W);
  }
#endif
  for (int k = k0; k < kc; ++k) {
    float* d = dst + static_cast<int64_t>(k) * W;
    const float* s = base + k * X.cs;
    for (int r = 0; r < nr; ++r) d[r] = s[r * X.rs];
    for (int r = nr; r < W; ++r) d[r] = 0.0f;
  }
}

// A (mc, kc) block from (i0, p0) as ceil(mc / kMr) strips of (kc, kMr).
void pack_a(ConstView A, int64_t i0, int mc, int64_t p0, int kc, float* dst) {
  for (int s = 0; s * kMr < mc; ++s)
    pack_slab<kMr>(A, i0 + s * kMr, std::min(kMr, mc - s * kMr), p0, kc, dst + static_cast<int64_t>(s) * kMr * kc);
}

// B (kc, nc) block from (p0, j0) as ceil(nc / kNr) panels of (kc, kNr).
void pack_b(ConstView B, int64_t p0, int kc, int64_t j0, int nc, float* dst) {
  const ConstView Bt{B.p, B.cs, B.rs};  // B^T (N, K)
  for (int s = 0; s * kNr < nc; ++s)
    pack_slab<kNr>(Bt, j0 + s * kNr, std::min(kNr, nc - s * kNr), p0, kc, dst + static_cast<int64_t>(s) * kNr * kc);
}

// The same panels from a Q8_0 W (B = W^T, W (N, K)): p0 and kc are multiples of 32 (kKc is,
// and K is), so the block [p0, p0 + kc) of a row is whole blocks. Each weight is float(q) * d.
void pack_b_q8(const Q8Rows& W, int64_t K, int64_t p0, int kc, int64_t j0, int nc, float* dst) {
  const int64_t nb = K / 32, row_bytes = nb * 34;
  for (int s = 0; s * kNr < nc; ++s) {
    float* panel = dst + static_cast<int64_t>(s) * kNr * kc;
    const int nr = std::min(kNr, nc - s * kNr);
    for (int r = 0; r < kNr; ++r) {
      if (r >= nr) {
        for (int k = 0; k < kc; ++k) panel[static_cast<int64_t>(k) * kNr + r] = 0.0f;
        continue;
      }
      const int64_t row = j0 + s * kNr + r;
      for (int k0 = 0; k0 < kc; k0 += 32) {
        const int64_t b = (p0 + k0) / 32;
        const int8_t* q = reinterpret_cast<const int8_t*>(W.blocks + row * row_bytes + b * 34 + 2);
        const float d = W.d(nb, row, b);
        for (int j = 0; j < 32; ++j) panel[static_cast<int64_t>(k0 + j) * kNr + r] = static_cast<float>(q[j]) * d;
      }
    }
  }
}

#if defined(NP_GEMM_BF16)
// The bf16 packs, straight from the source (no fp32 pack first): the (ceil(kc / 2), W) slab
// of pair words dst[kp * W + r] = bf16(X(r0 + r, c0 + 2kp)) | bf16(X(r0 + r, c0 + 2kp + 1)) << 16,
// zero for r >= nr and for k >= kc. Rounding is bf16_bits' (nearest even) in every path.

// u + 0x7FFF + lsb(u >> 16): the rounded bf16 sits in the high 16 bits of each lane.
inline __m512i bf16_round_hi(__m512 x) {
  const __m512i u = _mm512_castps_si512(x);
  const __m512i lsb = _mm512_and_si512(_mm512_srli_epi32(u, 16), _mm512_set1_epi32(1));
  return _mm512_add_epi32(u, _mm512_add_epi32(lsb, _mm512_set1_epi32(0x7FFF)));
}
// 16 floats x[0..15] -> 8 words x[2p] | x[2p+1] << 16 (pairs adjacent in memory).
inline __m256i bf16_pairs_adjacent(const float* x) {
  return _mm512_cvtepi32_epi16(_mm512_srli_epi32(bf16_round_hi(_mm512_loadu_ps(x)), 16));
}
// Two rows of 16 floats -> 16 words x0[j] | x1[j] << 16.
inline __m512i bf16_pairs_rows(const float* x0, const float* x1) {
  const __m512i lo = _mm512_srli_epi32(bf16_round_hi(_mm512_loadu_ps(x0)), 16);
  const __m512i hi = _mm512_and_si512(bf16_round_hi(_mm512_loadu_ps(x1)), _mm512_set1_epi32(static_cast<int>(0xFFFF0000u)));
  return _mm512_or_si512(lo, hi);
}

// The same for 8 floats per row (A strips): 8 words in the low half.
inline __m256i bf16_pairs_rows8(const float* x0, const float* x1) {
  const __m512i lo = _mm512_srli_epi32(bf16_round_hi(_mm512_maskz_loadu_ps(0xFF, x0)), 16);
  const __m512i hi = _mm512_and_si512(bf16_round_hi(_mm512_maskz_loadu_ps(0xFF, x1)), _mm512_set1_epi32(static_cast<int>(0xFFFF0000u)));
  return _mm512_castsi512_si256(_mm512_or_si512(lo, hi));
}

template <int W>
void pack_slab_bf16(ConstView X, int64_t r0, int nr, int64_t c0, int kc, uint32_t* dst) {
  const float* base = X.p + r0 * X.rs + c0 * X.cs;
  const int kp_full = kc / 2, kp_all = (kc + 1) / 2;
  int kp0 = 0;
  if (X.rs == 1 && nr == W && W % 8 == 0) {
    // Rows contiguous: the pair's two values come from source columns 2kp and 2kp+1.
    for (; kp0 < kp_full; ++kp0) {
      const float* x0 = base + static_cast<int64_t>(2 * kp0) * X.cs;
      uint32_t* d = dst + static_cast<int64_t>(kp0) * W;
      if (W % 16 == 0) {
        for (int r = 0; r < W; r += 16) _mm512_storeu_si512(d + r, bf16_pairs_rows(x0 + r, x0 + X.cs + r));
      } else {
        for (int r = 0; r < W; r += 8)
          _mm256_storeu_si256(reinterpret_cast<__m256i*>(d + r), bf16_pairs_rows8(x0 + r, x0 + X.cs + r));
      }
    }
  } else if (X.cs == 1 && nr == W && W % 8 == 0) {
    // Columns contiguous: pairs are adjacent; 8 rows x 8 pairs, then an 8x8 transpose.
    for (; kp0 + 8 <= kp_full; kp0 += 8)
      for (int r = 0; r < W; r += 8) {
        __m256 v[8];
        for (int i = 0; i < 8; ++i)
          v[i] = _mm256_castsi256_ps(bf16_pairs_adjacent(base + (r + i) * X.rs + 2 * kp0));
        transpose8(v);
        for (int i = 0; i < 8; ++i) _mm256_storeu_ps(reinterpret_cast<float*>(dst + static_cast<int64_t>(kp0 + i) * W + r), v[i]);
      }
  }
  for (int kp = kp0; kp < kp_all; ++kp) {
    uint32_t* d = dst + static_cast<int64_t>(kp) * W;
    const float* x0 = base + static_cast<int64_t>(2 * kp) * X.cs;
    const bool has1 = 2 * kp + 1 < kc;
    for (int r = 0; r < nr; ++r)
      d[r] = bf16_bits(x0[r * X.rs]) | (has1 ? bf16_bits(x0[r * X.rs + X.cs]) << 16 : 0u);
    for (int r = nr; r < W; ++r) d[r] = 0;
  }
}

void pack_a_bf16(ConstView A, int64_t i0, int mc, int64_t p0, int kc, uint32_t* dst) {
  const int64_t kp = (kc + 1) / 2;
  for (int s = 0; s * kMr < mc; ++s)
    pack_slab_bf16<kMr>(A, i0 + s * kMr, std::min(kMr, mc - s * kMr), p0, kc, dst + s * kMr * kp);
}

void pack_b_bf16(ConstView B, int64_t p0, int kc, int64_t j0, int nc, uint32_t* dst) {
  const ConstView Bt{B.p, B.cs, B.rs};
  const int64_t kp = (kc + 1) / 2;
  for (int s = 0; s * kNr < nc; ++s)
    pack_slab_bf16<kNr>(Bt, j0 + s * kNr, std::min(kNr, nc - s * kNr), p0, kc, dst + s * kNr * kp);
}
#endif

// ---- micro-kernels: tile (kMr, kNr) of C, row stride ldc; store (first) or add ----

#if defined(__AVX512F__)
void kernel_f32(int kc, const float* a, const float* b, float* c, int64_t ldc, bool first) {
  __m512 acc0[kMr], acc1[kMr];
  for (int i = 0; i < kMr; ++i) acc0[i] = acc1[i] = _mm512_setzero_ps();
  for (int k = 0; k < kc; ++k) {
    const __m512 b0 = _mm512_load_ps(b), b1 = _mm512_load_ps(b + 16);
#pragma GCC unroll 8
    for (int i = 0; i < kMr; ++i) {
      const __m512 ai = _mm512_set1_ps(a[i]);
      acc0[i] = _mm512_fmadd_ps(ai, b0, acc0[i]);
      acc1[i] = _mm512_fmadd_ps(ai, b1, acc1[i]);
    }
    a += kMr;
    b += kNr;
  }
  for (int i = 0; i < kMr; ++i) {
    float* ci = c + i * ldc;
    if (first) {
      _mm512_storeu_ps(ci, acc0[i]);
      _mm512_storeu_ps(ci + 16, acc1[i]);
    } else {
      _mm512_storeu_ps(ci, _mm512_add_ps(_mm512_loadu_ps(ci), acc0[i]));
      _mm512_storeu_ps(ci + 16, _mm512_add_ps(_mm512_loadu_ps(ci + 16), acc1[i]));
    }
  }
}
#elif defined(__AVX2__) && defined(__FMA__)
void kernel_f32(int kc, const float* a, const float* b, float* c, int64_t ldc, bool first) {
  __m256 acc0[kMr], acc1[kMr];
  for (int i = 0; i < kMr; ++i) acc0[i] = acc1[i] = _mm256_setzero_ps();
  for (int k = 0; k < kc; ++k) {
    const __m256 b0 = _mm256_load_ps(b), b1 = _mm256_load_ps(b + 8);
#pragma GCC unroll 6
    for (int i = 0; i < kMr; ++i) {
      const __m256 ai = _mm256_broadcast_ss(a + i);
      acc0[i] = _mm256_fmadd_ps(ai, b0, acc0[i]);
      acc1[i] = _mm256_fmadd_ps(ai, b1, acc1[i]);
    }
    a += kMr;
    b += kNr;
  }
  for (int i = 0; i < kMr; ++i) {
    float* ci = c + i * ldc;
    if (first) {
      _mm256_storeu_ps(ci, acc0[i]);
      _mm256_storeu_ps(ci + 8, acc1[i]);
    } else {
      _mm256_storeu_ps(ci, _mm256_add_ps(_mm256_loadu_ps(ci), acc0[i]));
      _mm256_storeu_ps(ci + 8, _mm256_add_ps(_mm256_loadu_ps(ci + 8), acc1[i]));
    }
  }
}
#elif defined(NP_SIMD128)
// SIMD128: kMr rows x kNr / 4 vectors of accumulators. No FMA in SIMD128, so acc + a * b
// (two roundings: results differ from the x86 kernels' in the last bits).
void kernel_f32(int kc, const float* a, const float* b, float* c, int64_t ldc, bool first) {
  constexpr int kNv = kNr / 4;
  v128_t acc[kMr][kNv];
  for (int i = 0; i < kMr; ++i)
    for (int v = 0; v < kNv; ++v) acc[i][v] = wasm_f32x4_splat(0.0f);
  for (int k = 0; k < kc; ++k) {
    v128_t bv[kNv];
    for (int v = 0; v < kNv; ++v) bv[v] = wasm_v128_load(b + 4 * v);
    for (int i = 0; i < kMr; ++i) {
      const v128_t ai = wasm_v128_load32_splat(a + i);
      for (int v = 0; v < kNv; ++v) acc[i][v] = wasm_f32x4_add(acc[i][v], wasm_f32x4_mul(ai, bv[v]));
    }
    a += kMr;
    b += kNr;
  }
  for (int i = 0; i < kMr; ++i) {
    float* ci = c + i * ldc;
    for (int v = 0; v < kNv; ++v) {
      const v128_t cv = first ? acc[i][v] : wasm_f32x4_add(wasm_v128_load(ci + 4 * v), acc[i][v]);
      wasm_v128_store(ci + 4 * v, cv);
    }
  }
}
#else
// Portable: plain loops over a register-sized tile (the compiler may vectorise the j loop).
void kernel_f32(int kc, const float* a, const float* b, float* c, int64_t ldc, bool first) {
  float acc[kMr][kNr] = {};
  for (int k = 0; k < kc; ++k) {
    for (int i = 0; i < kMr; ++i) {
      const float ai = a[i];
      for (int j = 0; j < kNr; ++j) acc[i][j] += ai * b[j];
    }
    a += kMr;
    b += kNr;
  }
  for (int i = 0; i < kMr; ++i)
    for (int j = 0; j < kNr; ++j) c[i * ldc + j] = first ? acc[i][j] : c[i * ldc + j] + acc[i][j];
}
#endif

#if defined(NP_GEMM_BF16)
// kp k-pairs; a (kp, kMr) and b (kp, kNr) pair words.
void kernel_bf16(int kp, const uint32_t* a, const uint32_t* b, float* c, int64_t ldc, bool first) {
  __m512 acc0[kMr], acc1[kMr];
  for (int i = 0; i < kMr; ++i) acc0[i] = acc1[i] = _mm512_setzero_ps();
  for (int p = 0; p < kp; ++p) {
    const __m512bh b0 = reinterpret_cast<__m512bh>(_mm512_load_si512(b));
    const __m512bh b1 = reinterpret_cast<__m512bh>(_mm512_load_si512(b + 16));
#pragma GCC unroll 8
    for (int i = 0; i < kMr; ++i) {
      const __m512bh ai = reinterpret_cast<__m512bh>(_mm512_set1_epi32(static_cast<int>(a[i])));
      acc0[i] = _mm512_dpbf16_ps(acc0[i], ai, b0);
      acc1[i] = _mm512_dpbf16_ps(acc1[i], ai, b1);
    }
    a += kMr;
    b += kNr;
  }
  for (int i = 0; i < kMr; ++i) {
    float* ci = c + i * ldc;
    if (first) {
      _mm512_storeu_ps(ci, acc0[i]);
      _mm512_storeu_ps(ci + 16, acc1[i]);
    } else {
      _mm512_storeu_ps(ci, _mm512_add_ps(_mm512_loadu_ps(ci), acc0[i]));
      _mm512_storeu_ps(ci + 16, _mm512_add_ps(_mm512_loadu_ps(ci + 16), acc1[i]));
    }
  }
}
#endif

// Runs a kernel on a tile that may be partial (mr <= kMr, nr <= kNr): partial tiles go
// through a local full tile, then only their valid part reaches C.
template <class Kernel>
inline void run_tile(const Kernel& kernel, float* c, int64_t ldc, int mr, int nr, bool first) {
  if (mr == kMr && nr == kNr) {
    kernel(c, ldc, first);
    return;
  }
  alignas(64) float tile[kMr * kNr];
  kernel(tile, static_cast<int64_t>(kNr), true);
  for (int i = 0; i < mr; ++i)
    for (int j = 0; j < nr; ++j) c[i * ldc + j] = first ? tile[i * kNr + j] : c[i * ldc + j] + tile[i * kNr + j];
}

// C rows [i0, i1) x cols [j0, j1): the whole blocked loop nest on one thread.
void gemm_block(int64_t i0, int64_t i1, int64_t j0, int64_t j1, int K, ConstView A, ConstView B,
                float* C, int64_t ldc, bool accumulate, bool bf16, const Q8Rows* bq8 = nullptr) {
  PackBuffers& buf = pack_buffers();
  if (bq8) bf16 = false;
#if defined(NP_GEMM_BF16)
  if (bf16) buf.ensure_bf16();
#else
  bf16 = false;
#endif
  for (int64_t jc = j0; jc < j1; jc += kNc) {
    const int nc = static_cast<int>(std::min<int64_t>(kNc, j1 - jc));
    const int npanels = (nc + kNr - 1) / kNr;
    for (int pc = 0; pc < K; pc += kKc) {
      const int kc = std::min(kKc, K - pc);
      const int kp = (kc + 1) / 2;
      const bool first = !accumulate && pc == 0;
#if defined(NP_GEMM_BF16)
      if (bf16)
        pack_b_bf16(B, pc, kc, jc, nc, buf.b16);
      else
#endif
      if (bq8)
        pack_b_q8(*bq8, K, pc, kc, jc, nc, buf.b);
      else
        pack_b(B, pc, kc, jc, nc, buf.b);
      for (int64_t ic = i0; ic < i1; ic += kMc) {
        const int mc = static_cast<int>(std::min<int64_t>(kMc, i1 - ic));
        const int nstrips = (mc + kMr - 1) / kMr;
#if defined(NP_GEMM_BF16)
        if (bf16)
          pack_a_bf16(A, ic, mc, pc, kc, buf.a16);
        else
#endif
          pack_a(A, ic, mc, pc, kc, buf.a);
        for (int jp = 0; jp < npanels; ++jp) {
          const int nr = std::min(kNr, nc - jp * kNr);
          for (int is = 0; is < nstrips; ++is) {
            const int mr = std::min(kMr, mc - is * kMr);
            float* c = C + (ic + is * kMr) * ldc + jc + jp * kNr;
#if defined(NP_GEMM_BF16)
            if (bf16) {
              const uint32_t* ap = buf.a16 + static_cast<int64_t>(is) * kMr * kp;
              const uint32_t* bp = buf.b16 + static_cast<int64_t>(jp) * kNr * kp;
              run_tile([&](float* cc, int64_t l, bool f) { kernel_bf16(kp, ap, bp, cc, l, f); }, c, ldc, mr, nr, first);
              continue;
            }
#endif
            const float* ap = buf.a + static_cast<int64_t>(is) * kMr * kc;
            const float* bp = buf.b + static_cast<int64_t>(jp) * kNr * kc;
            run_tile([&](float* cc, int64_t l, bool f) { kernel_f32(kc, ap, bp, cc, l, f); }, c, ldc, mr, nr, first);
          }
        }
      }
    }
  }
}

}  // namespace

float bf16_round(float x) {
  const uint32_t u = bf16_bits(x) << 16;
  float y;
  std::memcpy(&y, &u, 4);
  return y;
}

MatmulPrecision gemm_precision() {
  return matmul_bf16_supported() ? matmul_precision() : MatmulPrecision::kF32;
}

namespace {

void gemm_impl(int M, int N, int K, ConstView A, ConstView B, const Q8Rows* bq8, float* C, int64_t ldc,
               bool accumulate, MatmulPrecision precision, bool threaded) {
  if (M <= 0 || N <= 0) return;
  if (K <= 0) {
    if (!accumulate)
      for (int i = 0; i < M; ++i) std::fill(C + static_cast<int64_t>(i) * ldc, C + static_cast<int64_t>(i) * ldc + N, 0.0f);
    return;
  }
  const bool bf16 = precision == MatmulPrecision::kBf16 && matmul_bf16_supported();
  const int64_t mt = (M + kMr - 1) / kMr, nt = (N + kNr - 1) / kNr;
  // Split columns (each thread packs its own B panels, the expensive pack for W^T) unless
  // there are too few of them.
  const bool split_n = nt >= 4 || nt >= mt;
  const int64_t units = split_n ? nt : mt;
  const double flops = 2.0 * M * N * K;
  int64_t min_units = units;
  if (threaded) min_units = std::max<int64_t>(1, static_cast<int64_t>(kMinFlopsPerThread / (flops / static_cast<double>(units))));
  parallel_for(units, min_units, [&](int64_t u0, int64_t u1) {
    if (split_n)
      gemm_block(0, M, u0 * kNr, std::min<int64_t>(N, u1 * kNr), K, A, B, C, ldc, accumulate, bf16, bq8);
    else
      gemm_block(u0 * kMr, std::min<int64_t>(M, u1 * kMr), 0, N, K, A, B, C, ldc, accumulate, bf16, bq8);
  });
}

}  // namespace

void gemm(int M, int N, int K, ConstView A, ConstView B, float* C, int64_t ldc, bool accumulate,
          MatmulPrecision precision, bool threaded) {
  gemm_impl(M, N, K, A, B, nullptr, C, ldc, accumulate, precision, threaded);
}

bool gemm_q8_uses_int16() {
#if defined(NP_SIMD128) || defined(NP_GEMM_INT16_VNNI)
  return true;
#else
  return false;
#endif
}

void gemm_q8(int M, int N, int K, ConstView A, const Q8Rows& W, float* C, int64_t ldc) {
#if defined(NP_SIMD128) || defined(NP_GEMM_INT16_VNNI)
  // SIMD128 has no FMA; VNNI's int16 dot products do twice a float FMA's work: integer
  // products are cheaper on both.
  gemm_q8_int16(M, N, K, A, W, C, ldc);
  return;
#endif
  gemm_impl(M, N, K, A, ConstView{nullptr, 0, 0}, &W, C, ldc, false, MatmulPrecision::kF32, true);
}

}  // namespace np
