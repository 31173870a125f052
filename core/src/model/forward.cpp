// forward.cpp — the inference forward pass as a flat list of layer calls: encoder,
// cross-attention K/V once per input, one decoder step at a time with a KV cache, tied
// logits, retrieval head. Kernels are in ops/.
#include <algorithm>
#include <cmath>
#include <cstring>
#include <tuple>
#include <vector>

#include "np/model.h"
#include "np/threads.h"
#include "ops/attention_q8.h"
#include "ops/attention_rows.h"
#include "ops/ops.h"
#include "ops/simd128.h"

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
    float* xt = x + static_cast<int64_t>(t) * d;
    E.row(ids[t], xt);
    for (int c = 0; c < d; ++c) xt[c] *= scale;
  }
}

}  // namespace

Status Model::check_ids(const std::vector<int32_t>& ids, int32_t offset) const {
  const ModelConfig& c = config_;
  for (size_t t = 0; t < ids.size(); ++t)
    if (ids[t] < 0 || ids[t] >= c.vocab_size)
      return Status(Code::kInvalidInput, "token id " + std::to_string(ids[t]) + " at position " +
                                             std::to_string(offset + static_cast<int64_t>(t)) + " outside the vocabulary");
  return Status::Ok();
}

namespace {

// bf16 storage of a kept block's keys and values (EncoderBlock::k, v): round to nearest even,
// and back by a shift (exact).
void to_bf16(const float* x, size_t n, std::vector<uint16_t>* out) {
  out->resize(n);
  uint16_t* o = out->data();
  for (size_t i = 0; i < n; ++i) {
    uint32_t u;
    std::memcpy(&u, &x[i], 4);
    o[i] = static_cast<uint16_t>((u + 0x7fffu + ((u >> 16) & 1u)) >> 16);
  }
}

void from_bf16(const std::vector<uint16_t>& b, float* x) {
  const uint16_t* in = b.data();
  size_t i = 0;
#if defined(NP_SIMD128)
  for (; i + 8 <= b.size(); i += 8) {  // widen 8 at a time (the scalar loop stays scalar in WebAssembly)
    const v128_t h = wasm_v128_load(in + i);
    wasm_v128_store(x + i, wasm_i32x4_shl(wasm_u32x4_extend_low_u16x8(h), 16));
    wasm_v128_store(x + i + 4, wasm_i32x4_shl(wasm_u32x4_extend_high_u16x8(h), 16));
  }
#endif
  for (; i < b.size(); ++i) {
    const uint32_t u = static_cast<uint32_t>(in[i]) << 16;
    std::memcpy(&x[i], &u, 4);
  }
}

}  // namespace

namespace {
// Whether a kept block holds its keys and values (the encoder layers' and the cross-attention's)
// in int8 for this shape (attention_rows' integer path reads them), else in bf16.
bool block_q8(const ModelConfig& c) { return kv_q8_supported(c.head_dim()) && attention_rows_supported(c.head_dim()); }
}  // namespace

