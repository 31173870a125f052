// test_decode.cpp — the decoding policy with scripted logits ([decode]), and the tool
// caller end to end on a random-weight model ([tool_caller]).
#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <cctype>
#include <cmath>
#include <limits>
#include <random>
#include <string>
#include <vector>

#include "decode/call_grammar.h"
#include "decode/greedy.h"
#include "decode/token_trie.h"
#include "decode/tool_prior.h"
#include "np/dataset.h"
#include "np/model.h"
#include "np/tool_caller.h"
#include "np/tools.h"
#include "test_util.h"

using np::Code;

namespace {

const np::Tokenizer& tokenizer() {
  static const np::Tokenizer tok = np::synthetic_tokenizer(2048).take();
  return tok;
}

// A scripted "model" that wants to write `target`: each step it gives the token whose text
// is the longest prefix of what is left a high logit, EOS once the target is written, and
// small seeded noise to everything else. Once the grammar steers away from the target, the
// script keeps asking for EOS, so the noise decides (any allowed token must do).
struct Script {
  explicit Script(std::string t, const np::Tokenizer* k = &tokenizer()) : target(std::move(t)), tok_(k) {}
  std::string target;
  const np::Tokenizer* tok_;
  std::string written;
  bool diverged = false;
  std::mt19937 rng{42};

  np::Status step(int32_t token, float* logits) {
    const np::Tokenizer& tok = *tok_;
    std::vector<float> scratch;  // jump-forward feeds tokens without asking for logits
    if (!logits) {
      scratch.resize(static_cast<size_t>(tok.vocab_size()));
      logits = scratch.data();
    }
    if (token != 1) written += token == 4 ? "<tool_call>" : tok.token_text(token);
    if (written.size() > target.size() || target.compare(0, written.size(), written) != 0) diverged = true;
    std::uniform_real_distribution<float> noise(-1.0f, 1.0f);
    for (int32_t i = 0; i < tok.vocab_size(); ++i) logits[i] = noise(rng);
    int32_t best = 1;
    if (!diverged) {
      const std::string rest = target.substr(written.size());
      size_t best_len = 0;
      for (int32_t i = 0; i < tok.vocab_size(); ++i) {
        const std::string& t = i == 4 ? tok.piece(4) : tok.token_text(i);
        if (t.empty() || tok.type(i) == np::TokenType::kControl) continue;
        if (t.size() > best_len && rest.compare(0, t.size(), t) == 0) best = i, best_len = t.size();
      }
    }
    logits[best] = 10.0f;
    return np::Status::Ok();
  }
};

np::ToolSet tool_set() {
  auto set = np::parse_tools(R"([
    {"name":"getWeather","description":"Weather for a city","parameters":{
      "location":{"type":"string","description":"city","required":true},
      "days":{"type":"integer","description":"how many days"}}},
    {"type":"function","function":{"name":"Lights.Set","description":"lights","parameters":{
      "type":"object","properties":{"on":{"type":"boolean"},"room":{"type":"string","enum":["kitchen","hall"]}},
      "required":["on"]}}}])");
  REQUIRE(set.ok());
  return set.take();
}

std::vector<np::GrammarTool> grammar_of(const np::ToolSet& set) {
  // The same conversion the tool caller makes (kept simple here: string/integer/boolean/enum).
  std::vector<np::GrammarTool> out;
  for (const auto& t : set.tools) {
    np::GrammarTool g{t.name, {}};
    for (const auto& p : t.params) {
      np::GrammarParam gp{p.name, np::ValueKind::kAny, {}};
      if (!p.enum_values.empty()) {
        gp.kind = np::ValueKind::kEnum;
        for (const auto& v : p.enum_values) gp.literals.push_back(v.dump());
      } else if (p.type == "string") gp.kind = np::ValueKind::kString;
      else if (p.type == "integer") gp.kind = np::ValueKind::kInteger;
      else if (p.type == "boolean") gp.kind = np::ValueKind::kBoolean;
      g.params.push_back(gp);
    }
    out.push_back(g);
  }
  return out;
}

// The script decoded under `spec` (its tokenizer set here).
np::DecodeOutput decode_spec(Script& s, np::DecodeSpec spec) {
  spec.tokenizer = s.tok_;
  np::DecodeOutput out;
  REQUIRE(np::greedy_decode(spec, [&](int32_t t, float* l) { return s.step(t, l); }, &out).ok());
  return out;
}

// Both decoding priors on, with fixed scores for tool_set()'s two tools and a query to copy from.
void with_test_priors(np::DecodeSpec* spec) {
  static const std::vector<float> scores = {1.0f, 2.0f};
  spec->tool_scores = &scores;
  spec->name_weight = 1.0f;
  spec->call_weight = 2.0f;
  spec->copy_source = "weather in San Francisco for 3 days";
  spec->copy_weight = 2.0f;
}

np::DecodeOutput decode(Script& s, const std::vector<np::GrammarTool>& tools, int budget = 200,
                        bool constrained = true) {
  np::DecodeSpec spec;
  spec.budget = budget;
  spec.constrained = constrained;
  spec.tools = &tools;
  return decode_spec(s, spec);
}

// One call (`call`, JSON) that the script wants to write, decoded with the copy prior at
// `copy` over `source` and the echo prior at `echo` over `words`: what the decoder wrote, and
// the first call it parses to (more may follow: once the script diverges, noise writes the rest).
struct PriorRun {
  np::DecodeOutput out;
  np::Call call;
};
PriorRun decode_with_priors(const std::string& call, const np::ToolSet& set, const std::string& source, float copy,
                            const std::vector<np::ToolWords>* words = nullptr, float echo = 0.0f) {
  const auto tools = np::grammar_tools(set);
  Script s{"<tool_call> [" + call + "]"};
  np::DecodeSpec spec;
  spec.budget = 200;
  spec.tools = &tools;
  spec.copy_source = source;
  spec.copy_weight = copy;
  spec.tool_words = words;
  spec.echo_weight = echo;
  PriorRun r;
  r.out = decode_spec(s, spec);
  INFO(r.out.text);
  auto calls = np::parse_calls(r.out.text, set);
  REQUIRE(calls.ok());
  REQUIRE(calls.value().size() >= 1);
  r.call = calls.value()[0];
  return r;
}

std::string weather_call(const std::string& location) {
  return "{\"name\":\"get_weather\",\"arguments\":{\"location\":\"" + location + "\"}}";
}

}  // namespace

TEST_CASE("a model that writes a valid answer is followed exactly", "[decode]") {
  const np::ToolSet set = tool_set();
  const auto tools = grammar_of(set);
  Script s{"<tool_call> [{\"name\":\"get_weather\",\"arguments\":{\"location\":\"San Francisco\",\"days\":3}},"
           "{\"name\":\"lights_set\",\"arguments\":{\"on\":true,\"room\":\"hall\"}}]"};
  np::DecodeOutput out = decode(s, tools);
  CHECK_FALSE(s.diverged);
  CHECK(out.stop_reason == "complete");
  CHECK_FALSE(out.completed);
  CHECK(out.ids.front() == 4);
  CHECK(out.text == "[{\"name\":\"get_weather\",\"arguments\":{\"location\":\"San Francisco\",\"days\":3}},"
                    "{\"name\":\"lights_set\",\"arguments\":{\"on\":true,\"room\":\"hall\"}}]");
  auto calls = np::parse_calls(out.text, set);
  REQUIRE(calls.ok());
  REQUIRE(calls.value().size() == 2);
  CHECK(calls.value()[0].name == "getWeather");  // the caller's spelling comes back
  CHECK(calls.value()[1].name == "Lights.Set");
  CHECK(calls.value()[1].arguments["room"] == "hall");
}

TEST_CASE("the grammar overrides a model that goes wrong", "[decode]") {
  const np::ToolSet set = tool_set();
  const auto tools = grammar_of(set);
  const char* wrong[] = {
      "[{\"name\":\"get_wether\",\"arguments\":{}}]",                        // undeclared tool
      "[{\"name\":\"get_weather\",\"arguments\":{\"city\":\"Paris\"}}]",        // unknown key
      "[{\"name\":\"get_weather\",\"arguments\":{\"days\":\"three\"}}]",        // wrong type
      "[{\"name\":\"lights_set\",\"arguments\":{\"room\":\"garage\"}}]",        // not in the enum
      "[{\"name\":\"lights_set\",\"arguments\":{\"on\":true,\"on\":false}}]",   // key twice
      "Sure! Here is the call: get_weather(Paris)",                             // prose
      "[{\"name\": \"get_weather\", \"arguments\": {}}]",                       // spaces
  };
  for (const char* target : wrong) {
    INFO(target);
    Script s{target};
    np::DecodeOutput out = decode(s, tools);
    CHECK(s.diverged);
    auto calls = np::parse_calls(out.text, set);
    INFO(out.text);
    REQUIRE(calls.ok());
    for (const auto& c : calls.value()) {
      CHECK((c.name == "getWeather" || c.name == "Lights.Set"));
      const auto& tool = set.tools[c.tool_index];
      for (auto it = c.arguments.begin(); it != c.arguments.end(); ++it) {
        bool declared = false;
        for (const auto& p : tool.params) declared |= p.name == it.key();
        CHECK(declared);
      }
      if (c.arguments.contains("days")) CHECK(c.arguments["days"].is_number_integer());
      if (c.arguments.contains("room")) CHECK((c.arguments["room"] == "kitchen" || c.arguments["room"] == "hall"));
    }
  }
}

