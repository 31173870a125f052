// tool_prior.cpp — the lexical tool prior (see tool_prior.h).
#include "decode/tool_prior.h"

#include <algorithm>
#include <cmath>
#include <functional>
#include <iterator>
#include <string_view>

#include "np/tools.h"
#include "util/text.h"

namespace np {

namespace {

// Common English function words (sorted, for the binary search).
constexpr std::string_view kFunctionWords[] = {
    "an", "and", "any", "are", "as", "at", "be", "by", "can", "could", "do", "does", "for", "from",
    "here", "how", "if", "im", "in", "into", "is", "it", "its", "just", "me", "my", "of", "on", "or",
    "our", "out", "please", "so", "some", "that", "the", "there", "this", "to", "up", "us", "we",
    "what", "will", "with", "would", "you", "your"};

// "alarms" -> "alarm", "playing" -> "play", "scheduled" -> "schedul", "boxes" -> "box"; words
// of four letters or fewer stay whole ("bus", "gas", "news").
std::string stem(std::string w) {
  for (const char* suf : {"ing", "ed", "es", "s"}) {
    const size_t n = std::char_traits<char>::length(suf);
    if (w.size() > n + 2 && w.size() > 4 && w.compare(w.size() - n, n, suf) == 0) {
      w.resize(w.size() - n);
      break;
    }
  }
  return w;
}

void add_words(std::string_view text, std::vector<std::string>* out) {
  for_each_word(text, [&](const std::string& w) {
    if (w.size() > 1 && !is_function_word(w)) out->push_back(stem(w));
  });
}

// 1 for the same word, 0.8 where the shorter (at least 4 letters) begins the longer, else 0.
float word_match(const std::string& a, const std::string& b) {
  if (a == b) return 1.0f;
  const std::string& s = a.size() <= b.size() ? a : b;
  const std::string& l = a.size() <= b.size() ? b : a;
  return s.size() >= 4 && l.compare(0, s.size(), s) == 0 ? 0.8f : 0.0f;
}

}  // namespace

bool is_function_word(std::string_view w) {
  return std::binary_search(std::begin(kFunctionWords), std::end(kFunctionWords), w);
}

std::vector<std::string> prior_words(std::string_view text) {
  std::vector<std::string> out;
  add_words(text, &out);
  return out;
}

namespace {

// The lexical prior's parts for a query: per tool and distinct query word, how well the word
// matches the tool (match), and per word its weight 1 + ln(n / df) (0 where no tool matches).
struct WordMatches {
  std::vector<std::vector<float>> match;
  std::vector<float> weight;
};

WordMatches word_matches(std::string_view query, const std::vector<ToolWords>& tools) {
  const size_t n = tools.size();
  WordMatches out;
  out.match.assign(n, {});
  std::vector<std::string> qv;
  add_words(query, &qv);
  std::sort(qv.begin(), qv.end());
  qv.erase(std::unique(qv.begin(), qv.end()), qv.end());
  if (n == 0 || qv.empty()) return out;
  // Per tool and query word: the best match among the tool's words (1 the same word, 0.8 one
  // a prefix of the other of at least 4 letters: "calori" and "calorie", "count" and
  // "countdown"), doubled when that word is in the name.
  std::vector<std::vector<float>> match(n, std::vector<float>(qv.size(), 0.0f));
  std::vector<int> df(qv.size(), 0);
  for (size_t i = 0; i < n; ++i) {
    for (size_t k = 0; k < qv.size(); ++k) {
      float best = 0.0f;
      for (const std::string& w : tools[i].name) best = std::max(best, 2.0f * word_match(qv[k], w));
      for (const std::string& w : tools[i].text) best = std::max(best, word_match(qv[k], w));
      match[i][k] = best;
      if (best > 0) ++df[k];
    }
  }
  out.weight.assign(qv.size(), 0.0f);
  for (size_t k = 0; k < qv.size(); ++k)
    if (df[k] > 0) out.weight[k] = 1.0f + std::log(static_cast<float>(n) / static_cast<float>(df[k]));
  out.match = std::move(match);
  return out;
}

// Stems of the words that say where something starts or ends (matched at a word's start,
// after prior_words' stemming), and of those that make a parameter a time instead.
constexpr std::string_view kStartStems[] = {"begin", "depart", "leav", "origin", "pickup", "setoff", "source", "start"};
constexpr std::string_view kEndStems[] = {"arriv", "dest", "drop", "end", "finish", "target", "terminu"};
constexpr std::string_view kTimeStems[] = {"date", "day", "hour", "minut", "time", "when"};

// ToolWords::directions for one parameter: `words` as prior_words reads its name and
// description; `name` the name itself, whose "from" and "to" (function words, dropped from
// `words`) count too.
uint8_t direction_of(std::string_view name, const std::vector<std::string>& words) {
  const auto says = [&](const auto& stems) {
    for (const std::string& w : words)
      for (const std::string_view st : stems)
        if (w.compare(0, st.size(), st) == 0) return true;
    return false;
  };
  if (says(kTimeStems)) return 0;
  // The name's words as prior_words splits them, function words kept.
  bool from = false, to = false;
  for_each_word(name, [&](const std::string& w) {
    from = from || w == "from";
    to = to || w == "to" || w == "into";
  });
  const bool start = from || says(kStartStems), end = to || says(kEndStems);
  return start == end ? 0 : start ? ToolWords::kStart : ToolWords::kEnd;
}

// ToolWords::renames for one parameter, from its name's words (as prior_words reads them).
uint8_t renaming_of(std::string_view name) {
  std::vector<std::string> words;
  add_words(name, &words);
  const auto starts = [](const std::string& w, std::initializer_list<std::string_view> stems) {
    for (const std::string_view st : stems)
      if (w.compare(0, st.size(), st) == 0) return true;
    return false;
  };
  bool old = false, now = false;
  for (const std::string& w : words) {
    old = old || w == "old" || starts(w, {"curr", "exist", "orig", "sourc", "templat"});
    now = now || w == "new" || w == "copy" || w == "copi" || starts(w, {"clon", "dupl", "renam"});
  }
  return old == now ? 0 : old ? ToolWords::kStart : ToolWords::kEnd;
}

void sort_unique(std::vector<std::string>* words) {
  std::sort(words->begin(), words->end());
  words->erase(std::unique(words->begin(), words->end()), words->end());
}

}  // namespace

std::vector<ToolWords> tool_words(const ToolSet& set) {
  std::vector<ToolWords> out(set.tools.size());
  for (size_t i = 0; i < set.tools.size(); ++i) {
    const Tool& t = set.tools[i];
    ToolWords& w = out[i];
    add_words(t.original_name, &w.name);
    add_words(t.description, &w.text);
    w.echo = w.name;
    w.echo.insert(w.echo.end(), w.text.begin(), w.text.end());
    for (const ToolParam& p : t.params) {
      w.params.emplace_back();
      add_words(p.name, &w.params.back());
      add_words(p.description, &w.params.back());
      w.text.insert(w.text.end(), w.params.back().begin(), w.params.back().end());
      w.directions.push_back(direction_of(p.name, w.params.back()));
      w.renames.push_back(renaming_of(p.name));
      sort_unique(&w.params.back());
      for (const auto& v : p.enum_values)
        if (v.is_string()) add_words(v.get_ref<const std::string&>(), &w.text);
    }
    sort_unique(&w.name);
    sort_unique(&w.text);
    sort_unique(&w.echo);
  }
  return out;
}

std::vector<float> lexical_tool_scores(std::string_view query, const std::vector<ToolWords>& words,
                                       std::vector<std::vector<float>>* rest) {
  const WordMatches m = word_matches(query, words);
  const size_t n = words.size();
  std::vector<float> scores(n, 0.0f);
  for (size_t i = 0; i < n; ++i)
    for (size_t k = 0; k < m.weight.size(); ++k) scores[i] += m.match[i][k] * m.weight[k];
  if (rest) {
    rest->assign(n, std::vector<float>(n, 0.0f));
    for (size_t t = 0; t < n; ++t)
      for (size_t k = 0; k < m.weight.size(); ++k)
        if (m.match[t][k] == 0.0f)
          for (size_t i = 0; i < n; ++i) (*rest)[t][i] += m.match[i][k] * m.weight[k];
  }
  return scores;
}

std::vector<float> lexical_tool_scores(std::string_view query, const ToolSet& set,
                                       std::vector<std::vector<float>>* rest) {
  return lexical_tool_scores(query, tool_words(set), rest);
}

bool echoes_tool_word(std::string_view word, const std::vector<std::string>& tool_words) {
  if (word.size() < 3 || is_function_word(word)) return false;
  const std::string w = stem(std::string(word));
  for (const std::string& t : tool_words)
    if (word_match(w, t) > 0.0f) return true;
  return false;
}

int second_look_tool(std::string_view query, const std::vector<Call>& calls, const std::vector<ToolWords>& words) {
  if (calls.size() < 2 || calls[0].tool_index != calls[1].tool_index || calls[0].tool_index >= words.size()) return -1;
  const std::string q = ascii_lowered(query);
  // Where the first call's string values (array items too) end in the query, the last of them.
  size_t values_end = 0;
  bool any = false;
  const std::function<void(const nlohmann::ordered_json&)> reach = [&](const nlohmann::ordered_json& v) {
    if (v.is_string()) {
      const std::string s = ascii_lowered(v.get_ref<const std::string&>());
      const size_t b = s.find_first_not_of(' '), e = s.find_last_not_of(' ');
      if (b == std::string::npos) return;
      const size_t at = q.find(std::string_view(s).substr(b, e - b + 1));
      if (at == std::string::npos) return;
      values_end = std::max(values_end, at + (e - b + 1));
      any = true;
    } else if (v.is_array() || v.is_object()) {
      for (const auto& item : v) reach(item);
    }
  };
  reach(calls[0].arguments);
  if (!any) return -1;
  // Every word that echoes the tool must come after the first call's values and after a break
  // that follows them (',', ';', '.', or the word "then", "also", "and" or "plus"): "junk"
  // in "bookings@hotel.it keeps going to junk, fix that. also, trust sofia@uni.edu" still
  // names the tool in the first request.
  const std::vector<std::string>& echo = words[calls[0].tool_index].echo;
  bool after = false, broken = false;
  for (size_t gap = 0; gap < q.size();) {
    const WordSpan w = next_word(q, gap);
    for (size_t i = std::max(gap, values_end); i < w.begin; ++i) broken = broken || q[i] == ',' || q[i] == ';' || q[i] == '.';
    if (w.empty()) break;
    if (echoes_tool_word(w.of(q), echo)) {
      if (w.begin < values_end || !broken) return -1;  // the tool is named in the first request
      after = true;
    }
    const std::string_view word = w.of(q);
    broken = broken || (w.begin >= values_end && (word == "then" || word == "also" || word == "and" || word == "plus"));
    gap = w.end;
  }
  return after ? static_cast<int>(calls[0].tool_index) : -1;
}

}  // namespace np
