// embedding.cpp — token embedding lookup scaled by sqrt(C), forward and backward
// (kernels.h). The tied output projection (logits = h E^T) is linear_forward/_backward with
// W = E, so dE gathers from both. Reference.
#include <cmath>

#include "ops/kernels.h"

namespace np {

template <class Real>
void embedding_forward(Real* out, const int32_t* ids, const Real* E, int T, int C) {
  const Real scale = std::sqrt(static_cast<Real>(C));
  for (int t = 0; t < T; ++t) {
    const Real* row = E + static_cast<int64_t>(ids[t]) * C;
    Real* o = out + static_cast<int64_t>(t) * C;
    for (int c = 0; c < C; ++c) o[c] = row[c] * scale;
  }
}

template <class Real>
void embedding_backward(Real* dE, const Real* dout, const int32_t* ids, int T, int C) {
  // forward: out[t][c] = E[ids[t]][c] * sqrt(C)
  const Real scale = std::sqrt(static_cast<Real>(C));
  for (int t = 0; t < T; ++t) {
    Real* row = dE + static_cast<int64_t>(ids[t]) * C;
    const Real* d = dout + static_cast<int64_t>(t) * C;
    for (int c = 0; c < C; ++c) row[c] += d[c] * scale;
  }
}

template void embedding_forward<float>(float*, const int32_t*, const float*, int, int);
template void embedding_forward<double>(double*, const int32_t*, const double*, int, int);
template void embedding_backward<float>(float*, const float*, const int32_t*, int, int);
template void embedding_backward<double>(double*, const double*, const int32_t*, int, int);

}  // namespace np
