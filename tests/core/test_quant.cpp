// test_quant.cpp — fp16/bf16 conversions and the Q8_0/Q4_0 reference kernels.
// Exhaustive over all 65536 half and bfloat bit patterns; handpicked blocks whose bytes
// were derived by hand (derivations beside them); error bounds on seeded random data.
#include <catch2/catch.hpp>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <random>
#include <vector>

#include "np/quant.h"

namespace {

uint32_t bits(float f) {
  uint32_t u;
  std::memcpy(&u, &f, 4);
  return u;
}

float from_bits(uint32_t u) {
  float f;
  std::memcpy(&f, &u, 4);
  return f;
}

// Value of a finite half, computed independently of fp16_to_fp32.
double half_value(uint16_t h) {
  const int e = (h >> 10) & 0x1f;
  const int m = h & 0x3ff;
  const double mag = e == 0 ? std::ldexp(m, -24) : std::ldexp(1024 + m, e - 25);
  return (h & 0x8000) ? -mag : mag;
}

std::vector<uint8_t> block_bytes(const void* blk, size_t n) {
  const uint8_t* p = static_cast<const uint8_t*>(blk);
  return std::vector<uint8_t>(p, p + n);
}

}  // namespace

TEST_CASE("fp16 -> f32 -> fp16 is exact for all 65536 halves", "[quant]") {
  int wrong_value = 0, wrong_back = 0, first_bad = -1;
  for (uint32_t h = 0; h < 65536; ++h) {
    const float f = np::fp16_to_fp32(static_cast<uint16_t>(h));
    const int e = (h >> 10) & 0x1f;
    const bool neg = (h & 0x8000) != 0;
    bool ok;
    if (e == 31 && (h & 0x3ff) == 0) {
      ok = std::isinf(f) && std::signbit(f) == neg;
    } else if (e == 31) {
      ok = std::isnan(f) && std::signbit(f) == neg;
    } else {
      ok = static_cast<double>(f) == half_value(static_cast<uint16_t>(h)) && std::signbit(f) == neg;
    }
    if (!ok) {
      ++wrong_value;
      if (first_bad < 0) first_bad = static_cast<int>(h);
    }
    if (np::fp32_to_fp16(f) != h) {
      ++wrong_back;
      if (first_bad < 0) first_bad = static_cast<int>(h);
    }
  }
  INFO("first bad half 0x" << std::hex << first_bad);
  REQUIRE(wrong_value == 0);
  REQUIRE(wrong_back == 0);
}

TEST_CASE("fp32 -> fp16 rounds to nearest even", "[quant]") {
  struct Case {
    float f;
    uint16_t h;
  };
  const Case cases[] = {
      {0.0f, 0x0000},
      {-0.0f, 0x8000},
      {1.0f, 0x3C00},
      {-2.0f, 0xC000},
      {0.5f, 0x3800},
      {65504.0f, 0x7BFF},                       // largest finite half
      {65519.99f, 0x7BFF},                      // below the midpoint to 2^16
      {65520.0f, 0x7C00},                       // midpoint 65504|65536, odd mantissa: up to inf
      {1e10f, 0x7C00},
      {-1e10f, 0xFC00},
      {std::numeric_limits<float>::infinity(), 0x7C00},
      {-std::numeric_limits<float>::infinity(), 0xFC00},
      {1.0f + 0x1p-11f, 0x3C00},                // tie between 0x3C00 and 0x3C01: even
      {1.0f + 3 * 0x1p-11f, 0x3C02},            // tie between 0x3C01 and 0x3C02: even
      {1.0f + 0x1p-11f + 0x1p-23f, 0x3C01},     // just above the tie
      {1.0f + 0x1p-11f - 0x1p-23f, 0x3C00},     // just below the tie
      {0x1p-14f, 0x0400},                       // smallest normal
      {1023 * 0x1p-24f, 0x03FF},                // largest subnormal
      {1023.5f * 0x1p-24f, 0x0400},             // tie 0x03FF|0x0400: even, into the normals
      {0x1p-24f, 0x0001},                       // smallest subnormal
      {0x1p-25f, 0x0000},                       // tie 0|1: even
      {0x1p-25f + 0x1p-40f, 0x0001},            // just above: up
      {3 * 0x1p-25f, 0x0002},                   // tie 1|2: even
      {5 * 0x1p-25f, 0x0002},                   // tie 2|3: even
      {-0x1p-24f, 0x8001},
      {0x1p-26f, 0x0000},
      {std::numeric_limits<float>::min(), 0x0000},          // f32 smallest normal
      {std::numeric_limits<float>::denorm_min(), 0x0000},   // f32 subnormal
      {-std::numeric_limits<float>::denorm_min(), 0x8000},
      {std::numeric_limits<float>::max(), 0x7C00},
      {0.1f, 0x2E66},                           // 0.1 = 1.6 * 2^-4; 0.6*1024 = 614.4 -> 614 = 0x266
      {0.333333343f, 0x3555},                   // 1/3: 1.333 * 2^-2; 0.3333*1024 = 341.33 -> 341
  };
  for (const Case& c : cases) {
    INFO("f = " << c.f << " (bits 0x" << std::hex << bits(c.f) << ")");
    CHECK(np::fp32_to_fp16(c.f) == c.h);
  }
  const uint16_t qnan = np::fp32_to_fp16(std::numeric_limits<float>::quiet_NaN());
  CHECK((qnan & 0x7C00) == 0x7C00);
  CHECK((qnan & 0x03FF) != 0);
  // A NaN whose payload lies only in the 13 dropped bits stays a NaN (quiet bit set).
  const uint16_t low_payload = np::fp32_to_fp16(from_bits(0xFF800001u));
  CHECK(low_payload == 0xFE00);
}

