// test_util.h — small helpers shared by the Catch2 tests: a temporary directory that
// removes itself, with a helper to write a file into it.
#pragma once
#include <stdlib.h>  // mkdtemp

#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include <catch2/catch.hpp>

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

}  // namespace np_test
