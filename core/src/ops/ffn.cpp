// ffn.cpp — the optional feed-forward block: FFN(h) = act(h Wg, h Wu) Wd, no biases,
// forward and backward (kernels.h) and the float inference forward (ops.h).
// drelu: relu(g)*relu(u) (the config default); swiglu: silu(g)*u; geglu: gelu(g)*u with
// the tanh approximation of GELU (jax.nn.gelu's default, which Needle's Flax code uses).
// Reference.
#include <cmath>
#include <vector>

#include "ops/kernels.h"
#include "ops/ops.h"

namespace np {

namespace {

constexpr double kSqrt2OverPi = 0.7978845608028654;
constexpr double kGeluCubic = 0.044715;

template <class Real>
Real gelu_tanh_ref(Real x) {
  const Real k = static_cast<Real>(kSqrt2OverPi);
  return Real(0.5) * x * (Real(1) + std::tanh(k * (x + static_cast<Real>(kGeluCubic) * x * x * x)));
}

// d gelu_tanh / dx = 0.5 (1 + t) + 0.5 x (1 - t^2) k (1 + 3 c x^2), t = tanh(k (x + c x^3))
template <class Real>
Real gelu_tanh_grad(Real x) {
  const Real k = static_cast<Real>(kSqrt2OverPi), c = static_cast<Real>(kGeluCubic);
  const Real t = std::tanh(k * (x + c * x * x * x));
  return Real(0.5) * (Real(1) + t) + Real(0.5) * x * (Real(1) - t * t) * k * (Real(1) + 3 * c * x * x);
}

template <class Real>
Real ffn_act(FfnActivation act, Real g, Real u) {
  switch (act) {
    case FfnActivation::kDRelu: return (g > 0 ? g : Real(0)) * (u > 0 ? u : Real(0));
    case FfnActivation::kSwiGlu: return g / (Real(1) + std::exp(-g)) * u;
    case FfnActivation::kGeGlu: return gelu_tanh_ref(g) * u;
    case FfnActivation::kNone: break;
  }
  return 0;
}

}  // namespace

template <class Real>
void ffn_forward_train(Real* out, Real* pre_g, Real* pre_u, Real* a, const Real* h,
                       const Real* Wg, const Real* Wu, const Real* Wd, int T, int C, int DFF,
                       FfnActivation act) {
  const int64_t n = static_cast<int64_t>(T) * DFF;
  linear_forward<Real>(pre_g, h, Wg, nullptr, T, DFF, C);
  linear_forward<Real>(pre_u, h, Wu, nullptr, T, DFF, C);
  for (int64_t i = 0; i < n; ++i) a[i] = ffn_act(act, pre_g[i], pre_u[i]);
  linear_forward<Real>(out, a, Wd, nullptr, T, C, DFF);
}

template <class Real>
void ffn_backward(Real* dh, Real* dWg, Real* dWu, Real* dWd, const Real* dout, const Real* pre_g,
                  const Real* pre_u, const Real* a, const Real* h, const Real* Wg, const Real* Wu,
                  const Real* Wd, int T, int C, int DFF, FfnActivation act) {
  const int64_t n = static_cast<int64_t>(T) * DFF;
  // forward: out = a Wd^T
  std::vector<Real> da(static_cast<size_t>(n), Real(0)), dg(static_cast<size_t>(n)), du(static_cast<size_t>(n));
  linear_backward<Real>(da.data(), dWd, nullptr, dout, a, Wd, T, C, DFF);
  // forward: a = act(g, u)
  for (int64_t i = 0; i < n; ++i) {
    const Real g = pre_g[i], u = pre_u[i], d = da[i];
    switch (act) {
      case FfnActivation::kDRelu:  // relu(g) * relu(u)
        dg[i] = g > 0 && u > 0 ? d * u : Real(0);
        du[i] = g > 0 && u > 0 ? d * g : Real(0);
        break;
      case FfnActivation::kSwiGlu: {  // g sigmoid(g) * u
        const Real sg = Real(1) / (Real(1) + std::exp(-g));
        dg[i] = d * u * sg * (Real(1) + g * (Real(1) - sg));
        du[i] = d * g * sg;
        break;
      }
      case FfnActivation::kGeGlu:  // gelu_tanh(g) * u
        dg[i] = d * u * gelu_tanh_grad(g);
        du[i] = d * gelu_tanh_ref(g);
        break;
      case FfnActivation::kNone:
        dg[i] = du[i] = 0;
        break;
    }
  }
  // forward: pre_g = h Wg^T, pre_u = h Wu^T
  linear_backward<Real>(dh, dWg, nullptr, dg.data(), h, Wg, T, DFF, C);
  linear_backward<Real>(dh, dWu, nullptr, du.data(), h, Wu, T, DFF, C);
}

template void ffn_forward_train<float>(float*, float*, float*, float*, const float*, const float*, const float*, const float*, int, int, int, FfnActivation);
template void ffn_forward_train<double>(double*, double*, double*, double*, const double*, const double*, const double*, const double*, int, int, int, FfnActivation);
template void ffn_backward<float>(float*, float*, float*, float*, const float*, const float*, const float*, const float*, const float*, const float*, const float*, const float*, int, int, int, FfnActivation);
template void ffn_backward<double>(double*, double*, double*, double*, const double*, const double*, const double*, const double*, const double*, const double*, const double*, const double*, int, int, int, FfnActivation);

// ---- float inference API (ops.h) ----

float gelu_tanh(float x) { return gelu_tanh_ref(x); }

void ffn_forward(float* out, const float* h, const FeedForwardWeights& w, FfnActivation act,
                 int T, int C, int DFF) {
  (void)C;
  const int64_t n = static_cast<int64_t>(T) * DFF;
  std::vector<float> g(static_cast<size_t>(n)), u(static_cast<size_t>(n));
  // ffn_forward_train's products, through the Matrix API (weights in any storage)
  linear_forward(g.data(), h, w.w_gate, T);
  linear_forward(u.data(), h, w.w_up, T);
  for (int64_t i = 0; i < n; ++i) g[i] = ffn_act(act, g[i], u[i]);  // inference keeps no cache
  linear_forward(out, g.data(), w.w_down, T);
}

}  // namespace np
