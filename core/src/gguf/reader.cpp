// reader.cpp — GGUF v2/v3 parser over an in-memory byte buffer (owned or borrowed).
// Byte layout it walks (little-endian, offsets grow downwards):
//   1. magic "GGUF"                      4 bytes
//   2. version                           u32 (2 or 3; 1 used u32 counts and is refused)
//   3. tensor_count                      u64
//   4. kv_count                          u64
//   5. kv_count x { key: u64 len + bytes, u32 value type, value }
//        value: scalar (1/2/4/8 bytes; bool 1 byte 0|1), string (u64 len + bytes),
//               array (u32 elem type, u64 count, count x elem; arrays may nest)
//   6. tensor_count x { name: u64 len + bytes (1..63), u32 n_dims (1..4),
//                       u64 dims[n_dims] (dims[0] fastest), u32 ggml type, u64 offset }
//   7. zero padding up to a multiple of general.alignment (default 32)
//   8. data section: each tensor at data_start + offset (offset a multiple of the alignment)
// Every read goes through Cursor, which refuses to run past the end; every count is
// checked against the bytes that are left before anything is allocated from it.
// Not here: the needle tensor table (model/), math, writing (writer.cpp).
#include <algorithm>
#include <cassert>
#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <limits>
#include <unordered_set>

#include <sys/stat.h>

#include "gguf/gguf_internal.h"
#include "np/gguf.h"
#include "util/bits.h"

namespace np {

using namespace gguf_detail;

namespace {

constexpr uint64_t kI64Max = static_cast<uint64_t>(std::numeric_limits<int64_t>::max());
constexpr uint64_t kMinKvBytes = 8 + 1 + 4 + 1;           // key len, 1-byte key, type, u8 value
constexpr uint64_t kMinTensorInfoBytes = 8 + 1 + 4 + 8 + 4 + 8;  // name, 1 dim, type, offset

// Bounded little-endian reader. The read_* calls return false (and do not move) when
// fewer bytes are left than asked for; the caller turns that into a Status naming what
// it was reading, with truncated().
class Cursor {
 public:
  Cursor(const uint8_t* data, size_t size) : data_(data), size_(size) {}

  size_t pos() const { return pos_; }
  uint64_t left() const { return size_ - pos_; }

  bool read_u8(uint8_t* v) {
    if (left() < 1) return false;
    *v = data_[pos_++];
    return true;
  }
  bool read_u16(uint16_t* v) {
    uint64_t x;
    if (!read_le(2, &x)) return false;
    *v = static_cast<uint16_t>(x);
    return true;
  }
  bool read_u32(uint32_t* v) {
    uint64_t x;
    if (!read_le(4, &x)) return false;
    *v = static_cast<uint32_t>(x);
    return true;
  }
  bool read_u64(uint64_t* v) { return read_le(8, v); }
  bool read_bytes(void* out, size_t n) {
    if (left() < n) return false;
    if (n > 0) std::memcpy(out, data_ + pos_, n);
    pos_ += n;
    return true;
  }

  Status truncated(const std::string& what, uint64_t need) const {
    return Status(Code::kTruncated, "truncated at byte " + std::to_string(pos_) + " reading " +
                                        what + " (" + std::to_string(need) + " bytes needed, " +
                                        std::to_string(left()) + " left)");
  }

  // u64 length + bytes. Overflow for a length that no file could hold (>= 2^63),
  // Truncated for one longer than what is left; nothing is allocated before that check.
  Status read_string(const std::string& what, std::string* out) {
    uint64_t len;
    if (!read_u64(&len)) return truncated("length of " + what, 8);
    if (len > kI64Max) {
      return Status(Code::kOverflow, "at byte " + std::to_string(pos_ - 8) + ": length " +
                                         std::to_string(len) + " of " + what + " overflows");
    }
    if (len > left()) return truncated(what, len);
    out->assign(reinterpret_cast<const char*>(data_ + pos_), static_cast<size_t>(len));
    pos_ += static_cast<size_t>(len);
    return Status::Ok();
  }

