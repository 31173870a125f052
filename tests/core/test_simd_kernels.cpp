// test_simd_kernels.cpp — the SIMD kernels of inference against their references, at sizes
// that run every vector tail and row block: the few-token matvec (ops/matvec.h) against
// linear_matvec_forward_ref, with and without bias, at 1 and 2 threads, bit-identical across
// thread counts, and reached through linear_forward<float>; and the packed GEMM's
// micro-kernel (whichever this build compiled: AVX-512, AVX2, SIMD128 or portable) against a
// double product at every edge-tile shape. Natively this checks the x86 kernels; the same file
// is compiled with em++ -msimd128 and run under Node by tools/test-wasm-kernels.sh, which
// checks the SIMD128 kernels; the softmax's exp-and-sum (ops/softmax.h) against its _ref, and
// the float attention forward that uses it against the double loops, and attention for a few
// query rows (ops/attention_rows.h) against them too. Depends only on ops/
// and util/ (no model, no files).
#include <catch2/catch.hpp>
#include <tuple>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <string>
#include <vector>

#include "np/threads.h"
#include "ops/attention_q8.h"
#include "ops/attention_rows.h"
#include "ops/gemm.h"
#include "ops/gemm_q8_int16.h"
#include "ops/ops.h"
#include "ops/kernels.h"
#include "ops/matvec.h"
#include "ops/softmax.h"
#include "util/rng.h"

namespace {

using VecF = std::vector<float>;

// Two float sums of the same C products in different orders differ by at most about
// 2 C 2^-24 sum|products| in the worst case (~3e-5 at C = 257) and by far less for random
// signs; 4e-6 of sum|products| passes these sizes with margin, while a wrong, missing or
// doubled term is O(1) of it.
constexpr double kSumOrderRtol = 4e-6;

const int kSizes[] = {1, 3, 15, 16, 17, 31, 33, 63, 64, 65, 257};

VecF randn(np::Rng& rng, size_t n) {
  VecF v(n);
  for (float& x : v) x = static_cast<float>(rng.normal());
  return v;
}

// |got - want| <= rtol * scale per element; reports the worst ratio and the first failure.
void check_close(const std::string& what, const VecF& got, const VecF& want, const std::vector<double>& scale,
                 double rtol) {
  REQUIRE(got.size() == want.size());
  double worst = 0;
  long first_bad = -1;
  for (size_t i = 0; i < got.size(); ++i) {
    const double err = std::fabs(static_cast<double>(got[i]) - want[i]) / (scale[i] + 1e-30);
    worst = std::max(worst, err);
    if (!(err <= rtol) && first_bad < 0) first_bad = static_cast<long>(i);
  }
  INFO(what << ": max relative error " << worst << ", first failing index " << first_bad);
  CHECK(first_bad < 0);
}

// sum_c |x[t][c] w[r][c]| + |bias[r]| for each output (T, R).
std::vector<double> matvec_scale(const VecF& x, const VecF& W, const float* bias, int T, int R, int C) {
  std::vector<double> s(static_cast<size_t>(T) * R);
  for (int t = 0; t < T; ++t)
    for (int r = 0; r < R; ++r) {
      double m = bias ? std::fabs(bias[r]) : 0.0;
      for (int c = 0; c < C; ++c) m += std::fabs(static_cast<double>(x[t * C + c]) * W[static_cast<size_t>(r) * C + c]);
      s[static_cast<size_t>(t) * R + r] = m;
    }
  return s;
}

bool same_bits(const VecF& a, const VecF& b) {
  return a.size() == b.size() && std::memcmp(a.data(), b.data(), a.size() * sizeof(float)) == 0;
}

}  // namespace

TEST_CASE("linear_matvec_forward_ref repeats its documented example", "[matvec]") {
  const float inp[] = {1, 2}, W[] = {3, 4, 5, 6}, bias[] = {0.5f, 0};
  float out[2];
  np::linear_matvec_forward_ref(out, inp, W, bias, 1, 2, 2);
  CHECK(out[0] == 11.5f);
  CHECK(out[1] == 17.0f);
  np::linear_matvec_forward(out, inp, W, bias, 1, 2, 2);
  CHECK(out[0] == 11.5f);
  CHECK(out[1] == 17.0f);
}

TEST_CASE("linear_matvec_forward matches its _ref at awkward sizes, 1 and 2 threads", "[matvec][threads]") {
  np::Rng rng(71);
  for (int T : {1, 2, 3, 4, 5})
    for (int R : kSizes)
      for (int C : kSizes) {
        const VecF x = randn(rng, static_cast<size_t>(T) * C), W = randn(rng, static_cast<size_t>(R) * C);
        const VecF bias = randn(rng, static_cast<size_t>(R));
        for (bool with_bias : {false, true}) {
          const float* b = with_bias ? bias.data() : nullptr;
          VecF want(static_cast<size_t>(T) * R);
          np::linear_matvec_forward_ref(want.data(), x.data(), W.data(), b, T, R, C);
          const std::vector<double> scale = matvec_scale(x, W, b, T, R, C);
          VecF first;
          for (int threads : {1, 2}) {
            np::set_num_threads(threads);
            VecF got(want.size(), std::nanf(""));
            np::linear_matvec_forward(got.data(), x.data(), W.data(), b, T, R, C);
            check_close("matvec T=" + std::to_string(T) + " R=" + std::to_string(R) + " C=" + std::to_string(C) +
                            (with_bias ? " bias" : "") + " threads=" + std::to_string(threads),
                        got, want, scale, kSumOrderRtol);
            if (threads == 1)
              first = got;
            else
              CHECK(same_bits(first, got));
          }
        }
      }
  np::set_num_threads(0);
}

TEST_CASE("linear_matvec_forward is bit-identical across thread counts when it splits rows", "[matvec][threads]") {
  // R * C large enough that 2 threads split the rows (the small cases above run inline).
  np::Rng rng(72);
  const int R = 4099, C = 257;
  for (int T : {1, 3, 4}) {
    const VecF x = randn(rng, static_cast<size_t>(T) * C), W = randn(rng, static_cast<size_t>(R) * C);
    const VecF bias = randn(rng, static_cast<size_t>(R));
    VecF want(static_cast<size_t>(T) * R);
    np::linear_matvec_forward_ref(want.data(), x.data(), W.data(), bias.data(), T, R, C);
    const std::vector<double> scale = matvec_scale(x, W, bias.data(), T, R, C);
    VecF one;
    for (int threads : {1, 2, 3, 2}) {
      np::set_num_threads(threads);
      VecF got(want.size());
      np::linear_matvec_forward(got.data(), x.data(), W.data(), bias.data(), T, R, C);
      check_close("matvec T=" + std::to_string(T) + " threads=" + std::to_string(threads), got, want, scale,
                  kSumOrderRtol);
      if (one.empty())
        one = got;
      else
        CHECK(same_bits(one, got));
    }
  }
  np::set_num_threads(0);
}

