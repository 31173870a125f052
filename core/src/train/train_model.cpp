// train_model.cpp — the training forward and backward pass of a Needle model over a padded
// batch, one sequence at a time: a flat list of layer calls forward (keeping every
// activation the backward needs), the same list reversed backward. Kernels: ops/kernels.h.
#include <algorithm>
#include <cmath>
#include <cstring>
#include <vector>

#include "model/tensor_table.h"
#include "np/quant.h"
#include "np/trainer.h"
#include "ops/kernels.h"
#include "util/rng.h"

namespace np {

namespace {

using Vec = std::vector<float>;

void zero(Vec& v, size_t n) { v.assign(n, 0.0f); }

float sigmoidf(float a) { return 1.0f / (1.0f + std::exp(-a)); }

// Pointers to one attention sublayer's parameters and gradients.
struct AttnP {
  const float *norm, *wq, *wk, *wv, *wo, *qn, *kn, *gate;
  float *dnorm, *dwq, *dwk, *dwv, *dwo, *dqn, *dkn, *dgate;
};
struct FfnP {
  const float *norm, *gate, *wg, *wu, *wd;
  float *dnorm, *dgate, *dwg, *dwu, *dwd;
};

// Activations of one attention sublayer for one sequence.
struct AttnAct {
  Vec x_in;              // (Tq, C) residual stream entering the sublayer
  Vec h, rstd;           // (Tq, C), (Tq): ZCRMSNorm(x_in)
  Vec q_pre, q_rstd, q;  // (Tq, C), (Tq*NH), (Tq, C) after QK-norm (and RoPE)
  Vec k_pre, k_rstd, k;  // (Tk, KV), (Tk*NKV), (Tk, KV)
  Vec v;                 // (Tk, KV)
  Vec att;               // (NH, Tq, Tk) softmax probabilities
  Vec o;                 // (Tq, C) attention output before Wo
  Vec y;                 // (Tq, C) Wo o
};

struct FfnAct {
  Vec x_in, h, rstd, pre_g, pre_u, a, y;
};

struct Dims {
  int C, NH, NKV, HS, KV, DFF;
  double eps;
  FfnActivation act;
  const float *cos, *sin;
};

// x (Tq, C) += sigmoid(gate) * Attn(ZCRMSNorm(x), kv_in or the normed x).
void attn_forward(AttnAct& a, float* x, const float* kv_in, int Tq, int Tk, const AttnP& p,
                  const Dims& d, bool rope, const uint8_t* key_valid, int causal) {
  const size_t TqC = static_cast<size_t>(Tq) * d.C, TkKV = static_cast<size_t>(Tk) * d.KV;
  a.x_in.assign(x, x + TqC);
  a.h.resize(TqC);
  a.rstd.resize(Tq);
  zcrmsnorm_forward_train(a.h.data(), a.rstd.data(), x, p.norm, Tq, d.C, d.eps);
  const float* src = kv_in ? kv_in : a.h.data();
  a.q_pre.resize(TqC);
  a.q.resize(TqC);
  a.q_rstd.resize(static_cast<size_t>(Tq) * d.NH);
  linear_forward(a.q_pre.data(), a.h.data(), p.wq, static_cast<const float*>(nullptr), Tq, d.C, d.C);
  zcrmsnorm_forward_train(a.q.data(), a.q_rstd.data(), a.q_pre.data(), p.qn, Tq * d.NH, d.HS, d.eps);
  a.k_pre.resize(TkKV);
  a.k.resize(TkKV);
  a.v.resize(TkKV);
  a.k_rstd.resize(static_cast<size_t>(Tk) * d.NKV);
  linear_forward(a.k_pre.data(), src, p.wk, static_cast<const float*>(nullptr), Tk, d.KV, d.C);
  zcrmsnorm_forward_train(a.k.data(), a.k_rstd.data(), a.k_pre.data(), p.kn, Tk * d.NKV, d.HS, d.eps);
  linear_forward(a.v.data(), src, p.wv, static_cast<const float*>(nullptr), Tk, d.KV, d.C);
  if (rope) {
    rope_forward(a.q.data(), d.cos, d.sin, Tq, d.NH, d.HS, 0);
    rope_forward(a.k.data(), d.cos, d.sin, Tk, d.NKV, d.HS, 0);
  }
  a.att.resize(static_cast<size_t>(d.NH) * Tq * Tk);
  a.o.resize(TqC);
  attention_forward_train(a.o.data(), a.att.data(), a.q.data(), a.k.data(), a.v.data(), Tq, Tk, d.NH,
                          d.NKV, d.HS, key_valid, causal);
  a.y.resize(TqC);
  linear_forward(a.y.data(), a.o.data(), p.wo, static_cast<const float*>(nullptr), Tq, d.C, d.C);
  gated_residual_forward(x, a.y.data(), sigmoidf(*p.gate), Tq, d.C);
}

// dx (Tq, C): d(loss)/d(x_out) on entry, d(loss)/d(x_in) on return. dkv_in (Tk, C) += the
// gradient of kv_in (cross-attention); null for self-attention.
void attn_backward(float* dx, float* dkv_in, const AttnAct& a, const float* kv_in, int Tq, int Tk,
                   const AttnP& p, const Dims& d, bool rope, const uint8_t* key_valid, int causal) {
  const size_t TqC = static_cast<size_t>(Tq) * d.C, TkKV = static_cast<size_t>(Tk) * d.KV;
  const float gate = sigmoidf(*p.gate);
  Vec dy, dout, dq, dk, dv, dq_pre, dk_pre, dh;
  // x_out = x_in + gate * y
  zero(dy, TqC);
  gated_residual_backward(static_cast<float*>(nullptr), dy.data(), p.dgate, dx, a.y.data(), gate, Tq, d.C);
  // y = o Wo^T
  zero(dout, TqC);
  linear_backward(dout.data(), p.dwo, static_cast<float*>(nullptr), dy.data(), a.o.data(), p.wo, Tq, d.C, d.C);
  // o = attention(q, k, v)
  zero(dq, TqC);
  zero(dk, TkKV);
  zero(dv, TkKV);
  attention_backward(dq.data(), dk.data(), dv.data(), dout.data(), a.att.data(), a.q.data(), a.k.data(),
                     a.v.data(), Tq, Tk, d.NH, d.NKV, d.HS, key_valid, causal);
  if (rope) {
    rope_backward(dq.data(), d.cos, d.sin, Tq, d.NH, d.HS, 0);
    rope_backward(dk.data(), d.cos, d.sin, Tk, d.NKV, d.HS, 0);
  }
  // q = QKnorm(q_pre), k = QKnorm(k_pre)
  zero(dq_pre, TqC);
  zero(dk_pre, TkKV);
  zcrmsnorm_backward(dq_pre.data(), p.dqn, dq.data(), a.q_pre.data(), p.qn, a.q_rstd.data(), Tq * d.NH, d.HS);
  zcrmsnorm_backward(dk_pre.data(), p.dkn, dk.data(), a.k_pre.data(), p.kn, a.k_rstd.data(), Tk * d.NKV, d.HS);
  // q_pre = h Wq^T; k_pre = src Wk^T; v = src Wv^T
  zero(dh, TqC);
  const float* src = kv_in ? kv_in : a.h.data();
  float* dsrc = kv_in ? dkv_in : dh.data();
  linear_backward(dh.data(), p.dwq, static_cast<float*>(nullptr), dq_pre.data(), a.h.data(), p.wq, Tq, d.C, d.C);
  linear_backward(dsrc, p.dwk, static_cast<float*>(nullptr), dk_pre.data(), src, p.wk, Tk, d.KV, d.C);
  linear_backward(dsrc, p.dwv, static_cast<float*>(nullptr), dv.data(), src, p.wv, Tk, d.KV, d.C);
  // h = ZCRMSNorm(x_in): dx already holds the identity path; add the norm path.
  zcrmsnorm_backward(dx, p.dnorm, dh.data(), a.x_in.data(), p.norm, a.rstd.data(), Tq, d.C);
}

void ffn_forward(FfnAct& f, float* x, int T, const FfnP& p, const Dims& d) {
  const size_t TC = static_cast<size_t>(T) * d.C, TF = static_cast<size_t>(T) * d.DFF;
  f.x_in.assign(x, x + TC);
  f.h.resize(TC);
  f.rstd.resize(T);
  zcrmsnorm_forward_train(f.h.data(), f.rstd.data(), x, p.norm, T, d.C, d.eps);
  f.pre_g.resize(TF);
  f.pre_u.resize(TF);
  f.a.resize(TF);
  f.y.resize(TC);
  ffn_forward_train(f.y.data(), f.pre_g.data(), f.pre_u.data(), f.a.data(), f.h.data(), p.wg, p.wu, p.wd, T,
                    d.C, d.DFF, d.act);
  gated_residual_forward(x, f.y.data(), sigmoidf(*p.gate), T, d.C);
}

void ffn_backward(float* dx, const FfnAct& f, int T, const FfnP& p, const Dims& d) {
  const size_t TC = static_cast<size_t>(T) * d.C;
  Vec dy, dh;
  zero(dy, TC);
  gated_residual_backward(static_cast<float*>(nullptr), dy.data(), p.dgate, dx, f.y.data(), sigmoidf(*p.gate), T, d.C);
  zero(dh, TC);
  ffn_backward(dh.data(), p.dwg, p.dwu, p.dwd, dy.data(), f.pre_g.data(), f.pre_u.data(), f.a.data(), f.h.data(),
               p.wg, p.wu, p.wd, T, d.C, d.DFF, d.act);
  zcrmsnorm_backward(dx, p.dnorm, dh.data(), f.x_in.data(), p.norm, f.rstd.data(), T, d.C);
}

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

