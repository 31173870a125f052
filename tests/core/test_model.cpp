// test_model.cpp — loading needle models: every tensor checked for presence, type and
// shape against the metadata ([model][bad-file]); forward-pass input checks; the KV-cache
// decode path agreeing with itself. Numeric parity with the NumPy reference is the parity
// suite (tests/ref/check_parity.py).
#include <catch2/catch.hpp>

#include <cmath>
#include <cstring>
#include <functional>
#include <string>
#include <vector>

#include "np/model.h"
#include "np/quant.h"

using np::Code;
using np::GgmlType;
using np::GgufValue;

namespace {

std::vector<uint8_t> random_model_bytes(np::ModelConfig c, GgmlType type = GgmlType::F32, uint64_t seed = 7) {
  auto tok = np::synthetic_tokenizer(c.vocab_size);
  REQUIRE(tok.ok());
  np::GgufWriter w;
  REQUIRE(np::model_write_random(c, tok.value(), seed, type, &w).ok());
  auto bytes = w.to_bytes();
  REQUIRE(bytes.ok());
  return bytes.take();
}

// Rebuilds a valid small model with edits: `kv` may change or drop metadata (return false
// to drop), `tensor` may change or drop tensors, `extra` adds to the writer at the end.
struct Edit {
  std::function<bool(std::string& key, GgufValue& v)> kv;
  std::function<bool(std::string& name, std::vector<int64_t>& dims, GgmlType& type, std::vector<float>& data)> tensor;
  std::function<void(np::GgufWriter&)> extra;
};

np::Status load_edited(const Edit& e, np::ModelConfig c = np::ModelConfig::small()) {
  auto file = np::GgufFile::open_bytes(random_model_bytes(c));
  REQUIRE(file.ok());
  const np::GgufFile& f = *file.value();
  np::GgufWriter w;
  for (const auto& kv : f.kvs()) {
    std::string key = kv.key;
    GgufValue v = kv.value;
    if (e.kv && !e.kv(key, v)) continue;
    w.set_kv(key, v);
  }
  for (const auto& t : f.tensors()) {
    std::string name = t.name;
    std::vector<int64_t> dims = t.dims;
    GgmlType type = t.type;
    std::vector<float> data(static_cast<size_t>(t.n_elements()));
    std::memcpy(data.data(), f.tensor_data(t), data.size() * sizeof(float));
    if (e.tensor && !e.tensor(name, dims, type, data)) continue;
    int64_t n = 1;
    for (int64_t d : dims) n *= d;
    data.resize(static_cast<size_t>(n), 0.5f);
    REQUIRE(w.add_tensor_f32(name, dims, type, data.data()).ok());
  }
  if (e.extra) e.extra(w);
  auto bytes = w.to_bytes();
  REQUIRE(bytes.ok());
  auto g = np::GgufFile::open_bytes(bytes.take());
  if (!g.ok()) return g.status();
  auto m = np::Model::load(g.take());
  return m.ok() ? np::Status::Ok() : m.status();
}

Edit set_key(const std::string& key, GgufValue value) {
  Edit e;
  e.kv = [key, value](std::string& k, GgufValue& v) {
    if (k == key) v = value;
    return true;
  };
  return e;
}

Edit drop_key(const std::string& key) {
  Edit e;
  e.kv = [key](std::string& k, GgufValue&) { return k != key; };
  return e;
}

Edit drop_tensor(const std::string& name) {
  Edit e;
  e.tensor = [name](std::string& n, std::vector<int64_t>&, GgmlType&, std::vector<float>&) { return n != name; };
  return e;
}

}  // namespace

TEST_CASE("a valid random model loads, with every optional part", "[model]") {
  REQUIRE(load_edited(Edit()).ok());
  np::ModelConfig c = np::ModelConfig::small();
  c.d_ff = 96;
  c.ffn_act = np::FfnActivation::kSwiGlu;
  c.contrastive_dim = 0;
  auto f = np::GgufFile::open_bytes(random_model_bytes(c, GgmlType::Q8_0));
  REQUIRE(f.ok());
  auto m = np::Model::load(f.take());
  REQUIRE(m.ok());
  CHECK(m.value()->config().d_ff == 96);
  CHECK(m.value()->config().ffn_act == np::FfnActivation::kSwiGlu);
  CHECK_FALSE(m.value()->has_retrieval_head());
  np::EncoderOutput enc;
  REQUIRE(m.value()->encode({10, 5, 20}, &enc).ok());
  std::vector<float> e;
  CHECK(m.value()->embed(enc, {10, 5, 20}, &e).code() == Code::kUnsupported);
}