TEST_CASE("linear_forward<float> runs the matvec for few tokens and the GEMM beyond", "[matvec][linear]") {
  np::Rng rng(73);
  const int R = 65, C = 63;
  for (int T = 1; T <= np::kMatvecMaxT + 2; ++T) {
    const VecF x = randn(rng, static_cast<size_t>(T) * C), W = randn(rng, static_cast<size_t>(R) * C);
    const VecF bias = randn(rng, static_cast<size_t>(R));
    VecF via_linear(static_cast<size_t>(T) * R), via_matvec(via_linear.size()), want(via_linear.size());
    np::linear_forward<float>(via_linear.data(), x.data(), W.data(), bias.data(), T, R, C);
    np::linear_matvec_forward(via_matvec.data(), x.data(), W.data(), bias.data(), T, R, C);
    np::linear_matvec_forward_ref(want.data(), x.data(), W.data(), bias.data(), T, R, C);
    check_close("linear_forward<float> T=" + std::to_string(T), via_linear, want,
                matvec_scale(x, W, bias.data(), T, R, C), kSumOrderRtol);
    // bf16 products (where supported and selected) stay on the GEMM, so only fp32 is checked.
    if (np::gemm_precision() == np::MatmulPrecision::kF32 && T <= np::kMatvecMaxT) CHECK(same_bits(via_linear, via_matvec));
  }
}

TEST_CASE("gemm micro-kernel matches a double product at every edge-tile shape", "[gemm][simd]") {
  // M and N around every tile size of every kernel (AVX-512 8x32, AVX2 6x16, SIMD128 4x8 and
  // portable 4x16); K across a depth block boundary (kKc = 256) and with a tail; A and B each
  // row-major or transposed in memory, so every packing path runs (the transposing ones too:
  // linear's W^T and attention's k^T are B transposed).
  np::Rng rng(74);
  const int Ms[] = {1, 2, 3, 4, 5, 7, 8, 9, 17};
  const int Ns[] = {1, 3, 15, 16, 17, 31, 33, 65};
  const int Ks[] = {1, 3, 17, 257};
  for (int threads : {1, 2}) {
    np::set_num_threads(threads);
    for (int M : Ms)
      for (int N : Ns)
        for (int K : Ks)
          for (int layout = 0; layout < 4; ++layout) {
            const bool accumulate = layout == 1 || layout == 2, a_t = layout >= 2, b_t = layout % 2 == 1;
            const VecF a = randn(rng, static_cast<size_t>(M) * K), b = randn(rng, static_cast<size_t>(K) * N);
            // A(i, k) and B(k, j) as stored: row-major, or the transpose stored row-major
            const auto A = [&](int i, int k) { return a_t ? a[static_cast<size_t>(k) * M + i] : a[static_cast<size_t>(i) * K + k]; };
            const auto B = [&](int k, int j) { return b_t ? b[static_cast<size_t>(j) * K + k] : b[static_cast<size_t>(k) * N + j]; };
            const VecF c0 = randn(rng, static_cast<size_t>(M) * N);
            VecF got = c0, want(c0.size());
            std::vector<double> scale(c0.size());
            for (int i = 0; i < M; ++i)
              for (int j = 0; j < N; ++j) {
                double s = accumulate ? c0[i * N + j] : 0.0, m = accumulate ? std::fabs(c0[i * N + j]) : 0.0;
                for (int k = 0; k < K; ++k) {
                  const double p = static_cast<double>(A(i, k)) * B(k, j);
                  s += p;
                  m += std::fabs(p);
                }
                want[i * N + j] = static_cast<float>(s);
                scale[i * N + j] = m;
              }
            const np::ConstView av = a_t ? np::ConstView{a.data(), 1, M} : np::ConstView{a.data(), K, 1};
            const np::ConstView bv = b_t ? np::ConstView{b.data(), 1, K} : np::ConstView{b.data(), N, 1};
            np::gemm(M, N, K, av, bv, got.data(), N, accumulate, np::MatmulPrecision::kF32);
            check_close("gemm M=" + std::to_string(M) + " N=" + std::to_string(N) + " K=" + std::to_string(K) +
                            (a_t ? " A^T" : "") + (b_t ? " B^T" : "") + (accumulate ? " acc" : "") +
                            " threads=" + std::to_string(threads),
                        got, want, scale, kSumOrderRtol);
          }
  }
  np::set_num_threads(0);
}

TEST_CASE("softmax_exp_sum repeats its documented example", "[softmax][simd]") {
  float p[] = {0.0f, -0.693147181f};
  const float sum = np::softmax_exp_sum(p, 2, 0.0f);
  CHECK(p[0] == 1.0f);
  CHECK(std::fabs(p[1] - 0.5f) <= 1e-7f);
  CHECK(std::fabs(sum - 1.5f) <= 2e-7f);
}

TEST_CASE("softmax_exp_sum matches its _ref at every tail length, masked keys included", "[softmax][simd]") {
  // Each exp within a few ulp of std::exp's: 1e-6 relative. Tiny values may be flushed to 0
  // (arguments below -87.3), so 1e-37 absolute. The sum adds n terms in another order:
  // 2e-6 of itself (all terms are positive, so no cancellation).
  constexpr double kExpRtol = 1e-6, kExpAtol = 1e-37, kSumRtol = 2e-6;
  const float lowest = std::numeric_limits<float>::lowest();
  np::Rng rng(75);
  for (int n : {1, 2, 3, 4, 5, 7, 8, 9, 15, 16, 17, 31, 33, 63, 64, 65, 257})
    for (int variant = 0; variant < 4; ++variant) {
      // 0: scores of a few units; 1: wide range (down to about -200, so underflow runs);
      // 2: every third key masked (the lowest float, as attention writes it); 3: all masked.
      VecF p(static_cast<size_t>(n));
      for (int j = 0; j < n; ++j) {
        const float x = static_cast<float>(rng.normal());
        p[j] = variant == 1 ? 60.0f * x : 3.0f * x;
        if ((variant == 2 && j % 3 == 1) || variant == 3) p[j] = lowest;
      }
      const float maxv = *std::max_element(p.begin(), p.end());
      VecF want = p, got = p;
      const float sum_want = np::softmax_exp_sum_ref(want.data(), n, maxv);
      const float sum_got = np::softmax_exp_sum(got.data(), n, maxv);
      double worst = 0;
      long first_bad = -1;
      for (int j = 0; j < n; ++j) {
        const double err = std::fabs(static_cast<double>(got[j]) - want[j]);
        worst = std::max(worst, err / (std::fabs(want[j]) + 1e-30));
        if (!(err <= kExpAtol + kExpRtol * std::fabs(want[j])) && first_bad < 0) first_bad = j;
      }
      INFO("n=" << n << " variant " << variant << ": max relative error " << worst << ", first failing index "
                << first_bad << ", sums " << sum_got << " vs " << sum_want);
      CHECK(first_bad < 0);
      CHECK(std::fabs(static_cast<double>(sum_got) - sum_want) <= kSumRtol * sum_want);
    }
}

