// cmd_run.cpp — `needlepoint run`: one tool call from the command line, result as JSON.
#include <cstdio>
#include <cstdlib>

#include "commands.h"
#include "np/tool_caller.h"

namespace np_cli {

int cmd_run(const Args& args) {
  std::string model_path, query, tools_arg, tools;
  if (!arg_value(args, "--model", &model_path)) return usage_error("--model is required");
  if (!arg_value(args, "--query", &query)) return usage_error("--query is required");
  if (!arg_value(args, "--tools", &tools_arg)) return usage_error("--tools is required (JSON text or @file)");
  if (!text_or_file(tools_arg, &tools)) return fail("IO_ERROR: cannot read " + tools_arg.substr(1));
  np::CallOptions opt;
  int rc = 0;
  if (!int_option(args, "--max-tokens", 0, 1 << 20, &opt.max_tokens, &rc)) return rc;
  opt.constrained = !arg_flag(args, "--no-constrain");
  opt.jump_forward = arg_flag(args, "--jump-forward");
  opt.sparse_logits = !arg_flag(args, "--full-logits");
  {
    std::string prior_error;
    if (!read_tool_prior(args, &opt.tool_prior_name, &opt.tool_prior_call, &opt.tool_prior_margin, &opt.tool_prior_sole, &opt.copy_prior, &opt.echo_prior, &prior_error)) return usage_error(prior_error);
  }
  if (!int_option(args, "--preselect-above", -1, 1 << 20, &opt.preselect_above, &rc)) return rc;
  if (!int_option(args, "--preselect-k", 1, 1 << 20, &opt.preselect_k, &rc)) return rc;
  auto model = np::Model::load_file(model_path);
  if (!model.ok()) return fail(model.status().to_string());
  np::ToolCaller caller(model.take());
  auto r = caller.call(query, tools, opt);
  if (!r.ok()) return fail(r.status().to_string());
  std::printf("%s\n", np::call_result_to_json(r.value()).c_str());
  return 0;
}

}  // namespace np_cli
