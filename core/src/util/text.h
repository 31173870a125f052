// text.h — ASCII letter-case folding and whole-word search, shared by the decoding priors,
// the tools layer, the data pipeline and the metrics. Bytes outside ASCII are left as they
// are (a UTF-8 letter is one word character per byte), so the helpers never split or change
// a multi-byte character.
// Example: count_whole("play it, then play it again", "play it") == 2;
//          count_whole("display it", "play it") == 0.
#pragma once
#include <cstddef>
#include <string>
#include <string_view>

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

}  // namespace np