TEST_CASE("a spent budget still yields valid JSON, flagged", "[decode]") {
  const np::ToolSet set = tool_set();
  const auto tools = grammar_of(set);
  for (int budget = 1; budget < 40; budget += 3) {
    Script s{"<tool_call> [{\"name\":\"get_weather\",\"arguments\":{\"location\":\"a very long city name that goes on\"}}]"};
    np::DecodeOutput out = decode(s, tools, budget);
    INFO(out.text);
    CHECK(static_cast<int>(out.ids.size()) <= budget);
    CHECK(out.stop_reason == "max_tokens");
    CHECK(out.completed);
    CHECK(np::parse_calls(out.text, set).ok());
  }
}

TEST_CASE("unconstrained decoding returns the text as written", "[decode]") {
  const np::ToolSet set = tool_set();
  const auto tools = grammar_of(set);
  Script s{"hello world"};
  np::DecodeOutput out = decode(s, tools, 50, false);
  CHECK(out.text == "hello world");
  CHECK(out.stop_reason == "eos");
  CHECK(np::parse_calls(out.text, set).status().code() == Code::kInvalidInput);
}

TEST_CASE("the token callback sees every token and can stop the call", "[decode]") {
  const np::ToolSet set = tool_set();
  const auto tools = grammar_of(set);
  Script s{"<tool_call> [{\"name\":\"get_weather\",\"arguments\":{}}]"};
  np::DecodeSpec spec;
  spec.tokenizer = &tokenizer();
  spec.budget = 100;
  spec.tools = &tools;
  std::string seen;
  int calls = 0;
  spec.on_token = [&](int32_t, const std::string& text) {
    seen += text;
    return ++calls < 5;
  };
  np::DecodeOutput out;
  np::Status st = np::greedy_decode(spec, [&](int32_t t, float* l) { return s.step(t, l); }, &out);
  CHECK(st.code() == Code::kAborted);
  CHECK(calls == 5);
  CHECK(seen.rfind("<tool_call>", 0) == 0);
}

TEST_CASE("tool caller on a random model: always a valid answer", "[tool_caller]") {
  np::ToolCaller caller(np_test::random_model(5, np::ModelConfig::small(), np::GgmlType::Q8_0));
  const std::string tools = R"([{"name":"get_weather","description":"Get current weather for a city.","parameters":{"location":{"type":"string","description":"City name.","required":true}}}])";

  auto r = caller.call("What's the weather in San Francisco?", tools);
  REQUIRE(r.ok());
  CHECK(r.value().valid);
  CHECK_FALSE(r.value().truncated);
  CHECK(r.value().input_ids[0] != 5);
  // query tokens, then <tools>, then the tools JSON
  const auto q = caller.model().tokenizer().encode("What's the weather in San Francisco?");
  REQUIRE(r.value().input_ids.size() > q.size());
  CHECK(std::equal(q.begin(), q.end(), r.value().input_ids.begin()));
  CHECK(r.value().input_ids[q.size()] == 5);

  // Budgets from 1 token up: the answer parses every time.
  for (int budget : {1, 2, 3, 5, 8, 13}) {
    np::CallOptions o;
    o.max_tokens = budget;
    auto rb = caller.call("turn it up", tools, o);
    REQUIRE(rb.ok());
    CHECK(rb.value().valid);
    CHECK(rb.value().output_tokens <= budget);
    CHECK(np::parse_calls(rb.value().raw, np::parse_tools(tools).value()).ok());
  }

  // An input longer than the context is cut and flagged.
  std::string long_query;
  for (int i = 0; i < 400; ++i) long_query += "word" + std::to_string(i) + " ";
  auto rl = caller.call(long_query, tools);
  REQUIRE(rl.ok());
  CHECK(rl.value().truncated);
  CHECK(rl.value().input_tokens == caller.model().config().max_enc_len);
  CHECK(rl.value().input_ids[caller.model().config().max_enc_len - 2] == 5);  // query cut to L-2, then <tools>
  CHECK(std::count(rl.value().input_ids.begin(), rl.value().input_ids.end(), 5) == 1);

  // Wrong use gets a clear code.
  CHECK(caller.call("", tools).status().code() == Code::kInvalidInput);
  CHECK(caller.call("hi", "{\"name\":\"x\"}").status().code() == Code::kInvalidTools);
  CHECK(caller.call("hi", "[{\"description\":\"no name\"}]").status().code() == Code::kInvalidTools);
  np::CallOptions stop;
  stop.on_token = [](int32_t, const std::string&) { return false; };
  CHECK(caller.call("hi", tools, stop).status().code() == Code::kAborted);
  np::CallOptions neg;
  neg.max_tokens = -1;
  CHECK(caller.call("hi", tools, neg).status().code() == Code::kInvalidInput);

  // The lexical tool prior reaches decoding: at full weight it picks the tool the query names
  // and keeps the answer from being empty, whatever the random weights say.
  const std::string two = R"([{"name":"get_weather","description":"Current weather for a city.","parameters":{"location":{"type":"string","description":"City name."}}},
                              {"name":"set_alarm","description":"Wake me up at a time.","parameters":{"time":{"type":"string","description":"When."}}}])";
  for (const auto& [query, want] : {std::pair<const char*, const char*>{"weather in Lagos", "get_weather"},
                                    std::pair<const char*, const char*>{"alarm for six, wake me", "set_alarm"}}) {
    np::CallOptions o;
    o.tool_prior_name = 100.0f;
    o.tool_prior_call = 100.0f;
    auto rp = caller.call(query, two, o);
    REQUIRE(rp.ok());
    INFO(query << " -> " << rp.value().raw);
    REQUIRE_FALSE(rp.value().calls.empty());
    CHECK(rp.value().calls[0].name == want);
  }
  for (const float bad : {std::nanf(""), 1e9f, std::numeric_limits<float>::infinity()}) {
    np::CallOptions o;
    o.tool_prior_call = bad;
    CHECK(caller.call("hi", tools, o).status().code() == Code::kInvalidInput);
    np::CallOptions m;
    m.tool_prior_margin = bad;
    CHECK(caller.call("hi", tools, m).status().code() == Code::kInvalidInput);
  }

  // The result JSON is valid JSON with the documented fields.
  auto j = nlohmann::json::parse(np::call_result_to_json(r.value()), nullptr, false);
  REQUIRE(j.is_object());
  for (const char* k : {"calls", "raw", "valid", "truncated", "completed", "stop_reason", "tokens", "timings", "prior_overrides"}) CHECK(j.contains(k));
}

TEST_CASE("constrained decoding takes the best allowed token however deep it ranks", "[decode]") {
  // Random logits at every step over an 8192-token vocabulary: where the grammar allows few
  // tokens (digits after "days":, a closing quote...) the best allowed one ranks deep, so every
  // tier of the descending scan (64, 512, 4096, the rest) is reached. Each generated token is
  // checked against a brute-force scan of the whole vocabulary with the same grammar.
  static const np::Tokenizer tok = np::synthetic_tokenizer(8192).take();
  const np::ToolSet set = tool_set();
  const auto tools = grammar_of(set);
  for (uint32_t seed : {1u, 2u, 3u, 4u}) {
    INFO("seed " << seed);
    std::mt19937 rng(seed);
    std::vector<std::vector<float>> seen;
    np::DecodeSpec spec;
    spec.tokenizer = &tok;
    spec.budget = 60;
    spec.tools = &tools;
    np::DecodeOutput out;
    REQUIRE(np::greedy_decode(spec, [&](int32_t, float* l) {
      std::normal_distribution<float> z(0.0f, 3.0f);
      if (!l) return np::Status::Ok();
      for (int32_t i = 0; i < tok.vocab_size(); ++i) l[i] = z(rng);
      seen.emplace_back(l, l + tok.vocab_size());
      return np::Status::Ok();
    }, &out).ok());
    REQUIRE(out.ids.size() <= seen.size());
    np::CallGrammar g(&tools);
    int deepest = 0;
    for (size_t step = 0; step < out.ids.size(); ++step) {
      const std::vector<float>& l = seen[step];
      std::vector<int32_t> order(static_cast<size_t>(tok.vocab_size()));
      for (int32_t i = 0; i < tok.vocab_size(); ++i) order[i] = i;
      std::sort(order.begin(), order.end(), [&](int32_t a, int32_t b) { return l[a] > l[b] || (l[a] == l[b] && a < b); });
      int32_t want = -1;
      for (size_t r = 0; r < order.size() && want < 0; ++r) {
        const int32_t id = order[r];
        np::CallGrammar trial = g;
        bool ok;
        if (id == spec.tool_call_id) ok = step == 0;
        else if (id == spec.eos_id) ok = trial.done();
        else {
          const np::TokenType type = tok.type(id);
          ok = type != np::TokenType::kControl && type != np::TokenType::kUnknown && type != np::TokenType::kUnused &&
               !tok.token_text(id).empty() && trial.feed(tok.token_text(id));
        }
        if (ok) {
          want = id;
          g = trial;
          deepest = std::max(deepest, static_cast<int>(r));
        }
      }
      INFO("step " << step);
      REQUIRE(out.ids[step] == want);
    }
    CHECK(deepest >= 512);  // the scan went past the first two tiers
  }
}

namespace {

np::DecodeOutput decode_with_prior(Script& s, const std::vector<np::GrammarTool>& tools, const std::vector<float>& scores,
                                   float name_weight, float call_weight, float call_margin = 0.0f,
                                   float sole_weight = 0.0f, const std::vector<std::vector<float>>* rest = nullptr,
                                   int first_call_ban = -1) {
  np::DecodeSpec spec;
  spec.budget = 200;
  spec.tools = &tools;
  spec.tool_scores = &scores;
  spec.rest_scores = rest;
  spec.first_call_ban = first_call_ban;
  spec.name_weight = name_weight;
  spec.call_weight = call_weight;
  spec.call_margin = call_margin;
  spec.sole_weight = sole_weight;
  return decode_spec(s, spec);
}

}  // namespace

