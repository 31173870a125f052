// greedy.cpp — greedy decoding with the answer grammar (see greedy.h).
#include "decode/greedy.h"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <limits>
#include <numeric>

#include "decode/tool_prior.h"
#include "ops/softmax.h"
#include "util/text.h"

namespace np {

Status greedy_decode(const DecodeSpec& spec, const StepFn& step, DecodeOutput* out) {
  const Tokenizer& tok = *spec.tokenizer;
  const int32_t V = tok.vocab_size();
  CallGrammar grammar(spec.tools);
  std::vector<float> logits(static_cast<size_t>(V));
  std::vector<int32_t> order;
  std::vector<float> exps;  // scratch for the log-sum-exp
  int32_t token = spec.start_id;
  *out = DecodeOutput();
  out->stop_reason = "max_tokens";

  // Whether `id` may come next; on success `g` has consumed its text.
  auto allowed = [&](int32_t id, bool first, CallGrammar* g) {
    if (id == spec.tool_call_id) return first;
    if (id == spec.eos_id) return g->done();
    const TokenType type = tok.type(id);
    if (type == TokenType::kControl || type == TokenType::kUnknown || type == TokenType::kUnused) return false;
    const std::string& piece = tok.token_text(id);
    return !piece.empty() && g->feed(piece);
  };

  // Jump-forward, in context: answers are tokenized whole in training, so the tokens the
  // model learned for a literal are those the tokenizer writes for it right after the text so
  // far. Those are appended, all but the last (which may merge with what follows the
  // literal); nothing is appended when the tokens so far are not the tokenizer's own
  // spelling of the text (the model chose other pieces), so the model is never fed pieces it
  // would not have written. (The first version took the longest vocabulary pieces of the
  // literal alone, which BPE merges across the literal's edges contradict: exact match fell
  // from 0.77 to 0.46 on 300 dev examples with the default model.)
  auto in_context = [&](std::string_view lit) {
    std::vector<int32_t> res, gen;
    for (int32_t id : out->ids)
      if (id != spec.tool_call_id) gen.push_back(id);
    std::string text = out->text;  // the token texts so far: the dummy-prefix space first
    if (!text.empty() && text[0] == ' ') text.erase(0, 1);
    text.append(lit);
    const std::vector<int32_t> enc = tok.encode(text);
    if (enc.size() < gen.size() + 2 || !std::equal(gen.begin(), gen.end(), enc.begin())) return res;
    res.assign(enc.begin() + static_cast<std::ptrdiff_t>(gen.size()), enc.end() - 1);
    return res;
  };
  std::vector<int32_t> forced;  // tokens still to append without logits
  size_t forced_at = 0;
  bool no_jump = false;         // this step decodes normally (a literal could not be spelled)

  // The best token the grammar allows (descending logits, ties: lower id first), fed into
  // `grammar`; -1 when none is. Two ways to the same answer:
  //   - where the grammar accepts few next bytes (JSON structure: '"', ',', '}'...), only the
  //     tokens starting with one of them can be allowed: those are ranked and tried (a
  //     random-weight model lands here at most steps, and a scan of the whole order tried
  //     thousands of tokens);
  //   - otherwise a scan in descending order built in tiers, the best 64, then down to 512,
  //     4096 and the rest, each selected (nth_element) and sorted only when the tiers above
  //     hold no allowed token (sorting the whole vocabulary was 10% of a WebAssembly call).
  // The feedable tokens by first byte: the trie's runs when the spec has one (built once per
  // caller), else built here once per call.
  std::vector<std::vector<int32_t>> by_first_byte;
  const auto first_byte_run = [&](int c) -> std::pair<const int32_t*, const int32_t*> {
    if (spec.trie) return {spec.trie->first_byte_begin(static_cast<uint8_t>(c)), spec.trie->first_byte_end(static_cast<uint8_t>(c))};
    if (by_first_byte.empty()) {
      by_first_byte.assign(256, {});
      for (int32_t id = 0; id < V; ++id) {
        const TokenType type = tok.type(id);
        if (type == TokenType::kControl || type == TokenType::kUnknown || type == TokenType::kUnused) continue;
        const std::string& piece = tok.token_text(id);
        if (!piece.empty()) by_first_byte[static_cast<uint8_t>(piece[0])].push_back(id);
      }
    }
    const std::vector<int32_t>& run = by_first_byte[static_cast<size_t>(c)];
    return {run.data(), run.data() + run.size()};
  };
  CallGrammar trial(spec.tools);
  // The tokens whose first byte the grammar accepts next (and EOS, <tool_call>), ranked by
  // `better` into `order`; returns how many they are, and leaves `order` unfilled when they
  // are more than V / 8 unless `any_count`.
  auto candidates_by_first_byte = [&](const auto& better, bool any_count) -> size_t {
    bool byte_ok[256];
    size_t n_cand = 0;
    for (int c = 0; c < 256; ++c) {
      const int verdict = grammar.byte_verdict(static_cast<uint8_t>(c));
      if (verdict < 0) {
        trial = grammar;
        byte_ok[c] = trial.feed_byte(static_cast<uint8_t>(c));
      } else {
        byte_ok[c] = verdict != 0;
      }
      if (byte_ok[c]) {
        const auto run = first_byte_run(c);
        n_cand += static_cast<size_t>(run.second - run.first);
      }
    }
    if (!any_count && n_cand > static_cast<size_t>(V) / 8) return n_cand;
    order.clear();
    for (int c = 0; c < 256; ++c)
      if (byte_ok[c]) {
        const auto run = first_byte_run(c);
        order.insert(order.end(), run.first, run.second);
      }
    for (const int32_t special : {spec.eos_id, spec.tool_call_id})
      if (special >= 0 && special < V) order.push_back(special);
    std::sort(order.begin(), order.end(), better);
    order.erase(std::unique(order.begin(), order.end()), order.end());
    return n_cand;
  };
  std::vector<int32_t> rows;                 // sparse steps (and best_allowed): the allowed tokens
  std::vector<CallGrammar> trie_states;      // the trie walk's scratch
  auto best_allowed = [&](bool first) -> int32_t {
    const auto better = [&](int32_t a, int32_t b) {
      return logits[a] > logits[b] || (logits[a] == logits[b] && a < b);
    };
    // With the trie, the allowed tokens are listed outright where they are few (the answer's
    // first steps: after a ' ', thousands of space-led tokens pass the first-byte filter and
    // the tiers tried them one by one): the best of them, <tool_call> as the first token.
    if (spec.trie && spec.trie->allowed(grammar, static_cast<size_t>(V) / 8, &rows, &trie_states)) {
      int32_t best = -1;
      for (const int32_t id : rows)
        if (best < 0 || better(id, best)) best = id;
      if (first && spec.tool_call_id >= 0 && spec.tool_call_id < V && (best < 0 || better(spec.tool_call_id, best)))
        best = spec.tool_call_id;
      if (best >= 0) {
        trial = grammar;
        if (allowed(best, first, &trial)) {
          grammar = std::move(trial);
          return best;
        }
      }
    }
    auto try_range = [&](std::vector<int32_t>::const_iterator it, std::vector<int32_t>::const_iterator end) -> int32_t {
      for (; it != end; ++it) {
        trial = grammar;
        if (allowed(*it, first, &trial)) {
          grammar = std::move(trial);
          return *it;
        }
      }
      return -1;
    };
    if (candidates_by_first_byte(better, false) <= static_cast<size_t>(V) / 8) return try_range(order.begin(), order.end());
    order.resize(static_cast<size_t>(V));
    std::iota(order.begin(), order.end(), 0);
    std::ptrdiff_t lo = 0;
    for (const std::ptrdiff_t tier : {64, 512, 4096, std::numeric_limits<int>::max()}) {
      const std::ptrdiff_t hi = std::min<std::ptrdiff_t>(tier, V);
      if (hi < V) std::nth_element(order.begin() + lo, order.begin() + hi, order.end(), better);
      std::sort(order.begin() + lo, order.begin() + hi, better);
      const int32_t found = try_range(order.begin() + lo, order.begin() + hi);
      if (found >= 0) return found;
      lo = hi;
      if (lo >= V) break;
    }
    return -1;
  };

  // The priors (DecodeSpec::tool_scores, copy_source): where a tool name or a string value
  // may come next, each allowed token is scored by its logit plus a bias that depends on the
  // grammar state it leads to, and the best is taken (the grammar fed with it). Candidates are
  // visited by descending logit (the tokens that can start with an allowed byte when few,
  // else the whole vocabulary in tiers) and the scan stops once no bias could lift the next
  // one above the best so far. *plain: the best allowed token without the bias.
  const bool tool_prior_on = spec.constrained && spec.tool_scores && spec.tools &&
                             spec.tool_scores->size() == spec.tools->size() &&
                             (spec.name_weight != 0.0f || spec.call_weight != 0.0f);
  const bool words_on = spec.tool_words && spec.tools && spec.tool_words->size() == spec.tools->size();
  const bool echo_on = spec.constrained && spec.echo_weight > 0.0f && words_on;
  const bool copy_prior_on = spec.constrained && (spec.copy_weight > 0.0f || echo_on);
  float max_score = 0.0f;
  if (tool_prior_on)
    for (float v : *spec.tool_scores) max_score = std::max(max_score, v);
  // The tokens that close the answer empty: call_weight * (call_margin - max_score), but with
  // a margin, never below -call_weight * call_margin: a query that shares words with a tool
  // pushes toward a call by at most as much as one sharing none pushes toward `[]`. A larger
  // push overrode a model sure of `[]` on chit-chat and unoffered requests whose words merely
  // brushed a tool ("I had a great day in Caracas" -> find_size_chart, p(`[]`) 1.00).
  const float empty_bias = spec.call_weight * (spec.call_margin > 0.0f ? std::max(spec.call_margin - max_score, -spec.call_margin)
                                                                        : spec.call_margin - max_score);
  // Per tool, the bias its name gets: name_weight times its lexical score, and sole_weight more
  // where it is the only tool that shares a word with the query. Row 0 is the first call's;
  // with rest_scores, row 1 + t is for a call after one to tool t.
  std::vector<std::vector<float>> name_gain;
  float max_name_gain = 0.0f;
  const auto gains = [&](const std::vector<float>& sc) {
    std::vector<float> g;
    size_t matching = 0, sole = 0;
    for (size_t i = 0; i < sc.size(); ++i) {
      g.push_back(spec.name_weight * sc[i]);
      if (sc[i] > 0.0f) ++matching, sole = i;
    }
    if (matching == 1 && spec.name_weight > 0.0f) g[sole] += spec.sole_weight;
    for (float v : g) max_name_gain = std::max(max_name_gain, v);
    name_gain.push_back(std::move(g));
  };
  const bool rest_on = tool_prior_on && spec.rest_scores && spec.rest_scores->size() == spec.tools->size();
  if (tool_prior_on) {
    gains(*spec.tool_scores);
    if (rest_on)
      for (const std::vector<float>& row : *spec.rest_scores) gains(row.size() == spec.tools->size() ? row : *spec.tool_scores);
  }
  // A banned name (DecodeSpec::first_call_ban) loses this much: no logit comes near it.
  constexpr float kBanned = 1e4f;
  auto name_bias = [&](const CallGrammar& before, const CallGrammar& after) -> float {
    if (after.done() && before.before_first_call()) return empty_bias;  // "[]"
    const int prev = before.names_chosen() > 0 ? before.tool_index() : -1;
    const std::vector<float>& g = name_gain[rest_on && prev >= 0 ? 1 + static_cast<size_t>(prev) : 0];
    const int ban = before.names_chosen() == 0 ? spec.first_call_ban : -1;
    if (after.in_name()) {  // the best of the names this prefix leaves
      const std::string_view p = after.name_prefix();
      float best = -std::numeric_limits<float>::infinity();
      bool banned_only = false;
      for (size_t i = 0; i < g.size(); ++i)
        if ((*spec.tools)[i].name.compare(0, p.size(), p) == 0) {
          if (static_cast<int>(i) == ban) banned_only = true;
          else best = std::max(best, g[i]);
        }
      return std::isfinite(best) ? best : banned_only ? -kBanned : 0.0f;
    }
    if (after.names_chosen() > before.names_chosen() && after.tool_index() >= 0)
      return after.tool_index() == ban ? -kBanned : g[static_cast<size_t>(after.tool_index())];
    return 0.0f;
  };
  // The copy prior: 0 for a token that makes the string value being written stop being a
  // piece of the query as the query writes it (letter case too) that begins at a word's start
  // (once the value closes, one that also ends at a word's end; an empty one is no piece), or
  // the number being written stop being the start of one of the query's numbers (all of one
  // once it ends; number words count); copy_weight for every other token, those that touch no
  // value included (so a token that stops before a value does not lose to one that runs into
  // it). A query with no number grounds none: a token that commits the answer to a number gets
  // no bonus (copy_bias).
  const std::string source_folded = ascii_lowered(spec.copy_source);
  // The query's numeric units: digit runs joined by ':' or '.' ("10:00", "4.99", "2.1.3") or by
  // two '-' or more ("2026-12-01", "555-123-4567"). A value never begins or ends inside one
  // (none of 124,537 training strings and 16,972 numbers does): no "on 2026" from "on
  // 2026-12-01", no 10 from "10:00". inside_unit[k]: position k of the query is strictly inside
  // one (its first and last positions are not).
  std::vector<uint8_t> inside_unit(source_folded.size() + 1, 0);
  {
    const std::string& q = source_folded;
    const auto digit = [&](size_t j) { return j < q.size() && q[j] >= '0' && q[j] <= '9'; };
    const auto run_end = [&](size_t j) {
      while (digit(j)) ++j;
      return j;
    };
    for (size_t i = 0; i < q.size();) {
      if (!digit(i)) {
        ++i;
        continue;
      }
      const size_t j = run_end(i);
      size_t dotted = j, dashed = j;
      int dashes = 0;
      while ((q[dotted] == ':' || q[dotted] == '.') && digit(dotted + 1)) dotted = run_end(dotted + 1);
      while (dashed < q.size() && q[dashed] == '-' && digit(dashed + 1)) dashed = run_end(dashed + 1), ++dashes;
      const size_t end = std::max(dotted, dashes >= 2 ? dashed : j);
      for (size_t k = i + 1; k < end; ++k) inside_unit[k] = 1;
      i = end;
    }
  }
  std::vector<std::string> source_numbers;  // digit runs, one inner '.' allowed ("42.2"), signed after '-'
  // Per source number, the word that follows it (the unit rule, DecodeSpec::tool_words): the
  // letter run right after it or after one space or '-' ("6 weeks", "21.1 km", "10-minute";
  // none for "10:45"), as prior_words reads it (two letters or more, not a function word).
  std::vector<std::vector<std::string>> source_units;
  const auto units_after = [&](size_t j) {
    std::vector<std::string> words;
    if (!words_on) return words;
    const std::string_view q = spec.copy_source;
    const auto alpha = [&](size_t k) { return k < q.size() && std::isalpha(static_cast<unsigned char>(q[k])); };
    if (j < q.size() && (q[j] == ' ' || q[j] == '-')) ++j;
    size_t e = j;
    while (alpha(e)) ++e;
    return prior_words(q.substr(j, e - j));
  };
  for (size_t i = 0; i < spec.copy_source.size();) {
    const auto digit = [&](size_t j) { return j < spec.copy_source.size() && spec.copy_source[j] >= '0' && spec.copy_source[j] <= '9'; };
    if (!digit(i)) {
      ++i;
      continue;
    }
    size_t j = i;
    while (digit(j)) ++j;
    if (j + 1 < spec.copy_source.size() && spec.copy_source[j] == '.' && digit(j + 1))
      for (++j; digit(j); ++j) {}
    if (inside_unit[i] || inside_unit[j]) {  // a piece of a time, a date or a version: no number
      i = j;
      continue;
    }
    source_numbers.emplace_back(spec.copy_source.substr(i, j - i));
    source_units.push_back(units_after(j));
    if (i > 0 && spec.copy_source[i - 1] == '-') {  // "-20" too
      source_numbers.push_back("-" + source_numbers.back());
      source_units.push_back(source_units.back());
    }
    i = j;
  }
  // Number words count as their numbers ("for two people" -> 2).
  {
    static constexpr std::pair<std::string_view, int> kNumberWords[] = {
        {"zero", 0}, {"one", 1}, {"two", 2}, {"three", 3}, {"four", 4}, {"five", 5}, {"six", 6},
        {"seven", 7}, {"eight", 8}, {"nine", 9}, {"ten", 10}, {"eleven", 11}, {"twelve", 12},
        {"thirteen", 13}, {"fourteen", 14}, {"fifteen", 15}, {"sixteen", 16}, {"seventeen", 17},
        {"eighteen", 18}, {"nineteen", 19}, {"twenty", 20}, {"thirty", 30}, {"forty", 40},
        {"fifty", 50}, {"sixty", 60}, {"seventy", 70}, {"eighty", 80}, {"ninety", 90},
        {"hundred", 100}, {"thousand", 1000}, {"dozen", 12}};
    for (WordSpan w = next_word(source_folded, 0); !w.empty(); w = next_word(source_folded, w.end))
      for (const auto& [word, value] : kNumberWords)
        if (w.of(source_folded) == word) {
          source_numbers.push_back(std::to_string(value));
          source_units.push_back(units_after(w.end));
        }
  }
  // Numbers said once fill one parameter: per call, the numbers its values took so far; a
  // number of the query is no longer grounding in that call once it took as many as the query
  // says it ("let's focus in 25-minute sprints": focus_span 25, and no rest_span 25 after it).
  // Another call may take it again ("5 minute timers for the eggs and the rice").
  std::vector<std::string> call_numbers;
  int numbers_seen = 0, calls_seen = 0;
  const auto available = [&](const std::string& n) {
    return std::count(source_numbers.begin(), source_numbers.end(), n) > std::count(call_numbers.begin(), call_numbers.end(), n);
  };
  bool numbers_left = !source_numbers.empty();
  // Whether a piece [at, at + len) of the folded query starts at a word's start (and, when
  // `closed`, ends at a word's end): a piece's edge may cut no word and no numeric unit.
  const auto whole_piece = [&](size_t at, size_t len, bool closed) {
    return whole_piece_at(source_folded, at, len, closed) && !inside_unit[at] && (!closed || !inside_unit[at + len]);
  };
  // Whether the query names an enum literal (a JSON string: a whole-word piece of the query,
  // letter case aside); number, boolean and null literals are named by none.
  const auto names_literal = [&](const std::string& lit) {
    if (lit.size() < 3 || lit.front() != '"' || lit.back() != '"') return false;
    return holds_whole(source_folded, ascii_lowered(std::string_view(lit).substr(1, lit.size() - 2)));
  };
  std::string folded, word;
  std::vector<size_t> places;  // where the value being written occurs in the query as a piece
  // The echo prior's part for the string value `after` is writing (folded holds it folded,
  // `places` where it occurs): -echo_weight when one of its content words (three letters or
  // more, not a function word) is one of the chosen tool's words, or when it closed with
  // function words alone ("the"). A word the value has not finished is read on in the query
  // (and, where the value has no content word yet, on to the query's next one) at every place
  // the value occurs: only where each place leads to an echo does the value lose, so the
  // prior acts on the token that starts the word.
  auto echo_bias = [&](const CallGrammar& after, bool open) -> float {
    if (!echo_on || after.tool_index() < 0) return 0.0f;
    const std::vector<std::string>& words = (*spec.tool_words)[static_cast<size_t>(after.tool_index())].echo;
    const auto content = [](const std::string& w) { return w.size() >= 3 && !is_function_word(w); };
    bool only_function_words = true, any_word = false, any_content = false;
    const size_t n = folded.size();
    for (WordSpan w = next_word(folded, 0); !w.empty(); w = next_word(folded, w.end)) {
      if (w.end == n && open) break;  // unfinished: read on in the query below
      word.assign(w.of(folded));
      if (content(word)) {
        if (echoes_tool_word(word, words)) return -spec.echo_weight;
        any_content = true;
      } else {
        any_word = true;
        only_function_words = only_function_words && is_function_word(word);
      }
    }
    if (!open) return !any_content && any_word && only_function_words ? -spec.echo_weight : 0.0f;
    // Still open: the unfinished word as the query goes on at each place (and, with no content
    // word finished yet, on to the query's next content word).
    const size_t tail = word_start(folded, n);  // the unfinished word's start in the value (n: none)
    if (any_content && tail == n) return 0.0f;
    for (const size_t at : places) {
      const std::string& q = source_folded;
      bool echo = false;
      for (WordSpan w = next_word(q, at + tail); !w.empty(); w = next_word(q, w.end)) {
        word.assign(w.of(q));
        if (content(word)) {
          echo = echoes_tool_word(word, words);
          break;
        }
        if (any_content) break;
      }
      if (!echo) return 0.0f;
    }
    return places.empty() ? 0.0f : -spec.echo_weight;
  };
  // The unit rule's part for a number of the query followed by `units`, written as the value of
  // the parameter `after` last keyed: +unit_weight where the parameter's words hold one of the
  // units, -unit_weight where they do not and another number parameter's of the tool do.
  const float unit_weight = spec.copy_weight;
  // Whether any number has a unit: else (and inside a string value) the bias is at most copy_weight,
  // so the model's own choice is taken at once where it keeps the copy.
  const bool units_any = std::any_of(source_units.begin(), source_units.end(), [](const auto& u) { return !u.empty(); });
  const auto unit_bias = [&](const std::vector<std::string>& units, const CallGrammar& after) -> float {
    const int t = after.tool_index(), p = after.param_index();
    if (!words_on || units.empty() || t < 0 || p < 0) return 0.0f;
    const std::vector<std::vector<std::string>>& params = (*spec.tool_words)[static_cast<size_t>(t)].params;
    // A unit of two letters ("km", "gb", "kg") must be one of the parameter's words; a longer
    // one matches as the echo prior's words do ("weeks" and "week", "minute" and "minutes").
    const auto holds = [&](size_t q) {
      for (const std::string& u : units)
        if (u.size() < 3 ? std::binary_search(params[q].begin(), params[q].end(), u) : echoes_tool_word(u, params[q]))
          return true;
      return false;
    };
    if (static_cast<size_t>(p) >= params.size()) return 0.0f;
    if (holds(static_cast<size_t>(p))) return unit_weight;
    const std::vector<GrammarParam>& kinds = (*spec.tools)[static_cast<size_t>(t)].params;
    for (size_t q = 0; q < params.size() && q < kinds.size(); ++q)
      if (q != static_cast<size_t>(p) && (kinds[q].kind == ValueKind::kInteger || kinds[q].kind == ValueKind::kNumber) && holds(q))
        return -unit_weight;
    return 0.0f;
  };
  // The copy prior's direction rule: in a query that says "from" and "to" (or "into",
  // "towards"), for a tool with a parameter that says where something starts and another that
  // says where it ends (ToolWords::directions: "leaving_spot" and "arrival_spot",
  // "source_language" and "target_language", "from" and "to"), a string value the query puts
  // right after "from" (over "my", "the"...) gains unit_weight in the first and loses as much
  // in the second, and one after "to" the other way round ("from Brussels to Port Louis").
  // The naming rule does the same for what a thing becomes: a value right after "as",
  // "named", "called", "titled" or "call it" ("duplicate Journal as Trip ideas", "copy the
  // Recipes note and call it Gifts draft") goes to the parameter that holds the new name
  // (ToolWords::renames: "clone_label" over "template_heading"), with no second cue needed.
  // kFrom where the word before [at] in the query (over spaces, quotes and one determiner) is
  // "from", kTo where it is "to", "into", "toward" or "towards", kAs for a naming cue, else 0
  // (and 0 where [at] is no word's start).
  constexpr uint8_t kFrom = 1, kTo = 2, kAs = 4;
  const auto cue_before = [&](size_t at) -> uint8_t {
    const std::string& q = source_folded;
    if (at >= q.size() || !word_byte(q[at]) || (at > 0 && word_byte(q[at - 1]))) return 0;
    // The word before [at] (over spaces and quotes); `at` moves to its start.
    const auto word_before = [&]() {
      while (at > 0 && (q[at - 1] == ' ' || q[at - 1] == '"' || q[at - 1] == '\'')) --at;
      const size_t b = word_start(q, at);
      const std::string_view w(q.data() + b, at - b);
      at = b;
      return w;
    };
    std::string_view w;
    for (int words = 0; words < 2; ++words) {
      w = word_before();
      if (!(w == "my" || w == "the" || w == "a" || w == "an" || w == "our" || w == "your" || w == "his" ||
            w == "her" || w == "their" || w == "this" || w == "that"))
        break;
    }
    if (w == "from") return kFrom;
    if (w == "to" || w == "into" || w == "toward" || w == "towards") return kTo;
    if (w == "as" || w == "named" || w == "called" || w == "titled") return kAs;
    if (w == "it") {
      w = word_before();
      return w == "call" || w == "name" || w == "title" ? kAs : 0;
    }
    return 0;
  };
  uint8_t cues = 0;  // the cues the query holds (bits as above)
  if (words_on && spec.copy_weight > 0.0f)
    for (size_t at = 0; at < source_folded.size() && cues != (kFrom | kTo | kAs); ++at) cues |= cue_before(at);
  const bool from_to = (cues & (kFrom | kTo)) == (kFrom | kTo), naming = (cues & kAs) != 0;
  // Per tool, its parameters' roles for each rule the query cues, where it has a parameter of
  // both roles (else null).
  std::vector<const std::vector<uint8_t>*> param_ends, param_names;
  bool cues_any = false;
  const auto both_roles = [](const std::vector<uint8_t>& d) {
    return std::count(d.begin(), d.end(), ToolWords::kStart) > 0 && std::count(d.begin(), d.end(), ToolWords::kEnd) > 0;
  };
  if (from_to || naming)
    for (const ToolWords& tw : *spec.tool_words) {
      param_ends.push_back(from_to && both_roles(tw.directions) ? &tw.directions : nullptr);
      param_names.push_back(naming && both_roles(tw.renames) ? &tw.renames : nullptr);
      cues_any = cues_any || param_ends.back() || param_names.back();
    }
  // Whether the direction or naming rule may act on the call `g` writes.
  const auto directed = [&](const CallGrammar& g) {
    const auto t = static_cast<size_t>(g.tool_index());
    return cues_any && g.tool_index() >= 0 && t < param_ends.size() && (param_ends[t] || param_names[t]);
  };
  // The rules' part for the value at `places`: its best over the places (a value the query
  // says twice, "from my savings into savings", may be either).
  const auto direction_bias = [&](const CallGrammar& after) -> float {
    const int t = after.tool_index(), p = after.param_index();
    if (!directed(after) || places.empty() || p < 0) return 0.0f;
    const std::vector<GrammarParam>& kinds = (*spec.tools)[static_cast<size_t>(t)].params;
    // +unit_weight where parameter p has the role `role` in `roles`, -unit_weight where another
    // string parameter has it, else 0.
    const auto judge = [&](const std::vector<uint8_t>* roles, uint8_t role) -> float {
      if (!roles || static_cast<size_t>(p) >= roles->size()) return 0.0f;
      if ((*roles)[static_cast<size_t>(p)] == role) return unit_weight;
      for (size_t q = 0; q < roles->size() && q < kinds.size(); ++q)
        if (q != static_cast<size_t>(p) && kinds[q].kind == ValueKind::kString && (*roles)[q] == role) return -unit_weight;
      return 0.0f;
    };
    float best = -std::numeric_limits<float>::infinity();
    for (const size_t at : places) {
      const uint8_t cue = cue_before(at);
      const float b = cue == kAs ? judge(param_names[static_cast<size_t>(t)], ToolWords::kEnd)
                      : cue == kFrom ? judge(param_ends[static_cast<size_t>(t)], ToolWords::kStart)
                      : cue == kTo ? judge(param_ends[static_cast<size_t>(t)], ToolWords::kEnd)
                                   : 0.0f;
      best = std::max(best, b);
      if (best > 0.0f) break;
    }
    return best;
  };
  // The copy and echo priors' part for a string value (`value`, as written; `closed` once its
  // quote is written) of the call `after` writes.
  auto string_bias = [&](const std::string& value, bool closed, const CallGrammar& after) -> float {
    folded = ascii_lowered(value);
    places.clear();
    // A piece as the query writes it (letter case too); an empty value, closed, is none.
    const size_t first = closed && folded.empty() ? std::string::npos : source_folded.find(folded);
    for (size_t at = first; at != std::string::npos; at = source_folded.find(folded, at + 1)) {
      if (whole_piece(at, folded.size(), closed) && spec.copy_source.compare(at, folded.size(), value) == 0)
        places.push_back(at);
      if (!echo_on && !places.empty() && !directed(after)) break;  // the first place is enough
    }
    // A value that left the query loses the echo prior's weight too (else, where every piece
    // of the query echoes the tool, it would win).
    if (places.empty()) return echo_on ? -spec.echo_weight : 0.0f;
    return spec.copy_weight + echo_bias(after, !closed) + direction_bias(after);
  };
  // Optional enum parameters none of whose string values the query names (whole words, letter
  // case aside), per tool: the answer leaves them out, as it leaves out a number key the query
  // gives no number for (the training answers write such a key only where the query names
  // one of its values: 5,421 of 5,421).
  std::vector<std::vector<uint8_t>> unnamed_enum;
  bool unnamed_any = false;
  if (copy_prior_on && spec.tools)
    for (const GrammarTool& t : *spec.tools) {
      std::vector<uint8_t> row(t.params.size(), 0);
      for (size_t i = 0; i < t.params.size(); ++i) {
        const GrammarParam& p = t.params[i];
        if (p.kind != ValueKind::kEnum || p.required) continue;
        const bool named = std::any_of(p.literals.begin(), p.literals.end(), names_literal);
        row[i] = named ? 0 : 1;
        unnamed_any = unnamed_any || !named;
      }
      unnamed_enum.push_back(std::move(row));
    }
  auto copy_bias = [&](const CallGrammar& before, const CallGrammar& after) -> float {
    // A query without numbers (or none left for this call) grounds no number: a token that
    // commits the answer to one (a key only numbers can follow, or the number itself) gets no
    // bonus. The same for a key of an optional enum the query names no value of.
    if (!numbers_left && after.number_ahead()) return 0.0f;
    if (unnamed_any && after.tool_index() >= 0 &&
        after.param_ahead([&](size_t i, const GrammarParam&) { return unnamed_enum[static_cast<size_t>(after.tool_index())][i] != 0; }))
      return 0.0f;
    if (before.in_value_string() || after.value_strings() != before.value_strings()) {
      const float bias = string_bias(after.value_string(), !after.in_value_string(), after);
      // A token that closes one value and opens the next (`","` between an array's strings):
      // the closed one must be a piece too.
      if (before.in_value_string() && after.value_strings() > before.value_strings())
        return std::min(bias, string_bias(after.previous_value_string(), true, after));
      return bias;
    }
    if (before.in_literal() || after.value_literals() != before.value_literals()) {
      // An enum value: where the query names some of the literals (string ones, a whole-word
      // piece of it), those are the pieces of the query; else the literal is left be.
      const std::string& written = after.literal_string();
      bool named_any = false, named_here = false;
      for (const std::string& lit : after.literal_candidates()) {
        if (!names_literal(lit)) continue;
        named_any = true;
        if (lit.compare(0, written.size(), written) == 0) named_here = true;
      }
      return !named_any || named_here ? spec.copy_weight : 0.0f;
    }
    if (!source_numbers.empty() && (before.in_value_number() || after.value_numbers() != before.value_numbers())) {
      const std::string& num = after.number_string();
      const bool open = after.in_value_number();
      float best = -std::numeric_limits<float>::infinity();
      for (size_t k = 0; k < source_numbers.size(); ++k) {
        const std::string& s = source_numbers[k];
        if ((open ? s.compare(0, num.size(), num) == 0 && num.size() <= s.size() : s == num) && available(s))
          best = std::max(best, spec.copy_weight + unit_bias(source_units[k], after));
      }
      if (!std::isfinite(best)) return 0.0f;
      // A token that closes the number and goes on to a key only numbers can complete ("133,\"")
      // needs a number left for it.
      if (!open && after.number_ahead()) {
        call_numbers.push_back(num);
        const bool left = std::any_of(source_numbers.begin(), source_numbers.end(), available);
        call_numbers.pop_back();
        if (!left) return 0.0f;
      }
      return best;
    }
    return spec.copy_weight;  // no value touched: nothing left the query (`":` ties with `":2`)
  };
  CallGrammar chosen(spec.tools);
  // copy: the copy prior's bias, else the tool prior's (one function, not one per bias: size).
  auto biased_choice = [&](bool first, float max_bias, bool copy, int32_t* plain) -> int32_t {
    const auto better = [&](int32_t a, int32_t b) {
      return logits[a] > logits[b] || (logits[a] == logits[b] && a < b);
    };
    int32_t best = -1;
    *plain = -1;
    float best_score = -std::numeric_limits<float>::infinity();
    // Visits one candidate; true once no later one can win.
    const auto visit = [&](int32_t id) {
      if (best >= 0 && logits[id] + max_bias <= best_score) return true;
      trial = grammar;
      if (!allowed(id, first, &trial)) return false;
      if (*plain < 0) *plain = id;
      const float score = logits[id] + (copy ? copy_bias(grammar, trial) : name_bias(grammar, trial));
      if (best < 0 || score > best_score) {
        best = id;
        best_score = score;
        chosen = trial;
      }
      return false;
    };
    // The model's own choice first: allowed and with the largest bias there is, nothing beats it
    // (the common case with a trained model).
    const int32_t top = static_cast<int32_t>(std::max_element(logits.begin(), logits.end()) - logits.begin());
    trial = grammar;
    if (allowed(top, first, &trial)) {
      const float b = copy ? copy_bias(grammar, trial) : name_bias(grammar, trial);
      if (b >= max_bias) {
        *plain = top;
        grammar = std::move(trial);
        return top;
      }
    }
    // Inside a string nearly every byte is allowed: straight to the tiers.
    if (!grammar.in_value_string() && candidates_by_first_byte(better, false) <= static_cast<size_t>(V) / 8) {
      for (const int32_t id : order)
        if (visit(id)) break;
    } else {
      order.resize(static_cast<size_t>(V));
      std::iota(order.begin(), order.end(), 0);
      std::ptrdiff_t lo = 0;
      bool stop = false;
      for (const std::ptrdiff_t tier : {64, 512, 4096, std::numeric_limits<int>::max()}) {
        const std::ptrdiff_t hi = std::min<std::ptrdiff_t>(tier, V);
        if (hi < V) std::nth_element(order.begin() + lo, order.begin() + hi, order.end(), better);
        std::sort(order.begin() + lo, order.begin() + hi, better);
        for (std::ptrdiff_t i = lo; i < hi && !stop; ++i) stop = visit(order[static_cast<size_t>(i)]);
        lo = hi;
        if (stop || lo >= V) break;
      }
    }
    if (best >= 0) grammar = std::move(chosen);
    return best;
  };

  const bool sparse_on = spec.constrained && spec.trie && spec.step_rows && spec.sparse_limit > 0;
  for (int32_t n = 0; n < spec.budget; ++n) {
    if (spec.constrained && spec.jump_forward && !no_jump && forced_at == forced.size()) {
      const std::string_view lit = grammar.forced_literal();
      if (!lit.empty()) {
        forced = in_context(lit);
        forced_at = 0;
        if (forced.empty()) no_jump = true;  // decode this step normally
      }
    }
    if (forced_at < forced.size()) {
      // The next token is known: feed the previous one without logits and append it.
      const int32_t next = forced[forced_at++];
      CallGrammar trial = grammar;
      if (!allowed(next, false, &trial)) {  // cannot happen for a literal; decode this step normally
        forced.clear();
        forced_at = 0;
        no_jump = true;
        --n;
        continue;
      }
      NP_RETURN_IF_ERROR(step(token, nullptr));
      const int32_t call_index = grammar.calls_closed();
      grammar = std::move(trial);
      out->ids.push_back(next);
      out->token_probs.push_back(1.0f);
      out->token_call.push_back(call_index);
      out->token_forced.push_back(1);
      ++out->forced_tokens;
      out->text += tok.token_text(next);
      if (spec.on_token && !spec.on_token(next, tok.token_text(next)))
        return Status(Code::kAborted, "stopped by the token callback after " + std::to_string(out->ids.size()) + " tokens");
      if (grammar.done()) {
        out->stop_reason = "complete";
        break;
      }
      token = next;
      continue;
    }
    no_jump = false;
    if (copy_prior_on && !source_numbers.empty()) {  // the numbers this call's values took
      if (grammar.value_numbers() > numbers_seen && !grammar.in_value_number()) {
        numbers_seen = grammar.value_numbers();
        call_numbers.push_back(grammar.number_string());
      }
      if (grammar.calls_closed() != calls_seen) {
        calls_seen = grammar.calls_closed();
        call_numbers.clear();
      }
      numbers_left = std::any_of(source_numbers.begin(), source_numbers.end(), available);
    }
    bool sparse = false;
    if (sparse_on && !grammar.before_first_call() && !grammar.in_value_string() &&
        spec.trie->allowed(grammar, static_cast<size_t>(spec.sparse_limit), &rows, &trie_states) && !rows.empty()) {
      std::fill(logits.begin(), logits.end(), std::numeric_limits<float>::lowest());
      NP_RETURN_IF_ERROR(spec.step_rows(token, logits.data(), rows));
      sparse = true;
      ++out->sparse_steps;
    }
    if (!sparse) NP_RETURN_IF_ERROR(step(token, logits.data()));
    // The model's choice (the first of equal maxima by id), and the log-sum-exp of the full
    // distribution (at a sparse step: of the allowed tokens, whose exps are all the others'
    // lowest-float logits would add: zeros), for the probability of the token chosen below.
    // The exps and their sum run in the attention softmax's SIMD kernel (softmax.h, within
    // 2 ulp of std::exp) on a copy: 8192 double exps per step were 5% of a WebAssembly step;
    // a sparse step's few rows only (the whole vocabulary was 2% of a cached call there).
    int32_t next;
    double lse = 0;
    if (sparse) {
      next = rows[0];
      for (const int32_t id : rows)
        if (logits[id] > logits[next] || (logits[id] == logits[next] && id < next)) next = id;
      const float mx = logits[static_cast<size_t>(next)];
      exps.resize(rows.size());
      for (size_t i = 0; i < rows.size(); ++i) exps[i] = logits[static_cast<size_t>(rows[i])];
      lse = std::log(static_cast<double>(softmax_exp_sum(exps.data(), static_cast<int>(rows.size()), mx))) + mx;
    } else {
      next = static_cast<int32_t>(std::max_element(logits.begin(), logits.end()) - logits.begin());
      const float mx = logits[static_cast<size_t>(next)];
      exps.assign(logits.begin(), logits.end());
      lse = std::log(static_cast<double>(softmax_exp_sum(exps.data(), V, mx))) + mx;
    }
    const int32_t call_index = grammar.calls_closed();
    if (spec.constrained && grammar.before_first_call()) {
      // Mass of the tokens that would close the answer empty from here. Only the first
      // step or two of an answer get here. The grammar is done only once it has read the
      // answer's closing ']', so only tokens whose text holds one are tried (a grammar
      // copy and feed for each of 8192 tokens cost about 1 ms of a WebAssembly call).
      double p = 0;
      const auto closes = [&](int32_t id) {
        if (id == spec.eos_id || id == spec.tool_call_id) return;
        trial = grammar;
        if (allowed(id, false, &trial) && trial.done()) p += std::exp(static_cast<double>(logits[id]) - lse);
      };
      if (spec.trie) {  // the trie lists them once per caller
        for (const int32_t id : spec.trie->closers()) closes(id);
      } else {
        for (int32_t id = 0; id < V; ++id)
          if (tok.token_text(id).find(']') != std::string::npos) closes(id);
      }
      out->no_call_prob = static_cast<float>(p);
    }
    if ((tool_prior_on && grammar.name_ahead()) || (copy_prior_on && grammar.value_ahead())) {
      int32_t plain = -1;
      if (tool_prior_on && grammar.name_ahead())
        next = biased_choice(out->ids.empty(),
                             std::max({0.0f, max_name_gain, empty_bias}),
                             false, &plain);
      else
        next = biased_choice(out->ids.empty(),
                             spec.copy_weight + ((units_any && !grammar.in_value_string()) || directed(grammar) ? unit_weight : 0.0f),
                             true, &plain);
      if (next < 0) break;
      if (next != plain) ++out->prior_overrides;
    } else if (spec.constrained) {
      const bool first = out->ids.empty();
      trial = grammar;
      if (allowed(next, first, &trial)) {
        grammar = std::move(trial);
      } else {
        next = best_allowed(first);
        if (next < 0) break;  // nothing can continue (a vocabulary without byte pieces)
      }
    }
    if (next == spec.eos_id) {
      out->stop_reason = "eos";
      break;
    }
    out->ids.push_back(next);
    out->token_probs.push_back(static_cast<float>(std::exp(static_cast<double>(logits[next]) - lse)));
    out->token_call.push_back(spec.constrained ? call_index : 0);
    out->token_forced.push_back(0);
    const bool is_tool_call = next == spec.tool_call_id;
    if (!is_tool_call) out->text += tok.token_text(next);
    if (spec.on_token && !spec.on_token(next, is_tool_call ? tok.piece(next) : tok.token_text(next)))
      return Status(Code::kAborted, "stopped by the token callback after " + std::to_string(out->ids.size()) + " tokens");
    if (spec.constrained && grammar.done()) {
      out->stop_reason = "complete";
      break;
    }
    token = next;
  }
  out->calls_closed = grammar.calls_closed();
  if (spec.constrained && !grammar.done()) {
    out->text += grammar.completion();
    out->completed = true;
  }
  if (!spec.constrained) {
    // Unconstrained text is the tokenizer's own decode, <tool_call> dropped.
    std::vector<int32_t> ids;
    for (int32_t id : out->ids)
      if (id != spec.tool_call_id) ids.push_back(id);
    out->text = tok.decode(ids);
  }
  const size_t first = out->text.find_first_not_of(' ');
  out->text.erase(0, first == std::string::npos ? out->text.size() : first);
  return Status::Ok();
}

}  // namespace np
