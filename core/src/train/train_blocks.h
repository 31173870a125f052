// train_blocks.h — internal to core/src/train: the layer blocks of the training pass over
// one sequence (attention and FFN sublayers, forward keeping every activation the backward
// needs, and their backward), the whole encoder over one sequence, and the table of
// parameter/gradient pointers they read, shared by the token loss (train_model.cpp) and the
// contrastive loss (train_contrastive.cpp). Not here: losses, batching, validation of ids
// (the callers check ids and lengths before calling).
#pragma once
#include <cstdint>
#include <vector>

#include "np/model.h"
#include "np/optim.h"

namespace np {
namespace train {

using Vec = std::vector<float>;

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
  Vec x_in, h, rstd;     // (T, C), (T, C), (T): ZCRMSNorm(x_in)
  Vec pre_g, pre_u, a;   // (T, DFF)
  Vec y;                 // (T, C)
};

struct Dims {
  int C, NH, NKV, HS, KV, DFF;
  double eps;
  FfnActivation act;
  const float *cos, *sin;  // (max_pos, HS/2) the model's RopeTable
};

// Every parameter and gradient pointer of a model, by role. The retrieval head's pointers
// are null when the config has no head (contrastive_dim == 0); the FFN lists are empty
// when d_ff == 0.
struct ModelPtrs {
  std::vector<AttnP> enc_attn, dec_self, dec_cross;  // [layer]
  std::vector<FfnP> enc_ffn, dec_ffn;                // [layer]
  const float* E = nullptr;                          // (V, C)
  float* dE = nullptr;
  const float *enc_norm = nullptr, *dec_norm = nullptr;  // (C)
  float *denc_norm = nullptr, *ddec_norm = nullptr;
  const float *w1 = nullptr, *b1 = nullptr, *w2 = nullptr, *log_temp = nullptr;  // (H, C), (H), (OC, H), (1)
  float *dw1 = nullptr, *db1 = nullptr, *dw2 = nullptr, *dlog_temp = nullptr;
  Dims d{};
};
// Pointers into `arena` (take them after the arena's last add()).
ModelPtrs model_ptrs(ParamArena& arena, const ModelConfig& c, const RopeTable& rope);

// x (Tq, C) += sigmoid(gate) * Attn(ZCRMSNorm(x), kv_in or the normed x).
// block_prefix: ops/kernels.h's attention mask (the catalog encoder mask), 0 for none.
void attn_forward(AttnAct& a, float* x, const float* kv_in, int Tq, int Tk, const AttnP& p,
                  const Dims& d, bool rope, const uint8_t* key_valid, int causal, int block_prefix = 0);
// dx (Tq, C): d(loss)/d(x_out) on entry, d(loss)/d(x_in) on return. dkv_in (Tk, C) += the
// gradient of kv_in (cross-attention); null for self-attention.
void attn_backward(float* dx, float* dkv_in, const AttnAct& a, const float* kv_in, int Tq, int Tk,
                   const AttnP& p, const Dims& d, bool rope, const uint8_t* key_valid, int causal,
                   int block_prefix = 0);
// x (T, C) += sigmoid(gate) * FFN(ZCRMSNorm(x)).
void ffn_block_forward(FfnAct& f, float* x, int T, const FfnP& p, const Dims& d);
// dx (T, C): d(x_out) on entry, d(x_in) on return.
void ffn_block_backward(float* dx, const FfnAct& f, int T, const FfnP& p, const Dims& d);

// The encoder's activations for one sequence of T tokens (right padding already trimmed).
struct EncoderAct {
  int T = 0;
  int block_prefix = 0;        // the catalog mask's tool block (0: bidirectional)
  std::vector<uint8_t> valid;  // (T) ids[t] != pad_id
  std::vector<AttnAct> attn;   // [layer]
  std::vector<FfnAct> ffn;     // [layer], empty without FFN
  Vec pre;                     // (T, C) residual stream after the last layer
  Vec out;                     // (T, C) ZCRMSNorm(pre): what cross-attention and the head read
  Vec rstd;                    // (T)
};
// Embedding, every encoder layer, the final norm. ids (T), checked by the caller.
// block_prefix > 0 (catalog mask): tokens [0, block_prefix) attend only among themselves.
void encoder_forward(EncoderAct& a, const int32_t* ids, int T, const ModelPtrs& p, const ModelConfig& c,
                     int block_prefix = 0);
// dout (T, C): d(loss)/d(out). Adds every encoder parameter's gradient (the embedding's
// too) into the arena.
void encoder_backward(const float* dout, const EncoderAct& a, const int32_t* ids, const ModelPtrs& p,
                      const ModelConfig& c);
// Floats an EncoderAct of T tokens holds (to budget keeping several at once).
size_t encoder_act_floats(const ModelConfig& c, int T);

}  // namespace train
}  // namespace np
