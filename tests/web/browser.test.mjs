// browser.test.mjs — the page-level API in real Chromium (Debian chromium, driven by
// playwright-core), with and without COOP/COEP, in-thread and through the Worker proxy:
// the same answers as the native CLI, typed errors rebuilt across the Worker boundary,
// abort, token events, the model cache.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { join } from "node:path";
import { createRequire } from "node:module";
import { createHash } from "node:crypto";
import { readFileSync } from "node:fs";
import { SOURCE_DIR, DIST, TOOLS, CASES, makeModels, makeTempDir, nativeRun, comparable } from "./common.mjs";
import { startServer } from "./server.mjs";

const require = createRequire(join(SOURCE_DIR, "web", "package.json"));
const { chromium } = require("playwright-core");
const CHROMIUM = process.env.NP_CHROMIUM || "/usr/bin/chromium";

const dir = makeTempDir("np-browser-");
let models, browser, isolated, plain;
const expected = {};

before(async () => {
  models = makeModels(dir);
  for (const [name, q, t, o] of CASES) expected[name] = comparable(null, nativeRun(models.small_f32, q, TOOLS[t], o, dir));
  isolated = await startServer({ pkgDir: DIST, modelsDir: dir, isolated: true });
  plain = await startServer({ pkgDir: DIST, modelsDir: dir, isolated: false });
  browser = await chromium.launch({ executablePath: CHROMIUM, headless: true,
    args: ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
           "--disable-component-update", "--disable-sync"] });
});

after(async () => {
  await browser?.close();
  await isolated?.close();
  await plain?.close();
});

/** Runs fn(np, args) in a fresh page of the server's origin; np is the package's browser entry. */
async function inPage(server, fn, args) {
  const context = await browser.newContext();
  const page = await context.newPage();
  const logs = [];
  page.on("console", (m) => logs.push(m.text()));
  page.on("pageerror", (e) => logs.push(String(e)));
  try {
    await page.goto(`${server.origin}/blank.html`);
    return await page.evaluate(async ({ src, args }) => {
      const np = await import("/pkg/browser.js");
      const f = new Function("return " + src)();
      try {
        return { ok: true, value: await f(np, args) };
      } catch (e) {
        return { ok: false, error: { name: e?.name, code: e?.code, message: String(e?.message ?? e) } };
      }
    }, { src: fn.toString(), args });
  } catch (e) {
    throw new Error(`${e.message}\npage logs:\n${logs.join("\n")}`);
  } finally {
    await context.close();
  }
}

// Runs every case and returns results plus what the engine reports about itself.
async function runCases(np, { modelUrl, opts, cases, tools }) {
  const events = [];
  const tc = await np.createToolCaller({ model: modelUrl, ...opts, onProgress: (e) => events.push(e.status) });
  const out = { build: tc.build, threads: tc.threads, inWorker: tc.inWorker, isolated: self.crossOriginIsolated,
                chosen: np.chooseBuild(), events, results: {} };
  for (const [name, query, toolsKey, o] of cases) {
    const tokens = [];
    const r = await tc.call(query, tools[toolsKey], { ...o, onToken: (t) => tokens.push(t.id) });
    out.results[name] = { r, tokens };
  }
  const t0 = performance.now();
  for (let i = 0; i < 3; i++) await tc.call(cases[0][1], tools[cases[0][2]]);
  out.warmMs = (performance.now() - t0) / 3;
  await tc.dispose();
  return out;
}

function checkCases(out, build, inWorker) {
  assert.equal(out.build, build);
  assert.equal(out.inWorker, inWorker);
  assert.deepEqual(out.events.slice(-1), ["ready"]);
  for (const [name] of CASES) {
    const { r, tokens } = out.results[name];
    assert.deepEqual(comparable(r), expected[name], name);
    assert.equal(r.build, build);
    assert.equal(r.inWorker, inWorker);
    assert.deepEqual(tokens, r.outputIds, name);
  }
}

const args = (extra) => ({ modelUrl: "/models/small-f32.gguf", cases: CASES, tools: TOOLS, opts: { cache: false }, ...extra });

test("COOP/COEP page: mt chosen, runs in the Worker proxy", async () => {
  const out = await inPage(isolated, runCases, args({ opts: { cache: false, threads: 2 } }));
  assert.ok(out.ok, JSON.stringify(out.error));
  assert.equal(out.value.isolated, true);
  assert.equal(out.value.chosen, "mt");
  assert.equal(out.value.threads, 2);
  checkCases(out.value, "mt", true);
  console.log(`chromium mt (worker) warm call: ${out.value.warmMs.toFixed(1)} ms`);
});

