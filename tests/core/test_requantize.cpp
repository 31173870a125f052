// test_requantize.cpp — requantize_model (`needlepoint quantize`): a model re-encoded at
// another weight type keeps every metadata key and tensor, stores matrices as asked and the
// rest as f32, loads, and stays close to the values it came from; q8_0 -> q8_0 is lossless;
// bad requests fail with a status ([model][quantize]).
#include <catch2/catch.hpp>

#include <algorithm>
#include <cmath>
#include <string>
#include <vector>

#include "np/gguf.h"
#include "np/model.h"
#include "np/quant.h"

namespace {

std::vector<uint8_t> random_model_bytes(np::GgmlType type) {
  auto tok = np::synthetic_tokenizer(512);
  REQUIRE(tok.ok());
  np::GgufWriter w;
  REQUIRE(np::model_write_random(np::ModelConfig::small(), tok.value(), 5, type, &w).ok());
  w.set_kv("needlepoint.decode.copy_prior", np::GgufValue::make_f32(10.0f));  // a key the engine reads
  auto bytes = w.to_bytes();
  REQUIRE(bytes.ok());
  return bytes.take();
}

std::shared_ptr<np::GgufFile> open(std::vector<uint8_t> bytes) {
  auto f = np::GgufFile::open_bytes(std::move(bytes));
  REQUIRE(f.ok());
  return f.take();
}

std::vector<float> values_of(const np::GgufFile& f, const np::GgufTensorInfo& t) {
  std::vector<float> v(static_cast<size_t>(t.n_elements()));
  np::dequantize_to_f32(t.type, f.tensor_data(t), v.data(), t.n_elements());
  return v;
}

}  // namespace

TEST_CASE("requantize_model: f32 -> q4_0 keeps keys and tensors, quantizes the matrices only", "[model][quantize]") {
  const auto in = open(random_model_bytes(np::GgmlType::F32));
  np::GgufWriter w;
  REQUIRE(np::requantize_model(*in, np::GgmlType::Q4_0, &w).ok());
  auto bytes = w.to_bytes();
  REQUIRE(bytes.ok());
  const auto out = open(bytes.take());
  REQUIRE(np::Model::load(out).ok());
  // Every key of the input is there with its value, but the file type, which is new.
  for (const np::GgufKV& kv : in->kvs()) {
    INFO(kv.key);
    REQUIRE(out->find(kv.key) != nullptr);
  }
  float copy = 0.0f;
  REQUIRE(out->get_f32("needlepoint.decode.copy_prior", &copy).ok());
  CHECK(copy == 10.0f);
  uint32_t file_type = 0;
  REQUIRE(out->get_u32("general.file_type", &file_type).ok());
  CHECK(file_type == 2);
  // The same tensors in the same order; matrices of whole 32-value rows as Q4_0, the rest F32;
  // each within Q4_0's rounding of the original (half a step of a block's scale, max|x| / 8).
  REQUIRE(out->tensors().size() == in->tensors().size());
  size_t quantized = 0;
  for (size_t i = 0; i < in->tensors().size(); ++i) {
    const np::GgufTensorInfo& a = in->tensors()[i];
    const np::GgufTensorInfo& b = out->tensors()[i];
    INFO(a.name);
    REQUIRE(b.name == a.name);
    REQUIRE(b.dims == a.dims);
    // The small config's matrices and embedding are the 2-D tensors; all have whole 32-value rows.
    const bool matrix = a.dims.size() >= 2 && a.dims[0] % 32 == 0;
    CHECK(b.type == (matrix ? np::GgmlType::Q4_0 : np::GgmlType::F32));
    quantized += matrix;
    const std::vector<float> x = values_of(*in, a), y = values_of(*out, b);
    for (size_t blk = 0; blk < x.size(); blk += 32) {
      const size_t e = std::min(x.size(), blk + 32);
      float amax = 0.0f;
      for (size_t k = blk; k < e; ++k) amax = std::max(amax, std::fabs(x[k]));
      for (size_t k = blk; k < e; ++k) {
        if (matrix) REQUIRE(std::fabs(x[k] - y[k]) <= amax / 8.0f * 1.01f + 1e-6f);
        else REQUIRE(x[k] == y[k]);
      }
    }
  }
  CHECK(quantized >= 4);
}

TEST_CASE("requantize_model: q8_0 -> q8_0 gives the same file back; q4_0 -> f32 loads", "[model][quantize]") {
  const std::vector<uint8_t> original = random_model_bytes(np::GgmlType::Q8_0);
  const auto in = open(original);
  np::GgufWriter w;
  REQUIRE(np::requantize_model(*in, np::GgmlType::Q8_0, &w).ok());
  auto bytes = w.to_bytes();
  REQUIRE(bytes.ok());
  CHECK(bytes.value() == original);

  np::GgufWriter q4, f32;
  REQUIRE(np::requantize_model(*in, np::GgmlType::Q4_0, &q4).ok());
  auto q4_bytes = q4.to_bytes();
  REQUIRE(q4_bytes.ok());
  const auto q4_file = open(q4_bytes.take());
  REQUIRE(np::requantize_model(*q4_file, np::GgmlType::F32, &f32).ok());
  auto f32_bytes = f32.to_bytes();
  REQUIRE(f32_bytes.ok());
  const auto back = open(f32_bytes.take());
  REQUIRE(np::Model::load(back).ok());
  CHECK(back->find("general.file_type") == nullptr);  // an f32 file has no file type key
  for (const np::GgufTensorInfo& t : back->tensors()) CHECK(t.type == np::GgmlType::F32);
}

TEST_CASE("requantize_model refuses what is no model and types it cannot write", "[model][quantize]") {
  const auto model = open(random_model_bytes(np::GgmlType::F32));
  np::GgufWriter w;
  const np::Status bad_type = np::requantize_model(*model, static_cast<np::GgmlType>(3), &w);
  CHECK(bad_type.code() == np::Code::kInvalidInput);
  np::GgufWriter plain;
  plain.set_kv("general.name", np::GgufValue::make_string("not a model"));
  auto bytes = plain.to_bytes();
  REQUIRE(bytes.ok());
  const auto not_model = open(bytes.take());
  np::GgufWriter w2;
  const np::Status s = np::requantize_model(*not_model, np::GgmlType::Q4_0, &w2);
  CHECK_FALSE(s.ok());
  CHECK(s.code() != np::Code::kOk);
}
