// optim.h — the training engine's parameter arena and its optimisers: AdamW (decoupled
// weight decay, bias correction) for every tensor, Muon (momentum + Newton-Schulz
// orthogonalised update) for projection matrices when enabled, global-norm gradient
// clipping, learning-rate schedules (warmup + cosine, warmup-stable-decay), and the
// optimiser state's versioned byte format for checkpoints.
// Not here: forward/backward (ops/), the training loop, parameter checkpoints (GGUF).
// Single-threaded, fixed loop order: the same inputs give bit-identical results.
//
// Memory: parameters, gradients, AdamW m, AdamW v and Muon momentum are five flat float
// buffers. A tensor's values and gradients sit at the same offset of their buffers (the
// arena's size table); the optimiser keeps its own table for m/v (AdamW tensors only) and
// momentum (Muon tensors only).
#pragma once
#include <cstddef>
#include <cstdint>
#include <string>
#include <unordered_map>
#include <vector>

#include "np/status.h"

namespace np {

// What a tensor is, for the optimiser. Values are stored in optimiser checkpoints: append
// new groups at the end, never renumber.
enum class ParamGroup : uint8_t {
  kMatrix = 0,     // projection matrices (q/k/v/o, FFN, retrieval head): Muon-eligible
  kEmbedding = 1,  // the (vocab, d) embedding: always AdamW
  kVector = 2,     // norm scales, biases: AdamW, no weight decay by default
  kScalar = 3,     // gates, log_temp: AdamW, no weight decay by default
};
const char* param_group_name(ParamGroup g);  // "matrix", "embedding", "vector", "scalar"

struct ParamTensor {
  std::string name;
  std::vector<int64_t> shape;  // kMatrix/kEmbedding: (rows, cols) = (out, in), row-major
  size_t offset = 0;           // into the value and gradient buffers, in floats
  size_t size = 0;             // element count (product of shape; 1 for shape {})
  ParamGroup group = ParamGroup::kVector;
  bool trainable = true;       // false: the optimiser leaves value and state untouched
  bool decay = false;          // decoupled weight decay; default: kMatrix and kEmbedding
  bool muon = false;           // Muon-updated when the optimiser has Muon on; default: kMatrix
};

// One contiguous buffer of values and one of gradients, tensors back to back in the order
// they were added. Both start zeroed. add() may move the buffers: take data pointers after
// the last add().
class ParamArena {
 public:
  // shape: kMatrix and kEmbedding exactly 2 dims; others 0..4 dims; every dim >= 1.
  // Returns the tensor's index. Errors: kInvalidInput (empty or duplicate name, bad shape),
  // kOverflow (size).
  Result<size_t> add(const std::string& name, const std::vector<int64_t>& shape, ParamGroup group);

  size_t num_tensors() const { return tensors_.size(); }
  size_t total_size() const { return values_.size(); }  // floats in each buffer
  size_t trainable_size() const;                        // floats in trainable tensors
  const std::vector<ParamTensor>& tensors() const { return tensors_; }
  const ParamTensor& tensor(size_t i) const { return tensors_[i]; }
  // Index of a tensor by name, or -1.
  int64_t find(const std::string& name) const;

  float* value(size_t i) { return values_.data() + tensors_[i].offset; }
  const float* value(size_t i) const { return values_.data() + tensors_[i].offset; }
  float* grad(size_t i) { return grads_.data() + tensors_[i].offset; }
  const float* grad(size_t i) const { return grads_.data() + tensors_[i].offset; }
  float* values() { return values_.data(); }  // (total_size)
  const float* values() const { return values_.data(); }
  float* grads() { return grads_.data(); }    // (total_size)
  const float* grads() const { return grads_.data(); }

  void zero_grad();  // every tensor, frozen ones too
  void set_trainable(size_t i, bool trainable) { tensors_[i].trainable = trainable; }
  void set_decay(size_t i, bool decay) { tensors_[i].decay = decay; }
  // By name: kInvalidInput if there is no such tensor.
  Status set_trainable(const std::string& name, bool trainable);
  Status set_decay(const std::string& name, bool decay);
  // Muon or AdamW for a kMatrix tensor (e.g. Muon for attention projections only, as the
  // spec trains). Fixed once an Optimizer is created over the arena. kInvalidInput for
  // muon = true on any other group, or no such tensor.
  Status set_muon(size_t i, bool muon);
  Status set_muon(const std::string& name, bool muon);

