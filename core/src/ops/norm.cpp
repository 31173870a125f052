// norm.cpp — zero-centred RMSNorm: y = x * (1 + g) / sqrt(mean(x^2) + eps). Reference.
#include <cmath>

#include "ops/ops.h"

namespace np {

void zcrmsnorm_forward(float* out, const float* inp, const float* g, int rows, int C, float eps) {
  for (int r = 0; r < rows; ++r) {
    const float* x = inp + static_cast<int64_t>(r) * C;
    float* y = out + static_cast<int64_t>(r) * C;
    double ss = 0.0;
    for (int c = 0; c < C; ++c) ss += static_cast<double>(x[c]) * x[c];
    const float rstd = static_cast<float>(1.0 / std::sqrt(ss / C + eps));
    for (int c = 0; c < C; ++c) y[c] = x[c] * rstd * (1.0f + g[c]);
  }
}

}  // namespace np