TEST_CASE("fp32 -> fp16 picks the nearest half (ties even) on a sweep of f32 values", "[quant]") {
  int bad = 0;
  uint32_t first_bad = 0;
  for (uint64_t u = 0; u < 0x7F800000u; u += 1021) {
    const float f = from_bits(static_cast<uint32_t>(u));
    const uint16_t h = np::fp32_to_fp16(f);
    bool ok;
    if (static_cast<double>(f) >= 65520.0) {
      ok = h == 0x7C00;
    } else {
      const double x = f;
      const double err = std::fabs(x - half_value(h));
      ok = h < 0x7C00;
      if (ok && h > 0) {
        const double lo = std::fabs(x - half_value(static_cast<uint16_t>(h - 1)));
        ok = err < lo || (err == lo && (h & 1) == 0);
      }
      if (ok && h < 0x7BFF) {
        const double hi = std::fabs(x - half_value(static_cast<uint16_t>(h + 1)));
        ok = err < hi || (err == hi && (h & 1) == 0);
      }
    }
    if (np::fp32_to_fp16(-f) != (h | 0x8000)) ok = false;
    if (!ok && bad++ == 0) first_bad = static_cast<uint32_t>(u);
  }
  INFO("first bad f32 bits 0x" << std::hex << first_bad);
  REQUIRE(bad == 0);

  // Every midpoint between adjacent finite halves (exact in f32), and one f32 ulp either
  // side of it: the midpoint goes to the even half, the neighbours to the nearer one.
  int bad_ties = 0;
  for (uint32_t h = 0; h < 0x7BFF; ++h) {
    const float mid = static_cast<float>((half_value(static_cast<uint16_t>(h)) +
                                          half_value(static_cast<uint16_t>(h + 1))) / 2);
    const uint16_t even = (h & 1) ? static_cast<uint16_t>(h + 1) : static_cast<uint16_t>(h);
    if (np::fp32_to_fp16(mid) != even) ++bad_ties;
    if (np::fp32_to_fp16(std::nextafter(mid, 0.0f)) != h) ++bad_ties;
    if (np::fp32_to_fp16(std::nextafter(mid, 1e9f)) != h + 1) ++bad_ties;
    if (np::fp32_to_fp16(-mid) != (even | 0x8000)) ++bad_ties;
  }
  REQUIRE(bad_ties == 0);
}

