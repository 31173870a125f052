// protobuf.h — a minimal reader for the protobuf wire format, enough to parse a
// SentencePiece ModelProto without linking protobuf. Every read is bounds-checked;
// malformed input is a BAD_TOKENIZER status naming the problem and its byte offset.
// Not here: a writer, reflection, message schemas (spm_model.cpp knows ModelProto).
//
// Wire format (https://protobuf.dev/programming-guides/encoding/):
//   1. a field is a tag varint (field_number << 3 | wire_type) followed by its value;
//   2. wire type 0 VARINT: base-128 little-endian, at most 10 bytes;
//   3. wire type 1 I64: 8 bytes little-endian; 5 I32: 4 bytes little-endian;
//   4. wire type 2 LEN: a varint byte length, then that many bytes (strings, bytes,
//      sub-messages, packed repeated scalars);
//   5. wire types 3/4 SGROUP/EGROUP: a deprecated group, fields up to the matching
//      end tag (skipped here, nesting limited to kMaxGroupDepth).
#pragma once
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "np/status.h"

namespace np {
namespace pb {

enum class WireType : uint32_t { kVarint = 0, kI64 = 1, kLen = 2, kSGroup = 3, kEGroup = 4, kI32 = 5 };

// One decoded field. Only the member matching `wire` is meaningful.
struct Field {
  uint32_t number = 0;
  WireType wire = WireType::kVarint;
  uint64_t varint = 0;    // kVarint
  uint32_t i32 = 0;       // kI32 (raw bits; float via field_float)
  uint64_t i64 = 0;       // kI64
  std::string_view len;   // kLen: the payload bytes (points into the reader's buffer)
  size_t offset = 0;      // absolute byte offset of the tag, for error messages
};

float field_float(const Field& f);  // the I32 bits as an IEEE float

class Reader {
 public:
  // `base` is the absolute offset of data[0] in the outermost buffer (for messages).
  Reader(const uint8_t* data, size_t size, size_t base = 0) : data_(data), size_(size), base_(base) {}
  Reader(std::string_view bytes, size_t base) :
      Reader(reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size(), base) {}

  bool done() const { return pos_ >= size_; }
  // Reads the next field. Groups are skipped whole (the call moves on to the next
  // non-group field, or returns with *has_field = false at the end of the buffer).
  Status next(Field* out, bool* has_field);

 private:
  Status read_varint(uint64_t* out);
  Status read_field(Field* out);
  Status skip_group(uint32_t number, int depth);
  Status error(const std::string& what, size_t at) const;

  static constexpr int kMaxGroupDepth = 64;
  const uint8_t* data_;
  size_t size_;
  size_t base_;
  size_t pos_ = 0;
};

}  // namespace pb
}  // namespace np
