// test_tools.cpp — the tools-schema layer: snake_case, Python-exact compact JSON, the four
// accepted tool shapes, every error, limits, parse_calls, and a mutation fuzz ([tools][fuzz]).
// Byte-level agreement with real Python is checked by tests/tools/check_dumps.py.
#include <catch2/catch.hpp>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <random>
#include <string>
#include <vector>

#include "np/tools.h"
#include "tools/float_repr.h"

namespace {

using json = nlohmann::ordered_json;

json parse(const std::string& s) {
  json j = json::parse(s, nullptr, /*allow_exceptions=*/false);
  REQUIRE_FALSE(j.is_discarded());
  return j;
}

// Expects parse_tools to fail with `code` and a message containing every `parts` entry.
void expect_tools_error(const std::string& tools, np::Code code, std::vector<std::string> parts) {
  auto r = np::parse_tools(tools);
  INFO("tools: " << tools);
  REQUIRE_FALSE(r.ok());
  INFO("message: " << r.status().message());
  CHECK(r.status().code() == code);
  for (const auto& p : parts) CHECK(r.status().message().find(p) != std::string::npos);
}

std::string normalized(const std::string& tools) {
  auto r = np::parse_tools(tools);
  INFO("tools: " << tools);
  if (!r.ok()) FAIL(r.status().to_string());
  return r.value().normalized_json;
}

}  // namespace

TEST_CASE("to_snake_case follows the Python regex idiom", "[tools]") {
  struct Case { const char* in; const char* out; };
  const Case cases[] = {
      {"getWeather", "get_weather"},
      {"GetWeather", "get_weather"},
      {"HTTPServer", "http_server"},
      {"getHTTPResponseCode", "get_http_response_code"},
      {"get-user.name", "get_user_name"},
      {"already_snake", "already_snake"},
      {"  X  ", "x"},
      {"v2Api", "v2_api"},
      {"get2FACode", "get2_fa_code"},
      {"ABC", "abc"},
      {"ABCdef", "ab_cdef"},
      {"aBC", "a_bc"},
      {"aBCd", "a_b_cd"},
      {"ABcDEf", "a_bc_d_ef"},
      {"__private__name__", "private_name"},
      {"send email/now!", "send_email_now"},
      {"a--b", "a_b"},
      {"x", "x"},
      {"X", "x"},
      {"123", "123"},
      {"set_Alarm", "set_alarm"},
      {"Ünïcode", "n_code"},
      {"caféOrder", "caf_order"},
      {"天気", ""},
      {"!!!", ""},
      {"", ""},
      {"SimpleXMLParser2Go", "simple_xml_parser2_go"},
  };
  for (const auto& c : cases) {
    INFO(c.in);
    CHECK(np::to_snake_case(c.in) == c.out);
    // Idempotent: the model's names map to themselves.
    CHECK(np::to_snake_case(np::to_snake_case(c.in)) == c.out);
  }
}

TEST_CASE("json_dumps_compact matches Python json.dumps(separators=(',',':'))", "[tools]") {
  struct Case { const char* in; const char* out; };
  const Case cases[] = {
      {R"({"b":1,"a":[true,false,null]})", R"({"b":1,"a":[true,false,null]})"},
      {R"( { "x" : [ 1 , 2 ] , "y" : { } , "z" : [ ] } )", R"({"x":[1,2],"y":{},"z":[]})"},
      {R"("a/b")", R"("a/b")"},
      {R"("q\"b\\s")", R"("q\"b\\s")"},
      {R"("\n\r\t\b\f")", R"("\n\r\t\b\f")"},
      {R"("\u0000\u0001\u001f\u007f")", R"("\u0000\u0001\u001f\u007f")"},
      {R"("é")", R"("\u00e9")"},
      {R"("€ 中")", R"("\u20ac \u4e2d")"},
      {R"("😀")", R"("\ud83d\ude00")"},
      {R"("\ud83d\ude00")", R"("\ud83d\ude00")"},
      {R"("\uFFFF\u2028")", R"("\uffff\u2028")"},
      {R"([0,-0,7,-7,9223372036854775807,-9223372036854775808,18446744073709551615])",
       R"([0,0,7,-7,9223372036854775807,-9223372036854775808,18446744073709551615])"},
      {R"([1.0,1.5,0.1,1e-5,1E20,-0.0,100.0,1e2,0.0001,1e16,1e15,5e-324,1.7976931348623157e308])",
       R"([1.0,1.5,0.1,1e-05,1e+20,-0.0,100.0,100.0,0.0001,1e+16,1000000000000000.0,5e-324,1.7976931348623157e+308])"},
      {R"([123.456,1.23e-7,2.5e-4,6.02214076e23,3.141592653589793])",
       R"([123.456,1.23e-07,0.00025,6.02214076e+23,3.141592653589793])"},
      {R"({"k":1,"k":2,"j":3})", R"({"k":2,"j":3})"},  // duplicate key: last value, first place
      {R"({"é":"ü"})", R"({"\u00e9":"\u00fc"})"},
  };
  for (const auto& c : cases) {
    INFO(c.in);
    CHECK(np::json_dumps_compact(parse(c.in)) == c.out);
  }
}

