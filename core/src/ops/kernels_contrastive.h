// kernels_contrastive.h — the CLIP-style contrastive loss over N (query, tool) pairs of
// retrieval-head embeddings, forward and backward, generic over the scalar type like the
// kernels of kernels.h (same conventions: outputs, caches, inputs, weights, dims; backward
// ADDS into every gradient). The embeddings themselves come from retrieval_forward_train
// (kernels.h). Definitions: contrastive.cpp. Checked against finite differences in double by
// tests/core/test_contrastive.cpp.
//
// Temperature: the stored scalar log_temp is the log of the logit scale (Needle initialises
// it to log(1/0.07)). The scale used is exp(clamp(log_temp, 0, ln 100)), i.e. within
// [1, 100] as CLIP (whose scale is capped at 100) and OpenCLIP (clamp to [0, ln 100]) keep it;
// log_temp gets gradient only inside the range, bounds included (torch.clamp's rule).
#pragma once

namespace np {

constexpr double kClipLogTempMin = 0.0;                 // scale >= 1
constexpr double kClipLogTempMax = 4.605170185988092;   // ln(100): scale <= 100, as CLIP

// exp(clamp(log_temp, kClipLogTempMin, kClipLogTempMax)).
double clip_logit_scale(double log_temp);
// Whether log_temp is inside [kClipLogTempMin, kClipLogTempMax] (it then gets gradient).
bool clip_log_temp_in_range(double log_temp);

// q, t (N, D): row i of q is query i's embedding, row i of t its positive tool's.
//   sim (N, N) = q t^T,  logits = scale * sim,  scale = clip_logit_scale(log_temp),
//   loss = (sum_i [lse_row_i - logits[i][i]] + sum_j [lse_col_j - logits[j][j]]) / (2 N),
// lse_row_i = logsumexp_j logits[i][j] (query i against every tool), lse_col_j =
// logsumexp_i logits[i][j] (tool j against every query). Caches: sim (N, N), lse_row (N),
// lse_col (N). Dot products and log-sum-exps are accumulated in double. N >= 1.
template <class Real>
void clip_loss_forward(Real* loss, Real* sim, Real* lse_row, Real* lse_col, const Real* q,
                       const Real* t, Real log_temp, int N, int D);
// dloss: d(total)/d(loss). dq, dt (N, D) and dlog_temp (1) += their gradients (each may be
// null). With p_row[i][j] = exp(logits[i][j] - lse_row_i), p_col likewise over i:
//   dlogits[i][j] = dloss / (2N) * (p_row[i][j] + p_col[i][j] - 2 [i == j]),
//   dq_i = scale * sum_j dlogits[i][j] t_j,  dt_j = scale * sum_i dlogits[i][j] q_i,
//   dlog_temp = scale * sum_ij dlogits[i][j] sim[i][j]  (0 outside the clamp range).
template <class Real>
void clip_loss_backward(Real* dq, Real* dt, Real* dlog_temp, Real dloss, const Real* sim,
                        const Real* lse_row, const Real* lse_col, const Real* q, const Real* t,
                        Real log_temp, int N, int D);

}  // namespace np
