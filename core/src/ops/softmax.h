// softmax.h — the exponential step of attention's row softmax (attention.cpp), the one
// element-wise loop of inference big enough to matter: Tq x Tk exps per head per layer
// (8 x 439 x 439 per encoder layer for the needle config). One SIMD kernel per ISA
// (AVX2+FMA, also on AVX-512 machines; WASM SIMD128) chosen at compile time, _ref elsewhere.
// The SIMD kernels compute exp with their own polynomial (within 2 ulp of std::exp for the
// arguments a softmax gives, <= 0) and sum in another order, so they match _ref to a
// tolerance, not bit for bit; each is deterministic for a given build.
#pragma once

namespace np {

// p[j] = exp(p[j] - maxv) for j < n, and returns the sum of the new p. maxv is the row's
// maximum, so every argument is <= 0. The SIMD kernels give 0 below -87.3 (masked scores;
// std::exp gives denormals down to -103, all negligible next to the row maximum's 1).
// Example: p = {0, -ln 2}, maxv = 0 -> p = {1, 0.5}, returns 1.5.
float softmax_exp_sum(float* p, int n, float maxv);

// The specification: std::exp per element, summed in order.
float softmax_exp_sum_ref(float* p, int n, float maxv);

}  // namespace np
