// matvec.h — the float linear forward for a few tokens (decoder steps, the retrieval head):
// out (T, R) = inp (T, C) W^T [+ bias] as dot products of each input row with W's contiguous
// rows, instead of the packed GEMM (ops/gemm.h), which would pack all of W for one row of
// output. linear_forward<float> (linear.cpp) calls it for T <= kMatvecMaxT at fp32 precision.
// One SIMD kernel per ISA (AVX-512F, AVX2+FMA, WASM SIMD128, portable C++) chosen at compile
// time; rows of W split across threads.
//
// Determinism: each output is the same fixed-order sum whatever the thread count or the split
// (per row: one vector accumulator per token over C in order, then a fixed lane reduction), so
// results are reproducible for a given build. They differ from the GEMM's and from _ref's in
// the last bits (another summation order; SIMD128 has no FMA).
#pragma once
#include <cstdint>

namespace np {

// A Q8_0 matrix (R, C) read in place: row r's C / 32 blocks of 34 bytes (f16 d, 32 int8 q)
// start at blocks + r * (C / 32) * 34; the blocks' d as floats in `scales`, by row quads:
// block b of rows 4i..4i+3 at scales[(i * (C / 32) + b) * 4 ...] (q8_scale_index), so the
// WebAssembly decoder step loads four rows' scales in one vector (a gather of four scalars
// was 12% of a one-thread step); R / 4 rounded up quads (the missing rows' scales zero).
// Weight (r, c) = float(q) * d, as dequantize_row_q8_0_ref computes it.
struct Q8Rows {
  const uint8_t* blocks;
  const float* scales;
  // Block b's scale of row r (nb = C / 32).
  float d(int64_t nb, int64_t r, int64_t b) const { return scales[((r >> 2) * nb + b) * 4 + (r & 3)]; }
};
// Where block b's scale of row r lives in Q8Rows::scales, and how many floats they take.
inline int64_t q8_scale_index(int64_t nb, int64_t r, int64_t b) { return ((r >> 2) * nb + b) * 4 + (r & 3); }
inline int64_t q8_scales_size(int64_t R, int64_t nb) { return (R + 3) / 4 * 4 * nb; }

// The largest T that linear_forward<float> sends here. Measured natively (AVX-512, one
// thread) on a 512 x 512 W: 10, 17, 22, 26 us for T = 1..4 against the GEMM's 50 (its packing
// of W dominates); 36 and 43 at T = 5, 6; even at T = 7 and behind from T = 8 on.
constexpr int kMatvecMaxT = 4;

// out (T, R) = inp (T, C) @ W^T + bias.  W (R, C) row-major, bias (R) or null. Any T >= 0
// (tokens run in groups of up to 4); out must not alias inp or W. Allocates nothing.
void linear_matvec_forward(float* out, const float* inp, const float* W, const float* bias, int T, int R, int C);

// The same over a Q8_0 W (C a multiple of 32): bit-identical to linear_matvec_forward over the
// dequantized W (every weight is float(q) * d, the products in the same order).
void linear_matvec_q8_forward(float* out, const float* inp, const Q8Rows& W, const float* bias, int T, int R, int C);

// x (C floats, C a multiple of 32) -> q (C int16) and s (C / 32 block scales): per block,
// s = max|x| / 32767 and q = round(x / s) (0 for an all-zero block). The Q8_0 matvec's and
// the 128-bit builds' Q8_0 GEMM's (gemm_q8_int16.h) activations.
void quantize_act_q16(const float* x, int C, int16_t* q, float* s);

// The specification of linear_matvec_forward: plain loops, one float sum per output in c order,
// then + bias. Example: inp = {1, 2}, W = {3, 4, 5, 6} (R = 2, C = 2), bias = {0.5, 0}
// -> out = {11.5, 17}.
void linear_matvec_forward_ref(float* out, const float* inp, const float* W, const float* bias, int T, int R, int C);

}  // namespace np