TEST_CASE("bf16 conversions: exhaustive round trip and rounding", "[quant]") {
  int bad = 0;
  for (uint32_t h = 0; h < 65536; ++h) {
    const float f = np::bf16_to_fp32(static_cast<uint16_t>(h));
    if (bits(f) != h << 16) ++bad;
    if (np::fp32_to_bf16(f) != h) ++bad;
  }
  REQUIRE(bad == 0);

  struct Case {
    float f;
    uint16_t h;
  };
  const Case cases[] = {
      {1.0f, 0x3F80},
      {-1.0f, 0xBF80},
      {1.0f + 0x1p-8f, 0x3F80},               // tie 0x3F80|0x3F81: even
      {1.0f + 3 * 0x1p-8f, 0x3F82},           // tie 0x3F81|0x3F82: even
      {1.0f + 0x1p-8f + 0x1p-23f, 0x3F81},    // above the tie
      {std::numeric_limits<float>::max(), 0x7F80},  // rounds past the largest bf16: inf
      {std::numeric_limits<float>::infinity(), 0x7F80},
      {std::numeric_limits<float>::denorm_min(), 0x0000},   // 2^-149 is below half a bf16 ulp
      {from_bits(0x00018000u), 0x0002},       // subnormal tie 0x0001|0x0002: even
      {from_bits(0x00008000u), 0x0000},       // subnormal tie 0|1: even
      {3.14159274f, 0x4049},                  // 0x40490FDB: low half 0x0FDB < 0x8000
  };
  for (const Case& c : cases) {
    INFO("f = " << c.f);
    CHECK(np::fp32_to_bf16(c.f) == c.h);
  }
  const uint16_t n = np::fp32_to_bf16(from_bits(0x7F800001u));  // NaN payload only in low bits
  CHECK(n == 0x7FC0);
  CHECK(std::isnan(np::bf16_to_fp32(n)));

  int sweep_bad = 0;
  for (uint64_t u = 0; u < 0x7F7F0000u; u += 1021) {
    const float f = from_bits(static_cast<uint32_t>(u));
    const uint16_t h = np::fp32_to_bf16(f);
    const double err = std::fabs(static_cast<double>(f) - np::bf16_to_fp32(h));
    const double lo = h > 0 ? std::fabs(static_cast<double>(f) - np::bf16_to_fp32(h - 1)) : 1e300;
    const double hi = std::fabs(static_cast<double>(f) - np::bf16_to_fp32(h + 1));
    const bool ok = (err < lo || (err == lo && (h & 1) == 0)) && (err < hi || (err == hi && (h & 1) == 0));
    if (!ok) ++sweep_bad;
  }
  REQUIRE(sweep_bad == 0);
}

TEST_CASE("Q8_0 handpicked blocks", "[quant]") {
  SECTION("scale exactly 1: q = roundf(x), halves away from zero") {
    // amax = 127 -> d = 127/127 = 1.0 = fp16 0x3C00 (bytes 00 3C); id = 1, so q = roundf(x).
    float x[32] = {127, -127, 0, 0.49f, 0.5f, -0.5f, 1.5f, 2.5f, -2.5f, 3.49f, -100.6f, 64};
    np::BlockQ8_0 b;
    np::quantize_row_q8_0_ref(x, &b, 32);
    std::vector<uint8_t> expected(34, 0);
    const uint8_t head[] = {0x00, 0x3C,
                            0x7F,   // 127
                            0x81,   // -127
                            0x00,   // 0
                            0x00,   // roundf(0.49) = 0
                            0x01,   // roundf(0.5) = 1 (away from zero, not to even)
                            0xFF,   // roundf(-0.5) = -1
                            0x02,   // roundf(1.5) = 2
                            0x03,   // roundf(2.5) = 3 (to even would give 2)
                            0xFD,   // roundf(-2.5) = -3
                            0x03,   // roundf(3.49) = 3
                            0x9B,   // roundf(-100.6) = -101 = 0x9B
                            0x40};  // 64
    std::memcpy(expected.data(), head, sizeof head);
    CHECK(block_bytes(&b, 34) == expected);
    float y[32];
    np::dequantize_row_q8_0_ref(&b, y, 32);
    CHECK(y[7] == 3.0f);
    CHECK(y[10] == -101.0f);
  }
  SECTION("quantization uses the inverse of the unrounded d") {
    // amax = 1 -> d = 1/127 = 0.007874016f; fp16(d) = 0x2008 (2^-7 * (1 + 8/1024) =
    // 0.00787353515625; bytes 08 20). id = 1/d = 127.0f exactly.
    // x4 = 63.498f/127 = 0.49998426f: x4*id = 63.498 -> 63. Dividing by the rounded
    // d instead would give 63.5019 -> 64.
    float x[32] = {1.0f, 0.5f, -0.5f, -0.25f, 63.498f / 127.0f};
    np::BlockQ8_0 b;
    np::quantize_row_q8_0_ref(x, &b, 32);
    std::vector<uint8_t> expected(34, 0);
    const uint8_t head[] = {0x08, 0x20,
                            0x7F,   // 1.0*127 = 127
                            0x40,   // 63.5 -> 64
                            0xC0,   // -63.5 -> -64
                            0xE0,   // -31.75 -> -32
                            0x3F};  // 63.498 -> 63
    std::memcpy(expected.data(), head, sizeof head);
    CHECK(block_bytes(&b, 34) == expected);
    float y[32];
    np::dequantize_row_q8_0_ref(&b, y, 32);
    CHECK(y[0] == 127 * 0.00787353515625f);  // value = q * fp16_to_fp32(d)
  }
  SECTION("all-zero block gives d = 0 and q = 0") {
    float x[32] = {};
    np::BlockQ8_0 b;
    std::memset(&b, 0xAB, sizeof b);
    np::quantize_row_q8_0_ref(x, &b, 32);
    CHECK(block_bytes(&b, 34) == std::vector<uint8_t>(34, 0));
    float y[32];
    np::dequantize_row_q8_0_ref(&b, y, 32);
    for (float v : y) CHECK(v == 0.0f);
  }
}

