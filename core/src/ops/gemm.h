// gemm.h — the float matrix product behind linear, attention and FFN (ops/*.cpp):
// C (M, N) = [C +] A (M, K) B (K, N) on strided views, cache-blocked and packed, with one
// register-tiled micro-kernel per ISA (AVX-512, AVX2+FMA, WASM SIMD128, portable C++) chosen
// at compile time, and an optional bf16 path (AVX-512 BF16 dot products, fp32 accumulation).
// linear_forward<float> sends products of a few tokens to ops/matvec.h instead.
// Not here: the double instantiations of the kernels, which stay the reference loops of
// kernels.h (the specification the tests compare against).
//
// Determinism: every C element is the same fixed-order sum whatever the thread count or the
// split (K runs in blocks of kGemmKc, each block in order, added to C block after block), so
// results are reproducible for a given precision and build, and independent of threads.
#pragma once
#include <cstdint>

#include "np/threads.h"  // MatmulPrecision

namespace np {

// A read-only strided matrix view: element (i, j) is p[i * rs + j * cs].
// Examples: row-major X (R, C) is {X, C, 1}; its transpose X^T (C, R) is {X, 1, C}.
struct ConstView {
  const float* p;
  int64_t rs, cs;
};

// C (M, N), row stride ldc: C = A B (accumulate false) or C += A B (accumulate true).
// A is (M, K), B is (K, N). With K == 0, C is zeroed (or left alone when accumulating).
// threaded: split across the pool (parallel_for) when the product is large enough; calls
// from inside a pool job run inline. Precision kBf16 rounds A and B to bf16 (nearest even)
// while packing and accumulates in fp32; it falls back to fp32 where the build lacks
// AVX-512 BF16 (matmul_bf16_supported()).
void gemm(int M, int N, int K, ConstView A, ConstView B, float* C, int64_t ldc, bool accumulate,
          MatmulPrecision precision, bool threaded = true);

// C (M, N) = A (M, K) W^T for a Q8_0 W (N, K) read in place (ops/matvec.h's Q8Rows; K a
// multiple of 32): W's panels are dequantized while packing (float(q) * d, as a dequantized
// copy holds them), so C is the same bits as gemm(A, W^T) over the dequantized W at fp32.
// Always fp32 (the bf16 precision does not apply), threaded like gemm.
// In the 128-bit builds (WebAssembly, the native twin), which have no FMA, and where AVX-512
// VNNI is, it is instead the integer product of gemm_q8_int16.h (int16 activations, exact
// int32 block sums, the same bits on all of them): within the Q8_0 matvec's quantization
// bound of the float product, and gemm_q8_uses_int16() is true.
struct Q8Rows;
void gemm_q8(int M, int N, int K, ConstView A, const Q8Rows& W, float* C, int64_t ldc);
bool gemm_q8_uses_int16();

// Bytes of packing buffers one thread holds once it has run a product (fp32 and bf16 packs).
size_t gemm_thread_scratch_bytes();

// The precision the ops use for their products now: matmul_precision() when supported,
// else kF32.
MatmulPrecision gemm_precision();

// Rounds x to the nearest bf16 (ties to even) and back to float: what the bf16 path feeds
// the multiplier. Example: bf16_round(1.0f + 1.0f / 256) == 1.0f (the tie rounds to even),
// bf16_round(1.0f + 3.0f / 256) == 1.0f + 4.0f / 256.
float bf16_round(float x);

}  // namespace np
