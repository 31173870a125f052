// test_confidence.cpp — confidence and retrieval ([confidence], [retrieval]): the
// calibration map, its fit, its GGUF key; the calibration error and coverage curve; the
// decoder's token probabilities on scripted logits (the confidence rises with the model's
// margin and drops when the grammar overrides the model); the tool caller's confidence
// fields; tool ranking, its cache, and pre-selection of large tool lists.
#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include <cmath>
#include <random>
#include <string>
#include <vector>

#include "decode/call_grammar.h"
#include "decode/greedy.h"
#include "np/confidence.h"
#include "np/model.h"
#include "np/retrieval.h"
#include "np/tool_caller.h"
#include "np/tools.h"
#include "test_util.h"

using np::Code;

namespace {

const np::Tokenizer& tokenizer() {
  static const np::Tokenizer tok = np::synthetic_tokenizer(2048).take();
  return tok;
}

// A scripted model that writes `target` as a trained model would: the tokenizer's own
// encoding of the answer after "<tool_call> " (answers are tokenized whole in training), the
// next of those tokens getting logit `margin`, every other token 0; once what was written
// leaves that spelling, the token that is the longest prefix of what is left.
struct Peaked {
  std::string target;
  float margin;
  std::string written;
  std::vector<int32_t> fed;  // tokens fed after <tool_call>

  np::Status step(int32_t token, float* logits) {
    const np::Tokenizer& tok = tokenizer();
    std::vector<float> scratch;  // jump-forward feeds tokens without asking for logits
    if (!logits) {
      scratch.resize(static_cast<size_t>(tok.vocab_size()));
      logits = scratch.data();
    }
    if (token != 1) written += token == 4 ? "<tool_call>" : tok.token_text(token);
    if (token != 1 && token != 4) fed.push_back(token);
    for (int32_t i = 0; i < tok.vocab_size(); ++i) logits[i] = 0;
    int32_t best = 1;
    const std::string head = "<tool_call> ";
    if (target.compare(0, head.size(), head) == 0 && written.size() >= head.size() - 1) {
      const std::vector<int32_t> enc = tok.encode(target.substr(head.size()));
      if (fed.size() < enc.size() && std::equal(fed.begin(), fed.end(), enc.begin())) {
        logits[enc[fed.size()]] = margin;
        return np::Status::Ok();
      }
    }
    if (written.size() <= target.size() && target.compare(0, written.size(), written) == 0) {
      const std::string rest = target.substr(written.size());
      size_t best_len = 0;
      for (int32_t i = 0; i < tok.vocab_size(); ++i) {
        const std::string& t = i == 4 ? tok.piece(4) : tok.token_text(i);
        if (t.empty() || tok.type(i) == np::TokenType::kControl) continue;
        if (t.size() > best_len && rest.compare(0, t.size(), t) == 0) best = i, best_len = t.size();
      }
    }
    logits[best] = margin;
    return np::Status::Ok();
  }
};

np::ToolSet weather_tools() {
  auto set = np::parse_tools(R"([{"name":"get_weather","description":"Weather for a city","parameters":{
      "city":{"type":"string","required":true}}}])");
  REQUIRE(set.ok());
  return set.take();
}

np::DecodeOutput decode(Peaked& s, const np::ToolSet& set) {
  const std::vector<np::GrammarTool> tools = np::grammar_tools(set);
  np::DecodeSpec spec;
  spec.tokenizer = &tokenizer();
  spec.budget = 100;
  spec.tools = &tools;
  spec.jump_forward = true;  // opt-in: covered here too (its tokens carry probability 1)
  np::DecodeOutput out;
  REQUIRE(np::greedy_decode(spec, [&](int32_t t, float* l) { return s.step(t, l); }, &out).ok());
  return out;
}

double min_of(const std::vector<float>& v) {
  double m = 1;
  for (float x : v) m = std::min(m, static_cast<double>(x));
  return m;
}

using np_test::random_model;

std::string many_tools(int n) {
  nlohmann::ordered_json a = nlohmann::ordered_json::array();
  const char* topics[] = {"weather", "music", "lights", "timer", "email", "maps", "notes", "camera"};
  for (int i = 0; i < n; ++i)
    a.push_back({{"name", std::string(topics[i % 8]) + "_tool_" + std::to_string(i)},
                 {"description", std::string("Handles ") + topics[i % 8] + " request number " + std::to_string(i)},
                 {"parameters", {{"value", {{"type", "string"}, {"required", true}}}}}});
  return a.dump();
}

}  // namespace

