// text.h — ASCII letter-case folding and whole-word search, shared by the decoding priors,
// the tools layer, the data pipeline and the metrics. Bytes outside ASCII are left as they
// are (a UTF-8 letter is one word character per byte), so the helpers never split or change
// a multi-byte character.
// Example: count_whole("play it, then play it again", "play it") == 2;
//          count_whole("display it", "play it") == 0;
//          for_each_word("leavingSpot_URL", f) calls f("leaving"), f("spot"), f("url").
#pragma once
#include <algorithm>
#include <cstddef>
#include <string>
#include <string_view>
#include <utility>

namespace np {

inline char ascii_lower(char c) { return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c; }

inline std::string ascii_lowered(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = ascii_lower(c);
  return out;
}

// A word character: an ASCII letter or digit, or any byte of a non-ASCII (UTF-8) character.
inline bool word_byte(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
         static_cast<unsigned char>(c) >= 0x80;
}

// Whether the piece [at, at + len) of `text` starts at a word's start and, when `closed`,
// ends at a word's end: no word character on the far side of an edge that is itself a word
// character (" 10%" may follow "a"; "lay" inside "play" may not). An empty piece is whole.
inline bool whole_piece_at(std::string_view text, size_t at, size_t len, bool closed = true) {
  const bool start = at == 0 || len == 0 || !word_byte(text[at - 1]) || !word_byte(text[at]);
  const bool finish = !closed || len == 0 || at + len == text.size() || !word_byte(text[at + len]) ||
                      !word_byte(text[at + len - 1]);
  return start && finish;
}

// How many times `text` holds `piece` as a whole piece (overlapping places counted; an empty
// piece is held 0 times). Letter case counts: fold both first for a case-blind count.
inline size_t count_whole(std::string_view text, std::string_view piece) {
  if (piece.empty()) return 0;
  size_t n = 0;
  for (size_t at = text.find(piece); at != std::string_view::npos; at = text.find(piece, at + 1))
    n += whole_piece_at(text, at, piece.size());
  return n;
}

// Whether `text` holds `piece` as a whole piece at least once.
inline bool holds_whole(std::string_view text, std::string_view piece) {
  if (piece.empty()) return false;
  for (size_t at = text.find(piece); at != std::string_view::npos; at = text.find(piece, at + 1))
    if (whole_piece_at(text, at, piece.size())) return true;
  return false;
}

// A lowercase ASCII letter: the words the priors read in folded text are runs of them.
inline bool lower_letter(char c) { return c >= 'a' && c <= 'z'; }

// A word of folded text: [begin, end), a run of lowercase ASCII letters.
struct WordSpan {
  size_t begin, end;
  bool empty() const { return begin == end; }
  std::string_view of(std::string_view text) const { return text.substr(begin, end - begin); }
};

// The first word of folded `text` that starts at or after `from` (an empty span at the text's
// end where there is none). A run that began before `from` counts from `from` on.
inline WordSpan next_word(std::string_view text, size_t from) {
  size_t b = std::min(from, text.size());
  while (b < text.size() && !lower_letter(text[b])) ++b;
  size_t e = b;
  while (e < text.size() && lower_letter(text[e])) ++e;
  return {b, e};
}

// The start of the word of folded `text` that ends at `end` (`end` itself where the byte
// before it is no letter).
inline size_t word_start(std::string_view text, size_t end) {
  while (end > 0 && lower_letter(text[end - 1])) --end;
  return end;
}

// Calls f(word) for each word of an identifier or a text as the lexical prior reads them:
// runs of ASCII letters, lowered, where a capital after a lowercase letter starts a new word
// (camelCase, PascalCase): "leavingSpot" -> "leaving", "spot"; "URL_to" -> "url", "to";
// "playlist2go" -> "playlist", "go". Bytes that are no ASCII letter end a word.
template <class F>
void for_each_word(std::string_view text, F&& f) {
  std::string cur;
  for (size_t i = 0; i <= text.size(); ++i) {
    const char c = i < text.size() ? text[i] : ' ';
    const bool upper = c >= 'A' && c <= 'Z', lower = lower_letter(c);
    if ((!upper && !lower) || (upper && i > 0 && lower_letter(text[i - 1]))) {
      if (!cur.empty()) f(std::as_const(cur));
      cur.clear();
    }
    if (upper || lower) cur.push_back(ascii_lower(c));
  }
}

}  // namespace np