TEST_CASE("json_dumps_compact replaces invalid UTF-8 with U+FFFD per maximal subpart", "[tools]") {
  struct Case { std::string in; const char* out; };
  const Case cases[] = {
      {"a\xff" "b", R"("a\ufffdb")"},
      {"\xc3", R"("\ufffd")"},                          // truncated 2-byte sequence
      {"\xe2\x82" "x", R"("\ufffdx")"},                 // truncated 3-byte: one U+FFFD
      {"\xf0\x9f\x98", R"("\ufffd")"},                  // truncated 4-byte: one U+FFFD
      {"\xc0\xaf", R"("\ufffd\ufffd")"},                // overlong: each byte
      {"\xed\xa0\x80", R"("\ufffd\ufffd\ufffd")"},      // encoded surrogate
      {"\xf4\x90\x80\x80", R"("\ufffd\ufffd\ufffd\ufffd")"},  // above U+10FFFF
      {"\x80\x80", R"("\ufffd\ufffd")"},                // lone continuations
      {"\xe2\x82\xac", R"("\u20ac")"},                  // valid
  };
  for (const auto& c : cases) {
    INFO(c.out);
    CHECK(np::json_dumps_compact(json(c.in)) == c.out);
    CHECK(np::json_dumps_compact(json::object({{c.in, 1}})) == std::string("{") + c.out + ":1}");
  }
  CHECK(np::json_dumps_compact(json(std::numeric_limits<double>::infinity())) == "null");
  CHECK(np::json_dumps_compact(json(std::nan(""))) == "null");
  CHECK(np::json_dumps_compact(json::binary({1, 2, 255})) == "[1,2,255]");
}

TEST_CASE("float repr: layout table", "[tools]") {
  using np::tools_detail::float_repr;
  CHECK(float_repr(0.0) == "0.0");
  CHECK(float_repr(-0.0) == "-0.0");
  CHECK(float_repr(1.0) == "1.0");
  CHECK(float_repr(0.1) == "0.1");
  CHECK(float_repr(1e-05) == "1e-05");
  CHECK(float_repr(0.0001) == "0.0001");
  CHECK(float_repr(1e16) == "1e+16");
  CHECK(float_repr(1e15) == "1000000000000000.0");
  CHECK(float_repr(123456789012345678.0) == "1.2345678901234568e+17");
  CHECK(float_repr(5e-324) == "5e-324");
  CHECK(float_repr(2.2250738585072014e-308) == "2.2250738585072014e-308");
  CHECK(float_repr(9007199254740993.0) == "9007199254740992.0");
  CHECK(float_repr(-1.5e300) == "-1.5e+300");
  CHECK(float_repr(0.3) == "0.3");
  CHECK(float_repr(0.1 + 0.2) == "0.30000000000000004");
}

TEST_CASE("float repr: to_chars and portable search agree", "[tools]") {
  using np::tools_detail::float_repr_portable;
  using np::tools_detail::float_repr_to_chars;
  if (float_repr_to_chars(1.5).empty()) {
    WARN("std::to_chars(double) unavailable; portable path only");
    return;
  }
  auto check = [](double v) {
    if (!std::isfinite(v)) return;
    const std::string a = float_repr_to_chars(v), b = float_repr_portable(v);
    if (a != b) FAIL_CHECK("v=" << v << " to_chars=" << a << " portable=" << b);
  };
  // Every power of two (the rounding interval is lopsided there) and its neighbours.
  for (int e = -1074; e <= 1023; ++e) {
    const double p = std::ldexp(1.0, e);
    check(p);
    check(std::nextafter(p, 0.0));
    check(std::nextafter(p, INFINITY));
  }
  std::mt19937_64 rng(12345);
  for (int i = 0; i < 40000; ++i) {
    uint64_t bits = rng();
    double v;
    std::memcpy(&v, &bits, sizeof v);
    check(v);
  }
  // Short decimals (what people write in schemas) at every scale.
  std::uniform_int_distribution<int> digits(1, 999999), expo(-330, 310);
  for (int i = 0; i < 20000; ++i) {
    const std::string s = std::to_string(digits(rng)) + "e" + std::to_string(expo(rng));
    check(std::strtod(s.c_str(), nullptr));
  }
}

