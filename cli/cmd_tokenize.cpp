// cmd_tokenize.cpp — `tokenize` and `detokenize`: stdin lines <-> space-separated ids, line
// for line as spm_encode --output_format=id and spm_decode --input_format=id do (a line is
// everything up to '\n'; a '\r' stays part of it; a last line without '\n' counts).
// Hidden, for the tokenizer agreement suite: `tokenize --spm f.model --write-gguf out.gguf`
// writes a GGUF holding only the tokenizer.ggml.* keys and exits.
#include <cstdio>
#include <iostream>
#include <string>
#include <vector>

#include "commands.h"
#include "np/gguf.h"
#include "np/tokenizer.h"

namespace np_cli {
namespace {

// --model M.gguf (its tokenizer keys; weights are not checked) or --spm file.model.
// Returns 0 and fills *out, or the exit code to return.
int load_tokenizer(const Args& args, np::Tokenizer* out) {
  std::string model, spm;
  const bool has_model = arg_value(args, "--model", &model);
  const bool has_spm = arg_value(args, "--spm", &spm);
  if (has_model == has_spm) return usage_error("give exactly one of --model M.gguf or --spm file.model");
  if (has_spm) {
    auto tok = np::Tokenizer::from_spm_file(spm);
    if (!tok.ok()) return fail(tok.status().to_string());
    *out = tok.take();
    return 0;
  }
  auto file = np::GgufFile::open_file(model);
  if (!file.ok()) return fail(file.status().to_string());
  auto tok = np::Tokenizer::from_gguf(*file.value());
  if (!tok.ok()) return fail(model + ": " + tok.status().to_string());
  *out = tok.take();
  return 0;
}

}  // namespace

int cmd_tokenize(const Args& args) {
  np::Tokenizer tok;
  if (int rc = load_tokenizer(args, &tok)) return rc;

  std::string gguf_out;
  if (arg_value(args, "--write-gguf", &gguf_out)) {
    np::GgufWriter w;
    tok.write_gguf(w);
    np::Status st = w.write_file(gguf_out);
    if (!st.ok()) return fail(st.to_string());
    return 0;
  }

  std::ios::sync_with_stdio(false);
  std::string line, out;
  while (std::getline(std::cin, line)) {
    out.clear();
    for (int32_t id : tok.encode(line)) {
      if (!out.empty()) out.push_back(' ');
      out += std::to_string(id);
    }
    out.push_back('\n');
    std::fwrite(out.data(), 1, out.size(), stdout);
  }
  if (std::fflush(stdout) != 0) return fail("IO_ERROR: writing stdout failed");
  return 0;
}

int cmd_detokenize(const Args& args) {
  np::Tokenizer tok;
  if (int rc = load_tokenizer(args, &tok)) return rc;

  std::ios::sync_with_stdio(false);
  std::string line;
  std::vector<int32_t> ids;
  size_t line_no = 0;
  while (std::getline(std::cin, line)) {
    ++line_no;
    ids.clear();
    size_t pos = 0;
    while (pos < line.size()) {
      if (line[pos] == ' ') {
        ++pos;
        continue;
      }
      size_t end = line.find(' ', pos);
      if (end == std::string::npos) end = line.size();
      const std::string word = line.substr(pos, end - pos);
      int64_t v = 0;
      bool ok = word.size() <= 10;
      for (char c : word) {
        if (c < '0' || c > '9') ok = false;
        v = v * 10 + (c - '0');
      }
      if (!ok || v >= tok.vocab_size()) {
        return fail("INVALID_INPUT: line " + std::to_string(line_no) + ": '" + word + "' is not a token id in [0, " +
                    std::to_string(tok.vocab_size()) + ")");
      }
      ids.push_back(static_cast<int32_t>(v));
      pos = end;
    }
    std::string text = tok.decode(ids);
    text.push_back('\n');
    std::fwrite(text.data(), 1, text.size(), stdout);
  }
  if (std::fflush(stdout) != 0) return fail("IO_ERROR: writing stdout failed");
  return 0;
}

}  // namespace np_cli