TEST_CASE("broken model files are refused with a code naming the problem", "[model][bad-file]") {
  struct Case {
    const char* what;
    Edit edit;
    Code code;
    const char* names;  // a substring the message must contain
  };
  Edit unknown;
  unknown.extra = [](np::GgufWriter& w) {
    float v = 1;
    REQUIRE(w.add_tensor_f32("enc.blk.9.attn_q.weight", {1}, GgmlType::F32, &v).ok());
  };
  Edit wrong_shape;
  wrong_shape.tensor = [](std::string& n, std::vector<int64_t>& d, GgmlType&, std::vector<float>&) {
    if (n == "enc.blk.0.attn_q.weight") d = {32, 64};
    return true;
  };
  Edit transposed;
  transposed.tensor = [](std::string& n, std::vector<int64_t>& d, GgmlType&, std::vector<float>&) {
    if (n == "dec.blk.1.attn_k.weight") d = {d[1], d[0]};
    return true;
  };
  Edit norm_f16;
  norm_f16.tensor = [](std::string& n, std::vector<int64_t>&, GgmlType& t, std::vector<float>&) {
    if (n == "enc.output_norm.weight") t = GgmlType::F16;
    return true;
  };
  Edit gate_f16;
  gate_f16.tensor = [](std::string& n, std::vector<int64_t>&, GgmlType& t, std::vector<float>&) {
    if (n == "dec.blk.0.cross_attn_gate") t = GgmlType::F16;
    return true;
  };
  Edit ffn_without_tensors = set_key("needle.embedding_length", GgufValue::make_u32(64));
  ffn_without_tensors.extra = [](np::GgufWriter& w) {
    w.set_kv("needle.feed_forward_length", GgufValue::make_u32(128));
  };
  Edit head_without_key = drop_key("needle.contrastive.dim");
  Edit vocab_mismatch;
  vocab_mismatch.kv = [](std::string& k, GgufValue& v) {
    if (k == "tokenizer.ggml.tokens" || k == "tokenizer.ggml.scores" || k == "tokenizer.ggml.token_type") v.arr.pop_back();
    return true;
  };
  std::vector<Case> cases = {
      {"missing tensor", drop_tensor("dec.blk.1.cross_attn_k.weight"), Code::kMissingTensor, "dec.blk.1.cross_attn_k.weight"},
      {"missing gate", drop_tensor("enc.blk.0.attn_gate"), Code::kMissingTensor, "enc.blk.0.attn_gate"},
      {"missing retrieval head", drop_tensor("contrastive.proj.weight"), Code::kMissingTensor, "contrastive.proj.weight"},
      {"unknown tensor", unknown, Code::kUnknownTensor, "enc.blk.9.attn_q.weight"},
      {"wrong shape", wrong_shape, Code::kBadShape, "enc.blk.0.attn_q.weight"},
      {"transposed", transposed, Code::kBadShape, "dec.blk.1.attn_k.weight"},
      {"norm not F32", norm_f16, Code::kBadType, "enc.output_norm.weight"},
      {"gate not F32", gate_f16, Code::kBadType, "dec.blk.0.cross_attn_gate"},
      {"architecture", set_key("general.architecture", GgufValue::make_string("llama")), Code::kBadArchitecture, "llama"},
      {"no architecture", drop_key("general.architecture"), Code::kBadArchitecture, "general.architecture"},
      {"format version", set_key("needle.format_version", GgufValue::make_u32(3)), Code::kBadVersion, "format_version"},
      {"encoder mask", set_key("needle.encoder.mask", GgufValue::make_string("tools-blind")), Code::kUnsupported, "tools-blind"},
      {"missing d_model", drop_key("needle.embedding_length"), Code::kBadMetadata, "needle.embedding_length"},
      {"d_model as string", set_key("needle.embedding_length", GgufValue::make_string("64")), Code::kBadMetadata, "needle.embedding_length"},
      {"heads do not divide", set_key("needle.attention.head_count", GgufValue::make_u32(3)), Code::kBadMetadata, "head_count"},
      {"kv heads do not divide", set_key("needle.attention.head_count_kv", GgufValue::make_u32(3)), Code::kBadMetadata, "head_count_kv"},
      {"zero layers", set_key("needle.encoder.block_count", GgufValue::make_u32(0)), Code::kBadMetadata, "block counts"},
      {"fewer layers than tensors", set_key("needle.decoder.block_count", GgufValue::make_u32(1)), Code::kUnknownTensor, "dec.blk.1"},
      {"more layers than tensors", set_key("needle.encoder.block_count", GgufValue::make_u32(3)), Code::kMissingTensor, "enc.blk.2"},
      {"ffn declared, tensors absent", ffn_without_tensors, Code::kMissingTensor, "ffn"},
      {"ffn activation unknown", set_key("needle.feed_forward_activation", GgufValue::make_string("relu2")), Code::kOk, ""},
      {"retrieval tensors without key", head_without_key, Code::kUnknownTensor, "contrastive"},
      {"vocab disagrees with embedding", vocab_mismatch, Code::kBadShape, "token_embd.weight"},
      {"special id outside vocab", set_key("needle.tools_token_id", GgufValue::make_u32(100000)), Code::kBadMetadata, "100000"},
      {"rope theta zero", set_key("needle.rope.freq_base", GgufValue::make_f32(0.0f)), Code::kBadMetadata, "freq_base"},
  };
  for (const Case& c : cases) {
    INFO(c.what);
    np::Status s = load_edited(c.edit);
    CHECK(s.code() == c.code);
    CHECK(s.message().find(c.names) != std::string::npos);
  }
  // The activation key only matters when a feed-forward block exists; with one, an unknown
  // activation is refused.
  Edit bad_act = set_key("needle.feed_forward_activation", GgufValue::make_string("relu2"));
  np::ModelConfig with_ffn = np::ModelConfig::small();
  with_ffn.d_ff = 64;
  with_ffn.ffn_act = np::FfnActivation::kDRelu;
  np::Status s = load_edited(bad_act, with_ffn);
  CHECK(s.code() == Code::kUnsupported);
  CHECK(s.message().find("relu2") != std::string::npos);
}

