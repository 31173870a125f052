// bench_call.mjs — one tool call end to end, native and WebAssembly side by side in one run (not
// a test; run by hand; docs/benchmarks.md, "Inference: calls, catalog cache, cold start,
// memory, size"). For each model given:
//   - native: a copy of the CLI's `bench` (prefill at 300/512 tokens, decode with a 300-token
//     encoder context, warm 5-tool calls with the catalog cache off and on) at 1 and 2 threads;
//   - native `run` under the same token budget, one call per process (engine timers);
//   - warm calls in Node (npm/dist/node.js: st, mt 1 thread, mt 2 threads) and Chromium (mt in
//     a Worker on a cross-origin isolated page, st on a plain page): the 5-tool prompt
//     (data/bench/five-tools.json + QUERY), WARM warm-ups then N calls, with
//     catalogCacheBytes 0 ("uncached") and the default cache ("cached", catalog-mask models
//     only; every timed cached call must report catalog "hit"); p50/p95 of the call's wall
//     time, encode and decode p50, tokens; prefill tokens/s = input tokens / encode p50 of the
//     uncached calls, decode tokens/s = output tokens / decode p50; tc.memory() after the
//     warm calls;
//   - cold start: a fresh Node process per sample (import of node.js -> createToolCaller ->
//     end of the first call), and in Chromium a new context and page per sample (navigation
//     start -> end of the first call, the page's own module script doing the work);
//   - shipped size: gzip -9 of every npm/dist/wasm build's .wasm and JS glue.
//
//   node tools/bench/bench_call.mjs --model A.gguf [--max-tokens 24] --model B.gguf ...
//        [--n 15] [--warmups 2] [--cold 3] [--dist npm/dist] [--cli build/needlepoint] [--no-browser]
//        [--no-native] [--no-cold] --out result.json
// --warmups: the untimed calls before the N timed ones (2 by default: the bench's numbers; more
// show the steady state after V8 has tiered the engine up, which in Chromium takes until about
// the 6th call). A --max-tokens applies to the --model before it (the call's generated-token budget, for
// random-weight models whose answers run on; the CLI's `bench` has no such cap).
import { execFileSync, spawnSync } from "node:child_process";
import { copyFileSync, chmodSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir, cpus, getPriority } from "node:os";
import { basename, dirname, join, resolve } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { createRequire } from "node:module";

const SOURCE_DIR = resolve(dirname(fileURLToPath(import.meta.url)), "..", "..");
const QUERY = "Remind me to call my mother tomorrow at 6 pm";
const TOOLS_PATH = join(SOURCE_DIR, "data", "bench", "five-tools.json");
const args = process.argv.slice(2);
const opt = (name, def) => {
  const i = args.indexOf(name);
  return i >= 0 ? args[i + 1] : def;
};
const loadavg = () => readFileSync("/proc/loadavg", "utf8").trim().split(/\s+/).slice(0, 3).join(" ");
const sorted = (xs) => [...xs].sort((a, b) => a - b);
// Nearest-rank percentiles (p50 of 15 = the 8th value, p95 of 15 = the 15th).
const pct = (xs, p) => {
  const s = sorted(xs);
  return s[Math.min(s.length - 1, Math.max(0, Math.ceil((p / 100) * s.length) - 1))];
};
const median = (xs) => pct(xs, 50);

// ---- child mode: one cold start in this fresh process -------------------------------------
if (args[0] === "--child-cold") {
  const [, dist, model, build, threads, maxTokens] = args;
  const tools = readFileSync(TOOLS_PATH, "utf8");
  const t0 = performance.now(); // ms since this process started
  const np = await import(pathToFileURL(join(dist, "node.js")).href);
  const t1 = performance.now();
  const tc = await np.createToolCaller({ model, build, threads: Number(threads) });
  const t2 = performance.now();
  const r = await tc.call(QUERY, tools, Number(maxTokens) > 0 ? { maxTokens: Number(maxTokens) } : {});
  const t3 = performance.now();
  const mem = await tc.memory();
  await tc.dispose();
  process.stdout.write(JSON.stringify({
    processToImportMs: t0, importMs: t1 - t0, createMs: t2 - t1, importCreateMs: t2 - t0, firstCallMs: t3 - t2,
    totalMs: t3 - t0, sinceProcessStartMs: t3, catalog: r.catalog, encodeMs: r.timings.encodeMs,
    tokens: r.tokens, peakBytes: mem.peakBytes, heapBytes: mem.heapBytes,
  }) + "\n");
  process.exit(0);
}

