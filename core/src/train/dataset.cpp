// dataset.cpp — one JSONL line -> validated Example, and the answer text the decoder is
// trained to write (with a role per byte, for the loss weights). Also the bounded JSON
// parser and small helpers the other data_*.cpp files share (data_internal.h).
// Not here: tokenization (data_tokenize.cpp), files and streaming (data_reader.cpp),
// batching (data_loader.cpp).
#include <cmath>
#include <string>
#include <utility>

#include "np/dataset.h"
#include "tools/float_repr.h"
#include "train/data_internal.h"

namespace np {
namespace data_detail {

namespace {

uint64_t splitmix64(uint64_t x) {
  x += 0x9E3779B97F4A7C15ull;
  x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ull;
  x = (x ^ (x >> 27)) * 0x94D049BB133111EBull;
  return x ^ (x >> 31);
}

}  // namespace

bool parse_json_bounded(std::string_view text, int max_depth, json* out, std::string* error) {
  JsonParseFailure failure = JsonParseFailure::kNone;
  std::string detail;
  if (json_parse_bounded(text, max_depth, /*reject_big_integers=*/true, out, &failure, &detail)) return true;
  switch (failure) {
    case JsonParseFailure::kTooDeep:
      *error = "arrays/objects nest deeper than " + std::to_string(max_depth) + " levels";
      break;
    case JsonParseFailure::kBigInteger:
      *error = "integer " + detail + " does not fit in 64 bits";
      break;
    default:
      *error = detail.empty() ? std::string("not valid JSON") : detail;
  }
  return false;
}

uint64_t mix_seed(uint64_t seed, uint64_t tag, uint64_t a, uint64_t b) {
  uint64_t h = splitmix64(seed ^ splitmix64(tag));
  h = splitmix64(h ^ a);
  return splitmix64(h ^ splitmix64(b + 0x632BE59BD9B4E019ull));
}

}  // namespace data_detail

using data_detail::json;
using data_detail::json_type_name;
using data_detail::quote;

// ---- roles -------------------------------------------------------------------------------

const char* token_role_name(TokenRole role) {
  switch (role) {
    case TokenRole::kStructure: return "structure";
    case TokenRole::kName: return "name";
    case TokenRole::kKey: return "key";
    case TokenRole::kValue: return "value";
  }
  return "structure";
}

float RoleWeights::of(TokenRole role) const {
  switch (role) {
    case TokenRole::kName: return name;
    case TokenRole::kKey: return key;
    case TokenRole::kValue: return value;
    case TokenRole::kStructure: break;
  }
  return structure;
}

// ---- one line -> Example -----------------------------------------------------------------

namespace {

const json* field(const json& obj, const char* key) {
  auto it = obj.find(key);
  return it == obj.end() ? nullptr : &*it;
}

const json* present(const json& obj, const char* key) {
  const json* v = field(obj, key);
  return (v && !v->is_null()) ? v : nullptr;
}

}  // namespace

Status parse_example(std::string_view line, int64_t line_no, bool check_argument_keys, Example* out) {
  const std::string at = "line " + std::to_string(line_no) + ": ";
  auto bad = [&](const std::string& what) { return Status(Code::kInvalidInput, at + what); };
  *out = Example();
  out->line = line_no;

  json root;
  std::string err;
  // The line's object adds one level to what parse_tools allows inside "tools".
  if (!data_detail::parse_json_bounded(line, kMaxJsonDepth + 1, &root, &err))
    return bad("not valid JSON: " + err);
  if (!root.is_object()) return bad(std::string("must be a JSON object, got ") + json_type_name(root));

  // query
  const json* q = field(root, "query");
  if (!q) return bad("missing \"query\"");
  if (!q->is_string()) return bad(std::string("\"query\" must be a string, got ") + json_type_name(*q));
  out->query = q->get<std::string>();
  if (out->query.empty()) return bad("\"query\" is empty");

  // tools: an array, or a string holding one; parse_tools judges the contents.
  const json* t = field(root, "tools");
  if (!t) return bad("missing \"tools\"");
  std::string tools_text;
  if (t->is_string()) {
    tools_text = t->get<std::string>();
  } else if (t->is_array()) {
    tools_text = json_dumps_compact(*t);
  } else {
    return bad(std::string("\"tools\" must be an array (or a string holding one), got ") + json_type_name(*t));
  }
  auto toolset = parse_tools(tools_text);
  if (!toolset.ok()) return Status(toolset.status().code(), at + "\"tools\": " + toolset.status().message());
  out->toolset = toolset.take();
  if (t->is_string()) {
    // parse_tools accepted it, so this parse succeeds (same parser, same limits).
    if (!data_detail::parse_json_bounded(tools_text, kMaxJsonDepth, &out->tools, &err))
      return Status(Code::kInternal, at + "\"tools\": " + err);
  } else {
    out->tools = *t;
  }

  // answers: an array of {"name", "arguments"}, or a string holding one.
  const json* a = field(root, "answers");
  if (!a) return bad("missing \"answers\"");
  json answers_holder;
  if (a->is_string()) {
    if (!data_detail::parse_json_bounded(a->get_ref<const std::string&>(), kMaxJsonDepth, &answers_holder, &err))
      return bad("\"answers\" is not valid JSON: " + err);
    if (!answers_holder.is_array())
      return bad(std::string("\"answers\" must hold a JSON array of calls, got ") + json_type_name(answers_holder));
    a = &answers_holder;
  } else if (!a->is_array()) {
    return bad(std::string("\"answers\" must be an array of calls (or a string holding one), got ") +
               json_type_name(*a));
  }
  for (size_t i = 0; i < a->size(); ++i) {
    const json& c = (*a)[i];
    const std::string where = "\"answers\"[" + std::to_string(i) + "]";
    if (!c.is_object()) return bad(where + ": not an object, got " + json_type_name(c));
    const json* name = present(c, "name");
    if (!name) return bad(where + ": missing \"name\"");
    if (!name->is_string()) return bad(where + ": \"name\" must be a string, got " + json_type_name(*name));
    const std::string& n = name->get_ref<const std::string&>();
    const Tool* tool = out->toolset.find_any(n);
    if (!tool) tool = out->toolset.find(to_snake_case(n));
    if (!tool) return bad(where + ": " + quote(n) + " is not a tool in \"tools\"");
    AnswerCall call;
    call.name = tool->name;
    call.original_name = tool->original_name;
    if (const json* args = present(c, "arguments")) {
      if (!args->is_object())
        return bad(where + " " + quote(n) + ": \"arguments\" must be an object, got " + json_type_name(*args));
      call.arguments = *args;
    }
    if (check_argument_keys) {
      for (auto it = call.arguments.begin(); it != call.arguments.end(); ++it) {
        bool known = false;
        for (const ToolParam& p : tool->params) known = known || p.name == it.key();
        if (!known)
          return bad(where + " " + quote(n) + ": argument " + quote(it.key()) + " is not a parameter of the tool");
      }
    }
    out->answers.push_back(std::move(call));
  }

  // id (optional): a string or an integer.
  if (const json* id = present(root, "id")) {
    if (id->is_string()) {
      out->id = id->get<std::string>();
    } else if (id->is_number_integer()) {  // signed or unsigned
      out->id = id->dump();
    } else {
      return bad(std::string("\"id\" must be a string or an integer, got ") + json_type_name(*id));
    }
  }

  // accept (optional): kept for evaluation, one entry per answer (eval.h).
  if (const json* acc = present(root, "accept")) {
    if (!acc->is_array())
      return bad(std::string("\"accept\" must be an array aligned with \"answers\", got ") + json_type_name(*acc));
    if (acc->size() != out->answers.size())
      return bad("\"accept\" has " + std::to_string(acc->size()) + " entries but \"answers\" has " +
                 std::to_string(out->answers.size()));
    for (size_t i = 0; i < acc->size(); ++i)
      if (!(*acc)[i].is_object())
        return bad("\"accept\"[" + std::to_string(i) + "] must be an object, got " + json_type_name((*acc)[i]));
    out->accept = *acc;
  }
  return Status::Ok();
}

// ---- the answer text ---------------------------------------------------------------------

namespace {

class AnswerWriter {
 public:
  AnswerWriter(std::string* text, std::vector<TokenRole>* roles) : text_(text), roles_(roles) {}

