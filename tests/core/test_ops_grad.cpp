// test_ops_grad.cpp — every backward kernel of core/src/ops/kernels.h against central finite
// differences, in double, on tiny shapes: loss L = sum(out ⊙ R) for a fixed random R, so
// dout = R. For each op: every analytic gradient (inputs and weights) vs the finite
// difference, backward accumulates (+=) instead of overwriting, and the float
// instantiation's forward (and backward) agree with the double one.
// Set NP_GRAD_REPORT=1 to print the max |analytic - fd| of every checked tensor.
#include <catch2/catch.hpp>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <sstream>
#include <string>
#include <vector>

#include "np/model.h"
#include "ops/attention_rows.h"
#include "ops/kernels.h"
#include "ops/ops.h"
#include "util/rng.h"

using Vec = std::vector<double>;
using VecF = std::vector<float>;

namespace {

// Central-difference step: truncation error ~eps^2 * f''' ~1e-12, rounding ~1e-16 * |L| / eps.
constexpr double kFdEps = 1e-6;
// Analytic vs finite difference in double: both error terms above stay far below this for
// O(1)-valued tiny problems (measured <= 5.2e-9), while a wrong term is O(1e-2) or more.
constexpr double kFdAtol = 1e-6, kFdRtol = 1e-6;
// Float vs double forward: float's 2^-24 rounding grown over sums of a few dozen terms,
// relative to the tensor's largest magnitude.
constexpr double kFloatFwdRtol = 1e-5;
// Float vs double backward: one more chain of float sums (and cached float rstd/probs).
constexpr double kFloatBwdRtol = 1e-4;
// Second backward into the same buffers must give 2x the first (+= semantics), up to the
// rounding of adding partial sums onto a non-zero start.
constexpr double kAccumRtol = 1e-12;

bool report_enabled() { return std::getenv("NP_GRAD_REPORT") != nullptr; }

Vec randn(np::Rng& rng, size_t n, double scale = 1.0) {
  Vec v(n);
  for (double& x : v) x = scale * rng.normal();
  return v;
}

VecF to_float(const Vec& v) { return VecF(v.begin(), v.end()); }

double dot(const Vec& a, const Vec& b) {
  double s = 0.0;
  for (size_t i = 0; i < a.size(); ++i) s += a[i] * b[i];
  return s;
}

// Compares analytic[i] with (L(x+eps) - L(x-eps)) / 2eps for every element of x. `kinks`,
// if given, returns the sign pattern of the op's non-smooth pre-activations as left by the
// last loss() call; a point whose pattern differs between x+eps and x-eps straddles a ReLU
// kink and is skipped. Returns the max difference over the checked points.
double check_grad(const std::string& name, Vec& x, const Vec& analytic, const std::function<double()>& loss,
                  const std::function<std::vector<uint8_t>()>& kinks = nullptr) {
  REQUIRE(x.size() == analytic.size());
  double max_err = 0.0, bad_a = 0.0, bad_fd = 0.0;
  long first_bad = -1;
  int skipped = 0;
  for (size_t i = 0; i < x.size(); ++i) {
    const double x0 = x[i];
    x[i] = x0 + kFdEps;
    const double lp = loss();
    std::vector<uint8_t> sp = kinks ? kinks() : std::vector<uint8_t>();
    x[i] = x0 - kFdEps;
    const double lm = loss();
    std::vector<uint8_t> sm = kinks ? kinks() : std::vector<uint8_t>();
    x[i] = x0;
    if (i + 1 == x.size()) loss();  // leave the caches as they are at x
    if (sp != sm) {
      ++skipped;
      continue;
    }
    const double fd = (lp - lm) / (2.0 * kFdEps);
    const double err = std::fabs(analytic[i] - fd);
    max_err = std::max(max_err, err);
    if (first_bad < 0 && !(err <= kFdAtol + kFdRtol * std::fabs(fd))) {
      first_bad = static_cast<long>(i);
      bad_a = analytic[i];
      bad_fd = fd;
    }
  }
  if (report_enabled())
    std::printf("[grad] %-28s max|analytic-fd| %.3g over %zu points (%d skipped at kinks)\n", name.c_str(), max_err,
                x.size() - skipped, skipped);
  INFO(name << ": max |analytic - fd| = " << max_err << "; first failing index " << first_bad << " (analytic "
            << bad_a << ", fd " << bad_fd << "); " << skipped << " of " << x.size() << " points skipped at kinks");
  CHECK(first_bad < 0);
  // A check that skips most points checks nothing.
  CHECK(skipped * 4 <= static_cast<int>(x.size()));
  return max_err;
}

// |got - want| <= rtol * max|want| elementwise (float vs double; rtol relative to the tensor's scale).
template <class G>
void check_close(const std::string& name, const G& got, const Vec& want, double rtol) {
  REQUIRE(got.size() == want.size());
  double scale = 0.0;
  for (double w : want) scale = std::max(scale, std::fabs(w));
  const double tol = rtol * std::max(scale, 1e-30);
  double max_err = 0.0;
  long first_bad = -1;
  for (size_t i = 0; i < want.size(); ++i) {
    const double err = std::fabs(static_cast<double>(got[i]) - want[i]);
    max_err = std::max(max_err, err);
    if (first_bad < 0 && !(err <= tol)) first_bad = static_cast<long>(i);
  }
  INFO(name << ": max diff " << max_err << " (tolerance " << tol << "), first failing index " << first_bad);
  CHECK(first_bad < 0);
}

// Runs `backward` a second time over gradients that already hold one backward's result:
// each must double (the kernels add into their gradients). Restores the first result.
void check_accumulates(const std::string& name, std::initializer_list<Vec*> grads,
                       const std::function<void()>& backward) {
  std::vector<Vec> first;
  for (Vec* g : grads) first.push_back(*g);
  backward();
  size_t k = 0;
  for (Vec* g : grads) {
    const Vec& g1 = first[k++];
    Vec want(g1.size());
    for (size_t i = 0; i < g1.size(); ++i) want[i] = 2.0 * g1[i];
    check_close(name + " accumulates (grad " + std::to_string(k - 1) + ")", *g, want, kAccumRtol);
    *g = g1;
  }
}

std::vector<uint8_t> positive_pattern(const Vec& a, const Vec& b = Vec()) {
  std::vector<uint8_t> s;
  for (double x : a) s.push_back(x > 0);
  for (double x : b) s.push_back(x > 0);
  return s;
}

}  // namespace

