// float_repr.h — Python's repr(float) for finite doubles (internal to the tools layer; the
// tests call both implementations directly).
// Not here: NaN/Infinity (callers decide what to write for them).
#pragma once
#include <string>

namespace np::tools_detail {

// The text Python 3 prints for repr(v), v finite: the shortest digit string that reads back
// as v (the closest one when several are that short), written in fixed notation when the
// decimal exponent d (v = 0.DIGITS x 10^d) satisfies -4 < d <= 16, else as 1.5e+300 style
// with at least two exponent digits. Examples: 0.1 -> "0.1", 100.0 -> "100.0",
// 1e-05 -> "1e-05", 0.0001 -> "0.0001", 1e16 -> "1e+16", 1e15 -> "1000000000000000.0",
// -0.0 -> "-0.0", 5e-324 -> "5e-324".
std::string float_repr(double v);

// The two digit generators float_repr may use: std::to_chars (exact shortest, where the
// standard library has it) and a portable search over snprintf("%.*e") / strtod (used when
// it does not, e.g. older libc++). They must agree; test_tools.cpp checks that they do.
std::string float_repr_to_chars(double v);  // "" when std::to_chars(double) is unavailable
std::string float_repr_portable(double v);

}  // namespace np::tools_detail
