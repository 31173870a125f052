// cmd_train.cpp — the training commands: train (from scratch or from a base GGUF) and eval.
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "commands.h"
#include "np/trainer.h"

#include "np/dataset.h"
#include "np/eval.h"
#include "np/tool_caller.h"

namespace np_cli {

// ---- train ---------------------------------------------------------------------------------

namespace {

bool parse_weight_type(const std::string& s, np::GgmlType* t) {
  if (s == "f32") *t = np::GgmlType::F32;
  else if (s == "f16") *t = np::GgmlType::F16;
  else if (s == "q8_0") *t = np::GgmlType::Q8_0;
  else if (s == "q4_0") *t = np::GgmlType::Q4_0;
  else return false;
  return true;
}

std::string opt(const Args& args, const char* name, const char* dflt) {
  std::string v;
  return arg_value(args, name, &v) ? v : std::string(dflt);
}

}  // namespace

int cmd_train(const Args& args) {
  std::string data, out;
  if (!arg_value(args, "--data", &data) || !arg_value(args, "--out", &out))
    return usage_error("train needs --data D.jsonl and --out M.gguf");
  const int64_t steps = std::atoll(opt(args, "--steps", "200").c_str());
  const int batch = std::atoi(opt(args, "--batch", "16").c_str());
  const uint64_t seed = std::strtoull(opt(args, "--seed", "1").c_str(), nullptr, 10);
  const int log_every = std::atoi(opt(args, "--log-every", "10").c_str());
  np::GgmlType type;
  if (!parse_weight_type(opt(args, "--type", "f32"), &type)) return usage_error("--type must be f32, f16, q8_0 or q4_0");
  if (steps < 1 || batch < 1) return usage_error("--steps and --batch must be >= 1");

  // Model: from a base GGUF (fine-tuning) or from scratch with a preset config.
  std::string base, spm;
  std::unique_ptr<np::TrainModel> model;
  np::Tokenizer tokenizer;
  std::shared_ptr<np::GgufFile> base_file;
  const bool finetune = arg_value(args, "--model", &base);
  if (finetune) {
    auto f = np::GgufFile::open_file(base);
    if (!f.ok()) return fail(f.status().to_string());
    base_file = f.take();
    auto m = np::TrainModel::from_gguf(*base_file);
    if (!m.ok()) return fail(m.status().to_string());
    auto t = np::Tokenizer::from_gguf(*base_file);
    if (!t.ok()) return fail(t.status().to_string());
    model = std::make_unique<np::TrainModel>(m.take());
    tokenizer = t.take();
  } else {
    const std::string cname = opt(args, "--config", "small");
    np::ModelConfig c;
    if (cname == "small") c = np::ModelConfig::small();
    else if (cname == "needle") c = np::ModelConfig::needle_v1();
    else return usage_error("--config must be small or needle");
    c.max_enc_len = std::atoi(opt(args, "--max-enc-len", std::to_string(c.max_enc_len).c_str()).c_str());
    auto t = arg_value(args, "--spm", &spm) ? np::Tokenizer::from_spm_file(spm) : np::synthetic_tokenizer(c.vocab_size);
    if (!t.ok()) return fail(t.status().to_string());
    tokenizer = t.take();
    c.vocab_size = tokenizer.vocab_size();
    auto m = np::TrainModel::create(c, seed);
    if (!m.ok()) return fail(m.status().to_string());
    model = std::make_unique<np::TrainModel>(m.take());
  }

  np::DataOptions dopt;
  dopt.reader.seed = seed;
  dopt.reader.epochs = 0;  // cycle until the step budget is spent
  dopt.batch.batch_size = batch;
  auto loader = np::DataLoader::open(data, tokenizer, model->config(), dopt);
  if (!loader.ok()) return fail(loader.status().to_string());

  np::OptimConfig oc = finetune ? np::OptimConfig::finetuning(steps) : np::OptimConfig::pretraining(steps);
  oc.adamw.lr = std::atof(opt(args, "--lr", std::to_string(oc.adamw.lr).c_str()).c_str());
  oc.muon.lr = std::atof(opt(args, "--muon-lr", std::to_string(oc.muon.lr).c_str()).c_str());
  if (arg_flag(args, "--no-muon")) oc.muon.enabled = false;
  auto optim = np::Optimizer::create(model->params(), oc);
  if (!optim.ok()) return fail(optim.status().to_string());

  std::FILE* log = nullptr;
  std::string log_path;
  if (arg_value(args, "--log", &log_path)) {
    log = std::fopen(log_path.c_str(), "w");
    if (!log) return fail("IO_ERROR: cannot write " + log_path);
    std::fprintf(log, "step,loss,ce,lr,grad_norm,tokens_per_s\n");
  }
  np::LossConfig lc;
  const auto t0 = std::chrono::steady_clock::now();
  int64_t tokens = 0;
  for (int64_t step = 0; step < steps; ++step) {
    np::Batch b;
    bool end = false;
    np::Status s = loader.value()->next(&b, &end);
    if (!s.ok()) return fail(s.to_string());
    if (end) return fail("INVALID_INPUT: no usable training examples in " + data);
    np::TrainBatchView v{b.B, b.Te, b.Td, b.enc_ids.data(), b.dec_in.data(), b.targets.data(), b.weights.data()};
    np::LossInfo li;
    s = model->forward_backward(v, lc, &li);
    if (!s.ok()) return fail(s.to_string());
    np::StepInfo si;
    s = optim.value().step(model->params(), &si);
    if (!s.ok()) return fail(s.to_string());
    tokens += b.enc_tokens + b.dec_tokens;
    const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    const double tps = tokens / std::max(secs, 1e-9);
    if (log) std::fprintf(log, "%lld,%.6f,%.6f,%.3g,%.4f,%.1f\n", static_cast<long long>(step + 1), li.loss, li.ce, si.lr_adamw, si.grad_norm, tps);
    if ((step + 1) % std::max(1, log_every) == 0 || step + 1 == steps) {
      const double eta = secs / (step + 1) * (steps - step - 1);
      std::fprintf(stderr, "step %lld/%lld  loss %.4f  ce %.4f  lr %.2e  %.0f tok/s  eta %.0fs\n",
                   static_cast<long long>(step + 1), static_cast<long long>(steps), li.loss, li.ce, si.lr_adamw, tps, eta);
    }
  }
  if (log) std::fclose(log);
  const np::DataReport& rep = loader.value()->report();
  if (rep.bad_lines) std::fprintf(stderr, "skipped %lld bad lines (first: %s)\n", static_cast<long long>(rep.bad_lines),
                                  rep.errors.empty() ? "" : rep.errors[0].c_str());
  np::GgufWriter w;
  np::Status s = model->export_gguf(tokenizer, type, &w);
  if (s.ok()) s = w.write_file(out);
  if (!s.ok()) return fail(s.to_string());
  return 0;
}

// ---- eval ----------------------------------------------------------------------------------

int cmd_eval(const Args& args) {
  std::string model_path, data, preds_path, fail_s;
  if (!arg_value(args, "--model", &model_path) || !arg_value(args, "--data", &data))
    return usage_error("eval needs --model M and --data D.jsonl");
  auto model = np::Model::load_file(model_path);
  if (!model.ok()) return fail(model.status().to_string());
  np::ReaderOptions ro;
  ro.shuffle = false;
  np::DataReport report;
  auto examples = np::read_examples(data, ro, &report);
  if (!examples.ok()) return fail(examples.status().to_string());
  np::ToolCaller caller(model.take());
  std::FILE* preds = nullptr;
  if (arg_value(args, "--out", &preds_path)) {
    preds = std::fopen(preds_path.c_str(), "w");
    if (!preds) return fail("IO_ERROR: cannot write " + preds_path);
  }
  std::vector<np::EvalExample> evs;
  std::vector<std::string> outputs;
  for (const np::Example& ex : examples.value()) {
    auto r = caller.call(ex.query, ex.tools.dump());
    np::EvalExample e;
    for (const auto& a : ex.answers) e.reference.push_back({a.original_name, a.arguments});
    e.accept = ex.accept;
    nlohmann::ordered_json calls = nlohmann::ordered_json::array();
    std::string raw;
    if (r.ok()) {
      e.parsed = r.value().valid;
      for (const auto& c : r.value().calls) {
        e.prediction.push_back({c.name, c.arguments});
        calls.push_back({{"name", c.name}, {"arguments", c.arguments}});
      }
      raw = r.value().raw;
    } else {
      e.parsed = false;
      raw = r.status().to_string();
    }
    if (preds) {
      nlohmann::ordered_json line{{"id", ex.id}, {"calls", calls}, {"output", raw}};
      std::fprintf(preds, "%s\n", line.dump(-1, ' ', false, nlohmann::ordered_json::error_handler_t::replace).c_str());
    }
    outputs.push_back(raw);
    evs.push_back(std::move(e));
  }
  if (preds) std::fclose(preds);
  const np::EvalMetrics m = np::eval_compute(evs);
  nlohmann::ordered_json j = np::eval_metrics_to_json(m);
  j["bad_lines"] = report.bad_lines;
  if (arg_flag(args, "--json")) {
    std::printf("%s\n", j.dump().c_str());
  } else {
    for (auto it = j.begin(); it != j.end(); ++it)
      if (!it.value().is_object()) std::printf("%-24s %s\n", it.key().c_str(), it.value().dump().c_str());
  }
  const int nfail = arg_value(args, "--failures", &fail_s) ? std::atoi(fail_s.c_str()) : 0;
  int shown = 0;
  for (size_t i = 0; i < evs.size() && shown < nfail; ++i) {
    if (np::eval_exact_match(evs[i])) continue;
    ++shown;
    std::fprintf(stderr, "line %lld: %s\n  expected %s\n  got      %s\n", static_cast<long long>(examples.value()[i].line),
                 examples.value()[i].query.c_str(),
                 [&] {
                   nlohmann::ordered_json a = nlohmann::ordered_json::array();
                   for (const auto& c : evs[i].reference) a.push_back({{"name", c.name}, {"arguments", c.arguments}});
                   return a.dump(-1, ' ', false, nlohmann::ordered_json::error_handler_t::replace);
                 }().c_str(),
                 outputs[i].c_str());
  }
  return 0;
}

}  // namespace np_cli
