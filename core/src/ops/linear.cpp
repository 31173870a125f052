// linear.cpp — y = x W^T for W stored (out, in) row-major: the forward/backward pair
// (kernels.h) and the Matrix-based float forward of inference (ops.h), which calls it.
// The double instantiation is the reference (plain loops, the specification); the float
// one dispatches every product to the packed GEMM of ops/gemm.h at the process's matmul
// precision (fp32 or bf16), threaded there.
#include <algorithm>
#include <type_traits>

#include "np/threads.h"
#include "ops/gemm.h"
#include "ops/kernels.h"
#include "ops/ops.h"

namespace np {

namespace {

// dot of two length-n vectors with 16 independent partial sums (fixed order, so the
// result is reproducible for a given n). Shared by both linear forwards, so they agree
// bit for bit in float.
template <class Real>
Real dot_ref(const Real* a, const Real* b, int64_t n) {
  Real acc[16] = {0};
  int64_t i = 0;
  for (; i + 16 <= n; i += 16)
    for (int j = 0; j < 16; ++j) acc[j] += a[i + j] * b[i + j];
  Real tail = 0;
  for (; i < n; ++i) tail += a[i] * b[i];
  for (int j = 0; j < 8; ++j) acc[j] += acc[j + 8];
  for (int j = 0; j < 4; ++j) acc[j] += acc[j + 4];
  return (acc[0] + acc[2]) + (acc[1] + acc[3]) + tail;
}

}  // namespace

template <class Real>
void linear_forward(Real* out, const Real* inp, const Real* W, const Real* bias, int T, int R, int C) {
  if constexpr (std::is_same_v<Real, float>) {
    // out (T, R) = inp (T, C) @ W^T, W^T viewed as (C, R) with strides (1, C)
    gemm(T, R, C, {inp, C, 1}, {W, 1, C}, out, R, false, gemm_precision());
    if (bias)
      for (int t = 0; t < T; ++t)
        for (int r = 0; r < R; ++r) out[static_cast<int64_t>(t) * R + r] += bias[r];
    return;
  }
  constexpr int64_t kRowBlock = 64;  // rows of W kept hot in cache across the tokens
  // Rows are split across threads; each output is the same dot product whatever the split.
  const int64_t min_rows = std::max<int64_t>(1, 65536 / std::max<int64_t>(1, static_cast<int64_t>(C) * T));
  parallel_for(R, min_rows, [&](int64_t rb, int64_t re) {
    for (int64_t r0 = rb; r0 < re; r0 += kRowBlock) {
      const int64_t r1 = std::min(r0 + kRowBlock, re);
      for (int t = 0; t < T; ++t) {
        const Real* x = inp + static_cast<int64_t>(t) * C;
        Real* y = out + static_cast<int64_t>(t) * R;
        for (int64_t r = r0; r < r1; ++r) {
          y[r] = dot_ref(x, W + r * C, C);
          if (bias) y[r] += bias[r];
        }
      }
    }
  });
}

template <class Real>
void linear_backward(Real* dinp, Real* dW, Real* dbias, const Real* dout, const Real* inp,
                     const Real* W, int T, int R, int C) {
  // forward: out[t][r] = sum_c inp[t][c] * W[r][c] + bias[r]
  if constexpr (std::is_same_v<Real, float>) {
    const MatmulPrecision prec = gemm_precision();
    // dinp (T, C) += dout (T, R) @ W (R, C)
    if (dinp) gemm(T, C, R, {dout, R, 1}, {W, C, 1}, dinp, C, true, prec);
    // dW (R, C) += dout^T (R, T) @ inp (T, C)
    if (dW) gemm(R, C, T, {dout, 1, R}, {inp, C, 1}, dW, C, true, prec);
    if (dbias)
      for (int t = 0; t < T; ++t)
        for (int r = 0; r < R; ++r) dbias[r] += dout[static_cast<int64_t>(t) * R + r];
    return;
  }
  const int64_t work = std::max<int64_t>(1, static_cast<int64_t>(R) * C);
  // dinp[t][c] += sum_r dout[t][r] * W[r][c]: tokens split across threads.
  if (dinp)
    parallel_for(T, std::max<int64_t>(1, 65536 / work), [&](int64_t t0, int64_t t1) {
      for (int64_t t = t0; t < t1; ++t) {
        const Real* dy = dout + t * R;
        Real* dx = dinp + t * C;
        for (int r = 0; r < R; ++r) {
          const Real d = dy[r];
          const Real* w = W + static_cast<int64_t>(r) * C;
          for (int c = 0; c < C; ++c) dx[c] += d * w[c];
        }
      }
    });
  // dW[r][c] += sum_t dout[t][r] * inp[t][c], dbias[r] += sum_t dout[t][r]: rows of W split.
  if (dW || dbias)
    parallel_for(R, std::max<int64_t>(1, 65536 / std::max<int64_t>(1, static_cast<int64_t>(T) * C)),
                 [&](int64_t r0, int64_t r1) {
      for (int64_t r = r0; r < r1; ++r) {
        Real* dw = dW ? dW + r * C : nullptr;
        for (int t = 0; t < T; ++t) {
          const Real d = dout[static_cast<int64_t>(t) * R + r];
          if (dbias) dbias[r] += d;
          if (!dw) continue;
          const Real* x = inp + static_cast<int64_t>(t) * C;
          for (int c = 0; c < C; ++c) dw[c] += d * x[c];
        }
      }
    });
}

template void linear_forward<float>(float*, const float*, const float*, const float*, int, int, int);
template void linear_forward<double>(double*, const double*, const double*, const double*, int, int, int);
template void linear_backward<float>(float*, float*, float*, const float*, const float*, const float*, int, int, int);
template void linear_backward<double>(double*, double*, double*, const double*, const double*, const double*, int, int, int);

// ---- float inference API (ops.h) ----

void linear_forward(float* out, const float* inp, const Matrix& W, int T) {
  linear_forward<float>(out, inp, W.f32, nullptr, T, static_cast<int>(W.rows), static_cast<int>(W.cols));
}

void add_bias(float* out, const float* bias, int T, int R) {
  for (int t = 0; t < T; ++t)
    for (int r = 0; r < R; ++r) out[static_cast<int64_t>(t) * R + r] += bias[r];
}

}  // namespace np
