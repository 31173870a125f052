// cmd_bench.cpp — `bench-train` (training throughput of a random model on a synthetic
// batch: tokens/s and matmul GFLOP/s, np/perf.h's FLOP formula; CPU seconds per step too), `bench-peak` (the
// machine's measured FMA / bf16 peaks and our GEMM's rate on a large product), and
// `bench-bf16` (the accuracy check of the bf16 path: a short training run at fp32 and at
// bf16 from the same start). tools/bench/bench_train.py runs them next to PyTorch and
// writes the table of docs/benchmarks.md. Output is one JSON object on stdout. Not a test:
// nothing here asserts on time.
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include <sys/resource.h>

#include <nlohmann/json.hpp>

#include "commands.h"
#include "np/optim.h"
#include "np/perf.h"
#include "np/threads.h"
#include "np/trainer.h"

namespace np_cli {

namespace {

using json = nlohmann::json;
using Clock = std::chrono::steady_clock;

// Presets: "needle" (Needle v1, 26M parameters), "5m" (d 256, 4 heads / 2 kv heads of 64,
// 6 encoder + 4 decoder layers, vocab 8192: 5.0M parameters), "small" (the test config).
bool config_by_name(const std::string& name, np::ModelConfig* c) {
  if (name == "needle") {
    *c = np::ModelConfig::needle_v1();
  } else if (name == "5m") {
    *c = np::ModelConfig::needle_v1();
    c->d_model = 256;
    c->n_heads = 4;
    c->n_kv_heads = 2;
    c->n_enc_layers = 6;
    c->n_dec_layers = 4;
  } else if (name == "small") {
    *c = np::ModelConfig::small();
  } else {
    return false;
  }
  return true;
}



// A full (unpadded) synthetic batch: random non-special ids, every decoder position a target.
struct SyntheticBatch {
  std::vector<int32_t> enc, dec, tgt;
  np::TrainBatchView view;
  SyntheticBatch(const np::ModelConfig& c, int B, int Te, int Td, uint64_t seed) {
    uint64_t state = seed * 0x9E3779B97F4A7C15ull + 1;
    auto id = [&] {  // splitmix64 -> an id in [6, V)
      uint64_t z = (state += 0x9E3779B97F4A7C15ull);
      z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
      z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
      return 6 + static_cast<int32_t>((z ^ (z >> 31)) % static_cast<uint64_t>(c.vocab_size - 6));
    };
    enc.resize(static_cast<size_t>(B) * Te);
    dec.resize(static_cast<size_t>(B) * Td);
    tgt.resize(dec.size());
    for (auto& v : enc) v = id();
    for (auto& v : dec) v = id();
    for (auto& v : tgt) v = id();
    view.B = B;
    view.Te = Te;
    view.Td = Td;
    view.enc_ids = enc.data();
    view.dec_in = dec.data();
    view.targets = tgt.data();
  }
};

size_t param_count(const np::TrainModel& m) { return m.params().total_size(); }

// CPU seconds (user + system) this process has used, every thread included: with other
// processes on the machine, wall time stretches but this barely does.
double cpu_seconds() {
  rusage u{};
  getrusage(RUSAGE_SELF, &u);
  return static_cast<double>(u.ru_utime.tv_sec + u.ru_stime.tv_sec) + 1e-6 * static_cast<double>(u.ru_utime.tv_usec + u.ru_stime.tv_usec);
}

}  // namespace

int cmd_bench_train(const Args& args) {
  std::string cfg_name = "needle";
  arg_value(args, "--config", &cfg_name);
  np::ModelConfig cfg;
  if (!config_by_name(cfg_name, &cfg)) return usage_error("--config must be needle, 5m or small");
  int B = 16, Te = 160, Td = 32, warmup = 1, iters = 3, rc = 0;
  long long seed = 1;
  if (!int_option(args, "--batch", 1, 4096, &B, &rc) || !int_option(args, "--enc-len", 1, 1 << 16, &Te, &rc) ||
      !int_option(args, "--dec-len", 1, 1 << 16, &Td, &rc) || !int_option(args, "--warmup", 0, 1 << 20, &warmup, &rc) ||
      !int_option(args, "--iters", 1, 1 << 20, &iters, &rc) || !int_option(args, "--seed", 0, 1ll << 62, &seed, &rc))
    return rc;
  cfg.max_enc_len = std::max(cfg.max_enc_len, Te);
  cfg.max_dec_len = std::max(cfg.max_dec_len, Td);
  const bool bf16 = arg_flag(args, "--bf16");
  if (bf16 && !np::set_matmul_precision(np::MatmulPrecision::kBf16))
    return fail("UNSUPPORTED: this build or CPU has no bf16 dot product (AVX-512 BF16)");
  auto model = np::TrainModel::create(cfg, static_cast<uint64_t>(seed));
  if (!model.ok()) return fail(model.status().to_string());
  np::TrainModel& m = model.value();
  SyntheticBatch batch(cfg, B, Te, Td, 7);
  const np::LossConfig lc;
  np::LossInfo info;
  for (int i = 0; i < warmup; ++i) {
    const np::Status s = m.forward_backward(batch.view, lc, &info);
    if (!s.ok()) return fail(s.to_string());
  }
  std::vector<double> secs, cpu;
  for (int i = 0; i < iters; ++i) {
    const auto t0 = Clock::now();
    const double c0 = cpu_seconds();
    const np::Status s = m.forward_backward(batch.view, lc, &info);
    cpu.push_back(cpu_seconds() - c0);
    secs.push_back(std::chrono::duration<double>(Clock::now() - t0).count());
    if (!s.ok()) return fail(s.to_string());
  }
  std::vector<double> sorted = secs;
  std::sort(sorted.begin(), sorted.end());
  const double med = sorted[sorted.size() / 2];
  const double tokens = static_cast<double>(B) * (Te + Td);
  const double flops = 3 * np::train_forward_matmul_flops(cfg, B, Te, Td);
  json out = {{"engine", "needlepoint"},
              {"config", cfg_name},
              {"params", param_count(m)},
              {"precision", bf16 ? "bf16" : "fp32"},
              {"threads", np::num_threads()},
              {"batch", B},
              {"enc_len", Te},
              {"dec_len", Td},
              {"step_seconds", secs},
              {"median_seconds", med},
              {"step_cpu_seconds", cpu},
              {"tokens_per_s", tokens / med},
              {"step_gflop", flops * 1e-9},
              {"gflops", flops / med * 1e-9},
              {"loss", info.loss}};
  std::printf("%s\n", out.dump().c_str());
  return 0;
}

int cmd_bench_peak(const Args& args) {
  double seconds = 0.5;
  int n = 1536, reps = 3, rc = 0;
  if (!number_option(args, "--seconds", 0.001, 3600, &seconds, &rc) || !int_option(args, "--gemm-size", 1, 16384, &n, &rc) ||
      !int_option(args, "--reps", 1, 1 << 20, &reps, &rc))
    return rc;
  json out = {{"threads", np::num_threads()},
              {"fma_peak_gflops", np::perf_peak_gflops(np::MatmulPrecision::kF32, seconds)},
              {"bf16_peak_gflops", np::perf_peak_gflops(np::MatmulPrecision::kBf16, seconds)},
              {"gemm_size", n},
              {"gemm_fp32_gflops", np::perf_gemm_gflops(n, n, n, np::MatmulPrecision::kF32, reps)},
              {"gemm_bf16_gflops", np::matmul_bf16_supported() ? np::perf_gemm_gflops(n, n, n, np::MatmulPrecision::kBf16, reps) : 0.0}};
  // The shape that dominates training: a 160-token sequence through a 512x512 projection.
  out["gemm_160x512x512_fp32_gflops"] = np::perf_gemm_gflops(160, 512, 512, np::MatmulPrecision::kF32, 20);
  if (np::matmul_bf16_supported())
    out["gemm_160x512x512_bf16_gflops"] = np::perf_gemm_gflops(160, 512, 512, np::MatmulPrecision::kBf16, 20);
  std::printf("%s\n", out.dump().c_str());
  return 0;
}

int cmd_bench_bf16(const Args& args) {
  std::string cfg_name = "small";
  arg_value(args, "--config", &cfg_name);
  np::ModelConfig cfg;
  if (!config_by_name(cfg_name, &cfg)) return usage_error("--config must be needle, 5m or small");
  if (!np::matmul_bf16_supported()) return fail("UNSUPPORTED: this build or CPU has no bf16 dot product (AVX-512 BF16)");
  int B = 8, Te = 48, Td = 16, steps = 60, rc = 0;
  if (!int_option(args, "--batch", 1, 4096, &B, &rc) || !int_option(args, "--enc-len", 1, 1 << 16, &Te, &rc) ||
      !int_option(args, "--dec-len", 1, 1 << 16, &Td, &rc) || !int_option(args, "--steps", 1, 1 << 24, &steps, &rc))
    return rc;
  cfg.max_enc_len = std::max(cfg.max_enc_len, Te);
  cfg.max_dec_len = std::max(cfg.max_dec_len, Td);
  // A fixed set of synthetic batches whose targets are a function of the input (copy the
  // encoder's first Td ids), so the loss can fall well below log(V).
  std::vector<SyntheticBatch> batches;
  for (int i = 0; i < 4; ++i) {
    batches.emplace_back(cfg, B, Te, Td, 100 + i);
    SyntheticBatch& b = batches.back();
    for (int s = 0; s < B; ++s)
      for (int t = 0; t < Td; ++t) {
        b.tgt[static_cast<size_t>(s) * Td + t] = b.enc[static_cast<size_t>(s) * Te + t];
        b.dec[static_cast<size_t>(s) * Td + t] = t == 0 ? cfg.bos_id : b.enc[static_cast<size_t>(s) * Te + t - 1];
      }
  }
  json curves = json::object();
  for (const char* prec : {"fp32", "bf16"}) {
    np::set_matmul_precision(std::string(prec) == "bf16" ? np::MatmulPrecision::kBf16 : np::MatmulPrecision::kF32);
    auto model = np::TrainModel::create(cfg, 3);
    if (!model.ok()) return fail(model.status().to_string());
    np::TrainModel& m = model.value();
    np::OptimConfig oc = np::OptimConfig::pretraining(steps);
    oc.adamw.lr = 3e-3;
    auto opt = np::Optimizer::create(m.params(), oc);
    if (!opt.ok()) return fail(opt.status().to_string());
    json losses = json::array();
    for (int s = 0; s < steps; ++s) {
      np::LossInfo info;
      np::Status st = m.forward_backward(batches[static_cast<size_t>(s) % batches.size()].view, np::LossConfig(), &info);
      if (!st.ok()) return fail(st.to_string());
      st = opt.value().step(m.params());
      if (!st.ok()) return fail(st.to_string());
      losses.push_back(info.loss);
    }
    curves[prec] = losses;
  }
  np::set_matmul_precision(np::MatmulPrecision::kF32);
  auto tail_mean = [&](const json& l) {
    const size_t n = l.size(), k = std::max<size_t>(1, n / 10);
    double s = 0;
    for (size_t i = n - k; i < n; ++i) s += l[i].get<double>();
    return s / static_cast<double>(k);
  };
  const double f = tail_mean(curves["fp32"]), b = tail_mean(curves["bf16"]);
  json out = {{"config", cfg_name}, {"steps", steps}, {"batch", B}, {"enc_len", Te}, {"dec_len", Td},
              {"first_loss", curves["fp32"][0]}, {"final_loss_fp32", f}, {"final_loss_bf16", b},
              {"relative_difference", std::fabs(b - f) / f}, {"losses", curves}};
  std::printf("%s\n", out.dump().c_str());
  return 0;
}

}  // namespace np_cli
