// content.h — the data factory's content in memory: categories, hand-designed tools, their
// query templates and slot value lists, as loaded and validated from data/factory/ (see
// docs/data.md for the file format). Internal to core/src/datagen/; not installed.
// Not here: drawing examples (generate.cpp).
#pragma once
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "np/datagen.h"
#include "np/status.h"

namespace np::datagen {

using json = nlohmann::ordered_json;

// A list of values a slot draws from: strings or numbers, or an integer range [lo, hi].
struct SlotList {
  std::vector<json> values;  // strings or numbers
  bool is_range = false;
  int64_t lo = 0, hi = 0;
};

enum class ParamType { kString, kInteger, kNumber, kBoolean, kEnum, kArray };
const char* param_type_json(ParamType t);  // the JSON schema "type": enum -> "string"

struct ParamDef {
  std::string name;                       // canonical (snake_case)
  ParamType type = ParamType::kString;
  std::vector<std::string> descriptions;  // paraphrases; one is drawn per example
  bool required = false;
  std::vector<std::string> names;         // usable names: [0] = canonical, then synonyms
                                          // (test tools: only those never used by train tools)
  const SlotList* slot = nullptr;         // values for {name} (enum: its values; boolean: none)
  std::vector<std::string> enum_values;
};

// A template split into literal text and slots: "set a timer for {minutes} minutes".
struct TemplatePart {
  bool is_slot = false;
  std::string text;  // literal text, or the canonical parameter name
  int32_t param = -1;
};

struct QueryTemplate {
  std::vector<TemplatePart> parts;
  json fixed_args = json::object();  // canonical name -> value given by the template itself
  std::vector<int32_t> params_used;   // slots and fixed args, as indices into ToolDef::params
};

struct ToolDef {
  std::string name;                // canonical snake_case, verb first: "set_timer"
  std::vector<std::string> words;  // "set", "timer"
  std::vector<std::string> descriptions;
  std::vector<ParamDef> params;
  std::vector<QueryTemplate> templates;
  int32_t category = 0;
  bool test = false;  // held out for the test split
  std::string where;  // "file: tools[i] \"name\"" for messages
};

struct Category {
  std::string name;       // "timers"
  std::string ns;         // namespace for dotted names: "timer"
  std::string file;
  bool open_domain = false;  // its tools could answer any question (web search): never
                             // offered with a chit-chat no-call query
  std::vector<std::string> related_names;
  std::vector<int32_t> related;  // category indices
  std::map<std::string, SlotList> slots;
  std::vector<int32_t> train_tools, test_tools;  // indices into Content::tools
};

// A no-call query ("tell me a joke"): a template over the common slots.
struct Content {
  std::vector<Category> categories;
  std::vector<ToolDef> tools;
  std::map<std::string, SlotList> common_slots;
  std::vector<std::string> prefixes, suffixes, context_before, context_after, joiners;
  std::vector<std::string> wrappers;          // "could you {q}?": around a command
  std::vector<std::string> imperative_verbs;  // first words that make a template a command
  std::vector<QueryTemplate> no_call;
  std::vector<int32_t> train_tools, test_tools;
  ContentCounts counts;
};

// Loads dir/common.json and dir/categories/*.json. Errors name the file and field.
Status content_load(const std::string& dir, Content* out);

// Name variants of a tool that normalise to distinct snake_case forms: the canonical words,
// the verb moved last ("timer_set"), each with and without the category namespace.
std::vector<std::string> tool_snake_variants(const ToolDef& tool, const Category& category);

}  // namespace np::datagen