TEST_CASE("linear backward matches finite differences", "[linear][grad]") {
  const int T = 3, R = 5, C = 19;  // C > 16 runs the dot's 16 accumulators and its tail
  np::Rng rng(11);
  Vec inp = randn(rng, T * C), W = randn(rng, R * C, 0.3), bias = randn(rng, R), Rm = randn(rng, T * R);
  Vec out(T * R), dinp(T * C), dW(R * C), dbias(R);
  auto loss = [&] {
    np::linear_forward(out.data(), inp.data(), W.data(), bias.data(), T, R, C);
    return dot(out, Rm);
  };
  auto backward = [&] {
    np::linear_backward(dinp.data(), dW.data(), dbias.data(), Rm.data(), inp.data(), W.data(), T, R, C);
  };
  loss();
  backward();
  check_grad("linear dinp", inp, dinp, loss);
  check_grad("linear dW", W, dW, loss);
  check_grad("linear dbias", bias, dbias, loss);
  check_accumulates("linear", {&dinp, &dW, &dbias}, backward);

  // float instantiation, and the Matrix-based inference API, which must give the same bits
  loss();
  VecF inpf = to_float(inp), Wf = to_float(W), bf = to_float(bias), Rf = to_float(Rm);
  VecF outf(T * R), out_nobias(T * R), out_api(T * R);
  np::linear_forward(outf.data(), inpf.data(), Wf.data(), bf.data(), T, R, C);
  check_close("linear float forward", outf, out, kFloatFwdRtol);
  np::linear_forward(out_nobias.data(), inpf.data(), Wf.data(), static_cast<const float*>(nullptr), T, R, C);
  np::Matrix M;
  M.rows = R;
  M.cols = C;
  M.f32 = Wf.data();
  np::linear_forward(out_api.data(), inpf.data(), M, T);
  CHECK(out_api == out_nobias);
  VecF dinpf(T * C), dWf(R * C), dbf(R);
  np::linear_backward(dinpf.data(), dWf.data(), dbf.data(), Rf.data(), inpf.data(), Wf.data(), T, R, C);
  check_close("linear float dinp", dinpf, dinp, kFloatBwdRtol);
  check_close("linear float dW", dWf, dW, kFloatBwdRtol);
}