TEST_CASE("first_call_ban keeps one tool out of the first call only", "[decode]") {
  const np::ToolSet set = tool_set();
  const auto tools = grammar_of(set);
  // The script wants lights_set twice; with it barred from the first call the first call names
  // the other tool and the second may still be lights_set (the script's name after noise).
  const std::string want =
      "<tool_call> [{\"name\":\"lights_set\",\"arguments\":{\"on\":true}},{\"name\":\"lights_set\",\"arguments\":{\"on\":false}}]";
  const std::vector<float> scores = {0.0f, 0.0f};
  for (const int ban : {-1, 1, 0}) {
    INFO("ban " << ban);
    Script s{want};
    const np::DecodeOutput out = decode_with_prior(s, tools, scores, 1.0f, 0.0f, 0.0f, 0.0f, nullptr, ban);
    INFO(out.text);
    auto calls = np::parse_calls(out.text, set);
    REQUIRE(calls.ok());
    REQUIRE(calls.value().size() >= 1);
    CHECK(calls.value()[0].name == (ban == 1 ? "getWeather" : "Lights.Set"));
    if (ban == 0) {  // barring the tool the script does not want changes nothing
      CHECK(out.text == want.substr(std::string("<tool_call> ").size()));
    }
  }
}

TEST_CASE("second_look_tool: a first call that took the second request's tool", "[decode]") {
  auto parsed = np::parse_tools(R"([
    {"name":"air_fryer_cook","description":"Run the air fryer for a dish.","parameters":{
      "dish_item":{"type":"string","description":"What to cook."},"crisp_minutes":{"type":"integer"}}},
    {"name":"candle_flicker_effect","description":"Make lights flicker like candles.","parameters":{
      "enclosure":{"type":"string","description":"Room."}}},
    {"name":"whitelist_correspondent","description":"Make sure mail from an address never lands in junk.","parameters":{
      "trusted_mailbox":{"type":"string"}}}])");
  REQUIRE(parsed.ok());
  const np::ToolSet set = parsed.take();
  const auto words = np::tool_words(set);
  const auto calls = [&](const char* json) {
    auto c = np::parse_calls(json, set);
    REQUIRE(c.ok());
    return c.take();
  };
  const char* fryer_twice = R"([{"name":"air_fryer_cook","arguments":{"dish_item":"fake candlelight"}},
                               {"name":"air_fryer_cook","arguments":{"dish_item":"falafel","crisp_minutes":12}}])";
  CHECK(np::second_look_tool("fake candlelight in the balcony, then air fryer, falafel, 12 minutes", calls(fryer_twice), words) == 0);
  CHECK(np::second_look_tool("Fake candlelight in the balcony; Air Fryer, falafel", calls(fryer_twice), words) == 0);
  // The tool is named before or among the first call's values: one tool twice, as asked.
  CHECK(np::second_look_tool("air fryer: fake candlelight, then falafel", calls(fryer_twice), words) == -1);
  CHECK(np::second_look_tool("fake candlelight in the air fryer, then falafel", calls(fryer_twice), words) == -1);
  // Named after the values but with no break before it: still the first request.
  const char* trust_twice = R"([{"name":"whitelist_correspondent","arguments":{"trusted_mailbox":"bookings@hotel.it"}},
                               {"name":"whitelist_correspondent","arguments":{"trusted_mailbox":"sofia@uni.edu"}}])";
  CHECK(np::second_look_tool("bookings@hotel.it keeps going to junk, fix that. also, trust sofia@uni.edu", calls(trust_twice), words) == -1);
  // Not the case: two tools, one call, no word of the tool at all, a value the query lacks.
  CHECK(np::second_look_tool("fake candlelight in the balcony, then air fryer, falafel",
                             calls(R"([{"name":"candle_flicker_effect","arguments":{"enclosure":"balcony"}},
                                       {"name":"air_fryer_cook","arguments":{"dish_item":"falafel"}}])"), words) == -1);
  CHECK(np::second_look_tool("fake candlelight, then air fryer", calls(R"([{"name":"air_fryer_cook","arguments":{"dish_item":"fake candlelight"}}])"), words) == -1);
  CHECK(np::second_look_tool("fake candlelight, then falafel", calls(fryer_twice), words) == -1);
  CHECK(np::second_look_tool("something else, then air fryer, falafel", calls(fryer_twice), words) == -1);
}

TEST_CASE("the lexical tool prior moves the name choice only as far as its weight", "[decode]") {
  const np::ToolSet set = tool_set();
  const auto tools = grammar_of(set);
  const std::string want = "<tool_call> [{\"name\":\"lights_set\",\"arguments\":{\"on\":true}}]";
  // The script's token has logit 10, the rest noise in [-1, 1]: a bias of 20 on get_weather
  // outweighs that, one of 2 does not.
  for (const float weight : {0.0f, 0.1f, 1.0f}) {
    INFO("name weight " << weight);
    Script s{want};
    const np::DecodeOutput out = decode_with_prior(s, tools, {20.0f, 0.0f}, weight, 0.0f);
    auto calls = np::parse_calls(out.text, set);
    REQUIRE(calls.ok());
    REQUIRE(calls.value().size() >= 1);
    if (weight == 1.0f) {
      CHECK(calls.value()[0].name == "getWeather");
      CHECK(out.prior_overrides >= 1);
    } else {
      CHECK(out.text == "[{\"name\":\"lights_set\",\"arguments\":{\"on\":true}}]");
      CHECK(out.prior_overrides == 0);
    }
  }
  // Scores favouring the model's own choice change nothing.
  Script s{want};
  const np::DecodeOutput out = decode_with_prior(s, tools, {0.0f, 20.0f}, 1.0f, 1.0f);
  CHECK(out.text == "[{\"name\":\"lights_set\",\"arguments\":{\"on\":true}}]");
  CHECK(out.prior_overrides == 0);
}

TEST_CASE("the sole match: the only tool that shares a word with the query gains the extra weight", "[decode]") {
  const np::ToolSet set = tool_set();
  const auto tools = grammar_of(set);
  const std::string want = "<tool_call> [{\"name\":\"lights_set\",\"arguments\":{\"on\":true}}]";
  struct Case {
    std::vector<float> scores;
    float sole;
    bool weather;  // whether get_weather wins over the script's lights_set
  };
  // name weight 1: a score of 2 is no match for the script's logit of 10 (noise at most 2);
  // the sole match's 15 more is, but only where get_weather is the only tool with a score, and
  // only while the name prior is on.
  for (const Case& c : {Case{{2.0f, 0.0f}, 0.0f, false}, Case{{2.0f, 0.0f}, 15.0f, true},
                        Case{{2.0f, 0.5f}, 15.0f, false}, Case{{0.0f, 0.0f}, 15.0f, false}}) {
    INFO("scores " << c.scores[0] << ", " << c.scores[1] << "; sole " << c.sole);
    Script s{want};
    const np::DecodeOutput out = decode_with_prior(s, tools, c.scores, 1.0f, 0.0f, 0.0f, c.sole);
    auto calls = np::parse_calls(out.text, set);
    REQUIRE(calls.ok());
    REQUIRE(calls.value().size() >= 1);
    CHECK((calls.value()[0].name == "getWeather") == c.weather);
    CHECK((out.prior_overrides >= 1) == c.weather);
  }
  // The name weight at 0 turns the sole match off too.
  Script s{want};
  const np::DecodeOutput off = decode_with_prior(s, tools, {2.0f, 0.0f}, 0.0f, 0.0f, 0.0f, 15.0f);
  CHECK(off.text == "[{\"name\":\"lights_set\",\"arguments\":{\"on\":true}}]");
}

TEST_CASE("a call after the first is named from the rest of the request", "[decode]") {
  const np::ToolSet set = tool_set();
  const auto tools = grammar_of(set);
  // The script calls lights_set twice; the whole query's scores favour lights_set, the words
  // lights_set leaves unmatched favour get_weather (a bias of 20 beats the script's 10).
  const std::string want = "<tool_call> [{\"name\":\"lights_set\",\"arguments\":{\"on\":true}},"
                           "{\"name\":\"lights_set\",\"arguments\":{\"on\":false}}]";
  const std::vector<float> scores = {0.0f, 20.0f};
  const std::vector<std::vector<float>> rest = {{0.0f, 20.0f}, {20.0f, 0.0f}};
  for (const bool with_rest : {false, true}) {
    INFO("rest scores " << with_rest);
    Script s{want};
    const np::DecodeOutput out = decode_with_prior(s, tools, scores, 1.0f, 0.0f, 0.0f, 0.0f, with_rest ? &rest : nullptr);
    INFO(out.text);
    auto calls = np::parse_calls(out.text, set);
    REQUIRE(calls.ok());
    REQUIRE(calls.value().size() >= 2);
    CHECK(calls.value()[0].name == "Lights.Set");
    CHECK(calls.value()[1].name == (with_rest ? "getWeather" : "Lights.Set"));
  }
}

