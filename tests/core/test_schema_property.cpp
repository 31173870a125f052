// test_schema_property.cpp — property tests for "every returned call follows its tool's
// schema" ([schema][property]): random tool lists (every shape, every type, enums,
// optional/required, nested objects and arrays of typed items, odd and non-ASCII names)
// with random queries, run through
//   A. ToolCaller on random-weight models (the real path: prompt, encoder, grammar), and
//   B. the grammar-constrained decoder driven by random logits (random token choices walk
//      deep into the schemas, where a random model rarely goes),
// and every output checked by tests/core/schema_check.h, which shares no code with the
// grammar. Counts: NP_PROPERTY_CASES (env) or 10,000 per part in a plain build and 1,000 per
// part under ASan (the CI runs both builds).
#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <cstdlib>
#include <random>
#include <string>
#include <vector>

#include "decode/call_grammar.h"
#include "decode/greedy.h"
#include "np/model.h"
#include "np/threads.h"
#include "np/tool_caller.h"
#include "np/tools.h"
#include "test_util.h"
#include "schema_check.h"

using json = nlohmann::ordered_json;

namespace {

#if defined(__SANITIZE_ADDRESS__)
constexpr int kDefaultCases = 1000;
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
constexpr int kDefaultCases = 1000;
#else
constexpr int kDefaultCases = 10000;
#endif
#else
constexpr int kDefaultCases = 10000;
#endif

int case_count() {
  const char* env = std::getenv("NP_PROPERTY_CASES");
  return env ? std::max(1, std::atoi(env)) : kDefaultCases;
}

// Random tool lists. Every schema names its type explicitly where nesting starts, so the
// checker and the engine read the same intent.
struct Gen {
  explicit Gen(uint64_t seed) : rng(seed) {}
  std::mt19937_64 rng;

  int pick(int n) { return static_cast<int>(rng() % static_cast<uint64_t>(n)); }
  bool chance(int pct) { return pick(100) < pct; }

  std::string odd_text() {
    static const char* parts[] = {"a", "b", "ab", "city", "x y", "Zürich", "天気", "😀", "quo\"te", "back\\slash",
                                  "tab\t", "nl\n", "ctl\x01", "/", "é", "name", "arguments", "-", "0", "{}", "[\"]"};
    std::string s;
    const int n = 1 + pick(3);
    for (int i = 0; i < n; ++i) s += parts[pick(static_cast<int>(sizeof(parts) / sizeof(parts[0])))];
    return s;
  }

  json scalar_literal() {
    switch (pick(5)) {
      case 0: return odd_text();
      case 1: return static_cast<int64_t>(pick(2001)) - 1000;
      case 2: return pick(2) == 0;
      case 3: return 0.5 * pick(9) - 2.0;
      default: return "v" + std::to_string(pick(12));
    }
  }

  // A value schema; `flat` allows the flat-form aliases (int, float, bool).
  json schema(int depth, bool flat) {
    json s = json::object();
    const int k = pick(depth < 2 ? 14 : 10);
    switch (k) {
      case 0: s["type"] = "string"; break;
      case 1: s["type"] = flat && chance(30) ? "int" : "integer"; break;
      case 2: s["type"] = flat && chance(30) ? "float" : "number"; break;
      case 3: s["type"] = flat && chance(30) ? "bool" : "boolean"; break;
      case 4: {  // enum, typed or not
        json e = json::array();
        const int n = pick(5);  // sometimes empty: unsatisfiable
        const int t = pick(3);
        for (int i = 0; i < n; ++i)
          e.push_back(t == 0 ? json(odd_text()) : t == 1 ? json(static_cast<int64_t>(pick(200)) - 100) : scalar_literal());
        if (t == 0 && chance(70)) s["type"] = "string";
        if (t == 1 && chance(70)) s["type"] = "integer";
        s["enum"] = e;
        break;
      }
      case 5: s["type"] = json::array({chance(50) ? "integer" : "string", "null"}); break;
      case 6: s["anyOf"] = json::array({json{{"type", "null"}}, schema(depth + 1, false)}); break;
      case 7: s["type"] = chance(50) ? "null" : "date"; break;  // null, and a type we do not know
      case 8: break;                                             // no type at all
      case 9: s["type"] = "object"; break;                       // any object
      case 10: case 11: {  // array of typed items (or of anything)
        s["type"] = "array";
        if (chance(85)) s["items"] = schema(depth + 1, false);
        break;
      }
      default: {  // object with properties
        s["type"] = "object";
        json props = json::object();
        json req = json::array();
        const int n = 1 + pick(4);
        for (int i = 0; i < n; ++i) {
          const std::string key = odd_text();
          props[key] = schema(depth + 1, false);
          if (chance(40)) req.push_back(key);
        }
        s["properties"] = props;
        if (!req.empty()) s["required"] = req;
        break;
      }
    }
    if (chance(40)) s["description"] = odd_text();
    return s;
  }

