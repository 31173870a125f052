// linear.cpp — y = x W^T for W stored (out, in) row-major: the reference kernel.
// Reference loops with several accumulators so the compiler can vectorise the dot
// product; no intrinsics (those arrive with the speed work, dispatched from here).
#include <algorithm>

#include "np/threads.h"
#include "ops/ops.h"

namespace np {

namespace {

// dot of two length-n vectors with 16 independent partial sums (fixed order, so the
// result is reproducible for a given n).
float dot_ref(const float* a, const float* b, int64_t n) {
  float acc[16] = {0};
  int64_t i = 0;
  for (; i + 16 <= n; i += 16)
    for (int j = 0; j < 16; ++j) acc[j] += a[i + j] * b[i + j];
  float tail = 0.0f;
  for (; i < n; ++i) tail += a[i] * b[i];
  for (int j = 0; j < 8; ++j) acc[j] += acc[j + 8];
  for (int j = 0; j < 4; ++j) acc[j] += acc[j + 4];
  return (acc[0] + acc[2]) + (acc[1] + acc[3]) + tail;
}

}  // namespace

void linear_forward(float* out, const float* inp, const Matrix& W, int T) {
  const int64_t R = W.rows, C = W.cols;
  constexpr int64_t kRowBlock = 64;  // rows of W kept hot in cache across the tokens
  // Rows are split across threads; each output is the same dot product whatever the split.
  const int64_t min_rows = std::max<int64_t>(1, 65536 / std::max<int64_t>(1, C * T));
  parallel_for(R, min_rows, [&](int64_t rb, int64_t re) {
    for (int64_t r0 = rb; r0 < re; r0 += kRowBlock) {
      const int64_t r1 = std::min(r0 + kRowBlock, re);
      for (int t = 0; t < T; ++t) {
        const float* x = inp + static_cast<int64_t>(t) * C;
        float* y = out + static_cast<int64_t>(t) * R;
        for (int64_t r = r0; r < r1; ++r) y[r] = dot_ref(x, W.f32 + r * C, C);
      }
    }
  });
}

void add_bias(float* out, const float* bias, int T, int R) {
  for (int t = 0; t < T; ++t)
    for (int r = 0; r < R; ++r) out[static_cast<int64_t>(t) * R + r] += bias[r];
}

}  // namespace np
