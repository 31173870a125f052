// cmd_bench_infer.cpp — `needlepoint bench`: inference speed of one model in this process
// (docs/benchmarks.md, "Inference"): encoder prefill tokens/s at 300 and 512 tokens (or the
// model's context), decoder tokens/s (one step with logits, over a 300-token encoder
// context), and warm call latency p50/p95 on a tool prompt (default: data/bench/five-tools.json
// with a 12-token query; --max-tokens caps the answer), with the catalog cache off and, for
// catalog-mask models, on (the list encoded by the first call, reused by every later one).
// Threads: the global --threads.
// Output: one JSON object. Not a test: nothing here asserts on time.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "commands.h"
#include "np/threads.h"
#include "np/tool_caller.h"

namespace np_cli {

namespace {

using json = nlohmann::json;
using Clock = std::chrono::steady_clock;

double ms_since(Clock::time_point t0) {
  return std::chrono::duration<double, std::milli>(Clock::now() - t0).count();
}

double quantile(std::vector<double> v, double q) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  const size_t i = std::min(v.size() - 1, static_cast<size_t>(q * static_cast<double>(v.size() - 1) + 0.5));
  return v[i];
}

// T ids spelling real text (the tool prompt repeated), so the encoder sees ordinary tokens.
std::vector<int32_t> text_ids(const np::Model& m, const std::string& text, int T) {
  std::vector<int32_t> one = m.tokenizer().encode(text), ids;
  if (one.empty()) one.push_back(m.config().tools_id);
  while (static_cast<int>(ids.size()) < T) ids.insert(ids.end(), one.begin(), one.end());
  ids.resize(T);
  return ids;
}

}  // namespace

int cmd_bench(const Args& args) {
  std::string model_path, tools_arg = "@data/bench/five-tools.json", tools, v;
  std::string query = "Remind me to call my mother tomorrow at 6 pm";
  if (!arg_value(args, "--model", &model_path)) return usage_error("--model is required");
  arg_value(args, "--tools", &tools_arg);
  arg_value(args, "--query", &query);
  int rc = 0, n = 20;
  if (!int_option(args, "--n", 1, 1 << 20, &n, &rc)) return rc;
  // The calls' generated-token budget (0: the model's decoder context), so a random-weight
  // model, which rarely closes its answer, can be timed at a realistic answer length.
  int max_tokens = 0;
  if (!int_option(args, "--max-tokens", 1, 1 << 20, &max_tokens, &rc)) return rc;
  if (!text_or_file(tools_arg, &tools)) return fail("IO_ERROR: cannot read " + tools_arg.substr(1));
  const auto t_load = Clock::now();
  auto loaded = np::Model::load_file(model_path);
  if (!loaded.ok()) return fail(loaded.status().to_string());
  const double load_ms = ms_since(t_load);
  std::shared_ptr<const np::Model> model = loaded.take();
  const np::ModelConfig& c = model->config();
  np::ToolCaller caller(model);
  json out = {{"model", model_path}, {"threads", np::num_threads()}, {"encoder_mask", c.encoder_mask},
              {"load_ms", load_ms}, {"runs", n}};

  // --calls-only: the calls alone (profiling a call without the raw rates around it).
  const bool calls_only = arg_flag(args, "--calls-only");
  // Prefill: the whole encoder (and the cross-attention K/V) over T tokens.
  json prefill = json::object();
  for (int T : {300, 512}) {
    if (calls_only) break;
    const int t = std::min(T, c.max_enc_len);
    const std::vector<int32_t> ids = text_ids(*model, tools, t);
    std::vector<double> times;
    for (int i = 0; i < n + 1; ++i) {
      np::EncoderOutput enc;
      const auto t0 = Clock::now();
      np::Status s = model->encode(ids, &enc);
      if (!s.ok()) return fail(s.to_string());
      if (i > 0) times.push_back(ms_since(t0));
    }
    const double med = quantile(times, 0.5);
    prefill[std::to_string(t)] = {{"ms", med}, {"tokens_per_s", 1000.0 * t / med}};
  }
  out["prefill"] = prefill;

  // Decode: steps with logits over a 300-token encoder context (positions 0..S-1).
  if (!calls_only) {
    const int t = std::min(300, c.max_enc_len), S = std::min(32, c.max_dec_len);
    np::EncoderOutput enc;
    np::Status s = model->encode(text_ids(*model, tools, t), &enc);
    if (!s.ok()) return fail(s.to_string());
    std::vector<float> logits(c.vocab_size);
    std::vector<double> per_token;
    for (int i = 0; i < n + 1; ++i) {
      np::DecoderState st = model->new_decoder_state();
      const auto t0 = Clock::now();
      for (int k = 0; k < S; ++k) {
        s = model->decode_step(enc, st, k == 0 ? c.eos_id : 6 + (k * 31) % (c.vocab_size - 6), logits.data());
        if (!s.ok()) return fail(s.to_string());
      }
      if (i > 0) per_token.push_back(ms_since(t0) / S);
    }
    const double med = quantile(per_token, 0.5);
    out["decode"] = {{"encoder_tokens", t}, {"steps", S}, {"ms_per_token", med}, {"tokens_per_s", 1000.0 / med}};
  }

  // Calls: the tool prompt, warm, cache off then (catalog models) on.
  json calls = json::object();
  for (bool cached : {false, true}) {
    if (cached && !c.catalog_mask()) break;
    if (calls_only && !cached && c.catalog_mask()) continue;
    np::CallOptions opt;
    opt.use_catalog_cache = cached;
    opt.max_tokens = max_tokens;
    opt.sparse_logits = !arg_flag(args, "--full-logits");
    std::vector<double> total, encode, decode, steps, before;
    json last;
    for (int i = 0; i < n + 2; ++i) {  // two warm-ups (the first fills the cache)
      auto r = caller.call(query, tools, opt);
      if (!r.ok()) return fail(r.status().to_string());
      const np::CallResult& res = r.value();
      if (i < 2) continue;
      total.push_back(res.timings.total_ms);
      encode.push_back(res.timings.encode_ms);
      decode.push_back(res.timings.decode_ms);
      steps.push_back(res.timings.steps_ms);
      before.push_back(res.timings.total_ms - res.timings.encode_ms - res.timings.decode_ms);
      last = {{"input_tokens", res.input_tokens}, {"block_tokens", res.block_tokens},
              {"output_tokens", res.output_tokens}, {"catalog", res.catalog}, {"raw", res.raw}};
    }
    last["p50_ms"] = quantile(total, 0.5);
    last["p95_ms"] = quantile(total, 0.95);
    last["encode_p50_ms"] = quantile(encode, 0.5);
    last["decode_p50_ms"] = quantile(decode, 0.5);
    // Of decode: the model's steps, and decoding's own work (grammar, priors, trie walks).
    last["steps_p50_ms"] = quantile(steps, 0.5);
    for (size_t i = 0; i < decode.size(); ++i) decode[i] -= steps[i];
    last["decoding_work_p50_ms"] = quantile(decode, 0.5);
    last["before_encode_p50_ms"] = quantile(before, 0.5);  // parsing the tools, tokenizing
    calls[cached ? "cached" : "uncached"] = last;
  }
  out["call"] = calls;
  std::printf("%s\n", out.dump().c_str());
  return 0;
}

}  // namespace np_cli
