// status.cpp — names of status codes (stable; the JS layer matches on them).
#include "np/status.h"

namespace np {

const char* code_name(Code c) {
  switch (c) {
    case Code::kOk: return "OK";
    case Code::kIoError: return "IO_ERROR";
    case Code::kBadMagic: return "BAD_MAGIC";
    case Code::kBadVersion: return "BAD_VERSION";
    case Code::kTruncated: return "TRUNCATED";
    case Code::kCorrupt: return "CORRUPT";
    case Code::kOverflow: return "OVERFLOW";
    case Code::kBadType: return "BAD_TYPE";
    case Code::kBadShape: return "BAD_SHAPE";
    case Code::kMissingTensor: return "MISSING_TENSOR";
    case Code::kDuplicateTensor: return "DUPLICATE_TENSOR";
    case Code::kUnknownTensor: return "UNKNOWN_TENSOR";
    case Code::kBadMetadata: return "BAD_METADATA";
    case Code::kBadArchitecture: return "BAD_ARCHITECTURE";
    case Code::kUnsupported: return "UNSUPPORTED";
    case Code::kInvalidTools: return "INVALID_TOOLS";
    case Code::kInvalidInput: return "INVALID_INPUT";
    case Code::kBadTokenizer: return "BAD_TOKENIZER";
    case Code::kInternal: return "INTERNAL";
    case Code::kAborted: return "ABORTED";
    case Code::kOutOfMemory: return "OUT_OF_MEMORY";
  }
  return "UNKNOWN";
}

std::string Status::to_string() const {
  if (ok()) return "OK";
  return std::string(code_name(code_)) + ": " + message_;
}

}  // namespace np
