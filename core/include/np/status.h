// status.h — error values for the engine. core/ never throws or aborts on outside input:
// every fallible call returns a Status (or a Result<T>) whose code says what went wrong
// and whose message names the thing (tensor, tool, field, byte offset).
// Not here: logging, exceptions. Codes are part of the public API (wasm/ and web/ map them
// to typed errors): append new codes at the end, never renumber.
#pragma once
#include <string>
#include <utility>

namespace np {

enum class Code : int {
  kOk = 0,
  kIoError = 1,          // file could not be opened/read/written
  kBadMagic = 2,         // not a GGUF file
  kBadVersion = 3,       // GGUF version not 2/3, or needle.format_version unknown
  kTruncated = 4,        // a read ran past the end of the bytes
  kCorrupt = 5,          // structurally invalid (bad string length, bad alignment, overlapping data, ...)
  kOverflow = 6,         // a size/count computation overflowed
  kBadType = 7,          // unknown or disallowed tensor/metadata type
  kBadShape = 8,         // tensor shape disagrees with the metadata
  kMissingTensor = 9,
  kDuplicateTensor = 10,
  kUnknownTensor = 11,
  kBadMetadata = 12,     // a metadata key missing, of the wrong type, or out of range
  kBadArchitecture = 13, // general.architecture is not "needle"
  kUnsupported = 14,     // a valid feature this engine does not implement (e.g. unknown encoder mask)
  kInvalidTools = 15,    // tools JSON malformed
  kInvalidInput = 16,    // bad argument to an API call (ids out of range, empty query, ...)
  kBadTokenizer = 17,    // tokenizer data malformed
  kInternal = 18,        // a bug: an invariant did not hold
  kAborted = 19,         // the caller stopped the call (token callback returned false)
  kOutOfMemory = 20,     // the memory the work needs exceeds the limit (nothing was allocated)
};

const char* code_name(Code c);  // "BAD_MAGIC", ... (stable strings used by the JS layer)

class Status {
 public:
  Status() = default;
  Status(Code code, std::string message) : code_(code), message_(std::move(message)) {}
  static Status Ok() { return Status(); }
  bool ok() const { return code_ == Code::kOk; }
  Code code() const { return code_; }
  const std::string& message() const { return message_; }
  std::string to_string() const;  // "BAD_SHAPE: enc.blk.0.attn_q.weight: got [..], expected [..]"

 private:
  Code code_ = Code::kOk;
  std::string message_;
};

// Result<T>: a value or an error. value() on an error is a programmer bug (asserts).
template <class T>
class Result {
 public:
  Result(T value) : value_(std::move(value)) {}              // NOLINT: implicit by design
  Result(Status status) : status_(std::move(status)) {}      // NOLINT
  bool ok() const { return status_.ok(); }
  const Status& status() const { return status_; }
  T& value() { return value_; }
  const T& value() const { return value_; }
  T&& take() { return std::move(value_); }

 private:
  Status status_;
  T value_{};
};

#define NP_RETURN_IF_ERROR(expr)          \
  do {                                    \
    ::np::Status np_status_ = (expr);     \
    if (!np_status_.ok()) return np_status_; \
  } while (0)

}  // namespace np
