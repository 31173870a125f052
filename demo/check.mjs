// check.mjs — runs the demo once, headless: serves the built demo (with and without
// COOP/COEP), opens it in Debian's Chromium (playwright-core), runs one preset query on each,
// prints what the page shows and exits (non-zero if the page fails). `tools/demo.sh --check`.
// Usage: node demo/check.mjs [--root build/demo] [--preset smart-home[,media,...]] [--query "..."]
//        [--repeat N]  (N calls per preset, the first a warm-up; prints the medians of the rest)
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { startDemoServer } from "./serve.mjs";

const ROOT = join(dirname(fileURLToPath(import.meta.url)), "..");
const arg = (n, d) => { const k = process.argv.indexOf(n); return k > 0 ? process.argv[k + 1] : d; };
const { chromium } = createRequire(join(ROOT, "web", "package.json"))("playwright-core");

export const CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
                              "--disable-component-update", "--disable-sync"];

/** Opens url, waits for the engine, runs `query` with the page's own run() (`repeat` times,
 *  the first as a warm-up when repeat > 1); returns what the page reports for the last call,
 *  plus the median of each timing over the measured calls. */
export async function runOnce(browser, url, query, repeat = 1) {
  const context = await browser.newContext();
  const page = await context.newPage();
  const logs = [];
  page.on("pageerror", (e) => logs.push(String(e)));
  try {
    await page.goto(url);
    await page.waitForFunction(() => ["ready", "error"].includes(document.body.dataset.state), null, { timeout: 120000 });
    if (await page.evaluate(() => document.body.dataset.state) === "error") throw new Error(await page.textContent("#load-detail"));
    await page.fill("#query", query);
    await page.press("#query", "Enter");
    await page.waitForFunction(() => window.needlepointDemo.lastResult !== null && document.body.dataset.state === "ready", null, { timeout: 120000 });
    const timings = [];
    for (let k = 1; k < repeat; k++) timings.push(await page.evaluate(async (q) => (await window.needlepointDemo.run(q)).timings, query));
    return await page.evaluate((timings) => {
      const r = window.needlepointDemo.lastResult;
      const med = (f) => { const v = timings.map((t) => t[f]).sort((a, b) => a - b); return v[Math.floor(v.length / 2)]; };
      const median = timings.length ? Object.fromEntries(Object.keys(timings[0]).map((f) => [f, med(f)])) : null;
      return { isolated: self.crossOriginIsolated, calls: r.calls, raw: r.raw, build: r.build, threads: r.threads, inWorker: r.inWorker,
               timings: r.timings, median, tokens: r.tokens, requestsSinceLoad: window.needlepointDemo.requestsSinceLoad.length };
    }, timings);
  } catch (e) {
    throw new Error(`${e.message}\npage errors:\n${logs.join("\n")}`);
  } finally {
    await context.close();
  }
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const root = arg("--root", join(ROOT, "build", "demo"));
  const { PRESETS } = await import("./presets.js");
  const repeat = Number(arg("--repeat", 1));
  const presets = arg("--preset", "smart-home").split(",").map((id) => PRESETS.find((p) => p.id === id) ?? PRESETS[0]);
  const servers = [await startDemoServer({ root, isolated: true }), await startDemoServer({ root, isolated: false })];
  const browser = await chromium.launch({ executablePath: process.env.NP_CHROMIUM || "/usr/bin/chromium", headless: true, args: CHROMIUM_ARGS });
  let failed = false;
  try {
    for (const s of servers) for (const preset of presets) {
      const query = arg("--query", preset.examples[0].query);
      const r = await runOnce(browser, `${s.origin}/?preset=${preset.id}`, query, repeat);
      const t = r.timings, m = r.median;
      console.log(`${s.origin} (${r.isolated ? "COOP/COEP" : "no isolation headers"}): ${r.build} build, ${r.threads} thread(s)` +
                  `${r.inWorker ? " in a Worker" : " on the page"}\n  query: ${query} [${preset.label}]\n  calls: ${JSON.stringify(r.calls)}` +
                  `\n  raw: ${r.raw}\n  tokenize ${t.tokenizeMs.toFixed(1)} ms, encode ${t.encodeMs.toFixed(1)} ms, decode ${t.decodeMs.toFixed(1)} ms, ` +
                  `wall ${t.wallMs.toFixed(0)} ms; ${r.tokens.input} tokens in, ${r.tokens.output} out; ` +
                  `network requests after load: ${r.requestsSinceLoad}` +
                  (m ? `\n  median of ${repeat - 1} warm calls: tokenize ${m.tokenizeMs.toFixed(1)} ms, encode ${m.encodeMs.toFixed(1)} ms, ` +
                       `decode ${m.decodeMs.toFixed(1)} ms, engine ${m.totalMs.toFixed(0)} ms, wall ${m.wallMs.toFixed(0)} ms` : ""));
    }
  } catch (e) {
    console.error(`demo check failed: ${e.message}`);
    failed = true;
  } finally {
    await browser.close();
    for (const s of servers) await s.close();
  }
  process.exit(failed ? 1 : 0);
}