TEST_CASE("parse_tools: Needle flat tools keep the caller's param objects", "[tools]") {
  const std::string in =
      R"([{"name":"get_weather","description":"Get current weather for a city.",)"
      R"("parameters":{"location":{"type":"string","description":"City name.","required":true}}}])";
  // The published example is already normalised: it must come back byte for byte.
  CHECK(normalized(in) == in);

  auto r = np::parse_tools(
      R"([{"parameters":{"b":{"description":"B","type":"number","extra":[1,2.5]},)"
      R"("a":{"required":null,"type":["string","null"]}},"description":"d","name":"setAlarm","x":1}])");
  REQUIRE(r.ok());
  CHECK(r.value().normalized_json ==
        R"([{"name":"set_alarm","description":"d","parameters":{)"
        R"("b":{"description":"B","type":"number","extra":[1,2.5],"required":false},)"
        R"("a":{"required":false,"type":["string","null"]}}}])");
  const np::Tool& t = r.value().tools[0];
  CHECK(t.original_name == "setAlarm");
  CHECK(t.name == "set_alarm");
  CHECK(t.description == "d");
  REQUIRE(t.params.size() == 2);
  CHECK(t.params[0].name == "b");
  CHECK(t.params[0].type == "number");
  CHECK(t.params[0].description == "B");
  CHECK_FALSE(t.params[0].required);
  CHECK(t.params[1].name == "a");
  CHECK(t.params[1].type == "string");
  CHECK(t.params[1].source == parse(R"({"required":null,"type":["string","null"]})"));
  CHECK(r.value().find("set_alarm") == &t);
  CHECK(r.value().find("setAlarm") == nullptr);
  CHECK(r.value().find_any("setAlarm") == &t);

  // A flat parameter literally named "type" (its spec is an object) stays flat.
  CHECK(normalized(R"([{"name":"t","parameters":{"type":{"type":"string","required":true}}}])") ==
        R"([{"name":"t","description":"","parameters":{"type":{"type":"string","required":true}}}])");
  // Missing description and parameters; null counts as absent.
  CHECK(normalized(R"([{"name":"ping"},{"name":"pong","description":null,"parameters":null}])") ==
        R"([{"name":"ping","description":"","parameters":{}},{"name":"pong","description":"","parameters":{}}])");
  CHECK(normalized("[]") == "[]");
  CHECK(normalized("\xEF\xBB\xBF [ ] ") == "[]");  // UTF-8 BOM and whitespace
}

