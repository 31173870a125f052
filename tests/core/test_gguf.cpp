// test_gguf.cpp — GGUF reader and writer.
// [gguf]: writer -> reader round trips (every metadata type, every tensor type, from
// bytes, from a file and from a borrowed view, alignments 32/64/1), getters, writer
// argument errors. [gguf][bad-file]: an enum of handcrafted broken files, each with the
// exact Code it must give, plus every truncation of a valid file. [gguf][fuzz]: seeded
// mutations of a valid file; the parse must fail cleanly or give in-range tensors.
#include <catch2/catch.hpp>

#include "test_util.h"

// GCC 12 reports false -Wstringop-overflow positives on vector inserts inlined here.
#pragma GCC diagnostic ignored "-Wstringop-overflow"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <limits>
#include <random>
#include <string>
#include <vector>

#include <unistd.h>

#include "np/gguf.h"
#include "np/quant.h"

using np::Code;
using np::GgmlType;
using np::GgufValue;
using np::GgufValueType;

namespace {

// ---- byte-level builder for handcrafted files --------------------------------------

struct Bytes {
  std::vector<uint8_t> b;
  Bytes& u8(uint8_t v) {
    b.push_back(v);
    return *this;
  }
  Bytes& le(uint64_t v, int n) {
    for (int i = 0; i < n; ++i) b.push_back(static_cast<uint8_t>(v >> (8 * i)));
    return *this;
  }
  Bytes& u32(uint32_t v) { return le(v, 4); }
  Bytes& u64(uint64_t v) { return le(v, 8); }
  Bytes& str(const std::string& s) {
    u64(s.size());
    b.insert(b.end(), s.begin(), s.end());
    return *this;
  }
  Bytes& raw(const std::string& s) {
    b.insert(b.end(), s.begin(), s.end());
    return *this;
  }
  Bytes& pad(size_t align) {
    while (b.size() % align) b.push_back(0);
    return *this;
  }
  Bytes& zeros(size_t n) {
    b.insert(b.end(), n, 0);
    return *this;
  }
};

constexpr uint32_t kTU8 = 0, kTU32 = 4, kTBool = 7, kTString = 8, kTArray = 9, kTU64 = 10;
constexpr uint32_t kF32 = 0, kQ4_0 = 2;

Bytes header(uint64_t n_tensors, uint64_t n_kv, uint32_t version = 3) {
  Bytes b;
  b.raw("GGUF").u32(version).u64(n_tensors).u64(n_kv);
  return b;
}

void kv_u32(Bytes& b, const std::string& key, uint32_t v) { b.str(key).u32(kTU32).u32(v); }

void tensor_info(Bytes& b, const std::string& name, const std::vector<uint64_t>& dims,
                 uint32_t type, uint64_t offset) {
  b.str(name).u32(static_cast<uint32_t>(dims.size()));
  for (uint64_t d : dims) b.u64(d);
  b.u32(type).u64(offset);
}

// Pads to `align` and appends `data_bytes` zero bytes of tensor data.
std::vector<uint8_t> finish(Bytes b, size_t data_bytes, size_t align = 32) {
  b.pad(align).zeros(data_bytes);
  return b.b;
}

// The valid file the broken ones are edits of: kv "a" = u32 7, tensor "t" F32 [8] at 0.
std::vector<uint8_t> handmade_valid() {
  Bytes b = header(1, 1);
  kv_u32(b, "a", 7);
  tensor_info(b, "t", {8}, kF32, 0);
  return finish(b, 32);
}

enum class BadFile {
  kEmpty,
  kShortMagic,
  kWrongMagic,
  kVersion1,
  kVersion4,
  kVersionBigEndian,
  kKvCountHuge,
  kKvCountOverflow,
  kTensorCountHuge,
  kStringBeyondFile,
  kStringLengthOverflow,
  kArrayCountHuge,
  kArrayCountOverflow,
  kStringArrayCountHuge,
  kUnknownValueType13,
  kUnknownArrayElemType,
  kBoolNotZeroOrOne,
  kArraysNestedTooDeep,
  kTooManyValues,
  kEmptyKey,
  kDuplicateKey,
  kNDims5,
  kNDims0,
  kDim0,
  kDimOverInt64,
  kDimsProductOverflow,
  kByteSizeOverflow,
  kTensorType3,
  kTensorType99,
  kQ4_0Ne0_33,
  kEmptyTensorName,
  kTensorName64Bytes,
  kDuplicateTensorName,
  kOffsetBeyondFile,
  kOffsetNotAligned,
  kOffsetEndOverflow,
  kDataShort,
  kOverlappingTensors,
  kAlignment0,
  kAlignment3,
  kAlignmentU64,
  kAlignmentString,
  kTruncatedInTensorInfo,
};

struct BadCase {
  BadFile id;
  const char* name;
  Code code;
};

const BadCase kBadCases[] = {
    {BadFile::kEmpty, "empty file", Code::kTruncated},
    {BadFile::kShortMagic, "two bytes GG", Code::kTruncated},
    {BadFile::kWrongMagic, "magic GGUX", Code::kBadMagic},
    {BadFile::kVersion1, "version 1", Code::kBadVersion},
    {BadFile::kVersion4, "version 4", Code::kBadVersion},
    {BadFile::kVersionBigEndian, "version 3 big-endian", Code::kBadVersion},
    {BadFile::kKvCountHuge, "kv count 2^60", Code::kTruncated},
    {BadFile::kKvCountOverflow, "kv count 2^63", Code::kOverflow},
    {BadFile::kTensorCountHuge, "tensor count 2^60", Code::kTruncated},
    {BadFile::kStringBeyondFile, "key length past the end", Code::kTruncated},
    {BadFile::kStringLengthOverflow, "key length 2^63", Code::kOverflow},
    {BadFile::kArrayCountHuge, "u32 array count 2^40", Code::kTruncated},
    {BadFile::kArrayCountOverflow, "array count 2^64-1", Code::kOverflow},
    {BadFile::kStringArrayCountHuge, "string array count 2^60", Code::kTruncated},
    {BadFile::kUnknownValueType13, "metadata type 13", Code::kBadType},
    {BadFile::kUnknownArrayElemType, "array element type 13", Code::kBadType},
    {BadFile::kBoolNotZeroOrOne, "bool byte 2", Code::kCorrupt},
    {BadFile::kArraysNestedTooDeep, "arrays nested 9 deep", Code::kCorrupt},
    {BadFile::kTooManyValues, "u8 array of 2^21 + 1 values", Code::kCorrupt},
    {BadFile::kEmptyKey, "empty key", Code::kCorrupt},
    {BadFile::kDuplicateKey, "duplicate key", Code::kCorrupt},
    {BadFile::kNDims5, "n_dims 5", Code::kBadShape},
    {BadFile::kNDims0, "n_dims 0", Code::kBadShape},
    {BadFile::kDim0, "dim 0", Code::kBadShape},
    {BadFile::kDimOverInt64, "dim 2^63", Code::kOverflow},
    {BadFile::kDimsProductOverflow, "dims 2^32 x 2^32", Code::kOverflow},
    {BadFile::kByteSizeOverflow, "F32 dim 2^62 (bytes overflow u64)", Code::kOverflow},
    {BadFile::kTensorType3, "tensor type 3", Code::kBadType},
    {BadFile::kTensorType99, "tensor type 99", Code::kBadType},
    {BadFile::kQ4_0Ne0_33, "Q4_0 with ne0 33", Code::kBadShape},
    {BadFile::kEmptyTensorName, "empty tensor name", Code::kCorrupt},
    {BadFile::kTensorName64Bytes, "tensor name of 64 bytes", Code::kCorrupt},
    {BadFile::kDuplicateTensorName, "duplicate tensor name", Code::kDuplicateTensor},
    {BadFile::kOffsetBeyondFile, "tensor offset beyond the file", Code::kTruncated},
    {BadFile::kOffsetNotAligned, "tensor offset 4", Code::kCorrupt},
    {BadFile::kOffsetEndOverflow, "offset + size overflows", Code::kOverflow},
    {BadFile::kDataShort, "data section shorter than the tensor", Code::kTruncated},
    {BadFile::kOverlappingTensors, "overlapping tensors", Code::kCorrupt},
    {BadFile::kAlignment0, "general.alignment 0", Code::kBadMetadata},
    {BadFile::kAlignment3, "general.alignment 3", Code::kBadMetadata},
    {BadFile::kAlignmentU64, "general.alignment as u64", Code::kBadMetadata},
    {BadFile::kAlignmentString, "general.alignment as string", Code::kBadMetadata},
    {BadFile::kTruncatedInTensorInfo, "file ends inside a tensor info", Code::kTruncated},
};

std::vector<uint8_t> make_bad(BadFile id) {
  switch (id) {
    case BadFile::kEmpty:
      return {};
    case BadFile::kShortMagic:
      return {'G', 'G'};
    case BadFile::kWrongMagic: {
      std::vector<uint8_t> v = handmade_valid();
      v[3] = 'X';
      return v;
    }
    case BadFile::kVersion1:
    case BadFile::kVersion4:
    case BadFile::kVersionBigEndian: {
      const uint32_t version =
          id == BadFile::kVersion1 ? 1 : id == BadFile::kVersion4 ? 4 : 0x03000000u;
      Bytes b = header(1, 1, version);
      kv_u32(b, "a", 7);
      tensor_info(b, "t", {8}, kF32, 0);
      return finish(b, 32);
    }
    case BadFile::kKvCountHuge:
    case BadFile::kKvCountOverflow: {
      Bytes b = header(1, id == BadFile::kKvCountHuge ? uint64_t(1) << 60 : uint64_t(1) << 63);
      kv_u32(b, "a", 7);
      tensor_info(b, "t", {8}, kF32, 0);
      return finish(b, 32);
    }
    case BadFile::kTensorCountHuge: {
      Bytes b = header(uint64_t(1) << 60, 1);
      kv_u32(b, "a", 7);
      tensor_info(b, "t", {8}, kF32, 0);
      return finish(b, 32);
    }
    case BadFile::kStringBeyondFile:
    case BadFile::kStringLengthOverflow: {
      Bytes b = header(0, 1);
      b.u64(id == BadFile::kStringBeyondFile ? 1000 : uint64_t(1) << 63).raw("abc");
      return finish(b, 0);
    }
    case BadFile::kArrayCountHuge:
    case BadFile::kArrayCountOverflow: {
      Bytes b = header(0, 1);
      b.str("arr").u32(kTArray).u32(kTU32);
      b.u64(id == BadFile::kArrayCountHuge ? uint64_t(1) << 40 : ~uint64_t(0));
      b.u32(1).u32(2);
      return finish(b, 0);
    }
    case BadFile::kStringArrayCountHuge: {
      Bytes b = header(0, 1);
      b.str("arr").u32(kTArray).u32(kTString).u64(uint64_t(1) << 60).str("x");
      return finish(b, 0);
    }
    case BadFile::kUnknownValueType13: {
      Bytes b = header(0, 1);
      b.str("k").u32(13).u32(0);
      return finish(b, 0);
    }
    case BadFile::kUnknownArrayElemType: {
      Bytes b = header(0, 1);
      b.str("k").u32(kTArray).u32(13).u64(1).u32(0);
      return finish(b, 0);
    }
    case BadFile::kBoolNotZeroOrOne: {
      Bytes b = header(0, 1);
      b.str("k").u32(kTBool).u8(2);
      return finish(b, 0);
    }
    case BadFile::kArraysNestedTooDeep: {
      // 8 nested levels are allowed (the outermost array is level 0); this has 9.
      Bytes b = header(0, 1);
      b.str("k").u32(kTArray);
      for (int i = 0; i < 8; ++i) b.u32(kTArray).u64(1);
      b.u32(kTU8).u64(1).u8(5);
      return finish(b, 0);
    }
    case BadFile::kTooManyValues: {
      // The bytes are there; the reader's budget of 2^21 metadata values is not.
      Bytes b = header(0, 1);
      b.str("k").u32(kTArray).u32(kTU8).u64((uint64_t(1) << 21) + 1);
      return finish(b, (size_t(1) << 21) + 1);
    }
    case BadFile::kEmptyKey: {
      Bytes b = header(0, 1);
      kv_u32(b, "", 1);
      return finish(b, 0);
    }
    case BadFile::kDuplicateKey: {
      Bytes b = header(0, 2);
      kv_u32(b, "a", 1);
      kv_u32(b, "a", 2);
      return finish(b, 0);
    }
    case BadFile::kNDims5:
    case BadFile::kNDims0: {
      Bytes b = header(1, 0);
      if (id == BadFile::kNDims5) {
        tensor_info(b, "t", {1, 1, 1, 1, 8}, kF32, 0);
      } else {
        tensor_info(b, "t", {}, kF32, 0);
      }
      return finish(b, 64);
    }
    case BadFile::kDim0: {
      Bytes b = header(1, 0);
      tensor_info(b, "t", {8, 0}, kF32, 0);
      return finish(b, 32);
    }
    case BadFile::kDimOverInt64: {
      Bytes b = header(1, 0);
      tensor_info(b, "t", {uint64_t(1) << 63}, kF32, 0);
      return finish(b, 32);
    }
    case BadFile::kDimsProductOverflow: {
      Bytes b = header(1, 0);
      tensor_info(b, "t", {uint64_t(1) << 32, uint64_t(1) << 32}, kF32, 0);
      return finish(b, 32);
    }
    case BadFile::kByteSizeOverflow: {
      Bytes b = header(1, 0);
      tensor_info(b, "t", {uint64_t(1) << 62}, kF32, 0);
      return finish(b, 32);
    }
    case BadFile::kTensorType3:
    case BadFile::kTensorType99: {
      Bytes b = header(1, 0);
      tensor_info(b, "t", {32}, id == BadFile::kTensorType3 ? 3 : 99, 0);
      return finish(b, 128);
    }
    case BadFile::kQ4_0Ne0_33: {
      Bytes b = header(1, 0);
      tensor_info(b, "t", {33, 2}, kQ4_0, 0);
      return finish(b, 64);
    }
    case BadFile::kEmptyTensorName:
    case BadFile::kTensorName64Bytes: {
      Bytes b = header(1, 0);
      tensor_info(b, id == BadFile::kEmptyTensorName ? "" : std::string(64, 'n'), {8}, kF32, 0);
      return finish(b, 32);
    }
    case BadFile::kDuplicateTensorName: {
      Bytes b = header(2, 0);
      tensor_info(b, "t", {8}, kF32, 0);
      tensor_info(b, "t", {8}, kF32, 32);
      return finish(b, 64);
    }
    case BadFile::kOffsetBeyondFile: {
      Bytes b = header(1, 0);
      tensor_info(b, "t", {8}, kF32, 1024);
      return finish(b, 32);
    }
    case BadFile::kOffsetNotAligned: {
      Bytes b = header(1, 0);
      tensor_info(b, "t", {8}, kF32, 4);
      return finish(b, 64);
    }
    case BadFile::kOffsetEndOverflow: {
      Bytes b = header(1, 0);
      tensor_info(b, "t", {8}, kF32, ~uint64_t(31));  // aligned, but offset + 32 wraps
      return finish(b, 32);
    }
    case BadFile::kDataShort: {
      Bytes b = header(1, 0);
      tensor_info(b, "t", {8}, kF32, 0);
      return finish(b, 31);
    }
    case BadFile::kOverlappingTensors: {
      Bytes b = header(2, 0);
      tensor_info(b, "big", {16}, kF32, 0);   // data [0, 64)
      tensor_info(b, "small", {8}, kF32, 32);  // data [32, 64)
      return finish(b, 64);
    }
    case BadFile::kAlignment0:
    case BadFile::kAlignment3:
    case BadFile::kAlignmentU64:
    case BadFile::kAlignmentString: {
      Bytes b = header(1, 1);
      if (id == BadFile::kAlignment0) kv_u32(b, "general.alignment", 0);
      if (id == BadFile::kAlignment3) kv_u32(b, "general.alignment", 3);
      if (id == BadFile::kAlignmentU64) b.str("general.alignment").u32(kTU64).u64(32);
      if (id == BadFile::kAlignmentString) b.str("general.alignment").u32(kTString).str("32");
      tensor_info(b, "t", {8}, kF32, 0);
      return finish(b, 32);
    }
    case BadFile::kTruncatedInTensorInfo: {
      Bytes b = header(1, 0);
      tensor_info(b, "t", {8}, kF32, 0);
      b.b.resize(b.b.size() - 5);  // cuts the offset field
      return b.b;
    }
  }
  return {};
}

// Parses a private exact-size copy, so ASan sees any read past the end.
Code parse_code(const std::vector<uint8_t>& bytes) {
  std::vector<uint8_t> copy(bytes);
  auto r = np::GgufFile::open_view(copy.empty() ? nullptr : copy.data(), copy.size());
  return r.ok() ? Code::kOk : r.status().code();
}

// ---- writer-built files ------------------------------------------------------------

GgufValue scalar(GgufValueType t, uint64_t u, int64_t i = 0, double f = 0) {
  GgufValue v;
  v.type = t;
  v.u = u;
  v.i = i;
  v.f = f;
  return v;
}

bool same_value(const GgufValue& a, const GgufValue& b) {
  if (a.type != b.type) return false;
  switch (a.type) {
    case GgufValueType::U8:
    case GgufValueType::U16:
    case GgufValueType::U32:
    case GgufValueType::U64:
    case GgufValueType::BOOL:
      return a.u == b.u;
    case GgufValueType::I8:
    case GgufValueType::I16:
    case GgufValueType::I32:
    case GgufValueType::I64:
      return a.i == b.i;
    case GgufValueType::F32:
    case GgufValueType::F64:
      return a.f == b.f;
    case GgufValueType::STRING:
      return a.s == b.s;
    case GgufValueType::ARRAY:
      if (a.elem_type != b.elem_type || a.arr.size() != b.arr.size()) return false;
      for (size_t i = 0; i < a.arr.size(); ++i) {
        if (!same_value(a.arr[i], b.arr[i])) return false;
      }
      return true;
  }
  return false;
}

std::vector<np::GgufKV> all_kinds_of_metadata() {
  using V = GgufValue;
  std::vector<np::GgufKV> kv;
  kv.push_back({"general.architecture", V::make_string("needle")});
  kv.push_back({"k.u8", scalar(GgufValueType::U8, 200)});
  kv.push_back({"k.i8", scalar(GgufValueType::I8, 0, -100)});
  kv.push_back({"k.u16", scalar(GgufValueType::U16, 60000)});
  kv.push_back({"k.i16", scalar(GgufValueType::I16, 0, -30000)});
  kv.push_back({"k.u32", V::make_u32(4000000000u)});
  kv.push_back({"k.i32", V::make_i32(-2000000000)});
  kv.push_back({"k.f32", V::make_f32(1.5f)});
  kv.push_back({"k.true", V::make_bool(true)});
  kv.push_back({"k.false", V::make_bool(false)});
  kv.push_back({"k.string", V::make_string("h\xc3\xa9llo \xe2\x96\x81world")});
  kv.push_back({"k.empty_string", V::make_string("")});
  kv.push_back({"k.u64", V::make_u64((uint64_t(1) << 63) + 5)});
  kv.push_back({"k.i64", V::make_i64(-(int64_t(1) << 62))});
  kv.push_back({"k.f64", V::make_f64(1e300)});
  kv.push_back({"k.small_u64", V::make_u64(77)});
  kv.push_back({"k.neg_i32", V::make_i32(-1)});
  kv.push_back({"k.arr_u32", V::make_array(GgufValueType::U32, {V::make_u32(1), V::make_u32(2), V::make_u32(3)})});
  kv.push_back({"k.arr_str", V::make_array(GgufValueType::STRING,
                                           {V::make_string("a"), V::make_string(""), V::make_string("ccc")})});
  kv.push_back({"k.arr_empty", V::make_array(GgufValueType::I32, {})});
  kv.push_back({"k.arr_f32", V::make_array(GgufValueType::F32, {V::make_f32(0.5f), V::make_f32(-0.25f)})});
  kv.push_back({"k.arr_bool", V::make_array(GgufValueType::BOOL, {V::make_bool(true), V::make_bool(false)})});
  kv.push_back({"k.arr_i8", V::make_array(GgufValueType::I8, {scalar(GgufValueType::I8, 0, -128)})});
  kv.push_back({"k.arr_f64", V::make_array(GgufValueType::F64, {V::make_f64(-2.5)})});
  kv.push_back({"k.nested",
                V::make_array(GgufValueType::ARRAY,
                              {V::make_array(GgufValueType::U8, {scalar(GgufValueType::U8, 1),
                                                                 scalar(GgufValueType::U8, 2)}),
                               V::make_array(GgufValueType::STRING, {}),
                               V::make_array(GgufValueType::ARRAY,
                                             {V::make_array(GgufValueType::STRING,
                                                            {V::make_string("deep")})})})});
  return kv;
}

struct TensorSrc {
  std::string name;
  std::vector<int64_t> dims;
  GgmlType type;
  std::vector<float> values;
};

std::vector<TensorSrc> all_kinds_of_tensors() {
  std::mt19937 rng(7);
  std::uniform_real_distribution<float> dist(-2.0f, 2.0f);
  auto rand_vec = [&](size_t n) {
    std::vector<float> v(n);
    for (float& x : v) x = dist(rng);
    return v;
  };
  return {
      {"f32", {3, 2}, GgmlType::F32, {0, 1, 2, 3, 4, 5}},
      {"f16", {5}, GgmlType::F16, rand_vec(5)},
      {"q8", {64, 2}, GgmlType::Q8_0, rand_vec(128)},
      {"q4", {32, 3}, GgmlType::Q4_0, rand_vec(96)},
      {"bf16", {7}, GgmlType::BF16, rand_vec(7)},
      {"enc.blk.0.attn_q.weight", {32, 2, 1, 2}, GgmlType::Q8_0, rand_vec(128)},
  };
}

np::GgufWriter full_writer(int alignment) {
  np::GgufWriter w;
  w.set_kv("k.u32", GgufValue::make_u32(1));  // replaced below; keeps this first position
  if (alignment != 0) w.set_kv("general.alignment", GgufValue::make_u32(static_cast<uint32_t>(alignment)));
  for (const np::GgufKV& kv : all_kinds_of_metadata()) w.set_kv(kv.key, kv.value);
  for (const TensorSrc& t : all_kinds_of_tensors()) {
    REQUIRE(w.add_tensor_f32(t.name, t.dims, t.type, t.values.data()).ok());
  }
  const uint8_t raw[6] = {1, 2, 3, 4, 5, 6};
  REQUIRE(w.add_tensor_raw("raw_f16", {3}, GgmlType::F16, raw, sizeof raw).ok());
  return w;
}

void check_full_file(const np::GgufFile& f, const uint8_t* base, int alignment) {
  const uint32_t align = alignment ? static_cast<uint32_t>(alignment) : 32;
  CHECK(f.version() == 3);
  CHECK(f.alignment() == align);
  CHECK(f.data_offset() % align == 0);

  // Metadata: all values, in set_kv order (k.u32 stays first though replaced later).
  std::vector<np::GgufKV> want = all_kinds_of_metadata();
  const auto& kvs = f.kvs();
  size_t extra = alignment ? 1 : 0;
  REQUIRE(kvs.size() == want.size() + extra);
  CHECK(kvs[0].key == "k.u32");
  CHECK(kvs[0].value.u == 4000000000u);
  for (const np::GgufKV& kv : want) {
    INFO(kv.key);
    const GgufValue* got = f.find(kv.key);
    REQUIRE(got != nullptr);
    CHECK(same_value(*got, kv.value));
  }

  // Tensors: insertion order, back to back, each padded to the alignment.
  std::vector<TensorSrc> src = all_kinds_of_tensors();
  const auto& ts = f.tensors();
  REQUIRE(ts.size() == src.size() + 1);
  uint64_t next = 0;
  for (size_t i = 0; i < ts.size(); ++i) {
    INFO(ts[i].name);
    CHECK(ts[i].offset == next);
    CHECK(ts[i].offset % align == 0);
    const uint8_t* data = f.tensor_data(ts[i]);
    CHECK(static_cast<size_t>(data - base) % align == 0);
    CHECK(static_cast<size_t>(data - base) + ts[i].nbytes <= f.size());
    next = (ts[i].offset + ts[i].nbytes + align - 1) / align * align;
    if (i == src.size()) break;
    CHECK(ts[i].name == src[i].name);
    CHECK(ts[i].dims == src[i].dims);
    CHECK(ts[i].type == src[i].type);
    uint64_t nbytes = 0;
    REQUIRE(np::ggml_tensor_nbytes(src[i].type, src[i].dims, &nbytes).ok());
    CHECK(ts[i].nbytes == nbytes);
    CHECK(ts[i].n_elements() == static_cast<int64_t>(src[i].values.size()));
    std::vector<uint8_t> expected(nbytes);
    np::quantize_from_f32(src[i].type, src[i].values.data(), expected.data(),
                          static_cast<int64_t>(src[i].values.size()));
    CHECK(std::vector<uint8_t>(data, data + nbytes) == expected);
    std::vector<float> back(src[i].values.size());
    np::dequantize_to_f32(ts[i].type, data, back.data(), static_cast<int64_t>(back.size()));
    if (src[i].type == GgmlType::F32) CHECK(back == src[i].values);
  }
  const np::GgufTensorInfo* raw = f.find_tensor("raw_f16");
  REQUIRE(raw != nullptr);
  const uint8_t want_raw[6] = {1, 2, 3, 4, 5, 6};
  CHECK(std::memcmp(f.tensor_data(*raw), want_raw, 6) == 0);
  CHECK(f.find_tensor("nope") == nullptr);
  CHECK(f.size() == f.data_offset() + next);  // the last tensor is padded too
}

struct TempDir : np_test::TempDir {
  TempDir() : np_test::TempDir("np_gguf_test") {}
};

}  // namespace

