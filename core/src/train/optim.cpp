// optim.cpp — parameter arena, AdamW, Muon (Newton-Schulz), gradient clipping, lr schedules
// and the optimiser-state byte format. Plain loops in a fixed order (reference code: no
// intrinsics, no threads); a later thread pool may split Newton-Schulz rows, which keeps each
// output element's summation order and so the results.
#include "np/optim.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>

#include "ops/gemm.h"
#include "util/bits.h"

namespace np {

const char* param_group_name(ParamGroup g) {
  switch (g) {
    case ParamGroup::kMatrix: return "matrix";
    case ParamGroup::kEmbedding: return "embedding";
    case ParamGroup::kVector: return "vector";
    case ParamGroup::kScalar: return "scalar";
  }
  return "unknown";
}

// ---- ParamArena -------------------------------------------------------------------------

Result<size_t> ParamArena::add(const std::string& name, const std::vector<int64_t>& shape,
                               ParamGroup group) {
  if (name.empty()) return Status(Code::kInvalidInput, "parameter with an empty name");
  if (index_.count(name)) return Status(Code::kInvalidInput, name + ": parameter added twice");
  const bool two_d = group == ParamGroup::kMatrix || group == ParamGroup::kEmbedding;
  if (two_d ? shape.size() != 2 : shape.size() > 4) {
    return Status(Code::kInvalidInput, name + ": " + param_group_name(group) + " with " +
                                           std::to_string(shape.size()) + " dims");
  }
  // Keep every offset representable and the two buffers allocatable: at most 2^40 floats,
  // and at most an eighth of the address space (so also on 32-bit targets such as wasm32).
  const uint64_t limit = std::min<uint64_t>(uint64_t(1) << 40, static_cast<uint64_t>(SIZE_MAX) / 8);
  uint64_t n = 1;
  for (int64_t d : shape) {
    if (d < 1) return Status(Code::kInvalidInput, name + ": dimension " + std::to_string(d));
    if (static_cast<uint64_t>(d) > limit || n > limit / static_cast<uint64_t>(d)) {
      return Status(Code::kOverflow, name + ": too many elements");
    }
    n *= static_cast<uint64_t>(d);
  }
  if (static_cast<uint64_t>(values_.size()) + n > limit) return Status(Code::kOverflow, name + ": arena too large");

  ParamTensor t;
  t.name = name;
  t.shape = shape;
  t.offset = values_.size();
  t.size = static_cast<size_t>(n);
  t.group = group;
  t.trainable = true;
  t.decay = two_d;
  t.muon = group == ParamGroup::kMatrix;
  const size_t index = tensors_.size();
  tensors_.push_back(std::move(t));
  index_.emplace(name, index);
  values_.resize(values_.size() + static_cast<size_t>(n), 0.0f);
  grads_.resize(grads_.size() + static_cast<size_t>(n), 0.0f);
  return index;
}

size_t ParamArena::trainable_size() const {
  size_t n = 0;
  for (const ParamTensor& t : tensors_) n += t.trainable ? t.size : 0;
  return n;
}

int64_t ParamArena::find(const std::string& name) const {
  auto it = index_.find(name);
  return it == index_.end() ? -1 : static_cast<int64_t>(it->second);
}

void ParamArena::zero_grad() {
  if (!grads_.empty()) std::memset(grads_.data(), 0, grads_.size() * sizeof(float));
}

Status ParamArena::set_trainable(const std::string& name, bool trainable) {
  const int64_t i = find(name);
  if (i < 0) return Status(Code::kInvalidInput, name + ": no such parameter");
  tensors_[static_cast<size_t>(i)].trainable = trainable;
  return Status::Ok();
}

Status ParamArena::set_decay(const std::string& name, bool decay) {
  const int64_t i = find(name);
  if (i < 0) return Status(Code::kInvalidInput, name + ": no such parameter");
  tensors_[static_cast<size_t>(i)].decay = decay;
  return Status::Ok();
}

Status ParamArena::set_muon(size_t i, bool muon) {
  if (i >= tensors_.size()) return Status(Code::kInvalidInput, "parameter index " + std::to_string(i));
  if (muon && tensors_[i].group != ParamGroup::kMatrix) {
    return Status(Code::kInvalidInput, tensors_[i].name + ": Muon needs a kMatrix tensor");
  }
  tensors_[i].muon = muon;
  return Status::Ok();
}

Status ParamArena::set_muon(const std::string& name, bool muon) {
  const int64_t i = find(name);
  if (i < 0) return Status(Code::kInvalidInput, name + ": no such parameter");
  return set_muon(static_cast<size_t>(i), muon);
}

// ---- schedules --------------------------------------------------------------------------

namespace {
bool in_unit(double x) { return x >= 0.0 && x <= 1.0; }  // false for NaN
}  // namespace

int64_t ScheduleConfig::warmup_steps() const {
  return static_cast<int64_t>(std::llround(warmup_ratio * static_cast<double>(total_steps)));
}

int64_t ScheduleConfig::decay_steps() const {
  if (kind != ScheduleKind::kWsd) return 0;
  return static_cast<int64_t>(std::llround(decay_ratio * static_cast<double>(total_steps)));
}

Status ScheduleConfig::validate() const {
  if (kind != ScheduleKind::kConstant && kind != ScheduleKind::kCosine && kind != ScheduleKind::kWsd) {
    return Status(Code::kInvalidInput, "schedule: unknown kind");
  }
  if (!in_unit(warmup_ratio)) return Status(Code::kInvalidInput, "schedule: warmup_ratio outside [0, 1]");
  if (!in_unit(decay_ratio)) return Status(Code::kInvalidInput, "schedule: decay_ratio outside [0, 1]");
  if (!in_unit(min_lr_ratio)) return Status(Code::kInvalidInput, "schedule: min_lr_ratio outside [0, 1]");
  if (total_steps < 0 || total_steps > (int64_t(1) << 52)) {
    return Status(Code::kInvalidInput, "schedule: total_steps " + std::to_string(total_steps));
  }
  if (kind != ScheduleKind::kConstant && total_steps < 1) {
    return Status(Code::kInvalidInput, "schedule: total_steps must be >= 1");
  }
  if (kind != ScheduleKind::kConstant && warmup_steps() + decay_steps() > total_steps) {
    return Status(Code::kInvalidInput, "schedule: warmup + decay longer than total_steps");
  }
  return Status::Ok();
}

double lr_factor_at(const ScheduleConfig& s, int64_t step) {
  if (step < 0) step = 0;
  const int64_t T = s.total_steps;
  const int64_t W = s.warmup_steps();
  const double f = s.min_lr_ratio;
  if (step < W) return static_cast<double>(step + 1) / static_cast<double>(W);
  switch (s.kind) {
    case ScheduleKind::kConstant:
      return 1.0;
    case ScheduleKind::kCosine: {
      if (step >= T) return f;
      const double p = static_cast<double>(step - W) / static_cast<double>(T - W);
      return f + (1.0 - f) * 0.5 * (1.0 + std::cos(3.14159265358979323846 * p));
    }
    case ScheduleKind::kWsd: {
      if (step >= T) return f;
      const int64_t D = s.decay_steps();
      const int64_t start = T - D;
      if (step < start) return 1.0;
      const double p = static_cast<double>(step - start) / static_cast<double>(D);
      return f + (1.0 - f) * (1.0 - p);
    }
  }
  return 1.0;
}

double lr_at(const ScheduleConfig& s, double base_lr, int64_t step) {
  return base_lr * lr_factor_at(s, step);
}

// ---- config -----------------------------------------------------------------------------

Status OptimConfig::validate() const {
  auto bad = [](const char* field) { return Status(Code::kInvalidInput, std::string("optimiser config: ") + field); };
  auto finite_nonneg = [](double x) { return std::isfinite(x) && x >= 0.0; };
  if (!finite_nonneg(adamw.lr)) return bad("adamw.lr must be finite and >= 0");
  if (!(adamw.beta1 >= 0.0 && adamw.beta1 < 1.0)) return bad("adamw.beta1 outside [0, 1)");
  if (!(adamw.beta2 >= 0.0 && adamw.beta2 < 1.0)) return bad("adamw.beta2 outside [0, 1)");
  if (!(std::isfinite(adamw.eps) && adamw.eps > 0.0)) return bad("adamw.eps must be > 0");
  if (!finite_nonneg(adamw.weight_decay)) return bad("adamw.weight_decay must be finite and >= 0");
  if (!finite_nonneg(muon.lr)) return bad("muon.lr must be finite and >= 0");
  if (!(muon.momentum >= 0.0 && muon.momentum < 1.0)) return bad("muon.momentum outside [0, 1)");
  if (muon.ns_steps < 0 || muon.ns_steps > 100) return bad("muon.ns_steps outside [0, 100]");
  if (!finite_nonneg(muon.weight_decay)) return bad("muon.weight_decay must be finite and >= 0");
  if (std::isnan(clip_norm)) return bad("clip_norm is NaN");
  return schedule.validate();
}

OptimConfig OptimConfig::pretraining(int64_t total_steps) {
  OptimConfig c;
  c.schedule.total_steps = total_steps;
  return c;
}

OptimConfig OptimConfig::finetuning(int64_t total_steps) {
  OptimConfig c;
  c.adamw.lr = 3e-5;
  c.schedule.total_steps = total_steps;
  return c;
}

// ---- clipping ---------------------------------------------------------------------------

double grad_global_norm(const ParamArena& arena) {
  double sum = 0.0;
  for (size_t i = 0; i < arena.num_tensors(); ++i) {
    const ParamTensor& t = arena.tensor(i);
    if (!t.trainable) continue;
    const float* g = arena.grad(i);
    for (size_t k = 0; k < t.size; ++k) sum += static_cast<double>(g[k]) * static_cast<double>(g[k]);
  }
  return std::sqrt(sum);
}

namespace {
// Returns whether it scaled.
bool clip_with_norm(ParamArena& arena, double norm, double max_norm) {
  if (!(max_norm > 0.0) || !std::isfinite(norm)) return false;
  const double coef = max_norm / (norm + 1e-6);
  if (!(coef < 1.0)) return false;
  const float c = static_cast<float>(coef);
  for (size_t i = 0; i < arena.num_tensors(); ++i) {
    const ParamTensor& t = arena.tensor(i);
    if (!t.trainable) continue;
    float* g = arena.grad(i);
    for (size_t k = 0; k < t.size; ++k) g[k] *= c;
  }
  return true;
}
}  // namespace

double grad_clip_global_norm(ParamArena& arena, double max_norm) {
  const double norm = grad_global_norm(arena);
  clip_with_norm(arena, norm, max_norm);
  return norm;
}

// ---- Newton-Schulz ----------------------------------------------------------------------

double muon_scale(int64_t rows, int64_t cols) {
  const double r = static_cast<double>(rows) / static_cast<double>(cols);
  return std::sqrt(r > 1.0 ? r : 1.0);
}

void newton_schulz_orthogonalize(float* out, const float* g, int64_t rows, int64_t cols, int steps,
                                 std::vector<float>* scratch) {
  const float a = 3.4445f, b = -4.7750f, c = 2.0315f;
  const bool transpose = rows > cols;
  const size_t R = static_cast<size_t>(transpose ? cols : rows);  // r <= c
  const size_t C = static_cast<size_t>(transpose ? rows : cols);
  std::vector<float> local;
  std::vector<float>& buf = scratch ? *scratch : local;
  const size_t need = 2 * R * C + 2 * R * R;
  if (buf.size() < need) buf.resize(need);
  float* X = buf.data();       // (R, C)
  float* Y = X + R * C;        // (R, C)
  float* A = Y + R * C;        // (R, R)
  float* B = A + R * R;        // (R, R)

  double sum = 0.0;
  const size_t n = R * C;
  for (size_t k = 0; k < n; ++k) sum += static_cast<double>(g[k]) * static_cast<double>(g[k]);
  const float denom = static_cast<float>(std::sqrt(sum) + 1e-7);
  if (transpose) {
    // g is (C, R) here: X[i][j] = g[j][i].
    for (size_t i = 0; i < R; ++i)
      for (size_t j = 0; j < C; ++j) X[i * C + j] = g[j * R + i] / denom;
  } else {
    for (size_t k = 0; k < n; ++k) X[k] = g[k] / denom;
  }

  // The three products go through the packed, threaded GEMM (ops/gemm.h) in fp32 whatever the
  // matmul precision setting: deterministic for any thread count.
  const int r = static_cast<int>(R), c_ = static_cast<int>(C);
  for (int it = 0; it < steps; ++it) {
    // A = X X^T
    gemm(r, r, c_, ConstView{X, c_, 1}, ConstView{X, 1, c_}, A, r, false, MatmulPrecision::kF32);
    // B = b A + c A A
    gemm(r, r, r, ConstView{A, r, 1}, ConstView{A, r, 1}, B, r, false, MatmulPrecision::kF32);
    for (size_t k = 0; k < R * R; ++k) B[k] = b * A[k] + c * B[k];
    // Y = a X + B X
    for (size_t k = 0; k < n; ++k) Y[k] = a * X[k];
    gemm(r, c_, r, ConstView{B, r, 1}, ConstView{X, c_, 1}, Y, c_, true, MatmulPrecision::kF32);
    float* tmp = X;
    X = Y;
    Y = tmp;
  }

  if (transpose) {
    for (size_t i = 0; i < R; ++i)
      for (size_t j = 0; j < C; ++j) out[j * R + i] = X[i * C + j];
  } else {
    std::memcpy(out, X, n * sizeof(float));
  }
}

// ---- Optimizer --------------------------------------------------------------------------

Result<Optimizer> Optimizer::create(const ParamArena& arena, const OptimConfig& config) {
  NP_RETURN_IF_ERROR(config.validate());
  if (arena.num_tensors() == 0) return Status(Code::kInvalidInput, "optimiser over an empty arena");
  Optimizer o;
  o.config_ = config;
  size_t n_adam = 0, n_muon = 0;
  for (const ParamTensor& t : arena.tensors()) {
    StateTensor s;
    s.size = t.size;
    if (t.muon && config.muon.enabled) {
      s.kind = StateKind::kMuon;
      s.offset = n_muon;
      n_muon += t.size;
    } else {
      s.kind = StateKind::kAdamW;
      s.offset = n_adam;
      n_adam += t.size;
    }
    o.layout_.push_back(s);
    o.names_.push_back(t.name);
    o.sizes_.push_back(t.size);
    o.groups_.push_back(t.group);
  }
  o.m_.assign(n_adam, 0.0f);
  o.v_.assign(n_adam, 0.0f);
  o.mom_.assign(n_muon, 0.0f);
  return o;
}

Status Optimizer::set_config(const OptimConfig& config) {
  NP_RETURN_IF_ERROR(config.validate());
  if (!layout_.empty() && config.muon.enabled != config_.muon.enabled) {
    return Status(Code::kInvalidInput, "optimiser config: muon.enabled cannot change after create()");
  }
  config_ = config;
  return Status::Ok();
}

double Optimizer::lr_adamw_at(int64_t step) const { return lr_at(config_.schedule, config_.adamw.lr, step); }
double Optimizer::lr_muon_at(int64_t step) const { return lr_at(config_.schedule, config_.muon.lr, step); }

const float* Optimizer::adam_m(size_t i) const {
  if (i >= layout_.size() || layout_[i].kind != StateKind::kAdamW) return nullptr;
  return m_.data() + layout_[i].offset;
}
const float* Optimizer::adam_v(size_t i) const {
  if (i >= layout_.size() || layout_[i].kind != StateKind::kAdamW) return nullptr;
  return v_.data() + layout_[i].offset;
}
const float* Optimizer::momentum(size_t i) const {
  if (i >= layout_.size() || layout_[i].kind != StateKind::kMuon) return nullptr;
  return mom_.data() + layout_[i].offset;
}

Status Optimizer::check_layout(const ParamArena& arena) const {
  if (layout_.empty()) return Status(Code::kInvalidInput, "optimiser used before create()");
  if (arena.num_tensors() != layout_.size()) {
    return Status(Code::kInvalidInput, "arena has " + std::to_string(arena.num_tensors()) +
                                           " tensors, the optimiser was created for " +
                                           std::to_string(layout_.size()));
  }
  for (size_t i = 0; i < layout_.size(); ++i) {
    const ParamTensor& t = arena.tensor(i);
    if (t.size != sizes_[i] || t.group != groups_[i] || t.name != names_[i]) {
      return Status(Code::kInvalidInput, t.name + ": arena tensor " + std::to_string(i) +
                                             " differs from the optimiser's (" + names_[i] + ")");
    }
    if ((t.muon && config_.muon.enabled) != (layout_[i].kind == StateKind::kMuon)) {
      return Status(Code::kInvalidInput, t.name + ": Muon flag changed after the optimiser was created");
    }
  }
  return Status::Ok();
}

Status Optimizer::step(ParamArena& arena, StepInfo* info) {
  NP_RETURN_IF_ERROR(check_layout(arena));
  const double norm = grad_global_norm(arena);
  if (!std::isfinite(norm)) {
    return Status(Code::kInvalidInput, "gradient norm is not finite; step " + std::to_string(step_) + " skipped");
  }
  const bool clipped = clip_with_norm(arena, norm, config_.clip_norm);

  const int64_t t = step_ + 1;
  const double factor = lr_factor_at(config_.schedule, step_);
  const double lr_a = config_.adamw.lr * factor;
  const double lr_m = config_.muon.lr * factor;

  // AdamW constants, rounded to float as torch rounds its Python scalars.
  const AdamWConfig& ac = config_.adamw;
  const float a_decay = static_cast<float>(1.0 - lr_a * ac.weight_decay);
  const float b1 = static_cast<float>(ac.beta1), omb1 = static_cast<float>(1.0 - ac.beta1);
  const float b2 = static_cast<float>(ac.beta2), omb2 = static_cast<float>(1.0 - ac.beta2);
  const double bc1 = 1.0 - std::pow(ac.beta1, static_cast<double>(t));
  const double bc2 = 1.0 - std::pow(ac.beta2, static_cast<double>(t));
  const float neg_step_size = static_cast<float>(-(lr_a / bc1));
  const float bc2_sqrt = static_cast<float>(std::sqrt(bc2));
  const float eps = static_cast<float>(ac.eps);

  const MuonConfig& mc = config_.muon;
  const float mu = static_cast<float>(mc.momentum), omu = static_cast<float>(1.0 - mc.momentum);
  const float m_decay = static_cast<float>(1.0 - lr_m * mc.weight_decay);

  for (size_t i = 0; i < layout_.size(); ++i) {
    const ParamTensor& pt = arena.tensor(i);
    if (!pt.trainable) continue;
    const StateTensor& st = layout_[i];
    float* p = arena.value(i);
    const float* g = arena.grad(i);
    const size_t n = st.size;
    if (st.kind == StateKind::kAdamW) {
      float* m = m_.data() + st.offset;
      float* v = v_.data() + st.offset;
      if (pt.decay) {
        for (size_t k = 0; k < n; ++k) p[k] *= a_decay;
      }
      for (size_t k = 0; k < n; ++k) {
        m[k] = m[k] * b1 + g[k] * omb1;
        v[k] = v[k] * b2 + omb2 * g[k] * g[k];
        const float denom = std::sqrt(v[k]) / bc2_sqrt + eps;
        p[k] = p[k] + neg_step_size * m[k] / denom;
      }
    } else {
      const int64_t rows = pt.shape[0], cols = pt.shape[1];
      float* M = mom_.data() + st.offset;
      if (update_.size() < n) update_.resize(n);
      float* U = update_.data();  // (rows, cols)
      for (size_t k = 0; k < n; ++k) {
        M[k] = mu * M[k] + omu * g[k];
        U[k] = mc.nesterov ? mu * M[k] + omu * g[k] : M[k];
      }
      newton_schulz_orthogonalize(U, U, rows, cols, mc.ns_steps, &ns_scratch_);
      const float scale = static_cast<float>(muon_scale(rows, cols));
      const float neg_lr = static_cast<float>(-lr_m);
      if (pt.decay) {
        for (size_t k = 0; k < n; ++k) p[k] *= m_decay;
      }
      for (size_t k = 0; k < n; ++k) p[k] = p[k] + neg_lr * (U[k] * scale);
    }
  }

  if (info) {
    info->step = step_;
    info->lr_adamw = lr_a;
    info->lr_muon = lr_m;
    info->grad_norm = norm;
    info->clipped = clipped;
  }
  step_ = t;
  return Status::Ok();
}

// ---- state bytes ------------------------------------------------------------------------

namespace {

constexpr char kStateMagic[8] = {'N', 'P', 'O', 'P', 'T', 'S', 'T', '\0'};
constexpr uint32_t kStateVersion = 1;

uint64_t fnv1a(const uint8_t* p, size_t n) {
  uint64_t h = 0xcbf29ce484222325ull;
  for (size_t i = 0; i < n; ++i) {
    h ^= p[i];
    h *= 0x100000001b3ull;
  }
  return h;
}

class ByteWriter {
 public:
  explicit ByteWriter(std::vector<uint8_t>* out) : out_(out) {}
  void u8(uint8_t v) { out_->push_back(v); }
  void u32(uint32_t v) {
    for (int i = 0; i < 4; ++i) out_->push_back(static_cast<uint8_t>(v >> (8 * i)));
  }
  void u64(uint64_t v) {
    for (int i = 0; i < 8; ++i) out_->push_back(static_cast<uint8_t>(v >> (8 * i)));
  }
  void bytes(const void* p, size_t n) {
    const uint8_t* b = static_cast<const uint8_t*>(p);
    out_->insert(out_->end(), b, b + n);
  }
  void floats(const std::vector<float>& v) {
    for (float f : v) u32(bit_cast<uint32_t>(f));
  }

