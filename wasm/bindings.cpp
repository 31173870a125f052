// bindings.cpp — the Embind surface of the WebAssembly builds (the only file that knows
// Embind). One Engine object owns one model: JS asks for a heap buffer of the model's size
// (allocModel), copies the bytes into a view it makes after that allocation, and calls
// loadModel, which parses the bytes in place (GgufFile::open_view: no second copy; F32
// weights are read straight from that buffer). Every bound function returns a plain object
// {ok, code, message, ...}: no C++ exception or abort reaches JS because of outside input.
// Not here: model math (core/), JS-side types, errors and caching (web/).
#include <emscripten/bind.h>
#include <emscripten/heap.h>
#include <emscripten/val.h>
#include <malloc.h>

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "np/dataset.h"
#include "np/eval.h"
#include "np/gguf.h"
#include "np/train_loop.h"
#include "np/trainer.h"
#include "np/model.h"
#include "np/status.h"
#include "np/threads.h"
#include "np/tool_caller.h"
#include "np/tools.h"

#include <nlohmann/json.hpp>

using emscripten::val;

namespace {

// ---- memory bound ------------------------------------------------------------------------
// Every allocation the engine makes for a model (its file bytes, the f32 copies Model::load
// makes, one call's working memory at a full encoder context) is checked against a limit
// before it is made, so a model that does not fit is refused with OUT_OF_MEMORY instead of
// growing memory until the runtime kills the tab or the isolate. The limit is the build's
// maximum memory unless JS sets a lower one (CreateOptions.memoryLimit).
double g_memory_limit = 0;  // bytes; 0 = the heap's maximum

double heap_used() { return static_cast<double>(mallinfo().uordblks); }
double memory_limit() {
  const double max = static_cast<double>(emscripten_get_heap_max());
  return g_memory_limit > 0 && g_memory_limit < max ? g_memory_limit : max;
}
std::string mib(double bytes) { return std::to_string(static_cast<int64_t>(bytes / 1048576.0 + 0.5)) + " MiB"; }

void set_memory_limit(double bytes) { g_memory_limit = bytes > 0 ? bytes : 0; }

// The budget of encoded tool blocks kept across calls for catalog-mask models (np/catalog_cache.h):
// CreateOptions.catalogCacheBytes, 0 = off. Counted in a model's memory need (catalog models only).
double g_catalog_cache_bytes = static_cast<double>(np::CatalogCache::kDefaultBytes);
void set_catalog_cache_bytes(double bytes) { g_catalog_cache_bytes = bytes > 0 ? bytes : 0; }
double catalog_budget(const np::ModelConfig& c) { return c.catalog_mask() ? g_catalog_cache_bytes : 0.0; }

// {heapBytes (the WebAssembly memory now), usedBytes (allocated by malloc), peakBytes
// (malloc's largest footprint so far), limitBytes}
val memory_stats() {
  const struct mallinfo mi = mallinfo();
  val o = val::object();
  o.set("heapBytes", static_cast<double>(emscripten_get_heap_size()));
  o.set("usedBytes", static_cast<double>(mi.uordblks));
  o.set("peakBytes", static_cast<double>(mi.usmblks));
  o.set("limitBytes", memory_limit());
  return o;
}

val status_object(const np::Status& s) {
  val o = val::object();
  o.set("ok", s.ok());
  if (!s.ok()) {
    o.set("code", std::string(np::code_name(s.code())));
    o.set("message", s.message());
  }
  return o;
}

// Copies n ints out of the heap into a fresh JS Int32Array (a view would go stale when
// memory grows).
val int32_array_copy(const int32_t* data, size_t n) {
  return val(emscripten::typed_memory_view(n, data)).call<val>("slice");
}

class Engine {
 public:
  Engine() = default;
  Engine(const Engine&) = delete;
  Engine& operator=(const Engine&) = delete;
  ~Engine() { dispose(); }