 private:
  std::vector<ParamTensor> tensors_;
  std::unordered_map<std::string, size_t> index_;
  std::vector<float> values_;
  std::vector<float> grads_;
};

// ---- learning-rate schedules ------------------------------------------------------------
// T = total_steps, W = round(warmup_ratio*T), D = round(decay_ratio*T), f = min_lr_ratio,
// s = 0-based index of the step about to be taken. The schedule gives a factor in [f, 1]
// that multiplies every base lr (AdamW's and Muon's):
//   s < W:                    (s + 1) / W          (linear warmup; step 0 already moves)
//   kConstant, s >= W:        1
//   kCosine, W <= s < T:      f + (1 - f) * 0.5 * (1 + cos(pi * (s - W) / (T - W)))
//   kWsd, W <= s < T - D:     1
//   kWsd, T - D <= s < T:     f + (1 - f) * (1 - (s - (T - D)) / D)   (linear decay)
//   kCosine/kWsd, s >= T:     f
enum class ScheduleKind : uint8_t { kConstant = 0, kCosine = 1, kWsd = 2 };

struct ScheduleConfig {
  ScheduleKind kind = ScheduleKind::kWsd;
  int64_t total_steps = 0;     // T; must be >= 1 for kCosine and kWsd
  double warmup_ratio = 0.05;  // spec: warmup ratio 0.05
  double decay_ratio = 0.05;   // spec: decay ratio 0.05 (kWsd's final linear decay)
  double min_lr_ratio = 0.0;   // floor f, as a fraction of the base lr (spec gives none)

  int64_t warmup_steps() const;  // W
  int64_t decay_steps() const;   // D (kWsd; 0 otherwise)
  Status validate() const;       // kInvalidInput on ratios outside [0, 1] or W + D > T
};

double lr_factor_at(const ScheduleConfig& s, int64_t step);
// base_lr * lr_factor_at(s, step).
double lr_at(const ScheduleConfig& s, double base_lr, int64_t step);

// ---- optimiser configuration ------------------------------------------------------------
struct AdamWConfig {
  double lr = 3e-4;            // spec: 3e-4 pretraining, 3e-5 fine-tuning
  double beta1 = 0.9;          // torch.optim.AdamW defaults (spec gives none)
  double beta2 = 0.999;
  double eps = 1e-8;
  double weight_decay = 0.01;  // applied as p *= 1 - lr_t * wd to tensors with decay set
};

struct MuonConfig {
  bool enabled = true;         // false: kMatrix tensors use AdamW like the rest
  double lr = 0.02;            // spec: Muon lr 0.02 for attention projections
  double momentum = 0.95;
  bool nesterov = true;
  int ns_steps = 5;            // Newton-Schulz iterations
  double weight_decay = 0.0;   // p *= 1 - lr_t * wd (reference Muon's default: none)
};

struct OptimConfig {
  AdamWConfig adamw;
  MuonConfig muon;
  ScheduleConfig schedule;
  double clip_norm = 1.0;  // global gradient-norm clip; <= 0 disables clipping

  Status validate() const;  // kInvalidInput naming the bad field

  // The spec's two recipes: lr 3e-4 (pretraining) or 3e-5 (fine-tuning) for AdamW, Muon at
  // 0.02, warmup and decay ratios 0.05 (WSD), over total_steps.
  static OptimConfig pretraining(int64_t total_steps);
  static OptimConfig finetuning(int64_t total_steps);
};

// ---- building blocks (exposed for tests and the trainer) --------------------------------

// sqrt of the sum of squared gradients of the trainable tensors (accumulated in double).
double grad_global_norm(const ParamArena& arena);

// Clips the trainable gradients to global norm max_norm, as torch.nn.utils.clip_grad_norm_:
// coef = max_norm / (norm + 1e-6); if coef < 1 every trainable gradient is multiplied by
// (float)coef. Returns the norm before clipping. A non-finite norm leaves gradients as they
// are. max_norm <= 0: only measures.
double grad_clip_global_norm(ParamArena& arena, double max_norm);

// Muon's orthogonalisation of g (rows, cols), row-major, into out (rows, cols):
// X = g / (||g||_F + 1e-7), transposed first when rows > cols (so X is r x c with r <= c),
// then `steps` times: A = X X^T; B = b A + c A A; X = a X + B X, with
// (a, b, c) = (3.4445, -4.7750, 2.0315); transposed back. Every singular value s of g with
// s / ||g||_F >= 0.002 comes out in about [0.68, 1.21] (5 steps); singular vectors are kept.
// Float32 throughout, fixed loop order. scratch (may be null) is reused between calls.
// out may equal g.
void newton_schulz_orthogonalize(float* out, const float* g, int64_t rows, int64_t cols, int steps,
                                 std::vector<float>* scratch = nullptr);

// Muon's shape scale for a (rows, cols) = (out, in) matrix: sqrt(max(1, rows / cols)).
double muon_scale(int64_t rows, int64_t cols);

// What the last step did.
struct StepInfo {
  int64_t step = 0;         // 0-based index of the step just taken
  double lr_adamw = 0.0;    // scheduled lrs used
  double lr_muon = 0.0;
  double grad_norm = 0.0;   // global norm before clipping
  bool clipped = false;
};

// Per-tensor optimiser-state layout (the state arenas' size table).
enum class StateKind : uint8_t { kAdamW = 0, kMuon = 1 };  // stored in checkpoints
struct StateTensor {
  StateKind kind = StateKind::kAdamW;
  size_t offset = 0;  // kAdamW: into m and v; kMuon: into momentum (floats)
  size_t size = 0;
};

// AdamW + Muon over one ParamArena. The layout (tensor names, sizes, groups, Muon flags) is
// fixed at create(); state exists for frozen tensors too so they may be unfrozen later.
//
// step(), with t = step_count() + 1 and lr_t = base_lr * lr_factor_at(schedule, t - 1):
//   0. norm = global gradient norm; non-finite -> kInvalidInput, nothing changes; then
//      clip to clip_norm (gradients in the arena are scaled in place).
//   AdamW tensor (trainable), element-wise, as torch.optim.AdamW:
//      p *= 1 - lr_t * wd                              (only if decay)
//      m = beta1 * m + (1 - beta1) * g
//      v = beta2 * v + (1 - beta2) * g * g
//      p -= lr_t / (1 - beta1^t) * m / (sqrt(v) / sqrt(1 - beta2^t) + eps)
//   Muon tensor (trainable, muon flag set, muon.enabled), as the reference Muon (Keller Jordan):
//      M = mu * M + (1 - mu) * G
//      U = nesterov ? mu * M + (1 - mu) * G : M
//      O = newton_schulz_orthogonalize(U) * muon_scale(rows, cols)
//      P *= 1 - lr_t * muon.wd                         (only if decay)
//      P -= lr_t * O
class Optimizer {
 public:
  Optimizer() = default;
  // kInvalidInput if the config does not validate or the arena is empty.
  static Result<Optimizer> create(const ParamArena& arena, const OptimConfig& config);

