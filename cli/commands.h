// commands.h — the needlepoint CLI's subcommands. Each takes the arguments after its name
// and returns the process exit code (0 ok, 1 bad input or failure, 2 usage error).
// Errors go to stderr as "error: CODE: message".
#pragma once
#include <string>
#include <vector>

#include "np/dataset.h"

namespace np_cli {

using Args = std::vector<std::string>;

int cmd_run(const Args& args);            // cmd_run.cpp
int cmd_logits(const Args& args);         // cmd_model.cpp
int cmd_embed(const Args& args);          // cmd_model.cpp
int cmd_inspect(const Args& args);        // cmd_model.cpp
int cmd_make_model(const Args& args);     // cmd_model.cpp
int cmd_pack_tokenizer(const Args& args); // cmd_model.cpp
int cmd_quantize(const Args& args);       // cmd_model.cpp
int cmd_tokenize(const Args& args);       // cmd_tokenize.cpp
int cmd_detokenize(const Args& args);     // cmd_tokenize.cpp
int cmd_normalize_tools(const Args& args);// cmd_tools.cpp
int cmd_train_grads(const Args& args);    // cmd_grads.cpp
int cmd_train(const Args& args);          // cmd_train.cpp
int cmd_finetune(const Args& args);       // cmd_train.cpp
int cmd_eval(const Args& args);           // cmd_train.cpp
int cmd_bench_train(const Args& args);    // cmd_bench.cpp
int cmd_bench_peak(const Args& args);     // cmd_bench.cpp
int cmd_bench_bf16(const Args& args);     // cmd_bench.cpp
int cmd_bench(const Args& args);          // cmd_bench_infer.cpp
int cmd_generate_data(const Args& args);  // cmd_datagen.cpp
int cmd_retrieve(const Args& args);       // cmd_confidence.cpp
int cmd_eval_retrieval(const Args& args); // cmd_confidence.cpp
int cmd_calibrate(const Args& args);      // cmd_confidence.cpp

// Small argument helpers shared by the commands (args.cpp).
// Finds "--name value"; returns false if absent. "--name=value" also accepted.
bool arg_value(const Args& args, const std::string& name, std::string* out);
bool arg_flag(const Args& args, const std::string& name);
// Reads a whole file; false on failure.
bool read_file(const std::string& path, std::string* out);
// "@path" -> file contents, otherwise the text itself.
bool text_or_file(const std::string& v, std::string* out);
int fail(const std::string& message);     // prints "error: message", returns 1
// The examples of a data file in file order (eval, eval-retrieval, calibrate); *report
// counts the bad lines skipped.
bool read_examples_in_order(const std::string& path, std::vector<np::Example>* out, np::DataReport* report,
                            std::string* error);
int usage_error(const std::string& message);  // prints message + hint, returns 2
// "--name N" read strictly: *out is set when the option is there with an integer in
// [lo, hi] (decimal, nothing after it) and left alone when it is absent; anything else
// prints a usage error naming the option and returns false with *rc = 2.
bool int_option(const Args& args, const std::string& name, long long lo, long long hi, long long* out, int* rc);
template <class T>
bool int_option(const Args& args, const std::string& name, long long lo, long long hi, T* out, int* rc) {
  long long v = static_cast<long long>(*out);
  if (!int_option(args, name, lo, hi, &v, rc)) return false;
  *out = static_cast<T>(v);
  return true;
}
// The same for a finite number in [lo, hi].
bool number_option(const Args& args, const std::string& name, double lo, double hi, double* out, int* rc);
// Refuses an option the command does not know, before it runs: `spec` lists the command's
// options, space-separated, "--name=" for one that takes a value (the next argument, or
// "--name=value") and "--name" for a switch. Every argument that begins with "--" (and is not
// a value) must be one of them; other arguments (values, "-k", positional files) pass. Returns
// 0, or the usage error's exit code (2) with a message naming the option and, where one is
// close, the option meant.
int check_options(const std::string& command, const Args& args, const char* spec);
// The known option closest to `name` (a prefix of it, or within 3 edits), or "" when none is.
std::string closest_option(const std::string& name, const std::vector<std::string>& known);
// --tool-prior NAME[,CALL]: the lexical tool prior's weights for run/eval/bench (CallOptions
// tool_prior_name/_call; CALL defaults to NAME); false with *error set on a bad value.
// --copy-prior W: the copy prior's weight (CallOptions::copy_prior); --echo-prior W: the echo
// prior's (CallOptions::echo_prior).
bool read_tool_prior(const Args& args, float* name_weight, float* call_weight, float* margin, float* sole,
                     float* copy_weight, float* echo_weight, std::string* error);

}  // namespace np_cli
