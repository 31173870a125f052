// generate.cpp — draws examples from the loaded content: picks the intent(s) and a template,
// fills its slots from the value lists, varies the query surface (prefixes, context, typos,
// case) without ever touching a value, offers the target tool(s) among distractors with
// varied names, descriptions, parameter names and schema shapes, writes the answer with the
// names as offered, and rejects duplicates. Every example is checked before it is written:
// it must pass np::parse_example (names offered, keys offered) and every string value must
// occur in the query. One Rng stream per (seed, split): a fixed seed gives identical bytes.
// Not here: reading the content (content.cpp), the report text (stats.cpp).
#include <algorithm>
#include <cstdio>
#include <cstring>
#include <string>
#include <unordered_set>
#include <utility>

#include "datagen/content.h"
#include "np/dataset.h"
#include "np/tools.h"
#include "tools/float_repr.h"
#include "util/rng.h"
#include "util/text.h"

namespace np {

using datagen::Category;
using datagen::Content;
using datagen::json;
using datagen::ParamDef;
using datagen::ParamType;
using datagen::QueryTemplate;
using datagen::SlotList;
using datagen::ToolDef;

namespace {

// ---- small helpers -----------------------------------------------------------------------

uint64_t splitmix(uint64_t x) {
  x += 0x9E3779B97F4A7C15ull;
  x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ull;
  x = (x ^ (x >> 27)) * 0x94D049BB133111EBull;
  return x ^ (x >> 31);
}

uint64_t fnv1a(const std::string& s) {
  uint64_t h = 0xcbf29ce484222325ull;
  for (unsigned char c : s) h = (h ^ c) * 0x100000001b3ull;
  return h;
}

template <class T>
const T& pick(Rng& rng, const std::vector<T>& v) {
  return v[rng.below(v.size())];
}

bool chance(Rng& rng, double p) { return rng.uniform() < p; }

bool is_lower(char c) { return c >= 'a' && c <= 'z'; }
bool is_upper(char c) { return c >= 'A' && c <= 'Z'; }
bool is_alpha(char c) { return is_lower(c) || is_upper(c); }
char to_lower(char c) { return is_upper(c) ? static_cast<char>(c - 'A' + 'a') : c; }
char to_upper(char c) { return is_lower(c) ? static_cast<char>(c - 'a' + 'A') : c; }

std::string number_text(const json& v) {
  if (v.is_number_integer()) return v.dump();
  std::string s = tools_detail::float_repr(v.get<double>());
  if (s.size() > 2 && s.compare(s.size() - 2, 2, ".0") == 0) s.resize(s.size() - 2);
  return s;
}

// ---- query text as segments ----------------------------------------------------------------

// A query is built from segments; value segments hold argument values and are never changed
// except by a whole-query case change, which is applied to the answer's strings too.
struct Seg {
  std::string text;
  bool value = false;
};
using Segs = std::vector<Seg>;

std::string segs_text(const Segs& s) {
  std::string out;
  for (const auto& g : s) out += g.text;
  return out;
}

// The query, its answer calls (canonical argument names) and what the example is about.
struct Intent {
  int32_t tool = -1;
  Segs segs;
  json args = json::object();  // canonical name -> value
};

json draw_slot_value(Rng& rng, const SlotList& slot) {
  if (slot.is_range) return json(slot.lo + static_cast<int64_t>(rng.below(static_cast<uint64_t>(slot.hi - slot.lo + 1))));
  return pick(rng, slot.values);
}

// Appends literal text, with each occurrence of a fixed value (ASCII case-insensitive)
// as its own value segment: "disarmed please" -> ["disarmed"(value), " please"].
void split_fixed(const std::string& text, const std::vector<std::string>& fixed, Segs* segs) {
  const std::string lower = ascii_lowered(text);
  size_t i = 0;
  while (i < text.size()) {
    size_t best = std::string::npos, len = 0;
    for (const auto& f : fixed) {
      const size_t at = f.empty() ? std::string::npos : lower.find(f, i);
      if (at < best) {
        best = at;
        len = f.size();
      }
    }
    if (best == std::string::npos) {
      segs->push_back({text.substr(i), false});
      return;
    }
    if (best > i) segs->push_back({text.substr(i, best - i), false});
    segs->push_back({text.substr(best, len), true});
    i = best + len;
  }
}

// Fills the template's slots: *segs gets the text, *args the values (canonical names).
void render_template(Rng& rng, const QueryTemplate& t, const ToolDef* tool,
                     const std::map<std::string, SlotList>* common, Segs* segs, json* args) {
  // String values given by the template itself ("args") are protected like slot values.
  std::vector<std::string> fixed;
  if (tool)
    for (auto it = t.fixed_args.begin(); it != t.fixed_args.end(); ++it)
      if (it->is_string()) fixed.push_back(ascii_lowered(it->get<std::string>()));
  for (const auto& part : t.parts) {
    if (!part.is_slot) {
      split_fixed(part.text, fixed, segs);
      continue;
    }
    if (!tool) {  // a no-call template over common slots: text only
      const json v = draw_slot_value(rng, common->at(part.text));
      segs->push_back({v.is_string() ? v.get<std::string>() : number_text(v), true});
      continue;
    }
    const ParamDef& p = tool->params[part.param];
    json v;
    switch (p.type) {
      case ParamType::kEnum:
        v = pick(rng, p.enum_values);
        segs->push_back({v.get<std::string>(), true});
        break;
      case ParamType::kArray: {
        // 1 to 3 distinct values: "a", "a and b", "a, b and c".
        const size_t avail = p.slot->values.size();
        const size_t n = std::min<size_t>(avail, 1 + rng.below(3));
        std::vector<size_t> idx;
        while (idx.size() < n) {
          const size_t i = rng.below(avail);
          if (std::find(idx.begin(), idx.end(), i) == idx.end()) idx.push_back(i);
        }
        v = json::array();
        for (size_t k = 0; k < idx.size(); ++k) {
          if (k > 0) segs->push_back({k + 1 == idx.size() ? (chance(rng, 0.8) ? " and " : ", ") : ", ", false});
          const std::string s = p.slot->values[idx[k]].get<std::string>();
          segs->push_back({s, true});
          v.push_back(s);
        }
        break;
      }
      case ParamType::kString:
        v = draw_slot_value(rng, *p.slot);
        segs->push_back({v.get<std::string>(), true});
        break;
      case ParamType::kInteger:
      case ParamType::kNumber:
        v = draw_slot_value(rng, *p.slot);
        segs->push_back({number_text(v), true});
        break;
      case ParamType::kBoolean:
        break;  // content.cpp refuses boolean slots
    }
    (*args)[p.name] = v;
  }
  if (tool)
    for (auto it = t.fixed_args.begin(); it != t.fixed_args.end(); ++it) (*args)[it.key()] = it.value();
}

// ---- surface variation -------------------------------------------------------------------

const char* const kKeyboardRows[] = {"qwertyuiop", "asdfghjkl", "zxcvbnm"};

char neighbour_key(Rng& rng, char c) {
  const char lc = to_lower(c);
  for (const char* row : kKeyboardRows) {
    const std::string r(row);
    const size_t i = r.find(lc);
    if (i == std::string::npos) continue;
    const size_t j = (i == 0) ? 1 : (i + 1 == r.size() ? i - 1 : (chance(rng, 0.5) ? i - 1 : i + 1));
    return is_upper(c) ? to_upper(r[j]) : r[j];
  }
  return c;
}

// One typo inside a word of 4+ ASCII letters of a text segment. False if there is none.
bool add_typo(Rng& rng, Segs* segs) {
  struct Word { size_t seg, begin, len; };
  std::vector<Word> words;
  for (size_t s = 0; s < segs->size(); ++s) {
    const Seg& g = (*segs)[s];
    if (g.value) continue;
    size_t i = 0;
    while (i < g.text.size()) {
      if (!is_alpha(g.text[i])) {
        ++i;
        continue;
      }
      size_t j = i;
      while (j < g.text.size() && is_alpha(g.text[j])) ++j;
      // A word cut by a segment boundary might continue a value: skip those at the edges.
      const bool at_left_value = i == 0 && s > 0 && (*segs)[s - 1].value;
      const bool at_right_value = j == g.text.size() && s + 1 < segs->size() && (*segs)[s + 1].value;
      if (j - i >= 4 && !at_left_value && !at_right_value) words.push_back({s, i, j - i});
      i = j;
    }
  }
  if (words.empty()) return false;
  const Word w = pick(rng, words);
  std::string& t = (*segs)[w.seg].text;
  const size_t pos = w.begin + 1 + rng.below(w.len - 2);  // never the first or last letter
  switch (rng.below(4)) {
    case 0: std::swap(t[pos], t[pos + 1]); break;             // "tiemr"
    case 1: t.erase(pos, 1); break;                           // "timr"
    case 2: t.insert(pos, 1, t[pos]); break;                  // "timmer"
    default: t[pos] = neighbour_key(rng, t[pos]); break;      // "tinmer"
  }
  return true;
}

void strip_trailing_punct(Segs* segs) {
  if (segs->empty() || segs->back().value) return;
  std::string& t = segs->back().text;
  while (!t.empty() && (t.back() == '.' || t.back() == '!' || t.back() == '?' || t.back() == ' ')) t.pop_back();
  if (t.empty()) segs->pop_back();
}

void lower_first(Segs* segs) {
  if (segs->empty() || segs->front().value || segs->front().text.empty()) return;
  // Keep "I" and acronyms: only lower a capital followed by a lowercase letter.
  std::string& t = segs->front().text;
  if (t.size() > 1 && is_upper(t[0]) && is_lower(t[1])) t[0] = to_lower(t[0]);
}

void upper_first(Segs* segs) {
  if (segs->empty() || segs->front().value || segs->front().text.empty()) return;
  segs->front().text[0] = to_upper(segs->front().text[0]);
}

void map_strings(json* v, char (*f)(char)) {
  if (v->is_string()) {
    std::string s = v->get<std::string>();
    for (char& c : s) c = f(c);
    *v = s;
  } else if (v->is_array() || v->is_object()) {
    for (auto& e : *v) map_strings(&e, f);
  }
}

// ---- names -------------------------------------------------------------------------------

enum NameStyle { kSnake, kCamel, kPascal, kKebab, kDotted, kObjectVerb, kNumStyles };
const char* const kStyleNames[kNumStyles] = {"snake", "camel", "pascal", "kebab", "dotted", "object_verb"};
const double kStyleWeights[kNumStyles] = {0.40, 0.20, 0.10, 0.06, 0.12, 0.12};

std::string join_words(const std::vector<std::string>& w, NameStyle style) {
  std::string s;
  for (size_t i = 0; i < w.size(); ++i) {
    std::string word = w[i];
    const bool cap = (style == kPascal) || (style == kCamel && i > 0);
    if (cap && !word.empty()) word[0] = to_upper(word[0]);
    if (i > 0 && (style == kSnake)) s += '_';
    if (i > 0 && (style == kKebab)) s += '-';
    s += word;
  }
  return s;
}

std::string styled_tool_name(Rng& rng, const ToolDef& t, const Category& cat, NameStyle style) {
  switch (style) {
    case kDotted:
      return cat.ns + "." + join_words(t.words, chance(rng, 0.5) ? kSnake : kCamel);
    case kObjectVerb: {
      // Only short names read naturally with the verb last ("timer_set", "alarmsList").
      if (t.words.size() > 3) return join_words(t.words, kSnake);
      std::vector<std::string> w = t.words;
      if (w.size() > 1) std::rotate(w.begin(), w.begin() + 1, w.end());
      return join_words(w, chance(rng, 0.6) ? kSnake : kCamel);
    }
    default:
      return join_words(t.words, style);
  }
}

std::string camel_param(const std::string& snake) {
  std::string s;
  bool up = false;
  for (char c : snake) {
    if (c == '_') {
      up = true;
      continue;
    }
    s += up ? to_upper(c) : c;
    up = false;
  }
  return s;
}

NameStyle draw_style(Rng& rng) {
  double r = rng.uniform();
  for (int i = 0; i < kNumStyles; ++i) {
    if (r < kStyleWeights[i]) return static_cast<NameStyle>(i);
    r -= kStyleWeights[i];
  }
  return kSnake;
}

// ---- schema forms ------------------------------------------------------------------------

enum SchemaForm { kFlat, kJsonSchema, kOpenAi, kOpenAiFlat, kAnthropic, kResponses, kNumForms };
const char* const kFormNames[kNumForms] = {"flat", "json_schema", "openai", "openai_flat", "anthropic", "responses"};
const double kFormWeights[kNumForms] = {0.45, 0.25, 0.17, 0.04, 0.05, 0.04};

SchemaForm draw_form(Rng& rng) {
  double r = rng.uniform();
  for (int i = 0; i < kNumForms; ++i) {
    if (r < kFormWeights[i]) return static_cast<SchemaForm>(i);
    r -= kFormWeights[i];
  }
  return kFlat;
}

// One drawn example and what the report counts about it.
struct Draw {
  std::string line;       // the JSONL line, no newline; empty: draw again
  std::string query_key;  // the query, lowercased (with the answer: the dedup key)
  std::string cat_name;   // category of the first call; "none"
  std::vector<std::string> called_cats;
  std::vector<int32_t> called_tools;
  int kind = -1;          // calls: 0, 1, 2
  int none_kind = 0;      // 1 chit-chat, 2 a request for a tool not offered
  int form = 0;           // SchemaForm of the example
  std::vector<int> styles;  // NameStyle per offered tool
  bool typo = false;
  int64_t params_offered = 0, params_renamed = 0;
};

// One tool as offered in an example.
struct Offered {
  int32_t tool = -1;
  std::string name;                     // as offered
  std::vector<std::string> param_names; // per ToolDef::params; "" = not offered
  json spec;
};

}  // namespace

// ---- the factory -------------------------------------------------------------------------

const char* data_split_name(DataSplit split) {
  switch (split) {
    case DataSplit::kDev: return "dev";
    case DataSplit::kTest: return "test";
    case DataSplit::kTrain: break;
  }
  return "train";
}

bool data_split_from_name(const std::string& name, DataSplit* out) {
  if (name == "train") *out = DataSplit::kTrain;
  else if (name == "dev") *out = DataSplit::kDev;
  else if (name == "test") *out = DataSplit::kTest;
  else return false;
  return true;
}

struct DataFactory::Impl {
  Content content;
};

DataFactory::DataFactory() : impl_(new Impl) {}
DataFactory::~DataFactory() = default;

Result<std::unique_ptr<DataFactory>> DataFactory::load(const std::string& dir) {
  std::unique_ptr<DataFactory> f(new DataFactory);
  NP_RETURN_IF_ERROR(datagen::content_load(dir, &f->impl_->content));
  return f;
}

const ContentCounts& DataFactory::counts() const { return impl_->content.counts; }

namespace {

class Generator {
 public:
  Generator(const Content& c, const DatagenOptions& o, uint64_t stream)
      : c_(c), o_(o), rng_(stream), pool_(o.split == DataSplit::kTest ? c.test_tools : c.train_tools) {}

