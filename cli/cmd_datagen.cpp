// cmd_datagen.cpp — `generate-data`: the procedural data factory (np/datagen.h) on the
// command line. Writes Needle-format JSONL from the content in data/factory/, optionally a
// statistics report; `--check-disjoint A B` checks that two files share no tool name,
// description or parameter name (train vs test); `--validate` only loads the content.
// Errors: "error: CODE: message" on stderr, exit 1 (2 for a usage error).
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <string>

#include "commands.h"
#include "np/datagen.h"
#include "np/gguf.h"
#include "np/tokenizer.h"

namespace np_cli {
namespace {

// --content DIR, else ./data/factory, else <dir of the executable>/../data/factory (the
// build directories sit in the repository root).
std::string content_dir(const Args& args) {
  std::string dir;
  if (arg_value(args, "--content", &dir)) return dir;
  std::error_code ec;
  if (std::filesystem::is_directory("data/factory/categories", ec)) return "data/factory";
  const std::filesystem::path exe = std::filesystem::read_symlink("/proc/self/exe", ec);
  if (!ec) {
    const std::filesystem::path p = exe.parent_path().parent_path() / "data" / "factory";
    if (std::filesystem::is_directory(p / "categories", ec)) return p.string();
  }
  return "data/factory";
}

bool parse_int(const std::string& s, long long lo, long long hi, long long* out) {
  char* end = nullptr;
  const long long v = std::strtoll(s.c_str(), &end, 10);
  if (s.empty() || *end || v < lo || v > hi) return false;
  *out = v;
  return true;
}

bool parse_share(const std::string& s, double* out) {
  char* end = nullptr;
  const double v = std::strtod(s.c_str(), &end);
  if (s.empty() || *end || !(v >= 0 && v <= 1)) return false;
  *out = v;
  return true;
}

int check_disjoint_cmd(const Args& args) {
  size_t i = 0;
  while (i < args.size() && args[i] != "--check-disjoint") ++i;
  if (i + 2 >= args.size()) return usage_error("--check-disjoint needs two files: TRAIN.jsonl TEST.jsonl");
  np::DisjointReport r;
  np::Status st = np::check_disjoint(args[i + 1], args[i + 2], &r);
  if (!st.ok()) return fail(st.to_string());
  std::printf("%s: %lld examples, %lld tools; %s: %lld examples, %lld tools\n", args[i + 1].c_str(),
              static_cast<long long>(r.a_examples), static_cast<long long>(r.a_tools), args[i + 2].c_str(),
              static_cast<long long>(r.b_examples), static_cast<long long>(r.b_tools));
  auto show = [](const char* what, const std::vector<std::string>& v) {
    std::printf("shared %s: %zu", what, v.size());
    for (size_t k = 0; k < v.size() && k < 10; ++k) std::printf("%s\"%s\"", k ? ", " : " (", v[k].c_str());
    std::printf("%s\n", v.empty() ? "" : (v.size() > 10 ? ", ...)" : ")"));
  };
  show("tool names", r.shared_names);
  show("descriptions", r.shared_descriptions);
  show("parameter names", r.shared_params);
  if (!r.disjoint()) return fail("INVALID_INPUT: the files share tool names, descriptions or parameter names");
  std::printf("disjoint\n");
  return 0;
}

}  // namespace

int cmd_generate_data(const Args& args) {
  if (arg_flag(args, "--check-disjoint")) return check_disjoint_cmd(args);

  const std::string dir = content_dir(args);
  auto factory = np::DataFactory::load(dir);
  if (!factory.ok()) return fail(factory.status().to_string());
  const np::ContentCounts& n = factory.value()->counts();
  if (arg_flag(args, "--validate")) {
    std::printf("%s: %lld categories, %lld tools (%lld train, %lld test), %lld templates, %lld slot values, "
                "%lld no-call queries\n",
                dir.c_str(), static_cast<long long>(n.categories), static_cast<long long>(n.tools),
                static_cast<long long>(n.train_tools), static_cast<long long>(n.test_tools),
                static_cast<long long>(n.templates), static_cast<long long>(n.slot_values),
                static_cast<long long>(n.no_call_queries));
    return 0;
  }

  np::DatagenOptions o;
  std::string out_path, v;
  if (!arg_value(args, "--out", &out_path)) return usage_error("generate-data needs --out D.jsonl");
  long long num = 0;
  if (!arg_value(args, "--count", &v) || !parse_int(v, 0, 100000000, &num))
    return usage_error("generate-data needs --count N (0 to 100000000)");
  o.count = num;
  if (arg_value(args, "--seed", &v)) {
    if (!parse_int(v, 0, (1ll << 62), &num)) return usage_error("--seed needs a non-negative integer");
    o.seed = static_cast<uint64_t>(num);
  }
  if (arg_value(args, "--split", &v) && !np::data_split_from_name(v, &o.split))
    return usage_error("--split must be train, dev or test");
  if (arg_value(args, "--multi", &v) && !parse_share(v, &o.multi_share)) return usage_error("--multi needs a share in [0, 1]");
  if (arg_value(args, "--none", &v) && !parse_share(v, &o.none_share)) return usage_error("--none needs a share in [0, 1]");
  if (arg_value(args, "--typos", &v) && !parse_share(v, &o.typo_share)) return usage_error("--typos needs a share in [0, 1]");
  if (arg_value(args, "--max-tools", &v)) {
    if (!parse_int(v, 1, 10, &num)) return usage_error("--max-tools needs 1 to 10");
    o.max_tools = static_cast<int32_t>(num);
  }

  // Optional tokenizer for token lengths in the report.
  np::Tokenizer tok;
  bool have_tok = false;
  std::string spm, model;
  if (arg_value(args, "--spm", &spm)) {
    auto t = np::Tokenizer::from_spm_file(spm);
    if (!t.ok()) return fail(t.status().to_string());
    tok = t.take();
    have_tok = true;
  } else if (arg_value(args, "--model", &model)) {
    auto file = np::GgufFile::open_file(model);
    if (!file.ok()) return fail(file.status().to_string());
    auto t = np::Tokenizer::from_gguf(*file.value());
    if (!t.ok()) return fail(model + ": " + t.status().to_string());
    tok = t.take();
    have_tok = true;
  }

  const auto t0 = std::chrono::steady_clock::now();
  std::string text;
  np::DatagenStats stats;
  np::Status st = factory.value()->generate(o, have_tok ? &tok : nullptr, &text, &stats);
  if (!st.ok()) return fail(st.to_string());
  const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();

  std::FILE* f = std::fopen(out_path.c_str(), "wb");
  if (!f) return fail("IO_ERROR: cannot open " + out_path + " for writing");
  const bool ok = std::fwrite(text.data(), 1, text.size(), f) == text.size();
  if (std::fclose(f) != 0 || !ok) return fail("IO_ERROR: writing " + out_path + " failed");

  std::string stats_path;
  if (arg_value(args, "--stats", &stats_path)) {
    stats.seconds = secs;
    std::string report = stats.to_json();
    std::FILE* s = std::fopen(stats_path.c_str(), "wb");
    if (!s) return fail("IO_ERROR: cannot open " + stats_path + " for writing");
    report.push_back('\n');
    const bool sok = std::fwrite(report.data(), 1, report.size(), s) == report.size();
    if (std::fclose(s) != 0 || !sok) return fail("IO_ERROR: writing " + stats_path + " failed");
  }
  std::fprintf(stderr, "wrote %lld %s examples to %s in %.2f s (%lld one call, %lld two calls, %lld no call; "
               "%lld duplicates redrawn)\n",
               static_cast<long long>(stats.examples), np::data_split_name(o.split), out_path.c_str(), secs,
               static_cast<long long>(stats.single), static_cast<long long>(stats.multi),
               static_cast<long long>(stats.none), static_cast<long long>(stats.duplicates_rejected));
  return 0;
}

}  // namespace np_cli
