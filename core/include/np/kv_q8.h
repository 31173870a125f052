// kv_q8.h — int8 keys or values with a float scale per token and kv head: how a kept catalog
// block holds the cross-attention keys and values every decoder step reads (EncoderBlock in
// np/model.h). The layouts and the integer kernels that read them: core/src/ops/attention_q8.h.
#pragma once
#include <cstdint>
#include <vector>

namespace np {

// One decoder layer's keys or values of T tokens.
struct KVQ8 {
  int T = 0;                 // tokens
  int rows = 0;              // T rounded up to the layout's group (4 for keys, 2 for values)
  std::vector<int8_t> q;     // n_kv_heads * rows * head_dim, in the layout
  std::vector<float> scale;  // n_kv_heads * rows: [head][token]; 0 past T
  uint64_t bytes() const { return q.size() + scale.size() * sizeof(float); }
};

}  // namespace np
