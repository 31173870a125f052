// bench.mjs — warm-call latency of each build on one fixed prompt (not a test; run by hand):
//   node tests/web/bench.mjs [model.gguf]   (default: npm/dist/models/default.gguf)
// Prompt: "What's the weather in San Francisco?" with data/examples/tools.json. Each
// figure is the median of 7 calls after 2 warm-up calls. Builds: mt (2 threads) and st in
// Node; mt (Worker proxy, 2 threads) and st (page) in Chromium; edge in workerd (measured
// over HTTP on 127.0.0.1, so it includes the request); the native CLI's engine time.
import { execFileSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { createRequire } from "node:module";
import { SOURCE_DIR, DIST, CLI, makeTempDir } from "./common.mjs";
import { startServer } from "./server.mjs";
import { startWorkerd } from "./workerd.mjs";

const MODEL = process.argv[2] || join(DIST, "models", "default.gguf");
const QUERY = "What's the weather in San Francisco?";
const TOOLS = JSON.parse(readFileSync(join(SOURCE_DIR, "data", "examples", "tools.json"), "utf8"));
const WARM = 2, N = 7;
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
// A row that gives no answer in STALL_MS is reported as stalled and the others still run (one
// run of this script once stalled in Chromium, 2026-11-30, and was not seen again).
const STALL_MS = 120000;
const withinStall = (promise, what) => {
  let timer;
  const stall = new Promise((_, reject) => { timer = setTimeout(() => reject(new Error(`${what}: no answer in ${STALL_MS / 1000} s`)), STALL_MS); });
  return Promise.race([promise, stall]).finally(() => clearTimeout(timer));
};
const rows = [];

const native = [];
for (let i = 0; i < N; i++) {
  const r = JSON.parse(execFileSync(CLI, ["run", "--model", MODEL, "--query", QUERY, "--tools", JSON.stringify(TOOLS), "--threads", "2"], { encoding: "utf8" }));
  native.push(r.timings.total_ms);
}
rows.push(["native CLI (2 threads, engine time)", median(native)]);

const np = await import(pathToFileURL(join(DIST, "node.js")).href);
for (const build of ["mt", "st"]) {
  const tc = await np.createToolCaller({ model: MODEL, build, threads: 2 });
  const ms = [];
  for (let i = 0; i < WARM + N; i++) {
    const t0 = performance.now();
    await tc.call(QUERY, TOOLS);
    if (i >= WARM) ms.push(performance.now() - t0);
  }
  rows.push([`Node ${build} (${tc.threads} thread${tc.threads > 1 ? "s" : ""})`, median(ms)]);
  await tc.dispose();
}

const { chromium } = createRequire(join(SOURCE_DIR, "web", "package.json"))("playwright-core");
const browser = await chromium.launch({ executablePath: "/usr/bin/chromium", headless: true,
  args: ["--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking"] });
const dir = makeTempDir("np-bench-");
execFileSync("cp", [MODEL, join(dir, "model.gguf")]);
for (const isolated of [true, false]) {
  const server = await startServer({ pkgDir: DIST, modelsDir: dir, isolated });
  const page = await (await browser.newContext()).newPage();
  await page.goto(`${server.origin}/blank.html`);
  const r = await withinStall(page.evaluate(async ({ QUERY, TOOLS, WARM, N }) => {
    const np = await import("/pkg/browser.js");
    const tc = await np.createToolCaller({ model: "/models/model.gguf", threads: 2, cache: false });
    const ms = [];
    for (let i = 0; i < WARM + N; i++) {
      const t0 = performance.now();
      await tc.call(QUERY, TOOLS);
      if (i >= WARM) ms.push(performance.now() - t0);
    }
    const out = { build: tc.build, threads: tc.threads, inWorker: tc.inWorker, ms };
    await tc.dispose();
    return out;
  }, { QUERY, TOOLS, WARM, N }), `Chromium (${isolated ? "isolated" : "plain"} page)`).catch((e) => ({ stalled: e.message }));
  await page.context().close();
  if (r.stalled) {
    console.log(r.stalled);
    await server.close();
    continue;
  }
  rows.push([`Chromium ${r.build} (${r.inWorker ? "Worker" : "page"}, ${r.threads} thread${r.threads > 1 ? "s" : ""})`, median(r.ms)]);
  await server.close();
}
await browser.close();

// The edge build's default memory bound (112 MiB) refuses models that need more (the 26M
// placeholder does): that row then says so instead of losing the others.
const wd = await startWorkerd(makeTempDir("np-bench-edge-"), MODEL);
try {
  const ms = [];
  for (let i = 0; i < WARM + N; i++) {
    const t0 = performance.now();
    const res = await fetch(wd.url, { method: "POST", body: JSON.stringify({ query: QUERY, tools: TOOLS }),
                                      signal: AbortSignal.timeout(STALL_MS) });
    const body = await res.json();
    if (res.status !== 200) throw new Error(body.error ? `${body.error.code}: ${body.error.message}` : JSON.stringify(body));
    if (i >= WARM) ms.push(performance.now() - t0);
  }
  rows.push(["workerd edge (1 thread, HTTP round trip)", median(ms)]);
} catch (e) {
  console.log(`workerd edge: not measured (${e.message})`);
} finally {
  wd.close();
}

console.log(`model ${MODEL}, prompt ${JSON.stringify(QUERY)} + data/examples/tools.json, median of ${N} warm calls`);
for (const [name, v] of rows) console.log(`${name.padEnd(44)} ${v.toFixed(1).padStart(8)} ms`);