namespace {

// Random q, k, v and key mask for one attention shape, and the double reference's output.
// mask: 0 none, 1 random keys off (a quarter), 2 every key off.
struct AttnCase {
  VecF q, k, v, want;
  std::vector<uint8_t> valid;
  const uint8_t* key_valid;  // valid.data() or null (mask 0)
  double max_abs;            // max |want|: the scale of the tolerance
  AttnCase(np::Rng& rng, int Tq, int Tk, int NH, int NKV, int HS, int mask, int causal, int block) {
    const size_t nq = static_cast<size_t>(Tq) * NH * HS, nk = static_cast<size_t>(Tk) * NKV * HS;
    valid.assign(static_cast<size_t>(Tk), 1);
    for (auto& b : valid) b = mask == 2 ? 0 : mask == 1 ? (rng.uniform() < 0.75 ? 1 : 0) : 1;
    key_valid = mask ? valid.data() : nullptr;
    q = randn(rng, nq), k = randn(rng, nk), v = randn(rng, nk);
    const std::vector<double> qd(q.begin(), q.end()), kd(k.begin(), k.end()), vd(v.begin(), v.end());
    std::vector<double> outd(nq);
    np::attention_forward_train<double>(outd.data(), nullptr, qd.data(), kd.data(), vd.data(), Tq, Tk, NH, NKV, HS,
                                        key_valid, causal, block);
    want.assign(outd.begin(), outd.end());
    max_abs = 0;
    for (double x : outd) max_abs = std::max(max_abs, std::fabs(x));
  }
};

}  // namespace

TEST_CASE("attention float forward matches the double reference with key and causal masks", "[softmax][simd][attention]") {
  // The float forward (GEMM scores, masks, softmax_exp_sum, GEMM output) against kernels.h's
  // double loops, here so that it runs under Node too. Tolerance as test_gemm.cpp's: float
  // softmax and sums of up to a few hundred terms, relative to the largest output.
  constexpr double kAttnRtol = 2e-5;
  np::Rng rng(77);
  struct Shape {
    int Tq, Tk, NH, NKV, HS, mask, causal;  // mask: 0 none, 1 random keys off, 2 every key off
  };
  const Shape shapes[] = {{1, 1, 2, 1, 4, 0, -1},  {1, 17, 8, 4, 64, 1, -1}, {3, 17, 4, 2, 8, 1, -1},
                          {17, 17, 4, 2, 16, 0, 0}, {5, 9, 2, 2, 4, 1, 2},    {33, 65, 4, 4, 8, 1, -1},
                          {4, 33, 2, 1, 16, 2, -1}, {9, 31, 2, 2, 8, 1, 0}};
  for (const Shape& s : shapes)
    for (int block : {0, 3, 7}) {  // the catalog mask (no causal limit): rows before `block` see only the block
      if (block > 0 && (s.causal >= 0 || block >= s.Tk)) continue;
      const AttnCase a(rng, s.Tq, s.Tk, s.NH, s.NKV, s.HS, s.mask, s.causal, block);
      VecF out(a.want.size());
      np::attention_forward_train<float>(out.data(), nullptr, a.q.data(), a.k.data(), a.v.data(), s.Tq, s.Tk, s.NH,
                                         s.NKV, s.HS, a.key_valid, s.causal, block);
      check_close("attention Tq=" + std::to_string(s.Tq) + " Tk=" + std::to_string(s.Tk) + " mask " +
                      std::to_string(s.mask) + " causal " + std::to_string(s.causal) + " block " + std::to_string(block),
                  out, a.want, std::vector<double>(out.size(), a.max_abs), kAttnRtol);
    }
}

TEST_CASE("attention for a few query rows matches the double reference with every mask", "[softmax][simd][attention]") {
  // attention_rows_forward (decoder steps: dot products off K's rows, V's rows summed in
  // registers) against kernels.h's double loops, at key counts that run every 4-key pass and
  // tail, head sizes of one to several vectors, the key, causal and catalog masks, 1 and 2
  // threads; and attention_forward sends few rows to it.
  constexpr double kAttnRtol = 2e-5;
  np::Rng rng(78);
  struct Shape {
    int Tq, Tk, NH, NKV, HS, mask, causal, block;  // mask: 0 none, 1 random keys off, 2 every key off
  };
  const Shape shapes[] = {{1, 1, 2, 1, 16, 0, -1, 0},  {1, 3, 8, 4, 64, 1, -1, 0},  {1, 17, 8, 4, 64, 0, -1, 0},
                          {1, 300, 8, 4, 64, 1, -1, 0}, {2, 31, 4, 2, 32, 0, 0, 0},   {3, 33, 4, 4, 16, 1, 1, 0},
                          {4, 63, 2, 1, 128, 1, -1, 0}, {1, 15, 2, 2, 48, 2, -1, 0},  {4, 40, 4, 2, 64, 1, -1, 2},
                          {1, 257, 8, 4, 64, 0, 5, 0}};
  for (int threads : {1, 2}) {
    np::set_num_threads(threads);
    for (const Shape& s : shapes) {
      if (!np::attention_rows_supported(s.HS)) continue;  // a head size this build's vectors do not divide
      const AttnCase a(rng, s.Tq, s.Tk, s.NH, s.NKV, s.HS, s.mask, s.causal, s.block);
      const size_t nq = a.want.size();
      VecF out(nq, -1.0f), via(nq, -2.0f);
      np::attention_rows_forward(out.data(), a.q.data(), a.k.data(), a.v.data(), s.Tq, s.Tk, s.NH, s.NKV, s.HS,
                                 a.key_valid, s.causal, s.block);
      np::attention_forward(via.data(), a.q.data(), a.k.data(), a.v.data(), s.Tq, s.Tk, s.NH, s.NKV, s.HS, a.key_valid,
                            s.causal, s.block);
      const std::string name = "attention rows Tq=" + std::to_string(s.Tq) + " Tk=" + std::to_string(s.Tk) + " HS=" +
                               std::to_string(s.HS) + " mask " + std::to_string(s.mask) + " causal " +
                               std::to_string(s.causal) + " block " + std::to_string(s.block) + " threads " +
                               std::to_string(threads);
      check_close(name, out, a.want, std::vector<double>(nq, a.max_abs), kAttnRtol);
      CHECK(via == out);  // attention_forward takes this path for few rows
      if (s.causal < 0 && s.block == 0) {
        // The keys in two separate lists (a cached tool block, then the query's) give the
        // bits of the one list, wherever it is cut, an empty part included.
        const size_t row = static_cast<size_t>(s.NKV) * s.HS;
        for (int cut : {0, 1, s.Tk / 2, s.Tk - 1, s.Tk}) {
          if (cut < 0 || cut > s.Tk) continue;
          const VecF ka(a.k.begin(), a.k.begin() + cut * row), va(a.v.begin(), a.v.begin() + cut * row);
          const VecF kb(a.k.begin() + cut * row, a.k.end()), vb(a.v.begin() + cut * row, a.v.end());
          VecF two(nq, -3.0f);
          np::attention_rows_forward(two.data(), a.q.data(), np::KVSegment{ka.data(), va.data(), cut},
                                     np::KVSegment{kb.data(), vb.data(), s.Tk - cut}, s.Tq, s.NH, s.NKV, s.HS, a.key_valid);
          INFO(name << " cut " << cut);
          CHECK(two == out);
          // The first part as bf16 bits (a kept block's cross-attention keys and values): the
          // bits of the same attention over fp32 rows holding those values widened.
          std::vector<uint16_t> ka16(ka.size()), va16(va.size());
          VecF kaw(ka.size()), vaw(va.size());
          for (size_t i = 0; i < ka.size(); ++i) {
            for (auto [src, dst16, dstw] : {std::tuple{&ka, &ka16, &kaw}, std::tuple{&va, &va16, &vaw}}) {
              uint32_t u;
              std::memcpy(&u, &(*src)[i], 4);
              (*dst16)[i] = static_cast<uint16_t>((u + 0x7fffu + ((u >> 16) & 1u)) >> 16);
              u = static_cast<uint32_t>((*dst16)[i]) << 16;
              std::memcpy(&(*dstw)[i], &u, 4);
            }
          }
          VecF half(nq, -4.0f), widened(nq, -5.0f);
          np::attention_rows_forward(half.data(), a.q.data(), np::KVSegment{nullptr, nullptr, cut, ka16.data(), va16.data()},
                                     np::KVSegment{kb.data(), vb.data(), s.Tk - cut}, s.Tq, s.NH, s.NKV, s.HS, a.key_valid);
          np::attention_rows_forward(widened.data(), a.q.data(), np::KVSegment{kaw.data(), vaw.data(), cut},
                                     np::KVSegment{kb.data(), vb.data(), s.Tk - cut}, s.Tq, s.NH, s.NKV, s.HS, a.key_valid);
          CHECK(half == widened);
          if (cut > 0) CHECK(kaw != ka);  // the rounding is there (random values are not bf16)
        }
      }
    }
  }
  np::set_num_threads(0);
  CHECK(np::attention_rows_supported(64));
  CHECK_FALSE(np::attention_rows_supported(0));
}

