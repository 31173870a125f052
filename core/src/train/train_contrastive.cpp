// train_contrastive.cpp — TrainModel's contrastive retrieval loss (trainer.h): 2N sequences
// (N queries, N positive tool texts) each through the encoder and the retrieval head, the
// CLIP loss over the (N, N) similarities (ops/kernels_contrastive.h), then the same list
// reversed: head, final encoder norm, encoder layers, embedding. Gradients are added, never
// zeroed. Not here: building the pairs (data_contrastive.cpp), the training loop.
#include <algorithm>
#include <cmath>
#include <string>
#include <vector>

#include "np/trainer.h"
#include "ops/kernels.h"
#include "ops/kernels_contrastive.h"
#include "train/train_blocks.h"

namespace np {

namespace {

// Row `r` of the batch: a query for r < N, else tool r - N. Its length without right padding
// (0 when it holds nothing else).
struct Row {
  const int32_t* ids;
  int T;
};

}  // namespace

Status TrainModel::contrastive_forward_backward(const ContrastiveBatchView& b, double weight,
                                                ContrastiveInfo* info, bool backward) {
  const ModelConfig& c = config_;
  if (c.contrastive_dim <= 0) return Status(Code::kUnsupported, "this model has no retrieval head");
  if (b.N < 2) return Status(Code::kInvalidInput, "the contrastive loss needs at least 2 pairs, got " + std::to_string(b.N));
  if (b.Tq < 1 || b.Tt < 1 || !b.query_ids || !b.tool_ids)
    return Status(Code::kInvalidInput, "empty contrastive batch");
  if (b.Tq > c.max_enc_len || b.Tt > c.max_enc_len)
    return Status(Code::kInvalidInput, "contrastive lengths " + std::to_string(b.Tq) + "/" + std::to_string(b.Tt) +
                                           " exceed the encoder context " + std::to_string(c.max_enc_len));
  if (!std::isfinite(weight)) return Status(Code::kInvalidInput, "contrastive weight is not finite");
  const int N = b.N, C = c.d_model, H = c.contrastive_hidden(), OC = c.contrastive_dim;
  std::vector<Row> rows(2 * static_cast<size_t>(N));
  for (int r = 0; r < 2 * N; ++r) {
    const bool query = r < N;
    const int L = query ? b.Tq : b.Tt;
    const int32_t* ids = (query ? b.query_ids : b.tool_ids) + static_cast<int64_t>(query ? r : r - N) * L;
    for (int t = 0; t < L; ++t)
      if (ids[t] < 0 || ids[t] >= c.vocab_size)
        return Status(Code::kInvalidInput, std::string(query ? "query" : "tool") + " id outside the vocabulary");
    // Trim the right padding: pads only ever act as masked keys and are left out of the
    // pooled mean, so this is exact.
    int T = L;
    while (T > 0 && ids[T - 1] == c.pad_id) --T;
    if (T == 0)
      return Status(Code::kInvalidInput, std::string(query ? "query " : "tool ") + std::to_string(query ? r : r - N) +
                                             " holds nothing but padding");
    rows[r] = Row{ids, T};
  }

  // Two equal tool rows would make a positive also a negative of the same query.
  for (int i = N; i < 2 * N; ++i)
    for (int j = N; j < i; ++j)
      if (rows[i].T == rows[j].T && std::equal(rows[i].ids, rows[i].ids + rows[i].T, rows[j].ids))
        return Status(Code::kInvalidInput, "tools " + std::to_string(j - N) + " and " + std::to_string(i - N) +
                                               " are the same text: an in-batch negative must differ");

  const train::ModelPtrs mp = train::model_ptrs(arena_, c, rope_);
  // Keep every sequence's activations when they fit the budget, else recompute them.
  size_t floats = 0;
  for (const Row& r : rows) floats += train::encoder_act_floats(c, r.T);
  const bool keep = backward && floats <= contrastive_budget_ / sizeof(float);
  std::vector<train::EncoderAct> acts(keep ? rows.size() : 1);

  // ---- forward: encoder and head per sequence; emb rows 0..N-1 queries, N..2N-1 tools
  const size_t R = rows.size();
  train::Vec emb(R * OC), pooled(R * C), hid(R * H), rnorm(R);
  for (size_t r = 0; r < R; ++r) {
    train::EncoderAct& a = acts[keep ? r : 0];
    train::encoder_forward(a, rows[r].ids, rows[r].T, mp, c);
    retrieval_forward_train(emb.data() + r * OC, pooled.data() + r * C, hid.data() + r * H, rnorm.data() + r,
                            a.out.data(), a.valid.data(), mp.w1, mp.b1, mp.w2, rows[r].T, C, H, OC);
  }
  const float* q = emb.data();
  const float* t = emb.data() + static_cast<size_t>(N) * OC;
  train::Vec sim(static_cast<size_t>(N) * N), lse_row(N), lse_col(N);
  float loss = 0;
  clip_loss_forward(&loss, sim.data(), lse_row.data(), lse_col.data(), q, t, *mp.log_temp, N, OC);
  int correct = 0;
  for (int i = 0; i < N; ++i) {
    int best = 0;
    for (int j = 1; j < N; ++j)
      if (sim[static_cast<size_t>(i) * N + j] > sim[static_cast<size_t>(i) * N + best]) best = j;
    correct += best == i ? 1 : 0;
  }
  if (info) {
    info->loss = loss;
    info->accuracy = static_cast<double>(correct) / N;
    info->N = N;
    info->logit_scale = clip_logit_scale(*mp.log_temp);
  }
  if (!backward || weight == 0.0) return Status::Ok();

  // ---- backward: the same list, reversed
  train::Vec demb(R * OC, 0.0f);
  clip_loss_backward(demb.data(), demb.data() + static_cast<size_t>(N) * OC, mp.dlog_temp,
                     static_cast<float>(weight), sim.data(), lse_row.data(), lse_col.data(), q, t, *mp.log_temp, N,
                     OC);
  train::Vec denc;
  for (size_t r = 0; r < R; ++r) {
    train::EncoderAct& a = acts[keep ? r : 0];
    if (!keep) train::encoder_forward(a, rows[r].ids, rows[r].T, mp, c);
    denc.assign(a.out.size(), 0.0f);
    retrieval_backward(denc.data(), mp.dw1, mp.db1, mp.dw2, demb.data() + r * OC, emb.data() + r * OC,
                       pooled.data() + r * C, hid.data() + r * H, rnorm.data() + r, a.valid.data(), mp.w1, mp.w2,
                       rows[r].T, C, H, OC);
    train::encoder_backward(denc.data(), a, rows[r].ids, mp, c);
  }
  return Status::Ok();
}

bool TrainModel::clamp_log_temp() {
  const int64_t i = arena_.find("contrastive.log_temp");
  if (i < 0) return false;
  float* v = arena_.value(static_cast<size_t>(i));
  // The largest float inside the range (float(ln 100) rounds up, outside it).
  const float lo = static_cast<float>(kClipLogTempMin);
  float hi = static_cast<float>(kClipLogTempMax);
  if (static_cast<double>(hi) > kClipLogTempMax) hi = std::nextafter(hi, 0.0f);
  const float clamped = *v < lo ? lo : (*v > hi ? hi : *v);
  if (clamped == *v) return false;
  *v = clamped;
  return true;
}

}  // namespace np
