// attention.cpp — grouped-query scaled dot-product attention with key and causal masks,
// and the gated residual. Reference.
#include <algorithm>
#include <cmath>
#include <limits>
#include <vector>

#include "np/threads.h"
#include "ops/ops.h"

namespace np {

void attention_forward(float* out, const float* q, const float* k, const float* v, int Tq,
                       int Tk, int NH, int NKV, int HS, const uint8_t* key_valid,
                       int causal_offset) {
  const int group = NH / NKV;
  const float scale = 1.0f / std::sqrt(static_cast<float>(HS));
  const float lowest = std::numeric_limits<float>::lowest();
  const int64_t qstride = static_cast<int64_t>(NH) * HS, kvstride = static_cast<int64_t>(NKV) * HS;
  // Query rows are independent: split them across threads (each row's result is the same
  // whatever the split).
  const int64_t min_rows = std::max<int64_t>(1, 32768 / (static_cast<int64_t>(Tk) * NH * HS));
  parallel_for(Tq, min_rows, [&](int64_t i0, int64_t i1) {
    std::vector<float> att(static_cast<size_t>(Tk));
    for (int i = static_cast<int>(i0); i < static_cast<int>(i1); ++i) {
      for (int h = 0; h < NH; ++h) {
        const float* qh = q + i * qstride + static_cast<int64_t>(h) * HS;
        const int kvh = h / group;
        float maxv = lowest;
        for (int j = 0; j < Tk; ++j) {
          const bool masked = (key_valid && !key_valid[j]) || (causal_offset >= 0 && j > i + causal_offset);
          float s = lowest;
          if (!masked) {
            const float* kh = k + j * kvstride + static_cast<int64_t>(kvh) * HS;
            float d = 0.0f;
            for (int c = 0; c < HS; ++c) d += qh[c] * kh[c];
            s = d * scale;
          }
          att[j] = s;
          if (s > maxv) maxv = s;
        }
        float sum = 0.0f;
        for (int j = 0; j < Tk; ++j) {
          att[j] = std::exp(att[j] - maxv);
          sum += att[j];
        }
        const float inv = 1.0f / sum;
        float* oh = out + i * qstride + static_cast<int64_t>(h) * HS;
        for (int c = 0; c < HS; ++c) oh[c] = 0.0f;
        for (int j = 0; j < Tk; ++j) {
          const float w = att[j] * inv;
          if (w == 0.0f) continue;
          const float* vh = v + j * kvstride + static_cast<int64_t>(kvh) * HS;
          for (int c = 0; c < HS; ++c) oh[c] += w * vh[c];
        }
      }
    }
  });
}

void gated_residual_forward(float* x, const float* y, float gate, int T, int C) {
  const int64_t n = static_cast<int64_t>(T) * C;
  for (int64_t i = 0; i < n; ++i) x[i] += gate * y[i];
}

}  // namespace np