TEST_CASE("zcrmsnorm backward matches finite differences", "[norm][grad]") {
  struct Case {
    const char* name;
    int rows, C;
  };
  // per token (rows = T, C = d) and QK-norm (rows = T*NH, C = HS, one g for every head)
  for (Case cs : {Case{"zcrmsnorm per token", 3, 8}, Case{"zcrmsnorm per head", 3 * 2, 4}}) {
    INFO(cs.name);
    const int rows = cs.rows, C = cs.C;
    const double eps = 1e-6;
    np::Rng rng(21 + C);
    Vec inp = randn(rng, rows * C), g = randn(rng, C, 0.3), Rm = randn(rng, rows * C);
    Vec out(rows * C), rstd(rows), dinp(rows * C), dg(C);
    auto loss = [&] {
      np::zcrmsnorm_forward_train(out.data(), rstd.data(), inp.data(), g.data(), rows, C, eps);
      return dot(out, Rm);
    };
    auto backward = [&] {
      np::zcrmsnorm_backward(dinp.data(), dg.data(), Rm.data(), inp.data(), g.data(), rstd.data(), rows, C);
    };
    loss();
    backward();
    check_grad(std::string(cs.name) + " dinp", inp, dinp, loss);
    check_grad(std::string(cs.name) + " dg", g, dg, loss);
    check_accumulates(cs.name, {&dinp, &dg}, backward);

    loss();
    VecF inpf = to_float(inp), gf = to_float(g), Rf = to_float(Rm), outf(rows * C), rstdf(rows), out_api(rows * C);
    np::zcrmsnorm_forward_train(outf.data(), rstdf.data(), inpf.data(), gf.data(), rows, C, eps);
    check_close(std::string(cs.name) + " float forward", outf, out, kFloatFwdRtol);
    np::zcrmsnorm_forward(out_api.data(), inpf.data(), gf.data(), rows, C, static_cast<float>(eps));
    CHECK(out_api == outf);
    VecF dinpf(rows * C), dgf(C);
    np::zcrmsnorm_backward(dinpf.data(), dgf.data(), Rf.data(), inpf.data(), gf.data(), rstdf.data(), rows, C);
    check_close(std::string(cs.name) + " float dinp", dinpf, dinp, kFloatBwdRtol);
    check_close(std::string(cs.name) + " float dg", dgf, dg, kFloatBwdRtol);
  }
}

TEST_CASE("rope backward matches finite differences", "[rope][grad]") {
  const int T = 3, NH = 2, HS = 8, pos0 = 2;  // positions 2..4: every angle non-trivial
  np::RopeTable rope;
  rope.init(8, HS, 10.0f);
  np::Rng rng(31);
  Vec x = randn(rng, T * NH * HS), Rm = randn(rng, T * NH * HS);
  auto loss = [&] {
    Vec y = x;
    np::rope_forward(y.data(), rope.cos.data(), rope.sin.data(), T, NH, HS, pos0);
    return dot(y, Rm);
  };
  Vec dx = Rm;
  np::rope_backward(dx.data(), rope.cos.data(), rope.sin.data(), T, NH, HS, pos0);
  check_grad("rope dx", x, dx, loss);

  Vec y = x;
  np::rope_forward(y.data(), rope.cos.data(), rope.sin.data(), T, NH, HS, pos0);
  VecF yf = to_float(x), yapi = to_float(x);
  np::rope_forward(yf.data(), rope.cos.data(), rope.sin.data(), T, NH, HS, pos0);
  check_close("rope float forward", yf, y, kFloatFwdRtol);
  np::rope_forward(yapi.data(), rope, T, NH, HS, pos0);
  CHECK(yapi == yf);
}

