// content.cpp — loads and validates the data factory's content files (data/factory/common.json
// and data/factory/categories/*.json; format in docs/data.md). Every error names the file
// and the field, so a content author can fix it without reading this code. Also checks the
// split rule on the content itself: held-out (test) tools share no name variant,
// description or parameter name with the train pool.
// Not here: drawing examples (generate.cpp).
#include "datagen/content.h"

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>
#include <utility>

#include "np/tools.h"
#include "util/json_text.h"
#include "util/text.h"

namespace np::datagen {

namespace {

constexpr int kMaxContentDepth = 32;

Status bad(const std::string& where, const std::string& what) {
  return Status(Code::kInvalidInput, where + ": " + what);
}

Status read_json_file(const std::string& path, json* out) {
  std::ifstream f(path, std::ios::binary);
  if (!f) return Status(Code::kIoError, path + ": cannot open");
  std::ostringstream ss;
  ss << f.rdbuf();
  if (f.bad()) return Status(Code::kIoError, path + ": read failed");
  JsonParseFailure failure = JsonParseFailure::kNone;
  std::string detail;
  if (!json_parse_bounded(ss.str(), kMaxContentDepth, /*reject_big_integers=*/true, out, &failure, &detail))
    return bad(path, "not valid JSON: " + detail);
  if (!out->is_object()) return bad(path, std::string("must be a JSON object, got ") + json_type_name(*out));
  return Status::Ok();
}

const json* field(const json& obj, const char* key) {
  auto it = obj.find(key);
  return (it == obj.end() || it->is_null()) ? nullptr : &*it;
}

bool is_snake(const std::string& s) {
  if (s.empty() || !(s[0] >= 'a' && s[0] <= 'z')) return false;
  for (char c : s)
    if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_')) return false;
  return s.back() != '_' && s.find("__") == std::string::npos;
}

// A string, or a non-empty array of non-empty strings -> *out.
Status read_texts(const json& v, const std::string& where, std::vector<std::string>* out) {
  out->clear();
  if (v.is_string()) {
    out->push_back(v.get<std::string>());
  } else if (v.is_array()) {
    for (const auto& e : v) {
      if (!e.is_string()) return bad(where, std::string("entries must be strings, got ") + json_type_name(e));
      out->push_back(e.get<std::string>());
    }
  } else {
    return bad(where, std::string("must be a string or an array of strings, got ") + json_type_name(v));
  }
  if (out->empty()) return bad(where, "is empty");
  for (const auto& s : *out)
    if (s.empty()) return bad(where, "has an empty string");
  return Status::Ok();
}

Status read_string_list(const json& obj, const char* key, const std::string& where, bool required,
                        std::vector<std::string>* out) {
  const json* v = field(obj, key);
  if (!v) return required ? bad(where, std::string("missing \"") + key + "\"") : Status::Ok();
  return read_texts(*v, where + ": \"" + key + "\"", out);
}

Status read_slots(const json& obj, const std::string& where, std::map<std::string, SlotList>* out) {
  const json* slots = field(obj, "slots");
  if (!slots) return Status::Ok();
  if (!slots->is_object()) return bad(where, "\"slots\" must be an object");
  for (auto it = slots->begin(); it != slots->end(); ++it) {
    const std::string at = where + ": slots \"" + it.key() + "\"";
    if (!is_snake(it.key())) return bad(at, "slot names are snake_case ASCII");
    SlotList list;
    const json& v = it.value();
    if (v.is_object()) {
      const json* r = field(v, "range");
      if (!r || !r->is_array() || r->size() != 2 || !(*r)[0].is_number_integer() || !(*r)[1].is_number_integer())
        return bad(at, "an object slot must be {\"range\": [lo, hi]} with integers");
      list.is_range = true;
      list.lo = (*r)[0].get<int64_t>();
      list.hi = (*r)[1].get<int64_t>();
      if (list.lo > list.hi) return bad(at, "range has lo > hi");
    } else if (v.is_array()) {
      for (const auto& e : v) {
        if (e.is_string()) {
          if (e.get<std::string>().empty()) return bad(at, "has an empty string");
        } else if (!e.is_number()) {
          return bad(at, std::string("values must be strings or numbers, got ") + json_type_name(e));
        }
        list.values.push_back(e);
      }
      if (list.values.empty()) return bad(at, "is empty");
    } else {
      return bad(at, std::string("must be an array of values or {\"range\": [lo, hi]}, got ") + json_type_name(v));
    }
    (*out)[it.key()] = std::move(list);
  }
  return Status::Ok();
}

bool parse_type(const std::string& s, ParamType* t) {
  static const std::pair<const char*, ParamType> kTypes[] = {
      {"string", ParamType::kString}, {"integer", ParamType::kInteger}, {"number", ParamType::kNumber},
      {"boolean", ParamType::kBoolean}, {"enum", ParamType::kEnum}, {"array", ParamType::kArray}};
  for (const auto& p : kTypes)
    if (s == p.first) {
      *t = p.second;
      return true;
    }
  return false;
}

bool slot_matches_type(const SlotList& slot, ParamType type) {
  if (slot.is_range) return type == ParamType::kInteger || type == ParamType::kNumber;
  for (const auto& v : slot.values) {
    switch (type) {
      case ParamType::kString:
      case ParamType::kArray:
        if (!v.is_string()) return false;
        break;
      case ParamType::kInteger:
        if (!v.is_number_integer()) return false;
        break;
      case ParamType::kNumber:
        if (!v.is_number()) return false;
        break;
      default:
        return false;
    }
  }
  return true;
}

// "set a {x} timer" -> parts; slot names must be params of the tool (names -> index).
Status parse_template(const std::string& text, const std::string& at,
                      const std::vector<ParamDef>* params, QueryTemplate* out) {
  size_t i = 0;
  std::string lit;
  std::set<std::string> seen;
  while (i < text.size()) {
    if (text[i] == '}') return bad(at, "unmatched '}'");
    if (text[i] != '{') {
      lit += text[i++];
      continue;
    }
    const size_t close = text.find('}', i);
    if (close == std::string::npos) return bad(at, "unmatched '{'");
    const std::string name = text.substr(i + 1, close - i - 1);
    int32_t index = -1;
    if (params) {
      for (size_t p = 0; p < params->size(); ++p)
        if ((*params)[p].name == name) index = static_cast<int32_t>(p);
      if (index < 0) return bad(at, "unknown slot {" + name + "}");
      if ((*params)[index].type == ParamType::kBoolean)
        return bad(at, "{" + name + "} is a boolean: give it in \"args\", not as a slot");
    } else if (name.empty()) {
      return bad(at, "empty slot {}");
    }
    if (!seen.insert(name).second) return bad(at, "slot {" + name + "} used twice");
    if (!lit.empty()) out->parts.push_back({false, lit, -1});
    lit.clear();
    out->parts.push_back({true, name, index});
    if (index >= 0) out->params_used.push_back(index);
    i = close + 1;
  }
  if (!lit.empty()) out->parts.push_back({false, lit, -1});
  if (out->parts.empty()) return bad(at, "is empty");
  return Status::Ok();
}

std::string literal_text(const QueryTemplate& t) {
  std::string s;
  for (const auto& p : t.parts)
    if (!p.is_slot) s += p.text;
  return s;
}

Status load_tool(const json& jt, const std::string& where, const Category& cat,
                 const std::map<std::string, SlotList>& common, ToolDef* tool) {
  if (!jt.is_object()) return bad(where, std::string("must be an object, got ") + json_type_name(jt));
  const json* name = field(jt, "name");
  if (!name || !name->is_string()) return bad(where, "missing \"name\" (a string)");
  tool->name = name->get<std::string>();
  const std::string at = where + " \"" + tool->name + "\"";
  tool->where = at;
  if (!is_snake(tool->name)) return bad(at, "\"name\" must be snake_case ASCII, verb first (\"set_timer\")");
  {
    std::string w;
    for (char c : tool->name + "_") {
      if (c == '_') {
        tool->words.push_back(w);
        w.clear();
      } else {
        w += c;
      }
    }
  }
  NP_RETURN_IF_ERROR(read_string_list(jt, "desc", at, true, &tool->descriptions));
  if (const json* split = field(jt, "split")) {
    if (!split->is_string() || (split->get<std::string>() != "test" && split->get<std::string>() != "train"))
      return bad(at, "\"split\" must be \"train\" or \"test\"");
    tool->test = split->get<std::string>() == "test";
  }

  const json* params = field(jt, "params");
  if (params && !params->is_object()) return bad(at, "\"params\" must be an object");
  std::set<std::string> names_seen;
  if (params) {
    for (auto it = params->begin(); it != params->end(); ++it) {
      const std::string pat = at + ": params \"" + it.key() + "\"";
      const json& jp = it.value();
      if (!jp.is_object()) return bad(pat, "must be an object");
      ParamDef p;
      p.name = it.key();
      if (!is_snake(p.name)) return bad(pat, "parameter names are snake_case ASCII");
      const json* type = field(jp, "type");
      const std::string type_name = type && type->is_string() ? type->get<std::string>() : "string";
      if (type && !type->is_string()) return bad(pat, "\"type\" must be a string");
      if (!parse_type(type_name, &p.type))
        return bad(pat, "unknown type \"" + type_name + "\" (string, integer, number, boolean, enum, array)");
      NP_RETURN_IF_ERROR(read_string_list(jp, "desc", pat, true, &p.descriptions));
      if (const json* req = field(jp, "req")) {
        if (!req->is_boolean()) return bad(pat, "\"req\" must be true or false");
        p.required = req->get<bool>();
      }
      p.names.push_back(p.name);
      std::vector<std::string> alts;
      NP_RETURN_IF_ERROR(read_string_list(jp, "alt", pat, false, &alts));
      for (const auto& a : alts) {
        if (!is_snake(a)) return bad(pat, "\"alt\" names are snake_case ASCII, got " + quote_for_message(a));
        p.names.push_back(a);
      }
      for (const auto& n : p.names)
        if (!names_seen.insert(n).second) return bad(pat, "name " + quote_for_message(n) + " used twice in this tool");
      if (p.type == ParamType::kEnum) {
        NP_RETURN_IF_ERROR(read_string_list(jp, "enum", pat, true, &p.enum_values));
      } else if (p.type != ParamType::kBoolean) {
        const json* slot = field(jp, "slot");
        if (slot && !slot->is_string()) return bad(pat, "\"slot\" must be a string");
        const std::string slot_name = slot ? slot->get<std::string>() : p.name;
        auto local = cat.slots.find(slot_name);
        if (local != cat.slots.end()) {
          p.slot = &local->second;
        } else {
          auto shared = common.find(slot_name);
          if (shared == common.end())
            return bad(pat, "unknown slot list \"" + slot_name + "\" (not in this file's or common.json's \"slots\")");
          p.slot = &shared->second;
        }
        if (!slot_matches_type(*p.slot, p.type))
          return bad(pat, "slot list \"" + slot_name + "\" has values that are not of type " + type_name);
      }
      tool->params.push_back(std::move(p));
    }
  }

  const json* queries = field(jt, "queries");
  if (!queries || !queries->is_array() || queries->size() < 2)
    return bad(at, "\"queries\" must be an array of at least 2 templates");
  for (size_t qi = 0; qi < queries->size(); ++qi) {
    const std::string qat = at + ": queries[" + std::to_string(qi) + "]";
    const json& jq = (*queries)[qi];
    QueryTemplate t;
    const json* text = &jq;
    const json* args = nullptr;
    if (jq.is_object()) {
      text = field(jq, "q");
      args = field(jq, "args");
      if (!text) return bad(qat, "missing \"q\"");
      if (args && !args->is_object()) return bad(qat, "\"args\" must be an object");
    }
    if (!text->is_string()) return bad(qat, "must be a string or {\"q\": string, \"args\": {...}}");
    NP_RETURN_IF_ERROR(parse_template(text->get<std::string>(), qat, &tool->params, &t));
    if (args) {
      const std::string lit = ascii_lowered(literal_text(t));
      for (auto it = args->begin(); it != args->end(); ++it) {
        int32_t index = -1;
        for (size_t p = 0; p < tool->params.size(); ++p)
          if (tool->params[p].name == it.key()) index = static_cast<int32_t>(p);
        if (index < 0) return bad(qat, "\"args\" names unknown parameter \"" + it.key() + "\"");
        if (std::find(t.params_used.begin(), t.params_used.end(), index) != t.params_used.end())
          return bad(qat, "\"" + it.key() + "\" is both a slot and in \"args\"");
        const ParamDef& p = tool->params[index];
        const json& v = it.value();
        bool ok = false;
        switch (p.type) {
          case ParamType::kBoolean: ok = v.is_boolean(); break;
          case ParamType::kInteger: ok = v.is_number_integer(); break;
          case ParamType::kNumber: ok = v.is_number(); break;
          case ParamType::kString: ok = v.is_string(); break;
          case ParamType::kEnum:
            ok = v.is_string() && std::find(p.enum_values.begin(), p.enum_values.end(), v.get<std::string>()) !=
                                      p.enum_values.end();
            break;
          case ParamType::kArray: ok = false; break;
        }
        if (!ok) return bad(qat, "\"args\" value of \"" + it.key() + "\" does not fit its type");
        if (v.is_string() && lit.find(ascii_lowered(v.get<std::string>())) == std::string::npos)
          return bad(qat, "\"args\" value " + quote_for_message(v.get<std::string>()) +
                              " does not appear in the template text (values must be grounded)");
        if (v.is_number_integer() && lit.find(v.dump()) == std::string::npos)
          return bad(qat, "\"args\" value " + v.dump() + " does not appear in the template text");
        t.fixed_args[it.key()] = v;
        t.params_used.push_back(index);
      }
    }
    for (size_t p = 0; p < tool->params.size(); ++p)
      if (tool->params[p].required &&
          std::find(t.params_used.begin(), t.params_used.end(), static_cast<int32_t>(p)) == t.params_used.end())
        return bad(qat, "does not fill required parameter \"" + tool->params[p].name + "\"");
    tool->templates.push_back(std::move(t));
  }
  return Status::Ok();
}

Status load_common(const std::string& path, Content* c) {
  json root;
  NP_RETURN_IF_ERROR(read_json_file(path, &root));
  NP_RETURN_IF_ERROR(read_slots(root, path, &c->common_slots));
  NP_RETURN_IF_ERROR(read_string_list(root, "prefixes", path, true, &c->prefixes));
  NP_RETURN_IF_ERROR(read_string_list(root, "suffixes", path, true, &c->suffixes));
  NP_RETURN_IF_ERROR(read_string_list(root, "context_before", path, true, &c->context_before));
  NP_RETURN_IF_ERROR(read_string_list(root, "context_after", path, true, &c->context_after));
  NP_RETURN_IF_ERROR(read_string_list(root, "joiners", path, true, &c->joiners));
  NP_RETURN_IF_ERROR(read_string_list(root, "wrappers", path, false, &c->wrappers));
  NP_RETURN_IF_ERROR(read_string_list(root, "imperative_verbs", path, false, &c->imperative_verbs));
  for (const auto& w : c->wrappers) {
    const size_t at = w.find("{q}");
    if (at == std::string::npos || w.find("{q}", at + 1) != std::string::npos)
      return bad(path, "\"wrappers\": each must hold {q} once, got " + quote_for_message(w));
  }
  std::vector<std::string> no_call;
  NP_RETURN_IF_ERROR(read_string_list(root, "no_call", path, true, &no_call));
  for (size_t i = 0; i < no_call.size(); ++i) {
    QueryTemplate t;
    const std::string at = path + ": no_call[" + std::to_string(i) + "]";
    NP_RETURN_IF_ERROR(parse_template(no_call[i], at, nullptr, &t));
    for (auto& part : t.parts)
      if (part.is_slot && !c->common_slots.count(part.text))
        return bad(at, "unknown slot {" + part.text + "} (no_call templates use common.json's slots)");
    c->no_call.push_back(std::move(t));
  }
  return Status::Ok();
}

std::string snake_join(const std::vector<std::string>& words) {
  std::string s;
  for (const auto& w : words) s += (s.empty() ? "" : "_") + w;
  return s;
}

}  // namespace

const char* param_type_json(ParamType t) {
  switch (t) {
    case ParamType::kInteger: return "integer";
    case ParamType::kNumber: return "number";
    case ParamType::kBoolean: return "boolean";
    case ParamType::kArray: return "array";
    case ParamType::kString:
    case ParamType::kEnum: break;
  }
  return "string";
}

std::vector<std::string> tool_snake_variants(const ToolDef& tool, const Category& category) {
  std::vector<std::string> words = tool.words;
  std::vector<std::string> swapped = words;
  if (swapped.size() > 1) std::rotate(swapped.begin(), swapped.begin() + 1, swapped.end());
  std::vector<std::string> out = {snake_join(words)};
  if (swapped != words) out.push_back(snake_join(swapped));
  const size_t n = out.size();
  for (size_t i = 0; i < n; ++i) out.push_back(category.ns + "_" + out[i]);
  return out;
}

Status content_load(const std::string& dir, Content* c) {
  *c = Content();
  NP_RETURN_IF_ERROR(load_common(dir + "/common.json", c));

  std::vector<std::string> files;
  std::error_code ec;
  const std::string cat_dir = dir + "/categories";
  std::filesystem::directory_iterator it(cat_dir, ec), end;
  if (ec) return Status(Code::kIoError, cat_dir + ": cannot list: " + ec.message());
  for (; it != end; it.increment(ec)) {
    if (ec) return Status(Code::kIoError, cat_dir + ": cannot list: " + ec.message());
    const std::string name = it->path().filename().string();
    if (name.size() > 5 && name.compare(name.size() - 5, 5, ".json") == 0) files.push_back(name);
  }
  std::sort(files.begin(), files.end());
  if (files.empty()) return bad(cat_dir, "no category files (*.json)");

  // Categories first (their slots must have stable addresses before tools point at them).
  std::vector<json> roots(files.size());
  c->categories.resize(files.size());
  for (size_t f = 0; f < files.size(); ++f) {
    const std::string path = cat_dir + "/" + files[f];
    NP_RETURN_IF_ERROR(read_json_file(path, &roots[f]));
    Category& cat = c->categories[f];
    cat.file = path;
    const json* name = field(roots[f], "category");
    if (!name || !name->is_string() || !is_snake(name->get<std::string>()))
      return bad(path, "\"category\" must be a snake_case name");
    cat.name = name->get<std::string>();
    const json* ns = field(roots[f], "namespace");
    cat.ns = ns && ns->is_string() ? ns->get<std::string>() : cat.name;
    if (!is_snake(cat.ns)) return bad(path, "\"namespace\" must be snake_case");
    NP_RETURN_IF_ERROR(read_string_list(roots[f], "related", path, false, &cat.related_names));
    if (const json* od = field(roots[f], "open_domain")) {
      if (!od->is_boolean()) return bad(path, "\"open_domain\" must be true or false");
      cat.open_domain = od->get<bool>();
    }
    NP_RETURN_IF_ERROR(read_slots(roots[f], path, &cat.slots));
    for (size_t g = 0; g < f; ++g)
      if (c->categories[g].name == cat.name) return bad(path, "category \"" + cat.name + "\" also in " + c->categories[g].file);
  }
  for (auto& cat : c->categories) {
    for (const auto& r : cat.related_names) {
      int32_t index = -1;
      for (size_t g = 0; g < c->categories.size(); ++g)
        if (c->categories[g].name == r) index = static_cast<int32_t>(g);
      if (index < 0) return bad(cat.file, "\"related\" names unknown category \"" + r + "\"");
      cat.related.push_back(index);
    }
  }
  for (size_t f = 0; f < files.size(); ++f) {
    Category& cat = c->categories[f];
    const json* tools = field(roots[f], "tools");
    if (!tools || !tools->is_array() || tools->empty()) return bad(cat.file, "\"tools\" must be a non-empty array");
    for (size_t i = 0; i < tools->size(); ++i) {
      ToolDef tool;
      tool.category = static_cast<int32_t>(f);
      NP_RETURN_IF_ERROR(load_tool((*tools)[i], cat.file + ": tools[" + std::to_string(i) + "]", cat,
                                   c->common_slots, &tool));
      const int32_t index = static_cast<int32_t>(c->tools.size());
      (tool.test ? cat.test_tools : cat.train_tools).push_back(index);
      (tool.test ? c->test_tools : c->train_tools).push_back(index);
      c->tools.push_back(std::move(tool));
    }
    if (cat.train_tools.empty()) return bad(cat.file, "every tool is held out: the train pool needs at least one");
  }
  if (c->test_tools.empty()) return bad(dir, "no tool is marked \"split\": \"test\"; the test split needs some");

  // Name variants: distinct over all tools, so any mix of tools can be offered together.
  std::map<std::string, const ToolDef*> variant_owner;
  for (const auto& t : c->tools)
    for (const auto& v : tool_snake_variants(t, c->categories[t.category])) {
      auto ins = variant_owner.emplace(v, &t);
      if (!ins.second && ins.first->second != &t)
        return bad(t.where, "name variant \"" + v + "\" is also a variant of " + ins.first->second->where);
    }

  // The split rule on content: test tools' descriptions and parameter names are never
  // used by a train tool. Parameter synonyms of test tools that train uses are dropped.
  std::set<std::string> train_params, train_desc;
  for (int32_t i : c->train_tools) {
    for (const auto& d : c->tools[i].descriptions) train_desc.insert(ascii_lowered(d));
    for (const auto& p : c->tools[i].params)
      for (const auto& n : p.names) train_params.insert(n);
  }
  for (int32_t i : c->test_tools) {
    ToolDef& t = c->tools[i];
    for (const auto& d : t.descriptions)
      if (train_desc.count(ascii_lowered(d))) return bad(t.where, "description " + quote_for_message(d) + " is also a train tool's");
    for (auto& p : t.params) {
      std::vector<std::string> kept;
      for (const auto& n : p.names)
        if (!train_params.count(n)) kept.push_back(n);
      if (kept.empty())
        return bad(t.where, "parameter \"" + p.name +
                                "\": every name and \"alt\" is also a train tool's parameter name; "
                                "held-out tools need at least one unseen name");
      p.names = std::move(kept);
    }
  }

  // Counts.
  ContentCounts& n = c->counts;
  n.categories = static_cast<int64_t>(c->categories.size());
  n.tools = static_cast<int64_t>(c->tools.size());
  n.train_tools = static_cast<int64_t>(c->train_tools.size());
  n.test_tools = static_cast<int64_t>(c->test_tools.size());
  n.no_call_queries = static_cast<int64_t>(c->no_call.size());
  for (const auto& t : c->tools) n.templates += static_cast<int64_t>(t.templates.size());
  auto count_slots = [&](const std::map<std::string, SlotList>& m) {
    for (const auto& kv : m) n.slot_values += kv.second.is_range ? 1 : static_cast<int64_t>(kv.second.values.size());
  };
  count_slots(c->common_slots);
  for (const auto& cat : c->categories) count_slots(cat.slots);
  return Status::Ok();
}

}  // namespace np::datagen
