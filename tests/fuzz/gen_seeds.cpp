// gen_seeds.cpp — writes the GGUF seeds of the fuzz corpus that need the engine's writer:
// a whole Needle model in miniature (d_model 4, 2 heads, 1+1 layers, an 8-piece vocabulary
// plus <tool_call>/<tools>), in F32 and F16 (Q8_0/Q4_0 need rows of 32 values).
// Build and run by hand when the model format changes (tests/fuzz/README.md):
//   g++ -std=c++17 -Icore/include -Ibuild-rel/_deps/include -DJSON_NOEXCEPTION=1 \
//       tests/fuzz/gen_seeds.cpp build-rel/libnp_core.a -lpthread -o /tmp/gen_seeds
//   /tmp/gen_seeds tests/fuzz/corpus/gguf
#include <cstdio>
#include <string>

#include "np/gguf.h"
#include "np/model.h"
#include "np/tokenizer.h"

int main(int argc, char** argv) {
  if (argc != 2) return 2;
  std::vector<std::string> pieces = {"<pad>", "</s>", "<s>", "<unk>", "<tool_call>", "<tools>",
                                     "\xE2\x96\x81", "a", "b", "\"", "[", "]", "{", "}"};
  std::vector<np::TokenType> types(pieces.size(), np::TokenType::kNormal);
  types[0] = types[1] = types[2] = np::TokenType::kControl;
  types[3] = np::TokenType::kUnknown;
  types[4] = types[5] = np::TokenType::kUserDefined;
  std::vector<float> scores(pieces.size(), 0.0f);
  np::TokenizerConfig cfg;
  cfg.byte_fallback = false;
  auto tok = np::Tokenizer::from_pieces(pieces, scores, types, cfg);
  if (!tok.ok()) { std::fprintf(stderr, "%s\n", tok.status().to_string().c_str()); return 1; }
  np::ModelConfig c = np::ModelConfig::small();
  c.d_model = 4;
  c.n_heads = 2;
  c.n_kv_heads = 1;
  c.n_enc_layers = 1;
  c.n_dec_layers = 1;
  c.max_enc_len = 16;
  c.max_dec_len = 8;
  c.contrastive_dim = 4;
  for (auto [type, name] : {std::pair{np::GgmlType::F32, "tiny_model_f32.gguf"}, std::pair{np::GgmlType::F16, "tiny_model_f16.gguf"}}) {
    np::GgufWriter w;
    np::Status st = np::model_write_random(c, tok.value(), 1, type, &w);
    if (!st.ok()) { std::fprintf(stderr, "%s\n", st.to_string().c_str()); return 1; }
    auto bytes = w.to_bytes();
    if (!bytes.ok()) return 1;
    const std::string path = std::string(argv[1]) + "/" + name;
    FILE* f = std::fopen(path.c_str(), "wb");
    if (!f) return 1;
    std::fwrite(bytes.value().data(), 1, bytes.value().size(), f);
    std::fclose(f);
    std::printf("%s: %zu bytes\n", path.c_str(), bytes.value().size());
  }
  return 0;
}
