// tokenizer.cpp — SentencePiece-compatible BPE tokenizer: the factories (pieces, .model
// bytes, GGUF keys), validation, normalization, BPE merges, byte fallback, decode, and the
// GGUF writer. Behaviour follows SentencePiece's normalizer.cc, bpe_model.cc and
// sentencepiece_processor.cc (v0.1.97, checked line for line against spm_encode and
// spm_decode by tests/tokenizer/); docs/tokenizer.md explains each rule.
// Not here: NFKC or any precompiled normalization (UNSUPPORTED), unigram models,
// sampling (BPE-dropout), prompt building.
#include "np/tokenizer.h"

#include <array>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <iterator>
#include <queue>
#include <unordered_map>

#include "tokenizer/spm_model.h"

namespace np {
namespace {

constexpr char kSpaceSymbol[] = "\xE2\x96\x81";  // U+2581, SentencePiece's escaped space
constexpr size_t kSpaceSymbolLen = 3;
constexpr char kReplacementChar[] = "\xEF\xBF\xBD";  // U+FFFD
constexpr char kDefaultUnkSurface[] = " \xE2\x81\x87 ";  // " ⁇ ", TrainerSpec.unk_surface default

// Length of the valid UTF-8 character at s (n bytes available), or 0 if the bytes there
// are not one. As strict as SentencePiece's DecodeUTF8: no overlong forms, no surrogates,
// nothing above U+10FFFF. "A" -> 1, "\xC3\xA9" -> 2, "\xC0\xAF" -> 0, "\xED\xA0\x80" -> 0,
// "\xEF\xBF\xBD" (a literal U+FFFD) -> 3, "\xC3" alone -> 0.
size_t utf8_char_len(const unsigned char* s, size_t n) {
  if (n == 0) return 0;
  const uint32_t c = s[0];
  auto trail = [s](size_t i) { return (s[i] & 0xC0) == 0x80; };
  if (c < 0x80) return 1;
  if ((c & 0xE0) == 0xC0) {
    if (n < 2 || !trail(1)) return 0;
    const uint32_t cp = ((c & 0x1F) << 6) | (s[1] & 0x3F);
    return cp >= 0x80 ? 2 : 0;
  }
  if ((c & 0xF0) == 0xE0) {
    if (n < 3 || !trail(1) || !trail(2)) return 0;
    const uint32_t cp = ((c & 0x0F) << 12) | ((s[1] & 0x3Fu) << 6) | (s[2] & 0x3F);
    return (cp >= 0x800 && (cp < 0xD800 || cp > 0xDFFF)) ? 3 : 0;
  }
  if ((c & 0xF8) == 0xF0) {
    if (n < 4 || !trail(1) || !trail(2) || !trail(3)) return 0;
    const uint32_t cp = ((c & 0x07) << 18) | ((s[1] & 0x3Fu) << 12) | ((s[2] & 0x3Fu) << 6) | (s[3] & 0x3F);
    return (cp >= 0x10000 && cp <= 0x10FFFF) ? 4 : 0;
  }
  return 0;
}

// SentencePiece's OneCharLen: the length a lead byte announces (0x41 -> 1, 0xE2 -> 3,
// 0xF0..0xFF -> 4, a stray continuation byte -> 1), capped by the bytes left.
size_t one_char_len(const char* s, size_t n) {
  static const uint8_t kLen[16] = {1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 2, 2, 3, 4};
  const size_t len = kLen[static_cast<uint8_t>(s[0]) >> 4];
  return len < n ? len : n;
}

// "<0x0A>" -> 10; anything not exactly "<0x" + two uppercase hex digits + ">" -> -1
// (SentencePiece accepts only the strings its own ByteToPiece prints).
int byte_piece_value(const std::string& p) {
  if (p.size() != 6 || p.compare(0, 3, "<0x") != 0 || p[5] != '>') return -1;
  auto hex = [](char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
  };
  const int hi = hex(p[3]), lo = hex(p[4]);
  return (hi < 0 || lo < 0) ? -1 : hi * 16 + lo;
}

std::string byte_piece_name(int b) {
  char buf[8];
  std::snprintf(buf, sizeof buf, "<0x%02X>", b);
  return buf;
}

// Piece text with U+2581 turned into ' ' ("▁the" -> " the").
std::string unescape_spaces(std::string_view piece) {
  std::string out;
  out.reserve(piece.size());
  for (size_t i = 0; i < piece.size();) {
    if (piece.compare(i, kSpaceSymbolLen, kSpaceSymbol) == 0) {
      out.push_back(' ');
      i += kSpaceSymbolLen;
    } else {
      out.push_back(piece[i++]);
    }
  }
  return out;
}

// Longest-match trie over the user-defined symbols (SentencePiece's PrefixMatcher).
class ByteTrie {
 public:
  void insert(std::string_view s) {
    int32_t node = 0;
    for (unsigned char b : s) {
      const uint64_t key = (static_cast<uint64_t>(node) << 8) | b;
      auto it = edges_.find(key);
      if (it == edges_.end()) {
        terminal_.push_back(false);
        it = edges_.emplace(key, static_cast<int32_t>(terminal_.size() - 1)).first;
      }
      node = it->second;
    }
    terminal_[node] = true;
  }
  bool empty() const { return edges_.empty(); }
  // Length of the longest symbol that s[0..n) starts with; 0 if none.
  size_t longest_match(const char* s, size_t n) const {
    if (edges_.empty()) return 0;
    size_t best = 0;
    int32_t node = 0;
    for (size_t i = 0; i < n; ++i) {
      auto it = edges_.find((static_cast<uint64_t>(node) << 8) | static_cast<uint8_t>(s[i]));
      if (it == edges_.end()) break;
      node = it->second;
      if (terminal_[node]) best = i + 1;
    }
    return best;
  }