TEST_CASE("parse_tools: JSON-Schema, OpenAI and Anthropic shapes become flat", "[tools]") {
  const std::string schema_params =
      R"({"type":"object","properties":{)"
      R"("city":{"type":"string","description":"City.","default":"Paris"},)"
      R"("unit":{"type":["string","null"],"enum":["c","f"]},)"
      R"("days":{"anyOf":[{"type":"null"},{"type":"integer"}],"description":"n"},)"
      R"("raw":{},)"
      R"("flag":{"type":"boolean","required":true}},)"
      R"("required":["city"],"additionalProperties":false})";
  const std::string expected_params =
      R"({"city":{"type":"string","description":"City.","required":true},)"
      R"("unit":{"type":"string","description":"","enum":["c","f"],"required":false},)"
      R"("days":{"type":"integer","description":"n","required":false},)"
      R"("raw":{"type":"string","description":"","required":false},)"
      R"("flag":{"type":"boolean","description":"","required":true}})";

  SECTION("plain JSON-Schema parameters") {
    CHECK(normalized(R"([{"name":"getWeather","description":"W","parameters":)" + schema_params + "}]") ==
          R"([{"name":"get_weather","description":"W","parameters":)" + expected_params + "}]");
  }
  SECTION("OpenAI chat-completions wrapper") {
    CHECK(normalized(R"([{"type":"function","function":{"name":"getWeather","description":"W","strict":true,"parameters":)" +
                     schema_params + "}}]") ==
          R"([{"name":"get_weather","description":"W","parameters":)" + expected_params + "}]");
  }
  SECTION("OpenAI Responses form (name beside type)") {
    CHECK(normalized(R"([{"type":"function","name":"getWeather","description":"W","parameters":)" +
                     schema_params + "}]") ==
          R"([{"name":"get_weather","description":"W","parameters":)" + expected_params + "}]");
  }
  SECTION("Anthropic input_schema") {
    CHECK(normalized(R"([{"name":"getWeather","description":"W","input_schema":)" + schema_params + "}]") ==
          R"([{"name":"get_weather","description":"W","parameters":)" + expected_params + "}]");
  }
  SECTION("schema without properties or required") {
    CHECK(normalized(R"([{"name":"now","parameters":{"type":"object"}}])") ==
          R"([{"name":"now","description":"","parameters":{}}])");
  }
  SECTION("mixture keeps order and fills Tool fields") {
    auto r = np::parse_tools(
        R"([{"name":"a.b","parameters":{"x":{"type":"integer"}}},)"
        R"({"type":"function","function":{"name":"CCc","parameters":)" + schema_params + R"(}},)"
        R"({"name":"dD","input_schema":{"type":"object","properties":{"q":{"type":"string","enum":[1,"two",null]}},"required":["q"]}}])");
    REQUIRE(r.ok());
    const auto& tools = r.value().tools;
    REQUIRE(tools.size() == 3);
    CHECK(tools[0].name == "a_b");
    CHECK(tools[1].name == "c_cc");
    CHECK(tools[2].name == "d_d");
    REQUIRE(tools[1].params.size() == 5);
    CHECK(tools[1].params[0].required);
    CHECK(tools[1].params[1].enum_values == std::vector<json>{"c", "f"});
    CHECK(tools[1].params[2].type == "integer");
    CHECK(tools[1].params[4].required);
    CHECK(tools[1].params[0].schema == parse(R"({"type":"string","description":"City.","required":true})"));
    CHECK(tools[1].params[0].source == parse(R"({"type":"string","description":"City.","default":"Paris"})"));
    REQUIRE(tools[2].params.size() == 1);
    CHECK(tools[2].params[0].required);
    CHECK(tools[2].params[0].enum_values.size() == 3);
    // Normalising the normalised list changes nothing.
    auto again = np::parse_tools(r.value().normalized_json);
    REQUIRE(again.ok());
    CHECK(again.value().normalized_json == r.value().normalized_json);
  }
}

