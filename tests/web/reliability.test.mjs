// reliability.test.mjs — the JS side of the reliability issue: the memory bound (a model that
// does not fit is refused before it is loaded; one call at a full context fits what was
// reserved), integrity (a model whose SHA-256 differs is an IntegrityError), dispose()
// giving memory back (measured over many cycles), 200 concurrent calls from several callers
// through the Worker proxy with aborts mixed in (no result lost, duplicated or mixed up), and
// the package under a strict Content-Security-Policy in Chromium.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { join } from "node:path";
import { statSync } from "node:fs";
import { createHash } from "node:crypto";
import { createRequire } from "node:module";
import { pathToFileURL } from "node:url";
import v8 from "node:v8";
import vm from "node:vm";
import { SOURCE_DIR, DIST, TOOLS, CASES, makeModels, makeTempDir, nativeRun, comparable, readBytes } from "./common.mjs";
import { startServer } from "./server.mjs";

const np = await import(pathToFileURL(join(DIST, "node.js")).href);
const dir = makeTempDir("np-rel-");
let models, browser;

before(async () => {
  models = makeModels(dir);
});

after(async () => { await browser?.close(); });

// ---- memory bound (Node) -------------------------------------------------------------------

/** Creates an engine with this limit: the engine, or the error it was refused with. */
async function tryCreate(model, build, memoryLimit) {
  try {
    return { tc: await np.createToolCaller({ model, build, memoryLimit }) };
  } catch (e) {
    return { error: e };
  }
}

// A query longer than the encoder context (the input is cut to max_enc_len tokens) and tools
// whose arguments keep the decoder going: the most working memory one call can take.
const LONG_QUERY = "Please book a table for twelve people at the Golden Lotus on Friday evening, ".repeat(40);
const WIDE_TOOLS = [{ name: "book", description: "Book a table.", parameters: {
  venue: { type: "string", required: true }, people: { type: "integer", required: true },
  note: { type: "string", required: true }, day: { type: "string", required: true } } }];

for (const build of ["st", "mt"]) {
  test(`memoryLimit (${build}): refused before loading with OutOfMemoryError; the smallest limit that loads runs a full-context call`, async () => {
    const model = models.small_q8_ffn;
    const fileBytes = statSync(model).size;
    for (const limit of [fileBytes - 1, fileBytes + 4096]) {
      const { tc, error } = await tryCreate(model, build, limit);
      await tc?.dispose();
      assert.ok(error instanceof np.OutOfMemoryError && error.code === "OUT_OF_MEMORY", `limit ${limit}: ${error ?? "loaded"}`);
    }
    // Bisect the smallest limit (to 4 KiB) that loads: what the engine reserves for this model.
    let lo = fileBytes + 4096, hi = 256 << 20;
    while (hi - lo > 4096) {
      const mid = Math.floor((lo + hi) / 2);
      const { tc } = await tryCreate(model, build, mid);
      if (tc) { await tc.dispose(); hi = mid; } else lo = mid;
    }
    const { tc, error } = await tryCreate(model, build, hi);
    assert.ok(tc, String(error));
    try {
      const m0 = await tc.memory();
      assert.equal(m0.limitBytes, hi);
      assert.ok(m0.usedBytes >= fileBytes && m0.usedBytes <= hi, JSON.stringify(m0));
      const r = await tc.call(LONG_QUERY, WIDE_TOOLS);
      assert.equal(r.truncated, true);
      const u = await tc.call(LONG_QUERY, WIDE_TOOLS, { constrained: false });
      assert.equal(u.tokens.input, tc.model.maxEncLen);
      const m1 = await tc.memory();
      // The call's working memory came out of what loading reserved: at no time did the
      // allocator hold more than the limit.
      assert.ok(m1.peakBytes <= hi, `peak ${m1.peakBytes} > limit ${hi}`);
      console.log(`# ${build}: file ${fileBytes} B, smallest limit that loads ${hi} B, peak after full-context calls ${m1.peakBytes} B`);
    } finally {
      await tc.dispose();
    }
  });
}

test("memoryLimit: bad values are InvalidInputError", async () => {
  for (const memoryLimit of [0, -1, Number.NaN, "64MB"]) {
    await assert.rejects(np.createToolCaller({ model: models.small_f32, build: "st", memoryLimit }), np.InvalidInputError);
  }
});

// ---- integrity (Node) ----------------------------------------------------------------------

