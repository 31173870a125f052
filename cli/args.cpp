// args.cpp — tiny argument helpers for the CLI (no dependency on any parsing library).
#include <cstdio>
#include <fstream>
#include <sstream>

#include "commands.h"

namespace np_cli {

bool arg_value(const Args& args, const std::string& name, std::string* out) {
  for (size_t i = 0; i < args.size(); ++i) {
    if (args[i] == name && i + 1 < args.size()) {
      *out = args[i + 1];
      return true;
    }
    if (args[i].size() > name.size() && args[i].compare(0, name.size(), name) == 0 &&
        args[i][name.size()] == '=') {
      *out = args[i].substr(name.size() + 1);
      return true;
    }
  }
  return false;
}

bool arg_flag(const Args& args, const std::string& name) {
  for (const auto& a : args)
    if (a == name) return true;
  return false;
}

bool read_file(const std::string& path, std::string* out) {
  std::ifstream f(path, std::ios::binary);
  if (!f) return false;
  std::ostringstream ss;
  ss << f.rdbuf();
  if (f.bad()) return false;
  *out = ss.str();
  return true;
}

bool text_or_file(const std::string& v, std::string* out) {
  if (!v.empty() && v[0] == '@') return read_file(v.substr(1), out);
  *out = v;
  return true;
}

int fail(const std::string& message) {
  std::fprintf(stderr, "error: %s\n", message.c_str());
  return 1;
}

int usage_error(const std::string& message) {
  std::fprintf(stderr, "error: %s\n(run `needlepoint help` for usage)\n", message.c_str());
  return 2;
}

bool read_examples_in_order(const std::string& path, std::vector<np::Example>* out, np::DataReport* report,
                            std::string* error) {
  np::ReaderOptions ro;
  ro.shuffle = false;
  auto examples = np::read_examples(path, ro, report);
  if (!examples.ok()) {
    *error = examples.status().to_string();
    return false;
  }
  *out = examples.take();
  return true;
}

}  // namespace np_cli
