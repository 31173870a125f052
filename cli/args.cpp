// args.cpp — tiny argument helpers for the CLI (no dependency on any parsing library).
#include <algorithm>
#include <cerrno>
#include <cmath>
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

bool int_option(const Args& args, const std::string& name, long long lo, long long hi, long long* out, int* rc) {
  std::string v;
  if (!arg_value(args, name, &v)) return true;
  errno = 0;
  char* end = nullptr;
  const long long x = std::strtoll(v.c_str(), &end, 10);
  if (v.empty() || *end != '\0' || errno == ERANGE || x < lo || x > hi) {
    *rc = usage_error(name + " needs an integer from " + std::to_string(lo) + " to " + std::to_string(hi) + ", got '" + v + "'");
    return false;
  }
  *out = x;
  return true;
}

bool number_option(const Args& args, const std::string& name, double lo, double hi, double* out, int* rc) {
  std::string v;
  if (!arg_value(args, name, &v)) return true;
  char* end = nullptr;
  const double x = std::strtod(v.c_str(), &end);
  if (v.empty() || *end != '\0' || !std::isfinite(x) || x < lo || x > hi) {
    std::ostringstream range;
    range << lo << " to " << hi;
    *rc = usage_error(name + " needs a number from " + range.str() + ", got '" + v + "'");
    return false;
  }
  *out = x;
  return true;
}

namespace {

size_t edit_distance(const std::string& a, const std::string& b) {
  std::vector<size_t> row(b.size() + 1);
  for (size_t j = 0; j <= b.size(); ++j) row[j] = j;
  for (size_t i = 1; i <= a.size(); ++i) {
    size_t diag = row[0];
    row[0] = i;
    for (size_t j = 1; j <= b.size(); ++j) {
      const size_t up = row[j];
      row[j] = std::min({row[j] + 1, row[j - 1] + 1, diag + (a[i - 1] == b[j - 1] ? 0 : 1)});
      diag = up;
    }
  }
  return row[b.size()];
}

}  // namespace

std::string closest_option(const std::string& name, const std::vector<std::string>& known) {
  std::string best;
  size_t best_d = 4;
  for (const std::string& o : known) {
    const size_t n = std::min(o.size(), name.size());
    const bool prefix = o.compare(0, n, name, 0, n) == 0;
    const size_t d = prefix ? 1 : edit_distance(name, o);
    if (d < best_d) best_d = d, best = o;
  }
  return best;
}

int check_options(const std::string& command, const Args& args, const char* spec) {
  std::vector<std::string> valued, switches;
  std::istringstream in(spec);
  for (std::string opt; in >> opt;) {
    if (opt.back() == '=') valued.push_back(opt.substr(0, opt.size() - 1));
    else switches.push_back(opt);
  }
  const auto has = [](const std::vector<std::string>& v, const std::string& x) {
    return std::find(v.begin(), v.end(), x) != v.end();
  };
  for (size_t i = 0; i < args.size(); ++i) {
    const std::string& a = args[i];
    if (a.size() < 3 || a.compare(0, 2, "--") != 0) continue;
    const size_t eq = a.find('=');
    const std::string name = a.substr(0, eq);
    if (has(valued, name)) {
      if (eq == std::string::npos) ++i;  // its value, whatever it looks like
      continue;
    }
    if (has(switches, name)) {
      if (eq != std::string::npos) return usage_error(name + " takes no value (`" + command + "`)");
      continue;
    }
    std::vector<std::string> known = valued;
    known.insert(known.end(), switches.begin(), switches.end());
    const std::string best = closest_option(name, known);
    return usage_error("unknown option " + name + " for `" + command + "`" +
                       (best.empty() ? std::string() : "; did you mean " + best + "?"));
  }
  return 0;
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
