// tools.cpp — parse_tools / parse_calls / to_snake_case: from the caller's tool list to the
// flat schema the model was trained on, and from the model's answer back to caller names.
// Every input check returns a Status; nothing here throws or aborts on outside input
// (nlohmann is only driven through its no-exception SAX parser and type-checked access).
// Not here: the JSON writer (json_compact.cpp), float formatting (float_repr.cpp).
#include <cctype>
#include <string>
#include <unordered_map>
#include <utility>

#include "np/tools.h"
#include "util/json_text.h"
#include "util/text.h"

namespace np {
namespace {

using json = nlohmann::ordered_json;

bool is_upper(char c) { return c >= 'A' && c <= 'Z'; }
bool is_lower(char c) { return c >= 'a' && c <= 'z'; }
bool is_digit(char c) { return c >= '0' && c <= '9'; }
bool is_alnum(char c) { return is_upper(c) || is_lower(c) || is_digit(c); }

// obj[key] when obj is an object that has key, else nullptr. Never throws.
const json* field(const json& obj, const char* key) {
  if (!obj.is_object()) return nullptr;
  auto it = obj.find(key);
  return it == obj.end() ? nullptr : &*it;
}

// Treats a JSON null like an absent field.
const json* present(const json& obj, const char* key) {
  const json* v = field(obj, key);
  return (v && !v->is_null()) ? v : nullptr;
}

// ---- JSON parsing with limits ----------------------------------------------------------

// Parses `text` (what = "tools JSON" / "answer", for messages). Syntax errors and refused
// integers get `syntax_code`; exceeding kMaxJsonDepth gets kInvalidInput.
Status parse_limited(std::string_view text, const char* what, Code syntax_code,
                     bool reject_big_integers, json* out) {
  JsonParseFailure failure = JsonParseFailure::kNone;
  std::string detail;
  if (json_parse_bounded(text, kMaxJsonDepth, reject_big_integers, out, &failure, &detail)) return Status::Ok();
  switch (failure) {
    case JsonParseFailure::kTooDeep:
      return Status(Code::kInvalidInput, std::string(what) + " nests arrays/objects deeper than " +
                                             std::to_string(kMaxJsonDepth) + " levels");
    case JsonParseFailure::kBigInteger:
      return Status(syntax_code, std::string(what) + ": integer " + detail + " does not fit in 64 bits");
    default:
      if (!detail.empty()) return Status(syntax_code, std::string(what) + " is not valid JSON: " + detail);
      return Status(syntax_code, std::string(what) + " is not valid JSON");
  }
}

// ---- normalisation ---------------------------------------------------------------------

// Error context: "tools[3] \"getWeather\": <what>".
struct ToolCtx {
  size_t index = 0;
  const std::string* name = nullptr;
  Status error(const std::string& what) const {
    std::string m = "tools[" + std::to_string(index) + "]";
    if (name) m += " " + quote_for_message(*name);
    return Status(Code::kInvalidTools, m + ": " + what);
  }
};

// A "type" value -> its type name: a string as is; a list -> its first string entry other
// than "null"; anything else (or no such entry, or "") -> "".
std::string first_type(const json* t) {
  if (!t) return std::string();
  if (t->is_string()) return t->get<std::string>();
  if (t->is_array()) {
    for (const json& e : *t)
      if (e.is_string() && e.get_ref<const std::string&>() != "null") return e.get<std::string>();
  }
  return std::string();
}

// ToolParam::type for a param spec: its "type"; failing that the first non-"null" type among
// its "anyOf" / "oneOf" alternatives (pydantic writes Optional[X] that way); else "string".
std::string derive_type(const json& spec) {
  std::string t = first_type(field(spec, "type"));
  if (!t.empty()) return t;
  for (const char* key : {"anyOf", "oneOf"}) {
    const json* alts = field(spec, key);
    if (!alts || !alts->is_array()) continue;
    for (const json& alt : *alts) {
      t = first_type(field(alt, "type"));
      if (!t.empty() && t != "null") return t;
    }
  }
  return "string";
}

// Checks the fields both schema forms share; fills description and enum_values.
Status check_param_common(const ToolCtx& ctx, const std::string& pname, const json& spec,
                          ToolParam* p) {
  if (const json* d = present(spec, "description")) {
    if (!d->is_string())
      return ctx.error("parameter " + quote_for_message(pname) + ": \"description\" must be a string, got " +
                       json_type_name(*d));
    p->description = d->get<std::string>();
  }
  if (const json* e = present(spec, "enum")) {
    if (!e->is_array())
      return ctx.error("parameter " + quote_for_message(pname) + ": \"enum\" must be an array, got " +
                       json_type_name(*e));
    p->enum_values.assign(e->begin(), e->end());
  }
  p->type = derive_type(spec);
  return Status::Ok();
}

// Needle flat parameters: {p: {"type", "description", "required": bool, ...}}. The caller's
// object is kept as given (key order too); only "required" is made a bool (false when absent
// or null).
Status normalize_flat_params(const ToolCtx& ctx, const json& params, Tool* tool,
                             json* out_params) {
  for (auto it = params.begin(); it != params.end(); ++it) {
    const std::string& pname = it.key();
    const json& spec = it.value();
    if (!spec.is_object())
      return ctx.error("parameter " + quote_for_message(pname) + ": spec must be an object, got " +
                       json_type_name(spec));
    ToolParam p;
    p.name = pname;
    NP_RETURN_IF_ERROR(check_param_common(ctx, pname, spec, &p));
    json flat = spec;
    auto req = flat.find("required");
    if (req == flat.end()) {
      flat["required"] = false;
    } else if (req->is_null()) {
      *req = false;
    } else if (!req->is_boolean()) {
      return ctx.error("parameter " + quote_for_message(pname) + ": \"required\" must be true or false, got " +
                       json_type_name(*req));
    }
    p.required = flat.find("required")->get<bool>();
    p.schema = flat;
    p.source = spec;
    (*out_params)[pname] = std::move(flat);
    tool->params.push_back(std::move(p));
  }
  return Status::Ok();
}

// JSON-Schema parameters: {"type": "object", "properties": {...}, "required": [...]}. Each
// property becomes {"type", "description", ["enum",] "required"}; other keywords are dropped
// (they stay in ToolParam::source).
Status normalize_schema_params(const ToolCtx& ctx, const char* key, const json& params,
                               Tool* tool, json* out_params) {
  const json* props = present(params, "properties");
  if (props && !props->is_object())
    return ctx.error("\"" + std::string(key) + "\": \"properties\" must be an object, got " +
                     json_type_name(*props));
  std::vector<std::string> required;
  if (const json* req = present(params, "required")) {
    if (!req->is_array())
      return ctx.error("\"" + std::string(key) + "\": \"required\" must be an array of strings, got " +
                       json_type_name(*req));
    for (const json& r : *req) {
      if (!r.is_string())
        return ctx.error("\"" + std::string(key) + "\": \"required\" must be an array of strings, found " +
                         json_type_name(r));
      const std::string& rname = r.get_ref<const std::string&>();
      if (!props || !props->contains(rname))
        return ctx.error("\"" + std::string(key) + "\": \"required\" names " + quote_for_message(rname) +
                         ", which is not in \"properties\"");
      required.push_back(rname);
    }
  }
  if (!props) return Status::Ok();
  for (auto it = props->begin(); it != props->end(); ++it) {
    const std::string& pname = it.key();
    const json& spec = it.value();
    if (!spec.is_object())
      return ctx.error("parameter " + quote_for_message(pname) + ": spec must be an object, got " +
                       json_type_name(spec));
    ToolParam p;
    p.name = pname;
    NP_RETURN_IF_ERROR(check_param_common(ctx, pname, spec, &p));
    p.required = false;
    for (const std::string& r : required)
      if (r == pname) p.required = true;
    // A per-property "required": true (mixing the flat style into a schema) also counts.
    if (const json* own = field(spec, "required"); own && own->is_boolean() && own->get<bool>())
      p.required = true;
    json flat = json::object();
    flat["type"] = p.type;
    flat["description"] = p.description;
    if (const json* e = present(spec, "enum")) flat["enum"] = *e;
    flat["required"] = p.required;
    p.schema = flat;
    p.source = spec;
    (*out_params)[pname] = std::move(flat);
    tool->params.push_back(std::move(p));
  }
  return Status::Ok();
}

// One element of the tools array -> Tool + its normalised JSON object.
Status normalize_tool(const json& raw, size_t index, Tool* tool, json* out) {
  ToolCtx ctx;
  ctx.index = index;
  if (!raw.is_object()) return ctx.error(std::string("not an object, got ") + json_type_name(raw));
  const json* src = &raw;
  if (const json* fn = present(raw, "function")) {  // OpenAI chat-completions wrapper
    if (!fn->is_object())
      return ctx.error(std::string("\"function\" must be an object, got ") + json_type_name(*fn));
    src = fn;
  }

  const json* name = present(*src, "name");
  if (!name) return ctx.error("missing \"name\"");
  if (!name->is_string())
    return ctx.error(std::string("\"name\" must be a string, got ") + json_type_name(*name));
  tool->original_name = name->get<std::string>();
  if (tool->original_name.empty()) return ctx.error("\"name\" is empty");
  ctx.name = &tool->original_name;
  tool->name = to_snake_case(tool->original_name);
  if (tool->name.empty())
    return ctx.error("\"name\" has no ASCII letters or digits, so its snake_case form is empty");

  if (const json* d = present(*src, "description")) {
    if (!d->is_string())
      return ctx.error(std::string("\"description\" must be a string, got ") + json_type_name(*d));
    tool->description = d->get<std::string>();
  }

  const char* key = "parameters";
  const json* params = present(*src, "parameters");
  if (!params) {
    key = "input_schema";  // Anthropic
    params = present(*src, "input_schema");
  }
  json out_params = json::object();
  if (params) {
    if (!params->is_object())
      return ctx.error("\"" + std::string(key) + "\" must be an object, got " + json_type_name(*params));
    // JSON-Schema when "type" is the string "object". A flat parameter named "type" has an
    // object as its spec, never a string, so this cannot misread a flat list.
    const json* t = field(*params, "type");
    if (t && t->is_string() && t->get_ref<const std::string&>() == "object") {
      NP_RETURN_IF_ERROR(normalize_schema_params(ctx, key, *params, tool, &out_params));
    } else {
      NP_RETURN_IF_ERROR(normalize_flat_params(ctx, *params, tool, &out_params));
    }
  }

  *out = json::object();
  (*out)["name"] = tool->name;
  (*out)["description"] = tool->description;
  (*out)["parameters"] = std::move(out_params);
  return Status::Ok();
}

}  // namespace

std::string to_snake_case(std::string_view name) {
  // 1. every byte that is not [A-Za-z0-9] -> '_'
  std::string s(name);
  for (char& c : s)
    if (!is_alnum(c)) c = '_';
  // 2. ([A-Z]+)([A-Z][a-z]) -> \1_\2 : "HTTPServer" -> "HTTP_Server". A match needs an
  //    uppercase run of length >= 2 followed by a lowercase letter; the '_' goes before the
  //    run's last letter, and matching resumes after the lowercase letter.
  std::string t;
  t.reserve(s.size() * 2);
  for (size_t i = 0; i < s.size();) {
    if (!is_upper(s[i])) {
      t += s[i++];
      continue;
    }
    size_t j = i;
    while (j < s.size() && is_upper(s[j])) ++j;
    if (j - i >= 2 && j < s.size() && is_lower(s[j])) {
      t.append(s, i, j - 1 - i);
      t += '_';
      t += s[j - 1];
      t += s[j];
      i = j + 1;
    } else {
      t.append(s, i, j - i);
      i = j;
    }
  }
  // 3. ([a-z0-9])([A-Z]) -> \1_\2 : "getWeather" -> "get_Weather"
  std::string u;
  u.reserve(t.size() * 2);
  for (size_t k = 0; k < t.size(); ++k) {
    if (k > 0 && is_upper(t[k]) && (is_lower(t[k - 1]) || is_digit(t[k - 1]))) u += '_';
    u += t[k];
  }
  // 4. collapse runs of '_', strip them at both ends, lowercase
  std::string out;
  out.reserve(u.size());
  for (char c : u) {
    if (c == '_') {
      if (!out.empty() && out.back() != '_') out += '_';
    } else {
      out += is_upper(c) ? static_cast<char>(c - 'A' + 'a') : c;
    }
  }
  while (!out.empty() && out.back() == '_') out.pop_back();
  return out;
}

const Tool* ToolSet::find(std::string_view snake_name) const {
  for (const Tool& t : tools)
    if (t.name == snake_name) return &t;
  return nullptr;
}

const Tool* ToolSet::find_any(std::string_view name) const {
  if (const Tool* t = find(name)) return t;
  for (const Tool& t : tools)
    if (t.original_name == name) return &t;
  return nullptr;
}

Result<ToolSet> parse_tools(std::string_view tools_json) {
  if (tools_json.size() > kMaxToolsJsonBytes)
    return Status(Code::kInvalidInput, "tools JSON is " + std::to_string(tools_json.size()) +
                                           " bytes; the limit is " +
                                           std::to_string(kMaxToolsJsonBytes));
  json root;
  NP_RETURN_IF_ERROR(parse_limited(tools_json, "tools JSON", Code::kInvalidTools,
                                   /*reject_big_integers=*/true, &root));
  if (!root.is_array())
    return Status(Code::kInvalidTools, std::string("tools JSON must be an array of tools, got ") +
                                           json_type_name(root));
  const json::array_t& items = root.get_ref<const json::array_t&>();
  if (items.size() > kMaxTools)
    return Status(Code::kInvalidInput, "tools JSON lists " + std::to_string(items.size()) +
                                           " tools; the limit is " + std::to_string(kMaxTools));

  ToolSet set;
  set.tools.reserve(items.size());
  json normalized = json::array();
  std::unordered_map<std::string, size_t> by_original, by_snake;
  for (size_t i = 0; i < items.size(); ++i) {
    Tool tool;
    json out;
    NP_RETURN_IF_ERROR(normalize_tool(items[i], i, &tool, &out));
    ToolCtx ctx;
    ctx.index = i;
    ctx.name = &tool.original_name;
    if (auto it = by_original.find(tool.original_name); it != by_original.end())
      return ctx.error("duplicate tool name (also tools[" + std::to_string(it->second) + "])");
    if (auto it = by_snake.find(tool.name); it != by_snake.end())
      return ctx.error("name collides with tools[" + std::to_string(it->second) + "] " +
                       quote_for_message(set.tools[it->second].original_name) + ": both become " +
                       quote_for_message(tool.name) + " in snake_case");
    by_original.emplace(tool.original_name, i);
    by_snake.emplace(tool.name, i);
    set.tools.push_back(std::move(tool));
    normalized.push_back(std::move(out));
  }
  set.normalized_json = json_dumps_compact(normalized);
  return set;
}

Result<std::vector<Call>> parse_calls(std::string_view answer_json, const ToolSet& tools) {
  if (answer_json.size() > kMaxToolsJsonBytes)
    return Status(Code::kInvalidInput, "answer is " + std::to_string(answer_json.size()) +
                                           " bytes; the limit is " +
                                           std::to_string(kMaxToolsJsonBytes));
  json root;
  NP_RETURN_IF_ERROR(parse_limited(answer_json, "answer", Code::kInvalidInput,
                                   /*reject_big_integers=*/false, &root));
  if (!root.is_array())
    return Status(Code::kInvalidInput,
                  std::string("answer must be a JSON array of calls, got ") + json_type_name(root));
  std::vector<Call> calls;
  for (size_t i = 0; i < root.size(); ++i) {
    const json& c = root[i];
    const std::string where = "calls[" + std::to_string(i) + "]";
    if (!c.is_object())
      return Status(Code::kInvalidInput, where + ": not an object, got " + json_type_name(c));
    const json* name = present(c, "name");
    if (!name) return Status(Code::kInvalidInput, where + ": missing \"name\"");
    if (!name->is_string())
      return Status(Code::kInvalidInput,
                    where + ": \"name\" must be a string, got " + json_type_name(*name));
    const std::string& n = name->get_ref<const std::string&>();
    const Tool* tool = tools.find_any(n);
    if (!tool)
      return Status(Code::kInvalidInput, where + ": " + quote_for_message(n) + " is not a declared tool");
    Call call;
    call.name = tool->original_name;
    call.tool_index = static_cast<size_t>(tool - tools.tools.data());
    if (const json* args = present(c, "arguments")) {
      if (!args->is_object())
        return Status(Code::kInvalidInput, where + " " + quote_for_message(n) +
                                               ": \"arguments\" must be an object, got " +
                                               json_type_name(*args));
      call.arguments = *args;
    } else {
      call.arguments = json::object();
    }
    calls.push_back(std::move(call));
  }
  return calls;
}

void trim_free_text(Call* call, const ToolSet& tools) {
  if (call->tool_index >= tools.tools.size() || !call->arguments.is_object()) return;
  const auto trim = [](nlohmann::ordered_json* v) {
    if (!v->is_string()) return;
    const std::string& s = v->get_ref<const std::string&>();
    const auto space = [](char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; };
    size_t b = 0, e = s.size();
    while (b < e && space(s[b])) ++b;
    while (e > b && space(s[e - 1])) --e;
    if (b != 0 || e != s.size()) *v = s.substr(b, e - b);
  };
  for (const ToolParam& p : tools.tools[call->tool_index].params) {
    auto it = call->arguments.find(p.name);
    if (it == call->arguments.end() || !p.enum_values.empty()) continue;
    if (p.type == "string") {
      trim(&*it);
    } else if (p.type == "array" && it->is_array()) {
      const auto fixed_items = [](const nlohmann::ordered_json& spec) {  // items with an enum or const
        if (!spec.is_object() || !spec.contains("items")) return false;
        const nlohmann::ordered_json& items = spec["items"];
        return items.is_object() && (items.contains("enum") || items.contains("const"));
      };
      if (fixed_items(p.schema) || fixed_items(p.source)) continue;
      for (auto& item : *it) trim(&item);
    }
  }
}

namespace {

// How many times `q` (lower-cased) writes `s` (lower-cased): a string as a whole piece
// (util/text.h); a number with no digit or '.' before it and no digit after it.
size_t times_written(const std::string& q, const std::string& s, bool number) {
  if (!number) return count_whole(q, s);
  if (s.empty()) return 0;
  const auto digit = [](char c) { return c >= '0' && c <= '9'; };
  size_t n = 0;
  for (size_t at = q.find(s); at != std::string::npos; at = q.find(s, at + 1)) {
    const size_t end = at + s.size();
    const bool open = at == 0 || (!digit(q[at - 1]) && q[at - 1] != '.');
    const bool close = end == q.size() || !digit(q[end]);
    if (open && close) ++n;
  }
  return n;
}

// The fewest times the query writes one of the values in `v` (0: it writes none of them).
size_t fewest_written(const std::string& q, const nlohmann::ordered_json& v) {
  size_t fewest = 0;
  const auto take = [&](size_t n) {
    if (n > 0 && (fewest == 0 || n < fewest)) fewest = n;
  };
  if (v.is_string()) {
    std::string s = ascii_lowered(v.get<std::string>());
    const size_t b = s.find_first_not_of(" \t\n\r"), e = s.find_last_not_of(" \t\n\r");
    take(b == std::string::npos ? 0 : times_written(q, s.substr(b, e - b + 1), false));
  } else if (v.is_number_integer() || v.is_number_unsigned() || v.is_number_float()) {
    take(times_written(q, v.dump(), true));
  } else if (v.is_array() || v.is_object()) {
    for (const auto& item : v) take(fewest_written(q, item));
  }
  return fewest;
}

}  // namespace

std::vector<size_t> drop_repeated_calls(std::string_view query, std::vector<Call>* calls) {
  const std::string q = ascii_lowered(query);
  std::vector<size_t> kept;
  std::vector<Call> out;
  for (size_t i = 0; i < calls->size(); ++i) {
    Call& c = (*calls)[i];
    size_t before = 0;  // the calls kept so far that it repeats
    for (const Call& k : out) before += k.name == c.name && k.arguments == c.arguments;
    const size_t said = before > 0 ? fewest_written(q, c.arguments) : 0;
    if (before > 0 && said > 0 && said < before + 1) continue;
    kept.push_back(i);
    out.push_back(std::move(c));
  }
  *calls = std::move(out);
  return kept;
}

std::string calls_to_json(const std::vector<Call>& calls) {
  json arr = json::array();
  for (const Call& c : calls) {
    json o = json::object();
    o["name"] = c.name;
    o["arguments"] = c.arguments;
    arr.push_back(std::move(o));
  }
  return json_dumps_compact(arr);
}

}  // namespace np
