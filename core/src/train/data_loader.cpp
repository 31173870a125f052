// data_loader.cpp — DataLoader: examples from an ExampleReader -> train pairs -> length-
// bucketed batches, with a position that restores to the same next batch.
// A bucket window is filled from the reader, sorted by encoder length, cut into batches and
// shuffled; the position is the reader's position when the window began plus the number of
// batches already handed out, so restoring re-reads that window and skips those batches.
// Not here: line parsing, tokenization (dataset.cpp, data_tokenize.cpp).
#include <algorithm>
#include <numeric>
#include <string>
#include <utility>
#include <vector>

#include "np/dataset.h"
#include "train/data_internal.h"
#include "util/rng.h"

namespace np {
namespace {

using data_detail::kSeedAugment;
using data_detail::kSeedBatches;
using data_detail::kSeedFingerprint;
using data_detail::mix_seed;

uint64_t loader_fingerprint(uint64_t reader_fp, const DataOptions& o, const ModelConfig& c, int32_t vocab) {
  const AugmentOptions& a = o.pair.augment;
  const uint64_t aug = (a.enabled ? 1 : 0) | (a.shuffle_tools ? 2 : 0) | (a.shuffle_params ? 4 : 0) |
                       (a.shuffle_tool_keys ? 8 : 0) | (a.shuffle_param_keys ? 16 : 0) |
                       (o.batch.shuffle_batches ? 32 : 0);
  uint64_t h = mix_seed(reader_fp, kSeedFingerprint, static_cast<uint64_t>(o.batch.batch_size),
                        static_cast<uint64_t>(o.batch.bucket_window));
  h = mix_seed(h, kSeedFingerprint, aug, static_cast<uint64_t>(vocab));
  return mix_seed(h, kSeedFingerprint, static_cast<uint64_t>(c.max_enc_len), static_cast<uint64_t>(c.max_dec_len));
}

}  // namespace

struct DataLoader::Impl {
  std::unique_ptr<ExampleReader> reader;
  Tokenizer tok;
  ModelConfig cfg;
  DataOptions opt;
  uint64_t fingerprint = 0;

  std::vector<TrainPair> pairs;               // the bucket window, in reading order
  std::vector<std::vector<size_t>> batches;   // indices into pairs, in hand-out order
  size_t batch_taken = 0;
  DataPosition window_start;  // reader position and counts when this window began
  bool filling = false;       // a fill was interrupted by an error; resume it
  bool ended = false;
  int64_t dropped = 0, truncated = 0, batches_out = 0;  // loader counts (first pass / all)
  int64_t consecutive_drops = 0;

  DataReport counts() const {
    DataReport r = reader->report();
    r.dropped_too_long = dropped;
    r.truncated_inputs = truncated;
    r.batches_out = batches_out;
    return r;
  }

  Status fill(bool* end) {
    *end = false;
    if (!filling) {
      window_start = reader->position();
      window_start.loader_fingerprint = fingerprint;
      window_start.report = counts();
      window_start.report.errors.clear();
      pairs.clear();
      batches.clear();
      batch_taken = 0;
      filling = true;
    }
    const size_t want = static_cast<size_t>(opt.batch.bucket_window);
    while (pairs.size() < want) {
      Example ex;
      bool reader_end = false;
      NP_RETURN_IF_ERROR(reader->next(&ex, &reader_end));
      if (reader_end) break;
      TrainPair p;
      const uint64_t seed = mix_seed(opt.reader.seed, kSeedAugment, static_cast<uint64_t>(ex.epoch), ex.offset);
      NP_RETURN_IF_ERROR(make_train_pair(tok, cfg, opt.pair, ex, seed, &p));
      if (!p.fits) {
        if (ex.epoch == 0) ++dropped;
        ++consecutive_drops;
        const DataReport& r = reader->report();
        if (r.epoch >= 1 && consecutive_drops > r.examples)
          return Status(Code::kInvalidInput, "no example fits the decoder context (" + std::to_string(cfg.max_dec_len) +
                                                 " tokens): all " + std::to_string(r.examples) +
                                                 " valid examples have longer targets");
        continue;
      }
      consecutive_drops = 0;
      if (p.enc_truncated && ex.epoch == 0) ++truncated;
      pairs.push_back(std::move(p));
    }
    filling = false;
    if (pairs.empty()) {
      ended = true;
      *end = true;
      return Status::Ok();
    }
    std::vector<size_t> order(pairs.size());
    std::iota(order.begin(), order.end(), size_t{0});
    std::stable_sort(order.begin(), order.end(),
                     [&](size_t a, size_t b) { return pairs[a].enc_ids.size() < pairs[b].enc_ids.size(); });
    const size_t B = static_cast<size_t>(opt.batch.batch_size);
    for (size_t i = 0; i < order.size(); i += B)
      batches.emplace_back(order.begin() + static_cast<std::ptrdiff_t>(i),
                           order.begin() + static_cast<std::ptrdiff_t>(std::min(order.size(), i + B)));
    if (opt.batch.shuffle_batches) {
      Rng rng(mix_seed(opt.reader.seed, kSeedBatches, static_cast<uint64_t>(window_start.epoch),
                       mix_seed(window_start.window_offset, kSeedBatches, window_start.window_taken, 0)));
      for (size_t i = batches.size(); i > 1; --i) std::swap(batches[i - 1], batches[rng.below(i)]);
    }
    return Status::Ok();
  }