  json tool(int index) {
    static const char* stems[] = {"getWeather", "send-message", "HTTPServer", "set.lights", "v2Api", "café", "x"};
    json t = json::object();
    const std::string name = std::string(stems[pick(7)]) + "Q" + std::to_string(index) + (chance(30) ? "_天" : "");
    t["name"] = name;
    if (chance(70)) t["description"] = odd_text();
    const int n = pick(6);
    const int shape = pick(4);  // flat, JSON-Schema, OpenAI wrapper, Anthropic
    json params = json::object();
    if (shape == 0) {
      for (int i = 0; i < n; ++i) {
        json p = schema(0, true);
        if (chance(50)) p["required"] = chance(60);
        params[odd_text()] = p;
      }
      t["parameters"] = params;
      return t;
    }
    json props = json::object();
    json req = json::array();
    for (int i = 0; i < n; ++i) {
      const std::string key = odd_text();
      props[key] = schema(0, false);
      if (chance(50)) req.push_back(key);
    }
    params["type"] = "object";
    params["properties"] = props;
    json uniq = json::array();
    for (const json& r : req)
      if (std::find(uniq.begin(), uniq.end(), r) == uniq.end()) uniq.push_back(r);
    if (!uniq.empty()) params["required"] = uniq;
    if (shape == 3) {
      t["input_schema"] = params;
      return t;
    }
    t["parameters"] = params;
    if (shape == 2) return json{{"type", "function"}, {"function", t}};
    return t;
  }

  json tools() {
    json list = json::array();
    const int n = 1 + pick(4);
    for (int i = 0; i < n; ++i) list.push_back(tool(i));
    return list;
  }

  std::string query() {
    std::string q = chance(50) ? "What's the weather in " : "please ";
    q += odd_text();
    if (chance(30)) q += " and set it to " + std::to_string(pick(100));
    return q;
  }
};

// Counts what the outputs contained, so the test cannot pass on empty answers alone.
struct Stats {
  int cases = 0, calls = 0, args = 0, nested = 0, dropped = 0;
  void count_args(const json& v, bool top) {
    if (v.is_object()) {
      if (!top) ++nested;
      for (auto it = v.begin(); it != v.end(); ++it) {
        if (top) ++args;
        count_args(it.value(), false);
      }
    } else if (v.is_array()) {
      if (!top) ++nested;
      for (const json& x : v) count_args(x, false);
    }
  }
};

// Every call in `answer` (text) parses and follows its schema; returns the calls.
std::vector<np::Call> check_answer(const std::string& answer, const np::ToolSet& set, const json& tools,
                                   const std::string& context) {
  INFO(context << "\nanswer: " << answer);
  auto calls = np::parse_calls(answer, set);
  REQUIRE(calls.ok());
  for (const np::Call& c : calls.value()) {
    const std::string err = schema_check::check_call(tools, c.name, c.arguments);
    INFO("call: " << c.name << " " << c.arguments.dump() << "\nviolation: " << json(err).dump());
    REQUIRE(err.empty());
  }
  return calls.take();
}

using np_test::random_model;

}  // namespace

