// call_grammar.h — a byte-level pushdown automaton for Needle's answer JSON, built from the
// tool list, used to constrain decoding:
//   answer := [' '] '[' ( ']' | call (',' call)* ']' )
//   call   := '{"name":"' NAME '","arguments":{' ( '}' | pair (',' pair)* '}' ) '}'
//   pair   := '"' KEY '":' VALUE
// NAME is one of the declared tools; KEY one of the chosen tool's parameters, each at most
// once per call, and the arguments object closes only once every required parameter is
// written; VALUE follows the parameter's schema: string -> JSON string, integer -> JSON
// integer, number -> JSON number, boolean -> true/false, null -> null, enum -> one of the
// listed values, object with properties -> an object of those keys (each at most once,
// required ones before '}', values typed recursively), array -> an array whose items follow
// the item schema, object/array without properties/items and anything else -> any JSON
// value of that shape (generic nesting depth <= 8). A tool is offered only when each of its
// required parameters can be satisfied (an empty enum cannot), a key only when its value
// can be. No whitespace outside strings:
// the model was trained on compact JSON (the single leading space is SentencePiece's
// dummy prefix on the answer). Strings must be valid UTF-8 and valid JSON escapes.
// Not here: tokens (the caller feeds each candidate token's bytes), the model.
#pragma once
#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace np {

enum class ValueKind : uint8_t {
  kAny, kString, kInteger, kNumber, kBoolean, kEnum,
  kObject,     // an object of `properties` (each at most once, `required` ones present)
  kArray,      // an array whose items follow items[0] (any JSON value when `items` is empty)
  kNull,       // null
  kAnyObject,  // any JSON object
};

// One value's schema: a tool parameter (top level) or a nested property / array item.
struct GrammarParam {
  GrammarParam() = default;
  GrammarParam(std::string k, ValueKind v, std::vector<std::string> lits = {})
      : key(std::move(k)), kind(v), literals(std::move(lits)) {}
  std::string key;                   // the key as it appears between the quotes (JSON-escaped);
                                     // unused for array items
  ValueKind kind = ValueKind::kAny;
  std::vector<std::string> literals; // kEnum: each value's compact JSON text
  bool required = false;             // the enclosing object must contain this key
  std::vector<GrammarParam> properties;  // kObject: its keys, in schema order
  std::vector<GrammarParam> items;       // kArray: zero (any value) or one item schema
};

// Whether some value follows `p` (false for an empty enum, or an object with such a required
// property). Examples: {kEnum, {}} -> false; {kObject, properties {{"a", kEnum, {}, required}}} -> false.
bool grammar_param_satisfiable(const GrammarParam& p);

struct GrammarTool {
  std::string name;                  // snake_case name as the model writes it
  std::vector<GrammarParam> params;
};

struct ToolSet;
// The grammar for a parsed tool list: per tool, its parameters' full schemas (types, enums
// filtered to the declared type, required keys, nested properties and array items; see
// docs/reliability.md). Defined in tool_caller.cpp; the tests and fuzz targets use it too.
std::vector<GrammarTool> grammar_tools(const ToolSet& set);

class CallGrammar {
 public:
  explicit CallGrammar(const std::vector<GrammarTool>* tools) : tools_(tools) {}

