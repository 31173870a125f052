// test_status.cpp — Status/Result basics.
#include <catch2/catch.hpp>
#include "np/status.h"

TEST_CASE("status carries code and message", "[status]") {
  np::Status ok;
  REQUIRE(ok.ok());
  np::Status bad(np::Code::kBadShape, "enc.blk.0.attn_q.weight: got [4,4], expected [8,8]");
  REQUIRE_FALSE(bad.ok());
  REQUIRE(bad.to_string() == "BAD_SHAPE: enc.blk.0.attn_q.weight: got [4,4], expected [8,8]");
  np::Result<int> r(bad);
  REQUIRE_FALSE(r.ok());
  REQUIRE(r.status().code() == np::Code::kBadShape);
  np::Result<int> v(7);
  REQUIRE(v.ok());
  REQUIRE(v.value() == 7);
}