TEST_CASE("the lexical tool prior weighs against an empty answer when a tool matches", "[decode]") {
  const np::ToolSet set = tool_set();
  const auto tools = grammar_of(set);
  for (const float call_weight : {0.0f, 0.5f, 2.0f}) {
    for (const float best : {0.0f, 8.0f}) {
      INFO("call weight " << call_weight << ", best score " << best);
      Script s{"<tool_call> []"};
      const np::DecodeOutput out = decode_with_prior(s, tools, {best, 0.0f}, 0.0f, call_weight);
      // 0.5 * 8 = 4 is not enough against a logit of 10 (noise 2 at most); 2 * 8 = 16 is.
      if (call_weight * best > 12.0f) {
        CHECK(out.text != "[]");
        CHECK(out.prior_overrides >= 1);
        CHECK(np::parse_calls(out.text, set).ok());
      } else {
        CHECK(out.text == "[]");
        CHECK(out.prior_overrides == 0);
      }
      CHECK(out.no_call_prob > 0.5f);  // the model's own probability, whatever the prior chose
    }
  }
}

TEST_CASE("the empty answer's margin favours `[]` where no tool shares a word with the query", "[decode]") {
  const np::ToolSet set = tool_set();
  const auto tools = grammar_of(set);
  const std::string call = "<tool_call> [{\"name\":\"get_weather\",\"arguments\":{\"location\":\"Oslo\"}}]";
  for (const float margin : {0.0f, 1.0f, 4.0f}) {
    for (const float best : {0.0f, 8.0f}) {
      INFO("margin " << margin << ", best score " << best);
      Script s{call};
      const np::DecodeOutput out = decode_with_prior(s, tools, {best, 0.0f}, 0.0f, 4.0f, margin);
      // `[]` gets 4 * (margin - best): 16 beats the model's logit of 10 (noise 2 at most), 4 does not.
      if (4.0f * (margin - best) > 12.0f) {
        CHECK(out.text == "[]");
        CHECK(out.prior_overrides >= 1);
      } else {
        CHECK(out.text != "[]");
        CHECK_FALSE(s.diverged);
      }
    }
  }
}

TEST_CASE("with a margin, a tool's words push toward a call at most as far as none push toward `[]`", "[decode]") {
  const np::ToolSet set = tool_set();
  const auto tools = grammar_of(set);
  struct Case {
    float margin, best;
    bool empty;  // the answer stays `[]` (the script wants it: logit 10, noise 2 at most)
  };
  // `[]` gets 4 * (margin - best), never below -4 * margin where margin > 0.
  for (const Case& c : {Case{0.0f, 8.0f, false},   // no margin, no floor: -32 overrides the model
                        Case{1.0f, 8.0f, true},    // floored at -4: the model's `[]` stands
                        Case{1.0f, 1.5f, true},    // -2
                        Case{1.0f, 0.5f, true},    // +2
                        Case{4.0f, 8.0f, false}}) {  // floored at -16: still overrides
    INFO("margin " << c.margin << ", best score " << c.best);
    Script s{"<tool_call> []"};
    const np::DecodeOutput out = decode_with_prior(s, tools, {c.best, 0.0f}, 0.0f, 4.0f, c.margin);
    INFO(out.text);
    CHECK((out.text == "[]") == c.empty);
    CHECK((out.prior_overrides == 0) == c.empty);
    CHECK(np::parse_calls(out.text, set).ok());
  }
}

TEST_CASE("lexical tool scores: shared words, their rarity, names counted twice", "[decode]") {
  CHECK(np::prior_words("Set alarms_forTomorrow, it's 7") == std::vector<std::string>{"set", "alarm", "tomorrow"});
  CHECK(np::prior_words("Playing the BOXES") == std::vector<std::string>{"play", "box"});
  auto set = np::parse_tools(R"([
    {"name":"getWeather","description":"Forecast for a city","parameters":{"city":{"type":"string","description":"City name"}}},
    {"name":"set_alarm","description":"Wake me at a time","parameters":{"time":{"type":"string","description":"When, in the city's time"}}},
    {"name":"calorie_lookup","description":"Nutrition of a dish","parameters":{}}])");
  REQUIRE(set.ok());
  const auto near = [](float a, double b) { return std::abs(a - b) < 1e-4; };
  // "weather" only in getWeather's name: 2 * (1 + ln 3); "city" in two tools: 1 + ln 1.5 each.
  std::vector<float> s = np::lexical_tool_scores("weather in this city", set.value());
  REQUIRE(s.size() == 3);
  CHECK(near(s[0], 2 * (1 + std::log(3.0)) + (1 + std::log(1.5))));
  CHECK(near(s[1], 1 + std::log(1.5)));
  CHECK(s[2] == 0.0f);
  // A prefix of four letters or more matches at 0.8 ("calories" -> "calori", a prefix of "calorie").
  s = np::lexical_tool_scores("calories in a burger", set.value());
  CHECK(near(s[2], 2 * 0.8 * (1 + std::log(3.0))));
  CHECK(s[0] == 0.0f);
  // An enum's string values are the tool's words too ("next" is one of playback's actions).
  auto media = np::parse_tools(R"([
    {"name":"play_music","description":"Play a song","parameters":{"query":{"type":"string"}}},
    {"name":"playback","description":"Control playback","parameters":{"action":{"type":"string","enum":["next","pause",3]}}}])");
  REQUIRE(media.ok());
  s = np::lexical_tool_scores("skip to the next song", media.value());
  REQUIRE(s.size() == 2);
  CHECK(near(s[0], 1 + std::log(2.0)));
  CHECK(near(s[1], 1 + std::log(2.0)));
  // The rest of a request once a call to a tool is written: the scores over the words that
  // tool does not match (each word weighs what it weighs in the whole query).
  std::vector<std::vector<float>> rest;
  const std::vector<float> all = np::lexical_tool_scores("weather in the city, and set an alarm", set.value(), &rest);
  CHECK(all == np::lexical_tool_scores("weather in the city, and set an alarm", set.value()));
  REQUIRE(rest.size() == 3);
  CHECK(rest[0] == np::lexical_tool_scores("set an alarm", set.value()));  // getWeather matched weather and city
  CHECK(rest[1] == np::lexical_tool_scores("weather", set.value()));       // set_alarm matched set, alarm and city
  CHECK(rest[2] == np::lexical_tool_scores("weather in the city, and set an alarm", set.value()));  // calorie_lookup none
  CHECK(np::lexical_tool_scores("hello", np::ToolSet{}, &rest).empty());
  CHECK(rest.empty());
  // Nothing shared, an empty list: zeros, no error.
  CHECK(np::lexical_tool_scores("hello there", set.value()) == std::vector<float>{0, 0, 0});
  CHECK(np::lexical_tool_scores("", set.value()) == std::vector<float>{0, 0, 0});
  CHECK(np::lexical_tool_scores("weather", np::ToolSet{}).empty());
}

TEST_CASE("the copy prior keeps string values pieces of the query, as far as its weight", "[decode]") {
  const np::ToolSet set = tool_set();
  for (const float weight : {0.0f, 1.0f, 20.0f}) {
    INFO("copy weight " << weight);
    const PriorRun r = decode_with_priors(weather_call("Londres"), set, "What is the weather in LONDON this week", weight);
    INFO(r.out.text);
    REQUIRE(r.call.arguments.contains("location"));
    const std::string value = r.call.arguments["location"].get<std::string>();
    if (weight < 10.0f) {  // the model's logit (10 against noise of at most 1) wins
      CHECK(value == "Londres");
      CHECK(r.out.prior_overrides == 0);
    } else {
      std::string folded = value;
      for (char& c : folded) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
      CHECK_FALSE(folded.empty());
      CHECK(std::string("what is the weather in london this week").find(folded) != std::string::npos);
      CHECK(r.out.prior_overrides >= 1);
    }
  }
}

TEST_CASE("the copy prior wants whole words: a value may not start or, once closed, end inside a word", "[decode]") {
  const np::ToolSet set = tool_set();
  const std::string folded_source = "what is the weather in london this week";
  const auto word_char = [](char c) { return std::isalnum(static_cast<unsigned char>(c)) != 0; };
  for (const char* wanted : {"ondon this", "London thi", "eather"}) {
    for (const float weight : {0.0f, 20.0f}) {
      INFO(wanted << ", copy weight " << weight);
      const PriorRun r = decode_with_priors(weather_call(wanted), set, "What is the weather in LONDON this week", weight);
      INFO(r.out.text);
      std::string value = r.call.arguments["location"].get<std::string>();
      if (weight == 0.0f) {
        CHECK(value == wanted);
        continue;
      }
      for (char& c : value) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
      bool whole = false;  // some place where it occurs in the query cuts no word
      for (size_t at = folded_source.find(value); at != std::string::npos && !whole; at = folded_source.find(value, at + 1)) {
        const size_t end = at + value.size();
        whole = (value.empty() || at == 0 || !word_char(folded_source[at - 1]) || !word_char(value.front())) &&
                (value.empty() || end == folded_source.size() || !word_char(folded_source[end]) || !word_char(value.back()));
      }
      CHECK(whole);
      CHECK(r.out.prior_overrides >= 1);
    }
  }
}