namespace {

// A random Q8_0 matrix (R, C) in its file layout (34-byte blocks: 2 bytes of f16 d, which the
// kernels do not read, then 32 int8), its scales as floats by row (`by_row`) and in the
// kernels' layout by row quads (`scales`, matvec.h), and the dequantized copy the loader
// would have made: float(q) * d.
struct Q8Fixture {
  std::vector<uint8_t> blocks;
  VecF scales, by_row, dequantized;
  Q8Fixture(np::Rng& rng, int R, int C) {
    const int nb = C / 32;
    blocks.assign(static_cast<size_t>(R) * nb * 34, 0);
    by_row.resize(static_cast<size_t>(R) * nb);
    dequantized.resize(static_cast<size_t>(R) * C);
    for (int r = 0; r < R; ++r)
      for (int b = 0; b < nb; ++b) {
        const float d = static_cast<float>(std::fabs(rng.normal()) * 0.02 + 1e-4);
        by_row[static_cast<size_t>(r) * nb + b] = d;
        for (int j = 0; j < 32; ++j) {
          const int q = static_cast<int>(rng.next_u64() % 255) - 127;
          blocks[(static_cast<size_t>(r) * nb + b) * 34 + 2 + j] = static_cast<uint8_t>(static_cast<int8_t>(q));
          dequantized[static_cast<size_t>(r) * C + b * 32 + j] = static_cast<float>(q) * d;
        }
      }
    scales = quads(by_row.data(), R, nb);
  }
  // Scales by row (R, nb) -> by row quads.
  static VecF quads(const float* by_row, int64_t R, int64_t nb) {
    VecF q(static_cast<size_t>(np::q8_scales_size(R, nb)), 0.0f);
    for (int64_t r = 0; r < R; ++r)
      for (int64_t b = 0; b < nb; ++b) q[static_cast<size_t>(np::q8_scale_index(nb, r, b))] = by_row[r * nb + b];
    return q;
  }
  np::Q8Rows rows() const { return {blocks.data(), scales.data()}; }
};

}  // namespace

TEST_CASE("quantize_act_q16 rounds each block as its definition says", "[matvec][simd][q8]") {
  // s = max|x| / 32767, q = round-half-even(x * (32767 / max|x|)), an all-zero block all 0:
  // the vector version of the 128-bit builds must give these exact values.
  np::Rng rng(92);
  for (int C : {32, 96, 512}) {
    VecF x = randn(rng, static_cast<size_t>(C));
    x[3] = 0.0f, x[5] = -x[4];
    if (C > 32) std::fill(x.begin() + 32, x.begin() + 64, 0.0f);  // an all-zero block
    x[C - 1] = 1e6f;                                               // a block ruled by one value
    if (C > 64) {  // a block of exact halves: max 32767, so x * inv = x, and -15.5 .. 15.5 round to even
      for (int j = 0; j < 31; ++j) x[64 + j] = static_cast<float>(j) - 15.5f;
      x[95] = 32767.0f;
    }
    std::vector<int16_t> q(static_cast<size_t>(C));
    VecF s(static_cast<size_t>(C / 32));
    np::quantize_act_q16(x.data(), C, q.data(), s.data());
    for (int b = 0; b < C / 32; ++b) {
      float m = 0;
      for (int j = 0; j < 32; ++j) m = std::max(m, std::fabs(x[b * 32 + j]));
      INFO("C " << C << " block " << b);
      CHECK(s[b] == m / 32767.0f);
      const float inv = m > 0 ? 32767.0f / m : 0.0f;
      bool same = true;
      for (int j = 0; j < 32; ++j) same = same && q[b * 32 + j] == static_cast<int16_t>(std::nearbyint(x[b * 32 + j] * inv));
      CHECK(same);
    }
  }
}

