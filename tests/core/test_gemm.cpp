// test_gemm.cpp — the packed GEMM (ops/gemm.h) and the float kernels that run on it
// (linear, attention) against the double reference loops of kernels.h, at awkward sizes so
// every edge tile, block boundary (K > kKc = 256, M > kMc = 128, N > kNc = 512) and tail
// runs, at 1 and 2 threads; bit-identical results across repeats and thread counts; and the
// bf16 path (where the CPU has it): exact fp32 accumulation of bf16-rounded inputs, and a
// whole small model's loss and gradients within a few percent of fp32; and the analytic
// FLOP count of np/perf.h.
#include <catch2/catch.hpp>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <string>
#include <vector>

#include "np/model.h"
#include "np/perf.h"
#include "np/threads.h"
#include "np/trainer.h"
#include "ops/gemm.h"
#include "ops/kernels.h"
#include "util/rng.h"

namespace {

using VecF = std::vector<float>;
using VecD = std::vector<double>;

// fp32 GEMM vs double: each output is a sum of K products, rounded in blocks; its error is
// bounded by ~K * 2^-24 times sum_k |a_ik b_kj| in the worst case and measures far lower.
// 2e-6 of that sum passes K <= 600 with margin, while a wrong or missing term is O(1).
constexpr double kF32Rtol = 2e-6;
// bf16 inputs, fp32 accumulation: products of two bf16 values are exact in fp32, so against
// a double GEMM of the same bf16-rounded inputs only the fp32 sums differ (as above).
constexpr double kBf16ExactRtol = 2e-6;
// bf16 vs unrounded inputs: each input carries up to 2^-9 relative rounding, so a product
// up to ~2^-8; relative to sum |a||b| the error stays below 2^-8 ~ 3.9e-3.
constexpr double kBf16Rtol = 4e-3;

VecD randn(np::Rng& rng, size_t n) {
  VecD v(n);
  for (double& x : v) x = rng.normal();
  return v;
}
VecF to_f(const VecD& v) { return VecF(v.begin(), v.end()); }

// Reference: C (M, N) = [C0 +] A B with A(i,k) = a[i*ars + k*acs], B(k,j) = b[k*brs + j*bcs],
// and the bound sum_k |A(i,k) B(k,j)| per element.
void ref_gemm(int M, int N, int K, const VecD& a, int64_t ars, int64_t acs, const VecD& b, int64_t brs,
              int64_t bcs, VecD* c, VecD* bound) {
  for (int i = 0; i < M; ++i)
    for (int j = 0; j < N; ++j) {
      double s = 0, m = 0;
      for (int k = 0; k < K; ++k) {
        const double p = a[i * ars + k * acs] * b[k * brs + j * bcs];
        s += p;
        m += std::fabs(p);
      }
      (*c)[static_cast<size_t>(i) * N + j] += s;
      (*bound)[static_cast<size_t>(i) * N + j] = m;
    }
}

// |got - want| <= rtol * (scale + 1e-30), reporting the worst element and the first failure.
void check_close(const std::string& what, const VecF& got, const VecD& want, const VecD& scale, double rtol) {
  REQUIRE(got.size() == want.size());
  double worst = 0;
  long first_bad = -1;
  for (size_t i = 0; i < got.size(); ++i) {
    const double err = std::fabs(got[i] - want[i]) / (scale[i] + 1e-30);
    worst = std::max(worst, err);
    if (!(err <= rtol) && first_bad < 0) first_bad = static_cast<long>(i);
  }
  INFO(what << ": max relative error " << worst << ", first failing index " << first_bad);
  CHECK(first_bad < 0);
}

// One GEMM case through every layout of A and B (normal or transposed in memory).
void check_gemm_case(np::Rng& rng, int M, int N, int K, bool accumulate, np::MatmulPrecision prec, double rtol,
                     bool round_inputs) {
  for (int layout = 0; layout < 4; ++layout) {
    const bool at = layout & 1, bt = layout & 2;
    VecD a = randn(rng, static_cast<size_t>(M) * K), b = randn(rng, static_cast<size_t>(K) * N);
    if (round_inputs)
      for (auto* v : {&a, &b})
        for (double& x : *v) x = np::bf16_round(static_cast<float>(x));
    const int64_t ars = at ? 1 : K, acs = at ? M : 1;  // at: A stored as (K, M)
    const int64_t brs = bt ? 1 : N, bcs = bt ? K : 1;  // bt: B stored as (N, K)
    VecD c0 = accumulate ? randn(rng, static_cast<size_t>(M) * N) : VecD(static_cast<size_t>(M) * N, 0.0);
    VecD want = c0, bound(want.size());
    ref_gemm(M, N, K, a, ars, acs, b, brs, bcs, &want, &bound);
    for (size_t i = 0; i < bound.size(); ++i) bound[i] += std::fabs(c0[i]);
    const VecF af = to_f(a), bf = to_f(b);
    VecF c = accumulate ? to_f(c0) : VecF(want.size(), 12345.0f);  // overwrite must not read C
    np::gemm(M, N, K, {af.data(), ars, acs}, {bf.data(), brs, bcs}, c.data(), N, accumulate, prec);
    char name[160];
    std::snprintf(name, sizeof name, "gemm M=%d N=%d K=%d A%s B%s acc=%d threads=%d", M, N, K, at ? "^T" : "",
                  bt ? "^T" : "", accumulate ? 1 : 0, np::num_threads());
    check_close(name, c, want, bound, rtol);
  }
}

const int kOdd[] = {1, 3, 15, 17, 31, 33, 63, 65, 130};

}  // namespace