TEST_CASE("Q4_0 handpicked blocks", "[quant]") {
  SECTION("negative extreme: d = -8/-8 = 1") {
    // m = -8 -> d = 1.0 = 0x3C00 (bytes 00 3C), id = 1; q = min(15, floor(x + 8.5)).
    // Low nibbles hold x[0..15], high nibbles x[16..31].
    float x[32] = {-8, 7, 7.6f, 0, 0.5f, -0.5f, 2.4f, -2.6f};
    x[16] = -7.5f;
    x[17] = 1.0f;
    // q[0..7] = floor(0.5)=0, floor(15.5)=15, floor(16.1)=16->15, 8, floor(9.0)=9,
    //           floor(8.0)=8, floor(10.9)=10, floor(5.9)=5; q[8..15] = 8
    // q[16] = floor(1.0) = 1, q[17] = floor(9.5) = 9, q[18..31] = 8
    const uint8_t expected[18] = {0x00, 0x3C, 0x10, 0x9F, 0x8F, 0x88, 0x89, 0x88, 0x8A,
                                  0x85, 0x88, 0x88, 0x88, 0x88, 0x88, 0x88, 0x88, 0x88};
    np::BlockQ4_0 b;
    np::quantize_row_q4_0_ref(x, &b, 32);
    CHECK(block_bytes(&b, 18) == block_bytes(expected, 18));
    float y[32];
    np::dequantize_row_q4_0_ref(&b, y, 32);
    CHECK(y[0] == -8.0f);
    CHECK(y[2] == 7.0f);   // 7.6 clamps to q = 15 -> 7
    CHECK(y[4] == 1.0f);   // 0.5 rounds up
    CHECK(y[5] == 0.0f);   // -0.5 rounds up too
    CHECK(y[16] == -7.0f);
  }
  SECTION("positive extreme: d = 4/-8 = -0.5, and -max clamps to q = 15") {
    // m = 4 -> d = -0.5 = 0xB800 (bytes 00 B8), id = -2.
    // x=4: -8+8.5 = 0.5 -> 0; x=-4: 8+8.5 = 16.5 -> 16 -> 15 (value -3.5);
    // x=1: -2+8.5 = 6.5 -> 6; x=-1.25: 2.5+8.5 = 11 -> 11; zeros -> 8.
    float x[32] = {4, -4, 1, -1.25f};
    const uint8_t expected[18] = {0x00, 0xB8, 0x80, 0x8F, 0x86, 0x8B, 0x88, 0x88, 0x88,
                                  0x88, 0x88, 0x88, 0x88, 0x88, 0x88, 0x88, 0x88, 0x88};
    np::BlockQ4_0 b;
    np::quantize_row_q4_0_ref(x, &b, 32);
    CHECK(block_bytes(&b, 18) == block_bytes(expected, 18));
    float y[32];
    np::dequantize_row_q4_0_ref(&b, y, 32);
    CHECK(y[0] == 4.0f);
    CHECK(y[1] == -3.5f);
    CHECK(y[2] == 1.0f);
    CHECK(y[3] == -1.5f);
  }
  SECTION("equal magnitudes: the first one sets the sign of d") {
    // x = {-3, 3, 0...}: m = -3 -> d = 0.375 = 1.5*2^-2 = 0x3600; id = 2.6666667f;
    // -3*id = -8 -> q 0; 3*id = 8 -> 16.5 -> 15. Swapped: m = 3, d = -0.375 = 0xB600.
    float a[32] = {-3, 3};
    float b[32] = {3, -3};
    const uint8_t ea[18] = {0x00, 0x36, 0x80, 0x8F, 0x88, 0x88, 0x88, 0x88, 0x88,
                            0x88, 0x88, 0x88, 0x88, 0x88, 0x88, 0x88, 0x88, 0x88};
    const uint8_t eb[18] = {0x00, 0xB6, 0x80, 0x8F, 0x88, 0x88, 0x88, 0x88, 0x88,
                            0x88, 0x88, 0x88, 0x88, 0x88, 0x88, 0x88, 0x88, 0x88};
    np::BlockQ4_0 qa, qb;
    np::quantize_row_q4_0_ref(a, &qa, 32);
    np::quantize_row_q4_0_ref(b, &qb, 32);
    CHECK(block_bytes(&qa, 18) == block_bytes(ea, 18));
    CHECK(block_bytes(&qb, 18) == block_bytes(eb, 18));
  }
  SECTION("all-zero block gives d = -0 and q = 8 everywhere") {
    // m = 0 -> d = 0/-8 = -0.0f -> fp16 0x8000 (bytes 00 80), as ggml's reference writes;
    // id = 0, so every q = floor(0 + 8.5) = 8.
    float x[32] = {};
    np::BlockQ4_0 b;
    np::quantize_row_q4_0_ref(x, &b, 32);
    std::vector<uint8_t> expected(18, 0x88);
    expected[0] = 0x00;
    expected[1] = 0x80;
    CHECK(block_bytes(&b, 18) == expected);
    float y[32];
    np::dequantize_row_q4_0_ref(&b, y, 32);
    for (float v : y) CHECK(v == 0.0f);
  }
  SECTION("nibble layout: byte j = value j (low) | value j+16 (high)") {
    // m = -8 at index 0 -> d = 1; x[j] = j - 8 for j < 16 gives q = j; x[j+16] = 7 - j
    // gives q = 15 - j. So byte j = j | (15 - j) << 4.
    float x[32];
    for (int j = 0; j < 16; ++j) {
      x[j] = static_cast<float>(j - 8);
      x[j + 16] = static_cast<float>(7 - j);
    }
    np::BlockQ4_0 b;
    np::quantize_row_q4_0_ref(x, &b, 32);
    CHECK(b.d == 0x3C00);
    for (int j = 0; j < 16; ++j) {
      INFO("byte " << j);
      CHECK(b.qs[j] == static_cast<uint8_t>(j | ((15 - j) << 4)));
    }
    float y[32];
    np::dequantize_row_q4_0_ref(&b, y, 32);
    for (int j = 0; j < 32; ++j) CHECK(y[j] == x[j]);
  }
}

