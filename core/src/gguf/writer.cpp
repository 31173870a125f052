// writer.cpp — GgufWriter: serializes metadata and tensors as a GGUF v3 file.
// Layout written (A = general.alignment if set, a u32 power of two; else 32):
//   header (magic, version 3, tensor_count, kv_count)
//   kv pairs, in set_kv order (a replaced key keeps its first position)
//   tensor infos, in insertion order; tensor i's offset = sum over j < i of pad_A(nbytes_j)
//   zero padding to a multiple of A        <- data section starts here
//   tensor 0 bytes, zero padding to A, tensor 1 bytes, padding, ...  (the last one padded too)
// Everything is validated before a byte is produced, so a writer's output always parses
// with GgufFile. Not here: choosing which tensors to quantize (the converter's policy).
#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <limits>

#include "gguf/gguf_internal.h"
#include "np/gguf.h"
#include "np/quant.h"
#include "util/bits.h"

namespace np {

using namespace gguf_detail;

namespace {

class ByteSink {
 public:
  explicit ByteSink(std::vector<uint8_t>* out) : out_(out) {}
  void u8(uint8_t v) { out_->push_back(v); }
  void le(uint64_t v, int n) {
    for (int i = 0; i < n; ++i) out_->push_back(static_cast<uint8_t>(v >> (8 * i)));
  }
  void u16(uint16_t v) { le(v, 2); }
  void u32(uint32_t v) { le(v, 4); }
  void u64(uint64_t v) { le(v, 8); }
  void str(const std::string& s) {
    u64(s.size());
    out_->insert(out_->end(), s.begin(), s.end());
  }
  void bytes(const std::vector<uint8_t>& b) { out_->insert(out_->end(), b.begin(), b.end()); }
  void pad_to(uint64_t align) {
    while (out_->size() % align != 0) out_->push_back(0);
  }