TEST_CASE("gemm fp32 matches the double reference at awkward sizes", "[gemm]") {
  np::Rng rng(11);
  for (int threads : {1, 2}) {
    np::set_num_threads(threads);
    for (int s : kOdd) {
      check_gemm_case(rng, s, 17, 33, false, np::MatmulPrecision::kF32, kF32Rtol, false);
      check_gemm_case(rng, 33, s, 65, true, np::MatmulPrecision::kF32, kF32Rtol, false);
      check_gemm_case(rng, 65, 31, s, s % 2 == 1, np::MatmulPrecision::kF32, kF32Rtol, false);
    }
    // Past every block size: K > 256 (two depth blocks), M > 128, N > 512.
    check_gemm_case(rng, 131, 530, 300, true, np::MatmulPrecision::kF32, kF32Rtol, false);
    check_gemm_case(rng, 160, 96, 513, false, np::MatmulPrecision::kF32, kF32Rtol, false);
  }
  np::set_num_threads(0);
}

TEST_CASE("gemm with K = 0 zeroes or keeps C", "[gemm]") {
  VecF c(6, 5.0f);
  np::gemm(2, 3, 0, {nullptr, 0, 1}, {nullptr, 3, 1}, c.data(), 3, true, np::MatmulPrecision::kF32);
  CHECK(c == VecF(6, 5.0f));
  np::gemm(2, 3, 0, {nullptr, 0, 1}, {nullptr, 3, 1}, c.data(), 3, false, np::MatmulPrecision::kF32);
  CHECK(c == VecF(6, 0.0f));
}

TEST_CASE("gemm is bit-identical across repeats and thread counts", "[gemm][threads]") {
  np::Rng rng(12);
  const int M = 161, N = 515, K = 300;
  const VecF a = to_f(randn(rng, static_cast<size_t>(M) * K)), b = to_f(randn(rng, static_cast<size_t>(N) * K));
  for (np::MatmulPrecision prec : {np::MatmulPrecision::kF32, np::MatmulPrecision::kBf16}) {
    std::vector<VecF> outs;
    for (int threads : {1, 2, 2, 3}) {
      np::set_num_threads(threads);
      VecF c(static_cast<size_t>(M) * N, 1.0f);
      np::gemm(M, N, K, {a.data(), K, 1}, {b.data(), 1, K}, c.data(), N, true, prec);
      outs.push_back(c);
    }
    for (size_t i = 1; i < outs.size(); ++i) CHECK(outs[i] == outs[0]);
  }
  np::set_num_threads(0);
}