  // Feeds bytes; false (and the state is then unspecified) if any byte is not allowed.
  // Copy the grammar first to test a candidate.
  bool feed(std::string_view bytes);
  bool feed_byte(uint8_t c);
  // Whether feed_byte(c) would accept c, told without a copy where the state makes it cheap
  // (JSON structure, a literal, inside a tool name or key): 1 yes, 0 no, -1 not told here
  // (copy the grammar and feed). The trie walk and the candidate scan ask this first: most
  // bytes are refused, and a copy of the grammar costs more than the answer.
  int byte_verdict(uint8_t c) const;
  // The answer is complete (the closing ']' was consumed).
  bool done() const { return st_ == St::kDone; }
  // The shortest text that completes a valid answer from here ("" when done). Required
  // parameters still missing are written with placeholder values ("", 0, false, the first
  // enum value, null), so callers drop the call that was in progress (see calls_closed()).
  std::string completion() const;
  // Calls whose closing '}' has been fed so far.
  int calls_closed() const { return calls_closed_; }
  // The bytes that must come next whatever the model wants (the rest of a literal such as
  // `,"arguments":{`), or empty when the model has a choice.
  std::string_view forced_literal() const {
    return st_ == St::kLit ? std::string_view(lit_).substr(lit_pos_) : std::string_view();
  }
  // Nothing of a call has been fed yet: the answer can still close empty ("[]").
  bool before_first_call() const { return st_ == St::kStart || st_ == St::kStartSpace || st_ == St::kArrOpen; }
  // A tool name may be among the next bytes: before the first call, between calls, in the
  // `{"name":"` literal, or inside the name.
  bool name_ahead() const {
    return before_first_call() || st_ == St::kAfterCall || st_ == St::kName || (st_ == St::kLit && next_ == St::kName);
  }
  // Inside a name string: its bytes so far (else empty).
  std::string_view name_prefix() const { return st_ == St::kName ? std::string_view(prefix_) : std::string_view(); }
  bool in_name() const { return st_ == St::kName; }
  // Names closed so far, and the index (in the tool list) of the last one (-1 before any).
  int names_chosen() const { return names_chosen_; }
  int tool_index() const { return tool_; }
  // The parameter (index in the chosen tool's) whose key was written last (-1 before any).
  int param_index() const { return param_; }
  // Inside a string value (not a key): true; its bytes so far as written (JSON escapes
  // undecoded) stay readable through value_string() until the next string value opens.
  bool in_value_string() const {
    return st_ == St::kInValue && !str_is_key_ && (j_ == J::kString || j_ == J::kEscape || j_ == J::kHex || j_ == J::kUtf8);
  }
  const std::string& value_string() const { return value_str_; }
  // The string value before the last one opened, as it closed: where one token closes a value
  // and opens the next (`","` between an array's strings), the closed one is read here.
  const std::string& previous_value_string() const { return prev_value_str_; }
  // The same for numbers: inside one now, its text so far (kept until the next opens), and
  // how many have opened.
  bool in_value_number() const { return st_ == St::kInValue && j_ == J::kNumber; }
  const std::string& number_string() const { return num_str_; }
  int value_numbers() const { return value_numbers_; }
  int value_strings() const { return value_strings_; }  // string values opened so far
  // The same for literals (an enum value, true/false, null): inside one now; its bytes so far
  // (JSON text, quotes included) and the literals it was chosen among, kept until the next
  // opens; how many have opened.
  bool in_literal() const { return st_ == St::kEnumLit; }
  const std::string& literal_string() const { return literal_str_; }
  const std::vector<std::string>& literal_candidates() const { return word_candidates_; }
  int value_literals() const { return value_literals_; }
  // The answer is committed to a number for a parameter of the chosen tool: inside a key (or
  // just after its ',') that can only become keys of integer or number parameters, after such a
  // key, or inside such a value. Top level of the arguments only (false inside nested values).
  bool number_ahead() const;
  // The same for any parameter `pred(index, param)` picks: inside a key (or just after its ',')
  // that can only become keys of parameters it picks, after such a key, or inside such a value
  // (a number, an enum literal). number_ahead() is this with integer and number parameters.
  template <class Pred>
  bool param_ahead(Pred pred) const;
  // A value may begin within the next bytes (where the arguments may take another key or
  // close, in a key, before a value, in `":`), or one is being written.
  bool value_ahead() const {
    return st_ == St::kArgsOpen || st_ == St::kArgsNext || st_ == St::kKey || st_ == St::kValue ||
           (st_ == St::kLit && (next_ == St::kValue || next_ == St::kKey || next_ == St::kArgsOpen)) || in_value_string() ||
           in_value_number() ||
           in_literal();
  }

 private:
  enum class St : uint8_t {
    kStart,      // optional ' ' then '['
    kStartSpace, // after the leading ' ': '['
    kArrOpen,    // after '[': '{' or ']'
    kLit,        // matching lit_ from lit_pos_, then next_
    kName,       // inside the name string (prefix_)
    kArgsOpen,   // after '{' of arguments: '"' or '}'
    kArgsNext,   // after a value: ',' or '}'
    kKey,        // inside a key string (prefix_)
    kValue,      // first byte of a value
    kInValue,    // inside a value run by the generic value machine (j_)
    kEnumLit,    // inside an enum/boolean/null literal (prefix_)
    kAfterCall,  // after a call's '}': ',' or ']'
    kFrame,      // inside a typed object/array (frames_.back())
    kDone,
  };
  // Generic JSON value machine (strings, numbers, literals, nested arrays/objects).
  enum class J : uint8_t {
    kIdle,        // not in a value
    kValueStart,  // expecting a value
    kString,      // inside a string
    kEscape,      // after '\'
    kHex,         // inside \uXXXX (hex_left_ digits to go)
    kUtf8,        // inside a multi-byte UTF-8 sequence
    kNumber,      // inside a number (num_ state)
    kWord,        // inside true/false/null (prefix_ holds what's left)
    kArrStart,    // after '[': a value or ']'
    kObjKeyOrEnd, // after '{': '"' or '}'
    kObjKey,      // after ',' in an object: '"'
    kColon,       // after a key: ':'
    kAfterItem,   // after a value inside a container: ',' or the closer
  };
  enum class Num : uint8_t { kSign, kZero, kInt, kDot, kFrac, kE, kESign, kExp };

