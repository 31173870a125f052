// test_contrastive.cpp — the retrieval head's CLIP-style contrastive loss: the loss kernel
// (ops/kernels_contrastive.h) and the head + loss chain against central finite differences
// in double, the temperature clamp, TrainModel::contrastive_forward_backward's contract
// (adds into gradients, weight, errors, kept vs recomputed activations, the same embeddings as
// Model::embed), the pair and batch builders and the seeded stream of np/dataset.h, and a
// learning test on tests/fixtures/data/tiny_tools.jsonl.
// Set NP_GRAD_REPORT=1 to print the max |analytic - fd| of every checked tensor and the
// retrieval accuracies of the learning test.
#include <catch2/catch.hpp>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <set>
#include <string>
#include <vector>

#include "np/dataset.h"
#include "np/model.h"
#include "np/optim.h"
#include "np/trainer.h"
#include "ops/kernels.h"
#include "ops/kernels_contrastive.h"
#include "util/rng.h"

namespace {

using Vec = std::vector<double>;

// Central-difference step: truncation ~eps^2 * f''' and rounding ~1e-16 |L| / eps are both
// about 1e-10 for these O(1) losses.
constexpr double kFdEps = 1e-6;
// Analytic vs finite difference in double: a wrong term is O(1e-2) or more.
constexpr double kFdAtol = 1e-6, kFdRtol = 1e-6;
// Float vs double kernel: float rounding over sums of a few dozen terms, relative to the
// tensor's largest magnitude.
constexpr double kFloatRtol = 1e-4;
// Two float computations of the same gradient that differ only in the order terms were
// added (or in a factor applied before the chain), relative to the tensor's largest value.
constexpr double kReorderRtol = 1e-5;

bool report() { return std::getenv("NP_GRAD_REPORT") != nullptr; }

Vec randn(np::Rng& rng, size_t n, double scale = 1.0) {
  Vec v(n);
  for (double& x : v) x = scale * rng.normal();
  return v;
}

// analytic[i] vs (L(x+eps) - L(x-eps)) / 2eps for every element of x; `kinks` (optional)
// returns the ReLU pattern left by the last loss() call, and a point whose pattern differs
// between x+eps and x-eps is skipped. Returns the max difference.
double check_grad(const std::string& name, Vec& x, const Vec& analytic, const std::function<double()>& loss,
                  const std::function<std::vector<uint8_t>()>& kinks = nullptr) {
  REQUIRE(x.size() == analytic.size());
  double max_err = 0.0;
  long first_bad = -1;
  int skipped = 0;
  for (size_t i = 0; i < x.size(); ++i) {
    const double x0 = x[i];
    x[i] = x0 + kFdEps;
    const double lp = loss();
    const std::vector<uint8_t> sp = kinks ? kinks() : std::vector<uint8_t>();
    x[i] = x0 - kFdEps;
    const double lm = loss();
    const std::vector<uint8_t> sm = kinks ? kinks() : std::vector<uint8_t>();
    x[i] = x0;
    if (sp != sm) {
      ++skipped;
      continue;
    }
    const double fd = (lp - lm) / (2.0 * kFdEps);
    const double err = std::fabs(analytic[i] - fd);
    max_err = std::max(max_err, err);
    if (first_bad < 0 && !(err <= kFdAtol + kFdRtol * std::fabs(fd))) first_bad = static_cast<long>(i);
  }
  loss();  // leave the caches as they are at x
  if (report())
    std::printf("[contrastive] %-26s max|analytic-fd| %.3g over %zu points (%d skipped at kinks)\n", name.c_str(),
                max_err, x.size() - skipped, skipped);
  INFO(name << ": max |analytic - fd| = " << max_err << ", first failing index " << first_bad << ", " << skipped
            << " of " << x.size() << " skipped at kinks");
  CHECK(first_bad < 0);
  CHECK(skipped * 4 <= static_cast<int>(x.size()));
  return max_err;
}

// |got - want| <= rtol * max|want| elementwise.
template <class A, class B>
void check_close(const std::string& name, const A* got, const B* want, size_t n, double rtol) {
  double scale = 0.0, max_err = 0.0;
  long first_bad = -1;
  for (size_t i = 0; i < n; ++i) scale = std::max(scale, std::fabs(static_cast<double>(want[i])));
  const double tol = rtol * std::max(scale, 1e-30);
  for (size_t i = 0; i < n; ++i) {
    const double err = std::fabs(static_cast<double>(got[i]) - static_cast<double>(want[i]));
    max_err = std::max(max_err, err);
    if (first_bad < 0 && !(err <= tol)) first_bad = static_cast<long>(i);
  }
  INFO(name << ": max diff " << max_err << " (tolerance " << tol << "), first failing index " << first_bad);
  CHECK(first_bad < 0);
}

}  // namespace

