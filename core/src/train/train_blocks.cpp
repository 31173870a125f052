// train_blocks.cpp — the layer blocks of the training pass over one sequence (train_blocks.h):
// attention and FFN sublayers forward (keeping every activation) and backward, the whole
// encoder forward and backward, and the parameter-pointer table. Kernels: ops/kernels.h.
// Moved here from train_model.cpp unchanged so that the token loss and the contrastive loss
// run the same calls in the same order (the token loss's results are bit-identical).
#include "train/train_blocks.h"

#include <cmath>
#include <string>

#include "ops/kernels.h"

namespace np {
namespace train {

namespace {

void zero(Vec& v, size_t n) { v.assign(n, 0.0f); }

float sigmoidf(float a) { return 1.0f / (1.0f + std::exp(-a)); }

}  // namespace

ModelPtrs model_ptrs(ParamArena& arena, const ModelConfig& c, const RopeTable& rope) {
  auto P = [&](const std::string& n) { return arena.value(static_cast<size_t>(arena.find(n))); };
  auto G = [&](const std::string& n) { return arena.grad(static_cast<size_t>(arena.find(n))); };
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
  ModelPtrs m;
  const bool ffn = c.d_ff > 0;
  for (int l = 0; l < c.n_enc_layers; ++l) {
    const std::string p = "enc.blk." + std::to_string(l) + ".";
    m.enc_attn.push_back(attn_p(p + "attn"));
    if (ffn) m.enc_ffn.push_back(ffn_p(p));
  }
  for (int l = 0; l < c.n_dec_layers; ++l) {
    const std::string p = "dec.blk." + std::to_string(l) + ".";
    m.dec_self.push_back(attn_p(p + "attn"));
    m.dec_cross.push_back(attn_p(p + "cross_attn"));
    if (ffn) m.dec_ffn.push_back(ffn_p(p));
  }
  m.E = P("token_embd.weight");
  m.dE = G("token_embd.weight");
  m.enc_norm = P("enc.output_norm.weight");
  m.dec_norm = P("dec.output_norm.weight");
  m.denc_norm = G("enc.output_norm.weight");
  m.ddec_norm = G("dec.output_norm.weight");
  if (c.contrastive_dim > 0) {
    m.w1 = P("contrastive.hidden.weight");
    m.b1 = P("contrastive.hidden.bias");
    m.w2 = P("contrastive.proj.weight");
    m.log_temp = P("contrastive.log_temp");
    m.dw1 = G("contrastive.hidden.weight");
    m.db1 = G("contrastive.hidden.bias");
    m.dw2 = G("contrastive.proj.weight");
    m.dlog_temp = G("contrastive.log_temp");
  }
  m.d = Dims{c.d_model, c.n_heads, c.n_kv_heads, c.head_dim(), c.kv_dim(), c.d_ff, c.norm_eps, c.ffn_act,
             rope.cos.data(), rope.sin.data()};
  return m;
}


// x (Tq, C) += sigmoid(gate) * Attn(ZCRMSNorm(x), kv_in or the normed x).
void attn_forward(AttnAct& a, float* x, const float* kv_in, int Tq, int Tk, const AttnP& p,
                  const Dims& d, bool rope, const uint8_t* key_valid, int causal, int block_prefix) {
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
                          d.NKV, d.HS, key_valid, causal, block_prefix);
  a.y.resize(TqC);
  linear_forward(a.y.data(), a.o.data(), p.wo, static_cast<const float*>(nullptr), Tq, d.C, d.C);
  gated_residual_forward(x, a.y.data(), sigmoidf(*p.gate), Tq, d.C);
}

// dx (Tq, C): d(loss)/d(x_out) on entry, d(loss)/d(x_in) on return. dkv_in (Tk, C) += the
// gradient of kv_in (cross-attention); null for self-attention.
void attn_backward(float* dx, float* dkv_in, const AttnAct& a, const float* kv_in, int Tq, int Tk,
                   const AttnP& p, const Dims& d, bool rope, const uint8_t* key_valid, int causal,
                   int block_prefix) {
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
                     a.v.data(), Tq, Tk, d.NH, d.NKV, d.HS, key_valid, causal, block_prefix);
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

void ffn_block_forward(FfnAct& f, float* x, int T, const FfnP& p, const Dims& d) {
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

void ffn_block_backward(float* dx, const FfnAct& f, int T, const FfnP& p, const Dims& d) {
  const size_t TC = static_cast<size_t>(T) * d.C;
  Vec dy, dh;
  zero(dy, TC);
  gated_residual_backward(static_cast<float*>(nullptr), dy.data(), p.dgate, dx, f.y.data(), sigmoidf(*p.gate), T, d.C);
  zero(dh, TC);
  ffn_backward(dh.data(), p.dwg, p.dwu, p.dwd, dy.data(), f.pre_g.data(), f.pre_u.data(), f.a.data(), f.h.data(),
               p.wg, p.wu, p.wd, T, d.C, d.DFF, d.act);
  zcrmsnorm_backward(dx, p.dnorm, dh.data(), f.x_in.data(), p.norm, f.rstd.data(), T, d.C);
}

void encoder_forward(EncoderAct& a, const int32_t* ids, int T, const ModelPtrs& p, const ModelConfig& c,
                     int block_prefix) {
  const int C = c.d_model;
  const bool ffn = c.d_ff > 0;
  a.T = T;
  a.block_prefix = block_prefix;
  a.valid.resize(T);
  for (int t = 0; t < T; ++t) a.valid[t] = ids[t] != c.pad_id;
  a.attn.resize(c.n_enc_layers);
  a.ffn.resize(ffn ? c.n_enc_layers : 0);
  a.pre.resize(static_cast<size_t>(T) * C);
  float* x = a.pre.data();
  embedding_forward(x, ids, p.E, T, C);
  for (int l = 0; l < c.n_enc_layers; ++l) {
    attn_forward(a.attn[l], x, nullptr, T, T, p.enc_attn[l], p.d, true, a.valid.data(), -1, block_prefix);
    if (ffn) ffn_block_forward(a.ffn[l], x, T, p.enc_ffn[l], p.d);
  }
  a.out.resize(a.pre.size());
  a.rstd.resize(T);
  zcrmsnorm_forward_train(a.out.data(), a.rstd.data(), a.pre.data(), p.enc_norm, T, C, c.norm_eps);
}

void encoder_backward(const float* dout, const EncoderAct& a, const int32_t* ids, const ModelPtrs& p,
                      const ModelConfig& c) {
  const int T = a.T, C = c.d_model;
  const bool ffn = c.d_ff > 0;
  Vec dx;
  // out = ZCRMSNorm(pre)
  zero(dx, a.pre.size());
  zcrmsnorm_backward(dx.data(), p.denc_norm, dout, a.pre.data(), p.enc_norm, a.rstd.data(), T, C);
  for (int l = c.n_enc_layers - 1; l >= 0; --l) {
    if (ffn) ffn_block_backward(dx.data(), a.ffn[l], T, p.enc_ffn[l], p.d);
    attn_backward(dx.data(), nullptr, a.attn[l], nullptr, T, T, p.enc_attn[l], p.d, true, a.valid.data(), -1,
                  a.block_prefix);
  }
  // x = E[ids] * sqrt(C)
  embedding_backward(p.dE, dx.data(), ids, T, C);
}

size_t encoder_act_floats(const ModelConfig& c, int T) {
  const size_t t = static_cast<size_t>(T), C = static_cast<size_t>(c.d_model), KV = static_cast<size_t>(c.kv_dim());
  const size_t per_attn = 6 * t * C + 3 * t * KV + t + t * (c.n_heads + c.n_kv_heads) +
                          static_cast<size_t>(c.n_heads) * t * t;
  const size_t per_ffn = c.d_ff > 0 ? 3 * t * C + t + 3 * t * static_cast<size_t>(c.d_ff) : 0;
  return static_cast<size_t>(c.n_enc_layers) * (per_attn + per_ffn) + 2 * t * C + 2 * t;
}

}  // namespace train
}  // namespace np
