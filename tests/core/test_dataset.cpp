// test_dataset.cpp — the training data pipeline ([dataset]): line validation (every error,
// with its line and field), skip/stop policies, streaming a 10k-line file with bounded
// memory, seeded shuffling, save/restore giving the identical continuation, encoder ids
// equal to the tool caller's, hand-built decoder ids, role weights on tricky answers,
// augmentation, batches, and the tiny_tools.jsonl fixture.
#include <catch2/catch.hpp>

#include "test_util.h"

#include <stdlib.h>

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "np/dataset.h"
#include "np/model.h"
#include "np/tool_caller.h"

using json = nlohmann::ordered_json;
using np::Code;
using np::TokenRole;

namespace {

struct TempDir : np_test::TempDir {
  TempDir() : np_test::TempDir("np_dataset_test") {}
};

const char* kTimer =
    R"({"name":"set_timer","description":"Start a timer.","parameters":{"minutes":{"type":"integer","description":"Minutes.","required":true},"label":{"type":"string","description":"Name.","required":false}}})";
const char* kWeather =
    R"({"name":"getWeather","description":"Weather for a city.","parameters":{"location":{"type":"string","description":"City.","required":true}}})";

std::string tools2() { return std::string("[") + kTimer + "," + kWeather + "]"; }

// A valid line: {"id", "query", "tools", "answers"}.
std::string good_line(const std::string& id, const std::string& query = "Set a timer for 5 minutes",
                      const std::string& answers = R"([{"name":"set_timer","arguments":{"minutes":5}}])") {
  return R"({"id":")" + id + R"(","query":")" + query + R"(","tools":)" + tools2() + R"(,"answers":)" + answers + "}";
}

void expect_line_error(const std::string& line, Code code, std::vector<std::string> parts, int64_t line_no = 7) {
  np::Example ex;
  np::Status st = np::parse_example(line, line_no, true, &ex);
  INFO("line: " << line);
  INFO("status: " << st.to_string());
  REQUIRE_FALSE(st.ok());
  CHECK(st.code() == code);
  parts.push_back("line " + std::to_string(line_no) + ": ");
  for (const auto& p : parts) CHECK(st.message().find(p) != std::string::npos);
}

np::Example parse_ok(const std::string& line, int64_t line_no = 1) {
  np::Example ex;
  np::Status st = np::parse_example(line, line_no, true, &ex);
  INFO("line: " << line);
  if (!st.ok()) FAIL(st.to_string());
  return ex;
}

np::Tokenizer synthetic(int32_t vocab = 512) {
  auto tok = np::synthetic_tokenizer(vocab);
  REQUIRE(tok.ok());
  return tok.take();
}

// All examples a reader hands out (ids with epochs), to the end.
std::vector<std::string> drain(np::ExampleReader& r, size_t max = SIZE_MAX) {
  std::vector<std::string> out;
  while (out.size() < max) {
    np::Example ex;
    bool end = false;
    np::Status st = r.next(&ex, &end);
    if (!st.ok()) FAIL(st.to_string());
    if (end) break;
    out.push_back(std::to_string(ex.epoch) + ":" + ex.id);
  }
  return out;
}

// A file of n valid lines with ids 0..n-1 and varied lengths.
std::string generated_file(const TempDir& dir, int n, const std::string& name = "gen.jsonl") {
  std::string text;
  for (int i = 0; i < n; ++i) {
    const int minutes = i % 97 + 1;
    std::string query = "Set a timer for " + std::to_string(minutes) + " minutes";
    for (int k = 0; k < i % 5; ++k) query += " please";
    text += good_line(std::to_string(i), query,
                      R"([{"name":"set_timer","arguments":{"minutes":)" + std::to_string(minutes) + "}}]") +
            "\n";
  }
  return dir.write(name, text);
}

// Independent role check for texts without runs of spaces: the tokens' texts spell
// " " + text, so each token covers a known byte range; its role is the best in that range.
std::vector<TokenRole> roles_by_concatenation(const np::Tokenizer& tok, const std::string& text,
                                              const std::vector<TokenRole>& byte_roles,
                                              const std::vector<int32_t>& ids, const np::RoleWeights& w) {
  std::string spelled;
  for (int32_t id : ids) spelled += tok.token_text(id);
  REQUIRE(spelled == " " + text);
  std::vector<TokenRole> out;
  size_t pos = 0;  // in spelled
  for (int32_t id : ids) {
    const size_t len = tok.token_text(id).size();
    bool any = false;
    TokenRole best = TokenRole::kStructure;
    for (size_t k = pos; k < pos + len; ++k) {
      if (k == 0) continue;  // the dummy prefix
      const TokenRole r = byte_roles[k - 1];
      if (!any || w.of(r) > w.of(best) || (w.of(r) == w.of(best) && static_cast<int>(r) > static_cast<int>(best)))
        best = r;
      any = true;
    }
    out.push_back(best);
    pos += len;
  }
  return out;
}

std::vector<np::AnswerCall> calls_of(const std::string& line) { return parse_ok(line).answers; }

std::string answers_line(const std::string& tools, const std::string& answers) {
  return R"({"query":"q","tools":)" + tools + R"(,"answers":)" + answers + "}";
}

}  // namespace

// ---- validation --------------------------------------------------------------------------

