// residual.cpp — the gated residual x = x + sigmoid(a) * y, forward and backward
// (kernels.h). Reference.
#include "ops/kernels.h"

namespace np {

template <class Real>
void gated_residual_forward(Real* x, const Real* y, Real gate, int T, int C) {
  const int64_t n = static_cast<int64_t>(T) * C;
  for (int64_t i = 0; i < n; ++i) x[i] += gate * y[i];
}

template <class Real>
void gated_residual_backward(Real* dx, Real* dy, Real* da, const Real* dout, const Real* y,
                             Real gate, int T, int C) {
  // forward: x_out = x + s y with s = sigmoid(a), ds/da = s (1 - s)
  const int64_t n = static_cast<int64_t>(T) * C;
  double dot = 0.0;  // sum(dout * y)
  for (int64_t i = 0; i < n; ++i) {
    if (dx) dx[i] += dout[i];
    if (dy) dy[i] += gate * dout[i];
    dot += static_cast<double>(dout[i]) * y[i];
  }
  if (da) *da += static_cast<Real>(gate * (1 - gate) * dot);
}

template void gated_residual_forward<float>(float*, const float*, float, int, int);
template void gated_residual_forward<double>(double*, const double*, double, int, int);
template void gated_residual_backward<float>(float*, float*, float*, const float*, const float*, float, int, int);
template void gated_residual_backward<double>(double*, double*, double*, const double*, const double*, double, int, int);

}  // namespace np