// ---- options --------------------------------------------------------------------------------
const DIST = resolve(opt("--dist", join(SOURCE_DIR, "npm", "dist")));
const CLI_SRC = resolve(opt("--cli", join(SOURCE_DIR, "build", "needlepoint")));
const N = Number(opt("--n", "15"));
const WARM = Number(opt("--warmups", "2"));
if (!Number.isInteger(WARM) || WARM < 0) throw new Error("--warmups must be a non-negative integer");
const COLD = Number(opt("--cold", "3"));
const OUT = opt("--out", null);
const NO_BROWSER = args.includes("--no-browser");
const NO_NATIVE = args.includes("--no-native");
const NO_COLD = args.includes("--no-cold");
const MODELS = [];
for (let i = 0; i < args.length; i++) {
  if (args[i] === "--model") MODELS.push({ path: resolve(args[++i]), maxTokens: 0 });
  else if (args[i] === "--max-tokens") {
    if (!MODELS.length) throw new Error("--max-tokens applies to the --model before it");
    MODELS[MODELS.length - 1].maxTokens = Number(args[++i]);
  }
}
if (!MODELS.length) MODELS.push({ path: join(SOURCE_DIR, "models", "needlepoint-default.gguf"), maxTokens: 0 });
if (!OUT) throw new Error("--out FILE is required");
const TOOLS = readFileSync(TOOLS_PATH, "utf8");

const tmp = mkdtempSync(join(tmpdir(), "np-bench-call-"));
process.on("exit", () => rmSync(tmp, { recursive: true, force: true }));
// The CLI is copied first: another session may rebuild build/ while this runs.
const CLI = join(tmp, "needlepoint");
if (!NO_NATIVE) {
  copyFileSync(CLI_SRC, CLI);
  chmodSync(CLI, 0o755);
}

let commit = "";
try { commit = execFileSync("git", ["-C", SOURCE_DIR, "rev-parse", "--short", "HEAD"], { encoding: "utf8" }).trim(); } catch { /* not a checkout */ }
const result = {
  date: new Date().toISOString(), commit, node: process.version, cpu: cpus()[0]?.model, cpus: cpus().length,
  dist: DIST, cli: CLI_SRC, cliMtime: NO_NATIVE ? null : statSync(CLI_SRC).mtime.toISOString(),
  nice: getPriority(), query: QUERY, tools: TOOLS_PATH, warmups: WARM, n: N, coldSamples: COLD, loadavgStart: loadavg(),
  models: [], sizes: [],
};
console.log(`bench_call ${result.date} commit ${commit}; node ${process.version}; ${result.cpu} x${result.cpus}; nice ${result.nice}; load ${result.loadavgStart}`);
console.log(`dist ${DIST}\ncli ${CLI_SRC} (copied)\nprompt: five-tools.json + "${QUERY}"; ${WARM} warm-ups, then p50/p95 of ${N} calls`);

// ---- shipped size ---------------------------------------------------------------------------
const gz = (f) => execFileSync("gzip", ["-9", "-c", f], { maxBuffer: 1 << 26 }).length;
for (const build of readdirSync(join(DIST, "wasm")).sort()) {
  const dir = join(DIST, "wasm", build);
  if (!statSync(dir).isDirectory()) continue;
  const files = readdirSync(dir).filter((f) => /\.(wasm|mjs|js)$/.test(f)).sort();
  const entry = { build, files: files.map((f) => ({ file: `wasm/${build}/${f}`, bytes: statSync(join(dir, f)).size, gzip9: gz(join(dir, f)) })) };
  entry.bytes = entry.files.reduce((a, f) => a + f.bytes, 0);
  entry.gzip9 = entry.files.reduce((a, f) => a + f.gzip9, 0);
  result.sizes.push(entry);
}
// The package's own JS (the API over the glue), for reference: what a page imports besides it.
{
  const files = readdirSync(DIST).filter((f) => f.endsWith(".js")).sort();
  result.packageJs = { files: files.length, bytes: files.reduce((a, f) => a + statSync(join(DIST, f)).size, 0),
                       gzip9: files.reduce((a, f) => a + gz(join(DIST, f)), 0) };
}