TEST_CASE("the checker rejects what breaks a schema", "[schema][property]") {
  // The checker must be able to fail, or the property tests below prove nothing.
  const json tools = json::parse(R"([
    {"name":"f","parameters":{"a":{"type":"integer","required":true},"b":{"type":"string","enum":["x","y"]}}},
    {"name":"g","parameters":{"type":"object","properties":{
       "o":{"type":"object","properties":{"k":{"type":"boolean"}},"required":["k"]},
       "l":{"type":"array","items":{"type":"number"}},
       "n":{"anyOf":[{"type":"null"},{"type":"integer"}]}},"required":["o"]}}])");
  using schema_check::check_call;
  CHECK(check_call(tools, "f", json::parse(R"({"a":3,"b":"x"})")) == "");
  CHECK(check_call(tools, "f", json::parse(R"({"a":3.0})")) == "");
  CHECK(check_call(tools, "f", json::parse(R"({"b":"x"})")) != "");         // required missing
  CHECK(check_call(tools, "f", json::parse(R"({"a":3.5})")) != "");         // not an integer
  CHECK(check_call(tools, "f", json::parse(R"({"a":"3"})")) != "");         // string for integer
  CHECK(check_call(tools, "f", json::parse(R"({"a":1,"b":"z"})")) != "");   // not in the enum
  CHECK(check_call(tools, "f", json::parse(R"({"a":1,"c":1})")) != "");     // undeclared key
  CHECK(check_call(tools, "g", json::parse(R"({"o":{"k":true},"l":[1,2.5],"n":null})")) == "");
  CHECK(check_call(tools, "g", json::parse(R"({"o":{}})")) != "");           // nested required
  CHECK(check_call(tools, "g", json::parse(R"({"o":{"k":1}})")) != "");      // nested type
  CHECK(check_call(tools, "g", json::parse(R"({"o":{"k":true,"z":1}})")) != "");  // nested undeclared
  CHECK(check_call(tools, "g", json::parse(R"({"o":{"k":true},"l":[1,"2"]})")) != "");  // item type
  CHECK(check_call(tools, "g", json::parse(R"({"o":{"k":true},"n":"1"})")) != "");     // no alternative
  CHECK(check_call(tools, "g", json::parse(R"({"l":[]})")) != "");           // top-level required
  CHECK(check_call(tools, "h", json::object()) != "");                       // undeclared tool
}

TEST_CASE("random-weight models return only schema-valid calls", "[schema][property]") {
  const int cases = case_count();
  const std::shared_ptr<const np::Model> models[] = {random_model(11), random_model(12), random_model(13)};
  // One thread: the small model's products are too small to share, and the pool's hand-offs
  // would dominate on a busy machine. Restored at the end.
  np::set_num_threads(1);
  Gen gen(20261126);
  Stats st;
  int skipped = 0;
  while (st.cases < cases) {
    const json tools = gen.tools();
    const std::string tools_text = tools.dump();
    auto set = np::parse_tools(tools_text);
    if (!set.ok()) {  // e.g. two generated names with one snake_case form
      REQUIRE(set.status().code() == np::Code::kInvalidTools);
      ++skipped;
      continue;
    }
    const std::string query = gen.query();
    np::CallOptions o;
    o.max_tokens = gen.chance(30) ? 0 : 1 + gen.pick(64);
    np::ToolCaller caller(models[st.cases % 3]);
    auto r = caller.call(query, tools_text, o);
    INFO("case " << st.cases << " tools: " << tools_text << " query: " << query);
    REQUIRE(r.ok());
    REQUIRE(r.value().valid);
    // Everything in raw follows the schema, the grammar's placeholders included ...
    const auto raw_calls = check_answer(r.value().raw, set.value(), tools, "raw");
    // ... but a call the budget cut off, or one repeating an earlier call, is not returned.
    REQUIRE(r.value().calls.size() + static_cast<size_t>(r.value().dropped_calls + r.value().repeated_calls) == raw_calls.size());
    if (r.value().dropped_calls > 0) {
      REQUIRE(r.value().completed);
      REQUIRE_FALSE(r.value().reason.empty());
    }
    for (const np::Call& c : r.value().calls) {
      REQUIRE(schema_check::check_call(tools, c.name, c.arguments) == "");
      ++st.calls;
      st.count_args(c.arguments, true);
    }
    st.dropped += r.value().dropped_calls;
    ++st.cases;
  }
  WARN("model calls: " << st.cases << " cases (" << skipped << " tool lists skipped), " << st.calls
                       << " calls returned, " << st.args << " arguments, " << st.nested
                       << " nested values, " << st.dropped << " cut-off calls dropped; all valid");
  np::set_num_threads(0);
  CHECK(st.cases == cases);
}

