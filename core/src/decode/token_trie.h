// token_trie.h — the vocabulary sorted by token text, walked in step with the answer grammar
// to list the tokens the grammar allows next without trying each of the vocabulary's
// thousands: tokens sharing a prefix are accepted or refused together, one grammar byte per
// distinct (prefix, next byte). Constrained decoding asks it where the grammar leaves few
// choices (JSON structure, tool names, keys, enums, numbers) and then computes the logits of
// those tokens only (docs/engine.md, "Sparse logits").
// Not here: the grammar (call_grammar.h), the decoding loop (greedy.cpp).
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "decode/call_grammar.h"
#include "np/tokenizer.h"

namespace np {

class TokenTrie {
 public:
  // Every token with a non-empty text that is not a control, unknown or unused piece.
  // The tokenizer must outlive the trie (its token texts are read in place).
  explicit TokenTrie(const Tokenizer& tokenizer);

  // The tokens whose whole text the grammar accepts from `g`, in the trie's order (by text),
  // into `out`; false (and `out` incomplete) once they would be more than `limit`. `states`:
  // the caller's scratch (grammar states by depth, kept between walks so they allocate once).
  bool allowed(const CallGrammar& g, size_t limit, std::vector<int32_t>* out, std::vector<CallGrammar>* states) const;

  size_t size() const { return ids_.size(); }

  // The trie's tokens whose text starts with byte c (a run of its order).
  const int32_t* first_byte_begin(uint8_t c) const { return ids_.data() + first_[c]; }
  const int32_t* first_byte_end(uint8_t c) const { return ids_.data() + first_[c + 1]; }
  // The trie's tokens whose text holds a ']' (those that can close an answer), by id.
  const std::vector<int32_t>& closers() const { return closers_; }

 private:
  bool walk(size_t lo, size_t hi, size_t depth, size_t limit, std::vector<int32_t>* out,
            std::vector<CallGrammar>* states) const;

  const std::string& text(size_t i) const { return tok_->token_text(ids_[i]); }

  const Tokenizer* tok_;
  std::vector<int32_t> ids_;  // sorted by text (bytes, unsigned), then id
  size_t first_[257] = {};    // ids_[first_[c], first_[c + 1]): the texts starting with byte c
  std::vector<int32_t> closers_;
};

}  // namespace np