// ---- runs -----------------------------------------------------------------------------------
// One warm-call measurement from samples [{ total, encode, decode, catalog, input, output }].
function summarize(samples, mem) {
  const tot = samples.map((s) => s.total), enc = samples.map((s) => s.encode), dec = samples.map((s) => s.decode);
  const input = samples[0].input, output = samples[0].output;
  const catalogs = {};
  for (const s of samples) catalogs[s.catalog] = (catalogs[s.catalog] ?? 0) + 1;
  const out = {
    p50: median(tot), p95: pct(tot, 95), encodeP50: median(enc), decodeP50: median(dec),
    input, output, outputVaries: samples.some((s) => s.output !== output), catalogs,
    prefillTps: input / (median(enc) / 1000), decodeTps: output / (median(dec) / 1000), samples: tot,
  };
  if (mem) Object.assign(out, { peakBytes: mem.peakBytes, heapBytes: mem.heapBytes, usedBytes: mem.usedBytes });
  return out;
}

async function nodeWarm(np, model, build, threads, cacheBytes, maxTokens) {
  const opts = { model, build, threads };
  if (cacheBytes !== undefined) opts.catalogCacheBytes = cacheBytes;
  const tc = await np.createToolCaller(opts);
  const samples = [];
  for (let i = 0; i < WARM + N; i++) {
    const t0 = performance.now();
    const r = await tc.call(QUERY, TOOLS, maxTokens > 0 ? { maxTokens } : {});
    const total = performance.now() - t0;
    if (i >= WARM) samples.push({ total, encode: r.timings.encodeMs, decode: r.timings.decodeMs, catalog: r.catalog, input: r.tokens.input, output: r.tokens.output });
  }
  const mem = await tc.memory();
  const info = { encoderMask: tc.model.encoderMask, build: tc.build, threads: tc.threads };
  await tc.dispose();
  return { info, ...summarize(samples, mem) };
}

function coldNode(model, build, threads, maxTokens) {
  const runs = [];
  for (let i = 0; i < COLD; i++) {
    const p = spawnSync(process.execPath, [fileURLToPath(import.meta.url), "--child-cold", DIST, model, build, String(threads), String(maxTokens)], { encoding: "utf8" });
    if (p.status !== 0) throw new Error(`cold child failed: ${p.stderr}`);
    runs.push(JSON.parse(p.stdout.trim().split("\n").pop()));
  }
  const m = (k) => median(runs.map((r) => r[k]));
  return { engine: `Node ${build}${build === "mt" ? ` ${threads}t` : ""}`, importCreateMs: m("importCreateMs"), importMs: m("importMs"), createMs: m("createMs"),
           firstCallMs: m("firstCallMs"), totalMs: m("totalMs"), processToImportMs: m("processToImportMs"), sinceProcessStartMs: m("sinceProcessStartMs"), catalog: runs[0].catalog, runs };
}

// Chromium: the page's own module script (served by the test server) does import -> create ->
// first call, timed from navigation start (performance.now() in a page counts from it).
function coldPage(maxTokens) {
  return `<!doctype html><title>cold</title><script type="module">
const t0 = performance.now();
const np = await import("/pkg/browser.js");
const t1 = performance.now();
const tc = await np.createToolCaller({ model: "/models/model.gguf", threads: 2, cache: false });
const t2 = performance.now();
const r = await tc.call(${JSON.stringify(QUERY)}, ${JSON.stringify(TOOLS)}, ${maxTokens > 0 ? `{ maxTokens: ${maxTokens} }` : "{}"});
const t3 = performance.now();
window.__cold = { scriptStartMs: t0, importMs: t1 - t0, createMs: t2 - t1, importCreateMs: t2 - t0, firstCallMs: t3 - t2,
  navToFirstCallEndMs: t3, build: tc.build, inWorker: tc.inWorker, threads: tc.threads, catalog: r.catalog };
await tc.dispose();
</script>`;
}

