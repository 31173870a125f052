// kernels.h — the reference forward/backward kernels of a Simple Attention Network, generic
// over the scalar type: plain loops on plain pointers that serve as the specification. Each
// is explicitly instantiated for float (inference and training) and double (the
// finite-difference checks in tests/core/test_ops_grad.cpp); the definitions live in one
// file per op family, named after each declaration. Not here: the Matrix-based float
// inference API (ops.h, thin wrappers over these), threads, SIMD.
//
// Conventions (llm.c's):
// - Parameters are ordered outputs, caches, inputs, weights, dims.
// - A weight W of a linear map is (R, C) row-major, out = inp W^T (R outputs, C inputs).
// - Backward kernels ADD (+=) into every gradient; the caller zeroes gradients once per step.
//   A null gradient pointer skips that gradient.
// - Whatever a backward reuses is an explicit output of the forward (*_forward_train):
//   rstd per row, softmax probabilities, FFN pre-activations, ... Caches may be null where
//   noted (inference). Backward also reads the forward's INPUTS, so a training forward must
//   not run in place over an input that its backward needs.
// - Shapes: T tokens, C channels, NH query heads, NKV key/value heads, HS head size,
//   V vocabulary. Every pointer's shape is in the comment beside it.
#pragma once
#include <cstdint>

#include "np/model.h"  // FfnActivation

