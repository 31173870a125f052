// test_optim.cpp — parameter arena, AdamW, Muon, clipping, schedules and optimiser-state
// bytes ([optim]). References here are written independently of optim.cpp: double precision,
// the textbook m_hat/v_hat form of AdamW, a general-matmul Newton-Schulz, singular values by
// Jacobi eigen-decomposition, hand-derived numbers beside the hand-made cases.
#include <catch2/catch.hpp>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <string>
#include <vector>

#include "np/optim.h"
#include "util/rng.h"

namespace {

// Float steps against double references: relative error of float32 arithmetic over a few
// dozen operations per element, with margin.
constexpr double kRelTol = 2e-5;
// Newton-Schulz in float32 against double: 5 iterations of matmuls over <= 96 terms.
constexpr double kNsTol = 1e-5;

np::ParamArena must_arena(const std::vector<std::pair<std::string, std::vector<int64_t>>>& specs,
                          const std::vector<np::ParamGroup>& groups) {
  np::ParamArena a;
  for (size_t i = 0; i < specs.size(); ++i) {
    auto r = a.add(specs[i].first, specs[i].second, groups[i]);
    REQUIRE(r.ok());
  }
  return a;
}

void fill_normal(float* p, size_t n, np::Rng& rng, double scale) {
  for (size_t i = 0; i < n; ++i) p[i] = static_cast<float>(rng.normal() * scale);
}

// A config with no schedule and no clipping: lr constant, so a step's numbers are easy to derive.
np::OptimConfig plain_config() {
  np::OptimConfig c;
  c.schedule.kind = np::ScheduleKind::kConstant;
  c.schedule.warmup_ratio = 0.0;
  c.schedule.total_steps = 0;
  c.clip_norm = 0.0;
  return c;
}

np::Optimizer must_optimizer(const np::ParamArena& a, const np::OptimConfig& c) {
  auto r = np::Optimizer::create(a, c);
  REQUIRE(r.ok());
  return r.take();
}

bool close(double got, double want, double rel, double abs_tol = 0.0) {
  return std::fabs(got - want) <= abs_tol + rel * std::fabs(want);
}

// ---- double-precision references -----------------------------------------------------

// AdamW in the paper's form: m_hat, v_hat, then the step; weight decay on the parameter.
struct AdamRef {
  std::vector<double> p, m, v;
  void step(const std::vector<double>& g, double lr, double b1, double b2, double eps, double wd, int t) {
    for (size_t k = 0; k < p.size(); ++k) {
      m[k] = b1 * m[k] + (1 - b1) * g[k];
      v[k] = b2 * v[k] + (1 - b2) * g[k] * g[k];
      const double m_hat = m[k] / (1 - std::pow(b1, t));
      const double v_hat = v[k] / (1 - std::pow(b2, t));
      p[k] = p[k] - lr * wd * p[k] - lr * m_hat / (std::sqrt(v_hat) + eps);
    }
  }
};

using Mat = std::vector<double>;  // row-major

Mat matmul(const Mat& a, const Mat& b, size_t n, size_t k, size_t m) {  // (n,k) x (k,m)
  Mat c(n * m, 0.0);
  for (size_t i = 0; i < n; ++i)
    for (size_t j = 0; j < m; ++j) {
      double s = 0;
      for (size_t l = 0; l < k; ++l) s += a[i * k + l] * b[l * m + j];
      c[i * m + j] = s;
    }
  return c;
}

Mat transpose(const Mat& a, size_t n, size_t m) {
  Mat t(n * m);
  for (size_t i = 0; i < n; ++i)
    for (size_t j = 0; j < m; ++j) t[j * n + i] = a[i * m + j];
  return t;
}

// The quintic Newton-Schulz iteration on (rows, cols), in double, with plain matmuls.
Mat ns_ref(Mat g, size_t rows, size_t cols, int steps) {
  const bool tall = rows > cols;
  size_t r = rows, c = cols;
  if (tall) {
    g = transpose(g, rows, cols);
    std::swap(r, c);
  }
  double fro = 0;
  for (double x : g) fro += x * x;
  fro = std::sqrt(fro) + 1e-7;
  for (double& x : g) x /= fro;
  for (int it = 0; it < steps; ++it) {
    const Mat xt = transpose(g, r, c);
    const Mat A = matmul(g, xt, r, c, r);
    const Mat AA = matmul(A, A, r, r, r);
    Mat B(r * r);
    for (size_t k = 0; k < B.size(); ++k) B[k] = -4.7750 * A[k] + 2.0315 * AA[k];
    const Mat BX = matmul(B, g, r, r, c);
    for (size_t k = 0; k < g.size(); ++k) g[k] = 3.4445 * g[k] + BX[k];
  }
  return tall ? transpose(g, r, c) : g;
}

// Singular values of (rows, cols) via the eigenvalues of the smaller Gram matrix (cyclic Jacobi).
std::vector<double> singular_values(const Mat& x, size_t rows, size_t cols) {
  const Mat xt = transpose(x, rows, cols);
  const bool tall = rows > cols;
  const size_t r = tall ? cols : rows;
  Mat S = tall ? matmul(xt, x, cols, rows, cols) : matmul(x, xt, rows, cols, rows);
  for (int sweep = 0; sweep < 100; ++sweep) {
    double off = 0;
    for (size_t i = 0; i < r; ++i)
      for (size_t j = i + 1; j < r; ++j) off += S[i * r + j] * S[i * r + j];
    if (off < 1e-26) break;
    for (size_t p = 0; p < r; ++p)
      for (size_t q = p + 1; q < r; ++q) {
        const double apq = S[p * r + q];
        if (std::fabs(apq) < 1e-300) continue;
        const double theta = (S[q * r + q] - S[p * r + p]) / (2 * apq);
        const double t = (theta >= 0 ? 1.0 : -1.0) / (std::fabs(theta) + std::sqrt(theta * theta + 1));
        const double cs = 1 / std::sqrt(t * t + 1), sn = t * cs;
        for (size_t k = 0; k < r; ++k) {  // columns p, q
          const double skp = S[k * r + p], skq = S[k * r + q];
          S[k * r + p] = cs * skp - sn * skq;
          S[k * r + q] = sn * skp + cs * skq;
        }
        for (size_t k = 0; k < r; ++k) {  // rows p, q
          const double spk = S[p * r + k], sqk = S[q * r + k];
          S[p * r + k] = cs * spk - sn * sqk;
          S[q * r + k] = sn * spk + cs * sqk;
        }
      }
  }
  std::vector<double> sv(r);
  for (size_t i = 0; i < r; ++i) sv[i] = std::sqrt(std::max(0.0, S[i * r + i]));
  std::sort(sv.begin(), sv.end());
  return sv;
}

double quintic5(double x, int steps) {
  for (int i = 0; i < steps; ++i) x = 3.4445 * x - 4.7750 * x * x * x + 2.0315 * x * x * x * x * x;
  return x;
}

// FNV-1a, to re-seal hand-edited state bytes so the parser (not the checksum) sees the edit.
void reseal(std::vector<uint8_t>& b) {
  uint64_t h = 1469598103934665603ull;
  for (size_t i = 0; i < b.size() - 8; ++i) {
    h ^= b[i];
    h *= 1099511628211ull;
  }
  for (int i = 0; i < 8; ++i) b[b.size() - 8 + i] = static_cast<uint8_t>(h >> (8 * i));
}

void put_u32(std::vector<uint8_t>& b, size_t at, uint32_t v) {
  for (int i = 0; i < 4; ++i) b[at + i] = static_cast<uint8_t>(v >> (8 * i));
}
void put_u64(std::vector<uint8_t>& b, size_t at, uint64_t v) {
  for (int i = 0; i < 8; ++i) b[at + i] = static_cast<uint8_t>(v >> (8 * i));
}

// A small model-shaped arena: every group, one tall and one wide matrix.
np::ParamArena model_arena() {
  return must_arena({{"tok_embd", {16, 8}},
                     {"blk.0.attn_q", {8, 8}},
                     {"blk.0.attn_k", {4, 8}},
                     {"head.w1", {12, 4}},
                     {"blk.0.norm", {8}},
                     {"blk.0.gate", {}},
                     {"head.b1", {12}}},
                    {np::ParamGroup::kEmbedding, np::ParamGroup::kMatrix, np::ParamGroup::kMatrix,
                     np::ParamGroup::kMatrix, np::ParamGroup::kVector, np::ParamGroup::kScalar,
                     np::ParamGroup::kVector});
}

void randomize(np::ParamArena& a, uint64_t seed) {
  np::Rng rng(seed);
  fill_normal(a.values(), a.total_size(), rng, 0.5);
  fill_normal(a.grads(), a.total_size(), rng, 0.1);
}

}  // namespace

