// test_grammar.cpp — the answer-JSON automaton used for constrained decoding.
#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>
#include <random>

#include "decode/call_grammar.h"

using np::CallGrammar;
using np::GrammarParam;
using np::GrammarTool;
using np::ValueKind;

namespace {

std::vector<GrammarTool> sample_tools() {
  GrammarTool weather{"get_weather", {{"location", ValueKind::kString, {}},
                                      {"days", ValueKind::kInteger, {}},
                                      {"unit", ValueKind::kEnum, {"\"celsius\"", "\"fahrenheit\""}}}};
  GrammarTool lights{"set_lights", {{"on", ValueKind::kBoolean, {}},
                                    {"level", ValueKind::kNumber, {}},
                                    {"extra", ValueKind::kAny, {}},
                                    {"preset", ValueKind::kEnum, {"1", "10", "100"}}}};
  GrammarTool none{"ping", {}};
  return {weather, lights, none};
}

bool accepts(const std::vector<GrammarTool>& tools, const std::string& s) {
  CallGrammar g(&tools);
  return g.feed(s) && g.done();
}

// Checks what the grammar promises about a finished answer.
void check_answer(const std::vector<GrammarTool>& tools, const std::string& text) {
  auto j = nlohmann::ordered_json::parse(text, nullptr, false);
  INFO(text);
  REQUIRE_FALSE(j.is_discarded());
  REQUIRE(j.is_array());
  for (const auto& call : j) {
    REQUIRE(call.is_object());
    REQUIRE(call.size() == 2);
    REQUIRE(call["name"].is_string());
    const GrammarTool* tool = nullptr;
    for (const auto& t : tools)
      if (t.name == call["name"].get<std::string>()) tool = &t;
    REQUIRE(tool != nullptr);
    REQUIRE(call["arguments"].is_object());
    for (auto it = call["arguments"].begin(); it != call["arguments"].end(); ++it) {
      const GrammarParam* p = nullptr;
      for (const auto& q : tool->params)
        if (q.key == it.key()) p = &q;
      REQUIRE(p != nullptr);
      switch (p->kind) {
        case ValueKind::kString: REQUIRE(it.value().is_string()); break;
        case ValueKind::kInteger: REQUIRE(it.value().is_number_integer()); break;
        case ValueKind::kNumber: REQUIRE(it.value().is_number()); break;
        case ValueKind::kBoolean: REQUIRE(it.value().is_boolean()); break;
        case ValueKind::kEnum: {
          bool found = false;
          for (const auto& l : p->literals) found |= nlohmann::ordered_json::parse(l) == it.value();
          REQUIRE(found);
          break;
        }
        case ValueKind::kAny: break;
        case ValueKind::kObject: case ValueKind::kArray: case ValueKind::kNull: case ValueKind::kAnyObject:
          break;  // nested kinds: tests/core/test_schema_property.cpp checks them
      }
    }
  }
}

}  // namespace

TEST_CASE("grammar accepts well-formed answers", "[grammar]") {
  const auto tools = sample_tools();
  CHECK(accepts(tools, "[]"));
  CHECK(accepts(tools, " []"));
  CHECK(accepts(tools, R"([{"name":"ping","arguments":{}}])"));
  CHECK(accepts(tools, R"([{"name":"get_weather","arguments":{"location":"San Francisco"}}])"));
  CHECK(accepts(tools, R"( [{"name":"get_weather","arguments":{"unit":"celsius","location":"Zürich \"old\" \u00e9","days":-12}},{"name":"ping","arguments":{}}])"));
  CHECK(accepts(tools, R"([{"name":"set_lights","arguments":{"on":true,"level":-0.5e+3,"extra":{"a":[1,2,{"b":null}],"c":"x"},"preset":10}}])"));
  CHECK(accepts(tools, R"([{"name":"set_lights","arguments":{"preset":1,"level":0}}])"));
  CHECK(accepts(tools, R"([{"name":"set_lights","arguments":{"extra":[],"preset":100}}])"));
  CHECK(accepts(tools, "[{\"name\":\"get_weather\",\"arguments\":{\"location\":\"\xF0\x9F\x98\x80 \xE6\x9D\xB1\xE4\xBA\xAC\"}}]"));
}

TEST_CASE("grammar rejects what it promises to exclude", "[grammar]") {
  const auto tools = sample_tools();
  const char* bad[] = {
      "[ ]",                                                              // whitespace outside strings
      "  []",                                                             // more than the dummy-prefix space
      R"([{"name":"get_wether","arguments":{}}])",                       // undeclared tool
      R"([{"name":"get_weather","arguments":{"city":"x"}}])",            // key of no parameter
      R"([{"name":"get_weather","arguments":{"on":true}}])",             // key of another tool
      R"([{"name":"get_weather","arguments":{"location":"a","location":"b"}}])",  // key twice
      R"([{"name":"get_weather","arguments":{"days":"3"}}])",            // string for an integer
      R"([{"name":"get_weather","arguments":{"days":3.5}}])",            // fraction for an integer
      R"([{"name":"get_weather","arguments":{"days":01}}])",             // leading zero
      R"([{"name":"get_weather","arguments":{"unit":"kelvin"}}])",       // not in the enum
      R"([{"name":"set_lights","arguments":{"on":"yes"}}])",             // not a boolean
      R"([{"name":"set_lights","arguments":{"preset":1000}}])",          // not in the enum
      R"([{"name":"get_weather","arguments":{"location":"a\q"}}])",      // bad escape
      R"([{"name":"get_weather","arguments":{"location":"\ud800"}}])",   // lone surrogate escape
      "[{\"name\":\"get_weather\",\"arguments\":{\"location\":\"a\tb\"}}]",   // raw control byte
      "[{\"name\":\"get_weather\",\"arguments\":{\"location\":\"\x80\"}}]",  // stray continuation
      "[{\"name\":\"get_weather\",\"arguments\":{\"location\":\"\xC0\xAF\"}}]",  // overlong
      "[{\"name\":\"get_weather\",\"arguments\":{\"location\":\"\xED\xA0\x80\"}}]",  // UTF-8 surrogate
      R"([{"arguments":{},"name":"ping"}])",                             // name first
      R"([{"name":"ping","arguments":{}},])",                            // trailing comma
      R"([{"name":"set_lights","arguments":{"extra":[1,]}}])",           // trailing comma inside any
      R"([] [])",                                                         // anything after the end
      R"([{"name":"set_lights","arguments":{"level":1e400}}])",          // exponent past double range
  };
  for (const char* s : bad) {
    INFO(s);
    CHECK_FALSE(accepts(tools, s));
  }
  std::vector<GrammarTool> empty;
  CHECK(accepts(empty, "[]"));
  CHECK_FALSE(accepts(empty, "[{"));
}

