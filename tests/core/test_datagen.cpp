// test_datagen.cpp — the data factory (np/datagen.h) on the real content in data/factory/:
// determinism, every example readable by the trainer's reader and loader, answers that name
// offered tools with offered keys, typed and grounded values, the no-call and multi-call
// shares, split disjointness, and content-file errors that name the file.
#include <stdlib.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include <catch2/catch.hpp>

#include "test_util.h"
#include <nlohmann/json.hpp>

#include "np/datagen.h"
#include "np/dataset.h"
#include "np/model.h"
#include "np/tools.h"

using json = nlohmann::ordered_json;
using np::Code;

namespace {

const std::string kContent = std::string(NP_SOURCE_DIR) + "/data/factory";

struct TempDir : np_test::TempDir {
  TempDir() : np_test::TempDir("np_datagen_test") {}
};

// The factory over the real content, loaded once.
const np::DataFactory& factory() {
  static std::unique_ptr<np::DataFactory> f = [] {
    auto r = np::DataFactory::load(kContent);
    if (!r.ok()) FAIL(r.status().to_string());
    return std::move(r.value());
  }();
  return *f;
}

std::string generate(np::DataSplit split, int64_t count, uint64_t seed, np::DatagenStats* stats = nullptr) {
  np::DatagenOptions o;
  o.split = split;
  o.count = count;
  o.seed = seed;
  std::string out;
  np::Status st = factory().generate(o, nullptr, &out, stats);
  if (!st.ok()) FAIL(st.to_string());
  return out;
}

std::vector<np::Example> read_all(const std::string& path, np::DataReport* report) {
  np::ReaderOptions ro;
  ro.shuffle = false;
  ro.policy = np::BadLinePolicy::kSkip;
  auto r = np::read_examples(path, ro, report);
  if (!r.ok()) FAIL(r.status().to_string());
  return r.take();
}

std::string lower(std::string s) {
  for (char& c : s)
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  return s;
}

// The text a number has in the query: integers as digits, floats without a trailing ".0".
std::string number_text(const json& v) {
  if (v.is_number_integer() || v.is_number_unsigned()) return v.dump();
  std::string s = v.dump();
  if (s.size() > 2 && s.compare(s.size() - 2, 2, ".0") == 0) s.resize(s.size() - 2);
  return s;
}

bool value_fits(const np::ToolParam& p, const json& v) {
  if (p.type == "string") {
    if (!v.is_string()) return false;
    if (p.enum_values.empty()) return true;
    return std::find(p.enum_values.begin(), p.enum_values.end(), v) != p.enum_values.end();
  }
  if (p.type == "integer") return v.is_number_integer();
  if (p.type == "number") return v.is_number();
  if (p.type == "boolean") return v.is_boolean();
  if (p.type == "array") {
    if (!v.is_array() || v.empty()) return false;
    for (const auto& e : v)
      if (!e.is_string()) return false;
    return true;
  }
  return false;
}

// A minimal valid content directory: common.json and one category with a train and a test tool.
const char* kCommon = R"({"slots": {"city": ["Paris", "Lagos"]}, "prefixes": ["hey, "], "suffixes": [" please"],
  "context_before": ["Hi."], "context_after": ["thanks"], "joiners": [" and "], "no_call": ["tell me a joke"]})";

std::string category(const std::string& train_queries, const std::string& extra_tool = "") {
  return R"({"category": "weather", "tools": [
    {"name": "get_weather", "desc": "Weather now.", "params": {"location": {"desc": "City.", "req": true, "slot": "city"}},
     "queries": )" + train_queries + R"(},
    {"name": "get_tides", "split": "test", "desc": "Tide table.", "params": {"harbour": {"desc": "Town.", "req": true, "slot": "city"}},
     "queries": ["tides in {harbour}", "when is high tide at {harbour}?"]})" + extra_tool + "]}";
}

void expect_content_error(const std::string& common, const std::string& cat, Code code,
                          std::vector<std::string> parts) {
  TempDir dir;
  dir.write("common.json", common);
  const std::string file = dir.write("categories/weather.json", cat);
  auto r = np::DataFactory::load(dir.path);
  REQUIRE_FALSE(r.ok());
  INFO(r.status().to_string());
  CHECK(r.status().code() == code);
  for (const auto& p : parts) CHECK(r.status().message().find(p) != std::string::npos);
}

}  // namespace