TEST_CASE("every validation error names the line and the field", "[dataset]") {
  const std::string T = tools2();
  expect_line_error(R"({"query": "x", )", Code::kInvalidInput, {"not valid JSON"});
  expect_line_error("\xff", Code::kInvalidInput, {"not valid JSON"});
  expect_line_error(R"([1,2])", Code::kInvalidInput, {"must be a JSON object, got array"});
  expect_line_error(R"({"tools":)" + T + R"(,"answers":[]})", Code::kInvalidInput, {"missing \"query\""});
  expect_line_error(R"({"query":3,"tools":)" + T + R"(,"answers":[]})", Code::kInvalidInput,
                    {"\"query\" must be a string, got number"});
  expect_line_error(R"({"query":"","tools":)" + T + R"(,"answers":[]})", Code::kInvalidInput, {"\"query\" is empty"});
  expect_line_error(R"({"query":"q","answers":[]})", Code::kInvalidInput, {"missing \"tools\""});
  expect_line_error(R"({"query":"q","tools":{},"answers":[]})", Code::kInvalidInput,
                    {"\"tools\" must be an array", "got object"});
  expect_line_error(R"({"query":"q","tools":"[{","answers":[]})", Code::kInvalidTools,
                    {"\"tools\": ", "not valid JSON"});
  expect_line_error(R"({"query":"q","tools":[{"description":"d"}],"answers":[]})", Code::kInvalidTools,
                    {"\"tools\": ", "tools[0]", "missing \"name\""});
  expect_line_error(R"({"query":"q","tools":[{"name":"a"},{"name":"a"}],"answers":[]})", Code::kInvalidTools,
                    {"\"tools\": ", "tools[1]", "duplicate tool name"});
  expect_line_error(R"({"query":"q","tools":)" + T + "}", Code::kInvalidInput, {"missing \"answers\""});
  expect_line_error(R"({"query":"q","tools":)" + T + R"(,"answers":5})", Code::kInvalidInput,
                    {"\"answers\" must be an array", "got number"});
  expect_line_error(R"({"query":"q","tools":)" + T + R"(,"answers":"[{"})", Code::kInvalidInput,
                    {"\"answers\" is not valid JSON"});
  expect_line_error(R"({"query":"q","tools":)" + T + R"(,"answers":"{}"})", Code::kInvalidInput,
                    {"\"answers\" must hold a JSON array", "got object"});
  expect_line_error(R"({"query":"q","tools":)" + T + R"(,"answers":[[]]})", Code::kInvalidInput,
                    {"\"answers\"[0]: not an object, got array"});
  expect_line_error(R"({"query":"q","tools":)" + T + R"(,"answers":[{"arguments":{}}]})", Code::kInvalidInput,
                    {"\"answers\"[0]: missing \"name\""});
  expect_line_error(R"({"query":"q","tools":)" + T + R"(,"answers":[{"name":1}]})", Code::kInvalidInput,
                    {"\"answers\"[0]: \"name\" must be a string, got number"});
  expect_line_error(R"({"query":"q","tools":)" + T +
                        R"(,"answers":[{"name":"set_timer","arguments":{"minutes":1}},{"name":"play_music"}]})",
                    Code::kInvalidInput, {"\"answers\"[1]: \"play_music\" is not a tool in \"tools\""});
  expect_line_error(R"({"query":"q","tools":)" + T + R"(,"answers":[{"name":"set_timer","arguments":[1]}]})",
                    Code::kInvalidInput, {"\"answers\"[0] \"set_timer\": \"arguments\" must be an object, got array"});
  expect_line_error(R"({"query":"q","tools":)" + T + R"(,"answers":[{"name":"set_timer","arguments":"x"}]})",
                    Code::kInvalidInput, {"\"answers\"[0] \"set_timer\": \"arguments\" must be an object, got string"});
  expect_line_error(R"({"query":"q","tools":)" + T + R"(,"answers":[{"name":"set_timer","arguments":{"secs":1}}]})",
                    Code::kInvalidInput, {"\"answers\"[0] \"set_timer\": argument \"secs\" is not a parameter"});
  expect_line_error(R"({"query":"q","tools":)" + T + R"(,"answers":[],"id":1.5})", Code::kInvalidInput,
                    {"\"id\" must be a string or an integer, got number"});
  expect_line_error(R"({"query":"q","tools":)" + T + R"(,"answers":[],"accept":{}})", Code::kInvalidInput,
                    {"\"accept\" must be an array"});
  expect_line_error(R"({"query":"q","tools":)" + T + R"(,"answers":[],"accept":[{}]})", Code::kInvalidInput,
                    {"\"accept\" has 1 entries but \"answers\" has 0"});
  expect_line_error(R"({"query":"q","tools":)" + T +
                        R"(,"answers":[{"name":"set_timer","arguments":{"minutes":1}}],"accept":[3]})",
                    Code::kInvalidInput, {"\"accept\"[0] must be an object"});
  expect_line_error(R"({"query":"q","tools":)" + T +
                        R"(,"answers":[{"name":"set_timer","arguments":{"minutes":123456789012345678901234567890}}]})",
                    Code::kInvalidInput, {"not valid JSON", "does not fit in 64 bits"});
  std::string deep = "1";
  for (int i = 0; i < 70; ++i) deep = "[" + deep + "]";
  expect_line_error(R"({"query":"q","tools":)" + T + R"(,"answers":[],"x":)" + deep + "}", Code::kInvalidInput,
                    {"not valid JSON", "nest deeper"});
  // The key check can be switched off.
  np::Example ex;
  CHECK(np::parse_example(R"({"query":"q","tools":)" + T + R"(,"answers":[{"name":"set_timer","arguments":{"secs":1}}]})",
                          1, false, &ex).ok());
}

TEST_CASE("valid lines: names by either spelling, strings holding JSON, defaults", "[dataset]") {
  const std::string T = tools2();
  // Original name, snake name, and a spelling whose snake_case agrees all resolve.
  for (const char* name : {"getWeather", "get_weather", "GetWeather"}) {
    np::Example ex = parse_ok(R"({"query":"Weather in Oslo?","tools":)" + T + R"(,"answers":[{"name":")" + name +
                              R"(","arguments":{"location":"Oslo"}}]})");
    REQUIRE(ex.answers.size() == 1);
    CHECK(ex.answers[0].name == "get_weather");
    CHECK(ex.answers[0].original_name == "getWeather");
  }
  // tools and answers as strings holding JSON; missing/null arguments are {}; id integer;
  // other fields ignored; accept kept.
  json line = json::object();
  line["query"] = "Timer please";
  line["tools"] = tools2();
  line["answers"] = R"([{"name":"set_timer"},{"name":"set_timer","arguments":null}])";
  line["id"] = 42;
  line["source"] = "synthetic";
  line["accept"] = json::parse(R"([{"name":"set_timer","arguments":{}},{}])");
  np::Example ex = parse_ok(line.dump(), 3);
  CHECK(ex.line == 3);
  CHECK(ex.id == "42");
  CHECK(ex.query == "Timer please");
  REQUIRE(ex.answers.size() == 2);
  CHECK(ex.answers[0].arguments == json::object());
  CHECK(ex.answers[1].arguments == json::object());
  CHECK(ex.tools.is_array());
  CHECK(ex.tools.size() == 2);
  CHECK(ex.toolset.tools.size() == 2);
  CHECK(ex.accept.is_array());
  CHECK(ex.toolset.normalized_json == np::parse_tools(tools2()).value().normalized_json);
  // [] means no call.
  CHECK(parse_ok(R"({"query":"hi","tools":)" + T + R"(,"answers":[]})").answers.empty());
}

// ---- reading files -----------------------------------------------------------------------

TEST_CASE("skip-and-count vs stop at the first bad line", "[dataset]") {
  TempDir dir;
  std::string text;
  text += good_line("a") + "\n";                       // line 1
  text += "\n";                                        // line 2: blank, ignored
  text += "{not json\n";                               // line 3
  text += good_line("b") + "\r\n";                     // line 4 (CRLF)
  text += R"({"query":"q","tools":[],"answers":[{"name":"x"}]})" "\n";  // line 5
  text += "   \n";                                     // line 6: blank
  text += R"({"query":"q","tools":)" + std::string(3000, ' ') + "[]," R"("answers":[]})" "\n";  // line 7: too long
  text += good_line("c");                              // line 8, no final newline
  const std::string path = dir.write("mixed.jsonl", text);

  np::ReaderOptions o;
  o.shuffle = false;
  o.max_line_bytes = 2048;
  {
    auto r = np::ExampleReader::open(path, o);
    REQUIRE(r.ok());
    CHECK(drain(*r.value()) == std::vector<std::string>{"0:a", "0:b", "0:c"});
    const np::DataReport& rep = r.value()->report();
    CHECK(rep.lines == 6);
    CHECK(rep.examples == 3);
    CHECK(rep.bad_lines == 3);
    REQUIRE(rep.errors.size() == 3);
    CHECK(rep.errors[0].rfind("line 3: not valid JSON", 0) == 0);
    CHECK(rep.errors[1].rfind("line 5: \"answers\"[0]: \"x\" is not a tool", 0) == 0);
    CHECK(rep.errors[2] == "line 7: longer than 2048 bytes");
  }
  {
    o.max_errors = 1;
    auto r = np::ExampleReader::open(path, o);
    REQUIRE(r.ok());
    drain(*r.value());
    CHECK(r.value()->report().bad_lines == 3);
    CHECK(r.value()->report().errors.size() == 1);
  }
  {
    o.policy = np::BadLinePolicy::kStop;
    auto r = np::ExampleReader::open(path, o);
    REQUIRE(r.ok());
    np::Example ex;
    bool end = false;
    REQUIRE(r.value()->next(&ex, &end).ok());
    CHECK(ex.id == "a");
    CHECK(ex.line == 1);
    np::Status st = r.value()->next(&ex, &end);
    CHECK(st.code() == Code::kInvalidInput);
    CHECK(st.message().rfind("line 3: ", 0) == 0);
    REQUIRE(r.value()->next(&ex, &end).ok());  // moved past it
    CHECK(ex.id == "b");
    CHECK(ex.line == 4);
    st = r.value()->next(&ex, &end);
    CHECK(st.message().rfind("line 5: ", 0) == 0);
    st = r.value()->next(&ex, &end);
    CHECK(st.message().rfind("line 7: ", 0) == 0);
    REQUIRE(r.value()->next(&ex, &end).ok());
    CHECK(ex.id == "c");
    CHECK(ex.line == 8);
    REQUIRE(r.value()->next(&ex, &end).ok());
    CHECK(end);
  }
  // read_examples: file order, one pass.
  np::DataReport rep;
  o.policy = np::BadLinePolicy::kSkip;
  auto all = np::read_examples(path, o, &rep);
  REQUIRE(all.ok());
  REQUIRE(all.value().size() == 3);
  CHECK(all.value()[2].id == "c");
  CHECK(rep.bad_lines == 3);
  // Offsets point at each line.
  CHECK(all.value()[0].offset == 0);
  CHECK(text.compare(all.value()[1].offset, 8, "{\"id\":\"b") == 0);

  // Errors that are not about one line.
  CHECK(np::ExampleReader::open(dir.path + "/missing.jsonl", o).status().code() == Code::kIoError);
  const std::string empty = dir.write("empty.jsonl", "\n\n");
  auto r = np::ExampleReader::open(empty, o);
  REQUIRE(r.ok());
  np::Example ex;
  bool end = false;
  CHECK(r.value()->next(&ex, &end).code() == Code::kInvalidInput);  // a pass with no example
  o.shuffle_window = 0;
  CHECK(np::ExampleReader::open(path, o).status().code() == Code::kInvalidInput);
}

