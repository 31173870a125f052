// cmd_train.cpp — the training commands: train (from scratch or from a base GGUF),
// finetune (a base GGUF, full or LoRA) and eval. The loop itself is np::TrainRun
// (core/include/np/train_loop.h); this file parses flags, prints progress, writes the loss
// log, checkpoints and the exported model.
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "commands.h"
#include "np/dataset.h"
#include "np/confidence.h"
#include "np/eval.h"
#include "np/tool_caller.h"
#include "np/threads.h"
#include "np/train_loop.h"
#include "np/trainer.h"

namespace np_cli {

// ---- train / finetune ------------------------------------------------------------------

namespace {

bool parse_weight_type(const std::string& s, np::GgmlType* t) {
  if (s == "f32") *t = np::GgmlType::F32;
  else if (s == "f16") *t = np::GgmlType::F16;
  else if (s == "q8_0") *t = np::GgmlType::Q8_0;
  else if (s == "q4_0") *t = np::GgmlType::Q4_0;
  else return false;
  return true;
}

// Flags read strictly: a malformed number or an unknown flag is a usage error, never a
// silent default.
struct Flags {
  const Args& args;
  std::string error;
  std::set<std::string> known;

  bool has(const std::string& name) {
    known.insert(name);
    return arg_flag(args, name);
  }
  bool str(const std::string& name, std::string* out) {
    known.insert(name);
    return arg_value(args, name, out);
  }
  template <class T>
  void num(const std::string& name, T* out) {
    known.insert(name);
    std::string v;
    if (!arg_value(args, name, &v)) return;
    char* end = nullptr;
    const double d = std::strtod(v.c_str(), &end);
    if (v.empty() || *end != '\0' || !std::isfinite(d) || (std::is_integral<T>::value && d != std::floor(d))) {
      if (error.empty()) error = name + " needs a number, got '" + v + "'";
      return;
    }
    *out = static_cast<T>(d);
  }
  // Every "--x" in args must be one of the flags asked for.
  bool check_unknown() {
    for (const std::string& a : args) {
      if (a.size() < 3 || a.compare(0, 2, "--") != 0) continue;
      const std::string name = a.substr(0, a.find('='));
      if (!known.count(name)) {
        const std::string meant = closest_option(name, std::vector<std::string>(known.begin(), known.end()));
        if (error.empty()) error = "unknown option " + name + (meant.empty() ? "" : "; did you mean " + meant + "?");
        return false;
      }
    }
    return error.empty();
  }
};

std::vector<std::string> split_list(const std::string& s) {
  std::vector<std::string> out;
  size_t start = 0;
  while (start <= s.size()) {
    size_t end = s.find(',', start);
    if (end == std::string::npos) end = s.size();
    if (end > start) out.push_back(s.substr(start, end - start));
    start = end + 1;
  }
  return out;
}

bool write_bytes_atomic(const std::string& path, const std::vector<uint8_t>& bytes, std::string* err) {
  const std::string tmp = path + ".tmp";
  std::FILE* f = std::fopen(tmp.c_str(), "wb");
  if (!f) {
    *err = "IO_ERROR: cannot write " + tmp;
    return false;
  }
  const bool ok = std::fwrite(bytes.data(), 1, bytes.size(), f) == bytes.size();
  if (std::fclose(f) != 0 || !ok || std::rename(tmp.c_str(), path.c_str()) != 0) {
    std::remove(tmp.c_str());
    *err = "IO_ERROR: cannot write " + path;
    return false;
  }
  return true;
}

// Exact match (and the other metrics) of a model file's bytes on examples.
np::EvalMetrics evaluate_examples(std::shared_ptr<np::Model> model, const std::vector<np::Example>& examples) {
  return np::evaluate_model(std::move(model), examples);
}

struct Progress {
  std::FILE* log = nullptr;
  std::chrono::steady_clock::time_point t0;
  int64_t tokens = 0, steps = 0, first_step = 0;
  int log_every = 10;
  bool clip = false;
  std::string ckpt_path;
  int64_t ckpt_every = 0;
  int64_t stop_at = 0;  // > 0: end this invocation after that step (checkpoint, export)
  bool stopped_at = false;
  np::TrainRun* run = nullptr;
  std::string error;
};

bool on_step(const np::StepReport& r, void* user) {
  Progress& p = *static_cast<Progress*>(user);
  p.tokens += r.tokens;
  const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - p.t0).count();
  const double tps = p.tokens / std::max(secs, 1e-9);
  if (p.log)
    std::fprintf(p.log, "%lld,%.6f,%.6f,%.4g,%.4f,%.1f,\n", static_cast<long long>(r.step), r.loss, r.ce, r.lr,
                 r.grad_norm, tps);
  if (r.step % std::max(1, p.log_every) == 0 || r.step == p.steps) {
    const double eta = secs / static_cast<double>(r.step - p.first_step) * static_cast<double>(p.steps - r.step);
    char clip[64] = "";
    if (p.clip) std::snprintf(clip, sizeof clip, "  clip %.3f (acc %.2f)", r.contrastive_loss, r.contrastive_accuracy);
    std::fprintf(stderr, "step %lld/%lld  loss %.4f  ce %.4f%s  lr %.2e  |g| %.3f  %.0f tok/s  eta %.0fs\n",
                 static_cast<long long>(r.step), static_cast<long long>(p.steps), r.loss, r.ce, clip, r.lr, r.grad_norm,
                 tps, eta);
  }
  if (!p.ckpt_path.empty() && p.ckpt_every > 0 && r.step % p.ckpt_every == 0 && r.step < p.steps) {
    auto bytes = p.run->checkpoint();
    if (!bytes.ok()) {
      p.error = bytes.status().to_string();
      return false;
    }
    if (!write_bytes_atomic(p.ckpt_path, bytes.value(), &p.error)) return false;
  }
  if (p.stop_at > 0 && r.step >= p.stop_at) {
    p.stopped_at = true;
    return false;
  }
  return true;
}

bool on_val(const np::ValReport& r, void* user) {
  Progress& p = *static_cast<Progress*>(user);
  std::fprintf(stderr, "  validation at step %lld: loss %.4f  ce %.4f%s\n", static_cast<long long>(r.step), r.loss, r.ce,
               r.improved ? "  (best)" : "");
  if (p.log) std::fprintf(p.log, "%lld,,,,,,%.6f\n", static_cast<long long>(r.step), r.loss);
  return true;
}

int train_command(const Args& args, bool finetune) {
  Flags f{args, {}, {}};
  const char* cmd = finetune ? "finetune" : "train";
  std::string data, out, base, spm, ckpt_dir, log_path, s;
  const bool have_data = f.str("--data", &data), have_out = f.str("--out", &out);
  const bool have_base = f.str("--model", &base);
  np::TrainConfig tc;
  tc.steps = 200;
  f.num("--steps", &tc.steps);
  f.num("--batch", &tc.batch);
  f.num("--seed", &tc.seed);
  tc.lora.rank = 0;
  if (finetune) {
    f.num("--lora-rank", &tc.lora.rank);
    f.num("--lora-alpha", &tc.lora.alpha);
    if (f.str("--lora-targets", &s)) {
      np::Status st = np::parse_lora_targets(s, &tc.lora.targets);
      if (!st.ok()) return usage_error(st.message());
    }
    tc.train_base = f.has("--train-base");
  }
  tc.optim = have_base ? np::OptimConfig::finetuning(tc.steps) : np::OptimConfig::pretraining(tc.steps);
  if (tc.lora.rank > 0) tc.optim.adamw.lr = 1e-3;  // adapters start at zero: they need a larger step
  f.num("--lr", &tc.optim.adamw.lr);
  f.num("--muon-lr", &tc.optim.muon.lr);
  f.num("--weight-decay", &tc.optim.adamw.weight_decay);
  f.num("--clip", &tc.optim.clip_norm);
  f.num("--warmup", &tc.optim.schedule.warmup_ratio);
  f.num("--decay", &tc.optim.schedule.decay_ratio);
  if (f.str("--schedule", &s)) {
    if (s == "wsd") tc.optim.schedule.kind = np::ScheduleKind::kWsd;
    else if (s == "cosine") tc.optim.schedule.kind = np::ScheduleKind::kCosine;
    else if (s == "constant") tc.optim.schedule.kind = np::ScheduleKind::kConstant;
    else return usage_error("--schedule must be wsd, cosine or constant");
  }
  if (f.has("--no-muon")) tc.optim.muon.enabled = false;
  if (f.has("--muon-all")) tc.muon_attention_only = false;
  f.num("--z-loss", &tc.loss.z_coef);
  f.num("--contrastive", &tc.contrastive_weight);
  f.num("--contrastive-batch", &tc.contrastive_batch);
  if (f.str("--role-weights", &s)) {
    const std::vector<std::string> w = split_list(s);
    char* e1 = nullptr;
    float v[4];
    bool ok = w.size() == 4;
    for (size_t i = 0; ok && i < 4; ++i) {
      v[i] = std::strtof(w[i].c_str(), &e1);
      ok = *e1 == '\0' && v[i] >= 0;
    }
    if (!ok) return usage_error("--role-weights needs four numbers: name,key,value,structure");
    tc.pair.weights = {v[0], v[1], v[2], v[3]};
  }
  if (f.has("--no-augment")) tc.pair.augment.enabled = false;
  f.num("--rename-tools", &tc.pair.augment.rename_tools);
  f.num("--rename-params", &tc.pair.augment.rename_params);
  f.num("--swap-words", &tc.pair.augment.swap_words);
  if (!(tc.pair.augment.rename_tools >= 0 && tc.pair.augment.rename_tools <= 1 &&
        tc.pair.augment.rename_params >= 0 && tc.pair.augment.rename_params <= 1 &&
        tc.pair.augment.swap_words >= 0 && tc.pair.augment.swap_words <= 1))
    return usage_error("--rename-tools, --rename-params and --swap-words are probabilities in [0, 1]");
  if (f.str("--qat", &s)) {
    if (s == "q8_0") tc.qat = np::GgmlType::Q8_0;
    else if (s == "q4_0") tc.qat = np::GgmlType::Q4_0;
    else return usage_error("--qat must be q8_0 or q4_0");
  }
  if (f.str("--freeze", &s)) tc.freeze = split_list(s);
  f.str("--val-data", &tc.val_path);
  f.num("--val-split", &tc.val_fraction);
  f.num("--eval-every", &tc.eval_every);
  f.num("--patience", &tc.patience);
  f.num("--val-max", &tc.val_max_examples);
  f.num("--bucket-window", &tc.bucket_window);
  f.str("--encoder-mask", &tc.encoder_mask);
  if (f.str("--on-bad-line", &s)) {
    if (s == "skip") tc.bad_lines = np::BadLinePolicy::kSkip;
    else if (s == "stop") tc.bad_lines = np::BadLinePolicy::kStop;
    else return usage_error("--on-bad-line must be skip or stop");
  }
  np::GgmlType type = np::GgmlType::F32;
  if (f.str("--type", &s) && !parse_weight_type(s, &type)) return usage_error("--type must be f32, f16, q8_0 or q4_0");
  Progress prog;
  f.num("--log-every", &prog.log_every);
  f.num("--checkpoint-every", &prog.ckpt_every);
  f.num("--stop-at", &prog.stop_at);
  f.str("--checkpoint-dir", &ckpt_dir);
  const bool resume = f.has("--resume");
  f.str("--log", &log_path);
  // Model shape (from scratch only).
  np::ModelConfig mc;
  std::string cname = "small";
  f.str("--config", &cname);
  if (cname == "small") mc = np::ModelConfig::small();
  else if (cname == "needle") mc = np::ModelConfig::needle_v1();
  else return usage_error("--config must be small or needle");
  f.num("--d-model", &mc.d_model);
  f.num("--heads", &mc.n_heads);
  f.num("--kv-heads", &mc.n_kv_heads);
  f.num("--enc-layers", &mc.n_enc_layers);
  f.num("--dec-layers", &mc.n_dec_layers);
  f.num("--max-enc-len", &mc.max_enc_len);
  f.num("--max-dec-len", &mc.max_dec_len);
  f.num("--contrastive-dim", &mc.contrastive_dim);
  f.num("--d-ff", &mc.d_ff);
  if (f.str("--ffn", &s)) {
    if (s == "drelu") mc.ffn_act = np::FfnActivation::kDRelu;
    else if (s == "swiglu") mc.ffn_act = np::FfnActivation::kSwiGlu;
    else if (s == "geglu") mc.ffn_act = np::FfnActivation::kGeGlu;
    else return usage_error("--ffn must be drelu, swiglu or geglu");
  }
  const bool have_spm = f.str("--spm", &spm);
  const bool bf16 = f.has("--bf16");
  if (!f.check_unknown()) return usage_error(f.error);
  // After every option is known: an unknown one is named first, even where these are missing.
  if (!have_data || !have_out) return usage_error(std::string(cmd) + " needs --data D.jsonl and --out M.gguf");
  if (finetune && !have_base) return usage_error("finetune needs --model base.gguf");
  // bf16 products (fp32 accumulation, fp32 master weights): docs/benchmarks.md.
  if (bf16 && !np::set_matmul_precision(np::MatmulPrecision::kBf16))
    return fail("UNSUPPORTED: --bf16 needs a CPU with AVX-512 BF16 (and a build for it)");
  if (resume && ckpt_dir.empty()) return usage_error("--resume needs --checkpoint-dir DIR");
  const std::string ckpt_path = ckpt_dir.empty() ? "" : ckpt_dir + "/checkpoint.gguf";
  if (!ckpt_dir.empty()) {
    std::error_code ec;
    std::filesystem::create_directories(ckpt_dir, ec);
    if (ec) return fail("IO_ERROR: cannot create " + ckpt_dir + ": " + ec.message());
  }
  if (!ckpt_dir.empty() && prog.ckpt_every == 0) prog.ckpt_every = std::max<int64_t>(1, tc.steps / 10);
  np::Status st = tc.validate();
  if (!st.ok()) return usage_error(st.message());

  std::unique_ptr<np::TrainRun> run;
  std::shared_ptr<np::GgufFile> base_file;
  std::string ckpt_text;
  if (resume && read_file(ckpt_path, &ckpt_text)) {
    std::vector<uint8_t> bytes(ckpt_text.begin(), ckpt_text.end());
    std::string().swap(ckpt_text);
    auto r = np::TrainRun::resume(bytes, data, tc);
    if (!r.ok()) return fail(r.status().to_string() + " (" + ckpt_path + ")");
    run = r.take();
    std::fprintf(stderr, "resumed from %s at step %lld\n", ckpt_path.c_str(), static_cast<long long>(run->step_count()));
  } else {
    np::Tokenizer tokenizer;
    np::TrainModel model;
    if (have_base) {
      auto bf = np::GgufFile::open_file(base);
      if (!bf.ok()) return fail(bf.status().to_string());
      base_file = bf.take();
      auto m = np::TrainModel::from_gguf(*base_file);
      if (!m.ok()) return fail(m.status().to_string());
      auto t = np::Tokenizer::from_gguf(*base_file);
      if (!t.ok()) return fail(t.status().to_string());
      model = m.take();
      tokenizer = t.take();
    } else {
      auto t = have_spm ? np::Tokenizer::from_spm_file(spm) : np::synthetic_tokenizer(mc.vocab_size);
      if (!t.ok()) return fail(t.status().to_string());
      tokenizer = t.take();
      mc.vocab_size = tokenizer.vocab_size();
      auto m = np::TrainModel::create(mc, tc.seed);
      if (!m.ok()) return fail(m.status().to_string());
      model = m.take();
    }
    auto r = np::TrainRun::create(std::move(model), std::move(tokenizer), data, tc);
    if (!r.ok()) return fail(r.status().to_string());
    run = r.take();
  }

  // Validation exact match of the base, to show the gain (fine-tuning with validation).
  np::EvalMetrics before;
  const bool compare = have_base && run->has_validation() && run->step_count() == 0;
  if (compare) {
    auto m = np::Model::load(base_file);
    if (!m.ok()) return fail(m.status().to_string());
    before = evaluate_examples(m.take(), run->val_examples());
  }

  if (!log_path.empty()) {
    // A resumed run keeps the log's rows up to the checkpoint's step (an interrupted run may
    // have logged steps past it, or half a line) and continues after them.
    // Where an earlier interruption restarted the steps, the later rows win.
    std::vector<std::pair<long long, std::string>> rows;
    std::string old_log;
    if (run->step_count() > 0 && read_file(log_path, &old_log)) {
      size_t pos = old_log.find('\n');
      while (pos != std::string::npos && pos + 1 < old_log.size()) {
        const size_t end = old_log.find('\n', pos + 1);
        if (end == std::string::npos) break;  // a half-written last line
        const std::string line = old_log.substr(pos + 1, end - pos - 1);
        const long long step = std::atoll(line.c_str());
        if (step >= 1 && step <= run->step_count()) {
          // A validation row (empty loss) follows its step's row; a step row restarts from itself.
          const bool val_row = line.find(",,") == line.find(',');
          while (!rows.empty() && (rows.back().first > step || (!val_row && rows.back().first == step)))
            rows.pop_back();
          rows.emplace_back(step, line);
        }
        pos = end;
      }
    }
    prog.log = std::fopen(log_path.c_str(), "w");
    if (!prog.log) return fail("IO_ERROR: cannot write " + log_path);
    std::fputs("step,loss,ce,lr,grad_norm,tokens_per_s,val_loss\n", prog.log);
    for (const auto& r : rows) std::fprintf(prog.log, "%s\n", r.second.c_str());
  }
  prog.t0 = std::chrono::steady_clock::now();
  prog.steps = tc.steps;
  prog.first_step = run->step_count();
  prog.ckpt_path = ckpt_path;
  prog.run = run.get();
  prog.clip = tc.contrastive_weight > 0;
  if (prog.stop_at > 0 && run->step_count() >= prog.stop_at) prog.stopped_at = true;
  if (!prog.stopped_at) st = run->run(on_step, on_val, &prog);
  if (prog.log) std::fclose(prog.log);
  if (!st.ok() && !prog.stopped_at) return fail(prog.error.empty() ? st.to_string() : prog.error);
  const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - prog.t0).count();
  const np::DataReport rep = run->data_report();
  if (rep.bad_lines)
    std::fprintf(stderr, "skipped %lld bad lines (first: %s)\n", static_cast<long long>(rep.bad_lines),
                 rep.errors.empty() ? "" : rep.errors[0].c_str());
  if (run->early_stopped())
    std::fprintf(stderr, "early stop at step %lld: no improvement in %d validations\n",
                 static_cast<long long>(run->step_count()), tc.patience);
  if (!ckpt_path.empty()) {
    auto bytes = run->checkpoint();
    if (!bytes.ok()) return fail(bytes.status().to_string());
    std::string err;
    if (!write_bytes_atomic(ckpt_path, bytes.value(), &err)) return fail(err);
  }
  np::GgufWriter w;
  st = run->export_gguf(type, /*best=*/true, &w);
  if (!st.ok()) return fail(st.to_string());
  auto bytes = w.to_bytes();
  if (!bytes.ok()) return fail(bytes.status().to_string());
  std::string err;
  if (!write_bytes_atomic(out, bytes.value(), &err)) return fail(err);
  nlohmann::ordered_json summary;
  summary["steps"] = run->step_count();
  summary["seconds"] = std::round(secs * 10) / 10;
  summary["tokens_per_s"] = std::round(prog.tokens / std::max(secs, 1e-9));
  summary["early_stopped"] = run->early_stopped();
  summary["bad_lines"] = rep.bad_lines;
  if (run->has_validation()) {
    summary["best_val_loss"] = run->best_val_loss();
    summary["best_step"] = run->best_step();
    auto tuned = np::GgufFile::open_bytes(bytes.take());
    if (!tuned.ok()) return fail(tuned.status().to_string());
    auto m = np::Model::load(tuned.take());
    if (!m.ok()) return fail(m.status().to_string());
    const np::EvalMetrics after = evaluate_examples(m.take(), run->val_examples());
    summary["val_examples"] = run->val_examples().size();
    if (compare) summary["val_exact_match_before"] = before.exact_match;
    summary["val_exact_match"] = after.exact_match;
  }
  std::printf("%s\n", summary.dump().c_str());
  return 0;
}

}  // namespace