 private:
  bool read_le(int n, uint64_t* v) {
    if (left() < static_cast<uint64_t>(n)) return false;
    uint64_t x = 0;
    for (int i = n - 1; i >= 0; --i) x = (x << 8) | data_[pos_ + i];
    pos_ += n;
    *v = x;
    return true;
  }

  const uint8_t* data_;
  size_t size_;
  size_t pos_ = 0;
};

struct ValueReader {
  Cursor& cur;
  uint64_t budget = kMaxMetadataValues;  // values left before the file is refused

  Status read(uint32_t type, const std::string& key, int depth, GgufValue* out) {
    if (budget == 0) {
      return Status(Code::kCorrupt, "metadata holds more than " +
                                        std::to_string(kMaxMetadataValues) + " values");
    }
    --budget;
    out->type = static_cast<GgufValueType>(type);
    const char* tname = value_type_name(out->type);
    switch (out->type) {
      case GgufValueType::U8:
      case GgufValueType::BOOL: {
        uint8_t v;
        if (!cur.read_u8(&v)) return cur.truncated(std::string(tname) + " value of '" + key + "'", 1);
        if (out->type == GgufValueType::BOOL && v > 1) {
          return Status(Code::kCorrupt, "at byte " + std::to_string(cur.pos() - 1) +
                                            ": bool value of '" + key + "' is " +
                                            std::to_string(v) + " (0 or 1 expected)");
        }
        out->u = v;
        return Status::Ok();
      }
      case GgufValueType::I8: {
        uint8_t v;
        if (!cur.read_u8(&v)) return cur.truncated("I8 value of '" + key + "'", 1);
        out->i = static_cast<int8_t>(v);
        return Status::Ok();
      }
      case GgufValueType::U16: {
        uint16_t v;
        if (!cur.read_u16(&v)) return cur.truncated("U16 value of '" + key + "'", 2);
        out->u = v;
        return Status::Ok();
      }
      case GgufValueType::I16: {
        uint16_t v;
        if (!cur.read_u16(&v)) return cur.truncated("I16 value of '" + key + "'", 2);
        out->i = static_cast<int16_t>(v);
        return Status::Ok();
      }
      case GgufValueType::U32: {
        uint32_t v;
        if (!cur.read_u32(&v)) return cur.truncated("U32 value of '" + key + "'", 4);
        out->u = v;
        return Status::Ok();
      }
      case GgufValueType::I32: {
        uint32_t v;
        if (!cur.read_u32(&v)) return cur.truncated("I32 value of '" + key + "'", 4);
        out->i = static_cast<int32_t>(v);
        return Status::Ok();
      }
      case GgufValueType::F32: {
        uint32_t v;
        if (!cur.read_u32(&v)) return cur.truncated("F32 value of '" + key + "'", 4);
        out->f = bit_cast<float>(v);
        return Status::Ok();
      }
      case GgufValueType::U64: {
        uint64_t v;
        if (!cur.read_u64(&v)) return cur.truncated("U64 value of '" + key + "'", 8);
        out->u = v;
        return Status::Ok();
      }
      case GgufValueType::I64: {
        uint64_t v;
        if (!cur.read_u64(&v)) return cur.truncated("I64 value of '" + key + "'", 8);
        out->i = static_cast<int64_t>(v);
        return Status::Ok();
      }
      case GgufValueType::F64: {
        uint64_t v;
        if (!cur.read_u64(&v)) return cur.truncated("F64 value of '" + key + "'", 8);
        out->f = bit_cast<double>(v);
        return Status::Ok();
      }
      case GgufValueType::STRING:
        return cur.read_string("string value of '" + key + "'", &out->s);
      case GgufValueType::ARRAY:
        return read_array(key, depth, out);
    }
    return Status(Code::kBadType, "metadata '" + key + "': unknown value type " + std::to_string(type));
  }

