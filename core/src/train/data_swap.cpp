// data_swap.cpp — the word-swap augmentation (docs/training.md, "Augmentation"): words a
// request shares with its tool list are replaced, consistently everywhere, by words the
// example does not use, so matching a request to a tool has to go through the words they
// share rather than through a remembered meaning of each training tool.
// Not here: the other augmentations (data_tokenize.cpp).
#include <algorithm>
#include <map>
#include <iterator>
#include <set>
#include <string>
#include <vector>

#include "np/dataset.h"
#include "np/tokenizer.h"
#include "decode/tool_prior.h"
#include "np/tools.h"
#include "train/data_internal.h"
#include "util/rng.h"
#include "util/text.h"

namespace np {

using data_detail::json;

namespace {

bool is_upper(char c) { return c >= 'A' && c <= 'Z'; }
bool is_lower(char c) { return c >= 'a' && c <= 'z'; }
bool is_letter(char c) { return is_upper(c) || is_lower(c); }

// Calls f(pos, len) for each word piece of `text`: runs of ASCII letters, split before an
// upper-case letter that follows a lower-case one ("setTimer" -> "set", "Timer").
template <class F>
void for_each_piece(std::string_view text, F f) {
  size_t i = 0;
  while (i < text.size()) {
    if (!is_letter(text[i])) {
      ++i;
      continue;
    }
    size_t j = i + 1;
    while (j < text.size() && is_letter(text[j]) && !(is_upper(text[j]) && is_lower(text[j - 1]))) ++j;
    f(i, j - i);
    i = j;
  }
}

// Common words stay (they link nothing): the lexical prior's function words, and a few more
// words every request uses (sorted, for the binary search).
constexpr std::string_view kMoreCommon[] = {"about", "also",  "been",  "false", "have",  "like",
                                            "make",  "need",  "null",  "their", "them",  "then",
                                            "these", "true",  "want",  "when",  "where", "which"};

bool is_common(const std::string& w) {
  return is_function_word(w) || std::binary_search(std::begin(kMoreCommon), std::end(kMoreCommon), std::string_view(w));
}

void add_words(std::string_view text, std::set<std::string>* out) {
  for_each_piece(text, [&](size_t p, size_t n) {
    if (n >= 4) {
      std::string w = ascii_lowered(text.substr(p, n));
      if (!is_common(w)) out->insert(std::move(w));
    }
  });
}

// `text` with every piece found in `map` (by its lower case) replaced, in the piece's case
// pattern: "timer" -> "lantern", "Timer" -> "Lantern", "TIMER" -> "LANTERN".
std::string replace_pieces(std::string_view text, const std::map<std::string, std::string>& map) {
  std::string out;
  size_t at = 0;
  for_each_piece(text, [&](size_t p, size_t n) {
    const auto it = map.find(ascii_lowered(text.substr(p, n)));
    if (it == map.end()) return;
    out.append(text.substr(at, p - at));
    std::string r = it->second;
    if (n > 1 && is_upper(text[p]) && is_upper(text[p + 1])) {
      for (char& c : r) c = static_cast<char>(c - 32);
    } else if (is_upper(text[p])) {
      r[0] = static_cast<char>(r[0] - 32);
    }
    out += r;
    at = p + n;
  });
  out.append(text.substr(at));
  return out;
}

void replace_in_value(json* v, const std::map<std::string, std::string>& map) {
  if (v->is_string()) {
    *v = replace_pieces(v->get_ref<const std::string&>(), map);
  } else if (v->is_array()) {
    for (json& e : *v) replace_in_value(&e, map);
  } else if (v->is_object()) {
    for (auto it = v->begin(); it != v->end(); ++it) replace_in_value(&it.value(), map);
  }
}

// The texts of a normalised tool list that name or describe things: tool names and
// descriptions, parameter names and descriptions, enum values. `f(json*)` for strings in
// place; `keys` gets each parameters object to rebuild.
template <class F>
void for_each_tool_text(json& tools, F f) {
  for (json& t : tools) {
    if (!t.is_object()) continue;
    for (const char* k : {"name", "description"})
      if (t.contains(k) && t[k].is_string()) f(&t[k]);
    if (!t.contains("parameters") || !t["parameters"].is_object()) continue;
    for (auto it = t["parameters"].begin(); it != t["parameters"].end(); ++it) {
      json& spec = it.value();
      if (!spec.is_object()) continue;
      if (spec.contains("description") && spec["description"].is_string()) f(&spec["description"]);
      if (spec.contains("enum") && spec["enum"].is_array())
        for (json& e : spec["enum"])
          if (e.is_string()) f(&e);
    }
  }
}

}  // namespace

std::vector<std::string> swap_word_pool(const Tokenizer& tokenizer) {
  static const std::string kSpace = "\xE2\x96\x81";  // SentencePiece's word-start mark
  std::vector<std::string> pool;
  for (int32_t id = 0; id < tokenizer.vocab_size(); ++id) {
    const std::string& p = tokenizer.piece(id);
    if (p.size() < kSpace.size() + 4 || p.size() > kSpace.size() + 10 || p.compare(0, kSpace.size(), kSpace) != 0)
      continue;
    const std::string w = p.substr(kSpace.size());
    if (std::all_of(w.begin(), w.end(), is_lower) && !is_common(w)) pool.push_back(w);
  }
  return pool;
}

int swap_shared_words(std::string* query, std::string* tools_json, std::vector<AnswerCall>* calls,
                      const std::vector<std::string>& pool, const AugmentOptions& options, uint64_t seed) {
  if (options.swap_words <= 0 || pool.size() < 8) return 0;
  Rng rng(seed);
  auto chance = [&](double p) { return p > 0 && static_cast<double>(rng.next_u64() >> 11) * 0x1.0p-53 < p; };
  if (!chance(options.swap_words)) return 0;
  json tools = json::parse(*tools_json, nullptr, false);
  if (!tools.is_array()) return 0;

  std::set<std::string> qwords, twords, used;
  add_words(*query, &qwords);
  for_each_tool_text(tools, [&](json* s) { add_words(s->get_ref<const std::string&>(), &twords); });
  for (const json& t : tools)
    if (t.is_object() && t.contains("parameters") && t["parameters"].is_object())
      for (auto it = t["parameters"].begin(); it != t["parameters"].end(); ++it) add_words(it.key(), &twords);
  used = qwords;
  used.insert(twords.begin(), twords.end());
  for (const AnswerCall& c : *calls) add_words(c.arguments.dump(), &used);

  // Which words: each word the query shares with the tools with probability 1/2 (at least
  // one), each word only the tools use with probability 0.15.
  std::vector<std::string> shared, tool_only;
  for (const std::string& w : twords) (qwords.count(w) ? shared : tool_only).push_back(w);
  std::vector<std::string> chosen;
  for (const std::string& w : shared)
    if (chance(0.5)) chosen.push_back(w);
  if (chosen.empty() && !shared.empty()) chosen.push_back(shared[rng.next_u64() % shared.size()]);
  for (const std::string& w : tool_only)
    if (chance(0.15)) chosen.push_back(w);
  if (chosen.empty()) return 0;

  std::map<std::string, std::string> map;
  for (const std::string& w : chosen) {
    if (map.count(w)) continue;
    std::string r;
    for (int attempt = 0; attempt < 20 && r.empty(); ++attempt) {
      const std::string& c = pool[rng.next_u64() % pool.size()];
      if (!used.count(c)) r = c;
    }
    if (r.empty()) continue;
    used.insert(r);
    map[w] = r;
    // The word's inflections move with it ("timer" -> "lantern": "timers" -> "lanterns").
    for (const char* suf : {"s", "es", "ed", "ing", "er", "ers"}) {
      const std::string v = w + suf;
      if (!map.count(v) && used.count(v) && (qwords.count(v) || twords.count(v))) map[v] = r + suf;
    }
  }
  if (map.empty()) return 0;

  for_each_tool_text(tools, [&](json* s) { *s = replace_pieces(s->get_ref<const std::string&>(), map); });
  for (json& t : tools) {
    if (!t.is_object() || !t.contains("parameters") || !t["parameters"].is_object()) continue;
    json renamed = json::object();
    for (auto it = t["parameters"].begin(); it != t["parameters"].end(); ++it)
      renamed[replace_pieces(it.key(), map)] = it.value();
    if (renamed.size() != t["parameters"].size()) return 0;  // two keys met: leave all alone (nothing written yet)
    t["parameters"] = std::move(renamed);
  }
  std::set<std::string> names;
  for (const json& t : tools)
    if (t.is_object() && t.contains("name") && t["name"].is_string() && !names.insert(t["name"].get<std::string>()).second)
      return 0;  // two tools met
  std::vector<AnswerCall> out = *calls;
  for (AnswerCall& c : out) {
    c.name = replace_pieces(c.name, map);
    c.original_name = replace_pieces(c.original_name, map);
    json args = json::object();
    for (auto it = c.arguments.begin(); it != c.arguments.end(); ++it) {
      json v = it.value();
      replace_in_value(&v, map);
      args[replace_pieces(it.key(), map)] = std::move(v);
    }
    c.arguments = std::move(args);
  }
  *query = replace_pieces(*query, map);
  *tools_json = json_dumps_compact(tools);
  *calls = std::move(out);
  return static_cast<int>(map.size());
}

}  // namespace np