  Status next(Batch* out, bool* end) {
    *end = false;
    if (ended) {
      *end = true;
      return Status::Ok();
    }
    if (batch_taken == batches.size()) {
      NP_RETURN_IF_ERROR(fill(end));
      if (*end) return Status::Ok();
    }
    std::vector<const TrainPair*> rows;
    for (size_t i : batches[batch_taken]) rows.push_back(&pairs[i]);
    *out = make_batch(rows, cfg.pad_id);
    ++batch_taken;
    ++batches_out;
    return Status::Ok();
  }

  DataPosition position() const {
    if (filling || batch_taken == batches.size() || ended) {
      // Between windows (or a fill cut short by an error, which restarts from here).
      DataPosition p = filling ? window_start : reader->position();
      p.loader_fingerprint = fingerprint;
      if (!filling) {
        p.report = counts();
        p.report.errors.clear();
      }
      p.batches_taken = 0;
      return p;
    }
    DataPosition p = window_start;
    p.batches_taken = batch_taken;
    return p;
  }

  Status restore(const DataPosition& pos) {
    if (pos.loader_fingerprint != fingerprint)
      return Status(Code::kInvalidInput,
                    "cannot restore the data position: it was saved with other loader options (batch size, "
                    "bucket window, augmentation, context lengths or vocabulary)");
    NP_RETURN_IF_ERROR(reader->restore(pos));
    dropped = pos.report.dropped_too_long;
    truncated = pos.report.truncated_inputs;
    batches_out = pos.report.batches_out;
    pairs.clear();
    batches.clear();
    batch_taken = 0;
    filling = false;
    ended = false;
    consecutive_drops = 0;
    if (pos.batches_taken == 0) return Status::Ok();
    bool end = false;
    NP_RETURN_IF_ERROR(fill(&end));
    if (end || batches.size() < pos.batches_taken)
      return Status(Code::kInvalidInput, "cannot restore the data position: its bucket window has fewer than " +
                                             std::to_string(pos.batches_taken) + " batches");
    batch_taken = static_cast<size_t>(pos.batches_taken);
    batches_out += static_cast<int64_t>(batch_taken);
    return Status::Ok();
  }
};

DataLoader::DataLoader() : impl_(new Impl) {}
DataLoader::~DataLoader() = default;

Result<std::unique_ptr<DataLoader>> DataLoader::open(const std::string& path, const Tokenizer& tokenizer,
                                                     const ModelConfig& config, const DataOptions& options) {
  if (options.batch.batch_size < 1) return Status(Code::kInvalidInput, "batch_size must be at least 1");
  if (options.batch.bucket_window < 1) return Status(Code::kInvalidInput, "bucket_window must be at least 1");
  if (config.max_enc_len < 2) return Status(Code::kInvalidInput, "max_enc_len must be at least 2");
  if (config.max_dec_len < 2) return Status(Code::kInvalidInput, "max_dec_len must be at least 2");
  auto reader = ExampleReader::open(path, options.reader);
  if (!reader.ok()) return reader.status();
  std::unique_ptr<DataLoader> l(new DataLoader());
  Impl& m = *l->impl_;
  m.reader = reader.take();
  m.tok = tokenizer;
  m.cfg = config;
  m.opt = options;
  m.fingerprint = loader_fingerprint(m.reader->position().reader_fingerprint, options, config, tokenizer.vocab_size());
  return l;
}

Status DataLoader::next(Batch* out, bool* end) { return impl_->next(out, end); }
DataPosition DataLoader::position() const { return impl_->position(); }
Status DataLoader::restore(const DataPosition& position) { return impl_->restore(position); }
DataReport DataLoader::report() const { return impl_->counts(); }

}  // namespace np