  // Reserves `size` bytes for the model file and returns their address (0: out of memory
  // or a size of 0). Any buffer from an earlier call that was not loaded is freed.
  uintptr_t allocModel(double size) {
    free_pending();
    if (!(size > 0) || size > 4294967295.0) return 0;
    if (heap_used() + size > memory_limit()) return 0;
    pending_size_ = static_cast<size_t>(size);
    pending_ = static_cast<uint8_t*>(std::malloc(pending_size_));
    if (!pending_) pending_size_ = 0;
    return reinterpret_cast<uintptr_t>(pending_);
  }

  // Parses and checks the bytes written at allocModel's address; replaces the loaded model
  // only when the new one loads (a bad file leaves the engine with its model).
  val loadModel() {
    if (!pending_) return fail(np::Code::kInvalidInput, "no model bytes: call allocModel first");
    auto file = np::GgufFile::open_view(pending_, pending_size_);
    if (!file.ok()) {
      free_pending();
      return status_object(file.status());
    }
    // Refuse before Model::load allocates anything: what loading copies plus one call at a
    // full encoder context must fit beside what is already in use (the file included).
    np::ModelConfig config;
    const np::Status cs = np::model_config_from_gguf(*file.value(), &config);
    if (!cs.ok()) {
      free_pending();
      return status_object(cs);
    }
    const double need = static_cast<double>(np::model_load_bytes(*file.value(), config)) +
                        static_cast<double>(np::call_working_bytes(config, config.max_enc_len)) +
                        static_cast<double>(np::num_threads()) *
                            static_cast<double>(np::call_thread_scratch_bytes(config, config.max_enc_len)) +
                        catalog_budget(config);
    // What the current model holds is given back once the new one is in.
    const double reclaim = caller_ ? model_footprint(caller_->model()) : 0.0;
    if (heap_used() - reclaim + need > memory_limit()) {
      const double used = heap_used(), file_bytes = static_cast<double>(pending_size_);
      free_pending();
      return fail(np::Code::kOutOfMemory,
                  "the model needs about " + mib(need) + " of memory besides its " + mib(file_bytes) +
                      " file; " + mib(used) + " is in use (the file included) and the limit is " + mib(memory_limit()));
    }
    auto model = np::Model::load(file.take());
    if (!model.ok()) {
      free_pending();
      return status_object(model.status());
    }
    release_model();
    buffer_ = pending_;
    pending_ = nullptr;
    pending_size_ = 0;
    caller_ = std::make_unique<np::ToolCaller>(model.take());
    caller_->catalog_cache().set_max_bytes(static_cast<uint64_t>(catalog_budget(caller_->model().config())));
    return info();
  }

  bool loaded() const { return caller_ != nullptr; }

  // {ok, bytes}: a copy of the loaded model's file (to keep it, or to load it again later).
  val modelBytes() const {
    if (!caller_ || !buffer_) return fail(np::Code::kInvalidInput, "no model loaded");
    const size_t n = caller_->model().file().size();
    val o = val::object();
    o.set("ok", true);
    o.set("bytes", val(emscripten::typed_memory_view(n, buffer_)).call<val>("slice"));
    return o;
  }

  // {ok, config:{...}, fileBytes}: the model's hyper-parameters.
  val info() const {
    if (!caller_) return fail(np::Code::kInvalidInput, "no model loaded");
    const np::ModelConfig& c = caller_->model().config();
    val cfg = val::object();
    cfg.set("vocabSize", c.vocab_size);
    cfg.set("dModel", c.d_model);
    cfg.set("nHeads", c.n_heads);
    cfg.set("nKvHeads", c.n_kv_heads);
    cfg.set("nEncLayers", c.n_enc_layers);
    cfg.set("nDecLayers", c.n_dec_layers);
    cfg.set("maxEncLen", c.max_enc_len);
    cfg.set("maxDecLen", c.max_dec_len);
    cfg.set("dFf", c.d_ff);
    cfg.set("contrastiveDim", c.contrastive_dim);
    cfg.set("encoderMask", c.encoder_mask);
    val o = val::object();
    o.set("ok", true);
    o.set("config", cfg);
    o.set("fileBytes", static_cast<double>(caller_->model().file().size()));
    return o;
  }