TEST_CASE("clip logit scale: exp of log_temp clamped to [0, ln 100]", "[contrastive]") {
  CHECK(np::clip_logit_scale(std::log(1.0 / 0.07)) == Approx(1.0 / 0.07).epsilon(1e-12));
  CHECK(np::clip_logit_scale(7.0) == Approx(100.0).epsilon(1e-12));
  CHECK(np::clip_logit_scale(-3.0) == 1.0);
  CHECK(np::clip_log_temp_in_range(np::kClipLogTempMax));
  CHECK(np::clip_log_temp_in_range(0.0));
  CHECK_FALSE(np::clip_log_temp_in_range(4.61));
  CHECK_FALSE(np::clip_log_temp_in_range(-1e-9));
  CHECK(np::kClipLogTempMax == std::log(100.0));
}

TEST_CASE("clip loss forward on a hand-computed case", "[contrastive]") {
  // q = t = identity (N = 2, D = 2), log_temp = 0 (scale 1): logits = I, so every row and
  // column has CE = log(e + 1) - 1.
  const Vec q = {1, 0, 0, 1}, t = {1, 0, 0, 1};
  Vec sim(4), lr(2), lc(2);
  double loss = 0;
  np::clip_loss_forward(&loss, sim.data(), lr.data(), lc.data(), q.data(), t.data(), 0.0, 2, 2);
  CHECK(loss == Approx(std::log(std::exp(1.0) + 1.0) - 1.0).epsilon(1e-14));
  CHECK(sim == Vec{1, 0, 0, 1});
  // Swapping the tools makes every positive the worse choice: CE = log(e + 1).
  const Vec t2 = {0, 1, 1, 0};
  np::clip_loss_forward(&loss, sim.data(), lr.data(), lc.data(), q.data(), t2.data(), 0.0, 2, 2);
  CHECK(loss == Approx(std::log(std::exp(1.0) + 1.0)).epsilon(1e-14));
}

TEST_CASE("clip loss backward matches finite differences", "[contrastive][grad]") {
  np::Rng rng(11);
  const int N = 4, D = 5;
  Vec q = randn(rng, N * D, 0.6), t = randn(rng, N * D, 0.6);
  struct Case {
    const char* name;
    double log_temp;
    bool in_range;
  };
  for (const Case& cs : {Case{"clip in range", 1.3, true}, Case{"clip above ln 100", 4.9, false},
                         Case{"clip below 0", -0.4, false}}) {
    Vec lt = {cs.log_temp};
    Vec sim(N * N), lr(N), lc(N);
    const double dloss = 0.7;  // d(total)/d(loss): the weight the trainer passes
    auto loss = [&]() {
      double l = 0;
      np::clip_loss_forward(&l, sim.data(), lr.data(), lc.data(), q.data(), t.data(), lt[0], N, D);
      return dloss * l;
    };
    loss();
    Vec dq(N * D, 0.0), dt(N * D, 0.0), dlt(1, 0.0);
    np::clip_loss_backward(dq.data(), dt.data(), dlt.data(), dloss, sim.data(), lr.data(), lc.data(), q.data(),
                           t.data(), lt[0], N, D);
    check_grad(std::string(cs.name) + " dq", q, dq, loss);
    check_grad(std::string(cs.name) + " dt", t, dt, loss);
    check_grad(std::string(cs.name) + " dlog_temp", lt, dlt, loss);
    if (!cs.in_range) CHECK(dlt[0] == 0.0);
    else CHECK(std::fabs(dlt[0]) > 1e-3);

    // Backward adds: a second call doubles every gradient.
    Vec dq2 = dq, dt2 = dt, dlt2 = dlt;
    np::clip_loss_backward(dq2.data(), dt2.data(), dlt2.data(), dloss, sim.data(), lr.data(), lc.data(), q.data(),
                           t.data(), lt[0], N, D);
    for (size_t i = 0; i < dq.size(); ++i) CHECK(dq2[i] == Approx(2 * dq[i]).epsilon(1e-12).margin(1e-300));
    CHECK(dlt2[0] == Approx(2 * dlt[0]).epsilon(1e-12).margin(1e-300));

    // The float instantiation agrees with the double one.
    std::vector<float> qf(q.begin(), q.end()), tf(t.begin(), t.end()), simf(N * N), lrf(N), lcf(N);
    float lf = 0;
    np::clip_loss_forward(&lf, simf.data(), lrf.data(), lcf.data(), qf.data(), tf.data(), static_cast<float>(lt[0]),
                          N, D);
    CHECK(lf * dloss == Approx(loss()).epsilon(1e-6));
    std::vector<float> dqf(N * D, 0.0f), dtf(N * D, 0.0f), dltf(1, 0.0f);
    np::clip_loss_backward(dqf.data(), dtf.data(), dltf.data(), static_cast<float>(dloss), simf.data(), lrf.data(),
                           lcf.data(), qf.data(), tf.data(), static_cast<float>(lt[0]), N, D);
    check_close(std::string(cs.name) + " float dq", dqf.data(), dq.data(), dq.size(), kFloatRtol);
    check_close(std::string(cs.name) + " float dt", dtf.data(), dt.data(), dt.size(), kFloatRtol);
    check_close(std::string(cs.name) + " float dlog_temp", dltf.data(), dlt.data(), 1, kFloatRtol);
  }
}