TEST_CASE("Q8_0 in place: the GEMM gives the same bits as over the dequantized matrix; the int16 matvec is "
          "within its quantization bound and the same across thread counts", "[matvec][simd][q8]") {
  np::Rng rng(74);
  for (int R : {1, 3, 17, 33, 65, 4099})
    for (int C : {32, 64, 96, 288}) {
      if (R == 4099 && C > 64) continue;
      const Q8Fixture W(rng, R, C);
      const VecF bias = randn(rng, static_cast<size_t>(R));
      for (int T : {1, 2, 3, 4, 5, 37}) {
        VecF x = randn(rng, static_cast<size_t>(T) * C);
        if (T == 3) x[5] = 0.0f, x[C + 1] = 1e4f;  // a zero, and one huge value that sets its block's scale
        if (T == 2) std::fill(x.begin(), x.begin() + 32, 0.0f);  // an all-zero block
        VecF one_thread;
        for (int threads : {1, 2}) {
          np::set_num_threads(threads);
          const std::string what = "R=" + std::to_string(R) + " C=" + std::to_string(C) + " T=" + std::to_string(T) +
                                   " threads=" + std::to_string(threads);
          INFO(what);
          // The matvec quantizes each activation block to int16: error per output at most
          // sum_b (max|x_b| / 65534) sum_j |w_j| (+ float rounding of the sums).
          VecF ref(static_cast<size_t>(T) * R), got(ref.size(), std::nanf(""));
          np::linear_matvec_forward_ref(ref.data(), x.data(), W.dequantized.data(), bias.data(), T, R, C);
          np::linear_matvec_q8_forward(got.data(), x.data(), W.rows(), bias.data(), T, R, C);
          std::vector<double> bound(ref.size());
          const std::vector<double> sum_scale = matvec_scale(x, W.dequantized, bias.data(), T, R, C);
          for (int t = 0; t < T; ++t)
            for (int r = 0; r < R; ++r) {
              double e = 0;
              for (int b = 0; b < C / 32; ++b) {
                double mx = 0, sw = 0;
                for (int j = 0; j < 32; ++j) {
                  mx = std::max(mx, std::fabs(static_cast<double>(x[static_cast<size_t>(t) * C + b * 32 + j])));
                  sw += std::fabs(static_cast<double>(W.dequantized[static_cast<size_t>(r) * C + b * 32 + j]));
                }
                e += mx / 65534.0 * sw;
              }
              const size_t i = static_cast<size_t>(t) * R + r;
              bound[i] = 1.01 * e + kSumOrderRtol * sum_scale[i];
            }
          bool ok = true;
          for (size_t i = 0; i < ref.size(); ++i) ok = ok && std::fabs(static_cast<double>(got[i]) - ref[i]) <= bound[i];
          CHECK(ok);
          // the same bits whatever the split (R = 4099 splits mid-way through a row block)
          if (threads == 1) one_thread = got;
          else CHECK(same_bits(got, one_thread));
          // and whatever a row's place in the kernel's row blocks: the matrix without its
          // first `shift` rows gives the same bits for every other row (single-threaded
          // builds, WebAssembly's test among them, check the block/tail agreement this way)
          for (int shift = 1; shift <= 3 && shift < R; ++shift) {
            const int64_t nb = C / 32;
            const VecF sub_scales = Q8Fixture::quads(W.by_row.data() + shift * nb, R - shift, nb);
            const np::Q8Rows rows{W.blocks.data() + shift * nb * 34, sub_scales.data()};
            VecF sub(static_cast<size_t>(T) * (R - shift), std::nanf(""));
            np::linear_matvec_q8_forward(sub.data(), x.data(), rows, bias.data() + shift, T, R - shift, C);
            bool same = true;
            for (int t = 0; t < T; ++t)
              for (int r = shift; r < R; ++r) {
                const float a = got[static_cast<size_t>(t) * R + r], b = sub[static_cast<size_t>(t) * (R - shift) + r - shift];
                same = same && std::memcmp(&a, &b, sizeof a) == 0;
              }
            INFO("rows shifted by " << shift);
            CHECK(same);
          }
          // The GEMM: with FMA (AVX2, AVX-512, portable) it dequantizes W while packing, C = x W^T
          // with the same bits as over the dequantized copy; in the 128-bit builds it is the
          // integer product (gemm_q8_int16.h): the bits of its reference loops, within the
          // matvec's bound. The integer product's own loops are checked on every build.
          VecF gwant(ref.size()), ggot(ref.size(), std::nanf("")), iref(ref.size(), std::nanf(""));
          VecF igot(ref.size(), std::nanf(""));
          np::gemm(T, R, C, {x.data(), C, 1}, {W.dequantized.data(), 1, C}, gwant.data(), R, false,
                   np::MatmulPrecision::kF32);
          np::gemm_q8(T, R, C, {x.data(), C, 1}, W.rows(), ggot.data(), R);
          np::gemm_q8_int16_ref(T, R, C, {x.data(), C, 1}, W.rows(), iref.data(), R);
          np::gemm_q8_int16(T, R, C, {x.data(), C, 1}, W.rows(), igot.data(), R);
          bool iok = true, rok = true;
          for (int t = 0; t < T; ++t)
            for (int r = 0; r < R; ++r) {
              const size_t i = static_cast<size_t>(t) * R + r;
              iok = iok && std::fabs(static_cast<double>(igot[i]) + bias[r] - ref[i]) <= bound[i];
              rok = rok && std::fabs(static_cast<double>(iref[i]) + bias[r] - ref[i]) <= bound[i];
            }
          CHECK(iok);
          CHECK(rok);
          if (np::gemm_q8_uses_int16()) {
            CHECK(same_bits(igot, iref));
            CHECK(same_bits(ggot, igot));
          } else {
            CHECK(same_bits(ggot, gwant));
          }
        }
      }
    }
  np::set_num_threads(0);
}

TEST_CASE("the int16 quantizers of queries and attention weights round as their definitions say", "[simd][q8]") {
  np::Rng rng(76);
  for (int n : {1, 3, 4, 7, 8, 9, 15, 16, 17, 64, 300, 301}) {
    INFO("n " << n);
    VecF x = randn(rng, n);
    std::vector<int16_t> q(n);
    const float s = np::quantize_q16(x.data(), n, q.data());
    float m = 0.0f;
    for (float v : x) m = std::max(m, std::fabs(v));
    CHECK(s == m / 32767.0f);
    bool exact = true;
    for (int i = 0; i < n; ++i) exact &= q[i] == static_cast<int16_t>(std::nearbyint(x[i] * (32767.0f / m)));
    CHECK(exact);
    // Weights: non-negative; the scale is the largest's unless the total needs a larger one,
    // each weight rounded at 1 / scale.
    VecF w(n);
    for (float& v : w) v = static_cast<float>(std::fabs(rng.normal()));
    if (n > 2) w[1] = 0.0f;
    const float ws = np::quantize_weights_q16(w.data(), n, q.data());
    float wm = 0.0f;
    for (float v : w) wm = std::max(wm, v);
    CHECK(ws == wm / 32767.0f);  // a few hundred weights: the largest sets the scale
    exact = true;
    for (int i = 0; i < n; ++i) exact &= q[i] == static_cast<int16_t>(std::nearbyint(w[i] * (1.0f / ws)));
    CHECK(exact);
  }
  // Many equal weights: the total sets the scale, and their int16 sum stays under 2^31 / 127.
  const int n = 100000;
  VecF w(n, 0.25f);
  std::vector<int16_t> q(n);
  const float ws = np::quantize_weights_q16(w.data(), n, q.data());
  CHECK(ws > 0.25f / 32767.0f);
  int64_t total = 0;
  for (int16_t v : q) total += v;
  CHECK(total * 127 < (int64_t{1} << 31));
  CHECK(q[0] == static_cast<int16_t>(std::nearbyint(0.25f * (1.0f / ws))));
  // NaN and infinity (a model whose activations overflow): no trap, NaN to 0, the vector and
  // scalar paths alike (nine values: a vector of eight and a scalar tail).
  {
    VecF bad(9, 1.0f);
    bad[1] = std::nanf("");
    bad[8] = std::nanf("");
    std::vector<int16_t> qb(9, 7);
    const float sb = np::quantize_q16(bad.data(), 9, qb.data());
    CHECK(sb == 1.0f / 32767.0f);
    CHECK(qb[1] == 0);
    CHECK(qb[8] == 0);
    CHECK(qb[0] == 32767);
    bad[2] = std::numeric_limits<float>::infinity();
    (void)np::quantize_q16(bad.data(), 9, qb.data());  // scale infinite: values 0 or NaN -> 0
    CHECK(qb[0] == 0);
    CHECK(qb[2] == 0);
    (void)np::quantize_weights_q16(bad.data(), 9, qb.data());
    CHECK(qb[8] == 0);
    np::KVQ8 Kb;
    np::quantize_keys_q8(bad.data(), 1, 1, 8, &Kb);  // 8 columns of one token, a NaN and an infinity among them
    CHECK(Kb.q[1] == 0);  // column 1 (NaN): unit 0, second byte
    CHECK(Kb.q[8] == 0);  // column 2 (infinity): unit 1, first byte
  }
  // All zeros: scale 0, zeros out.
  const VecF z(9, 0.0f);
  CHECK(np::quantize_q16(z.data(), 9, q.data()) == 0.0f);
  CHECK(np::quantize_weights_q16(z.data(), 9, q.data()) == 0.0f);
  CHECK(q[8] == 0);
}

