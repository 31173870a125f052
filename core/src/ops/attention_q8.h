// attention_q8.h — a kept catalog block's cross-attention keys and values in int8, and the
// decoder's attention products over them in integers.
//
// A decoder step attends to every encoder token in each of its layers: for the 26M shape and
// a 5-tool block of about 310 tokens that is 2.6M multiply-adds a step, which in float (bf16
// widened to fp32, SIMD128 without FMA) took about a quarter of a cached WebAssembly call. The
// block's keys and values are computed once and read by every step of every call that reuses
// the block, so they are quantized once, when the block is made: int8 with one float scale
// per token and kv head (the largest magnitude maps to 127), in layouts that let
// `i32x4.dot_i16x8_s` (pmaddwd natively) sum the products with no horizontal reduction:
//
//   keys:   per kv head, tokens in groups of 4; per group HS/2 units of 8 bytes, unit u
//           holding columns 2u and 2u+1 of the group's tokens 0..3 (k0[2u], k0[2u+1], k1[2u],
//           ...). A unit widened to int16 and dotted with (q[2u], q[2u+1]) repeated gives the
//           group's four partial scores;
//   values: per kv head, tokens in pairs; per pair HS/4 units, unit u holding columns
//           4u..4u+3 of the pair (v0[4u], v1[4u], v0[4u+1], v1[4u+1], ...). Dotted with
//           (w0, w1) repeated, four output columns' partial sums.
//
// Tokens past T (to the group or pair) are zeros with scale 0.
//
// The products are exact int32 sums: a query row is quantized to int16 per head (largest
// magnitude 32767), so a score's sum is at most 32767 * 127 * HS in magnitude (HS <= 512);
// the softmax weights times the value scales are quantized to int16 with their sum bounded
// too (quantize_weights_q16). Each kernel has a scalar _ref twin giving the same bits (the
// float steps are the same single multiplies, in the same order).
#pragma once
#include <cstdint>
#include <vector>

#include "np/kv_q8.h"

namespace np {

// True when the layouts serve head size HS: a multiple of 4, at most 512.
bool kv_q8_supported(int HS);

// Bytes a KVQ8 of T tokens holds (keys: group of 4; values: pair).
uint64_t kv_q8_bytes(int64_t T, int NKV, int HS, bool keys);

// k, v: (T, NKV * HS) floats, as the attention reads them.
void quantize_keys_q8(const float* k, int T, int NKV, int HS, KVQ8* out);
void quantize_values_q8(const float* v, int T, int NKV, int HS, KVQ8* out);
// Back to (T, NKV * HS) floats: float(q) * scale (tests, and the copied form of a block).
void dequantize_kv_q8(const KVQ8& kv, int NKV, int HS, bool keys, float* out);

// x (n values) to int16 with the largest magnitude at 32767; returns the scale (0 when x is
// all zeros), so that x ~= scale * out.
float quantize_q16(const float* x, int n, int16_t* out);
// Non-negative weights w (n values; the softmax's exps times the value scales) to int16 as
// above, but with a scale large enough that the weights' int16 total stays under 16.1M
// (2^31 / 127 is 16.9M) whatever n up to a million (so the weighted sums are exact int32).
float quantize_weights_q16(const float* w, int n, int16_t* out);

// p[j] = float(sum_c q16[c] * k_j[c]) * (qs * ks_j) for head g's T tokens (p holds K.T).
void scores_q8(float* p, const int16_t* q16, float qs, const KVQ8& K, int g, int HS);
void scores_q8_ref(float* p, const int16_t* q16, float qs, const KVQ8& K, int g, int HS);
// out[c] = float(sum_j w16[j] * v_j[c]) * ws for head g's HS columns; w16 holds V.rows
// weights (those past V.T zero).
void weighted_sum_q8(float* out, const int16_t* w16, float ws, const KVQ8& V, int g, int HS);
void weighted_sum_q8_ref(float* out, const int16_t* w16, float ws, const KVQ8& V, int g, int HS);

}  // namespace np
