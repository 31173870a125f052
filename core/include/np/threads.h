// threads.h — the one thread pool that inference and training share. Work is split into
// static contiguous chunks by thread count, the calling thread takes the first chunk, and
// each output element is computed by the same code whatever the split, so results do not
// depend on the number of threads. Builds without threads (WASM without pthreads) run
// every job inline.
#pragma once
#include <cstdint>
#include <functional>

namespace np {

// Runs fn(begin, end) over [0, n) split across the pool (at most one chunk per thread;
// chunks smaller than min_chunk are merged, so tiny jobs run inline). Calls made from
// inside a job run inline. Blocks until every chunk is done.
void parallel_for(int64_t n, int64_t min_chunk, const std::function<void(int64_t begin, int64_t end)>& fn);

// Threads used by parallel_for, the caller included: default = hardware concurrency
// (1 without thread support). set_num_threads(n <= 0) restores the default.
void set_num_threads(int n);
int num_threads();
// Starts the pool's threads now instead of at the first parallel job (their stacks are then
// allocated up front: the WASM build counts them as in use before it sizes a model).
void start_threads();

// Precision of the float matrix products (linear, attention, FFN) in inference and training,
// one setting for the process (ops/gemm.cpp reads it on every product):
//   kF32  fp32 inputs and accumulation (the default);
//   kBf16 inputs rounded to bf16 on the fly, fp32 accumulation (AVX-512 BF16 dot products);
//         weights, activations and gradients stay fp32 in memory.
// set_matmul_precision(kBf16) returns false and keeps kF32 where the build or CPU has no
// bf16 dot product (matmul_bf16_supported()). The double kernels ignore it.
enum class MatmulPrecision { kF32 = 0, kBf16 = 1 };
bool set_matmul_precision(MatmulPrecision p);
MatmulPrecision matmul_precision();
bool matmul_bf16_supported();

}  // namespace np
