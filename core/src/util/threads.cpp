// threads.cpp — a small persistent pool behind parallel_for (see threads.h): a job is
// published with a generation number, each worker runs its own static chunk, and the caller
// waits for a count of finished chunks; workers and caller poll briefly before they sleep on
// condition variables (Pool::run, kSpinIterations).
// Also the process-wide matmul precision (np/threads.h), read by ops/gemm.cpp.
#include "np/threads.h"

#include <algorithm>
#include <atomic>

#if defined(__EMSCRIPTEN__) && !defined(__EMSCRIPTEN_PTHREADS__)
#define NP_NO_THREADS 1
#endif

#ifndef NP_NO_THREADS
#include <condition_variable>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>
#endif

namespace np {

namespace {

thread_local bool t_in_job = false;

// Asked once: glibc answers hardware_concurrency by reading /sys on every call (an open,
// read and close per parallel_for, measured at 10-20% of a native decoder step), and
// Emscripten by a call out to JavaScript.
int default_threads() {
#ifdef NP_NO_THREADS
  return 1;
#else
  static const int n = [] {
    const unsigned hc = std::thread::hardware_concurrency();
    return hc ? static_cast<int>(std::min(hc, 64u)) : 1;
  }();
  return n;
#endif
}

void run_chunks(int64_t n, int chunks, int first, int last, const std::function<void(int64_t, int64_t)>& fn) {
  for (int c = first; c < last; ++c) {
    const int64_t b = n * c / chunks, e = n * (c + 1) / chunks;
    if (b < e) fn(b, e);
  }
}

#ifndef NP_NO_THREADS
// Pause inside a spin loop (no such instruction in WebAssembly: there the loop only reloads).
inline void cpu_relax() {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#endif
}

// How long a worker keeps polling for the next job before it sleeps on the condition
// variable, and how long the caller polls for the workers to finish. A decoder step is some
// 70 small jobs a few microseconds apart: waking a sleeping thread (a futex natively, an
// Atomics.wait in WebAssembly) costs about as much as each job, which made two threads
// slower than one. Bounded, so an idle pool sleeps within a fraction of a millisecond.
constexpr int kSpinIterations = 1 << 14;

class Pool {
 public:
  explicit Pool(int threads) {
    for (int i = 1; i < threads; ++i) workers_.emplace_back([this, i] { loop(i); });
  }
  ~Pool() {
    {
      std::lock_guard<std::mutex> lock(mu_);
      stop_.store(true);
    }
    cv_.notify_all();
    for (auto& w : workers_) w.join();
  }
  int size() const { return static_cast<int>(workers_.size()) + 1; }

  void run(int64_t n, int chunks, const std::function<void(int64_t, int64_t)>& fn) {
    // The job's fields are published by the generation's release increment, which is made
    // under mu_ so that a worker going to sleep either sees it or is counted in sleepers_.
    fn_ = &fn;
    n_ = n;
    chunks_ = chunks;
    pending_.store(static_cast<int>(workers_.size()), std::memory_order_relaxed);
    {
      std::lock_guard<std::mutex> lock(mu_);
      generation_.fetch_add(1, std::memory_order_release);
    }
    if (sleepers_.load() > 0) cv_.notify_all();
    t_in_job = true;
    run_chunks(n, chunks, 0, 1, fn);
    t_in_job = false;
    for (int spin = 0; pending_.load(std::memory_order_acquire) != 0; ++spin) {
      if (spin < kSpinIterations) {
        cpu_relax();
        continue;
      }
      std::unique_lock<std::mutex> lock(mu_);
      done_cv_.wait(lock, [this] { return pending_.load(std::memory_order_acquire) == 0; });
      break;
    }
    fn_ = nullptr;
  }

