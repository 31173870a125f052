// trainer.h — a trainable Needle model: its parameters in one ParamArena (named by their
// GGUF tensor names), initialisation (from scratch or from a GGUF file), the training
// forward and backward pass over a padded batch (llm.c style: a flat list of layer calls
// forward, the same list reversed backward, activations kept only here), the contrastive
// retrieval loss over (query, tool) pairs, and export back to GGUF in any weight type.
// Not here: the optimiser (optim.h), the data pipeline (dataset.h), the training loop.
#pragma once
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "np/gguf.h"
#include "np/model.h"
#include "np/optim.h"
#include "np/status.h"
#include "np/tokenizer.h"

namespace np {

// A padded batch: B sequences, right-padded. Encoder pads are the model's pad id; decoder
// positions with target -1 are ignored (weight 0).
struct TrainBatchView {
  int B = 0, Te = 0, Td = 0;
  const int32_t* enc_ids = nullptr;  // (B, Te)
  const int32_t* dec_in = nullptr;   // (B, Td)
  const int32_t* targets = nullptr;  // (B, Td), -1 = ignored
  const float* weights = nullptr;    // (B, Td), or null = 1 for every non-ignored token
  const int32_t* enc_prefix = nullptr;  // (B) the catalog mask's tool block per row, or null = 0
};

struct LossConfig {
  double z_coef = 1e-4;  // z-loss: z_coef * logsumexp^2 per token (weighted like the CE)
};

// A batch for the contrastive retrieval loss: N (query, positive tool text) pairs, each
// right-padded with the model's pad id. Row i of tool_ids is query i's positive; every
// other row is a negative for it (so no two rows may hold the same tool text: dataset.h's
// make_contrastive_batch guarantees it).
struct ContrastiveBatchView {
  int N = 0, Tq = 0, Tt = 0;
  const int32_t* query_ids = nullptr;  // (N, Tq)
  const int32_t* tool_ids = nullptr;   // (N, Tt)
};

struct ContrastiveInfo {
  double loss = 0;         // the CLIP loss (unweighted): (CE over rows + CE over columns) / 2
  double accuracy = 0;     // share of queries whose best-scoring tool is their own (ties: first)
  int N = 0;
  double logit_scale = 0;  // exp(clamp(log_temp, 0, ln 100)) as used
};

struct LossInfo {
  double loss = 0;           // sum_t w_t (ce_t + z lse_t^2) / sum_t w_t
  double ce = 0;             // the unweighted mean cross-entropy over target tokens
  int64_t target_tokens = 0; // tokens with a target
  double weight_sum = 0;
};

class TrainModel {
 public:
  // From scratch: embedding ~ N(0, 1/d), projections ~ N(0, 1/in), norms g = 0, gates a = 0
  // (half strength, as Needle initialises them), retrieval bias 0, log_temp = log(1/0.07).
  static Result<TrainModel> create(const ModelConfig& config, uint64_t seed);
  // From a model file (every weight dequantized to f32).
  static Result<TrainModel> from_gguf(const GgufFile& file);

  const ModelConfig& config() const { return config_; }
  // Switches the encoder mask ("bidirectional" or "catalog"): the weights are the same
  // shapes, so a bidirectional model can continue training as a catalog one.
  Status set_encoder_mask(const std::string& mask);
  ParamArena& params() { return arena_; }
  const ParamArena& params() const { return arena_; }

  // Zeroes gradients, runs forward and backward over the batch, leaves d(loss)/d(param) in
  // the arena's gradients. InvalidInput for ids out of range or lengths over the context.
  Status forward_backward(const TrainBatchView& batch, const LossConfig& loss, LossInfo* info);
  // Forward only (evaluation loss).
  Status forward_loss(const TrainBatchView& batch, const LossConfig& loss, LossInfo* info);

  // The CLIP-style contrastive loss of the retrieval head (docs/training.md, "Contrastive
  // loss"). Queries and tools are encoded separately by the encoder (same weights), pooled
  // and embedded by the head: unit vectors q_i, t_j. logits = s q t^T with s =
  // exp(clamp(log_temp, 0, ln 100)); loss = (CE over rows + CE over columns) / 2, the
  // diagonal as targets. With backward, ADDS weight * d(loss)/d(param) into the arena's
  // gradients (encoder, final encoder norm, embedding, head, log_temp; the decoder gets
  // nothing) and does NOT zero them: call forward_backward first (which zeroes), then this.
  // Errors: kUnsupported without a retrieval head; kInvalidInput for N < 2, a row with no
  // token other than padding, two identical tool rows, ids outside the vocabulary, lengths
  // over max_enc_len, or a non-finite weight. Nothing is added to the gradients on error.
  Status contrastive_forward_backward(const ContrastiveBatchView& batch, double weight,
                                      ContrastiveInfo* info, bool backward = true);
  // Projects log_temp back into [0, ln 100] (CLIP and OpenCLIP clamp the stored value after
  // each optimiser step); the loss clamps anyway, this keeps a value that left the range
  // from sitting where it gets no gradient. Returns whether it changed anything.
  bool clamp_log_temp();
  // Activations of at most this many bytes are kept across the whole contrastive batch;
  // above it, each sequence's encoder forward is recomputed in the backward pass (the same
  // results, one more encoder forward). Default 512 MiB; 0 always recomputes.
  void set_contrastive_activation_budget(size_t bytes) { contrastive_budget_ = bytes; }

  // Writes a complete model file: metadata, the tokenizer, every tensor (matrices and the
  // embedding as `type`, or F32 where a row is not a whole number of blocks).
  Status export_gguf(const Tokenizer& tokenizer, GgmlType type, GgufWriter* w,
                     const std::string& name = "needlepoint") const;

 private:
  Status run(const TrainBatchView& batch, const LossConfig& loss, bool backward, LossInfo* info);
  Status build_arena();
  ModelConfig config_;
  ParamArena arena_;
  RopeTable rope_;
  size_t contrastive_budget_ = size_t{512} << 20;
};

}  // namespace np
