// test_limits.cpp — the input limits of one call ([limits]): query bytes, tools JSON bytes,
// number of tools, JSON nesting, the output-token budget, and a model whose shape needs more
// working memory per call than kMaxCallWorkingBytes (refused before it is allocated).
// The values are listed in docs/reliability.md.
#include <catch2/catch.hpp>

#include "test_util.h"

#include <string>

#include "np/model.h"
#include "np/tool_caller.h"
#include "np/tools.h"

using np::Code;

namespace {

std::shared_ptr<const np::Model> model_of(const np::ModelConfig& config) { return np_test::random_model(3, config); }

const char* kTools = R"([{"name":"f","parameters":{"a":{"type":"string"}}}])";

}  // namespace

TEST_CASE("inputs over the limits are refused with INVALID_INPUT", "[limits]") {
  np::ToolCaller caller(model_of(np::ModelConfig::small()));
  // Query: kMaxQueryBytes is accepted (and cut to the context), one byte more is refused.
  const std::string at_limit(np::kMaxQueryBytes, 'a');
  CHECK(caller.call(at_limit, kTools).ok());
  auto over = caller.call(at_limit + "a", kTools);
  CHECK(over.status().code() == Code::kInvalidInput);
  CHECK(over.status().message().find(std::to_string(np::kMaxQueryBytes)) != std::string::npos);

  // Tools JSON bytes: padding inside a description pushes it past 1 MiB.
  std::string big = R"([{"name":"f","description":")" + std::string(np::kMaxToolsJsonBytes, 'x') + R"("}])";
  CHECK(caller.call("hi", big).status().code() == Code::kInvalidInput);

  // Number of tools.
  std::string many = "[";
  for (size_t i = 0; i <= np::kMaxTools; ++i) many += (i ? ",{\"name\":\"t" : "{\"name\":\"t") + std::to_string(i) + "\"}";
  many += "]";
  CHECK(caller.call("hi", many).status().code() == Code::kInvalidInput);

  // Nesting deeper than kMaxJsonDepth.
  std::string deep = R"([{"name":"f","parameters":{"a":{"type":"string","x":)";
  for (int i = 0; i < np::kMaxJsonDepth; ++i) deep += "[";
  for (int i = 0; i < np::kMaxJsonDepth; ++i) deep += "]";
  deep += "}}}]";
  CHECK(caller.call("hi", deep).status().code() == Code::kInvalidInput);

  // Output tokens: negative is refused, more than the decoder context is lowered to it.
  np::CallOptions o;
  o.max_tokens = -1;
  CHECK(caller.call("hi", kTools, o).status().code() == Code::kInvalidInput);
  o.max_tokens = 1 << 30;
  auto r = caller.call("hi", kTools, o);
  REQUIRE(r.ok());
  CHECK(r.value().output_tokens <= caller.model().config().max_dec_len - 1);
}

TEST_CASE("a model that needs too much working memory per call is refused first", "[limits]") {
  // Needle v1 itself is far below the limit.
  const uint64_t needle = np::call_working_bytes(np::ModelConfig::needle_v1(), np::ModelConfig::needle_v1().max_enc_len);
  CHECK(needle < (uint64_t{64} << 20));
  WARN("Needle v1 working memory per call at a full encoder context: " << needle << " bytes");

  // Small weights, but a decoder cache of 128 layers x 65536 positions x 32 floats x K and V
  // = 2 GiB, and a little more for the rest.
  np::ModelConfig c = np::ModelConfig::small();
  c.n_dec_layers = 128;
  c.max_dec_len = 65536;
  REQUIRE(np::call_working_bytes(c, 16) > np::kMaxCallWorkingBytes);
  np::ToolCaller caller(model_of(c));
  auto r = caller.call("hi", kTools);
  CHECK(r.status().code() == Code::kInvalidInput);
  CHECK(r.status().message().find("working memory") != std::string::npos);
}