let browser = null, startServer = null;
if (!NO_BROWSER) {
  ({ startServer } = await import(pathToFileURL(join(SOURCE_DIR, "tests", "web", "server.mjs")).href));
  const { chromium } = createRequire(join(SOURCE_DIR, "web", "package.json"))("playwright-core");
  browser = await chromium.launch({ executablePath: "/usr/bin/chromium", headless: true,
    args: ["--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking"] });
  result.chromium = browser.version();
  console.log(`chromium ${result.chromium}`);
}

async function browserRuns(modelPath, maxTokens, catalog) {
  const dir = join(tmp, "models");
  rmSync(dir, { recursive: true, force: true });
  execFileSync("mkdir", ["-p", dir]);
  copyFileSync(modelPath, join(dir, "model.gguf"));
  const warm = [], cold = [];
  for (const isolated of [true, false]) {
    const server = await startServer({ pkgDir: DIST, modelsDir: dir, isolated, pages: { "/cold.html": ["text/html", coldPage(maxTokens)] } });
    for (const cacheBytes of catalog ? [0, undefined] : [0]) {
      const load = loadavg();
      const ctx = await browser.newContext();
      const page = await ctx.newPage();
      await page.goto(`${server.origin}/blank.html`);
      const r = await page.evaluate(async ({ QUERY, TOOLS, WARM, N, cacheBytes, maxTokens }) => {
        const np = await import("/pkg/browser.js");
        const opts = { model: "/models/model.gguf", threads: 2, cache: false };
        if (cacheBytes !== null) opts.catalogCacheBytes = cacheBytes;
        const tc = await np.createToolCaller(opts);
        const samples = [];
        for (let i = 0; i < WARM + N; i++) {
          const t0 = performance.now();
          const res = await tc.call(QUERY, TOOLS, maxTokens > 0 ? { maxTokens } : {});
          const total = performance.now() - t0;
          if (i >= WARM) samples.push({ total, encode: res.timings.encodeMs, decode: res.timings.decodeMs, catalog: res.catalog, input: res.tokens.input, output: res.tokens.output });
        }
        const mem = await tc.memory();
        const out = { build: tc.build, threads: tc.threads, inWorker: tc.inWorker, encoderMask: tc.model.encoderMask, samples, mem };
        await tc.dispose();
        return out;
      }, { QUERY, TOOLS, WARM, N, cacheBytes: cacheBytes ?? null, maxTokens });
      await ctx.close();
      warm.push({ engine: `Chromium ${r.build} (${r.inWorker ? "Worker" : "page"}, ${r.threads}t)`, cache: cacheBytes === 0 ? "uncached" : "cached", load,
                  info: { encoderMask: r.encoderMask, build: r.build, threads: r.threads, inWorker: r.inWorker }, ...summarize(r.samples, r.mem) });
    }
    if (!NO_COLD) {
      const runs = [];
      for (let i = 0; i < COLD; i++) {
        const ctx = await browser.newContext();
        const page = await ctx.newPage();
        await page.goto(`${server.origin}/cold.html`);
        await page.waitForFunction(() => window.__cold, null, { timeout: 120000 });
        runs.push(await page.evaluate(() => window.__cold));
        await ctx.close();
      }
      const m = (k) => median(runs.map((x) => x[k]));
      cold.push({ engine: `Chromium ${runs[0].build} (${runs[0].inWorker ? "Worker" : "page"}, ${runs[0].threads}t)`, scriptStartMs: m("scriptStartMs"),
                  importMs: m("importMs"), createMs: m("createMs"), importCreateMs: m("importCreateMs"), firstCallMs: m("firstCallMs"),
                  totalMs: m("navToFirstCallEndMs"), catalog: runs[0].catalog, runs });
    }
    await server.close();
  }
  return { warm, cold };
}

