// config.cpp — ModelConfig presets, validation, and the needle.* GGUF metadata keys.
#include <string>

#include "np/model.h"

namespace np {

const char* ffn_activation_name(FfnActivation a) {
  switch (a) {
    case FfnActivation::kNone: return "none";
    case FfnActivation::kDRelu: return "drelu";
    case FfnActivation::kSwiGlu: return "swiglu";
    case FfnActivation::kGeGlu: return "geglu";
  }
  return "none";
}

ModelConfig ModelConfig::needle_v1() { return ModelConfig(); }

ModelConfig ModelConfig::small() {
  ModelConfig c;
  c.vocab_size = 512;
  c.d_model = 64;
  c.n_heads = 4;
  c.n_kv_heads = 2;
  c.n_enc_layers = 2;
  c.n_dec_layers = 2;
  c.max_enc_len = 256;
  c.max_dec_len = 128;
  c.contrastive_dim = 32;
  return c;
}

Status ModelConfig::validate() const {
  auto bad = [](const std::string& m) { return Status(Code::kBadMetadata, m); };
  if (vocab_size < 8 || vocab_size > (1 << 20)) return bad("vocab size out of range: " + std::to_string(vocab_size));
  if (d_model < 4 || d_model > 16384) return bad("embedding_length out of range: " + std::to_string(d_model));
  if (n_heads < 1 || n_kv_heads < 1 || n_heads > 1024) return bad("head counts must be >= 1");
  if (d_model % n_heads != 0) return bad("embedding_length " + std::to_string(d_model) + " not divisible by head_count " + std::to_string(n_heads));
  if (head_dim() % 2 != 0) return bad("head_dim must be even for RoPE, got " + std::to_string(head_dim()));
  if (n_heads % n_kv_heads != 0) return bad("head_count " + std::to_string(n_heads) + " not divisible by head_count_kv " + std::to_string(n_kv_heads));
  if (n_enc_layers < 1 || n_enc_layers > 256 || n_dec_layers < 1 || n_dec_layers > 256) return bad("block counts must be in 1..256");
  if (!(rope_theta > 0.0f)) return bad("rope.freq_base must be > 0");
  if (!(norm_eps > 0.0f) || norm_eps > 1.0f) return bad("layer_norm_rms_epsilon out of range");
  if (max_enc_len < 4 || max_enc_len > 65536) return bad("context_length out of range: " + std::to_string(max_enc_len));
  if (max_dec_len < 2 || max_dec_len > 65536) return bad("decoder_context_length out of range: " + std::to_string(max_dec_len));
  if (d_ff < 0 || d_ff > 262144) return bad("feed_forward_length out of range");
  if ((d_ff > 0) != (ffn_act != FfnActivation::kNone)) return bad("feed_forward_length and feed_forward_activation disagree");
  if (contrastive_dim < 0 || contrastive_dim > 65536) return bad("contrastive.dim out of range");
  if (contrastive_dim > 0 && d_model % 4 != 0) return bad("embedding_length must be divisible by 4 for the retrieval head");
  for (int32_t id : {tool_call_id, tools_id, eos_id})
    if (id < 0 || id >= vocab_size) return bad("special token id " + std::to_string(id) + " outside the vocabulary");
  for (int32_t id : {pad_id, bos_id, unk_id})
    if (id >= vocab_size) return bad("special token id " + std::to_string(id) + " outside the vocabulary");
  return Status::Ok();
}

namespace {

Status get_i32(const GgufFile& f, const std::string& key, int32_t* out, bool required) {
  if (!f.find(key)) {
    if (required) return Status(Code::kBadMetadata, "missing metadata key " + key);
    return Status::Ok();
  }
  uint32_t v = 0;
  NP_RETURN_IF_ERROR(f.get_u32(key, &v));
  if (v > 0x7fffffffu) return Status(Code::kBadMetadata, key + " too large");
  *out = static_cast<int32_t>(v);
  return Status::Ok();
}

}  // namespace

Status model_config_from_gguf(const GgufFile& f, ModelConfig* out) {
  std::string arch;
  if (!f.find("general.architecture")) return Status(Code::kBadArchitecture, "missing general.architecture (expected 'needle')");
  NP_RETURN_IF_ERROR(f.get_string("general.architecture", &arch));
  if (arch != "needle") return Status(Code::kBadArchitecture, "general.architecture is '" + arch + "', expected 'needle'");
  if (const GgufValue* v = f.find("needle.format_version")) {
    uint32_t fv = 0;
    NP_RETURN_IF_ERROR(f.get_u32("needle.format_version", &fv));
    // 2: may carry needlepoint.confidence.calibration (np/confidence.h); nothing else changed.
    if (fv != 1 && fv != 2)
      return Status(Code::kBadVersion, "needle.format_version " + std::to_string(fv) + " is not supported (this engine reads 1 and 2)");
    (void)v;
  }
  ModelConfig c;
  NP_RETURN_IF_ERROR(get_i32(f, "needle.embedding_length", &c.d_model, true));
  NP_RETURN_IF_ERROR(get_i32(f, "needle.attention.head_count", &c.n_heads, true));
  NP_RETURN_IF_ERROR(get_i32(f, "needle.attention.head_count_kv", &c.n_kv_heads, true));
  NP_RETURN_IF_ERROR(get_i32(f, "needle.encoder.block_count", &c.n_enc_layers, true));
  NP_RETURN_IF_ERROR(get_i32(f, "needle.decoder.block_count", &c.n_dec_layers, true));
  NP_RETURN_IF_ERROR(get_i32(f, "needle.context_length", &c.max_enc_len, true));
  NP_RETURN_IF_ERROR(get_i32(f, "needle.decoder_context_length", &c.max_dec_len, true));
  if (f.find("needle.rope.freq_base")) NP_RETURN_IF_ERROR(f.get_f32("needle.rope.freq_base", &c.rope_theta));
  if (f.find("needle.attention.layer_norm_rms_epsilon"))
    NP_RETURN_IF_ERROR(f.get_f32("needle.attention.layer_norm_rms_epsilon", &c.norm_eps));
  if (f.find("needle.encoder.mask")) NP_RETURN_IF_ERROR(f.get_string("needle.encoder.mask", &c.encoder_mask));
  if (c.encoder_mask != "bidirectional" && c.encoder_mask != "catalog")
    return Status(Code::kUnsupported, "needle.encoder.mask '" + c.encoder_mask + "' is not a mode this engine knows");
  NP_RETURN_IF_ERROR(get_i32(f, "needle.tool_call_token_id", &c.tool_call_id, false));
  NP_RETURN_IF_ERROR(get_i32(f, "needle.tools_token_id", &c.tools_id, false));
  c.d_ff = 0;
  NP_RETURN_IF_ERROR(get_i32(f, "needle.feed_forward_length", &c.d_ff, false));
  c.ffn_act = FfnActivation::kNone;
  if (c.d_ff > 0) {
    std::string act = "drelu";
    if (f.find("needle.feed_forward_activation")) NP_RETURN_IF_ERROR(f.get_string("needle.feed_forward_activation", &act));
    if (act == "drelu") c.ffn_act = FfnActivation::kDRelu;
    else if (act == "swiglu") c.ffn_act = FfnActivation::kSwiGlu;
    else if (act == "geglu") c.ffn_act = FfnActivation::kGeGlu;
    else return Status(Code::kUnsupported, "needle.feed_forward_activation '" + act + "' unknown (drelu, swiglu, geglu)");
  }
  c.contrastive_dim = 0;
  NP_RETURN_IF_ERROR(get_i32(f, "needle.contrastive.dim", &c.contrastive_dim, false));
  for (const auto& [key, dst] : {std::pair<const char*, float*>{"needlepoint.decode.tool_prior_name", &c.tool_prior_name},
                                 std::pair<const char*, float*>{"needlepoint.decode.tool_prior_call", &c.tool_prior_call},
                                 std::pair<const char*, float*>{"needlepoint.decode.tool_prior_margin", &c.tool_prior_margin},
                                 std::pair<const char*, float*>{"needlepoint.decode.tool_prior_sole", &c.tool_prior_sole},
                                 std::pair<const char*, float*>{"needlepoint.decode.copy_prior", &c.copy_prior},
                                 std::pair<const char*, float*>{"needlepoint.decode.echo_prior", &c.echo_prior}}) {
    if (!f.find(key)) continue;
    NP_RETURN_IF_ERROR(f.get_f32(key, dst));
    if (!(*dst >= 0.0f && *dst <= 100.0f))
      return Status(Code::kBadMetadata, std::string(key) + " must be a number from 0 to 100");
  }
  // Special ids and vocab size come from the tokenizer keys.
  NP_RETURN_IF_ERROR(get_i32(f, "tokenizer.ggml.padding_token_id", &c.pad_id, false));
  NP_RETURN_IF_ERROR(get_i32(f, "tokenizer.ggml.eos_token_id", &c.eos_id, false));
  NP_RETURN_IF_ERROR(get_i32(f, "tokenizer.ggml.bos_token_id", &c.bos_id, false));
  NP_RETURN_IF_ERROR(get_i32(f, "tokenizer.ggml.unknown_token_id", &c.unk_id, false));
  const GgufValue* toks = f.find("tokenizer.ggml.tokens");
  if (!toks || toks->type != GgufValueType::ARRAY) return Status(Code::kBadMetadata, "missing tokenizer.ggml.tokens");
  if (toks->arr.size() > static_cast<size_t>(1 << 20)) return Status(Code::kBadMetadata, "tokenizer.ggml.tokens too long");
  c.vocab_size = static_cast<int32_t>(toks->arr.size());
  NP_RETURN_IF_ERROR(c.validate());
  *out = c;
  return Status::Ok();
}

void model_config_to_gguf(const ModelConfig& c, GgufWriter& w) {
  w.set_kv("general.architecture", GgufValue::make_string("needle"));
  w.set_kv("needle.format_version", GgufValue::make_u32(1));
  w.set_kv("general.alignment", GgufValue::make_u32(32));
  w.set_kv("needle.context_length", GgufValue::make_u32(c.max_enc_len));
  w.set_kv("needle.decoder_context_length", GgufValue::make_u32(c.max_dec_len));
  w.set_kv("needle.embedding_length", GgufValue::make_u32(c.d_model));
  w.set_kv("needle.encoder.block_count", GgufValue::make_u32(c.n_enc_layers));
  w.set_kv("needle.decoder.block_count", GgufValue::make_u32(c.n_dec_layers));
  w.set_kv("needle.attention.head_count", GgufValue::make_u32(c.n_heads));
  w.set_kv("needle.attention.head_count_kv", GgufValue::make_u32(c.n_kv_heads));
  w.set_kv("needle.attention.layer_norm_rms_epsilon", GgufValue::make_f32(c.norm_eps));
  w.set_kv("needle.rope.freq_base", GgufValue::make_f32(c.rope_theta));
  w.set_kv("needle.encoder.mask", GgufValue::make_string(c.encoder_mask));
  w.set_kv("needle.tool_call_token_id", GgufValue::make_u32(c.tool_call_id));
  w.set_kv("needle.tools_token_id", GgufValue::make_u32(c.tools_id));
  if (c.contrastive_dim > 0) w.set_kv("needle.contrastive.dim", GgufValue::make_u32(c.contrastive_dim));
  if (c.tool_prior_name > 0) w.set_kv("needlepoint.decode.tool_prior_name", GgufValue::make_f32(c.tool_prior_name));
  if (c.tool_prior_call > 0) w.set_kv("needlepoint.decode.tool_prior_call", GgufValue::make_f32(c.tool_prior_call));
  if (c.tool_prior_margin > 0) w.set_kv("needlepoint.decode.tool_prior_margin", GgufValue::make_f32(c.tool_prior_margin));
  if (c.tool_prior_sole > 0) w.set_kv("needlepoint.decode.tool_prior_sole", GgufValue::make_f32(c.tool_prior_sole));
  if (c.copy_prior > 0) w.set_kv("needlepoint.decode.copy_prior", GgufValue::make_f32(c.copy_prior));
  if (c.echo_prior > 0) w.set_kv("needlepoint.decode.echo_prior", GgufValue::make_f32(c.echo_prior));
  if (c.d_ff > 0) {
    w.set_kv("needle.feed_forward_length", GgufValue::make_u32(c.d_ff));
    w.set_kv("needle.feed_forward_activation", GgufValue::make_string(ffn_activation_name(c.ffn_act)));
  }
}

void model_file_type_to_gguf(GgmlType type, GgufWriter& w) {
  if (type == GgmlType::F32) return;
  uint32_t ft = 0;
  switch (type) {
    case GgmlType::F16: ft = 1; break;
    case GgmlType::Q4_0: ft = 2; break;
    case GgmlType::Q8_0: ft = 7; break;
    case GgmlType::BF16: ft = 32; break;
    case GgmlType::F32: break;
  }
  w.set_kv("general.quantization_version", GgufValue::make_u32(2));
  w.set_kv("general.file_type", GgufValue::make_u32(ft));
}

GgmlType matrix_storage_type(GgmlType type, int64_t ne0) {
  if ((type == GgmlType::Q8_0 || type == GgmlType::Q4_0) && ne0 % 32 != 0) return GgmlType::F32;
  return type;
}

}  // namespace np