TEST_CASE("Q8_0 and Q4_0 error bounds on random data", "[quant]") {
  std::mt19937 rng(1234);
  std::uniform_real_distribution<float> unit(-1.0f, 1.0f);
  std::uniform_real_distribution<float> log_scale(-12.0f, 12.0f);
  const int kBlocks = 400;
  std::vector<float> x(kBlocks * 32), y(kBlocks * 32);
  for (int b = 0; b < kBlocks; ++b) {
    const float scale = std::exp2(log_scale(rng));
    for (int j = 0; j < 32; ++j) x[b * 32 + j] = unit(rng) * scale;
  }
  std::vector<np::BlockQ8_0> q8(kBlocks);
  np::quantize_row_q8_0_ref(x.data(), q8.data(), x.size());
  np::dequantize_row_q8_0_ref(q8.data(), y.data(), x.size());
  int bad8 = 0;
  for (int b = 0; b < kBlocks; ++b) {
    float amax = 0;
    for (int j = 0; j < 32; ++j) amax = std::fmax(amax, std::fabs(x[b * 32 + j]));
    const double d = amax / 127.0;
    const double dh = np::fp16_to_fp32(q8[b].d);
    // |x - q*d| <= d/2 from rounding, plus |q| <= 127 times the fp16 error of d.
    const double bound = 0.5 * d + 127.0 * std::fabs(d - dh) + 1e-6 * d;
    for (int j = 0; j < 32; ++j) {
      if (std::fabs(static_cast<double>(x[b * 32 + j]) - y[b * 32 + j]) > bound) ++bad8;
    }
  }
  CHECK(bad8 == 0);

  std::vector<np::BlockQ4_0> q4(kBlocks);
  np::quantize_row_q4_0_ref(x.data(), q4.data(), x.size());
  np::dequantize_row_q4_0_ref(q4.data(), y.data(), x.size());
  int bad4 = 0;
  for (int b = 0; b < kBlocks; ++b) {
    float amax = 0, m = 0;
    for (int j = 0; j < 32; ++j) {
      if (std::fabs(x[b * 32 + j]) > amax) {
        amax = std::fabs(x[b * 32 + j]);
        m = x[b * 32 + j];
      }
    }
    const double d = m / -8.0;
    const double dh = np::fp16_to_fp32(q4[b].d);
    const double fp16_err = 8.0 * std::fabs(d - dh) + 1e-6 * std::fabs(d);
    for (int j = 0; j < 32; ++j) {
      const double xv = x[b * 32 + j];
      const double err = std::fabs(xv - y[b * 32 + j]);
      // Levels run from -8d to 7d: x/d in [-8, 7.5) rounds to the nearest level (|err| <=
      // |d|/2); x/d in [7.5, 8] (the side opposite m) clamps to 7d (|err| <= |d|).
      const double bound = (xv / d < 7.5 ? 0.5 : 1.0) * std::fabs(d) + fp16_err;
      if (err > bound) ++bad4;
    }
  }
  CHECK(bad4 == 0);
}

