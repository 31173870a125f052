// gemm_q8_int16.h — the integer product of activations and a Q8_0 W (gemm_q8_int16.cpp has
// the arithmetic). gemm_q8 (gemm.h) runs it in the 128-bit builds (WebAssembly and its
// native twin) and where AVX-512 VNNI is (vpdpwssd: 32 int16 products per instruction, twice
// a float FMA's 16); the AVX2 and plain AVX-512 builds keep the float GEMM, which has FMA.
#pragma once
#include <cstdint>

#if defined(__AVX512F__) && defined(__AVX512BW__) && defined(__AVX512VNNI__)
#define NP_GEMM_INT16_VNNI 1
#endif

#include "ops/gemm.h"

namespace np {

struct Q8Rows;

// C (M, N) = A (M, K) W^T, W (N, K) Q8_0 read in place, K a multiple of 32; A's rows
// quantized per 32-block to int16, exact int32 block sums, scaled and summed in float.
// Threaded (parallel_for over 8-column panels); the same bits whatever the thread count.
void gemm_q8_int16(int M, int N, int K, ConstView A, const Q8Rows& W, float* C, int64_t ldc);

// Its definition in plain loops: the kernel gives these bits where it runs (SIMD128 builds).
void gemm_q8_int16_ref(int M, int N, int K, ConstView A, const Q8Rows& W, float* C, int64_t ldc);

}  // namespace np
