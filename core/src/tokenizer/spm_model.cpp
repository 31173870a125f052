// spm_model.cpp — SentencePiece ModelProto parse over the wire reader in protobuf.h.
// Repeated occurrences of a singular field follow protobuf's rules: the last scalar wins
// and sub-messages merge.
#include "tokenizer/spm_model.h"

#include "tokenizer/protobuf.h"

namespace np {
namespace {

Status wrong_wire(const char* field, const pb::Field& f) {
  return Status(Code::kBadTokenizer, std::string("protobuf: ") + field + ": unexpected wire type " +
                                         std::to_string(static_cast<uint32_t>(f.wire)) + " at byte " +
                                         std::to_string(f.offset));
}

Status get_varint(const char* field, const pb::Field& f, uint64_t* out) {
  if (f.wire != pb::WireType::kVarint) return wrong_wire(field, f);
  *out = f.varint;
  return Status::Ok();
}

// int32 and enum fields: the low 32 bits, two's complement (negatives use 10 bytes).
Status get_i32(const char* field, const pb::Field& f, int32_t* out) {
  uint64_t v = 0;
  NP_RETURN_IF_ERROR(get_varint(field, f, &v));
  *out = static_cast<int32_t>(static_cast<uint32_t>(v));
  return Status::Ok();
}

Status get_bool(const char* field, const pb::Field& f, bool* out) {
  uint64_t v = 0;
  NP_RETURN_IF_ERROR(get_varint(field, f, &v));
  *out = v != 0;
  return Status::Ok();
}

Status get_bytes(const char* field, const pb::Field& f, std::string* out) {
  if (f.wire != pb::WireType::kLen) return wrong_wire(field, f);
  out->assign(f.len.data(), f.len.size());
  return Status::Ok();
}

Status parse_piece(std::string_view bytes, size_t base, SpmPiece* out) {
  pb::Reader r(bytes, base);
  pb::Field f;
  bool has = false;
  for (;;) {
    NP_RETURN_IF_ERROR(r.next(&f, &has));
    if (!has) return Status::Ok();
    switch (f.number) {
      case 1: NP_RETURN_IF_ERROR(get_bytes("SentencePiece.piece", f, &out->piece)); break;
      case 2:
        if (f.wire != pb::WireType::kI32) return wrong_wire("SentencePiece.score", f);
        out->score = pb::field_float(f);
        break;
      case 3: NP_RETURN_IF_ERROR(get_i32("SentencePiece.type", f, &out->type)); break;
      default: break;
    }
  }
}

Status parse_trainer(std::string_view bytes, size_t base, SpmTrainerSpec* t) {
  pb::Reader r(bytes, base);
  pb::Field f;
  bool has = false;
  for (;;) {
    NP_RETURN_IF_ERROR(r.next(&f, &has));
    if (!has) return Status::Ok();
    switch (f.number) {
      case 3: NP_RETURN_IF_ERROR(get_i32("TrainerSpec.model_type", f, &t->model_type)); break;
      case 24: NP_RETURN_IF_ERROR(get_bool("TrainerSpec.treat_whitespace_as_suffix", f, &t->treat_whitespace_as_suffix)); break;
      case 35: NP_RETURN_IF_ERROR(get_bool("TrainerSpec.byte_fallback", f, &t->byte_fallback)); break;
      case 40: NP_RETURN_IF_ERROR(get_i32("TrainerSpec.unk_id", f, &t->unk_id)); break;
      case 41: NP_RETURN_IF_ERROR(get_i32("TrainerSpec.bos_id", f, &t->bos_id)); break;
      case 42: NP_RETURN_IF_ERROR(get_i32("TrainerSpec.eos_id", f, &t->eos_id)); break;
      case 43: NP_RETURN_IF_ERROR(get_i32("TrainerSpec.pad_id", f, &t->pad_id)); break;
      case 44: NP_RETURN_IF_ERROR(get_bytes("TrainerSpec.unk_surface", f, &t->unk_surface)); break;
      case 45: NP_RETURN_IF_ERROR(get_bytes("TrainerSpec.unk_piece", f, &t->unk_piece)); break;
      case 46: NP_RETURN_IF_ERROR(get_bytes("TrainerSpec.bos_piece", f, &t->bos_piece)); break;
      case 47: NP_RETURN_IF_ERROR(get_bytes("TrainerSpec.eos_piece", f, &t->eos_piece)); break;
      case 48: NP_RETURN_IF_ERROR(get_bytes("TrainerSpec.pad_piece", f, &t->pad_piece)); break;
      default: break;  // training-only options
    }
  }
}

Status parse_normalizer(std::string_view bytes, size_t base, SpmNormalizerSpec* n) {
  pb::Reader r(bytes, base);
  pb::Field f;
  bool has = false;
  for (;;) {
    NP_RETURN_IF_ERROR(r.next(&f, &has));
    if (!has) return Status::Ok();
    switch (f.number) {
      case 1: NP_RETURN_IF_ERROR(get_bytes("NormalizerSpec.name", f, &n->name)); break;
      case 2: NP_RETURN_IF_ERROR(get_bytes("NormalizerSpec.precompiled_charsmap", f, &n->precompiled_charsmap)); break;
      case 3: NP_RETURN_IF_ERROR(get_bool("NormalizerSpec.add_dummy_prefix", f, &n->add_dummy_prefix)); break;
      case 4: NP_RETURN_IF_ERROR(get_bool("NormalizerSpec.remove_extra_whitespaces", f, &n->remove_extra_whitespaces)); break;
      case 5: NP_RETURN_IF_ERROR(get_bool("NormalizerSpec.escape_whitespaces", f, &n->escape_whitespaces)); break;
      case 6: NP_RETURN_IF_ERROR(get_bytes("NormalizerSpec.normalization_rule_tsv", f, &n->normalization_rule_tsv)); break;
      default: break;
    }
  }
}

}  // namespace

Status spm_model_parse(const uint8_t* data, size_t size, SpmModel* out) {
  *out = SpmModel();
  if (size == 0) return Status(Code::kBadTokenizer, "SentencePiece model is empty (0 bytes)");
  pb::Reader r(data, size);
  pb::Field f;
  bool has = false;
  for (;;) {
    NP_RETURN_IF_ERROR(r.next(&f, &has));
    if (!has) break;
    if (f.number < 1 || f.number > 5) continue;  // unknown field: skipped
    static const char* kNames[] = {"", "ModelProto.pieces", "ModelProto.trainer_spec",
                                   "ModelProto.normalizer_spec", "ModelProto.self_test_data",
                                   "ModelProto.denormalizer_spec"};
    if (f.wire != pb::WireType::kLen) return wrong_wire(kNames[f.number], f);
    // Absolute offset of the payload, so nested errors name a byte of the file.
    const size_t base = static_cast<size_t>(reinterpret_cast<const uint8_t*>(f.len.data()) - data);
    switch (f.number) {
      case 1: {
        out->pieces.emplace_back();
        NP_RETURN_IF_ERROR(parse_piece(f.len, base, &out->pieces.back()));
        break;
      }
      case 2: NP_RETURN_IF_ERROR(parse_trainer(f.len, base, &out->trainer)); break;
      case 3: NP_RETURN_IF_ERROR(parse_normalizer(f.len, base, &out->normalizer)); break;
      case 4: break;  // self_test_data: samples for spm_train's self test, not needed
      case 5:
        out->has_denormalizer = true;
        NP_RETURN_IF_ERROR(parse_normalizer(f.len, base, &out->denormalizer));
        break;
    }
  }
  return Status::Ok();
}

}  // namespace np