  // One candidate example into *d (d->line empty: nothing could be offered, draw again).
  // d->kind >= 0 on entry: draw that kind (and no-call kind) again (a duplicate was
  // rejected), so that dedup does not shift the shares of no-call and two-call examples.
  Status make(int64_t index, Draw* d) {
    const int asked = d->kind, asked_none = d->none_kind;
    *d = Draw();
    int* kind = &d->kind;
    int* none_kind = &d->none_kind;
    std::string* line = &d->line;
    const double r = asked == 0 ? 0.0 : asked == 2 ? o_.none_share : asked == 1 ? 1.0 : rng_.uniform();
    std::vector<Intent> intents;
    Segs segs;
    std::vector<int32_t> offered_ids;
    std::vector<int32_t> exclude_cats;
    *none_kind = 0;
    if (r < o_.none_share) {
      *kind = 0;
      // Redrawing a duplicate keeps the no-call kind too (chit-chat saturates first).
      const bool chitchat = (asked == 0 && asked_none != 0) ? asked_none == 1 : chance(rng_, 0.5);
      if (chitchat) {
        *none_kind = 1;  // chit-chat or an unrelated request
        json unused = json::object();
        render_template(rng_, pick(rng_, c_.no_call), nullptr, &c_.common_slots, &segs, &unused);
        for (size_t g = 0; g < c_.categories.size(); ++g)
          if (c_.categories[g].open_domain) exclude_cats.push_back(static_cast<int32_t>(g));
      } else {
        *none_kind = 2;  // a real request for a tool that is not offered
        Intent in = draw_intent(pick(rng_, pool_));
        segs = in.segs;
        exclude_cats = related_closure(c_.tools[in.tool].category);
        // An open-domain tool (web search) could serve any request: never offer one here.
        for (size_t g = 0; g < c_.categories.size(); ++g)
          if (c_.categories[g].open_domain) exclude_cats.push_back(static_cast<int32_t>(g));
      }
    } else if (r < o_.none_share + o_.multi_share) {
      *kind = 2;
      const int32_t t1 = pick(rng_, pool_);
      int32_t t2 = t1;
      const double r2 = rng_.uniform();
      if (r2 < 0.15) {
        t2 = t1;
      } else if (r2 < 0.55) {
        t2 = near_tool(c_.tools[t1].category, {t1});
        if (t2 < 0) t2 = pick(rng_, pool_);
      } else {
        for (int tries = 0; tries < 8 && t2 == t1; ++tries) t2 = pick(rng_, pool_);
      }
      intents.push_back(draw_intent(t1));
      intents.push_back(draw_intent(t2));
      Segs a = intents[0].segs, b = intents[1].segs;
      const std::string& joiner = pick(rng_, c_.joiners);
      strip_trailing_punct(&a);
      // ". " starts a new sentence; every other joiner ("and", ". Also, ") continues one.
      if (joiner == ". ") upper_first(&b);
      else lower_first(&b);
      segs = a;
      segs.push_back({joiner, false});
      segs.insert(segs.end(), b.begin(), b.end());
    } else {
      *kind = 1;
      intents.push_back(draw_intent(pick(rng_, pool_)));
      segs = intents[0].segs;
      if (!c_.wrappers.empty() && chance(rng_, 0.15)) wrap_command(&segs);
    }

    // Tools offered: the targets plus distractors, 1..10 in all.
    for (const auto& in : intents)
      if (std::find(offered_ids.begin(), offered_ids.end(), in.tool) == offered_ids.end()) offered_ids.push_back(in.tool);
    const int64_t want = std::max<int64_t>(
        static_cast<int64_t>(offered_ids.size()),
        o_.min_tools + static_cast<int64_t>(rng_.below(static_cast<uint64_t>(o_.max_tools - o_.min_tools + 1))));
    const int32_t home = intents.empty() ? c_.tools[pick(rng_, pool_)].category : c_.tools[intents[0].tool].category;
    for (int tries = 0; static_cast<int64_t>(offered_ids.size()) < want && tries < 200; ++tries) {
      int32_t cand;
      if (!exclude_cats.empty()) {
        cand = pick(rng_, pool_);
        if (std::find(exclude_cats.begin(), exclude_cats.end(), c_.tools[cand].category) != exclude_cats.end()) continue;
      } else {
        const double rd = rng_.uniform();
        if (rd < 0.45) cand = near_tool(home, offered_ids, /*same_only=*/true);
        else if (rd < 0.75) cand = near_tool(home, offered_ids);
        else cand = pick(rng_, pool_);
      }
      if (cand < 0 || std::find(offered_ids.begin(), offered_ids.end(), cand) != offered_ids.end()) continue;
      offered_ids.push_back(cand);
    }
    if (offered_ids.empty()) {  // nothing may be offered with this query: draw again
      line->clear();
      return Status::Ok();
    }
    // Targets first in offered_ids; shuffle the presented order.
    std::vector<int32_t> order = offered_ids;
    for (size_t i = order.size(); i > 1; --i) std::swap(order[i - 1], order[rng_.below(i)]);

    // Names, descriptions, parameters, shapes.
    const SchemaForm form = draw_form(rng_);
    const NameStyle style = draw_style(rng_);
    const bool mix = chance(rng_, 0.10);
    d->form = form;
    std::vector<Offered> offered;
    json tools = json::array();
    for (int32_t id : order) {
      std::vector<int32_t> used;
      for (const auto& in : intents)
        if (in.tool == id)
          for (auto it = in.args.begin(); it != in.args.end(); ++it)
            for (size_t p = 0; p < c_.tools[id].params.size(); ++p)
              if (c_.tools[id].params[p].name == it.key()) used.push_back(static_cast<int32_t>(p));
      Offered off = offer(id, mix ? draw_style(rng_) : style, mix ? draw_form(rng_) : form, used, d);
      tools.push_back(off.spec);
      offered.push_back(std::move(off));
    }

    // Answers with offered names and keys, in the tool's parameter order.
    json answers = json::array();
    std::vector<std::vector<std::string>> enum_keys;  // per call: keys whose value is an enum
    for (const auto& in : intents) {
      const Offered* off = nullptr;
      for (const auto& o : offered)
        if (o.tool == in.tool) off = &o;
      const ToolDef& t = c_.tools[in.tool];
      json args = json::object();
      std::vector<std::string> keys;
      for (size_t p = 0; p < t.params.size(); ++p) {
        auto it = in.args.find(t.params[p].name);
        if (it == in.args.end()) continue;
        if (off->param_names[p].empty()) return Status(Code::kInternal, t.name + ": a used parameter was not offered");
        args[off->param_names[p]] = *it;
        if (t.params[p].type == ParamType::kEnum) keys.push_back(off->param_names[p]);
      }
      enum_keys.push_back(std::move(keys));
      json call = json::object();
      call["name"] = off->name;
      call["arguments"] = std::move(args);
      answers.push_back(std::move(call));
    }

    // Surface: prefix, suffix, context, typos, case.
    if (chance(rng_, 0.08)) {
      upper_first(&segs);
      segs.insert(segs.begin(), {pick(rng_, c_.context_before) + " ", false});
    } else if (chance(rng_, 0.14)) {
      lower_first(&segs);
      segs.insert(segs.begin(), {pick(rng_, c_.prefixes), false});
    }
    if (chance(rng_, 0.08)) {
      strip_trailing_punct(&segs);
      segs.push_back({". " + pick(rng_, c_.context_after), false});
    } else if (chance(rng_, 0.12)) {
      strip_trailing_punct(&segs);
      segs.push_back({pick(rng_, c_.suffixes), false});
    }
    if (chance(rng_, o_.typo_share)) {
      d->typo = add_typo(rng_, &segs);
      if (d->typo && chance(rng_, 0.3)) add_typo(rng_, &segs);
    }
    // A whole-query case change is applied to the answer's values too, so that they stay
    // verbatim spans of the query; enum values keep their declared spelling.
    auto recase = [&](char (*f)(char)) {
      for (auto& g : segs)
        for (char& ch : g.text) ch = f(ch);
      for (size_t i = 0; i < answers.size(); ++i)
        for (auto it = answers[i]["arguments"].begin(); it != answers[i]["arguments"].end(); ++it)
          if (std::find(enum_keys[i].begin(), enum_keys[i].end(), it.key()) == enum_keys[i].end())
            map_strings(&*it, f);
    };
    const double rc = rng_.uniform();
    if (rc < 0.20) {
      recase(to_lower);
    } else if (rc < 0.23) {
      recase(to_upper);
    } else if (rc < 0.80) {
      upper_first(&segs);
    }
    const std::string query = segs_text(segs);

    // Grounding: every string value, and every number's text, occurs in the query.
    for (const auto& call : answers)
      for (auto it = call["arguments"].begin(); it != call["arguments"].end(); ++it) {
        std::vector<json> vals;
        if (it->is_array()) vals.assign(it->begin(), it->end());
        else vals.push_back(*it);
        for (const auto& v : vals) {
          const std::string text = v.is_string() ? v.get<std::string>() : v.is_number() ? number_text(v) : "";
          if (!text.empty() && ascii_lowered(query).find(ascii_lowered(text)) == std::string::npos)
            return Status(Code::kInternal, "value " + text + " not in query: " + query);
        }
      }

    json ex = json::object();
    char id[48];
    std::snprintf(id, sizeof(id), "%s-%08lld", data_split_name(o_.split), static_cast<long long>(index));
    ex["id"] = id;
    ex["query"] = query;
    ex["tools"] = std::move(tools);
    ex["answers"] = answers;
    json meta = json::object();
    meta["kind"] = *kind == 0 ? (*none_kind == 1 ? "none_chitchat" : "none_unoffered") : (*kind == 1 ? "single" : "multi");
    json cats = json::array();
    for (const auto& in : intents) {
      cats.push_back(c_.categories[c_.tools[in.tool].category].name);
      d->called_cats.push_back(c_.categories[c_.tools[in.tool].category].name);
      d->called_tools.push_back(in.tool);
    }
    meta["categories"] = cats;
    ex["meta"] = meta;
    *line = ex.dump(-1, ' ', false, json::error_handler_t::replace);
    d->cat_name = intents.empty() ? "none" : c_.categories[c_.tools[intents[0].tool].category].name;
    d->query_key = ascii_lowered(query);
    return Status::Ok();
  }