TEST_CASE("int8 block keys and values: layouts, the integer kernels against their _ref, exact int32 sums",
          "[simd][attention][q8]") {
  np::Rng rng(77);
  CHECK(np::kv_q8_supported(64));
  CHECK(np::kv_q8_supported(4));
  CHECK_FALSE(np::kv_q8_supported(6));
  CHECK_FALSE(np::kv_q8_supported(516));
  for (int HS : {4, 8, 12, 64, 128}) {
    for (int T : {1, 2, 3, 4, 5, 15, 17, 31, 33, 63, 300}) {
      for (int NKV : {1, 2}) {
        INFO("HS " << HS << ", T " << T << ", NKV " << NKV);
        const size_t row = static_cast<size_t>(NKV) * HS;
        VecF k = randn(rng, T * row), v = randn(rng, T * row);
        if (T > 2) std::fill(k.begin() + row, k.begin() + 2 * row, 0.0f);  // an all-zero token: scale 0
        np::KVQ8 K, V;
        np::quantize_keys_q8(k.data(), T, NKV, HS, &K);
        np::quantize_values_q8(v.data(), T, NKV, HS, &V);
        REQUIRE(K.T == T);
        REQUIRE(K.rows == (T + 3) / 4 * 4);
        REQUIRE(V.rows == (T + 1) / 2 * 2);
        CHECK(K.bytes() == np::kv_q8_bytes(T, NKV, HS, true));
        CHECK(V.bytes() == np::kv_q8_bytes(T, NKV, HS, false));
        // Dequantized: within half a step of each token's head; the padding is zeros.
        for (auto [x, Q, keys] : {std::tuple{&k, &K, true}, std::tuple{&v, &V, false}}) {
          VecF back(x->size());
          np::dequantize_kv_q8(*Q, NKV, HS, keys, back.data());
          bool within = true;
          for (size_t i = 0; i < x->size(); i += HS) {
            float m = 0.0f;
            for (int c = 0; c < HS; ++c) m = std::max(m, std::fabs((*x)[i + c]));
            for (int c = 0; c < HS; ++c) within &= std::fabs((*x)[i + c] - back[i + c]) <= m / 254.0f * 1.0001f;
          }
          CHECK(within);
          for (int g = 0; g < NKV; ++g)
            for (int j = T; j < Q->rows; ++j) CHECK(Q->scale[static_cast<size_t>(g) * Q->rows + j] == 0.0f);
        }
        std::vector<int16_t> q16(HS), w16(V.rows);
        for (int g = 0; g < NKV; ++g) {
          // Scores: the kernel gives its _ref's bits, and the float product of the dequantized
          // values within the int16 rounding of the query.
          const VecF q = randn(rng, HS);
          const float qs = np::quantize_q16(q.data(), HS, q16.data());
          VecF p(T, -1.0f), pr(T, -2.0f);
          np::scores_q8(p.data(), q16.data(), qs, K, g, HS);
          np::scores_q8_ref(pr.data(), q16.data(), qs, K, g, HS);
          CHECK(same_bits(p, pr));
          VecF kd(T * row);
          np::dequantize_kv_q8(K, NKV, HS, true, kd.data());
          // The query's rounding is at most half of max|q| / 32767 per column: the scale is
          // max|q| sum|k| (a wrong or missing term is far more than 2e-5 of it).
          double qmax = 0;
          for (float x : q) qmax = std::max(qmax, static_cast<double>(std::fabs(x)));
          VecF want(T);
          std::vector<double> scale(T);
          for (int j = 0; j < T; ++j) {
            double sum = 0, ksum = 0;
            for (int c = 0; c < HS; ++c) {
              sum += static_cast<double>(q[c]) * kd[j * row + static_cast<size_t>(g) * HS + c];
              ksum += std::fabs(kd[j * row + static_cast<size_t>(g) * HS + c]);
            }
            want[j] = static_cast<float>(sum);
            scale[j] = qmax * ksum;
          }
          check_close("scores", p, want, scale, 2e-5);
          // Weighted sums: the kernel gives its _ref's bits; with weights summing to 1, the
          // float sum of the dequantized values within the weights' int16 rounding.
          VecF w(V.rows, 0.0f);
          double total = 0;
          for (int j = 0; j < T; ++j) total += w[j] = static_cast<float>(std::fabs(rng.normal()));
          for (int j = 0; j < T; ++j) w[j] = static_cast<float>(w[j] / total);
          VecF wv(V.rows, 0.0f);
          for (int j = 0; j < T; ++j) wv[j] = w[j] * V.scale[static_cast<size_t>(g) * V.rows + j];
          const float ws = np::quantize_weights_q16(wv.data(), V.rows, w16.data());
          for (int j = T; j < V.rows; ++j) CHECK(w16[j] == 0);
          VecF o(HS, -1.0f), orf(HS, -2.0f);
          np::weighted_sum_q8(o.data(), w16.data(), ws, V, g, HS);
          np::weighted_sum_q8_ref(orf.data(), w16.data(), ws, V, g, HS);
          CHECK(same_bits(o, orf));
          VecF vd(T * row);
          np::dequantize_kv_q8(V, NKV, HS, false, vd.data());
          VecF owant(HS);
          std::vector<double> oscale(HS);
          double vmax = 0;
          for (float x : vd) vmax = std::max(vmax, static_cast<double>(std::fabs(x)));
          for (int c = 0; c < HS; ++c) {
            double sum = 0;
            for (int j = 0; j < T; ++j) sum += static_cast<double>(w[j]) * vd[j * row + static_cast<size_t>(g) * HS + c];
            owant[c] = static_cast<float>(sum);
            oscale[c] = vmax;
          }
          check_close("weighted sum", o, owant, oscale, 2e-4);
        }
      }
    }
  }
  // The largest sums stay exact int32: every key and query at full scale (HS 512), and 1,024
  // equal weights over values at full scale.
  {
    const int HS = 512, T = 1024;
    VecF k(static_cast<size_t>(T) * HS, 1.0f), v(static_cast<size_t>(T) * HS, -1.0f);
    np::KVQ8 K, V;
    np::quantize_keys_q8(k.data(), T, 1, HS, &K);
    np::quantize_values_q8(v.data(), T, 1, HS, &V);
    std::vector<int16_t> q16(HS), w16(T);
    const VecF q(HS, 2.0f), w(T, 1.0f / T);
    const float qs = np::quantize_q16(q.data(), HS, q16.data());
    CHECK(q16[0] == 32767);
    VecF p(T);
    np::scores_q8(p.data(), q16.data(), qs, K, 0, HS);
    const int64_t exact = int64_t{32767} * 127 * HS;  // 2,130,896,896 < 2^31
    CHECK(p[T - 1] == static_cast<float>(exact) * (qs * K.scale[T - 1]));
    const float ws = np::quantize_weights_q16(w.data(), T, w16.data());
    int64_t total = 0;
    for (int16_t x : w16) total += x;
    CHECK(total * 127 < (int64_t{1} << 31));
    VecF o(HS), orf(HS);
    np::weighted_sum_q8(o.data(), w16.data(), ws, V, 0, HS);
    CHECK(o[0] == static_cast<float>(-127 * total) * ws);
    CHECK(std::fabs(o[0] * V.scale[0] + 1.0f) < 1e-3f);  // about -1 (values -1, weights summing to 1)
  }
}

