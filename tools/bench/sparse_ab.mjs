// sparse_ab.mjs — sparse against full logits in one Node process, in turns: warm 5-tool calls
// (data/bench/five-tools.json) with the catalog cached and not, medians of N each.
//   node tools/bench/sparse_ab.mjs --model M.gguf [--build mt|st] [--threads 2] [--n 15] [--max-tokens 24]
import { readFileSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";

const SOURCE_DIR = resolve(dirname(fileURLToPath(import.meta.url)), "..", "..");
const args = process.argv.slice(2);
const opt = (name, def) => (args.includes(name) ? args[args.indexOf(name) + 1] : def);
const model = opt("--model", join(SOURCE_DIR, "models", "needlepoint-default.gguf"));
const build = opt("--build", "mt");
const threads = Number(opt("--threads", "2"));
const n = Number(opt("--n", "15"));
const maxTokens = Number(opt("--max-tokens", "24"));
const QUERY = "Remind me to call my mother tomorrow at 6 pm";
const tools = readFileSync(join(SOURCE_DIR, "data", "bench", "five-tools.json"), "utf8");
const np = await import(pathToFileURL(join(SOURCE_DIR, "npm", "dist", "node.js")).href);
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const out = {};
for (const cached of [true, false]) {
  // Uncached: a caller that keeps no catalog blocks.
  const tc = await np.createToolCaller({ model, build, threads, ...(cached ? {} : { catalogCacheBytes: 0 }) });
  const t = { sparse: [], full: [] };
  const dec = { sparse: [], full: [] };
  let raw = {};
  let steps = 0;
  for (let i = 0; i < n + 2; ++i) {
    for (const mode of ["sparse", "full"]) {
      const r = await tc.call(QUERY, tools, { maxTokens, fullLogits: mode === "full" });
      raw[mode] = r.raw;
      if (mode === "sparse") steps = r.tokens.sparse;
      if (i >= 2) { t[mode].push(r.timings.totalMs); dec[mode].push(r.timings.decodeMs); }
    }
  }
  if (raw.sparse !== raw.full) throw new Error(`answers differ: ${raw.sparse} / ${raw.full}`);
  out[cached ? "cached" : "uncached"] = {
    sparseMs: median(t.sparse), fullMs: median(t.full), sparseDecodeMs: median(dec.sparse), fullDecodeMs: median(dec.full),
    sparseSteps: steps, catalog: tc.model.encoderMask, raw: raw.sparse };
  await tc.dispose();
}
console.log(JSON.stringify({ model, build, threads, n, maxTokens, ...out }, null, 1));