  Status read_array(const std::string& key, int depth, GgufValue* out) {
    if (depth >= kMaxArrayDepth) {
      return Status(Code::kCorrupt, "metadata '" + key + "': arrays nested deeper than " +
                                        std::to_string(kMaxArrayDepth));
    }
    uint32_t elem;
    if (!cur.read_u32(&elem)) return cur.truncated("array element type of '" + key + "'", 4);
    if (!value_type_known(elem)) {
      return Status(Code::kBadType, "metadata '" + key + "': unknown array element type " +
                                        std::to_string(elem));
    }
    uint64_t count;
    if (!cur.read_u64(&count)) return cur.truncated("array length of '" + key + "'", 8);
    if (count > kI64Max) {
      return Status(Code::kOverflow, "at byte " + std::to_string(cur.pos() - 8) +
                                         ": array length " + std::to_string(count) + " of '" +
                                         key + "' overflows");
    }
    const uint64_t min_bytes = value_min_bytes(elem);
    if (count > cur.left() / min_bytes) {
      return Status(Code::kTruncated,
                    "at byte " + std::to_string(cur.pos() - 8) + ": array '" + key + "' of " +
                        std::to_string(count) + " " + value_type_name(static_cast<GgufValueType>(elem)) +
                        " needs at least " + std::to_string(min_bytes) + " bytes each, " +
                        std::to_string(cur.left()) + " left");
    }
    if (count > budget) {
      return Status(Code::kCorrupt, "metadata holds more than " +
                                        std::to_string(kMaxMetadataValues) + " values");
    }
    out->elem_type = static_cast<GgufValueType>(elem);
    out->arr.resize(static_cast<size_t>(count));
    for (GgufValue& v : out->arr) NP_RETURN_IF_ERROR(read(elem, key, depth + 1, &v));
    return Status::Ok();
  }
};

std::string prefixed(const std::string& prefix, const Status& s) { return prefix + s.message(); }

}  // namespace

Result<std::shared_ptr<GgufFile>> GgufFile::open_file(const std::string& path) {
  std::FILE* f = std::fopen(path.c_str(), "rb");
  if (!f) {
    return Status(Code::kIoError, "cannot open '" + path + "': " + std::strerror(errno));
  }
  // The size comes from fstat (a directory opens fine on Linux and reports a bogus size
  // through fseek/ftell); a short read is an error, never a smaller file.
  struct stat st;
  if (fstat(fileno(f), &st) != 0 || !S_ISREG(st.st_mode)) {
    std::fclose(f);
    return Status(Code::kIoError, "cannot read '" + path + "': not a regular file");
  }
  const uint64_t size = static_cast<uint64_t>(st.st_size);
  if (size > std::numeric_limits<size_t>::max()) {
    std::fclose(f);
    return Status(Code::kIoError, "cannot read '" + path + "': " + std::to_string(size) +
                                      " bytes do not fit in memory");
  }
  std::vector<uint8_t> bytes(static_cast<size_t>(size));
  const size_t got = bytes.empty() ? 0 : std::fread(bytes.data(), 1, bytes.size(), f);
  const int read_errno = errno;
  const bool failed = got != bytes.size() || std::ferror(f) != 0;
  std::fclose(f);
  if (failed) {
    return Status(Code::kIoError, "cannot read '" + path + "': got " + std::to_string(got) +
                                      " of " + std::to_string(size) + " bytes (" +
                                      std::strerror(read_errno) + ")");
  }
  Result<std::shared_ptr<GgufFile>> r = open_bytes(std::move(bytes));
  if (!r.ok()) return Status(r.status().code(), path + ": " + r.status().message());
  return r;
}

Result<std::shared_ptr<GgufFile>> GgufFile::open_bytes(std::vector<uint8_t> bytes) {
  auto file = std::make_shared<GgufFile>();
  file->owned_ = std::move(bytes);
  // data_ stays null for owned bytes; base() reads owned_, so a copied GgufFile never
  // points into another object's buffer.
  file->size_ = file->owned_.size();
  NP_RETURN_IF_ERROR(file->parse());
  return file;
}

Result<std::shared_ptr<GgufFile>> GgufFile::open_view(const uint8_t* data, size_t size) {
  if (data == nullptr && size != 0) {
    return Status(Code::kInvalidInput, "open_view: null data with size " + std::to_string(size));
  }
  auto file = std::make_shared<GgufFile>();
  file->data_ = data;
  file->size_ = size;
  NP_RETURN_IF_ERROR(file->parse());
  return file;
}

Status GgufFile::parse() {
  const uint8_t* base = data_ ? data_ : owned_.data();
  Cursor cur(base, size_);

  // 1-4: header.
  for (size_t i = 0; i < 4 && i < size_; ++i) {
    if (base[i] != kMagic[i]) {
      return Status(Code::kBadMagic, "not a GGUF file (first bytes are not \"GGUF\")");
    }
  }
  uint8_t magic[4];
  if (!cur.read_bytes(magic, 4)) return cur.truncated("magic", 4);
  if (!cur.read_u32(&version_)) return cur.truncated("version", 4);
  if (version_ != 2 && version_ != 3) {
    std::string hint;
    if (version_ == 0x02000000u || version_ == 0x03000000u) hint = " (a big-endian GGUF file?)";
    if (version_ == 1) hint = " (v1 used 32-bit counts; convert the file again)";
    return Status(Code::kBadVersion, "GGUF version " + std::to_string(version_) +
                                         " not supported (2 or 3 expected)" + hint);
  }
  uint64_t tensor_count, kv_count;
  if (!cur.read_u64(&tensor_count)) return cur.truncated("tensor count", 8);
  if (!cur.read_u64(&kv_count)) return cur.truncated("metadata count", 8);
  if (tensor_count > kI64Max) {
    return Status(Code::kOverflow, "tensor count " + std::to_string(tensor_count) + " overflows");
  }
  if (kv_count > kI64Max) {
    return Status(Code::kOverflow, "metadata count " + std::to_string(kv_count) + " overflows");
  }

  // 5: metadata.
  if (kv_count > cur.left() / kMinKvBytes) {
    return Status(Code::kTruncated, "metadata count " + std::to_string(kv_count) + " needs at least " +
                                        std::to_string(kMinKvBytes) + " bytes each, " +
                                        std::to_string(cur.left()) + " left at byte " +
                                        std::to_string(cur.pos()));
  }
  kvs_.clear();
  kvs_.reserve(static_cast<size_t>(kv_count));
  std::unordered_set<std::string> keys;
  ValueReader values{cur};
  for (uint64_t k = 0; k < kv_count; ++k) {
    GgufKV kv;
    const std::string where = "metadata pair #" + std::to_string(k);
    NP_RETURN_IF_ERROR(cur.read_string("key of " + where, &kv.key));
    if (kv.key.empty()) return Status(Code::kCorrupt, where + " has an empty key");
    if (!keys.insert(kv.key).second) {
      return Status(Code::kCorrupt, "duplicate metadata key '" + kv.key + "'");
    }
    uint32_t type;
    if (!cur.read_u32(&type)) return cur.truncated("value type of '" + kv.key + "'", 4);
    if (!value_type_known(type)) {
      return Status(Code::kBadType, "metadata '" + kv.key + "': unknown value type " + std::to_string(type));
    }
    NP_RETURN_IF_ERROR(values.read(type, kv.key, 0, &kv.value));
    kvs_.push_back(std::move(kv));
  }

  alignment_ = kDefaultAlignment;
  if (const GgufValue* a = find(kAlignmentKey)) {
    if (a->type != GgufValueType::U32) {
      return Status(Code::kBadMetadata, std::string(kAlignmentKey) + " is " +
                                            value_type_name(a->type) + " (U32 expected)");
    }
    if (!is_pow2(a->u)) {
      return Status(Code::kBadMetadata, std::string(kAlignmentKey) + " = " + std::to_string(a->u) +
                                            " is not a power of two");
    }
    alignment_ = static_cast<uint32_t>(a->u);
  }

  // 6: tensor infos.
  if (tensor_count > cur.left() / kMinTensorInfoBytes) {
    return Status(Code::kTruncated, "tensor count " + std::to_string(tensor_count) +
                                        " needs at least " + std::to_string(kMinTensorInfoBytes) +
                                        " bytes each, " + std::to_string(cur.left()) +
                                        " left at byte " + std::to_string(cur.pos()));
  }
  tensors_.clear();
  tensors_.reserve(static_cast<size_t>(tensor_count));
  std::unordered_set<std::string> names;
  for (uint64_t t = 0; t < tensor_count; ++t) {
    GgufTensorInfo info;
    const std::string where = "tensor #" + std::to_string(t);
    NP_RETURN_IF_ERROR(cur.read_string("name of " + where, &info.name));
    const Status name_ok = check_tensor_name(info.name);
    if (!name_ok.ok()) return Status(name_ok.code(), prefixed(where + ": ", name_ok));
    if (!names.insert(info.name).second) {
      return Status(Code::kDuplicateTensor, "duplicate tensor name '" + info.name + "'");
    }
    const std::string tname = "tensor '" + info.name + "'";
    uint32_t n_dims;
    if (!cur.read_u32(&n_dims)) return cur.truncated("n_dims of " + tname, 4);
    if (n_dims == 0 || n_dims > kMaxDims) {
      return Status(Code::kBadShape, tname + ": n_dims " + std::to_string(n_dims) + " (1 to 4 allowed)");
    }
    for (uint32_t d = 0; d < n_dims; ++d) {
      uint64_t ne;
      if (!cur.read_u64(&ne)) return cur.truncated("dim " + std::to_string(d) + " of " + tname, 8);
      if (ne > kI64Max) {
        return Status(Code::kOverflow, tname + ": dim " + std::to_string(d) + " = " +
                                           std::to_string(ne) + " overflows int64");
      }
      info.dims.push_back(static_cast<int64_t>(ne));
    }
    uint32_t type;
    if (!cur.read_u32(&type)) return cur.truncated("type of " + tname, 4);
    if (!ggml_type_known(type)) {
      return Status(Code::kBadType, tname + ": unknown ggml type id " + std::to_string(type));
    }
    info.type = static_cast<GgmlType>(type);
    if (!cur.read_u64(&info.offset)) return cur.truncated("data offset of " + tname, 8);
    const Status size_ok = ggml_tensor_nbytes(info.type, info.dims, &info.nbytes);
    if (!size_ok.ok()) return Status(size_ok.code(), prefixed(tname + ": ", size_ok));
    if (info.offset % alignment_ != 0) {
      return Status(Code::kCorrupt, tname + ": offset " + std::to_string(info.offset) +
                                        " is not a multiple of the alignment " +
                                        std::to_string(alignment_));
    }
    tensors_.push_back(std::move(info));
  }

  // 7-8: data section. Tensors may sit in any order and need not be back to back, but
  // each must lie inside the file and none may overlap another.
  uint64_t data_start;
  if (!align_up(cur.pos(), alignment_, &data_start)) {
    return Status(Code::kOverflow, "data section offset overflows");
  }
  data_offset_ = static_cast<size_t>(std::min<uint64_t>(data_start, size_));
  for (const GgufTensorInfo& t : tensors_) {
    const std::string tname = "tensor '" + t.name + "'";
    if (t.offset > UINT64_MAX - t.nbytes || t.offset + t.nbytes > UINT64_MAX - data_start) {
      return Status(Code::kOverflow, tname + ": data end overflows 64 bits");
    }
    const uint64_t begin = data_start + t.offset;
    const uint64_t end = begin + t.nbytes;
    if (end > size_) {
      return Status(Code::kTruncated, tname + ": data at file bytes [" + std::to_string(begin) +
                                          ", " + std::to_string(end) + ") beyond file size " +
                                          std::to_string(size_));
    }
  }
  std::vector<const GgufTensorInfo*> by_offset;
  by_offset.reserve(tensors_.size());
  for (const GgufTensorInfo& t : tensors_) by_offset.push_back(&t);
  std::sort(by_offset.begin(), by_offset.end(),
            [](const GgufTensorInfo* a, const GgufTensorInfo* b) { return a->offset < b->offset; });
  for (size_t i = 1; i < by_offset.size(); ++i) {
    const GgufTensorInfo& prev = *by_offset[i - 1];
    const GgufTensorInfo& next = *by_offset[i];
    if (next.offset < prev.offset + prev.nbytes) {
      return Status(Code::kCorrupt, "tensor '" + next.name + "' (data offset " +
                                        std::to_string(next.offset) + ") overlaps tensor '" +
                                        prev.name + "' (data [" + std::to_string(prev.offset) +
                                        ", " + std::to_string(prev.offset + prev.nbytes) + "))");
    }
  }
  return Status::Ok();
}

const GgufValue* GgufFile::find(const std::string& key) const {
  for (const GgufKV& kv : kvs_) {
    if (kv.key == key) return &kv.value;
  }
  return nullptr;
}

const GgufTensorInfo* GgufFile::find_tensor(const std::string& name) const {
  for (const GgufTensorInfo& t : tensors_) {
    if (t.name == name) return &t;
  }
  return nullptr;
}

const uint8_t* GgufFile::tensor_data(const GgufTensorInfo& t) const {
  const uint8_t* base = data_ ? data_ : owned_.data();
  const uint64_t room = size_ - data_offset_;
  if (t.offset > room || t.nbytes > room - t.offset) {
    assert(false && "tensor_data: tensor does not belong to this file");
    return nullptr;
  }
  return base + data_offset_ + t.offset;
}

namespace {

Status missing_or_wrong(const std::string& key, const GgufValue* v, const char* expected) {
  if (!v) return Status(Code::kBadMetadata, "metadata key '" + key + "' is missing");
  return Status(Code::kBadMetadata, "metadata '" + key + "' is " + value_type_name(v->type) +
                                        " (" + expected + " expected)");
}

}  // namespace

Status GgufFile::get_u32(const std::string& key, uint32_t* out) const {
  const GgufValue* v = find(key);
  if (!v) return missing_or_wrong(key, v, "an integer");
  switch (v->type) {
    case GgufValueType::U8:
    case GgufValueType::U16:
    case GgufValueType::U32:
    case GgufValueType::U64:
      if (v->u > UINT32_MAX) break;
      *out = static_cast<uint32_t>(v->u);
      return Status::Ok();
    case GgufValueType::I8:
    case GgufValueType::I16:
    case GgufValueType::I32:
    case GgufValueType::I64:
      if (v->i < 0 || v->i > static_cast<int64_t>(UINT32_MAX)) break;
      *out = static_cast<uint32_t>(v->i);
      return Status::Ok();
    default:
      return missing_or_wrong(key, v, "an integer");
  }
  const std::string shown = (v->type == GgufValueType::U8 || v->type == GgufValueType::U16 ||
                             v->type == GgufValueType::U32 || v->type == GgufValueType::U64)
                                ? std::to_string(v->u)
                                : std::to_string(v->i);
  return Status(Code::kBadMetadata, "metadata '" + key + "' = " + shown + " does not fit in u32");
}

Status GgufFile::get_f32(const std::string& key, float* out) const {
  const GgufValue* v = find(key);
  if (!v || (v->type != GgufValueType::F32 && v->type != GgufValueType::F64)) {
    return missing_or_wrong(key, v, "F32 or F64");
  }
  if (std::isfinite(v->f) && std::fabs(v->f) > static_cast<double>(std::numeric_limits<float>::max())) {
    return Status(Code::kBadMetadata, "metadata '" + key + "' is out of f32 range");
  }
  *out = static_cast<float>(v->f);
  return Status::Ok();
}

Status GgufFile::get_bool(const std::string& key, bool* out) const {
  const GgufValue* v = find(key);
  if (!v || v->type != GgufValueType::BOOL) return missing_or_wrong(key, v, "BOOL");
  *out = v->u != 0;
  return Status::Ok();
}

Status GgufFile::get_string(const std::string& key, std::string* out) const {
  const GgufValue* v = find(key);
  if (!v || v->type != GgufValueType::STRING) return missing_or_wrong(key, v, "STRING");
  *out = v->s;
  return Status::Ok();
}

Status GgufFile::get_array(const std::string& key, GgufValueType elem,
                           const std::vector<GgufValue>** out) const {
  const GgufValue* v = find(key);
  if (!v || v->type != GgufValueType::ARRAY) return missing_or_wrong(key, v, "ARRAY");
  if (v->elem_type != elem) {
    return Status(Code::kBadMetadata, "metadata '" + key + "' is an array of " +
                                          value_type_name(v->elem_type) + " (" +
                                          value_type_name(elem) + " expected)");
  }
  *out = &v->arr;
  return Status::Ok();
}

}  // namespace np
