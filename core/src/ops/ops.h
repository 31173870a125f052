// ops.h — the float inference API of the forward kernels of a Simple Attention Network:
// thin wrappers over the generic reference kernels of kernels.h (which also holds the
// backward passes and the training forwards that keep caches), taking the model's Matrix
// and RopeTable. Shapes use T (tokens), C (channels), NH (query heads), NKV (key/value
// heads), HS (head size). Faster variants (SIMD, int8) come later behind the same signatures.
#pragma once
#include <cstdint>
#include <vector>

#include "np/model.h"
#include "ops/kernels.h"  // also gated_residual_forward (x += gate * y), float or double

namespace np {

// out (T, W.rows) = inp (T, W.cols) @ W^T            [linear.cpp]
void linear_forward(float* out, const float* inp, const Matrix& W, int T);
// Several products of the same input at once: outs[i] (T, W_i.rows) = inp @ W_i^T, the values
// linear_forward gives each, bit for bit. Where every W_i is Q8_0 with the same columns and T
// is a matvec's, the input is quantized once and one parallel job splits all their rows (a
// decoder step's q, k and v: one job instead of three). [linear.cpp]
struct LinearOut {
  float* out;
  const Matrix* W;
};
void linear_forward_multi(const float* inp, int T, const LinearOut* outs, int n);
// out[r] = inp . W_r for each r of rows[0, n) (one token): the values linear_forward(out, inp,
// W, 1) writes there, bit for bit; the other entries of out are left alone. [linear.cpp]
void linear_rows_forward(float* out, const float* inp, const Matrix& W, const int32_t* rows, int n);
// out (T, R) += or = ... variant with a bias: out[t][r] += bias[r]
void add_bias(float* out, const float* bias, int T, int R);

// y = x * (1 + g) / sqrt(mean(x^2) + eps), per row of C   [norm.cpp]
void zcrmsnorm_forward(float* out, const float* inp, const float* g, int rows, int C, float eps);

// Half-split rotary embedding, in place on x (T, NH, HS); token t has position pos0 + t.
// cos/sin tables are (max_pos, HS/2).                      [rope.cpp]
void rope_forward(float* x, const RopeTable& rope, int T, int NH, int HS, int pos0);

// Grouped-query attention.                                  [attention.cpp]
//   out (Tq, NH*HS) = softmax(q k^T / sqrt(HS) + mask) v, per head; query head h reads
//   kv head h / (NH/NKV). q (Tq, NH*HS), k and v (Tk, NKV*HS).
//   key_valid (Tk) or null: 0 masks that key. causal_offset < 0: no causal mask; otherwise
//   query i sees keys j <= i + causal_offset. block_prefix > 0: query rows i < block_prefix
//   see only keys j < block_prefix (the catalog mask). Masked scores are set to the lowest
//   finite float before the softmax.
//   More than kAttentionRowsMaxTq rows: the training forward's float GEMMs, except where
//   attention_int8_scores(HS): there the scores are integer products of int16 queries and
//   int8 keys (per 32 values, gemm_q8_int16.h), within about 1e-2 of the float attention.
void attention_forward(float* out, const float* q, const float* k, const float* v, int Tq,
                       int Tk, int NH, int NKV, int HS, const uint8_t* key_valid,
                       int causal_offset, int block_prefix = 0);
// True in the 128-bit builds (WebAssembly, whose float products have no FMA, and its native
// twin) for head sizes that are a multiple of 32.
bool attention_int8_scores(int HS);

// Feed-forward block: out (T, C) = act(h Wg, h Wu) Wd.        [ffn.cpp]
void ffn_forward(float* out, const float* h, const FeedForwardWeights& w, FfnActivation act,
                 int T, int C, int DFF);
float gelu_tanh(float x);


}  // namespace np