TEST_CASE("attention backward matches finite differences", "[attention][grad]") {
  struct Case {
    const char* name;
    int Tq, Tk, NH, NKV, HS;
    std::vector<uint8_t> key_valid;  // empty: no key mask
    int causal_offset;
    int block_prefix = 0;            // the catalog mask's tool block
  };
  const std::vector<Case> cases = {
      {"attention self GQA 2:1", 3, 3, 2, 1, 4, {}, -1},
      {"attention causal", 3, 3, 2, 1, 4, {}, 0},
      {"attention causal offset 2", 2, 4, 2, 1, 4, {}, 2},  // a decoder chunk after 2 cached tokens
      {"attention masked keys GQA 4:2", 4, 4, 4, 2, 4, {1, 0, 1, 1}, -1},
      {"attention cross Tq!=Tk", 2, 5, 2, 2, 4, {1, 1, 0, 1, 0}, -1},
      {"attention causal+masked", 3, 3, 2, 1, 4, {1, 1, 0}, 0},
      {"attention all keys masked", 2, 3, 2, 1, 4, {0, 0, 0}, -1},
      {"attention catalog block 3 of 5", 5, 5, 2, 1, 4, {}, -1, 3},
      {"attention catalog block + masked key", 5, 5, 4, 2, 4, {1, 1, 0, 1, 1}, -1, 2},
  };
  for (const Case& cs : cases) {
    INFO(cs.name);
    const int Tq = cs.Tq, Tk = cs.Tk, NH = cs.NH, NKV = cs.NKV, HS = cs.HS;
    const uint8_t* valid = cs.key_valid.empty() ? nullptr : cs.key_valid.data();
    np::Rng rng(41 + Tq * 7 + Tk + NH);
    Vec q = randn(rng, Tq * NH * HS), k = randn(rng, Tk * NKV * HS), v = randn(rng, Tk * NKV * HS);
    Vec Rm = randn(rng, Tq * NH * HS);
    Vec out(Tq * NH * HS), att(NH * Tq * Tk), dq(q.size()), dk(k.size()), dv(v.size());
    auto loss = [&] {
      np::attention_forward_train(out.data(), att.data(), q.data(), k.data(), v.data(), Tq, Tk, NH, NKV, HS, valid,
                                  cs.causal_offset, cs.block_prefix);
      return dot(out, Rm);
    };
    auto backward = [&] {
      np::attention_backward(dq.data(), dk.data(), dv.data(), Rm.data(), att.data(), q.data(), k.data(), v.data(),
                             Tq, Tk, NH, NKV, HS, valid, cs.causal_offset, cs.block_prefix);
    };
    loss();
    backward();
    check_grad(std::string(cs.name) + " dq", q, dq, loss);
    check_grad(std::string(cs.name) + " dk", k, dk, loss);
    check_grad(std::string(cs.name) + " dv", v, dv, loss);
    // a masked key gets exactly zero gradient, unless no key at all is visible (uniform average)
    bool any_visible = false;
    for (int j = 0; j < Tk; ++j) any_visible |= !valid || valid[j];
    if (valid && any_visible)
      for (int j = 0; j < Tk; ++j)
        if (!valid[j])
          for (int c = 0; c < NKV * HS; ++c) {
            CHECK(dk[j * NKV * HS + c] == 0.0);
            CHECK(dv[j * NKV * HS + c] == 0.0);
          }
    // the catalog mask: a block row's output does not depend on any key after the block
    if (cs.block_prefix > 0) {
      const Vec before(out.begin(), out.begin() + cs.block_prefix * NH * HS);
      for (size_t i = static_cast<size_t>(cs.block_prefix) * NKV * HS; i < k.size(); ++i) k[i] += 0.5, v[i] -= 0.5;
      loss();
      CHECK(Vec(out.begin(), out.begin() + cs.block_prefix * NH * HS) == before);
      for (size_t i = static_cast<size_t>(cs.block_prefix) * NKV * HS; i < k.size(); ++i) k[i] -= 0.5, v[i] += 0.5;
      loss();
    }
    check_accumulates(cs.name, {&dq, &dk, &dv}, backward);

    loss();
    VecF qf = to_float(q), kf = to_float(k), vf = to_float(v), Rf = to_float(Rm);
    VecF outf(out.size()), attf(att.size()), out_api(out.size());
    np::attention_forward_train(outf.data(), attf.data(), qf.data(), kf.data(), vf.data(), Tq, Tk, NH, NKV, HS, valid,
                                cs.causal_offset, cs.block_prefix);
    check_close(std::string(cs.name) + " float forward", outf, out, kFloatFwdRtol);
    check_close(std::string(cs.name) + " float probabilities", attf, att, kFloatFwdRtol);
    np::attention_forward(out_api.data(), qf.data(), kf.data(), vf.data(), Tq, Tk, NH, NKV, HS, valid,
                          cs.causal_offset, cs.block_prefix);
    if (Tq <= np::kAttentionRowsMaxTq && np::attention_rows_supported(HS))
      check_close(std::string(cs.name) + " inference forward (few rows)", out_api, out, kFloatFwdRtol);
    else if (np::attention_int8_scores(HS))  // 128-bit builds: integer scores (ops.h)
      check_close(std::string(cs.name) + " inference forward (integer scores)", out_api, out, 5e-2);
    else
      CHECK(out_api == outf);  // the inference API is the training forward
    VecF dqf(q.size()), dkf(k.size()), dvf(v.size());
    np::attention_backward(dqf.data(), dkf.data(), dvf.data(), Rf.data(), attf.data(), qf.data(), kf.data(), vf.data(),
                           Tq, Tk, NH, NKV, HS, valid, cs.causal_offset, cs.block_prefix);
    check_close(std::string(cs.name) + " float dq", dqf, dq, kFloatBwdRtol);
    check_close(std::string(cs.name) + " float dk", dkf, dk, kFloatBwdRtol);
    check_close(std::string(cs.name) + " float dv", dvf, dv, kFloatBwdRtol);
  }
}