TEST_CASE("the copy prior reads a value closed by the token that opens the next (`\",\"` in an array)", "[decode]") {
  // The synthetic vocabulary plus the piece `","`, which real vocabularies have: one token
  // that closes an array's string and opens the next must not carry a cut word out.
  static const np::Tokenizer joined = [] {
    const np::Tokenizer& base = tokenizer();
    std::vector<std::string> pieces;
    std::vector<float> scores;
    std::vector<np::TokenType> types;
    for (int32_t i = 0; i < base.vocab_size(); ++i) {
      pieces.push_back(base.piece(i));
      scores.push_back(base.score(i));
      types.push_back(base.type(i));
    }
    pieces.push_back("\",\"");
    scores.push_back(-1e4f);
    types.push_back(np::TokenType::kNormal);
    return np::Tokenizer::from_pieces(std::move(pieces), std::move(scores), std::move(types), base.config()).take();
  }();
  REQUIRE(joined.piece_to_id("\",\"") >= 0);
  auto parsed = np::parse_tools(R"([{"name":"add_steps","description":"Add steps to a reminder","parameters":{
      "type":"object","properties":{"steps":{"type":"array","items":{"type":"string"}}},"required":["steps"]}}])");
  REQUIRE(parsed.ok());
  const np::ToolSet set = parsed.take();
  const auto tools = np::grammar_tools(set);
  const std::string source = "under email the landlord, add book a slot and call Mom";
  for (const float weight : {0.0f, 20.0f}) {
    INFO("copy weight " << weight);
    Script s{"<tool_call> [{\"name\":\"add_steps\",\"arguments\":{\"steps\":[\"lan\",\"book a slot\"]}}]", &joined};
    np::DecodeSpec spec;
    spec.budget = 200;
    spec.tools = &tools;
    spec.copy_source = source;
    spec.copy_weight = weight;
    const np::DecodeOutput out = decode_spec(s, spec);
    INFO(out.text);
    auto calls = np::parse_calls(out.text, set);
    REQUIRE(calls.ok());
    REQUIRE(calls.value().size() >= 1);
    const nlohmann::json& steps = calls.value()[0].arguments["steps"];
    REQUIRE(steps.is_array());
    REQUIRE(steps.size() >= 1);
    if (weight == 0.0f) {
      CHECK(steps[0] == "lan");
      CHECK(out.text.find("\"lan\",\"") != std::string::npos);
      continue;
    }
    CHECK(steps[0] != "lan");  // a cut word ("landlord") is no piece, closed by `","` or by `"`
    for (const auto& item : steps) {
      const std::string v = item.get<std::string>();
      bool whole = false;
      for (size_t at = source.find(v); at != std::string::npos && !whole; at = source.find(v, at + 1)) {
        const size_t end = at + v.size();
        whole = (at == 0 || !std::isalnum(static_cast<unsigned char>(source[at - 1]))) &&
                (end == source.size() || !std::isalnum(static_cast<unsigned char>(source[end])));
      }
      CHECK((v.empty() || whole));
    }
  }
}

TEST_CASE("the copy prior keeps the query's letter case", "[decode]") {
  const np::ToolSet set = tool_set();
  const std::string source = "What is the weather in LONDON this week";
  for (const char* wanted : {"london", "London", "LONdon"}) {
    for (const float weight : {0.0f, 20.0f}) {
      INFO(wanted << ", copy weight " << weight);
      const PriorRun r = decode_with_priors(weather_call(wanted), set, source, weight);
      INFO(r.out.text);
      const std::string value = r.call.arguments["location"].get<std::string>();
      if (weight == 0.0f) {
        CHECK(value == wanted);
        continue;
      }
      // The script knows only its own spelling (other tokens get noise), so the prior leaves a
      // piece as the query writes it: "LONDON" or one shorter, "" included.
      CHECK(value != wanted);
      CHECK(source.find(value) != std::string::npos);
      CHECK(r.out.prior_overrides >= 1);
    }
  }
}

TEST_CASE("the copy prior picks the enum value the query names", "[decode]") {
  const np::ToolSet set = tool_set();
  struct Case {
    const char* source;
    const char* want;  // the room the prior leaves (the script wants "hall"); nullptr: no room key
  };
  // room is optional: where the query names none of its values the key is left out (the next
  // test case); a required enum the query does not name is left to the model (there too).
  for (const Case& c : {Case{"kitchen lights on", "kitchen"}, Case{"lights on in the Hall and the kitchen", "hall"},
                        Case{"lights on", nullptr}, Case{"kitchenette lights on", nullptr}}) {
    for (const float weight : {0.0f, 20.0f}) {
      INFO(c.source << ", copy weight " << weight);
      const PriorRun r = decode_with_priors("{\"name\":\"lights_set\",\"arguments\":{\"on\":true,\"room\":\"hall\"}}",
                                            set, c.source, weight);
      INFO(r.out.text);
      const char* want = weight == 0.0f ? "hall" : c.want;
      if (want) CHECK(r.call.arguments["room"] == want);
      else CHECK_FALSE(r.call.arguments.contains("room"));
    }
  }
}

TEST_CASE("the echo prior keeps a value's words off the chosen tool's own words", "[decode]") {
  const np::ToolSet set = tool_set();
  const std::vector<np::ToolWords> words = np::tool_words(set);
  REQUIRE(words.size() == 2);
  // getWeather, "Weather for a city": its name's and description's words, stemmed like the tool prior's.
  const std::vector<std::string>& weather = words[0].echo;
  CHECK(weather == std::vector<std::string>{"city", "get", "weather"});  // sorted, each once
  CHECK(np::echoes_tool_word("weathers", weather));  // stemmed
  CHECK(np::echoes_tool_word("cities", weather) == false);  // "citi" is not "city"
  CHECK_FALSE(np::echoes_tool_word("the", weather));  // a function word
  CHECK_FALSE(np::echoes_tool_word("we", weather));   // under three letters
  CHECK_FALSE(np::echoes_tool_word("london", weather));
  CHECK(np::echoes_tool_word("light", words[1].echo));      // Lights.Set, "lights"

  // The content words of a value (three letters or more, not function words), lower-cased.
  const auto content_words = [](const std::string& v) {
    std::vector<std::string> out;
    std::string w;
    for (size_t i = 0; i <= v.size(); ++i) {
      const char c = i < v.size() ? static_cast<char>(std::tolower(static_cast<unsigned char>(v[i]))) : ' ';
      if (c >= 'a' && c <= 'z') {
        w.push_back(c);
        continue;
      }
      if (w.size() >= 3 && !np::is_function_word(w)) out.push_back(w);
      w.clear();
    }
    return out;
  };
  struct Case {
    const char* source;
    const char* wanted;
    bool echo;  // one of its content words is one of get_weather's words
  };
  const char* source = "What is the weather in LONDON this week";
  const char* later = "What is the LONDON weather this week";  // the echo comes second
  for (const Case& c : {Case{source, "weather in LONDON", true}, Case{source, "the weather", true}, Case{source, "LONDON", false},
                        Case{source, "this week", false}, Case{later, "LONDON weather", true},
                        Case{later, "LONDON weather this week", true}, Case{later, "LONDON", false}}) {
    for (const float weight : {0.0f, 20.0f}) {
      INFO(c.source << " -> " << c.wanted << ", echo weight " << weight);
      const PriorRun r = decode_with_priors(weather_call(c.wanted), set, c.source, 1.0f, &words, weight);
      const np::DecodeOutput& out = r.out;
      INFO(out.text);
      const std::string value = r.call.arguments["location"].get<std::string>();
      if (weight == 0.0f || !c.echo) {  // off, or nothing to avoid: the model's value, untouched
        CHECK(value == c.wanted);
        CHECK(out.prior_overrides == 0);
        continue;
      }
      const std::vector<std::string> content = content_words(value);
      CHECK_FALSE(content.empty());  // function words alone lose too
      for (const std::string& w : content) CHECK_FALSE(np::echoes_tool_word(w, weather));
      CHECK(std::string(c.source).find(value) != std::string::npos);  // a piece of the query, its case kept
      CHECK(out.prior_overrides >= 1);
    }
  }
}

TEST_CASE("the copy prior keeps numbers the query's numbers, signs included", "[decode]") {
  const np::ToolSet set = tool_set();
  struct Case {
    const char* source;
    int64_t wanted, copied;  // what the script writes; what the prior keeps of it
  };
  for (const Case& c : {Case{"weather in Oslo for 3 days", 37, 3}, Case{"weather in Oslo for -3 days", -37, -3},
                        Case{"weather in Oslo, 2 or 5 days", 58, 5}}) {
    for (const float weight : {0.0f, 20.0f}) {
      INFO(c.source << ", copy weight " << weight);
      const PriorRun r = decode_with_priors(
          "{\"name\":\"get_weather\",\"arguments\":{\"location\":\"Oslo\",\"days\":" + std::to_string(c.wanted) + "}}", set,
          c.source, weight);
      INFO(r.out.text);
      CHECK(r.call.arguments["location"] == "Oslo");  // a piece of the query already: untouched
      CHECK(r.call.arguments["days"].get<int64_t>() == (weight == 0.0f ? c.wanted : c.copied));
      CHECK((r.out.prior_overrides > 0) == (weight > 0.0f));
    }
  }
}