 private:
  Intent draw_intent(int32_t tool) {
    Intent in;
    in.tool = tool;
    const ToolDef& t = c_.tools[tool];
    render_template(rng_, pick(rng_, t.templates), &t, nullptr, &in.segs, &in.args);
    return in;
  }

  // "set a timer for 5 minutes" -> "could you set a timer for 5 minutes?": only for a
  // template that starts with a command verb from common.json's "imperative_verbs".
  void wrap_command(Segs* segs) {
    if (segs->empty() || segs->front().value) return;
    const std::string& t = segs->front().text;
    size_t n = 0;
    while (n < t.size() && is_alpha(t[n])) ++n;
    const std::string verb = ascii_lowered(t.substr(0, n));
    if (std::find(c_.imperative_verbs.begin(), c_.imperative_verbs.end(), verb) == c_.imperative_verbs.end()) return;
    const std::string& w = pick(rng_, c_.wrappers);
    const size_t at = w.find("{q}");
    strip_trailing_punct(segs);
    lower_first(segs);
    if (at > 0) segs->insert(segs->begin(), {w.substr(0, at), false});
    if (at + 3 < w.size()) segs->push_back({w.substr(at + 3), false});
  }

  // The category, its related ones, and those that name it as related.
  std::vector<int32_t> related_closure(int32_t cat) const {
    std::vector<int32_t> out = {cat};
    for (int32_t r : c_.categories[cat].related) out.push_back(r);
    for (size_t g = 0; g < c_.categories.size(); ++g)
      for (int32_t r : c_.categories[g].related)
        if (r == cat) out.push_back(static_cast<int32_t>(g));
    return out;
  }

