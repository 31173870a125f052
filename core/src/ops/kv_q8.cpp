// kv_q8.cpp — a kept block's int8 keys and values in the layouts of ops/attention_q8.h:
// quantization, the way back, sizes. Run once per block (not per step), so the WebAssembly
// builds compile this file for size (wasm/CMakeLists.txt); the kernels stay in
// attention_q8.cpp at -O3.
#include <algorithm>
#include <cmath>

#include "ops/attention_q8.h"

namespace np {

namespace {

constexpr int kKeyGroup = 4;    // tokens per key group
constexpr int kValuePair = 2;   // tokens per value pair

int round_up(int n, int m) { return (n + m - 1) / m * m; }

// Where token j's column c lies in its head's bytes (attention_q8.h):
//   keys: unit c / 2 of group j / 4, token j % 4, column parity c % 2;
//   values: unit c / 4 of pair j / 2, column c % 4, token j % 2.
int64_t layout_at(bool keys, int HS, int j, int c) {
  return keys ? (static_cast<int64_t>(j / kKeyGroup) * (HS / 2) + c / 2) * 8 + (j % kKeyGroup) * 2 + c % 2
              : (static_cast<int64_t>(j / kValuePair) * (HS / 4) + c / 4) * 8 + (c % 4) * 2 + j % kValuePair;
}

// Scale of one token's head (HS values at stride 1): largest magnitude / 127.
float row_scale(const float* x, int HS, float* inv) {
  float m = 0.0f;
  for (int c = 0; c < HS; ++c) m = std::max(m, std::fabs(x[c]));
  *inv = m > 0.0f ? 127.0f / m : 0.0f;
  return m / 127.0f;
}

void quantize_kv(const float* x, int T, int NKV, int HS, bool keys, KVQ8* out) {
  const int group = keys ? kKeyGroup : kValuePair;
  out->T = T;
  out->rows = round_up(T, group);
  out->q.assign(static_cast<size_t>(NKV) * out->rows * HS, 0);
  out->scale.assign(static_cast<size_t>(NKV) * out->rows, 0.0f);
  const int64_t ld = static_cast<int64_t>(NKV) * HS;
  for (int g = 0; g < NKV; ++g) {
    int8_t* head = out->q.data() + static_cast<size_t>(g) * out->rows * HS;
    for (int j = 0; j < T; ++j) {
      const float* row = x + j * ld + static_cast<int64_t>(g) * HS;
      float inv;
      out->scale[static_cast<size_t>(g) * out->rows + j] = row_scale(row, HS, &inv);
      for (int c = 0; c < HS; ++c) {
        const float r = std::nearbyint(row[c] * inv);  // NaN -> 0 (its conversion would trap in WebAssembly)
        head[layout_at(keys, HS, j, c)] = r == r ? static_cast<int8_t>(static_cast<int32_t>(std::min(std::max(r, -127.0f), 127.0f))) : int8_t{0};
      }
    }
  }
}

}  // namespace

bool kv_q8_supported(int HS) { return HS > 0 && HS % 4 == 0 && HS <= 512; }

uint64_t kv_q8_bytes(int64_t T, int NKV, int HS, bool keys) {
  const int64_t group = keys ? kKeyGroup : kValuePair;
  const uint64_t rows = static_cast<uint64_t>((std::max<int64_t>(T, 0) + group - 1) / group * group);
  return rows * static_cast<uint64_t>(NKV) * (static_cast<uint64_t>(HS) + sizeof(float));
}

void quantize_keys_q8(const float* k, int T, int NKV, int HS, KVQ8* out) { quantize_kv(k, T, NKV, HS, true, out); }
void quantize_values_q8(const float* v, int T, int NKV, int HS, KVQ8* out) { quantize_kv(v, T, NKV, HS, false, out); }

// The layouts walked unit by unit (layout_at's order, without its divisions): how a kept
// block's encoder keys and values reach the float attention natively, and in WebAssembly for
// queries of more than 64 rows.
void dequantize_kv_q8(const KVQ8& kv, int NKV, int HS, bool keys, float* out) {
  const int64_t ld = static_cast<int64_t>(NKV) * HS;
  const int group = keys ? kKeyGroup : kValuePair;
  for (int g = 0; g < NKV; ++g) {
    const int8_t* unit = kv.q.data() + static_cast<size_t>(g) * kv.rows * HS;
    const float* scale = kv.scale.data() + static_cast<size_t>(g) * kv.rows;
    for (int j0 = 0; j0 < kv.rows; j0 += group) {
      const int n = std::min(group, kv.T - j0);  // tokens of this group within T
      float* o = out + j0 * ld + static_cast<int64_t>(g) * HS;
      if (keys) {  // unit u: columns 2u, 2u + 1 of the group's 4 tokens
        for (int u = 0; u < HS / 2; ++u, unit += 8)
          for (int t = 0; t < n; ++t) {
            o[t * ld + 2 * u] = static_cast<float>(unit[2 * t]) * scale[j0 + t];
            o[t * ld + 2 * u + 1] = static_cast<float>(unit[2 * t + 1]) * scale[j0 + t];
          }
      } else {  // unit u: columns 4u..4u + 3 of the pair, token-interleaved
        for (int u = 0; u < HS / 4; ++u, unit += 8)
          for (int t = 0; t < n; ++t)
            for (int e = 0; e < 4; ++e) o[t * ld + 4 * u + e] = static_cast<float>(unit[2 * e + t]) * scale[j0 + t];
      }
    }
  }
}

}  // namespace np