  // Parameter and gradient pointers by name.
  auto P = [&](const std::string& n) { return arena_.value(static_cast<size_t>(arena_.find(n))); };
  auto G = [&](const std::string& n) { return arena_.grad(static_cast<size_t>(arena_.find(n))); };
  auto attn_p = [&](const std::string& p) {
    return AttnP{P(p + "_norm.weight"), P(p + "_q.weight"), P(p + "_k.weight"), P(p + "_v.weight"),
                 P(p + "_output.weight"), P(p + "_q_norm.weight"), P(p + "_k_norm.weight"), P(p + "_gate"),
                 G(p + "_norm.weight"), G(p + "_q.weight"), G(p + "_k.weight"), G(p + "_v.weight"),
                 G(p + "_output.weight"), G(p + "_q_norm.weight"), G(p + "_k_norm.weight"), G(p + "_gate")};
  };
  auto ffn_p = [&](const std::string& p) {
    return FfnP{P(p + "ffn_norm.weight"), P(p + "ffn_gate"), P(p + "ffn_gate_proj.weight"),
                P(p + "ffn_up_proj.weight"), P(p + "ffn_down_proj.weight"), G(p + "ffn_norm.weight"),
                G(p + "ffn_gate"), G(p + "ffn_gate_proj.weight"), G(p + "ffn_up_proj.weight"),
                G(p + "ffn_down_proj.weight")};
  };
  const bool ffn = c.d_ff > 0;
  std::vector<AttnP> enc_attn, dec_self, dec_cross;
  std::vector<FfnP> enc_ffn, dec_ffn;
  for (int l = 0; l < c.n_enc_layers; ++l) {
    const std::string p = "enc.blk." + std::to_string(l) + ".";
    enc_attn.push_back(attn_p(p + "attn"));
    if (ffn) enc_ffn.push_back(ffn_p(p));
  }
  for (int l = 0; l < c.n_dec_layers; ++l) {
    const std::string p = "dec.blk." + std::to_string(l) + ".";
    dec_self.push_back(attn_p(p + "attn"));
    dec_cross.push_back(attn_p(p + "cross_attn"));
    if (ffn) dec_ffn.push_back(ffn_p(p));
  }
  const float* E = P("token_embd.weight");
  float* dE = G("token_embd.weight");
  const float *enc_norm = P("enc.output_norm.weight"), *dec_norm = P("dec.output_norm.weight");
  float *denc_norm = G("enc.output_norm.weight"), *ddec_norm = G("dec.output_norm.weight");
  const Dims d{c.d_model, c.n_heads, c.n_kv_heads, c.head_dim(), c.kv_dim(), c.d_ff, c.norm_eps, c.ffn_act,
               rope_.cos.data(), rope_.sin.data()};
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
  std::vector<AttnAct> ea(c.n_enc_layers), ds(c.n_dec_layers), dc(c.n_dec_layers);
  std::vector<FfnAct> ef(ffn ? c.n_enc_layers : 0), df(ffn ? c.n_dec_layers : 0);
  Vec x, enc_pre, enc_out, enc_rstd, y, dec_pre, h, dec_rstd, logits, losses, lse, wts;
  std::vector<uint8_t> valid;
  for (int s = 0; s < b.B; ++s) {
    const int32_t* eids = b.enc_ids + static_cast<int64_t>(s) * b.Te;
    const int32_t* dids = b.dec_in + static_cast<int64_t>(s) * b.Td;
    const int32_t* tg = b.targets + static_cast<int64_t>(s) * b.Td;
    // Trim the right padding: pads only ever act as masked keys, so this is exact.
    int Te = b.Te, Td = b.Td;
    while (Te > 1 && eids[Te - 1] == c.pad_id) --Te;
    while (Td > 0 && tg[Td - 1] < 0) --Td;
    if (Td == 0) continue;
    valid.resize(Te);
    for (int t = 0; t < Te; ++t) valid[t] = eids[t] != c.pad_id;
    wts.resize(Td);
    for (int t = 0; t < Td; ++t) wts[t] = b.weights ? b.weights[static_cast<int64_t>(s) * b.Td + t] : 1.0f;

    // ---- forward
    x.resize(static_cast<size_t>(Te) * C);
    embedding_forward(x.data(), eids, E, Te, C);
    for (int l = 0; l < c.n_enc_layers; ++l) {
      attn_forward(ea[l], x.data(), nullptr, Te, Te, enc_attn[l], d, true, valid.data(), -1);
      if (ffn) ffn_forward(ef[l], x.data(), Te, enc_ffn[l], d);
    }
    enc_pre = x;
    enc_out.resize(x.size());
    enc_rstd.resize(Te);
    zcrmsnorm_forward_train(enc_out.data(), enc_rstd.data(), enc_pre.data(), enc_norm, Te, C, c.norm_eps);
    y.resize(static_cast<size_t>(Td) * C);
    embedding_forward(y.data(), dids, E, Td, C);
    for (int l = 0; l < c.n_dec_layers; ++l) {
      attn_forward(ds[l], y.data(), nullptr, Td, Td, dec_self[l], d, true, nullptr, 0);
      attn_forward(dc[l], y.data(), enc_out.data(), Td, Te, dec_cross[l], d, false, valid.data(), -1);
      if (ffn) ffn_forward(df[l], y.data(), Td, dec_ffn[l], d);
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
    Vec dlosses(Td, static_cast<float>(1.0 / wsum)), dlogits, dh, dy, denc, dx;
    zero(dlogits, logits.size());
    crossentropy_backward(dlogits.data(), dlosses.data(), logits.data(), lse.data(), tg, wts.data(), Td, V, lc.z_coef);
    zero(dh, h.size());
    linear_backward(dh.data(), dE, static_cast<float*>(nullptr), dlogits.data(), h.data(), E, Td, V, C);
    zero(dy, y.size());
    zcrmsnorm_backward(dy.data(), ddec_norm, dh.data(), dec_pre.data(), dec_norm, dec_rstd.data(), Td, C);
    zero(denc, enc_out.size());
    for (int l = c.n_dec_layers - 1; l >= 0; --l) {
      if (ffn) ffn_backward(dy.data(), df[l], Td, dec_ffn[l], d);
      attn_backward(dy.data(), denc.data(), dc[l], enc_out.data(), Td, Te, dec_cross[l], d, false, valid.data(), -1);
      attn_backward(dy.data(), nullptr, ds[l], nullptr, Td, Td, dec_self[l], d, true, nullptr, 0);
    }
    embedding_backward(dE, dy.data(), dids, Td, C);
    zero(dx, x.size());
    zcrmsnorm_backward(dx.data(), denc_norm, denc.data(), enc_pre.data(), enc_norm, enc_rstd.data(), Te, C);
    for (int l = c.n_enc_layers - 1; l >= 0; --l) {
      if (ffn) ffn_backward(dx.data(), ef[l], Te, enc_ffn[l], d);
      attn_backward(dx.data(), nullptr, ea[l], nullptr, Te, Te, enc_attn[l], d, true, valid.data(), -1);
    }
    embedding_backward(dE, dx.data(), eids, Te, C);
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
