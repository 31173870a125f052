// train_loop.h — a training run: model + adapters (LoRA, QAT) + optimisers + data, stepped
// one optimiser update at a time, with a validation split, early stopping, best-weights
// tracking, checkpoints as bytes (save and resume bit-exactly), and export to GGUF with
// LoRA merged. Used by the CLI's train/finetune commands and (later) by the WASM build;
// it does no file-system work of its own beyond reading the data files.
// Not here: the forward/backward pass (trainer.h), the optimiser maths (optim.h), the
// data pipeline (dataset.h).
#pragma once
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "np/adapters.h"
#include "np/dataset.h"
#include "np/gguf.h"
#include "np/optim.h"
#include "np/status.h"
#include "np/tokenizer.h"
#include "np/trainer.h"

namespace np {

struct TrainConfig {
  int64_t steps = 200;        // optimiser updates (the schedule's length)
  int32_t batch = 16;         // examples per batch
  uint64_t seed = 1;          // data order, augmentation, initialisation of adapters
  OptimConfig optim;          // schedule.total_steps is set from `steps`
  LossConfig loss;
  PairOptions pair;           // role weights and augmentation
  LoraConfig lora;            // rank 0 = full fine-tuning / training
  GgmlType qat = GgmlType::F32;  // Q8_0 or Q4_0: quantization-aware training
  // Frozen parts of the model, by keyword: "embedding", "encoder", "decoder", "norms",
  // "gates", "retrieval", "base" (every model tensor: only adapters train), or any tensor
  // name prefix. With LoRA, "base" is implied unless train_base is set.
  std::vector<std::string> freeze;
  bool train_base = false;    // with LoRA: also train the unfrozen model tensors
  // Muon only for attention projections (as the spec trains Needle); false: every matrix.
  bool muon_attention_only = true;
  // Validation: a separate file, or a content-hash holdout of the training file.
  std::string val_path;
  double val_fraction = 0.0;
  int64_t eval_every = 0;     // steps between validations; 0 = steps / 10 (at least 1)
  int32_t patience = 0;       // validations without improvement before stopping; 0 = never
  int32_t val_max_examples = 1000;
  int32_t bucket_window = 1024;
  BadLinePolicy bad_lines = BadLinePolicy::kSkip;  // skip and count, or stop at the first
  // The CLIP-style retrieval loss, added to the token loss with this weight (the spec: 0.1)
  // on a batch of (query, called tool) pairs from the training split each step; 0 = off.
  // Its pairs are read once at the start (token ids only; at most contrastive_max_pairs).
  double contrastive_weight = 0.0;
  int32_t contrastive_batch = 0;  // pairs per contrastive batch; 0 = batch
  int32_t contrastive_max_pairs = 200000;
  // Non-empty: the model's encoder mask is switched to this one ("bidirectional" or
  // "catalog") before training, also when resuming (a run can change mode midway).
  std::string encoder_mask;

  Status validate() const;
};

struct StepReport {
  int64_t step = 0;  // 1-based count of updates done
  double loss = 0, ce = 0, lr = 0, grad_norm = 0;
  int64_t tokens = 0;  // encoder + decoder tokens in the batch
  double contrastive_loss = 0, contrastive_accuracy = 0;  // when the retrieval loss is on
};

struct ValReport {
  int64_t step = 0;
  double loss = 0;   // weighted token loss over the validation set
  double ce = 0;     // mean cross-entropy per target token
  bool improved = false;
  int32_t since_best = 0;
};

class TrainRun {
 public:
  // A new run over `model` (from scratch or a base). data_path: training JSONL.
  static Result<std::unique_ptr<TrainRun>> create(TrainModel model, Tokenizer tokenizer,
                                                  const std::string& data_path, const TrainConfig& config);
  // Continues a run from checkpoint() bytes. `config` must describe the same run (model,
  // adapters, data options, seed); steps, lr, eval and patience may change.
  // kInvalidInput/kCorrupt for a checkpoint of another run or damaged bytes.
  static Result<std::unique_ptr<TrainRun>> resume(const std::vector<uint8_t>& checkpoint,
                                                  const std::string& data_path, const TrainConfig& config);

  // One optimiser update on the next batch.
  Status step(StepReport* report);
  // Loss over the validation set (no-op report when there is none); updates the best
  // weights and the early-stopping counter.
  Status validate(ValReport* report);
  // Runs step() (and validate() every eval_every steps) until done(); callbacks may be
  // null; a callback returning false stops the run early (kAborted).
  Status run(bool (*on_step)(const StepReport&, void*), bool (*on_val)(const ValReport&, void*), void* user);

  bool done() const;               // step budget spent or early-stopped
  bool early_stopped() const { return stopped_; }
  bool due_for_validation() const;  // eval_every reached since the last validation
  bool has_validation() const { return !val_batches_.empty(); }
  int64_t step_count() const { return step_; }
  const TrainConfig& config() const { return config_; }
  const TrainModel& model() const { return model_; }
  const Tokenizer& tokenizer() const { return tokenizer_; }
  const std::vector<Example>& val_examples() const { return val_examples_; }
  DataReport data_report() const;
  double best_val_loss() const { return best_val_; }
  int64_t best_step() const { return best_step_; }

  // Everything needed to continue bit-exactly: the model (masters, F32), the adapters, both
  // optimisers' state, the step, the data position and the validation state, as one GGUF.
  Result<std::vector<uint8_t>> checkpoint();
  // The model as it would ship: LoRA merged, every matrix in `type`; best = true takes the
  // best validated weights when validation ran (else the current ones).
  Status export_gguf(GgmlType type, bool best, GgufWriter* w, const std::string& name = "needlepoint");

 private:
  TrainRun() = default;
  Status init(const std::string& data_path);
  Status load_validation_from(const std::string& data_path);
  Status load_contrastive_pairs(const std::string& data_path);
  void snapshot_best();
  uint64_t state_hash(const std::vector<uint8_t>& opt_model, const std::vector<uint8_t>& opt_lora) const;
  void swap_in_best(std::vector<float>* saved_model, std::vector<float>* saved_lora);

  TrainConfig config_;
  TrainModel model_;
  Tokenizer tokenizer_;
  Adapters adapters_;
  Optimizer opt_model_, opt_lora_;
  bool model_trains_ = false;
  std::unique_ptr<DataLoader> loader_;
  std::unique_ptr<ContrastiveStream> clip_;
  std::vector<Example> val_examples_;
  std::vector<Batch> val_batches_;
  int64_t step_ = 0;
  int64_t last_val_step_ = 0;
  double best_val_ = 0;
  int64_t best_step_ = -1;
  int32_t since_best_ = 0;
  bool stopped_ = false;
  std::vector<float> best_model_, best_lora_;
};

}  // namespace np
