// bench-finetune.mjs — in-tab fine-tuning speed against the native trainer, side by side in
// one run (docs/benchmarks.md): the recipe of web_finetune (rank-8 LoRA, 600 steps of 8
// examples, on a small base trained here), WebAssembly st and mt (2 threads) in Node against
// `needlepoint finetune` with 1 and 2 threads; median of --runs runs (default 3).
// Usage: node tests/web/bench-finetune.mjs [--runs 3]
import { execFileSync } from "node:child_process";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { loadavg } from "node:os";
import { CLI, SOURCE_DIR, DIST, makeTempDir } from "./common.mjs";

const runs = Number(process.argv[process.argv.indexOf("--runs") + 1]) || 3;
const np = await import(pathToFileURL(join(DIST, "node.js")).href);
const dir = makeTempDir("np-bench-ft-");
const FIX = join(SOURCE_DIR, "tests", "fixtures", "data");
const jsonl = (n) => readFileSync(join(FIX, n), "utf8").split("\n").filter((l) => l.trim()).map((l) => JSON.parse(l));
const lines = [];
for (const n of ["tiny_tools.jsonl", "new_tools_train.jsonl"]) for (const ex of jsonl(n)) lines.push(ex.query, JSON.stringify(ex.tools), JSON.stringify(ex.answers));
writeFileSync(join(dir, "corpus.txt"), lines.join("\n") + "\n");
execFileSync("spm_train", [`--input=${join(dir, "corpus.txt")}`, `--model_prefix=${join(dir, "tok")}`, "--vocab_size=640",
  "--hard_vocab_limit=false", "--model_type=bpe", "--pad_id=0", "--eos_id=1", "--bos_id=2", "--unk_id=3",
  "--user_defined_symbols=<tool_call>,<tools>", "--byte_fallback=true", "--normalization_rule_name=identity", "--minloglevel=1"]);
const base = join(dir, "base.gguf");
execFileSync(CLI, ["train", "--data", join(FIX, "tiny_tools.jsonl"), "--out", base, "--spm", join(dir, "tok.model"), "--config", "small",
  "--batch", "8", "--lr", "3e-3", "--muon-lr", "0.02", "--seed", "1", "--steps", "900", "--log-every", "1000"], { stdio: "ignore" });
const STEPS = 600, BATCH = 8;
const median = (a) => [...a].sort((x, y) => x - y)[Math.floor(a.length / 2)];
const results = {};
for (let i = 0; i < runs; i++) {
  for (const threads of [1, 2]) {
    const t0 = performance.now();
    execFileSync(CLI, ["finetune", "--model", base, "--data", join(FIX, "new_tools_train.jsonl"), "--out", join(dir, "n.gguf"),
      "--lora-rank", "8", "--lr", "1e-2", "--steps", String(STEPS), "--batch", String(BATCH), "--seed", "1", "--log-every", "1000",
      "--threads", String(threads)], { stdio: "ignore" });
    (results[`native, ${threads} thread${threads > 1 ? "s" : ""} (CLI wall time)`] ??= []).push((performance.now() - t0) / 1000);
  }
  for (const [build, threads] of [["st", 1], ["mt", 2]]) {
    const tc = await np.createToolCaller({ model: base, build, threads: build === "mt" ? threads : undefined });
    const r = await tc.finetune({ examples: jsonl("new_tools_train.jsonl"), steps: STEPS, batch: BATCH, learningRate: 1e-2,
                                  loraRank: 8, validationSplit: 0, seed: 1 });
    await tc.dispose();
    (results[`WebAssembly ${build}, ${threads} thread${threads > 1 ? "s" : ""} (Node 20)`] ??= []).push(r.seconds);
  }
}
console.log(`load average ${loadavg().map((x) => x.toFixed(2)).join(" ")}; ${runs} runs; ${STEPS} steps x ${BATCH} examples`);
for (const [k, v] of Object.entries(results)) {
  const s = median(v);
  console.log(`${k}: median ${s.toFixed(2)} s, ${(STEPS * BATCH / s).toFixed(0)} examples/s (runs: ${v.map((x) => x.toFixed(2)).join(", ")})`);
}