TEST_CASE("retrieval head + clip loss chain matches finite differences", "[contrastive][grad]") {
  // What the trainer runs after the encoder: 2N encoder outputs (N queries, N tools; some
  // positions padding) -> mean pool -> relu(W1 p + b1) -> W2 -> L2 normalise -> CLIP loss.
  np::Rng rng(5);
  const int N = 3, T = 4, C = 8, H = 6, OC = 5, R = 2 * N;
  Vec enc = randn(rng, static_cast<size_t>(R) * T * C), W1 = randn(rng, H * C, 0.5), b1 = randn(rng, H, 0.3),
      W2 = randn(rng, OC * H, 0.5), lt = {0.9};
  std::vector<uint8_t> valid(static_cast<size_t>(R) * T, 1);
  for (int r = 0; r < R; ++r)
    for (int t = T - (r % 3); t < T; ++t) valid[static_cast<size_t>(r) * T + t] = 0;  // 0..2 pads per row
  Vec emb(R * OC), pooled(R * C), hid(R * H), rnorm(R), sim(N * N), lr(N), lc(N);
  auto loss = [&]() {
    for (int r = 0; r < R; ++r)
      np::retrieval_forward_train(emb.data() + r * OC, pooled.data() + r * C, hid.data() + r * H, rnorm.data() + r,
                                  enc.data() + static_cast<size_t>(r) * T * C, valid.data() + r * T, W1.data(),
                                  b1.data(), W2.data(), T, C, H, OC);
    double l = 0;
    np::clip_loss_forward(&l, sim.data(), lr.data(), lc.data(), emb.data(), emb.data() + N * OC, lt[0], N, OC);
    return l;
  };
  auto kinks = [&]() {
    std::vector<uint8_t> s;
    for (double h : hid) s.push_back(h > 0);
    return s;
  };
  loss();
  Vec denc(enc.size(), 0.0), dW1(W1.size(), 0.0), db1(b1.size(), 0.0), dW2(W2.size(), 0.0), dlt(1, 0.0),
      demb(emb.size(), 0.0);
  np::clip_loss_backward(demb.data(), demb.data() + N * OC, dlt.data(), 1.0, sim.data(), lr.data(), lc.data(),
                         emb.data(), emb.data() + N * OC, lt[0], N, OC);
  for (int r = 0; r < R; ++r)
    np::retrieval_backward(denc.data() + static_cast<size_t>(r) * T * C, dW1.data(), db1.data(), dW2.data(),
                           demb.data() + r * OC, emb.data() + r * OC, pooled.data() + r * C, hid.data() + r * H,
                           rnorm.data() + r, valid.data() + r * T, W1.data(), W2.data(), T, C, H, OC);
  check_grad("chain denc", enc, denc, loss, kinks);
  check_grad("chain dW1", W1, dW1, loss, kinks);
  check_grad("chain db1", b1, db1, loss, kinks);
  check_grad("chain dW2", W2, dW2, loss, kinks);
  check_grad("chain dlog_temp", lt, dlt, loss, kinks);
  // Padding positions get no gradient.
  for (size_t i = 0; i < valid.size(); ++i)
    if (!valid[i])
      for (int c = 0; c < C; ++c) CHECK(denc[i * C + c] == 0.0);
}

namespace {

np::ModelConfig tiny_config() {
  np::ModelConfig c = np::ModelConfig::small();
  c.max_enc_len = 64;
  c.max_dec_len = 16;
  return c;
}

// N queries of lengths 3..8 and N tools of lengths 5..12, right-padded with pad id 0.
struct RandomPairs {
  int N = 0, Tq = 0, Tt = 0;
  std::vector<int32_t> q, t;
  np::ContrastiveBatchView view() const { return np::ContrastiveBatchView{N, Tq, Tt, q.data(), t.data()}; }
};
RandomPairs random_pairs(np::Rng& rng, int N, int vocab) {
  RandomPairs p;
  p.N = N;
  p.Tq = 8;
  p.Tt = 12;
  p.q.assign(static_cast<size_t>(N) * p.Tq, 0);
  p.t.assign(static_cast<size_t>(N) * p.Tt, 0);
  for (int i = 0; i < N; ++i) {
    const int lq = 3 + static_cast<int>(rng.next_u64() % 6), lt = 5 + static_cast<int>(rng.next_u64() % 8);
    for (int k = 0; k < lq; ++k) p.q[static_cast<size_t>(i) * p.Tq + k] = 6 + static_cast<int32_t>(rng.next_u64() % (vocab - 6));
    for (int k = 0; k < lt; ++k) p.t[static_cast<size_t>(i) * p.Tt + k] = 6 + static_cast<int32_t>(rng.next_u64() % (vocab - 6));
  }
  return p;
}

// A token-loss batch of B = 2 sequences for the same model.
struct TokenBatch {
  std::vector<int32_t> enc, dec, tgt;
  std::vector<float> w;
  np::TrainBatchView view() const { return np::TrainBatchView{2, 6, 4, enc.data(), dec.data(), tgt.data(), w.data()}; }
};
TokenBatch token_batch() {
  TokenBatch b;
  b.enc = {7, 8, 9, 5, 10, 11, 12, 13, 5, 14, 0, 0};
  b.dec = {1, 4, 20, 21, 1, 4, 22, 0};
  b.tgt = {4, 20, 21, 1, 4, 22, 1, -1};
  b.w = {1, 2, 2, 1, 1, 3, 1, 0};
  return b;
}

std::vector<float> grads(const np::TrainModel& m) {
  const np::ParamArena& a = m.params();
  return std::vector<float>(a.grads(), a.grads() + a.total_size());
}

}  // namespace