 private:
  void loop(int index) {
    uint64_t seen = 0;
    for (;;) {
      uint64_t g;
      for (int spin = 0; (g = generation_.load(std::memory_order_acquire)) == seen && !stop_.load();) {
        if (++spin < kSpinIterations) {
          cpu_relax();
          continue;
        }
        std::unique_lock<std::mutex> lock(mu_);
        sleepers_.fetch_add(1);
        cv_.wait(lock, [&] { return stop_.load() || generation_.load(std::memory_order_acquire) != seen; });
        sleepers_.fetch_sub(1);
        spin = 0;
      }
      if (stop_.load()) return;
      seen = g;
      t_in_job = true;
      if (index < chunks_) run_chunks(n_, chunks_, index, index + 1, *fn_);
      t_in_job = false;
      if (pending_.fetch_sub(1, std::memory_order_acq_rel) == 1) {
        std::lock_guard<std::mutex> lock(mu_);
        done_cv_.notify_one();
      }
    }
  }

  std::vector<std::thread> workers_;
  std::mutex mu_;
  std::condition_variable cv_, done_cv_;
  // Written by run() before the generation's release increment, read by workers after it.
  const std::function<void(int64_t, int64_t)>* fn_ = nullptr;
  int64_t n_ = 0;
  int chunks_ = 0;
  std::atomic<int> pending_{0};
  std::atomic<int> sleepers_{0};
  std::atomic<uint64_t> generation_{0};
  std::atomic<bool> stop_{false};
};

std::mutex g_pool_mu;            // guards creation/replacement and serialises jobs
std::unique_ptr<Pool> g_pool;
int g_threads = 0;               // 0 = default
#endif

}  // namespace

namespace {
std::atomic<int> g_matmul_precision{static_cast<int>(MatmulPrecision::kF32)};
}  // namespace

bool matmul_bf16_supported() {
#if defined(__AVX512BF16__) && defined(__AVX512F__)
  return true;
#else
  return false;
#endif
}

bool set_matmul_precision(MatmulPrecision p) {
  if (p == MatmulPrecision::kBf16 && !matmul_bf16_supported()) {
    g_matmul_precision.store(static_cast<int>(MatmulPrecision::kF32));
    return false;
  }
  g_matmul_precision.store(static_cast<int>(p));
  return true;
}

MatmulPrecision matmul_precision() { return static_cast<MatmulPrecision>(g_matmul_precision.load()); }

void set_num_threads(int n) {
#ifndef NP_NO_THREADS
  std::lock_guard<std::mutex> lock(g_pool_mu);
  g_threads = n > 0 ? std::min(n, 256) : 0;
  g_pool.reset();
#else
  (void)n;
#endif
}

void start_threads() {
#ifndef NP_NO_THREADS
  std::lock_guard<std::mutex> lock(g_pool_mu);
  const int threads = g_threads > 0 ? g_threads : default_threads();
  if (threads > 1 && (!g_pool || g_pool->size() != threads)) g_pool = std::make_unique<Pool>(threads);
#endif
}

int num_threads() {
#ifndef NP_NO_THREADS
  std::lock_guard<std::mutex> lock(g_pool_mu);
  return g_threads > 0 ? g_threads : default_threads();
#else
  return 1;
#endif
}

void parallel_for(int64_t n, int64_t min_chunk, const std::function<void(int64_t, int64_t)>& fn) {
  if (n <= 0) return;
  min_chunk = std::max<int64_t>(min_chunk, 1);
#ifndef NP_NO_THREADS
  if (!t_in_job) {
    std::lock_guard<std::mutex> lock(g_pool_mu);
    const int threads = g_threads > 0 ? g_threads : default_threads();
    const int chunks = static_cast<int>(std::min<int64_t>(threads, n / min_chunk));
    if (chunks > 1) {
      if (!g_pool || g_pool->size() != threads) g_pool = std::make_unique<Pool>(threads);
      g_pool->run(n, chunks, fn);
      return;
    }
  }
#endif
  fn(0, n);
}

}  // namespace np