int cmd_train(const Args& args) { return train_command(args, false); }
int cmd_finetune(const Args& args) { return train_command(args, true); }

// ---- eval ----------------------------------------------------------------------------------

int cmd_eval(const Args& args) {
  std::string model_path, data, preds_path;
  if (!arg_value(args, "--model", &model_path) || !arg_value(args, "--data", &data))
    return usage_error("eval needs --model M and --data D.jsonl");
  auto model = np::Model::load_file(model_path);
  if (!model.ok()) return fail(model.status().to_string());
  np::DataReport report;
  std::vector<np::Example> examples;
  std::string read_error;
  if (!read_examples_in_order(data, &examples, &report, &read_error)) return fail(read_error);
  np::ToolCaller caller(model.take());
  np::CallOptions opt;
  int rc = 0;
  if (!int_option(args, "--preselect-above", -1, 1 << 20, &opt.preselect_above, &rc)) return rc;
  if (!int_option(args, "--preselect-k", 1, 1 << 20, &opt.preselect_k, &rc)) return rc;
  opt.jump_forward = arg_flag(args, "--jump-forward");
  opt.sparse_logits = !arg_flag(args, "--full-logits");
  {
    std::string prior_error;
    if (!read_tool_prior(args, &opt.tool_prior_name, &opt.tool_prior_call, &opt.tool_prior_margin, &opt.tool_prior_sole, &opt.copy_prior, &opt.echo_prior, &prior_error)) return usage_error(prior_error);
  }
  size_t limit = examples.size();
  long long limit_opt = static_cast<long long>(limit);
  if (!int_option(args, "--limit", 0, 1ll << 40, &limit_opt, &rc)) return rc;
  limit = std::min(limit, static_cast<size_t>(limit_opt));
  int nfail = 0;
  if (!int_option(args, "--failures", 0, 1 << 20, &nfail, &rc)) return rc;
  std::vector<double> confidence;
  std::vector<int> correct;
  std::FILE* preds = nullptr;
  if (arg_value(args, "--out", &preds_path)) {
    preds = std::fopen(preds_path.c_str(), "w");
    if (!preds) return fail("IO_ERROR: cannot write " + preds_path);
  }
  std::vector<np::EvalExample> evs;
  std::vector<std::string> outputs;
  for (size_t idx = 0; idx < limit; ++idx) {
    const np::Example& ex = examples[idx];
    auto r = caller.call(ex.query, ex.tools.dump(), opt);
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
    const double conf = r.ok() ? r.value().confidence : 0.0;
    confidence.push_back(conf);
    correct.push_back(np::eval_exact_match(e) ? 1 : 0);
    if (preds) {
      nlohmann::ordered_json line{{"id", ex.id}, {"calls", calls}, {"output", raw}, {"exact", correct.back() == 1},
                                  {"confidence", conf}, {"confidence_raw", r.ok() ? r.value().confidence_raw : 0.0},
                                  {"no_call_probability", r.ok() ? r.value().no_call_probability : -1.0},
                                  {"preselected", r.ok() ? nlohmann::ordered_json(r.value().preselected) : nlohmann::ordered_json::array()}};
      std::fprintf(preds, "%s\n", line.dump(-1, ' ', false, nlohmann::ordered_json::error_handler_t::replace).c_str());
    }
    outputs.push_back(raw);
    evs.push_back(std::move(e));
  }
  if (preds) std::fclose(preds);
  const np::EvalMetrics m = np::eval_compute(evs);
  nlohmann::ordered_json j = np::eval_metrics_to_json(m);
  j["bad_lines"] = report.bad_lines;
  // Confidence: calibration error and the accuracy/coverage curve (docs/confidence.md).
  j["ece"] = np::expected_calibration_error(confidence, correct);
  nlohmann::ordered_json curve = nlohmann::ordered_json::array();
  for (const np::CoveragePoint& p : np::coverage_curve(confidence, correct, {1.0, 0.95, 0.9, 0.8, 0.7, 0.6, 0.5}))
    curve.push_back({{"coverage", p.coverage}, {"threshold", p.threshold}, {"exact_match", p.accuracy}});
  j["coverage"] = curve;
  if (arg_flag(args, "--json")) {
    std::printf("%s\n", j.dump().c_str());
  } else {
    for (auto it = j.begin(); it != j.end(); ++it)
      if (!it.value().is_object()) std::printf("%-24s %s\n", it.key().c_str(), it.value().dump().c_str());
  }
  int shown = 0;
  for (size_t i = 0; i < evs.size() && shown < nfail; ++i) {
    if (np::eval_exact_match(evs[i])) continue;
    ++shown;
    std::fprintf(stderr, "line %lld: %s\n  expected %s\n  got      %s\n", static_cast<long long>(examples[i].line),
                 examples[i].query.c_str(),
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