// ---- arena -------------------------------------------------------------------------------

TEST_CASE("ParamArena: back-to-back layout, views, defaults", "[optim]") {
  np::ParamArena a = model_arena();
  REQUIRE(a.num_tensors() == 7);
  size_t off = 0;
  const size_t sizes[] = {128, 64, 32, 48, 8, 1, 12};
  for (size_t i = 0; i < a.num_tensors(); ++i) {
    CHECK(a.tensor(i).offset == off);
    CHECK(a.tensor(i).size == sizes[i]);
    CHECK(a.tensor(i).trainable);
    off += sizes[i];
  }
  CHECK(a.total_size() == off);
  CHECK(a.trainable_size() == off);
  // Decay by default for matrices and the embedding only.
  CHECK(a.tensor(0).decay);
  CHECK(a.tensor(1).decay);
  CHECK_FALSE(a.tensor(4).decay);
  CHECK_FALSE(a.tensor(5).decay);
  CHECK(a.find("blk.0.attn_k") == 2);
  CHECK(a.find("nope") == -1);
  CHECK(a.value(2) == a.values() + 192);
  CHECK(a.grad(2) == a.grads() + 192);
  for (size_t k = 0; k < a.total_size(); ++k) REQUIRE(a.values()[k] == 0.0f);

  randomize(a, 1);
  a.zero_grad();
  for (size_t k = 0; k < a.total_size(); ++k) REQUIRE(a.grads()[k] == 0.0f);

  REQUIRE(a.set_trainable("blk.0.norm", false).ok());
  CHECK(a.trainable_size() == off - 8);
  CHECK(a.set_trainable("nope", false).code() == np::Code::kInvalidInput);
  CHECK(a.set_decay("nope", true).code() == np::Code::kInvalidInput);
  REQUIRE(a.set_decay("blk.0.norm", true).ok());
  CHECK(a.tensor(4).decay);
}

TEST_CASE("ParamArena: bad names and shapes are refused", "[optim]") {
  np::ParamArena a;
  REQUIRE(a.add("w", {4, 4}, np::ParamGroup::kMatrix).ok());
  CHECK(a.add("w", {4}, np::ParamGroup::kVector).status().code() == np::Code::kInvalidInput);
  CHECK(a.add("", {4}, np::ParamGroup::kVector).status().code() == np::Code::kInvalidInput);
  CHECK(a.add("m1", {4}, np::ParamGroup::kMatrix).status().code() == np::Code::kInvalidInput);
  CHECK(a.add("m3", {2, 2, 2}, np::ParamGroup::kMatrix).status().code() == np::Code::kInvalidInput);
  CHECK(a.add("e1", {4}, np::ParamGroup::kEmbedding).status().code() == np::Code::kInvalidInput);
  CHECK(a.add("z", {4, 0}, np::ParamGroup::kMatrix).status().code() == np::Code::kInvalidInput);
  CHECK(a.add("n", {-1}, np::ParamGroup::kVector).status().code() == np::Code::kInvalidInput);
  CHECK(a.add("v5", {1, 1, 1, 1, 1}, np::ParamGroup::kVector).status().code() == np::Code::kInvalidInput);
  CHECK(a.add("huge", {int64_t(1) << 30, int64_t(1) << 30}, np::ParamGroup::kMatrix).status().code() ==
        np::Code::kOverflow);
  CHECK(a.num_tensors() == 1);
  CHECK(a.total_size() == 16);
  auto s = a.add("s", {}, np::ParamGroup::kScalar);
  REQUIRE(s.ok());
  CHECK(a.tensor(s.value()).size == 1);
}

// ---- AdamW -------------------------------------------------------------------------------

