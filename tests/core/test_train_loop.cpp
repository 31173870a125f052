// test_train_loop.cpp — LoRA and QAT weight transforms (np/adapters.h), the content-hash
// validation split, and the training run (np/train_loop.h): freezing, early stopping,
// checkpoints that resume bit-exactly, damaged or foreign checkpoints refused, export with
// LoRA merged.
#include <catch2/catch.hpp>

#include <cmath>
#include <cstring>
#include <set>
#include <string>
#include <vector>

#include "np/adapters.h"
#include "np/dataset.h"
#include "np/model.h"
#include "np/quant.h"
#include "np/train_loop.h"
#include "util/rng.h"

namespace {

const std::string kData = std::string(NP_SOURCE_DIR) + "/tests/fixtures/data/tiny_tools.jsonl";

np::TrainModel small_model(uint64_t seed) {
  np::ModelConfig c = np::ModelConfig::small();
  c.max_enc_len = 512;
  auto m = np::TrainModel::create(c, seed);
  REQUIRE(m.ok());
  return m.take();
}

np::Tokenizer small_tokenizer() {
  auto t = np::synthetic_tokenizer(np::ModelConfig::small().vocab_size);
  REQUIRE(t.ok());
  return t.take();
}

np::TrainConfig small_config(int64_t steps) {
  np::TrainConfig tc;
  tc.steps = steps;
  tc.batch = 4;
  tc.seed = 7;
  tc.bucket_window = 16;
  tc.optim = np::OptimConfig::pretraining(steps);
  tc.optim.adamw.lr = 3e-3;
  return tc;
}

std::unique_ptr<np::TrainRun> make_run(const np::TrainConfig& tc, uint64_t model_seed = 3) {
  auto r = np::TrainRun::create(small_model(model_seed), small_tokenizer(), kData, tc);
  INFO(r.status().to_string());
  REQUIRE(r.ok());
  return r.take();
}

std::vector<float> values_of(const np::ParamArena& a) { return std::vector<float>(a.values(), a.values() + a.total_size()); }

void run_steps(np::TrainRun& r, int n) {
  for (int i = 0; i < n; ++i) {
    np::StepReport sr;
    np::Status s = r.step(&sr);
    INFO(s.to_string());
    REQUIRE(s.ok());
  }
}

}  // namespace

TEST_CASE("LoRA targets parse and match projection names", "[train_loop]") {
  std::vector<std::string> t;
  REQUIRE(np::parse_lora_targets("q,v,ffn", &t).ok());
  CHECK(t == std::vector<std::string>{"q", "v", "ffn"});
  CHECK(np::parse_lora_targets("q,x", &t).code() == np::Code::kInvalidInput);
  CHECK(np::parse_lora_targets(",", &t).code() == np::Code::kInvalidInput);
  CHECK(np::is_lora_target("enc.blk.0.attn_q.weight", {"q"}));
  CHECK(np::is_lora_target("dec.blk.1.cross_attn_q.weight", {"q"}));
  CHECK_FALSE(np::is_lora_target("dec.blk.1.cross_attn_q_norm.weight", {"q"}));
  CHECK(np::is_lora_target("dec.blk.1.attn_output.weight", {"o"}));
  CHECK_FALSE(np::is_lora_target("dec.blk.1.attn_output.weight", {"q", "k", "v"}));
  CHECK(np::is_lora_target("enc.blk.0.ffn_up_proj.weight", {"ffn"}));
}