TEST_CASE("quantize_from_f32 / dequantize_to_f32 on unaligned buffers match the row kernels", "[quant]") {
  std::mt19937 rng(99);
  std::uniform_real_distribution<float> dist(-3.0f, 3.0f);
  const int n = 96;
  std::vector<float> x(n);
  for (float& v : x) v = dist(rng);
  const np::GgmlType types[] = {np::GgmlType::F32, np::GgmlType::F16, np::GgmlType::BF16,
                                np::GgmlType::Q8_0, np::GgmlType::Q4_0};
  for (np::GgmlType t : types) {
    INFO(np::ggml_type_name(t));
    uint64_t nbytes = 0;
    REQUIRE(np::ggml_row_bytes(t, n, &nbytes).ok());
    std::vector<uint8_t> aligned(nbytes), shifted(nbytes + 1);
    np::quantize_from_f32(t, x.data(), aligned.data(), n);
    np::quantize_from_f32(t, x.data(), shifted.data() + 1, n);
    CHECK(std::vector<uint8_t>(shifted.begin() + 1, shifted.end()) == aligned);

    std::vector<float> y(n), want(n);
    np::dequantize_to_f32(t, shifted.data() + 1, y.data(), n);
    switch (t) {
      case np::GgmlType::F32: want = x; break;
      case np::GgmlType::F16:
        for (int i = 0; i < n; ++i) want[i] = np::fp16_to_fp32(np::fp32_to_fp16(x[i]));
        break;
      case np::GgmlType::BF16:
        for (int i = 0; i < n; ++i) want[i] = np::bf16_to_fp32(np::fp32_to_bf16(x[i]));
        break;
      case np::GgmlType::Q8_0: {
        std::vector<np::BlockQ8_0> q(n / 32);
        np::quantize_row_q8_0_ref(x.data(), q.data(), n);
        np::dequantize_row_q8_0_ref(q.data(), want.data(), n);
        break;
      }
      case np::GgmlType::Q4_0: {
        std::vector<np::BlockQ4_0> q(n / 32);
        np::quantize_row_q4_0_ref(x.data(), q.data(), n);
        np::dequantize_row_q4_0_ref(q.data(), want.data(), n);
        break;
      }
    }
    CHECK(y == want);
  }
}