TEST_CASE("random token choices under the grammar give schema-valid calls", "[schema][property]") {
  static const np::Tokenizer tok = np::synthetic_tokenizer(512).take();
  const int cases = case_count();
  Gen gen(777);
  Stats st;
  int with_calls = 0, finished = 0;
  std::vector<float> noise;
  while (st.cases < cases) {
    const json tools = gen.tools();
    const std::string tools_text = tools.dump();
    auto set = np::parse_tools(tools_text);
    if (!set.ok()) continue;
    const std::vector<np::GrammarTool> gtools = np::grammar_tools(set.value());
    np::DecodeSpec spec;
    spec.tokenizer = &tok;
    spec.budget = 1 + gen.pick(gen.chance(20) ? 400 : 120);
    spec.tools = &gtools;
    std::mt19937 rng(static_cast<uint32_t>(gen.rng()));
    std::uniform_real_distribution<float> u(0.0f, 1.0f);
    const int32_t eos = 1;
    // Random logits, with EOS and ']' kept low so that walks go on into the arguments.
    const int32_t close_id = tok.piece_to_id("]");
    np::DecodeOutput out;
    np::Status s = np::greedy_decode(spec, [&](int32_t, float* logits) {
      if (!logits) return np::Status::Ok();  // a token jump-forward appends: nothing to choose
      for (int32_t i = 0; i < tok.vocab_size(); ++i) logits[i] = u(rng);
      logits[eos] = -1.0f;
      if (close_id >= 0 && u(rng) < 0.9f) logits[close_id] = -1.0f;
      return np::Status::Ok();
    }, &out);
    INFO("case " << st.cases << " tools: " << tools_text);
    REQUIRE(s.ok());
    const auto calls = check_answer(out.text, set.value(), tools, "random walk");
    REQUIRE(out.calls_closed <= static_cast<int>(calls.size()));
    if (!out.completed) {
      REQUIRE(out.calls_closed == static_cast<int>(calls.size()));
      ++finished;
    }
    if (!calls.empty()) ++with_calls;
    for (const np::Call& c : calls) {
      ++st.calls;
      st.count_args(c.arguments, true);
    }
    ++st.cases;
  }
  WARN("random walks: " << st.cases << " cases, " << with_calls << " with calls, " << finished
                        << " closed by the walk itself, " << st.calls << " calls, " << st.args << " arguments, "
                        << st.nested << " nested values; all valid");
  // The walks must reach arguments and nested values, or they test little.
  CHECK(with_calls > st.cases / 2);
  CHECK(st.args > st.cases);
  CHECK(st.nested > st.cases / 10);
}