test("integrity: a local model file with another SHA-256 is an IntegrityError; the right digest loads", async () => {
  const sha256 = createHash("sha256").update(readBytes(models.small_f32)).digest("hex");
  const wrong = sha256.slice(0, 63) + (sha256[63] === "0" ? "1" : "0");
  await assert.rejects(np.createToolCaller({ model: { url: models.small_f32, sha256: wrong }, build: "st" }),
                       (e) => e instanceof np.IntegrityError && e.code === "INTEGRITY" &&
                              e.details.sha256 === sha256 && e.details.expected === wrong);
  const tc = await np.createToolCaller({ model: { url: pathToFileURL(models.small_f32).href, sha256: sha256.toUpperCase() }, build: "st" });
  assert.equal((await tc.call(CASES[0][1], TOOLS[CASES[0][2]])).valid, true);
  await tc.dispose();
});

// ---- dispose gives memory back (Node) -----------------------------------------------------

test("dispose: 12 create/call/dispose cycles per build leave memory flat", async () => {
  v8.setFlagsFromString("--expose-gc");
  const gc = vm.runInNewContext("gc");
  const settle = async () => {
    for (let i = 0; i < 3; i++) { gc(); await new Promise((r) => setTimeout(r, 20)); }
    return process.memoryUsage();
  };
  for (const build of ["st", "mt"]) {
    const cycle = async () => {
      const tc = await np.createToolCaller({ model: models.small_q8_ffn, build, threads: build === "mt" ? 2 : undefined });
      const r = await tc.call(CASES[1][1], TOOLS[CASES[1][2]]);
      assert.equal(r.valid, true);
      await tc.dispose();
    };
    await cycle();
    await cycle();
    const base = await settle();
    for (let i = 0; i < 12; i++) await cycle();
    const end = await settle();
    const grew = (end.arrayBuffers - base.arrayBuffers) / 1048576, rss = (end.rss - base.rss) / 1048576;
    console.log(`# ${build}: after 12 more cycles arrayBuffers ${grew.toFixed(1)} MiB, rss ${rss.toFixed(1)} MiB`);
    // One engine holds at least its 32 MiB initial WebAssembly memory: a leak of one per
    // cycle would show as hundreds of MiB.
    assert.ok(grew < 40, `${build}: WebAssembly/array buffer memory grew ${grew.toFixed(1)} MiB over 12 cycles`);
    assert.ok(rss < 120, `${build}: rss grew ${rss.toFixed(1)} MiB over 12 cycles`);
  }
});

// ---- Chromium: concurrency through the Worker proxy, and a strict CSP -----------------------

async function launch() {
  const { chromium } = createRequire(join(SOURCE_DIR, "web", "package.json"))("playwright-core");
  browser ??= await chromium.launch({ executablePath: process.env.NP_CHROMIUM || "/usr/bin/chromium", headless: true,
    args: ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
           "--disable-component-update", "--disable-sync"] });
  return browser;
}

// Runs in the page: a reference answer per query (one call at a time), then 200 calls from
// 5 callers at once, every 7th with an AbortSignal that fires after 0-4 ms.
async function concurrency(np, { model, queries, tools, opts }) {
  const tc = await np.createToolCaller({ model, cache: false, worker: true });
  // The input's token count tells the queries apart whatever a random model answers.
  const key = (r) => JSON.stringify([r.tokens.input, r.outputIds, r.calls]);
  const reference = [];
  for (const q of queries) reference.push(key(await tc.call(q, tools, opts)));
  const jobs = [];
  for (let caller = 0; caller < 5; caller++) {
    for (let i = 0; i < 40; i++) {
      const qi = (caller * 13 + i * 7) % queries.length;
      const ac = (caller * 40 + i) % 7 === 3 ? new AbortController() : null;
      const p = tc.call(queries[qi], tools, { ...opts, signal: ac?.signal })
        .then((r) => ({ qi, ok: key(r) === reference[qi] }), (e) => ({ qi, error: e.name }));
      if (ac) setTimeout(() => ac.abort(), i % 5);
      jobs.push(p.then((o) => ({ ...o, aborted: !!ac })));
    }
  }
  const results = await Promise.all(jobs);
  const after = key(await tc.call(queries[0], tools, opts)) === reference[0];
  const out = {
    inWorker: tc.inWorker, build: tc.build, total: results.length, distinct: new Set(reference).size,
    correct: results.filter((r) => r.ok === true).length,
    wrong: results.filter((r) => r.ok === false).length,
    abortedRejected: results.filter((r) => r.aborted && r.error === "AbortError").length,
    withSignal: results.filter((r) => r.aborted).length,
    otherErrors: results.filter((r) => r.error && r.error !== "AbortError").map((r) => r.error),
    unabortedFailed: results.filter((r) => !r.aborted && r.ok !== true).length,
    after,
  };
  await tc.dispose();
  return out;
}

const QUERIES = ["hello", "what's up", "turn on the lights", "weather in Paris", "set a timer for 5 minutes", "call mom",
  "play jazz", "navigate home", "buy milk", "translate hello to French", "book a taxi", "open the door"]
  .flatMap((q) => [q, q + " please", "Could you " + q + "?"]);