TEST_CASE("writer -> reader round trip: every metadata and tensor type", "[gguf]") {
  for (int alignment : {0, 64, 1}) {
    INFO("general.alignment " << alignment << " (0 = not set)");
    np::GgufWriter w = full_writer(alignment);
    auto bytes = w.to_bytes();
    REQUIRE(bytes.ok());
    const std::vector<uint8_t> b = bytes.value();

    {
      auto f = np::GgufFile::open_bytes(b);
      INFO("open_bytes: " << f.status().to_string());
      REQUIRE(f.ok());
      const np::GgufFile& file = *f.value();
      // Owned bytes: tensor data points into the file's own copy.
      check_full_file(file, file.tensor_data(file.tensors()[0]) - file.data_offset(), alignment);
    }
    {
      auto f = np::GgufFile::open_view(b.data(), b.size());
      INFO("open_view: " << f.status().to_string());
      REQUIRE(f.ok());
      CHECK(f.value()->tensor_data(f.value()->tensors()[0]) == b.data() + f.value()->data_offset());
      check_full_file(*f.value(), b.data(), alignment);
    }
    {
      TempDir dir;
      const std::string path = dir.path + "/model.gguf";
      REQUIRE(w.write_file(path).ok());
      auto f = np::GgufFile::open_file(path);
      INFO("open_file: " << f.status().to_string());
      REQUIRE(f.ok());
      const np::GgufFile& file = *f.value();
      check_full_file(file, file.tensor_data(file.tensors()[0]) - file.data_offset(), alignment);
      std::FILE* fp = std::fopen(path.c_str(), "rb");
      REQUIRE(fp != nullptr);
      std::vector<uint8_t> on_disk(b.size() + 1);
      CHECK(std::fread(on_disk.data(), 1, on_disk.size(), fp) == b.size());
      std::fclose(fp);
      on_disk.resize(b.size());
      CHECK(on_disk == b);
    }
  }
}