  // One update from the arena's gradients. kInvalidInput if the arena's layout is not the
  // one create() saw, or the gradient norm is not finite (then nothing changes).
  Status step(ParamArena& arena, StepInfo* info = nullptr);

  int64_t step_count() const { return step_; }  // steps taken so far
  const OptimConfig& config() const { return config_; }
  // Changing the config keeps the state (e.g. a new lr for fine-tuning after loading).
  Status set_config(const OptimConfig& config);
  double lr_adamw_at(int64_t step) const;  // scheduled lrs for the 0-based step index
  double lr_muon_at(int64_t step) const;

  const std::vector<StateTensor>& state_layout() const { return layout_; }
  // State views for tensor i of the arena; null where the tensor has no such state.
  const float* adam_m(size_t i) const;   // (size)
  const float* adam_v(size_t i) const;   // (size)
  const float* momentum(size_t i) const; // (rows, cols)
  size_t adam_state_size() const { return m_.size(); }     // floats in m (and in v)
  size_t muon_state_size() const { return mom_.size(); }   // floats in momentum

  // Optimiser state as bytes, little-endian, version 1:
  //   "NPOPTST\0" | u32 version | i64 step | u32 n_tensors
  //   | n_tensors x (u32 name_len, name bytes, u8 group, u8 state kind, u64 size)
  //   | u64 n_m | n_m f32 (m) | n_m f32 (v) | u64 n_mom | n_mom f32 (momentum)
  //   | u64 FNV-1a of every byte before it
  // Hyper-parameters are not stored: they come from the config (so they may change on resume).
  std::vector<uint8_t> serialize() const;
  // Replaces step count and state, all or nothing. Malformed bytes (short, bad magic, bad
  // checksum, bad lengths, negative or non-finite v, trailing bytes) -> kCorrupt; another
  // version -> kBadVersion; well-formed state of another layout (names, sizes, groups, Muon
  // on/off) -> kBadShape.
  Status deserialize(const uint8_t* data, size_t size);
  Status deserialize(const std::vector<uint8_t>& bytes) { return deserialize(bytes.data(), bytes.size()); }

 private:
  Status check_layout(const ParamArena& arena) const;

  OptimConfig config_;
  int64_t step_ = 0;
  // Layout copied from the arena at create(): names, sizes and groups per tensor.
  std::vector<std::string> names_;
  std::vector<size_t> sizes_;
  std::vector<ParamGroup> groups_;
  std::vector<StateTensor> layout_;  // (num_tensors)
  std::vector<float> m_, v_;         // AdamW moments, (adam_state_size)
  std::vector<float> mom_;           // Muon momentum, (muon_state_size)
  std::vector<float> update_;        // Muon's update U, (largest Muon tensor)
  std::vector<float> ns_scratch_;    // Newton-Schulz work space
};

}  // namespace np
