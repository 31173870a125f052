// gguf_types.cpp — ggml tensor-type table, tensor byte sizes, GgufValue constructors and
// the small checks the reader and writer share.
// Not here: parsing or writing bytes (reader.cpp, writer.cpp).
#include <limits>
#include <string>

#include "gguf/gguf_internal.h"
#include "np/gguf.h"

namespace np {

const char* ggml_type_name(GgmlType t) {
  switch (t) {
    case GgmlType::F32: return "F32";
    case GgmlType::F16: return "F16";
    case GgmlType::Q4_0: return "Q4_0";
    case GgmlType::Q8_0: return "Q8_0";
    case GgmlType::BF16: return "BF16";
  }
  return "UNKNOWN";
}

bool ggml_type_known(uint32_t t) {
  switch (static_cast<GgmlType>(t)) {
    case GgmlType::F32:
    case GgmlType::F16:
    case GgmlType::Q4_0:
    case GgmlType::Q8_0:
    case GgmlType::BF16:
      return true;
  }
  return false;
}

//              F32 F16 Q4_0 Q8_0 BF16
// block size     1   1   32   32    1
// block bytes    4   2   18   34    2
int64_t ggml_type_block_size(GgmlType t) {
  switch (t) {
    case GgmlType::F32:
    case GgmlType::F16:
    case GgmlType::BF16:
      return 1;
    case GgmlType::Q4_0:
    case GgmlType::Q8_0:
      return 32;
  }
  return 0;
}

int64_t ggml_type_block_bytes(GgmlType t) {
  switch (t) {
    case GgmlType::F32: return 4;
    case GgmlType::F16: return 2;
    case GgmlType::BF16: return 2;
    case GgmlType::Q4_0: return 18;
    case GgmlType::Q8_0: return 34;
  }
  return 0;
}

Status ggml_row_bytes(GgmlType t, int64_t ne0, uint64_t* out) {
  if (!ggml_type_known(static_cast<uint32_t>(t))) {
    return Status(Code::kBadType, "unknown ggml type " + std::to_string(static_cast<uint32_t>(t)));
  }
  if (ne0 < 0) return Status(Code::kBadShape, "negative row length " + std::to_string(ne0));
  const int64_t bs = ggml_type_block_size(t);
  if (ne0 % bs != 0) {
    return Status(Code::kBadShape, std::string(ggml_type_name(t)) + " row length " +
                                       std::to_string(ne0) + " is not a multiple of " +
                                       std::to_string(bs));
  }
  const uint64_t blocks = static_cast<uint64_t>(ne0 / bs);
  const uint64_t bb = static_cast<uint64_t>(ggml_type_block_bytes(t));
  if (blocks > std::numeric_limits<uint64_t>::max() / bb) {
    return Status(Code::kOverflow, "row of " + std::to_string(ne0) + " " + ggml_type_name(t) +
                                       " values overflows 64 bits");
  }
  *out = blocks * bb;
  return Status::Ok();
}

Status ggml_tensor_nbytes(GgmlType t, const std::vector<int64_t>& dims, uint64_t* out) {
  if (dims.empty() || dims.size() > gguf_detail::kMaxDims) {
    return Status(Code::kBadShape, "tensor has " + std::to_string(dims.size()) +
                                       " dims (1 to 4 allowed)");
  }
  int64_t n = 1;
  for (size_t i = 0; i < dims.size(); ++i) {
    if (dims[i] < 1) {
      return Status(Code::kBadShape, "dim " + std::to_string(i) + " is " +
                                         std::to_string(dims[i]) + " (must be >= 1)");
    }
    if (n > std::numeric_limits<int64_t>::max() / dims[i]) {
      return Status(Code::kOverflow, "element count overflows int64");
    }
    n *= dims[i];
  }
  uint64_t row = 0;
  NP_RETURN_IF_ERROR(ggml_row_bytes(t, dims[0], &row));
  const uint64_t rows = static_cast<uint64_t>(n / dims[0]);
  if (row != 0 && rows > std::numeric_limits<uint64_t>::max() / row) {
    return Status(Code::kOverflow, "tensor byte size overflows 64 bits");
  }
  *out = row * rows;
  return Status::Ok();
}

int64_t GgufTensorInfo::n_elements() const {
  int64_t n = 1;
  for (int64_t d : dims) n *= d;
  return n;
}

GgufValue GgufValue::make_u32(uint32_t v) {
  GgufValue x;
  x.type = GgufValueType::U32;
  x.u = v;
  return x;
}

GgufValue GgufValue::make_i32(int32_t v) {
  GgufValue x;
  x.type = GgufValueType::I32;
  x.i = v;
  return x;
}

GgufValue GgufValue::make_f32(float v) {
  GgufValue x;
  x.type = GgufValueType::F32;
  x.f = v;
  return x;
}

GgufValue GgufValue::make_bool(bool v) {
  GgufValue x;
  x.type = GgufValueType::BOOL;
  x.u = v ? 1 : 0;
  return x;
}

GgufValue GgufValue::make_string(std::string v) {
  GgufValue x;
  x.type = GgufValueType::STRING;
  x.s = std::move(v);
  return x;
}

GgufValue GgufValue::make_array(GgufValueType elem, std::vector<GgufValue> items) {
  GgufValue x;
  x.type = GgufValueType::ARRAY;
  x.elem_type = elem;
  x.arr = std::move(items);
  return x;
}

GgufValue GgufValue::make_u64(uint64_t v) {
  GgufValue x;
  x.type = GgufValueType::U64;
  x.u = v;
  return x;
}

GgufValue GgufValue::make_i64(int64_t v) {
  GgufValue x;
  x.type = GgufValueType::I64;
  x.i = v;
  return x;
}

GgufValue GgufValue::make_f64(double v) {
  GgufValue x;
  x.type = GgufValueType::F64;
  x.f = v;
  return x;
}

namespace gguf_detail {

bool value_type_known(uint32_t type) { return type <= static_cast<uint32_t>(GgufValueType::F64); }

uint64_t value_min_bytes(uint32_t type) {
  switch (static_cast<GgufValueType>(type)) {
    case GgufValueType::U8:
    case GgufValueType::I8:
    case GgufValueType::BOOL:
      return 1;
    case GgufValueType::U16:
    case GgufValueType::I16:
      return 2;
    case GgufValueType::U32:
    case GgufValueType::I32:
    case GgufValueType::F32:
      return 4;
    case GgufValueType::U64:
    case GgufValueType::I64:
    case GgufValueType::F64:
    case GgufValueType::STRING:
      return 8;
    case GgufValueType::ARRAY:
      return 12;
  }
  return 0;
}

const char* value_type_name(GgufValueType t) {
  switch (t) {
    case GgufValueType::U8: return "U8";
    case GgufValueType::I8: return "I8";
    case GgufValueType::U16: return "U16";
    case GgufValueType::I16: return "I16";
    case GgufValueType::U32: return "U32";
    case GgufValueType::I32: return "I32";
    case GgufValueType::F32: return "F32";
    case GgufValueType::BOOL: return "BOOL";
    case GgufValueType::STRING: return "STRING";
    case GgufValueType::ARRAY: return "ARRAY";
    case GgufValueType::U64: return "U64";
    case GgufValueType::I64: return "I64";
    case GgufValueType::F64: return "F64";
  }
  return "UNKNOWN";
}

Status check_tensor_name(const std::string& name) {
  if (name.empty()) return Status(Code::kCorrupt, "empty tensor name");
  if (name.size() > kMaxTensorNameBytes) {
    return Status(Code::kCorrupt, "tensor name '" + name.substr(0, 32) + "...' is " +
                                      std::to_string(name.size()) + " bytes (at most " +
                                      std::to_string(kMaxTensorNameBytes) + ")");
  }
  return Status::Ok();
}

}  // namespace gguf_detail
}  // namespace np
