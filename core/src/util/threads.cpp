// threads.cpp — a small persistent pool behind parallel_for (see threads.h): a job is
// published with a generation number, the caller and the workers claim its static chunks
// one by one, and the caller waits for a count of finished chunks; workers and caller poll
// briefly before they sleep on condition variables (Pool::run, poll_step).
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
// variable, and how long the caller polls for the last chunks to finish. A decoder step is
// some 70 small jobs a few microseconds apart: waking a sleeping thread (a futex natively, an
// Atomics.wait in WebAssembly) costs about as much as each job, which made two threads
// slower than one. About a quarter of a millisecond of polling, then sleep: natively 2^14
// pause iterations (measured 0.4 ms on this machine); WebAssembly has no pause, so a poll is
// a bare reload and 2^14 of them took only 23 us, short enough that workers fell asleep
// between a call's steps and in its query encode: 2^20 (250 us; a cached 26M call in Node
// mt 31-39 -> 26-28 ms, docs/benchmarks.md). Natively 2^11 and 2^13 decode alike when idle;
// yielding the core between polls gave it away for whole time slices under load.
#ifdef __EMSCRIPTEN__
constexpr int kSpinPauses = 1 << 20;
#else
constexpr int kSpinPauses = 1 << 14;
#endif

// One step of a polling wait: false once the poll has run its course (then sleep).
inline bool poll_step(int spin) {
  if (spin < kSpinPauses) {
    cpu_relax();
    return true;
  }
  return false;
}

class Pool {
 public:
  explicit Pool(int threads) {
    for (int i = 1; i < threads; ++i) workers_.emplace_back([this] { loop(); });
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

  // Chunks are claimed, not assigned: the caller and the workers take the next unclaimed
  // chunk until none is left, so a worker the OS has not scheduled yet (a loaded machine)
  // never holds up the job: the caller runs its chunk too. A chunk's result does not depend
  // on which thread runs it, so the results stay the same bits.
  void run(int64_t n, int chunks, const std::function<void(int64_t, int64_t)>& fn) {
    const uint32_t g = static_cast<uint32_t>(++jobs_);
    fn_ = &fn;
    n_ = n;
    done_.store(0, std::memory_order_relaxed);
    // The claim word (generation, chunk count, next chunk) is published before the
    // generation, under mu_ so that a worker going to sleep either sees it or is counted.
    claim_.store(pack(g, chunks, 0), std::memory_order_release);
    {
      std::lock_guard<std::mutex> lock(mu_);
      generation_.store(g, std::memory_order_release);
    }
    if (sleepers_.load() > 0) cv_.notify_all();
    work(g);
    for (int spin = 0; done_.load(std::memory_order_acquire) != chunks; ++spin) {
      if (poll_step(spin)) continue;
      std::unique_lock<std::mutex> lock(mu_);
      done_cv_.wait(lock, [&] { return done_.load(std::memory_order_acquire) == chunks; });
      break;
    }
    fn_ = nullptr;
  }

 private:
  static uint64_t pack(uint32_t g, int chunks, int next) {
    return static_cast<uint64_t>(g) << 32 | static_cast<uint64_t>(chunks) << 16 | static_cast<uint64_t>(next);
  }

  // The next chunk of job g, or -1 when its chunks are all taken (or job g is over).
  int claim(uint32_t g, int* chunks) {
    uint64_t cur = claim_.load(std::memory_order_acquire);
    for (;;) {
      const int next = static_cast<int>(cur & 0xffff), total = static_cast<int>((cur >> 16) & 0xffff);
      if (static_cast<uint32_t>(cur >> 32) != g || next >= total) return -1;
      if (claim_.compare_exchange_weak(cur, cur + 1, std::memory_order_acq_rel, std::memory_order_acquire)) {
        *chunks = total;
        return next;
      }
    }
  }

  // Runs chunks of job g until none is left. fn_ and n_ belong to job g while one of its
  // chunks is unfinished: the caller publishes the next job only after all are done.
  void work(uint32_t g) {
    int chunks = 0;
    t_in_job = true;
    for (int c; (c = claim(g, &chunks)) >= 0;) {
      run_chunks(n_, chunks, c, c + 1, *fn_);
      if (done_.fetch_add(1, std::memory_order_acq_rel) + 1 == chunks) {
        std::lock_guard<std::mutex> lock(mu_);
        done_cv_.notify_one();
      }
    }
    t_in_job = false;
  }

  void loop() {
    uint32_t seen = 0;
    for (;;) {
      uint32_t g;
      for (int spin = 0; (g = generation_.load(std::memory_order_acquire)) == seen && !stop_.load();) {
        if (poll_step(spin++)) continue;
        std::unique_lock<std::mutex> lock(mu_);
        sleepers_.fetch_add(1);
        cv_.wait(lock, [&] { return stop_.load() || generation_.load(std::memory_order_acquire) != seen; });
        sleepers_.fetch_sub(1);
        spin = 0;
      }
      if (stop_.load()) return;
      seen = g;
      work(g);
    }
  }

  std::vector<std::thread> workers_;
  std::mutex mu_;
  std::condition_variable cv_, done_cv_;
  uint64_t jobs_ = 0;  // the caller's count of jobs (run is serialised by g_pool_mu)
  // Set by run() before the claim word's release store; read by a thread holding a claim.
  const std::function<void(int64_t, int64_t)>* fn_ = nullptr;
  int64_t n_ = 0;
  std::atomic<uint64_t> claim_{0};
  std::atomic<int> done_{0};
  std::atomic<int> sleepers_{0};
  std::atomic<uint32_t> generation_{0};
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