TEST_CASE("a 10k-line file streams with bounded memory, every line once per epoch", "[dataset]") {
  TempDir dir;
  const int n = 10000;
  const std::string path = generated_file(dir, n);
  np::ReaderOptions o;
  o.shuffle_window = 64;
  o.epochs = 2;
  o.seed = 11;
  auto r = np::ExampleReader::open(path, o);
  REQUIRE(r.ok());
  const std::vector<std::string> seen = drain(*r.value());
  REQUIRE(seen.size() == 2u * n);
  for (int e = 0; e < 2; ++e) {
    std::set<std::string> ids(seen.begin() + e * n, seen.begin() + (e + 1) * n);
    CHECK(ids.size() == static_cast<size_t>(n));
    CHECK(ids.count(std::to_string(e) + ":0") == 1);
    CHECK(ids.count(std::to_string(e) + ":9999") == 1);
  }
  // Shuffled, and differently in each epoch.
  CHECK(seen[0] != "0:0");
  std::vector<std::string> e0, e1;
  for (int i = 0; i < n; ++i) {
    e0.push_back(seen[i].substr(2));
    e1.push_back(seen[n + i].substr(2));
  }
  CHECK(e0 != e1);
  // Memory: one window of 64 lines, never the file.
  const uint64_t file = r.value()->file_bytes();
  const size_t peak = r.value()->peak_window_bytes();
  INFO("file " << file << " bytes, peak window " << peak << " bytes");
  CHECK(peak <= 64 * 1024u);
  CHECK(peak * 50 < file);
  CHECK(r.value()->report().lines == n);  // the first pass only
  CHECK(r.value()->report().examples_out == 2 * n);
  CHECK(r.value()->report().epoch == 2);
}

TEST_CASE("shuffling is deterministic by seed and stays within a window", "[dataset]") {
  TempDir dir;
  const std::string path = generated_file(dir, 300);
  auto order = [&](uint64_t seed, bool shuffle, size_t window) {
    np::ReaderOptions o;
    o.seed = seed;
    o.shuffle = shuffle;
    o.shuffle_window = window;
    auto r = np::ExampleReader::open(path, o);
    REQUIRE(r.ok());
    return drain(*r.value());
  };
  const auto a = order(1, true, 50), b = order(1, true, 50), c = order(2, true, 50);
  CHECK(a == b);
  CHECK(a != c);
  std::vector<std::string> sorted_ids;
  for (int i = 0; i < 300; ++i) sorted_ids.push_back("0:" + std::to_string(i));
  CHECK(order(1, false, 50) == sorted_ids);
  // Each window of 50 lines is a permutation of those 50 lines.
  for (size_t w = 0; w < 6; ++w) {
    std::set<int> got;
    for (size_t i = w * 50; i < (w + 1) * 50; ++i) got.insert(std::stoi(a[i].substr(2)));
    CHECK(*got.begin() == static_cast<int>(w * 50));
    CHECK(*got.rbegin() == static_cast<int>(w * 50 + 49));
  }
}

TEST_CASE("reader: save/restore continues exactly where it stopped", "[dataset]") {
  TempDir dir;
  std::string text;
  for (int i = 0; i < 130; ++i) {
    if (i % 17 == 3) text += "{broken\n";
    if (i % 23 == 5) text += "\n";
    text += good_line(std::to_string(i)) + "\n";
  }
  const std::string path = dir.write("restore.jsonl", text);
  np::ReaderOptions o;
  o.shuffle_window = 32;
  o.epochs = 3;
  o.seed = 99;
  auto full = np::ExampleReader::open(path, o);
  REQUIRE(full.ok());
  const std::vector<std::string> all = drain(*full.value());
  REQUIRE(all.size() == 3 * 130u);
  const np::DataReport final_report = full.value()->report();

  for (size_t k : {size_t{0}, size_t{1}, size_t{31}, size_t{32}, size_t{33}, size_t{129}, size_t{130}, size_t{131},
                   size_t{200}, size_t{389}, size_t{390}}) {
    INFO("restore after " << k << " examples");
    auto r1 = np::ExampleReader::open(path, o);
    REQUIRE(r1.ok());
    const auto head = drain(*r1.value(), k);
    CHECK(std::equal(head.begin(), head.end(), all.begin()));
    const std::string saved = r1.value()->position().to_json();

    auto pos = np::DataPosition::from_json(saved);
    REQUIRE(pos.ok());
    CHECK(pos.value().to_json() == saved);
    auto r2 = np::ExampleReader::open(path, o);
    REQUIRE(r2.ok());
    np::Status st = r2.value()->restore(pos.value());
    INFO(st.to_string());
    REQUIRE(st.ok());
    const auto tail = drain(*r2.value());
    std::vector<std::string> joined = head;
    joined.insert(joined.end(), tail.begin(), tail.end());
    CHECK(joined == all);
    CHECK(r2.value()->report().lines == final_report.lines);
    CHECK(r2.value()->report().bad_lines == final_report.bad_lines);
    CHECK(r2.value()->report().examples_out == final_report.examples_out);
  }

  // Refused: other options, another file, an offset inside a line, bad JSON.
  auto r1 = np::ExampleReader::open(path, o);
  REQUIRE(r1.ok());
  drain(*r1.value(), 40);
  const np::DataPosition pos = r1.value()->position();
  np::ReaderOptions other = o;
  other.seed = 100;
  auto r2 = np::ExampleReader::open(path, other);
  REQUIRE(r2.ok());
  CHECK(r2.value()->restore(pos).code() == Code::kInvalidInput);
  const std::string path2 = dir.write("other.jsonl", text + good_line("extra") + "\n");
  auto r3 = np::ExampleReader::open(path2, o);
  REQUIRE(r3.ok());
  CHECK(r3.value()->restore(pos).code() == Code::kInvalidInput);
  np::DataPosition inside = pos;
  inside.window_offset += 1;
  auto r4 = np::ExampleReader::open(path, o);
  REQUIRE(r4.ok());
  CHECK(r4.value()->restore(inside).code() == Code::kInvalidInput);
  CHECK(np::DataPosition::from_json("{}").status().code() == Code::kInvalidInput);
  CHECK(np::DataPosition::from_json("[").status().code() == Code::kInvalidInput);
  json j = json::parse(pos.to_json());
  j["window_taken"] = -1;
  CHECK(np::DataPosition::from_json(j.dump()).status().code() == Code::kInvalidInput);
}

// ---- tokenization ------------------------------------------------------------------------