TEST_CASE("gated residual backward matches finite differences", "[residual][grad]") {
  const int T = 3, C = 8;
  np::Rng rng(51);
  Vec x = randn(rng, T * C), y = randn(rng, T * C), a = {0.7}, Rm = randn(rng, T * C);
  auto sigmoid = [](double z) { return 1.0 / (1.0 + std::exp(-z)); };
  Vec out;
  auto loss = [&] {
    out = x;
    np::gated_residual_forward(out.data(), y.data(), sigmoid(a[0]), T, C);
    return dot(out, Rm);
  };
  Vec dx(T * C), dy(T * C), da(1);
  auto backward = [&] {
    np::gated_residual_backward(dx.data(), dy.data(), da.data(), Rm.data(), y.data(), sigmoid(a[0]), T, C);
  };
  loss();
  backward();
  check_grad("residual dx", x, dx, loss);
  check_grad("residual dy", y, dy, loss);
  check_grad("residual da", a, da, loss);
  check_accumulates("residual", {&dx, &dy, &da}, backward);

  loss();
  VecF outf = to_float(x), yf = to_float(y);
  np::gated_residual_forward(outf.data(), yf.data(), static_cast<float>(sigmoid(a[0])), T, C);
  check_close("residual float forward", outf, out, kFloatFwdRtol);
}