TEST_CASE("AdamW: first step by hand, bias correction makes it lr-sized", "[optim]") {
  // t = 1: m = (1-b1) g, v = (1-b2) g^2, m_hat = g, v_hat = g^2, so the step is
  // lr * g / (|g| + eps) = lr * sign(g) (up to eps), whatever the gradient's scale.
  for (float g : {0.5f, -1e-3f, 40.0f}) {
    np::ParamArena a = must_arena({{"s", {}}}, {np::ParamGroup::kScalar});
    a.values()[0] = 1.0f;
    a.grads()[0] = g;
    np::OptimConfig c = plain_config();
    c.adamw.lr = 0.1;
    np::Optimizer opt = must_optimizer(a, c);
    REQUIRE(opt.step(a).ok());
    const double want = 1.0 - 0.1 * g / (std::fabs(g) + 1e-8);
    CHECK(close(a.values()[0], want, 1e-6));
    CHECK(close(opt.adam_m(0)[0], 0.1 * g, 1e-6));
    CHECK(close(opt.adam_v(0)[0], 0.001 * g * g, 1e-6));
    CHECK(opt.step_count() == 1);
  }
  // Second step, g = 0.5 then g = -0.5, lr 0.1, no decay, by hand:
  //   m2 = 0.9*0.05 - 0.05 = -0.005, m_hat = -0.005/0.19 = -0.0263157894...
  //   v2 = 0.999*0.00025 + 0.00025 = 0.00049975, v_hat = 0.00049975/0.001999 = 0.25
  //   p2 = 0.9 - 0.1 * (-0.0263157894) / 0.5 = 0.90526315789...
  np::ParamArena a = must_arena({{"s", {}}}, {np::ParamGroup::kScalar});
  a.values()[0] = 1.0f;
  np::OptimConfig c = plain_config();
  c.adamw.lr = 0.1;
  np::Optimizer opt = must_optimizer(a, c);
  a.grads()[0] = 0.5f;
  REQUIRE(opt.step(a).ok());
  a.grads()[0] = -0.5f;
  REQUIRE(opt.step(a).ok());
  CHECK(close(a.values()[0], 0.9 + 0.1 * (0.005 / 0.19) / 0.5, 1e-6));
}

TEST_CASE("AdamW: several steps, every group, schedule, against a double reference", "[optim]") {
  np::ParamArena a = model_arena();
  randomize(a, 7);
  np::OptimConfig c;
  c.muon.enabled = false;  // AdamW everywhere
  c.adamw.lr = 1e-2;
  c.adamw.weight_decay = 0.1;
  c.clip_norm = 0.0;
  c.schedule.kind = np::ScheduleKind::kCosine;
  c.schedule.total_steps = 12;
  c.schedule.warmup_ratio = 0.25;  // W = 3
  c.schedule.min_lr_ratio = 0.1;
  np::Optimizer opt = must_optimizer(a, c);

  std::vector<AdamRef> ref(a.num_tensors());
  for (size_t i = 0; i < a.num_tensors(); ++i) {
    const size_t n = a.tensor(i).size;
    ref[i].p.assign(a.value(i), a.value(i) + n);
    ref[i].m.assign(n, 0.0);
    ref[i].v.assign(n, 0.0);
  }
  np::Rng rng(99);
  for (int t = 1; t <= 12; ++t) {
    fill_normal(a.grads(), a.total_size(), rng, t % 3 == 0 ? 1.0 : 0.05);
    const double lr = 1e-2 * np::lr_factor_at(c.schedule, t - 1);
    for (size_t i = 0; i < a.num_tensors(); ++i) {
      std::vector<double> g(a.grad(i), a.grad(i) + a.tensor(i).size);
      ref[i].step(g, lr, 0.9, 0.999, 1e-8, a.tensor(i).decay ? 0.1 : 0.0, t);
    }
    np::StepInfo info;
    REQUIRE(opt.step(a, &info).ok());
    CHECK(info.step == t - 1);
    CHECK(info.lr_adamw == lr);
    CHECK_FALSE(info.clipped);
  }
  double worst = 0;
  for (size_t i = 0; i < a.num_tensors(); ++i)
    for (size_t k = 0; k < a.tensor(i).size; ++k) {
      const double d = std::fabs(a.value(i)[k] - ref[i].p[k]) / (1e-3 + std::fabs(ref[i].p[k]));
      worst = std::max(worst, d);
    }
  INFO("worst relative difference " << worst);
  CHECK(worst <= kRelTol);
}

TEST_CASE("AdamW: weight decay is decoupled and skips vectors and scalars", "[optim]") {
  np::ParamArena a = model_arena();
  randomize(a, 3);
  np::OptimConfig c = plain_config();
  c.muon.enabled = false;
  c.adamw.lr = 0.05;
  c.adamw.weight_decay = 0.2;
  const std::vector<float> p0(a.values(), a.values() + a.total_size());

  SECTION("zero gradient: decayed tensors shrink by exactly (1 - lr wd), others stay") {
    a.zero_grad();
    np::Optimizer opt = must_optimizer(a, c);
    REQUIRE(opt.step(a).ok());
    const float f = static_cast<float>(1.0 - 0.05 * 0.2);
    for (size_t i = 0; i < a.num_tensors(); ++i)
      for (size_t k = 0; k < a.tensor(i).size; ++k) {
        const float want = a.tensor(i).decay ? p0[a.tensor(i).offset + k] * f : p0[a.tensor(i).offset + k];
        REQUIRE(a.value(i)[k] == want);
      }
  }
  SECTION("with a gradient: decay adds -lr wd p to the plain Adam step and leaves m, v alone") {
    np::ParamArena b = a;  // same values and gradients
    np::OptimConfig c0 = c;
    c0.adamw.weight_decay = 0.0;
    np::Optimizer with = must_optimizer(a, c);
    np::Optimizer without = must_optimizer(b, c0);
    REQUIRE(with.step(a).ok());
    REQUIRE(without.step(b).ok());
    for (size_t i = 0; i < a.num_tensors(); ++i) {
      for (size_t k = 0; k < a.tensor(i).size; ++k) {
        REQUIRE(with.adam_m(i)[k] == without.adam_m(i)[k]);  // wd never touches the gradient
        REQUIRE(with.adam_v(i)[k] == without.adam_v(i)[k]);
        const double p = p0[a.tensor(i).offset + k];
        const double want_diff = a.tensor(i).decay ? -0.05 * 0.2 * p : 0.0;
        REQUIRE(close(static_cast<double>(a.value(i)[k]) - b.value(i)[k], want_diff, 1e-3, 1e-7));
      }
    }
  }
}

