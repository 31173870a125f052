// tool_prior.h — how well each offered tool's words match the query's: a lexical prior that
// constrained decoding adds to the model's scores where it chooses a tool name (and where it
// chooses between answering `[]` and calling), so a model that has not learned a tool's
// meaning still finds the tool the request names (docs/engine.md, "Lexical tool prior").
//
// A tool's words: its name split at `_`/case changes, its description, its parameters' names
// and descriptions. Words are lowercased ASCII letter runs of two or more, a few English
// suffixes stripped ("alarms" -> "alarm", "playing" -> "play"), common function words
// dropped. A tool's score sums, over the distinct query words, the word's best match in the
// tool (1 the same word, 0.8 where one of at least 4 letters begins the other; doubled in the
// name) times 1 + ln(n / df), n the tools offered and df how many of them match the word: a
// word every tool matches counts 1, a word only one of ten matches 3.3.
#pragma once
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace np {

struct ToolSet;
struct Call;

// The words of a text as the prior reads them (for tests and the docs' examples):
// prior_words("Set alarms_forTomorrow") -> {"set", "alarm", "for", "tomorrow"} minus
// function words ("for"): {"set", "alarm", "tomorrow"}.
std::vector<std::string> prior_words(std::string_view text);

// Whether a lower-case word is one of the common English function words the prior drops
// ("the", "with", "please"...).
bool is_function_word(std::string_view w);

// One tool's words as the priors read them (prior_words), split once per tool list: a caller
// keeps them with its parsed list (decode/tool_caller.cpp), so a call on a fixed catalog splits
// no tool text. Each list is sorted and holds each word once.
struct ToolWords {
  std::vector<std::string> name;  // the name's ("set_alarm" -> {"alarm", "set"})
  // The description's, the parameters' names and descriptions and the enums' string values
  // ("next" for playback's action): the lexical prior's other words.
  std::vector<std::string> text;
  // The echo prior (docs/engine.md, "Echo prior"): the name's and the description's. A string
  // value whose first word is one of them echoes the request's words that chose the tool
  // rather than the argument ("cook pho in the air fryer" -> `dish: "fryer"` for
  // `air_fryer_cook`).
  std::vector<std::string> echo;
  // The copy prior's unit rule (docs/engine.md, "Copy prior"): per parameter, its name's and
  // description's ("weeks_out", "Weeks until the race." -> {"out", "race", "until", "week"}).
  std::vector<std::vector<std::string>> params;
  // The copy prior's direction rule (docs/engine.md, "Copy prior"): per parameter, kStart
  // where its name or description says where something starts ("from", "leaving_spot",
  // "Origin city.", "source_folder"), kEnd where it says where something ends ("to",
  // "arrival_spot", "Destination.", "target_language"), 0 for neither, both, or a time ("Departure
  // date.", "start_time": a when, not a where).
  static constexpr uint8_t kStart = 1, kEnd = 2;
  std::vector<uint8_t> directions;
  // The copy prior's naming rule (docs/engine.md, "Copy prior"): per parameter, kStart where
  // its name says it holds the thing as it is ("template_heading", "source_file", "old_name",
  // "originalTitle"), kEnd where it says it holds what the thing becomes ("clone_label",
  // "copy_heading", "new_name"), 0 for neither or both. Only the name counts: descriptions of
  // both sides talk of the copy ("Note to copy.", "Name of the copy.").
  std::vector<uint8_t> renames;
};

// Per tool of `set`, in its order.
std::vector<ToolWords> tool_words(const ToolSet& set);

// One score per tool, in the list's order; all 0 when the query shares no word with any.
// With `rest`, also per tool t (row t): the scores over only the query words t does not
// match, from the same pass: what the rest of a request says once a call to t is written
// ("feed the cat, and any leaks?" after feed_pet_now: report_leak_sensor scores, feed_pet_now
// not).
std::vector<float> lexical_tool_scores(std::string_view query, const std::vector<ToolWords>& words,
                                       std::vector<std::vector<float>>* rest = nullptr);
std::vector<float> lexical_tool_scores(std::string_view query, const ToolSet& set,
                                       std::vector<std::vector<float>>* rest = nullptr);

// Whether `word` (lower-case letters) is an echo of `tool_words`: three letters or more, not
// a function word, and after prior_words' stemming the same word as one of them or, four
// letters or more, a prefix of one or one of them a prefix of it.
bool echoes_tool_word(std::string_view word, const std::vector<std::string>& tool_words);

// The tool caller's second look (docs/engine.md, "Second look"): for an answer whose first two
// calls name the same tool, where every word of the query that echoes that tool (ToolWords::
// echo) comes after all of the first call's string values ("fake candlelight in the balcony,
// then air fryer, falafel, 12 minutes" -> air_fryer_cook twice, the first with
// "fake candlelight"): the tool's index, the first call having taken the second request's
// tool. Else -1 (also where the first call has no string value the query holds, or the query
// names the tool before it: "erase the background behind my car and erase the background
// behind the van" is one tool twice).
int second_look_tool(std::string_view query, const std::vector<Call>& calls, const std::vector<ToolWords>& words);

}  // namespace np