TEST_CASE("content: at least 20 categories and 400 hand-designed tools", "[datagen]") {
  const np::ContentCounts& n = factory().counts();
  CHECK(n.categories >= 20);
  CHECK(n.tools >= 400);
  // The held-out tools (the unseen-tool test split) span the first 26 categories: 78, about
  // 18% of their 439 tools. Later categories are all train, so that test split stays the same
  // and comparable across model versions (docs/data.md); the share falls as they are added.
  CHECK(n.test_tools >= 70);
  CHECK(n.test_tools >= n.tools / 20);
  CHECK(n.train_tools + n.test_tools == n.tools);
  CHECK(n.templates >= 4 * n.tools);
  CHECK(n.slot_values >= 1000);
}

TEST_CASE("a fixed seed gives identical bytes; another seed or split differs", "[datagen]") {
  const std::string a = generate(np::DataSplit::kTrain, 300, 7);
  const std::string b = generate(np::DataSplit::kTrain, 300, 7);
  CHECK(a == b);
  CHECK(a != generate(np::DataSplit::kTrain, 300, 8));
  CHECK(a != generate(np::DataSplit::kDev, 300, 7));
  // A prefix of a longer run is the shorter run: one stream per (seed, split).
  CHECK(generate(np::DataSplit::kTrain, 600, 7).compare(0, a.size(), a) == 0);
}

TEST_CASE("every example reads back, names offered tools, uses offered keys, typed and grounded",
          "[datagen]") {
  TempDir dir;
  for (np::DataSplit split : {np::DataSplit::kTrain, np::DataSplit::kTest}) {
    const std::string path = dir.write(std::string(np::data_split_name(split)) + ".jsonl", generate(split, 1500, 3));
    np::DataReport report;
    const auto examples = read_all(path, &report);
    CHECK(report.bad_lines == 0);
    CHECK(report.examples == 1500);
    REQUIRE(examples.size() == 1500);
    std::set<std::string> queries_answers;
    for (const auto& ex : examples) {
      INFO("line " << ex.line << ": " << ex.query);
      CHECK(ex.toolset.tools.size() >= 1);
      CHECK(ex.toolset.tools.size() <= 10);
      CHECK(ex.answers.size() <= 2);
      const std::string lq = lower(ex.query);
      for (const auto& call : ex.answers) {
        // The answer spells the name as offered (after name-style variation).
        const np::Tool* tool = nullptr;
        for (const auto& t : ex.toolset.tools)
          if (t.original_name == call.original_name) tool = &t;
        REQUIRE(tool != nullptr);
        for (const auto& p : tool->params)
          if (p.required) CHECK(call.arguments.contains(p.name));
        for (auto it = call.arguments.begin(); it != call.arguments.end(); ++it) {
          const np::ToolParam* param = nullptr;
          for (const auto& p : tool->params)
            if (p.name == it.key()) param = &p;
          REQUIRE(param != nullptr);
          CHECK(value_fits(*param, *it));
          std::vector<json> vals;
          if (it->is_array()) vals.assign(it->begin(), it->end());
          else vals.push_back(*it);
          for (const auto& v : vals) {
            if (v.is_string()) CHECK(lq.find(lower(v.get<std::string>())) != std::string::npos);
            if (v.is_number()) CHECK(lq.find(number_text(v)) != std::string::npos);
          }
        }
      }
      // Deduplication: a query never comes back with the same answer.
      CHECK(queries_answers.insert(lq + "\t" + np::answer_text(ex.answers, nullptr)).second);
    }
  }
}

TEST_CASE("the trainer's loader takes every example", "[datagen]") {
  TempDir dir;
  const std::string path = dir.write("train.jsonl", generate(np::DataSplit::kTrain, 200, 11));
  auto tok = np::synthetic_tokenizer(2000);
  REQUIRE(tok.ok());
  np::ModelConfig c = np::ModelConfig::small();
  c.max_enc_len = 1024;
  np::DataOptions o;
  o.batch.batch_size = 16;
  auto loader = np::DataLoader::open(path, tok.value(), c, o);
  REQUIRE(loader.ok());
  int64_t rows = 0;
  for (;;) {
    np::Batch b;
    bool end = false;
    np::Status st = loader.value()->next(&b, &end);
    if (!st.ok()) FAIL(st.to_string());
    if (end) break;
    rows += b.B;
  }
  const np::DataReport r = loader.value()->report();
  CHECK(r.bad_lines == 0);
  CHECK(r.examples == 200);
  CHECK(rows + r.dropped_too_long == 200);
}

