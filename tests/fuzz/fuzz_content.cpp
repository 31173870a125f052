// fuzz_content.cpp — libFuzzer target: the data factory's content files and the generator
// over whatever content they load (`needlepoint generate-data --content DIR`).
// Input: common.json's text, a 0x00 byte, one category file's text, a 0x00 byte, then option
// bytes (split, count 1-8, the multi-call, no-call, typo and teacher shares, tools per
// example) and, after them, the reply a teacher gives to every request. The two texts are
// written to a scratch directory and loaded by DataFactory::load, which must accept them or
// refuse them with INVALID_INPUT. Loaded content must then generate: OK, or INVALID_INPUT
// where it cannot give that many distinct examples (never INTERNAL, the generator's own
// check that an example reads back). Every example written must keep docs/data.md's promises:
// its calls follow the offered tools' schemas (tests/core/schema_check.h), name offered tools,
// and every string value (ignoring ASCII case) and every integer's digits stand in the query.
#include <sys/stat.h>
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "np/datagen.h"
#include "schema_check.h"

namespace {

using json = nlohmann::ordered_json;

// The scratch directory: made once per process, its two files rewritten for each input and
// removed at exit. A plain array (no destructor), so the exit handler can still read it.
char g_scratch[] = "/tmp/np-fuzz-content-XXXXXX";

void remove_scratch() {
  const std::string d = g_scratch;
  std::remove((d + "/categories/a.json").c_str());
  std::remove((d + "/common.json").c_str());
  rmdir((d + "/categories").c_str());
  rmdir(d.c_str());
}

std::string scratch() {
  static const bool made = [] {
    if (!mkdtemp(g_scratch)) std::abort();
    if (mkdir((std::string(g_scratch) + "/categories").c_str(), 0700) != 0) std::abort();
    std::atexit(remove_scratch);
    return true;
  }();
  (void)made;
  return g_scratch;
}

void write(const std::string& path, std::string_view text) {
  std::ofstream f(path, std::ios::binary | std::ios::trunc);
  f.write(text.data(), static_cast<std::streamsize>(text.size()));
  if (!f) std::abort();
}

std::string_view part(const uint8_t** at, const uint8_t* end) {
  const uint8_t* zero = static_cast<const uint8_t*>(std::memchr(*at, 0, static_cast<size_t>(end - *at)));
  const uint8_t* stop = zero ? zero : end;
  const std::string_view out(reinterpret_cast<const char*>(*at), static_cast<size_t>(stop - *at));
  *at = zero ? zero + 1 : end;
  return out;
}

std::string lowered(std::string s) {
  for (char& c : s)
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  return s;
}

// Every string (arrays included) and integer of a call's arguments stands in the query.
void check_grounded(const std::string& query, const json& value) {
  if (value.is_string()) {
    if (lowered(query).find(lowered(value.get<std::string>())) == std::string::npos) std::abort();
  } else if (value.is_number_integer()) {
    if (query.find(value.dump()) == std::string::npos) std::abort();
  } else if (value.is_array()) {
    for (const json& v : value) check_grounded(query, v);
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size > 64 * 1024) return 0;
  const uint8_t* at = data;
  const uint8_t* end = data + size;
  const std::string_view common = part(&at, end);
  const std::string_view category = part(&at, end);
  uint8_t opt[8] = {0, 3, 26, 26, 26, 0, 0, 9};
  for (size_t i = 0; i < sizeof opt && at < end; ++i) opt[i] = *at++;
  const std::string reply(reinterpret_cast<const char*>(at), static_cast<size_t>(end - at));

  const std::string dir = scratch();
  write(dir + "/common.json", common);
  write(dir + "/categories/a.json", category);
  auto factory = np::DataFactory::load(dir);
  if (!factory.ok()) {
    if (factory.status().code() != np::Code::kInvalidInput) std::abort();
    return 0;
  }

  np::DatagenOptions o;
  o.split = static_cast<np::DataSplit>(opt[0] % 3);
  o.count = 1 + opt[1] % 8;
  o.multi_share = opt[2] / 510.0;  // each at most 0.5, so the two sum to at most 1
  o.none_share = opt[3] / 510.0;
  o.typo_share = opt[4] / 255.0;
  o.teacher_share = opt[5] / 255.0;
  o.min_tools = 1 + opt[6] % 10;
  o.max_tools = o.min_tools + opt[7] % (11 - o.min_tools);
  o.seed = size;
  const np::TeacherFn teacher = [&reply](const std::string&, const std::string&) -> np::Result<std::string> {
    return reply;
  };
  std::string out;
  np::DatagenStats stats;
  const np::Status st = factory.value()->generate(o, nullptr, &out, &stats, &teacher);
  if (!st.ok()) {
    if (st.code() != np::Code::kInvalidInput) std::abort();  // INTERNAL: an example that does not read back
    return 0;
  }
  if (stats.examples != o.count) std::abort();
  size_t from = 0, lines = 0;
  while (from < out.size()) {
    const size_t nl = out.find('\n', from);
    if (nl == std::string::npos) std::abort();  // every line ends in '\n'
    const json ex = json::parse(out.substr(from, nl - from), nullptr, false);
    from = nl + 1;
    ++lines;
    if (!ex.is_object() || !ex.contains("query") || !ex["query"].is_string()) std::abort();
    if (!ex.contains("tools") || !ex["tools"].is_array() || !ex.contains("answers") || !ex["answers"].is_array()) std::abort();
    const std::string query = ex["query"].get<std::string>();
    for (const json& call : ex["answers"]) {
      if (!call.is_object() || !call.contains("name") || !call["name"].is_string()) std::abort();
      const json& args = call.contains("arguments") ? call["arguments"] : json::object();
      if (!schema_check::check_call(ex["tools"], call["name"].get<std::string>(), args).empty()) std::abort();
      for (auto it = args.begin(); it != args.end(); ++it) check_grounded(query, it.value());
    }
  }
  if (lines != static_cast<size_t>(o.count)) std::abort();
  return 0;
}