TEST_CASE("the copy prior's unit rule: a number goes where the word after it names the parameter", "[decode]") {
  auto parsed = np::parse_tools(R"([{"name":"plan_race","description":"Training plan for a race","parameters":{
      "type":"object","properties":{
        "weeks_out":{"type":"integer","description":"Weeks until the race."},
        "distance":{"type":"integer","description":"Race length in km."},
        "note":{"type":"string","description":"Anything else."}},"required":["weeks_out","distance"]}}])");
  REQUIRE(parsed.ok());
  const np::ToolSet set = parsed.take();
  const auto words = np::tool_words(set);
  REQUIRE(words.size() == 1);
  REQUIRE(words[0].params.size() == 3);
  CHECK(words[0].params[0] == std::vector<std::string>{"race", "until", "week"});  // "out": a function word; sorted, each once
  struct Case {
    const char* query;
    bool rule;       // tool_words given
    int weeks, distance;  // what comes out (the script wants weeks_out 8, distance 6); -1: not 6
  };
  for (const Case& c : {Case{"6 weeks to get ready for 8 km", true, 6, 8},
                        Case{"6 weeks to get ready for 8 km", false, 8, 6},
                        Case{"a 8-km race in 6-week time", true, 6, 8},
                        Case{"run 8 km over 6 sessions", true, 6, 8},   // a two-letter unit: "km" is distance's
                        Case{"run 8 km over 6 sessions", false, 8, 6},
                        Case{"6 people, 8 dogs", true, 8, 6},      // no parameter names the words: as the model wants
                        Case{"for 6 weeks, at 8:30", true, 6, -1}}) {  // "8:30" has no unit; 6 weeks is weeks_out's
    INFO(c.query << (c.rule ? " (rule on)" : " (rule off)"));
    const PriorRun r = decode_with_priors("{\"name\":\"plan_race\",\"arguments\":{\"weeks_out\":8,\"distance\":6}}", set,
                                          c.query, 20.0f, c.rule ? &words : nullptr);
    INFO(r.out.text);
    const nlohmann::ordered_json& args = r.call.arguments;
    REQUIRE(args.contains("weeks_out"));
    CHECK(args["weeks_out"] == c.weeks);
    REQUIRE(args.contains("distance"));
    if (c.distance >= 0) CHECK(args["distance"] == c.distance);
    else CHECK(args["distance"] != 6);
  }
}

TEST_CASE("the copy prior: a number the query says once fills one parameter of a call", "[decode]") {
  auto parsed = np::parse_tools(R"([{"name":"intervals","description":"Interval trainer","parameters":{
      "type":"object","properties":{
        "focus_span":{"type":"integer","description":"Minutes of each work interval."},
        "rest_span":{"type":"integer","description":"Minutes of each break."}},"required":["focus_span"]}}])");
  REQUIRE(parsed.ok());
  const np::ToolSet set = parsed.take();
  struct Case {
    const char* query;
    float weight;
    int rest;  // the rest_span that comes out (the script writes 25); -1: none
  };
  for (const Case& c : {Case{"focus in 25-minute sprints", 20.0f, -1}, Case{"focus in 25-minute sprints", 0.0f, 25},
                        Case{"25 minutes on, 25 off", 20.0f, 25}}) {  // said twice: both may take it
    INFO(c.query << ", copy weight " << c.weight);
    const PriorRun r = decode_with_priors("{\"name\":\"intervals\",\"arguments\":{\"focus_span\":25,\"rest_span\":25}}",
                                          set, c.query, c.weight);
    INFO(r.out.text);
    const nlohmann::ordered_json& args = r.call.arguments;
    CHECK(args["focus_span"] == 25);
    if (c.rest < 0) CHECK_FALSE(args.contains("rest_span"));
    else CHECK(args["rest_span"] == c.rest);
  }
}

TEST_CASE("the copy prior's direction rule: from X to Y puts X where a trip starts and Y where it ends", "[decode]") {
  auto parsed = np::parse_tools(R"([{"name":"plan_drive","description":"Plan a drive","parameters":{
      "type":"object","properties":{
        "leaving_spot":{"type":"string","description":"Where the drive starts."},
        "arrival_spot":{"type":"string","description":"Where it ends."},
        "note":{"type":"string","description":"Anything else."}},"required":["leaving_spot","arrival_spot"]}}])");
  REQUIRE(parsed.ok());
  const np::ToolSet set = parsed.take();
  const auto words = np::tool_words(set);
  struct Case {
    const char* query;
    bool rule;          // tool_words given
    const char* leaving;  // what the leaving spot starts with (the script writes the places swapped)
    const char* arrival;
  };
  for (const Case& c : {Case{"drive from Oslo to Bergen", true, "Oslo", "Bergen"},
                        Case{"drive from Oslo to Bergen", false, "Bergen", "Oslo"},
                        Case{"drive to Bergen from Oslo", true, "Oslo", "Bergen"},
                        Case{"drive from 'Oslo' into Bergen", true, "Oslo", "Bergen"},
                        Case{"drive Oslo to Bergen", true, "Bergen", "Oslo"}}) {  // no "from": left to the model
    INFO(c.query << (c.rule ? " (rule on)" : " (rule off)"));
    const PriorRun r = decode_with_priors(
        "{\"name\":\"plan_drive\",\"arguments\":{\"leaving_spot\":\"Bergen\",\"arrival_spot\":\"Oslo\"}}", set, c.query,
        20.0f, c.rule ? &words : nullptr);
    INFO(r.out.text);
    const nlohmann::ordered_json& args = r.call.arguments;
    REQUIRE(args.contains("leaving_spot"));
    REQUIRE(args.contains("arrival_spot"));
    CHECK(args["leaving_spot"].get<std::string>().rfind(c.leaving, 0) == 0);
    CHECK(args["arrival_spot"].get<std::string>().rfind(c.arrival, 0) == 0);
  }

  // Which parameters say start and end: the name's "from" and "to" count; a time does not.
  auto flights = np::parse_tools(R"([{"name":"search_flights","description":"Flights","parameters":{
      "from":{"type":"string","description":"Where from."},
      "toAccount":{"type":"string"},
      "on":{"type":"string","description":"Departure date."},
      "origin_city":{"type":"string","description":"Start and end of the loop."},
      "note":{"type":"string","description":"Anything else."}}}])");
  REQUIRE(flights.ok());
  const auto fw = np::tool_words(flights.value());
  REQUIRE(fw.size() == 1);
  CHECK(fw[0].directions == std::vector<uint8_t>{np::ToolWords::kStart, np::ToolWords::kEnd, 0, 0, 0});
  // The name's words split as the lexical prior splits them: capitals after capitals are one
  // word ("FROM_CITY" says from; "TOTAL" says no "to").
  auto caps = np::parse_tools(R"([{"name":"book_bus","description":"Bus tickets","parameters":{
      "FROM_CITY":{"type":"string"},"INTO_CITY":{"type":"string"},"TOTAL":{"type":"string"}}}])");
  REQUIRE(caps.ok());
  CHECK(np::tool_words(caps.value())[0].directions == std::vector<uint8_t>{np::ToolWords::kStart, np::ToolWords::kEnd, 0});
  // A value the query says twice may be either: the model's shorter one stays.
  for (const bool rule : {true, false}) {
    INFO("savings twice" << (rule ? " (rule on)" : " (rule off)"));
    const PriorRun r = decode_with_priors(
        "{\"name\":\"search_flights\",\"arguments\":{\"from\":\"savings\",\"toAccount\":\"savings\"}}", flights.value(),
        "move 5 from my savings into savings", 20.0f, rule ? &fw : nullptr);
    INFO(r.out.text);
    CHECK(r.call.arguments["from"] == "savings");
    CHECK(r.call.arguments["toAccount"] == "savings");
  }
}

TEST_CASE("the copy prior's naming rule: what follows \"as\", \"named\" or \"call it\" is the new name", "[decode]") {
  auto parsed = np::parse_tools(R"([{"name":"duplicate_note","description":"Copy a note","parameters":{
      "type":"object","properties":{
        "template_heading":{"type":"string","description":"Note to copy."},
        "clone_label":{"type":"string","description":"Name of the copy."}},"required":["template_heading","clone_label"]}}])");
  REQUIRE(parsed.ok());
  const np::ToolSet set = parsed.take();
  const auto words = np::tool_words(set);
  REQUIRE(words.size() == 1);
  CHECK(words[0].renames == std::vector<uint8_t>{np::ToolWords::kStart, np::ToolWords::kEnd});
  struct Case {
    const char* query;
    bool rule;   // tool_words given
    bool named;  // the new name ("Gifts draft") goes to clone_label (the script writes it in template_heading)
  };
  for (const Case& c : {Case{"duplicate Journal as Gifts draft", true, true},
                        Case{"duplicate Journal as Gifts draft", false, false},
                        Case{"make a copy of Journal named Gifts draft", true, true},
                        Case{"copy the Journal note and call it Gifts draft", true, true},
                        Case{"save Journal as 'Gifts draft'", true, true},
                        Case{"copy Journal, Gifts draft", true, false}}) {  // no cue: left to the model
    INFO(c.query << (c.rule ? " (rule on)" : " (rule off)"));
    const PriorRun r = decode_with_priors(
        "{\"name\":\"duplicate_note\",\"arguments\":{\"template_heading\":\"Gifts draft\",\"clone_label\":\"Journal\"}}", set,
        c.query, 20.0f, c.rule ? &words : nullptr);
    INFO(r.out.text);
    const nlohmann::ordered_json& args = r.call.arguments;
    REQUIRE(args.contains("template_heading"));
    REQUIRE(args.contains("clone_label"));
    // The rule says only where the new name goes; what the original is stays the model's
    // choice (this script's is the new name, so it settles on another piece of the query).
    CHECK((args["clone_label"].get<std::string>().rfind("Gifts", 0) == 0) == c.named);
    CHECK((args["template_heading"].get<std::string>().rfind("Gifts", 0) == 0) == !c.named);
  }

  // Which parameters hold the thing as it is and what it becomes: the name's words alone
  // ("Note to copy." in a description says nothing); a name that says both is neither.
  auto renames = np::parse_tools(R"([{"name":"rename","description":"Rename","parameters":{
      "old_name":{"type":"string"},
      "newName":{"type":"string"},
      "source_file":{"type":"string"},
      "copy_heading":{"type":"string"},
      "heading":{"type":"string","description":"Note to copy."},
      "original_copy":{"type":"string"},
      "news_topic":{"type":"string"}}}])");
  REQUIRE(renames.ok());
  const auto rw = np::tool_words(renames.value());
  REQUIRE(rw.size() == 1);
  CHECK(rw[0].renames == std::vector<uint8_t>{np::ToolWords::kStart, np::ToolWords::kEnd, np::ToolWords::kStart,
                                             np::ToolWords::kEnd, 0, 0, 0});
}