 private:
  std::unordered_map<uint64_t, int32_t> edges_;  // (node << 8 | byte) -> child node
  std::vector<bool> terminal_{false};             // node 0 is the root
};

Status bad(std::string msg) { return Status(Code::kBadTokenizer, std::move(msg)); }

}  // namespace

struct Tokenizer::Impl {
  std::vector<std::string> pieces;  // own copy: the maps below hold views into it
  std::vector<float> scores;
  std::vector<TokenType> types;
  std::vector<int16_t> byte_of;     // byte value of a BYTE piece, else -1
  // SentencePiece keeps two maps: pieces that BPE may form (NORMAL, USER_DEFINED, UNUSED)
  // and reserved ones (CONTROL, UNKNOWN, BYTE) that only id lookup sees.
  std::unordered_map<std::string_view, int32_t> mergeable;
  std::unordered_map<std::string_view, int32_t> reserved;
  std::array<int32_t, 256> byte_ids{};  // id of <0xXX>; -1 without byte fallback
  ByteTrie user_defined;
  bool has_unused = false;
  std::string unk_surface;
  TokenizerConfig config;

  // SentencePiece's PieceToId: reserved pieces first, then mergeable; -1 if absent.
  int32_t lookup(std::string_view piece) const {
    auto it = reserved.find(piece);
    if (it != reserved.end()) return it->second;
    auto jt = mergeable.find(piece);
    return jt != mergeable.end() ? jt->second : -1;
  }
  void normalize(std::string_view text, std::string* out) const;
  void encode(std::string_view text, std::vector<int32_t>* ids) const;
  std::string decode(const std::vector<int32_t>& ids) const;
};

// SentencePiece's Normalizer::Normalize for an empty charsmap (identity rule):
//  - the input is consumed one "prefix" at a time: a whole user-defined symbol (longest
//    match), else one valid UTF-8 character, else one invalid byte, emitted as U+FFFD;
//  - remove_extra_whitespaces: leading ' ' dropped, runs of ' ' collapsed to one, and
//    trailing U+2581 dropped (including ones that were literal U+2581 in the input);
//  - add_dummy_prefix: U+2581 put in front (after leading spaces were dropped);
//  - every ' ' becomes U+2581. Only 0x20 is whitespace here.
// "  Hello   world " -> "▁Hello▁world"; "a\tb" -> "▁a\tb"; "x▁" -> "▁x"; "   " -> "".
void Tokenizer::Impl::normalize(std::string_view in, std::string* out) const {
  out->clear();
  const size_t n = in.size();
  auto prefix = [&](size_t at, std::string_view* emit) -> size_t {
    const size_t m = user_defined.longest_match(in.data() + at, n - at);
    if (m > 0) {
      *emit = in.substr(at, m);
      return m;
    }
    const size_t len = utf8_char_len(reinterpret_cast<const unsigned char*>(in.data()) + at, n - at);
    if (len > 0) {
      *emit = in.substr(at, len);
      return len;
    }
    *emit = std::string_view(kReplacementChar, 3);
    return 1;
  };

  const bool rew = config.remove_extra_whitespaces;
  size_t pos = 0;
  std::string_view emit;
  if (rew) {
    while (pos < n) {
      const size_t used = prefix(pos, &emit);
      if (emit != " ") break;
      pos += used;
    }
  }
  if (pos == n) return;

  out->reserve((n - pos) * 3 + kSpaceSymbolLen);
  if (config.add_dummy_prefix) out->append(kSpaceSymbol, kSpaceSymbolLen);
  bool prev_space = rew;
  while (pos < n) {
    const size_t used = prefix(pos, &emit);
    if (prev_space) {
      while (!emit.empty() && emit.front() == ' ') emit.remove_prefix(1);
    }
    if (!emit.empty()) {
      for (char c : emit) {
        if (c == ' ') {
          out->append(kSpaceSymbol, kSpaceSymbolLen);
        } else {
          out->push_back(c);
        }
      }
      prev_space = emit.back() == ' ';
    }
    pos += used;
    if (!rew) prev_space = false;
  }
  if (rew) {
    while (out->size() >= kSpaceSymbolLen &&
           out->compare(out->size() - kSpaceSymbolLen, kSpaceSymbolLen, kSpaceSymbol) == 0) {
      out->resize(out->size() - kSpaceSymbolLen);
    }
  }
}

// SentencePiece's bpe::Model::Encode on the normalized text, then the id mapping of
// SentencePieceProcessor (byte fallback / unknown runs):
//  1. split into symbols: a user-defined symbol (longest match) is one frozen symbol,
//     anything else one UTF-8 character;
//  2. every adjacent pair whose concatenation is a mergeable piece is a candidate; take
//     the candidate with the highest piece score, ties to the leftmost, merge it, and
//     add the new pairs it forms with its neighbours (a max-heap with lazy deletion over
//     a doubly linked list of symbols: O(n log n));
//  3. a final symbol that is an UNUSED piece is split back into the two symbols that
//     formed it (recursively);
//  4. an unknown symbol becomes its UTF-8 bytes as <0xXX> pieces with byte fallback;
//     without it, a run of unknown symbols becomes a single unk id.
void Tokenizer::Impl::encode(std::string_view text, std::vector<int32_t>* ids) const {
  ids->clear();
  std::string norm;
  normalize(text, &norm);
  if (norm.empty()) return;

  struct Symbol {
    int64_t prev, next;
    size_t begin, size;  // bytes of norm; size 0 once merged into its left neighbour
    bool freeze;         // a user-defined symbol: never merged
  };
  struct Pair {
    float score;
    int64_t left, right;
    size_t size;  // bytes of the merged piece, to detect stale entries
  };
  struct PairOrder {  // std::priority_queue pops the "largest": best score, then leftmost
    bool operator()(const Pair& a, const Pair& b) const {
      return a.score < b.score || (a.score == b.score && a.left > b.left);
    }
  };

  std::vector<Symbol> sym;
  sym.reserve(norm.size());
  for (size_t pos = 0; pos < norm.size();) {
    size_t len = user_defined.longest_match(norm.data() + pos, norm.size() - pos);
    const bool freeze = len > 0;
    if (!freeze) len = one_char_len(norm.data() + pos, norm.size() - pos);
    const int64_t i = static_cast<int64_t>(sym.size());
    sym.push_back({i - 1, pos + len < norm.size() ? i + 1 : -1, pos, len, freeze});
    pos += len;
  }

  auto view = [&](int64_t i) { return std::string_view(norm).substr(sym[i].begin, sym[i].size); };
  std::vector<Pair> heap_storage;
  heap_storage.reserve(sym.size());
  std::priority_queue<Pair, std::vector<Pair>, PairOrder> agenda(PairOrder(), std::move(heap_storage));
  // For UNUSED pieces: the two symbols that formed them (the last pair seen wins, as in
  // SentencePiece).
  std::unordered_map<std::string_view, std::pair<std::string_view, std::string_view>> rev_merge;

  auto maybe_add_pair = [&](int64_t left, int64_t right) {
    if (left < 0 || right < 0 || sym[left].freeze || sym[right].freeze) return;
    const std::string_view merged = std::string_view(norm).substr(sym[left].begin, sym[left].size + sym[right].size);
    auto it = mergeable.find(merged);
    if (it == mergeable.end()) return;
    agenda.push({scores[it->second], left, right, merged.size()});
    if (has_unused && types[it->second] == TokenType::kUnused) rev_merge[merged] = {view(left), view(right)};
  };

  for (size_t i = 1; i < sym.size(); ++i) maybe_add_pair(static_cast<int64_t>(i) - 1, static_cast<int64_t>(i));

  while (!agenda.empty()) {
    const Pair top = agenda.top();
    agenda.pop();
    Symbol& l = sym[top.left];
    Symbol& r = sym[top.right];
    if (l.size == 0 || r.size == 0 || l.size + r.size != top.size) continue;  // stale
    l.size += r.size;
    l.next = r.next;
    if (r.next >= 0) sym[r.next].prev = top.left;
    r.size = 0;
    maybe_add_pair(l.prev, top.left);
    maybe_add_pair(top.left, l.next);
  }

  bool prev_unk = false;
  auto emit = [&](std::string_view w, int32_t id) {
    const bool is_unk = types[id] == TokenType::kUnknown;
    if (is_unk && config.byte_fallback) {
      for (unsigned char b : w) ids->push_back(byte_ids[b]);
    } else if (!(is_unk && prev_unk)) {
      ids->push_back(id);
    }
    prev_unk = is_unk;
  };

  std::vector<std::string_view> stack;
  for (int64_t i = 0; i != -1; i = sym[i].next) {
    stack.push_back(view(i));
    while (!stack.empty()) {
      const std::string_view w = stack.back();
      stack.pop_back();
      int32_t id = lookup(w);
      if (id < 0) id = config.unk_id;
      if (types[id] == TokenType::kUnused) {
        auto it = rev_merge.find(w);
        if (it != rev_merge.end()) {
          stack.push_back(it->second.second);
          stack.push_back(it->second.first);
          continue;
        }
      }
      emit(w, id);
    }
  }
}

// SentencePieceProcessor::Decode(ids). Consecutive byte pieces are gathered and decoded
// as UTF-8, each byte that does not start a valid character giving U+FFFD. Before each
// other piece: once the text is non-empty (or a leading U+2581 was already taken off
// without remove_extra_whitespaces) no more U+2581 is stripped.
std::string Tokenizer::Impl::decode(const std::vector<int32_t>& ids) const {
  std::string text, bytes;
  const int64_t n = static_cast<int64_t>(pieces.size());
  const bool strip_allowed = config.add_dummy_prefix || config.remove_extra_whitespaces;
  bool is_bos_ws = true, bos_ws_seen = false;

  auto flush_bytes = [&]() {
    const auto* b = reinterpret_cast<const unsigned char*>(bytes.data());
    for (size_t off = 0; off < bytes.size();) {
      const size_t len = utf8_char_len(b + off, bytes.size() - off);
      if (len == 0) {
        text.append(kReplacementChar, 3);
        off += 1;
      } else {
        text.append(bytes, off, len);
        off += len;
      }
    }
    bytes.clear();
  };

  for (const int32_t id : ids) {
    if (id < 0 || id >= n) continue;
    const TokenType t = types[id];
    if (t == TokenType::kByte) {
      bytes.push_back(static_cast<char>(byte_of[id]));
      continue;
    }
    flush_bytes();
    if (bos_ws_seen || !text.empty()) is_bos_ws = false;
    bos_ws_seen = false;
    if (t == TokenType::kControl) continue;
    if (t == TokenType::kUnknown) {
      text += unk_surface;
      continue;
    }
    std::string_view piece = pieces[id];
    if (is_bos_ws && strip_allowed && piece.compare(0, kSpaceSymbolLen, kSpaceSymbol) == 0) {
      piece.remove_prefix(kSpaceSymbolLen);
      bos_ws_seen = !config.remove_extra_whitespaces;
    }
    text += unescape_spaces(piece);
  }
  flush_bytes();
  return text;
}

Result<Tokenizer> Tokenizer::build(std::vector<std::string> pieces, std::vector<float> scores,
                                   std::vector<TokenType> types, TokenizerConfig config,
                                   std::string unk_surface) {
  const size_t n = pieces.size();
  if (n == 0) return bad("tokenizer vocab is empty");
  if (n > 0x7FFFFFFF) return bad("tokenizer vocab too large: " + std::to_string(n));
  if (scores.size() != n || types.size() != n) {
    return bad("tokenizer arrays differ in length: " + std::to_string(n) + " pieces, " +
               std::to_string(scores.size()) + " scores, " + std::to_string(types.size()) + " types");
  }
  if (!config.escape_whitespaces) {
    return Status(Code::kUnsupported, "tokenizer: escape_whitespaces = false is not supported");
  }

  auto impl = std::make_shared<Impl>();
  impl->pieces = pieces;
  impl->scores = scores;
  impl->types = types;
  impl->byte_of.assign(n, -1);
  impl->byte_ids.fill(-1);
  impl->unk_surface = std::move(unk_surface);
  int32_t unk = -1;
  for (size_t i = 0; i < n; ++i) {
    const std::string& p = impl->pieces[i];
    const std::string where = "piece " + std::to_string(i);
    const int32_t t = static_cast<int32_t>(types[i]);
    if (p.empty()) return bad(where + " is empty");
    if (t < 1 || t > 6) return bad(where + " ('" + p + "'): unknown token type " + std::to_string(t));
    if (std::isnan(scores[i])) return bad(where + " ('" + p + "'): score is NaN");
    const TokenType type = types[i];
    const bool is_mergeable =
        type == TokenType::kNormal || type == TokenType::kUserDefined || type == TokenType::kUnused;
    auto& map = is_mergeable ? impl->mergeable : impl->reserved;
    const auto ins = map.emplace(std::string_view(p), static_cast<int32_t>(i));
    if (!ins.second) {
      return bad(where + " ('" + p + "') is already defined as piece " + std::to_string(ins.first->second));
    }
    if (type == TokenType::kUserDefined) impl->user_defined.insert(p);
    if (type == TokenType::kUnused) impl->has_unused = true;
    if (type == TokenType::kUnknown) {
      if (unk >= 0) return bad(where + " ('" + p + "'): a second UNKNOWN piece (first is " + std::to_string(unk) + ")");
      unk = static_cast<int32_t>(i);
    }
    if (type == TokenType::kByte) {
      if (!config.byte_fallback) return bad(where + " ('" + p + "') is a BYTE piece but byte_fallback is off");
      const int b = byte_piece_value(p);
      if (b < 0) return bad(where + " ('" + p + "') is a BYTE piece not of the form <0xXX>");
      impl->byte_of[i] = static_cast<int16_t>(b);
      impl->byte_ids[b] = static_cast<int32_t>(i);
    }
  }
  if (unk < 0) return bad("tokenizer has no UNKNOWN piece");
  if (config.unk_id != unk) {
    return bad("unk_id " + std::to_string(config.unk_id) + " is not the UNKNOWN piece (" + std::to_string(unk) + ")");
  }
  if (config.byte_fallback) {
    for (int b = 0; b < 256; ++b) {
      if (impl->byte_ids[b] < 0) return bad("byte_fallback is on but byte piece " + byte_piece_name(b) + " is missing");
    }
  }
  const std::pair<const char*, int32_t> specials[] = {
      {"pad_id", config.pad_id}, {"eos_id", config.eos_id}, {"bos_id", config.bos_id}};
  for (const auto& s : specials) {
    if (s.second < -1 || s.second >= static_cast<int64_t>(n)) {
      return bad(std::string(s.first) + " " + std::to_string(s.second) + " out of range [-1, " + std::to_string(n) + ")");
    }
  }
  impl->config = config;

  Tokenizer tok;
  tok.token_text_.resize(n);
  for (size_t i = 0; i < n; ++i) {
    switch (types[i]) {
      case TokenType::kControl: break;
      case TokenType::kUnknown: tok.token_text_[i] = impl->unk_surface; break;
      case TokenType::kByte: tok.token_text_[i] = std::string(1, static_cast<char>(impl->byte_of[i])); break;
      default: tok.token_text_[i] = unescape_spaces(pieces[i]); break;
    }
  }
  tok.pieces_ = std::move(pieces);
  tok.scores_ = std::move(scores);
  tok.types_ = std::move(types);
  tok.config_ = config;
  tok.impl_ = std::move(impl);
  return tok;
}

Result<Tokenizer> Tokenizer::from_pieces(std::vector<std::string> pieces, std::vector<float> scores,
                                         std::vector<TokenType> types, TokenizerConfig config) {
  return build(std::move(pieces), std::move(scores), std::move(types), config, kDefaultUnkSurface);
}

Result<Tokenizer> Tokenizer::from_spm_bytes(const uint8_t* data, size_t size) {
  SpmModel m;
  NP_RETURN_IF_ERROR(spm_model_parse(data, size, &m));
  static const char* kModelTypes[] = {"?", "UNIGRAM", "BPE", "WORD", "CHAR"};
  const int32_t mt = m.trainer.model_type;
  if (mt != 2) {
    const std::string name = (mt >= 1 && mt <= 4) ? kModelTypes[mt] : std::to_string(mt);
    return Status(Code::kUnsupported, "SentencePiece model_type " + name + ": only BPE is supported");
  }
  if (!m.normalizer.precompiled_charsmap.empty()) {
    return Status(Code::kUnsupported, "SentencePiece normalizer '" + m.normalizer.name + "' (precompiled_charsmap of " +
                                          std::to_string(m.normalizer.precompiled_charsmap.size()) +
                                          " bytes): only the identity rule is supported");
  }
  if (m.has_denormalizer && !m.denormalizer.precompiled_charsmap.empty()) {
    return Status(Code::kUnsupported, "SentencePiece denormalizer '" + m.denormalizer.name + "' is not supported");
  }
  if (m.trainer.treat_whitespace_as_suffix) {
    return Status(Code::kUnsupported, "SentencePiece treat_whitespace_as_suffix is not supported");
  }
  if (m.pieces.empty()) return bad("SentencePiece model has no pieces");

  std::vector<std::string> pieces;
  std::vector<float> scores;
  std::vector<TokenType> types;
  pieces.reserve(m.pieces.size());
  scores.reserve(m.pieces.size());
  types.reserve(m.pieces.size());
  for (size_t i = 0; i < m.pieces.size(); ++i) {
    const SpmPiece& p = m.pieces[i];
    if (p.type < 1 || p.type > 6) {
      return bad("SentencePiece piece " + std::to_string(i) + ": unknown type " + std::to_string(p.type));
    }
    pieces.push_back(p.piece);
    scores.push_back(p.score);
    types.push_back(static_cast<TokenType>(p.type));
  }

  TokenizerConfig config;
  config.add_dummy_prefix = m.normalizer.add_dummy_prefix;
  config.remove_extra_whitespaces = m.normalizer.remove_extra_whitespaces;
  config.escape_whitespaces = m.normalizer.escape_whitespaces;
  config.byte_fallback = m.trainer.byte_fallback;
  // As SentencePieceProcessor::bos_id() etc.: the id of the named piece when it is a
  // CONTROL piece (UNKNOWN for unk), else -1.
  auto special = [&](const std::string& name, TokenType want) -> int32_t {
    for (size_t i = 0; i < pieces.size(); ++i) {
      if (pieces[i] == name && types[i] == want) return static_cast<int32_t>(i);
    }
    return -1;
  };
  config.pad_id = special(m.trainer.pad_piece, TokenType::kControl);
  config.eos_id = special(m.trainer.eos_piece, TokenType::kControl);
  config.bos_id = special(m.trainer.bos_piece, TokenType::kControl);
  config.unk_id = -1;
  for (size_t i = 0; i < types.size(); ++i) {
    if (types[i] == TokenType::kUnknown) {
      config.unk_id = static_cast<int32_t>(i);
      break;
    }
  }
  return build(std::move(pieces), std::move(scores), std::move(types), config, m.trainer.unk_surface);
}

Result<Tokenizer> Tokenizer::from_spm_file(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  if (!f) return Status(Code::kIoError, path + ": cannot open");
  std::vector<uint8_t> bytes((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
  if (f.bad()) return Status(Code::kIoError, path + ": read failed");
  Result<Tokenizer> r = from_spm_bytes(bytes.data(), bytes.size());
  if (!r.ok()) return Status(r.status().code(), path + ": " + r.status().message());
  return r;
}

// ---- GGUF ----------------------------------------------------------------------------

namespace {

constexpr char kKeyModel[] = "tokenizer.ggml.model";
constexpr char kKeyTokens[] = "tokenizer.ggml.tokens";
constexpr char kKeyScores[] = "tokenizer.ggml.scores";
constexpr char kKeyTypes[] = "tokenizer.ggml.token_type";
constexpr char kKeyPad[] = "tokenizer.ggml.padding_token_id";
constexpr char kKeyEos[] = "tokenizer.ggml.eos_token_id";
constexpr char kKeyBos[] = "tokenizer.ggml.bos_token_id";
constexpr char kKeyUnk[] = "tokenizer.ggml.unknown_token_id";
constexpr char kKeySpacePrefix[] = "tokenizer.ggml.add_space_prefix";
constexpr char kKeyRemoveWs[] = "tokenizer.ggml.remove_extra_whitespaces";
constexpr char kKeyByteFallback[] = "tokenizer.ggml.byte_fallback";

bool is_signed_int(GgufValueType t) {
  return t == GgufValueType::I8 || t == GgufValueType::I16 || t == GgufValueType::I32 || t == GgufValueType::I64;
}
bool is_unsigned_int(GgufValueType t) {
  return t == GgufValueType::U8 || t == GgufValueType::U16 || t == GgufValueType::U32 || t == GgufValueType::U64;
}

// Any integer value as int64 (false if not an integer or a u64 beyond int64).
bool value_int(const GgufValue& v, int64_t* out) {
  if (is_signed_int(v.type)) {
    *out = v.i;
    return true;
  }
  if (is_unsigned_int(v.type) && v.u <= static_cast<uint64_t>(INT64_MAX)) {
    *out = static_cast<int64_t>(v.u);
    return true;
  }
  return false;
}

Status get_array(const GgufFile& f, const char* key, const std::vector<GgufValue>** out) {
  const GgufValue* v = f.find(key);
  if (!v) return bad(std::string(key) + ": missing");
  if (v->type != GgufValueType::ARRAY) return bad(std::string(key) + ": not an array");
  *out = &v->arr;
  return Status::Ok();
}

// An optional special id: absent -> fallback; present -> an integer in [0, n).
Status get_special_id(const GgufFile& f, const char* key, size_t n, int32_t fallback, int32_t* out) {
  const GgufValue* v = f.find(key);
  if (!v) {
    *out = fallback;
    return Status::Ok();
  }
  int64_t id = 0;
  if (!value_int(*v, &id)) return bad(std::string(key) + ": not an integer");
  if (id < 0 || id >= static_cast<int64_t>(n)) {
    return bad(std::string(key) + ": " + std::to_string(id) + " out of range [0, " + std::to_string(n) + ")");
  }
  *out = static_cast<int32_t>(id);
  return Status::Ok();
}

Status get_flag(const GgufFile& f, const char* key, bool fallback, bool* out) {
  const GgufValue* v = f.find(key);
  if (!v) {
    *out = fallback;
    return Status::Ok();
  }
  if (v->type != GgufValueType::BOOL) return bad(std::string(key) + ": not a bool");
  *out = v->u != 0;
  return Status::Ok();
}

}  // namespace

Result<Tokenizer> Tokenizer::from_gguf(const GgufFile& file) {
  const GgufValue* model = file.find(kKeyModel);
  if (!model) return bad(std::string(kKeyModel) + ": missing (the file has no tokenizer)");
  if (model->type != GgufValueType::STRING) return bad(std::string(kKeyModel) + ": not a string");
  if (model->s != "llama") return bad(std::string(kKeyModel) + ": '" + model->s + "', expected 'llama' (SentencePiece)");

  const std::vector<GgufValue>* tokens = nullptr;
  const std::vector<GgufValue>* scores = nullptr;
  const std::vector<GgufValue>* ttypes = nullptr;
  NP_RETURN_IF_ERROR(get_array(file, kKeyTokens, &tokens));
  NP_RETURN_IF_ERROR(get_array(file, kKeyScores, &scores));
  NP_RETURN_IF_ERROR(get_array(file, kKeyTypes, &ttypes));
  const size_t n = tokens->size();
  if (n == 0) return bad(std::string(kKeyTokens) + ": empty");
  if (scores->size() != n) {
    return bad(std::string(kKeyScores) + ": " + std::to_string(scores->size()) + " entries, " +
               std::to_string(n) + " tokens");
  }
  if (ttypes->size() != n) {
    return bad(std::string(kKeyTypes) + ": " + std::to_string(ttypes->size()) + " entries, " +
               std::to_string(n) + " tokens");
  }

  std::vector<std::string> p(n);
  std::vector<float> s(n);
  std::vector<TokenType> t(n);
  bool has_bytes = false;
  int32_t unk = -1;
  for (size_t i = 0; i < n; ++i) {
    const std::string at = "[" + std::to_string(i) + "]";
    const GgufValue& tv = (*tokens)[i];
    if (tv.type != GgufValueType::STRING) return bad(std::string(kKeyTokens) + at + ": not a string");
    p[i] = tv.s;
    const GgufValue& sv = (*scores)[i];
    if (sv.type != GgufValueType::F32 && sv.type != GgufValueType::F64) {
      return bad(std::string(kKeyScores) + at + ": not a float");
    }
    s[i] = static_cast<float>(sv.f);
    int64_t type = 0;
    if (!value_int((*ttypes)[i], &type)) return bad(std::string(kKeyTypes) + at + ": not an integer");
    if (type < 1 || type > 6) return bad(std::string(kKeyTypes) + at + ": unknown token type " + std::to_string(type));
    t[i] = static_cast<TokenType>(type);
    if (t[i] == TokenType::kByte) has_bytes = true;
    if (t[i] == TokenType::kUnknown && unk < 0) unk = static_cast<int32_t>(i);
  }

  TokenizerConfig c;
  NP_RETURN_IF_ERROR(get_special_id(file, kKeyPad, n, -1, &c.pad_id));
  NP_RETURN_IF_ERROR(get_special_id(file, kKeyEos, n, -1, &c.eos_id));
  NP_RETURN_IF_ERROR(get_special_id(file, kKeyBos, n, -1, &c.bos_id));
  NP_RETURN_IF_ERROR(get_special_id(file, kKeyUnk, n, unk, &c.unk_id));
  NP_RETURN_IF_ERROR(get_flag(file, kKeySpacePrefix, true, &c.add_dummy_prefix));
  NP_RETURN_IF_ERROR(get_flag(file, kKeyRemoveWs, true, &c.remove_extra_whitespaces));
  NP_RETURN_IF_ERROR(get_flag(file, kKeyByteFallback, has_bytes, &c.byte_fallback));
  if (has_bytes && !c.byte_fallback) {
    return bad(std::string(kKeyByteFallback) + ": false, but the vocab has BYTE pieces (SentencePiece refuses that)");
  }
  if (c.unk_id >= 0 && t[c.unk_id] != TokenType::kUnknown) {
    return bad(std::string(kKeyUnk) + ": token " + std::to_string(c.unk_id) + " is not of type UNKNOWN (2)");
  }
  Result<Tokenizer> r = build(std::move(p), std::move(s), std::move(t), c, kDefaultUnkSurface);
  if (!r.ok()) return Status(r.status().code(), "tokenizer.ggml.*: " + r.status().message());
  return r;
}

void Tokenizer::write_gguf(GgufWriter& w) const {
  const size_t n = pieces_.size();
  std::vector<GgufValue> tokens, scores, types;
  tokens.reserve(n);
  scores.reserve(n);
  types.reserve(n);
  for (size_t i = 0; i < n; ++i) {
    tokens.push_back(GgufValue::make_string(pieces_[i]));
    scores.push_back(GgufValue::make_f32(scores_[i]));
    types.push_back(GgufValue::make_i32(static_cast<int32_t>(types_[i])));
  }
  w.set_kv(kKeyModel, GgufValue::make_string("llama"));
  w.set_kv(kKeyTokens, GgufValue::make_array(GgufValueType::STRING, std::move(tokens)));
  w.set_kv(kKeyScores, GgufValue::make_array(GgufValueType::F32, std::move(scores)));
  w.set_kv(kKeyTypes, GgufValue::make_array(GgufValueType::I32, std::move(types)));
  // An absent id (-1) has no u32 form: its key is left out.
  const std::pair<const char*, int32_t> ids[] = {
      {kKeyPad, config_.pad_id}, {kKeyEos, config_.eos_id}, {kKeyBos, config_.bos_id}, {kKeyUnk, config_.unk_id}};
  for (const auto& id : ids) {
    if (id.second >= 0) w.set_kv(id.first, GgufValue::make_u32(static_cast<uint32_t>(id.second)));
  }
  w.set_kv(kKeySpacePrefix, GgufValue::make_bool(config_.add_dummy_prefix));
  w.set_kv(kKeyRemoveWs, GgufValue::make_bool(config_.remove_extra_whitespaces));
  w.set_kv(kKeyByteFallback, GgufValue::make_bool(config_.byte_fallback));
}

// ---- public entry points ----------------------------------------------------------------

std::vector<int32_t> Tokenizer::encode(std::string_view text) const {
  std::vector<int32_t> ids;
  if (impl_) impl_->encode(text, &ids);
  return ids;
}

std::string Tokenizer::decode(const std::vector<int32_t>& ids) const {
  return impl_ ? impl_->decode(ids) : std::string();
}

int32_t Tokenizer::piece_to_id(std::string_view piece) const {
  return impl_ ? impl_->lookup(piece) : -1;
}

}  // namespace np