TEST_CASE("the calibration map interpolates, clamps, and is the identity when empty", "[confidence]") {
  np::Calibration c;
  CHECK(c.apply(0.3) == Approx(0.3));
  c.x = {0.2, 0.6, 0.9};
  c.y = {0.1, 0.5, 0.8};
  CHECK(c.apply(0.0) == Approx(0.1));
  CHECK(c.apply(0.4) == Approx(0.3));
  CHECK(c.apply(0.75) == Approx(0.65));
  CHECK(c.apply(1.0) == Approx(0.8));
  double last = -1;
  for (int i = 0; i <= 100; ++i) {  // monotone
    const double y = c.apply(i / 100.0);
    CHECK(y >= last);
    last = y;
  }
}

TEST_CASE("fit_calibration is monotone and lowers the calibration error of a miscalibrated score", "[confidence]") {
  std::mt19937_64 rng(7);
  std::uniform_real_distribution<double> u(0, 1);
  std::vector<double> raw, fit_raw;
  std::vector<int> correct, fit_correct;
  for (int i = 0; i < 4000; ++i) {  // the true rate is raw^3: raw is overconfident
    const double x = u(rng);
    (i < 2000 ? fit_raw : raw).push_back(x);
    (i < 2000 ? fit_correct : correct).push_back(u(rng) < x * x * x ? 1 : 0);
  }
  auto cal = np::fit_calibration(fit_raw, fit_correct, 12);
  REQUIRE(cal.ok());
  const np::Calibration& c = cal.value();
  REQUIRE(c.x.size() >= 2);
  CHECK(c.x.size() <= 12);
  for (size_t i = 1; i < c.x.size(); ++i) {
    CHECK(c.x[i] > c.x[i - 1]);
    CHECK(c.y[i] >= c.y[i - 1]);
  }
  std::vector<double> calibrated;
  for (double x : raw) calibrated.push_back(c.apply(x));
  const double before = np::expected_calibration_error(raw, correct);
  const double after = np::expected_calibration_error(calibrated, correct);  // on held-out data
  CHECK(before > 0.15);
  CHECK(after < 0.05);
  CHECK(np::fit_calibration({}, {}).status().code() == Code::kInvalidInput);
  CHECK(np::fit_calibration({0.5}, {1, 0}).status().code() == Code::kInvalidInput);
  auto flat = np::fit_calibration({0.2, 0.4, 0.6}, {1, 1, 1});
  REQUIRE(flat.ok());
  CHECK(flat.value().apply(0.1) == Approx(1.0));
}

TEST_CASE("the calibration key round-trips through GGUF and malformed keys are refused", "[confidence]") {
  np::Calibration c;
  c.x = {0.1, 0.5, 0.9};
  c.y = {0.0, 0.4, 0.95};
  np::GgufWriter w;
  np::calibration_to_gguf(c, w);
  auto f = np::GgufFile::open_bytes(w.to_bytes().take());
  REQUIRE(f.ok());
  np::Calibration back;
  REQUIRE(np::calibration_from_gguf(*f.value(), &back).ok());
  REQUIRE(back.x.size() == 3);
  for (size_t i = 0; i < 3; ++i) {
    CHECK(back.x[i] == Approx(c.x[i]));
    CHECK(back.y[i] == Approx(c.y[i]));
  }
  const std::vector<std::vector<float>> bad = {{0.1f, 0.2f}, {0.1f, 0.2f, 0.3f}, {0.5f, 0.5f, 0.4f, 0.6f},
                                               {0.1f, 0.6f, 0.5f, 0.4f}, {0.1f, 0.2f, 1.5f, 0.9f}};
  for (const auto& v : bad) {
    np::GgufWriter wb;
    std::vector<np::GgufValue> vals;
    for (float x : v) vals.push_back(np::GgufValue::make_f32(x));
    wb.set_kv(np::kCalibrationKey, np::GgufValue::make_array(np::GgufValueType::F32, vals));
    auto fb = np::GgufFile::open_bytes(wb.to_bytes().take());
    REQUIRE(fb.ok());
    np::Calibration out;
    CHECK(np::calibration_from_gguf(*fb.value(), &out).code() == Code::kBadMetadata);
  }
  np::GgufWriter none;
  none.set_kv("x", np::GgufValue::make_u32(1));
  auto fn = np::GgufFile::open_bytes(none.to_bytes().take());
  np::Calibration empty;
  REQUIRE(np::calibration_from_gguf(*fn.value(), &empty).ok());
  CHECK(empty.empty());
}

TEST_CASE("calibration error and the coverage curve on known inputs", "[confidence]") {
  CHECK(np::expected_calibration_error({1.0, 1.0, 1.0, 1.0}, {1, 0, 1, 0}) == Approx(0.5));
  CHECK(np::expected_calibration_error({0.75, 0.75, 0.75, 0.75}, {1, 1, 1, 0}) == Approx(0.0));
  const auto curve = np::coverage_curve({0.9, 0.2, 0.8, 0.1, 0.7}, {1, 0, 1, 0, 0}, {1.0, 0.6, 0.4});
  REQUIRE(curve.size() == 3);
  CHECK(curve[0].accuracy == Approx(0.4));
  CHECK(curve[1].coverage == Approx(0.6));
  CHECK(curve[1].threshold == Approx(0.7));
  CHECK(curve[1].accuracy == Approx(2.0 / 3));
  CHECK(curve[2].accuracy == Approx(1.0));
  CHECK(curve[2].threshold == Approx(0.8));
}