  // One tool call. onToken: undefined, or a function (id, bytes: Uint8Array) -> boolean
  // called for every generated token; returning false stops the call (code ABORTED).
  // The JS side wraps user callbacks so that this one never throws.
  // Result: {ok, json: call_result_to_json text, outputIds: Int32Array, inputIds: Int32Array}.
  // preselectAbove / preselectK: np::CallOptions' tool pre-selection (-1 above: never).
  // toolPriorName / toolPriorCall / copyPrior / echoPrior: the decoding priors' weights
  // (negative: the model's).
  // mode: bit 0 constrained decoding, bit 1 every step's full logits (no sparse steps).
  val call(const std::string& query, const std::string& tools, int max_tokens, int mode,
           int preselect_above, int preselect_k, double tool_prior_name, double tool_prior_call, double copy_prior,
           double echo_prior, val on_token) {
    if (!caller_) return fail(np::Code::kInvalidInput, "no model loaded");
    np::CallOptions opt;
    opt.max_tokens = max_tokens > 0 ? max_tokens : 0;
    opt.constrained = (mode & 1) != 0;
    opt.sparse_logits = (mode & 2) == 0;
    opt.preselect_above = preselect_above;
    opt.preselect_k = preselect_k;
    opt.tool_prior_name = static_cast<float>(tool_prior_name);
    opt.tool_prior_call = static_cast<float>(tool_prior_call);
    opt.copy_prior = static_cast<float>(copy_prior);
    opt.echo_prior = static_cast<float>(echo_prior);
    if (on_token.typeOf().as<std::string>() == "function") {
      opt.on_token = [&on_token](int32_t id, const std::string& text) {
        val bytes = val(emscripten::typed_memory_view(text.size(),
                                                     reinterpret_cast<const uint8_t*>(text.data())))
                        .call<val>("slice");
        return on_token(id, bytes).as<bool>();
      };
    }
    auto r = caller_->call(query, tools, opt);
    if (!r.ok()) return status_object(r.status());
    const np::CallResult& res = r.value();
    val o = val::object();
    o.set("ok", true);
    o.set("json", np::call_result_to_json(res));
    o.set("outputIds", int32_array_copy(res.output_ids.data(), res.output_ids.size()));
    o.set("inputIds", int32_array_copy(res.input_ids.data(), res.input_ids.size()));
    return o;
  }

  // {ok, blockTokens, catalog}: ToolCaller::prepare_catalog (the tool list encoded and kept
  // now, for catalog-mask models).
  val prepareTools(const std::string& tools) const {
    if (!caller_) return fail(np::Code::kInvalidInput, "no model loaded");
    std::string status;
    auto r = caller_->prepare_catalog(tools, &status);
    if (!r.ok()) return status_object(r.status());
    val o = val::object();
    o.set("ok", true);
    o.set("blockTokens", r.value());
    o.set("catalog", status);
    return o;
  }

  // {ok, json: [{name, index, score}, ...] best first, k of them (k <= 0: all)}: the tools
  // ranked by the retrieval head; tool embeddings stay cached for later calls.
  val retrieve(const std::string& query, const std::string& tools, int k) const {
    if (!caller_) return fail(np::Code::kInvalidInput, "no model loaded");
    auto set = np::parse_tools(tools);
    if (!set.ok()) return status_object(set.status());
    auto ranked = caller_->retriever().rank(query, set.value());
    if (!ranked.ok()) return status_object(ranked.status());
    nlohmann::ordered_json out = nlohmann::ordered_json::array();
    for (const np::RankedTool& t : ranked.value()) {
      if (k > 0 && static_cast<int>(out.size()) >= k) break;
      out.push_back({{"name", t.name}, {"index", t.index}, {"score", t.score}});
    }
    val o = val::object();
    o.set("ok", true);
    o.set("json", out.dump(-1, ' ', false, nlohmann::ordered_json::error_handler_t::replace));
    return o;
  }