void Model::run_encoder_layers(float* x, int R, const std::vector<uint8_t>& valid, const EncoderBlock* block,
                               int32_t block_prefix, EncoderBlock* keep) const {
  const ModelConfig& c = config_;
  const int d = c.d_model, kv = c.kv_dim(), NH = c.n_heads, NKV = c.n_kv_heads, HS = c.head_dim();
  const int P = block ? block->T : 0, Tk = P + R;
  const size_t Rd = static_cast<size_t>(R) * d, Rkv = static_cast<size_t>(R) * kv;
  // A few rows attend to an int8 block in place (integer products over its keys, no copy);
  // more rows, or builds with FMA float kernels, dequantize the block's keys and values once
  // per layer for the packed-GEMM attention (attention_rows_int8_max_rows).
  const bool in_place = block && !block->kq.empty() && R <= attention_rows_int8_max_rows();
  std::vector<float> h(Rd), q(Rd), att(Rd), y(Rd);
  // keys and values of every token attended to: the block's (unless read in place), then the
  // R tokens' own
  const size_t held = in_place ? static_cast<size_t>(R) : static_cast<size_t>(Tk);
  std::vector<float> k(held * kv), v(held * kv);
  float* kr = k.data() + (held - static_cast<size_t>(R)) * kv;
  float* vr = v.data() + (held - static_cast<size_t>(R)) * kv;
  const bool keep_q8 = keep && block_q8(c);
  if (keep) {
    keep->kq.assign(keep_q8 ? c.n_enc_layers : 0, {});
    keep->vq.assign(keep_q8 ? c.n_enc_layers : 0, {});
    keep->k.assign(keep_q8 ? 0 : c.n_enc_layers, {});
    keep->v.assign(keep_q8 ? 0 : c.n_enc_layers, {});
  }
  for (int l = 0; l < c.n_enc_layers; ++l) {
    const EncoderLayer& L = enc_layers_[l];
    // x = x + sigmoid(attn_gate) * SelfAttn(ZCRMSNorm(x))
    zcrmsnorm_forward(h.data(), x, L.attn_norm.data(), R, d, c.norm_eps);
    project_qkv(L.attn, c, h.data(), R, q.data(), c.norm_eps);
    project_kv(L.attn, c, h.data(), R, kr, vr, c.norm_eps);
    rope_forward(q.data(), rope_, R, NH, HS, P);
    rope_forward(kr, rope_, R, NKV, HS, P);
    if (keep_q8) {
      quantize_keys_q8(kr, R, NKV, HS, &keep->kq[l]);
      quantize_values_q8(vr, R, NKV, HS, &keep->vq[l]);
    } else if (keep) {
      to_bf16(kr, Rkv, &keep->k[l]);
      to_bf16(vr, Rkv, &keep->v[l]);
    }
    if (in_place) {
      attention_rows_forward(att.data(), q.data(), KVSegment{nullptr, nullptr, P, nullptr, nullptr, &block->kq[l], &block->vq[l]},
                             KVSegment{kr, vr, R}, R, NH, NKV, HS, valid.data());
    } else {
      if (block)  // the block's keys on one thread, its values on another (2 x 0.3 MB a layer for the 26M shape's 5-tool block)
        parallel_for(2, 1, [&](int64_t b, int64_t e) {
          for (int64_t i = b; i < e; ++i) {
            const bool keys = i == 0;
            float* dst = keys ? k.data() : v.data();
            if (!block->kq.empty()) dequantize_kv_q8(keys ? block->kq[l] : block->vq[l], NKV, HS, keys, dst);
            else from_bf16(keys ? block->k[l] : block->v[l], dst);
          }
        });
      attention_forward(att.data(), q.data(), k.data(), v.data(), R, Tk, NH, NKV, HS, valid.data(), -1, block_prefix);
    }
    linear_forward(y.data(), att.data(), L.attn.wo, R);
    gated_residual_forward(x, y.data(), L.attn.gate, R, d);
    if (L.has_ffn) ffn_sublayer(x, L.ffn, c, R);
  }
}

namespace {

// The final norm into `out`, then per decoder layer its cross-attention keys and values
// (computed once per input) handed to store(l, k, v) through a float scratch.
template <typename Store>
void finish_encoder_with(const ModelConfig& c, const std::vector<float>& norm,
                         const std::vector<DecoderLayer>& layers, const float* x, int R, std::vector<float>* out,
                         const Store& store) {
  const size_t Rkv = static_cast<size_t>(R) * c.kv_dim();
  out->resize(static_cast<size_t>(R) * c.d_model);
  zcrmsnorm_forward(out->data(), x, norm.data(), R, c.d_model, c.norm_eps);
  std::vector<float> k(Rkv), v(Rkv);
  for (int l = 0; l < c.n_dec_layers; ++l) {
    project_kv(layers[l].cross_attn, c, out->data(), R, k.data(), v.data(), c.norm_eps);
    store(l, k, v);
    k.resize(Rkv);  // where store took the scratch's storage
    v.resize(Rkv);
  }
}

}  // namespace

