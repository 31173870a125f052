// spm_model.h — the parts of a SentencePiece ModelProto (sentencepiece_model.proto,
// proto2) that decide how text is encoded and decoded, parsed with our own wire reader.
// Field numbers are on disk (SentencePiece's schema); defaults are proto2 defaults.
// Not here: deciding what is supported (tokenizer.cpp does), training-only options.
#pragma once
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "np/status.h"

namespace np {

// ModelProto.SentencePiece (ModelProto field 1, repeated).
struct SpmPiece {
  std::string piece;  // 1: string
  float score = 0;    // 2: float
  int32_t type = 1;   // 3: enum Type { NORMAL=1 UNKNOWN=2 CONTROL=3 USER_DEFINED=4 BYTE=6 UNUSED=5 }
};

// TrainerSpec (ModelProto field 2): only what encoding/decoding or id lookup reads.
struct SpmTrainerSpec {
  int32_t model_type = 1;                   // 3: enum ModelType { UNIGRAM=1 BPE=2 WORD=3 CHAR=4 }
  bool treat_whitespace_as_suffix = false;  // 24
  bool byte_fallback = false;               // 35
  int32_t unk_id = 0, bos_id = 1, eos_id = 2, pad_id = -1;  // 40, 41, 42, 43
  std::string unk_surface = " \xE2\x81\x87 ";  // 44 (" ⁇ ")
  std::string unk_piece = "<unk>", bos_piece = "<s>", eos_piece = "</s>", pad_piece = "<pad>";  // 45..48
};

// NormalizerSpec (ModelProto field 3; the same message is the denormalizer, field 5).
struct SpmNormalizerSpec {
  std::string name;                  // 1
  std::string precompiled_charsmap;  // 2: bytes; empty for the `identity` rule
  bool add_dummy_prefix = true;           // 3
  bool remove_extra_whitespaces = true;   // 4
  bool escape_whitespaces = true;         // 5
  std::string normalization_rule_tsv;     // 6
};

struct SpmModel {
  std::vector<SpmPiece> pieces;
  SpmTrainerSpec trainer;
  SpmNormalizerSpec normalizer;
  bool has_denormalizer = false;
  SpmNormalizerSpec denormalizer;
};

// Parses a serialized ModelProto. Malformed bytes or a known field with the wrong wire
// type -> BAD_TOKENIZER naming the field and byte offset. Unknown fields are skipped.
Status spm_model_parse(const uint8_t* data, size_t size, SpmModel* out);

}  // namespace np