  void put(std::string_view s, TokenRole r) {
    text_->append(s.data(), s.size());
    if (roles_) roles_->insert(roles_->end(), s.size(), r);
  }
  // String contents as json.dumps(..., ensure_ascii=False) escapes them: \" \\ \n \r \t \b
  // \f, \u00XX for other bytes below 0x20; everything else (0x7f, UTF-8) raw.
  void put_chars(const std::string& s, TokenRole r) {
    const char hex[] = "0123456789abcdef";
    for (char ch : s) {
      const unsigned char c = static_cast<unsigned char>(ch);
      switch (c) {
        case '"': put("\\\"", r); break;
        case '\\': put("\\\\", r); break;
        case '\n': put("\\n", r); break;
        case '\r': put("\\r", r); break;
        case '\t': put("\\t", r); break;
        case '\b': put("\\b", r); break;
        case '\f': put("\\f", r); break;
        default:
          if (c < 0x20) {
            const char esc[] = {'\\', 'u', '0', '0', hex[c >> 4], hex[c & 15]};
            put(std::string_view(esc, sizeof esc), r);
          } else {
            put(std::string_view(&ch, 1), r);
          }
      }
    }
  }
  // A whole value, every byte with role r. Depth is bounded by the parser's limit.
  void put_value(const json& v, TokenRole r) {
    switch (v.type()) {
      case json::value_t::object: {
        put("{", r);
        bool first = true;
        for (auto it = v.begin(); it != v.end(); ++it) {
          if (!first) put(",", r);
          first = false;
          put("\"", r);
          put_chars(it.key(), r);
          put("\":", r);
          put_value(it.value(), r);
        }
        put("}", r);
        break;
      }
      case json::value_t::array: {
        put("[", r);
        for (size_t i = 0; i < v.size(); ++i) {
          if (i) put(",", r);
          put_value(v[i], r);
        }
        put("]", r);
        break;
      }
      case json::value_t::string:
        put("\"", r);
        put_chars(v.get_ref<const std::string&>(), r);
        put("\"", r);
        break;
      case json::value_t::boolean: put(v.get<bool>() ? "true" : "false", r); break;
      case json::value_t::number_integer: put(std::to_string(v.get<int64_t>()), r); break;
      case json::value_t::number_unsigned: put(std::to_string(v.get<uint64_t>()), r); break;
      case json::value_t::number_float: {
        const double d = v.get<double>();
        put(std::isfinite(d) ? tools_detail::float_repr(d) : std::string("null"), r);
        break;
      }
      default: put("null", r); break;  // null (binary/discarded never come from parsing)
    }
  }

