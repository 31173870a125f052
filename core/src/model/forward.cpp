// forward.cpp — the inference forward pass as a flat list of layer calls: encoder,
// cross-attention K/V once per input, one decoder step at a time with a KV cache, tied
// logits, retrieval head. Kernels are in ops/.
#include <cmath>
#include <vector>

#include "np/model.h"
#include "ops/ops.h"

namespace np {

namespace {

// q/k/v projections + QK-norm (+ RoPE) for T tokens of an attention sublayer.
void project_qkv(const AttentionWeights& a, const ModelConfig& c, const float* h_q, int Tq,
                 float* q, float eps) {
  linear_forward(q, h_q, a.wq, Tq);
  zcrmsnorm_forward(q, q, a.q_norm.data(), Tq * c.n_heads, c.head_dim(), eps);
}

void project_kv(const AttentionWeights& a, const ModelConfig& c, const float* h_kv, int Tk,
                float* k, float* v, float eps) {
  linear_forward(k, h_kv, a.wk, Tk);
  zcrmsnorm_forward(k, k, a.k_norm.data(), Tk * c.n_kv_heads, c.head_dim(), eps);
  linear_forward(v, h_kv, a.wv, Tk);
}

// x += gate * FFN(ZCRMSNorm(x)) when the layer has the block.
void ffn_sublayer(float* x, const FeedForwardWeights& w, const ModelConfig& c, int T) {
  const int d = c.d_model;
  std::vector<float> h(static_cast<size_t>(T) * d), y(static_cast<size_t>(T) * d);
  zcrmsnorm_forward(h.data(), x, w.norm.data(), T, d, c.norm_eps);
  ffn_forward(y.data(), h.data(), w, c.ffn_act, T, d, c.d_ff);
  gated_residual_forward(x, y.data(), w.gate, T, d);
}

void embed_tokens(float* x, const Matrix& E, const int32_t* ids, int T, int d) {
  const float scale = std::sqrt(static_cast<float>(d));
  for (int t = 0; t < T; ++t) {
    const float* row = E.f32 + static_cast<int64_t>(ids[t]) * d;
    for (int c = 0; c < d; ++c) x[static_cast<int64_t>(t) * d + c] = row[c] * scale;
  }
}

}  // namespace

Status Model::encode(const std::vector<int32_t>& ids, EncoderOutput* out) const {
  const ModelConfig& c = config_;
  const int T = static_cast<int>(ids.size());
  if (T < 1) return Status(Code::kInvalidInput, "encoder input is empty");
  if (T > c.max_enc_len)
    return Status(Code::kInvalidInput, "encoder input has " + std::to_string(T) + " tokens, the model's context is " + std::to_string(c.max_enc_len));
  for (int t = 0; t < T; ++t)
    if (ids[t] < 0 || ids[t] >= c.vocab_size)
      return Status(Code::kInvalidInput, "token id " + std::to_string(ids[t]) + " at position " + std::to_string(t) + " outside the vocabulary");

  const int d = c.d_model, kv = c.kv_dim(), NH = c.n_heads, NKV = c.n_kv_heads, HS = c.head_dim();
  const size_t Td = static_cast<size_t>(T) * d, Tkv = static_cast<size_t>(T) * kv;
  std::vector<uint8_t> valid(T);
  for (int t = 0; t < T; ++t) valid[t] = ids[t] != c.pad_id;

  std::vector<float> x(Td), h(Td), q(Td), k(Tkv), v(Tkv), att(Td), y(Td);
  embed_tokens(x.data(), embedding_, ids.data(), T, d);
  for (const EncoderLayer& L : enc_layers_) {
    // x = x + sigmoid(attn_gate) * SelfAttn(ZCRMSNorm(x))
    zcrmsnorm_forward(h.data(), x.data(), L.attn_norm.data(), T, d, c.norm_eps);
    project_qkv(L.attn, c, h.data(), T, q.data(), c.norm_eps);
    project_kv(L.attn, c, h.data(), T, k.data(), v.data(), c.norm_eps);
    rope_forward(q.data(), rope_, T, NH, HS, 0);
    rope_forward(k.data(), rope_, T, NKV, HS, 0);
    attention_forward(att.data(), q.data(), k.data(), v.data(), T, T, NH, NKV, HS, valid.data(), -1);
    linear_forward(y.data(), att.data(), L.attn.wo, T);
    gated_residual_forward(x.data(), y.data(), L.attn.gate, T, d);
    if (L.has_ffn) ffn_sublayer(x.data(), L.ffn, c, T);
  }
  out->T = T;
  out->key_valid = valid;
  out->out.resize(Td);
  zcrmsnorm_forward(out->out.data(), x.data(), enc_out_norm_.data(), T, d, c.norm_eps);

  // Cross-attention keys and values for every decoder layer, computed once.
  out->cross_k.assign(c.n_dec_layers, {});
  out->cross_v.assign(c.n_dec_layers, {});
  for (int l = 0; l < c.n_dec_layers; ++l) {
    out->cross_k[l].resize(Tkv);
    out->cross_v[l].resize(Tkv);
    project_kv(dec_layers_[l].cross_attn, c, out->out.data(), T, out->cross_k[l].data(),
               out->cross_v[l].data(), c.norm_eps);
  }
  return Status::Ok();
}

Status Model::embed(const EncoderOutput& enc, const std::vector<int32_t>& ids,
                    std::vector<float>* out) const {
  const ModelConfig& c = config_;
  if (c.contrastive_dim <= 0) return Status(Code::kUnsupported, "this model has no retrieval head");
  if (static_cast<int>(ids.size()) != enc.T) return Status(Code::kInvalidInput, "ids do not match the encoder output");
  const int d = c.d_model, H = c.contrastive_hidden();
  // pooled = mean of encoder outputs over non-pad positions
  std::vector<double> acc(d, 0.0);
  int n = 0;
  for (int t = 0; t < enc.T; ++t) {
    if (ids[t] == c.pad_id) continue;
    ++n;
    for (int i = 0; i < d; ++i) acc[i] += enc.out[static_cast<size_t>(t) * d + i];
  }
  std::vector<float> pooled(d, 0.0f);
  if (n > 0)
    for (int i = 0; i < d; ++i) pooled[i] = static_cast<float>(acc[i] / n);
  // h = relu(pooled @ W1 + b1); e = h @ W2; out = e / sqrt(sum(e^2) + 1e-12)
  std::vector<float> hid(H);
  linear_forward(hid.data(), pooled.data(), retrieval_.hidden, 1);
  add_bias(hid.data(), retrieval_.hidden_bias.data(), 1, H);
  for (float& v : hid) v = v > 0 ? v : 0.0f;
  out->assign(c.contrastive_dim, 0.0f);
  linear_forward(out->data(), hid.data(), retrieval_.proj, 1);
  double ss = 0.0;
  for (float v : *out) ss += static_cast<double>(v) * v;
  const float inv = static_cast<float>(1.0 / std::sqrt(ss + 1e-12));
  for (float& v : *out) v *= inv;
  return Status::Ok();
}

DecoderState Model::new_decoder_state() const {
  DecoderState s;
  s.k.assign(config_.n_dec_layers, std::vector<float>(static_cast<size_t>(config_.max_dec_len) * config_.kv_dim()));
  s.v.assign(config_.n_dec_layers, std::vector<float>(static_cast<size_t>(config_.max_dec_len) * config_.kv_dim()));
  return s;
}

Status Model::decode_step(const EncoderOutput& enc, DecoderState& state, int32_t token,
                          float* logits) const {
  const ModelConfig& c = config_;
  if (token < 0 || token >= c.vocab_size) return Status(Code::kInvalidInput, "decoder token id " + std::to_string(token) + " outside the vocabulary");
  if (state.pos >= c.max_dec_len) return Status(Code::kInvalidInput, "decoder context full (" + std::to_string(c.max_dec_len) + " tokens)");
  if (static_cast<int>(state.k.size()) != c.n_dec_layers) return Status(Code::kInvalidInput, "decoder state does not belong to this model");
  if (enc.T < 1 || static_cast<int>(enc.cross_k.size()) != c.n_dec_layers) return Status(Code::kInvalidInput, "encoder output does not belong to this model");
  const int d = c.d_model, kv = c.kv_dim(), NH = c.n_heads, NKV = c.n_kv_heads, HS = c.head_dim();
  const int pos = state.pos;
  std::vector<float> x(d), h(d), q(d), att(d), y(d);
  embed_tokens(x.data(), embedding_, &token, 1, d);
  for (int l = 0; l < c.n_dec_layers; ++l) {
    const DecoderLayer& L = dec_layers_[l];
    // x = x + sigmoid(self_attn_gate) * SelfAttn(ZCRMSNorm(x)), causal, RoPE at pos
    zcrmsnorm_forward(h.data(), x.data(), L.attn_norm.data(), 1, d, c.norm_eps);
    float* kc = state.k[l].data() + static_cast<size_t>(pos) * kv;
    float* vc = state.v[l].data() + static_cast<size_t>(pos) * kv;
    project_qkv(L.self_attn, c, h.data(), 1, q.data(), c.norm_eps);
    project_kv(L.self_attn, c, h.data(), 1, kc, vc, c.norm_eps);
    rope_forward(q.data(), rope_, 1, NH, HS, pos);
    rope_forward(kc, rope_, 1, NKV, HS, pos);
    attention_forward(att.data(), q.data(), state.k[l].data(), state.v[l].data(), 1, pos + 1, NH, NKV, HS, nullptr, -1);
    linear_forward(y.data(), att.data(), L.self_attn.wo, 1);
    gated_residual_forward(x.data(), y.data(), L.self_attn.gate, 1, d);
    // x = x + sigmoid(cross_attn_gate) * CrossAttn(ZCRMSNorm(x), enc), no RoPE
    zcrmsnorm_forward(h.data(), x.data(), L.cross_norm.data(), 1, d, c.norm_eps);
    project_qkv(L.cross_attn, c, h.data(), 1, q.data(), c.norm_eps);
    attention_forward(att.data(), q.data(), enc.cross_k[l].data(), enc.cross_v[l].data(), 1, enc.T, NH, NKV, HS,
                      enc.key_valid.empty() ? nullptr : enc.key_valid.data(), -1);
    linear_forward(y.data(), att.data(), L.cross_attn.wo, 1);
    gated_residual_forward(x.data(), y.data(), L.cross_attn.gate, 1, d);
    if (L.has_ffn) ffn_sublayer(x.data(), L.ffn, c, 1);
  }
  state.pos = pos + 1;
  if (!logits) return Status::Ok();  // the token is only fed (its successor is already known)
  zcrmsnorm_forward(h.data(), x.data(), dec_out_norm_.data(), 1, d, c.norm_eps);
  // tied logits: h @ E^T
  linear_forward(logits, h.data(), embedding_, 1);
  return Status::Ok();
}

}  // namespace np
