// call_grammar.cpp — the answer-JSON pushdown automaton (see call_grammar.h).
#include "decode/call_grammar.h"

#include <algorithm>

namespace np {

namespace {

bool is_digit(uint8_t c) { return c >= '0' && c <= '9'; }
bool is_hex(uint8_t c) { return is_digit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F'); }
constexpr int kMaxNumberLen = 32;
constexpr size_t kMaxDepth = 8;

// Parameters usable as keys: not yet written, and some value can follow them.
bool key_left(const std::vector<GrammarParam>& props, const std::vector<uint8_t>& used) {
  for (size_t i = 0; i < props.size(); ++i)
    if (!used[i] && grammar_param_satisfiable(props[i])) return true;
  return false;
}

// The first required property not yet written, or -1.
int missing_required(const std::vector<GrammarParam>& props, const std::vector<uint8_t>& used) {
  for (size_t i = 0; i < props.size(); ++i)
    if (props[i].required && !used[i]) return static_cast<int>(i);
  return -1;
}

// Feeds `c` to an object key being matched against `props` (bytes so far in *key).
// Returns -1 to reject, -2 when consumed inside the key, or i >= 0 when the closing quote
// names props[i]. A '"' after an odd run of '\\' is part of the key.
int key_step(const std::vector<GrammarParam>& props, const std::vector<uint8_t>& used, std::string* key,
             uint8_t c) {
  size_t backslashes = 0;
  while (backslashes < key->size() && (*key)[key->size() - 1 - backslashes] == '\\') ++backslashes;
  if (c == '"' && backslashes % 2 == 0) {
    for (size_t i = 0; i < props.size(); ++i)
      if (!used[i] && props[i].key == *key && grammar_param_satisfiable(props[i])) return static_cast<int>(i);
    return -1;
  }
  key->push_back(static_cast<char>(c));
  for (size_t i = 0; i < props.size(); ++i)
    if (!used[i] && props[i].key.size() >= key->size() && props[i].key.compare(0, key->size(), *key) == 0 &&
        grammar_param_satisfiable(props[i]))
      return -2;
  return -1;
}

// The completion piece where an object may close: the next missing required key (after a
// ',' when `after_value`), else '}'.
std::string close_piece(const std::vector<GrammarParam>& props, const std::vector<uint8_t>& used, bool after_value) {
  const int m = missing_required(props, used);
  if (m < 0) return "}";
  return std::string(after_value ? "," : "") + "\"" + props[m].key + "\":";
}

// The shortest value text for a schema (objects and arrays only opened; completion goes on).
std::string default_piece(const GrammarParam& p) {
  switch (p.kind) {
    case ValueKind::kString: return "\"\"";
    case ValueKind::kInteger: case ValueKind::kNumber: return "0";
    case ValueKind::kBoolean: return "false";
    case ValueKind::kEnum: return p.literals.empty() ? "null" : p.literals[0];
    case ValueKind::kObject: return "{";
    case ValueKind::kArray: return "[";
    case ValueKind::kAnyObject: return "{}";
    case ValueKind::kNull: case ValueKind::kAny: return "null";
  }
  return "null";
}

bool tool_usable(const GrammarTool& t) {
  for (const GrammarParam& p : t.params)
    if (p.required && !grammar_param_satisfiable(p)) return false;
  return true;
}

const GrammarParam& any_item() {
  static const GrammarParam any;  // kAny
  return any;
}

const GrammarParam& item_of(const GrammarParam& array) { return array.items.empty() ? any_item() : array.items[0]; }

}  // namespace

bool grammar_param_satisfiable(const GrammarParam& p) {
  if (p.kind == ValueKind::kEnum) return !p.literals.empty();
  if (p.kind == ValueKind::kObject)
    for (const GrammarParam& q : p.properties)
      if (q.required && !grammar_param_satisfiable(q)) return false;
  return true;
}

bool CallGrammar::feed(std::string_view bytes) {
  for (char ch : bytes)
    if (!feed_byte(static_cast<uint8_t>(ch))) return false;
  return true;
}

bool CallGrammar::number_ahead() const {
  return param_ahead([](size_t, const GrammarParam& p) { return p.kind == ValueKind::kInteger || p.kind == ValueKind::kNumber; });
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

int CallGrammar::num_byte(uint8_t c) {
  num_str_.push_back(static_cast<char>(c));
  return 1;
}

void CallGrammar::open_value_string() {
  prev_value_str_.swap(value_str_);
  value_str_.clear();
  ++value_strings_;
}

void CallGrammar::json_end_value() { j_ = stack_.empty() ? J::kIdle : J::kAfterItem; }

int CallGrammar::feed_json(uint8_t c) {
  switch (j_) {
    case J::kValueStart:
      if (c == '"') { j_ = J::kString; str_is_key_ = false; open_value_string(); return 1; }
      if (c == '-' || is_digit(c)) {  // a number: its text kept for number_string()
        num_str_.assign(1, static_cast<char>(c));
        ++value_numbers_;
      }
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
      if (!closed && !str_is_key_) value_str_.push_back(static_cast<char>(c));
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
      // At most kMaxNumberLen bytes. A byte that needs a digit after it ('.', 'e', the
      // exponent's sign) is taken only while there is room for that digit too, so a number
      // at the limit can always be finished (a fuzzer found "1...1e" stuck at 32 bytes).
      const bool more = num_len_ < kMaxNumberLen;
      const bool more2 = num_len_ + 1 < kMaxNumberLen;
      switch (num_) {
        case Num::kSign:
          if (c == '0' && more) { num_ = Num::kZero; ++num_len_; return num_byte(c); }
          if (is_digit(c) && more) { num_ = Num::kInt; ++num_len_; return num_byte(c); }
          return 0;
        case Num::kZero: case Num::kInt: case Num::kFrac: case Num::kExp:
          if (is_digit(c) && num_ != Num::kZero) {
            if (!more) return 0;
            // At most two exponent digits: a double overflows past e308 and parsers reject it.
            if (num_ == Num::kExp && exp_digits_ >= 2) return 0;
            if (num_ == Num::kExp) ++exp_digits_;
            ++num_len_;
            return num_byte(c);
          }
          if (c == '.' && (num_ == Num::kZero || num_ == Num::kInt) && !num_integer_only_ && more2) {
            num_ = Num::kDot; ++num_len_; return num_byte(c);
          }
          if ((c == 'e' || c == 'E') && num_ != Num::kExp && !num_integer_only_ && more2) {
            num_ = Num::kE; ++num_len_; return num_byte(c);
          }
          // Any other byte ends the number; the container (or the caller) must take it.
          json_end_value();
          if (j_ == J::kIdle) return 2;
          return feed_json(c);
        case Num::kDot:
          if (is_digit(c) && more) { num_ = Num::kFrac; ++num_len_; return num_byte(c); }
          return 0;
        case Num::kE:
          if ((c == '+' || c == '-') && more2) { num_ = Num::kESign; ++num_len_; return num_byte(c); }
          if (is_digit(c) && more) { num_ = Num::kExp; exp_digits_ = 1; ++num_len_; return num_byte(c); }
          return 0;
        case Num::kESign:
          if (is_digit(c) && more) { num_ = Num::kExp; exp_digits_ = 1; ++num_len_; return num_byte(c); }
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

int CallGrammar::byte_verdict(uint8_t c) const {
  switch (st_) {
    case St::kStart: return c == ' ' || c == '[';
    case St::kStartSpace: return c == '[';
    case St::kArrOpen: return c == ']' ? 1 : c == '{' ? -1 : 0;
    case St::kAfterCall: return c == ']' || c == ',';
    case St::kLit: return c == static_cast<uint8_t>(lit_[lit_pos_]);
    case St::kName: {  // as feed_byte: prefix_ + c begins a usable tool's name
      if (c == '"') return -1;
      const size_t n = prefix_.size();
      for (const auto& t : *tools_)
        if (t.name.size() > n && static_cast<uint8_t>(t.name[n]) == c && t.name.compare(0, n, prefix_) == 0 && tool_usable(t))
          return 1;
      return 0;
    }
    case St::kArgsOpen: return c == '}' || c == '"' ? -1 : 0;
    case St::kArgsNext: return c == '}' || c == ',' ? -1 : 0;
    case St::kKey: {  // as key_step: prefix_ + c begins an unwritten, satisfiable key
      if (c == '"' || c == '\\' || (!prefix_.empty() && prefix_.back() == '\\')) return -1;
      const std::vector<GrammarParam>& props = current_tool()->params;
      const size_t n = prefix_.size();
      for (size_t i = 0; i < props.size(); ++i)
        if (!used_[i] && props[i].key.size() > n && static_cast<uint8_t>(props[i].key[n]) == c &&
            props[i].key.compare(0, n, prefix_) == 0 && grammar_param_satisfiable(props[i]))
          return 1;
      return 0;
    }
    case St::kDone: return 0;
    default: return -1;
  }
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
      if (c != '{' || std::none_of(tools_->begin(), tools_->end(), tool_usable)) return false;
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
        if (st_ == St::kAfterCall) ++calls_closed_;
        if (st_ == St::kName || st_ == St::kKey) prefix_.clear();
        if (st_ == St::kValue) begin_value();
      }
      return true;
    case St::kName: {
      if (c == '"') {
        for (size_t i = 0; i < tools_->size(); ++i)
          if ((*tools_)[i].name == prefix_ && tool_usable((*tools_)[i])) {
            tool_ = static_cast<int>(i);
            ++names_chosen_;
            used_.assign((*tools_)[i].params.size(), 0);
            st_ = St::kLit; lit_ = ",\"arguments\":{"; lit_pos_ = 0; next_ = St::kArgsOpen;
            return true;
          }
        return false;
      }
      prefix_.push_back(static_cast<char>(c));
      for (const auto& t : *tools_)
        if (t.name.compare(0, prefix_.size(), prefix_) == 0 && t.name.size() >= prefix_.size() && tool_usable(t))
          return true;
      return false;
    }
    case St::kArgsOpen:
    case St::kArgsNext:
      if (c == '}') {
        if (missing_required(current_tool()->params, used_) >= 0) return false;
        st_ = St::kLit; lit_ = "}"; lit_pos_ = 0; next_ = St::kAfterCall;
        return true;
      }
      // Another key only while the chosen tool has parameters not yet written.
      if (!key_left(current_tool()->params, used_)) return false;
      if (st_ == St::kArgsOpen && c == '"') { st_ = St::kKey; prefix_.clear(); return true; }
      if (st_ == St::kArgsNext && c == ',') { st_ = St::kLit; lit_ = "\""; lit_pos_ = 0; next_ = St::kKey; return true; }
      return false;
    case St::kKey: {
      const int r = key_step(current_tool()->params, used_, &prefix_, c);
      if (r == -1) return false;
      if (r >= 0) {
        param_ = r;
        used_[static_cast<size_t>(r)] = 1;
        st_ = St::kLit; lit_ = ":"; lit_pos_ = 0; next_ = St::kValue;
      }
      return true;
    }
    case St::kValue:
      return begin_typed_value(current_param(), c);
    case St::kInValue: {
      const int r = feed_json(c);
      if (r == 0) return false;
      if (j_ != J::kIdle) return true;
      end_value();
      return r == 2 ? feed_byte(c) : true;
    }
    case St::kFrame:
      return frame_byte(c);
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
        literal_str_ = prefix_;
        // Finished when the literal is complete and no candidate continues it.
        bool longer = false, exact = false;
        for (const auto& w : word_candidates_) {
          if (w == prefix_) exact = true;
          else if (w.compare(0, prefix_.size(), prefix_) == 0) longer = true;
        }
        if (exact && !longer) end_value();
        return true;
      }
      if (complete_now) {  // e.g. enum [1, 10] after "1": this byte belongs to what follows
        end_value();
        return feed_byte(c);
      }
      return false;
    }
    case St::kDone:
      return false;
  }
  return false;
}

// First byte of a value that follows `node` (a parameter, nested property or array item).
bool CallGrammar::begin_typed_value(const GrammarParam* node, uint8_t c) {
  switch (node->kind) {
    case ValueKind::kString:
      if (c != '"') return false;
      j_ = J::kString;
      str_is_key_ = false;
      open_value_string();
      st_ = St::kInValue;
      return true;
    case ValueKind::kInteger:
    case ValueKind::kNumber:
      if (c != '-' && !is_digit(c)) return false;
      num_integer_only_ = node->kind == ValueKind::kInteger;
      break;
    case ValueKind::kBoolean:
    case ValueKind::kEnum:
    case ValueKind::kNull:
      word_candidates_ = node->kind == ValueKind::kBoolean ? std::vector<std::string>{"true", "false"}
                         : node->kind == ValueKind::kNull  ? std::vector<std::string>{"null"}
                                                           : node->literals;
      prefix_.clear();
      literal_str_.clear();
      ++value_literals_;
      st_ = St::kEnumLit;
      return feed_byte(c);
    case ValueKind::kObject:
    case ValueKind::kArray: {
      if (c != (node->kind == ValueKind::kObject ? '{' : '[')) return false;
      Frame f;
      f.node = node;
      f.used.assign(node->properties.size(), 0);
      frames_.push_back(std::move(f));
      st_ = St::kFrame;
      return true;
    }
    case ValueKind::kAnyObject:
      if (c != '{') return false;
      num_integer_only_ = false;
      break;
    case ValueKind::kAny:
      num_integer_only_ = false;
      break;
  }
  j_ = J::kValueStart;
  stack_.clear();
  if (feed_json(c) != 1) return false;
  if (j_ == J::kIdle) end_value();
  else st_ = St::kInValue;
  return true;
}

void CallGrammar::end_value() {
  if (frames_.empty()) {
    st_ = St::kArgsNext;
  } else {
    frames_.back().phase = Frame::kAfter;
    st_ = St::kFrame;
  }
}

bool CallGrammar::frame_byte(uint8_t c) {
  Frame& f = frames_.back();
  const GrammarParam* n = f.node;
  auto close = [&] {
    frames_.pop_back();
    end_value();
    return true;
  };
  if (n->kind == ValueKind::kArray) {
    const GrammarParam& item = item_of(*n);
    switch (f.phase) {
      case Frame::kOpen:
        if (c == ']') return close();
        if (!grammar_param_satisfiable(item)) return false;
        f.phase = Frame::kNeedValue;
        return begin_typed_value(&item, c);
      case Frame::kNeedValue:
        return begin_typed_value(&item, c);
      case Frame::kAfter:
        if (c == ']') return close();
        if (c != ',') return false;
        f.phase = Frame::kNeedValue;
        return true;
      default:
        return false;
    }
  }
  switch (f.phase) {  // kObject
    case Frame::kOpen:
    case Frame::kAfter:
      if (c == '}') {
        if (missing_required(n->properties, f.used) >= 0) return false;
        return close();
      }
      if (!key_left(n->properties, f.used)) return false;
      if (f.phase == Frame::kOpen && c == '"') { f.phase = Frame::kKey; f.key.clear(); return true; }
      if (f.phase == Frame::kAfter && c == ',') { f.phase = Frame::kKeyQuote; return true; }
      return false;
    case Frame::kKeyQuote:
      if (c != '"') return false;
      f.phase = Frame::kKey;
      f.key.clear();
      return true;
    case Frame::kKey: {
      const int r = key_step(n->properties, f.used, &f.key, c);
      if (r == -1) return false;
      if (r >= 0) {
        f.cur = r;
        f.used[static_cast<size_t>(r)] = 1;
        f.phase = Frame::kColon;
      }
      return true;
    }
    case Frame::kColon:
      if (c != ':') return false;
      f.phase = Frame::kNeedValue;
      return true;
    case Frame::kNeedValue:
      return begin_typed_value(&n->properties[static_cast<size_t>(f.cur)], c);
  }
  return false;
}

// After a finished value: close its container, or write the next missing required key.
std::string CallGrammar::after_value_piece() const {
  if (frames_.empty()) return close_piece(current_tool()->params, used_, true);
  const Frame& f = frames_.back();
  if (f.node->kind == ValueKind::kArray) return "]";
  return close_piece(f.node->properties, f.used, true);
}

std::string CallGrammar::frame_piece() const {
  const Frame& f = frames_.back();
  const GrammarParam* n = f.node;
  if (n->kind == ValueKind::kArray) {
    if (f.phase == Frame::kNeedValue) return default_piece(item_of(*n));
    return "]";
  }
  switch (f.phase) {
    case Frame::kOpen: return close_piece(n->properties, f.used, false);
    case Frame::kAfter: return close_piece(n->properties, f.used, true);
    case Frame::kKeyQuote: {
      int k = missing_required(n->properties, f.used);
      for (size_t i = 0; k < 0 && i < n->properties.size(); ++i)
        if (!f.used[i] && grammar_param_satisfiable(n->properties[i])) k = static_cast<int>(i);
      return k < 0 ? "" : "\"" + n->properties[static_cast<size_t>(k)].key + "\":";
    }
    case Frame::kKey:
      for (size_t i = 0; i < n->properties.size(); ++i) {
        const GrammarParam& q = n->properties[i];
        if (!f.used[i] && grammar_param_satisfiable(q) && q.key.compare(0, f.key.size(), f.key) == 0 &&
            q.key.size() >= f.key.size())
          return q.key.substr(f.key.size()) + "\"";
      }
      return "";
    case Frame::kColon: return ":";
    case Frame::kNeedValue: return default_piece(n->properties[static_cast<size_t>(f.cur)]);
  }
  return "";
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
      if (stack_.empty()) return after_value_piece();  // ends the number; its container takes it
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
          if (t.name.compare(0, g.prefix_.size(), g.prefix_) == 0 && tool_usable(t)) {
            piece = t.name.substr(g.prefix_.size()) + "\"";
            break;
          }
        break;
      case St::kArgsOpen: case St::kArgsNext:
        piece = close_piece(g.current_tool()->params, g.used_, g.st_ == St::kArgsNext);
        break;
      case St::kKey: {
        const GrammarTool* t = g.current_tool();
        for (size_t i = 0; i < t->params.size(); ++i)
          if (!g.used_[i] && t->params[i].key.compare(0, g.prefix_.size(), g.prefix_) == 0 &&
              t->params[i].key.size() >= g.prefix_.size() && grammar_param_satisfiable(t->params[i])) {
            piece = t->params[i].key.substr(g.prefix_.size()) + "\"";
            break;
          }
        break;
      }
      case St::kValue: piece = default_piece(*g.current_param()); break;
      case St::kInValue: piece = g.json_completion(); break;
      case St::kFrame: piece = g.frame_piece(); break;
      case St::kEnumLit: {
        for (const auto& w : g.word_candidates_)
          if (w.compare(0, g.prefix_.size(), g.prefix_) == 0 && w.size() > g.prefix_.size()) {
            piece = w.substr(g.prefix_.size());
            break;
          }
        if (piece.empty()) piece = g.after_value_piece();  // the literal is complete
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
