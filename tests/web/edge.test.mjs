// edge.test.mjs — the edge build inside the real workerd runtime (npm "workerd"): a worker
// that imports "needlepoint" (resolved through the "workerd" exports condition and bundled
// by esbuild, .wasm kept as an imported WebAssembly.Module), served on 127.0.0.1, answering
// tool calls over HTTP with the native CLI's answers; bad tools come back as typed codes.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { execFileSync, spawn } from "node:child_process";
import { copyFileSync, writeFileSync, mkdirSync, symlinkSync, readFileSync } from "node:fs";
import { createServer } from "node:net";
import { join } from "node:path";
import { SOURCE_DIR, TOOLS, CASES, makeModels, makeTempDir, nativeRun, comparable } from "./common.mjs";

const WEB = join(SOURCE_DIR, "web");
const WORKERD = join(WEB, "node_modules", "@cloudflare", "workerd-linux-64", "bin", "workerd");
const ESBUILD = join(WEB, "node_modules", ".bin", "esbuild");
const dir = makeTempDir("np-edge-");
let models, server, url, serverLog = "";

function freePort() {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once("error", reject);
    s.listen(0, "127.0.0.1", () => { const { port } = s.address(); s.close(() => resolve(port)); });
  });
}

async function waitReady(u, ms) {
  const end = Date.now() + ms;
  for (;;) {
    try { const r = await fetch(u); await r.arrayBuffer(); return; } catch (e) { if (Date.now() > end) throw e; }
    await new Promise((r) => setTimeout(r, 100));
  }
}

before(async () => {
  models = makeModels(dir);
  // A project with the package under node_modules (a link to npm/, as after npm install).
  const app = join(dir, "app");
  mkdirSync(join(app, "node_modules"), { recursive: true });
  symlinkSync(join(SOURCE_DIR, "npm"), join(app, "node_modules", "needlepoint"));
  copyFileSync(join(SOURCE_DIR, "tests", "web", "edge", "worker.mjs"), join(app, "worker.mjs"));
  execFileSync(ESBUILD, [join(app, "worker.mjs"), "--bundle", "--format=esm", "--conditions=workerd,worker,browser",
    "--platform=neutral", "--loader:.wasm=copy", "--external:./model.gguf", `--outdir=${join(dir, "out")}`,
    "--log-level=warning"], { cwd: app });
  const bundle = readFileSync(join(dir, "out", "worker.js"), "utf8");
  assert.doesNotMatch(bundle, /new Function|\beval\(/, "the edge bundle must not evaluate strings");
  const wasmName = bundle.match(/from\s*"\.\/([^"]+\.wasm)"/)[1];
  copyFileSync(models.small_f32, join(dir, "out", "model.gguf"));
  const port = await freePort();
  writeFileSync(join(dir, "out", "config.capnp"), `using Workerd = import "/workerd/workerd.capnp";
const config :Workerd.Config = (
  services = [ (name = "main", worker = .w) ],
  sockets = [ (name = "http", address = "127.0.0.1:${port}", http = (), service = "main") ] );
const w :Workerd.Worker = (
  modules = [ (name = "worker.js", esModule = embed "worker.js"),
              (name = "${wasmName}", wasm = embed "${wasmName}"),
              (name = "model.gguf", data = embed "model.gguf") ],
  compatibilityDate = "2024-09-23" );
`);
  server = spawn(WORKERD, ["serve", join(dir, "out", "config.capnp")], { stdio: ["ignore", "pipe", "pipe"] });
  server.stdout.on("data", (d) => { serverLog += d; });
  server.stderr.on("data", (d) => { serverLog += d; });
  url = `http://127.0.0.1:${port}/`;
  await waitReady(url, 20000);
});

after(() => { server?.kill(); });

async function post(body) {
  const r = await fetch(url, { method: "POST", body: JSON.stringify(body), headers: { "content-type": "application/json" } });
  return { status: r.status, body: await r.json() };
}

test("workerd runs the edge build, single thread", async () => {
  const r = await fetch(url);
  const info = await r.json();
  assert.equal(r.status, 200, JSON.stringify(info) + serverLog);
  assert.equal(info.build, "edge");
  assert.equal(info.threads, 1);
  assert.equal(info.model.dModel, 64);
});

test("tool calls over HTTP: the native CLI's answers", async () => {
  for (const [name, query, tools, opts] of CASES) {
    const { status, body } = await post({ query, tools: TOOLS[tools], ...opts });
    assert.equal(status, 200, JSON.stringify(body));
    assert.equal(body.build, "edge");
    assert.deepEqual(comparable(body), comparable(null, nativeRun(models.small_f32, query, TOOLS[tools], opts, dir)), name);
  }
});

test("bad tools and an empty query come back as typed codes", async () => {
  const bad = await post({ query: "hi", tools: "[{" });
  assert.equal(bad.status, 400);
  assert.equal(bad.body.error.code, "INVALID_TOOLS");
  assert.equal(bad.body.error.name, "InvalidToolsError");
  const empty = await post({ query: "", tools: TOOLS.flat });
  assert.equal(empty.body.error.code, "INVALID_INPUT");
});
