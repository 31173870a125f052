// json_text.h — small text helpers for error messages about JSON values, shared by the
// tools layer and the data pipeline.
#pragma once
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

namespace np {

// "object", "array", "string", "boolean", "number", "null".
const char* json_type_name(const nlohmann::ordered_json& v);
// A user-supplied string for an error message: quoted, control bytes / quote / backslash
// escaped, cut to 64 bytes on a UTF-8 boundary ("abc" -> "\"abc\"").
std::string quote_for_message(std::string_view s);

}  // namespace np