  const std::vector<int32_t>& cat_pool(int32_t cat) const {
    return o_.split == DataSplit::kTest ? c_.categories[cat].test_tools : c_.categories[cat].train_tools;
  }

  // A tool from the category (same_only) or from it or a related one; -1 when none is left.
  int32_t near_tool(int32_t cat, const std::vector<int32_t>& avoid, bool same_only = false) {
    int32_t from = cat;
    if (!same_only && !c_.categories[cat].related.empty() && chance(rng_, 0.7)) from = pick(rng_, c_.categories[cat].related);
    const auto& p = cat_pool(from);
    if (p.empty()) return -1;
    for (int tries = 0; tries < 6; ++tries) {
      const int32_t t = pick(rng_, p);
      if (std::find(avoid.begin(), avoid.end(), t) == avoid.end()) return t;
    }
    return -1;
  }

  Offered offer(int32_t id, NameStyle style, SchemaForm form, const std::vector<int32_t>& used, Draw* d) {
    const ToolDef& t = c_.tools[id];
    Offered off;
    off.tool = id;
    off.name = styled_tool_name(rng_, t, c_.categories[t.category], style);
    d->styles.push_back(style);
    const bool camel_params = chance(rng_, 0.15);
    off.param_names.assign(t.params.size(), "");
    json flat = json::object();
    json props = json::object();
    json required = json::array();
    const bool omit_false = chance(rng_, 0.3);
    std::vector<size_t> porder(t.params.size());
    for (size_t p = 0; p < porder.size(); ++p) porder[p] = p;
    for (size_t p : porder) {
      const ParamDef& pd = t.params[p];
      const bool is_used = std::find(used.begin(), used.end(), static_cast<int32_t>(p)) != used.end();
      if (!pd.required && !is_used && chance(rng_, 0.15)) continue;  // optional parameter left out
      std::string name = (pd.names.size() == 1 || chance(rng_, 0.55)) ? pd.names[0] : pd.names[1 + rng_.below(pd.names.size() - 1)];
      if (name != pd.name) ++d->params_renamed;
      ++d->params_offered;
      if (camel_params) name = camel_param(name);
      off.param_names[p] = name;
      json spec = json::object();
      spec["type"] = datagen::param_type_json(pd.type);
      spec["description"] = pick(rng_, pd.descriptions);
      if (pd.type == ParamType::kEnum) spec["enum"] = pd.enum_values;
      if (pd.type == ParamType::kArray) spec["items"] = json{{"type", "string"}};
      if (form == kFlat || form == kOpenAiFlat) {
        if (pd.required || !omit_false) spec["required"] = pd.required;
        flat[name] = std::move(spec);
      } else {
        if (pd.required) required.push_back(name);
        props[name] = std::move(spec);
      }
    }
    json params;
    if (form == kFlat || form == kOpenAiFlat) {
      params = std::move(flat);
    } else {
      params = json::object();
      params["type"] = "object";
      params["properties"] = std::move(props);
      params["required"] = std::move(required);
      if (chance(rng_, 0.2)) params["additionalProperties"] = false;
    }
    json fn = json::object();
    fn["name"] = off.name;
    fn["description"] = pick(rng_, t.descriptions);
    switch (form) {
      case kOpenAi:
      case kOpenAiFlat: {
        fn["parameters"] = std::move(params);
        off.spec = json::object();
        off.spec["type"] = "function";
        off.spec["function"] = std::move(fn);
        break;
      }
      case kAnthropic:
        fn["input_schema"] = std::move(params);
        off.spec = std::move(fn);
        break;
      case kResponses: {
        off.spec = json::object();
        off.spec["type"] = "function";
        off.spec["name"] = off.name;
        off.spec["description"] = fn["description"];
        off.spec["parameters"] = std::move(params);
        break;
      }
      default:
        fn["parameters"] = std::move(params);
        off.spec = std::move(fn);
    }
    return off;
  }