TEST_CASE("contrastive_forward_backward: adds weight * gradient, encoder and head only", "[contrastive][train]") {
  auto mr = np::TrainModel::create(tiny_config(), 3);
  REQUIRE(mr.ok());
  np::TrainModel& m = mr.value();
  np::Rng rng(9);
  const RandomPairs p = random_pairs(rng, 4, m.config().vocab_size);
  np::ParamArena& a = m.params();

  // Alone, from zeroed gradients, weight 1.
  a.zero_grad();
  np::ContrastiveInfo info;
  REQUIRE(m.contrastive_forward_backward(p.view(), 1.0, &info).ok());
  const std::vector<float> g1 = grads(m);
  CHECK(info.N == 4);
  CHECK(std::isfinite(info.loss));
  CHECK(info.loss > 0);
  CHECK(info.accuracy >= 0.0);
  CHECK(info.accuracy <= 1.0);
  CHECK(info.logit_scale == Approx(1.0 / 0.07).epsilon(1e-6));
  // The decoder and its final norm get nothing; the encoder, the embedding, the head and
  // log_temp get something.
  for (size_t i = 0; i < a.num_tensors(); ++i) {
    const np::ParamTensor& t = a.tensor(i);
    double mx = 0;
    for (size_t k = 0; k < t.size; ++k) mx = std::max(mx, std::fabs(static_cast<double>(a.grad(i)[k])));
    INFO(t.name);
    if (t.name.rfind("dec.", 0) == 0) CHECK(mx == 0.0);
    else if (t.name.find("norm.weight") == std::string::npos && t.name.find("_gate") == std::string::npos)
      CHECK(mx > 0.0);
  }

  // forward_backward zeroes, then contrastive adds: token grads + contrastive grads.
  const TokenBatch tb = token_batch();
  np::LossInfo li;
  REQUIRE(m.forward_backward(tb.view(), np::LossConfig(), &li).ok());
  const std::vector<float> g_tok = grads(m);
  REQUIRE(m.contrastive_forward_backward(p.view(), 0.1, &info).ok());
  const std::vector<float> g_sum = grads(m);
  std::vector<double> want(g_tok.size());
  for (size_t i = 0; i < want.size(); ++i) want[i] = static_cast<double>(g_tok[i]) + 0.1 * g1[i];
  check_close("token + 0.1 * contrastive", g_sum.data(), want.data(), want.size(), kReorderRtol);

  // Weight scales the gradient; backward = false and weight 0 add nothing.
  a.zero_grad();
  REQUIRE(m.contrastive_forward_backward(p.view(), 2.5, &info).ok());
  const std::vector<float> g25 = grads(m);
  for (size_t i = 0; i < want.size(); ++i) want[i] = 2.5 * g1[i];
  check_close("weight 2.5", g25.data(), want.data(), want.size(), kReorderRtol);
  np::ContrastiveInfo info2;
  REQUIRE(m.contrastive_forward_backward(p.view(), 1.0, &info2, /*backward=*/false).ok());
  REQUIRE(m.contrastive_forward_backward(p.view(), 0.0, &info2).ok());
  CHECK(grads(m) == g25);
  CHECK(info2.loss == info.loss);
}

TEST_CASE("contrastive_forward_backward embeds as inference does (Model::embed)", "[contrastive][train]") {
  // The training loss must be the CLIP loss of the embeddings the engine computes at
  // inference: export the model, load it, encode + embed each (trimmed) row, apply the loss.
  auto mr = np::TrainModel::create(tiny_config(), 12);
  REQUIRE(mr.ok());
  np::TrainModel& m = mr.value();
  const size_t lt = static_cast<size_t>(m.params().find("contrastive.log_temp"));
  *m.params().value(lt) = 1.1f;  // a scale (3.0) at which the rows are not all near-uniform
  np::Rng rng(4);
  RandomPairs p = random_pairs(rng, 4, m.config().vocab_size);
  p.q[2] = 0;  // a pad in the middle of query 0: masked and left out of the mean, not trimmed
  np::ContrastiveInfo info;
  REQUIRE(m.contrastive_forward_backward(p.view(), 1.0, &info, false).ok());

  auto tok = np::synthetic_tokenizer(m.config().vocab_size);
  REQUIRE(tok.ok());
  np::GgufWriter w;
  REQUIRE(m.export_gguf(tok.value(), np::GgmlType::F32, &w).ok());
  auto bytes = w.to_bytes();
  REQUIRE(bytes.ok());
  auto f = np::GgufFile::open_bytes(bytes.take());
  REQUIRE(f.ok());
  auto model = np::Model::load(f.take());
  REQUIRE(model.ok());
  const int OC = m.config().contrastive_dim;
  auto embed_rows = [&](const std::vector<int32_t>& ids, int L, Vec* out) {
    for (int i = 0; i < p.N; ++i) {
      std::vector<int32_t> row(ids.begin() + static_cast<ptrdiff_t>(i) * L, ids.begin() + static_cast<ptrdiff_t>(i + 1) * L);
      while (row.back() == 0) row.pop_back();
      np::EncoderOutput enc;
      REQUIRE(model.value()->encode(row, &enc).ok());
      std::vector<float> e;
      REQUIRE(model.value()->embed(enc, row, &e).ok());
      out->insert(out->end(), e.begin(), e.end());
    }
  };
  Vec q, t;
  embed_rows(p.q, p.Tq, &q);
  embed_rows(p.t, p.Tt, &t);
  Vec sim(static_cast<size_t>(p.N) * p.N), lr(p.N), lc(p.N);
  double want = 0;
  np::clip_loss_forward(&want, sim.data(), lr.data(), lc.data(), q.data(), t.data(), 1.1, p.N, OC);
  CHECK(info.loss == Approx(want).epsilon(1e-5));
  CHECK(info.logit_scale == Approx(std::exp(1.1)).epsilon(1e-6));
}

