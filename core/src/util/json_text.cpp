// json_text.cpp — see json_text.h.
#include "util/json_text.h"

namespace np {

using json = nlohmann::ordered_json;

namespace {

// Keeps printable ASCII, writes other bytes as \xNN (parser messages quote raw input bytes).
std::string printable(std::string_view s) {
  std::string out;
  for (char ch : s) {
    const unsigned char c = static_cast<unsigned char>(ch);
    if (c >= 0x20 && c < 0x7f) {
      out += ch;
    } else {
      const char hex[] = "0123456789abcdef";
      out += "\\x";
      out += hex[c >> 4];
      out += hex[c & 0xf];
    }
  }
  return out;
}

// nlohmann's DOM builder behind a SAX filter that bounds nesting depth (so later recursive
// code cannot exhaust the stack), optionally refuses integers beyond 64 bits (nlohmann would
// turn them into doubles; Python keeps them exact, so the normalised JSON would differ), and
// records the parser's error instead of throwing.
class BoundedDomSax {
 public:
  using number_integer_t = json::number_integer_t;
  using number_unsigned_t = json::number_unsigned_t;
  using number_float_t = json::number_float_t;
  using string_t = json::string_t;
  using binary_t = json::binary_t;

  BoundedDomSax(json* root, int max_depth, bool reject_big_integers)
      : dom_(*root, /*allow_exceptions=*/false), max_depth_(max_depth), reject_big_integers_(reject_big_integers) {}

  bool null() { return dom_.null(); }
  bool boolean(bool v) { return dom_.boolean(v); }
  bool number_integer(number_integer_t v) { return dom_.number_integer(v); }
  bool number_unsigned(number_unsigned_t v) { return dom_.number_unsigned(v); }
  bool number_float(number_float_t v, const string_t& raw) {
    if (reject_big_integers_ && raw.find_first_of(".eE") == string_t::npos) {
      big_integer_ = raw.size() > 40 ? raw.substr(0, 40) + "..." : raw;
      return false;
    }
    return dom_.number_float(v, raw);
  }
  bool string(string_t& v) { return dom_.string(v); }
  bool binary(binary_t& v) { return dom_.binary(v); }
  bool start_object(std::size_t n) {
    if (++depth_ > max_depth_) {
      too_deep_ = true;
      return false;
    }
    return dom_.start_object(n);
  }
  bool key(string_t& k) { return dom_.key(k); }
  bool end_object() {
    --depth_;
    return dom_.end_object();
  }
  bool start_array(std::size_t n) {
    if (++depth_ > max_depth_) {
      too_deep_ = true;
      return false;
    }
    return dom_.start_array(n);
  }
  bool end_array() {
    --depth_;
    return dom_.end_array();
  }
  bool parse_error(std::size_t position, const std::string& /*last_token*/,
                   const nlohmann::detail::exception& ex) {
    std::string what = ex.what();
    const size_t close = what.find("] ");  // drop "[json.exception.parse_error.101] "
    if (close != std::string::npos && what[0] == '[') what.erase(0, close + 2);
    syntax_error_ = printable(what) + " (byte " + std::to_string(position) + ")";
    return false;
  }

  bool too_deep_ = false;
  std::string big_integer_;
  std::string syntax_error_;

 private:
  nlohmann::detail::json_sax_dom_parser<json> dom_;
  int max_depth_;
  bool reject_big_integers_;
  int depth_ = 0;
};

}  // namespace


const char* json_type_name(const json& v) {
  switch (v.type()) {
    case json::value_t::object: return "object";
    case json::value_t::array: return "array";
    case json::value_t::string: return "string";
    case json::value_t::boolean: return "boolean";
    case json::value_t::number_integer:
    case json::value_t::number_unsigned:
    case json::value_t::number_float: return "number";
    case json::value_t::null: return "null";
    default: return "non-JSON value";
  }
}

// A user-supplied string for an error message: quoted, control bytes / quote / backslash
// escaped, cut to 64 bytes on a UTF-8 boundary. (Strings reaching here come from our parser,
// so they are valid UTF-8.)
std::string quote_for_message(std::string_view s) {
  constexpr size_t kMax = 64;
  bool cut = false;
  if (s.size() > kMax) {
    size_t n = kMax;
    while (n > 0 && (static_cast<unsigned char>(s[n]) & 0xc0) == 0x80) --n;
    s = s.substr(0, n);
    cut = true;
  }
  std::string out = "\"";
  for (char ch : s) {
    const unsigned char c = static_cast<unsigned char>(ch);
    if (c == '"' || c == '\\') {
      out += '\\';
      out += ch;
    } else if (c < 0x20 || c == 0x7f) {
      const char hex[] = "0123456789abcdef";
      out += "\\x";
      out += hex[c >> 4];
      out += hex[c & 0xf];
    } else {
      out += ch;
    }
  }
  out += cut ? "...\"" : "\"";
  return out;
}

bool json_parse_bounded(std::string_view text, int max_depth, bool reject_big_integers, json* out,
                        JsonParseFailure* failure, std::string* detail) {
  *out = json();
  BoundedDomSax sax(out, max_depth, reject_big_integers);
  const char* begin = text.data();
  const bool ok = json::sax_parse(begin, begin + text.size(), &sax, json::input_format_t::json,
                                  /*strict=*/true, /*ignore_comments=*/false);
  *failure = JsonParseFailure::kNone;
  detail->clear();
  if (ok) return true;
  *out = json();
  if (sax.too_deep_) {
    *failure = JsonParseFailure::kTooDeep;
  } else if (!sax.big_integer_.empty()) {
    *failure = JsonParseFailure::kBigInteger;
    *detail = sax.big_integer_;
  } else {
    *failure = JsonParseFailure::kSyntax;
    *detail = sax.syntax_error_;
  }
  return false;
}

}  // namespace np