TEST_CASE("writer layout: header bytes and offsets", "[gguf]") {
  np::GgufWriter w;
  w.set_kv("a", GgufValue::make_u32(7));
  const float v[8] = {1, 2, 3, 4, 5, 6, 7, 8};
  REQUIRE(w.add_tensor_f32("t", {8}, GgmlType::F32, v).ok());
  REQUIRE(w.add_tensor_f32("u", {2}, GgmlType::F32, v).ok());
  auto r = w.to_bytes();
  REQUIRE(r.ok());
  const std::vector<uint8_t>& b = r.value();
  // 24 header + kv (8+1 key, 4 type, 4 value = 17) + 2 infos (8+1 name, 4, 8 dim, 4, 8 = 33)
  // = 107 -> data at 128; "t" is 32 bytes at 0, "u" 8 bytes at 32, padded to 64.
  Bytes want = header(2, 1);
  kv_u32(want, "a", 7);
  tensor_info(want, "t", {8}, kF32, 0);
  tensor_info(want, "u", {2}, kF32, 32);
  want.pad(32);
  REQUIRE(want.b.size() == 128);
  REQUIRE(b.size() == 128 + 64);
  CHECK(std::vector<uint8_t>(b.begin(), b.begin() + 128) == want.b);
  CHECK(std::memcmp(b.data() + 128, v, 32) == 0);
  CHECK(std::memcmp(b.data() + 160, v, 8) == 0);
  CHECK(std::vector<uint8_t>(b.begin() + 168, b.end()) == std::vector<uint8_t>(24, 0));
}