  // Feed to the generic value machine. Returns 1 consumed, 0 reject, 2 value finished
  // without consuming c (numbers end on the next byte).
  int feed_json(uint8_t c);
  int num_byte(uint8_t c);  // a byte taken inside a number: kept in num_str_; returns 1
  bool json_value_finished() const { return j_ == J::kIdle; }
  void json_end_value();  // a value inside the machine ended: pop to the container state
  void open_value_string();  // a string value opens: the last one becomes the previous one
  std::string json_completion() const;

  // A typed object or array being written (nested inside a parameter's value).
  struct Frame {
    enum Phase : uint8_t { kOpen, kKeyQuote, kKey, kColon, kNeedValue, kAfter };
    const GrammarParam* node = nullptr;  // kObject or kArray
    Phase phase = kOpen;
    std::vector<uint8_t> used;           // kObject: per property, key already written
    int cur = -1;                        // kObject: property whose value comes next
    std::string key;                     // kObject: key bytes so far (kKey)
  };

  bool string_byte(uint8_t c, bool* closed);  // shared string-content rules
  void begin_value();
  bool begin_typed_value(const GrammarParam* node, uint8_t c);  // first byte of a value
  void end_value();        // a parameter's value or a nested value ended
  bool frame_byte(uint8_t c);
  std::string after_value_piece() const;  // completion piece after a finished value
  std::string frame_piece() const;        // completion piece inside frames_.back()
  const GrammarParam* current_param() const;
  const GrammarTool* current_tool() const { return tool_ < 0 ? nullptr : &(*tools_)[tool_]; }

  const std::vector<GrammarTool>* tools_;
  St st_ = St::kStart;
  St next_ = St::kStart;
  std::string lit_;
  size_t lit_pos_ = 0;
  std::string prefix_;
  int tool_ = -1;                  // index of the chosen tool in this call
  int names_chosen_ = 0;           // names closed so far
  std::string value_str_;          // the last string value's bytes (in_value_string)
  std::string prev_value_str_;     // the one before it (previous_value_string)
  std::string num_str_;            // the last number's text (in_value_number)
  int value_numbers_ = 0;
  int value_strings_ = 0;
  std::string literal_str_;        // the last literal's bytes (in_literal)
  int value_literals_ = 0;
  int param_ = -1;                 // index of the current key's parameter
  std::vector<uint8_t> used_;      // per parameter of the chosen tool: key already written
  // generic value machine
  J j_ = J::kIdle;
  Num num_ = Num::kSign;
  bool num_integer_only_ = false;
  int num_len_ = 0;
  int exp_digits_ = 0;
  std::string stack_;              // '[' / '{' per open container
  bool str_is_key_ = false;        // the open generic string is an object key
  int hex_left_ = 0;
  bool hex_first_d_ = false;
  int utf8_left_ = 0;
  uint8_t utf8_lo_ = 0x80, utf8_hi_ = 0xBF;  // allowed range of the next continuation byte
  std::vector<std::string> word_candidates_;  // kEnumLit candidates
  std::vector<Frame> frames_;      // open typed objects/arrays, innermost last
  int calls_closed_ = 0;
};

template <class Pred>
bool CallGrammar::param_ahead(Pred pred) const {
  const GrammarTool* t = current_tool();
  if (!t || !frames_.empty()) return false;
  if (st_ == St::kKey || (st_ == St::kLit && next_ == St::kKey)) {
    const std::string_view prefix = st_ == St::kKey ? std::string_view(prefix_) : std::string_view();
    bool any = false;
    for (size_t i = 0; i < t->params.size(); ++i) {
      const GrammarParam& p = t->params[i];
      if (used_[i] || !grammar_param_satisfiable(p) || p.key.compare(0, prefix.size(), prefix) != 0) continue;
      if (!pred(i, p)) return false;
      any = true;
    }
    return any;
  }
  const bool at_value = (st_ == St::kLit && next_ == St::kValue) || st_ == St::kValue ||
                        (st_ == St::kInValue && j_ == J::kNumber) || st_ == St::kEnumLit;
  return at_value && param_ >= 0 && pred(static_cast<size_t>(param_), t->params[static_cast<size_t>(param_)]);
}

}  // namespace np