TEST_CASE("token probabilities: the confidence rises with the model's margin", "[confidence][decode]") {
  const np::ToolSet set = weather_tools();
  const std::string answer = R"(<tool_call> [{"name":"get_weather","arguments":{"city":"Paris"}}])";
  double last = 0;
  for (float margin : {1.0f, 3.0f, 6.0f, 12.0f}) {
    Peaked s{answer, margin, ""};
    const np::DecodeOutput out = decode(s, set);
    REQUIRE(out.stop_reason == "complete");
    REQUIRE(out.token_probs.size() == out.ids.size());
    // Every token the model chose: p = e^m / (e^m + V - 1); the fixed structure is appended
    // by jump-forward (p = 1).
    const double expect = std::exp(margin) / (std::exp(margin) + tokenizer().vocab_size() - 1);
    REQUIRE(out.token_forced.size() == out.token_probs.size());
    CHECK(out.forced_tokens > 0);
    for (size_t i = 0; i < out.token_probs.size(); ++i)
      CHECK(out.token_probs[i] == Approx(out.token_forced[i] ? 1.0 : expect).epsilon(1e-4));
    CHECK(min_of(out.token_probs) > last);
    last = min_of(out.token_probs);
    CHECK(out.no_call_prob >= 0);
    CHECK(out.no_call_prob < 0.5);
  }
}

TEST_CASE("token probabilities: a token the grammar forces against the model scores low", "[confidence][decode]") {
  const np::ToolSet set = weather_tools();
  // The model wants a tool that is not offered; the grammar must steer the name.
  Peaked wrong{R"(<tool_call> [{"name":"get_stock_price","arguments":{}}])", 12.0f, ""};
  const np::DecodeOutput steered = decode(wrong, set);
  Peaked right{R"(<tool_call> [{"name":"get_weather","arguments":{"city":"Paris"}}])", 12.0f, ""};
  const np::DecodeOutput own = decode(right, set);
  CHECK(min_of(own.token_probs) > 0.9);
  CHECK(min_of(steered.token_probs) < 0.01);
  // The empty answer: its no-call probability is the model's.
  Peaked none{"<tool_call> []", 12.0f, ""};
  const np::DecodeOutput empty = decode(none, set);
  CHECK(empty.no_call_prob > 0.9);
  CHECK(own.no_call_prob < 0.01);
}

TEST_CASE("the tool caller reports confidence in [0, 1], per call no higher than its parts allow", "[confidence][tool_caller]") {
  np::ToolCaller caller(random_model(21));
  const char* queries[] = {"weather in Paris", "play some jazz", "turn the kitchen lights on", "hello"};
  for (const char* q : queries) {
    auto r = caller.call(q, many_tools(6));
    REQUIRE(r.ok());
    const np::CallResult& res = r.value();
    CHECK(res.confidence >= 0);
    CHECK(res.confidence <= 1);
    CHECK(res.confidence == Approx(res.confidence_raw));  // no calibration in this model
    CHECK(res.no_call_probability >= 0);
    CHECK(res.no_call_probability <= 1);
    REQUIRE(res.call_confidence.size() == res.calls.size());
    for (double c : res.call_confidence) {
      CHECK(c >= res.confidence_raw);  // the answer's weakest choice bounds every call's
      CHECK(c <= 1);
    }
    const auto j = nlohmann::json::parse(np::call_result_to_json(res));
    CHECK(j["confidence"].get<double>() == Approx(res.confidence));
    CHECK(j["call_confidence"].size() == res.calls.size());
  }
}

