// contrastive.cpp — the CLIP-style contrastive loss over a batch of (query, tool) embedding
// pairs, forward and backward (kernels_contrastive.h), and the clamped temperature.
// Reference loops; N is a batch size (tens), so the (N, N) work is negligible next to the
// encoder. Every sum is taken in double in both instantiations.
#include <algorithm>
#include <cmath>
#include <vector>

#include "ops/kernels_contrastive.h"

namespace np {

double clip_logit_scale(double log_temp) {
  return std::exp(std::min(std::max(log_temp, kClipLogTempMin), kClipLogTempMax));
}

bool clip_log_temp_in_range(double log_temp) {
  return log_temp >= kClipLogTempMin && log_temp <= kClipLogTempMax;
}

template <class Real>
void clip_loss_forward(Real* loss, Real* sim, Real* lse_row, Real* lse_col, const Real* q,
                       const Real* t, Real log_temp, int N, int D) {
  const double scale = clip_logit_scale(static_cast<double>(log_temp));
  // sim = q t^T
  for (int i = 0; i < N; ++i)
    for (int j = 0; j < N; ++j) {
      const Real* qi = q + static_cast<int64_t>(i) * D;
      const Real* tj = t + static_cast<int64_t>(j) * D;
      double s = 0.0;
      for (int c = 0; c < D; ++c) s += static_cast<double>(qi[c]) * tj[c];
      sim[static_cast<int64_t>(i) * N + j] = static_cast<Real>(s);
    }
  // logsumexp of scale * sim along rows and along columns
  auto logit = [&](int i, int j) { return scale * static_cast<double>(sim[static_cast<int64_t>(i) * N + j]); };
  double total = 0.0;
  for (int i = 0; i < N; ++i) {
    double mr = -INFINITY, mc = -INFINITY;
    for (int j = 0; j < N; ++j) {
      mr = std::max(mr, logit(i, j));
      mc = std::max(mc, logit(j, i));
    }
    double sr = 0.0, sc = 0.0;
    for (int j = 0; j < N; ++j) {
      sr += std::exp(logit(i, j) - mr);
      sc += std::exp(logit(j, i) - mc);
    }
    const double lr = mr + std::log(sr), lc = mc + std::log(sc);
    lse_row[i] = static_cast<Real>(lr);
    lse_col[i] = static_cast<Real>(lc);
    total += (lr - logit(i, i)) + (lc - logit(i, i));
  }
  *loss = static_cast<Real>(total / (2.0 * N));
}

template <class Real>
void clip_loss_backward(Real* dq, Real* dt, Real* dlog_temp, Real dloss, const Real* sim,
                        const Real* lse_row, const Real* lse_col, const Real* q, const Real* t,
                        Real log_temp, int N, int D) {
  const double scale = clip_logit_scale(static_cast<double>(log_temp));
  // forward: loss = (sum_i CE(row i, i) + sum_j CE(column j, j)) / 2N over logits = scale * sim
  const double k = static_cast<double>(dloss) / (2.0 * N);
  std::vector<double> dlogits(static_cast<size_t>(N) * N);
  double dscale = 0.0;
  for (int i = 0; i < N; ++i)
    for (int j = 0; j < N; ++j) {
      const int64_t ij = static_cast<int64_t>(i) * N + j;
      const double l = scale * static_cast<double>(sim[ij]);
      const double pr = std::exp(l - static_cast<double>(lse_row[i]));
      const double pc = std::exp(l - static_cast<double>(lse_col[j]));
      const double g = k * (pr + pc - (i == j ? 2.0 : 0.0));
      dlogits[ij] = g;
      dscale += g * static_cast<double>(sim[ij]);  // logits = scale * sim
    }
  // forward: sim = q t^T, logits = scale * sim
  if (dq)
    for (int i = 0; i < N; ++i)
      for (int c = 0; c < D; ++c) {
        double s = 0.0;
        for (int j = 0; j < N; ++j) s += dlogits[static_cast<int64_t>(i) * N + j] * t[static_cast<int64_t>(j) * D + c];
        dq[static_cast<int64_t>(i) * D + c] += static_cast<Real>(scale * s);
      }
  if (dt)
    for (int j = 0; j < N; ++j)
      for (int c = 0; c < D; ++c) {
        double s = 0.0;
        for (int i = 0; i < N; ++i) s += dlogits[static_cast<int64_t>(i) * N + j] * q[static_cast<int64_t>(i) * D + c];
        dt[static_cast<int64_t>(j) * D + c] += static_cast<Real>(scale * s);
      }
  // forward: scale = exp(clamp(log_temp, min, max)); the clamp passes gradient inside its range
  if (dlog_temp && clip_log_temp_in_range(static_cast<double>(log_temp)))
    *dlog_temp += static_cast<Real>(scale * dscale);
}

template void clip_loss_forward<float>(float*, float*, float*, float*, const float*, const float*, float, int, int);
template void clip_loss_forward<double>(double*, double*, double*, double*, const double*, const double*, double, int, int);
template void clip_loss_backward<float>(float*, float*, float*, float, const float*, const float*, const float*, const float*, const float*, float, int, int);
template void clip_loss_backward<double>(double*, double*, double*, double, const double*, const double*, const double*, const double*, const double*, double, int, int);

}  // namespace np
