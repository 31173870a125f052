// test_util.h — small helpers shared by the Catch2 tests: a temporary directory that
// removes itself, with a helper to write a file into it; a random-weight model in memory.
#pragma once
#include <stdlib.h>  // mkdtemp

#include <filesystem>
#include <memory>
#include <fstream>
#include <string>
#include <vector>

#include <catch2/catch.hpp>

#include "np/gguf.h"
#include "np/model.h"

namespace np_test {

// A fresh directory under the system temp dir, named after `tag`, removed with everything
// in it when the object goes.
struct TempDir {
  std::string path;
  explicit TempDir(const std::string& tag = "np_test") {
    std::string tmpl = (std::filesystem::temp_directory_path() / (tag + "_XXXXXX")).string();
    std::vector<char> buf(tmpl.begin(), tmpl.end());
    buf.push_back('\0');
    REQUIRE(mkdtemp(buf.data()) != nullptr);
    path = buf.data();
  }
  ~TempDir() { std::filesystem::remove_all(path); }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  // Writes `text` to path/name (creating subdirectories) and returns the file's path.
  std::string write(const std::string& name, const std::string& text) const {
    const std::string p = path + "/" + name;
    std::filesystem::create_directories(std::filesystem::path(p).parent_path());
    std::ofstream f(p, std::ios::binary);
    f << text;
    return p;
  }
};

// The file of a model with random weights (F32 unless `type` says, a 512-piece synthetic
// tokenizer), in memory: `config` defaults to ModelConfig::small().
inline std::shared_ptr<np::GgufFile> random_model_file(uint64_t seed,
                                                       const np::ModelConfig& config = np::ModelConfig::small(),
                                                       np::GgmlType type = np::GgmlType::F32) {
  np::GgufWriter w;
  auto tok = np::synthetic_tokenizer(512);
  REQUIRE(tok.ok());
  REQUIRE(np::model_write_random(config, tok.value(), seed, type, &w).ok());
  auto bytes = w.to_bytes();
  REQUIRE(bytes.ok());
  auto f = np::GgufFile::open_bytes(bytes.take());
  REQUIRE(f.ok());
  return f.take();
}

// That model, loaded.
inline std::shared_ptr<const np::Model> random_model(uint64_t seed,
                                                     const np::ModelConfig& config = np::ModelConfig::small(),
                                                     np::GgmlType type = np::GgmlType::F32) {
  auto m = np::Model::load(random_model_file(seed, config, type));
  REQUIRE(m.ok());
  return m.take();
}

}  // namespace np_test