TEST_CASE("truncated model files fail cleanly at every length", "[model][bad-file]") {
  const std::vector<uint8_t> bytes = random_model_bytes(np::ModelConfig::small());
  for (size_t n = 0; n < bytes.size(); n += 1 + n / 7) {
    auto f = np::GgufFile::open_bytes(std::vector<uint8_t>(bytes.begin(), bytes.begin() + n));
    if (!f.ok()) continue;
    CHECK_FALSE(np::Model::load(f.take()).ok());
  }
  auto m = np::Model::load_file("/nonexistent/dir/model.gguf");
  CHECK(m.status().code() == Code::kIoError);
}

TEST_CASE("forward-pass inputs are checked", "[model]") {
  auto f = np::GgufFile::open_bytes(random_model_bytes(np::ModelConfig::small()));
  REQUIRE(f.ok());
  auto mr = np::Model::load(f.take());
  REQUIRE(mr.ok());
  const np::Model& m = *mr.value();
  np::EncoderOutput enc;
  CHECK(m.encode({}, &enc).code() == Code::kInvalidInput);
  CHECK(m.encode({1, 2, m.config().vocab_size}, &enc).code() == Code::kInvalidInput);
  CHECK(m.encode({1, -1}, &enc).code() == Code::kInvalidInput);
  CHECK(m.encode(std::vector<int32_t>(m.config().max_enc_len + 1, 7), &enc).code() == Code::kInvalidInput);
  REQUIRE(m.encode(std::vector<int32_t>(m.config().max_enc_len, 7), &enc).ok());

  std::vector<float> logits(m.config().vocab_size);
  np::DecoderState st = m.new_decoder_state();
  CHECK(m.decode_step(enc, st, m.config().vocab_size, logits.data()).code() == Code::kInvalidInput);
  np::DecoderState foreign;
  CHECK(m.decode_step(enc, foreign, 1, logits.data()).code() == Code::kInvalidInput);
  for (int i = 0; i < m.config().max_dec_len; ++i) REQUIRE(m.decode_step(enc, st, 1 + i % 50, logits.data()).ok());
  CHECK(m.decode_step(enc, st, 1, logits.data()).code() == Code::kInvalidInput);
  for (float v : logits) REQUIRE(std::isfinite(v));
}

TEST_CASE("decoding is deterministic and the cache only sees the past", "[model]") {
  auto f = np::GgufFile::open_bytes(random_model_bytes(np::ModelConfig::small(), GgmlType::Q4_0, 11));
  REQUIRE(f.ok());
  auto mr = np::Model::load(f.take());
  REQUIRE(mr.ok());
  const np::Model& m = *mr.value();
  np::EncoderOutput enc;
  REQUIRE(m.encode({30, 31, 5, 40, 41, 42}, &enc).ok());
  const size_t V = m.config().vocab_size;
  auto run = [&](const std::vector<int32_t>& dec) {
    np::DecoderState st = m.new_decoder_state();
    std::vector<std::vector<float>> all;
    std::vector<float> logits(V);
    for (int32_t t : dec) {
      REQUIRE(m.decode_step(enc, st, t, logits.data()).ok());
      all.push_back(logits);
    }
    return all;
  };
  auto a = run({1, 4, 100, 200});
  auto b = run({1, 4, 100, 201});
  REQUIRE(a[0] == b[0]);  // causal: later tokens change nothing before them
  REQUIRE(a[2] == b[2]);
  REQUIRE(a[3] != b[3]);
  REQUIRE(run({1, 4, 100, 200}) == a);  // bit-identical on a rerun
}

