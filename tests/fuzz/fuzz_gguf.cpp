// fuzz_gguf.cpp — libFuzzer target: arbitrary bytes as a GGUF file. The reader must return a
// Status for every input; when it accepts one, every tensor's data must lie inside the
// bytes (read here, so ASan sees it), and the model and tokenizer loaders, which check
// metadata types, ranges and tensor shapes, must also fail cleanly or load.
// Not here: the writer (test_gguf.cpp round-trips it).
#include <cstddef>
#include <cstdint>
#include <cstdlib>

#include "np/gguf.h"
#include "np/model.h"
#include "np/tokenizer.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  auto f = np::GgufFile::open_view(data, size);
  if (!f.ok()) return 0;
  const std::shared_ptr<np::GgufFile>& file = f.value();
  uint64_t sum = 0;
  for (const np::GgufTensorInfo& t : file->tensors()) {
    uint64_t nbytes = 0;
    if (!np::ggml_tensor_nbytes(t.type, t.dims, &nbytes).ok() || nbytes != t.nbytes) std::abort();
    const uint8_t* p = file->tensor_data(t);
    if (nbytes > 0) sum += p[0] + p[nbytes - 1];  // ASan: both ends inside the input
  }
  for (const np::GgufKV& kv : file->kvs()) sum += kv.key.size();
  auto tok = np::Tokenizer::from_gguf(*file);
  if (tok.ok()) sum += static_cast<uint64_t>(tok.value().vocab_size());
  auto model = np::Model::load(file);
  if (model.ok()) sum += 1;
  return static_cast<int>(sum & 0);
}