TEST_CASE("build_encoder_ids equals ToolCaller::build_encoder_input", "[dataset]") {
  np::Tokenizer tok = synthetic();
  np::ModelConfig c = np::ModelConfig::small();
  c.max_enc_len = 40;
  np::GgufWriter w;
  REQUIRE(np::model_write_random(c, tok, 3, np::GgmlType::F32, &w).ok());
  auto bytes = w.to_bytes();
  REQUIRE(bytes.ok());
  auto f = np::GgufFile::open_bytes(bytes.take());
  REQUIRE(f.ok());
  auto m = np::Model::load(f.take());
  REQUIRE(m.ok());
  np::ToolCaller caller(m.take());
  const np::ModelConfig& mc = caller.model().config();
  const std::string tools = np::parse_tools(tools2()).value().normalized_json;
  std::string long_query;
  for (int i = 0; i < 30; ++i) long_query += "word" + std::to_string(i) + " ";
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"hi", "[]"},
      {"Set a timer", tools},          // tools cut to fill
      {long_query, tools},             // query cut to max - 2, then one tools token
      {"Zürich  weather", "[]"},
      {std::string(38, 'x'), "[]"},
      {"a", ""},
  };
  for (const auto& [q, t] : cases) {
    INFO("query " << q);
    bool t1 = false, t2 = false;
    const auto a = np::build_encoder_ids(tok, mc, q, t, &t1);
    const auto b = caller.build_encoder_input(q, t, &t2);
    CHECK(a == b);
    CHECK(t1 == t2);
    CHECK(a.size() <= 40u);
  }
  bool tr = false;
  CHECK(np::build_encoder_ids(tok, mc, long_query, tools, &tr).size() == 40u);
  CHECK(tr);
}

TEST_CASE("train pair: hand-built encoder and decoder ids", "[dataset]") {
  np::Tokenizer tok = synthetic();
  np::ModelConfig c = np::ModelConfig::small();
  auto id = [&](const char* piece) {
    const int32_t i = tok.piece_to_id(piece);
    REQUIRE(i >= 0);
    return i;
  };
  const int32_t sp = id("\xE2\x96\x81"), sp_h = id("\xE2\x96\x81h"), i_ = id("i");
  const int32_t lb = id("["), rb = id("]");
  // "hi" -> ▁h i (▁h outranks hi); "[]" -> ▁ [ ] (no merges for brackets).
  REQUIRE(tok.encode("hi") == std::vector<int32_t>{sp_h, i_});
  REQUIRE(tok.encode("[]") == std::vector<int32_t>{sp, lb, rb});

  np::Example ex = parse_ok(R"({"query":"hi","tools":[{"name":"t"}],"answers":[]})");
  CHECK(ex.toolset.normalized_json == R"([{"name":"t","description":"","parameters":{}}])");
  np::PairOptions po;
  po.augment.enabled = false;
  np::TrainPair p;
  REQUIRE(np::make_train_pair(tok, c, po, ex, 0, &p).ok());
  std::vector<int32_t> enc = {sp_h, i_, c.tools_id};
  const auto tools_ids = tok.encode(ex.toolset.normalized_json);
  enc.insert(enc.end(), tools_ids.begin(), tools_ids.end());
  CHECK(p.enc_ids == enc);
  CHECK_FALSE(p.enc_truncated);
  CHECK(p.answer == "[]");
  CHECK(p.dec_in == std::vector<int32_t>{c.eos_id, c.tool_call_id, sp, lb, rb});
  CHECK(p.targets == std::vector<int32_t>{c.tool_call_id, sp, lb, rb, c.eos_id});
  CHECK(p.weights == std::vector<float>{1, 1, 1, 1, 1});
  CHECK(p.target_len == 5);
  CHECK(p.fits);

  // A call: [{"name":"t","arguments":{"k":"v"}}], every character its own token except ▁[.
  np::Example ex2 = parse_ok(
      R"({"query":"hi","tools":[{"name":"t","parameters":{"k":{"type":"string"}}}],"answers":[{"name":"t","arguments":{"k":"v"}}]})");
  REQUIRE(np::make_train_pair(tok, c, po, ex2, 0, &p).ok());
  CHECK(p.answer == R"([{"name":"t","arguments":{"k":"v"}}])");
  std::vector<int32_t> want = {c.tool_call_id};
  const auto ans = tok.encode(p.answer);
  want.insert(want.end(), ans.begin(), ans.end());
  want.push_back(c.eos_id);
  CHECK(p.targets == want);
  REQUIRE(p.roles.size() == want.size());
  std::string spelled;
  std::map<std::string, TokenRole> role_of;  // single-letter tokens
  for (size_t i = 1; i + 1 < want.size(); ++i) {
    spelled += tok.token_text(want[i]);
    role_of[tok.token_text(want[i])] = p.roles[i];
  }
  CHECK(spelled == " " + p.answer);
  CHECK(role_of["t"] == TokenRole::kName);
  CHECK(role_of["k"] == TokenRole::kKey);
  CHECK(role_of["v"] == TokenRole::kValue);
  CHECK(role_of["{"] == TokenRole::kStructure);
  CHECK(p.roles.front() == TokenRole::kStructure);
  CHECK(p.roles.back() == TokenRole::kStructure);
  for (size_t i = 0; i < p.roles.size(); ++i) CHECK(p.weights[i] == po.weights.of(p.roles[i]));

  // A target longer than the decoder context is dropped, never cut.
  c.max_dec_len = static_cast<int32_t>(want.size()) - 1;
  REQUIRE(np::make_train_pair(tok, c, po, ex2, 0, &p).ok());
  CHECK_FALSE(p.fits);
  CHECK(p.target_len == static_cast<int32_t>(want.size()));
  CHECK(p.targets.empty());
  c.max_dec_len = static_cast<int32_t>(want.size());
  REQUIRE(np::make_train_pair(tok, c, po, ex2, 0, &p).ok());
  CHECK(p.fits);
}

TEST_CASE("answer text: compact, name then arguments, raw UTF-8, Python numbers", "[dataset]") {
  const std::string tools =
      R"([{"name":"sendMessage","parameters":{"to":{"type":"string"},"text":{"type":"string"},"n":{"type":"number"},"x":{"type":"object"}}}])";
  auto text_of = [&](const std::string& answers) { return np::answer_text(calls_of(answers_line(tools, answers)), nullptr); };
  CHECK(text_of("[]") == "[]");
  CHECK(text_of(R"([{"arguments":{"to":"Zoë","text":"東京 😀"},"name":"sendMessage"}])") ==
        R"([{"name":"send_message","arguments":{"to":"Zoë","text":"東京 😀"}}])");
  CHECK(text_of(R"([{"name":"send_message","arguments":{"text":"a\"b\\c\nd\u0001\u007f","n":1.50}}])") ==
        "[{\"name\":\"send_message\",\"arguments\":{\"text\":\"a\\\"b\\\\c\\nd\\u0001\x7f\",\"n\":1.5}}]");
  CHECK(text_of(R"([{"name":"sendMessage","arguments":{"n":10,"x":{"a":[1,2.0,-3e-7,true,null]}}}])") ==
        R"([{"name":"send_message","arguments":{"n":10,"x":{"a":[1,2.0,-3e-07,true,null]}}}])");
  CHECK(text_of(R"([{"name":"sendMessage"},{"name":"sendMessage","arguments":{"to":""}}])") ==
        R"([{"name":"send_message","arguments":{}},{"name":"send_message","arguments":{"to":""}}])");
}

