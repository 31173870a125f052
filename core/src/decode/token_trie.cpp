// token_trie.cpp — see token_trie.h.
#include "decode/token_trie.h"

#include <algorithm>
#include <numeric>

namespace np {

TokenTrie::TokenTrie(const Tokenizer& tok) : tok_(&tok) {
  for (int32_t id = 0; id < tok.vocab_size(); ++id) {
    const TokenType type = tok.type(id);
    if (type == TokenType::kControl || type == TokenType::kUnknown || type == TokenType::kUnused) continue;
    if (!tok.token_text(id).empty()) ids_.push_back(id);
  }
  // std::string compares as unsigned bytes (char_traits<char>::compare is memcmp).
  std::sort(ids_.begin(), ids_.end(), [&](int32_t a, int32_t b) {
    const int c = tok.token_text(a).compare(tok.token_text(b));
    return c < 0 || (c == 0 && a < b);
  });
  size_t i = 0;
  for (int c = 0; c < 256; ++c) {
    first_[c] = i;
    while (i < ids_.size() && static_cast<unsigned char>(text(i)[0]) == c) ++i;
  }
  first_[256] = i;
  for (const int32_t id : ids_)
    if (tok.token_text(id).find(']') != std::string::npos) closers_.push_back(id);
  std::sort(closers_.begin(), closers_.end());
}

bool TokenTrie::allowed(const CallGrammar& g, size_t limit, std::vector<int32_t>* out,
                        std::vector<CallGrammar>* states) const {
  out->clear();
  if (states->size() < 2) states->assign(2, g);
  std::vector<CallGrammar>& st = *states;
  st[0] = g;
  // The first byte's runs are known (first_): no search at the root, where most are refused.
  for (int c = 0; c < 256; ++c) {
    if (first_[c] == first_[c + 1] || st[0].byte_verdict(static_cast<uint8_t>(c)) == 0) continue;
    st[1] = st[0];
    if (st[1].feed_byte(static_cast<uint8_t>(c)) && !walk(first_[c], first_[c + 1], 1, limit, out, states)) return false;
  }
  return true;
}

// [lo, hi): the tokens whose first `depth` bytes the grammar (*states)[depth] has consumed.
bool TokenTrie::walk(size_t lo, size_t hi, size_t depth, size_t limit, std::vector<int32_t>* out,
                     std::vector<CallGrammar>* states) const {
  std::vector<CallGrammar>& st = *states;
  // Tokens that end here sort first: accepted whole.
  while (lo < hi && text(lo).size() == depth) {
    if (out->size() >= limit) return false;
    out->push_back(ids_[lo++]);
  }
  if (st.size() < depth + 2) {
    const CallGrammar proto = st[depth];
    st.resize(depth + 2, proto);
  }
  while (lo < hi) {
    const unsigned char c = static_cast<unsigned char>(text(lo)[depth]);
    // The run of tokens with byte c at `depth` (all longer than depth, sorted).
    // Gallop to a token without c, then bisect (byte `depth` never decreases within the range).
    const auto byte_at = [&](size_t i) { return static_cast<unsigned char>(text(i)[depth]); };
    size_t known = lo, probe = lo + 1, step = 1;
    while (probe < hi && byte_at(probe) == c) {
      known = probe;
      probe = std::min(hi, probe + (step *= 2));
    }
    size_t end = known + 1;  // the first token without c lies in [known + 1, probe]
    for (size_t b = probe; end < b;) {
      const size_t m = end + (b - end) / 2;
      if (byte_at(m) == c) end = m + 1;
      else b = m;
    }
    // Most bytes are refused: ask the state before copying it.
    const int verdict = st[depth].byte_verdict(c);
    if (verdict != 0) {
      st[depth + 1] = st[depth];
      if (st[depth + 1].feed_byte(c) && !walk(lo, end, depth + 1, limit, out, states)) return false;
    }
    lo = end;
  }
  return true;
}

}  // namespace np