for (const isolated of [true, false]) {
  test(`200 concurrent calls from 5 callers through the Worker proxy, aborts mixed in (${isolated ? "mt, shared abort flag" : "st, cancel message"})`, async () => {
    const server = await startServer({ pkgDir: DIST, modelsDir: dir, isolated });
    const context = await (await launch()).newContext();
    try {
      const page = await context.newPage();
      await page.goto(`${server.origin}/blank.html`);
      const out = await page.evaluate(async ({ src, args }) => {
        const np = await import("/pkg/browser.js");
        return await (new Function("return " + src)())(np, args);
      }, { src: concurrency.toString(), args: { model: "/models/small-q8-ffn.gguf", queries: QUERIES, tools: WIDE_TOOLS, opts: {} } });
      console.log(`# ${out.build}: ${JSON.stringify(out)}`);
      assert.equal(out.inWorker, true);
      assert.equal(out.build, isolated ? "mt" : "st");
      assert.equal(out.total, 200);
      assert.ok(out.distinct >= 20, `the queries must give distinct results for mix-ups to show (${out.distinct})`);
      assert.equal(out.wrong, 0, "a call got another call's answer");
      assert.deepEqual(out.otherErrors, []);
      assert.equal(out.unabortedFailed, 0, "every call without a signal completes");
      assert.equal(out.correct + out.abortedRejected, 200, "every call either completes correctly or rejects with AbortError");
      assert.ok(out.abortedRejected > 0 && out.abortedRejected <= out.withSignal);
      assert.equal(out.after, true, "the engine answers correctly after the aborts");
    } finally {
      await context.close();
      await server.close();
    }
  });
}

// The page module for the CSP test: no evaluation of strings anywhere, reports to window.
const CSP_PAGE = `
let violations = [];
document.addEventListener("securitypolicyviolation", (e) => violations.push(e.violatedDirective + " " + e.blockedURI));
let evalBlocked = false;
try { (0, eval)("1"); } catch { evalBlocked = true; }
await new Promise((r) => setTimeout(r, 100));   // the probe's own violation report arrives
const probeReported = violations.length > 0;
violations = [];
const np = await import("/pkg/browser.js");
const query = ${JSON.stringify(CASES[0][1])}, tools = ${JSON.stringify(TOOLS[CASES[0][2]])};
try {
  const tc = await np.createToolCaller({ model: "/models/small-f32.gguf", cache: false });
  const r = await tc.call(query, tools);
  window.__result = { ok: true, evalBlocked, probeReported, violations, build: tc.build, inWorker: tc.inWorker,
                      r: { calls: r.calls, raw: r.raw, valid: r.valid, truncated: r.truncated, completed: r.completed,
                           stopReason: r.stopReason, tokens: r.tokens, droppedCalls: r.droppedCalls, reason: r.reason,
                           repeatedCalls: r.repeatedCalls } };
  await tc.dispose();
} catch (e) {
  window.__result = { ok: false, evalBlocked, violations, error: String(e) };
}`;

test("strict Content-Security-Policy (no unsafe-eval): the package runs in Chromium, st in-thread and mt in the Worker", async () => {
  const expected = comparable(null, nativeRun(models.small_f32, CASES[0][1], TOOLS[CASES[0][2]], {}, dir));
  const csp = "default-src 'self'; script-src 'self' 'wasm-unsafe-eval'; worker-src 'self'; connect-src 'self'; object-src 'none'; base-uri 'none'";
  for (const [isolated, build, inWorker] of [[false, "st", false], [true, "mt", true]]) {
    const server = await startServer({ pkgDir: DIST, modelsDir: dir, isolated, csp,
      pages: { "/csp.html": ["text/html", "<!doctype html><title>csp</title><script type=module src=/csp.js></script>"],
               "/csp.js": ["text/javascript", CSP_PAGE] } });
    const context = await (await launch()).newContext();
    try {
      const page = await context.newPage();
      const logs = [];
      page.on("console", (m) => logs.push(m.text()));
      await page.goto(`${server.origin}/csp.html`);
      await page.waitForFunction(() => window.__result !== undefined, null, { timeout: 60000 });
      const out = await page.evaluate(() => window.__result);
      assert.ok(out.ok, `${out.error}\n${logs.join("\n")}`);
      assert.equal(out.evalBlocked, true, "the policy must be in force (eval blocked)");
      assert.equal(out.probeReported, true, "violations are reported on this page");
      assert.deepEqual(out.violations, []);
      assert.equal(out.build, build);
      assert.equal(out.inWorker, inWorker);
      assert.deepEqual(out.r, expected);
    } finally {
      await context.close();
      await server.close();
    }
  }
});