TEST_CASE("reader accepts v2, a file without tensors, and tensors out of order", "[gguf]") {
  {
    Bytes b = header(1, 1, 2);
    kv_u32(b, "a", 7);
    tensor_info(b, "t", {8}, kF32, 0);
    auto f = np::GgufFile::open_bytes(finish(b, 32));
    REQUIRE(f.ok());
    CHECK(f.value()->version() == 2);
  }
  {
    Bytes b = header(0, 1);
    kv_u32(b, "a", 7);
    auto f = np::GgufFile::open_bytes(b.b);  // no padding, no data section at all
    REQUIRE(f.ok());
    CHECK(f.value()->tensors().empty());
  }
  {
    // Not back to back (a 32-byte gap) and listed in reverse: still valid for us.
    Bytes b = header(2, 0);
    tensor_info(b, "late", {8}, kF32, 64);
    tensor_info(b, "early", {8}, kF32, 0);
    auto f = np::GgufFile::open_bytes(finish(b, 96));
    REQUIRE(f.ok());
    CHECK(f.value()->tensors()[0].name == "late");
  }
  CHECK(parse_code(handmade_valid()) == Code::kOk);
}

TEST_CASE("typed getters", "[gguf]") {
  auto r = full_writer(0).to_bytes();
  REQUIRE(r.ok());
  auto fr = np::GgufFile::open_bytes(r.take());
  REQUIRE(fr.ok());
  const np::GgufFile& f = *fr.value();
  uint32_t u = 0;
  CHECK(f.get_u32("k.u32", &u).ok());
  CHECK(u == 4000000000u);
  CHECK(f.get_u32("k.u8", &u).ok());
  CHECK(u == 200);
  CHECK(f.get_u32("k.small_u64", &u).ok());
  CHECK(u == 77);
  CHECK(f.get_u32("k.u64", &u).code() == Code::kBadMetadata);     // does not fit
  CHECK(f.get_u32("k.neg_i32", &u).code() == Code::kBadMetadata);  // negative
  CHECK(f.get_u32("k.string", &u).code() == Code::kBadMetadata);
  CHECK(f.get_u32("k.true", &u).code() == Code::kBadMetadata);
  CHECK(f.get_u32("missing", &u).code() == Code::kBadMetadata);
  float x = 0;
  CHECK(f.get_f32("k.f32", &x).ok());
  CHECK(x == 1.5f);
  CHECK(f.get_f32("k.f64", &x).code() == Code::kBadMetadata);  // 1e300 is out of f32 range
  CHECK(f.get_f32("k.u32", &x).code() == Code::kBadMetadata);
  bool flag = false;
  CHECK(f.get_bool("k.true", &flag).ok());
  CHECK(flag);
  CHECK(f.get_bool("k.false", &flag).ok());
  CHECK_FALSE(flag);
  CHECK(f.get_bool("k.u8", &flag).code() == Code::kBadMetadata);
  std::string s;
  CHECK(f.get_string("general.architecture", &s).ok());
  CHECK(s == "needle");
  CHECK(f.get_string("k.empty_string", &s).ok());
  CHECK(s.empty());
  CHECK(f.get_string("k.arr_str", &s).code() == Code::kBadMetadata);
  const std::vector<GgufValue>* arr = nullptr;
  CHECK(f.get_array("k.arr_str", GgufValueType::STRING, &arr).ok());
  REQUIRE(arr != nullptr);
  CHECK(arr->size() == 3);
  CHECK(f.get_array("k.arr_str", GgufValueType::U32, &arr).code() == Code::kBadMetadata);
  CHECK(f.get_array("k.string", GgufValueType::STRING, &arr).code() == Code::kBadMetadata);
}