TEST_CASE("Frozen tensors: values and state untouched, gradients left out of the norm", "[optim]") {
  np::ParamArena a = model_arena();
  randomize(a, 5);
  REQUIRE(a.set_trainable("tok_embd", false).ok());
  REQUIRE(a.set_trainable("blk.0.attn_q", false).ok());  // a Muon tensor
  const std::vector<float> emb(a.value(0), a.value(0) + a.tensor(0).size);
  const std::vector<float> wq(a.value(1), a.value(1) + a.tensor(1).size);
  double want_norm = 0;
  for (size_t i = 2; i < a.num_tensors(); ++i)
    for (size_t k = 0; k < a.tensor(i).size; ++k) want_norm += double(a.grad(i)[k]) * a.grad(i)[k];
  want_norm = std::sqrt(want_norm);

  np::OptimConfig c = plain_config();
  c.adamw.weight_decay = 0.5;
  c.muon.weight_decay = 0.5;
  np::Optimizer opt = must_optimizer(a, c);
  np::StepInfo info;
  REQUIRE(opt.step(a, &info).ok());
  CHECK(close(info.grad_norm, want_norm, 1e-12));
  REQUIRE(opt.step(a).ok());
  CHECK(std::memcmp(a.value(0), emb.data(), emb.size() * 4) == 0);
  CHECK(std::memcmp(a.value(1), wq.data(), wq.size() * 4) == 0);
  for (size_t k = 0; k < a.tensor(0).size; ++k) REQUIRE((opt.adam_m(0)[k] == 0.0f && opt.adam_v(0)[k] == 0.0f));
  for (size_t k = 0; k < a.tensor(1).size; ++k) REQUIRE(opt.momentum(1)[k] == 0.0f);
  // The trainable ones moved.
  CHECK(opt.momentum(2)[0] != 0.0f);
  CHECK(opt.adam_m(4)[0] != 0.0f);
}

// ---- clipping ----------------------------------------------------------------------------

TEST_CASE("Gradient clipping by global norm", "[optim]") {
  np::ParamArena a = must_arena({{"w", {1, 2}}, {"b", {1}}, {"f", {1}}},
                                {np::ParamGroup::kMatrix, np::ParamGroup::kVector, np::ParamGroup::kVector});
  REQUIRE(a.set_trainable("f", false).ok());
  a.grad(0)[0] = 3.0f;  // global norm sqrt(9 + 16 + 0) = 5; the frozen 100 is left out
  a.grad(0)[1] = -4.0f;
  a.grad(1)[0] = 0.0f;
  a.grad(2)[0] = 100.0f;
  SECTION("above max: scaled by max/(norm+1e-6), exactly") {
    const double norm = np::grad_clip_global_norm(a, 1.0);
    CHECK(norm == 5.0);
    const float coef = static_cast<float>(1.0 / (5.0 + 1e-6));
    CHECK(a.grad(0)[0] == 3.0f * coef);
    CHECK(a.grad(0)[1] == -4.0f * coef);
    CHECK(a.grad(1)[0] == 0.0f);
    CHECK(a.grad(2)[0] == 100.0f);  // frozen: untouched
    CHECK(close(np::grad_global_norm(a), 1.0, 1e-5));
  }
  SECTION("below max: unchanged") {
    CHECK(np::grad_clip_global_norm(a, 5.5) == 5.0);
    CHECK(a.grad(0)[0] == 3.0f);
    CHECK(a.grad(0)[1] == -4.0f);
  }
  SECTION("max <= 0 only measures") {
    CHECK(np::grad_clip_global_norm(a, 0.0) == 5.0);
    CHECK(a.grad(0)[0] == 3.0f);
  }
  SECTION("non-finite norm: gradients untouched, and step() refuses without changing anything") {
    a.grad(0)[1] = std::numeric_limits<float>::quiet_NaN();
    CHECK(std::isnan(np::grad_clip_global_norm(a, 1.0)));
    CHECK(a.grad(0)[0] == 3.0f);
    a.grad(0)[1] = std::numeric_limits<float>::infinity();
    CHECK(std::isinf(np::grad_clip_global_norm(a, 1.0)));
    a.values()[0] = 0.25f;
    np::Optimizer opt = must_optimizer(a, np::OptimConfig::pretraining(10));
    const std::vector<uint8_t> before = opt.serialize();
    CHECK(opt.step(a).code() == np::Code::kInvalidInput);
    CHECK(opt.step_count() == 0);
    CHECK(a.values()[0] == 0.25f);
    CHECK(opt.serialize() == before);
  }
  SECTION("step() clips with config.clip_norm and reports it") {
    np::OptimConfig c = plain_config();
    c.clip_norm = 2.0;
    np::Optimizer opt = must_optimizer(a, c);
    np::StepInfo info;
    REQUIRE(opt.step(a, &info).ok());
    CHECK(info.grad_norm == 5.0);
    CHECK(info.clipped);
    CHECK(a.grad(0)[0] == 3.0f * static_cast<float>(2.0 / (5.0 + 1e-6)));
  }
}

// ---- schedules ---------------------------------------------------------------------------

