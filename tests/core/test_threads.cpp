// test_threads.cpp — parallel_for covers every index once, nests safely, and results do not
// depend on the thread count.
#include <catch2/catch.hpp>

#include <atomic>
#include <vector>

#include "np/model.h"
#include "np/threads.h"
#include "ops/ops.h"
#include "util/rng.h"

TEST_CASE("parallel_for covers [0, n) exactly once", "[threads]") {
  for (int threads : {1, 2, 3, 8}) {
    np::set_num_threads(threads);
    REQUIRE(np::num_threads() == threads);
    for (int64_t n : {0, 1, 2, 7, 64, 1000}) {
      for (int64_t min_chunk : {1, 5, 100}) {
        std::vector<std::atomic<int>> hits(static_cast<size_t>(n));
        np::parallel_for(n, min_chunk, [&](int64_t b, int64_t e) {
          REQUIRE(b < e);
          for (int64_t i = b; i < e; ++i) hits[static_cast<size_t>(i)]++;
        });
        for (auto& h : hits) REQUIRE(h.load() == 1);
      }
    }
  }
  np::set_num_threads(0);
}

TEST_CASE("nested parallel_for runs inline", "[threads]") {
  np::set_num_threads(4);
  std::atomic<int64_t> sum{0};
  np::parallel_for(8, 1, [&](int64_t b, int64_t e) {
    for (int64_t i = b; i < e; ++i)
      np::parallel_for(10, 1, [&](int64_t bb, int64_t ee) { sum += (ee - bb) * (i + 1); });
  });
  REQUIRE(sum.load() == 10 * (8 * 9 / 2));
  np::set_num_threads(0);
}

TEST_CASE("linear results are bit-identical across thread counts", "[threads]") {
  np::Rng rng(3);
  np::Matrix W;
  W.rows = 300;
  W.cols = 77;
  W.storage.resize(static_cast<size_t>(W.rows * W.cols));
  for (auto& v : W.storage) v = static_cast<float>(rng.normal());
  W.f32 = W.storage.data();
  std::vector<float> x(5 * 77);
  for (auto& v : x) v = static_cast<float>(rng.normal());
  std::vector<std::vector<float>> outs;
  for (int threads : {1, 2, 3}) {
    np::set_num_threads(threads);
    std::vector<float> y(5 * 300);
    np::linear_forward(y.data(), x.data(), W, 5);
    outs.push_back(y);
  }
  np::set_num_threads(0);
  REQUIRE(outs[0] == outs[1]);
  REQUIRE(outs[0] == outs[2]);
}
