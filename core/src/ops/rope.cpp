// rope.cpp — half-split rotary position embedding: the tables, forward and backward
// (kernels.h) and the float inference forward (ops.h). Reference.
// rope(x) = [x1*cos - x2*sin, x2*cos + x1*sin], x1/x2 the first/second half of a head;
// angle for pair i at position t is t / theta^(2i/HS). Angles are computed in double.
#include <cmath>

#include "ops/kernels.h"
#include "ops/ops.h"

namespace np {

void RopeTable::init(int32_t max_positions, int32_t head_dim, float theta) {
  max_pos = max_positions;
  half = head_dim / 2;
  cos.assign(static_cast<size_t>(max_pos) * half, 0.0f);
  sin.assign(static_cast<size_t>(max_pos) * half, 0.0f);
  for (int32_t t = 0; t < max_pos; ++t)
    for (int32_t i = 0; i < half; ++i) {
      const double inv_freq = std::pow(static_cast<double>(theta), -2.0 * i / head_dim);
      const double angle = t * inv_freq;
      cos[static_cast<size_t>(t) * half + i] = static_cast<float>(std::cos(angle));
      sin[static_cast<size_t>(t) * half + i] = static_cast<float>(std::sin(angle));
    }
}

template <class Real>
void rope_forward(Real* x, const float* cos, const float* sin, int T, int NH, int HS, int pos0) {
  const int half = HS / 2;
  for (int t = 0; t < T; ++t) {
    const float* c = cos + static_cast<size_t>(pos0 + t) * half;
    const float* s = sin + static_cast<size_t>(pos0 + t) * half;
    for (int h = 0; h < NH; ++h) {
      Real* v = x + (static_cast<int64_t>(t) * NH + h) * HS;
      for (int i = 0; i < half; ++i) {
        const Real x1 = v[i], x2 = v[i + half];
        v[i] = x1 * c[i] - x2 * s[i];
        v[i + half] = x2 * c[i] + x1 * s[i];
      }
    }
  }
}

template <class Real>
void rope_backward(Real* dx, const float* cos, const float* sin, int T, int NH, int HS, int pos0) {
  // forward: y1 = x1 c - x2 s, y2 = x2 c + x1 s, so dx1 = dy1 c + dy2 s, dx2 = dy2 c - dy1 s
  // (the transpose of the rotation: exact even though the float tables make c^2 + s^2 != 1).
  const int half = HS / 2;
  for (int t = 0; t < T; ++t) {
    const float* c = cos + static_cast<size_t>(pos0 + t) * half;
    const float* s = sin + static_cast<size_t>(pos0 + t) * half;
    for (int h = 0; h < NH; ++h) {
      Real* d = dx + (static_cast<int64_t>(t) * NH + h) * HS;
      for (int i = 0; i < half; ++i) {
        const Real dy1 = d[i], dy2 = d[i + half];
        d[i] = dy1 * c[i] + dy2 * s[i];
        d[i + half] = dy2 * c[i] - dy1 * s[i];
      }
    }
  }
}

template void rope_forward<float>(float*, const float*, const float*, int, int, int, int);
template void rope_forward<double>(double*, const float*, const float*, int, int, int, int);
template void rope_backward<float>(float*, const float*, const float*, int, int, int, int);
template void rope_backward<double>(double*, const float*, const float*, int, int, int, int);

// ---- float inference API (ops.h) ----

void rope_forward(float* x, const RopeTable& rope, int T, int NH, int HS, int pos0) {
  rope_forward<float>(x, rope.cos.data(), rope.sin.data(), T, NH, HS, pos0);
}

}  // namespace np