TEST_CASE("required parameters and nested schemas are enforced by the grammar", "[schema][grammar]") {
  auto set = np::parse_tools(R"([
    {"name":"book","parameters":{"type":"object","properties":{
       "who":{"type":"string"},
       "when":{"type":"object","properties":{"day":{"type":"integer"},"slot":{"enum":["am","pm"]}},"required":["day"]},
       "tags":{"type":"array","items":{"type":"string"}},
       "never":{"type":"string","enum":[]},
       "maybe":{"type":["integer","null"]}},
     "required":["who","when"]}},
    {"name":"broken","parameters":{"x":{"enum":[],"required":true}}}])");
  REQUIRE(set.ok());
  const auto gtools = np::grammar_tools(set.value());
  auto accepts = [&](const std::string& s) {
    np::CallGrammar g(&gtools);
    return g.feed(s) && g.done();
  };
  CHECK(accepts(R"([{"name":"book","arguments":{"who":"a","when":{"day":3}}}])"));
  CHECK(accepts(R"([{"name":"book","arguments":{"when":{"slot":"pm","day":-1},"tags":["x","y"],"who":""}}])"));
  CHECK(accepts(R"([{"name":"book","arguments":{"who":"a","when":{"day":3},"tags":[],"maybe":7}}])"));
  CHECK_FALSE(accepts(R"([{"name":"book","arguments":{}}])"));                        // required missing
  CHECK_FALSE(accepts(R"([{"name":"book","arguments":{"who":"a"}}])"));               // one required missing
  CHECK_FALSE(accepts(R"([{"name":"book","arguments":{"who":"a","when":{}}}])"));     // nested required
  CHECK_FALSE(accepts(R"([{"name":"book","arguments":{"who":"a","when":{"day":1.5}}}])"));  // nested type
  CHECK_FALSE(accepts(R"([{"name":"book","arguments":{"who":"a","when":{"day":1,"x":1}}}])"));  // nested key
  CHECK_FALSE(accepts(R"([{"name":"book","arguments":{"who":"a","when":{"day":1,"day":2}}}])"));  // twice
  CHECK_FALSE(accepts(R"([{"name":"book","arguments":{"who":"a","when":{"day":1},"tags":[1]}}])"));  // item type
  CHECK_FALSE(accepts(R"([{"name":"book","arguments":{"who":"a","when":{"day":1},"tags":"x"}}])"));  // not an array
  CHECK_FALSE(accepts(R"([{"name":"book","arguments":{"who":"a","when":{"day":1},"never":""}}])"));  // empty enum
  CHECK_FALSE(accepts(R"([{"name":"broken","arguments":{}}])"));  // a required parameter nothing satisfies
  // Completion writes the missing required keys, nested ones too.
  np::CallGrammar g(&gtools);
  REQUIRE(g.feed(R"([{"name":"book","arguments":{"tags":["a")"));
  const std::string tail = g.completion();
  CHECK(tail == R"(],"who":"","when":{"day":0}}}])");
  CHECK(g.calls_closed() == 0);
  REQUIRE(g.feed(tail));
  CHECK(g.done());
  CHECK(g.calls_closed() == 1);
}

TEST_CASE("a call cut off by the token budget is dropped with a reason", "[schema][tool_caller]") {
  np::ToolCaller caller(random_model(5));
  const std::string tools = R"([{"name":"f","parameters":{"a":{"type":"string","required":true}}}])";
  int dropped = 0;
  for (int budget = 1; budget <= 40; ++budget) {
    np::CallOptions o;
    o.max_tokens = budget;
    auto r = caller.call("call f with a long text argument please", tools, o);
    REQUIRE(r.ok());
    for (const np::Call& c : r.value().calls) CHECK(c.arguments.contains("a"));
    if (r.value().dropped_calls > 0) {
      ++dropped;
      CHECK(r.value().completed);
      CHECK(r.value().stop_reason == "max_tokens");
      CHECK_FALSE(r.value().reason.empty());
      auto j = json::parse(np::call_result_to_json(r.value()));
      CHECK(j["dropped_calls"] == r.value().dropped_calls);
      CHECK(j["calls"].size() == r.value().calls.size());
    }
  }
  // This model (seed 5) begins the call at small budgets, so some are cut off (31 of 40).
  CHECK(dropped > 0);
}