TEST_CASE("contrastive_forward_backward: recomputed activations give the same bits", "[contrastive][train]") {
  auto mr = np::TrainModel::create(tiny_config(), 4);
  REQUIRE(mr.ok());
  np::TrainModel& m = mr.value();
  np::Rng rng(2);
  const RandomPairs p = random_pairs(rng, 5, m.config().vocab_size);
  np::ContrastiveInfo i1, i2;
  m.params().zero_grad();
  REQUIRE(m.contrastive_forward_backward(p.view(), 0.3, &i1).ok());
  const std::vector<float> kept = grads(m);
  m.set_contrastive_activation_budget(0);
  m.params().zero_grad();
  REQUIRE(m.contrastive_forward_backward(p.view(), 0.3, &i2).ok());
  CHECK(grads(m) == kept);
  CHECK(i1.loss == i2.loss);
}

TEST_CASE("contrastive_forward_backward: the clamped temperature", "[contrastive][train]") {
  auto mr = np::TrainModel::create(tiny_config(), 5);
  REQUIRE(mr.ok());
  np::TrainModel& m = mr.value();
  np::ParamArena& a = m.params();
  const size_t lt = static_cast<size_t>(a.find("contrastive.log_temp"));
  np::Rng rng(8);
  const RandomPairs p = random_pairs(rng, 4, m.config().vocab_size);
  np::ContrastiveInfo info;

  *a.value(lt) = 6.0f;  // above ln 100: scale 100, no gradient
  a.zero_grad();
  REQUIRE(m.contrastive_forward_backward(p.view(), 1.0, &info).ok());
  CHECK(info.logit_scale == Approx(100.0).epsilon(1e-12));
  CHECK(*a.grad(lt) == 0.0f);

  CHECK(m.clamp_log_temp());  // projected back: at the bound, inside the range
  CHECK(np::clip_log_temp_in_range(*a.value(lt)));
  CHECK(*a.value(lt) == Approx(std::log(100.0)).epsilon(1e-6));
  CHECK_FALSE(m.clamp_log_temp());
  a.zero_grad();
  REQUIRE(m.contrastive_forward_backward(p.view(), 1.0, &info).ok());
  CHECK(*a.grad(lt) != 0.0f);

  *a.value(lt) = -2.0f;
  CHECK(m.clamp_log_temp());
  CHECK(*a.value(lt) == 0.0f);
}

TEST_CASE("contrastive_forward_backward: bad input is refused and adds nothing", "[contrastive][train][bad-input]") {
  auto mr = np::TrainModel::create(tiny_config(), 6);
  REQUIRE(mr.ok());
  np::TrainModel& m = mr.value();
  np::Rng rng(1);
  RandomPairs p = random_pairs(rng, 3, m.config().vocab_size);
  m.params().zero_grad();
  np::ContrastiveInfo info;
  auto code = [&](const np::ContrastiveBatchView& v, double w) {
    return m.contrastive_forward_backward(v, w, &info).code();
  };
  np::ContrastiveBatchView v = p.view();
  v.N = 1;
  CHECK(code(v, 1.0) == np::Code::kInvalidInput);  // no negative
  v = p.view();
  v.query_ids = nullptr;
  CHECK(code(v, 1.0) == np::Code::kInvalidInput);
  v = p.view();
  CHECK(code(v, std::nan("")) == np::Code::kInvalidInput);
  v.Tt = m.config().max_enc_len + 1;
  std::vector<int32_t> long_tools(static_cast<size_t>(v.N) * v.Tt, 7);
  v.tool_ids = long_tools.data();
  CHECK(code(v, 1.0) == np::Code::kInvalidInput);
  RandomPairs bad = p;
  bad.t[static_cast<size_t>(1) * bad.Tt] = m.config().vocab_size;  // outside the vocabulary
  CHECK(code(bad.view(), 1.0) == np::Code::kInvalidInput);
  bad = p;
  bad.q[0] = -1;
  CHECK(code(bad.view(), 1.0) == np::Code::kInvalidInput);
  bad = p;
  std::fill(bad.q.begin() + bad.Tq, bad.q.begin() + 2 * bad.Tq, 0);  // query 1: nothing but padding
  CHECK(code(bad.view(), 1.0) == np::Code::kInvalidInput);
  bad = p;
  std::copy(bad.t.begin(), bad.t.begin() + bad.Tt, bad.t.begin() + 2 * bad.Tt);  // tool 2 = tool 0
  CHECK(code(bad.view(), 1.0) == np::Code::kInvalidInput);
  const std::vector<float> g = grads(m);
  CHECK(std::all_of(g.begin(), g.end(), [](float x) { return x == 0.0f; }));

  np::ModelConfig c = tiny_config();
  c.contrastive_dim = 0;
  auto no_head = np::TrainModel::create(c, 1);
  REQUIRE(no_head.ok());
  CHECK(no_head.value().contrastive_forward_backward(p.view(), 1.0, &info).code() == np::Code::kUnsupported);
}

