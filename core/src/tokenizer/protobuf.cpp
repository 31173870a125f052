// protobuf.cpp — bounds-checked protobuf wire-format reader (see protobuf.h for the layout).
#include "tokenizer/protobuf.h"

#include <cstring>
#include <string>

namespace np {
namespace pb {

float field_float(const Field& f) {
  float v;
  std::memcpy(&v, &f.i32, sizeof v);
  return v;
}

Status Reader::error(const std::string& what, size_t at) const {
  return Status(Code::kBadTokenizer, "protobuf: " + what + " at byte " + std::to_string(base_ + at));
}

// Base-128 varint: 7 bits per byte, low group first, high bit set on all but the last
// byte; at most 10 bytes, and the 10th may only carry the top bit of a uint64.
Status Reader::read_varint(uint64_t* out) {
  const size_t start = pos_;
  uint64_t v = 0;
  for (int i = 0; i < 10; ++i) {
    if (pos_ >= size_) return error("truncated varint", start);
    const uint8_t b = data_[pos_++];
    if (i == 9 && b > 1) return error("varint overflows 64 bits", start);
    v |= static_cast<uint64_t>(b & 0x7F) << (7 * i);
    if (!(b & 0x80)) {
      *out = v;
      return Status::Ok();
    }
  }
  return error("varint longer than 10 bytes", start);
}

Status Reader::read_field(Field* out) {
  const size_t start = pos_;
  uint64_t tag = 0;
  NP_RETURN_IF_ERROR(read_varint(&tag));
  const uint64_t number = tag >> 3;
  const uint32_t wire = static_cast<uint32_t>(tag & 7);
  if (number == 0 || number > 0x1FFFFFFF) return error("invalid field number " + std::to_string(number), start);
  *out = Field();
  out->number = static_cast<uint32_t>(number);
  out->offset = base_ + start;
  switch (wire) {
    case 0:
      out->wire = WireType::kVarint;
      return read_varint(&out->varint);
    case 1:
      out->wire = WireType::kI64;
      if (size_ - pos_ < 8) return error("truncated 64-bit field " + std::to_string(number), start);
      for (int i = 0; i < 8; ++i) out->i64 |= static_cast<uint64_t>(data_[pos_ + i]) << (8 * i);
      pos_ += 8;
      return Status::Ok();
    case 5:
      out->wire = WireType::kI32;
      if (size_ - pos_ < 4) return error("truncated 32-bit field " + std::to_string(number), start);
      for (int i = 0; i < 4; ++i) out->i32 |= static_cast<uint32_t>(data_[pos_ + i]) << (8 * i);
      pos_ += 4;
      return Status::Ok();
    case 2: {
      out->wire = WireType::kLen;
      uint64_t n = 0;
      NP_RETURN_IF_ERROR(read_varint(&n));
      if (n > size_ - pos_) {
        return error("field " + std::to_string(number) + " length " + std::to_string(n) +
                         " runs past the end (" + std::to_string(size_ - pos_) + " bytes left)",
                     start);
      }
      out->len = std::string_view(reinterpret_cast<const char*>(data_ + pos_), static_cast<size_t>(n));
      pos_ += static_cast<size_t>(n);
      return Status::Ok();
    }
    case 3:
      out->wire = WireType::kSGroup;
      return Status::Ok();
    case 4:
      out->wire = WireType::kEGroup;
      return Status::Ok();
    default:
      return error("invalid wire type " + std::to_string(wire) + " for field " + std::to_string(number), start);
  }
}

Status Reader::skip_group(uint32_t number, int depth) {
  if (depth > kMaxGroupDepth) return error("groups nested too deeply", pos_);
  const size_t start = pos_;
  for (;;) {
    if (pos_ >= size_) return error("unterminated group " + std::to_string(number), start);
    Field f;
    NP_RETURN_IF_ERROR(read_field(&f));
    if (f.wire == WireType::kSGroup) {
      NP_RETURN_IF_ERROR(skip_group(f.number, depth + 1));
    } else if (f.wire == WireType::kEGroup) {
      if (f.number != number) return error("mismatched end of group " + std::to_string(number), f.offset - base_);
      return Status::Ok();
    }
  }
}

Status Reader::next(Field* out, bool* has_field) {
  for (;;) {
    if (done()) {
      *has_field = false;
      return Status::Ok();
    }
    NP_RETURN_IF_ERROR(read_field(out));
    if (out->wire == WireType::kSGroup) {
      NP_RETURN_IF_ERROR(skip_group(out->number, 1));
      continue;
    }
    if (out->wire == WireType::kEGroup) return error("end of group without a start", out->offset - base_);
    *has_field = true;
    return Status::Ok();
  }
}

}  // namespace pb
}  // namespace np