TEST_CASE("role weights on tricky answers", "[dataset]") {
  np::Tokenizer tok = synthetic(2000);  // letters, pairs, ▁-pairs, some triples
  const std::string tools =
      R"([{"name":"get_weather","parameters":{"location":{"type":"string"}}},)"
      R"({"name":"sendMessage","parameters":{"to":{"type":"string"},"text":{"type":"string"},"filter":{"type":"object"}}}])";
  const np::RoleWeights w;
  const std::vector<std::string> answers = {
      R"([{"name":"get_weather","arguments":{"location":"Zürich"}}])",              // multi-byte UTF-8
      R"([{"name":"get_weather","arguments":{"location":"東京 😀"}}])",              // byte fallback
      R"([{"name":"sendMessage","arguments":{"to":"","text":"x"}}])",               // empty value
      R"([{"name":"sendMessage","arguments":{}}])",                                 // no arguments
      R"([{"name":"sendMessage","arguments":{"filter":{"tags":["a b",{"k":1}],"n":2.5}}}])",  // nested
      R"([{"name":"get_weather","arguments":{"location":"Oslo"}},{"name":"sendMessage","arguments":{"to":"Ann","text":"hi there"}}])",
  };
  for (const auto& a : answers) {
    INFO("answers " << a);
    const auto calls = calls_of(answers_line(tools, a));
    std::vector<TokenRole> byte_roles;
    const std::string text = np::answer_text(calls, &byte_roles);
    REQUIRE(byte_roles.size() == text.size());
    const auto ids = tok.encode(text);
    std::vector<TokenRole> roles;
    np::Status st = np::answer_token_roles(tok, text, byte_roles, ids, w, &roles);
    INFO(st.to_string());
    REQUIRE(st.ok());
    CHECK(roles == roles_by_concatenation(tok, text, byte_roles, ids, w));
  }

  // Byte roles of a nested value: all value, inner brackets and keys included.
  {
    std::vector<TokenRole> br;
    const std::string text = np::answer_text(calls_of(answers_line(tools, answers[4])), &br);
    const size_t at = text.find("{\"tags\"");
    const size_t end = text.find("}}}]");
    REQUIRE(at != std::string::npos);
    for (size_t i = at; i <= end; ++i) CHECK(br[i] == TokenRole::kValue);
    CHECK(br[text.find("filter")] == TokenRole::kKey);
    CHECK(br[text.find("filter") - 1] == TokenRole::kStructure);  // its quote
    CHECK(br[text.find("send_message")] == TokenRole::kName);
    CHECK(br[text.find("name")] == TokenRole::kStructure);     // the literal key
  }
  // Multi-byte value: every token of Zürich is value, including ü's byte tokens.
  {
    std::vector<TokenRole> br;
    const std::string text = np::answer_text(calls_of(answers_line(tools, answers[0])), &br);
    CHECK(text.find("Zürich") != std::string::npos);  // raw UTF-8
    const auto ids = tok.encode(text);
    std::vector<TokenRole> roles;
    REQUIRE(np::answer_token_roles(tok, text, br, ids, w, &roles).ok());
    int value_tokens = 0, byte_tokens = 0;
    for (size_t i = 0; i < ids.size(); ++i) {
      if (tok.type(ids[i]) == np::TokenType::kByte) {
        ++byte_tokens;
        CHECK(roles[i] == TokenRole::kValue);
      }
      value_tokens += roles[i] == TokenRole::kValue;
    }
    CHECK(byte_tokens == 2);  // ü = C3 BC
    CHECK(value_tokens >= 4);
  }
  // Double spaces: the tokenizer collapses them, the alignment still holds, and the
  // tokens around the gap are value.
  {
    const auto calls = calls_of(answers_line(tools, R"([{"name":"sendMessage","arguments":{"text":"see  you   soon"}}])"));
    std::vector<TokenRole> br;
    const std::string text = np::answer_text(calls, &br);
    const auto ids = tok.encode(text);
    CHECK(tok.decode(ids) == R"([{"name":"send_message","arguments":{"text":"see you soon"}}])");
    std::vector<TokenRole> roles;
    REQUIRE(np::answer_token_roles(tok, text, br, ids, w, &roles).ok());
    std::string value_text;
    for (size_t i = 0; i < ids.size(); ++i)
      if (roles[i] == TokenRole::kValue) value_text += tok.token_text(ids[i]);
    CHECK(value_text == "see you soon");
  }
  // Tokens spanning several roles take the highest weight. A vocabulary with pieces that
  // cross role boundaries: "k (quote + key), ": (structure), :"v (structure + value).
  {
    std::vector<std::string> pieces = {"<pad>", "</s>", "<s>", "<unk>", "<tool_call>", "<tools>"};
    std::vector<np::TokenType> types = {np::TokenType::kControl, np::TokenType::kControl, np::TokenType::kControl,
                                        np::TokenType::kUnknown, np::TokenType::kUserDefined, np::TokenType::kUserDefined};
    const char* hex = "0123456789ABCDEF";
    for (int b = 0; b < 256; ++b) {
      pieces.push_back(std::string("<0x") + hex[b >> 4] + hex[b & 15] + ">");
      types.push_back(np::TokenType::kByte);
    }
    for (std::string s : {"\"k", ":\"", ":\"v", "\":", "\xE2\x96\x81", "[", "]", "{", "}", "\"", ":", ",", "k", "v",
                          "t", "n", "a", "m", "e", "r", "g", "u", "s"}) {
      pieces.push_back(s);
      types.push_back(np::TokenType::kNormal);
    }
    std::vector<float> scores(pieces.size(), 0.0f);
    for (size_t i = 262; i < pieces.size(); ++i) scores[i] = -static_cast<float>(i);
    auto custom = np::Tokenizer::from_pieces(pieces, scores, types, np::TokenizerConfig());
    REQUIRE(custom.ok());
    const np::Tokenizer& ct = custom.value();
    const auto calls =
        calls_of(answers_line(R"([{"name":"t","parameters":{"k":{}}}])", R"([{"name":"t","arguments":{"k":"v"}}])"));
    std::vector<TokenRole> br;
    const std::string text = np::answer_text(calls, &br);
    const auto ids = ct.encode(text);
    std::vector<std::string> texts;
    for (int32_t i : ids) texts.push_back(ct.token_text(i));
    REQUIRE(std::find(texts.begin(), texts.end(), "\"k") != texts.end());
    REQUIRE(std::find(texts.begin(), texts.end(), ":\"v") != texts.end());
    auto role_of = [&](const np::RoleWeights& rw, const std::string& t) {
      std::vector<TokenRole> roles;
      REQUIRE(np::answer_token_roles(ct, text, br, ids, rw, &roles).ok());
      CHECK(roles == roles_by_concatenation(ct, text, br, ids, rw));
      return roles[std::find(texts.begin(), texts.end(), t) - texts.begin()];
    };
    CHECK(role_of(w, "\"k") == TokenRole::kKey);
    CHECK(role_of(w, ":\"v") == TokenRole::kValue);
    np::RoleWeights heavy_structure;
    heavy_structure.structure = 5.0f;
    CHECK(role_of(heavy_structure, "\"k") == TokenRole::kStructure);
    CHECK(role_of(heavy_structure, ":\"v") == TokenRole::kStructure);
  }
  // A literal U+2581 in a value (token_text shows it as a space) and, without byte
  // fallback, an unknown token: both stay aligned and count as value.
  {
    const auto calls = calls_of(answers_line(tools, "[{\"name\":\"sendMessage\",\"arguments\":{\"text\":\"a\xE2\x96\x81\x62\"}}]"));
    std::vector<TokenRole> br;
    const std::string text = np::answer_text(calls, &br);
    const auto ids = tok.encode(text);
    std::vector<TokenRole> roles;
    REQUIRE(np::answer_token_roles(tok, text, br, ids, w, &roles).ok());
    std::string value_text;
    for (size_t i = 0; i < ids.size(); ++i)
      if (roles[i] == TokenRole::kValue) value_text += tok.token_text(ids[i]);
    CHECK(value_text == "a b");

    std::vector<std::string> pieces = {"<pad>", "</s>", "<s>", "<unk>", "<tool_call>", "<tools>", "\xE2\x96\x81"};
    std::vector<np::TokenType> types = {np::TokenType::kControl, np::TokenType::kControl, np::TokenType::kControl,
                                        np::TokenType::kUnknown, np::TokenType::kUserDefined, np::TokenType::kUserDefined,
                                        np::TokenType::kNormal};
    for (int ch = 33; ch < 127; ++ch) {
      pieces.push_back(std::string(1, static_cast<char>(ch)));
      types.push_back(np::TokenType::kNormal);
    }
    std::vector<float> scores(pieces.size(), 0.0f);
    np::TokenizerConfig cfg;
    cfg.byte_fallback = false;
    auto no_bytes = np::Tokenizer::from_pieces(pieces, scores, types, cfg);
    REQUIRE(no_bytes.ok());
    const np::Tokenizer& nb = no_bytes.value();
    const auto calls2 = calls_of(answers_line(tools, R"([{"name":"sendMessage","arguments":{"text":"xüé","to":"ü"}}])"));
    const std::string text2 = np::answer_text(calls2, &br);
    const auto ids2 = nb.encode(text2);
    REQUIRE(std::count(ids2.begin(), ids2.end(), nb.config().unk_id) == 2);
    REQUIRE(np::answer_token_roles(nb, text2, br, ids2, w, &roles).ok());
    for (size_t i = 0; i < ids2.size(); ++i)
      if (ids2[i] == nb.config().unk_id) CHECK(roles[i] == TokenRole::kValue);
  }
  // Misuse is reported, not crashed on.
  std::vector<TokenRole> roles;
  CHECK(np::answer_token_roles(tok, "[]", {TokenRole::kStructure}, tok.encode("[]"), w, &roles).code() ==
        Code::kInvalidInput);
  CHECK(np::answer_token_roles(tok, "[]", {TokenRole::kStructure, TokenRole::kStructure}, tok.encode("[x]"), w,
                               &roles).code() == Code::kInternal);
}

