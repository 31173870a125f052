// confidence.h — how sure a call is, and how well that number is calibrated.
//
// Raw score of an answer: the probability the model gave (full softmax, before the grammar)
// to its weakest choice, i.e. the minimum over the generated tokens of p(token). A token the
// grammar forced against the model's preference gets the low probability the model gave it,
// so a call the grammar had to steer scores low. Per call: the same minimum over that call's
// tokens. A model file may carry a calibration: a monotone, piecewise-linear map from the raw
// score to the probability that the answer is exactly right, fitted on a dev split
// (`needlepoint calibrate`); the engine then reports calibrated values. Definitions and
// figures: docs/confidence.md.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "np/gguf.h"
#include "np/status.h"

namespace np {

// Metadata key of the calibration: F32 array x0, y0, x1, y1, ... with x ascending in [0, 1]
// and y non-decreasing in [0, 1] (at least 2 knots). Optional; files that carry it have
// needle.format_version 2.
inline constexpr char kCalibrationKey[] = "needlepoint.confidence.calibration";

struct Calibration {
  std::vector<double> x, y;  // knots
  bool empty() const { return x.empty(); }
  // Piecewise-linear through the knots, flat outside them; the identity when empty.
  double apply(double raw) const;
};

// Absent key: an empty calibration. Malformed (wrong type, odd length, unsorted, outside
// [0, 1], decreasing): BadMetadata naming the key.
Status calibration_from_gguf(const GgufFile& f, Calibration* out);
void calibration_to_gguf(const Calibration& c, GgufWriter& w);

// Fits the calibration: isotonic regression (pool adjacent violators) of correct (0/1) on
// raw, then one knot per pooled block (at its mean raw score), at most `max_knots` (blocks
// merged by count when there are more). InvalidInput when the inputs are empty or of
// different lengths.
Result<Calibration> fit_calibration(const std::vector<double>& raw, const std::vector<int>& correct,
                                    int max_knots = 20);

// Expected calibration error over `bins` equal-width bins of confidence: sum over bins of
// (share of examples in the bin) * |mean confidence - accuracy|.
double expected_calibration_error(const std::vector<double>& confidence, const std::vector<int>& correct,
                                  int bins = 10);

// Accuracy against coverage: answer only the examples whose confidence is at least a
// threshold; for each target coverage (share answered, e.g. 1.0, 0.9, ...) the threshold
// that answers that share (the most confident first) and the accuracy on the answered ones.
struct CoveragePoint {
  double coverage = 0;   // share answered
  double threshold = 0;  // lowest confidence answered
  double accuracy = 0;   // share of the answered that are correct
};
std::vector<CoveragePoint> coverage_curve(const std::vector<double>& confidence, const std::vector<int>& correct,
                                          const std::vector<double>& coverages);

}  // namespace np
