// tensor_table.h — the tensors a needle model file must hold, derived from its config.
// One table drives the loader's validation, the random-model writer and (later) the
// trainer's exporter, so names and shapes are written down exactly once.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "np/model.h"

namespace np {

enum class TensorKind {
  kMatrix,  // projection or embedding: F32, F16, BF16, Q8_0 or Q4_0
  kVector,  // norm weight, bias: F32 only
  kScalar,  // gate, log_temp: one F32 value
};

struct TensorSpec {
  std::string name;
  std::vector<int64_t> dims;  // GGUF order: fastest first ({cols, rows} for a matrix)
  TensorKind kind;
};

std::vector<TensorSpec> model_tensor_table(const ModelConfig& c);

}  // namespace np