TEST_CASE("bf16_round rounds to nearest even", "[gemm][bf16]") {
  CHECK(np::bf16_round(1.0f) == 1.0f);
  CHECK(np::bf16_round(1.0f + 1.0f / 256) == 1.0f);                // tie -> even
  CHECK(np::bf16_round(1.0f + 3.0f / 256) == 1.0f + 4.0f / 256);   // tie -> even (up)
  CHECK(np::bf16_round(1.0f + 1.0f / 128 + 1.0f / 1024) == 1.0f + 1.0f / 128);
  CHECK(np::bf16_round(-2.5f) == -2.5f);
}

TEST_CASE("gemm bf16: exact products, fp32 sums; within bf16 rounding of fp32", "[gemm][bf16]") {
  if (!np::matmul_bf16_supported()) {
    WARN("no AVX-512 BF16 in this build: kBf16 falls back to fp32, checked as fp32");
  }
  const double exact_tol = np::matmul_bf16_supported() ? kBf16ExactRtol : kF32Rtol;
  np::Rng rng(13);
  for (int threads : {1, 2}) {
    np::set_num_threads(threads);
    for (int s : {1, 3, 17, 33, 65, 130}) {
      check_gemm_case(rng, s, 33, 17, false, np::MatmulPrecision::kBf16, exact_tol, true);
      check_gemm_case(rng, 31, 65, s, true, np::MatmulPrecision::kBf16, exact_tol, true);
      check_gemm_case(rng, 17, s, 63, false, np::MatmulPrecision::kBf16, kBf16Rtol, false);
    }
    check_gemm_case(rng, 131, 530, 301, true, np::MatmulPrecision::kBf16, exact_tol, true);
  }
  np::set_num_threads(0);
}

TEST_CASE("bf16 path is really bf16 where supported (not silently fp32)", "[gemm][bf16]") {
  if (!np::matmul_bf16_supported()) return;
  // 1 + 2^-10 is not a bf16 value: fp32 keeps it, bf16 rounds it to 1.
  const float a = 1.0f + 1.0f / 1024, b = 1.0f;
  float c32 = 0, c16 = 0;
  np::gemm(1, 1, 1, {&a, 1, 1}, {&b, 1, 1}, &c32, 1, false, np::MatmulPrecision::kF32);
  np::gemm(1, 1, 1, {&a, 1, 1}, {&b, 1, 1}, &c16, 1, false, np::MatmulPrecision::kBf16);
  CHECK(c32 == a);
  CHECK(c16 == 1.0f);
}

