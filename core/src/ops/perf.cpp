// perf.cpp — the measurement helpers of np/perf.h: analytic matmul FLOPs, a register-only
// FMA (and bf16 dot-product) peak loop per pool thread, and a timed GEMM. Built with the
// core's flags (-march=native natively), so the peak loop uses the same ISA as the kernels.
#include "np/perf.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <vector>

#include "np/threads.h"
#include "ops/gemm.h"

#if defined(__AVX2__) || defined(__AVX512F__)
#include <immintrin.h>
#endif

namespace np {

double train_forward_matmul_flops(const ModelConfig& c, int B, int Te, int Td) {
  const double C = c.d_model, KV = c.kv_dim(), HS = c.head_dim(), NH = c.n_heads, V = c.vocab_size;
  const double DFF = c.d_ff, te = Te, td = Td;
  const double enc = 2 * te * C * (2 * C + 2 * KV) + 4 * NH * te * te * HS + 6 * te * C * DFF;
  const double dec = 2 * td * C * (2 * C + 2 * KV) + 4 * NH * td * td * HS +
                     2 * td * C * 2 * C + 2 * te * C * 2 * KV + 4 * NH * td * te * HS + 6 * td * C * DFF;
  const double logits = 2 * td * V * C;
  return B * (c.n_enc_layers * enc + c.n_dec_layers * dec + logits);
}

namespace {

using Clock = std::chrono::steady_clock;

// Runs `iters` rounds of independent multiply-add chains (12 FMA chains: latency 4 x 2
// pipes needs 8; 24 bf16 dot-product chains: its latency is longer); returns FLOPs done. The sink
// keeps the compiler from dropping the loop.
std::atomic<float> g_sink{0};

double fma_loop(int64_t iters) {
#if defined(__AVX512F__)
  __m512 acc[12];
  for (int i = 0; i < 12; ++i) acc[i] = _mm512_set1_ps(0.001f * i);
  const __m512 m = _mm512_set1_ps(0.999999f), a = _mm512_set1_ps(1e-7f);
  for (int64_t it = 0; it < iters; ++it)
#pragma GCC unroll 12
    for (int i = 0; i < 12; ++i) acc[i] = _mm512_fmadd_ps(acc[i], m, a);
  __m512 s = acc[0];
  for (int i = 1; i < 12; ++i) s = _mm512_add_ps(s, acc[i]);
  alignas(64) float lanes[16];
  _mm512_store_ps(lanes, s);  // (not _mm512_reduce_add_ps: GCC 12 warns inside it)
  g_sink.store(lanes[0] + lanes[15]);
  return 2.0 * 16 * 12 * static_cast<double>(iters);
#elif defined(__AVX2__) && defined(__FMA__)
  __m256 acc[12];
  for (int i = 0; i < 12; ++i) acc[i] = _mm256_set1_ps(0.001f * i);
  const __m256 m = _mm256_set1_ps(0.999999f), a = _mm256_set1_ps(1e-7f);
  for (int64_t it = 0; it < iters; ++it)
#pragma GCC unroll 12
    for (int i = 0; i < 12; ++i) acc[i] = _mm256_fmadd_ps(acc[i], m, a);
  float out[8];
  __m256 s = acc[0];
  for (int i = 1; i < 12; ++i) s = _mm256_add_ps(s, acc[i]);
  _mm256_storeu_ps(out, s);
  g_sink.store(out[0]);
  return 2.0 * 8 * 12 * static_cast<double>(iters);
#else
  float acc[12];
  for (int i = 0; i < 12; ++i) acc[i] = 0.001f * i;
  for (int64_t it = 0; it < iters; ++it)
    for (int i = 0; i < 12; ++i) acc[i] = acc[i] * 0.999999f + 1e-7f;
  float s = 0;
  for (float v : acc) s += v;
  g_sink.store(s);
  return 2.0 * 12 * static_cast<double>(iters);
#endif
}

double bf16_loop(int64_t iters) {
#if defined(__AVX512BF16__) && defined(__AVX512F__)
  __m512 acc[24];
  for (int i = 0; i < 24; ++i) acc[i] = _mm512_setzero_ps();
  const __m512bh x = reinterpret_cast<__m512bh>(_mm512_set1_epi32(0x3F803F80));  // (1.0, 1.0)
  const __m512bh y = reinterpret_cast<__m512bh>(_mm512_set1_epi32(0x33D633D6));  // (~1e-7, ~1e-7)
  for (int64_t it = 0; it < iters; ++it)
#pragma GCC unroll 24
    for (int i = 0; i < 24; ++i) acc[i] = _mm512_dpbf16_ps(acc[i], x, y);
  __m512 s = acc[0];
  for (int i = 1; i < 24; ++i) s = _mm512_add_ps(s, acc[i]);
  alignas(64) float lanes[16];
  _mm512_store_ps(lanes, s);  // (not _mm512_reduce_add_ps: GCC 12 warns inside it)
  g_sink.store(lanes[0] + lanes[15]);
  return 2.0 * 32 * 24 * static_cast<double>(iters);
#else
  (void)iters;
  return 0;
#endif
}

}  // namespace

double perf_peak_gflops(MatmulPrecision p, double seconds) {
  if (p == MatmulPrecision::kBf16 && !matmul_bf16_supported()) return 0;
  auto loop = [&](int64_t iters) { return p == MatmulPrecision::kBf16 ? bf16_loop(iters) : fma_loop(iters); };
  // Calibrate a ~20 ms run on one thread, then time that run on every thread at once,
  // repeatedly for about `seconds`, and keep the best (other processes only slow it down).
  int64_t iters = 1 << 14;
  for (;;) {
    const auto t0 = Clock::now();
    loop(iters);
    const double dt = std::chrono::duration<double>(Clock::now() - t0).count();
    if (dt > 0.005 || iters > (int64_t{1} << 40)) {
      iters = static_cast<int64_t>(static_cast<double>(iters) * 0.02 / dt) + 1;
      break;
    }
    iters *= 4;
  }
  const int threads = num_threads();
  std::vector<double> flops(static_cast<size_t>(threads), 0.0);
  double best = 0, spent = 0;
  while (spent < seconds || best == 0) {
    const auto t0 = Clock::now();
    parallel_for(threads, 1, [&](int64_t b, int64_t e) {
      for (int64_t t = b; t < e; ++t) flops[static_cast<size_t>(t)] = loop(iters);
    });
    const double dt = std::chrono::duration<double>(Clock::now() - t0).count();
    spent += dt;
    double total = 0;
    for (double f : flops) total += f;
    best = std::max(best, total / dt * 1e-9);
  }
  return best;
}

double perf_gemm_gflops(int M, int N, int K, MatmulPrecision p, int reps) {
  std::vector<float> a(static_cast<size_t>(M) * K), b(static_cast<size_t>(N) * K), c(static_cast<size_t>(M) * N);
  for (size_t i = 0; i < a.size(); ++i) a[i] = static_cast<float>((i * 7919) % 1000) * 1e-3f - 0.5f;
  for (size_t i = 0; i < b.size(); ++i) b[i] = static_cast<float>((i * 104729) % 1000) * 1e-3f - 0.5f;
  double best = 1e30;
  for (int r = 0; r <= std::max(1, reps); ++r) {
    const auto t0 = Clock::now();
    gemm(M, N, K, {a.data(), K, 1}, {b.data(), 1, K}, c.data(), N, false, p);
    const double dt = std::chrono::duration<double>(Clock::now() - t0).count();
    if (r > 0) best = std::min(best, dt);
  }
  return 2.0 * M * N * K / best * 1e-9;
}

}  // namespace np