TEST_CASE("attention rows over an int8 block then float keys: close to the float attention over the dequantized "
          "block, the same bits at 1 and 2 threads",
          "[simd][attention][q8][threads]") {
  np::Rng rng(78);
  const int NH = 8, NKV = 4, HS = 64;
  const size_t row = static_cast<size_t>(NKV) * HS;
  for (int P : {1, 5, 300}) {
    for (int R : {1, 12}) {
      for (int Tq : {1, 2, 12}) {  // a decoder step; an encoder query's rows after a kept block
        INFO("block " << P << ", rest " << R << ", rows " << Tq);
        const VecF q = randn(rng, static_cast<size_t>(Tq) * NH * HS);
        const VecF kb = randn(rng, P * row), vb = randn(rng, P * row), kr = randn(rng, R * row), vr = randn(rng, R * row);
        std::vector<uint8_t> valid(P + R, 1);
        if (P > 3) valid[2] = 0;  // a pad key in the block
        np::KVQ8 K, V;
        np::quantize_keys_q8(kb.data(), P, NKV, HS, &K);
        np::quantize_values_q8(vb.data(), P, NKV, HS, &V);
        VecF kd(kb.size()), vd(vb.size());
        np::dequantize_kv_q8(K, NKV, HS, true, kd.data());
        np::dequantize_kv_q8(V, NKV, HS, false, vd.data());
        const size_t nq = static_cast<size_t>(Tq) * NH * HS;
        VecF got1(nq, -1.0f), got2(nq, -2.0f), want(nq, -3.0f);
        np::set_num_threads(1);
        np::attention_rows_forward(got1.data(), q.data(), np::KVSegment{nullptr, nullptr, P, nullptr, nullptr, &K, &V},
                                   np::KVSegment{kr.data(), vr.data(), R}, Tq, NH, NKV, HS, valid.data());
        np::set_num_threads(2);
        np::attention_rows_forward(got2.data(), q.data(), np::KVSegment{nullptr, nullptr, P, nullptr, nullptr, &K, &V},
                                   np::KVSegment{kr.data(), vr.data(), R}, Tq, NH, NKV, HS, valid.data());
        np::attention_rows_forward(want.data(), q.data(), np::KVSegment{kd.data(), vd.data(), P},
                                   np::KVSegment{kr.data(), vr.data(), R}, Tq, NH, NKV, HS, valid.data());
        CHECK(same_bits(got1, got2));
        float worst = 0.0f;
        for (size_t i = 0; i < nq; ++i) worst = std::max(worst, std::fabs(got1[i] - want[i]));
        CHECK(worst < 2e-3f);  // outputs are O(1): values are N(0, 1)
        CHECK(worst > 0.0f);   // the integer path ran
      }
    }
  }
  np::set_num_threads(0);
}

TEST_CASE("zcrmsnorm_forward gives its definition's values (its bits in WebAssembly)", "[simd][norm]") {
  np::Rng rng(79);
  for (int C : {1, 3, 7, 8, 9, 16, 17, 64, 512, 513}) {
    INFO("C " << C);
    const int rows = 3;
    const VecF x = randn(rng, static_cast<size_t>(rows) * C), g = randn(rng, C);
    VecF y(x.size(), -1.0f);
    np::zcrmsnorm_forward(y.data(), x.data(), g.data(), rows, C, 1e-6f);
    VecF want(x.size());
    for (int r = 0; r < rows; ++r) {
      const float* xr = x.data() + static_cast<size_t>(r) * C;
      double part[8] = {0, 0, 0, 0, 0, 0, 0, 0};
      int c = 0;
      for (; c + 8 <= C; c += 8)
        for (int k = 0; k < 8; ++k) part[k] += static_cast<double>(xr[c + k]) * xr[c + k];
      double ss = ((part[0] + part[1]) + (part[2] + part[3])) + ((part[4] + part[5]) + (part[6] + part[7]));
      for (; c < C; ++c) ss += static_cast<double>(xr[c]) * xr[c];
      const float rs = static_cast<float>(1.0 / std::sqrt(ss / C + static_cast<double>(1e-6f)));
      for (int k = 0; k < C; ++k) want[static_cast<size_t>(r) * C + k] = xr[k] * rs * (1 + g[k]);
    }
#if defined(__wasm_simd128__)
    CHECK(same_bits(y, want));  // no FMA to contract either loop
#else
    std::vector<double> scale(want.size());
    for (size_t i = 0; i < want.size(); ++i) scale[i] = std::fabs(want[i]) + 1e-30;
    check_close("norm", y, want, scale, 1e-6);
#endif
  }
}

TEST_CASE("linear_forward_multi gives each product linear_forward gives it, bit for bit", "[matvec][simd][q8]") {
  // Q8_0 matrices of one width (fused: one quantization, one job over all their rows, the
  // chunk edges falling inside and between matrices), and sets that fall back (a float
  // matrix among them, another width, more tokens than a matvec's).
  np::Rng rng(31);
  const auto q8_matrix = [](const Q8Fixture& f, int R, int C) {
    np::Matrix m;
    m.rows = R;
    m.cols = C;
    m.type = np::GgmlType::Q8_0;
    m.raw = f.blocks.data();
    m.q8_scales = f.scales;
    return m;
  };
  const Q8Fixture fa(rng, 5, 96), fb(rng, 130, 96), fc(rng, 64, 96), fd(rng, 7, 64);
  const np::Matrix a = q8_matrix(fa, 5, 96), b = q8_matrix(fb, 130, 96), c = q8_matrix(fc, 64, 96), d = q8_matrix(fd, 7, 64);
  np::Matrix f;  // float
  f.rows = 9;
  f.cols = 96;
  f.storage = randn(rng, 9 * 96);
  f.f32 = f.storage.data();
  const std::vector<std::vector<const np::Matrix*>> sets = {{&a, &b, &c}, {&b}, {&c, &a}, {&a, &f, &b}, {&a, &d}};
  int fused_sets = 0;
  for (const auto& set : sets)
    for (int T : {1, 2, 3, 4, 5})
      for (int threads : {1, 2, 3}) {
        np::set_num_threads(threads);
        const int C = static_cast<int>(set[0]->cols);
        const VecF x = randn(rng, static_cast<size_t>(T) * 96);
        std::vector<VecF> want, got;
        std::vector<np::LinearOut> outs;
        for (const np::Matrix* m : set) {
          want.emplace_back(static_cast<size_t>(T) * m->rows);
          got.emplace_back(static_cast<size_t>(T) * m->rows, std::nanf(""));
        }
        for (size_t i = 0; i < set.size(); ++i) {
          // each matrix reads its own width of the same input rows (the fallback sets differ)
          if (static_cast<int>(set[i]->cols) != C) continue;
          np::linear_forward(want[i].data(), x.data(), *set[i], T);
          outs.push_back({got[i].data(), set[i]});
        }
        if (outs.size() != set.size()) {  // widths differ: each on its own, as linear_forward
          for (size_t i = 0; i < set.size(); ++i)
            if (static_cast<int>(set[i]->cols) != C) np::linear_forward(want[i].data(), x.data(), *set[i], T);
          outs.clear();
          for (size_t i = 0; i < set.size(); ++i) outs.push_back({got[i].data(), set[i]});
        }
        np::linear_forward_multi(x.data(), T, outs.data(), static_cast<int>(outs.size()));
        INFO("set of " << set.size() << " T=" << T << " threads=" << threads);
        for (size_t i = 0; i < set.size(); ++i) CHECK(got[i] == want[i]);
        if (set.size() > 1 && T <= 4 && set[0]->q8() && set.back()->q8() && set[1]->cols == set[0]->cols) ++fused_sets;
      }
  np::set_num_threads(0);
  CHECK(fused_sets > 0);
}