TEST_CASE("linear float (GEMM) matches the double reference", "[gemm][linear]") {
  np::Rng rng(21);
  struct Shape {
    int T, R, C;
  };
  const Shape shapes[] = {{1, 1, 1}, {3, 15, 17}, {17, 33, 31}, {33, 65, 63}, {65, 130, 33}, {130, 17, 65}, {31, 520, 300}};
  for (int threads : {1, 2}) {
    np::set_num_threads(threads);
    for (const Shape& s : shapes) {
      const size_t nx = static_cast<size_t>(s.T) * s.C, nw = static_cast<size_t>(s.R) * s.C, ny = static_cast<size_t>(s.T) * s.R;
      const VecD x = randn(rng, nx), W = randn(rng, nw), bias = randn(rng, static_cast<size_t>(s.R)), dy = randn(rng, ny);
      VecD y(ny), dx = randn(rng, nx), dW = randn(rng, nw), db = randn(rng, static_cast<size_t>(s.R));
      const VecD dx0 = dx, dW0 = dW, db0 = db;
      np::linear_forward<double>(y.data(), x.data(), W.data(), bias.data(), s.T, s.R, s.C);
      np::linear_backward<double>(dx.data(), dW.data(), db.data(), dy.data(), x.data(), W.data(), s.T, s.R, s.C);
      const VecF xf = to_f(x), Wf = to_f(W), bf = to_f(bias), dyf = to_f(dy);
      VecF yf(ny), dxf = to_f(dx0), dWf = to_f(dW0), dbf = to_f(db0);
      np::linear_forward<float>(yf.data(), xf.data(), Wf.data(), bf.data(), s.T, s.R, s.C);
      np::linear_backward<float>(dxf.data(), dWf.data(), dbf.data(), dyf.data(), xf.data(), Wf.data(), s.T, s.R, s.C);
      // bounds: sum of |terms| for each output, plus the start value
      VecD by(ny), bx(nx), bW(nw), bb(db.size());
      for (int r = 0; r < s.R; ++r) {
        double m = std::fabs(db0[r]);
        for (int t = 0; t < s.T; ++t) m += std::fabs(dy[t * s.R + r]);
        bb[r] = m;
      }
      for (int t = 0; t < s.T; ++t)
        for (int r = 0; r < s.R; ++r) {
          double m = std::fabs(bias[r]);
          for (int c = 0; c < s.C; ++c) m += std::fabs(x[t * s.C + c] * W[r * s.C + c]);
          by[t * s.R + r] = m;
        }
      for (int t = 0; t < s.T; ++t)
        for (int c = 0; c < s.C; ++c) {
          double m = std::fabs(dx0[t * s.C + c]);
          for (int r = 0; r < s.R; ++r) m += std::fabs(dy[t * s.R + r] * W[r * s.C + c]);
          bx[t * s.C + c] = m;
        }
      for (int r = 0; r < s.R; ++r)
        for (int c = 0; c < s.C; ++c) {
          double m = std::fabs(dW0[r * s.C + c]);
          for (int t = 0; t < s.T; ++t) m += std::fabs(dy[t * s.R + r] * x[t * s.C + c]);
          bW[r * s.C + c] = m;
        }
      const std::string tag = "T=" + std::to_string(s.T) + " R=" + std::to_string(s.R) + " C=" + std::to_string(s.C) +
                              " threads=" + std::to_string(threads);
      check_close("linear_forward " + tag, yf, y, by, kF32Rtol);
      check_close("linear_backward dinp " + tag, dxf, dx, bx, kF32Rtol);
      check_close("linear_backward dW " + tag, dWf, dW, bW, kF32Rtol);
      check_close("linear_backward dbias " + tag, dbf, db, bb, kF32Rtol);
    }
  }
  np::set_num_threads(0);
}