// ---- pairs and batches -------------------------------------------------------------------

namespace {

np::Example example(const std::string& line) {
  np::Example e;
  const np::Status s = np::parse_example(line, 1, true, &e);
  INFO(s.to_string());
  REQUIRE(s.ok());
  return e;
}

np::ContrastivePair pair_with_text(const std::string& text, int64_t line) {
  np::ContrastivePair p;
  p.tool_text = text;
  p.tool_name = text;
  p.query_ids = {7, 8};
  p.tool_ids = {9};
  p.line = line;
  return p;
}

}  // namespace

TEST_CASE("tool_retrieval_text: each tool exactly as the normalised tools JSON holds it", "[contrastive][dataset]") {
  const char* tools =
      R"([{"name":"getWeather","description":"Weather in Zürich.","parameters":{"location":{"type":"string","description":"City.","required":true}}},)"
      R"({"type":"function","function":{"name":"set_timer","description":"Start a timer.","parameters":{"type":"object","properties":{"minutes":{"type":"integer"}},"required":["minutes"]}}},)"
      R"({"name":"ping"}])";
  auto set = np::parse_tools(tools);
  REQUIRE(set.ok());
  std::string joined = "[";
  for (size_t i = 0; i < set.value().tools.size(); ++i)
    joined += (i ? "," : "") + np::tool_retrieval_text(set.value().tools[i]);
  CHECK(joined + "]" == set.value().normalized_json);
  CHECK(np::tool_retrieval_text(set.value().tools[2]) == R"({"name":"ping","description":"","parameters":{}})");
  CHECK(np::tool_retrieval_text(set.value().tools[0]) ==
        R"({"name":"get_weather","description":"Weather in Z\u00fcrich.","parameters":{"location":{"type":"string","description":"City.","required":true}}})");
}

TEST_CASE("make_contrastive_pair: the first answer's tool, encoded alone", "[contrastive][dataset]") {
  auto tok = np::synthetic_tokenizer(512);
  REQUIRE(tok.ok());
  np::ModelConfig c = np::ModelConfig::small();
  const np::Example e = example(
      R"({"query":"Weather in Paris and a 5 minute timer","tools":[{"name":"set_timer","description":"Start a timer.","parameters":{"minutes":{"type":"integer","description":"Length.","required":true}}},)"
      R"({"name":"getWeather","description":"Current weather.","parameters":{"location":{"type":"string","description":"City.","required":true}}}],)"
      R"("answers":[{"name":"getWeather","arguments":{"location":"Paris"}},{"name":"set_timer","arguments":{"minutes":5}}]})");
  np::ContrastivePair p;
  bool has = false;
  REQUIRE(np::make_contrastive_pair(tok.value(), c, e, &p, &has).ok());
  REQUIRE(has);
  CHECK(p.tool_name == "get_weather");
  CHECK(p.tool_text == np::tool_retrieval_text(e.toolset.tools[1]));
  CHECK(p.query_ids == tok.value().encode(e.query));
  CHECK(p.tool_ids == tok.value().encode(p.tool_text));
  CHECK(std::find(p.query_ids.begin(), p.query_ids.end(), c.tools_id) == p.query_ids.end());
  CHECK_FALSE(p.truncated);

  // Cut to the encoder's context.
  c.max_enc_len = 10;
  REQUIRE(np::make_contrastive_pair(tok.value(), c, e, &p, &has).ok());
  CHECK(p.tool_ids.size() == 10u);
  CHECK(p.truncated);

  // No call: no pair.
  const np::Example none = example(
      R"({"query":"hello","tools":[{"name":"ping","description":"Ping."}],"answers":[]})");
  has = true;
  REQUIRE(np::make_contrastive_pair(tok.value(), c, none, &p, &has).ok());
  CHECK_FALSE(has);
}