TEST_CASE("LoRA: starts at the base, W + s B A when applied, exact adapter gradients", "[train_loop]") {
  np::ParamArena model;
  REQUIRE(model.add("enc.blk.0.attn_q.weight", {5, 7}, np::ParamGroup::kMatrix).ok());
  REQUIRE(model.add("enc.blk.0.attn_q_norm.weight", {7}, np::ParamGroup::kVector).ok());
  np::Rng rng(11);
  for (size_t i = 0; i < model.total_size(); ++i) model.values()[i] = static_cast<float>(rng.normal());
  const std::vector<float> base = values_of(model);
  np::LoraConfig lc;
  lc.rank = 2;
  lc.alpha = 3.0;
  auto ad = np::Adapters::create(model, lc, np::GgmlType::F32, 5);
  REQUIRE(ad.ok());
  np::Adapters& a = ad.value();
  REQUIRE(a.params().num_tensors() == 2);
  const int64_t ia = a.params().find("lora.enc.blk.0.attn_q.weight.a");
  const int64_t ib = a.params().find("lora.enc.blk.0.attn_q.weight.b");
  REQUIRE(ia >= 0);
  REQUIRE(ib >= 0);
  CHECK(a.params().tensor(ia).shape == std::vector<int64_t>{2, 7});
  CHECK(a.params().tensor(ib).shape == std::vector<int64_t>{5, 2});
  // B = 0: applying changes nothing.
  a.apply(model);
  CHECK(values_of(model) == base);
  a.restore(model);
  // Random B: W_used = W + 1.5 B A, computed here in double.
  float* A = a.params().value(ia);
  float* B = a.params().value(ib);
  for (int i = 0; i < 10; ++i) B[i] = static_cast<float>(rng.normal());
  a.apply(model);
  const double s = 1.5;
  for (int i = 0; i < 5; ++i)
    for (int j = 0; j < 7; ++j) {
      double want = base[i * 7 + j];
      for (int k = 0; k < 2; ++k) want += s * B[i * 2 + k] * A[k * 7 + j];
      CHECK(model.values()[i * 7 + j] == Approx(want).epsilon(1e-5));
    }
  // The norm vector is no target: untouched.
  for (int j = 0; j < 7; ++j) CHECK(model.values()[35 + j] == base[35 + j]);
  // Gradients: dA = s B^T dW, dB = s dW A^T.
  for (int i = 0; i < 35; ++i) model.grads()[i] = static_cast<float>(rng.normal());
  a.backprop(model);
  const float* dW = model.grads();
  for (int k = 0; k < 2; ++k)
    for (int j = 0; j < 7; ++j) {
      double want = 0;
      for (int i = 0; i < 5; ++i) want += s * B[i * 2 + k] * dW[i * 7 + j];
      CHECK(a.params().grad(ia)[k * 7 + j] == Approx(want).epsilon(1e-5).margin(1e-6));
    }
  for (int i = 0; i < 5; ++i)
    for (int k = 0; k < 2; ++k) {
      double want = 0;
      for (int j = 0; j < 7; ++j) want += s * dW[i * 7 + j] * A[k * 7 + j];
      CHECK(a.params().grad(ib)[i * 2 + k] == Approx(want).epsilon(1e-5).margin(1e-6));
    }
  // restore() gives the masters back bit for bit.
  a.restore(model);
  CHECK(values_of(model) == base);
}

TEST_CASE("LoRA refuses bad settings", "[train_loop]") {
  np::ParamArena model;
  REQUIRE(model.add("enc.blk.0.attn_q.weight", {4, 4}, np::ParamGroup::kMatrix).ok());
  np::LoraConfig lc;
  lc.rank = 5;  // > min(rows, cols)
  CHECK(np::Adapters::create(model, lc, np::GgmlType::F32, 1).status().code() == np::Code::kInvalidInput);
  lc.rank = 2;
  lc.targets = {"ffn"};  // nothing matches
  CHECK(np::Adapters::create(model, lc, np::GgmlType::F32, 1).status().code() == np::Code::kInvalidInput);
  lc.targets = {"q"};
  CHECK(np::Adapters::create(model, lc, np::GgmlType::F16, 1).status().code() == np::Code::kInvalidInput);
}

TEST_CASE("QAT: the forward sees exactly the exported quantized weights", "[train_loop]") {
  for (np::GgmlType type : {np::GgmlType::Q8_0, np::GgmlType::Q4_0}) {
    np::ParamArena model;
    REQUIRE(model.add("token_embd.weight", {3, 64}, np::ParamGroup::kEmbedding).ok());
    REQUIRE(model.add("enc.blk.0.attn_q.weight", {4, 40}, np::ParamGroup::kMatrix).ok());  // 40: not whole blocks
    np::Rng rng(2);
    for (size_t i = 0; i < model.total_size(); ++i) model.values()[i] = static_cast<float>(rng.normal());
    const std::vector<float> master = values_of(model);
    auto ad = np::Adapters::create(model, np::LoraConfig{}, type, 1);
    REQUIRE(ad.ok());
    ad.value().apply(model);
    std::vector<uint8_t> q(64 * 2);
    std::vector<float> want(64);
    for (int r = 0; r < 3; ++r) {
      np::quantize_from_f32(type, master.data() + r * 64, q.data(), 64);
      np::dequantize_to_f32(type, q.data(), want.data(), 64);
      for (int j = 0; j < 64; ++j) REQUIRE(model.values()[r * 64 + j] == want[j]);
    }
    bool changed = false;
    for (int j = 0; j < 192; ++j) changed |= model.values()[j] != master[j];
    CHECK(changed);
    // A matrix whose rows are not whole blocks exports as F32: left as it is.
    for (int j = 192; j < 192 + 160; ++j) REQUIRE(model.values()[j] == master[j]);
    ad.value().restore(model);
    CHECK(values_of(model) == master);
  }
}

