// norm.cpp — zero-centred RMSNorm: y = x * (1 + g) / sqrt(mean(x^2) + eps), forward and
// backward (kernels.h) and the float inference forward (ops.h). Reference; the sum of
// squares is accumulated in double whatever the scalar type (in eight partial sums). Rows are split across threads
// (except the dg sum over rows, which stays one ordered loop), so results do not depend on
// the thread count.
#include <algorithm>
#include <cmath>

#include <type_traits>

#include "np/threads.h"
#include "ops/kernels.h"
#include "ops/ops.h"
#include "ops/simd128.h"

namespace np {

template <class Real>
void zcrmsnorm_forward_train(Real* out, Real* rstd, const Real* inp, const Real* g, int rows,
                             int C, double eps) {
  parallel_for(rows, std::max(1, 16384 / std::max(1, C)), [&](int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; ++r) {
      const Real* x = inp + static_cast<int64_t>(r) * C;
      Real* y = out + static_cast<int64_t>(r) * C;
      // Eight interleaved partial sums (one chain of dependent double adds ran at a few
      // values per cycle: 5% of a native encoder pass), added in a fixed order.
      double part[8] = {0, 0, 0, 0, 0, 0, 0, 0};
      int c = 0;
#if defined(NP_SIMD128)
      if constexpr (std::is_same_v<Real, float>) {
        // The same eight sums in f64x2 lanes (WebAssembly: the scalar loop stayed scalar, and a
        // decoder step normalises 17 rows): a float squared in double is exact either way.
        v128_t a[4] = {wasm_f64x2_splat(0.0), wasm_f64x2_splat(0.0), wasm_f64x2_splat(0.0), wasm_f64x2_splat(0.0)};
        for (; c + 8 <= C; c += 8) {
          const v128_t lo = wasm_v128_load(x + c), hi = wasm_v128_load(x + c + 4);
          const v128_t d[4] = {wasm_f64x2_promote_low_f32x4(lo), wasm_f64x2_promote_low_f32x4(wasm_i32x4_shuffle(lo, lo, 2, 3, 2, 3)),
                               wasm_f64x2_promote_low_f32x4(hi), wasm_f64x2_promote_low_f32x4(wasm_i32x4_shuffle(hi, hi, 2, 3, 2, 3))};
          for (int k = 0; k < 4; ++k) a[k] = wasm_f64x2_add(a[k], wasm_f64x2_mul(d[k], d[k]));
        }
        for (int k = 0; k < 4; ++k) {
          part[2 * k] = wasm_f64x2_extract_lane(a[k], 0);
          part[2 * k + 1] = wasm_f64x2_extract_lane(a[k], 1);
        }
      }
#endif
      for (; c + 8 <= C; c += 8)
        for (int k = 0; k < 8; ++k) part[k] += static_cast<double>(x[c + k]) * x[c + k];
      double ss = ((part[0] + part[1]) + (part[2] + part[3])) + ((part[4] + part[5]) + (part[6] + part[7]));
      for (; c < C; ++c) ss += static_cast<double>(x[c]) * x[c];
      const Real rs = static_cast<Real>(1.0 / std::sqrt(ss / C + eps));
      if (rstd) rstd[r] = rs;
      int k = 0;
#if defined(NP_SIMD128)
      if constexpr (std::is_same_v<Real, float>) {
        const v128_t vr = wasm_f32x4_splat(rs), one = wasm_f32x4_splat(1.0f);
        for (; k + 4 <= C; k += 4)
          wasm_v128_store(y + k, wasm_f32x4_mul(wasm_f32x4_mul(wasm_v128_load(x + k), vr), wasm_f32x4_add(one, wasm_v128_load(g + k))));
      }
#endif
      for (; k < C; ++k) y[k] = x[k] * rs * (1 + g[k]);
    }
  });
}

template <class Real>
void zcrmsnorm_backward(Real* dinp, Real* dg, const Real* dout, const Real* inp, const Real* g,
                        const Real* rstd, int rows, int C) {
  // forward: y[c] = x[c] * rs * (1 + g[c]), rs = (sum_k x[k]^2 / C + eps)^(-1/2),
  // so d rs / d x[c] = -rs^3 x[c] / C and
  //   dx[c] = rs (1 + g[c]) dy[c] - rs^3 x[c] / C * sum_k dy[k] (1 + g[k]) x[k].
  if (dinp)
    parallel_for(rows, std::max(1, 16384 / std::max(1, C)), [&](int64_t r0, int64_t r1) {
      for (int64_t r = r0; r < r1; ++r) {
        const Real* x = inp + r * C;
        const Real* dy = dout + r * C;
        const Real rs = rstd[r];
        Real dot = 0;
        for (int c = 0; c < C; ++c) dot += dy[c] * (1 + g[c]) * x[c];
        const Real k = rs * rs * rs * dot / C;
        Real* dx = dinp + r * C;
        for (int c = 0; c < C; ++c) dx[c] += rs * (1 + g[c]) * dy[c] - k * x[c];
      }
    });
  if (dg)
    for (int r = 0; r < rows; ++r) {
      const Real* x = inp + static_cast<int64_t>(r) * C;
      const Real* dy = dout + static_cast<int64_t>(r) * C;
      const Real rs = rstd[r];
      for (int c = 0; c < C; ++c) dg[c] += dy[c] * x[c] * rs;
    }
}

template void zcrmsnorm_forward_train<float>(float*, float*, const float*, const float*, int, int, double);
template void zcrmsnorm_forward_train<double>(double*, double*, const double*, const double*, int, int, double);
template void zcrmsnorm_backward<float>(float*, float*, const float*, const float*, const float*, const float*, int, int);
template void zcrmsnorm_backward<double>(double*, double*, const double*, const double*, const double*, const double*, int, int);

// ---- float inference API (ops.h) ----

void zcrmsnorm_forward(float* out, const float* inp, const float* g, int rows, int C, float eps) {
  zcrmsnorm_forward_train<float>(out, nullptr, inp, g, rows, C, eps);
}

}  // namespace np