 private:
  std::string* text_;
  std::vector<TokenRole>* roles_;
};

}  // namespace

std::string answer_text(const std::vector<AnswerCall>& calls, std::vector<TokenRole>* byte_roles) {
  constexpr TokenRole S = TokenRole::kStructure;
  std::string text;
  if (byte_roles) byte_roles->clear();
  AnswerWriter w(&text, byte_roles);
  w.put("[", S);
  for (size_t i = 0; i < calls.size(); ++i) {
    if (i) w.put(",", S);
    w.put("{\"name\":\"", S);
    w.put_chars(calls[i].name, TokenRole::kName);
    w.put("\",\"arguments\":{", S);
    bool first = true;
    const json& args = calls[i].arguments;
    for (auto it = args.begin(); args.is_object() && it != args.end(); ++it) {
      if (!first) w.put(",", S);
      first = false;
      w.put("\"", S);
      w.put_chars(it.key(), TokenRole::kKey);
      w.put("\":", S);
      if (it.value().is_string()) {  // quotes are structure, the characters the value
        w.put("\"", S);
        w.put_chars(it.value().get_ref<const std::string&>(), TokenRole::kValue);
        w.put("\"", S);
      } else {
        w.put_value(it.value(), TokenRole::kValue);
      }
    }
    w.put("}}", S);
  }
  w.put("]", S);
  return text;
}

}  // namespace np