test("catalog model through the Worker proxy: prepareTools, then the call reuses the list", async () => {
  const out = await inPage(isolated, async (np, { tools }) => {
    const tc = await np.createToolCaller({ model: "/models/small-catalog.gguf", cache: false, threads: 2 });
    const list = [{ name: "ping", description: "Ping a host.", parameters: { host: { type: "string", required: true } } }];
    const prepared = await tc.prepareTools(list);
    const again = await tc.prepareTools(list);
    const r = await tc.call("Ping example.org", list);
    const bad = await tc.prepareTools("[{bad").then(() => null, (e) => e.code);
    const info = { inWorker: tc.inWorker, mask: tc.model.encoderMask, prepared, again, catalog: r.catalog, bad };
    await tc.dispose();
    return info;
  }, { tools: TOOLS });
  assert.ok(out.ok, JSON.stringify(out.error));
  const v = out.value;
  assert.equal(v.inWorker, true);
  assert.equal(v.mask, "catalog");
  assert.equal(v.prepared.catalog, "miss");
  assert.ok(v.prepared.blockTokens > 10);
  assert.deepEqual(v.again, { blockTokens: v.prepared.blockTokens, catalog: "hit" });
  assert.equal(v.catalog, "hit");
  assert.equal(v.bad, "INVALID_TOOLS");
});

test("COOP/COEP page: mt in-thread on the page (worker: false)", async () => {
  const out = await inPage(isolated, runCases, args({ opts: { cache: false, threads: 2, worker: false } }));
  assert.ok(out.ok, JSON.stringify(out.error));
  checkCases(out.value, "mt", false);
});

test("plain page: st chosen, in-thread", async () => {
  const out = await inPage(plain, runCases, args());
  assert.ok(out.ok, JSON.stringify(out.error));
  assert.equal(out.value.isolated, false);
  assert.equal(out.value.chosen, "st");
  checkCases(out.value, "st", false);
  console.log(`chromium st (page) warm call: ${out.value.warmMs.toFixed(1)} ms`);
});

test("plain page: st through the Worker proxy (worker: true)", async () => {
  const out = await inPage(plain, runCases, args({ opts: { cache: false, worker: true } }));
  assert.ok(out.ok, JSON.stringify(out.error));
  checkCases(out.value, "st", true);
});

test("plain page: asking for mt is UnsupportedEnvironmentError NO_THREADS", async () => {
  const out = await inPage(plain, async (np) => {
    try { await np.createToolCaller({ model: "/models/small-f32.gguf", build: "mt" }); return "no error"; }
    catch (e) { return { cls: e instanceof np.UnsupportedEnvironmentError, code: e.code }; }
  });
  assert.deepEqual(out.value, { cls: true, code: "NO_THREADS" });
});

// Typed errors as the page sees them, in-thread and rebuilt from the Worker.
async function errorCases(np, { worker }) {
  const classify = async (p, cls) => {
    try { await p; return "no error"; } catch (e) { return { cls: e instanceof cls, base: e instanceof np.NeedlepointError, code: e.code, name: e.name }; }
  };
  const out = {};
  out.missingModel = await classify(np.createToolCaller({ model: "/models/missing.gguf", worker, cache: false }), np.ModelFetchError);
  out.badBytes = await classify(np.createToolCaller({ model: new Uint8Array(4096).fill(1), worker }), np.ModelFormatError);
  const tc = await np.createToolCaller({ model: "/models/small-f32.gguf", worker, cache: false });
  out.inWorker = tc.inWorker;
  out.badTools = await classify(tc.call("hi", "[{"), np.InvalidToolsError);
  out.badToolsCore = await classify(tc.call("hi", [{ description: "no name" }]), np.InvalidToolsError);
  out.emptyQuery = await classify(tc.call("", []), np.InvalidInputError);
  out.unknownOption = await classify(tc.call("hi", [], { maxToken: 3 }), np.InvalidInputError);
  out.unknownCreate = await classify(np.createToolCaller({ modle: "/models/small-f32.gguf", worker }), np.InvalidInputError);
  const ac = new AbortController();
  let n = 0;
  out.abort = await classify(tc.call("What's the weather?", [{ name: "w", parameters: {} }],
    { constrained: false, maxTokens: 100, signal: ac.signal, onToken: () => { if (++n === 2) ac.abort(); } }), np.AbortError);
  out.preAborted = await classify(tc.call("x", [], { signal: AbortSignal.abort() }), np.AbortError);
  out.afterAbort = (await tc.call("What's the weather in Paris?", [{ name: "w", parameters: {} }])).valid;
  out.tokenize = await tc.tokenize("hello world");
  await tc.dispose();
  out.disposed = await classify(tc.call("x", []), np.DisposedError);
  return out;
}

