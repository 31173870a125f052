// run_eval.cpp — running a model over examples for the metrics (np/eval.h, evaluate_model).
#include "np/dataset.h"
#include "np/eval.h"
#include "np/tool_caller.h"

namespace np {

EvalMetrics evaluate_model(std::shared_ptr<const Model> model, const std::vector<Example>& examples) {
  ToolCaller caller(std::move(model));
  std::vector<EvalExample> evs;
  evs.reserve(examples.size());
  for (const Example& ex : examples) {
    auto r = caller.call(ex.query, ex.tools.dump());
    EvalExample e;
    for (const auto& a : ex.answers) e.reference.push_back({a.original_name, a.arguments});
    e.accept = ex.accept;
    e.parsed = r.ok() && r.value().valid;
    if (r.ok())
      for (const auto& c : r.value().calls) e.prediction.push_back({c.name, c.arguments});
    evs.push_back(std::move(e));
  }
  return eval_compute(evs);
}

}  // namespace np
