// tools.h — the tools-schema layer: reads a caller's tool list (Needle flat, JSON-Schema,
// OpenAI or Anthropic shapes), normalises it to the flat schema Needle v1 was trained on,
// serialises it byte-for-byte as Python's json.dumps(obj, separators=(",", ":")) would, and
// maps the model's answer (a JSON list of calls) back to the caller's tool names.
// Not here: tokenization, the encoder prompt, constrained decoding (they consume ToolSet).
// Rules, examples and decisions are spelled out in docs/tools.md; the tests repeat them.
#pragma once
#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "np/status.h"

namespace np {

// Limits on what parse_tools accepts (exceeding one is Code::kInvalidInput, not kInvalidTools:
// the list may be well formed, this engine just refuses to spend that much on it).
inline constexpr size_t kMaxToolsJsonBytes = size_t{1} << 20;  // 1 MiB of tools JSON
inline constexpr size_t kMaxTools = 1000;                      // tools in one list
inline constexpr int kMaxJsonDepth = 64;                       // nesting of arrays/objects
// parse_calls applies the same byte and depth limits to the model's answer.

// Tool name -> the snake_case name the model sees. ASCII only: every byte that is not
// [A-Za-z0-9] (so every byte of a non-ASCII character) counts as a separator. Equal to
//   s = re.sub(r'[^A-Za-z0-9]', '_', name)
//   s = re.sub(r'([A-Z]+)([A-Z][a-z])', r'\1_\2', s)
//   s = re.sub(r'([a-z0-9])([A-Z])', r'\1_\2', s)
//   s = re.sub(r'_+', '_', s).strip('_').lower()
// Examples: "getWeather" -> "get_weather", "HTTPServer" -> "http_server",
// "getHTTPResponseCode" -> "get_http_response_code", "get-user.name" -> "get_user_name",
// "already_snake" -> "already_snake", "  X  " -> "x", "v2Api" -> "v2_api",
// "Ünïcode" -> "n_code", "天気" -> "" (parse_tools rejects a name that becomes empty).
std::string to_snake_case(std::string_view name);

// Python json.dumps(value, separators=(",", ":")) with its defaults (ensure_ascii=True):
// keys in stored order; strings escape \" \\ \n \r \t \b \f, other bytes < 0x20 and 0x7f as
// \u00XX, non-ASCII as \uXXXX (lowercase hex; surrogate pairs above U+FFFF); "/" is not
// escaped; integers as integers; floats as Python repr (shortest round-trip: 1.5, 0.1,
// 1e-05, 1e+20, 100.0). Invalid UTF-8 inside a string: each maximal ill-formed subsequence
// becomes U+FFFD ("\ufffd"), as Python's bytes.decode("utf-8", "replace") does.
// Non-finite floats (JSON cannot carry them; Python would write NaN/Infinity) are written
// as null. Binary values (never produced by parsing) are written as arrays of byte values.
// Examples: {"a":[1,1.0,"é"]} -> {"a":[1,1.0,"\u00e9"]}; "😀" -> "\ud83d\ude00".
std::string json_dumps_compact(const nlohmann::ordered_json& value);

// One parameter of a tool, after normalisation.
struct ToolParam {
  std::string name;         // the key under "parameters" (never renamed)
  std::string type;         // "string", "number", ...: the schema's type, or its first
                            // non-"null" entry when a list; "string" when absent
  std::string description;  // "" when absent
  bool required = false;
  std::vector<nlohmann::ordered_json> enum_values;  // the "enum" list, empty when none
  nlohmann::ordered_json schema;  // the flat param object exactly as the model sees it
  nlohmann::ordered_json source;  // the caller's param spec, unmodified (for constraints)
};

struct Tool {
  std::string original_name;  // as the caller spelled it; calls are reported with this
  std::string name;           // to_snake_case(original_name): what the model sees and writes
  std::string description;    // "" when absent
  std::vector<ToolParam> params;  // in the caller's order
};

struct ToolSet {
  std::vector<Tool> tools;      // in the caller's order
  std::string normalized_json;  // json_dumps_compact of the normalised list: the encoder's input
  // The tool whose snake_case name is `snake_name`, or nullptr. Pointers stay valid while
  // the ToolSet is alive and unmodified.
  const Tool* find(std::string_view snake_name) const;
  // Same, also accepting the caller's original spelling of a name.
  const Tool* find_any(std::string_view name) const;
};

// Parses and normalises a JSON array of tools. Each element may be:
//   Needle flat:  {"name", "description", "parameters": {p: {"type", "description", "required": bool}}}
//   JSON-Schema:  {"name", "description", "parameters": {"type": "object", "properties": {...},
//                  "required": [...]}}
//   OpenAI:       {"type": "function", "function": {either of the above}}
//                 (and the Responses-API form with name/parameters beside "type")
//   Anthropic:    {"name", "description", "input_schema": {JSON-Schema}}
// Each normalised tool is {"name": snake, "description", "parameters": {p: {...}}}; see
// docs/tools.md for the per-parameter rules. Errors: Code::kInvalidTools, naming the tool
// (tools[i] and its name) and the field; the size limits above give Code::kInvalidInput.
Result<ToolSet> parse_tools(std::string_view tools_json);

// One call from the model's answer.
struct Call {
  std::string name;                  // the caller's original tool name
  nlohmann::ordered_json arguments;  // always an object
  size_t tool_index = 0;             // index into ToolSet::tools
};

// Parses the model's answer: a JSON array of {"name", "arguments"} objects ([] = no call).
// Names are looked up by snake_case name (the caller's spelling is accepted too) and
// reported with the caller's spelling. A missing or null "arguments" is {}. Argument keys
// and values are not checked against the schema. Errors (Code::kInvalidInput): not JSON,
// not an array, an element not an object, a name missing or not declared, arguments not an
// object, or the byte/depth limits above. Drop a leading "<tool_call>" before calling.
Result<std::vector<Call>> parse_calls(std::string_view answer_json, const ToolSet& tools);

// Strips spaces (and tabs, line breaks) from both edges of the call's free-text arguments: a
// parameter of type string without an enum, and the strings of an array parameter whose items
// have no enum. Enum values, other types and nested objects are left as written (an enum
// value may end with a space). The tool caller applies it to every call: the model copies a
// query word with the piece that carries its leading space (" Goa"), which a tool should
// never receive (the call's `raw` text keeps what the model wrote).
void trim_free_text(Call* call, const ToolSet& tools);

// Drops a call that repeats an earlier call of the answer exactly (the same tool, the same
// arguments) where the query does not say its values that often: a value the query writes
// (a string, letter case aside, as whole words; a number as its digits; each item of an
// array) and writes fewer times than the calls that would take it. "Let's focus in
// 100-minute sprints" -> one focus session, not two of 100 minutes; "text to 120%. Then scale
// letters to 120" keeps both (120 is said twice). A repeat with no value the query writes
// (no arguments, booleans, enums) is kept: nothing tells it from "lock the car, then lock
// the car". Returns, per call kept, its index in `calls` as given; `calls` keeps the rest in
// order.
std::vector<size_t> drop_repeated_calls(std::string_view query, std::vector<Call>* calls);

// [{"name": original, "arguments": {...}}, ...] as compact JSON (json_dumps_compact).
std::string calls_to_json(const std::vector<Call>& calls);

}  // namespace np
