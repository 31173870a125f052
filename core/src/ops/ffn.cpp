// ffn.cpp — the optional feed-forward block: FFN(h) = act(h Wg, h Wu) Wd, no biases.
// drelu: relu(g)*relu(u) (the config default); swiglu: silu(g)*u; geglu: gelu(g)*u with
// the tanh approximation of GELU (jax.nn.gelu's default, which Needle's Flax code uses).
#include <cmath>
#include <vector>

#include "ops/ops.h"

namespace np {

float gelu_tanh(float x) {
  const float k = 0.7978845608028654f;  // sqrt(2/pi)
  return 0.5f * x * (1.0f + std::tanh(k * (x + 0.044715f * x * x * x)));
}

void ffn_forward(float* out, const float* h, const FeedForwardWeights& w, FfnActivation act,
                 int T, int C, int DFF) {
  std::vector<float> g(static_cast<size_t>(T) * DFF), u(static_cast<size_t>(T) * DFF);
  linear_forward(g.data(), h, w.w_gate, T);
  linear_forward(u.data(), h, w.w_up, T);
  for (size_t i = 0; i < g.size(); ++i) {
    const float a = g[i], b = u[i];
    switch (act) {
      case FfnActivation::kDRelu: g[i] = (a > 0 ? a : 0.0f) * (b > 0 ? b : 0.0f); break;
      case FfnActivation::kSwiGlu: g[i] = a / (1.0f + std::exp(-a)) * b; break;
      case FfnActivation::kGeGlu: g[i] = gelu_tanh(a) * b; break;
      case FfnActivation::kNone: g[i] = 0.0f; break;
    }
  }
  linear_forward(out, g.data(), w.w_down, T);
}

}  // namespace np