 private:
  std::vector<uint8_t>* out_;
};

// Every read checks the bytes left; a failed read leaves ok() false and returns zeros.
class ByteReader {
 public:
  ByteReader(const uint8_t* p, size_t n) : p_(p), n_(n) {}
  bool ok() const { return ok_; }
  size_t pos() const { return pos_; }
  size_t left() const { return n_ - pos_; }
  bool take(size_t k) {
    if (!ok_ || k > left()) {
      ok_ = false;
      return false;
    }
    return true;
  }
  uint8_t u8() {
    if (!take(1)) return 0;
    return p_[pos_++];
  }
  uint32_t u32() {
    if (!take(4)) return 0;
    uint32_t v = 0;
    for (int i = 0; i < 4; ++i) v |= static_cast<uint32_t>(p_[pos_ + i]) << (8 * i);
    pos_ += 4;
    return v;
  }
  uint64_t u64() {
    if (!take(8)) return 0;
    uint64_t v = 0;
    for (int i = 0; i < 8; ++i) v |= static_cast<uint64_t>(p_[pos_ + i]) << (8 * i);
    pos_ += 8;
    return v;
  }
  const uint8_t* bytes(size_t k) {
    if (!take(k)) return nullptr;
    const uint8_t* r = p_ + pos_;
    pos_ += k;
    return r;
  }
  // count floats into out; the count is checked against the bytes left before allocating.
  bool floats(uint64_t count, std::vector<float>* out) {
    if (!ok_ || count > left() / 4) {
      ok_ = false;
      return false;
    }
    out->resize(static_cast<size_t>(count));
    for (size_t i = 0; i < count; ++i) (*out)[i] = bit_cast<float>(u32());
    return true;
  }