TEST_CASE("group_contrastive_pairs: no tool text twice in a group", "[contrastive][dataset]") {
  std::vector<np::ContrastivePair> ps;
  for (const char* s : {"A", "A", "B", "C"}) ps.push_back(pair_with_text(s, static_cast<int64_t>(ps.size()) + 1));
  using G = std::vector<std::vector<size_t>>;
  CHECK(np::group_contrastive_pairs(ps, 2) == G{{0, 2}, {1, 3}});  // the header's example
  CHECK(np::group_contrastive_pairs(ps, 4) == G{{0, 2, 3}});      // pair 1 left alone: dropped
  CHECK(np::group_contrastive_pairs(ps, 1).empty());
  ps.clear();
  for (const char* s : {"A", "B", "A", "A", "C", "B", "D"})
    ps.push_back(pair_with_text(s, static_cast<int64_t>(ps.size()) + 1));
  const G g = np::group_contrastive_pairs(ps, 3);
  CHECK(g == G{{0, 1, 4}, {2, 5, 6}});  // {3} alone: dropped
  for (const auto& grp : g) {
    std::set<std::string> texts;
    for (size_t i : grp) CHECK(texts.insert(ps[i].tool_text).second);
  }
}

TEST_CASE("make_contrastive_batch: padding and refusals", "[contrastive][dataset][bad-input]") {
  np::ContrastivePair a = pair_with_text("A", 1), b = pair_with_text("B", 2), a2 = pair_with_text("A", 3);
  b.query_ids = {10, 11, 12};
  np::ContrastiveBatch batch;
  REQUIRE(np::make_contrastive_batch({&a, &b}, 0, &batch).ok());
  CHECK(batch.N == 2);
  CHECK(batch.Tq == 3);
  CHECK(batch.Tt == 1);
  CHECK(batch.query_ids == std::vector<int32_t>{7, 8, 0, 10, 11, 12});
  CHECK(batch.tool_ids == std::vector<int32_t>{9, 9});
  CHECK(batch.lines == std::vector<int64_t>{1, 2});
  CHECK(np::make_contrastive_batch({&a, &b, &a2}, 0, &batch).code() == np::Code::kInvalidInput);
  CHECK(np::make_contrastive_batch({&a}, 0, &batch).code() == np::Code::kInvalidInput);
  a2.tool_text = "C";
  a2.tool_ids.clear();
  CHECK(np::make_contrastive_batch({&a, &a2}, 0, &batch).code() == np::Code::kInvalidInput);
}

TEST_CASE("ContrastiveStream: seeded epochs, distinct tools per batch, restore", "[contrastive][dataset]") {
  std::vector<np::ContrastivePair> ps;
  const char* texts[] = {"A", "B", "C", "A", "B", "D", "A", "C", "E", "B", "A", "D"};
  for (const char* t : texts) ps.push_back(pair_with_text(t, static_cast<int64_t>(ps.size()) + 1));
  auto s1 = np::ContrastiveStream::create(ps, 3, 0, 42);
  auto s2 = np::ContrastiveStream::create(ps, 3, 0, 42);
  REQUIRE(s1.ok());
  REQUIRE(s2.ok());
  std::vector<std::vector<int64_t>> seen;
  for (int k = 0; k < 30; ++k) {
    np::ContrastiveBatch a, b;
    const int32_t epoch = s1.value().epoch();
    const uint64_t taken = s1.value().taken();
    REQUIRE(s1.value().next(&a).ok());
    REQUIRE(s2.value().next(&b).ok());
    CHECK(a.lines == b.lines);  // same seed, same stream
    CHECK(a.N >= 2);
    std::set<std::string> tools;
    for (int64_t l : a.lines) CHECK(tools.insert(texts[l - 1]).second);
    seen.push_back(a.lines);
    if (k == 17) {
      // A third stream restored to this batch's position continues identically.
      auto s3 = np::ContrastiveStream::create(ps, 3, 0, 42);
      REQUIRE(s3.ok());
      REQUIRE(s3.value().restore(epoch, taken).ok());
      np::ContrastiveBatch c;
      REQUIRE(s3.value().next(&c).ok());
      CHECK(c.lines == a.lines);
    }
  }
  CHECK(s1.value().epoch() >= 3);
  // Within one epoch no pair appears twice.
  auto s4 = np::ContrastiveStream::create(ps, 3, 0, 42);
  REQUIRE(s4.ok());
  std::set<int64_t> epoch0;
  const size_t nb = s4.value().batches_in_epoch();
  for (size_t k = 0; k < nb; ++k) {
    np::ContrastiveBatch a;
    REQUIRE(s4.value().next(&a).ok());
    for (int64_t l : a.lines) CHECK(epoch0.insert(l).second);
  }
  CHECK(s4.value().epoch() == 0);
  // Another seed gives another order.
  auto s5 = np::ContrastiveStream::create(ps, 3, 0, 43);
  REQUIRE(s5.ok());
  bool differs = false;
  for (size_t k = 0; k < 6; ++k) {
    np::ContrastiveBatch a;
    REQUIRE(s5.value().next(&a).ok());
    differs = differs || a.lines != seen[k];
  }
  CHECK(differs);
  // Refusals.
  CHECK(s4.value().restore(0, nb + 1).code() == np::Code::kInvalidInput);
  CHECK(s4.value().epoch() == 0);
  CHECK(s4.value().restore(-1, 0).code() == np::Code::kInvalidInput);
  CHECK(np::ContrastiveStream::create(ps, 1, 0, 1).status().code() == np::Code::kInvalidInput);
  std::vector<np::ContrastivePair> same = {pair_with_text("A", 1), pair_with_text("A", 2)};
  CHECK(np::ContrastiveStream::create(same, 4, 0, 1).status().code() == np::Code::kInvalidInput);
}