  const Content& c_;
  const DatagenOptions& o_;
  Rng rng_;
  const std::vector<int32_t>& pool_;
};

// ---- the optional teacher ----------------------------------------------------------------

const char* const kTeacherSystem =
    "You rewrite requests that people make to a phone assistant. Keep the meaning and keep every "
    "listed value exactly as written. Reply with the rewritten request only, on one line.";

// The string values (array elements included) and numbers of an example's answer;
// *loose those of enum parameters (compared ignoring case), *exact the rest.
void answer_values(const Example& ex, std::vector<std::string>* exact, std::vector<std::string>* loose) {
  for (const auto& call : ex.answers) {
    const Tool* tool = ex.toolset.find_any(call.original_name);
    for (auto it = call.arguments.begin(); it != call.arguments.end(); ++it) {
      bool is_enum = false;
      if (tool)
        for (const auto& p : tool->params)
          if (p.name == it.key() && !p.enum_values.empty()) is_enum = true;
      std::vector<json> vals;
      if (it->is_array()) vals.assign(it->begin(), it->end());
      else vals.push_back(*it);
      for (const auto& v : vals) {
        if (v.is_string()) (is_enum ? loose : exact)->push_back(v.get<std::string>());
        else if (v.is_number()) exact->push_back(number_text(v));
      }
    }
  }
}

std::string teacher_prompt(const std::string& query, const std::vector<std::string>& exact,
                           const std::vector<std::string>& loose) {
  std::string keep;
  for (const auto& v : exact) keep += (keep.empty() ? "" : ", ") + json(v).dump(-1, ' ', false, json::error_handler_t::replace);
  for (const auto& v : loose) keep += (keep.empty() ? "" : ", ") + json(v).dump(-1, ' ', false, json::error_handler_t::replace);
  return "Rephrase this request in other words, as a user might say it." +
         (keep.empty() ? std::string() : " Keep these values exactly as written: " + keep + ".") +
         "\nRequest: " + query;
}

// The reply as a query: trimmed, without a "Request:" label or surrounding quotes.
// "" when it is not usable; *why says why.
std::string teacher_query(std::string r, const std::string& original, const std::vector<std::string>& exact,
                          const std::vector<std::string>& loose, std::string* why) {
  auto trim = [](std::string& t) {
    const size_t a = t.find_first_not_of(" \t\r\n");
    const size_t b = t.find_last_not_of(" \t\r\n");
    t = a == std::string::npos ? std::string() : t.substr(a, b - a + 1);
  };
  trim(r);
  for (const char* label : {"Request:", "request:", "Rewritten request:"})
    if (r.compare(0, std::strlen(label), label) == 0) r = r.substr(std::strlen(label));
  trim(r);
  if (r.size() >= 2 && r.front() == '"' && r.back() == '"') r = r.substr(1, r.size() - 2);
  trim(r);
  auto reject = [&](const std::string& reason) {
    *why = "teacher reply rejected: " + reason;
    return std::string();
  };
  if (r.find('\n') != std::string::npos) return reject("more than one line");
  if (r.size() < 3 || r.size() > 400) return reject("length " + std::to_string(r.size()));
  if (ascii_lowered(r) == ascii_lowered(original)) return reject("same as the query");
  for (const auto& v : exact)
    if (r.find(v) == std::string::npos) return reject("lost the value " + v);
  for (const auto& v : loose)
    if (ascii_lowered(r).find(ascii_lowered(v)) == std::string::npos) return reject("lost the value " + v);
  return r;
}

void bump(std::vector<std::pair<std::string, int64_t>>* v, const std::string& key) {
  for (auto& kv : *v)
    if (kv.first == key) {
      ++kv.second;
      return;
    }
  v->push_back({key, 1});
}

}  // namespace

Status DataFactory::generate(const DatagenOptions& o, const Tokenizer* tokenizer, std::string* out,
                             DatagenStats* stats, const TeacherFn* teacher) const {
  return generate_to(
      o, tokenizer,
      [out](const std::string& line) {
        out->append(line);
        out->push_back('\n');
        return Status::Ok();
      },
      stats, teacher);
}

Status DataFactory::generate_to(const DatagenOptions& o, const Tokenizer* tokenizer, const LineSink& sink,
                                DatagenStats* stats, const TeacherFn* teacher) const {
  if (o.count < 0) return Status(Code::kInvalidInput, "count must be >= 0");
  if (o.min_tools < 1 || o.max_tools < o.min_tools || o.max_tools > 10)
    return Status(Code::kInvalidInput, "tools per example must satisfy 1 <= min <= max <= 10");
  if (!(o.none_share >= 0 && o.multi_share >= 0 && o.none_share + o.multi_share <= 1))
    return Status(Code::kInvalidInput, "none_share and multi_share must be >= 0 and sum to at most 1");
  if (!(o.typo_share >= 0 && o.typo_share <= 1)) return Status(Code::kInvalidInput, "typo_share must be in [0, 1]");
  if (!(o.teacher_share >= 0 && o.teacher_share <= 1))
    return Status(Code::kInvalidInput, "teacher_share must be in [0, 1]");
  const bool use_teacher = teacher && *teacher && o.teacher_share > 0;
  const Content& c = impl_->content;

  DatagenStats local;
  DatagenStats& st = stats ? *stats : local;
  st = DatagenStats();
  st.split = o.split;
  st.seed = o.seed;
  st.content = c.counts;
  st.tools_offered.assign(11, 0);
  for (const auto& cat : c.categories) {
    st.per_category.push_back({cat.name, 0});
    st.calls_per_category.push_back({cat.name, 0});
  }
  st.per_category.push_back({"none", 0});
  for (int i = 0; i < kNumForms; ++i) st.schema_forms.push_back({kFormNames[i], 0});
  for (int i = 0; i < kNumStyles; ++i) st.name_styles.push_back({kStyleNames[i], 0});

  const uint64_t stream = splitmix(splitmix(o.seed) ^ (0xD1B54A32D192ED03ull * (static_cast<uint64_t>(o.split) + 1)));
  Generator gen(c, o, stream);
  Rng teacher_rng(splitmix(stream ^ 0x7EAC4E5ull));  // its own stream: the procedural one is unchanged
  std::unordered_set<uint64_t> seen;
  for (const auto& path : o.avoid_files) {
    ReaderOptions ro;
    ro.shuffle = false;
    ro.policy = BadLinePolicy::kStop;
    auto avoid = read_examples(path, ro, nullptr);
    if (!avoid.ok()) return Status(avoid.status().code(), path + ": " + avoid.status().message());
    for (const auto& ex : avoid.value())
      seen.insert(fnv1a(ascii_lowered(ex.query) + "\x1f" + answer_text(ex.answers, nullptr)));
    st.avoided_examples += static_cast<int64_t>(avoid.value().size());
  }
  std::vector<char> called(c.tools.size(), 0);
  const int64_t max_attempts = o.count * 20 + 1000;
  int64_t attempts = 0;
  Draw d;  // d.kind carries the kind to draw again after a rejected duplicate
  while (st.examples < o.count) {
    if (++attempts > max_attempts)
      return Status(Code::kInvalidInput, "the content gave only " + std::to_string(st.examples) +
                                             " distinct examples in " + std::to_string(max_attempts) +
                                             " attempts; ask for fewer");
    NP_RETURN_IF_ERROR(gen.make(st.examples, &d));
    if (d.line.empty()) continue;
    bool teacher_used = false;  // a teacher's query replaced the procedural one
    // The example must read back as the trainer reads it.
    Example ex;
    Status v = parse_example(d.line, st.examples + 1, /*check_argument_keys=*/true, &ex);
    if (!v.ok()) return Status(Code::kInternal, "generated an invalid example: " + v.to_string() + "\n" + d.line);
    if (use_teacher && !ex.answers.empty() && teacher_rng.uniform() < o.teacher_share) {
      ++st.teacher_asked;
      std::vector<std::string> exact, loose;
      answer_values(ex, &exact, &loose);
      Result<std::string> reply = (*teacher)(kTeacherSystem, teacher_prompt(ex.query, exact, loose));
      std::string why;
      std::string q;
      if (!reply.ok()) {
        ++st.teacher_errors;
        why = reply.status().to_string();
      } else {
        q = teacher_query(reply.value(), ex.query, exact, loose, &why);
      }
      Example ex2;
      std::string line2;
      if (!q.empty()) {
        json j = json::parse(d.line, nullptr, /*allow_exceptions=*/false);
        if (j.is_object()) {
          j["query"] = q;
          j["meta"]["teacher"] = true;
          line2 = j.dump(-1, ' ', false, json::error_handler_t::replace);
          Status v2 = parse_example(line2, st.examples + 1, /*check_argument_keys=*/true, &ex2);
          if (!v2.ok()) why = v2.message();
        }
      }
      if (!line2.empty() && why.empty()) {
        teacher_used = true;  // counted as accepted once written (below)
        d.line = std::move(line2);
        d.query_key = ascii_lowered(q);
        ex = std::move(ex2);
      } else if (reply.ok()) {
        ++st.teacher_rejected;
      }
      if (!why.empty() && st.teacher_notes.size() < 10) st.teacher_notes.push_back(why);
    }
    // Duplicates: the same query (any case) with the same answer as the model writes it
    // (snake_case names), whatever the tool list and name styles.
    const std::string answer = answer_text(ex.answers, nullptr);
    if (!seen.insert(fnv1a(d.query_key + "\x1f" + answer)).second) {
      ++st.duplicates_rejected;
      // A teacher's query that repeats an earlier example is not used: rejected, so that
      // accepted counts exactly the lines marked "teacher" in the output.
      if (teacher_used) {
        ++st.teacher_rejected;
        if (st.teacher_notes.size() < 10) st.teacher_notes.push_back("the rephrased example repeats an earlier one");
      }
      continue;  // d.kind stays set: the next attempt draws the same kind
    }
    NP_RETURN_IF_ERROR(sink(d.line));
    if (teacher_used) ++st.teacher_accepted;

    ++st.examples;
    if (d.kind == 0) {
      ++st.none;
      ++(d.none_kind == 1 ? st.none_chitchat : st.none_unoffered);
    } else if (d.kind == 1) {
      ++st.single;
    } else {
      ++st.multi;
    }
    if (d.typo) ++st.typos;
    bump(&st.per_category, d.cat_name);
    for (const auto& cc : d.called_cats) bump(&st.calls_per_category, cc);
    for (int32_t t : d.called_tools) called[t] = 1;
    const size_t k = ex.toolset.tools.size();
    if (k < st.tools_offered.size()) ++st.tools_offered[k];
    st.schema_forms[d.form].second++;
    for (int sidx : d.styles) st.name_styles[sidx].second++;
    st.params_offered += d.params_offered;
    st.params_renamed += d.params_renamed;
    st.query_chars.push_back(static_cast<int64_t>(ex.query.size()));
    st.tools_chars.push_back(static_cast<int64_t>(ex.toolset.normalized_json.size()));
    st.answer_chars.push_back(static_cast<int64_t>(answer.size()));
    if (tokenizer) {
      st.query_tokens.push_back(static_cast<int64_t>(tokenizer->encode(ex.query).size()));
      st.tools_tokens.push_back(static_cast<int64_t>(tokenizer->encode(ex.toolset.normalized_json).size()));
      st.answer_tokens.push_back(static_cast<int64_t>(tokenizer->encode(answer).size()));
    }
    d.kind = -1;
  }
  for (char ch : called) st.distinct_tools_called += ch;
  return Status::Ok();
}

}  // namespace np
