// cached_loop.mjs — the quickest A/B of a package build's cached call: 30 calls of the bench
// prompt (data/bench/five-tools.json, "Remind me to call my mother tomorrow at 6 pm", 24
// output tokens) through createToolCaller in Node, p50 of the last 28 (total, encode, decode).
// Run two dists in turns, several rounds, and compare rows of one run (docs/benchmarks.md).
// The model must use the catalog encoder mask (calls after the first must hit the cache).
//   node tools/bench/cached_loop.mjs [DIST=npm/dist] [MODEL=/tmp/bench-needle-cat.gguf] [BUILD=mt] [THREADS=2]
import { readFileSync } from "node:fs";
import { resolve } from "node:path";

const [dist = "npm/dist", modelPath = "/tmp/bench-needle-cat.gguf", build = "mt", threads = "2"] = process.argv.slice(2);
const np = await import(resolve(dist, "node.js"));
const TOOLS = readFileSync(new URL("../../data/bench/five-tools.json", import.meta.url), "utf8");
const QUERY = "Remind me to call my mother tomorrow at 6 pm";
const tc = await np.createToolCaller({ model: new Uint8Array(readFileSync(modelPath)), build, threads: Number(threads) });
const tot = [], enc = [], dec = [];
for (let i = 0; i < 30; i++) {
  const t0 = performance.now();
  const r = await tc.call(QUERY, TOOLS, { maxTokens: 24 });
  const t = performance.now() - t0;
  if (r.catalog !== (i === 0 ? "miss" : "hit")) throw new Error(`call ${i}: catalog ${r.catalog}`);
  if (i >= 2) {
    tot.push(t);
    enc.push(r.timings.encodeMs);
    dec.push(r.timings.decodeMs);
  }
}
const med = (a) => a.slice().sort((x, y) => x - y)[a.length >> 1];
console.log(`${dist}: cached p50 ${med(tot).toFixed(2)} ms (encode ${med(enc).toFixed(2)}, decode ${med(dec).toFixed(2)})`);
await tc.dispose();