// ---- augmentation ------------------------------------------------------------------------

TEST_CASE("augmentation permutes tools, parameters and keys, keeping the multisets", "[dataset]") {
  const std::string tools =
      R"([{"name":"a","description":"A","parameters":{"p1":{"type":"string"},"p2":{"type":"number"},"p3":{"type":"string"}}},)"
      R"({"type":"function","function":{"name":"b","parameters":{"type":"object","properties":{"q1":{"type":"string"},"q2":{"type":"string"},"q3":{"type":"integer"}},"required":["q2"]}}},)"
      R"({"description":"C","name":"c","input_schema":{"type":"object","properties":{"r1":{},"r2":{},"r3":{}}}},)"
      R"({"name":"d","parameters":{"s1":{"type":"string","description":"S","required":true}}}])";
  const json src = json::parse(tools);
  auto signature = [](const std::string& normalized) {
    std::multiset<std::string> out;
    auto set = np::parse_tools(normalized);
    REQUIRE(set.ok());
    for (const auto& t : set.value().tools) {
      std::set<std::string> params;
      for (const auto& p : t.params) params.insert(p.name + "=" + np::json_dumps_compact(p.schema));
      std::string s = t.name + ":" + t.description;
      for (const auto& p : params) s += "|" + p;
      out.insert(s);
    }
    return out;
  };
  const std::string base = np::parse_tools(tools).value().normalized_json;
  np::AugmentOptions o;
  std::set<std::string> variants;
  std::set<std::string> tool_orders;
  for (uint64_t seed = 0; seed < 40; ++seed) {
    const json aug = np::augment_tools(src, o, seed);
    CHECK(aug == np::augment_tools(src, o, seed));  // deterministic
    const std::string norm = np::parse_tools(np::json_dumps_compact(aug)).value().normalized_json;
    CHECK(signature(norm) == signature(base));
    variants.insert(norm);
    const auto set = np::parse_tools(norm);
    REQUIRE(set.ok());
    std::string order;
    for (const auto& t : set.value().tools) order += t.name;
    tool_orders.insert(order);
  }
  CHECK(variants.size() > 20);
  CHECK(tool_orders.size() > 10);
  // Parameter order alone: tools fixed.
  o.shuffle_tools = false;
  std::set<std::string> param_orders;
  for (uint64_t seed = 0; seed < 20; ++seed) {
    const auto parsed = np::parse_tools(np::json_dumps_compact(np::augment_tools(src, o, seed)));
    REQUIRE(parsed.ok());
    const np::ToolSet& set = parsed.value();
    CHECK(set.tools[0].name == "a");
    std::string order;
    for (const auto& t : set.tools)
      for (const auto& p : t.params) order += p.name;
    param_orders.insert(order);
  }
  CHECK(param_orders.size() > 5);
  // Keys inside flat parameter specs (off by default).
  o = np::AugmentOptions();
  o.shuffle_tools = o.shuffle_params = o.shuffle_tool_keys = false;
  CHECK(np::augment_tools(src, o, 5) == src);
  o.shuffle_param_keys = true;
  std::set<std::string> spec_orders;
  for (uint64_t seed = 0; seed < 20; ++seed)
    spec_orders.insert(np::parse_tools(np::json_dumps_compact(np::augment_tools(src, o, seed))).value().normalized_json);
  CHECK(spec_orders.size() > 1);

  // In a pair: the answer is unaffected; augmentation off gives the normalised tools as given.
  np::Tokenizer tok = synthetic();
  const np::ModelConfig c = np::ModelConfig::small();
  np::Example ex = parse_ok(R"({"query":"q","tools":)" + tools + R"(,"answers":[{"name":"b","arguments":{"q2":"x"}}]})");
  np::PairOptions po;
  np::TrainPair p1, p2, p3;
  REQUIRE(np::make_train_pair(tok, c, po, ex, 1, &p1).ok());
  REQUIRE(np::make_train_pair(tok, c, po, ex, 2, &p2).ok());
  po.augment.enabled = false;
  REQUIRE(np::make_train_pair(tok, c, po, ex, 1, &p3).ok());
  CHECK(p1.targets == p2.targets);
  CHECK(p1.targets == p3.targets);
  CHECK(p1.tools_json != p2.tools_json);
  CHECK(p3.tools_json == base);
}

// ---- batches -----------------------------------------------------------------------------

TEST_CASE("batches are padded and masked", "[dataset]") {
  np::TrainPair a, b;
  a.enc_ids = {10, 11, 12};
  a.dec_in = {1, 4, 20};
  a.targets = {4, 20, 1};
  a.weights = {1, 3, 1};
  a.line = 5;
  b.enc_ids = {13};
  b.dec_in = {1, 4, 21, 22, 23};
  b.targets = {4, 21, 22, 23, 1};
  b.weights = {1, 2, 2, 1.5f, 1};
  b.line = 9;
  const np::Batch bt = np::make_batch({&a, &b}, 0);
  CHECK(bt.B == 2);
  CHECK(bt.Te == 3);
  CHECK(bt.Td == 5);
  CHECK(bt.enc_ids == std::vector<int32_t>{10, 11, 12, 13, 0, 0});
  CHECK(bt.enc_valid == std::vector<uint8_t>{1, 1, 1, 1, 0, 0});
  CHECK(bt.dec_in == std::vector<int32_t>{1, 4, 20, 0, 0, 1, 4, 21, 22, 23});
  CHECK(bt.targets == std::vector<int32_t>{4, 20, 1, -1, -1, 4, 21, 22, 23, 1});
  CHECK(bt.weights == std::vector<float>{1, 3, 1, 0, 0, 1, 2, 2, 1.5f, 1});
  CHECK(bt.enc_len == std::vector<int32_t>{3, 1});
  CHECK(bt.dec_len == std::vector<int32_t>{3, 5});
  CHECK(bt.lines == std::vector<int64_t>{5, 9});
  CHECK(bt.enc_tokens == 4);
  CHECK(bt.dec_tokens == 8);
  CHECK(bt.weight_sum == Approx(12.5));
}

