// f32vec.h — one SIMD register of floats per ISA (AVX-512F, AVX2+FMA, WASM SIMD128, portable
// C++), chosen at compile time: zero, unaligned load, acc + a * b, a * b, the lane-wise max,
// the sum of the lanes in a fixed order and their max, and a load of bf16 values widened. The few-token kernels (the matvec in
// linear.cpp, attention for a few query rows in attention_rows.cpp) and the attention rows'
// scaling (attention.cpp) are written once against it.
#pragma once

#include <algorithm>
#include <cstdint>
#include <cstring>

#if defined(__AVX2__) || defined(__AVX512F__)
#include <immintrin.h>
#endif
#include "ops/simd128.h"

// GCC 12 reports its own AVX-512 intrinsics (_mm512_castps512_ps256, _mm512_srli_epi32, ...)
// as using an uninitialised value once inlined: a known false positive of that release,
// silenced here for the rest of every file that includes this header (the kernels).
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#pragma GCC diagnostic ignored "-Wuninitialized"
#endif

namespace np {
namespace simd {

#if defined(__AVX512F__)
struct F32Vec {
  static constexpr int kLanes = 16;
  __m512 v;
  static F32Vec zero() { return {_mm512_setzero_ps()}; }
  static F32Vec load(const float* p) { return {_mm512_loadu_ps(p)}; }
  // kLanes bf16 values widened (exactly: the bits shifted into a float's top half).
  static F32Vec load_bf16(const uint16_t* p) {
    return {_mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(p))), 16))};
  }
  static F32Vec splat(float x) { return {_mm512_set1_ps(x)}; }
  void store(float* p) const { _mm512_storeu_ps(p, v); }
  static F32Vec madd(F32Vec acc, F32Vec a, F32Vec b) { return {_mm512_fmadd_ps(a.v, b.v, acc.v)}; }
  static F32Vec mul(F32Vec a, F32Vec b) { return {_mm512_mul_ps(a.v, b.v)}; }
  static F32Vec max(F32Vec a, F32Vec b) { return {_mm512_max_ps(a.v, b.v)}; }
  float max_lane() const { return _mm512_reduce_max_ps(v); }
  float sum() const {
    const __m256 h = _mm256_add_ps(_mm512_castps512_ps256(v), _mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(v), 1)));
    const __m128 q = _mm_add_ps(_mm256_castps256_ps128(h), _mm256_extractf128_ps(h, 1));
    const __m128 p = _mm_add_ps(q, _mm_movehl_ps(q, q));
    return _mm_cvtss_f32(_mm_add_ss(p, _mm_shuffle_ps(p, p, 1)));
  }
};
#elif defined(__AVX2__) && defined(__FMA__)
struct F32Vec {
  static constexpr int kLanes = 8;
  __m256 v;
  static F32Vec zero() { return {_mm256_setzero_ps()}; }
  static F32Vec load(const float* p) { return {_mm256_loadu_ps(p)}; }
  static F32Vec load_bf16(const uint16_t* p) {
    return {_mm256_castsi256_ps(_mm256_slli_epi32(_mm256_cvtepu16_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p))), 16))};
  }
  static F32Vec splat(float x) { return {_mm256_set1_ps(x)}; }
  void store(float* p) const { _mm256_storeu_ps(p, v); }
  static F32Vec madd(F32Vec acc, F32Vec a, F32Vec b) { return {_mm256_fmadd_ps(a.v, b.v, acc.v)}; }
  static F32Vec mul(F32Vec a, F32Vec b) { return {_mm256_mul_ps(a.v, b.v)}; }
  static F32Vec max(F32Vec a, F32Vec b) { return {_mm256_max_ps(a.v, b.v)}; }
  float max_lane() const {
    alignas(32) float l[8];
    _mm256_store_ps(l, v);
    return std::max(std::max(std::max(l[0], l[1]), std::max(l[2], l[3])), std::max(std::max(l[4], l[5]), std::max(l[6], l[7])));
  }
  float sum() const {
    const __m128 q = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    const __m128 p = _mm_add_ps(q, _mm_movehl_ps(q, q));
    return _mm_cvtss_f32(_mm_add_ss(p, _mm_shuffle_ps(p, p, 1)));
  }
};
#elif defined(NP_SIMD128)
struct F32Vec {
  static constexpr int kLanes = 4;
  v128_t v;
  static F32Vec zero() { return {wasm_f32x4_splat(0.0f)}; }
  static F32Vec load(const float* p) { return {wasm_v128_load(p)}; }
  static F32Vec load_bf16(const uint16_t* p) { return {wasm_i32x4_shl(wasm_u32x4_load16x4(p), 16)}; }
  static F32Vec splat(float x) { return {wasm_f32x4_splat(x)}; }
  void store(float* p) const { wasm_v128_store(p, v); }
  // SIMD128 has no fused multiply-add (relaxed SIMD's is not in every engine).
  static F32Vec madd(F32Vec acc, F32Vec a, F32Vec b) { return {wasm_f32x4_add(acc.v, wasm_f32x4_mul(a.v, b.v))}; }
  static F32Vec mul(F32Vec a, F32Vec b) { return {wasm_f32x4_mul(a.v, b.v)}; }
  static F32Vec max(F32Vec a, F32Vec b) { return {wasm_f32x4_pmax(a.v, b.v)}; }
  float max_lane() const {
    return std::max(std::max(wasm_f32x4_extract_lane(v, 0), wasm_f32x4_extract_lane(v, 1)),
                    std::max(wasm_f32x4_extract_lane(v, 2), wasm_f32x4_extract_lane(v, 3)));
  }
  float sum() const {
    return (wasm_f32x4_extract_lane(v, 0) + wasm_f32x4_extract_lane(v, 2)) +
           (wasm_f32x4_extract_lane(v, 1) + wasm_f32x4_extract_lane(v, 3));
  }
};
#else
// Portable: four lanes in plain C++ (the compiler may vectorise the loops).
struct F32Vec {
  static constexpr int kLanes = 4;
  float v[4];
  static F32Vec zero() { return {{0.0f, 0.0f, 0.0f, 0.0f}}; }
  static F32Vec load(const float* p) { return {{p[0], p[1], p[2], p[3]}}; }
  static F32Vec load_bf16(const uint16_t* p) {
    F32Vec r;
    for (int i = 0; i < 4; ++i) {
      const uint32_t u = static_cast<uint32_t>(p[i]) << 16;
      std::memcpy(&r.v[i], &u, 4);
    }
    return r;
  }
  static F32Vec splat(float x) { return {{x, x, x, x}}; }
  void store(float* p) const {
    for (int i = 0; i < 4; ++i) p[i] = v[i];
  }
  static F32Vec madd(F32Vec acc, F32Vec a, F32Vec b) {
    for (int i = 0; i < 4; ++i) acc.v[i] += a.v[i] * b.v[i];
    return acc;
  }
  static F32Vec mul(F32Vec a, F32Vec b) {
    for (int i = 0; i < 4; ++i) a.v[i] *= b.v[i];
    return a;
  }
  static F32Vec max(F32Vec a, F32Vec b) {
    for (int i = 0; i < 4; ++i) a.v[i] = b.v[i] > a.v[i] ? b.v[i] : a.v[i];
    return a;
  }
  float max_lane() const { return std::max(std::max(v[0], v[1]), std::max(v[2], v[3])); }
  float sum() const { return (v[0] + v[2]) + (v[1] + v[3]); }
};
#endif


}  // namespace simd
}  // namespace np