TEST_CASE("parse_tools: every error names the tool and the field", "[tools]") {
  using np::Code;
  expect_tools_error("[{\"name\":", Code::kInvalidTools, {"not valid JSON", "byte"});
  expect_tools_error("[{\"name\":\"a\"}] x", Code::kInvalidTools, {"not valid JSON"});
  expect_tools_error("[\"\xff\"]", Code::kInvalidTools, {"not valid JSON"});
  expect_tools_error("", Code::kInvalidTools, {"not valid JSON"});
  expect_tools_error("[NaN]", Code::kInvalidTools, {"not valid JSON"});
  expect_tools_error(R"([{"name":"a","description":"\ud800"}])", Code::kInvalidTools, {"not valid JSON"});
  expect_tools_error("[1e999]", Code::kInvalidTools, {"not valid JSON"});
  expect_tools_error(R"([{"name":"a","parameters":{"p":{"default":99999999999999999999}}}])",
                     Code::kInvalidTools, {"99999999999999999999", "64 bits"});
  expect_tools_error(R"({"name":"a"})", Code::kInvalidTools, {"array", "object"});
  expect_tools_error(R"([{"name":"a"},"b"])", Code::kInvalidTools, {"tools[1]", "not an object"});
  expect_tools_error(R"([{"description":"x"}])", Code::kInvalidTools, {"tools[0]", "\"name\""});
  expect_tools_error(R"([{"name":null}])", Code::kInvalidTools, {"tools[0]", "\"name\""});
  expect_tools_error(R"([{"name":""}])", Code::kInvalidTools, {"tools[0]", "\"name\"", "empty"});
  expect_tools_error(R"([{"name":7}])", Code::kInvalidTools, {"tools[0]", "\"name\"", "number"});
  expect_tools_error(R"([{"name":"!!!"}])", Code::kInvalidTools, {"tools[0]", "\"!!!\"", "snake_case", "empty"});
  expect_tools_error(R"([{"name":"天気"}])", Code::kInvalidTools, {"tools[0]", "snake_case"});
  expect_tools_error(R"([{"name":"a"},{"name":"b"},{"name":"a"}])", Code::kInvalidTools,
                     {"tools[2]", "\"a\"", "duplicate", "tools[0]"});
  expect_tools_error(R"([{"name":"getWeather"},{"name":"get_weather"}])", Code::kInvalidTools,
                     {"tools[1]", "\"get_weather\"", "tools[0]", "\"getWeather\"", "collides"});
  expect_tools_error(R"([{"name":"a","description":3}])", Code::kInvalidTools, {"tools[0]", "\"a\"", "\"description\""});
  expect_tools_error(R"([{"name":"a","parameters":[]}])", Code::kInvalidTools, {"tools[0]", "\"a\"", "\"parameters\"", "array"});
  expect_tools_error(R"([{"name":"a","input_schema":"x"}])", Code::kInvalidTools, {"\"a\"", "\"input_schema\""});
  expect_tools_error(R"([{"type":"function","function":"a"}])", Code::kInvalidTools, {"tools[0]", "\"function\""});
  expect_tools_error(R"([{"name":"a","parameters":{"p":"string"}}])", Code::kInvalidTools,
                     {"\"a\"", "parameter \"p\"", "object"});
  expect_tools_error(R"([{"name":"a","parameters":{"type":"object","properties":{"p":true}}}])",
                     Code::kInvalidTools, {"\"a\"", "parameter \"p\"", "object"});
  expect_tools_error(R"([{"name":"a","parameters":{"p":{"required":"yes"}}}])", Code::kInvalidTools,
                     {"\"a\"", "parameter \"p\"", "\"required\""});
  expect_tools_error(R"([{"name":"a","parameters":{"p":{"description":1}}}])", Code::kInvalidTools,
                     {"\"a\"", "parameter \"p\"", "\"description\""});
  expect_tools_error(R"([{"name":"a","parameters":{"p":{"enum":"x"}}}])", Code::kInvalidTools,
                     {"\"a\"", "parameter \"p\"", "\"enum\""});
  expect_tools_error(R"([{"name":"a","parameters":{"type":"object","properties":{"p":{}},"required":"p"}}])",
                     Code::kInvalidTools, {"\"a\"", "\"required\"", "array"});
  expect_tools_error(R"([{"name":"a","parameters":{"type":"object","properties":{"p":{}},"required":[1]}}])",
                     Code::kInvalidTools, {"\"a\"", "\"required\"", "strings"});
  expect_tools_error(R"([{"name":"a","parameters":{"type":"object","properties":{"p":{}},"required":["q"]}}])",
                     Code::kInvalidTools, {"\"a\"", "\"required\"", "\"q\""});
  expect_tools_error(R"([{"name":"a","parameters":{"type":"object","required":["q"]}}])",
                     Code::kInvalidTools, {"\"a\"", "\"q\""});
  expect_tools_error(R"([{"name":"a","parameters":{"type":"object","properties":[]}}])",
                     Code::kInvalidTools, {"\"a\"", "\"properties\""});
  // A long name is cut in messages.
  auto r = np::parse_tools(R"([{"name":")" + std::string(500, 'a') + R"(","description":1}])");
  REQUIRE_FALSE(r.ok());
  CHECK(r.status().message().size() < 200);
}

TEST_CASE("parse_tools: limits are kInvalidInput", "[tools]") {
  std::string big = R"([{"name":"a","description":")" + std::string(np::kMaxToolsJsonBytes, 'x') + "\"}]";
  expect_tools_error(big, np::Code::kInvalidInput, {"bytes", "1048576"});

  std::string many = "[";
  for (size_t i = 0; i <= np::kMaxTools; ++i) many += (i ? ",{\"name\":\"t" : "{\"name\":\"t") + std::to_string(i) + "\"}";
  many += "]";
  expect_tools_error(many, np::Code::kInvalidInput, {"1001", "1000"});

  std::string at_limit = "[";
  for (size_t i = 0; i < np::kMaxTools; ++i) at_limit += (i ? ",{\"name\":\"t" : "{\"name\":\"t") + std::to_string(i) + "\"}";
  at_limit += "]";
  CHECK(np::parse_tools(at_limit).ok());

  // Nesting: kMaxJsonDepth levels pass, one more does not (and deep input never recurses).
  auto nested = [](int depth) {
    // [ {name, parameters:{p:{d: [[...]]}}} ] is 4 levels before the inner arrays.
    return R"([{"name":"a","parameters":{"p":{"d":)" + std::string(depth - 4, '[') +
           std::string(depth - 4, ']') + "}}}]";
  };
  CHECK(np::parse_tools(nested(np::kMaxJsonDepth)).ok());
  expect_tools_error(nested(np::kMaxJsonDepth + 1), np::Code::kInvalidInput, {"deeper", "64"});
  expect_tools_error(std::string(500000, '['), np::Code::kInvalidInput, {"deeper"});
}