TEST_CASE("attention float (GEMM) matches the double reference", "[gemm][attention]") {
  np::Rng rng(31);
  struct Shape {
    int Tq, Tk, NH, NKV, HS;
    bool key_mask;
    int causal;
  };
  const Shape shapes[] = {{1, 1, 2, 1, 4, false, -1},   {3, 17, 4, 2, 8, true, -1},  {17, 17, 4, 2, 16, false, 0},
                          {33, 65, 4, 4, 8, true, -1},  {65, 65, 8, 4, 64, true, -1}, {31, 130, 2, 1, 6, true, 0},
                          {130, 33, 4, 2, 16, true, -1}, {5, 9, 2, 2, 4, true, 2}};
  for (int threads : {1, 2}) {
    np::set_num_threads(threads);
    for (const Shape& s : shapes) {
      const size_t nq = static_cast<size_t>(s.Tq) * s.NH * s.HS, nk = static_cast<size_t>(s.Tk) * s.NKV * s.HS;
      const size_t na = static_cast<size_t>(s.NH) * s.Tq * s.Tk;
      std::vector<uint8_t> valid(static_cast<size_t>(s.Tk), 1);
      if (s.key_mask)
        for (auto& v : valid) v = rng.uniform() < 0.75 ? 1 : 0;
      if (s.key_mask && s.Tk > 3) valid[2] = 0;
      const uint8_t* kv = s.key_mask ? valid.data() : nullptr;
      const VecD q = randn(rng, nq), k = randn(rng, nk), v = randn(rng, nk), dout = randn(rng, nq);
      VecD out(nq), att(na), dq(nq, 0.0), dk(nk, 0.0), dv(nk, 0.0);
      np::attention_forward_train<double>(out.data(), att.data(), q.data(), k.data(), v.data(), s.Tq, s.Tk, s.NH, s.NKV, s.HS, kv, s.causal);
      np::attention_backward<double>(dq.data(), dk.data(), dv.data(), dout.data(), att.data(), q.data(), k.data(), v.data(), s.Tq,
                                     s.Tk, s.NH, s.NKV, s.HS, kv, s.causal);
      const VecF qf = to_f(q), kf = to_f(k), vf = to_f(v), doutf = to_f(dout);
      VecF outf(nq), attf(na), dqf(nq, 0.0f), dkf(nk, 0.0f), dvf(nk, 0.0f), out_inf(nq);
      np::attention_forward_train<float>(outf.data(), attf.data(), qf.data(), kf.data(), vf.data(), s.Tq, s.Tk, s.NH, s.NKV, s.HS, kv, s.causal);
      np::attention_forward_train<float>(out_inf.data(), nullptr, qf.data(), kf.data(), vf.data(), s.Tq, s.Tk, s.NH, s.NKV, s.HS, kv, s.causal);
      np::attention_backward<float>(dqf.data(), dkf.data(), dvf.data(), doutf.data(), attf.data(), qf.data(), kf.data(), vf.data(),
                                    s.Tq, s.Tk, s.NH, s.NKV, s.HS, kv, s.causal);
      // Scale per tensor: its largest magnitude (softmax and the gradients mix many terms).
      auto scale_of = [](const VecD& x) {
        double m = 0;
        for (double e : x) m = std::max(m, std::fabs(e));
        return VecD(x.size(), m);
      };
      char tag[128];
      std::snprintf(tag, sizeof tag, " Tq=%d Tk=%d NH=%d NKV=%d HS=%d threads=%d", s.Tq, s.Tk, s.NH, s.NKV, s.HS, threads);
      // float softmax + float sums of up to a few hundred terms, relative to the largest value
      constexpr double kAttnRtol = 2e-5;
      check_close(std::string("attention out") + tag, outf, out, scale_of(out), kAttnRtol);
      check_close(std::string("attention out (no att cache)") + tag, out_inf, out, scale_of(out), kAttnRtol);
      check_close(std::string("attention probs") + tag, attf, att, scale_of(att), kAttnRtol);
      check_close(std::string("attention dq") + tag, dqf, dq, scale_of(dq), kAttnRtol);
      check_close(std::string("attention dk") + tag, dkf, dk, scale_of(dk), kAttnRtol);
      check_close(std::string("attention dv") + tag, dvf, dv, scale_of(dv), kAttnRtol);
    }
  }
  np::set_num_threads(0);
}