TEST_CASE("no-call and multi-call shares, tools offered, variation all present", "[datagen]") {
  np::DatagenStats st;
  const std::string text = generate(np::DataSplit::kTrain, 4000, 5, &st);
  CHECK(st.examples == 4000);
  CHECK(st.single + st.multi + st.none == 4000);
  // Binomial(4000, 0.1): sd 19; the tolerance is about 4 sd.
  CHECK(std::abs(st.none - 400) <= 80);
  CHECK(std::abs(st.multi - 400) <= 80);
  CHECK(st.none_chitchat > 0);
  CHECK(st.none_unoffered > 0);
  CHECK(std::abs(st.typos - 400) <= 100);
  REQUIRE(st.tools_offered.size() == 11);
  for (int k = 1; k <= 10; ++k) CHECK(st.tools_offered[k] > 200);
  for (const auto& kv : st.schema_forms) CHECK(kv.second > 0);
  for (const auto& kv : st.name_styles) CHECK(kv.second > 0);
  CHECK(st.params_renamed > st.params_offered / 5);
  for (const auto& kv : st.per_category) CHECK(kv.second > 0);
  // The counts in the report agree with the file.
  int64_t none = 0, multi = 0;
  size_t pos = 0;
  while (pos < text.size()) {
    const size_t nl = text.find('\n', pos);
    const json j = json::parse(text.substr(pos, nl - pos), nullptr, false);
    REQUIRE(j.is_object());
    none += j["answers"].empty();
    multi += j["answers"].size() == 2;
    pos = nl + 1;
  }
  CHECK(none == st.none);
  CHECK(multi == st.multi);
  const json report = json::parse(st.to_json(), nullptr, false);
  REQUIRE(report.is_object());
  CHECK(report["examples"] == 4000);
  CHECK(report["length_chars"]["query"]["max"].get<int64_t>() > 0);
}

TEST_CASE("test split: no tool name, description or parameter name seen in train", "[datagen]") {
  TempDir dir;
  const std::string train = dir.write("train.jsonl", generate(np::DataSplit::kTrain, 3000, 1));
  const std::string dev = dir.write("dev.jsonl", generate(np::DataSplit::kDev, 500, 1));
  const std::string test = dir.write("test.jsonl", generate(np::DataSplit::kTest, 800, 1));
  np::DisjointReport r;
  REQUIRE(np::check_disjoint(train, test, &r).ok());
  CHECK(r.a_examples == 3000);
  CHECK(r.b_examples == 800);
  CHECK(r.b_tools > 50);
  CHECK(r.shared_names.empty());
  CHECK(r.shared_descriptions.empty());
  CHECK(r.shared_params.empty());
  CHECK(r.disjoint());
  // dev is in distribution: the check must see the overlap.
  REQUIRE(np::check_disjoint(train, dev, &r).ok());
  CHECK_FALSE(r.disjoint());
  CHECK(!r.shared_names.empty());
  CHECK(!r.shared_params.empty());
}

TEST_CASE("bad options are refused", "[datagen]") {
  std::string out;
  np::DatagenOptions o;
  o.count = -1;
  CHECK(factory().generate(o, nullptr, &out, nullptr).code() == Code::kInvalidInput);
  o = np::DatagenOptions();
  o.max_tools = 11;
  CHECK(factory().generate(o, nullptr, &out, nullptr).code() == Code::kInvalidInput);
  o = np::DatagenOptions();
  o.none_share = 0.7;
  o.multi_share = 0.5;
  CHECK(factory().generate(o, nullptr, &out, nullptr).code() == Code::kInvalidInput);
  CHECK(out.empty());
  np::DataSplit s;
  CHECK(np::data_split_from_name("test", &s));
  CHECK(s == np::DataSplit::kTest);
  CHECK_FALSE(np::data_split_from_name("validation", &s));
}