  // {ok, ids: Int32Array}: SentencePiece encoding of text (no BOS/EOS).
  val tokenize(const std::string& text) const {
    if (!caller_) return fail(np::Code::kInvalidInput, "no model loaded");
    const std::vector<int32_t> ids = caller_->model().tokenizer().encode(text);
    val o = val::object();
    o.set("ok", true);
    o.set("ids", int32_array_copy(ids.data(), ids.size()));
    return o;
  }

  // {ok, text}: ids back to text (ids out of range are skipped).
  val detokenize(val ids_js) const {
    if (!caller_) return fail(np::Code::kInvalidInput, "no model loaded");
    const std::vector<int32_t> ids = emscripten::convertJSArrayToNumberVector<int32_t>(ids_js);
    val o = val::object();
    o.set("ok", true);
    o.set("text", caller_->model().tokenizer().decode(ids));
    return o;
  }

#if defined(NP_WASM_TRAINING)
  // ---- in-tab fine-tuning (docs/finetune.md) ------------------------------------------
  // finetuneStart(trainJsonl, configJson): a training run over the loaded model. The
  // examples go to the module's in-memory file system (the data reader reads files); config
  // {steps, batch, lr, loraRank, loraAlpha, seed, validationFraction}. The validation split
  // is a content-hash holdout of the examples. {ok, steps, valExamples}.
  val finetuneStart(const std::string& train_jsonl, const std::string& config_json) {
    if (!caller_) return fail(np::Code::kInvalidInput, "no model loaded");
    finetune_.reset();
    const auto cfg = nlohmann::json::parse(config_json, nullptr, false);
    if (!cfg.is_object()) return fail(np::Code::kInvalidInput, "fine-tuning options are not a JSON object");
    auto num = [&](const char* key, double dflt) {
      return cfg.contains(key) && cfg[key].is_number() ? cfg[key].get<double>() : dflt;
    };
    np::TrainConfig tc;
    tc.steps = static_cast<int64_t>(num("steps", 100));
    tc.batch = static_cast<int32_t>(num("batch", 8));
    tc.seed = static_cast<uint64_t>(num("seed", 1));
    tc.lora.rank = static_cast<int>(num("loraRank", 8));
    tc.lora.alpha = num("loraAlpha", 16);
    tc.val_fraction = num("validationFraction", 0.2);
    tc.eval_every = tc.steps;  // one validation, at the end (the best of it is exported)
    tc.bad_lines = np::BadLinePolicy::kStop;
    tc.optim = np::OptimConfig::finetuning(tc.steps);
    tc.optim.adamw.lr = num("lr", tc.lora.rank > 0 ? 1e-2 : 1e-3);
    const np::Status vs = tc.validate();
    if (!vs.ok()) return status_object(vs);
    // A fresh file per run: the reader keeps the path.
    const std::string path = "/tmp/np-finetune-" + std::to_string(++finetune_runs_) + ".jsonl";
    std::FILE* f = std::fopen(path.c_str(), "wb");
    if (!f) return fail(np::Code::kIoError, "cannot write the examples to the in-memory file system");
    const bool written = std::fwrite(train_jsonl.data(), 1, train_jsonl.size(), f) == train_jsonl.size();
    std::fclose(f);
    if (!written) return fail(np::Code::kIoError, "cannot write the examples to the in-memory file system");
    auto model = np::TrainModel::from_gguf(caller_->model().file());
    if (!model.ok()) return status_object(model.status());
    auto tok = np::Tokenizer::from_gguf(caller_->model().file());
    if (!tok.ok()) return status_object(tok.status());
    auto run = np::TrainRun::create(model.take(), tok.take(), path, tc);
    if (!run.ok()) {
      std::remove(path.c_str());
      return status_object(run.status());
    }
    finetune_ = run.take();
    finetune_path_ = path;
    val o = val::object();
    o.set("ok", true);
    o.set("steps", static_cast<double>(tc.steps));
    o.set("valExamples", static_cast<double>(finetune_->val_examples().size()));
    return o;
  }

