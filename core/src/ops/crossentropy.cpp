// crossentropy.cpp — softmax cross-entropy over the vocabulary with per-token weights,
// ignored targets (< 0) and a z-loss (z_coef * logsumexp^2), forward and backward
// (kernels.h). The forward keeps logsumexp per token (not the (T, V) probabilities); the
// backward recomputes p = exp(logits - lse). Reference loops, sums in double; tokens are
// split across threads (each row's arithmetic is the same whatever the split).
#include <algorithm>
#include <cmath>

#include "np/threads.h"
#include "ops/kernels.h"

namespace np {

template <class Real>
void crossentropy_forward(Real* losses, Real* lse, const Real* logits, const int32_t* targets,
                          const Real* weights, int T, int V, double z_coef) {
  parallel_for(T, std::max(1, 32768 / std::max(1, V)), [&](int64_t t0, int64_t t1) {
    for (int64_t t = t0; t < t1; ++t) {
      const Real* row = logits + static_cast<int64_t>(t) * V;
      double maxv = row[0];
      for (int v = 1; v < V; ++v) maxv = row[v] > maxv ? row[v] : maxv;
      double sum = 0.0;
      for (int v = 0; v < V; ++v) sum += std::exp(row[v] - maxv);
      const double l = maxv + std::log(sum);
      lse[t] = static_cast<Real>(l);
      if (targets[t] < 0) {
        losses[t] = 0;
        continue;
      }
      const double w = weights ? weights[t] : 1.0;
      losses[t] = static_cast<Real>(w * (l - row[targets[t]] + z_coef * l * l));
    }
  });
}

template <class Real>
void crossentropy_backward(Real* dlogits, const Real* dlosses, const Real* logits,
                           const Real* lse, const int32_t* targets, const Real* weights, int T,
                           int V, double z_coef) {
  // forward: loss_t = w_t (lse_t - logits[t][target] + z lse_t^2), d lse_t / d logits[t][v] = p_v
  parallel_for(T, std::max(1, 32768 / std::max(1, V)), [&](int64_t t0, int64_t t1) {
    for (int64_t t = t0; t < t1; ++t) {
      if (targets[t] < 0) continue;
      const Real* row = logits + static_cast<int64_t>(t) * V;
      Real* drow = dlogits + static_cast<int64_t>(t) * V;
      const double l = lse[t];
      const double scale = static_cast<double>(dlosses[t]) * (weights ? weights[t] : 1.0);
      const double zfac = 1.0 + 2.0 * z_coef * l;
      for (int v = 0; v < V; ++v) {
        const double p = std::exp(row[v] - l);
        drow[v] += static_cast<Real>(scale * (p * zfac - (v == targets[t] ? 1.0 : 0.0)));
      }
    }
  });
}

template void crossentropy_forward<float>(float*, float*, const float*, const int32_t*, const float*, int, int, double);
template void crossentropy_forward<double>(double*, double*, const double*, const int32_t*, const double*, int, int, double);
template void crossentropy_backward<float>(float*, const float*, const float*, const float*, const int32_t*, const float*, int, int, double);
template void crossentropy_backward<double>(double*, const double*, const double*, const double*, const int32_t*, const double*, int, int, double);

}  // namespace np
