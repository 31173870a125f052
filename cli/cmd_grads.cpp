// cmd_grads.cpp — `train-grads` runs one forward/backward pass on a batch
// given as JSON and writes the loss and every gradient as a GGUF file (the PyTorch parity
// check reads it). The batch holds the token loss's arrays ("enc", "dec_in", "targets",
// "weights", optional "z_coef"), a "contrastive" object ({"query": [[ids]], "tool": [[ids]],
// "weight": w}: the retrieval head's CLIP loss, added with weight w), or both; the gradients
// are then those of token loss + w * contrastive loss.
#include <cstdio>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "commands.h"
#include "np/trainer.h"

namespace np_cli {

namespace {

using json = nlohmann::json;

// A (B, T) array of numbers from the batch JSON, flattened; false on a ragged or non-numeric array.
template <class T>
bool read_matrix(const json& j, const char* key, int* rows, int* cols, std::vector<T>* out) {
  auto it = j.find(key);
  if (it == j.end() || !it->is_array() || it->empty()) return false;
  *rows = static_cast<int>(it->size());
  *cols = -1;
  out->clear();
  for (const auto& row : *it) {
    if (!row.is_array()) return false;
    if (*cols < 0) *cols = static_cast<int>(row.size());
    if (static_cast<int>(row.size()) != *cols || *cols == 0) return false;
    for (const auto& v : row) {
      if (!v.is_number()) return false;
      out->push_back(v.get<T>());
    }
  }
  return true;
}

}  // namespace

int cmd_train_grads(const Args& args) {
  std::string model_path, batch_path, out;
  if (!arg_value(args, "--model", &model_path) || !arg_value(args, "--batch", &batch_path) ||
      !arg_value(args, "--out", &out))
    return usage_error("train-grads needs --model, --batch and --out");
  std::string text;
  if (!read_file(batch_path, &text)) return fail("IO_ERROR: cannot read " + batch_path);
  json j = json::parse(text, nullptr, false);
  if (j.is_discarded() || !j.is_object()) return fail("INVALID_INPUT: batch is not a JSON object");
  const bool token = j.contains("enc");
  int B = 0, Te = 0, B2 = 0, Td = 0, B3 = 0, Td3 = 0, B4 = 0, Td4 = 0;
  std::vector<int32_t> enc, dec_in, targets;
  std::vector<float> weights;
  if (token && (!read_matrix(j, "enc", &B, &Te, &enc) || !read_matrix(j, "dec_in", &B2, &Td, &dec_in) ||
                !read_matrix(j, "targets", &B3, &Td3, &targets) || !read_matrix(j, "weights", &B4, &Td4, &weights) ||
                B2 != B || B3 != B || B4 != B || Td3 != Td || Td4 != Td))
    return fail("INVALID_INPUT: batch needs rectangular enc, dec_in, targets and weights arrays of one batch size");
  np::LossConfig lc;
  if (j.contains("z_coef") && j["z_coef"].is_number()) lc.z_coef = j["z_coef"].get<double>();
  const bool contrastive = j.contains("contrastive");
  int N = 0, Tq = 0, N2 = 0, Tt = 0;
  std::vector<int32_t> query, tool;
  double cweight = 0;
  if (contrastive) {
    const json& cj = j["contrastive"];
    if (!cj.is_object() || !read_matrix(cj, "query", &N, &Tq, &query) || !read_matrix(cj, "tool", &N2, &Tt, &tool) ||
        N2 != N || !cj.contains("weight") || !cj["weight"].is_number())
      return fail("INVALID_INPUT: \"contrastive\" needs rectangular query and tool arrays of one size and a weight");
    cweight = cj["weight"].get<double>();
  }
  if (!token && !contrastive) return fail("INVALID_INPUT: batch has neither \"enc\" nor \"contrastive\"");

  auto file = np::GgufFile::open_file(model_path);
  if (!file.ok()) return fail(file.status().to_string());
  auto model = np::TrainModel::from_gguf(*file.value());
  if (!model.ok()) return fail(model.status().to_string());
  np::TrainModel& m = model.value();
  np::LossInfo info;
  np::Status s;
  if (token) {
    np::TrainBatchView view{B, Te, Td, enc.data(), dec_in.data(), targets.data(), weights.data()};
    s = m.forward_backward(view, lc, &info);  // zeroes the gradients first
    if (!s.ok()) return fail(s.to_string());
  } else {
    m.params().zero_grad();
  }
  np::ContrastiveInfo cinfo;
  if (contrastive) {
    np::ContrastiveBatchView cv{N, Tq, Tt, query.data(), tool.data()};
    s = m.contrastive_forward_backward(cv, cweight, &cinfo);  // adds into the gradients
    if (!s.ok()) return fail(s.to_string());
  }
  const double total = (token ? info.loss : 0.0) + (contrastive ? cweight * cinfo.loss : 0.0);
  np::GgufWriter w;
  np::GgufValue loss;
  loss.type = np::GgufValueType::F64;
  loss.f = total;
  w.set_kv("train.loss", loss);
  if (contrastive) {
    loss.f = cinfo.loss;
    w.set_kv("train.contrastive_loss", loss);
  }
  const np::ParamArena& a = m.params();
  for (size_t i = 0; i < a.num_tensors(); ++i) {
    const np::ParamTensor& t = a.tensor(i);
    std::vector<int64_t> dims(t.shape.rbegin(), t.shape.rend());
    s = w.add_tensor_f32(t.name, dims, np::GgmlType::F32, a.grad(i));
    if (!s.ok()) return fail(s.to_string());
  }
  s = w.write_file(out);
  if (!s.ok()) return fail(s.to_string());
  std::printf("{\"loss\":%.17g,\"ce\":%.17g,\"target_tokens\":%lld", total, info.ce,
              static_cast<long long>(info.target_tokens));
  if (contrastive)
    std::printf(",\"contrastive_loss\":%.17g,\"contrastive_accuracy\":%.17g,\"logit_scale\":%.17g", cinfo.loss,
                cinfo.accuracy, cinfo.logit_scale);
  std::printf("}\n");
  return 0;
}

}  // namespace np_cli