TEST_CASE("ggml type table and row sizes", "[quant][gguf]") {
  uint64_t b = 0;
  CHECK(np::ggml_row_bytes(np::GgmlType::Q8_0, 64, &b).ok());
  CHECK(b == 68);
  CHECK(np::ggml_row_bytes(np::GgmlType::Q4_0, 64, &b).ok());
  CHECK(b == 36);
  CHECK(np::ggml_row_bytes(np::GgmlType::F16, 3, &b).ok());
  CHECK(b == 6);
  CHECK(np::ggml_row_bytes(np::GgmlType::Q4_0, 33, &b).code() == np::Code::kBadShape);
  CHECK(np::ggml_row_bytes(static_cast<np::GgmlType>(3), 32, &b).code() == np::Code::kBadType);
  CHECK(np::ggml_tensor_nbytes(np::GgmlType::F32, {4, 3}, &b).ok());
  CHECK(b == 48);
  CHECK(np::ggml_tensor_nbytes(np::GgmlType::F32, {int64_t(1) << 62}, &b).code() == np::Code::kOverflow);
  CHECK(np::ggml_tensor_nbytes(np::GgmlType::F32, {int64_t(1) << 32, int64_t(1) << 32}, &b).code() ==
        np::Code::kOverflow);
  CHECK(np::ggml_tensor_nbytes(np::GgmlType::F32, {}, &b).code() == np::Code::kBadShape);
  CHECK(np::ggml_tensor_nbytes(np::GgmlType::F32, {2, 0}, &b).code() == np::Code::kBadShape);
  CHECK(np::ggml_type_known(30));
  CHECK_FALSE(np::ggml_type_known(3));
  CHECK(np::ggml_type_block_size(np::GgmlType::Q4_0) == 32);
  CHECK(np::ggml_type_block_bytes(np::GgmlType::BF16) == 2);
  CHECK(std::string(np::ggml_type_name(np::GgmlType::Q8_0)) == "Q8_0");
}

TEST_CASE("Q4_0 widens to Q8_0 blocks with the same values, bit for bit", "[quant]") {
  // Every byte value in every nibble position, scales of both signs, zero, a subnormal half and
  // the largest half; source and destination unaligned.
  std::mt19937 rng(123);
  const uint16_t scales[] = {0x3c00, 0xbc00, 0x0000, 0x8000, 0x0001, 0x7bff, 0x2e66, 0xd140};
  const int n_blocks = 16 * static_cast<int>(sizeof scales / sizeof scales[0]);
  std::vector<uint8_t> q4(1 + static_cast<size_t>(n_blocks) * 18), q8(3 + static_cast<size_t>(n_blocks) * 34, 0xAB);
  for (int b = 0; b < n_blocks; ++b) {
    uint8_t* blk = q4.data() + 1 + b * 18;
    const uint16_t d = scales[b / 16];
    std::memcpy(blk, &d, 2);
    for (int j = 0; j < 16; ++j) blk[2 + j] = static_cast<uint8_t>(b % 16 == 0 ? 16 * j + (15 - j) : rng() & 0xff);
  }
  np::widen_q4_0_to_q8_0(q4.data() + 1, q8.data() + 3, n_blocks);
  std::vector<float> from4(static_cast<size_t>(n_blocks) * 32), from8(from4.size());
  np::dequantize_to_f32(np::GgmlType::Q4_0, q4.data() + 1, from4.data(), static_cast<int64_t>(from4.size()));
  np::dequantize_to_f32(np::GgmlType::Q8_0, q8.data() + 3, from8.data(), static_cast<int64_t>(from8.size()));
  int differ = 0;
  for (size_t i = 0; i < from4.size(); ++i) differ += bits(from4[i]) != bits(from8[i]);
  CHECK(differ == 0);
  for (int b = 0; b < n_blocks; ++b) {  // the scale's bytes as stored; values -8..7
    CHECK(std::memcmp(q4.data() + 1 + b * 18, q8.data() + 3 + b * 34, 2) == 0);
    for (int j = 0; j < 32; ++j) {
      const int8_t v = static_cast<int8_t>(q8[3 + b * 34 + 2 + j]);
      REQUIRE((v >= -8 && v <= 7));
    }
  }
  CHECK(q8[0] == 0xAB);  // nothing written outside the blocks
  CHECK(q8[1] == 0xAB);
  CHECK(q8[2] == 0xAB);
}
