// workerd.mjs — bundles tests/web/edge/worker.mjs against the package (the "workerd"
// exports condition, as wrangler resolves it; .wasm kept as an imported module) and serves
// it with the real workerd (npm "workerd") on 127.0.0.1 with a model as a data module.
import assert from "node:assert/strict";
import { execFileSync, spawn } from "node:child_process";
import { copyFileSync, writeFileSync, mkdirSync, symlinkSync, readFileSync } from "node:fs";
import { createServer } from "node:net";
import { join } from "node:path";
import { SOURCE_DIR } from "./common.mjs";

const WEB = join(SOURCE_DIR, "web");
const WORKERD = join(WEB, "node_modules", "@cloudflare", "workerd-linux-64", "bin", "workerd");
const ESBUILD = join(WEB, "node_modules", ".bin", "esbuild");

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

/** Returns {url, log(), close()}; dir is a scratch directory. */
export async function startWorkerd(dir, modelPath) {
  const app = join(dir, "app");
  const out = join(dir, "out");
  mkdirSync(join(app, "node_modules"), { recursive: true });
  symlinkSync(join(SOURCE_DIR, "npm"), join(app, "node_modules", "needlepoint"));
  copyFileSync(join(SOURCE_DIR, "tests", "web", "edge", "worker.mjs"), join(app, "worker.mjs"));
  execFileSync(ESBUILD, [join(app, "worker.mjs"), "--bundle", "--format=esm", "--conditions=workerd,worker,browser",
    "--platform=neutral", "--loader:.wasm=copy", "--external:./model.gguf", `--outdir=${out}`,
    "--log-level=warning"], { cwd: app });
  const bundle = readFileSync(join(out, "worker.js"), "utf8");
  assert.doesNotMatch(bundle, /new Function|\beval\(/, "the edge bundle must not evaluate strings");
  const wasmName = bundle.match(/from\s*"\.\/([^"]+\.wasm)"/)[1];
  copyFileSync(modelPath, join(out, "model.gguf"));
  const port = await freePort();
  writeFileSync(join(out, "config.capnp"), `using Workerd = import "/workerd/workerd.capnp";
const config :Workerd.Config = (
  services = [ (name = "main", worker = .w) ],
  sockets = [ (name = "http", address = "127.0.0.1:${port}", http = (), service = "main") ] );
const w :Workerd.Worker = (
  modules = [ (name = "worker.js", esModule = embed "worker.js"),
              (name = "${wasmName}", wasm = embed "${wasmName}"),
              (name = "model.gguf", data = embed "model.gguf") ],
  compatibilityDate = "2024-09-23" );
`);
  let log = "";
  const server = spawn(WORKERD, ["serve", join(out, "config.capnp")], { stdio: ["ignore", "pipe", "pipe"] });
  server.stdout.on("data", (d) => { log += d; });
  server.stderr.on("data", (d) => { log += d; });
  const url = `http://127.0.0.1:${port}/`;
  await waitReady(url, 20000);
  return { url, log: () => log, close: () => server.kill() };
}
