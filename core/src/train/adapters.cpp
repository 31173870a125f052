// adapters.cpp — LoRA adapters and quantization-aware training as weight transforms around
// the forward/backward pass (np/adapters.h).
#include "np/adapters.h"

#include <algorithm>
#include <cmath>
#include <cstring>

#include "np/model.h"
#include "np/quant.h"
#include "util/rng.h"

namespace np {

namespace {

bool ends_with(const std::string& s, const std::string& suffix) {
  return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

const char* const kTargets[] = {"q", "k", "v", "o", "ffn", "retrieval"};

}  // namespace

Status parse_lora_targets(const std::string& list, std::vector<std::string>* out) {
  out->clear();
  size_t start = 0;
  while (start <= list.size()) {
    size_t end = list.find(',', start);
    if (end == std::string::npos) end = list.size();
    const std::string word = list.substr(start, end - start);
    if (!word.empty()) {
      if (std::find(std::begin(kTargets), std::end(kTargets), word) == std::end(kTargets))
        return Status(Code::kInvalidInput, "unknown LoRA target '" + word + "' (use q, k, v, o, ffn, retrieval)");
      if (std::find(out->begin(), out->end(), word) == out->end()) out->push_back(word);
    }
    start = end + 1;
  }
  if (out->empty()) return Status(Code::kInvalidInput, "no LoRA targets given");
  return Status::Ok();
}

bool is_lora_target(const std::string& name, const std::vector<std::string>& targets) {
  for (const std::string& t : targets) {
    if (t == "q" && ends_with(name, "attn_q.weight")) return true;
    if (t == "k" && ends_with(name, "attn_k.weight")) return true;
    if (t == "v" && ends_with(name, "attn_v.weight")) return true;
    if (t == "o" && ends_with(name, "attn_output.weight")) return true;
    if (t == "ffn" && (ends_with(name, "ffn_gate_proj.weight") || ends_with(name, "ffn_up_proj.weight") ||
                       ends_with(name, "ffn_down_proj.weight")))
      return true;
    if (t == "retrieval" && name.rfind("contrastive.", 0) == 0) return true;
  }
  return false;
}

Result<Adapters> Adapters::create(ParamArena& model, const LoraConfig& lora, GgmlType qat, uint64_t seed) {
  if (qat != GgmlType::F32 && qat != GgmlType::Q8_0 && qat != GgmlType::Q4_0)
    return Status(Code::kInvalidInput, "quantization-aware training supports q8_0 and q4_0");
  if (lora.rank < 0) return Status(Code::kInvalidInput, "LoRA rank must be >= 0");
  if (lora.rank > 0 && !(lora.alpha > 0)) return Status(Code::kInvalidInput, "LoRA alpha must be > 0");
  Adapters ad;
  ad.lora_ = lora;
  ad.qat_ = qat;
  ad.scale_ = lora.rank > 0 ? lora.alpha / lora.rank : 0.0;
  for (size_t i = 0; i < model.num_tensors(); ++i) {
    const ParamTensor& t = model.tensor(i);
    if (t.group != ParamGroup::kMatrix && t.group != ParamGroup::kEmbedding) continue;
    Item it;
    it.index = i;
    it.rows = t.shape[0];
    it.cols = t.shape[1];
    it.quantize = qat != GgmlType::F32 && matrix_storage_type(qat, it.cols) == qat;
    const bool lora_here = lora.rank > 0 && t.group == ParamGroup::kMatrix && is_lora_target(t.name, lora.targets);
    if (lora_here) {
      if (lora.rank > std::min(it.rows, it.cols))
        return Status(Code::kInvalidInput, "LoRA rank " + std::to_string(lora.rank) + " exceeds the size of " + t.name);
      auto a = ad.lora_params_.add("lora." + t.name + ".a", {lora.rank, it.cols}, ParamGroup::kMatrix);
      if (!a.ok()) return a.status();
      auto b = ad.lora_params_.add("lora." + t.name + ".b", {it.rows, lora.rank}, ParamGroup::kMatrix);
      if (!b.ok()) return b.status();
      it.a = static_cast<int64_t>(a.value());
      it.b = static_cast<int64_t>(b.value());
    }
    if (lora_here || it.quantize) ad.items_.push_back(std::move(it));
  }
  if (lora.rank > 0 && ad.lora_params_.num_tensors() == 0)
    return Status(Code::kInvalidInput, "no projection of this model matches the LoRA targets");
  Rng rng(seed ^ 0x4c6f5241ull);
  for (size_t j = 0; j < ad.lora_params_.num_tensors(); ++j) {
    NP_RETURN_IF_ERROR(ad.lora_params_.set_muon(j, false));
    ad.lora_params_.set_decay(j, false);
  }
  for (const Item& it : ad.items_) {
    if (it.a < 0) continue;
    float* a = ad.lora_params_.value(static_cast<size_t>(it.a));
    const double sd = 1.0 / std::sqrt(static_cast<double>(it.cols));
    for (int64_t j = 0; j < lora.rank * it.cols; ++j) a[j] = static_cast<float>(rng.normal() * sd);
    // B stays zero: the adapted model starts exactly at the base.
  }
  return ad;
}

// out (rows, cols) = fq(w + s B A).
void Adapters::compute_used(const Item& it, const float* w, float* out, bool fake_quant) {
  const int64_t R = it.rows, C = it.cols, r = lora_.rank;
  if (out != w) std::memcpy(out, w, sizeof(float) * static_cast<size_t>(R * C));
  if (it.a >= 0) {
    const float* A = lora_params_.value(static_cast<size_t>(it.a));
    const float* B = lora_params_.value(static_cast<size_t>(it.b));
    const float s = static_cast<float>(scale_);
    for (int64_t i = 0; i < R; ++i) {
      float* row = out + i * C;
      for (int64_t k = 0; k < r; ++k) {
        const float bik = s * B[i * r + k];
        if (bik == 0.0f) continue;
        const float* arow = A + k * C;
        for (int64_t j = 0; j < C; ++j) row[j] += bik * arow[j];
      }
    }
  }
  if (fake_quant && it.quantize) {
    const size_t block_bytes = qat_ == GgmlType::Q8_0 ? sizeof(BlockQ8_0) : sizeof(BlockQ4_0);
    qbuf_.resize(static_cast<size_t>(C / 32) * block_bytes);
    for (int64_t i = 0; i < R; ++i) {
      quantize_from_f32(qat_, out + i * C, qbuf_.data(), C);
      dequantize_to_f32(qat_, qbuf_.data(), out + i * C, C);
    }
  }
}

void Adapters::apply(ParamArena& model, bool fake_quant) {
  if (items_.empty()) return;
  for (Item& it : items_) {
    float* w = model.value(it.index);
    const size_t n = static_cast<size_t>(it.rows * it.cols);
    it.master.assign(w, w + n);
    compute_used(it, it.master.data(), w, fake_quant);
  }
  applied_ = true;
}

void Adapters::backprop(const ParamArena& model) {
  if (lora_params_.num_tensors() == 0) return;
  lora_params_.zero_grad();
  const float s = static_cast<float>(scale_);
  const int64_t r = lora_.rank;
  for (const Item& it : items_) {
    if (it.a < 0) continue;
    const int64_t R = it.rows, C = it.cols;
    const float* dW = model.grad(it.index);
    const float* A = lora_params_.value(static_cast<size_t>(it.a));
    const float* B = lora_params_.value(static_cast<size_t>(it.b));
    float* dA = lora_params_.grad(static_cast<size_t>(it.a));
    float* dB = lora_params_.grad(static_cast<size_t>(it.b));
    for (int64_t i = 0; i < R; ++i) {
      const float* g = dW + i * C;
      for (int64_t k = 0; k < r; ++k) {
        // dB[i,k] = s * sum_j dW[i,j] A[k,j];  dA[k,:] += s * B[i,k] dW[i,:]
        const float* arow = A + k * C;
        double acc = 0.0;
        for (int64_t j = 0; j < C; ++j) acc += static_cast<double>(g[j]) * arow[j];
        dB[i * r + k] += static_cast<float>(s * acc);
        const float bik = s * B[i * r + k];
        if (bik == 0.0f) continue;
        float* darow = dA + k * C;
        for (int64_t j = 0; j < C; ++j) darow[j] += bik * g[j];
      }
    }
  }
}

void Adapters::restore(ParamArena& model) {
  if (!applied_) return;
  for (Item& it : items_) std::memcpy(model.value(it.index), it.master.data(), sizeof(float) * it.master.size());
  applied_ = false;
}

}  // namespace np