TEST_CASE("content errors name the file and the field", "[datagen][bad-file]") {
  const std::string good_q = R"(["weather in {location}", "is it raining in {location}?"])";
  SECTION("the minimal content loads") {
    TempDir dir;
    dir.write("common.json", kCommon);
    dir.write("categories/weather.json", category(good_q));
    auto r = np::DataFactory::load(dir.path);
    if (!r.ok()) FAIL(r.status().to_string());
    CHECK(r.value()->counts().tools == 2);
    CHECK(r.value()->counts().test_tools == 1);
  }
  SECTION("not JSON") {
    expect_content_error(kCommon, "{\"category\": \"weather\", \"tools\": [", Code::kInvalidInput,
                         {"categories/weather.json", "not valid JSON"});
  }
  SECTION("unknown slot in a template") {
    expect_content_error(kCommon, category(R"(["weather in {locaton}", "is it raining in {location}?"])"),
                         Code::kInvalidInput, {"weather.json", "tools[0] \"get_weather\"", "queries[0]", "{locaton}"});
  }
  SECTION("a template that leaves out a required parameter") {
    expect_content_error(kCommon, category(R"(["weather please", "is it raining in {location}?"])"),
                         Code::kInvalidInput, {"weather.json", "queries[0]", "required parameter \"location\""});
  }
  SECTION("a fixed string value that is not in the template") {
    expect_content_error(kCommon, category(R"([{"q": "weather here", "args": {"location": "Paris"}}, "weather in {location}"])"),
                         Code::kInvalidInput, {"weather.json", "queries[0]", "grounded"});
  }
  SECTION("an unknown slot list") {
    const std::string cat = R"({"category": "weather", "tools": [
      {"name": "get_weather", "desc": "Weather now.", "params": {"location": {"desc": "City.", "req": true, "slot": "town"}},
       "queries": ["weather in {location}", "rain in {location}?"]}]})";
    expect_content_error(kCommon, cat, Code::kInvalidInput, {"weather.json", "params \"location\"", "\"town\""});
  }
  SECTION("a held-out tool whose parameter names are all used in train") {
    const std::string extra = R"(,
      {"name": "get_fog", "split": "test", "desc": "Fog level.", "params": {"location": {"desc": "City.", "req": true, "slot": "city"}},
       "queries": ["fog in {location}", "is it foggy in {location}?"]})";
    expect_content_error(kCommon, category(good_q, extra), Code::kInvalidInput,
                         {"weather.json", "get_fog", "parameter \"location\"", "unseen name"});
  }
  SECTION("a held-out tool repeating a train description") {
    const std::string extra = R"(,
      {"name": "get_fog", "split": "test", "desc": "Weather now.", "params": {"spot": {"desc": "City.", "req": true, "slot": "city"}},
       "queries": ["fog in {spot}", "is it foggy in {spot}?"]})";
    expect_content_error(kCommon, category(good_q, extra), Code::kInvalidInput, {"get_fog", "description"});
  }
  SECTION("two tools whose name variants collide") {
    const std::string extra = R"(,
      {"name": "weather_get", "desc": "Other.", "params": {}, "queries": ["x", "y"]})";
    expect_content_error(kCommon, category(good_q, extra), Code::kInvalidInput, {"weather_get", "get_weather"});
  }
  SECTION("a bad type and a bad name") {
    const std::string cat = R"({"category": "weather", "tools": [
      {"name": "getWeather", "desc": "Weather now.", "params": {}, "queries": ["a", "b"]}]})";
    expect_content_error(kCommon, cat, Code::kInvalidInput, {"weather.json", "tools[0] \"getWeather\"", "snake_case"});
    const std::string cat2 = R"({"category": "weather", "tools": [
      {"name": "get_weather", "desc": "Weather now.", "params": {"n": {"type": "float", "desc": "N."}}, "queries": ["a", "b"]}]})";
    expect_content_error(kCommon, cat2, Code::kInvalidInput, {"params \"n\"", "unknown type \"float\""});
  }
  SECTION("a malformed common.json") {
    expect_content_error("{\"slots\": {\"city\": []}}", category(good_q), Code::kInvalidInput,
                         {"common.json", "slots \"city\"", "empty"});
  }
  SECTION("a missing directory") {
    auto r = np::DataFactory::load("/nonexistent/factory");
    REQUIRE_FALSE(r.ok());
    CHECK(r.status().code() == Code::kIoError);
    CHECK(r.status().message().find("/nonexistent/factory/common.json") != std::string::npos);
  }
}

