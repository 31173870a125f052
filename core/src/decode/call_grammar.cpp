// call_grammar.cpp — the answer-JSON pushdown automaton (see call_grammar.h).
#include "decode/call_grammar.h"

#include <algorithm>

namespace np {

namespace {

bool is_digit(uint8_t c) { return c >= '0' && c <= '9'; }
bool is_hex(uint8_t c) { return is_digit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F'); }
constexpr int kMaxNumberLen = 32;
constexpr size_t kMaxDepth = 8;

}  // namespace

bool CallGrammar::feed(std::string_view bytes) {
  for (char ch : bytes)
    if (!feed_byte(static_cast<uint8_t>(ch))) return false;
  return true;
}

const GrammarParam* CallGrammar::current_param() const {
  const GrammarTool* t = current_tool();
  if (!t || param_ < 0) return nullptr;
  return &t->params[param_];
}

// The shared rules for bytes inside a JSON string (after the opening quote).
bool CallGrammar::string_byte(uint8_t c, bool* closed) {
  *closed = false;
  switch (j_) {
    case J::kString:
      if (c == '"') {
        *closed = true;
        return true;
      }
      if (c == '\\') {
        j_ = J::kEscape;
        return true;
      }
      if (c < 0x20) return false;
      if (c < 0x80) return true;
      // UTF-8 lead byte: how many continuation bytes, and the range of the first one.
      if (c >= 0xC2 && c <= 0xDF) { utf8_left_ = 1; utf8_lo_ = 0x80; utf8_hi_ = 0xBF; }
      else if (c == 0xE0) { utf8_left_ = 2; utf8_lo_ = 0xA0; utf8_hi_ = 0xBF; }
      else if ((c >= 0xE1 && c <= 0xEC) || c == 0xEE || c == 0xEF) { utf8_left_ = 2; utf8_lo_ = 0x80; utf8_hi_ = 0xBF; }
      else if (c == 0xED) { utf8_left_ = 2; utf8_lo_ = 0x80; utf8_hi_ = 0x9F; }
      else if (c == 0xF0) { utf8_left_ = 3; utf8_lo_ = 0x90; utf8_hi_ = 0xBF; }
      else if (c >= 0xF1 && c <= 0xF3) { utf8_left_ = 3; utf8_lo_ = 0x80; utf8_hi_ = 0xBF; }
      else if (c == 0xF4) { utf8_left_ = 3; utf8_lo_ = 0x80; utf8_hi_ = 0x8F; }
      else return false;
      j_ = J::kUtf8;
      return true;
    case J::kUtf8:
      if (c < utf8_lo_ || c > utf8_hi_) return false;
      utf8_lo_ = 0x80;
      utf8_hi_ = 0xBF;
      if (--utf8_left_ == 0) j_ = J::kString;
      return true;
    case J::kEscape:
      if (c == 'u') {
        j_ = J::kHex;
        hex_left_ = 4;
        return true;
      }
      if (c == '"' || c == '\\' || c == '/' || c == 'b' || c == 'f' || c == 'n' || c == 'r' || c == 't') {
        j_ = J::kString;
        return true;
      }
      return false;
    case J::kHex:
      if (!is_hex(c)) return false;
      // No surrogate escapes (\uD800-\uDFFF): an unpaired one makes the JSON invalid.
      if (hex_left_ == 4) hex_first_d_ = c == 'd' || c == 'D';
      else if (hex_left_ == 3 && hex_first_d_ && !(c >= '0' && c <= '7')) return false;
      if (--hex_left_ == 0) j_ = J::kString;
      return true;
    default:
      return false;
  }
}

void CallGrammar::json_end_value() { j_ = stack_.empty() ? J::kIdle : J::kAfterItem; }

int CallGrammar::feed_json(uint8_t c) {
  switch (j_) {
    case J::kValueStart:
      if (c == '"') { j_ = J::kString; str_is_key_ = false; return 1; }
      if (c == '-') { j_ = J::kNumber; num_ = Num::kSign; num_len_ = 1; return 1; }
      if (c == '0') { j_ = J::kNumber; num_ = Num::kZero; num_len_ = 1; return 1; }
      if (is_digit(c)) { j_ = J::kNumber; num_ = Num::kInt; num_len_ = 1; return 1; }
      if (c == 't') { j_ = J::kWord; prefix_ = "rue"; return 1; }
      if (c == 'f') { j_ = J::kWord; prefix_ = "alse"; return 1; }
      if (c == 'n') { j_ = J::kWord; prefix_ = "ull"; return 1; }
      if (c == '[' && stack_.size() < kMaxDepth) { stack_.push_back('['); j_ = J::kArrStart; return 1; }
      if (c == '{' && stack_.size() < kMaxDepth) { stack_.push_back('{'); j_ = J::kObjKeyOrEnd; return 1; }
      return 0;
    case J::kString: case J::kEscape: case J::kHex: case J::kUtf8: {
      bool closed = false;
      if (!string_byte(c, &closed)) return 0;
      if (closed) {
        if (str_is_key_) {
          str_is_key_ = false;
          j_ = J::kColon;
        } else {
          json_end_value();
        }
      }
      return 1;
    }
    case J::kNumber: {
      const bool more = num_len_ < kMaxNumberLen;
      switch (num_) {
        case Num::kSign:
          if (c == '0' && more) { num_ = Num::kZero; ++num_len_; return 1; }
          if (is_digit(c) && more) { num_ = Num::kInt; ++num_len_; return 1; }
          return 0;
        case Num::kZero: case Num::kInt: case Num::kFrac: case Num::kExp:
          if (is_digit(c) && num_ != Num::kZero) {
            if (!more) return 0;
            // At most two exponent digits: a double overflows past e308 and parsers reject it.
            if (num_ == Num::kExp && ++exp_digits_ > 2) return 0;
            ++num_len_;
            return 1;
          }
          if (c == '.' && (num_ == Num::kZero || num_ == Num::kInt) && !num_integer_only_ && more) {
            num_ = Num::kDot; ++num_len_; return 1;
          }
          if ((c == 'e' || c == 'E') && num_ != Num::kExp && !num_integer_only_ && more) {
            num_ = Num::kE; ++num_len_; return 1;
          }
          // Any other byte ends the number; the container (or the caller) must take it.
          json_end_value();
          if (j_ == J::kIdle) return 2;
          return feed_json(c);
        case Num::kDot:
          if (is_digit(c) && more) { num_ = Num::kFrac; ++num_len_; return 1; }
          return 0;
        case Num::kE:
          if ((c == '+' || c == '-') && more) { num_ = Num::kESign; ++num_len_; return 1; }
          if (is_digit(c) && more) { num_ = Num::kExp; exp_digits_ = 1; ++num_len_; return 1; }
          return 0;
        case Num::kESign:
          if (is_digit(c) && more) { num_ = Num::kExp; exp_digits_ = 1; ++num_len_; return 1; }
          return 0;
      }
      return 0;
    }
    case J::kWord:
      if (prefix_.empty() || c != static_cast<uint8_t>(prefix_[0])) return 0;
      prefix_.erase(0, 1);
      if (prefix_.empty()) json_end_value();
      return 1;
    case J::kObjKeyOrEnd:
      if (c == '}') { stack_.pop_back(); json_end_value(); return 1; }
      if (c == '"') { j_ = J::kString; str_is_key_ = true; return 1; }
      return 0;
    case J::kObjKey:
      if (c == '"') { j_ = J::kString; str_is_key_ = true; return 1; }
      return 0;
    case J::kColon:
      if (c == ':') { j_ = J::kValueStart; return 1; }
      return 0;
    case J::kArrStart:
      if (c == ']') { stack_.pop_back(); json_end_value(); return 1; }
      j_ = J::kValueStart;
      return feed_json(c);
    case J::kAfterItem: {
      const char top = stack_.back();
      if (top == '[' && c == ']') { stack_.pop_back(); json_end_value(); return 1; }
      if (c == ',') { j_ = top == '[' ? J::kValueStart : J::kObjKey; return 1; }
      if (top == '{' && c == '}') { stack_.pop_back(); json_end_value(); return 1; }
      return 0;
    }
    case J::kIdle:
      return 0;
  }
  return 0;
}

void CallGrammar::begin_value() {
  st_ = St::kValue;
  j_ = J::kIdle;
  stack_.clear();
  prefix_.clear();
}

bool CallGrammar::feed_byte(uint8_t c) {
  switch (st_) {
    case St::kStart:
      if (c == ' ') { st_ = St::kStartSpace; return true; }
      [[fallthrough]];
    case St::kStartSpace:
      if (c != '[') return false;
      st_ = St::kArrOpen;
      return true;
    case St::kArrOpen:
      if (c == ']') { st_ = St::kDone; return true; }
      if (c != '{' || tools_->empty()) return false;
      st_ = St::kLit; lit_ = "\"name\":\""; lit_pos_ = 0; next_ = St::kName;
      return true;
    case St::kAfterCall:
      if (c == ']') { st_ = St::kDone; return true; }
      if (c != ',') return false;
      st_ = St::kLit; lit_ = "{\"name\":\""; lit_pos_ = 0; next_ = St::kName;
      return true;
    case St::kLit:
      if (c != static_cast<uint8_t>(lit_[lit_pos_])) return false;
      if (++lit_pos_ == lit_.size()) {
        st_ = next_;
        if (st_ == St::kName || st_ == St::kKey) prefix_.clear();
        if (st_ == St::kValue) begin_value();
      }
      return true;
    case St::kName: {
      if (c == '"') {
        for (size_t i = 0; i < tools_->size(); ++i)
          if ((*tools_)[i].name == prefix_) {
            tool_ = static_cast<int>(i);
            used_.assign((*tools_)[i].params.size(), 0);
            st_ = St::kLit; lit_ = ",\"arguments\":{"; lit_pos_ = 0; next_ = St::kArgsOpen;
            return true;
          }
        return false;
      }
      prefix_.push_back(static_cast<char>(c));
      for (const auto& t : *tools_)
        if (t.name.compare(0, prefix_.size(), prefix_) == 0 && t.name.size() >= prefix_.size()) return true;
      return false;
    }
    case St::kArgsOpen:
    case St::kArgsNext:
      if (c == '}') { st_ = St::kLit; lit_ = "}"; lit_pos_ = 0; next_ = St::kAfterCall; return true; }
      // Another key only while the chosen tool has parameters not yet written.
      if (std::find(used_.begin(), used_.end(), 0) == used_.end()) return false;
      if (st_ == St::kArgsOpen && c == '"') { st_ = St::kKey; prefix_.clear(); return true; }
      if (st_ == St::kArgsNext && c == ',') { st_ = St::kLit; lit_ = "\""; lit_pos_ = 0; next_ = St::kKey; return true; }
      return false;
    case St::kKey: {
      const GrammarTool* t = current_tool();
      size_t backslashes = 0;  // a '"' after an odd run of '\\' is part of the key
      while (backslashes < prefix_.size() && prefix_[prefix_.size() - 1 - backslashes] == '\\') ++backslashes;
      if (c == '"' && backslashes % 2 == 0) {
        for (size_t i = 0; i < t->params.size(); ++i)
          if (!used_[i] && t->params[i].key == prefix_) {
            param_ = static_cast<int>(i);
            used_[i] = 1;
            st_ = St::kLit; lit_ = ":"; lit_pos_ = 0; next_ = St::kValue;
            return true;
          }
        return false;
      }
      prefix_.push_back(static_cast<char>(c));
      for (size_t i = 0; i < t->params.size(); ++i)
        if (!used_[i] && t->params[i].key.size() >= prefix_.size() &&
            t->params[i].key.compare(0, prefix_.size(), prefix_) == 0)
          return true;
      return false;
    }
    case St::kValue: {
      const GrammarParam* p = current_param();
      switch (p->kind) {
        case ValueKind::kString:
          if (c != '"') return false;
          j_ = J::kString;
          str_is_key_ = false;
          st_ = St::kInValue;
          return true;
        case ValueKind::kInteger:
        case ValueKind::kNumber:
          if (c != '-' && !is_digit(c)) return false;
          num_integer_only_ = p->kind == ValueKind::kInteger;
          break;
        case ValueKind::kBoolean:
        case ValueKind::kEnum:
          word_candidates_ = p->kind == ValueKind::kBoolean ? std::vector<std::string>{"true", "false"} : p->literals;
          prefix_.clear();
          st_ = St::kEnumLit;
          return feed_byte(c);
        case ValueKind::kAny:
          num_integer_only_ = false;
          break;
      }
      j_ = J::kValueStart;
      if (feed_json(c) != 1) return false;
      st_ = j_ == J::kIdle ? St::kArgsNext : St::kInValue;
      return true;
    }
    case St::kInValue: {
      const int r = feed_json(c);
      if (r == 0) return false;
      if (j_ != J::kIdle) return true;
      st_ = St::kArgsNext;
      return r == 2 ? feed_byte(c) : true;
    }
    case St::kEnumLit: {
      std::string next = prefix_;
      next.push_back(static_cast<char>(c));
      bool extends = false, complete_now = false;
      for (const auto& w : word_candidates_)
        if (w.compare(0, next.size(), next) == 0 && w.size() >= next.size()) extends = true;
      for (const auto& w : word_candidates_)
        if (w == prefix_) complete_now = true;
      if (extends) {
        prefix_ = next;
        // Finished when the literal is complete and no candidate continues it.
        bool longer = false, exact = false;
        for (const auto& w : word_candidates_) {
          if (w == prefix_) exact = true;
          else if (w.compare(0, prefix_.size(), prefix_) == 0) longer = true;
        }
        if (exact && !longer) st_ = St::kArgsNext;
        return true;
      }
      if (complete_now) {  // e.g. enum [1, 10] after "1": this byte belongs to what follows
        st_ = St::kArgsNext;
        return feed_byte(c);
      }
      return false;
    }
    case St::kDone:
      return false;
  }
  return false;
}

// The next piece of the shortest completion from the current state; completion() feeds
// pieces until the answer is done.
std::string CallGrammar::json_completion() const {
  switch (j_) {
    case J::kString: return "\"";
    case J::kEscape: return "n";
    case J::kHex: return std::string(static_cast<size_t>(hex_left_), '0');
    case J::kUtf8: return std::string(1, static_cast<char>(utf8_lo_));
    case J::kNumber:
      if (num_ == Num::kSign || num_ == Num::kDot || num_ == Num::kE || num_ == Num::kESign) return "0";
      if (stack_.empty()) return "}";  // ends the number; the arguments object takes the '}'
      return stack_.back() == '[' ? "]" : "}";
    case J::kWord: return prefix_;
    case J::kValueStart: return "null";
    case J::kArrStart: return "]";
    case J::kObjKeyOrEnd: return "}";
    case J::kObjKey: return "\"\"";
    case J::kColon: return ":";
    case J::kAfterItem: return stack_.back() == '[' ? "]" : "}";
    case J::kIdle: return "";
  }
  return "";
}

std::string CallGrammar::completion() const {
  CallGrammar g = *this;
  std::string out;
  for (int guard = 0; guard < 100000 && !g.done(); ++guard) {
    std::string piece;
    switch (g.st_) {
      case St::kStart: case St::kStartSpace: piece = "["; break;
      case St::kArrOpen: case St::kAfterCall: piece = "]"; break;
      case St::kLit: piece = g.lit_.substr(g.lit_pos_); break;
      case St::kName:
        for (const auto& t : *g.tools_)
          if (t.name.compare(0, g.prefix_.size(), g.prefix_) == 0) { piece = t.name.substr(g.prefix_.size()) + "\""; break; }
        break;
      case St::kArgsOpen: case St::kArgsNext: piece = "}"; break;
      case St::kKey: {
        const GrammarTool* t = g.current_tool();
        for (size_t i = 0; i < t->params.size(); ++i)
          if (!g.used_[i] && t->params[i].key.compare(0, g.prefix_.size(), g.prefix_) == 0) {
            piece = t->params[i].key.substr(g.prefix_.size()) + "\"";
            break;
          }
        break;
      }
      case St::kValue: {
        const GrammarParam* p = g.current_param();
        switch (p->kind) {
          case ValueKind::kString: piece = "\"\""; break;
          case ValueKind::kInteger: case ValueKind::kNumber: piece = "0"; break;
          case ValueKind::kBoolean: piece = "false"; break;
          case ValueKind::kEnum: piece = p->literals.empty() ? "null" : p->literals[0]; break;
          case ValueKind::kAny: piece = "null"; break;
        }
        break;
      }
      case St::kInValue: piece = g.json_completion(); break;
      case St::kEnumLit: {
        for (const auto& w : g.word_candidates_)
          if (w.compare(0, g.prefix_.size(), g.prefix_) == 0 && w.size() > g.prefix_.size()) {
            piece = w.substr(g.prefix_.size());
            break;
          }
        if (piece.empty()) piece = "}";  // the literal is complete: close the arguments
        break;
      }
      case St::kDone: break;
    }
    if (piece.empty() || !g.feed(piece)) return out;  // cannot happen for a well-formed state
    out += piece;
  }
  return out;
}

}  // namespace np
