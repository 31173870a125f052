// package.test.mjs — the packed npm tarball in a fresh project: `npm pack`, `npm install`
// of the tarball (no network needed: the package has no dependencies), then the package
// used by name from Node (conditions "node", "workerd", "browser" resolve to their entry
// points), the `needlepoint` bin, the bundled default model, and an app bundled by esbuild
// for the browser, run in Chromium with and without COOP/COEP.
import { test, before } from "node:test";
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { writeFileSync, readFileSync, readdirSync, existsSync, cpSync, copyFileSync, mkdirSync } from "node:fs";
import { createHash } from "node:crypto";
import { createRequire } from "node:module";
import { startServer } from "./server.mjs";
import { join } from "node:path";
import { SOURCE_DIR, TOOLS, CASES, makeModels, makeTempDir, nativeRun, comparable } from "./common.mjs";

const dir = makeTempDir("np-pkg-");
const project = join(dir, "app");
let models;

function sh(cmd, args, cwd, extra = {}) {
  return execFileSync(cmd, args, { cwd, encoding: "utf8", stdio: ["ignore", "pipe", "pipe"], ...extra });
}

before(() => {
  models = makeModels(dir);
  sh("npm", ["pack", "--pack-destination", dir, "--loglevel=error"], join(SOURCE_DIR, "npm"));
  const tgz = readdirSync(dir).find((f) => f.endsWith(".tgz"));
  assert.ok(tgz, "npm pack produced no tarball");
  execFileSync("mkdir", ["-p", project]);
  writeFileSync(join(project, "package.json"), JSON.stringify({ name: "app", private: true, type: "module" }));
  sh("npm", ["install", join(dir, tgz), "--no-audit", "--no-fund", "--loglevel=error"], project);
});

test("the tarball holds the three builds, the types and the default model", () => {
  const dist = join(project, "node_modules", "needlepoint", "dist");
  for (const f of ["node.js", "node.d.ts", "browser.js", "browser.d.ts", "edge.js", "edge.d.ts", "worker.js", "cli.js",
                   "wasm/mt/needlepoint.mjs", "wasm/mt/needlepoint.wasm", "wasm/mt/needlepoint.worker.js",
                   "wasm/mt/package.json", "wasm/st/needlepoint.wasm", "wasm/edge/needlepoint.wasm",
                   "models/default.gguf"]) {
    assert.ok(existsSync(join(dist, f)), f);
  }
});

