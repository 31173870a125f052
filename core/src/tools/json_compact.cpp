// json_compact.cpp — json_dumps_compact: Python's json.dumps(v, separators=(",", ":")),
// ensure_ascii=True, byte for byte. Our own writer: nlohmann's dump() differs (it keeps
// UTF-8 raw, formats floats differently, and aborts on invalid UTF-8 in this build).
// Recursion depth equals the value's nesting depth; values from parse_tools/parse_calls are
// at most kMaxJsonDepth deep.
#include <charconv>
#include <cmath>
#include <cstdint>
#include <string>

#include "np/tools.h"
#include "tools/float_repr.h"

namespace np {
namespace {

using json = nlohmann::ordered_json;

const char kHex[] = "0123456789abcdef";

void append_u16_escape(std::string* out, uint32_t unit) {
  out->append("\\u");
  out->push_back(kHex[(unit >> 12) & 0xf]);
  out->push_back(kHex[(unit >> 8) & 0xf]);
  out->push_back(kHex[(unit >> 4) & 0xf]);
  out->push_back(kHex[unit & 0xf]);
}

void append_code_point(std::string* out, uint32_t cp) {
  if (cp >= 0x10000) {
    cp -= 0x10000;
    append_u16_escape(out, 0xd800 + (cp >> 10));
    append_u16_escape(out, 0xdc00 + (cp & 0x3ff));
  } else {
    append_u16_escape(out, cp);
  }
}

// Decodes one UTF-8 sequence at s[i]. Returns the code point and sets *len to the bytes
// consumed; on an ill-formed sequence returns 0xFFFD with *len = the length of its maximal
// well-formed prefix (at least 1), per Unicode 15 §3.9 "U+FFFD substitution of maximal
// subparts" (what Python's "replace" error handler does).
uint32_t decode_utf8(const unsigned char* s, size_t n, size_t i, size_t* len) {
  const unsigned char b0 = s[i];
  if (b0 < 0x80) {
    *len = 1;
    return b0;
  }
  int need;
  uint32_t cp;
  unsigned char lo = 0x80, hi = 0xbf;  // allowed range of the second byte
  if (b0 >= 0xc2 && b0 <= 0xdf) {
    need = 1;
    cp = b0 & 0x1f;
  } else if (b0 >= 0xe0 && b0 <= 0xef) {
    need = 2;
    cp = b0 & 0x0f;
    if (b0 == 0xe0) lo = 0xa0;  // no overlongs
    if (b0 == 0xed) hi = 0x9f;  // no surrogates
  } else if (b0 >= 0xf0 && b0 <= 0xf4) {
    need = 3;
    cp = b0 & 0x07;
    if (b0 == 0xf0) lo = 0x90;  // no overlongs
    if (b0 == 0xf4) hi = 0x8f;  // nothing above U+10FFFF
  } else {
    *len = 1;  // 0x80..0xc1, 0xf5..0xff never start a sequence
    return 0xfffd;
  }
  size_t k = 1;
  for (int j = 0; j < need; ++j, ++k) {
    const unsigned char lo_j = j == 0 ? lo : 0x80, hi_j = j == 0 ? hi : 0xbf;
    if (i + k >= n || s[i + k] < lo_j || s[i + k] > hi_j) {
      *len = k;
      return 0xfffd;
    }
    cp = (cp << 6) | (s[i + k] & 0x3f);
  }
  *len = k;
  return cp;
}

void append_string(std::string* out, const std::string& str) {
  const auto* s = reinterpret_cast<const unsigned char*>(str.data());
  const size_t n = str.size();
  out->push_back('"');
  for (size_t i = 0; i < n;) {
    const unsigned char c = s[i];
    if (c >= 0x20 && c < 0x7f && c != '"' && c != '\\') {
      out->push_back(static_cast<char>(c));
      ++i;
      continue;
    }
    switch (c) {
      case '"': out->append("\\\""); ++i; continue;
      case '\\': out->append("\\\\"); ++i; continue;
      case '\n': out->append("\\n"); ++i; continue;
      case '\r': out->append("\\r"); ++i; continue;
      case '\t': out->append("\\t"); ++i; continue;
      case '\b': out->append("\\b"); ++i; continue;
      case '\f': out->append("\\f"); ++i; continue;
      default: break;
    }
    size_t len = 1;
    const uint32_t cp = decode_utf8(s, n, i, &len);
    append_code_point(out, cp);
    i += len;
  }
  out->push_back('"');
}

template <class Int>
void append_integer(std::string* out, Int v) {
  char buf[32];
  auto r = std::to_chars(buf, buf + sizeof(buf), v);
  out->append(buf, r.ptr);
}

void append_value(std::string* out, const json& v) {
  switch (v.type()) {
    case json::value_t::null:
    case json::value_t::discarded:
      out->append("null");
      return;
    case json::value_t::boolean:
      out->append(v.get<bool>() ? "true" : "false");
      return;
    case json::value_t::number_integer:
      append_integer(out, v.get<json::number_integer_t>());
      return;
    case json::value_t::number_unsigned:
      append_integer(out, v.get<json::number_unsigned_t>());
      return;
    case json::value_t::number_float: {
      const double d = v.get<json::number_float_t>();
      if (!std::isfinite(d)) {
        out->append("null");
      } else {
        out->append(tools_detail::float_repr(d));
      }
      return;
    }
    case json::value_t::string:
      append_string(out, v.get_ref<const json::string_t&>());
      return;
    case json::value_t::binary: {
      out->push_back('[');
      bool first = true;
      for (uint8_t b : v.get_binary()) {
        if (!first) out->push_back(',');
        first = false;
        append_integer(out, static_cast<unsigned>(b));
      }
      out->push_back(']');
      return;
    }
    case json::value_t::array: {
      out->push_back('[');
      bool first = true;
      for (const json& e : v.get_ref<const json::array_t&>()) {
        if (!first) out->push_back(',');
        first = false;
        append_value(out, e);
      }
      out->push_back(']');
      return;
    }
    case json::value_t::object: {
      out->push_back('{');
      bool first = true;
      for (const auto& kv : v.get_ref<const json::object_t&>()) {
        if (!first) out->push_back(',');
        first = false;
        append_string(out, kv.first);
        out->push_back(':');
        append_value(out, kv.second);
      }
      out->push_back('}');
      return;
    }
  }
  out->append("null");
}

}  // namespace

std::string json_dumps_compact(const nlohmann::ordered_json& value) {
  std::string out;
  append_value(&out, value);
  return out;
}

}  // namespace np
