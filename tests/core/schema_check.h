// schema_check.h — an independent checker, for tests only, of a tool call against the tool's
// schema as the caller wrote it (any of the shapes in docs/tools.md). Deliberately written
// apart from the engine: it shares no code with core/src/decode/ (the grammar) or
// core/src/tools/ beyond nlohmann's parser, and reads the caller's JSON directly, so a bug
// in the grammar builder cannot hide here.
// What a value must satisfy (a subset of JSON Schema plus the Needle flat form):
//   type      a name or a list of names; aliases int, float, double, bool; a name not known
//             here constrains nothing; "integer" accepts 3 and 3.0, not 3.5
//   enum      the value equals one of the entries (and still has the declared type)
//   anyOf / oneOf (when no "type")  the value follows at least one alternative
//   properties, required  for an object value: keys only from "properties" (or named by
//             "required"), every name in
//             "required" (array) and every property with "required": true present
//   items     for an array value: every item follows it
// Not here: formats, minimum/maximum, patterns, lengths (the grammar does not promise them).
#pragma once
#include <cmath>
#include <string>

#include <nlohmann/json.hpp>

namespace schema_check {

using json = nlohmann::ordered_json;

inline const json* get(const json& o, const char* k) {
  if (!o.is_object()) return nullptr;
  auto it = o.find(k);
  return (it == o.end() || it->is_null()) ? nullptr : &*it;
}

// Whether `v` is of JSON-Schema type `t` (true for a type name not listed here).
inline bool has_type(const std::string& t, const json& v) {
  if (t == "string") return v.is_string();
  if (t == "integer" || t == "int") {
    if (v.is_number_integer()) return true;
    if (!v.is_number_float()) return false;
    const double d = v.get<double>();
    return std::isfinite(d) && d == std::floor(d);
  }
  if (t == "number" || t == "float" || t == "double") return v.is_number();
  if (t == "boolean" || t == "bool") return v.is_boolean();
  if (t == "null") return v.is_null();
  if (t == "object") return v.is_object();
  if (t == "array") return v.is_array();
  return true;
}

// "" when `value` follows `schema`, else the first violation, prefixed with `path`.
inline std::string check_value(const json& schema, const json& value, const std::string& path) {
  if (!schema.is_object()) return "";
  const json* type = get(schema, "type");
  if (type) {
    bool ok = false;
    if (type->is_string()) {
      ok = has_type(type->get<std::string>(), value);
    } else if (type->is_array()) {
      for (const json& t : *type) ok = ok || (t.is_string() && has_type(t.get<std::string>(), value));
      if (type->empty()) ok = true;
    } else {
      ok = true;
    }
    if (!ok) return path + ": " + value.dump() + " is not of type " + type->dump();
  } else {
    for (const char* k : {"anyOf", "oneOf"}) {
      const json* alts = get(schema, k);
      if (!alts || !alts->is_array() || alts->empty()) continue;
      bool any = false;
      for (const json& alt : *alts) any = any || check_value(alt, value, path).empty();
      if (!any) return path + ": " + value.dump() + " follows no alternative of " + k;
    }
  }
  if (const json* e = get(schema, "enum"); e && e->is_array()) {
    bool found = false;
    for (const json& x : *e) found = found || x == value;
    if (!found) return path + ": " + value.dump() + " is not in the enum " + e->dump();
  }
  if (value.is_object()) {
    if (const json* props = get(schema, "properties"); props && props->is_object() && !props->empty()) {
      const json* req = get(schema, "required");
      for (auto it = value.begin(); it != value.end(); ++it) {
        bool named = false;  // a key "required" names is declared too, whatever its value
        if (req && req->is_array())
          for (const json& r : *req) named = named || r == json(it.key());
        if (named && !props->contains(it.key())) continue;
        if (!props->contains(it.key())) return path + ": key " + json(it.key()).dump() + " is not declared";
        std::string err = check_value((*props)[it.key()], it.value(), path + "." + it.key());
        if (!err.empty()) return err;
      }
      if (req && req->is_array())
        for (const json& r : *req)
          if (r.is_string() && !value.contains(r.get<std::string>()))
            return path + ": required key " + r.dump() + " is missing";
      for (auto it = props->begin(); it != props->end(); ++it) {
        const json* own = get(it.value(), "required");
        if (own && own->is_boolean() && own->get<bool>() && !value.contains(it.key()))
          return path + ": required key " + json(it.key()).dump() + " is missing";
      }
    }
  }
  if (value.is_array()) {
    if (const json* items = get(schema, "items"); items && items->is_object())
      for (size_t i = 0; i < value.size(); ++i) {
        std::string err = check_value(*items, value[i], path + "[" + std::to_string(i) + "]");
        if (!err.empty()) return err;
      }
  }
  return "";
}

// "" when `arguments` is a valid argument object for the tool named `name` (the caller's
// spelling) in the caller's `tools` list; else why not.
inline std::string check_call(const json& tools, const std::string& name, const json& arguments) {
  if (!arguments.is_object()) return "arguments are not an object";
  for (const json& raw : tools) {
    const json* tool = get(raw, "function");
    if (!tool) tool = &raw;
    const json* n = get(*tool, "name");
    if (!n || !n->is_string() || n->get<std::string>() != name) continue;
    const json* params = get(*tool, "parameters");
    if (!params) params = get(*tool, "input_schema");
    if (!params) return arguments.empty() ? "" : "arguments given to a tool without parameters";
    const json* t = get(*params, "type");
    if (t && t->is_string() && t->get<std::string>() == "object") {
      const json* props = get(*params, "properties");
      if ((!props || props->empty()) && !arguments.empty()) return "arguments given to a tool without properties";
      return check_value(*params, arguments, name);
    }
    // Needle flat form: {param: {type, enum, required: bool, ...}}.
    for (auto it = arguments.begin(); it != arguments.end(); ++it) {
      if (!params->contains(it.key())) return name + ": key " + json(it.key()).dump() + " is not declared";
      std::string err = check_value((*params)[it.key()], it.value(), name + "." + it.key());
      if (!err.empty()) return err;
    }
    for (auto it = params->begin(); it != params->end(); ++it) {
      const json* req = get(it.value(), "required");
      if (req && req->is_boolean() && req->get<bool>() && !arguments.contains(it.key()))
        return name + ": required key " + json(it.key()).dump() + " is missing";
    }
    return "";
  }
  return "no tool named " + json(name).dump();
}

}  // namespace schema_check