test("no JavaScript in the package evaluates strings (eval, new Function): strict CSP works", () => {
  const dist = join(project, "node_modules", "needlepoint", "dist");
  const files = readdirSync(dist, { recursive: true }).filter((f) => /\.(m?js)$/.test(f));
  assert.ok(files.length >= 15, files.join());
  for (const f of files) {
    const text = readFileSync(join(dist, f), "utf8");
    assert.doesNotMatch(text, /new Function\s*\(|(^|[^.\w$])eval\s*\(/, f);
  }
});

test("exports conditions resolve to the right entry points", () => {
  const resolve = (conditions) => sh("node", [...conditions.map((c) => `--conditions=${c}`), "--input-type=module", "-e",
    "console.log(import.meta.resolve('needlepoint'))"], project).trim();
  assert.match(resolve([]), /\/dist\/node\.js$/);
  assert.match(resolve(["workerd"]), /\/dist\/edge\.js$/);
  assert.match(sh("node", ["--input-type=module", "-e", "console.log(import.meta.resolve('needlepoint/edge'))"], project).trim(),
               /\/dist\/edge\.js$/);
});

test("used by name from Node: same answers as the native CLI, typed errors", () => {
  const script = join(project, "use.mjs");
  writeFileSync(script, `
    import { createToolCaller, InvalidToolsError } from "needlepoint";
    const [model, casesJson] = process.argv.slice(2);
    const cases = JSON.parse(casesJson);
    const out = { results: [] };
    for (const build of ["mt", "st"]) {
      const tc = await createToolCaller({ model, build, threads: 2 });
      for (const [query, tools, opts] of cases) out.results.push({ build, r: await tc.call(query, tools, opts) });
      try { await tc.call("x", "[{"); } catch (e) { out.badTools = e instanceof InvalidToolsError && e.code; }
      await tc.dispose();
    }
    console.log(JSON.stringify(out));
  `);
  const cases = CASES.map(([, q, t, o]) => [q, TOOLS[t], o]);
  const out = JSON.parse(sh("node", [script, models.small_f32, JSON.stringify(cases)], project));
  assert.equal(out.badTools, "INVALID_TOOLS");
  assert.equal(out.results.length, cases.length * 2);
  out.results.forEach(({ build, r }, i) => {
    const [q, t, o] = cases[i % cases.length];
    assert.equal(r.build, build);
    assert.deepEqual(comparable(r), comparable(null, nativeRun(models.small_f32, q, t, o, dir)));
  });
});

test("the needlepoint bin: answer, usage errors, engine errors", () => {
  const toolsFile = join(dir, "bin-tools.json");
  writeFileSync(toolsFile, JSON.stringify(TOOLS.mixed));
  const bin = join(project, "node_modules", ".bin", "needlepoint");
  const r = JSON.parse(sh(bin, ["Set a timer for 10 minutes", "--tools", toolsFile, "--model", models.small_q8_ffn], project));
  assert.deepEqual(comparable(r), comparable(null, nativeRun(models.small_q8_ffn, "Set a timer for 10 minutes", TOOLS.mixed, {}, dir)));
  assert.throws(() => sh(bin, ["--tools", toolsFile], project), (e) => e.status === 2);
  assert.throws(() => sh(bin, ["hi", "--tools", "[{", "--model", models.small_f32], project),
                (e) => e.status === 1 && /INVALID_TOOLS/.test(e.stderr));
});

test("the bundled default model loads with no model option", () => {
  const script = join(project, "default.mjs");
  writeFileSync(script, `
    import { createToolCaller } from "needlepoint";
    const tc = await createToolCaller({ build: "st" });
    const r = await tc.call("What's the weather in Paris?", ${JSON.stringify(JSON.stringify(TOOLS.flat))}, { maxTokens: 4 });
    console.log(JSON.stringify({ model: tc.model, valid: r.valid }));
    await tc.dispose();
  `);
  const out = JSON.parse(sh("node", [script], project));
  assert.equal(out.valid, true);
  assert.ok(out.model.fileBytes > 1000);
});

test("the default model is verified against the package manifest: a damaged file is an IntegrityError", () => {
  const dist = join(project, "node_modules", "needlepoint", "dist");
  const file = join(dist, "models", "default.gguf");
  const bytes = readFileSync(file);
  const sha = createHash("sha256").update(bytes).digest("hex");
  const manifest = JSON.parse(readFileSync(join(dist, "models", "manifest.json"), "utf8"));
  assert.deepEqual(manifest["default.gguf"], { sha256: sha, bytes: bytes.length });
  const script = join(project, "tampered.mjs");
  writeFileSync(script, `
    import { createToolCaller, IntegrityError } from "needlepoint";
    try {
      await createToolCaller({ build: "st" });
      console.log(JSON.stringify({ loaded: true }));
    } catch (e) {
      console.log(JSON.stringify({ integrity: e instanceof IntegrityError, code: e.code, details: e.details }));
    }
  `);
  const damaged = Buffer.from(bytes);
  damaged[damaged.length - 1] ^= 0x01;   // one bit in the last tensor's data: still a loadable GGUF
  writeFileSync(file, damaged);
  try {
    const out = JSON.parse(sh("node", [script], project));
    assert.deepEqual(out, { integrity: true, code: "INTEGRITY",
                            details: { sha256: createHash("sha256").update(damaged).digest("hex"), expected: sha } });
  } finally {
    writeFileSync(file, bytes);
  }
  assert.deepEqual(JSON.parse(sh("node", [script], project)), { loaded: true });
});

test("bundled by esbuild for the browser: runs in Chromium (st on a plain page, mt in the Worker)", async () => {
  // esbuild does not follow new URL(..., import.meta.url): the app adds the engine Worker
  // as an entry point and copies dist/wasm and the model next to the bundle (docs/web.md).
  const app = join(dir, "bundle-app");
  mkdirSync(app, { recursive: true });
  writeFileSync(join(project, "app.js"), `
    import { createToolCaller, InvalidToolsError } from "needlepoint";
    window.runApp = async (model, query, tools) => {
      const tc = await createToolCaller({ model, cache: false, threads: 2 });
      const r = await tc.call(query, tools);
      let bad = null;
      try { await tc.call(query, "[{"); } catch (e) { bad = e instanceof InvalidToolsError ? e.code : String(e); }
      const out = { build: tc.build, inWorker: tc.inWorker, r, bad };
      await tc.dispose();
      return out;
    };
  `);
  const esbuild = join(SOURCE_DIR, "web", "node_modules", ".bin", "esbuild");
  sh(esbuild, ["app.js", "worker=needlepoint/worker", "--bundle", "--format=esm", "--splitting", "--platform=browser",
               `--outdir=${app}`, "--log-level=warning"], project);
  const dist = join(project, "node_modules", "needlepoint", "dist");
  cpSync(join(dist, "wasm"), join(app, "wasm"), { recursive: true });
  copyFileSync(models.small_f32, join(app, "model.gguf"));
  writeFileSync(join(app, "index.html"), "<!doctype html><script type=module src=/pkg/app.js></script>");
  const { chromium } = createRequire(join(SOURCE_DIR, "web", "package.json"))("playwright-core");
  const browser = await chromium.launch({ executablePath: process.env.NP_CHROMIUM || "/usr/bin/chromium", headless: true,
                                          args: ["--no-sandbox", "--disable-gpu", "--no-first-run"] });
  try {
    const expected = comparable(null, nativeRun(models.small_f32, CASES[0][1], TOOLS[CASES[0][2]], {}, dir));
    for (const [isolated, build, inWorker] of [[false, "st", false], [true, "mt", true]]) {
      const server = await startServer({ pkgDir: app, modelsDir: app, isolated });
      try {
        const page = await browser.newPage();
        await page.goto(`${server.origin}/pkg/index.html`);
        await page.waitForFunction(() => typeof window.runApp === "function");
        const out = await page.evaluate(([q, t]) => window.runApp("/pkg/model.gguf", q, t), [CASES[0][1], TOOLS[CASES[0][2]]]);
        assert.equal(out.build, build);
        assert.equal(out.inWorker, inWorker);
        assert.equal(out.bad, "INVALID_TOOLS");
        assert.deepEqual(comparable(out.r), expected);
        await page.close();
      } finally {
        await server.close();
      }
    }
  } finally {
    await browser.close();
  }
});