TEST_CASE("Schedules: warmup, cosine to a floor, WSD phases", "[optim]") {
  np::ScheduleConfig s;
  s.kind = np::ScheduleKind::kCosine;
  s.total_steps = 105;
  s.warmup_ratio = 0.05;  // W = round(5.25) = 5
  s.min_lr_ratio = 0.1;
  REQUIRE(s.validate().ok());
  CHECK(s.warmup_steps() == 5);
  CHECK(np::lr_factor_at(s, 0) == Approx(0.2));   // (0+1)/5
  CHECK(np::lr_factor_at(s, 2) == Approx(0.6));
  CHECK(np::lr_factor_at(s, 4) == 1.0);           // end of warmup
  CHECK(np::lr_factor_at(s, 5) == 1.0);           // cosine starts at the peak
  CHECK(np::lr_factor_at(s, 55) == Approx(0.55)); // halfway: f + (1-f)/2
  CHECK(np::lr_factor_at(s, 30) == Approx(0.1 + 0.9 * 0.5 * (1 + std::cos(3.141592653589793 * 0.25))));
  CHECK(np::lr_factor_at(s, 104) > 0.1);
  CHECK(np::lr_factor_at(s, 104) < 0.1005);
  CHECK(np::lr_factor_at(s, 105) == 0.1);  // floor from T on
  CHECK(np::lr_factor_at(s, 1000) == 0.1);
  CHECK(np::lr_at(s, 3e-4, 55) == Approx(3e-4 * 0.55));
  for (int64_t t = 5; t < 105; ++t) REQUIRE(np::lr_factor_at(s, t + 1) <= np::lr_factor_at(s, t));

  np::ScheduleConfig w;  // defaults: WSD, warmup 0.05, decay 0.05, floor 0
  CHECK(w.kind == np::ScheduleKind::kWsd);
  w.total_steps = 100;
  REQUIRE(w.validate().ok());
  CHECK(w.warmup_steps() == 5);
  CHECK(w.decay_steps() == 5);
  CHECK(np::lr_factor_at(w, 0) == Approx(0.2));
  CHECK(np::lr_factor_at(w, 4) == 1.0);
  CHECK(np::lr_factor_at(w, 5) == 1.0);   // stable
  CHECK(np::lr_factor_at(w, 50) == 1.0);
  CHECK(np::lr_factor_at(w, 94) == 1.0);
  CHECK(np::lr_factor_at(w, 95) == 1.0);  // decay starts at the peak
  CHECK(np::lr_factor_at(w, 96) == Approx(0.8));
  CHECK(np::lr_factor_at(w, 99) == Approx(0.2));  // last step still moves
  CHECK(np::lr_factor_at(w, 100) == 0.0);
  w.min_lr_ratio = 0.1;
  CHECK(np::lr_factor_at(w, 99) == Approx(0.1 + 0.9 * 0.2));
  CHECK(np::lr_factor_at(w, 100) == 0.1);

  np::ScheduleConfig k;
  k.kind = np::ScheduleKind::kConstant;
  k.total_steps = 0;
  k.warmup_ratio = 0.0;
  REQUIRE(k.validate().ok());
  CHECK(np::lr_factor_at(k, 0) == 1.0);
  CHECK(np::lr_factor_at(k, 123456) == 1.0);

  np::ScheduleConfig bad;
  bad.total_steps = 0;
  CHECK(bad.validate().code() == np::Code::kInvalidInput);
  bad.total_steps = 10;
  bad.warmup_ratio = 1.5;
  CHECK(bad.validate().code() == np::Code::kInvalidInput);
  bad.warmup_ratio = 0.6;
  bad.decay_ratio = 0.5;
  CHECK(bad.validate().code() == np::Code::kInvalidInput);
  bad.decay_ratio = std::nan("");
  CHECK(bad.validate().code() == np::Code::kInvalidInput);
}

TEST_CASE("Config: spec defaults and validation", "[optim]") {
  const np::OptimConfig p = np::OptimConfig::pretraining(1000);
  CHECK(p.adamw.lr == 3e-4);
  CHECK(p.muon.lr == 0.02);
  CHECK(p.muon.enabled);
  CHECK(p.muon.momentum == 0.95);
  CHECK(p.muon.nesterov);
  CHECK(p.muon.ns_steps == 5);
  CHECK(p.schedule.warmup_ratio == 0.05);
  CHECK(p.schedule.decay_ratio == 0.05);
  CHECK(p.schedule.total_steps == 1000);
  CHECK(p.validate().ok());
  CHECK(np::OptimConfig::finetuning(10).adamw.lr == 3e-5);

  np::OptimConfig c = p;
  c.adamw.beta2 = 1.0;
  CHECK(c.validate().code() == np::Code::kInvalidInput);
  c = p;
  c.adamw.eps = 0.0;
  CHECK(c.validate().code() == np::Code::kInvalidInput);
  c = p;
  c.muon.lr = -1;
  CHECK(c.validate().code() == np::Code::kInvalidInput);
  c = p;
  c.schedule.total_steps = 0;
  CHECK(c.validate().code() == np::Code::kInvalidInput);

  np::ParamArena empty;
  CHECK(np::Optimizer::create(empty, p).status().code() == np::Code::kInvalidInput);
  np::ParamArena a = model_arena();
  CHECK(np::Optimizer::create(a, c).status().code() == np::Code::kInvalidInput);

  np::Optimizer opt = must_optimizer(a, p);
  np::OptimConfig off = p;
  off.muon.enabled = false;
  CHECK(opt.set_config(off).code() == np::Code::kInvalidInput);
  np::OptimConfig ft = np::OptimConfig::finetuning(50);
  REQUIRE(opt.set_config(ft).ok());
  CHECK(opt.lr_adamw_at(10) == Approx(3e-5));
  CHECK(opt.lr_muon_at(0) == Approx(0.02 / 3));  // W = round(2.5) = 3 (half away from zero)

  // The arena changed after create(): step refuses.
  REQUIRE(a.add("late", {2}, np::ParamGroup::kVector).ok());
  CHECK(opt.step(a).code() == np::Code::kInvalidInput);
  np::Optimizer unmade;
  CHECK(unmade.step(a).code() == np::Code::kInvalidInput);
}

// ---- Newton-Schulz and Muon --------------------------------------------------------------