TEST_CASE("holdout split: disjoint, complete, by content, about the asked fraction", "[train_loop]") {
  np::ReaderOptions all, train, hold;
  train.holdout_fraction = hold.holdout_fraction = 0.3;
  train.split = np::ReaderOptions::Split::kTrain;
  hold.split = np::ReaderOptions::Split::kHoldout;
  auto a = np::read_examples(kData, all, nullptr);
  auto t = np::read_examples(kData, train, nullptr);
  auto h = np::read_examples(kData, hold, nullptr);
  REQUIRE(a.ok());
  REQUIRE(t.ok());
  REQUIRE(h.ok());
  std::set<int64_t> lt, lh;
  for (const auto& e : t.value()) lt.insert(e.line);
  for (const auto& e : h.value()) lh.insert(e.line);
  CHECK(lt.size() + lh.size() == a.value().size());
  for (int64_t l : lh) CHECK(lt.count(l) == 0);
  CHECK(lh.size() >= 4);   // 43 lines at 0.3: about 13
  CHECK(lh.size() <= 24);
  // The bucket is a function of the bytes only.
  CHECK(np::holdout_bucket("abc") == np::holdout_bucket("abc\r"));
  CHECK(np::holdout_bucket("abc") != np::holdout_bucket("abd"));
  train.holdout_fraction = 1.5;
  CHECK(np::ExampleReader::open(kData, train).status().code() == np::Code::kInvalidInput);
}

TEST_CASE("run: loss falls; frozen tensors stay; Muon only on attention projections", "[train_loop][slow_ok]") {
  np::TrainConfig tc = small_config(30);
  tc.freeze = {"embedding", "norms"};
  auto run = make_run(tc);
  const std::vector<float> before = values_of(run->model().params());
  np::StepReport first, last;
  REQUIRE(run->step(&first).ok());
  for (int i = 1; i < 30; ++i) REQUIRE(run->step(&last).ok());
  CHECK(run->done());
  CHECK(last.loss < first.loss * 0.8);
  const np::ParamArena& p = run->model().params();
  bool moved = false;
  for (size_t i = 0; i < p.num_tensors(); ++i) {
    const np::ParamTensor& t = p.tensor(i);
    const bool same = std::memcmp(p.value(i), before.data() + t.offset, sizeof(float) * t.size) == 0;
    const bool frozen = t.name == "token_embd.weight" || t.name.find("norm.weight") != std::string::npos;
    if (frozen) CHECK(same);
    if (!frozen && t.group == np::ParamGroup::kMatrix) moved |= !same;
    if (t.group == np::ParamGroup::kMatrix) CHECK(t.muon == (t.name.find("attn_") != std::string::npos));
  }
  CHECK(moved);
  np::StepReport extra;
  CHECK(run->step(&extra).code() == np::Code::kInvalidInput);  // the run is over
}

TEST_CASE("run: bad settings are refused with a clear error", "[train_loop]") {
  np::TrainConfig tc = small_config(10);
  tc.freeze = {"nothing_by_this_name"};
  auto r = np::TrainRun::create(small_model(1), small_tokenizer(), kData, tc);
  CHECK(r.status().code() == np::Code::kInvalidInput);
  tc = small_config(10);
  tc.freeze = {"base"};
  CHECK(np::TrainRun::create(small_model(1), small_tokenizer(), kData, tc).status().code() == np::Code::kInvalidInput);
  tc = small_config(10);
  tc.val_fraction = 0.2;
  tc.val_path = kData;
  CHECK(np::TrainRun::create(small_model(1), small_tokenizer(), kData, tc).status().code() == np::Code::kInvalidInput);
  tc = small_config(0);
  CHECK(np::TrainRun::create(small_model(1), small_tokenizer(), kData, tc).status().code() == np::Code::kInvalidInput);
  tc = small_config(10);
  CHECK(np::TrainRun::create(small_model(1), small_tokenizer(), "/nonexistent.jsonl", tc).status().code() ==
        np::Code::kIoError);
}

