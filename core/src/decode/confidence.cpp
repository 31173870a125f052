// confidence.cpp — the calibration map, its fitting (isotonic regression), its GGUF key, and
// the calibration error and coverage curve used to report it (see np/confidence.h).
#include "np/confidence.h"

#include <algorithm>
#include <cmath>
#include <numeric>

namespace np {

double Calibration::apply(double raw) const {
  if (x.empty()) return raw;
  if (raw <= x.front()) return y.front();
  if (raw >= x.back()) return y.back();
  const size_t hi = static_cast<size_t>(std::upper_bound(x.begin(), x.end(), raw) - x.begin());
  const size_t lo = hi - 1;
  const double span = x[hi] - x[lo];
  const double t = span > 0 ? (raw - x[lo]) / span : 1.0;
  return y[lo] + t * (y[hi] - y[lo]);
}

Status calibration_from_gguf(const GgufFile& f, Calibration* out) {
  *out = Calibration();
  if (!f.find(kCalibrationKey)) return Status::Ok();
  const std::vector<GgufValue>* arr = nullptr;
  NP_RETURN_IF_ERROR(f.get_array(kCalibrationKey, GgufValueType::F32, &arr));
  const std::string bad = std::string(kCalibrationKey) + ": ";
  if (arr->size() < 4 || arr->size() % 2 != 0)
    return Status(Code::kBadMetadata, bad + "needs an even number (>= 4) of values x0, y0, x1, y1, ...");
  Calibration c;
  for (size_t i = 0; i < arr->size(); i += 2) {
    const double x = (*arr)[i].f, y = (*arr)[i + 1].f;
    if (!(x >= 0 && x <= 1 && y >= 0 && y <= 1)) return Status(Code::kBadMetadata, bad + "a knot lies outside [0, 1]");
    if (!c.x.empty() && (x <= c.x.back() || y < c.y.back()))
      return Status(Code::kBadMetadata, bad + "knots must have rising x and non-decreasing y");
    c.x.push_back(x);
    c.y.push_back(y);
  }
  *out = std::move(c);
  return Status::Ok();
}

void calibration_to_gguf(const Calibration& c, GgufWriter& w) {
  std::vector<GgufValue> v;
  for (size_t i = 0; i < c.x.size(); ++i) {
    v.push_back(GgufValue::make_f32(static_cast<float>(c.x[i])));
    v.push_back(GgufValue::make_f32(static_cast<float>(c.y[i])));
  }
  w.set_kv(kCalibrationKey, GgufValue::make_array(GgufValueType::F32, std::move(v)));
}

Result<Calibration> fit_calibration(const std::vector<double>& raw, const std::vector<int>& correct, int max_knots) {
  if (raw.empty() || raw.size() != correct.size())
    return Status(Code::kInvalidInput, "calibration needs as many scores as outcomes, at least one");
  std::vector<size_t> order(raw.size());
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) { return raw[a] < raw[b]; });
  // Pool adjacent violators: blocks of (sum of outcomes, sum of scores, count) whose means
  // (outcome rates) rise from left to right.
  struct Block { double hits, score; int64_t n; double rate() const { return hits / static_cast<double>(n); } };
  std::vector<Block> blocks;
  for (size_t i : order) {
    blocks.push_back({correct[i] ? 1.0 : 0.0, raw[i], 1});
    while (blocks.size() > 1 && blocks[blocks.size() - 2].rate() >= blocks.back().rate()) {
      Block b = blocks.back();
      blocks.pop_back();
      blocks.back().hits += b.hits;
      blocks.back().score += b.score;
      blocks.back().n += b.n;
    }
  }
  // Too many blocks: merge neighbours (the smallest pair first) until max_knots remain;
  // merging neighbours of a rising sequence keeps it rising.
  max_knots = std::max(2, max_knots);
  while (static_cast<int>(blocks.size()) > max_knots) {
    size_t best = 0;
    for (size_t i = 1; i + 1 < blocks.size(); ++i)
      if (blocks[i].n + blocks[i + 1].n < blocks[best].n + blocks[best + 1].n) best = i;
    blocks[best].hits += blocks[best + 1].hits;
    blocks[best].score += blocks[best + 1].score;
    blocks[best].n += blocks[best + 1].n;
    blocks.erase(blocks.begin() + static_cast<std::ptrdiff_t>(best) + 1);
  }
  Calibration c;
  for (const Block& b : blocks) {
    const double x = std::clamp(b.score / static_cast<double>(b.n), 0.0, 1.0);
    const double y = std::clamp(b.rate(), 0.0, 1.0);
    if (!c.x.empty() && x <= c.x.back()) {  // equal mean scores: keep one knot, the higher rate
      c.y.back() = std::max(c.y.back(), y);
      continue;
    }
    c.x.push_back(x);
    c.y.push_back(c.y.empty() ? y : std::max(y, c.y.back()));
  }
  if (c.x.size() == 1) {  // one block: a flat map at its rate
    const double y = c.y[0];
    c.x = {0.0, 1.0};
    c.y = {y, y};
  }
  return c;
}

double expected_calibration_error(const std::vector<double>& confidence, const std::vector<int>& correct, int bins) {
  if (confidence.empty() || confidence.size() != correct.size() || bins < 1) return 0;
  std::vector<double> sum_conf(static_cast<size_t>(bins), 0), sum_hit(static_cast<size_t>(bins), 0);
  std::vector<int64_t> n(static_cast<size_t>(bins), 0);
  for (size_t i = 0; i < confidence.size(); ++i) {
    const double c = std::clamp(confidence[i], 0.0, 1.0);
    const size_t b = std::min(static_cast<size_t>(c * bins), static_cast<size_t>(bins - 1));
    sum_conf[b] += c;
    sum_hit[b] += correct[i] ? 1 : 0;
    ++n[b];
  }
  double ece = 0;
  for (size_t b = 0; b < n.size(); ++b)
    if (n[b] > 0) ece += std::fabs(sum_conf[b] - sum_hit[b]) / static_cast<double>(confidence.size());
  return ece;
}

std::vector<CoveragePoint> coverage_curve(const std::vector<double>& confidence, const std::vector<int>& correct,
                                          const std::vector<double>& coverages) {
  std::vector<CoveragePoint> out;
  if (confidence.empty() || confidence.size() != correct.size()) return out;
  std::vector<size_t> order(confidence.size());
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) { return confidence[a] > confidence[b]; });
  for (double cov : coverages) {
    const size_t k = std::max<size_t>(1, std::min(order.size(), static_cast<size_t>(std::llround(cov * static_cast<double>(order.size())))));
    int64_t hits = 0;
    for (size_t i = 0; i < k; ++i) hits += correct[order[i]] ? 1 : 0;
    out.push_back({static_cast<double>(k) / static_cast<double>(order.size()), confidence[order[k - 1]],
                   static_cast<double>(hits) / static_cast<double>(k)});
  }
  return out;
}

}  // namespace np