TEST_CASE("grammar completion closes any reachable prefix", "[grammar][fuzz]") {
  const auto tools = sample_tools();
  std::mt19937 rng(1234);
  std::string alphabet = "[]{}\",:\\/ -+.0123456789eEtrufalsnbgdhwpiocmyvkxqzU";
  for (const auto& t : tools) alphabet += t.name;
  alphabet += "\xC3\xA9\xE6\x9D\xB1\xF0\x9F\x98\x80";
  std::vector<std::string> pieces = {"{\"name\":\"", "\",\"arguments\":{", "\",\"arguments\":{\"", "\":", "\"", ",\"",
                                     "\"}", "}}", "celsius", "true", "false", "null", "12", "-3.5", "[{", "}]"};
  for (const auto& t : tools) {
    pieces.push_back(t.name);
    for (const auto& p : t.params) pieces.push_back(p.key), pieces.push_back("\"" + p.key + "\":");
  }
  int completed = 0, with_keys = 0;
  for (int walk = 0; walk < 1500; ++walk) {
    CallGrammar g(&tools);
    std::string text;
    const int len = static_cast<int>(rng() % 300);
    for (int i = 0; i < len && !g.done(); ++i) {
      bool moved = false;
      for (int tries = 0; tries < 400 && !moved; ++tries) {
        // token-like pieces three times in four, single bytes otherwise
        const std::string piece = rng() % 4 ? pieces[rng() % pieces.size()]
                                            : std::string(1, alphabet[rng() % alphabet.size()]);
        CallGrammar t = g;
        if (t.feed(piece) && !t.done()) {  // keep walking; completion() does the closing
          g = t;
          text += piece;
          moved = true;
        }
      }
      if (!moved) break;
    }
    const std::string tail = g.completion();
    CallGrammar t = g;
    INFO(text + " | " + tail);
    REQUIRE(t.feed(tail));
    REQUIRE(t.done());
    check_answer(tools, text + tail);
    ++completed;
    if (text.find("\"arguments\":{\"") != std::string::npos) ++with_keys;
  }
  REQUIRE(completed == 1500);
  REQUIRE(with_keys > 150);  // the walks reach argument values, not just the framing
}

TEST_CASE("byte_verdict tells what feed_byte would do, where it tells", "[grammar][fuzz]") {
  // Random walks through answers (token-like pieces and single bytes, as the completion fuzz
  // above); at every state, each of the 256 bytes: a verdict of 1 or 0 must be feed_byte's
  // own answer on a copy. The verdict must also tell most pairs (the trie walk's saving).
  const auto tools = sample_tools();
  std::mt19937 rng(99);
  std::vector<std::string> pieces = {"[", " [", "{\"name\":\"", "\",\"arguments\":{", "\",\"arguments\":{\"", "\":", "\"",
                                     ",\"", "\"}", "}}", "}", "]", ",", "celsius", "true", "12", "-3.5", "\\\"", "x", " ", "e", "_", "1"};
  for (const auto& t : tools) {
    pieces.push_back(t.name);
    pieces.push_back(t.name.substr(0, 3));
    for (const auto& p : t.params) pieces.push_back(p.key), pieces.push_back(p.key.substr(0, 2)), pieces.push_back("\"" + p.key + "\":");
  }
  long told = 0, asked = 0, wrong = 0;
  for (int walk = 0; walk < 300; ++walk) {
    CallGrammar g(&tools);
    for (int i = 0; i < 60 && !g.done(); ++i) {
      for (int c = 0; c < 256; ++c) {
        const int v = g.byte_verdict(static_cast<uint8_t>(c));
        ++asked;
        if (v < 0) continue;
        ++told;
        CallGrammar t = g;
        if (t.feed_byte(static_cast<uint8_t>(c)) != (v == 1)) {
          ++wrong;
          INFO("byte " << c);
          CHECK(false);
        }
      }
      bool moved = false;
      for (int tries = 0; tries < 200 && !moved; ++tries) {
        CallGrammar t = g;
        if (t.feed(pieces[rng() % pieces.size()])) {
          g = t;
          moved = true;
        }
      }
      if (!moved) break;
    }
  }
  CHECK(wrong == 0);
  CHECK(told * 10 > asked * 6);  // more than 60% of (state, byte) pairs told without a copy
}
