// tensor_table.cpp — names and shapes of every tensor of a needle model (see
// docs/model-format.md). Names are on disk: never rename.
#include "model/tensor_table.h"

namespace np {

namespace {

void add_attention(std::vector<TensorSpec>& t, const std::string& p, const ModelConfig& c) {
  const int64_t d = c.d_model, kv = c.kv_dim(), hs = c.head_dim();
  t.push_back({p + "_norm.weight", {d}, TensorKind::kVector});
  t.push_back({p + "_q.weight", {d, d}, TensorKind::kMatrix});
  t.push_back({p + "_k.weight", {d, kv}, TensorKind::kMatrix});
  t.push_back({p + "_v.weight", {d, kv}, TensorKind::kMatrix});
  t.push_back({p + "_output.weight", {d, d}, TensorKind::kMatrix});
  t.push_back({p + "_q_norm.weight", {hs}, TensorKind::kVector});
  t.push_back({p + "_k_norm.weight", {hs}, TensorKind::kVector});
  t.push_back({p + "_gate", {1}, TensorKind::kScalar});
}

void add_ffn(std::vector<TensorSpec>& t, const std::string& p, const ModelConfig& c) {
  if (c.d_ff <= 0) return;
  const int64_t d = c.d_model, f = c.d_ff;
  t.push_back({p + "ffn_norm.weight", {d}, TensorKind::kVector});
  t.push_back({p + "ffn_gate", {1}, TensorKind::kScalar});
  t.push_back({p + "ffn_gate_proj.weight", {d, f}, TensorKind::kMatrix});
  t.push_back({p + "ffn_up_proj.weight", {d, f}, TensorKind::kMatrix});
  t.push_back({p + "ffn_down_proj.weight", {f, d}, TensorKind::kMatrix});
}

}  // namespace

std::vector<TensorSpec> model_tensor_table(const ModelConfig& c) {
  std::vector<TensorSpec> t;
  const int64_t d = c.d_model;
  t.push_back({"token_embd.weight", {d, c.vocab_size}, TensorKind::kMatrix});
  for (int i = 0; i < c.n_enc_layers; ++i) {
    const std::string p = "enc.blk." + std::to_string(i) + ".";
    add_attention(t, p + "attn", c);
    add_ffn(t, p, c);
  }
  t.push_back({"enc.output_norm.weight", {d}, TensorKind::kVector});
  for (int i = 0; i < c.n_dec_layers; ++i) {
    const std::string p = "dec.blk." + std::to_string(i) + ".";
    add_attention(t, p + "attn", c);
    add_attention(t, p + "cross_attn", c);
    add_ffn(t, p, c);
  }
  t.push_back({"dec.output_norm.weight", {d}, TensorKind::kVector});
  if (c.contrastive_dim > 0) {
    const int64_t h = c.contrastive_hidden();
    t.push_back({"contrastive.hidden.weight", {d, h}, TensorKind::kMatrix});
    t.push_back({"contrastive.hidden.bias", {h}, TensorKind::kVector});
    t.push_back({"contrastive.proj.weight", {h, c.contrastive_dim}, TensorKind::kMatrix});
    t.push_back({"contrastive.log_temp", {1}, TensorKind::kScalar});
  }
  return t;
}

}  // namespace np