void Model::finish_encoder(const float* x, int R, std::vector<float>* out, std::vector<std::vector<float>>* cross_k,
                           std::vector<std::vector<float>>* cross_v) const {
  cross_k->assign(config_.n_dec_layers, {});
  cross_v->assign(config_.n_dec_layers, {});
  finish_encoder_with(config_, enc_out_norm_, dec_layers_, x, R, out,
                      [&](int l, std::vector<float>& k, std::vector<float>& v) {
                        (*cross_k)[l] = std::move(k);
                        (*cross_v)[l] = std::move(v);
                      });
}

// One layer at a time through the float scratch: a block never holds them in fp32 whole.
void Model::finish_encoder_block(const float* x, int R, EncoderBlock* block) const {
  const ModelConfig& c = config_;
  const bool q8 = block_q8(c);
  block->cross_kq.assign(q8 ? c.n_dec_layers : 0, {});
  block->cross_vq.assign(q8 ? c.n_dec_layers : 0, {});
  block->cross_k.assign(q8 ? 0 : c.n_dec_layers, {});
  block->cross_v.assign(q8 ? 0 : c.n_dec_layers, {});
  finish_encoder_with(c, enc_out_norm_, dec_layers_, x, R, &block->out,
                      [&](int l, std::vector<float>& k, std::vector<float>& v) {
                        if (q8) {
                          quantize_keys_q8(k.data(), R, c.n_kv_heads, c.head_dim(), &block->cross_kq[l]);
                          quantize_values_q8(v.data(), R, c.n_kv_heads, c.head_dim(), &block->cross_vq[l]);
                        } else {
                          to_bf16(k.data(), k.size(), &block->cross_k[l]);
                          to_bf16(v.data(), v.size(), &block->cross_v[l]);
                        }
                      });
}

Status Model::encode(const std::vector<int32_t>& ids, EncoderOutput* out, int32_t block_prefix) const {
  const ModelConfig& c = config_;
  const int T = static_cast<int>(ids.size());
  if (T < 1) return Status(Code::kInvalidInput, "encoder input is empty");
  if (T > c.max_enc_len)
    return Status(Code::kInvalidInput, "encoder input has " + std::to_string(T) + " tokens, the model's context is " + std::to_string(c.max_enc_len));
  NP_RETURN_IF_ERROR(check_ids(ids, 0));
  if (block_prefix < 0 || block_prefix > T)
    return Status(Code::kInvalidInput, "encoder block prefix " + std::to_string(block_prefix) + " outside the input");
  if (block_prefix > 0 && !c.catalog_mask())
    return Status(Code::kInvalidInput, "an encoder block prefix needs the catalog encoder mask");

  std::vector<uint8_t> valid(T);
  for (int t = 0; t < T; ++t) valid[t] = ids[t] != c.pad_id;
  std::vector<float> x(static_cast<size_t>(T) * c.d_model);
  embed_tokens(x.data(), embedding_, ids.data(), T, c.d_model);
  run_encoder_layers(x.data(), T, valid, nullptr, block_prefix, nullptr);
  out->T = T;
  out->key_valid = std::move(valid);
  finish_encoder(x.data(), T, &out->out, &out->cross_k, &out->cross_v);
  return Status::Ok();
}