  // Runs up to n more steps (fewer at the end). {ok, step, steps, loss, ce, tokens, ms, done}
  val finetuneStep(int n) {
    if (!finetune_) return fail(np::Code::kInvalidInput, "no fine-tuning run: call finetuneStart first");
    const auto t0 = std::chrono::steady_clock::now();
    np::StepReport rep;
    int64_t tokens = 0;
    double loss = 0, ce = 0;
    int done_steps = 0;
    for (int i = 0; i < n && !finetune_->done(); ++i) {
      const np::Status s = finetune_->step(&rep);
      if (!s.ok()) return status_object(s);
      tokens += rep.tokens;
      loss += rep.loss;
      ce += rep.ce;
      ++done_steps;
    }
    if (finetune_->done() && finetune_->has_validation() && finetune_->due_for_validation()) {
      np::ValReport vr;
      const np::Status s = finetune_->validate(&vr);
      if (!s.ok()) return status_object(s);
    }
    val o = val::object();
    o.set("ok", true);
    o.set("step", static_cast<double>(finetune_->step_count()));
    o.set("steps", static_cast<double>(finetune_->config().steps));
    o.set("loss", done_steps ? loss / done_steps : 0.0);
    o.set("ce", done_steps ? ce / done_steps : 0.0);
    o.set("tokens", static_cast<double>(tokens));
    o.set("ms", std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count());
    o.set("done", finetune_->done());
    return o;
  }

  // Exact match (and the other metrics, as JSON) on the run's validation examples, of the
  // loaded (base) model, or of bytes of a tuned model. {ok, json}
  val finetuneEvaluate(bool tuned) {
    if (!finetune_) return fail(np::Code::kInvalidInput, "no fine-tuning run");
    std::shared_ptr<const np::Model> model = caller_->model_ptr();
    std::vector<uint8_t> bytes;
    if (tuned) {
      auto b = export_bytes(np::GgmlType::F32);
      if (!b.ok()) return status_object(b.status());
      auto f = np::GgufFile::open_bytes(b.take());
      if (!f.ok()) return status_object(f.status());
      auto m = np::Model::load(f.take());
      if (!m.ok()) return status_object(m.status());
      model = m.take();
    }
    const np::EvalMetrics m = np::evaluate_model(model, finetune_->val_examples());
    val o = val::object();
    o.set("ok", true);
    o.set("json", np::eval_metrics_to_json(m).dump());
    return o;
  }

  // The tuned model as GGUF bytes (LoRA merged; type "f32", "q8_0" ...). {ok, bytes}
  val finetuneExport(const std::string& type) {
    if (!finetune_) return fail(np::Code::kInvalidInput, "no fine-tuning run");
    np::GgmlType t = np::GgmlType::F32;
    if (type == "q8_0") t = np::GgmlType::Q8_0;
    else if (type == "q4_0") t = np::GgmlType::Q4_0;
    else if (type == "f16") t = np::GgmlType::F16;
    else if (type != "f32") return fail(np::Code::kInvalidInput, "type must be f32, f16, q8_0 or q4_0");
    auto b = export_bytes(t);
    if (!b.ok()) return status_object(b.status());
    val o = val::object();
    o.set("ok", true);
    o.set("bytes", val(emscripten::typed_memory_view(b.value().size(), b.value().data())).call<val>("slice"));
    return o;
  }

  void finetuneEnd() {
    finetune_.reset();
    if (!finetune_path_.empty()) std::remove(finetune_path_.c_str());
    finetune_path_.clear();
  }

#endif  // NP_WASM_TRAINING

  // Frees the model and its bytes; the object stays usable (load another model).
  void dispose() {
    release_model();
    free_pending();
  }