TEST_CASE("loader: length-bucketed batches, drops, save/restore", "[dataset]") {
  TempDir dir;
  const std::string path = generated_file(dir, 250);
  np::Tokenizer tok = synthetic();
  np::ModelConfig c = np::ModelConfig::small();
  c.max_enc_len = 1024;
  np::DataOptions o;
  o.reader.shuffle_window = 40;
  o.reader.epochs = 2;
  o.reader.seed = 5;
  o.batch.batch_size = 8;
  o.batch.bucket_window = 50;

  auto batches_of = [&](np::DataLoader& l, size_t max = SIZE_MAX) {
    std::vector<np::Batch> out;
    while (out.size() < max) {
      np::Batch b;
      bool end = false;
      np::Status st = l.next(&b, &end);
      if (!st.ok()) FAIL(st.to_string());
      if (end) break;
      out.push_back(std::move(b));
    }
    return out;
  };
  auto same = [](const np::Batch& x, const np::Batch& y) {
    return x.lines == y.lines && x.enc_ids == y.enc_ids && x.enc_valid == y.enc_valid && x.dec_in == y.dec_in &&
           x.targets == y.targets && x.weights == y.weights;
  };

  auto l = np::DataLoader::open(path, tok, c, o);
  REQUIRE(l.ok());
  const auto all = batches_of(*l.value());
  // 250 examples per epoch in windows of 50 -> 7 batches (6 of 8, one of 2) per window.
  CHECK(all.size() == 2 * 5 * 7u);
  std::multiset<int64_t> lines;
  bool some_unsorted_order = false;
  for (size_t i = 0; i < all.size(); ++i) {
    const np::Batch& b = all[i];
    CHECK((b.B == 8 || b.B == 2));
    for (int r = 0; r < b.B; ++r) {
      lines.insert(b.lines[r]);
      if (r > 0) CHECK(b.enc_len[r - 1] <= b.enc_len[r]);  // sorted within a window
      for (int t = 0; t < b.Te; ++t) CHECK(b.enc_valid[r * b.Te + t] == (t < b.enc_len[r] ? 1 : 0));
      for (int t = 0; t < b.Td; ++t) CHECK((b.targets[r * b.Td + t] == -1) == (t >= b.dec_len[r]));
    }
    if (i % 7 && all[i].enc_len[0] < all[i - 1].enc_len[0]) some_unsorted_order = true;
  }
  CHECK(some_unsorted_order);  // batch order shuffled
  CHECK(lines.size() == 500u);
  for (int64_t line = 1; line <= 250; ++line) CHECK(lines.count(line) == 2);
  const np::DataReport rep = l.value()->report();
  CHECK(rep.examples == 250);
  CHECK(rep.batches_out == static_cast<int64_t>(all.size()));
  CHECK(rep.dropped_too_long == 0);
  CHECK(rep.truncated_inputs == 0);

  for (size_t k : {size_t{0}, size_t{1}, size_t{6}, size_t{7}, size_t{8}, size_t{34}, size_t{35}, size_t{69},
                   size_t{70}}) {
    INFO("restore after " << k << " batches");
    auto l1 = np::DataLoader::open(path, tok, c, o);
    REQUIRE(l1.ok());
    const auto head = batches_of(*l1.value(), k);
    const std::string saved = l1.value()->position().to_json();
    auto pos = np::DataPosition::from_json(saved);
    REQUIRE(pos.ok());
    auto l2 = np::DataLoader::open(path, tok, c, o);
    REQUIRE(l2.ok());
    np::Status st = l2.value()->restore(pos.value());
    INFO(st.to_string());
    REQUIRE(st.ok());
    const auto tail = batches_of(*l2.value());
    REQUIRE(head.size() + tail.size() == all.size());
    bool equal = true;
    for (size_t i = 0; i < head.size(); ++i) equal = equal && same(head[i], all[i]);
    for (size_t i = 0; i < tail.size(); ++i) equal = equal && same(tail[i], all[head.size() + i]);
    CHECK(equal);
    const np::DataReport r2 = l2.value()->report();
    CHECK(r2.batches_out == rep.batches_out);
    CHECK(r2.examples == rep.examples);
    CHECK(r2.examples_out == rep.examples_out);
  }
  // A reader position is not a loader position, and other batch options are refused.
  {
    auto l1 = np::DataLoader::open(path, tok, c, o);
    REQUIRE(l1.ok());
    batches_of(*l1.value(), 3);
    np::DataOptions o2 = o;
    o2.batch.batch_size = 4;
    auto l2 = np::DataLoader::open(path, tok, c, o2);
    REQUIRE(l2.ok());
    CHECK(l2.value()->restore(l1.value()->position()).code() == Code::kInvalidInput);
  }

  // Targets that do not fit are dropped and counted; the rest are intact.
  {
    np::ModelConfig small = c;
    small.max_dec_len = 26;
    np::DataOptions o1 = o;
    o1.reader.epochs = 1;
    auto l1 = np::DataLoader::open(path, tok, small, o1);
    REQUIRE(l1.ok());
    const auto kept = batches_of(*l1.value());
    int64_t rows = 0;
    for (const auto& b : kept) {
      rows += b.B;
      CHECK(b.Td <= 26);
    }
    const np::DataReport r = l1.value()->report();
    CHECK(r.dropped_too_long > 0);
    CHECK(rows + r.dropped_too_long == 250);
    // None fits at all: one epoch ends empty; forever is an error, not a hang.
    small.max_dec_len = 5;
    auto l2 = np::DataLoader::open(path, tok, small, o1);
    REQUIRE(l2.ok());
    CHECK(batches_of(*l2.value()).empty());
    o1.reader.epochs = 0;
    auto l3 = np::DataLoader::open(path, tok, small, o1);
    REQUIRE(l3.ok());
    np::Batch b;
    bool end = false;
    CHECK(l3.value()->next(&b, &end).code() == Code::kInvalidInput);
  }
  // Under the stop policy a bad line surfaces as the loader's error; the next call goes
  // on, and no valid example is lost.
  {
    std::string text;
    for (int i = 0; i < 30; ++i) text += (i == 12 ? std::string("{oops") : good_line(std::to_string(i))) + "\n";
    const std::string bad_path = dir.write("stop.jsonl", text);
    np::DataOptions o1 = o;
    o1.reader.epochs = 1;
    o1.reader.policy = np::BadLinePolicy::kStop;
    auto l1 = np::DataLoader::open(bad_path, tok, c, o1);
    REQUIRE(l1.ok());
    int errors = 0;
    int64_t rows = 0;
    for (;;) {
      np::Batch b;
      bool end = false;
      np::Status st = l1.value()->next(&b, &end);
      if (!st.ok()) {
        ++errors;
        CHECK(st.message().rfind("line 13: ", 0) == 0);
        continue;
      }
      if (end) break;
      rows += b.B;
    }
    CHECK(errors == 1);
    CHECK(rows == 29);
  }
  // Inputs longer than the encoder context are cut (as at inference) and counted.
  {
    np::ModelConfig short_enc = c;
    short_enc.max_enc_len = 30;
    np::DataOptions o1 = o;
    o1.reader.epochs = 1;
    auto l1 = np::DataLoader::open(path, tok, short_enc, o1);
    REQUIRE(l1.ok());
    for (const auto& b : batches_of(*l1.value())) CHECK(b.Te == 30);
    CHECK(l1.value()->report().truncated_inputs == 250);
  }
}

// ---- the fixture -------------------------------------------------------------------------

TEST_CASE("tiny_tools.jsonl: valid, grounded in the queries, fits a 512-token encoder", "[dataset]") {
  const std::string path = std::string(NP_SOURCE_DIR) + "/tests/fixtures/data/tiny_tools.jsonl";
  np::DataReport rep;
  auto all = np::read_examples(path, np::ReaderOptions(), &rep);
  REQUIRE(all.ok());
  CHECK(rep.bad_lines == 0);
  CHECK(all.value().size() >= 40u);
  std::set<std::string> tools_called, ids;
  int no_call = 0, multi = 0;
  np::Tokenizer tok = synthetic();
  np::ModelConfig c = np::ModelConfig::small();  // decoder context 128
  c.max_enc_len = 512;  // the nearly byte-level synthetic vocab needs up to 368 tokens here
  for (const np::Example& ex : all.value()) {
    INFO("line " << ex.line << ": " << ex.query);
    ids.insert(ex.id);
    no_call += ex.answers.empty();
    multi += ex.answers.size() > 1;
    for (const auto& call : ex.answers) {
      tools_called.insert(call.name);
      for (auto it = call.arguments.begin(); it != call.arguments.end(); ++it) {
        const std::string v = it.value().is_string() ? it.value().get<std::string>() : it.value().dump();
        CHECK(ex.query.find(v) != std::string::npos);  // copied from the query
      }
    }
    np::TrainPair p;
    REQUIRE(np::make_train_pair(tok, c, np::PairOptions(), ex, 7, &p).ok());
    INFO("encoder " << p.enc_ids.size() << " tokens, target " << p.target_len);
    CHECK(p.fits);
    CHECK_FALSE(p.enc_truncated);
  }
  CHECK(ids.size() == all.value().size());
  CHECK(tools_called == std::set<std::string>{"get_weather", "send_message", "set_lights", "set_timer"});
  CHECK(no_call >= 4);
  CHECK(multi >= 2);
}

