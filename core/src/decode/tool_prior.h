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
#include <string>
#include <string_view>
#include <vector>

namespace np {

struct ToolSet;

// The words of a text as the prior reads them (for tests and the docs' examples):
// prior_words("Set alarms_forTomorrow") -> {"set", "alarm", "for", "tomorrow"} minus
// function words ("for"): {"set", "alarm", "tomorrow"}.
std::vector<std::string> prior_words(std::string_view text);

// Whether a lower-case word is one of the common English function words the prior drops
// ("the", "with", "please"...).
bool is_function_word(std::string_view w);

// One score per tool of `set`, in its order; all 0 when the query shares no word with any.
// With `rest`, also per tool t of `set` (row t): the scores over only the query words t does
// not match, from the same pass: what the rest of a request says once a call to t is written
// ("feed the cat, and any leaks?" after feed_pet_now: report_leak_sensor scores, feed_pet_now
// not).
std::vector<float> lexical_tool_scores(std::string_view query, const ToolSet& set,
                                       std::vector<std::vector<float>>* rest = nullptr);

// The echo prior (docs/engine.md, "Echo prior"): per tool of `set`, the words of its name and
// description as prior_words reads them. A string value whose first word is one of them
// echoes the request's words that chose the tool rather than the argument ("cook pho in the
// air fryer" -> `dish: "fryer"` for `air_fryer_cook`).
std::vector<std::vector<std::string>> tool_echo_words(const ToolSet& set);
// The copy prior's unit rule (docs/engine.md, "Copy prior"): per tool of `set`, per parameter,
// the words of its name and description as prior_words reads them ("weeks_out", "Weeks until
// the race." -> {"week", "out", "week", "until", "race"}).
std::vector<std::vector<std::vector<std::string>>> tool_param_words(const ToolSet& set);

// Whether `word` (lower-case letters) is an echo of `tool_words`: three letters or more, not
// a function word, and after prior_words' stemming the same word as one of them or, four
// letters or more, a prefix of one or one of them a prefix of it.
bool echoes_tool_word(std::string_view word, const std::vector<std::string>& tool_words);

}  // namespace np
