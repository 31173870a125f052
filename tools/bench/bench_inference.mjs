// bench_inference.mjs — inference latency per phase, native and WebAssembly (not a test; run
// by hand; docs/benchmarks.md, "Inference kernels"). On the prompt of tests/web/bench.mjs
// ("What's the weather in San Francisco?" + data/examples/tools.json), median of N warm calls
// after 2 warm-up calls, each split into encode and decode time:
//   native CLI (2 threads), Node mt (2 threads) and st, Chromium mt (Worker) and st (page);
// and native decode throughput: `needlepoint logits` with 129 decoder ids minus with 1 (8
// encoder ids), median of N runs each, divided by 128, at 1 and 2 threads.
// Unlike tests/web/bench.mjs it has no workerd row, and it takes the package and the CLI as
// arguments, so that two builds (before/after a change) can be measured in turns:
//   node tools/bench/bench_inference.mjs [--dist npm/dist] [--cli build/needlepoint]
//        [--model M.gguf] [--n 9] [--no-browser]
import { execFileSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { pathToFileURL } from "node:url";
import { createRequire } from "node:module";
import { SOURCE_DIR, makeTempDir } from "../../tests/web/common.mjs";
import { startServer } from "../../tests/web/server.mjs";

const args = process.argv.slice(2);
const opt = (name, def) => {
  const i = args.indexOf(name);
  return i >= 0 ? args[i + 1] : def;
};
const DIST = resolve(opt("--dist", join(SOURCE_DIR, "npm", "dist")));
const CLI = resolve(opt("--cli", join(SOURCE_DIR, "build", "needlepoint")));
const MODEL = resolve(opt("--model", join(DIST, "models", "default.gguf")));
const N = Number(opt("--n", "9")), WARM = 2;
const QUERY = "What's the weather in San Francisco?";
const TOOLS = JSON.parse(readFileSync(join(SOURCE_DIR, "data", "examples", "tools.json"), "utf8"));
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const ms = (v) => v.toFixed(1).padStart(7);

// samples: [{ total, encode, decode }] -> one printed row
function report(name, samples, tokens) {
  const m = (k) => median(samples.map((s) => s[k]));
  console.log(`${name.padEnd(28)} total ${ms(m("total"))} ms  encode ${ms(m("encode"))} ms  decode ${ms(m("decode"))} ms (${tokens} tokens)`);
}

console.log(`dist ${DIST}\ncli ${CLI}\nmodel ${MODEL}; median of ${N} warm calls; load ${readFileSync("/proc/loadavg", "utf8").split(" ").slice(0, 3).join(" ")}`);

{
  const samples = [];
  let tokens = 0;
  for (let i = 0; i < WARM + N; i++) {
    const r = JSON.parse(execFileSync(CLI, ["run", "--model", MODEL, "--query", QUERY, "--tools", JSON.stringify(TOOLS), "--threads", "2"], { encoding: "utf8" }));
    tokens = r.tokens.output;
    if (i >= WARM) samples.push({ total: r.timings.total_ms, encode: r.timings.encode_ms, decode: r.timings.decode_ms });
  }
  report("native CLI (2 threads)", samples, tokens);
}

const np = await import(pathToFileURL(join(DIST, "node.js")).href);
for (const build of ["mt", "st"]) {
  const tc = await np.createToolCaller({ model: MODEL, build, threads: 2 });
  const samples = [];
  let tokens = 0;
  for (let i = 0; i < WARM + N; i++) {
    const t0 = performance.now();
    const r = await tc.call(QUERY, TOOLS);
    tokens = r.tokens.output;
    if (i >= WARM) samples.push({ total: performance.now() - t0, encode: r.timings.encodeMs, decode: r.timings.decodeMs });
  }
  report(`Node ${build} (${tc.threads} thread${tc.threads > 1 ? "s" : ""})`, samples, tokens);
  await tc.dispose();
}

if (!args.includes("--no-browser")) {
  const { chromium } = createRequire(join(SOURCE_DIR, "web", "package.json"))("playwright-core");
  const browser = await chromium.launch({ executablePath: "/usr/bin/chromium", headless: true,
    args: ["--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking"] });
  const dir = makeTempDir("np-bench-inference-");
  execFileSync("cp", [MODEL, join(dir, "model.gguf")]);
  for (const isolated of [true, false]) {
    const server = await startServer({ pkgDir: DIST, modelsDir: dir, isolated });
    const page = await (await browser.newContext()).newPage();
    await page.goto(`${server.origin}/blank.html`);
    const r = await page.evaluate(async ({ QUERY, TOOLS, WARM, N }) => {
      const np = await import("/pkg/browser.js");
      const tc = await np.createToolCaller({ model: "/models/model.gguf", threads: 2, cache: false });
      const samples = [];
      let tokens = 0;
      for (let i = 0; i < WARM + N; i++) {
        const t0 = performance.now();
        const res = await tc.call(QUERY, TOOLS);
        tokens = res.tokens.output;
        if (i >= WARM) samples.push({ total: performance.now() - t0, encode: res.timings.encodeMs, decode: res.timings.decodeMs });
      }
      const out = { build: tc.build, threads: tc.threads, inWorker: tc.inWorker, samples, tokens };
      await tc.dispose();
      return out;
    }, { QUERY, TOOLS, WARM, N });
    report(`Chromium ${r.build} (${r.inWorker ? "Worker" : "page"}, ${r.threads} thr)`, r.samples, r.tokens);
    await server.close();
  }
  await browser.close();
}

// Native decode throughput: the same encoder input, 129 vs 1 decoder steps.
const decIds = (n) => Array.from({ length: n }, (_, i) => 10 + i).join(",");
const wallMs = (threads, n) => {
  const t0 = performance.now();
  execFileSync(CLI, ["logits", "--model", MODEL, "--enc-ids", "10,11,12,13,14,15,16,17", "--dec-ids", decIds(n), "--threads", String(threads)]);
  return performance.now() - t0;
};
for (const threads of [1, 2]) {
  const one = [], many = [];
  for (let i = 0; i < N; i++) {
    one.push(wallMs(threads, 1));
    many.push(wallMs(threads, 129));
  }
  const perToken = (median(many) - median(one)) / 128;
  console.log(`native decode (${threads} thread${threads > 1 ? "s" : ""})`.padEnd(28) + ` ${perToken.toFixed(2)} ms/token, ${(1000 / perToken).toFixed(0)} tokens/s`);
}
