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
// get the portable one): AVX-512F 8x32, AVX2+FMA 6x16, portable C++ 4x16; and with
// AVX-512 BF16 an 8x32 bf16 kernel (_mm512_dpbf16_ps: pairs of bf16 products summed into
// fp32), whose packs hold k in pairs: word (kp, j) = bf16(X(2kp+1, j)) << 16 | bf16(X(2kp, j)).
#include "ops/gemm.h"

#include <algorithm>
#include <cstring>
#include <vector>

#include "np/threads.h"

#if defined(__AVX2__) || defined(__AVX512F__)
#include <immintrin.h>
#endif

namespace np {

namespace {

#if defined(__AVX512F__)
constexpr int kMr = 8, kNr = 32;
#elif defined(__AVX2__) && defined(__FMA__)
constexpr int kMr = 6, kNr = 16;
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

PackBuffers& pack_buffers() {
  thread_local PackBuffers buffers;
  return buffers;
}

// ---- packing ----

#if defined(__AVX2__) || defined(__AVX512F__)
// dst[c * dstride + r] = src[r * sstride + c] for an 8x8 block.
inline void transpose8x8(const float* src, int64_t sstride, float* dst, int64_t dstride) {
  __m256 r0 = _mm256_loadu_ps(src), r1 = _mm256_loadu_ps(src + sstride);
  __m256 r2 = _mm256_loadu_ps(src + 2 * sstride), r3 = _mm256_loadu_ps(src + 3 * sstride);
  __m256 r4 = _mm256_loadu_ps(src + 4 * sstride), r5 = _mm256_loadu_ps(src + 5 * sstride);
  __m256 r6 = _mm256_loadu_ps(src + 6 * sstride), r7 = _mm256_loadu_ps(src + 7 * sstride);
  const __m256 t0 = _mm256_unpacklo_ps(r0, r1), t1 = _mm256_unpackhi_ps(r0, r1);
  const __m256 t2 = _mm256_unpacklo_ps(r2, r3), t3 = _mm256_unpackhi_ps(r2, r3);
  const __m256 t4 = _mm256_unpacklo_ps(r4, r5), t5 = _mm256_unpackhi_ps(r4, r5);
  const __m256 t6 = _mm256_unpacklo_ps(r6, r7), t7 = _mm256_unpackhi_ps(r6, r7);
  const __m256 u0 = _mm256_shuffle_ps(t0, t2, _MM_SHUFFLE(1, 0, 1, 0));
  const __m256 u1 = _mm256_shuffle_ps(t0, t2, _MM_SHUFFLE(3, 2, 3, 2));
  const __m256 u2 = _mm256_shuffle_ps(t1, t3, _MM_SHUFFLE(1, 0, 1, 0));
  const __m256 u3 = _mm256_shuffle_ps(t1, t3, _MM_SHUFFLE(3, 2, 3, 2));
  const __m256 u4 = _mm256_shuffle_ps(t4, t6, _MM_SHUFFLE(1, 0, 1, 0));
  const __m256 u5 = _mm256_shuffle_ps(t4, t6, _MM_SHUFFLE(3, 2, 3, 2));
  const __m256 u6 = _mm256_shuffle_ps(t5, t7, _MM_SHUFFLE(1, 0, 1, 0));
  const __m256 u7 = _mm256_shuffle_ps(t5, t7, _MM_SHUFFLE(3, 2, 3, 2));
  _mm256_storeu_ps(dst, _mm256_permute2f128_ps(u0, u4, 0x20));
  _mm256_storeu_ps(dst + dstride, _mm256_permute2f128_ps(u1, u5, 0x20));
  _mm256_storeu_ps(dst + 2 * dstride, _mm256_permute2f128_ps(u2, u6, 0x20));
  _mm256_storeu_ps(dst + 3 * dstride, _mm256_permute2f128_ps(u3, u7, 0x20));
  _mm256_storeu_ps(dst + 4 * dstride, _mm256_permute2f128_ps(u0, u4, 0x31));
  _mm256_storeu_ps(dst + 5 * dstride, _mm256_permute2f128_ps(u1, u5, 0x31));
  _mm256_storeu_ps(dst + 6 * dstride, _mm256_permute2f128_ps(u2, u6, 0x31));
  _mm256_storeu_ps(dst + 7 * dstride, _mm256_permute2f128_ps(u3, u7, 0x31));
}
#define NP_GEMM_TRANSPOSE8 1
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

// fp32 slabs (kc, W) -> bf16 pair slabs (ceil(kc / 2), W); an odd last k pairs with zero.
void slabs_to_bf16(const float* src, int slabs, int kc, int W, uint32_t* dst) {
  const int kp = (kc + 1) / 2;
  for (int s = 0; s < slabs; ++s) {
    const float* x = src + static_cast<int64_t>(s) * kc * W;
    uint32_t* d = dst + static_cast<int64_t>(s) * kp * W;
    for (int p = 0; p < kc / 2; ++p) {
      const float* x0 = x + static_cast<int64_t>(2 * p) * W;
      const float* x1 = x0 + W;
      uint32_t* dp = d + static_cast<int64_t>(p) * W;
      for (int j = 0; j < W; ++j) dp[j] = bf16_bits(x0[j]) | (bf16_bits(x1[j]) << 16);
    }
    if (kc % 2) {
      const float* x0 = x + static_cast<int64_t>(kc - 1) * W;
      uint32_t* dp = d + static_cast<int64_t>(kc / 2) * W;
      for (int j = 0; j < W; ++j) dp[j] = bf16_bits(x0[j]);
    }
  }
}

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
                float* C, int64_t ldc, bool accumulate, bool bf16) {
  PackBuffers& buf = pack_buffers();
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
      pack_b(B, pc, kc, jc, nc, buf.b);
      if (bf16) slabs_to_bf16(buf.b, npanels, kc, kNr, buf.b16);
      for (int64_t ic = i0; ic < i1; ic += kMc) {
        const int mc = static_cast<int>(std::min<int64_t>(kMc, i1 - ic));
        const int nstrips = (mc + kMr - 1) / kMr;
        pack_a(A, ic, mc, pc, kc, buf.a);
        if (bf16) slabs_to_bf16(buf.a, nstrips, kc, kMr, buf.a16);
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

void gemm(int M, int N, int K, ConstView A, ConstView B, float* C, int64_t ldc, bool accumulate,
          MatmulPrecision precision, bool threaded) {
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
      gemm_block(0, M, u0 * kNr, std::min<int64_t>(N, u1 * kNr), K, A, B, C, ldc, accumulate, bf16);
    else
      gemm_block(u0 * kMr, std::min<int64_t>(M, u1 * kMr), 0, N, K, A, B, C, ldc, accumulate, bf16);
  });
}

}  // namespace np