TEST_CASE("writer refuses bad arguments", "[gguf]") {
  const float v[64] = {};
  np::GgufWriter w;
  REQUIRE(w.add_tensor_f32("a", {32}, GgmlType::Q8_0, v).ok());
  CHECK(w.add_tensor_f32("a", {32}, GgmlType::F32, v).code() == Code::kDuplicateTensor);
  CHECK(w.add_tensor_raw("a", {1}, GgmlType::F32, v, 4).code() == Code::kDuplicateTensor);
  CHECK(w.add_tensor_raw("b", {2}, GgmlType::F32, v, 4).code() == Code::kInvalidInput);
  CHECK(w.add_tensor_raw("b", {2}, GgmlType::F32, nullptr, 8).code() == Code::kInvalidInput);
  CHECK(w.add_tensor_f32("b", {33}, GgmlType::Q4_0, v).code() == Code::kBadShape);
  CHECK(w.add_tensor_f32("b", {}, GgmlType::F32, v).code() == Code::kBadShape);
  CHECK(w.add_tensor_f32("b", {1, 1, 1, 1, 1}, GgmlType::F32, v).code() == Code::kBadShape);
  CHECK(w.add_tensor_f32("b", {0}, GgmlType::F32, v).code() == Code::kBadShape);
  CHECK(w.add_tensor_f32("b", {4}, static_cast<GgmlType>(3), v).code() == Code::kBadType);
  CHECK(w.add_tensor_f32("", {4}, GgmlType::F32, v).code() == Code::kInvalidInput);
  CHECK(w.add_tensor_f32(std::string(64, 'x'), {4}, GgmlType::F32, v).code() == Code::kInvalidInput);
  CHECK(w.add_tensor_f32(std::string(63, 'x'), {4}, GgmlType::F32, v).ok());
  CHECK(w.to_bytes().ok());

  // A finite value that would turn into inf/NaN is refused; F32/F16 keep real inf/NaN.
  float wide[32] = {};
  wide[3] = 70000.0f;
  CHECK(w.add_tensor_f32("f16_overflow", {32}, GgmlType::F16, wide).code() == Code::kInvalidInput);
  wide[3] = 1e7f;  // Q8_0 scale 1e7/127 > 65504
  CHECK(w.add_tensor_f32("q8_overflow", {32}, GgmlType::Q8_0, wide).code() == Code::kInvalidInput);
  wide[3] = std::numeric_limits<float>::infinity();
  CHECK(w.add_tensor_f32("q4_inf", {32}, GgmlType::Q4_0, wide).code() == Code::kInvalidInput);
  CHECK(w.add_tensor_f32("f16_inf", {32}, GgmlType::F16, wide).ok());
  wide[3] = std::numeric_limits<float>::quiet_NaN();
  CHECK(w.add_tensor_f32("f32_nan", {32}, GgmlType::F32, wide).ok());
  wide[3] = 60000.0f;
  CHECK(w.add_tensor_f32("f16_max", {32}, GgmlType::F16, wide).ok());
  wide[3] = 5e5f;
  CHECK(w.add_tensor_f32("q4_big", {32}, GgmlType::Q4_0, wide).ok());

  np::GgufWriter a;
  a.set_kv("general.alignment", GgufValue::make_u32(3));
  CHECK(a.to_bytes().status().code() == Code::kBadMetadata);
  a.set_kv("general.alignment", GgufValue::make_u64(32));
  CHECK(a.to_bytes().status().code() == Code::kBadMetadata);
  a.set_kv("general.alignment", GgufValue::make_u32(16));
  CHECK(a.to_bytes().ok());

  np::GgufWriter m;
  m.set_kv("mixed", GgufValue::make_array(GgufValueType::U32, {GgufValue::make_u32(1), GgufValue::make_i32(2)}));
  CHECK(m.to_bytes().status().code() == Code::kInvalidInput);
  np::GgufWriter big;
  big.set_kv("u8", scalar(GgufValueType::U8, 300));
  CHECK(big.to_bytes().status().code() == Code::kInvalidInput);
  np::GgufWriter empty_key;
  empty_key.set_kv("", GgufValue::make_u32(1));
  CHECK(empty_key.to_bytes().status().code() == Code::kInvalidInput);
}