uint64_t encoder_block_bytes(const ModelConfig& c, int64_t T) {
  const uint64_t t = static_cast<uint64_t>(T < 0 ? 0 : T), kv = static_cast<uint64_t>(c.kv_dim());
  // one layer's keys and values (the encoder's and the cross-attention's are the same shape)
  const uint64_t layer = block_q8(c)
                             ? kv_q8_bytes(T, c.n_kv_heads, c.head_dim(), true) + kv_q8_bytes(T, c.n_kv_heads, c.head_dim(), false)
                             : sizeof(uint16_t) * t * 2 * kv;
  return t * (sizeof(int32_t) + 1) + layer * static_cast<uint64_t>(c.n_enc_layers + c.n_dec_layers) +
         sizeof(float) * t * static_cast<uint64_t>(c.d_model);
}

uint64_t EncoderBlock::bytes() const {
  uint64_t n = ids.size() * sizeof(int32_t) + key_valid.size() + out.size() * sizeof(float);
  for (const auto* lists : {&k, &v, &cross_k, &cross_v})
    for (const std::vector<uint16_t>& a : *lists) n += a.size() * sizeof(uint16_t);
  for (const auto* lists : {&kq, &vq, &cross_kq, &cross_vq})
    for (const KVQ8& a : *lists) n += a.bytes();
  return n;
}

Status Model::encode_block(const std::vector<int32_t>& block_ids, EncoderBlock* out) const {
  const ModelConfig& c = config_;
  if (!c.catalog_mask()) return Status(Code::kUnsupported, "encoder blocks need the catalog encoder mask; this model's is '" + c.encoder_mask + "'");
  const int T = static_cast<int>(block_ids.size());
  if (T < 1) return Status(Code::kInvalidInput, "encoder block is empty");
  if (T >= c.max_enc_len)
    return Status(Code::kInvalidInput, "encoder block has " + std::to_string(T) + " tokens; the model's context is " +
                                           std::to_string(c.max_enc_len) + " and the query needs one");
  NP_RETURN_IF_ERROR(check_ids(block_ids, 0));
  out->T = T;
  out->ids = block_ids;
  out->key_valid.resize(T);
  for (int t = 0; t < T; ++t) out->key_valid[t] = block_ids[t] != c.pad_id;
  std::vector<float> x(static_cast<size_t>(T) * c.d_model);
  embed_tokens(x.data(), embedding_, block_ids.data(), T, c.d_model);
  run_encoder_layers(x.data(), T, out->key_valid, nullptr, 0, out);
  finish_encoder_block(x.data(), T, out);
  return Status::Ok();
}

namespace {

// Copies an output's prefix rows in front of its own and drops the prefix: one list of keys.
void flatten_prefix(EncoderOutput* out, const ModelConfig& c) {
  if (!out->prefix) return;
  const EncoderBlock& block = *out->prefix;
  out->out.insert(out->out.begin(), block.out.begin(), block.out.end());
  const auto prepend = [](const std::vector<uint16_t>& a, std::vector<float>* b) {  // widened
    b->insert(b->begin(), a.size(), 0.0f);
    from_bf16(a, b->data());
  };
  const auto prepend_q8 = [&](const KVQ8& a, bool keys, std::vector<float>* b) {  // dequantized
    b->insert(b->begin(), static_cast<size_t>(a.T) * c.kv_dim(), 0.0f);
    dequantize_kv_q8(a, c.n_kv_heads, c.head_dim(), keys, b->data());
  };
  for (size_t l = 0; l < out->cross_k.size(); ++l) {
    if (!block.cross_kq.empty()) {
      prepend_q8(block.cross_kq[l], true, &out->cross_k[l]);
      prepend_q8(block.cross_vq[l], false, &out->cross_v[l]);
    } else {
      prepend(block.cross_k[l], &out->cross_k[l]);
      prepend(block.cross_v[l], &out->cross_v[l]);
    }
  }
  out->prefix.reset();
}

}  // namespace

int32_t EncoderOutput::prefix_T() const { return prefix ? prefix->T : 0; }

