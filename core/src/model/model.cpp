// model.cpp — loading a needle model: metadata -> config, tokenizer, validation of every
// tensor against the table, and binding weights (F32 read in place when aligned, Q8_0 in
// place with its scales as floats, Q4_0 widened exactly to Q8_0 blocks; other types
// dequantized once into an f32 copy).
#include <cmath>
#include <cstring>
#include <unordered_map>

#include "model/tensor_table.h"
#include "np/model.h"
#include "np/quant.h"
#include "ops/matvec.h"

namespace np {

namespace {

std::string dims_str(const std::vector<int64_t>& d) {
  std::string s = "[";
  for (size_t i = 0; i < d.size(); ++i) s += (i ? "," : "") + std::to_string(d[i]);
  return s + "]";
}

bool type_allowed(TensorKind kind, GgmlType t) {
  if (kind != TensorKind::kMatrix) return t == GgmlType::F32;
  return t == GgmlType::F32 || t == GgmlType::F16 || t == GgmlType::BF16 || t == GgmlType::Q8_0 ||
         t == GgmlType::Q4_0;
}

float sigmoid(float a) { return 1.0f / (1.0f + std::exp(-a)); }

}  // namespace

Result<std::shared_ptr<Model>> Model::load_file(const std::string& path) {
  auto f = GgufFile::open_file(path);
  if (!f.ok()) return f.status();
  return load(f.take());
}

Result<std::shared_ptr<Model>> Model::load(std::shared_ptr<const GgufFile> file) {
  if (!file) return Status(Code::kInvalidInput, "no model file");
  auto m = std::make_shared<Model>();
  m->file_ = std::move(file);
  NP_RETURN_IF_ERROR(model_config_from_gguf(*m->file_, &m->config_));
  auto tok = Tokenizer::from_gguf(*m->file_);
  if (!tok.ok()) return tok.status();
  m->tokenizer_ = tok.take();
  if (m->tokenizer_.vocab_size() != m->config_.vocab_size)
    return Status(Code::kBadMetadata, "tokenizer size disagrees with the vocabulary");
  NP_RETURN_IF_ERROR(calibration_from_gguf(*m->file_, &m->calibration_));

  // Every expected tensor present with the right type and shape; nothing else.
  const std::vector<TensorSpec> table = model_tensor_table(m->config_);
  std::unordered_map<std::string, const TensorSpec*> expected;
  for (const auto& s : table) expected[s.name] = &s;
  for (const auto& t : m->file_->tensors()) {
    auto it = expected.find(t.name);
    if (it == expected.end())
      return Status(Code::kUnknownTensor, "tensor '" + t.name + "' is not part of a needle model with this configuration");
  }
  for (const auto& s : table) {
    const GgufTensorInfo* t = m->file_->find_tensor(s.name);
    if (!t) return Status(Code::kMissingTensor, "tensor '" + s.name + "' is missing");
    if (t->dims != s.dims)
      return Status(Code::kBadShape, "tensor '" + s.name + "': got " + dims_str(t->dims) + ", expected " + dims_str(s.dims));
    if (!type_allowed(s.kind, t->type))
      return Status(Code::kBadType, "tensor '" + s.name + "' has type " + ggml_type_name(t->type) +
                                        (s.kind == TensorKind::kMatrix ? ", expected F32, F16, BF16, Q8_0 or Q4_0" : ", expected F32"));
  }
  NP_RETURN_IF_ERROR(m->bind_weights());
  return m;
}

void Matrix::row(int64_t r, float* out) const {
  if (!q8()) {
    std::memcpy(out, f32 + r * cols, sizeof(float) * static_cast<size_t>(cols));
    return;
  }
  const int64_t nb = cols / 32;
  const uint8_t* blocks = raw + r * nb * 34;
  for (int64_t b = 0; b < nb; ++b) {
    const int8_t* q = reinterpret_cast<const int8_t*>(blocks + b * 34 + 2);
    const float d = q8_scales[static_cast<size_t>(q8_scale_index(nb, r, b))];
    for (int j = 0; j < 32; ++j) out[b * 32 + j] = static_cast<float>(q[j]) * d;
  }
}

namespace {

struct Binder {
  const GgufFile& f;

  const GgufTensorInfo& info(const std::string& name) { return *f.find_tensor(name); }

  void matrix(const std::string& name, Matrix* m) {
    const GgufTensorInfo& t = info(name);
    m->cols = t.dims[0];
    m->rows = t.dims.size() > 1 ? t.dims[1] : 1;
    m->type = t.type;
    m->raw = f.tensor_data(t);
    const int64_t n = m->rows * m->cols;
    if (t.type == GgmlType::F32 && reinterpret_cast<uintptr_t>(m->raw) % alignof(float) == 0) {
      m->f32 = reinterpret_cast<const float*>(m->raw);
      return;
    }
    if (t.type == GgmlType::Q4_0 && m->cols % 32 == 0) {  // widened to Q8_0 blocks, exactly
      m->q8_blocks.resize(static_cast<size_t>(n / 32 * 34));
      widen_q4_0_to_q8_0(m->raw, m->q8_blocks.data(), n / 32);
      m->raw = m->q8_blocks.data();
    }
    if ((t.type == GgmlType::Q8_0 || t.type == GgmlType::Q4_0) && m->cols % 32 == 0) {  // the scales as floats, by row quads
      const int64_t nb = m->cols / 32;
      m->q8_scales.assign(static_cast<size_t>(q8_scales_size(m->rows, nb)), 0.0f);
      for (int64_t r = 0; r < m->rows; ++r)
        for (int64_t b = 0; b < nb; ++b) {
          uint16_t h;
          std::memcpy(&h, m->raw + (r * nb + b) * 34, sizeof h);
          m->q8_scales[static_cast<size_t>(q8_scale_index(nb, r, b))] = fp16_to_fp32(h);
        }
      return;
    }
    m->storage.resize(static_cast<size_t>(n));
    dequantize_to_f32(t.type, m->raw, m->storage.data(), n);
    m->f32 = m->storage.data();
  }