TEST_CASE("file errors name the path with IO_ERROR", "[gguf]") {
  TempDir dir;
  auto missing = np::GgufFile::open_file(dir.path + "/missing.gguf");
  CHECK(missing.status().code() == Code::kIoError);
  auto directory = np::GgufFile::open_file(dir.path);
  CHECK(directory.status().code() == Code::kIoError);
  np::GgufWriter w;
  CHECK(w.write_file(dir.path + "/no/such/dir/x.gguf").code() == Code::kIoError);
  CHECK(w.write_file(dir.path).code() == Code::kIoError);
  // A parse error in a file keeps its own code.
  const std::string bad = dir.path + "/bad.gguf";
  std::FILE* fp = std::fopen(bad.c_str(), "wb");
  REQUIRE(fp != nullptr);
  std::fputs("GGUF", fp);
  std::fclose(fp);
  CHECK(np::GgufFile::open_file(bad).status().code() == Code::kTruncated);
}

TEST_CASE("handcrafted broken files give their exact codes", "[gguf][bad-file]") {
  for (const BadCase& c : kBadCases) {
    INFO(c.name);
    const std::vector<uint8_t> bytes = make_bad(c.id);
    std::vector<uint8_t> copy(bytes);
    auto r = np::GgufFile::open_view(copy.empty() ? nullptr : copy.data(), copy.size());
    INFO(r.status().to_string());
    CHECK(r.status().code() == c.code);
    auto owned = np::GgufFile::open_bytes(bytes);
    CHECK(owned.status().code() == c.code);
  }
}