// ---- learning ------------------------------------------------------------------------------

namespace {

// Mean in-batch retrieval accuracy and loss over the batches, with the trainer's own forward
// (backward = false).
struct Eval {
  double accuracy = 0, loss = 0;
};

Eval evaluate(np::TrainModel& m, const std::vector<np::ContrastiveBatch>& batches) {
  Eval e;
  for (const np::ContrastiveBatch& b : batches) {
    np::ContrastiveInfo info;
    REQUIRE(m.contrastive_forward_backward(
                 np::ContrastiveBatchView{b.N, b.Tq, b.Tt, b.query_ids.data(), b.tool_ids.data()}, 1.0, &info, false)
                .ok());
    e.accuracy += info.accuracy / static_cast<double>(batches.size());
    e.loss += info.loss / static_cast<double>(batches.size());
  }
  return e;
}

}  // namespace

TEST_CASE("contrastive loss alone learns to retrieve the fixture's tools", "[contrastive][learn]") {
  const std::string path = std::string(NP_SOURCE_DIR) + "/tests/fixtures/data/tiny_tools.jsonl";
  auto examples = np::read_examples(path, np::ReaderOptions(), nullptr);
  REQUIRE(examples.ok());
  auto tok = np::synthetic_tokenizer(512);
  REQUIRE(tok.ok());
  np::ModelConfig c = np::ModelConfig::small();
  c.max_enc_len = 256;

  std::vector<np::ContrastivePair> pairs;
  for (const np::Example& e : examples.value()) {
    np::ContrastivePair p;
    bool has = false;
    REQUIRE(np::make_contrastive_pair(tok.value(), c, e, &p, &has).ok());
    if (has) pairs.push_back(std::move(p));
  }
  std::vector<np::ContrastiveBatch> batches;
  int64_t skipped = 0;
  REQUIRE(np::make_contrastive_batches(tok.value(), c, examples.value(), 4, &batches, &skipped).ok());
  REQUIRE(batches.size() >= 5u);
  std::set<std::string> distinct;
  for (const auto& p : pairs) distinct.insert(p.tool_text);
  CHECK(distinct.size() == 4u);  // set_timer, get_weather, send_message, set_lights
  // Chance: 1/N in a batch of N; with all four tools, 1/4.
  double chance = 0;
  for (const auto& b : batches) chance += 1.0 / b.N / static_cast<double>(batches.size());

  auto mr = np::TrainModel::create(c, 17);
  REQUIRE(mr.ok());
  np::TrainModel& m = mr.value();
  const Eval before = evaluate(m, batches);

  np::OptimConfig oc;
  oc.muon.enabled = false;
  oc.adamw.lr = 3e-3;
  oc.adamw.weight_decay = 0.0;
  oc.schedule.kind = np::ScheduleKind::kConstant;
  oc.schedule.warmup_ratio = 0;
  oc.schedule.decay_ratio = 0;
  auto opt = np::Optimizer::create(m.params(), oc);
  REQUIRE(opt.ok());
  const int steps = 200;
  for (int s = 0; s < steps; ++s) {
    const np::ContrastiveBatch& b = batches[static_cast<size_t>(s) % batches.size()];
    m.params().zero_grad();
    np::ContrastiveInfo info;
    REQUIRE(m.contrastive_forward_backward(
                np::ContrastiveBatchView{b.N, b.Tq, b.Tt, b.query_ids.data(), b.tool_ids.data()}, 1.0, &info)
                .ok());
    REQUIRE(opt.value().step(m.params()).ok());
    m.clamp_log_temp();
  }
  const Eval after = evaluate(m, batches);
  if (report()) {
    std::printf("[contrastive] batch sizes:");
    for (const auto& b : batches) std::printf(" %d", b.N);
    std::printf("\n");
  }
  if (report())
    std::printf("[contrastive] learning: %zu batches (%lld examples skipped), chance %.3f; in-batch accuracy %.3f -> "
                "%.3f, mean loss %.4f -> %.4f after %d steps\n",
                batches.size(), static_cast<long long>(skipped), chance, before.accuracy, after.accuracy, before.loss,
                after.loss, steps);
  INFO("chance " << chance << ", in-batch accuracy " << before.accuracy << " -> " << after.accuracy << ", loss "
                 << before.loss << " -> " << after.loss);
  CHECK(after.accuracy >= 0.9);
  CHECK(after.accuracy >= chance + 0.4);
  CHECK(after.loss < 0.5 * before.loss);
}
