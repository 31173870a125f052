// cmd_tools.cpp — `needlepoint normalize-tools --tools JSON|@file`: prints the flat, compact
// tools JSON the model's encoder sees (np::parse_tools(...).normalized_json) and a newline.
// Errors: "error: CODE: message" on stderr, exit 1 (2 for a usage error).
#include <cstdio>
#include <string>

#include "commands.h"
#include "np/status.h"
#include "np/tools.h"

namespace np_cli {

int cmd_normalize_tools(const Args& args) {
  std::string spec;
  if (!arg_value(args, "--tools", &spec)) return usage_error("normalize-tools needs --tools JSON|@file");
  std::string text;
  if (!text_or_file(spec, &text))
    return fail(np::Status(np::Code::kIoError, "cannot read " + spec.substr(1)).to_string());
  np::Result<np::ToolSet> set = np::parse_tools(text);
  if (!set.ok()) return fail(set.status().to_string());
  const std::string& out = set.value().normalized_json;
  std::fwrite(out.data(), 1, out.size(), stdout);
  std::fputc('\n', stdout);
  return std::fflush(stdout) == 0 ? 0 : 1;
}

}  // namespace np_cli