TEST_CASE("parse_calls maps snake names back and validates the answer", "[tools]") {
  auto set = np::parse_tools(
      R"([{"name":"getWeather","parameters":{"location":{"type":"string"}}},{"name":"set_timer"}])");
  REQUIRE(set.ok());
  const np::ToolSet& tools = set.value();

  auto calls = np::parse_calls(
      R"([{"name":"get_weather","arguments":{"location":"San Francisco"}},{"name":"set_timer"},)"
      R"({"name":"getWeather","arguments":{"x":1.5}}])", tools);
  REQUIRE(calls.ok());
  REQUIRE(calls.value().size() == 3);
  CHECK(calls.value()[0].name == "getWeather");
  CHECK(calls.value()[0].tool_index == 0);
  CHECK(calls.value()[0].arguments == parse(R"({"location":"San Francisco"})"));
  CHECK(calls.value()[1].name == "set_timer");
  CHECK(calls.value()[1].tool_index == 1);
  CHECK(calls.value()[1].arguments == json::object());
  CHECK(np::calls_to_json(calls.value()) ==
        R"([{"name":"getWeather","arguments":{"location":"San Francisco"}},{"name":"set_timer","arguments":{}},)"
        R"({"name":"getWeather","arguments":{"x":1.5}}])");

  auto empty = np::parse_calls(" [ ] ", tools);
  REQUIRE(empty.ok());
  CHECK(empty.value().empty());
  CHECK(np::calls_to_json(empty.value()) == "[]");

  // Big integers in an answer are kept (as doubles), not refused.
  CHECK(np::parse_calls(R"([{"name":"set_timer","arguments":{"n":123456789012345678901234567890}}])", tools).ok());

  auto bad = [&](const std::string& answer, const std::string& part) {
    auto r = np::parse_calls(answer, tools);
    INFO(answer);
    REQUIRE_FALSE(r.ok());
    CHECK(r.status().code() == np::Code::kInvalidInput);
    CHECK(r.status().message().find(part) != std::string::npos);
  };
  bad(R"([{"name":"get_weather","arguments":{)", "not valid JSON");
  bad(R"({"name":"get_weather"})", "array");
  bad(R"([1])", "calls[0]");
  bad(R"([{"arguments":{}}])", "\"name\"");
  bad(R"([{"name":3}])", "\"name\"");
  bad(R"([{"name":"set_timer"},{"name":"get_time"}])", "\"get_time\"");
  bad(R"([{"name":"set_timer","arguments":[1]}])", "\"arguments\"");
  bad(std::string(100, '[') + std::string(100, ']'), "deeper");
}

TEST_CASE("trim_free_text strips spaces from free-text arguments' edges, nothing else", "[tools]") {
  auto set = np::parse_tools(R"([{"name":"plan","parameters":{"type":"object","properties":{
      "city":{"type":"string"},"mode":{"type":"string","enum":["walk ","car"]},"n":{"type":"integer"},
      "stops":{"type":"array","items":{"type":"string"}},
      "tags":{"type":"array","items":{"type":"string","enum":[" a"," b"]}},
      "meta":{"type":"object"}}}}])");
  REQUIRE(set.ok());
  auto calls = np::parse_calls(R"([{"name":"plan","arguments":{"city":" Goa\t","mode":"walk ","n":3,)"
                               R"("stops":[" Pune ","Agra",4],"tags":[" a"],"meta":{"k":" v "}}}])", set.value());
  REQUIRE(calls.ok());
  np::Call call = calls.value()[0];
  np::trim_free_text(&call, set.value());
  CHECK(call.arguments == parse(R"({"city":"Goa","mode":"walk ","n":3,"stops":["Pune","Agra",4],"tags":[" a"],)"
                                R"("meta":{"k":" v "}})"));
  // Inner spaces stay; a value of spaces only becomes "".
  auto inner = np::parse_calls(R"([{"name":"plan","arguments":{"city":"  New  York ","stops":["  "]}}])", set.value());
  REQUIRE(inner.ok());
  np::trim_free_text(&inner.value()[0], set.value());
  CHECK(inner.value()[0].arguments == parse(R"({"city":"New  York","stops":[""]})"));
}