TEST_CASE("Newton-Schulz: near-orthogonal output, the quintic's singular-value map", "[optim]") {
  struct Shape {
    int64_t r, c;
  };
  np::Rng rng(2024);
  std::vector<float> scratch;
  for (Shape sh : {Shape{16, 16}, Shape{32, 32}, Shape{24, 64}, Shape{64, 24}, Shape{8, 96}, Shape{96, 8},
                   Shape{1, 50}, Shape{50, 1}, Shape{48, 64}}) {
    const size_t n = static_cast<size_t>(sh.r * sh.c);
    std::vector<float> g(n), out(n);
    fill_normal(g.data(), n, rng, 3.0);
    np::newton_schulz_orthogonalize(out.data(), g.data(), sh.r, sh.c, 5, &scratch);

    Mat gd(g.begin(), g.end()), od(out.begin(), out.end());
    double fro = 0;
    for (double x : gd) fro += x * x;
    fro = std::sqrt(fro);
    const std::vector<double> s_in = singular_values(gd, sh.r, sh.c);
    const std::vector<double> s_out = singular_values(od, sh.r, sh.c);
    // The iteration keeps singular vectors and maps each normalised singular value x to
    // q(q(q(q(q(x))))), q(x) = 3.4445x - 4.7750x^3 + 2.0315x^5.
    std::vector<double> want;
    for (double s : s_in) want.push_back(quintic5(s / (fro + 1e-7), 5));
    std::sort(want.begin(), want.end());
    INFO("shape " << sh.r << "x" << sh.c);
    for (size_t i = 0; i < want.size(); ++i) {
      REQUIRE(std::fabs(s_out[i] - want[i]) <= 2e-5);
    }
    // The band: at most about 1.2024; at least 0.68 for every x >= 0.002.
    for (size_t i = 0; i < s_in.size(); ++i) {
      REQUIRE(s_out[i] <= 1.21);
    }
    size_t small_in = 0, small_out = 0;
    for (double s : s_in) small_in += s / fro < 0.002;
    for (double s : s_out) small_out += s < 0.68;
    REQUIRE(small_out <= small_in);
    if (sh.r != sh.c) REQUIRE(small_out == 0);  // rectangular Gaussians are well conditioned

    // Against the double reference iteration.
    const Mat ref = ns_ref(gd, sh.r, sh.c, 5);
    double worst = 0;
    for (size_t k = 0; k < n; ++k) worst = std::max(worst, std::fabs(out[k] - ref[k]));
    REQUIRE(worst <= kNsTol);
  }
}

TEST_CASE("Newton-Schulz: transposing the input transposes the output bit for bit; in place", "[optim]") {
  np::Rng rng(11);
  const int64_t r = 12, c = 20;
  std::vector<float> g(r * c), gt(r * c), o(r * c), ot(r * c);
  fill_normal(g.data(), g.size(), rng, 1.0);
  for (int64_t i = 0; i < r; ++i)
    for (int64_t j = 0; j < c; ++j) gt[j * r + i] = g[i * c + j];
  np::newton_schulz_orthogonalize(o.data(), g.data(), r, c, 5);
  np::newton_schulz_orthogonalize(ot.data(), gt.data(), c, r, 5);
  for (int64_t i = 0; i < r; ++i)
    for (int64_t j = 0; j < c; ++j) REQUIRE(ot[j * r + i] == o[i * c + j]);
  std::vector<float> inplace = g;
  np::newton_schulz_orthogonalize(inplace.data(), inplace.data(), r, c, 5);
  CHECK(inplace == o);
  // Zero in, zero out; 0 steps is the Frobenius-normalised input.
  std::vector<float> z(r * c, 0.0f), zo(r * c, 1.0f);
  np::newton_schulz_orthogonalize(zo.data(), z.data(), r, c, 5);
  for (float x : zo) REQUIRE(x == 0.0f);
  np::newton_schulz_orthogonalize(o.data(), g.data(), r, c, 0);
  double fro = 0;
  for (float x : o) fro += double(x) * x;
  CHECK(std::sqrt(fro) == Approx(1.0).epsilon(1e-5));
}

TEST_CASE("Muon step equals a reference computation", "[optim]") {
  CHECK(np::muon_scale(8, 8) == 1.0);
  CHECK(np::muon_scale(4, 8) == 1.0);   // wide: no boost
  CHECK(np::muon_scale(12, 4) == std::sqrt(3.0));  // tall: sqrt(out / in)

  for (bool nesterov : {true, false}) {
    np::ParamArena a = model_arena();
    randomize(a, 21);
    np::OptimConfig c = plain_config();
    c.muon.lr = 0.02;
    c.muon.weight_decay = 0.1;
    c.muon.nesterov = nesterov;
    c.schedule.kind = np::ScheduleKind::kWsd;
    c.schedule.total_steps = 4;
    c.schedule.warmup_ratio = 0.25;  // W = 1
    c.schedule.decay_ratio = 0.5;    // D = 2
    np::Optimizer opt = must_optimizer(a, c);

    // Reference for the Muon tensors (1, 2, 3) in double.
    std::vector<Mat> P(4), M(4);
    for (size_t i = 1; i <= 3; ++i) {
      P[i].assign(a.value(i), a.value(i) + a.tensor(i).size);
      M[i].assign(a.tensor(i).size, 0.0);
    }
    np::Rng rng(5);
    for (int t = 0; t < 4; ++t) {
      if (t > 0) fill_normal(a.grads(), a.total_size(), rng, 0.2);
      const double lr = 0.02 * np::lr_factor_at(c.schedule, t);
      for (size_t i = 1; i <= 3; ++i) {
        const size_t rows = a.tensor(i).shape[0], cols = a.tensor(i).shape[1];
        Mat U(M[i].size());
        for (size_t k = 0; k < U.size(); ++k) {
          const double g = a.grad(i)[k];
          M[i][k] = 0.95 * M[i][k] + 0.05 * g;
          U[k] = nesterov ? 0.95 * M[i][k] + 0.05 * g : M[i][k];
        }
        const Mat O = ns_ref(U, rows, cols, 5);
        const double scale = std::sqrt(std::max(1.0, double(rows) / double(cols)));
        for (size_t k = 0; k < U.size(); ++k) P[i][k] = P[i][k] * (1 - lr * 0.1) - lr * scale * O[k];
      }
      np::StepInfo info;
      REQUIRE(opt.step(a, &info).ok());
      CHECK(info.lr_muon == lr);
    }
    for (size_t i = 1; i <= 3; ++i) {
      INFO("tensor " << a.tensor(i).name << " nesterov " << nesterov);
      double worst = 0;
      for (size_t k = 0; k < a.tensor(i).size; ++k) {
        worst = std::max(worst, std::fabs(a.value(i)[k] - P[i][k]));
        REQUIRE(close(opt.momentum(i)[k], M[i][k], 1e-5, 1e-9));
      }
      // Updates are about lr * scale per singular direction; the error is NS's float error times lr.
      CHECK(worst <= 4 * 0.02 * std::sqrt(3.0) * kNsTol);  // 4 steps, lr, largest scale
      CHECK(opt.adam_m(i) == nullptr);
    }
    // Muon tensors have no AdamW state, AdamW tensors no momentum.
    CHECK(opt.momentum(0) == nullptr);
    CHECK(opt.adam_state_size() == 128 + 8 + 1 + 12);
    CHECK(opt.muon_state_size() == 64 + 32 + 48);
  }
}