TEST_CASE("teacher replies are used only when they keep every value", "[datagen][teacher]") {
  int calls = 0;
  std::vector<std::string> prompts;
  // In turn: a good paraphrase, one that drops the values, a failed call, two lines.
  np::TeacherFn fake = [&](const std::string& system, const std::string& user) -> np::Result<std::string> {
    prompts.push_back(user);
    const std::string query = user.substr(user.find("\nRequest: ") + 10);
    switch (calls++ % 4) {
      case 0: return std::string("  \"Would you please do this: " + query + "\"  ");
      case 1: return std::string("something else entirely");
      case 2: return np::Status(Code::kIoError, "teacher: connection refused");
      default: return std::string("two\nlines");
    }
  };
  np::DatagenOptions o;
  o.count = 400;
  o.seed = 12;
  o.teacher_share = 0.5;
  std::string out;
  np::DatagenStats st;
  REQUIRE(factory().generate(o, nullptr, &out, &st, &fake).ok());
  CHECK(st.teacher_asked == calls);
  CHECK(std::abs(st.teacher_asked - 180) <= 45);  // half of the ~90% calling examples
  CHECK(st.teacher_errors == (calls + 1) / 4);
  CHECK(st.teacher_accepted + st.teacher_rejected + st.teacher_errors == st.teacher_asked);
  CHECK(st.teacher_accepted >= calls / 4);  // every good paraphrase (and value-free answers)
  CHECK(st.teacher_rejected > 0);
  // Prompts list the values to keep.
  CHECK(std::any_of(prompts.begin(), prompts.end(), [](const std::string& p) {
    return p.find("Keep these values exactly as written: ") != std::string::npos;
  }));
  // Every line still valid and grounded; accepted ones are marked and carry the new text.
  TempDir dir;
  const std::string path = dir.write("t.jsonl", out);
  np::DataReport report;
  const auto examples = read_all(path, &report);
  CHECK(report.bad_lines == 0);
  REQUIRE(examples.size() == 400);
  int64_t rephrased = 0, marked = 0;
  size_t pos = 0;
  for (const auto& ex : examples) {
    const size_t nl = out.find('\n', pos);
    const json j = json::parse(out.substr(pos, nl - pos), nullptr, false);
    pos = nl + 1;
    marked += j["meta"].value("teacher", false) ? 1 : 0;
    if (ex.query.rfind("Would you please do this: ", 0) == 0) ++rephrased;
    // A value-dropping reply is accepted only for an answer without string or number values.
    if (ex.query == "something else entirely")
      for (const auto& call : ex.answers)
        for (auto it = call.arguments.begin(); it != call.arguments.end(); ++it) CHECK(it->is_boolean());
    for (const auto& call : ex.answers)
      for (auto it = call.arguments.begin(); it != call.arguments.end(); ++it)
        if (it->is_string()) CHECK(lower(ex.query).find(lower(it->get<std::string>())) != std::string::npos);
  }
  CHECK(rephrased > 0);
  CHECK(marked == st.teacher_accepted);
  // The procedural stream is the teacher's own: without a teacher the same seed gives the
  // same examples as before.
  o.teacher_share = 0;
  std::string plain;
  REQUIRE(factory().generate(o, nullptr, &plain, nullptr, &fake).ok());
  CHECK(plain == generate(np::DataSplit::kTrain, 400, 12));
}

TEST_CASE("avoid_files: dev repeats no train example", "[datagen]") {
  TempDir dir;
  const std::string train = dir.write("train.jsonl", generate(np::DataSplit::kTrain, 3000, 1));
  auto keys_of = [&](const std::string& path) {
    np::DataReport report;
    std::set<std::string> keys;
    for (const auto& ex : read_all(path, &report)) keys.insert(lower(ex.query) + "\t" + np::answer_text(ex.answers, nullptr));
    return keys;
  };
  const std::set<std::string> train_keys = keys_of(train);
  auto overlap = [&](const std::string& path) {
    int64_t n = 0;
    for (const auto& k : keys_of(path)) n += train_keys.count(k);
    return n;
  };
  // Without it, short parameterless queries ("close tab") do come back.
  const std::string dev_plain = dir.write("dev_plain.jsonl", generate(np::DataSplit::kDev, 1000, 1));
  CHECK(overlap(dev_plain) > 0);
  np::DatagenOptions o;
  o.split = np::DataSplit::kDev;
  o.count = 1000;
  o.seed = 1;
  o.avoid_files = {train};
  std::string out;
  np::DatagenStats st;
  REQUIRE(factory().generate(o, nullptr, &out, &st).ok());
  CHECK(st.avoided_examples == 3000);
  CHECK(st.examples == 1000);
  CHECK(overlap(dir.write("dev.jsonl", out)) == 0);
  o.avoid_files = {dir.path + "/missing.jsonl"};
  np::Status bad = factory().generate(o, nullptr, &out, nullptr);
  CHECK(bad.code() == Code::kIoError);
  CHECK(bad.message().find("missing.jsonl") != std::string::npos);
}