TEST_CASE("embedding and tied logits backward match finite differences", "[embedding][grad]") {
  // L = sum(embed(ids) ⊙ R1) + sum((h E^T) ⊙ R2): dE gathers from the lookup and the tied output.
  const int V = 6, C = 8, T = 4, Th = 3;
  const std::vector<int32_t> ids = {2, 5, 2, 0};  // a repeated id adds up
  np::Rng rng(61);
  Vec E = randn(rng, V * C), h = randn(rng, Th * C), R1 = randn(rng, T * C), R2 = randn(rng, Th * V);
  Vec emb(T * C), logits(Th * V);
  auto loss = [&] {
    np::embedding_forward(emb.data(), ids.data(), E.data(), T, C);
    np::linear_forward(logits.data(), h.data(), E.data(), static_cast<const double*>(nullptr), Th, V, C);
    return dot(emb, R1) + dot(logits, R2);
  };
  Vec dE(V * C), dh(Th * C);
  auto backward = [&] {
    np::embedding_backward(dE.data(), R1.data(), ids.data(), T, C);
    np::linear_backward(dh.data(), dE.data(), static_cast<double*>(nullptr), R2.data(), h.data(), E.data(), Th, V, C);
  };
  loss();
  backward();
  check_grad("embedding+tied dE", E, dE, loss);
  check_grad("tied logits dh", h, dh, loss);
  // ids 1, 3, 4 are not looked up: only the tied logits reach their rows
  Vec dE_tied(V * C);
  np::linear_backward(static_cast<double*>(nullptr), dE_tied.data(), static_cast<double*>(nullptr), R2.data(),
                      h.data(), E.data(), Th, V, C);
  for (int id : {1, 3, 4})
    for (int c = 0; c < C; ++c) CHECK(dE[id * C + c] == dE_tied[id * C + c]);
  check_accumulates("embedding+tied", {&dE, &dh}, backward);

  loss();
  VecF Ef = to_float(E), embf(T * C);
  np::embedding_forward(embf.data(), ids.data(), Ef.data(), T, C);
  check_close("embedding float forward", embf, emb, kFloatFwdRtol);
}

TEST_CASE("ffn backward matches finite differences", "[ffn][grad]") {
  const int T = 3, C = 8, DFF = 12;
  for (np::FfnActivation act : {np::FfnActivation::kDRelu, np::FfnActivation::kSwiGlu, np::FfnActivation::kGeGlu}) {
    const std::string name = std::string("ffn ") + np::ffn_activation_name(act);
    INFO(name);
    np::Rng rng(71 + static_cast<int>(act));
    Vec h = randn(rng, T * C), Wg = randn(rng, DFF * C, 0.4), Wu = randn(rng, DFF * C, 0.4),
        Wd = randn(rng, C * DFF, 0.3), Rm = randn(rng, T * C);
    Vec out(T * C), pre_g(T * DFF), pre_u(T * DFF), a(T * DFF);
    auto loss = [&] {
      np::ffn_forward_train(out.data(), pre_g.data(), pre_u.data(), a.data(), h.data(), Wg.data(), Wu.data(),
                            Wd.data(), T, C, DFF, act);
      return dot(out, Rm);
    };
    std::function<std::vector<uint8_t>()> kinks;
    if (act == np::FfnActivation::kDRelu) kinks = [&] { return positive_pattern(pre_g, pre_u); };
    Vec dh(T * C), dWg(DFF * C), dWu(DFF * C), dWd(C * DFF);
    auto backward = [&] {
      np::ffn_backward(dh.data(), dWg.data(), dWu.data(), dWd.data(), Rm.data(), pre_g.data(), pre_u.data(), a.data(),
                       h.data(), Wg.data(), Wu.data(), Wd.data(), T, C, DFF, act);
    };
    loss();
    backward();
    check_grad(name + " dh", h, dh, loss, kinks);
    check_grad(name + " dWg", Wg, dWg, loss, kinks);
    check_grad(name + " dWu", Wu, dWu, loss, kinks);
    check_grad(name + " dWd", Wd, dWd, loss, kinks);
    check_accumulates(name, {&dh, &dWg, &dWu, &dWd}, backward);

    loss();
    VecF hf = to_float(h), Wgf = to_float(Wg), Wuf = to_float(Wu), Wdf = to_float(Wd), Rf = to_float(Rm);
    VecF outf(T * C), gf(T * DFF), uf(T * DFF), af(T * DFF), out_api(T * C);
    np::ffn_forward_train(outf.data(), gf.data(), uf.data(), af.data(), hf.data(), Wgf.data(), Wuf.data(), Wdf.data(),
                          T, C, DFF, act);
    check_close(name + " float forward", outf, out, kFloatFwdRtol);
    np::FeedForwardWeights w;
    for (auto* m : {&w.w_gate, &w.w_up}) {
      m->rows = DFF;
      m->cols = C;
    }
    w.w_down.rows = C;
    w.w_down.cols = DFF;
    w.w_gate.f32 = Wgf.data();
    w.w_up.f32 = Wuf.data();
    w.w_down.f32 = Wdf.data();
    np::ffn_forward(out_api.data(), hf.data(), w, act, T, C, DFF);
    CHECK(out_api == outf);
    VecF dhf(T * C), dWgf(DFF * C), dWuf(DFF * C), dWdf(C * DFF);
    np::ffn_backward(dhf.data(), dWgf.data(), dWuf.data(), dWdf.data(), Rf.data(), gf.data(), uf.data(), af.data(),
                     hf.data(), Wgf.data(), Wuf.data(), Wdf.data(), T, C, DFF, act);
    check_close(name + " float dh", dhf, dh, kFloatBwdRtol);
    check_close(name + " float dWg", dWgf, dWg, kFloatBwdRtol);
    check_close(name + " float dWd", dWdf, dWd, kFloatBwdRtol);
  }
}

