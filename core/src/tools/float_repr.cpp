// float_repr.cpp — Python repr(float): shortest round-trip digits, then Python's layout.
// Two digit generators (std::to_chars and a portable snprintf/strtod search) feed one
// formatter; both are compiled everywhere so the native tests can compare them.
#include "tools/float_repr.h"

#include <cassert>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <string>

#if defined(__cpp_lib_to_chars) || (defined(_GLIBCXX_RELEASE) && _GLIBCXX_RELEASE >= 11)
#include <charconv>
#define NP_HAVE_FLOAT_TO_CHARS 1
#else
#define NP_HAVE_FLOAT_TO_CHARS 0
#endif

namespace np::tools_detail {
namespace {

// |v| = D.DDDD x 10^exp10 with digits = "DDDDD" (no leading zero unless v == 0).
struct Decimal {
  std::string digits;
  int exp10 = 0;
};

// Parses "D[<sep>DDD]e[+-]XX" (printf %e / to_chars scientific of a non-negative value).
// Every character between the first digit and 'e' that is not a digit is the locale's
// decimal separator and is skipped.
Decimal parse_scientific(const char* s) {
  Decimal d;
  const char* p = s;
  for (; *p && *p != 'e' && *p != 'E'; ++p)
    if (*p >= '0' && *p <= '9') d.digits.push_back(*p);
  if (*p) d.exp10 = std::atoi(p + 1);
  return d;
}

void strip_trailing_zeros(Decimal* d) {
  while (d->digits.size() > 1 && d->digits.back() == '0') d->digits.pop_back();
}

// Python's float_repr_style 'short' layout (Python/pystrtod.c, format code 'r').
std::string layout(bool negative, const Decimal& d) {
  std::string out = negative ? "-" : "";
  const std::string& g = d.digits;
  const int n = static_cast<int>(g.size());
  const int decpt = d.exp10 + 1;  // v = 0.DIGITS x 10^decpt
  if (decpt <= -4 || decpt > 16) {
    out += g[0];
    if (n > 1) {
      out += '.';
      out.append(g, 1, std::string::npos);
    }
    out += 'e';
    out += d.exp10 < 0 ? '-' : '+';
    const int e = d.exp10 < 0 ? -d.exp10 : d.exp10;
    if (e < 10) out += '0';
    out += std::to_string(e);
  } else if (decpt <= 0) {
    out += "0.";
    out.append(static_cast<size_t>(-decpt), '0');
    out += g;
  } else if (decpt >= n) {
    out += g;
    out.append(static_cast<size_t>(decpt - n), '0');
    out += ".0";
  } else {
    out.append(g, 0, static_cast<size_t>(decpt));
    out += '.';
    out.append(g, static_cast<size_t>(decpt), std::string::npos);
  }
  return out;
}

// The next p-digit decimal above (up) or below (!up) d, p = d.digits.size().
Decimal neighbour(Decimal d, bool up) {
  std::string& g = d.digits;
  int i = static_cast<int>(g.size()) - 1;
  if (up) {
    for (; i >= 0 && g[static_cast<size_t>(i)] == '9'; --i) g[static_cast<size_t>(i)] = '0';
    if (i < 0) {  // 9.99 -> 10.0: renormalise to 1.00 x 10^(e+1)
      g[0] = '1';
      ++d.exp10;
    } else {
      ++g[static_cast<size_t>(i)];
    }
  } else {
    for (; i >= 0 && g[static_cast<size_t>(i)] == '0'; --i) g[static_cast<size_t>(i)] = '9';
    if (i >= 0) --g[static_cast<size_t>(i)];
    if (g[0] == '0') {  // 1.00 -> 0.99: the p-digit decimal below is 9.99 x 10^(e-1)
      g.assign(g.size(), '9');
      --d.exp10;
    }
  }
  return d;
}

// Writes d the way printf %e would in this locale (sep = the locale's decimal separator),
// so that strtod in the same locale reads it back.
std::string render_for_strtod(const Decimal& d, const std::string& sep) {
  std::string s(1, d.digits[0]);
  if (d.digits.size() > 1) {
    s += sep;
    s.append(d.digits, 1, std::string::npos);
  }
  s += 'e';
  s += std::to_string(d.exp10);
  return s;
}

}  // namespace

std::string float_repr_to_chars(double v) {
#if NP_HAVE_FLOAT_TO_CHARS
  char buf[64];
  const double a = std::fabs(v);
  auto r = std::to_chars(buf, buf + sizeof(buf) - 1, a, std::chars_format::scientific);
  assert(r.ec == std::errc());
  *r.ptr = '\0';
  Decimal d = parse_scientific(buf);
  strip_trailing_zeros(&d);
  return layout(std::signbit(v), d);
#else
  (void)v;
  return std::string();
#endif
}

std::string float_repr_portable(double v) {
  const double a = std::fabs(v);
  if (a == 0.0) return layout(std::signbit(v), Decimal{"0", 0});
  char buf[64];
  for (int p = 1; p <= 17; ++p) {
    std::snprintf(buf, sizeof(buf), "%.*e", p - 1, a);  // correctly rounded p digits
    const double back = std::strtod(buf, nullptr);
    Decimal d = parse_scientific(buf);
    if (back == a) {
      strip_trailing_zeros(&d);
      return layout(std::signbit(v), d);
    }
    // The nearest p-digit decimal misses a; the one on a's other side may still read back
    // as a (the rounding interval is lopsided at powers of two).
    std::string sep;
    for (const char* q = buf + 1; *q && *q != 'e' && *q != 'E'; ++q)
      if (*q < '0' || *q > '9') sep.push_back(*q);
    Decimal other = neighbour(d, back < a);
    if (std::strtod(render_for_strtod(other, sep).c_str(), nullptr) == a) {
      strip_trailing_zeros(&other);
      return layout(std::signbit(v), other);
    }
  }
  // 17 significant digits always read back; not reached.
  std::snprintf(buf, sizeof(buf), "%.16e", a);
  Decimal d = parse_scientific(buf);
  strip_trailing_zeros(&d);
  return layout(std::signbit(v), d);
}

std::string float_repr(double v) {
#if NP_HAVE_FLOAT_TO_CHARS
  return float_repr_to_chars(v);
#else
  return float_repr_portable(v);
#endif
}

}  // namespace np::tools_detail
