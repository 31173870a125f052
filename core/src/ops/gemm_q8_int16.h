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

// R rows of C floats (row r at x + r * rs, C a multiple of 32) as Q8_0 rows for the product
// above: per 32 values an int8 block (round to nearest even of x / d, d = max|x| / 127; all
// zeros give d = 0; NaN gives 0) into blocks (R * C / 32 blocks of 34 bytes, the int8 at
// byte 2 of each, as Q8_0 files lay them out) and d into scales (q8_scales_size(R, C / 32)
// floats, matvec.h's layout by row quads; the pad rows' zero). What the attention's integer
// scores read its keys as (ops.h attention_forward).
void quantize_rows_q8(const float* x, int64_t rs, int R, int C, uint8_t* blocks, float* scales);

// Its definition in plain loops: the kernel gives these bits where it runs (SIMD128 builds).
void gemm_q8_int16_ref(int M, int N, int K, ConstView A, const Q8Rows& W, float* C, int64_t ldc);

}  // namespace np