TEST_CASE("retrieval head backward matches finite differences", "[retrieval][grad]") {
  const int T = 5, C = 8, H = 4, OC = 3;
  struct Case {
    const char* name;
    std::vector<uint8_t> valid;
  };
  for (const Case& cs : {Case{"retrieval padded", {1, 1, 0, 1, 0}}, Case{"retrieval all pad", {0, 0, 0, 0, 0}}}) {
    INFO(cs.name);
    np::Rng rng(81);
    Vec enc = randn(rng, T * C), W1 = randn(rng, H * C, 0.5), W2 = randn(rng, OC * H, 0.5);
    Vec b1 = {0.4, -0.3, 0.6, 0.2};  // all pad: hid = relu(b1), three live units
    Vec Rm = randn(rng, OC);
    Vec out(OC), pooled(C), hid(H), rnorm(1);
    auto loss = [&] {
      np::retrieval_forward_train(out.data(), pooled.data(), hid.data(), rnorm.data(), enc.data(), cs.valid.data(),
                                  W1.data(), b1.data(), W2.data(), T, C, H, OC);
      return dot(out, Rm);
    };
    auto kinks = [&] { return positive_pattern(hid); };
    Vec denc(T * C), dW1(H * C), db1(H), dW2(OC * H);
    auto backward = [&] {
      np::retrieval_backward(denc.data(), dW1.data(), db1.data(), dW2.data(), Rm.data(), out.data(), pooled.data(),
                             hid.data(), rnorm.data(), cs.valid.data(), W1.data(), W2.data(), T, C, H, OC);
    };
    loss();
    // the check needs some live hidden units to mean anything
    int live = 0;
    for (double x : hid) live += x > 0;
    REQUIRE(live >= 2);
    backward();
    check_grad(std::string(cs.name) + " denc", enc, denc, loss, kinks);
    check_grad(std::string(cs.name) + " dW1", W1, dW1, loss, kinks);
    check_grad(std::string(cs.name) + " db1", b1, db1, loss, kinks);
    check_grad(std::string(cs.name) + " dW2", W2, dW2, loss, kinks);
    for (int t = 0; t < T; ++t)  // padding never reaches the pooled vector
      if (!cs.valid[t])
        for (int c = 0; c < C; ++c) CHECK(denc[t * C + c] == 0.0);
    check_accumulates(cs.name, {&denc, &dW1, &db1, &dW2}, backward);

    loss();
    VecF encf = to_float(enc), W1f = to_float(W1), b1f = to_float(b1), W2f = to_float(W2);
    VecF outf(OC), pf(C), hf(H), rf(1);
    np::retrieval_forward_train(outf.data(), pf.data(), hf.data(), rf.data(), encf.data(), cs.valid.data(), W1f.data(),
                                b1f.data(), W2f.data(), T, C, H, OC);
    check_close(std::string(cs.name) + " float forward", outf, out, kFloatFwdRtol);
  }
}

