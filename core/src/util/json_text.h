// json_text.h — small text helpers for error messages about JSON values, shared by the
// tools layer and the data pipeline, and the bounded parser both use.
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

enum class JsonParseFailure { kNone, kSyntax, kTooDeep, kBigInteger };

// Parses JSON with nesting bounded by max_depth (so later recursive code cannot exhaust the
// stack) and, optionally, integers beyond 64 bits refused (nlohmann would make them doubles,
// changing their digits). Never throws. On failure *out is null, *failure says why and
// *detail holds the parser's message with its byte offset (kSyntax) or the integer's text,
// cut to 40 characters (kBigInteger).
bool json_parse_bounded(std::string_view text, int max_depth, bool reject_big_integers,
                        nlohmann::ordered_json* out, JsonParseFailure* failure, std::string* detail);

}  // namespace np