 private:
  const uint8_t* p_;
  size_t n_;
  size_t pos_ = 0;
  bool ok_ = true;
};

Status corrupt(const std::string& what) { return Status(Code::kCorrupt, "optimiser state: " + what); }

}  // namespace

std::vector<uint8_t> Optimizer::serialize() const {
  std::vector<uint8_t> out;
  ByteWriter w(&out);
  w.bytes(kStateMagic, sizeof kStateMagic);
  w.u32(kStateVersion);
  w.u64(static_cast<uint64_t>(step_));
  w.u32(static_cast<uint32_t>(layout_.size()));
  for (size_t i = 0; i < layout_.size(); ++i) {
    w.u32(static_cast<uint32_t>(names_[i].size()));
    w.bytes(names_[i].data(), names_[i].size());
    w.u8(static_cast<uint8_t>(groups_[i]));
    w.u8(static_cast<uint8_t>(layout_[i].kind));
    w.u64(static_cast<uint64_t>(sizes_[i]));
  }
  w.u64(m_.size());
  w.floats(m_);
  w.floats(v_);
  w.u64(mom_.size());
  w.floats(mom_);
  w.u64(fnv1a(out.data(), out.size()));
  return out;
}

Status Optimizer::deserialize(const uint8_t* data, size_t size) {
  if (layout_.empty()) return Status(Code::kInvalidInput, "optimiser used before create()");
  if (data == nullptr && size != 0) return Status(Code::kInvalidInput, "optimiser state: null data");
  const size_t header = sizeof kStateMagic + 4;
  if (size < header + 8) return corrupt("too short (" + std::to_string(size) + " bytes)");
  if (std::memcmp(data, kStateMagic, sizeof kStateMagic) != 0) return corrupt("bad magic");
  ByteReader r(data, size - 8);  // the checksum is not part of the body
  r.bytes(sizeof kStateMagic);
  const uint32_t version = r.u32();
  if (version != kStateVersion) {
    return Status(Code::kBadVersion, "optimiser state: version " + std::to_string(version) + ", expected " +
                                         std::to_string(kStateVersion));
  }
  uint64_t stored_sum = 0;
  for (int i = 0; i < 8; ++i) stored_sum |= static_cast<uint64_t>(data[size - 8 + i]) << (8 * i);
  if (stored_sum != fnv1a(data, size - 8)) return corrupt("checksum mismatch");

  const uint64_t step = r.u64();
  if (!r.ok()) return corrupt("truncated header");
  if (step > (uint64_t(1) << 62)) return corrupt("step " + std::to_string(step));
  const uint32_t n_tensors = r.u32();
  if (!r.ok()) return corrupt("truncated header");
  const size_t kMinEntry = 4 + 1 + 1 + 8;
  if (n_tensors > r.left() / kMinEntry) return corrupt("tensor count " + std::to_string(n_tensors));

  struct Entry {
    std::string name;
    uint8_t group, kind;
    uint64_t size;
  };
  std::vector<Entry> entries;
  uint64_t sum_adam = 0, sum_muon = 0;
  const uint64_t float_cap = size / 4;  // no state can hold more floats than the bytes allow
  for (uint32_t i = 0; i < n_tensors; ++i) {
    Entry e;
    const uint32_t len = r.u32();
    const uint8_t* name = r.bytes(len);
    e.group = r.u8();
    e.kind = r.u8();
    e.size = r.u64();
    if (!r.ok()) return corrupt("truncated tensor table at entry " + std::to_string(i));
    e.name.assign(reinterpret_cast<const char*>(name), len);
    if (e.group > static_cast<uint8_t>(ParamGroup::kScalar)) return corrupt(e.name + ": bad group");
    if (e.kind > static_cast<uint8_t>(StateKind::kMuon)) return corrupt(e.name + ": bad state kind");
    if (e.size > float_cap) return corrupt(e.name + ": size " + std::to_string(e.size));
    uint64_t& sum = e.kind == static_cast<uint8_t>(StateKind::kMuon) ? sum_muon : sum_adam;
    sum += e.size;
    if (sum > float_cap) return corrupt("state sizes exceed the data");
    entries.push_back(std::move(e));
  }
  std::vector<float> m, v, mom;
  const uint64_t n_m = r.u64();
  if (!r.ok()) return corrupt("truncated");
  if (n_m != sum_adam) return corrupt("AdamW state size disagrees with the tensor table");
  if (!r.floats(n_m, &m) || !r.floats(n_m, &v)) return corrupt("truncated AdamW state");
  const uint64_t n_mom = r.u64();
  if (!r.ok()) return corrupt("truncated");
  if (n_mom != sum_muon) return corrupt("Muon state size disagrees with the tensor table");
  if (!r.floats(n_mom, &mom)) return corrupt("truncated Muon state");
  if (r.left() != 0) return corrupt(std::to_string(r.left()) + " trailing bytes");
  for (size_t k = 0; k < v.size(); ++k) {
    if (!(v[k] >= 0.0f)) return corrupt("negative or NaN second moment at " + std::to_string(k));
  }

  // Well-formed; now it must be this optimiser's layout.
  if (entries.size() != layout_.size()) {
    return Status(Code::kBadShape, "optimiser state has " + std::to_string(entries.size()) + " tensors, expected " +
                                       std::to_string(layout_.size()));
  }
  for (size_t i = 0; i < entries.size(); ++i) {
    const Entry& e = entries[i];
    if (e.name != names_[i] || e.size != sizes_[i] || e.group != static_cast<uint8_t>(groups_[i]) ||
        e.kind != static_cast<uint8_t>(layout_[i].kind)) {
      return Status(Code::kBadShape, "optimiser state tensor " + std::to_string(i) + " (" + e.name +
                                         ") differs from the arena's (" + names_[i] + ")");
    }
  }
  step_ = static_cast<int64_t>(step);
  m_.swap(m);
  v_.swap(v);
  mom_.swap(mom);
  return Status::Ok();
}

}  // namespace np