TEST_CASE("run: early stopping when validation stops improving; best weights exported", "[train_loop]") {
  np::TrainConfig tc = small_config(40);
  tc.val_fraction = 0.25;
  tc.eval_every = 2;
  tc.patience = 2;
  tc.optim.adamw.lr = 0.5;  // far too large: validation loss gets worse quickly
  tc.optim.muon.lr = 0.5;
  tc.optim.schedule.warmup_ratio = 0;
  auto run = make_run(tc);
  REQUIRE(run->has_validation());
  std::vector<np::ValReport> vals;
  auto on_val = [](const np::ValReport& v, void* u) {
    static_cast<std::vector<np::ValReport>*>(u)->push_back(v);
    return true;
  };
  REQUIRE(run->run(nullptr, on_val, &vals).ok());
  REQUIRE(run->early_stopped());
  CHECK(run->step_count() < 40);
  REQUIRE(vals.size() >= 3);
  CHECK(vals.back().since_best == 2);
  double best = 1e300;
  for (const auto& v : vals) best = std::min(best, v.loss);
  CHECK(run->best_val_loss() == best);
  // The export holds the best weights: their validation loss is the best one.
  np::GgufWriter w;
  REQUIRE(run->export_gguf(np::GgmlType::F32, true, &w).ok());
  auto bytes = w.to_bytes();
  REQUIRE(bytes.ok());
  auto f = np::GgufFile::open_bytes(bytes.take());
  REQUIRE(f.ok());
  auto m = np::TrainModel::from_gguf(*f.value());
  REQUIRE(m.ok());
  np::TrainConfig tc2 = tc;
  tc2.steps = 1;
  tc2.patience = 0;
  auto r2 = np::TrainRun::create(m.take(), small_tokenizer(), kData, tc2);
  REQUIRE(r2.ok());
  np::ValReport v2;
  REQUIRE(r2.value()->validate(&v2).ok());
  CHECK(v2.loss == Approx(best).epsilon(1e-6));
}

TEST_CASE("checkpoint + resume continues bit-exactly (full, LoRA, QAT, contrastive, validation)", "[train_loop]") {
  struct Case {
    const char* name;
    int rank;
    np::GgmlType qat;
    double val;
    double clip;
  };
  for (const Case& c : {Case{"full", 0, np::GgmlType::F32, 0.0, 0.0}, Case{"lora+val", 4, np::GgmlType::F32, 0.2, 0.0},
                        Case{"qat", 0, np::GgmlType::Q8_0, 0.0, 0.0},
                        Case{"contrastive+val", 0, np::GgmlType::F32, 0.2, 0.1}}) {
    SECTION(c.name) {
      np::TrainConfig tc = small_config(12);
      tc.lora.rank = c.rank;
      tc.qat = c.qat;
      tc.val_fraction = c.val;
      tc.contrastive_weight = c.clip;
      tc.contrastive_batch = 3;  // several contrastive epochs within the run
      tc.eval_every = 3;
      auto straight = make_run(tc);
      np::ValReport vr;
      for (int i = 0; i < 12; ++i) {
        run_steps(*straight, 1);
        if (straight->due_for_validation()) REQUIRE(straight->validate(&vr).ok());
      }
      auto first = make_run(tc);
      for (int i = 0; i < 5; ++i) {
        run_steps(*first, 1);
        if (first->due_for_validation()) REQUIRE(first->validate(&vr).ok());
      }
      auto ck = first->checkpoint();
      REQUIRE(ck.ok());
      first.reset();
      auto resumed = np::TrainRun::resume(ck.value(), kData, tc);
      INFO(resumed.status().to_string());
      REQUIRE(resumed.ok());
      np::TrainRun& r = *resumed.value();
      CHECK(r.step_count() == 5);
      for (int i = 5; i < 12; ++i) {
        run_steps(r, 1);
        if (r.due_for_validation()) REQUIRE(r.validate(&vr).ok());
      }
      CHECK(values_of(r.model().params()) == values_of(straight->model().params()));
      np::GgufWriter wa, wb;
      REQUIRE(r.export_gguf(np::GgmlType::F32, true, &wa).ok());
      REQUIRE(straight->export_gguf(np::GgmlType::F32, true, &wb).ok());
      CHECK(wa.to_bytes().value() == wb.to_bytes().value());
      if (c.rank > 0) {
        // LoRA trained only the adapters; the export merged them (it differs from the base).
        auto base = make_run(tc);
        np::GgufWriter w0;
        REQUIRE(base->export_gguf(np::GgmlType::F32, false, &w0).ok());
        CHECK(w0.to_bytes().value() != wa.to_bytes().value());
        CHECK(values_of(r.model().params()) == values_of(base->model().params()));
      }
    }
  }
}

