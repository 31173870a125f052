// bits.h — bit-exact reinterpretation between same-sized types (C++17 has no std::bit_cast).
// Example: bit_cast<uint32_t>(1.0f) == 0x3F800000u.
#pragma once
#include <cstring>
#include <type_traits>

namespace np {

template <class To, class From>
To bit_cast(const From& from) {
  static_assert(sizeof(To) == sizeof(From), "bit_cast needs types of the same size");
  static_assert(std::is_trivially_copyable<To>::value && std::is_trivially_copyable<From>::value,
                "bit_cast needs trivially copyable types");
  To to;
  std::memcpy(&to, &from, sizeof to);
  return to;
}

}  // namespace np
