// args.cpp — tiny argument helpers for the CLI (no dependency on any parsing library).
#include <cstdio>
#include <cstdlib>
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

bool read_tool_prior(const Args& args, float* name_weight, float* call_weight, float* margin, float* sole,
                     float* copy_weight, float* echo_weight, std::string* error) {
  std::string v;
  const auto number = [](const std::string& t, float* out) {
    char* end = nullptr;
    const double x = std::strtod(t.c_str(), &end);
    if (t.empty() || end != t.c_str() + t.size() || !(x >= 0 && x <= 100)) return false;
    *out = static_cast<float>(x);
    return true;
  };
  if (arg_value(args, "--copy-prior", &v) && !number(v, copy_weight)) {
    *error = "--copy-prior wants a number from 0 to 100 (got '" + v + "')";
    return false;
  }
  if (arg_value(args, "--echo-prior", &v) && !number(v, echo_weight)) {
    *error = "--echo-prior wants a number from 0 to 100 (got '" + v + "')";
    return false;
  }
  if (!arg_value(args, "--tool-prior", &v)) return true;
  // NAME[,CALL[,MARGIN[,SOLE]]]: CALL defaults to NAME; MARGIN and SOLE to the model's.
  std::vector<std::string> parts;
  for (size_t at = 0;;) {
    const size_t comma = v.find(',', at);
    parts.push_back(v.substr(at, comma == std::string::npos ? std::string::npos : comma - at));
    if (comma == std::string::npos) break;
    at = comma + 1;
  }
  if (parts.size() > 4 || !number(parts[0], name_weight) || !number(parts.size() > 1 ? parts[1] : parts[0], call_weight) ||
      (parts.size() > 2 && !number(parts[2], margin)) || (parts.size() > 3 && !number(parts[3], sole))) {
    *error = "--tool-prior wants NAME[,CALL[,MARGIN[,SOLE]]], numbers from 0 to 100 (got '" + v + "')";
    return false;
  }
  return true;
}

}  // namespace np_cli
