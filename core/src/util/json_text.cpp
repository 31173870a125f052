// json_text.cpp — see json_text.h.
#include "util/json_text.h"

namespace np {

using json = nlohmann::ordered_json;

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

}  // namespace np