TEST_CASE("training forward/backward: bit-identical across runs and threads; bf16 within a few % of fp32", "[gemm][bf16][train]") {
  np::ModelConfig cfg = np::ModelConfig::small();
  auto model = np::TrainModel::create(cfg, 5);
  REQUIRE(model.ok());
  np::TrainModel& m = model.value();
  const int B = 3, Te = 40, Td = 12;
  np::Rng rng(41);
  std::vector<int32_t> enc(B * Te), dec(B * Td), tgt(B * Td);
  for (int b = 0; b < B; ++b) {
    const int len = Te - 7 * b;  // right padding on later rows
    for (int t = 0; t < Te; ++t)
      enc[b * Te + t] = t < len ? 6 + static_cast<int32_t>(rng.uniform() * (cfg.vocab_size - 6)) : cfg.pad_id;
    for (int t = 0; t < Td; ++t) {
      dec[b * Td + t] = 6 + static_cast<int32_t>(rng.uniform() * (cfg.vocab_size - 6));
      tgt[b * Td + t] = t < Td - b ? 6 + static_cast<int32_t>(rng.uniform() * (cfg.vocab_size - 6)) : -1;
    }
  }
  np::TrainBatchView batch;
  batch.B = B;
  batch.Te = Te;
  batch.Td = Td;
  batch.enc_ids = enc.data();
  batch.dec_in = dec.data();
  batch.targets = tgt.data();
  const np::LossConfig lc;

  auto run = [&](int threads, np::MatmulPrecision prec, double* loss) {
    np::set_num_threads(threads);
    np::set_matmul_precision(prec);
    np::LossInfo info;
    REQUIRE(m.forward_backward(batch, lc, &info).ok());
    *loss = info.loss;
    const float* g = m.params().grads();
    return VecF(g, g + m.params().total_size());
  };
  double l1 = 0, l2 = 0, l3 = 0, lb = 0;
  const VecF g1 = run(1, np::MatmulPrecision::kF32, &l1);
  const VecF g2 = run(2, np::MatmulPrecision::kF32, &l2);
  const VecF g3 = run(2, np::MatmulPrecision::kF32, &l3);
  CHECK(l1 == l2);
  CHECK(l2 == l3);
  CHECK(g1 == g2);
  CHECK(g2 == g3);
  if (np::matmul_bf16_supported()) {
    const VecF gb = run(2, np::MatmulPrecision::kBf16, &lb);
    const VecF gb2 = run(1, np::MatmulPrecision::kBf16, &l3);
    CHECK(gb == gb2);
    CHECK(lb == l3);
    // bf16 inputs (8-bit mantissa) through ~10 layers: the loss moves by well under 1%, and
    // each tensor's gradient by a few % of its norm; a broken product is off by O(1).
    constexpr double kLossRtol = 1e-2, kGradRtol = 5e-2;
    INFO("loss fp32 " << l1 << " bf16 " << lb);
    CHECK(std::fabs(lb - l1) <= kLossRtol * std::fabs(l1));
    const auto& P = m.params();
    double worst = 0;
    std::string worst_name;
    for (size_t i = 0; i < P.num_tensors(); ++i) {
      const auto& t = P.tensor(i);
      double num = 0, den = 0;
      for (size_t e = t.offset; e < t.offset + t.size; ++e) {
        num += (static_cast<double>(gb[e]) - g1[e]) * (static_cast<double>(gb[e]) - g1[e]);
        den += static_cast<double>(g1[e]) * g1[e];
      }
      if (den == 0) continue;
      const double rel = std::sqrt(num / den);
      if (rel > worst) {
        worst = rel;
        worst_name = t.name;
      }
    }
    INFO("worst gradient relative L2 difference " << worst << " (" << worst_name << ")");
    CHECK(worst <= kGradRtol);
    CHECK(worst > 0);  // really a different (bf16) computation
  }
  np::set_matmul_precision(np::MatmulPrecision::kF32);
  np::set_num_threads(0);
}

TEST_CASE("training matmul FLOP count (np/perf.h) repeats its documented examples", "[gemm][perf]") {
  // needle_v1, B = 16, Te = 160, Td = 32: 85.77 GFLOP forward; the 5m preset: 13.79 GFLOP.
  CHECK(np::train_forward_matmul_flops(np::ModelConfig::needle_v1(), 16, 160, 32) == Approx(85.765128192e9));
  np::ModelConfig c = np::ModelConfig::needle_v1();
  c.d_model = 256;
  c.n_heads = 4;
  c.n_kv_heads = 2;
  c.n_enc_layers = 6;
  c.n_dec_layers = 4;
  CHECK(np::train_forward_matmul_flops(c, 16, 160, 32) == Approx(13.790871552e9));
  // One encoder layer alone, counted by hand: 2*4*(2*8*8 + 2*4*8) + 4*2*4*4*4 (C=8, KV=4, HS=4).
  np::ModelConfig t = np::ModelConfig::small();
  t.d_model = 8;
  t.n_heads = 2;
  t.n_kv_heads = 1;
  t.n_enc_layers = 1;
  t.n_dec_layers = 1;
  t.vocab_size = 16;
  const double enc = 2 * 4 * 8 * (2 * 8 + 2 * 4) + 4 * 2 * 4 * 4 * 4;
  const double dec = 2 * 1 * 8 * (2 * 8 + 2 * 4) + 4 * 2 * 1 * 1 * 4 + 2 * 1 * 8 * 16 + 2 * 4 * 8 * 8 + 4 * 2 * 1 * 4 * 4;
  CHECK(np::train_forward_matmul_flops(t, 1, 4, 1) == Approx(enc + dec + 2 * 1 * 16 * 8));
}