TEST_CASE("cross-entropy backward matches finite differences", "[crossentropy][grad]") {
  const int T = 4, V = 7;
  const double z_coef = 0.1;  // large enough that a wrong z-loss term shows
  const std::vector<int32_t> targets = {3, -1, 0, 6};  // -1: ignored
  np::Rng rng(91);
  Vec logits = randn(rng, T * V, 2.0), weights = {1.0, 2.0, 1.5, 3.0}, Rm = randn(rng, T);
  Vec losses(T), lse(T), dlogits(T * V);
  auto loss = [&] {
    np::crossentropy_forward(losses.data(), lse.data(), logits.data(), targets.data(), weights.data(), T, V, z_coef);
    return dot(losses, Rm);
  };
  auto backward = [&] {
    np::crossentropy_backward(dlogits.data(), Rm.data(), logits.data(), lse.data(), targets.data(), weights.data(), T,
                              V, z_coef);
  };
  loss();
  // loss_t = w_t * (lse_t - logit_target + z * lse_t^2), computed here independently
  for (int t = 0; t < T; ++t) {
    double m = 0.0;
    for (int v = 0; v < V; ++v) m += std::exp(logits[t * V + v]);
    const double l = std::log(m);
    const double want = targets[t] < 0 ? 0.0 : weights[t] * (l - logits[t * V + targets[t]] + z_coef * l * l);
    CHECK(losses[t] == Approx(want).epsilon(1e-12));
  }
  backward();
  check_grad("crossentropy dlogits", logits, dlogits, loss);
  for (int v = 0; v < V; ++v) CHECK(dlogits[1 * V + v] == 0.0);  // the ignored token
  check_accumulates("crossentropy", {&dlogits}, backward);

  // weights null = all ones
  Vec losses1(T), lse1(T);
  np::crossentropy_forward(losses1.data(), lse1.data(), logits.data(), targets.data(), static_cast<const double*>(nullptr),
                           T, V, z_coef);
  CHECK(losses1[3] * weights[3] == Approx(losses[3]).epsilon(1e-12));

  loss();
  VecF logitsf = to_float(logits), wf = to_float(weights), Rf = to_float(Rm), lf(T), lsef(T), dlf(T * V);
  np::crossentropy_forward(lf.data(), lsef.data(), logitsf.data(), targets.data(), wf.data(), T, V, z_coef);
  check_close("crossentropy float forward", lf, losses, kFloatFwdRtol);
  np::crossentropy_backward(dlf.data(), Rf.data(), logitsf.data(), lsef.data(), targets.data(), wf.data(), T, V, z_coef);
  check_close("crossentropy float dlogits", dlf, dlogits, kFloatBwdRtol);
}

TEST_CASE("the finite-difference check skips points that straddle a ReLU kink", "[grad]") {
  // L = sum(relu(x) ⊙ R): at x = 0 the central difference gives R/2 whatever the analytic
  // gradient says, so that point is skipped; the others are checked.
  Vec x = {0.0, 1.0, 2.0, -3.0, 0.5}, Rm = {1.0, -2.0, 0.5, 4.0, 3.0}, out(x.size());
  auto loss = [&] {
    for (size_t i = 0; i < x.size(); ++i) out[i] = x[i] > 0 ? x[i] : 0.0;
    return dot(out, Rm);
  };
  Vec dx(x.size());
  for (size_t i = 0; i < x.size(); ++i) dx[i] = x[i] > 0 ? Rm[i] : 0.0;
  check_grad("relu at a kink", x, dx, loss, [&] { return positive_pattern(x); });
}