TEST_CASE("retrieval ranks every tool, caches tool embeddings, and is deterministic", "[retrieval]") {
  auto model = random_model(22);
  np::ToolRetriever retriever(model);
  REQUIRE(retriever.available());
  auto set = np::parse_tools(many_tools(12));
  REQUIRE(set.ok());
  auto a = retriever.rank("what's the weather", set.value());
  REQUIRE(a.ok());
  REQUIRE(a.value().size() == 12);
  CHECK(retriever.cached() == 12);
  std::vector<bool> seen(12, false);
  for (size_t i = 0; i < a.value().size(); ++i) {
    const np::RankedTool& t = a.value()[i];
    CHECK(t.score >= -1.0001f);
    CHECK(t.score <= 1.0001f);
    if (i > 0) CHECK(t.score <= a.value()[i - 1].score);
    CHECK(t.name == set.value().tools[static_cast<size_t>(t.index)].original_name);
    seen[static_cast<size_t>(t.index)] = true;
  }
  CHECK(std::all_of(seen.begin(), seen.end(), [](bool b) { return b; }));
  auto b = retriever.rank("what's the weather", set.value());
  REQUIRE(b.ok());
  CHECK(retriever.cached() == 12);  // second query: no tool encoded again
  for (size_t i = 0; i < 12; ++i) {
    CHECK(b.value()[i].index == a.value()[i].index);
    CHECK(b.value()[i].score == a.value()[i].score);
  }
  auto e = retriever.embed("weather");
  REQUIRE(e.ok());
  double norm = 0;
  for (float x : e.value()) norm += static_cast<double>(x) * x;
  CHECK(norm == Approx(1.0).epsilon(1e-4));
  CHECK(retriever.embed("").status().code() == Code::kInvalidInput);
  np::ToolRetriever small(model, 4);  // the cache keeps at most its capacity
  REQUIRE(small.rank("x", set.value()).ok());
  CHECK(small.cached() == 4);
}

TEST_CASE("pre-selection offers only the closest tools when the list is large", "[retrieval][tool_caller]") {
  np::ToolCaller caller(random_model(23));
  const std::string tools = many_tools(20);
  np::CallOptions o;
  o.preselect_above = 10;
  o.preselect_k = 2;
  auto r = caller.call("set a timer", tools, o);
  REQUIRE(r.ok());
  REQUIRE(r.value().preselected.size() == 2);
  auto ranked = caller.retriever().rank("set a timer", np::parse_tools(tools).value());
  REQUIRE(ranked.ok());
  for (size_t i = 0; i < 2; ++i) CHECK(r.value().preselected[i] == ranked.value()[i].name);
  for (const np::Call& c : r.value().calls)
    CHECK(std::find(r.value().preselected.begin(), r.value().preselected.end(), c.name) != r.value().preselected.end());
  o.preselect_above = -1;  // never
  auto all = caller.call("set a timer", tools, o);
  REQUIRE(all.ok());
  CHECK(all.value().preselected.empty());
  CHECK(all.value().truncated);  // 20 tools do not fit the small model's 256-token context
  CHECK_FALSE(r.value().truncated);
  CHECK(all.value().input_tokens > r.value().input_tokens);
  o.preselect_above = 10;  // a list no longer than k: untouched
  auto few = caller.call("set a timer", many_tools(2), o);
  REQUIRE(few.ok());
  CHECK(few.value().preselected.empty());
  // Under the threshold but cut by the context (5 tools do not fit 256 tokens): narrowed.
  o.preselect_above = -1;
  auto cut = caller.call("set a timer", many_tools(5), o);
  REQUIRE(cut.ok());
  REQUIRE(cut.value().truncated);
  o.preselect_above = 10;
  auto narrowed = caller.call("set a timer", many_tools(5), o);
  REQUIRE(narrowed.ok());
  CHECK(narrowed.value().preselected.size() == 2);
}

TEST_CASE("jump-forward: the fixed JSON structure is appended without logits, same answer", "[decode]") {
  const np::ToolSet set = weather_tools();
  const std::vector<np::GrammarTool> tools = np::grammar_tools(set);
  const std::string answer = R"(<tool_call> [{"name":"get_weather","arguments":{"city":"Paris"}}])";
  std::string texts[2];
  int forced[2] = {0, 0}, without_logits[2] = {0, 0}, steps[2] = {0, 0};
  for (int jf = 0; jf < 2; ++jf) {
    Peaked s{answer, 12.0f, ""};
    np::DecodeSpec spec;
    spec.tokenizer = &tokenizer();
    spec.budget = 100;
    spec.tools = &tools;
    spec.jump_forward = jf == 1;
    np::DecodeOutput out;
    std::vector<float> scratch(static_cast<size_t>(tokenizer().vocab_size()));
    REQUIRE(np::greedy_decode(spec, [&](int32_t t, float* l) {
      ++steps[jf];
      if (!l) {
        ++without_logits[jf];
        return s.step(t, scratch.data());  // the script only needs to see the token
      }
      return s.step(t, l);
    }, &out).ok());
    texts[jf] = out.text;
    forced[jf] = out.forced_tokens;
    CHECK(out.stop_reason == "complete");
  }
  CHECK(texts[0] == texts[1]);
  CHECK(texts[1] == R"([{"name":"get_weather","arguments":{"city":"Paris"}}])");
  CHECK(forced[0] == 0);
  CHECK(without_logits[0] == 0);
  CHECK(forced[1] >= 3);                  // "name":" and ,"arguments":{ at least
  CHECK(without_logits[1] == forced[1]);  // one logit-free step per forced token
}