TEST_CASE("quantize_rows_q8 gives its definition's bits, NaN, infinities and zero blocks included",
          "[simd][q8][attention]") {
  // The definition (gemm_q8_int16.h) in plain loops: per 32 values d = max|x| / 127 (NaN
  // skipped), q = round half to even of x * (127 / max), NaN to 0, within +-127; d = 0 where
  // max is 0 or not finite. The SIMD128 path (WebAssembly) must give the same bytes and scales.
  np::Rng rng(91);
  for (int C : {32, 64, 128}) {
    for (int R : {1, 3, 4, 9}) {
      const int nb = C / 32;
      const int64_t rs = C + 5;  // a row stride wider than the row
      VecF x(static_cast<size_t>(R) * rs);
      for (float& v : x) v = static_cast<float>(rng.normal() * 3.0);
      x[2] = std::numeric_limits<float>::quiet_NaN();
      if (R > 1) {  // a block of ties: x * (127 / max) lands on .5 (max 254 -> 0.5 steps)
        for (int j = 0; j < 32; ++j) x[rs + j] = static_cast<float>(j) - 15.5f;
        x[rs + 31] = 254.0f;
      }
      if (R > 2) std::fill(x.begin() + 2 * rs, x.begin() + 2 * rs + 32, 0.0f);                 // all zeros
      if (R > 3) x[3 * rs + 7] = std::numeric_limits<float>::infinity();                       // d not finite
      std::vector<uint8_t> blocks(static_cast<size_t>(R) * nb * 34, 0xAB);
      VecF scales(static_cast<size_t>(np::q8_scales_size(R, nb)), -1.0f);
      np::quantize_rows_q8(x.data(), rs, R, C, blocks.data(), scales.data());
      for (int r = 0; r < R; ++r)
        for (int b = 0; b < nb; ++b) {
          const float* v = x.data() + r * rs + b * 32;
          float m = 0.0f;
          for (int j = 0; j < 32; ++j)
            if (std::fabs(v[j]) > m) m = std::fabs(v[j]);
          const float inv = m > 0.0f ? 127.0f / m : 0.0f;
          const float d = m / 127.0f;
          INFO("C " << C << " row " << r << " block " << b);
          CHECK(same_bits(VecF{scales[np::q8_scale_index(nb, r, b)]}, VecF{std::isfinite(d) ? d : 0.0f}));
          const uint8_t* q = blocks.data() + (static_cast<size_t>(r) * nb + b) * 34;
          CHECK((q[0] == 0 && q[1] == 0));
          for (int j = 0; j < 32; ++j) {
            float t = std::nearbyint(v[j] * inv);
            if (std::isnan(t)) t = 0.0f;
            t = std::min(std::max(t, -127.0f), 127.0f);
            CHECK(static_cast<int8_t>(q[2 + j]) == static_cast<int>(t));
          }
        }
      // the pad rows of the last quad's scales are zeros
      for (int r = R; r < (R + 3) / 4 * 4; ++r)
        for (int b = 0; b < nb; ++b) CHECK(scales[np::q8_scale_index(nb, r, b)] == 0.0f);
    }
  }
}

TEST_CASE("attention_forward over many rows: within the int8 keys' rounding of the double reference where its scores "
          "run in integers, the same bits at 1 and 2 threads",
          "[simd][attention][q8][threads]") {
  np::Rng rng(92);
  struct Shape {
    int Tq, Tk, NH, NKV, HS, mask, causal, block;
  };
  const Shape shapes[] = {{5, 5, 2, 1, 32, 0, -1, 0},   {12, 40, 8, 4, 64, 1, -1, 0}, {33, 33, 4, 2, 64, 0, 0, 0},
                          {64, 64, 8, 4, 64, 1, -1, 9}, {17, 70, 2, 2, 96, 1, -1, 0}, {40, 40, 2, 1, 64, 2, -1, 0},
                          {9, 20, 4, 2, 16, 1, -1, 0}};
  int integer_cases = 0;
  for (const Shape& s : shapes) {
    const AttnCase a(rng, s.Tq, s.Tk, s.NH, s.NKV, s.HS, s.mask, s.causal, s.block);
    const size_t nq = a.want.size();
    VecF one(nq, -1.0f), two(nq, -2.0f);
    np::set_num_threads(1);
    np::attention_forward(one.data(), a.q.data(), a.k.data(), a.v.data(), s.Tq, s.Tk, s.NH, s.NKV, s.HS, a.key_valid,
                          s.causal, s.block);
    np::set_num_threads(2);
    np::attention_forward(two.data(), a.q.data(), a.k.data(), a.v.data(), s.Tq, s.Tk, s.NH, s.NKV, s.HS, a.key_valid,
                          s.causal, s.block);
    const std::string name = "attention Tq=" + std::to_string(s.Tq) + " Tk=" + std::to_string(s.Tk) + " HS=" +
                             std::to_string(s.HS) + " mask " + std::to_string(s.mask);
    INFO(name);
    CHECK(same_bits(one, two));
    if (np::attention_int8_scores(s.HS)) {
      // Scores off by up to |q| * max|k| / 254 per block: with N(0, 1) inputs and head sizes
      // of 32-96 a few 1e-2 of the outputs' scale; and not the float path's values.
      ++integer_cases;
      check_close(name + " (integer scores)", one, a.want, std::vector<double>(nq, a.max_abs), 5e-2);
      VecF fl(nq);
      np::attention_forward_train<float>(fl.data(), nullptr, a.q.data(), a.k.data(), a.v.data(), s.Tq, s.Tk, s.NH,
                                         s.NKV, s.HS, a.key_valid, s.causal, s.block);
      if (s.mask != 2) CHECK_FALSE(same_bits(one, fl));
    } else {
      check_close(name, one, a.want, std::vector<double>(nq, a.max_abs), 2e-5);
    }
  }
  np::set_num_threads(0);
  CHECK(integer_cases == (np::attention_int8_scores(32) ? 6 : 0));  // HS 16 stays float everywhere
}