TEST_CASE("resume refuses damaged checkpoints and other runs", "[train_loop]") {
  np::TrainConfig tc = small_config(6);
  auto run = make_run(tc);
  run_steps(*run, 2);
  auto ck = run->checkpoint();
  REQUIRE(ck.ok());
  const std::vector<uint8_t>& bytes = ck.value();
  // Another seed or batch: another run.
  np::TrainConfig other = tc;
  other.seed = 8;
  CHECK(np::TrainRun::resume(bytes, kData, other).status().code() == np::Code::kInvalidInput);
  other = tc;
  other.lora.rank = 2;
  CHECK(np::TrainRun::resume(bytes, kData, other).status().code() == np::Code::kInvalidInput);
  // More steps is fine (the schedule is stretched).
  other = tc;
  other.steps = 10;
  CHECK(np::TrainRun::resume(bytes, kData, other).ok());
  // Truncations and flipped bytes: an error, never a crash.
  for (size_t cut : {size_t{0}, size_t{10}, bytes.size() / 3, bytes.size() - 40}) {  // (the last bytes may be alignment padding)
    std::vector<uint8_t> t(bytes.begin(), bytes.begin() + static_cast<long>(cut));
    CHECK_FALSE(np::TrainRun::resume(t, kData, tc).ok());
  }
  np::Rng rng(4);
  int refused = 0;
  for (int i = 0; i < 40; ++i) {
    std::vector<uint8_t> t = bytes;
    // Flip a byte in the last quarter: weights and optimiser state (the checksum guards them).
    t[bytes.size() - 1 - rng.below(bytes.size() / 4)] ^= 0x5a;
    auto r = np::TrainRun::resume(t, kData, tc);
    refused += !r.ok();
  }
  CHECK(refused >= 36);  // a flip in alignment padding may go unnoticed, one in any number may not
  // A model file is no checkpoint.
  np::GgufWriter w;
  REQUIRE(run->export_gguf(np::GgmlType::F32, false, &w).ok());
  CHECK(np::TrainRun::resume(w.to_bytes().value(), kData, tc).status().code() == np::Code::kInvalidInput);
}

TEST_CASE("run: the contrastive loss trains the retrieval head beside the token loss", "[train_loop]") {
  np::TrainConfig tc = small_config(60);
  tc.contrastive_weight = 0.5;
  tc.contrastive_batch = 4;
  auto run = make_run(tc);
  const np::ParamArena& p = run->model().params();
  const int64_t w2 = p.find("contrastive.proj.weight");
  REQUIRE(w2 >= 0);
  const std::vector<float> before(p.value(static_cast<size_t>(w2)), p.value(static_cast<size_t>(w2)) + p.tensor(w2).size);
  double first = 0, last = 0, acc_last = 0;
  for (int i = 0; i < 60; ++i) {
    np::StepReport r;
    REQUIRE(run->step(&r).ok());
    if (i < 10) first += r.contrastive_loss / 10;
    if (i >= 50) {
      last += r.contrastive_loss / 10;
      acc_last += r.contrastive_accuracy / 10;
    }
  }
  INFO("contrastive loss " << first << " -> " << last << ", accuracy " << acc_last);
  CHECK(last < first * 0.7);
  CHECK(acc_last > 0.5);  // chance is 0.25 with batches of 4
  CHECK(std::memcmp(before.data(), p.value(static_cast<size_t>(w2)), before.size() * sizeof(float)) != 0);
  // Without a retrieval head it is refused up front.
  np::ModelConfig c = np::ModelConfig::small();
  c.contrastive_dim = 0;
  auto m = np::TrainModel::create(c, 1);
  REQUIRE(m.ok());
  CHECK(np::TrainRun::create(m.take(), small_tokenizer(), kData, tc).status().code() == np::Code::kInvalidInput);
}