const np = await import(pathToFileURL(join(DIST, "node.js")).href);
const f1 = (v) => (v === undefined || v === null || Number.isNaN(v) ? "-" : v.toFixed(1));
const f0 = (v) => (v === undefined || v === null || Number.isNaN(v) ? "-" : Math.round(v).toLocaleString("en-US"));
const mb = (b) => (b ? (b / 1048576).toFixed(1) : "-");

for (const { path, maxTokens } of MODELS) {
  const m = { path, label: basename(path), maxTokens, loadavgStart: loadavg(), native: {}, warm: [], cold: [] };
  result.models.push(m);
  console.log(`\n=== ${m.label} (maxTokens ${maxTokens || "none"}) load ${m.loadavgStart}`);

  if (!NO_NATIVE) {
    for (const threads of [1, 2]) {
      const load = loadavg();
      // The same token budget as the engine rows (a random-weight model never closes its answer).
      const budget = maxTokens > 0 ? ["--max-tokens", String(maxTokens)] : [];
      const r = JSON.parse(execFileSync(CLI, ["bench", "--model", path, "--n", String(N), "--threads", String(threads), ...budget], { encoding: "utf8", maxBuffer: 1 << 26 }));
      m.native[threads] = { load, ...r };
      m.encoderMask = r.encoder_mask;
    }
  }

  // Native calls under the same token budget as the WebAssembly rows (the CLI's `bench` has
  // none): `run`, one call per process (so the catalog is always a "miss"), the engine's own
  // timers (total_ms: the call without the process start and the model load).
  if (!NO_NATIVE) {
    for (const threads of [1, 2]) {
      const load = loadavg(), samples = [];
      for (let i = 0; i < N; i++) {
        const a = ["run", "--model", path, "--query", QUERY, "--tools", `@${TOOLS_PATH}`, "--threads", String(threads)];
        if (maxTokens > 0) a.push("--max-tokens", String(maxTokens));
        const r = JSON.parse(execFileSync(CLI, a, { encoding: "utf8", maxBuffer: 1 << 26 }));
        samples.push({ total: r.timings.total_ms, encode: r.timings.encode_ms, decode: r.timings.decode_ms, catalog: r.catalog, input: r.tokens.input, output: r.tokens.output });
      }
      m.warm.push({ engine: `native run ${threads}t (1st call)`, cache: "process", load, ...summarize(samples) });
    }
  }

  // Node warm calls.
  const catalog = () => m.encoderMask === "catalog";
  for (const [build, threads] of [["st", 1], ["mt", 1], ["mt", 2]]) {
    for (const cacheBytes of [0, undefined]) {
      if (cacheBytes === undefined && !catalog()) continue;
      const load = loadavg();
      const r = await nodeWarm(np, path, build, threads, cacheBytes, maxTokens);
      m.encoderMask = r.info.encoderMask;
      if (cacheBytes === undefined && !catalog()) continue;
      m.warm.push({ engine: `Node ${build}${build === "mt" ? ` ${r.info.threads}t` : ""}`, cache: cacheBytes === 0 ? "uncached" : "cached", load, ...r });
    }
  }
  if (!NO_COLD) for (const [build, threads] of [["st", 1], ["mt", 2]]) m.cold.push({ load: loadavg(), ...coldNode(path, build, threads, maxTokens) });
  if (browser) {
    const { warm, cold } = await browserRuns(path, maxTokens, catalog());
    m.warm.push(...warm);
    m.cold.push(...cold);
  }
  m.loadavgEnd = loadavg();
  for (const w of m.warm) {
    if (w.cache === "cached" && !(w.catalogs.hit === N)) w.warning = `cached calls not all hits: ${JSON.stringify(w.catalogs)}`;
  }

  // ---- table for this model ----
  console.log(`encoder mask ${m.encoderMask}; load at end ${m.loadavgEnd}`);
  if (!NO_NATIVE) {
    console.log("native CLI bench       | prefill 300 tok/s | prefill 512 tok/s | decode tok/s | uncached p50 / p95 (enc, dec; out tok) | cached p50 / p95 (enc, dec) | load");
    for (const t of [1, 2]) {
      const r = m.native[t], u = r.call.uncached, c = r.call.cached;
      console.log(`  ${t} thread${t > 1 ? "s" : " "}            | ${f0(r.prefill["300"].tokens_per_s).padStart(17)} | ${f0(r.prefill["512"].tokens_per_s).padStart(17)} | ${f0(r.decode.tokens_per_s).padStart(12)} | ` +
        `${f1(u.p50_ms)} / ${f1(u.p95_ms)} (${f1(u.encode_p50_ms)}, ${f1(u.decode_p50_ms)}; ${u.input_tokens} in, ${u.output_tokens} out) | ` +
        `${c ? `${f1(c.p50_ms)} / ${f1(c.p95_ms)} (${f1(c.encode_p50_ms)}, ${f1(c.decode_p50_ms)}) ${c.catalog}` : "-"} | ${r.load.split(" ")[0]}`);
    }
  }
  const nat2 = m.native[2]?.call?.uncached;
  const natc2 = m.native[2]?.call?.cached;
  console.log("engine                        | cache    | p50 ms | p95 ms | enc p50 | dec p50 | in/out | prefill tok/s | decode tok/s | enc x native2t | catalog | peak MiB | heap MiB | load");
  for (const w of m.warm) {
    // Encode time against the native CLI's at 2 threads, same cache setting (same input tokens).
    const base = w.cache === "cached" ? natc2 : nat2;
    const ratio = base ? (w.encodeP50 / base.encode_p50_ms).toFixed(2) : "-";
    w.encodeVsNative2t = base ? w.encodeP50 / base.encode_p50_ms : null;
    console.log(`${w.engine.padEnd(29)} | ${w.cache.padEnd(8)} | ${f1(w.p50).padStart(6)} | ${f1(w.p95).padStart(6)} | ${f1(w.encodeP50).padStart(7)} | ${f1(w.decodeP50).padStart(7)} | ` +
      `${String(w.input).padStart(3)}/${String(w.output).padEnd(2)} | ${f0(w.prefillTps).padStart(13)} | ${f0(w.decodeTps).padStart(12)} | ${ratio.padStart(14)} | ` +
      `${Object.entries(w.catalogs).map(([k, v]) => `${k}${v}`).join(",").padEnd(7)} | ${mb(w.peakBytes).padStart(8)} | ${mb(w.heapBytes).padStart(8)} | ${w.load.split(" ")[0]}${w.warning ? "  !! " + w.warning : ""}`);
  }
  if (m.cold.length) {
    console.log(`cold start (median of ${COLD}) | import+create ms | first call ms | import->call end ms | before import ms | start->call end ms (Node: process start; Chromium: navigation start)`);
    for (const c of m.cold) {
      const before = c.processToImportMs ?? c.scriptStartMs, end = c.sinceProcessStartMs ?? c.totalMs;
      console.log(`${c.engine.padEnd(29)} | ${f1(c.importCreateMs).padStart(15)} | ${f1(c.firstCallMs).padStart(13)} | ${f1(c.importCreateMs + c.firstCallMs).padStart(19)} | ${f1(before).padStart(16)} | ${f1(end)} (${c.catalog})`);
    }
  }
  writeFileSync(OUT, JSON.stringify(result, null, 1));
}

if (browser) await browser.close();
result.loadavgEnd = loadavg();
console.log("\nshipped size (gzip -9), per build: .wasm + JS glue");
for (const s of result.sizes) {
  console.log(`  ${s.build.padEnd(5)} ${(s.gzip9 / 1024).toFixed(1).padStart(6)} KiB gzipped (${(s.bytes / 1024).toFixed(1)} KiB raw): ` +
    s.files.map((f) => `${f.file} ${(f.gzip9 / 1024).toFixed(1)}`).join(", "));
}
console.log(`  package JS (npm/dist/*.js, ${result.packageJs.files} files): ${(result.packageJs.gzip9 / 1024).toFixed(1)} KiB gzipped (${(result.packageJs.bytes / 1024).toFixed(1)} KiB raw)`);
writeFileSync(OUT, JSON.stringify(result, null, 1));
console.log(`\nload at end ${result.loadavgEnd}; JSON: ${OUT}`);