TEST_CASE("the copy prior: number words ground numbers; without any number in the query an optional number key is left out", "[decode]") {
  const np::ToolSet set = tool_set();
  struct Case {
    const char* source;
    int64_t days;  // what the prior leaves of the script's 3; -1: no days key
  };
  for (const Case& c : {Case{"weather in Oslo for three days", 3}, Case{"weather in Oslo for two days", 2},
                        Case{"weather in Oslo for a few days", -1}, Case{"weather in Oslo for a dozen days", 12}}) {
    for (const float weight : {0.0f, 20.0f}) {
      INFO(c.source << ", copy weight " << weight);
      const PriorRun r = decode_with_priors("{\"name\":\"get_weather\",\"arguments\":{\"location\":\"Oslo\",\"days\":3}}",
                                            set, c.source, weight);
      INFO(r.out.text);
      const nlohmann::ordered_json& args = r.call.arguments;
      CHECK(args["location"] == "Oslo");
      const int64_t want = weight == 0.0f ? 3 : c.days;
      if (want < 0) {
        CHECK_FALSE(args.contains("days"));
      } else {
        REQUIRE(args.contains("days"));
        CHECK(args["days"].get<int64_t>() == want);
      }
    }
  }
}

TEST_CASE("the copy prior never cuts a time, a date or a version: no value begins or ends inside one", "[decode]") {
  const np::ToolSet set = tool_set();
  const auto run = [&](const char* call, const char* source, float weight) {
    const PriorRun r = decode_with_priors(std::string("{\"name\":\"get_weather\",\"arguments\":") + call + "}", set, source, weight);
    INFO(source << ", copy weight " << weight << ": " << r.out.text);
    REQUIRE(r.call.arguments.contains("location"));
    return r.call.arguments;
  };
  // A number inside "10:00" or "2026-12-01" grounds nothing: the optional days key is left out.
  for (const char* source : {"weather in Oslo at 10:00", "weather in Oslo on 2026-12-01", "weather in Oslo, v1.2.3"}) {
    const auto on = run("{\"location\":\"Oslo\",\"days\":12}", source, 20.0f);
    const auto off = run("{\"location\":\"Oslo\",\"days\":12}", source, 0.0f);
    INFO(source);
    CHECK_FALSE(on.contains("days"));
    CHECK(off.contains("days"));
  }
  // A number beside a unit still counts.
  CHECK(run("{\"location\":\"Oslo\",\"days\":3}", "weather in Oslo at 10:00 for 3 days", 20.0f)["days"] == 3);
  // A string may not stop inside a date ("on 2026") nor start inside a time ("00").
  const auto date = run("{\"location\":\"Oslo on 2026\"}", "weather in Oslo on 2026-12-01", 20.0f);
  CHECK(date["location"] != "Oslo on 2026");
  CHECK(date["location"].get<std::string>().rfind("Oslo on 2026-12-01", 0) == 0);
  CHECK(run("{\"location\":\"Oslo on 2026\"}", "weather in Oslo on 2026-12-01", 0.0f)["location"] == "Oslo on 2026");
  CHECK(run("{\"location\":\"00\"}", "weather in Oslo at 10:00", 20.0f)["location"].get<std::string>().rfind("00", 0) != 0);
  // Two times joined by one '-' are two units: either may be a value.
  CHECK(run("{\"location\":\"7:30\"}", "weather in Oslo 9:15-7:30", 20.0f)["location"] == "7:30");
  CHECK(run("{\"location\":\"9:15\"}", "weather in Oslo 9:15-7:30", 20.0f)["location"] == "9:15");
}

TEST_CASE("the copy prior leaves out an optional enum key whose values the query does not name, and a required one be", "[decode]") {
  auto parsed = np::parse_tools(R"([{"name":"pin_tab","description":"Pin the tab","parameters":{
      "type":"object","properties":{
        "side":{"type":"string","enum":["left","right"]},
        "mode":{"type":"string","enum":["on","off"]}},"required":["mode"]}}])");
  REQUIRE(parsed.ok());
  const np::ToolSet set = parsed.take();
  struct Case {
    const char* query;
    float weight;
    const char* side;  // the side that comes out (the script writes "left"); nullptr: no side key
  };
  for (const Case& c : {Case{"pin this tab", 20.0f, nullptr}, Case{"pin this tab", 0.0f, "left"},
                        Case{"pin this tab to the LEFT", 20.0f, "left"},
                        Case{"pin this tab on the right", 20.0f, "right"},   // named: the named value
                        Case{"pin this tab leftward", 20.0f, nullptr}}) {   // "left" inside a word names nothing
    INFO(c.query << ", copy weight " << c.weight);
    const PriorRun r = decode_with_priors("{\"name\":\"pin_tab\",\"arguments\":{\"mode\":\"on\",\"side\":\"left\"}}", set,
                                          c.query, c.weight);
    INFO(r.out.text);
    const nlohmann::ordered_json& args = r.call.arguments;
    REQUIRE(args.contains("mode"));  // required: written whatever the query names, and
    CHECK(args["mode"] == "on");     // the model's value where the query names none ("on" in the last two)
    if (c.side) {
      REQUIRE(args.contains("side"));
      CHECK(args["side"] == c.side);
    } else {
      CHECK_FALSE(args.contains("side"));
    }
  }
}

TEST_CASE("the tool-list token memo: each list tokenized once while remembered, the oldest dropped", "[tool_caller]") {
  np::ToolsTokenMemo memo;
  int encodes = 0;
  const auto encode = [&](const std::string& j) {
    ++encodes;
    return std::vector<int32_t>(j.begin(), j.end());
  };
  CHECK(memo.get("[a]", encode) == std::vector<int32_t>{'[', 'a', ']'});
  CHECK(memo.get("[a]", encode) == std::vector<int32_t>{'[', 'a', ']'});
  CHECK(encodes == 1);
  for (size_t i = 0; i < np::ToolsTokenMemo::kEntries - 1; ++i) memo.get("[" + std::to_string(i) + "]", encode);
  CHECK(encodes == static_cast<int>(np::ToolsTokenMemo::kEntries));
  memo.get("[a]", encode);  // still remembered (8 entries), and now the most recent
  CHECK(encodes == static_cast<int>(np::ToolsTokenMemo::kEntries));
  memo.get("[new]", encode);  // drops the oldest, "[0]"
  memo.get("[0]", encode);
  CHECK(encodes == static_cast<int>(np::ToolsTokenMemo::kEntries) + 2);
  memo.get("[a]", encode);
  CHECK(encodes == static_cast<int>(np::ToolsTokenMemo::kEntries) + 2);

  // Through a ToolCaller: the ids are the tokenizer's whether the list was remembered or not.
  np::ToolCaller caller(np_test::random_model(5));
  const std::string a = R"([{"name":"get_weather","description":"Weather.","parameters":{"city":{"type":"string"}}}])";
  const std::string b = R"([{"name":"set_alarm","description":"Alarm.","parameters":{"time":{"type":"string"}}}])";
  const auto expected = [&](const std::string& tools) {
    bool truncated = false;
    return np::build_encoder_ids(caller.model().tokenizer(), caller.model().config(), "hi there",
                                 np::parse_tools(tools).value().normalized_json, &truncated);
  };
  for (const std::string* t : {&a, &b, &a, &b}) {
    auto r = caller.call("hi there", *t);
    REQUIRE(r.ok());
    CHECK(r.value().input_ids == expected(*t));
  }
  CHECK(expected(a) != expected(b));
}

TEST_CASE("the token trie lists exactly the tokens the grammar allows", "[decode][sparse]") {
  const np::Tokenizer& tok = tokenizer();
  const np::ToolSet set = tool_set();
  const auto tools = grammar_of(set);
  const np::TokenTrie trie(tok);
  std::vector<np::CallGrammar> scratch;
  // States along an answer, byte by byte: structure, names, keys, values, enums, numbers.
  const std::string answer = " [{\"name\":\"get_weather\",\"arguments\":{\"location\":\"San Francisco\",\"days\":31}},"
                             "{\"name\":\"lights_set\",\"arguments\":{\"on\":true,\"room\":\"hall\"}}]";
  np::CallGrammar g(&tools);
  int checked = 0, limited = 0;
  for (size_t i = 0; i <= answer.size(); ++i) {
    std::vector<int32_t> want;
    for (int32_t id = 0; id < tok.vocab_size(); ++id) {
      const np::TokenType type = tok.type(id);
      if (type == np::TokenType::kControl || type == np::TokenType::kUnknown || type == np::TokenType::kUnused) continue;
      const std::string& text = tok.token_text(id);
      np::CallGrammar t = g;
      if (!text.empty() && t.feed(text)) want.push_back(id);
    }
    std::vector<int32_t> got;
    REQUIRE(trie.allowed(g, 100000, &got, &scratch));
    std::sort(got.begin(), got.end());
    INFO("after " << answer.substr(0, i));
    CHECK(got == want);
    ++checked;
    // A limit below the count: refused (the caller then computes every logit).
    if (want.size() > 1) {
      CHECK_FALSE(trie.allowed(g, want.size() - 1, &got, &scratch));
      ++limited;
    }
    if (i < answer.size()) REQUIRE(g.feed_byte(static_cast<uint8_t>(answer[i])));
  }
  CHECK(checked == static_cast<int>(answer.size()) + 1);
  CHECK(limited > 100);
}

