// scripted_model.h — the stand-in "model" of the decoding fuzz targets (fuzz_grammar,
// fuzz_priors): a synthetic tokenizer and a greedy_decode step whose logits the fuzzer's bytes
// choose. Two bytes per step name the token it prefers (logit 10 over a flat 0..0.06 floor);
// once the bytes run out it prefers EOS, so every run ends. The decoder must still emit only
// what the grammar and the priors allow, whatever the bytes ask for.
#pragma once

#include <cstddef>
#include <cstdint>

#include "decode/greedy.h"
#include "np/model.h"

namespace fuzz {

inline const np::Tokenizer& scripted_tokenizer() {
  static const np::Tokenizer tok = np::synthetic_tokenizer(512).take();
  return tok;
}

// choices: n_choices two-byte steps (low byte first), read in order, one per decoding step.
class ScriptedModel {
 public:
  ScriptedModel(const np::Tokenizer& tok, const uint8_t* choices, size_t n_choices)
      : tok_(tok), choices_(choices), n_choices_(n_choices) {}

  // The decoding budget the fuzz targets give: one step past the choices, at most 300.
  int32_t budget() const { return static_cast<int32_t>(n_choices_ < 300 ? n_choices_ + 1 : 300); }

  np::Status operator()(int32_t, float* logits) {
    if (!logits) return np::Status::Ok();  // a token jump-forward appends: nothing to choose
    for (int32_t i = 0; i < tok_.vocab_size(); ++i) logits[i] = static_cast<float>(i % 7) * 0.01f;
    if (step_ < n_choices_) {
      const int32_t id = (choices_[2 * step_] | (choices_[2 * step_ + 1] << 8)) % tok_.vocab_size();
      logits[id] = 10.0f;
    } else {
      logits[1] = 10.0f;  // EOS once the choices run out
    }
    ++step_;
    return np::Status::Ok();
  }

 private:
  const np::Tokenizer& tok_;
  const uint8_t* choices_;
  size_t n_choices_;
  size_t step_ = 0;
};

}  // namespace fuzz
