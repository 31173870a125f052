// main.cpp — the native `needlepoint` CLI: dispatches to one subcommand per file.
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

#include "commands.h"
#include "np/threads.h"

namespace {

const char* kUsage =
    "needlepoint — private, on-device function calling with Needle-architecture models\n"
    "\n"
    "usage: needlepoint <command> [options]\n"
    "\n"
    "  run --model M --query Q --tools JSON|@file [--max-tokens N] [--no-constrain]\n"
    "        [--preselect-above N] [--preselect-k K] [--jump-forward] [--full-logits]   (docs/retrieval.md, docs/engine.md)\n"
    "        [--tool-prior NAME[,CALL[,MARGIN[,SOLE]]]] [--copy-prior W] [--echo-prior W]   decoding priors (docs/engine.md; default: the model's)\n"
    "        call a tool: prints {calls, raw, tokens, truncated, timings} as JSON\n"
    "  tokenize (--model M | --spm file.model)   stdin lines -> space-separated ids\n"
    "  detokenize (--model M | --spm file.model) stdin lines of ids -> text\n"
    "  logits --model M --enc-ids a,b,c --dec-ids x,y [--all] [--block-prefix P]\n"
    "        logits at the last decoder position (--all: every position) as JSON\n"
    "  embed --model M --enc-ids a,b,c      retrieval-head embedding as JSON\n"
    "  inspect --model M                    metadata and tensor table\n"
    "  make-model --out F [--config small|default|needle] [--type f32|f16|q8_0|q4_0]\n"
    "             [--spm file.model] [--seed N] [--d-ff N --ffn drelu|swiglu|geglu]\n"
    "             [--encoder-mask bidirectional|catalog]\n"
    "        write a random-weight model (for tests and benchmarks)\n"
    "  pack-tokenizer --spm file.model --model in.gguf --out out.gguf\n"
    "        replace a model's tokenizer with a SentencePiece .model\n"
    "  quantize --model in.gguf --type f32|f16|bf16|q8_0|q4_0 --out out.gguf\n"
    "        the same model with its matrices stored as --type (metadata kept; docs/models.md)\n"
    "  normalize-tools --tools JSON|@file   the flat, compact tools JSON the model sees\n"
    "  train --data D.jsonl --out M.gguf [--config small|needle] [--model base.gguf]\n"
    "        [--d-model N --heads N --kv-heads N --enc-layers N --dec-layers N --d-ff N]\n"
    "        [--spm tok.model] [--steps N] [--batch B] [--lr X] [--muon-lr X] [--no-muon]\n"
    "        [--seed S] [--type f32|f16|q8_0|q4_0] [--qat q8_0|q4_0] [--freeze LIST]\n"
    "        [--val-split F | --val-data V.jsonl] [--eval-every N] [--patience N]\n"
    "        [--checkpoint-dir DIR [--checkpoint-every N] [--resume] [--stop-at N]]\n"
    "        [--log loss.csv] [--role-weights n,k,v,s] [--z-loss X] [--schedule wsd|cosine]\n"
    "        [--contrastive W [--contrastive-batch N]] [--on-bad-line skip|stop] [--bf16]\n"
    "        [--encoder-mask bidirectional|catalog]   (docs/engine.md, \"Catalog mask\")\n"
    "        train from scratch, or from a base model (--model), and export GGUF\n"
    "  finetune --model base.gguf --data D.jsonl --out M.gguf [--lora-rank R]\n"
    "        [--lora-alpha A] [--lora-targets q,k,v,o,ffn,retrieval] [--train-base]\n"
    "        (and train's options) fine-tune, LoRA merged into the exported weights\n"
    "  eval --model M --data D.jsonl [--json] [--out preds.jsonl] [--failures N] [--limit N]\n"
    "        [--tool-prior NAME[,CALL[,MARGIN[,SOLE]]]] [--copy-prior W] [--echo-prior W]\n"
    "        [--preselect-above N] [--preselect-k K]   accuracy, confidence calibration (ECE)\n"
    "        and the accuracy/coverage curve\n"
    "  retrieve --model M --query Q --tools JSON|@file [-k K]   tools ranked by the retrieval head\n"
    "  eval-retrieval --model M --data D.jsonl [--k 1,3,5,10]   recall@k against all the file's tools\n"
    "  calibrate --model M --data D.jsonl --out M2.gguf [--knots 20] [--tool-prior NAME[,CALL[,MARGIN[,SOLE]]]] [--copy-prior W] [--echo-prior W]\n"
    "        fit the confidence calibration (decoding with, and writing in, the priors given)\n"
    "  bench --model M [--tools JSON|@file] [--query Q] [--n N] [--max-tokens N] [--full-logits]   inference speed: prefill and\n"
    "        decode tokens/s, warm call p50/p95 with the catalog cache off/on (docs/benchmarks.md);\n"
    "        [--calls-only]: the calls alone (the cached ones for a catalog model), for profiling\n"
    "  generate-data --out D.jsonl --count N [--seed S] [--split train|dev|test]\n"
    "        [--multi 0.1] [--none 0.1] [--typos 0.1] [--max-tools 10] [--avoid A.jsonl[,B.jsonl]]\n"
    "        [--stats stats.json] [--content DIR] [--model M | --spm F]\n"
    "        [--teacher-url http://host:port/v1 [--teacher-share X] [--teacher-model NAME]\n"
    "         [--teacher-timeout S]]\n"
    "        procedural Needle-format training data (docs/data.md);\n"
    "        --check-disjoint TRAIN.jsonl TEST.jsonl, --validate (content only)\n"
    "  train-grads --model M --batch B.json --out G.gguf\n"
    "        one forward/backward pass; loss and every gradient as GGUF (parity checks)\n"
    "  bench-train [--config needle|5m|small] [--batch 16] [--enc-len 160] [--dec-len 32]\n"
    "        [--iters 3] [--warmup 1] [--bf16]   training tokens/s and GFLOP/s (JSON)\n"
    "  bench-peak [--seconds S] [--gemm-size N]   measured FMA/bf16 peaks, GEMM rate (JSON)\n"
    "  bench-bf16 [--config small] [--steps N]   fp32 vs bf16 loss curves (JSON)\n"
    "\n"
    "Every command takes --threads N (default: all cores). An option a command does not know is\n"
    "refused (exit 2) before it runs.\n";

// The decoding priors' options (read_tool_prior), taken by the commands that decode calls.
#define NP_PRIOR_OPTIONS " --tool-prior= --copy-prior= --echo-prior="

struct Command {
  const char* name;
  int (*fn)(const np_cli::Args&);
  // Its options for check_options ("--x=" takes a value); null: the command checks its own
  // (train and finetune read theirs strictly, cmd_train.cpp).
  const char* options;
};

const Command kCommands[] = {
    {"run", np_cli::cmd_run,
     "--model= --query= --tools= --max-tokens= --no-constrain --jump-forward --full-logits --preselect-above= "
     "--preselect-k=" NP_PRIOR_OPTIONS},
    {"tokenize", np_cli::cmd_tokenize, "--model= --spm= --write-gguf="},
    {"detokenize", np_cli::cmd_detokenize, "--model= --spm="},
    {"logits", np_cli::cmd_logits, "--model= --enc-ids= --dec-ids= --all --block-prefix="},
    {"embed", np_cli::cmd_embed, "--model= --enc-ids="},
    {"inspect", np_cli::cmd_inspect, "--model="},
    {"make-model", np_cli::cmd_make_model,
     "--out= --config= --type= --seed= --d-ff= --ffn= --no-retrieval --encoder-mask= --spm="},
    {"pack-tokenizer", np_cli::cmd_pack_tokenizer, "--spm= --model= --out="},
    {"quantize", np_cli::cmd_quantize, "--model= --out= --type="},
    {"normalize-tools", np_cli::cmd_normalize_tools, "--tools="},
    {"train-grads", np_cli::cmd_train_grads, "--model= --batch= --out="},
    {"train", np_cli::cmd_train, nullptr},
    {"finetune", np_cli::cmd_finetune, nullptr},
    {"eval", np_cli::cmd_eval,
     "--model= --data= --json --out= --failures= --limit= --preselect-above= --preselect-k= --jump-forward "
     "--full-logits" NP_PRIOR_OPTIONS},
    {"bench", np_cli::cmd_bench, "--model= --tools= --query= --n= --max-tokens= --calls-only --full-logits"},
    {"bench-train", np_cli::cmd_bench_train, "--config= --batch= --enc-len= --dec-len= --warmup= --iters= --bf16 --seed="},
    {"bench-peak", np_cli::cmd_bench_peak, "--seconds= --gemm-size= --reps="},
    {"bench-bf16", np_cli::cmd_bench_bf16, "--config= --batch= --enc-len= --dec-len= --steps="},
    {"generate-data", np_cli::cmd_generate_data,
     "--out= --count= --seed= --split= --multi= --none= --typos= --max-tools= --avoid= --stats= --content= "
     "--model= --spm= --teacher-url= --teacher-model= --teacher-timeout= --teacher-share= --validate "
     "--check-disjoint"},
    {"retrieve", np_cli::cmd_retrieve, "--model= --query= --tools= --k="},
    {"eval-retrieval", np_cli::cmd_eval_retrieval, "--model= --data= --k="},
    {"calibrate", np_cli::cmd_calibrate, "--model= --data= --out= --knots=" NP_PRIOR_OPTIONS},
};

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2 || !std::strcmp(argv[1], "help") || !std::strcmp(argv[1], "--help") ||
      !std::strcmp(argv[1], "-h")) {
    std::fputs(kUsage, argc < 2 ? stderr : stdout);
    return argc < 2 ? 2 : 0;
  }
  np_cli::Args args(argv + 2, argv + argc);
  // --threads N or --threads=N (any command): the thread pool size, the caller included.
  for (size_t i = 0; i < args.size(); ++i) {
    const bool joined = args[i].compare(0, 10, "--threads=") == 0;
    if (args[i] != "--threads" && !joined) continue;
    if (!joined && i + 1 == args.size()) return np_cli::usage_error("--threads needs a number of threads from 1 to 1024");
    const std::string v = joined ? args[i].substr(10) : args[i + 1];
    char* end = nullptr;
    const long n = std::strtol(v.c_str(), &end, 10);
    if (v.empty() || *end != '\0' || n < 1 || n > 1024)
      return np_cli::usage_error("--threads needs a number of threads from 1 to 1024, got '" + v + "'");
    np::set_num_threads(static_cast<int>(n));
    args.erase(args.begin() + static_cast<long>(i), args.begin() + static_cast<long>(i) + (joined ? 1 : 2));
    break;
  }
  for (const auto& c : kCommands) {
    if (std::strcmp(argv[1], c.name) != 0) continue;
    if (c.options)
      if (const int rc = np_cli::check_options(c.name, args, c.options)) return rc;
    return c.fn(args);
  }
  return np_cli::usage_error(std::string("unknown command '") + argv[1] + "'");
}
