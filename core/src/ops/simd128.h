// simd128.h — the WebAssembly SIMD128 intrinsics the kernels use, and NP_SIMD128 where they
// are available: in Emscripten builds (-msimd128) from <wasm_simd128.h>, and in a native
// build configured with NP_SIMD128_TWIN (CMake option of that name) from the SSE4.1
// definitions below. That twin runs the very kernels the browser runs, on 128-bit x86
// vectors, which is the fair native baseline for the WebAssembly builds (docs/benchmarks.md):
// V8 compiles each of these operations to the same one or two SSE/AVX instructions.
// Only the subset the kernels call is defined; each has the WebAssembly semantics.
#pragma once

#if defined(__wasm_simd128__)
#include <wasm_simd128.h>
#define NP_SIMD128 1
#elif defined(NP_SIMD128_TWIN) && defined(__SSE4_1__) && !defined(__AVX2__)
#include <smmintrin.h>

#include <cstdint>
#include <cstring>

typedef int32_t v128_t __attribute__((vector_size(16)));

inline v128_t np_i(__m128i v) { return reinterpret_cast<v128_t>(v); }
inline v128_t np_f(__m128 v) { return reinterpret_cast<v128_t>(v); }
inline __m128i np_mi(v128_t v) { return reinterpret_cast<__m128i>(v); }
inline __m128 np_mf(v128_t v) { return reinterpret_cast<__m128>(v); }

inline v128_t wasm_v128_load(const void* p) { return np_i(_mm_loadu_si128(static_cast<const __m128i*>(p))); }
inline void wasm_v128_store(void* p, v128_t v) { _mm_storeu_si128(static_cast<__m128i*>(p), np_mi(v)); }
inline v128_t wasm_v128_load32_splat(const void* p) {
  int32_t x;
  std::memcpy(&x, p, sizeof x);
  return np_i(_mm_set1_epi32(x));
}
inline v128_t wasm_i16x8_load8x8(const void* p) {
  return np_i(_mm_cvtepi8_epi16(_mm_loadl_epi64(static_cast<const __m128i*>(p))));
}
inline v128_t wasm_v128_and(v128_t a, v128_t b) { return np_i(_mm_and_si128(np_mi(a), np_mi(b))); }

inline v128_t wasm_f32x4_splat(float x) { return np_f(_mm_set1_ps(x)); }
inline v128_t wasm_f32x4_make(float a, float b, float c, float d) { return np_f(_mm_setr_ps(a, b, c, d)); }
inline v128_t wasm_f32x4_add(v128_t a, v128_t b) { return np_f(_mm_add_ps(np_mf(a), np_mf(b))); }
inline v128_t wasm_f32x4_sub(v128_t a, v128_t b) { return np_f(_mm_sub_ps(np_mf(a), np_mf(b))); }
inline v128_t wasm_f32x4_mul(v128_t a, v128_t b) { return np_f(_mm_mul_ps(np_mf(a), np_mf(b))); }
inline v128_t wasm_f32x4_nearest(v128_t a) {
  return np_f(_mm_round_ps(np_mf(a), _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC));
}
inline v128_t wasm_f32x4_pmax(v128_t a, v128_t b) { return np_f(_mm_max_ps(np_mf(b), np_mf(a))); }
inline v128_t wasm_u32x4_extend_low_u16x8(v128_t a) { return np_i(_mm_cvtepu16_epi32(np_mi(a))); }
inline v128_t wasm_u32x4_load16x4(const void* p) {
  return np_i(_mm_cvtepu16_epi32(_mm_loadl_epi64(static_cast<const __m128i*>(p))));
}
inline v128_t wasm_u32x4_extend_high_u16x8(v128_t a) { return np_i(_mm_cvtepu16_epi32(_mm_srli_si128(np_mi(a), 8))); }
inline v128_t wasm_i16x8_narrow_i32x4(v128_t a, v128_t b) { return np_i(_mm_packs_epi32(np_mi(a), np_mi(b))); }
inline v128_t wasm_f32x4_ge(v128_t a, v128_t b) { return np_f(_mm_cmpge_ps(np_mf(a), np_mf(b))); }
inline v128_t wasm_f32x4_convert_i32x4(v128_t a) { return np_f(_mm_cvtepi32_ps(np_mi(a))); }
inline float wasm_f32x4_extract_lane(v128_t a, int i) { return np_mf(a)[i]; }

inline v128_t wasm_f64x2_splat(double x) { return reinterpret_cast<v128_t>(_mm_set1_pd(x)); }
inline v128_t wasm_f64x2_promote_low_f32x4(v128_t a) { return reinterpret_cast<v128_t>(_mm_cvtps_pd(np_mf(a))); }
inline v128_t wasm_f64x2_add(v128_t a, v128_t b) {
  return reinterpret_cast<v128_t>(_mm_add_pd(reinterpret_cast<__m128d>(a), reinterpret_cast<__m128d>(b)));
}
inline v128_t wasm_f64x2_mul(v128_t a, v128_t b) {
  return reinterpret_cast<v128_t>(_mm_mul_pd(reinterpret_cast<__m128d>(a), reinterpret_cast<__m128d>(b)));
}
inline double wasm_f64x2_extract_lane(v128_t a, int i) { return reinterpret_cast<__m128d>(a)[i]; }

inline v128_t wasm_i32x4_splat(int32_t x) { return np_i(_mm_set1_epi32(x)); }
inline v128_t wasm_i32x4_add(v128_t a, v128_t b) { return np_i(_mm_add_epi32(np_mi(a), np_mi(b))); }
inline v128_t wasm_i32x4_shl(v128_t a, int n) { return np_i(_mm_sll_epi32(np_mi(a), _mm_cvtsi32_si128(n))); }
inline v128_t wasm_i32x4_dot_i16x8(v128_t a, v128_t b) { return np_i(_mm_madd_epi16(np_mi(a), np_mi(b))); }
// Saturating as in WebAssembly: NaN to 0, beyond the range to INT32_MIN / INT32_MAX
// (cvttps gives INT32_MIN for all three; the int8 block quantizers feed NaN from a model
// whose activations overflow).
inline v128_t wasm_i32x4_trunc_sat_f32x4(v128_t a) {
  const __m128 x = np_mf(a);
  const __m128i r = _mm_cvttps_epi32(x);
  const __m128i big = _mm_castps_si128(_mm_cmpge_ps(x, _mm_set1_ps(2147483648.0f)));
  return np_i(_mm_and_si128(_mm_xor_si128(r, big), _mm_castps_si128(_mm_cmpord_ps(x, x))));
}
inline int32_t wasm_i32x4_extract_lane(v128_t a, int i) { return a[i]; }
#define wasm_i32x4_shuffle(a, b, c0, c1, c2, c3) \
  (static_cast<v128_t>(__builtin_shufflevector(static_cast<v128_t>(a), static_cast<v128_t>(b), c0, c1, c2, c3)))

#define NP_SIMD128 1
#endif