TEST_CASE("drop_repeated_calls drops a repeat whose values the query says once, and keeps what it cannot judge", "[tools]") {
  auto set = np::parse_tools(R"([{"name":"focus","parameters":{"type":"object","properties":{
      "minutes":{"type":"integer"},"label":{"type":"string"},"on":{"type":"boolean"},
      "people":{"type":"array","items":{"type":"string"}}}}},{"name":"lock_car"}])");
  REQUIRE(set.ok());
  struct Case {
    const char* query;
    const char* answer;
    std::vector<size_t> kept;  // the indices drop_repeated_calls returns
  };
  const char* twice = R"([{"name":"focus","arguments":{"minutes":100}},{"name":"focus","arguments":{"minutes":100}}])";
  for (const Case& c : {
           Case{"focus in 100-minute sprints", twice, {0}},                // 100 said once
           Case{"focus 100 minutes, then 100 more", twice, {0, 1}},       // said twice: both stay
           Case{"focus for a hundred minutes", twice, {0, 1}},            // not written: nothing to judge
           Case{"focus 1000 minutes", twice, {0, 1}},                     // "100" inside "1000" is not 100
           Case{"focus 100 minutes", R"([{"name":"focus","arguments":{"minutes":100}},{"name":"focus","arguments":{"minutes":100,"on":true}}])", {0, 1}},  // not the same call
           Case{"focus 100 min on Deep Work", R"([{"name":"focus","arguments":{"minutes":100,"label":"deep work"}},)"
                                              R"({"name":"focus","arguments":{"minutes":100,"label":"deep work"}}])", {0}},
           Case{"lock the car, then lock the car", R"([{"name":"lock_car","arguments":{}},{"name":"lock_car","arguments":{}}])", {0, 1}},
           Case{"focus on", R"([{"name":"focus","arguments":{"on":true}},{"name":"focus","arguments":{"on":true}}])", {0, 1}},
           Case{"focus with Ana and Ana", R"([{"name":"focus","arguments":{"people":["Ana"]}},{"name":"focus","arguments":{"people":["Ana"]}},)"
                                         R"({"name":"focus","arguments":{"people":["Ana"]}}])", {0, 1}},  // twice: two calls, not three
           Case{"focus with Ana", R"([{"name":"focus","arguments":{"people":["Ana"]}},{"name":"lock_car","arguments":{}},)"
                                  R"({"name":"focus","arguments":{"people":["Ana"]}}])", {0, 1}},  // apart, still a repeat
           Case{"focus with Anabel", R"([{"name":"focus","arguments":{"people":["Ana"]}},{"name":"focus","arguments":{"people":["Ana"]}}])", {0, 1}},
       }) {
    INFO(c.query << " -> " << c.answer);
    auto calls = np::parse_calls(c.answer, set.value());
    REQUIRE(calls.ok());
    std::vector<np::Call> v = calls.take();
    const std::vector<np::Call> given = v;
    const std::vector<size_t> kept = np::drop_repeated_calls(c.query, &v);
    CHECK(kept == c.kept);
    REQUIRE(v.size() == kept.size());
    for (size_t i = 0; i < kept.size(); ++i) {
      CHECK(v[i].name == given[kept[i]].name);
      CHECK(v[i].arguments == given[kept[i]].arguments);
    }
  }
  std::vector<np::Call> none;
  CHECK(np::drop_repeated_calls("anything", &none).empty());
}