namespace np {

// ---- linear.cpp ---------------------------------------------------------------------------
// out (T, R) = inp (T, C) @ W^T + bias;  W (R, C), bias (R) or null.
template <class Real>
void linear_forward(Real* out, const Real* inp, const Real* W, const Real* bias, int T, int R, int C);
// dinp (T, C) += dout W;  dW (R, C) += dout^T inp;  dbias (R) += sum_t dout.  Each may be null.
template <class Real>
void linear_backward(Real* dinp, Real* dW, Real* dbias, const Real* dout, const Real* inp,
                     const Real* W, int T, int R, int C);

// ---- norm.cpp -----------------------------------------------------------------------------
// Zero-centred RMSNorm per row of C: out = inp * (1 + g) / sqrt(mean(inp^2) + eps).
// out (rows, C) may alias inp (inference); rstd (rows) or null. Per token: rows = T, C = d.
// QK-norm: rows = T*NH, C = HS, one g (HS) shared by every head.
template <class Real>
void zcrmsnorm_forward_train(Real* out, Real* rstd, const Real* inp, const Real* g, int rows,
                             int C, double eps);
// dinp (rows, C), dg (C) (summed over every row, so over heads too for QK-norm).
template <class Real>
void zcrmsnorm_backward(Real* dinp, Real* dg, const Real* dout, const Real* inp, const Real* g,
                        const Real* rstd, int rows, int C);

// ---- rope.cpp -----------------------------------------------------------------------------
// Half-split rotary embedding in place on x (T, NH, HS); token t has position pos0 + t.
// cos, sin (max_pos, HS/2): the model's float tables (RopeTable).
template <class Real>
void rope_forward(Real* x, const float* cos, const float* sin, int T, int NH, int HS, int pos0);
// In place: dx (T, NH, HS) holds d(rotated x) on entry and d(x before rotation) on return
// (the transposed, i.e. inverse, rotation). The one kernel that does not accumulate.
template <class Real>
void rope_backward(Real* dx, const float* cos, const float* sin, int T, int NH, int HS, int pos0);

// ---- attention.cpp ------------------------------------------------------------------------
// Grouped-query attention: out (Tq, NH*HS) = softmax(q k^T / sqrt(HS) + mask) v per head;
// query head h reads kv head h / (NH/NKV). q (Tq, NH*HS), k and v (Tk, NKV*HS).
// key_valid (Tk) or null: 0 masks that key. causal_offset < 0: no causal mask; otherwise
// query i sees keys j <= i + causal_offset. block_prefix > 0 (the `catalog` encoder mask):
// query rows i < block_prefix see only keys j < block_prefix (the tool block, blind to the
// query after it); later rows see every key. Masked scores are set to the lowest finite value
// before the softmax (a query that sees no key at all averages every v uniformly).
// att (NH, Tq, Tk) or null: the softmax probabilities.
template <class Real>
void attention_forward_train(Real* out, Real* att, const Real* q, const Real* k, const Real* v,
                             int Tq, int Tk, int NH, int NKV, int HS, const uint8_t* key_valid,
                             int causal_offset, int block_prefix = 0);
// dq (Tq, NH*HS), dk and dv (Tk, NKV*HS); dk/dv sum over the query heads sharing a kv head.
// Masked scores are constants: they give q and k no gradient.
template <class Real>
void attention_backward(Real* dq, Real* dk, Real* dv, const Real* dout, const Real* att,
                        const Real* q, const Real* k, const Real* v, int Tq, int Tk, int NH,
                        int NKV, int HS, const uint8_t* key_valid, int causal_offset,
                        int block_prefix = 0);

// ---- residual.cpp -------------------------------------------------------------------------
// Gated residual, in place: x (T, C) += gate * y (T, C), gate = sigmoid(a) for the stored
// pre-sigmoid scalar a.
template <class Real>
void gated_residual_forward(Real* x, const Real* y, Real gate, int T, int C);
// dx (T, C) += dout (null when the caller keeps the residual-stream gradient in dout, since
// d(x)/d(x_out) is the identity; dx must not alias dout); dy (T, C) += gate * dout;
// da (1) += gate * (1 - gate) * sum(dout * y), the gradient of the pre-sigmoid scalar.
template <class Real>
void gated_residual_backward(Real* dx, Real* dy, Real* da, const Real* dout, const Real* y,
                             Real gate, int T, int C);

// ---- embedding.cpp ------------------------------------------------------------------------
// out (T, C) = E[ids[t]] * sqrt(C);  ids (T) in [0, V) (the caller checks), E (V, C).
// The tied output projection logits = h E^T is linear_forward with W = E (R = V).
template <class Real>
void embedding_forward(Real* out, const int32_t* ids, const Real* E, int T, int C);
// dE (V, C): rows ids[t] += dout[t] * sqrt(C) (repeated ids add up).
template <class Real>
void embedding_backward(Real* dE, const Real* dout, const int32_t* ids, int T, int C);

// ---- ffn.cpp ------------------------------------------------------------------------------
// out (T, C) = act(h Wg^T, h Wu^T) Wd^T;  Wg, Wu (DFF, C), Wd (C, DFF), no biases.
// act: drelu relu(g)*relu(u), swiglu silu(g)*u, geglu gelu_tanh(g)*u (kNone: zeros).
// Caches: pre_g, pre_u (T, DFF) the two projections, a (T, DFF) the activation (the down
// projection's input). a may alias pre_g when the caches are not kept (inference).
template <class Real>
void ffn_forward_train(Real* out, Real* pre_g, Real* pre_u, Real* a, const Real* h,
                       const Real* Wg, const Real* Wu, const Real* Wd, int T, int C, int DFF,
                       FfnActivation act);
// dh (T, C), dWg, dWu (DFF, C), dWd (C, DFF).
template <class Real>
void ffn_backward(Real* dh, Real* dWg, Real* dWu, Real* dWd, const Real* dout, const Real* pre_g,
                  const Real* pre_u, const Real* a, const Real* h, const Real* Wg, const Real* Wu,
                  const Real* Wd, int T, int C, int DFF, FfnActivation act);

// ---- retrieval.cpp ------------------------------------------------------------------------
// Retrieval head over one encoder output enc (T, C):
//   pooled = mean of enc over positions with key_valid[t] != 0 (zeros when there are none),
//   hid = relu(pooled W1^T + b1), e = hid W2^T, out = e / sqrt(sum(e^2) + 1e-12).
// W1 (H, C), b1 (H), W2 (OC, H); H = C/4 and OC = contrastive dim in Needle.
// Caches: pooled (C), hid (H) after the relu, rnorm (1) = 1/sqrt(sum(e^2) + 1e-12).
template <class Real>
void retrieval_forward_train(Real* out, Real* pooled, Real* hid, Real* rnorm, const Real* enc,
                             const uint8_t* key_valid, const Real* W1, const Real* b1,
                             const Real* W2, int T, int C, int H, int OC);
// denc (T, C) (only valid rows get gradient), dW1 (H, C), db1 (H), dW2 (OC, H).
template <class Real>
void retrieval_backward(Real* denc, Real* dW1, Real* db1, Real* dW2, const Real* dout,
                        const Real* out, const Real* pooled, const Real* hid, const Real* rnorm,
                        const uint8_t* key_valid, const Real* W1, const Real* W2, int T, int C,
                        int H, int OC);

// ---- crossentropy.cpp ---------------------------------------------------------------------
// Softmax cross-entropy with per-token weights and z-loss, per token:
//   lse_t = log(sum_v exp(logits[t][v])),
//   losses[t] = w_t * (lse_t - logits[t][targets[t]] + z_coef * lse_t^2),
// 0 where targets[t] < 0 (ignored). weights (T) or null (all 1). The caller reduces, e.g.
// loss = sum(losses) / sum(w over non-ignored tokens). logits (T, V), targets (T), lse (T).
template <class Real>
void crossentropy_forward(Real* losses, Real* lse, const Real* logits, const int32_t* targets,
                          const Real* weights, int T, int V, double z_coef);
// dlogits (T, V) += dlosses[t] * w_t * (p - onehot(target) + 2 z_coef lse_t p),
// p = exp(logits - lse); ignored tokens get nothing. dlosses (T): d(loss)/d(losses[t]).
template <class Real>
void crossentropy_backward(Real* dlogits, const Real* dlosses, const Real* logits,
                           const Real* lse, const int32_t* targets, const Real* weights, int T,
                           int V, double z_coef);

}  // namespace np