TEST_CASE("Muon per tensor: AdamW for chosen matrices, fixed after create()", "[optim]") {
  np::ParamArena a = model_arena();
  CHECK(a.tensor(1).muon);
  CHECK_FALSE(a.tensor(0).muon);  // embedding
  CHECK_FALSE(a.tensor(4).muon);
  CHECK(a.set_muon("blk.0.norm", true).code() == np::Code::kInvalidInput);
  CHECK(a.set_muon("tok_embd", true).code() == np::Code::kInvalidInput);
  CHECK(a.set_muon("nope", false).code() == np::Code::kInvalidInput);
  CHECK(a.set_muon(size_t(99), false).code() == np::Code::kInvalidInput);
  REQUIRE(a.set_muon("head.w1", false).ok());  // the retrieval head on AdamW
  randomize(a, 12);
  np::Optimizer opt = must_optimizer(a, np::OptimConfig::pretraining(10));
  CHECK(opt.momentum(3) == nullptr);
  CHECK(opt.adam_m(3) != nullptr);
  CHECK(opt.state_layout()[3].kind == np::StateKind::kAdamW);
  CHECK(opt.state_layout()[1].kind == np::StateKind::kMuon);
  CHECK(opt.muon_state_size() == 64 + 32);
  REQUIRE(opt.step(a).ok());
  CHECK(opt.adam_v(3)[0] > 0.0f);
  REQUIRE(a.set_muon("head.w1", true).ok());
  CHECK(opt.step(a).code() == np::Code::kInvalidInput);
  CHECK(opt.step_count() == 1);
  // A state saved with head.w1 on Muon does not load into this layout.
  np::Optimizer all_muon = must_optimizer(a, np::OptimConfig::pretraining(10));
  CHECK(opt.deserialize(all_muon.serialize()).code() == np::Code::kBadShape);
}

// ---- determinism and convergence --------------------------------------------------------

TEST_CASE("Same inputs give bit-identical results", "[optim]") {
  auto run = [] {
    np::ParamArena a = model_arena();
    randomize(a, 77);
    np::Optimizer opt = must_optimizer(a, np::OptimConfig::pretraining(6));
    np::Rng rng(1);
    for (int t = 0; t < 6; ++t) {
      fill_normal(a.grads(), a.total_size(), rng, 2.0);
      REQUIRE(opt.step(a).ok());
    }
    std::vector<float> v(a.values(), a.values() + a.total_size());
    return std::make_pair(v, opt.serialize());
  };
  const auto r1 = run();
  const auto r2 = run();
  CHECK(std::memcmp(r1.first.data(), r2.first.data(), r1.first.size() * 4) == 0);
  CHECK(r1.second == r2.second);
}

namespace {
// Least squares: y = W x + b with (out, in) = (6, 10) and 40 samples; loss = mean over samples
// of 0.5 |W x + b - y|^2. Returns the loss and writes the gradients.
struct LeastSquares {
  int O = 6, I = 10, N = 40;
  std::vector<double> X, Y;  // (N, I), (N, O)
  explicit LeastSquares(uint64_t seed) {
    np::Rng rng(seed);
    std::vector<double> W(O * I), b(O);
    for (double& w : W) w = rng.normal();
    for (double& x : b) x = rng.normal();
    X.resize(N * I);
    Y.resize(N * O);
    for (double& x : X) x = rng.normal();
    for (int n = 0; n < N; ++n)
      for (int o = 0; o < O; ++o) {
        double s = b[o];
        for (int i = 0; i < I; ++i) s += W[o * I + i] * X[n * I + i];
        Y[n * O + o] = s;
      }
  }
  double loss_and_grad(np::ParamArena& a) const {
    a.zero_grad();
    const float* W = a.value(0);
    const float* b = a.value(1);
    float* dW = a.grad(0);
    float* db = a.grad(1);
    double loss = 0;
    for (int n = 0; n < N; ++n)
      for (int o = 0; o < O; ++o) {
        double s = b[o];
        for (int i = 0; i < I; ++i) s += double(W[o * I + i]) * X[n * I + i];
        const double r = s - Y[n * O + o];
        loss += 0.5 * r * r / N;
        db[o] += static_cast<float>(r / N);
        for (int i = 0; i < I; ++i) dW[o * I + i] += static_cast<float>(r * X[n * I + i] / N);
      }
    return loss;
  }
};

double train_least_squares(bool muon, int steps) {
  const LeastSquares prob(31);
  np::ParamArena a = must_arena({{"w", {6, 10}}, {"b", {6}}}, {np::ParamGroup::kMatrix, np::ParamGroup::kVector});
  np::OptimConfig c;
  c.muon.enabled = muon;
  c.adamw.lr = 0.05;
  c.adamw.weight_decay = 0.0;
  c.muon.lr = 0.05;
  c.schedule.kind = np::ScheduleKind::kCosine;
  c.schedule.total_steps = steps;
  c.schedule.min_lr_ratio = 0.0;
  c.clip_norm = 10.0;
  np::Optimizer opt = must_optimizer(a, c);
  const double first = prob.loss_and_grad(a);
  double loss = first;
  for (int t = 0; t < steps; ++t) {
    REQUIRE(opt.step(a).ok());
    loss = prob.loss_and_grad(a);
  }
  return loss / first;
}
}  // namespace

TEST_CASE("Least squares converges with AdamW and with Muon + AdamW", "[optim]") {
  const double adamw = train_least_squares(false, 400);
  const double muon = train_least_squares(true, 400);
  INFO("final/initial loss: AdamW " << adamw << ", Muon " << muon);
  CHECK(adamw < 1e-4);
  CHECK(muon < 1e-4);
}

// ---- state bytes -------------------------------------------------------------------------

