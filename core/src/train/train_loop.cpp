// train_loop.cpp — a training run (np/train_loop.h): data, adapters, optimisers, validation
// and early stopping, checkpoints as one GGUF, export with LoRA merged.
#include "np/train_loop.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <climits>
#include <limits>

#include <nlohmann/json.hpp>

#include "np/model.h"

namespace np {

namespace {

using json = nlohmann::json;

bool starts_with(const std::string& s, const std::string& p) { return s.compare(0, p.size(), p) == 0; }
bool ends_with(const std::string& s, const std::string& x) {
  return s.size() >= x.size() && s.compare(s.size() - x.size(), x.size(), x) == 0;
}

// Whether a freeze keyword (or name prefix) covers a model tensor.
bool freeze_covers(const std::string& key, const ParamTensor& t) {
  const std::string& n = t.name;
  if (key == "base") return true;
  if (key == "embedding") return n == "token_embd.weight";
  if (key == "encoder") return starts_with(n, "enc.");
  if (key == "decoder") return starts_with(n, "dec.");
  if (key == "retrieval") return starts_with(n, "contrastive.");
  if (key == "norms") return ends_with(n, "norm.weight");
  if (key == "gates") return t.group == ParamGroup::kScalar && starts_with(n, "contrastive.") == false;
  return starts_with(n, key);
}

// The settings a checkpoint must agree with to be resumed (steps, lr, validation cadence
// and patience may change).
json run_identity(const TrainConfig& c, const ModelConfig& mc) {
  json j;
  j["seed"] = c.seed;
  j["batch"] = c.batch;
  j["lora_rank"] = c.lora.rank;
  j["lora_alpha"] = c.lora.alpha;
  j["lora_targets"] = c.lora.targets;
  j["qat"] = ggml_type_name(c.qat);
  j["freeze"] = c.freeze;
  j["train_base"] = c.train_base;
  j["muon_attention_only"] = c.muon_attention_only;
  j["muon"] = c.optim.muon.enabled;
  j["val_path"] = c.val_path;
  j["val_fraction"] = c.val_fraction;
  j["contrastive_weight"] = c.contrastive_weight;
  j["contrastive_batch"] = c.contrastive_batch;
  j["d_model"] = mc.d_model;
  j["vocab"] = mc.vocab_size;
  return j;
}

// Optimiser state bytes as a 1-D F32 tensor (zero-padded to whole floats); the true
// length goes into a KV beside it.
Status add_blob(GgufWriter* w, const std::string& name, const std::vector<uint8_t>& bytes) {
  std::vector<uint8_t> padded(bytes);
  padded.resize((bytes.size() + 3) / 4 * 4 + (bytes.empty() ? 4 : 0), 0);
  w->set_kv(name + ".bytes", GgufValue::make_u64(bytes.size()));
  return w->add_tensor_raw(name, {static_cast<int64_t>(padded.size() / 4)}, GgmlType::F32, padded.data(), padded.size());
}

Status read_blob(const GgufFile& f, const std::string& name, std::vector<uint8_t>* out) {
  const GgufTensorInfo* t = f.find_tensor(name);
  const GgufValue* n = f.find(name + ".bytes");
  if (!t || !n || t->type != GgmlType::F32 || t->dims.size() != 1 || n->type != GgufValueType::U64 ||
      n->u > static_cast<uint64_t>(t->dims[0]) * 4)
    return Status(Code::kCorrupt, "checkpoint: optimiser state '" + name + "' is missing or damaged");
  const uint8_t* p = f.tensor_data(*t);
  out->assign(p, p + n->u);
  return Status::Ok();
}

struct Fnv {
  uint64_t h = 0xcbf29ce484222325ull;
  void add(const void* p, size_t n) {
    const uint8_t* b = static_cast<const uint8_t*>(p);
    for (size_t i = 0; i < n; ++i) {
      h ^= b[i];
      h *= 0x100000001b3ull;
    }
  }
  void add(const std::vector<float>& v) { add(v.data(), v.size() * sizeof(float)); }
  void add(const std::vector<uint8_t>& v) { add(v.data(), v.size()); }
};

}  // namespace

// FNV-1a over every number a checkpoint holds (weights, adapters, optimiser state, best
// weights), so that a damaged checkpoint is refused rather than resumed.
uint64_t TrainRun::state_hash(const std::vector<uint8_t>& opt_model, const std::vector<uint8_t>& opt_lora) const {
  Fnv f;
  const ParamArena& a = model_.params();
  f.add(a.values(), a.total_size() * sizeof(float));
  const ParamArena& l = adapters_.params();
  f.add(l.values(), l.total_size() * sizeof(float));
  f.add(opt_model);
  f.add(opt_lora);
  f.add(best_model_);
  f.add(best_lora_);
  return f.h;
}

Status TrainConfig::validate() const {
  auto bad = [](const std::string& m) { return Status(Code::kInvalidInput, m); };
  if (steps < 1) return bad("steps must be >= 1");
  if (batch < 1) return bad("batch must be >= 1");
  if (!(val_fraction >= 0 && val_fraction < 1)) return bad("validation fraction must be in [0, 1)");
  if (eval_every < 0) return bad("eval_every must be >= 0");
  if (patience < 0) return bad("patience must be >= 0");
  if (val_max_examples < 1) return bad("val_max_examples must be >= 1");
  if (bucket_window < 1) return bad("bucket_window must be >= 1");
  if (!val_path.empty() && val_fraction > 0) return bad("give a validation file or a validation fraction, not both");
  if (!(contrastive_weight >= 0 && std::isfinite(contrastive_weight))) return bad("contrastive weight must be >= 0");
  if (contrastive_batch < 0 || contrastive_batch == 1) return bad("contrastive batch must be >= 2 (0 = batch)");
  if (contrastive_max_pairs < 2) return bad("contrastive_max_pairs must be >= 2");
  OptimConfig oc = optim;
  oc.schedule.total_steps = steps;
  return oc.validate();
}

Result<std::unique_ptr<TrainRun>> TrainRun::create(TrainModel model, Tokenizer tokenizer,
                                                   const std::string& data_path, const TrainConfig& config) {
  NP_RETURN_IF_ERROR(config.validate());
  if (!config.encoder_mask.empty()) NP_RETURN_IF_ERROR(model.set_encoder_mask(config.encoder_mask));
  if (tokenizer.vocab_size() != model.config().vocab_size)
    return Status(Code::kInvalidInput, "tokenizer has " + std::to_string(tokenizer.vocab_size()) +
                                           " pieces, the model's vocabulary is " +
                                           std::to_string(model.config().vocab_size));
  std::unique_ptr<TrainRun> r(new TrainRun());
  r->config_ = config;
  r->config_.optim.schedule.total_steps = config.steps;
  r->model_ = std::move(model);
  r->tokenizer_ = std::move(tokenizer);
  ParamArena& arena = r->model_.params();

  auto ad = Adapters::create(arena, config.lora, config.qat, config.seed);
  if (!ad.ok()) return ad.status();
  r->adapters_ = ad.take();

  // What trains: everything, less the frozen parts; with LoRA only the adapters unless
  // train_base.
  std::vector<std::string> freeze = config.freeze;
  if (config.lora.rank > 0 && !config.train_base) freeze.push_back("base");
  for (const std::string& key : freeze) {
    bool any = false;
    for (size_t i = 0; i < arena.num_tensors(); ++i)
      if (freeze_covers(key, arena.tensor(i))) {
        arena.set_trainable(i, false);
        any = true;
      }
    if (!any) return Status(Code::kInvalidInput, "--freeze '" + key + "' matches no tensor of this model");
  }
  for (size_t i = 0; i < arena.num_tensors(); ++i) {
    const ParamTensor& t = arena.tensor(i);
    if (t.trainable) r->model_trains_ = true;
    if (config.muon_attention_only && t.group == ParamGroup::kMatrix && t.name.find("attn_") == std::string::npos)
      NP_RETURN_IF_ERROR(arena.set_muon(i, false));
  }
  if (!r->model_trains_ && !r->adapters_.has_lora())
    return Status(Code::kInvalidInput, "nothing to train: every tensor is frozen and there are no adapters");
  if (r->model_trains_) {
    auto o = Optimizer::create(arena, r->config_.optim);
    if (!o.ok()) return o.status();
    r->opt_model_ = o.take();
  }
  if (r->adapters_.has_lora()) {
    auto o = Optimizer::create(r->adapters_.params(), r->config_.optim);
    if (!o.ok()) return o.status();
    r->opt_lora_ = o.take();
  }
  NP_RETURN_IF_ERROR(r->init(data_path));
  return r;
}

Status TrainRun::init(const std::string& data_path) {
  DataOptions d;
  d.reader.seed = config_.seed;
  d.reader.epochs = 0;  // cycle until the step budget is spent
  d.reader.policy = config_.bad_lines;
  if (config_.val_fraction > 0) {
    d.reader.holdout_fraction = config_.val_fraction;
    d.reader.split = ReaderOptions::Split::kTrain;
  }
  d.pair = config_.pair;
  d.batch.batch_size = config_.batch;
  d.batch.bucket_window = config_.bucket_window;
  auto l = DataLoader::open(data_path, tokenizer_, model_.config(), d);
  if (!l.ok()) return l.status();
  loader_ = l.take();
  if (config_.val_fraction > 0 || !config_.val_path.empty()) NP_RETURN_IF_ERROR(load_validation_from(data_path));
  if (config_.contrastive_weight > 0) NP_RETURN_IF_ERROR(load_contrastive_pairs(data_path));
  return Status::Ok();
}

Status TrainRun::load_contrastive_pairs(const std::string& data_path) {
  if (model_.config().contrastive_dim <= 0)
    return Status(Code::kInvalidInput, "the contrastive loss needs a model with a retrieval head");
  ReaderOptions ro;
  ro.policy = config_.bad_lines;
  if (config_.val_fraction > 0) {
    ro.holdout_fraction = config_.val_fraction;
    ro.split = ReaderOptions::Split::kTrain;
  }
  auto reader = ExampleReader::open(data_path, ro);
  if (!reader.ok()) return reader.status();
  std::vector<ContrastivePair> pairs;
  for (;;) {
    Example ex;
    bool end = false;
    NP_RETURN_IF_ERROR(reader.value()->next(&ex, &end));
    if (end || pairs.size() >= static_cast<size_t>(config_.contrastive_max_pairs)) break;
    ContrastivePair p;
    bool has = false;
    NP_RETURN_IF_ERROR(make_contrastive_pair(tokenizer_, model_.config(), ex, &p, &has));
    if (has) pairs.push_back(std::move(p));
  }
  const int32_t n = config_.contrastive_batch > 0 ? config_.contrastive_batch : std::max(2, config_.batch);
  auto st = ContrastiveStream::create(std::move(pairs), n, model_.config().pad_id, config_.seed ^ 0x436c6970ull);
  if (!st.ok())
    return Status(st.status().code(), "contrastive loss: " + st.status().message() +
                                          " (it needs examples calling at least two different tools)");
  clip_ = std::make_unique<ContrastiveStream>(st.take());
  return Status::Ok();
}

Status TrainRun::load_validation_from(const std::string& data_path) {
  ReaderOptions ro;
  ro.policy = config_.bad_lines;
  std::string path = config_.val_path;
  if (path.empty()) {
    path = data_path;
    ro.holdout_fraction = config_.val_fraction;
    ro.split = ReaderOptions::Split::kHoldout;
  }
  auto ex = read_examples(path, ro, nullptr);
  if (!ex.ok()) return ex.status();
  val_examples_ = ex.take();
  if (val_examples_.size() > static_cast<size_t>(config_.val_max_examples)) val_examples_.resize(config_.val_max_examples);
  if (val_examples_.empty()) return Status(Code::kInvalidInput, "the validation split of " + path + " is empty");
  PairOptions po = config_.pair;
  po.augment.enabled = false;
  std::vector<TrainPair> pairs;
  for (const Example& e : val_examples_) {
    TrainPair p;
    NP_RETURN_IF_ERROR(make_train_pair(tokenizer_, model_.config(), po, e, 0, &p));
    if (p.fits) pairs.push_back(std::move(p));
  }
  if (pairs.empty()) return Status(Code::kInvalidInput, "no validation example fits the model's context");
  std::stable_sort(pairs.begin(), pairs.end(),
                   [](const TrainPair& a, const TrainPair& b) { return a.enc_ids.size() < b.enc_ids.size(); });
  val_batches_.clear();
  for (size_t i = 0; i < pairs.size(); i += static_cast<size_t>(config_.batch)) {
    std::vector<const TrainPair*> rows;
    for (size_t j = i; j < std::min(pairs.size(), i + static_cast<size_t>(config_.batch)); ++j) rows.push_back(&pairs[j]);
    val_batches_.push_back(make_batch(rows, model_.config().pad_id));
  }
  return Status::Ok();
}

Status TrainRun::step(StepReport* report) {
  if (done()) return Status(Code::kInvalidInput, "the run is over");
  Batch b;
  bool end = false;
  NP_RETURN_IF_ERROR(loader_->next(&b, &end));
  if (end) return Status(Code::kInvalidInput, "no usable training examples");
  TrainBatchView v{b.B, b.Te, b.Td, b.enc_ids.data(), b.dec_in.data(), b.targets.data(), b.weights.data(),
                     b.enc_prefix.data()};
  ParamArena& arena = model_.params();
  LossInfo li;
  adapters_.apply(arena);
  Status s = model_.forward_backward(v, config_.loss, &li);
  ContrastiveInfo ci;
  if (s.ok() && clip_) {
    ContrastiveBatch cb;
    s = clip_->next(&cb);
    ContrastiveBatchView cv{cb.N, cb.Tq, cb.Tt, cb.query_ids.data(), cb.tool_ids.data()};
    if (s.ok()) s = model_.contrastive_forward_backward(cv, config_.contrastive_weight, &ci);
  }
  if (s.ok()) adapters_.backprop(arena);
  adapters_.restore(arena);
  NP_RETURN_IF_ERROR(s);
  StepInfo si;
  if (model_trains_) NP_RETURN_IF_ERROR(opt_model_.step(arena, &si));
  if (adapters_.has_lora()) {
    StepInfo sl;
    NP_RETURN_IF_ERROR(opt_lora_.step(adapters_.params(), &sl));
    if (!model_trains_) si = sl;
  }
  if (clip_) model_.clamp_log_temp();
  ++step_;
  if (report) {
    report->contrastive_loss = ci.loss;
    report->contrastive_accuracy = ci.accuracy;
    report->step = step_;
    report->loss = li.loss;
    report->ce = li.ce;
    report->lr = si.lr_adamw;
    report->grad_norm = si.grad_norm;
    report->tokens = b.enc_tokens + b.dec_tokens;
  }
  return Status::Ok();
}

bool TrainRun::done() const { return stopped_ || step_ >= config_.steps; }

bool TrainRun::due_for_validation() const {
  if (val_batches_.empty()) return false;
  const int64_t every = config_.eval_every > 0 ? config_.eval_every : std::max<int64_t>(1, config_.steps / 10);
  return step_ - last_val_step_ >= every || (step_ >= config_.steps && last_val_step_ != step_);
}

Status TrainRun::validate(ValReport* report) {
  ValReport r;
  r.step = step_;
  if (val_batches_.empty()) {
    if (report) *report = r;
    return Status::Ok();
  }
  ParamArena& arena = model_.params();
  double loss = 0, wsum = 0, ce = 0;
  int64_t ntok = 0;
  adapters_.apply(arena);
  Status s;
  for (const Batch& b : val_batches_) {
    TrainBatchView v{b.B, b.Te, b.Td, b.enc_ids.data(), b.dec_in.data(), b.targets.data(), b.weights.data(),
                     b.enc_prefix.data()};
    LossInfo li;
    s = model_.forward_loss(v, config_.loss, &li);
    if (!s.ok()) break;
    loss += li.loss * li.weight_sum;
    wsum += li.weight_sum;
    ce += li.ce * static_cast<double>(li.target_tokens);
    ntok += li.target_tokens;
  }
  adapters_.restore(arena);
  NP_RETURN_IF_ERROR(s);
  r.loss = loss / wsum;
  r.ce = ce / static_cast<double>(ntok);
  last_val_step_ = step_;
  if (best_step_ < 0 || r.loss < best_val_) {
    best_val_ = r.loss;
    best_step_ = step_;
    since_best_ = 0;
    r.improved = true;
    snapshot_best();
  } else {
    ++since_best_;
    if (config_.patience > 0 && since_best_ >= config_.patience) stopped_ = true;
  }
  r.since_best = since_best_;
  if (report) *report = r;
  return Status::Ok();
}

void TrainRun::snapshot_best() {
  const ParamArena& a = model_.params();
  if (model_trains_) best_model_.assign(a.values(), a.values() + a.total_size());
  const ParamArena& l = adapters_.params();
  if (adapters_.has_lora()) best_lora_.assign(l.values(), l.values() + l.total_size());
}

void TrainRun::swap_in_best(std::vector<float>* saved_model, std::vector<float>* saved_lora) {
  ParamArena& a = model_.params();
  ParamArena& l = adapters_.params();
  if (!best_model_.empty()) {
    saved_model->assign(a.values(), a.values() + a.total_size());
    std::copy(best_model_.begin(), best_model_.end(), a.values());
  }
  if (!best_lora_.empty()) {
    saved_lora->assign(l.values(), l.values() + l.total_size());
    std::copy(best_lora_.begin(), best_lora_.end(), l.values());
  }
}

Status TrainRun::run(bool (*on_step)(const StepReport&, void*), bool (*on_val)(const ValReport&, void*), void* user) {
  while (!done()) {
    StepReport sr;
    NP_RETURN_IF_ERROR(step(&sr));
    if (on_step && !on_step(sr, user)) return Status(Code::kAborted, "training stopped by the caller");
    if (due_for_validation()) {
      ValReport vr;
      NP_RETURN_IF_ERROR(validate(&vr));
      if (on_val && !on_val(vr, user)) return Status(Code::kAborted, "training stopped by the caller");
    }
  }
  return Status::Ok();
}

DataReport TrainRun::data_report() const { return loader_->report(); }

Status TrainRun::export_gguf(GgmlType type, bool best, GgufWriter* w, const std::string& name) {
  std::vector<float> saved_model, saved_lora;
  const bool use_best = best && best_step_ >= 0;
  if (use_best) swap_in_best(&saved_model, &saved_lora);
  ParamArena& arena = model_.params();
  adapters_.apply(arena, /*fake_quant=*/false);  // LoRA merged; the export quantizes itself
  Status s = model_.export_gguf(tokenizer_, type, w, name);
  adapters_.restore(arena);
  if (!saved_model.empty()) std::copy(saved_model.begin(), saved_model.end(), arena.values());
  if (!saved_lora.empty()) std::copy(saved_lora.begin(), saved_lora.end(), adapters_.params().values());
  return s;
}

// ---- checkpoints ---------------------------------------------------------------------------

Result<std::vector<uint8_t>> TrainRun::checkpoint() {
  GgufWriter w;
  NP_RETURN_IF_ERROR(model_.export_gguf(tokenizer_, GgmlType::F32, &w, "needlepoint-checkpoint"));
  const ParamArena& l = adapters_.params();
  for (size_t i = 0; i < l.num_tensors(); ++i) {
    const ParamTensor& t = l.tensor(i);
    NP_RETURN_IF_ERROR(w.add_tensor_f32(t.name, {t.shape[1], t.shape[0]}, GgmlType::F32, l.value(i)));
  }
  std::vector<uint8_t> om, ol;
  if (model_trains_) om = opt_model_.serialize();
  if (adapters_.has_lora()) ol = opt_lora_.serialize();
  if (model_trains_) NP_RETURN_IF_ERROR(add_blob(&w, "train.optimizer.model", om));
  if (adapters_.has_lora()) NP_RETURN_IF_ERROR(add_blob(&w, "train.optimizer.lora", ol));
  if (!best_model_.empty())
    NP_RETURN_IF_ERROR(w.add_tensor_f32("train.best.model", {static_cast<int64_t>(best_model_.size())}, GgmlType::F32,
                                        best_model_.data()));
  if (!best_lora_.empty())
    NP_RETURN_IF_ERROR(w.add_tensor_f32("train.best.lora", {static_cast<int64_t>(best_lora_.size())}, GgmlType::F32,
                                        best_lora_.data()));
  json st;
  st["format"] = 1;
  st["step"] = step_;
  st["last_val_step"] = last_val_step_;
  st["best_val"] = best_val_;
  st["best_step"] = best_step_;
  st["since_best"] = since_best_;
  st["stopped"] = stopped_;
  st["data_position"] = loader_->position().to_json();
  if (clip_) st["contrastive_position"] = {clip_->epoch(), clip_->taken()};
  st["run"] = run_identity(config_, model_.config());
  st["hash"] = state_hash(om, ol);
  w.set_kv("train.state", GgufValue::make_string(st.dump()));
  return w.to_bytes();
}

Result<std::unique_ptr<TrainRun>> TrainRun::resume(const std::vector<uint8_t>& checkpoint, const std::string& data_path,
                                                   const TrainConfig& config) {
  auto f = GgufFile::open_view(checkpoint.data(), checkpoint.size());
  if (!f.ok()) return f.status();
  const GgufFile& file = *f.value();
  std::string state_text;
  if (!file.get_string("train.state", &state_text).ok())
    return Status(Code::kInvalidInput, "not a training checkpoint (no train.state)");
  json st = json::parse(state_text, nullptr, false);
  auto num = [&](const char* key, bool integer) {
    auto it = st.find(key);
    return it != st.end() && (integer ? it->is_number_integer() : it->is_number());
  };
  if (st.is_discarded() || !st.is_object() || !num("format", true) || st["format"].get<int64_t>() != 1 ||
      !st.contains("run") || !num("step", true) || !num("last_val_step", true) || !num("best_val", false) ||
      !num("best_step", true) || !num("since_best", true) || !st.contains("stopped") || !st["stopped"].is_boolean() ||
      !st.contains("data_position") || !st["data_position"].is_string())
    return Status(Code::kCorrupt, "checkpoint: train.state is damaged");
  auto m = TrainModel::from_gguf(file);
  if (!m.ok()) return m.status();
  auto tok = Tokenizer::from_gguf(file);
  if (!tok.ok()) return tok.status();
  const json want = run_identity(config, m.value().config());
  if (st["run"] != want) {
    std::string diff;
    for (auto it = want.begin(); it != want.end(); ++it) {
      const json have = st["run"].is_object() && st["run"].contains(it.key()) ? st["run"][it.key()] : json();
      if (have != it.value())
        diff += (diff.empty() ? "" : ", ") + it.key() + " " + have.dump() + " there, " + it.value().dump() + " here";
    }
    return Status(Code::kInvalidInput, "checkpoint belongs to another run (" + diff + ")");
  }
  auto r = create(m.take(), tok.take(), data_path, config);
  if (!r.ok()) return r.status();
  TrainRun& run = *r.value();
  ParamArena& l = run.adapters_.params();
  for (size_t i = 0; i < l.num_tensors(); ++i) {
    const ParamTensor& t = l.tensor(i);
    const GgufTensorInfo* info = file.find_tensor(t.name);
    if (!info || info->type != GgmlType::F32 || info->dims != std::vector<int64_t>{t.shape[1], t.shape[0]})
      return Status(Code::kCorrupt, "checkpoint: adapter '" + t.name + "' is missing or has the wrong shape");
    std::memcpy(l.value(i), file.tensor_data(*info), sizeof(float) * t.size);
  }
  std::vector<uint8_t> om, ol;
  if (run.model_trains_) {
    NP_RETURN_IF_ERROR(read_blob(file, "train.optimizer.model", &om));
    NP_RETURN_IF_ERROR(run.opt_model_.deserialize(om));
  }
  if (run.adapters_.has_lora()) {
    NP_RETURN_IF_ERROR(read_blob(file, "train.optimizer.lora", &ol));
    NP_RETURN_IF_ERROR(run.opt_lora_.deserialize(ol));
  }
  auto read_best = [&](const char* name, size_t n, std::vector<float>* out) -> Status {
    const GgufTensorInfo* info = file.find_tensor(name);
    if (!info) return Status::Ok();
    if (info->type != GgmlType::F32 || info->dims != std::vector<int64_t>{static_cast<int64_t>(n)})
      return Status(Code::kCorrupt, std::string("checkpoint: '") + name + "' has the wrong shape");
    out->resize(n);
    std::memcpy(out->data(), file.tensor_data(*info), sizeof(float) * n);
    return Status::Ok();
  };
  NP_RETURN_IF_ERROR(read_best("train.best.model", run.model_.params().total_size(), &run.best_model_));
  NP_RETURN_IF_ERROR(read_best("train.best.lora", l.total_size(), &run.best_lora_));
  auto pos = DataPosition::from_json(st["data_position"].get<std::string>());
  if (!pos.ok()) return pos.status();
  NP_RETURN_IF_ERROR(run.loader_->restore(pos.value()));
  if (run.clip_) {
    const json& cp = st.contains("contrastive_position") ? st["contrastive_position"] : json();
    if (!cp.is_array() || cp.size() != 2 || !cp[0].is_number_integer() || !cp[1].is_number_integer() ||
        cp[0].get<int64_t>() < 0 || cp[1].get<int64_t>() < 0 || cp[0].get<int64_t>() > INT32_MAX)
      return Status(Code::kCorrupt, "checkpoint: the contrastive stream's position is damaged");
    NP_RETURN_IF_ERROR(run.clip_->restore(static_cast<int32_t>(cp[0].get<int64_t>()), cp[1].get<uint64_t>()));
  }
  run.step_ = st["step"].get<int64_t>();
  run.last_val_step_ = st["last_val_step"].get<int64_t>();
  run.best_val_ = st["best_val"].get<double>();
  run.best_step_ = st["best_step"].get<int64_t>();
  run.since_best_ = static_cast<int32_t>(st["since_best"].get<int64_t>());
  run.stopped_ = st["stopped"].get<bool>();
  if (run.step_ < 0 || run.last_val_step_ < 0 || run.last_val_step_ > run.step_)
    return Status(Code::kCorrupt, "checkpoint: train.state is damaged");
  if (!st.contains("hash") || !st["hash"].is_number_unsigned() ||
      st["hash"].get<uint64_t>() != run.state_hash(om, ol))
    return Status(Code::kCorrupt, "checkpoint: checksum mismatch (the file is damaged)");
  if (run.model_trains_ && run.opt_model_.step_count() != run.step_)
    return Status(Code::kCorrupt, "checkpoint: optimiser step does not match the run's step");
  return r;
}

}  // namespace np