  std::vector<float> vec(const std::string& name) {
    const GgufTensorInfo& t = info(name);
    std::vector<float> v(static_cast<size_t>(t.n_elements()));
    std::memcpy(v.data(), f.tensor_data(t), v.size() * sizeof(float));
    return v;
  }

  float scalar(const std::string& name) { return vec(name)[0]; }

  void attention(const std::string& p, AttentionWeights* a) {
    matrix(p + "_q.weight", &a->wq);
    matrix(p + "_k.weight", &a->wk);
    matrix(p + "_v.weight", &a->wv);
    matrix(p + "_output.weight", &a->wo);
    a->q_norm = vec(p + "_q_norm.weight");
    a->k_norm = vec(p + "_k_norm.weight");
    a->gate = sigmoid(scalar(p + "_gate"));
  }

  void ffn(const std::string& p, FeedForwardWeights* w) {
    w->norm = vec(p + "ffn_norm.weight");
    w->gate = sigmoid(scalar(p + "ffn_gate"));
    matrix(p + "ffn_gate_proj.weight", &w->w_gate);
    matrix(p + "ffn_up_proj.weight", &w->w_up);
    matrix(p + "ffn_down_proj.weight", &w->w_down);
  }
};

}  // namespace

Status Model::bind_weights() {
  Binder b{*file_};
  const ModelConfig& c = config_;
  b.matrix("token_embd.weight", &embedding_);
  enc_layers_.resize(c.n_enc_layers);
  for (int i = 0; i < c.n_enc_layers; ++i) {
    const std::string p = "enc.blk." + std::to_string(i) + ".";
    EncoderLayer& L = enc_layers_[i];
    L.attn_norm = b.vec(p + "attn_norm.weight");
    b.attention(p + "attn", &L.attn);
    L.has_ffn = c.d_ff > 0;
    if (L.has_ffn) b.ffn(p, &L.ffn);
  }
  enc_out_norm_ = b.vec("enc.output_norm.weight");
  dec_layers_.resize(c.n_dec_layers);
  for (int i = 0; i < c.n_dec_layers; ++i) {
    const std::string p = "dec.blk." + std::to_string(i) + ".";
    DecoderLayer& L = dec_layers_[i];
    L.attn_norm = b.vec(p + "attn_norm.weight");
    b.attention(p + "attn", &L.self_attn);
    L.cross_norm = b.vec(p + "cross_attn_norm.weight");
    b.attention(p + "cross_attn", &L.cross_attn);
    L.has_ffn = c.d_ff > 0;
    if (L.has_ffn) b.ffn(p, &L.ffn);
  }
  dec_out_norm_ = b.vec("dec.output_norm.weight");
  if (c.contrastive_dim > 0) {
    b.matrix("contrastive.hidden.weight", &retrieval_.hidden);
    retrieval_.hidden_bias = b.vec("contrastive.hidden.bias");
    b.matrix("contrastive.proj.weight", &retrieval_.proj);
    retrieval_.log_temp = b.scalar("contrastive.log_temp");
  }
  rope_.init(std::max(c.max_enc_len, c.max_dec_len), c.head_dim(), c.rope_theta);
  return Status::Ok();
}

}  // namespace np

namespace np {

uint64_t model_load_bytes(const GgufFile& f, const ModelConfig& c) {
  uint64_t bytes = 0;
  for (const GgufTensorInfo& t : f.tensors()) {
    // Aligned F32 and Q8_0 matrices are read in place (Binder::matrix; Q8_0 with its scales
    // as floats), Q4_0 ones widened to Q8_0 blocks (34 bytes and a float scale per 32 values);
    // everything else gets an f32 copy (other types dequantized, vectors copied).
    const bool in_place = t.type == GgmlType::F32 && t.dims.size() >= 2 &&
                          reinterpret_cast<uintptr_t>(f.tensor_data(t)) % alignof(float) == 0;
    const bool blocks = t.dims.size() >= 2 && t.dims[0] % 32 == 0;
    if (blocks && t.type == GgmlType::Q8_0) bytes += static_cast<uint64_t>(t.n_elements()) / 32 * sizeof(float);  // scales
    else if (blocks && t.type == GgmlType::Q4_0) bytes += static_cast<uint64_t>(t.n_elements()) / 32 * (34 + sizeof(float));
    else if (!in_place) bytes += static_cast<uint64_t>(t.n_elements()) * sizeof(float);
  }
  const uint64_t rope = 2ull * static_cast<uint64_t>(c.max_enc_len > c.max_dec_len ? c.max_enc_len : c.max_dec_len) *
                        static_cast<uint64_t>(c.head_dim()) * sizeof(float);
  const uint64_t tokenizer = static_cast<uint64_t>(c.vocab_size) * 256;  // pieces, scores, lookup tables
  return bytes + rope + tokenizer + (1ull << 20);                        // + small structures
}

}  // namespace np