TEST_CASE("edits of a writer file at known field offsets", "[gguf][bad-file]") {
  // One tensor "w" F32 [8], no metadata: header 24 bytes; info at 24: name len (8) + "w"
  // (1), n_dims at 33, dim at 37, type at 45, offset at 49; data at 64.
  np::GgufWriter w;
  const float v[8] = {};
  REQUIRE(w.add_tensor_f32("w", {8}, GgmlType::F32, v).ok());
  const std::vector<uint8_t> good = w.to_bytes().take();
  REQUIRE(good.size() == 96);
  REQUIRE(parse_code(good) == Code::kOk);
  auto patched = [&](size_t at, uint64_t value, int n) {
    std::vector<uint8_t> b = good;
    for (int i = 0; i < n; ++i) b[at + i] = static_cast<uint8_t>(value >> (8 * i));
    return b;
  };
  CHECK(parse_code(patched(0, 'g', 1)) == Code::kBadMagic);
  CHECK(parse_code(patched(4, 1, 4)) == Code::kBadVersion);
  CHECK(parse_code(patched(8, 2, 8)) == Code::kCorrupt);         // 2nd info: zero padding = empty name
  CHECK(parse_code(patched(8, 3, 8)) == Code::kTruncated);       // 3 infos need 99 bytes, 72 left
  CHECK(parse_code(patched(33, 5, 4)) == Code::kBadShape);
  CHECK(parse_code(patched(37, 0, 8)) == Code::kBadShape);
  CHECK(parse_code(patched(37, 9, 8)) == Code::kTruncated);      // 36 bytes from 32 left
  CHECK(parse_code(patched(45, 3, 4)) == Code::kBadType);
  CHECK(parse_code(patched(45, 2, 4)) == Code::kBadShape);       // Q4_0 with ne0 = 8
  CHECK(parse_code(patched(49, 16, 8)) == Code::kCorrupt);       // not a multiple of 32
  CHECK(parse_code(patched(49, 32, 8)) == Code::kTruncated);     // [96, 128) past the end
  CHECK(parse_code(patched(45, 1, 4)) == Code::kOk);             // F16 [8] fits in the data
}

TEST_CASE("every truncation of a valid file is refused as TRUNCATED", "[gguf][bad-file]") {
  np::GgufWriter w;
  w.set_kv("general.architecture", GgufValue::make_string("needle"));
  w.set_kv("k.arr", GgufValue::make_array(GgufValueType::STRING, {GgufValue::make_string("ab"),
                                                                   GgufValue::make_string("")}));
  w.set_kv("k.nested", GgufValue::make_array(GgufValueType::ARRAY,
                                             {GgufValue::make_array(GgufValueType::U8, {})}));
  w.set_kv("k.f64", GgufValue::make_f64(0.25));
  std::vector<float> v(64, 0.5f);
  REQUIRE(w.add_tensor_f32("q", {32}, GgmlType::Q8_0, v.data()).ok());
  REQUIRE(w.add_tensor_f32("last", {8}, GgmlType::F32, v.data()).ok());  // 32 bytes: no tail padding
  const std::vector<uint8_t> good = w.to_bytes().take();
  REQUIRE(parse_code(good) == Code::kOk);
  int wrong = 0;
  size_t first_wrong = 0;
  for (size_t n = 0; n < good.size(); ++n) {
    const Code c = parse_code(std::vector<uint8_t>(good.begin(), good.begin() + n));
    if (c != Code::kTruncated && wrong++ == 0) first_wrong = n;
  }
  INFO("first prefix length not refused as TRUNCATED: " << first_wrong);
  CHECK(wrong == 0);
}

