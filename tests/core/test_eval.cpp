// test_eval.cpp — function-calling metrics on hand-built examples whose numbers are
// worked out in the comments.
#include <catch2/catch.hpp>

#include "np/eval.h"

using json = nlohmann::ordered_json;
using np::EvalCall;
using np::EvalExample;

namespace {
EvalCall call(const char* name, const char* args) { return EvalCall{name, json::parse(args)}; }
}  // namespace

TEST_CASE("values are normalised before comparing", "[eval]") {
  CHECK(np::eval_values_equal(json("  Paris "), json("paris")));
  CHECK(np::eval_values_equal(json("3"), json(3)));
  CHECK(np::eval_values_equal(json(2.5), json(" 2.50")));
  CHECK(np::eval_values_equal(json::parse(R"({"a":"X","b":[1,"2"]})"), json::parse(R"({"b":[1.0,2],"a":"x"})")));
  CHECK_FALSE(np::eval_values_equal(json(true), json("true")));
  CHECK_FALSE(np::eval_values_equal(json("3 apples"), json(3)));
  CHECK_FALSE(np::eval_values_equal(json("Paris"), json("Pariss")));
}

TEST_CASE("exact match is an order-insensitive multiset of calls", "[eval]") {
  EvalExample e;
  e.reference = {call("a", R"({"x":1})"), call("b", R"({"y":"Hi"})"), call("a", R"({"x":2})")};
  e.prediction = {call("a", R"({"x":"2"})"), call("a", R"({"x":1})"), call("b", R"({"y":" hi"})")};
  CHECK(np::eval_exact_match(e));
  e.prediction.pop_back();
  CHECK_FALSE(np::eval_exact_match(e));                 // a call missing
  e.prediction.push_back(call("b", R"({"y":"hi","z":1})"));
  CHECK_FALSE(np::eval_exact_match(e));                 // an extra key
  e.prediction.back() = call("b", R"({"y":"hi"})");
  e.prediction.push_back(call("b", R"({"y":"hi"})"));
  CHECK_FALSE(np::eval_exact_match(e));                 // one call too many
  EvalExample none;
  CHECK(np::eval_exact_match(none));                    // [] vs []
  none.parsed = false;
  CHECK_FALSE(np::eval_exact_match(none));              // unparsable output never matches
}

TEST_CASE("accept lists give alternatives and optional arguments", "[eval]") {
  EvalExample e;
  e.reference = {call("timer", R"({"minutes":10,"label":"tea"})")};
  e.accept = json::parse(R"([{"name":"timer","arguments":{"minutes":[10,"ten"],"label":["tea",""],"sound":["bell",""]}}])");
  e.prediction = {call("timer", R"({"minutes":"ten"})")};
  CHECK(np::eval_exact_match(e));                       // alternative value, optional label left out
  e.prediction = {call("timer", R"({"minutes":10,"label":"tea","sound":"bell"})")};
  CHECK(np::eval_exact_match(e));                       // an accepted extra argument
  e.prediction = {call("timer", R"({"minutes":10,"sound":"horn"})")};
  CHECK_FALSE(np::eval_exact_match(e));                 // extra argument with a value not accepted
  e.prediction = {call("timer", R"({"label":"tea"})")};
  CHECK_FALSE(np::eval_exact_match(e));                 // minutes is not omittable
}

TEST_CASE("dataset metrics", "[eval]") {
  std::vector<EvalExample> xs(4);
  // 0: exact
  xs[0].reference = {call("weather", R"({"city":"Paris"})")};
  xs[0].prediction = {call("weather", R"({"city":"paris"})")};
  // 1: right tool, wrong value, one hallucinated key, one missing key
  xs[1].reference = {call("timer", R"({"minutes":5,"label":"eggs"})")};
  xs[1].prediction = {call("timer", R"({"minutes":6,"sound":"bell"})")};
  // 2: reference [] but a call predicted
  xs[2].prediction = {call("weather", R"({"city":"Rome"})")};
  // 3: output did not parse; reference has a call
  xs[3].reference = {call("message", R"({"to":"Ann"})")};
  xs[3].parsed = false;
  const np::EvalMetrics m = np::eval_compute(xs);
  CHECK(m.examples == 4);
  CHECK(m.exact_match == Approx(0.25));
  CHECK(m.parse_rate == Approx(0.75));
  // names: predicted {weather, timer, weather}, reference {weather, timer, message}; tp 2
  CHECK(m.pred_calls == 3);
  CHECK(m.ref_calls == 3);
  CHECK(m.name_precision == Approx(2.0 / 3));
  CHECK(m.name_recall == Approx(2.0 / 3));
  CHECK(m.name_f1 == Approx(2.0 / 3));
  // whole calls: only example 0 matches
  CHECK(m.matched_calls == 1);
  CHECK(m.call_f1 == Approx(1.0 / 3));
  // paired calls: ex0 weather, ex1 timer -> 1 of 2 fully right
  CHECK(m.paired_calls == 2);
  CHECK(m.argument_accuracy == Approx(0.5));
  // keys: reference city, minutes, label (3); label missing -> 1/3
  CHECK(m.missing_param_rate == Approx(1.0 / 3));
  // predicted keys city, minutes, sound (3); sound hallucinated -> 1/3
  CHECK(m.hallucinated_param_rate == Approx(1.0 / 3));
  // shared keys city (ok), minutes (6 vs 5) -> 1/2
  CHECK(m.value_accuracy == Approx(0.5));
  CHECK(m.empty_pred_share == Approx(0.25));   // ex3 (unparsed counts as no calls)
  CHECK(m.empty_ref_share == Approx(0.25));    // ex2
  CHECK(m.false_empty_share == Approx(0.25));  // ex3
  CHECK(m.false_call_share == Approx(0.25));   // ex2
  const json j = np::eval_metrics_to_json(m);
  CHECK(j["exact_match"] == 0.25);
}

TEST_CASE("non-object arguments count as none, without crashing", "[eval]") {
  EvalExample e;
  e.reference = {EvalCall{"a", json::array()}};
  e.prediction = {EvalCall{"a", json("str")}};
  CHECK(np::eval_exact_match(e));
  const np::EvalMetrics m = np::eval_compute({e});
  CHECK(m.exact_match == 1.0);
}