TEST_CASE("parse_tools survives random mutations", "[tools][fuzz]") {
  const std::string seed_json =
      R"([{"name":"getWeather","description":"Weather for a city.","parameters":{"location":)"
      R"({"type":"string","description":"City.","required":true},"unit":{"type":"string","enum":["c","f"]}}},)"
      R"({"type":"function","function":{"name":"setAlarm","description":"Alarm \u00e9 😀","parameters":)"
      R"({"type":"object","properties":{"time":{"type":["string","null"],"description":"HH:MM"},)"
      R"("days":{"type":"array","items":{"type":"string"}},"n":{"type":"number","default":1.5e-7}},"required":["time"]}}},)"
      R"({"name":"send_email","input_schema":{"type":"object","properties":{"to":{"type":"string"}},"required":[]}}])";
  REQUIRE(np::parse_tools(seed_json).ok());

  const std::string alphabet[] = {"{", "}", "[", "]", ",", ":", "\"", "\\", "\"type\"", "\"object\"",
                                  "\"properties\"", "\"required\"", "\"name\"", "\"parameters\"",
                                  "null", "true", "1", "-0", "1e999", "\"\\ud800\"", "\xff", "\xc3",
                                  "\xe2\x82\xac", "\\u0000", " ", "[]", "{}", "\"a\"", "1.5"};
  std::mt19937 rng(20260512);
  int ok = 0, invalid_tools = 0, invalid_input = 0;
  for (int iter = 0; iter < 2000; ++iter) {
    std::string s = seed_json;
    const int n_mut = 1 + static_cast<int>(rng() % 4);
    for (int m = 0; m < n_mut && !s.empty(); ++m) {
      const size_t pos = rng() % (s.size() + 1);
      switch (rng() % 6) {
        case 0: if (pos < s.size()) s[pos] = static_cast<char>(rng() & 0xff); break;
        case 1: s.insert(pos, alphabet[rng() % (sizeof(alphabet) / sizeof(alphabet[0]))]); break;
        case 2: s.erase(pos, 1 + rng() % 8); break;
        case 3: {  // duplicate a slice
          const size_t a = rng() % s.size(), len = 1 + rng() % 40;
          s.insert(pos, s.substr(a, len));
          break;
        }
        case 4: {  // swap two slices' contents
          const size_t a = rng() % s.size(), b = rng() % s.size();
          std::swap(s[a], s[b]);
          break;
        }
        default: s = s.substr(0, pos); break;  // truncate
      }
    }
    auto r = np::parse_tools(s);
    if (r.ok()) {
      ++ok;
      // Whatever parsed must normalise to JSON that parses again to the same bytes.
      auto again = np::parse_tools(r.value().normalized_json);
      REQUIRE(again.ok());
      REQUIRE(again.value().normalized_json == r.value().normalized_json);
      auto calls = np::parse_calls(s, r.value());  // garbage answers must fail cleanly too
      (void)calls;
    } else if (r.status().code() == np::Code::kInvalidTools) {
      ++invalid_tools;
    } else {
      REQUIRE(r.status().code() == np::Code::kInvalidInput);
      ++invalid_input;
    }
  }
  INFO("ok=" << ok << " invalid_tools=" << invalid_tools << " invalid_input=" << invalid_input);
  CHECK(ok > 0);
  CHECK(invalid_tools > 0);
}

TEST_CASE("parse_tools survives structural mutations", "[tools][fuzz]") {
  // Replace random values of a valid list with values of random types: exercises every
  // semantic check rather than the JSON parser.
  const json base = parse(
      R"([{"name":"getWeather","description":"d","parameters":{"location":{"type":"string","required":true}}},)"
      R"({"type":"function","function":{"name":"b","parameters":{"type":"object","properties":{"p":{"type":"integer","enum":[1,2]}},"required":["p"]}}},)"
      R"({"name":"c","input_schema":{"type":"object","properties":{"q":{"anyOf":[{"type":"null"},{"type":"string"}]}}}}])");
  const json replacements[] = {json(nullptr), json(true), json(7), json(-1.5), json("object"), json(""),
                               json("!!"), json::array(), json::object(), parse(R"(["p"])"),
                               parse(R"({"type":"object"})"), parse(R"({"p":{}})")};
  std::mt19937 rng(7);
  for (int iter = 0; iter < 2000; ++iter) {
    json doc = base;
    const int n_mut = 1 + static_cast<int>(rng() % 3);
    for (int m = 0; m < n_mut; ++m) {
      // Walk down a random path and replace what we land on.
      json* node = &doc;
      while ((node->is_object() || node->is_array()) && !node->empty() && rng() % 4 != 0) {
        const size_t k = rng() % node->size();
        auto it = node->begin();
        std::advance(it, static_cast<long>(k));
        node = &*it;
      }
      *node = replacements[rng() % (sizeof(replacements) / sizeof(replacements[0]))];
    }
    const std::string s = np::json_dumps_compact(doc);
    auto r = np::parse_tools(s);
    if (r.ok()) {
      auto again = np::parse_tools(r.value().normalized_json);
      REQUIRE(again.ok());
      REQUIRE(again.value().normalized_json == r.value().normalized_json);
    } else {
      INFO(s << " -> " << r.status().to_string());
      REQUIRE(r.status().code() == np::Code::kInvalidTools);
    }
  }
}