for (const [label, server, worker] of [["COOP/COEP, Worker proxy", () => isolated, true],
                                       ["plain page, in-thread", () => plain, false],
                                       ["plain page, Worker proxy", () => plain, true]]) {
  test(`typed errors, abort, dispose: ${label}`, async () => {
    const out = await inPage(server(), errorCases, { worker });
    assert.ok(out.ok, JSON.stringify(out.error));
    const v = out.value;
    assert.equal(v.inWorker, worker);
    assert.deepEqual(v.missingModel, { cls: true, base: true, code: "MODEL_FETCH", name: "ModelFetchError" });
    assert.deepEqual(v.badBytes, { cls: true, base: true, code: "BAD_MAGIC", name: "ModelFormatError" });
    assert.deepEqual(v.badTools, { cls: true, base: true, code: "INVALID_TOOLS", name: "InvalidToolsError" });
    assert.deepEqual(v.badToolsCore, { cls: true, base: true, code: "INVALID_TOOLS", name: "InvalidToolsError" });
    assert.deepEqual(v.emptyQuery, { cls: true, base: true, code: "INVALID_INPUT", name: "InvalidInputError" });
    assert.deepEqual(v.unknownOption, { cls: true, base: true, code: "INVALID_INPUT", name: "InvalidInputError" });
    assert.deepEqual(v.unknownCreate, { cls: true, base: true, code: "INVALID_INPUT", name: "InvalidInputError" });
    assert.deepEqual(v.abort, { cls: true, base: true, code: "ABORTED", name: "AbortError" });
    assert.deepEqual(v.preAborted, { cls: true, base: true, code: "ABORTED", name: "AbortError" });
    assert.equal(v.afterAbort, true);
    assert.deepEqual(v.disposed, { cls: true, base: true, code: "DISPOSED", name: "DisposedError" });
    assert.ok(Array.isArray(v.tokenize) && v.tokenize.length > 0);
  });
}

test("model cache: second load is a cache hit keyed by SHA-256; clearCache empties it", async () => {
  const out = await inPage(plain, async (np) => {
    const url = "/models/small-q8-ffn.gguf";
    await np.clearCache();
    const before = await np.isCached(url);
    const ev1 = [], ev2 = [];
    const a = await np.createToolCaller({ model: url, onProgress: (e) => ev1.push(e) });
    const ra = await a.call("Set a timer", [{ name: "t", parameters: { m: { type: "integer" } } }]);
    await a.dispose();
    const cachedAfter = await np.isCached(url);
    const b = await np.createToolCaller({ model: url, onProgress: (e) => ev2.push(e) });
    const rb = await b.call("Set a timer", [{ name: "t", parameters: { m: { type: "integer" } } }]);
    await b.dispose();
    const cleared = await np.clearCache(url);
    return { before, cachedAfter, afterClear: await np.isCached(url), cleared,
             ev1: ev1.map((e) => e.status), ev2: ev2.map((e) => e.status),
             sha1: ev1.find((e) => e.status === "cached")?.sha256, sha2: ev2.find((e) => e.status === "cache-hit")?.sha256,
             same: JSON.stringify(ra.outputIds) === JSON.stringify(rb.outputIds) };
  });
  assert.ok(out.ok, JSON.stringify(out.error));
  const v = out.value;
  assert.equal(v.before, false);
  assert.equal(v.cachedAfter, true);
  assert.ok(v.ev1.includes("download") && v.ev1.includes("cached"), v.ev1.join());
  assert.ok(v.ev2.includes("cache-hit") && !v.ev2.includes("download"), v.ev2.join());
  assert.equal(v.sha1, createHash("sha256").update(readFileSync(join(dir, "small-q8-ffn.gguf"))).digest("hex"));
  assert.equal(v.sha2, v.sha1);
  assert.equal(v.same, true);
  assert.equal(v.cleared, true);
  assert.equal(v.afterClear, false);
  const hits = plain.requests.filter((p) => p === "/models/small-q8-ffn.gguf").length;
  assert.equal(hits, 1, "the second load must not touch the network");
});

test("model cache: storage failing (quota) falls back to memory", async () => {
  const out = await inPage(plain, async (np) => {
    const quota = () => Promise.reject(new DOMException("quota exceeded", "QuotaExceededError"));
    caches.open = quota;
    const events = [];
    const tc = await np.createToolCaller({ model: "/models/small-f32.gguf", onProgress: (e) => events.push(e) });
    const r = await tc.call("What's the weather in Paris?", [{ name: "w", parameters: {} }]);
    await tc.dispose();
    return { statuses: events.map((e) => e.status), valid: r.valid, cached: await np.isCached("/models/small-f32.gguf") };
  });
  assert.ok(out.ok, JSON.stringify(out.error));
  assert.ok(out.value.statuses.includes("cache-error"), out.value.statuses.join());
  assert.ok(!out.value.statuses.includes("cached"));
  assert.equal(out.value.valid, true);
  assert.equal(out.value.cached, false);
});