Status Model::encode_after(const EncoderBlock& block, const std::vector<int32_t>& rest_ids,
                           EncoderOutput* out) const {
  // A non-owning pointer: `block` outlives this call, and the prefix is flattened before it returns.
  NP_RETURN_IF_ERROR(encode_after(std::shared_ptr<const EncoderBlock>(&block, [](const EncoderBlock*) {}), rest_ids, out));
  flatten_prefix(out, config_);
  return Status::Ok();
}

Status Model::encode_after(std::shared_ptr<const EncoderBlock> block_ptr, const std::vector<int32_t>& rest_ids,
                           EncoderOutput* out) const {
  const ModelConfig& c = config_;
  if (!c.catalog_mask()) return Status(Code::kUnsupported, "encoder blocks need the catalog encoder mask; this model's is '" + c.encoder_mask + "'");
  if (!block_ptr) return Status(Code::kInvalidInput, "no encoder block");
  const EncoderBlock& block = *block_ptr;
  const int P = block.T, R = static_cast<int>(rest_ids.size());
  if (R < 1) return Status(Code::kInvalidInput, "nothing follows the encoder block");
  bool fits = P >= 1 && block.key_valid.size() == static_cast<size_t>(P);
  const size_t Pkv = static_cast<size_t>(P) * static_cast<size_t>(c.kv_dim());
  // Each layer list of the block's form (int8 or bf16) holds `layers` entries of P tokens, the
  // other form's lists are empty.
  const auto q8_lists = [&](const std::vector<KVQ8>& ks, const std::vector<KVQ8>& vs, int layers) {
    const auto sized = [&](const KVQ8& a, bool keys) {
      return a.T == P && static_cast<uint64_t>(a.q.size()) + a.scale.size() * sizeof(float) == kv_q8_bytes(P, c.n_kv_heads, c.head_dim(), keys) &&
             a.scale.size() * static_cast<size_t>(c.head_dim()) == a.q.size() && a.rows * static_cast<size_t>(c.n_kv_heads) == a.scale.size();
    };
    bool ok = static_cast<int>(ks.size()) == layers && vs.size() == ks.size();
    for (size_t l = 0; ok && l < ks.size(); ++l) ok = sized(ks[l], true) && sized(vs[l], false);
    return ok;
  };
  const auto bf16_lists = [&](const std::vector<std::vector<uint16_t>>& ks, const std::vector<std::vector<uint16_t>>& vs, int layers) {
    bool ok = static_cast<int>(ks.size()) == layers && vs.size() == ks.size();
    for (size_t l = 0; ok && l < ks.size(); ++l) ok = ks[l].size() == Pkv && vs[l].size() == Pkv;
    return ok;
  };
  if (block_q8(c))  // int8 (the bf16 lists empty)
    fits = fits && q8_lists(block.kq, block.vq, c.n_enc_layers) && q8_lists(block.cross_kq, block.cross_vq, c.n_dec_layers) &&
           bf16_lists(block.k, block.v, 0) && bf16_lists(block.cross_k, block.cross_v, 0);
  else
    fits = fits && bf16_lists(block.k, block.v, c.n_enc_layers) && bf16_lists(block.cross_k, block.cross_v, c.n_dec_layers) &&
           q8_lists(block.kq, block.vq, 0) && q8_lists(block.cross_kq, block.cross_vq, 0);
  if (!fits) return Status(Code::kInvalidInput, "encoder block does not belong to this model");
  if (P + R > c.max_enc_len)
    return Status(Code::kInvalidInput, "encoder input has " + std::to_string(P + R) + " tokens, the model's context is " + std::to_string(c.max_enc_len));
  NP_RETURN_IF_ERROR(check_ids(rest_ids, P));
  const int d = c.d_model;
  std::vector<uint8_t> valid(block.key_valid);
  for (int t = 0; t < R; ++t) valid.push_back(rest_ids[t] != c.pad_id);
  std::vector<float> x(static_cast<size_t>(R) * d);
  embed_tokens(x.data(), embedding_, rest_ids.data(), R, d);
  run_encoder_layers(x.data(), R, valid, &block, 0, nullptr);
  finish_encoder(x.data(), R, &out->out, &out->cross_k, &out->cross_v);
  out->T = P + R;
  out->key_valid = std::move(valid);
  out->prefix = std::move(block_ptr);  // the decoder reads the block's rows in place
  // ...with the few-row attention kernel; the general one needs one list of keys.
  if (!attention_rows_supported(c.head_dim())) flatten_prefix(out, c);
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
  const int P = enc.prefix_T();
  for (int t = 0; t < enc.T; ++t) {
    if (ids[t] == c.pad_id) continue;
    ++n;
    const float* row = t < P ? enc.prefix->out.data() + static_cast<size_t>(t) * d : enc.out.data() + static_cast<size_t>(t - P) * d;
    for (int i = 0; i < d; ++i) acc[i] += row[i];
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

// The cache starts with room for kDecoderCacheStart positions and doubles when full (up to
// max_dec_len): a call of ~20 output tokens holds 32 positions, not max_dec_len (8.4 MB on the
// 26M shape at 512 positions).
constexpr int kDecoderCacheStart = 32;

DecoderState Model::new_decoder_state() const {
  DecoderState s;
  const size_t rows = static_cast<size_t>(std::min(kDecoderCacheStart, config_.max_dec_len));
  s.k.assign(config_.n_dec_layers, std::vector<float>(rows * config_.kv_dim()));
  s.v.assign(config_.n_dec_layers, std::vector<float>(rows * config_.kv_dim()));
  return s;
}

Status Model::decode_step(const EncoderOutput& enc, DecoderState& state, int32_t token,
                          float* logits) const {
  return decode_step_impl(enc, state, token, logits, nullptr, 0);
}

Status Model::decode_step_rows(const EncoderOutput& enc, DecoderState& state, int32_t token, float* logits,
                               const int32_t* rows, int n) const {
  for (int i = 0; i < n; ++i)
    if (rows[i] < 0 || rows[i] >= config_.vocab_size)
      return Status(Code::kInvalidInput, "logit row " + std::to_string(rows[i]) + " outside the vocabulary");
  return decode_step_impl(enc, state, token, logits, rows, n);
}

Status Model::decode_step_impl(const EncoderOutput& enc, DecoderState& state, int32_t token, float* logits,
                               const int32_t* rows, int n) const {
  const ModelConfig& c = config_;
  if (token < 0 || token >= c.vocab_size) return Status(Code::kInvalidInput, "decoder token id " + std::to_string(token) + " outside the vocabulary");
  if (state.pos >= c.max_dec_len) return Status(Code::kInvalidInput, "decoder context full (" + std::to_string(c.max_dec_len) + " tokens)");
  if (static_cast<int>(state.k.size()) != c.n_dec_layers) return Status(Code::kInvalidInput, "decoder state does not belong to this model");
  if (enc.T < 1 || static_cast<int>(enc.cross_k.size()) != c.n_dec_layers ||
      (enc.prefix && (static_cast<int>(std::max(enc.prefix->cross_k.size(), enc.prefix->cross_kq.size())) != c.n_dec_layers ||
                       enc.prefix->T >= enc.T)))
    return Status(Code::kInvalidInput, "encoder output does not belong to this model");
  const int d = c.d_model, kv = c.kv_dim(), NH = c.n_heads, NKV = c.n_kv_heads, HS = c.head_dim();
  const int pos = state.pos;
  for (int l = 0; l < c.n_dec_layers; ++l) {  // room for position pos in every layer
    const size_t need = static_cast<size_t>(pos + 1) * kv;
    if (state.k[l].size() < need || state.v[l].size() < need) {
      const size_t rows = std::min<size_t>(c.max_dec_len, std::max<size_t>(2 * (state.k[l].size() / kv), pos + 1));
      state.k[l].resize(rows * kv);
      state.v[l].resize(rows * kv);
    }
  }
  std::vector<float> x(d), h(d), q(d), att(d), y(d);
  embed_tokens(x.data(), embedding_, &token, 1, d);
  for (int l = 0; l < c.n_dec_layers; ++l) {
    const DecoderLayer& L = dec_layers_[l];
    // x = x + sigmoid(self_attn_gate) * SelfAttn(ZCRMSNorm(x)), causal, RoPE at pos
    zcrmsnorm_forward(h.data(), x.data(), L.attn_norm.data(), 1, d, c.norm_eps);
    float* kc = state.k[l].data() + static_cast<size_t>(pos) * kv;
    float* vc = state.v[l].data() + static_cast<size_t>(pos) * kv;
    // q, k and v of the one token in one job (project_qkv and project_kv's values).
    const LinearOut qkv[3] = {{q.data(), &L.self_attn.wq}, {kc, &L.self_attn.wk}, {vc, &L.self_attn.wv}};
    linear_forward_multi(h.data(), 1, qkv, 3);
    zcrmsnorm_forward(q.data(), q.data(), L.self_attn.q_norm.data(), NH, HS, c.norm_eps);
    zcrmsnorm_forward(kc, kc, L.self_attn.k_norm.data(), NKV, HS, c.norm_eps);
    rope_forward(q.data(), rope_, 1, NH, HS, pos);
    rope_forward(kc, rope_, 1, NKV, HS, pos);
    attention_forward(att.data(), q.data(), state.k[l].data(), state.v[l].data(), 1, pos + 1, NH, NKV, HS, nullptr, -1);
    linear_forward(y.data(), att.data(), L.self_attn.wo, 1);
    gated_residual_forward(x.data(), y.data(), L.self_attn.gate, 1, d);
    // x = x + sigmoid(cross_attn_gate) * CrossAttn(ZCRMSNorm(x), enc), no RoPE
    zcrmsnorm_forward(h.data(), x.data(), L.cross_norm.data(), 1, d, c.norm_eps);
    project_qkv(L.cross_attn, c, h.data(), 1, q.data(), c.norm_eps);
    const uint8_t* valid = enc.key_valid.empty() ? nullptr : enc.key_valid.data();
    if (enc.prefix) {  // the cached block's keys, then the query's (EncoderOutput::prefix)
      const int P = enc.prefix->T;
      const EncoderBlock& b = *enc.prefix;
      const KVSegment block_kv = b.cross_kq.empty()
                                     ? KVSegment{nullptr, nullptr, P, b.cross_k[l].data(), b.cross_v[l].data()}
                                     : KVSegment{nullptr, nullptr, P, nullptr, nullptr, &b.cross_kq[l], &b.cross_vq[l]};
      attention_rows_forward(att.data(), q.data(), block_kv,
                             KVSegment{enc.cross_k[l].data(), enc.cross_v[l].data(), enc.T - P}, 1, NH, NKV, HS, valid);
    } else {
      attention_forward(att.data(), q.data(), enc.cross_k[l].data(), enc.cross_v[l].data(), 1, enc.T, NH, NKV, HS, valid, -1);
    }
    linear_forward(y.data(), att.data(), L.cross_attn.wo, 1);
    gated_residual_forward(x.data(), y.data(), L.cross_attn.gate, 1, d);
    if (L.has_ffn) ffn_sublayer(x.data(), L.ffn, c, 1);
  }
  state.pos = pos + 1;
  if (!logits) return Status::Ok();  // the token is only fed (its successor is already known)
  zcrmsnorm_forward(h.data(), x.data(), dec_out_norm_.data(), 1, d, c.norm_eps);
  // tied logits: h @ E^T (all, or the rows asked for)
  if (rows) linear_rows_forward(logits, h.data(), embedding_, rows, n);
  else linear_forward(logits, h.data(), embedding_, 1);
  return Status::Ok();
}

}  // namespace np
