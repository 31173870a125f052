// retrieval.cpp — the contrastive tool-retrieval head, forward and backward (kernels.h):
// mean-pool the encoder output over non-pad positions, relu(W1 p + b1), W2, L2-normalise
// (1e-12 inside the square root). Reference; the pooled sums and the squared norm are
// accumulated in double, as Model::embed does, so the float forward gives its results.
#include <cmath>
#include <vector>

#include "ops/kernels.h"

namespace np {

namespace {
constexpr double kNormEps = 1e-12;  // inside the square root, as in Needle's Flax head
}  // namespace

template <class Real>
void retrieval_forward_train(Real* out, Real* pooled, Real* hid, Real* rnorm, const Real* enc,
                             const uint8_t* key_valid, const Real* W1, const Real* b1,
                             const Real* W2, int T, int C, int H, int OC) {
  std::vector<double> acc(static_cast<size_t>(C), 0.0);
  int n = 0;
  for (int t = 0; t < T; ++t) {
    if (!key_valid[t]) continue;
    ++n;
    for (int c = 0; c < C; ++c) acc[c] += enc[static_cast<int64_t>(t) * C + c];
  }
  for (int c = 0; c < C; ++c) pooled[c] = n > 0 ? static_cast<Real>(acc[c] / n) : Real(0);
  linear_forward<Real>(hid, pooled, W1, b1, 1, H, C);
  for (int i = 0; i < H; ++i) hid[i] = hid[i] > 0 ? hid[i] : Real(0);
  linear_forward<Real>(out, hid, W2, nullptr, 1, OC, H);
  double ss = 0.0;
  for (int i = 0; i < OC; ++i) ss += static_cast<double>(out[i]) * out[i];
  const Real rs = static_cast<Real>(1.0 / std::sqrt(ss + kNormEps));
  for (int i = 0; i < OC; ++i) out[i] *= rs;
  *rnorm = rs;
}

template <class Real>
void retrieval_backward(Real* denc, Real* dW1, Real* db1, Real* dW2, const Real* dout,
                        const Real* out, const Real* pooled, const Real* hid, const Real* rnorm,
                        const uint8_t* key_valid, const Real* W1, const Real* W2, int T, int C,
                        int H, int OC) {
  // forward: out = e * rs, rs = (sum(e^2) + eps)^(-1/2), so de = rs (dout - out (out . dout))
  const Real rs = *rnorm;
  Real od = 0;
  for (int i = 0; i < OC; ++i) od += out[i] * dout[i];
  std::vector<Real> de(static_cast<size_t>(OC)), dhid(static_cast<size_t>(H), Real(0)),
      dpooled(static_cast<size_t>(C), Real(0));
  for (int i = 0; i < OC; ++i) de[i] = rs * (dout[i] - out[i] * od);
  // forward: e = hid W2^T
  linear_backward<Real>(dhid.data(), dW2, nullptr, de.data(), hid, W2, 1, OC, H);
  // forward: hid = relu(pooled W1^T + b1)
  for (int i = 0; i < H; ++i)
    if (!(hid[i] > 0)) dhid[i] = 0;
  linear_backward<Real>(dpooled.data(), dW1, db1, dhid.data(), pooled, W1, 1, H, C);
  // forward: pooled = sum over valid t of enc[t] / n
  if (!denc) return;
  int n = 0;
  for (int t = 0; t < T; ++t) n += key_valid[t] ? 1 : 0;
  if (n == 0) return;
  for (int t = 0; t < T; ++t) {
    if (!key_valid[t]) continue;
    Real* d = denc + static_cast<int64_t>(t) * C;
    for (int c = 0; c < C; ++c) d[c] += dpooled[c] / static_cast<Real>(n);
  }
}

template void retrieval_forward_train<float>(float*, float*, float*, float*, const float*, const uint8_t*, const float*, const float*, const float*, int, int, int, int);
template void retrieval_forward_train<double>(double*, double*, double*, double*, const double*, const uint8_t*, const double*, const double*, const double*, int, int, int, int);
template void retrieval_backward<float>(float*, float*, float*, float*, const float*, const float*, const float*, const float*, const float*, const uint8_t*, const float*, const float*, int, int, int, int);
template void retrieval_backward<double>(double*, double*, double*, double*, const double*, const double*, const double*, const double*, const double*, const uint8_t*, const double*, const double*, int, int, int, int);

}  // namespace np
