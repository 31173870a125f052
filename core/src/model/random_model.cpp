// random_model.cpp — random-weight model files (tests, benchmarks, the placeholder model
// until a trained one ships) and a synthetic tokenizer for them.
#include <cmath>
#include <string>
#include <vector>

#include "model/tensor_table.h"
#include "np/model.h"
#include "util/rng.h"

namespace np {

Result<Tokenizer> synthetic_tokenizer(int32_t vocab_size) {
  std::vector<std::string> pieces = {"<pad>", "</s>", "<s>", "<unk>", "<tool_call>", "<tools>"};
  std::vector<TokenType> types = {TokenType::kControl, TokenType::kControl, TokenType::kControl,
                                  TokenType::kUnknown, TokenType::kUserDefined, TokenType::kUserDefined};
  static const char* kHex = "0123456789ABCDEF";
  for (int b = 0; b < 256; ++b) {
    pieces.push_back(std::string("<0x") + kHex[b >> 4] + kHex[b & 15] + ">");
    types.push_back(TokenType::kByte);
  }
  const std::string space = "\xE2\x96\x81";  // U+2581
  std::vector<std::string> normal = {space};
  for (int ch = 33; ch < 127; ++ch) normal.push_back(std::string(1, static_cast<char>(ch)));
  const std::string letters = "etaoinshrdlcumwfgypbvkjxqz";
  for (char a : letters) normal.push_back(space + a);
  for (char a : letters)
    for (char b : letters) normal.push_back(std::string(1, a) + b);
  for (char a : letters)
    for (char b : letters) normal.push_back(space + a + b);
  for (char a : letters)
    for (char b : letters)
      for (char c : letters) normal.push_back(std::string(1, a) + b + c);
  const size_t fixed = pieces.size();
  if (vocab_size < static_cast<int32_t>(fixed + 96))
    return Status(Code::kInvalidInput, "synthetic tokenizer needs a vocabulary of at least " + std::to_string(fixed + 96));
  for (size_t i = 0; pieces.size() < static_cast<size_t>(vocab_size); ++i) {
    if (i >= normal.size()) return Status(Code::kInvalidInput, "synthetic tokenizer vocabulary too large");
    pieces.push_back(normal[i]);
    types.push_back(TokenType::kNormal);
  }
  std::vector<float> scores(pieces.size(), 0.0f);
  for (size_t i = fixed; i < pieces.size(); ++i) scores[i] = -static_cast<float>(i - fixed);
  TokenizerConfig cfg;
  return Tokenizer::from_pieces(std::move(pieces), std::move(scores), std::move(types), cfg);
}

Status model_write_random(const ModelConfig& config, const Tokenizer& tokenizer, uint64_t seed,
                          GgmlType type, GgufWriter* w) {
  ModelConfig c = config;
  c.vocab_size = tokenizer.vocab_size();
  c.pad_id = tokenizer.config().pad_id;
  c.eos_id = tokenizer.config().eos_id;
  c.bos_id = tokenizer.config().bos_id;
  c.unk_id = tokenizer.config().unk_id;
  if (tokenizer.piece_to_id("<tool_call>") >= 0) c.tool_call_id = tokenizer.piece_to_id("<tool_call>");
  if (tokenizer.piece_to_id("<tools>") >= 0) c.tools_id = tokenizer.piece_to_id("<tools>");
  NP_RETURN_IF_ERROR(c.validate());
  w->set_kv("general.name", GgufValue::make_string("needlepoint-random"));
  w->set_kv("general.description", GgufValue::make_string("random weights (seed " + std::to_string(seed) + "); for tests and benchmarks only"));
  model_config_to_gguf(c, *w);
  model_file_type_to_gguf(type, *w);
  tokenizer.write_gguf(*w);

  Rng rng(seed);
  std::vector<float> buf;
  for (const TensorSpec& s : model_tensor_table(c)) {
    int64_t n = 1;
    for (int64_t d : s.dims) n *= d;
    buf.resize(static_cast<size_t>(n));
    GgmlType t = GgmlType::F32;
    switch (s.kind) {
      case TensorKind::kMatrix: {
        // Embedding ~ N(0, 0.05^2) so that sqrt(d)-scaled inputs and tied logits are O(1);
        // projections ~ N(0, 1/in).
        const double sd = s.name == "token_embd.weight" ? 0.05 : 1.0 / std::sqrt(static_cast<double>(s.dims[0]));
        for (auto& v : buf) v = static_cast<float>(rng.normal() * sd);
        t = matrix_storage_type(type, s.dims[0]);
        break;
      }
      case TensorKind::kVector:
        for (auto& v : buf) v = static_cast<float>(rng.uniform(-0.3, 0.3));
        break;
      case TensorKind::kScalar:
        for (auto& v : buf) v = static_cast<float>(rng.uniform(-2.0, 2.0));
        break;
    }
    NP_RETURN_IF_ERROR(w->add_tensor_f32(s.name, s.dims, t, buf.data()));
  }
  return Status::Ok();
}

}  // namespace np
