// gguf.h — GGUF v3 container: reader (from a file or a byte buffer) and writer.
// Layout (little-endian), as ggml defines it:
//   1. magic "GGUF" (47 47 55 46)        5. kv pairs: string key, u32 type, value
//   2. u32 version (3; 2 also read)      6. tensor infos: string name, u32 n_dims (<=4),
//   3. u64 tensor_count                     u64 dims[n_dims] (dims[0] fastest), u32 type,
//   4. u64 kv_count                         u64 offset (relative to the data section)
//   7. padding to general.alignment (default 32, a power of two); 8. tensor data.
// Strings: u64 byte length + UTF-8 bytes, no NUL. Arrays: u32 element type, u64 count, elements.
// This file knows the container only; the needle-specific table of expected tensors lives
// in model/. Not here: any math.
#pragma once
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "np/status.h"

namespace np {

// Tensor element types (ids are on disk: append only).
enum class GgmlType : uint32_t { F32 = 0, F16 = 1, Q4_0 = 2, Q8_0 = 8, BF16 = 30 };

const char* ggml_type_name(GgmlType t);           // "F32", "F16", "Q4_0", "Q8_0", "BF16"
bool ggml_type_known(uint32_t t);                 // one of the above
int64_t ggml_type_block_size(GgmlType t);         // values per block: 1, 1, 32, 32, 1
int64_t ggml_type_block_bytes(GgmlType t);        // bytes per block: 4, 2, 18, 34, 2
// Bytes for one row of ne0 values (e.g. Q8_0, ne0 = 64 -> 68); Overflow / BadShape
// (ne0 negative or not a multiple of the block size) / BadType as errors.
Status ggml_row_bytes(GgmlType t, int64_t ne0, uint64_t* out);
// Bytes for a whole tensor: row bytes of dims[0] times the product of the other dims
// (F32 {4, 3} -> 48). Same errors, plus BadShape for 0 or more than 4 dims or a dim < 1.
Status ggml_tensor_nbytes(GgmlType t, const std::vector<int64_t>& dims, uint64_t* out);

// Metadata value types (on disk).
enum class GgufValueType : uint32_t {
  U8 = 0, I8 = 1, U16 = 2, I16 = 3, U32 = 4, I32 = 5, F32 = 6, BOOL = 7,
  STRING = 8, ARRAY = 9, U64 = 10, I64 = 11, F64 = 12,
};

// One metadata value. Scalars are held widened (integers in i/u, floats in f); arrays hold
// their element type and elements (nested arrays allowed, as GGUF allows).
struct GgufValue {
  GgufValueType type = GgufValueType::U32;
  uint64_t u = 0;          // U8/U16/U32/U64/BOOL
  int64_t i = 0;           // I8/I16/I32/I64
  double f = 0;            // F32/F64
  std::string s;           // STRING
  GgufValueType elem_type = GgufValueType::U32;  // ARRAY
  std::vector<GgufValue> arr;                    // ARRAY

  static GgufValue make_u32(uint32_t v);
  static GgufValue make_i32(int32_t v);
  static GgufValue make_f32(float v);
  static GgufValue make_bool(bool v);
  static GgufValue make_string(std::string v);
  static GgufValue make_array(GgufValueType elem, std::vector<GgufValue> items);
  static GgufValue make_u64(uint64_t v);
  static GgufValue make_i64(int64_t v);
  static GgufValue make_f64(double v);
  // (other scalar types: set .type and the matching field)
};

struct GgufKV {
  std::string key;
  GgufValue value;
};

struct GgufTensorInfo {
  std::string name;
  std::vector<int64_t> dims;  // dims[0] fastest-varying (a row-major rows x cols matrix: {cols, rows})
  GgmlType type = GgmlType::F32;
  uint64_t offset = 0;        // relative to the data section
  uint64_t nbytes = 0;        // computed from dims and type
  int64_t n_elements() const;
};

// A parsed GGUF file. Owns (or borrows) the bytes; tensor data pointers point into them,
// so nothing is copied on load.
class GgufFile {
 public:
  // Reads the whole file into memory once and parses it.
  static Result<std::shared_ptr<GgufFile>> open_file(const std::string& path);
  // Takes ownership of the bytes (no copy).
  static Result<std::shared_ptr<GgufFile>> open_bytes(std::vector<uint8_t> bytes);
  // Borrows: the caller keeps data alive (and unchanged) for the GgufFile's lifetime.
  static Result<std::shared_ptr<GgufFile>> open_view(const uint8_t* data, size_t size);

  uint32_t version() const { return version_; }
  uint32_t alignment() const { return alignment_; }
  size_t size() const { return size_; }                // bytes in the file
  size_t data_offset() const { return data_offset_; }  // start of the data section (aligned)
  const std::vector<GgufKV>& kvs() const { return kvs_; }
  const std::vector<GgufTensorInfo>& tensors() const { return tensors_; }

  const GgufValue* find(const std::string& key) const;     // nullptr if absent
  const GgufTensorInfo* find_tensor(const std::string& name) const;
  const uint8_t* tensor_data(const GgufTensorInfo& t) const;  // start of its bytes (validated in range)

  // Typed getters: BadMetadata naming the key when absent or of another type.
  // get_u32 accepts any integer type whose value fits.
  Status get_u32(const std::string& key, uint32_t* out) const;
  Status get_f32(const std::string& key, float* out) const;   // F32 or F64
  Status get_bool(const std::string& key, bool* out) const;
  Status get_string(const std::string& key, std::string* out) const;
  // An array whose elements are all of type `elem`; *out points into kvs().
  Status get_array(const std::string& key, GgufValueType elem,
                   const std::vector<GgufValue>** out) const;

 private:
  Status parse();
  std::vector<uint8_t> owned_;
  const uint8_t* data_ = nullptr;
  size_t size_ = 0;
  uint32_t version_ = 0;
  uint32_t alignment_ = 32;
  size_t data_offset_ = 0;
  std::vector<GgufKV> kvs_;
  std::vector<GgufTensorInfo> tensors_;
};

// Writer: collects metadata and tensors, then writes a GGUF v3 file with every tensor
// aligned and back to back in insertion order (as ggml expects).
class GgufWriter {
 public:
  void set_kv(const std::string& key, GgufValue value);  // replaces an existing key, keeps order
  // Raw bytes already in `type`'s encoding (size must match dims/type).
  Status add_tensor_raw(const std::string& name, std::vector<int64_t> dims, GgmlType type,
                        const void* data, size_t nbytes);
  // From f32 values, converted/quantized to `type` with the _ref kernels.
  Status add_tensor_f32(const std::string& name, std::vector<int64_t> dims, GgmlType type,
                        const float* values);
  Result<std::vector<uint8_t>> to_bytes() const;
  Status write_file(const std::string& path) const;

 private:
  struct Pending {
    std::string name;
    std::vector<int64_t> dims;
    GgmlType type;
    std::vector<uint8_t> bytes;
  };
  std::vector<GgufKV> kvs_;
  std::vector<Pending> tensors_;
};

}  // namespace np