TEST_CASE("renaming augmentation renames tools and parameters in the list and the answer alike", "[data][augment]") {
  auto set = np::parse_tools(R"([
    {"name":"set_timer","description":"Start a countdown timer with a label","parameters":{
      "minutes":{"type":"integer","description":"Length of the countdown","required":true},
      "label":{"type":"string","description":"Shown when the timer rings"}}},
    {"name":"play_music","description":"Play a song or an artist","parameters":{
      "query":{"type":"string","description":"What to play","required":true}}}])");
  REQUIRE(set.ok());
  std::vector<np::AnswerCall> calls(1);
  calls[0].name = "set_timer";
  calls[0].original_name = "set_timer";
  calls[0].arguments = {{"minutes", 10}, {"label", "tea"}};
  np::AugmentOptions o;
  o.rename_tools = 1.0;
  o.rename_params = 1.0;
  int renamed_tools = 0;
  for (uint64_t seed = 1; seed <= 20; ++seed) {
    std::string tools = set.value().normalized_json;
    std::vector<np::AnswerCall> c = calls;
    REQUIRE(np::rename_tools_and_calls(&tools, &c, o, seed));
    std::string again = set.value().normalized_json;
    std::vector<np::AnswerCall> c2 = calls;
    REQUIRE(np::rename_tools_and_calls(&again, &c2, o, seed));
    CHECK(again == tools);  // deterministic
    // Still a valid tool list; the answer names one of its tools with its parameters.
    auto renamed = np::parse_tools(tools);
    REQUIRE(renamed.ok());
    const np::Tool* t = renamed.value().find(c[0].name);
    REQUIRE(t != nullptr);
    CHECK(t->description == "Start a countdown timer with a label");
    REQUIRE(c[0].arguments.size() == 2);
    std::vector<std::string> keys;
    for (const auto& p : t->params) keys.push_back(p.name);
    for (auto it = c[0].arguments.begin(); it != c[0].arguments.end(); ++it)
      CHECK(std::find(keys.begin(), keys.end(), it.key()) != keys.end());
    // Values stay, in the parameters' order.
    CHECK(c[0].arguments.begin().value() == 10);
    if (c[0].name != "set_timer") ++renamed_tools;
  }
  CHECK(renamed_tools == 20);
  np::AugmentOptions none;  // probabilities 0: nothing changes
  std::string tools = set.value().normalized_json;
  std::vector<np::AnswerCall> c = calls;
  REQUIRE(np::rename_tools_and_calls(&tools, &c, none, 3));
  CHECK(tools == set.value().normalized_json);
  CHECK(c[0].name == "set_timer");
  calls[0].name = "unknown_tool";  // an answer naming no tool of the list: refused, untouched
  std::string t2 = set.value().normalized_json;
  CHECK_FALSE(np::rename_tools_and_calls(&t2, &calls, o, 4));
  CHECK(t2 == set.value().normalized_json);
}

TEST_CASE("word swap replaces shared words in the request, the tools and the answer alike", "[data][augment]") {
  auto set = np::parse_tools(R"([
    {"name":"set_timer","description":"Start a countdown timer with a label","parameters":{
      "minutes":{"type":"integer","description":"Length of the countdown","required":true},
      "timer_label":{"type":"string","description":"Shown when the timer rings","enum":["Tea timer","eggs"]}}},
    {"name":"play_music","description":"Play a song or an artist","parameters":{
      "query":{"type":"string","description":"What to play","required":true}}}])");
  REQUIRE(set.ok());
  const std::string query0 = "Set a countdown TIMER for 10 minutes called Tea timer";
  std::vector<np::AnswerCall> calls0(1);
  calls0[0].name = "set_timer";
  calls0[0].original_name = "set_timer";
  calls0[0].arguments = {{"minutes", 10}, {"timer_label", "Tea timer"}};
  const std::vector<std::string> pool = {"lantern", "orbit", "velvet", "harbor", "quartz", "meadow",
                                         "pepper", "falcon", "cobalt", "tundra", "glacier", "sonnet"};
  np::AugmentOptions o;
  o.swap_words = 1.0;
  std::set<std::string> swapped_into;
  for (uint64_t seed = 1; seed <= 30; ++seed) {
    std::string query = query0, tools = set.value().normalized_json;
    std::vector<np::AnswerCall> calls = calls0;
    const int n = np::swap_shared_words(&query, &tools, &calls, pool, o, seed);
    REQUIRE(n >= 1);  // the request shares "countdown", "timer", "minutes" with the list
    std::string q2 = query0, t2 = set.value().normalized_json;
    std::vector<np::AnswerCall> c2 = calls0;
    CHECK(np::swap_shared_words(&q2, &t2, &c2, pool, o, seed) == n);
    CHECK((q2 == query && t2 == tools && c2[0].arguments == calls[0].arguments));  // deterministic
    CHECK(query != query0);
    // Still a valid list; the answer names one of its tools with its parameters, and its
    // string value is still a piece of the request.
    auto now = np::parse_tools(tools);
    REQUIRE(now.ok());
    const np::Tool* t = now.value().find(calls[0].name);
    REQUIRE(t != nullptr);
    for (auto it = calls[0].arguments.begin(); it != calls[0].arguments.end(); ++it) {
      CHECK(std::any_of(t->params.begin(), t->params.end(), [&](const np::ToolParam& p) { return p.name == it.key(); }));
      if (it.value().is_string()) CHECK(query.find(it.value().get<std::string>()) != std::string::npos);
      else CHECK(it.value() == 10);  // numbers untouched
    }
    // "timer" moved everywhere or nowhere, in its case pattern.
    const bool timer_gone = query.find("TIMER") == std::string::npos;
    CHECK(timer_gone == (query.find("timer") == std::string::npos));
    CHECK(timer_gone == (tools.find("timer") == std::string::npos));
    CHECK(timer_gone == (calls[0].name != "set_timer"));
    for (const std::string& w : pool)
      if (query.find(w) != std::string::npos) swapped_into.insert(w);
    CHECK(query.find("Set a ") == 0);  // short and common words stay
    CHECK(tools.find("\"required\":true") != std::string::npos);  // the structure stays
  }
  CHECK(swapped_into.size() >= 4);  // replacements vary with the seed
  // A word only the tools use may move too, but never one the request alone uses.
  np::AugmentOptions none;  // probability 0: nothing changes
  std::string query = query0, tools = set.value().normalized_json;
  std::vector<np::AnswerCall> calls = calls0;
  CHECK(np::swap_shared_words(&query, &tools, &calls, pool, none, 3) == 0);
  CHECK(query == query0);
  CHECK(tools == set.value().normalized_json);
  CHECK(calls[0].name == "set_timer");
  // The pool of a tokenizer: its whole-word pieces of 4-10 lower-case letters.
  std::vector<std::string> pieces = {"<pad>", "</s>", "<s>", "<unk>", "\xE2\x96\x81" "lantern", "\xE2\x96\x81" "Orbit",
                                     "\xE2\x96\x81" "ab", "velvet", "\xE2\x96\x81" "harbor", "\xE2\x96\x81" "please"};
  std::vector<np::TokenType> types(pieces.size(), np::TokenType::kNormal);
  for (int i = 0; i < 3; ++i) types[i] = np::TokenType::kControl;
  types[3] = np::TokenType::kUnknown;
  np::TokenizerConfig cfg;
  cfg.byte_fallback = false;
  auto tok = np::Tokenizer::from_pieces(pieces, std::vector<float>(pieces.size(), 0.0f), types, cfg);
  REQUIRE(tok.ok());
  CHECK(np::swap_word_pool(tok.value()) == std::vector<std::string>{"lantern", "harbor"});
}