TEST_CASE("sparse logits choose what full logits choose", "[decode][sparse]") {
  const np::ToolSet set = tool_set();
  const auto tools = grammar_of(set);
  const np::TokenTrie trie(tokenizer());
  const std::vector<std::string> targets = {
      "<tool_call> [{\"name\":\"get_weather\",\"arguments\":{\"location\":\"San Francisco\",\"days\":3}}]",
      "<tool_call> [{\"name\":\"lights_set\",\"arguments\":{\"on\":true,\"room\":\"kitchen\"}}]",
      "<tool_call> [{\"name\":\"get_wrong\",\"arguments\":{}}]",       // diverges in the name: noise decides
      "<tool_call> [{\"name\":\"lights_set\",\"arguments\":{\"dim\":4}}]",  // a key the tool lacks
      "<tool_call> []"};
  for (const std::string& target : targets) {
    for (const bool priors : {false, true}) {
      np::DecodeSpec base;
      base.budget = 60;
      base.tools = &tools;
      if (priors) with_test_priors(&base);
      Script full_script{target};
      const np::DecodeOutput full = decode_spec(full_script, base);
      Script sparse_script{target};
      np::DecodeSpec sparse = base;
      sparse.trie = &trie;
      sparse.sparse_limit = 1024;
      std::vector<float> all(static_cast<size_t>(tokenizer().vocab_size()));
      size_t rows_seen = 0;
      sparse.step_rows = [&](int32_t token, float* logits, const std::vector<int32_t>& rows) {
        NP_RETURN_IF_ERROR(sparse_script.step(token, all.data()));  // the same script, the same noise
        for (int32_t r : rows) logits[r] = all[static_cast<size_t>(r)];
        rows_seen += rows.size();
        return np::Status::Ok();
      };
      const np::DecodeOutput out = decode_spec(sparse_script, sparse);
      INFO(target << (priors ? " (priors)" : ""));
      CHECK(out.ids == full.ids);
      CHECK(out.text == full.text);
      CHECK(out.no_call_prob == full.no_call_prob);
      if (full.text != "[]") CHECK(out.sparse_steps > 0);  // an answer with a call
      else CHECK(out.sparse_steps == 0);                    // no step after the first call began
      CHECK(rows_seen < static_cast<size_t>(out.sparse_steps) * 1024 + 1);
      CHECK(full.sparse_steps == 0);
      // A choice among fewer tokens weighs more: each probability at least the full one.
      REQUIRE(out.token_probs.size() == full.token_probs.size());
      for (size_t i = 0; i < out.token_probs.size(); ++i) CHECK(out.token_probs[i] >= full.token_probs[i] * (1 - 1e-6f));
    }
  }
}

TEST_CASE("the trie's shortcuts choose what the plain scan chooses", "[decode][sparse]") {
  // Noise logits (a random model: the grammar overrides its choice at almost every step, so
  // best_allowed runs where the answer starts, in names and keys) decoded with the trie set but
  // sparse steps off (best_allowed lists the allowed tokens through the trie, the no-call mass
  // sums the trie's closers, the candidate scans read its first-byte runs) and without it:
  // the same tokens, probabilities and no-call probability, bit for bit.
  const np::ToolSet set = tool_set();
  const auto tools = grammar_of(set);
  const np::TokenTrie trie(tokenizer());
  int with_call = 0;
  for (unsigned seed = 1; seed <= 12; ++seed) {
    for (const bool priors : {false, true}) {
      np::DecodeSpec base;
      base.budget = 40;
      base.tools = &tools;
      if (priors) with_test_priors(&base);
      Script plain_script{""};
      plain_script.rng.seed(seed);
      const np::DecodeOutput plain = decode_spec(plain_script, base);
      Script trie_script{""};
      trie_script.rng.seed(seed);
      np::DecodeSpec with_trie = base;
      with_trie.trie = &trie;
      const np::DecodeOutput out = decode_spec(trie_script, with_trie);
      INFO("seed " << seed << (priors ? " (priors)" : "") << ": " << plain.text);
      CHECK(out.ids == plain.ids);
      CHECK(out.text == plain.text);
      CHECK(out.token_probs == plain.token_probs);
      CHECK(out.no_call_prob == plain.no_call_prob);
      CHECK(out.sparse_steps == 0);
      if (plain.text != "[]") ++with_call;
    }
  }
  CHECK(with_call > 6);  // the noise reaches names, keys and values, not just "[]"
}

TEST_CASE("decode_step_rows gives the chosen rows the logits decode_step gives them", "[decode][sparse]") {
  for (const np::GgmlType type : {np::GgmlType::F32, np::GgmlType::Q8_0}) {
    const auto m = np_test::random_model(5, np::ModelConfig::small(), type);
    const np::Model& model = *m;
    np::EncoderOutput enc;
    REQUIRE(model.encode({7, 8, 9, 10, 11}, &enc).ok());
    const int V = model.config().vocab_size;
    np::DecoderState a = model.new_decoder_state(), b = model.new_decoder_state();
    std::vector<float> full(static_cast<size_t>(V)), part(static_cast<size_t>(V), -7.0f);
    const std::vector<int32_t> rows = {0, 3, 17, 255, 256, V - 1, 100};
    for (int32_t token : {1, 40, 41, 300}) {
      REQUIRE(model.decode_step(enc, a, token, full.data()).ok());
      std::fill(part.begin(), part.end(), -7.0f);
      REQUIRE(model.decode_step_rows(enc, b, token, part.data(), rows.data(), static_cast<int>(rows.size())).ok());
      for (int32_t r : rows) CHECK(part[static_cast<size_t>(r)] == full[static_cast<size_t>(r)]);
      CHECK(part[1] == -7.0f);  // rows not asked for are left alone
    }
    const int32_t bad = V;
    CHECK(model.decode_step_rows(enc, b, 5, part.data(), &bad, 1).code() == Code::kInvalidInput);
  }
}

TEST_CASE("the tool caller's sparse steps give the answer full logits give", "[tool_caller][sparse]") {
  np::ToolCaller caller(np_test::random_model(11));
  const std::string tools = R"([{"name":"get_weather","description":"Weather","parameters":{"city":{"type":"string","required":true},"days":{"type":"integer"}}},
    {"name":"set_timer","description":"Timer","parameters":{"minutes":{"type":"integer","required":true}}}])";
  for (const char* q : {"weather in Paris", "timer for 5 minutes", "weather and timer"}) {
    np::CallOptions sparse, full;
    full.sparse_logits = false;
    sparse.max_tokens = full.max_tokens = 40;
    // A strong tool prior, so that the random model calls a tool rather than answer `[]`.
    sparse.tool_prior_name = full.tool_prior_name = 1.0f;
    sparse.tool_prior_call = full.tool_prior_call = 100.0f;
    auto a = caller.call(q, tools, sparse);
    auto b = caller.call(q, tools, full);
    REQUIRE(a.ok());
    REQUIRE(b.ok());
    CHECK(a.value().raw == b.value().raw);
    CHECK(a.value().output_ids == b.value().output_ids);
    CHECK(b.value().sparse_steps == 0);
    INFO(a.value().raw);
    CHECK(a.value().sparse_steps > 0);
    CHECK(a.value().confidence_raw >= b.value().confidence_raw);
  }
}

TEST_CASE("a tool list parsed once answers as when parsed afresh; a bad list errs every time", "[tool_caller]") {
  // The caller keeps the last 8 lists it parsed (ToolsParseMemo): ten lists in turn (the
  // first ones dropped and parsed again), each call's answer equal to a fresh caller's.
  const auto model = np_test::random_model(11);
  np::ToolCaller kept(model);
  std::vector<std::string> lists;
  for (int i = 0; i < 10; ++i)
    lists.push_back(R"([{"name":"tool_)" + std::to_string(i) + R"(","description":"Weather","parameters":{"city":{"type":"string","required":true}}},
      {"name":"set_timer","description":"Timer","parameters":{"minutes":{"type":"integer","required":true}}}])");
  np::CallOptions opt;
  opt.max_tokens = 30;
  opt.tool_prior_name = 1.0f;
  opt.tool_prior_call = 100.0f;  // the random model calls a tool
  for (int round = 0; round < 2; ++round)
    for (size_t i = 0; i < lists.size(); i += (round == 0 ? 1 : 3)) {
      np::ToolCaller fresh(model);
      auto a = kept.call("weather in Paris", lists[i], opt);
      auto b = fresh.call("weather in Paris", lists[i], opt);
      REQUIRE(a.ok());
      REQUIRE(b.ok());
      INFO("list " << i << " round " << round);
      CHECK(a.value().raw == b.value().raw);
      CHECK(a.value().output_ids == b.value().output_ids);
      REQUIRE(a.value().calls.size() == b.value().calls.size());
      for (size_t c = 0; c < a.value().calls.size(); ++c) CHECK(a.value().calls[c].name == b.value().calls[c].name);
    }
  for (int i = 0; i < 2; ++i) {
    auto bad = kept.call("weather", R"([{"name":"x","parameters":{"a":{"type":"string"}}}, 5])", opt);
    REQUIRE_FALSE(bad.ok());
    CHECK(bad.status().code() == Code::kInvalidTools);
  }
}