 private:
  std::vector<uint8_t>* out_;
};

Status bad_value(const std::string& key, const std::string& why) {
  return Status(Code::kInvalidInput, "metadata '" + key + "': " + why);
}

Status check_value(const GgufValue& v, const std::string& key, int depth) {
  const uint32_t type = static_cast<uint32_t>(v.type);
  if (!value_type_known(type)) return bad_value(key, "unknown value type " + std::to_string(type));
  const char* tname = value_type_name(v.type);
  auto u_fits = [&](uint64_t max) {
    return v.u <= max ? Status::Ok()
                      : bad_value(key, std::to_string(v.u) + " does not fit in " + tname);
  };
  auto i_fits = [&](int64_t lo, int64_t hi) {
    return (v.i >= lo && v.i <= hi)
               ? Status::Ok()
               : bad_value(key, std::to_string(v.i) + " does not fit in " + tname);
  };
  switch (v.type) {
    case GgufValueType::U8: return u_fits(UINT8_MAX);
    case GgufValueType::U16: return u_fits(UINT16_MAX);
    case GgufValueType::U32: return u_fits(UINT32_MAX);
    case GgufValueType::BOOL: return u_fits(1);
    case GgufValueType::I8: return i_fits(INT8_MIN, INT8_MAX);
    case GgufValueType::I16: return i_fits(INT16_MIN, INT16_MAX);
    case GgufValueType::I32: return i_fits(INT32_MIN, INT32_MAX);
    case GgufValueType::F32:
      if (std::isfinite(v.f) && std::fabs(v.f) > static_cast<double>(std::numeric_limits<float>::max())) {
        return bad_value(key, "value out of F32 range");
      }
      return Status::Ok();
    case GgufValueType::U64:
    case GgufValueType::I64:
    case GgufValueType::F64:
    case GgufValueType::STRING:
      return Status::Ok();
    case GgufValueType::ARRAY: {
      if (depth >= kMaxArrayDepth) {
        return bad_value(key, "arrays nested deeper than " + std::to_string(kMaxArrayDepth));
      }
      const uint32_t elem = static_cast<uint32_t>(v.elem_type);
      if (!value_type_known(elem)) {
        return bad_value(key, "unknown array element type " + std::to_string(elem));
      }
      for (size_t i = 0; i < v.arr.size(); ++i) {
        if (v.arr[i].type != v.elem_type) {
          return bad_value(key, "element " + std::to_string(i) + " is " +
                                    value_type_name(v.arr[i].type) + " in an array of " +
                                    value_type_name(v.elem_type));
        }
        NP_RETURN_IF_ERROR(check_value(v.arr[i], key, depth + 1));
      }
      return Status::Ok();
    }
  }
  return bad_value(key, "unknown value type");
}

void write_value(ByteSink& out, const GgufValue& v) {
  switch (v.type) {
    case GgufValueType::U8:
    case GgufValueType::BOOL: out.u8(static_cast<uint8_t>(v.u)); return;
    case GgufValueType::I8: out.u8(static_cast<uint8_t>(static_cast<int8_t>(v.i))); return;
    case GgufValueType::U16: out.u16(static_cast<uint16_t>(v.u)); return;
    case GgufValueType::I16: out.u16(static_cast<uint16_t>(static_cast<int16_t>(v.i))); return;
    case GgufValueType::U32: out.u32(static_cast<uint32_t>(v.u)); return;
    case GgufValueType::I32: out.u32(static_cast<uint32_t>(static_cast<int32_t>(v.i))); return;
    case GgufValueType::F32: out.u32(bit_cast<uint32_t>(static_cast<float>(v.f))); return;
    case GgufValueType::U64: out.u64(v.u); return;
    case GgufValueType::I64: out.u64(static_cast<uint64_t>(v.i)); return;
    case GgufValueType::F64: out.u64(bit_cast<uint64_t>(v.f)); return;
    case GgufValueType::STRING: out.str(v.s); return;
    case GgufValueType::ARRAY:
      out.u32(static_cast<uint32_t>(v.elem_type));
      out.u64(v.arr.size());
      for (const GgufValue& e : v.arr) write_value(out, e);
      return;
  }
}

}  // namespace

void GgufWriter::set_kv(const std::string& key, GgufValue value) {
  for (GgufKV& kv : kvs_) {
    if (kv.key == key) {
      kv.value = std::move(value);
      return;
    }
  }
  kvs_.push_back(GgufKV{key, std::move(value)});
}

namespace {

Status check_new_tensor(const std::string& name, const std::vector<int64_t>& dims, GgmlType type,
                        bool duplicate, uint64_t* nbytes) {
  const Status name_ok = check_tensor_name(name);
  if (!name_ok.ok()) return Status(Code::kInvalidInput, name_ok.message());
  if (duplicate) return Status(Code::kDuplicateTensor, "duplicate tensor name '" + name + "'");
  if (!ggml_type_known(static_cast<uint32_t>(type))) {
    return Status(Code::kBadType, "tensor '" + name + "': unknown ggml type id " +
                                      std::to_string(static_cast<uint32_t>(type)));
  }
  const Status size_ok = ggml_tensor_nbytes(type, dims, nbytes);
  if (!size_ok.ok()) return Status(size_ok.code(), "tensor '" + name + "': " + size_ok.message());
  if (*nbytes > std::numeric_limits<size_t>::max()) {
    return Status(Code::kOverflow, "tensor '" + name + "': " + std::to_string(*nbytes) +
                                       " bytes do not fit in memory");
  }
  return Status::Ok();
}

}  // namespace

Status GgufWriter::add_tensor_raw(const std::string& name, std::vector<int64_t> dims, GgmlType type,
                                  const void* data, size_t nbytes) {
  bool duplicate = false;
  for (const Pending& p : tensors_) duplicate = duplicate || p.name == name;
  uint64_t expected = 0;
  NP_RETURN_IF_ERROR(check_new_tensor(name, dims, type, duplicate, &expected));
  if (nbytes != expected) {
    return Status(Code::kInvalidInput, "tensor '" + name + "': got " + std::to_string(nbytes) +
                                           " bytes, " + ggml_type_name(type) + " dims need " +
                                           std::to_string(expected));
  }
  if (data == nullptr) return Status(Code::kInvalidInput, "tensor '" + name + "': null data");
  const uint8_t* p = static_cast<const uint8_t*>(data);
  tensors_.push_back(Pending{name, std::move(dims), type, std::vector<uint8_t>(p, p + nbytes)});
  return Status::Ok();
}

Status GgufWriter::add_tensor_f32(const std::string& name, std::vector<int64_t> dims, GgmlType type,
                                  const float* values) {
  bool duplicate = false;
  for (const Pending& p : tensors_) duplicate = duplicate || p.name == name;
  uint64_t nbytes = 0;
  NP_RETURN_IF_ERROR(check_new_tensor(name, dims, type, duplicate, &nbytes));
  if (values == nullptr) return Status(Code::kInvalidInput, "tensor '" + name + "': null values");
  int64_t n = 1;
  for (int64_t d : dims) n *= d;
  std::vector<uint8_t> bytes(static_cast<size_t>(nbytes));
  quantize_from_f32(type, values, bytes.data(), n);
  // A finite input must stay finite: F16 overflows past 65504, and a Q8_0/Q4_0 block
  // whose scale overflows fp16 (|x| above about 8.3e6 / 5.2e5) or that holds an inf/NaN
  // dequantizes to inf/NaN everywhere. Refuse rather than write such a tensor.
  if (type != GgmlType::F32) {
    std::vector<float> back(static_cast<size_t>(n));
    dequantize_to_f32(type, bytes.data(), back.data(), n);
    const bool quantized = type == GgmlType::Q8_0 || type == GgmlType::Q4_0;
    for (int64_t i = 0; i < n; ++i) {
      if (std::isfinite(back[i])) continue;
      if (!quantized && !std::isfinite(values[i])) continue;  // F16/BF16 keep inf and NaN
      return Status(Code::kInvalidInput, "tensor '" + name + "': value " + std::to_string(values[i]) +
                                             " at index " + std::to_string(i) + " becomes " +
                                             std::to_string(back[i]) + " in " + ggml_type_name(type));
    }
  }
  tensors_.push_back(Pending{name, std::move(dims), type, std::move(bytes)});
  return Status::Ok();
}

Result<std::vector<uint8_t>> GgufWriter::to_bytes() const {
  uint64_t alignment = kDefaultAlignment;
  for (const GgufKV& kv : kvs_) {
    if (kv.key.empty()) return Status(Code::kInvalidInput, "empty metadata key");
    NP_RETURN_IF_ERROR(check_value(kv.value, kv.key, 0));
    if (kv.key == kAlignmentKey) {
      if (kv.value.type != GgufValueType::U32 || !is_pow2(kv.value.u)) {
        return Status(Code::kBadMetadata, std::string(kAlignmentKey) +
                                              " must be a U32 power of two");
      }
      alignment = kv.value.u;
    }
  }

  std::vector<uint64_t> offsets;
  offsets.reserve(tensors_.size());
  uint64_t data_bytes = 0;
  for (const Pending& t : tensors_) {
    offsets.push_back(data_bytes);
    uint64_t padded;
    if (!align_up(t.bytes.size(), alignment, &padded) || data_bytes > UINT64_MAX - padded) {
      return Status(Code::kOverflow, "data section size overflows");
    }
    data_bytes += padded;
  }

  std::vector<uint8_t> out;
  ByteSink sink(&out);
  for (uint8_t m : kMagic) sink.u8(m);
  sink.u32(kWriteVersion);
  sink.u64(tensors_.size());
  sink.u64(kvs_.size());
  for (const GgufKV& kv : kvs_) {
    sink.str(kv.key);
    sink.u32(static_cast<uint32_t>(kv.value.type));
    write_value(sink, kv.value);
  }
  for (size_t i = 0; i < tensors_.size(); ++i) {
    const Pending& t = tensors_[i];
    sink.str(t.name);
    sink.u32(static_cast<uint32_t>(t.dims.size()));
    for (int64_t d : t.dims) sink.u64(static_cast<uint64_t>(d));
    sink.u32(static_cast<uint32_t>(t.type));
    sink.u64(offsets[i]);
  }
  sink.pad_to(alignment);
  if (data_bytes > std::numeric_limits<size_t>::max() - out.size()) {
    return Status(Code::kOverflow, "file size does not fit in memory");
  }
  out.reserve(out.size() + static_cast<size_t>(data_bytes));
  for (const Pending& t : tensors_) {
    sink.bytes(t.bytes);
    sink.pad_to(alignment);
  }
  return Result<std::vector<uint8_t>>(std::move(out));
}

Status GgufWriter::write_file(const std::string& path) const {
  Result<std::vector<uint8_t>> bytes = to_bytes();
  if (!bytes.ok()) return bytes.status();
  const std::vector<uint8_t>& b = bytes.value();
  std::FILE* f = std::fopen(path.c_str(), "wb");
  if (!f) return Status(Code::kIoError, "cannot create '" + path + "': " + std::strerror(errno));
  const size_t written = b.empty() ? 0 : std::fwrite(b.data(), 1, b.size(), f);
  int err = written == b.size() ? 0 : errno;
  if (std::fflush(f) != 0 && err == 0) err = errno ? errno : EIO;
  if (std::fclose(f) != 0 && err == 0) err = errno ? errno : EIO;
  if (written != b.size() || err != 0) {
    std::remove(path.c_str());
    return Status(Code::kIoError, "cannot write '" + path + "': wrote " + std::to_string(written) +
                                      " of " + std::to_string(b.size()) + " bytes (" +
                                      std::strerror(err ? err : EIO) + ")");
  }
  return Status::Ok();
}

}  // namespace np
