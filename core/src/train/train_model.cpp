// train_model.cpp — the training forward and backward pass of a Needle model over a padded
// batch, one sequence at a time: a flat list of layer calls forward (keeping every
// activation the backward needs), the same list reversed backward; parameters, init, GGUF
// import and export. The layer blocks and the encoder pass: train_blocks.h; the contrastive
// loss: train_contrastive.cpp. Kernels: ops/kernels.h.
#include <algorithm>
#include <cmath>
#include <cstring>
#include <vector>

#include "model/tensor_table.h"
#include "np/quant.h"
#include "np/trainer.h"
#include "ops/kernels.h"
#include "train/train_blocks.h"
#include "util/rng.h"

namespace np {

namespace {

ParamGroup group_of(const TensorSpec& s) {
  switch (s.kind) {
    case TensorKind::kMatrix: return s.name == "token_embd.weight" ? ParamGroup::kEmbedding : ParamGroup::kMatrix;
    case TensorKind::kVector: return ParamGroup::kVector;
    case TensorKind::kScalar: return ParamGroup::kScalar;
  }
  return ParamGroup::kVector;
}

}  // namespace

Status TrainModel::build_arena() {
  NP_RETURN_IF_ERROR(config_.validate());
  arena_ = ParamArena();
  for (const TensorSpec& s : model_tensor_table(config_)) {
    std::vector<int64_t> shape(s.dims.rbegin(), s.dims.rend());  // numpy order: (rows, cols)
    auto r = arena_.add(s.name, shape, group_of(s));
    if (!r.ok()) return r.status();
  }
  rope_.init(std::max(config_.max_enc_len, config_.max_dec_len), config_.head_dim(), config_.rope_theta);
  return Status::Ok();
}

Result<TrainModel> TrainModel::create(const ModelConfig& config, uint64_t seed) {
  TrainModel m;
  m.config_ = config;
  NP_RETURN_IF_ERROR(m.build_arena());
  Rng rng(seed);
  for (size_t i = 0; i < m.arena_.num_tensors(); ++i) {
    const ParamTensor& t = m.arena_.tensor(i);
    float* v = m.arena_.value(i);
    if (t.group == ParamGroup::kMatrix || t.group == ParamGroup::kEmbedding) {
      const double sd = 1.0 / std::sqrt(static_cast<double>(t.shape[1]));
      for (size_t j = 0; j < t.size; ++j) v[j] = static_cast<float>(rng.normal() * sd);
    } else if (t.name == "contrastive.log_temp") {
      v[0] = static_cast<float>(std::log(1.0 / 0.07));
    } else {
      std::fill(v, v + t.size, 0.0f);  // norm g, gates, biases
    }
  }
  return m;
}

Result<TrainModel> TrainModel::from_gguf(const GgufFile& file) {
  TrainModel m;
  NP_RETURN_IF_ERROR(model_config_from_gguf(file, &m.config_));
  NP_RETURN_IF_ERROR(m.build_arena());
  for (size_t i = 0; i < m.arena_.num_tensors(); ++i) {
    const ParamTensor& t = m.arena_.tensor(i);
    const GgufTensorInfo* info = file.find_tensor(t.name);
    if (!info) return Status(Code::kMissingTensor, "tensor '" + t.name + "' is missing");
    std::vector<int64_t> want(t.shape.rbegin(), t.shape.rend());
    if (info->dims != want) return Status(Code::kBadShape, "tensor '" + t.name + "' has the wrong shape");
    dequantize_to_f32(info->type, file.tensor_data(*info), m.arena_.value(i), static_cast<int64_t>(t.size));
  }
  return m;
}

Status TrainModel::set_encoder_mask(const std::string& mask) {
  if (mask != "bidirectional" && mask != "catalog")
    return Status(Code::kInvalidInput, "encoder mask must be bidirectional or catalog, not '" + mask + "'");
  config_.encoder_mask = mask;
  return Status::Ok();
}

Status TrainModel::export_gguf(const Tokenizer& tokenizer, GgmlType type, GgufWriter* w,
                               const std::string& name) const {
  if (tokenizer.vocab_size() != config_.vocab_size)
    return Status(Code::kInvalidInput, "tokenizer has " + std::to_string(tokenizer.vocab_size()) +
                                           " pieces, the model's vocabulary is " + std::to_string(config_.vocab_size));
  w->set_kv("general.name", GgufValue::make_string(name));
  model_config_to_gguf(config_, *w);
  model_file_type_to_gguf(type, *w);
  tokenizer.write_gguf(*w);
  for (size_t i = 0; i < arena_.num_tensors(); ++i) {
    const ParamTensor& t = arena_.tensor(i);
    std::vector<int64_t> dims(t.shape.rbegin(), t.shape.rend());
    GgmlType tt = GgmlType::F32;
    if (t.group == ParamGroup::kMatrix || t.group == ParamGroup::kEmbedding) tt = matrix_storage_type(type, dims[0]);
    NP_RETURN_IF_ERROR(w->add_tensor_f32(t.name, dims, tt, arena_.value(i)));
  }
  return Status::Ok();
}

Status TrainModel::forward_backward(const TrainBatchView& batch, const LossConfig& loss, LossInfo* info) {
  return run(batch, loss, true, info);
}

Status TrainModel::forward_loss(const TrainBatchView& batch, const LossConfig& loss, LossInfo* info) {
  return run(batch, loss, false, info);
}

Status TrainModel::run(const TrainBatchView& b, const LossConfig& lc, bool backward, LossInfo* info) {
  const ModelConfig& c = config_;
  if (b.B < 1 || b.Te < 1 || b.Td < 1) return Status(Code::kInvalidInput, "empty batch");
  if (b.Te > c.max_enc_len || b.Td > c.max_dec_len)
    return Status(Code::kInvalidInput, "batch lengths " + std::to_string(b.Te) + "/" + std::to_string(b.Td) +
                                           " exceed the model's context " + std::to_string(c.max_enc_len) + "/" +
                                           std::to_string(c.max_dec_len));
  const int64_t ne = static_cast<int64_t>(b.B) * b.Te, nd = static_cast<int64_t>(b.B) * b.Td;
  for (int64_t i = 0; i < ne; ++i)
    if (b.enc_ids[i] < 0 || b.enc_ids[i] >= c.vocab_size) return Status(Code::kInvalidInput, "encoder id outside the vocabulary");
  for (int64_t i = 0; i < nd; ++i) {
    if (b.dec_in[i] < 0 || b.dec_in[i] >= c.vocab_size) return Status(Code::kInvalidInput, "decoder id outside the vocabulary");
    if (b.targets[i] < -1 || b.targets[i] >= c.vocab_size) return Status(Code::kInvalidInput, "target id outside the vocabulary");
  }

  if (b.enc_prefix)
    for (int s = 0; s < b.B; ++s) {
      if (b.enc_prefix[s] < 0 || b.enc_prefix[s] > b.Te)
        return Status(Code::kInvalidInput, "encoder block prefix outside the sequence");
      if (b.enc_prefix[s] > 0 && !c.catalog_mask())
        return Status(Code::kInvalidInput, "an encoder block prefix needs the catalog encoder mask");
    }

  const train::ModelPtrs mp = train::model_ptrs(arena_, c, rope_);
  const train::Dims& d = mp.d;
  const bool ffn = c.d_ff > 0;
  const float* E = mp.E;
  float* dE = mp.dE;
  const float* dec_norm = mp.dec_norm;
  float* ddec_norm = mp.ddec_norm;
  const int C = c.d_model, V = c.vocab_size;

  // Total weight over the batch: the loss is normalised by it.
  double wsum = 0;
  int64_t ntgt = 0;
  for (int64_t i = 0; i < nd; ++i)
    if (b.targets[i] >= 0) {
      wsum += b.weights ? b.weights[i] : 1.0;
      ++ntgt;
    }
  if (ntgt == 0 || !(wsum > 0)) return Status(Code::kInvalidInput, "batch has no weighted target tokens");
  if (backward) arena_.zero_grad();

  double loss_sum = 0, ce_sum = 0;
  train::EncoderAct enc;
  std::vector<train::AttnAct> ds(c.n_dec_layers), dc(c.n_dec_layers);
  std::vector<train::FfnAct> df(ffn ? c.n_dec_layers : 0);
  train::Vec y, dec_pre, h, dec_rstd, logits, losses, lse, wts;
  for (int s = 0; s < b.B; ++s) {
    const int32_t* eids = b.enc_ids + static_cast<int64_t>(s) * b.Te;
    const int32_t* dids = b.dec_in + static_cast<int64_t>(s) * b.Td;
    const int32_t* tg = b.targets + static_cast<int64_t>(s) * b.Td;
    // Trim the right padding: pads only ever act as masked keys, so this is exact.
    int Te = b.Te, Td = b.Td;
    while (Te > 1 && eids[Te - 1] == c.pad_id) --Te;
    while (Td > 0 && tg[Td - 1] < 0) --Td;
    if (Td == 0) continue;
    wts.resize(Td);
    for (int t = 0; t < Td; ++t) wts[t] = b.weights ? b.weights[static_cast<int64_t>(s) * b.Td + t] : 1.0f;

    // ---- forward
    const int prefix = b.enc_prefix ? std::min(b.enc_prefix[s], Te) : 0;
    train::encoder_forward(enc, eids, Te, mp, c, prefix);
    const float* enc_out = enc.out.data();
    const uint8_t* valid = enc.valid.data();
    y.resize(static_cast<size_t>(Td) * C);
    embedding_forward(y.data(), dids, E, Td, C);
    for (int l = 0; l < c.n_dec_layers; ++l) {
      train::attn_forward(ds[l], y.data(), nullptr, Td, Td, mp.dec_self[l], d, true, nullptr, 0);
      train::attn_forward(dc[l], y.data(), enc_out, Td, Te, mp.dec_cross[l], d, false, valid, -1);
      if (ffn) train::ffn_block_forward(df[l], y.data(), Td, mp.dec_ffn[l], d);
    }
    dec_pre = y;
    h.resize(y.size());
    dec_rstd.resize(Td);
    zcrmsnorm_forward_train(h.data(), dec_rstd.data(), dec_pre.data(), dec_norm, Td, C, c.norm_eps);
    logits.resize(static_cast<size_t>(Td) * V);
    linear_forward(logits.data(), h.data(), E, static_cast<const float*>(nullptr), Td, V, C);
    losses.assign(Td, 0.0f);
    lse.assign(Td, 0.0f);
    crossentropy_forward(losses.data(), lse.data(), logits.data(), tg, wts.data(), Td, V, lc.z_coef);
    for (int t = 0; t < Td; ++t) {
      loss_sum += losses[t];
      if (tg[t] >= 0) ce_sum += static_cast<double>(lse[t]) - logits[static_cast<size_t>(t) * V + tg[t]];
    }
    if (!backward) continue;

    // ---- backward: the same list, reversed
    train::Vec dlosses(Td, static_cast<float>(1.0 / wsum)), dlogits, dh, dy, denc;
    dlogits.assign(logits.size(), 0.0f);
    crossentropy_backward(dlogits.data(), dlosses.data(), logits.data(), lse.data(), tg, wts.data(), Td, V, lc.z_coef);
    dh.assign(h.size(), 0.0f);
    linear_backward(dh.data(), dE, static_cast<float*>(nullptr), dlogits.data(), h.data(), E, Td, V, C);
    dy.assign(y.size(), 0.0f);
    zcrmsnorm_backward(dy.data(), ddec_norm, dh.data(), dec_pre.data(), dec_norm, dec_rstd.data(), Td, C);
    denc.assign(enc.out.size(), 0.0f);
    for (int l = c.n_dec_layers - 1; l >= 0; --l) {
      if (ffn) train::ffn_block_backward(dy.data(), df[l], Td, mp.dec_ffn[l], d);
      train::attn_backward(dy.data(), denc.data(), dc[l], enc_out, Td, Te, mp.dec_cross[l], d, false, valid, -1);
      train::attn_backward(dy.data(), nullptr, ds[l], nullptr, Td, Td, mp.dec_self[l], d, true, nullptr, 0);
    }
    embedding_backward(dE, dy.data(), dids, Td, C);
    train::encoder_backward(denc.data(), enc, eids, mp, c);
  }
  if (info) {
    info->loss = loss_sum / wsum;
    info->ce = ce_sum / static_cast<double>(ntgt);
    info->target_tokens = ntgt;
    info->weight_sum = wsum;
  }
  return Status::Ok();
}

}  // namespace np
