// tokenizer.h — SentencePiece-compatible BPE tokenizer (encode and decode), loaded from a
// GGUF's tokenizer.ggml.* keys or from a SentencePiece .model file (ModelProto, parsed by
// our own protobuf wire-format reader). Encoding is identical to SentencePiece's
// Encode(text) for BPE models with Needle's settings (identity normalization rule).
// Not here: prompt building (see tool_caller.h), any model math.
#pragma once
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "np/gguf.h"
#include "np/status.h"

namespace np {

// Token types as GGUF stores them (tokenizer.ggml.token_type); on disk, append only.
enum class TokenType : int32_t {
  kNormal = 1, kUnknown = 2, kControl = 3, kUserDefined = 4, kUnused = 5, kByte = 6,
};

struct TokenizerConfig {
  bool add_dummy_prefix = true;          // tokenizer.ggml.add_space_prefix
  bool remove_extra_whitespaces = true;  // tokenizer.ggml.remove_extra_whitespaces
  bool escape_whitespaces = true;        // spaces -> U+2581; false is UNSUPPORTED (no GGUF key holds it)
  bool byte_fallback = true;             // tokenizer.ggml.byte_fallback
  int32_t pad_id = 0, eos_id = 1, bos_id = 2, unk_id = 3;  // -1 when the model has none
};

class Tokenizer {
 public:
  static Result<Tokenizer> from_gguf(const GgufFile& file);
  static Result<Tokenizer> from_spm_bytes(const uint8_t* data, size_t size);
  static Result<Tokenizer> from_spm_file(const std::string& path);
  // Build directly (tests, random models). pieces/scores/types are parallel arrays.
  static Result<Tokenizer> from_pieces(std::vector<std::string> pieces, std::vector<float> scores,
                                       std::vector<TokenType> types, TokenizerConfig config);

  // SentencePiece Encode(text): no BOS/EOS added. As SentencePiece does, each byte that is
  // not part of a valid UTF-8 sequence (overlong forms and surrogates are invalid) becomes
  // U+FFFD, which then falls back to the byte pieces <0xEF><0xBF><0xBD> (or unk) unless
  // the vocab has it. Only ' ' (0x20) counts as whitespace; tabs/newlines are ordinary
  // characters. E.g. Needle: "a\xffb" -> pieces ▁ a <0xEF> <0xBF> <0xBD> b.
  std::vector<int32_t> encode(std::string_view text) const;
  // SentencePiece Decode(ids): control tokens dropped, byte pieces reassembled into UTF-8
  // (each byte that does not form a valid character -> U+FFFD), U+2581 -> space. While
  // the text is still empty, a leading U+2581 is removed (with remove_extra_whitespaces on,
  // from every piece until something is output; otherwise from the first such piece only;
  // neither flag on: kept). Ids out of range are skipped (SentencePiece refuses the call).
  std::string decode(const std::vector<int32_t>& ids) const;

  // The bytes a token contributes to decoded text in the middle of a sequence:
  // piece with U+2581 -> ' ', byte piece <0xAB> -> that single byte, control -> "",
  // unknown -> " \xE2\x81\x87 " (SentencePiece's unk surface), user-defined -> its text.
  // Constrained decoding uses this.
  const std::string& token_text(int32_t id) const { return token_text_[id]; }

  int32_t vocab_size() const { return static_cast<int32_t>(pieces_.size()); }
  const std::string& piece(int32_t id) const { return pieces_[id]; }
  float score(int32_t id) const { return scores_[id]; }
  TokenType type(int32_t id) const { return types_[id]; }
  int32_t piece_to_id(std::string_view piece) const;  // -1 if absent
  const TokenizerConfig& config() const { return config_; }

  // Writes tokenizer.ggml.* keys (model "llama", tokens, scores, token_type, special ids,
  // add_space_prefix, remove_extra_whitespaces, byte_fallback).
  void write_gguf(GgufWriter& w) const;

 private:
  // Shared by every factory: validates the vocab and builds the lookup tables.
  static Result<Tokenizer> build(std::vector<std::string> pieces, std::vector<float> scores,
                                 std::vector<TokenType> types, TokenizerConfig config,
                                 std::string unk_surface);
  // (implementation state: vocab maps, user-defined symbol trie, byte piece ids, ...)
  std::vector<std::string> pieces_;
  std::vector<float> scores_;
  std::vector<TokenType> types_;
  std::vector<std::string> token_text_;
  TokenizerConfig config_;
  struct Impl;
  std::shared_ptr<const Impl> impl_;  // immutable lookup tables, shared by copies
};

}  // namespace np