TEST_CASE("a number at the length limit can always be finished", "[schema][grammar]") {
  // Regression (fuzz_grammar, tests/fuzz/regressions/grammar/number-at-length-limit-then-e.bin):
  // the grammar took 'e' as a number's 32nd byte, leaving no room for the exponent digit, so
  // the completion could not close the answer.
  auto set = np::parse_tools(R"([{"name":"f","parameters":{"n":{"type":"number","required":true}}}])");
  REQUIRE(set.ok());
  const auto gtools = np::grammar_tools(set.value());
  int fed = 0;
  for (int k = 1; k <= 33; ++k)
    for (const char* tail : {"", ".", "e", "e-", ".5e", "E+"}) {
      np::CallGrammar g(&gtools);
      const std::string prefix = R"([{"name":"f","arguments":{"n":-)" + std::string(static_cast<size_t>(k), '1') + tail;
      if (!g.feed(prefix)) continue;
      ++fed;
      const std::string rest = g.completion();
      INFO(prefix << " | " << rest);
      REQUIRE(g.feed(rest));
      REQUIRE(g.done());
      auto calls = np::parse_calls(prefix + rest, set.value());
      REQUIRE(calls.ok());
      CHECK(calls.value()[0].arguments["n"].is_number());
    }
  CHECK(fed > 100);
}

// The bundled default model (models/needlepoint-default.gguf, committed with the repository):
// a trained model goes where a random one rarely does (long argument values, several calls),
// so its answers are checked the same way. NP_PROPERTY_CASES sets the count (10,000 for the
// documented run, docs/reliability.md); 500 in a plain build, 50 under ASan.
TEST_CASE("the default model returns only schema-valid calls", "[schema][property][default_model]") {
  const std::string path = std::string(NP_SOURCE_DIR) + "/models/needlepoint-default.gguf";
  auto loaded = np::Model::load_file(path);
  INFO(path);
  REQUIRE(loaded.ok());
  const std::shared_ptr<const np::Model> model = loaded.take();
  const char* env = std::getenv("NP_PROPERTY_CASES");
  const int cases = env ? std::max(1, std::atoi(env)) : kDefaultCases / 20;
  Gen gen(20261127);
  Stats st;
  int skipped = 0, with_calls = 0;
  np::ToolCaller caller(model);
  while (st.cases < cases) {
    const json tools = gen.tools();
    const std::string tools_text = tools.dump();
    auto set = np::parse_tools(tools_text);
    if (!set.ok()) {
      ++skipped;
      continue;
    }
    // Half the queries name a tool of the list, so the model calls something.
    std::string query = gen.query();
    if (gen.chance(50) && !set.value().tools.empty()) {
      const np::Tool& t = set.value().tools[static_cast<size_t>(gen.pick(static_cast<int>(set.value().tools.size())))];
      query = t.description.empty() ? t.name + " " + query : t.description + " " + query;
    }
    np::CallOptions o;
    o.max_tokens = gen.chance(20) ? 1 + gen.pick(40) : 0;
    auto r = caller.call(query, tools_text, o);
    INFO("case " << st.cases << " tools: " << tools_text << " query: " << query);
    REQUIRE(r.ok());
    REQUIRE(r.value().valid);
    const auto raw_calls = check_answer(r.value().raw, set.value(), tools, "raw");
    REQUIRE(r.value().calls.size() + static_cast<size_t>(r.value().dropped_calls + r.value().repeated_calls) == raw_calls.size());
    for (const np::Call& c : r.value().calls) {
      REQUIRE(schema_check::check_call(tools, c.name, c.arguments) == "");
      ++st.calls;
      st.count_args(c.arguments, true);
    }
    if (!r.value().calls.empty()) ++with_calls;
    st.dropped += r.value().dropped_calls;
    ++st.cases;
  }
  WARN("default model: " << st.cases << " cases (" << skipped << " tool lists skipped), " << with_calls
                         << " with calls, " << st.calls << " calls, " << st.args << " arguments, " << st.nested
                         << " nested values, " << st.dropped << " cut-off calls dropped; all valid");
  CHECK(with_calls > cases / 10);  // the trained model does call tools
}
