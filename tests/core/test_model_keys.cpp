// test_model_keys.cpp — broken models, one known metadata key at a time ([model][bad-file]):
// each key the loader reads (needle.*, tokenizer.ggml.*) given a value of the wrong type or
// out of range in an otherwise valid random model, loaded through GgufFile + Model::load,
// must fail cleanly with the code for its kind (BAD_METADATA for needle.* and the special
// ids, BAD_TOKENIZER for the vocabulary arrays and switches) and a message naming it. Complements test_model.cpp
// (missing/unknown/mis-shaped tensors, architecture, counts) and test_gguf.cpp (the file
// layer's 43 handcrafted files).
#include <catch2/catch.hpp>

#include <string>
#include <vector>

#include "np/gguf.h"
#include "np/model.h"
#include "test_util.h"

using np::Code;
using np::GgufValue;
using np::GgufValueType;

namespace {

// A valid small random model with one key replaced, loaded from its bytes.
np::Status load_with(const std::string& key, const GgufValue& value) {
  np::GgufWriter w;
  auto tok = np::synthetic_tokenizer(512);
  REQUIRE(tok.ok());
  REQUIRE(np::model_write_random(np::ModelConfig::small(), tok.value(), 9, np::GgmlType::F32, &w).ok());
  w.set_kv(key, value);
  auto bytes = w.to_bytes();
  REQUIRE(bytes.ok());
  auto f = np::GgufFile::open_bytes(bytes.take());
  if (!f.ok()) return f.status();
  auto m = np::Model::load(f.take());
  return m.ok() ? np::Status::Ok() : m.status();
}

GgufValue array_of(GgufValueType elem, size_t n, const GgufValue& item) {
  return GgufValue::make_array(elem, std::vector<GgufValue>(n, item));
}

}  // namespace

TEST_CASE("known keys with a wrong type or value are refused, each with its code", "[model][bad-file]") {
  struct Case {
    const char* key;
    GgufValue value;
    Code code;
    const char* names = nullptr;  // what the message must contain (the key when null)
  };
  const GgufValue s = GgufValue::make_string("x");
  const std::vector<Case> cases = {
      // needle.* hyperparameters: a string, a float, a negative or an absurd value
      {"needle.embedding_length", GgufValue::make_f32(64.0f), Code::kBadMetadata},
      {"needle.embedding_length", GgufValue::make_u64(uint64_t{1} << 40), Code::kBadMetadata},
      {"needle.attention.head_count", s, Code::kBadMetadata},
      {"needle.attention.head_count_kv", GgufValue::make_i32(-2), Code::kBadMetadata},
      {"needle.encoder.block_count", GgufValue::make_bool(true), Code::kBadMetadata},
      {"needle.decoder.block_count", GgufValue::make_u32(100000), Code::kBadMetadata, "block counts"},
      {"needle.context_length", GgufValue::make_i32(-1), Code::kBadMetadata},
      {"needle.context_length", GgufValue::make_u32(1u << 20), Code::kBadMetadata, "context_length out of range"},
      {"needle.decoder_context_length", s, Code::kBadMetadata},
      {"needle.rope.freq_base", s, Code::kBadMetadata},
      {"needle.rope.freq_base", GgufValue::make_f32(-1.0f), Code::kBadMetadata, "rope.freq_base"},
      {"needle.attention.layer_norm_rms_epsilon", s, Code::kBadMetadata},
      {"needle.attention.layer_norm_rms_epsilon", GgufValue::make_f32(2.0f), Code::kBadMetadata, "layer_norm_rms_epsilon"},
      {"needle.tool_call_token_id", GgufValue::make_u32(512), Code::kBadMetadata, "special token id 512"},
      {"needle.tools_token_id", s, Code::kBadMetadata},
      {"needle.format_version", s, Code::kBadMetadata},
      {"needle.encoder.mask", GgufValue::make_u32(1), Code::kBadMetadata},
      {"needle.contrastive.dim", GgufValue::make_u32(1u << 20), Code::kBadMetadata, "contrastive.dim"},
      {"needlepoint.decode.tool_prior_name", s, Code::kBadMetadata},
      {"needlepoint.decode.tool_prior_name", GgufValue::make_f32(-1.0f), Code::kBadMetadata},
      {"needlepoint.decode.tool_prior_call", GgufValue::make_f32(1e9f), Code::kBadMetadata},
      {"needlepoint.decode.tool_prior_margin", GgufValue::make_f32(-2.0f), Code::kBadMetadata},
      {"needlepoint.decode.tool_prior_sole", GgufValue::make_f32(-0.5f), Code::kBadMetadata},
      {"needlepoint.decode.echo_prior", GgufValue::make_f32(101.0f), Code::kBadMetadata},
      {"general.architecture", GgufValue::make_u32(7), Code::kBadMetadata},
      // tokenizer.ggml.*: arrays of the wrong element type, the wrong length, wrong scalars
      {"tokenizer.ggml.tokens", array_of(GgufValueType::U32, 512, GgufValue::make_u32(1)), Code::kBadTokenizer},
      {"tokenizer.ggml.scores", array_of(GgufValueType::STRING, 512, s), Code::kBadTokenizer},
      {"tokenizer.ggml.token_type", array_of(GgufValueType::F32, 512, GgufValue::make_f32(1.0f)), Code::kBadTokenizer},
      {"tokenizer.ggml.scores", array_of(GgufValueType::F32, 3, GgufValue::make_f32(0.0f)), Code::kBadTokenizer},
      {"tokenizer.ggml.token_type", array_of(GgufValueType::I32, 512, GgufValue::make_i32(99)), Code::kBadTokenizer},
      {"tokenizer.ggml.tokens", s, Code::kBadMetadata},
      {"tokenizer.ggml.model", GgufValue::make_string("wordpiece"), Code::kBadTokenizer},
      {"tokenizer.ggml.eos_token_id", GgufValue::make_u32(1u << 30), Code::kBadMetadata, "special token id 1073741824"},
      {"tokenizer.ggml.add_space_prefix", GgufValue::make_string("yes"), Code::kBadTokenizer},
  };
  for (const Case& c : cases) {
    np::Status st = load_with(c.key, c.value);
    INFO(c.key << " -> " << st.to_string());
    CHECK(st.code() == c.code);
    CHECK(st.message().find(c.names ? c.names : c.key) != std::string::npos);
  }
}

TEST_CASE("the lexical tool prior's weights are read from the file, 0 without them", "[model]") {
  for (const bool with_keys : {false, true}) {
    np::ModelConfig c = np::ModelConfig::small();
    if (with_keys) {  // model_config_to_gguf writes them
      c.tool_prior_name = 1.5f, c.tool_prior_call = 4.0f, c.tool_prior_margin = 1.0f, c.tool_prior_sole = 4.0f;
      c.copy_prior = 2.0f, c.echo_prior = 5.0f;
    }
    const auto m = np_test::random_model(9, c);
    CHECK(m->config().tool_prior_name == (with_keys ? 1.5f : 0.0f));
    CHECK(m->config().tool_prior_call == (with_keys ? 4.0f : 0.0f));
    CHECK(m->config().tool_prior_margin == (with_keys ? 1.0f : 0.0f));
    CHECK(m->config().tool_prior_sole == (with_keys ? 4.0f : 0.0f));
    CHECK(m->config().copy_prior == (with_keys ? 2.0f : 0.0f));
    CHECK(m->config().echo_prior == (with_keys ? 5.0f : 0.0f));
  }
}
