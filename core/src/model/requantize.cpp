// requantize.cpp — a model file re-encoded at another weight type (`needlepoint quantize`).
#include <string>
#include <unordered_map>
#include <vector>

#include "np/gguf.h"
#include "np/model.h"
#include "np/quant.h"
#include "model/tensor_table.h"

namespace np {

Status requantize_model(const GgufFile& in, GgmlType type, GgufWriter* out) {
  if (type != GgmlType::F32 && type != GgmlType::F16 && type != GgmlType::BF16 && type != GgmlType::Q8_0 &&
      type != GgmlType::Q4_0)
    return Status(Code::kInvalidInput, "a model can be written as f32, f16, bf16, q8_0 or q4_0 only");
  ModelConfig config;
  NP_RETURN_IF_ERROR(model_config_from_gguf(in, &config));  // a model file, not any GGUF
  // Every key in its place; the file type's keys are rewritten where they stand (an f32 file
  // has none).
  for (const GgufKV& kv : in.kvs())
    if (type != GgmlType::F32 || (kv.key != "general.file_type" && kv.key != "general.quantization_version"))
      out->set_kv(kv.key, kv.value);
  model_file_type_to_gguf(type, *out);
  // Matrices and the embedding take the new type, as an export does (TrainModel::export_gguf,
  // model_write_random); norms, gates and scalars stay f32 (the loader takes nothing else),
  // as does a tensor the model's table does not list (Model::load refuses the file then).
  std::unordered_map<std::string, TensorKind> kinds;
  for (const TensorSpec& spec : model_tensor_table(config)) kinds.emplace(spec.name, spec.kind);
  std::vector<float> values;
  for (const GgufTensorInfo& t : in.tensors()) {
    const int64_t n = t.n_elements();
    values.resize(static_cast<size_t>(n));
    dequantize_to_f32(t.type, in.tensor_data(t), values.data(), n);
    const auto kind = kinds.find(t.name);
    const bool matrix = kind != kinds.end() && kind->second == TensorKind::kMatrix;
    const GgmlType tt = matrix ? matrix_storage_type(type, t.dims[0]) : GgmlType::F32;
    NP_RETURN_IF_ERROR(out->add_tensor_f32(t.name, t.dims, tt, values.data()));
  }
  return Status::Ok();
}

}  // namespace np