TEST_CASE("a Q4_0 model runs on Q8_0 blocks: its values and outputs are those of the same blocks widened",
          "[model][quantize]") {
  // The engine widens Q4_0 matrices to Q8_0 blocks at load (exact: -8..7 fit int8), so the
  // int8 kernels run them. The same model written as Q8_0 with those blocks gives the same bits.
  const std::vector<uint8_t> q4_bytes = random_model_bytes(np::ModelConfig::small(), GgmlType::Q4_0, 13);
  auto f4 = np::GgufFile::open_bytes(q4_bytes);
  REQUIRE(f4.ok());
  const np::GgufFile& file4 = *f4.value();
  np::GgufWriter w;
  for (const auto& kv : file4.kvs()) w.set_kv(kv.key, kv.value);
  int widened = 0;
  for (const auto& t : file4.tensors()) {
    uint64_t nbytes = 0;
    REQUIRE(np::ggml_row_bytes(t.type, t.n_elements(), &nbytes).ok());
    if (t.type != GgmlType::Q4_0) {
      REQUIRE(w.add_tensor_raw(t.name, t.dims, t.type, file4.tensor_data(t), nbytes).ok());
      continue;
    }
    std::vector<uint8_t> q8(static_cast<size_t>(t.n_elements() / 32 * 34));
    np::widen_q4_0_to_q8_0(file4.tensor_data(t), q8.data(), t.n_elements() / 32);
    REQUIRE(w.add_tensor_raw(t.name, t.dims, GgmlType::Q8_0, q8.data(), q8.size()).ok());
    ++widened;
  }
  REQUIRE(widened > 0);
  const np::GgufTensorInfo* emb_info = file4.find_tensor("token_embd.weight");
  REQUIRE(emb_info != nullptr);
  REQUIRE(emb_info->type == GgmlType::Q4_0);
  std::vector<float> embedding_values(static_cast<size_t>(emb_info->n_elements()));
  np::dequantize_to_f32(GgmlType::Q4_0, file4.tensor_data(*emb_info), embedding_values.data(), emb_info->n_elements());
  auto q8_bytes = w.to_bytes();
  REQUIRE(q8_bytes.ok());
  auto m4 = np::Model::load(f4.take());
  auto f8 = np::GgufFile::open_bytes(q8_bytes.take());
  REQUIRE(f8.ok());
  auto m8 = np::Model::load(f8.take());
  REQUIRE(m4.ok());
  REQUIRE(m8.ok());
  const np::Model& a = *m4.value();
  const np::Model& b = *m8.value();

  // Held as blocks, no f32 copy; each row the file's Q4_0 values.
  const np::Matrix& emb = a.embedding();
  CHECK(emb.q8());
  CHECK(emb.storage.empty());
  CHECK(a.encoder_layers()[0].attn.wq.q8());
  CHECK(a.decoder_layers()[0].cross_attn.wo.q8());
  REQUIRE(emb.rows * emb.cols == static_cast<int64_t>(embedding_values.size()));
  std::vector<float> row(static_cast<size_t>(emb.cols));
  for (int64_t r : {int64_t{0}, int64_t{7}, emb.rows - 1}) {
    emb.row(r, row.data());
    CHECK(std::memcmp(row.data(), embedding_values.data() + r * emb.cols, row.size() * sizeof(float)) == 0);
  }

  // The same encoder states and logits as the Q8_0 file, bit for bit.
  const std::vector<int32_t> ids = {30, 31, 5, 40, 41, 42, 7, 9};
  np::EncoderOutput ea, eb;
  REQUIRE(a.encode(ids, &ea).ok());
  REQUIRE(b.encode(ids, &eb).ok());
  CHECK(ea.out == eb.out);
  const size_t V = a.config().vocab_size;
  np::DecoderState sa = a.new_decoder_state(), sb = b.new_decoder_state();
  std::vector<float> la(V), lb(V);
  for (int32_t tok : {1, 4, 100, 200}) {
    REQUIRE(a.decode_step(ea, sa, tok, la.data()).ok());
    REQUIRE(b.decode_step(eb, sb, tok, lb.data()).ok());
    CHECK(la == lb);
  }
}
