// perf.h — measurement helpers behind `needlepoint bench-train` / `bench-peak` and
// docs/benchmarks.md: the analytic matmul FLOP count of a training step, and the machine's
// measured peaks (a register-only FMA loop, our own GEMM on a large product). Timing only;
// nothing here is used by inference or training.
#pragma once
#include <cstdint>

#include "np/model.h"
#include "np/threads.h"

namespace np {

// Matmul FLOPs (2 per multiply-add) of ONE training forward over B full sequences of Te
// encoder and Td decoder tokens (no padding), counting every product the model runs:
//   encoder layer:  2 Te C (2C + 2KV)            q, k, v, o projections
//                 + 4 NH Te Te HS                 q k^T and p v
//                 [+ 6 Te C DFF                   FFN gate, up, down]
//   decoder layer:  2 Td C (2C + 2KV) + 4 NH Td Td HS     self-attention
//                 + 2 Td C 2C + 2 Te C 2KV + 4 NH Td Te HS cross-attention (q, o on the
//                                                  decoder; k, v on the encoder output)
//                 [+ 6 Td C DFF]
//   logits:         2 Td V C
// with C = d_model, KV = n_kv_heads * head_dim, HS = head_dim, V = vocab. A training step
// (forward + backward) is 3x this: each product's backward is two products of the same
// size (dX and dW; for attention dP, dV and dQ, dK). Element-wise work (norms, softmax,
// RoPE, loss) is not counted. Example: needle_v1, B = 16, Te = 160, Td = 32 -> 85.77 GFLOP
// forward (x 3 = 257.3 GFLOP per step, 83.8 MFLOP per token); the "5m" preset of
// `needlepoint bench-train` -> 13.79 GFLOP forward (41.4 per step).
double train_forward_matmul_flops(const ModelConfig& c, int B, int Te, int Td);

// GFLOP/s of a register-only multiply-add loop on every pool thread (num_threads()): the
// best of ~20 ms runs repeated for about `seconds`: 12 independent 512-bit (or 256-bit, or scalar) FMA chains for kF32, or
// 24 bf16 dot-product chains (_mm512_dpbf16_ps, 64 FLOP each) for kBf16 (0 where unsupported).
double perf_peak_gflops(MatmulPrecision p, double seconds);

// GFLOP/s of our GEMM (ops/gemm.h) computing C (M, N) = A (M, K) B^T for B stored (N, K),
// the layout of linear_forward, at the given precision, on the pool; best of `reps` timed
// runs after one warm-up.
double perf_gemm_gflops(int M, int N, int K, MatmulPrecision p, int reps);

}  // namespace np
