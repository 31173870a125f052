// data_internal.h — helpers shared by the data pipeline's files (dataset.cpp, data_*.cpp):
// bounded JSON parsing, seed derivation, message quoting. Internal; not installed.
// Not here: anything the trainer calls (np/dataset.h).
#pragma once
#include <cstdint>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "util/json_text.h"
#include "np/status.h"

namespace np::data_detail {

using json = nlohmann::ordered_json;

// Parses `text` with nlohmann's no-exception SAX parser. Fails (false, *error set) on a
// syntax error ("... (byte N)"), nesting deeper than max_depth, or an integer that does not
// fit in 64 bits (nlohmann would silently make it a double, changing its digits).
bool parse_json_bounded(std::string_view text, int max_depth, json* out, std::string* error);

// json_type_name and quote (for messages) are the shared ones in util/json_text.h.
using ::np::json_type_name;
inline std::string quote(std::string_view s) { return quote_for_message(s); }

// A seed derived from (seed, tag, a, b) by splitmix64 steps: independent streams for the
// shuffle windows, the augmentation of each example and the batch order, each a pure
// function of where it is used, so nothing but positions needs saving.
uint64_t mix_seed(uint64_t seed, uint64_t tag, uint64_t a, uint64_t b);
inline constexpr uint64_t kSeedWindow = 1, kSeedAugment = 2, kSeedBatches = 3, kSeedFingerprint = 4;

}  // namespace np::data_detail