 private:
  // The memory a loaded model holds: its file, its f32 copies, one call's working memory, the
  // budget of its catalog cache.
  static double model_footprint(const np::Model& m) {
    const np::ModelConfig& c = m.config();
    return static_cast<double>(m.file().size()) + static_cast<double>(np::model_load_bytes(m.file(), c)) +
           static_cast<double>(np::call_working_bytes(c, c.max_enc_len)) + catalog_budget(c);
  }

  static val fail(np::Code code, const std::string& message) {
    return status_object(np::Status(code, message));
  }
#if defined(NP_WASM_TRAINING)
  np::Result<std::vector<uint8_t>> export_bytes(np::GgmlType type) {
    np::GgufWriter w;
    NP_RETURN_IF_ERROR(finetune_->export_gguf(type, /*best=*/true, &w));
    return w.to_bytes();
  }
#endif

  void release_model() {
#if defined(NP_WASM_TRAINING)
    finetuneEnd();     // a run reads the model's tensors: it ends first
#endif
    caller_.reset();   // the model (and its GgufFile view) goes before the bytes it reads
    std::free(buffer_);
    buffer_ = nullptr;
  }
  void free_pending() {
    std::free(pending_);
    pending_ = nullptr;
    pending_size_ = 0;
  }

  std::unique_ptr<np::ToolCaller> caller_;
#if defined(NP_WASM_TRAINING)
  std::unique_ptr<np::TrainRun> finetune_;
  std::string finetune_path_;
  int finetune_runs_ = 0;
#endif
  uint8_t* buffer_ = nullptr;     // bytes the loaded model reads (owned)
  uint8_t* pending_ = nullptr;    // bytes being filled by JS (owned)
  size_t pending_size_ = 0;
};

// {variant, simd, threads (pthreads support), maxThreads}
val build_info() {
  val o = val::object();
  o.set("variant", std::string(NP_WASM_VARIANT));
#if defined(__wasm_simd128__)
  o.set("simd", true);
#else
  o.set("simd", false);
#endif
#if defined(__EMSCRIPTEN_PTHREADS__)
  o.set("pthreads", true);
#else
  o.set("pthreads", false);
#endif
  return o;
}

// Threads used per call (caller included). Set once, before the first call: the mt
// loader never passes more than its pthread pool + 1.
// The pool starts here, so its threads' stacks count as in use when a model is sized.
void set_threads(int n) {
  np::set_num_threads(n);
  np::start_threads();
}
int get_threads() { return np::num_threads(); }

}  // namespace

EMSCRIPTEN_BINDINGS(needlepoint) {
  emscripten::class_<Engine>("Engine")
      .constructor<>()
      .function("allocModel", &Engine::allocModel)
      .function("loadModel", &Engine::loadModel)
      .function("loaded", &Engine::loaded)
      .function("modelBytes", &Engine::modelBytes)
      .function("info", &Engine::info)
      .function("call", &Engine::call)
      .function("retrieve", &Engine::retrieve)
      .function("prepareTools", &Engine::prepareTools)
#if defined(NP_WASM_TRAINING)
      .function("finetuneStart", &Engine::finetuneStart)
      .function("finetuneStep", &Engine::finetuneStep)
      .function("finetuneEvaluate", &Engine::finetuneEvaluate)
      .function("finetuneExport", &Engine::finetuneExport)
      .function("finetuneEnd", &Engine::finetuneEnd)
#endif
      .function("tokenize", &Engine::tokenize)
      .function("detokenize", &Engine::detokenize)
      .function("dispose", &Engine::dispose);
  emscripten::function("buildInfo", &build_info);
  emscripten::function("setThreads", &set_threads);
  emscripten::function("getThreads", &get_threads);
  emscripten::function("setMemoryLimit", &set_memory_limit);
  emscripten::function("setCatalogCacheBytes", &set_catalog_cache_bytes);
  emscripten::function("memoryStats", &memory_stats);
}