TEST_CASE("mutation fuzz: parse fails cleanly or yields in-range tensors", "[gguf][fuzz]") {
  np::GgufWriter w;
  w.set_kv("general.architecture", GgufValue::make_string("needle"));
  w.set_kv("general.alignment", GgufValue::make_u32(32));
  w.set_kv("k.tokens", GgufValue::make_array(GgufValueType::STRING,
                                             {GgufValue::make_string("<pad>"), GgufValue::make_string("a"),
                                              GgufValue::make_string("")}));
  w.set_kv("k.scores", GgufValue::make_array(GgufValueType::F32, {GgufValue::make_f32(-1), GgufValue::make_f32(2)}));
  w.set_kv("k.nested", GgufValue::make_array(GgufValueType::ARRAY,
                                             {GgufValue::make_array(GgufValueType::I16, {scalar(GgufValueType::I16, 0, -3)})}));
  w.set_kv("k.b", GgufValue::make_bool(true));
  std::vector<float> vals(256);
  for (size_t i = 0; i < vals.size(); ++i) vals[i] = std::sin(static_cast<float>(i));
  REQUIRE(w.add_tensor_f32("a", {4, 2}, GgmlType::F32, vals.data()).ok());
  REQUIRE(w.add_tensor_f32("b", {64}, GgmlType::Q8_0, vals.data()).ok());
  REQUIRE(w.add_tensor_f32("c", {32, 2}, GgmlType::Q4_0, vals.data()).ok());
  REQUIRE(w.add_tensor_f32("d", {9}, GgmlType::F16, vals.data()).ok());
  REQUIRE(w.add_tensor_f32("e", {3}, GgmlType::BF16, vals.data()).ok());
  const std::vector<uint8_t> good = w.to_bytes().take();
  REQUIRE(parse_code(good) == Code::kOk);

  std::mt19937_64 rng(20260512);
  auto pick = [&](uint64_t n) { return n == 0 ? uint64_t(0) : rng() % n; };
  const uint64_t interesting64[] = {0, 1, 2, 31, 32, 33, 64, 1ull << 31, 1ull << 32, 1ull << 62,
                                    1ull << 63, ~0ull, ~0ull - 31, 0x7fffffffffffffffull};
  const uint32_t interesting32[] = {0, 1, 2, 3, 4, 5, 7, 8, 9, 12, 13, 30, 31, 99, 0x80000000u, ~0u};
  int ok = 0, failed = 0;
  for (int iter = 0; iter < 3000; ++iter) {
    std::vector<uint8_t> m = good;
    const int n_mut = 1 + static_cast<int>(pick(3));
    for (int k = 0; k < n_mut && !m.empty(); ++k) {
      switch (pick(6)) {
        case 0:  // flip bits
          for (int j = 0, n = 1 + static_cast<int>(pick(8)); j < n; ++j) m[pick(m.size())] ^= uint8_t(1) << pick(8);
          break;
        case 1:  // insert random bytes
        {
          const size_t at = pick(m.size() + 1);
          std::vector<uint8_t> ins(1 + pick(16));
          for (uint8_t& x : ins) x = static_cast<uint8_t>(rng());
          m.insert(m.begin() + static_cast<std::ptrdiff_t>(at), ins.begin(), ins.end());
          break;
        }
        case 2:  // delete a range
        {
          const size_t at = pick(m.size());
          const size_t len = std::min<size_t>(1 + pick(16), m.size() - at);
          m.erase(m.begin() + static_cast<std::ptrdiff_t>(at), m.begin() + static_cast<std::ptrdiff_t>(at + len));
          break;
        }
        case 3:  // truncate
          m.resize(pick(m.size()));
          break;
        case 4:  // an interesting u64 at a random (often field-aligned) spot
        {
          if (m.size() < 8) break;
          const uint64_t v = interesting64[pick(sizeof interesting64 / 8)];
          const size_t at = pick(m.size() - 7);
          for (int i = 0; i < 8; ++i) m[at + i] = static_cast<uint8_t>(v >> (8 * i));
          break;
        }
        default:  // an interesting u32
        {
          if (m.size() < 4) break;
          const uint32_t v = interesting32[pick(sizeof interesting32 / 4)];
          const size_t at = pick(m.size() - 3);
          for (int i = 0; i < 4; ++i) m[at + i] = static_cast<uint8_t>(v >> (8 * i));
          break;
        }
      }
    }
    std::vector<uint8_t> buf(m);  // exact size: ASan flags any read past the end
    auto r = np::GgufFile::open_view(buf.empty() ? nullptr : buf.data(), buf.size());
    if (!r.ok()) {
      ++failed;
      continue;
    }
    ++ok;
    const np::GgufFile& f = *r.value();
    const uint8_t* lo = buf.data();
    const uint8_t* hi = buf.data() + buf.size();
    for (const np::GgufTensorInfo& t : f.tensors()) {
      const uint8_t* p = f.tensor_data(t);
      const bool inside = p >= lo && p <= hi && t.nbytes <= static_cast<uint64_t>(hi - p);
      if (!inside) FAIL("tensor '" << t.name << "' data outside the buffer, iteration " << iter);
      std::vector<float> out(static_cast<size_t>(t.n_elements()));
      np::dequantize_to_f32(t.type, p, out.data(), t.n_elements());  // reads every byte
    }
  }
  INFO("ok " << ok << ", refused " << failed);
  CHECK(ok > 0);
  CHECK(failed > 0);
}
