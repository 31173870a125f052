// adapters.h — what the forward pass sees versus what the optimiser updates: LoRA adapters
// on projection matrices and quantization-aware training (QAT). Both are weight
// transforms applied to a TrainModel's ParamArena around each forward/backward pass, so the
// forward and backward kernels stay exactly the ones inference and the parity tests use:
//
//   apply():    W_used = fq(W + s * B A)   (LoRA targets; s = alpha / rank)
//               W_used = fq(W)             (other quantized matrices, QAT only)
//   forward/backward over W_used, giving dW_used
//   backprop(): dA = s * B^T dW_used, dB = s * dW_used A^T  (LoRA; the straight-through
//               estimator passes dW_used through fq unchanged)
//   restore():  W <- the master values again (the optimiser then updates the masters)
//
// fq is the export type's round trip (quantize then dequantize with the same block code
// the GGUF writer uses, groups of 32), so a model trained with QAT sees in training exactly
// the weights a Q8_0 or Q4_0 export will hold. Not here: the optimiser (optim.h), the
// training loop (train_loop.h).
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "np/gguf.h"
#include "np/optim.h"
#include "np/status.h"

namespace np {

struct LoraConfig {
  int rank = 0;          // 0 = no LoRA
  double alpha = 16.0;   // scale s = alpha / rank
  // Which projections get adapters, by keyword: "q", "k", "v", "o" (attention output), for
  // self- and cross-attention in encoder and decoder; "ffn" (gate, up and down
  // projections, when the model has them); "retrieval" (the contrastive head's matrices).
  std::vector<std::string> targets = {"q", "k", "v", "o"};
};

// Parses "q,k,v,o" style lists; kInvalidInput naming an unknown keyword.
Status parse_lora_targets(const std::string& list, std::vector<std::string>* out);

// True when the tensor (a GGUF name of a kMatrix tensor) is a LoRA target under `targets`.
bool is_lora_target(const std::string& name, const std::vector<std::string>& targets);

class Adapters {
 public:
  Adapters() = default;
  // Over a model arena (taken by reference; it must outlive this object and keep its
  // layout). lora.rank 0 and qat F32: no transform at all (apply/restore are no-ops).
  // qat: F32 (off), Q8_0 or Q4_0; only matrices whose rows are whole blocks of 32 are
  // fake-quantized (the others export as F32 too). LoRA A ~ N(0, 1/in), B = 0 (so the
  // model starts exactly at the base), drawn from `seed`. LoRA freezes nothing by itself:
  // the caller decides what in the model arena stays trainable.
  static Result<Adapters> create(ParamArena& model, const LoraConfig& lora, GgmlType qat, uint64_t seed);

  bool active() const { return !items_.empty(); }
  bool has_lora() const { return lora_.rank > 0 && !items_.empty(); }
  const LoraConfig& lora() const { return lora_; }
  GgmlType qat() const { return qat_; }
  // LoRA tensors: "lora.<target name>.a" (rank, in) and "lora.<target name>.b" (out, rank),
  // group kMatrix, AdamW (no Muon), no weight decay. Empty without LoRA.
  ParamArena& params() { return lora_params_; }
  const ParamArena& params() const { return lora_params_; }

  // Writes W_used into the model arena (saving the masters first); a no-op when inactive.
  // fake_quant = false writes W + s B A only: the merged weights an export holds.
  void apply(ParamArena& model, bool fake_quant = true);
  // From the model arena's gradients (of W_used), accumulates the LoRA gradients after
  // zeroing them. Call after forward_backward, before restore.
  void backprop(const ParamArena& model);
  // Puts the master values back into the model arena (after apply; else a no-op).
  void restore(ParamArena& model);

 private:
  struct Item {
    size_t index = 0;        // tensor index in the model arena
    int64_t rows = 0, cols = 0;
    int64_t a = -1, b = -1;  // LoRA tensor indices in lora_params_, -1 without LoRA
    bool quantize = false;   // fake-quantize with qat_
    std::vector<float> master;  // the values apply() replaced
  };
  void compute_used(const Item& it, const float* w, float* out, bool fake_quant);

  LoraConfig lora_;
  GgmlType qat_ = GgmlType::F32;
  double scale_ = 0.0;
  ParamArena lora_params_;
  std::vector<Item> items_;
  std::vector<float> tmp_;
  std::vector<uint8_t> qbuf_;
  bool applied_ = false;
};

}  // namespace np