TEST_CASE("Optimiser state: serialize/deserialize round trip resumes exactly", "[optim]") {
  np::ParamArena a = model_arena();
  randomize(a, 8);
  const np::OptimConfig c = np::OptimConfig::pretraining(20);
  np::Optimizer opt = must_optimizer(a, c);
  np::Rng rng(3);
  for (int t = 0; t < 3; ++t) {
    fill_normal(a.grads(), a.total_size(), rng, 1.0);
    REQUIRE(opt.step(a).ok());
  }
  const std::vector<uint8_t> bytes = opt.serialize();
  np::ParamArena b = a;
  np::Optimizer resumed = must_optimizer(b, c);
  REQUIRE(resumed.deserialize(bytes).ok());
  CHECK(resumed.step_count() == 3);
  CHECK(resumed.serialize() == bytes);
  for (int t = 0; t < 4; ++t) {
    fill_normal(a.grads(), a.total_size(), rng, 1.0);
    std::memcpy(b.grads(), a.grads(), a.total_size() * 4);
    REQUIRE(opt.step(a).ok());
    REQUIRE(resumed.step(b).ok());
  }
  CHECK(std::memcmp(a.values(), b.values(), a.total_size() * 4) == 0);
  CHECK(opt.serialize() == resumed.serialize());
}

TEST_CASE("Optimiser state: malformed bytes give errors, never a crash, and change nothing", "[optim][bad-file]") {
  np::ParamArena a = model_arena();
  randomize(a, 9);
  np::Optimizer src = must_optimizer(a, np::OptimConfig::pretraining(20));
  REQUIRE(src.step(a).ok());
  const std::vector<uint8_t> good = src.serialize();

  np::ParamArena b = model_arena();
  np::Optimizer dst = must_optimizer(b, np::OptimConfig::pretraining(20));
  const std::vector<uint8_t> fresh = dst.serialize();
  auto code = [&](const std::vector<uint8_t>& bytes) {
    const np::Status st = dst.deserialize(bytes);
    if (!st.ok()) REQUIRE(dst.serialize() == fresh);  // all or nothing
    return st.code();
  };

  // Layout offsets of the first tensor entry: magic 8, version 4, step 8, count 4.
  const size_t kCount = 20, kFirst = 24;
  SECTION("every truncation") {
    for (size_t n = 0; n < good.size(); ++n) {
      std::vector<uint8_t> cut(good.begin(), good.begin() + n);
      REQUIRE(code(cut) == np::Code::kCorrupt);
    }
    CHECK(dst.deserialize(nullptr, 0).code() == np::Code::kCorrupt);
  }
  SECTION("bad magic, version, checksum, trailing bytes") {
    std::vector<uint8_t> b1 = good;
    b1[0] = 'X';
    CHECK(code(b1) == np::Code::kCorrupt);
    std::vector<uint8_t> b2 = good;
    put_u32(b2, 8, 2);
    reseal(b2);
    CHECK(code(b2) == np::Code::kBadVersion);
    std::vector<uint8_t> b3 = good;
    b3[good.size() / 2] ^= 0x10;  // a bit flip inside the state
    CHECK(code(b3) == np::Code::kCorrupt);
    std::vector<uint8_t> b4 = good;
    b4.insert(b4.end() - 8, 0);
    reseal(b4);
    CHECK(code(b4) == np::Code::kCorrupt);
  }
  SECTION("resealed structural edits") {
    std::vector<uint8_t> e;
    e = good;
    put_u32(e, kCount, 0xFFFFFFFFu);  // tensor count
    reseal(e);
    CHECK(code(e) == np::Code::kCorrupt);
    e = good;
    put_u32(e, kFirst, 0x7FFFFFFFu);  // name length
    reseal(e);
    CHECK(code(e) == np::Code::kCorrupt);
    const size_t name_len = 8;  // "tok_embd"
    e = good;
    e[kFirst + 4 + name_len] = 9;  // group
    reseal(e);
    CHECK(code(e) == np::Code::kCorrupt);
    e = good;
    e[kFirst + 4 + name_len + 1] = 7;  // state kind
    reseal(e);
    CHECK(code(e) == np::Code::kCorrupt);
    e = good;
    put_u64(e, kFirst + 4 + name_len + 2, ~uint64_t(0));  // tensor size
    reseal(e);
    CHECK(code(e) == np::Code::kCorrupt);
    e = good;
    put_u64(e, kFirst + 4 + name_len + 2, 127);  // sizes no longer add up to the state
    reseal(e);
    CHECK(code(e) == np::Code::kCorrupt);
    e = good;
    put_u64(e, 12, ~uint64_t(0));  // step
    reseal(e);
    CHECK(code(e) == np::Code::kCorrupt);
    // A negative second moment: the first v value follows m.
    size_t pos = kFirst;
    for (size_t i = 0; i < 7; ++i) {
      uint32_t len = 0;
      for (int k = 0; k < 4; ++k) len |= uint32_t(good[pos + k]) << (8 * k);
      pos += 4 + len + 2 + 8;
    }
    const size_t n_m = 128 + 8 + 1 + 12;
    e = good;
    put_u32(e, pos + 8 + 4 * n_m, 0xBF800000u);  // -1.0f
    reseal(e);
    CHECK(code(e) == np::Code::kCorrupt);
    e = good;
    put_u32(e, pos + 8 + 4 * n_m, 0x7FC00000u);  // NaN
    reseal(e);
    CHECK(code(e) == np::Code::kCorrupt);
  }
  SECTION("another layout is a shape error") {
    np::ParamArena other = must_arena({{"w", {4, 4}}}, {np::ParamGroup::kMatrix});
    np::Optimizer o = must_optimizer(other, np::OptimConfig::pretraining(5));
    CHECK(code(o.serialize()) == np::Code::kBadShape);
    np::OptimConfig no_muon = np::OptimConfig::pretraining(20);
    no_muon.muon.enabled = false;
    np::Optimizer o2 = must_optimizer(a, no_muon);
    CHECK(code(o2.serialize()) == np::Code::kBadShape);
  }
  SECTION("random edits, resealed, never crash") {
    np::Rng rng(404);
    for (int trial = 0; trial < 3000; ++trial) {
      std::vector<uint8_t> e = good;
      const int edits = 1 + static_cast<int>(rng.below(4));
      for (int k = 0; k < edits; ++k) e[rng.below(e.size() - 8)] = static_cast<uint8_t>(rng.below(256));
      if (rng.below(4) == 0) e.resize(8 + rng.below(e.size()));
      if (e.size() >= 20) reseal(e);
      const np::Code c = code(e);
      REQUIRE((c == np::Code::kOk || c == np::Code::kCorrupt || c == np::Code::kBadShape ||
               c == np::Code::kBadVersion));
    }
  }
  SECTION("the good bytes load") {
    CHECK(code(good) == np::Code::kOk);
    CHECK(dst.step_count() == 1);
  }
}
