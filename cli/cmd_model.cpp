// cmd_model.cpp — model-level CLI commands: logits, embed, inspect, make-model,
// pack-tokenizer. Exact ids in, exact numbers out: no prompt building here.
#include <cinttypes>
#include <cstdio>
#include <limits>
#include <cstdlib>
#include <string>
#include <vector>

#include "commands.h"
#include "np/model.h"
#include "np/tokenizer.h"

namespace np_cli {

namespace {

int fail_status(const np::Status& s) { return fail(s.to_string()); }

// "1,2,3" -> ids; false on a malformed list.
bool parse_ids(const std::string& text, std::vector<int32_t>* out) {
  out->clear();
  if (text.empty()) return true;
  size_t i = 0;
  while (i <= text.size()) {
    size_t j = text.find(',', i);
    if (j == std::string::npos) j = text.size();
    const std::string item = text.substr(i, j - i);
    if (item.empty()) return false;
    char* end = nullptr;
    const long long v = std::strtoll(item.c_str(), &end, 10);
    if (*end != '\0' || v < INT32_MIN || v > INT32_MAX) return false;
    out->push_back(static_cast<int32_t>(v));
    i = j + 1;
  }
  return true;
}

void print_floats(const float* v, size_t n) {
  std::fputc('[', stdout);
  for (size_t i = 0; i < n; ++i) std::printf(i ? ",%.9g" : "%.9g", v[i]);
  std::fputc(']', stdout);
}

bool load_model(const Args& args, std::shared_ptr<np::Model>* out, int* rc) {
  std::string path;
  if (!arg_value(args, "--model", &path)) {
    *rc = usage_error("--model is required");
    return false;
  }
  auto m = np::Model::load_file(path);
  if (!m.ok()) {
    *rc = fail_status(m.status());
    return false;
  }
  *out = m.take();
  return true;
}

bool parse_type(const std::string& s, np::GgmlType* t) {
  if (s == "f32") *t = np::GgmlType::F32;
  else if (s == "f16") *t = np::GgmlType::F16;
  else if (s == "bf16") *t = np::GgmlType::BF16;
  else if (s == "q8_0") *t = np::GgmlType::Q8_0;
  else if (s == "q4_0") *t = np::GgmlType::Q4_0;
  else return false;
  return true;
}

}  // namespace

int cmd_logits(const Args& args) {
  std::shared_ptr<np::Model> model;
  int rc = 0;
  if (!load_model(args, &model, &rc)) return rc;
  std::string enc_s, dec_s;
  if (!arg_value(args, "--enc-ids", &enc_s) || !arg_value(args, "--dec-ids", &dec_s))
    return usage_error("--enc-ids and --dec-ids are required");
  std::vector<int32_t> enc_ids, dec_ids;
  if (!parse_ids(enc_s, &enc_ids) || !parse_ids(dec_s, &dec_ids)) return usage_error("ids must be comma-separated integers");
  if (dec_ids.empty()) return fail("INVALID_INPUT: --dec-ids is empty");
  const bool all = arg_flag(args, "--all");
  std::string prefix_s = "0";
  arg_value(args, "--block-prefix", &prefix_s);  // catalog-mask models: the tool block's length
  char* end = nullptr;
  const long prefix = std::strtol(prefix_s.c_str(), &end, 10);
  if (prefix_s.empty() || *end != '\0' || prefix < 0 || prefix > 1 << 20)
    return usage_error("--block-prefix must be a non-negative integer");
  np::EncoderOutput enc;
  np::Status s = model->encode(enc_ids, &enc, static_cast<int32_t>(prefix));
  if (!s.ok()) return fail_status(s);
  np::DecoderState st = model->new_decoder_state();
  const size_t V = static_cast<size_t>(model->config().vocab_size);
  std::vector<float> logits(V);
  if (all) std::fputc('[', stdout);
  for (size_t i = 0; i < dec_ids.size(); ++i) {
    s = model->decode_step(enc, st, dec_ids[i], logits.data());
    if (!s.ok()) return fail_status(s);
    if (all) {
      if (i) std::fputc(',', stdout);
      print_floats(logits.data(), V);
    }
  }
  if (all) std::fputc(']', stdout);
  else print_floats(logits.data(), V);
  std::fputc('\n', stdout);
  return 0;
}

int cmd_embed(const Args& args) {
  std::shared_ptr<np::Model> model;
  int rc = 0;
  if (!load_model(args, &model, &rc)) return rc;
  std::string enc_s;
  if (!arg_value(args, "--enc-ids", &enc_s)) return usage_error("--enc-ids is required");
  std::vector<int32_t> ids;
  if (!parse_ids(enc_s, &ids)) return usage_error("ids must be comma-separated integers");
  np::EncoderOutput enc;
  np::Status s = model->encode(ids, &enc);
  if (!s.ok()) return fail_status(s);
  std::vector<float> e;
  s = model->embed(enc, ids, &e);
  if (!s.ok()) return fail_status(s);
  print_floats(e.data(), e.size());
  std::fputc('\n', stdout);
  return 0;
}

namespace {

std::string value_to_string(const np::GgufValue& v, size_t max_items) {
  using T = np::GgufValueType;
  switch (v.type) {
    case T::U8: case T::U16: case T::U32: case T::U64: return std::to_string(v.u);
    case T::I8: case T::I16: case T::I32: case T::I64: return std::to_string(v.i);
    case T::F32: case T::F64: {
      char b[64];
      std::snprintf(b, sizeof b, "%.9g", v.f);
      return b;
    }
    case T::BOOL: return v.u ? "true" : "false";
    case T::STRING: return "\"" + v.s + "\"";
    case T::ARRAY: {
      std::string s = "[";
      for (size_t i = 0; i < v.arr.size() && i < max_items; ++i) s += (i ? ", " : "") + value_to_string(v.arr[i], max_items);
      if (v.arr.size() > max_items) s += ", ... (" + std::to_string(v.arr.size()) + " items)";
      return s + "]";
    }
  }
  return "?";
}

}  // namespace

int cmd_inspect(const Args& args) {
  std::string path;
  if (!arg_value(args, "--model", &path)) return usage_error("--model is required");
  auto f = np::GgufFile::open_file(path);
  if (!f.ok()) return fail_status(f.status());
  const np::GgufFile& g = *f.value();
  std::printf("GGUF v%u, alignment %u, %zu metadata keys, %zu tensors\n\nmetadata:\n", g.version(), g.alignment(),
              g.kvs().size(), g.tensors().size());
  for (const auto& kv : g.kvs()) std::printf("  %-45s %s\n", kv.key.c_str(), value_to_string(kv.value, 8).c_str());
  std::printf("\ntensors:\n");
  uint64_t total = 0;
  int64_t params = 0;
  for (const auto& t : g.tensors()) {
    std::string dims;
    for (size_t i = 0; i < t.dims.size(); ++i) dims += (i ? " x " : "") + std::to_string(t.dims[i]);
    std::printf("  %-40s %-5s [%s] %" PRIu64 " bytes @ %" PRIu64 "\n", t.name.c_str(), np::ggml_type_name(t.type),
                dims.c_str(), t.nbytes, t.offset);
    total += t.nbytes;
    params += t.n_elements();
  }
  std::printf("\n%" PRId64 " parameters, %" PRIu64 " bytes of tensor data\n", params, total);
  auto m = np::Model::load(f.take());
  if (!m.ok()) {
    std::printf("model check: FAILED: %s\n", m.status().to_string().c_str());
    return 1;
  }
  std::printf("model check: ok (needle, vocab %d, d %d, %d+%d layers, ffn %s, retrieval head %s)\n",
              m.value()->config().vocab_size, m.value()->config().d_model, m.value()->config().n_enc_layers,
              m.value()->config().n_dec_layers, np::ffn_activation_name(m.value()->config().ffn_act),
              m.value()->has_retrieval_head() ? "yes" : "no");
  return 0;
}

int cmd_make_model(const Args& args) {
  std::string out, config_name = "small", type_name = "f32", spm, act;
  if (!arg_value(args, "--out", &out)) return usage_error("--out is required");
  arg_value(args, "--config", &config_name);
  arg_value(args, "--type", &type_name);
  np::ModelConfig c;
  if (config_name == "small") {
    c = np::ModelConfig::small();
  } else if (config_name == "needle") {
    c = np::ModelConfig::needle_v1();
  } else if (config_name == "default") {  // the bundled default model's shape (docs/models.md)
    c = np::ModelConfig::needle_v1();
    c.d_model = 256, c.n_heads = 4, c.n_kv_heads = 2, c.n_enc_layers = 6, c.n_dec_layers = 4;
    c.max_enc_len = 640, c.max_dec_len = 128;
  } else {
    return usage_error("--config must be small, default or needle");
  }
  np::GgmlType type;
  if (!parse_type(type_name, &type)) return usage_error("--type must be f32, f16, bf16, q8_0 or q4_0");
  int rc = 0;
  if (!int_option(args, "--d-ff", 0, 1 << 16, &c.d_ff, &rc)) return rc;
  long long seed = 1;
  if (!int_option(args, "--seed", 0, std::numeric_limits<long long>::max(), &seed, &rc)) return rc;
  if (arg_value(args, "--ffn", &act)) {
    if (act == "drelu") c.ffn_act = np::FfnActivation::kDRelu;
    else if (act == "swiglu") c.ffn_act = np::FfnActivation::kSwiGlu;
    else if (act == "geglu") c.ffn_act = np::FfnActivation::kGeGlu;
    else return usage_error("--ffn must be drelu, swiglu or geglu");
    if (c.d_ff <= 0) c.d_ff = 2 * c.d_model;
  } else if (c.d_ff > 0) {
    c.ffn_act = np::FfnActivation::kDRelu;
  }
  if (arg_flag(args, "--no-retrieval")) c.contrastive_dim = 0;
  if (arg_value(args, "--encoder-mask", &c.encoder_mask) && c.encoder_mask != "bidirectional" &&
      c.encoder_mask != "catalog")
    return usage_error("--encoder-mask must be bidirectional or catalog");
  np::Result<np::Tokenizer> tok = arg_value(args, "--spm", &spm) ? np::Tokenizer::from_spm_file(spm)
                                                                 : np::synthetic_tokenizer(c.vocab_size);
  if (!tok.ok()) return fail_status(tok.status());
  np::GgufWriter w;
  np::Status s = np::model_write_random(c, tok.value(), static_cast<uint64_t>(seed), type, &w);
  if (!s.ok()) return fail_status(s);
  s = w.write_file(out);
  if (!s.ok()) return fail_status(s);
  return 0;
}

int cmd_quantize(const Args& args) {
  std::string in, out, type_name;
  if (!arg_value(args, "--model", &in) || !arg_value(args, "--out", &out) || !arg_value(args, "--type", &type_name))
    return usage_error("quantize needs --model, --type and --out");
  np::GgmlType type;
  if (!parse_type(type_name, &type)) return usage_error("--type must be f32, f16, bf16, q8_0 or q4_0");
  auto f = np::GgufFile::open_file(in);
  if (!f.ok()) return fail_status(f.status());
  np::GgufWriter w;
  np::Status s = np::requantize_model(*f.value(), type, &w);
  if (!s.ok()) return fail_status(s);
  // The result must load as a model before it is written (a failed write leaves no file).
  auto bytes = w.to_bytes();
  if (!bytes.ok()) return fail_status(bytes.status());
  const size_t written = bytes.value().size();
  auto check = np::GgufFile::open_bytes(bytes.take());
  if (!check.ok()) return fail_status(check.status());
  auto m = np::Model::load(check.value());
  if (!m.ok()) return fail_status(m.status());
  s = w.write_file(out);
  if (!s.ok()) return fail_status(s);
  std::printf("{\"model\":\"%s\",\"type\":\"%s\",\"bytes_in\":%zu,\"bytes_out\":%zu}\n", out.c_str(), type_name.c_str(),
              f.value()->size(), written);
  return 0;
}

int cmd_pack_tokenizer(const Args& args) {
  std::string spm, in, out;
  if (!arg_value(args, "--spm", &spm) || !arg_value(args, "--model", &in) || !arg_value(args, "--out", &out))
    return usage_error("pack-tokenizer needs --spm, --model and --out");
  auto tok = np::Tokenizer::from_spm_file(spm);
  if (!tok.ok()) return fail_status(tok.status());
  auto f = np::GgufFile::open_file(in);
  if (!f.ok()) return fail_status(f.status());
  const np::GgufFile& g = *f.value();
  np::GgufWriter w;
  for (const auto& kv : g.kvs())
    if (kv.key.rfind("tokenizer.", 0) != 0) w.set_kv(kv.key, kv.value);
  tok.value().write_gguf(w);
  for (const auto& t : g.tensors()) {
    np::Status s = w.add_tensor_raw(t.name, t.dims, t.type, g.tensor_data(t), t.nbytes);
    if (!s.ok()) return fail_status(s);
  }
  // The result must still be a loadable model (vocab size must match the embedding).
  auto bytes = w.to_bytes();
  if (!bytes.ok()) return fail_status(bytes.status());
  auto check = np::GgufFile::open_bytes(bytes.take());
  if (!check.ok()) return fail_status(check.status());
  if (check.value()->find("general.architecture")) {
    auto m = np::Model::load(check.value());
    if (!m.ok()) return fail_status(m.status());
  }
  np::Status s = w.write_file(out);
  if (!s.ok()) return fail_status(s);
  return 0;
}

}  // namespace np_cli
